//! The ledger's use cases: accepting transfers, moving them through their lifecycle, posting,
//! deposits, linked external accounts and approvals. Shared by the transfers API, the sandbox and
//! the rules engine; every function runs inside the caller's transaction.
//!
//! Money invariants (see ARCHITECTURE.md):
//! - funds are reserved at acceptance by one conditional update (`ledger::reserve`: "reserve 500
//!   if the available balance is at least 500"), so concurrent transfers never overdraw;
//! - both sides of a transfer are locked (`accounts::lock_live`, in id order) before it is
//!   accepted or posted, so a concurrent deletion cannot strand money;
//! - postings are written only when a transfer completes, each an immutable entry with the
//!   balance before and after;
//! - a transfer's status only moves by a conditional update from the status it was read in
//!   (`transfers::update_if_status`), so each step applies exactly once even with several
//!   replicas processing the same organization.
//! - every transfer recorded and every status change is reported to [`crate::events::record`] in
//!   the same transaction (`transfer.created`, `transfer.approval_required`,
//!   `transfer.status_changed` with the previous status), right after the insert or the
//!   conditional update that made it.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use sequence_core::ids::{AccountId, OrgId, RuleExecutionId, RuleId, TransferId};
use sequence_core::ledger::{
    AcceptanceRequest, AccountKind, AccountView, Endpoint, ExecutionMode, ExternalAccountType,
    ReportedBalances, TransferDirection, TransferErrorCode, TransferEvent, TransferLegs,
    TransferOrigin, TransferSide, TransferStatus, plan_acceptance, postings_for,
    reported_balances_after, settlement_plan, transition, validate_deposit,
};
use sequence_core::money::Cents;
use sequence_store::accounts::{self, AccountRecord};
use sequence_store::ledger::Movement;
use sequence_store::orgs::Organization;
use sequence_store::transfers::{self, TransferRecord};
use sequence_store::{AnyConnection, StoreError, Tx, ledger};

use crate::events::{self, Event};
use crate::{App, AppError, Resource, rule_hooks};

/// Upper bound on settlement steps applied by one call: a bug can never loop forever; reaching it
/// stops the call with an error (the organization's work is retried on the next pass).
const STEPS_PER_CALL_MAX: u32 = 100_000;

/// Metric: seconds between a settlement step's due time and when it was applied.
pub const SETTLEMENT_LAG_METRIC: &str = "sequence_settlement_lag_seconds";

/// A transfer to accept: both sides already loaded and validated by the caller.
pub struct NewTransfer<'a> {
    /// Where the money comes from (`None`: the outside world).
    pub source: Option<&'a AccountRecord>,
    /// Where it goes.
    pub destination: Option<&'a AccountRecord>,
    /// How much.
    pub amount: Cents,
    /// Why.
    pub origin: TransferOrigin,
    /// ACH label.
    pub description: Option<String>,
    /// Simulated: recorded, never moves or reserves money.
    pub simulation: bool,
    /// The rule and execution that made it.
    pub rule: Option<(RuleId, RuleExecutionId)>,
}

/// A transfer with every account it names (deleted ones included), for rendering.
#[derive(Debug, Clone)]
pub struct TransferView {
    /// The transfer.
    pub transfer: TransferRecord,
    /// Its source and destination, by id (system accounts are never among them).
    pub accounts: BTreeMap<String, AccountRecord>,
}

pub(crate) fn endpoint(account: Option<&AccountRecord>) -> Endpoint {
    match account {
        Some(a) => Endpoint::Account { id: a.id.clone(), kind: a.kind },
        None => Endpoint::OutsideWorld,
    }
}

/// The account view the core's validations take.
pub(crate) fn account_view(account: &AccountRecord) -> AccountView {
    AccountView { id: account.id.clone(), kind: account.kind, is_deleted: account.is_deleted() }
}

impl TransferView {
    /// `transfer` with `accounts`, which must include every account it names.
    pub fn of(transfer: TransferRecord, accounts: impl IntoIterator<Item = AccountRecord>) -> Self {
        let accounts = accounts.into_iter().map(|a| (a.id.to_string(), a)).collect();
        TransferView { transfer, accounts }
    }
}

/// `transfer` with the accounts it names.
pub async fn transfer_view(
    conn: &mut AnyConnection,
    transfer: TransferRecord,
) -> Result<TransferView, AppError> {
    let ids: Vec<&AccountId> = transfer.source.iter().chain(transfer.destination.iter()).collect();
    let accounts = accounts::by_ids(conn, &transfer.org_id, &ids).await?;
    Ok(TransferView { transfer, accounts })
}

