//! Webhook events: the outbox side. [`record`] is what every use case calls, **inside its own
//! transaction**, when something happens that an organization may have subscribed to:
//!
//! | Event | Called from |
//! |---|---|
//! | `transfer.created` | [`crate::ledger::accept_transfer`] (`createTransfer`, rule transfers), [`crate::ledger::deposit`], a failed rule action's transfer ([`crate::rule_engine`]) |
//! | `transfer.status_changed` | every status update of a transfer: settlement steps and approvals ([`crate::ledger`]) |
//! | `transfer.approval_required` | [`crate::ledger::accept_transfer`], when the transfer starts `pending_approval` |
//! | `rule_execution.completed` | [`crate::rule_engine::run_rule`] (a run final at once) and [`crate::rule_hooks::on_rule_transfer_changed`] (its last transfer settled) |
//! | `card_transaction.created` | the card issuer's use case, when it records a card transaction |
//!
//! Because the event and its fan-out to the organization's endpoints (one delivery per endpoint
//! that wants the type) are written in the caller's transaction, an event is delivered if and only
//! if the change it reports committed: none is lost, none is invented. The deliverer
//! ([`crate::deliverer`]) sends them afterwards.
//!
//! - Nothing is written when no live endpoint of the organization wants the event's type (the
//!   common case costs one index read); an endpoint receives the events that happen while it
//!   exists.
//! - Simulations (`simulation: true`) record no events: a dry run changes nothing anyone could be
//!   told about.
//! - **Order.** The deliveries of events about one subject (a transfer, an execution, a card
//!   transaction) to one endpoint go out in event order: a new delivery is `waiting` while an
//!   earlier one about the same subject is unfinished (see `sequence_store::webhooks`).
//! - The payload (`{id, event, created_at, data}`) is built here, once, and stored: every attempt
//!   sends the same bytes. `data` has the shape of the API's own object (the spec's `Transfer`,
//!   `RuleExecution`, `CardTransaction`); the API tests check every delivered body against the
//!   spec's event schemas and compare it with what `GET /transfers/{id}` answers.
//! - `created_at` is the organization clock (the time of the change, like the resource's own
//!   timestamps); the first attempt is due at the matching real time, i.e. at once.

use chrono::{DateTime, TimeDelta, Utc};
use sequence_core::ids::{AccountId, TransferId, WebhookDeliveryId, WebhookEventId};
use sequence_core::ledger::TransferStatus;
use sequence_core::money::Cents;
use sequence_core::webhooks::{DeliveryStatus, EventType};
use sequence_store::accounts::AccountRecord;
use sequence_store::cards::CardTransactionRecord;
use sequence_store::orgs::Organization;
use sequence_store::rules::{self, ExecutionRecord};
use sequence_store::transfers::TransferRecord;
use sequence_store::webhooks::{self, EndpointRecord, EventRecord, NewDelivery};
use sequence_store::{AnyConnection, Tx};
use serde_json::{Value, json};

use crate::AppError;
use crate::ledger::{TransferView, transfer_view};

