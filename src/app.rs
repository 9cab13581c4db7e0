//! The composition root: opens storage, builds the price sources, spawns the actor tree, builds
//! the router and binds. Only this module picks implementations. Shutdown: stop accepting, drain
//! requests (bounded), then stop the tree (fetchers stop, the writer flushes), then close storage.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio::sync::Notify;
use wattline_actors::ports::{PriceStore, SharedClock, SystemClock};
use wattline_actors::{Ports, Tree, TreeHandles};

use crate::config::Settings;
use crate::http::state::{AppParts, AppState};
use crate::storage::{self, Storage, StorageOptions};
use crate::{http, providers, telemetry};

/// A built, bound, not yet serving application.
pub struct App {
    listener: TcpListener,
    router: axum::Router,
    tree: TreeHandles,
    storage: Arc<dyn Storage>,
    shutdown_timeout: Duration,
}

impl App {
    /// Builds the application on the wall clock.
    pub async fn build(settings: Settings) -> anyhow::Result<App> {
        App::build_with_clock(settings, Arc::new(SystemClock)).await
    }

    /// Builds the application with an injected clock (tests pick the date the engine sees).
    pub async fn build_with_clock(settings: Settings, clock: SharedClock) -> anyhow::Result<App> {
        // The recorder must exist before the tree creates its metric handles.
        let metrics = telemetry::prometheus();
        let storage = storage::open(&settings.storage.database_url, &storage_options(&settings))
            .await
            .with_context(|| {
                format!(
                    "opening storage {}",
                    storage::redact(&settings.storage.database_url)
                )
            })?;
        tracing::info!(backend = storage.backend(), url = %storage::redact(&settings.storage.database_url), "Storage ready.");
        let sources = providers::build_sources(&settings, clock.clone())?;
        for (region, list) in &sources {
            let names: Vec<_> = list.iter().map(|s| s.source().as_str()).collect();
            tracing::info!(%region, sources = ?names, "Region sources.");
        }
        let store: Arc<dyn PriceStore> = storage.clone();
        let tree = Tree::spawn(
            Ports {
                store,
                sources,
                clock: clock.clone(),
            },
            settings.tree_config(),
        )
        .await
        .context("starting the actor tree")?;
        let listener = TcpListener::bind(settings.server.bind)
            .await
            .with_context(|| {
                format!(
                    "binding {} (configuration key `server.bind`)",
                    settings.server.bind
                )
            })?;
        let shutdown_timeout = Duration::from_secs(settings.server.shutdown_timeout_secs);
        let state = AppState::new(AppParts {
            settings,
            storage: storage.clone(),
            prices: tree.prices.clone(),
            latest: tree.latest.clone(),
            preference: tree.preference.clone(),
            metrics,
            clock,
        });
        Ok(App {
            listener,
            router: http::router(state),
            tree,
            storage,
            shutdown_timeout,
        })
    }

    /// The address the server is bound to (port 0 in settings becomes a real port here).
    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("bound listener has an address")
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
        tracing::info!(address = %self.local_addr(), "Wattline listening.");
        let stopping = Arc::new(Notify::new());
        let signal = stopping.clone();
        let server = axum::serve(
            self.listener,
            self.router
                .into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(async move {
            shutdown.await;
            signal.notify_waiters();
        });
        let drain_deadline = async {
            stopping.notified().await;
            tracing::info!(timeout = ?self.shutdown_timeout, "Shutting down: draining requests.");
            tokio::time::sleep(self.shutdown_timeout).await;
        };
        let outcome = tokio::select! {
            served = server.into_future() => served.map_err(anyhow::Error::from),
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
        max_connections: settings.storage.max_connections,
        acquire_timeout: Duration::from_millis(settings.storage.acquire_timeout_ms),
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
