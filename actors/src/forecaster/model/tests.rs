use super::*;
use crate::domain::calendar::day_bounds;
use crate::domain::price::tests::point;
use crate::rng::SplitMix64;
use jiff::civil::date;
use rust_decimal::Decimal;
use rust_decimal::prelude::FromPrimitive;

/// Hourly Japanese prices from `first` for `days` days: a daily shape, cheaper weekends, an
/// autocorrelated daily level and noise.
fn history(first: Date, days: usize, seed: u64) -> Vec<PricePoint> {
    let mut rng = SplitMix64::new(seed);
    let mut level = 20.0;
    let mut points = Vec::new();
    for d in 0..days {
        let day = first.checked_add(jiff::Span::new().days(d as i64)).unwrap();
        level = 0.8 * level + 4.0 + rng.normal();
        let weekend = if day.weekday().to_monday_zero_offset() >= 5 {
            -3.0
        } else {
            0.0
        };
        for (h, start) in interval_starts(Region::Japan, day).enumerate() {
            let shape = 5.0 * ((h as f64 / 24.0) * std::f64::consts::TAU).sin();
            let price = level + weekend + shape + 0.5 * rng.normal();
            points.push(point(
                Region::Japan,
                start,
                60,
                Decimal::from_f64(price).unwrap().round_dp(2),
            ));
        }
    }
    points
}

fn config() -> ForecasterConfig {
    ForecasterConfig {
        lear: LearConfig {
            windows: vec![56, 84],
            ..LearConfig::default()
        },
        seed_days: 10,
        ..ForecasterConfig::default()
    }
}

fn calibrated(
    points: Vec<PricePoint>,
    previous: Option<&RegionModel>,
    now: Timestamp,
) -> Calibration {
    let input = CalibrationInput {
        region: Region::Japan,
        points,
        preference: &[Source::Simulated],
        stored: Vec::new(),
        now,
        previous,
    };
    calibrate(input, &config()).unwrap()
}

#[test]
fn forecasts_the_days_after_the_published_ones_with_intervals_around_the_point() {
    let first = date(2026, 1, 1);
    let points = history(first, 100, 3);
    let now = points.last().unwrap().end();
    let Calibration::Calibrated(model) = calibrated(points, None, now) else {
        panic!("calibrates")
    };
    let forecast = &model.forecast;
    let data_to = date(2026, 4, 10);
    assert_eq!(forecast.model.data_to, data_to);
    assert_eq!(forecast.model.data_from, first);
    assert_eq!(forecast.model.windows, vec![56, 84]);
    assert!(
        forecast.model.version.contains("2026-04-10"),
        "{}",
        forecast.model.version
    );
    assert_eq!(forecast.steps.len(), 8 * 24);
    // Contiguous from the end of the last published day.
    assert_eq!(
        forecast.steps[0].start,
        day_bounds(Region::Japan, data_to).1
    );
    for pair in forecast.steps.windows(2) {
        assert_eq!(pair[0].end(), pair[1].start);
        assert!(pair[0].lead_days <= pair[1].lead_days);
    }
    for step in &forecast.steps {
        assert!(
            step.lower <= step.predicted && step.predicted <= step.upper,
            "{step:?}"
        );
        assert!(step.predicted > 0.0 && step.predicted < 60.0, "{step:?}");
    }
    // Seeded out-of-sample errors give intervals of real width from the first calibration.
    assert!(forecast.model.interval_error_days >= 5);
    assert!(forecast.steps.iter().all(|s| s.upper > s.lower));
    let width = |lead: u32| {
        let steps: Vec<_> = forecast
            .steps
            .iter()
            .filter(|s| s.lead_days == lead)
            .collect();
        steps.iter().map(|s| s.upper - s.lower).sum::<f64>() / steps.len() as f64
    };
    assert!(width(1) > 0.5, "lead-1 width {}", width(1));
}

#[test]
fn recalibrates_only_on_a_new_day_and_then_records_the_errors_of_the_last_forecast() {
    let first = date(2026, 1, 1);
    let all = history(first, 101, 9);
    let (before, _) = all.split_at(100 * 24);
    let now = before.last().unwrap().end();
    let Calibration::Calibrated(model) = calibrated(before.to_vec(), None, now) else {
        panic!()
    };
    assert!(matches!(
        calibrated(before.to_vec(), Some(&model), now),
        Calibration::Unchanged
    ));
    let lead_one_days = model.errors[0].days();
    let Calibration::Calibrated(next) =
        calibrated(all.clone(), Some(&model), all.last().unwrap().end())
    else {
        panic!("a new day recalibrates")
    };
    assert_eq!(next.forecast.model.data_to, date(2026, 4, 11));
    assert_eq!(
        next.errors[0].days(),
        lead_one_days + 1,
        "the published day's lead-1 error is recorded"
    );
    // The cold start scored both windows on the seed days; the new day scores them once more,
    // with the forecasts each made of it.
    assert_eq!(model.combiner.scored_days(56), 10);
    assert_eq!(next.combiner.scored_days(56), 11);
    assert_eq!(next.combiner.scored_days(84), 11);
    let (day, members) = model.members.as_ref().unwrap();
    assert_eq!(*day, date(2026, 4, 11));
    assert_eq!(
        members.iter().map(|(k, _)| *k).collect::<Vec<_>>(),
        vec![56, 84]
    );
    assert_eq!(
        next.forecast.steps[0].start,
        day_bounds(Region::Japan, date(2026, 4, 11)).1
    );
}

#[test]
fn too_little_history_is_a_clear_error() {
    let points = history(date(2026, 1, 1), 20, 1);
    let input = CalibrationInput {
        region: Region::Japan,
        points,
        preference: &[],
        stored: Vec::new(),
        now: Timestamp::UNIX_EPOCH,
        previous: None,
    };
    assert!(matches!(
        calibrate(input, &config()),
        Err(ForecastError::NotEnoughHistory { have: 20, need: 35 })
    ));
}

#[test]
fn live_accuracy_uses_the_shortest_lead_per_interval() {
    let day = date(2026, 3, 2);
    let starts: Vec<Timestamp> = interval_starts(Region::Japan, day).take(2).collect();
    let points: Vec<PricePoint> = starts
        .iter()
        .map(|s| point(Region::Japan, *s, 60, Decimal::from(10)))
        .collect();
    let step = |start: Timestamp, predicted: f64, lead_days: u32| StoredStep {
        model_version: format!("v{lead_days}"),
        made_at: Timestamp::UNIX_EPOCH,
        step: ForecastStep {
            start,
            duration_minutes: 60,
            predicted,
            lower: predicted - 1.0,
            upper: predicted + 1.0,
            lead_days,
        },
    };
    let stored = vec![
        step(starts[0], 12.0, 1),
        step(starts[0], 30.0, 3),
        step(starts[1], 9.5, 2),
    ];
    let now = starts[1] + jiff::SignedDuration::from_hours(5);
    let accuracy = live_accuracy(&stored, &points, now, 30).unwrap();
    assert_eq!(accuracy.points, 2);
    assert!((accuracy.mae - 1.25).abs() < 1e-12, "{accuracy:?}");
    assert!((accuracy.coverage - 50.0).abs() < 1e-12, "{accuracy:?}");
    assert!(
        live_accuracy(&stored, &points, starts[0], 30).is_none(),
        "nothing realised yet"
    );
}
