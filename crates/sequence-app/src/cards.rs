//! Debit cards: the sandbox's card issuer and card network (issuing, status changes, purchases,
//! refunds) and the reads of the public Cards operations.
//!
//! Why here: each use case is one transaction that composes the core's decisions
//! (`sequence_core::cards`: may this card change status, may this purchase be authorized, how
//! much may be refunded, which postings) with the store, and owns every read-then-decide:
//!
//! - **A purchase spends the pod's available balance.** The decision is made on the pod read in
//!   the transaction and made to hold by the same mechanism as transfer acceptance: the
//!   conditional reservation `ledger::reserve` ("reserve 500 if the available balance is at least
//!   500", one statement), immediately consumed by the posting. The pod's row is also locked first
//!   (`accounts::lock_live`, as every transfer and deposit does), so a purchase and the pod's
//!   deletion serialize. Concurrent purchases and transfers can never overdraw the pod, on either
//!   backend.
//! - **A purchase needs an `active` card.** The card is read with a shared row lock
//!   (`cards::find_for_use`), and status changes are conditional updates from the status read
//!   (`cards::update_status_if`): a freeze that commits after a purchase read the card waits for
//!   that purchase, and one that committed before is seen by it.
//! - **A refund never exceeds what remains of its purchase.** The purchase's refunded total grows
//!   by one conditional update that re-checks the remainder (`cards::add_refunded`); losing that
//!   race runs the use case again, which then sees the new remainder.
//!
//! Card transactions are ledger movements (`ledger::post`, two balanced entries against the
//! organization's `outside_world` account) but not transfers: no transfer row is written, so
//! `listTransfers`, in-flight sums, settlement and the rules engine never see them.

use chrono::{DateTime, Utc};
use rand::Rng;
use sequence_core::cards::{
    CardEvent, CardTransactionDirection, CardType, authorize_purchase, card_transition,
    check_amount, check_refund, expiration_date, postings_for,
};
use sequence_core::ids::{AccountId, CardId, CardTransactionId, OrgId};
use sequence_core::ledger::AccountKind;
use sequence_core::money::Cents;
use sequence_core::permissions::{Denied, Permissions, Scope};
use sequence_store::cards::{
    self, CardFilter, CardRecord, CardTransactionFilter, CardTransactionRecord,
};
use sequence_store::ledger::{self, Movement};
use sequence_store::orgs::Organization;
use sequence_store::transfers::Cursor;
use sequence_store::{AnyConnection, Tx, accounts};

use crate::events::Event;
use crate::transfers::stored_bounds;
use crate::{App, AppError, Resource};

/// A card to issue.
#[derive(Debug, Clone)]
pub struct NewCard {
    /// The pod it spends from.
    pub account_id: String,
    /// Virtual or physical.
    pub card_type: CardType,
    /// The name printed on it (default: the organization's account holder name).
    pub holder_name: Option<String>,
}

/// A merchant charging a card.
#[derive(Debug, Clone)]
pub struct Purchase {
    /// How much.
    pub amount: Cents,
    /// The merchant.
    pub merchant_name: String,
    /// The merchant's free text.
    pub description: Option<String>,
}

/// A merchant refunding (part of) a purchase.
#[derive(Debug, Clone)]
pub struct Refund {
    /// The purchase, a `debit` of the same card.
    pub purchase_id: String,
    /// How much (default: everything not yet refunded).
    pub amount: Option<Cents>,
    /// The merchant's free text.
    pub description: Option<String>,
}

/// Four random digits: the only part of a card number ever stored.
fn last_four() -> String {
    let mut rng = rand::rng();
    (0..4).map(|_| char::from(b'0' + rng.random_range(0..10u8))).collect()
}

