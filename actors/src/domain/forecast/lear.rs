//! LEAR (Lago et al. 2021): for each period of the day, a lasso-regularised linear regression
//! on the prices of d−1, d−2, d−3 and d−7, the exogenous inputs of d, d−1 and d−7, and weekday
//! dummies; inputs and outputs are median/MAD-scaled and asinh-transformed (variance
//! stabilising); the penalty of each regression is chosen by an information criterion along the
//! LARS path. One model per calibration window; the forecast combines the windows with weights
//! from their recent errors (see [`Combiner`]).

use super::combine::{Combiner, MemberForecast};
use super::lars::{Criterion, Gram, lasso_at, lasso_lars_ic, xty};
use super::series::DailySeries;

/// How LEAR is calibrated.
#[derive(Debug, Clone, PartialEq)]
pub struct LearConfig {
    /// Calibration windows in days (each includes the 7 days of lags).
    pub windows: Vec<usize>,
    pub criterion: Criterion,
    /// Bound on LARS steps per regression.
    pub max_steps: usize,
    /// Shortest window used when the history is shorter than a configured one.
    pub min_window: usize,
    /// Where the chosen penalty is applied.
    pub penalty: PenaltyScale,
    /// Days of recent errors behind the weights that combine the windows.
    pub combine_days: usize,
}

/// The criterion picks α on unit-norm columns; this says on which columns the final fit uses it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PenaltyScale {
    /// On the unit-norm columns the criterion saw (the textbook lasso-IC fit).
    UnitNorm,
    /// On the median/MAD-asinh columns before normalisation, as the published LEAR does
    /// (scikit-learn's `LassoLarsIC` picks α on normalised columns, its `Lasso` then refits
    /// with that α on the un-normalised ones). A column's norm grows with √n, so this is a
    /// weaker penalty on long windows — which is what makes long windows pay off.
    Unnormalised,
}

impl Default for LearConfig {
    /// The published LEAR ensemble: windows of 56, 84, 1092 and 1456 days, AIC.
    fn default() -> Self {
        LearConfig {
            windows: vec![56, 84, 1092, 1456],
            criterion: Criterion::Aic,
            max_steps: 2500,
            min_window: 35,
            penalty: PenaltyScale::Unnormalised,
            combine_days: 28,
        }
    }
}

impl LearConfig {
    /// An empty record of the windows' errors, for series of `periods` a day. A window needs a
    /// quarter of `combine_days` scored days before its own errors set its weight.
    pub fn combiner(&self, periods: usize) -> Combiner {
        Combiner::new(periods, self.combine_days, self.combine_days.div_ceil(4))
    }
}

/// Why no forecast could be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ForecastError {
    #[error("not enough history: {have} days before the forecast day, at least {need} needed")]
    NotEnoughHistory { have: usize, need: usize },
    #[error("the forecast day needs the prices of the 7 days before it")]
    MissingLags,
}

/// Median/MAD then asinh, per column (the "invariant" scaler of the LEAR paper).
#[derive(Debug, Clone, PartialEq)]
struct Scaler {
    median: Vec<f64>,
    mad: Vec<f64>,
}

impl Scaler {
    /// Fits on column `j` of `rows` (row-major, `width` wide) for the columns in `cols`.
    fn fit(rows: &[f64], width: usize, cols: std::ops::Range<usize>) -> Scaler {
        let n = rows.len() / width;
        let mut median = vec![0.0; width];
        let mut mad = vec![1.0; width];
        let mut column = vec![0.0; n];
        for j in cols {
            for (i, c) in column.iter_mut().enumerate() {
                *c = rows[i * width + j];
            }
            let m = median_of(&mut column);
            for c in column.iter_mut() {
                *c = (*c - m).abs();
            }
            // Normal-consistent MAD; a constant column keeps scale 1.
            let d = median_of(&mut column) / 0.674_489_750_196_081_7;
            median[j] = m;
            mad[j] = if d > 1e-12 { d } else { 1.0 };
        }
        Scaler { median, mad }
    }

    fn apply(&self, row: &mut [f64], cols: std::ops::Range<usize>) {
        for j in cols {
            row[j] = ((row[j] - self.median[j]) / self.mad[j]).asinh();
        }
    }

    fn invert(&self, j: usize, value: f64) -> f64 {
        value.sinh() * self.mad[j] + self.median[j]
    }
}

fn median_of(values: &mut [f64]) -> f64 {
    let n = values.len();
    if n == 0 {
        return 0.0;
    }
    let mid = n / 2;
    let (_, upper, _) = values.select_nth_unstable_by(mid, f64::total_cmp);
    let upper = *upper;
    if n % 2 == 1 {
        upper
    } else {
        let lower = values[..mid]
            .iter()
            .copied()
            .fold(f64::NEG_INFINITY, f64::max);
        (lower + upper) / 2.0
    }
}