/// Something that happened, as a use case reports it to [`record`].
#[derive(Debug, Clone, Copy)]
pub enum Event<'a> {
    /// A transfer was recorded (any origin, any initial status).
    TransferCreated(&'a TransferRecord),
    /// A transfer moved from `previous` to its current status.
    TransferStatusChanged {
        /// The transfer after the change.
        transfer: &'a TransferRecord,
        /// The status it left.
        previous: TransferStatus,
    },
    /// A transfer was created `pending_approval` (report it after its `TransferCreated`).
    TransferApprovalRequired(&'a TransferRecord),
    /// A live rule execution reached a final status.
    RuleExecutionCompleted(&'a ExecutionRecord),
    /// A card transaction was recorded.
    CardTransactionCreated(&'a CardTransactionRecord),
}

impl Event<'_> {
    /// Its type.
    pub fn event_type(&self) -> EventType {
        match self {
            Event::TransferCreated(_) => EventType::TransferCreated,
            Event::TransferStatusChanged { .. } => EventType::TransferStatusChanged,
            Event::TransferApprovalRequired(_) => EventType::TransferApprovalRequired,
            Event::RuleExecutionCompleted(_) => EventType::RuleExecutionCompleted,
            Event::CardTransactionCreated(_) => EventType::CardTransactionCreated,
        }
    }

    /// The resource it is about: events about one subject reach an endpoint in order.
    pub fn subject(&self) -> &str {
        match self {
            Event::TransferCreated(t)
            | Event::TransferStatusChanged { transfer: t, .. }
            | Event::TransferApprovalRequired(t) => t.id.as_str(),
            Event::RuleExecutionCompleted(e) => e.id.as_str(),
            Event::CardTransactionCreated(c) => c.id.as_str(),
        }
    }

    fn is_simulation(&self) -> bool {
        match self {
            Event::TransferCreated(t)
            | Event::TransferStatusChanged { transfer: t, .. }
            | Event::TransferApprovalRequired(t) => t.simulation,
            Event::RuleExecutionCompleted(e) => e.simulation,
            Event::CardTransactionCreated(_) => false,
        }
    }
}

/// Records `event`, which happened at `at` (organization clock), in the caller's transaction: the
/// outbox row and one delivery per live endpoint of `org` that wants its type (see the module
/// docs). Returns the event's id, or `None` when nothing was recorded (a simulation, or no
/// endpoint wants it).
pub async fn record(
    tx: &mut Tx,
    org: &Organization,
    at: DateTime<Utc>,
    event: Event<'_>,
) -> Result<Option<WebhookEventId>, AppError> {
    record_for(tx, org, at, event, &mut Subscribers::default()).await
}

/// The organization's live endpoints, read once for all the events one transaction records
/// ([`record_for`]): a settlement slice reports a status change per step, and reading the
/// endpoints again for each was a statement per step on SQLite's one writer. All of the slice's
/// events commit together, so they reach the endpoints that existed when the slice read them,
/// as one event recorded alone reaches those that existed when it read them.
#[derive(Debug, Default)]
pub struct Subscribers(Option<Vec<EndpointRecord>>);

/// [`record`], reading the organization's endpoints through `subscribers` (at most once for
/// all the events recorded with it; see [`Subscribers`]).
pub async fn record_for(
    tx: &mut Tx,
    org: &Organization,
    at: DateTime<Utc>,
    event: Event<'_>,
    subscribers: &mut Subscribers,
) -> Result<Option<WebhookEventId>, AppError> {
    if event.is_simulation() {
        return Ok(None);
    }
    let event_type = event.event_type();
    let live = match &mut subscribers.0 {
        Some(live) => live,
        empty @ None => empty.insert(webhooks::live_endpoints(tx, &org.id).await?),
    };
    let endpoints: Vec<EndpointRecord> =
        live.iter().filter(|endpoint| endpoint.wants(event_type)).cloned().collect();
    if endpoints.is_empty() {
        return Ok(None);
    }
    let id = WebhookEventId::generate();
    let data = data_of(tx, &event).await?;
    let payload = envelope(&id, event_type, at, data);
    let record = EventRecord {
        id: id.clone(),
        org_id: org.id.clone(),
        event_type,
        subject_id: event.subject().to_owned(),
        payload,
        created_at: at,
    };
    let seq = webhooks::insert_event(tx, &record).await?;
    let real_now = real_time(org, at);
    for endpoint in endpoints {
        // Behind an unfinished delivery about the same subject: it waits for it (order).
        let behind = webhooks::last_unfinished(tx, &endpoint.id, &record.subject_id).await?;
        let (status, next_attempt_at) = if behind {
            (DeliveryStatus::Waiting, None)
        } else {
            (DeliveryStatus::Pending, Some(real_now))
        };
        let delivery = NewDelivery {
            id: WebhookDeliveryId::generate(),
            org_id: org.id.clone(),
            endpoint_id: endpoint.id,
            event_id: id.clone(),
            event_seq: seq,
            subject_id: record.subject_id.clone(),
            status,
            next_attempt_at,
            created_at: at,
            updated_at: real_now,
        };
        webhooks::insert_delivery(tx, &delivery).await?;
    }
    metrics::counter!(EVENTS_METRIC, "event" => event_type.as_str()).increment(1);
    Ok(Some(id))
}

/// Metric: events recorded for delivery, by type.
pub const EVENTS_METRIC: &str = "sequence_webhook_events_total";

/// The real instant of an organization-clock instant (the organization's sandbox offset taken
/// off): when the first attempt of an event is due. At most real time now, since use cases only
/// report changes at or before their organization's now.
pub fn real_time(org: &Organization, at: DateTime<Utc>) -> DateTime<Utc> {
    at - TimeDelta::seconds(org.clock_offset_seconds)
}

/// The organization-clock instant of a real instant.
pub fn organization_time(org: &Organization, real: DateTime<Utc>) -> DateTime<Utc> {
    real + TimeDelta::seconds(org.clock_offset_seconds)
}

async fn data_of(conn: &mut AnyConnection, event: &Event<'_>) -> Result<Value, AppError> {
    Ok(match *event {
        Event::TransferCreated(transfer) | Event::TransferApprovalRequired(transfer) => {
            transfer_data(&transfer_view(conn, transfer.clone()).await?)
        }
        Event::TransferStatusChanged { transfer, previous } => {
            let mut data = transfer_data(&transfer_view(conn, transfer.clone()).await?);
            data["previous_status"] = json!(previous.as_str());
            data
        }
        Event::RuleExecutionCompleted(execution) => {
            let ids = [&execution.id];
            let mut transfer_ids = rules::transfer_ids(conn, &ids).await?;
            let transfers = transfer_ids.remove(&execution.id).unwrap_or_default();
            execution_data(execution, &transfers)
        }
        Event::CardTransactionCreated(transaction) => card_transaction_data(transaction),
    })
}

/// The body every attempt sends: `{id, event, created_at, data}`.
pub fn envelope(id: &WebhookEventId, event: EventType, at: DateTime<Utc>, data: Value) -> String {
    json!({"id": id.as_str(), "event": event.as_str(), "created_at": at, "data": data}).to_string()
}

/// A transfer as the API shows it (the spec's `Transfer`).
pub fn transfer_data(view: &TransferView) -> Value {
    let t = &view.transfer;
    let reference = |id: &Option<AccountId>| -> Value {
        id.as_ref().and_then(|id| view.accounts.get(id.as_str())).map_or(Value::Null, account_ref)
    };
    json!({
        "id": t.id.as_str(),
        "amount_in_cents": t.amount.get(),
        "direction": t.direction.as_str(),
        "origin": t.origin.as_str(),
        "status": t.status.as_str(),
        "description": t.description,
        "simulation": t.simulation,
        "source": reference(&t.source),
        "destination": reference(&t.destination),
        "rule_id": t.rule_id.as_ref().map(|id| id.as_str()),
        "rule_execution_id": t.rule_execution_id.as_ref().map(|id| id.as_str()),
        "error_code": t.error_code.map(|code| code.as_str()),
        "created_at": t.created_at,
        "completed_at": t.completed_at,
    })
}

fn account_ref(account: &AccountRecord) -> Value {
    json!({
        "id": account.id.as_str(),
        "name": account.name,
        "type": account.kind.type_str(),
        "is_deleted": account.is_deleted(),
    })
}

/// A rule execution as the API shows it (the spec's `RuleExecution`).
pub fn execution_data(e: &ExecutionRecord, transfer_ids: &[TransferId]) -> Value {
    let c = e.counters;
    json!({
        "id": e.id.as_str(),
        "rule_id": e.rule_id.as_str(),
        "rule_name": e.rule_name,
        "trigger_type": e.trigger.as_str(),
        "status": e.status.as_str(),
        "simulation": e.simulation,
        "created_at": e.created_at,
        "trigger_details": {
            "type": e.trigger.as_str(),
            "amount_in_cents": e.trigger_amount.map(Cents::get),
            "scheduled_time": e.scheduled_time,
        },
        "step_index_matched": e.step_index_matched,
        "conditions_not_met": e.conditions_not_met,
        "transfers_attempted": c.attempted,
        "transfers_completed": c.completed,
        "transfers_failed": c.failed,
        "transfers_pending": c.pending,
        "transfers_skipped": c.skipped,
        "transfer_ids": transfer_ids.iter().map(TransferId::as_str).collect::<Vec<_>>(),
        "error_message": e.error_message,
    })
}

/// A card transaction as the API shows it (the spec's `CardTransaction`).
pub fn card_transaction_data(c: &CardTransactionRecord) -> Value {
    json!({
        "id": c.id,
        "card_id": c.card_id,
        "direction": c.direction.as_str(),
        "amount_in_cents": c.amount.get(),
        "description": c.description,
        "merchant_name": c.merchant_name,
        "purchase_id": c.purchase_id,
        "refunded_amount_in_cents": c.refunded.map(Cents::get),
        "created_at": c.created_at,
    })
}

/// Reports a transfer's creation: `transfer.created`, then `transfer.approval_required` when it
/// starts `pending_approval`.
pub(crate) async fn transfer_created(
    tx: &mut Tx,
    org: &Organization,
    transfer: &TransferRecord,
) -> Result<(), AppError> {
    record(tx, org, transfer.created_at, Event::TransferCreated(transfer)).await?;
    if transfer.status == TransferStatus::PendingApproval {
        record(tx, org, transfer.created_at, Event::TransferApprovalRequired(transfer)).await?;
    }
    Ok(())
}

/// Reports a rule execution that is final (not `in_progress`); does nothing otherwise.
pub(crate) async fn execution_if_completed(
    tx: &mut Tx,
    org: &Organization,
    execution: &ExecutionRecord,
    at: DateTime<Utc>,
) -> Result<(), AppError> {
    if execution.status != sequence_core::rules::ExecutionStatus::InProgress {
        record(tx, org, at, Event::RuleExecutionCompleted(execution)).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use chrono::TimeZone;
    use sequence_core::cards::CardTransactionDirection;
    use sequence_core::ids::{CardId, CardTransactionId, OrgId, RuleExecutionId, RuleId};
    use sequence_core::ledger::{
        AccountKind, TransferDirection, TransferErrorCode, TransferOrigin,
    };
    use sequence_core::rules::{ExecutionStatus, ExecutionTrigger, TransferCounters};

    use super::*;

    fn at(seconds: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2024, 4, 23, 11, 0, 0).unwrap() + TimeDelta::seconds(seconds)
    }

    fn account(id: &str, name: &str, kind: AccountKind, deleted: bool) -> AccountRecord {
        let org = Organization::new("Acme", at(0));
        AccountRecord {
            id: AccountId::from_raw(id),
            name: name.to_owned(),
            deleted_at: deleted.then(|| at(1)),
            ..crate::accounts::new_account(&org, kind, name, at(0))
        }
    }

    fn transfer() -> TransferRecord {
        TransferRecord {
            id: TransferId::from_raw("txr_1"),
            org_id: OrgId::from_raw("org_1"),
            source: Some(AccountId::from_raw("acc_pod")),
            destination: Some(AccountId::from_raw("acc_ext")),
            amount: Cents::new(25_000),
            direction: TransferDirection::MoneyOut,
            origin: TransferOrigin::User,
            status: TransferStatus::Error,
            error_code: Some(TransferErrorCode::InsufficientFunds),
            description: Some("AMEX PMT".to_owned()),
            simulation: false,
            reserved: Cents::ZERO,
            rule_id: None,
            rule_execution_id: None,
            processing_started_at: None,
            next_step_at: None,
            created_at: at(0),
            updated_at: at(0),
            completed_at: None,
        }
    }

    #[test]
    fn a_transfer_is_rendered_as_the_api_shows_it() {
        let accounts = BTreeMap::from([
            ("acc_pod".to_owned(), account("acc_pod", "Bills", AccountKind::Pod, false)),
            (
                "acc_ext".to_owned(),
                account(
                    "acc_ext",
                    "Amex",
                    AccountKind::External(sequence_core::ledger::ExternalAccountType::Liability),
                    true,
                ),
            ),
        ]);
        let view = TransferView { transfer: transfer(), accounts };
        assert_eq!(
            transfer_data(&view),
            json!({
                "id": "txr_1", "amount_in_cents": 25000, "direction": "money_out", "origin": "user",
                "status": "error", "description": "AMEX PMT", "simulation": false,
                "source": {"id": "acc_pod", "name": "Bills", "type": "pod", "is_deleted": false},
                "destination": {"id": "acc_ext", "name": "Amex", "type": "external_account", "is_deleted": true},
                "rule_id": null, "rule_execution_id": null, "error_code": "insufficient_funds",
                "created_at": "2024-04-23T11:00:00Z", "completed_at": null,
            })
        );
        // A side the view does not hold (the outside world) is null.
        let deposit = TransferRecord { source: None, ..transfer() };
        let view = TransferView { transfer: deposit, accounts: BTreeMap::new() };
        assert_eq!(transfer_data(&view)["source"], Value::Null);
    }

    #[test]
    fn the_envelope_carries_id_event_time_and_data() {
        let body = envelope(
            &WebhookEventId::from_raw("evt_1"),
            EventType::TransferStatusChanged,
            at(4) + TimeDelta::milliseconds(250),
            json!({"previous_status": "pending"}),
        );
        let parsed: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(
            parsed,
            json!({"id": "evt_1", "event": "transfer.status_changed",
                   "created_at": "2024-04-23T11:00:04.250Z", "data": {"previous_status": "pending"}})
        );
    }

    #[test]
    fn an_execution_is_rendered_as_the_api_shows_it() {
        let execution = ExecutionRecord {
            id: RuleExecutionId::from_raw("rex_1"),
            org_id: OrgId::from_raw("org_1"),
            rule_id: RuleId::from_raw("rule_1"),
            rule_name: "Split".to_owned(),
            trigger: ExecutionTrigger::OnFundsTransferred,
            simulation: false,
            status: ExecutionStatus::Partial,
            trigger_amount: Some(Cents::new(300_000)),
            scheduled_time: None,
            step_index_matched: Some(0),
            conditions_not_met: false,
            counters: TransferCounters {
                attempted: 2,
                completed: 1,
                failed: 1,
                pending: 0,
                skipped: 1,
            },
            stopped_by_error: false,
            error_message: Some("transfer `txr_2` ended error".to_owned()),
            created_at: at(0),
            updated_at: at(60),
        };
        let ids = [TransferId::from_raw("txr_1"), TransferId::from_raw("txr_2")];
        assert_eq!(
            execution_data(&execution, &ids),
            json!({
                "id": "rex_1", "rule_id": "rule_1", "rule_name": "Split",
                "trigger_type": "on_funds_transferred", "status": "partial", "simulation": false,
                "created_at": "2024-04-23T11:00:00Z",
                "trigger_details": {"type": "on_funds_transferred", "amount_in_cents": 300000, "scheduled_time": null},
                "step_index_matched": 0, "conditions_not_met": false,
                "transfers_attempted": 2, "transfers_completed": 1, "transfers_failed": 1,
                "transfers_pending": 0, "transfers_skipped": 1,
                "transfer_ids": ["txr_1", "txr_2"],
                "error_message": "transfer `txr_2` ended error",
            })
        );
    }

    #[test]
    fn a_card_transaction_is_rendered_as_the_api_shows_it() {
        let transaction = CardTransactionRecord {
            id: CardTransactionId::from_raw("ctx_1"),
            org_id: OrgId::from_raw("org_1"),
            card_id: CardId::from_raw("card_1"),
            direction: CardTransactionDirection::Debit,
            amount: Cents::new(1_299),
            description: None,
            merchant_name: Some("Coffee".to_owned()),
            purchase_id: None,
            refunded: Some(Cents::ZERO),
            created_at: at(0),
        };
        assert_eq!(
            card_transaction_data(&transaction),
            json!({"id": "ctx_1", "card_id": "card_1", "direction": "debit", "amount_in_cents": 1299,
                   "description": null, "merchant_name": "Coffee", "purchase_id": null,
                   "refunded_amount_in_cents": 0, "created_at": "2024-04-23T11:00:00Z"})
        );
    }

    #[test]
    fn organization_time_and_real_time_are_inverse() {
        let org =
            Organization { clock_offset_seconds: 432_000, ..Organization::new("Acme", at(0)) };
        assert_eq!(real_time(&org, at(432_000)), at(0));
        assert_eq!(organization_time(&org, at(0)), at(432_000));
    }
}
