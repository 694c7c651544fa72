//! The audit log: who called what, when, why and with what outcome.
//!
//! Two ways in, because two guarantees are wanted:
//!
//! - **Successful mutating calls** are recorded by [`record`] inside the use case's own
//!   transaction (the server's mutation runner calls it after the use case succeeded), so an
//!   effect without its entry, or an entry without its effect, cannot exist.
//! - **Denied calls** (401, 403, 429) and **failed mutating calls** changed nothing, and the
//!   request path must not pay for recording them: the server hands them to a [`DenialLog`], a
//!   bounded in-process queue drained by one background task in batches. This is best effort by
//!   design: when the queue is full the entry is dropped and counted
//!   (`sequence_audit_dropped_total`), and entries still queued when the process stops are lost.
//!
//! Entries carry no bodies and no secrets: the key's public id, the operation, the concrete path,
//! resource ids, the outcome and status, the error code, the request id and the caller's
//! `X-Called-Reason`.

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use sequence_core::ids::{ApiKeyId, AuditEntryId, OrgId};
use sequence_store::audit::{self, AuditEntry, AuditFilter, Outcome};
use sequence_store::statement::Cursor;
use sequence_store::{AnyConnection, Tx, orgs};
use tokio::sync::{mpsc, oneshot};

use crate::{App, AppError, unit_of_work};

/// One API call to record, as the server saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    /// The key that made it.
    pub api_key_id: ApiKeyId,
    /// The spec's `operationId`.
    pub operation_id: String,
    /// The HTTP method.
    pub method: String,
    /// The concrete path, relative to the base path.
    pub path: String,
    /// Ids the call named (path) or produced (the created resource).
    pub resource_ids: Vec<String>,
    /// The HTTP status answered.
    pub status: u16,
    /// The error code, for error answers.
    pub error_code: Option<String>,
    /// The request id.
    pub request_id: String,
    /// The `X-Called-Reason` header, if sent.
    pub called_reason: Option<String>,
}

impl Call {
    /// How the call ended: `success` for 2xx; `denied` when it was refused for who made it
    /// (`401 unauthorized`, `403 forbidden` or `maximum_amount_exceeded`, `429
    /// rate_limit_exceeded`); `failure` otherwise, including operation rules answered with 403
    /// such as `rule_disabled`.
    pub fn outcome(&self) -> Outcome {
        const DENIALS: [&str; 4] =
            ["unauthorized", "forbidden", "maximum_amount_exceeded", "rate_limit_exceeded"];
        match (self.status, self.error_code.as_deref()) {
            (200..=299, _) => Outcome::Success,
            (401 | 403 | 429, Some(code)) if DENIALS.contains(&code) => Outcome::Denied,
            _ => Outcome::Failure,
        }
    }

    fn entry(self, org: OrgId, at: DateTime<Utc>) -> AuditEntry {
        AuditEntry {
            id: AuditEntryId::generate(),
            org_id: org,
            created_at: at,
            outcome: self.outcome(),
            api_key_id: self.api_key_id,
            operation_id: self.operation_id,
            method: self.method,
            path: self.path,
            resource_ids: self.resource_ids,
            status: self.status,
            error_code: self.error_code,
            request_id: self.request_id,
            called_reason: self.called_reason,
        }
    }
}

/// Records `call` of `org` in the caller's transaction, stamped with the organization's clock
/// (the store adds the organization's offset to real time in the insert itself).
pub async fn record(app: &App, tx: &mut Tx, org: &OrgId, call: Call) -> Result<(), AppError> {
    audit::insert_at_org_clock(tx, &call.entry(org.clone(), app.now())).await?;
    Ok(())
}

/// `GET /audit-logs`: a page of `org`'s log, newest first.
pub async fn list(
    conn: &mut AnyConnection,
    org: &OrgId,
    filter: &AuditFilter,
    after: Option<&Cursor>,
    limit: u32,
) -> Result<(Vec<AuditEntry>, bool), AppError> {
    if let (Some(from), Some(to)) = (filter.from, filter.to)
        && from > to
    {
        return Err(AppError::Invalid("`from` is later than `to`".into()));
    }
    let mut entries = audit::list(conn, org, filter, after, limit.saturating_add(1)).await?;
    let has_next_page = entries.len() > limit as usize;
    entries.truncate(limit as usize);
    Ok((entries, has_next_page))
}

