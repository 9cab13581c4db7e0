//! `/api/v1/billing`: Checkout and the Billing Portal against a loopback fake answering Stripe's
//! documented JSON (localstripe has neither), signed webhooks built here (replays, bad and stale
//! signatures, out-of-order updates), each event stored once and applied once by the
//! BillingWorker, 503 without a Stripe key, and an event stored just before a kill -9 applied
//! once after the restart.

use std::time::Duration;

use jiff::Timestamp;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use wattline::config::Secret;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::{NOW, TestApp, assert_error, eventually};

const WHSEC: &str = "whsec_wattline_test_secret";
const SUCCESS: &str = "https://app.example.com/billing/success";
const CANCEL: &str = "https://app.example.com/billing/cancel";

fn now() -> i64 {
    NOW.parse::<Timestamp>().unwrap().as_second()
}

use crate::stripe::event;

fn completed_checkout(user_id: &str, tier: &str, customer: &str) -> Value {
    crate::stripe::completed_checkout(user_id, tier, customer, now())
}

fn subscription(user_id: &str, tier: &str, status: &str, period_end: i64) -> Value {
    crate::stripe::subscription(user_id, tier, status, period_end, now())
}

fn invoice(amount: i64) -> Value {
    crate::stripe::invoice(amount, now())
}

/// `Stripe-Signature` for `payload` signed at `t`.
pub fn signature(payload: &str, t: i64) -> String {
    stripe_webhook::Webhook::generate_test_header(payload, WHSEC, Some(t))
}

/// POSTs `payload` to the webhook with `signature` (none when `None`).
pub async fn deliver(app: &TestApp, payload: &str, signature: Option<&str>) -> (StatusCode, Value) {
    let mut request = app
        .client
        .post(app.url("/api/v1/billing/webhook"))
        .header("content-type", "application/json")
        .body(payload.to_string());
    if let Some(signature) = signature {
        request = request.header("stripe-signature", signature);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or_default())
}

/// Delivers a correctly signed event; asserts it was accepted.
async fn deliver_signed(app: &TestApp, payload: &str) -> Value {
    let (status, body) = deliver(app, payload, Some(&signature(payload, now()))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

/// A loopback stand-in for Stripe's Checkout and Billing Portal session endpoints, answering
/// their documented JSON.
async fn fake_stripe() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/checkout/sessions"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "id": "cs_test_1", "object": "checkout.session", "automatic_tax": {"enabled": false},
            "created": now(), "custom_fields": [], "custom_text": {}, "expires_at": now() + 86_400,
            "livemode": false, "mode": "subscription", "payment_method_types": ["card"],
            "payment_status": "unpaid", "shipping_options": [], "status": "open",
            "url": "https://checkout.stripe.com/c/pay/cs_test_1"
        })))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/v1/billing_portal/sessions"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "id": "bps_1", "object": "billing_portal.session", "configuration": "bpc_1",
            "created": now(), "customer": "cus_1", "livemode": false,
            "return_url": SUCCESS, "url": "https://billing.stripe.com/p/session/test_1"
        })))
        .mount(&server)
        .await;
    server
}

/// The form fields Stripe received on `path`, in order of the calls.
async fn forms(server: &MockServer, at: &str) -> Vec<Vec<(String, String)>> {
    server
        .received_requests()
        .await
        .unwrap_or_default()
        .into_iter()
        .filter(|r| r.url.path() == at)
        .map(|r| {
            form_urlencoded::parse(&r.body)
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect()
        })
        .collect()
}

fn field<'a>(form: &'a [(String, String)], name: &str) -> Option<&'a str> {
    form.iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// An app with Stripe configured against `stripe`.
async fn billing_app(stripe: &MockServer) -> TestApp {
    let base = stripe.uri();
    TestApp::spawn_with(move |s| {
        s.billing.api_base = base.parse().unwrap();
        s.billing.secret_key = Some(Secret::new("sk_test_wattline"));
        s.billing.webhook_secret = Some(Secret::new(WHSEC));
        s.billing.pro_price = Some("price_pro".into());
        s.billing.business_price = Some("price_business".into());
        s.auth.redirect_allowlist = vec!["app.example.com".into()];
    })
    .await
}

