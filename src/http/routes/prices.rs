//! Price reads: the current price from the latest-price cache, and history, statistics and
//! source comparison from the cache's window or storage (`series.rs`).

use axum::Json;
use axum::extract::State;
use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use wattline_actors::domain::compare::{SourceSummary, compare_sources};
use wattline_actors::domain::price::{harmonize_units, prefer_sources};
use wattline_actors::domain::stats::PriceStatistics;
use wattline_actors::domain::{PricePoint, Region, Source};

use crate::error::ApiError;
use crate::http::dto::{PriceDto, Provenance};
use crate::http::extract::AppQuery;
use crate::http::params::{bounded, instant, source, trailing_days};
use crate::http::rendered::{PriceItem, PriceList};
use crate::http::series::{Sources, Summary, series, summary};
use crate::http::state::AppState;
use crate::storage::RangeQuery;

/// Routes under `/api/v1/prices` served by this module.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_current_price))
        .routes(routes!(list_price_history))
        .routes(routes!(get_price_statistics))
        .routes(routes!(compare_price_sources))
}

/// Freshness limit of served prices.
pub(crate) fn freshness(state: &AppState) -> SignedDuration {
    // Bounded to a hundred years when the configuration loads, so this never overflows.
    SignedDuration::try_from(state.settings().prices.freshness_limit).unwrap_or(SignedDuration::MAX)
}

/// Provenance of `region`'s `points` as served now.
pub(crate) fn provenance(state: &AppState, region: Region, points: &[PricePoint]) -> Provenance {
    let failing = state.latest().snapshot().is_failing(region);
    Provenance::of(points, state.now(), freshness(state), failing)
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct CurrentQuery {
    /// Region code, e.g. `germany`.
    region: String,
    /// How many intervals to list from the current one on (1–100, default 10).
    #[param(minimum = 1, maximum = 100)]
    limit: Option<u32>,
    /// The older API's supplier filter: market prices have no supplier, so only an empty value
    /// is accepted (supplier tariffs are served under `/api/v1/suppliers`).
    supplier: Option<String>,
}

/// The price in force now and the next ones.
#[derive(Debug, Serialize, ToSchema)]
pub struct CurrentPriceResponse {
    #[schema(value_type = String)]
    region: Region,
    region_name: &'static str,
    time_zone: &'static str,
    #[schema(value_type = String, format = DateTime)]
    timestamp: Timestamp,
    /// The interval covering `timestamp`.
    #[schema(value_type = PriceDto)]
    price: PriceItem,
    /// The current interval and the following ones, up to `limit`.
    #[schema(value_type = Vec<PriceDto>)]
    prices: PriceList,
    #[serde(flatten)]
    provenance: Provenance,
}

/// Current price of a region, served from the in-memory cache.
#[utoipa::path(get, path = "/current", params(CurrentQuery), tag = "prices",
    responses((status = 200, body = CurrentPriceResponse), (status = 400, body = crate::http::dto::ErrorResponse),
              (status = 503, body = crate::http::dto::ErrorResponse)))]
