//! The admission gate: the one function every action passes before it reaches the fleet.
//!
//! A tick's plan, a bulk operation, a task re-run by crash recovery, a resumed bulk, a rollback —
//! whatever asks for a sleep or a wake asks [`Gate::admit`], against the fleet as the gate knows
//! it *at that moment* (the last fleet read plus every move admitted since). In one place it
//! applies, in this order:
//!
//! 1. shadow mode (nothing reaches the fleet: [`Reason::ShadowMode`]);
//! 2. the emergency stop, then the operator pause, by direction ([`Controls::halts`]);
//! 3. for a sleep only: the acting scope ([`ActingScope`]) — while the scheduler's own acting is
//!    rolled out, only a treatment agent may be put to sleep ([`Reason::RolloutControl`],
//!    [`Reason::OutsideRollout`]);
//! 4. facts about the agent: known to the fleet, in a state the action applies to, and for a
//!    sleep not pinned awake, busy or do-not-disrupt;
//! 5. for a sleep only: a fleet that could not be read, the scheduler's hold (restart hold,
//!    fail-safe), the agent's cooldown and every fleet-wide rail ([`rails::headroom`]).
//!
//! Wakes pass no rail, no hold and no check of the agent's state: waking is the safe direction.
//! They honour only shadow mode and the controls that halt wakes (`pause_wakes`, `freeze_all`,
//! a pause of wakes).
//!
//! The gate is pure: time is an argument. The scheduler plans through a [`Preview`] of it (the
//! same checks on a scratch copy), so a decision never contains an action the gate would refuse
//! at that instant; the executor admits each task again when it is about to call the fleet.

use std::collections::HashMap;

use crate::rails::{self, AgentCooldown, RailContext, SleepLog};
use crate::{
    ActingScope, ActionKind, Agent, AgentId, AgentState, Controls, Fleet, FleetCounts, Pin,
    RailConfig, Reason, Time,
};

/// Where an action comes from. Every source passes the same checks; the source is recorded
/// and decides only whether a refusal for a rail that clears with time is waited out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Source {
    /// A scheduling tick's decision.
    Tick,
    /// An operator's bulk operation.
    Bulk,
    /// A task re-run by crash recovery.
    Recovery,
    /// A staged bulk sleep's rollback wakes.
    Rollback,
    /// Wakes of agents the scheduler stopped acting on (its rollout rolled back or stepped
    /// down).
    Rollout,
}

impl Source {
    /// Every source.
    pub const ALL: [Source; 5] = [
        Source::Tick,
        Source::Bulk,
        Source::Recovery,
        Source::Rollback,
        Source::Rollout,
    ];

    /// The wire name (`tick`, `bulk`, `recovery`, `rollback`, `rollout`).
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Tick => "tick",
            Source::Bulk => "bulk",
            Source::Recovery => "recovery",
            Source::Rollback => "rollback",
            Source::Rollout => "rollout",
        }
    }
}

/// A move the gate let through, to settle once the fleet has answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ticket {
    seq: u64,
}

/// A move admitted since the fleet was last read: re-applied on top of every read that may not
/// show it yet.
#[derive(Debug, Clone, PartialEq)]
struct InFlight {
    seq: u64,
    agent: AgentId,
    kind: ActionKind,
    /// The agent's state and last transition before the move, put back if the fleet refuses.
    before: (AgentState, Time),
    at: Time,
    /// Epoch at which the fleet's answer arrived; a read that started after it shows the
    /// outcome, so the entry is dropped.
    settled: Option<u64>,
}

/// How long an admitted move may stay unanswered before reads stop re-applying it. The
/// executor settles every ticket within its actuator timeouts (seconds); this only bounds the
/// list when a task dies without settling.
const IN_FLIGHT_LIMIT: std::time::Duration = std::time::Duration::from_secs(3600);

/// The settings the gate applies.
#[derive(Debug, Clone, PartialEq)]
pub struct GateConfig {
    /// The rails every sleep must pass.
    pub rails: RailConfig,
    /// Shadow mode: refuse everything.
    pub shadow: bool,
}

