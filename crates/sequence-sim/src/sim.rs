//! The runner: draws each step's operation, carries it out through the use cases (with the
//! failure injection it asks for), keeps the model in step with what committed, and has the
//! checker audit what the step can have changed.
//!
//! Every use case runs through [`Runner::call`], which adds what a client never sees but the
//! simulator must: a timeout (an endless loop is a violation, not a hang), panic catching, and
//! the injected failures — a crash before commit (the transaction is dropped) or collisions (the
//! use case ran, then its transaction is reported as colliding so the runner rolls it back and
//! runs it again).

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use futures::FutureExt;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use sequence_app::cards::{NewCard, Purchase, Refund};
use sequence_app::ledger::{Deposit, ExternalAccount};
use sequence_app::rules::Trigger;
use sequence_app::transfers::TransferRequest;
use sequence_app::worker::Pass;
use sequence_app::{
    App, AppError, Resource, accounts, at_stored_precision, ledger, rules, sandbox,
};
use sequence_app::{transfers, unit_of_work, worker};
use sequence_core::cards::{CardEvent, CardStatus, PurchaseDecline, card_transition, check_amount};
use sequence_core::clock::{CLOCK_OFFSET_SECONDS_MAX, Clock};
use sequence_core::ids::{AccountId, CardId, OrgId, TransferId};
use sequence_core::ledger::{AccountKind, ExternalAccountType, TransferEvent, TransferOrigin};
use sequence_core::money::Cents;
use sequence_core::rules::{
    ActionDraft, ActionType, RuleDraft, RuleStatus, Schedule, ScheduleKind, StepDraft, TransferCap,
    TriggerDraft, TriggerKind,
};
use sequence_store::orgs::{self, Organization};
use sequence_store::{AnyConnection, Store, StoreError, Tx, to_millis};
use sqlx::Row;

use crate::check::{Checker, Processed, invariant};
use crate::clock::SimClock;
use crate::db::SimDatabase;
use crate::model::{
    AccountModel, CardModel, Hostility, Model, OrgModel, Probe, RuleModel, Window, caps_of,
};
use crate::ops::{AccountRef, HostileKind, Op};
use crate::{Config, Report, Tally, Violation, generate, last_panic};

/// How a use case is run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Committed by the transaction runner.
    Normal,
    /// Run, then the transaction is dropped (a crash before commit).
    Crash,
    /// Run, then reported as colliding this many times before it may commit.
    Transient(u32),
}

/// Which organizations a step may have changed.
#[derive(Debug, Default)]
struct Effects {
    /// What happened, for the log.
    outcome: String,
    /// Organizations it changed.
    touched: BTreeSet<usize>,
    /// All of them (a worker pass).
    all: bool,
    /// Organizations whose due work was processed.
    processed: Vec<Processed>,
    /// Rules may have run (so caps may have been used).
    rules_ran: bool,
    /// Cards may have changed (so the card audits run).
    cards_ran: bool,
}

/// Whether `op` can make rule transfers (a rule run): triggers, deposits (`ON_FUNDS_TRANSFERRED`),
/// and everything that settles transfers or runs schedules.
fn may_run_rules(op: &Op) -> bool {
    match op {
        Op::Deposit { .. }
        | Op::Trigger { .. }
        | Op::ParallelTriggers { .. }
        | Op::AdvanceClock { .. }
        | Op::Tick
        | Op::ReplicaTicks
        | Op::Concurrent { .. }
        | Op::TopUpProbe { .. }
        | Op::Hostile { .. } => true,
        Op::Transient { inner, .. } => may_run_rules(inner),
        Op::CreateOrg
        | Op::OpenAccount { .. }
        | Op::LinkExternal { .. }
        | Op::IssueCard { .. }
        | Op::ChangeCard { .. }
        | Op::Purchase { .. }
        | Op::Refund { .. }
        | Op::ParallelPurchases { .. }
        | Op::Transfer { .. }
        | Op::SetThreshold { .. }
        | Op::Decide { .. }
        | Op::DeleteAccount { .. }
        | Op::CreateRule { .. }
        | Op::UpdateRule { .. }
        | Op::Switch { .. }
        | Op::RaceReplaceSwitch { .. }
        | Op::DeleteRule { .. }
        | Op::MoveClock { .. }
        | Op::Crash { .. } => false,
    }
}

/// Whether `op` can issue, change or use a card.
fn may_touch_cards(op: &Op) -> bool {
    match op {
        Op::IssueCard { .. }
        | Op::ChangeCard { .. }
        | Op::Purchase { .. }
        | Op::Refund { .. }
        | Op::ParallelPurchases { .. } => true,
        Op::Concurrent { ops, .. } => ops.iter().any(may_touch_cards),
        Op::Crash { inner } | Op::Transient { inner, .. } => may_touch_cards(inner),
        _ => false,
    }
}

/// What the model predicts a purchase or refund answers (made from the database read just before
/// it, with nothing else running).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// It happens.
    Accept,
    /// The amount is outside the schema's bounds.
    Invalid,
    /// The card's pod was deleted.
    PodDeleted,
    /// The refund names no purchase of the card.
    NoPurchase,
    /// The card is not active.
    NotActive,
    /// The pod's available balance is short.
    Short,
    /// The refund exceeds what is left of the purchase.
    Exceeds,
}

impl Expect {
    /// Whether `answer` is what this predicts.
    fn matches<T>(self, answer: &Answer<T>) -> bool {
        use AppError::{NotFound, PurchaseDeclined, RefundExceedsPurchase};
        matches!(
            (self, answer),
            (Expect::Accept, Ok(_))
                | (Expect::Invalid, Err(AppError::Invalid(_)))
                | (Expect::PodDeleted, Err(NotFound { resource: Resource::Account, .. }))
                | (Expect::NoPurchase, Err(NotFound { resource: Resource::CardPurchase, .. }))
                | (Expect::NotActive, Err(PurchaseDeclined(PurchaseDecline::CardNotActive { .. })))
                | (Expect::Short, Err(PurchaseDeclined(PurchaseDecline::InsufficientFunds { .. })))
                | (Expect::Exceeds, Err(RefundExceedsPurchase(_)))
        )
    }
}

/// What the checker reads about a card before using it: its status, and its pod's available
/// balance (`None`: the pod is deleted).
struct CardState {
    status: CardStatus,
    available: Option<i64>,
}

impl Effects {
    fn org(org: Option<usize>, outcome: String) -> Effects {
        Effects { outcome, touched: org.into_iter().collect(), ..Effects::default() }
    }
}

type Step<T> = Result<T, Violation>;

/// A use case's answer: done, or refused (internal errors and panics are violations already).
type Answer<T> = Result<T, AppError>;

/// A rule's row as the digest sees it: id, status, next run, deletion, last update.
type RuleRow = (String, String, Option<i64>, Option<i64>, i64);
/// An account's row as the digest sees it: id, balance, reserved, deletion.
type AccountRow = (String, i64, i64, Option<i64>);

/// A digest of one organization's rows, to tell whether a dropped transaction left a trace and
/// whether a retried one took effect once.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Digest {
    transfers_by_status: BTreeMap<String, i64>,
    entries: i64,
    card_transactions: i64,
    cards: Vec<(String, String)>,
    executions: i64,
    rules: Vec<RuleRow>,
    accounts: Vec<AccountRow>,
    offset: i64,
    threshold: Option<i64>,
}

impl Digest {
    fn transfers(&self) -> i64 {
        self.transfers_by_status.values().sum()
    }
}

pub(crate) struct Runner {
    a: App,
    b: App,
    clock: Arc<SimClock>,
    model: Model,
    rng: StdRng,
    checker: Checker,
    timeout: Duration,
    tallies: Mutex<BTreeMap<&'static str, Tally>>,
    timings: Mutex<BTreeMap<&'static str, (u64, Duration)>>,
}

/// Runs one seed on one backend (see the crate docs).
pub async fn run(config: &Config) -> anyhow::Result<Report> {
    let db = SimDatabase::create(config.backend, &config.postgres_url, config.seed).await?;
    let result = run_on(config, db.url()).await;
    db.discard().await;
    result
}

async fn run_on(config: &Config, url: &str) -> anyhow::Result<Report> {
    let mut rng = StdRng::seed_from_u64(config.seed);
    // Each seed starts somewhere else in the calendar (week, month and year boundaries), at a
    // time with microseconds.
    let start = Utc.with_ymd_and_hms(2025, 1, 1, 0, 0, 0).single().expect("a valid date")
        + TimeDelta::microseconds(rng.random_range(0..366 * 86_400 * 1_000_000_i64));
    let clock = Arc::new(SimClock::new(start));
    // Two replicas: separate pools on one database.
    let store_a = Store::connect(url).await?;
    let store_b = Store::connect(url).await?;
    let mut runner = Runner {
        a: App::with_clock(store_a.clone(), clock.clone()),
        b: App::with_clock(store_b.clone(), clock.clone()),
        clock,
        model: Model::default(),
        rng,
        checker: Checker::default(),
        timeout: config.timeout,
        tallies: Mutex::new(BTreeMap::new()),
        timings: Mutex::new(BTreeMap::new()),
    };
    let mut log: VecDeque<String> = VecDeque::with_capacity(config.log_tail + 1);
    let mut remember = |line: String| {
        if log.len() == config.log_tail.max(1) {
            log.pop_front();
        }
        log.push_back(line);
    };
    let started = Instant::now();
    let mut violation = None;
    let mut done = 0;
    for step in 1..=config.ops {
        let nows = runner.org_nows();
        let op = generate::next_op(&mut runner.rng, &runner.model, &nows);
        let full = config.full_check_every > 0 && step % config.full_check_every == 0;
        let result = runner.step(&op, full).await;
        done = step;
        match result {
            Ok(outcome) => remember(format!("#{step} {op} => {outcome}")),
            Err(broken) => {
                remember(format!("#{step} {op} => VIOLATION"));
                violation = Some(Violation { step, ..broken });
                break;
            }
        }
    }
    if violation.is_none() {
        // The end: six days on (every accepted transfer settles within five) and two passes,
        // then every organization audited.
        let end = Op::MoveClock { by: TimeDelta::days(6) };
        let drained = async {
            runner.step(&end, false).await?;
            runner.step(&Op::Tick, false).await?;
            runner.step(&Op::ReplicaTicks, true).await
        };
        match drained.await {
            Ok(outcome) => remember(format!("#end drain and final audit => {outcome}")),
            Err(broken) => {
                remember("#end drain and final audit => VIOLATION".to_owned());
                violation = Some(Violation { step: 0, ..broken });
            }
        }
    }
    let elapsed = started.elapsed();
    store_a.close().await;
    store_b.close().await;
    let tallies = runner.tallies.into_inner().unwrap_or_else(std::sync::PoisonError::into_inner);
    let timings = runner.timings.into_inner().unwrap_or_else(std::sync::PoisonError::into_inner);
    Ok(Report {
        seed: config.seed,
        backend: config.backend,
        ops: done,
        elapsed,
        violation,
        log: log.into_iter().collect(),
        tallies,
        timings,
    })
}

