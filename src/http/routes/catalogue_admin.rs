//! `/api/v1/admin/suppliers/{id}` and `/api/v1/admin/tariffs/{id}` (`admin` scope): operators
//! create, replace and delete catalogue entries. A tariff passes the same checks as the seed
//! (`crate::catalogue::tariff_problems`) before it is stored.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use rust_decimal::Decimal;
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use wattline_actors::domain::Region;
use wattline_actors::domain::tariff::Rates;

use crate::catalogue::tariff_problems;
use crate::error::ApiError;
use crate::http::api_key::require_scope;
use crate::http::dto::ErrorResponse;
use crate::http::extract::AppJson;
use crate::http::routes::suppliers::{SupplierDto, TariffDto, catalogue, today};
use crate::http::state::AppState;
use crate::storage::catalogue::{SupplierRow, TariffRow};

/// Routes under `/api/v1/admin`.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(put_supplier, delete_supplier))
        .routes(routes!(put_tariff, delete_tariff))
}

/// A supplier as an operator writes it.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SupplierInput {
    #[schema(max_length = 100)]
    name: String,
    #[schema(value_type = Vec<String>)]
    regions: Vec<Region>,
    website: Option<String>,
    #[serde(default)]
    green_provider: bool,
    #[schema(minimum = 0, maximum = 5)]
    rating: Option<f64>,
    #[serde(default = "yes")]
    active: bool,
}

fn yes() -> bool {
    true
}

/// A tariff as an operator writes it; money as decimal strings.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TariffInput {
    supplier_id: String,
    #[schema(value_type = String)]
    region: Region,
    #[schema(max_length = 100)]
    name: String,
    /// The rate rule: `{"type": "fixed", "unit_rate": "0.25"}`, `variable`, `time_of_use`
    /// (`periods`, `default_rate`), `dynamic` (`factor`, `margin`, `cap`, `floor`) or `agile`.
    #[schema(value_type = Object)]
    rates: Rates,
    #[schema(value_type = String)]
    standing_charge: Decimal,
    currency: String,
    #[serde(default)]
    green_share: u8,
    contract_length: String,
    #[serde(default)]
    #[schema(value_type = String)]
    exit_fee: Decimal,
    valid_from: Option<String>,
    valid_to: Option<String>,
    source: String,
    source_date: Option<String>,
    #[serde(default)]
    example: bool,
    #[serde(default = "yes")]
    active: bool,
}

fn check_id(id: &str) -> Result<(), ApiError> {
    let valid = !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if valid {
        Ok(())
    } else {
        Err(ApiError::invalid_field(
            "id",
            "1 to 64 lower-case letters, digits and dashes",
        ))
    }
}

/// Creates or replaces a supplier.
#[utoipa::path(put, path = "/suppliers/{id}", params(("id" = String, Path)), request_body = SupplierInput,
    tag = "admin", security(("api_key" = []), ("bearer" = [])),
    responses((status = 200, body = SupplierDto), (status = 201, body = SupplierDto),
              (status = 401, body = ErrorResponse), (status = 403, body = ErrorResponse),
              (status = 422, body = ErrorResponse)))]
pub async fn put_supplier(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    AppJson(input): AppJson<SupplierInput>,
) -> Result<Response, ApiError> {
    require_scope(&state, &headers, "admin").await?;
    check_id(&id)?;
    let mut problems = Vec::new();
    let name = input.name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        problems.push("name: must be 1 to 100 characters".to_string());
    }
    if input.regions.is_empty() {
        problems.push("regions: at least one region".into());
    }
    if input
        .rating
        .is_some_and(|r| !(r.is_finite() && (0.0..=5.0).contains(&r)))
    {
        problems.push("rating: must be 0 to 5".into());
    }
    if input
        .website
        .as_deref()
        .is_some_and(|w| !(w.starts_with("https://") || w.starts_with("http://")) || w.len() > 200)
    {
        problems.push("website: an http(s) URL of at most 200 characters".into());
    }
    if !problems.is_empty() {
        return Err(ApiError::InvalidDocument {
            what: "supplier",
            problems,
        });
    }
    let (suppliers, tariffs) = catalogue(&state).await?;
    let existing = suppliers.iter().find(|s| s.id == id);
    let now = state.now();
    let mut regions: Vec<&str> = input.regions.iter().map(|r| r.code()).collect();
    regions.sort();
    regions.dedup();
    let row = SupplierRow {
        id: id.clone(),
        name: name.to_string(),
        regions: regions.join(","),
        website: input.website,
        green_provider: input.green_provider,
        rating: input.rating,
        active: input.active,
        created_at: existing.map_or(now, |s| s.created_at),
        updated_at: now,
    };
    state.storage().put_supplier(&row).await?;
    let status = if existing.is_some() {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok((status, Json(SupplierDto::of(&row, &tariffs))).into_response())
}

