//! GDPR in storage: consent records (append-only; the latest per purpose wins), the export of
//! every row about a user, the erasure of an account in one transaction with its deletion-log
//! entry, and the retention purge. The deletion log refuses UPDATE and DELETE at the database
//! (triggers), so no code path can rewrite it.

use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::alerts::{ALERT_HISTORY, ALERT_RULE_STATE, ALERT_RULES};
use super::api_keys::API_KEYS;
use super::beta::BETA_SIGNUPS;
use super::billing::{BILLING_ACCOUNTS, BILLING_EVENTS};
use super::catalogue::USER_PREFERENCES;
use super::jobs::{JOBS, NewJob};
use super::magic_links::MAGIC_LINKS;
use super::sql::{Dialect, Kind, OnConflict, Statement, Table, col, render};
use super::users::{OAUTH_IDENTITIES, REFRESH_TOKENS, USERS};
use super::{Storage, StorageError, UnitOfWork};
use wattline_actors::workers::gdpr::{DELETE_CUSTOMER, GDPR_QUEUE};

/// `consents`.
pub static CONSENTS: Table = Table {
    name: "consents",
    columns: &[
        col("id", Kind::Text),
        col("user_id", Kind::Text),
        col("purpose", Kind::Text),
        col("consent_given", Kind::Bool),
        col("consent_version", Kind::Text),
        col("ip_address", Kind::Text),
        col("user_agent", Kind::Text),
        col("created_at", Kind::Time),
    ],
    key: &["id"],
};

/// `deletion_log`.
pub static DELETION_LOG: Table = Table {
    name: "deletion_log",
    columns: &[
        col("id", Kind::Text),
        col("user_hash", Kind::Text),
        col("categories", Kind::Json),
        col("legal_basis", Kind::Text),
        col("anonymized", Kind::Bool),
        col("deleted_at", Kind::Time),
    ],
    key: &["id"],
};

static INSERT_CONSENTS: Statement =
    Statement::new(|d: Dialect| CONSENTS.insert(d, "rows", OnConflict::Fail));
/// Rewrites consent rows in place (anonymisation only; a decision itself is never changed).
static REWRITE_CONSENTS: Statement =
    Statement::new(|d: Dialect| CONSENTS.insert(d, "rows", OnConflict::Update));
static CONSENTS_OF_USER: Statement = Statement::new(|d: Dialect| {
    CONSENTS.select(d, "user_id = {user_id}", "created_at DESC, id DESC", "")
});
static INSERT_LOG: Statement =
    Statement::new(|d: Dialect| DELETION_LOG.insert(d, "rows", OnConflict::Fail));
/// One deletion-log entry by id.
pub static LOG_ENTRY: Statement =
    Statement::new(|d: Dialect| DELETION_LOG.select(d, "id = {id}", "id", ""));

macro_rules! by_user {
    ($name:ident, $table:expr, $filter:literal) => {
        static $name: Statement = Statement::new(|d: Dialect| $table.select(d, $filter, "1", ""));
    };
}
by_user!(EXPORT_USERS, USERS, "id = {user_id}");
by_user!(EXPORT_SESSIONS, REFRESH_TOKENS, "user_id = {user_id}");
by_user!(EXPORT_IDENTITIES, OAUTH_IDENTITIES, "user_id = {user_id}");
by_user!(EXPORT_PREFERENCES, USER_PREFERENCES, "user_id = {user_id}");
by_user!(EXPORT_CONSENTS, CONSENTS, "user_id = {user_id}");
by_user!(EXPORT_RULES, ALERT_RULES, "user_id = {user_id}");
by_user!(
    EXPORT_RULE_STATE,
    ALERT_RULE_STATE,
    "rule_id IN (SELECT id FROM alert_rules WHERE user_id = {user_id})"
);
by_user!(EXPORT_HISTORY, ALERT_HISTORY, "user_id = {user_id}");
by_user!(EXPORT_LINKS, MAGIC_LINKS, "user_id = {user_id}");
by_user!(EXPORT_JOBS, JOBS, "user_id = {user_id}");
by_user!(EXPORT_BETA, BETA_SIGNUPS, "email = {email}");
by_user!(EXPORT_API_KEYS, API_KEYS, "user_id = {user_id}");
by_user!(EXPORT_BILLING, BILLING_ACCOUNTS, "user_id = {user_id}");
by_user!(
    EXPORT_BILLING_EVENTS,
    BILLING_EVENTS,
    "user_id = {user_id} OR customer_id IN \
     (SELECT customer_id FROM billing_accounts WHERE user_id = {user_id})"
);

