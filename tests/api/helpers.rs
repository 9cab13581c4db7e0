//! `TestApp`: the real application on 127.0.0.1:0 with a temporary SQLite file, a settable
//! clock, and small HTTP helpers.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use reqwest::StatusCode;
use serde_json::Value;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use wattline::config::Secret;
use wattline::{App, Settings};
use wattline_actors::testing::ManualClock;

/// 12:30 UTC on a winter Thursday: after the EU markets published the 16th, before the UK did.
pub const NOW: &str = "2026-01-15T12:30:00Z";
/// The operator key test apps are configured with.
pub const API_KEY: &str = "test-operator-key";

/// A running application.
pub struct TestApp {
    pub addr: SocketAddr,
    pub client: reqwest::Client,
    pub clock: Arc<ManualClock>,
    /// The running tree's broadcaster and forecaster (tests make them fail on purpose).
    pub broadcast: wattline_actors::broadcast::BroadcastHandle,
    pub forecasts: Option<wattline_actors::forecaster::ForecastHandle>,
    pub root: wattline_actors::supervision::SupervisorHandle,
    /// Where the file transport writes this app's emails.
    pub mail_dir: std::path::PathBuf,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<anyhow::Result<()>>>,
    _dir: Option<tempfile::TempDir>,
}

/// Settings for a test app storing into `dir`.
pub fn test_settings(dir: &Path) -> Settings {
    let mut settings = Settings::defaults();
    settings.server.bind = "127.0.0.1:0".parse().unwrap();
    settings.storage.database_url = format!("sqlite://{}", dir.join("wattline.sqlite3").display());
    settings.security.api_key = Some(Secret::new(API_KEY));
    // Tests that need history load it themselves.
    settings.forecast.bootstrap_days = 0;
    // Tests send many requests from one address; the rate-limit tests turn it on.
    settings.rate_limit.enabled = false;
    // Email to .eml files beside the database; workers poll and retry quickly.
    settings.email.file_dir = dir.join("mail");
    settings.workers.poll_every = Duration::from_millis(50);
    settings.workers.retry_initial = Duration::from_millis(100);
    settings.workers.retry_max = Duration::from_millis(400);
    settings
}

impl TestApp {
    /// Default settings, clock at [`NOW`].
    pub async fn spawn() -> TestApp {
        TestApp::spawn_with(|_| {}).await
    }

    /// Default settings changed by `customize`, clock at [`NOW`].
    pub async fn spawn_with(customize: impl FnOnce(&mut Settings)) -> TestApp {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut settings = test_settings(dir.path());
        customize(&mut settings);
        let mut app = TestApp::start(settings, NOW.parse().unwrap()).await;
        app._dir = Some(dir);
        app
    }

    /// Starts with exactly these settings and clock time, and waits until ready.
    pub async fn start(settings: Settings, now: Timestamp) -> TestApp {
        if std::env::var_os("TEST_LOG").is_some() {
            wattline::telemetry::init_logging(&settings.telemetry);
        }
        let clock = ManualClock::new(now);
        let mail_dir = settings.email.file_dir.clone();
        let app = App::build_with_clock(settings, clock.clone())
            .await
            .expect("app builds");
        let addr = app.local_addr();
        let broadcast = app.tree().broadcast.clone();
        let forecasts = app.tree().forecasts.clone();
        let root = app.tree().root.clone();
        let (tx, rx) = oneshot::channel();
        let task = tokio::spawn(app.run_until(async {
            let _ = rx.await;
        }));
        let test_app = TestApp {
            addr,
            client: reqwest::Client::new(),
            clock,
            broadcast,
            forecasts,
            root,
            mail_dir,
            shutdown: Some(tx),
            task: Some(task),
            _dir: None,
        };
        test_app.wait_ready().await;
        test_app
    }

