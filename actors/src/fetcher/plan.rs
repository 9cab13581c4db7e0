//! When a region's fetcher should fetch and which days: today until we have it, tomorrow once
//! the market has published it, and nothing in between. Pure, so the schedule is unit-tested
//! without timers.

use std::collections::BTreeSet;
use std::time::Duration;

use jiff::civil::Date;
use jiff::{SignedDuration, Timestamp};

use crate::domain::Region;
use jiff::civil::Time;

use crate::domain::calendar::{local_date, newest_published_day, publication_instant_at};

/// A day to fetch and whether its absence is a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlannedDay {
    pub day: Date,
    /// Today (or earlier) must exist; tomorrow may legitimately not be published yet.
    pub required: bool,
}

/// The days a cycle at `now` fetches. `force` (a refresh, or a fresh start) refetches days we
/// already have.
pub fn days_to_fetch(
    region: Region,
    now: Timestamp,
    have: &BTreeSet<Date>,
    force: bool,
    publication: Time,
) -> Vec<PlannedDay> {
    let today = local_date(region, now);
    let mut days = Vec::with_capacity(2);
    if force || !have.contains(&today) {
        days.push(PlannedDay {
            day: today,
            required: true,
        });
    }
    let newest = newest_published_day(region, now, publication);
    if newest > today && (force || !have.contains(&newest)) {
        days.push(PlannedDay {
            day: newest,
            required: false,
        });
    }
    days
}

/// How long to sleep before the next cycle: until tomorrow's publication if we lack tomorrow and
/// it is not out yet; `retry` if it should be out but we still lack it; otherwise until the next
/// day's publication.
pub fn next_wake(
    region: Region,
    now: Timestamp,
    have: &BTreeSet<Date>,
    retry: Duration,
    publication: Time,
) -> Duration {
    let today = local_date(region, now);
    let Ok(tomorrow) = today.tomorrow() else {
        return retry;
    };
    if !have.contains(&today) {
        return retry;
    }
    let target = if have.contains(&tomorrow) {
        match tomorrow.tomorrow() {
            Ok(after) => publication_instant_at(region, after, publication),
            Err(_) => return retry,
        }
    } else {
        let published = publication_instant_at(region, tomorrow, publication);
        if now < published {
            published
        } else {
            return retry;
        }
    };
    until(now, target).max(Duration::from_secs(1))
}

/// Forgets days before yesterday so the set stays small.
pub fn prune(region: Region, now: Timestamp, have: &mut BTreeSet<Date>) {
    if let Ok(yesterday) = local_date(region, now).yesterday() {
        have.retain(|d| *d >= yesterday);
    }
}

fn until(now: Timestamp, target: Timestamp) -> Duration {
    let delta: SignedDuration = target.duration_since(now);
    Duration::try_from(delta).unwrap_or(Duration::ZERO)
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    fn days_at_usual_time(
        region: Region,
        now: Timestamp,
        have: &BTreeSet<Date>,
        force: bool,
    ) -> Vec<PlannedDay> {
        days_to_fetch(region, now, have, force, region.publication_time())
    }

    fn wake_at_usual_time(
        region: Region,
        now: Timestamp,
        have: &BTreeSet<Date>,
        retry: Duration,
    ) -> Duration {
        next_wake(region, now, have, retry, region.publication_time())
    }

    #[test]
    fn a_configured_publication_time_moves_the_schedule() {
        // Publication at 15:00 Berlin instead of 13:00: at 12:30Z tomorrow is not out yet.
        let late = jiff::civil::time(15, 0, 0, 0);
        let have = BTreeSet::from([date(2026, 1, 15)]);
        assert!(
            days_to_fetch(
                Region::Germany,
                at("2026-01-15T12:30:00Z"),
                &have,
                false,
                late
            )
            .is_empty()
        );
        let wake = next_wake(
            Region::Germany,
            at("2026-01-15T12:30:00Z"),
            &have,
            Duration::from_secs(60),
            late,
        );
        assert_eq!(wake, Duration::from_secs(90 * 60));
    }

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn before_publication_only_today_is_fetched() {
        // 10:00 in Berlin (CET, UTC+1); publication is at 13:00 local.
        let days = days_at_usual_time(
            Region::Germany,
            at("2026-01-15T09:00:00Z"),
            &BTreeSet::new(),
            false,
        );
        assert_eq!(
            days,
            vec![PlannedDay {
                day: date(2026, 1, 15),
                required: true
            }]
        );
    }

    #[test]
    fn after_publication_tomorrow_is_fetched_too() {
        let have = BTreeSet::from([date(2026, 1, 15)]);
        let days = days_at_usual_time(Region::Germany, at("2026-01-15T12:30:00Z"), &have, false);
        assert_eq!(
            days,
            vec![PlannedDay {
                day: date(2026, 1, 16),
                required: false
            }]
        );
        let forced = days_at_usual_time(Region::Germany, at("2026-01-15T12:30:00Z"), &have, true);
        assert_eq!(forced.len(), 2);
    }

    #[test]
    fn wakes_at_publication_then_at_the_next_publication() {
        let now = at("2026-01-15T09:00:00Z");
        let mut have = BTreeSet::from([date(2026, 1, 15)]);
        let retry = Duration::from_secs(300);
        // Publication of the 16th: 13:00 CET on the 15th = 12:00Z, three hours away.
        assert_eq!(
            wake_at_usual_time(Region::Germany, now, &have, retry),
            Duration::from_secs(3 * 3600)
        );
        // Published but missing: retry soon.
        assert_eq!(
            wake_at_usual_time(Region::Germany, at("2026-01-15T12:10:00Z"), &have, retry),
            retry
        );
        // Have tomorrow: sleep until the publication of the day after (12:00Z on the 16th).
        have.insert(date(2026, 1, 16));
        assert_eq!(
            wake_at_usual_time(Region::Germany, at("2026-01-15T12:10:00Z"), &have, retry),
            Duration::from_secs(24 * 3600 - 600)
        );
    }

    #[test]
    fn missing_today_retries_soon() {
        let retry = Duration::from_secs(60);
        assert_eq!(
            wake_at_usual_time(
                Region::Uk,
                at("2026-01-15T09:00:00Z"),
                &BTreeSet::new(),
                retry
            ),
            retry
        );
    }

    #[test]
    fn prune_keeps_yesterday_onwards() {
        let mut have = BTreeSet::from([date(2026, 1, 10), date(2026, 1, 14), date(2026, 1, 15)]);
        prune(Region::Japan, at("2026-01-15T03:00:00Z"), &mut have);
        assert_eq!(have, BTreeSet::from([date(2026, 1, 14), date(2026, 1, 15)]));
    }
}
