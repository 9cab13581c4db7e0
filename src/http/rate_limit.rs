//! Rate limits on `/api/` routes, inside the edge layer (so a 429 carries the request id and the
//! security headers). The client is the signed-in user, else the API key, else the address —
//! taken from `X-Forwarded-For` only when the peer is a trusted proxy. Each route group (the path
//! segment after `/api/v1/`) has its own budget per client, per minute and per hour, counted by
//! GCRA in the key-value store (Redis when clustered, so nodes share it).

use std::net::IpAddr;
use std::time::Duration;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::auth::tokens::{Claims, secret_hash};
use crate::cache::{Rate, RateDecision};
use crate::error::ApiError;
use crate::http::bearer::{VerifiedToken, bearer_token, revoked_key};
use crate::http::listener::ClientAddr;
use crate::http::state::AppState;

/// The layer.
pub async fn rate_limit(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let settings = &state.settings().rate_limit;
    let Some(group) = limited_group(req.method(), req.uri().path()).filter(|_| settings.enabled)
    else {
        return next.run(req).await;
    };
    let peer = req
        .extensions()
        .get::<ConnectInfo<ClientAddr>>()
        .map(|ConnectInfo(addr)| addr.0.ip());
    let (client, claims) = client_key(&state, req.headers(), peer);
    let limits = settings.limits(group);
    let key = format!("rate:{group}:{client}");
    let rates = [
        Rate {
            limit: limits.per_minute.get(),
            period: Duration::from_secs(60),
        },
        Rate {
            limit: limits.per_hour.get(),
            period: Duration::from_secs(3600),
        },
    ];
    let revocation = claims.as_ref().map(|c| revoked_key(&c.jti));
    let checked = state
        .accounts()
        .kv
        .rate(&key, &rates, revocation.as_deref())
        .await;
    if let Some(claims) = claims {
        // Verified once: the route's `Bearer` extractor takes these (and the revocation status
        // read in the same store call) instead of verifying again.
        let revoked = checked.as_ref().ok().map(|d| d.marked);
        req.extensions_mut()
            .insert(VerifiedToken { claims, revoked });
    }
    let decision = match checked {
        Ok(decision) => decision,
        Err(error) => {
            // The store is down: serving unlimited beats refusing everyone.
            tracing::warn!(%error, "Rate limit not checked.");
            return next.run(req).await;
        }
    };
    let mut response = if decision.allowed {
        next.run(req).await
    } else {
        ApiError::RateLimited {
            retry_after_secs: seconds(decision.retry_after),
        }
        .into_response()
    };
    rate_headers(response.headers_mut(), &decision);
    response
}

/// Routes with limits of their own: stream connects (`[stream]`), and Stripe's webhook, whose
/// deliveries come in bursts from a few Stripe addresses, are signed (an unsigned request costs
/// one HMAC) and would only be retried later if refused.
const EXEMPT: [&str; 2] = ["/api/v1/prices/stream", "/api/v1/billing/webhook"];

/// The route group of a limited request; `None` for exempt ones (not `/api/`, pre-flights,
/// [`EXEMPT`]).
fn limited_group<'a>(method: &Method, path: &'a str) -> Option<&'a str> {
    if method == Method::OPTIONS || EXEMPT.contains(&path) {
        return None;
    }
    let rest = path.strip_prefix("/api/v1/")?;
    Some(
        rest.split('/')
            .next()
            .filter(|g| !g.is_empty())
            .unwrap_or("other"),
    )
}

/// Who is asking: the token's user (with the verified claims), the API key (by its hash) or the
/// address.
fn client_key(
    state: &AppState,
    headers: &HeaderMap,
    peer: Option<IpAddr>,
) -> (String, Option<Claims>) {
    if let Some(token) = bearer_token(headers)
        && let Ok(claims) = state.accounts().tokens.verify(token, state.now())
    {
        return (format!("user:{}", claims.sub), Some(claims));
    }
    if let Some(key) = headers.get("x-api-key").and_then(|v| v.to_str().ok()) {
        return (format!("key:{}", &secret_hash(key)[..32]), None);
    }
    let address = client_address(headers, peer, &state.settings().rate_limit.trusted_proxies);
    (
        format!("ip:{}", address.map_or("unknown".into(), |a| a.to_string())),
        None,
    )
}

