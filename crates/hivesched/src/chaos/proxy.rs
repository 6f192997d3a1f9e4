//! A TCP proxy in front of Redis or PostgreSQL, one of each per replica, that a strike can cut.

use std::net::SocketAddr;

use anyhow::{Context, bail};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Forwards connections to `upstream` until cut: cutting drops every open connection and
/// closes new ones at once (the service is unreachable, and the client learns it quickly).
pub(super) struct Proxy {
    addr: SocketAddr,
    cut: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.cut.send_replace(true);
        self.task.abort();
    }
}

impl Proxy {
    pub(super) async fn start(upstream: String) -> anyhow::Result<Proxy> {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .context("binding a Redis proxy")?;
        let addr = listener.local_addr()?;
        let (cut, cut_rx) = watch::channel(false);
        let task = tokio::spawn(async move {
            while let Ok((inbound, _)) = listener.accept().await {
                if *cut_rx.borrow() {
                    continue;
                }
                let mut cut = cut_rx.clone();
                let upstream = upstream.clone();
                tokio::spawn(async move {
                    let Ok(outbound) = TcpStream::connect(&upstream).await else {
                        return;
                    };
                    let (mut ri, mut wi) = inbound.into_split();
                    let (mut ro, mut wo) = outbound.into_split();
                    tokio::select! {
                        _ = tokio::io::copy(&mut ri, &mut wo) => {}
                        _ = tokio::io::copy(&mut ro, &mut wi) => {}
                        _ = cut.wait_for(|c| *c) => {}
                    }
                });
            }
        });
        Ok(Proxy { addr, cut, task })
    }

    pub(super) fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub(super) fn set_cut(&self, cut: bool) {
        self.cut.send_replace(cut);
    }
}

/// `scheme://[user:pw@]host[:port][/path][?query]` → (`host:port`, the URL with `{addr}`
/// in place of the host and port); `key` names the variable in errors.
pub(super) fn split_url(
    url: &str,
    schemes: &[&str],
    default_port: u16,
    key: &str,
) -> anyhow::Result<(String, String)> {
    let Some((scheme, rest)) = schemes
        .iter()
        .find_map(|s| url.strip_prefix(s).map(|rest| (*s, rest)))
    else {
        bail!("{key} must start with {}", schemes.join(" or "));
    };
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let start = rest[..authority_end].rfind('@').map_or(0, |at| at + 1);
    let host = &rest[start..authority_end];
    if host.is_empty() {
        bail!("{key} names no host");
    }
    let host = if host.contains(':') {
        host.to_owned()
    } else {
        format!("{host}:{default_port}")
    };
    Ok((
        host,
        format!(
            "{scheme}{}{{addr}}{}",
            &rest[..start],
            &rest[authority_end..]
        ),
    ))
}

/// [`split_url`] for `HIVE_CLUSTER__REDIS_URL`.
pub(super) fn split_redis_url(url: &str) -> anyhow::Result<(String, String)> {
    split_url(url, &["redis://"], 6379, "HIVE_CLUSTER__REDIS_URL")
}

/// [`split_url`] for `HIVE_DATABASE_URL`.
pub(super) fn split_postgres_url(url: &str) -> anyhow::Result<(String, String)> {
    split_url(
        url,
        &["postgres://", "postgresql://"],
        5432,
        "HIVE_DATABASE_URL",
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn redis_urls_keep_their_credentials_and_database() {
        assert_eq!(
            super::split_redis_url("redis://:pw@10.0.0.5:6380/2").unwrap(),
            ("10.0.0.5:6380".into(), "redis://:pw@{addr}/2".into())
        );
        assert_eq!(
            super::split_redis_url("redis://127.0.0.1").unwrap(),
            ("127.0.0.1:6379".into(), "redis://{addr}".into())
        );
        assert_eq!(
            super::split_postgres_url("postgres://u@db:5433/test?options=-c%20x").unwrap(),
            (
                "db:5433".into(),
                "postgres://u@{addr}/test?options=-c%20x".into()
            )
        );
    }
}
