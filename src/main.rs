//! The `wattline` binary: `serve` (the default), `migrate` and `check-config`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
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
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("wattline: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn migrate(settings: &Settings) -> anyhow::Result<()> {
    let store = storage::open(
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