/// Accepts a transfer: decides its initial status (insufficient funds, approval, processing),
/// reserves the funds atomically, schedules its settlement and records it.
///
/// Precondition: the caller has locked both sides (`accounts::lock_and_find_all` or
/// `accounts::lock_live`, in id order) and read `new.source` and `new.destination` after taking
/// the locks, as `transfers::create` and the rules engine's `run_rule` do; so their deletion
/// state is current and cannot change before the transaction ends.
pub async fn accept_transfer(
    tx: &mut Tx,
    org: &Organization,
    new: NewTransfer<'_>,
    now: DateTime<Utc>,
) -> Result<TransferRecord, AppError> {
    let direction = TransferDirection::between(&endpoint(new.source), &endpoint(new.destination))
        .map_err(AppError::internal)?;
    let internal_source = new.source.filter(|s| s.kind.is_internal());
    let mode = if new.simulation { ExecutionMode::Simulation } else { ExecutionMode::Live };
    let request = AcceptanceRequest {
        amount: new.amount,
        source_available: internal_source.map(AccountRecord::available),
        mode,
        approval_threshold: org.approval_threshold,
    };
    let mut acceptance = plan_acceptance(&request);
    // The caller locked both sides (in id order, as postings do) before reading them, so their
    // deletion state is current and stays so: a side deleted before the lock fails the
    // transfer instead of leaving it in flight to or from a deleted account.
    if [new.source, new.destination].into_iter().flatten().any(AccountRecord::is_deleted) {
        acceptance.status = TransferStatus::Error;
        acceptance.error_code = Some(TransferErrorCode::AccountDeleted);
        acceptance.reserves_funds = false;
    }
    let mut reserved = Cents::ZERO;
    if let (true, Some(source)) = (acceptance.reserves_funds, internal_source) {
        // The conditional reservation is what makes the "enough available" decision hold.
        if ledger::reserve(tx, &org.id, &source.id, new.amount).await? {
            reserved = new.amount;
        } else {
            // A concurrent transfer took the money between our read and the reservation.
            acceptance.status = TransferStatus::Error;
            acceptance.error_code = Some(TransferErrorCode::InsufficientFunds);
        }
    }
    let processing = acceptance.status == TransferStatus::Processing && !new.simulation;
    let next_step_at = processing
        .then(|| settlement_plan(direction, now).next_step(acceptance.status).map(|step| step.at))
        .flatten();
    let (rule_id, rule_execution_id) = new.rule.map_or((None, None), |(r, e)| (Some(r), Some(e)));
    let record = TransferRecord {
        id: TransferId::generate(),
        org_id: org.id.clone(),
        source: new.source.map(|a| a.id.clone()),
        destination: new.destination.map(|a| a.id.clone()),
        amount: new.amount,
        direction,
        origin: new.origin,
        status: acceptance.status,
        error_code: acceptance.error_code,
        description: new.description,
        simulation: new.simulation,
        reserved,
        rule_id,
        rule_execution_id,
        processing_started_at: processing.then_some(now),
        next_step_at,
        created_at: now,
        updated_at: now,
        completed_at: None,
    };
    transfers::insert(tx, &record).await?;
    events::transfer_created(tx, org, &record).await?;
    Ok(record)
}

/// Applies every settlement step of `org` due at `now`, oldest first, inside `tx`. Returns how
/// many transfers completed.
///
/// Progress: each step moves one transfer's status forward by a conditional update (or finds it
/// moved by another worker), and a transfer's next step is strictly later than its last, so the
/// loop ends; [`STEPS_PER_CALL_MAX`] turns a bug into an error instead of a hang.
pub async fn process_due(
    tx: &mut Tx,
    org: &Organization,
    now: DateTime<Utc>,
) -> Result<u32, AppError> {
    let mut completed = 0;
    let mut steps = 0;
    let mut shared = SharedReads::default();
    loop {
        let due = transfers::due_records(tx, &org.id, now, 100).await?;
        if due.is_empty() {
            return Ok(completed);
        }
        for transfer in due {
            steps += 1;
            if steps > STEPS_PER_CALL_MAX {
                return Err(AppError::internal(format!(
                    "organization {}: settlement step limit reached",
                    org.id
                )));
            }
            if apply_settlement_step(tx, org, transfer, now, &mut shared).await?
                == Some(TransferStatus::Complete)
            {
                completed += 1;
            }
        }
    }
}

