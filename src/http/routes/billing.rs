//! `/api/v1/billing`: Stripe Checkout for the paid tiers and the Billing Portal (bearer), the
//! subscription as stored (bearer), and Stripe's webhook (signed, no token). The webhook only
//! verifies and stores: each event once by id, with the job that applies it in the same
//! transaction; the BillingWorker applies it.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use wattline_actors::domain::billing::{BillingAccount, Tier};
use wattline_actors::workers::billing::{APPLY_EVENT, BILLING_QUEUE};

use crate::billing::webhook::{self, ParsedEvent, WebhookRefusal};
use crate::billing::{CheckoutRequest as StripeCheckout, StripeBilling};
use crate::error::ApiError;
use crate::http::bearer::{Bearer, account_of};
use crate::http::dto::ErrorResponse;
use crate::http::extract::AppJson;
use crate::http::state::AppState;
use crate::storage::billing::BillingEventRow;
use crate::storage::jobs::NewJob;

/// Routes under `/api/v1/billing`.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(checkout))
        .routes(routes!(portal))
        .routes(routes!(subscription))
        .routes(routes!(stripe_webhook))
}

/// A plan to buy.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckoutRequest {
    /// `pro` or `business`.
    #[schema(max_length = 20)]
    tier: String,
    /// Where Stripe sends the browser after paying (on the redirect allowlist).
    #[schema(max_length = 2048)]
    success_url: String,
    /// Where Stripe sends the browser when the user gives up (on the redirect allowlist).
    #[schema(max_length = 2048)]
    cancel_url: String,
}

/// A Checkout session to send the browser to.
#[derive(Debug, Serialize, ToSchema)]
pub struct CheckoutResponse {
    session_id: String,
    checkout_url: String,
}

/// Where to come back to from the portal.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PortalRequest {
    /// On the redirect allowlist.
    #[schema(max_length = 2048)]
    return_url: String,
}

/// A Billing Portal session.
#[derive(Debug, Serialize, ToSchema)]
pub struct PortalResponse {
    portal_url: String,
}

/// The subscription as the last applied Stripe event left it.
#[derive(Debug, Serialize, ToSchema)]
pub struct SubscriptionView {
    /// `free`, `pro` or `business`.
    tier: String,
    /// Stripe's status (`active`, `trialing`, `past_due`, `canceled`, …), `none` before any.
    status: String,
    has_active_subscription: bool,
    current_period_end: Option<Timestamp>,
    cancel_at_period_end: bool,
    /// While a payment fails, the paid tier is kept until then.
    #[serde(skip_serializing_if = "Option::is_none")]
    grace_until: Option<Timestamp>,
}

/// What the webhook did with an event.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookResponse {
    received: bool,
    /// False for event types billing does not act on.
    handled: bool,
    /// True when this event id was received before (nothing changes).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    duplicate: bool,
}

fn checked_redirect(state: &AppState, url: &str) -> Result<String, ApiError> {
    Ok(state.accounts().redirects.check(url)?.to_string())
}

fn stripe(state: &AppState) -> Result<&StripeBilling, ApiError> {
    state.billing().ok_or(ApiError::BillingNotConfigured(
        "set WATTLINE_BILLING__SECRET_KEY (and the plans' price ids) to offer paid plans",
    ))
}

/// Starts a Stripe Checkout for `pro` or `business`; reuses the user's Stripe customer when
/// there is one. The session and the subscription carry `{user_id, tier}` as metadata.
#[utoipa::path(post, path = "/checkout", request_body = CheckoutRequest, tag = "billing",
    security(("bearer" = [])),
    responses((status = 200, body = CheckoutResponse), (status = 400, body = ErrorResponse),
              (status = 401, body = ErrorResponse), (status = 422, body = ErrorResponse),
              (status = 502, body = ErrorResponse), (status = 503, body = ErrorResponse)))]
pub async fn checkout(
    State(state): State<AppState>,
    Bearer(claims): Bearer,
    AppJson(request): AppJson<CheckoutRequest>,
) -> Result<Json<CheckoutResponse>, ApiError> {
    let tier = request
        .tier
        .parse::<Tier>()
        .ok()
        .filter(|t| t.is_paid())
        .ok_or_else(|| ApiError::invalid_field("tier", "must be pro or business"))?;
    let success_url = checked_redirect(&state, &request.success_url)?;
    let cancel_url = checked_redirect(&state, &request.cancel_url)?;
    let stripe = stripe(&state)?;
    let price = stripe
        .price_for(tier)
        .ok_or(ApiError::BillingNotConfigured(
            "no Stripe price id for that tier (billing.pro_price / billing.business_price)",
        ))?;
    let user = account_of(&state, &claims).await?;
    let customer = state
        .storage()
        .billing_account_of(&user.id)
        .await?
        .and_then(|a| a.customer_id);
    let session = stripe
        .checkout(&StripeCheckout {
            user_id: &user.id,
            email: &user.email,
            customer: customer.as_deref(),
            tier,
            price,
            success_url: &success_url,
            cancel_url: &cancel_url,
        })
        .await?;
    Ok(Json(CheckoutResponse {
        session_id: session.id,
        checkout_url: session.url,
    }))
}

