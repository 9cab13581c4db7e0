//! `/api/v1/alerts` (bearer): the signed-in user's alert rules — list, create, read, replace,
//! delete — and each rule's firing history. A free account holds `alerts.free_rules` rules; pro
//! and business accounts any number. Every change is stored first, then handed to this node's
//! AlertEvaluator (other nodes pick it up on their next reload).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use wattline_actors::domain::Region;
use wattline_actors::domain::alert::{AlertCondition, AlertRule, QuietHours};

use crate::auth::tokens::random_hex;

use crate::error::ApiError;
use crate::http::bearer::{Bearer, account_of};
use crate::http::dto::ErrorResponse;
use crate::http::extract::{AppJson, AppQuery};
use crate::http::state::AppState;
use crate::storage::alerts::{AlertHistoryRow, AlertRuleRow};

/// Routes under `/api/v1/alerts`.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_rules, create_rule))
        .routes(routes!(get_rule, replace_rule, delete_rule))
        .routes(routes!(rule_history))
}

/// Where a rule's alerts go.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Channels {
    /// Email to the account's address.
    #[serde(default)]
    email: bool,
    /// POSTed JSON, signed `X-Wattline-Signature: t=<unix>,v1=<hex HMAC-SHA256 of "t.body">`
    /// with the rule's `webhook_secret`.
    #[schema(max_length = 2048)]
    #[serde(default)]
    webhook_url: Option<String>,
}

/// A rule as written by its user.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AlertRuleRequest {
    /// 1–100 characters (default: what the condition says).
    #[schema(max_length = 100)]
    name: Option<String>,
    #[schema(value_type = String, example = "uk")]
    region: String,
    /// `{"kind": "price_below" | "price_above", "threshold": 0.20}` (the region's currency per
    /// unit), `{"kind": "cheapest_share", "percent": 1–100}`, `{"kind": "below_daily_average",
    /// "percent": 0–99}`, `{"kind": "negative_ahead", "hours": 1–48}` or
    /// `{"kind": "tomorrow_published"}`.
    #[schema(value_type = Object)]
    condition: AlertCondition,
    channels: Channels,
    /// `{"start": "22:00", "end": "07:00"}` in the region's local time: no alert fires then.
    #[schema(value_type = Option<Object>)]
    #[serde(default)]
    quiet_hours: Option<QuietHours>,
    /// Least minutes between two alerts of the rule, 0–10080 (default `alerts.default_cooldown`).
    #[schema(maximum = 10080)]
    #[serde(default)]
    cooldown_minutes: Option<u32>,
    #[serde(default = "enabled_by_default")]
    enabled: bool,
}

fn enabled_by_default() -> bool {
    true
}

/// A stored rule.
#[derive(Debug, Serialize, ToSchema)]
pub struct AlertRuleView {
    id: String,
    name: String,
    region: String,
    #[schema(value_type = Object)]
    condition: serde_json::Value,
    channels: Channels,
    #[schema(value_type = Option<Object>)]
    quiet_hours: Option<serde_json::Value>,
    cooldown_minutes: i64,
    enabled: bool,
    created_at: Timestamp,
    updated_at: Timestamp,
    /// Only in the answer to the creation: the key webhook deliveries are signed with. Keep it.
    #[serde(skip_serializing_if = "Option::is_none")]
    webhook_secret: Option<String>,
}

impl AlertRuleView {
    fn of(row: AlertRuleRow, with_secret: bool) -> Self {
        AlertRuleView {
            id: row.id,
            name: row.name,
            region: row.region,
            condition: row.condition,
            channels: Channels {
                email: row.email,
                webhook_url: row.webhook_url,
            },
            quiet_hours: row.quiet_hours.filter(|q| !q.is_null()),
            cooldown_minutes: row.cooldown_secs / 60,
            enabled: row.enabled,
            created_at: row.created_at,
            updated_at: row.updated_at,
            webhook_secret: if with_secret {
                row.webhook_secret
            } else {
                None
            },
        }
    }
}

/// The user's rules.
#[derive(Debug, Serialize, ToSchema)]
pub struct AlertRulesResponse {
    rules: Vec<AlertRuleView>,
    total: usize,
}

/// The signed-in user's alert rules, oldest first.
#[utoipa::path(get, path = "", tag = "alerts", security(("bearer" = [])),
    responses((status = 200, body = AlertRulesResponse), (status = 401, body = ErrorResponse)))]
