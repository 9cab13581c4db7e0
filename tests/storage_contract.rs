//! One storage contract, run against SQLite (always) and PostgreSQL (whenever TEST_DATABASE_URL
//! is set; with CI set, a missing database is a failure, not a skip). Each Postgres test works in
//! a schema of its own, so the suite runs in parallel.

#[path = "common/leftovers.rs"]
mod leftovers;

use std::future::Future;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use rust_decimal::Decimal;
use wattline::storage::jobs::{INSERT_JOB, JOBS_OF_QUEUE, JobRow, RETRY_FAILED_JOB};
use wattline::storage::{NewJob, RangeQuery, Storage, StorageError, StorageOptions, UnitOfWork};
use wattline_actors::domain::{Currency, EnergyUnit, PriceKind, PricePoint, Region, Source};
use wattline_actors::forecaster::{ForecastStep, ModelSummary, RegionForecast};
use wattline_actors::ports::{ClaimedJob, JobQueue};
use wattline_actors::ports::{ForecastStore, PriceStore, WeatherStore};

fn options() -> StorageOptions {
    StorageOptions {
        max_connections: 4,
        acquire_timeout: Duration::from_secs(10),
    }
}

fn point(region: Region, start: &str, minutes: u32, price: &str, source: Source) -> PricePoint {
    PricePoint {
        region,
        start: start.parse().unwrap(),
        duration_minutes: minutes,
        price: Decimal::from_str(price).unwrap(),
        currency: region.currency(),
        unit: EnergyUnit::MWh,
        kind: PriceKind::DayAhead,
        source,
        fetched_at: "2026-01-15T12:00:00.123Z".parse().unwrap(),
        estimated: false,
    }
}

fn hours(region: Region, from: &str, n: usize, source: Source) -> Vec<PricePoint> {
    let t0: Timestamp = from.parse().unwrap();
    (0..n)
        .map(|i| {
            let mut p = point(region, from, 60, &format!("{}.5", i), source);
            p.start = t0 + SignedDuration::from_hours(i as i64);
            p
        })
        .collect()
}

fn all(region: Region) -> RangeQuery {
    RangeQuery {
        region,
        from: "2000-01-01T00:00:00Z".parse().unwrap(),
        to: "2100-01-01T00:00:00Z".parse().unwrap(),
        source: None,
    }
}

async fn exact_decimals_and_timestamps_round_trip(store: Arc<Storage>) {
    let mut points = vec![
        point(
            Region::Uk,
            "2026-01-15T00:00:00Z",
            30,
            "0.2731",
            Source::Simulated,
        ),
        point(
            Region::Uk,
            "2026-01-15T00:30:00Z",
            30,
            "-12.50",
            Source::Simulated,
        ),
        point(
            Region::Uk,
            "2026-01-15T01:00:00Z",
            30,
            "123456789.123456",
            Source::Simulated,
        ),
    ];
    points[1].estimated = true;
    points[2].unit = EnergyUnit::KWh;
    points[2].kind = PriceKind::Retail;
    assert_eq!(store.upsert_prices(&points).await.unwrap(), 3);
    let back = store.price_range(&all(Region::Uk)).await.unwrap();
    assert_eq!(back, points);
    let texts: Vec<String> = back.iter().map(|p| p.price.to_string()).collect();
    assert_eq!(texts, vec!["0.2731", "-12.50", "123456789.123456"]);
}

async fn same_key_updates_in_place(store: Arc<Storage>) {
    let first = hours(
        Region::Germany,
        "2026-01-15T00:00:00Z",
        24,
        Source::Simulated,
    );
    store.upsert_prices(&first).await.unwrap();
    let mut again = first.clone();
    for p in &mut again {
        p.price += Decimal::ONE;
        p.fetched_at = "2026-01-15T13:00:00Z".parse().unwrap();
    }
    assert_eq!(store.upsert_prices(&again).await.unwrap(), 24);
    let stored = store.price_range(&all(Region::Germany)).await.unwrap();
    assert_eq!(stored, again);
    // The same values fetched again write nothing, and the stored fetch time stays.
    let mut identical = again.clone();
    for p in &mut identical {
        p.fetched_at = "2026-01-15T14:00:00Z".parse().unwrap();
    }
    assert_eq!(store.upsert_prices(&identical).await.unwrap(), 0);
    assert_eq!(
        store.price_range(&all(Region::Germany)).await.unwrap(),
        again
    );
    // Another duration or source at the same start is a different row.
    let mut quarter = point(
        Region::Germany,
        "2026-01-15T00:00:00Z",
        15,
        "1",
        Source::Simulated,
    );
    store
        .upsert_prices(std::slice::from_ref(&quarter))
        .await
        .unwrap();
    quarter.source = Source::Entsoe;
    store.upsert_prices(&[quarter]).await.unwrap();
    assert_eq!(
        store
            .price_range(&all(Region::Germany))
            .await
            .unwrap()
            .len(),
        26
    );
}

async fn duplicate_keys_in_one_batch_keep_the_last(store: Arc<Storage>) {
    let a = point(
        Region::France,
        "2026-01-15T00:00:00Z",
        60,
        "10",
        Source::Simulated,
    );
    let mut b = a.clone();
    b.price = Decimal::from(20);
    store.upsert_prices(&[a, b]).await.unwrap();
    let stored = store.price_range(&all(Region::France)).await.unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].price, Decimal::from(20));
}

async fn range_reads_filter_and_order(store: Arc<Storage>) {
    let mut batch = hours(Region::Spain, "2026-01-15T00:00:00Z", 48, Source::Simulated);
    batch.extend(hours(
        Region::Spain,
        "2026-01-15T00:00:00Z",
        24,
        Source::Entsoe,
    ));
    batch.extend(hours(
        Region::Italy,
        "2026-01-15T00:00:00Z",
        24,
        Source::Simulated,
    ));
    batch.reverse();
    store.upsert_prices(&batch).await.unwrap();
    let query = RangeQuery {
        region: Region::Spain,
        from: "2026-01-15T06:00:00Z".parse().unwrap(),
        to: "2026-01-15T12:00:00Z".parse().unwrap(),
        source: None,
    };
    let got = store.price_range(&query).await.unwrap();
    assert_eq!(got.len(), 12);
    assert!(got.iter().all(|p| p.region == Region::Spain));
    assert!(
        got.windows(2)
            .all(|w| (w[0].start, w[0].source.as_str()) < (w[1].start, w[1].source.as_str()))
    );
    assert_eq!(
        got[0].start,
        "2026-01-15T06:00:00Z".parse::<Timestamp>().unwrap()
    );
    let only = store
        .price_range(&RangeQuery {
            source: Some(Source::Entsoe),
            ..query
        })
        .await
        .unwrap();
    assert_eq!(only.len(), 6);
    assert!(only.iter().all(|p| p.source == Source::Entsoe));
}

async fn prices_since_includes_running_intervals(store: Arc<Storage>) {
    let mut monthly = point(
        Region::UsCa,
        "2026-01-01T08:00:00Z",
        31 * 24 * 60,
        "28.10",
        Source::Eia,
    );
    monthly.unit = EnergyUnit::KWh;
    monthly.kind = PriceKind::Retail;
    let mut batch = hours(Region::UsCa, "2026-01-14T00:00:00Z", 48, Source::Simulated);
    batch.push(monthly.clone());
    store.upsert_prices(&batch).await.unwrap();
    let since: Timestamp = "2026-01-15T00:00:00Z".parse().unwrap();
    let got = store.prices_since(Region::UsCa, since).await.unwrap();
    assert_eq!(
        got.len(),
        25,
        "24 hours from the 15th on plus the running month"
    );
    assert!(got.contains(&monthly));
    assert!(got.iter().all(|p| p.end() > since));
}

