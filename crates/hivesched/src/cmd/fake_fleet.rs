//! `hivesched fake-fleet`: serve the reference fake fleet over HTTP, for demos, tests and fleet
//! implementers trying the actuator contract (docs/actuator.md).

use std::io::Write;
use std::time::Duration;

use anyhow::Context;
use hivesched_fakefleet::{FakeFleet, FakeFleetConfig};

use super::shutdown_signal;

/// Arguments of `hivesched fake-fleet`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Address to listen on, e.g. `127.0.0.1:8090`; port 0 picks a free port (printed).
    #[arg(long)]
    listen: String,
    /// Number of agents, named `agent-0` .. `agent-{N-1}`, all awake at the start.
    #[arg(long)]
    agents: u32,
    /// How long an agent stays `waking`, e.g. `10s`.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    wake_latency: Duration,
    /// How long an agent stays `preparing_sleep` (writing its checkpoint), e.g. `2s`.
    #[arg(long, default_value = "2s", value_parser = humantime::parse_duration)]
    checkpoint: Duration,
    /// How long an agent stays `consolidating` before it is `asleep`, e.g. `10s`.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    consolidation: Duration,
    /// Probability (0 to 1) that a sleep or wake fails with 503 before anything is done.
    #[arg(long, default_value_t = 0.0)]
    failure_rate: f64,
    /// Seed of the failure draws and initial context sizes; the same seed replays the same run.
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

/// Serves the fake fleet until Ctrl-C or SIGTERM, then finishes in-flight requests and exits.
/// Prints `listening on http://ADDR` on stdout once the port is bound.
pub fn run(args: Args) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(serve(args))
}

async fn serve(args: Args) -> anyhow::Result<()> {
    let fleet = FakeFleet::new(FakeFleetConfig {
        agents: args.agents,
        checkpoint: args.checkpoint,
        consolidation: args.consolidation,
        wake_latency: args.wake_latency,
        failure_rate: args.failure_rate,
        seed: args.seed,
    })?;
    let listener = tokio::net::TcpListener::bind(&args.listen)
        .await
        .with_context(|| format!("binding {}", args.listen))?;
    let address = listener.local_addr().context("reading the bound address")?;
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "listening on http://{address}")?;
    stdout.flush()?;
    drop(stdout);
    eprintln!(
        "fake fleet: {} agents; GET /agents, POST /agents/{{id}}/sleep|wake; Ctrl-C to stop",
        args.agents
    );
    hivesched_fakefleet::serve(listener, fleet, shutdown_signal()).await?;
    eprintln!("fake fleet: stopped");
    Ok(())
}