pub async fn list_rules(
    State(state): State<AppState>,
    Bearer(claims): Bearer,
) -> Result<Json<AlertRulesResponse>, ApiError> {
    let rules: Vec<AlertRuleView> = state
        .storage()
        .alert_rules_of(&claims.sub)
        .await?
        .into_iter()
        .map(|row| AlertRuleView::of(row, false))
        .collect();
    Ok(Json(AlertRulesResponse {
        total: rules.len(),
        rules,
    }))
}

/// Creates a rule (403 `tier_limit` past the account's tier limit).
#[utoipa::path(post, path = "", request_body = AlertRuleRequest, tag = "alerts", security(("bearer" = [])),
    responses((status = 201, body = AlertRuleView), (status = 400, body = ErrorResponse),
              (status = 401, body = ErrorResponse), (status = 403, body = ErrorResponse),
              (status = 422, body = ErrorResponse)))]
pub async fn create_rule(
    State(state): State<AppState>,
    Bearer(claims): Bearer,
    AppJson(request): AppJson<AlertRuleRequest>,
) -> Result<(StatusCode, Json<AlertRuleView>), ApiError> {
    let now = state.now();
    let row = rule_row(
        &state,
        &claims.sub,
        uuid::Uuid::now_v7().to_string(),
        request,
        now,
    )?;
    let storage = state.storage();
    let user = account_of(&state, &claims).await?;
    if let Some(limit) = user
        .plan()?
        .alert_rule_limit(state.settings().alerts.free_rules)
        && storage.alert_rules_of(&user.id).await?.len() >= limit as usize
    {
        return Err(ApiError::TierLimit {
            tier: user.tier,
            what: "alert rules",
            limit,
        });
    }
    storage.create_alert_rule(&row).await?;
    notify(&state, &row);
    Ok((StatusCode::CREATED, Json(AlertRuleView::of(row, true))))
}

/// One of the user's rules.
#[utoipa::path(get, path = "/{id}", params(("id" = String, Path)), tag = "alerts", security(("bearer" = [])),
    responses((status = 200, body = AlertRuleView), (status = 401, body = ErrorResponse),
              (status = 404, body = ErrorResponse)))]
pub async fn get_rule(
    State(state): State<AppState>,
    Bearer(claims): Bearer,
    Path(id): Path<String>,
) -> Result<Json<AlertRuleView>, ApiError> {
    let row = owned(&state, &claims.sub, &id).await?;
    Ok(Json(AlertRuleView::of(row, false)))
}

/// Replaces one of the user's rules; it may fire again for what it fired for before.
#[utoipa::path(put, path = "/{id}", params(("id" = String, Path)), request_body = AlertRuleRequest,
    tag = "alerts", security(("bearer" = [])),
    responses((status = 200, body = AlertRuleView), (status = 400, body = ErrorResponse),
              (status = 401, body = ErrorResponse), (status = 404, body = ErrorResponse),
              (status = 422, body = ErrorResponse)))]
pub async fn replace_rule(
    State(state): State<AppState>,
    Bearer(claims): Bearer,
    Path(id): Path<String>,
    AppJson(request): AppJson<AlertRuleRequest>,
) -> Result<Json<AlertRuleView>, ApiError> {
    let stored = owned(&state, &claims.sub, &id).await?;
    let mut row = rule_row(&state, &claims.sub, id.clone(), request, state.now())?;
    row.created_at = stored.created_at;
    row.webhook_secret = stored.webhook_secret;
    if !state.storage().update_alert_rule(&row).await? {
        return Err(ApiError::AlertRuleNotFound(id));
    }
    notify(&state, &row);
    Ok(Json(AlertRuleView::of(row, false)))
}

/// Deletes one of the user's rules with its history.
#[utoipa::path(delete, path = "/{id}", params(("id" = String, Path)), tag = "alerts", security(("bearer" = [])),
    responses((status = 204, description = "Deleted"), (status = 401, body = ErrorResponse),
              (status = 404, body = ErrorResponse)))]
pub async fn delete_rule(
    State(state): State<AppState>,
    Bearer(claims): Bearer,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    if !state.storage().delete_alert_rule(&claims.sub, &id).await? {
        return Err(ApiError::AlertRuleNotFound(id));
    }
    if let Some(alerts) = state.alerts() {
        alerts.remove(&id);
    }
    Ok(StatusCode::NO_CONTENT)
}

/// How much history.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct HistoryQuery {
    /// Newest first, 1–500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    limit: Option<u32>,
}

/// A rule's firings.
#[derive(Debug, Serialize, ToSchema)]
pub struct AlertHistoryResponse {
    rule_id: String,
    #[schema(value_type = Vec<Object>)]
    history: Vec<AlertHistoryRow>,
}

