//! Stopping and starting again: graceful stop returns cleanly, stored prices survive a restart,
//! and the binary exits 0 on SIGTERM.

use std::process::Command;
use std::time::Duration;

use reqwest::StatusCode;

use crate::helpers::{TestApp, spawn_binary, test_settings, ts};

#[tokio::test]
async fn stored_prices_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let first = TestApp::start(
        test_settings(dir.path()),
        "2026-01-15T12:30:00Z".parse().unwrap(),
    )
    .await;
    let (_, day) = first
        .get_json("/api/v1/prices/history?region=spain&start=2026-01-15&end=2026-01-16")
        .await;
    assert_eq!(day["count"], 96);
    first.stop().await.expect("clean stop");

    // A day later the fetchers fetch the 16th and 17th; the 15th can only come from storage.
    let second = TestApp::start(
        test_settings(dir.path()),
        "2026-01-16T09:00:00Z".parse().unwrap(),
    )
    .await;
    let (status, again) = second
        .get_json("/api/v1/prices/history?region=spain&start=2026-01-15&end=2026-01-16")
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(again["prices"], day["prices"]);
    assert_eq!(
        ts(&again["prices"][0]["fetched_at"]),
        "2026-01-15T12:30:00Z".parse::<jiff::Timestamp>().unwrap()
    );
    second.stop().await.expect("clean stop");
}

#[test]
fn binary_serves_and_exits_zero_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let database = format!("sqlite://{}/w.sqlite3", dir.path().display());
    let (mut child, address, rx) =
        spawn_binary(&[("WATTLINE_STORAGE__DATABASE_URL", database.as_str())]);
    let body = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            for _ in 0..200 {
                let r = reqwest::get(format!("http://{address}/health/ready"))
                    .await
                    .unwrap();
                if r.status() == StatusCode::OK {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(25)).await;
            }
            reqwest::get(format!(
                "http://{address}/api/v1/prices/current?region=japan"
            ))
            .await
            .unwrap()
            .status()
        })
    })
    .join()
    .unwrap();
    assert_eq!(body, StatusCode::OK);
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = child.wait().unwrap();
    assert!(status.success(), "exit status {status:?}");
    let stopped = rx.try_iter().any(|l| l.contains("Wattline stopped."));
    assert!(stopped, "logs the end of shutdown");
}
