//! Where a range of prices is read from: the latest-price cache when its window holds the whole
//! range (the last 31 days by default: every default of history, statistics, trends, peak hours
//! and compare), storage otherwise. Both give the same series: the served one (preferred source
//! per interval, one unit) unless a source is named, or every source for comparisons.

use std::ops::Deref;
use std::sync::Arc;

use jiff::Timestamp;
use jiff::civil::Date;
use wattline_actors::domain::calendar::{day_bounds, local_date};
use wattline_actors::domain::price::{harmonize_units, prefer_sources};
use wattline_actors::domain::stats::{PartStatistics, PriceStatistics, combine, majority_unit};
use wattline_actors::domain::{EnergyUnit, PricePoint, Region, Source};
use wattline_actors::writer::LatestSnapshot;

use crate::error::ApiError;
use crate::http::state::AppState;
use crate::storage::RangeQuery;

/// A range of points, borrowed from a cache snapshot or read from storage.
pub enum Series {
    /// `snapshot.window(region, from, to)` of a snapshot that covers the range.
    Cached {
        snapshot: Arc<LatestSnapshot>,
        region: Region,
        from: Timestamp,
        to: Timestamp,
        all_sources: bool,
    },
    Owned(Vec<PricePoint>),
}

impl Deref for Series {
    type Target = [PricePoint];

    fn deref(&self) -> &[PricePoint] {
        match self {
            Series::Cached {
                snapshot,
                region,
                from,
                to,
                all_sources,
            } => {
                let window = if *all_sources {
                    snapshot.window_all_sources(*region, *from, *to)
                } else {
                    snapshot.window(*region, *from, *to)
                };
                // Checked when the series was made; a snapshot never changes.
                window.unwrap_or(&[])
            }
            Series::Owned(points) => points,
        }
    }
}

/// Which points of a range a reader wants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sources {
    /// The served series: one point per interval, preferred source first, one unit.
    Served,
    /// Only this source's points.
    Only(Source),
    /// Every source's points, by start then source.
    All,
}

/// The points of `region` starting in `[from, to)`.
pub async fn series(
    state: &AppState,
    region: Region,
    from: Timestamp,
    to: Timestamp,
    sources: Sources,
) -> Result<Series, ApiError> {
    let snapshot = state.latest().snapshot();
    match sources {
        Sources::Served if snapshot.window(region, from, to).is_some() => {
            return Ok(Series::Cached {
                snapshot,
                region,
                from,
                to,
                all_sources: false,
            });
        }
        Sources::All if snapshot.window_all_sources(region, from, to).is_some() => {
            return Ok(Series::Cached {
                snapshot,
                region,
                from,
                to,
                all_sources: true,
            });
        }
        Sources::Only(source) => {
            if let Some(all) = snapshot.window_all_sources(region, from, to) {
                return Ok(Series::Owned(
                    all.iter().filter(|p| p.source == source).cloned().collect(),
                ));
            }
        }
        _ => {}
    }
    let points = state
        .storage()
        .price_range(&RangeQuery {
            region,
            from,
            to,
            source: match sources {
                Sources::Only(source) => Some(source),
                _ => None,
            },
        })
        .await?;
    Ok(Series::Owned(match sources {
        Sources::Served => harmonize_units(prefer_sources(
            points,
            state.preference().for_region(region),
        )),
        Sources::Only(_) | Sources::All => points,
    }))
}

/// Statistics of a range and where its prices came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    pub statistics: Option<PriceStatistics>,
    /// The unit the statistics are in.
    pub unit: Option<EnergyUnit>,
    /// Distinct sources, in order of first appearance.
    pub sources: Vec<Source>,
    /// When the oldest of the prices was fetched.
    pub oldest_fetch: Option<Timestamp>,
}

impl Summary {
    /// The summary of loaded points.
    pub fn of(points: &[PricePoint]) -> Self {
        let mut sources: Vec<Source> = Vec::new();
        for p in points {
            if !sources.contains(&p.source) {
                sources.push(p.source);
            }
        }
        Summary {
            statistics: wattline_actors::domain::stats::statistics(points),
            unit: points.first().map(|p| p.unit),
            sources,
            oldest_fetch: points.iter().map(|p| p.fetched_at).min(),
        }
    }
}

