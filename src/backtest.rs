//! `wattline backtest`: walks a price file day by day over a test period, recalibrating the
//! forecaster for every day on the data before it only (no look-ahead), and reports MAE, rMAE
//! against the seasonal naive forecast, sMAPE and the coverage of the 10–90 % intervals, overall
//! and per period of the day. Calibrations are independent per day, so they are spread over all
//! cores; combining the windows (weights from the errors of the days before) then runs in order.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use anyhow::{Context, bail};
use indicatif::{ProgressBar, ProgressStyle};
use jiff::civil::Date;
use serde::Serialize;
use wattline_actors::domain::forecast::combine::MemberForecast;
use wattline_actors::domain::forecast::conformal::ErrorQuantiles;
use wattline_actors::domain::forecast::metrics::{coverage, mae, naive_lag_days, smape};
use wattline_actors::domain::forecast::{DailySeries, Lear, LearConfig};

/// Days of past errors behind each interval, and the warm-up run before the test period.
pub const INTERVAL_DAYS: usize = 56;
/// Quantiles of the prediction intervals.
pub const INTERVAL: (f64, f64) = (0.10, 0.90);

/// What to backtest.
#[derive(Debug, Clone)]
pub struct BacktestRequest {
    pub csv: PathBuf,
    pub test_from: Date,
    pub test_to: Date,
    pub config: LearConfig,
    pub threads: usize,
    pub progress: bool,
}

/// Accuracy over a set of values.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Accuracy {
    pub mae: f64,
    pub rmae: f64,
    pub smape: f64,
    /// Share of actual prices inside the 10–90 % interval, in percent.
    pub coverage: f64,
}

/// The backtest's result.
#[derive(Debug, Clone, Serialize)]
pub struct BacktestReport {
    pub file: String,
    pub test_from: Date,
    pub test_to: Date,
    pub days: usize,
    pub periods: usize,
    pub exogenous: Vec<String>,
    pub windows: Vec<usize>,
    pub overall: Accuracy,
    pub naive_mae: f64,
    pub per_period: Vec<Accuracy>,
    pub seconds: f64,
    /// Per test day and period: (date, period, actual, forecast, lower, upper).
    #[serde(skip)]
    pub rows: Vec<(Date, usize, f64, f64, f64, f64)>,
}

/// Runs the backtest.
pub fn run(request: &BacktestRequest) -> anyhow::Result<BacktestReport> {
    let started = std::time::Instant::now();
    let text = std::fs::read_to_string(&request.csv)
        .with_context(|| format!("reading {}", request.csv.display()))?;
    let series = wattline_actors::domain::forecast::series::from_csv(&text)?;
    let first = series
        .index_of(request.test_from)
        .context("--test-from is outside the file")?;
    let last = series
        .index_of(request.test_to)
        .context("--test-to is outside the file")?;
    if first > last {
        bail!("--test-from is after --test-to");
    }
    let warm_up = first
        .saturating_sub(INTERVAL_DAYS)
        .max(request.config.min_window.max(8));
    if warm_up > first {
        bail!(
            "the file needs at least {} days before --test-from",
            request.config.min_window.max(8)
        );
    }
    let members = forecast_days(&series, warm_up..=last, request)?;
    let p = series.periods;
    let mut combiner = request.config.combiner(p);
    let mut errors = ErrorQuantiles::new(p, INTERVAL_DAYS);
    let mut rows = Vec::with_capacity((last - first + 1) * p);
    let (mut actual, mut forecast, mut naive, mut lower, mut upper) =
        (vec![], vec![], vec![], vec![], vec![]);
    for (t, day_members) in (warm_up..=last).zip(&members) {
        let day_actual = series.day(t);
        let day_forecast = &combiner.combine(day_members);
        if t >= first {
            let (lo, hi) = errors
                .interval(day_forecast, INTERVAL.0, INTERVAL.1, INTERVAL_DAYS / 2)
                .unwrap_or_else(|| (day_forecast.clone(), day_forecast.clone()));
            let lag = naive_lag_days(series.date(t).weekday());
            for h in 0..p {
                rows.push((
                    series.date(t),
                    h,
                    day_actual[h],
                    day_forecast[h],
                    lo[h],
                    hi[h],
                ));
            }
            actual.extend_from_slice(day_actual);
            forecast.extend_from_slice(day_forecast);
            naive.extend_from_slice(series.day(t - lag));
            lower.extend(lo);
            upper.extend(hi);
        }
        errors.record(day_actual, day_forecast);
        combiner.record(day_members, day_actual);
    }
    let accuracy = |idx: &dyn Fn(usize) -> bool| {
        let pick = |v: &[f64]| {
            v.iter()
                .enumerate()
                .filter(|(i, _)| idx(*i))
                .map(|(_, x)| *x)
                .collect::<Vec<_>>()
        };
        let (a, f, n, l, u) = (
            pick(&actual),
            pick(&forecast),
            pick(&naive),
            pick(&lower),
            pick(&upper),
        );
        Accuracy {
            mae: mae(&a, &f),
            rmae: mae(&a, &f) / mae(&a, &n),
            smape: smape(&a, &f),
            coverage: coverage(&a, &l, &u),
        }
    };
    Ok(BacktestReport {
        file: request.csv.display().to_string(),
        test_from: request.test_from,
        test_to: request.test_to,
        days: last - first + 1,
        periods: p,
        exogenous: series.exogenous_names.clone(),
        windows: request.config.windows.clone(),
        overall: accuracy(&|_| true),
        naive_mae: mae(&actual, &naive),
        per_period: (0..p).map(|h| accuracy(&|i| i % p == h)).collect(),
        seconds: started.elapsed().as_secs_f64(),
        rows,
    })
}

