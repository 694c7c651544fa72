//! The background worker: settles what became due in real time and runs scheduled rules, for
//! every organization, every interval. Safe with several replicas: each settlement step and each
//! scheduled occurrence is a conditional update applied once.
//!
//! **Tenant isolation.** Each organization's due work runs in its own transaction, and its
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

/// Whether `org` has anything due now (a read, no lock).
async fn has_due_work(app: &App, org: &OrgId) -> Result<bool, AppError> {
    let mut conn = app.store.pool().acquire().await.map_err(sequence_store::StoreError::from)?;
    let (_, now) = app.organization(&mut conn, org).await?;
    Ok(!transfers::due(&mut conn, org, now, 1).await?.is_empty()
        || rules::next_due(&mut conn, org, now).await?.is_some())
}

/// Processes one organization's due work in one transaction. Returns (settled, executed).
pub async fn process_organization(app: &App, org: &OrgId) -> Result<(u32, u32), AppError> {
    if !has_due_work(app, org).await? {
        return Ok((0, 0));
    }
    unit_of_work::run(&app.store, |mut tx| async move {
        let result = async {
            let (org, now) = app.organization(&mut tx, org).await?;
            sandbox::process_everything_due(&mut tx, &org, now).await
        }
        .await;
        (tx, result)
    })
    .await
}

/// One pass over every organization (see the module docs). Only listing the organizations can
/// fail the pass as a whole.
pub async fn tick(app: &App) -> Result<Pass, AppError> {
    let ids = {
        let mut conn =
            app.store.pool().acquire().await.map_err(sequence_store::StoreError::from)?;
        orgs::list_ids(&mut conn).await?
    };
    let mut pass = Pass::default();
    for id in ids {
        // A panic inside one organization's use case is caught here, like an error: the
        // transaction it held is dropped (rolled back) as the future unwinds.
        let outcome = AssertUnwindSafe(process_organization(app, &id)).catch_unwind().await;
        let failure = match outcome {
            Ok(Ok((settled, executed))) => {
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
