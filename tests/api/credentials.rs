//! Credentials never leak and hostile input never reaches SQL: the real binary, logging at debug,
//! goes through sign-up, failed and successful sign-in, refresh, the signed-in user and sign-out
//! with SQL-injection strings in every field; no response and no log line carries a password or a
//! token, no error body carries SQL, and what was stored is still there afterwards.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

const PASSWORD: &str = "Correct-Horse-Battery-42";
const WRONG: &str = "Wrong-Horse-Battery-4242";

const INJECTIONS: [&str; 6] = [
    "' OR '1'='1",
    "admin'--",
    "x'); DROP TABLE users; --",
    "\" OR \"\"=\"",
    "1; SELECT * FROM refresh_tokens",
    "%' UNION SELECT password_hash FROM users --",
];

/// The server's output so far.
type Lines = Arc<Mutex<Vec<String>>>;

fn start_binary(dir: &std::path::Path) -> (std::process::Child, String, Lines) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_wattline"))
        .arg("serve")
        .env("WATTLINE_SERVER__BIND", "127.0.0.1:0")
        .env(
            "WATTLINE_STORAGE__DATABASE_URL",
            format!("sqlite://{}/w.sqlite3", dir.display()),
        )
        .env("WATTLINE_TELEMETRY__LOG_FORMAT", "json")
        .env("WATTLINE_TELEMETRY__LOG_FILTER", "debug")
        .env("WATTLINE_FORECAST__ENABLED", "false")
        .env_remove("RUST_LOG")
        .env_remove("WATTLINE_CONFIG")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("binary starts");
    let lines: Lines = Arc::default();
    let (tx, rx) = std::sync::mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    let stderr = child.stderr.take().unwrap();
    for stream in [
        Box::new(stdout) as Box<dyn std::io::Read + Send>,
        Box::new(stderr),
    ] {
        let (lines, tx) = (lines.clone(), tx.clone());
        std::thread::spawn(move || {
            for line in BufReader::new(stream).lines().map_while(Result::ok) {
                lines.lock().unwrap().push(line.clone());
                let _ = tx.send(line);
            }
        });
    }
    let address = loop {
        let line = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("a log line");
        let entry: Value = serde_json::from_str(&line).unwrap_or_default();
        if entry["message"] == "Wattline listening." {
            break entry["address"].as_str().unwrap().to_string();
        }
    };
    (child, address, lines)
}

struct Client {
    http: reqwest::Client,
    base: String,
    /// Every response body seen.
    bodies: Vec<String>,
}

impl Client {
    async fn send(
        &mut self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
        bearer: Option<&str>,
    ) -> (StatusCode, Value) {
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if let Some(body) = body {
            request = request.json(&body);
        }
        if let Some(token) = bearer {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let headers = format!("{:?}", response.headers());
        let text = response.text().await.unwrap();
        self.bodies.push(format!("{headers} {text}"));
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    async fn post(&mut self, path: &str, body: Value) -> (StatusCode, Value) {
        self.send(reqwest::Method::POST, path, Some(body), None)
            .await
    }
}

fn assert_no_sql(status: StatusCode, body: &Value, context: &str) {
    assert!(status.is_client_error(), "{context}: {status} {body}");
    let text = body.to_string().to_lowercase();
    for word in ["select ", "insert ", "syntax", "sqlite", "postgres", "sqlx"] {
        assert!(!text.contains(word), "{context}: SQL text in {body}");
    }
}

#[tokio::test]
async fn no_password_or_token_in_responses_or_logs_and_injections_are_plain_4xx() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, address, lines) = start_binary(dir.path());
    let mut client = Client {
        http: reqwest::Client::new(),
        base: format!("http://{address}/api/v1/auth"),
        bodies: Vec::new(),
    };

    let (status, tokens) = client
        .post(
            "/signup",
            json!({ "email": "ada@example.com", "password": PASSWORD, "name": "Ada" }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{tokens}");
    let (status, _) = client
        .post(
            "/signin",
            json!({ "email": "ada@example.com", "password": WRONG }),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = client
        .post("/password/check-strength", json!({ "password": PASSWORD }))
        .await;
    assert_eq!(status, StatusCode::OK);

    // Injection strings in every field of every account route.
    for evil in INJECTIONS {
        let email = format!("{evil}@example.com");
        let cases = [
            ("/signin", json!({ "email": evil, "password": evil })),
            ("/signin", json!({ "email": email, "password": evil })),
            (
                "/signin",
                json!({ "email": "eve@example.com", "password": evil }),
            ),
            ("/signup", json!({ "email": evil, "password": PASSWORD })),
            ("/refresh", json!({ "refresh_token": evil })),
            ("/oauth/exchange", json!({ "code": evil })),
            (
                "/signin/oauth",
                json!({ "provider": evil, "redirect_url": "https://x.example/" }),
            ),
        ];
        for (path, body) in cases {
            let (status, answer) = client.post(path, body.clone()).await;
            assert_no_sql(status, &answer, &format!("{path} {body}"));
        }
        let (status, answer) = client
            .send(reqwest::Method::GET, "/me", None, Some(evil))
            .await;
        assert_no_sql(status, &answer, "me");
    }

    let (status, signed_in) = client
        .post(
            "/signin",
            json!({ "email": "ada@example.com", "password": PASSWORD }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "the account survived: {signed_in}");
    let (status, refreshed) = client
        .post(
            "/refresh",
            json!({ "refresh_token": signed_in["refresh_token"] }),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let access = refreshed["access_token"].as_str().unwrap().to_string();
    let (status, me) = client
        .send(reqwest::Method::GET, "/me", None, Some(&access))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me["email"], "ada@example.com");
    let (status, _) = client
        .send(reqwest::Method::POST, "/signout", None, Some(&access))
        .await;
    assert_eq!(status, StatusCode::OK);

    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    child.wait().unwrap();

    let logs = lines.lock().unwrap().join("\n");
    assert!(
        logs.contains("Request refused."),
        "debug logs were captured"
    );
    for secret in [PASSWORD, WRONG] {
        assert!(!logs.contains(secret), "a password is in the logs");
        for body in &client.bodies {
            assert!(
                !body.contains(secret),
                "a password is in a response: {body}"
            );
        }
    }
    let tokens_issued = [&tokens, &signed_in, &refreshed];
    for pair in tokens_issued {
        for kind in ["access_token", "refresh_token"] {
            let token = pair[kind].as_str().unwrap();
            assert!(!logs.contains(token), "a {kind} is in the logs");
        }
    }
}