pub async fn get_current_price(
    State(state): State<AppState>,
    AppQuery(q): AppQuery<CurrentQuery>,
) -> Result<Json<CurrentPriceResponse>, ApiError> {
    let region = state.region(&q.region)?;
    no_supplier(q.supplier.as_deref())?;
    let limit = bounded("limit", q.limit.unwrap_or(10), 1, 100)? as usize;
    let now = state.now();
    let snapshot = state.latest().snapshot();
    let Some(current) = snapshot.current(region, now) else {
        let fetcher = match state.prices().status().await {
            Ok(all) => all
                .into_iter()
                .find(|s| s.region == region)
                .map(|s| s.state.to_string()),
            Err(_) => None,
        };
        return Err(ApiError::PriceUnavailable {
            region,
            state: fetcher.unwrap_or_else(|| "unavailable".into()),
        });
    };
    let provenance = provenance(&state, region, std::slice::from_ref(current));
    // The current price and the next ones, as JSON rendered once per version of the series.
    let rendered = state.rendered().of(&snapshot, region);
    let first = rendered.points().partition_point(|p| p.start <= now) - 1;
    let end = rendered.points().len().min(first + limit);
    Ok(Json(CurrentPriceResponse {
        region,
        region_name: region.name(),
        time_zone: region.time_zone_name(),
        timestamp: now,
        price: PriceItem::Rendered {
            rendered: rendered.clone(),
            index: first,
        },
        prices: PriceList::Rendered {
            rendered,
            range: first..end,
        },
        provenance,
    }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct HistoryQuery {
    region: String,
    /// Days back from now (1–365, default 7). Not combined with `start`/`end`.
    #[param(minimum = 1, maximum = 365)]
    days: Option<u32>,
    /// Range start: RFC 3339 timestamp or local date.
    start: Option<String>,
    /// Range end (exclusive, default now): RFC 3339 timestamp or local date.
    end: Option<String>,
    /// Only prices of this source (default: one price per interval, preferred source first).
    source: Option<String>,
    /// Page size (1–1000, default 500).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<u32>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
    /// The older API's supplier filter (only an empty value: market prices have no supplier).
    supplier: Option<String>,
}

/// The older `supplier` filter: market prices belong to no supplier, so a named one is refused
/// rather than silently ignored.
fn no_supplier(supplier: Option<&str>) -> Result<(), ApiError> {
    match supplier {
        None | Some("") => Ok(()),
        Some(_) => Err(ApiError::InvalidParameter {
            name: "supplier",
            message: "these are wholesale market prices, which have no supplier; \
                      supplier tariffs are under /api/v1/suppliers"
                .into(),
        }),
    }
}

/// Statistics of a range.
#[derive(Debug, Serialize, ToSchema)]
pub struct StatisticsDto {
    count: usize,
    #[schema(value_type = String)]
    min_price: rust_decimal::Decimal,
    #[schema(value_type = String, format = DateTime)]
    min_at: Timestamp,
    #[schema(value_type = String)]
    max_price: rust_decimal::Decimal,
    #[schema(value_type = String, format = DateTime)]
    max_at: Timestamp,
    /// Time-weighted average.
    #[schema(value_type = String)]
    avg_price: rust_decimal::Decimal,
}

impl From<PriceStatistics> for StatisticsDto {
    fn from(s: PriceStatistics) -> Self {
        StatisticsDto {
            count: s.count,
            min_price: s.min_price,
            min_at: s.min_at,
            max_price: s.max_price,
            max_at: s.max_at,
            avg_price: s.avg_price,
        }
    }
}

/// A page of stored prices with statistics over the whole range.
#[derive(Debug, Serialize, ToSchema)]
pub struct HistoryResponse {
    #[schema(value_type = String)]
    region: Region,
    #[schema(value_type = String, format = DateTime)]
    start: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    end: Timestamp,
    /// Prices in the whole range (all pages).
    count: usize,
    statistics: Option<StatisticsDto>,
    #[schema(value_type = Vec<PriceDto>)]
    prices: PriceList,
    /// Pass as `cursor` for the next page; absent on the last page.
    next_cursor: Option<String>,
    #[serde(flatten)]
    provenance: Provenance,
    /// The older keys: `start_date`/`end_date` (= `start`/`end`), `supplier` (null) and the
    /// range's `average_price`, `min_price`, `max_price`.
    #[schema(value_type = String, format = DateTime)]
    start_date: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    end_date: Timestamp,
    supplier: Option<String>,
    #[schema(value_type = Option<String>)]
    average_price: Option<rust_decimal::Decimal>,
    #[schema(value_type = Option<String>)]
    min_price: Option<rust_decimal::Decimal>,
    #[schema(value_type = Option<String>)]
    max_price: Option<rust_decimal::Decimal>,
}

/// Stored prices of a range, paged, with statistics.
#[utoipa::path(get, path = "/history", params(HistoryQuery), tag = "prices",
    responses((status = 200, body = HistoryResponse), (status = 400, body = crate::http::dto::ErrorResponse)))]
pub async fn list_price_history(
    State(state): State<AppState>,
    AppQuery(q): AppQuery<HistoryQuery>,
) -> Result<Json<HistoryResponse>, ApiError> {
    let region = state.region(&q.region)?;
    no_supplier(q.supplier.as_deref())?;
    let now = state.now();
    let (start, end) = history_range(&q, region, now)?;
    let only = q
        .source
        .as_deref()
        .map(|s| source("source", s))
        .transpose()?;
    let limit = bounded("limit", q.limit.unwrap_or(500), 1, 1000)? as usize;
    let after = match q.cursor.as_deref() {
        Some(c) => Some(
            wattline_actors::domain::calendar::parse_rfc3339(c).map_err(|_| {
                ApiError::InvalidParameter {
                    name: "cursor",
                    message: "not a cursor returned by this endpoint".into(),
                }
            })?,
        ),
        None => None,
    };
    let sources = only.map_or(Sources::Served, Sources::Only);
    let summary = summary(&state, region, start, end, sources).await?;
    let (page, next_cursor) =
        history_page(&state, region, (start, end), sources, after, limit).await?;
    let stats = summary.statistics.as_ref();
    Ok(Json(HistoryResponse {
        start_date: start,
        end_date: end,
        supplier: None,
        average_price: stats.map(|s| s.avg_price),
        min_price: stats.map(|s| s.min_price),
        max_price: stats.map(|s| s.max_price),
        region,
        start,
        end,
        count: summary.statistics.as_ref().map_or(0, |s| s.count),
        statistics: summary.statistics.clone().map(Into::into),
        prices: page,
        next_cursor,
        provenance: summary_provenance(&state, region, summary),
    }))
}

/// One page of the range after `after` (at most `limit` points) and the cursor of the next.
async fn history_page(
    state: &AppState,
    region: Region,
    (start, end): (Timestamp, Timestamp),
    sources: Sources,
    after: Option<Timestamp>,
    limit: usize,
) -> Result<(PriceList, Option<String>), ApiError> {
    let from = after.map_or(start, |a| a.max(start));
    let snapshot = state.latest().snapshot();
    let (list, more) = if sources == Sources::Served && snapshot.window(region, from, end).is_some()
    {
        // The served series from the cache, as JSON rendered once per version.
        let rendered = state.rendered().of(&snapshot, region);
        let mut range = rendered.range(from, end);
        if let Some(after) = after {
            range.start += rendered.points()[range.clone()].partition_point(|p| p.start <= after);
        }
        let more = range.len() > limit;
        range.end = range.end.min(range.start + limit);
        (PriceList::Rendered { rendered, range }, more)
    } else {
        let points: Vec<PricePoint> = if snapshot.window_all_sources(region, from, end).is_some() {
            let all = series(state, region, from, end, sources).await?;
            let skip = after.map_or(0, |a| all.partition_point(|p| p.start <= a));
            all[skip..all.len().min(skip + limit + 1)].to_vec()
        } else {
            // Only the page is read: the first `limit + 1` interval starts after the cursor.
            let stored = state
                .storage()
                .price_page(
                    &RangeQuery {
                        region,
                        from: start,
                        to: end,
                        source: match sources {
                            Sources::Only(s) => Some(s),
                            _ => None,
                        },
                    },
                    after,
                    limit + 1,
                )
                .await?;
            match sources {
                Sources::Served => harmonize_units(prefer_sources(
                    stored,
                    state.preference().for_region(region),
                )),
                _ => stored,
            }
        };
        let more = points.len() > limit;
        (
            PriceList::Points(points.into_iter().take(limit).collect()),
            more,
        )
    };
    let next_cursor = more
        .then(|| list.points().last().map(|p| p.start.to_string()))
        .flatten();
    Ok((list, next_cursor))
}

/// Provenance of a summarised range as served now.
fn summary_provenance(state: &AppState, region: Region, summary: Summary) -> Provenance {
    let failing = state.latest().snapshot().is_failing(region);
    Provenance::from_parts(
        summary.sources,
        summary.oldest_fetch,
        state.now(),
        freshness(state),
        failing,
    )
}

/// `[start, end)` from `days` or `start`/`end`, at most 366 days long.
fn history_range(
    q: &HistoryQuery,
    region: Region,
    now: Timestamp,
) -> Result<(Timestamp, Timestamp), ApiError> {
    if q.days.is_some() && (q.start.is_some() || q.end.is_some()) {
        return Err(ApiError::InvalidParameter {
            name: "days",
            message: "use either `days` or `start`/`end`, not both".into(),
        });
    }
    let end = q
        .end
        .as_deref()
        .map(|e| instant("end", e, region))
        .transpose()?
        .unwrap_or(now);
    let start = match q.start.as_deref() {
        Some(s) => instant("start", s, region)?,
        None => trailing_days(end, bounded("days", q.days.unwrap_or(7), 1, 365)?).0,
    };
    if start >= end {
        return Err(ApiError::InvalidParameter {
            name: "start",
            message: "must be before `end`".into(),
        });
    }
    if end.duration_since(start) > SignedDuration::from_hours(366 * 24) {
        return Err(ApiError::InvalidParameter {
            name: "start",
            message: "range is longer than 366 days".into(),
        });
    }
    Ok((start, end))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PeriodQuery {
    region: String,
    /// Days back from now (1–365, default 7).
    #[param(minimum = 1, maximum = 365)]
    days: Option<u32>,
}

/// Statistics of the last `days` days.
#[derive(Debug, Serialize, ToSchema)]
pub struct StatisticsResponse {
    #[schema(value_type = String)]
    region: Region,
    period_days: u32,
    #[schema(value_type = String, format = DateTime)]
    start: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    end: Timestamp,
    #[schema(value_type = Option<String>)]
    currency: Option<wattline_actors::domain::Currency>,
    #[schema(value_type = Option<String>)]
    unit: Option<wattline_actors::domain::EnergyUnit>,
    /// Absent when the period holds no prices.
    statistics: Option<StatisticsDto>,
    #[serde(flatten)]
    provenance: Provenance,
    /// The older keys: the statistics at the top level.
    #[schema(value_type = Option<String>)]
    min_price: Option<rust_decimal::Decimal>,
    #[schema(value_type = Option<String>)]
    max_price: Option<rust_decimal::Decimal>,
    #[schema(value_type = Option<String>)]
    avg_price: Option<rust_decimal::Decimal>,
    count: usize,
}

/// Min, max, time-weighted average and count over the last `days` days.
#[utoipa::path(get, path = "/statistics", params(PeriodQuery), tag = "prices",
    responses((status = 200, body = StatisticsResponse), (status = 400, body = crate::http::dto::ErrorResponse)))]
