//! The operations the simulator drives, as data: drawn by [`crate::generate`], carried out by
//! [`crate::sim`], and printed in the operation log.
//!
//! An operation names accounts and rules by id *and* by label (`o1.a3`), so the log of a run is
//! readable and compares across runs of one seed (ids are minted fresh each run).

use std::fmt;

use chrono::TimeDelta;
use sequence_app::ledger::ExternalAccount;
use sequence_core::cards::{CardEvent, CardType};
use sequence_core::ids::AccountId;
use sequence_core::ledger::{AccountKind, TransferOrigin};
use sequence_core::money::Cents;
use sequence_core::rules::{RuleDraft, TransferCap};

/// An account as an operation names it.
#[derive(Debug, Clone)]
pub struct AccountRef {
    /// Its id.
    pub id: AccountId,
    /// Its label, for the log.
    pub label: String,
}

impl fmt::Display for AccountRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.label)
    }
}

/// How planted broken data looks (see [`crate::model::Hostility`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostileKind {
    /// A near-`i64::MAX` reported balance and a payment to it.
    ReportedBalanceOverflow,
    /// A clock offset beyond the bound.
    CorruptClock,
    /// A due rule whose definition is not JSON.
    CorruptRule,
}

/// One step of a run.
#[derive(Debug, Clone)]
pub enum Op {
    /// A new organization (tenant).
    CreateOrg,
    /// `accounts::open`: an income source or a pod.
    OpenAccount { org: usize, kind: AccountKind },
    /// `ledger::create_external_account`.
    LinkExternal { org: usize, input: ExternalAccount },
    /// `ledger::deposit`. `foreign`: the account belongs to another organization (must be
    /// refused: tenant isolation).
    Deposit {
        org: usize,
        account: AccountRef,
        amount: Cents,
        origin: TransferOrigin,
        foreign: bool,
    },
    /// `transfers::create`.
    Transfer {
        org: usize,
        source: AccountRef,
        destination: AccountRef,
        amount: Cents,
        simulation: bool,
        foreign: bool,
    },
    /// `sandbox::set_approval_threshold`.
    SetThreshold { org: usize, threshold: Option<Cents> },
    /// `ledger::decide_approval` on the `pick`-th transfer waiting for approval (or on one that
    /// is not waiting, when `any_status`).
    Decide { org: usize, pick: u32, approve: bool, any_status: bool },
    /// `accounts::delete`.
    DeleteAccount { org: usize, account: AccountRef },
    /// `rules::create`, then `rules::switch` to enabled when `enable`.
    CreateRule { org: usize, draft: Box<RuleDraft>, enable: bool },
    /// `rules::update` (which disables), then enable again when `enable`.
    UpdateRule { org: usize, rule: usize, draft: Box<RuleDraft>, enable: bool },
    /// `rules::switch`.
    Switch { org: usize, rule: usize, enable: bool },
    /// `rules::update` and `rules::switch` of one rule at once (one through each replica):
    /// neither write may be lost.
    RaceReplaceSwitch { org: usize, rule: usize, draft: Box<RuleDraft>, enable: bool },
    /// `rules::delete`.
    DeleteRule { org: usize, rule: usize },
    /// `rules::trigger`. `foreign`: the rule is another organization's.
    Trigger {
        org: usize,
        rule: usize,
        amount: Option<Cents>,
        simulation: bool,
        foreign: Option<usize>,
    },
    /// `n` concurrent `rules::trigger`s of one rule, each its own transaction.
    ParallelTriggers { org: usize, rule: usize, n: u32, amount: Option<Cents> },
    /// `sandbox::advance_clock`.
    AdvanceClock { org: usize, seconds: i64 },
    /// Moves the injected (real-time) clock: every organization's time moves.
    MoveClock { by: TimeDelta },
    /// One worker pass (replica A).
    Tick,
    /// Both replicas' worker passes at once, each over its own pool.
    ReplicaTicks,
    /// Several operations at once, optionally with worker passes racing them.
    Concurrent { ops: Vec<Op>, ticks: u32 },
    /// The operation's use case, and then a crash before commit: the transaction is dropped.
    Crash { inner: Box<Op> },
    /// The operation's use case, reported as colliding (`StoreError::Retry`) after it ran
    /// `failures` times, so the runner rolls it back and runs it again.
    Transient { inner: Box<Op>, failures: u32 },
    /// A `TOP_UP` probe: a funded source pod, a fresh pod only the probe rule fills up to
    /// `target`, and `sequential` + `parallel` triggers (deposits into the source, when
    /// `on_funds`) with nothing else sending to the pod.
    TopUpProbe {
        org: usize,
        funds: Cents,
        target: Cents,
        cap: Option<TransferCap>,
        on_funds: bool,
        sequential: u32,
        parallel: u32,
    },
    /// A new organization with broken data.
    Hostile { kind: HostileKind },
    /// `cards::issue` on `account` (mostly a live pod; now and then an income source, an
    /// external account or a deleted pod, which must be refused).
    IssueCard { org: usize, account: AccountRef, card_type: CardType },
    /// `cards::change_status` of the organization's `card`-th card.
    ChangeCard { org: usize, card: usize, event: CardEvent },
    /// `cards::purchase` with the `card`-th card of `owner` (another organization's when it is
    /// not `org`: must be refused).
    Purchase { org: usize, owner: usize, card: usize, amount: Cents },
    /// `cards::refund` of the `pick`-th purchase of the `card`-th card (`None`: everything left
    /// of it), or of a refund's id or a purchase of another card when `stray` (both refused).
    Refund { org: usize, card: usize, pick: u32, amount: Option<Cents>, stray: bool },
    /// `n` purchases of `amount` with one card at once (each its own transaction, half through
    /// each replica): together they never spend more than the pod had available.
    ParallelPurchases { org: usize, card: usize, n: u32, amount: Cents },
}

