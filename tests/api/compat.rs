//! The older API's clients (`../shared/spec/compat.md`): each older request is replayed as such
//! a client sends it, and the older keys are read from the answers.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use wattline::Settings;
use wattline_actors::domain::Region;

use crate::helpers::{API_KEY, TestApp, assert_error, dec};

/// Germany with a forecast model (70 days of history, small windows for a debug build).
fn older_setup(settings: &mut Settings) {
    settings.regions.enabled = vec![Region::Germany];
    settings.forecast.bootstrap_days = 70;
    settings.forecast.windows = vec![42, 56];
    settings.forecast.seed_days = 7;
}

async fn wait_for_model(app: &TestApp) {
    for _ in 0..1200 {
        let (_, body) = app
            .get_json("/api/v1/ml/predict/model-info?region=germany")
            .await;
        if body["regions"][0]["state"] == "ready"
            && body["regions"][0]["model"]["data_from"]
                .as_str()
                .is_some_and(|from| from <= "2025-11-10")
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no model");
}

fn has_keys(body: &Value, keys: &[&str]) {
    for key in keys {
        assert!(
            body.get(*key).is_some(),
            "missing older key {key:?} in {body}"
        );
    }
}

#[tokio::test]
async fn older_price_requests_get_their_keys() {
    let app = TestApp::spawn_with(older_setup).await;

    let (status, body) = app
        .get_json("/api/v1/prices/current?region=germany&supplier=&limit=2")
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    has_keys(&body, &["price", "prices", "region", "timestamp", "source"]);
    assert_eq!(body["source"], "simulated");
    let first = &body["prices"][0];
    has_keys(
        first,
        &[
            "ticker",
            "current_price",
            "currency",
            "region",
            "supplier",
            "updated_at",
        ],
    );
    assert_eq!(first["ticker"], "ELEC-GERMANY");
    assert_eq!(first["current_price"], first["price"]);
    assert_eq!(first["updated_at"], first["fetched_at"]);
    let (status, body) = app
        .get_json("/api/v1/prices/current?region=germany&supplier=octopus")
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_error(&body, "invalid_parameter");

    let (_, body) = app
        .get_json("/api/v1/prices/history?region=germany&days=7&supplier=")
        .await;
    has_keys(
        &body,
        &[
            "region",
            "supplier",
            "start_date",
            "end_date",
            "prices",
            "average_price",
            "min_price",
            "max_price",
            "source",
        ],
    );
    assert!(dec(&body["min_price"]) <= dec(&body["average_price"]));
    assert!(dec(&body["average_price"]) <= dec(&body["max_price"]));

    let (_, body) = app
        .get_json("/api/v1/prices/statistics?region=germany&days=7")
        .await;
    has_keys(
        &body,
        &[
            "region",
            "period_days",
            "min_price",
            "max_price",
            "avg_price",
            "count",
            "source",
        ],
    );
    assert_eq!(body["count"], body["statistics"]["count"]);
    assert!(body["count"].as_u64().unwrap() > 0);

    let (_, body) = app.get_json("/api/v1/prices/compare?region=germany").await;
    has_keys(
        &body,
        &[
            "region",
            "timestamp",
            "suppliers",
            "cheapest_supplier",
            "cheapest_price",
            "average_price",
            "source",
        ],
    );
    assert_eq!(body["cheapest_supplier"], "simulated");

    let (_, body) = app
        .get_json("/api/v1/prices/optimal-windows?region=germany&duration_hours=2&within_hours=24")
        .await;
    has_keys(
        &body,
        &[
            "region",
            "duration_hours",
            "within_hours",
            "windows",
            "generated_at",
            "source",
        ],
    );
    let window = &body["windows"][0];
    has_keys(window, &["start", "end", "avg_price", "prices"]);
    assert_eq!(window["prices"].as_array().unwrap().len(), 8);
    assert!(window["start"].as_str().unwrap() >= "2026-01-15T12:30:00Z");

    let (_, body) = app
        .get_json("/api/v1/prices/trends?region=germany&days=7")
        .await;
    has_keys(
        &body,
        &[
            "region",
            "period_days",
            "direction",
            "change_percent",
            "start_price",
            "end_price",
            "data_points",
            "generated_at",
            "source",
        ],
    );
    assert!(["increasing", "decreasing", "stable"].contains(&body["direction"].as_str().unwrap()));

    let (_, body) = app
        .get_json("/api/v1/prices/peak-hours?region=germany&days=7")
        .await;
    has_keys(
        &body,
        &[
            "region",
            "period_days",
            "peak_hours",
            "off_peak_hours",
            "average_by_hour",
            "overall_average",
            "peak_premium_percent",
            "generated_at",
            "source",
        ],
    );

    let (status, body) = app
        .post_json("/api/v1/prices/refresh?region=germany", Some(API_KEY))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    has_keys(
        &body,
        &[
            "status",
            "message",
            "synced_records",
            "regions_covered",
            "errors",
            "triggered_at",
        ],
    );
}

#[tokio::test]
async fn older_ml_requests_get_their_keys() {
    let app = TestApp::spawn_with(older_setup).await;
    wait_for_model(&app).await;

    // Beyond 48 h a forecast needs a paid tier or an API key (older service clients send one).
    let body = app
        .operator_get("/api/v1/prices/forecast?region=germany&hours=72")
        .await;
    has_keys(
        &body,
        &[
            "region",
            "forecast",
            "generated_at",
            "horizon_hours",
            "confidence",
            "source",
        ],
    );
    has_keys(
        &body["forecast"],
        &[
            "id",
            "region",
            "generated_at",
            "horizon_hours",
            "prices",
            "confidence",
            "model_version",
            "source_api",
        ],
    );
    assert_eq!(body["horizon_hours"], 72);
    assert_eq!(body["confidence"], 0.8);
    assert_eq!(
        body["forecast"]["prices"].as_array().unwrap().len(),
        body["steps"].as_array().unwrap().len()
    );

    // The older body: upper-case region, `hours_ahead`, `include_confidence`.
    let response = app
        .client
        .post(app.url("/api/v1/ml/predict/price"))
        .header("x-api-key", crate::helpers::API_KEY)
        .json(&json!({"region": "GERMANY", "hours_ahead": 72, "include_confidence": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body: serde_json::Value = response.json().await.unwrap();
    has_keys(
        &body,
        &[
            "region",
            "forecast_time",
            "model_version",
            "predictions",
            "accuracy_mape",
        ],
    );
    let prediction = &body["predictions"][0];
    has_keys(
        prediction,
        &[
            "timestamp",
            "predicted_price",
            "confidence_lower",
            "confidence_upper",
            "currency",
        ],
    );
    assert!(dec(&prediction["confidence_lower"]) <= dec(&prediction["confidence_upper"]));
    assert_eq!(body["region"], "germany");

    // Without intervals, and the older bounds: 1–168 hours ahead, 1–10 slots.
    let (status, body) = app
        .post_body(
            "/api/v1/ml/predict/price",
            &json!({"region": "GERMANY", "hours_ahead": 48, "include_confidence": false}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let prediction = &body["predictions"][0];
    assert!(prediction["predicted_price"].is_string(), "{prediction}");
    assert!(prediction.get("confidence_lower").is_none(), "{prediction}");
    assert!(prediction.get("confidence_upper").is_none(), "{prediction}");
    for (path, request) in [
        (
            "/api/v1/ml/predict/price",
            json!({"region": "UK", "hours_ahead": 169}),
        ),
        (
            "/api/v1/ml/predict/price",
            json!({"region": "UK", "hours_ahead": 0}),
        ),
        (
            "/api/v1/ml/predict/optimal-times",
            json!({"region": "UK", "duration_hours": 1, "num_slots": 11}),
        ),
        (
            "/api/v1/ml/predict/optimal-times",
            json!({"region": "UK", "duration_hours": 24.25}),
        ),
    ] {
        let (status, body) = app.post_body(path, &request).await;
        assert!(status.is_client_error(), "{request}: {status} {body}");
        assert!(body["error"]["code"].is_string(), "{body}");
    }

    for ambiguous in ["US", "EU"] {
        let (status, body) = app
            .post_body(
                "/api/v1/ml/predict/price",
                &json!({"region": ambiguous, "hours_ahead": 24}),
            )
            .await;
        assert!(status.is_client_error(), "{ambiguous}: {status}");
        let message = crate::helpers::assert_error(&body, "invalid_field");
        let expected = if ambiguous == "US" {
            "us_ca"
        } else {
            "germany"
        };
        assert!(message.contains(expected), "{message}");
    }

    let (status, body) = app
        .post_body(
            "/api/v1/ml/predict/optimal-times",
            &json!({"region": "GERMANY", "duration_hours": 1.5, "num_slots": 2}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    has_keys(
        &body,
        &[
            "region",
            "requested_duration_hours",
            "optimal_slots",
            "potential_savings_percent",
        ],
    );
    assert_eq!(body["requested_duration_hours"], 1.5);
    let slots = body["optimal_slots"].as_array().unwrap();
    assert_eq!(slots.len(), 2);
    has_keys(
        &slots[0],
        &[
            "start_time",
            "end_time",
            "duration_hours",
            "average_price",
            "total_cost",
            "rank",
        ],
    );
    // The older window: earliest start and latest end bound every slot.
    let (status, body) = app
        .post_body(
            "/api/v1/ml/predict/optimal-times",
            &json!({"region": "GERMANY", "duration_hours": 2, "num_slots": 3,
                    "earliest_start": "2026-01-15T18:00:00Z", "latest_end": "2026-01-16T06:00:00Z"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let from: jiff::Timestamp = "2026-01-15T18:00:00Z".parse().unwrap();
    let to: jiff::Timestamp = "2026-01-16T06:00:00Z".parse().unwrap();
    for slot in body["optimal_slots"].as_array().unwrap() {
        assert!(crate::helpers::ts(&slot["start_time"]) >= from, "{slot}");
        assert!(crate::helpers::ts(&slot["end_time"]) <= to, "{slot}");
    }
    // A duration up to 24 h works.
    let (status, body) = app
        .post_body(
            "/api/v1/ml/predict/optimal-times",
            &json!({"region": "germany", "duration_hours": 24}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let appliances = json!([
        {"name": "washer", "power_kw": 2.0, "duration_hours": 1.5, "continuous": true},
        {"name": "car", "power_kw": 7.0, "duration_hours": 3, "continuous": false,
         "earliest_start": "2026-01-15T13:00:00Z", "latest_end": "2026-01-16T07:00:00Z"}
    ]);
    let (status, body) = app
        .post_body(
            "/api/v1/ml/predict/savings",
            &json!({"region": "GERMANY", "appliances": appliances}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    has_keys(
        &body,
        &[
            "region",
            "unoptimized_cost",
            "optimized_cost",
            "savings_amount",
            "savings_percent",
            "currency",
            "optimized_schedule",
        ],
    );
    let washer = &body["optimized_schedule"]["washer"];
    has_keys(washer, &["start_time", "end_time", "cost", "average_price"]);
    assert!(dec(&body["optimized_cost"]) <= dec(&body["unoptimized_cost"]));
    let car_end = body["optimized_schedule"]["car"]["end_time"]
        .as_str()
        .unwrap();
    assert!(
        car_end <= "2026-01-16T07:00:00Z",
        "latest_end kept: {car_end}"
    );
    // Duplicate names are a 4xx.
    let (status, _) = app
        .post_body(
            "/api/v1/ml/predict/savings",
            &json!({"region": "GERMANY", "appliances": [
                {"name": "a", "power_kw": 1.0, "duration_hours": 1},
                {"name": "a", "power_kw": 1.0, "duration_hours": 1}
            ]}),
        )
        .await;
    assert!(status.is_client_error());
    // The schedule route takes `duration_hours` on the same appliance object.
    let (status, body) = app
        .post_body(
            "/api/v1/optimization/schedule",
            &json!({"region": "germany", "appliances": appliances}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let (_, body) = app.get_json("/api/v1/ml/predict/model-info").await;
    has_keys(
        &body,
        &[
            "model_version",
            "model_type",
            "forecast_horizon_hours",
            "update_frequency",
            "training_frequency",
            "last_updated",
            "accuracy_mape",
        ],
    );
    assert!(body["model_version"].as_str().unwrap().starts_with("lear"));
    assert!(body["last_updated"].is_string());
}