/// The regression of one period: intercept and sparse coefficients on scaled features.
#[derive(Debug, Clone, PartialEq)]
struct PeriodModel {
    intercept: f64,
    coef: Vec<(usize, f64)>,
}

/// LEAR calibrated on one window.
#[derive(Debug, Clone, PartialEq)]
pub struct WindowModel {
    /// The configured window this model stands for (its key in the combination).
    pub key: usize,
    /// Window length in days (the configured one, capped by the history).
    pub window: usize,
    /// Training samples (days).
    pub samples: usize,
    x_scaler: Scaler,
    y_scaler: Scaler,
    periods: Vec<PeriodModel>,
}

/// A calibrated LEAR ensemble, able to forecast the day it was calibrated for (and, recursively,
/// the days after it).
#[derive(Debug, Clone, PartialEq)]
pub struct Lear {
    pub models: Vec<WindowModel>,
    periods: usize,
    exogenous: usize,
}

/// Number of features for `periods` per day and `exogenous` inputs.
pub fn feature_count(periods: usize, exogenous: usize) -> usize {
    7 + 4 * periods + 3 * periods * exogenous
}

/// Writes the feature row of day `t` into `row`. Needs days t−7..t−1 (prices) and, for the
/// exogenous inputs, days t−7, t−1 and t.
fn features(series: &DailySeries, t: usize, row: &mut [f64]) {
    let p = series.periods;
    row[..7].fill(0.0);
    let weekday = series.date(t).weekday().to_monday_zero_offset() as usize;
    row[weekday] = 1.0;
    let mut at = 7;
    for lag in [1, 2, 3, 7] {
        row[at..at + p].copy_from_slice(series.day(t - lag));
        at += p;
    }
    for exo in &series.exogenous {
        for lag in [0, 1, 7] {
            let d = t - lag;
            row[at..at + p].copy_from_slice(&exo[d * p..(d + 1) * p]);
            at += p;
        }
    }
}

impl Lear {
    /// Calibrates every window on the days before `target` (which must have its 7 lag days).
    pub fn fit(
        series: &DailySeries,
        target: usize,
        config: &LearConfig,
    ) -> Result<Lear, ForecastError> {
        let need = config.min_window.max(8);
        if target < need {
            return Err(ForecastError::NotEnoughHistory { have: target, need });
        }
        // (key, length): configured windows capped by the history; windows capped to the same
        // length are one model, keyed by the shortest of them.
        let mut configured = config.windows.clone();
        configured.sort_unstable();
        let mut windows: Vec<(usize, usize)> = Vec::new();
        for key in configured {
            let length = key.min(target);
            if length >= need && windows.last().is_none_or(|(_, l)| *l != length) {
                windows.push((key, length));
            }
        }
        if windows.is_empty() {
            let key = config.windows.iter().copied().max().unwrap_or(need);
            windows.push((key, target.min(key)));
        }
        let models = windows
            .into_iter()
            .map(|(key, length)| fit_window(series, target, key, length, config))
            .collect();
        Ok(Lear {
            models,
            periods: series.periods,
            exogenous: series.exogenous.len(),
        })
    }

    /// The forecast of day `t` of `series` (its lags and exogenous inputs must be present): the
    /// windows' forecasts combined by `combiner`'s weights.
    pub fn predict(
        &self,
        series: &DailySeries,
        t: usize,
        combiner: &Combiner,
    ) -> Result<Vec<f64>, ForecastError> {
        Ok(combiner.combine(&self.predict_members(series, t)?))
    }

    /// Each window's forecast of day `t`, keyed by its configured window.
    pub fn predict_members(
        &self,
        series: &DailySeries,
        t: usize,
    ) -> Result<Vec<MemberForecast>, ForecastError> {
        if t < 7
            || series.days() < t
            || series.periods != self.periods
            || series.exogenous.len() != self.exogenous
        {
            return Err(ForecastError::MissingLags);
        }
        let width = feature_count(self.periods, self.exogenous);
        let mut raw = vec![0.0; width];
        features(series, t, &mut raw);
        let members = self
            .models
            .iter()
            .map(|model| {
                let mut row = raw.clone();
                model.x_scaler.apply(&mut row, 7..width);
                let day = model
                    .periods
                    .iter()
                    .enumerate()
                    .map(|(h, period)| {
                        let scaled = period.intercept
                            + period.coef.iter().map(|(j, c)| c * row[*j]).sum::<f64>();
                        model.y_scaler.invert(h, scaled)
                    })
                    .collect();
                (model.key, day)
            })
            .collect();
        Ok(members)
    }

