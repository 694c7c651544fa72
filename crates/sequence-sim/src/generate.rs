//! Drawing the next operation: weighted random choices over what the model says exists.
//!
//! Everything random about a run comes from one seeded generator consumed here, in step order,
//! so a seed names one sequence of operations (given the same outcomes; on PostgreSQL the
//! interleaving of concurrent operations is the database's, so a few outcomes can differ from one
//! run to the next). The draws lean towards valid input, because refusals exercise little, but
//! every kind of refusal the API knows is drawn too: transfers between two external accounts,
//! amounts out of range, deleted and foreign accounts, rules that do not validate.
//!
//! The input stays within what the API's schema accepts ("normal input"): an internal error
//! answering it is a bug. Only [`Op::Hostile`] plants data the API would never accept.

use chrono::{DateTime, TimeDelta, Utc};
use rand::Rng;
use rand::rngs::StdRng;
use sequence_app::ledger::ExternalAccount;
use sequence_core::cards::{CARD_AMOUNT_MAX, CardEvent, CardStatus, CardType};
use sequence_core::ids::AccountId;
use sequence_core::ledger::limits::TRANSFER_AMOUNT_MAX;
use sequence_core::ledger::{AccountKind, ExternalAccountType, TransferOrigin};
use sequence_core::money::Cents;
use sequence_core::rules::{
    ActionDraft, ActionType, CapPeriod, ConditionDraft, ConditionGroupDraft, Fact, Operator,
    PercentageTarget, RuleDraft, RuleStatus, ScheduleKind, StepDraft, TransferCap, TriggerDraft,
    TriggerKind, ValueFact,
};

use crate::model::{AccountModel, Model, OrgModel};
use crate::ops::{AccountRef, HostileKind, Op};

/// Most normal organizations a run creates.
const ORGS_MAX: usize = 6;
/// Most hostile organizations a run creates.
const HOSTILE_MAX: usize = 3;
/// Fewest normal organizations before anything else happens (tenant isolation needs two).
const ORGS_MIN: usize = 2;

/// `true` with probability `p`.
fn chance(rng: &mut StdRng, p: f64) -> bool {
    rng.random_bool(p)
}

/// One of `items`, uniformly.
fn pick<'a, T>(rng: &mut StdRng, items: &'a [T]) -> Option<&'a T> {
    if items.is_empty() { None } else { Some(&items[rng.random_range(0..items.len())]) }
}

/// The index drawn by weight.
fn weighted(rng: &mut StdRng, weights: &[u32]) -> usize {
    let total: u32 = weights.iter().sum();
    assert!(total > 0, "at least one operation is possible");
    let mut point = rng.random_range(0..total);
    for (index, weight) in weights.iter().enumerate() {
        if point < *weight {
            return index;
        }
        point -= weight;
    }
    unreachable!("the point falls within the total")
}

fn account_ref(model: &Model, org: usize, account: &AccountModel) -> AccountRef {
    AccountRef { id: account.id.clone(), label: model.account_label(org, &account.id) }
}

/// An amount in cents: mostly everyday sums, sometimes tiny or huge (still what the schema
/// accepts when `max` is the schema's bound).
fn amount(rng: &mut StdRng, max: i64) -> Cents {
    let cents: i64 = match rng.random_range(0..100) {
        0..5 => rng.random_range(1..100),
        5..80 => rng.random_range(100..50_000),
        80..95 => rng.random_range(50_000..5_000_000),
        _ => rng.random_range(5_000_000..=100_000_000),
    };
    Cents::new(cents.min(max))
}

/// The operation kinds and their weights.
#[derive(Clone, Copy)]
enum Kind {
    CreateOrg,
    OpenAccount,
    LinkExternal,
    Deposit,
    Transfer,
    SetThreshold,
    Decide,
    DeleteAccount,
    CreateRule,
    UpdateRule,
    RaceReplaceSwitch,
    Switch,
    DeleteRule,
    Trigger,
    ParallelTriggers,
    AdvanceClock,
    MoveClock,
    Tick,
    ReplicaTicks,
    Concurrent,
    Crash,
    Transient,
    TopUpProbe,
    Hostile,
    IssueCard,
    ChangeCard,
    Purchase,
    Refund,
    ParallelPurchases,
}

