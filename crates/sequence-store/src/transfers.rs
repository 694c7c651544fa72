//! Transfers as stored, and the queries over them. Status changes are conditional updates
//! ("move from `processing` to `pending` if it is still `processing`"), so concurrent workers on
//! several replicas never apply one step twice.

use chrono::{DateTime, Utc};
use sequence_core::ids::{AccountId, OrgId, RuleExecutionId, RuleId, TransferId};
use sequence_core::ledger::{TransferDirection, TransferErrorCode, TransferOrigin, TransferStatus};
use sequence_core::money::Cents;
use sqlx::{AnyConnection, Row};

use crate::{StoreError, StoreResult, from_millis, to_millis};

/// A transfer as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransferRecord {
    /// `txr_…`.
    pub id: TransferId,
    /// Owning organization.
    pub org_id: OrgId,
    /// Source account; `None` when money comes from the outside world.
    pub source: Option<AccountId>,
    /// Destination account; `None` when money leaves to the outside world.
    pub destination: Option<AccountId>,
    /// Positive amount.
    pub amount: Cents,
    /// Derived from the two sides.
    pub direction: TransferDirection,
    /// Why it exists.
    pub origin: TransferOrigin,
    /// Lifecycle status.
    pub status: TransferStatus,
    /// Set exactly when `status` is `error`.
    pub error_code: Option<TransferErrorCode>,
    /// ACH statement label.
    pub description: Option<String>,
    /// A simulation: never moves or reserves money.
    pub simulation: bool,
    /// What it holds on its source's reservation.
    pub reserved: Cents,
    /// The rule that made it.
    pub rule_id: Option<RuleId>,
    /// The execution that made it.
    pub rule_execution_id: Option<RuleExecutionId>,
    /// When it entered `processing`.
    pub processing_started_at: Option<DateTime<Utc>>,
    /// When the settlement worker moves it on.
    pub next_step_at: Option<DateTime<Utc>>,
    /// Creation (organization clock).
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
    /// Completion.
    pub completed_at: Option<DateTime<Utc>>,
}

const COLUMNS: &str = "id, org_id, source_account_id, destination_account_id, amount_cents, direction, origin, status, \
     error_code, description, simulation, reserved_cents, rule_id, rule_execution_id, processing_started_at_ms, \
     next_step_at_ms, created_at_ms, updated_at_ms, completed_at_ms";

fn corrupt(what: &str, value: &str) -> StoreError {
    StoreError::Config(format!("corrupt transfer row: {what} `{value}`"))
}

fn from_row(row: &sqlx::any::AnyRow) -> StoreResult<TransferRecord> {
    let text = |i: usize| -> StoreResult<String> { Ok(row.try_get::<String, _>(i)?) };
    let opt_text =
        |i: usize| -> StoreResult<Option<String>> { Ok(row.try_get::<Option<String>, _>(i)?) };
    let opt_time = |i: usize| -> StoreResult<Option<DateTime<Utc>>> {
        Ok(row.try_get::<Option<i64>, _>(i)?.map(from_millis))
    };
    let direction = text(5)?;
    let origin = text(6)?;
    let status = text(7)?;
    let error_code = opt_text(8)?;
    Ok(TransferRecord {
        id: TransferId::from_raw(text(0)?),
        org_id: OrgId::from_raw(text(1)?),
        source: opt_text(2)?.map(AccountId::from_raw),
        destination: opt_text(3)?.map(AccountId::from_raw),
        amount: Cents::new(row.try_get(4)?),
        direction: direction.parse().map_err(|_| corrupt("direction", &direction))?,
        origin: origin.parse().map_err(|_| corrupt("origin", &origin))?,
        status: status.parse().map_err(|_| corrupt("status", &status))?,
        error_code: error_code
            .as_deref()
            .map(|c| c.parse().map_err(|_| corrupt("error code", c)))
            .transpose()?,
        description: opt_text(9)?,
        simulation: row.try_get::<i64, _>(10)? != 0,
        reserved: Cents::new(row.try_get(11)?),
        rule_id: opt_text(12)?.map(RuleId::from_raw),
        rule_execution_id: opt_text(13)?.map(RuleExecutionId::from_raw),
        processing_started_at: opt_time(14)?,
        next_step_at: opt_time(15)?,
        created_at: from_millis(row.try_get(16)?),
        updated_at: from_millis(row.try_get(17)?),
        completed_at: opt_time(18)?,
    })
}