impl From<&crate::SchedulerConfig> for GateConfig {
    fn from(cfg: &crate::SchedulerConfig) -> Self {
        GateConfig {
            rails: cfg.rails.clone(),
            shadow: cfg.shadow,
        }
    }
}

/// The admission gate and the state it decides on. See the module docs.
#[derive(Debug, Clone)]
pub struct Gate {
    cfg: GateConfig,
    controls: Controls,
    fleet: Fleet,
    index: HashMap<AgentId, usize>,
    counts: FleetCounts,
    log: SleepLog,
    in_flight: Vec<InFlight>,
    epoch: u64,
    readable: bool,
    sleep_hold: Option<Reason>,
    scope: ActingScope,
}

impl Gate {
    /// A gate with no fleet read yet: the fleet counts as unread (no sleeps) until the first
    /// [`Gate::observe`]. A service starting after a restart also sets the restart hold
    /// ([`Gate::set_sleep_hold`]) until its first decision says otherwise.
    pub fn new(cfg: GateConfig, controls: Controls, log: SleepLog) -> Self {
        Gate {
            cfg,
            controls,
            fleet: Fleet::default(),
            index: HashMap::new(),
            counts: FleetCounts::default(),
            log,
            in_flight: Vec::new(),
            epoch: 0,
            readable: false,
            sleep_hold: None,
            scope: ActingScope::all(),
        }
    }

    /// Puts a new acting scope in force for every later admission and plan.
    pub fn set_scope(&mut self, scope: ActingScope) {
        self.scope = scope;
    }

    /// The acting scope in force.
    pub fn scope(&self) -> &ActingScope {
        &self.scope
    }

    /// Applies new settings (rails, shadow mode) to every later admission.
    pub fn configure(&mut self, cfg: GateConfig) {
        self.cfg = cfg;
    }

    /// The settings in force.
    pub fn config(&self) -> &GateConfig {
        &self.cfg
    }

    /// Puts new controls in force.
    pub fn set_controls(&mut self, controls: Controls) {
        self.controls = controls;
    }

    /// The controls as set (lapsed ones included; ask [`Controls::emergency`] for those in force).
    pub fn controls(&self) -> &Controls {
        &self.controls
    }

    /// Sets (or lifts) the reason no sleep may start, as the latest decision found it.
    pub fn set_sleep_hold(&mut self, hold: Option<Reason>) {
        self.sleep_hold = hold;
    }

    /// The reason no sleep may start now, if any.
    pub fn sleep_hold(&self) -> Option<Reason> {
        self.sleep_hold
    }

    /// The counter a fleet read must note *before* it starts, and pass to [`Gate::observe`].
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// Whether the last fleet read succeeded.
    pub fn readable(&self) -> bool {
        self.readable
    }

    /// The fleet as the gate knows it: the last read with every move admitted since on top.
    pub fn fleet(&self) -> &Fleet {
        &self.fleet
    }

    /// Counts by state of [`Gate::fleet`].
    pub fn counts(&self) -> FleetCounts {
        self.counts
    }

    /// The sleeps started recently, as the rate and scale-down rails count them.
    pub fn sleep_log(&self) -> &SleepLog {
        &self.log
    }

    /// Takes a fleet read that started at `read_epoch` (see [`Gate::epoch`]). `readable` says
    /// whether the fleet's own API answered; when it did not, `fleet` holds the last known
    /// states and every sleep is refused ([`Reason::FleetUnreadable`]).
    ///
    /// Moves admitted after the read started, or answered after it, may be missing from it:
    /// they are applied again on top, so a read never un-counts an agent already on its way.
    pub fn observe(&mut self, fleet: Fleet, read_epoch: u64, readable: bool, now: Time) {
        self.fleet = fleet;
        self.readable = readable;
        // Answered before the read started: the read shows the outcome. Never answered within
        // an hour (a task that died without settling): any read since shows the truth.
        let lost = now.minus(IN_FLIGHT_LIMIT);
        self.in_flight
            .retain(|f| f.settled.is_none_or(|settled| settled > read_epoch) && f.at > lost);
        self.reindex();
        let pending = std::mem::take(&mut self.in_flight);
        for f in &pending {
            self.apply(&f.agent, f.kind, f.at);
        }
        self.in_flight = pending;
    }

