//! Cheapest contiguous windows: for a run of `duration` minutes, where in a price series is the
//! average price lowest. One O(n) two-pointer pass over the series finds every candidate start;
//! gaps in the series break windows, and any resolution or mix of resolutions works.

use std::cmp::Ordering;

use jiff::Timestamp;
use rust_decimal::Decimal;
use serde::Serialize;

use super::price::PricePoint;
use super::stats::DERIVED_SCALE;

/// A contiguous run of intervals and its time-weighted average price.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PriceWindow {
    pub start: Timestamp,
    pub end: Timestamp,
    pub avg_price: Decimal,
    /// Number of price intervals the window spans.
    pub intervals: usize,
}

/// A priced interval the window scan can run over: a stored price, or a forecast step.
pub trait PricedInterval {
    fn start(&self) -> Timestamp;
    fn minutes(&self) -> u32;
    fn price(&self) -> Decimal;
    fn end(&self) -> Timestamp {
        self.start() + jiff::SignedDuration::from_mins(i64::from(self.minutes()))
    }
}

impl PricedInterval for PricePoint {
    fn start(&self) -> Timestamp {
        self.start
    }
    fn minutes(&self) -> u32 {
        self.duration_minutes
    }
    fn price(&self) -> Decimal {
        self.price
    }
    fn end(&self) -> Timestamp {
        PricePoint::end(self)
    }
}

/// A window found by the scan, before rounding: indices `[first, last)` into the series.
#[derive(Debug, Clone, Copy)]
struct Candidate {
    first: usize,
    last: usize,
    weighted_sum: Decimal,
    minutes: u64,
}

impl Candidate {
    /// Orders by average price without dividing: a/b < c/d ⇔ a·d < c·b for positive b, d.
    fn cmp_avg(&self, other: &Candidate) -> Ordering {
        if self.minutes == other.minutes {
            return self.weighted_sum.cmp(&other.weighted_sum);
        }
        (self.weighted_sum * Decimal::from(other.minutes))
            .cmp(&(other.weighted_sum * Decimal::from(self.minutes)))
    }

    fn window<P: PricedInterval>(&self, points: &[P]) -> PriceWindow {
        PriceWindow {
            start: points[self.first].start(),
            end: points[self.last - 1].end(),
            avg_price: (self.weighted_sum / Decimal::from(self.minutes)).round_dp(DERIVED_SCALE),
            intervals: self.last - self.first,
        }
    }
}

/// Calls `emit` with every shortest contiguous run covering at least `duration_minutes`,
/// one per possible first interval. `points` must be sorted by start and free of overlaps.
fn scan<P: PricedInterval>(points: &[P], duration_minutes: u32, mut emit: impl FnMut(Candidate)) {
    let need = u64::from(duration_minutes.max(1));
    let weight = |p: &P| p.price() * Decimal::from(p.minutes());
    let (mut first, mut last) = (0usize, 0usize);
    let mut sum = Decimal::ZERO;
    let mut minutes: u64 = 0;
    while first < points.len() {
        while minutes < need && last < points.len() {
            if last > first && points[last].start() != points[last - 1].end() {
                break;
            }
            sum += weight(&points[last]);
            minutes += u64::from(points[last].minutes());
            last += 1;
        }
        if minutes >= need {
            emit(Candidate {
                first,
                last,
                weighted_sum: sum,
                minutes,
            });
            sum -= weight(&points[first]);
            minutes -= u64::from(points[first].minutes());
            first += 1;
        } else if last >= points.len() {
            break;
        } else {
            // A gap before `last`: no window starting in [first, last) can reach the duration.
            first = last;
            sum = Decimal::ZERO;
            minutes = 0;
        }
    }
}

/// The cheapest window of `duration_minutes` in `points` (sorted by start), if any fits.
pub fn cheapest_window<P: PricedInterval>(
    points: &[P],
    duration_minutes: u32,
) -> Option<PriceWindow> {
    let mut best: Option<Candidate> = None;
    scan(points, duration_minutes, |c| {
        if best.is_none_or(|b| c.cmp_avg(&b) == Ordering::Less) {
            best = Some(c);
        }
    });
    best.map(|c| c.window(points))
}

