//! Debit cards: what a card may do in each status, whether a purchase is authorized, how much of
//! a purchase may still be refunded, and the ledger postings a card transaction writes.
//!
//! Why a module of its own: a card transaction moves money like a transfer (two balanced
//! postings, the pod's balance is their sum) but follows none of a transfer's rules — no
//! approval, no settlement schedule, no reservation that outlives the request — so its decisions
//! live here, pure and tested as tables, and the ledger's posting machinery is reused as it is.
//!
//! # Statuses
//!
//! ```text
//!   issue (virtual) ──► active ◄─unfreeze── frozen
//!   issue (physical) ─► inactive ─activate─► active ─freeze─► frozen
//!   any of the three ─report lost─► lost        (final)
//!   any of the three ─report stolen─► stolen    (final)
//! ```
//!
//! Repeating the change a card already went through (freezing a frozen card, reporting a lost
//! card lost) is a no-op, as the sandbox's rule switches are; every other change from a status
//! that does not allow it is a [`StatusConflict`].
//!
//! # Money
//!
//! * A **purchase** is authorized only on an `active` card and only if the pod's *available*
//!   balance (balance minus what transfers in flight reserve) covers it ([`authorize_purchase`]).
//!   It settles at once: [`postings_for`] moves the amount from the pod to the organization's
//!   `outside_world` system account (the merchant is outside Sequence, as a deposit's payer is).
//! * A **refund** returns money for one purchase and never more than what of it is still
//!   unrefunded ([`check_refund`]), so the sum of a card's refunds never exceeds the sum of its
//!   purchases and refunds cannot create money. Refunds arrive whatever the card's status.

use chrono::{Datelike, NaiveDate};

use crate::ids::{AccountId, CardId, CardTransactionId};
use crate::ledger::{Posting, SystemAccounts, assert_balanced, wire_enum};
use crate::money::Cents;

wire_enum! {
    /// How a card exists: a number only, or a plastic card.
    pub enum CardType ("card type") {
        /// Usable once issued.
        Virtual => "virtual",
        /// `inactive` until its holder activates it.
        Physical => "physical",
    }
}

wire_enum! {
    /// Where a card is in its life (see the module docs).
    pub enum CardStatus ("card status") {
        /// Purchases are authorized.
        Active => "active",
        /// A physical card not yet activated.
        Inactive => "inactive",
        /// Paused by its holder.
        Frozen => "frozen",
        /// Reported stolen; final.
        Stolen => "stolen",
        /// Reported lost; final.
        Lost => "lost",
    }
}

wire_enum! {
    /// The sign of a card transaction.
    pub enum CardTransactionDirection ("card transaction direction") {
        /// A purchase: money leaves the pod.
        Debit => "debit",
        /// A refund: money returns to the pod.
        Credit => "credit",
    }
}

impl CardStatus {
    /// `lost` and `stolen`: nothing changes a card's status afterwards.
    pub const fn is_final(self) -> bool {
        matches!(self, CardStatus::Lost | CardStatus::Stolen)
    }
}

impl CardType {
    /// The status a newly issued card starts in.
    pub const fn initial_status(self) -> CardStatus {
        match self {
            CardType::Virtual => CardStatus::Active,
            CardType::Physical => CardStatus::Inactive,
        }
    }

    /// Whole years a card of this type is valid for.
    pub const fn valid_years(self) -> i32 {
        match self {
            CardType::Virtual => 3,
            CardType::Physical => 4,
        }
    }
}

/// `MM/YY` of the month `issued` plus the card type's validity.
pub fn expiration_date(card_type: CardType, issued: NaiveDate) -> String {
    let year = issued.year() + card_type.valid_years();
    format!("{:02}/{:02}", issued.month(), year.rem_euclid(100))
}

/// The largest purchase or refund: the `maximum` of `amount_in_cents` in `openapi.yaml`, as for
/// a transfer (it keeps every sum of amounts far from `i64` overflow).
pub const CARD_AMOUNT_MAX: Cents = crate::ledger::limits::TRANSFER_AMOUNT_MAX;

/// An amount outside `1..=CARD_AMOUNT_MAX` (request validation refuses it first; callers that do
/// not come through HTTP meet this).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("amount_in_cents: must be between 1 and {}", CARD_AMOUNT_MAX.get())]
pub struct AmountOutOfRange;