async fn large_batches_commit_in_one_call(store: Arc<Storage>) {
    let t0: Timestamp = "2025-01-01T00:00:00Z".parse().unwrap();
    let batch: Vec<PricePoint> = (0..20_000)
        .map(|i| {
            let mut p = point(
                Region::Netherlands,
                "2025-01-01T00:00:00Z",
                15,
                "42.42",
                Source::Replay,
            );
            p.start = t0 + SignedDuration::from_mins(15 * i);
            p
        })
        .collect();
    assert_eq!(store.upsert_prices(&batch).await.unwrap(), 20_000);
    assert_eq!(
        store
            .price_range(&all(Region::Netherlands))
            .await
            .unwrap()
            .len(),
        20_000
    );
    assert_eq!(store.upsert_prices(&[]).await.unwrap(), 0);
}

async fn ping_and_backend(store: Arc<Storage>) {
    store.ping().await.unwrap();
    assert!(["sqlite", "postgres"].contains(&store.backend()));
}

/// A fresh SQLite file (kept alive by the returned directory).
async fn with_sqlite<F, Fut>(case: F)
where
    F: FnOnce(Arc<Storage>) -> Fut,
    Fut: Future<Output = ()>,
{
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/contract.sqlite3", dir.path().display());
    let store = Arc::new(Storage::open_sqlite(&url, &options()).await.unwrap());
    // Opening again must find the migrations applied.
    Storage::open_sqlite(&url, &options()).await.unwrap();
    case(store.clone()).await;
    store.close().await;
}

/// A fresh schema in the test PostgreSQL, dropped afterwards. Skips without TEST_DATABASE_URL,
/// fails without it when CI is set.
async fn with_postgres<F, Fut>(case: F)
where
    F: FnOnce(Arc<Storage>) -> Fut,
    Fut: Future<Output = ()>,
{
    let Ok(url) = std::env::var("TEST_DATABASE_URL") else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI is set but TEST_DATABASE_URL is not: PostgreSQL tests cannot run"
        );
        eprintln!("TEST_DATABASE_URL not set; skipping the PostgreSQL contract case");
        return;
    };
    let schema = format!("wattline_test_{}", uuid::Uuid::new_v4().simple());
    let store = Arc::new(
        Storage::open_postgres(&url, &options(), Some(&schema))
            .await
            .expect("test PostgreSQL reachable"),
    );
    Storage::open_postgres(&url, &options(), Some(&schema))
        .await
        .unwrap()
        .close()
        .await;
    case(store.clone()).await;
    store.drop_schema(&schema).await.unwrap();
    store.close().await;
}

macro_rules! contract {
    ($($case:ident),+ $(,)?) => {
        mod sqlite {
            $(#[tokio::test] async fn $case() { super::with_sqlite(super::$case).await })+
        }
        mod postgres {
            $(#[tokio::test] async fn $case() { super::with_postgres(super::$case).await })+
        }
    };
}

contract!(
    exact_decimals_and_timestamps_round_trip,
    same_key_updates_in_place,
    duplicate_keys_in_one_batch_keep_the_last,
    range_reads_filter_and_order,
    prices_since_includes_running_intervals,
    large_batches_commit_in_one_call,
    ping_and_backend,
    weather_steps_round_trip_and_update_in_place,
    forecasts_are_kept_per_model_version_and_replaced_in_place,
    a_unit_of_work_commits_a_change_and_its_job_together,
    a_unit_of_work_that_fails_leaves_nothing_behind,
    a_job_key_is_queued_once,
    a_stored_model_is_replaced_per_region,
    users_are_unique_by_email_and_read_back,
    refresh_tokens_rotate_once_and_a_replay_revokes_the_family,
    provider_accounts_link_once_and_a_failed_creation_leaves_nothing,
    the_catalogue_seeds_once_round_trips_and_cascades,
    preferences_are_stored_per_user_and_replaced,
    a_beta_signup_and_its_welcome_commit_together_once,
    jobs_are_claimed_once_settled_by_their_claim_and_taken_up_after_the_lease,
    concurrent_claimers_never_take_the_same_job,
    parked_jobs_are_listed_and_retried,
    alert_firings_are_recorded_once_with_their_deliveries,
    a_magic_link_is_used_once_and_never_after_it_expires,
    every_table_holding_users_is_in_the_export,
    retention_purges_only_what_is_past_its_limit,
    a_billing_event_is_stored_once_and_settled_once_by_compare_and_set,
);

fn job(key: &str) -> NewJob {
    NewJob {
        queue: "email".into(),
        kind: "welcome".into(),
        payload: serde_json::json!({"to": "a@example.com", "n": 1}),
        idempotency_key: key.into(),
        user_id: Some("user-1".into()),
        run_at: "2026-01-15T12:00:00.250Z".parse().unwrap(),
    }
}

fn weather(region: Region, n: i64) -> Vec<wattline_actors::domain::weather::WeatherPoint> {
    (0..n)
        .map(|i| wattline_actors::domain::weather::WeatherPoint {
            region,
            at: "2026-01-15T00:00:00Z".parse::<Timestamp>().unwrap()
                + SignedDuration::from_hours(3 * i),
            temperature_c: 1.5 + i as f64,
            cloud_cover_pct: 40.0,
            wind_speed_ms: 3.25,
            source: "openweathermap".into(),
            fetched_at: "2026-01-15T00:00:00Z".parse().unwrap(),
        })
        .collect()
}

async fn weather_of(
    store: &Storage,
    region: Region,
) -> Vec<wattline_actors::domain::weather::WeatherPoint> {
    store
        .weather_range(
            region,
            "2000-01-01T00:00:00Z".parse().unwrap(),
            "2100-01-01T00:00:00Z".parse().unwrap(),
        )
        .await
        .unwrap()
}

async fn queued(store: &Storage) -> Vec<JobRow> {
    store
        .rows(&JOBS_OF_QUEUE, &serde_json::json!({"queue": "email"}))
        .await
        .unwrap()
}

async fn a_unit_of_work_commits_a_change_and_its_job_together(store: Arc<Storage>) {
    let points = weather(Region::France, 3);
    let mut unit = UnitOfWork::new();
    unit.upsert_weather(&points).enqueue(job("signup:1"));
    assert_eq!(store.commit(unit).await.unwrap(), vec![3, 1]);
    assert_eq!(weather_of(&store, Region::France).await, points);
    let jobs = queued(&store).await;
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0].status, "queued");
    assert_eq!(
        jobs[0].payload,
        serde_json::json!({"to": "a@example.com", "n": 1})
    );
    assert_eq!(jobs[0].user_id.as_deref(), Some("user-1"));
    assert_eq!(
        jobs[0].run_at,
        "2026-01-15T12:00:00.250Z".parse::<Timestamp>().unwrap()
    );
    assert_eq!(jobs[0].locked_until, None);
}

