//! The outbox end to end: email through a real SMTP server (aiosmtpd, started by `.ci/run`),
//! retried while it is down and delivered when it is back; a poison job parked for an operator
//! while the others go on; two nodes on one database never send a job twice; and a process
//! killed with SIGKILL mid-queue finishes every job after a restart.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use jiff::Timestamp;
use reqwest::StatusCode;
use serde_json::{Value, json};
use wattline::config::{EmailTransport, SmtpSecurity};
use wattline::storage::{NewJob, Storage, StorageOptions, UnitOfWork};
use wattline_actors::ports::JobQueue;

use crate::cluster::shared_database;
use crate::helpers::{API_KEY, NOW, TestApp, eventually, test_settings};

/// The loopback SMTP server and the Maildir it stores into, or `None` to skip (a failure when
/// CI is set).
fn smtp() -> Option<(String, u16, PathBuf)> {
    match (
        std::env::var("TEST_SMTP_URL"),
        std::env::var("TEST_SMTP_DIR"),
    ) {
        (Ok(url), Ok(dir)) => {
            let url = url::Url::parse(&url).expect("TEST_SMTP_URL is a URL");
            Some((
                url.host_str().unwrap().to_string(),
                url.port().unwrap_or(25),
                PathBuf::from(dir),
            ))
        }
        _ => {
            assert!(
                std::env::var_os("CI").is_none(),
                "CI is set but TEST_SMTP_URL/TEST_SMTP_DIR are not: the SMTP tests cannot run"
            );
            eprintln!("TEST_SMTP_URL not set; skipping");
            None
        }
    }
}

/// Messages in a Maildir addressed to `to`.
fn received(maildir: &Path, to: &str) -> Vec<String> {
    ["new", "cur"]
        .iter()
        .filter_map(|sub| std::fs::read_dir(maildir.join(sub)).ok())
        .flatten()
        .filter_map(|e| std::fs::read_to_string(e.ok()?.path()).ok())
        .filter(|m| m.contains(&format!("To: {to}")))
        .collect()
}

