//! Provider clients against loopback fakes (wiremock) answering in the providers' documented
//! shapes: successes, errors, empty answers, truncated days, odd units and DST days; and their
//! parsers on arbitrary input.

#[path = "common/fixtures.rs"]
mod fixtures;

use std::sync::Arc;
use std::time::Duration;

use fixtures::{Series, a44, acknowledgement, day_price, entsoe_period, octopus_results};
use jiff::civil::{Date, date};
use jiff::{SignedDuration, Timestamp};
use proptest::prelude::*;
use rust_decimal::Decimal;
use wattline::config::Secret;
use wattline::providers::eia::{Eia, parse_rows};
use wattline::providers::entsoe::{Entsoe, parse_a44};
use wattline::providers::flatpeak::{Flatpeak, parse_rates};
use wattline::providers::octopus::{Octopus, parse_page};
use wattline::providers::openweathermap::{OpenWeatherMap, parse_forecast};
use wattline::providers::{ProviderHttp, RetryPolicy};
use wattline_actors::domain::calendar::day_bounds;
use wattline_actors::domain::{EnergyUnit, PriceKind, Region, Source};
use wattline_actors::fetcher::cycle::validate_day;
use wattline_actors::ports::{PriceSource, SourceError, SourceRole, WeatherSource};
use wattline_actors::testing::ManualClock;
use wiremock::matchers::{header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

const TOKEN: &str = "entsoe-secret-token-0000";
const DE_LU: &str = "10Y1001A1001A82H";
const NL: &str = "10YNL----------L";

fn http() -> ProviderHttp {
    ProviderHttp::new(
        Duration::from_millis(500),
        RetryPolicy {
            attempts: 3,
            backoff: Duration::from_millis(10),
            max_retry_after: Duration::from_secs(2),
        },
    )
    .unwrap()
}

fn entsoe(server: &MockServer, now: &str) -> Entsoe {
    Entsoe::new(
        http(),
        format!("{}/api", server.uri()),
        Secret::new(TOKEN),
        "10Y1001A1001A73I".into(),
        ManualClock::new(now.parse().unwrap()),
    )
}

/// A complete day of `region` at `minutes`, as A03 with every repeat left out.
fn day_document(eic: &str, region: Region, day: Date, minutes: u32) -> (String, usize) {
    let (start, end) = day_bounds(region, day);
    let n = (end.duration_since(start).as_mins() / i64::from(minutes)) as usize;
    let mut prices: Vec<Option<f64>> = (0..n).map(|i| Some(day_price(i, n))).collect();
    for i in (1..n).rev() {
        if prices[i] == prices[i - 1] {
            prices[i] = None;
        }
    }
    (
        a44(
            eic,
            &[Series {
                start,
                minutes,
                prices: &prices,
                a03: true,
                sequence: None,
            }],
        ),
        n,
    )
}

async fn mount_entsoe(
    server: &MockServer,
    eic: &str,
    day_start: Timestamp,
    body: String,
    status: u16,
) {
    Mock::given(method("GET"))
        .and(path("/api"))
        .and(query_param("documentType", "A44"))
        .and(query_param("in_Domain", eic))
        .and(query_param("out_Domain", eic))
        .and(query_param("periodStart", entsoe_period(day_start)))
        .and(query_param("securityToken", TOKEN))
        .respond_with(
            ResponseTemplate::new(status)
                .set_body_string(body)
                .insert_header("content-type", "text/xml"),
        )
        .mount(server)
        .await;
}

#[tokio::test]
async fn entsoe_a03_day_expands_to_every_quarter_hour_including_dst_days() {
    let server = MockServer::start().await;
    for day in [date(2026, 1, 15), date(2026, 3, 29), date(2026, 10, 25)] {
        let (body, n) = day_document(DE_LU, Region::Germany, day, 15);
        mount_entsoe(
            &server,
            DE_LU,
            day_bounds(Region::Germany, day).0,
            body,
            200,
        )
        .await;
        let points = entsoe(&server, "2026-11-01T00:00:00Z")
            .fetch_day(Region::Germany, day)
            .await
            .unwrap();
        assert_eq!(points.len(), n);
        assert_eq!(
            n,
            match day.month() {
                3 => 92,
                10 => 100,
                _ => 96,
            }
        );
        validate_day(Region::Germany, day, Source::Entsoe, &points).unwrap();
        for (i, p) in points.iter().enumerate() {
            assert_eq!(
                p.price,
                Decimal::try_from(day_price(i, n)).unwrap(),
                "position {}",
                i + 1
            );
        }
        assert!(points.iter().all(|p| p.unit == EnergyUnit::MWh
            && p.kind == PriceKind::DayAhead
            && p.source == Source::Entsoe));
        assert!(points.iter().any(|p| p.price.is_sign_negative()));
    }
}

#[tokio::test]
async fn entsoe_a03_trailing_repeats_run_to_the_end_of_the_period() {
    // The documented NL example: positions 6, 12, 15 and 23–24 omitted.
    let start: Timestamp = "2024-10-17T22:00:00Z".parse().unwrap();
    let mut prices: Vec<Option<f64>> = vec![
        Some(85.67),
        Some(80.66),
        Some(79.0),
        Some(76.08),
        Some(76.16),
        None,
        Some(90.68),
        Some(112.32),
        Some(103.18),
        Some(83.13),
        Some(63.25),
        None,
        Some(13.2),
        Some(3.17),
        None,
        Some(33.42),
        Some(77.94),
        Some(119.93),
        Some(-1.5),
        Some(143.65),
        Some(113.09),
        Some(101.53),
        None,
        None,
    ];
    let body = a44(
        NL,
        &[Series {
            start,
            minutes: 60,
            prices: &prices,
            a03: true,
            sequence: None,
        }],
    );
    let server = MockServer::start().await;
    mount_entsoe(&server, NL, start, body, 200).await;
    let points = entsoe(&server, "2024-11-01T00:00:00Z")
        .fetch_day(Region::Netherlands, date(2024, 10, 18))
        .await
        .unwrap();
    assert_eq!(points.len(), 24);
    let price = |i: usize| points[i].price.to_string();
    assert_eq!(
        (price(5), price(11), price(14), price(22), price(23)),
        (
            "76.16".into(),
            "63.25".into(),
            "3.17".into(),
            "101.53".into(),
            "101.53".into()
        )
    );
    // The same document as A01: the omitted positions are gaps, and the day is incomplete.
    prices[0] = Some(85.67);
    let gappy = a44(
        NL,
        &[Series {
            start,
            minutes: 60,
            prices: &prices,
            a03: false,
            sequence: None,
        }],
    );
    let server = MockServer::start().await;
    mount_entsoe(&server, NL, start, gappy, 200).await;
    let points = entsoe(&server, "2024-11-01T00:00:00Z")
        .fetch_day(Region::Netherlands, date(2024, 10, 18))
        .await
        .unwrap();
    assert_eq!(points.len(), 19);
    assert_eq!(
        validate_day(
            Region::Netherlands,
            date(2024, 10, 18),
            Source::Entsoe,
            &points
        ),
        Err(SourceError::Incomplete {
            expected: 24,
            got: 19
        })
    );
}

#[tokio::test]
async fn entsoe_takes_the_sdac_sequence_whatever_the_order() {
    let day = date(2026, 1, 15);
    let (start, _) = day_bounds(Region::Germany, day);
    let exaa: Vec<Option<f64>> = (0..96).map(|_| Some(999.0)).collect();
    let sdac: Vec<Option<f64>> = (0..96).map(|i| Some(day_price(i, 96))).collect();
    let body = a44(
        DE_LU,
        &[
            Series {
                start,
                minutes: 15,
                prices: &exaa,
                a03: true,
                sequence: Some(2),
            },
            Series {
                start,
                minutes: 15,
                prices: &sdac,
                a03: true,
                sequence: Some(1),
            },
        ],
    );
    let server = MockServer::start().await;
    mount_entsoe(&server, DE_LU, start, body, 200).await;
    let points = entsoe(&server, "2026-01-15T12:00:00Z")
        .fetch_day(Region::Germany, day)
        .await
        .unwrap();
    assert_eq!(points.len(), 96);
    assert!(points.iter().all(|p| p.price != Decimal::from(999)));
}

#[tokio::test]
async fn entsoe_hourly_zone_is_accepted_for_a_quarter_hour_region() {
    let day = date(2024, 6, 1);
    let (body, n) = day_document(DE_LU, Region::Germany, day, 60);
    let server = MockServer::start().await;
    mount_entsoe(
        &server,
        DE_LU,
        day_bounds(Region::Germany, day).0,
        body,
        200,
    )
    .await;
    let points = entsoe(&server, "2024-07-01T00:00:00Z")
        .fetch_day(Region::Germany, day)
        .await
        .unwrap();
    assert_eq!((n, points.len()), (24, 24));
    validate_day(Region::Germany, day, Source::Entsoe, &points).unwrap();
}

#[tokio::test]
async fn entsoe_acknowledgements_and_http_errors_map_to_source_errors() {
    let server = MockServer::start().await;
    let tomorrow = date(2026, 1, 16);
    let no_data = acknowledgement(
        "No matching data found for Data item ENERGY_PRICES [12.1.D] (10Y1001A1001A82H, 10Y1001A1001A82H) and interval 2026-01-15T23:00:00Z/2026-01-16T23:00:00Z.",
    );
    mount_entsoe(
        &server,
        DE_LU,
        day_bounds(Region::Germany, tomorrow).0,
        no_data,
        200,
    )
    .await;
    // Shortly after 13:00: not published yet. Long after: missing.
    let early = entsoe(&server, "2026-01-15T12:05:00Z")
        .fetch_day(Region::Germany, tomorrow)
        .await;
    assert_eq!(early, Err(SourceError::NotPublished { day: tomorrow }));
    let late = entsoe(&server, "2026-01-16T10:00:00Z")
        .fetch_day(Region::Germany, tomorrow)
        .await;
    assert!(
        matches!(late, Err(SourceError::Incomplete { got: 0, .. })),
        "{late:?}"
    );

    let cases = [
        (
            date(2026, 2, 1),
            401,
            acknowledgement("Authentication failed."),
            "refused the credentials",
        ),
        (
            date(2026, 2, 2),
            400,
            acknowledgement("The combination of [DOCUMENT_TYPE=A44] is not valid"),
            "refused (999): The combination",
        ),
        (
            date(2026, 2, 3),
            200,
            "<html>garbage".to_string(),
            "malformed",
        ),
        (
            date(2026, 2, 4),
            200,
            "{\"not\":\"xml\"}".to_string(),
            "malformed",
        ),
        (
            date(2026, 2, 5),
            503,
            "<html>Service Temporarily Unavailable</html>".to_string(),
            "HTTP 503",
        ),
    ];
    for (day, status, body, expected) in cases {
        mount_entsoe(
            &server,
            DE_LU,
            day_bounds(Region::Germany, day).0,
            body,
            status,
        )
        .await;
        let error = entsoe(&server, "2026-03-01T00:00:00Z")
            .fetch_day(Region::Germany, day)
            .await
            .unwrap_err()
            .to_string();
        assert!(error.contains(expected), "{day}: {error}");
        assert!(!error.contains(TOKEN), "errors never carry the token");
    }
    assert_eq!(
        entsoe(&server, "2026-03-01T00:00:00Z")
            .fetch_day(Region::Uk, date(2026, 2, 1))
            .await,
        Err(SourceError::UnsupportedRegion { region: Region::Uk })
    );
}

#[tokio::test]
async fn entsoe_retries_429_after_retry_after_and_5xx_then_succeeds() {
    let server = MockServer::start().await;
    let day = date(2026, 1, 15);
    let (start, _) = day_bounds(Region::Germany, day);
    Mock::given(query_param("periodStart", entsoe_period(start)))
        .respond_with(
            ResponseTemplate::new(429)
                .insert_header("retry-after", "1")
                .set_body_string("TOO MANY REQUESTS"),
        )
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(query_param("periodStart", entsoe_period(start)))
        .respond_with(ResponseTemplate::new(502))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    let (body, _) = day_document(DE_LU, Region::Germany, day, 15);
    mount_entsoe(&server, DE_LU, start, body, 200).await;
    let started = std::time::Instant::now();
    let points = entsoe(&server, "2026-01-15T12:00:00Z")
        .fetch_day(Region::Germany, day)
        .await
        .unwrap();
    assert_eq!(points.len(), 96);
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "waited for Retry-After"
    );
    // A Retry-After beyond the policy's bound is not waited for.
    let other = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(429).insert_header("retry-after", "600"))
        .mount(&other)
        .await;
    let error = entsoe(&other, "2026-01-15T12:00:00Z")
        .fetch_day(Region::Germany, day)
        .await
        .unwrap_err();
    assert_eq!(
        error,
        SourceError::RateLimited {
            retry_after: Some(Duration::from_secs(600))
        }
    );
}

