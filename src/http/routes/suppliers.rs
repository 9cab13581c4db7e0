//! `/api/v1/suppliers` (public): the catalogue and the annual-cost comparison of a region's
//! tariffs. The catalogue lives in storage (`crate::storage::catalogue`), the pricing in
//! `wattline_actors::domain::tariff_cost`, the comparison in `crate::catalogue`.

use axum::Json;
use axum::extract::{Path, State};
use jiff::Timestamp;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use wattline_actors::domain::preferences::ShapeName;
use wattline_actors::domain::tariff::TariffType;
use wattline_actors::domain::tariff_cost::{DailyShape, Profile, Unpriced, default_annual_kwh};
use wattline_actors::domain::{PricePoint, Region, Source};

use crate::catalogue::{Comparison, compare};
use crate::error::ApiError;
use crate::http::dto::ErrorResponse;
use crate::http::extract::{AppJson, AppQuery};
use crate::http::state::AppState;
use crate::storage::catalogue::{SupplierRow, TariffRow};

/// Routes under `/api/v1/suppliers`.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_suppliers))
        .routes(routes!(get_supplier))
        .routes(routes!(supplier_tariffs))
        .routes(routes!(region_suppliers))
        .routes(routes!(compare_region))
        .routes(routes!(compare_profile))
}

/// A supplier.
#[derive(Debug, Serialize, ToSchema)]
pub struct SupplierDto {
    id: String,
    name: String,
    regions: Vec<String>,
    website: Option<String>,
    green_provider: bool,
    /// 0–5, when known.
    rating: Option<f64>,
    active: bool,
    /// Tariffs it offers now.
    tariff_count: usize,
}

impl SupplierDto {
    pub fn of(row: &SupplierRow, tariffs: &[TariffRow]) -> Self {
        SupplierDto {
            id: row.id.clone(),
            name: row.name.clone(),
            regions: row.regions().map(str::to_string).collect(),
            website: row.website.clone(),
            green_provider: row.green_provider,
            rating: row.rating,
            active: row.active,
            tariff_count: tariffs
                .iter()
                .filter(|t| t.supplier_id == row.id && t.active)
                .count(),
        }
    }
}

/// A tariff. Money is per kWh (`unit_rate`s in `rates`) and per day (`standing_charge`) in
/// `currency`, as decimal strings.
#[derive(Debug, Serialize, ToSchema)]
pub struct TariffDto {
    id: String,
    supplier_id: String,
    region: String,
    name: String,
    /// `fixed`, `variable`, `time_of_use`, `dynamic` or `agile`.
    tariff_type: String,
    /// The rate rule, by `type`.
    #[schema(value_type = Object)]
    rates: serde_json::Value,
    #[schema(value_type = String)]
    standing_charge: Decimal,
    currency: String,
    green_share: u8,
    /// `monthly`, `annual`, `two_year`, `three_year` or `rolling`.
    contract_length: String,
    #[schema(value_type = String)]
    exit_fee: Decimal,
    valid_from: Option<String>,
    valid_to: Option<String>,
    /// Where the figures come from, and when.
    source: String,
    source_date: Option<String>,
    /// Illustrative figures, not a supplier's published rates.
    example: bool,
    active: bool,
    /// Active and within its validity today.
    available: bool,
}

impl TariffDto {
    pub fn of(row: &TariffRow, today: &str) -> Self {
        TariffDto {
            id: row.id.clone(),
            supplier_id: row.supplier_id.clone(),
            region: row.region.clone(),
            name: row.name.clone(),
            tariff_type: row.tariff_type.clone(),
            rates: serde_json::to_value(&row.rates).unwrap_or_default(),
            standing_charge: row.standing_charge,
            currency: row.currency.clone(),
            green_share: row.green_share,
            contract_length: row.contract_length.clone(),
            exit_fee: row.exit_fee,
            valid_from: row.valid_from.clone(),
            valid_to: row.valid_to.clone(),
            source: row.source.clone(),
            source_date: row.source_date.clone(),
            example: row.example,
            active: row.active,
            available: row.available_on(today),
        }
    }
}

/// Filters and page of the supplier list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// Only suppliers serving this region.
    region: Option<String>,
    /// Only green providers.
    #[serde(default)]
    green_only: bool,
    /// From 1 (default 1).
    #[param(minimum = 1)]
    page: Option<i64>,
    /// 1–100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    page_size: Option<i64>,
}

/// A page of suppliers; `total` counts every match.
#[derive(Debug, Serialize, ToSchema)]
pub struct SupplierPage {
    suppliers: Vec<SupplierDto>,
    total: usize,
    page: i64,
    page_size: i64,
}

