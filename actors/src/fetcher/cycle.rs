//! One fetch cycle of one region: for each planned day, try the region's sources in order and
//! keep the first complete answer. Runs in its own task (never inside the actor's handler), so a
//! slow or hanging provider cannot block the fetcher's mailbox.

use std::sync::Arc;
use std::time::Duration;

use jiff::civil::Date;
use serde::Serialize;
use tokio::time::Instant;

use super::plan::PlannedDay;
use crate::domain::calendar::day_bounds;
use crate::domain::{PricePoint, Region, Source};
use crate::ports::{PriceSource, SourceError, SourceRole};

/// Metric: time spent fetching one day from one source.
pub const FETCH_DURATION_SECONDS: &str = "wattline_fetch_duration_seconds";
/// Metric: failed source fetches, by region, source and reason.
pub const FETCH_ERRORS_TOTAL: &str = "wattline_fetch_errors_total";
/// Metric: days served by a later source because an earlier one failed.
pub const SOURCE_FAILOVER_TOTAL: &str = "wattline_source_failover_total";

/// Creates the per-source counters of `region` at zero, so dashboards and alerts see every
/// region × source series from the start, not only after its first failure.
pub fn register_source_metrics(region: Region, sources: &[Arc<dyn PriceSource>]) {
    for source in sources {
        let source = source.source().as_str();
        metrics::counter!(FETCH_ERRORS_TOTAL, "region" => region.code(), "source" => source)
            .increment(0);
        metrics::counter!(SOURCE_FAILOVER_TOTAL, "region" => region.code(), "source" => source)
            .increment(0);
    }
}

/// One day of prices fetched from one source.
#[derive(Debug, Clone)]
pub struct FetchedDay {
    pub day: Date,
    pub source: Source,
    pub points: Vec<PricePoint>,
    /// From a reference source: stored, but it does not make the day complete.
    pub reference: bool,
}

/// A source that failed for a day, and why.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SourceAttempt {
    pub day: Date,
    pub source: Source,
    pub error: String,
}

/// What a cycle achieved.
#[derive(Debug, Clone, Default)]
pub struct CycleOutcome {
    pub fetched: Vec<FetchedDay>,
    /// Optional days no source has published yet.
    pub pending: Vec<Date>,
    /// Every failed attempt, including those a later source made up for.
    pub attempts: Vec<SourceAttempt>,
    /// Required days no source could deliver.
    pub failed: Vec<Date>,
}

/// Fetches one past or present day, which must be complete (backfills and history bootstraps).
pub async fn fetch_day(
    region: Region,
    day: Date,
    sources: crate::ports::SourceList,
    timeout: Duration,
) -> CycleOutcome {
    let planned = vec![PlannedDay {
        day,
        required: true,
    }];
    run_cycle(region, planned, sources, timeout).await
}

/// Runs one cycle over `days`.
pub async fn run_cycle(
    region: Region,
    days: Vec<PlannedDay>,
    sources: crate::ports::SourceList,
    timeout: Duration,
) -> CycleOutcome {
    let mut outcome = CycleOutcome::default();
    let primary: Vec<&Arc<dyn PriceSource>> = sources
        .iter()
        .filter(|s| s.role() == SourceRole::Primary)
        .collect();
    for planned in &days {
        let mut not_published = 0;
        let mut got = None;
        for (rank, source) in primary.iter().enumerate() {
            match fetch_one(region, planned.day, source.as_ref(), timeout).await {
                Ok(points) => {
                    if rank > 0 {
                        metrics::counter!(SOURCE_FAILOVER_TOTAL, "region" => region.code(), "source" => source.source().as_str())
                            .increment(1);
                    }
                    got = Some(FetchedDay {
                        day: planned.day,
                        source: source.source(),
                        points,
                        reference: false,
                    });
                    break;
                }
                Err(SourceError::NotPublished { .. }) => not_published += 1,
                Err(error) => outcome.attempts.push(failed_attempt(
                    region,
                    planned.day,
                    source.source(),
                    error,
                )),
            }
        }
        match got {
            Some(day) => outcome.fetched.push(day),
            None if !planned.required && not_published > 0 => outcome.pending.push(planned.day),
            None if !planned.required && primary.is_empty() => outcome.pending.push(planned.day),
            None => outcome.failed.push(planned.day),
        }
    }
    // Reference series: once per cycle, for the first planned day; never a failure of the cycle.
    if let Some(first) = days.first() {
        for source in sources.iter().filter(|s| s.role() == SourceRole::Reference) {
            match fetch_one(region, first.day, source.as_ref(), timeout).await {
                Ok(points) => outcome.fetched.push(FetchedDay {
                    day: first.day,
                    source: source.source(),
                    points,
                    reference: true,
                }),
                Err(SourceError::NotPublished { .. }) => {}
                Err(error) => {
                    outcome
                        .attempts
                        .push(failed_attempt(region, first.day, source.source(), error))
                }
            }
        }
    }
    outcome
}