/// Inserts a transfer.
pub async fn insert(conn: &mut AnyConnection, t: &TransferRecord) -> StoreResult<()> {
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "INSERT INTO transfers ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)"
    )))
    .bind(t.id.as_str())
    .bind(t.org_id.as_str())
    .bind(t.source.as_ref().map(AccountId::as_str))
    .bind(t.destination.as_ref().map(AccountId::as_str))
    .bind(t.amount.get())
    .bind(t.direction.as_str())
    .bind(t.origin.as_str())
    .bind(t.status.as_str())
    .bind(t.error_code.map(TransferErrorCode::as_str))
    .bind(&t.description)
    .bind(i64::from(t.simulation))
    .bind(t.reserved.get())
    .bind(t.rule_id.as_ref().map(RuleId::as_str))
    .bind(t.rule_execution_id.as_ref().map(RuleExecutionId::as_str))
    .bind(t.processing_started_at.map(to_millis))
    .bind(t.next_step_at.map(to_millis))
    .bind(to_millis(t.created_at))
    .bind(to_millis(t.updated_at))
    .bind(t.completed_at.map(to_millis))
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// One transfer of the organization.
pub async fn find(
    conn: &mut AnyConnection,
    org: &OrgId,
    id: &str,
) -> StoreResult<Option<TransferRecord>> {
    let sql = format!("SELECT {COLUMNS} FROM transfers WHERE org_id = $1 AND id = $2");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(org.as_str())
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?;
    row.as_ref().map(from_row).transpose()
}

/// Replaces a transfer's mutable fields if its status is still `expected`. Returns whether this
/// call won (`false`: someone else moved it first).
pub async fn update_if_status(
    conn: &mut AnyConnection,
    t: &TransferRecord,
    expected: TransferStatus,
) -> StoreResult<bool> {
    let result = sqlx::query(
        "UPDATE transfers SET status = $1, error_code = $2, reserved_cents = $3, processing_started_at_ms = $4, \
         next_step_at_ms = $5, updated_at_ms = $6, completed_at_ms = $7 \
         WHERE id = $8 AND org_id = $9 AND status = $10",
    )
    .bind(t.status.as_str())
    .bind(t.error_code.map(TransferErrorCode::as_str))
    .bind(t.reserved.get())
    .bind(t.processing_started_at.map(to_millis))
    .bind(t.next_step_at.map(to_millis))
    .bind(to_millis(t.updated_at))
    .bind(t.completed_at.map(to_millis))
    .bind(t.id.as_str())
    .bind(t.org_id.as_str())
    .bind(expected.as_str())
    .execute(&mut *conn)
    .await?;
    Ok(result.rows_affected() == 1)
}

/// Which side(s) of a transfer an account must be on to match a listing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccountRole {
    /// The account sent it.
    Source,
    /// The account received it.
    Destination,
    /// Either.
    Either,
}

/// Live, simulated or both.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModeFilter {
    /// Only live records (the default).
    Live,
    /// Only simulations.
    Simulation,
    /// Both.
    All,
}

/// Filters for [`list`].
#[derive(Debug, Clone)]
pub struct TransferFilter {
    /// The account whose transfers are listed.
    pub account: AccountId,
    /// Which side it must be on.
    pub role: AccountRole,
    /// Only this direction.
    pub direction: Option<TransferDirection>,
    /// Only this origin.
    pub origin: Option<TransferOrigin>,
    /// Only this status.
    pub status: Option<TransferStatus>,
    /// Live / simulated.
    pub mode: ModeFilter,
    /// Created at or after.
    pub from: Option<DateTime<Utc>>,
    /// Created at or before.
    pub to: Option<DateTime<Utc>>,
    /// Only transfers of this rule execution.
    pub rule_execution: Option<RuleExecutionId>,
}

/// A position in a newest-first listing: strictly after (older than) this row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    /// `created_at` of the last row seen.
    pub created_at_ms: i64,
    /// Its id (tie-breaker).
    pub id: String,
}

/// Newest first (`created_at` desc, then id desc), at most `limit` rows after `cursor`.
pub async fn list(
    conn: &mut AnyConnection,
    org: &OrgId,
    filter: &TransferFilter,
    cursor: Option<&Cursor>,
    limit: u32,
) -> StoreResult<Vec<TransferRecord>> {
    let account_clause = match filter.role {
        AccountRole::Source => "source_account_id = $2",
        AccountRole::Destination => "destination_account_id = $2",
        AccountRole::Either => "(source_account_id = $2 OR destination_account_id = $2)",
    };
    let mode_clause = match filter.mode {
        ModeFilter::Live => " AND simulation = 0",
        ModeFilter::Simulation => " AND simulation = 1",
        ModeFilter::All => "",
    };
    let sql = format!(
        "SELECT {COLUMNS} FROM transfers WHERE org_id = $1 AND {account_clause}{mode_clause} \
         AND (CAST($3 AS TEXT) IS NULL OR direction = $3) \
         AND (CAST($4 AS TEXT) IS NULL OR origin = $4) \
         AND (CAST($5 AS TEXT) IS NULL OR status = $5) \
         AND (CAST($6 AS BIGINT) IS NULL OR created_at_ms >= $6) \
         AND (CAST($7 AS BIGINT) IS NULL OR created_at_ms <= $7) \
         AND (CAST($8 AS TEXT) IS NULL OR rule_execution_id = $8) \
         AND (CAST($9 AS BIGINT) IS NULL OR created_at_ms < $9 OR (created_at_ms = $9 AND id < $10)) \
         ORDER BY created_at_ms DESC, id DESC LIMIT $11"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(org.as_str())
        .bind(filter.account.as_str())
        .bind(filter.direction.map(TransferDirection::as_str))
        .bind(filter.origin.map(TransferOrigin::as_str))
        .bind(filter.status.map(TransferStatus::as_str))
        .bind(filter.from.map(to_millis))
        .bind(filter.to.map(to_millis))
        .bind(filter.rule_execution.as_ref().map(RuleExecutionId::as_str))
        .bind(cursor.map(|c| c.created_at_ms))
        .bind(cursor.map(|c| c.id.clone()).unwrap_or_default())
        .bind(i64::from(limit))
        .fetch_all(&mut *conn)
        .await?;
    rows.iter().map(from_row).collect()
}

/// Every transfer of a rule execution, oldest first.
pub async fn list_for_execution(
    conn: &mut AnyConnection,
    execution: &RuleExecutionId,
) -> StoreResult<Vec<TransferRecord>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM transfers WHERE rule_execution_id = $1 ORDER BY created_at_ms, id"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(execution.as_str())
        .fetch_all(&mut *conn)
        .await?;
    rows.iter().map(from_row).collect()
}

