//! The money-moving statements: reservations and postings (of completed transfers and of card
//! transactions alike). Every one is a single conditional statement whose effect is checked, so
//! concurrent transactions (or replicas) can never overdraw an account or apply a posting twice;
//! database CHECKs back each invariant again.

use chrono::{DateTime, Utc};
use sequence_core::ids::{AccountId, CardTransactionId, OrgId, TransferId};
use sequence_core::ledger::{Posting, ReportedBalances};
use sequence_core::money::Cents;
use sqlx::{AnyConnection, Row};

use crate::{StoreError, StoreResult, to_millis};

/// Reserves `amount` on an internal account if its available balance covers it. Returns whether
/// it did.
pub async fn reserve(
    conn: &mut AnyConnection,
    org: &OrgId,
    account: &AccountId,
    amount: Cents,
) -> StoreResult<bool> {
    assert!(amount.is_positive());
    let result = sqlx::query(
        "UPDATE accounts SET reserved_cents = reserved_cents + $1 \
         WHERE id = $2 AND org_id = $3 AND deleted_at_ms IS NULL AND balance_cents - reserved_cents >= $1",
    )
    .bind(amount.get())
    .bind(account.as_str())
    .bind(org.as_str())
    .execute(&mut *conn)
    .await?;
    Ok(result.rows_affected() == 1)
}

/// Releases a reservation made by [`reserve`].
pub async fn release(
    conn: &mut AnyConnection,
    account: &AccountId,
    amount: Cents,
) -> StoreResult<()> {
    assert!(amount.is_positive());
    let result = sqlx::query("UPDATE accounts SET reserved_cents = reserved_cents - $1 WHERE id = $2 AND reserved_cents >= $1")
        .bind(amount.get())
        .bind(account.as_str())
        .execute(&mut *conn)
        .await?;
    if result.rows_affected() != 1 {
        return Err(StoreError::Config(format!(
            "reservation of {amount} on {account} is missing (ledger invariant)"
        )));
    }
    Ok(())
}