/// Draws the next operation.
/// `nows[i]` is organization `i`'s time now.
pub fn next_op(rng: &mut StdRng, model: &Model, nows: &[DateTime<Utc>]) -> Op {
    let normal = model.normal_orgs();
    if normal.len() < ORGS_MIN {
        return Op::CreateOrg;
    }
    let hostile = model.orgs.len() - normal.len();
    let table: &[(Kind, u32)] = &[
        (Kind::CreateOrg, if normal.len() < ORGS_MAX { 2 } else { 0 }),
        (Kind::OpenAccount, 6),
        (Kind::LinkExternal, 4),
        (Kind::Deposit, 14),
        (Kind::Transfer, 14),
        (Kind::SetThreshold, 2),
        (Kind::Decide, 5),
        (Kind::DeleteAccount, 3),
        (Kind::CreateRule, 9),
        (Kind::UpdateRule, 3),
        (Kind::RaceReplaceSwitch, 2),
        (Kind::Switch, 5),
        (Kind::DeleteRule, 2),
        (Kind::Trigger, 9),
        (Kind::ParallelTriggers, 3),
        (Kind::AdvanceClock, 5),
        (Kind::MoveClock, 4),
        (Kind::Tick, 6),
        (Kind::ReplicaTicks, 3),
        (Kind::Concurrent, 4),
        (Kind::Crash, 3),
        (Kind::Transient, 2),
        (Kind::TopUpProbe, 2),
        (Kind::Hostile, if hostile < HOSTILE_MAX { 1 } else { 0 }),
        (Kind::IssueCard, 3),
        (Kind::ChangeCard, 4),
        (Kind::Purchase, 9),
        (Kind::Refund, 4),
        (Kind::ParallelPurchases, 2),
    ];
    let weights: Vec<u32> = table.iter().map(|(_, w)| *w).collect();
    let kind = table[weighted(rng, &weights)].0;
    let org = *pick(rng, &normal).expect("at least two normal organizations");
    let now = nows[org];
    match kind {
        Kind::CreateOrg => Op::CreateOrg,
        Kind::MoveClock => move_clock(rng),
        Kind::Tick => Op::Tick,
        Kind::ReplicaTicks => Op::ReplicaTicks,
        Kind::Hostile => {
            let kinds = [
                HostileKind::ReportedBalanceOverflow,
                HostileKind::CorruptClock,
                HostileKind::CorruptRule,
            ];
            Op::Hostile { kind: *pick(rng, &kinds).expect("three kinds") }
        }
        Kind::Concurrent => {
            let count = rng.random_range(2..=5);
            let ops = (0..count)
                .map(|_| {
                    let org = *pick(rng, &normal).expect("normal organizations");
                    match rng.random_range(0..6) {
                        0 => deposit(rng, model, org, &normal),
                        1 => transfer(rng, model, org, &normal),
                        2 => trigger(rng, model, org, &normal),
                        3 => purchase(rng, model, org, &normal),
                        4 => refund(rng, model, org, &normal),
                        _ => decide(rng, org),
                    }
                })
                // Fallbacks (an account to open first) change the model: not run at once.
                .filter(|op| {
                    matches!(
                        op,
                        Op::Deposit { .. }
                            | Op::Transfer { .. }
                            | Op::Trigger { .. }
                            | Op::Decide { .. }
                            | Op::Purchase { .. }
                            | Op::Refund { .. }
                    )
                })
                .collect();
            let ticks = match rng.random_range(0..4) {
                0 | 1 => 0,
                2 => 1,
                _ => 2,
            };
            Op::Concurrent { ops, ticks }
        }
        Kind::Crash => {
            Op::Crash { inner: Box::new(single_use_case(rng, model, org, &normal, now)) }
        }
        Kind::Transient => Op::Transient {
            inner: Box::new(single_use_case(rng, model, org, &normal, now)),
            failures: if chance(rng, 0.8) { 1 } else { rng.random_range(2..=4) },
        },
        Kind::TopUpProbe => top_up_probe(rng, org),
        other => one(rng, model, org, &normal, now, other),
    }
}

/// An operation that is one use case (for crash and collision injection).
fn single_use_case(
    rng: &mut StdRng,
    model: &Model,
    org: usize,
    normal: &[usize],
    now: DateTime<Utc>,
) -> Op {
    let kinds = [
        Kind::OpenAccount,
        Kind::LinkExternal,
        Kind::Deposit,
        Kind::Deposit,
        Kind::Transfer,
        Kind::Transfer,
        Kind::SetThreshold,
        Kind::Decide,
        Kind::DeleteAccount,
        Kind::CreateRule,
        Kind::UpdateRule,
        Kind::Switch,
        Kind::DeleteRule,
        Kind::Trigger,
        Kind::Trigger,
        Kind::AdvanceClock,
        Kind::IssueCard,
        Kind::ChangeCard,
        Kind::Purchase,
        Kind::Purchase,
        Kind::Refund,
    ];
    for _ in 0..8 {
        let kind = *pick(rng, &kinds).expect("kinds");
        match one(rng, model, org, normal, now, kind) {
            // Creating and enabling are two use cases; inject into the creation alone.
            Op::CreateRule { org, draft, .. } => {
                return Op::CreateRule { org, draft, enable: false };
            }
            Op::UpdateRule { org, rule, draft, .. } => {
                return Op::UpdateRule { org, rule, draft, enable: false };
            }
            // A fallback to a worker pass (no rule yet): draw again.
            Op::Tick => {}
            op => return op,
        }
    }
    Op::OpenAccount { org, kind: AccountKind::Pod }
}