async fn a_unit_of_work_that_fails_leaves_nothing_behind(store: Arc<Storage>) {
    let points = weather(Region::Spain, 2);
    // A compare-and-set that finds nothing to change rolls the whole unit back...
    let mut unit = UnitOfWork::new();
    unit.upsert_weather(&points)
        .enqueue(job("a"))
        .push_expecting(
            &RETRY_FAILED_JOB,
            &serde_json::json!({"id": "no-such-job", "now": "2026-01-15T12:00:00Z"}),
            1,
        );
    let error = store.commit(unit).await.unwrap_err();
    assert!(matches!(error, StorageError::Conflict(_)), "{error}");
    // ...and so does a statement the database refuses (a job without a queue breaks the
    // table's NOT NULL), after the weather and a good job were written in the same transaction.
    let mut refused = UnitOfWork::new();
    refused.enqueue(job("c")).upsert_weather(&points).push(
        &INSERT_JOB,
        &serde_json::json!({"rows": [{"id": "x", "idempotency_key": "d"}]}),
    );
    let error = store.commit(refused).await.unwrap_err();
    assert!(matches!(error, StorageError::Rejected(_)), "{error}");
    assert!(weather_of(&store, Region::Spain).await.is_empty());
    assert!(queued(&store).await.is_empty());
}

async fn a_job_key_is_queued_once(store: Arc<Storage>) {
    let mut unit = UnitOfWork::new();
    unit.enqueue(job("same"));
    assert_eq!(store.commit(unit).await.unwrap(), vec![1]);
    let mut again = UnitOfWork::new();
    again.enqueue(job("same"));
    assert_eq!(
        store.commit(again).await.unwrap(),
        vec![0],
        "a retry queues nothing"
    );
    assert_eq!(queued(&store).await.len(), 1);
}

async fn weather_steps_round_trip_and_update_in_place(store: Arc<Storage>) {
    use wattline_actors::domain::weather::WeatherPoint;
    let step = |at: &str, temperature_c: f64| WeatherPoint {
        region: Region::Uk,
        at: at.parse().unwrap(),
        temperature_c,
        cloud_cover_pct: 75.0,
        wind_speed_ms: 3.1,
        source: "openweathermap".into(),
        fetched_at: "2026-01-15T00:00:00.250Z".parse().unwrap(),
    };
    let steps = vec![
        step("2026-01-15T00:00:00Z", 4.2),
        step("2026-01-15T03:00:00Z", -1.5),
    ];
    assert_eq!(store.upsert_weather(&steps).await.unwrap(), 2);
    store
        .upsert_weather(&[step("2026-01-15T03:00:00Z", -2.0)])
        .await
        .unwrap();
    let back = store
        .weather_range(
            Region::Uk,
            "2026-01-14T00:00:00Z".parse().unwrap(),
            "2026-01-16T00:00:00Z".parse().unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(
        back,
        vec![steps[0].clone(), step("2026-01-15T03:00:00Z", -2.0)]
    );
    assert!(
        store
            .weather_range(Region::Germany, Timestamp::MIN, Timestamp::MAX)
            .await
            .unwrap()
            .is_empty()
    );
}

fn forecast(version: &str, calibrated_at: &str, steps: &[(&str, f64)]) -> RegionForecast {
    let calibrated_at: Timestamp = calibrated_at.parse().unwrap();
    RegionForecast {
        region: Region::Germany,
        model: ModelSummary {
            kind: "lear".into(),
            version: version.into(),
            data_from: "2025-09-01".parse().unwrap(),
            data_to: "2026-01-15".parse().unwrap(),
            windows: vec![56, 84],
            samples: 84,
            calibrated_at,
            calibration_ms: 12,
            interval_error_days: 30,
            out_of_sample_mae: Some(7.5),
            live_accuracy: None,
        },
        currency: Currency::Eur,
        unit: EnergyUnit::MWh,
        steps: steps
            .iter()
            .map(|(start, predicted)| ForecastStep {
                start: start.parse().unwrap(),
                duration_minutes: 15,
                predicted: *predicted,
                lower: predicted - 10.25,
                upper: predicted + 20.5,
                lead_days: 1,
            })
            .collect(),
        days: Vec::new(),
    }
}

async fn forecasts_are_kept_per_model_version_and_replaced_in_place(store: Arc<Storage>) {
    let first = forecast(
        "lear-v1",
        "2026-01-15T12:00:00.125Z",
        &[
            ("2026-01-16T23:00:00Z", 81.125),
            ("2026-01-16T23:15:00Z", -3.5),
        ],
    );
    assert_eq!(store.save_forecast(&first).await.unwrap(), 2);
    // The next model forecasts the same interval; both stay, ordered by start then version.
    let second = forecast(
        "lear-v2",
        "2026-01-16T12:00:00Z",
        &[("2026-01-16T23:00:00Z", 79.0)],
    );
    store.save_forecast(&second).await.unwrap();
    // Re-storing a version replaces its steps.
    let replaced = forecast(
        "lear-v1",
        "2026-01-15T12:30:00Z",
        &[("2026-01-16T23:15:00Z", -4.0)],
    );
    store.save_forecast(&replaced).await.unwrap();
    assert_eq!(
        store
            .save_forecast(&forecast("lear-v3", "2026-01-16T12:00:00Z", &[]))
            .await
            .unwrap(),
        0
    );

    let from: Timestamp = "2026-01-16T23:00:00Z".parse().unwrap();
    let steps = store
        .forecast_steps(Region::Germany, from, from + SignedDuration::from_hours(1))
        .await
        .unwrap();
    let summary: Vec<(&str, String, f64, f64, f64)> = steps
        .iter()
        .map(|s| {
            (
                s.model_version.as_str(),
                s.step.start.to_string(),
                s.step.predicted,
                s.step.lower,
                s.step.upper,
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            (
                "lear-v1",
                "2026-01-16T23:00:00Z".to_string(),
                81.125,
                70.875,
                101.625
            ),
            (
                "lear-v2",
                "2026-01-16T23:00:00Z".to_string(),
                79.0,
                68.75,
                99.5
            ),
            (
                "lear-v1",
                "2026-01-16T23:15:00Z".to_string(),
                -4.0,
                -14.25,
                16.5
            ),
        ]
    );
    assert_eq!(
        steps[2].made_at,
        "2026-01-15T12:30:00Z".parse::<Timestamp>().unwrap()
    );
    assert_eq!(steps[0].step.duration_minutes, 15);
    assert_eq!(steps[0].step.lead_days, 1);
    // The range is half-open and per region.
    assert_eq!(
        store
            .forecast_steps(Region::Germany, from, from + SignedDuration::from_mins(15))
            .await
            .unwrap()
            .len(),
        2
    );
    assert!(
        store
            .forecast_steps(Region::France, from, from + SignedDuration::from_hours(1))
            .await
            .unwrap()
            .is_empty()
    );
    // Retention: steps before the cut-off go, per region; later ones stay.
    let cut = from + SignedDuration::from_mins(15);
    assert_eq!(store.prune_forecasts(Region::France, cut).await.unwrap(), 0);
    assert_eq!(
        store.prune_forecasts(Region::Germany, cut).await.unwrap(),
        2
    );
    let left = store
        .forecast_steps(Region::Germany, Timestamp::MIN, Timestamp::MAX)
        .await
        .unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].step.start, cut);
}

