//! Calibrated forecast models between runs: one row per region, the newest model's JSON.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use wattline_actors::domain::Region;

use super::sql::{Dialect, Kind, OnConflict, Statement, Table, col};

/// `forecast_models`: the newest model of each region.
pub static FORECAST_MODELS: Table = Table {
    name: "forecast_models",
    columns: &[
        col("region", Kind::Text),
        col("version", Kind::Text),
        col("calibrated_at", Kind::Time),
        col("model", Kind::Text),
    ],
    key: &["region"],
};

/// Stores a region's model, replacing the one before.
pub(crate) static UPSERT_MODEL: Statement =
    Statement::new(|d: Dialect| FORECAST_MODELS.insert(d, "rows", OnConflict::Update));

/// A region's stored model.
pub(crate) static SELECT_MODEL: Statement =
    Statement::new(|d: Dialect| FORECAST_MODELS.select(d, "region = {region}", "region", ""));

/// A row of [`FORECAST_MODELS`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelRow {
    pub region: Region,
    pub version: String,
    pub calibrated_at: Timestamp,
    /// The model as the forecaster serialised it.
    pub model: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::rows::tests::{columns, fields};

    #[test]
    fn the_model_row_names_exactly_its_table_columns() {
        let row = ModelRow {
            region: Region::Uk,
            version: "v".into(),
            calibrated_at: Timestamp::UNIX_EPOCH,
            model: "{}".into(),
        };
        assert_eq!(fields(&row), columns(&FORECAST_MODELS));
    }
}
