//! Comparison of what different sources report for the same region and period: each source's
//! statistics, ranked by average price, with its premium over the cheapest.

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use serde::Serialize;

use super::price::{PricePoint, Source};
use super::stats::{PriceStatistics, statistics};

/// One source's view of a period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SourceSummary {
    pub source: Source,
    #[serde(flatten)]
    pub statistics: PriceStatistics,
    /// How much higher this source's average is than the cheapest source's, in percent.
    pub premium_percent: Option<Decimal>,
}

/// Summaries per source, cheapest average first.
pub fn compare_sources(points: &[PricePoint]) -> Vec<SourceSummary> {
    let mut by_source: BTreeMap<Source, Vec<PricePoint>> = BTreeMap::new();
    for p in points {
        by_source.entry(p.source).or_default().push(p.clone());
    }
    let mut summaries: Vec<SourceSummary> = by_source
        .into_iter()
        .filter_map(|(source, ps)| {
            statistics(&ps).map(|statistics| SourceSummary {
                source,
                statistics,
                premium_percent: None,
            })
        })
        .collect();
    summaries.sort_by_key(|s| s.statistics.avg_price);
    if let Some(cheapest) = summaries.first().map(|s| s.statistics.avg_price) {
        for s in &mut summaries {
            s.premium_percent = (!cheapest.is_zero()).then(|| {
                ((s.statistics.avg_price - cheapest) / cheapest.abs() * Decimal::ONE_HUNDRED)
                    .round_dp(2)
            });
        }
    }
    summaries
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::price::tests::point;
    use crate::domain::region::Region;
    use rust_decimal::dec;

    #[test]
    fn sources_are_ranked_by_average_with_premium() {
        let t: jiff::Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
        let sim = point(Region::Germany, t, 60, dec!(120));
        let mut real = point(Region::Germany, t, 60, dec!(100));
        real.source = Source::Entsoe;
        let ranked = compare_sources(&[sim, real]);
        assert_eq!(ranked[0].source, Source::Entsoe);
        assert_eq!(ranked[0].premium_percent, Some(dec!(0)));
        assert_eq!(ranked[1].premium_percent, Some(dec!(20)));
        assert!(compare_sources(&[]).is_empty());
    }
}
