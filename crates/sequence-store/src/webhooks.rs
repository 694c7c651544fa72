//! Webhooks as stored (migration 0007): endpoints, the event outbox, each event's delivery to each
//! endpoint, and the HTTP attempts of a delivery.
//!
//! - **Outbox.** [`insert_event`] and [`insert_delivery`] run in the transaction of the change an
//!   event reports, so an event exists if and only if its change committed.
//! - **Claims.** A server replica takes a delivery's next attempt with [`claim_delivery`], a
//!   conditional update from the attempt count it read (and only while the delivery is still
//!   pending and due). The count only grows, so exactly one replica wins each attempt number on
//!   either backend, with no lock held across the HTTP request; the claim also moves the
//!   delivery's next attempt time past a lease, so it is not due again while the attempt is under
//!   way (and is due again if the replica dies). [`finish_attempt`] is conditional on the same
//!   attempt number.
//! - **Order.** A delivery is inserted `waiting` when an earlier delivery about the same subject
//!   to the same endpoint is unfinished ([`last_unfinished`], which locks that row on PostgreSQL so
//!   a concurrent [`finish_attempt`] of it either sees the new one when it promotes the next, or
//!   commits first and makes this one `pending`); [`promote_next`] makes the next one `pending`
//!   when one finishes.
//!
//! Every query that can grow with history reads one index range in the order it returns; each has
//! a `…_statement` twin for the store's plan test.

use chrono::{DateTime, Utc};
use sequence_core::ids::{
    OrgId, WebhookAttemptId, WebhookDeliveryId, WebhookEndpointId, WebhookEventId,
};
use sequence_core::webhooks::{AttemptOutcome, DeliveryStatus, EventType};
use sqlx::{AnyConnection, Row};

use crate::statement::{Cursor, Params, Statement, backend_of, newest_first, upper_bound};
use crate::{Backend, StoreError, StoreResult, from_millis, to_millis};

fn corrupt(what: &str, value: &str) -> StoreError {
    StoreError::Config(format!("corrupt webhook row: {what} `{value}`"))
}

fn parse<T: std::str::FromStr>(what: &str, value: &str) -> StoreResult<T> {
    value.parse().map_err(|_| corrupt(what, value))
}

/// A registered endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointRecord {
    /// `whe_…`.
    pub id: WebhookEndpointId,
    /// Owning organization.
    pub org_id: OrgId,
    /// Where events are POSTed.
    pub url: String,
    /// The event types sent to it; `None`: every type.
    pub event_types: Option<Vec<EventType>>,
    /// A note.
    pub description: Option<String>,
    /// The signing secret (`whsec_…`).
    pub secret: String,
    /// Registration (organization clock).
    pub created_at: DateTime<Utc>,
}

impl EndpointRecord {
    /// Whether events of `event` are sent to this endpoint.
    pub fn wants(&self, event: EventType) -> bool {
        self.event_types.as_ref().is_none_or(|types| types.contains(&event))
    }
}

const ENDPOINT_COLUMNS: &str = "id, org_id, url, event_types, description, secret, created_at_ms";

fn endpoint_from_row(row: &sqlx::any::AnyRow) -> StoreResult<EndpointRecord> {
    let types: Option<String> = row.try_get(3)?;
    let event_types = types
        .map(|types| {
            types
                .split(',')
                .filter(|t| !t.is_empty())
                .map(|t| parse::<EventType>("event type", t))
                .collect::<StoreResult<Vec<_>>>()
        })
        .transpose()?;
    Ok(EndpointRecord {
        id: WebhookEndpointId::from_raw(row.try_get::<String, _>(0)?),
        org_id: OrgId::from_raw(row.try_get::<String, _>(1)?),
        url: row.try_get(2)?,
        event_types,
        description: row.try_get(4)?,
        secret: row.try_get(5)?,
        created_at: from_millis(row.try_get(6)?),
    })
}

