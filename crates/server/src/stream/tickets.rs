//! One-use tickets for the stream. A browser cannot set `Authorization` on a WebSocket, and a
//! token in a URL ends up in logs and history; so it trades its token (in a header, on a
//! normal POST) for a ticket that opens one stream within [`TICKET_TTL`] and is useless after.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::auth::Claims;
use crate::error::ApiError;
use crate::random;

/// How long a ticket can be redeemed.
pub const TICKET_TTL: Duration = Duration::from_secs(30);
/// Most tickets outstanding at once; more means someone is minting them without using them.
pub const MAX_OUTSTANDING: usize = 10_000;

/// The tickets issued and not yet redeemed.
#[derive(Debug, Default)]
pub struct Tickets {
    open: Mutex<HashMap<String, (Claims, Instant)>>,
}

impl Tickets {
    /// A new ticket standing for `claims`, valid for [`TICKET_TTL`] from `now`.
    pub fn issue(&self, claims: Claims, now: Instant) -> Result<String, ApiError> {
        let ticket: String = random::bytes::<24>()?
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let mut open = self.lock();
        open.retain(|_, (_, expires)| *expires > now);
        if open.len() >= MAX_OUTSTANDING {
            return Err(ApiError::Unavailable(format!(
                "{MAX_OUTSTANDING} stream tickets are outstanding; use or let them expire"
            )));
        }
        open.insert(ticket.clone(), (claims, now + TICKET_TTL));
        Ok(ticket)
    }

    /// The claims behind `ticket`, once: a redeemed, expired or unknown ticket is refused.
    pub fn redeem(&self, ticket: &str, now: Instant) -> Result<Claims, ApiError> {
        match self.lock().remove(ticket) {
            Some((claims, expires)) if expires > now => Ok(claims),
            Some(_) => Err(ApiError::Unauthorized("stream ticket expired")),
            None => Err(ApiError::Unauthorized(
                "unknown or already used stream ticket",
            )),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (Claims, Instant)>> {
        self.open
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::Role;

    fn claims() -> Claims {
        Claims {
            sub: "ui".into(),
            role: Role::Viewer,
            iat: 0,
            exp: u64::MAX,
            jti: "j".into(),
        }
    }

    #[test]
    fn a_ticket_opens_one_stream_within_its_lifetime() {
        let tickets = Tickets::default();
        let t0 = Instant::now();
        let t = tickets.issue(claims(), t0).unwrap();
        assert_eq!(t.len(), 48);
        assert_eq!(tickets.redeem(&t, t0).unwrap().sub, "ui");
        assert!(tickets.redeem(&t, t0).is_err(), "second use");
        let late = tickets.issue(claims(), t0).unwrap();
        assert!(tickets.redeem(&late, t0 + TICKET_TTL).is_err(), "expired");
        assert!(tickets.redeem("nope", t0).is_err());
    }
}
