//! `ferry`: the worker's command line. Parses, sets up logging, hands over.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use ferry_runtime::plugins::PluginRegistry;
use ferry_runtime::rest::LogLevels;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{reload, EnvFilter};

#[derive(Parser)]
#[command(
    name = "ferry",
    version,
    about = "A Kafka Connect-style connector runtime"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a standalone worker: every connector on this worker, configs kept in its state.dir.
    Standalone {
        /// The worker configuration (YAML).
        worker_config: PathBuf,
        /// Connector configurations to create or update at start (JSON or YAML).
        connectors: Vec<PathBuf>,
    },
    /// Run a distributed worker: workers with the same group.id share the connectors, with
    /// configs, offsets and statuses in Kafka.
    Distributed {
        /// The worker configuration (YAML) with group.id.
        worker_config: PathBuf,
    },
    /// List the connector plugins found on a plugin path, and why any library was skipped.
    Plugins {
        /// Directories to scan (Kafka Connect's `plugin.path`).
        #[arg(required = true)]
        plugin_path: Vec<PathBuf>,
    },
    /// Read a password on standard input and print its argon2id hash for rest.auth.users.file.
    HashPassword,
    /// Read a Bearer token on standard input and print its SHA-256 for rest.auth.users.file.
    HashToken,
}

/// Logs to stderr; the level comes from RUST_LOG (default info) and can change at runtime
/// through `/admin/loggers`.
fn init_logging() -> LogLevels {
    let initial = std::env::var("RUST_LOG").unwrap_or_else(|_| "info".to_string());
    let filter = EnvFilter::try_new(&initial).unwrap_or_else(|_| EnvFilter::new("info"));
    let (filter, handle) = reload::Layer::new(filter);
    tracing_subscriber::registry()
        .with(filter)
        .with(tracing_subscriber::fmt::layer().with_writer(std::io::stderr))
        .init();
    let root = initial
        .split(',')
        .find(|d| !d.contains('='))
        .unwrap_or("info")
        .to_string();
    LogLevels::new(
        &root,
        Box::new(move |directives| {
            let filter = EnvFilter::try_new(directives).map_err(|e| e.to_string())?;
            handle.reload(filter).map_err(|e| e.to_string())
        }),
    )
}

fn run_worker(
    worker: impl std::future::Future<Output = Result<(), ferry_runtime::startup::StartupError>>,
) -> ExitCode {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    match runtime.block_on(worker) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let log_levels = init_logging();
    match cli.command {
        Command::Standalone {
            worker_config,
            connectors,
        } => run_worker(ferry_runtime::standalone::run(
            &worker_config,
            &connectors,
            log_levels,
        )),
        Command::Distributed { worker_config } => {
            run_worker(ferry_runtime::distributed::run(&worker_config, log_levels))
        }
        Command::Plugins { plugin_path } => {
            let (registry, failures) = PluginRegistry::scan(&plugin_path);
            for failure in &failures {
                eprintln!("warning: {failure}");
            }
            for plugin in registry.plugins() {
                let kind = serde_json::to_value(plugin.kind).unwrap_or_default();
                println!(
                    "{:<6} {:<45} {:<10} aliases: {}  ({})",
                    kind.as_str().unwrap_or(""),
                    plugin.class_name,
                    plugin.version,
                    plugin.aliases.join(", "),
                    plugin.path.display()
                );
            }
            ExitCode::SUCCESS
        }
        Command::HashPassword => {
            let secret = read_secret();
            if secret.is_empty() {
                eprintln!("error: empty password on standard input");
                return ExitCode::FAILURE;
            }
            match ferry_runtime::rest::auth::hash_password(&secret) {
                Ok(hash) => {
                    println!("{hash}");
                    ExitCode::SUCCESS
                }
                Err(error) => {
                    eprintln!("error: {error}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::HashToken => {
            let secret = read_secret();
            if secret.is_empty() {
                eprintln!("error: empty token on standard input");
                return ExitCode::FAILURE;
            }
            println!("{}", ferry_runtime::rest::auth::hash_token(&secret));
            ExitCode::SUCCESS
        }
    }
}

/// The first line of standard input, without its line ending: never an argument, which `ps`
/// and the shell history would show.
fn read_secret() -> String {
    let mut line = String::new();
    let _ = std::io::stdin().read_line(&mut line);
    line.trim_end_matches(['\r', '\n']).to_string()
}
