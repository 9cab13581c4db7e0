//! Fakes of every port for tests of the tree and of the service: a scripted price source, an
//! in-memory store, a settable clock, and a poll-until helper that works under paused time.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use jiff::Timestamp;
use jiff::civil::Date;
use rust_decimal::Decimal;
use tokio::time::Instant;

use crate::domain::calendar::interval_starts;
use crate::domain::{EnergyUnit, PriceKind, PricePoint, Region, Source};
use crate::forecaster::{RegionForecast, StoredStep};
use crate::ports::{
    Clock, ForecastStore, PriceSource, PriceStore, SourceError, StoreError, StoredModel,
};

/// A clock tests set by hand.
#[derive(Debug)]
pub struct ManualClock(Mutex<Timestamp>);

impl ManualClock {
    /// A clock reading `at`.
    pub fn new(at: Timestamp) -> Arc<Self> {
        Arc::new(ManualClock(Mutex::new(at)))
    }

    /// Moves the clock to `at`.
    pub fn set(&self, at: Timestamp) {
        *self.0.lock().expect("clock lock") = at;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        *self.0.lock().expect("clock lock")
    }
}

/// A complete day of constant prices for `region`, as a day-ahead source would deliver it.
pub fn flat_day(region: Region, day: Date, source: Source, price: Decimal) -> Vec<PricePoint> {
    interval_starts(region, day)
        .map(|start| PricePoint {
            region,
            start,
            duration_minutes: region.resolution().minutes(),
            price,
            currency: region.currency(),
            unit: EnergyUnit::MWh,
            kind: PriceKind::DayAhead,
            source,
            fetched_at: Timestamp::UNIX_EPOCH,
            estimated: false,
        })
        .collect()
}

/// What a [`ScriptedSource`] does on one call.
#[derive(Debug, Clone)]
pub enum Step {
    /// Answer a complete flat day at this price.
    Deliver(Decimal),
    /// Answer only the first `n` intervals of the day (an incomplete day).
    DeliverFirst(usize),
    /// Fail with this error.
    Fail(SourceError),
    /// Panic inside the fetch.
    Panic,
    /// Never answer (the fetch timeout must catch it).
    Hang,
}

/// A source that follows a script, then repeats its last step. It records when it was called.
#[derive(Debug)]
pub struct ScriptedSource {
    source: Source,
    script: Mutex<VecDeque<Step>>,
    calls: Mutex<Vec<(Instant, Region, Date)>>,
}

impl ScriptedSource {
    /// A source named `source` that performs `steps` in order.
    pub fn new(source: Source, steps: impl IntoIterator<Item = Step>) -> Arc<Self> {
        Arc::new(ScriptedSource {
            source,
            script: Mutex::new(steps.into_iter().collect()),
            calls: Mutex::new(Vec::new()),
        })
    }

    /// When each call happened (tokio time), with its region and day.
    pub fn calls(&self) -> Vec<(Instant, Region, Date)> {
        self.calls.lock().expect("calls lock").clone()
    }

    fn next_step(&self) -> Step {
        let mut script = self.script.lock().expect("script lock");
        if script.len() > 1 {
            script.pop_front().expect("non-empty")
        } else {
            script
                .front()
                .cloned()
                .unwrap_or(Step::Deliver(Decimal::ONE))
        }
    }
}

#[async_trait]
impl PriceSource for ScriptedSource {
    fn source(&self) -> Source {
        self.source
    }

    async fn fetch_day(&self, region: Region, day: Date) -> Result<Vec<PricePoint>, SourceError> {
        self.calls
            .lock()
            .expect("calls lock")
            .push((Instant::now(), region, day));
        match self.next_step() {
            Step::Deliver(price) => Ok(flat_day(region, day, self.source, price)),
            Step::DeliverFirst(n) => Ok(flat_day(region, day, self.source, Decimal::ONE)
                .into_iter()
                .take(n)
                .collect()),
            Step::Fail(error) => Err(error),
            Step::Panic => panic!("scripted source panic"),
            Step::Hang => std::future::pending().await,
        }
    }
}