fn one(
    rng: &mut StdRng,
    model: &Model,
    org: usize,
    normal: &[usize],
    now: DateTime<Utc>,
    kind: Kind,
) -> Op {
    let o = &model.orgs[org];
    match kind {
        Kind::OpenAccount => {
            let kind = if chance(rng, 0.4) { AccountKind::IncomeSource } else { AccountKind::Pod };
            Op::OpenAccount { org, kind }
        }
        Kind::LinkExternal => Op::LinkExternal { org, input: external_account(rng, now) },
        Kind::Deposit => deposit(rng, model, org, normal),
        Kind::Transfer => transfer(rng, model, org, normal),
        Kind::SetThreshold => {
            let threshold = if chance(rng, 0.3) {
                None
            } else {
                Some(Cents::new(rng.random_range(100..=60_000)))
            };
            Op::SetThreshold { org, threshold }
        }
        Kind::Decide => decide(rng, org),
        Kind::DeleteAccount => {
            let candidates: Vec<&AccountModel> =
                o.accounts.iter().filter(|a| !a.deleted || chance(rng, 0.1)).collect();
            match pick(rng, &candidates) {
                Some(account) => {
                    Op::DeleteAccount { org, account: account_ref(model, org, account) }
                }
                None => Op::OpenAccount { org, kind: AccountKind::Pod },
            }
        }
        Kind::CreateRule => {
            let live = o.rules.iter().filter(|r| !r.deleted).count();
            if live >= 10 {
                return delete_rule(rng, model, org);
            }
            let nickname = format!("r{}v{}", o.rules.len(), o.versions + 1);
            let draft = rule_draft(rng, o, nickname, now);
            Op::CreateRule { org, draft: Box::new(draft), enable: chance(rng, 0.85) }
        }
        Kind::UpdateRule => {
            let candidates: Vec<usize> =
                (0..o.rules.len()).filter(|&r| !o.rules[r].probe && !o.rules[r].deleted).collect();
            match pick(rng, &candidates) {
                Some(&rule) => {
                    let nickname = format!("r{rule}v{}", o.versions + 1);
                    let draft = rule_draft(rng, o, nickname, now);
                    Op::UpdateRule { org, rule, draft: Box::new(draft), enable: chance(rng, 0.7) }
                }
                None => Op::Tick,
            }
        }
        Kind::RaceReplaceSwitch => {
            let candidates: Vec<usize> =
                (0..o.rules.len()).filter(|&r| !o.rules[r].probe && !o.rules[r].deleted).collect();
            match pick(rng, &candidates) {
                Some(&rule) => {
                    let nickname = format!("r{rule}v{}", o.versions + 1);
                    let draft = rule_draft(rng, o, nickname, now);
                    // A switch that writes (to the other status) is the one that can be lost.
                    let enable = o.rules[rule].enabled != chance(rng, 0.85);
                    Op::RaceReplaceSwitch { org, rule, draft: Box::new(draft), enable }
                }
                None => Op::Tick,
            }
        }
        Kind::Switch => match any_rule(rng, model, org) {
            Some(rule) => {
                let enable = !o.rules[rule].enabled || chance(rng, 0.2);
                Op::Switch { org, rule, enable }
            }
            None => Op::Tick,
        },
        Kind::DeleteRule => delete_rule(rng, model, org),
        Kind::Trigger => trigger(rng, model, org, normal),
        Kind::ParallelTriggers => {
            // Prefer enabled rules with periodic caps: the races caps must survive.
            let capped: Vec<usize> = (0..o.rules.len())
                .filter(|&r| o.rules[r].enabled && !o.rules[r].deleted && o.rules[r].capped)
                .collect();
            let enabled: Vec<usize> =
                (0..o.rules.len()).filter(|&r| o.rules[r].enabled && !o.rules[r].deleted).collect();
            let rule = if !capped.is_empty() && chance(rng, 0.7) {
                pick(rng, &capped).copied()
            } else {
                pick(rng, &enabled).copied()
            };
            match rule {
                Some(rule) => Op::ParallelTriggers {
                    org,
                    rule,
                    n: rng.random_range(2..=6),
                    amount: trigger_amount(rng),
                },
                None => Op::Tick,
            }
        }
        Kind::IssueCard => issue_card(rng, model, org),
        Kind::ChangeCard => change_card(rng, model, org),
        Kind::Purchase => purchase(rng, model, org, normal),
        Kind::Refund => refund(rng, model, org, normal),
        Kind::ParallelPurchases => {
            let cards = &o.cards;
            if cards.is_empty() {
                return issue_card(rng, model, org);
            }
            // Mostly an active card: the race over the pod's money is the point.
            let active: Vec<usize> =
                (0..cards.len()).filter(|&c| cards[c].status == CardStatus::Active).collect();
            let card = if !active.is_empty() && chance(rng, 0.85) {
                *pick(rng, &active).expect("an active card")
            } else {
                rng.random_range(0..cards.len())
            };
            Op::ParallelPurchases {
                org,
                card,
                n: rng.random_range(2..=8),
                amount: Cents::new(rng.random_range(1..=60_000)),
            }
        }
        Kind::AdvanceClock => {
            let seconds = match rng.random_range(0..100) {
                0..55 => rng.random_range(1..=120),
                55..85 => rng.random_range(121..=5 * 86_400),
                85..97 => rng.random_range(5 * 86_400..=60 * 86_400),
                _ => rng.random_range(60 * 86_400..=31_622_400),
            };
            Op::AdvanceClock { org, seconds }
        }
        _ => Op::Tick,
    }
}

