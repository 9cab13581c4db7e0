//! The latest-price cache: per region, the points of the last `memory` days (31 by default) to
//! the end of the known horizon, as the served series (preferred source per interval) and as
//! stored (every source). The writer owns it and publishes an immutable snapshot after every
//! committed batch; readers (`current`, the recent ranges of history, statistics, trends, peak
//! hours and compare, metrics) take the newest snapshot without locking or touching storage.

use std::sync::Arc;

use jiff::{SignedDuration, Timestamp};
use tokio::sync::watch;

use crate::domain::price::{SourcePreference, harmonize_units, prefer_sources};
use crate::domain::{PricePoint, Region};

/// One region's cached points, sorted by start, one per start.
pub type RegionSeries = Arc<[PricePoint]>;

/// An immutable view of every region's recent and upcoming prices.
#[derive(Debug, Clone)]
pub struct LatestSnapshot {
    /// Per region: the served series, one point per start.
    regions: Vec<RegionSeries>,
    /// Per region: every stored point (monthly references too), by start then source.
    sources: Vec<RegionSeries>,
    /// Per region: its fetcher is failing, so what is served is the last good data.
    failing: Vec<bool>,
    /// Per region: the cache holds every stored point that ends after this instant
    /// (`Timestamp::MAX` until the region was loaded from storage).
    complete_since: Vec<Timestamp>,
}

impl Default for LatestSnapshot {
    fn default() -> Self {
        LatestSnapshot {
            regions: vec![Arc::from(Vec::new()); Region::ALL.len()],
            sources: vec![Arc::from(Vec::new()); Region::ALL.len()],
            failing: vec![false; Region::ALL.len()],
            complete_since: vec![Timestamp::MAX; Region::ALL.len()],
        }
    }
}

impl LatestSnapshot {
    /// Whether `region`'s fetcher is failing (its prices are the last good ones, possibly old).
    pub fn is_failing(&self, region: Region) -> bool {
        self.failing[region.index()]
    }

    /// The same snapshot with `region`'s failing flag set to `failing`.
    pub fn with_failing(&self, region: Region, failing: bool) -> Self {
        let mut next = self.clone();
        next.failing[region.index()] = failing;
        next
    }

    /// Every cached point of `region`, sorted by start.
    pub fn series(&self, region: Region) -> &[PricePoint] {
        &self.regions[region.index()]
    }

    /// The served series of `region` itself (readers that memoise work per version of a series
    /// compare it by pointer: a region's series is replaced, never changed, when it changes).
    pub fn series_arc(&self, region: Region) -> &RegionSeries {
        &self.regions[region.index()]
    }

    /// The served points of `region` starting in `[from, to)`, when the cache holds every stored
    /// one (`from` inside its window); `None` sends the reader to storage.
    pub fn window(&self, region: Region, from: Timestamp, to: Timestamp) -> Option<&[PricePoint]> {
        self.covered(region, from)
            .then(|| between(self.series(region), from, to))
    }

    /// Like [`LatestSnapshot::window`], with every source's points (by start, then source).
    pub fn window_all_sources(
        &self,
        region: Region,
        from: Timestamp,
        to: Timestamp,
    ) -> Option<&[PricePoint]> {
        self.covered(region, from)
            .then(|| between(&self.sources[region.index()], from, to))
    }

    fn covered(&self, region: Region, from: Timestamp) -> bool {
        from >= self.complete_since[region.index()]
    }

    /// The same snapshot with `region` loaded from storage: `stored` is every stored point that
    /// ends after `since`, merged over what the cache holds; from now on the cache answers for
    /// the region from `since` on.
    pub fn loaded(
        &self,
        region: Region,
        stored: &[PricePoint],
        preference: &SourcePreference,
        since: Timestamp,
    ) -> Self {
        let (mut next, _) = self.merged_with_changes(stored, preference, since, Timestamp::MAX);
        next.complete_since[region.index()] = since;
        next
    }