    async fn wait_ready(&self) {
        for _ in 0..500 {
            if let Ok(r) = self.client.get(self.url("/health/ready")).send().await
                && r.status() == StatusCode::OK
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("app never became ready");
    }

    /// GET `path` with the operator key; asserts 200 and returns the JSON body.
    pub async fn operator_get(&self, path: &str) -> Value {
        let response = self
            .client
            .get(self.url(path))
            .header("x-api-key", API_KEY)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        response.json().await.unwrap()
    }

    /// Every email the file transport wrote so far, as text.
    pub fn emails(&self) -> Vec<String> {
        let Ok(entries) = std::fs::read_dir(&self.mail_dir) else {
            return Vec::new();
        };
        entries
            .filter_map(|e| std::fs::read_to_string(e.ok()?.path()).ok())
            .collect()
    }

    /// Signs up `email` (a valid password) and returns its access token.
    pub async fn signed_up(&self, email: &str) -> String {
        let (status, tokens) = self
            .post_body(
                "/api/v1/auth/signup",
                &serde_json::json!({ "email": email, "password": "ValidPassword123!" }),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{tokens}");
        tokens["access_token"].as_str().unwrap().to_string()
    }

    /// Full URL of `path`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// GET `path`; status and JSON body.
    pub async fn get_json(&self, path: &str) -> (StatusCode, Value) {
        let response = self
            .client
            .get(self.url(path))
            .send()
            .await
            .expect("request");
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// POST `path` with an optional API key; status and JSON body.
    pub async fn post_json(&self, path: &str, api_key: Option<&str>) -> (StatusCode, Value) {
        let mut request = self.client.post(self.url(path));
        if let Some(key) = api_key {
            request = request.header("x-api-key", key);
        }
        let response = request.send().await.expect("request");
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// The Prometheus text of `/metrics`.
    pub async fn metrics(&self) -> String {
        self.client
            .get(self.url("/metrics"))
            .send()
            .await
            .expect("request")
            .text()
            .await
            .expect("metrics text")
    }

    /// POST `path` with a JSON body; status and JSON body.
    pub async fn post_body(&self, path: &str, body: &Value) -> (StatusCode, Value) {
        let response = self
            .client
            .post(self.url(path))
            .json(body)
            .send()
            .await
            .expect("request");
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// `method` on `path` with a bearer `token` and an optional JSON body; status and JSON body.
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
        body: Option<&Value>,
    ) -> (StatusCode, Value) {
        let mut request = self
            .client
            .request(method, self.url(path))
            .bearer_auth(token)
            .header("user-agent", "wattline-tests/1.0");
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.expect("request");
        let status = response.status();
        (status, response.json().await.unwrap_or_default())
    }

    /// POSTs `request` to `path` and asserts a 422 `invalid_field` error naming `field`.
    pub async fn assert_invalid_field(&self, path: &str, request: &Value, field: &str) {
        let (status, body) = self.post_body(path, request).await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{request}: {body}"
        );
        assert_error(&body, "invalid_field");
        assert_eq!(
            body["error"]["details"]["field"], field,
            "{request}: {body}"
        );
    }

    /// Graceful stop; returns what `run_until` returned.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        self.task
            .take()
            .expect("running")
            .await
            .expect("server task")
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// Asserts the body is our error shape with `code`, and returns the message.
pub fn assert_error(body: &Value, code: &str) -> String {
    let error = body
        .get("error")
        .unwrap_or_else(|| panic!("no error object in {body}"));
    assert_eq!(error["code"], code, "body: {body}");
    let message = error["message"]
        .as_str()
        .unwrap_or_else(|| panic!("no message in {body}"));
    assert!(!message.is_empty());
    message.to_string()
}

/// Parses an RFC 3339 field.
pub fn ts(value: &Value) -> Timestamp {
    value
        .as_str()
        .unwrap_or_else(|| panic!("not a string: {value}"))
        .parse()
        .expect("RFC 3339")
}

/// Parses a decimal string field.
pub fn dec(value: &Value) -> rust_decimal::Decimal {
    value
        .as_str()
        .unwrap_or_else(|| panic!("money must be a string: {value}"))
        .parse()
        .expect("decimal")
}

/// One parsed Server-Sent Event (or a comment line, as `event == ":"`).
#[derive(Debug, Clone, PartialEq)]
pub struct SseEvent {
    pub id: Option<String>,
    pub event: String,
    pub data: String,
}

impl SseEvent {
    /// The data as JSON.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.data).unwrap_or_else(|e| panic!("{e}: {}", self.data))
    }
}

/// A minimal SSE reader over a streaming reqwest response.
pub struct SseClient {
    pub response: reqwest::Response,
    buffer: String,
}

impl TestApp {
    /// Opens a stream; panics unless it is a 200 `text/event-stream`.
    pub async fn stream(&self, query: &str, last_event_id: Option<&str>) -> SseClient {
        let mut request = self
            .client
            .get(self.url(&format!("/api/v1/prices/stream?{query}")));
        if let Some(id) = last_event_id {
            request = request.header("last-event-id", id);
        }
        let response = request.send().await.expect("stream request");
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()["content-type"], "text/event-stream");
        SseClient {
            response,
            buffer: String::new(),
        }
    }
}

impl SseClient {
    /// The next frame (event or comment) within `wait`, or `None` when the stream ended.
    pub async fn next(&mut self, wait: Duration) -> Option<SseEvent> {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                return Some(parse_block(&block));
            }
            let chunk = tokio::time::timeout(wait, self.response.chunk())
                .await
                .expect("an event in time");
            match chunk.expect("stream read") {
                Some(bytes) => self
                    .buffer
                    .push_str(std::str::from_utf8(&bytes).expect("utf-8")),
                None => return None,
            }
        }
    }