/// A card issued mostly on a live pod; now and then on an income source, an external account or a
/// deleted pod (refused).
fn issue_card(rng: &mut StdRng, model: &Model, org: usize) -> Op {
    let o = &model.orgs[org];
    let card_type = if chance(rng, 0.5) { CardType::Virtual } else { CardType::Physical };
    let pool: Vec<&AccountModel> = if chance(rng, 0.08) {
        o.accounts
            .iter()
            .filter(|a| !a.probe && (a.deleted || a.kind != AccountKind::Pod))
            .collect()
    } else {
        o.live(|k| k == AccountKind::Pod)
    };
    match pick(rng, &pool) {
        Some(account) => {
            Op::IssueCard { org, account: account_ref(model, org, account), card_type }
        }
        None => Op::OpenAccount { org, kind: AccountKind::Pod },
    }
}

/// A status change, mostly one the card's status allows.
fn change_card(rng: &mut StdRng, model: &Model, org: usize) -> Op {
    let cards = &model.orgs[org].cards;
    if cards.is_empty() {
        return issue_card(rng, model, org);
    }
    let card = rng.random_range(0..cards.len());
    let sensible = match cards[card].status {
        CardStatus::Inactive => Some(CardEvent::Activate),
        CardStatus::Active => Some(CardEvent::Freeze),
        CardStatus::Frozen => Some(CardEvent::Unfreeze),
        CardStatus::Lost | CardStatus::Stolen => None,
    };
    let event = match sensible {
        Some(event) if chance(rng, 0.6) => event,
        _ => match rng.random_range(0..100) {
            0..25 => CardEvent::Activate,
            25..50 => CardEvent::Freeze,
            50..80 => CardEvent::Unfreeze,
            80..92 => CardEvent::ReportLost,
            _ => CardEvent::ReportStolen,
        },
    };
    Op::ChangeCard { org, card, event }
}

/// A purchase with one of the organization's cards (now and then another organization's, which
/// must be refused), of an everyday amount, sometimes beyond what the pod holds or the schema's
/// bound.
fn purchase(rng: &mut StdRng, model: &Model, org: usize, normal: &[usize]) -> Op {
    let amount = match rng.random_range(0..100) {
        0 => Cents::new(rng.random_range(CARD_AMOUNT_MAX.get() + 1..=i64::MAX)),
        1..3 => CARD_AMOUNT_MAX,
        3..50 => Cents::new(rng.random_range(1..=5_000)),
        _ => amount(rng, 500_000),
    };
    if chance(rng, 0.03) {
        let other = *pick(rng, normal).expect("organizations");
        if other != org && !model.orgs[other].cards.is_empty() {
            let card = rng.random_range(0..model.orgs[other].cards.len());
            return Op::Purchase { org, owner: other, card, amount };
        }
    }
    let cards = &model.orgs[org].cards;
    if cards.is_empty() {
        return issue_card(rng, model, org);
    }
    Op::Purchase { org, owner: org, card: rng.random_range(0..cards.len()), amount }
}

/// A refund of one of a card's purchases: all that is left, part of it, or more than is left.
fn refund(rng: &mut StdRng, model: &Model, org: usize, normal: &[usize]) -> Op {
    let cards = &model.orgs[org].cards;
    if cards.is_empty() {
        return purchase(rng, model, org, normal);
    }
    let amount = match rng.random_range(0..100) {
        0..40 => None,
        40..85 => Some(Cents::new(rng.random_range(1..=5_000))),
        85..99 => Some(amount(rng, 2_000_000)),
        _ => Some(Cents::new(rng.random_range(CARD_AMOUNT_MAX.get() + 1..=i64::MAX))),
    };
    Op::Refund {
        org,
        card: rng.random_range(0..cards.len()),
        pick: rng.random_range(0..16),
        amount,
        stray: chance(rng, 0.05),
    }
}