    /// Index of the point covering `at`, if one does.
    fn covering_index(&self, region: Region, at: Timestamp) -> Option<usize> {
        let series = self.series(region);
        let after = series.partition_point(|p| p.start <= at);
        let idx = after.checked_sub(1)?;
        series[idx].covers(at).then_some(idx)
    }

    /// The point whose interval covers `at`.
    pub fn current(&self, region: Region, at: Timestamp) -> Option<&PricePoint> {
        self.covering_index(region, at)
            .map(|i| &self.series(region)[i])
    }

    /// Up to `limit` points starting with the one covering `at` (or the first after it).
    pub fn upcoming(&self, region: Region, at: Timestamp, limit: usize) -> &[PricePoint] {
        let series = self.series(region);
        let from = self
            .covering_index(region, at)
            .unwrap_or_else(|| series.partition_point(|p| p.start <= at));
        &series[from..series.len().min(from.saturating_add(limit))]
    }

    /// The most recently fetched point of `region`.
    pub fn freshest(&self, region: Region) -> Option<&PricePoint> {
        self.series(region).iter().max_by_key(|p| p.fetched_at)
    }

    /// A new snapshot with `batch` merged in: per start the preferred source wins, and points
    /// that ended before `keep_since` are dropped. Regions not in the batch are shared, not copied.
    pub fn merged(
        &self,
        batch: &[PricePoint],
        preference: &SourcePreference,
        keep_since: Timestamp,
    ) -> Self {
        self.merged_with_changes(batch, preference, keep_since, keep_since)
            .0
    }

    /// Like [`LatestSnapshot::merged`], also returning per region the served points ending after
    /// `announce_since` that are new or changed (new intervals, or a different price, source or
    /// kind): what subscribers need to hear about. A refetch that changes nothing yields nothing.
    pub fn merged_with_changes(
        &self,
        batch: &[PricePoint],
        preference: &SourcePreference,
        keep_since: Timestamp,
        announce_since: Timestamp,
    ) -> (Self, Vec<(Region, Vec<PricePoint>)>) {
        let mut next = self.clone();
        let mut changes = Vec::new();
        for region in Region::ALL {
            let mut incoming = batch.iter().filter(|p| p.region == region).peekable();
            if incoming.peek().is_none() {
                continue;
            }
            let i = region.index();
            // Every source as stored: the batch replaces points of the same key.
            let mut stored: Vec<PricePoint> = self.sources[i]
                .iter()
                .chain(incoming)
                .filter(|p| p.end() > keep_since)
                .cloned()
                .collect();
            // Stable: for equal keys the incoming point (later) comes last and wins.
            stored.sort_by_key(|p| (p.start, p.source, p.duration_minutes));
            stored.dedup_by(|later, earlier| {
                let same = later.key() == earlier.key();
                if same {
                    std::mem::swap(later, earlier);
                }
                same
            });
            let before = &self.regions[i];
            // Only intraday prices are served from the cache: a monthly retail reference is
            // history, not "now" (it stays in the every-source series).
            let intraday: Vec<PricePoint> = stored
                .iter()
                .filter(|p| p.duration_minutes <= 24 * 60)
                .cloned()
                .collect();
            let after: RegionSeries =
                harmonize_units(prefer_sources(intraday, preference.for_region(region))).into();
            let changed: Vec<PricePoint> = after
                .iter()
                .filter(|p| p.end() > announce_since)
                .filter(|p| {
                    let old = before
                        .binary_search_by_key(&p.start, |o| o.start)
                        .ok()
                        .map(|i| &before[i]);
                    !old.is_some_and(|o| same_served_value(o, p))
                })
                .cloned()
                .collect();
            if !changed.is_empty() {
                changes.push((region, changed));
            }
            next.regions[i] = after;
            next.sources[i] = stored.into();
            if next.complete_since[i] != Timestamp::MAX {
                next.complete_since[i] = next.complete_since[i].max(keep_since);
            }
        }
        (next, changes)
    }
}

