//! `/api/v1/beta`: sign-ups stored with their welcome email queued, the UK postcode rule,
//! duplicates, admin statistics and code verification; sign-ups survive a restart.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{API_KEY, NOW, TestApp, assert_error, test_settings};

fn signup(email: &str, postcode: &str, supplier: &str, bill: &str) -> Value {
    json!({
        "email": email, "name": "Ada Lovelace", "postcode": postcode,
        "currentSupplier": supplier, "monthlyBill": bill, "hearAbout": "a friend"
    })
}

async fn admin_get(app: &TestApp, path: &str, key: Option<&str>) -> (StatusCode, Value) {
    let mut request = app.client.get(app.url(path));
    if let Some(key) = key {
        request = request.header("x-api-key", key);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or_default())
}

#[tokio::test]
async fn sign_ups_are_stored_once_with_a_code_and_a_queued_welcome() {
    let dir = tempfile::tempdir().unwrap();
    let app = TestApp::start(test_settings(dir.path()), NOW.parse().unwrap()).await;
    let (status, body) = app
        .post_body(
            "/api/v1/beta/signup",
            &signup("Ada@Example.com", "sw1a1aa", "Octopus Energy", "85"),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["success"], true);
    let code = body["betaCode"].as_str().unwrap().to_string();
    assert!(code.starts_with("BETA-2026-"), "{code}");
    let hex = &code["BETA-2026-".len()..];
    assert_eq!(hex.len(), 8);
    assert!(
        hex.chars()
            .all(|c| c.is_ascii_digit() || ('A'..='F').contains(&c))
    );
    // The same email again, in any case: 409.
    let (status, body) = app
        .post_body(
            "/api/v1/beta/signup",
            &signup("ada@example.COM", "M1 1AE", "EDF", "40"),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_error(&body, "already_signed_up");
    // The postcode rule, with the spec's message.
    let (status, body) = app
        .post_body(
            "/api/v1/beta/signup",
            &signup("bob@example.com", "12345", "EDF", "40"),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        assert_error(&body, "invalid_postcode"),
        "Invalid UK postcode format"
    );
    for (body, field) in [
        (
            json!({ "email": "c@example.com", "name": "A", "postcode": "M1 1AE", "currentSupplier": "x", "monthlyBill": "1", "hearAbout": "y" }),
            "name",
        ),
        (
            signup("d@example.com", "M1 1AE", "", "40"),
            "currentSupplier",
        ),
        (
            signup("e@example.com", "M1 1AE", "EDF", &"9".repeat(51)),
            "monthlyBill",
        ),
    ] {
        app.assert_invalid_field("/api/v1/beta/signup", &body, field)
            .await;
    }
    let (status, _) = app
        .post_body(
            "/api/v1/beta/signup",
            &json!({ "email": "f@example.com", "current_supplier": "x" }),
        )
        .await;
    assert!(status.is_client_error());
    let (status, _) = app
        .post_body(
            "/api/v1/beta/signup",
            &signup("grace@example.com", "B33 8TH", "EDF", "£150"),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);

    // Codes verify; others are 404.
    let (status, body) = app
        .post_body(
            "/api/v1/beta/verify-code",
            &json!({ "code": code.to_lowercase() }),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["valid"], true);
    let (status, body) = app
        .post_body(
            "/api/v1/beta/verify-code",
            &json!({ "code": "BETA-2026-00000000" }),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_error(&body, "beta_code_not_found");

    // Admin views: the scope is required.
    let (status, _) = admin_get(&app, "/api/v1/beta/signups/count", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, count) = admin_get(&app, "/api/v1/beta/signups/count", Some(API_KEY)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        count,
        json!({ "total": 2, "target": 1000, "percentage": 0.2 })
    );
    let (_, stats) = admin_get(&app, "/api/v1/beta/signups/stats", Some(API_KEY)).await;
    assert_eq!(
        stats["bySupplier"],
        json!({ "EDF": 1, "Octopus Energy": 1 })
    );
    assert_eq!(
        stats["byBillRange"],
        json!({ "100_to_200": 1, "50_to_100": 1 })
    );
    assert_eq!(stats["bySource"]["a friend"], 2);

    // The EmailWorker sends each welcome once (the file transport on the embedded default).
    crate::helpers::eventually("two welcome emails", async || app.emails().len() == 2).await;
    let welcome = app
        .emails()
        .into_iter()
        .find(|m| m.contains(&code))
        .expect("the welcome carries the code");
    assert!(welcome.contains("To: ada@example.com"), "{welcome}");
    assert!(welcome.contains("Subject: Welcome to the Wattline beta"));

    // Sign-ups and their welcome jobs survive a restart.
    app.stop().await.unwrap();
    let url = format!("sqlite://{}", dir.path().join("wattline.sqlite3").display());
    let options = wattline::storage::StorageOptions {
        max_connections: 1,
        acquire_timeout: std::time::Duration::from_secs(5),
    };
    let storage = wattline::storage::Storage::open_sqlite(&url, &options)
        .await
        .unwrap();
    let jobs: Vec<wattline::storage::jobs::JobRow> = storage
        .rows(
            &wattline::storage::jobs::JOBS_OF_QUEUE,
            &json!({ "queue": "email" }),
        )
        .await
        .unwrap();
    assert_eq!(
        jobs.len(),
        2,
        "one welcome email per sign-up, none for refusals"
    );
    assert!(
        jobs.iter()
            .all(|j| j.kind == "beta_welcome" && j.status == "done" && j.attempts == 1)
    );
    // A delivered job keeps no payload (the address and code were needed only to send it).
    assert_eq!(jobs[0].payload, json!({}));
    storage.close().await;
    let again = TestApp::start(test_settings(dir.path()), NOW.parse().unwrap()).await;
    let (_, count) = admin_get(&again, "/api/v1/beta/signups/count", Some(API_KEY)).await;
    assert_eq!(count["total"], 2);
    let (status, _) = again
        .post_body("/api/v1/beta/verify-code", &json!({ "code": code }))
        .await;
    assert_eq!(status, StatusCode::OK);
}
