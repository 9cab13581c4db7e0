//! Alert rules, their evaluation state and history in storage, and the [`AlertStore`] port the
//! AlertEvaluator records firings through: the state, the history row and the deliveries (an
//! email, a webhook) commit in one unit, each keyed by rule and occurrence, so a firing recorded
//! twice is stored and delivered once.

use async_trait::async_trait;
use jiff::{SignedDuration, Timestamp};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use wattline_actors::domain::alert::{AlertRule, Firing};
use wattline_actors::ports::{AlertStore, StoreError};
use wattline_actors::workers::email::EMAIL_QUEUE;
use wattline_actors::workers::webhook::WEBHOOK_QUEUE;

use super::jobs::NewJob;
use super::sql::{Dialect, Kind, OnConflict, Statement, Table, col, render};
use super::{Storage, StorageError, UnitOfWork};

/// `alert_rules`.
pub static ALERT_RULES: Table = Table {
    name: "alert_rules",
    columns: &[
        col("id", Kind::Text),
        col("user_id", Kind::Text),
        col("name", Kind::Text),
        col("region", Kind::Text),
        col("condition", Kind::Json),
        col("quiet_hours", Kind::Json),
        col("cooldown_secs", Kind::Int),
        col("enabled", Kind::Bool),
        col("email", Kind::Bool),
        col("webhook_url", Kind::Text),
        col("webhook_secret", Kind::Text),
        col("created_at", Kind::Time),
        col("updated_at", Kind::Time),
    ],
    key: &["id"],
};

/// `alert_rule_state`.
pub static ALERT_RULE_STATE: Table = Table {
    name: "alert_rule_state",
    columns: &[
        col("rule_id", Kind::Text),
        col("last_fired_at", Kind::Time),
        col("last_occurrence", Kind::Text),
    ],
    key: &["rule_id"],
};

/// `alert_history`.
pub static ALERT_HISTORY: Table = Table {
    name: "alert_history",
    columns: &[
        col("id", Kind::Text),
        col("rule_id", Kind::Text),
        col("user_id", Kind::Text),
        col("region", Kind::Text),
        col("occurrence", Kind::Text),
        col("fired_at", Kind::Time),
        col("interval_start", Kind::Time),
        col("price", Kind::Money),
        col("summary", Kind::Text),
        col("channels", Kind::Json),
    ],
    key: &["rule_id", "occurrence"],
};

static INSERT_RULE: Statement =
    Statement::new(|d: Dialect| ALERT_RULES.insert(d, "rows", OnConflict::Fail));
static UPDATE_RULE: Statement = Statement::new(|d: Dialect| {
    render(
        "UPDATE alert_rules SET name = {name}, region = {region}, condition = {condition:json}, \
         quiet_hours = {quiet_hours:json}, cooldown_secs = {cooldown_secs:int}, \
         enabled = {enabled:bool}, email = {email:bool}, webhook_url = {webhook_url}, \
         updated_at = {updated_at:time} WHERE id = {id} AND user_id = {user_id}",
        d,
    )
});
static DELETE_RULE: Statement = Statement::new(|d: Dialect| {
    render(
        "DELETE FROM alert_rules WHERE id = {id} AND user_id = {user_id}",
        d,
    )
});
/// An edited rule starts afresh: the occurrence it last fired for may fire again.
static FORGET_STATE: Statement =
    Statement::new(|d: Dialect| render("DELETE FROM alert_rule_state WHERE rule_id = {id}", d));
static RULES_OF_USER: Statement =
    Statement::new(|d: Dialect| ALERT_RULES.select(d, "user_id = {user_id}", "created_at, id", ""));
static ALL_RULES: Statement = Statement::new(|d: Dialect| ALERT_RULES.select(d, "true", "id", ""));
static ALL_STATES: Statement =
    Statement::new(|d: Dialect| ALERT_RULE_STATE.select(d, "true", "rule_id", ""));
static UPSERT_STATE: Statement =
    Statement::new(|d: Dialect| ALERT_RULE_STATE.insert(d, "rows", OnConflict::Update));
