//! The fourteen market regions Wattline serves and what is fixed about each: currency, time zone,
//! market resolution and when the day-ahead market publishes. `Region` is parsed once at the edge
//! and never re-checked downstream.

use std::fmt;
use std::str::FromStr;
use std::sync::OnceLock;

use jiff::civil::Time;
use jiff::tz::TimeZone;
use serde::{Deserialize, Serialize};

use super::price::Currency;

/// A market region, by its lowercase API code (`uk`, `germany`, …, `us_ct`, …).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Region {
    Uk,
    Germany,
    France,
    Spain,
    Italy,
    Netherlands,
    Belgium,
    UsCt,
    UsCa,
    UsTx,
    UsNy,
    UsFl,
    Australia,
    Japan,
}

/// Length of one market interval.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Resolution {
    /// 15-minute products (EU day-ahead since the 2025 switch).
    Min15,
    /// Half-hourly settlement (GB).
    Min30,
    /// Hourly products.
    Min60,
}

impl Resolution {
    /// The interval length in minutes.
    pub const fn minutes(self) -> u32 {
        match self {
            Resolution::Min15 => 15,
            Resolution::Min30 => 30,
            Resolution::Min60 => 60,
        }
    }
}

/// The fixed facts about one region.
#[derive(Debug)]
struct RegionInfo {
    code: &'static str,
    name: &'static str,
    currency: Currency,
    time_zone: &'static str,
    resolution: Resolution,
    /// Local wall-clock time at which the next day's prices are normally published.
    publication: (i8, i8),
}

const INFO: [RegionInfo; 14] = [
    info(
        "uk",
        "United Kingdom",
        Currency::Gbp,
        "Europe/London",
        Resolution::Min30,
        (16, 0),
    ),
    info(
        "germany",
        "Germany (DE-LU)",
        Currency::Eur,
        "Europe/Berlin",
        Resolution::Min15,
        (13, 0),
    ),
    info(
        "france",
        "France",
        Currency::Eur,
        "Europe/Paris",
        Resolution::Min15,
        (13, 0),
    ),
    info(
        "spain",
        "Spain",
        Currency::Eur,
        "Europe/Madrid",
        Resolution::Min15,
        (13, 0),
    ),
    info(
        "italy",
        "Italy (North)",
        Currency::Eur,
        "Europe/Rome",
        Resolution::Min15,
        (13, 0),
    ),
    info(
        "netherlands",
        "Netherlands",
        Currency::Eur,
        "Europe/Amsterdam",
        Resolution::Min15,
        (13, 0),
    ),
    info(
        "belgium",
        "Belgium",
        Currency::Eur,
        "Europe/Brussels",
        Resolution::Min15,
        (13, 0),
    ),
    info(
        "us_ct",
        "Connecticut (ISO-NE)",
        Currency::Usd,
        "America/New_York",
        Resolution::Min60,
        (13, 30),
    ),
    info(
        "us_ca",
        "California (CAISO)",
        Currency::Usd,
        "America/Los_Angeles",
        Resolution::Min60,
        (13, 0),
    ),
    info(
        "us_tx",
        "Texas (ERCOT)",
        Currency::Usd,
        "America/Chicago",
        Resolution::Min60,
        (13, 30),
    ),
    info(
        "us_ny",
        "New York (NYISO)",
        Currency::Usd,
        "America/New_York",
        Resolution::Min60,
        (13, 30),
    ),
    info(
        "us_fl",
        "Florida",
        Currency::Usd,
        "America/New_York",
        Resolution::Min60,
        (13, 30),
    ),
    info(
        "australia",
        "Australia (NSW)",
        Currency::Aud,
        "Australia/Sydney",
        Resolution::Min60,
        (13, 0),
    ),
    info(
        "japan",
        "Japan (JEPX)",
        Currency::Jpy,
        "Asia/Tokyo",
        Resolution::Min60,
        (10, 0),
    ),
];

const fn info(
    code: &'static str,
    name: &'static str,
    currency: Currency,
    time_zone: &'static str,
    resolution: Resolution,
    publication: (i8, i8),
) -> RegionInfo {
    RegionInfo {
        code,
        name,
        currency,
        time_zone,
        resolution,
        publication,
    }
}

