//! Whether this engine may act, and with which fencing token.
//!
//! Two sources are combined on every read: the elector's [`Leadership`] watch itself (so a lost
//! or doubtful lease stops actions the instant it is published, without waiting for any task
//! to run) and the grant the engine made after recording a new leader's token in the store's
//! fencing mark (so a new leader acts only once its predecessor's writes are already refused).

use hivesched_coord::Leadership;
use tokio::sync::watch;

/// What the engine has granted itself: acting with a token (`None`: unguarded, a standalone
/// engine without an elector), or standing by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grant {
    /// May act; writes and fleet calls carry this token.
    Acting {
        /// The fencing token (`None`: no elector, unguarded writes, token 0 to the fleet).
        token: Option<i64>,
    },
    /// Must not act (a follower, or leadership unknown, or its claim was refused).
    Standing,
}

/// The engine's view of its own authority; cheap to clone, read without waiting.
#[derive(Debug, Clone)]
pub struct Authority {
    grant: watch::Receiver<Grant>,
    leadership: Option<watch::Receiver<Leadership>>,
}

impl Authority {
    /// An authority reading `grant` and, when an elector is followed, its `leadership`.
    pub fn new(
        grant: watch::Receiver<Grant>,
        leadership: Option<watch::Receiver<Leadership>>,
    ) -> Self {
        Authority { grant, leadership }
    }

    /// The token to act with, or `None` when this engine must not act now.
    pub fn acting(&self) -> Option<Option<i64>> {
        if let Some(rx) = &self.leadership {
            let Leadership::Leader { token } = *rx.borrow() else {
                return None;
            };
            // The grant must be for this very lease: after a quick lose-and-regain the grant
            // may still name the previous token until the new claim is recorded.
            return match *self.grant.borrow() {
                Grant::Acting { token: Some(t) } if u64::try_from(t).ok() == Some(token) => {
                    Some(Some(t))
                }
                _ => None,
            };
        }
        match *self.grant.borrow() {
            Grant::Acting { token } => Some(token),
            Grant::Standing => None,
        }
    }
}

/// A leader's token as the store and the fleet carry it (tokens beyond `i64::MAX` would take
/// 290 million years of takeovers at one a second, so saturating is only a formality).
pub fn store_token(token: u64) -> i64 {
    i64::try_from(token).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_grant_counts_only_for_the_lease_it_was_made_for() {
        let (grant_tx, grant) = watch::channel(Grant::Standing);
        let (lead_tx, lead) = watch::channel(Leadership::Unknown);
        let a = Authority::new(grant, Some(lead));
        assert_eq!(a.acting(), None);
        lead_tx.send_replace(Leadership::Leader { token: 4 });
        assert_eq!(a.acting(), None, "not claimed yet");
        grant_tx.send_replace(Grant::Acting { token: Some(4) });
        assert_eq!(a.acting(), Some(Some(4)));
        lead_tx.send_replace(Leadership::Follower);
        assert_eq!(
            a.acting(),
            None,
            "lost: stops at once, before the grant is withdrawn"
        );
        lead_tx.send_replace(Leadership::Leader { token: 5 });
        assert_eq!(a.acting(), None, "a new lease needs its own claim");
    }

    #[test]
    fn without_an_elector_the_grant_decides() {
        let (tx, grant) = watch::channel(Grant::Acting { token: None });
        let a = Authority::new(grant, None);
        assert_eq!(a.acting(), Some(None));
        tx.send_replace(Grant::Standing);
        assert_eq!(a.acting(), None);
    }
}
