//! The audit log: one row per recorded API call (migration 0008).
//!
//! What is recorded, and when, is the application layer's decision (`sequence_app::audit`); this
//! module only stores entries and lists them newest first. The listing is one index range per
//! query, in the order returned, starting at the cursor (see [`crate::statement`]): the filter
//! that has its own index (`api_key_id`, then `operation_id`, then `outcome`, else the
//! organization's whole log) picks the range, and the others are checked on its rows.

use chrono::{DateTime, Utc};
use sequence_core::ids::{ApiKeyId, AuditEntryId, OrgId};
use sqlx::{AnyConnection, Row};

use crate::statement::{Cursor, Params, Statement, backend_of, newest_first, upper_bound};
use crate::{Backend, StoreError, StoreResult, from_millis, to_millis};

/// How a recorded call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// A mutating call that succeeded.
    Success,
    /// A mutating call answered with an error other than a denial.
    Failure,
    /// A call refused with 401, 403 or 429.
    Denied,
}

impl Outcome {
    /// Every outcome.
    pub const ALL: [Outcome; 3] = [Outcome::Success, Outcome::Failure, Outcome::Denied];

    /// The stored (and wire) spelling.
    pub const fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Failure => "failure",
            Outcome::Denied => "denied",
        }
    }

    fn parse(stored: &str) -> StoreResult<Outcome> {
        Outcome::ALL
            .into_iter()
            .find(|o| o.as_str() == stored)
            .ok_or_else(|| StoreError::Config(format!("corrupt audit row: outcome {stored:?}")))
    }
}

/// One recorded call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    /// `aud_…`.
    pub id: AuditEntryId,
    /// The organization whose log it is in.
    pub org_id: OrgId,
    /// When the call was answered (organization clock).
    pub created_at: DateTime<Utc>,
    /// The key that made the call.
    pub api_key_id: ApiKeyId,
    /// The spec's `operationId`.
    pub operation_id: String,
    /// The HTTP method.
    pub method: String,
    /// The concrete path, relative to the base path.
    pub path: String,
    /// Ids the call named or produced.
    pub resource_ids: Vec<String>,
    /// How it ended.
    pub outcome: Outcome,
    /// The HTTP status answered.
    pub status: u16,
    /// The error code, for errors.
    pub error_code: Option<String>,
    /// The request id.
    pub request_id: String,
    /// The `X-Called-Reason` header, if sent.
    pub called_reason: Option<String>,
}

/// What `GET /audit-logs` filters on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    /// Only this key's calls.
    pub api_key_id: Option<String>,
    /// Only this operation's calls.
    pub operation_id: Option<String>,
    /// Only calls with this outcome.
    pub outcome: Option<Outcome>,
    /// Created at or after.
    pub from: Option<DateTime<Utc>>,
    /// Created at or before.
    pub to: Option<DateTime<Utc>>,
}

const COLUMNS: &str = "id, org_id, created_at_ms, api_key_id, operation_id, method, path, \
                       resource_ids, outcome, status, error_code, request_id, called_reason";

/// Records `entry` (the same statement as a one-row [`insert_many`], so the two never share a
/// cached statement with different parameter types).
pub async fn insert(conn: &mut AnyConnection, entry: &AuditEntry) -> StoreResult<()> {
    insert_many(conn, std::slice::from_ref(entry)).await
}

/// Records `entries` with one multi-row `INSERT` (the background writer's batches; at most
/// [`INSERT_MANY_MAX`] rows, which keeps the statement under both backends' parameter limits).
pub async fn insert_many(conn: &mut AnyConnection, entries: &[AuditEntry]) -> StoreResult<()> {
    for chunk in entries.chunks(INSERT_MANY_MAX) {
        let mut params = Params::default();
        let mut rows = Vec::with_capacity(chunk.len());
        for entry in chunk {
            let created_at = params.int(to_millis(entry.created_at));
            rows.push(format!("({})", entry_values(&mut params, entry, created_at)?.join(", ")));
        }
        let sql = format!("INSERT INTO audit_logs ({INSERT_COLUMNS}) VALUES {}", rows.join(", "));
        Statement::new(sql, params).query().execute(&mut *conn).await?;
    }
    Ok(())
}

/// Records `entry`, whose `created_at` is real time, at its organization's clock: `created_at`
/// plus the organization's sandbox clock offset, read from the organization in the same
/// statement. A request's audit entry is written on SQLite's one writer, where reading the
/// organization first would be one more round trip. [`StoreError::NotFound`] if the
/// organization does not exist.
pub async fn insert_at_org_clock(conn: &mut AnyConnection, entry: &AuditEntry) -> StoreResult<()> {
    let mut params = Params::default();
    let created_at =
        format!("{} + clock_offset_seconds * 1000", params.int(to_millis(entry.created_at)));
    let values = entry_values(&mut params, entry, created_at)?;
    // `values[1]` is the entry's `org_id` parameter: the organization whose clock it takes.
    let sql = format!(
        "INSERT INTO audit_logs ({INSERT_COLUMNS}) SELECT {} FROM organizations WHERE id = {}",
        values.join(", "),
        values[1]
    );
    let result = Statement::new(sql, params).query().execute(&mut *conn).await?;
    if result.rows_affected() != 1 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}

