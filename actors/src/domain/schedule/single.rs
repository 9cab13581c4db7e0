//! One appliance on its own: the cheapest contiguous run (prefix sums, O(n)) or the cheapest
//! set of slots in runs of a minimum length (dynamic programme, O(n · slots · min_run)).

use super::{Appliance, RunMode};

/// The cheapest plan of `appliance` using only `allowed` slots, or `None` if there is none.
pub(super) fn best(appliance: &Appliance, prices: &[f64], allowed: &[bool]) -> Option<Vec<usize>> {
    match appliance.mode {
        RunMode::Contiguous => best_contiguous(prices, allowed, appliance.slots),
        RunMode::Splittable { .. } => {
            best_splittable(prices, allowed, appliance.slots, appliance.min_run())
        }
    }
}

/// The cheapest `len` consecutive allowed slots.
pub fn best_contiguous(prices: &[f64], allowed: &[bool], len: usize) -> Option<Vec<usize>> {
    if len == 0 || len > prices.len() {
        return None;
    }
    let mut best: Option<(f64, usize)> = None;
    let (mut sum, mut blocked) = (0.0, 0usize);
    for t in 0..prices.len() {
        sum += prices[t];
        blocked += usize::from(!allowed[t]);
        if t >= len {
            sum -= prices[t - len];
            blocked -= usize::from(!allowed[t - len]);
        }
        // Strictly cheaper only, so ties keep the earliest start.
        if t + 1 >= len && blocked == 0 && best.is_none_or(|(cost, _)| sum < cost - 1e-12) {
            best = Some((sum, t + 1 - len));
        }
    }
    best.map(|(_, start)| (start..start + len).collect())
}

/// Up to `count` non-overlapping runs of `len` consecutive slots, cheapest first (ties go to
/// the earlier run): the best start times for a fixed-length job.
pub fn cheapest_runs(prices: &[f64], len: usize, count: usize) -> Vec<std::ops::Range<usize>> {
    let mut free = vec![true; prices.len()];
    let mut runs = Vec::with_capacity(count);
    while runs.len() < count {
        let Some(best) = best_contiguous(prices, &free, len) else {
            break;
        };
        let range = best[0]..best[0] + len;
        free[range.clone()].iter_mut().for_each(|f| *f = false);
        runs.push(range);
    }
    runs
}

