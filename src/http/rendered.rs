//! The JSON of the cache's served prices, rendered once per version of a region's series and
//! reused by every response that lists them: serialising a page of 500 prices costs ~160 µs,
//! copying their rendered JSON ~2 µs. A region's entry is replaced when the writer replaces
//! the region's series (which it never changes in place), so an entry is never stale.

use std::ops::Range;
use std::sync::Arc;

use arc_swap::ArcSwapOption;
use jiff::Timestamp;
use serde::Serialize;
use serde_json::value::RawValue;
use wattline_actors::domain::{PricePoint, Region};
use wattline_actors::writer::LatestSnapshot;
use wattline_actors::writer::latest::RegionSeries;

use super::dto::PriceDto;

/// One version of a region's served series and the JSON of each of its points.
#[derive(Debug)]
pub struct Rendered {
    series: RegionSeries,
    json: Vec<Box<RawValue>>,
}

impl Rendered {
    fn of(series: &RegionSeries) -> Self {
        Rendered {
            series: series.clone(),
            json: series
                .iter()
                .map(|p| {
                    serde_json::value::to_raw_value(&PriceDto::from(p))
                        .expect("a price serialises to JSON")
                })
                .collect(),
        }
    }

    /// The points of the version.
    pub fn points(&self) -> &[PricePoint] {
        &self.series
    }

    /// Indices of the points starting in `[from, to)`.
    pub fn range(&self, from: Timestamp, to: Timestamp) -> Range<usize> {
        let first = self.series.partition_point(|p| p.start < from);
        let end = self.series.partition_point(|p| p.start < to);
        first..end.max(first)
    }
}

/// Per region, the rendered JSON of the newest version seen.
pub struct RenderedPrices {
    regions: Vec<ArcSwapOption<Rendered>>,
}

impl Default for RenderedPrices {
    fn default() -> Self {
        RenderedPrices {
            regions: Region::ALL.iter().map(|_| ArcSwapOption::empty()).collect(),
        }
    }
}

impl RenderedPrices {
    /// The rendered served series of `region` in `snapshot`, rendering it if this version has
    /// not been rendered yet.
    pub fn of(&self, snapshot: &LatestSnapshot, region: Region) -> Arc<Rendered> {
        let series = snapshot.series_arc(region);
        let slot = &self.regions[region.index()];
        if let Some(current) = slot.load_full()
            && Arc::ptr_eq(&current.series, series)
        {
            return current;
        }
        let rendered = Arc::new(Rendered::of(series));
        slot.store(Some(rendered.clone()));
        rendered
    }
}

/// A list of prices in a response: rendered JSON copied as it is, or prices serialised now.
#[derive(Debug)]
pub enum PriceList {
    Rendered {
        rendered: Arc<Rendered>,
        range: Range<usize>,
    },
    Points(Vec<PricePoint>),
}

impl PriceList {
    /// The prices listed.
    pub fn points(&self) -> &[PricePoint] {
        match self {
            PriceList::Rendered { rendered, range } => &rendered.points()[range.clone()],
            PriceList::Points(points) => points,
        }
    }
}

/// One price in a response, rendered or serialised now.
#[derive(Debug)]
pub enum PriceItem {
    Rendered {
        rendered: Arc<Rendered>,
        index: usize,
    },
}

impl Serialize for PriceItem {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            PriceItem::Rendered { rendered, index } => rendered.json[*index].serialize(serializer),
        }
    }
}

impl Serialize for PriceList {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeSeq;
        match self {
            PriceList::Rendered { rendered, range } => {
                let mut seq = serializer.serialize_seq(Some(range.len()))?;
                for json in &rendered.json[range.clone()] {
                    seq.serialize_element(json)?;
                }
                seq.end()
            }
            PriceList::Points(points) => {
                let mut seq = serializer.serialize_seq(Some(points.len()))?;
                for p in points {
                    seq.serialize_element(&PriceDto::from(p))?;
                }
                seq.end()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wattline_actors::domain::price::SourcePreference;

    #[test]
    fn rendered_prices_are_the_dtos_json_and_follow_new_versions() {
        let start: Timestamp = "2026-01-15T00:00:00Z".parse().unwrap();
        let points: Vec<PricePoint> = (0..4)
            .map(|i| PricePoint {
                region: Region::Japan,
                start: start + jiff::SignedDuration::from_hours(i),
                duration_minutes: 60,
                price: rust_decimal::Decimal::new(1234 + i, 2),
                currency: wattline_actors::domain::Currency::Jpy,
                unit: wattline_actors::domain::EnergyUnit::MWh,
                kind: wattline_actors::domain::PriceKind::DayAhead,
                source: wattline_actors::domain::Source::Simulated,
                fetched_at: "2026-01-15T00:00:00.123Z".parse().unwrap(),
                estimated: false,
            })
            .collect();
        let pref = SourcePreference::new([]);
        let snapshot = LatestSnapshot::default().merged(&points, &pref, Timestamp::MIN);
        let cache = RenderedPrices::default();
        let rendered = cache.of(&snapshot, Region::Japan);
        let range = rendered.range(points[1].start, points[3].start);
        let list = PriceList::Rendered {
            rendered: rendered.clone(),
            range,
        };
        let expected = PriceList::Points(points[1..3].to_vec());
        assert_eq!(
            serde_json::to_string(&list).unwrap(),
            serde_json::to_string(&expected).unwrap()
        );
        assert!(
            Arc::ptr_eq(&rendered, &cache.of(&snapshot, Region::Japan)),
            "memoised"
        );
        let newer = snapshot.merged(&points[..1], &pref, Timestamp::MIN);
        let mut changed = points[0].clone();
        changed.price = rust_decimal::Decimal::ONE;
        let newer = newer.merged(&[changed], &pref, Timestamp::MIN);
        assert!(
            !Arc::ptr_eq(&rendered, &cache.of(&newer, Region::Japan)),
            "a new version renders again"
        );
    }
}
