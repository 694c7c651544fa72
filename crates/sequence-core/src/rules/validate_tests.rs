//! Validation as a table: a valid rule that uses every feature, and one mutation per problem.
//!
//! Each case breaks the valid draft in one place and names the path that must be reported; the
//! messages of all cases are pinned together in one snapshot, which reads as the catalogue of
//! validation errors a client can meet.

use chrono::{DateTime, Utc};

use crate::ids::{AccountId, RuleId};
use crate::ledger::{AccountKind, ExternalAccountType};
use crate::money::Cents;

use super::draft::{ConditionDraft, ConditionGroupDraft, RuleDraft};
use super::eval_tests::{
    BILLS, CARD, CHECKING, INCOME, SAVINGS, action, all, always, any, balance_of, fixed, id,
    of_incoming, of_source, on_deposit, round_down, test, test_fact, top_up, when,
};
use super::model::{
    ActionKind, CapPeriod, Fact, Operator, PercentageTarget, Rule, ScheduleKind, TransferCap,
    TriggerKind, ValueFact,
};
use super::validate::{CONDITION_DEPTH_MAX, RuleInvalid, validate_rule};

/// A pod that already has an `ON_FUNDS_TRANSFERRED` rule.
const WATCHED: &str = "acc_watched";
const BROKERAGE: &str = "acc_brokerage";

fn accounts(account: &AccountId) -> Option<AccountKind> {
    match account.as_str() {
        INCOME => Some(AccountKind::IncomeSource),
        SAVINGS | BILLS | WATCHED => Some(AccountKind::Pod),
        CHECKING => Some(AccountKind::External(ExternalAccountType::Depository)),
        BROKERAGE => Some(AccountKind::External(ExternalAccountType::Investment)),
        CARD => Some(AccountKind::External(ExternalAccountType::Liability)),
        _ => None,
    }
}

fn on_funds_rule_exists(account: &AccountId) -> bool {
    account.as_str() == WATCHED
}

fn validate(draft: &RuleDraft) -> Result<Rule, RuleInvalid> {
    validate_rule(RuleId::from_raw("rule_test"), draft, accounts, on_funds_rule_exists)
}

/// A valid rule using every action type, every value fact, any/all nesting, caps and up-to.
fn valid_rule() -> Rule {
    on_deposit(vec![
        when(
            all(vec![
                any(vec![
                    test(Fact::Date, Operator::Equals, 1),
                    test_fact(Fact::Date, Operator::Equals, ValueFact::LastDayOfMonth, None),
                ]),
                balance_of(SAVINGS, Operator::LessThan, 10_000),
                test_fact(
                    Fact::Balance,
                    Operator::GreaterThanOrEqual,
                    ValueFact::NextPaymentMinimumAmount,
                    Some(CARD),
                ),
            ]),
            vec![
                fixed(INCOME, SAVINGS, 5_000).cap(CapPeriod::PerMonth, 20_000).group(1).up_to(),
                of_incoming(INCOME, BILLS, 2_000),
                action(ActionKind::NextPaymentMinimum, INCOME, CARD),
            ],
        ),
        when(
            test(Fact::TransferAmount, Operator::GreaterThan, 100_000),
            vec![
                top_up(INCOME, SAVINGS, 50_000),
                round_down(INCOME, CHECKING, 10_000),
                action(ActionKind::TotalAmountDue, INCOME, CARD),
                action(ActionKind::LastStatementBalance, INCOME, CARD),
            ],
        ),
        when(
            all(vec![test_fact(
                Fact::TransferAmount,
                Operator::GreaterThanOrEqual,
                ValueFact::LastStatementBalance,
                Some(CARD),
            )]),
            vec![
                action(
                    ActionKind::PercentageLiabilityBalance { basis_points: 5_000 },
                    INCOME,
                    CARD,
                ),
                of_source(SAVINGS, BROKERAGE, 1_000).cap(CapPeriod::PerTransfer, 0),
            ],
        ),
        always(vec![fixed(INCOME, SAVINGS, 100)]),
    ])
}

