//! The traits through which actors reach the outside world. The service crate implements them
//! (storage, HTTP price providers, the wall clock); tests implement them with fakes.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use jiff::Timestamp;
use jiff::civil::Date;

use crate::domain::event::{IncomingEvent, OutgoingEvent};
use crate::domain::forecast::output::{RegionForecast, StoredStep};
use crate::domain::{PricePoint, Region, Source};

/// Wall-clock time. Injected so tests can set the date the fetchers and simulator see.
pub trait Clock: Send + Sync + 'static {
    /// The current instant.
    fn now(&self) -> Timestamp;

    /// How long to really wait for `span` of this clock's time to pass (an accelerated clock,
    /// used for demos and load tests, passes faster than real time).
    fn real_delay(&self, span: Duration) -> Duration {
        span
    }
}

/// A clock that starts at `origin` and runs `speed` times faster than real time: replays and
/// load tests live through market days in seconds.
#[derive(Debug, Clone)]
pub struct ScaledClock {
    origin: Timestamp,
    started: std::time::Instant,
    speed: f64,
}

impl ScaledClock {
    /// A clock reading `origin` now and advancing `speed` seconds per real second.
    pub fn new(origin: Timestamp, speed: f64) -> Self {
        ScaledClock {
            origin,
            started: std::time::Instant::now(),
            speed: speed.max(f64::MIN_POSITIVE),
        }
    }
}

impl Clock for ScaledClock {
    fn now(&self) -> Timestamp {
        let elapsed = self.started.elapsed().as_secs_f64() * self.speed;
        let span =
            jiff::SignedDuration::try_from_secs_f64(elapsed).unwrap_or(jiff::SignedDuration::MAX);
        let now = self.origin.checked_add(span).unwrap_or(Timestamp::MAX);
        now.round(jiff::Unit::Millisecond).unwrap_or(now)
    }

    fn real_delay(&self, span: Duration) -> Duration {
        span.div_f64(self.speed)
    }
}

/// The real wall clock, at millisecond precision (what storage and the API keep).
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        let now = Timestamp::now();
        now.round(jiff::Unit::Millisecond).unwrap_or(now)
    }
}

/// Why a source could not deliver a day of prices.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SourceError {
    /// The market has not published this day yet; not a failure, try later.
    #[error("prices for {day} are not published yet")]
    NotPublished { day: Date },
    /// This source does not cover the region.
    #[error("source does not cover region {region}")]
    UnsupportedRegion { region: Region },
    /// No answer within the fetch timeout.
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    /// The provider refused our credentials.
    #[error("provider refused the credentials (HTTP {status})")]
    Unauthorized { status: u16 },
    /// The provider asked us to slow down.
    #[error("provider rate limit (retry after {retry_after:?})")]
    RateLimited { retry_after: Option<Duration> },
    /// Any other non-success HTTP status.
    #[error("provider answered HTTP {status}")]
    Http { status: u16 },
    /// Connection-level failure.
    #[error("transport error: {0}")]
    Transport(String),
    /// The payload could not be understood.
    #[error("malformed payload: {0}")]
    Malformed(String),
    /// The payload parsed but does not hold the whole day.
    #[error("incomplete day: expected {expected} intervals, got {got}")]
    Incomplete { expected: usize, got: usize },
    /// The source's code panicked.
    #[error("source panicked")]
    Panicked,
}

/// How a region's fetcher uses a source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceRole {
    /// Delivers the region's intraday prices; sources of this role are tried in order until one
    /// delivers a complete day.
    Primary,
    /// A reference series fetched beside the primary ones (e.g. monthly retail averages); its
    /// failures are recorded but never fail a fetch, and it never replaces a primary source.
    Reference,
}

/// A provider of day-ahead (or retail) prices for regions.
#[async_trait]
pub trait PriceSource: Send + Sync + 'static {
    /// Which source this is; every point it returns carries it.
    fn source(&self) -> Source;

    /// How the fetcher uses it (primary unless it says otherwise).
    fn role(&self) -> SourceRole {
        SourceRole::Primary
    }

    /// All prices of local `day` in `region`.
    async fn fetch_day(&self, region: Region, day: Date) -> Result<Vec<PricePoint>, SourceError>;
}

/// A region's sources in failover order, shared by its fetcher's incarnations.
pub type SourceList = Arc<[Arc<dyn PriceSource>]>;

/// Why storage could not take or give prices.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// The database cannot be reached or timed out.
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    /// The database refused the data (constraint or encoding problem).
    #[error("storage rejected the data: {0}")]
    Rejected(String),
}

