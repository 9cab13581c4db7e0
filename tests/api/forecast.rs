//! Forecasts over HTTP: the model learns from bootstrapped history, serves steps beyond the
//! published prices with intervals, reports itself in model-info, and measures its stored
//! forecasts once the prices they forecast are published.

use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use reqwest::StatusCode;
use rust_decimal::Decimal;
use serde_json::{Value, json};
use wattline::Settings;
use wattline_actors::domain::Region;

use crate::helpers::{API_KEY, NOW, TestApp, assert_error, dec, ts};

/// Germany only, 70 simulated days of history loaded at start, small windows so calibration is
/// quick in a debug build.
fn forecasting(settings: &mut Settings) {
    settings.regions.enabled = vec![Region::Germany];
    settings.forecast.bootstrap_days = 70;
    settings.forecast.windows = vec![42, 56];
    settings.forecast.seed_days = 7;
}

/// Waits until model-info says the region's model is ready, trained through `data_to` on the
/// whole bootstrapped history (a model calibrated while the history was still loading is
/// replaced by one on all of it).
async fn wait_for_model(app: &TestApp, data_to: &str) -> Value {
    let mut last = Value::Null;
    for _ in 0..1200 {
        let (status, body) = app
            .get_json("/api/v1/ml/predict/model-info?region=germany")
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let region = &body["regions"][0];
        if region["state"] == "ready"
            && region["model"]["data_to"] == data_to
            && region["model"]["data_from"]
                .as_str()
                .is_some_and(|from| from <= "2025-11-10")
        {
            return region.clone();
        }
        last = body;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the model never became ready through {data_to}: {last}");
}

fn steps_of(body: &Value) -> &Vec<Value> {
    body["steps"]
        .as_array()
        .unwrap_or_else(|| panic!("no steps in {body}"))
}

#[tokio::test]
async fn forecasts_start_where_published_prices_end_carry_intervals_and_are_measured_later() {
    let app = TestApp::spawn_with(forecasting).await;
    // At 12:30 UTC on the 15th the 16th is published: the model learns through it.
    let model = wait_for_model(&app, "2026-01-16").await;
    assert_eq!(model["model"]["kind"], "lear");
    assert!(
        model["model"]["version"]
            .as_str()
            .unwrap()
            .ends_with("2026-01-16")
    );
    assert_eq!(model["model"]["windows"], json!([42, 56]));
    assert!(
        model["model"]["data_from"].as_str().unwrap() <= "2025-11-10",
        "{model}"
    );
    assert!(model["model"]["out_of_sample_mae"].as_f64().unwrap() > 0.0);
    assert!(
        model["model"]["live_accuracy"].is_null(),
        "nothing realised yet: {model}"
    );

    let (status, body) = app
        .get_json("/api/v1/prices/forecast?region=germany&hours=48")
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let published_until: Timestamp = "2026-01-16T23:00:00Z".parse().unwrap();
    assert_eq!(ts(&body["published_until"]), published_until);
    assert_eq!(body["kind"], "forecast");
    assert_eq!(body["interval"], json!([0.1, 0.9]));
    let steps = steps_of(&body);
    // From the end of the published prices to now + 48 h, in quarter-hours.
    let until = NOW.parse::<Timestamp>().unwrap() + SignedDuration::from_hours(48);
    assert_eq!(
        steps.len(),
        (until.duration_since(published_until).as_secs() / 900) as usize
    );
    assert_eq!(ts(&steps[0]["start"]), published_until);
    for pair in steps.windows(2) {
        assert_eq!(ts(&pair[0]["end"]), ts(&pair[1]["start"]), "contiguous");
    }
    for step in steps {
        let (lower, point, upper) = (
            dec(&step["lower"]),
            dec(&step["predicted_price"]),
            dec(&step["upper"]),
        );
        assert!(lower <= point && point <= upper, "{step}");
        assert!(
            point > Decimal::from(-100) && point < Decimal::from(500),
            "{step}"
        );
    }
    assert!(
        steps.iter().any(|s| dec(&s["upper"]) > dec(&s["lower"])),
        "intervals have width"
    );
    let first_day: Vec<(Timestamp, Decimal)> = steps
        .iter()
        .filter(|s| s["lead_days"] == 1)
        .map(|s| (ts(&s["start"]), dec(&s["predicted_price"])))
        .collect();
    assert_eq!(first_day.len(), 54, "the 17th up to now + 48 h");

    // The same steps through the ML endpoint, from a later local start (reaching 65 h ahead:
    // past the free horizon, so with an API key).
    let response = app
        .client
        .post(app.url("/api/v1/ml/predict/price"))
        .header("x-api-key", crate::helpers::API_KEY)
        .json(&json!({"region": "germany", "hours": 24, "start": "2026-01-17T06:00"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let later: serde_json::Value = response.json().await.unwrap();
    let later_steps = steps_of(&later);
    assert_eq!(later_steps.len(), 96);
    assert_eq!(
        ts(&later_steps[0]["start"]),
        "2026-01-17T05:00:00Z".parse::<Timestamp>().unwrap(),
        "06:00 in Berlin"
    );

    // Two days later the morning of the 17th is history and the 18th is published.
    app.clock.set("2026-01-17T12:30:00Z".parse().unwrap());
    let (status, refreshed) = app
        .post_json("/api/v1/prices/refresh?region=germany", Some(API_KEY))
        .await;
    assert_eq!(status, StatusCode::OK, "{refreshed}");
    let model = wait_for_model(&app, "2026-01-18").await;
    let accuracy = &model["model"]["live_accuracy"];
    assert!(
        accuracy.is_object(),
        "stored forecasts met realised prices: {model}"
    );
    // Independently: the forecasts served above for 00:00–13:30 of the 17th against the prices
    // published since (the same 54 intervals the live accuracy can already judge).
    let (_, history) = app
        .get_json("/api/v1/prices/history?region=germany&start=2026-01-16T23:00:00Z&end=2026-01-17T12:30:00Z")
        .await;
    let actual: std::collections::HashMap<Timestamp, Decimal> = history["prices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (ts(&p["start"]), dec(&p["price"])))
        .collect();
    let errors: Vec<f64> = first_day
        .iter()
        .map(|(start, predicted)| (actual[start] - predicted).abs().try_into().unwrap())
        .collect();
    let expected_mae = errors.iter().sum::<f64>() / errors.len() as f64;
    assert_eq!(accuracy["points"], 54, "{accuracy}");
    let mae = accuracy["mae"].as_f64().unwrap();
    assert!(mae > 0.0 && accuracy["smape"].as_f64().unwrap() > 0.0);
    // The served prices are rounded to cents; the stored ones are not.
    assert!(
        (mae - expected_mae).abs() < 0.006,
        "model-info {mae} vs {expected_mae} recomputed"
    );
}

#[tokio::test]
async fn optimal_windows_extend_into_the_forecast_and_say_so() {
    let app = TestApp::spawn_with(forecasting).await;
    wait_for_model(&app, "2026-01-16").await;
    let (status, body) = app
        .get_json("/api/v1/prices/optimal-windows?region=germany&within_hours=96&duration_hours=3&count=10")
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let published = ts(&body["published_until"]);
    assert!(
        ts(&body["horizon_end"]) > published,
        "the forecast extends the horizon"
    );
    assert!(
        body["forecast_model"]
            .as_str()
            .unwrap()
            .starts_with("lear-")
    );
    let windows = body["windows"].as_array().unwrap();
    assert_eq!(windows.len(), 10);
    for w in windows {
        let (start, end) = (ts(&w["start"]), ts(&w["end"]));
        let expected = if end <= published {
            "day_ahead"
        } else if start < published {
            "mixed"
        } else {
            "forecast"
        };
        assert_eq!(w["kind"], expected, "{w}");
    }
    assert!(
        windows.iter().any(|w| w["kind"] != "day_ahead"),
        "96 hours ahead holds forecast windows: {body}"
    );
    let (_, published_only) = app
        .get_json("/api/v1/prices/optimal-windows?region=germany&within_hours=96&duration_hours=3&count=10&include_forecast=false")
        .await;
    assert!(
        published_only["windows"]
            .as_array()
            .unwrap()
            .iter()
            .all(|w| w["kind"] == "day_ahead")
    );
    assert!(published_only["forecast_model"].is_null());
}

#[tokio::test]
async fn bad_forecast_requests_are_clear_4xx_errors() {
    let app = TestApp::spawn_with(|s| {
        s.regions.enabled = vec![Region::Germany, Region::Japan];
    })
    .await;
    for (path, code) in [
        (
            "/api/v1/prices/forecast?region=germany&hours=0",
            "invalid_parameter",
        ),
        (
            "/api/v1/prices/forecast?region=germany&hours=169",
            "invalid_parameter",
        ),
        (
            "/api/v1/prices/forecast?region=germany&hours=many",
            "invalid_query",
        ),
        ("/api/v1/prices/forecast?region=Mars", "unknown_region"),
        (
            "/api/v1/prices/forecast?region=germany&days=2",
            "invalid_query",
        ),
        (
            "/api/v1/ml/predict/model-info?region=atlantis",
            "unknown_region",
        ),
    ] {
        let (status, body) = app.get_json(path).await;
        assert!(status.is_client_error(), "{path}: {status} {body}");
        assert_error(&body, code);
    }
    let (status, body) = app.get_json("/api/v1/prices/forecast?region=france").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_error(&body, "region_disabled");
    // Without history the model cannot be ready, and says what is missing (once the start-up
    // calibration attempt, slow on a loaded machine, has found too little history).
    let mut waited = 0;
    let (status, body) = loop {
        let (status, body) = app.get_json("/api/v1/prices/forecast?region=japan").await;
        if body["error"]["code"] != "model_calibrating" || waited >= 100 {
            break (status, body);
        }
        waited += 1;
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_error(&body, "model_not_ready");
    for (request, field) in [
        (json!({"region": "germany", "hours": 0}), "hours"),
        (json!({"region": "germany", "hours": 200}), "hours"),
        (
            json!({"region": "germany", "start": "2026-01-14T00:00:00Z"}),
            "start",
        ),
        (
            json!({"region": "germany", "start": "2026-01-20T00:00:00Z", "hours": 168}),
            "hours",
        ),
        (json!({"region": "germany", "start": "yesterday"}), "start"),
        (
            json!({"region": "germany", "start": "2026-01-16T06:00", "time_zone": "Mars/Olympus"}),
            "time_zone",
        ),
    ] {
        app.assert_invalid_field("/api/v1/ml/predict/price", &request, field)
            .await;
    }
    let (status, body) = app
        .post_body(
            "/api/v1/ml/predict/price",
            &json!({"region": "germany", "colour": "red"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_error(&body, "invalid_body");
    let (status, body) = app
        .post_body("/api/v1/ml/predict/price", &json!({"hours": 3}))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_error(&body, "invalid_body");
    let response = app
        .client
        .post(app.url("/api/v1/ml/predict/price"))
        .header("content-type", "application/json")
        .body("{\"region\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_error(&response.json().await.unwrap(), "malformed_json");
    let response = app
        .client
        .post(app.url("/api/v1/ml/predict/price"))
        .body("region=germany")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let huge = json!({"region": "germany", "start": "x".repeat(2_000_000)});
    let response = app
        .client
        .post(app.url("/api/v1/ml/predict/price"))
        .json(&huge)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
}

#[tokio::test]
async fn a_restart_serves_the_stored_model_at_once_and_recalibrates_warm() {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = crate::helpers::test_settings(dir.path());
    forecasting(&mut settings);
    let app = TestApp::start(settings.clone(), NOW.parse().unwrap()).await;
    let first = wait_for_model(&app, "2026-01-16").await;
    app.stop().await.unwrap();

    // Nothing to load this time: the model comes from storage.
    settings.forecast.bootstrap_days = 0;
    let app = TestApp::start(settings, NOW.parse().unwrap()).await;
    let (status, body) = app
        .get_json("/api/v1/ml/predict/model-info?region=germany")
        .await;
    assert_eq!(status, StatusCode::OK);
    let region = &body["regions"][0];
    assert!(
        ["ready", "calibrating"].contains(&region["state"].as_str().unwrap()),
        "{body}"
    );
    assert_eq!(
        region["model"]["data_to"], first["model"]["data_to"],
        "the stored model serves before any calibration: {body}"
    );
    // Beyond 48 h: a paid tier or an API key; anonymous and free callers get 403.
    let (status, refused) = app
        .get_json("/api/v1/prices/forecast?region=germany&hours=72")
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{refused}");
    let message = crate::helpers::assert_error(&refused, "tier_limit");
    assert!(message.contains("48"), "{message}");
    let token = app.signed_up("free@example.com").await;
    let (status, _) = app
        .call(
            reqwest::Method::POST,
            "/api/v1/ml/predict/price",
            &token,
            Some(&serde_json::json!({"region": "germany", "hours": 49})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "a free account");
    let (status, _) = app
        .call(
            reqwest::Method::GET,
            "/api/v1/prices/forecast?region=germany&hours=72",
            "not-a-token",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "a bad credential is 401");
    let forecast = app
        .operator_get("/api/v1/prices/forecast?region=germany&hours=72")
        .await;
    assert!(!steps_of(&forecast).is_empty());
}
