//! Transfers as stored, and the queries over them. Status changes are conditional updates
//! ("move from `processing` to `pending` if it is still `processing`"), so concurrent workers on
//! several replicas never apply one step twice.
//!
//! Every query over an organization's history reads one index range per branch, in the order it
//! returns, so its cost does not grow with the history (migration 0005; `crate::statement`
//! explains the shapes, and the store's plan test checks each one on both backends): an
//! account's listing merges its source-side and destination-side ranges from the cursor on, the
//! in-flight sums read only in-flight rows (partial indexes), and due work reads the
//! organization's scheduled rows up to now. Each such function has a `…_statement` twin that
//! returns the exact SQL and values it runs, for that test.

use chrono::{DateTime, Utc};
use sequence_core::ids::{AccountId, OrgId, RuleExecutionId, RuleId, TransferId};
use sequence_core::ledger::{TransferDirection, TransferErrorCode, TransferOrigin, TransferStatus};
use sequence_core::money::Cents;
use sqlx::{AnyConnection, Row};

use crate::statement::{Params, Statement, backend_of, newest_first, upper_bound};
use crate::{Backend, StoreError, StoreResult, from_millis, to_millis};

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

/// A position in a newest-first listing (shared by every history list).
pub use crate::statement::Cursor;

/// Newest first (`created_at` desc, then id desc), at most `limit` rows after `cursor`.
pub async fn list(
    conn: &mut AnyConnection,
    org: &OrgId,
    filter: &TransferFilter,
    cursor: Option<&Cursor>,
    limit: u32,
) -> StoreResult<Vec<TransferRecord>> {
    let statement = list_statement(backend_of(conn), org, filter, cursor, limit);
    let rows = statement.query().fetch_all(&mut *conn).await?;
    rows.iter().map(from_row).collect()
}

/// The statement [`list`] runs: one index range per account side and per live/simulated value
/// (`transfers_list_by_source` / `_by_destination`, migration 0005), each read newest first from
/// the cursor and merged (see [`crate::statement`]); or, for one rule execution's transfers, that
/// execution's range of `transfers_by_execution_time`. Direction, origin and status are checked
/// on the rows of those ranges.
pub fn list_statement(
    backend: Backend,
    org: &OrgId,
    filter: &TransferFilter,
    cursor: Option<&Cursor>,
    limit: u32,
) -> Statement {
    let mut params = Params::default();
    let org = params.text(org.as_str());
    let account = params.text(filter.account.as_str());
    let mut common = Vec::new();
    if let Some(direction) = filter.direction {
        common.push(format!("direction = {}", params.text(direction.as_str())));
    }
    if let Some(origin) = filter.origin {
        common.push(format!("origin = {}", params.text(origin.as_str())));
    }
    if let Some(status) = filter.status {
        common.push(format!("status = {}", params.text(status.as_str())));
    }
    if let Some(from) = filter.from {
        common.push(format!("created_at_ms >= {}", params.int(to_millis(from))));
    }
    common.extend(upper_bound(&mut params, filter.to.map(to_millis), cursor));
    let simulations: &[i64] = match filter.mode {
        ModeFilter::Live => &[0],
        ModeFilter::Simulation => &[1],
        ModeFilter::All => &[0, 1],
    };
    let branches: Vec<Vec<String>> = if let Some(execution) = &filter.rule_execution {
        // An execution made a handful of transfers: its own range, whatever the account's history.
        // The account is checked on those rows, in a form no index serves (`col || ''`, exact:
        // NULL stays NULL), so neither planner trades the execution's range for the account's.
        let side = |column: &str| format!("({column} || '') = {account}");
        let role = match filter.role {
            AccountRole::Source => side("source_account_id"),
            AccountRole::Destination => side("destination_account_id"),
            AccountRole::Either => {
                format!("({} OR {})", side("source_account_id"), side("destination_account_id"))
            }
        };
        let execution = params.text(execution.as_str());
        let mut terms =
            vec![format!("rule_execution_id = {execution}"), format!("org_id = {org}"), role];
        if let [simulation] = simulations {
            terms.push(format!("simulation = {simulation}"));
        }
        vec![terms]
    } else {
        let sides: &[AccountRole] = match filter.role {
            AccountRole::Either => &[AccountRole::Source, AccountRole::Destination],
            role => &[role],
        };
        let mut branches = Vec::new();
        for side in sides {
            for simulation in simulations {
                let mut terms = vec![format!("org_id = {org}")];
                match side {
                    AccountRole::Source => terms.push(format!("source_account_id = {account}")),
                    _ => terms.push(format!("destination_account_id = {account}")),
                }
                terms.push(format!("simulation = {simulation}"));
                if filter.role == AccountRole::Either && *side == AccountRole::Destination {
                    // A transfer with the account on both sides would be listed twice. The schema
                    // forbids one (a CHECK), but the listing does not lean on it.
                    terms.push(format!(
                        "(source_account_id IS NULL OR source_account_id <> {account})"
                    ));
                }
                branches.push(terms);
            }
        }
        branches
    };
    let limit = params.int(i64::from(limit));
    let sql = newest_first(backend, "transfers", COLUMNS, &branches, &common, &limit);
    Statement::new(sql, params)
}

