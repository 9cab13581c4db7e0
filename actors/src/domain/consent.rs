//! GDPR consent: the purposes a user decides on, the status their decisions add up to (the
//! latest decision per purpose wins; a purpose never decided is not consented), and how an IP
//! address is anonymised when an account is erased but its records kept.

use std::collections::BTreeMap;
use std::net::IpAddr;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

/// What a consent is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Purpose {
    DataProcessing,
    Marketing,
    Analytics,
    PriceAlerts,
    Optimization,
    ThirdPartySharing,
}

impl Purpose {
    pub const ALL: [Purpose; 6] = [
        Purpose::DataProcessing,
        Purpose::Marketing,
        Purpose::Analytics,
        Purpose::PriceAlerts,
        Purpose::Optimization,
        Purpose::ThirdPartySharing,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Purpose::DataProcessing => "data_processing",
            Purpose::Marketing => "marketing",
            Purpose::Analytics => "analytics",
            Purpose::PriceAlerts => "price_alerts",
            Purpose::Optimization => "optimization",
            Purpose::ThirdPartySharing => "third_party_sharing",
        }
    }
}

impl std::str::FromStr for Purpose {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        Purpose::ALL
            .into_iter()
            .find(|p| p.as_str() == text)
            .ok_or_else(|| {
                let known: Vec<&str> = Purpose::ALL.iter().map(|p| p.as_str()).collect();
                format!("unknown purpose {text:?}; one of {}", known.join(", "))
            })
    }
}

/// Every purpose's current consent from `decisions` (purpose, given, when) in the order they
/// were made: the latest wins, and of two made in the same instant the later one.
pub fn status<'a>(
    decisions: impl IntoIterator<Item = (&'a str, bool, Timestamp)>,
) -> BTreeMap<&'static str, bool> {
    let mut latest: BTreeMap<&'static str, (Timestamp, bool)> = BTreeMap::new();
    for (purpose, given, at) in decisions {
        let Ok(purpose) = purpose.parse::<Purpose>() else {
            continue;
        };
        let entry = latest
            .entry(purpose.as_str())
            .or_insert((Timestamp::MIN, false));
        if at >= entry.0 {
            *entry = (at, given);
        }
    }
    Purpose::ALL
        .iter()
        .map(|p| {
            (
                p.as_str(),
                latest.get(p.as_str()).is_some_and(|(_, given)| *given),
            )
        })
        .collect()
}

/// An IP address with its host part removed: IPv4 keeps its first three octets (the last is
/// 0), IPv6 its first 48 bits. Text that is not an address becomes `0.0.0.0`.
pub fn anonymise_ip(address: &str) -> String {
    match address.trim().parse::<IpAddr>() {
        Ok(IpAddr::V4(v4)) => {
            let [a, b, c, _] = v4.octets();
            format!("{a}.{b}.{c}.0")
        }
        Ok(IpAddr::V6(v6)) => {
            let s = v6.segments();
            std::net::Ipv6Addr::new(s[0], s[1], s[2], 0, 0, 0, 0, 0).to_string()
        }
        Err(_) => "0.0.0.0".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn purposes_parse_and_unknown_ones_are_named() {
        assert_eq!("price_alerts".parse::<Purpose>(), Ok(Purpose::PriceAlerts));
        let error = "telepathy".parse::<Purpose>().unwrap_err();
        assert!(error.contains("telepathy") && error.contains("third_party_sharing"));
    }

    #[test]
    fn the_latest_decision_per_purpose_wins_and_undecided_is_false() {
        let status = status([
            ("marketing", true, at("2026-01-01T00:00:00Z")),
            ("marketing", false, at("2026-02-01T00:00:00Z")),
            ("analytics", false, at("2026-01-01T00:00:00Z")),
            ("analytics", true, at("2026-03-01T00:00:00Z")),
            ("bogus", true, at("2026-03-01T00:00:00Z")),
        ]);
        assert_eq!(status.len(), 6);
        assert!(!status["marketing"]);
        assert!(status["analytics"]);
        assert!(!status["price_alerts"]);
    }

    #[test]
    fn addresses_lose_their_host_part() {
        assert_eq!(anonymise_ip("203.0.113.77"), "203.0.113.0");
        assert_eq!(
            anonymise_ip("2001:db8:85a3::8a2e:370:7334"),
            "2001:db8:85a3::"
        );
        assert_eq!(anonymise_ip("unknown"), "0.0.0.0");
    }
}