/// The summary of `region`'s prices starting in `[from, to)`: from the cache or the loaded
/// points when the range is short, else from the stored per-day statistics of the whole local
/// days inside the range plus the points of the partial days at its ends. Per day the source
/// that covers most of it is taken (the preferred one on a tie), as the fetchers store whole
/// days from one source.
pub async fn summary(
    state: &AppState,
    region: Region,
    from: Timestamp,
    to: Timestamp,
    sources: Sources,
) -> Result<Summary, ApiError> {
    let (first, last) = whole_days(region, from, to);
    let cached = match sources {
        Sources::Served => state.latest().snapshot().window(region, from, to).is_some(),
        _ => state
            .latest()
            .snapshot()
            .window_all_sources(region, from, to)
            .is_some(),
    };
    if cached || first > last {
        return Ok(Summary::of(
            &series(state, region, from, to, sources).await?,
        ));
    }
    let head = series(state, region, from, day_bounds(region, first).0, sources).await?;
    let tail = series(state, region, day_bounds(region, last).1, to, sources).await?;
    let days = state.storage().price_days(region, first, last).await?;
    let preference = state.preference().for_region(region);
    let rank = |s: Source| {
        preference
            .iter()
            .position(|p| *p == s)
            .unwrap_or(usize::MAX)
    };
    let mut chosen: Vec<(Source, Date, PartStatistics)> = Vec::new();
    for row in days {
        let wanted = match sources {
            Sources::Only(only) => row.source == only,
            _ => true,
        };
        if !wanted {
            continue;
        }
        let better = |current: &(Source, Date, PartStatistics)| {
            (row.statistics.minutes, std::cmp::Reverse(rank(row.source)))
                > (current.2.minutes, std::cmp::Reverse(rank(current.0)))
        };
        match chosen.last_mut() {
            Some(current) if current.1 == row.day => {
                if better(current) {
                    *current = (row.source, row.day, row.statistics);
                }
            }
            _ => chosen.push((row.source, row.day, row.statistics)),
        }
    }
    // Points longer than a day are not in the day rows: a monthly reference is its own part,
    // served only on a day no intraday source covers (as the served series prefers those).
    let long = state
        .storage()
        .long_points(
            region,
            day_bounds(region, first).0,
            day_bounds(region, last).1,
        )
        .await?;
    let mut keyed: Vec<(Timestamp, Source, PartStatistics)> = Vec::new();
    keyed.extend(
        head.first()
            .map(|p| p.start)
            .zip(PartStatistics::of(&head))
            .map(|(at, s)| (at, head[0].source, s)),
    );
    for (source, day, stats) in chosen {
        keyed.push((day_bounds(region, day).0, source, stats));
    }
    let covered_days: std::collections::BTreeSet<Timestamp> =
        keyed.iter().map(|(at, _, _)| *at).collect();
    for p in long.iter().filter(|p| match sources {
        Sources::Only(only) => p.source == only,
        Sources::All => true,
        Sources::Served => {
            !covered_days.contains(&day_bounds(region, local_date(region, p.start)).0)
        }
    }) {
        keyed.extend(PartStatistics::of(std::slice::from_ref(p)).map(|s| (p.start, p.source, s)));
    }
    keyed.extend(
        tail.first()
            .map(|p| p.start)
            .zip(PartStatistics::of(&tail))
            .map(|(at, s)| (at, tail[0].source, s)),
    );
    keyed.sort_by_key(|(at, _, _)| *at);
    let mut source_list: Vec<Source> = Vec::new();
    let all = head
        .iter()
        .map(|p| p.source)
        .chain(keyed.iter().map(|(_, s, _)| *s))
        .chain(tail.iter().map(|p| p.source));
    for s in all {
        if !source_list.contains(&s) {
            source_list.push(s);
        }
    }
    let parts: Vec<PartStatistics> = keyed.into_iter().map(|(_, _, s)| s).collect();
    Ok(Summary {
        statistics: combine(&parts),
        unit: (!parts.is_empty()).then(|| majority_unit(&parts)),
        sources: source_list,
        oldest_fetch: parts.iter().map(|p| p.oldest_fetch).min(),
    })
}

/// The first and last local days lying wholly inside `[from, to)` (first > last when none).
fn whole_days(region: Region, from: Timestamp, to: Timestamp) -> (Date, Date) {
    let mut first = local_date(region, from);
    if day_bounds(region, first).0 < from {
        first = first.tomorrow().unwrap_or(first);
    }
    let mut last = local_date(region, to);
    if day_bounds(region, last).1 > to {
        last = last.yesterday().unwrap_or(last);
    }
    (first, last)
}
