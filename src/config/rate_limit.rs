//! `[rate_limit]`: requests per client and route group.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::num::NonZeroU32;

use serde::Deserialize;

/// Limits of one route group.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupLimits {
    pub per_minute: NonZeroU32,
    pub per_hour: NonZeroU32,
}

/// `[rate_limit]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitSettings {
    /// Limit API requests at all (default true).
    pub enabled: bool,
    /// Requests per client per minute in a group (default 100).
    pub per_minute: NonZeroU32,
    /// Requests per client per hour in a group (default 1000).
    pub per_hour: NonZeroU32,
    /// Peers whose `X-Forwarded-For` is believed (default none).
    #[serde(default)]
    pub trusted_proxies: Vec<IpAddr>,
    /// Other limits for some route groups (`prices`, `ml`, `auth`, `admin`, `optimization`).
    #[serde(default)]
    pub groups: BTreeMap<String, GroupLimits>,
}

impl RateLimitSettings {
    /// The limits of `group`.
    pub fn limits(&self, group: &str) -> GroupLimits {
        self.groups.get(group).copied().unwrap_or(GroupLimits {
            per_minute: self.per_minute,
            per_hour: self.per_hour,
        })
    }
}
