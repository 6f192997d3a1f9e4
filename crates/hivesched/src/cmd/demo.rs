//! `hivesched demo`: the service on embedded SQLite with the built-in fake fleet replaying a
//! demand trace (the repository's NYC-taxi trace by default); prints the URL, the dashboard's
//! address and a token per role.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use hivesched::demo::{Demo, DemoOptions};

/// Arguments of `hivesched demo`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Directory for the demo's SQLite database (a previous demo database there is replaced).
    #[arg(long, default_value = "hivesched-demo")]
    data_dir: PathBuf,
    /// Demand trace to replay, a regular `timestamp,value` series (run from the repository's
    /// root for the default).
    #[arg(long, default_value = "data/nyc_taxi.csv")]
    trace: PathBuf,
}

/// Runs the demo until Ctrl-C or SIGTERM.
pub fn run(args: Args) -> anyhow::Result<()> {
    super::serve::init_logging();
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?
        .block_on(async {
            let demo = Demo::start(&DemoOptions {
                listen: args.listen,
                data_dir: args.data_dir,
                trace: args.trace.clone(),
            })
            .await?;
            let mut out = std::io::stdout().lock();
            let _ = writeln!(
                out,
                "hivesched demo: 45 fake agents, demand from {}, one trace step every 2 s",
                args.trace.display()
            );
            let _ = writeln!(out, "url: {}", demo.url);
            let _ = writeln!(
                out,
                "dashboard: {}/ (paste a token below to sign in)",
                demo.url
            );
            let _ = writeln!(out, "admin token: {}", demo.admin_token);
            let _ = writeln!(out, "operator token: {}", demo.operator_token);
            let _ = writeln!(out, "viewer token: {}", demo.viewer_token);
            let _ = writeln!(
                out,
                "try: curl -H \"Authorization: Bearer $TOKEN\" {}/api/v1/decisions?limit=5",
                demo.url
            );
            let _ = writeln!(
                out,
                "emergency code: hivesched auth issue-code --database '{}'",
                demo.database_url
            );
            let _ = out.flush();
            drop(out);
            demo.serve(super::shutdown_signal()).await
        })
        .context("running the demo")
}
