//! The admission gate as the engine shares it: the tick plans on a snapshot of it, every task
//! is admitted by it right before the fleet is called, and the controls, settings and fleet
//! reads are fed into it. See [`hivesched_policy::gate`] for the rules.

use std::sync::Mutex;

use hivesched_policy::{
    ActingScope, ActionKind, Agent, AgentId, Controls, Fleet, Gate, GateConfig, Reason, Ticket,
    Time,
};

use crate::lock::lock;

/// The one [`Gate`] of an engine, behind a lock held only for the few microseconds of a check.
#[derive(Debug)]
pub struct SharedGate(Mutex<Gate>);

impl SharedGate {
    /// Shares `gate`.
    pub fn new(gate: Gate) -> Self {
        SharedGate(Mutex::new(gate))
    }

    /// Admits (or refuses) one action now, after taking `facts` (the agent's record as the
    /// store has it this instant: pins, do-not-disrupt, busy) into account; see
    /// [`Gate::refresh`] and [`Gate::admit`].
    pub fn admit(
        &self,
        agent: &AgentId,
        kind: ActionKind,
        now: Time,
        facts: Option<&Agent>,
    ) -> Result<Ticket, Reason> {
        let mut gate = lock(&self.0);
        if let Some(facts) = facts {
            gate.refresh(facts);
        }
        gate.admit(agent, kind, now)
    }

    /// The fleet answered the action behind `ticket`, taking it or not.
    pub fn settle(&self, ticket: Ticket, accepted: bool) {
        lock(&self.0).settle(ticket, accepted);
    }

    /// The epoch a fleet read must note before it starts.
    pub fn epoch(&self) -> u64 {
        lock(&self.0).epoch()
    }

    /// Takes a fleet read that started at `read_epoch`.
    pub fn observe(&self, fleet: Fleet, read_epoch: u64, readable: bool, now: Time) {
        lock(&self.0).observe(fleet, read_epoch, readable, now);
    }

    /// A copy to plan on without holding the lock.
    pub fn snapshot(&self) -> Gate {
        lock(&self.0).clone()
    }

    /// Sets (or lifts) the hold on sleeps the latest decision found.
    pub fn set_sleep_hold(&self, hold: Option<Reason>) {
        lock(&self.0).set_sleep_hold(hold);
    }

    /// Puts controls in force.
    pub fn set_controls(&self, controls: Controls) {
        lock(&self.0).set_controls(controls);
    }

    /// The controls as set.
    pub fn controls(&self) -> Controls {
        lock(&self.0).controls().clone()
    }

    /// Applies new rail and shadow settings.
    pub fn configure(&self, cfg: GateConfig) {
        lock(&self.0).configure(cfg);
    }

    /// Puts `scope` in force and returns the agents of the fleet the gate knows that were in
    /// treatment before and are not now ([`ActingScope::released`]), in one step so two
    /// changes never both (or neither) release an agent.
    pub fn set_scope(&self, scope: ActingScope) -> Vec<AgentId> {
        let mut gate = lock(&self.0);
        let released = gate
            .scope()
            .released(&scope, gate.fleet().agents.iter().map(|a| &a.id))
            .into_iter()
            .cloned()
            .collect();
        gate.set_scope(scope);
        released
    }

    /// Whether the last fleet read succeeded.
    pub fn readable(&self) -> bool {
        lock(&self.0).readable()
    }
}

/// Settles a ticket when dropped, so a task that ends early (an error, a panic) still tells
/// the gate its move is no longer in flight. Until [`Settle::accepted`] says otherwise the move
/// counts as taken: without an answer, the fleet may have acted.
pub(crate) struct Settle<'a> {
    gate: &'a SharedGate,
    ticket: Ticket,
    accepted: bool,
}

impl<'a> Settle<'a> {
    pub(crate) fn new(gate: &'a SharedGate, ticket: Ticket) -> Self {
        Settle {
            gate,
            ticket,
            accepted: true,
        }
    }

    /// Records whether the fleet took the move.
    pub(crate) fn accepted(&mut self, accepted: bool) {
        self.accepted = accepted;
    }
}

impl Drop for Settle<'_> {
    fn drop(&mut self) {
        self.gate.settle(self.ticket, self.accepted);
    }
}