static INSERT_HISTORY: Statement =
    Statement::new(|d: Dialect| ALERT_HISTORY.insert(d, "rows", OnConflict::Nothing));
static HISTORY_OF_RULE: Statement = Statement::new(|d: Dialect| {
    ALERT_HISTORY.select(
        d,
        "rule_id = {rule_id} AND user_id = {user_id}",
        "fired_at DESC, id",
        "{limit:int}",
    )
});
/// Where the rules `ids` deliver: their channels and their user's email.
static DELIVERIES: Statement = Statement::new(|d: Dialect| {
    let inner = render(
        "SELECT r.id, r.name, r.email, r.webhook_url, r.webhook_secret, u.email AS user_email \
         FROM alert_rules r JOIN users u ON u.id = r.user_id \
         WHERE r.id IN (SELECT value FROM \
           {sqlite:json_each|postgres:jsonb_array_elements_text}({ids:json}))",
        d,
    );
    match d {
        Dialect::Sqlite => format!(
            "SELECT json_group_array(json_object('id', id, 'name', name, \
             'email', CASE WHEN email THEN json('true') ELSE json('false') END, \
             'webhook_url', webhook_url, 'webhook_secret', webhook_secret, \
             'user_email', user_email)) FROM ({inner})"
        ),
        Dialect::Postgres => {
            format!("SELECT COALESCE(json_agg(t)::text, '[]') FROM ({inner}) AS t")
        }
    }
});

/// A row of [`ALERT_RULES`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertRuleRow {
    pub id: String,
    pub user_id: String,
    pub name: String,
    pub region: String,
    /// The [`AlertCondition`](wattline_actors::domain::alert::AlertCondition) as JSON.
    pub condition: Value,
    pub quiet_hours: Option<Value>,
    pub cooldown_secs: i64,
    pub enabled: bool,
    /// Deliver by email to the user's address.
    pub email: bool,
    pub webhook_url: Option<String>,
    /// Signs webhook deliveries; shown to the user once, at creation.
    pub webhook_secret: Option<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl AlertRuleRow {
    /// The rule as the evaluator sees it, with its `state`. A row that no longer parses (a
    /// condition from a newer version) is skipped with a warning rather than stopping the others.
    pub fn rule(&self, state: Option<&AlertStateRow>) -> Option<AlertRule> {
        let parsed = (|| -> Result<AlertRule, String> {
            Ok(AlertRule {
                id: self.id.clone(),
                user_id: self.user_id.clone(),
                region: self.region.parse().map_err(|e| format!("{e}"))?,
                condition: serde_json::from_value(self.condition.clone())
                    .map_err(|e| e.to_string())?,
                quiet_hours: match &self.quiet_hours {
                    None | Some(Value::Null) => None,
                    Some(v) => Some(serde_json::from_value(v.clone()).map_err(|e| e.to_string())?),
                },
                cooldown: SignedDuration::from_secs(self.cooldown_secs),
                enabled: self.enabled,
                last_fired_at: state.and_then(|s| s.last_fired_at),
                last_occurrence: state.and_then(|s| s.last_occurrence.clone()),
            })
        })();
        match parsed {
            Ok(rule) => Some(rule),
            Err(error) => {
                tracing::warn!(rule = %self.id, %error, "Stored alert rule does not parse; skipped.");
                None
            }
        }
    }
}

/// A row of [`ALERT_RULE_STATE`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertStateRow {
    pub rule_id: String,
    pub last_fired_at: Option<Timestamp>,
    pub last_occurrence: Option<String>,
}

/// A row of [`ALERT_HISTORY`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertHistoryRow {
    pub id: String,
    pub rule_id: String,
    pub user_id: String,
    pub region: String,
    pub occurrence: String,
    pub fired_at: Timestamp,
    pub interval_start: Timestamp,
    pub price: Option<Decimal>,
    pub summary: String,
    /// Where it was delivered: `["email", "webhook"]`.
    pub channels: Value,
}

