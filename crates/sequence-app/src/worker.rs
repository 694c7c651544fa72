//! The background worker: settles what became due in real time and runs scheduled rules, for
//! every organization, every interval. Safe with several replicas: each settlement step and each
//! scheduled occurrence is a conditional update applied once.
//!
//! **Tenant isolation.** Each organization's due work runs in its own short transactions (at
//! most [`STEPS_PER_TRANSACTION`] settlement steps each, a bounded number of them per pass, so
//! neither requests nor other organizations wait for a backlog), and its
//! failure (an error, a broken invariant, even a panic in a use case) is logged with the
//! organization's id and contained: the pass goes on with the next organization, and the failed
//! one is tried again on the next pass. One organization's data can never stop, delay or fail
//! another organization's settlement.
//!
//! **Cheap idle passes.** The worker looks for due work on a read connection before it takes the
//! write lock (on SQLite, the whole database's), so a pass that finds nothing never makes
//! requests wait.

use std::panic::AssertUnwindSafe;
use std::time::Duration;

use futures::FutureExt;
use sequence_core::ids::OrgId;
use sequence_store::{orgs, rules, transfers};

use crate::{App, AppError, sandbox, unit_of_work};

/// What one pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pass {
    /// Organizations that had due work and processed it.
    pub processed: u32,
    /// Transfers that completed.
    pub transfers_settled: u32,
    /// Scheduled executions that ran.
    pub rules_executed: u32,
    /// Organizations whose work failed this pass (logged), with why.
    pub failed: Vec<(OrgId, String)>,
}

/// Metric: seconds one pass over every organization took.
pub const TICK_METRIC: &str = "sequence_worker_tick_seconds";
/// Metric: due work found by the last pass (settlement steps, counted up to
/// [`DUE_COUNT_MAX`] per organization, plus organizations with a scheduled occurrence due).
pub const DUE_METRIC: &str = "sequence_due_work";
/// Metric: organizations whose due work failed in the last pass.
pub const FAILED_METRIC: &str = "sequence_worker_failed_organizations";

/// How many due settlement steps are counted per organization for [`DUE_METRIC`].
const DUE_COUNT_MAX: u32 = 1_000;

/// How much `org` has due now (a read, no lock): settlement steps (up to [`DUE_COUNT_MAX`])
/// plus one if a scheduled occurrence is due.
async fn due_work(app: &App, org: &OrgId) -> Result<u32, AppError> {
    let mut conn = app.store.read().await?;
    let (_, now) = app.organization(&mut conn, org).await?;
    let steps = transfers::due(&mut conn, org, now, DUE_COUNT_MAX).await?.len();
    let schedules = rules::next_due(&mut conn, org, now).await?.is_some();
    Ok(u32::try_from(steps).unwrap_or(DUE_COUNT_MAX) + u32::from(schedules))
}

/// Settlement steps one worker transaction applies at most. The worker's transaction holds the
/// writer (on SQLite, the whole database's; on PostgreSQL, the rows of the accounts it posts to)
/// while it runs; bounding it keeps requests that queue behind it from waiting for a whole backlog
/// (measured: a pass settling 1,200 transfers in one transaction held createTransfer requests for
/// up to 0.9 s on SQLite; on PostgreSQL its out-of-order account locks deadlocked with them).
pub const STEPS_PER_TRANSACTION: u32 = 50;

/// Slices one organization gets per pass at most ([`STEPS_PER_TRANSACTION`] steps each); the
/// rest waits for the next pass, so a huge backlog in one organization delays the others' work by
/// at most this many short transactions.
pub const TRANSACTIONS_PER_PASS_MAX: u32 = 200;

/// Processes one organization's due work, in short transactions of at most
/// [`STEPS_PER_TRANSACTION`] settlement steps each (see `sandbox::process_due_slice`; every
/// slice but the last makes progress, so the loop ends). Returns (due work found, settled,
/// executed).
pub async fn process_organization(app: &App, org: &OrgId) -> Result<(u32, u32, u32), AppError> {
    let due = due_work(app, org).await?;
    if due == 0 {
        return Ok((0, 0, 0));
    }
    let (mut settled, mut executed) = (0_u32, 0_u32);
    for _ in 0..TRANSACTIONS_PER_PASS_MAX {
        let (slice_settled, slice_executed, more) =
            unit_of_work::run(&app.store, |mut tx| async move {
                let result = async {
                    let (org, now) = app.organization(&mut tx, org).await?;
                    sandbox::process_due_slice(&mut tx, &org, now, STEPS_PER_TRANSACTION).await
                }
                .await;
                (tx, result)
            })
            .await?;
        settled = settled.saturating_add(slice_settled);
        executed = executed.saturating_add(slice_executed);
        if !more {
            break;
        }
    }
    Ok((due, settled, executed))
}

/// One pass over every organization (see the module docs). Only listing the organizations can
/// fail the pass as a whole.
pub async fn tick(app: &App) -> Result<Pass, AppError> {
    let started = std::time::Instant::now();
    let ids = {
        let mut conn = app.store.read().await?;
        orgs::list_ids(&mut conn).await?
    };
    let mut pass = Pass::default();
    let mut due_total: u32 = 0;
    for id in ids {
        // A panic inside one organization's use case is caught here, like an error: the
        // transaction it held is dropped (rolled back) as the future unwinds.
        let outcome = AssertUnwindSafe(process_organization(app, &id)).catch_unwind().await;
        let failure = match outcome {
            Ok(Ok((due, settled, executed))) => {
                due_total = due_total.saturating_add(due);
                if settled > 0 || executed > 0 {
                    pass.processed += 1;
                }
                pass.transfers_settled = pass.transfers_settled.saturating_add(settled);
                pass.rules_executed = pass.rules_executed.saturating_add(executed);
                continue;
            }
            Ok(Err(error)) => error.to_string(),
            Err(panic) => panic_message(panic.as_ref()),
        };
        tracing::error!(org = %id, error = %failure, "an organization's due work failed; other organizations go on, and it is retried next pass");
        pass.failed.push((id, failure));
    }
    metrics::gauge!(DUE_METRIC).set(f64::from(due_total));
    metrics::gauge!(FAILED_METRIC).set(pass.failed.len() as f64);
    metrics::histogram!(TICK_METRIC).record(started.elapsed());
    Ok(pass)
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    let text = panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".to_owned());
    format!("panicked: {text}")
}

/// Runs [`tick`] every `interval`, forever.
pub async fn run(app: App, interval: Duration) {
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        if let Err(error) = tick(&app).await {
            tracing::warn!(%error, "the background pass could not list organizations; retrying next tick");
        }
    }
}
