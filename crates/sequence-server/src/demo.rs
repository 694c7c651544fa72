//! `serve --demo`: a demo organization with the public docs' example accounts, a few enabled
//! rules, and a key that holds every scope, so a newcomer can call the API a minute after cloning.
//!
//! Accounts: "Chase Checking ••4567" (income source), the pods "Emergency Fund", "Taxes" and
//! "Savings", and "Amex Gold ••1234" (a LIABILITY with a statement). Rules, all enabled as if a
//! person had reviewed them:
//! - **Paycheck split** (`ON_FUNDS_TRANSFERRED` on Chase Checking): a deposit of $1,000 or more
//!   sends 20% to Taxes and 10% to Savings and pays the Amex minimum payment; smaller deposits
//!   only send 10% to Savings. It leaves Emergency Fund alone and most of the deposit in Checking,
//!   so the README's manual transfer to the first pod still has money to move.
//! - **Pay the Amex statement** (`MANUAL`): pays the card's last statement balance from Checking,
//!   if Checking has at least that much available (otherwise the run records that its conditions
//!   were not met).
//! - **Sweep to savings** (`MANUAL`): an agent triggers it with `manual_execute_amount`; half of
//!   that amount moves to Savings, at most $2,000 a month.
//! - **Monthly savings** (`SCHEDULED`, `MONTHLY` from the 1st of next month, 09:00 UTC): $200 to
//!   Savings (or what Checking has, if less).
//!
//! The rules are written in the API's own shape (drafts) and go through the same validation as
//! `createRule`, so the demo can never ship a rule the API would refuse.
//!
//! Every start mints and prints a new key (only its hash is stored, so an earlier one cannot be
//! shown again) and revokes the keys earlier starts minted, so at most one demo key is live. The
//! store marks demo keys when they are inserted (`keys::insert_demo`); a key an operator creates
//! is never revoked by a start, whatever its name.

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, Days, Months, NaiveDate, TimeDelta, Utc};
use sequence_core::ids::{AccountId, ApiKeyId, OrgId, RuleId};
use sequence_core::ledger::{AccountKind, ExternalAccountType};
use sequence_core::money::Cents;
use sequence_core::permissions::Permissions;
use sequence_core::rules::{
    ActionDraft, ActionType, CapPeriod, ConditionDraft, ConditionGroupDraft, Fact, Operator,
    PercentageTarget, RuleDraft, RuleStatus, ScheduleKind, StepDraft, TransferCap, TriggerDraft,
    TriggerKind, ValueFact, next_occurrence_after, validate_rule,
};
use sequence_store::accounts::{self, AccountRecord};
use sequence_store::orgs::{self, Organization};
use sequence_store::rules::{self, RuleRecord};
use sequence_store::{Store, StoreError, StoreResult, keys};

/// The demo organization's name (also the accounts' beneficiary, as in the docs' examples).
pub const DEMO_ORG_NAME: &str = "John Smith";

/// What `--demo` did.
pub struct DemoSeed {
    /// The demo organization.
    pub org_id: OrgId,
    /// Whether it was created now (false: the database already had it).
    pub created: bool,
    /// A fresh all-scopes key for it.
    pub api_key: String,
    /// The keys earlier starts minted, revoked now.
    pub revoked_keys: Vec<ApiKeyId>,
}

/// Seeds the demo organization if the database has none, revokes the keys earlier demo starts
/// minted, then mints a new all-scopes key.
pub async fn seed(store: &Store, now: DateTime<Utc>) -> StoreResult<DemoSeed> {
    let mut tx = store.begin().await?;
    let existing = orgs::find_by_name(&mut tx, DEMO_ORG_NAME).await?;
    let (org_id, created) = match existing {
        Some(id) => (id, false),
        None => (create_demo_org(&mut tx, now).await?, true),
    };
    let minted = crate::auth::mint(&org_id, "demo (all scopes)", &Permissions::all_scopes(), now);
    let revoked_keys = keys::revoke_demo_keys(&mut tx, now).await?;
    keys::insert_demo(&mut tx, &minted.record).await?;
    tx.commit().await?;
    Ok(DemoSeed { org_id, created, api_key: minted.plaintext, revoked_keys })
}