impl Op {
    /// The organization the operation is about, if one.
    pub fn org(&self) -> Option<usize> {
        match self {
            Op::OpenAccount { org, .. }
            | Op::LinkExternal { org, .. }
            | Op::Deposit { org, .. }
            | Op::Transfer { org, .. }
            | Op::SetThreshold { org, .. }
            | Op::Decide { org, .. }
            | Op::DeleteAccount { org, .. }
            | Op::CreateRule { org, .. }
            | Op::UpdateRule { org, .. }
            | Op::Switch { org, .. }
            | Op::RaceReplaceSwitch { org, .. }
            | Op::DeleteRule { org, .. }
            | Op::Trigger { org, .. }
            | Op::ParallelTriggers { org, .. }
            | Op::AdvanceClock { org, .. }
            | Op::TopUpProbe { org, .. }
            | Op::IssueCard { org, .. }
            | Op::ChangeCard { org, .. }
            | Op::Purchase { org, .. }
            | Op::Refund { org, .. }
            | Op::ParallelPurchases { org, .. } => Some(*org),
            Op::Crash { inner } | Op::Transient { inner, .. } => inner.org(),
            Op::CreateOrg
            | Op::MoveClock { .. }
            | Op::Tick
            | Op::ReplicaTicks
            | Op::Concurrent { .. }
            | Op::Hostile { .. } => None,
        }
    }