/// An in-memory [`PriceStore`] keyed like the real ones; can be told to fail.
#[derive(Debug, Default)]
pub struct MemoryStore {
    rows: Mutex<BTreeMap<(Region, Source, Timestamp, u32), PricePoint>>,
    failures_left: Mutex<u32>,
    panics_left: Mutex<u32>,
    commits: Mutex<Vec<usize>>,
    forecasts: Mutex<BTreeMap<(Region, String, Timestamp), StoredStep>>,
    weather: Mutex<Vec<crate::domain::weather::WeatherPoint>>,
    models: Mutex<BTreeMap<Region, crate::ports::StoredModel>>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Arc<Self> {
        Arc::new(MemoryStore::default())
    }

    /// The next `n` upserts fail with `Unavailable`.
    pub fn fail_next(&self, n: u32) {
        *self.failures_left.lock().expect("lock") = n;
    }

    /// The next `n` upserts panic (a bug in the store, as the writer would see it).
    pub fn panic_next(&self, n: u32) {
        *self.panics_left.lock().expect("lock") = n;
    }

    /// Every stored point.
    pub fn all(&self) -> Vec<PricePoint> {
        self.rows.lock().expect("lock").values().cloned().collect()
    }

    /// Every stored weather step.
    pub fn weather(&self) -> Vec<crate::domain::weather::WeatherPoint> {
        self.weather.lock().expect("lock").clone()
    }

    /// Size of each committed batch, in order.
    pub fn commits(&self) -> Vec<usize> {
        self.commits.lock().expect("lock").clone()
    }
}

#[async_trait]
impl PriceStore for MemoryStore {
    async fn upsert_prices(&self, points: &[PricePoint]) -> Result<u64, StoreError> {
        let panic_now = {
            let mut left = self.panics_left.lock().expect("lock");
            let now = *left > 0;
            *left = left.saturating_sub(1);
            now
        };
        assert!(!panic_now, "scripted store panic");
        {
            let mut left = self.failures_left.lock().expect("lock");
            if *left > 0 {
                *left -= 1;
                return Err(StoreError::Unavailable("scripted failure".into()));
            }
        }
        let mut rows = self.rows.lock().expect("lock");
        for p in points {
            rows.insert(p.key(), p.clone());
        }
        self.commits.lock().expect("lock").push(points.len());
        Ok(points.len() as u64)
    }

    async fn prices_since(
        &self,
        region: Region,
        since: Timestamp,
    ) -> Result<Vec<PricePoint>, StoreError> {
        let mut out: Vec<_> = self
            .rows
            .lock()
            .expect("lock")
            .values()
            .filter(|p| p.region == region && p.end() > since)
            .cloned()
            .collect();
        out.sort_by_key(|p| p.start);
        Ok(out)
    }
}

#[async_trait]
impl crate::ports::WeatherStore for MemoryStore {
    async fn upsert_weather(
        &self,
        points: &[crate::domain::weather::WeatherPoint],
    ) -> Result<u64, StoreError> {
        self.weather.lock().expect("lock").extend_from_slice(points);
        Ok(points.len() as u64)
    }
}

#[async_trait]
impl ForecastStore for MemoryStore {
    async fn save_forecast(&self, forecast: &RegionForecast) -> Result<u64, StoreError> {
        let mut rows = self.forecasts.lock().expect("lock");
        for step in &forecast.steps {
            rows.insert(
                (forecast.region, forecast.model.version.clone(), step.start),
                StoredStep {
                    model_version: forecast.model.version.clone(),
                    made_at: forecast.model.calibrated_at,
                    step: step.clone(),
                },
            );
        }
        Ok(forecast.steps.len() as u64)
    }

