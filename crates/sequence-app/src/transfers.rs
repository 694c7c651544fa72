//! Transfers: creating one between two accounts of the organization, listing an account's
//! transfers, reading one.

use chrono::{DateTime, TimeDelta, Utc};
use sequence_core::ids::OrgId;
use sequence_core::ledger::{TransferDirection, TransferOrigin, validate_manual_transfer};
use sequence_core::money::Cents;
use sequence_core::permissions::Permissions;
use sequence_core::permissions::Scope;
use sequence_store::transfers::{self, Cursor, TransferFilter};
use sequence_store::{AnyConnection, Tx, accounts};

use crate::ledger::{NewTransfer, TransferView, accept_transfer, account_view, transfer_view};
use crate::{App, AppError, Resource, at_stored_precision};

/// A transfer a client asks for.
#[derive(Debug, Clone)]
pub struct TransferRequest {
    /// The account debited.
    pub source_account_id: String,
    /// The account credited.
    pub destination_account_id: String,
    /// How much.
    pub amount: Cents,
    /// ACH label.
    pub description: Option<String>,
    /// A dry run: recorded, never moves money.
    pub simulation: bool,
}

/// Creates a transfer between two accounts of the organization (the key's permission for the
/// pair and the amount was checked by the caller).
pub async fn create(
    app: &App,
    tx: &mut Tx,
    org: &OrgId,
    request: TransferRequest,
) -> Result<TransferView, AppError> {
    let (org, now) = app.organization(tx, org).await?;
    // Lock both accounts (in id order, as postings do) and read them, in one statement, so a
    // concurrent deletion cannot slip between this check and the transfer's insert, and what
    // `accept_transfer` reads from them holds until the transaction ends.
    let sides = [request.source_account_id.as_str(), request.destination_account_id.as_str()];
    let locked = accounts::lock_and_find_all(tx, &org.id, &sides).await?;
    let live = |id: &str, missing: Resource| {
        locked
            .iter()
            .find(|a| a.id.as_str() == id && !a.is_deleted())
            .cloned()
            .ok_or_else(|| AppError::not_found(missing, id))
    };
    let source = live(&request.source_account_id, Resource::TransferSource)?;
    let destination = live(&request.destination_account_id, Resource::TransferDestination)?;
    // The one place that decides whether money may move between these two accounts (two
    // external accounts, a liability as source, …): the core's validation.
    validate_manual_transfer(&account_view(&source), &account_view(&destination), request.amount)?;
    let direction = TransferDirection::between(
        &account_view(&source).endpoint(),
        &account_view(&destination).endpoint(),
    )
    .map_err(AppError::internal)?;
    let new = NewTransfer {
        source: Some(&source),
        destination: Some(&destination),
        amount: request.amount,
        origin: TransferOrigin::of_manual_transfer(direction),
        description: request.description,
        simulation: request.simulation,
        rule: None,
    };
    let record = accept_transfer(tx, &org, new, now).await?;
    // The view names the two accounts read above (their names and types cannot have changed
    // under the lock), so it needs no second read.
    Ok(TransferView::of(record, [source, destination]))
}

/// A `from`/`to` pair of creation-time bounds.
pub type TimeBounds = (Option<DateTime<Utc>>, Option<DateTime<Utc>>);

/// Checks `from <= to`. Bounds are compared at stored precision: `from` rounds up to the next
/// millisecond and `to` down, so a bound finer than a millisecond never lets in a row outside it.
pub fn stored_bounds(
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
) -> Result<TimeBounds, AppError> {
    if let (Some(from), Some(to)) = (from, to)
        && from > to
    {
        return Err(AppError::Invalid("`from` is later than `to`".to_owned()));
    }
    let from = from.map(|from| {
        let floor = at_stored_precision(from);
        if floor == from { floor } else { floor + TimeDelta::milliseconds(1) }
    });
    Ok((from, to.map(at_stored_precision)))
}

/// One page of an account's transfers, newest first: at most `first` rows after `after`, and
/// whether more follow.
pub async fn list(
    conn: &mut AnyConnection,
    org: &OrgId,
    mut filter: TransferFilter,
    after: Option<&Cursor>,
    first: u32,
) -> Result<(Vec<TransferView>, bool), AppError> {
    // Deleted accounts are not found here either (spec decision 10), although their transfers
    // stay readable by id.
    let account = filter.account.as_str();
    if accounts::find(conn, org, account).await?.is_none_or(|a| a.is_deleted()) {
        return Err(AppError::not_found(Resource::Account, account));
    }
    (filter.from, filter.to) = stored_bounds(filter.from, filter.to)?;
    let mut rows = transfers::list(conn, org, &filter, after, first + 1).await?;
    let has_next_page = rows.len() > first as usize;
    rows.truncate(first as usize);
    let mut views = Vec::with_capacity(rows.len());
    for row in rows {
        views.push(transfer_view(conn, row).await?);
    }
    Ok((views, has_next_page))
}

/// One transfer, if the key may read one of its accounts (`404` before `403`, as the spec's
/// check order prescribes: the transfer must be loaded to know its accounts).
pub async fn get(
    conn: &mut AnyConnection,
    org: &OrgId,
    permissions: &Permissions,
    id: &str,
) -> Result<TransferView, AppError> {
    let filter = permissions.resource_filter(Scope::ReadTransfers)?;
    let transfer = transfers::find(conn, org, id)
        .await?
        .ok_or_else(|| AppError::not_found(Resource::Transfer, id))?;
    let visible = [&transfer.source, &transfer.destination]
        .into_iter()
        .flatten()
        .any(|account| filter.allows(account.as_str()));
    if !visible {
        return Err(AppError::Denied(sequence_core::permissions::Denied::ResourceNotAllowed {
            scope: Scope::ReadTransfers,
            resource: id.to_owned(),
        }));
    }
    transfer_view(conn, transfer).await
}
