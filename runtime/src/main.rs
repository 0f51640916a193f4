//! `ferry`: the worker's command line. Parses, loads configuration, hands over.

use std::path::PathBuf;

use anyhow::Result;
use clap::{Parser, Subcommand};
use ferry_runtime::plugins::PluginRegistry;

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
    /// List the connector plugins found on a plugin path, and why any library was skipped.
    Plugins {
        /// Directories to scan (Kafka Connect's `plugin.path`).
        #[arg(required = true)]
        plugin_path: Vec<PathBuf>,
    },
}

fn main() -> Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    match Cli::parse().command {
        Command::Plugins { plugin_path } => {
            let (registry, failures) = PluginRegistry::scan(&plugin_path);
            for failure in &failures {
                tracing::warn!("{failure}");
            }
            for plugin in registry.plugins() {
                println!(
                    "{:<6} {:<45} {:<10} aliases: {}  ({})",
                    serde_json::to_value(plugin.kind)?.as_str().unwrap_or(""),
                    plugin.class_name,
                    plugin.version,
                    plugin.aliases.join(", "),
                    plugin.path.display()
                );
            }
            Ok(())
        }
    }
}