async fn a_stored_model_is_replaced_per_region(store: Arc<Storage>) {
    use wattline_actors::ports::StoredModel;
    assert_eq!(store.load_model(Region::Germany).await.unwrap(), None);
    // A model is large JSON: quotes, unicode and a megabyte must come back byte for byte.
    let big = format!(
        r#"{{"name":"ü\"x","values":[{}]}}"#,
        "1.5,".repeat(250_000) + "0"
    );
    let first = StoredModel {
        region: Region::Germany,
        version: "lear-aic-w56-2026-01-16".into(),
        calibrated_at: "2026-01-16T12:00:00.123Z".parse().unwrap(),
        model: big.clone(),
    };
    store.save_model(&first).await.unwrap();
    assert_eq!(
        store.load_model(Region::Germany).await.unwrap(),
        Some(first)
    );
    let second = StoredModel {
        region: Region::Germany,
        version: "lear-aic-w56-2026-01-17".into(),
        calibrated_at: "2026-01-17T12:00:00Z".parse().unwrap(),
        model: "{}".into(),
    };
    store.save_model(&second).await.unwrap();
    assert_eq!(
        store.load_model(Region::Germany).await.unwrap(),
        Some(second)
    );
    assert_eq!(store.load_model(Region::France).await.unwrap(), None);
}

fn user(id: &str, email: &str) -> wattline::storage::users::UserRow {
    wattline::storage::users::UserRow {
        id: id.into(),
        email: email.into(),
        password_hash: Some("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into()),
        name: Some("Ada 'Robert'); DROP TABLE users; --".into()),
        email_verified: false,
        tier: "free".into(),
        created_at: "2026-01-15T12:00:00.5Z".parse().unwrap(),
        last_login_at: None,
    }
}

async fn users_are_unique_by_email_and_read_back(store: Arc<Storage>) {
    let ada = user("u1", "ada@example.com");
    store.create_user(&ada).await.unwrap();
    assert!(matches!(
        store.create_user(&user("u2", "ada@example.com")).await,
        Err(StorageError::Conflict(_))
    ));
    assert_eq!(
        store.user_by_email("ada@example.com").await.unwrap(),
        Some(ada.clone())
    );
    assert_eq!(store.user_by_id("u1").await.unwrap(), Some(ada));
    assert_eq!(store.user_by_email("bob@example.com").await.unwrap(), None);
    let now: Timestamp = "2026-01-16T08:00:00Z".parse().unwrap();
    store.record_login("u1", now).await.unwrap();
    assert_eq!(
        store.user_by_id("u1").await.unwrap().unwrap().last_login_at,
        Some(now)
    );
}

async fn refresh_tokens_rotate_once_and_a_replay_revokes_the_family(store: Arc<Storage>) {
    use wattline::storage::users::{RefreshTokenRow, Rotation};
    store
        .create_user(&user("u1", "ada@example.com"))
        .await
        .unwrap();
    let now: Timestamp = "2026-01-15T12:00:00Z".parse().unwrap();
    let token = |hash: &str| RefreshTokenRow {
        token_hash: hash.into(),
        family_id: "family-1".into(),
        user_id: "u1".into(),
        expires_at: now + SignedDuration::from_hours(24 * 7),
        used_at: None,
        revoked: false,
        ip: Some("127.0.0.1".into()),
        user_agent: None,
        created_at: now,
    };
    store.start_session(&token("h1")).await.unwrap();
    let rotated = store
        .rotate_session("h1", now, |current| {
            assert_eq!(current.family_id, "family-1");
            token("h2")
        })
        .await
        .unwrap();
    assert_eq!(
        rotated,
        Rotation::Rotated {
            user_id: "u1".into(),
            family_id: "family-1".into()
        }
    );
    // The used token presented again: a replay, the whole family goes.
    let replayed = store
        .rotate_session("h1", now, |_| token("h3"))
        .await
        .unwrap();
    assert_eq!(replayed, Rotation::Reused);
    let after = store
        .rotate_session("h2", now, |_| token("h4"))
        .await
        .unwrap();
    assert_eq!(
        after,
        Rotation::Invalid,
        "the successor was revoked with its family"
    );
    assert_eq!(
        store
            .rotate_session("unknown", now, |_| token("h5"))
            .await
            .unwrap(),
        Rotation::Invalid
    );
    // An expired token is invalid.
    let mut old = token("h6");
    old.family_id = "family-2".into();
    old.expires_at = now - SignedDuration::from_secs(1);
    store.start_session(&old).await.unwrap();
    assert_eq!(
        store
            .rotate_session("h6", now, |_| token("h7"))
            .await
            .unwrap(),
        Rotation::Invalid
    );
    assert_eq!(
        store.session_family("h6").await.unwrap().as_deref(),
        Some("family-2")
    );
}

async fn provider_accounts_link_once_and_a_failed_creation_leaves_nothing(store: Arc<Storage>) {
    use wattline::storage::users::OAuthIdentityRow;
    let now: Timestamp = "2026-01-15T12:00:00Z".parse().unwrap();
    let identity = |subject: &str, user_id: &str| OAuthIdentityRow {
        provider: "github".into(),
        subject: subject.into(),
        user_id: user_id.into(),
        email: "ada@example.com".into(),
        created_at: now,
    };
    let ada = user("u1", "ada@example.com");
    store.create_user(&ada).await.unwrap();
    assert_eq!(store.user_by_identity("github", "7").await.unwrap(), None);
    store
        .link_identity(&identity("7", "u1"), now)
        .await
        .unwrap();
    let linked = store
        .user_by_identity("github", "7")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(linked.id, "u1");
    assert!(
        linked.email_verified,
        "linking by a provider-verified email verifies it"
    );
    assert_eq!(store.user_by_identity("google", "7").await.unwrap(), None);
    assert!(matches!(
        store.link_identity(&identity("7", "u1"), now).await,
        Err(StorageError::Conflict(_))
    ));
    // A new user with a taken email: neither the user nor the identity is stored.
    let clash = user("u2", "ada@example.com");
    assert!(matches!(
        store
            .create_user_with_identity(&clash, &identity("8", "u2"))
            .await,
        Err(StorageError::Conflict(_))
    ));
    assert_eq!(store.user_by_identity("github", "8").await.unwrap(), None);
    assert_eq!(store.user_by_id("u2").await.unwrap(), None);
    let grace = user("u3", "grace@example.com");
    store
        .create_user_with_identity(&grace, &identity("9", "u3"))
        .await
        .unwrap();
    assert_eq!(
        store.user_by_identity("github", "9").await.unwrap(),
        Some(grace)
    );
}

async fn the_catalogue_seeds_once_round_trips_and_cascades(store: Arc<Storage>) {
    let now: Timestamp = "2026-01-15T12:00:00Z".parse().unwrap();
    assert!(store.catalogue_is_empty().await.unwrap());
    assert!(
        wattline::catalogue::seed_if_empty(&store, now)
            .await
            .unwrap()
    );
    assert!(
        !wattline::catalogue::seed_if_empty(&store, now)
            .await
            .unwrap(),
        "seeded once"
    );
    let (seed_suppliers, seed_tariffs) = wattline::catalogue::seed_rows(now).unwrap();
    let suppliers = store.suppliers().await.unwrap();
    let tariffs = store.tariffs().await.unwrap();
    assert_eq!(suppliers.len(), seed_suppliers.len());
    assert_eq!(tariffs.len(), seed_tariffs.len());
    // Every field comes back as written: decimals exact, rate rules as documents.
    for seeded in &seed_tariffs {
        let stored = tariffs.iter().find(|t| t.id == seeded.id).unwrap();
        assert_eq!(stored, seeded);
    }
    let mut edited = tariffs
        .iter()
        .find(|t| t.id == "octopus-energy-agile")
        .unwrap()
        .clone();
    edited.standing_charge = "0.123456789".parse().unwrap();
    edited.valid_to = Some("2027-03-31".into());
    store.put_tariff(&edited).await.unwrap();
    let back = store.tariffs().await.unwrap();
    assert_eq!(back.iter().find(|t| t.id == edited.id), Some(&edited));
    // A tariff of an unknown supplier is refused by the foreign key.
    let mut orphan = edited.clone();
    orphan.id = "orphan".into();
    orphan.supplier_id = "nobody".into();
    assert!(store.put_tariff(&orphan).await.is_err());
    // Deleting a supplier deletes its tariffs.
    assert!(store.delete_supplier("octopus-energy").await.unwrap());
    assert!(!store.delete_supplier("octopus-energy").await.unwrap());
    let left = store.tariffs().await.unwrap();
    assert!(left.iter().all(|t| t.supplier_id != "octopus-energy"));
    assert!(store.delete_tariff("british-gas-fixed-12m").await.unwrap());
}

async fn preferences_are_stored_per_user_and_replaced(store: Arc<Storage>) {
    let now: Timestamp = "2026-01-15T12:00:00Z".parse().unwrap();
    store
        .create_user(&user("u1", "ada@example.com"))
        .await
        .unwrap();
    store
        .create_user(&user("u2", "bob@example.com"))
        .await
        .unwrap();
    assert_eq!(store.preferences("u1").await.unwrap(), None);
    let first = serde_json::json!({ "region": "uk", "consumption": { "annual_kwh": 2700.5 } });
    store.put_preferences("u1", &first, now).await.unwrap();
    assert_eq!(store.preferences("u1").await.unwrap(), Some(first));
    let second = serde_json::json!({ "region": "germany", "green_only": true });
    store.put_preferences("u1", &second, now).await.unwrap();
    assert_eq!(store.preferences("u1").await.unwrap(), Some(second));
    assert_eq!(store.preferences("u2").await.unwrap(), None, "per user");
}

async fn a_beta_signup_and_its_welcome_commit_together_once(store: Arc<Storage>) {
    use wattline::storage::beta::BetaSignupRow;
    let now: Timestamp = "2026-01-15T12:00:00Z".parse().unwrap();
    let row = |id: &str, email: &str, code: &str| BetaSignupRow {
        id: id.into(),
        email: email.into(),
        name: "Ada".into(),
        postcode: "SW1A 1AA".into(),
        current_supplier: "EDF".into(),
        monthly_bill: "80".into(),
        hear_about: "friend".into(),
        beta_code: code.into(),
        created_at: now,
    };
    let welcome = |id: &str| NewJob {
        queue: "email".into(),
        kind: "beta_welcome".into(),
        payload: serde_json::json!({ "id": id }),
        idempotency_key: format!("beta-welcome:{id}"),
        user_id: None,
        run_at: now,
    };
    store
        .create_beta_signup(
            &row("b1", "ada@example.com", "BETA-2026-AAAAAAAA"),
            welcome("b1"),
        )
        .await
        .unwrap();
    // Same email: refused, and its welcome is not queued.
    assert!(matches!(
        store
            .create_beta_signup(
                &row("b2", "ada@example.com", "BETA-2026-BBBBBBBB"),
                welcome("b2")
            )
            .await,
        Err(StorageError::Conflict(_))
    ));
    let signups = store.beta_signups().await.unwrap();
    assert_eq!(
        signups,
        vec![row("b1", "ada@example.com", "BETA-2026-AAAAAAAA")]
    );
    let jobs = queued(&store).await;
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0].idempotency_key, "beta-welcome:b1");
    assert_eq!(
        store
            .beta_signup_by_code("BETA-2026-AAAAAAAA")
            .await
            .unwrap()
            .map(|s| s.id),
        Some("b1".into())
    );
    assert_eq!(
        store
            .beta_signup_by_code("BETA-2026-BBBBBBBB")
            .await
            .unwrap(),
        None
    );
}

