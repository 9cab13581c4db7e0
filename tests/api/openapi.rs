//! The OpenAPI document lists every route, and every route it lists exists.

use reqwest::StatusCode;

use crate::helpers::TestApp;

/// Every route the server has, by method. `/openapi.json` serves the document itself.
const ROUTES: &[(&str, &str)] = &[
    ("get", "/"),
    ("get", "/health"),
    ("get", "/health/live"),
    ("get", "/health/ready"),
    ("get", "/metrics"),
    ("get", "/api/v1/prices/current"),
    ("get", "/api/v1/prices/history"),
    ("get", "/api/v1/prices/statistics"),
    ("get", "/api/v1/prices/compare"),
    ("get", "/api/v1/prices/trends"),
    ("get", "/api/v1/prices/peak-hours"),
    ("get", "/api/v1/prices/optimal-windows"),
    ("post", "/api/v1/prices/refresh"),
    ("get", "/api/v1/prices/stream"),
    ("get", "/api/v1/prices/forecast"),
    ("post", "/api/v1/ml/predict/price"),
    ("get", "/api/v1/ml/predict/model-info"),
    ("post", "/api/v1/ml/predict/optimal-times"),
    ("post", "/api/v1/ml/predict/savings"),
    ("post", "/api/v1/optimization/schedule"),
    ("get", "/api/v1/admin/actors"),
    ("post", "/api/v1/auth/password/check-strength"),
    ("post", "/api/v1/auth/signup"),
    ("post", "/api/v1/auth/signin"),
    ("post", "/api/v1/auth/refresh"),
    ("post", "/api/v1/auth/signout"),
    ("get", "/api/v1/auth/me"),
    ("post", "/api/v1/auth/signin/oauth"),
    ("get", "/api/v1/auth/oauth/callback"),
    ("post", "/api/v1/auth/oauth/exchange"),
    ("get", "/api/v1/suppliers"),
    ("get", "/api/v1/suppliers/{id}"),
    ("get", "/api/v1/suppliers/{id}/tariffs"),
    ("get", "/api/v1/suppliers/region/{region}"),
    ("get", "/api/v1/suppliers/compare/{region}"),
    ("post", "/api/v1/suppliers/compare"),
    ("put", "/api/v1/admin/suppliers/{id}"),
    ("delete", "/api/v1/admin/suppliers/{id}"),
    ("put", "/api/v1/admin/tariffs/{id}"),
    ("delete", "/api/v1/admin/tariffs/{id}"),
    ("get", "/api/v1/user/preferences"),
    ("put", "/api/v1/user/preferences"),
    ("post", "/api/v1/user/preferences"),
    ("get", "/api/v1/recommendations/switching"),
    ("get", "/api/v1/recommendations/usage"),
    ("post", "/api/v1/beta/signup"),
    ("get", "/api/v1/beta/signups/count"),
    ("get", "/api/v1/beta/signups/stats"),
    ("post", "/api/v1/beta/verify-code"),
    ("post", "/api/v1/auth/signin/magic-link"),
    ("get", "/api/v1/auth/magic-link/verify"),
    ("get", "/api/v1/alerts"),
    ("post", "/api/v1/alerts"),
    ("get", "/api/v1/alerts/{id}"),
    ("put", "/api/v1/alerts/{id}"),
    ("delete", "/api/v1/alerts/{id}"),
    ("get", "/api/v1/alerts/{id}/history"),
    ("get", "/api/v1/admin/jobs"),
    ("post", "/api/v1/billing/checkout"),
    ("post", "/api/v1/billing/portal"),
    ("get", "/api/v1/billing/subscription"),
    ("post", "/api/v1/billing/webhook"),
    ("get", "/api/v1/auth/api-keys"),
    ("post", "/api/v1/auth/api-keys"),
    ("delete", "/api/v1/auth/api-keys/{id}"),
    ("post", "/api/v1/compliance/consent"),
    ("get", "/api/v1/compliance/gdpr/consents"),
    ("get", "/api/v1/compliance/gdpr/consents/status"),
    ("post", "/api/v1/compliance/gdpr/withdraw-all-consents"),
    ("get", "/api/v1/compliance/gdpr/export"),
    ("delete", "/api/v1/compliance/gdpr/delete-my-data"),
    ("post", "/api/v1/admin/jobs/{id}/retry"),
    ("get", "/live"),
    ("get", "/live/app.js"),
    ("get", "/live/style.css"),
];

#[tokio::test]
async fn openapi_document_matches_the_routes() {
    let app = TestApp::spawn().await;
    let (status, doc) = app.get_json("/openapi.json").await;
    assert_eq!(status, StatusCode::OK);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let paths = doc["paths"].as_object().unwrap();
    let mut documented: Vec<(String, String)> = paths
        .iter()
        .flat_map(|(path, item)| {
            item.as_object()
                .unwrap()
                .keys()
                .map(move |m| (m.clone(), path.clone()))
        })
        .collect();
    documented.sort();
    let mut expected: Vec<(String, String)> = ROUTES
        .iter()
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .collect();
    expected.sort();
    assert_eq!(documented, expected);
    for (method, path) in ROUTES {
        // A path parameter gets a value that matches the route (and names nothing).
        let path = path
            .split('/')
            .map(|segment| {
                if segment.starts_with('{') {
                    "no-such-id"
                } else {
                    segment
                }
            })
            .collect::<Vec<_>>()
            .join("/");
        let method = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
        let request = app.client.request(method.clone(), app.url(&path));
        // Streams are checked for their status only (the body never ends). A 404 must be the
        // resource's own (an error naming what is missing), not the router's.
        let response = request.send().await.unwrap();
        let status = response.status();
        assert_ne!(status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
        if status == StatusCode::NOT_FOUND {
            let body: serde_json::Value = response.json().await.unwrap_or_default();
            assert_ne!(
                body["error"]["code"], "not_found",
                "{method} {path}: no such route"
            );
        }
    }
    assert!(doc["components"]["schemas"]["PriceDto"].is_object());
    assert!(doc["components"]["securitySchemes"]["api_key"].is_object());
}
