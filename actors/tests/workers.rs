//! The outbox workers under the WorkerSupervisor, against an in-memory outbox: jobs are done,
//! retried after a transient failure, parked after a permanent one (or a panic each time) while
//! the others go on, and a crashed worker is restarted and carries on.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use wattline_actors::domain::Region;
use wattline_actors::ports::{ClaimedJob, JobHandler, SoleNode};
use wattline_actors::supervision::BackoffPolicy;
use wattline_actors::testing::{ManualClock, MemoryJobs, MemoryStore, wait_until};
use wattline_actors::workers::{JobFailure, RetryPolicy, WorkerConfig};
use wattline_actors::{Ports, Tree, TreeConfig, TreeHandles, WorkerPorts};

/// Fails `flaky` jobs once, `poison` jobs for good, panics on `panic` jobs, and records the rest.
#[derive(Default)]
struct Recorder {
    done: Mutex<Vec<String>>,
    flaky_failures: AtomicU32,
}

#[async_trait]
impl JobHandler for Recorder {
    async fn handle(&self, job: &ClaimedJob) -> Result<(), JobFailure> {
        match job.kind.as_str() {
            "flaky" if self.flaky_failures.fetch_add(1, Ordering::SeqCst) == 0 => {
                Err(JobFailure::Transient("server down".into()))
            }
            "poison" => Err(JobFailure::Permanent("cannot parse".into())),
            "panic" => panic!("handler bug"),
            _ => {
                self.done.lock().unwrap().push(job.id.clone());
                Ok(())
            }
        }
    }
}

fn config() -> WorkerConfig {
    WorkerConfig {
        poll_every: Duration::from_millis(20),
        batch: 4,
        lease: Duration::from_secs(60),
        attempt_timeout: Duration::from_secs(5),
        retry: RetryPolicy {
            max_attempts: 3,
            backoff: BackoffPolicy {
                initial: Duration::from_millis(1),
                max: Duration::from_millis(5),
                multiplier: 2,
                jitter: 0.0,
            },
        },
    }
}

async fn spawn(
    jobs: Arc<MemoryJobs>,
    handler: Arc<Recorder>,
    clock: Arc<ManualClock>,
) -> TreeHandles {
    let mut tree_config = TreeConfig::default();
    tree_config.supervision.backoff.initial = Duration::from_millis(10);
    Tree::spawn(
        Ports {
            store: MemoryStore::new(),
            sources: vec![(Region::Uk, vec![])],
            clock,
            fanout: None,
            node_id: "test".into(),
            lease: Arc::new(SoleNode),
            forecasts: None,
            weather: None,
            alerts: None,
            workers: Some(WorkerPorts {
                retention: None,
                jobs,
                workers: vec![("email".into(), handler, config())],
            }),
        },
        tree_config,
    )
    .await
    .expect("tree starts")
}

#[tokio::test]
async fn jobs_are_done_retried_or_parked_and_the_others_go_on() {
    let jobs = Arc::new(MemoryJobs::default());
    let now: jiff::Timestamp = "2026-12-01T10:00:00Z".parse().unwrap();
    for kind in ["ok", "flaky", "poison", "panic", "ok", "ok"] {
        jobs.push("email", kind, serde_json::json!({}), now);
    }
    jobs.push("other-queue", "ok", serde_json::json!({}), now);
    let recorder = Arc::new(Recorder::default());
    let clock = ManualClock::new(now);
    let tree = spawn(jobs.clone(), recorder.clone(), clock.clone()).await;

    let mut later = now;
    assert!(
        wait_until(Duration::from_secs(10), || {
            // Retries are due a few (engine) milliseconds later.
            later += jiff::SignedDuration::from_millis(10);
            clock.set(later);
            jobs.with_status("done").len() == 4 && jobs.with_status("failed").len() == 2
        })
        .await,
        "done {:?} failed {:?}",
        jobs.with_status("done").len(),
        jobs.with_status("failed")
    );
    let failed = jobs.with_status("failed");
    let poison = failed.iter().find(|j| j.job.kind == "poison").unwrap();
    assert_eq!(poison.job.attempts, 1, "a permanent failure parks at once");
    assert_eq!(poison.last_error.as_deref(), Some("cannot parse"));
    let panicked = failed.iter().find(|j| j.job.kind == "panic").unwrap();
    assert_eq!(
        panicked.job.attempts, 3,
        "a panicking job uses its attempts"
    );
    let flaky = jobs
        .with_status("done")
        .into_iter()
        .find(|j| j.job.kind == "flaky")
        .unwrap();
    assert_eq!(
        flaky.job.attempts, 2,
        "retried once after the transient failure"
    );
    assert_eq!(recorder.done.lock().unwrap().len(), 4, "each job done once");
    assert_eq!(
        jobs.with_status("queued").len(),
        1,
        "another queue's job is not taken"
    );
    let workers = tree.workers.as_ref().unwrap();
    let snapshot = &workers.snapshots("2026-12-01T10:00:00Z".parse().unwrap())[0];
    assert_eq!(
        (snapshot.done, snapshot.failed, snapshot.retried),
        (4, 2, 3)
    );
    tree.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test]