/// A SQLite file written before instants were widened to milliseconds (whole-second text) is
/// migrated in place: its rows are found by range reads and kept on re-fetch, not duplicated.
#[tokio::test]
async fn an_older_sqlite_file_is_migrated_in_place() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/old.sqlite3", dir.path().display());
    {
        let connect = <sqlx::sqlite::SqliteConnectOptions as std::str::FromStr>::from_str(&url)
            .unwrap()
            .create_if_missing(true);
        let pool = sqlx::SqlitePool::connect_with(connect).await.unwrap();
        let folder = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations/sqlite");
        let all = sqlx::migrate::Migrator::new(folder).await.unwrap();
        let old: Vec<_> = all.iter().filter(|m| m.version <= 3).cloned().collect();
        sqlx::migrate::Migrator::with_migrations(old)
            .run(&pool)
            .await
            .unwrap();
        sqlx::query(
            "INSERT INTO price_points VALUES ('germany', 'simulated', '2026-01-15T10:00:00Z', 60, \
             '42.5', 'EUR', 'MWh', 'day_ahead', '2026-01-15T09:00:00Z', 0)",
        )
        .execute(&pool)
        .await
        .unwrap();
        pool.close().await;
    }
    let store = Storage::open_sqlite(&url, &options()).await.unwrap();
    let mut range = all(Region::Germany);
    range.from = "2026-01-15T10:00:00Z".parse().unwrap();
    range.to = "2026-01-15T10:00:00.001Z".parse().unwrap();
    let found = store.price_range(&range).await.unwrap();
    assert_eq!(found.len(), 1, "the old row is in range");
    assert_eq!(found[0].price.to_string(), "42.5");
    let mut again = found[0].clone();
    again.price = Decimal::from(43);
    store.upsert_prices(&[again]).await.unwrap();
    let all_rows = store.price_range(&all(Region::Germany)).await.unwrap();
    assert_eq!(all_rows.len(), 1, "a re-fetch updates the migrated row");
    assert_eq!(all_rows[0].price, Decimal::from(43));
    store.close().await;
}

fn at(text: &str) -> Timestamp {
    text.parse().unwrap()
}

/// Up to ten jobs of `queue`, claimed by one worker a second after noon of 2026-01-15 (where the
/// retention and erasure cases place their rows) under a five-minute lease.
async fn claim_soon_after_noon(store: &Storage, queue: &str) -> Vec<ClaimedJob> {
    store
        .claim(
            queue,
            "w",
            10,
            at("2026-01-15T12:00:01Z"),
            at("2026-01-15T12:05:00Z"),
        )
        .await
        .unwrap()
}

async fn enqueue_n(store: &Storage, prefix: &str, n: usize) {
    let mut unit = UnitOfWork::new();
    for i in 0..n {
        unit.enqueue(job(&format!("{prefix}:{i}")));
    }
    store.commit(unit).await.unwrap();
}