fn one_ms() -> TimeDelta {
    TimeDelta::milliseconds(1)
}

impl Runner {
    /// Each organization's time now (hostile ones with a corrupt clock: real time).
    fn org_nows(&self) -> Vec<DateTime<Utc>> {
        self.model
            .orgs
            .iter()
            .map(|o| match o.hostile {
                Some(Hostility::CorruptClock) => self.a.now(),
                _ => self.a.org_now(o.offset_seconds),
            })
            .collect()
    }

    fn org_now(&self, org: usize) -> DateTime<Utc> {
        self.a.org_now(self.model.orgs[org].offset_seconds)
    }

    fn tally(&self, kind: &'static str, ok: bool) {
        let mut tallies = self.tallies.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let tally = tallies.entry(kind).or_default();
        if ok {
            tally.ok += 1;
        } else {
            tally.refused += 1;
        }
    }

    /// One step: the operation, then the checks.
    async fn step(&mut self, op: &Op, full: bool) -> Step<String> {
        let started = Instant::now();
        let mut effects = self.execute(op, Mode::Normal).await?;
        effects.rules_ran = may_run_rules(op);
        effects.cards_ran = may_touch_cards(op);
        let executed = Instant::now();
        self.check(&effects, full).await?;
        self.time(op.kind(), executed - started);
        self.time("(checks)", executed.elapsed());
        Ok(effects.outcome)
    }

    fn time(&self, kind: &'static str, spent: Duration) {
        let mut timings = self.timings.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let timing = timings.entry(kind).or_default();
        timing.0 += 1;
        timing.1 += spent;
    }

    async fn check(&mut self, effects: &Effects, full: bool) -> Step<()> {
        let mut conn = self.reader().await?;
        self.checker.replay_new_entries(&mut conn).await?;
        let orgs: BTreeSet<usize> = if full || effects.all {
            (0..self.model.orgs.len()).collect()
        } else {
            effects.touched.iter().copied().chain(effects.processed.iter().map(|p| p.org)).collect()
        };
        for org in orgs {
            let processed = effects.processed.iter().find(|p| p.org == org).copied();
            self.checker
                .organization(
                    &mut conn,
                    &self.a,
                    &mut self.model,
                    org,
                    processed,
                    effects.rules_ran,
                    effects.cards_ran,
                    full,
                )
                .await?;
        }
        Ok(())
    }

    async fn reader(&self) -> Step<sqlx::pool::PoolConnection<sqlx::Any>> {
        self.a.store.pool().acquire().await.map_err(|e| {
            Violation::new(invariant::READABLE, format!("no connection for the checker: {e}"))
        })
    }

