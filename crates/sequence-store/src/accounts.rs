//! Accounts: income sources, pods and external accounts (plus each organization's two hidden
//! system accounts). Balances change only in `ledger` functions, together with an entry.

use std::sync::LazyLock;

use chrono::{DateTime, NaiveDate, Utc};
use sequence_core::ids::{AccountId, OrgId};
use sequence_core::ledger::{AccountKind, ExternalAccountType};
use sequence_core::money::Cents;
use sqlx::AnyConnection;

use crate::local::{Columns, from_rusqlite};
use crate::statement::{Param, Statement};
use crate::{Store, StoreError, StoreResult, from_millis, to_millis};

/// An account as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountRecord {
    /// `acc_…`.
    pub id: AccountId,
    /// Owning organization.
    pub org_id: OrgId,
    /// Income source, pod or external account (of a type).
    pub kind: AccountKind,
    /// Display name (the API's `name`; the nickname for income sources and pods).
    pub name: String,
    /// Free-text description.
    pub description: Option<String>,
    /// Icon identifier.
    pub icon: Option<String>,
    /// Account holder.
    pub beneficiary_name: String,
    /// Bank name (external accounts).
    pub institution_name: Option<String>,
    /// Full routing number (masked on the wire).
    pub routing_number: Option<String>,
    /// Full account number (masked on the wire).
    pub account_number: Option<String>,
    /// Ledger balance (sum of entries).
    pub balance: Cents,
    /// Reserved by in-flight outgoing transfers.
    pub reserved: Cents,
    /// Bank-reported balance of an external account (for LIABILITY, the amount owed).
    pub reported_balance: Option<Cents>,
    /// LIABILITY: last statement balance.
    pub last_statement_balance: Option<Cents>,
    /// LIABILITY: next minimum payment.
    pub next_payment_minimum: Option<Cents>,
    /// LIABILITY: next payment due date.
    pub next_payment_due_date: Option<NaiveDate>,
    /// When the balance last changed.
    pub balance_updated_at: DateTime<Utc>,
    /// Creation time (organization clock).
    pub created_at: DateTime<Utc>,
    /// Last update (organization clock).
    pub updated_at: DateTime<Utc>,
    /// Soft-deletion time.
    pub deleted_at: Option<DateTime<Utc>>,
}

impl AccountRecord {
    /// Balance minus reservations, never negative for internal accounts (a database CHECK).
    pub fn available(&self) -> Cents {
        Cents::new(self.balance.get().saturating_sub(self.reserved.get()))
    }

    /// Whether the account has been deleted.
    pub fn is_deleted(&self) -> bool {
        self.deleted_at.is_some()
    }
}

const COLUMNS: &str = "id, org_id, kind, external_type, name, description, icon, beneficiary_name, institution_name, \
     routing_number, account_number, balance_cents, reserved_cents, reported_balance_cents, \
     last_statement_balance_cents, next_payment_minimum_cents, next_payment_due_date, \
     balance_updated_at_ms, created_at_ms, updated_at_ms, deleted_at_ms";

fn from_row(row: &impl Columns) -> StoreResult<AccountRecord> {
    let kind_str = row.text(2)?;
    let external = row.text_opt(3)?;
    let kind = AccountKind::from_parts(&kind_str, external.as_deref())
        .map_err(|e| StoreError::Config(format!("corrupt account row: {e}")))?;
    let due = row.text_opt(16)?;
    let cents = |i: usize| -> StoreResult<Option<Cents>> { Ok(row.int_opt(i)?.map(Cents::new)) };
    Ok(AccountRecord {
        id: AccountId::from_raw(row.text(0)?),
        org_id: OrgId::from_raw(row.text(1)?),
        kind,
        name: row.text(4)?,
        description: row.text_opt(5)?,
        icon: row.text_opt(6)?,
        beneficiary_name: row.text(7)?,
        institution_name: row.text_opt(8)?,
        routing_number: row.text_opt(9)?,
        account_number: row.text_opt(10)?,
        balance: Cents::new(row.int(11)?),
        reserved: Cents::new(row.int(12)?),
        reported_balance: cents(13)?,
        last_statement_balance: cents(14)?,
        next_payment_minimum: cents(15)?,
        next_payment_due_date: due.and_then(|d| d.parse::<NaiveDate>().ok()),
        balance_updated_at: from_millis(row.int(17)?),
        created_at: from_millis(row.int(18)?),
        updated_at: from_millis(row.int(19)?),
        deleted_at: row.int_opt(20)?.map(from_millis),
    })
}