/// The points of a sorted series that start in `[from, to)`.
fn between(series: &[PricePoint], from: Timestamp, to: Timestamp) -> &[PricePoint] {
    let first = series.partition_point(|p| p.start < from);
    let end = series.partition_point(|p| p.start < to);
    &series[first..end.max(first)]
}

/// Whether two points at the same start serve the same value (fetch time aside).
fn same_served_value(a: &PricePoint, b: &PricePoint) -> bool {
    a.price == b.price
        && a.source == b.source
        && a.kind == b.kind
        && a.duration_minutes == b.duration_minutes
        && a.unit == b.unit
        && a.estimated == b.estimated
}

/// How far back price changes are announced to subscribers: enough for "today so far" in every
/// time zone. (Older points landing, from a history load, are history, not news.)
pub const ANNOUNCE_LOOKBACK: SignedDuration = SignedDuration::from_hours(48);

/// The read side of the cache, held by the edge.
#[derive(Debug, Clone)]
pub struct LatestPrices {
    rx: watch::Receiver<Arc<LatestSnapshot>>,
}

impl LatestPrices {
    /// Wraps the receiving end of the writer's snapshot channel.
    pub fn new(rx: watch::Receiver<Arc<LatestSnapshot>>) -> Self {
        LatestPrices { rx }
    }

    /// The newest snapshot (an `Arc` clone; no copying of points).
    pub fn snapshot(&self) -> Arc<LatestSnapshot> {
        self.rx.borrow().clone()
    }