    fn reindex(&mut self) {
        self.index = self
            .fleet
            .agents
            .iter()
            .enumerate()
            .map(|(i, a)| (a.id.clone(), i))
            .collect();
        self.counts = self.fleet.counts();
    }

    /// Takes the newest facts about one agent, read right before an admission: the operator's
    /// pin and do-not-disrupt flag, the agent's busy flag, its last wake. Its state stays the
    /// gate's own (the gate knows the moves in flight); an agent the gate has not seen yet is
    /// left to the next fleet read.
    pub fn refresh(&mut self, facts: &Agent) {
        let Some(&i) = self.index.get(&facts.id) else {
            return;
        };
        let a = &mut self.fleet.agents[i];
        a.pin = facts.pin;
        a.do_not_disrupt = facts.do_not_disrupt;
        a.busy = facts.busy;
        a.last_wake = a.last_wake.max(facts.last_wake);
    }

    /// Marks the move behind `ticket` as answered by the fleet. `accepted` says whether the
    /// fleet took it: a refused move did not happen, so the agent goes back to the state it
    /// had (a wake the fleet refused must not leave an agent that is still consolidating
    /// counted as waking). A sleep stays in the rate log either way, the conservative count.
    pub fn settle(&mut self, ticket: Ticket, accepted: bool) {
        self.epoch += 1;
        let epoch = self.epoch;
        let Some(pos) = self.in_flight.iter().position(|f| f.seq == ticket.seq) else {
            return;
        };
        if accepted {
            self.in_flight[pos].settled = Some(epoch);
            return;
        }
        let f = self.in_flight.remove(pos);
        let Some(&i) = self.index.get(&f.agent) else {
            return;
        };
        let a = &mut self.fleet.agents[i];
        if a.state == started(f.kind) {
            decrement(&mut self.counts, a.state);
            increment(&mut self.counts, f.before.0);
            a.state = f.before.0;
            a.last_transition = f.before.1;
        }
    }

    /// Decides whether `kind` on `agent` may reach the fleet now; if so, counts it at once (the
    /// agent is on its way, a sleep enters the rate log) so the next admission sees it.
    pub fn admit(
        &mut self,
        agent: &AgentId,
        kind: ActionKind,
        now: Time,
    ) -> Result<Ticket, Reason> {
        let Some(&i) = self.index.get(agent) else {
            return Err(Reason::UnknownAgent);
        };
        let view = View {
            cfg: &self.cfg,
            controls: &self.controls,
            scope: &self.scope,
            counts: self.counts,
            log: &self.log,
            readable: self.readable,
            sleep_hold: self.sleep_hold,
            now,
        };
        view.check(&self.fleet.agents[i], kind, true)?;
        let before = (
            self.fleet.agents[i].state,
            self.fleet.agents[i].last_transition,
        );
        self.epoch += 1;
        let seq = self.epoch;
        self.apply(agent, kind, now);
        if kind == ActionKind::Sleep {
            self.log.record(now);
        }
        self.in_flight.push(InFlight {
            seq,
            agent: agent.clone(),
            kind,
            before,
            at: now,
            settled: None,
        });
        self.prune(now);
        Ok(Ticket { seq })
    }

    /// What [`Gate::admit`] would say, changing nothing.
    pub fn check(&self, agent: &AgentId, kind: ActionKind, now: Time) -> Result<(), Reason> {
        let Some(&i) = self.index.get(agent) else {
            return Err(Reason::UnknownAgent);
        };
        self.view(now).check(&self.fleet.agents[i], kind, true)
    }