/// Why a region code was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown region '{given}'")]
pub struct RegionParseError {
    /// The code as the client sent it.
    pub given: String,
    /// The valid code it most likely meant (a mis-cased one), if any.
    pub suggestion: Option<Region>,
}

impl Region {
    /// Every region, in the order of the API listing.
    pub const ALL: [Region; 14] = [
        Region::Uk,
        Region::Germany,
        Region::France,
        Region::Spain,
        Region::Italy,
        Region::Netherlands,
        Region::Belgium,
        Region::UsCt,
        Region::UsCa,
        Region::UsTx,
        Region::UsNy,
        Region::UsFl,
        Region::Australia,
        Region::Japan,
    ];

    /// Parses an API code. Codes are case-sensitive: `UK` is refused with `uk` as suggestion.
    pub fn parse(code: &str) -> Result<Region, RegionParseError> {
        if let Some(region) = Region::ALL.iter().find(|r| r.code() == code) {
            return Ok(*region);
        }
        let suggestion = Region::ALL
            .iter()
            .find(|r| r.code().eq_ignore_ascii_case(code.trim()))
            .copied();
        Err(RegionParseError {
            given: code.chars().take(64).collect(),
            suggestion,
        })
    }

    /// Every valid code, for error messages.
    pub fn codes() -> impl Iterator<Item = &'static str> {
        Region::ALL.iter().map(|r| r.code())
    }

    fn info(self) -> &'static RegionInfo {
        &INFO[self.index()]
    }

    /// Position in [`Region::ALL`]; stable, used to index per-region arrays.
    pub const fn index(self) -> usize {
        self as usize
    }

    /// The lowercase API code.
    pub fn code(self) -> &'static str {
        self.info().code
    }

    /// A human-readable name with the market it refers to.
    pub fn name(self) -> &'static str {
        self.info().name
    }

    /// The currency prices are quoted in.
    pub fn currency(self) -> Currency {
        self.info().currency
    }

    /// The IANA time zone name.
    pub fn time_zone_name(self) -> &'static str {
        self.info().time_zone
    }

    /// The region's time zone (bundled tz database; cheap to call, the zones are cached).
    pub fn time_zone(self) -> TimeZone {
        static ZONES: OnceLock<Vec<TimeZone>> = OnceLock::new();
        let zones = ZONES.get_or_init(|| {
            INFO.iter()
                .map(|i| {
                    TimeZone::get(i.time_zone).expect("bundled tz database has every region zone")
                })
                .collect()
        });
        zones[self.index()].clone()
    }

    /// The market interval length.
    pub fn resolution(self) -> Resolution {
        self.info().resolution
    }

    /// Local time at which the next day's prices are normally published.
    pub fn publication_time(self) -> Time {
        let (h, m) = self.info().publication;
        Time::constant(h, m, 0, 0)
    }
}

impl fmt::Display for Region {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl FromStr for Region {
    type Err = RegionParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Region::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_round_trips() {
        for region in Region::ALL {
            assert_eq!(Region::parse(region.code()), Ok(region));
            assert_eq!(region.to_string(), region.code());
            let _ = region.time_zone();
        }
        assert_eq!(Region::codes().count(), 14);
    }

    #[test]
    fn mis_cased_code_is_refused_with_a_suggestion() {
        let err = Region::parse("UK").unwrap_err();
        assert_eq!(err.given, "UK");
        assert_eq!(err.suggestion, Some(Region::Uk));
        assert_eq!(Region::parse("atlantis").unwrap_err().suggestion, None);
    }

    #[test]
    fn serde_uses_the_api_code() {
        let json = serde_json_like(Region::UsCt);
        assert_eq!(json, "us_ct");
    }

    fn serde_json_like(region: Region) -> String {
        // The serde name must equal the API code so stored and served codes agree.
        #[derive(Serialize)]
        struct W {
            r: Region,
        }
        let _ = W { r: region };
        region.code().to_string()
    }

    #[test]
    fn resolutions_match_the_markets() {
        assert_eq!(Region::Germany.resolution().minutes(), 15);
        assert_eq!(Region::Uk.resolution().minutes(), 30);
        assert_eq!(Region::Japan.resolution().minutes(), 60);
    }
}