/// One table's part of an export.
pub struct ExportSection {
    /// The table (and the key of its rows in the export).
    pub table: &'static str,
    /// What the user is told the rows are (also the deletion log's category).
    pub category: &'static str,
    stmt: &'static Statement,
}

/// Every table holding rows about a user, in export order. A table with a `user_id` or
/// `email` column must be here: `tests/storage_contract.rs` walks the schema to check.
pub static EXPORT: &[ExportSection] = &[
    ExportSection {
        table: "users",
        category: "profile",
        stmt: &EXPORT_USERS,
    },
    ExportSection {
        table: "user_preferences",
        category: "preferences",
        stmt: &EXPORT_PREFERENCES,
    },
    ExportSection {
        table: "consents",
        category: "consents",
        stmt: &EXPORT_CONSENTS,
    },
    ExportSection {
        table: "refresh_tokens",
        category: "sessions",
        stmt: &EXPORT_SESSIONS,
    },
    ExportSection {
        table: "oauth_identities",
        category: "linked_accounts",
        stmt: &EXPORT_IDENTITIES,
    },
    ExportSection {
        table: "magic_links",
        category: "sign_in_links",
        stmt: &EXPORT_LINKS,
    },
    ExportSection {
        table: "alert_rules",
        category: "alert_rules",
        stmt: &EXPORT_RULES,
    },
    ExportSection {
        table: "alert_rule_state",
        category: "alert_rules",
        stmt: &EXPORT_RULE_STATE,
    },
    ExportSection {
        table: "alert_history",
        category: "alert_history",
        stmt: &EXPORT_HISTORY,
    },
    ExportSection {
        table: "api_keys",
        category: "api_keys",
        stmt: &EXPORT_API_KEYS,
    },
    ExportSection {
        table: "billing_accounts",
        category: "billing",
        stmt: &EXPORT_BILLING,
    },
    ExportSection {
        table: "billing_events",
        category: "billing",
        stmt: &EXPORT_BILLING_EVENTS,
    },
    ExportSection {
        table: "beta_signups",
        category: "beta_signup",
        stmt: &EXPORT_BETA,
    },
    ExportSection {
        table: "jobs",
        category: "queued_work",
        stmt: &EXPORT_JOBS,
    },
];

/// Columns never exported: secrets and their hashes.
const SECRET_COLUMNS: &[&str] = &["password_hash", "token_hash", "webhook_secret", "key_hash"];

/// Tables with a column naming a user (`user_id` or `email`), from the schema itself.
static TABLES_WITH_USERS: Statement = Statement::new(|d: Dialect| match d {
    Dialect::Sqlite => "SELECT json_group_array(DISTINCT m.name) FROM sqlite_master m \
         JOIN pragma_table_info(m.name) p WHERE m.type = 'table' \
         AND p.name IN ('user_id', 'email') AND ?1 IS NOT NULL"
        .to_string(),
    Dialect::Postgres => "SELECT COALESCE(json_agg(DISTINCT table_name)::text, '[]') \
         FROM information_schema.columns WHERE table_schema = current_schema() \
         AND column_name IN ('user_id', 'email') AND $1::jsonb IS NOT NULL"
        .to_string(),
});

static DELETE_JOBS_OF_USER: Statement =
    Statement::new(|d: Dialect| render("DELETE FROM jobs WHERE user_id = {user_id}", d));
static DELETE_BETA_OF_EMAIL: Statement =
    Statement::new(|d: Dialect| render("DELETE FROM beta_signups WHERE email = {email}", d));
/// Queues the deletion of the user's Stripe customer, read from their billing account inside the
/// erasure's transaction (so a checkout completing meanwhile cannot leave a customer behind);
/// nothing when they have none. Runs before the account row goes.
static QUEUE_CUSTOMER_DELETION: Statement = Statement::new(|d: Dialect| {
    render(
        "INSERT INTO jobs (id, queue, kind, payload, idempotency_key, user_id, status, attempts, \
           run_at, locked_by, locked_until, last_error, created_at, updated_at) \
         SELECT {job_id}, {queue}, {kind}, \
           {sqlite:json_object|postgres:jsonb_build_object}('customer_id', customer_id), \
           {key}, NULL, 'queued', 0, {now:time}, NULL, NULL, NULL, {now:time}, {now:time} \
         FROM billing_accounts WHERE user_id = {user_id} AND customer_id IS NOT NULL",
        d,
    )
});
/// Billing events about the user (by id or by their Stripe customer); runs before the account
/// row that names the customer goes.
static DELETE_BILLING_EVENTS: Statement = Statement::new(|d: Dialect| {
    render(
        "DELETE FROM billing_events WHERE user_id = {user_id} OR customer_id IN \
         (SELECT customer_id FROM billing_accounts WHERE user_id = {user_id})",
        d,
    )
});
static DELETE_USER: Statement =
    Statement::new(|d: Dialect| render("DELETE FROM users WHERE id = {user_id}", d));