fn failed_attempt(region: Region, day: Date, source: Source, error: SourceError) -> SourceAttempt {
    metrics::counter!(FETCH_ERRORS_TOTAL, "region" => region.code(), "source" => source.as_str())
        .increment(1);
    tracing::warn!(%region, %day, %source, %error, "Price source failed.");
    SourceAttempt {
        day,
        source,
        error: error.to_string(),
    }
}

/// Fetches one day from one source with a timeout, and checks what came back.
async fn fetch_one(
    region: Region,
    day: Date,
    source: &dyn PriceSource,
    timeout: Duration,
) -> Result<Vec<PricePoint>, SourceError> {
    let started = Instant::now();
    let result = match tokio::time::timeout(timeout, source.fetch_day(region, day)).await {
        Ok(result) => result,
        Err(_) => Err(SourceError::Timeout(timeout)),
    };
    metrics::histogram!(FETCH_DURATION_SECONDS, "region" => region.code(), "source" => source.source().as_str())
        .record(started.elapsed().as_secs_f64());
    let points = result?;
    validate_day(region, day, source.source(), &points)?;
    Ok(points)
}

/// An intraday answer must tile the local day: contiguous from local midnight to the next
/// (at one resolution: 92/96/100 quarter-hours, 46/48/50 half-hours, 23/24/25 hours on DST days;
/// tariff slots of mixed lengths must still cover the day without gaps).
pub fn validate_day(
    region: Region,
    day: Date,
    source: Source,
    points: &[PricePoint],
) -> Result<(), SourceError> {
    if let Some(p) = points
        .iter()
        .find(|p| p.region != region || p.source != source)
    {
        return Err(SourceError::Malformed(format!(
            "point for {}/{} in a {region}/{source} answer",
            p.region, p.source
        )));
    }
    // Long intervals (a monthly retail average) are a reference, not a day to complete.
    if points.iter().any(|p| p.duration_minutes > 24 * 60) {
        return Ok(());
    }
    let (start, end) = day_bounds(region, day);
    let Some(first) = points.first() else {
        return Err(SourceError::Incomplete {
            expected: expected_count(region, day, None),
            got: 0,
        });
    };
    let uniform = points
        .iter()
        .all(|p| p.duration_minutes == first.duration_minutes);
    let expected = if uniform {
        expected_count(region, day, Some(first.duration_minutes))
    } else {
        points.len()
    };
    let contiguous = points.windows(2).all(|w| w[1].start == w[0].end());
    let aligned = first.start == start && points.last().map(|p| p.end()) == Some(end);
    if points.len() != expected || !contiguous || !aligned {
        return Err(SourceError::Incomplete {
            expected,
            got: points.len(),
        });
    }
    Ok(())
}

fn expected_count(region: Region, day: Date, minutes: Option<u32>) -> usize {
    let minutes = minutes.unwrap_or(region.resolution().minutes()).max(1);
    let length = crate::domain::calendar::day_length(region, day).as_mins();
    usize::try_from(length / i64::from(minutes)).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::calendar::interval_starts;
    use crate::domain::price::tests::point;
    use jiff::civil::date;
    use rust_decimal::Decimal;

    fn day_points(region: Region, day: Date) -> Vec<PricePoint> {
        interval_starts(region, day)
            .map(|t| point(region, t, region.resolution().minutes(), Decimal::ONE))
            .collect()
    }

    #[test]
    fn complete_days_pass_including_dst_days() {
        for day in [date(2026, 6, 1), date(2026, 3, 29), date(2026, 10, 25)] {
            let points = day_points(Region::Germany, day);
            assert_eq!(
                validate_day(Region::Germany, day, Source::Simulated, &points),
                Ok(())
            );
        }
    }

    #[test]
    fn a_missing_interval_is_incomplete() {
        let day = date(2026, 10, 25);
        let mut points = day_points(Region::Germany, day);
        points.remove(40);
        assert_eq!(
            validate_day(Region::Germany, day, Source::Simulated, &points),
            Err(SourceError::Incomplete {
                expected: 100,
                got: 99
            })
        );
        assert!(matches!(
            validate_day(Region::Germany, day, Source::Simulated, &[]),
            Err(SourceError::Incomplete {
                expected: 100,
                got: 0
            })
        ));
    }

    #[test]
    fn hourly_answer_for_a_quarter_hour_region_is_accepted() {
        let day = date(2026, 6, 1);
        let points: Vec<_> = interval_starts(Region::Japan, day)
            .map(|_| ())
            .zip(crate::domain::calendar::interval_starts(Region::Germany, day).step_by(4))
            .map(|(_, t)| point(Region::Germany, t, 60, Decimal::ONE))
            .collect();
        assert_eq!(points.len(), 24);
        assert_eq!(
            validate_day(Region::Germany, day, Source::Simulated, &points),
            Ok(())
        );
    }

    #[test]
    fn points_of_another_region_are_malformed() {
        let day = date(2026, 6, 1);
        let points = day_points(Region::France, day);
        assert!(matches!(
            validate_day(Region::Germany, day, Source::Simulated, &points),
            Err(SourceError::Malformed(_))
        ));
    }
}
