//! Operator controls over the whole fleet: the emergency stop and the operator pause.
//!
//! Both halt one or both directions, optionally until a time. They are *state*, not history:
//! the service keeps them in their own durable record, loads them before the engine starts and
//! hands them to the [`Gate`](crate::Gate), which consults them for every action from every
//! source.

use crate::{ActionKind, Reason, Time};

/// What an emergency stop halts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EmergencyMode {
    /// No sleeps; wakes continue (the default: freeze consolidation, allow the safe direction).
    FreezeSleeps,
    /// No sleeps, and wake every agent.
    WakeAll,
    /// No wakes; sleeps continue under the rails.
    PauseWakes,
    /// Nothing moves at all.
    FreezeAll,
}

impl EmergencyMode {
    /// Every mode.
    pub const ALL: [EmergencyMode; 4] = [
        EmergencyMode::FreezeSleeps,
        EmergencyMode::WakeAll,
        EmergencyMode::PauseWakes,
        EmergencyMode::FreezeAll,
    ];

    /// The wire name (`freeze_sleeps`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            EmergencyMode::FreezeSleeps => "freeze_sleeps",
            EmergencyMode::WakeAll => "wake_all",
            EmergencyMode::PauseWakes => "pause_wakes",
            EmergencyMode::FreezeAll => "freeze_all",
        }
    }

    /// Whether actions of `kind` are halted in this mode.
    pub fn halts(self, kind: ActionKind) -> bool {
        match kind {
            ActionKind::Sleep => !matches!(self, EmergencyMode::PauseWakes),
            ActionKind::Wake => {
                matches!(self, EmergencyMode::PauseWakes | EmergencyMode::FreezeAll)
            }
        }
    }
}

crate::wire_name!(
    EmergencyMode,
    "freeze_sleeps, wake_all, pause_wakes or freeze_all"
);

/// An administrator's emergency stop, optionally time-limited.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmergencyStop {
    /// What it halts.
    pub mode: EmergencyMode,
    /// When it lifts by itself (`None`: until resumed).
    pub until: Option<Time>,
}

impl EmergencyStop {
    /// Whether the stop is in force at `now`.
    pub fn active(&self, now: Time) -> bool {
        self.until.is_none_or(|u| now < u)
    }
}

/// Which direction an operator pause holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PauseDirection {
    /// No sleeps start.
    Sleeps,
    /// No wakes start.
    Wakes,
    /// Nothing starts.
    Both,
}

impl PauseDirection {
    /// Every direction.
    pub const ALL: [PauseDirection; 3] = [
        PauseDirection::Sleeps,
        PauseDirection::Wakes,
        PauseDirection::Both,
    ];

    /// The wire name (`sleeps`, `wakes`, `both`).
    pub fn as_str(self) -> &'static str {
        match self {
            PauseDirection::Sleeps => "sleeps",
            PauseDirection::Wakes => "wakes",
            PauseDirection::Both => "both",
        }
    }

    /// Whether actions of `kind` are held.
    pub fn holds(self, kind: ActionKind) -> bool {
        match kind {
            ActionKind::Sleep => self != PauseDirection::Wakes,
            ActionKind::Wake => self != PauseDirection::Sleeps,
        }
    }
}

crate::wire_name!(PauseDirection, "sleeps, wakes or both");

/// An operator's routine pause of one or both directions (no one-time code needed), optionally
/// time-limited.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pause {
    /// What it holds.
    pub direction: PauseDirection,
    /// When it lifts by itself (`None`: until cleared).
    pub until: Option<Time>,
}

impl Pause {
    /// Whether the pause is in force at `now`.
    pub fn active(&self, now: Time) -> bool {
        self.until.is_none_or(|u| now < u)
    }
}

/// The fleet-wide controls in force.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Controls {
    /// The emergency stop, if one is set (it may have lapsed: see [`Controls::emergency`]).
    pub emergency: Option<EmergencyStop>,
    /// The operator pause, if one is set.
    pub pause: Option<Pause>,
}

impl Controls {
    /// The emergency stop in force at `now`.
    pub fn emergency(&self, now: Time) -> Option<&EmergencyStop> {
        self.emergency.as_ref().filter(|e| e.active(now))
    }

    /// The operator pause in force at `now`.
    pub fn pause(&self, now: Time) -> Option<&Pause> {
        self.pause.as_ref().filter(|p| p.active(now))
    }

    /// Why an action of `kind` may not start at `now`, if a control holds it: the emergency
    /// stop first (it is the stronger statement), then the pause.
    pub fn halts(&self, kind: ActionKind, now: Time) -> Option<Reason> {
        if self.emergency(now).is_some_and(|e| e.mode.halts(kind)) {
            return Some(Reason::EmergencyStop);
        }
        if self.pause(now).is_some_and(|p| p.direction.holds(kind)) {
            return Some(Reason::OperatorPause);
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_halt_their_directions() {
        use ActionKind::{Sleep, Wake};
        let halted: Vec<(bool, bool)> = EmergencyMode::ALL
            .iter()
            .map(|m| (m.halts(Sleep), m.halts(Wake)))
            .collect();
        assert_eq!(
            halted,
            [(true, false), (true, false), (false, true), (true, true)]
        );
        assert!(PauseDirection::Both.holds(Sleep) && PauseDirection::Both.holds(Wake));
        assert!(!PauseDirection::Sleeps.holds(Wake));
    }

    #[test]
    fn time_limited_controls_lapse() {
        let t = Time::from_secs;
        let c = Controls {
            emergency: Some(EmergencyStop {
                mode: EmergencyMode::FreezeSleeps,
                until: Some(t(10)),
            }),
            pause: Some(Pause {
                direction: PauseDirection::Both,
                until: Some(t(20)),
            }),
        };
        assert_eq!(
            c.halts(ActionKind::Sleep, t(9)),
            Some(Reason::EmergencyStop)
        );
        assert_eq!(
            c.halts(ActionKind::Sleep, t(10)),
            Some(Reason::OperatorPause)
        );
        assert_eq!(c.halts(ActionKind::Wake, t(9)), Some(Reason::OperatorPause));
        assert_eq!(c.halts(ActionKind::Wake, t(20)), None);
    }

    #[test]
    fn wire_names_match_serde() {
        for m in EmergencyMode::ALL {
            assert_eq!(serde_json::to_value(m).unwrap(), m.as_str());
        }
        for d in PauseDirection::ALL {
            assert_eq!(serde_json::to_value(d).unwrap(), d.as_str());
        }
    }
}