async fn user_id(app: &TestApp, token: &str) -> String {
    let (_, me) = app.call(Method::GET, "/api/v1/auth/me", token, None).await;
    me["id"].as_str().unwrap().to_string()
}

/// Delivers a signed `checkout.session.completed` (event `event_id`, 100 s old) making
/// the user `id` a `tier` customer `customer`, and waits until it is applied.
async fn subscribe(
    app: &TestApp,
    token: &str,
    id: &str,
    tier: &str,
    customer: &str,
    event_id: &str,
) {
    deliver_signed(
        app,
        &event(
            event_id,
            "checkout.session.completed",
            now() - 100,
            completed_checkout(id, tier, customer),
        ),
    )
    .await;
    eventually(tier, async || {
        subscription_of(app, token).await["tier"] == tier
    })
    .await;
}

/// Delivers a signed `customer.subscription.deleted` created `age` seconds ago and waits until
/// the user is free.
async fn cancel(app: &TestApp, token: &str, id: &str, event_id: &str, age: i64) {
    deliver_signed(
        app,
        &event(
            event_id,
            "customer.subscription.deleted",
            now() - age,
            subscription(id, "pro", "canceled", now()),
        ),
    )
    .await;
    eventually("free after the deletion", async || {
        subscription_of(app, token).await["status"] == "canceled"
    })
    .await;
}

