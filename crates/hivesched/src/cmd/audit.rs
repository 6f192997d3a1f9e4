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
    let url = super::config::database_url(database, config)?;
    let v = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?
        .block_on(hivesched_server::ops::verify_audit(&url))
        .context("reading the audit log")?;
    match v.first_broken {
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