fn valid_draft() -> RuleDraft {
    RuleDraft::from(&valid_rule())
}

/// The condition reached from step `step`'s root group through `members` (indices into nested
/// any/all groups).
fn leaf<'d>(draft: &'d mut RuleDraft, step: usize, members: &[usize]) -> &'d mut ConditionDraft {
    let mut group = draft.steps[step].conditions.as_mut().expect("step has conditions");
    for &index in members {
        let items = group.any.as_mut().or(group.all.as_mut()).expect("an any/all group");
        group = &mut items[index];
    }
    group.condition.as_mut().expect("a condition")
}

/// `levels` levels of condition groups: `all` groups around one `DATE = 1` condition.
fn nested(levels: usize) -> ConditionGroupDraft {
    assert!(levels >= 1);
    let condition = ConditionDraft {
        fact: Fact::Date,
        operator: Operator::Equals,
        value: Some(1),
        value_fact: None,
        account_id: None,
        value_account_id: None,
    };
    let mut group = ConditionGroupDraft { condition: Some(condition), any: None, all: None };
    for _ in 1..levels {
        group = ConditionGroupDraft { condition: None, any: None, all: Some(vec![group]) };
    }
    group
}

fn start_date() -> DateTime<Utc> {
    "2024-01-01T09:00:00Z".parse().expect("timestamp")
}

fn scheduled(draft: &mut RuleDraft) {
    draft.trigger.kind = TriggerKind::Scheduled;
    draft.trigger.schedule_type = Some(ScheduleKind::Monthly);
    draft.trigger.start_date = Some(start_date());
}

type Mutation = fn(&mut RuleDraft);