/// Lists active suppliers, filtered and paged.
#[utoipa::path(get, path = "", params(ListQuery), tag = "suppliers",
    responses((status = 200, body = SupplierPage), (status = 400, body = ErrorResponse),
              (status = 422, body = ErrorResponse)))]
pub async fn list_suppliers(
    State(state): State<AppState>,
    AppQuery(query): AppQuery<ListQuery>,
) -> Result<Json<SupplierPage>, ApiError> {
    let page = query.page.unwrap_or(1);
    if page < 1 {
        return Err(ApiError::invalid_field("page", "must be at least 1"));
    }
    let page_size = query.page_size.unwrap_or(20);
    if !(1..=100).contains(&page_size) {
        return Err(ApiError::invalid_field("page_size", "must be 1 to 100"));
    }
    let region = query.region.as_deref().map(Region::parse).transpose()?;
    let (suppliers, tariffs) = catalogue(&state).await?;
    let matching: Vec<&SupplierRow> = suppliers
        .iter()
        .filter(|s| s.active)
        .filter(|s| !query.green_only || s.green_provider)
        .filter(|s| region.is_none_or(|r| s.regions().any(|c| c == r.code())))
        .collect();
    let total = matching.len();
    let skip = usize::try_from((page - 1).saturating_mul(page_size)).unwrap_or(usize::MAX);
    Ok(Json(SupplierPage {
        suppliers: matching
            .into_iter()
            .skip(skip)
            .take(page_size as usize)
            .map(|s| SupplierDto::of(s, &tariffs))
            .collect(),
        total,
        page,
        page_size,
    }))
}

/// One supplier.
#[utoipa::path(get, path = "/{id}", params(("id" = String, Path)), tag = "suppliers",
    responses((status = 200, body = SupplierDto), (status = 404, body = ErrorResponse)))]
pub async fn get_supplier(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<SupplierDto>, ApiError> {
    let (suppliers, tariffs) = catalogue(&state).await?;
    let supplier = find_supplier(&suppliers, &id)?;
    Ok(Json(SupplierDto::of(supplier, &tariffs)))
}

/// Whether to list only tariffs available today.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct TariffsQuery {
    #[serde(default)]
    available_only: bool,
}

/// A supplier's tariffs.
#[derive(Debug, Serialize, ToSchema)]
pub struct SupplierTariffs {
    supplier_id: String,
    tariffs: Vec<TariffDto>,
}

/// A supplier's tariffs (every region it serves).
#[utoipa::path(get, path = "/{id}/tariffs", params(("id" = String, Path), TariffsQuery), tag = "suppliers",
    responses((status = 200, body = SupplierTariffs), (status = 404, body = ErrorResponse)))]
pub async fn supplier_tariffs(
    State(state): State<AppState>,
    Path(id): Path<String>,
    AppQuery(query): AppQuery<TariffsQuery>,
) -> Result<Json<SupplierTariffs>, ApiError> {
    let (suppliers, tariffs) = catalogue(&state).await?;
    let supplier = find_supplier(&suppliers, &id)?;
    let today = today(&state);
    Ok(Json(SupplierTariffs {
        supplier_id: supplier.id.clone(),
        tariffs: tariffs
            .iter()
            .filter(|t| t.supplier_id == supplier.id)
            .filter(|t| !query.available_only || t.available_on(&today))
            .map(|t| TariffDto::of(t, &today))
            .collect(),
    }))
}

/// A supplier with its tariffs in one region.
#[derive(Debug, Serialize, ToSchema)]
pub struct RegionSupplier {
    #[serde(flatten)]
    supplier: SupplierDto,
    tariffs: Vec<TariffDto>,
}

/// The suppliers of a region, each with its tariffs there.
#[derive(Debug, Serialize, ToSchema)]
pub struct RegionSuppliers {
    region: String,
    suppliers: Vec<RegionSupplier>,
}

/// Active suppliers serving `region`, with their tariffs there.
#[utoipa::path(get, path = "/region/{region}", params(("region" = String, Path)), tag = "suppliers",
    responses((status = 200, body = RegionSuppliers), (status = 400, body = ErrorResponse)))]
pub async fn region_suppliers(
    State(state): State<AppState>,
    Path(region): Path<String>,
) -> Result<Json<RegionSuppliers>, ApiError> {
    let region = Region::parse(&region)?;
    let (suppliers, tariffs) = catalogue(&state).await?;
    let today = today(&state);
    Ok(Json(RegionSuppliers {
        region: region.code().to_string(),
        suppliers: suppliers
            .iter()
            .filter(|s| s.active && s.regions().any(|c| c == region.code()))
            .map(|s| RegionSupplier {
                supplier: SupplierDto::of(s, &tariffs),
                tariffs: tariffs
                    .iter()
                    .filter(|t| t.supplier_id == s.id && t.region == region.code())
                    .map(|t| TariffDto::of(t, &today))
                    .collect(),
            })
            .collect(),
    }))
}