async fn subscription_of(app: &TestApp, token: &str) -> Value {
    let (status, body) = app
        .call(Method::GET, "/api/v1/billing/subscription", token, None)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

#[tokio::test]
async fn checkout_then_the_signed_completion_makes_the_user_pro_once() {
    let stripe = fake_stripe().await;
    let app = billing_app(&stripe).await;
    let token = app.signed_up("ada@example.com").await;
    let id = user_id(&app, &token).await;
    let free = subscription_of(&app, &token).await;
    assert_eq!(free["tier"], "free");
    assert_eq!(free["status"], "none");
    assert_eq!(free["has_active_subscription"], false);

    let request = json!({"tier": "pro", "success_url": SUCCESS, "cancel_url": CANCEL});
    let (status, session) = app
        .call(
            Method::POST,
            "/api/v1/billing/checkout",
            &token,
            Some(&request),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{session}");
    assert_eq!(session["session_id"], "cs_test_1");
    assert_eq!(
        session["checkout_url"],
        "https://checkout.stripe.com/c/pay/cs_test_1"
    );
    let sent = forms(&stripe, "/v1/checkout/sessions").await;
    let form = &sent[0];
    assert_eq!(field(form, "mode"), Some("subscription"));
    assert_eq!(field(form, "line_items[0][price]"), Some("price_pro"));
    assert_eq!(field(form, "customer_email"), Some("ada@example.com"));
    assert_eq!(field(form, "client_reference_id"), Some(id.as_str()));
    assert_eq!(field(form, "metadata[user_id]"), Some(id.as_str()));
    assert_eq!(
        field(form, "subscription_data[metadata][tier]"),
        Some("pro")
    );
    assert_eq!(field(form, "success_url"), Some(SUCCESS));

    // Stripe tells us the checkout completed.
    let completed = event(
        "evt_checkout_1",
        "checkout.session.completed",
        now() - 50,
        completed_checkout(&id, "pro", "cus_1"),
    );
    let body = deliver_signed(&app, &completed).await;
    assert_eq!(body, json!({"received": true, "handled": true}));
    eventually("the user is pro", async || {
        subscription_of(&app, &token).await["tier"] == "pro"
    })
    .await;
    let pro = subscription_of(&app, &token).await;
    assert_eq!(pro["status"], "active");
    assert_eq!(pro["has_active_subscription"], true);
    let (_, me) = app.call(Method::GET, "/api/v1/auth/me", &token, None).await;
    assert_eq!(me["tier"], "pro");

    // The subscription's own event brings the period end.
    let period_end = now() + 30 * 86_400;
    deliver_signed(
        &app,
        &event(
            "evt_sub_created",
            "customer.subscription.created",
            now() - 40,
            subscription(&id, "pro", "active", period_end),
        ),
    )
    .await;
    eventually("the period end is stored", async || {
        !subscription_of(&app, &token).await["current_period_end"].is_null()
    })
    .await;
    let with_period = subscription_of(&app, &token).await;
    assert_eq!(
        crate::helpers::ts(&with_period["current_period_end"]).as_second(),
        period_end
    );
    assert_eq!(with_period["cancel_at_period_end"], true);

    // An invoice paid: one receipt, however often Stripe delivers the event.
    let paid = event("evt_paid_1", "invoice.paid", now() - 30, invoice(900));
    deliver_signed(&app, &paid).await;
    let replay = deliver_signed(&app, &paid).await;
    assert_eq!(replay["duplicate"], true);
    let replayed_checkout = deliver_signed(&app, &completed).await;
    assert_eq!(replayed_checkout["duplicate"], true);
    let receipts = || {
        app.emails()
            .iter()
            .filter(|m| m.contains("Subject: Your Wattline payment was received"))
            .count()
    };
    eventually("the receipt", async || receipts() == 1).await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(receipts(), 1, "a replayed event sends nothing again");
    assert!(app.emails().iter().any(|m| m.contains("9.00 EUR")));

    // The portal opens for the stored customer; a second checkout reuses it.
    let (status, portal) = app
        .call(
            Method::POST,
            "/api/v1/billing/portal",
            &token,
            Some(&json!({"return_url": SUCCESS})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{portal}");
    assert_eq!(
        portal["portal_url"],
        "https://billing.stripe.com/p/session/test_1"
    );
    let portal_form = &forms(&stripe, "/v1/billing_portal/sessions").await[0];
    assert_eq!(field(portal_form, "customer"), Some("cus_1"));
    assert_eq!(field(portal_form, "return_url"), Some(SUCCESS));
    let upgrade = json!({"tier": "business", "success_url": SUCCESS, "cancel_url": CANCEL});
    let (status, _) = app
        .call(
            Method::POST,
            "/api/v1/billing/checkout",
            &token,
            Some(&upgrade),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let second = &forms(&stripe, "/v1/checkout/sessions").await[1];
    assert_eq!(field(second, "customer"), Some("cus_1"));
    assert_eq!(field(second, "customer_email"), None);
    assert_eq!(
        field(second, "line_items[0][price]"),
        Some("price_business")
    );

    // A failing payment: the user is told, the tier is kept through the grace period.
    deliver_signed(
        &app,
        &event(
            "evt_failed_1",
            "invoice.payment_failed",
            now() - 20,
            invoice(900),
        ),
    )
    .await;
    eventually("past due", async || {
        subscription_of(&app, &token).await["status"] == "past_due"
    })
    .await;
    let past_due = subscription_of(&app, &token).await;
    assert_eq!(past_due["tier"], "pro");
    assert!(past_due["grace_until"].is_string());
    eventually("the payment-failed email", async || {
        app.emails()
            .iter()
            .any(|m| m.contains("Subject: Your Wattline payment failed"))
    })
    .await;
}

#[tokio::test]
async fn an_update_older_than_the_deletion_is_ignored() {
    let stripe = fake_stripe().await;
    let app = billing_app(&stripe).await;
    let token = app.signed_up("grace@example.com").await;
    let id = user_id(&app, &token).await;
    subscribe(&app, &token, &id, "pro", "cus_1", "evt_c").await;
    cancel(&app, &token, &id, "evt_deleted", 20).await;
    // Stripe delivers an update created before the deletion last.
    deliver_signed(
        &app,
        &event(
            "evt_late_update",
            "customer.subscription.updated",
            now() - 50,
            subscription(&id, "business", "active", now() + 86_400),
        ),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    let after = subscription_of(&app, &token).await;
    assert_eq!(after["tier"], "free", "{after}");
    assert_eq!(after["status"], "canceled");
    assert_eq!(after["has_active_subscription"], false);
    // A newer update applies.
    deliver_signed(
        &app,
        &event(
            "evt_new_update",
            "customer.subscription.updated",
            now() - 10,
            subscription(&id, "business", "active", now() + 86_400),
        ),
    )
    .await;
    eventually("business after a newer update", async || {
        subscription_of(&app, &token).await["tier"] == "business"
    })
    .await;
}

#[tokio::test]
async fn bad_requests_and_bad_signatures_are_refused_clearly() {
    let stripe = fake_stripe().await;
    let app = billing_app(&stripe).await;
    let token = app.signed_up("eve@example.com").await;
    let checkout = |tier: &str, success: &str| json!({"tier": tier, "success_url": success, "cancel_url": CANCEL});
    // No token → 401, before the body is looked at.
    let (status, body) = app
        .post_body("/api/v1/billing/checkout", &json!({"tier": "gold"}))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    for (request, code) in [
        (checkout("gold", SUCCESS), "invalid_field"),
        (checkout("free", SUCCESS), "invalid_field"),
        (
            checkout("pro", "https://evil.example.net/x"),
            "redirect_not_allowed",
        ),
        (checkout("pro", "not a url"), "redirect_not_allowed"),
        (json!({"tier": "pro"}), "invalid_body"),
    ] {
        let (status, body) = app
            .call(
                Method::POST,
                "/api/v1/billing/checkout",
                &token,
                Some(&request),
            )
            .await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{request}: {body}"
        );
        assert_error(&body, code);
    }
    // No customer yet → 404 from the portal.
    let (status, body) = app
        .call(
            Method::POST,
            "/api/v1/billing/portal",
            &token,
            Some(&json!({"return_url": SUCCESS})),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_error(&body, "no_billing_customer");

    let payload = event(
        "evt_x",
        "checkout.session.completed",
        now(),
        completed_checkout("nobody", "pro", "cus_9"),
    );
    let (status, body) = deliver(&app, &payload, None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_error(&body, "missing_signature");
    let forged =
        stripe_webhook::Webhook::generate_test_header(&payload, "whsec_other", Some(now()));
    let (status, body) = deliver(&app, &payload, Some(&forged)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_error(&body, "invalid_signature");
    let (status, body) = deliver(&app, &payload, Some(&signature(&payload, now() - 301))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_error(&body, "invalid_signature");
    let (status, body) = deliver(&app, &payload, Some("t=abc,v1=00")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_error(&body, "invalid_signature");
    // Signed but altered in transit.
    let altered = payload.replace("cus_9", "cus_8");
    let (status, _) = deliver(&app, &altered, Some(&signature(&payload, now()))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    // Signed, but not an event.
    let junk = r#"{"hello": "world"}"#;
    let (status, body) = deliver(&app, junk, Some(&signature(junk, now()))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_error(&body, "invalid_event");
    // A type billing does not act on is acknowledged and not stored.
    let other = event(
        "evt_other",
        "customer.created",
        now(),
        json!({"id": "cus_1", "object": "customer", "created": now(), "livemode": false}),
    );
    let body = deliver_signed(&app, &other).await;
    assert_eq!(body, json!({"received": true, "handled": false}));
    // An event about nobody we know is stored, settled, and changes nothing.
    let body = deliver_signed(&app, &payload).await;
    assert_eq!(body["handled"], true);
    assert_eq!(subscription_of(&app, &token).await["tier"], "free");
}

#[tokio::test]
async fn without_a_stripe_key_billing_answers_503_and_the_rest_works() {
    let app = TestApp::spawn_with(|s| {
        s.auth.redirect_allowlist = vec!["app.example.com".into()];
    })
    .await;
    let token = app.signed_up("sam@example.com").await;
    // 401 first, then 422, then 503.
    let (status, _) = app.post_body("/api/v1/billing/checkout", &json!({})).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let bad = json!({"tier": "platinum", "success_url": SUCCESS, "cancel_url": CANCEL});
    let (status, _) = app
        .call(Method::POST, "/api/v1/billing/checkout", &token, Some(&bad))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let good = json!({"tier": "pro", "success_url": SUCCESS, "cancel_url": CANCEL});
    let (status, body) = app
        .call(
            Method::POST,
            "/api/v1/billing/checkout",
            &token,
            Some(&good),
        )
        .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    let message = assert_error(&body, "billing_not_configured");
    assert!(
        message.contains("WATTLINE_BILLING__SECRET_KEY"),
        "{message}"
    );
    let (status, body) = app
        .call(
            Method::POST,
            "/api/v1/billing/portal",
            &token,
            Some(&json!({"return_url": SUCCESS})),
        )
        .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    let (status, body) = deliver(&app, "{}", Some("t=1,v1=00")).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_error(&body, "billing_not_configured");
    // The stored subscription and everything else keep working.
    assert_eq!(subscription_of(&app, &token).await["tier"], "free");
    let (status, _) = app.get_json("/api/v1/prices/current?region=uk").await;
    assert_eq!(status, StatusCode::OK);
}

/// The binary with billing configured; returns it and its address.
fn start_binary(database: &str, poll_every: &str) -> (std::process::Child, String) {
    let (child, address, _log) = crate::helpers::spawn_binary(&[
        ("WATTLINE_STORAGE__DATABASE_URL", database),
        ("WATTLINE_FORECAST__ENABLED", "false"),
        ("WATTLINE_FORECAST__BOOTSTRAP_DAYS", "0"),
        ("WATTLINE_RATE_LIMIT__ENABLED", "false"),
        ("WATTLINE_WORKERS__POLL_EVERY", poll_every),
        ("WATTLINE_BILLING__WEBHOOK_SECRET", WHSEC),
        ("WATTLINE_CLOCK__START", NOW),
    ]);
    (child, address)
}

#[tokio::test]
async fn an_event_stored_before_a_kill_9_is_applied_once_after_the_restart() {
    let dir = tempfile::tempdir().unwrap();
    let database = format!("sqlite://{}/billing.sqlite3", dir.path().display());
    // The worker polls once at start and then not for an hour: the event stays queued.
    let (mut first, address) = start_binary(&database, "1h");
    let client = reqwest::Client::new();
    let url = |path: &str| format!("http://{address}{path}");
    let tokens: Value = client
        .post(url("/api/v1/auth/signup"))
        .json(&json!({"email": "kim@example.com", "password": "ValidPassword123!"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = tokens["access_token"].as_str().unwrap();
    let me: Value = client
        .get(url("/api/v1/auth/me"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = me["id"].as_str().unwrap();
    let payload = event(
        "evt_before_kill",
        "checkout.session.completed",
        now() - 10,
        completed_checkout(id, "business", "cus_k"),
    );
    let response = client
        .post(url("/api/v1/billing/webhook"))
        .header("stripe-signature", signature(&payload, now()))
        .body(payload)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    first.kill().unwrap();
    first.wait().unwrap();

    let storage = wattline::storage::Storage::open(
        &database,
        &wattline::storage::StorageOptions {
            max_connections: 1,
            acquire_timeout: Duration::from_secs(10),
        },
    )
    .await
    .unwrap();
    let stored = storage
        .billing_event_row("evt_before_kill")
        .await
        .unwrap()
        .expect("stored before the kill");
    assert!(stored.processed_at.is_none(), "not applied before the kill");
    assert!(storage.billing_account_of(id).await.unwrap().is_none());

    let (mut second, _) = start_binary(&database, "50ms");
    for _ in 0..200 {
        if storage
            .billing_event_row("evt_before_kill")
            .await
            .unwrap()
            .is_some_and(|e| e.processed_at.is_some())
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    second.kill().unwrap();
    second.wait().unwrap();
    let event = storage
        .billing_event_row("evt_before_kill")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(event.outcome.as_deref(), Some("applied"));
    let account = storage.billing_account_of(id).await.unwrap().unwrap();
    assert_eq!(account.tier, "business");
    assert_eq!(account.customer_id.as_deref(), Some("cus_k"));
    assert_eq!(account.version, 1, "applied once");
    let user = storage.user_by_id(id).await.unwrap().unwrap();
    assert_eq!(user.tier, "business");
    storage.close().await;
}

/// localstripe's address, or `None` to skip (a failure when CI is set).
fn localstripe() -> Option<String> {
    match std::env::var("TEST_STRIPE_URL") {
        Ok(url) => Some(url.trim_end_matches('/').to_string()),
        Err(_) => {
            assert!(
                std::env::var_os("CI").is_none(),
                "CI is set but TEST_STRIPE_URL is not: the localstripe tests cannot run"
            );
            eprintln!("TEST_STRIPE_URL not set; skipping");
            None
        }
    }
}

#[tokio::test]
async fn erasure_exports_billing_then_deletes_the_stripe_customer_at_localstripe() {
    let Some(base) = localstripe() else {
        return;
    };
    const KEY: &str = "sk_test_wattline";
    wattline::providers::http::install_crypto_provider();
    let stripe = reqwest::Client::new();
    // The customer as Checkout would have made it.
    let customer: Value = stripe
        .post(format!("{base}/v1/customers"))
        .bearer_auth(KEY)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("email=lin%40example.com")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let customer_id = customer["id"].as_str().unwrap().to_string();
    let dir = tempfile::tempdir().unwrap();
    let mut settings = crate::helpers::test_settings(dir.path());
    settings.billing.api_base = format!("{base}/").parse().unwrap();
    settings.billing.secret_key = Some(Secret::new(KEY));
    settings.billing.webhook_secret = Some(Secret::new(WHSEC));
    let app = TestApp::start(settings, NOW.parse().unwrap()).await;
    let token = app.signed_up("lin@example.com").await;
    let id = user_id(&app, &token).await;
    subscribe(&app, &token, &id, "pro", &customer_id, "evt_lin").await;

    // The export carries the billing state and the events about the user.
    let (status, export) = app
        .call(Method::GET, "/api/v1/compliance/gdpr/export", &token, None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        export["tables"]["billing_accounts"][0]["customer_id"],
        customer_id.as_str()
    );
    assert_eq!(export["tables"]["billing_events"][0]["id"], "evt_lin");

    let (status, deleted) = app
        .call(
            Method::DELETE,
            "/api/v1/compliance/gdpr/delete-my-data",
            &token,
            Some(&json!({"confirmation": true})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{deleted}");
    assert!(
        deleted["deleted_categories"]
            .as_array()
            .unwrap()
            .contains(&json!("billing"))
    );
    // The GdprWorker deletes the customer at Stripe.
    let customer_url = format!("{base}/v1/customers/{customer_id}");
    eventually("the Stripe customer is deleted", async || {
        stripe
            .get(&customer_url)
            .bearer_auth(KEY)
            .send()
            .await
            .unwrap()
            .status()
            == StatusCode::NOT_FOUND
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    app.stop().await.unwrap();
    let url = format!("sqlite://{}", dir.path().join("wattline.sqlite3").display());
    let leftovers = crate::leftovers::tables_mentioning(
        &url,
        &["lin@example.com", &id, &customer_id, "evt_lin"],
    )
    .await;
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[tokio::test]
async fn business_accounts_make_their_own_api_keys_which_carry_their_tier() {
    let stripe = fake_stripe().await;
    let app = billing_app(&stripe).await;
    let token = app.signed_up("biz@example.com").await;
    let keys = "/api/v1/auth/api-keys";
    let (status, body) = app
        .call(Method::POST, keys, &token, Some(&json!({"name": "etl"})))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(assert_error(&body, "tier_limit").contains("business"));

    let id = user_id(&app, &token).await;
    subscribe(&app, &token, &id, "business", "cus_b", "evt_biz").await;
    let (status, created) = app
        .call(Method::POST, keys, &token, Some(&json!({"name": "etl"})))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["scopes"], json!(["read"]));
    let key = created["key"].as_str().unwrap().to_string();
    let (status, list) = app.call(Method::GET, keys, &token, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list["keys"][0]["id"], created["id"]);
    assert!(list["keys"][0].get("key").is_none(), "never listed again");
    assert!(!list.to_string().contains(&key));

    // The key acts for its owner: past the free forecast horizon while the owner is business.
    let forecast = |key: String| {
        let app = &app;
        async move {
            app.client
                .get(app.url("/api/v1/prices/forecast?region=germany&hours=72"))
                .header("x-api-key", key)
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    assert_ne!(forecast(key.clone()).await, StatusCode::FORBIDDEN);
    cancel(&app, &token, &id, "evt_biz_end", 5).await;
    assert_eq!(forecast(key.clone()).await, StatusCode::FORBIDDEN);

    let key_id = created["id"].as_str().unwrap();
    let (status, _) = app
        .call(Method::DELETE, &format!("{keys}/{key_id}"), &token, None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, body) = app
        .call(Method::DELETE, &format!("{keys}/{key_id}"), &token, None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_error(&body, "api_key_not_found");
    assert_eq!(forecast(key).await, StatusCode::UNAUTHORIZED);
    // Another user cannot see or revoke the key.
    let other = app.signed_up("other@example.com").await;
    let (_, list) = app.call(Method::GET, keys, &other, None).await;
    assert_eq!(list["keys"], json!([]));
}