/// Inserts an endpoint.
pub async fn insert_endpoint(conn: &mut AnyConnection, e: &EndpointRecord) -> StoreResult<()> {
    let types = e
        .event_types
        .as_ref()
        .map(|types| types.iter().map(|t| t.as_str()).collect::<Vec<_>>().join(","));
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "INSERT INTO webhook_endpoints ({ENDPOINT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7)"
    )))
    .bind(e.id.as_str())
    .bind(e.org_id.as_str())
    .bind(&e.url)
    .bind(types)
    .bind(&e.description)
    .bind(&e.secret)
    .bind(to_millis(e.created_at))
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Locks the organization's row until the transaction ends (PostgreSQL; SQLite's write
/// transaction already excludes other writers): serializes endpoint registrations of one
/// organization, so its endpoint limit holds.
pub async fn lock_organization(conn: &mut AnyConnection, org: &OrgId) -> StoreResult<bool> {
    let lock = if backend_of(conn) == Backend::Postgres { " FOR NO KEY UPDATE" } else { "" };
    let sql = format!("SELECT id FROM organizations WHERE id = $1{lock}");
    let row =
        sqlx::query(sqlx::AssertSqlSafe(sql)).bind(org.as_str()).fetch_optional(&mut *conn).await?;
    Ok(row.is_some())
}

/// The organization's live endpoints, oldest first (at most the organization's limit).
pub async fn live_endpoints(
    conn: &mut AnyConnection,
    org: &OrgId,
) -> StoreResult<Vec<EndpointRecord>> {
    let rows = live_endpoints_statement(org).query().fetch_all(&mut *conn).await?;
    rows.iter().map(endpoint_from_row).collect()
}

/// The statement [`live_endpoints`] runs: the organization's range of
/// `webhook_endpoints_live_by_org`, in index order.
pub fn live_endpoints_statement(org: &OrgId) -> Statement {
    let mut params = Params::default();
    let sql = format!(
        "SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE org_id = {} AND deleted_at_ms IS NULL \
         ORDER BY created_at_ms, id",
        params.text(org.as_str())
    );
    Statement::new(sql, params)
}

/// One live endpoint of the organization.
pub async fn find_live_endpoint(
    conn: &mut AnyConnection,
    org: &OrgId,
    id: &str,
) -> StoreResult<Option<EndpointRecord>> {
    let sql = format!(
        "SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE id = $1 AND org_id = $2 AND deleted_at_ms IS NULL"
    );
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .bind(org.as_str())
        .fetch_optional(&mut *conn)
        .await?;
    row.as_ref().map(endpoint_from_row).transpose()
}

/// Soft-deletes a live endpoint and cancels its unfinished deliveries. Returns whether it was
/// live (and is now deleted).
pub async fn delete_endpoint(
    conn: &mut AnyConnection,
    org: &OrgId,
    id: &str,
    at: DateTime<Utc>,
    real_now: DateTime<Utc>,
) -> StoreResult<bool> {
    let deleted = sqlx::query(
        "UPDATE webhook_endpoints SET deleted_at_ms = $1 WHERE id = $2 AND org_id = $3 AND deleted_at_ms IS NULL",
    )
    .bind(to_millis(at))
    .bind(id)
    .bind(org.as_str())
    .execute(&mut *conn)
    .await?;
    if deleted.rows_affected() != 1 {
        return Ok(false);
    }
    // The endpoint's range of `webhook_deliveries_unfinished`.
    sqlx::query(
        "UPDATE webhook_deliveries SET status = 'cancelled', next_attempt_at_ms = NULL, updated_at_ms = $1 \
         WHERE endpoint_id = $2 AND status IN ('waiting', 'pending')",
    )
    .bind(to_millis(real_now))
    .bind(id)
    .execute(&mut *conn)
    .await?;
    Ok(true)
}

/// An event in the outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventRecord {
    /// `evt_…`.
    pub id: WebhookEventId,
    /// Owning organization.
    pub org_id: OrgId,
    /// Its type.
    pub event_type: EventType,
    /// The resource it is about.
    pub subject_id: String,
    /// The body every attempt sends.
    pub payload: String,
    /// When the change happened (organization clock).
    pub created_at: DateTime<Utc>,
}

