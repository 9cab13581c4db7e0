//! Bad input to every price route: always a 4xx in our error shape, never a 5xx, and nothing
//! stored is lost.

use reqwest::StatusCode;

use crate::helpers::{API_KEY, TestApp, assert_error};

const CASES: &[(&str, u16, &str)] = &[
    ("/api/v1/prices/current", 400, "invalid_query"),
    ("/api/v1/prices/current?region=UK", 400, "unknown_region"),
    (
        "/api/v1/prices/current?region=Germany",
        400,
        "unknown_region",
    ),
    (
        "/api/v1/prices/current?region=atlantis",
        400,
        "unknown_region",
    ),
    (
        "/api/v1/prices/current?region=%FF%FE",
        400,
        "unknown_region",
    ),
    ("/api/v1/prices/current?region=", 400, "unknown_region"),
    (
        "/api/v1/prices/current?region=uk&region=germany",
        400,
        "invalid_query",
    ),
    (
        "/api/v1/prices/current?region=germany&limit=0",
        400,
        "invalid_parameter",
    ),
    (
        "/api/v1/prices/current?region=germany&limit=101",
        400,
        "invalid_parameter",
    ),
    (
        "/api/v1/prices/current?region=germany&limit=abc",
        400,
        "invalid_query",
    ),
    (
        "/api/v1/prices/current?region=germany&limit=-1",
        400,
        "invalid_query",
    ),
    (
        "/api/v1/prices/current?region=germany&limit=99999999999999999999",
        400,
        "invalid_query",
    ),
    (
        "/api/v1/prices/current?region=germany&colour=blue",
        400,
        "invalid_query",
    ),
    (
        "/api/v1/prices/history?region=germany&days=0",
        400,
        "invalid_parameter",
    ),
    (
        "/api/v1/prices/history?region=germany&days=366",
        400,
        "invalid_parameter",
    ),
    (
        "/api/v1/prices/history?region=germany&days=1e3",
        400,
        "invalid_query",
    ),
    (
        "/api/v1/prices/history?region=germany&days=7.5",
        400,
        "invalid_query",
    ),
    (
        "/api/v1/prices/history?region=germany&days=1&start=2026-01-01",
        400,
        "invalid_parameter",
    ),
    (
        "/api/v1/prices/history?region=germany&start=2026-01-10&end=2026-01-01",
        400,
        "invalid_parameter",
    ),
    (
        "/api/v1/prices/history?region=germany&start=2020-01-01&end=2026-01-01",
        400,
        "invalid_parameter",
    ),
    (
        "/api/v1/prices/history?region=germany&start=last-tuesday",
        400,
        "invalid_parameter",
    ),
    (
        "/api/v1/prices/history?region=germany&start=2026-01-01T00:00:00",
        400,
        "invalid_parameter",
    ),
    // An offset beyond ±23:59 is not RFC 3339.
    (
        "/api/v1/prices/history?region=germany&start=2026-01-01T00:00:00%2B25:00&end=2026-01-02T00:00:00Z",
        400,
        "invalid_parameter",
    ),
    (
        "/api/v1/prices/history?region=germany&cursor=page2",
        400,
        "invalid_parameter",
    ),
    (
        "/api/v1/prices/history?region=germany&source=nordpool",
        400,
        "invalid_parameter",
    ),
    (
        "/api/v1/prices/history?region=germany&limit=1001",
        400,
        "invalid_parameter",
    ),
    (
        "/api/v1/prices/statistics?region=germany&days=400",
        400,
        "invalid_parameter",
    ),
    (
        "/api/v1/prices/statistics?region=us-ca",
        400,
        "unknown_region",
    ),
    (
        "/api/v1/prices/trends?region=germany&days=91",
        400,
        "invalid_parameter",
    ),
    (
        "/api/v1/prices/peak-hours?region=germany&days=31",
        400,
        "invalid_parameter",
    ),
    (
        "/api/v1/prices/compare?region=germany&days=31",
        400,
        "invalid_parameter",
    ),
    (
        "/api/v1/prices/optimal-windows?region=germany&duration_hours=0.1",
        400,
        "invalid_parameter",
    ),
    (
        "/api/v1/prices/optimal-windows?region=germany&duration_hours=1.3",
        400,
        "invalid_parameter",
    ),
    (
        "/api/v1/prices/optimal-windows?region=germany&duration_hours=25",
        400,
        "invalid_parameter",
    ),
    (
        "/api/v1/prices/optimal-windows?region=germany&duration_hours=two",
        400,
        "invalid_query",
    ),
    (
        "/api/v1/prices/optimal-windows?region=germany&within_hours=169",
        400,
        "invalid_parameter",
    ),
    (
        "/api/v1/prices/optimal-windows?region=germany&count=11",
        400,
        "invalid_parameter",
    ),
    ("/api/v1/prices/nonsense", 404, "not_found"),
    ("/api/v2/prices/current?region=uk", 404, "not_found"),
];

