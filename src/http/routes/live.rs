//! The live page: plain HTML, CSS and a little JavaScript compiled into the binary, showing each
//! region's current price and a chart of the next day from the SSE stream, and the actor tree for
//! operators. Served with a strict same-origin content security policy.

use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::http::state::AppState;

const INDEX: &str = include_str!("../live/index.html");
const SCRIPT: &str = include_str!("../live/app.js");
const STYLE: &str = include_str!("../live/style.css");
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// The page and its assets.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_live_page))
        .routes(routes!(get_live_script))
        .routes(routes!(get_live_style))
}

fn asset(content_type: &'static str, body: String) -> Response {
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

/// The live page.
#[utoipa::path(get, path = "/live", tag = "meta", responses((status = 200, content_type = "text/html", description = "The live page")))]
pub async fn get_live_page(State(state): State<AppState>) -> Response {
    let regions: Vec<&str> = state.enabled_regions().map(|r| r.code()).collect();
    asset(
        "text/html; charset=utf-8",
        INDEX.replace("{{REGIONS}}", &regions.join(",")),
    )
}

/// The live page's script.
#[utoipa::path(get, path = "/live/app.js", tag = "meta", responses((status = 200, content_type = "text/javascript", description = "Script")))]
pub async fn get_live_script() -> Response {
    asset("text/javascript; charset=utf-8", SCRIPT.to_string())
}

/// The live page's style sheet.
#[utoipa::path(get, path = "/live/style.css", tag = "meta", responses((status = 200, content_type = "text/css", description = "Style sheet")))]
pub async fn get_live_style() -> Response {
    asset("text/css; charset=utf-8", STYLE.to_string())
}
