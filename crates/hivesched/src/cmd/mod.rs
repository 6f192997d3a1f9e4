//! One module per subcommand; each exposes its clap `Args` and a `run` function. The one
//! shutdown signal of every long-running command is here.

pub mod audit;
pub mod auth;
pub mod backtest;
pub mod chaos;
pub mod config;
pub mod demo;
pub mod fake_fleet;
pub mod flags;
pub mod forecast;
pub mod serve;
pub mod simulate;

/// Resolves on Ctrl-C (SIGINT) or SIGTERM. A signal that cannot be watched is ignored rather
/// than taken as a request to stop.
pub async fn shutdown_signal() {
    let interrupt = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {}
        () = terminate => {}
    }
    tracing::info!("shutdown signal received");
}