fn move_clock(rng: &mut StdRng) -> Op {
    let by = match rng.random_range(0..10) {
        0..3 => TimeDelta::microseconds(rng.random_range(1..1_000)),
        3..7 => TimeDelta::milliseconds(rng.random_range(1..60_000)),
        7..9 => TimeDelta::seconds(rng.random_range(60..3 * 86_400)),
        _ => TimeDelta::seconds(rng.random_range(3 * 86_400..12 * 86_400)),
    };
    Op::MoveClock { by }
}

fn decide(rng: &mut StdRng, org: usize) -> Op {
    Op::Decide {
        org,
        pick: rng.random_range(0..8),
        approve: chance(rng, 0.6),
        any_status: chance(rng, 0.1),
    }
}

fn any_rule(rng: &mut StdRng, model: &Model, org: usize) -> Option<usize> {
    let rules = &model.orgs[org].rules;
    let live: Vec<usize> = (0..rules.len()).filter(|&r| !rules[r].deleted).collect();
    if live.is_empty() || chance(rng, 0.05) {
        // Now and then a deleted rule (410) or none.
        return if rules.is_empty() { None } else { Some(rng.random_range(0..rules.len())) };
    }
    pick(rng, &live).copied()
}

fn delete_rule(rng: &mut StdRng, model: &Model, org: usize) -> Op {
    match any_rule(rng, model, org) {
        Some(rule) => Op::DeleteRule { org, rule },
        None => Op::Tick,
    }
}

fn trigger_amount(rng: &mut StdRng) -> Option<Cents> {
    match rng.random_range(0..10) {
        0..3 => None,
        3..9 => Some(amount(rng, 2_000_000)),
        // The schema sets no maximum.
        _ => Some(Cents::new(if chance(rng, 0.5) { i64::MAX } else { 0 })),
    }
}

fn trigger(rng: &mut StdRng, model: &Model, org: usize, normal: &[usize]) -> Op {
    if chance(rng, 0.03) {
        // Another organization's rule: must be "not found".
        let other = *pick(rng, normal).expect("organizations");
        if other != org && !model.orgs[other].rules.is_empty() {
            let rule = rng.random_range(0..model.orgs[other].rules.len());
            return Op::Trigger {
                org,
                rule,
                amount: None,
                simulation: false,
                foreign: Some(other),
            };
        }
    }
    let rules = &model.orgs[org].rules;
    let enabled: Vec<usize> =
        (0..rules.len()).filter(|&r| rules[r].enabled && !rules[r].deleted).collect();
    let rule = if !enabled.is_empty() && chance(rng, 0.85) {
        pick(rng, &enabled).copied()
    } else {
        any_rule(rng, model, org)
    };
    match rule {
        Some(rule) => Op::Trigger {
            org,
            rule,
            amount: trigger_amount(rng),
            simulation: chance(rng, 0.15),
            foreign: None,
        },
        None => deposit(rng, model, org, normal),
    }
}

/// A foreign account (another organization's), for isolation probes.
fn foreign_account(
    rng: &mut StdRng,
    model: &Model,
    org: usize,
    normal: &[usize],
) -> Option<AccountRef> {
    let other = *pick(rng, normal)?;
    if other == org {
        return None;
    }
    let accounts: Vec<&AccountModel> = model.orgs[other].accounts.iter().collect();
    pick(rng, &accounts).map(|a| account_ref(model, other, a))
}

fn deposit(rng: &mut StdRng, model: &Model, org: usize, normal: &[usize]) -> Op {
    let o = &model.orgs[org];
    let origin = *pick(
        rng,
        &[TransferOrigin::Paycheck, TransferOrigin::CheckDeposit, TransferOrigin::Cashback],
    )
    .expect("origins");
    let amount = match rng.random_range(0..100) {
        0..2 => Cents::new(rng.random_range(TRANSFER_AMOUNT_MAX.get() + 1..=i64::MAX)),
        2..4 => TRANSFER_AMOUNT_MAX,
        _ => Cents::new(rng.random_range(1..=300_000)),
    };
    if chance(rng, 0.03)
        && let Some(account) = foreign_account(rng, model, org, normal)
    {
        return Op::Deposit { org, account, amount, origin, foreign: true };
    }
    let roll = rng.random_range(0..100);
    let pool: Vec<&AccountModel> = if roll < 6 {
        // Externals, deleted accounts, probe pods excluded: refusals.
        o.accounts.iter().filter(|a| !a.probe && (a.deleted || !a.kind.is_internal())).collect()
    } else {
        o.live(AccountKind::is_internal)
    };
    match pick(rng, &pool) {
        Some(account) => Op::Deposit {
            org,
            account: account_ref(model, org, account),
            amount,
            origin,
            foreign: false,
        },
        None => Op::OpenAccount { org, kind: AccountKind::IncomeSource },
    }
}