/// Issues a card on a live pod.
pub async fn issue(
    app: &App,
    tx: &mut Tx,
    org: &OrgId,
    new: NewCard,
) -> Result<CardRecord, AppError> {
    let (org, now) = app.organization(tx, org).await?;
    let account_id = new.account_id.as_str();
    // Locked first, as a deposit does: a concurrent deletion either committed (the pod is not
    // found) or waits for this card.
    if !accounts::lock_live(tx, &org.id, account_id).await? {
        return Err(AppError::not_found(Resource::Account, account_id));
    }
    let account = crate::accounts::live(tx, &org.id, account_id).await?;
    if account.kind != AccountKind::Pod {
        return Err(AppError::CardAccountNotPod(account_id.to_owned()));
    }
    let record = CardRecord {
        id: CardId::generate(),
        org_id: org.id.clone(),
        account_id: account.id,
        card_type: new.card_type,
        status: new.card_type.initial_status(),
        last_four: last_four(),
        holder_name: new.holder_name.unwrap_or_else(|| org.name.clone()),
        expiration_date: expiration_date(new.card_type, now.date_naive()),
        created_at: now,
        updated_at: now,
    };
    cards::insert(tx, &record).await?;
    Ok(record)
}

/// Activates, freezes, unfreezes or reports a card lost or stolen. Repeating a change the card
/// already went through returns it unchanged.
pub async fn change_status(
    app: &App,
    tx: &mut Tx,
    org: &OrgId,
    id: &str,
    event: CardEvent,
) -> Result<CardRecord, AppError> {
    let (org, now) = app.organization(tx, org).await?;
    let card = cards::find(tx, &org.id, id)
        .await?
        .ok_or_else(|| AppError::not_found(Resource::Card, id))?;
    let status = card_transition(&card.id, card.status, event)?;
    if status == card.status {
        return Ok(card);
    }
    let updated = CardRecord { status, updated_at: now, ..card.clone() };
    // Conditional on the status read: a concurrent change makes this one run again (and decide
    // from the status it left).
    if !cards::update_status_if(tx, &updated, card.status).await? {
        return Err(AppError::Conflict("the card's status"));
    }
    Ok(updated)
}

/// A card to be used for a purchase or a refund, and its pod, locked (see the module docs).
/// `404 card_not_found`, or `404 account_not_found` when the pod was deleted.
async fn card_in_use(
    tx: &mut Tx,
    org: &Organization,
    id: &str,
) -> Result<(CardRecord, accounts::AccountRecord), AppError> {
    let card = cards::find_for_use(tx, &org.id, id)
        .await?
        .ok_or_else(|| AppError::not_found(Resource::Card, id))?;
    let pod = card.account_id.as_str();
    if !accounts::lock_live(tx, &org.id, pod).await? {
        return Err(AppError::not_found(Resource::Account, pod));
    }
    let pod = crate::accounts::live(tx, &org.id, pod).await?;
    Ok((card, pod))
}

/// Writes a card transaction and its two ledger entries. `reserved`: the purchase's reservation,
/// consumed by the posting.
async fn record(
    tx: &mut Tx,
    org: &Organization,
    pod: &AccountId,
    transaction: &CardTransactionRecord,
    reserved: Option<Cents>,
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    cards::insert_transaction(tx, transaction).await?;
    // `card_transaction.created`, in the transaction that records it (see `crate::events`).
    crate::events::record(tx, org, now, Event::CardTransactionCreated(transaction)).await?;
    let postings =
        postings_for(pod, transaction.direction, transaction.amount, &org.system_accounts);
    let consume = reserved.map(|amount| (pod, amount));
    let movement = Movement::CardTransaction(&transaction.id);
    ledger::post(tx, &org.id, movement, &postings, consume, now).await?;
    Ok(())
}

/// A merchant charges the card: authorized against the pod's available balance, settled at once.
pub async fn purchase(
    app: &App,
    tx: &mut Tx,
    org: &OrgId,
    card_id: &str,
    purchase: Purchase,
) -> Result<CardTransactionRecord, AppError> {
    check_amount(purchase.amount).map_err(|e| AppError::Invalid(e.to_string()))?;
    let (org, now) = app.organization(tx, org).await?;
    let (card, pod) = card_in_use(tx, &org, card_id).await?;
    authorize_purchase(&card.id, card.status, pod.available(), purchase.amount)?;
    // The guard of the decision above (see the module docs): the conditional reservation. With
    // the pod's row locked it always succeeds; should it not, the purchase is declined, never
    // posted on funds it does not have.
    if !ledger::reserve(tx, &org.id, &pod.id, purchase.amount).await? {
        return Err(sequence_core::cards::PurchaseDecline::InsufficientFunds {
            card: card.id.clone(),
        }
        .into());
    }
    let transaction = CardTransactionRecord {
        id: CardTransactionId::generate(),
        org_id: org.id.clone(),
        card_id: card.id.clone(),
        direction: CardTransactionDirection::Debit,
        amount: purchase.amount,
        description: purchase.description,
        merchant_name: Some(purchase.merchant_name),
        purchase_id: None,
        refunded: Some(Cents::ZERO),
        created_at: now,
    };
    record(tx, &org, &pod.id, &transaction, Some(purchase.amount), now).await?;
    Ok(transaction)
}

