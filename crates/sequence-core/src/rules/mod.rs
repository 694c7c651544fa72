//! The rules engine: the rule model and its pure evaluation (rule + facts -> planned transfers).
//!
//! A rule's life, and which part of this module serves each stage:
//! 1. A client sends a rule. The server copies the wire body into a [`RuleDraft`] (shaped like the
//!    wire, loose where the wire is loose) and calls [`validate_rule`], which either reports the
//!    first problem as a [`RuleInvalid`] with a field path, or returns the strict [`Rule`]
//!    ([`model`]) that the store persists (its serde shape is the storage shape).
//! 2. Something triggers the rule: a deposit, a manual trigger, or a [`schedule`] occurrence
//!    ([`next_occurrence_after`], [`occurrences_between`]).
//! 3. The caller gathers [`Facts`] (balances, liability statements, today, cap usage) and calls
//!    [`evaluate`], a pure function that returns an [`Evaluation`]: the matched step and, per action,
//!    a planned amount or the reason there is none. The caller makes the planned transfers durable
//!    and records the execution.
//!
//! Nothing here does IO or reads a clock, and money is integer cents with checked arithmetic; the
//! only float is the wire's percentage, converted once by [`basis_points_from_percentage`]. The
//! evaluation semantics are documented in [`eval`] and pinned by the snapshot table in
//! `eval_tests.rs` (snapshots in `rules/snapshots/`).

pub mod draft;
pub mod eval;
pub mod execution;
pub mod model;
pub mod schedule;
pub mod validate;

#[cfg(test)]
mod eval_tests;
#[cfg(test)]
mod validate_tests;

pub use draft::{
    ActionDraft, ConditionDraft, ConditionGroupDraft, RuleDraft, StepDraft, TriggerDraft,
};
pub use eval::{
    AccountFacts, ActionOutcome, ActionResult, Evaluation, Facts, FailReason, LiabilityDatum,
    LiabilityFacts, PlannedTransfer, SkipReason, evaluate,
};
pub use execution::{
    CapPeriodStarts, TransferCounters, cap_period_starts, counts_toward_caps, execution_status,
    outcome_of, referenced_accounts,
};
pub use model::{
    Action, ActionKind, ActionType, BASIS_POINTS_MAX, CapPeriod, Condition, ConditionGroup,
    ExecutionStatus, ExecutionTrigger, Fact, Operand, Operator, PercentageInvalid,
    PercentageTarget, Rule, RuleStatus, Schedule, ScheduleKind, Step, TransferCap, TransferOutcome,
    Trigger, TriggerKind, UnknownValue, ValueFact, basis_points_from_percentage,
    percentage_from_basis_points,
};
pub use schedule::{last_day_of_month, next_occurrence_after, occurrences_between};
pub use validate::{
    ACTIONS_PER_STEP_MAX, CONDITION_DEPTH_MAX, CONDITIONS_PER_GROUP_MAX, RuleInvalid, STEPS_MAX,
    validate_rule,
};
