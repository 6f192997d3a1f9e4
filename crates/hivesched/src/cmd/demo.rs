//! `hivesched demo`: the service on embedded SQLite with the built-in fake fleet replaying the
//! bundled NYC-taxi trace; prints the URL and an admin token.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use hivesched_server::demo::{Demo, DemoOptions};

/// Arguments of `hivesched demo`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Directory for the demo's SQLite database (a previous demo database there is replaced).
    #[arg(long, default_value = "hivesched-demo")]
    data_dir: PathBuf,
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
            })
            .await?;
            let mut out = std::io::stdout().lock();
            let _ = writeln!(
                out,
                "hivesched demo: 45 fake agents, NYC-taxi demand, one 30-minute step every 2 s"
            );
            let _ = writeln!(out, "url: {}", demo.url);
            let _ = writeln!(out, "admin token: {}", demo.admin_token);
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
            demo.serve(hivesched_server::server::shutdown_signal())
                .await
        })
        .context("running the demo")
}