/// The columns [`entry_values`] gives values for, in order.
const INSERT_COLUMNS: &str = "id, org_id, created_at_ms, api_key_id, operation_id, method, path, \
                              resource_ids, outcome, status, error_code, request_id, called_reason";

/// The SQL values of `entry` for [`INSERT_COLUMNS`], its parameters added to `params`;
/// `created_at` is the SQL of its time.
fn entry_values(
    params: &mut Params,
    entry: &AuditEntry,
    created_at: String,
) -> StoreResult<[String; 13]> {
    let resource_ids = serde_json::to_string(&entry.resource_ids)
        .map_err(|e| StoreError::Config(format!("resource ids do not serialize: {e}")))?;
    Ok([
        params.text(entry.id.as_str()),
        params.text(entry.org_id.as_str()),
        created_at,
        params.text(entry.api_key_id.as_str()),
        params.text(entry.operation_id.as_str()),
        params.text(entry.method.as_str()),
        params.text(entry.path.as_str()),
        params.text(resource_ids),
        params.text(entry.outcome.as_str()),
        // `status` is an INTEGER (int4) column: PostgreSQL refuses an int8 parameter in a
        // multi-row VALUES list, so the value is cast in SQL.
        format!("CAST({} AS INTEGER)", params.int(i64::from(entry.status))),
        params.optional_text(entry.error_code.as_deref()),
        params.text(entry.request_id.as_str()),
        params.optional_text(entry.called_reason.as_deref()),
    ])
}

/// The most rows [`insert_many`] puts in one statement (13 values each).
pub const INSERT_MANY_MAX: usize = 50;

fn from_row(row: &sqlx::any::AnyRow) -> StoreResult<AuditEntry> {
    let resource_ids: String = row.try_get(7)?;
    let status: i32 = row.try_get(9)?;
    Ok(AuditEntry {
        id: AuditEntryId::from_raw(row.try_get::<String, _>(0)?),
        org_id: OrgId::from_raw(row.try_get::<String, _>(1)?),
        created_at: from_millis(row.try_get(2)?),
        api_key_id: ApiKeyId::from_raw(row.try_get::<String, _>(3)?),
        operation_id: row.try_get(4)?,
        method: row.try_get(5)?,
        path: row.try_get(6)?,
        resource_ids: serde_json::from_str(&resource_ids)
            .map_err(|e| StoreError::Config(format!("corrupt audit row: resource ids: {e}")))?,
        outcome: Outcome::parse(&row.try_get::<String, _>(8)?)?,
        status: u16::try_from(status)
            .map_err(|_| StoreError::Config(format!("corrupt audit row: status {status}")))?,
        error_code: row.try_get(10)?,
        request_id: row.try_get(11)?,
        called_reason: row.try_get(12)?,
    })
}

/// Up to `limit` entries of `org` matching `filter`, newest first, strictly after `cursor`.
pub async fn list(
    conn: &mut AnyConnection,
    org: &OrgId,
    filter: &AuditFilter,
    cursor: Option<&Cursor>,
    limit: u32,
) -> StoreResult<Vec<AuditEntry>> {
    let statement = list_statement(backend_of(conn), org, filter, cursor, limit);
    let rows = statement.query().fetch_all(&mut *conn).await?;
    rows.iter().map(from_row).collect()
}

/// The statement [`list`] runs (see the module docs for which index serves it).
pub fn list_statement(
    backend: Backend,
    org: &OrgId,
    filter: &AuditFilter,
    cursor: Option<&Cursor>,
    limit: u32,
) -> Statement {
    let mut params = Params::default();
    let mut range = vec![format!("org_id = {}", params.text(org.as_str()))];
    let mut common = Vec::new();
    // The first filter present chooses the index range; the rest are checked on its rows.
    let mut terms = [
        filter.api_key_id.as_ref().map(|key| ("api_key_id", key.clone())),
        filter.operation_id.as_ref().map(|op| ("operation_id", op.clone())),
        filter.outcome.map(|o| ("outcome", o.as_str().to_owned())),
    ]
    .into_iter()
    .flatten();
    if let Some((column, value)) = terms.next() {
        range.push(format!("{column} = {}", params.text(value)));
    }
    for (column, value) in terms {
        common.push(format!("{column} = {}", params.text(value)));
    }
    if let Some(from) = filter.from {
        common.push(format!("created_at_ms >= {}", params.int(to_millis(from))));
    }
    common.extend(upper_bound(&mut params, filter.to.map(to_millis), cursor));
    let limit = params.int(i64::from(limit));
    let sql = newest_first(backend, "audit_logs", COLUMNS, &[range], &common, &limit);
    Statement::new(sql, params)
}