    /// Forecasts `days` days starting at `first` (which may be past the end of `series`): each
    /// forecast day feeds the lags of the next. Exogenous inputs must cover the days, so this is
    /// for price-only series.
    pub fn predict_days(
        &self,
        series: &DailySeries,
        first: usize,
        days: usize,
        combiner: &Combiner,
    ) -> Result<Vec<Vec<f64>>, ForecastError> {
        let mut extended = series.clone();
        extended.prices.truncate(first * series.periods);
        let mut out = Vec::with_capacity(days);
        for d in 0..days {
            let day = self.predict(&extended, first + d, combiner)?;
            extended.prices.extend_from_slice(&day);
            out.push(day);
        }
        Ok(out)
    }
}

fn fit_window(
    series: &DailySeries,
    target: usize,
    key: usize,
    window: usize,
    config: &LearConfig,
) -> WindowModel {
    let p = series.periods;
    let width = feature_count(p, series.exogenous.len());
    let first = target - window + 7;
    let n = target - first;
    let mut x = vec![0.0; n * width];
    let mut y = vec![0.0; n * p];
    for (i, t) in (first..target).enumerate() {
        features(series, t, &mut x[i * width..(i + 1) * width]);
        y[i * p..(i + 1) * p].copy_from_slice(series.day(t));
    }
    let x_scaler = Scaler::fit(&x, width, 7..width);
    let y_scaler = Scaler::fit(&y, p, 0..p);
    for row in x.chunks_exact_mut(width) {
        x_scaler.apply(row, 7..width);
    }
    for row in y.chunks_exact_mut(p) {
        y_scaler.apply(row, 0..p);
    }
    // Centre and normalise the columns (the path works on unit-norm columns).
    let mut mean = vec![0.0; width];
    for row in x.chunks_exact(width) {
        for (m, v) in mean.iter_mut().zip(row) {
            *m += v;
        }
    }
    mean.iter_mut().for_each(|m| *m /= n as f64);
    let mut norm = vec![0.0; width];
    for row in x.chunks_exact_mut(width) {
        for ((v, m), s) in row.iter_mut().zip(&mean).zip(norm.iter_mut()) {
            *v -= m;
            *s += *v * *v;
        }
    }
    norm.iter_mut().for_each(|s| *s = s.sqrt());
    for row in x.chunks_exact_mut(width) {
        for (v, s) in row.iter_mut().zip(&norm) {
            *v = if *s > 1e-12 { *v / s } else { 0.0 };
        }
    }
    let gram = Gram::of(&x, n, width);
    let raw_gram = match config.penalty {
        PenaltyScale::UnitNorm => None,
        PenaltyScale::Unnormalised => {
            let mut raw = gram.clone();
            for (i, row) in raw.data.chunks_exact_mut(width).enumerate() {
                for (g, nj) in row.iter_mut().zip(&norm) {
                    *g *= norm[i] * nj;
                }
            }
            Some(raw)
        }
    };
    let mut target_y = vec![0.0; n];
    let periods = (0..p)
        .map(|h| {
            for (i, v) in target_y.iter_mut().enumerate() {
                *v = y[i * p + h];
            }
            let y_mean = target_y.iter().sum::<f64>() / n as f64;
            target_y.iter_mut().for_each(|v| *v -= y_mean);
            let y_sq = target_y.iter().map(|v| v * v).sum::<f64>();
            let xy = xty(&x, n, width, &target_y);
            let fit = lasso_lars_ic(
                &gram,
                &xy,
                y_sq,
                y_sq / n as f64,
                n,
                config.criterion,
                config.max_steps,
            );
            // Coefficients on the centred (not normalised) columns.
            let raw_coef: Vec<f64> = match &raw_gram {
                None => fit
                    .coef
                    .iter()
                    .zip(&norm)
                    .map(|(c, s)| if *s > 1e-12 { c / s } else { 0.0 })
                    .collect(),
                Some(raw) => {
                    let raw_xy: Vec<f64> = xy.iter().zip(&norm).map(|(v, s)| v * s).collect();
                    lasso_at(raw, &raw_xy, n, fit.alpha, config.max_steps)
                }
            };
            let coef: Vec<(usize, f64)> = raw_coef
                .into_iter()
                .enumerate()
                .filter(|(j, c)| *c != 0.0 && norm[*j] > 1e-12)
                .collect();
            let intercept = y_mean - coef.iter().map(|(j, c)| c * mean[*j]).sum::<f64>();
            PeriodModel { intercept, coef }
        })
        .collect();
    WindowModel {
        key,
        window,
        samples: n,
        x_scaler,
        y_scaler,
        periods,
    }
}

#[cfg(test)]
// The checks index several arrays by the same sample and feature numbers.
#[allow(clippy::needless_range_loop)]
mod tests {
    use super::*;
    use crate::rng::SplitMix64;
    use jiff::civil::date;