pub async fn get_price_statistics(
    State(state): State<AppState>,
    AppQuery(q): AppQuery<PeriodQuery>,
) -> Result<Json<StatisticsResponse>, ApiError> {
    let region = state.region(&q.region)?;
    let days = bounded("days", q.days.unwrap_or(7), 1, 365)?;
    let now = state.now();
    let (start, end) = trailing_days(now, days);
    let summary = summary(&state, region, start, end, Sources::Served).await?;
    let stats = summary.statistics.as_ref();
    Ok(Json(StatisticsResponse {
        min_price: stats.map(|s| s.min_price),
        max_price: stats.map(|s| s.max_price),
        avg_price: stats.map(|s| s.avg_price),
        count: stats.map_or(0, |s| s.count),
        region,
        period_days: days,
        start,
        end,
        currency: summary.statistics.as_ref().map(|_| region.currency()),
        unit: summary.unit,
        statistics: summary.statistics.clone().map(Into::into),
        provenance: summary_provenance(&state, region, summary),
    }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct CompareQuery {
    region: String,
    /// Days back from now (1–30, default 1).
    #[param(minimum = 1, maximum = 30)]
    days: Option<u32>,
}

/// What each source reported over the same period.
#[derive(Debug, Serialize, ToSchema)]
pub struct CompareResponse {
    #[schema(value_type = String)]
    region: Region,
    period_days: u32,
    #[schema(value_type = String, format = DateTime)]
    start: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    end: Timestamp,
    /// Sources, cheapest average first.
    #[schema(value_type = Vec<Object>)]
    sources: Vec<SourceSummary>,
    #[schema(value_type = Option<String>)]
    cheapest_source: Option<Source>,
    /// The older keys: the sources as `suppliers` (cheapest first), the cheapest one's name and
    /// average, the average over all sources, the time asked and the served `source`.
    #[schema(value_type = String, format = DateTime)]
    timestamp: Timestamp,
    #[schema(value_type = Vec<Object>)]
    suppliers: Vec<SourceSummary>,
    #[schema(value_type = Option<String>)]
    cheapest_supplier: Option<Source>,
    #[schema(value_type = Option<String>)]
    cheapest_price: Option<rust_decimal::Decimal>,
    #[schema(value_type = Option<String>)]
    average_price: Option<rust_decimal::Decimal>,
    #[schema(value_type = Option<String>)]
    source: Option<Source>,
}

/// Compares the sources that reported prices for a region over the last `days` days.
#[utoipa::path(get, path = "/compare", params(CompareQuery), tag = "prices",
    responses((status = 200, body = CompareResponse), (status = 400, body = crate::http::dto::ErrorResponse)))]
pub async fn compare_price_sources(
    State(state): State<AppState>,
    AppQuery(q): AppQuery<CompareQuery>,
) -> Result<Json<CompareResponse>, ApiError> {
    let region = state.region(&q.region)?;
    let days = bounded("days", q.days.unwrap_or(1), 1, 30)?;
    let (start, end) = trailing_days(state.now(), days);
    let points = series(&state, region, start, end, Sources::All).await?;
    // One unit for all sources, so averages and premiums compare like with like.
    let harmonized = harmonize_units(points.to_vec());
    let sources = compare_sources(&harmonized);
    let served = state.preference().for_region(region).first().copied();
    Ok(Json(CompareResponse {
        timestamp: state.now(),
        suppliers: sources.clone(),
        cheapest_supplier: sources.first().map(|s| s.source),
        cheapest_price: sources.first().map(|s| s.statistics.avg_price),
        average_price: wattline_actors::domain::stats::statistics(&harmonized).map(|s| s.avg_price),
        source: served,
        region,
        period_days: days,
        start,
        end,
        cheapest_source: sources.first().map(|s| s.source),
        sources,
    }))
}
