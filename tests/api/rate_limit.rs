//! Rate limits: a burst over the limit gets 429 with a computed `Retry-After` after a
//! decreasing `RateLimit-Remaining`; another client keeps its own budget; health is exempt; the
//! 429 carries the request id and security headers. With Redis, two nodes share the budget.

use reqwest::StatusCode;

use crate::helpers::{API_KEY, TestApp, assert_error};

const PATH: &str = "/api/v1/prices/current?region=germany";

fn limited(settings: &mut wattline::Settings) {
    settings.rate_limit.enabled = true;
    settings.rate_limit.per_minute = 5.try_into().unwrap();
}

async fn remaining(app: &TestApp, key: Option<&str>) -> (StatusCode, reqwest::header::HeaderMap) {
    let mut request = app.client.get(app.url(PATH));
    if let Some(key) = key {
        request = request.header("x-api-key", key);
    }
    let response = request.send().await.unwrap();
    (response.status(), response.headers().clone())
}

#[tokio::test]
async fn a_burst_over_the_limit_is_refused_with_the_time_to_wait() {
    let app = TestApp::spawn_with(limited).await;
    let mut seen = Vec::new();
    for _ in 0..5 {
        let (status, headers) = remaining(&app, None).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(headers["ratelimit-limit"], "5");
        assert_eq!(headers["x-ratelimit-limit"], "5");
        seen.push(headers["ratelimit-remaining"].to_str().unwrap().to_string());
    }
    assert_eq!(seen, ["4", "3", "2", "1", "0"]);
    let response = app.client.get(app.url(PATH)).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        (10..=12).contains(&retry),
        "one interval of 60 s / 5: {retry}"
    );
    assert!(response.headers().contains_key("x-request-id"));
    assert_eq!(response.headers()["x-frame-options"], "DENY");
    assert_eq!(response.headers()["ratelimit-remaining"], "0");
    assert_error(&response.json().await.unwrap(), "rate_limited");

    // Health, metrics and pre-flights are not counted.
    for path in ["/health", "/health/ready", "/metrics"] {
        let status = app.client.get(app.url(path)).send().await.unwrap().status();
        assert_eq!(status, StatusCode::OK, "{path}");
    }
    // Another client (an API key) has its own budget; another group too.
    let (status, headers) = remaining(&app, Some(API_KEY)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["ratelimit-remaining"], "4");
    let response = app
        .client
        .post(app.url("/api/v1/auth/password/check-strength"))
        .json(&serde_json::json!({ "password": "x" }))
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "the auth group counts apart"
    );
}

#[tokio::test]
async fn a_signed_in_user_is_counted_by_account_and_revocation_still_holds() {
    let app = TestApp::spawn_with(limited).await;
    let (status, tokens) = app
        .post_body(
            "/api/v1/auth/signup",
            &serde_json::json!({ "email": "ada@example.com", "password": "ValidPassword123!" }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{tokens}");
    let token = tokens["access_token"].as_str().unwrap().to_string();
    let me = || async {
        app.client
            .get(app.url("/api/v1/auth/me"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
    };
    let response = me().await;
    assert_eq!(response.status(), StatusCode::OK);
    // The account's own budget in the auth group (sign-up was counted for the address).
    assert_eq!(response.headers()["ratelimit-remaining"], "4");
    let signed_out = app
        .client
        .post(app.url("/api/v1/auth/signout"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(signed_out.status(), StatusCode::OK);
    assert_eq!(
        me().await.status(),
        StatusCode::UNAUTHORIZED,
        "revoked, though the limiter verified it"
    );
}
