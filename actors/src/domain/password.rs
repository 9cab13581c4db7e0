//! The password policy and strength score of accounts (`../shared/spec/accounts.md`): five rules,
//! all required (at least 12 characters, an uppercase letter, a lowercase letter, a digit, a
//! special character); the score counts the rules met, plus one at 16 characters and one at 20.

use serde::Serialize;

/// Shortest password the policy takes, in characters.
pub const MIN_CHARS: usize = 12;
/// Longest password accepted at all (longer ones are refused before hashing).
pub const MAX_CHARS: usize = 128;
/// The highest score.
pub const MAX_SCORE: u8 = 7;
/// The characters that count as special.
pub const SPECIALS: &str = "!@#$%^&*()_+-=[]{}|;:,.<>?";

/// Which rules a password meets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Checks {
    pub length: bool,
    pub uppercase: bool,
    pub lowercase: bool,
    pub digit: bool,
    pub special: bool,
}

impl Checks {
    /// The rules `password` meets.
    pub fn of(password: &str) -> Self {
        Checks {
            length: password.chars().count() >= MIN_CHARS,
            uppercase: password.chars().any(|c| c.is_ascii_uppercase()),
            lowercase: password.chars().any(|c| c.is_ascii_lowercase()),
            digit: password.chars().any(|c| c.is_ascii_digit()),
            special: password.chars().any(|c| SPECIALS.contains(c)),
        }
    }

    fn all(self) -> [(bool, &'static str); 5] {
        [
            (self.length, "at least 12 characters"),
            (self.uppercase, "an uppercase letter"),
            (self.lowercase, "a lowercase letter"),
            (self.digit, "a digit"),
            (self.special, "a special character"),
        ]
    }

    /// Every rule missed, in words a person reads; empty when the policy is met.
    pub fn missing(self) -> Vec<&'static str> {
        self.all()
            .into_iter()
            .filter(|(met, _)| !met)
            .map(|(_, words)| words)
            .collect()
    }

    fn passed(self) -> u8 {
        self.all().iter().filter(|(met, _)| *met).count() as u8
    }
}

/// How strong a password is, by score.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StrengthLabel {
    VeryWeak,
    Weak,
    Medium,
    Strong,
    VeryStrong,
}

impl StrengthLabel {
    fn of(score: u8) -> Self {
        match score {
            7.. => StrengthLabel::VeryStrong,
            5..=6 => StrengthLabel::Strong,
            4 => StrengthLabel::Medium,
            2..=3 => StrengthLabel::Weak,
            _ => StrengthLabel::VeryWeak,
        }
    }
}

/// A password's score, label and rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Strength {
    pub score: u8,
    pub max_score: u8,
    pub strength: StrengthLabel,
    /// Whether the policy is met (every rule).
    pub valid: bool,
    pub checks: Checks,
}

impl Strength {
    /// The strength of `password`.
    pub fn of(password: &str) -> Self {
        let checks = Checks::of(password);
        let chars = password.chars().count();
        let score = checks.passed() + u8::from(chars >= 16) + u8::from(chars >= 20);
        Strength {
            score,
            max_score: MAX_SCORE,
            strength: StrengthLabel::of(score),
            valid: checks.missing().is_empty(),
            checks,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_examples_of_the_spec_score_as_given() {
        let weak = Strength::of("weak");
        assert_eq!((weak.score, weak.strength), (1, StrengthLabel::VeryWeak));
        assert!(!weak.valid);
        let strong = Strength::of("ValidPassword123!");
        assert_eq!((strong.score, strong.strength), (6, StrengthLabel::Strong));
        assert!(strong.valid);
        let very = Strength::of("VeryStrongPassword123!");
        assert_eq!((very.score, very.strength), (7, StrengthLabel::VeryStrong));
    }

    #[test]
    fn every_missed_rule_is_named() {
        assert_eq!(
            Checks::of("short").missing(),
            vec![
                "at least 12 characters",
                "an uppercase letter",
                "a digit",
                "a special character"
            ]
        );
        assert!(Checks::of("Abcdefghijk1!").missing().is_empty());
        // Length counts characters, not bytes.
        assert!(!Checks::of("Ää1!ääääää").length);
    }

    proptest::proptest! {
        #[test]
        fn the_score_is_the_rules_met_plus_the_length_bonuses(password in "\\PC{0,40}") {
            let strength = Strength::of(&password);
            let checks = strength.checks;
            let chars = password.chars().count();
            let met = [checks.length, checks.uppercase, checks.lowercase, checks.digit, checks.special]
                .iter()
                .filter(|m| **m)
                .count();
            let expected = met + usize::from(chars >= 16) + usize::from(chars >= 20);
            proptest::prop_assert_eq!(usize::from(strength.score), expected);
            proptest::prop_assert!(strength.score <= MAX_SCORE);
            proptest::prop_assert_eq!(strength.valid, met == 5);
            // Valid implies at least 12 characters and every class.
            if strength.valid {
                proptest::prop_assert!(chars >= MIN_CHARS);
            }
        }
    }
}
