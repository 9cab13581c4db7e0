//! The price endpoints over HTTP, on simulated prices with the clock at `helpers::NOW`.

use std::collections::HashSet;

use jiff::{SignedDuration, Timestamp};
use reqwest::StatusCode;
use rust_decimal::Decimal;

use crate::helpers::{API_KEY, NOW, TestApp, assert_error, dec, ts};

fn now() -> Timestamp {
    NOW.parse().unwrap()
}

#[tokio::test]
async fn current_price_covers_now_and_says_where_it_came_from() {
    let app = TestApp::spawn().await;
    let (status, body) = app.get_json("/api/v1/prices/current?region=germany").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let price = &body["price"];
    assert!(
        ts(&price["start"]) <= now() && now() < ts(&price["end"]),
        "{price}"
    );
    assert_eq!(price["duration_minutes"], 15);
    assert_eq!(price["source"], "simulated");
    assert_eq!(price["currency"], "EUR");
    assert_eq!(price["unit"], "MWh");
    dec(&price["price"]);
    assert_eq!(body["sources"], serde_json::json!(["simulated"]));
    assert_eq!(body["stale"], false);
    assert_eq!(body["time_zone"], "Europe/Berlin");
    let prices = body["prices"].as_array().unwrap();
    assert_eq!(prices.len(), 10);
    assert_eq!(prices[0], *price);
    for pair in prices.windows(2) {
        assert_eq!(pair[0]["end"], pair[1]["start"]);
    }
    let (_, three) = app
        .get_json("/api/v1/prices/current?region=uk&limit=3")
        .await;
    assert_eq!(three["prices"].as_array().unwrap().len(), 3);
    assert_eq!(three["price"]["duration_minutes"], 30);
    assert_eq!(three["price"]["currency"], "GBP");
}

#[tokio::test]
async fn prices_older_than_the_freshness_limit_are_marked_stale() {
    let app = TestApp::spawn().await;
    // Thirty hours on, the cached price for that instant was fetched 30 h ago: within 36 h.
    app.clock.set(now() + SignedDuration::from_hours(30));
    let (status, body) = app.get_json("/api/v1/prices/current?region=germany").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["stale"], false);
    // Past the horizon (tomorrow ends 2026-01-16T23:00Z) there is no price at all.
    app.clock.set(now() + SignedDuration::from_hours(35));
    let (status, body) = app.get_json("/api/v1/prices/current?region=germany").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_error(&body, "price_unavailable");
    let app =
        TestApp::spawn_with(|s| s.prices.freshness_limit = std::time::Duration::from_secs(3600))
            .await;
    app.clock.set(now() + SignedDuration::from_hours(2));
    let (_, body) = app.get_json("/api/v1/prices/current?region=germany").await;
    assert_eq!(body["stale"], true, "{body}");
}

#[tokio::test]
async fn history_pages_through_stored_prices_with_statistics() {
    let app = TestApp::spawn().await;
    // Germany's local day began at 2026-01-14T23:00Z; by 12:30Z that is 54 quarter-hours.
    let (status, body) = app
        .get_json("/api/v1/prices/history?region=germany&days=1")
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["count"], 54);
    assert_eq!(body["statistics"]["count"], 54);
    let (min, avg, max) = (
        dec(&body["statistics"]["min_price"]),
        dec(&body["statistics"]["avg_price"]),
        dec(&body["statistics"]["max_price"]),
    );
    assert!(min <= avg && avg <= max);
    let all: Vec<Decimal> = body["prices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| dec(&p["price"]))
        .collect();
    assert_eq!(all.iter().min().copied(), Some(min));
    assert_eq!(all.iter().max().copied(), Some(max));

    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut path = "/api/v1/prices/history?region=germany&days=1&limit=20".to_string();
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={}", c.replace(':', "%3A")));
        }
        let (status, page) = app.get_json(&path).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        seen.extend(
            page["prices"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| ts(&p["start"])),
        );
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_string()),
            None => break,
        }
    }
    assert_eq!(seen.len(), 54);
    assert_eq!(
        seen.iter().collect::<HashSet<_>>().len(),
        54,
        "pages overlap"
    );
    assert!(seen.windows(2).all(|w| w[0] < w[1]));
}

