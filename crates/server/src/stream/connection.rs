//! One client's stream: the replay after its `since`, then live messages, until it leaves,
//! falls behind, its token expires or the server shuts down. Each ends with a close frame whose
//! code says which.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket};
use serde_json::json;
use tokio::sync::broadcast;
use tokio::sync::broadcast::error::RecvError;

use crate::clock;
use crate::shutdown::Shutdown;
use crate::stream::hub::{self, CLIENT_QUEUE};
use crate::stream::{Frame, StreamHub, StreamKind};

/// Longest one message may take to reach the client's socket before it counts as gone.
pub const SEND_TIMEOUT: Duration = Duration::from_secs(10);
/// A ping this often keeps proxies from closing an idle stream and finds dead peers.
pub const PING_EVERY: Duration = Duration::from_secs(20);

/// Close codes, as the client sees them.
pub mod close {
    /// The server is shutting down (standard "going away"); reconnect with `since`.
    pub const GOING_AWAY: u16 = 1001;
    /// The client fell more than the queue behind; reconnect with `since`.
    pub const LAGGED: u16 = 4008;
    /// The token the stream was opened with expired; sign in again.
    pub const TOKEN_EXPIRED: u16 = 4001;
    /// The server could not read what it should replay.
    pub const REPLAY_FAILED: u16 = 1011;
}

/// A client's place in the stream, taken when its request is accepted (before the upgrade
/// completes), so every message published after the handshake's answer reaches it.
pub struct Subscription {
    live: broadcast::Receiver<Frame>,
    last: u64,
}

impl Subscription {
    /// Subscribes to `hub` now.
    pub fn new(hub: &StreamHub) -> Self {
        // Subscribe first, then read the newest seq: a message published in between arrives
        // on the receiver and is not skipped.
        let live = hub.subscribe();
        Subscription {
            live,
            last: hub.last_seq(),
        }
    }
}

/// Runs one client's stream. `expires` is the token's expiry in seconds since the epoch.
pub async fn run(
    mut socket: WebSocket,
    hub: StreamHub,
    subscription: Subscription,
    since: Option<u64>,
    expires: u64,
    shutdown: Shutdown,
) {
    hub.metrics().clients.inc();
    let why = serve(&mut socket, &hub, subscription, since, expires, &shutdown).await;
    hub.metrics().clients.dec();
    if let Some((code, reason)) = why {
        let frame = Message::Close(Some(CloseFrame {
            code,
            reason: Utf8Bytes::from(reason),
        }));
        let _ = tokio::time::timeout(SEND_TIMEOUT, socket.send(frame)).await;
    }
}

/// The stream's loop; the close frame to send when the server ends it (`None` when the client
/// left or its socket failed).
async fn serve(
    socket: &mut WebSocket,
    hub: &StreamHub,
    subscription: Subscription,
    since: Option<u64>,
    expires: u64,
    shutdown: &Shutdown,
) -> Option<(u16, String)> {
    // Subscribed before the replay: anything published in between arrives on both and the
    // live side skips what the replay sent.
    let Subscription { mut live, mut last } = subscription;
    if let Some(since) = since {
        let replay = match hub.replay(since).await {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(error = %e, "stream replay failed");
                return Some((close::REPLAY_FAILED, format!("replay failed: {e}")));
            }
        };
        if let Some((from, to)) = replay.gap {
            let data = json!({
                "from": from,
                "to": to,
                "reason": "these messages are no longer held; reload the state from the API",
            });
            let text = hub::message(to, StreamKind::Gap.as_str(), clock::now(), &data);
            send(socket, Utf8Bytes::from(text)).await.ok()?;
        }
        last = since;
        for frame in replay.frames {
            send(socket, frame.text).await.ok()?;
            last = frame.seq;
        }
    }
    let expiry = tokio::time::sleep(until(expires));
    tokio::pin!(expiry);
    let mut ping = tokio::time::interval(PING_EVERY);
    ping.tick().await;
    loop {
        tokio::select! {
            () = shutdown.signalled() => {
                return Some((close::GOING_AWAY, "server shutting down; reconnect with since".into()));
            }
            () = &mut expiry => {
                return Some((close::TOKEN_EXPIRED, "token expired; sign in again".into()));
            }
            received = live.recv() => match received {
                Ok(frame) if frame.seq <= last => {}
                Ok(frame) => {
                    send(socket, frame.text).await.ok()?;
                    last = frame.seq;
                    if let Some(at) = frame.published {
                        hub.metrics().delivery.observe(at.elapsed().as_secs_f64());
                    }
                }
                Err(RecvError::Lagged(n)) => {
                    hub.metrics().lagged.inc();
                    return Some((close::LAGGED, format!(
                        "fell {n} messages behind (the limit is {CLIENT_QUEUE}); reconnect with since={last}"
                    )));
                }
                Err(RecvError::Closed) => {
                    return Some((close::GOING_AWAY, "server shutting down".into()));
                }
            },
            incoming = socket.recv() => match incoming {
                // Pings are answered by the socket itself; text from the client means nothing.
                Some(Ok(Message::Close(_)) | Err(_)) | None => return None,
                Some(Ok(_)) => {}
            },
            _ = ping.tick() => {
                send_message(socket, Message::Ping(Default::default())).await.ok()?;
            }
        }
    }
}

async fn send(socket: &mut WebSocket, text: Utf8Bytes) -> Result<(), ()> {
    send_message(socket, Message::Text(text)).await
}

/// Sends within [`SEND_TIMEOUT`]; a client that does not take a message for that long is
/// dropped without a close frame (its socket is not accepting one either).
async fn send_message(socket: &mut WebSocket, message: Message) -> Result<(), ()> {
    match tokio::time::timeout(SEND_TIMEOUT, socket.send(message)).await {
        Ok(Ok(())) => Ok(()),
        _ => Err(()),
    }
}

/// Time left until `exp` (seconds since the epoch).
fn until(exp: u64) -> Duration {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    Duration::from_secs(exp).saturating_sub(now)
}
