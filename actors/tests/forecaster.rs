//! The forecaster inside the tree: it calibrates from stored history at start, recalibrates when
//! a new day lands, serves the forecast from memory, stores it and streams it.

use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use jiff::civil::{Date, date};
use rust_decimal::Decimal;
use rust_decimal::prelude::FromPrimitive;
use wattline_actors::broadcast::SubscribeRequest;
use wattline_actors::domain::calendar::{day_bounds, interval_starts};
use wattline_actors::domain::forecast::LearConfig;
use wattline_actors::domain::{EnergyUnit, PriceKind, PricePoint, Region, Source};
use wattline_actors::forecaster::{
    ForecastLookup, ForecastStep, ForecasterConfig, ModelState, ModelSummary, RegionForecast,
};
use wattline_actors::ports::{ForecastStore, PriceSource, PriceStore, SoleNode};
use wattline_actors::rng::SplitMix64;
use wattline_actors::testing::{ManualClock, MemoryStore, ScriptedSource, Step};
use wattline_actors::{Ports, Tree, TreeConfig};

/// 09:00 in Tokyo on 2026-01-15.
const NOW: &str = "2026-01-15T00:00:00Z";

/// Hourly Japanese prices for `days` days from `first`.
fn history(first: Date, days: usize) -> Vec<PricePoint> {
    let mut rng = SplitMix64::new(42);
    let mut level = 20.0;
    let mut points = Vec::new();
    for d in 0..days {
        let day = first.checked_add(jiff::Span::new().days(d as i64)).unwrap();
        level = 0.8 * level + 4.0 + rng.normal();
        for (h, start) in interval_starts(Region::Japan, day).enumerate() {
            let price = level
                + 5.0 * ((h as f64 / 24.0) * std::f64::consts::TAU).sin()
                + 0.5 * rng.normal();
            points.push(PricePoint {
                region: Region::Japan,
                start,
                duration_minutes: 60,
                price: Decimal::from_f64(price).unwrap().round_dp(2),
                currency: Region::Japan.currency(),
                unit: EnergyUnit::MWh,
                kind: PriceKind::DayAhead,
                source: Source::Simulated,
                fetched_at: Timestamp::UNIX_EPOCH,
                estimated: false,
            });
        }
    }
    points
}

