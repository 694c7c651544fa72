//! What the simulator knows about the world it drives: the organizations it created, their
//! accounts and rules, and the facts the invariants need that the database cannot be trusted to
//! say about itself (which rule definition was in force when, which organizations were made
//! hostile on purpose, which pods only a `TOP_UP` rule may fill).
//!
//! Cards are modelled by their pod and status (purchases and refunds are read back from the
//! database when an operation needs one, so they can run concurrently without touching the
//! model).
//!
//! The model is updated only from outcomes: a use case that committed changes it, a refusal or
//! a dropped transaction does not. Entities get short labels (`o2`, `o2.a5`, `o2.r3`) so the
//! operation log reads the same from one run of a seed to the next, while the ids the
//! application mints differ.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use sequence_core::cards::CardStatus;
use sequence_core::ids::{AccountId, CardId, OrgId, RuleId, TransferId};
use sequence_core::ledger::AccountKind;
use sequence_core::money::Cents;
use sequence_core::rules::{RuleDraft, Schedule, TransferCap, TriggerKind};

/// Every organization of the run, in creation order (its index is its label).
#[derive(Default)]
pub struct Model {
    /// The organizations.
    pub orgs: Vec<OrgModel>,
}

/// Why an organization was made hostile: data no client could send through the API, planted to
/// prove that one tenant's broken data never stops the others.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Hostility {
    /// An external account whose bank reports a balance near `i64::MAX`, and a payment to it in
    /// flight: settling it overflows the reported balance (an internal error, every pass).
    ReportedBalanceOverflow {
        /// The payment that cannot settle.
        transfer: TransferId,
    },
    /// A clock offset beyond the 100-year bound: reading the organization's time panics.
    CorruptClock,
    /// A scheduled rule whose stored definition is not JSON any more: loading it when it is due
    /// fails.
    CorruptRule {
        /// The rule.
        rule: RuleId,
    },
}

/// One organization.
pub struct OrgModel {
    /// `o<index>`.
    pub label: String,
    /// Its id.
    pub id: OrgId,
    /// Set for organizations broken on purpose; random operations leave them alone.
    pub hostile: Option<Hostility>,
    /// Its sandbox clock offset, as last read.
    pub offset_seconds: i64,
    /// Its accounts, in creation order (label `o<i>.a<index>`).
    pub accounts: Vec<AccountModel>,
    /// Its rules, in creation order (label `o<i>.r<index>`).
    pub rules: Vec<RuleModel>,
    /// Pods that only a `TOP_UP` rule sends to.
    pub probes: Vec<Probe>,
    /// Its debit cards, in issue order (label `o<i>.c<index>`).
    pub cards: Vec<CardModel>,
    /// The caps of each rule definition ever stored, by the definition's nickname (unique per
    /// organization: `r<rule>v<version>`, which executions record as their `rule_name`): for each
    /// (step, group), the group's limit.
    pub caps_by_nickname: BTreeMap<String, BTreeMap<(u32, u32), TransferCap>>,
    /// The organization time up to which cap periods were checked (earlier periods are final).
    pub caps_checked_at: Option<DateTime<Utc>>,
    /// Definitions stored so far (the next version number).
    pub versions: u32,
}

/// One account.
pub struct AccountModel {
    /// Its id.
    pub id: AccountId,
    /// Its kind.
    pub kind: AccountKind,
    /// Deleted (by a committed deletion).
    pub deleted: bool,
    /// A `TOP_UP` probe pod: nothing but its probe rule sends to it, and it sends nothing.
    pub probe: bool,
}

/// One debit card.
pub struct CardModel {
    /// Its id.
    pub id: CardId,
    /// The pod it spends from.
    pub pod: AccountId,
    /// Its status, as committed status changes left it (the checker compares it with the
    /// database before every purchase it predicts).
    pub status: CardStatus,
}

/// One rule.
pub struct RuleModel {
    /// Its id.
    pub id: RuleId,
    /// The definition in force (its nickname names the version).
    pub draft: RuleDraft,
    /// Enabled (by a committed switch; replacing a rule disables it).
    pub enabled: bool,
    /// Deleted.
    pub deleted: bool,
    /// The rule of a `TOP_UP` probe: never replaced (that could retarget it).
    pub probe: bool,
    /// Whether any of its definitions had a cap (so its transfers are audited).
    pub capped: bool,
    /// While enabled (scheduled rules): since when, with which schedule. Occurrences are due
    /// from then on; each processing of the organization must have run those up to its time.
    /// (Disabling clears it: occurrences not processed by then are skipped.)
    pub windows: Vec<Window>,
    /// Scheduled executions were checked up to (and including) this organization time.
    pub verified_until: Option<DateTime<Utc>>,
}

