//! The supplier and tariff catalogue outside HTTP: the seed shipped in `config/catalogue.json`
//! (stored on first start), the checks every tariff passes (seeded or edited by an operator),
//! and the annual-cost comparison of a region's tariffs against its stored prices.

use jiff::{SignedDuration, Timestamp};
use rust_decimal::Decimal;
use serde::Deserialize;
use wattline_actors::domain::tariff::{Rates, check_terms, per_kwh};
use wattline_actors::domain::tariff_cost::{self, AnnualCost, Interval, Profile, Terms, Unpriced};
use wattline_actors::domain::{PricePoint, Region};

use crate::storage::catalogue::{SupplierRow, TariffRow};
use crate::storage::{Storage, StorageError};

/// The seed catalogue, compiled in.
pub const SEED: &str = include_str!("../config/catalogue.json");

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SeedFile {
    #[allow(dead_code)]
    about: String,
    suppliers: Vec<SeedSupplier>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SeedSupplier {
    id: String,
    name: String,
    regions: Vec<Region>,
    website: Option<String>,
    green_provider: bool,
    rating: Option<f64>,
    tariffs: Vec<SeedTariff>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SeedTariff {
    id: String,
    name: String,
    region: Region,
    currency: String,
    rates: Rates,
    standing_charge: Decimal,
    green_share: u8,
    contract_length: String,
    exit_fee: Decimal,
    source: String,
    source_date: Option<String>,
    example: bool,
}

/// Why the seed could not be used.
#[derive(Debug, thiserror::Error)]
pub enum SeedError {
    #[error("config/catalogue.json: {0}")]
    Invalid(String),
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// The seed's rows, checked like an operator's edit.
pub fn seed_rows(now: Timestamp) -> Result<(Vec<SupplierRow>, Vec<TariffRow>), SeedError> {
    let file: SeedFile =
        serde_json::from_str(SEED).map_err(|e| SeedError::Invalid(e.to_string()))?;
    let mut suppliers = Vec::new();
    let mut tariffs = Vec::new();
    for s in file.suppliers {
        let supplier = SupplierRow {
            id: s.id.clone(),
            name: s.name,
            regions: s
                .regions
                .iter()
                .map(|r| r.code())
                .collect::<Vec<_>>()
                .join(","),
            website: s.website,
            green_provider: s.green_provider,
            rating: s.rating,
            active: true,
            created_at: now,
            updated_at: now,
        };
        for t in s.tariffs {
            let row = TariffRow {
                id: t.id,
                supplier_id: s.id.clone(),
                region: t.region.code().to_string(),
                name: t.name,
                tariff_type: t.rates.tariff_type().as_str().to_string(),
                rates: t.rates,
                standing_charge: t.standing_charge,
                currency: t.currency,
                green_share: t.green_share,
                contract_length: t.contract_length,
                exit_fee: t.exit_fee,
                valid_from: None,
                valid_to: None,
                source: t.source,
                source_date: t.source_date,
                example: t.example,
                active: true,
                created_at: now,
                updated_at: now,
            };
            let problems = tariff_problems(&row, Some(&supplier));
            if !problems.is_empty() {
                return Err(SeedError::Invalid(format!(
                    "tariff {}: {}",
                    row.id,
                    problems.join("; ")
                )));
            }
            tariffs.push(row);
        }
        suppliers.push(supplier);
    }
    Ok((suppliers, tariffs))
}

/// Stores the seed when the catalogue is empty (first start); says whether it did.
pub async fn seed_if_empty(storage: &Storage, now: Timestamp) -> Result<bool, SeedError> {
    if !storage.catalogue_is_empty().await? {
        return Ok(false);
    }
    let (suppliers, tariffs) = seed_rows(now)?;
    storage.seed_catalogue(&suppliers, &tariffs).await?;
    tracing::info!(
        suppliers = suppliers.len(),
        tariffs = tariffs.len(),
        "Supplier catalogue seeded from config/catalogue.json."
    );
    Ok(true)
}

/// Every problem of a tariff (with its supplier, when known), each naming its field.
pub fn tariff_problems(tariff: &TariffRow, supplier: Option<&SupplierRow>) -> Vec<String> {
    let mut problems = Vec::new();
    let region: Option<Region> = tariff.region.parse().ok();
    match region {
        None => problems.push(format!("region: unknown region {:?}", tariff.region)),
        Some(region) => {
            problems.extend(check_terms(
                region,
                &tariff.currency,
                &tariff.rates,
                tariff.standing_charge,
                tariff.exit_fee,
                tariff.green_share,
                &tariff.contract_length,
            ));
            if let Some(supplier) = supplier
                && !supplier.regions().any(|r| r == region.code())
            {
                problems.push(format!(
                    "region: supplier {} does not serve {}",
                    supplier.id,
                    region.code()
                ));
            }
        }
    }
    if tariff.tariff_type != tariff.rates.tariff_type().as_str() {
        problems.push("tariff_type: must match rates.type".into());
    }
    for (field, date) in [
        ("valid_from", &tariff.valid_from),
        ("valid_to", &tariff.valid_to),
        ("source_date", &tariff.source_date),
    ] {
        if let Some(date) = date
            && date.parse::<jiff::civil::Date>().is_err()
        {
            problems.push(format!("{field}: not a date (YYYY-MM-DD)"));
        }
    }
    if let (Some(from), Some(to)) = (&tariff.valid_from, &tariff.valid_to)
        && from > to
    {
        problems.push("valid_to: before valid_from".into());
    }
    if tariff.source.trim().is_empty() {
        problems.push("source: say where the figures come from".into());
    }
    problems
}

/// One tariff's place in a comparison.
#[derive(Debug, Clone)]
pub struct Ranked {
    pub tariff: TariffRow,
    pub cost: Result<AnnualCost, Unpriced>,
}

/// A region's tariffs ranked by annual cost for a profile.
#[derive(Debug, Clone)]
pub struct Comparison {
    /// Cheapest first; tariffs that could not be priced last.
    pub ranked: Vec<Ranked>,
    /// Days of stored prices the wholesale-tracking tariffs were priced over.
    pub days_of_prices: f64,
    pub from: Timestamp,
    pub to: Timestamp,
}

/// Ranks `tariffs` by their annual cost for `profile`, over the `prices` of the region (served
/// prices of up to the last 365 days; a calendar year of hours when there are none).
pub fn compare(
    region: Region,
    tariffs: Vec<TariffRow>,
    profile: &Profile,
    prices: &[PricePoint],
    now: Timestamp,
) -> Comparison {
    let intervals: Vec<Interval> = if prices.is_empty() {
        tariff_cost::calendar(now, 365)
    } else {
        prices
            .iter()
            .map(|p| Interval {
                start: p.start,
                minutes: p.duration_minutes,
                wholesale_per_kwh: Some(per_kwh(p.price, p.unit)),
            })
            .collect()
    };
    let minutes: u64 = prices.iter().map(|p| u64::from(p.duration_minutes)).sum();
    let (from, to) = match (intervals.first(), intervals.last()) {
        (Some(first), Some(last)) => (
            first.start,
            last.start + SignedDuration::from_mins(i64::from(last.minutes)),
        ),
        _ => (now, now),
    };
    let terms: Vec<Terms<'_>> = tariffs
        .iter()
        .map(|t| Terms {
            rates: &t.rates,
            standing_charge: t.standing_charge,
        })
        .collect();
    let costs = tariff_cost::annual_costs(&terms, profile, &intervals, &region.time_zone());
    let mut ranked: Vec<Ranked> = tariffs
        .into_iter()
        .zip(costs)
        .map(|(tariff, cost)| Ranked { tariff, cost })
        .collect();
    ranked.sort_by(|a, b| match (&a.cost, &b.cost) {
        (Ok(x), Ok(y)) => x.total.cmp(&y.total).then(a.tariff.id.cmp(&b.tariff.id)),
        (Ok(_), Err(_)) => std::cmp::Ordering::Less,
        (Err(_), Ok(_)) => std::cmp::Ordering::Greater,
        (Err(_), Err(_)) => a.tariff.id.cmp(&b.tariff.id),
    });
    Comparison {
        ranked,
        days_of_prices: minutes as f64 / 1440.0,
        from,
        to,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_seed_is_valid_and_covers_every_region() {
        let (suppliers, tariffs) = seed_rows(Timestamp::UNIX_EPOCH).unwrap();
        for region in Region::ALL {
            assert!(
                tariffs.iter().any(|t| t.region == region.code()),
                "no tariff for {region}"
            );
        }
        // Sourced figures say where from and when; the rest say they are examples.
        for t in &tariffs {
            assert!(t.example || t.source_date.is_some(), "{}", t.id);
        }
        let mut ids: Vec<&str> = tariffs.iter().map(|t| t.id.as_str()).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), tariffs.len(), "tariff ids are unique");
        assert!(suppliers.len() >= 30);
    }
}