    /// Runs a use case (see the module docs), turning a timeout or a panic into a violation.
    async fn call<T, F, Fut>(
        &self,
        app: &App,
        mode: Mode,
        what: &str,
        use_case: F,
    ) -> Step<Answer<T>>
    where
        F: Fn(Tx) -> Fut,
        Fut: Future<Output = (Tx, Answer<T>)>,
    {
        let run = async {
            match mode {
                Mode::Normal => unit_of_work::run(&app.store, &use_case).await,
                Mode::Crash => {
                    let tx = unit_of_work::begin(&app.store).await?;
                    let (tx, result) = use_case(tx).await;
                    // The crash: no commit, no explicit rollback.
                    drop(tx);
                    result
                }
                Mode::Transient(failures) => {
                    let left = AtomicU32::new(failures);
                    unit_of_work::run(&app.store, |tx| {
                        let ran = use_case(tx);
                        let left = &left;
                        async move {
                            let (tx, result) = ran.await;
                            let collide = result.is_ok()
                                && left
                                    .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                                        n.checked_sub(1)
                                    })
                                    .is_ok();
                            if collide {
                                (tx, Err(AppError::Store(StoreError::Retry)))
                            } else {
                                (tx, result)
                            }
                        }
                    })
                    .await
                }
            }
        };
        match tokio::time::timeout(self.timeout, AssertUnwindSafe(run).catch_unwind()).await {
            Err(_) => Err(Violation::new(
                invariant::IN_TIME,
                format!("{what} did not finish within {:?}", self.timeout),
            )),
            Ok(Err(_)) => Err(Violation::new(
                invariant::NO_INTERNAL,
                format!("{what} panicked: {}", last_panic().unwrap_or_default()),
            )),
            Ok(Ok(answer)) => Ok(answer),
        }
    }

    /// The answer of one use case run as a task racing others (spawned, with the step timeout,
    /// panics caught): a failed task or a panic breaks `NO_INTERNAL`, a timeout `IN_TIME`.
    async fn raced<T>(
        &self,
        handle: tokio::task::JoinHandle<
            Result<std::thread::Result<T>, tokio::time::error::Elapsed>,
        >,
        what: &str,
    ) -> Result<T, Violation> {
        match handle.await {
            Err(join) => {
                Err(Violation::new(invariant::NO_INTERNAL, format!("a {what} task failed: {join}")))
            }
            Ok(Err(_)) => Err(Violation::new(
                invariant::IN_TIME,
                format!("a parallel {what} did not finish within {:?}", self.timeout),
            )),
            Ok(Ok(Err(_))) => Err(Violation::new(
                invariant::NO_INTERNAL,
                format!("a parallel {what} panicked: {}", last_panic().unwrap_or_default()),
            )),
            Ok(Ok(Ok(answer))) => Ok(answer),
        }
    }

    /// Sorts an answer: success (tallied), a refusal (tallied; fine), an internal error (a
    /// violation). `foreign`: the request named another organization's resource, so success
    /// is the violation.
    fn judge<T>(
        &self,
        kind: &'static str,
        what: &str,
        answer: Answer<T>,
        foreign: bool,
    ) -> Step<Result<T, String>> {
        match answer {
            Ok(_) if foreign => Err(Violation::new(
                invariant::ISOLATION,
                format!("{what} succeeded with another organization's resource"),
            )),
            Ok(value) => {
                self.tally(kind, true);
                Ok(Ok(value))
            }
            Err(error) if error.is_internal() => {
                Err(Violation::new(invariant::NO_INTERNAL, format!("{what}: {error} ({error:?})")))
            }
            Err(error) => {
                self.tally(kind, false);
                Ok(Err(format!("refused: {error}")))
            }
        }
    }

    fn org_id(&self, org: usize) -> OrgId {
        self.model.orgs[org].id.clone()
    }

    /// Carries out `op` (see [`Op`]).
    fn execute<'a>(
        &'a mut self,
        op: &'a Op,
        mode: Mode,
    ) -> Pin<Box<dyn Future<Output = Step<Effects>> + 'a>> {
        Box::pin(async move {
            match op {
                Op::CreateOrg => {
                    let (_, outcome) = self.create_org(mode).await?;
                    Ok(Effects::org(self.model.orgs.len().checked_sub(1), outcome))
                }
                Op::OpenAccount { org, kind } => {
                    let outcome = self.open_account(*org, *kind, false, mode).await?.1;
                    Ok(Effects::org(Some(*org), outcome))
                }
                Op::LinkExternal { org, input } => {
                    let outcome = self.link_external(*org, input.clone(), mode).await?.1;
                    Ok(Effects::org(Some(*org), outcome))
                }
                Op::Deposit { .. }
                | Op::Transfer { .. }
                | Op::Decide { .. }
                | Op::Trigger { .. }
                | Op::Purchase { .. }
                | Op::Refund { .. } => {
                    let outcome = self.shared(op, mode, true).await?;
                    Ok(Effects::org(op.org(), outcome))
                }
                Op::IssueCard { org, account, card_type } => {
                    let outcome = self.issue_card(*org, account, *card_type, mode).await?;
                    Ok(Effects::org(Some(*org), outcome))
                }
                Op::ChangeCard { org, card, event } => {
                    let outcome = self.change_card(*org, *card, *event, mode).await?;
                    Ok(Effects::org(Some(*org), outcome))
                }
                Op::ParallelPurchases { org, card, n, amount } => {
                    let outcome = self.parallel_purchases(*org, *card, *n, *amount).await?;
                    Ok(Effects::org(Some(*org), outcome))
                }
                Op::SetThreshold { org, threshold } => {
                    let org_id = self.org_id(*org);
                    let app = &self.a;
                    let threshold = *threshold;
                    let answer = self
                        .call(app, mode, "set_approval_threshold", |mut tx| {
                            let org_id = org_id.clone();
                            async move {
                                let r = sandbox::set_approval_threshold(
                                    app, &mut tx, &org_id, threshold,
                                )
                                .await;
                                (tx, r)
                            }
                        })
                        .await?;
                    let outcome =
                        match self.judge(op.kind(), "set_approval_threshold", answer, false)? {
                            Ok(_) => "ok".to_owned(),
                            Err(refused) => refused,
                        };
                    Ok(Effects::org(Some(*org), outcome))
                }
                Op::DeleteAccount { org, account } => {
                    let outcome = self.delete_account(*org, account, mode).await?;
                    Ok(Effects::org(Some(*org), outcome))
                }
                Op::CreateRule { org, draft, enable } => {
                    let (rule, mut outcome) = self.create_rule(*org, draft, false, mode).await?;
                    if let (Some(rule), true) = (rule, *enable) {
                        outcome.push_str("; ");
                        outcome.push_str(&self.switch(*org, rule, true, mode).await?);
                    }
                    Ok(Effects::org(Some(*org), outcome))
                }
                Op::UpdateRule { org, rule, draft, enable } => {
                    let mut outcome = self.update_rule(*org, *rule, draft, mode).await?;
                    if *enable && outcome.starts_with("ok") {
                        outcome.push_str("; ");
                        outcome.push_str(&self.switch(*org, *rule, true, mode).await?);
                    }
                    Ok(Effects::org(Some(*org), outcome))
                }
                Op::Switch { org, rule, enable } => {
                    let outcome = self.switch(*org, *rule, *enable, mode).await?;
                    Ok(Effects::org(Some(*org), outcome))
                }
                Op::RaceReplaceSwitch { org, rule, draft, enable } => {
                    let outcome = self.race_replace_switch(*org, *rule, draft, *enable).await?;
                    Ok(Effects::org(Some(*org), outcome))
                }
                Op::DeleteRule { org, rule } => {
                    let outcome = self.delete_rule(*org, *rule, mode).await?;
                    Ok(Effects::org(Some(*org), outcome))
                }
                Op::ParallelTriggers { org, rule, n, amount } => {
                    let outcome = self.parallel_triggers(*org, *rule, *n, *amount).await?;
                    Ok(Effects::org(Some(*org), outcome))
                }
                Op::AdvanceClock { org, seconds } => self.advance_clock(*org, *seconds, mode).await,
                Op::MoveClock { by } => {
                    self.clock.advance(*by);
                    Ok(Effects {
                        outcome: format!("real time now {}", self.clock.now()),
                        ..Effects::default()
                    })
                }
                Op::Tick => {
                    let pass = self.tick(&self.a, "worker pass").await?;
                    self.judge_pass(&pass, "replica A").await?;
                    Ok(self.passes_processed(&[pass], true))
                }
                Op::ReplicaTicks => {
                    let (a, b) = (self.a.clone(), self.b.clone());
                    let timeout = self.timeout;
                    let spawn = |app: App| {
                        tokio::spawn(async move {
                            tokio::time::timeout(
                                timeout,
                                AssertUnwindSafe(worker::tick(&app)).catch_unwind(),
                            )
                            .await
                        })
                    };
                    let (first, second) = (spawn(a), spawn(b));
                    let mut passes = Vec::new();
                    for (name, handle) in [("replica A", first), ("replica B", second)] {
                        let pass = self.finished_pass(name, handle.await)?;
                        self.judge_pass(&pass, name).await?;
                        passes.push(pass);
                    }
                    Ok(self.passes_processed(&passes, true))
                }
                Op::Concurrent { ops, ticks } => self.concurrent(ops, *ticks).await,
                Op::Crash { inner } => {
                    let org = inner.org().expect("injected operations are about one organization");
                    let before = self.digest(org).await?;
                    let inner_effects = self.execute(inner, Mode::Crash).await?;
                    let after = self.digest(org).await?;
                    if before != after {
                        return Err(Violation::new(
                            invariant::NO_TRACE,
                            format!("o{org} changed: before {before:?}, after {after:?}"),
                        ));
                    }
                    Ok(Effects::org(
                        Some(org),
                        format!("crashed; no trace ({})", inner_effects.outcome),
                    ))
                }
                Op::Transient { inner, failures } => {
                    let org = inner.org().expect("injected operations are about one organization");
                    let before = self.digest(org).await?;
                    let inner_effects = self.execute(inner, Mode::Transient(*failures)).await?;
                    let after = self.digest(org).await?;
                    self.once(inner, &inner_effects.outcome, &before, &after)?;
                    Ok(Effects {
                        outcome: format!(
                            "after {failures} collision(s): {}",
                            inner_effects.outcome
                        ),
                        ..inner_effects
                    })
                }
                Op::TopUpProbe { org, funds, target, cap, on_funds, sequential, parallel } => {
                    let outcome = self
                        .top_up_probe(
                            *org,
                            *funds,
                            *target,
                            *cap,
                            *on_funds,
                            *sequential,
                            *parallel,
                        )
                        .await?;
                    Ok(Effects::org(Some(*org), outcome))
                }
                Op::Hostile { kind } => self.hostile(*kind).await,
            }
        })
    }

    /// The operations that only need `&self` (they leave the model as it is), so several can run
    /// at once. `exclusive`: nothing else runs meanwhile, so the outcome of a purchase or a refund
    /// is predicted from the database read just before it, and must match.
    async fn shared(&self, op: &Op, mode: Mode, exclusive: bool) -> Step<String> {
        let app = &self.a;
        match op {
            Op::Deposit { org, account, amount, origin, foreign } => {
                let org_id = self.org_id(*org);
                let deposit = Deposit {
                    account_id: account.id.to_string(),
                    amount: *amount,
                    origin: Some(*origin),
                    description: None,
                };
                let answer = self
                    .call(app, mode, "deposit", |mut tx| {
                        let (org_id, deposit) = (org_id.clone(), deposit.clone());
                        async move {
                            let r = ledger::deposit(app, &mut tx, &org_id, deposit).await;
                            (tx, r)
                        }
                    })
                    .await?;
                Ok(
                    match self.judge(
                        op.kind(),
                        &format!("deposit into {account}"),
                        answer,
                        *foreign,
                    )? {
                        Ok(view) => format!("ok {}", view.transfer.status),
                        Err(refused) => refused,
                    },
                )
            }
            Op::Transfer { org, source, destination, amount, simulation, foreign } => {
                let org_id = self.org_id(*org);
                let request = TransferRequest {
                    source_account_id: source.id.to_string(),
                    destination_account_id: destination.id.to_string(),
                    amount: *amount,
                    description: None,
                    simulation: *simulation,
                };
                let answer = self
                    .call(app, mode, "create transfer", |mut tx| {
                        let (org_id, request) = (org_id.clone(), request.clone());
                        async move {
                            let r = transfers::create(app, &mut tx, &org_id, request).await;
                            (tx, r)
                        }
                    })
                    .await?;
                let what = format!("transfer {source} -> {destination}");
                Ok(match self.judge(op.kind(), &what, answer, *foreign)? {
                    Ok(view) => format!("ok {}", view.transfer.status),
                    Err(refused) => refused,
                })
            }
            Op::Decide { org, pick, approve, any_status } => {
                let org_id = self.org_id(*org);
                let waiting = {
                    let mut conn = self.reader().await?;
                    waiting_transfers(&mut conn, &org_id, *any_status).await?
                };
                if waiting.is_empty() {
                    return Ok("nothing to decide".to_owned());
                }
                let id = waiting[*pick as usize % waiting.len()].clone();
                let event = if *approve { TransferEvent::Approve } else { TransferEvent::Decline };
                let answer = self
                    .call(app, mode, "decide approval", |mut tx| {
                        let (org_id, id) = (org_id.clone(), id.clone());
                        async move {
                            let r =
                                ledger::decide_approval(app, &mut tx, &org_id, id.as_str(), event)
                                    .await;
                            (tx, r)
                        }
                    })
                    .await?;
                Ok(match self.judge(op.kind(), "decide approval", answer, false)? {
                    Ok(view) => format!("ok {}", view.transfer.status),
                    Err(refused) => refused,
                })
            }
            Op::Trigger { org, rule, amount, simulation, foreign } => {
                let org_id = self.org_id(*org);
                let owner = foreign.unwrap_or(*org);
                let Some(rule_model) = self.model.orgs[owner].rules.get(*rule) else {
                    return Ok("no such rule".to_owned());
                };
                let rule_id = rule_model.id.clone();
                let trigger = Trigger { amount: *amount, simulation: *simulation };
                let answer = self
                    .call(app, mode, "trigger rule", |mut tx| {
                        let (org_id, rule_id) = (org_id.clone(), rule_id.clone());
                        async move {
                            let r =
                                rules::trigger(app, &mut tx, &org_id, rule_id.as_str(), trigger)
                                    .await;
                            (tx, r)
                        }
                    })
                    .await?;
                Ok(match self.judge(op.kind(), "trigger rule", answer, foreign.is_some())? {
                    Ok(execution) => format!("ok {}", execution.status),
                    Err(refused) => refused,
                })
            }
            Op::Purchase { org, owner, card, amount } => {
                let Some(card_model) = self.model.orgs[*owner].cards.get(*card) else {
                    return Ok("no such card".to_owned());
                };
                let foreign = owner != org;
                let expected = if exclusive && !foreign {
                    let state = self.card_state(card_model).await?;
                    Some(if check_amount(*amount).is_err() {
                        Expect::Invalid
                    } else {
                        match state.available {
                            None => Expect::PodDeleted,
                            Some(_) if state.status != CardStatus::Active => Expect::NotActive,
                            Some(available) if available < amount.get() => Expect::Short,
                            Some(_) => Expect::Accept,
                        }
                    })
                } else {
                    None
                };
                let (org_id, card_id) = (self.org_id(*org), card_model.id.clone());
                let purchase = Purchase {
                    amount: *amount,
                    merchant_name: "Simulated merchant".to_owned(),
                    description: None,
                };
                let answer = self
                    .call(app, mode, "card purchase", |mut tx| {
                        let (org_id, card_id, purchase) =
                            (org_id.clone(), card_id.clone(), purchase.clone());
                        async move {
                            let r = sequence_app::cards::purchase(
                                app,
                                &mut tx,
                                &org_id,
                                card_id.as_str(),
                                purchase,
                            )
                            .await;
                            (tx, r)
                        }
                    })
                    .await?;
                if let Some(expected) = expected
                    && !expected.matches(&answer)
                {
                    return Err(Violation::new(
                        invariant::CARD_AUTHORIZATION,
                        format!(
                            "o{org}: purchase of {} with card c{card} ({card_id}): expected \
                             {expected:?}, got {:?}",
                            amount.get(),
                            answer.as_ref().map(|t| &t.id)
                        ),
                    ));
                }
                Ok(match self.judge(op.kind(), "card purchase", answer, foreign)? {
                    Ok(made) => format!("ok {}", made.id),
                    Err(refused) => refused,
                })
            }
            Op::Refund { org, card, pick, amount, stray } => {
                let Some(card_model) = self.model.orgs[*org].cards.get(*card) else {
                    return Ok("no such card".to_owned());
                };
                let org_id = self.org_id(*org);
                let (purchases, strays) = {
                    let mut conn = self.reader().await?;
                    card_purchases(&mut conn, &org_id, &card_model.id).await?
                };
                let (purchase_id, left) = if *stray {
                    match strays.get(*pick as usize % strays.len().max(1)) {
                        Some(id) => (id.clone(), None),
                        None => return Ok("nothing stray to refund".to_owned()),
                    }
                } else {
                    match purchases.get(*pick as usize % purchases.len().max(1)) {
                        Some((id, left)) => (id.clone(), Some(*left)),
                        None => return Ok("no purchase to refund".to_owned()),
                    }
                };
                let expected = if exclusive {
                    let state = self.card_state(card_model).await?;
                    let invalid = amount.is_some_and(|a| check_amount(a).is_err());
                    Some(match (invalid, state.available, left) {
                        (true, _, _) => Expect::Invalid,
                        (_, None, _) => Expect::PodDeleted,
                        (_, _, None) => Expect::NoPurchase,
                        (_, _, Some(left)) => {
                            let requested = amount.map_or(left, Cents::get);
                            if requested > 0 && requested <= left {
                                Expect::Accept
                            } else {
                                Expect::Exceeds
                            }
                        }
                    })
                } else {
                    None
                };
                let card_id = card_model.id.clone();
                let refund =
                    Refund { purchase_id: purchase_id.clone(), amount: *amount, description: None };
                let answer = self
                    .call(app, mode, "card refund", |mut tx| {
                        let (org_id, card_id, refund) =
                            (org_id.clone(), card_id.clone(), refund.clone());
                        async move {
                            let r = sequence_app::cards::refund(
                                app,
                                &mut tx,
                                &org_id,
                                card_id.as_str(),
                                refund,
                            )
                            .await;
                            (tx, r)
                        }
                    })
                    .await?;
                if let Some(expected) = expected
                    && !expected.matches(&answer)
                {
                    return Err(Violation::new(
                        invariant::REFUNDS,
                        format!(
                            "o{org}: refund {:?} of {purchase_id} (left {left:?}) with card \
                             c{card}: expected {expected:?}, got {:?}",
                            amount.map(Cents::get),
                            answer.as_ref().map(|t| (&t.id, t.amount.get()))
                        ),
                    ));
                }
                Ok(match self.judge(op.kind(), "card refund", answer, false)? {
                    Ok(made) => format!("ok {} of {}", made.amount.get(), purchase_id),
                    Err(refused) => refused,
                })
            }
            other => unreachable!("not a shared operation: {other}"),
        }
    }

    /// A card's status as stored (which must be the model's) and its pod's available balance.
    async fn card_state(&self, card: &CardModel) -> Step<CardState> {
        let mut conn = self.reader().await?;
        let unreadable = |e: sqlx::Error| {
            Violation::new(invariant::READABLE, format!("reading card {}: {e}", card.id))
        };
        let row = sqlx::query(
            "SELECT c.status, a.balance_cents - a.reserved_cents, a.deleted_at_ms FROM cards c \
             JOIN accounts a ON a.id = c.account_id WHERE c.id = $1",
        )
        .bind(card.id.as_str())
        .fetch_one(&mut *conn)
        .await
        .map_err(unreadable)?;
        let status: String = row.try_get(0).map_err(unreadable)?;
        let available: i64 = row.try_get(1).map_err(unreadable)?;
        let deleted: Option<i64> = row.try_get(2).map_err(unreadable)?;
        if status != card.status.as_str() {
            return Err(Violation::new(
                invariant::CARD_STATUS,
                format!(
                    "card {} is stored {status}, but its changes left it {}",
                    card.id, card.status
                ),
            ));
        }
        Ok(CardState { status: card.status, available: deleted.is_none().then_some(available) })
    }

    async fn issue_card(
        &mut self,
        org: usize,
        account: &AccountRef,
        card_type: sequence_core::cards::CardType,
        mode: Mode,
    ) -> Step<String> {
        let org_id = self.org_id(org);
        let app = &self.a;
        let new = NewCard { account_id: account.id.to_string(), card_type, holder_name: None };
        let answer = self
            .call(app, mode, "issue card", |mut tx| {
                let (org_id, new) = (org_id.clone(), new.clone());
                async move {
                    let r = sequence_app::cards::issue(app, &mut tx, &org_id, new).await;
                    (tx, r)
                }
            })
            .await?;
        let a = self.model.orgs[org].accounts.iter().find(|a| a.id == account.id);
        let issuable = a.is_some_and(|a| !a.deleted && a.kind == AccountKind::Pod);
        if answer.is_ok() != issuable {
            return Err(Violation::new(
                invariant::CARD_STATUS,
                format!(
                    "o{org}: issuing a card on {account} answered {:?}",
                    answer.as_ref().map(|c| &c.id)
                ),
            ));
        }
        Ok(match self.judge("issue_card", "issue card", answer, false)? {
            Ok(record) if mode != Mode::Crash => {
                if record.status != card_type.initial_status() {
                    return Err(Violation::new(
                        invariant::CARD_STATUS,
                        format!("a new {card_type} card is {}", record.status),
                    ));
                }
                let o = &mut self.model.orgs[org];
                o.cards.push(CardModel {
                    id: record.id.clone(),
                    pod: account.id.clone(),
                    status: record.status,
                });
                format!("ok {}.c{} {}", o.label, o.cards.len() - 1, record.status)
            }
            Ok(_) => "ok".to_owned(),
            Err(refused) => refused,
        })
    }

    async fn change_card(
        &mut self,
        org: usize,
        card: usize,
        event: CardEvent,
        mode: Mode,
    ) -> Step<String> {
        let Some(card_model) = self.model.orgs[org].cards.get(card) else {
            return Ok("no such card".to_owned());
        };
        let (card_id, before) = (card_model.id.clone(), card_model.status);
        let expected = card_transition(&card_id, before, event).ok();
        let org_id = self.org_id(org);
        let app = &self.a;
        let answer = self
            .call(app, mode, "change card", |mut tx| {
                let (org_id, card_id) = (org_id.clone(), card_id.clone());
                async move {
                    let r = sequence_app::cards::change_status(
                        app,
                        &mut tx,
                        &org_id,
                        card_id.as_str(),
                        event,
                    )
                    .await;
                    (tx, r)
                }
            })
            .await?;
        let got = answer.as_ref().ok().map(|c| c.status);
        let refused_as_documented = got.is_none() && matches!(answer, Err(AppError::CardStatus(_)));
        if got != expected || (got.is_none() && !refused_as_documented) {
            return Err(Violation::new(
                invariant::CARD_STATUS,
                format!(
                    "o{org}: card c{card} {before} {}: expected {expected:?}, got {:?}",
                    event.verb(),
                    answer.as_ref().map(|c| c.status)
                ),
            ));
        }
        Ok(match self.judge("change_card", "change card", answer, false)? {
            Ok(record) => {
                if mode != Mode::Crash {
                    self.model.orgs[org].cards[card].status = record.status;
                }
                format!("ok {before} -> {}", record.status)
            }
            Err(refused) => refused,
        })
    }

    /// `n` purchases with one card at once (see [`Op::ParallelPurchases`]).
    async fn parallel_purchases(
        &self,
        org: usize,
        card: usize,
        n: u32,
        amount: Cents,
    ) -> Step<String> {
        let Some(card_model) = self.model.orgs[org].cards.get(card) else {
            return Ok("no such card".to_owned());
        };
        let state = self.card_state(card_model).await?;
        let org_id = self.org_id(org);
        let card_id: CardId = card_model.id.clone();
        let handles: Vec<_> = (0..n)
            .map(|i| {
                let app = if i % 2 == 0 { self.a.clone() } else { self.b.clone() };
                let (org_id, card_id) = (org_id.clone(), card_id.clone());
                let timeout = self.timeout;
                tokio::spawn(async move {
                    let purchase = Purchase {
                        amount,
                        merchant_name: "Racing merchant".to_owned(),
                        description: None,
                    };
                    let run = unit_of_work::run(&app.store, |mut tx| {
                        let (app, org_id, card_id, purchase) =
                            (&app, org_id.clone(), card_id.clone(), purchase.clone());
                        async move {
                            let r = sequence_app::cards::purchase(
                                app,
                                &mut tx,
                                &org_id,
                                card_id.as_str(),
                                purchase,
                            )
                            .await;
                            (tx, r)
                        }
                    });
                    tokio::time::timeout(timeout, AssertUnwindSafe(run).catch_unwind()).await
                })
            })
            .collect();
        let mut accepted: i64 = 0;
        for handle in handles {
            let answer = self.raced(handle, "purchase").await?;
            if self.judge("parallel_purchases", "parallel purchase", answer, false)?.is_ok() {
                accepted += 1;
            }
        }
        // Together they spent at most what was available, and as many as fit.
        let fit = match state.available {
            Some(available) if state.status == CardStatus::Active => {
                (available / amount.get()).min(i64::from(n))
            }
            _ => 0,
        };
        if accepted != fit {
            return Err(Violation::new(
                invariant::CARD_AUTHORIZATION,
                format!(
                    "o{org}: {n} parallel purchases of {} with card c{card} ({}, pod available \
                     {:?}): {accepted} accepted, {fit} fit",
                    amount.get(),
                    state.status,
                    state.available
                ),
            ));
        }
        Ok(format!("{accepted} of {n} accepted"))
    }

    async fn create_org(&mut self, mode: Mode) -> Step<(Option<usize>, String)> {
        let now = self.clock.now();
        let index = self.model.orgs.len();
        let answer = self
            .call(&self.a, mode, "create organization", |mut tx| async move {
                let org = Organization::new(&format!("Simulated {index}"), now);
                let r = orgs::insert(&mut tx, &org)
                    .await
                    .map(|()| org.id.clone())
                    .map_err(AppError::from);
                (tx, r)
            })
            .await?;
        match self.judge("create_org", "create organization", answer, false)? {
            Ok(id) if mode != Mode::Crash => {
                self.model.orgs.push(OrgModel::new(index, id));
                Ok((Some(index), format!("ok o{index}")))
            }
            Ok(_) => Ok((None, "ok".to_owned())),
            Err(refused) => Ok((None, refused)),
        }
    }

    async fn open_account(
        &mut self,
        org: usize,
        kind: AccountKind,
        probe: bool,
        mode: Mode,
    ) -> Step<(Option<AccountId>, String)> {
        let org_id = self.org_id(org);
        let app = &self.a;
        let answer = self
            .call(app, mode, "open account", |mut tx| {
                let org_id = org_id.clone();
                async move {
                    let r = accounts::open(app, &mut tx, &org_id, kind, "Simulated", None).await;
                    (tx, r)
                }
            })
            .await?;
        Ok(match self.judge("open_account", "open account", answer, false)? {
            Ok(record) if mode != Mode::Crash => {
                let o = &mut self.model.orgs[org];
                o.accounts.push(AccountModel {
                    id: record.id.clone(),
                    kind,
                    deleted: false,
                    probe,
                });
                (Some(record.id), format!("ok {}.a{}", o.label, o.accounts.len() - 1))
            }
            Ok(_) => (None, "ok".to_owned()),
            Err(refused) => (None, refused),
        })
    }

    async fn link_external(
        &mut self,
        org: usize,
        input: ExternalAccount,
        mode: Mode,
    ) -> Step<(Option<AccountId>, String)> {
        let org_id = self.org_id(org);
        let app = &self.a;
        let answer = self
            .call(app, mode, "link external account", |mut tx| {
                let (org_id, input) = (org_id.clone(), input.clone());
                async move {
                    let r = ledger::create_external_account(app, &mut tx, &org_id, input).await;
                    (tx, r)
                }
            })
            .await?;
        Ok(match self.judge("link_external", "link external account", answer, false)? {
            Ok(record) if mode != Mode::Crash => {
                let o = &mut self.model.orgs[org];
                o.accounts.push(AccountModel {
                    id: record.id.clone(),
                    kind: record.kind,
                    deleted: false,
                    probe: false,
                });
                (Some(record.id), format!("ok {}.a{}", o.label, o.accounts.len() - 1))
            }
            Ok(_) => (None, "ok".to_owned()),
            Err(refused) => (None, refused),
        })
    }

    async fn delete_account(
        &mut self,
        org: usize,
        account: &AccountRef,
        mode: Mode,
    ) -> Step<String> {
        let org_id = self.org_id(org);
        let app = &self.a;
        let id = account.id.clone();
        let answer = self
            .call(app, mode, "delete account", |mut tx| {
                let (org_id, id) = (org_id.clone(), id.clone());
                async move {
                    let r = accounts::delete(app, &mut tx, &org_id, id.as_str()).await;
                    (tx, r)
                }
            })
            .await?;
        Ok(match self.judge("delete_account", "delete account", answer, false)? {
            Ok(()) => {
                if mode != Mode::Crash
                    && let Some(a) =
                        self.model.orgs[org].accounts.iter_mut().find(|a| a.id == account.id)
                {
                    a.deleted = true;
                }
                "ok".to_owned()
            }
            Err(refused) => refused,
        })
    }

    /// The schedule of a scheduled draft as the API documents it is stored: its start at
    /// millisecond precision.
    fn schedule_of(draft: &RuleDraft) -> Option<Schedule> {
        match (draft.trigger.kind, draft.trigger.schedule_type, draft.trigger.start_date) {
            (TriggerKind::Scheduled, Some(kind), Some(start)) => {
                Some(Schedule { kind, start: at_stored_precision(start) })
            }
            _ => None,
        }
    }

    async fn create_rule(
        &mut self,
        org: usize,
        draft: &RuleDraft,
        probe: bool,
        mode: Mode,
    ) -> Step<(Option<usize>, String)> {
        let org_id = self.org_id(org);
        let app = &self.a;
        let answer = self
            .call(app, mode, "create rule", |mut tx| {
                let org_id = org_id.clone();
                async move {
                    let r = rules::create(app, &mut tx, &org_id, draft).await;
                    (tx, r)
                }
            })
            .await?;
        Ok(match self.judge("create_rule", "create rule", answer, false)? {
            Ok(record) if mode != Mode::Crash => {
                let o = &mut self.model.orgs[org];
                o.versions += 1;
                let caps = caps_of(draft);
                let capped = !caps.is_empty();
                o.caps_by_nickname.insert(draft.nickname.clone(), caps);
                o.rules.push(RuleModel {
                    id: record.rule.id.clone(),
                    draft: draft.clone(),
                    enabled: false,
                    deleted: false,
                    probe,
                    capped,
                    windows: Vec::new(),
                    verified_until: None,
                });
                let index = o.rules.len() - 1;
                (Some(index), format!("ok {}.r{index}", o.label))
            }
            Ok(_) => (None, "ok".to_owned()),
            Err(refused) => (None, refused),
        })
    }

    /// The rule stops being enabled: its occurrences not yet processed are skipped, never run,
    /// so from the last check on it must have none (everything up to that check was verified).
    fn close_window(&mut self, org: usize, rule: usize) {
        let rule = &mut self.model.orgs[org].rules[rule];
        rule.enabled = false;
        rule.windows.clear();
    }

    /// The rule becomes enabled at `now`: a scheduled rule's occurrences from `now` on are due.
    fn open_window(&mut self, org: usize, rule: usize, now: DateTime<Utc>) {
        let r = &mut self.model.orgs[org].rules[rule];
        r.enabled = true;
        if let Some(schedule) = Self::schedule_of(&r.draft) {
            r.windows.push(Window { schedule, from: now });
            // Occurrences at `now` count: checked from just before it.
            r.verified_until.get_or_insert(now - one_ms());
        }
    }

    /// A replace by `draft` committed: the rule is disabled (its window closed) and has a new
    /// definition, whose caps are audited under its nickname.
    fn record_replace(&mut self, org: usize, rule: usize, draft: &RuleDraft) {
        self.close_window(org, rule);
        let o = &mut self.model.orgs[org];
        o.versions += 1;
        let caps = caps_of(draft);
        let r = &mut o.rules[rule];
        r.capped |= !caps.is_empty();
        r.draft = draft.clone();
        o.caps_by_nickname.insert(draft.nickname.clone(), caps);
    }

    async fn update_rule(
        &mut self,
        org: usize,
        rule: usize,
        draft: &RuleDraft,
        mode: Mode,
    ) -> Step<String> {
        let org_id = self.org_id(org);
        let rule_id = self.model.orgs[org].rules[rule].id.clone();
        let app = &self.a;
        let answer = self
            .call(app, mode, "update rule", |mut tx| {
                let (org_id, rule_id) = (org_id.clone(), rule_id.clone());
                async move {
                    let r = rules::update(app, &mut tx, &org_id, rule_id.as_str(), draft).await;
                    (tx, r)
                }
            })
            .await?;
        Ok(match self.judge("update_rule", "update rule", answer, false)? {
            Ok(_) if mode != Mode::Crash => {
                self.record_replace(org, rule, draft);
                "ok".to_owned()
            }
            Ok(_) => "ok".to_owned(),
            Err(refused) => refused,
        })
    }

    async fn switch(&mut self, org: usize, rule: usize, enable: bool, mode: Mode) -> Step<String> {
        let org_id = self.org_id(org);
        let Some(rule_id) = self.model.orgs[org].rules.get(rule).map(|r| r.id.clone()) else {
            return Ok("no such rule".to_owned());
        };
        let status = if enable { RuleStatus::Enabled } else { RuleStatus::Disabled };
        let app = &self.a;
        let answer = self
            .call(app, mode, "switch rule", |mut tx| {
                let (org_id, rule_id) = (org_id.clone(), rule_id.clone());
                async move {
                    let r = rules::switch(app, &mut tx, &org_id, rule_id.as_str(), status).await;
                    (tx, r)
                }
            })
            .await?;
        Ok(match self.judge("switch_rule", "switch rule", answer, false)? {
            Ok(record) if mode != Mode::Crash => {
                let now = self.org_now(org);
                let was = self.model.orgs[org].rules[rule].enabled;
                if enable && !was {
                    self.open_window(org, rule, now);
                } else if !enable && was {
                    self.close_window(org, rule);
                }
                format!("ok {} (next run {:?})", record.rule.status, record.next_run_at)
            }
            Ok(_) => "ok".to_owned(),
            Err(refused) => refused,
        })
    }

    /// A replace (through replica A) and a switch (through replica B) of one rule at once.
    /// Whichever committed first, the other must have seen it: the stored definition is the
    /// replacement if the replace succeeded, and the switch's status stands if it came last.
    async fn race_replace_switch(
        &mut self,
        org: usize,
        rule: usize,
        draft: &RuleDraft,
        enable: bool,
    ) -> Step<String> {
        let org_id = self.org_id(org);
        let rule_id = self.model.orgs[org].rules[rule].id.clone();
        let status = if enable { RuleStatus::Enabled } else { RuleStatus::Disabled };
        let (a, b) = (&self.a, &self.b);
        let replace = self.call(a, Mode::Normal, "replace rule", |mut tx| {
            let (org_id, rule_id) = (org_id.clone(), rule_id.clone());
            async move {
                let r = rules::update(a, &mut tx, &org_id, rule_id.as_str(), draft).await;
                (tx, r)
            }
        });
        let switch = self.call(b, Mode::Normal, "switch rule", |mut tx| {
            let (org_id, rule_id) = (org_id.clone(), rule_id.clone());
            async move {
                let r = rules::switch(b, &mut tx, &org_id, rule_id.as_str(), status).await;
                (tx, r)
            }
        });
        let (replaced, switched) = futures::future::join(replace, switch).await;
        let replaced = self.judge("update_rule", "replace rule", replaced?, false)?;
        let switched = self.judge("switch_rule", "switch rule", switched?, false)?;
        let stored = {
            let mut conn = self.reader().await?;
            sequence_store::rules::find(&mut conn, &org_id, rule_id.as_str())
                .await
                .map_err(|e| Violation::new(invariant::READABLE, format!("reading a rule: {e}")))?
                .ok_or_else(|| Violation::new(invariant::READABLE, "the rule vanished"))?
        };
        if replaced.is_ok() && stored.rule.nickname != draft.nickname {
            return Err(Violation::new(
                invariant::NO_LOST_UPDATE,
                format!(
                    "o{org}.r{rule}: the replace by {} committed, but the stored definition is {} ({})",
                    draft.nickname, stored.rule.nickname, stored.rule.status
                ),
            ));
        }
        if replaced.is_err() && switched.is_ok() && stored.rule.status != status {
            return Err(Violation::new(
                invariant::NO_LOST_UPDATE,
                format!(
                    "o{org}.r{rule}: the switch to {status} committed, but the rule is {}",
                    stored.rule.status
                ),
            ));
        }
        // The model follows what is stored. A refused replace next to a switch that left the
        // status as it was (enabling an enabled rule) changed nothing: the rule keeps its window,
        // and occurrences already due still run. Anything else starts over from now: a replace
        // disables the rule and drops its next run, and a status change computes the next run
        // afresh.
        let now = self.org_now(org);
        let was_enabled = self.model.orgs[org].rules[rule].enabled;
        let enabled = stored.rule.status == RuleStatus::Enabled;
        if replaced.is_ok() {
            self.record_replace(org, rule, draft);
        } else if was_enabled != enabled {
            self.close_window(org, rule);
        }
        if enabled && (replaced.is_ok() || !was_enabled) {
            self.open_window(org, rule, now);
        }
        let show = |r: &Result<_, String>| match r {
            Ok(_) => "ok".to_owned(),
            Err(refused) => refused.clone(),
        };
        Ok(format!(
            "replace {}, switch {}: stored {} {}",
            show(&replaced.map(|_| ())),
            show(&switched.map(|_| ())),
            stored.rule.nickname,
            stored.rule.status
        ))
    }

    async fn delete_rule(&mut self, org: usize, rule: usize, mode: Mode) -> Step<String> {
        let org_id = self.org_id(org);
        let Some(rule_id) = self.model.orgs[org].rules.get(rule).map(|r| r.id.clone()) else {
            return Ok("no such rule".to_owned());
        };
        let app = &self.a;
        let answer = self
            .call(app, mode, "delete rule", |mut tx| {
                let (org_id, rule_id) = (org_id.clone(), rule_id.clone());
                async move {
                    let r = rules::delete(app, &mut tx, &org_id, rule_id.as_str()).await;
                    (tx, r)
                }
            })
            .await?;
        Ok(match self.judge("delete_rule", "delete rule", answer, false)? {
            Ok(()) if mode != Mode::Crash => {
                self.close_window(org, rule);
                self.model.orgs[org].rules[rule].deleted = true;
                "ok".to_owned()
            }
            Ok(()) => "ok".to_owned(),
            Err(refused) => refused,
        })
    }

    /// `n` triggers of one rule at once, each in its own task and transaction.
    async fn parallel_triggers(
        &self,
        org: usize,
        rule: usize,
        n: u32,
        amount: Option<Cents>,
    ) -> Step<String> {
        let org_id = self.org_id(org);
        let rule_id = self.model.orgs[org].rules[rule].id.clone();
        let handles: Vec<_> = (0..n)
            .map(|i| {
                // Half the triggers go through each replica.
                let app = if i % 2 == 0 { self.a.clone() } else { self.b.clone() };
                let (org_id, rule_id) = (org_id.clone(), rule_id.clone());
                let timeout = self.timeout;
                tokio::spawn(async move {
                    let trigger = Trigger { amount, simulation: false };
                    let run = unit_of_work::run(&app.store, |mut tx| {
                        let (app, org_id, rule_id) = (&app, org_id.clone(), rule_id.clone());
                        async move {
                            let r =
                                rules::trigger(app, &mut tx, &org_id, rule_id.as_str(), trigger)
                                    .await;
                            (tx, r)
                        }
                    });
                    tokio::time::timeout(timeout, AssertUnwindSafe(run).catch_unwind()).await
                })
            })
            .collect();
        let mut outcomes = Vec::new();
        for handle in handles {
            let answer = self.raced(handle, "trigger").await?;
            outcomes.push(
                match self.judge("parallel_triggers", "parallel trigger", answer, false)? {
                    Ok(execution) => execution.status.to_string(),
                    Err(refused) => refused,
                },
            );
        }
        Ok(outcomes.join(", "))
    }

    async fn advance_clock(&mut self, org: usize, seconds: i64, mode: Mode) -> Step<Effects> {
        let org_id = self.org_id(org);
        let app = &self.a;
        let answer = self
            .call(app, mode, "advance clock", |mut tx| {
                let org_id = org_id.clone();
                async move {
                    let r = sandbox::advance_clock(app, &mut tx, &org_id, seconds).await;
                    (tx, r)
                }
            })
            .await?;
        let judged = self.judge("advance_clock", "advance clock", answer, false)?;
        // Refresh the model's offset whatever happened (it only moves by committed advances).
        let offset = {
            let mut conn = self.reader().await?;
            orgs::get(&mut conn, &org_id)
                .await
                .map_err(|e| Violation::new(invariant::READABLE, format!("reading o{org}: {e}")))?
        }
        .clock_offset_seconds;
        self.model.orgs[org].offset_seconds = offset;
        Ok(match judged {
            Ok(advanced) if mode != Mode::Crash => Effects {
                outcome: format!(
                    "ok now {}, {} settled, {} executed",
                    advanced.now, advanced.transfers_settled, advanced.rules_executed
                ),
                touched: [org].into(),
                processed: vec![Processed { org, now: advanced.now, exclusive: true }],
                ..Effects::default()
            },
            Ok(_) => Effects::org(Some(org), "ok".to_owned()),
            Err(refused) => Effects::org(Some(org), refused),
        })
    }

    /// One worker pass on `app`, with a timeout and panic catching.
    async fn tick(&self, app: &App, what: &str) -> Step<Pass> {
        let outcome =
            tokio::time::timeout(self.timeout, AssertUnwindSafe(worker::tick(app)).catch_unwind())
                .await;
        self.finished_pass(what, Ok(outcome))
    }

    #[allow(clippy::type_complexity)]
    fn finished_pass(
        &self,
        what: &str,
        outcome: Result<
            Result<
                Result<Result<Pass, AppError>, Box<dyn std::any::Any + Send>>,
                tokio::time::error::Elapsed,
            >,
            tokio::task::JoinError,
        >,
    ) -> Step<Pass> {
        match outcome {
            Err(join) => Err(Violation::new(invariant::NO_WAITING, format!("{what}: {join}"))),
            Ok(Err(_)) => Err(Violation::new(
                invariant::IN_TIME,
                format!("{what} did not finish within {:?}", self.timeout),
            )),
            Ok(Ok(Err(_))) => Err(Violation::new(
                invariant::NO_WAITING,
                format!("{what} panicked as a whole: {}", last_panic().unwrap_or_default()),
            )),
            Ok(Ok(Ok(Err(error)))) => Err(Violation::new(
                invariant::NO_WAITING,
                format!("{what} failed as a whole: {error}"),
            )),
            Ok(Ok(Ok(Ok(pass)))) => {
                self.tally("worker_pass", true);
                Ok(pass)
            }
        }
    }

    /// A pass failed no normal organization, and reported every hostile one that still has due
    /// work.
    async fn judge_pass(&self, pass: &Pass, what: &str) -> Step<()> {
        let failed: BTreeMap<&OrgId, &String> =
            pass.failed.iter().map(|(id, why)| (id, why)).collect();
        for o in &self.model.orgs {
            let why = failed.get(&o.id);
            match (&o.hostile, why) {
                (None, Some(why)) => {
                    return Err(Violation::new(
                        invariant::NO_WAITING,
                        format!("{what}: normal organization {} failed: {why}", o.label),
                    ));
                }
                (None, None) | (Some(_), Some(_)) => {}
                (Some(hostility), None) => {
                    let must_fail = match hostility {
                        Hostility::CorruptClock | Hostility::CorruptRule { .. } => true,
                        Hostility::ReportedBalanceOverflow { transfer } => {
                            let mut conn = self.reader().await?;
                            let now = self.a.org_now(o.offset_seconds);
                            still_due(&mut conn, &o.id, transfer, now).await?
                        }
                    };
                    if must_fail {
                        return Err(Violation::new(
                            invariant::NO_WAITING,
                            format!(
                                "{what}: hostile organization {} ({hostility:?}) still has due work but the pass did not report it failed",
                                o.label
                            ),
                        ));
                    }
                }
            }
        }
        Ok(())
    }

    fn passes_processed(&self, passes: &[Pass], exclusive: bool) -> Effects {
        let settled: u32 = passes.iter().map(|p| p.transfers_settled).sum();
        let executed: u32 = passes.iter().map(|p| p.rules_executed).sum();
        let failed: usize = passes.iter().map(|p| p.failed.len()).sum();
        let processed = (0..self.model.orgs.len())
            .filter(|&i| self.model.orgs[i].hostile.is_none())
            .map(|org| Processed { org, now: self.org_now(org), exclusive })
            .collect();
        Effects {
            outcome: format!(
                "{settled} settled, {executed} executed, {failed} organization failure(s) reported"
            ),
            all: true,
            processed,
            ..Effects::default()
        }
    }

    async fn concurrent(&mut self, ops: &[Op], ticks: u32) -> Step<Effects> {
        let this = &*self;
        let mut futures: Vec<Pin<Box<dyn Future<Output = Step<String>> + '_>>> = Vec::new();
        for op in ops {
            futures.push(Box::pin(this.shared(op, Mode::Normal, false)));
        }
        for i in 0..ticks {
            futures.push(Box::pin(async move {
                let (app, name) =
                    if i % 2 == 0 { (&this.a, "replica A") } else { (&this.b, "replica B") };
                let pass = this.tick(app, name).await?;
                this.judge_pass(&pass, name).await?;
                Ok(format!(
                    "{name} pass: {} settled, {} executed",
                    pass.transfers_settled, pass.rules_executed
                ))
            }));
        }
        let results = futures::future::join_all(futures).await;
        let mut outcomes = Vec::new();
        for result in results {
            outcomes.push(result?);
        }
        let mut effects =
            if ticks > 0 { self.passes_processed(&[], false) } else { Effects::default() };
        effects.touched.extend(ops.iter().filter_map(Op::org));
        effects.outcome = outcomes.join(" | ");
        Ok(effects)
    }

    async fn digest(&self, org: usize) -> Step<Digest> {
        let mut conn = self.reader().await?;
        digest(&mut conn, &self.model.orgs[org].id).await
    }

    /// After a use case that collided and ran again: its effect is there once.
    fn once(&self, op: &Op, outcome: &str, before: &Digest, after: &Digest) -> Step<()> {
        let ok = outcome.starts_with("ok");
        let (what, expected, actual) = match op {
            Op::Deposit { .. } if ok => ("ledger entries", before.entries + 2, after.entries),
            Op::Purchase { .. } | Op::Refund { .. } if ok => {
                if after.entries != before.entries + 2 {
                    return Err(Violation::new(
                        invariant::ONCE,
                        format!("{op}: entries went from {} to {}", before.entries, after.entries),
                    ));
                }
                ("card transactions", before.card_transactions + 1, after.card_transactions)
            }
            Op::IssueCard { .. } if ok => {
                ("cards", before.cards.len() as i64 + 1, after.cards.len() as i64)
            }
            Op::Transfer { .. } if ok => ("transfers", before.transfers() + 1, after.transfers()),
            Op::Trigger { .. } if ok => ("executions", before.executions + 1, after.executions),
            Op::CreateRule { .. } if ok => {
                ("rules", before.rules.len() as i64 + 1, after.rules.len() as i64)
            }
            Op::OpenAccount { .. } | Op::LinkExternal { .. } if ok => {
                ("accounts", before.accounts.len() as i64 + 1, after.accounts.len() as i64)
            }
            _ if !ok => ("anything", 0, i64::from(before != after)),
            _ => return Ok(()),
        };
        if expected != actual {
            return Err(Violation::new(
                invariant::ONCE,
                format!(
                    "{op}: {what} went from {before:?} to {after:?}; expected {expected}, found {actual}"
                ),
            ));
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    async fn top_up_probe(
        &mut self,
        org: usize,
        funds: Cents,
        target: Cents,
        cap: Option<TransferCap>,
        on_funds: bool,
        sequential: u32,
        parallel: u32,
    ) -> Step<String> {
        let (Some(source), _) =
            self.open_account(org, AccountKind::Pod, false, Mode::Normal).await?
        else {
            return Ok("could not open the source".to_owned());
        };
        let (Some(pod), _) = self.open_account(org, AccountKind::Pod, true, Mode::Normal).await?
        else {
            return Ok("could not open the probe pod".to_owned());
        };
        self.model.orgs[org].probes.push(Probe { pod: pod.clone(), target });
        let source_ref =
            AccountRef { id: source.clone(), label: self.model.account_label(org, &source) };
        let deposit = |amount: Cents| Op::Deposit {
            org,
            account: source_ref.clone(),
            amount,
            origin: TransferOrigin::Paycheck,
            foreign: false,
        };
        // Funded before the rule exists, so funding does not trigger it.
        let funded = self.shared(&deposit(funds), Mode::Normal, true).await?;
        let index = self.model.orgs[org].rules.len();
        let draft = RuleDraft {
            nickname: format!("r{index}v{}", self.model.orgs[org].versions + 1),
            description: None,
            status: RuleStatus::Disabled,
            trigger: TriggerDraft {
                kind: if on_funds { TriggerKind::OnFundsTransferred } else { TriggerKind::Manual },
                account_id: on_funds.then(|| source.clone()),
                schedule_type: None,
                start_date: None,
            },
            steps: vec![StepDraft {
                conditions: None,
                actions: vec![ActionDraft {
                    action_type: ActionType::TopUp,
                    source_account_id: source.clone(),
                    destination_account_id: pod.clone(),
                    group_index: 0,
                    up_to_enabled: false,
                    limit: cap,
                    amount_in_cents: Some(target),
                    percentage_value: None,
                    percentage_target: None,
                }],
            }],
        };
        let (Some(rule), created) = self.create_rule(org, &draft, true, Mode::Normal).await? else {
            return Ok(format!("funded {funded}"));
        };
        let enabled = self.switch(org, rule, true, Mode::Normal).await?;
        let trigger_op = Op::Trigger { org, rule, amount: None, simulation: false, foreign: None };
        let small_deposit = deposit(Cents::new(100 + i64::from(sequential) * 7));
        let mut outcomes = vec![format!("funded {funded}, rule {created}, {enabled}")];
        for _ in 0..sequential {
            let op = if on_funds { &small_deposit } else { &trigger_op };
            outcomes.push(self.shared(op, Mode::Normal, true).await?);
        }
        if parallel > 0 {
            let this = &*self;
            let runs: Vec<_> = (0..parallel)
                .map(|_| {
                    this.shared(
                        if on_funds { &small_deposit } else { &trigger_op },
                        Mode::Normal,
                        false,
                    )
                })
                .collect();
            for result in futures::future::join_all(runs).await {
                outcomes.push(result?);
            }
        }
        Ok(outcomes.join(", "))
    }

    async fn hostile(&mut self, kind: HostileKind) -> Step<Effects> {
        let (Some(org), _) = self.create_org(Mode::Normal).await? else {
            return Ok(Effects::default());
        };
        let (Some(pod), _) = self.open_account(org, AccountKind::Pod, false, Mode::Normal).await?
        else {
            return Ok(Effects::default());
        };
        let pod_ref = AccountRef { id: pod.clone(), label: self.model.account_label(org, &pod) };
        let funded = self
            .shared(
                &Op::Deposit {
                    org,
                    account: pod_ref.clone(),
                    amount: Cents::new(100_000),
                    origin: TransferOrigin::Paycheck,
                    foreign: false,
                },
                Mode::Normal,
                true,
            )
            .await?;
        let org_id = self.org_id(org);
        let hostility = match kind {
            HostileKind::ReportedBalanceOverflow => {
                // Beyond the schema's bound on reported balances: only a broken import or an
                // old release could have stored it.
                let input = ExternalAccount {
                    name: "Overflowing".to_owned(),
                    institution_name: "Bank".to_owned(),
                    kind: ExternalAccountType::Depository,
                    balance: Cents::new(i64::MAX - 10),
                    last_statement_balance: None,
                    next_payment_minimum: None,
                    next_payment_due_date: None,
                };
                let (Some(external), _) = self.link_external(org, input, Mode::Normal).await?
                else {
                    return Ok(Effects::default());
                };
                let app = &self.a;
                let request = TransferRequest {
                    source_account_id: pod.to_string(),
                    destination_account_id: external.to_string(),
                    amount: Cents::new(1_000),
                    description: None,
                    simulation: false,
                };
                let answer = self
                    .call(app, Mode::Normal, "hostile transfer", |mut tx| {
                        let (org_id, request) = (org_id.clone(), request.clone());
                        async move {
                            let r = transfers::create(app, &mut tx, &org_id, request).await;
                            (tx, r)
                        }
                    })
                    .await?;
                match answer {
                    Ok(view) => Hostility::ReportedBalanceOverflow { transfer: view.transfer.id },
                    Err(error) => {
                        return Err(Violation::new(
                            invariant::NO_INTERNAL,
                            format!("the hostile organization's payment was refused: {error}"),
                        ));
                    }
                }
            }
            HostileKind::CorruptClock => {
                let mut conn = self.reader().await?;
                sqlx::query("UPDATE organizations SET clock_offset_seconds = $1 WHERE id = $2")
                    .bind(CLOCK_OFFSET_SECONDS_MAX + 1_000)
                    .bind(org_id.as_str())
                    .execute(&mut *conn)
                    .await
                    .map_err(|e| {
                        Violation::new(invariant::READABLE, format!("planting a clock: {e}"))
                    })?;
                Hostility::CorruptClock
            }
            HostileKind::CorruptRule => {
                let (Some(income), _) =
                    self.open_account(org, AccountKind::IncomeSource, false, Mode::Normal).await?
                else {
                    return Ok(Effects::default());
                };
                let index = self.model.orgs[org].rules.len();
                let draft = RuleDraft {
                    nickname: format!("r{index}v{}", self.model.orgs[org].versions + 1),
                    description: None,
                    status: RuleStatus::Disabled,
                    trigger: TriggerDraft {
                        kind: TriggerKind::Scheduled,
                        account_id: None,
                        schedule_type: Some(ScheduleKind::Daily),
                        start_date: Some(self.org_now(org)),
                    },
                    steps: vec![StepDraft {
                        conditions: None,
                        actions: vec![ActionDraft {
                            action_type: ActionType::Fixed,
                            source_account_id: income,
                            destination_account_id: pod.clone(),
                            group_index: 0,
                            up_to_enabled: true,
                            limit: None,
                            amount_in_cents: Some(Cents::new(100)),
                            percentage_value: None,
                            percentage_target: None,
                        }],
                    }],
                };
                let (Some(rule), _) = self.create_rule(org, &draft, false, Mode::Normal).await?
                else {
                    return Ok(Effects::default());
                };
                self.switch(org, rule, true, Mode::Normal).await?;
                let rule_id = self.model.orgs[org].rules[rule].id.clone();
                let mut conn = self.reader().await?;
                sqlx::query("UPDATE rules SET definition = $1 WHERE id = $2")
                    .bind("{\"not\": \"a rule\"}")
                    .bind(rule_id.as_str())
                    .execute(&mut *conn)
                    .await
                    .map_err(|e| {
                        Violation::new(invariant::READABLE, format!("planting a rule: {e}"))
                    })?;
                // The model no longer follows this rule's schedule.
                let r = &mut self.model.orgs[org].rules[rule];
                r.windows.clear();
                r.verified_until = None;
                Hostility::CorruptRule { rule: rule_id }
            }
        };
        self.model.orgs[org].hostile = Some(hostility.clone());
        Ok(Effects::org(Some(org), format!("o{org} is hostile ({hostility:?}); funded {funded}")))
    }
}

/// Transfers of the organization waiting for approval (or any, when `any_status`), oldest first.
async fn waiting_transfers(
    conn: &mut AnyConnection,
    org: &OrgId,
    any_status: bool,
) -> Step<Vec<TransferId>> {
    let sql = if any_status {
        "SELECT id FROM transfers WHERE org_id = $1 ORDER BY created_at_ms, id LIMIT 50"
    } else {
        "SELECT id FROM transfers WHERE org_id = $1 AND status = 'pending_approval' AND simulation = 0 \
         ORDER BY created_at_ms, id LIMIT 50"
    };
    let rows = sqlx::query(sql)
        .bind(org.as_str())
        .fetch_all(&mut *conn)
        .await
        .map_err(|e| Violation::new(invariant::READABLE, format!("listing transfers: {e}")))?;
    rows.iter()
        .map(|row| row.try_get::<String, _>(0).map(TransferId::from_raw))
        .collect::<Result<_, _>>()
        .map_err(|e| Violation::new(invariant::READABLE, format!("listing transfers: {e}")))
}

/// Whether `transfer` still has a settlement step due at `now`.
async fn still_due(
    conn: &mut AnyConnection,
    org: &OrgId,
    transfer: &TransferId,
    now: DateTime<Utc>,
) -> Step<bool> {
    let row = sqlx::query(
        "SELECT COUNT(*) FROM transfers WHERE org_id = $1 AND id = $2 AND next_step_at_ms IS NOT NULL AND next_step_at_ms <= $3",
    )
    .bind(org.as_str())
    .bind(transfer.as_str())
    .bind(to_millis(now))
    .fetch_one(&mut *conn)
    .await
    .map_err(|e| Violation::new(invariant::READABLE, format!("reading a transfer: {e}")))?;
    let due: i64 =
        row.try_get(0).map_err(|e| Violation::new(invariant::READABLE, e.to_string()))?;
    Ok(due > 0)
}

/// A card's purchases as `(id, amount left to refund)`, oldest first, and the ids a refund of it
/// must refuse: its refunds, and purchases of the organization's other cards.
async fn card_purchases(
    conn: &mut AnyConnection,
    org: &OrgId,
    card: &CardId,
) -> Step<(Vec<(String, i64)>, Vec<String>)> {
    let unreadable =
        |e: sqlx::Error| Violation::new(invariant::READABLE, format!("purchases: {e}"));
    let rows = sqlx::query(
        "SELECT id, card_id, direction, amount_cents - COALESCE(refunded_cents, 0) FROM card_transactions \
         WHERE org_id = $1 ORDER BY created_at_ms, id LIMIT 200",
    )
    .bind(org.as_str())
    .fetch_all(&mut *conn)
    .await
    .map_err(unreadable)?;
    let (mut purchases, mut strays) = (Vec::new(), Vec::new());
    for row in &rows {
        let id: String = row.try_get(0).map_err(unreadable)?;
        let of: String = row.try_get(1).map_err(unreadable)?;
        let direction: String = row.try_get(2).map_err(unreadable)?;
        let left: i64 = row.try_get(3).map_err(unreadable)?;
        if of == card.as_str() && direction == "debit" {
            purchases.push((id, left));
        } else {
            strays.push(id);
        }
    }
    Ok((purchases, strays))
}

async fn digest(conn: &mut AnyConnection, org: &OrgId) -> Step<Digest> {
    let unreadable = |e: sqlx::Error| Violation::new(invariant::READABLE, format!("digest: {e}"));
    let org = org.as_str();
    let mut transfers_by_status = BTreeMap::new();
    for row in
        sqlx::query("SELECT status, COUNT(*) FROM transfers WHERE org_id = $1 GROUP BY status")
            .bind(org)
            .fetch_all(&mut *conn)
            .await
            .map_err(unreadable)?
    {
        transfers_by_status
            .insert(row.try_get(0).map_err(unreadable)?, row.try_get(1).map_err(unreadable)?);
    }
    let count = async |conn: &mut AnyConnection, sql: &'static str| -> Step<i64> {
        let row = sqlx::query(sql).bind(org).fetch_one(&mut *conn).await.map_err(unreadable)?;
        row.try_get(0).map_err(unreadable)
    };
    let entries = count(conn, "SELECT COUNT(*) FROM entries WHERE org_id = $1").await?;
    let executions = count(conn, "SELECT COUNT(*) FROM rule_executions WHERE org_id = $1").await?;
    let card_transactions =
        count(conn, "SELECT COUNT(*) FROM card_transactions WHERE org_id = $1").await?;
    let mut cards = Vec::new();
    for row in sqlx::query("SELECT id, status FROM cards WHERE org_id = $1 ORDER BY id")
        .bind(org)
        .fetch_all(&mut *conn)
        .await
        .map_err(unreadable)?
    {
        cards.push((row.try_get(0).map_err(unreadable)?, row.try_get(1).map_err(unreadable)?));
    }
    let mut rules = Vec::new();
    for row in sqlx::query(
        "SELECT id, status, next_run_at_ms, deleted_at_ms, updated_at_ms FROM rules WHERE org_id = $1 ORDER BY id",
    )
    .bind(org)
    .fetch_all(&mut *conn)
    .await
    .map_err(unreadable)?
    {
        rules.push((
            row.try_get(0).map_err(unreadable)?,
            row.try_get(1).map_err(unreadable)?,
            row.try_get(2).map_err(unreadable)?,
            row.try_get(3).map_err(unreadable)?,
            row.try_get(4).map_err(unreadable)?,
        ));
    }
    let mut accounts = Vec::new();
    for row in sqlx::query(
        "SELECT id, balance_cents, reserved_cents, deleted_at_ms FROM accounts WHERE org_id = $1 ORDER BY id",
    )
    .bind(org)
    .fetch_all(&mut *conn)
    .await
    .map_err(unreadable)?
    {
        accounts.push((
            row.try_get(0).map_err(unreadable)?,
            row.try_get(1).map_err(unreadable)?,
            row.try_get(2).map_err(unreadable)?,
            row.try_get(3).map_err(unreadable)?,
        ));
    }
    let row = sqlx::query(
        "SELECT clock_offset_seconds, approval_threshold_cents FROM organizations WHERE id = $1",
    )
    .bind(org)
    .fetch_one(&mut *conn)
    .await
    .map_err(unreadable)?;
    Ok(Digest {
        transfers_by_status,
        entries,
        card_transactions,
        cards,
        executions,
        rules,
        accounts,
        offset: row.try_get(0).map_err(unreadable)?,
        threshold: row.try_get(1).map_err(unreadable)?,
    })
}
