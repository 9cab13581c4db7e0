//! Parsing and bounds of common query parameters, turning bad values into `invalid_parameter`
//! errors that name the parameter and the allowed range.

use jiff::civil::Date;
use jiff::{SignedDuration, Timestamp};
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use wattline_actors::domain::calendar::{day_start, parse_rfc3339};
use wattline_actors::domain::{Region, Source};

use crate::error::ApiError;

/// `value` if within `min..=max`, else an error naming `name` and the range.
pub fn bounded(name: &'static str, value: u32, min: u32, max: u32) -> Result<u32, ApiError> {
    if (min..=max).contains(&value) {
        Ok(value)
    } else {
        Err(ApiError::InvalidParameter {
            name,
            message: format!("must be between {min} and {max}, got {value}"),
        })
    }
}

/// An instant: RFC 3339 with offset (`2026-01-01T00:00:00Z`), or a plain date meaning the start
/// of that local day in `region`.
pub fn instant(name: &'static str, text: &str, region: Region) -> Result<Timestamp, ApiError> {
    if let Ok(at) = parse_rfc3339(text) {
        return Ok(at);
    }
    // Exactly YYYY-MM-DD: a datetime without offset is ambiguous, not a date.
    if let Some(date) = (text.len() == 10)
        .then(|| text.parse::<Date>().ok())
        .flatten()
    {
        return Ok(day_start(region, date));
    }
    Err(ApiError::InvalidParameter {
        name,
        message: "must be an RFC 3339 timestamp with offset (2026-01-01T00:00:00Z) or a date (2026-01-01)".into(),
    })
}

/// A time zone for local times in a request body: the IANA name given, or the region's zone.
pub fn time_zone(
    field: &str,
    name: Option<&str>,
    region: Region,
) -> Result<jiff::tz::TimeZone, ApiError> {
    match name {
        None => Ok(region.time_zone()),
        Some(name) => jiff::tz::TimeZone::get(name).map_err(|_| {
            ApiError::invalid_field(
                field,
                format!(
                    "unknown time zone '{}'; use an IANA name such as Europe/Berlin",
                    name.chars().take(64).collect::<String>()
                ),
            )
        }),
    }
}

/// An instant in a request body: RFC 3339 with offset (`2026-01-16T06:00:00+01:00`), or a local
/// date-time without offset (`2026-01-16T06:00` or `2026-01-16T06:00:00`) in `tz`.
pub fn body_instant(
    field: &str,
    text: &str,
    tz: &jiff::tz::TimeZone,
) -> Result<Timestamp, ApiError> {
    if let Ok(at) = parse_rfc3339(text) {
        return Ok(at);
    }
    // A local date-time: exactly YYYY-MM-DDTHH:MM[:SS], nothing after (no offset, no zone).
    let local_shape = matches!(text.len(), 16 | 19)
        && text.as_bytes().get(10) == Some(&b'T')
        && text
            .bytes()
            .all(|b| b.is_ascii_digit() || b"-T:".contains(&b));
    local_shape
        .then(|| text.parse::<jiff::civil::DateTime>().ok())
        .flatten()
        .and_then(|local| local.to_zoned(tz.clone()).ok())
        .map(|zoned| zoned.timestamp())
        .ok_or_else(|| {
            ApiError::invalid_field(
                field,
                "must be RFC 3339 with offset (2026-01-16T06:00:00+01:00) or a local date-time (2026-01-16T06:00) in `time_zone`",
            )
        })
}

/// `at`, unless it lies more than one grid slot in the past.
pub fn not_past(field: &str, at: Timestamp, now: Timestamp) -> Result<Timestamp, ApiError> {
    Ok(wattline_actors::domain::schedule::request::not_past(
        field, at, now,
    )?)
}

/// The grid slots of a run of `minutes` (a multiple of 15 up to a day), else a 422 on `field`.
pub fn run_slots(field: &str, minutes: u32) -> Result<usize, ApiError> {
    wattline_actors::domain::horizon::run_slots(minutes)
        .map_err(|e| ApiError::invalid_field(field, e.to_string()))
}

/// A source name.
pub fn source(name: &'static str, text: &str) -> Result<Source, ApiError> {
    text.parse::<Source>()
        .map_err(|_| ApiError::InvalidParameter {
            name,
            message: format!(
                "unknown source '{}'; one of {}",
                text.chars().take(32).collect::<String>(),
                Source::ALL
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        })
}

/// A duration given in hours with quarter-hour granularity (`0.25` … `max`), as minutes.
pub fn quarter_hours(name: &'static str, hours: Decimal, max: u32) -> Result<u32, ApiError> {
    let minutes = hours * Decimal::from(60);
    let whole_quarters = (minutes / Decimal::from(15)).fract().is_zero();
    if hours < Decimal::new(25, 2) || hours > Decimal::from(max) || !whole_quarters {
        return Err(ApiError::InvalidParameter {
            name,
            message: format!(
                "must be a multiple of 0.25 hours between 0.25 and {max}, got {hours}"
            ),
        });
    }
    minutes.to_u32().ok_or(ApiError::InvalidParameter {
        name,
        message: "out of range".into(),
    })
}

/// `[now - days, now)`.
pub fn trailing_days(now: Timestamp, days: u32) -> (Timestamp, Timestamp) {
    (now - SignedDuration::from_hours(i64::from(days) * 24), now)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal::dec;

    #[test]
    fn quarter_hours_accepts_quarters_only() {
        assert_eq!(quarter_hours("d", dec!(0.25), 24).unwrap(), 15);
        assert_eq!(quarter_hours("d", dec!(1.5), 24).unwrap(), 90);
        assert_eq!(quarter_hours("d", dec!(24), 24).unwrap(), 1440);
        assert!(quarter_hours("d", dec!(0.2), 24).is_err());
        assert!(quarter_hours("d", dec!(1.1), 24).is_err());
        assert!(quarter_hours("d", dec!(25), 24).is_err());
        assert!(quarter_hours("d", dec!(-1), 24).is_err());
    }

    #[test]
    fn instants_accept_timestamps_and_local_dates() {
        assert_eq!(
            instant("s", "2026-01-01T00:00:00Z", Region::Uk).unwrap(),
            "2026-01-01T00:00:00Z".parse().unwrap()
        );
        assert_eq!(
            instant("s", "2026-01-15", Region::Germany).unwrap(),
            "2026-01-14T23:00:00Z".parse().unwrap()
        );
        assert!(instant("s", "yesterday", Region::Uk).is_err());
        assert!(
            instant("s", "2026-01-01T00:00:00", Region::Uk).is_err(),
            "no offset is ambiguous"
        );
    }

    #[test]
    fn bounded_names_the_range() {
        assert_eq!(bounded("days", 7, 1, 365).unwrap(), 7);
        let err = bounded("days", 0, 1, 365).unwrap_err().to_string();
        assert!(
            err.contains("days") && err.contains("between 1 and 365"),
            "{err}"
        );
    }
}
