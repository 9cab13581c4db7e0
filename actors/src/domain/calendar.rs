//! Local-time arithmetic for a region: which local day an instant falls on, where a local day
//! starts and ends in UTC, and how many market intervals it holds (DST days have 23 or 25 hours).

use jiff::civil::Date;
use jiff::{SignedDuration, Timestamp};

use super::region::Region;

/// The local calendar date of `at` in `region`.
pub fn local_date(region: Region, at: Timestamp) -> Date {
    at.to_zoned(region.time_zone()).date()
}

/// The local hour of day (0–23) of `at` in `region`.
pub fn local_hour(region: Region, at: Timestamp) -> i8 {
    at.to_zoned(region.time_zone()).hour()
}

/// First instant of local `date` in `region` (its local midnight, or the first valid time after
/// a gap).
pub fn day_start(region: Region, date: Date) -> Timestamp {
    date.to_zoned(region.time_zone())
        .map(|z| z.timestamp())
        .unwrap_or_else(|_| Timestamp::MAX)
}

/// `[start, end)` of local `date` in `region`, in UTC.
pub fn day_bounds(region: Region, date: Date) -> (Timestamp, Timestamp) {
    let next = date.tomorrow().unwrap_or(date);
    (day_start(region, date), day_start(region, next))
}

/// Length of local `date` in `region` (23, 24 or 25 hours around DST changes).
pub fn day_length(region: Region, date: Date) -> SignedDuration {
    let (start, end) = day_bounds(region, date);
    end.duration_since(start)
}

/// How many market intervals local `date` holds at the region's resolution
/// (96 quarter-hours normally; 92 or 100 on DST days).
pub fn expected_intervals(region: Region, date: Date) -> usize {
    let minutes = day_length(region, date).as_mins();
    usize::try_from(minutes / i64::from(region.resolution().minutes())).unwrap_or(0)
}

/// The instant at which the prices for local `date` are published: the region's publication
/// time on the day before.
pub fn publication_instant(region: Region, date: Date) -> Timestamp {
    publication_instant_at(region, date, region.publication_time())
}

/// Like [`publication_instant`], with the publication at local `time` instead of the market's
/// usual time.
pub fn publication_instant_at(region: Region, date: Date, time: jiff::civil::Time) -> Timestamp {
    let eve = date.yesterday().unwrap_or(date);
    eve.to_datetime(time)
        .to_zoned(region.time_zone())
        .map(|z| z.timestamp())
        .unwrap_or(Timestamp::MAX)
}

/// The newest local day whose prices the market has published by `now` (publishing at local
/// `publication` the day before): tomorrow once that time has passed, else today.
pub fn newest_published_day(
    region: Region,
    now: Timestamp,
    publication: jiff::civil::Time,
) -> Date {
    let today = local_date(region, now);
    match today.tomorrow() {
        Ok(tomorrow) if now >= publication_instant_at(region, tomorrow, publication) => tomorrow,
        _ => today,
    }
}

/// Start instants of every market interval of local `date`, in order.
pub fn interval_starts(region: Region, date: Date) -> impl Iterator<Item = Timestamp> {
    let (start, end) = day_bounds(region, date);
    let step = SignedDuration::from_mins(i64::from(region.resolution().minutes()));
    std::iter::successors(Some(start), move |t| Some(*t + step)).take_while(move |t| *t < end)
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    #[test]
    fn normal_day_has_96_quarter_hours() {
        assert_eq!(expected_intervals(Region::Germany, date(2026, 6, 1)), 96);
        assert_eq!(expected_intervals(Region::Uk, date(2026, 6, 1)), 48);
        assert_eq!(expected_intervals(Region::Japan, date(2026, 6, 1)), 24);
    }

    #[test]
    fn dst_days_have_92_and_100_quarter_hours() {
        // Europe switches on the last Sundays of March and October.
        assert_eq!(expected_intervals(Region::Germany, date(2026, 3, 29)), 92);
        assert_eq!(expected_intervals(Region::Germany, date(2026, 10, 25)), 100);
        assert_eq!(expected_intervals(Region::UsNy, date(2026, 3, 8)), 23);
        assert_eq!(expected_intervals(Region::UsNy, date(2026, 11, 1)), 25);
        // Japan has no DST.
        assert_eq!(expected_intervals(Region::Japan, date(2026, 3, 29)), 24);
    }

    #[test]
    fn day_bounds_are_local_midnights() {
        let (start, end) = day_bounds(Region::Germany, date(2026, 1, 15));
        assert_eq!(start, "2026-01-14T23:00:00Z".parse().unwrap());
        assert_eq!(end, "2026-01-15T23:00:00Z".parse().unwrap());
        assert_eq!(
            interval_starts(Region::Germany, date(2026, 1, 15)).count(),
            96
        );
        assert_eq!(
            interval_starts(Region::Germany, date(2026, 10, 25)).count(),
            100
        );
    }

    #[test]
    fn publication_is_the_day_before_at_local_time() {
        let at = publication_instant(Region::Germany, date(2026, 7, 2));
        assert_eq!(at, "2026-07-01T11:00:00Z".parse().unwrap());
    }

    #[test]
    fn local_hour_and_date_follow_the_zone() {
        let at: Timestamp = "2026-07-01T23:30:00Z".parse().unwrap();
        assert_eq!(local_date(Region::Germany, at), date(2026, 7, 2));
        assert_eq!(local_hour(Region::Germany, at), 1);
        assert_eq!(local_date(Region::UsCa, at), date(2026, 7, 1));
    }

    #[test]
    fn tomorrow_counts_as_published_from_its_publication_time() {
        let noon = jiff::civil::time(12, 0, 0, 0);
        // 12:00 in Berlin on 2026-01-15 is 11:00 UTC.
        let at = |s: &str| s.parse::<Timestamp>().unwrap();
        assert_eq!(
            newest_published_day(Region::Germany, at("2026-01-15T10:59:59Z"), noon),
            date(2026, 1, 15)
        );
        assert_eq!(
            newest_published_day(Region::Germany, at("2026-01-15T11:00:00Z"), noon),
            date(2026, 1, 16)
        );
    }
}

