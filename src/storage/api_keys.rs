//! API keys in storage: hashed, with scopes, revocable.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::sql::{Dialect, Kind, OnConflict, Statement, Table, col, render};
use super::{Storage, StorageError};

/// `api_keys`.
pub static API_KEYS: Table = Table {
    name: "api_keys",
    columns: &[
        col("id", Kind::Text),
        col("name", Kind::Text),
        col("key_hash", Kind::Text),
        col("prefix", Kind::Text),
        col("scopes", Kind::Text),
        col("created_at", Kind::Time),
        col("revoked_at", Kind::Time),
        col("user_id", Kind::Text),
    ],
    key: &["id"],
};

static INSERT_KEY: Statement =
    Statement::new(|d: Dialect| API_KEYS.insert(d, "rows", OnConflict::Fail));
static LIVE_KEY_BY_HASH: Statement = Statement::new(|d: Dialect| {
    API_KEYS.select(d, "key_hash = {key_hash} AND revoked_at IS NULL", "id", "")
});
static ALL_KEYS: Statement =
    Statement::new(|d: Dialect| API_KEYS.select(d, "true", "created_at, id", ""));
static KEYS_OF_USER: Statement =
    Statement::new(|d: Dialect| API_KEYS.select(d, "user_id = {user_id}", "created_at, id", ""));
static REVOKE_USER_KEY: Statement = Statement::new(|d: Dialect| {
    render(
        "UPDATE api_keys SET revoked_at = {now:time} \
         WHERE id = {id} AND user_id = {user_id} AND revoked_at IS NULL",
        d,
    )
});
static REVOKE_KEY: Statement = Statement::new(|d: Dialect| {
    render(
        "UPDATE api_keys SET revoked_at = {now:time} WHERE id = {id} AND revoked_at IS NULL",
        d,
    )
});

/// A row of [`API_KEYS`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApiKeyRow {
    pub id: String,
    pub name: String,
    /// SHA-256 of the key, hex.
    pub key_hash: String,
    /// The key's first characters, to recognise it in a listing.
    pub prefix: String,
    /// Comma separated: `read`, `refresh`, `admin`.
    pub scopes: String,
    pub created_at: Timestamp,
    pub revoked_at: Option<Timestamp>,
    /// The business account the key acts for; `None` for operator keys.
    pub user_id: Option<String>,
}

impl ApiKeyRow {
    /// Whether the key carries `scope` (`admin` carries every scope).
    pub fn allows(&self, scope: &str) -> bool {
        self.scopes.split(',').any(|s| s == scope || s == "admin")
    }
}

impl Storage {
    /// Stores a new key.
    pub async fn create_api_key(&self, key: &ApiKeyRow) -> Result<(), StorageError> {
        self.execute(&INSERT_KEY, &serde_json::json!({ "rows": [key] }))
            .await?;
        Ok(())
    }

    /// The unrevoked key with this hash.
    pub async fn live_api_key(&self, key_hash: &str) -> Result<Option<ApiKeyRow>, StorageError> {
        let rows: Vec<ApiKeyRow> = self
            .rows(
                &LIVE_KEY_BY_HASH,
                &serde_json::json!({ "key_hash": key_hash }),
            )
            .await?;
        Ok(rows.into_iter().next())
    }

    /// Every key, revoked ones included, oldest first.
    pub async fn api_keys(&self) -> Result<Vec<ApiKeyRow>, StorageError> {
        self.rows(&ALL_KEYS, &serde_json::json!({})).await
    }

    /// The keys of the account `user_id`, revoked ones included, oldest first.
    pub async fn api_keys_of(&self, user_id: &str) -> Result<Vec<ApiKeyRow>, StorageError> {
        self.rows(&KEYS_OF_USER, &serde_json::json!({ "user_id": user_id }))
            .await
    }

    /// Revokes the key `id` of the account `user_id`; false when it has no such unrevoked key.
    pub async fn revoke_user_api_key(
        &self,
        user_id: &str,
        id: &str,
        now: Timestamp,
    ) -> Result<bool, StorageError> {
        let changed = self
            .execute(
                &REVOKE_USER_KEY,
                &serde_json::json!({ "id": id, "user_id": user_id, "now": now }),
            )
            .await?;
        Ok(changed > 0)
    }

    /// Revokes the key `id`; false when there is no such unrevoked key.
    pub async fn revoke_api_key(&self, id: &str, now: Timestamp) -> Result<bool, StorageError> {
        let changed = self
            .execute(&REVOKE_KEY, &serde_json::json!({ "id": id, "now": now }))
            .await?;
        Ok(changed > 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::rows::tests::{columns, fields};

    #[test]
    fn the_row_names_exactly_its_table_columns_and_admin_carries_every_scope() {
        let row = ApiKeyRow {
            id: "k".into(),
            name: "ops".into(),
            key_hash: "h".into(),
            prefix: "wl_abcd".into(),
            scopes: "admin".into(),
            created_at: Timestamp::UNIX_EPOCH,
            revoked_at: None,
            user_id: None,
        };
        assert_eq!(fields(&row), columns(&API_KEYS));
        assert!(row.allows("refresh") && row.allows("read"));
        let reader = ApiKeyRow {
            scopes: "read".into(),
            ..row
        };
        assert!(reader.allows("read") && !reader.allows("refresh"));
    }
}