/// The client's address: the peer, or when the peer is a trusted proxy the right-most address
/// of `X-Forwarded-For` that is not a trusted proxy itself.
fn client_address(headers: &HeaderMap, peer: Option<IpAddr>, trusted: &[IpAddr]) -> Option<IpAddr> {
    let peer = peer?;
    if !trusted.contains(&peer) {
        return Some(peer);
    }
    let forwarded: Vec<IpAddr> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|a| a.trim().parse().ok())
        .collect();
    Some(
        forwarded
            .into_iter()
            .rev()
            .find(|a| !trusted.contains(a))
            .unwrap_or(peer),
    )
}

fn seconds(duration: Duration) -> u64 {
    duration.as_secs_f64().ceil().max(1.0) as u64
}

const RATELIMIT_LIMIT: HeaderName = HeaderName::from_static("ratelimit-limit");
const RATELIMIT_REMAINING: HeaderName = HeaderName::from_static("ratelimit-remaining");
const RATELIMIT_RESET: HeaderName = HeaderName::from_static("ratelimit-reset");
const X_RATELIMIT_LIMIT: HeaderName = HeaderName::from_static("x-ratelimit-limit");
const X_RATELIMIT_REMAINING: HeaderName = HeaderName::from_static("x-ratelimit-remaining");
const X_RATELIMIT_RESET: HeaderName = HeaderName::from_static("x-ratelimit-reset");

/// `RateLimit-*` and `X-RateLimit-*` of the tightest rate.
fn rate_headers(headers: &mut HeaderMap, decision: &RateDecision) {
    let reset = HeaderValue::from(seconds(decision.reset));
    let limit = HeaderValue::from(decision.limit);
    let remaining = HeaderValue::from(decision.remaining);
    headers.insert(RATELIMIT_LIMIT, limit.clone());
    headers.insert(RATELIMIT_REMAINING, remaining.clone());
    headers.insert(RATELIMIT_RESET, reset.clone());
    headers.insert(X_RATELIMIT_LIMIT, limit);
    headers.insert(X_RATELIMIT_REMAINING, remaining);
    headers.insert(X_RATELIMIT_RESET, reset);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_and_exemptions() {
        assert_eq!(
            limited_group(&Method::GET, "/api/v1/prices/current"),
            Some("prices")
        );
        assert_eq!(
            limited_group(&Method::POST, "/api/v1/auth/signin"),
            Some("auth")
        );
        assert_eq!(
            limited_group(&Method::OPTIONS, "/api/v1/prices/current"),
            None
        );
        assert_eq!(limited_group(&Method::GET, "/api/v1/prices/stream"), None);
        assert_eq!(
            limited_group(&Method::POST, "/api/v1/billing/webhook"),
            None
        );
        assert_eq!(
            limited_group(&Method::POST, "/api/v1/billing/checkout"),
            Some("billing")
        );
        assert_eq!(limited_group(&Method::GET, "/health/ready"), None);
        assert_eq!(limited_group(&Method::GET, "/metrics"), None);
    }

    #[test]
    fn forwarded_addresses_count_only_behind_a_trusted_proxy() {
        let proxy: IpAddr = "10.0.0.5".parse().unwrap();
        let mut headers = HeaderMap::new();
        headers.insert(
            "x-forwarded-for",
            "203.0.113.9, 198.51.100.7".parse().unwrap(),
        );
        let client = |peer: &str, trusted: &[IpAddr]| {
            client_address(&headers, Some(peer.parse().unwrap()), trusted).unwrap()
        };
        assert_eq!(
            client("10.0.0.5", &[proxy]),
            "198.51.100.7".parse::<IpAddr>().unwrap()
        );
        assert_eq!(
            client("192.0.2.1", &[proxy]),
            "192.0.2.1".parse::<IpAddr>().unwrap(),
            "untrusted peers cannot claim an address"
        );
    }
}