/// Inserts an event; returns its sequence number (insertion order).
pub async fn insert_event(conn: &mut AnyConnection, e: &EventRecord) -> StoreResult<i64> {
    let row = sqlx::query(
        "INSERT INTO webhook_events (id, org_id, event_type, subject_id, payload, created_at_ms) \
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING seq",
    )
    .bind(e.id.as_str())
    .bind(e.org_id.as_str())
    .bind(e.event_type.as_str())
    .bind(&e.subject_id)
    .bind(&e.payload)
    .bind(to_millis(e.created_at))
    .fetch_one(&mut *conn)
    .await?;
    Ok(row.try_get(0)?)
}

/// One event of the organization.
pub async fn find_event(
    conn: &mut AnyConnection,
    org: &OrgId,
    id: &str,
) -> StoreResult<Option<EventRecord>> {
    let row = sqlx::query(
        "SELECT id, org_id, event_type, subject_id, payload, created_at_ms FROM webhook_events \
         WHERE id = $1 AND org_id = $2",
    )
    .bind(id)
    .bind(org.as_str())
    .fetch_optional(&mut *conn)
    .await?;
    row.map(|row| {
        let event_type: String = row.try_get(2)?;
        Ok(EventRecord {
            id: WebhookEventId::from_raw(row.try_get::<String, _>(0)?),
            org_id: OrgId::from_raw(row.try_get::<String, _>(1)?),
            event_type: parse("event type", &event_type)?,
            subject_id: row.try_get(3)?,
            payload: row.try_get(4)?,
            created_at: from_millis(row.try_get(5)?),
        })
    })
    .transpose()
}

/// A new delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewDelivery {
    /// `whd_…`.
    pub id: WebhookDeliveryId,
    /// Owning organization.
    pub org_id: OrgId,
    /// Where to.
    pub endpoint_id: WebhookEndpointId,
    /// What.
    pub event_id: WebhookEventId,
    /// The event's sequence number.
    pub event_seq: i64,
    /// The event's subject.
    pub subject_id: String,
    /// `Waiting` (behind an unfinished delivery about the same subject) or `Pending`.
    pub status: DeliveryStatus,
    /// When the first attempt is due (real time), for a pending delivery.
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// The event's time (organization clock).
    pub created_at: DateTime<Utc>,
    /// Real time now.
    pub updated_at: DateTime<Utc>,
}

/// Inserts a delivery.
pub async fn insert_delivery(conn: &mut AnyConnection, d: &NewDelivery) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO webhook_deliveries (id, org_id, endpoint_id, event_id, event_seq, subject_id, status, \
         attempts, next_attempt_at_ms, first_attempt_at_ms, created_at_ms, updated_at_ms) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, 0, $8, NULL, $9, $10)",
    )
    .bind(d.id.as_str())
    .bind(d.org_id.as_str())
    .bind(d.endpoint_id.as_str())
    .bind(d.event_id.as_str())
    .bind(d.event_seq)
    .bind(&d.subject_id)
    .bind(d.status.as_str())
    .bind(d.next_attempt_at.map(to_millis))
    .bind(to_millis(d.created_at))
    .bind(to_millis(d.updated_at))
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Whether an unfinished (waiting or pending) delivery about `subject` to `endpoint` exists: the
/// latest one is locked on PostgreSQL (see the module docs).
pub async fn last_unfinished(
    conn: &mut AnyConnection,
    endpoint: &WebhookEndpointId,
    subject: &str,
) -> StoreResult<bool> {
    let statement = last_unfinished_statement(backend_of(conn), endpoint, subject);
    Ok(statement.query().fetch_optional(&mut *conn).await?.is_some())
}

/// The statement [`last_unfinished`] runs: the end of the (endpoint, subject) range of
/// `webhook_deliveries_unfinished`.
pub fn last_unfinished_statement(
    backend: Backend,
    endpoint: &WebhookEndpointId,
    subject: &str,
) -> Statement {
    let mut params = Params::default();
    let lock = if backend == Backend::Postgres { " FOR UPDATE" } else { "" };
    let sql = format!(
        "SELECT id FROM webhook_deliveries WHERE endpoint_id = {} AND subject_id = {} \
         AND status IN ('waiting', 'pending') ORDER BY event_seq DESC LIMIT 1{lock}",
        params.text(endpoint.as_str()),
        params.text(subject),
    );
    Statement::new(sql, params)
}