#[derive(Deserialize)]
struct Delivery {
    id: String,
    name: String,
    email: bool,
    webhook_url: Option<String>,
    webhook_secret: Option<String>,
    user_email: String,
}

impl Storage {
    /// Stores a new rule.
    pub async fn create_alert_rule(&self, row: &AlertRuleRow) -> Result<(), StorageError> {
        self.execute(&INSERT_RULE, &json!({ "rows": [row] }))
            .await?;
        Ok(())
    }

    /// Replaces the user's rule `row.id` (its secret and creation time stay); false when the
    /// user has no such rule. Its evaluation state is forgotten.
    pub async fn update_alert_rule(&self, row: &AlertRuleRow) -> Result<bool, StorageError> {
        let mut unit = UnitOfWork::new();
        unit.push(&UPDATE_RULE, row)
            .push(&FORGET_STATE, &json!({ "id": row.id }));
        let changed = self.commit(unit).await?;
        Ok(changed[0] == 1)
    }

    /// Deletes the user's rule `id` (its state and history go with it).
    pub async fn delete_alert_rule(&self, user_id: &str, id: &str) -> Result<bool, StorageError> {
        let changed = self
            .execute(&DELETE_RULE, &json!({ "id": id, "user_id": user_id }))
            .await?;
        Ok(changed == 1)
    }

    /// The user's rules, oldest first.
    pub async fn alert_rules_of(&self, user_id: &str) -> Result<Vec<AlertRuleRow>, StorageError> {
        self.rows(&RULES_OF_USER, &json!({ "user_id": user_id }))
            .await
    }

    /// The user's rule `id`.
    pub async fn alert_rule_of(
        &self,
        user_id: &str,
        id: &str,
    ) -> Result<Option<AlertRuleRow>, StorageError> {
        Ok(self
            .alert_rules_of(user_id)
            .await?
            .into_iter()
            .find(|r| r.id == id))
    }

    /// The last `limit` firings of the user's rule `rule_id`, newest first.
    pub async fn alert_history(
        &self,
        user_id: &str,
        rule_id: &str,
        limit: u32,
    ) -> Result<Vec<AlertHistoryRow>, StorageError> {
        self.rows(
            &HISTORY_OF_RULE,
            &json!({ "rule_id": rule_id, "user_id": user_id, "limit": limit }),
        )
        .await
    }
}

/// The deliveries of one firing through `delivery`'s channels.
fn delivery_jobs(firing: &Firing, delivery: &Delivery, now: Timestamp) -> Vec<NewJob> {
    let key = format!("alert:{}:{}", firing.rule_id, firing.occurrence);
    let mut jobs = Vec::new();
    if delivery.email {
        jobs.push(NewJob {
            queue: EMAIL_QUEUE.into(),
            kind: "price_alert".into(),
            payload: json!({
                "to": delivery.user_email,
                "rule_name": delivery.name,
                "summary": firing.summary,
            }),
            idempotency_key: format!("{key}:email"),
            user_id: Some(firing.user_id.clone()),
            run_at: now,
        });
    }
    if let (Some(url), Some(secret)) = (&delivery.webhook_url, &delivery.webhook_secret) {
        jobs.push(NewJob {
            queue: WEBHOOK_QUEUE.into(),
            kind: "alert_webhook".into(),
            payload: json!({
                "url": url,
                "secret": secret,
                "body": {
                    "type": "price_alert",
                    "rule_id": firing.rule_id,
                    "rule_name": delivery.name,
                    "region": firing.region,
                    "occurrence": firing.occurrence,
                    "interval_start": firing.at,
                    "price": firing.price,
                    "summary": firing.summary,
                    "fired_at": now,
                },
            }),
            idempotency_key: format!("{key}:webhook"),
            user_id: Some(firing.user_id.clone()),
            run_at: now,
        });
    }
    jobs
}

