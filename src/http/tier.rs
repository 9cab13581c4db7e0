//! The tier a request's credentials carry, for features above the free tier (forecasts beyond
//! the free horizon). A bearer token carries its user's tier; an `X-API-Key` its owner's (a
//! business account's key) or, for operator and service keys, business; no credential is free.
//! Credentials that are presented but invalid answer 401, as on every other route.

use axum::http::HeaderMap;
use wattline_actors::domain::billing::Tier;

use crate::auth::tokens::secret_hash;
use crate::error::ApiError;
use crate::http::bearer::{bearer_token, verify_bearer};
use crate::http::state::AppState;

/// The caller's tier (read from storage: a tier bought a moment ago counts at once).
pub async fn caller_tier(state: &AppState, headers: &HeaderMap) -> Result<Tier, ApiError> {
    let storage = state.storage();
    let owner = if let Some(given) = headers.get("x-api-key") {
        let given = given.to_str().map_err(|_| ApiError::InvalidApiKey)?;
        if state
            .settings()
            .security
            .api_key
            .as_ref()
            .is_some_and(|key| key.matches(given))
        {
            return Ok(Tier::Business);
        }
        let key = storage
            .live_api_key(&secret_hash(given))
            .await?
            .ok_or(ApiError::InvalidApiKey)?;
        match key.user_id {
            Some(owner) => owner,
            None => return Ok(Tier::Business),
        }
    } else if bearer_token(headers).is_some() || headers.contains_key("authorization") {
        verify_bearer(state, headers, None).await?.sub
    } else {
        return Ok(Tier::Free);
    };
    let user = storage
        .user_by_id(&owner)
        .await?
        .ok_or(ApiError::Unauthorized)?;
    Ok(user.plan()?)
}

/// Refuses a forecast reaching `hours` ahead of now past what the caller's tier allows.
pub async fn check_forecast_reach(
    state: &AppState,
    headers: &HeaderMap,
    hours: u32,
) -> Result<(), ApiError> {
    let free = state.settings().billing.free_forecast_hours.get();
    if hours <= free {
        return Ok(());
    }
    let tier = caller_tier(state, headers).await?;
    match tier.forecast_hours_limit(free) {
        Some(limit) if hours > limit => Err(ApiError::TierLimit {
            tier: tier.as_str().into(),
            what: "hours of forecast ahead",
            limit,
        }),
        _ => Ok(()),
    }
}