/// A due delivery, as the deliverer finds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueDelivery {
    /// The delivery.
    pub id: WebhookDeliveryId,
    /// Its endpoint.
    pub endpoint_id: WebhookEndpointId,
    /// Attempts claimed so far (the claim is conditional on it).
    pub attempts: u32,
}

/// Up to `limit` deliveries due at `now` (real time), oldest due first, of any organization,
/// leaving out the `busy` endpoints (those the caller already sends as much to as it allows).
pub async fn due(
    conn: &mut AnyConnection,
    now: DateTime<Utc>,
    busy: &[WebhookEndpointId],
    limit: u32,
) -> StoreResult<Vec<DueDelivery>> {
    let rows = due_statement(now, busy, limit).query().fetch_all(&mut *conn).await?;
    rows.iter()
        .map(|row| {
            Ok(DueDelivery {
                id: WebhookDeliveryId::from_raw(row.try_get::<String, _>(0)?),
                endpoint_id: WebhookEndpointId::from_raw(row.try_get::<String, _>(1)?),
                attempts: u32::try_from(row.try_get::<i64, _>(2)?)
                    .map_err(|_| corrupt("attempts", "negative"))?,
            })
        })
        .collect()
}

/// The statement [`due`] runs: `webhook_deliveries_due` up to `now`, in index order; the busy
/// endpoints are filtered out of the rows of that range. The filter is written on
/// `endpoint_id || ''` (exact: ids are never NULL) so that PostgreSQL does not weigh a busy
/// endpoint's share of the table's statistics and trade the ordered range for a sort of every due
/// row: a busy endpoint's deliveries under way are leased, not due, so few due rows are left out.
pub fn due_statement(now: DateTime<Utc>, busy: &[WebhookEndpointId], limit: u32) -> Statement {
    let mut params = Params::default();
    let mut sql = format!(
        "SELECT id, endpoint_id, attempts FROM webhook_deliveries WHERE status = 'pending' \
         AND next_attempt_at_ms <= {}",
        params.int(to_millis(now))
    );
    if !busy.is_empty() {
        let list: Vec<String> = busy.iter().map(|id| params.text(id.as_str())).collect();
        sql.push_str(&format!(" AND (endpoint_id || '') NOT IN ({})", list.join(", ")));
    }
    sql.push_str(&format!(
        " ORDER BY next_attempt_at_ms, id LIMIT {}",
        params.int(i64::from(limit))
    ));
    Statement::new(sql, params)
}

/// Claims attempt `seen_attempts + 1` of a due delivery: a conditional update from the count the
/// caller read, which also leases the delivery until `lease_until` (it is due again then if the
/// attempt's result was never recorded). Returns whether this call won.
pub async fn claim_delivery(
    conn: &mut AnyConnection,
    id: &WebhookDeliveryId,
    seen_attempts: u32,
    now: DateTime<Utc>,
    lease_until: DateTime<Utc>,
) -> StoreResult<bool> {
    let result = sqlx::query(
        "UPDATE webhook_deliveries SET attempts = attempts + 1, next_attempt_at_ms = $1, \
         first_attempt_at_ms = COALESCE(first_attempt_at_ms, $2), updated_at_ms = $2 \
         WHERE id = $3 AND status = 'pending' AND attempts = $4 AND next_attempt_at_ms <= $2",
    )
    .bind(to_millis(lease_until))
    .bind(to_millis(now))
    .bind(id.as_str())
    .bind(i64::from(seen_attempts))
    .execute(&mut *conn)
    .await?;
    Ok(result.rows_affected() == 1)
}

