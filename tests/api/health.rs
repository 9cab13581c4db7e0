//! Health, readiness, metrics and the cross-cutting headers.

use reqwest::StatusCode;

use crate::helpers::TestApp;

#[tokio::test]
async fn health_live_and_ready_report_the_engine() {
    let app = TestApp::spawn().await;
    let (status, health) = app.get_json("/health").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(health["status"], "healthy");
    assert_eq!(health["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(health["storage_backend"], "sqlite");
    let (status, live) = app.get_json("/health/live").await;
    assert_eq!(
        (status, live["status"].as_str()),
        (StatusCode::OK, Some("alive"))
    );
    let (status, ready) = app.get_json("/health/ready").await;
    assert_eq!(status, StatusCode::OK, "{ready}");
    assert_eq!(ready["status"], "ready");
    assert_eq!(ready["checks"]["storage"]["ok"], true);
    assert_eq!(ready["checks"]["actors"]["ok"], true);
    let regions = ready["regions"].as_array().unwrap();
    assert_eq!(regions.len(), 14);
    for r in regions {
        assert_eq!(r["state"], "healthy", "{r}");
        assert_eq!(r["source"], "simulated");
        assert_eq!(r["restarts"], 0);
        assert_eq!(r["newest_price_age_seconds"], 0, "clock is frozen at NOW");
    }
    let (_, root) = app.get_json("/").await;
    assert_eq!(root["name"], "Wattline");
    assert_eq!(root["links"]["openapi"], "/openapi.json");
}

#[tokio::test]
async fn metrics_expose_http_actor_fetch_and_price_age_series() {
    let app = TestApp::spawn().await;
    app.get_json("/api/v1/prices/current?region=france").await;
    let response = app.client.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let text = response.text().await.unwrap();
    for needle in [
        "wattline_http_requests_total{method=\"GET\",route=\"/api/v1/prices/current\",status=\"200\"}",
        "wattline_http_request_duration_seconds_bucket{method=\"GET\",route=\"/api/v1/prices/current\"",
        "wattline_actor_messages_total{actor=\"fetcher:france\"}",
        "wattline_actor_messages_total{actor=\"writer\"}",
        "wattline_actor_mailbox_length{actor=\"prices\"}",
        "wattline_fetch_duration_seconds_bucket{region=\"france\",source=\"simulated\"",
        "wattline_price_newest_age_seconds{region=\"france\"}",
        "wattline_price_horizon_seconds{region=\"france\"}",
        "wattline_writer_rows_total",
        "wattline_region_degraded{region=\"france\"}",
        // Created at zero at start, before anything failed.
        "wattline_fetch_errors_total{region=\"japan\",source=\"simulated\"} 0",
        "wattline_source_failover_total{region=\"japan\",source=\"simulated\"} 0",
    ] {
        assert!(text.contains(needle), "missing {needle}");
    }
}

#[tokio::test]
async fn every_response_has_a_request_id_and_security_headers() {
    let app = TestApp::spawn().await;
    let response = app
        .client
        .get(app.url("/health"))
        .header("x-request-id", "client-id-123")
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["x-request-id"], "client-id-123");
    assert_eq!(response.headers()["x-content-type-options"], "nosniff");
    assert_eq!(response.headers()["x-frame-options"], "DENY");
    assert!(response.headers().contains_key("content-security-policy"));
    assert_eq!(
        response.headers()["referrer-policy"],
        "strict-origin-when-cross-origin"
    );
    assert!(
        response.headers()["permissions-policy"]
            .to_str()
            .unwrap()
            .contains("camera=()")
    );
    assert!(!response.headers().contains_key("strict-transport-security"));
    assert!(
        !response.headers().contains_key("cache-control"),
        "only API answers say no-store"
    );
    // API answers, errors included, are not to be cached.
    let response = app
        .client
        .get(app.url("/api/v1/prices/current?region=atlantis"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    assert_eq!(response.headers()["cache-control"], "no-store, private");
    assert_eq!(response.headers()["x-frame-options"], "DENY");
    let response = app
        .client
        .get(app.url("/nowhere"))
        .header("x-request-id", "bad id with spaces")
        .send()
        .await
        .unwrap();
    let id = response.headers()["x-request-id"].to_str().unwrap();
    assert_ne!(id, "bad id with spaces");
    assert_eq!(
        id.len(),
        21,
        "a fresh id: 12 hex of the process, a dash, 8 hex of a counter"
    );
    let next = app.client.get(app.url("/health")).send().await.unwrap();
    assert_ne!(
        next.headers()["x-request-id"].to_str().unwrap(),
        id,
        "ids are unique"
    );
    assert_eq!(
        response.headers()["x-content-type-options"],
        "nosniff",
        "errors carry the headers too"
    );
}

#[tokio::test]
async fn cors_allows_only_configured_origins_and_hsts_is_configurable() {
    let app = TestApp::spawn_with(|s| {
        s.server.cors_allowed_origins = vec!["https://app.example".into()];
        s.server.hsts = true;
    })
    .await;
    let allowed = app
        .client
        .get(app.url("/health"))
        .header("origin", "https://app.example")
        .send()
        .await
        .unwrap();
    assert_eq!(
        allowed.headers()["access-control-allow-origin"],
        "https://app.example"
    );
    assert_eq!(
        allowed.headers()["access-control-allow-credentials"],
        "true",
        "listed origins may send the refresh cookie"
    );
    assert!(
        allowed.headers()["access-control-expose-headers"]
            .to_str()
            .unwrap()
            .contains("ratelimit-remaining")
    );
    assert!(allowed.headers().contains_key("strict-transport-security"));
    // A pre-flight from a listed origin is answered; one from another origin is not allowed.
    let preflight = |origin: &'static str| {
        app.client
            .request(reqwest::Method::OPTIONS, app.url("/api/v1/auth/me"))
            .header("origin", origin)
            .header("access-control-request-method", "GET")
            .header("access-control-request-headers", "authorization")
            .send()
    };
    let ok = preflight("https://app.example").await.unwrap();
    assert_eq!(
        ok.headers()["access-control-allow-origin"],
        "https://app.example"
    );
    let refused = preflight("https://evil.example").await.unwrap();
    assert!(
        !refused
            .headers()
            .contains_key("access-control-allow-origin")
    );
    let other = app
        .client
        .get(app.url("/health"))
        .header("origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert!(!other.headers().contains_key("access-control-allow-origin"));
}

#[tokio::test]
async fn an_actor_past_its_restart_budget_makes_the_engine_degraded_not_down() {
    let app = TestApp::spawn_with(|s| {
        s.supervision.max_restarts = 1;
        s.supervision.backoff_initial = std::time::Duration::from_millis(10);
    })
    .await;
    let forecasts = app.forecasts.clone().expect("forecasting is on by default");
    let restarts = |app: &TestApp| {
        let root = app.root.clone();
        async move {
            root.children()
                .await
                .unwrap()
                .into_iter()
                .find(|c| c.name == "forecaster")
                .unwrap()
        }
    };
    forecasts.crash();
    for _ in 0..500 {
        if restarts(&app).await.state.to_string() == "running" && restarts(&app).await.restarts == 1
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let (status, _) = app.get_json("/api/v1/ml/predict/model-info").await;
    assert_eq!(status, StatusCode::OK, "the restarted forecaster answers");
    forecasts.crash();
    let mut ready = serde_json::Value::Null;
    for _ in 0..500 {
        let (status, body) = app.get_json("/health/ready").await;
        if body["status"] == "degraded" {
            assert_eq!(status, StatusCode::OK, "degraded still serves: {body}");
            ready = body;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert_eq!(
        ready["degraded"],
        serde_json::json!(["forecaster"]),
        "{ready}"
    );
    // What does not need the forecaster keeps working; what does says so.
    let (status, _) = app.get_json("/api/v1/prices/current?region=germany").await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = app
        .get_json("/api/v1/prices/forecast?region=germany&hours=24")
        .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    let metrics = app.metrics().await;
    // Other tests' engines share this process's metrics, so only the series are checked here.
    assert!(
        metrics.contains("wattline_actor_degraded{actor=\"forecaster\"}"),
        "{metrics}"
    );
    assert!(metrics.contains("wattline_actor_restarts_total{actor=\"forecaster\"}"));
    // The operator's view says which actor and why.
    let admin = app.operator_get("/api/v1/admin/actors").await;
    let forecaster = admin["actors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == "forecaster")
        .expect("the forecaster is listed");
    assert_eq!(forecaster["state"], "degraded", "{forecaster}");
    assert_eq!(
        forecaster["restarts"], 2,
        "both failures counted: {forecaster}"
    );
    assert!(forecaster["last_error"].is_string(), "{forecaster}");
}