    /// The operation's kind, for the per-kind tallies.
    pub fn kind(&self) -> &'static str {
        match self {
            Op::CreateOrg => "create_org",
            Op::OpenAccount { .. } => "open_account",
            Op::LinkExternal { .. } => "link_external",
            Op::Deposit { .. } => "deposit",
            Op::Transfer { .. } => "transfer",
            Op::SetThreshold { .. } => "set_threshold",
            Op::Decide { .. } => "decide_approval",
            Op::DeleteAccount { .. } => "delete_account",
            Op::CreateRule { .. } => "create_rule",
            Op::UpdateRule { .. } => "update_rule",
            Op::Switch { .. } => "switch_rule",
            Op::RaceReplaceSwitch { .. } => "race_replace_switch",
            Op::DeleteRule { .. } => "delete_rule",
            Op::Trigger { .. } => "trigger_rule",
            Op::ParallelTriggers { .. } => "parallel_triggers",
            Op::AdvanceClock { .. } => "advance_clock",
            Op::MoveClock { .. } => "move_clock",
            Op::Tick => "tick",
            Op::ReplicaTicks => "replica_ticks",
            Op::Concurrent { .. } => "concurrent",
            Op::Crash { .. } => "crash_before_commit",
            Op::Transient { .. } => "transient_collision",
            Op::TopUpProbe { .. } => "top_up_probe",
            Op::Hostile { .. } => "hostile_org",
            Op::IssueCard { .. } => "issue_card",
            Op::ChangeCard { .. } => "change_card",
            Op::Purchase { .. } => "card_purchase",
            Op::Refund { .. } => "card_refund",
            Op::ParallelPurchases { .. } => "parallel_purchases",
        }
    }
}

fn org_label(org: usize) -> String {
    format!("o{org}")
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Op::CreateOrg => write!(f, "create organization"),
            Op::OpenAccount { org, kind } => write!(f, "{}: open {kind}", org_label(*org)),
            Op::LinkExternal { org, input } => write!(
                f,
                "{}: link {} external account, reported {} (statement {:?}, minimum {:?}, due {:?})",
                org_label(*org),
                input.kind,
                input.balance.get(),
                input.last_statement_balance.map(Cents::get),
                input.next_payment_minimum.map(Cents::get),
                input.next_payment_due_date,
            ),
            Op::Deposit { org, account, amount, origin, foreign } => write!(
                f,
                "{}: deposit {} into {account} ({origin}){}",
                org_label(*org),
                amount.get(),
                if *foreign { " [another organization's account]" } else { "" }
            ),
            Op::Transfer { org, source, destination, amount, simulation, foreign } => write!(
                f,
                "{}: transfer {} {source} -> {destination}{}{}",
                org_label(*org),
                amount.get(),
                if *simulation { " (simulation)" } else { "" },
                if *foreign { " [another organization's account]" } else { "" }
            ),
            Op::SetThreshold { org, threshold } => {
                write!(f, "{}: approval threshold {:?}", org_label(*org), threshold.map(Cents::get))
            }
            Op::Decide { org, pick, approve, any_status } => write!(
                f,
                "{}: {} waiting transfer #{pick}{}",
                org_label(*org),
                if *approve { "approve" } else { "decline" },
                if *any_status { " (any status)" } else { "" }
            ),
            Op::DeleteAccount { org, account } => {
                write!(f, "{}: delete account {account}", org_label(*org))
            }
            Op::CreateRule { org, draft, enable } => write!(
                f,
                "{}: create rule {}{} {}",
                org_label(*org),
                draft.nickname,
                if *enable { " and enable it" } else { "" },
                describe_draft(draft)
            ),
            Op::UpdateRule { org, rule, draft, enable } => write!(
                f,
                "{}: replace rule r{rule} by {}{} {}",
                org_label(*org),
                draft.nickname,
                if *enable { " and enable it" } else { "" },
                describe_draft(draft)
            ),
            Op::Switch { org, rule, enable } => write!(
                f,
                "{}: {} rule r{rule}",
                org_label(*org),
                if *enable { "enable" } else { "disable" }
            ),
            Op::RaceReplaceSwitch { org, rule, draft, enable } => write!(
                f,
                "{}: at once, replace rule r{rule} by {} and {} it {}",
                org_label(*org),
                draft.nickname,
                if *enable { "enable" } else { "disable" },
                describe_draft(draft)
            ),
            Op::DeleteRule { org, rule } => write!(f, "{}: delete rule r{rule}", org_label(*org)),
            Op::Trigger { org, rule, amount, simulation, foreign } => write!(
                f,
                "{}: trigger rule {}r{rule} amount {:?}{}",
                org_label(*org),
                foreign.map(|o| format!("o{o}.")).unwrap_or_default(),
                amount.map(Cents::get),
                if *simulation { " (simulation)" } else { "" }
            ),
            Op::ParallelTriggers { org, rule, n, amount } => write!(
                f,
                "{}: {n} parallel triggers of rule r{rule} amount {:?}",
                org_label(*org),
                amount.map(Cents::get)
            ),
            Op::AdvanceClock { org, seconds } => {
                write!(f, "{}: advance the sandbox clock {seconds}s", org_label(*org))
            }
            Op::MoveClock { by } => write!(f, "move the injected clock by {by}"),
            Op::Tick => write!(f, "worker pass (replica A)"),
            Op::ReplicaTicks => write!(f, "worker passes of replicas A and B at once"),
            Op::Concurrent { ops, ticks } => {
                write!(f, "at once ({ticks} worker passes racing): ")?;
                for (i, op) in ops.iter().enumerate() {
                    if i > 0 {
                        write!(f, " | ")?;
                    }
                    write!(f, "{op}")?;
                }
                Ok(())
            }
            Op::Crash { inner } => write!(f, "crash before commit of [{inner}]"),
            Op::Transient { inner, failures } => {
                write!(f, "[{inner}] colliding {failures} time(s) before it commits")
            }
            Op::TopUpProbe { org, funds, target, cap, on_funds, sequential, parallel } => write!(
                f,
                "{}: TOP_UP probe: source funded {}, target {}, cap {:?}, {} {sequential} sequential + {parallel} parallel",
                org_label(*org),
                funds.get(),
                target.get(),
                cap.map(|c| (c.period.as_str(), c.amount.get())),
                if *on_funds { "ON_FUNDS_TRANSFERRED deposits:" } else { "MANUAL triggers:" }
            ),
            Op::Hostile { kind } => write!(f, "create a hostile organization ({kind:?})"),
            Op::IssueCard { org, account, card_type } => {
                write!(f, "{}: issue a {card_type} card on {account}", org_label(*org))
            }
            Op::ChangeCard { org, card, event } => {
                write!(f, "{}: card c{card} {}", org_label(*org), event.verb())
            }
            Op::Purchase { org, owner, card, amount } => write!(
                f,
                "{}: purchase {} with card {}c{card}{}",
                org_label(*org),
                amount.get(),
                if owner == org { String::new() } else { format!("o{owner}.") },
                if owner == org { "" } else { " [another organization's card]" }
            ),
            Op::Refund { org, card, pick, amount, stray } => write!(
                f,
                "{}: refund {:?} of purchase #{pick} of card c{card}{}",
                org_label(*org),
                amount.map(Cents::get),
                if *stray { " [a refund's id or another card's purchase]" } else { "" }
            ),
            Op::ParallelPurchases { org, card, n, amount } => write!(
                f,
                "{}: {n} parallel purchases of {} with card c{card}",
                org_label(*org),
                amount.get()
            ),
        }
    }
}

