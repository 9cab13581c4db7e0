//! Accounts in storage: users and their refresh-token sessions. A session family is one sign-in;
//! each refresh marks the presented token used and stores its successor in the same transaction,
//! and a token presented again after use revokes its whole family (it was stolen, or replayed).

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::sql::{Dialect, Kind, OnConflict, Statement, Table, col, render};
use super::{Storage, StorageError, UnitOfWork};

/// `users`.
pub static USERS: Table = Table {
    name: "users",
    columns: &[
        col("id", Kind::Text),
        col("email", Kind::Text),
        col("password_hash", Kind::Text),
        col("name", Kind::Text),
        col("email_verified", Kind::Bool),
        col("tier", Kind::Text),
        col("created_at", Kind::Time),
        col("last_login_at", Kind::Time),
    ],
    key: &["id"],
};

/// `refresh_tokens`: one row per issued refresh token (hashed).
pub static REFRESH_TOKENS: Table = Table {
    name: "refresh_tokens",
    columns: &[
        col("token_hash", Kind::Text),
        col("family_id", Kind::Text),
        col("user_id", Kind::Text),
        col("expires_at", Kind::Time),
        col("used_at", Kind::Time),
        col("revoked", Kind::Bool),
        col("ip", Kind::Text),
        col("user_agent", Kind::Text),
        col("created_at", Kind::Time),
    ],
    key: &["token_hash"],
};

/// `oauth_identities`: provider accounts linked to users.
pub static OAUTH_IDENTITIES: Table = Table {
    name: "oauth_identities",
    columns: &[
        col("provider", Kind::Text),
        col("subject", Kind::Text),
        col("user_id", Kind::Text),
        col("email", Kind::Text),
        col("created_at", Kind::Time),
    ],
    key: &["provider", "subject"],
};

/// `secrets`: values a node generated for itself.
pub static SECRETS: Table = Table {
    name: "secrets",
    columns: &[
        col("name", Kind::Text),
        col("value", Kind::Text),
        col("created_at", Kind::Time),
    ],
    key: &["name"],
};
static INSERT_SECRET: Statement =
    Statement::new(|d: Dialect| SECRETS.insert(d, "rows", OnConflict::Nothing));
static SECRET_BY_NAME: Statement =
    Statement::new(|d: Dialect| SECRETS.select(d, "name = {name}", "name", ""));

/// A row of [`SECRETS`].
#[derive(Debug, Clone, Serialize, Deserialize)]
struct SecretRow {
    name: String,
    value: String,
    created_at: Timestamp,
}

static INSERT_USER: Statement =
    Statement::new(|d: Dialect| USERS.insert(d, "rows", OnConflict::Fail));
static USER_BY_EMAIL: Statement =
    Statement::new(|d: Dialect| USERS.select(d, "email = {email}", "id", ""));
static USER_BY_ID: Statement = Statement::new(|d: Dialect| USERS.select(d, "id = {id}", "id", ""));
static RECORD_LOGIN: Statement = Statement::new(|d: Dialect| {
    render(
        "UPDATE users SET last_login_at = {now:time} WHERE id = {id}",
        d,
    )
});
static USER_BY_IDENTITY: Statement = Statement::new(|d: Dialect| {
    USERS.select(
        d,
        "id IN (SELECT user_id FROM oauth_identities \
         WHERE provider = {provider} AND subject = {subject})",
        "id",
        "",
    )
});
static INSERT_IDENTITY: Statement =
    Statement::new(|d: Dialect| OAUTH_IDENTITIES.insert(d, "rows", OnConflict::Fail));
static MARK_VERIFIED: Statement = Statement::new(|d: Dialect| {
    render(
        "UPDATE users SET email_verified = {sqlite:1|postgres:TRUE}, last_login_at = {now:time} \
         WHERE id = {id}",
        d,
    )
});
static INSERT_TOKEN: Statement =
    Statement::new(|d: Dialect| REFRESH_TOKENS.insert(d, "rows", OnConflict::Fail));
static TOKEN_BY_HASH: Statement = Statement::new(|d: Dialect| {
    REFRESH_TOKENS.select(d, "token_hash = {token_hash}", "token_hash", "")
});
/// Marks a live token used: changes one row only if it was unused, unrevoked and unexpired.
static USE_TOKEN: Statement = Statement::new(|d: Dialect| {
    render(
        "UPDATE refresh_tokens SET used_at = {now:time} WHERE token_hash = {token_hash} \
         AND used_at IS NULL AND revoked = {sqlite:0|postgres:FALSE} AND expires_at > {now:time}",
        d,
    )
});
static REVOKE_FAMILY: Statement = Statement::new(|d: Dialect| {
    render(
        "UPDATE refresh_tokens SET revoked = {sqlite:1|postgres:TRUE} WHERE family_id = {family_id}",
        d,
    )
});