/// A call refused or failed, waiting to be written: whose log it goes to, and when it was
/// answered (real time; the writer converts to the organization's clock).
#[derive(Debug)]
pub struct PendingCall {
    /// The organization of the key the call presented (for a `401`, the stored key it named).
    pub org: OrgId,
    /// Real time when the call was answered.
    pub at: DateTime<Utc>,
    /// The call.
    pub call: Call,
}

enum Message {
    Record(Box<PendingCall>),
    Flush(oneshot::Sender<()>),
}

/// How many calls may wait for the writer before new ones are dropped.
pub const DENIAL_QUEUE_CAPACITY: usize = 8192;
/// How many calls the writer records per transaction at most.
const BATCH: usize = 1_000;

/// The queue of denied and failed calls (see the module docs). Cheap to clone.
#[derive(Clone, Debug)]
pub struct DenialLog {
    queue: mpsc::Sender<Message>,
}

impl DenialLog {
    /// Starts the writer task on the current tokio runtime.
    pub fn spawn(app: App) -> DenialLog {
        let (queue, inbox) = mpsc::channel(DENIAL_QUEUE_CAPACITY);
        tokio::spawn(write_denials(app, inbox));
        DenialLog { queue }
    }

    /// Queues `call` without waiting; drops it (and counts the drop) when the queue is full.
    pub fn record(&self, call: PendingCall) {
        if self.queue.try_send(Message::Record(Box::new(call))).is_err() {
            metrics::counter!("sequence_audit_dropped_total").increment(1);
            tracing::warn!("audit queue full; a denied or failed call was not recorded");
        }
    }

    /// Waits until every call queued before this one is written (tests, shutdown).
    pub async fn flush(&self) {
        let (done, wait) = oneshot::channel();
        if self.queue.send(Message::Flush(done)).await.is_ok() {
            let _ = tokio::time::timeout(Duration::from_secs(30), wait).await;
        }
    }
}

async fn write_denials(app: App, mut inbox: mpsc::Receiver<Message>) {
    let mut messages = Vec::with_capacity(BATCH);
    while inbox.recv_many(&mut messages, BATCH).await > 0 {
        let mut flushes = Vec::new();
        let mut calls = Vec::new();
        for message in messages.drain(..) {
            match message {
                Message::Record(call) => calls.push(*call),
                Message::Flush(done) => flushes.push(done),
            }
        }
        if !calls.is_empty() {
            write_batch(&app, calls).await;
        }
        for done in flushes {
            let _ = done.send(());
        }
    }
}

/// Writes a batch in one transaction (one multi-row `INSERT`); if that fails, each call in its
/// own, so one bad entry (say, of an organization deleted meanwhile) never loses the others.
async fn write_batch(app: &App, calls: Vec<PendingCall>) {
    let batch = unit_of_work::run(&app.store, |mut tx| async {
        let result = write(&mut tx, &calls).await;
        (tx, result)
    })
    .await;
    if batch.is_ok() {
        return;
    }
    for call in calls.chunks(1) {
        let one = unit_of_work::run(&app.store, |mut tx| async {
            let result = write(&mut tx, call).await;
            (tx, result)
        })
        .await;
        if let Err(error) = one {
            tracing::warn!(%error, key = %call[0].call.api_key_id, "could not record an audit entry");
        }
    }
}

/// Stamps each call with its organization's clock (each organization read once) and inserts
/// them. Calls of an organization that no longer exists are skipped.
async fn write(tx: &mut Tx, calls: &[PendingCall]) -> Result<(), AppError> {
    let mut offsets: HashMap<OrgId, Option<TimeDelta>> = HashMap::new();
    let mut entries = Vec::with_capacity(calls.len());
    for pending in calls {
        let offset = match offsets.get(&pending.org) {
            Some(offset) => *offset,
            None => {
                let offset = match orgs::get(tx, &pending.org).await {
                    Ok(organization) => Some(TimeDelta::seconds(organization.clock_offset_seconds)),
                    Err(sequence_store::StoreError::NotFound) => None,
                    Err(error) => return Err(error.into()),
                };
                offsets.insert(pending.org.clone(), offset);
                offset
            }
        };
        let Some(offset) = offset else { continue };
        let at = pending.at.checked_add_signed(offset).unwrap_or(pending.at);
        entries
            .push(pending.call.clone().entry(pending.org.clone(), crate::at_stored_precision(at)));
    }
    audit::insert_many(tx, &entries).await?;
    Ok(())
}