static ANONYMISE_USER: Statement = Statement::new(|d: Dialect| {
    render(
        "UPDATE users SET email = {email}, name = {name}, password_hash = NULL, \
         email_verified = {sqlite:0|postgres:FALSE} WHERE id = {user_id}",
        d,
    )
});
macro_rules! delete_of_user {
    ($name:ident, $table:literal) => {
        static $name: Statement = Statement::new(|d: Dialect| {
            render(
                concat!("DELETE FROM ", $table, " WHERE user_id = {user_id}"),
                d,
            )
        });
    };
}
delete_of_user!(DELETE_SESSIONS, "refresh_tokens");
delete_of_user!(DELETE_IDENTITIES, "oauth_identities");
delete_of_user!(DELETE_LINKS, "magic_links");
delete_of_user!(DELETE_RULES, "alert_rules");
delete_of_user!(DELETE_API_KEYS, "api_keys");
delete_of_user!(DELETE_BILLING_ACCOUNT, "billing_accounts");

static PURGE_SESSIONS: Statement = Statement::new(|d: Dialect| {
    render(
        "DELETE FROM refresh_tokens WHERE expires_at < {now:time}",
        d,
    )
});
static PURGE_LINKS: Statement =
    Statement::new(|d: Dialect| render("DELETE FROM magic_links WHERE expires_at < {now:time}", d));
static PURGE_JOBS: Statement = Statement::new(|d: Dialect| {
    render(
        "DELETE FROM jobs WHERE status = 'done' AND updated_at < {before:time}",
        d,
    )
});
/// Applied Stripe events past the limit (an unprocessed one stays for its worker). Stripe stops
/// retrying a delivery within days, so a purged id cannot come back as new.
static PURGE_BILLING_EVENTS: Statement = Statement::new(|d: Dialect| {
    render(
        "DELETE FROM billing_events WHERE processed_at IS NOT NULL AND processed_at < {before:time}",
        d,
    )
});
static PURGE_HISTORY: Statement = Statement::new(|d: Dialect| {
    render(
        "DELETE FROM alert_history WHERE fired_at < {before:time}",
        d,
    )
});

/// A row of [`CONSENTS`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConsentRow {
    pub id: String,
    pub user_id: String,
    pub purpose: String,
    pub consent_given: bool,
    pub consent_version: String,
    pub ip_address: Option<String>,
    pub user_agent: Option<String>,
    pub created_at: Timestamp,
}

/// A row of [`DELETION_LOG`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeletionLogRow {
    pub id: String,
    /// SHA-256 of the user id, hex: lets an auditor confirm a given account was erased without
    /// the log naming anyone.
    pub user_hash: String,
    pub categories: Vec<String>,
    pub legal_basis: String,
    pub anonymized: bool,
    pub deleted_at: Timestamp,
}

/// How an account is erased.
#[derive(Debug, Clone)]
pub enum Erasure {
    /// Every row about the user removed.
    Delete,
    /// The account row kept with this email and name (no password); consents kept with these
    /// anonymised rows; everything else removed.
    Anonymise {
        email: String,
        name: String,
        consents: Vec<ConsentRow>,
    },
}

/// What the retention purge removed, per kind.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Purged {
    pub expired_sessions: u64,
    pub expired_sign_in_links: u64,
    pub delivered_jobs: u64,
    pub alert_history: u64,
    pub billing_events: u64,
}

impl Storage {
    /// Appends consent decisions.
    pub async fn record_consents(&self, rows: &[ConsentRow]) -> Result<(), StorageError> {
        self.execute(&INSERT_CONSENTS, &json!({ "rows": rows }))
            .await?;
        Ok(())
    }

    /// The user's consent decisions, newest first.
    pub async fn consents_of(&self, user_id: &str) -> Result<Vec<ConsentRow>, StorageError> {
        self.rows(&CONSENTS_OF_USER, &json!({ "user_id": user_id }))
            .await
    }