/// Where the writer puts fetched prices, and where it warms its cache from on start.
#[async_trait]
pub trait PriceStore: Send + Sync + 'static {
    /// Inserts or updates (same region, source, start and duration) every point in one
    /// transaction. Returns the number of rows written.
    async fn upsert_prices(&self, points: &[PricePoint]) -> Result<u64, StoreError>;

    /// Every stored point of `region` whose interval ends after `since`, ordered by start.
    async fn prices_since(
        &self,
        region: Region,
        since: Timestamp,
    ) -> Result<Vec<PricePoint>, StoreError>;
}

/// Where the forecaster keeps its forecasts, so their accuracy can be measured once the prices
/// they forecast are published (and survives restarts).
#[async_trait]
pub trait ForecastStore: Send + Sync + 'static {
    /// Stores every step of `forecast` under its model version (re-storing replaces).
    async fn save_forecast(&self, forecast: &RegionForecast) -> Result<u64, StoreError>;

    /// Stored steps of `region` starting in `[from, to)`, by start then version.
    async fn forecast_steps(
        &self,
        region: Region,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<StoredStep>, StoreError>;

    /// Deletes the stored steps of `region` that start before `before` (retention); returns
    /// how many went.
    async fn prune_forecasts(&self, region: Region, before: Timestamp) -> Result<u64, StoreError>;

    /// Stores the region's newest calibrated model (as the forecaster serialised it), replacing
    /// the one before.
    async fn save_model(&self, model: &StoredModel) -> Result<(), StoreError>;

    /// The region's stored model, if any.
    async fn load_model(&self, region: Region) -> Result<Option<StoredModel>, StoreError>;
}

/// A calibrated model as stored between runs.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredModel {
    pub region: Region,
    pub version: String,
    pub calibrated_at: Timestamp,
    /// The forecaster's own serialisation (JSON).
    pub model: String,
}

/// Shared ports handed to the tree.
pub type SharedClock = Arc<dyn Clock>;

/// Why the fan-out could not take an event.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FanOutError {
    /// The shared bus (Redis) is unreachable or timed out.
    #[error("fan-out unavailable: {0}")]
    Unavailable(String),
}

/// The cross-node event bus. Publishing assigns the event its cluster-wide id; every node
/// (the publisher included) then receives it exactly once, in id order, and hands it to its
/// broadcaster (`BroadcastHandle::deliver`).
#[async_trait]
pub trait FanOut: Send + Sync + 'static {
    /// Publishes `event`; returns the id it was given.
    async fn publish(&self, event: &OutgoingEvent) -> Result<u64, FanOutError>;
}

/// Why a lease operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LeaseError {
    /// The lease store (Redis) is unreachable.
    #[error("lease store unavailable: {0}")]
    Unavailable(String),
}

/// Which node fetches a region: at most one holds a region's lease at a time; it expires unless
/// renewed, so another node takes over when the holder stops.
#[async_trait]
pub trait RegionLease: Send + Sync + 'static {
    /// Takes the lease of `region` if free, or renews it if this node holds it. True when this
    /// node holds it afterwards.
    async fn hold(&self, region: Region) -> Result<bool, LeaseError>;

    /// Gives the lease of `region` up, if this node holds it.
    async fn release(&self, region: Region);

    /// How often `hold` must be called to keep a held lease.
    fn renew_every(&self) -> Duration;
}

/// The single-node lease: this node always fetches every region.
#[derive(Debug, Clone, Copy, Default)]
pub struct SoleNode;

#[async_trait]
impl RegionLease for SoleNode {
    async fn hold(&self, _region: Region) -> Result<bool, LeaseError> {
        Ok(true)
    }

    async fn release(&self, _region: Region) {}

    fn renew_every(&self) -> Duration {
        // Nothing to renew; the fetchers only need to look rarely.
        Duration::from_secs(3600)
    }
}

/// A weather forecast provider (e.g. OpenWeatherMap) for the regions' reference cities.
#[async_trait]
pub trait WeatherSource: Send + Sync + 'static {
    /// The forecast steps for `region`'s reference city.
    async fn forecast(
        &self,
        region: Region,
    ) -> Result<Vec<crate::domain::weather::WeatherPoint>, SourceError>;
}

/// Where the weather collector keeps forecasts for the forecaster.
#[async_trait]
pub trait WeatherStore: Send + Sync + 'static {
    /// Inserts or updates (same region, source, instant) every step; returns rows written.
    async fn upsert_weather(
        &self,
        points: &[crate::domain::weather::WeatherPoint],
    ) -> Result<u64, StoreError>;
}

/// A live subscription to the cross-node event bus: events arrive on `events` in id order until
/// the subscription ends (then the receiver closes). Dropping it unsubscribes.
pub struct EventSubscription {
    pub events: tokio::sync::mpsc::Receiver<IncomingEvent>,
    /// Whatever keeps the subscription alive (a task, a connection); dropped with it.
    pub guard: Box<dyn Send + Sync>,
}