/// A row of [`USERS`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserRow {
    pub id: String,
    /// Lower case, trimmed.
    pub email: String,
    /// argon2id PHC string; absent for accounts that only sign in through a provider.
    pub password_hash: Option<String>,
    pub name: Option<String>,
    pub email_verified: bool,
    /// `free`, `pro` or `business`.
    pub tier: String,
    pub created_at: Timestamp,
    pub last_login_at: Option<Timestamp>,
}

impl UserRow {
    /// The account's tier (a stored value outside the three is a corrupt row).
    pub fn plan(&self) -> Result<wattline_actors::domain::billing::Tier, StorageError> {
        self.tier.parse().map_err(StorageError::Corrupt)
    }
}

/// A row of [`REFRESH_TOKENS`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RefreshTokenRow {
    /// SHA-256 of the token, hex.
    pub token_hash: String,
    pub family_id: String,
    pub user_id: String,
    pub expires_at: Timestamp,
    pub used_at: Option<Timestamp>,
    pub revoked: bool,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub created_at: Timestamp,
}

/// A row of [`OAUTH_IDENTITIES`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OAuthIdentityRow {
    /// The provider's configured name.
    pub provider: String,
    /// The provider's stable id of the account (`sub`, or GitHub's numeric id).
    pub subject: String,
    pub user_id: String,
    /// The verified email it carried when linked.
    pub email: String,
    pub created_at: Timestamp,
}

/// What presenting a refresh token came to.
#[derive(Debug, Clone, PartialEq)]
pub enum Rotation {
    /// The token was live: it is used now, and `next` is stored in its family.
    Rotated { user_id: String, family_id: String },
    /// The token had been used already: its family is revoked now.
    Reused,
    /// Unknown, expired or revoked.
    Invalid,
}

#[derive(Serialize)]
struct Rows<'a, T> {
    rows: &'a [T],
}

impl Storage {
    /// The stored secret `name`, storing `generated` first if there is none (the first of
    /// several nodes starting at once wins; all read the same value).
    pub async fn secret_or_insert(
        &self,
        name: &str,
        generated: String,
        now: Timestamp,
    ) -> Result<String, StorageError> {
        let row = SecretRow {
            name: name.to_string(),
            value: generated,
            created_at: now,
        };
        self.execute(
            &INSERT_SECRET,
            &Rows {
                rows: std::slice::from_ref(&row),
            },
        )
        .await?;
        let rows: Vec<SecretRow> = self
            .rows(&SECRET_BY_NAME, &serde_json::json!({ "name": name }))
            .await?;
        rows.into_iter()
            .next()
            .map(|r| r.value)
            .ok_or_else(|| StorageError::Corrupt(format!("secret {name} vanished")))
    }

    /// Stores a new user; an email already taken is [`StorageError::Conflict`].
    pub async fn create_user(&self, user: &UserRow) -> Result<(), StorageError> {
        self.execute(
            &INSERT_USER,
            &Rows {
                rows: std::slice::from_ref(user),
            },
        )
        .await?;
        Ok(())
    }

    /// The user with this (normalised) email.
    pub async fn user_by_email(&self, email: &str) -> Result<Option<UserRow>, StorageError> {
        let rows: Vec<UserRow> = self
            .rows(&USER_BY_EMAIL, &serde_json::json!({ "email": email }))
            .await?;
        Ok(rows.into_iter().next())
    }

    /// The user with this id.
    pub async fn user_by_id(&self, id: &str) -> Result<Option<UserRow>, StorageError> {
        let rows: Vec<UserRow> = self
            .rows(&USER_BY_ID, &serde_json::json!({ "id": id }))
            .await?;
        Ok(rows.into_iter().next())
    }

    /// Notes a successful sign-in.
    /// Records a sign-in that proved the user owns their email (an OAuth provider's verified
    /// address, a magic link): the email is verified from now on.
    pub async fn record_verified_login(
        &self,
        id: &str,
        now: Timestamp,
    ) -> Result<(), StorageError> {
        self.execute(&MARK_VERIFIED, &serde_json::json!({ "id": id, "now": now }))
            .await?;
        Ok(())
    }

    pub async fn record_login(&self, id: &str, now: Timestamp) -> Result<(), StorageError> {
        self.execute(&RECORD_LOGIN, &serde_json::json!({ "id": id, "now": now }))
            .await?;
        Ok(())
    }

    /// The user linked to a provider account.
    pub async fn user_by_identity(
        &self,
        provider: &str,
        subject: &str,
    ) -> Result<Option<UserRow>, StorageError> {
        let rows: Vec<UserRow> = self
            .rows(
                &USER_BY_IDENTITY,
                &serde_json::json!({ "provider": provider, "subject": subject }),
            )
            .await?;
        Ok(rows.into_iter().next())
    }

