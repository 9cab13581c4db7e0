//! The live page in a real browser: headless Chromium (Debian's package) loads /live, receives
//! the SSE snapshot and a later price event, and renders the numbers the API serves. Driven over
//! the DevTools protocol; skipped without Chromium unless CI is set.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

use crate::helpers::{API_KEY, NOW, TestApp};

fn chromium() -> Option<PathBuf> {
    let candidates = [
        std::env::var("CHROMIUM").ok(),
        Some("/usr/bin/chromium".into()),
        Some("/usr/bin/chromium-browser".into()),
    ];
    let found = candidates
        .into_iter()
        .flatten()
        .map(PathBuf::from)
        .find(|p| p.exists());
    if found.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI is set but Chromium is not installed (apt-get install chromium)"
        );
        eprintln!("Chromium not found; skipping the browser test");
    }
    found
}

/// A headless Chromium with one page, driven over the DevTools websocket.
struct Browser {
    _child: tokio::process::Child,
    _profile: tempfile::TempDir,
    socket: tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
    next_id: u64,
}

impl Browser {
    async fn launch(binary: PathBuf) -> Browser {
        let profile = tempfile::tempdir().unwrap();
        let child = tokio::process::Command::new(binary)
            .args([
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--remote-debugging-port=0",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg("about:blank")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("chromium starts");
        // Chromium writes the port it chose into the profile folder.
        let port_file = profile.path().join("DevToolsActivePort");
        let mut port = None;
        for _ in 0..300 {
            if let Ok(text) = std::fs::read_to_string(&port_file)
                && let Some(p) = text.lines().next().and_then(|l| l.parse::<u16>().ok())
            {
                port = Some(p);
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let port = port.expect("chromium opened its DevTools port");
        let targets: Vec<Value> = reqwest::get(format!("http://127.0.0.1:{port}/json/list"))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let page = targets
            .iter()
            .find(|t| t["type"] == "page")
            .expect("a page target");
        let url = page["webSocketDebuggerUrl"].as_str().unwrap();
        let (socket, _) = tokio_tungstenite::connect_async(url)
            .await
            .expect("devtools websocket");
        Browser {
            _child: child,
            _profile: profile,
            socket,
            next_id: 1,
        }
    }

    async fn call(&mut self, method: &str, params: Value) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        let request = json!({ "id": id, "method": method, "params": params }).to_string();
        self.socket.send(Message::text(request)).await.unwrap();
        loop {
            let message = tokio::time::timeout(Duration::from_secs(20), self.socket.next())
                .await
                .expect("devtools answers");
            let Some(Ok(Message::Text(text))) = message else {
                continue;
            };
            let value: Value = serde_json::from_str(&text).unwrap();
            if value["id"] == id {
                return value["result"].clone();
            }
        }
    }

    /// Evaluates a JavaScript expression in the page and returns its JSON value.
    async fn eval(&mut self, expression: &str) -> Value {
        let result = self
            .call(
                "Runtime.evaluate",
                json!({ "expression": expression, "returnByValue": true }),
            )
            .await;
        result["result"]["value"].clone()
    }

    /// Polls `expression` until it is truthy.
    async fn wait_for(&mut self, expression: &str, what: &str) {
        for _ in 0..200 {
            if self.eval(expression).await == Value::Bool(true) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let state = self.eval("document.body.outerHTML.slice(0, 3000)").await;
        panic!("page never showed {what}; page: {state}");
    }
}

#[tokio::test]
async fn the_live_page_renders_prices_and_follows_the_stream() {
    let Some(binary) = chromium() else { return };
    let app = TestApp::spawn().await;
    let mut browser = Browser::launch(binary).await;
    browser
        .call("Page.navigate", json!({ "url": app.url("/live") }))
        .await;
    browser
        .wait_for("document.body.dataset.snapshots === '1'", "the snapshot")
        .await;
    browser
        .wait_for(
            "document.querySelectorAll('#prices tbody tr').length === 14",
            "a row per region",
        )
        .await;
    let (_, current) = app.get_json("/api/v1/prices/current?region=germany").await;
    let shown = browser
        .eval("document.querySelector('tr[data-region=germany]').dataset.price")
        .await;
    assert_eq!(
        shown, current["price"]["price"],
        "the page shows the API's current price"
    );
    assert_eq!(browser.eval("document.body.dataset.status").await, "live");
    assert_eq!(
        browser
            .eval("document.querySelectorAll('#chart path').length")
            .await,
        1,
        "the chart is drawn"
    );

    // New prices land: the page receives the event and re-renders with the new day.
    app.clock
        .set(NOW.parse::<Timestamp>().unwrap() + SignedDuration::from_hours(24));
    let (status, _) = app
        .post_json("/api/v1/prices/refresh?region=germany", Some(API_KEY))
        .await;
    assert!(status.is_success());
    browser
        .wait_for("Number(document.body.dataset.events) >= 1", "a price event")
        .await;
    let (_, later) = app.get_json("/api/v1/prices/current?region=germany").await;
    // The page follows the server's clock (carried by the event), so its "now" moved a day too.
    browser
        .wait_for(
            &format!(
                "document.querySelector('tr[data-region=germany]').dataset.price === {}",
                later["price"]["price"]
            ),
            "the price of the new day",
        )
        .await;

    // The operator panel shows the actor tree once the key is entered.
    browser
        .eval(&format!(
            "document.getElementById('api-key').value = '{API_KEY}'; document.getElementById('key-form').requestSubmit(); true"
        ))
        .await;
    browser
        .wait_for(
            "!document.getElementById('actors').hidden",
            "the actor table",
        )
        .await;
    let rows = browser
        .eval("document.querySelectorAll('#actors tbody tr').length")
        .await;
    assert_eq!(
        rows, 26,
        "root, prices, writer, broadcaster, forecaster, alert evaluator, worker supervisor, its email, webhook, billing, gdpr and retention workers, and 14 fetchers"
    );
}
