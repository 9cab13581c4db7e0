//! A user's preferences: region, current supplier and tariff, consumption profile, appliances,
//! notification settings, green-only. Every field is optional; `PUT` replaces the whole document
//! (fields left out at their defaults), `POST` (the older API's verb) merges the fields given.
//! Validation lists every problem, each naming its field.

use serde::{Deserialize, Serialize};

use super::region::Region;

/// How consumption spreads over the day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ShapeName {
    /// The same every hour.
    Flat,
    /// The typical domestic day (`tariff_cost::HOUSEHOLD`).
    #[default]
    Household,
    /// `hourly_weights` given by the user (or derived from an uploaded series).
    Custom,
}

/// A year's consumption.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Consumption {
    #[serde(default)]
    pub annual_kwh: Option<f64>,
    #[serde(default)]
    pub shape: ShapeName,
    /// 24 non-negative weights by local hour, for `custom`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hourly_weights: Option<Vec<f64>>,
}

/// An appliance the user runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Appliance {
    pub name: String,
    pub power_kw: f64,
    pub duration_hours: f64,
}

/// How often alerts and digests may be sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Frequency {
    Immediate,
    Hourly,
    #[default]
    Daily,
    Weekly,
}

/// Where notifications go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    Email,
    Webhook,
}

/// Notification settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Notifications {
    #[serde(default)]
    pub frequency: Frequency,
    #[serde(default = "default_channels")]
    pub channels: Vec<Channel>,
}

fn default_channels() -> Vec<Channel> {
    vec![Channel::Email]
}

impl Default for Notifications {
    fn default() -> Self {
        Notifications {
            frequency: Frequency::default(),
            channels: default_channels(),
        }
    }
}

/// The stored document.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Preferences {
    #[serde(default)]
    pub region: Option<Region>,
    #[serde(default)]
    pub current_supplier_id: Option<String>,
    #[serde(default)]
    pub current_tariff_id: Option<String>,
    #[serde(default)]
    pub consumption: Consumption,
    #[serde(default)]
    pub appliances: Vec<Appliance>,
    #[serde(default)]
    pub notifications: Notifications,
    #[serde(default)]
    pub green_only: bool,
}

/// A problem with a field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    pub field: String,
    pub message: String,
}

fn problem(field: impl Into<String>, message: impl Into<String>) -> Problem {
    Problem {
        field: field.into(),
        message: message.into(),
    }
}

impl Preferences {
    /// Every problem of the document (empty when valid).
    pub fn problems(&self) -> Vec<Problem> {
        let mut problems = Vec::new();
        for (field, id) in [
            ("current_supplier_id", &self.current_supplier_id),
            ("current_tariff_id", &self.current_tariff_id),
        ] {
            if let Some(id) = id
                && (id.is_empty() || id.len() > 64)
            {
                problems.push(problem(field, "must be 1 to 64 characters"));
            }
        }
        let c = &self.consumption;
        if let Some(kwh) = c.annual_kwh
            && !(kwh.is_finite() && (1.0..=1_000_000.0).contains(&kwh))
        {
            problems.push(problem(
                "consumption.annual_kwh",
                "must be between 1 and 1000000 kWh",
            ));
        }
        match (c.shape, &c.hourly_weights) {
            (ShapeName::Custom, None) => problems.push(problem(
                "consumption.hourly_weights",
                "a custom shape needs 24 weights",
            )),
            (ShapeName::Custom, Some(w)) => {
                if w.len() != 24
                    || w.iter().any(|x| !x.is_finite() || *x < 0.0)
                    || w.iter().sum::<f64>() <= 0.0
                {
                    problems.push(problem(
                        "consumption.hourly_weights",
                        "must be 24 non-negative numbers, not all zero",
                    ));
                }
            }
            (_, Some(_)) => problems.push(problem(
                "consumption.hourly_weights",
                "only a custom shape takes weights",
            )),
            (_, None) => {}
        }
        if self.appliances.len() > 20 {
            problems.push(problem("appliances", "at most 20 appliances"));
        }
        for (i, a) in self.appliances.iter().enumerate() {
            let name = a.name.trim();
            if name.is_empty() || name.chars().count() > 50 {
                problems.push(problem(
                    format!("appliances[{i}].name"),
                    "must be 1 to 50 characters",
                ));
            }
            if !(a.power_kw.is_finite() && a.power_kw > 0.0 && a.power_kw <= 50.0) {
                problems.push(problem(
                    format!("appliances[{i}].power_kw"),
                    "must be above 0 and at most 50 kW",
                ));
            }
            if !(a.duration_hours.is_finite() && (0.25..=24.0).contains(&a.duration_hours)) {
                problems.push(problem(
                    format!("appliances[{i}].duration_hours"),
                    "must be 0.25 to 24 hours",
                ));
            }
        }
        let mut names: Vec<String> = self
            .appliances
            .iter()
            .map(|a| a.name.trim().to_lowercase())
            .collect();
        names.sort();
        if names.windows(2).any(|w| w[0] == w[1]) {
            problems.push(problem("appliances", "names must be unique"));
        }
        let channels = &self.notifications.channels;
        if channels
            .iter()
            .enumerate()
            .any(|(i, c)| channels[..i].contains(c))
        {
            problems.push(problem("notifications.channels", "channels must be unique"));
        }
        problems
    }

