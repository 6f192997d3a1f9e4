//! The pure core of Hive Scheduler's feature flags and progressive rollouts.
//!
//! Deterministic like the planner: no I/O, no clock reads (time is an argument), so the
//! service, the `hivesched flags simulate` command and the property tests run the same code.
//!
//! - [`bucket`](mod@bucket): sticky, monotone MurmurHash3 bucketing with a concurrent control arm.
//! - [`flag`]: the flag definition, its ladder and validation.
//! - [`targeting`]: the rules that make a unit eligible.
//! - [`eval`]: a flag's value for one unit, with the reason.
//! - [`stats`]: the always-valid confidence sequence and the sample-ratio test.
//! - [`guardrails`]: the checks and the evidence each one returns.
//! - [`rollout`]: the state machine that advances, holds and rolls back.
//!
//! The model, defaults and measured numbers are in docs/rollout.md.

pub mod bucket;
pub mod error;
pub mod eval;
pub mod flag;
pub mod guardrails;
pub mod rollout;
pub mod stats;
pub mod targeting;

pub use bucket::{Arm, BUCKETS, Percent, arm_of, bucket};
pub use error::FlagError;
pub use eval::{Evaluation, Reason, Value, evaluate};
pub use flag::{DEFAULT_LADDER, Flag, Kind, RollbackMode, Variant, fleet_ladder};
pub use guardrails::{
    ArmWindow, Check, Guardrail, GuardrailConfig, GuardrailKind, NoDataPolicy, Observations,
    Outcome, Totals,
};
pub use rollout::{
    Action, Cause, Command, Decision, Gates, Phase, RolloutState, Wait, apply, step,
};
pub use targeting::{Op, Rule};