/// The receiving side of the cross-node event bus.
#[async_trait]
pub trait EventFeed: Send + Sync + 'static {
    /// Subscribes to every event of the deployment.
    async fn subscribe(&self) -> Result<EventSubscription, FanOutError>;
}

/// Why an attempt at a job failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JobFailure {
    /// Worth trying again (the server was down, a timeout, a 5xx).
    #[error("{0}")]
    Transient(String),
    /// Trying again cannot help (an unknown job kind, a payload that does not parse, an address
    /// the server refuses for good): the job is parked at once.
    #[error("{0}")]
    Permanent(String),
}

/// A job taken from the outbox by one worker. `claim` is the claimer's token: completing,
/// retrying or parking the job changes it only while that claim still holds (a claim whose lease
/// ran out may have been taken over by another worker).
#[derive(Debug, Clone, PartialEq)]
pub struct ClaimedJob {
    pub id: String,
    pub queue: String,
    pub kind: String,
    pub payload: serde_json::Value,
    /// The job's key in the outbox; receivers use it to recognise a repeated delivery.
    pub idempotency_key: String,
    pub user_id: Option<String>,
    /// Attempts so far, this one included.
    pub attempts: u32,
    pub claim: String,
}

/// How many jobs of a queue wait, run and are parked.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueueCounts {
    pub queued: u64,
    pub running: u64,
    pub failed: u64,
    /// When the oldest job still waiting was queued.
    pub oldest_queued: Option<Timestamp>,
}

/// The outbox as its workers see it: claim due jobs under a lease, then settle each one.
#[async_trait]
pub trait JobQueue: Send + Sync + 'static {
    /// Claims up to `limit` jobs of `queue` that are due at `now` (or whose earlier claim's lease
    /// ran out, so a crashed worker's jobs are taken up again) until `lease_until`, oldest first.
    /// Each job is claimed by one claimer at a time, across every node; `claim` must be unique
    /// per call (the jobs it holds are what the call returns).
    async fn claim(
        &self,
        queue: &str,
        claim: &str,
        limit: u32,
        now: Timestamp,
        lease_until: Timestamp,
    ) -> Result<Vec<ClaimedJob>, StoreError>;

    /// Marks a claimed job done. False when the claim no longer held.
    async fn complete(&self, job: &ClaimedJob, now: Timestamp) -> Result<bool, StoreError>;

    /// Marks claimed jobs done together (one round trip for a batch); the number whose claim
    /// still held.
    async fn complete_all(&self, jobs: &[ClaimedJob], now: Timestamp) -> Result<u64, StoreError> {
        complete_each(self, jobs, now).await
    }

    /// Queues a claimed job again, due at `run_at`, recording `error`.
    async fn retry(
        &self,
        job: &ClaimedJob,
        run_at: Timestamp,
        error: &str,
        now: Timestamp,
    ) -> Result<bool, StoreError>;

    /// Parks a claimed job as `failed` with its last `error`.
    async fn park(&self, job: &ClaimedJob, error: &str, now: Timestamp)
    -> Result<bool, StoreError>;

    /// The queue's counts.
    async fn counts(&self, queue: &str) -> Result<QueueCounts, StoreError>;
}

/// Completes `jobs` one by one; the number whose claim still held.
pub async fn complete_each<Q: JobQueue + ?Sized>(
    queue: &Q,
    jobs: &[ClaimedJob],
    now: Timestamp,
) -> Result<u64, StoreError> {
    let mut done = 0;
    for job in jobs {
        done += u64::from(queue.complete(job, now).await?);
    }
    Ok(done)
}

/// What a worker does with one job of its queue. Must be idempotent under the job's
/// idempotency key: a job is done at least once (twice when a worker dies between doing it and
/// recording it).
#[async_trait]
pub trait JobHandler: Send + Sync + 'static {
    async fn handle(&self, job: &ClaimedJob) -> Result<(), JobFailure>;
}

/// One email to send: plain text and HTML alternatives of the same message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingEmail {
    pub to: String,
    pub subject: String,
    pub text: String,
    pub html: String,
    /// Stable per job (derived from its idempotency key), so a message sent twice after a crash
    /// carries the same `Message-ID` and mail clients and tests can recognise the repeat.
    pub message_id: String,
}

/// Why a message was not sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MailError {
    /// The server could not be reached or answered with a temporary failure: try again later.
    #[error("mail server unavailable: {0}")]
    Unavailable(String),
    /// The server refused the message for good (bad address, message too large).
    #[error("mail server refused the message: {0}")]
    Refused(String),
}