    /// The next frame that is not a heartbeat or `retry:` hint.
    pub async fn next_event(&mut self, wait: Duration) -> Option<SseEvent> {
        loop {
            let frame = self.next(wait).await?;
            if frame.event != ":" && frame.event != "retry" {
                return Some(frame);
            }
        }
    }
}

fn parse_block(block: &str) -> SseEvent {
    let mut event = SseEvent {
        id: None,
        event: "message".into(),
        data: String::new(),
    };
    for line in block.lines() {
        if let Some(comment) = line.strip_prefix(':') {
            return SseEvent {
                id: None,
                event: ":".into(),
                data: comment.trim().into(),
            };
        } else if let Some(v) = line.strip_prefix("id: ") {
            event.id = Some(v.into());
        } else if let Some(v) = line.strip_prefix("event: ") {
            event.event = v.into();
        } else if let Some(v) = line.strip_prefix("data: ") {
            event.data.push_str(v);
        } else if let Some(v) = line.strip_prefix("retry: ") {
            event.event = "retry".into();
            event.data = v.into();
        }
    }
    event
}

/// Polls `check` every 50 ms for up to 15 s; fails naming `what`.
pub async fn eventually(what: &str, mut check: impl AsyncFnMut() -> bool) {
    for _ in 0..300 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("never happened: {what}");
}

/// `wattline serve` as a child process on 127.0.0.1:0 with JSON logs and `env` set (an empty
/// value removes the variable); answers the child, the address it listens on, and its log lines
/// (read on a thread, so the child never blocks on a full pipe).
pub fn spawn_binary(
    env: &[(&str, &str)],
) -> (
    std::process::Child,
    String,
    std::sync::mpsc::Receiver<String>,
) {
    use std::io::{BufRead, BufReader};
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_wattline"));
    command
        .arg("serve")
        .env("WATTLINE_SERVER__BIND", "127.0.0.1:0")
        .env("WATTLINE_TELEMETRY__LOG_FORMAT", "json")
        .env_remove("RUST_LOG")
        .env_remove("WATTLINE_CONFIG")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null());
    for (key, value) in env {
        if value.is_empty() {
            command.env_remove(key);
        } else {
            command.env(key, value);
        }
    }
    let mut child = command.spawn().expect("binary starts");
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let address = loop {
        let line = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("a log line");
        let entry: Value = serde_json::from_str(&line).unwrap_or_default();
        if entry["message"] == "Wattline listening." {
            break entry["address"].as_str().unwrap().to_string();
        }
    };
    (child, address, rx)
}
