//! Config values people write: durations as human strings (`"30s"`, `"1h 30m"`, `"31d"`, with
//! days of 24 hours) and local times of day (`"13:00"`). Parsed when the configuration loads, so
//! a bad value stops the start naming its key, and bounded so that no duration can overflow the
//! arithmetic it is later used in.

use std::time::Duration;

use serde::{Deserialize, Deserializer};

/// The longest duration any key may hold: a hundred years.
pub const MAX: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

/// Parses a human duration.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let span: jiff::Span = text.trim().parse().map_err(|e| {
        format!("`{text}` is not a duration like \"30s\", \"5m\" or \"1h 30m\": {e}")
    })?;
    let signed = span
        .to_duration(jiff::SpanRelativeTo::days_are_24_hours())
        .map_err(|_| {
            format!("`{text}`: use days, hours, minutes and seconds, not months or years")
        })?;
    let duration = Duration::try_from(signed).map_err(|_| format!("`{text}` is negative"))?;
    if duration > MAX {
        return Err(format!("`{text}` is longer than 100 years"));
    }
    Ok(duration)
}

/// Deserializes a human duration (`#[serde(deserialize_with = "human::duration")]`).
pub fn duration<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
    let text = String::deserialize(deserializer)?;
    parse_duration(&text).map_err(serde::de::Error::custom)
}

/// Deserializes a human duration that must not be zero.
pub fn positive_duration<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
    let value = duration(deserializer)?;
    if value.is_zero() {
        return Err(serde::de::Error::custom("must be longer than zero"));
    }
    Ok(value)
}

/// Deserializes a fraction between 0 and 1.
pub fn fraction<'de, D: Deserializer<'de>>(deserializer: D) -> Result<f64, D::Error> {
    let value = f64::deserialize(deserializer)?;
    if !(0.0..=1.0).contains(&value) {
        return Err(serde::de::Error::custom("must be between 0 and 1"));
    }
    Ok(value)
}

/// A word: non-empty, without whitespace (key prefixes, node names).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Word(String);

impl Word {
    /// A word, or why `text` is not one.
    pub fn new(text: &str) -> Result<Word, String> {
        if text.contains(char::is_whitespace) {
            return Err("must not contain whitespace".into());
        }
        Ok(Word(text.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl<'de> Deserialize<'de> for Word {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Word::new(&text).map_err(serde::de::Error::custom)
    }
}

impl std::fmt::Display for Word {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_people_write_them() {
        assert_eq!(parse_duration("30s").unwrap(), Duration::from_secs(30));
        assert_eq!(parse_duration("50ms").unwrap(), Duration::from_millis(50));
        assert_eq!(parse_duration("1h 30m").unwrap(), Duration::from_secs(5400));
        assert_eq!(
            parse_duration("31d").unwrap(),
            Duration::from_secs(31 * 86_400)
        );
        assert_eq!(parse_duration("0s").unwrap(), Duration::ZERO);
        for bad in ["30", "soon", "-5s", "2 months", "1000 years", ""] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }
}
