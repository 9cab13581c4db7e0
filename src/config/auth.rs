//! Accounts: token lifetimes and claims, sign-in lockout, the refresh cookie. The signing key is
//! a secret (`security.jwt_secret`, environment only).

use std::num::NonZeroU32;
use std::time::Duration;

use serde::Deserialize;

use super::human;

/// `[auth]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthSettings {
    /// `iss` of issued tokens, checked on every request (default "wattline").
    pub issuer: String,
    /// `aud` of issued tokens, checked when set (default none).
    #[serde(default)]
    pub audience: Option<String>,
    /// Access token lifetime (default 15m).
    #[serde(deserialize_with = "human::positive_duration")]
    pub access_ttl: Duration,
    /// Refresh token lifetime (default 7d).
    #[serde(deserialize_with = "human::positive_duration")]
    pub refresh_ttl: Duration,
    /// Failed sign-ins of one email within `lockout_window` that lock it (default 5).
    pub lockout_attempts: NonZeroU32,
    /// How long failures count, and how long a locked email stays locked (default 15m).
    #[serde(deserialize_with = "human::positive_duration")]
    pub lockout_window: Duration,
    /// Mark the refresh cookie `Secure` (default true; false only for plain-HTTP development).
    pub cookie_secure: bool,
    /// Where OAuth, magic-link and billing flows may send the browser: hosts (or origins), each
    /// allowing itself and its sub-domains. Empty: no redirect is allowed.
    #[serde(default)]
    pub redirect_allowlist: Vec<String>,
    /// Also allow `http://` redirects (development only; https otherwise).
    pub redirect_allow_http: bool,
    /// The emailed sign-in link: this engine's verify route as browsers reach it.
    pub magic_link_url: String,
    /// How long a sign-in link works (default 15m).
    #[serde(deserialize_with = "human::positive_duration")]
    pub magic_link_ttl: Duration,
}
