//! `hivesched auth`: mint API tokens and issue one-time authorization codes.

use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use hivesched_server::ServiceConfig;
use hivesched_server::auth::{Role, TokenKeys};

/// Arguments of `hivesched auth`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Mint a JWT signed with the service's secret (`jwt_secret` / `HIVE_JWT_SECRET`).
    Token {
        /// `viewer`, `operator` or `admin`.
        #[arg(long)]
        role: Role,
        /// How long the token is valid, e.g. `12h`, `30d`.
        #[arg(long, value_parser = humantime::parse_duration)]
        ttl: Duration,
        /// Who holds it; recorded as the actor of every change made with it.
        #[arg(long, default_value = "cli")]
        subject: String,
        /// Configuration file holding the secret (else `HIVE_JWT_SECRET`).
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Print a one-time code for emergency stop/resume (stored hashed, single use).
    IssueCode {
        /// How long the code is valid.
        #[arg(long, default_value = "10m", value_parser = humantime::parse_duration)]
        ttl: Duration,
        /// Database URL (else `database_url` from `--config`, `HIVE_DATABASE_URL`, or the default).
        #[arg(long)]
        database: Option<String>,
        /// Configuration file.
        #[arg(long)]
        config: Option<PathBuf>,
        /// Who issues it (recorded with the code).
        #[arg(long, default_value = "cli")]
        issued_by: String,
    },
}

/// Runs `hivesched auth token` or `hivesched auth issue-code`, printing the token or code.
pub fn run(args: Args) -> anyhow::Result<()> {
    match args.command {
        Command::Token {
            role,
            ttl,
            subject,
            config,
        } => {
            let config = ServiceConfig::load(config.as_deref(), std::env::vars())
                .context("loading the configuration")?;
            let secret = config
                .jwt_secret
                .context("no signing secret: set jwt_secret in --config or HIVE_JWT_SECRET")?;
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .context("the system clock is before 1970")?
                .as_secs();
            let token = TokenKeys::new(secret.as_bytes())?.mint(&subject, role, ttl, now)?;
            println!("{token}");
            Ok(())
        }
        Command::IssueCode {
            ttl,
            database,
            config,
            issued_by,
        } => {
            let url = super::config::database_url(database, config)?;
            let code = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .context("starting the async runtime")?
                .block_on(hivesched_server::ops::issue_emergency_code(
                    &url, &issued_by, ttl,
                ))
                .context("issuing the code")?;
            println!("{code}");
            eprintln!(
                "valid for {}, once, for POST /api/v1/emergency/stop or /resume",
                humantime::format_duration(ttl)
            );
            Ok(())
        }
    }
}