#[tokio::test]
async fn history_by_local_dates_and_source_filter() {
    let app = TestApp::spawn().await;
    let (status, body) = app
        .get_json("/api/v1/prices/history?region=germany&start=2026-01-16&end=2026-01-17")
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["count"], 96, "tomorrow is published at 12:00Z");
    assert_eq!(
        ts(&body["start"]),
        "2026-01-15T23:00:00Z".parse::<Timestamp>().unwrap()
    );
    let (_, only_sim) = app
        .get_json("/api/v1/prices/history?region=germany&days=1&source=simulated")
        .await;
    assert_eq!(only_sim["count"], 54);
    let (_, none) = app
        .get_json("/api/v1/prices/history?region=germany&days=1&source=entsoe")
        .await;
    assert_eq!(none["count"], 0);
    assert!(none["statistics"].is_null());
}

#[tokio::test]
async fn statistics_trends_peak_hours_and_compare_agree_with_history() {
    let app = TestApp::spawn().await;
    let (_, history) = app
        .get_json("/api/v1/prices/history?region=netherlands&days=1")
        .await;
    let (status, stats) = app
        .get_json("/api/v1/prices/statistics?region=netherlands&days=1")
        .await;
    assert_eq!(status, StatusCode::OK, "{stats}");
    assert_eq!(stats["statistics"], history["statistics"]);
    assert_eq!(stats["period_days"], 1);
    assert_eq!(stats["currency"], "EUR");

    let (status, trend) = app
        .get_json("/api/v1/prices/trends?region=netherlands&days=1")
        .await;
    assert_eq!(status, StatusCode::OK, "{trend}");
    assert!(["increasing", "decreasing", "stable"].contains(&trend["direction"].as_str().unwrap()));
    assert_eq!(trend["data_points"], 54);

    let (status, peak) = app
        .get_json("/api/v1/prices/peak-hours?region=netherlands&days=1")
        .await;
    assert_eq!(status, StatusCode::OK, "{peak}");
    let by_hour = peak["average_by_hour"].as_object().unwrap();
    // 00:00–13:30 local have prices so far today.
    assert_eq!(by_hour.len(), 14);
    let peaks: HashSet<i64> = peak["peak_hours"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h.as_i64().unwrap())
        .collect();
    let off: HashSet<i64> = peak["off_peak_hours"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h.as_i64().unwrap())
        .collect();
    assert!(peaks.is_disjoint(&off));

    let (status, compare) = app
        .get_json("/api/v1/prices/compare?region=netherlands")
        .await;
    assert_eq!(status, StatusCode::OK, "{compare}");
    assert_eq!(compare["cheapest_source"], "simulated");
    assert_eq!(compare["sources"][0]["source"], "simulated");
    assert_eq!(compare["sources"][0]["premium_percent"], "0");
}

#[tokio::test]
async fn optimal_windows_are_the_cheapest_future_runs() {
    let app = TestApp::spawn().await;
    let (status, body) =
        app.get_json("/api/v1/prices/optimal-windows?region=germany&duration_hours=2&within_hours=24&count=3").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let windows = body["windows"].as_array().unwrap();
    assert_eq!(windows.len(), 3);
    // Check each against the stored prices independently.
    let (_, ahead) = app.get_json("/api/v1/prices/history?region=germany&start=2026-01-15T12:30:00Z&end=2026-01-16T12:30:00Z").await;
    let ahead: Vec<(Timestamp, Decimal)> = ahead["prices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (ts(&p["start"]), dec(&p["price"])))
        .collect();
    let mut best_possible = Decimal::MAX;
    for run in ahead.windows(8) {
        best_possible =
            best_possible.min(run.iter().map(|(_, p)| *p).sum::<Decimal>() / Decimal::from(8));
    }
    let mut previous = Decimal::MIN;
    for (i, w) in windows.iter().enumerate() {
        let (start, end) = (ts(&w["start"]), ts(&w["end"]));
        assert_eq!(end.duration_since(start), SignedDuration::from_hours(2));
        assert!(
            start >= "2026-01-15T12:30:00Z".parse().unwrap()
                && end <= now() + SignedDuration::from_hours(24)
        );
        let covered: Vec<Decimal> = ahead
            .iter()
            .filter(|(t, _)| *t >= start && *t < end)
            .map(|(_, p)| *p)
            .collect();
        assert_eq!(covered.len(), 8);
        let mean = (covered.iter().sum::<Decimal>() / Decimal::from(8)).round_dp(4);
        assert_eq!(dec(&w["avg_price"]), mean);
        assert!(dec(&w["avg_price"]) >= previous);
        previous = dec(&w["avg_price"]);
        assert_eq!(w["rank"], i + 1);
        assert_eq!(w["kind"], "day_ahead");
    }
    assert_eq!(dec(&windows[0]["avg_price"]), best_possible.round_dp(4));
    assert_eq!(
        ts(&body["horizon_end"]),
        "2026-01-16T23:00:00Z".parse::<Timestamp>().unwrap()
    );
}

#[tokio::test]
async fn refresh_needs_the_api_key_and_fetches() {
    let app = TestApp::spawn().await;
    let (status, body) = app
        .post_json("/api/v1/prices/refresh?region=germany", None)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_error(&body, "missing_api_key");
    let (status, body) = app
        .post_json("/api/v1/prices/refresh?region=germany", Some("wrong"))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_error(&body, "invalid_api_key");
    let (status, body) = app
        .post_json("/api/v1/prices/refresh?region=germany,uk", Some(API_KEY))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "refreshed");
    // Germany: today and (published) tomorrow; the UK has not published tomorrow at 12:30Z.
    assert_eq!(body["synced_records"], 96 + 96 + 48);
    assert_eq!(
        body["regions_covered"],
        serde_json::json!(["uk", "germany"])
    );
    assert_eq!(body["reports"][0]["days"].as_array().unwrap().len(), 1);
    assert_eq!(body["reports"][1]["days"][1]["day"], "2026-01-16");
    let (status, body) = app.post_json("/api/v1/prices/refresh", Some(API_KEY)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["regions_covered"].as_array().unwrap().len(), 14);
}