/// Where emails go (SMTP, or `.eml` files on the embedded default).
#[async_trait]
pub trait Mailer: Send + Sync + 'static {
    async fn send(&self, email: &OutgoingEmail) -> Result<(), MailError>;
}

/// One webhook delivery: `body` POSTed to `url`, signed with `secret`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookDelivery {
    pub url: String,
    pub secret: String,
    /// Stable per job: receivers drop a delivery they have seen.
    pub delivery_id: String,
    pub body: String,
}

/// Why a webhook delivery failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookError {
    /// Unreachable, timed out, or answered 408, 429 or 5xx: try again later.
    #[error("webhook receiver unavailable: {0}")]
    Unavailable(String),
    /// Answered another 4xx, or the URL is not one we may call: trying again cannot help.
    #[error("webhook receiver refused the delivery: {0}")]
    Refused(String),
}

/// Sends signed webhook deliveries.
#[async_trait]
pub trait WebhookSender: Send + Sync + 'static {
    async fn deliver(&self, delivery: &WebhookDelivery) -> Result<(), WebhookError>;
}

/// Where the AlertEvaluator finds the rules and records what fired.
#[async_trait]
pub trait AlertStore: Send + Sync + 'static {
    /// Every rule with its evaluation state.
    async fn alert_rules(&self) -> Result<Vec<crate::domain::alert::AlertRule>, StoreError>;

    /// Records `firings` at `now` in one transaction: each rule's new state, one history row per
    /// rule and occurrence, and its deliveries queued in the outbox. A firing recorded before
    /// (a retry, another node) adds nothing. Returns the firings newly recorded.
    async fn record_firings(
        &self,
        firings: &[crate::domain::alert::Firing],
        now: Timestamp,
    ) -> Result<u64, StoreError>;
}

/// What the retention worker purges: everything past its time at `now`. Answers the rows
/// removed per kind.
#[async_trait]
pub trait Retention: Send + Sync + 'static {
    async fn purge(&self, now: Timestamp) -> Result<Vec<(String, u64)>, StoreError>;
}

/// A stored billing event, as the BillingWorker reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredBillingEvent {
    pub event: crate::domain::billing::BillingEvent,
    /// Whether it was applied (or found stale) already.
    pub processed: bool,
}

/// An account as read before applying an event: the state, where to email, and the version a
/// write must still find (`None`: no account row yet).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadedBillingAccount {
    pub account: crate::domain::billing::BillingAccount,
    pub email: String,
    pub version: Option<i64>,
}

/// How an event was settled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BillingSettlement {
    /// The account becomes this; the notice (if any) is emailed to the user.
    Applied {
        before: Box<LoadedBillingAccount>,
        account: Box<crate::domain::billing::BillingAccount>,
        notice: Option<crate::domain::billing::BillingNotice>,
    },
    /// Older than the account's state.
    Stale,
    /// No user matches the event (erased, or a customer made outside Wattline).
    NoAccount,
}

/// Billing events and accounts, for the BillingWorker.
#[async_trait]
pub trait BillingStore: Send + Sync + 'static {
    /// The stored event `id`.
    async fn billing_event(&self, id: &str) -> Result<Option<StoredBillingEvent>, StoreError>;

    /// The account of user `user_id`, else of the user whose Stripe customer is `customer`
    /// (a user without an account row gets a fresh one); `None` when no user matches.
    async fn billing_account(
        &self,
        user_id: Option<&str>,
        customer: Option<&str>,
    ) -> Result<Option<LoadedBillingAccount>, StoreError>;

    /// Stores `settlement` of event `event_id` in one transaction: the account and the user's
    /// tier, the notice's email in the outbox, the event marked processed. `false` (nothing
    /// stored) when the account changed since it was read, or the event was settled already.
    async fn settle_billing_event(
        &self,
        event_id: &str,
        settlement: &BillingSettlement,
        now: Timestamp,
    ) -> Result<bool, StoreError>;
}

/// Why the payment provider refused or failed a call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PaymentError {
    /// Worth trying again (network, 5xx, 429).
    #[error("payment provider unavailable: {0}")]
    Unavailable(String),
    /// The provider refused the request for good (4xx).
    #[error("payment provider refused the request: {0}")]
    Refused(String),
    /// The provider has no such object (already deleted, for instance).
    #[error("payment provider has no {0}")]
    Missing(String),
    /// No provider is configured.
    #[error("payments are not configured")]
    NotConfigured,
}

/// The payment provider's customer records, for the GdprWorker.
#[async_trait]
pub trait PaymentCustomers: Send + Sync + 'static {
    /// Deletes customer `id` at the provider.
    async fn delete_customer(&self, id: &str) -> Result<(), PaymentError>;
}