#[tokio::test]
async fn a_provider_that_hangs_times_out_and_a_closed_port_is_a_transport_error() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(5)))
        .mount(&server)
        .await;
    let error = entsoe(&server, "2026-01-15T12:00:00Z")
        .fetch_day(Region::Germany, date(2026, 1, 15))
        .await
        .unwrap_err();
    assert_eq!(error, SourceError::Timeout(Duration::from_millis(500)));
    let closed = Entsoe::new(
        http(),
        "http://127.0.0.1:9/api".into(),
        Secret::new(TOKEN),
        String::new(),
        ManualClock::new(Timestamp::UNIX_EPOCH),
    );
    let error = closed
        .fetch_day(Region::Germany, date(2026, 1, 15))
        .await
        .unwrap_err();
    assert!(
        matches!(&error, SourceError::Transport(m) if !m.contains(TOKEN)),
        "{error:?}"
    );
}

fn octopus(server: &MockServer, now: &str) -> Octopus {
    Octopus::new(
        http(),
        format!("{}/v1", server.uri()),
        "AGILE-24-10-01".into(),
        "C".into(),
        ManualClock::new(now.parse().unwrap()),
    )
}

const AGILE_PATH: &str =
    "/v1/products/AGILE-24-10-01/electricity-tariffs/E-1R-AGILE-24-10-01-C/standard-unit-rates/";