/// Checks a purchase's or refund's amount.
pub fn check_amount(amount: Cents) -> Result<(), AmountOutOfRange> {
    if amount.is_positive() && amount <= CARD_AMOUNT_MAX { Ok(()) } else { Err(AmountOutOfRange) }
}

/// Something a person does to a card.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CardEvent {
    /// The holder activates a physical card.
    Activate,
    /// The holder freezes it.
    Freeze,
    /// The holder unfreezes it.
    Unfreeze,
    /// Reported lost.
    ReportLost,
    /// Reported stolen.
    ReportStolen,
}

impl CardEvent {
    /// Every event.
    pub const ALL: [CardEvent; 5] = [
        CardEvent::Activate,
        CardEvent::Freeze,
        CardEvent::Unfreeze,
        CardEvent::ReportLost,
        CardEvent::ReportStolen,
    ];

    /// The verb, for messages.
    pub const fn verb(self) -> &'static str {
        match self {
            CardEvent::Activate => "activated",
            CardEvent::Freeze => "frozen",
            CardEvent::Unfreeze => "unfrozen",
            CardEvent::ReportLost => "reported lost",
            CardEvent::ReportStolen => "reported stolen",
        }
    }
}

/// A status change the card's status does not allow.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("Card `{card}` is `{status}`{why}; it cannot be {verb}.", verb = event.verb())]
pub struct StatusConflict {
    /// The card.
    pub card: CardId,
    /// Its status.
    pub status: CardStatus,
    /// What was asked.
    pub event: CardEvent,
    /// Why not, after the status.
    pub why: &'static str,
}

/// The status `card` has after `event`, from `status`: the same status for a repeated change
/// (a no-op), or a [`StatusConflict`].
pub fn card_transition(
    card: &CardId,
    status: CardStatus,
    event: CardEvent,
) -> Result<CardStatus, StatusConflict> {
    use CardEvent as E;
    use CardStatus as S;
    let conflict = |why| StatusConflict { card: card.clone(), status, event, why };
    match (status, event) {
        (S::Lost | S::Stolen, _) => {
            let repeated = (status == S::Lost && event == E::ReportLost)
                || (status == S::Stolen && event == E::ReportStolen);
            if repeated { Ok(status) } else { Err(conflict(", which is final")) }
        }
        (_, E::ReportLost) => Ok(S::Lost),
        (_, E::ReportStolen) => Ok(S::Stolen),
        (S::Inactive | S::Active, E::Activate) => Ok(S::Active),
        (S::Frozen, E::Activate) => Err(conflict(" (it was activated before; unfreeze it)")),
        (S::Active | S::Frozen, E::Freeze) => Ok(S::Frozen),
        (S::Active | S::Frozen, E::Unfreeze) => Ok(S::Active),
        (S::Inactive, E::Freeze | E::Unfreeze) => {
            Err(conflict(" (never activated; activate it first)"))
        }
    }
}

/// Why a purchase is declined. Messages never quote a balance.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PurchaseDecline {
    /// The card is not `active`.
    #[error("Purchase declined: card `{card}` is `{status}`, not active.")]
    CardNotActive {
        /// The card.
        card: CardId,
        /// Its status.
        status: CardStatus,
    },
    /// The pod's available balance is short.
    #[error("Purchase declined: the available balance of card `{card}`'s pod does not cover it.")]
    InsufficientFunds {
        /// The card.
        card: CardId,
    },
}

/// Whether a purchase of `amount` on a card in `status` may be authorized, given its pod's
/// available balance. The card's status is checked first.
///
/// The caller must make the decision hold until it commits (the store's conditional reservation
/// `ledger::reserve` does: it re-checks the available balance in the same statement that takes
/// the money).
pub fn authorize_purchase(
    card: &CardId,
    status: CardStatus,
    available: Cents,
    amount: Cents,
) -> Result<(), PurchaseDecline> {
    assert!(amount.is_positive(), "purchase amount {amount} is not positive");
    if status != CardStatus::Active {
        return Err(PurchaseDecline::CardNotActive { card: card.clone(), status });
    }
    if available < amount {
        return Err(PurchaseDecline::InsufficientFunds { card: card.clone() });
    }
    Ok(())
}

