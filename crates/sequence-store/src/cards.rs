//! Debit cards and their transactions as stored (migration 0006), and the queries over them.
//!
//! Why these shapes: a card's status changes only by a conditional update from the status it was
//! read in ([`update_status_if`]), a purchase's refunded total only by a conditional update that
//! re-checks the remainder ([`add_refunded`]), so concurrent requests on several replicas can
//! never lose a status change or refund more than was bought; a card being used is read with a
//! shared row lock ([`find_for_use`]), so a status change waits for the purchases that read the
//! card before it. The money itself moves through `crate::ledger` like a transfer's.
//!
//! The transaction listing reads one index range of `card_transactions_list_by_card` from the
//! cursor, in the order it returns ([`list_transactions_statement`], checked by the store's plan
//! test); a pod's cards are one range of `cards_list_by_account`.

use chrono::{DateTime, Utc};
use sequence_core::cards::{CardStatus, CardTransactionDirection, CardType};
use sequence_core::ids::{AccountId, CardId, CardTransactionId, OrgId};
use sequence_core::money::Cents;
use sqlx::{AnyConnection, Row};

use crate::statement::{Cursor, Params, Statement, backend_of, newest_first, upper_bound};
use crate::{Backend, StoreError, StoreResult, from_millis, to_millis};

/// A card as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardRecord {
    /// `card_…`.
    pub id: CardId,
    /// Owning organization.
    pub org_id: OrgId,
    /// The pod it spends from.
    pub account_id: AccountId,
    /// Virtual or physical.
    pub card_type: CardType,
    /// Where it is in its life.
    pub status: CardStatus,
    /// Last four digits of its number (the only digits ever stored).
    pub last_four: String,
    /// The name printed on it.
    pub holder_name: String,
    /// `MM/YY`.
    pub expiration_date: String,
    /// Issue time (organization clock).
    pub created_at: DateTime<Utc>,
    /// Last status change.
    pub updated_at: DateTime<Utc>,
}

const CARD_COLUMNS: &str = "id, org_id, account_id, type, status, last_four, holder_name, expiration_date, \
     created_at_ms, updated_at_ms";

fn corrupt(what: &str, value: &str) -> StoreError {
    StoreError::Config(format!("corrupt card row: {what} `{value}`"))
}

fn card_from_row(row: &sqlx::any::AnyRow) -> StoreResult<CardRecord> {
    let card_type: String = row.try_get(3)?;
    let status: String = row.try_get(4)?;
    Ok(CardRecord {
        id: CardId::from_raw(row.try_get::<String, _>(0)?),
        org_id: OrgId::from_raw(row.try_get::<String, _>(1)?),
        account_id: AccountId::from_raw(row.try_get::<String, _>(2)?),
        card_type: card_type.parse().map_err(|_| corrupt("type", &card_type))?,
        status: status.parse().map_err(|_| corrupt("status", &status))?,
        last_four: row.try_get(5)?,
        holder_name: row.try_get(6)?,
        expiration_date: row.try_get(7)?,
        created_at: from_millis(row.try_get(8)?),
        updated_at: from_millis(row.try_get(9)?),
    })
}

/// Inserts a card.
pub async fn insert(conn: &mut AnyConnection, card: &CardRecord) -> StoreResult<()> {
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "INSERT INTO cards ({CARD_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
    )))
    .bind(card.id.as_str())
    .bind(card.org_id.as_str())
    .bind(card.account_id.as_str())
    .bind(card.card_type.as_str())
    .bind(card.status.as_str())
    .bind(&card.last_four)
    .bind(&card.holder_name)
    .bind(&card.expiration_date)
    .bind(to_millis(card.created_at))
    .bind(to_millis(card.updated_at))
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// One card of the organization.
pub async fn find(
    conn: &mut AnyConnection,
    org: &OrgId,
    id: &str,
) -> StoreResult<Option<CardRecord>> {
    let sql = format!("SELECT {CARD_COLUMNS} FROM cards WHERE org_id = $1 AND id = $2");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(org.as_str())
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?;
    row.as_ref().map(card_from_row).transpose()
}