    /// A scratch copy for planning: admissions change only the preview. `sleep_hold` is the
    /// hold the plan itself has found (it replaces the previous decision's).
    pub fn preview(&self, now: Time, sleep_hold: Option<Reason>) -> Preview<'_> {
        Preview {
            gate: self,
            sleep_hold,
            counts: self.counts,
            log: self.log.clone(),
            moved: HashMap::new(),
            now,
        }
    }

    fn view(&self, now: Time) -> View<'_> {
        View {
            cfg: &self.cfg,
            controls: &self.controls,
            scope: &self.scope,
            counts: self.counts,
            log: &self.log,
            readable: self.readable,
            sleep_hold: self.sleep_hold,
            now,
        }
    }

    /// Moves the agent's state the way an accepted action starts it.
    fn apply(&mut self, agent: &AgentId, kind: ActionKind, at: Time) {
        let Some(&i) = self.index.get(agent) else {
            return;
        };
        let a = &mut self.fleet.agents[i];
        let to = started(kind);
        if a.state == to {
            return;
        }
        decrement(&mut self.counts, a.state);
        increment(&mut self.counts, to);
        a.state = to;
        a.last_transition = at;
        match kind {
            ActionKind::Sleep => a.last_sleep = Some(at),
            ActionKind::Wake => a.last_wake = Some(at),
        }
    }

    /// Drops log entries no rail counts any more.
    fn prune(&mut self, now: Time) {
        let keep = self
            .cfg
            .rails
            .agent_cooldown
            .max(self.cfg.rails.sleep_rate_window)
            .saturating_add(std::time::Duration::from_secs(1));
        self.log.prune(now, keep);
    }
}

/// The state one check reads.
struct View<'a> {
    cfg: &'a GateConfig,
    controls: &'a Controls,
    scope: &'a ActingScope,
    counts: FleetCounts,
    log: &'a SleepLog,
    readable: bool,
    sleep_hold: Option<Reason>,
    now: Time,
}

impl View<'_> {
    /// The admission rules, in the order of the module docs. `enforce_shadow` is false only
    /// for planning, whose decisions record what shadow mode would have done.
    fn check(&self, agent: &Agent, kind: ActionKind, enforce_shadow: bool) -> Result<(), Reason> {
        if enforce_shadow && self.cfg.shadow {
            return Err(Reason::ShadowMode);
        }
        if let Some(reason) = self.controls.halts(kind, self.now) {
            return Err(reason);
        }
        // Outside the rollout's treatment arm no sleep reaches the fleet. A plan still records
        // an observed agent's sleep (like shadow mode, it shows what acting would do); a control
        // agent's never, it is held awake.
        match self.scope.refuses(&agent.id, kind) {
            Some(Reason::OutsideRollout) if !enforce_shadow => {}
            Some(reason) => return Err(reason),
            None => {}
        }
        match kind {
            // Waking is the safe direction, and the gate's view of an agent mid-transition may
            // be a read behind (a rollback wakes agents the gate last saw preparing to sleep):
            // the fleet itself answers a wake that does not apply.
            ActionKind::Wake => Ok(()),
            ActionKind::Sleep => {
                if agent.state != AgentState::Awake {
                    return Err(Reason::StateMismatch);
                }
                if agent.pin == Some(Pin::Awake) {
                    return Err(Reason::Pinned);
                }
                if agent.busy || agent.do_not_disrupt {
                    return Err(Reason::DoNotDisrupt);
                }
                if !self.readable {
                    return Err(Reason::FleetUnreadable);
                }
                if let Some(hold) = self.sleep_hold {
                    return Err(hold);
                }
                let ctx = self.rail_context();
                if AgentCooldown.blocks(&ctx, agent) {
                    return Err(Reason::CooldownActive);
                }
                match rails::headroom(&ctx) {
                    (0, binding) => Err(binding),
                    _ => Ok(()),
                }
            }
        }
    }

    fn rail_context(&self) -> RailContext<'_> {
        RailContext {
            counts: self.counts,
            log: self.log,
            now: self.now,
            cfg: &self.cfg.rails,
        }
    }
}

/// The gate's checks on a scratch copy, for planning a decision: each admission counts against
/// the next one exactly as it will at execution, and nothing in the gate changes.
pub struct Preview<'a> {
    gate: &'a Gate,
    sleep_hold: Option<Reason>,
    counts: FleetCounts,
    log: SleepLog,
    moved: HashMap<AgentId, ActionKind>,
    now: Time,
}

