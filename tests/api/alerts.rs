//! `/api/v1/alerts`: rules are the signed-in user's own, checked, limited by tier; a rule whose
//! condition holds fires once, is recorded in its history, and is delivered by email and by a
//! signed webhook through the outbox.

use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::http::HeaderMap;
use hmac::{Hmac, Mac};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sha2::Sha256;

use crate::helpers::{TestApp, assert_error, eventually};

async fn send(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    token: &str,
    body: Option<&Value>,
) -> (StatusCode, Value) {
    app.call(method, path, token, body).await
}

/// Deliveries a loopback webhook receiver accepted: (delivery id, body), after checking the
/// signature with the rule's secret.
#[derive(Clone, Default)]
struct Receiver {
    secret: Arc<Mutex<String>>,
    accepted: Arc<Mutex<Vec<(String, Value)>>>,
    refused: Arc<Mutex<u32>>,
}

impl Receiver {
    async fn start(&self) -> String {
        let receiver = self.clone();
        let app = axum::Router::new().route(
            "/hook",
            axum::routing::post(move |headers: HeaderMap, body: Bytes| {
                let receiver = receiver.clone();
                async move { receiver.receive(&headers, &body) }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        format!("http://{addr}/hook")
    }

    fn receive(&self, headers: &HeaderMap, body: &[u8]) -> StatusCode {
        let header = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_string()
        };
        let signature = header("x-wattline-signature");
        let (t, v1) = signature
            .split_once(',')
            .map(|(t, v)| (t.trim_start_matches("t="), v.trim_start_matches("v1=")))
            .unwrap_or_default();
        let mut mac =
            Hmac::<Sha256>::new_from_slice(self.secret.lock().unwrap().as_bytes()).unwrap();
        mac.update(format!("{t}.").as_bytes());
        mac.update(body);
        let expected: String = mac
            .finalize()
            .into_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        if expected != v1 || t.parse::<i64>().is_err() {
            *self.refused.lock().unwrap() += 1;
            return StatusCode::UNAUTHORIZED;
        }
        let body: Value = serde_json::from_slice(body).unwrap();
        self.accepted
            .lock()
            .unwrap()
            .push((header("x-wattline-delivery"), body));
        StatusCode::NO_CONTENT
    }
}

fn below(threshold: f64) -> Value {
    json!({ "kind": "price_below", "threshold": threshold })
}

#[tokio::test]
async fn rules_are_checked_owned_and_limited_by_tier() {
    let app = TestApp::spawn().await;
    let ada = app.signed_up("ada@example.com").await;
    let rule = json!({
        "region": "uk", "condition": below(0.2), "channels": { "email": true },
        "quiet_hours": { "start": "22:00", "end": "07:00" }, "cooldown_minutes": 30
    });
    let (status, created) = send(
        &app,
        reqwest::Method::POST,
        "/api/v1/alerts",
        &ada,
        Some(&rule),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let id = created["id"].as_str().unwrap().to_string();
    assert!(
        created["webhook_secret"]
            .as_str()
            .unwrap()
            .starts_with("whsec_")
    );
    assert_eq!(created["cooldown_minutes"], 30);
    assert_eq!(created["condition"]["kind"], "price_below");

    // Free accounts hold one rule.
    let (status, body) = send(
        &app,
        reqwest::Method::POST,
        "/api/v1/alerts",
        &ada,
        Some(&rule),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_error(&body, "tier_limit");

    // Bad rules: 4xx naming the problem, nothing stored.
    let bob = app.signed_up("bob@example.com").await;
    for (bad, status) in [
        (
            json!({ "region": "atlantis", "condition": below(0.2), "channels": {"email": true} }),
            StatusCode::BAD_REQUEST,
        ),
        (
            json!({ "region": "uk", "condition": {"kind": "cheapest_share", "percent": 0}, "channels": {"email": true} }),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            json!({ "region": "uk", "condition": {"kind": "price_sideways"}, "channels": {"email": true} }),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            json!({ "region": "uk", "condition": below(0.2), "channels": {"webhook_url": "http://example.com/x"} }),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            json!({ "region": "uk", "condition": below(0.2), "channels": {} }),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            json!({ "region": "uk", "condition": below(0.2), "channels": {"email": true}, "cooldown_minutes": 99999 }),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
    ] {
        let (got, body) = send(
            &app,
            reqwest::Method::POST,
            "/api/v1/alerts",
            &bob,
            Some(&bad),
        )
        .await;
        assert_eq!(got, status, "{bad} → {body}");
        assert!(body["error"]["code"].is_string(), "{body}");
    }
    let (_, list) = send(&app, reqwest::Method::GET, "/api/v1/alerts", &bob, None).await;
    assert_eq!(list["total"], 0);

    // Another user's rule is unknown to them.
    let path = format!("/api/v1/alerts/{id}");
    let (status, _) = send(&app, reqwest::Method::GET, &path, &bob, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = send(&app, reqwest::Method::DELETE, &path, &bob, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Replace, read back (no secret), delete.
    let mut edited = rule.clone();
    edited["condition"] = json!({ "kind": "tomorrow_published" });
    edited["name"] = json!("Tomorrow");
    let (status, body) = send(&app, reqwest::Method::PUT, &path, &ada, Some(&edited)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, got) = send(&app, reqwest::Method::GET, &path, &ada, None).await;
    assert_eq!(got["name"], "Tomorrow");
    assert!(got.get("webhook_secret").is_none());
    let (status, _) = send(&app, reqwest::Method::DELETE, &path, &ada, None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = send(&app, reqwest::Method::GET, &path, &ada, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = send(
        &app,
        reqwest::Method::GET,
        "/api/v1/alerts",
        "not-a-token",
        None,
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_rule_that_holds_fires_once_by_email_and_signed_webhook() {
    let app = TestApp::spawn_with(|s| s.alerts.webhook_allow_http = true).await;
    let receiver = Receiver::default();
    let hook = receiver.start().await;
    let token = app.signed_up("ada@example.com").await;
    let (_, current) = app.get_json("/api/v1/prices/current?region=uk").await;
    assert!(current["price"]["price"].is_string(), "{current}");

    // A threshold no price reaches: nothing fires.
    let never = json!({
        "region": "uk", "condition": below(-1000.0),
        "channels": { "email": true, "webhook_url": hook.clone() }
    });
    let (status, created) = send(
        &app,
        reqwest::Method::POST,
        "/api/v1/alerts",
        &token,
        Some(&never),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let quiet_id = created["id"].as_str().unwrap().to_string();
    let (status, _) = send(
        &app,
        reqwest::Method::DELETE,
        &format!("/api/v1/alerts/{quiet_id}"),
        &token,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);

    // Every price is below 1000: the rule fires for the run under way.
    let always = json!({
        "name": "Cheap", "region": "uk", "condition": below(1000.0),
        "channels": { "email": true, "webhook_url": hook }, "cooldown_minutes": 60
    });
    let (status, created) = send(
        &app,
        reqwest::Method::POST,
        "/api/v1/alerts",
        &token,
        Some(&always),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    *receiver.secret.lock().unwrap() = created["webhook_secret"].as_str().unwrap().to_string();
    let id = created["id"].as_str().unwrap().to_string();
    let history_path = format!("/api/v1/alerts/{id}/history");

    eventually("the webhook delivery", async || {
        receiver.accepted.lock().unwrap().len() == 1
    })
    .await;
    eventually("the alert email", async || {
        app.emails()
            .iter()
            .any(|m| m.contains("Subject: Price alert: Cheap"))
    })
    .await;
    let (status, history) = send(&app, reqwest::Method::GET, &history_path, &token, None).await;
    assert_eq!(status, StatusCode::OK, "{history}");
    let entries = history["history"].as_array().unwrap();
    assert_eq!(entries.len(), 1, "{history}");
    assert!(
        entries[0]["occurrence"]
            .as_str()
            .unwrap()
            .starts_with("price_below@")
    );
    assert_eq!(entries[0]["channels"], json!(["email", "webhook"]));

    let (delivery, body) = receiver.accepted.lock().unwrap()[0].clone();
    assert_eq!(body["rule_id"], id.as_str());
    assert_eq!(body["region"], "uk");
    assert!(delivery.starts_with(&format!("alert:{id}:")), "{delivery}");
    assert_eq!(*receiver.refused.lock().unwrap(), 0);

    // A rule edited afresh evaluates again; an unchanged condition does not fire twice for
    // the same run. The refetched prices are the same: still one firing.
    let (status, _) = app
        .post_json(
            "/api/v1/prices/refresh?region=uk",
            Some(crate::helpers::API_KEY),
        )
        .await;
    assert!(status.is_success(), "{status}");
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let (_, history) = send(&app, reqwest::Method::GET, &history_path, &token, None).await;
    assert_eq!(history["history"].as_array().unwrap().len(), 1);
    assert_eq!(receiver.accepted.lock().unwrap().len(), 1);
    let (status, body) = send(
        &app,
        reqwest::Method::GET,
        &format!("{history_path}?limit=0"),
        &token,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
}