/// Which tariffs to compare, with the region's default profile.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct CompareQuery {
    /// Only this type (`fixed`, `variable`, `time_of_use`, `dynamic`, `agile`).
    tariff_type: Option<String>,
    /// Only tariffs with a green share of 100.
    #[serde(default)]
    green_only: bool,
    /// Consumption per year (default: the region's typical household).
    annual_kwh: Option<f64>,
    /// `flat` or `household` (default).
    #[param(value_type = Option<String>)]
    shape: Option<ShapeName>,
    /// Savings are shown against this tariff.
    current_tariff_id: Option<String>,
}

/// A consumption profile to compare tariffs for.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CompareRequest {
    pub region: String,
    /// Consumption per year; with `consumption_csv` and without this, the series' total scaled
    /// to a year.
    pub annual_kwh: Option<f64>,
    /// `flat`, `household` (default) or `custom` (with `hourly_weights` or `consumption_csv`).
    #[schema(value_type = Option<String>)]
    pub shape: Option<ShapeName>,
    /// 24 weights by local hour, for `custom`.
    pub hourly_weights: Option<Vec<f64>>,
    /// A metered series as CSV lines `start,kwh` (RFC 3339 start of each interval; a header line
    /// is skipped): its shape by local hour, and its total when `annual_kwh` is not given.
    pub consumption_csv: Option<String>,
    pub tariff_type: Option<String>,
    #[serde(default)]
    pub green_only: bool,
    pub current_tariff_id: Option<String>,
}

/// The profile a comparison used.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProfileDto {
    pub annual_kwh: f64,
    /// `flat`, `household`, `custom` or `series`.
    pub shape: &'static str,
    /// Where the annual figure comes from.
    pub basis: String,
}

/// The prices the wholesale-tracking tariffs were priced against.
#[derive(Debug, Serialize, ToSchema)]
pub struct PricesUsed {
    /// Days of stored prices (365 at most); 0 when none are stored.
    pub days: f64,
    pub from: Option<String>,
    pub to: Option<String>,
    /// Sources of those prices (`simulated` when they come from the built-in simulator).
    pub sources: Vec<String>,
}

/// One tariff's annual cost.
#[derive(Debug, Serialize, ToSchema)]
pub struct RankedTariff {
    pub rank: usize,
    pub tariff_id: String,
    pub tariff_name: String,
    pub supplier_id: String,
    pub tariff_type: String,
    pub currency: String,
    #[schema(value_type = String)]
    pub annual_cost: Decimal,
    #[schema(value_type = String)]
    pub energy_cost: Decimal,
    #[schema(value_type = String)]
    pub standing_cost: Decimal,
    #[schema(value_type = String)]
    pub cost_per_kwh: Decimal,
    /// Against `current_tariff_id` (positive: cheaper than it), when one is given and priced.
    #[schema(value_type = Option<String>)]
    pub saving_vs_current: Option<Decimal>,
    pub green_share: u8,
    pub example: bool,
    pub source: String,
    pub source_date: Option<String>,
}

/// A tariff that could not be priced, and why.
#[derive(Debug, Serialize, ToSchema)]
pub struct UnpricedTariff {
    tariff_id: String,
    reason: &'static str,
}

/// Tariffs ranked by annual cost.
#[derive(Debug, Serialize, ToSchema)]
pub struct ComparisonDto {
    pub region: String,
    pub profile: ProfileDto,
    pub prices: PricesUsed,
    pub current_tariff_id: Option<String>,
    pub tariffs: Vec<RankedTariff>,
    pub unpriced: Vec<UnpricedTariff>,
}

/// Ranks the region's available tariffs by annual cost for its typical household (or
/// `annual_kwh` and `shape`); dynamic and agile tariffs are priced against the last 365 days of
/// stored prices.
#[utoipa::path(get, path = "/compare/{region}", params(("region" = String, Path), CompareQuery), tag = "suppliers",
    responses((status = 200, body = ComparisonDto), (status = 400, body = ErrorResponse),
              (status = 422, body = ErrorResponse)))]
