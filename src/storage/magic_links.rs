//! Magic sign-in links: the token's hash, its user, where to send the browser afterwards, and
//! when it expires. A link is created together with the email carrying it, and used once.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::jobs::NewJob;
use super::sql::{Dialect, Kind, OnConflict, Statement, Table, col, render};
use super::{Storage, StorageError, UnitOfWork};

/// `magic_links`.
pub static MAGIC_LINKS: Table = Table {
    name: "magic_links",
    columns: &[
        col("token_hash", Kind::Text),
        col("user_id", Kind::Text),
        col("redirect_url", Kind::Text),
        col("expires_at", Kind::Time),
        col("used_at", Kind::Time),
        col("created_at", Kind::Time),
    ],
    key: &["token_hash"],
};

static INSERT_LINK: Statement =
    Statement::new(|d: Dialect| MAGIC_LINKS.insert(d, "rows", OnConflict::Fail));
/// Marks the link used, only if it is unused and unexpired: the one check that makes it
/// single-use under concurrent clicks.
static USE_LINK: Statement = Statement::new(|d: Dialect| {
    render(
        "UPDATE magic_links SET used_at = {now:time} WHERE token_hash = {token_hash} \
         AND used_at IS NULL AND expires_at > {now:time}",
        d,
    )
});
static LINK_BY_HASH: Statement = Statement::new(|d: Dialect| {
    MAGIC_LINKS.select(d, "token_hash = {token_hash}", "token_hash", "")
});

/// A row of [`MAGIC_LINKS`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MagicLinkRow {
    pub token_hash: String,
    pub user_id: String,
    pub redirect_url: Option<String>,
    pub expires_at: Timestamp,
    pub used_at: Option<Timestamp>,
    pub created_at: Timestamp,
}

impl Storage {
    /// Stores a link and queues the email carrying it, in one transaction.
    pub async fn create_magic_link(
        &self,
        link: &MagicLinkRow,
        email: NewJob,
    ) -> Result<(), StorageError> {
        let mut unit = UnitOfWork::new();
        unit.push(&INSERT_LINK, &json!({ "rows": [link] }))
            .enqueue(email);
        self.commit(unit).await?;
        Ok(())
    }

    /// Uses the link with `token_hash` at `now`: its row when it was unused and unexpired, else
    /// `None` (unknown, used or expired alike).
    pub async fn use_magic_link(
        &self,
        token_hash: &str,
        now: Timestamp,
    ) -> Result<Option<MagicLinkRow>, StorageError> {
        let params = json!({ "token_hash": token_hash, "now": now });
        if self.execute(&USE_LINK, &params).await? != 1 {
            return Ok(None);
        }
        let rows: Vec<MagicLinkRow> = self.rows(&LINK_BY_HASH, &params).await?;
        Ok(rows.into_iter().next())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::rows::tests::{columns, fields};

    #[test]
    fn the_row_names_exactly_its_table_columns() {
        let row = MagicLinkRow {
            token_hash: "h".into(),
            user_id: "u".into(),
            redirect_url: None,
            expires_at: Timestamp::UNIX_EPOCH,
            used_at: None,
            created_at: Timestamp::UNIX_EPOCH,
        };
        assert_eq!(fields(&row), columns(&MAGIC_LINKS));
    }
}