/// A merchant refunds (part of) a purchase of the card: the money returns to the pod at once.
pub async fn refund(
    app: &App,
    tx: &mut Tx,
    org: &OrgId,
    card_id: &str,
    refund: Refund,
) -> Result<CardTransactionRecord, AppError> {
    if let Some(amount) = refund.amount {
        check_amount(amount).map_err(|e| AppError::Invalid(e.to_string()))?;
    }
    let (org, now) = app.organization(tx, org).await?;
    let (card, pod) = card_in_use(tx, &org, card_id).await?;
    let purchase_id = refund.purchase_id.as_str();
    let purchase = cards::find_transaction(tx, &org.id, &card.id, purchase_id)
        .await?
        .filter(|t| t.direction == CardTransactionDirection::Debit)
        .ok_or_else(|| AppError::not_found(Resource::CardPurchase, purchase_id))?;
    let refunded = purchase.refunded.ok_or_else(|| {
        AppError::internal(format!("purchase {} has no refunded total", purchase.id))
    })?;
    let amount = check_refund(&purchase.id, purchase.amount, refunded, refund.amount)?;
    // The guard of the decision above: one conditional update that re-checks the remainder. A
    // concurrent refund that took it first makes this use case run again.
    if !cards::add_refunded(tx, &org.id, &purchase.id, amount).await? {
        return Err(AppError::Conflict("the purchase's refunded total"));
    }
    let transaction = CardTransactionRecord {
        id: CardTransactionId::generate(),
        org_id: org.id.clone(),
        card_id: card.id.clone(),
        direction: CardTransactionDirection::Credit,
        amount,
        description: refund.description,
        merchant_name: purchase.merchant_name.clone(),
        purchase_id: Some(purchase.id.clone()),
        refunded: None,
        created_at: now,
    };
    record(tx, &org, &pod.id, &transaction, None, now).await?;
    Ok(transaction)
}

/// A pod's cards, oldest first (`404` when the account is missing or deleted; an account that is
/// not a pod has none).
pub async fn list(
    conn: &mut AnyConnection,
    org: &OrgId,
    filter: CardFilter,
) -> Result<Vec<CardRecord>, AppError> {
    crate::accounts::live(conn, org, filter.account.as_str()).await?;
    Ok(cards::list(conn, org, &filter).await?)
}

/// A card, if the key may read its pod's cards (looked up first: `404` before `403`, as the
/// spec's check order prescribes for a resource found by a lookup).
pub async fn get(
    conn: &mut AnyConnection,
    org: &OrgId,
    permissions: &Permissions,
    id: &str,
) -> Result<CardRecord, AppError> {
    let allowed = permissions.resource_filter(Scope::ReadCards)?;
    let card =
        cards::find(conn, org, id).await?.ok_or_else(|| AppError::not_found(Resource::Card, id))?;
    if !allowed.allows(card.account_id.as_str()) {
        return Err(AppError::Denied(Denied::ResourceNotAllowed {
            scope: Scope::ReadCards,
            resource: id.to_owned(),
        }));
    }
    Ok(card)
}

/// One page of a card's transactions, newest first, and whether more follow (the card is looked
/// up and its pod checked against the key as in [`get`]).
pub async fn list_transactions(
    conn: &mut AnyConnection,
    org: &OrgId,
    permissions: &Permissions,
    mut filter: CardTransactionFilter,
    after: Option<&Cursor>,
    first: u32,
) -> Result<(Vec<CardTransactionRecord>, bool), AppError> {
    get(conn, org, permissions, filter.card.as_str()).await?;
    (filter.from, filter.to) = stored_bounds(filter.from, filter.to)?;
    let mut rows = cards::list_transactions(conn, org, &filter, after, first + 1).await?;
    let has_next_page = rows.len() > first as usize;
    rows.truncate(first as usize);
    Ok((rows, has_next_page))
}
