//! WebSocket helpers for tests that read `GET /api/v1/stream`.

use std::time::Duration;

use futures_util::StreamExt;
use hivesched_server::auth::Role;
use serde_json::Value;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use super::{TestServer, token};

pub type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

pub fn ws_url(server: &TestServer, query: &str) -> String {
    format!(
        "{}/api/v1/stream{query}",
        server.base.replacen("http", "ws", 1)
    )
}

/// Opens the stream with the bearer header.
pub async fn connect(server: &TestServer, query: &str) -> Socket {
    let mut req = ws_url(server, query).into_client_request().unwrap();
    req.headers_mut().insert(
        "authorization",
        format!("Bearer {}", token(Role::Viewer)).parse().unwrap(),
    );
    tokio_tungstenite::connect_async(req).await.unwrap().0
}

/// The next data message (pings are skipped); `Err` with the close frame when the server
/// closes.
pub async fn next(socket: &mut Socket) -> Result<Value, Option<(u16, String)>> {
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(30), socket.next())
            .await
            .expect("a message within 30 s");
        match msg {
            Some(Ok(Message::Text(t))) => return Ok(serde_json::from_str(&t).unwrap()),
            Some(Ok(Message::Close(frame))) => {
                return Err(frame.map(|f| (u16::from(f.code), f.reason.to_string())));
            }
            Some(Ok(_)) => {}
            Some(Err(_)) | None => return Err(None),
        }
    }
}