async fn a_crashed_worker_is_restarted_and_keeps_working() {
    let jobs = Arc::new(MemoryJobs::default());
    let recorder = Arc::new(Recorder::default());
    let clock = ManualClock::new("2026-12-01T10:00:00Z".parse().unwrap());
    let tree = spawn(jobs.clone(), recorder.clone(), clock).await;
    let workers = tree.workers.clone().unwrap();
    workers.crash("email");
    let restarted = async {
        loop {
            let children = workers.children().await.unwrap();
            if children[0].restarts == 1 && children[0].state.to_string() == "running" {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(5), restarted)
        .await
        .expect("the worker is restarted");
    jobs.push(
        "email",
        "ok",
        serde_json::json!({}),
        "2026-12-01T10:00:00Z".parse().unwrap(),
    );
    assert!(
        wait_until(Duration::from_secs(5), || jobs.with_status("done").len()
            == 1)
        .await
    );
    let root = tree.root.children().await.unwrap();
    assert!(
        root.iter()
            .any(|c| c.name == "worker-supervisor" && c.restarts == 0)
    );
    tree.shutdown(Duration::from_secs(5)).await;
}

/// Takes its time, so a shutdown finds it in flight.
struct Slow;

#[async_trait]
impl JobHandler for Slow {
    async fn handle(&self, _job: &ClaimedJob) -> Result<(), JobFailure> {
        tokio::time::sleep(Duration::from_millis(300)).await;
        Ok(())
    }
}

#[tokio::test]
async fn shutdown_lets_the_jobs_in_flight_finish_and_leaves_the_rest_queued() {
    let jobs = Arc::new(MemoryJobs::default());
    let now: jiff::Timestamp = "2026-12-01T10:00:00Z".parse().unwrap();
    for _ in 0..6 {
        jobs.push("email", "ok", serde_json::json!({}), now);
    }
    let mut tree_config = TreeConfig::default();
    tree_config.supervision.backoff.initial = Duration::from_millis(10);
    let tree = Tree::spawn(
        Ports {
            store: MemoryStore::new(),
            sources: vec![(Region::Uk, vec![])],
            clock: ManualClock::new(now),
            fanout: None,
            node_id: "test".into(),
            lease: Arc::new(SoleNode),
            forecasts: None,
            weather: None,
            alerts: None,
            workers: Some(WorkerPorts {
                retention: None,
                jobs: jobs.clone(),
                workers: vec![("email".into(), Arc::new(Slow), config())],
            }),
        },
        tree_config,
    )
    .await
    .expect("tree starts");
    assert!(
        wait_until(Duration::from_secs(5), || jobs.with_status("running").len()
            == 4)
        .await,
        "a batch of four is in flight"
    );
    tree.shutdown(Duration::from_secs(5)).await;
    assert_eq!(
        jobs.with_status("done").len(),
        4,
        "the batch in flight finished"
    );
    assert_eq!(jobs.with_status("queued").len(), 2, "the rest stay queued");
    assert!(jobs.with_status("running").is_empty());
}