/// Deletes a supplier and its tariffs.
#[utoipa::path(delete, path = "/suppliers/{id}", params(("id" = String, Path)), tag = "admin",
    security(("api_key" = []), ("bearer" = [])),
    responses((status = 204, description = "Deleted"), (status = 401, body = ErrorResponse),
              (status = 403, body = ErrorResponse), (status = 404, body = ErrorResponse)))]
pub async fn delete_supplier(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    require_scope(&state, &headers, "admin").await?;
    if state.storage().delete_supplier(&id).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::SupplierNotFound(id.chars().take(64).collect()))
    }
}

/// Creates or replaces a tariff (checked as the seed is).
#[utoipa::path(put, path = "/tariffs/{id}", params(("id" = String, Path)), request_body = TariffInput,
    tag = "admin", security(("api_key" = []), ("bearer" = [])),
    responses((status = 200, body = TariffDto), (status = 201, body = TariffDto),
              (status = 401, body = ErrorResponse), (status = 403, body = ErrorResponse),
              (status = 404, body = ErrorResponse), (status = 422, body = ErrorResponse)))]
pub async fn put_tariff(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    AppJson(input): AppJson<TariffInput>,
) -> Result<Response, ApiError> {
    require_scope(&state, &headers, "admin").await?;
    check_id(&id)?;
    let (suppliers, tariffs) = catalogue(&state).await?;
    let supplier = suppliers
        .iter()
        .find(|s| s.id == input.supplier_id)
        .ok_or_else(|| ApiError::SupplierNotFound(input.supplier_id.chars().take(64).collect()))?;
    let existing = tariffs.iter().find(|t| t.id == id);
    let now = state.now();
    let row = TariffRow {
        id: id.clone(),
        supplier_id: supplier.id.clone(),
        region: input.region.code().to_string(),
        name: input.name.trim().to_string(),
        tariff_type: input.rates.tariff_type().as_str().to_string(),
        rates: input.rates,
        standing_charge: input.standing_charge,
        currency: input.currency,
        green_share: input.green_share,
        contract_length: input.contract_length,
        exit_fee: input.exit_fee,
        valid_from: input.valid_from,
        valid_to: input.valid_to,
        source: input.source.trim().to_string(),
        source_date: input.source_date,
        example: input.example,
        active: input.active,
        created_at: existing.map_or(now, |t| t.created_at),
        updated_at: now,
    };
    let mut problems = tariff_problems(&row, Some(supplier));
    if row.name.is_empty() || row.name.chars().count() > 100 {
        problems.push("name: must be 1 to 100 characters".into());
    }
    if !problems.is_empty() {
        return Err(ApiError::InvalidDocument {
            what: "tariff",
            problems,
        });
    }
    state.storage().put_tariff(&row).await?;
    let status = if existing.is_some() {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok((status, Json(TariffDto::of(&row, &today(&state)))).into_response())
}

/// Deletes a tariff.
#[utoipa::path(delete, path = "/tariffs/{id}", params(("id" = String, Path)), tag = "admin",
    security(("api_key" = []), ("bearer" = [])),
    responses((status = 204, description = "Deleted"), (status = 401, body = ErrorResponse),
              (status = 403, body = ErrorResponse), (status = 404, body = ErrorResponse)))]
pub async fn delete_tariff(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    require_scope(&state, &headers, "admin").await?;
    if state.storage().delete_tariff(&id).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::TariffNotFound(id.chars().take(64).collect()))
    }
}