    /// Waits until a snapshot newer than the last one seen by this reader is published.
    pub async fn changed(&mut self) -> bool {
        self.rx.changed().await.is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Source;
    use crate::domain::price::tests::point;
    use rust_decimal::Decimal;

    fn hourly(region: Region, from: &str, prices: &[i64], source: Source) -> Vec<PricePoint> {
        let t0: Timestamp = from.parse().unwrap();
        prices
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let mut pt = point(
                    region,
                    t0 + SignedDuration::from_hours(i as i64),
                    60,
                    Decimal::from(*p),
                );
                pt.source = source;
                pt
            })
            .collect()
    }

    #[test]
    fn current_and_upcoming_find_the_covering_point() {
        let pref = SourcePreference::new([]);
        let snap = LatestSnapshot::default().merged(
            &hourly(
                Region::Japan,
                "2026-01-01T00:00:00Z",
                &[1, 2, 3, 4],
                Source::Simulated,
            ),
            &pref,
            Timestamp::MIN,
        );
        let at: Timestamp = "2026-01-01T01:30:00Z".parse().unwrap();
        assert_eq!(
            snap.current(Region::Japan, at).unwrap().price,
            Decimal::from(2)
        );
        let next: Vec<_> = snap
            .upcoming(Region::Japan, at, 2)
            .iter()
            .map(|p| p.price)
            .collect();
        assert_eq!(next, vec![Decimal::from(2), Decimal::from(3)]);
        assert!(
            snap.current(Region::Japan, "2026-01-01T04:00:00Z".parse().unwrap())
                .is_none()
        );
        assert!(snap.current(Region::Uk, at).is_none());
        assert_eq!(
            snap.upcoming(Region::Japan, "2025-12-31T00:00:00Z".parse().unwrap(), 10)
                .len(),
            4
        );
    }

    #[test]
    fn changes_are_only_new_or_different_served_points() {
        let pref = SourcePreference::new([]);
        let first = hourly(
            Region::Japan,
            "2026-01-01T00:00:00Z",
            &[1, 2],
            Source::Simulated,
        );
        let (snap, changes) = LatestSnapshot::default().merged_with_changes(
            &first,
            &pref,
            Timestamp::MIN,
            Timestamp::MIN,
        );
        assert_eq!(changes, vec![(Region::Japan, first.clone())]);
        // The same prices fetched again (later fetch time) are no news.
        let mut again = first.clone();
        for p in &mut again {
            p.fetched_at = "2026-01-02T00:00:00Z".parse().unwrap();
        }
        let (snap, changes) =
            snap.merged_with_changes(&again, &pref, Timestamp::MIN, Timestamp::MIN);
        assert!(changes.is_empty());
        // A revised price and a new hour are.
        let mut revised = hourly(
            Region::Japan,
            "2026-01-01T00:00:00Z",
            &[1, 5, 6],
            Source::Simulated,
        );
        revised.remove(0);
        for p in &mut revised {
            p.fetched_at = "2026-01-03T00:00:00Z".parse().unwrap();
        }
        let (_, changes) =
            snap.merged_with_changes(&revised, &pref, Timestamp::MIN, Timestamp::MIN);
        assert_eq!(changes, vec![(Region::Japan, revised)]);
    }

    #[test]
    fn merge_replaces_by_preference_and_trims_old_points() {
        let pref =
            SourcePreference::new([(Region::Japan, vec![Source::Entsoe, Source::Simulated])]);
        let real = hourly(
            Region::Japan,
            "2026-01-01T00:00:00Z",
            &[10, 20],
            Source::Entsoe,
        );
        let snap = LatestSnapshot::default().merged(&real, &pref, Timestamp::MIN);
        // A simulated fallback written later must not displace the real prices.
        let sim = hourly(
            Region::Japan,
            "2026-01-01T00:00:00Z",
            &[1, 2, 3],
            Source::Simulated,
        );
        let snap = snap.merged(&sim, &pref, "2026-01-01T01:00:00Z".parse().unwrap());
        let prices: Vec<_> = snap
            .series(Region::Japan)
            .iter()
            .map(|p| (p.source, p.price))
            .collect();
        assert_eq!(
            prices,
            vec![
                (Source::Entsoe, Decimal::from(20)),
                (Source::Simulated, Decimal::from(3))
            ]
        );
    }

    #[test]
    fn a_loaded_region_answers_ranges_inside_its_window_only() {
        let pref =
            SourcePreference::new([(Region::Japan, vec![Source::Entsoe, Source::Simulated])]);
        let hour = |h: i64| {
            "2026-01-01T00:00:00Z".parse::<Timestamp>().unwrap() + SignedDuration::from_hours(h)
        };
        let stored = [
            hourly(
                Region::Japan,
                "2026-01-01T00:00:00Z",
                &[1, 2, 3, 4],
                Source::Simulated,
            ),
            hourly(
                Region::Japan,
                "2026-01-01T02:00:00Z",
                &[30, 40],
                Source::Entsoe,
            ),
        ]
        .concat();
        let empty = LatestSnapshot::default();
        assert!(
            empty.window(Region::Japan, hour(0), hour(4)).is_none(),
            "not loaded yet"
        );
        let snap = empty.loaded(Region::Japan, &stored, &pref, hour(1));
        assert!(
            snap.window(Region::Japan, hour(0), hour(4)).is_none(),
            "before the window"
        );
        let served: Vec<_> = snap
            .window(Region::Japan, hour(1), hour(4))
            .unwrap()
            .iter()
            .map(|p| (p.source, p.price))
            .collect();
        assert_eq!(
            served,
            vec![
                (Source::Simulated, Decimal::from(2)),
                (Source::Entsoe, Decimal::from(30)),
                (Source::Entsoe, Decimal::from(40)),
            ]
        );
        let all = snap
            .window_all_sources(Region::Japan, hour(2), hour(3))
            .unwrap();
        assert_eq!(all.len(), 2, "both sources of 02:00");
        assert!(
            snap.window(Region::Uk, hour(1), hour(2)).is_none(),
            "uk was never loaded"
        );
        // A merge keeps the window complete and moves its start with the clock.
        let later = snap.merged(
            &hourly(
                Region::Japan,
                "2026-01-01T04:00:00Z",
                &[5],
                Source::Simulated,
            ),
            &pref,
            hour(2),
        );
        assert!(later.window(Region::Japan, hour(1), hour(5)).is_none());
        assert_eq!(
            later.window(Region::Japan, hour(2), hour(5)).unwrap().len(),
            3
        );
    }
}
