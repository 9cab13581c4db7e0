//! `wattline backfill`: loads a range of past days into storage through the same writer the
//! fetchers use (batched, idempotent upserts), from the region's configured sources in failover
//! order or from a CSV in the replay format. Re-running it over the same days writes only what
//! changed; the report counts inserted, updated and unchanged points.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use indicatif::{ProgressBar, ProgressStyle};
use jiff::civil::Date;
use wattline_actors::domain::{Region, calendar};
use wattline_actors::fetcher::cycle::fetch_day;
use wattline_actors::ports::{PriceSource, PriceStore, SharedClock, SoleNode};
use wattline_actors::{Ports, Tree};

use crate::config::Settings;
use crate::providers::{self, replay};
use crate::{app, storage};

/// What to load.
#[derive(Debug, Clone)]
pub struct BackfillRequest {
    pub region: Region,
    pub from: Date,
    pub to: Date,
    /// A CSV in the replay format instead of the configured sources.
    pub csv: Option<PathBuf>,
}

/// What was loaded.
#[derive(Debug, Clone, Default)]
pub struct BackfillReport {
    pub days_loaded: usize,
    /// Points the sources delivered.
    pub points: usize,
    /// Points not stored before.
    pub inserted: u64,
    /// Stored points whose values changed.
    pub updated: u64,
    /// Points already stored as delivered (not written).
    pub unchanged: u64,
    /// Days no source could deliver, with the reasons.
    pub failed: Vec<(Date, String)>,
}

/// Loads the days of `request`.
pub async fn run(
    settings: &Settings,
    clock: SharedClock,
    request: BackfillRequest,
) -> anyhow::Result<BackfillReport> {
    if request.from > request.to {
        bail!("--from {} is after --to {}", request.from, request.to);
    }
    let sources: Vec<Arc<dyn PriceSource>> = match &request.csv {
        Some(path) => {
            let series = replay::ReplaySeries::load(path)?;
            vec![Arc::new(replay::Replay::new(
                request.region,
                series,
                clock.clone(),
            ))]
        }
        None => providers::build_sources(settings, clock.clone())?
            .into_iter()
            .find(|(r, _)| *r == request.region)
            .map(|(_, s)| s)
            .with_context(|| {
                format!(
                    "region {} is not enabled (configuration key `regions.enabled`)",
                    request.region
                )
            })?,
    };
    let store = Arc::new(
        storage::Storage::open(
            &settings.storage.database_url,
            &app::storage_options(settings),
        )
        .await?,
    );
    let writer_store: Arc<dyn PriceStore> = store.clone();
    // A tree without fetchers: only its writer is used.
    let ports = Ports {
        workers: None,
        alerts: None,
        store: writer_store,
        sources: Vec::new(),
        clock: clock.clone(),
        fanout: None,
        node_id: "backfill".into(),
        lease: Arc::new(SoleNode),
        forecasts: None,
        weather: None,
    };
    let tree = Tree::spawn(ports, settings.tree_config()).await?;
    let range = storage::RangeQuery {
        region: request.region,
        from: calendar::day_start(request.region, request.from),
        to: calendar::day_bounds(request.region, request.to).1,
        source: None,
    };
    let stored_before = store.count_prices(&range).await?;
    let days: Vec<Date> = request
        .from
        .series(jiff::Span::new().days(1))
        .take_while(|d| *d <= request.to)
        .collect();
    let bar = ProgressBar::new(days.len() as u64).with_style(
        ProgressStyle::with_template("{prefix} [{bar:40}] {pos}/{len} days ({eta} left) {msg}")
            .expect("valid template")
            .progress_chars("=> "),
    );
    bar.set_prefix(format!("backfill {}", request.region));
    let mut report = BackfillReport::default();
    let sources: wattline_actors::ports::SourceList = sources.into();
    let timeout = settings.prices.fetch_timeout;
    for day in days {
        let outcome = fetch_day(request.region, day, sources.clone(), timeout).await;
        if outcome.failed.is_empty() {
            for fetched in outcome.fetched {
                report.points += fetched.points.len();
                tree.prices.write(fetched.points)?;
            }
            report.days_loaded += 1;
        } else {
            let why = outcome
                .attempts
                .iter()
                .map(|a| format!("{}: {}", a.source, a.error))
                .collect::<Vec<_>>()
                .join("; ");
            bar.println(format!("{day}: no source delivered ({why})"));
            report.failed.push((day, why));
        }
        bar.inc(1);
    }
    let mut written = tree.prices.flush(Duration::from_secs(60)).await?;
    bar.finish_with_message(format!("{} points", report.points));
    let shutdown = tree.shutdown(Duration::from_secs(30)).await;
    written += shutdown.flushed_rows;
    // Rows affected counts inserts and real updates alike (identical points are not written);
    // the stored count tells them apart.
    report.inserted = store
        .count_prices(&range)
        .await?
        .saturating_sub(stored_before);
    report.updated = written.saturating_sub(report.inserted);
    report.unchanged = (report.points as u64).saturating_sub(written);
    store.close().await;
    Ok(report)
}
