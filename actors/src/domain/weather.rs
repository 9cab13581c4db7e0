//! Weather at a region's reference city: the exogenous inputs the forecaster may use.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::region::Region;

/// One forecast (or observed) weather step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WeatherPoint {
    pub region: Region,
    /// The instant the values are for.
    pub at: Timestamp,
    pub temperature_c: f64,
    /// Cloud cover, 0–100 %.
    pub cloud_cover_pct: f64,
    pub wind_speed_ms: f64,
    /// Which provider said so (e.g. `openweathermap`).
    pub source: String,
    pub fetched_at: Timestamp,
}

/// The reference city of each region: name and (latitude, longitude).
pub fn reference_city(region: Region) -> (&'static str, f64, f64) {
    match region {
        Region::Uk => ("London", 51.5074, -0.1278),
        Region::Germany => ("Berlin", 52.5200, 13.4050),
        Region::France => ("Paris", 48.8566, 2.3522),
        Region::Spain => ("Madrid", 40.4168, -3.7038),
        Region::Italy => ("Milan", 45.4642, 9.1900),
        Region::Netherlands => ("Amsterdam", 52.3676, 4.9041),
        Region::Belgium => ("Brussels", 50.8503, 4.3517),
        Region::UsCt => ("Hartford", 41.7658, -72.6734),
        Region::UsCa => ("Los Angeles", 34.0522, -118.2437),
        Region::UsTx => ("Houston", 29.7604, -95.3698),
        Region::UsNy => ("New York", 40.7128, -74.0060),
        Region::UsFl => ("Miami", 25.7617, -80.1918),
        Region::Australia => ("Sydney", -33.8688, 151.2093),
        Region::Japan => ("Tokyo", 35.6762, 139.6503),
    }
}