/// The firings of one of the user's rules, newest first.
#[utoipa::path(get, path = "/{id}/history", params(("id" = String, Path), HistoryQuery), tag = "alerts",
    security(("bearer" = [])),
    responses((status = 200, body = AlertHistoryResponse), (status = 400, body = ErrorResponse),
              (status = 401, body = ErrorResponse), (status = 404, body = ErrorResponse)))]
pub async fn rule_history(
    State(state): State<AppState>,
    Bearer(claims): Bearer,
    Path(id): Path<String>,
    AppQuery(query): AppQuery<HistoryQuery>,
) -> Result<Json<AlertHistoryResponse>, ApiError> {
    let limit = query.limit.unwrap_or(50);
    if !(1..=500).contains(&limit) {
        return Err(ApiError::InvalidParameter {
            name: "limit",
            message: "must be 1 to 500".into(),
        });
    }
    owned(&state, &claims.sub, &id).await?;
    let history = state
        .storage()
        .alert_history(&claims.sub, &id, limit)
        .await?;
    Ok(Json(AlertHistoryResponse {
        rule_id: id,
        history,
    }))
}

/// The user's rule `id`, or 404 (another user's rule is as unknown as a missing one).
async fn owned(state: &AppState, user_id: &str, id: &str) -> Result<AlertRuleRow, ApiError> {
    state
        .storage()
        .alert_rule_of(user_id, id)
        .await?
        .ok_or_else(|| ApiError::AlertRuleNotFound(id.to_string()))
}

/// Checks a request and makes the row to store.
fn rule_row(
    state: &AppState,
    user_id: &str,
    id: String,
    request: AlertRuleRequest,
    now: Timestamp,
) -> Result<AlertRuleRow, ApiError> {
    let region: Region = request.region.parse()?;
    let settings = &state.settings().alerts;
    let name = match request.name {
        Some(name) => {
            let name = name.trim().to_string();
            if !(1..=100).contains(&name.chars().count()) {
                return Err(ApiError::invalid_field(
                    "name",
                    "must be 1 to 100 characters",
                ));
            }
            name
        }
        None => format!("{region}: {}", request.condition.describe()),
    };
    let cooldown_secs = match request.cooldown_minutes {
        Some(minutes) if minutes > 10_080 => {
            return Err(ApiError::invalid_field(
                "cooldown_minutes",
                "must be 0 to 10080 (a week)",
            ));
        }
        Some(minutes) => i64::from(minutes) * 60,
        None => settings.default_cooldown.as_secs() as i64,
    };
    let rule = AlertRule {
        id: id.clone(),
        user_id: user_id.to_string(),
        region,
        condition: request.condition,
        quiet_hours: request.quiet_hours,
        cooldown: SignedDuration::from_secs(cooldown_secs),
        enabled: request.enabled,
        last_fired_at: None,
        last_occurrence: None,
    };
    rule.check()
        .map_err(|message| ApiError::invalid_field("condition", message))?;
    if let Some(url) = &request.channels.webhook_url {
        if url.len() > 2048 {
            return Err(ApiError::invalid_field(
                "channels.webhook_url",
                "longer than 2048 bytes",
            ));
        }
        crate::webhooks::check_url(url, settings.webhook_allow_http)
            .map_err(|message| ApiError::invalid_field("channels.webhook_url", message))?;
    }
    if !request.channels.email && request.channels.webhook_url.is_none() {
        return Err(ApiError::invalid_field(
            "channels",
            "choose at least one channel: email or webhook_url",
        ));
    }
    Ok(AlertRuleRow {
        id,
        user_id: user_id.to_string(),
        name,
        region: region.to_string(),
        condition: serde_json::to_value(&rule.condition)
            .map_err(|e| ApiError::Internal(e.to_string()))?,
        quiet_hours: rule
            .quiet_hours
            .map(|q| serde_json::to_value(q).map_err(|e| ApiError::Internal(e.to_string())))
            .transpose()?,
        cooldown_secs,
        enabled: rule.enabled,
        email: request.channels.email,
        webhook_url: request.channels.webhook_url,
        // Generated with every rule, so a webhook added later is signed too.
        webhook_secret: Some(format!("whsec_{}", random_hex())),
        created_at: now,
        updated_at: now,
    })
}

/// Hands a stored rule to this node's evaluator.
fn notify(state: &AppState, row: &AlertRuleRow) {
    let Some(alerts) = state.alerts() else {
        return;
    };
    // A stored row always parses; `rule` logs when it does not.
    let rule = row.rule(None);
    if let Some(rule) = rule {
        alerts.upsert(rule);
    }
}
