//! OAuth sign-in end to end against a fake provider on loopback that speaks GitHub's and an
//! OpenID Connect issuer's documented endpoints: authorize (with PKCE), token, and the account
//! endpoints (`/user` + `/user/emails`, or `userinfo`). The fake checks what a real provider
//! checks: single-use codes, the PKCE verifier against the challenge, the redirect URI and the
//! client credentials.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::extract::{Form, Query, State};
use axum::http::{HeaderMap, StatusCode as AxumStatus, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine;
use reqwest::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use wattline::config::{OAuthProviderSettings, ProviderKind, Secret};

use crate::auth::sign_up;
use crate::helpers::{TestApp, assert_error};

const CALLBACK: &str = "http://wattline.test/api/v1/auth/oauth/callback";
const CLIENT_ID: &str = "wattline-client";
const CLIENT_SECRET: &str = "wattline-client-secret";
const BACK: &str = "https://app.example.com/signed-in?from=oauth";

/// An account at the fake provider.
#[derive(Clone)]
struct Account {
    subject: u64,
    name: &'static str,
    email: &'static str,
    verified: bool,
}

/// A code the fake handed out, with what it was issued for.
struct Grant {
    account: Account,
    challenge: String,
    redirect_uri: String,
}

#[derive(Default)]
struct Fake {
    accounts: HashMap<&'static str, Account>,
    grants: Mutex<HashMap<String, Grant>>,
    tokens: Mutex<HashMap<String, Account>>,
    token_requests: Mutex<u32>,
}

#[derive(Deserialize)]
struct AuthorizeQuery {
    response_type: String,
    client_id: String,
    redirect_uri: String,
    state: String,
    code_challenge: String,
    code_challenge_method: String,
    /// Not part of OAuth: the account the test's "user" signs in as.
    login: String,
}

async fn authorize(State(fake): State<Arc<Fake>>, Query(q): Query<AuthorizeQuery>) -> Response {
    assert_eq!(q.response_type, "code");
    assert_eq!(q.client_id, CLIENT_ID);
    assert_eq!(q.code_challenge_method, "S256", "PKCE with S256 only");
    let account = fake.accounts[q.login.as_str()].clone();
    let code = uuid::Uuid::new_v4().simple().to_string();
    fake.grants.lock().unwrap().insert(
        code.clone(),
        Grant {
            account,
            challenge: q.code_challenge,
            redirect_uri: q.redirect_uri.clone(),
        },
    );
    Redirect::to(&format!("{}?code={code}&state={}", q.redirect_uri, q.state)).into_response()
}

#[derive(Deserialize)]
struct TokenForm {
    grant_type: String,
    code: String,
    redirect_uri: String,
    code_verifier: String,
}

/// GitHub answers a bad code with 200 and an error object; OpenID Connect issuers with 400.
async fn token(
    State(fake): State<Arc<Fake>>,
    headers: HeaderMap,
    axum::extract::Path(flavour): axum::extract::Path<String>,
    Form(form): Form<TokenForm>,
) -> Response {
    *fake.token_requests.lock().unwrap() += 1;
    let basic =
        base64::engine::general_purpose::STANDARD.encode(format!("{CLIENT_ID}:{CLIENT_SECRET}"));
    let authorised = headers
        .get(header::AUTHORIZATION)
        .is_some_and(|v| v.to_str().unwrap() == format!("Basic {basic}"));
    let grant = fake.grants.lock().unwrap().remove(&form.code);
    let verifier_hash = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(Sha256::digest(form.code_verifier.as_bytes()));
    let valid = authorised
        && form.grant_type == "authorization_code"
        && grant
            .as_ref()
            .is_some_and(|g| g.challenge == verifier_hash && g.redirect_uri == form.redirect_uri);
    if !valid {
        return if flavour == "github" {
            Json(json!({
                "error": "bad_verification_code",
                "error_description": "The code passed is incorrect or expired.",
                "error_uri": "https://docs.github.com/apps/managing-oauth-apps/troubleshooting-oauth-app-access-token-request-errors/#bad-verification-code"
            }))
            .into_response()
        } else {
            (
                AxumStatus::BAD_REQUEST,
                Json(json!({ "error": "invalid_grant", "error_description": "Bad Request" })),
            )
                .into_response()
        };
    }
    let access = format!("gho_{}", uuid::Uuid::new_v4().simple());
    fake.tokens
        .lock()
        .unwrap()
        .insert(access.clone(), grant.unwrap().account);
    if flavour == "github" {
        Json(json!({ "access_token": access, "scope": "read:user,user:email", "token_type": "bearer" }))
            .into_response()
    } else {
        Json(json!({
            "access_token": access, "expires_in": 3599, "scope": "openid email profile",
            "token_type": "Bearer", "id_token": "eyJhbGciOiJSUzI1NiJ9.e30.c2ln"
        }))
        .into_response()
    }
}

fn account_of(fake: &Fake, headers: &HeaderMap) -> Option<Account> {
    let token = headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")?;
    fake.tokens.lock().unwrap().get(token).cloned()
}

async fn github_user(State(fake): State<Arc<Fake>>, headers: HeaderMap) -> Response {
    assert!(
        headers.contains_key(header::USER_AGENT),
        "GitHub requires a User-Agent"
    );
    match account_of(&fake, &headers) {
        Some(a) => Json(json!({
            "login": a.email.split('@').next(), "id": a.subject, "node_id": "MDQ6VXNlcjE=",
            "type": "User", "name": a.name, "email": null
        }))
        .into_response(),
        None => (
            AxumStatus::UNAUTHORIZED,
            Json(json!({ "message": "Bad credentials" })),
        )
            .into_response(),
    }
}

async fn github_emails(State(fake): State<Arc<Fake>>, headers: HeaderMap) -> Response {
    match account_of(&fake, &headers) {
        Some(a) => Json(json!([
            { "email": format!("old-{}", a.email), "verified": a.verified, "primary": false, "visibility": null },
            { "email": a.email, "verified": a.verified, "primary": true, "visibility": "public" }
        ]))
        .into_response(),
        None => AxumStatus::UNAUTHORIZED.into_response(),
    }
}

async fn userinfo(State(fake): State<Arc<Fake>>, headers: HeaderMap) -> Response {
    match account_of(&fake, &headers) {
        Some(a) => Json(json!({
            "sub": a.subject.to_string(), "name": a.name, "email": a.email,
            "email_verified": a.verified, "picture": "https://id.example/p.png"
        }))
        .into_response(),
        None => AxumStatus::UNAUTHORIZED.into_response(),
    }
}

async fn start_fake(accounts: &[(&'static str, Account)]) -> (SocketAddr, Arc<Fake>) {
    let fake = Arc::new(Fake {
        accounts: accounts.iter().cloned().collect(),
        ..Fake::default()
    });
    let router = Router::new()
        .route("/{flavour}/authorize", get(authorize))
        .route("/{flavour}/token", post(token))
        .route("/github/user", get(github_user))
        .route("/github/user/emails", get(github_emails))
        .route("/oidc/userinfo", get(userinfo))
        .with_state(fake.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    (addr, fake)
}

fn provider(addr: SocketAddr, kind: ProviderKind) -> OAuthProviderSettings {
    let flavour = if kind == ProviderKind::Github {
        "github"
    } else {
        "oidc"
    };
    OAuthProviderSettings {
        kind: Some(kind),
        client_id: CLIENT_ID.into(),
        client_secret: Some(Secret::new(CLIENT_SECRET)),
        authorize_url: Some(format!("http://{addr}/{flavour}/authorize")),
        token_url: Some(format!("http://{addr}/{flavour}/token")),
        userinfo_url: Some(if flavour == "github" {
            format!("http://{addr}/github/user")
        } else {
            format!("http://{addr}/oidc/userinfo")
        }),
        emails_url: (flavour == "github").then(|| format!("http://{addr}/github/user/emails")),
        scopes: None,
    }
}

fn octocat() -> Account {
    Account {
        subject: 583231,
        name: "The Octocat",
        email: "octocat@github.com",
        verified: true,
    }
}

async fn app_with_fake(accounts: &[(&'static str, Account)]) -> (TestApp, Arc<Fake>) {
    let (addr, fake) = start_fake(accounts).await;
    let app = TestApp::spawn_with(|s| {
        s.oauth.callback_url = CALLBACK.into();
        s.oauth
            .providers
            .insert("github".into(), provider(addr, ProviderKind::Github));
        s.oauth
            .providers
            .insert("acme".into(), provider(addr, ProviderKind::Oidc));
        s.auth.redirect_allowlist = vec!["app.example.com".into()];
    })
    .await;
    (app, fake)
}

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

fn query_of(url: &str) -> HashMap<String, String> {
    url::Url::parse(url)
        .unwrap()
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// Starts a sign-in; the authorize URL.
async fn start(app: &TestApp, provider: &str, redirect_url: &str) -> String {
    let (status, body) = app
        .post_body(
            "/api/v1/auth/signin/oauth",
            &json!({ "provider": provider, "redirect_url": redirect_url }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["url"].as_str().unwrap().to_string()
}

/// The user consents at the provider as `login`: the callback URL the provider sends them to.
async fn consent(authorize_url: &str, login: &str) -> String {
    let response = no_redirects()
        .get(format!("{authorize_url}&login={login}"))
        .send()
        .await
        .unwrap();
    assert!(response.status().is_redirection());
    let location = response.headers()["location"].to_str().unwrap().to_string();
    assert!(location.starts_with(CALLBACK), "{location}");
    location
}

/// Follows the provider's redirect into our callback: status and where it sends the browser.
async fn callback(app: &TestApp, provider_redirect: &str) -> (StatusCode, Option<String>, Value) {
    let query = provider_redirect.split_once('?').map_or("", |(_, q)| q);
    let response = no_redirects()
        .get(app.url(&format!("/api/v1/auth/oauth/callback?{query}")))
        .send()
        .await
        .unwrap();
    let status = response.status();
    let location = response
        .headers()
        .get("location")
        .map(|v| v.to_str().unwrap().to_string());
    (status, location, response.json().await.unwrap_or_default())
}

/// One full sign-in as `login`; the tokens.
async fn sign_in_as(app: &TestApp, provider: &str, login: &str) -> Value {
    let url = start(app, provider, BACK).await;
    let (status, location, _) = callback(app, &consent(&url, login).await).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let location = location.unwrap();
    assert!(location.starts_with(BACK), "{location}");
    let code = &query_of(&location)["code"];
    let (status, tokens) = app
        .post_body("/api/v1/auth/oauth/exchange", &json!({ "code": code }))
        .await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    tokens
}

async fn me(app: &TestApp, tokens: &Value) -> Value {
    let (status, body, _) = crate::auth::get_with(
        app,
        "/api/v1/auth/me",
        &format!("Bearer {}", tokens["access_token"].as_str().unwrap()),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

#[tokio::test]
async fn github_sign_in_creates_a_verified_user_with_pkce_and_a_one_time_code() {
    let (app, fake) = app_with_fake(&[("octocat", octocat())]).await;
    let url = start(&app, "github", BACK).await;
    let params = query_of(&url);
    assert_eq!(params["response_type"], "code");
    assert_eq!(params["client_id"], CLIENT_ID);
    assert_eq!(params["redirect_uri"], CALLBACK);
    assert_eq!(params["code_challenge_method"], "S256");
    assert_eq!(
        params["code_challenge"].len(),
        43,
        "S256 challenge, base64url"
    );
    assert!(params["scope"].contains("user:email"), "{url}");
    assert!(params["state"].len() >= 32, "an unguessable state");

    let provider_redirect = consent(&url, "octocat").await;
    let (status, location, _) = callback(&app, &provider_redirect).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let location = location.unwrap();
    let back = query_of(&location);
    assert_eq!(back["from"], "oauth", "the client's own query is kept");
    assert!(!location.contains("access_token") && !location.contains("gho_"));
    let code = back["code"].clone();

    // The provider's redirect is single-use: the state is gone.
    let (status, _, body) = callback(&app, &provider_redirect).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_error(&body, "invalid_state");

    let (status, tokens) = app
        .post_body("/api/v1/auth/oauth/exchange", &json!({ "code": code }))
        .await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    let user = me(&app, &tokens).await;
    assert_eq!(
        user["email"], "octocat@github.com",
        "the primary verified address"
    );
    assert_eq!(user["email_verified"], true);
    assert_eq!(user["name"], "The Octocat");
    // So is the one-time code.
    let (status, body) = app
        .post_body("/api/v1/auth/oauth/exchange", &json!({ "code": code }))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_error(&body, "invalid_code");

    // Signing in again finds the same user through the linked provider account.
    let again = sign_in_as(&app, "github", "octocat").await;
    assert_eq!(me(&app, &again).await["id"], user["id"]);
    assert_eq!(*fake.token_requests.lock().unwrap(), 2);
}

#[tokio::test]
async fn an_oidc_sign_in_links_an_existing_account_by_its_verified_email() {
    let jane = Account {
        subject: 248289761001,
        name: "Jane Doe",
        email: "jane@example.com",
        verified: true,
    };
    let (app, _fake) = app_with_fake(&[("jane", jane)]).await;
    let password_tokens = sign_up(&app, "Jane@Example.com").await;
    let before = me(&app, &password_tokens).await;
    assert_eq!(before["email_verified"], false);

    let tokens = sign_in_as(&app, "acme", "jane").await;
    let after = me(&app, &tokens).await;
    assert_eq!(after["id"], before["id"], "linked, not a second account");
    assert_eq!(after["email_verified"], true, "the provider verified it");
    // The password still works for the same account.
    let (status, _) = app
        .post_body(
            "/api/v1/auth/signin",
            &json!({ "email": "jane@example.com", "password": "ValidPassword123!" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn an_unverified_provider_email_signs_nobody_in() {
    let mallory = Account {
        subject: 666,
        name: "Mallory",
        email: "victim@example.com",
        verified: false,
    };
    let (app, _fake) = app_with_fake(&[("mallory", mallory)]).await;
    for provider in ["acme", "github"] {
        let url = start(&app, provider, BACK).await;
        let (status, location, _) = callback(&app, &consent(&url, "mallory").await).await;
        assert_eq!(status, StatusCode::SEE_OTHER);
        let back = query_of(&location.unwrap());
        assert_eq!(back["error"], "email_not_verified", "{provider}");
        assert!(!back.contains_key("code"));
    }
    // No account was created or claimed for that address.
    sign_up(&app, "victim@example.com").await;
}

#[tokio::test]
async fn wrong_codes_forged_states_and_bad_requests_are_refused() {
    let (app, _fake) = app_with_fake(&[("octocat", octocat())]).await;
    for provider in ["github", "acme"] {
        // A code the provider never issued (or one issued for another verifier).
        let url = start(&app, provider, BACK).await;
        let state = &query_of(&url)["state"];
        let (status, location, _) =
            callback(&app, &format!("{CALLBACK}?code=wrong&state={state}")).await;
        assert_eq!(status, StatusCode::SEE_OTHER);
        let back = query_of(&location.unwrap());
        assert_eq!(back["error"], "access_denied", "{provider}");
        assert!(!back.contains_key("code"));
    }
    // The user declined at the provider.
    let url = start(&app, "github", BACK).await;
    let state = &query_of(&url)["state"];
    let (_, location, _) = callback(
        &app,
        &format!("{CALLBACK}?error=access_denied&state={state}"),
    )
    .await;
    assert_eq!(query_of(&location.unwrap())["error"], "access_denied");
    // No state, or one this server never issued: 400, no redirect anywhere.
    for query in ["code=abc", "code=abc&state=forged", "state=", ""] {
        let (status, location, body) = callback(&app, &format!("{CALLBACK}?{query}")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}");
        assert_eq!(location, None);
        assert_error(&body, "invalid_state");
    }
    // Starting: unknown provider 400, redirect off the allowlist 422.
    let (status, body) = app
        .post_body(
            "/api/v1/auth/signin/oauth",
            &json!({ "provider": "myspace", "redirect_url": BACK }),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(assert_error(&body, "unknown_provider").contains("acme, github"));
    for redirect in [
        "https://evil.example.net/",
        "http://app.example.com/",
        "https://app.example.com.evil.net/",
        "not a url",
    ] {
        let (status, body) = app
            .post_body(
                "/api/v1/auth/signin/oauth",
                &json!({ "provider": "github", "redirect_url": redirect }),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{redirect}");
        assert_error(&body, "redirect_not_allowed");
    }
    let (status, body) = app
        .post_body("/api/v1/auth/oauth/exchange", &json!({ "code": "" }))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_error(&body, "invalid_code");
}

/// Two nodes sharing Redis and the database (PostgreSQL when configured): a sign-in started on
/// one finishes on the other, and its state and code still work once only, cluster-wide.
#[tokio::test]
async fn a_sign_in_started_on_one_node_finishes_on_another_once() {
    use crate::cluster::{node_settings, redis_url, shared_database};
    let Some(redis) = redis_url() else { return };
    let (addr, _fake) = start_fake(&[("octocat", octocat())]).await;
    let dir = tempfile::tempdir().unwrap();
    let database = shared_database(dir.path()).await;
    let prefix = format!("wattline_test_{}", uuid::Uuid::new_v4().simple());
    let node = |name: &str| {
        let mut s = node_settings(dir.path(), &database, &redis, &prefix, name);
        s.oauth.callback_url = CALLBACK.into();
        s.oauth
            .providers
            .insert("github".into(), provider(addr, ProviderKind::Github));
        s.auth.redirect_allowlist = vec!["app.example.com".into()];
        s
    };
    let now = crate::helpers::NOW.parse().unwrap();
    let a = TestApp::start(node("node-a"), now).await;
    let b = TestApp::start(node("node-b"), now).await;

    let url = start(&a, "github", BACK).await;
    let provider_redirect = consent(&url, "octocat").await;
    let (status, location, _) = callback(&b, &provider_redirect).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let code = query_of(&location.unwrap())["code"].clone();
    let (status, _, body) = callback(&a, &provider_redirect).await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "the state was used on node b"
    );
    assert_error(&body, "invalid_state");

    let (status, tokens) = a
        .post_body("/api/v1/auth/oauth/exchange", &json!({ "code": code }))
        .await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    let (status, _) = b
        .post_body("/api/v1/auth/oauth/exchange", &json!({ "code": code }))
        .await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "the code was used on node a"
    );
    assert_eq!(me(&b, &tokens).await["email"], "octocat@github.com");
}