#[tokio::test]
async fn octopus_follows_pages_and_converts_pence_to_pounds_per_kwh() {
    let server = MockServer::start().await;
    let day = date(2026, 10, 25); // the autumn change: 50 half-hours
    let (start, _) = day_bounds(Region::Uk, day);
    let all = octopus_results(start, 50);
    let next = format!("{}{AGILE_PATH}?page=2&page_size=30", server.uri());
    Mock::given(method("GET"))
        .and(path(AGILE_PATH))
        .and(query_param("period_from", "2026-10-24T23:00:00Z"))
        .and(query_param("period_to", "2026-10-26T00:00:00Z"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "count": 50, "next": next, "previous": null, "results": all[..30]
        })))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(AGILE_PATH))
        .and(query_param("page", "2"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "count": 50, "next": null, "previous": "x", "results": all[30..]
        })))
        .mount(&server)
        .await;
    let points = octopus(&server, "2026-10-26T00:00:00Z")
        .fetch_day(Region::Uk, day)
        .await
        .unwrap();
    assert_eq!(points.len(), 50);
    validate_day(Region::Uk, day, Source::Octopus, &points).unwrap();
    assert!(
        points.windows(2).all(|w| w[0].start < w[1].start),
        "oldest first"
    );
    let first = &points[0];
    assert_eq!(
        (first.unit, first.kind, first.currency.as_str()),
        (EnergyUnit::KWh, PriceKind::Retail, "GBP")
    );
    // 15.0 p excl. VAT → 15.75 p incl. → £0.1575 per kWh.
    assert_eq!(first.price, Decimal::new(1575, 4));
}