#[async_trait]
impl AlertStore for Storage {
    async fn alert_rules(&self) -> Result<Vec<AlertRule>, StoreError> {
        let rows: Vec<AlertRuleRow> = self.rows(&ALL_RULES, &json!({})).await?;
        let states: Vec<AlertStateRow> = self.rows(&ALL_STATES, &json!({})).await?;
        let states: std::collections::HashMap<&str, &AlertStateRow> =
            states.iter().map(|s| (s.rule_id.as_str(), s)).collect();
        Ok(rows
            .iter()
            .filter_map(|row| row.rule(states.get(row.id.as_str()).copied()))
            .collect())
    }

    async fn record_firings(&self, firings: &[Firing], now: Timestamp) -> Result<u64, StoreError> {
        if firings.is_empty() {
            return Ok(0);
        }
        let ids: Vec<&str> = firings.iter().map(|f| f.rule_id.as_str()).collect();
        let deliveries: Vec<Delivery> = self.rows(&DELIVERIES, &json!({ "ids": ids })).await?;
        let deliveries: std::collections::HashMap<&str, &Delivery> =
            deliveries.iter().map(|d| (d.id.as_str(), d)).collect();
        let mut history = Vec::new();
        let mut states = Vec::new();
        let mut unit = UnitOfWork::new();
        for firing in firings {
            // A rule deleted since it was loaded delivers nothing.
            let Some(delivery) = deliveries.get(firing.rule_id.as_str()) else {
                continue;
            };
            let jobs = delivery_jobs(firing, delivery, now);
            let channels: Vec<&str> = jobs
                .iter()
                .map(|j| {
                    if j.queue == EMAIL_QUEUE {
                        "email"
                    } else {
                        "webhook"
                    }
                })
                .collect();
            history.push(AlertHistoryRow {
                id: uuid::Uuid::now_v7().to_string(),
                rule_id: firing.rule_id.clone(),
                user_id: firing.user_id.clone(),
                region: firing.region.to_string(),
                occurrence: firing.occurrence.clone(),
                fired_at: now,
                interval_start: firing.at,
                price: firing.price,
                summary: firing.summary.clone(),
                channels: json!(channels),
            });
            states.push(AlertStateRow {
                rule_id: firing.rule_id.clone(),
                last_fired_at: Some(now),
                last_occurrence: Some(firing.occurrence.clone()),
            });
            for job in jobs {
                unit.enqueue(job);
            }
        }
        if history.is_empty() {
            return Ok(0);
        }
        unit.push(&INSERT_HISTORY, &json!({ "rows": history }))
            .push(&UPSERT_STATE, &json!({ "rows": states }));
        let changed = self.commit(unit).await?;
        Ok(changed[changed.len() - 2])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::rows::tests::{columns, fields};

    #[test]
    fn rows_name_exactly_their_table_columns() {
        let rule = AlertRuleRow {
            id: "r".into(),
            user_id: "u".into(),
            name: "n".into(),
            region: "uk".into(),
            condition: json!({"kind": "tomorrow_published"}),
            quiet_hours: None,
            cooldown_secs: 0,
            enabled: true,
            email: true,
            webhook_url: None,
            webhook_secret: None,
            created_at: Timestamp::UNIX_EPOCH,
            updated_at: Timestamp::UNIX_EPOCH,
        };
        assert_eq!(fields(&rule), columns(&ALERT_RULES));
        let state = AlertStateRow {
            rule_id: "r".into(),
            last_fired_at: None,
            last_occurrence: None,
        };
        assert_eq!(fields(&state), columns(&ALERT_RULE_STATE));
        let history = AlertHistoryRow {
            id: "h".into(),
            rule_id: "r".into(),
            user_id: "u".into(),
            region: "uk".into(),
            occurrence: "o".into(),
            fired_at: Timestamp::UNIX_EPOCH,
            interval_start: Timestamp::UNIX_EPOCH,
            price: None,
            summary: "s".into(),
            channels: json!([]),
        };
        assert_eq!(fields(&history), columns(&ALERT_HISTORY));
    }
}
