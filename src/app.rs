//! The composition root: opens storage, builds the price sources, spawns the actor tree, builds
//! the router and binds. Only this module picks implementations. Shutdown: stop accepting, drain
//! requests (bounded), then stop the tree (fetchers stop, the writer flushes), then close storage.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio::sync::{Notify, watch};
use wattline_actors::ports::{
    EventFeed, FanOut, ForecastStore, JobHandler, PriceStore, RegionLease, SharedClock, SoleNode,
};
use wattline_actors::workers::billing::{BILLING_QUEUE, BillingHandler};
use wattline_actors::workers::email::{EMAIL_QUEUE, EmailHandler};
use wattline_actors::workers::gdpr::{GDPR_QUEUE, GdprHandler};
use wattline_actors::workers::webhook::{WEBHOOK_QUEUE, WebhookHandler};
use wattline_actors::{Ports, Tree, TreeHandles, WeatherPorts, WorkerPorts};

use crate::config::Settings;
use crate::http::listener::WatchdogListener;
use crate::http::server::ConnectionLimits;
use crate::http::state::{AppParts, AppState};
use crate::storage::{self, Storage, StorageOptions};
use crate::{cache, http, providers, telemetry};

/// A built, bound, not yet serving application.
pub struct App {
    listener: WatchdogListener,
    limits: ConnectionLimits,
    local_addr: SocketAddr,
    router: axum::Router,
    tree: TreeHandles,
    storage: Arc<Storage>,
    shutdown_timeout: Duration,
    shutdown: watch::Sender<bool>,
}

/// What a node shares with others: nothing (single node) or Redis.
struct Cluster {
    fanout: Option<(Arc<dyn FanOut>, Arc<dyn EventFeed>)>,
    lease: Arc<dyn RegionLease>,
    redis: Option<fred::prelude::Client>,
}

/// Connects to Redis when configured. An unreachable Redis does not stop the start: its clients
/// keep reconnecting, and until then the fan-out and leases fall back to this node alone.
async fn cluster(settings: &Settings, node_id: &str) -> anyhow::Result<Cluster> {
    let Some(url) = settings.cluster.redis_url.as_deref() else {
        return Ok(Cluster {
            fanout: None,
            lease: Arc::new(SoleNode),
            redis: None,
        });
    };
    let keys = cache::Keys::new(settings.cluster.key_prefix.as_str());
    let client = cache::connect(url)
        .await
        .with_context(|| "configuration key `cluster.redis_url`".to_string());
    let client = match client {
        Ok(client) => client,
        Err(error) => {
            tracing::warn!(error = %format!("{error:#}"), "Redis unreachable at start; running alone until it answers.");
            cache::connect_lazily(url)?
        }
    };
    let subscriber = match cache::connect_subscriber(url).await {
        Ok(subscriber) => subscriber,
        Err(_) => cache::connect_subscriber_lazily(url)?,
    };
    let ttl = settings.cluster.lease_ttl;
    tracing::info!(node = node_id, prefix = %settings.cluster.key_prefix, "Cluster mode: events and leases through Redis.");
    Ok(Cluster {
        fanout: Some((
            Arc::new(cache::RedisFanOut::new(client.clone(), keys.clone())),
            Arc::new(cache::RedisEventFeed::new(subscriber, keys.clone())),
        )),
        lease: Arc::new(cache::RedisLease::new(
            client.clone(),
            keys.clone(),
            node_id.to_string(),
            ttl,
        )),
        redis: Some(client),
    })
}