#[tokio::test]
async fn octopus_empty_tomorrow_is_not_published_and_errors_are_http_errors() {
    let server = MockServer::start().await;
    Mock::given(path(AGILE_PATH))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(
                serde_json::json!({"count":0,"next":null,"previous":null,"results":[]}),
            ),
        )
        .mount(&server)
        .await;
    let tomorrow = date(2026, 1, 16);
    assert_eq!(
        octopus(&server, "2026-01-15T16:30:00Z")
            .fetch_day(Region::Uk, tomorrow)
            .await,
        Err(SourceError::NotPublished { day: tomorrow })
    );
    let late = octopus(&server, "2026-01-16T10:00:00Z")
        .fetch_day(Region::Uk, tomorrow)
        .await
        .unwrap();
    assert_eq!(
        validate_day(Region::Uk, tomorrow, Source::Octopus, &late),
        Err(SourceError::Incomplete {
            expected: 48,
            got: 0
        })
    );
    let missing = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(404).set_body_json(serde_json::json!({"detail":"Not found."})),
        )
        .mount(&missing)
        .await;
    assert_eq!(
        octopus(&missing, "2026-01-15T10:00:00Z")
            .fetch_day(Region::Uk, tomorrow)
            .await,
        Err(SourceError::Http { status: 404 })
    );
    assert_eq!(
        octopus(&missing, "2026-01-15T10:00:00Z")
            .fetch_day(Region::Germany, tomorrow)
            .await,
        Err(SourceError::UnsupportedRegion {
            region: Region::Germany
        })
    );
}

