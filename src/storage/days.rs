//! Per-day statistics of each source's prices (`price_days`), written in the same transaction as
//! the points they summarise, and read by statistics over long ranges.

use std::collections::BTreeMap;

use jiff::civil::Date;
use serde::{Deserialize, Serialize};
use wattline_actors::domain::calendar::{day_bounds, day_length, local_date};
use wattline_actors::domain::price::harmonize_units;
use wattline_actors::domain::stats::PartStatistics;
use wattline_actors::domain::{PricePoint, Region, Source};

use super::db::Tx;
use super::prices::SELECT_PRICES;
use super::rows::PriceRow;
use super::sql::{Dialect, Kind, OnConflict, Statement, Table, col};
use super::{Storage, StorageError, decode_rows, to_json};

/// `price_days`: one row per (region, source, local day).
pub static PRICE_DAYS: Table = Table {
    name: "price_days",
    columns: &[
        col("region", Kind::Text),
        col("source", Kind::Text),
        col("day", Kind::Text),
        col("count", Kind::Int),
        col("minutes", Kind::Int),
        col("min_price", Kind::Money),
        col("min_at", Kind::Time),
        col("max_price", Kind::Money),
        col("max_at", Kind::Time),
        col("weighted_sum", Kind::Money),
        col("unit", Kind::Text),
        col("oldest_fetch", Kind::Time),
    ],
    key: &["region", "source", "day"],
};

static UPSERT_DAYS: Statement =
    Statement::new(|d: Dialect| PRICE_DAYS.insert(d, "rows", OnConflict::Update));
static SELECT_DAYS: Statement = Statement::new(|d: Dialect| {
    PRICE_DAYS.select(
        d,
        "region = {region} AND day >= {first} AND day <= {last}",
        "day, source",
        "",
    )
});
static COUNT_DAYS: Statement = Statement::new(|d: Dialect| {
    super::sql::render(
        "SELECT {sqlite:json_object('days', (SELECT count(*) FROM price_days), 'points', (SELECT count(*) FROM price_points))\
         |postgres:json_build_object('days', (SELECT count(*) FROM price_days), 'points', (SELECT count(*) FROM price_points))::text}",
        d,
    )
});

static EXTENT: Statement = Statement::new(|d: Dialect| {
    super::sql::render(
        "SELECT {sqlite:json_object('first', min(start_at), 'last', max(start_at))\
         |postgres:json_build_object('first', min(start_at), 'last', max(start_at))::text} \
         FROM price_points WHERE region = {region}",
        d,
    )
});

/// A row of [`PRICE_DAYS`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PriceDayRow {
    pub region: Region,
    pub source: Source,
    pub day: Date,
    #[serde(flatten)]
    pub statistics: PartStatistics,
}

/// The statistics of one source's points of one day.
fn day_row(
    region: Region,
    source: Source,
    day: Date,
    points: Vec<PricePoint>,
) -> Option<PriceDayRow> {
    let points = harmonize_units(points);
    Some(PriceDayRow {
        region,
        source,
        day,
        statistics: PartStatistics::of(&points)?,
    })
}

