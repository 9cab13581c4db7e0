//! The supplier and tariff catalogue in storage, and users' preference documents. The catalogue
//! is small (hundreds of rows) and read whole per request: filters and pages are applied by the
//! caller, over one read.

use jiff::Timestamp;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use wattline_actors::domain::tariff::Rates;

use super::sql::{Dialect, Kind, OnConflict, Statement, Table, col, render};
use super::{Storage, StorageError, UnitOfWork};

/// `suppliers`.
pub static SUPPLIERS: Table = Table {
    name: "suppliers",
    columns: &[
        col("id", Kind::Text),
        col("name", Kind::Text),
        col("regions", Kind::Text),
        col("website", Kind::Text),
        col("green_provider", Kind::Bool),
        col("rating", Kind::Real),
        col("active", Kind::Bool),
        col("created_at", Kind::Time),
        col("updated_at", Kind::Time),
    ],
    key: &["id"],
};

/// `tariffs`.
pub static TARIFFS: Table = Table {
    name: "tariffs",
    columns: &[
        col("id", Kind::Text),
        col("supplier_id", Kind::Text),
        col("region", Kind::Text),
        col("name", Kind::Text),
        col("tariff_type", Kind::Text),
        col("rates", Kind::Json),
        col("standing_charge", Kind::Money),
        col("currency", Kind::Text),
        col("green_share", Kind::Int),
        col("contract_length", Kind::Text),
        col("exit_fee", Kind::Money),
        col("valid_from", Kind::Text),
        col("valid_to", Kind::Text),
        col("source", Kind::Text),
        col("source_date", Kind::Text),
        col("example", Kind::Bool),
        col("active", Kind::Bool),
        col("created_at", Kind::Time),
        col("updated_at", Kind::Time),
    ],
    key: &["id"],
};

/// `user_preferences`.
pub static USER_PREFERENCES: Table = Table {
    name: "user_preferences",
    columns: &[
        col("user_id", Kind::Text),
        col("document", Kind::Json),
        col("updated_at", Kind::Time),
    ],
    key: &["user_id"],
};

static SEED_SUPPLIERS: Statement =
    Statement::new(|d: Dialect| SUPPLIERS.insert(d, "suppliers", OnConflict::Nothing));
static SEED_TARIFFS: Statement =
    Statement::new(|d: Dialect| TARIFFS.insert(d, "tariffs", OnConflict::Nothing));
static UPSERT_SUPPLIER: Statement =
    Statement::new(|d: Dialect| SUPPLIERS.insert(d, "rows", OnConflict::Update));
static UPSERT_TARIFF: Statement =
    Statement::new(|d: Dialect| TARIFFS.insert(d, "rows", OnConflict::Update));
static ALL_SUPPLIERS: Statement =
    Statement::new(|d: Dialect| SUPPLIERS.select(d, "true", "name, id", ""));
static ALL_TARIFFS: Statement =
    Statement::new(|d: Dialect| TARIFFS.select(d, "true", "supplier_id, name, id", ""));
static ANY_SUPPLIER: Statement =
    Statement::new(|d: Dialect| SUPPLIERS.select(d, "true", "id", "1"));
static DELETE_SUPPLIER: Statement =
    Statement::new(|d: Dialect| render("DELETE FROM suppliers WHERE id = {id}", d));
static DELETE_TARIFF: Statement =
    Statement::new(|d: Dialect| render("DELETE FROM tariffs WHERE id = {id}", d));
static PREFERENCES_OF: Statement =
    Statement::new(|d: Dialect| USER_PREFERENCES.select(d, "user_id = {user_id}", "user_id", ""));
static PUT_PREFERENCES: Statement =
    Statement::new(|d: Dialect| USER_PREFERENCES.insert(d, "rows", OnConflict::Update));

/// A row of [`SUPPLIERS`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SupplierRow {
    /// A slug, e.g. `octopus-energy`.
    pub id: String,
    pub name: String,
    /// Region codes, comma separated.
    pub regions: String,
    pub website: Option<String>,
    pub green_provider: bool,
    /// 0–5, when known.
    pub rating: Option<f64>,
    pub active: bool,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl SupplierRow {
    /// The region codes it serves.
    pub fn regions(&self) -> impl Iterator<Item = &str> {
        self.regions.split(',').filter(|r| !r.is_empty())
    }
}

/// A row of [`TARIFFS`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TariffRow {
    pub id: String,
    pub supplier_id: String,
    pub region: String,
    pub name: String,
    /// The type of `rates` (`fixed`, `variable`, `time_of_use`, `dynamic`, `agile`).
    pub tariff_type: String,
    pub rates: Rates,
    /// Per day, in `currency`.
    pub standing_charge: Decimal,
    /// ISO 4217.
    pub currency: String,
    /// Percent of renewable supply, 0–100.
    pub green_share: u8,
    /// `monthly`, `annual`, `two_year`, `three_year` or `rolling`.
    pub contract_length: String,
    pub exit_fee: Decimal,
    /// `YYYY-MM-DD`, inclusive.
    pub valid_from: Option<String>,
    pub valid_to: Option<String>,
    /// Where the figures come from.
    pub source: String,
    pub source_date: Option<String>,
    /// Illustrative figures, not published ones.
    pub example: bool,
    pub active: bool,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl TariffRow {
    /// Whether it can be taken on `today` (`YYYY-MM-DD`): active and within its validity.
    pub fn available_on(&self, today: &str) -> bool {
        self.active
            && self.valid_from.as_deref().is_none_or(|from| from <= today)
            && self.valid_to.as_deref().is_none_or(|to| today <= to)
    }
}