    /// Links a provider account to an existing user, whose email it verified, in one
    /// transaction. Linked already: [`StorageError::Conflict`].
    pub async fn link_identity(
        &self,
        identity: &OAuthIdentityRow,
        now: Timestamp,
    ) -> Result<(), StorageError> {
        let mut unit = UnitOfWork::new();
        unit.push(
            &INSERT_IDENTITY,
            &Rows {
                rows: std::slice::from_ref(identity),
            },
        )
        .push_expecting(
            &MARK_VERIFIED,
            &serde_json::json!({ "id": identity.user_id, "now": now }),
            1,
        );
        self.commit(unit).await?;
        Ok(())
    }

    /// Creates a user together with their first provider account. Email or account taken (a
    /// concurrent sign-in won): [`StorageError::Conflict`].
    pub async fn create_user_with_identity(
        &self,
        user: &UserRow,
        identity: &OAuthIdentityRow,
    ) -> Result<(), StorageError> {
        let mut unit = UnitOfWork::new();
        unit.push(
            &INSERT_USER,
            &Rows {
                rows: std::slice::from_ref(user),
            },
        )
        .push(
            &INSERT_IDENTITY,
            &Rows {
                rows: std::slice::from_ref(identity),
            },
        );
        self.commit(unit).await?;
        Ok(())
    }

    /// Stores the first refresh token of a new session family.
    pub async fn start_session(&self, token: &RefreshTokenRow) -> Result<(), StorageError> {
        self.execute(
            &INSERT_TOKEN,
            &Rows {
                rows: std::slice::from_ref(token),
            },
        )
        .await?;
        Ok(())
    }

    /// Presents the refresh token hashed as `token_hash`: when live, marks it used and stores
    /// `next` (given the token's family and user) in one transaction; when used before, revokes
    /// its family.
    pub async fn rotate_session(
        &self,
        token_hash: &str,
        now: Timestamp,
        next: impl FnOnce(&RefreshTokenRow) -> RefreshTokenRow,
    ) -> Result<Rotation, StorageError> {
        let rows: Vec<RefreshTokenRow> = self
            .rows(
                &TOKEN_BY_HASH,
                &serde_json::json!({ "token_hash": token_hash }),
            )
            .await?;
        let Some(current) = rows.into_iter().next() else {
            return Ok(Rotation::Invalid);
        };
        if current.used_at.is_some() {
            self.revoke_family(&current.family_id).await?;
            return Ok(Rotation::Reused);
        }
        if current.revoked || current.expires_at <= now {
            return Ok(Rotation::Invalid);
        }
        let successor = next(&current);
        let mut unit = UnitOfWork::new();
        unit.push_expecting(
            &USE_TOKEN,
            &serde_json::json!({ "token_hash": token_hash, "now": now }),
            1,
        )
        .push(
            &INSERT_TOKEN,
            &Rows {
                rows: std::slice::from_ref(&successor),
            },
        );
        match self.commit(unit).await {
            Ok(_) => Ok(Rotation::Rotated {
                user_id: current.user_id,
                family_id: current.family_id,
            }),
            // Another request used it first: this one is a replay.
            Err(StorageError::Conflict(_)) => {
                self.revoke_family(&current.family_id).await?;
                Ok(Rotation::Reused)
            }
            Err(other) => Err(other),
        }
    }

    /// The family of the refresh token hashed as `token_hash`, if the token is known.
    pub async fn session_family(&self, token_hash: &str) -> Result<Option<String>, StorageError> {
        let rows: Vec<RefreshTokenRow> = self
            .rows(
                &TOKEN_BY_HASH,
                &serde_json::json!({ "token_hash": token_hash }),
            )
            .await?;
        Ok(rows.into_iter().next().map(|r| r.family_id))
    }

    /// Revokes every token of a session family.
    pub async fn revoke_family(&self, family_id: &str) -> Result<(), StorageError> {
        self.execute(
            &REVOKE_FAMILY,
            &serde_json::json!({ "family_id": family_id }),
        )
        .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::rows::tests::{columns, fields};

    #[test]
    fn the_rows_name_exactly_their_table_columns() {
        let user = UserRow {
            id: "u".into(),
            email: "a@b.c".into(),
            password_hash: None,
            name: None,
            email_verified: false,
            tier: "free".into(),
            created_at: Timestamp::UNIX_EPOCH,
            last_login_at: None,
        };
        assert_eq!(fields(&user), columns(&USERS));
        let token = RefreshTokenRow {
            token_hash: "h".into(),
            family_id: "f".into(),
            user_id: "u".into(),
            expires_at: Timestamp::UNIX_EPOCH,
            used_at: None,
            revoked: false,
            ip: None,
            user_agent: None,
            created_at: Timestamp::UNIX_EPOCH,
        };
        assert_eq!(fields(&token), columns(&REFRESH_TOKENS));
        let identity = OAuthIdentityRow {
            provider: "github".into(),
            subject: "1".into(),
            user_id: "u".into(),
            email: "a@b.c".into(),
            created_at: Timestamp::UNIX_EPOCH,
        };
        assert_eq!(fields(&identity), columns(&OAUTH_IDENTITIES));
    }
}