impl Preview<'_> {
    /// Whether `kind` on `agent` would be admitted after the moves previewed so far; if so,
    /// counts it. Shadow mode is not applied: a shadow decision shows what it would do.
    pub fn admit(&mut self, agent: &Agent, kind: ActionKind) -> Result<(), Reason> {
        if self.moved.contains_key(&agent.id) {
            return Err(Reason::StateMismatch);
        }
        let view = View {
            cfg: &self.gate.cfg,
            controls: &self.gate.controls,
            scope: &self.gate.scope,
            counts: self.counts,
            log: &self.log,
            readable: self.gate.readable,
            sleep_hold: self.sleep_hold,
            now: self.now,
        };
        view.check(agent, kind, false)?;
        decrement(&mut self.counts, agent.state);
        increment(&mut self.counts, started(kind));
        if kind == ActionKind::Sleep {
            self.log.record(self.now);
        }
        self.moved.insert(agent.id.clone(), kind);
        Ok(())
    }

    /// How many more sleeps the fleet-wide rails would admit now, and the rail that binds.
    pub fn sleep_headroom(&self) -> (u32, Reason) {
        rails::headroom(&RailContext {
            counts: self.counts,
            log: &self.log,
            now: self.now,
            cfg: &self.gate.cfg.rails,
        })
    }

    /// Whether `agent`'s cooldown would refuse a sleep now.
    pub fn in_cooldown(&self, agent: &Agent) -> bool {
        AgentCooldown.blocks(
            &RailContext {
                counts: self.counts,
                log: &self.log,
                now: self.now,
                cfg: &self.gate.cfg.rails,
            },
            agent,
        )
    }
}

/// The state an accepted action puts an agent in.
fn started(kind: ActionKind) -> AgentState {
    match kind {
        ActionKind::Sleep => AgentState::PreparingSleep,
        ActionKind::Wake => AgentState::Waking,
    }
}

fn slot(c: &mut FleetCounts, s: AgentState) -> &mut u32 {
    match s {
        AgentState::Awake => &mut c.awake,
        AgentState::PreparingSleep => &mut c.preparing_sleep,
        AgentState::Consolidating => &mut c.consolidating,
        AgentState::Asleep => &mut c.asleep,
        AgentState::Waking => &mut c.waking,
        AgentState::Error => &mut c.error,
    }
}

fn decrement(c: &mut FleetCounts, s: AgentState) {
    let n = slot(c, s);
    *n = n.saturating_sub(1);
}

