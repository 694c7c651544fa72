//! The ledger's use cases: accepting transfers, moving them through their lifecycle, deposits,
//! external accounts, approvals and the sandbox clock. Shared by the transfers API, the sandbox
//! API and the rules engine; every function runs inside the caller's transaction.
//!
//! Money invariants (see ARCHITECTURE.md): funds are reserved atomically at acceptance by a
//! conditional update, postings are written only when a transfer completes, each posting writes
//! an immutable entry with the balance before and after, and a transfer's status only moves by
//! a conditional update from the status it was read in — so a step is applied exactly once even
//! with several replicas processing the same organization.

use chrono::{DateTime, Utc};
use sequence_api::runtime::RequestContext;
use sequence_api::server::{
    AdvanceSandboxClockParams, AdvanceSandboxClockResponse, ApproveSandboxTransferParams,
    ApproveSandboxTransferResponse, CreateSandboxDepositParams, CreateSandboxDepositResponse,
    CreateSandboxExternalAccountParams, CreateSandboxExternalAccountResponse,
    DeclineSandboxTransferParams, DeclineSandboxTransferResponse, ErrorCode,
    GetSandboxOrganizationParams, GetSandboxOrganizationResponse, UpdateSandboxOrganizationParams,
    UpdateSandboxOrganizationResponse,
};
use sequence_api::types;
use sequence_core::clock::advanced_offset;
use sequence_core::ids::{AccountId, RuleExecutionId, RuleId, TransferId};
use sequence_core::ledger::{
    AcceptanceRequest, AccountKind, Endpoint, ExecutionMode, ReportedBalances, TransferDirection,
    TransferErrorCode, TransferEvent, TransferLegs, TransferOrigin, TransferSide, TransferStatus,
    plan_acceptance, postings_for, reported_balances_after, settlement_plan, transition,
    validate_deposit,
};
use sequence_core::money::Cents;
use sequence_store::accounts::{self, AccountRecord};
use sequence_store::orgs::{self, Organization};
use sequence_store::transfers::{self, TransferRecord};
use sequence_store::{StoreError, Tx, ledger};

use super::accounts::account_not_found;
use crate::auth::Principal;
use crate::convert;
use crate::error::{ApiError, respond};
use crate::idempotency::fingerprint;
use crate::state::Server;

/// Upper bound on settlement steps applied by one call, so a bug can never loop forever.
const STEPS_PER_CALL_MAX: u32 = 100_000;

/// A transfer to accept: both sides already loaded and validated by the caller.
pub(crate) struct NewTransfer<'a> {
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

fn endpoint(account: Option<&AccountRecord>) -> Endpoint {
    match account {
        Some(a) => Endpoint::Account { id: a.id.clone(), kind: a.kind },
        None => Endpoint::OutsideWorld,
    }
}

/// `404 transfer_not_found`.
pub(crate) fn transfer_not_found(id: &str) -> ApiError {
    ApiError::new(
        ErrorCode::TransferNotFound,
        format!("No transfer `{id}` exists in this organization."),
    )
}