fn transfer(rng: &mut StdRng, model: &Model, org: usize, normal: &[usize]) -> Op {
    let o = &model.orgs[org];
    let simulation = chance(rng, 0.1);
    let sources = o.live(|k| k.is_internal() || k.can_be_source());
    let Some(source) = pick(rng, &sources) else {
        return Op::OpenAccount { org, kind: AccountKind::Pod };
    };
    let destinations: Vec<&AccountModel> =
        o.live(AccountKind::can_be_destination).into_iter().filter(|a| a.id != source.id).collect();
    let Some(destination) = pick(rng, &destinations) else {
        return Op::OpenAccount { org, kind: AccountKind::Pod };
    };
    let mut source = account_ref(model, org, source);
    let mut destination = account_ref(model, org, destination);
    let mut amount = amount(rng, 2_000_000);
    let mut foreign = false;
    match rng.random_range(0..100) {
        // Refusals: too large, below the minimum, between externals, same account, deleted or
        // impossible sides, another organization's account.
        0..3 => amount = Cents::new(rng.random_range(TRANSFER_AMOUNT_MAX.get() + 1..=i64::MAX)),
        3..5 => amount = Cents::new(rng.random_range(1..100)),
        5..9 => {
            let externals = o.live(|k| !k.is_internal());
            if let (Some(a), Some(b)) = (pick(rng, &externals), pick(rng, &externals)) {
                source = account_ref(model, org, a);
                destination = account_ref(model, org, b);
            }
        }
        9..11 => destination = source.clone(),
        11..15 => {
            let odd: Vec<&AccountModel> = o
                .accounts
                .iter()
                .filter(|a| {
                    a.deleted
                        || a.kind == AccountKind::IncomeSource
                        || a.kind == AccountKind::External(ExternalAccountType::Liability)
                })
                .filter(|a| !a.probe)
                .collect();
            if let Some(a) = pick(rng, &odd) {
                if chance(rng, 0.5) {
                    source = account_ref(model, org, a);
                } else {
                    destination = account_ref(model, org, a);
                }
            }
        }
        15..17 => {
            if let Some(account) = foreign_account(rng, model, org, normal) {
                foreign = true;
                if chance(rng, 0.5) { source = account } else { destination = account }
            }
        }
        _ => {}
    }
    Op::Transfer { org, source, destination, amount, simulation, foreign }
}

fn external_account(rng: &mut StdRng, now: DateTime<Utc>) -> ExternalAccount {
    let kind = *pick(
        rng,
        &[
            ExternalAccountType::Depository,
            ExternalAccountType::Investment,
            ExternalAccountType::Liability,
        ],
    )
    .expect("types");
    let big = 100_000_000_000_000; // the schema's bound on reported balances
    let figure = |rng: &mut StdRng| match rng.random_range(0..20) {
        0 => Cents::ZERO,
        1 => Cents::new(big),
        _ => Cents::new(rng.random_range(0..2_000_000)),
    };
    let mut input = ExternalAccount {
        name: "Linked".to_owned(),
        institution_name: "Bank".to_owned(),
        kind,
        balance: figure(rng),
        last_statement_balance: None,
        next_payment_minimum: None,
        next_payment_due_date: None,
    };
    let liability = kind == ExternalAccountType::Liability;
    // Liability fields on other types are refused (400), now and then.
    if liability || chance(rng, 0.03) {
        if chance(rng, 0.75) {
            input.last_statement_balance = Some(figure(rng));
        }
        if chance(rng, 0.75) {
            input.next_payment_minimum = Some(Cents::new(rng.random_range(0..50_000)));
        }
        if chance(rng, 0.6) {
            let days = rng.random_range(-10..60);
            input.next_payment_due_date = Some(now.date_naive() + TimeDelta::days(days));
        }
    }
    input
}

fn top_up_probe(rng: &mut StdRng, org: usize) -> Op {
    let funds = Cents::new(rng.random_range(10_000..=500_000));
    let target = Cents::new(rng.random_range(100..=funds.get() / 3));
    let cap = chance(rng, 0.3).then(|| TransferCap {
        period: *pick(rng, CapPeriod::ALL).expect("periods"),
        amount: Cents::new(rng.random_range(0..=target.get() * 2)),
    });
    Op::TopUpProbe {
        org,
        funds,
        target,
        cap,
        on_funds: chance(rng, 0.3),
        sequential: rng.random_range(1..=3),
        parallel: rng.random_range(0..=6),
    }
}