/// One card of the organization, read to be used (a purchase or a refund): on PostgreSQL with a
/// shared row lock (`FOR SHARE`) held to the end of the transaction, so a status change (an
/// update, which conflicts with it) waits until the purchase that read the card `active` has
/// committed, and then applies after it; concurrent purchases on one card share the lock. On
/// SQLite the write transaction already excludes every other writer.
pub async fn find_for_use(
    conn: &mut AnyConnection,
    org: &OrgId,
    id: &str,
) -> StoreResult<Option<CardRecord>> {
    let lock = if backend_of(conn) == Backend::Postgres { " FOR SHARE" } else { "" };
    let sql = format!("SELECT {CARD_COLUMNS} FROM cards WHERE org_id = $1 AND id = $2{lock}");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(org.as_str())
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?;
    row.as_ref().map(card_from_row).transpose()
}

/// Sets a card's status if it is still `expected`. Returns whether this call won (`false`:
/// another request changed it first; the caller's decision was made on a stale read).
pub async fn update_status_if(
    conn: &mut AnyConnection,
    card: &CardRecord,
    expected: CardStatus,
) -> StoreResult<bool> {
    let result = sqlx::query(
        "UPDATE cards SET status = $1, updated_at_ms = $2 WHERE id = $3 AND org_id = $4 AND status = $5",
    )
    .bind(card.status.as_str())
    .bind(to_millis(card.updated_at))
    .bind(card.id.as_str())
    .bind(card.org_id.as_str())
    .bind(expected.as_str())
    .execute(&mut *conn)
    .await?;
    Ok(result.rows_affected() == 1)
}

/// Filters for [`list`].
#[derive(Debug, Clone)]
pub struct CardFilter {
    /// The pod whose cards are listed.
    pub account: AccountId,
    /// Only this status.
    pub status: Option<CardStatus>,
    /// Only this type.
    pub card_type: Option<CardType>,
}

/// A pod's cards, oldest first (`created_at`, then id). Not paginated: a pod has a handful.
pub async fn list(
    conn: &mut AnyConnection,
    org: &OrgId,
    filter: &CardFilter,
) -> StoreResult<Vec<CardRecord>> {
    let rows = list_statement(org, filter).query().fetch_all(&mut *conn).await?;
    rows.iter().map(card_from_row).collect()
}

/// The statement [`list`] runs: the pod's range of `cards_list_by_account`, in index order.
pub fn list_statement(org: &OrgId, filter: &CardFilter) -> Statement {
    let mut params = Params::default();
    let mut terms = vec![
        format!("org_id = {}", params.text(org.as_str())),
        format!("account_id = {}", params.text(filter.account.as_str())),
    ];
    if let Some(status) = filter.status {
        terms.push(format!("status = {}", params.text(status.as_str())));
    }
    if let Some(card_type) = filter.card_type {
        terms.push(format!("type = {}", params.text(card_type.as_str())));
    }
    let sql = format!(
        "SELECT {CARD_COLUMNS} FROM cards WHERE {} ORDER BY created_at_ms, id",
        terms.join(" AND ")
    );
    Statement::new(sql, params)
}

/// A purchase or a refund as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardTransactionRecord {
    /// `ctx_…`.
    pub id: CardTransactionId,
    /// Owning organization.
    pub org_id: OrgId,
    /// The card.
    pub card_id: CardId,
    /// Purchase (`debit`) or refund (`credit`).
    pub direction: CardTransactionDirection,
    /// Positive amount.
    pub amount: Cents,
    /// Merchant's free text.
    pub description: Option<String>,
    /// The merchant.
    pub merchant_name: Option<String>,
    /// A refund's purchase.
    pub purchase_id: Option<CardTransactionId>,
    /// A purchase's refunded total (`None` for refunds).
    pub refunded: Option<Cents>,
    /// Settlement time (organization clock).
    pub created_at: DateTime<Utc>,
}

const TRANSACTION_COLUMNS: &str = "id, org_id, card_id, direction, amount_cents, description, merchant_name, \
     purchase_id, refunded_cents, created_at_ms";

fn transaction_from_row(row: &sqlx::any::AnyRow) -> StoreResult<CardTransactionRecord> {
    let direction: String = row.try_get(3)?;
    Ok(CardTransactionRecord {
        id: CardTransactionId::from_raw(row.try_get::<String, _>(0)?),
        org_id: OrgId::from_raw(row.try_get::<String, _>(1)?),
        card_id: CardId::from_raw(row.try_get::<String, _>(2)?),
        direction: direction.parse().map_err(|_| corrupt("direction", &direction))?,
        amount: Cents::new(row.try_get(4)?),
        description: row.try_get(5)?,
        merchant_name: row.try_get(6)?,
        purchase_id: row.try_get::<Option<String>, _>(7)?.map(CardTransactionId::from_raw),
        refunded: row.try_get::<Option<i64>, _>(8)?.map(Cents::new),
        created_at: from_millis(row.try_get(9)?),
    })
}