    async fn forecast_steps(
        &self,
        region: Region,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<StoredStep>, StoreError> {
        let mut out: Vec<StoredStep> = self
            .forecasts
            .lock()
            .expect("lock")
            .iter()
            .filter(|((r, _, start), _)| *r == region && *start >= from && *start < to)
            .map(|(_, step)| step.clone())
            .collect();
        out.sort_by(|a, b| (a.step.start, &a.model_version).cmp(&(b.step.start, &b.model_version)));
        Ok(out)
    }

    async fn prune_forecasts(&self, region: Region, before: Timestamp) -> Result<u64, StoreError> {
        let mut rows = self.forecasts.lock().expect("lock");
        let was = rows.len();
        rows.retain(|(r, _, start), _| *r != region || *start >= before);
        Ok((was - rows.len()) as u64)
    }

    async fn save_model(&self, model: &StoredModel) -> Result<(), StoreError> {
        self.models
            .lock()
            .expect("lock")
            .insert(model.region, model.clone());
        Ok(())
    }

    async fn load_model(&self, region: Region) -> Result<Option<StoredModel>, StoreError> {
        Ok(self.models.lock().expect("lock").get(&region).cloned())
    }
}

/// Polls `check` every 10 ms (tokio time, so it advances under a paused clock) until it holds
/// or `deadline` passes; returns whether it held.
pub async fn wait_until(deadline: Duration, mut check: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + deadline;
    loop {
        if check() {
            return true;
        }
        if Instant::now() >= end {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Leases shared by several in-process nodes: a region is held by at most one node id.
#[derive(Debug, Default)]
pub struct SharedLeases {
    holders: Mutex<BTreeMap<Region, String>>,
}

impl SharedLeases {
    /// A fresh lease table.
    pub fn new() -> Arc<Self> {
        Arc::new(SharedLeases::default())
    }

    /// The lease of one node on this table.
    pub fn for_node(self: &Arc<Self>, node: &str) -> Arc<NodeLease> {
        Arc::new(NodeLease {
            table: self.clone(),
            node: node.to_string(),
        })
    }

    /// Who holds `region`.
    pub fn holder(&self, region: Region) -> Option<String> {
        self.holders.lock().expect("lock").get(&region).cloned()
    }
}

/// One node's view of [`SharedLeases`].
#[derive(Debug)]
pub struct NodeLease {
    table: Arc<SharedLeases>,
    node: String,
}

#[async_trait]
impl crate::ports::RegionLease for NodeLease {
    async fn hold(&self, region: Region) -> Result<bool, crate::ports::LeaseError> {
        let mut holders = self.table.holders.lock().expect("lock");
        let holder = holders.entry(region).or_insert_with(|| self.node.clone());
        Ok(*holder == self.node)
    }

    async fn release(&self, region: Region) {
        let mut holders = self.table.holders.lock().expect("lock");
        if holders.get(&region) == Some(&self.node) {
            holders.remove(&region);
        }
    }

    fn renew_every(&self) -> Duration {
        Duration::from_secs(1)
    }
}

/// An in-process stand-in for the Redis fan-out: assigns increasing ids and delivers every
/// event to every subscribed node, in order. Can be switched off to test the local fallback.
#[derive(Default)]
pub struct LoopbackFanOut {
    subscribers: Mutex<Vec<tokio::sync::mpsc::Sender<crate::broadcast::IncomingEvent>>>,
    next_id: Mutex<u64>,
    down: Mutex<bool>,
}

impl LoopbackFanOut {
    /// A bus with no nodes yet.
    pub fn new() -> Arc<Self> {
        Arc::new(LoopbackFanOut {
            next_id: Mutex::new(1_000),
            ..LoopbackFanOut::default()
        })
    }

    /// Makes publishing fail (`true`) or work again.
    pub fn set_down(&self, down: bool) {
        *self.down.lock().expect("lock") = down;
    }
}

#[async_trait]
impl crate::ports::FanOut for LoopbackFanOut {
    async fn publish(
        &self,
        event: &crate::broadcast::OutgoingEvent,
    ) -> Result<u64, crate::ports::FanOutError> {
        if *self.down.lock().expect("lock") {
            return Err(crate::ports::FanOutError::Unavailable(
                "switched off".into(),
            ));
        }
        let id = {
            let mut next = self.next_id.lock().expect("lock");
            *next = (*next + 1).max(event.after_id + 1);
            *next
        };
        self.subscribers.lock().expect("lock").retain(|node| {
            node.try_send(crate::broadcast::IncomingEvent {
                id,
                region: event.region,
                kind: event.kind,
                origin: event.origin.clone(),
                payload: event.payload.clone(),
            })
            .is_ok()
        });
        Ok(id)
    }
}

#[async_trait]
impl crate::ports::EventFeed for LoopbackFanOut {
    async fn subscribe(
        &self,
    ) -> Result<crate::ports::EventSubscription, crate::ports::FanOutError> {
        let (tx, events) = tokio::sync::mpsc::channel(4096);
        self.subscribers.lock().expect("lock").push(tx);
        Ok(crate::ports::EventSubscription {
            events,
            guard: Box::new(()),
        })
    }
}

/// One job in [`MemoryJobs`].
#[derive(Debug, Clone)]
pub struct MemoryJob {
    pub job: crate::ports::ClaimedJob,
    /// `queued`, `running`, `done` or `failed`.
    pub status: &'static str,
    pub run_at: Timestamp,
    pub locked_until: Option<Timestamp>,
    pub last_error: Option<String>,
}

/// An in-memory outbox with the claim rules of the real one.
#[derive(Debug, Default)]
pub struct MemoryJobs {
    pub jobs: Mutex<Vec<MemoryJob>>,
}

impl MemoryJobs {
    /// Queues a job of `queue` due at `at`.
    pub fn push(&self, queue: &str, kind: &str, payload: serde_json::Value, at: Timestamp) {
        let mut jobs = self.jobs.lock().unwrap();
        let id = format!("job-{}", jobs.len());
        jobs.push(MemoryJob {
            job: crate::ports::ClaimedJob {
                idempotency_key: id.clone(),
                id,
                queue: queue.into(),
                kind: kind.into(),
                payload,
                user_id: None,
                attempts: 0,
                claim: String::new(),
            },
            status: "queued",
            run_at: at,
            locked_until: None,
            last_error: None,
        });
    }

    /// Jobs with `status`.
    pub fn with_status(&self, status: &str) -> Vec<MemoryJob> {
        let jobs = self.jobs.lock().unwrap();
        jobs.iter()
            .filter(|j| j.status == status)
            .cloned()
            .collect()
    }

    fn settle(
        &self,
        job: &crate::ports::ClaimedJob,
        change: impl FnOnce(&mut MemoryJob),
    ) -> Result<bool, StoreError> {
        let mut jobs = self.jobs.lock().unwrap();
        match jobs
            .iter_mut()
            .find(|j| j.job.id == job.id && j.status == "running" && j.job.claim == job.claim)
        {
            Some(stored) => {
                change(stored);
                stored.locked_until = None;
                Ok(true)
            }
            None => Ok(false),
        }
    }
}

#[async_trait]
impl crate::ports::JobQueue for MemoryJobs {
    async fn claim(
        &self,
        queue: &str,
        claim: &str,
        limit: u32,
        now: Timestamp,
        lease_until: Timestamp,
    ) -> Result<Vec<crate::ports::ClaimedJob>, StoreError> {
        let mut jobs = self.jobs.lock().unwrap();
        let mut claimed = Vec::new();
        for stored in jobs.iter_mut() {
            let due = (stored.status == "queued" && stored.run_at <= now)
                || (stored.status == "running" && stored.locked_until.is_some_and(|l| l < now));
            if stored.job.queue == queue && due && claimed.len() < limit as usize {
                stored.status = "running";
                stored.job.attempts += 1;
                stored.job.claim = claim.into();
                stored.locked_until = Some(lease_until);
                claimed.push(stored.job.clone());
            }
        }
        Ok(claimed)
    }

    async fn complete(
        &self,
        job: &crate::ports::ClaimedJob,
        _now: Timestamp,
    ) -> Result<bool, StoreError> {
        self.settle(job, |j| j.status = "done")
    }

    async fn retry(
        &self,
        job: &crate::ports::ClaimedJob,
        run_at: Timestamp,
        error: &str,
        _now: Timestamp,
    ) -> Result<bool, StoreError> {
        self.settle(job, |j| {
            j.status = "queued";
            j.run_at = run_at;
            j.last_error = Some(error.into());
        })
    }

    async fn park(
        &self,
        job: &crate::ports::ClaimedJob,
        error: &str,
        _now: Timestamp,
    ) -> Result<bool, StoreError> {
        self.settle(job, |j| {
            j.status = "failed";
            j.last_error = Some(error.into());
        })
    }

    async fn counts(&self, queue: &str) -> Result<crate::ports::QueueCounts, StoreError> {
        let jobs = self.jobs.lock().unwrap();
        let of = |s: &str| {
            jobs.iter()
                .filter(|j| j.job.queue == queue && j.status == s)
                .count() as u64
        };
        Ok(crate::ports::QueueCounts {
            queued: of("queued"),
            running: of("running"),
            failed: of("failed"),
            oldest_queued: None,
        })
    }
}
