//! `hivesched serve`: the scheduler service with its HTTP API, from a TOML file and `HIVE_*`
//! environment variables.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use hivesched_server::{ServiceConfig, StartMode};

/// Arguments of `hivesched serve`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Configuration file (TOML); every key can also be set by a `HIVE_*` variable.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Address to listen on, overriding `listen` from the file and `HIVE_LISTEN`.
    #[arg(long)]
    listen: Option<SocketAddr>,
}

/// Starts the service and serves until SIGTERM or Ctrl-C; refuses to start without a signing
/// secret (`jwt_secret` / `HIVE_JWT_SECRET`).
pub fn run(args: Args) -> anyhow::Result<()> {
    let mut config = ServiceConfig::load(args.config.as_deref(), std::env::vars())
        .context("loading the configuration")?;
    if let Some(listen) = args.listen {
        config.listen = listen;
    }
    init_logging();
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?
        .block_on(async {
            // Start-up failures (an unreachable database, a port in use) are told apart from
            // failures of a service that ran, so the first line says which one it was.
            let server = hivesched_server::Server::start(&config, StartMode::Serve)
                .await
                .context("starting the service")?;
            println!("listening on http://{}", server.local_addr());
            server
                .serve(super::shutdown_signal())
                .await
                .context("running the service")
        })
}

/// Logs to stderr at `info`, or at the level in `HIVE_LOG` (`error` … `trace`).
pub fn init_logging() {
    let level = std::env::var("HIVE_LOG")
        .ok()
        .and_then(|l| l.parse().ok())
        .unwrap_or(tracing_subscriber::filter::LevelFilter::INFO);
    let _ = tracing_subscriber::fmt()
        .with_max_level(level)
        .with_writer(std::io::stderr)
        .try_init();
}
