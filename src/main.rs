//! The `wattline` binary: `serve` (the default), `migrate`, `check-config`, `backtest` (the
//! forecaster's walk-forward accuracy), `backfill` (history from a source or a CSV) and `apikey`
//! (`create`, `list`, `revoke` operator keys).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use wattline::{App, Settings, app, providers, storage, telemetry};

#[derive(Debug, Parser)]
#[command(
    name = "wattline",
    version,
    about = "Streams, stores, forecasts and optimises electricity prices."
)]
struct Cli {
    /// Configuration file layered over the defaults (also WATTLINE_CONFIG).
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the server (the default).
    Serve,
    /// Apply database migrations and exit.
    Migrate,
    /// Load and validate the configuration, print a summary and exit.
    CheckConfig,
    /// Measure the forecaster on a price file: recalibrate day by day over a test period.
    Backtest(BacktestArgs),
    /// Load past days of one region into storage (idempotent).
    Backfill(BackfillArgs),
    /// Create, list or revoke API keys (X-API-Key) for operators and services.
    Apikey(ApiKeyArgs),
}

#[derive(Debug, Args)]
struct ApiKeyArgs {
    #[command(subcommand)]
    action: ApiKeyAction,
}

#[derive(Debug, Subcommand)]
enum ApiKeyAction {
    /// Create a key and print it once (only its hash is stored).
    Create {
        /// What the key is for, e.g. "grafana".
        #[arg(long)]
        name: String,
        /// A scope: read, refresh or admin (repeat for several).
        #[arg(long = "scope", required = true)]
        scopes: Vec<String>,
    },
    /// List keys (never the keys themselves).
    List,
    /// Revoke a key by its id.
    Revoke {
        /// The id `list` shows.
        id: String,
    },
}

#[derive(Debug, Args)]
struct BacktestArgs {
    /// A CSV in the format of shared/data/prices.
    #[arg(long)]
    csv: PathBuf,
    /// First local day of the test period.
    #[arg(long)]
    test_from: jiff::civil::Date,
    /// Last local day of the test period (inclusive).
    #[arg(long)]
    test_to: jiff::civil::Date,
    /// Print one JSON object instead of the table.
    #[arg(long)]
    json: bool,
    /// Also write every forecast to this CSV.
    #[arg(long)]
    write_forecasts: Option<PathBuf>,
    /// Calibration windows in days (comma separated).
    #[arg(long, value_delimiter = ',', default_values_t = [56usize, 84, 1092, 1456])]
    windows: Vec<usize>,
    /// Worker threads (default: every core).
    #[arg(long)]
    threads: Option<usize>,
}

#[derive(Debug, Args)]
struct BackfillArgs {
    /// Region code, e.g. germany.
    #[arg(long, value_parser = parse_region)]
    region: wattline_actors::domain::Region,
    /// First local day, YYYY-MM-DD.
    #[arg(long)]
    from: jiff::civil::Date,
    /// Last local day (inclusive), YYYY-MM-DD.
    #[arg(long)]
    to: jiff::civil::Date,
    /// Load from this CSV (the replay format) instead of the configured sources.
    #[arg(long)]
    csv: Option<PathBuf>,
}

fn parse_region(code: &str) -> Result<wattline_actors::domain::Region, String> {
    wattline_actors::domain::Region::parse(code).map_err(|e| e.to_string())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let settings = match Settings::load(cli.config.as_deref()) {
        Ok(settings) => settings,
        Err(error) => {
            eprintln!("wattline: {error}");
            return ExitCode::from(2);
        }
    };
    telemetry::init_logging(&settings.telemetry);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("wattline: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        match cli.command.unwrap_or(Command::Serve) {
            Command::Serve => App::build(settings).await?.run().await,
            Command::Migrate => migrate(&settings).await,
            Command::CheckConfig => check_config(&settings),
            Command::Backfill(args) => backfill(&settings, args).await,
            Command::Apikey(args) => apikey(&settings, args.action).await,
            Command::Backtest(args) => backtest(args).await,
        }
    });
    // A forecast calibration may still be running on a blocking thread; it holds nothing that
    // needs saving, so do not wait for it (dropping the runtime would).
    runtime.shutdown_timeout(std::time::Duration::from_millis(500));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("wattline: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn migrate(settings: &Settings) -> anyhow::Result<()> {
    let store = storage::Storage::open(
        &settings.storage.database_url,
        &app::storage_options(settings),
    )
    .await?;
    println!(
        "Migrations applied to {} ({}).",
        storage::redact(&settings.storage.database_url),
        store.backend()
    );
    store.close().await;
    Ok(())
}