/// Inserts a card transaction (before its entries, which reference it).
pub async fn insert_transaction(
    conn: &mut AnyConnection,
    t: &CardTransactionRecord,
) -> StoreResult<()> {
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "INSERT INTO card_transactions ({TRANSACTION_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
    )))
    .bind(t.id.as_str())
    .bind(t.org_id.as_str())
    .bind(t.card_id.as_str())
    .bind(t.direction.as_str())
    .bind(t.amount.get())
    .bind(&t.description)
    .bind(&t.merchant_name)
    .bind(t.purchase_id.as_ref().map(CardTransactionId::as_str))
    .bind(t.refunded.map(Cents::get))
    .bind(to_millis(t.created_at))
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// One transaction of one card of the organization.
pub async fn find_transaction(
    conn: &mut AnyConnection,
    org: &OrgId,
    card: &CardId,
    id: &str,
) -> StoreResult<Option<CardTransactionRecord>> {
    let sql = format!(
        "SELECT {TRANSACTION_COLUMNS} FROM card_transactions WHERE org_id = $1 AND card_id = $2 AND id = $3"
    );
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(org.as_str())
        .bind(card.as_str())
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?;
    row.as_ref().map(transaction_from_row).transpose()
}

/// Adds `amount` to a purchase's refunded total if what remains unrefunded covers it: the one
/// statement that makes "this refund fits" hold under concurrency (two refunds of one purchase
/// cannot both take the same remainder). Returns whether it did.
pub async fn add_refunded(
    conn: &mut AnyConnection,
    org: &OrgId,
    purchase: &CardTransactionId,
    amount: Cents,
) -> StoreResult<bool> {
    assert!(amount.is_positive());
    let result = sqlx::query(
        "UPDATE card_transactions SET refunded_cents = refunded_cents + $1 \
         WHERE id = $2 AND org_id = $3 AND direction = 'debit' AND amount_cents - refunded_cents >= $1",
    )
    .bind(amount.get())
    .bind(purchase.as_str())
    .bind(org.as_str())
    .execute(&mut *conn)
    .await?;
    Ok(result.rows_affected() == 1)
}

/// Filters for [`list_transactions`].
#[derive(Debug, Clone)]
pub struct CardTransactionFilter {
    /// The card whose transactions are listed.
    pub card: CardId,
    /// Only purchases or only refunds.
    pub direction: Option<CardTransactionDirection>,
    /// Created at or after.
    pub from: Option<DateTime<Utc>>,
    /// Created at or before.
    pub to: Option<DateTime<Utc>>,
}

/// A card's transactions newest first (`created_at` desc, then id desc), at most `limit` after
/// `cursor`.
pub async fn list_transactions(
    conn: &mut AnyConnection,
    org: &OrgId,
    filter: &CardTransactionFilter,
    cursor: Option<&Cursor>,
    limit: u32,
) -> StoreResult<Vec<CardTransactionRecord>> {
    let statement = list_transactions_statement(backend_of(conn), org, filter, cursor, limit);
    let rows = statement.query().fetch_all(&mut *conn).await?;
    rows.iter().map(transaction_from_row).collect()
}

/// The statement [`list_transactions`] runs: the card's range of
/// `card_transactions_list_by_card` (migration 0006), read newest first from the cursor (see
/// [`crate::statement`]); direction and `from` are checked on its rows.
pub fn list_transactions_statement(
    backend: Backend,
    org: &OrgId,
    filter: &CardTransactionFilter,
    cursor: Option<&Cursor>,
    limit: u32,
) -> Statement {
    let mut params = Params::default();
    let branch = vec![
        format!("org_id = {}", params.text(org.as_str())),
        format!("card_id = {}", params.text(filter.card.as_str())),
    ];
    let mut common = Vec::new();
    if let Some(direction) = filter.direction {
        common.push(format!("direction = {}", params.text(direction.as_str())));
    }
    if let Some(from) = filter.from {
        common.push(format!("created_at_ms >= {}", params.int(to_millis(from))));
    }
    common.extend(upper_bound(&mut params, filter.to.map(to_millis), cursor));
    let limit = params.int(i64::from(limit));
    let sql =
        newest_first(backend, "card_transactions", TRANSACTION_COLUMNS, &[branch], &common, &limit);
    Statement::new(sql, params)
}