/// A random rule for `org`, mostly valid.
pub fn rule_draft(
    rng: &mut StdRng,
    org: &OrgModel,
    nickname: String,
    now: DateTime<Utc>,
) -> RuleDraft {
    let any_account = |rng: &mut StdRng| -> Option<AccountId> {
        // Now and then a deleted account (refused as unknown).
        let pool: Vec<&AccountModel> = if chance(rng, 0.03) {
            org.accounts.iter().filter(|a| !a.probe).collect()
        } else {
            org.live(|_| true)
        };
        pick(rng, &pool).map(|a| a.id.clone())
    };
    let kind =
        *pick(rng, &[TriggerKind::OnFundsTransferred, TriggerKind::Scheduled, TriggerKind::Manual])
            .expect("kinds");
    let mut trigger =
        TriggerDraft { kind, account_id: None, schedule_type: None, start_date: None };
    match kind {
        TriggerKind::OnFundsTransferred => {
            let watched = org.watched();
            let free: Vec<&AccountModel> = org
                .live(AccountKind::is_internal)
                .into_iter()
                .filter(|a| !watched.contains(&a.id) || chance(rng, 0.05))
                .collect();
            trigger.account_id = pick(rng, &free).map(|a| a.id.clone());
        }
        TriggerKind::Scheduled => {
            trigger.schedule_type = Some(*pick(rng, ScheduleKind::ALL).expect("kinds"));
            trigger.start_date = Some(start_date(rng, now));
            if chance(rng, 0.4) {
                trigger.account_id = any_account(rng);
            }
        }
        TriggerKind::Manual => {
            if chance(rng, 0.5) {
                trigger.account_id = any_account(rng);
            }
        }
    }
    let steps = (0..rng.random_range(1..=3))
        .map(|_| step(rng, org, trigger.account_id.is_some()))
        .collect();
    RuleDraft { nickname, description: None, status: RuleStatus::Disabled, trigger, steps }
}

/// Start dates that probe the schedule's edges: sub-millisecond offsets, the past, the far
/// future.
fn start_date(rng: &mut StdRng, now: DateTime<Utc>) -> DateTime<Utc> {
    let offset = match rng.random_range(0..100) {
        0..15 => TimeDelta::microseconds(500),
        15..25 => TimeDelta::microseconds(rng.random_range(1..1_000_000)),
        25..30 => TimeDelta::zero(),
        30..45 => -TimeDelta::seconds(rng.random_range(1..40 * 86_400)),
        45..75 => TimeDelta::seconds(rng.random_range(1..3_600)),
        75..92 => TimeDelta::seconds(rng.random_range(3_600..60 * 86_400)),
        _ => TimeDelta::days(rng.random_range(20 * 365..80 * 365)),
    };
    now + offset
        + TimeDelta::microseconds(if chance(rng, 0.3) { rng.random_range(0..1000) } else { 0 })
}

fn step(rng: &mut StdRng, org: &OrgModel, has_trigger_account: bool) -> StepDraft {
    let conditions = chance(rng, 0.45).then(|| condition_group(rng, org, has_trigger_account, 1));
    // Each limit group's cap, shared by its actions (a mismatch is refused, now and then).
    let caps: Vec<Option<TransferCap>> = (0..3)
        .map(|_| {
            chance(rng, 0.5).then(|| TransferCap {
                period: *pick(rng, CapPeriod::ALL).expect("periods"),
                amount: match rng.random_range(0..20) {
                    0 => Cents::ZERO,
                    1 => Cents::new(i64::MAX),
                    _ => Cents::new(rng.random_range(100..30_000)),
                },
            })
        })
        .collect();
    let actions = (0..rng.random_range(1..=3))
        .map(|_| {
            let group = rng.random_range(0..3_u32);
            let mut limit = if chance(rng, 0.75) { caps[group as usize] } else { None };
            if chance(rng, 0.02) {
                limit = Some(TransferCap { period: CapPeriod::PerWeek, amount: Cents::new(777) });
            }
            action(rng, org, group, limit)
        })
        .collect();
    StepDraft { conditions, actions }
}

