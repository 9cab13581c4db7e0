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

const PASSWORD: &str = "ValidPassword123!";

pub(crate) async fn sign_up(app: &TestApp, email: &str) -> serde_json::Value {
    let (status, body) = app
        .post_body(
            "/api/v1/auth/signup",
            &json!({ "email": email, "password": PASSWORD, "name": "Ada" }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body
}

pub(crate) async fn get_with(
    app: &TestApp,
    path: &str,
    authorization: &str,
) -> (StatusCode, serde_json::Value, Option<String>) {
    let response = app
        .client
        .get(app.url(path))
        .header("authorization", authorization)
        .send()
        .await
        .unwrap();
    let status = response.status();
    let challenge = response
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_string());
    (status, response.json().await.unwrap_or_default(), challenge)
}

#[tokio::test]
async fn sign_up_sign_in_me_refresh_and_sign_out() {
    let app = TestApp::spawn().await;
    let tokens = sign_up(&app, "  Ada@Example.COM ").await;
    assert_eq!(tokens["token_type"], "bearer");
    assert_eq!(tokens["expires_in"], 900);
    let access = tokens["access_token"].as_str().unwrap();
    let (status, me, _) = get_with(&app, "/api/v1/auth/me", &format!("Bearer {access}")).await;
    assert_eq!(status, StatusCode::OK, "{me}");
    assert_eq!(me["email"], "ada@example.com", "emails are normalised");
    assert_eq!(
        (me["tier"].as_str(), me["email_verified"].as_bool()),
        (Some("free"), Some(false))
    );

    // Taken email, weak and short passwords.
    let (status, body) = app
        .post_body(
            "/api/v1/auth/signup",
            &json!({ "email": "ada@example.com", "password": PASSWORD }),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let (status, body) = app
        .post_body(
            "/api/v1/auth/signup",
            &json!({ "email": "bo@example.com", "password": "alllowercase-letters" }),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let message = assert_error(&body, "weak_password");
    assert!(
        message.contains("an uppercase letter") && message.contains("a digit"),
        "{message}"
    );
    let (status, _) = app
        .post_body(
            "/api/v1/auth/signup",
            &json!({ "email": "bo@example.com", "password": "Short1!" }),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);

    // Sign-in: a wrong password and an unknown email get the same answer.
    let (status, wrong) = app
        .post_body(
            "/api/v1/auth/signin",
            &json!({ "email": "ada@example.com", "password": "nope" }),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, unknown) = app
        .post_body(
            "/api/v1/auth/signin",
            &json!({ "email": "nobody@example.com", "password": "nope" }),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(wrong, unknown);
    let response = app
        .client
        .post(app.url("/api/v1/auth/signin"))
        .json(&json!({ "email": "ADA@example.com", "password": PASSWORD }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let cookie = response.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("Secure") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );
    let signed_in: serde_json::Value = response.json().await.unwrap();
    assert!(!signed_in.to_string().contains(PASSWORD));

    // Refresh rotates: the new pair works, the old refresh token is refused and its reuse
    // revokes the session, so the rotated one stops working too.
    let old = signed_in["refresh_token"].as_str().unwrap().to_string();
    let (status, rotated) = app
        .post_body("/api/v1/auth/refresh", &json!({ "refresh_token": old }))
        .await;
    assert_eq!(status, StatusCode::OK, "{rotated}");
    let newer = rotated["refresh_token"].as_str().unwrap().to_string();
    assert_ne!(newer, old);
    let (status, _) = app
        .post_body("/api/v1/auth/refresh", &json!({ "refresh_token": old }))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "a used refresh token");
    let (status, _) = app
        .post_body("/api/v1/auth/refresh", &json!({ "refresh_token": newer }))
        .await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "the family was revoked on reuse"
    );
    let (status, _) = app.post_body("/api/v1/auth/refresh", &json!({})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    // The cookie works instead of the body.
    let cookie_token = {
        let (_, fresh) = app
            .post_body(
                "/api/v1/auth/signin",
                &json!({ "email": "ada@example.com", "password": PASSWORD }),
            )
            .await;
        fresh["refresh_token"].as_str().unwrap().to_string()
    };
    let response = app
        .client
        .post(app.url("/api/v1/auth/refresh"))
        .header(
            "cookie",
            format!("theme=dark; refresh_token={cookie_token}"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);

    // An access token is never a refresh token.
    let (status, _) = app
        .post_body("/api/v1/auth/refresh", &json!({ "refresh_token": access }))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // Sign-out revokes the access token and the session.
    let session = rotated["access_token"].as_str().unwrap();
    let response = app
        .client
        .post(app.url("/api/v1/auth/signout"))
        .header("authorization", format!("Bearer {access}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .contains("Max-Age=0")
    );
    let (status, _, _) = get_with(&app, "/api/v1/auth/me", &format!("Bearer {access}")).await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "the signed-out token is revoked"
    );
    let (status, _, _) = get_with(&app, "/api/v1/auth/me", &format!("Bearer {session}")).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "another session's token still works"
    );
}

#[tokio::test]
async fn bad_bearer_tokens_are_401_with_a_challenge() {
    let app = TestApp::spawn().await;
    let tokens = sign_up(&app, "ada@example.com").await;
    let access = tokens["access_token"].as_str().unwrap();
    let refresh = tokens["refresh_token"].as_str().unwrap();
    let parts: Vec<&str> = access.split('.').collect();
    let unsigned = format!("eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.{}.", parts[1]);
    let edited = format!("{}.{}x.{}", parts[0], parts[1], parts[2]);
    for authorization in [
        String::new(),
        "Bearer".into(),
        "Bearer ".into(),
        format!("Basic {access}"),
        format!("bearer{access}"),
        format!("Bearer {refresh}"),
        format!("Bearer {unsigned}"),
        format!("Bearer {edited}"),
        "Bearer a.b.c".into(),
    ] {
        let (status, body, challenge) = get_with(&app, "/api/v1/auth/me", &authorization).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{authorization}: {body}");
        assert_eq!(challenge.as_deref(), Some("Bearer"));
        assert_error(&body, "unauthorized");
    }
    // Expired: the engine clock moves past the 15 minutes.
    app.clock.set(
        crate::helpers::NOW.parse::<jiff::Timestamp>().unwrap()
            + jiff::SignedDuration::from_mins(16),
    );
    let (status, _, _) = get_with(&app, "/api/v1/auth/me", &format!("Bearer {access}")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn five_failures_lock_an_email_with_the_real_retry_after() {
    let app = TestApp::spawn().await;
    sign_up(&app, "ada@example.com").await;
    sign_up(&app, "bo@example.com").await;
    for _ in 0..5 {
        let (status, _) = app
            .post_body(
                "/api/v1/auth/signin",
                &json!({ "email": "ada@example.com", "password": "wrong" }),
            )
            .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    let response = app
        .client
        .post(app.url("/api/v1/auth/signin"))
        .json(&json!({ "email": "ada@example.com", "password": PASSWORD }))
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "locked even with the right password"
    );
    let retry: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((890..=900).contains(&retry), "{retry}");
    // Another email is unaffected; a success clears its own count.
    let (status, _) = app
        .post_body(
            "/api/v1/auth/signin",
            &json!({ "email": "bo@example.com", "password": PASSWORD }),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn stored_api_keys_carry_scopes_and_can_be_revoked() {
    use std::process::Command;
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/keys.sqlite3", dir.path().display());
    let cli = |args: &[&str]| {
        let output = Command::new(env!("CARGO_BIN_EXE_wattline"))
            .arg("apikey")
            .args(args)
            .env("WATTLINE_STORAGE__DATABASE_URL", &url)
            .env_remove("WATTLINE_CONFIG")
            .output()
            .unwrap();
        (
            output.status.success(),
            String::from_utf8_lossy(&output.stdout).to_string()
                + &String::from_utf8_lossy(&output.stderr),
        )
    };
    let key_of = |out: &str| {
        out.lines()
            .find_map(|l| l.strip_prefix("Key (shown only now): "))
            .unwrap()
            .to_string()
    };
    let (ok, out) = cli(&["create", "--name", "cron", "--scope", "refresh"]);
    assert!(ok, "{out}");
    let refresher = key_of(&out);
    let (ok, out) = cli(&["create", "--name", "grafana", "--scope", "read"]);
    assert!(ok, "{out}");
    let reader = key_of(&out);
    let (ok, out) = cli(&["create", "--name", "x", "--scope", "root"]);
    assert!(!ok && out.contains("unknown scope"), "{out}");
    let (ok, listing) = cli(&["list"]);
    assert!(ok);
    assert!(
        listing.contains("cron") && !listing.contains(&refresher),
        "keys are never listed: {listing}"
    );

    let mut settings = crate::helpers::test_settings(dir.path());
    settings.storage.database_url = url.clone();
    let app = TestApp::start(settings, crate::helpers::NOW.parse().unwrap()).await;
    let (status, body) = app
        .post_json("/api/v1/prices/refresh?region=germany", Some(&refresher))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = app
        .post_json("/api/v1/prices/refresh?region=germany", Some(&reader))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_error(&body, "insufficient_scope");
    let admin = |key: String| {
        let app = &app;
        async move {
            app.client
                .get(app.url("/api/v1/admin/actors"))
                .header("x-api-key", key)
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    assert_eq!(admin(refresher.clone()).await, StatusCode::FORBIDDEN);
    assert_eq!(
        admin(crate::helpers::API_KEY.into()).await,
        StatusCode::OK,
        "the bootstrap key is admin"
    );
    assert_eq!(admin("wl_not-a-key".into()).await, StatusCode::UNAUTHORIZED);
    // Revoked: refused from then on.
    let id = listing
        .lines()
        .find(|l| l.contains("cron"))
        .and_then(|l| l.split_whitespace().next())
        .unwrap()
        .to_string();
    let (ok, out) = cli(&["revoke", &id]);
    assert!(ok, "{out}");
    let (status, _) = app
        .post_json("/api/v1/prices/refresh?region=germany", Some(&refresher))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn operator_routes_check_the_scope_of_a_bearer_token_too() {
    let app = TestApp::spawn().await;
    let tokens = sign_up(&app, "reader@example.com").await;
    let bearer = format!("Bearer {}", tokens["access_token"].as_str().unwrap());
    // A signed-in user's token carries `read` only: operator routes answer 403, not 401.
    let (status, body, _) = get_with(&app, "/api/v1/admin/actors", &bearer).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(assert_error(&body, "insufficient_scope").contains("`admin`"));
    let response = app
        .client
        .post(app.url("/api/v1/prices/refresh?region=germany"))
        .header("authorization", &bearer)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    // A token that does not verify is 401 with the challenge, as on every protected route.
    let (status, _, challenge) = get_with(&app, "/api/v1/admin/actors", "Bearer x.y.z").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(challenge.as_deref(), Some("Bearer"));
    // Signed out: the same token is refused outright.
    let response = app
        .client
        .post(app.url("/api/v1/auth/signout"))
        .header("authorization", &bearer)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let (status, _, _) = get_with(&app, "/api/v1/admin/actors", &bearer).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}