async fn jobs_are_claimed_once_settled_by_their_claim_and_taken_up_after_the_lease(
    store: Arc<Storage>,
) {
    enqueue_n(&store, "lease", 3).await;
    let now = at("2026-01-15T12:00:01Z");
    let lease = at("2026-01-15T12:02:01Z");
    assert!(
        store
            .claim("email", "early", 10, at("2026-01-15T12:00:00Z"), lease)
            .await
            .unwrap()
            .is_empty(),
        "not due before run_at"
    );
    let first = store.claim("email", "a", 2, now, lease).await.unwrap();
    assert_eq!(first.len(), 2);
    assert!(first.iter().all(|j| j.attempts == 1 && j.claim == "a"));
    let second = store.claim("email", "b", 10, now, lease).await.unwrap();
    assert_eq!(second.len(), 1, "claimed jobs are not claimed again");
    let counts = store.counts("email").await.unwrap();
    assert_eq!((counts.queued, counts.running, counts.failed), (0, 3, 0));

    assert!(store.complete(&first[0], now).await.unwrap());
    assert!(
        !store.complete(&first[0], now).await.unwrap(),
        "settled once"
    );
    let mut foreign = first[1].clone();
    foreign.claim = "someone-else".into();
    assert!(
        !store.complete(&foreign, now).await.unwrap(),
        "only by its claim"
    );
    assert!(
        store
            .retry(&first[1], at("2026-01-15T12:05:00Z"), "smtp down", now)
            .await
            .unwrap()
    );
    let counts = store.counts("email").await.unwrap();
    assert_eq!((counts.queued, counts.running), (1, 1));
    assert!(counts.oldest_queued.is_some());

    // `b` dies holding its job: once the lease lapses, `c` takes it up (and the retry is due).
    let later = at("2026-01-15T12:06:00Z");
    let mut taken = store
        .claim("email", "c", 10, later, at("2026-01-15T12:08:00Z"))
        .await
        .unwrap();
    taken.sort_by(|x, y| x.id.cmp(&y.id));
    assert_eq!(taken.len(), 2);
    assert!(taken.iter().all(|j| j.attempts == 2));
    assert!(
        !store.complete(&second[0], later).await.unwrap(),
        "the lapsed claim no longer settles it"
    );
    for job in &taken {
        assert!(store.complete(job, later).await.unwrap());
    }
    let all = queued(&store).await;
    assert!(
        all.iter()
            .all(|j| j.status == "done" && j.locked_by.is_none())
    );
    let retried = all.iter().find(|j| j.id == first[1].id).unwrap();
    assert_eq!(retried.last_error.as_deref(), Some("smtp down"));
}

async fn concurrent_claimers_never_take_the_same_job(store: Arc<Storage>) {
    enqueue_n(&store, "race", 200).await;
    let now = at("2026-01-15T12:00:01Z");
    let lease = at("2026-01-15T13:00:00Z");
    let mut claimers = Vec::new();
    for c in 0..6 {
        let store = store.clone();
        claimers.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            for round in 0.. {
                // A claim token is unique per claim, as the workers make them.
                let batch = store
                    .claim("email", &format!("claimer-{c}/{round}"), 7, now, lease)
                    .await
                    .unwrap();
                if batch.is_empty() {
                    return mine;
                }
                mine.extend(batch.into_iter().map(|j| j.id));
            }
            unreachable!()
        }));
    }
    let mut ids = Vec::new();
    for claimer in claimers {
        ids.extend(claimer.await.unwrap());
    }
    let total = ids.len();
    ids.sort();
    ids.dedup();
    assert_eq!(total, 200, "every job claimed");
    assert_eq!(ids.len(), 200, "no job claimed twice");
}

async fn parked_jobs_are_listed_and_retried(store: Arc<Storage>) {
    enqueue_n(&store, "poison", 2).await;
    let now = at("2026-01-15T12:00:01Z");
    let lease = at("2026-01-15T12:02:00Z");
    let jobs = store.claim("email", "w", 10, now, lease).await.unwrap();
    assert!(store.park(&jobs[0], "no template", now).await.unwrap());
    assert!(store.complete(&jobs[1], now).await.unwrap());
    let failed = store.failed_jobs(None, 50).await.unwrap();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].last_error.as_deref(), Some("no template"));
    assert!(
        store
            .failed_jobs(Some("webhooks"), 50)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(store.counts("email").await.unwrap().failed, 1);
    assert!(store.retry_failed_job(&failed[0].id, now).await.unwrap());
    assert!(!store.retry_failed_job(&failed[0].id, now).await.unwrap());
    let again = store.claim("email", "w2", 10, now, lease).await.unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!(
        again[0].attempts, 1,
        "a retried job starts its attempts afresh"
    );
}

async fn alert_firings_are_recorded_once_with_their_deliveries(store: Arc<Storage>) {
    use wattline::storage::alerts::AlertRuleRow;
    use wattline_actors::domain::alert::Firing;
    use wattline_actors::ports::AlertStore;
    store
        .create_user(&user("u1", "ada@example.com"))
        .await
        .unwrap();
    let now = at("2026-01-15T12:00:00Z");
    let rule = AlertRuleRow {
        id: "r1".into(),
        user_id: "u1".into(),
        name: "Cheap 'quoted' \"name\"".into(),
        region: "uk".into(),
        condition: serde_json::json!({"kind": "price_below", "threshold": "0.20"}),
        quiet_hours: Some(serde_json::json!({"start": "22:00", "end": "07:00"})),
        cooldown_secs: 3600,
        enabled: true,
        email: true,
        webhook_url: Some("https://hooks.example.com/x".into()),
        webhook_secret: Some("whsec_1".into()),
        created_at: now,
        updated_at: now,
    };
    store.create_alert_rule(&rule).await.unwrap();
    assert_eq!(
        store.alert_rules_of("u1").await.unwrap(),
        vec![rule.clone()]
    );
    let loaded = store.alert_rules().await.unwrap();
    assert_eq!(loaded.len(), 1);
    assert_eq!(loaded[0].last_occurrence, None);

    let firing = Firing {
        rule_id: "r1".into(),
        user_id: "u1".into(),
        region: Region::Uk,
        occurrence: "price_below@2026-01-15T12:00:00Z".into(),
        at: now,
        price: Some("0.18".parse().unwrap()),
        summary: "uk at 0.18".into(),
    };
    assert_eq!(
        store
            .record_firings(std::slice::from_ref(&firing), now)
            .await
            .unwrap(),
        1
    );
    // Recorded again (a retry, another node): nothing new.
    assert_eq!(
        store
            .record_firings(std::slice::from_ref(&firing), now)
            .await
            .unwrap(),
        0
    );
    let history = store.alert_history("u1", "r1", 10).await.unwrap();
    assert_eq!(history.len(), 1);
    assert_eq!(history[0].price, Some("0.18".parse().unwrap()));
    assert_eq!(history[0].channels, serde_json::json!(["email", "webhook"]));
    assert!(
        store
            .alert_history("someone-else", "r1", 10)
            .await
            .unwrap()
            .is_empty()
    );
    let email: Vec<JobRow> = store
        .rows(&JOBS_OF_QUEUE, &serde_json::json!({"queue": "email"}))
        .await
        .unwrap();
    let hooks: Vec<JobRow> = store
        .rows(&JOBS_OF_QUEUE, &serde_json::json!({"queue": "webhooks"}))
        .await
        .unwrap();
    assert_eq!(
        (email.len(), hooks.len()),
        (1, 1),
        "each delivery queued once"
    );
    assert_eq!(email[0].payload["to"], "ada@example.com");
    assert_eq!(hooks[0].payload["secret"], "whsec_1");
    assert_eq!(hooks[0].payload["body"]["price"], "0.18");
    let loaded = store.alert_rules().await.unwrap();
    assert_eq!(
        loaded[0].last_occurrence.as_deref(),
        Some(firing.occurrence.as_str())
    );
    assert_eq!(loaded[0].last_fired_at, Some(now));

    // An edit forgets the state; a deletion takes the history with it.
    let mut edited = rule.clone();
    edited.name = "Edited".into();
    assert!(store.update_alert_rule(&edited).await.unwrap());
    let mut foreign = edited.clone();
    foreign.user_id = "u2".into();
    assert!(!store.update_alert_rule(&foreign).await.unwrap());
    assert_eq!(store.alert_rules().await.unwrap()[0].last_occurrence, None);
    assert!(!store.delete_alert_rule("u2", "r1").await.unwrap());
    assert!(store.delete_alert_rule("u1", "r1").await.unwrap());
    assert!(store.alert_rules().await.unwrap().is_empty());
    assert!(
        store
            .alert_history("u1", "r1", 10)
            .await
            .unwrap()
            .is_empty()
    );
    // A firing of a rule deleted meanwhile records nothing.
    assert_eq!(store.record_firings(&[firing], now).await.unwrap(), 0);
}

