//! One module per subcommand; each exposes its clap `Args` and a `run` function.

pub mod backtest;
pub mod fake_fleet;
pub mod forecast;
pub mod simulate;
