//! `/api/v1/auth`: the password strength check (the policy sign-up will apply).

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{TestApp, assert_error};

const PATH: &str = "/api/v1/auth/password/check-strength";

#[tokio::test]
async fn passwords_are_scored_as_the_spec_says_and_never_echoed() {
    let app = TestApp::spawn().await;
    for (password, score, label, valid) in [
        ("weak", 1, "very_weak", false),
        ("ValidPassword123!", 6, "strong", true),
        ("VeryStrongPassword123!", 7, "very_strong", true),
        ("alllowercaseletters", 3, "weak", false),
    ] {
        let (status, body) = app.post_body(PATH, &json!({ "password": password })).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["score"], score, "{password}: {body}");
        assert_eq!(body["strength"], label);
        assert_eq!(body["valid"], valid);
        assert_eq!(body["max_score"], 7);
        for check in ["length", "uppercase", "lowercase", "digit", "special"] {
            assert!(body["checks"][check].is_boolean(), "{body}");
        }
        // "weak" is also a label; the longer ones must not appear anywhere.
        assert!(body.get("password").is_none());
        if password.len() > 4 {
            assert!(
                !body.to_string().contains(password),
                "the password was echoed"
            );
        }
    }
}

#[tokio::test]
async fn bad_password_checks_are_clear_4xx() {
    let app = TestApp::spawn().await;
    let long = "Aa1!".repeat(33);
    let (status, body) = app.post_body(PATH, &json!({ "password": long })).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_error(&body, "invalid_field");
    assert!(!body.to_string().contains(&long));
    let (status, body) = app.post_body(PATH, &json!({})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let (status, _) = app
        .post_body(PATH, &json!({ "password": "x", "extra": 1 }))
        .await;
    assert!(status.is_client_error());
    // Body only: the password never travels in a URL.
    let response = app
        .client
        .post(app.url(&format!("{PATH}?password=ValidPassword123!")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
}