/// Every problem validation reports: (case name, the path it must report, how to break the rule).
const CASES: &[(&str, &str, Mutation)] = &[
    // Trigger.
    ("on_funds_without_account", "trigger.account_id", |d| d.trigger.account_id = None),
    ("on_funds_unknown_account", "trigger.account_id", |d| {
        d.trigger.account_id = Some(id("acc_nope"));
    }),
    ("on_funds_on_external_account", "trigger.account_id", |d| {
        d.trigger.account_id = Some(id(CHECKING));
    }),
    ("on_funds_account_already_watched", "trigger.account_id", |d| {
        d.trigger.account_id = Some(id(WATCHED));
    }),
    ("scheduled_without_schedule_type", "trigger.schedule_type", |d| {
        scheduled(d);
        d.trigger.schedule_type = None;
    }),
    ("scheduled_without_start_date", "trigger.start_date", |d| {
        scheduled(d);
        d.trigger.start_date = None;
    }),
    ("scheduled_unknown_account", "trigger.account_id", |d| {
        scheduled(d);
        d.trigger.account_id = Some(id("acc_nope"));
    }),
    ("manual_with_schedule_type", "trigger.schedule_type", |d| {
        d.trigger.kind = TriggerKind::Manual;
        d.trigger.schedule_type = Some(ScheduleKind::Daily);
    }),
    ("on_funds_with_start_date", "trigger.start_date", |d| {
        d.trigger.start_date = Some(start_date())
    }),
    // Sizes.
    ("no_steps", "steps", |d| d.steps.clear()),
    ("too_many_steps", "steps", |d| {
        let step = d.steps[3].clone();
        d.steps = vec![step; 21];
    }),
    ("step_without_actions", "steps[3].actions", |d| d.steps[3].actions.clear()),
    ("too_many_actions", "steps[3].actions", |d| {
        let action = d.steps[3].actions[0].clone();
        d.steps[3].actions = vec![action; 21];
    }),
    ("conditions_too_deep", "steps[3].conditions.all[0].all[0].all[0].all[0].all[0]", |d| {
        d.steps[3].conditions = Some(nested(CONDITION_DEPTH_MAX + 1));
    }),
    ("group_too_large", "steps[3].conditions.any", |d| {
        let member = nested(1);
        let any = Some(vec![member; 21]);
        d.steps[3].conditions = Some(ConditionGroupDraft { condition: None, any, all: None });
    }),
    ("group_empty", "steps[3].conditions.all", |d| {
        let all = Some(Vec::new());
        d.steps[3].conditions = Some(ConditionGroupDraft { condition: None, any: None, all });
    }),
    ("group_with_two_members", "steps[1].conditions", |d| {
        let group = d.steps[1].conditions.as_mut().expect("conditions");
        group.any = Some(vec![nested(1)]);
    }),
    ("group_with_no_member", "steps[0].conditions.all[0].any[1]", |d| {
        let group = d.steps[0].conditions.as_mut().expect("conditions");
        let all = group.all.as_mut().expect("all");
        all[0].any.as_mut().expect("any")[1] = ConditionGroupDraft::default();
    }),
    // Conditions.
    ("value_and_value_fact", "steps[1].conditions.condition.value_fact", |d| {
        leaf(d, 1, &[]).value_fact = Some(ValueFact::LastStatementBalance);
    }),
    ("neither_value_nor_value_fact", "steps[1].conditions.condition.value", |d| {
        leaf(d, 1, &[]).value = None;
    }),
    ("date_zero", "steps[0].conditions.all[0].any[0].condition.value", |d| {
        leaf(d, 0, &[0, 0]).value = Some(0);
    }),
    ("date_thirty_two", "steps[0].conditions.all[0].any[0].condition.value", |d| {
        leaf(d, 0, &[0, 0]).value = Some(32);
    }),
    ("date_against_an_amount", "steps[0].conditions.all[0].any[1].condition.value_fact", |d| {
        let condition = leaf(d, 0, &[0, 1]);
        condition.value_fact = Some(ValueFact::NextPaymentMinimumAmount);
        condition.value_account_id = Some(id(CARD));
    }),
    ("amount_against_a_day", "steps[2].conditions.all[0].condition.value_fact", |d| {
        let condition = leaf(d, 2, &[0]);
        condition.value_fact = Some(ValueFact::LastDayOfMonth);
        condition.value_account_id = None;
    }),
    ("account_on_date", "steps[0].conditions.all[0].any[0].condition.params.account_id", |d| {
        leaf(d, 0, &[0, 0]).account_id = Some(id(SAVINGS));
    }),
    ("balance_of_unknown_account", "steps[0].conditions.all[1].condition.params.account_id", |d| {
        leaf(d, 0, &[1]).account_id = Some(id("acc_nope"));
    }),
    (
        "balance_without_any_account",
        "steps[0].conditions.all[2].condition.params.account_id",
        |d| {
            d.trigger.kind = TriggerKind::Manual;
            d.trigger.account_id = None;
        },
    ),
    (
        "liability_fact_without_account",
        "steps[2].conditions.all[0].condition.params.value_account_id",
        |d| leaf(d, 2, &[0]).value_account_id = None,
    ),
    (
        "liability_fact_on_a_pod",
        "steps[2].conditions.all[0].condition.params.value_account_id",
        |d| leaf(d, 2, &[0]).value_account_id = Some(id(SAVINGS)),
    ),
    (
        "liability_fact_unknown_account",
        "steps[2].conditions.all[0].condition.params.value_account_id",
        |d| leaf(d, 2, &[0]).value_account_id = Some(id("acc_nope")),
    ),
    (
        "value_account_with_a_literal",
        "steps[1].conditions.condition.params.value_account_id",
        |d| {
            leaf(d, 1, &[]).value_account_id = Some(id(CARD));
        },
    ),
    // Accounts of actions.
    ("unknown_source", "steps[0].actions[0].source_account_id", |d| {
        d.steps[0].actions[0].source_account_id = id("acc_nope");
    }),
    ("unknown_destination", "steps[0].actions[0].destination_account_id", |d| {
        d.steps[0].actions[0].destination_account_id = id("acc_nope");
    }),
    ("liability_as_source", "steps[0].actions[2].source_account_id", |d| {
        d.steps[0].actions[2].source_account_id = id(CARD);
    }),
    ("income_source_as_destination", "steps[0].actions[0].destination_account_id", |d| {
        d.steps[0].actions[0].destination_account_id = id(INCOME);
    }),
    ("source_is_destination", "steps[1].actions[0].destination_account_id", |d| {
        d.steps[1].actions[0].source_account_id = id(SAVINGS);
    }),
    ("liability_action_to_a_pod", "steps[0].actions[2].destination_account_id", |d| {
        d.steps[0].actions[2].destination_account_id = id(BILLS);
    }),
    // Parameters of actions.
    ("percentage_above_100", "steps[0].actions[1].percentage_value", |d| {
        d.steps[0].actions[1].percentage_value = Some(100.5);
    }),
    ("percentage_negative", "steps[0].actions[1].percentage_value", |d| {
        d.steps[0].actions[1].percentage_value = Some(-1.0);
    }),
    ("percentage_nan", "steps[0].actions[1].percentage_value", |d| {
        d.steps[0].actions[1].percentage_value = Some(f64::NAN);
    }),
    ("percentage_missing", "steps[0].actions[1].percentage_value", |d| {
        d.steps[0].actions[1].percentage_value = None;
    }),
    ("percentage_with_amount", "steps[0].actions[1].amount_in_cents", |d| {
        d.steps[0].actions[1].amount_in_cents = Some(Cents::new(100));
    }),
    ("liability_percentage_above_100", "steps[2].actions[0].percentage_value", |d| {
        d.steps[2].actions[0].percentage_value = Some(101.0);
    }),
    ("liability_percentage_with_target", "steps[2].actions[0].percentage_target", |d| {
        d.steps[2].actions[0].percentage_target = Some(PercentageTarget::SourceAccount);
    }),
    ("fixed_amount_zero", "steps[0].actions[0].amount_in_cents", |d| {
        d.steps[0].actions[0].amount_in_cents = Some(Cents::ZERO);
    }),
    ("fixed_amount_missing", "steps[0].actions[0].amount_in_cents", |d| {
        d.steps[0].actions[0].amount_in_cents = None;
    }),
    ("fixed_with_percentage", "steps[0].actions[0].percentage_value", |d| {
        d.steps[0].actions[0].percentage_value = Some(10.0);
    }),
    ("top_up_without_target", "steps[1].actions[0].amount_in_cents", |d| {
        d.steps[1].actions[0].amount_in_cents = None;
    }),
    ("round_down_multiple_zero", "steps[1].actions[1].amount_in_cents", |d| {
        d.steps[1].actions[1].amount_in_cents = Some(Cents::ZERO);
    }),
    ("liability_action_with_amount", "steps[1].actions[2].amount_in_cents", |d| {
        d.steps[1].actions[2].amount_in_cents = Some(Cents::new(100));
    }),
    ("negative_cap", "steps[0].actions[0].limit.amount_in_cents", |d| {
        let limit = d.steps[0].actions[0].limit.as_mut().expect("capped");
        limit.amount = Cents::new(-1);
    }),
    ("group_limits_differ", "steps[0].actions[1].limit", |d| {
        d.steps[0].actions[1].group_index = 1;
        let cap = TransferCap { period: CapPeriod::PerMonth, amount: Cents::new(10_000) };
        d.steps[0].actions[1].limit = Some(cap);
    }),
    // Order: the first problem in document order is the one reported.
    ("first_problem_wins", "trigger.account_id", |d| {
        d.trigger.account_id = None;
        d.steps.clear();
    }),
    ("earlier_step_first", "steps[0].actions[0].source_account_id", |d| {
        d.steps[0].actions[0].source_account_id = id("acc_nope");
        d.steps[1].actions.clear();
    }),
];

