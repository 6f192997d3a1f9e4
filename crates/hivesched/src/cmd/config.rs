//! `hivesched config check`: validate a configuration file and print the effective
//! configuration (file + `HIVE_*` environment, defaults filled in, secrets redacted).

use std::path::PathBuf;

use anyhow::Context;
use hivesched_server::ServiceConfig;

/// Arguments of `hivesched config`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Validate FILE; errors name the key.
    Check {
        /// The TOML file.
        file: PathBuf,
    },
}

/// Runs `hivesched config check`.
pub fn run(args: Args) -> anyhow::Result<()> {
    let Command::Check { file } = args.command;
    let config = ServiceConfig::load(Some(&file), std::env::vars())
        .with_context(|| format!("{} is not a valid configuration", file.display()))?;
    print!("{}", config.to_redacted_toml()?);
    Ok(())
}

/// The database a database-only command works on: `--database`, else `database_url` from
/// `--config` and the `HIVE_*` environment, else the service's default.
pub fn database_url(database: Option<String>, config: Option<PathBuf>) -> anyhow::Result<String> {
    match database {
        Some(url) => Ok(url),
        None => Ok(ServiceConfig::load(config.as_deref(), std::env::vars())
            .context("loading the configuration")?
            .database_url),
    }
}