/// What a set of entries belongs to: a completed transfer or a card transaction (each entry names
/// exactly one; a CHECK backs it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Movement<'a> {
    /// A completed transfer (or deposit).
    Transfer(&'a TransferId),
    /// A card purchase or refund.
    CardTransaction(&'a CardTransactionId),
}

/// Applies a movement's postings: each account's balance moves by its delta (and the source's
/// reservation, if any, is consumed), and an immutable entry records the balance before and
/// after. Two statements on SQLite whatever the movement (one conditional `UPDATE` of both
/// accounts, returning what they hold after it, and one `INSERT` of both entries): postings run
/// on SQLite's one writer, where every statement counts.
///
/// Locking: on PostgreSQL an `UPDATE` takes its row locks in whatever order its plan visits the
/// rows, so a third statement first locks both accounts in id order (`ORDER BY id FOR NO KEY
/// UPDATE`), the order every path that locks several accounts takes them in; concurrent
/// settlements and requests then cannot deadlock. On SQLite the write transaction already
/// excludes every other writer.
pub async fn post(
    conn: &mut AnyConnection,
    org: &OrgId,
    movement: Movement<'_>,
    postings: &[Posting; 2],
    consume_reservation: Option<(&AccountId, Cents)>,
    at: DateTime<Utc>,
) -> StoreResult<()> {
    sequence_core::ledger::assert_balanced(postings);
    let [first, second] = {
        let mut ordered = [&postings[0], &postings[1]];
        ordered.sort_by(|a, b| a.account.cmp(&b.account));
        ordered
    };
    if first.account == second.account {
        return Err(StoreError::Config(format!(
            "a movement posts twice to {} (ledger invariant)",
            first.account
        )));
    }
    let release = |posting: &Posting| match consume_reservation {
        Some((account, amount)) if *account == posting.account => amount,
        _ => Cents::ZERO,
    };
    if conn.backend_name() == "PostgreSQL" {
        sqlx::query(
            "SELECT id FROM accounts WHERE org_id = $1 AND id IN ($2, $3) ORDER BY id FOR NO KEY UPDATE",
        )
        .bind(org.as_str())
        .bind(first.account.as_str())
        .bind(second.account.as_str())
        .fetch_all(&mut *conn)
        .await?;
    }
    let rows = sqlx::query(
        "UPDATE accounts SET \
           balance_cents = balance_cents + CASE WHEN id = $1 THEN $2 ELSE $3 END, \
           reserved_cents = reserved_cents - CASE WHEN id = $1 THEN $4 ELSE $5 END, \
           version = version + 1, balance_updated_at_ms = $6 \
         WHERE org_id = $7 AND id IN ($1, $8) \
           AND reserved_cents >= CASE WHEN id = $1 THEN $4 ELSE $5 END \
         RETURNING id, balance_cents, version",
    )
    .bind(first.account.as_str())
    .bind(first.amount_delta.get())
    .bind(second.amount_delta.get())
    .bind(release(first).get())
    .bind(release(second).get())
    .bind(to_millis(at))
    .bind(org.as_str())
    .bind(second.account.as_str())
    .fetch_all(&mut *conn)
    .await?;
    let after_of = |posting: &Posting| -> StoreResult<(i64, i64, i64)> {
        let row = rows
            .iter()
            .find(|row| row.try_get::<String, _>(0).is_ok_and(|id| id == posting.account.as_str()))
            .ok_or_else(|| {
                StoreError::Config(format!(
                    "posting to {} failed (missing account or reservation)",
                    posting.account
                ))
            })?;
        let after: i64 = row.try_get(1)?;
        let version: i64 = row.try_get(2)?;
        let before = after
            .checked_sub(posting.amount_delta.get())
            .ok_or_else(|| StoreError::Config("balance overflow".to_owned()))?;
        Ok((before, after, version))
    };
    let (first_before, first_after, first_version) = after_of(first)?;
    let (second_before, second_after, second_version) = after_of(second)?;
    let (transfer, card_transaction) = match movement {
        Movement::Transfer(id) => (Some(id.as_str()), None),
        Movement::CardTransaction(id) => (None, Some(id.as_str())),
    };
    sqlx::query(
        "INSERT INTO entries (org_id, transfer_id, card_transaction_id, account_id, amount_cents, balance_before_cents, balance_after_cents, account_version, created_at_ms) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9), ($1, $2, $3, $10, $11, $12, $13, $14, $9)",
    )
    .bind(org.as_str())
    .bind(transfer)
    .bind(card_transaction)
    .bind(first.account.as_str())
    .bind(first.amount_delta.get())
    .bind(first_before)
    .bind(first_after)
    .bind(first_version)
    .bind(to_millis(at))
    .bind(second.account.as_str())
    .bind(second.amount_delta.get())
    .bind(second_before)
    .bind(second_after)
    .bind(second_version)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Updates an external account's bank-reported balances (informational; no entry).
pub async fn set_reported(
    conn: &mut AnyConnection,
    account: &AccountId,
    balances: ReportedBalances,
    at: DateTime<Utc>,
) -> StoreResult<()> {
    sqlx::query(
        "UPDATE accounts SET reported_balance_cents = $1, last_statement_balance_cents = $2, next_payment_minimum_cents = $3, \
         balance_updated_at_ms = $4 WHERE id = $5",
    )
    .bind(balances.balance.get())
    .bind(balances.last_statement_balance.map(Cents::get))
    .bind(balances.next_payment_minimum.map(Cents::get))
    .bind(to_millis(at))
    .bind(account.as_str())
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// What an entry belongs to, owned (see [`Movement`]).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum MovementId {
    /// A completed transfer.
    Transfer(TransferId),
    /// A card purchase or refund.
    CardTransaction(CardTransactionId),
}

/// One ledger entry, for audits and replays.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The transfer or card transaction it belongs to.
    pub movement: MovementId,
    /// The account it moves.
    pub account: AccountId,
    /// Signed amount.
    pub amount: Cents,
    /// Balance before.
    pub balance_before: Cents,
    /// Balance after.
    pub balance_after: Cents,
    /// The account's version after it.
    pub account_version: i64,
}

/// Every entry of the organization, in per-account version order.
pub async fn entries(conn: &mut AnyConnection, org: &OrgId) -> StoreResult<Vec<Entry>> {
    let rows = sqlx::query(
        "SELECT transfer_id, card_transaction_id, account_id, amount_cents, balance_before_cents, balance_after_cents, account_version \
         FROM entries WHERE org_id = $1 ORDER BY account_id, account_version",
    )
    .bind(org.as_str())
    .fetch_all(&mut *conn)
    .await?;
    rows.iter()
        .map(|r| {
            let movement =
                match (r.try_get::<Option<String>, _>(0)?, r.try_get::<Option<String>, _>(1)?) {
                    (Some(transfer), None) => MovementId::Transfer(TransferId::from_raw(transfer)),
                    (None, Some(card)) => {
                        MovementId::CardTransaction(CardTransactionId::from_raw(card))
                    }
                    other => {
                        return Err(StoreError::Config(format!(
                            "corrupt entry: transfer and card transaction {other:?}"
                        )));
                    }
                };
            Ok(Entry {
                movement,
                account: AccountId::from_raw(r.try_get::<String, _>(2)?),
                amount: Cents::new(r.try_get(3)?),
                balance_before: Cents::new(r.try_get(4)?),
                balance_after: Cents::new(r.try_get(5)?),
                account_version: r.try_get(6)?,
            })
        })
        .collect()
}
