//! The whole application on PostgreSQL instead of the embedded default.

use reqwest::StatusCode;
use wattline::storage::{RangeQuery, Storage, StorageOptions};

use crate::helpers::{NOW, TestApp, test_settings};

#[tokio::test]
async fn serves_and_persists_prices_on_postgres() {
    let Ok(url) = std::env::var("TEST_DATABASE_URL") else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI is set but TEST_DATABASE_URL is not"
        );
        return;
    };
    let schema = format!("wattline_api_{}", uuid::Uuid::new_v4().simple());
    let options = StorageOptions {
        max_connections: 2,
        acquire_timeout: std::time::Duration::from_secs(10),
    };
    let admin = Storage::open_postgres(&url, &options, Some(&schema))
        .await
        .expect("test PostgreSQL reachable");
    let dir = tempfile::tempdir().unwrap();
    let mut settings = test_settings(dir.path());
    let separator = if url.contains('?') { '&' } else { '?' };
    settings.storage.database_url = format!("{url}{separator}options=-c%20search_path%3D{schema}");
    let app = TestApp::start(settings, NOW.parse().unwrap()).await;
    let (_, health) = app.get_json("/health").await;
    assert_eq!(health["storage_backend"], "postgres");
    let (status, history) = app
        .get_json("/api/v1/prices/history?region=belgium&start=2026-01-15&end=2026-01-17")
        .await;
    assert_eq!(status, StatusCode::OK, "{history}");
    assert_eq!(history["count"], 192);
    // Accounts on PostgreSQL: sign up, sign in, the user from storage.
    let credentials =
        serde_json::json!({ "email": "ada@example.com", "password": "ValidPassword123!" });
    let (status, _) = app.post_body("/api/v1/auth/signup", &credentials).await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, tokens) = app.post_body("/api/v1/auth/signin", &credentials).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    let me = app
        .client
        .get(app.url("/api/v1/auth/me"))
        .bearer_auth(tokens["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), StatusCode::OK);
    app.stop().await.unwrap();
    let stored = admin
        .price_range(&RangeQuery {
            region: wattline_actors::domain::Region::Belgium,
            from: "2000-01-01T00:00:00Z".parse().unwrap(),
            to: "2100-01-01T00:00:00Z".parse().unwrap(),
            source: None,
        })
        .await
        .unwrap();
    assert_eq!(stored.len(), 192);
    admin.drop_schema(&schema).await.unwrap();
}