pub async fn compare_region(
    State(state): State<AppState>,
    Path(region): Path<String>,
    AppQuery(query): AppQuery<CompareQuery>,
) -> Result<Json<ComparisonDto>, ApiError> {
    let region = Region::parse(&region)?;
    let request = CompareRequest {
        region: region.code().into(),
        annual_kwh: query.annual_kwh,
        shape: query.shape,
        hourly_weights: None,
        consumption_csv: None,
        tariff_type: query.tariff_type,
        green_only: query.green_only,
        current_tariff_id: query.current_tariff_id,
    };
    run_comparison(&state, request).await.map(Json)
}

/// Ranks the region's available tariffs by annual cost for the profile in the body.
#[utoipa::path(post, path = "/compare", request_body = CompareRequest, tag = "suppliers",
    responses((status = 200, body = ComparisonDto), (status = 400, body = ErrorResponse),
              (status = 422, body = ErrorResponse)))]
pub async fn compare_profile(
    State(state): State<AppState>,
    AppJson(request): AppJson<CompareRequest>,
) -> Result<Json<ComparisonDto>, ApiError> {
    run_comparison(&state, request).await.map(Json)
}

/// A profile, the region's tariffs and prices, ranked.
pub async fn run_comparison(
    state: &AppState,
    request: CompareRequest,
) -> Result<ComparisonDto, ApiError> {
    let region = Region::parse(&request.region)?;
    let tariff_type = request
        .tariff_type
        .as_deref()
        .map(|t| {
            t.parse::<TariffType>()
                .map_err(|e| ApiError::invalid_field("tariff_type", e))
        })
        .transpose()?;
    let (profile, profile_dto) = profile_of(region, &request)?;
    let today = today(state);
    let (_, tariffs) = catalogue(state).await?;
    let chosen: Vec<TariffRow> = tariffs
        .into_iter()
        .filter(|t| t.region == region.code() && t.available_on(&today))
        .filter(|t| tariff_type.is_none_or(|ty| t.tariff_type == ty.as_str()))
        .filter(|t| !request.green_only || t.green_share == 100)
        .collect();
    let now = state.now();
    let year = if state.enabled_regions().any(|r| r == region) {
        Some(state.year_prices().of(state, region).await?)
    } else {
        None
    };
    let prices: &[PricePoint] = year.as_ref().map_or(&[], |y| &y.points);
    let mut sources: Vec<Source> = prices.iter().map(|p| p.source).collect();
    sources.sort_by_key(|s| s.as_str());
    sources.dedup();
    let Comparison {
        ranked,
        days_of_prices,
        from,
        to,
    } = compare(region, chosen, &profile, prices, now);
    let current = request.current_tariff_id.as_ref().and_then(|id| {
        ranked
            .iter()
            .find(|r| &r.tariff.id == id)
            .and_then(|r| r.cost.as_ref().ok())
            .map(|c| c.total)
    });
    let mut tariffs = Vec::new();
    let mut unpriced = Vec::new();
    for r in ranked {
        match r.cost {
            Ok(cost) => tariffs.push(RankedTariff {
                rank: tariffs.len() + 1,
                saving_vs_current: current.map(|c| c - cost.total),
                tariff_id: r.tariff.id,
                tariff_name: r.tariff.name,
                supplier_id: r.tariff.supplier_id,
                tariff_type: r.tariff.tariff_type,
                currency: r.tariff.currency,
                annual_cost: cost.total,
                energy_cost: cost.energy,
                standing_cost: cost.standing,
                cost_per_kwh: cost.per_kwh,
                green_share: r.tariff.green_share,
                example: r.tariff.example,
                source: r.tariff.source,
                source_date: r.tariff.source_date,
            }),
            Err(Unpriced::NoWholesalePrices) => unpriced.push(UnpricedTariff {
                tariff_id: r.tariff.id,
                reason: "no stored prices for the region to price a wholesale-tracking tariff",
            }),
        }
    }
    let has_prices = !prices.is_empty();
    Ok(ComparisonDto {
        region: region.code().into(),
        profile: profile_dto,
        prices: PricesUsed {
            days: (days_of_prices * 100.0).round() / 100.0,
            from: has_prices.then(|| from.to_string()),
            to: has_prices.then(|| to.to_string()),
            sources: sources.iter().map(|s| s.as_str().to_string()).collect(),
        },
        current_tariff_id: request.current_tariff_id,
        tariffs,
        unpriced,
    })
}