/// Up to `count` non-overlapping windows of `duration_minutes`, cheapest first. Ties go to the
/// earlier window.
pub fn cheapest_windows<P: PricedInterval>(
    points: &[P],
    duration_minutes: u32,
    count: usize,
) -> Vec<PriceWindow> {
    let mut candidates = Vec::with_capacity(points.len());
    scan(points, duration_minutes, |c| candidates.push(c));
    // Stable sort keeps the earlier window first among equal averages.
    candidates.sort_by(|a, b| a.cmp_avg(b));
    let mut chosen: Vec<Candidate> = Vec::with_capacity(count);
    for c in candidates {
        if chosen.len() == count {
            break;
        }
        if chosen
            .iter()
            .all(|k| c.last <= k.first || c.first >= k.last)
        {
            chosen.push(c);
        }
    }
    chosen.iter().map(|c| c.window(points)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::calendar::interval_starts;
    use crate::domain::price::tests::point;
    use crate::domain::region::Region;
    use jiff::SignedDuration;
    use jiff::civil::date;
    use rust_decimal::dec;

    fn series(prices: &[i64], minutes: u32) -> Vec<PricePoint> {
        crate::domain::price::tests::series(prices.iter().map(|p| Decimal::from(*p)), minutes)
    }

    /// Brute force over every start, for cross-checking the scan.
    fn brute_force(points: &[PricePoint], duration: u32) -> Option<Decimal> {
        let need = i64::from(duration);
        (0..points.len())
            .filter_map(|i| {
                let mut covered = 0i64;
                let mut sum = Decimal::ZERO;
                for j in i..points.len() {
                    if j > i && points[j].start != points[j - 1].end() {
                        return None;
                    }
                    sum += points[j].price * Decimal::from(points[j].duration_minutes);
                    covered += i64::from(points[j].duration_minutes);
                    if covered >= need {
                        return Some((sum / Decimal::from(covered)).round_dp(DERIVED_SCALE));
                    }
                }
                None
            })
            .min()
    }

    #[test]
    fn finds_the_cheapest_run_with_negative_prices() {
        let points = series(&[50, 40, -10, -20, 30, 60], 60);
        let w = cheapest_window(&points, 120).unwrap();
        assert_eq!(w.start, "2026-01-01T02:00:00Z".parse().unwrap());
        assert_eq!(w.end, "2026-01-01T04:00:00Z".parse().unwrap());
        assert_eq!(w.avg_price, dec!(-15));
        assert_eq!(w.intervals, 2);
    }

    #[test]
    fn quarter_hour_series_uses_four_points_per_hour() {
        let points = series(&[9, 9, 1, 1, 1, 1, 9, 9], 15);
        let w = cheapest_window(&points, 60).unwrap();
        assert_eq!(w.intervals, 4);
        assert_eq!(w.avg_price, dec!(1));
    }

    #[test]
    fn windows_do_not_cross_gaps() {
        let mut points = series(&[1, 1, 100, 100], 60);
        // Move the last two an hour later: a gap after the second point.
        for p in &mut points[2..] {
            p.start += SignedDuration::from_hours(1);
        }
        let w = cheapest_window(&points, 180);
        assert!(w.is_none(), "no 3-hour run exists: {w:?}");
        assert_eq!(cheapest_window(&points, 120).unwrap().avg_price, dec!(1));
    }

    #[test]
    fn top_windows_do_not_overlap() {
        let points = series(&[1, 2, 50, 3, 4, 50, 5, 6], 60);
        let ws = cheapest_windows(&points, 120, 3);
        let avgs: Vec<_> = ws.iter().map(|w| w.avg_price).collect();
        assert_eq!(avgs, vec![dec!(1.5), dec!(3.5), dec!(5.5)]);
        assert!(cheapest_windows(&points, 120, 0).is_empty());
    }

    #[test]
    fn duration_not_a_multiple_of_resolution_rounds_up() {
        let points = series(&[5, 1, 1, 5], 60);
        let w = cheapest_window(&points, 90).unwrap();
        assert_eq!(w.intervals, 2);
        assert_eq!(w.avg_price, dec!(1));
    }

    #[test]
    fn dst_day_series_is_contiguous() {
        let points: Vec<_> = interval_starts(Region::Germany, date(2026, 10, 25))
            .enumerate()
            .map(|(i, t)| {
                point(
                    Region::Germany,
                    t,
                    15,
                    Decimal::from((i as i64 * 37) % 101 - 20),
                )
            })
            .collect();
        assert_eq!(points.len(), 100);
        for duration in [15, 60, 135, 240, 25 * 60] {
            let w = cheapest_window(&points, duration).map(|w| w.avg_price);
            assert_eq!(w, brute_force(&points, duration), "duration {duration}");
        }
    }

    #[test]
    fn scan_matches_brute_force_on_pseudo_random_series() {
        let mut seed = 0x9e37_79b9_u64;
        for _ in 0..50 {
            let prices: Vec<i64> = (0..40)
                .map(|_| {
                    seed = seed
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    ((seed >> 33) % 200) as i64 - 50
                })
                .collect();
            let points = series(&prices, 30);
            for duration in [30, 90, 240] {
                let got = cheapest_window(&points, duration).map(|w| w.avg_price);
                assert_eq!(got, brute_force(&points, duration));
            }
        }
    }
}