async fn create_demo_org(tx: &mut sequence_store::Tx, now: DateTime<Utc>) -> StoreResult<OrgId> {
    let org = Organization::new(DEMO_ORG_NAME, now);
    orgs::insert(tx, &org).await?;
    let account = |kind, name: &str| sequence_app::accounts::new_account(&org, kind, name, now);
    let checking = AccountRecord {
        description: Some("Main payroll account".to_owned()),
        institution_name: Some("Chase".to_owned()),
        ..account(AccountKind::IncomeSource, "Chase Checking ••4567")
    };
    // Pods list by creation time: Emergency Fund first, as in the docs' example.
    let later = |record: AccountRecord, ms: i64| {
        let at = now + TimeDelta::milliseconds(ms);
        AccountRecord { balance_updated_at: at, created_at: at, updated_at: at, ..record }
    };
    let emergency = account(AccountKind::Pod, "Emergency Fund");
    let taxes = later(account(AccountKind::Pod, "Taxes"), 1);
    let savings = later(account(AccountKind::Pod, "Savings"), 2);
    let amex = AccountRecord {
        institution_name: Some("American Express".to_owned()),
        reported_balance: Some(Cents::new(245_000)),
        last_statement_balance: Some(Cents::new(198_000)),
        next_payment_minimum: Some(Cents::new(3_500)),
        next_payment_due_date: now.date_naive().checked_add_days(Days::new(21)),
        ..account(AccountKind::External(ExternalAccountType::Liability), "Amex Gold ••1234")
    };
    for record in [&checking, &emergency, &taxes, &savings, &amex] {
        accounts::insert(tx, record).await?;
    }
    let demo = DemoAccounts {
        checking: checking.id.clone(),
        taxes: taxes.id.clone(),
        savings: savings.id.clone(),
        amex: amex.id.clone(),
    };
    let kinds: BTreeMap<AccountId, AccountKind> = [&checking, &emergency, &taxes, &savings, &amex]
        .into_iter()
        .map(|a| (a.id.clone(), a.kind))
        .collect();
    // Listed by creation time: the split first (the README reads it as `data[0]` of the
    // checking account's rules).
    for (ms, draft) in (0..).zip(demo_rules(&demo, now)) {
        let rule =
            validate_rule(RuleId::generate(), &draft, |id| kinds.get(id).copied(), |_| false)
                .map_err(|invalid| {
                    StoreError::Config(format!(
                        "demo rule `{}` is invalid: {invalid}",
                        draft.nickname
                    ))
                })?;
        let at = now + TimeDelta::milliseconds(ms);
        let next_run_at = rule.trigger.schedule.and_then(|s| next_occurrence_after(&s, at));
        let record = RuleRecord {
            rule,
            org_id: org.id.clone(),
            next_run_at,
            created_at: at,
            updated_at: at,
            deleted_at: None,
        };
        rules::insert(tx, &record).await?;
    }
    Ok(org.id)
}

/// The demo accounts the rules name.
struct DemoAccounts {
    checking: AccountId,
    taxes: AccountId,
    savings: AccountId,
    amex: AccountId,
}

/// An action from `source` to `destination` of `action_type`, without parameters.
fn action(action_type: ActionType, source: &AccountId, destination: &AccountId) -> ActionDraft {
    ActionDraft {
        action_type,
        source_account_id: source.clone(),
        destination_account_id: destination.clone(),
        group_index: 0,
        up_to_enabled: false,
        limit: None,
        amount_in_cents: None,
        percentage_value: None,
        percentage_target: None,
    }
}

/// `percentage`% of the incoming amount.
fn share(source: &AccountId, destination: &AccountId, percentage: f64) -> ActionDraft {
    ActionDraft {
        percentage_value: Some(percentage),
        percentage_target: Some(PercentageTarget::IncomingAmount),
        ..action(ActionType::Percentage, source, destination)
    }
}