/// Every window's forecast of every day of `days`, each calibrated on the days before it, on
/// `threads` threads.
fn forecast_days(
    series: &DailySeries,
    days: std::ops::RangeInclusive<usize>,
    request: &BacktestRequest,
) -> anyhow::Result<Vec<Vec<MemberForecast>>> {
    let start = *days.start();
    let count = days.end() + 1 - start;
    let bar = if request.progress {
        ProgressBar::new(count as u64)
    } else {
        ProgressBar::hidden()
    };
    bar.set_style(
        ProgressStyle::with_template(
            "backtest [{bar:40}] {pos}/{len} days ({per_sec}, {eta} left)",
        )
        .expect("valid template")
        .progress_chars("=> "),
    );
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<anyhow::Result<Vec<MemberForecast>>>>> =
        Mutex::new((0..count).map(|_| None).collect());
    std::thread::scope(|scope| {
        for _ in 0..request.threads.max(1) {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= count {
                        break;
                    }
                    let t = start + i;
                    let forecast = Lear::fit(series, t, &request.config)
                        .and_then(|model| model.predict_members(series, t))
                        .map_err(anyhow::Error::from);
                    results.lock().expect("results lock")[i] = Some(forecast);
                    bar.inc(1);
                }
            });
        }
    });
    bar.finish_and_clear();
    results
        .into_inner()
        .expect("results lock")
        .into_iter()
        .map(|r| r.expect("every day ran"))
        .collect()
}

/// Writes the per-period forecasts as CSV.
pub fn write_forecasts(report: &BacktestReport, path: &Path) -> anyhow::Result<()> {
    let mut out = String::from("date,period,actual,forecast,lower,upper\n");
    for (date, period, actual, forecast, lower, upper) in &report.rows {
        out.push_str(&format!(
            "{date},{period},{actual},{forecast:.4},{lower:.4},{upper:.4}\n"
        ));
    }
    std::fs::write(path, out).with_context(|| format!("writing {}", path.display()))
}

/// The human-readable report.
pub fn render(report: &BacktestReport) -> String {
    let o = &report.overall;
    let mut out = format!(
        "Backtest of {} from {} to {} ({} days, {} periods a day, exogenous: {}; windows {:?})\n\
         MAE {:.3}   rMAE {:.3}   sMAPE {:.2} %   coverage of 10–90 % intervals {:.1} %   (seasonal naive MAE {:.3})\n\
         {:.0} s\n\nperiod    MAE   rMAE  sMAPE %  coverage %\n",
        report.file,
        report.test_from,
        report.test_to,
        report.days,
        report.periods,
        if report.exogenous.is_empty() {
            "none".to_string()
        } else {
            report.exogenous.join(", ")
        },
        report.windows,
        o.mae,
        o.rmae,
        o.smape,
        o.coverage,
        report.naive_mae,
        report.seconds,
    );
    for (h, a) in report.per_period.iter().enumerate() {
        out.push_str(&format!(
            "{h:>6} {:>6.3} {:>6.3} {:>8.2} {:>11.1}\n",
            a.mae, a.rmae, a.smape, a.coverage
        ));
    }
    out
}