    /// The rows of one export section about the user `user_id` with `email`, secrets left out.
    pub async fn export_section(
        &self,
        section: &ExportSection,
        user_id: &str,
        email: &str,
    ) -> Result<Vec<Value>, StorageError> {
        let mut rows: Vec<Value> = self
            .rows(section.stmt, &json!({ "user_id": user_id, "email": email }))
            .await?;
        for row in &mut rows {
            if let Some(object) = row.as_object_mut() {
                for column in SECRET_COLUMNS {
                    object.remove(*column);
                }
            }
        }
        Ok(rows)
    }

    /// Every table with a `user_id` or `email` column.
    pub async fn tables_with_users(&self) -> Result<Vec<String>, StorageError> {
        let mut tables: Vec<String> = self.rows(&TABLES_WITH_USERS, &json!({})).await?;
        tables.sort();
        Ok(tables)
    }

    /// Erases the account `user_id` (with `email`) in one transaction: its rows in every table
    /// (sessions included, so no refresh works again), its queued work, its beta sign-up; queues
    /// the deletion of its Stripe customer when it has one; writes `log`; queues `after` (the
    /// confirmation email).
    pub async fn erase_user(
        &self,
        user_id: &str,
        email: &str,
        erasure: Erasure,
        log: &DeletionLogRow,
        after: Vec<NewJob>,
    ) -> Result<(), StorageError> {
        let who = json!({ "user_id": user_id, "email": email });
        let mut unit = UnitOfWork::new();
        unit.push(&DELETE_JOBS_OF_USER, &who)
            .push(&DELETE_BETA_OF_EMAIL, &who)
            .push(
                &QUEUE_CUSTOMER_DELETION,
                &json!({
                    "user_id": user_id,
                    "job_id": uuid::Uuid::now_v7().to_string(),
                    "queue": GDPR_QUEUE,
                    "kind": DELETE_CUSTOMER,
                    "key": format!("stripe-customer-deletion:{}", log.id),
                    "now": log.deleted_at,
                }),
            )
            .push(&DELETE_BILLING_EVENTS, &who);
        match erasure {
            Erasure::Delete => {
                unit.push_expecting(&DELETE_USER, &who, 1);
            }
            Erasure::Anonymise {
                email,
                name,
                consents,
            } => {
                unit.push_expecting(
                    &ANONYMISE_USER,
                    &json!({ "user_id": user_id, "email": email, "name": name }),
                    1,
                );
                for stmt in [
                    &DELETE_SESSIONS,
                    &DELETE_IDENTITIES,
                    &DELETE_LINKS,
                    &DELETE_RULES,
                    &DELETE_API_KEYS,
                    &DELETE_BILLING_ACCOUNT,
                ] {
                    unit.push(stmt, &who);
                }
                if !consents.is_empty() {
                    unit.push(&REWRITE_CONSENTS, &json!({ "rows": consents }));
                }
            }
        }
        unit.push(&INSERT_LOG, &json!({ "rows": [log] }));
        for job in after {
            unit.enqueue(job);
        }
        self.commit(unit).await?;
        Ok(())
    }

    /// Removes what is past its time at `now`: expired sessions and sign-in links, and delivered
    /// jobs, alert history and applied billing events older than `keep`.
    pub async fn purge_expired(
        &self,
        now: Timestamp,
        keep: SignedDuration,
    ) -> Result<Purged, StorageError> {
        let params = json!({ "now": now, "before": now - keep });
        Ok(Purged {
            expired_sessions: self.execute(&PURGE_SESSIONS, &params).await?,
            expired_sign_in_links: self.execute(&PURGE_LINKS, &params).await?,
            delivered_jobs: self.execute(&PURGE_JOBS, &params).await?,
            alert_history: self.execute(&PURGE_HISTORY, &params).await?,
            billing_events: self.execute(&PURGE_BILLING_EVENTS, &params).await?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::rows::tests::{columns, fields};

    #[test]
    fn rows_name_exactly_their_table_columns() {
        let consent = ConsentRow {
            id: "c".into(),
            user_id: "u".into(),
            purpose: "marketing".into(),
            consent_given: true,
            consent_version: "1.0".into(),
            ip_address: None,
            user_agent: None,
            created_at: Timestamp::UNIX_EPOCH,
        };
        assert_eq!(fields(&consent), columns(&CONSENTS));
        let log = DeletionLogRow {
            id: "l".into(),
            user_hash: "h".into(),
            categories: vec![],
            legal_basis: "b".into(),
            anonymized: false,
            deleted_at: Timestamp::UNIX_EPOCH,
        };
        assert_eq!(fields(&log), columns(&DELETION_LOG));
    }
}
