//! The `sluice` command: serve, check a config, hash a gateway key.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// mimalloc: the request path allocates many small short-lived buffers; glibc malloc showed as
/// ~12 % of CPU under load (perf), mimalloc cuts that (see benches/load/quick.sh).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
use sluice::config;
use sluice::server::{self, RunOptions};
use sluice::state::AppState;

/// Sluice, an LLM gateway for OpenAI and Cloudflare Workers AI.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the gateway (the default command).
    Serve {
        /// Config file.
        #[arg(short, long, default_value = "config.toml")]
        config: PathBuf,
        /// Take over the listening sockets of a running Sluice (zero-downtime upgrade; send the old
        /// process SIGQUIT).
        #[arg(long)]
        upgrade: bool,
        /// Detach into the background.
        #[arg(long)]
        daemon: bool,
    },
    /// Validate a config file and print every problem with its TOML path (exit 1 if any).
    Check {
        /// Config file.
        #[arg(default_value = "config.toml")]
        config: PathBuf,
    },
    /// Print the SHA-256 to put in `[[auth.keys]] sha256` for a gateway key.
    HashKey {
        /// The key.
        key: String,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command.unwrap_or(Command::Serve { config: PathBuf::from("config.toml"), upgrade: false, daemon: false })
    {
        Command::Check { config } => match config::load_file(&config) {
            Ok(c) => {
                for w in &c.warnings {
                    println!("warning: {w}");
                }
                println!("{}: OK ({} models, {} providers)", config.display(), c.models.len(), c.providers.len());
                ExitCode::SUCCESS
            }
            Err(problems) => {
                eprintln!("{}: invalid config", config.display());
                for (path, message) in &problems.0 {
                    if path.is_empty() {
                        eprintln!("  {message}");
                    } else {
                        eprintln!("  {path}: {message}");
                    }
                }
                ExitCode::from(1)
            }
        },
        Command::HashKey { key } => {
            println!("{}", hex::encode(sluice::identity::hash_key(&key)));
            ExitCode::SUCCESS
        }
        Command::Serve { config, upgrade, daemon } => match serve(config, RunOptions { upgrade, daemon }) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("sluice: {e:#}");
                ExitCode::from(2)
            }
        },
    }
}

fn serve(path: PathBuf, opts: RunOptions) -> anyhow::Result<()> {
    let config = config::load_file(&path).map_err(|p| anyhow::anyhow!("invalid config {}:\n{p}", path.display()))?;
    init_logging(&config.log.level);
    for w in &config.warnings {
        tracing::warn!(warning = %w, "config warning");
    }
    tracing::info!(
        listen = ?config.server.listen,
        tls = ?config.server.tls.as_ref().map(|t| &t.listen),
        admin = ?config.server.admin_listen,
        threads = config.server.threads,
        models = config.models.len(),
        providers = config.providers.len(),
        "sluice starting"
    );
    // Quota store, ledger and their background tasks live on a runtime of their own: Pingora's
    // services each run their own runtimes, and these must outlive any one of them.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("sluice-state")
        .enable_all()
        .build()?;
    let accounting = std::sync::Arc::new(runtime.block_on(sluice::accounting::connect(&config))?);
    let caching = {
        let _inside = runtime.enter();
        sluice::caching::Caching::connect(&config.cache, &config.store.key_prefix)?
    };
    let state = AppState::new(config, Some(path), accounting, caching)?;
    server::spawn_state_tasks(&runtime, &state);
    let signals = server::DrainingSignals { state: state.clone() };
    let server = server::build(state, opts)?;
    server.run(pingora::server::RunArgs { shutdown_signal: Box::new(signals) });
    std::process::exit(0)
}

fn init_logging(level: &str) {
    let filter =
        tracing_subscriber::EnvFilter::try_new(level).unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_current_span(false)
        .with_target(true)
        .with_env_filter(filter)
        .init();
}