/// Everything an attempt needs: the delivery, its event and its endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptWork {
    /// The delivery.
    pub delivery_id: WebhookDeliveryId,
    /// The organization.
    pub org_id: OrgId,
    /// The endpoint.
    pub endpoint_id: WebhookEndpointId,
    /// Where to POST.
    pub url: String,
    /// The signing secret.
    pub secret: String,
    /// The event.
    pub event_id: WebhookEventId,
    /// Its type.
    pub event_type: EventType,
    /// Its subject.
    pub subject_id: String,
    /// The body.
    pub payload: String,
    /// Attempts claimed so far, this one included (this attempt's number).
    pub attempt: u32,
    /// The first attempt's time (real time).
    pub first_attempt_at: DateTime<Utc>,
    /// The endpoint was deleted after the delivery was made (a fan-out that read the endpoint
    /// live just before a deletion committed): the attempt must not be sent.
    pub endpoint_deleted: bool,
}

/// The work of a claimed delivery (its primary key, and its event's and endpoint's).
pub async fn attempt_work(
    conn: &mut AnyConnection,
    id: &WebhookDeliveryId,
) -> StoreResult<Option<AttemptWork>> {
    let row = sqlx::query(
        "SELECT d.id, d.org_id, d.endpoint_id, p.url, p.secret, e.id, e.event_type, e.subject_id, \
         e.payload, d.attempts, d.first_attempt_at_ms, p.deleted_at_ms \
         FROM webhook_deliveries d \
         JOIN webhook_events e ON e.id = d.event_id \
         JOIN webhook_endpoints p ON p.id = d.endpoint_id \
         WHERE d.id = $1",
    )
    .bind(id.as_str())
    .fetch_optional(&mut *conn)
    .await?;
    row.map(|row| {
        let event_type: String = row.try_get(6)?;
        let first: Option<i64> = row.try_get(10)?;
        Ok(AttemptWork {
            delivery_id: WebhookDeliveryId::from_raw(row.try_get::<String, _>(0)?),
            org_id: OrgId::from_raw(row.try_get::<String, _>(1)?),
            endpoint_id: WebhookEndpointId::from_raw(row.try_get::<String, _>(2)?),
            url: row.try_get(3)?,
            secret: row.try_get(4)?,
            event_id: WebhookEventId::from_raw(row.try_get::<String, _>(5)?),
            event_type: parse("event type", &event_type)?,
            subject_id: row.try_get(7)?,
            payload: row.try_get(8)?,
            attempt: u32::try_from(row.try_get::<i64, _>(9)?)
                .map_err(|_| corrupt("attempts", "negative"))?,
            first_attempt_at: from_millis(first.ok_or_else(|| corrupt("first attempt", "null"))?),
            endpoint_deleted: row.try_get::<Option<i64>, _>(11)?.is_some(),
        })
    })
    .transpose()
}