/// Every transfer of a rule execution, oldest first.
pub async fn list_for_execution(
    conn: &mut AnyConnection,
    execution: &RuleExecutionId,
) -> StoreResult<Vec<TransferRecord>> {
    let rows = list_for_execution_statement(execution).query().fetch_all(&mut *conn).await?;
    rows.iter().map(from_row).collect()
}

/// The statement [`list_for_execution`] runs: the execution's range of
/// `transfers_by_execution_time`, in index order.
pub fn list_for_execution_statement(execution: &RuleExecutionId) -> Statement {
    let mut params = Params::default();
    let sql = format!(
        "SELECT {COLUMNS} FROM transfers WHERE rule_execution_id = {} ORDER BY created_at_ms, id",
        params.text(execution.as_str())
    );
    Statement::new(sql, params)
}

/// Live transfers from or to `account` that are still in flight.
pub async fn count_in_flight(
    conn: &mut AnyConnection,
    org: &OrgId,
    account: &AccountId,
) -> StoreResult<u64> {
    let row = count_in_flight_statement(org, account).query().fetch_one(&mut *conn).await?;
    Ok(u64::try_from(row.try_get::<i64, _>(0)?).unwrap_or(0))
}

/// The terms that select live, in-flight transfers: exactly the predicate of the partial indexes
/// `transfers_in_flight_by_source` / `_by_destination` (migration 0005). SQLite uses a partial
/// index only when the query repeats each term of its predicate verbatim, so the status list
/// comes from the domain in the order the migration spells it (the plan test fails if the two
/// ever differ).
fn live_in_flight() -> String {
    format!("simulation = 0 AND status IN ({})", status_list(TransferStatus::is_in_flight))
}

/// The statement [`count_in_flight`] runs: the account's rows in the two in-flight partial
/// indexes, one count per side (given an `OR` of the sides, a planner may read them from the
/// listing indexes instead, which hold the account's whole history).
pub fn count_in_flight_statement(org: &OrgId, account: &AccountId) -> Statement {
    let mut params = Params::default();
    let org = params.text(org.as_str());
    let account = params.text(account.as_str());
    let in_flight = live_in_flight();
    let sql = format!(
        "SELECT (SELECT COUNT(*) FROM transfers WHERE org_id = {org} AND source_account_id = {account} AND {in_flight}) \
         + (SELECT COUNT(*) FROM transfers WHERE org_id = {org} AND destination_account_id = {account} AND {in_flight} \
         AND (source_account_id IS NULL OR source_account_id <> {account}))"
    );
    Statement::new(sql, params)
}

/// What live, in-flight transfers will bring `account` when they complete: the sum of their
/// amounts (money on its way in, which `TOP_UP` and liability payments count as arrived).
pub async fn incoming_in_flight(
    conn: &mut AnyConnection,
    org: &OrgId,
    account: &AccountId,
) -> StoreResult<Cents> {
    let row = incoming_in_flight_statement(org, account).query().fetch_one(&mut *conn).await?;
    Ok(Cents::new(row.try_get::<i64, _>(0)?))
}