/// At most `max_steps` of the settlement steps of `org` due at `now`, oldest first, inside `tx`:
/// the background worker's bounded slice of [`process_due`]. Returns how many transfers completed
/// and whether steps may still be due (the budget ran out first). Each step taken is progress
/// (see [`process_due`]), so a caller repeating full slices ends.
///
/// On PostgreSQL the slice looks at what is due once and locks every account those steps name
/// first, in id order (`accounts::lock_live`, the order requests lock in), before the first step:
/// taking each step's locks as it comes would hold the accounts of earlier steps while locking
/// later ones out of that order, and deadlock with requests (which PostgreSQL breaks only after
/// `deadlock_timeout`). On SQLite the write transaction excludes every other writer, so it just
/// takes steps until the budget or the due work runs out.
pub async fn process_due_at_most(
    tx: &mut Tx,
    org: &Organization,
    now: DateTime<Utc>,
    max_steps: u32,
) -> Result<(u32, bool), AppError> {
    let mut completed = 0;
    let mut shared = SharedReads::default();
    if tx.backend_name() == "PostgreSQL" {
        let due = transfers::due_with_sides(tx, &org.id, now, max_steps).await?;
        let full = due.len() >= usize::try_from(max_steps).unwrap_or(usize::MAX);
        let named: std::collections::BTreeSet<&AccountId> = due
            .iter()
            .flat_map(|(_, source, destination)| source.iter().chain(destination))
            .collect();
        for account in named {
            accounts::lock_live(tx, &org.id, account.as_str()).await?;
        }
        for (id, _, _) in &due {
            // Read after the locks: what the list said may have moved on while they were taken.
            let Some(transfer) = transfers::find(tx, &org.id, id.as_str()).await? else {
                continue;
            };
            if apply_settlement_step(tx, org, transfer, now, &mut shared).await?
                == Some(TransferStatus::Complete)
            {
                completed += 1;
            }
        }
        // A step can make its transfer's next step due at once; the next slice takes it.
        return Ok((completed, full || !due.is_empty()));
    }
    let mut steps = 0_u32;
    while steps < max_steps {
        // A step can make the same transfer's next step due at once (an internal transfer is
        // submitted and settled at times both past), so look again until nothing is due.
        let due = transfers::due_records(tx, &org.id, now, max_steps - steps).await?;
        if due.is_empty() {
            return Ok((completed, false));
        }
        for transfer in due {
            steps += 1;
            if apply_settlement_step(tx, org, transfer, now, &mut shared).await?
                == Some(TransferStatus::Complete)
            {
                completed += 1;
            }
        }
    }
    Ok((completed, true))
}

/// What the steps of one settlement call read once and share, instead of once per step: the
/// organization's webhook endpoints and the rules watching accounts for arriving funds (see
/// [`events::Subscribers`] and [`rule_hooks::FundsWatchers`]).
#[derive(Debug, Default)]
struct SharedReads {
    subscribers: events::Subscribers,
    watchers: rule_hooks::FundsWatchers,
}

/// Moves one transfer, as read in this transaction, one step along its schedule (`processing` →
/// `pending` → `complete`). Returns the new status, or `None` if another worker moved it first
/// (the update is conditional on the status read; its next step is then strictly later) or it
/// had no step to take (then it is unscheduled, so the caller's loop cannot meet it again).
async fn apply_settlement_step(
    tx: &mut Tx,
    org: &Organization,
    transfer: TransferRecord,
    now: DateTime<Utc>,
    shared: &mut SharedReads,
) -> Result<Option<TransferStatus>, AppError> {
    let Some(started) = transfer.processing_started_at else {
        return unschedule(tx, &transfer, "it never started processing").await;
    };
    let plan = settlement_plan(transfer.direction, started);
    let Some(step) = plan.next_step(transfer.status) else {
        return unschedule(tx, &transfer, "its status has no next step").await;
    };
    let status = transition(transfer.status, step.event).map_err(AppError::internal)?;
    let mut updated = TransferRecord {
        status,
        next_step_at: plan.next_step(status).map(|s| s.at),
        updated_at: step.at,
        ..transfer.clone()
    };
    if step.event == TransferEvent::Settle {
        updated.completed_at = Some(step.at);
        updated.reserved = Cents::ZERO;
    }
    if !transfers::update_if_status(tx, &updated, transfer.status).await? {
        return Ok(None);
    }
    let changed = Event::TransferStatusChanged { transfer: &updated, previous: transfer.status };
    events::record_for(tx, org, step.at, changed, &mut shared.subscribers).await?;
    // How late the step is applied: zero when a clock advance applies it, about a worker interval
    // in real time, more when settlement falls behind.
    let lag = (now - step.at).to_std().unwrap_or_default();
    metrics::histogram!(SETTLEMENT_LAG_METRIC).record(lag);
    if step.event == TransferEvent::Settle {
        post_transfer(tx, org, &transfer, step.at).await?;
        if updated.rule_execution_id.is_none() {
            rule_hooks::on_funds_arrived_watched_by(
                tx,
                org,
                &updated,
                step.at,
                &mut shared.watchers,
            )
            .await?;
        }
    }
    if updated.rule_execution_id.is_some() {
        rule_hooks::on_rule_transfer_changed(tx, org, &updated, step.at).await?;
    }
    Ok(Some(status))
}