impl Server {
    /// Accepts a transfer: decides its initial status (insufficient funds, approval, processing),
    /// reserves the funds atomically, schedules its settlement and records it.
    pub(crate) async fn accept_transfer(
        &self,
        tx: &mut Tx,
        org: &Organization,
        new: NewTransfer<'_>,
        now: DateTime<Utc>,
    ) -> Result<TransferRecord, ApiError> {
        let direction =
            TransferDirection::between(&endpoint(new.source), &endpoint(new.destination))
                .map_err(ApiError::internal)?;
        let internal_source = new.source.filter(|s| s.kind.is_internal());
        let mode = if new.simulation { ExecutionMode::Simulation } else { ExecutionMode::Live };
        let request = AcceptanceRequest {
            amount: new.amount,
            source_available: internal_source.map(AccountRecord::available),
            mode,
            approval_threshold: org.approval_threshold,
        };
        let mut acceptance = plan_acceptance(&request);
        // Lock both sides (in id order, as postings do): a deletion that committed since the
        // caller read them fails the transfer instead of leaving it in flight to or from a
        // deleted account (see accounts::lock_live).
        let mut sides: Vec<&AccountId> =
            [new.source, new.destination].into_iter().flatten().map(|a| &a.id).collect();
        sides.sort();
        for id in sides {
            if !accounts::lock_live(tx, &org.id, id.as_str()).await? {
                acceptance.status = TransferStatus::Error;
                acceptance.error_code = Some(TransferErrorCode::AccountDeleted);
                acceptance.reserves_funds = false;
            }
        }
        let mut reserved = Cents::ZERO;
        if let (true, Some(source)) = (acceptance.reserves_funds, internal_source) {
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
            .then(|| {
                settlement_plan(direction, now).next_step(acceptance.status).map(|step| step.at)
            })
            .flatten();
        let (rule_id, rule_execution_id) =
            new.rule.map_or((None, None), |(r, e)| (Some(r), Some(e)));
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
        Ok(record)
    }

    /// Applies every settlement step of `org` due at `now`, oldest first, inside `tx`. Returns
    /// how many transfers completed.
    pub(crate) async fn process_due(
        &self,
        tx: &mut Tx,
        org: &Organization,
        now: DateTime<Utc>,
    ) -> Result<u32, ApiError> {
        let mut completed = 0;
        let mut steps = 0;
        loop {
            let due = transfers::due(tx, &org.id, now, 100).await?;
            if due.is_empty() {
                return Ok(completed);
            }
            for id in due {
                steps += 1;
                if steps > STEPS_PER_CALL_MAX {
                    return Err(ApiError::internal("settlement step limit reached"));
                }
                if self.apply_settlement_step(tx, org, &id).await? == Some(TransferStatus::Complete)
                {
                    completed += 1;
                }
            }
        }
    }

    /// Moves one transfer one step along its schedule (`processing` → `pending` → `complete`).
    /// Returns the new status, or `None` if another worker moved it first.
    async fn apply_settlement_step(
        &self,
        tx: &mut Tx,
        org: &Organization,
        id: &TransferId,
    ) -> Result<Option<TransferStatus>, ApiError> {
        let Some(transfer) = transfers::find(tx, &org.id, id.as_str()).await? else {
            return Ok(None);
        };
        let Some(started) = transfer.processing_started_at else { return Ok(None) };
        let plan = settlement_plan(transfer.direction, started);
        let Some(step) = plan.next_step(transfer.status) else { return Ok(None) };
        let status = transition(transfer.status, step.event).map_err(ApiError::internal)?;
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
        if step.event == TransferEvent::Settle {
            self.post_transfer(tx, org, &transfer, step.at).await?;
            if updated.rule_execution_id.is_none() {
                self.on_funds_arrived(tx, org, &updated, step.at).await?;
            }
        }
        if updated.rule_execution_id.is_some() {
            self.on_rule_transfer_changed(tx, &updated, step.at).await?;
        }
        Ok(Some(status))
    }

    /// Writes a completed transfer's ledger entries and updates linked external accounts'
    /// reported balances.
    async fn post_transfer(
        &self,
        tx: &mut Tx,
        org: &Organization,
        transfer: &TransferRecord,
        at: DateTime<Utc>,
    ) -> Result<(), ApiError> {
        let ids: Vec<&AccountId> =
            transfer.source.iter().chain(transfer.destination.iter()).collect();
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
        ledger::post(tx, &org.id, &transfer.id, &postings, consume, at).await?;
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
                let after = reported_balances_after(kind, before, which, transfer.amount)
                    .map_err(ApiError::internal)?;
                ledger::set_reported(tx, &account.id, after, at).await?;
            }
        }
        Ok(())
    }

    /// Approves or declines a transfer waiting for a person.
    async fn decide_approval(
        &self,
        ctx: &RequestContext<Principal>,
        id: &str,
        event: TransferEvent,
        tx: &mut Tx,
    ) -> Result<types::TransferResponse, ApiError> {
        let org = orgs::get(tx, &ctx.principal.org_id).await?;
        let now = self.state.org_now(org.clock_offset_seconds);
        let transfer =
            transfers::find(tx, &org.id, id).await?.ok_or_else(|| transfer_not_found(id))?;
        if transfer.status != TransferStatus::PendingApproval || transfer.simulation {
            let why = if transfer.simulation {
                "it is a simulation, which never changes"
            } else {
                "its status is not pending_approval"
            };
            return Err(ApiError::new(
                ErrorCode::TransferNotPendingApproval,
                format!(
                    "Transfer `{id}` cannot be approved or declined: {why} (status `{}`).",
                    transfer.status
                ),
            ));
        }
        let status = transition(transfer.status, event).map_err(ApiError::internal)?;
        let mut updated = TransferRecord { status, updated_at: now, ..transfer.clone() };
        if status == TransferStatus::Processing {
            updated.processing_started_at = Some(now);
            updated.next_step_at =
                settlement_plan(transfer.direction, now).next_step(status).map(|s| s.at);
        } else {
            updated.reserved = Cents::ZERO;
        }
        if !transfers::update_if_status(tx, &updated, transfer.status).await? {
            return Err(ApiError {
                retryable: true,
                ..ApiError::internal("transfer changed concurrently")
            });
        }
        if status == TransferStatus::Cancelled
            && let Some(source) = &transfer.source
            && transfer.reserved.is_positive()
        {
            ledger::release(tx, source, transfer.reserved).await?;
        }
        if updated.rule_execution_id.is_some() {
            self.on_rule_transfer_changed(tx, &updated, now).await?;
        }
        let data = self.transfer_view(tx, &updated).await?;
        Ok(types::TransferResponse { request_id: ctx.request_id.clone(), data })
    }

    /// The wire form of a transfer, with its account references.
    pub(crate) async fn transfer_view(
        &self,
        tx: &mut sequence_store::AnyConnection,
        transfer: &TransferRecord,
    ) -> Result<types::Transfer, ApiError> {
        let ids: Vec<&AccountId> =
            transfer.source.iter().chain(transfer.destination.iter()).collect();
        let names = accounts::by_ids(tx, &transfer.org_id, &ids).await?;
        convert::transfer(transfer, &names)
    }

    pub(crate) async fn sandbox_deposit(
        &self,
        ctx: RequestContext<Principal>,
        params: CreateSandboxDepositParams,
    ) -> CreateSandboxDepositResponse {
        let body = &params.body;
        let key = params.idempotency_key.as_deref().map(String::as_str);
        let fingerprint = fingerprint("POST", "/sandbox/deposits", body);
        self.mutate(&ctx, key, fingerprint, |mut tx| async {
            let result = async {
                let org = orgs::get(&mut tx, &ctx.principal.org_id).await?;
                let now = self.state.org_now(org.clock_offset_seconds);
                let account_id = body.account_id.as_str();
                // Locked first, so a concurrent deletion cannot take the account away before the
                // deposit posts to it (see accounts::lock_live).
                accounts::lock_live(&mut tx, &org.id, account_id).await?;
                let destination = match accounts::get_live(&mut tx, &org.id, account_id).await {
                    Err(StoreError::NotFound) => return Err(account_not_found(account_id)),
                    other => other?,
                };
                let amount = Cents::new(
                    i64::try_from(body.amount_in_cents.get())
                        .map_err(|_| ApiError::invalid("amount_in_cents is too large"))?,
                );
                let view = sequence_core::ledger::AccountView {
                    id: destination.id.clone(),
                    kind: destination.kind,
                    is_deleted: false,
                };
                validate_deposit(&view, amount)?;
                let origin: TransferOrigin = match body.origin {
                    Some(origin) => convert::same_name(origin)?,
                    None => TransferOrigin::Paycheck,
                };
                let record = TransferRecord {
                    id: TransferId::generate(),
                    org_id: org.id.clone(),
                    source: None,
                    destination: Some(destination.id.clone()),
                    amount,
                    direction: TransferDirection::MoneyIn,
                    origin,
                    status: TransferStatus::Complete,
                    error_code: None,
                    description: body.description.as_deref().cloned(),
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
                transfers::insert(&mut tx, &record).await?;
                self.post_transfer(&mut tx, &org, &record, now).await?;
                self.on_funds_arrived(&mut tx, &org, &record, now).await?;
                let data = self.transfer_view(&mut tx, &record).await?;
                Ok(CreateSandboxDepositResponse::Created(types::TransferResponse {
                    request_id: ctx.request_id.clone(),
                    data,
                }))
            }
            .await;
            (tx, result)
        })
        .await
    }

    pub(crate) async fn sandbox_external_account(
        &self,
        ctx: RequestContext<Principal>,
        params: CreateSandboxExternalAccountParams,
    ) -> CreateSandboxExternalAccountResponse {
        let body = &params.body;
        let kind = convert::external_type_from_wire(body.external_account_type);
        let is_liability = kind == sequence_core::ledger::ExternalAccountType::Liability;
        let liability_fields = body.last_statement_balance_in_cents.is_some()
            || body.next_payment_minimum_in_cents.is_some()
            || body.next_payment_due_date.is_some();
        if liability_fields && !is_liability {
            return respond(
                &ctx,
                Err(ApiError::invalid(
                    "last_statement_balance_in_cents, next_payment_minimum_in_cents and next_payment_due_date apply to LIABILITY accounts only",
                )),
            );
        }
        let key = params.idempotency_key.as_deref().map(String::as_str);
        let fingerprint = fingerprint("POST", "/sandbox/external-accounts", body);
        self.mutate(&ctx, key, fingerprint, |mut tx| async {
            let result = async {
                let org = orgs::get(&mut tx, &ctx.principal.org_id).await?;
                let now = self.state.org_now(org.clock_offset_seconds);
                let record = AccountRecord {
                    institution_name: Some(body.institution_name.to_string()),
                    reported_balance: Some(Cents::new(body.balance_in_cents)),
                    last_statement_balance: body.last_statement_balance_in_cents.map(Cents::new),
                    next_payment_minimum: body.next_payment_minimum_in_cents.map(Cents::new),
                    next_payment_due_date: body.next_payment_due_date,
                    ..super::new_account(&org, AccountKind::External(kind), &body.name, now)
                };
                accounts::insert(&mut tx, &record).await?;
                Ok(CreateSandboxExternalAccountResponse::Created(types::AccountResponse {
                    request_id: ctx.request_id.clone(),
                    data: convert::account(&record),
                }))
            }
            .await;
            (tx, result)
        })
        .await
    }

    pub(crate) async fn sandbox_approve(
        &self,
        ctx: RequestContext<Principal>,
        params: ApproveSandboxTransferParams,
    ) -> ApproveSandboxTransferResponse {
        let key = params.idempotency_key.as_deref().map(String::as_str);
        let fingerprint =
            fingerprint("POST", &format!("/sandbox/transfers/{}/approve", *params.id), &());
        self.mutate(&ctx, key, fingerprint, |mut tx| async {
            let result = self
                .decide_approval(&ctx, &params.id, TransferEvent::Approve, &mut tx)
                .await
                .map(ApproveSandboxTransferResponse::Ok);
            (tx, result)
        })
        .await
    }

    pub(crate) async fn sandbox_decline(
        &self,
        ctx: RequestContext<Principal>,
        params: DeclineSandboxTransferParams,
    ) -> DeclineSandboxTransferResponse {
        let key = params.idempotency_key.as_deref().map(String::as_str);
        let fingerprint =
            fingerprint("POST", &format!("/sandbox/transfers/{}/decline", *params.id), &());
        self.mutate(&ctx, key, fingerprint, |mut tx| async {
            let result = self
                .decide_approval(&ctx, &params.id, TransferEvent::Decline, &mut tx)
                .await
                .map(DeclineSandboxTransferResponse::Ok);
            (tx, result)
        })
        .await
    }

    pub(crate) async fn sandbox_advance_clock(
        &self,
        ctx: RequestContext<Principal>,
        params: AdvanceSandboxClockParams,
    ) -> AdvanceSandboxClockResponse {
        let seconds = match i64::try_from(params.body.seconds.get()) {
            Ok(seconds) => seconds,
            Err(_) => return respond(&ctx, Err(ApiError::invalid("`seconds` is too large"))),
        };
        let key = params.idempotency_key.as_deref().map(String::as_str);
        let fingerprint = fingerprint("POST", "/sandbox/clock/advance", &params.body);
        self.mutate(&ctx, key, fingerprint, |mut tx| async {
            let result = async {
                let org = orgs::get(&mut tx, &ctx.principal.org_id).await?;
                let offset = advanced_offset(org.clock_offset_seconds, seconds)
                    .map_err(|e| ApiError::invalid(e.to_string()))?;
                let offset = orgs::advance_clock(&mut tx, &org.id, offset).await?;
                let org = Organization { clock_offset_seconds: offset, ..org };
                let now = self.state.org_now(offset);
                let (settled, executed) = self.process_everything_due(&mut tx, &org, now).await?;
                Ok(AdvanceSandboxClockResponse::Ok(types::SandboxClockResponse {
                    request_id: ctx.request_id.clone(),
                    data: types::SandboxClock {
                        now,
                        transfers_settled: i32::try_from(settled).unwrap_or(i32::MAX),
                        rules_executed: i32::try_from(executed).unwrap_or(i32::MAX),
                    },
                }))
            }
            .await;
            (tx, result)
        })
        .await
    }

    /// Settlements and scheduled rules due at `now`, until neither has anything left (a
    /// settlement can fire a rule whose transfers are themselves due).
    pub(crate) async fn process_everything_due(
        &self,
        tx: &mut Tx,
        org: &Organization,
        now: DateTime<Utc>,
    ) -> Result<(u32, u32), ApiError> {
        let (mut settled, mut executed) = (0, 0);
        loop {
            let executions = self.run_due_schedules(tx, org, now, &mut settled).await?;
            let completions = self.process_due(tx, org, now).await?;
            settled += completions;
            executed += executions;
            if executions == 0 && completions == 0 {
                return Ok((settled, executed));
            }
        }
    }

    pub(crate) async fn sandbox_get_organization(
        &self,
        ctx: RequestContext<Principal>,
        _params: GetSandboxOrganizationParams,
    ) -> GetSandboxOrganizationResponse {
        let result = async {
            let mut conn = self.state.store.pool().acquire().await.map_err(StoreError::from)?;
            let org = orgs::get(&mut conn, &ctx.principal.org_id).await?;
            Ok(GetSandboxOrganizationResponse::Ok(self.organization_view(&ctx, &org)))
        }
        .await;
        respond(&ctx, result)
    }

    pub(crate) async fn sandbox_update_organization(
        &self,
        ctx: RequestContext<Principal>,
        params: UpdateSandboxOrganizationParams,
    ) -> UpdateSandboxOrganizationResponse {
        let key = params.idempotency_key.as_deref().map(String::as_str);
        let fingerprint = fingerprint("PUT", "/sandbox/organization", &params.body);
        let threshold = params.body.approval_threshold_in_cents.map(Cents::new);
        self.mutate(&ctx, key, fingerprint, |mut tx| async {
            let result = async {
                orgs::set_approval_threshold(&mut tx, &ctx.principal.org_id, threshold).await?;
                let org = orgs::get(&mut tx, &ctx.principal.org_id).await?;
                Ok(UpdateSandboxOrganizationResponse::Ok(self.organization_view(&ctx, &org)))
            }
            .await;
            (tx, result)
        })
        .await
    }

    fn organization_view(
        &self,
        ctx: &RequestContext<Principal>,
        org: &Organization,
    ) -> types::SandboxOrganizationResponse {
        types::SandboxOrganizationResponse {
            request_id: ctx.request_id.clone(),
            data: types::SandboxOrganization {
                id: org.id.to_string(),
                name: org.name.clone(),
                now: self.state.org_now(org.clock_offset_seconds),
                approval_threshold_in_cents: org.approval_threshold.map(Cents::get),
            },
        }
    }
}

