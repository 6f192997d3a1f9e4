//! `hivesched audit verify`: check the audit log's hash chain.

use std::path::PathBuf;

use anyhow::Context;

/// Arguments of `hivesched audit`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Walk the chain from the first record; exit non-zero naming the first broken record.
    /// Keyed records are checked with the audit key (`audit_key`, or derived from `jwt_secret`,
    /// from `--config` or `HIVE_AUDIT_KEY` / `HIVE_JWT_SECRET`); without one, only their links.
    Verify {
        /// Database URL (else `database_url` from `--config`, `HIVE_DATABASE_URL`, or the default).
        #[arg(long)]
        database: Option<String>,
        /// Configuration file.
        #[arg(long)]
        config: Option<PathBuf>,
    },
}

/// Runs `hivesched audit verify`.
pub fn run(args: Args) -> anyhow::Result<()> {
    let Command::Verify { database, config } = args.command;
    let key = hivesched_server::ServiceConfig::load(config.as_deref(), std::env::vars())
        .ok()
        .and_then(|c| c.audit_key());
    let url = super::config::database_url(database, config)?;
    let keyed = key.is_some();
    let v = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?
        .block_on(hivesched_server::ops::verify_audit(&url, key))
        .context("reading the audit log")?;
    match v.first_broken {
        None if v.unverified > 0 => {
            println!(
                "audit chain links intact: {} records; the content of {} keyed records was not \
                 checked ({})",
                v.checked,
                v.unverified,
                if keyed {
                    "unexpected"
                } else {
                    "no audit key: pass --config, or set HIVE_AUDIT_KEY or HIVE_JWT_SECRET"
                }
            );
            Ok(())
        }
        None => {
            println!("audit chain intact: {} records verified", v.checked);
            Ok(())
        }
        Some(seq) => anyhow::bail!(
            "audit chain broken at record {seq}: {} ({} records before it verified)",
            v.problem.unwrap_or_default(),
            v.checked
        ),
    }
}
