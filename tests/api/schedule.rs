//! Optimal start times and appliance schedules over HTTP, each answer checked independently
//! against the published prices: every constraint holds, costs and savings add up, and small
//! schedules are the cheapest possible (by exhaustive search here).

use std::collections::BTreeMap;

use jiff::{SignedDuration, Timestamp};
use reqwest::StatusCode;
use rust_decimal::prelude::ToPrimitive;
use serde_json::{Value, json};
use wattline::Settings;
use wattline_actors::domain::Region;

use crate::helpers::{TestApp, assert_error, dec, ts};

const QUARTER: SignedDuration = SignedDuration::from_mins(15);

fn germany_only(settings: &mut Settings) {
    settings.regions.enabled = vec![Region::Germany];
}

/// Published German prices (EUR/MWh) by quarter-hour start, from now to the end of tomorrow.
async fn prices(app: &TestApp) -> BTreeMap<Timestamp, f64> {
    let (status, body) = app
        .get_json("/api/v1/prices/history?region=germany&start=2026-01-15T12:30:00Z&end=2026-01-16T23:00:00Z")
        .await;
    assert_eq!(status, StatusCode::OK);
    body["prices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (ts(&p["start"]), dec(&p["price"]).to_f64().unwrap()))
        .collect()
}

fn quarters(start: Timestamp, end: Timestamp) -> Vec<Timestamp> {
    std::iter::successors(Some(start), |t| Some(*t + QUARTER))
        .take_while(|t| *t < end)
        .collect()
}

#[tokio::test]
async fn optimal_times_are_the_cheapest_runs_in_the_window() {
    let app = TestApp::spawn_with(germany_only).await;
    let prices = prices(&app).await;
    let request = json!({
        "region": "germany", "duration_minutes": 120, "count": 3, "power_kw": 2.0,
        "earliest_start": "2026-01-15T18:00", "latest_end": "2026-01-16T12:00:00+01:00"
    });
    let (status, body) = app
        .post_body("/api/v1/ml/predict/optimal-times", &request)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (from, to): (Timestamp, Timestamp) = (
        "2026-01-15T17:00:00Z".parse().unwrap(),
        "2026-01-16T11:00:00Z".parse().unwrap(),
    );
    assert_eq!(ts(&body["earliest_start"]), from, "18:00 in Berlin");
    assert_eq!(ts(&body["latest_end"]), to);
    let avg = |start: Timestamp| {
        quarters(start, start + SignedDuration::from_hours(2))
            .iter()
            .map(|t| prices[t])
            .sum::<f64>()
            / 8.0
    };
    let best = quarters(from, to - SignedDuration::from_hours(2) + QUARTER)
        .into_iter()
        .map(avg)
        .fold(f64::INFINITY, f64::min);
    let times = body["times"].as_array().unwrap();
    assert_eq!(times.len(), 3);
    let mut taken: Vec<(Timestamp, Timestamp)> = Vec::new();
    let mut previous = f64::MIN;
    for (i, t) in times.iter().enumerate() {
        let (start, end) = (ts(&t["start"]), ts(&t["end"]));
        assert_eq!(t["rank"], i + 1);
        assert_eq!(end.duration_since(start), SignedDuration::from_hours(2));
        assert!(start >= from && end <= to, "{t}");
        assert!(
            taken.iter().all(|(s, e)| end <= *s || start >= *e),
            "runs do not overlap"
        );
        taken.push((start, end));
        let price = dec(&t["avg_price"]).to_f64().unwrap();
        assert!((price - avg(start)).abs() < 0.006, "{t} vs {}", avg(start));
        assert!(price >= previous);
        previous = price;
        let cost = dec(&t["cost"]).to_f64().unwrap();
        assert!(
            (cost - avg(start) / 1000.0 * 2.0 * 2.0).abs() < 0.0001,
            "{t}"
        );
        assert_eq!(t["kind"], "day_ahead");
        assert!(
            t["start_local"]
                .as_str()
                .unwrap()
                .contains("+01:00[Europe/Berlin]"),
            "{t}"
        );
    }
    assert!((dec(&times[0]["avg_price"]).to_f64().unwrap() - best).abs() < 0.006);
}

/// Checks a schedule against every constraint of `request` and recomputes its money.
fn check_schedule(request: &Value, body: &Value, prices: &BTreeMap<Timestamp, f64>) -> f64 {
    let limit = request["power_limit_kw"].as_f64();
    let mut load: BTreeMap<Timestamp, f64> = BTreeMap::new();
    let mut running: BTreeMap<String, Vec<Timestamp>> = BTreeMap::new();
    let mut total = 0.0;
    for (spec, plan) in request["appliances"]
        .as_array()
        .unwrap()
        .iter()
        .zip(body["appliances"].as_array().unwrap())
    {
        let name = spec["name"].as_str().unwrap();
        assert_eq!(plan["name"], name);
        let power = spec["power_kw"].as_f64().unwrap();
        let earliest: Timestamp = spec["earliest_start"].as_str().unwrap().parse().unwrap();
        let deadline: Timestamp = spec["deadline"].as_str().unwrap().parse().unwrap();
        let minutes = spec["duration_minutes"].as_u64().unwrap_or_else(|| {
            let hours = spec["energy_kwh"].as_f64().unwrap() / power;
            ((hours * 4.0).ceil() * 15.0) as u64
        });
        let min_run = spec["min_run_minutes"]
            .as_u64()
            .unwrap_or(if spec["mode"] == "splittable" {
                15
            } else {
                minutes
            });
        let runs = plan["runs"].as_array().unwrap();
        if spec["mode"] != "splittable" {
            assert_eq!(runs.len(), 1, "{name} runs in one block");
        }
        let mut slots = Vec::new();
        for run in runs {
            let (start, end) = (ts(&run["start"]), ts(&run["end"]));
            assert!(
                start >= earliest && end <= deadline,
                "{name} inside its window: {run}"
            );
            assert!(
                end.duration_since(start).as_mins() as u64 >= min_run,
                "{name} block of at least {min_run} min"
            );
            slots.extend(quarters(start, end));
        }
        assert_eq!(
            slots.len() as u64 * 15,
            minutes,
            "{name} runs exactly its time"
        );
        let cost: f64 = slots
            .iter()
            .map(|t| prices[t] / 1000.0 * power * 0.25)
            .sum();
        if let Some(cap) = spec["max_price"].as_str() {
            let cap: f64 = cap.parse().unwrap();
            assert!(
                slots.iter().all(|t| prices[t] <= cap),
                "{name} never above its cap"
            );
        }
        assert!(
            (dec(&plan["cost"]).to_f64().unwrap() - cost).abs() < 0.0002,
            "{name} cost {} vs {cost}",
            plan["cost"]
        );
        let baseline: f64 = quarters(
            earliest,
            earliest + SignedDuration::from_mins(minutes as i64),
        )
        .iter()
        .map(|t| prices[t] / 1000.0 * power * 0.25)
        .sum();
        assert!(
            (dec(&plan["baseline_cost"]).to_f64().unwrap() - baseline).abs() < 0.0002,
            "{name} baseline"
        );
        assert!((dec(&plan["savings"]).to_f64().unwrap() - (baseline - cost)).abs() < 0.0003);
        assert!(
            cost <= baseline + 1e-9,
            "never dearer than starting at the earliest start"
        );
        assert!(plan["why"].as_str().unwrap().starts_with("Runs "));
        for t in &slots {
            *load.entry(*t).or_default() += power;
        }
        running.insert(name.to_string(), slots);
        total += cost;
    }
    if let Some(limit) = limit {
        assert!(
            load.values().all(|l| *l <= limit + 1e-9),
            "power limit holds"
        );
    }
    for pair in request["exclusions"].as_array().into_iter().flatten() {
        let (a, b) = (
            &running[pair[0].as_str().unwrap()],
            &running[pair[1].as_str().unwrap()],
        );
        assert!(a.iter().all(|t| !b.contains(t)), "{pair} never together");
    }
    assert!((dec(&body["total_cost"]).to_f64().unwrap() - total).abs() < 0.0005);
    total
}

#[tokio::test]
async fn schedules_satisfy_every_constraint_and_report_their_savings() {
    let app = TestApp::spawn_with(germany_only).await;
    let prices = prices(&app).await;
    let request = json!({
        "region": "germany",
        "power_limit_kw": 8.0,
        "exclusions": [["washer", "dryer"]],
        "appliances": [
            {"name": "washer", "power_kw": 2.0, "duration_minutes": 120,
             "earliest_start": "2026-01-15T18:00:00Z", "deadline": "2026-01-16T08:00:00Z"},
            {"name": "dryer", "power_kw": 2.5, "duration_minutes": 90,
             "earliest_start": "2026-01-15T18:00:00Z", "deadline": "2026-01-16T08:00:00Z"},
            {"name": "car", "power_kw": 7.0, "energy_kwh": 20.0, "mode": "splittable", "min_run_minutes": 30,
             "earliest_start": "2026-01-15T13:00:00Z", "deadline": "2026-01-16T20:00:00Z", "max_price": "120"}
        ]
    });
    let (status, body) = app
        .post_body("/api/v1/optimization/schedule", &request)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let total = check_schedule(&request, &body, &prices);
    assert_eq!(body["solver"]["status"], "optimal", "{body}");
    assert!(["independent", "milp"].contains(&body["solver"]["method"].as_str().unwrap()));
    assert!(dec(&body["solver"]["lower_bound"]).to_f64().unwrap() <= total + 0.0005);
    assert_eq!(body["currency"], "EUR");
    assert_eq!(
        body["baseline"],
        "each appliance started at its earliest start"
    );

    let (status, savings) = app.post_body("/api/v1/ml/predict/savings", &request).await;
    assert_eq!(status, StatusCode::OK, "{savings}");
    assert_eq!(savings["savings"], body["total_savings"]);
    assert_eq!(savings["optimized_cost"], body["total_cost"]);
    let percent = savings["savings_percent"].as_f64().unwrap();
    let expected = dec(&body["total_savings"]).to_f64().unwrap()
        / dec(&body["baseline_cost"]).to_f64().unwrap()
        * 100.0;
    assert!((percent - expected).abs() < 0.06, "{percent} vs {expected}");
}

#[tokio::test]
async fn a_binding_power_limit_still_gives_the_cheapest_plan() {
    let app = TestApp::spawn_with(germany_only).await;
    let prices = prices(&app).await;
    // Two heavy loads that cannot overlap under the limit, in a 10-hour window.
    let (from, to): (Timestamp, Timestamp) = (
        "2026-01-15T20:00:00Z".parse().unwrap(),
        "2026-01-16T06:00:00Z".parse().unwrap(),
    );
    let request = json!({
        "region": "germany",
        "power_limit_kw": 10.0,
        "appliances": [
            {"name": "heat pump", "power_kw": 6.0, "duration_minutes": 180, "earliest_start": from.to_string(), "deadline": to.to_string()},
            {"name": "boiler", "power_kw": 5.0, "duration_minutes": 120, "earliest_start": from.to_string(), "deadline": to.to_string()}
        ]
    });
    let (status, body) = app
        .post_body("/api/v1/optimization/schedule", &request)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let total = check_schedule(&request, &body, &prices);
    let cost = |start: Timestamp, quarters_n: i64, power: f64| {
        quarters(start, start + QUARTER * quarters_n as i32)
            .iter()
            .map(|t| prices[t] / 1000.0 * power * 0.25)
            .sum::<f64>()
    };
    let mut best = f64::INFINITY;
    for a in quarters(from, to - QUARTER * 11) {
        for b in quarters(from, to - QUARTER * 7) {
            let (a_end, b_end) = (a + QUARTER * 12, b + QUARTER * 8);
            if a < b_end && b < a_end {
                continue; // 11 kW together
            }
            best = best.min(cost(a, 12, 6.0) + cost(b, 8, 5.0));
        }
    }
    assert!(
        (total - best).abs() < 0.0005,
        "schedule {total}, exhaustive best {best}"
    );
    assert_eq!(body["solver"]["status"], "optimal");
}

#[tokio::test]
async fn a_heuristic_answer_says_so_and_still_holds() {
    let app = TestApp::spawn_with(|s| {
        germany_only(s);
        s.optimization.max_exact_binaries = std::num::NonZeroUsize::new(10).unwrap();
    })
    .await;
    let prices = prices(&app).await;
    let request = json!({
        "region": "germany",
        "power_limit_kw": 6.0,
        "appliances": [
            {"name": "a", "power_kw": 4.0, "duration_minutes": 180, "earliest_start": "2026-01-15T20:00:00Z", "deadline": "2026-01-16T06:00:00Z"},
            {"name": "b", "power_kw": 3.0, "duration_minutes": 180, "earliest_start": "2026-01-15T20:00:00Z", "deadline": "2026-01-16T06:00:00Z"}
        ]
    });
    let (status, body) = app
        .post_body("/api/v1/optimization/schedule", &request)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    check_schedule(&request, &body, &prices);
    assert_eq!(body["solver"]["method"], "greedy");
    if body["solver"]["status"] == "heuristic" {
        assert!(body["solver"]["gap"].as_f64().unwrap() >= 0.0);
    }
}

#[tokio::test]
async fn infeasible_and_malformed_schedules_are_explained() {
    let app = TestApp::spawn_with(germany_only).await;
    let appliance = |name: &str, power: f64, minutes: u32, from: &str, to: &str| json!({"name": name, "power_kw": power, "duration_minutes": minutes, "earliest_start": from, "deadline": to});
    let window = ("2026-01-15T20:00:00Z", "2026-01-15T22:00:00Z");
    for (request, constraint, appliance_name) in [
        (
            json!({"region": "germany", "appliances": [appliance("oven", 2.0, 180, window.0, window.1)]}),
            "window",
            json!("oven"),
        ),
        (
            json!({"region": "germany", "power_limit_kw": 3.0, "appliances": [appliance("kiln", 5.0, 60, window.0, window.1)]}),
            "power_limit_kw",
            json!("kiln"),
        ),
        (
            json!({"region": "germany", "appliances": [{"name": "ev", "power_kw": 7.0, "duration_minutes": 60,
                "earliest_start": window.0, "deadline": window.1, "max_price": "-500"}]}),
            "price_cap",
            json!("ev"),
        ),
        (
            json!({"region": "germany", "power_limit_kw": 5.0,
                "appliances": [appliance("a", 3.0, 90, window.0, window.1), appliance("b", 3.0, 60, window.0, window.1)]}),
            "power_limit_kw",
            Value::Null,
        ),
        (
            json!({"region": "germany", "exclusions": [["a", "b"]],
                "appliances": [appliance("a", 1.0, 90, window.0, window.1), appliance("b", 1.0, 60, window.0, window.1)]}),
            "exclusions",
            Value::Null,
        ),
    ] {
        let (status, body) = app
            .post_body("/api/v1/optimization/schedule", &request)
            .await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{request}: {body}"
        );
        assert_error(&body, "infeasible");
        assert_eq!(body["error"]["details"]["constraint"], constraint, "{body}");
        assert_eq!(
            body["error"]["details"]["appliance"], appliance_name,
            "{body}"
        );
    }
    let ok = appliance("ok", 1.0, 60, window.0, window.1);
    for (request, field) in [
        (
            json!({"region": "germany", "appliances": [ok.clone(), ok.clone()]}),
            "appliances[1].name",
        ),
        (json!({"region": "germany", "appliances": []}), "appliances"),
        (
            json!({"region": "germany", "appliances": [appliance("x", 1.0, 50, window.0, window.1)]}),
            "appliances[0].duration_minutes",
        ),
        (
            json!({"region": "germany", "appliances": [appliance("x", 0.0, 60, window.0, window.1)]}),
            "appliances[0].power_kw",
        ),
        (
            json!({"region": "germany", "appliances": [appliance("x", 1.0, 60, window.1, window.0)]}),
            "appliances[0].deadline",
        ),
        (
            json!({"region": "germany", "appliances": [appliance("x", 1.0, 60, "2026-01-10T00:00:00Z", window.1)]}),
            "appliances[0].earliest_start",
        ),
        (
            json!({"region": "germany", "appliances": [appliance("x", 1.0, 60, window.0, "2026-03-01T00:00:00Z")]}),
            "appliances[0].deadline",
        ),
        (
            json!({"region": "germany", "appliances": [appliance("x", 1.0, 60, "soon", window.1)]}),
            "appliances[0].earliest_start",
        ),
        (
            json!({"region": "germany", "exclusions": [["ok", "ghost"]], "appliances": [ok.clone()]}),
            "exclusions[0]",
        ),
        (
            json!({"region": "germany", "power_limit_kw": -1, "appliances": [ok.clone()]}),
            "power_limit_kw",
        ),
    ] {
        app.assert_invalid_field("/api/v1/optimization/schedule", &request, field)
            .await;
    }
    for (request, code, status_code) in [
        (
            json!({"region": "germany", "appliances": [ok.clone()], "budget": 3}),
            "invalid_body",
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            json!({"region": "germany", "appliances": "all of them"}),
            "invalid_body",
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            json!({"region": "narnia", "appliances": [ok.clone()]}),
            "unknown_region",
            StatusCode::BAD_REQUEST,
        ),
        (
            json!({"region": "france", "appliances": [ok.clone()]}),
            "region_disabled",
            StatusCode::NOT_FOUND,
        ),
    ] {
        let (status, body) = app
            .post_body("/api/v1/optimization/schedule", &request)
            .await;
        assert_eq!(status, status_code, "{request}: {body}");
        assert_error(&body, code);
    }
    for path in [
        "/api/v1/ml/predict/optimal-times",
        "/api/v1/ml/predict/savings",
        "/api/v1/optimization/schedule",
    ] {
        let response = app
            .client
            .post(app.url(path))
            .header("content-type", "application/json")
            .body("{")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{path}");
        assert_error(&response.json().await.unwrap(), "malformed_json");
    }
    for (request, field) in [
        (
            json!({"region": "germany", "duration_minutes": 0}),
            "duration_minutes",
        ),
        (
            json!({"region": "germany", "duration_minutes": 1500}),
            "duration_minutes",
        ),
        (
            json!({"region": "germany", "duration_minutes": 60, "count": 11}),
            "count",
        ),
        (
            json!({"region": "germany", "duration_minutes": 60, "latest_end": "2026-02-01T00:00:00Z"}),
            "latest_end",
        ),
        (
            json!({"region": "germany", "duration_minutes": 240, "earliest_start": "2026-01-16T21:00:00Z"}),
            "latest_end",
        ),
        (
            json!({"region": "germany", "duration_minutes": 60, "time_zone": "Nowhere/City"}),
            "time_zone",
        ),
    ] {
        app.assert_invalid_field("/api/v1/ml/predict/optimal-times", &request, field)
            .await;
    }
}
