//! The live event stream (`GET /api/v1/stream`, a WebSocket): what the engine and the
//! operators do, as numbered JSON messages a client can resume after a reconnect.
//!
//! - [`hub`]: numbering, the replay ring, fan-out and the durable tail in the database.
//! - [`forward`]: the engine's events turned into messages.
//! - [`tickets`]: one-use tickets for browsers, which cannot set headers on a WebSocket.
//! - [`connection`]: one client's connection: replay, live messages, lag, shutdown.

pub mod connection;
pub mod forward;
pub mod hub;
pub mod tickets;

pub use hub::{Frame, StreamHub, StreamMetrics};
pub use tickets::Tickets;

/// The type of a stream message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamKind {
    /// A scheduling decision, in the decisions API's shape.
    Decision,
    /// Agents whose state a fleet read found changed.
    Agent,
    /// The forecast after a tick: mean and upper bound per step, and the horizon.
    Forecast,
    /// An alert fired, was acknowledged or resolved.
    Alert,
    /// An emergency stop, resume, pause, unpause or settings change.
    Control,
    /// Progress of a bulk operation.
    Task,
    /// A tick failed; the engine did not act on it.
    TickFailed,
    /// Messages after the client's `since` that the server no longer holds.
    Gap,
}

impl StreamKind {
    /// Every type.
    pub const ALL: [StreamKind; 8] = [
        StreamKind::Decision,
        StreamKind::Agent,
        StreamKind::Forecast,
        StreamKind::Alert,
        StreamKind::Control,
        StreamKind::Task,
        StreamKind::TickFailed,
        StreamKind::Gap,
    ];

    /// The `type` field of its messages.
    pub fn as_str(self) -> &'static str {
        match self {
            StreamKind::Decision => "decision",
            StreamKind::Agent => "agent",
            StreamKind::Forecast => "forecast",
            StreamKind::Alert => "alert",
            StreamKind::Control => "control",
            StreamKind::Task => "task",
            StreamKind::TickFailed => "tick_failed",
            StreamKind::Gap => "gap",
        }
    }
}

hivesched_policy::wire_name!(StreamKind, "a stream message type");