    /// The document with the fields of `patch` (a JSON object of top-level fields) replacing
    /// its own; the result is checked like any document.
    pub fn merged(
        &self,
        patch: serde_json::Map<String, serde_json::Value>,
    ) -> Result<Preferences, String> {
        let mut document = serde_json::to_value(self).map_err(|e| e.to_string())?;
        let object = document
            .as_object_mut()
            .expect("preferences serialise to an object");
        for (key, value) in patch {
            object.insert(key, value);
        }
        serde_json::from_value(document).map_err(|e| e.to_string())
    }

    /// The appliance called `name` (case-insensitive).
    pub fn appliance(&self, name: &str) -> Option<&Appliance> {
        self.appliances
            .iter()
            .find(|a| a.name.trim().eq_ignore_ascii_case(name.trim()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn an_empty_document_is_valid_and_takes_the_defaults() {
        let p: Preferences = serde_json::from_value(json!({})).unwrap();
        assert!(p.problems().is_empty());
        assert_eq!(p.notifications.frequency, Frequency::Daily);
        assert_eq!(p.notifications.channels, vec![Channel::Email]);
        assert_eq!(p.consumption.shape, ShapeName::Household);
    }

    #[test]
    fn every_problem_is_named() {
        let p: Preferences = serde_json::from_value(json!({
            "consumption": { "annual_kwh": 0, "shape": "custom", "hourly_weights": [1, 2] },
            "appliances": [
                { "name": "", "power_kw": 0, "duration_hours": 30 },
                { "name": "EV", "power_kw": 7.4, "duration_hours": 4 },
                { "name": "ev", "power_kw": 7.4, "duration_hours": 4 }
            ],
            "notifications": { "frequency": "hourly", "channels": ["email", "email"] }
        }))
        .unwrap();
        let fields: Vec<String> = p.problems().into_iter().map(|p| p.field).collect();
        assert_eq!(
            fields,
            [
                "consumption.annual_kwh",
                "consumption.hourly_weights",
                "appliances[0].name",
                "appliances[0].power_kw",
                "appliances[0].duration_hours",
                "appliances",
                "notifications.channels"
            ]
        );
        assert!(serde_json::from_value::<Preferences>(json!({ "region": "mars" })).is_err());
        assert!(serde_json::from_value::<Preferences>(json!({ "colour": "red" })).is_err());
        assert!(
            serde_json::from_value::<Preferences>(
                json!({ "notifications": { "frequency": "never" } })
            )
            .is_err()
        );
    }

    #[test]
    fn a_merge_changes_only_the_fields_given() {
        let stored: Preferences = serde_json::from_value(json!({
            "region": "uk", "green_only": true,
            "consumption": { "annual_kwh": 2700, "shape": "flat" }
        }))
        .unwrap();
        let patch = json!({ "region": "germany" }).as_object().unwrap().clone();
        let merged = stored.merged(patch).unwrap();
        assert_eq!(merged.region, Some(Region::Germany));
        assert!(merged.green_only);
        assert_eq!(merged.consumption.annual_kwh, Some(2700.0));
        let bad = json!({ "green_only": "yes" }).as_object().unwrap().clone();
        assert!(stored.merged(bad).is_err());
    }
}
