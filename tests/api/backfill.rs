//! `wattline backfill`: past days through the writer, from a CSV or the configured sources,
//! idempotently.

use std::io::Write;
use std::process::Command;
use std::sync::Arc;

use jiff::civil::date;
use jiff::{SignedDuration, Timestamp};
use wattline::backfill::{BackfillRequest, run};
use wattline::storage::{RangeQuery, Storage, StorageOptions};
use wattline_actors::domain::{Region, Source};
use wattline_actors::ports::SystemClock;

use crate::helpers::test_settings;

/// Three local days of hourly German prices (2026-01-01..03) in the shared data CSV format.
fn write_csv(dir: &std::path::Path) -> std::path::PathBuf {
    let path = dir.join("de.csv");
    let mut file = std::fs::File::create(&path).unwrap();
    writeln!(
        file,
        "timestamp_utc,local_time,price,currency,unit,dst_flag"
    )
    .unwrap();
    let start: Timestamp = "2025-12-31T23:00:00Z".parse().unwrap();
    for hour in 0..72 {
        let at = start + SignedDuration::from_hours(hour);
        writeln!(
            file,
            "{},,{}.25,EUR,EUR/MWh,",
            at.strftime("%Y-%m-%dT%H:%M:%SZ"),
            40 + hour % 24
        )
        .unwrap();
    }
    path
}

async fn stored(url: &str) -> Vec<wattline_actors::domain::PricePoint> {
    let options = StorageOptions {
        max_connections: 1,
        acquire_timeout: std::time::Duration::from_secs(5),
    };
    let store = Storage::open_sqlite(url, &options).await.unwrap();
    let query = RangeQuery {
        region: Region::Germany,
        from: Timestamp::MIN,
        to: Timestamp::MAX,
        source: None,
    };
    let points = store.price_range(&query).await.unwrap();
    store.close().await;
    points
}

/// Settings storing into `dir` and a request for the three days of [`write_csv`].
fn three_csv_days(dir: &std::path::Path) -> (wattline::Settings, BackfillRequest) {
    let csv = write_csv(dir);
    let request = BackfillRequest {
        region: Region::Germany,
        from: date(2026, 1, 1),
        to: date(2026, 1, 3),
        csv: Some(csv),
    };
    (test_settings(dir), request)
}

#[tokio::test]
async fn backfill_from_a_csv_loads_every_day_once_however_often_it_runs() {
    let dir = tempfile::tempdir().unwrap();
    let (settings, request) = three_csv_days(dir.path());
    let first = run(&settings, Arc::new(SystemClock), request.clone())
        .await
        .unwrap();
    assert_eq!(
        (first.days_loaded, first.points, first.failed.len()),
        (3, 72, 0)
    );
    assert_eq!((first.inserted, first.updated, first.unchanged), (72, 0, 0));
    let fetched_first: Vec<_> = stored(&settings.storage.database_url)
        .await
        .iter()
        .map(|p| p.fetched_at)
        .collect();
    // An identical rerun writes nothing, not even `fetched_at`.
    let rerun = run(&settings, Arc::new(SystemClock), request.clone())
        .await
        .unwrap();
    assert_eq!((rerun.inserted, rerun.updated, rerun.unchanged), (0, 0, 72));
    let points = stored(&settings.storage.database_url).await;
    assert_eq!(points.len(), 72, "re-running updated in place");
    let fetched_again: Vec<_> = points.iter().map(|p| p.fetched_at).collect();
    assert_eq!(fetched_first, fetched_again);
    assert!(points.iter().all(|p| p.source == Source::Replay));
    assert_eq!(points[0].price.to_string(), "40.25");
    // A day the file does not hold is reported, not invented.
    let beyond = BackfillRequest {
        to: date(2026, 1, 4),
        ..request
    };
    let report = run(&settings, Arc::new(SystemClock), beyond).await.unwrap();
    assert_eq!(report.failed.len(), 1);
    assert_eq!(report.failed[0].0, date(2026, 1, 4));
}

#[tokio::test]
async fn a_rerun_with_corrected_prices_counts_them_as_updated() {
    let dir = tempfile::tempdir().unwrap();
    let (settings, request) = three_csv_days(dir.path());
    let csv = request.csv.clone().unwrap();
    run(&settings, Arc::new(SystemClock), request.clone())
        .await
        .unwrap();
    // The source corrected the 40.25 hours (one per day) to 41.25.
    let text = std::fs::read_to_string(&csv).unwrap();
    std::fs::write(&csv, text.replace(",40.25,", ",41.25,")).unwrap();
    let report = run(&settings, Arc::new(SystemClock), request)
        .await
        .unwrap();
    assert_eq!(
        (report.inserted, report.updated, report.unchanged),
        (0, 3, 69)
    );
    assert_eq!(
        stored(&settings.storage.database_url).await[0]
            .price
            .to_string(),
        "41.25"
    );
}

#[tokio::test]
async fn backfill_from_the_configured_sources_uses_the_simulator_without_keys() {
    let dir = tempfile::tempdir().unwrap();
    let settings = test_settings(dir.path());
    let request = BackfillRequest {
        region: Region::Germany,
        from: date(2025, 3, 29),
        to: date(2025, 3, 31),
        csv: None,
    };
    let report = run(&settings, Arc::new(SystemClock), request)
        .await
        .unwrap();
    // 96 + 92 (spring DST) + 96 quarter-hours.
    assert_eq!(report.points, 284);
    assert_eq!(stored(&settings.storage.database_url).await.len(), 284);
}

#[test]
fn backfill_command_reports_progress_and_fails_on_missing_days() {
    let dir = tempfile::tempdir().unwrap();
    let csv = write_csv(dir.path());
    let url = format!("sqlite://{}/cli.sqlite3", dir.path().display());
    let run = |to: &str| {
        Command::new(env!("CARGO_BIN_EXE_wattline"))
            .args([
                "backfill",
                "--region",
                "germany",
                "--from",
                "2026-01-01",
                "--to",
                to,
                "--csv",
            ])
            .arg(&csv)
            .env("WATTLINE_STORAGE__DATABASE_URL", &url)
            .env_remove("WATTLINE_CONFIG")
            .output()
            .unwrap()
    };
    let ok = run("2026-01-03");
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert!(String::from_utf8_lossy(&ok.stdout).contains("Loaded 3 days (72 points"));
    let partial = run("2026-01-05");
    assert_eq!(partial.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&partial.stderr).contains("2 days could not be loaded"));
    let bad = Command::new(env!("CARGO_BIN_EXE_wattline"))
        .args([
            "backfill",
            "--region",
            "Germany",
            "--from",
            "2026-01-01",
            "--to",
            "2026-01-02",
        ])
        .env("WATTLINE_STORAGE__DATABASE_URL", &url)
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("unknown region"));
}