#[tokio::test]
async fn eia_monthly_retail_is_a_reference_series_in_dollars_per_kwh() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v2/electricity/retail-sales/data/"))
        .and(query_param("api_key", "eia-key"))
        .and(query_param("facets[stateid][]", "CA"))
        .and(query_param("facets[sectorid][]", "RES"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({"response": {"total": "2", "dateFormat": "YYYY-MM",
            "frequency": "monthly", "data": [
                {"period": "2026-09", "stateid": "CA", "sectorid": "RES", "price": "32.49", "price-units": "cents per kilowatthour"},
                {"period": "2026-08", "stateid": "CA", "sectorid": "RES", "price": 31.87, "price-units": "cents per kilowatt-hour"}]},
            "apiVersion": "2.1.8"})))
        .mount(&server)
        .await;
    let eia = Eia::new(
        http(),
        format!("{}/v2", server.uri()),
        Secret::new("eia-key"),
        "RES".into(),
        ManualClock::new("2026-11-25T12:00:00Z".parse().unwrap()),
    );
    assert_eq!(eia.role(), SourceRole::Reference);
    let points = eia
        .fetch_day(Region::UsCa, date(2026, 11, 25))
        .await
        .unwrap();
    assert_eq!(points.len(), 2);
    assert_eq!(points[1].price, Decimal::new(3249, 4));
    assert_eq!(
        points[1].start,
        "2026-09-01T07:00:00Z".parse::<Timestamp>().unwrap(),
        "local midnight, Los Angeles"
    );
    assert_eq!(points[1].duration_minutes, 30 * 24 * 60);
    assert!(
        points
            .iter()
            .all(|p| p.kind == PriceKind::Retail && p.unit == EnergyUnit::KWh)
    );
    validate_day(Region::UsCa, date(2026, 11, 25), Source::Eia, &points).unwrap();
    let refused = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(403).set_body_json(serde_json::json!({"error":{"code":"API_KEY_INVALID","message":"An invalid api_key was supplied."}})))
        .mount(&refused)
        .await;
    let eia = Eia::new(
        http(),
        format!("{}/v2", refused.uri()),
        Secret::new("bad"),
        "RES".into(),
        ManualClock::new(Timestamp::UNIX_EPOCH),
    );
    assert_eq!(
        eia.fetch_day(Region::UsCa, date(2026, 11, 25)).await,
        Err(SourceError::Unauthorized { status: 403 })
    );
}

#[tokio::test]
async fn flatpeak_logs_in_once_and_clips_tariff_slots_to_the_day() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/login"))
        .and(header("authorization", "Basic YWNjX3Rlc3Q6ZnAta2V5")) // acc_test:fp-key
        .respond_with(ResponseTemplate::new(200).set_body_json(
            serde_json::json!({"bearer_token":"tok-1","expires_in":3600,"live_mode":false}),
        ))
        .expect(1)
        .mount(&server)
        .await;
    let slot = |from: &str, to: &str, rate: f64| serde_json::json!({"valid_from": from, "valid_to": to, "tariff": {"rate": rate, "confidence": 1}});
    Mock::given(method("GET"))
        .and(path("/tariffs/rates/loc_1"))
        .and(header("authorization", "Bearer tok-1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "object": "tariff_rate", "location_id": "loc_1", "location_timezone": "Europe/London", "currency_code": "GBP",
            "direction": "IMPORT", "data": [
                slot("2026-01-14T22:00:00Z", "2026-01-15T07:00:00Z", 0.075),
                slot("2026-01-15T07:00:00Z", "2026-01-15T16:00:00Z", 0.245),
                slot("2026-01-15T16:00:00Z", "2026-01-15T19:00:00Z", 0.38),
                slot("2026-01-15T19:00:00Z", "2026-01-16T07:00:00Z", 0.075)]})))
        .mount(&server)
        .await;
    let flatpeak = Flatpeak::new(
        http(),
        server.uri(),
        "acc_test".into(),
        Secret::new("fp-key"),
        "loc_1".into(),
        ManualClock::new(Timestamp::UNIX_EPOCH),
    );
    let day = date(2026, 1, 15);
    for _ in 0..2 {
        let points = flatpeak.fetch_day(Region::Uk, day).await.unwrap();
        assert_eq!(points.len(), 4);
        assert_eq!(
            points[0].start,
            "2026-01-15T00:00:00Z".parse::<Timestamp>().unwrap(),
            "clipped to local midnight"
        );
        assert_eq!(
            points[3].duration_minutes,
            5 * 60,
            "clipped at the next midnight"
        );
        assert_eq!(points[2].price, Decimal::new(38, 2));
        validate_day(Region::Uk, day, Source::Flatpeak, &points).unwrap();
    }
    assert!(
        matches!(flatpeak.fetch_day(Region::Germany, day).await, Err(SourceError::Malformed(m)) if m.contains("GBP"))
    );
    let pending = MockServer::start().await;
    Mock::given(path("/login"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(serde_json::json!({"bearer_token":"t","expires_in":3600})),
        )
        .mount(&pending)
        .await;
    Mock::given(path("/tariffs/rates/loc_1"))
        .respond_with(ResponseTemplate::new(422).set_body_json(serde_json::json!({"object":"error","type":"invalid_request","code":"pending_connect","message":"First tariff fetch is running"})))
        .mount(&pending)
        .await;
    let flatpeak = Flatpeak::new(
        http(),
        pending.uri(),
        "acc".into(),
        Secret::new("k"),
        "loc_1".into(),
        ManualClock::new(Timestamp::UNIX_EPOCH),
    );
    let error = flatpeak
        .fetch_day(Region::Uk, day)
        .await
        .unwrap_err()
        .to_string();
    assert!(error.contains("pending_connect"), "{error}");
}