/// Records the result of attempt `attempt` on a delivery, if that attempt is still the latest and
/// the delivery still pending: `Pending` with the next attempt time, or `Delivered` / `Failed`.
/// Returns whether it was recorded (`false`: the endpoint was deleted, or the lease ran out and
/// another attempt was claimed).
pub async fn finish_attempt(
    conn: &mut AnyConnection,
    id: &WebhookDeliveryId,
    attempt: u32,
    status: DeliveryStatus,
    next_attempt_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> StoreResult<bool> {
    let result = sqlx::query(
        "UPDATE webhook_deliveries SET status = $1, next_attempt_at_ms = $2, updated_at_ms = $3 \
         WHERE id = $4 AND status = 'pending' AND attempts = $5",
    )
    .bind(status.as_str())
    .bind(next_attempt_at.map(to_millis))
    .bind(to_millis(now))
    .bind(id.as_str())
    .bind(i64::from(attempt))
    .execute(&mut *conn)
    .await?;
    Ok(result.rows_affected() == 1)
}

/// Makes the next waiting delivery about `subject` to `endpoint` pending, due at `now`, after the
/// one before it finished. Returns it, if there was one.
pub async fn promote_next(
    conn: &mut AnyConnection,
    endpoint: &WebhookEndpointId,
    subject: &str,
    now: DateTime<Utc>,
) -> StoreResult<Option<WebhookDeliveryId>> {
    let next = next_waiting_statement(endpoint, subject).query().fetch_optional(&mut *conn).await?;
    let Some(row) = next else { return Ok(None) };
    let id = WebhookDeliveryId::from_raw(row.try_get::<String, _>(0)?);
    sqlx::query(
        "UPDATE webhook_deliveries SET status = 'pending', next_attempt_at_ms = $1, updated_at_ms = $1 \
         WHERE id = $2 AND status = 'waiting'",
    )
    .bind(to_millis(now))
    .bind(id.as_str())
    .execute(&mut *conn)
    .await?;
    Ok(Some(id))
}

/// The statement [`promote_next`] looks the next waiting delivery up with: the start of the
/// (endpoint, subject) range of `webhook_deliveries_unfinished`.
pub fn next_waiting_statement(endpoint: &WebhookEndpointId, subject: &str) -> Statement {
    let mut params = Params::default();
    let sql = format!(
        "SELECT id FROM webhook_deliveries WHERE endpoint_id = {} AND subject_id = {} \
         AND status IN ('waiting', 'pending') ORDER BY event_seq LIMIT 1",
        params.text(endpoint.as_str()),
        params.text(subject),
    );
    Statement::new(sql, params)
}

/// One HTTP attempt, as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptRecord {
    /// `wha_…`.
    pub id: WebhookAttemptId,
    /// Owning organization.
    pub org_id: OrgId,
    /// Where to.
    pub endpoint_id: WebhookEndpointId,
    /// The delivery.
    pub delivery_id: WebhookDeliveryId,
    /// The event.
    pub event_id: WebhookEventId,
    /// Its type.
    pub event_type: EventType,
    /// 1 for the first attempt.
    pub attempt: u32,
    /// The endpoint's status code, if it answered.
    pub response_status: Option<u16>,
    /// Why it failed.
    pub error: Option<String>,
    /// How long it took.
    pub duration_ms: u64,
    /// What came of it.
    pub outcome: AttemptOutcome,
    /// The next attempt (organization clock), when retrying.
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// When it started (organization clock).
    pub created_at: DateTime<Utc>,
}

const ATTEMPT_COLUMNS: &str = "id, org_id, endpoint_id, delivery_id, event_id, event_type, attempt, \
     response_status, error, duration_ms, outcome, next_attempt_org_ms, created_at_ms";

/// Inserts an attempt.
pub async fn insert_attempt(conn: &mut AnyConnection, a: &AttemptRecord) -> StoreResult<()> {
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "INSERT INTO webhook_attempts ({ATTEMPT_COLUMNS}) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
    )))
    .bind(a.id.as_str())
    .bind(a.org_id.as_str())
    .bind(a.endpoint_id.as_str())
    .bind(a.delivery_id.as_str())
    .bind(a.event_id.as_str())
    .bind(a.event_type.as_str())
    .bind(i64::from(a.attempt))
    .bind(a.response_status.map(i64::from))
    .bind(&a.error)
    .bind(i64::try_from(a.duration_ms).unwrap_or(i64::MAX))
    .bind(a.outcome.as_str())
    .bind(a.next_attempt_at.map(to_millis))
    .bind(to_millis(a.created_at))
    .execute(&mut *conn)
    .await?;
    Ok(())
}

fn attempt_from_row(row: &sqlx::any::AnyRow) -> StoreResult<AttemptRecord> {
    let event_type: String = row.try_get(5)?;
    let outcome: String = row.try_get(10)?;
    let status: Option<i64> = row.try_get(7)?;
    Ok(AttemptRecord {
        id: WebhookAttemptId::from_raw(row.try_get::<String, _>(0)?),
        org_id: OrgId::from_raw(row.try_get::<String, _>(1)?),
        endpoint_id: WebhookEndpointId::from_raw(row.try_get::<String, _>(2)?),
        delivery_id: WebhookDeliveryId::from_raw(row.try_get::<String, _>(3)?),
        event_id: WebhookEventId::from_raw(row.try_get::<String, _>(4)?),
        event_type: parse("event type", &event_type)?,
        attempt: u32::try_from(row.try_get::<i64, _>(6)?).map_err(|_| corrupt("attempt", "<1"))?,
        response_status: status
            .map(|s| u16::try_from(s).map_err(|_| corrupt("status", &s.to_string())))
            .transpose()?,
        error: row.try_get(8)?,
        duration_ms: u64::try_from(row.try_get::<i64, _>(9)?).unwrap_or(0),
        outcome: parse("outcome", &outcome)?,
        next_attempt_at: row.try_get::<Option<i64>, _>(11)?.map(from_millis),
        created_at: from_millis(row.try_get(12)?),
    })
}