/// A transfer scheduled for a step it cannot take (a broken invariant): logged and unscheduled
/// (conditionally on its status), so that settlement makes progress past it.
async fn unschedule(
    tx: &mut Tx,
    transfer: &TransferRecord,
    why: &str,
) -> Result<Option<TransferStatus>, AppError> {
    tracing::error!(org = %transfer.org_id, transfer = %transfer.id, status = %transfer.status, why, "unscheduling a transfer with no settlement step to take");
    let unscheduled = TransferRecord { next_step_at: None, ..transfer.clone() };
    transfers::update_if_status(tx, &unscheduled, transfer.status).await?;
    Ok(None)
}

/// Writes a completed transfer's ledger entries and updates linked external accounts' reported
/// balances.
pub(crate) async fn post_transfer(
    tx: &mut Tx,
    org: &Organization,
    transfer: &TransferRecord,
    at: DateTime<Utc>,
) -> Result<(), AppError> {
    let ids: Vec<&AccountId> = transfer.source.iter().chain(transfer.destination.iter()).collect();
    let sides = accounts::by_ids(tx, &org.id, &ids).await?;
    let side = |id: &Option<AccountId>| id.as_ref().and_then(|id| sides.get(id.as_str()));
    let legs = TransferLegs {
        source: endpoint(side(&transfer.source)),
        destination: endpoint(side(&transfer.destination)),
        amount: transfer.amount,
    };
    let postings = postings_for(&legs, &org.system_accounts);
    let consume = transfer
        .source
        .as_ref()
        .filter(|_| transfer.reserved.is_positive())
        .map(|s| (s, transfer.reserved));
    ledger::post(tx, &org.id, Movement::Transfer(&transfer.id), &postings, consume, at).await?;
    for (account, which) in [
        (side(&transfer.source), TransferSide::Source),
        (side(&transfer.destination), TransferSide::Destination),
    ] {
        if let Some(account) = account
            && let AccountKind::External(kind) = account.kind
        {
            let before = ReportedBalances {
                balance: account.reported_balance.unwrap_or(Cents::ZERO),
                last_statement_balance: account.last_statement_balance,
                next_payment_minimum: account.next_payment_minimum,
            };
            // The spec bounds reported balances far below i64's range, so this cannot overflow
            // for any balance the API accepts; a stored balance that does is a broken invariant.
            let after =
                reported_balances_after(kind, before, which, transfer.amount).map_err(|_| {
                    AppError::internal(format!(
                        "organization {}: account {}'s reported balance overflows",
                        org.id, account.id
                    ))
                })?;
            ledger::set_reported(tx, &account.id, after, at).await?;
        }
    }
    Ok(())
}

/// Approves or declines a transfer waiting for a person.
pub async fn decide_approval(
    app: &App,
    tx: &mut Tx,
    org: &OrgId,
    id: &str,
    event: TransferEvent,
) -> Result<TransferView, AppError> {
    let (org, now) = app.organization(tx, org).await?;
    let transfer = transfers::find(tx, &org.id, id)
        .await?
        .ok_or_else(|| AppError::not_found(Resource::Transfer, id))?;
    if transfer.status != TransferStatus::PendingApproval || transfer.simulation {
        let why = if transfer.simulation {
            "it is a simulation, which never changes"
        } else {
            "its status is not pending_approval"
        };
        return Err(AppError::TransferNotPendingApproval {
            id: id.to_owned(),
            why,
            status: transfer.status.to_string(),
        });
    }
    let status = transition(transfer.status, event).map_err(AppError::internal)?;
    let mut updated = TransferRecord { status, updated_at: now, ..transfer.clone() };
    if status == TransferStatus::Processing {
        updated.processing_started_at = Some(now);
        updated.next_step_at =
            settlement_plan(transfer.direction, now).next_step(status).map(|s| s.at);
    } else {
        updated.reserved = Cents::ZERO;
    }
    // Conditional on the status read: a concurrent decision makes this one run again (and then
    // find the transfer no longer pending approval).
    if !transfers::update_if_status(tx, &updated, transfer.status).await? {
        return Err(AppError::Conflict("the transfer"));
    }
    let changed = Event::TransferStatusChanged { transfer: &updated, previous: transfer.status };
    events::record(tx, &org, now, changed).await?;
    if status == TransferStatus::Cancelled
        && let Some(source) = &transfer.source
        && transfer.reserved.is_positive()
    {
        ledger::release(tx, source, transfer.reserved).await?;
    }
    if updated.rule_execution_id.is_some() {
        rule_hooks::on_rule_transfer_changed(tx, &org, &updated, now).await?;
    }
    transfer_view(tx, updated).await
}

