//! The beta programme.

use std::num::NonZeroU32;

use serde::Deserialize;

/// `[beta]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BetaSettings {
    /// Sign-ups the programme aims for (`GET /beta/signups/count` reports progress against it).
    pub target: NonZeroU32,
}