/// Live transfers from or to `account` that are still in flight.
pub async fn count_in_flight(
    conn: &mut AnyConnection,
    org: &OrgId,
    account: &AccountId,
) -> StoreResult<u64> {
    let sql = format!(
        "SELECT COUNT(*) FROM transfers WHERE org_id = $1 AND simulation = 0 \
         AND status IN ({in_flight}) \
         AND (source_account_id = $2 OR destination_account_id = $2)",
        in_flight = status_list(TransferStatus::is_in_flight),
    );
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(org.as_str())
        .bind(account.as_str())
        .fetch_one(&mut *conn)
        .await?;
    Ok(u64::try_from(row.try_get::<i64, _>(0)?).unwrap_or(0))
}

/// What live, in-flight transfers will bring `account` when they complete: the sum of their
/// amounts (money on its way in, which `TOP_UP` and liability payments count as arrived).
pub async fn incoming_in_flight(
    conn: &mut AnyConnection,
    org: &OrgId,
    account: &AccountId,
) -> StoreResult<Cents> {
    // PostgreSQL's SUM over BIGINT is NUMERIC, which the Any driver cannot decode: cast back.
    let sql = format!(
        "SELECT CAST(COALESCE(SUM(amount_cents), 0) AS BIGINT) FROM transfers \
         WHERE org_id = $1 AND destination_account_id = $2 AND simulation = 0 AND status IN ({in_flight})",
        in_flight = status_list(TransferStatus::is_in_flight),
    );
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(org.as_str())
        .bind(account.as_str())
        .fetch_one(&mut *conn)
        .await?;
    Ok(Cents::new(row.try_get::<i64, _>(0)?))
}

/// The stored spellings of the transfer statuses for which `keep` holds, as an SQL list
/// (`'pending_approval', 'processing'`): status lists in queries come from the domain's
/// definitions, never retyped. The spellings are the domain's fixed identifiers, so splicing
/// them into SQL is safe.
pub fn status_list(keep: impl Fn(TransferStatus) -> bool) -> String {
    let quoted: Vec<String> = TransferStatus::ALL
        .iter()
        .filter(|status| keep(**status))
        .map(|status| format!("'{}'", status.as_str()))
        .collect();
    assert!(!quoted.is_empty(), "an empty status list matches nothing");
    quoted.join(", ")
}

/// Ids of the organization's live transfers whose next settlement step is due at `now`, oldest
/// step first.
pub async fn due(
    conn: &mut AnyConnection,
    org: &OrgId,
    now: DateTime<Utc>,
    limit: u32,
) -> StoreResult<Vec<TransferId>> {
    let rows = sqlx::query(
        "SELECT id FROM transfers WHERE org_id = $1 AND next_step_at_ms IS NOT NULL AND next_step_at_ms <= $2 \
         ORDER BY next_step_at_ms, id LIMIT $3",
    )
    .bind(org.as_str())
    .bind(to_millis(now))
    .bind(i64::from(limit))
    .fetch_all(&mut *conn)
    .await?;
    rows.iter().map(|r| Ok(TransferId::from_raw(r.try_get::<String, _>(0)?))).collect()
}

/// Sum of the amounts of live, in-flight transfers from `account` that hold a reservation: must
/// always equal the account's `reserved_cents` (checked by tests).
pub async fn reserved_by_transfers(
    conn: &mut AnyConnection,
    account: &AccountId,
) -> StoreResult<Cents> {
    // PostgreSQL's SUM over BIGINT is NUMERIC, which the Any driver cannot decode: cast back.
    let row = sqlx::query("SELECT CAST(COALESCE(SUM(reserved_cents), 0) AS BIGINT) FROM transfers WHERE source_account_id = $1")
        .bind(account.as_str())
        .fetch_one(&mut *conn)
        .await?;
    Ok(Cents::new(row.try_get::<i64, _>(0)?))
}
