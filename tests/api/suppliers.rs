//! The supplier catalogue (seeded, paged, filtered, edited by operators), the annual-cost
//! comparison, preferences and recommendations.

use reqwest::StatusCode;
use rust_decimal::Decimal;
use serde_json::{Value, json};

use crate::auth::sign_up;
use crate::helpers::{API_KEY, TestApp, assert_error, dec};

async fn send(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
    auth: Option<&str>,
) -> (StatusCode, Value) {
    let mut request = app.client.request(method, app.url(path));
    if let Some(body) = body {
        request = request.json(&body);
    }
    match auth {
        Some(key) if key.starts_with("Bearer ") => request = request.header("authorization", key),
        Some(key) => request = request.header("x-api-key", key),
        None => {}
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

fn bearer(tokens: &Value) -> String {
    format!("Bearer {}", tokens["access_token"].as_str().unwrap())
}

#[tokio::test]
async fn the_seeded_catalogue_is_paged_filtered_and_sourced() {
    let app = TestApp::spawn().await;
    let (status, page) = app.get_json("/api/v1/suppliers?page_size=5").await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(page["suppliers"].as_array().unwrap().len(), 5);
    assert_eq!(page["page"], 1);
    assert_eq!(page["page_size"], 5);
    let total = page["total"].as_u64().unwrap();
    assert!(total >= 30, "{total}");
    // The last page holds the rest; past it, nothing.
    let last = total.div_ceil(5);
    let (_, tail) = app
        .get_json(&format!("/api/v1/suppliers?page_size=5&page={last}"))
        .await;
    assert_eq!(
        tail["suppliers"].as_array().unwrap().len() as u64,
        total - 5 * (last - 1)
    );
    let (_, past) = app
        .get_json(&format!("/api/v1/suppliers?page_size=5&page={}", last + 1))
        .await;
    assert!(past["suppliers"].as_array().unwrap().is_empty());
    // Filters really filter, and total counts after filtering.
    let (_, uk) = app
        .get_json("/api/v1/suppliers?region=uk&page_size=100")
        .await;
    let names: Vec<&str> = uk["suppliers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"Octopus Energy") && names.contains(&"British Gas"),
        "{names:?}"
    );
    assert_eq!(uk["total"].as_u64().unwrap() as usize, names.len());
    let (_, green) = app
        .get_json("/api/v1/suppliers?region=uk&green_only=true&page_size=100")
        .await;
    assert!(green["total"].as_u64().unwrap() < uk["total"].as_u64().unwrap());
    assert!(
        green["suppliers"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["green_provider"] == true)
    );
    for (query, field) in [
        ("page=0", "page"),
        ("page_size=0", "page_size"),
        ("page_size=101", "page_size"),
    ] {
        let (status, body) = app.get_json(&format!("/api/v1/suppliers?{query}")).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{query}");
        assert_eq!(body["error"]["details"]["field"], field);
    }
    let (status, body) = app.get_json("/api/v1/suppliers?region=atlantis").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_error(&body, "unknown_region");

    // One supplier, its tariffs, 404 naming the id.
    let (status, octopus) = app.get_json("/api/v1/suppliers/octopus-energy").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(octopus["name"], "Octopus Energy");
    let (status, tariffs) = app
        .get_json("/api/v1/suppliers/octopus-energy/tariffs?available_only=true")
        .await;
    assert_eq!(status, StatusCode::OK);
    let tariffs = tariffs["tariffs"].as_array().unwrap();
    let cap = tariffs
        .iter()
        .find(|t| t["id"] == "octopus-energy-standard-variable")
        .unwrap();
    assert_eq!(cap["rates"]["unit_rate"], "0.2635");
    assert_eq!(cap["standing_charge"], "0.5368");
    assert_eq!(cap["example"], false);
    assert!(cap["source"].as_str().unwrap().contains("Ofgem"));
    let agile = tariffs
        .iter()
        .find(|t| t["tariff_type"] == "agile")
        .unwrap();
    assert_eq!(agile["example"], true, "unsourced figures say so");
    let (status, body) = app.get_json("/api/v1/suppliers/no-such-supplier").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(assert_error(&body, "supplier_not_found").contains("no-such-supplier"));
    let (status, region) = app.get_json("/api/v1/suppliers/region/us_tx").await;
    assert_eq!(status, StatusCode::OK);
    let tx = region["suppliers"].as_array().unwrap();
    assert!(tx.iter().all(|s| {
        s["tariffs"]
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t["region"] == "us_tx")
    }));
    assert!(
        tx.iter()
            .flat_map(|s| s["tariffs"].as_array().unwrap())
            .any(|t| t["source"].as_str().unwrap().contains("EIA-861"))
    );
}

#[tokio::test]
async fn a_comparison_ranks_by_annual_cost_and_filters_by_type() {
    let app = TestApp::spawn().await;
    let (status, cmp) = app
        .get_json("/api/v1/suppliers/compare/uk?annual_kwh=2700&shape=flat&current_tariff_id=british-gas-standard-variable")
        .await;
    assert_eq!(status, StatusCode::OK, "{cmp}");
    assert_eq!(cmp["profile"]["annual_kwh"], 2700.0);
    let ranked = cmp["tariffs"].as_array().unwrap();
    let costs: Vec<Decimal> = ranked.iter().map(|t| dec(&t["annual_cost"])).collect();
    assert!(
        costs.windows(2).all(|w| w[0] <= w[1]),
        "cheapest first: {costs:?}"
    );
    // The price-cap tariff: 2 700 × 0.2635 + 365 × 0.5368 = 711.45 + 195.93.
    let cap = ranked
        .iter()
        .find(|t| t["tariff_id"] == "british-gas-standard-variable")
        .unwrap();
    assert_eq!(cap["annual_cost"], "907.38");
    assert_eq!(cap["saving_vs_current"], "0.00");
    let cheaper = &ranked[0];
    assert!(dec(&cheaper["saving_vs_current"]) >= Decimal::ZERO);
    // Dynamic tariffs were priced against stored (simulated) prices, and the answer says so.
    assert!(ranked.iter().any(|t| t["tariff_type"] == "agile"), "{cmp}");
    assert!(cmp["prices"]["days"].as_f64().unwrap() > 0.0);
    assert_eq!(cmp["prices"]["sources"], json!(["simulated"]));

    let (_, only_fixed) = app
        .get_json("/api/v1/suppliers/compare/uk?tariff_type=fixed")
        .await;
    let fixed = only_fixed["tariffs"].as_array().unwrap();
    assert!(!fixed.is_empty() && fixed.iter().all(|t| t["tariff_type"] == "fixed"));
    assert_eq!(
        only_fixed["profile"]["annual_kwh"], 2700.0,
        "the UK default"
    );
    let (status, body) = app
        .get_json("/api/v1/suppliers/compare/uk?tariff_type=cheap")
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_error(&body, "invalid_field");

    // A profile in the body: a metered series whose night use makes the night tariff win.
    let start: jiff::Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
    let mut csv = String::from("start,kwh\n");
    for h in 0..24 * 14 {
        let at = start + jiff::SignedDuration::from_hours(h);
        let kwh = if (1..6).contains(&(h % 24)) { 2.0 } else { 0.1 };
        csv.push_str(&format!("{at},{kwh}\n"));
    }
    let (status, night) = app
        .post_body(
            "/api/v1/suppliers/compare",
            &json!({ "region": "uk", "consumption_csv": csv, "tariff_type": "time_of_use" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{night}");
    assert_eq!(night["profile"]["shape"], "series");
    let series_kwh = night["profile"]["annual_kwh"].as_f64().unwrap();
    assert!(
        (series_kwh - (5.0 * 2.0 + 19.0 * 0.1) * 365.0).abs() < 1.0,
        "{series_kwh}"
    );
    let (_, day) = app
        .post_body(
            "/api/v1/suppliers/compare",
            &json!({ "region": "uk", "annual_kwh": series_kwh, "shape": "flat", "tariff_type": "time_of_use" }),
        )
        .await;
    let cost_of = |answer: &Value, id: &str| {
        dec(&answer["tariffs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["tariff_id"] == id)
            .unwrap()["annual_cost"])
    };
    assert!(
        cost_of(&night, "octopus-energy-go") < cost_of(&day, "octopus-energy-go"),
        "the same kWh at night costs less on a night tariff"
    );
    for (body, field) in [
        (json!({ "region": "uk", "annual_kwh": 0 }), "annual_kwh"),
        (
            json!({ "region": "uk", "shape": "custom" }),
            "hourly_weights",
        ),
        (
            json!({ "region": "uk", "shape": "custom", "hourly_weights": [1, 2] }),
            "hourly_weights",
        ),
        (
            json!({ "region": "uk", "consumption_csv": "start,kwh\nyesterday,1\n" }),
            "consumption_csv",
        ),
    ] {
        app.assert_invalid_field("/api/v1/suppliers/compare", &body, field)
            .await;
    }
}

#[tokio::test]
async fn operators_edit_the_catalogue_with_the_admin_scope_only() {
    let app = TestApp::spawn().await;
    let tariff = json!({
        "supplier_id": "tibber-de", "region": "germany", "name": "Pulse Test",
        "rates": { "type": "dynamic", "factor": "1.0", "margin": "0.20", "floor": "0" },
        "standing_charge": "0.40", "currency": "EUR", "green_share": 100,
        "contract_length": "monthly", "source": "operator test", "example": true
    });
    let put = reqwest::Method::PUT;
    let path = "/api/v1/admin/tariffs/tibber-de-pulse-test";
    let (status, _) = send(&app, put.clone(), path, Some(tariff.clone()), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let user = bearer(&sign_up(&app, "user@example.com").await);
    let (status, body) = send(&app, put.clone(), path, Some(tariff.clone()), Some(&user)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_error(&body, "insufficient_scope");
    let (status, created) =
        send(&app, put.clone(), path, Some(tariff.clone()), Some(API_KEY)).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let (_, listed) = app.get_json("/api/v1/suppliers/tibber-de/tariffs").await;
    assert!(
        listed["tariffs"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["name"] == "Pulse Test")
    );
    // Checked as the seed is: a dynamic tariff in another currency than its region's prices.
    let mut bad = tariff.clone();
    bad["currency"] = json!("GBP");
    bad["green_share"] = json!(120);
    let (status, body) = send(&app, put.clone(), path, Some(bad), Some(API_KEY)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let problems = body["error"]["details"]["problems"].to_string();
    assert!(
        problems.contains("currency") && problems.contains("green_share"),
        "{problems}"
    );
    let mut elsewhere = tariff.clone();
    elsewhere["region"] = json!("uk");
    let (status, body) = send(&app, put.clone(), path, Some(elsewhere), Some(API_KEY)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body.to_string().contains("does not serve uk"));
    // A supplier: created, then deleted with its tariffs.
    let (status, _) = send(
        &app,
        put.clone(),
        "/api/v1/admin/suppliers/new-energy",
        Some(json!({ "name": "New Energy", "regions": ["uk"], "green_provider": true })),
        Some(API_KEY),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, _) = send(
        &app,
        reqwest::Method::DELETE,
        "/api/v1/admin/suppliers/new-energy",
        None,
        Some(API_KEY),
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = app.get_json("/api/v1/suppliers/new-energy").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = send(&app, reqwest::Method::DELETE, path, None, Some(API_KEY)).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, body) = send(&app, reqwest::Method::DELETE, path, None, Some(API_KEY)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_error(&body, "tariff_not_found");
}

#[tokio::test]
async fn preferences_round_trip_are_validated_and_private() {
    let app = TestApp::spawn().await;
    let ada = bearer(&sign_up(&app, "ada@example.com").await);
    let bob = bearer(&sign_up(&app, "bob@example.com").await);
    let path = "/api/v1/user/preferences";
    let (status, _) = app.get_json(path).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, defaults) = send(&app, reqwest::Method::GET, path, None, Some(&ada)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(defaults["notifications"]["frequency"], "daily");
    let document = json!({
        "region": "uk", "current_supplier_id": "british-gas",
        "current_tariff_id": "british-gas-standard-variable",
        "consumption": { "annual_kwh": 3100, "shape": "household" },
        "appliances": [{ "name": "Dishwasher", "power_kw": 1.2, "duration_hours": 2 }],
        "notifications": { "frequency": "hourly", "channels": ["email", "webhook"] },
        "green_only": false
    });
    let (status, stored) = send(
        &app,
        reqwest::Method::PUT,
        path,
        Some(document.clone()),
        Some(&ada),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{stored}");
    let (_, read) = send(&app, reqwest::Method::GET, path, None, Some(&ada)).await;
    assert_eq!(read, stored);
    assert_eq!(read["consumption"]["annual_kwh"], 3100.0);
    // POST changes only the fields given.
    let (status, merged) = send(
        &app,
        reqwest::Method::POST,
        path,
        Some(json!({ "green_only": true })),
        Some(&ada),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{merged}");
    assert_eq!(merged["green_only"], true);
    assert_eq!(merged["appliances"][0]["name"], "Dishwasher");
    // PUT replaces: what is left out goes back to its default.
    let (_, replaced) = send(
        &app,
        reqwest::Method::PUT,
        path,
        Some(json!({ "region": "germany" })),
        Some(&ada),
    )
    .await;
    assert!(replaced["appliances"].as_array().unwrap().is_empty());
    // Bad values: 4xx, nothing stored.
    for bad in [
        json!({ "region": "atlantis" }),
        json!({ "consumption": { "annual_kwh": -5 } }),
        json!({ "appliances": [{ "name": "x", "power_kw": 0, "duration_hours": 2 }] }),
        json!({ "notifications": { "frequency": "never" } }),
        json!({ "current_tariff_id": "no-such-tariff" }),
        json!({ "region": "germany", "current_tariff_id": "british-gas-standard-variable" }),
        json!({ "colour": "blue" }),
    ] {
        let (status, body) = send(
            &app,
            reqwest::Method::PUT,
            path,
            Some(bad.clone()),
            Some(&ada),
        )
        .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}: {body}");
    }
    let (_, after) = send(&app, reqwest::Method::GET, path, None, Some(&ada)).await;
    assert_eq!(after, replaced, "nothing stored by a refused write");
    // Bob sees his own (defaults), never Ada's.
    let (_, bobs) = send(&app, reqwest::Method::GET, path, None, Some(&bob)).await;
    assert_eq!(bobs["region"], Value::Null);
}

#[tokio::test]
async fn recommendations_follow_the_stored_profile() {
    let app = TestApp::spawn().await;
    let ada = bearer(&sign_up(&app, "ada@example.com").await);
    let path = "/api/v1/user/preferences";
    let (status, body) = send(
        &app,
        reqwest::Method::GET,
        "/api/v1/recommendations/switching",
        None,
        Some(&ada),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        body["error"]["details"]["missing"],
        json!(["region", "current_tariff_id"])
    );

    // On the price-cap tariff with a flat profile, a cheaper fixed tariff exists.
    send(
        &app,
        reqwest::Method::PUT,
        path,
        Some(json!({
            "region": "uk", "current_tariff_id": "british-gas-standard-variable",
            "consumption": { "annual_kwh": 2700, "shape": "flat" },
            "appliances": [{ "name": "EV", "power_kw": 7.0, "duration_hours": 4 }]
        })),
        Some(&ada),
    )
    .await;
    let (status, flat) = send(
        &app,
        reqwest::Method::GET,
        "/api/v1/recommendations/switching",
        None,
        Some(&ada),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{flat}");
    assert_eq!(flat["current_annual_cost"], "907.38");
    assert!(dec(&flat["annual_saving"]) > Decimal::ZERO, "{flat}");
    assert!(flat["why"].as_str().unwrap().contains("2700"));
    // More consumption: the saving grows (the answer is computed, not constant).
    send(
        &app,
        reqwest::Method::POST,
        path,
        Some(json!({ "consumption": { "annual_kwh": 5400, "shape": "flat" } })),
        Some(&ada),
    )
    .await;
    let (_, more) = send(
        &app,
        reqwest::Method::GET,
        "/api/v1/recommendations/switching",
        None,
        Some(&ada),
    )
    .await;
    assert!(
        dec(&more["annual_saving"]) > dec(&flat["annual_saving"]),
        "{more}"
    );

    // Usage: the stored EV's 4 hours, the cheapest start ahead against starting now.
    let (status, usage) = send(
        &app,
        reqwest::Method::GET,
        "/api/v1/recommendations/usage?appliance=ev",
        None,
        Some(&ada),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{usage}");
    assert_eq!(usage["power_kw"], 7.0);
    assert!(dec(&usage["average_price"]) <= dec(&usage["start_now_average_price"]));
    assert!(dec(&usage["saving"]) >= Decimal::ZERO);
    let (_, short) = send(
        &app,
        reqwest::Method::GET,
        "/api/v1/recommendations/usage?appliance=ev&duration_hours=1",
        None,
        Some(&ada),
    )
    .await;
    assert_eq!(short["duration_hours"], 1.0);
    let (status, _) = send(
        &app,
        reqwest::Method::GET,
        "/api/v1/recommendations/usage?duration_hours=30",
        None,
        Some(&ada),
    )
    .await;
    assert!(status.is_client_error());
    let (status, body) = send(
        &app,
        reqwest::Method::GET,
        "/api/v1/recommendations/usage?appliance=kettle",
        None,
        Some(&ada),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
}