/// A one-line summary of a rule draft for the log.
pub fn describe_draft(draft: &RuleDraft) -> String {
    let trigger = &draft.trigger;
    let mut text = format!("[{}", trigger.kind);
    if let Some(kind) = trigger.schedule_type {
        text.push_str(&format!(" {kind}"));
    }
    if let Some(start) = trigger.start_date {
        text.push_str(&format!(" from {}", start.format("%Y-%m-%dT%H:%M:%S%.6fZ")));
    }
    for (s, step) in draft.steps.iter().enumerate() {
        text.push_str(&format!(
            "; step {s}{}:",
            if step.conditions.is_some() { " if …" } else { "" }
        ));
        for action in &step.actions {
            text.push_str(&format!(
                " {} g{}{}{}",
                action.action_type,
                action.group_index,
                action
                    .limit
                    .map(|l| format!(" cap {} {}", l.period, l.amount.get()))
                    .unwrap_or_default(),
                if action.up_to_enabled { " up_to" } else { "" },
            ));
            if let Some(amount) = action.amount_in_cents {
                text.push_str(&format!(" {}", amount.get()));
            }
            if let Some(percentage) = action.percentage_value {
                text.push_str(&format!(" {percentage}%"));
            }
        }
    }
    text.push(']');
    text
}