/// Inserts an account.
pub async fn insert(conn: &mut AnyConnection, account: &AccountRecord) -> StoreResult<()> {
    let external = account.kind.external_account_type().map(ExternalAccountType::as_str);
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "INSERT INTO accounts ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21)"
    )))
    .bind(account.id.as_str())
    .bind(account.org_id.as_str())
    .bind(account.kind.type_str())
    .bind(external)
    .bind(&account.name)
    .bind(&account.description)
    .bind(&account.icon)
    .bind(&account.beneficiary_name)
    .bind(&account.institution_name)
    .bind(&account.routing_number)
    .bind(&account.account_number)
    .bind(account.balance.get())
    .bind(account.reserved.get())
    .bind(account.reported_balance.map(Cents::get))
    .bind(account.last_statement_balance.map(Cents::get))
    .bind(account.next_payment_minimum.map(Cents::get))
    .bind(account.next_payment_due_date.map(|d| d.format("%Y-%m-%d").to_string()))
    .bind(to_millis(account.balance_updated_at))
    .bind(to_millis(account.created_at))
    .bind(to_millis(account.updated_at))
    .bind(account.deleted_at.map(to_millis))
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// The organization's live (non-deleted) accounts, optionally of one API type
/// (`income_source` | `pod` | `external_account`): income sources, then pods, then external
/// accounts, each oldest first (the order of the public docs' example).
pub async fn list(
    conn: &mut AnyConnection,
    org: &OrgId,
    type_filter: Option<&str>,
) -> StoreResult<Vec<AccountRecord>> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(LIST_SQL.as_str()))
        .bind(org.as_str())
        .bind(type_filter)
        .fetch_all(&mut *conn)
        .await?;
    rows.iter().map(from_row).collect()
}

/// [`list`] outside any transaction (what is committed now), for the API's `listAccounts`: on a
/// SQLite file it runs on the caller's thread ([`Store::read_here`]), otherwise through the pool.
pub async fn list_committed(
    store: &Store,
    org: &OrgId,
    type_filter: Option<&str>,
) -> StoreResult<Vec<AccountRecord>> {
    let here = store.read_here(|conn| {
        let mut statement = conn.prepare_cached(&LIST_SQL).map_err(from_rusqlite)?;
        let mut rows = statement.query((org.as_str(), type_filter)).map_err(from_rusqlite)?;
        let mut records = Vec::new();
        while let Some(row) = rows.next().map_err(from_rusqlite)? {
            records.push(from_row(row)?);
        }
        Ok(records)
    });
    match here {
        Some(records) => records,
        None => list(&mut *store.read().await?, org, type_filter).await,
    }
}

/// [`list`]'s SQL and values, for the plan test.
pub fn list_statement(org: &OrgId, type_filter: Option<&str>) -> Statement {
    let filter = type_filter.map_or(Param::NullText, |t| Param::Text(t.to_owned()));
    Statement::from_parts(LIST_SQL.clone(), vec![Param::Text(org.to_string()), filter])
}

/// [`list`]'s statement (`$2` is the optional type; SQLite numbers `$n` parameters by first
/// appearance, so the local readers bind the same two values by position).
static LIST_SQL: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT {COLUMNS} FROM accounts WHERE org_id = $1 AND kind <> 'system' AND deleted_at_ms IS NULL \
         AND ($2 IS NULL OR kind = $2) \
         ORDER BY CASE kind WHEN 'income_source' THEN 0 WHEN 'pod' THEN 1 ELSE 2 END, created_at_ms, id"
    )
});

/// One account of the organization, deleted or not (`None` if it does not exist there or is the
/// hidden system accounts).
pub async fn find(
    conn: &mut AnyConnection,
    org: &OrgId,
    id: &str,
) -> StoreResult<Option<AccountRecord>> {
    let row = sqlx::query(sqlx::AssertSqlSafe(FIND_SQL.as_str()))
        .bind(org.as_str())
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?;
    row.as_ref().map(from_row).transpose()
}

/// [`find`] outside any transaction (what is committed now), for the API's `getAccount`: on a
/// SQLite file it runs on the caller's thread ([`Store::read_here`]), otherwise through the pool.
pub async fn find_committed(
    store: &Store,
    org: &OrgId,
    id: &str,
) -> StoreResult<Option<AccountRecord>> {
    let here = store.read_here(|conn| {
        let mut statement = conn.prepare_cached(&FIND_SQL).map_err(from_rusqlite)?;
        let mut rows = statement.query((org.as_str(), id)).map_err(from_rusqlite)?;
        rows.next().map_err(from_rusqlite)?.map(from_row).transpose()
    });
    match here {
        Some(record) => record,
        None => find(&mut *store.read().await?, org, id).await,
    }
}

static FIND_SQL: LazyLock<String> = LazyLock::new(|| {
    format!("SELECT {COLUMNS} FROM accounts WHERE org_id = $1 AND id = $2 AND kind <> 'system'")
});

/// One live account of the organization, or [`StoreError::NotFound`].
pub async fn get_live(
    conn: &mut AnyConnection,
    org: &OrgId,
    id: &str,
) -> StoreResult<AccountRecord> {
    match find(conn, org, id).await? {
        Some(account) if !account.is_deleted() => Ok(account),
        _ => Err(StoreError::NotFound),
    }
}