/// A scheduled rule enabled at `from` with `schedule`: its occurrences from `from` on must run
/// once each, by the first processing of the organization at or after them.
#[derive(Debug, Clone)]
pub struct Window {
    /// The schedule, at stored precision (as the API documents it is normalised).
    pub schedule: Schedule,
    /// When it was enabled.
    pub from: DateTime<Utc>,
}

/// A `TOP_UP` probe: `pod` must never hold plus have coming more than `target`.
#[derive(Debug, Clone)]
pub struct Probe {
    /// The pod.
    pub pod: AccountId,
    /// The rule's target balance.
    pub target: Cents,
}

impl Model {
    /// The organizations random operations may use.
    pub fn normal_orgs(&self) -> Vec<usize> {
        (0..self.orgs.len()).filter(|&i| self.orgs[i].hostile.is_none()).collect()
    }

    /// A label for an account id (`o1.a4`), or the id itself if unknown.
    pub fn account_label(&self, org: usize, id: &AccountId) -> String {
        let org = &self.orgs[org];
        match org.accounts.iter().position(|a| a.id == *id) {
            Some(index) => format!("{}.a{index}", org.label),
            None => id.to_string(),
        }
    }
}

impl OrgModel {
    /// A new organization's model.
    pub fn new(index: usize, id: OrgId) -> OrgModel {
        OrgModel {
            label: format!("o{index}"),
            id,
            hostile: None,
            offset_seconds: 0,
            accounts: Vec::new(),
            rules: Vec::new(),
            probes: Vec::new(),
            cards: Vec::new(),
            caps_by_nickname: BTreeMap::new(),
            caps_checked_at: None,
            versions: 0,
        }
    }

    /// Live accounts matching `keep` (probe pods never included).
    pub fn live(&self, keep: impl Fn(AccountKind) -> bool) -> Vec<&AccountModel> {
        self.accounts.iter().filter(|a| !a.deleted && !a.probe && keep(a.kind)).collect()
    }

    /// The probe pods.
    pub fn probe_pods(&self) -> BTreeSet<&AccountId> {
        self.probes.iter().map(|p| &p.pod).collect()
    }

    /// Accounts already watched by a live `ON_FUNDS_TRANSFERRED` rule.
    pub fn watched(&self) -> BTreeSet<AccountId> {
        self.rules
            .iter()
            .filter(|r| !r.deleted && r.draft.trigger.kind == TriggerKind::OnFundsTransferred)
            .filter_map(|r| r.draft.trigger.account_id.clone())
            .collect()
    }
}

/// The caps of a draft: for each (step, group), the first non-null limit of the group.
pub fn caps_of(draft: &RuleDraft) -> BTreeMap<(u32, u32), TransferCap> {
    let mut caps = BTreeMap::new();
    for (step_index, step) in draft.steps.iter().enumerate() {
        let step_index = u32::try_from(step_index).expect("few steps");
        for action in &step.actions {
            if let Some(limit) = action.limit {
                caps.entry((step_index, action.group_index)).or_insert(limit);
            }
        }
    }
    caps
}

#[cfg(test)]
mod tests {
    use sequence_core::rules::{
        ActionDraft, ActionType, CapPeriod, RuleStatus, StepDraft, TriggerDraft,
    };

    use super::*;

    fn action(group_index: u32, limit: Option<TransferCap>) -> ActionDraft {
        ActionDraft {
            action_type: ActionType::Fixed,
            source_account_id: AccountId::from_raw("acc_a"),
            destination_account_id: AccountId::from_raw("acc_b"),
            group_index,
            up_to_enabled: false,
            limit,
            amount_in_cents: Some(Cents::new(100)),
            percentage_value: None,
            percentage_target: None,
        }
    }

    #[test]
    fn a_groups_cap_is_its_first_limit_per_step() {
        let week = TransferCap { period: CapPeriod::PerWeek, amount: Cents::new(500) };
        let year = TransferCap { period: CapPeriod::PerYear, amount: Cents::new(900) };
        let draft = RuleDraft {
            nickname: "r0v1".into(),
            description: None,
            status: RuleStatus::Disabled,
            trigger: TriggerDraft {
                kind: TriggerKind::Manual,
                account_id: None,
                schedule_type: None,
                start_date: None,
            },
            steps: vec![
                StepDraft {
                    conditions: None,
                    actions: vec![action(0, None), action(0, Some(week))],
                },
                StepDraft {
                    conditions: None,
                    actions: vec![action(0, Some(year)), action(1, None)],
                },
            ],
        };
        let caps = caps_of(&draft);
        assert_eq!(caps.len(), 2);
        assert_eq!(caps[&(0, 0)], week);
        assert_eq!(caps[&(1, 0)], year);
    }
}