#[tokio::test]
async fn every_bad_query_is_a_4xx_json_error_and_loses_nothing() {
    let app = TestApp::spawn().await;
    let (_, before) = app
        .get_json("/api/v1/prices/history?region=germany&start=2026-01-15&end=2026-01-17")
        .await;
    for (path, status, code) in CASES {
        let (got, body) = app.get_json(path).await;
        assert_eq!(got.as_u16(), *status, "{path}: {body}");
        assert_error(&body, code);
    }
    let (_, after) = app
        .get_json("/api/v1/prices/history?region=germany&start=2026-01-15&end=2026-01-17")
        .await;
    assert_eq!(before["count"], 192);
    assert_eq!(before, after);
}

#[tokio::test]
async fn error_messages_name_the_parameter_and_the_valid_values() {
    let app = TestApp::spawn().await;
    let (_, body) = app
        .get_json("/api/v1/prices/history?region=germany&days=0")
        .await;
    let message = assert_error(&body, "invalid_parameter");
    assert!(
        message.contains("days") && message.contains("between 1 and 365"),
        "{message}"
    );
    let (_, body) = app
        .get_json("/api/v1/prices/current?region=germany&limit=abc")
        .await;
    assert!(
        assert_error(&body, "invalid_query").contains("limit"),
        "{body}"
    );
    let (_, body) = app.get_json("/api/v1/prices/current?region=UK").await;
    assert!(assert_error(&body, "unknown_region").contains("did you mean 'uk'"));
    assert_eq!(
        body["error"]["details"]["valid_regions"]
            .as_array()
            .unwrap()
            .len(),
        14
    );
    let long = "x".repeat(5000);
    let (status, body) = app
        .get_json(&format!("/api/v1/prices/current?region={long}"))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        assert_error(&body, "unknown_region").len() < 200,
        "echoed input is truncated"
    );
}

#[tokio::test]
async fn wrong_methods_and_bodies_are_refused_cleanly() {
    let app = TestApp::spawn().await;
    let response = app
        .client
        .post(app.url("/api/v1/prices/current?region=uk"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_error(&response.json().await.unwrap(), "method_not_allowed");
    let response = app
        .client
        .get(app.url("/api/v1/prices/refresh"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    let (status, body) = app
        .post_json("/api/v1/prices/refresh?region=atlantis", Some(API_KEY))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_error(&body, "unknown_region");
    let (status, body) = app
        .post_json("/api/v1/prices/refresh?verbose=1", Some(API_KEY))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_error(&body, "invalid_query");
    // A body far over the limit on a route that takes none is still answered, not crashed on.
    let big = vec![b'x'; 1 << 20];
    let response = app
        .client
        .post(app.url("/api/v1/prices/refresh"))
        .header("x-api-key", API_KEY)
        .body(big)
        .send()
        .await;
    assert!(response.is_ok_and(|r| r.status().is_success() || r.status().is_client_error()));
}