/// The background worker: settles what became due in real time for every organization, every
/// `interval`. Safe with several replicas: each step is a conditional update applied once.
pub async fn run_worker(server: Server, interval: std::time::Duration) {
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        if let Err(error) = server.tick().await {
            tracing::warn!(code = error.code.as_str(), internal = ?error.internal, "background settlement failed; retrying next tick");
        }
    }
}

impl Server {
    /// One pass of the worker over every organization.
    pub async fn tick(&self) -> Result<(), ApiError> {
        let ids = {
            let mut conn = self.state.store.pool().acquire().await.map_err(StoreError::from)?;
            orgs::list_ids(&mut conn).await?
        };
        for id in ids {
            // Look before taking the write lock (on SQLite, the whole database's): most ticks
            // find nothing due, and must not make requests wait for nothing.
            {
                let mut conn = self.state.store.pool().acquire().await.map_err(StoreError::from)?;
                let org = orgs::get(&mut conn, &id).await?;
                let now = self.state.org_now(org.clock_offset_seconds);
                let settlement_due = !transfers::due(&mut conn, &id, now, 1).await?.is_empty();
                let schedule_due =
                    sequence_store::rules::next_due(&mut conn, &id, now).await?.is_some();
                if !settlement_due && !schedule_due {
                    continue;
                }
            }
            let mut tx = self.state.store.begin().await?;
            let org = orgs::get(&mut tx, &id).await?;
            let now = self.state.org_now(org.clock_offset_seconds);
            self.process_everything_due(&mut tx, &org, now).await?;
            tx.commit().await.map_err(StoreError::from)?;
        }
        Ok(())
    }
}
