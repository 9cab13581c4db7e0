//! The axum edge: every route, the OpenAPI document generated from them, and the layers every
//! request passes (request id, metrics, security headers, CORS, deadline, body limit).

pub mod api_key;
pub mod bearer;
pub mod body_timeout;
pub mod compat;
pub mod dto;
pub mod extract;
pub mod handoff;
pub mod horizon;
pub mod listener;
pub mod middleware;
pub mod openapi;
pub mod params;
pub mod protocol_errors;
pub mod rate_limit;
pub mod rendered;
pub mod routes;
pub mod series;
pub mod server;
pub mod sse;
pub mod state;
pub mod tier;
pub mod year_prices;

use std::sync::Arc;
use std::time::Duration;

use axum::extract::DefaultBodyLimit;
use axum::http::{Method, header};
use axum::routing::get;
use axum::{Json, Router};
use tower_http::cors::{AllowOrigin, CorsLayer};
use utoipa::OpenApi;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa_axum::router::OpenApiRouter;

use crate::error::ApiError;
use state::AppState;

#[derive(OpenApi)]
#[openapi(
    info(title = "Wattline", description = "Electricity prices: current, history, analytics, optimal windows, forecasts and appliance schedules."),
    tags((name = "prices"), (name = "ml"), (name = "optimization"), (name = "health"), (name = "meta"), (name = "admin"), (name = "auth"))
)]
struct ApiDoc;

/// Every route with its OpenAPI description, before state and layers.
pub fn api() -> (Router<AppState>, utoipa::openapi::OpenApi) {
    let prices = OpenApiRouter::new()
        .merge(routes::prices::router())
        .merge(routes::analytics::router())
        .merge(routes::refresh::router())
        .merge(routes::stream::router())
        .merge(routes::forecast::prices_router());
    let ml = OpenApiRouter::new()
        .merge(routes::forecast::ml_router())
        .merge(routes::optimal_times::router())
        .merge(routes::schedule::ml_router());
    let (router, mut doc) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(routes::meta::router())
        .merge(routes::health::router())
        .merge(routes::live::router())
        .nest("/api/v1/prices", prices)
        .nest("/api/v1/ml", ml)
        .nest("/api/v1/optimization", routes::schedule::router())
        .nest(
            "/api/v1/admin",
            routes::admin::router().merge(routes::catalogue_admin::router()),
        )
        .nest("/api/v1/suppliers", routes::suppliers::router())
        .nest("/api/v1/beta", routes::beta::router())
        .nest("/api/v1/auth/api-keys", routes::api_keys::router())
        .nest("/api/v1/alerts", routes::alerts::router())
        .nest("/api/v1/billing", routes::billing::router())
        .nest("/api/v1/compliance", routes::compliance::router())
        .nest("/api/v1/user", routes::preferences::router())
        .nest("/api/v1/recommendations", routes::recommendations::router())
        .nest(
            "/api/v1/auth",
            routes::auth::router()
                .merge(routes::oauth::router())
                .merge(routes::magic_link::router()),
        )
        .split_for_parts();
    let components = doc.components.get_or_insert_with(Default::default);
    components.add_security_scheme(
        "api_key",
        SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new("X-API-Key"))),
    );
    components.add_security_scheme(
        "bearer",
        SecurityScheme::Http(
            HttpBuilder::new()
                .scheme(HttpAuthScheme::Bearer)
                .bearer_format("JWT")
                .build(),
        ),
    );
    (router, doc)
}

/// The complete application router.
pub fn router(state: AppState) -> Router {
    let settings = state.settings().server.clone();
    let (api, doc) = api();
    let doc = Arc::new(openapi::exact(&doc));
    let router = api
        .route(
            "/openapi.json",
            get(move || async move { Json(doc.as_ref().clone()) }),
        )
        .fallback(|| async { ApiError::RouteNotFound })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .layer(DefaultBodyLimit::max(settings.body_limit_bytes.get()));
    // No CORS layer at all without allowed origins (the default): it costs on every request.
    let router = if settings.cors_allowed_origins.is_empty() {
        router
    } else {
        router.layer(cors(&settings.cors_allowed_origins))
    };
    router
        // Inside the edge layer: a 429 gets the request id and the security headers.
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            rate_limit::rate_limit,
        ))
        .layer(axum::middleware::from_fn_with_state(
            middleware::Edge::with_bodies(
                settings.hsts,
                settings.request_timeout,
                settings.body_limit_bytes.get() as u64,
                settings.body_read_timeout,
            ),
            middleware::edge,
        ))
        .with_state(state)
}

/// CORS from `server.cors_allowed_origins`: exact origins, or patterns with one leading
/// wildcard label (`https://*.example.com`), or `*` for any. Credentials (the refresh cookie) are
/// allowed only for listed origins, never with `*`.
fn cors(origins: &[String]) -> CorsLayer {
    let any = origins.iter().any(|o| o == "*");
    let layer = CorsLayer::new()
        .allow_methods([Method::GET, Method::POST, Method::PUT, Method::DELETE])
        .allow_headers([
            header::CONTENT_TYPE,
            header::AUTHORIZATION,
            header::HeaderName::from_static("x-api-key"),
        ])
        .expose_headers([
            header::HeaderName::from_static("x-request-id"),
            header::RETRY_AFTER,
            header::HeaderName::from_static("ratelimit-limit"),
            header::HeaderName::from_static("ratelimit-remaining"),
            header::HeaderName::from_static("ratelimit-reset"),
        ])
        .max_age(Duration::from_secs(600));
    if any {
        return layer.allow_origin(AllowOrigin::any());
    }
    let origins: Vec<String> = origins.to_vec();
    layer
        .allow_origin(AllowOrigin::predicate(move |origin, _| {
            origin
                .to_str()
                .is_ok_and(|o| origins.iter().any(|allowed| origin_matches(allowed, o)))
        }))
        .allow_credentials(true)
}

/// Whether `origin` is `allowed`, or matches it as `scheme://*.domain` (any sub-domain, not the
/// domain itself).
fn origin_matches(allowed: &str, origin: &str) -> bool {
    match allowed.split_once("://*.") {
        Some((scheme, domain)) => origin
            .strip_prefix(scheme)
            .and_then(|rest| rest.strip_prefix("://"))
            .and_then(|host| host.strip_suffix(domain))
            .is_some_and(|sub| {
                sub.ends_with('.') && sub.len() > 1 && !sub[..sub.len() - 1].contains('/')
            }),
        None => allowed == origin,
    }
}

#[cfg(test)]
mod tests {
    use super::origin_matches;

    #[test]
    fn origins_match_exactly_or_by_subdomain_pattern() {
        assert!(origin_matches("https://app.example", "https://app.example"));
        assert!(!origin_matches(
            "https://app.example",
            "https://app.example.evil"
        ));
        assert!(origin_matches(
            "https://*.example.com",
            "https://a.example.com"
        ));
        assert!(origin_matches(
            "https://*.example.com",
            "https://a.b.example.com"
        ));
        assert!(!origin_matches(
            "https://*.example.com",
            "https://example.com"
        ));
        assert!(!origin_matches(
            "https://*.example.com",
            "http://a.example.com"
        ));
        assert!(!origin_matches(
            "https://*.example.com",
            "https://evilexample.com"
        ));
    }
}