/// Why a timestamp is not strict RFC 3339.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "not an RFC 3339 timestamp (YYYY-MM-DDTHH:MM:SS[.fraction] and Z or an offset within ±23:59)"
)]
pub struct Rfc3339Error;

/// Parses an instant written strictly as RFC 3339 (section 5.6): a full date, `T`, a full time
/// with optional fraction, and `Z` or a numeric offset of at most ±23:59. Looser forms that a
/// general parser would take (no seconds, offsets past a day, zone annotations) are refused.
pub fn parse_rfc3339(text: &str) -> Result<Timestamp, Rfc3339Error> {
    let b = text.as_bytes();
    let digits = |range: std::ops::Range<usize>| {
        b.get(range.clone())
            .is_some_and(|d| d.iter().all(u8::is_ascii_digit))
            .then(|| {
                text[range]
                    .bytes()
                    .fold(0u32, |n, d| n * 10 + u32::from(d - b'0'))
            })
    };
    let shape = b.len() >= 20
        && b[4] == b'-'
        && b[7] == b'-'
        && matches!(b[10], b'T' | b't')
        && b[13] == b':'
        && b[16] == b':'
        && digits(0..4).is_some()
        && digits(5..7).is_some()
        && digits(8..10).is_some()
        && digits(11..13).is_some()
        && digits(14..16).is_some()
        && digits(17..19).is_some();
    if !shape {
        return Err(Rfc3339Error);
    }
    let mut i = 19;
    if b[i] == b'.' {
        let start = i + 1;
        i = start;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == start || i - start > 9 {
            return Err(Rfc3339Error);
        }
    }
    let offset_ok = match &b[i..] {
        [b'Z' | b'z'] => true,
        [b'+' | b'-', _, _, b':', _, _] => {
            matches!(digits(i + 1..i + 3), Some(h) if h <= 23)
                && matches!(digits(i + 4..i + 6), Some(m) if m <= 59)
        }
        _ => false,
    };
    if !offset_ok {
        return Err(Rfc3339Error);
    }
    text.parse().map_err(|_| Rfc3339Error)
}

#[cfg(test)]
mod rfc3339_tests {
    use super::*;

    #[test]
    fn strict_rfc3339_takes_full_timestamps_with_sane_offsets_only() {
        let utc = |s: &str| s.parse::<Timestamp>().unwrap();
        assert_eq!(
            parse_rfc3339("2026-11-01T00:00:00Z"),
            Ok(utc("2026-11-01T00:00:00Z"))
        );
        assert_eq!(
            parse_rfc3339("2026-11-01T00:00:00.123456+23:59"),
            Ok(utc("2026-11-01T00:00:00.123456+23:59"))
        );
        assert_eq!(
            parse_rfc3339("2026-11-01t01:00:00-05:30"),
            Ok(utc("2026-11-01T06:30:00Z"))
        );
        for bad in [
            "2026-11-01T00:00:00+25:00",
            "2026-11-01T00:00:00+24:00",
            "2026-11-01T00:00:00+05:60",
            "2026-11-01T00:00Z",
            "2026-11-01 00:00:00Z",
            "2026-11-01T00:00:00",
            "2026-11-01T00:00:00+0100",
            "2026-11-01T00:00:00Z[Europe/Paris]",
            "2026-11-01T00:00:00.Z",
            "2026-13-01T00:00:00Z",
            "2026-11-01T00:00:00.1234567890Z",
            "",
        ] {
            assert_eq!(parse_rfc3339(bad), Err(Rfc3339Error), "{bad}");
        }
    }
}
