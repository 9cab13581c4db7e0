//! The prices ahead of now for one region as the edge finds them: the latest-price cache and,
//! when asked and a model is ready, the forecaster's forecast, combined by
//! [`Ahead::build`](wattline_actors::domain::horizon::Ahead::build).

use wattline_actors::domain::Region;
use wattline_actors::domain::horizon::Ahead;
use wattline_actors::forecaster::ForecastLookup;

use crate::error::ApiError;
use crate::http::state::AppState;

/// The prices ahead of now. With `include_forecast`, the forecast extends them when a model is
/// ready; without published prices and without a forecast there is nothing to search.
pub async fn ahead(
    state: &AppState,
    region: Region,
    include_forecast: bool,
) -> Result<Ahead, ApiError> {
    let forecast = match state.forecasts() {
        Ok(forecasts) if include_forecast => match forecasts.forecast(region).await? {
            ForecastLookup::Ready(forecast) => Some(forecast),
            ForecastLookup::NotReady(_) => None,
        },
        _ => None,
    };
    let snapshot = state.latest().snapshot();
    Ok(Ahead::build(
        region,
        snapshot.series(region),
        forecast.as_deref(),
        state.now(),
    ))
}