/// A row of [`USER_PREFERENCES`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct PreferencesRow {
    user_id: String,
    document: Value,
    updated_at: Timestamp,
}

#[derive(Serialize)]
struct Seed<'a> {
    suppliers: &'a [SupplierRow],
    tariffs: &'a [TariffRow],
}

impl Storage {
    /// Whether the catalogue has no supplier at all (never seeded, or emptied by operators).
    pub async fn catalogue_is_empty(&self) -> Result<bool, StorageError> {
        let rows: Vec<SupplierRow> = self.rows(&ANY_SUPPLIER, &serde_json::json!({})).await?;
        Ok(rows.is_empty())
    }

    /// Stores a seed catalogue in one transaction; rows whose id exists are left as they are.
    pub async fn seed_catalogue(
        &self,
        suppliers: &[SupplierRow],
        tariffs: &[TariffRow],
    ) -> Result<(), StorageError> {
        let mut unit = UnitOfWork::new();
        let seed = Seed { suppliers, tariffs };
        unit.push(&SEED_SUPPLIERS, &seed).push(&SEED_TARIFFS, &seed);
        self.commit(unit).await?;
        Ok(())
    }

    /// Every supplier, by name.
    pub async fn suppliers(&self) -> Result<Vec<SupplierRow>, StorageError> {
        self.rows(&ALL_SUPPLIERS, &serde_json::json!({})).await
    }

    /// Every tariff, by supplier and name.
    pub async fn tariffs(&self) -> Result<Vec<TariffRow>, StorageError> {
        self.rows(&ALL_TARIFFS, &serde_json::json!({})).await
    }

    /// Stores a supplier, replacing the one with its id.
    pub async fn put_supplier(&self, supplier: &SupplierRow) -> Result<(), StorageError> {
        self.execute(&UPSERT_SUPPLIER, &serde_json::json!({ "rows": [supplier] }))
            .await?;
        Ok(())
    }

    /// Stores a tariff, replacing the one with its id. Its supplier must exist
    /// ([`StorageError::Rejected`] otherwise, from the foreign key).
    pub async fn put_tariff(&self, tariff: &TariffRow) -> Result<(), StorageError> {
        self.execute(&UPSERT_TARIFF, &serde_json::json!({ "rows": [tariff] }))
            .await?;
        Ok(())
    }

    /// Deletes a supplier and its tariffs; whether it existed.
    pub async fn delete_supplier(&self, id: &str) -> Result<bool, StorageError> {
        Ok(self
            .execute(&DELETE_SUPPLIER, &serde_json::json!({ "id": id }))
            .await?
            > 0)
    }

    /// Deletes a tariff; whether it existed.
    pub async fn delete_tariff(&self, id: &str) -> Result<bool, StorageError> {
        Ok(self
            .execute(&DELETE_TARIFF, &serde_json::json!({ "id": id }))
            .await?
            > 0)
    }

    /// The stored preferences document of a user.
    pub async fn preferences(&self, user_id: &str) -> Result<Option<Value>, StorageError> {
        let rows: Vec<PreferencesRow> = self
            .rows(&PREFERENCES_OF, &serde_json::json!({ "user_id": user_id }))
            .await?;
        Ok(rows.into_iter().next().map(|r| r.document))
    }

    /// Replaces a user's preferences document.
    pub async fn put_preferences(
        &self,
        user_id: &str,
        document: &Value,
        now: Timestamp,
    ) -> Result<(), StorageError> {
        let row = PreferencesRow {
            user_id: user_id.to_string(),
            document: document.clone(),
            updated_at: now,
        };
        self.execute(&PUT_PREFERENCES, &serde_json::json!({ "rows": [row] }))
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
        let supplier = SupplierRow {
            id: "s".into(),
            name: "S".into(),
            regions: "uk".into(),
            website: None,
            green_provider: false,
            rating: None,
            active: true,
            created_at: Timestamp::UNIX_EPOCH,
            updated_at: Timestamp::UNIX_EPOCH,
        };
        assert_eq!(fields(&supplier), columns(&SUPPLIERS));
        let tariff = TariffRow {
            id: "t".into(),
            supplier_id: "s".into(),
            region: "uk".into(),
            name: "T".into(),
            tariff_type: "fixed".into(),
            rates: Rates::Fixed {
                unit_rate: Decimal::ONE,
            },
            standing_charge: Decimal::ONE,
            currency: "GBP".into(),
            green_share: 0,
            contract_length: "rolling".into(),
            exit_fee: Decimal::ZERO,
            valid_from: None,
            valid_to: None,
            source: "x".into(),
            source_date: None,
            example: true,
            active: true,
            created_at: Timestamp::UNIX_EPOCH,
            updated_at: Timestamp::UNIX_EPOCH,
        };
        assert_eq!(fields(&tariff), columns(&TARIFFS));
        let prefs = PreferencesRow {
            user_id: "u".into(),
            document: serde_json::json!({}),
            updated_at: Timestamp::UNIX_EPOCH,
        };
        assert_eq!(fields(&prefs), columns(&USER_PREFERENCES));
    }
}