/// A forecast stored by an earlier run, for a day long past the accuracy window.
fn old_forecast() -> RegionForecast {
    let start: Timestamp = "2025-10-01T00:00:00Z".parse().unwrap();
    RegionForecast {
        region: Region::Japan,
        model: ModelSummary {
            kind: "lear".into(),
            version: "lear-old".into(),
            data_from: date(2025, 6, 1),
            data_to: date(2025, 9, 30),
            windows: vec![56],
            samples: 49,
            calibrated_at: start,
            calibration_ms: 1,
            interval_error_days: 0,
            out_of_sample_mae: None,
            live_accuracy: None,
        },
        currency: Region::Japan.currency(),
        unit: EnergyUnit::MWh,
        steps: vec![ForecastStep {
            start,
            duration_minutes: 60,
            predicted: 20.0,
            lower: 18.0,
            upper: 22.0,
            lead_days: 1,
        }],
        days: Vec::new(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calibrates_at_start_recalibrates_on_a_new_day_and_serves_stores_and_streams_forecasts() {
    let store = MemoryStore::new();
    // 90 days up to yesterday (Tokyo); today's prices arrive through the fetcher.
    store
        .upsert_prices(&history(date(2025, 10, 17), 90))
        .await
        .unwrap();
    store.save_forecast(&old_forecast()).await.unwrap();
    let source = ScriptedSource::new(Source::Simulated, [Step::Deliver(Decimal::from(21))]);
    let config = TreeConfig {
        forecaster: ForecasterConfig {
            lear: LearConfig {
                windows: vec![56, 84],
                ..LearConfig::default()
            },
            seed_days: 7,
            ..ForecasterConfig::default()
        },
        ..TreeConfig::default()
    };
    let ports = Ports {
        workers: None,
        alerts: None,
        store: store.clone(),
        sources: vec![(Region::Japan, vec![source as Arc<dyn PriceSource>])],
        clock: ManualClock::new(NOW.parse().unwrap()),
        fanout: None,
        node_id: "test".into(),
        lease: Arc::new(SoleNode),
        weather: None,
        forecasts: Some(store.clone()),
    };
    let tree = Tree::spawn(ports, config).await.expect("tree starts");
    let forecasts = tree.forecasts.clone().expect("forecaster runs");
    let mut events = tree
        .broadcast
        .subscribe(SubscribeRequest {
            regions: vec![Region::Japan],
            last_event_id: None,
            address: None,
        })
        .await
        .unwrap();

    // Today (the 15th) lands through the fetcher, so the model ends up trained through it.
    let today = date(2026, 1, 15);
    let mut served = None;
    for _ in 0..600 {
        if let Ok(ForecastLookup::Ready(forecast)) = forecasts.forecast(Region::Japan).await
            && forecast.model.data_to == today
        {
            served = Some(forecast);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let forecast = served.expect("a forecast trained through today");
    assert_eq!(forecast.steps.len(), 8 * 24);
    assert_eq!(
        forecast.steps[0].start,
        day_bounds(Region::Japan, today).1,
        "starts where published prices end"
    );
    assert!(
        forecast
            .steps
            .iter()
            .all(|s| s.lower <= s.predicted && s.predicted <= s.upper)
    );
    assert_eq!(forecast.model.windows, vec![56, 84]);

    let mut stored = false;
    for _ in 0..100 {
        let steps = store
            .forecast_steps(Region::Japan, forecast.steps[0].start, Timestamp::MAX)
            .await
            .unwrap();
        if steps
            .iter()
            .filter(|s| s.model_version == forecast.model.version)
            .count()
            == forecast.steps.len()
        {
            stored = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(stored, "every step is stored under the model version");
    // Steps older than the accuracy window (30 days + 1) are pruned once the new ones are in.
    let mut pruned = false;
    for _ in 0..100 {
        let old = store
            .forecast_steps(
                Region::Japan,
                Timestamp::MIN,
                "2025-12-01T00:00:00Z".parse().unwrap(),
            )
            .await
            .unwrap();
        if old.is_empty() {
            pruned = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(pruned, "the forecast stored for 2025-10-01 is pruned");

    let mut saw_forecast_event = false;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while let Ok(Ok(event)) = tokio::time::timeout_at(deadline, events.receiver.recv()).await {
        let text = std::str::from_utf8(&event.frame).unwrap();
        if text.contains("event: forecast") {
            assert!(text.contains("\"model_version\""), "{text}");
            saw_forecast_event = true;
            break;
        }
    }
    assert!(saw_forecast_event, "subscribers get the forecast");

    let status = forecasts.status().await.unwrap();
    assert_eq!(status.len(), 1);
    assert_eq!(status[0].state, ModelState::Ready);
    assert_eq!(status[0].model.as_ref().unwrap().data_to, today);

    tree.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_short_history_says_how_much_is_missing() {
    let store = MemoryStore::new();
    store
        .upsert_prices(&history(date(2025, 12, 26), 20))
        .await
        .unwrap();
    let ports = Ports {
        workers: None,
        alerts: None,
        store: store.clone(),
        sources: vec![(
            Region::Japan,
            vec![ScriptedSource::new(Source::Simulated, []) as Arc<dyn PriceSource>],
        )],
        clock: ManualClock::new(NOW.parse().unwrap()),
        fanout: None,
        node_id: "test".into(),
        lease: Arc::new(SoleNode),
        weather: None,
        forecasts: Some(store.clone()),
    };
    let tree = Tree::spawn(ports, TreeConfig::default()).await.unwrap();
    let forecasts = tree.forecasts.clone().unwrap();
    let mut state = None;
    for _ in 0..200 {
        if let Ok(ForecastLookup::NotReady(s @ ModelState::NotEnoughHistory { .. })) =
            forecasts.forecast(Region::Japan).await
        {
            state = Some(s);
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        state,
        Some(ModelState::NotEnoughHistory {
            have_days: 20,
            need_days: 35
        })
    );
    tree.shutdown(Duration::from_secs(5)).await;
}