/// The cheapest `count` allowed slots whose maximal runs each last at least `min_run` slots.
pub fn best_splittable(
    prices: &[f64],
    allowed: &[bool],
    count: usize,
    min_run: usize,
) -> Option<Vec<usize>> {
    let n = prices.len();
    let min_run = min_run.clamp(1, count.max(1));
    if count == 0 || count > n {
        return None;
    }
    if min_run == 1 {
        // No run constraint: simply the cheapest allowed slots.
        let mut candidates: Vec<usize> = (0..n).filter(|t| allowed[*t]).collect();
        if candidates.len() < count {
            return None;
        }
        candidates.sort_by(|a, b| prices[*a].total_cmp(&prices[*b]).then(a.cmp(b)));
        candidates.truncate(count);
        candidates.sort_unstable();
        return Some(candidates);
    }
    // Only the stretch from the first to the last allowed slot matters.
    let lo = allowed.iter().position(|a| *a)?;
    let hi = allowed.iter().rposition(|a| *a)? + 1;
    // State after a slot: k slots chosen, r = length of the current run (0 = the slot was
    // idle), capped at min_run (longer runs behave alike). Per slot and state one byte says how
    // the best way in came: whether the slot was taken, and whether the previous run length was
    // the capped one (the only ambiguous predecessor).
    const TOOK: u8 = 1;
    const FROM_CAP: u8 = 2;
    let width = min_run + 1;
    let states = (count + 1) * width;
    let idx = |k: usize, r: usize| k * width + r;
    let mut cost = vec![f64::INFINITY; states];
    cost[idx(0, 0)] = 0.0;
    let mut how = vec![0u8; (hi - lo) * states];
    let mut next = vec![f64::INFINITY; states];
    for t in lo..hi {
        next.fill(f64::INFINITY);
        let how = &mut how[(t - lo) * states..(t - lo + 1) * states];
        for k in 0..=count {
            for r in 0..width {
                let c = cost[idx(k, r)];
                if !c.is_finite() {
                    continue;
                }
                // Stay idle: only between runs or after a long-enough run.
                if (r == 0 || r == min_run) && c < next[idx(k, 0)] {
                    next[idx(k, 0)] = c;
                    how[idx(k, 0)] = if r == min_run && r != 0 { FROM_CAP } else { 0 };
                }
                if allowed[t] && k < count {
                    let r2 = (r + 1).min(min_run);
                    let c2 = c + prices[t];
                    if c2 < next[idx(k + 1, r2)] {
                        next[idx(k + 1, r2)] = c2;
                        how[idx(k + 1, r2)] = TOOK | if r == min_run { FROM_CAP } else { 0 };
                    }
                }
            }
        }
        std::mem::swap(&mut cost, &mut next);
    }
    let (mut k, mut r) = [(count, 0), (count, min_run)]
        .into_iter()
        .filter(|(k, r)| cost[idx(*k, *r)].is_finite())
        .min_by(|a, b| cost[idx(a.0, a.1)].total_cmp(&cost[idx(b.0, b.1)]))?;
    let mut slots = Vec::with_capacity(count);
    for t in (lo..hi).rev() {
        let step = how[(t - lo) * states + idx(k, r)];
        if step & TOOK != 0 {
            slots.push(t);
            k -= 1;
            r = if step & FROM_CAP != 0 { min_run } else { r - 1 };
        } else {
            r = if step & FROM_CAP != 0 { min_run } else { 0 };
        }
    }
    slots.reverse();
    Some(slots)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::schedule::runs;
    use crate::rng::SplitMix64;

    /// Every subset of `n ≤ 14` slots, the cheapest valid one by brute force.
    fn brute_force(prices: &[f64], allowed: &[bool], count: usize, min_run: usize) -> Option<f64> {
        let n = prices.len();
        (0u32..1 << n)
            .filter(|mask| mask.count_ones() as usize == count)
            .map(|mask| (0..n).filter(|t| mask & (1 << t) != 0).collect::<Vec<_>>())
            .filter(|slots| {
                slots.iter().all(|t| allowed[*t]) && runs(slots).iter().all(|r| r.len() >= min_run)
            })
            .map(|slots| slots.iter().map(|t| prices[*t]).sum::<f64>())
            .min_by(f64::total_cmp)
    }

    #[test]
    fn splittable_matches_brute_force() {
        let mut rng = SplitMix64::new(17);
        for _ in 0..300 {
            let n = 6 + (rng.next_u64() % 9) as usize;
            let prices: Vec<f64> = (0..n).map(|_| rng.normal() * 10.0 + 5.0).collect();
            let allowed: Vec<bool> = (0..n).map(|_| !rng.next_u64().is_multiple_of(5)).collect();
            let count = 1 + (rng.next_u64() % n as u64) as usize;
            let min_run = 1 + (rng.next_u64() % count as u64) as usize;
            let found = best_splittable(&prices, &allowed, count, min_run);
            let expected = brute_force(&prices, &allowed, count, min_run);
            match (found, expected) {
                (None, None) => {}
                (Some(slots), Some(best)) => {
                    assert_eq!(slots.len(), count);
                    assert!(slots.iter().all(|t| allowed[*t]));
                    assert!(
                        runs(&slots).iter().all(|r| r.len() >= min_run),
                        "{slots:?} min {min_run}"
                    );
                    let cost: f64 = slots.iter().map(|t| prices[*t]).sum();
                    assert!((cost - best).abs() < 1e-9, "{cost} vs {best}");
                }
                (found, expected) => panic!("found {found:?}, brute force {expected:?}"),
            }
        }
    }

    #[test]
    fn contiguous_takes_the_cheapest_allowed_stretch_even_with_negative_prices() {
        let prices = [5.0, -3.0, -4.0, 1.0, -10.0, 2.0];
        let allowed = [true, true, true, true, false, true];
        assert_eq!(best_contiguous(&prices, &allowed, 2), Some(vec![1, 2]));
        assert_eq!(best_contiguous(&prices, &allowed, 5), None);
        assert_eq!(best_contiguous(&prices, &[true; 6], 1), Some(vec![4]));
    }
}