/// The profile of a request: its annual kWh (given, from the series, or the region's typical
/// household) and its daily shape.
fn profile_of(region: Region, request: &CompareRequest) -> Result<(Profile, ProfileDto), ApiError> {
    if let Some(kwh) = request.annual_kwh
        && !(kwh.is_finite() && (1.0..=1_000_000.0).contains(&kwh))
    {
        return Err(ApiError::invalid_field(
            "annual_kwh",
            "must be between 1 and 1000000",
        ));
    }
    let (shape, shape_name, series_kwh) = match (
        &request.consumption_csv,
        request.shape,
        &request.hourly_weights,
    ) {
        (Some(csv), None | Some(ShapeName::Custom), None) => {
            let series = parse_series(csv)?;
            let (shape, total, days) = DailyShape::from_series(&series, &region.time_zone())
                .ok_or_else(|| {
                    ApiError::invalid_field("consumption_csv", "the series has no consumption")
                })?;
            (shape, "series", Some(total / days * 365.0))
        }
        (Some(_), _, _) => {
            return Err(ApiError::invalid_field(
                "consumption_csv",
                "give a series or a shape (and weights), not both",
            ));
        }
        (None, Some(ShapeName::Custom), Some(weights)) => {
            let weights: [f64; 24] = weights
                .as_slice()
                .try_into()
                .map_err(|_| ApiError::invalid_field("hourly_weights", "must be 24 numbers"))?;
            let shape = DailyShape::from_weights(weights).ok_or_else(|| {
                ApiError::invalid_field("hourly_weights", "must be non-negative, not all zero")
            })?;
            (shape, "custom", None)
        }
        (None, Some(ShapeName::Custom), None) => {
            return Err(ApiError::invalid_field(
                "hourly_weights",
                "a custom shape needs 24 weights or a consumption_csv",
            ));
        }
        (None, _, Some(_)) => {
            return Err(ApiError::invalid_field(
                "hourly_weights",
                "only a custom shape takes weights",
            ));
        }
        (None, Some(ShapeName::Flat), None) => (DailyShape::flat(), "flat", None),
        (None, Some(ShapeName::Household) | None, None) => {
            (DailyShape::household(), "household", None)
        }
    };
    let (annual_kwh, basis) = match (request.annual_kwh, series_kwh) {
        (Some(kwh), _) => (kwh, "given".to_string()),
        (None, Some(kwh)) if kwh >= 1.0 => (kwh, "the uploaded series, scaled to a year".into()),
        (None, Some(_)) => {
            return Err(ApiError::invalid_field(
                "consumption_csv",
                "the series amounts to less than 1 kWh a year",
            ));
        }
        (None, None) => {
            let (kwh, basis) = default_annual_kwh(region);
            (kwh, basis.to_string())
        }
    };
    let profile = Profile {
        annual_kwh: Decimal::try_from(annual_kwh)
            .unwrap_or(Decimal::ONE)
            .round_dp(3),
        shape,
    };
    Ok((
        profile,
        ProfileDto {
            annual_kwh: (annual_kwh * 1000.0).round() / 1000.0,
            shape: shape_name,
            basis,
        },
    ))
}

/// `start,kwh` lines; a first line that does not parse is taken as a header.
fn parse_series(csv: &str) -> Result<Vec<(Timestamp, f64)>, ApiError> {
    let mut series = Vec::new();
    for (n, line) in csv.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let parsed = line.split_once(',').and_then(|(start, kwh)| {
            let start: Timestamp = start.trim().parse().ok()?;
            let kwh: f64 = kwh.trim().parse().ok()?;
            (kwh.is_finite() && kwh >= 0.0).then_some((start, kwh))
        });
        match parsed {
            Some(row) => series.push(row),
            None if n == 0 => {}
            None => {
                return Err(ApiError::invalid_field(
                    "consumption_csv",
                    format!(
                        "line {}: expected `start,kwh` (RFC 3339 start, non-negative kWh)",
                        n + 1
                    ),
                ));
            }
        }
    }
    if series.len() < 24 {
        return Err(ApiError::invalid_field(
            "consumption_csv",
            "needs at least 24 intervals",
        ));
    }
    Ok(series)
}

/// The whole catalogue (small; read per request).
pub async fn catalogue(state: &AppState) -> Result<(Vec<SupplierRow>, Vec<TariffRow>), ApiError> {
    let storage = state.storage();
    Ok((storage.suppliers().await?, storage.tariffs().await?))
}

fn find_supplier<'a>(suppliers: &'a [SupplierRow], id: &str) -> Result<&'a SupplierRow, ApiError> {
    suppliers
        .iter()
        .find(|s| s.id == id)
        .ok_or_else(|| ApiError::SupplierNotFound(id.chars().take(64).collect()))
}

/// Today's date in UTC, for tariff validity.
pub fn today(state: &AppState) -> String {
    state
        .now()
        .to_zoned(jiff::tz::TimeZone::UTC)
        .date()
        .to_string()
}