/// Locks a live account's row until the end of the transaction; `false` if the account does not
/// exist in the organization or is deleted.
///
/// Every transaction that makes money or a transfer arrive at or leave an account locks the
/// account first (its sides in id order, as postings do), and deletion locks it before it looks
/// for money and in-flight transfers. So a deletion and an arriving transfer serialize: either
/// the deletion sees the committed transfer and is refused, or the transfer finds the account
/// deleted. On PostgreSQL this is `SELECT … FOR NO KEY UPDATE` (it conflicts with other such
/// locks and with updates, not with the foreign-key checks of inserted transfers); SQLite's
/// write transaction (`BEGIN IMMEDIATE`) already excludes every other writer.
pub async fn lock_live(conn: &mut AnyConnection, org: &OrgId, id: &str) -> StoreResult<bool> {
    let lock = row_lock(conn);
    let sql = format!(
        "SELECT id FROM accounts WHERE org_id = $1 AND id = $2 AND kind <> 'system' AND deleted_at_ms IS NULL{lock}"
    );
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(org.as_str())
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?;
    Ok(row.is_some())
}

/// The clause that makes a `SELECT` of account rows lock them until the end of the transaction
/// (see [`lock_live`]): `FOR NO KEY UPDATE` on PostgreSQL; nothing on SQLite, whose write
/// transaction already excludes every other writer.
fn row_lock(conn: &AnyConnection) -> &'static str {
    if conn.backend_name() == "PostgreSQL" { " FOR NO KEY UPDATE" } else { "" }
}

/// Locks the rows of the accounts `ids` as [`lock_live`] does and reads them in the same statement:
/// the accounts of the organization among `ids`, deleted or not, in id order, without system
/// accounts and ids that name none. A use case that locks accounts and then needs their fields (a
/// transfer's two sides) makes one round trip instead of one lock and one read per account; what
/// it reads cannot change before the transaction ends (PostgreSQL: the row locks; SQLite: the
/// write transaction). On PostgreSQL the locks are taken in id order too (a `SELECT … ORDER BY …
/// FOR NO KEY UPDATE` locks the rows as it returns them, after sorting), the order every path that
/// locks several accounts takes them in.
pub async fn lock_and_find_all(
    conn: &mut AnyConnection,
    org: &OrgId,
    ids: &[&str],
) -> StoreResult<Vec<AccountRecord>> {
    let lock = row_lock(conn);
    with_ids(conn, org, ids.iter().copied(), &format!(" ORDER BY id{lock}")).await
}

/// Soft-deletes an account if it holds no money, nothing is reserved, and (checked by the
/// caller within the same transaction, after [`lock_live`]) no transfer is in flight. Returns
/// whether it was deleted; `false` means the balance or reservations were not zero at the moment
/// of the update.
pub async fn soft_delete_if_empty(
    conn: &mut AnyConnection,
    org: &OrgId,
    id: &AccountId,
    at: DateTime<Utc>,
) -> StoreResult<bool> {
    let result = sqlx::query(
        "UPDATE accounts SET deleted_at_ms = $1, updated_at_ms = $1 \
         WHERE org_id = $2 AND id = $3 AND deleted_at_ms IS NULL AND kind <> 'system' \
         AND (kind = 'external_account' OR (balance_cents = 0 AND reserved_cents = 0))",
    )
    .bind(to_millis(at))
    .bind(org.as_str())
    .bind(id.as_str())
    .execute(&mut *conn)
    .await?;
    Ok(result.rows_affected() == 1)
}

/// The organization's accounts (deleted ones included) with the given ids, by id.
pub async fn by_ids(
    conn: &mut AnyConnection,
    org: &OrgId,
    ids: &[&AccountId],
) -> StoreResult<std::collections::BTreeMap<String, AccountRecord>> {
    let accounts = with_ids(conn, org, ids.iter().map(|id| id.as_str()), "").await?;
    Ok(accounts.into_iter().map(|account| (account.id.to_string(), account)).collect())
}

/// The organization's non-system accounts among `ids` (each once), in one statement whose SQL
/// ends with `suffix` (an order, a row lock): a transfer's two sides cost one round trip.
async fn with_ids<'a>(
    conn: &mut AnyConnection,
    org: &OrgId,
    ids: impl Iterator<Item = &'a str>,
    suffix: &str,
) -> StoreResult<Vec<AccountRecord>> {
    let mut distinct: Vec<&str> = ids.collect();
    distinct.sort_unstable();
    distinct.dedup();
    if distinct.is_empty() {
        return Ok(Vec::new());
    }
    let placeholders: Vec<String> = (0..distinct.len()).map(|i| format!("${}", i + 2)).collect();
    let sql = format!(
        "SELECT {COLUMNS} FROM accounts WHERE org_id = $1 AND kind <> 'system' AND id IN ({}){suffix}",
        placeholders.join(", ")
    );
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(org.as_str());
    for id in distinct {
        query = query.bind(id);
    }
    let rows = query.fetch_all(&mut *conn).await?;
    rows.iter().map(from_row).collect()
}