/// The outbox and its workers: email (lettre), webhook deliveries, Stripe events (the
/// BillingWorker) and erasure work outside the database (the GdprWorker).
fn worker_ports(
    settings: &Settings,
    storage: &Arc<Storage>,
    clock: SharedClock,
    billing: Option<Arc<crate::billing::StripeBilling>>,
) -> anyhow::Result<WorkerPorts> {
    let mailer = crate::email::LettreMailer::new(&settings.email).context("setting up email")?;
    // Message-IDs use the sender's domain.
    let domain = settings
        .email
        .from
        .rsplit('@')
        .next()
        .unwrap_or("wattline.local")
        .trim_end_matches('>')
        .to_string();
    let webhooks = crate::webhooks::HttpWebhookSender::new(
        settings.alerts.webhook_timeout,
        settings.alerts.webhook_allow_http,
        clock.clone(),
    )
    .context("setting up the webhook client")?;
    let config = settings.workers.worker_config();
    let email: Arc<dyn JobHandler> = Arc::new(EmailHandler::new(Arc::new(mailer), domain));
    let webhook: Arc<dyn JobHandler> = Arc::new(WebhookHandler::new(Arc::new(webhooks)));
    let grace = jiff::SignedDuration::try_from(settings.billing.grace_period)
        .context("billing.grace_period")?;
    let billing_worker: Arc<dyn JobHandler> =
        Arc::new(BillingHandler::new(storage.clone(), clock, grace));
    let customers: Arc<dyn wattline_actors::ports::PaymentCustomers> = match billing {
        Some(stripe) => stripe,
        None => Arc::new(crate::billing::NoPayments),
    };
    let gdpr: Arc<dyn JobHandler> = Arc::new(GdprHandler::new(customers));
    let keep = jiff::SignedDuration::from_hours(24 * i64::from(settings.gdpr.retention_days.get()));
    let retention: Arc<dyn wattline_actors::ports::Retention> =
        Arc::new(crate::gdpr::RetentionPolicy {
            storage: storage.clone(),
            keep,
        });
    Ok(WorkerPorts {
        retention: Some((retention, settings.gdpr.retention_every)),
        jobs: storage.clone(),
        workers: vec![
            (EMAIL_QUEUE.to_string(), email, config.clone()),
            (WEBHOOK_QUEUE.to_string(), webhook, config.clone()),
            (BILLING_QUEUE.to_string(), billing_worker, config.clone()),
            (GDPR_QUEUE.to_string(), gdpr, config),
        ],
    })
}

impl App {
    /// Builds the application on the configured clock (the wall clock unless `[clock]` says so).
    pub async fn build(settings: Settings) -> anyhow::Result<App> {
        let clock = settings.clock();
        App::build_with_clock(settings, clock).await
    }

    /// Builds the application with an injected clock (tests pick the date the engine sees).
    pub async fn build_with_clock(settings: Settings, clock: SharedClock) -> anyhow::Result<App> {
        // The recorder must exist before the tree creates its metric handles.
        let metrics = telemetry::prometheus();
        let url = &settings.storage.database_url;
        let storage = Arc::new(
            Storage::open(url, &storage_options(&settings))
                .await
                .with_context(|| format!("opening storage {}", storage::redact(url)))?,
        );
        tracing::info!(backend = storage.backend(), url = %storage::redact(url), "Storage ready.");
        let sources = providers::build_sources(&settings, clock.clone())?;
        for (region, list) in &sources {
            let names: Vec<_> = list.iter().map(|s| s.source().as_str()).collect();
            tracing::info!(%region, sources = ?names, "Region sources.");
        }
        let node_id = settings.node_id();
        let cluster = cluster(&settings, &node_id).await?;
        let store: Arc<dyn PriceStore> = storage.clone();
        let forecast_store: Option<Arc<dyn ForecastStore>> = settings
            .forecast
            .enabled
            .then(|| storage.clone() as Arc<dyn ForecastStore>);
        let weather = match providers::weather_client(&settings, clock.clone())? {
            Some(client) => {
                let every = settings.providers.openweathermap.refresh;
                tracing::info!(every = ?every, "Weather forecasts from OpenWeatherMap.");
                Some(WeatherPorts {
                    source: Arc::new(client),
                    store: storage.clone(),
                    every,
                })
            }
            None => None,
        };
        let billing = crate::billing::StripeBilling::new(&settings.billing)
            .context("setting up the Stripe client")?
            .map(Arc::new);
        if billing.is_none() {
            tracing::info!("Billing off: no Stripe key (WATTLINE_BILLING__SECRET_KEY).");
        }
        let workers = worker_ports(&settings, &storage, clock.clone(), billing.clone())?;
        let ports = Ports {
            workers: Some(workers),
            alerts: Some(storage.clone()),
            store,
            sources,
            clock: clock.clone(),
            fanout: cluster.fanout,
            node_id: node_id.clone(),
            lease: cluster.lease,
            forecasts: forecast_store,
            weather,
        };
        let kv: cache::SharedKeyValue = match &cluster.redis {
            Some(client) => cache::RedisKeyValue::new(
                client.clone(),
                cache::Keys::new(settings.cluster.key_prefix.as_str()),
            ),
            None => cache::LocalKeyValue::new(),
        };
        let accounts = crate::auth::Accounts::new(&settings, &storage, kv, clock.now())
            .await
            .context("setting up accounts")?;
        crate::catalogue::seed_if_empty(&storage, clock.now())
            .await
            .context("seeding the supplier catalogue")?;
        let tree = Tree::spawn(ports, settings.tree_config())
            .await
            .context("starting the actor tree")?;
        let tcp = TcpListener::bind(settings.server.bind)
            .await
            .with_context(|| {
                format!(
                    "binding {} (configuration key `server.bind`)",
                    settings.server.bind
                )
            })?;
        let local_addr = tcp.local_addr()?;
        let listener = WatchdogListener::new(tcp, settings.stream.write_timeout);
        let limits = ConnectionLimits {
            max_connections: settings.server.max_connections.get(),
            max_per_address: settings.server.max_connections_per_address.get(),
            header_read_timeout: settings.server.header_read_timeout,
        }
        .capped(settings.storage.max_connections.get() as usize);
        let shutdown_timeout = settings.server.shutdown_timeout;
        let (shutdown, shutdown_rx) = watch::channel(false);
        let optimization = settings.optimization.limits();
        let state = AppState::new(AppParts {
            settings,
            storage: storage.clone(),
            prices: tree.prices.clone(),
            broadcast: tree.broadcast.clone(),
            forecasts: tree.forecasts.clone(),
            optimization,
            latest: tree.latest.clone(),
            preference: tree.preference.clone(),
            metrics,
            clock,
            root: tree.root.clone(),
            workers: tree.workers.clone(),
            alerts: tree.alerts.clone(),
            node_id,
            shutdown: shutdown_rx,
            redis: cluster.redis,
            accounts,
            billing,
        });
        Ok(App {
            listener,
            limits,
            local_addr,
            router: http::router(state),
            tree,
            storage,
            shutdown_timeout,
            shutdown,
        })
    }

