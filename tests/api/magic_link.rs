//! Magic-link sign-in: the same answer for every email, a link emailed only to accounts, used
//! once (a second use → 401), a redirect with a one-time code when one was asked for, and the
//! link's checks (bad email → 400, redirect off the allowlist → 422).

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{TestApp, assert_error, eventually};

/// The sign-in token in the (quoted-printable) email to `to`.
fn token_in(app: &TestApp, to: &str) -> Option<String> {
    app.emails().into_iter().find_map(|mail| {
        if !mail.contains(&format!("To: {to}")) {
            return None;
        }
        let plain = mail
            .replace("=\r\n", "")
            .replace("=\n", "")
            .replace("=3D", "=");
        let start = plain.find("token=")? + "token=".len();
        let token: String = plain[start..]
            .chars()
            .take_while(char::is_ascii_hexdigit)
            .collect();
        (token.len() == 64).then_some(token)
    })
}

#[tokio::test]
async fn a_link_signs_in_once_and_unknown_emails_get_the_same_answer() {
    let app = TestApp::spawn_with(|s| {
        s.auth.redirect_allowlist = vec!["app.example.com".into()];
    })
    .await;
    app.signed_up("ada@example.com").await;
    let (status, known) = app
        .post_body(
            "/api/v1/auth/signin/magic-link",
            &json!({ "email": "Ada@Example.com" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{known}");
    let (status, unknown) = app
        .post_body(
            "/api/v1/auth/signin/magic-link",
            &json!({ "email": "nobody@example.com" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        known, unknown,
        "the answer does not tell whether the account exists"
    );

    eventually("the sign-in email", async || {
        token_in(&app, "ada@example.com").is_some()
    })
    .await;
    let token = token_in(&app, "ada@example.com").unwrap();
    assert_eq!(app.emails().len(), 1, "no email for an unknown address");

    let verify = app.url(&format!("/api/v1/auth/magic-link/verify?token={token}"));
    let first = app.client.get(&verify).send().await.unwrap();
    assert_eq!(first.status(), StatusCode::OK);
    assert!(first.headers().get("set-cookie").is_some());
    let tokens: serde_json::Value = first.json().await.unwrap();
    let me = app
        .client
        .get(app.url("/api/v1/auth/me"))
        .bearer_auth(tokens["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    let me: serde_json::Value = me.json().await.unwrap();
    assert_eq!(me["email"], "ada@example.com");
    assert_eq!(
        me["email_verified"], true,
        "following the link proves the address"
    );

    let second = app.client.get(&verify).send().await.unwrap();
    assert_eq!(second.status(), StatusCode::UNAUTHORIZED);
    let body: serde_json::Value = second.json().await.unwrap();
    assert_error(&body, "invalid_magic_link");
    for bad in [
        "",
        "?token=",
        "?token=zz",
        &format!("?token={}", "0".repeat(64)),
    ] {
        let response = app
            .client
            .get(app.url(&format!("/api/v1/auth/magic-link/verify{bad}")))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{bad}");
    }

    // Bad input.
    let (status, _) = app
        .post_body(
            "/api/v1/auth/signin/magic-link",
            &json!({ "email": "not-an-email" }),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, body) = app
        .post_body(
            "/api/v1/auth/signin/magic-link",
            &json!({ "email": "ada@example.com", "redirect_url": "https://evil.example.net/" }),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_error(&body, "redirect_not_allowed");
}

#[tokio::test]
async fn a_link_with_a_redirect_hands_the_browser_a_one_time_code() {
    let app = TestApp::spawn_with(|s| {
        s.auth.redirect_allowlist = vec!["app.example.com".into()];
    })
    .await;
    app.signed_up("ada@example.com").await;
    let (status, _) = app
        .post_body(
            "/api/v1/auth/signin/magic-link",
            &json!({ "email": "ada@example.com", "redirect_url": "https://app.example.com/done" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    eventually("the sign-in email", async || {
        token_in(&app, "ada@example.com").is_some()
    })
    .await;
    let token = token_in(&app, "ada@example.com").unwrap();
    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let response = no_redirects
        .get(app.url(&format!("/api/v1/auth/magic-link/verify?token={token}")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let location = url::Url::parse(response.headers()["location"].to_str().unwrap()).unwrap();
    assert_eq!(location.host_str(), Some("app.example.com"));
    let code = location
        .query_pairs()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.to_string())
        .expect("a one-time code");
    let (status, tokens) = app
        .post_body("/api/v1/auth/oauth/exchange", &json!({ "code": code }))
        .await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    assert!(tokens["access_token"].is_string());
    let (status, _) = app
        .post_body("/api/v1/auth/oauth/exchange", &json!({ "code": code }))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "the code works once");
}
