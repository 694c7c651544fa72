//! `serve --demo`: a demo organization with the public docs' example accounts, and a key that
//! holds every scope, so a newcomer can call the API a minute after cloning.

use chrono::{DateTime, Days, Utc};
use rand::Rng;
use sequence_core::ids::{AccountId, OrgId};
use sequence_core::ledger::{AccountKind, ExternalAccountType, SystemAccounts};
use sequence_core::money::Cents;
use sequence_core::permissions::Permissions;
use sequence_store::accounts::{self, AccountRecord};
use sequence_store::orgs::{self, Organization};
use sequence_store::{Store, StoreResult, keys};

/// The demo organization's name (also the accounts' beneficiary, as in the docs' examples).
pub const DEMO_ORG_NAME: &str = "John Smith";

/// A plausible random ABA routing number (9 digits), stored in full and masked on the wire.
pub fn routing_number() -> String {
    let mut rng = rand::rng();
    (0..9).map(|_| char::from(b'0' + rng.random_range(0..10u8))).collect()
}

/// A plausible random account number (12 digits).
pub fn account_number() -> String {
    let mut rng = rand::rng();
    (0..12).map(|_| char::from(b'0' + rng.random_range(0..10u8))).collect()
}

/// What `--demo` did.
pub struct DemoSeed {
    /// The demo organization.
    pub org_id: OrgId,
    /// Whether it was created now (false: the database already had it).
    pub created: bool,
    /// A fresh all-scopes key for it.
    pub api_key: String,
}

/// Seeds the demo organization if the database has none, then mints a new all-scopes key.
pub async fn seed(store: &Store, now: DateTime<Utc>) -> StoreResult<DemoSeed> {
    let mut tx = store.begin().await?;
    let existing = orgs::find_by_name(&mut tx, DEMO_ORG_NAME).await?;
    let (org_id, created) = match existing {
        Some(id) => (id, false),
        None => (create_demo_org(&mut tx, now).await?, true),
    };
    let minted = crate::auth::mint(&org_id, "demo (all scopes)", &Permissions::all_scopes(), now);
    keys::insert(&mut tx, &minted.record).await?;
    tx.commit().await?;
    Ok(DemoSeed { org_id, created, api_key: minted.plaintext })
}

async fn create_demo_org(tx: &mut sequence_store::Tx, now: DateTime<Utc>) -> StoreResult<OrgId> {
    let org = Organization {
        id: OrgId::generate(),
        name: DEMO_ORG_NAME.to_owned(),
        clock_offset_seconds: 0,
        approval_threshold: None,
        system_accounts: SystemAccounts::generate(),
        created_at: now,
    };
    orgs::insert(tx, &org).await?;
    let account = |kind, name: &str| AccountRecord {
        id: AccountId::generate(),
        org_id: org.id.clone(),
        kind,
        name: name.to_owned(),
        description: None,
        icon: None,
        beneficiary_name: DEMO_ORG_NAME.to_owned(),
        institution_name: None,
        routing_number: Some(routing_number()),
        account_number: Some(account_number()),
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
    };
    let checking = AccountRecord {
        description: Some("Main payroll account".to_owned()),
        institution_name: Some("Chase".to_owned()),
        ..account(AccountKind::IncomeSource, "Chase Checking ••4567")
    };
    let emergency = account(AccountKind::Pod, "Emergency Fund");
    let amex = AccountRecord {
        institution_name: Some("American Express".to_owned()),
        reported_balance: Some(Cents::new(245_000)),
        last_statement_balance: Some(Cents::new(198_000)),
        next_payment_minimum: Some(Cents::new(3_500)),
        next_payment_due_date: now.date_naive().checked_add_days(Days::new(21)),
        ..account(AccountKind::External(ExternalAccountType::Liability), "Amex Gold ••1234")
    };
    for record in [&checking, &emergency, &amex] {
        accounts::insert(tx, record).await?;
    }
    Ok(org.id)
}
