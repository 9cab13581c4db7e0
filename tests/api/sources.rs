//! The engine on real-shaped provider data from loopback fakes: each region gets its primary
//! source's prices, fails over when that source breaks, returns to it when it recovers, and
//! serves its last good prices marked stale when every source fails.

use std::time::Duration;

use jiff::civil::{Date, date};
use reqwest::StatusCode;
use wattline::config::{Secret, Sources, SourcesFor};
use wattline_actors::domain::calendar::day_bounds;
use wattline_actors::domain::{Region, Source};
use wiremock::matchers::{method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

#[path = "../common/fixtures.rs"]
mod fixtures;

use crate::helpers::{API_KEY, TestApp, assert_error};
use fixtures::{Series, a44, day_price, entsoe_period, octopus_results};

const DE_LU: &str = "10Y1001A1001A82H";
const NL: &str = "10YNL----------L";

async fn serve_entsoe_day(server: &MockServer, eic: &str, region: Region, day: Date) {
    let (start, end) = day_bounds(region, day);
    let n = (end.duration_since(start).as_mins() / 15) as usize;
    let prices: Vec<Option<f64>> = (0..n).map(|i| Some(day_price(i, n))).collect();
    let body = a44(
        eic,
        &[Series {
            start,
            minutes: 15,
            prices: &prices,
            a03: true,
            sequence: None,
        }],
    );
    Mock::given(method("GET"))
        .and(path("/api"))
        .and(query_param("in_Domain", eic))
        .and(query_param("periodStart", entsoe_period(start)))
        .respond_with(ResponseTemplate::new(200).set_body_string(body))
        .mount(server)
        .await;
}

async fn serve_octopus_day(server: &MockServer, day: Date) {
    let (start, end) = day_bounds(Region::Uk, day);
    let slots = (end.duration_since(start).as_mins() / 30) as usize;
    Mock::given(method("GET"))
        .and(path("/v1/products/AGILE-24-10-01/electricity-tariffs/E-1R-AGILE-24-10-01-C/standard-unit-rates/"))
        .and(query_param("period_from", start.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "count": slots, "next": null, "previous": null, "results": octopus_results(start, slots)
        })))
        .mount(server)
        .await;
}

async fn serve_eia(server: &MockServer) {
    Mock::given(method("GET"))
        .and(path("/v2/electricity/retail-sales/data/"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({"response": {"total": "1", "data": [
            {"period": "2025-11", "stateid": "CA", "sectorid": "RES", "price": "31.07", "price-units": "cents per kilowatthour"}]}})))
        .mount(server)
        .await;
}