fn action(
    rng: &mut StdRng,
    org: &OrgModel,
    group_index: u32,
    limit: Option<TransferCap>,
) -> ActionDraft {
    let liabilities = org.live(|k| k == AccountKind::External(ExternalAccountType::Liability));
    let mut action_type = *pick(rng, ActionType::ALL).expect("types");
    if action_type.pays_liability() && liabilities.is_empty() {
        action_type = ActionType::Fixed;
    }
    let sources = org.live(AccountKind::can_be_source);
    let destinations: Vec<&AccountModel> = if action_type.pays_liability() {
        liabilities
    } else {
        org.live(AccountKind::can_be_destination)
    };
    // With nothing to choose from, an id that does not exist (refused as unknown).
    let placeholder = AccountId::from_raw("acc_none");
    let source = pick(rng, &sources).map_or(placeholder.clone(), |a| a.id.clone());
    let others: Vec<&AccountModel> =
        destinations.into_iter().filter(|a| a.id != source || chance(rng, 0.02)).collect();
    let destination = pick(rng, &others).map_or(placeholder, |a| a.id.clone());
    let cents = |rng: &mut StdRng, low: i64, high: i64| -> Cents {
        match rng.random_range(0..40) {
            0 => Cents::new(i64::MAX),
            1 => Cents::new(1),
            _ => Cents::new(rng.random_range(low..high)),
        }
    };
    let percentage = |rng: &mut StdRng| -> f64 {
        match rng.random_range(0..10) {
            0 => 100.0,
            1 => 0.0,
            _ => f64::from(rng.random_range(1..10_000_u32)) / 100.0,
        }
    };
    let mut draft = ActionDraft {
        action_type,
        source_account_id: source,
        destination_account_id: destination,
        group_index,
        up_to_enabled: chance(rng, 0.5),
        limit,
        amount_in_cents: None,
        percentage_value: None,
        percentage_target: None,
    };
    match action_type {
        ActionType::Fixed => draft.amount_in_cents = Some(cents(rng, 50, 60_000)),
        ActionType::TopUp => draft.amount_in_cents = Some(cents(rng, 100, 200_000)),
        ActionType::RoundDown => draft.amount_in_cents = Some(cents(rng, 100, 20_000)),
        ActionType::Percentage => {
            draft.percentage_value = Some(percentage(rng));
            draft.percentage_target = match rng.random_range(0..3) {
                0 => None,
                1 => Some(PercentageTarget::IncomingAmount),
                _ => Some(PercentageTarget::SourceAccount),
            };
        }
        ActionType::PercentageLiabilityBalance => draft.percentage_value = Some(percentage(rng)),
        ActionType::NextPaymentMinimum
        | ActionType::TotalAmountDue
        | ActionType::LastStatementBalance => {}
    }
    draft
}

fn condition_group(
    rng: &mut StdRng,
    org: &OrgModel,
    has_trigger_account: bool,
    depth: usize,
) -> ConditionGroupDraft {
    if depth >= 3 || chance(rng, 0.6) {
        return ConditionGroupDraft {
            condition: Some(condition(rng, org, has_trigger_account)),
            ..ConditionGroupDraft::default()
        };
    }
    let members = (0..rng.random_range(1..=3))
        .map(|_| condition_group(rng, org, has_trigger_account, depth + 1))
        .collect();
    if chance(rng, 0.5) {
        ConditionGroupDraft { any: Some(members), ..ConditionGroupDraft::default() }
    } else {
        ConditionGroupDraft { all: Some(members), ..ConditionGroupDraft::default() }
    }
}

fn condition(rng: &mut StdRng, org: &OrgModel, has_trigger_account: bool) -> ConditionDraft {
    let fact = *pick(rng, Fact::ALL).expect("facts");
    let operator = *pick(rng, Operator::ALL).expect("operators");
    let liabilities = org.live(|k| k == AccountKind::External(ExternalAccountType::Liability));
    let mut draft = ConditionDraft {
        fact,
        operator,
        value: None,
        value_fact: None,
        account_id: None,
        value_account_id: None,
    };
    let liability_operand = |rng: &mut StdRng, draft: &mut ConditionDraft| {
        if let Some(liability) = pick(rng, &liabilities) {
            draft.value_fact = Some(if chance(rng, 0.5) {
                ValueFact::NextPaymentMinimumAmount
            } else {
                ValueFact::LastStatementBalance
            });
            draft.value_account_id = Some(liability.id.clone());
            true
        } else {
            false
        }
    };
    match fact {
        Fact::TransferAmount => {
            if !(chance(rng, 0.2) && liability_operand(rng, &mut draft)) {
                draft.value = Some(rng.random_range(0..300_000));
            }
        }
        Fact::Balance => {
            if !has_trigger_account || chance(rng, 0.5) {
                draft.account_id = pick(rng, &org.live(|_| true)).map(|a| a.id.clone());
            }
            if !(chance(rng, 0.2) && liability_operand(rng, &mut draft)) {
                draft.value = Some(rng.random_range(0..500_000));
            }
        }
        Fact::Date => {
            if chance(rng, 0.3) {
                draft.value_fact = Some(ValueFact::LastDayOfMonth);
            } else {
                draft.value = Some(rng.random_range(1..=31));
            }
        }
    }
    draft
}
