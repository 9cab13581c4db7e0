//! `/api/v1/compliance`: consent decisions and their status, the export of every row about the
//! user, and erasure: confirmation required; afterwards the token is refused, no table holds the
//! email or id, the deletion log entry exists, and the confirmation email was sent.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{NOW, TestApp, assert_error, eventually, test_settings};

async fn call(
    app: &TestApp,
    method: Method,
    path: &str,
    token: &str,
    body: Option<&Value>,
) -> (StatusCode, Value) {
    app.call(method, path, token, body).await
}

#[tokio::test]
async fn consents_are_appended_and_the_latest_per_purpose_wins() {
    let app = TestApp::spawn().await;
    let token = app.signed_up("ada@example.com").await;
    let consent =
        |purpose: &str, given: bool| json!({ "purpose": purpose, "consent_given": given });
    let (status, body) = call(
        &app,
        Method::POST,
        "/api/v1/compliance/consent",
        &token,
        Some(&consent("marketing", true)),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["purpose"], "marketing");
    assert_eq!(body["consent_given"], true);
    assert!(body["timestamp"].is_string() && body["id"].is_string() && body["message"].is_string());
    let (status, body) = call(
        &app,
        Method::POST,
        "/api/v1/compliance/consent",
        &token,
        Some(&consent("telepathy", true)),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    app.clock.set("2026-01-15T12:31:00Z".parse().unwrap());
    call(
        &app,
        Method::POST,
        "/api/v1/compliance/consent",
        &token,
        Some(&consent("marketing", false)),
    )
    .await;
    call(
        &app,
        Method::POST,
        "/api/v1/compliance/consent",
        &token,
        Some(&consent("analytics", true)),
    )
    .await;

    let (_, status) = call(
        &app,
        Method::GET,
        "/api/v1/compliance/gdpr/consents/status",
        &token,
        None,
    )
    .await;
    assert_eq!(
        status["consents"]["marketing"], false,
        "the later withdrawal wins"
    );
    assert_eq!(status["consents"]["analytics"], true);
    assert_eq!(status["consents"]["price_alerts"], false);
    assert_eq!(status["consents"].as_object().unwrap().len(), 6);
    let (_, list) = call(
        &app,
        Method::GET,
        "/api/v1/compliance/gdpr/consents",
        &token,
        None,
    )
    .await;
    assert_eq!(list["total_count"], 3);
    assert_eq!(list["consents"][0]["purpose"], "analytics", "newest first");

    let (status, withdrawn) = call(
        &app,
        Method::POST,
        "/api/v1/compliance/gdpr/withdraw-all-consents",
        &token,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(withdrawn["total_count"], 6);
    let (_, status) = call(
        &app,
        Method::GET,
        "/api/v1/compliance/gdpr/consents/status",
        &token,
        None,
    )
    .await;
    assert!(
        status["consents"]
            .as_object()
            .unwrap()
            .values()
            .all(|v| v == false)
    );
    let (status, _) = call(
        &app,
        Method::GET,
        "/api/v1/compliance/gdpr/consents",
        "bad",
        None,
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn the_export_holds_every_table_and_erasure_leaves_only_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let app = TestApp::start(test_settings(dir.path()), NOW.parse().unwrap()).await;
    let token = app.signed_up("ada@example.com").await;
    let other = app.signed_up("bob@example.com").await;
    call(
        &app,
        Method::POST,
        "/api/v1/compliance/consent",
        &token,
        Some(&json!({"purpose": "marketing", "consent_given": true})),
    )
    .await;
    call(
        &app,
        Method::PUT,
        "/api/v1/user/preferences",
        &token,
        Some(&json!({"region": "uk"})),
    )
    .await;
    let (status, _) = call(
        &app,
        Method::POST,
        "/api/v1/alerts",
        &token,
        Some(&json!({
            "region": "uk", "condition": {"kind": "tomorrow_published"}, "channels": {"email": true}
        })),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    app.post_body(
        "/api/v1/beta/signup",
        &json!({
            "email": "ada@example.com", "name": "Ada Lovelace", "postcode": "SW1A 1AA",
            "currentSupplier": "EDF", "monthlyBill": "80", "hearAbout": "radio"
        }),
    )
    .await;

    let response = app
        .client
        .get(app.url("/api/v1/compliance/gdpr/export"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let export: Value = response.json().await.unwrap();
    let tables = export["tables"].as_object().unwrap();
    for table in [
        "users",
        "consents",
        "user_preferences",
        "alert_rules",
        "beta_signups",
        "refresh_tokens",
    ] {
        assert!(
            !tables[table].as_array().unwrap().is_empty(),
            "{table} in the export"
        );
    }
    assert_eq!(tables["users"][0]["email"], "ada@example.com");
    assert!(
        tables["users"][0].get("password_hash").is_none(),
        "no secrets"
    );
    assert!(tables["refresh_tokens"][0].get("token_hash").is_none());
    assert!(tables["alert_rules"][0].get("webhook_secret").is_none());
    let text = export.to_string();
    assert!(!text.contains("bob@example.com"), "nobody else's rows");

    // Confirmation is required.
    let (status, body) = call(
        &app,
        Method::DELETE,
        "/api/v1/compliance/gdpr/delete-my-data",
        &token,
        Some(&json!({"confirmation": false})),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_error(&body, "confirmation_required");

    let user_id = export["user_id"].as_str().unwrap().to_string();
    let (status, deleted) = call(
        &app,
        Method::DELETE,
        "/api/v1/compliance/gdpr/delete-my-data",
        &token,
        Some(&json!({"confirmation": true, "reason": "moving"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{deleted}");
    assert_eq!(deleted["success"], true);
    let categories: Vec<&str> = deleted["deleted_categories"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    for category in [
        "profile",
        "consents",
        "preferences",
        "alert_rules",
        "beta_signup",
        "sessions",
    ] {
        assert!(
            categories.contains(&category),
            "{category} in {categories:?}"
        );
    }
    let log_id = deleted["deletion_log_id"].as_str().unwrap().to_string();

    // The old token is refused; the confirmation email goes out.
    let (status, _) = call(&app, Method::GET, "/api/v1/auth/me", &token, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    eventually("the deletion confirmation email", async || {
        app.emails()
            .iter()
            .any(|m| m.contains("Subject: Your Wattline data has been deleted"))
    })
    .await;
    // Bob is untouched.
    let (status, _) = call(&app, Method::GET, "/api/v1/auth/me", &other, None).await;
    assert_eq!(status, StatusCode::OK);
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    app.stop().await.unwrap();

    // No table holds the email or the id; the log entry holds neither.
    let url = format!("sqlite://{}", dir.path().join("wattline.sqlite3").display());
    let storage = wattline::storage::Storage::open_sqlite(
        &url,
        &wattline::storage::StorageOptions {
            max_connections: 1,
            acquire_timeout: std::time::Duration::from_secs(5),
        },
    )
    .await
    .unwrap();
    let leftovers = crate::leftovers::tables_mentioning(&url, &["ada@example.com", &user_id]).await;
    assert!(leftovers.is_empty(), "{leftovers:?}");
    let log: Vec<wattline::storage::gdpr::DeletionLogRow> = storage
        .rows(&wattline::storage::gdpr::LOG_ENTRY, &json!({"id": log_id}))
        .await
        .unwrap();
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].user_hash, wattline::gdpr::user_hash(&user_id));
    assert!(!log[0].anonymized);
    storage.close().await;
}

#[tokio::test]
async fn anonymised_erasure_keeps_records_without_the_person() {
    let app = TestApp::spawn().await;
    let token = app.signed_up("ada@example.com").await;
    call(
        &app,
        Method::POST,
        "/api/v1/compliance/consent",
        &token,
        Some(&json!({"purpose": "analytics", "consent_given": true})),
    )
    .await;
    let (status, deleted) = call(
        &app,
        Method::DELETE,
        "/api/v1/compliance/gdpr/delete-my-data",
        &token,
        Some(&json!({"confirmation": true, "retain_anonymized": true})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{deleted}");
    let (status, _) = call(
        &app,
        Method::GET,
        "/api/v1/compliance/gdpr/consents",
        &token,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // Signing in as Ada no longer works: the account has no email or password of hers.
    let (status, _) = app
        .post_body(
            "/api/v1/auth/signin",
            &json!({"email": "ada@example.com", "password": "ValidPassword123!"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}
