//! Beta sign-ups in storage. A sign-up and its welcome email job are committed together.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::jobs::NewJob;
use super::sql::{Dialect, Kind, OnConflict, Statement, Table, col};
use super::{Storage, StorageError, UnitOfWork};

/// `beta_signups`.
pub static BETA_SIGNUPS: Table = Table {
    name: "beta_signups",
    columns: &[
        col("id", Kind::Text),
        col("email", Kind::Text),
        col("name", Kind::Text),
        col("postcode", Kind::Text),
        col("current_supplier", Kind::Text),
        col("monthly_bill", Kind::Text),
        col("hear_about", Kind::Text),
        col("beta_code", Kind::Text),
        col("created_at", Kind::Time),
    ],
    key: &["id"],
};

static INSERT_SIGNUP: Statement =
    Statement::new(|d: Dialect| BETA_SIGNUPS.insert(d, "rows", OnConflict::Fail));
static ALL_SIGNUPS: Statement =
    Statement::new(|d: Dialect| BETA_SIGNUPS.select(d, "true", "created_at, id", ""));
static SIGNUP_BY_CODE: Statement =
    Statement::new(|d: Dialect| BETA_SIGNUPS.select(d, "beta_code = {beta_code}", "id", ""));

/// A row of [`BETA_SIGNUPS`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BetaSignupRow {
    pub id: String,
    /// Lower case.
    pub email: String,
    pub name: String,
    /// Upper case, one space before the inward code.
    pub postcode: String,
    pub current_supplier: String,
    pub monthly_bill: String,
    pub hear_about: String,
    pub beta_code: String,
    pub created_at: Timestamp,
}

impl Storage {
    /// Stores a sign-up and queues its welcome email, in one transaction. The email (or the
    /// code) taken already: [`StorageError::Conflict`], and nothing is queued.
    pub async fn create_beta_signup(
        &self,
        signup: &BetaSignupRow,
        welcome: NewJob,
    ) -> Result<(), StorageError> {
        let mut unit = UnitOfWork::new();
        unit.push(&INSERT_SIGNUP, &serde_json::json!({ "rows": [signup] }))
            .enqueue(welcome);
        self.commit(unit).await?;
        Ok(())
    }

    /// Every sign-up, oldest first (hundreds to a few thousand: statistics read them whole).
    pub async fn beta_signups(&self) -> Result<Vec<BetaSignupRow>, StorageError> {
        self.rows(&ALL_SIGNUPS, &serde_json::json!({})).await
    }

    /// The sign-up holding `code`.
    pub async fn beta_signup_by_code(
        &self,
        code: &str,
    ) -> Result<Option<BetaSignupRow>, StorageError> {
        let rows: Vec<BetaSignupRow> = self
            .rows(&SIGNUP_BY_CODE, &serde_json::json!({ "beta_code": code }))
            .await?;
        Ok(rows.into_iter().next())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::rows::tests::{columns, fields};

    #[test]
    fn the_row_names_exactly_its_table_columns() {
        let row = BetaSignupRow {
            id: "b".into(),
            email: "a@b.c".into(),
            name: "A".into(),
            postcode: "SW1A 1AA".into(),
            current_supplier: "x".into(),
            monthly_bill: "80".into(),
            hear_about: "y".into(),
            beta_code: "BETA-2026-0123ABCD".into(),
            created_at: Timestamp::UNIX_EPOCH,
        };
        assert_eq!(fields(&row), columns(&BETA_SIGNUPS));
    }
}