#[tokio::test]
async fn refresh_without_a_configured_key_is_503_but_a_missing_key_is_still_401() {
    let app = TestApp::spawn_with(|s| s.security.api_key = None).await;
    let (status, body) = app
        .post_json("/api/v1/prices/refresh", Some("anything"))
        .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_error(&body, "api_key_not_configured");
    let (status, _) = app.post_json("/api/v1/prices/refresh", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn disabled_regions_are_404() {
    let app =
        TestApp::spawn_with(|s| s.regions.enabled = vec![wattline_actors::domain::Region::Uk])
            .await;
    let (status, body) = app.get_json("/api/v1/prices/current?region=germany").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_error(&body, "region_disabled");
    let (status, _) = app.get_json("/api/v1/prices/current?region=uk").await;
    assert_eq!(status, StatusCode::OK);
}

/// Recent ranges are answered from the cache, long ones from the per-day statistics in storage:
/// an engine that reads everything from memory and one that reads everything from storage give
/// the same answers, over the same stored history (40 days of Germany and the UK).
#[tokio::test]
async fn ranges_answer_the_same_from_memory_and_from_storage() {
    let dir = tempfile::tempdir().unwrap();
    let start = |memory: &str| {
        let mut settings = crate::helpers::test_settings(dir.path());
        settings.regions.enabled = vec![
            wattline_actors::domain::Region::Germany,
            wattline_actors::domain::Region::Uk,
        ];
        settings.forecast.enabled = false;
        settings.forecast.bootstrap_days = 40;
        settings.prices.memory = wattline::config::human::parse_duration(memory).unwrap();
        TestApp::start(settings, now())
    };
    let queries = [
        "/api/v1/prices/statistics?region=germany&days=1",
        "/api/v1/prices/statistics?region=germany&days=7",
        "/api/v1/prices/statistics?region=germany&days=35",
        "/api/v1/prices/statistics?region=uk&days=30",
        "/api/v1/prices/history?region=germany&days=7&limit=100",
        "/api/v1/prices/history?region=germany&days=35&limit=50",
        "/api/v1/prices/history?region=germany&start=2025-12-20&end=2026-01-10&limit=30&cursor=2025-12-21T10:00:00Z",
        "/api/v1/prices/history?region=uk&days=20&source=simulated&limit=10",
        "/api/v1/prices/trends?region=germany&days=30",
        "/api/v1/prices/peak-hours?region=uk&days=30",
        "/api/v1/prices/compare?region=germany&days=3",
    ];
    let mut answers = Vec::new();
    for memory in ["60d", "0s"] {
        let app = start(memory).await;
        // Wait for the history load to finish (and the cache to have reloaded it).
        for _ in 0..500 {
            let children = app.root.children().await.unwrap();
            if children
                .iter()
                .any(|c| c.name == "history-bootstrap" && c.state.to_string() == "finished")
            {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        let mut these = Vec::new();
        for query in queries {
            let (status, mut body) = app.get_json(query).await;
            assert_eq!(status, StatusCode::OK, "{query}: {body}");
            if let Some(map) = body.as_object_mut() {
                map.remove("generated_at");
            }
            these.push(body);
        }
        answers.push(these);
        app.stop().await.unwrap();
    }
    for (i, query) in queries.iter().enumerate() {
        assert_eq!(answers[0][i], answers[1][i], "{query}");
    }
    // The long range really covers the history: 35 days of quarter-hours.
    assert!(answers[0][2]["statistics"]["count"].as_u64().unwrap() > 33 * 96);
}