fn beta(email: &str) -> Value {
    json!({
        "email": email, "name": "Ada Lovelace", "postcode": "SW1A 1AA",
        "currentSupplier": "Octopus Energy", "monthlyBill": "85", "hearAbout": "a friend"
    })
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Forwards every connection on `port` to `target` (the SMTP server coming "back up").
async fn forward(port: u16, target: (String, u16)) {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .unwrap();
    tokio::spawn(async move {
        while let Ok((mut inbound, _)) = listener.accept().await {
            let target = target.clone();
            tokio::spawn(async move {
                if let Ok(mut outbound) = tokio::net::TcpStream::connect(target).await {
                    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                }
            });
        }
    });
}

#[tokio::test]
async fn smtp_down_then_up_retries_and_delivers_once() {
    let Some((host, port, maildir)) = smtp() else {
        return;
    };
    let down = free_port();
    let app = TestApp::spawn_with(|s| {
        s.email.transport = EmailTransport::Smtp;
        s.email.smtp_host = "127.0.0.1".into();
        s.email.smtp_port = down;
        s.email.smtp_security = SmtpSecurity::None;
    })
    .await;
    let to = format!("smtp-{}@example.com", uuid::Uuid::new_v4().simple());
    let (status, body) = app.post_body("/api/v1/beta/signup", &beta(&to)).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let code = body["betaCode"].as_str().unwrap().to_string();
    eventually("a failed attempt and a retry", async || {
        app.metrics().await.lines().any(|l| {
            l.starts_with("wattline_jobs_total{")
                && l.contains("queue=\"email\"")
                && l.contains("outcome=\"retried\"")
                && !l.ends_with(" 0")
        })
    })
    .await;
    assert!(received(&maildir, &to).is_empty());
    forward(down, (host, port)).await;
    // The retry is due a moment later on the engine clock (a manual clock in tests).
    let now: Timestamp = NOW.parse().unwrap();
    app.clock.set(now + jiff::SignedDuration::from_secs(1));
    eventually("the welcome email at the SMTP server", async || {
        !received(&maildir, &to).is_empty()
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let messages = received(&maildir, &to);
    assert_eq!(messages.len(), 1, "delivered once");
    assert!(messages[0].contains(&code));
    assert!(messages[0].contains("Subject: Welcome to the Wattline beta"));
    assert!(
        messages[0].contains("multipart/alternative"),
        "plain text and HTML"
    );
}

#[tokio::test]
async fn a_poison_job_parks_while_the_others_go_on_and_an_operator_retries_it() {
    let dir = tempfile::tempdir().unwrap();
    let app = TestApp::start(test_settings(dir.path()), NOW.parse().unwrap()).await;
    let storage = Storage::open_sqlite(
        &format!("sqlite://{}", dir.path().join("wattline.sqlite3").display()),
        &StorageOptions {
            max_connections: 1,
            acquire_timeout: Duration::from_secs(5),
        },
    )
    .await
    .unwrap();
    let now: Timestamp = NOW.parse().unwrap();
    let mut unit = UnitOfWork::new();
    unit.enqueue(NewJob {
        queue: "email".into(),
        kind: "no_such_template".into(),
        payload: json!({}),
        idempotency_key: "poison:1".into(),
        user_id: None,
        run_at: now,
    });
    storage.commit(unit).await.unwrap();
    let (status, _) = app
        .post_body("/api/v1/beta/signup", &beta("ada@example.com"))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    eventually("the welcome email", async || app.emails().len() == 1).await;

    let jobs =
        async |app: &TestApp| -> Value { app.operator_get("/api/v1/admin/jobs?queue=email").await };
    eventually("the poison job parked", async || {
        jobs(&app).await["total"] == 1
    })
    .await;
    let parked = jobs(&app).await["jobs"][0].clone();
    assert_eq!(parked["kind"], "no_such_template");
    assert!(
        parked["last_error"]
            .as_str()
            .unwrap()
            .contains("no email template")
    );
    assert_eq!(parked["attempts"], 1, "a permanent failure is not retried");

    let actors = app.operator_get("/api/v1/admin/actors").await;
    let email = actors["workers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["queue"] == "email")
        .unwrap()
        .clone();
    assert_eq!(
        (email["done"].as_u64(), email["failed"].as_u64()),
        (Some(1), Some(1)),
        "{email}"
    );
    assert!(
        actors["actors"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["name"] == "email-worker" && a["state"] == "running")
    );

    // An operator queues it again: it fails again, and stays visible.
    let id = parked["id"].as_str().unwrap();
    let retry = |id: String| {
        app.client
            .post(app.url(&format!("/api/v1/admin/jobs/{id}/retry")))
            .header("x-api-key", API_KEY)
            .send()
    };
    assert_eq!(
        retry(id.to_string()).await.unwrap().status(),
        StatusCode::OK
    );
    assert_eq!(
        retry("no-such-job".into()).await.unwrap().status(),
        StatusCode::NOT_FOUND
    );
    eventually("parked again", async || jobs(&app).await["total"] == 1).await;
    let unauthorised = app
        .client
        .get(app.url("/api/v1/admin/jobs"))
        .send()
        .await
        .unwrap();
    assert_eq!(unauthorised.status(), StatusCode::UNAUTHORIZED);
    storage.close().await;
}

/// Queues `n` welcome emails straight into the outbox of `database`.
async fn queue_welcomes(database: &str, n: usize, tag: &str) {
    let storage = Storage::open(
        database,
        &StorageOptions {
            max_connections: 1,
            acquire_timeout: Duration::from_secs(10),
        },
    )
    .await
    .unwrap();
    let now: Timestamp = NOW.parse().unwrap();
    let mut unit = UnitOfWork::new();
    for i in 0..n {
        unit.enqueue(NewJob {
            queue: "email".into(),
            kind: "beta_welcome".into(),
            payload: json!({ "to": format!("user{i}@example.com"), "name": "A", "beta_code": format!("{tag}-{i}") }),
            idempotency_key: format!("{tag}:{i}"),
            user_id: None,
            run_at: now,
        });
    }
    storage.commit(unit).await.unwrap();
    storage.close().await;
}

fn message_ids(mails: &[String]) -> Vec<String> {
    mails
        .iter()
        .filter_map(|m| {
            m.lines()
                .find(|l| l.to_ascii_lowercase().starts_with("message-id:"))
                .map(|l| l[11..].trim().to_string())
        })
        .collect()
}

#[tokio::test]
async fn two_nodes_on_one_database_send_each_job_once() {
    let dir = tempfile::tempdir().unwrap();
    let database = shared_database(dir.path()).await;
    let node = |name: &str| {
        let mut settings = test_settings(dir.path());
        settings.storage.database_url = database.clone();
        settings.email.file_dir = dir.path().join(name);
        settings.workers.batch = std::num::NonZeroU32::new(5).unwrap();
        settings
    };
    let a = TestApp::start(node("a"), NOW.parse().unwrap()).await;
    let b = TestApp::start(node("b"), NOW.parse().unwrap()).await;
    queue_welcomes(&database, 120, "pair").await;
    eventually("120 emails across both nodes", async || {
        a.emails().len() + b.emails().len() >= 120
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut all = a.emails();
    all.extend(b.emails());
    let ids = message_ids(&all);
    let distinct: HashSet<&String> = ids.iter().collect();
    assert_eq!(all.len(), 120, "no job sent twice");
    assert_eq!(distinct.len(), 120);
    eprintln!(
        "node a sent {}, node b {}",
        a.emails().len(),
        b.emails().len()
    );
}

fn start_binary(database: &str, mail: &Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_wattline"))
        .arg("serve")
        .env("WATTLINE_SERVER__BIND", "127.0.0.1:0")
        .env("WATTLINE_STORAGE__DATABASE_URL", database)
        .env("WATTLINE_EMAIL__FILE_DIR", mail)
        .env("WATTLINE_FORECAST__ENABLED", "false")
        .env("WATTLINE_FORECAST__BOOTSTRAP_DAYS", "0")
        .env("WATTLINE_WORKERS__POLL_EVERY", "50ms")
        .env("WATTLINE_WORKERS__BATCH", "8")
        // Claims of the killed process lapse quickly, so the restart takes them up.
        .env("WATTLINE_WORKERS__LEASE", "2s")
        .env("WATTLINE_WORKERS__ATTEMPT_TIMEOUT", "1s")
        .env("WATTLINE_TELEMETRY__LOG_FILTER", "error")
        .env_remove("RUST_LOG")
        .env_remove("WATTLINE_CONFIG")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("binary starts")
}

#[tokio::test]
async fn after_a_sigkill_mid_queue_every_job_completes_once() {
    let dir = tempfile::tempdir().unwrap();
    let database = format!("sqlite://{}/kill.sqlite3", dir.path().display());
    let mail = dir.path().join("mail");
    // Create the schema, then queue the jobs before the process starts.
    let mut first = start_binary(&database, &mail);
    let count = || std::fs::read_dir(&mail).map(|d| d.count()).unwrap_or(0);
    eventually("the first process is up", async || mail.exists()).await;
    first.kill().unwrap();
    first.wait().unwrap();
    const JOBS: usize = 3000;
    queue_welcomes(&database, JOBS, "kill").await;

    let mut second = start_binary(&database, &mail);
    eventually("work under way", async || count() > 0).await;
    // SIGKILL mid-queue: claims in flight, most jobs still queued.
    second.kill().unwrap();
    second.wait().unwrap();
    let sent_before = count();
    assert!(
        sent_before < JOBS,
        "killed before the queue was done ({sent_before})"
    );

    let mut third = start_binary(&database, &mail);
    let storage = Storage::open(
        &database,
        &StorageOptions {
            max_connections: 1,
            acquire_timeout: Duration::from_secs(10),
        },
    )
    .await
    .unwrap();
    for _ in 0..600 {
        let counts = storage.counts("email").await.unwrap();
        if counts.queued == 0 && counts.running == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let counts = storage.counts("email").await.unwrap();
    third.kill().unwrap();
    third.wait().unwrap();
    assert_eq!(
        (counts.queued, counts.running, counts.failed),
        (0, 0, 0),
        "every job done"
    );
    let mails: Vec<String> = std::fs::read_dir(&mail)
        .unwrap()
        .filter_map(|e| std::fs::read_to_string(e.ok()?.path()).ok())
        .collect();
    let ids = message_ids(&mails);
    let distinct: HashSet<&String> = ids.iter().collect();
    assert_eq!(distinct.len(), JOBS, "every job's message sent");
    // At least once: only the attempts in flight at the kill (one batch) may be sent again,
    // with the same Message-ID, so the receiver can drop them.
    let repeats = mails.len() - distinct.len();
    assert!(
        repeats <= 8,
        "{repeats} repeats, more than one batch in flight"
    );
    storage.close().await;
}
