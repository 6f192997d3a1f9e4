//! One module per subcommand; each exposes its clap `Args` and a `run` function.

pub mod audit;
pub mod auth;
pub mod backtest;
pub mod config;
pub mod demo;
pub mod fake_fleet;
pub mod forecast;
pub mod serve;
pub mod simulate;