/// The statement [`incoming_in_flight`] runs: the account's rows in
/// `transfers_in_flight_by_destination`.
pub fn incoming_in_flight_statement(org: &OrgId, account: &AccountId) -> Statement {
    let mut params = Params::default();
    // PostgreSQL's SUM over BIGINT is NUMERIC, which the Any driver cannot decode: cast back.
    let sql = format!(
        "SELECT CAST(COALESCE(SUM(amount_cents), 0) AS BIGINT) FROM transfers \
         WHERE org_id = {} AND destination_account_id = {} AND {}",
        params.text(org.as_str()),
        params.text(account.as_str()),
        live_in_flight(),
    );
    Statement::new(sql, params)
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
    let rows = due_statement(org, now, limit).query().fetch_all(&mut *conn).await?;
    rows.iter().map(|r| Ok(TransferId::from_raw(r.try_get::<String, _>(0)?))).collect()
}

/// The statement [`due`] runs: the organization's range of the partial index `transfers_due_by_org`
/// up to `now`, in index order.
pub fn due_statement(org: &OrgId, now: DateTime<Utc>, limit: u32) -> Statement {
    due_range("id", org, now, limit)
}

/// `columns` of the transfers in [`due_statement`]'s range.
fn due_range(columns: &str, org: &OrgId, now: DateTime<Utc>, limit: u32) -> Statement {
    let mut params = Params::default();
    let sql = format!(
        "SELECT {columns} FROM transfers WHERE org_id = {} AND next_step_at_ms IS NOT NULL AND next_step_at_ms <= {} \
         ORDER BY next_step_at_ms, id LIMIT {}",
        params.text(org.as_str()),
        params.int(to_millis(now)),
        params.int(i64::from(limit)),
    );
    Statement::new(sql, params)
}

/// The transfers [`due`] names, each read whole, for a caller that takes their steps in the same
/// transaction: one statement instead of one more per transfer. Each step's update is
/// conditional on the status read here, so a transfer another worker moved on meanwhile (possible
/// on PostgreSQL; SQLite's write transaction excludes other writers) is skipped, as it would be
/// after reading it by id.
pub async fn due_records(
    conn: &mut AnyConnection,
    org: &OrgId,
    now: DateTime<Utc>,
    limit: u32,
) -> StoreResult<Vec<TransferRecord>> {
    let rows = due_records_statement(org, now, limit).query().fetch_all(&mut *conn).await?;
    rows.iter().map(from_row).collect()
}

/// The statement [`due_records`] runs: [`due_statement`]'s range, every column.
pub fn due_records_statement(org: &OrgId, now: DateTime<Utc>, limit: u32) -> Statement {
    due_range(COLUMNS, org, now, limit)
}

/// A transfer with a settlement step due, and the accounts it names.
pub type DueTransfer = (TransferId, Option<AccountId>, Option<AccountId>);

/// Like [`due`], with each transfer's source and destination, so a caller can lock every account
/// the steps will post to before taking the first one.
pub async fn due_with_sides(
    conn: &mut AnyConnection,
    org: &OrgId,
    now: DateTime<Utc>,
    limit: u32,
) -> StoreResult<Vec<DueTransfer>> {
    let rows = due_with_sides_statement(org, now, limit).query().fetch_all(&mut *conn).await?;
    rows.iter()
        .map(|r| {
            let id = TransferId::from_raw(r.try_get::<String, _>(0)?);
            let source = r.try_get::<Option<String>, _>(1)?.map(AccountId::from_raw);
            let destination = r.try_get::<Option<String>, _>(2)?.map(AccountId::from_raw);
            Ok((id, source, destination))
        })
        .collect()
}

/// The statement [`due_with_sides`] runs: [`due_statement`]'s range, with the two sides.
pub fn due_with_sides_statement(org: &OrgId, now: DateTime<Utc>, limit: u32) -> Statement {
    due_range("id, source_account_id, destination_account_id", org, now, limit)
}

/// Sum of the amounts of live, in-flight transfers from `account` that hold a reservation: must
/// always equal the account's `reserved_cents` (checked by tests). A consistency check, on no
/// request path: it reads every transfer row from the account, assuming none of the invariants
/// it checks (so it does not use the in-flight indexes, whose predicate is one of them).
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