async fn a_magic_link_is_used_once_and_never_after_it_expires(store: Arc<Storage>) {
    use wattline::storage::magic_links::MagicLinkRow;
    store
        .create_user(&user("u1", "ada@example.com"))
        .await
        .unwrap();
    let now = at("2026-01-15T12:00:00Z");
    let link = |hash: &str| MagicLinkRow {
        token_hash: hash.into(),
        user_id: "u1".into(),
        redirect_url: Some("https://app.example.com/".into()),
        expires_at: at("2026-01-15T12:15:00Z"),
        used_at: None,
        created_at: now,
    };
    store
        .create_magic_link(&link("h1"), job("magic:1"))
        .await
        .unwrap();
    store
        .create_magic_link(&link("h2"), job("magic:2"))
        .await
        .unwrap();
    let used = store
        .use_magic_link("h1", at("2026-01-15T12:05:00Z"))
        .await
        .unwrap()
        .expect("an unused link works");
    assert_eq!(used.user_id, "u1");
    assert_eq!(
        used.redirect_url.as_deref(),
        Some("https://app.example.com/")
    );
    assert_eq!(used.used_at, Some(at("2026-01-15T12:05:00Z")));
    assert!(
        store
            .use_magic_link("h1", at("2026-01-15T12:06:00Z"))
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .use_magic_link("h2", at("2026-01-15T12:15:00Z"))
            .await
            .unwrap()
            .is_none()
    );
    assert!(store.use_magic_link("nope", now).await.unwrap().is_none());
    assert_eq!(
        queued(&store).await.len(),
        2,
        "each link's email queued with it"
    );
}

async fn every_table_holding_users_is_in_the_export(store: Arc<Storage>) {
    let exported: Vec<&str> = wattline::storage::gdpr::EXPORT
        .iter()
        .map(|s| s.table)
        .collect();
    let holding = store.tables_with_users().await.unwrap();
    assert!(holding.contains(&"users".to_string()), "{holding:?}");
    let missing: Vec<&String> = holding
        .iter()
        .filter(|t| !exported.contains(&t.as_str()))
        .collect();
    assert!(
        missing.is_empty(),
        "tables with user data missing from the export: {missing:?}"
    );
}

async fn retention_purges_only_what_is_past_its_limit(store: Arc<Storage>) {
    store
        .create_user(&user("u1", "ada@example.com"))
        .await
        .unwrap();
    enqueue_n(&store, "old", 2).await;
    subscribed(&store, "u1", "cus_1", at("2026-01-15T12:00:00Z")).await;
    let claimed = claim_soon_after_noon(&store, "email").await;
    assert!(
        store
            .complete(&claimed[0], at("2026-01-15T12:00:02Z"))
            .await
            .unwrap()
    );
    let keep = jiff::SignedDuration::from_hours(24 * 730);
    // Within the limit: nothing goes.
    let purged = store
        .purge_expired(at("2027-01-15T12:00:00Z"), keep)
        .await
        .unwrap();
    assert_eq!((purged.delivered_jobs, purged.billing_events), (0, 0));
    // Past it: the delivered job and the applied event go, the running job stays.
    let purged = store
        .purge_expired(at("2028-01-16T12:00:00Z"), keep)
        .await
        .unwrap();
    assert_eq!((purged.delivered_jobs, purged.billing_events), (1, 1));
    assert_eq!(queued(&store).await.len(), 1);
}

static TAMPER_UPDATE: wattline::storage::Statement = wattline::storage::Statement::new(|d| {
    wattline::storage::sql::render("UPDATE deletion_log SET legal_basis = 'none'", d)
});
static TAMPER_DELETE: wattline::storage::Statement = wattline::storage::Statement::new(|d| {
    wattline::storage::sql::render("DELETE FROM deletion_log", d)
});

/// Erases a user holding rows in every table and checks, by reading every table of the schema,
/// that neither their email nor their id is left, and that the log cannot be changed.
async fn erasure_leaves_only_an_unchangeable_log(store: Arc<Storage>, url: &str) {
    use wattline::storage::gdpr::{ConsentRow, DeletionLogRow, Erasure};
    let email = "ada@example.com";
    let now = at("2026-01-15T12:00:00Z");
    store.create_user(&user("u1", email)).await.unwrap();
    store
        .create_user(&user("u2", "bob@example.com"))
        .await
        .unwrap();
    store
        .record_consents(&[ConsentRow {
            id: "c1".into(),
            user_id: "u1".into(),
            purpose: "marketing".into(),
            consent_given: true,
            consent_version: "1.0".into(),
            ip_address: Some("203.0.113.7".into()),
            user_agent: Some("test".into()),
            created_at: now,
        }])
        .await
        .unwrap();
    let mut about = job("about-ada");
    about.user_id = Some("u1".into());
    let mut unit = UnitOfWork::new();
    unit.enqueue(about);
    store.commit(unit).await.unwrap();
    subscribed(&store, "u1", "cus_ada", now).await;
    let log = DeletionLogRow {
        id: "log-1".into(),
        user_hash: "hash".into(),
        categories: vec!["profile".into(), "consents".into()],
        legal_basis: "GDPR Art. 17".into(),
        anonymized: false,
        deleted_at: now,
    };
    let mut confirmation = job("deletion:1");
    confirmation.user_id = None;
    confirmation.payload = serde_json::json!({ "to": email });
    store
        .erase_user("u1", email, Erasure::Delete, &log, vec![confirmation])
        .await
        .unwrap();
    // The confirmation is sent (and a done job keeps no payload).
    let sent = claim_soon_after_noon(&store, "email").await;
    assert_eq!(sent.len(), 1, "only the confirmation is left of Ada's jobs");
    assert!(store.complete(&sent[0], now).await.unwrap());
    // The Stripe customer's deletion was queued by the erasure itself.
    let deletion = claim_soon_after_noon(&store, "gdpr").await;
    assert_eq!(deletion.len(), 1);
    assert_eq!(deletion[0].kind, "stripe_customer_deletion");
    assert_eq!(deletion[0].payload["customer_id"], "cus_ada");
    assert_eq!(
        deletion[0].idempotency_key,
        "stripe-customer-deletion:log-1"
    );
    assert!(store.complete(&deletion[0], now).await.unwrap());
    let leftovers = leftovers::tables_mentioning(url, &[email, "u1", "cus_ada"]).await;
    assert!(leftovers.is_empty(), "{leftovers:?}");
    assert!(
        store.user_by_id("u2").await.unwrap().is_some(),
        "others untouched"
    );

    for tamper in [&TAMPER_UPDATE, &TAMPER_DELETE] {
        let error = store
            .execute(tamper, &serde_json::json!({}))
            .await
            .unwrap_err();
        assert!(error.to_string().contains("append-only"), "{error}");
    }
    let kept: Vec<DeletionLogRow> = store
        .rows(
            &wattline::storage::gdpr::LOG_ENTRY,
            &serde_json::json!({"id": "log-1"}),
        )
        .await
        .unwrap();
    assert_eq!(kept, vec![log]);
}

