//! The older API's spellings (`../shared/spec/compat.md`), kept in one place: the region codes
//! its ML clients send and the response keys they read, written beside Wattline's own.

use rust_decimal::Decimal;
use serde::Serialize;
use utoipa::ToSchema;
use wattline_actors::domain::{Currency, Region};

use crate::error::ApiError;
use crate::http::state::AppState;

/// A region on the ML routes: Wattline's codes, or the older upper-case ones (`UK`, `GERMANY`,
/// `FRANCE`, `SPAIN`). The older `US` and `EU` each meant several regions: refused with the list.
pub fn ml_region(state: &AppState, code: &str) -> Result<Region, ApiError> {
    let older = match code {
        "UK" => Some(Region::Uk),
        "GERMANY" => Some(Region::Germany),
        "FRANCE" => Some(Region::France),
        "SPAIN" => Some(Region::Spain),
        "US" | "EU" => {
            let candidates: Vec<&'static str> = Region::ALL
                .into_iter()
                .filter(|r| {
                    let us = r.code().starts_with("us_");
                    if code == "US" {
                        us
                    } else {
                        r.currency() == Currency::Eur
                    }
                })
                .map(Region::code)
                .collect();
            return Err(ApiError::invalid_field(
                "region",
                format!(
                    "'{code}' covers several regions; send one of: {}",
                    candidates.join(", ")
                ),
            ));
        }
        _ => None,
    };
    match older {
        Some(region) => state.region(region.code()),
        None => state.region(code),
    }
}

/// The older ticker of a region's electricity price, e.g. `ELEC-UK`.
pub fn ticker(region: Region) -> String {
    format!("ELEC-{}", region.code().to_ascii_uppercase())
}

/// One forecast step as the older `predict/price` listed it.
#[derive(Debug, Serialize, ToSchema)]
pub struct OlderPrediction {
    /// Start of the interval.
    pub timestamp: String,
    #[schema(value_type = String)]
    pub predicted_price: Decimal,
    /// Lower bound of the prediction interval (absent when `include_confidence` was false).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub confidence_lower: Option<Decimal>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub confidence_upper: Option<Decimal>,
    pub currency: String,
}