/// 09:00 UTC on the 1st of the month after `now`'s.
fn first_of_next_month(now: DateTime<Utc>) -> DateTime<Utc> {
    let first = NaiveDate::from_ymd_opt(now.year(), now.month(), 1)
        .and_then(|d| d.checked_add_months(Months::new(1)))
        .and_then(|d| d.and_hms_opt(9, 0, 0))
        .expect("the 1st of next month exists");
    first.and_utc()
}

/// The demo rules (see the module docs), enabled.
fn demo_rules(a: &DemoAccounts, now: DateTime<Utc>) -> Vec<RuleDraft> {
    let enabled = |nickname: &str,
                   description: &str,
                   trigger: TriggerDraft,
                   steps: Vec<StepDraft>| RuleDraft {
        nickname: nickname.to_owned(),
        description: Some(description.to_owned()),
        status: RuleStatus::Enabled,
        trigger,
        steps,
    };
    let trigger = |kind: TriggerKind| TriggerDraft {
        kind,
        account_id: Some(a.checking.clone()),
        schedule_type: None,
        start_date: None,
    };
    let when = |condition: ConditionDraft| {
        Some(ConditionGroupDraft { condition: Some(condition), ..ConditionGroupDraft::default() })
    };
    let paycheck = ConditionDraft {
        fact: Fact::TransferAmount,
        operator: Operator::GreaterThanOrEqual,
        value: Some(100_000),
        value_fact: None,
        account_id: None,
        value_account_id: None,
    };
    let can_pay_statement = ConditionDraft {
        fact: Fact::Balance,
        operator: Operator::GreaterThanOrEqual,
        value: None,
        value_fact: Some(ValueFact::LastStatementBalance),
        account_id: None,
        value_account_id: Some(a.amex.clone()),
    };
    let split = enabled(
        "Paycheck split",
        "Paychecks of $1,000+: 20% to Taxes, 10% to Savings, the Amex minimum payment",
        trigger(TriggerKind::OnFundsTransferred),
        vec![
            StepDraft {
                conditions: when(paycheck),
                actions: vec![
                    share(&a.checking, &a.taxes, 20.0),
                    share(&a.checking, &a.savings, 10.0),
                    ActionDraft {
                        up_to_enabled: true,
                        ..action(ActionType::NextPaymentMinimum, &a.checking, &a.amex)
                    },
                ],
            },
            StepDraft { conditions: None, actions: vec![share(&a.checking, &a.savings, 10.0)] },
        ],
    );
    let statement = enabled(
        "Pay the Amex statement",
        "On demand: the last statement balance, when Checking can cover it",
        trigger(TriggerKind::Manual),
        vec![StepDraft {
            conditions: when(can_pay_statement),
            actions: vec![action(ActionType::LastStatementBalance, &a.checking, &a.amex)],
        }],
    );
    let monthly_cap =
        Some(TransferCap { period: CapPeriod::PerMonth, amount: Cents::new(200_000) });
    let sweep = enabled(
        "Sweep to savings",
        "On demand: half of manual_execute_amount to Savings, at most $2,000 a month",
        trigger(TriggerKind::Manual),
        vec![StepDraft {
            conditions: None,
            actions: vec![ActionDraft {
                up_to_enabled: true,
                limit: monthly_cap,
                ..share(&a.checking, &a.savings, 50.0)
            }],
        }],
    );
    let schedule = TriggerDraft {
        kind: TriggerKind::Scheduled,
        account_id: None,
        schedule_type: Some(ScheduleKind::Monthly),
        start_date: Some(first_of_next_month(now)),
    };
    let monthly_savings = enabled(
        "Monthly savings",
        "$200 to Savings on the 1st of every month",
        schedule,
        vec![StepDraft {
            conditions: None,
            actions: vec![ActionDraft {
                amount_in_cents: Some(Cents::new(20_000)),
                up_to_enabled: true,
                ..action(ActionType::Fixed, &a.checking, &a.savings)
            }],
        }],
    );
    vec![split, statement, sweep, monthly_savings]
}
