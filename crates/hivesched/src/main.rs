//! `hivesched`: the command-line entry point. Each subcommand lives in its own module under `cmd/`.

mod cmd;

use clap::{Parser, Subcommand};

/// Hive Scheduler: decides how many long-lived agents must be awake and carries it out safely.
#[derive(Debug, Parser)]
#[command(name = "hivesched", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the service on SQLite with the built-in fake fleet replaying a demand trace.
    Demo(cmd::demo::Args),
    /// Run the scheduler service with its HTTP API.
    Serve(cmd::serve::Args),
    /// Replay a demand trace against every policy and score them.
    Simulate(cmd::simulate::Args),
    /// Forecast the steps after the end of a series.
    Forecast(cmd::forecast::Args),
    /// Rolling-origin backtest of every forecasting model on a series.
    Backtest(cmd::backtest::Args),
    /// Serve a reference fake fleet that honours the actuator contract.
    FakeFleet(cmd::fake_fleet::Args),
    /// Mint API tokens and issue one-time authorization codes.
    Auth(cmd::auth::Args),
    /// Verify the audit log's hash chain.
    Audit(cmd::audit::Args),
    /// Validate a configuration file and print the effective configuration.
    Config(cmd::config::Args),
    /// Fault campaign: replicas on PostgreSQL and Redis, forced failovers, invariants counted.
    Chaos(cmd::chaos::Args),
    /// Feature flags and progressive rollouts: simulate the rollout guardrails.
    Flags(cmd::flags::Args),
}

fn main() -> std::process::ExitCode {
    // One TLS crypto backend for the whole process (reqwest and anything else using rustls).
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    match run(Cli::parse()) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Simulate(args) => cmd::simulate::run(args),
        Command::Forecast(args) => cmd::forecast::run(args),
        Command::Backtest(args) => cmd::backtest::run(args),
        Command::FakeFleet(args) => cmd::fake_fleet::run(args),
        Command::Demo(args) => cmd::demo::run(args),
        Command::Serve(args) => cmd::serve::run(args),
        Command::Auth(args) => cmd::auth::run(args),
        Command::Audit(args) => cmd::audit::run(args),
        Command::Config(args) => cmd::config::run(args),
        Command::Chaos(args) => cmd::chaos::run(args),
        Command::Flags(args) => cmd::flags::run(args),
    }
}