/// Recomputes the day rows of every (region, source, day) `points` touch, inside `tx` after the
/// points were written. A batch holding a whole day of a source is summarised as it is; a
/// partial one reads the rest of that day back first.
pub(crate) async fn refresh(tx: &mut Tx, points: &[PricePoint]) -> Result<(), StorageError> {
    let mut groups: BTreeMap<(Region, Source, Date), Vec<PricePoint>> = BTreeMap::new();
    for p in points.iter().filter(|p| p.duration_minutes <= 24 * 60) {
        groups
            .entry((p.region, p.source, local_date(p.region, p.start)))
            .or_default()
            .push(p.clone());
    }
    let mut rows = Vec::with_capacity(groups.len());
    for ((region, source, day), mut group) in groups {
        group.sort_by_key(|p| p.start);
        group.dedup_by_key(|p| p.start);
        let minutes: i64 = group.iter().map(|p| i64::from(p.duration_minutes)).sum();
        let whole_day = minutes == day_length(region, day).as_mins();
        let points = if whole_day {
            group
        } else {
            let (from, to) = day_bounds(region, day);
            let json = tx
                .fetch_json(
                    &SELECT_PRICES,
                    &to_json(&serde_json::json!({
                        "region": region, "from": from, "to": to, "source": source,
                    })),
                )
                .await?;
            decode_rows::<PriceRow>(json.as_deref())?
                .into_iter()
                .map(PricePoint::from)
                .filter(|p| p.duration_minutes <= 24 * 60)
                .collect()
        };
        rows.extend(day_row(region, source, day, points));
    }
    if !rows.is_empty() {
        tx.execute(&UPSERT_DAYS, &to_json(&serde_json::json!({ "rows": rows })))
            .await?;
    }
    Ok(())
}

impl Storage {
    /// The day rows of `region` for local days `first..=last`, by day then source.
    pub async fn price_days(
        &self,
        region: Region,
        first: Date,
        last: Date,
    ) -> Result<Vec<PriceDayRow>, StorageError> {
        self.rows(
            &SELECT_DAYS,
            &serde_json::json!({ "region": region, "first": first, "last": last }),
        )
        .await
    }

    /// Builds the day rows of a database whose points predate them (once, on open): region by
    /// region, ninety local days of points at a time.
    pub(crate) async fn build_missing_days(&self) -> Result<(), StorageError> {
        #[derive(Deserialize)]
        struct Counts {
            days: u64,
            points: u64,
        }
        #[derive(Deserialize)]
        struct Extent {
            first: Option<jiff::Timestamp>,
            last: Option<jiff::Timestamp>,
        }
        let counts = self.pool().fetch_json(&COUNT_DAYS, "{}").await?;
        let counts: Counts = serde_json::from_str(counts.as_deref().unwrap_or("{}"))
            .map_err(|e| StorageError::Corrupt(e.to_string()))?;
        if counts.days > 0 || counts.points == 0 {
            return Ok(());
        }
        tracing::info!(
            points = counts.points,
            "Summarising stored prices per day (once)."
        );
        for region in Region::ALL {
            let extent = self
                .pool()
                .fetch_json(&EXTENT, &to_json(&serde_json::json!({ "region": region })))
                .await?;
            let extent: Extent = serde_json::from_str(extent.as_deref().unwrap_or("{}"))
                .map_err(|e| StorageError::Corrupt(e.to_string()))?;
            let (Some(first), Some(last)) = (extent.first, extent.last) else {
                continue;
            };
            let mut day = local_date(region, first);
            let last_day = local_date(region, last);
            while day <= last_day {
                let until = day
                    .checked_add(jiff::Span::new().days(90))
                    .unwrap_or(last_day);
                let points = self
                    .price_range(&super::RangeQuery {
                        region,
                        from: day_bounds(region, day).0,
                        to: day_bounds(region, until).0,
                        source: None,
                    })
                    .await?;
                let mut tx = self.begin().await?;
                refresh(&mut tx, &points).await?;
                tx.commit().await?;
                day = until;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::rows::tests::{columns, fields};

    #[test]
    fn the_day_row_names_exactly_its_table_columns() {
        let at = jiff::Timestamp::UNIX_EPOCH;
        let row = PriceDayRow {
            region: Region::Uk,
            source: Source::Simulated,
            day: jiff::civil::date(2026, 1, 15),
            statistics: PartStatistics {
                count: 1,
                minutes: 30,
                min_price: rust_decimal::Decimal::ONE,
                min_at: at,
                max_price: rust_decimal::Decimal::ONE,
                max_at: at,
                weighted_sum: rust_decimal::Decimal::ONE,
                unit: wattline_actors::domain::EnergyUnit::KWh,
                oldest_fetch: at,
            },
        };
        assert_eq!(fields(&row), columns(&PRICE_DAYS));
    }
}