async fn backtest(args: BacktestArgs) -> anyhow::Result<()> {
    let BacktestArgs {
        csv,
        test_from,
        test_to,
        json,
        write_forecasts,
        windows,
        threads,
    } = args;
    let threads =
        threads.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let config = wattline_actors::domain::forecast::LearConfig {
        windows,
        ..Default::default()
    };
    let request = wattline::backtest::BacktestRequest {
        csv,
        test_from,
        test_to,
        config,
        threads,
        progress: !json,
    };
    let report = tokio::task::spawn_blocking(move || wattline::backtest::run(&request)).await??;
    if let Some(path) = write_forecasts {
        wattline::backtest::write_forecasts(&report, &path)?;
    }
    if json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        print!("{}", wattline::backtest::render(&report));
    }
    Ok(())
}

async fn backfill(settings: &Settings, args: BackfillArgs) -> anyhow::Result<()> {
    let request = wattline::backfill::BackfillRequest {
        region: args.region,
        from: args.from,
        to: args.to,
        csv: args.csv,
    };
    let report = wattline::backfill::run(settings, settings.clock(), request).await?;
    println!(
        "Loaded {} days ({} points: {} inserted, {} updated, {} unchanged); {} days failed.",
        report.days_loaded,
        report.points,
        report.inserted,
        report.updated,
        report.unchanged,
        report.failed.len()
    );
    if report.failed.is_empty() {
        Ok(())
    } else {
        Err(anyhow::anyhow!(
            "{} days could not be loaded",
            report.failed.len()
        ))
    }
}

async fn apikey(settings: &Settings, action: ApiKeyAction) -> anyhow::Result<()> {
    let store = storage::Storage::open(
        &settings.storage.database_url,
        &app::storage_options(settings),
    )
    .await?;
    let now = jiff::Timestamp::now();
    let result = match action {
        ApiKeyAction::Create { name, scopes } => {
            let (key, row) =
                wattline::auth::api_keys::create(&store, &name, &scopes, None, now).await?;
            println!(
                "Created API key {} ({}), scopes {}.",
                row.id, row.name, row.scopes
            );
            println!("Key (shown only now): {key}");
            Ok(())
        }
        ApiKeyAction::List => {
            for key in store.api_keys().await? {
                let state = key
                    .revoked_at
                    .map_or("active".to_string(), |at| format!("revoked {at}"));
                println!(
                    "{}  {:<20} {}…  {:<20} created {}  {state}",
                    key.id, key.name, key.prefix, key.scopes, key.created_at
                );
            }
            Ok(())
        }
        ApiKeyAction::Revoke { id } => {
            if store.revoke_api_key(&id, now).await? {
                println!("Revoked {id}.");
                Ok(())
            } else {
                Err(anyhow::anyhow!("no active key with id {id}"))
            }
        }
    };
    store.close().await;
    result
}

fn check_config(settings: &Settings) -> anyhow::Result<()> {
    let clock = std::sync::Arc::new(wattline_actors::ports::SystemClock);
    let sources = providers::build_sources(settings, clock)?;
    println!("Configuration is valid.");
    println!("  listen:   {}", settings.server.bind);
    println!(
        "  storage:  {}",
        storage::redact(&settings.storage.database_url)
    );
    println!(
        "  api key:  {}",
        if settings.security.api_key.is_some() {
            "set"
        } else {
            "not set (refresh disabled)"
        }
    );
    for (region, list) in sources {
        let names: Vec<_> = list.iter().map(|s| s.source().as_str()).collect();
        println!("  {:<12} {}", region.code(), names.join(" → "));
    }
    Ok(())
}