/// A sandbox deposit: money arriving from outside.
#[derive(Debug, Clone)]
pub struct Deposit {
    /// The receiving account.
    pub account_id: String,
    /// How much (positive).
    pub amount: Cents,
    /// Why (default `paycheck`).
    pub origin: Option<TransferOrigin>,
    /// ACH label.
    pub description: Option<String>,
}

/// Books a deposit: a complete transfer from the outside world, posted at once, which fires the
/// account's `ON_FUNDS_TRANSFERRED` rule.
pub async fn deposit(
    app: &App,
    tx: &mut Tx,
    org: &OrgId,
    deposit: Deposit,
) -> Result<TransferView, AppError> {
    let (org, now) = app.organization(tx, org).await?;
    let account_id = deposit.account_id.as_str();
    // Locked first, so a concurrent deletion cannot take the account away before the deposit
    // posts to it (see accounts::lock_live).
    accounts::lock_live(tx, &org.id, account_id).await?;
    let destination = match accounts::get_live(tx, &org.id, account_id).await {
        Err(StoreError::NotFound) => {
            return Err(AppError::not_found(Resource::Account, account_id));
        }
        other => other?,
    };
    validate_deposit(&account_view(&destination), deposit.amount)?;
    let record = TransferRecord {
        id: TransferId::generate(),
        org_id: org.id.clone(),
        source: None,
        destination: Some(destination.id.clone()),
        amount: deposit.amount,
        direction: TransferDirection::MoneyIn,
        origin: deposit.origin.unwrap_or(TransferOrigin::Paycheck),
        status: TransferStatus::Complete,
        error_code: None,
        description: deposit.description,
        simulation: false,
        reserved: Cents::ZERO,
        rule_id: None,
        rule_execution_id: None,
        processing_started_at: None,
        next_step_at: None,
        created_at: now,
        updated_at: now,
        completed_at: Some(now),
    };
    transfers::insert(tx, &record).await?;
    events::transfer_created(tx, &org, &record).await?;
    post_transfer(tx, &org, &record, now).await?;
    rule_hooks::on_funds_arrived(tx, &org, &record, now).await?;
    transfer_view(tx, record).await
}

/// A linked account at another institution, as the sandbox creates it.
#[derive(Debug, Clone)]
pub struct ExternalAccount {
    /// Display name.
    pub name: String,
    /// The institution.
    pub institution_name: String,
    /// Depository, investment or liability.
    pub kind: ExternalAccountType,
    /// What the institution reports.
    pub balance: Cents,
    /// Liabilities only.
    pub last_statement_balance: Option<Cents>,
    /// Liabilities only.
    pub next_payment_minimum: Option<Cents>,
    /// Liabilities only.
    pub next_payment_due_date: Option<chrono::NaiveDate>,
}

/// Links an external account.
pub async fn create_external_account(
    app: &App,
    tx: &mut Tx,
    org: &OrgId,
    input: ExternalAccount,
) -> Result<AccountRecord, AppError> {
    let liability_fields = input.last_statement_balance.is_some()
        || input.next_payment_minimum.is_some()
        || input.next_payment_due_date.is_some();
    if liability_fields && input.kind != ExternalAccountType::Liability {
        return Err(AppError::Invalid(
            "last_statement_balance_in_cents, next_payment_minimum_in_cents and next_payment_due_date apply to LIABILITY accounts only".to_owned(),
        ));
    }
    let (org, now) = app.organization(tx, org).await?;
    let record = AccountRecord {
        institution_name: Some(input.institution_name),
        reported_balance: Some(input.balance),
        last_statement_balance: input.last_statement_balance,
        next_payment_minimum: input.next_payment_minimum,
        next_payment_due_date: input.next_payment_due_date,
        ..crate::accounts::new_account(&org, AccountKind::External(input.kind), &input.name, now)
    };
    accounts::insert(tx, &record).await?;
    Ok(record)
}
