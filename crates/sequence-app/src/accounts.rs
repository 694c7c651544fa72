//! Accounts: opening income sources and pods, reading them, deleting empty ones.

use chrono::{DateTime, Utc};
use rand::Rng;
use sequence_core::ids::{AccountId, OrgId};
use sequence_core::ledger::{AccountKind, check_deletable};
use sequence_core::money::Cents;
use sequence_store::accounts::{self, AccountRecord};
use sequence_store::orgs::Organization;
use sequence_store::{AnyConnection, Store, StoreError, Tx, transfers};

use crate::ledger::account_view;
use crate::{App, AppError, Resource};

/// A new, empty account of `org` (organization-clock timestamps `now`), with random routing and
/// account numbers (stored in full, masked on the wire). Callers adjust the remaining fields.
pub fn new_account(
    org: &Organization,
    kind: AccountKind,
    name: &str,
    now: DateTime<Utc>,
) -> AccountRecord {
    let digits = |count: usize| -> String {
        let mut rng = rand::rng();
        (0..count).map(|_| char::from(b'0' + rng.random_range(0..10u8))).collect()
    };
    AccountRecord {
        id: AccountId::generate(),
        org_id: org.id.clone(),
        kind,
        name: name.to_owned(),
        description: None,
        icon: None,
        beneficiary_name: org.name.clone(),
        institution_name: None,
        routing_number: Some(digits(9)),
        account_number: Some(digits(12)),
        balance: Cents::ZERO,
        reserved: Cents::ZERO,
        reported_balance: None,
        last_statement_balance: None,
        next_payment_minimum: None,
        next_payment_due_date: None,
        balance_updated_at: now,
        created_at: now,
        updated_at: now,
        deleted_at: None,
    }
}

/// Opens an income source or a pod (the two kinds a client can open).
pub async fn open(
    app: &App,
    tx: &mut Tx,
    org: &OrgId,
    kind: AccountKind,
    nickname: &str,
    icon: Option<&str>,
) -> Result<AccountRecord, AppError> {
    if !kind.is_internal() {
        return Err(AppError::internal(format!("{kind:?} accounts are linked, not opened")));
    }
    let (org, now) = app.organization(tx, org).await?;
    let record =
        AccountRecord { icon: icon.map(str::to_owned), ..new_account(&org, kind, nickname, now) };
    accounts::insert(tx, &record).await?;
    Ok(record)
}

/// Deletes an account that holds no money and has no transfer in flight.
pub async fn delete(app: &App, tx: &mut Tx, org: &OrgId, id: &str) -> Result<(), AppError> {
    let (org, now) = app.organization(tx, org).await?;
    // Lock the account before looking at its money and transfers: a transfer or deposit arriving
    // concurrently locks it too, so it either committed before (and is counted below) or waits
    // and then finds the account deleted (see accounts::lock_live).
    if !accounts::lock_live(tx, &org.id, id).await? {
        return Err(AppError::not_found(Resource::Account, id));
    }
    let account = live(tx, &org.id, id).await?;
    let in_flight = transfers::count_in_flight(tx, &org.id, &account.id).await?;
    let ledger_balance = account.kind.is_internal().then_some(account.balance);
    check_deletable(&account_view(&account), ledger_balance, in_flight)?;
    // Conditional on the balance and reservations still being zero: money that arrived between
    // the read and the delete refuses the deletion rather than being lost.
    if !accounts::soft_delete_if_empty(tx, &org.id, &account.id, now).await? {
        return Err(AppError::Conflict("the account's balance"));
    }
    Ok(())
}

/// A live account of the organization (`404` when missing or deleted).
pub async fn live(
    conn: &mut AnyConnection,
    org: &OrgId,
    id: &str,
) -> Result<AccountRecord, AppError> {
    match accounts::get_live(conn, org, id).await {
        Err(StoreError::NotFound) => Err(AppError::not_found(Resource::Account, id)),
        other => Ok(other?),
    }
}

/// A live account of the organization as committed now, outside any transaction (`404` when
/// missing or deleted): the API's `getAccount`.
pub async fn get(store: &Store, org: &OrgId, id: &str) -> Result<AccountRecord, AppError> {
    match accounts::find_committed(store, org, id).await? {
        Some(account) if !account.is_deleted() => Ok(account),
        _ => Err(AppError::not_found(Resource::Account, id)),
    }
}

/// The organization's live accounts as committed now, optionally of one API `type`
/// (`income_source`, `pod`, `external_account`): the API's `listAccounts`.
pub async fn list(
    store: &Store,
    org: &OrgId,
    type_filter: Option<&str>,
) -> Result<Vec<AccountRecord>, AppError> {
    Ok(accounts::list_committed(store, org, type_filter).await?)
}