    /// Prices with a weekly and daily shape that depend on yesterday's level, plus noise.
    fn synthetic(days: usize, periods: usize, seed: u64) -> DailySeries {
        let mut rng = SplitMix64::new(seed);
        let mut prices = Vec::with_capacity(days * periods);
        let mut level = 50.0;
        for d in 0..days {
            level = 0.8 * level + 10.0 + 3.0 * rng.normal();
            let weekend = if d % 7 >= 5 { -8.0 } else { 0.0 };
            for h in 0..periods {
                let shape = 15.0 * ((h as f64 / periods as f64) * std::f64::consts::TAU).sin();
                prices.push(level + weekend + shape + rng.normal());
            }
        }
        DailySeries {
            first_day: date(2020, 1, 6),
            periods,
            prices,
            exogenous: Vec::new(),
            exogenous_names: Vec::new(),
        }
    }

    #[test]
    fn median_and_mad() {
        assert_eq!(median_of(&mut [3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median_of(&mut [4.0, 1.0, 3.0, 2.0]), 2.5);
        let s = Scaler::fit(&[1.0, 2.0, 3.0, 4.0, 100.0], 1, 0..1);
        assert_eq!(s.median[0], 3.0);
        assert!((s.mad[0] - 1.0 / 0.674_489_750_196_081_7).abs() < 1e-12);
        let constant = Scaler::fit(&[5.0, 5.0, 5.0], 1, 0..1);
        assert_eq!(constant.mad[0], 1.0);
        let mut row = [7.0];
        s.apply(&mut row, 0..1);
        assert!((s.invert(0, row[0]) - 7.0).abs() < 1e-9);
    }

    #[test]
    fn learns_a_structured_series_better_than_the_naive_forecast() {
        for penalty in [PenaltyScale::UnitNorm, PenaltyScale::Unnormalised] {
            let config = LearConfig {
                windows: vec![56, 112],
                penalty,
                ..LearConfig::default()
            };
            let (lear_error, naive_error) = errors_against_weekly_naive(&config);
            // The weaker (unnormalised) penalty fits 103 features on 49–105 days less tightly.
            assert!(
                lear_error < 0.8 * naive_error,
                "{penalty:?}: LEAR {lear_error} vs weekly naive {naive_error}"
            );
        }
    }

    fn errors_against_weekly_naive(config: &LearConfig) -> (f64, f64) {
        let series = synthetic(140, 24, 7);
        let (mut lear_error, mut naive_error) = (0.0, 0.0);
        let mut combiner = config.combiner(24);
        for t in 120..140 {
            let model = Lear::fit(&series, t, config).unwrap();
            assert_eq!(model.models.len(), 2);
            let forecast = model.predict(&series, t, &combiner).unwrap();
            combiner.record(&model.predict_members(&series, t).unwrap(), series.day(t));
            for h in 0..24 {
                lear_error += (forecast[h] - series.day(t)[h]).abs();
                naive_error += (series.day(t - 7)[h] - series.day(t)[h]).abs();
            }
        }
        (lear_error, naive_error)
    }

    #[test]
    fn short_history_uses_the_windows_that_fit_and_refuses_too_little() {
        let series = synthetic(60, 24, 1);
        let layout = |target: usize| {
            let model = Lear::fit(&series, target, &LearConfig::default()).unwrap();
            let windows: Vec<(usize, usize)> =
                model.models.iter().map(|m| (m.key, m.window)).collect();
            (windows, model.models[0].samples)
        };
        // Every configured window is capped to the 50 days held: one model, keyed by 56.
        assert_eq!(layout(50), (vec![(56, 50)], 43));
        assert_eq!(layout(60), (vec![(56, 56), (84, 60)], 49));
        assert_eq!(
            Lear::fit(&series, 20, &LearConfig::default()),
            Err(ForecastError::NotEnoughHistory { have: 20, need: 35 })
        );
    }

    #[test]
    fn recursive_days_continue_from_forecasts() {
        let series = synthetic(120, 24, 3);
        let model = Lear::fit(
            &series,
            120,
            &LearConfig {
                windows: vec![84],
                ..LearConfig::default()
            },
        )
        .unwrap();
        let combiner = LearConfig::default().combiner(24);
        let days = model.predict_days(&series, 120, 3, &combiner).unwrap();
        assert_eq!(days.len(), 3);
        assert!(
            days.iter()
                .flatten()
                .all(|v| v.is_finite() && *v > -100.0 && *v < 300.0)
        );
        assert_eq!(
            model.predict_days(&series, 118, 1, &combiner).unwrap()[0],
            model.predict(&series, 118, &combiner).unwrap()
        );
    }
}