/// Opens the Stripe Billing Portal for the user's customer (404 when they have none).
#[utoipa::path(post, path = "/portal", request_body = PortalRequest, tag = "billing",
    security(("bearer" = [])),
    responses((status = 200, body = PortalResponse), (status = 400, body = ErrorResponse),
              (status = 401, body = ErrorResponse), (status = 404, body = ErrorResponse),
              (status = 422, body = ErrorResponse), (status = 502, body = ErrorResponse),
              (status = 503, body = ErrorResponse)))]
pub async fn portal(
    State(state): State<AppState>,
    Bearer(claims): Bearer,
    AppJson(request): AppJson<PortalRequest>,
) -> Result<Json<PortalResponse>, ApiError> {
    let return_url = checked_redirect(&state, &request.return_url)?;
    let stripe = stripe(&state)?;
    let user = account_of(&state, &claims).await?;
    let customer = state
        .storage()
        .billing_account_of(&user.id)
        .await?
        .and_then(|a| a.customer_id)
        .ok_or(ApiError::NoBillingCustomer)?;
    let portal_url = stripe.portal(&customer, &return_url).await?;
    Ok(Json(PortalResponse { portal_url }))
}

/// The signed-in user's subscription, from stored state (Stripe is not called).
#[utoipa::path(get, path = "/subscription", tag = "billing",
    security(("bearer" = [])),
    responses((status = 200, body = SubscriptionView), (status = 401, body = ErrorResponse)))]
pub async fn subscription(
    State(state): State<AppState>,
    Bearer(claims): Bearer,
) -> Result<Json<SubscriptionView>, ApiError> {
    let user = account_of(&state, &claims).await?;
    let account = match state.storage().billing_account_of(&user.id).await? {
        Some(row) => row.account()?,
        None => BillingAccount::new(&user.id),
    };
    Ok(Json(SubscriptionView {
        tier: account.tier.as_str().into(),
        has_active_subscription: account.has_active_subscription(),
        status: account.status,
        current_period_end: account.current_period_end,
        cancel_at_period_end: account.cancel_at_period_end,
        grace_until: account.grace_until,
    }))
}

/// Stripe's webhook: the raw body signed in `Stripe-Signature` (HMAC-SHA256 with the endpoint's
/// secret, at most `billing.webhook_tolerance` old by the engine clock). Each event is stored
/// once by its id and applied by the BillingWorker; a replay answers 200 and changes nothing.
#[utoipa::path(post, path = "/webhook", tag = "billing",
    request_body(content = String, content_type = "application/json",
        description = "A Stripe event, exactly as Stripe sent it"),
    params(("Stripe-Signature" = String, Header, description = "t=<unix seconds>,v1=<hex HMAC-SHA256>")),
    responses((status = 200, body = WebhookResponse), (status = 400, body = ErrorResponse),
              (status = 413, body = ErrorResponse), (status = 503, body = ErrorResponse)))]
pub async fn stripe_webhook(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<WebhookResponse>, ApiError> {
    let settings = &state.settings().billing;
    let secret = settings
        .webhook_secret
        .as_ref()
        .ok_or(ApiError::BillingNotConfigured(
            "set WATTLINE_BILLING__WEBHOOK_SECRET to receive Stripe webhooks",
        ))?;
    let signature = headers
        .get("stripe-signature")
        .ok_or(ApiError::MissingSignature)?
        .to_str()
        .map_err(|_| ApiError::InvalidSignature("not ASCII".into()))?;
    let now = state.now();
    let parsed =
        webhook::verify_and_parse(&body, signature, secret, now).map_err(
            |refusal| match refusal {
                WebhookRefusal::Signature(m) => ApiError::InvalidSignature(m),
                WebhookRefusal::Event(m) => ApiError::InvalidEvent(m),
            },
        )?;
    let (event, kind) = match parsed {
        ParsedEvent::Billing { event, kind } => (event, kind),
        ParsedEvent::Other { id, kind } => {
            tracing::debug!(event = %id, %kind, "Stripe event not acted on.");
            return Ok(Json(WebhookResponse {
                received: true,
                handled: false,
                duplicate: false,
            }));
        }
    };
    let row = BillingEventRow::received(&event, &kind, now);
    let job = NewJob {
        queue: BILLING_QUEUE.into(),
        kind: APPLY_EVENT.into(),
        payload: serde_json::json!({ "event_id": event.id }),
        idempotency_key: format!("stripe-event:{}", event.id),
        user_id: row.user_id.clone(),
        run_at: now,
    };
    let stored = state.storage().store_billing_event(&row, job).await?;
    if stored {
        tracing::info!(event = %event.id, %kind, "Stripe event stored.");
    }
    Ok(Json(WebhookResponse {
        received: true,
        handled: true,
        duplicate: !stored,
    }))
}
