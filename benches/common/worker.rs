//! One OutboxWorker on a queue of `storage`, in a tree with nothing else, polling every
//! millisecond; and the wait until that queue is worked off (what the outbox benches time).

use std::sync::Arc;
use std::time::Duration;

use wattline::storage::Storage;
use wattline_actors::ports::{JobHandler, JobQueue, SoleNode, SystemClock};
use wattline_actors::workers::WorkerConfig;
use wattline_actors::{Ports, Tree, TreeConfig, TreeHandles, WorkerPorts};

/// The tree running `handler` on `queue`.
pub async fn spawn_worker(
    storage: &Arc<Storage>,
    queue: &str,
    handler: Arc<dyn JobHandler>,
) -> TreeHandles {
    Tree::spawn(
        Ports {
            store: wattline_actors::testing::MemoryStore::new(),
            sources: Vec::new(),
            clock: Arc::new(SystemClock),
            fanout: None,
            node_id: "bench".into(),
            lease: Arc::new(SoleNode),
            forecasts: None,
            weather: None,
            alerts: None,
            workers: Some(WorkerPorts {
                retention: None,
                jobs: storage.clone(),
                workers: vec![(
                    queue.into(),
                    handler,
                    WorkerConfig {
                        poll_every: Duration::from_millis(1),
                        ..WorkerConfig::default()
                    },
                )],
            }),
        },
        TreeConfig::default(),
    )
    .await
    .unwrap()
}

/// Returns once `queue` has nothing queued or running.
pub async fn drained(storage: &Storage, queue: &str) {
    loop {
        let counts = storage.counts(queue).await.unwrap();
        if counts.queued == 0 && counts.running == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}