fn increment(c: &mut FleetCounts, s: AgentState) {
    *slot(c, s) += 1;
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::{EmergencyMode, EmergencyStop, Pause, PauseDirection};

    const T: Time = Time::from_secs(1_000_000);

    fn gate(n: usize) -> Gate {
        let mut g = Gate::new(
            GateConfig {
                rails: RailConfig::default(),
                shadow: false,
            },
            Controls::default(),
            SleepLog::default(),
        );
        let fleet = Fleet::new(
            (0..n)
                .map(|i| Agent::awake(format!("a{i}"), Time(0)))
                .collect(),
        );
        let epoch = g.epoch();
        g.observe(fleet, epoch, true, T);
        g.set_sleep_hold(None);
        g
    }

    fn id(i: usize) -> AgentId {
        AgentId(format!("a{i}"))
    }

    #[test]
    fn a_new_gate_refuses_sleeps_until_a_read() {
        let mut g = Gate::new(
            GateConfig {
                rails: RailConfig::default(),
                shadow: false,
            },
            Controls::default(),
            SleepLog::default(),
        );
        assert_eq!(
            g.admit(&id(0), ActionKind::Sleep, T),
            Err(Reason::UnknownAgent)
        );
        let fleet = Fleet::new(
            (0..10)
                .map(|i| Agent::awake(format!("a{i}"), Time(0)))
                .collect(),
        );
        g.observe(fleet.clone(), 0, false, T);
        assert_eq!(
            g.admit(&id(0), ActionKind::Sleep, T),
            Err(Reason::FleetUnreadable)
        );
        g.observe(fleet, 0, true, T);
        g.set_sleep_hold(Some(Reason::RestartHold));
        assert_eq!(
            g.admit(&id(0), ActionKind::Sleep, T),
            Err(Reason::RestartHold)
        );
        g.set_sleep_hold(None);
        assert!(g.admit(&id(0), ActionKind::Sleep, T).is_ok());
    }

    #[test]
    fn controls_and_shadow_come_first_and_wakes_honour_only_them() {
        let mut g = gate(10);
        g.set_controls(Controls {
            emergency: Some(EmergencyStop {
                mode: EmergencyMode::FreezeSleeps,
                until: None,
            }),
            pause: None,
        });
        assert_eq!(
            g.admit(&id(0), ActionKind::Sleep, T),
            Err(Reason::EmergencyStop)
        );
        g.set_controls(Controls {
            emergency: None,
            pause: Some(Pause {
                direction: PauseDirection::Sleeps,
                until: Some(T),
            }),
        });
        // The pause lapsed at T.
        assert!(g.admit(&id(0), ActionKind::Sleep, T).is_ok());
        g.set_controls(Controls {
            emergency: Some(EmergencyStop {
                mode: EmergencyMode::FreezeAll,
                until: None,
            }),
            pause: None,
        });
        assert_eq!(
            g.admit(&id(0), ActionKind::Wake, T),
            Err(Reason::EmergencyStop)
        );
        g.set_controls(Controls::default());
        g.configure(GateConfig {
            rails: RailConfig::default(),
            shadow: true,
        });
        assert_eq!(
            g.admit(&id(1), ActionKind::Sleep, T),
            Err(Reason::ShadowMode)
        );
    }

    #[test]
    fn wakes_pass_every_rail_and_hold() {
        let mut g = gate(6);
        // Agent 1 was admitted to sleep: the gate last saw it preparing to sleep.
        g.admit(&id(1), ActionKind::Sleep, T).unwrap();
        g.fleet.agents[0].state = AgentState::Asleep;
        g.reindex();
        g.readable = false;
        g.set_sleep_hold(Some(Reason::BreakerOpen));
        assert!(g.admit(&id(0), ActionKind::Wake, T).is_ok());
        // The gate's view may be a read behind (a rollback wakes what a bulk just put to
        // sleep): the wake passes, the fleet answers whether it applies, and the agent no
        // longer counts as awake or on its way to sleep.
        assert!(g.admit(&id(1), ActionKind::Wake, T).is_ok());
        let c = g.counts();
        assert_eq!((c.awake, c.waking, c.preparing_sleep), (4, 2, 0));
    }

    #[test]
    fn sleeps_count_against_the_next_admission() {
        let mut g = gate(10);
        let admitted = (0..10)
            .filter(|&i| g.admit(&id(i), ActionKind::Sleep, T).is_ok())
            .count();
        // The disruption budget, ceil(0.3 × 10) = 3, binds first.
        assert_eq!(admitted, 3);
        assert_eq!(g.counts().preparing_sleep, 3);
        assert_eq!(
            g.admit(&id(9), ActionKind::Sleep, T),
            Err(Reason::BudgetExhausted)
        );
    }

    #[test]
    fn the_rate_log_outlives_fleet_reads() {
        let mut g = gate(100);
        g.configure(GateConfig {
            rails: RailConfig {
                max_in_transition: 1.0,
                ..RailConfig::default()
            },
            shadow: false,
        });
        for i in 0..10 {
            g.admit(&id(i), ActionKind::Sleep, T).unwrap();
        }
        // A fresh read of a fleet where nothing moved yet does not reset the rate.
        let fresh = Fleet::new(
            (0..100)
                .map(|i| Agent::awake(format!("a{i}"), Time(0)))
                .collect(),
        );
        let epoch = g.epoch();
        g.observe(fresh, epoch, true, T);
        assert_eq!(
            g.admit(&id(50), ActionKind::Sleep, T.plus(Duration::from_secs(59))),
            Err(Reason::SleepRateLimited)
        );
        assert!(
            g.admit(&id(50), ActionKind::Sleep, T.plus(Duration::from_secs(60)))
                .is_ok()
        );
    }

    #[test]
    fn a_read_that_started_before_a_move_does_not_undo_it() {
        let mut g = gate(10);
        let before = g.epoch();
        let ticket = g.admit(&id(0), ActionKind::Sleep, T).unwrap();
        // The read began before the sleep was admitted: agent 0 still shows awake in it.
        let stale = Fleet::new(
            (0..10)
                .map(|i| Agent::awake(format!("a{i}"), Time(0)))
                .collect(),
        );
        g.observe(stale.clone(), before, true, T);
        assert_eq!(g.counts().awake, 9);
        g.settle(ticket, true);
        // A read that began after the fleet answered shows the truth; the entry is dropped.
        let after = g.epoch();
        g.observe(stale, after, true, T);
        assert_eq!(g.counts().awake, 10);
    }

    #[test]
    fn a_move_the_fleet_refused_is_undone() {
        let mut g = gate(10);
        let sleep = g.admit(&id(0), ActionKind::Sleep, T).unwrap();
        g.settle(sleep, true);
        assert_eq!(g.counts().preparing_sleep, 1);
        // The fleet refuses a wake of the agent still preparing to sleep: it stays counted in
        // the disruption budget.
        let wake = g.admit(&id(0), ActionKind::Wake, T).unwrap();
        assert_eq!(g.counts().preparing_sleep, 0);
        g.settle(wake, false);
        assert_eq!((g.counts().preparing_sleep, g.counts().waking), (1, 0));
        // A refused sleep frees its place in the budget but keeps its place in the rate log.
        let again = g.admit(&id(1), ActionKind::Sleep, T).unwrap();
        g.settle(again, false);
        assert_eq!((g.counts().awake, g.sleep_log().len()), (9, 2));
    }

    #[test]
    fn agent_facts_refuse_sleeps() {
        let mut g = gate(6);
        g.fleet.agents[0].busy = true;
        g.fleet.agents[1].do_not_disrupt = true;
        g.fleet.agents[2].pin = Some(Pin::Awake);
        g.fleet.agents[3].state = AgentState::Asleep;
        g.fleet.agents[4].last_wake = Some(T.minus(Duration::from_secs(60)));
        g.reindex();
        let got: Vec<Result<Ticket, Reason>> = (0..5)
            .map(|i| g.admit(&id(i), ActionKind::Sleep, T))
            .collect();
        assert_eq!(
            got,
            [
                Err(Reason::DoNotDisrupt),
                Err(Reason::DoNotDisrupt),
                Err(Reason::Pinned),
                Err(Reason::StateMismatch),
                Err(Reason::CooldownActive),
            ]
        );
        g.readable = false;
        assert_eq!(
            g.admit(&id(5), ActionKind::Sleep, T),
            Err(Reason::FleetUnreadable)
        );
    }

    #[test]
    fn fresh_facts_count_before_the_next_read() {
        let mut g = gate(6);
        let mut facts = g.fleet().agents[0].clone();
        facts.pin = Some(Pin::Awake);
        facts.state = AgentState::Asleep;
        g.refresh(&facts);
        assert_eq!(g.admit(&id(0), ActionKind::Sleep, T), Err(Reason::Pinned));
        assert_eq!(g.counts().awake, 6, "the state stays the gate's");
        facts.pin = None;
        facts.do_not_disrupt = true;
        g.refresh(&facts);
        assert_eq!(
            g.admit(&id(0), ActionKind::Sleep, T),
            Err(Reason::DoNotDisrupt)
        );
    }

    #[test]
    fn a_preview_changes_nothing_and_agrees_with_admission() {
        let g = gate(10);
        let mut p = g.preview(T, None);
        let agents = g.fleet().agents.clone();
        let planned: Vec<bool> = agents
            .iter()
            .map(|a| p.admit(a, ActionKind::Sleep).is_ok())
            .collect();
        assert_eq!(g.counts().awake, 10);
        let mut live = g.clone();
        let admitted: Vec<bool> = (0..10)
            .map(|i| live.admit(&id(i), ActionKind::Sleep, T).is_ok())
            .collect();
        assert_eq!(planned, admitted);
    }
}