async fn region_view(app: &TestApp, region: &str) -> serde_json::Value {
    let (_, ready) = app.get_json("/health/ready").await;
    ready["regions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["region"] == region)
        .unwrap()
        .clone()
}

async fn metrics(app: &TestApp) -> String {
    app.metrics().await
}

#[tokio::test]
async fn regions_use_their_primary_source_fail_over_recover_and_go_stale() {
    let (entsoe, octopus, eia) = (
        MockServer::start().await,
        MockServer::start().await,
        MockServer::start().await,
    );
    for day in [date(2026, 1, 15), date(2026, 1, 16)] {
        serve_entsoe_day(&entsoe, DE_LU, Region::Germany, day).await;
        serve_entsoe_day(&entsoe, NL, Region::Netherlands, day).await;
    }
    serve_octopus_day(&octopus, date(2026, 1, 15)).await;
    serve_eia(&eia).await;
    let app = TestApp::spawn_with(|s| {
        s.regions.enabled = vec![
            Region::Germany,
            Region::Uk,
            Region::UsCa,
            Region::Netherlands,
        ];
        s.regions.sources.insert(
            SourcesFor::Region(Region::parse("germany").unwrap()),
            Sources(vec![Source::Entsoe, Source::Simulated]),
        );
        s.regions.sources.insert(
            SourcesFor::Region(Region::parse("uk").unwrap()),
            Sources(vec![Source::Octopus, Source::Simulated]),
        );
        s.regions.sources.insert(
            SourcesFor::Region(Region::parse("us_ca").unwrap()),
            Sources(vec![Source::Simulated, Source::Eia]),
        );
        s.regions.sources.insert(
            SourcesFor::Region(Region::parse("netherlands").unwrap()),
            Sources(vec![Source::Entsoe]),
        );
        s.providers.entsoe.base_url = format!("{}/api", entsoe.uri());
        s.providers.entsoe.api_key = Some(Secret::new("test-token"));
        s.providers.octopus.base_url = format!("{}/v1", octopus.uri());
        s.providers.eia.base_url = format!("{}/v2", eia.uri());
        s.providers.eia.api_key = Some(Secret::new("eia-key"));
        s.providers.attempts = std::num::NonZeroU32::MIN;
        s.providers.timeout = std::time::Duration::from_secs(2);
        s.supervision.backoff_initial = std::time::Duration::from_millis(50);
    })
    .await;

    // Each region on its primary source.
    assert_eq!(region_view(&app, "germany").await["source"], "entsoe");
    assert_eq!(region_view(&app, "uk").await["source"], "octopus");
    assert_eq!(region_view(&app, "us_ca").await["source"], "simulated");
    let (_, germany) = app.get_json("/api/v1/prices/current?region=germany").await;
    assert_eq!(germany["price"]["source"], "entsoe");
    assert_eq!(germany["stale"], false);
    let (_, uk) = app.get_json("/api/v1/prices/current?region=uk").await;
    assert_eq!(
        (uk["price"]["source"].as_str(), uk["price"]["unit"].as_str()),
        (Some("octopus"), Some("kWh"))
    );
    let (_, tomorrow) = app
        .get_json("/api/v1/prices/history?region=germany&start=2026-01-16&end=2026-01-17")
        .await;
    assert_eq!(tomorrow["count"], 96);
    assert_eq!(tomorrow["sources"], serde_json::json!(["entsoe"]));
    // The EIA reference month is stored beside the simulated day, as retail per kWh.
    let (_, monthly) = app
        .get_json("/api/v1/prices/history?region=us_ca&start=2025-11-01&end=2026-01-16&source=eia")
        .await;
    assert_eq!(monthly["count"], 1);
    assert_eq!(monthly["prices"][0]["price"], "0.3107");
    assert_eq!(monthly["prices"][0]["kind"], "retail");

    // ENTSO-E breaks: germany fails over to the simulator; the stored ENTSO-E day still wins.
    entsoe.reset().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(500))
        .mount(&entsoe)
        .await;
    let (status, refreshed) = app
        .post_json("/api/v1/prices/refresh?region=germany", Some(API_KEY))
        .await;
    assert_eq!(status, StatusCode::OK, "{refreshed}");
    assert_eq!(refreshed["reports"][0]["days"][0]["source"], "simulated");
    assert_eq!(
        refreshed["reports"][0]["failed_attempts"][0]["source"],
        "entsoe"
    );
    assert_eq!(region_view(&app, "germany").await["source"], "simulated");
    let (_, germany) = app.get_json("/api/v1/prices/current?region=germany").await;
    assert_eq!(
        germany["price"]["source"], "entsoe",
        "preferred source's prices are still served"
    );
    let text = metrics(&app).await;
    assert!(
        text.contains("wattline_source_failover_total{region=\"germany\",source=\"simulated\"}")
    );
    assert!(text.contains("wattline_fetch_errors_total{region=\"germany\",source=\"entsoe\"}"));

    // Netherlands has no fallback: its refresh fails and it serves its last prices as stale.
    let (status, body) = app
        .post_json("/api/v1/prices/refresh?region=netherlands", Some(API_KEY))
        .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_error(&body, "refresh_failed");
    let mut stale = serde_json::Value::Null;
    for _ in 0..100 {
        let (status, current) = app
            .get_json("/api/v1/prices/current?region=netherlands")
            .await;
        assert_eq!(status, StatusCode::OK);
        if current["stale"] == true {
            stale = current;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        stale["price"]["source"], "entsoe",
        "last good data, marked stale: {stale}"
    );
    let (_, ready) = app.get_json("/health/ready").await;
    let nl = ready["regions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["region"] == "netherlands")
        .unwrap();
    assert!(
        nl["last_error"].as_str().unwrap().contains("entsoe"),
        "{nl}"
    );

    // ENTSO-E recovers: germany returns to it; netherlands is fresh again.
    entsoe.reset().await;
    for day in [date(2026, 1, 15), date(2026, 1, 16)] {
        serve_entsoe_day(&entsoe, DE_LU, Region::Germany, day).await;
        serve_entsoe_day(&entsoe, NL, Region::Netherlands, day).await;
    }
    let (status, refreshed) = app
        .post_json("/api/v1/prices/refresh?region=germany", Some(API_KEY))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(refreshed["reports"][0]["days"][0]["source"], "entsoe");
    assert_eq!(region_view(&app, "germany").await["source"], "entsoe");
    for _ in 0..200 {
        let (_, current) = app
            .get_json("/api/v1/prices/current?region=netherlands")
            .await;
        if current["stale"] == false {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("netherlands never recovered");
}