#[test]
fn every_problem_is_reported_at_its_path() {
    // Goal: each way of breaking a rule is refused with the right path. Method: apply each
    // mutation to the valid draft, assert the path, and snapshot every message together.
    assert!(validate(&valid_draft()).is_ok());
    let mut catalogue = Vec::new();
    for (name, path, mutate) in CASES {
        let mut draft = valid_draft();
        mutate(&mut draft);
        let problem = match validate(&draft) {
            Ok(_) => panic!("case {name}: the rule was accepted"),
            Err(problem) => problem,
        };
        assert_eq!(problem.path, *path, "case {name}: {problem}");
        catalogue.push(format!("{name}: {problem}"));
    }
    insta::with_settings!({ prepend_module_to_snapshot => false }, {
        insta::assert_yaml_snapshot!("validate__problems", catalogue);
    });
}

#[test]
fn validation_returns_the_rule_it_was_given() {
    // Goal: a stored rule rendered as a draft validates back to itself, so the server can render
    // through `RuleDraft` and the store can re-validate. Method: round trip the feature-complete
    // rule.
    let rule = valid_rule();
    assert_eq!(validate(&RuleDraft::from(&rule)), Ok(rule));
}

#[test]
fn edge_values_are_accepted() {
    // Goal: the limits are inclusive and the optional parts are optional. Method: each edit
    // keeps the draft valid.
    let valid_edits: &[(&str, Mutation)] = &[
        ("on_funds_on_a_pod", |d| d.trigger.account_id = Some(id(SAVINGS))),
        ("manual_without_account_with_balance_accounts", |d| {
            d.trigger.kind = TriggerKind::Manual;
            d.trigger.account_id = None;
            leaf(d, 0, &[2]).account_id = Some(id(INCOME));
        }),
        ("scheduled_with_schedule", scheduled),
        ("date_31", |d| leaf(d, 0, &[0, 0]).value = Some(31)),
        ("deepest_conditions", |d| d.steps[3].conditions = Some(nested(CONDITION_DEPTH_MAX))),
        ("percentage_zero", |d| d.steps[0].actions[1].percentage_value = Some(0.0)),
        ("percentage_hundred", |d| d.steps[0].actions[1].percentage_value = Some(100.0)),
        ("percentage_target_defaults", |d| d.steps[0].actions[1].percentage_target = None),
        ("twenty_steps", |d| {
            let step = d.steps[3].clone();
            d.steps.resize(20, step);
        }),
        ("twenty_actions", |d| {
            let action = d.steps[3].actions[0].clone();
            d.steps[3].actions.resize(20, action);
        }),
        ("balance_of_a_liability", |d| leaf(d, 0, &[1]).account_id = Some(id(CARD))),
        ("group_limits_equal", |d| {
            d.steps[0].actions[1].group_index = 1;
            d.steps[0].actions[1].limit = d.steps[0].actions[0].limit;
        }),
        ("group_member_without_limit", |d| d.steps[0].actions[1].group_index = 1),
        ("same_limit_other_group", |d| {
            d.steps[0].actions[1].limit = d.steps[0].actions[0].limit;
        }),
    ];
    for (name, edit) in valid_edits {
        let mut draft = valid_draft();
        edit(&mut draft);
        if let Err(problem) = validate(&draft) {
            panic!("case {name}: refused with {problem}");
        }
    }
}

#[test]
fn percentages_are_truncated_and_target_defaults_to_incoming() {
    // Goal: the wire's float percentage becomes basis points, rounded down, and a PERCENTAGE
    // without a target takes the incoming amount, as the API's default says.
    let mut draft = valid_draft();
    draft.steps[0].actions[1].percentage_value = Some(12.349);
    draft.steps[0].actions[1].percentage_target = None;
    let rule = validate(&draft).expect("valid");
    let expected =
        ActionKind::Percentage { basis_points: 1_234, target: PercentageTarget::IncomingAmount };
    assert_eq!(rule.steps[0].actions[1].kind, expected);
}

#[test]
fn storage_shape_round_trips() {
    // Goal: the serde shape the store persists reads back as the same rule, and changes to it
    // show up in review. Method: round trip the feature-complete rule through JSON and snapshot
    // the JSON.
    let rule = valid_rule();
    let json = serde_json::to_value(&rule).expect("serializable");
    assert_eq!(serde_json::from_value::<Rule>(json.clone()).expect("readable"), rule);
    insta::with_settings!({ prepend_module_to_snapshot => false }, {
        insta::assert_json_snapshot!("model__storage_shape", json);
    });
}