    /// The address the server is bound to (port 0 in settings becomes a real port here).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The actor tree's handles (tests drive actors through them; embedders may too).
    pub fn tree(&self) -> &TreeHandles {
        &self.tree
    }

    /// Serves until Ctrl-C or SIGTERM.
    pub async fn run(self) -> anyhow::Result<()> {
        self.run_until(shutdown_signal()).await
    }

    /// Serves until `shutdown` resolves, then shuts down in order. Fails if the actor tree dies.
    pub async fn run_until(
        mut self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        tracing::info!(address = %self.local_addr, "Wattline listening.");
        let stopping = Arc::new(Notify::new());
        let signal = stopping.clone();
        let stopping_flag = self.shutdown.clone();
        let streams = self.tree.broadcast.clone();
        let server = http::server::serve(self.listener, self.router, self.limits, async move {
            shutdown.await;
            // New streams are refused; open ones end with a final `shutdown` event instead of
            // holding the drain.
            let _ = stopping_flag.send(true);
            streams.end_streams();
            signal.notify_waiters();
        });
        let drain_deadline = async {
            stopping.notified().await;
            tracing::info!(timeout = ?self.shutdown_timeout, "Shutting down: draining requests.");
            tokio::time::sleep(self.shutdown_timeout).await;
        };
        let outcome = tokio::select! {
            served = server => served.map_err(anyhow::Error::from),
            _ = drain_deadline => {
                tracing::warn!("Requests still open at the shutdown deadline; closing them.");
                Ok(())
            }
            _ = self.tree.stopped() => Err(anyhow::anyhow!("the actor tree stopped unexpectedly")),
        };
        let report = self.tree.shutdown(self.shutdown_timeout).await;
        match &report.flush_error {
            None => tracing::info!(rows = report.flushed_rows, "Writer flushed."),
            Some(error) => {
                tracing::error!(%error, "Final writer flush failed; buffered prices were lost.")
            }
        }
        self.storage.close().await;
        tracing::info!("Wattline stopped.");
        outcome
    }
}

/// Pool settings from the configuration.
pub fn storage_options(settings: &Settings) -> StorageOptions {
    StorageOptions {
        max_connections: settings.storage.max_connections.get(),
        acquire_timeout: settings.storage.acquire_timeout,
    }
}

/// Resolves on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}