#[tokio::test]
async fn openweathermap_forecast_and_bad_keys() {
    let server = MockServer::start().await;
    Mock::given(path("/data/2.5/forecast"))
        .and(query_param("units", "metric"))
        .and(query_param("appid", "owm-key"))
        .respond_with(ResponseTemplate::new(200).set_body_string(r#"{"cod":"200","message":0,"cnt":2,"list":[
            {"dt":1736899200,"main":{"temp":4.2},"clouds":{"all":75},"wind":{"speed":3.1,"deg":240},"dt_txt":"2025-01-15 00:00:00"},
            {"dt":1736910000,"main":{"temp":3.5},"clouds":{"all":100},"wind":{"speed":2.7},"rain":{"3h":0.45},"dt_txt":"2025-01-15 03:00:00"}],
            "city":{"name":"London","timezone":0}}"#))
        .mount(&server)
        .await;
    let client = OpenWeatherMap::new(
        http(),
        format!("{}/data/2.5", server.uri()),
        Secret::new("owm-key"),
        ManualClock::new(Timestamp::UNIX_EPOCH),
    );
    let steps = client.forecast(Region::Uk).await.unwrap();
    assert_eq!(steps.len(), 2);
    assert_eq!(
        (steps[1].temperature_c, steps[1].cloud_cover_pct),
        (3.5, 100.0)
    );
    let client = OpenWeatherMap::new(
        http(),
        format!("{}/nope", server.uri()),
        Secret::new("owm-key"),
        ManualClock::new(Timestamp::UNIX_EPOCH),
    );
    assert!(client.forecast(Region::Uk).await.is_err());
}

#[test]
fn the_token_is_never_in_debug_output() {
    let secret = Secret::new(TOKEN);
    assert!(!format!("{secret:?}").contains(TOKEN));
    let _ = Arc::new(0);
    let _ = SignedDuration::ZERO;
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn parsers_never_panic_on_arbitrary_text(text in ".{0,400}") {
        let _ = parse_a44(&text);
        let _ = parse_page(&text);
        let _ = parse_rows(&text);
        let _ = parse_rates(&text);
        let _ = parse_forecast(&text, Region::Uk, Timestamp::UNIX_EPOCH);
    }

    #[test]
    fn parsers_never_panic_on_mangled_documents(cut in 0usize..4000, junk in "[<>/a-zA-Z0-9.\"{}:,\\[\\] -]{0,40}") {
        let (doc, _) = day_document(DE_LU, Region::Germany, date(2026, 1, 15), 15);
        let cut = cut.min(doc.len());
        let mangled = format!("{}{junk}{}", &doc[..cut], &doc[cut..]);
        let _ = parse_a44(&mangled);
        let json = serde_json::json!({"count":1,"next":null,"results":octopus_results("2026-01-15T00:00:00Z".parse().unwrap(), 2)}).to_string();
        let cut = cut.min(json.len());
        let _ = parse_page(&format!("{}{junk}{}", &json[..cut], &json[cut..]));
    }
}