/// An endpoint's attempts, newest first, at most `limit` after `cursor`.
pub async fn list_attempts(
    conn: &mut AnyConnection,
    org: &OrgId,
    endpoint: &WebhookEndpointId,
    cursor: Option<&Cursor>,
    limit: u32,
) -> StoreResult<Vec<AttemptRecord>> {
    let statement = list_attempts_statement(backend_of(conn), org, endpoint, cursor, limit);
    let rows = statement.query().fetch_all(&mut *conn).await?;
    rows.iter().map(attempt_from_row).collect()
}

/// The statement [`list_attempts`] runs: the endpoint's range of
/// `webhook_attempts_list_by_endpoint`, newest first from the cursor.
pub fn list_attempts_statement(
    backend: Backend,
    org: &OrgId,
    endpoint: &WebhookEndpointId,
    cursor: Option<&Cursor>,
    limit: u32,
) -> Statement {
    let mut params = Params::default();
    let branch = vec![
        format!("org_id = {}", params.text(org.as_str())),
        format!("endpoint_id = {}", params.text(endpoint.as_str())),
    ];
    let common: Vec<String> = upper_bound(&mut params, None, cursor).into_iter().collect();
    let limit = params.int(i64::from(limit));
    let sql =
        newest_first(backend, "webhook_attempts", ATTEMPT_COLUMNS, &[branch], &common, &limit);
    Statement::new(sql, params)
}

/// A delivery's state (tests and diagnostics).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryState {
    /// The delivery.
    pub id: WebhookDeliveryId,
    /// Its endpoint.
    pub endpoint_id: WebhookEndpointId,
    /// Its event.
    pub event_id: WebhookEventId,
    /// Where it stands.
    pub status: DeliveryStatus,
    /// Attempts claimed.
    pub attempts: u32,
    /// When the next attempt is due (real time), while pending.
    pub next_attempt_at: Option<DateTime<Utc>>,
}

/// Every delivery of an organization's events, in event order (tests and diagnostics; not on any
/// request path).
pub async fn deliveries_of(
    conn: &mut AnyConnection,
    org: &OrgId,
) -> StoreResult<Vec<DeliveryState>> {
    let rows = sqlx::query(
        "SELECT id, endpoint_id, event_id, status, attempts, next_attempt_at_ms FROM webhook_deliveries \
         WHERE org_id = $1 ORDER BY event_seq, endpoint_id",
    )
    .bind(org.as_str())
    .fetch_all(&mut *conn)
    .await?;
    rows.iter()
        .map(|row| {
            let status: String = row.try_get(3)?;
            Ok(DeliveryState {
                id: WebhookDeliveryId::from_raw(row.try_get::<String, _>(0)?),
                endpoint_id: WebhookEndpointId::from_raw(row.try_get::<String, _>(1)?),
                event_id: WebhookEventId::from_raw(row.try_get::<String, _>(2)?),
                status: parse("delivery status", &status)?,
                attempts: u32::try_from(row.try_get::<i64, _>(4)?).unwrap_or(0),
                next_attempt_at: row.try_get::<Option<i64>, _>(5)?.map(from_millis),
            })
        })
        .collect()
}

/// A delivery's status and attempt count, if it exists.
pub async fn delivery_status(
    conn: &mut AnyConnection,
    id: &WebhookDeliveryId,
) -> StoreResult<Option<(DeliveryStatus, u32)>> {
    let row = sqlx::query("SELECT status, attempts FROM webhook_deliveries WHERE id = $1")
        .bind(id.as_str())
        .fetch_optional(&mut *conn)
        .await?;
    row.map(|row| {
        let status: String = row.try_get(0)?;
        Ok((
            parse("delivery status", &status)?,
            u32::try_from(row.try_get::<i64, _>(1)?)
                .map_err(|_| corrupt("attempts", "negative"))?,
        ))
    })
    .transpose()
}
