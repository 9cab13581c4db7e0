//! OpenWeatherMap 5 day / 3 hour forecasts for each region's reference city (free plan), stored
//! as exogenous inputs for the forecaster. Temperatures in °C (`units=metric`), cloud cover in %,
//! wind in m/s. The tree's WeatherCollector calls it on an interval when a key is configured.

use async_trait::async_trait;
use jiff::Timestamp;
use serde::Deserialize;
use wattline_actors::domain::Region;
use wattline_actors::domain::weather::{WeatherPoint, reference_city};
use wattline_actors::ports::{SharedClock, SourceError, WeatherSource};

use super::http::{ProviderHttp, unexpected};
use crate::config::Secret;

/// `[providers.openweathermap]`: weather forecasts for the forecaster.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WeatherSettings {
    pub base_url: String,
    /// Time between fetches (default 3h).
    #[serde(deserialize_with = "crate::config::human::positive_duration")]
    pub refresh: std::time::Duration,
    /// API key (environment only).
    #[serde(default)]
    pub api_key: Option<Secret>,
}

#[derive(Debug, Deserialize)]
struct Forecast {
    list: Vec<Step>,
}

#[derive(Debug, Deserialize)]
struct Step {
    dt: i64,
    main: Main,
    clouds: Clouds,
    wind: Wind,
}

#[derive(Debug, Deserialize)]
struct Main {
    temp: f64,
}

#[derive(Debug, Deserialize)]
struct Clouds {
    all: f64,
}

#[derive(Debug, Deserialize)]
struct Wind {
    speed: f64,
}

/// Parses a forecast answer into weather steps of `region`.
pub fn parse_forecast(
    body: &str,
    region: Region,
    fetched_at: Timestamp,
) -> Result<Vec<WeatherPoint>, SourceError> {
    let forecast: Forecast = serde_json::from_str(body)
        .map_err(|e| SourceError::Malformed(format!("OpenWeatherMap forecast: {e}")))?;
    forecast
        .list
        .into_iter()
        .map(|step| {
            let at = Timestamp::from_second(step.dt)
                .map_err(|e| SourceError::Malformed(e.to_string()))?;
            let valid = step.main.temp.is_finite()
                && (0.0..=100.0).contains(&step.clouds.all)
                && step.wind.speed >= 0.0;
            if !valid {
                return Err(SourceError::Malformed(format!(
                    "implausible weather at {at}"
                )));
            }
            Ok(WeatherPoint {
                region,
                at,
                temperature_c: step.main.temp,
                cloud_cover_pct: step.clouds.all,
                wind_speed_ms: step.wind.speed,
                source: "openweathermap".into(),
                fetched_at,
            })
        })
        .collect()
}

/// The forecast client.
pub struct OpenWeatherMap {
    http: ProviderHttp,
    base_url: String,
    key: Secret,
    clock: SharedClock,
}

impl OpenWeatherMap {
    /// A client of `base_url` (…/data/2.5).
    pub fn new(http: ProviderHttp, base_url: String, key: Secret, clock: SharedClock) -> Self {
        OpenWeatherMap {
            http,
            base_url: base_url.trim_end_matches('/').to_string(),
            key,
            clock,
        }
    }
}

#[async_trait]
impl WeatherSource for OpenWeatherMap {
    /// The forecast for `region`'s reference city.
    async fn forecast(&self, region: Region) -> Result<Vec<WeatherPoint>, SourceError> {
        let (_, lat, lon) = reference_city(region);
        let query = [
            ("lat", lat.to_string()),
            ("lon", lon.to_string()),
            ("units", "metric".to_string()),
            ("appid", self.key.expose().to_string()),
        ];
        let answer = self
            .http
            .get(&format!("{}/forecast", self.base_url), &query, &[])
            .await?;
        if !answer.status.is_success() {
            return Err(unexpected(&answer));
        }
        parse_forecast(&answer.body, region, self.clock.now())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forecast_steps_parse_and_nonsense_is_refused() {
        let body = r#"{"cod":"200","message":0,"cnt":1,"list":[{"dt":1736899200,
            "main":{"temp":4.2,"feels_like":1.9,"pressure":1021,"humidity":86},
            "weather":[{"id":803,"main":"Clouds","description":"broken clouds","icon":"04n"}],
            "clouds":{"all":75},"wind":{"speed":3.1,"deg":240},"dt_txt":"2025-01-15 00:00:00"}],
            "city":{"name":"London","timezone":0}}"#;
        let points = parse_forecast(body, Region::Uk, Timestamp::UNIX_EPOCH).unwrap();
        assert_eq!(points.len(), 1);
        assert_eq!(points[0].at, "2025-01-15T00:00:00Z".parse().unwrap());
        assert_eq!(points[0].cloud_cover_pct, 75.0);
        let bad = body.replace("\"all\":75", "\"all\":750");
        assert!(parse_forecast(&bad, Region::Uk, Timestamp::UNIX_EPOCH).is_err());
        assert!(
            parse_forecast(
                r#"{"cod":401,"message":"Invalid API key"}"#,
                Region::Uk,
                Timestamp::UNIX_EPOCH
            )
            .is_err()
        );
    }
}