/// Why a refund is refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("Refund refused: it exceeds what remains unrefunded of purchase `{purchase}`.")]
pub struct RefundExceedsPurchase {
    /// The purchase.
    pub purchase: CardTransactionId,
}

/// The amount a refund moves: `requested`, or everything of the purchase not yet refunded; never
/// more than that remainder, and never zero.
///
/// The caller must make the decision hold until it commits (the store's conditional
/// `card_transactions::add_refunded` re-checks the remainder in the statement that records it).
pub fn check_refund(
    purchase: &CardTransactionId,
    purchase_amount: Cents,
    already_refunded: Cents,
    requested: Option<Cents>,
) -> Result<Cents, RefundExceedsPurchase> {
    let refused = || RefundExceedsPurchase { purchase: purchase.clone() };
    let remaining = purchase_amount.checked_sub(already_refunded).map_err(|_| refused())?;
    let amount = requested.unwrap_or(remaining);
    if !amount.is_positive() || amount > remaining {
        return Err(refused());
    }
    Ok(amount)
}

/// The two postings of a card transaction of `amount` on `pod`: a purchase moves it from the pod
/// to the outside world, a refund back.
///
/// # Panics
/// If the amount is not positive or the pod is a system account (bugs).
pub fn postings_for(
    pod: &AccountId,
    direction: CardTransactionDirection,
    amount: Cents,
    system: &SystemAccounts,
) -> [Posting; 2] {
    assert!(amount.is_positive(), "card transaction amount {amount} is not positive");
    assert!(!system.contains(pod), "a system account has no cards");
    let negative = amount.checked_neg().expect("a positive amount negates");
    let (pod_delta, world_delta) = match direction {
        CardTransactionDirection::Debit => (negative, amount),
        CardTransactionDirection::Credit => (amount, negative),
    };
    let postings = [
        Posting { account: pod.clone(), amount_delta: pod_delta },
        Posting { account: system.outside_world.clone(), amount_delta: world_delta },
    ];
    assert_balanced(&postings);
    postings
}

#[cfg(test)]
mod tests {
    use super::*;

    fn card() -> CardId {
        CardId::from_raw("card_1")
    }

    #[test]
    fn status_changes_follow_the_table() {
        use CardEvent as E;
        use CardStatus as S;
        // (from, event) -> Some(to) or None (conflict); every pair is listed.
        let table = [
            (S::Active, E::Activate, Some(S::Active)),
            (S::Active, E::Freeze, Some(S::Frozen)),
            (S::Active, E::Unfreeze, Some(S::Active)),
            (S::Active, E::ReportLost, Some(S::Lost)),
            (S::Active, E::ReportStolen, Some(S::Stolen)),
            (S::Inactive, E::Activate, Some(S::Active)),
            (S::Inactive, E::Freeze, None),
            (S::Inactive, E::Unfreeze, None),
            (S::Inactive, E::ReportLost, Some(S::Lost)),
            (S::Inactive, E::ReportStolen, Some(S::Stolen)),
            (S::Frozen, E::Activate, None),
            (S::Frozen, E::Freeze, Some(S::Frozen)),
            (S::Frozen, E::Unfreeze, Some(S::Active)),
            (S::Frozen, E::ReportLost, Some(S::Lost)),
            (S::Frozen, E::ReportStolen, Some(S::Stolen)),
            (S::Lost, E::Activate, None),
            (S::Lost, E::Freeze, None),
            (S::Lost, E::Unfreeze, None),
            (S::Lost, E::ReportLost, Some(S::Lost)),
            (S::Lost, E::ReportStolen, None),
            (S::Stolen, E::Activate, None),
            (S::Stolen, E::Freeze, None),
            (S::Stolen, E::Unfreeze, None),
            (S::Stolen, E::ReportLost, None),
            (S::Stolen, E::ReportStolen, Some(S::Stolen)),
        ];
        assert_eq!(table.len(), CardStatus::ALL.len() * CardEvent::ALL.len());
        for (from, event, to) in table {
            let got = card_transition(&card(), from, event);
            assert_eq!(got.as_ref().ok().copied(), to, "{from} {event:?}: {got:?}");
            if let Err(conflict) = got {
                assert_eq!((conflict.status, conflict.event), (from, event));
            }
        }
    }