#[tokio::test]
async fn erasure_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/erase.sqlite3", dir.path().display());
    let store = Arc::new(Storage::open_sqlite(&url, &options()).await.unwrap());
    erasure_leaves_only_an_unchangeable_log(store.clone(), &url).await;
    store.close().await;
}

#[tokio::test]
async fn erasure_on_postgres() {
    let Ok(base) = std::env::var("TEST_DATABASE_URL") else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI is set but TEST_DATABASE_URL is not"
        );
        return;
    };
    let schema = format!("wattline_erase_{}", uuid::Uuid::new_v4().simple());
    let store = Arc::new(
        Storage::open_postgres(&base, &options(), Some(&schema))
            .await
            .unwrap(),
    );
    let separator = if base.contains('?') { '&' } else { '?' };
    let url = format!("{base}{separator}options=-c%20search_path%3D{schema}");
    erasure_leaves_only_an_unchangeable_log(store.clone(), &url).await;
    store.drop_schema(&schema).await.unwrap();
    store.close().await;
}

/// Makes `user_id` a pro customer `customer` through a stored, settled checkout event.
async fn subscribed(store: &Storage, user_id: &str, customer: &str, now: Timestamp) {
    use wattline::storage::billing::BillingEventRow;
    use wattline_actors::domain::billing::{self, BillingChange, BillingEvent, Outcome, Tier};
    use wattline_actors::ports::{BillingSettlement, BillingStore};
    let event = BillingEvent {
        id: format!("evt_{user_id}"),
        created: now,
        change: BillingChange::CheckoutCompleted {
            user_id: Some(user_id.into()),
            customer: Some(customer.into()),
            subscription: Some("sub_1".into()),
            tier: Some(Tier::Pro),
        },
    };
    let row = BillingEventRow::received(&event, "checkout.session.completed", now);
    let mut job = job(&format!("stripe-event:{}", event.id));
    job.queue = "billing".into();
    job.user_id = Some(user_id.into());
    assert!(store.store_billing_event(&row, job).await.unwrap());
    let loaded = store
        .billing_account(Some(user_id), None)
        .await
        .unwrap()
        .unwrap();
    let Outcome::Applied { account, notice } =
        billing::apply(&loaded.account, &event, SignedDuration::from_hours(24))
    else {
        panic!("applies");
    };
    let settlement = BillingSettlement::Applied {
        before: Box::new(loaded),
        account,
        notice,
    };
    assert!(
        store
            .settle_billing_event(&event.id, &settlement, now)
            .await
            .unwrap()
    );
}

async fn a_billing_event_is_stored_once_and_settled_once_by_compare_and_set(store: Arc<Storage>) {
    use wattline::storage::billing::BillingEventRow;
    use wattline_actors::domain::billing::{self, BillingChange, BillingEvent, Outcome, Tier};
    use wattline_actors::ports::{BillingSettlement, BillingStore};

    store
        .create_user(&user("u-bill", "bill@example.com"))
        .await
        .unwrap();
    let now: Timestamp = "2026-01-15T12:00:00Z".parse().unwrap();
    let event = BillingEvent {
        id: "evt_1".into(),
        created: now,
        change: BillingChange::CheckoutCompleted {
            user_id: Some("u-bill".into()),
            customer: Some("cus_1".into()),
            subscription: Some("sub_1".into()),
            tier: Some(Tier::Pro),
        },
    };
    let row = BillingEventRow::received(&event, "checkout.session.completed", now);
    let apply_job = || NewJob {
        queue: "billing".into(),
        kind: "stripe_event".into(),
        payload: serde_json::json!({"event_id": "evt_1"}),
        idempotency_key: "stripe-event:evt_1".into(),
        user_id: Some("u-bill".into()),
        run_at: now,
    };
    assert!(store.store_billing_event(&row, apply_job()).await.unwrap());
    assert!(
        !store.store_billing_event(&row, apply_job()).await.unwrap(),
        "a replay is not stored again"
    );
    assert_eq!(store.counts("billing").await.unwrap().queued, 1);

    let stored = store.billing_event("evt_1").await.unwrap().unwrap();
    assert_eq!(stored.event, event);
    assert!(!stored.processed);
    let loaded = store
        .billing_account(Some("u-bill"), None)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (loaded.version, loaded.email.as_str()),
        (None, "bill@example.com")
    );
    let Outcome::Applied { account, notice } =
        billing::apply(&loaded.account, &event, SignedDuration::from_hours(24))
    else {
        panic!("applies");
    };
    let settlement = BillingSettlement::Applied {
        before: Box::new(loaded.clone()),
        account,
        notice,
    };
    assert!(
        store
            .settle_billing_event("evt_1", &settlement, now)
            .await
            .unwrap()
    );
    assert!(
        !store
            .settle_billing_event("evt_1", &settlement, now)
            .await
            .unwrap(),
        "settled once"
    );
    let account = store.billing_account_of("u-bill").await.unwrap().unwrap();
    assert_eq!((account.tier.as_str(), account.version), ("pro", 1));
    assert_eq!(account.customer_id.as_deref(), Some("cus_1"));
    assert_eq!(
        store.user_by_id("u-bill").await.unwrap().unwrap().tier,
        "pro"
    );
    // Found by customer as well; a write from a stale read changes nothing.
    let by_customer = store
        .billing_account(None, Some("cus_1"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(by_customer.version, Some(1));
    let second = BillingEvent {
        id: "evt_2".into(),
        created: now + SignedDuration::from_secs(5),
        change: BillingChange::SubscriptionDeleted {
            user_id: None,
            customer: Some("cus_1".into()),
            subscription: "sub_1".into(),
        },
    };
    store
        .store_billing_event(
            &BillingEventRow::received(&second, "customer.subscription.deleted", now),
            NewJob {
                idempotency_key: "stripe-event:evt_2".into(),
                payload: serde_json::json!({"event_id": "evt_2"}),
                ..apply_job()
            },
        )
        .await
        .unwrap();
    let Outcome::Applied { account, notice } = billing::apply(
        &by_customer.account,
        &second,
        SignedDuration::from_hours(24),
    ) else {
        panic!("applies");
    };
    let stale = BillingSettlement::Applied {
        before: Box::new(loaded),
        account: account.clone(),
        notice: notice.clone(),
    };
    assert!(
        !store
            .settle_billing_event("evt_2", &stale, now)
            .await
            .unwrap(),
        "the account moved since that read"
    );
    let fresh = BillingSettlement::Applied {
        before: Box::new(by_customer),
        account,
        notice,
    };
    assert!(
        store
            .settle_billing_event("evt_2", &fresh, now)
            .await
            .unwrap()
    );
    let account = store.billing_account_of("u-bill").await.unwrap().unwrap();
    assert_eq!(
        (
            account.tier.as_str(),
            account.status.as_str(),
            account.version
        ),
        ("free", "canceled", 2)
    );
    let processed = store.billing_event_row("evt_2").await.unwrap().unwrap();
    assert_eq!(processed.outcome.as_deref(), Some("applied"));
}