    #[test]
    fn final_statuses_never_change() {
        for status in [CardStatus::Lost, CardStatus::Stolen] {
            assert!(status.is_final());
            for event in CardEvent::ALL {
                let after = card_transition(&card(), status, event).unwrap_or(status);
                assert_eq!(after, status, "{status} {event:?}");
            }
        }
    }

    #[test]
    fn only_active_cards_with_funds_buy() {
        let cents = Cents::new;
        assert_eq!(authorize_purchase(&card(), CardStatus::Active, cents(500), cents(500)), Ok(()));
        assert_eq!(
            authorize_purchase(&card(), CardStatus::Active, cents(499), cents(500)),
            Err(PurchaseDecline::InsufficientFunds { card: card() })
        );
        for status in
            [CardStatus::Inactive, CardStatus::Frozen, CardStatus::Lost, CardStatus::Stolen]
        {
            // The status is checked first, funds or not.
            for available in [cents(0), cents(1_000)] {
                assert_eq!(
                    authorize_purchase(&card(), status, available, cents(500)),
                    Err(PurchaseDecline::CardNotActive { card: card(), status })
                );
            }
        }
        // Messages never quote a figure the calling key may not be allowed to read.
        let message = PurchaseDecline::InsufficientFunds { card: card() }.to_string();
        assert!(!message.contains('$') && !message.contains("500"), "{message}");
    }

    #[test]
    fn refunds_never_exceed_what_remains() {
        let purchase = CardTransactionId::from_raw("ctx_1");
        let cents = Cents::new;
        let check =
            |refunded, requested| check_refund(&purchase, cents(1_000), cents(refunded), requested);
        assert_eq!(check(0, None), Ok(cents(1_000)));
        assert_eq!(check(300, None), Ok(cents(700)));
        assert_eq!(check(300, Some(cents(700))), Ok(cents(700)));
        assert_eq!(check(300, Some(cents(1))), Ok(cents(1)));
        let refused = Err(RefundExceedsPurchase { purchase: purchase.clone() });
        assert_eq!(check(300, Some(cents(701))), refused);
        assert_eq!(check(1_000, None), refused);
        assert_eq!(check(1_000, Some(cents(1))), refused);
        assert_eq!(check(0, Some(cents(0))), refused);
        // A corrupt remainder (more refunded than bought) refuses instead of going negative.
        assert_eq!(check(1_001, None), refused);
    }

    #[test]
    fn card_transactions_post_against_the_outside_world() {
        let system = SystemAccounts {
            outside_world: AccountId::from_raw("acc_world"),
            external_clearing: AccountId::from_raw("acc_clearing"),
        };
        let pod = AccountId::from_raw("acc_pod");
        let purchase =
            postings_for(&pod, CardTransactionDirection::Debit, Cents::new(450), &system);
        assert_eq!(purchase[0], Posting { account: pod.clone(), amount_delta: Cents::new(-450) });
        assert_eq!(
            purchase[1],
            Posting { account: system.outside_world.clone(), amount_delta: Cents::new(450) }
        );
        let refund = postings_for(&pod, CardTransactionDirection::Credit, Cents::new(450), &system);
        assert_eq!(refund[0].amount_delta, Cents::new(450));
        assert_eq!(refund[1].amount_delta, Cents::new(-450));
    }

    #[test]
    fn amounts_are_between_a_cent_and_the_maximum() {
        assert_eq!(check_amount(Cents::new(1)), Ok(()));
        assert_eq!(check_amount(CARD_AMOUNT_MAX), Ok(()));
        for bad in [0, -1, CARD_AMOUNT_MAX.get() + 1, i64::MAX] {
            assert_eq!(check_amount(Cents::new(bad)), Err(AmountOutOfRange), "{bad}");
        }
    }

    #[test]
    fn cards_expire_years_after_the_issue_month() {
        let day = NaiveDate::from_ymd_opt(2024, 4, 23).expect("a date");
        assert_eq!(expiration_date(CardType::Virtual, day), "04/27");
        assert_eq!(expiration_date(CardType::Physical, day), "04/28");
        let late = NaiveDate::from_ymd_opt(2098, 12, 1).expect("a date");
        assert_eq!(expiration_date(CardType::Physical, late), "12/02");
        assert_eq!(CardType::Virtual.initial_status(), CardStatus::Active);
        assert_eq!(CardType::Physical.initial_status(), CardStatus::Inactive);
    }
}
