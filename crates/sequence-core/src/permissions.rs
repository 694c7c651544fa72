//! API-key permissions: scopes, resource constraints and the checks every endpoint runs.
//!
//! This module is the only authorization logic in the system. Handlers authenticate the key,
//! then call [`Permissions::require`], [`Permissions::require_resource`],
//! [`Permissions::resource_filter`] or [`Permissions::authorize_transfer`] and turn a denial
//! into `403 forbidden`. Keeping every decision here means one table-tested place answers
//! "may this key do that", and no handler re-implements wildcard or `max_amount` matching.
//!
//! # Model
//!
//! A key holds a list of entries. Each entry names a [`Scope`] and, depending on the scope's
//! [`ResourceKind`], a resource constraint, exactly as the public docs' permission table defines:
//!
//! ```json
//! [{"scope":"LIST_ACCOUNTS"},
//!  {"scope":"READ_ACCOUNTS","resources":["*"]},
//!  {"scope":"READ_RULES","resources":["rule_1","rule_2"]},
//!  {"scope":"MANUAL_TRANSFER","resources":[{"source":"acc_1","target":"acc_2","max_amount":50000}]}]
//! ```
//!
//! * **none** scopes (`LIST_ACCOUNTS`, `LIST_RULES`, `MANAGE_ACCOUNTS`, `CREATE_AND_EDIT_RULES`,
//!   `SANDBOX`) take no `resources` at all.
//! * **ids** scopes take a non-empty array of ids (account ids or rule ids, by scope) or `["*"]`
//!   for every resource of that kind, including ones created later.
//! * `MANUAL_TRANSFER` takes a non-empty array of `{source, target, max_amount?}` pairs; `source`
//!   and `target` are account ids or `"*"`, `max_amount` is a positive integer of cents. A
//!   transfer is allowed if **any** pair matching its source and destination allows its amount.
//!
//! # Decisions
//!
//! * **Strict parsing.** A permission list is a security boundary, so anything ambiguous is
//!   rejected with a message naming the entry and field instead of being guessed at: unknown
//!   fields, duplicate JSON keys, duplicate ids, `"*"` mixed with ids, ids of the wrong kind
//!   (`acc_…` where a rule id belongs), a `max_amount` below the $1.00 transfer minimum (the pair
//!   could never allow anything) and pairs whose source and target are the same account.
//! * **`null` is absence.** `"resources": null` and `"max_amount": null` mean the same as leaving
//!   the field out; the canonical form leaves it out.
//! * **One entry per scope.** A second entry for a scope is rejected rather than merged, so each
//!   scope's grant is read in one place. `MANUAL_TRANSFER` pairs therefore all live in the single
//!   `MANUAL_TRANSFER` entry, and two pairs with the same `source` and `target` are rejected too
//!   (write one pair with the `max_amount` you mean). Pairs that merely *overlap* through
//!   wildcards are fine; the most permissive matching pair wins.
//! * **Canonical form.** [`Permissions`] keeps entries ordered by scope (the order of
//!   [`Scope::ALL`]), ids sorted and pairs sorted by `(source, target)` with `"*"` first, so
//!   equal grants compare equal and [`Permissions::to_json`] is a canonical text that the store
//!   persists and that parses back to the same value.
//! * **Ordinals in messages.** Errors carry zero-based indexes but print one-based ordinals
//!   ("entry 2", "pair 1"), the way a person counts the items they wrote.
//! * **Check before lookup.** Handlers must check the permission before looking the resource up,
//!   so a key learns nothing about resources outside its grant: an id outside the list is 403
//!   whether or not it exists; an id inside the list that does not exist is 404.
//!
//! # JSON Schema
//!
//! [`Permissions::json_schema_document`] (printed by `sequence-server keys schema`) describes the
//! document for editors and scripts. It is derived with `schemars` from the same tables the
//! parser uses; see the `schema` submodule for what it can and cannot say.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::str::FromStr;

use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize, Serializer};
use serde_json::{Map, Value};

use crate::ids::{AccountId, RuleId};
use crate::money::{Cents, TRANSFER_MINIMUM};

/// The most ids one entry may list. Keys with more than this should use `"*"`; the bound keeps
/// the parse and every check proportional to a small constant.
pub const RESOURCE_IDS_PER_ENTRY_MAX: usize = 1_000;

/// The most `{source, target, max_amount?}` pairs the `MANUAL_TRANSFER` entry may list.
pub const TRANSFER_PAIRS_MAX: usize = 1_000;

/// The longest id, in bytes, a permission may name. Minted ids are a prefix plus a 26-character
/// ULID, far below this; the bound only stops absurd inputs.
pub const RESOURCE_ID_LENGTH_MAX: usize = 64;

/// The wildcard that stands for every resource (or, in a transfer pair, every account).
pub const WILDCARD: &str = "*";

/// A permission scope: one kind of operation an API key may be allowed to perform.
///
/// The first nine are the public docs' scopes; `MANAGE_ACCOUNTS`, `CREATE_AND_EDIT_RULES` and
/// `SANDBOX` cover this project's additions (account creation/deletion, rule writes, and the
/// sandbox endpoints).
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Scope {
    /// List all accounts in the organization.
    ListAccounts,
    /// Full account details and balance for specific accounts.
    ReadAccounts,
    /// List all rules in the organization.
    ListRules,
    /// Full rule details for specific rules.
    ReadRules,
    /// Trigger executions of specific rules.
    TriggerRules,
    /// Execution history of specific rules.
    ReadRuleExecutions,
    /// Transfer history of specific accounts.
    ReadTransfers,
    /// Create manual transfers between allowed account pairs.
    ManualTransfer,
    /// Cards and card transactions of specific accounts.
    ReadCards,
    /// Create and delete accounts.
    ManageAccounts,
    /// Create, update and delete rules.
    CreateAndEditRules,
    /// Use the sandbox endpoints (simulated deposits, the organization clock).
    Sandbox,
    /// Read the organization's audit log.
    ReadAuditLogs,
}

/// What kind of `resources` constraint a scope takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ResourceKind {
    /// No `resources`: the scope is all-or-nothing.
    None,
    /// A list of ids, or `["*"]`.
    Ids,
    /// A list of `{source, target, max_amount?}` pairs.
    TransferPairs,
}

/// What an ids scope's ids refer to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ResourceIdKind {
    /// Account ids (`acc_…`).
    Account,
    /// Rule ids (`rule_…`).
    Rule,
}

impl Scope {
    /// Every scope, in canonical order (the order entries are kept and serialized in).
    pub const ALL: [Scope; 13] = [
        Scope::ListAccounts,
        Scope::ReadAccounts,
        Scope::ListRules,
        Scope::ReadRules,
        Scope::TriggerRules,
        Scope::ReadRuleExecutions,
        Scope::ReadTransfers,
        Scope::ManualTransfer,
        Scope::ReadCards,
        Scope::ManageAccounts,
        Scope::CreateAndEditRules,
        Scope::Sandbox,
        Scope::ReadAuditLogs,
    ];

    /// The scope as it appears in permission JSON, e.g. `READ_ACCOUNTS`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Scope::ListAccounts => "LIST_ACCOUNTS",
            Scope::ReadAccounts => "READ_ACCOUNTS",
            Scope::ListRules => "LIST_RULES",
            Scope::ReadRules => "READ_RULES",
            Scope::TriggerRules => "TRIGGER_RULES",
            Scope::ReadRuleExecutions => "READ_RULE_EXECUTIONS",
            Scope::ReadTransfers => "READ_TRANSFERS",
            Scope::ManualTransfer => "MANUAL_TRANSFER",
            Scope::ReadCards => "READ_CARDS",
            Scope::ManageAccounts => "MANAGE_ACCOUNTS",
            Scope::CreateAndEditRules => "CREATE_AND_EDIT_RULES",
            Scope::Sandbox => "SANDBOX",
            Scope::ReadAuditLogs => "READ_AUDIT_LOGS",
        }
    }

    /// The kind of `resources` constraint this scope takes.
    pub const fn resource_kind(self) -> ResourceKind {
        match self {
            Scope::ListAccounts
            | Scope::ListRules
            | Scope::ManageAccounts
            | Scope::CreateAndEditRules
            | Scope::Sandbox
            | Scope::ReadAuditLogs => ResourceKind::None,
            Scope::ReadAccounts
            | Scope::ReadRules
            | Scope::TriggerRules
            | Scope::ReadRuleExecutions
            | Scope::ReadTransfers
            | Scope::ReadCards => ResourceKind::Ids,
            Scope::ManualTransfer => ResourceKind::TransferPairs,
        }
    }

    /// For an ids scope, what its ids refer to; `None` for the other scopes. Transfers and cards
    /// are authorized by the account they touch, rule executions by their rule.
    pub const fn resource_id_kind(self) -> Option<ResourceIdKind> {
        match self {
            Scope::ReadAccounts | Scope::ReadTransfers | Scope::ReadCards => {
                Some(ResourceIdKind::Account)
            }
            Scope::ReadRules | Scope::TriggerRules | Scope::ReadRuleExecutions => {
                Some(ResourceIdKind::Rule)
            }
            Scope::ListAccounts
            | Scope::ListRules
            | Scope::ManualTransfer
            | Scope::ManageAccounts
            | Scope::CreateAndEditRules
            | Scope::Sandbox
            | Scope::ReadAuditLogs => None,
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Scope {
    type Err = UnknownScope;

    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        Scope::ALL
            .into_iter()
            .find(|scope| scope.as_str() == raw)
            .ok_or_else(|| UnknownScope { given: raw.to_owned() })
    }
}

impl ResourceIdKind {
    /// The prefix every id of this kind starts with.
    pub const fn prefix(self) -> &'static str {
        match self {
            ResourceIdKind::Account => AccountId::PREFIX,
            ResourceIdKind::Rule => RuleId::PREFIX,
        }
    }

    const fn plural(self) -> &'static str {
        match self {
            ResourceIdKind::Account => "account ids",
            ResourceIdKind::Rule => "rule ids",
        }
    }

    const fn with_article(self) -> &'static str {
        match self {
            ResourceIdKind::Account => "an account id",
            ResourceIdKind::Rule => "a rule id",
        }
    }
}

/// A scope name that is not one of [`Scope::ALL`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown scope {given:?}; valid scopes are {}", ScopeList)]
pub struct UnknownScope {
    /// The name that was given.
    pub given: String,
}

/// Displays every valid scope name, comma-separated, for error messages.
struct ScopeList;

impl fmt::Display for ScopeList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (index, scope) in Scope::ALL.iter().enumerate() {
            if index > 0 {
                f.write_str(", ")?;
            }
            f.write_str(scope.as_str())?;
        }
        Ok(())
    }
}

/// One entry of a key's permission list: a scope and its resource constraint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PermissionEntry {
    /// The granted scope.
    pub scope: Scope,
    /// What the scope is restricted to; its variant always matches `scope.resource_kind()`.
    pub resources: Resources,
}

/// The resource constraint of an entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Resources {
    /// The scope takes no resources.
    None,
    /// Ids (account or rule ids, by scope), or every resource.
    Ids(IdSet),
    /// Account pairs a manual transfer may move money between.
    TransferPairs(Vec<TransferPair>),
}

/// The ids an ids scope covers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IdSet {
    /// `["*"]`: every resource, including ones created later.
    Any,
    /// An explicit, non-empty list of ids.
    Only(BTreeSet<String>),
}

impl IdSet {
    /// Whether `id` is covered.
    pub fn allows(&self, id: &str) -> bool {
        match self {
            IdSet::Any => true,
            IdSet::Only(ids) => ids.contains(id),
        }
    }
}

/// One side of a transfer pair: a specific account or any account (`"*"`).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Selector {
    /// `"*"`: any account of the organization.
    Any,
    /// Exactly this account.
    Account(AccountId),
}

impl Selector {
    /// Whether `account` is selected.
    pub fn matches(&self, account: &AccountId) -> bool {
        match self {
            Selector::Any => true,
            Selector::Account(selected) => selected == account,
        }
    }

    /// The selector as written in permission JSON: an account id or `"*"`.
    pub fn as_str(&self) -> &str {
        match self {
            Selector::Any => WILDCARD,
            Selector::Account(account) => account.as_str(),
        }
    }
}

/// A `MANUAL_TRANSFER` grant: money may move from `source` to `target`, up to `max_amount`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TransferPair {
    /// The accounts money may leave.
    pub source: Selector,
    /// The accounts money may arrive in (the API's `destination_account_id`).
    pub target: Selector,
    /// The largest amount one transfer may move; `None` means no cap beyond the API's limits.
    pub max_amount: Option<Cents>,
}

/// A key's validated permission list.
///
/// Invariants (established by parsing, relied on by the checks): at most one entry per scope;
/// entries sorted by scope; each entry's [`Resources`] variant matches its scope's
/// [`ResourceKind`]; id lists are non-empty; pair lists are non-empty and sorted with unique
/// `(source, target)`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Permissions(Vec<PermissionEntry>);

/// What an ids scope lets a list endpoint return.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ResourceFilter {
    /// Every resource.
    All,
    /// Only these ids.
    Only(BTreeSet<String>),
}

impl ResourceFilter {
    /// Whether `id` passes the filter.
    pub fn allows(&self, id: &str) -> bool {
        match self {
            ResourceFilter::All => true,
            ResourceFilter::Only(ids) => ids.contains(id),
        }
    }
}

/// Why a scope or resource check failed. Both become `403 forbidden` on the wire; the variant
/// tells the logs which.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Denied {
    /// The key has no entry for the scope.
    #[error("the API key does not hold the {0} scope")]
    MissingScope(Scope),
    /// The key holds the scope, but its resources do not include this one.
    #[error("the API key's {scope} scope does not cover {resource:?}")]
    ResourceNotAllowed {
        /// The scope that was checked.
        scope: Scope,
        /// The id that was asked for.
        resource: String,
    },
}

/// Why a manual transfer was not authorized.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TransferDenied {
    /// The key has no `MANUAL_TRANSFER` entry.
    #[error("the API key does not hold the MANUAL_TRANSFER scope")]
    MissingScope,
    /// No pair matches the source and destination.
    #[error("no MANUAL_TRANSFER pair of the API key covers this source and destination")]
    PairNotAllowed,
    /// Pairs match, but every matching pair caps the amount below the one requested.
    #[error(
        "the amount exceeds {max_amount}, the highest max_amount of the API key's pairs \
         for this source and destination"
    )]
    MaximumAmountExceeded {
        /// The highest cap among the matching pairs.
        max_amount: Cents,
    },
}

impl Permissions {
    /// Parses a permission list from JSON text (the form the store persists).
    pub fn from_json(text: &str) -> Result<Permissions, PermissionsError> {
        let StrictJson(value) = serde_json::from_str(text)
            .map_err(|error| PermissionsError::InvalidJson { detail: error.to_string() })?;
        Permissions::from_json_value(&value)
    }

    /// Parses a permission list from an already-decoded JSON value. Duplicate object keys cannot
    /// be detected here (a [`Value`] has already collapsed them); prefer [`Self::from_json`] or
    /// the [`Deserialize`] impl for untrusted text.
    pub fn from_json_value(value: &Value) -> Result<Permissions, PermissionsError> {
        let Value::Array(items) = value else {
            return Err(PermissionsError::NotAnArray { found: JsonType::of(value) });
        };
        let mut first_index_by_scope: BTreeMap<Scope, usize> = BTreeMap::new();
        let mut entries = Vec::with_capacity(items.len().min(Scope::ALL.len()));
        for (index, item) in items.iter().enumerate() {
            let entry = parse::entry(index, item, &first_index_by_scope)?;
            let previous = first_index_by_scope.insert(entry.scope, index);
            assert!(previous.is_none(), "parse::entry rejects duplicate scopes");
            entries.push(entry);
        }
        entries.sort_by_key(|entry| entry.scope);
        let permissions = Permissions(entries);
        permissions.assert_invariants();
        Ok(permissions)
    }

    /// The canonical JSON text: entries in scope order, ids sorted, `max_amount` omitted when
    /// absent. `Permissions::from_json(&p.to_json()) == Ok(p)`.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("serializing permissions to a string cannot fail")
    }

    /// Every scope with `*` resources and a `*` → `*` `MANUAL_TRANSFER` pair without a cap: the
    /// key `serve --demo` hands out.
    pub fn all_scopes() -> Permissions {
        let entries = Scope::ALL
            .into_iter()
            .map(|scope| PermissionEntry {
                scope,
                resources: match scope.resource_kind() {
                    ResourceKind::None => Resources::None,
                    ResourceKind::Ids => Resources::Ids(IdSet::Any),
                    ResourceKind::TransferPairs => Resources::TransferPairs(vec![TransferPair {
                        source: Selector::Any,
                        target: Selector::Any,
                        max_amount: None,
                    }]),
                },
            })
            .collect();
        let permissions = Permissions(entries);
        permissions.assert_invariants();
        permissions
    }

    /// No scopes at all: a key that can authenticate but do nothing.
    pub fn none() -> Permissions {
        Permissions(Vec::new())
    }

    /// The entries, in scope order.
    pub fn entries(&self) -> &[PermissionEntry] {
        &self.0
    }

    /// The entry granting `scope`, if any.
    pub fn entry(&self, scope: Scope) -> Option<&PermissionEntry> {
        self.0
            .binary_search_by_key(&scope, |entry| entry.scope)
            .ok()
            .map(|position| &self.0[position])
    }

    /// Whether the key holds `scope` (with whatever resources).
    pub fn has_scope(&self, scope: Scope) -> bool {
        self.entry(scope).is_some()
    }

    /// Requires the key to hold `scope`. For a none scope that is the whole check; for an ids
    /// scope, follow up with [`Self::require_resource`] or [`Self::resource_filter`].
    pub fn require(&self, scope: Scope) -> Result<(), Denied> {
        match self.entry(scope) {
            Some(_) => Ok(()),
            None => Err(Denied::MissingScope(scope)),
        }
    }

    /// Requires the key to hold the ids scope `scope` with `resource` among its resources.
    ///
    /// # Panics
    /// If `scope` is not an ids scope: asking for a resource of a scope that has none is a bug.
    pub fn require_resource(&self, scope: Scope, resource: &str) -> Result<(), Denied> {
        let ids = self.ids(scope)?;
        if ids.allows(resource) {
            Ok(())
        } else {
            Err(Denied::ResourceNotAllowed { scope, resource: resource.to_owned() })
        }
    }

    /// What the ids scope `scope` lets the key see, for list endpoints.
    ///
    /// # Panics
    /// If `scope` is not an ids scope.
    pub fn resource_filter(&self, scope: Scope) -> Result<ResourceFilter, Denied> {
        Ok(match self.ids(scope)? {
            IdSet::Any => ResourceFilter::All,
            IdSet::Only(ids) => ResourceFilter::Only(ids.clone()),
        })
    }

    /// Authorizes a manual transfer of `amount` from `source` to `target`.
    ///
    /// Allowed when at least one pair matches both accounts and either has no `max_amount` or a
    /// `max_amount` of at least `amount`. When pairs match but all cap below `amount`, the denial
    /// reports the highest cap, the most the key could move between these accounts.
    pub fn authorize_transfer(
        &self,
        source: &AccountId,
        target: &AccountId,
        amount: Cents,
    ) -> Result<(), TransferDenied> {
        let Some(entry) = self.entry(Scope::ManualTransfer) else {
            return Err(TransferDenied::MissingScope);
        };
        let Resources::TransferPairs(pairs) = &entry.resources else {
            unreachable!("parsing guarantees MANUAL_TRANSFER carries transfer pairs");
        };
        assert!(!pairs.is_empty(), "parsing guarantees a non-empty pair list");
        let mut highest_cap: Option<Cents> = None;
        for pair in pairs.iter().filter(|pair| pair.source.matches(source)) {
            if !pair.target.matches(target) {
                continue;
            }
            match pair.max_amount {
                None => return Ok(()),
                Some(max_amount) if amount <= max_amount => return Ok(()),
                Some(max_amount) => {
                    highest_cap = Some(highest_cap.map_or(max_amount, |cap| cap.max(max_amount)));
                }
            }
        }
        match highest_cap {
            None => Err(TransferDenied::PairNotAllowed),
            Some(max_amount) => {
                assert!(amount > max_amount);
                Err(TransferDenied::MaximumAmountExceeded { max_amount })
            }
        }
    }

    fn ids(&self, scope: Scope) -> Result<&IdSet, Denied> {
        assert!(
            scope.resource_kind() == ResourceKind::Ids,
            "{scope} takes no ids; resource checks only apply to ids scopes"
        );
        let entry = self.entry(scope).ok_or(Denied::MissingScope(scope))?;
        match &entry.resources {
            Resources::Ids(ids) => Ok(ids),
            Resources::None | Resources::TransferPairs(_) => {
                unreachable!("parsing guarantees an ids scope carries ids")
            }
        }
    }

    fn assert_invariants(&self) {
        assert!(self.0.len() <= Scope::ALL.len());
        for window in self.0.windows(2) {
            assert!(window[0].scope < window[1].scope, "entries sorted, one per scope");
        }
        for entry in &self.0 {
            match (&entry.resources, entry.scope.resource_kind()) {
                (Resources::None, ResourceKind::None) => {}
                (Resources::Ids(IdSet::Any), ResourceKind::Ids) => {}
                (Resources::Ids(IdSet::Only(ids)), ResourceKind::Ids) => {
                    assert!(!ids.is_empty() && ids.len() <= RESOURCE_IDS_PER_ENTRY_MAX);
                    assert!(!ids.contains(WILDCARD));
                }
                (Resources::TransferPairs(pairs), ResourceKind::TransferPairs) => {
                    assert!(!pairs.is_empty() && pairs.len() <= TRANSFER_PAIRS_MAX);
                    for window in pairs.windows(2) {
                        let (left, right) = (&window[0], &window[1]);
                        assert!((&left.source, &left.target) < (&right.source, &right.target));
                    }
                }
                (resources, kind) => {
                    panic!("{} carries {resources:?} but takes {kind:?}", entry.scope)
                }
            }
        }
    }
}

/// The JSON type of a value, for "got …" in error messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JsonType {
    /// `null`.
    Null,
    /// `true` or `false`.
    Boolean,
    /// Any number.
    Number,
    /// A string.
    String,
    /// An array.
    Array,
    /// An object.
    Object,
}

impl JsonType {
    /// The type of `value`.
    pub fn of(value: &Value) -> JsonType {
        match value {
            Value::Null => JsonType::Null,
            Value::Bool(_) => JsonType::Boolean,
            Value::Number(_) => JsonType::Number,
            Value::String(_) => JsonType::String,
            Value::Array(_) => JsonType::Array,
            Value::Object(_) => JsonType::Object,
        }
    }
}

impl fmt::Display for JsonType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            JsonType::Null => "null",
            JsonType::Boolean => "a boolean",
            JsonType::Number => "a number",
            JsonType::String => "a string",
            JsonType::Array => "an array",
            JsonType::Object => "an object",
        })
    }
}

/// A permission list that could not be parsed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PermissionsError {
    /// The text is not JSON, or repeats a key inside an object.
    #[error("permissions JSON is malformed: {detail}")]
    InvalidJson {
        /// The JSON parser's diagnosis, including line and column.
        detail: String,
    },
    /// The top level is not an array.
    #[error("permissions must be a JSON array of entries, got {found}")]
    NotAnArray {
        /// What was found instead.
        found: JsonType,
    },
    /// One entry is invalid.
    #[error("{at}: {problem}")]
    Entry {
        /// Which entry.
        at: EntryLocation,
        /// What is wrong with it.
        problem: EntryProblem,
    },
}

/// Where in the list an invalid entry is. Displays as `entry 2 (READ_ACCOUNTS)`: a one-based
/// ordinal, plus the scope when the entry names a valid one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EntryLocation {
    /// Zero-based index into the array.
    pub index: usize,
    /// The entry's scope, when it names a valid one.
    pub scope: Option<Scope>,
}

impl fmt::Display for EntryLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "entry {}", self.index + 1)?;
        match self.scope {
            Some(scope) => write!(f, " ({scope})"),
            None => Ok(()),
        }
    }
}

/// What a `resources` field must look like, for error messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExpectedResources {
    /// An ids scope's ids.
    Ids(ResourceIdKind),
    /// `MANUAL_TRANSFER`'s pairs.
    TransferPairs,
}

impl fmt::Display for ExpectedResources {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExpectedResources::Ids(kind) => {
                write!(f, "a non-empty array of {}, or [\"*\"]", kind.plural())
            }
            ExpectedResources::TransferPairs => f.write_str(
                "a non-empty array of {\"source\", \"target\", \"max_amount\"?} objects",
            ),
        }
    }
}

/// What is wrong with one entry.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EntryProblem {
    /// The entry is not a JSON object.
    #[error("must be an object like {{\"scope\": \"LIST_ACCOUNTS\"}}, got {found}")]
    NotAnObject {
        /// What was found instead.
        found: JsonType,
    },
    /// The entry has a field other than `scope` and `resources`.
    #[error("unknown field {field:?}; an entry has only \"scope\" and \"resources\"")]
    UnknownField {
        /// The unexpected field.
        field: String,
    },
    /// `scope` is absent.
    #[error("\"scope\" is required")]
    ScopeMissing,
    /// `scope` is not a string.
    #[error("\"scope\" must be a string, got {found}")]
    ScopeNotAString {
        /// What was found instead.
        found: JsonType,
    },
    /// `scope` is not a known scope name.
    #[error(transparent)]
    UnknownScope(UnknownScope),
    /// An earlier entry already grants the scope.
    #[error(
        "entry {} already grants this scope; list all of a scope's resources in one entry",
        .first_index + 1
    )]
    DuplicateScope {
        /// Zero-based index of the first entry for the scope.
        first_index: usize,
    },
    /// `resources` was given for a scope that takes none.
    #[error("\"resources\" is not allowed: this scope takes no resources")]
    ResourcesNotAllowed,
    /// `resources` is absent (or null) for a scope that needs it.
    #[error("\"resources\" is required and must be {expected}")]
    ResourcesMissing {
        /// The expected shape.
        expected: ExpectedResources,
    },
    /// `resources` is not a non-empty array.
    #[error("\"resources\" must be {expected}")]
    ResourcesInvalid {
        /// The expected shape.
        expected: ExpectedResources,
    },
    /// `resources` has more items than allowed.
    #[error("\"resources\" lists {count} items; at most {max} are allowed")]
    TooManyResources {
        /// How many were given.
        count: usize,
        /// The limit.
        max: usize,
    },
    /// `"*"` appears alongside other ids.
    #[error("\"*\" already covers every resource and must be the only item in \"resources\"")]
    WildcardMixed,
    /// One id of an ids scope is invalid.
    #[error("resource {}: {problem}", .index + 1)]
    Resource {
        /// Zero-based index into `resources`.
        index: usize,
        /// What is wrong with it.
        problem: ResourceProblem,
    },
    /// One pair of `MANUAL_TRANSFER` is invalid.
    #[error("pair {}: {problem}", .index + 1)]
    Pair {
        /// Zero-based index into `resources`.
        index: usize,
        /// What is wrong with it.
        problem: PairProblem,
    },
}

/// What is wrong with one id string.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum IdProblem {
    /// The empty string.
    #[error("must not be empty")]
    Empty,
    /// Longer than [`RESOURCE_ID_LENGTH_MAX`].
    #[error("is {length} bytes long; ids have at most {max}")]
    TooLong {
        /// The length in bytes.
        length: usize,
        /// The limit.
        max: usize,
    },
    /// The id does not have the prefix of the kind the scope expects.
    #[error(
        "{id:?} is not {} ({} start with {:?})",
        .expected.with_article(), .expected.plural(), .expected.prefix()
    )]
    WrongKind {
        /// The id given.
        id: String,
        /// The kind expected.
        expected: ResourceIdKind,
    },
}

/// What is wrong with one item of an ids scope's `resources`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ResourceProblem {
    /// The item is not a string.
    #[error("must be a string, got {found}")]
    NotAString {
        /// What was found instead.
        found: JsonType,
    },
    /// The string is not a valid id.
    #[error(transparent)]
    Id(IdProblem),
    /// The id appears earlier in the list.
    #[error("{id:?} is listed more than once")]
    Duplicate {
        /// The repeated id.
        id: String,
    },
}

/// Which account field of a transfer pair.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PairField {
    /// `source`.
    Source,
    /// `target`.
    Target,
}

impl fmt::Display for PairField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PairField::Source => "source",
            PairField::Target => "target",
        })
    }
}

/// What is wrong with one `MANUAL_TRANSFER` pair.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PairProblem {
    /// The pair is not a JSON object.
    #[error(
        "must be an object like {{\"source\": \"acc_…\", \"target\": \"acc_…\", \
         \"max_amount\": 50000}}, got {found}"
    )]
    NotAnObject {
        /// What was found instead.
        found: JsonType,
    },
    /// The pair has a field other than `source`, `target` and `max_amount`.
    #[error("unknown field {field:?}; a pair has only \"source\", \"target\" and \"max_amount\"")]
    UnknownField {
        /// The unexpected field.
        field: String,
    },
    /// `source` or `target` is absent.
    #[error("\"{field}\" is required")]
    FieldMissing {
        /// The missing field.
        field: PairField,
    },
    /// `source` or `target` is not a string.
    #[error("\"{field}\" must be an account id or \"*\", got {found}")]
    SelectorNotAString {
        /// The field.
        field: PairField,
        /// What was found instead.
        found: JsonType,
    },
    /// `source` or `target` is not a valid account id.
    #[error("\"{field}\" {problem}")]
    SelectorInvalid {
        /// The field.
        field: PairField,
        /// What is wrong with the id.
        problem: IdProblem,
    },
    /// `max_amount` is not a positive integer.
    #[error("\"max_amount\" must be a positive integer number of cents, got {given}")]
    MaxAmountInvalid {
        /// The value given, as JSON text.
        given: String,
    },
    /// `max_amount` is below the transfer minimum, so the pair could never allow a transfer.
    #[error(
        "\"max_amount\" must be at least {} cents (the transfer minimum), got {max_amount}",
        TRANSFER_MINIMUM.get()
    )]
    MaxAmountBelowMinimum {
        /// The value given, in cents.
        max_amount: i64,
    },
    /// `source` and `target` name the same account.
    #[error(
        "\"source\" and \"target\" are both {:?}; a transfer needs two different accounts",
        .account.as_str()
    )]
    SameAccount {
        /// The account named twice.
        account: AccountId,
    },
    /// An earlier pair has the same `source` and `target`.
    #[error("repeats the source and target of pair {}; give each pair once", .first_index + 1)]
    Duplicate {
        /// Zero-based index of the first pair.
        first_index: usize,
    },
}

mod schema;

/// The JSON-shape walk behind [`Permissions::from_json_value`]. Each function checks in a fixed
/// order and reports the first problem, so the same input always yields the same message.
mod parse {
    use super::*;

    const ENTRY_FIELDS: [&str; 2] = ["scope", "resources"];
    const PAIR_FIELDS: [&str; 3] = ["source", "target", "max_amount"];

    /// Parses entry `index`. Order: object → unknown fields → scope → duplicate → resources.
    pub(super) fn entry(
        index: usize,
        item: &Value,
        first_index_by_scope: &BTreeMap<Scope, usize>,
    ) -> Result<PermissionEntry, PermissionsError> {
        let fail = |scope: Option<Scope>, problem: EntryProblem| PermissionsError::Entry {
            at: EntryLocation { index, scope },
            problem,
        };
        let Value::Object(object) = item else {
            return Err(fail(None, EntryProblem::NotAnObject { found: JsonType::of(item) }));
        };
        // Name the scope in the location as early as possible, even when another field is the
        // problem, so the message points at the entry the way its author thinks of it.
        let scope_hint = object.get("scope").and_then(Value::as_str).and_then(|s| s.parse().ok());
        if let Some(field) = unknown_field(object, &ENTRY_FIELDS) {
            return Err(fail(scope_hint, EntryProblem::UnknownField { field }));
        }
        let scope = scope(object.get("scope")).map_err(|problem| fail(None, problem))?;
        assert_eq!(Some(scope), scope_hint);
        if let Some(&first_index) = first_index_by_scope.get(&scope) {
            return Err(fail(Some(scope), EntryProblem::DuplicateScope { first_index }));
        }
        let given = object.get("resources").filter(|value| !value.is_null());
        let resources = match (scope.resource_kind(), scope.resource_id_kind()) {
            (ResourceKind::None, _) => match given {
                None => Ok(Resources::None),
                Some(_) => Err(EntryProblem::ResourcesNotAllowed),
            },
            (ResourceKind::Ids, Some(kind)) => ids(kind, given).map(Resources::Ids),
            (ResourceKind::Ids, None) => unreachable!("every ids scope has an id kind"),
            (ResourceKind::TransferPairs, _) => pairs(given).map(Resources::TransferPairs),
        };
        let resources = resources.map_err(|problem| fail(Some(scope), problem))?;
        Ok(PermissionEntry { scope, resources })
    }

    fn unknown_field(object: &Map<String, Value>, known: &[&str]) -> Option<String> {
        object.keys().find(|key| !known.contains(&key.as_str())).cloned()
    }

    fn scope(value: Option<&Value>) -> Result<Scope, EntryProblem> {
        match value {
            None => Err(EntryProblem::ScopeMissing),
            Some(Value::String(name)) => name.parse().map_err(EntryProblem::UnknownScope),
            Some(other) => Err(EntryProblem::ScopeNotAString { found: JsonType::of(other) }),
        }
    }

    /// The items of a `resources` array: present, an array, non-empty, not too long.
    fn items(
        given: Option<&Value>,
        expected: ExpectedResources,
        max: usize,
    ) -> Result<&Vec<Value>, EntryProblem> {
        let Some(value) = given else {
            return Err(EntryProblem::ResourcesMissing { expected });
        };
        match value {
            Value::Array(items) if items.is_empty() => {
                Err(EntryProblem::ResourcesInvalid { expected })
            }
            Value::Array(items) if items.len() > max => {
                Err(EntryProblem::TooManyResources { count: items.len(), max })
            }
            Value::Array(items) => Ok(items),
            _ => Err(EntryProblem::ResourcesInvalid { expected }),
        }
    }

    /// An ids scope's resources. Order: shape → each item in turn → wildcard exclusivity.
    fn ids(kind: ResourceIdKind, given: Option<&Value>) -> Result<IdSet, EntryProblem> {
        let items = items(given, ExpectedResources::Ids(kind), RESOURCE_IDS_PER_ENTRY_MAX)?;
        let mut wildcard = false;
        let mut ids = BTreeSet::new();
        for (index, item) in items.iter().enumerate() {
            let fail = |problem| EntryProblem::Resource { index, problem };
            let Value::String(raw) = item else {
                return Err(fail(ResourceProblem::NotAString { found: JsonType::of(item) }));
            };
            if raw == WILDCARD {
                wildcard = true;
                continue;
            }
            id(raw, kind).map_err(|problem| fail(ResourceProblem::Id(problem)))?;
            if !ids.insert(raw.clone()) {
                return Err(fail(ResourceProblem::Duplicate { id: raw.clone() }));
            }
        }
        match (wildcard, items.len()) {
            (true, 1) => Ok(IdSet::Any),
            (true, _) => Err(EntryProblem::WildcardMixed),
            (false, _) => {
                assert_eq!(ids.len(), items.len());
                Ok(IdSet::Only(ids))
            }
        }
    }

    fn id(raw: &str, kind: ResourceIdKind) -> Result<(), IdProblem> {
        if raw.is_empty() {
            return Err(IdProblem::Empty);
        }
        if raw.len() > RESOURCE_ID_LENGTH_MAX {
            return Err(IdProblem::TooLong { length: raw.len(), max: RESOURCE_ID_LENGTH_MAX });
        }
        if !raw.starts_with(kind.prefix()) {
            return Err(IdProblem::WrongKind { id: raw.to_owned(), expected: kind });
        }
        Ok(())
    }

    /// `MANUAL_TRANSFER`'s resources. Order: shape → each pair in turn (its own problems, then
    /// whether it repeats an earlier pair). The result is sorted by `(source, target)`.
    fn pairs(given: Option<&Value>) -> Result<Vec<TransferPair>, EntryProblem> {
        let items = items(given, ExpectedResources::TransferPairs, TRANSFER_PAIRS_MAX)?;
        let mut first_index_by_key: BTreeMap<(Selector, Selector), usize> = BTreeMap::new();
        let mut pairs = Vec::with_capacity(items.len());
        for (index, item) in items.iter().enumerate() {
            let fail = |problem| EntryProblem::Pair { index, problem };
            let parsed = pair(item).map_err(fail)?;
            let key = (parsed.source.clone(), parsed.target.clone());
            if let Some(&first_index) = first_index_by_key.get(&key) {
                return Err(fail(PairProblem::Duplicate { first_index }));
            }
            first_index_by_key.insert(key, index);
            pairs.push(parsed);
        }
        pairs.sort_by(|left, right| {
            (&left.source, &left.target).cmp(&(&right.source, &right.target))
        });
        assert_eq!(pairs.len(), items.len());
        Ok(pairs)
    }

    /// One pair. Order: object → unknown fields → source → target → max_amount → same account.
    fn pair(item: &Value) -> Result<TransferPair, PairProblem> {
        let Value::Object(object) = item else {
            return Err(PairProblem::NotAnObject { found: JsonType::of(item) });
        };
        if let Some(field) = unknown_field(object, &PAIR_FIELDS) {
            return Err(PairProblem::UnknownField { field });
        }
        let source = selector(object.get("source"), PairField::Source)?;
        let target = selector(object.get("target"), PairField::Target)?;
        let max_amount = match object.get("max_amount") {
            None | Some(Value::Null) => None,
            Some(value) => Some(max_amount(value)?),
        };
        if let (Selector::Account(source), Selector::Account(target)) = (&source, &target)
            && source == target
        {
            return Err(PairProblem::SameAccount { account: source.clone() });
        }
        Ok(TransferPair { source, target, max_amount })
    }

    fn selector(value: Option<&Value>, field: PairField) -> Result<Selector, PairProblem> {
        match value {
            None => Err(PairProblem::FieldMissing { field }),
            Some(Value::String(raw)) if raw == WILDCARD => Ok(Selector::Any),
            Some(Value::String(raw)) => match id(raw, ResourceIdKind::Account) {
                Ok(()) => Ok(Selector::Account(AccountId::from_raw(raw.clone()))),
                Err(problem) => Err(PairProblem::SelectorInvalid { field, problem }),
            },
            Some(other) => {
                Err(PairProblem::SelectorNotAString { field, found: JsonType::of(other) })
            }
        }
    }

    fn max_amount(value: &Value) -> Result<Cents, PairProblem> {
        match value.as_i64() {
            Some(cents) if cents >= TRANSFER_MINIMUM.get() => Ok(Cents::new(cents)),
            Some(cents) if cents > 0 => {
                Err(PairProblem::MaxAmountBelowMinimum { max_amount: cents })
            }
            // Zero, negatives, fractions, numbers beyond i64 and non-numbers.
            _ => Err(PairProblem::MaxAmountInvalid { given: value.to_string() }),
        }
    }
}

/// The serialized shape of one entry. A struct rather than a `serde_json::Map`, so the field
/// order (`scope` first) is fixed regardless of serde_json's `preserve_order` feature.
#[derive(Serialize)]
struct WireEntry<'a> {
    scope: Scope,
    #[serde(skip_serializing_if = "Option::is_none")]
    resources: Option<WireResources<'a>>,
}

#[derive(Serialize)]
#[serde(untagged)]
enum WireResources<'a> {
    Ids(Vec<&'a str>),
    Pairs(Vec<WirePair<'a>>),
}

#[derive(Serialize)]
struct WirePair<'a> {
    source: &'a str,
    target: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_amount: Option<i64>,
}

impl<'a> From<&'a PermissionEntry> for WireEntry<'a> {
    fn from(entry: &'a PermissionEntry) -> Self {
        let resources = match &entry.resources {
            Resources::None => None,
            Resources::Ids(IdSet::Any) => Some(WireResources::Ids(vec![WILDCARD])),
            Resources::Ids(IdSet::Only(ids)) => {
                Some(WireResources::Ids(ids.iter().map(String::as_str).collect()))
            }
            Resources::TransferPairs(pairs) => Some(WireResources::Pairs(
                pairs
                    .iter()
                    .map(|pair| WirePair {
                        source: pair.source.as_str(),
                        target: pair.target.as_str(),
                        max_amount: pair.max_amount.map(Cents::get),
                    })
                    .collect(),
            )),
        };
        WireEntry { scope: entry.scope, resources }
    }
}

impl Serialize for Permissions {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.0.iter().map(WireEntry::from))
    }
}

impl<'de> Deserialize<'de> for Permissions {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let StrictJson(value) = StrictJson::deserialize(deserializer)?;
        Permissions::from_json_value(&value).map_err(de::Error::custom)
    }
}

/// A JSON value decoded like [`Value`], except that an object repeating a key is an error
/// instead of silently keeping the last occurrence: in a permission list,
/// `{"resources": ["*"], "resources": ["acc_1"]}` must not quietly mean either.
struct StrictJson(Value);

impl<'de> Deserialize<'de> for StrictJson {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(StrictJsonVisitor).map(StrictJson)
    }
}

struct StrictJsonVisitor;

impl<'de> Visitor<'de> for StrictJsonVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, value: bool) -> Result<Value, E> {
        Ok(Value::Bool(value))
    }

    fn visit_i64<E>(self, value: i64) -> Result<Value, E> {
        Ok(Value::from(value))
    }

    fn visit_u64<E>(self, value: u64) -> Result<Value, E> {
        Ok(Value::from(value))
    }

    // Fractions are kept only so they can be reported as "got 12.5"; no amount is ever
    // computed from one.
    fn visit_f64<E>(self, value: f64) -> Result<Value, E> {
        Ok(Value::from(value))
    }

    fn visit_str<E>(self, value: &str) -> Result<Value, E> {
        Ok(Value::String(value.to_owned()))
    }

    fn visit_string<E>(self, value: String) -> Result<Value, E> {
        Ok(Value::String(value))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        StrictJson::deserialize(deserializer).map(|StrictJson(value)| value)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut sequence: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(StrictJson(item)) = sequence.next_element()? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut object = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if object.contains_key(&key) {
                return Err(de::Error::custom(format_args!("duplicate key {key:?} in an object")));
            }
            let StrictJson(value) = map.next_value()?;
            object.insert(key, value);
        }
        Ok(Value::Object(object))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example from the brief / seed table, in the order its author wrote it.
    const SEED_EXAMPLE: &str = r#"[{"scope":"LIST_ACCOUNTS"},{"scope":"READ_ACCOUNTS","resources":["*"]},{"scope":"READ_RULES","resources":["rule_1","rule_2"]},{"scope":"MANUAL_TRANSFER","resources":[{"source":"acc_1","target":"acc_2","max_amount":50000}]}]"#;

    fn parse(text: &str) -> Permissions {
        Permissions::from_json(text).unwrap_or_else(|error| panic!("{text}: {error}"))
    }

    fn account(raw: &str) -> AccountId {
        AccountId::from_raw(raw)
    }

    #[test]
    fn scope_names_round_trip_through_as_str_from_str_and_serde() {
        // Goal: the three spellings of a scope (as_str, FromStr, serde) never drift apart.
        let mut seen = BTreeSet::new();
        for scope in Scope::ALL {
            assert!(seen.insert(scope.as_str()), "{scope} listed twice");
            assert_eq!(scope.as_str().parse::<Scope>(), Ok(scope));
            let json = serde_json::to_string(&scope).unwrap();
            assert_eq!(json, format!("\"{}\"", scope.as_str()));
            assert_eq!(serde_json::from_str::<Scope>(&json).unwrap(), scope);
        }
        // ALL is in declaration (Ord) order, which the canonical form relies on.
        assert!(Scope::ALL.windows(2).all(|pair| pair[0] < pair[1]));
        assert_eq!(
            "read_accounts".parse::<Scope>().unwrap_err().to_string(),
            "unknown scope \"read_accounts\"; valid scopes are LIST_ACCOUNTS, READ_ACCOUNTS, \
             LIST_RULES, READ_RULES, TRIGGER_RULES, READ_RULE_EXECUTIONS, READ_TRANSFERS, \
             MANUAL_TRANSFER, READ_CARDS, MANAGE_ACCOUNTS, CREATE_AND_EDIT_RULES, SANDBOX, \
             READ_AUDIT_LOGS"
        );
    }

    #[test]
    fn scopes_take_the_resource_kinds_of_the_permission_table() {
        use ResourceIdKind::{Account, Rule};
        let table: [(Scope, ResourceKind, Option<ResourceIdKind>); 13] = [
            (Scope::ListAccounts, ResourceKind::None, None),
            (Scope::ReadAccounts, ResourceKind::Ids, Some(Account)),
            (Scope::ListRules, ResourceKind::None, None),
            (Scope::ReadRules, ResourceKind::Ids, Some(Rule)),
            (Scope::TriggerRules, ResourceKind::Ids, Some(Rule)),
            (Scope::ReadRuleExecutions, ResourceKind::Ids, Some(Rule)),
            (Scope::ReadTransfers, ResourceKind::Ids, Some(Account)),
            (Scope::ManualTransfer, ResourceKind::TransferPairs, None),
            (Scope::ReadCards, ResourceKind::Ids, Some(Account)),
            (Scope::ManageAccounts, ResourceKind::None, None),
            (Scope::CreateAndEditRules, ResourceKind::None, None),
            (Scope::Sandbox, ResourceKind::None, None),
            (Scope::ReadAuditLogs, ResourceKind::None, None),
        ];
        for ((scope, kind, id_kind), expected_scope) in table.into_iter().zip(Scope::ALL) {
            assert_eq!(scope, expected_scope, "table follows Scope::ALL");
            assert_eq!(scope.resource_kind(), kind, "{scope}");
            assert_eq!(scope.resource_id_kind(), id_kind, "{scope}");
        }
    }

    #[test]
    fn parses_the_seed_example() {
        let permissions = parse(SEED_EXAMPLE);
        let expected = vec![
            PermissionEntry { scope: Scope::ListAccounts, resources: Resources::None },
            PermissionEntry { scope: Scope::ReadAccounts, resources: Resources::Ids(IdSet::Any) },
            PermissionEntry {
                scope: Scope::ReadRules,
                resources: Resources::Ids(IdSet::Only(BTreeSet::from([
                    "rule_1".to_owned(),
                    "rule_2".to_owned(),
                ]))),
            },
            PermissionEntry {
                scope: Scope::ManualTransfer,
                resources: Resources::TransferPairs(vec![TransferPair {
                    source: Selector::Account(account("acc_1")),
                    target: Selector::Account(account("acc_2")),
                    max_amount: Some(Cents::new(50_000)),
                }]),
            },
        ];
        assert_eq!(permissions.entries(), expected.as_slice());
    }

    #[test]
    fn to_json_is_canonical_and_round_trips() {
        // Goal: the persisted text is independent of how the author ordered things, and parsing
        // it back yields the same value. Method: shuffled input → fixed canonical text.
        let shuffled = r#"[
            {"resources":[{"target":"*","source":"acc_9"},{"source":"*","target":"acc_2","max_amount":null},
                          {"source":"acc_1","target":"acc_2","max_amount":50000}],"scope":"MANUAL_TRANSFER"},
            {"scope":"READ_RULES","resources":["rule_2","rule_1"]},
            {"scope":"SANDBOX","resources":null},
            {"scope":"LIST_ACCOUNTS"}
        ]"#;
        let permissions = parse(shuffled);
        let canonical = concat!(
            r#"[{"scope":"LIST_ACCOUNTS"},{"scope":"READ_RULES","resources":["rule_1","rule_2"]},"#,
            r#"{"scope":"MANUAL_TRANSFER","resources":[{"source":"*","target":"acc_2"},"#,
            r#"{"source":"acc_1","target":"acc_2","max_amount":50000},"#,
            r#"{"source":"acc_9","target":"*"}]},{"scope":"SANDBOX"}]"#
        );
        assert_eq!(permissions.to_json(), canonical);
        assert_eq!(parse(canonical), permissions);
        assert_eq!(parse(&permissions.to_json()).to_json(), canonical);
        // serde produces and accepts exactly the same shape.
        assert_eq!(serde_json::to_string(&permissions).unwrap(), canonical);
        assert_eq!(serde_json::from_str::<Permissions>(shuffled).unwrap(), permissions);
        let value: Value = serde_json::from_str(shuffled).unwrap();
        assert_eq!(serde_json::from_value::<Permissions>(value.clone()).unwrap(), permissions);
        assert_eq!(Permissions::from_json_value(&value).unwrap(), permissions);
    }

    #[test]
    fn all_scopes_grants_everything_and_round_trips() {
        let all = Permissions::all_scopes();
        assert_eq!(parse(&all.to_json()), all);
        for scope in Scope::ALL {
            assert_eq!(all.require(scope), Ok(()));
            if scope.resource_kind() == ResourceKind::Ids {
                assert_eq!(all.resource_filter(scope), Ok(ResourceFilter::All));
                assert_eq!(all.require_resource(scope, "acc_anything"), Ok(()));
            }
        }
        let amount = Cents::new(i64::MAX);
        assert_eq!(all.authorize_transfer(&account("acc_a"), &account("acc_b"), amount), Ok(()));
        assert_eq!(parse("[]"), Permissions::none());
        assert_eq!(Permissions::none().to_json(), "[]");
    }

    #[test]
    fn rejects_invalid_permission_lists_with_precise_messages() {
        // Goal: every rejection names the entry (and pair/resource) and says what is expected.
        // Method: one malformed input per row, compared to its full message.
        let table: &[(&str, &str)] = &[
            (
                r#"{"scope":"LIST_ACCOUNTS"}"#,
                "permissions must be a JSON array of entries, got an object",
            ),
            (
                r#"[{"scope":"LIST_ACCOUNTS"},]"#,
                "permissions JSON is malformed: trailing comma at line 1 column 28",
            ),
            (
                r#"[{"scope":"READ_ACCOUNTS","resources":["*"],"resources":["acc_1"]}]"#,
                "permissions JSON is malformed: duplicate key \"resources\" in an object at line 1 column 55",
            ),
            (
                r#"["LIST_ACCOUNTS"]"#,
                "entry 1: must be an object like {\"scope\": \"LIST_ACCOUNTS\"}, got a string",
            ),
            (r#"[{"resources":["*"]}]"#, "entry 1: \"scope\" is required"),
            (r#"[{"scope":7}]"#, "entry 1: \"scope\" must be a string, got a number"),
            (
                r#"[{"scope":"LIST_ACCOUNTS"},{"scope":"READ_ACOUNTS","resources":["*"]}]"#,
                "entry 2: unknown scope \"READ_ACOUNTS\"; valid scopes are LIST_ACCOUNTS, \
                 READ_ACCOUNTS, LIST_RULES, READ_RULES, TRIGGER_RULES, READ_RULE_EXECUTIONS, \
                 READ_TRANSFERS, MANUAL_TRANSFER, READ_CARDS, MANAGE_ACCOUNTS, \
                 CREATE_AND_EDIT_RULES, SANDBOX, READ_AUDIT_LOGS",
            ),
            (
                r#"[{"scope":"READ_ACCOUNTS","resource":["*"]}]"#,
                "entry 1 (READ_ACCOUNTS): unknown field \"resource\"; an entry has only \"scope\" and \"resources\"",
            ),
            (
                r#"[{"scope":"LIST_ACCOUNTS"},{"scope":"LIST_RULES"},{"scope":"LIST_ACCOUNTS"}]"#,
                "entry 3 (LIST_ACCOUNTS): entry 1 already grants this scope; list all of a scope's resources in one entry",
            ),
            (
                r#"[{"scope":"LIST_ACCOUNTS","resources":["*"]}]"#,
                "entry 1 (LIST_ACCOUNTS): \"resources\" is not allowed: this scope takes no resources",
            ),
            (
                r#"[{"scope":"LIST_ACCOUNTS"},{"scope":"READ_ACCOUNTS"}]"#,
                "entry 2 (READ_ACCOUNTS): \"resources\" is required and must be a non-empty array of account ids, or [\"*\"]",
            ),
            (
                r#"[{"scope":"LIST_ACCOUNTS"},{"scope":"READ_ACCOUNTS","resources":[]}]"#,
                "entry 2 (READ_ACCOUNTS): \"resources\" must be a non-empty array of account ids, or [\"*\"]",
            ),
            (
                r#"[{"scope":"TRIGGER_RULES","resources":"*"}]"#,
                "entry 1 (TRIGGER_RULES): \"resources\" must be a non-empty array of rule ids, or [\"*\"]",
            ),
            (
                r#"[{"scope":"READ_RULES","resources":["*","rule_1"]}]"#,
                "entry 1 (READ_RULES): \"*\" already covers every resource and must be the only item in \"resources\"",
            ),
            (
                r#"[{"scope":"READ_RULES","resources":["*","*"]}]"#,
                "entry 1 (READ_RULES): \"*\" already covers every resource and must be the only item in \"resources\"",
            ),
            (
                r#"[{"scope":"READ_RULES","resources":["rule_1",2]}]"#,
                "entry 1 (READ_RULES): resource 2: must be a string, got a number",
            ),
            (
                r#"[{"scope":"READ_RULES","resources":[""]}]"#,
                "entry 1 (READ_RULES): resource 1: must not be empty",
            ),
            (
                r#"[{"scope":"READ_RULES","resources":["rule_1","acc_1"]}]"#,
                "entry 1 (READ_RULES): resource 2: \"acc_1\" is not a rule id (rule ids start with \"rule_\")",
            ),
            (
                r#"[{"scope":"READ_CARDS","resources":["acc_1","acc_2","acc_1"]}]"#,
                "entry 1 (READ_CARDS): resource 3: \"acc_1\" is listed more than once",
            ),
            (
                r#"[{"scope":"MANUAL_TRANSFER"}]"#,
                "entry 1 (MANUAL_TRANSFER): \"resources\" is required and must be a non-empty array of {\"source\", \"target\", \"max_amount\"?} objects",
            ),
            (
                r#"[{"scope":"MANUAL_TRANSFER","resources":["*"]}]"#,
                "entry 1 (MANUAL_TRANSFER): pair 1: must be an object like {\"source\": \"acc_…\", \"target\": \"acc_…\", \"max_amount\": 50000}, got a string",
            ),
            (
                r#"[{"scope":"MANUAL_TRANSFER","resources":[{"source":"acc_1","target":"acc_2","max":5}]}]"#,
                "entry 1 (MANUAL_TRANSFER): pair 1: unknown field \"max\"; a pair has only \"source\", \"target\" and \"max_amount\"",
            ),
            (
                r#"[{"scope":"MANUAL_TRANSFER","resources":[{"source":"acc_1"}]}]"#,
                "entry 1 (MANUAL_TRANSFER): pair 1: \"target\" is required",
            ),
            (
                r#"[{"scope":"MANUAL_TRANSFER","resources":[{"source":null,"target":"acc_2"}]}]"#,
                "entry 1 (MANUAL_TRANSFER): pair 1: \"source\" must be an account id or \"*\", got null",
            ),
            (
                r#"[{"scope":"MANUAL_TRANSFER","resources":[{"source":"acc_1","target":"rule_2"}]}]"#,
                "entry 1 (MANUAL_TRANSFER): pair 1: \"target\" \"rule_2\" is not an account id (account ids start with \"acc_\")",
            ),
            (
                r#"[{"scope":"MANUAL_TRANSFER","resources":[{"source":"acc_1","target":"*","max_amount":0}]}]"#,
                "entry 1 (MANUAL_TRANSFER): pair 1: \"max_amount\" must be a positive integer number of cents, got 0",
            ),
            (
                r#"[{"scope":"MANUAL_TRANSFER","resources":[{"source":"acc_1","target":"*","max_amount":-5}]}]"#,
                "entry 1 (MANUAL_TRANSFER): pair 1: \"max_amount\" must be a positive integer number of cents, got -5",
            ),
            (
                r#"[{"scope":"MANUAL_TRANSFER","resources":[{"source":"acc_1","target":"*","max_amount":500.5}]}]"#,
                "entry 1 (MANUAL_TRANSFER): pair 1: \"max_amount\" must be a positive integer number of cents, got 500.5",
            ),
            (
                r#"[{"scope":"MANUAL_TRANSFER","resources":[{"source":"acc_1","target":"*","max_amount":"500"}]}]"#,
                "entry 1 (MANUAL_TRANSFER): pair 1: \"max_amount\" must be a positive integer number of cents, got \"500\"",
            ),
            (
                r#"[{"scope":"MANUAL_TRANSFER","resources":[{"source":"acc_1","target":"*","max_amount":18446744073709551615}]}]"#,
                "entry 1 (MANUAL_TRANSFER): pair 1: \"max_amount\" must be a positive integer number of cents, got 18446744073709551615",
            ),
            (
                r#"[{"scope":"MANUAL_TRANSFER","resources":[{"source":"acc_1","target":"*","max_amount":99}]}]"#,
                "entry 1 (MANUAL_TRANSFER): pair 1: \"max_amount\" must be at least 100 cents (the transfer minimum), got 99",
            ),
            (
                r#"[{"scope":"MANUAL_TRANSFER","resources":[{"source":"acc_1","target":"acc_1"}]}]"#,
                "entry 1 (MANUAL_TRANSFER): pair 1: \"source\" and \"target\" are both \"acc_1\"; a transfer needs two different accounts",
            ),
            (
                r#"[{"scope":"MANUAL_TRANSFER","resources":[{"source":"*","target":"acc_2"},{"source":"acc_1","target":"*"},{"source":"*","target":"acc_2","max_amount":100}]}]"#,
                "entry 1 (MANUAL_TRANSFER): pair 3: repeats the source and target of pair 1; give each pair once",
            ),
            (
                r#"[{"scope":"MANUAL_TRANSFER","resources":[{"source":"*","target":"*"}]},{"scope":"MANUAL_TRANSFER","resources":[{"source":"acc_1","target":"*"}]}]"#,
                "entry 2 (MANUAL_TRANSFER): entry 1 already grants this scope; list all of a scope's resources in one entry",
            ),
        ];
        for (input, expected) in table {
            match Permissions::from_json(input) {
                Ok(parsed) => panic!("{input} parsed as {parsed:?}, expected: {expected}"),
                Err(error) => assert_eq!(error.to_string(), *expected, "input: {input}"),
            }
            // The serde path rejects the same inputs with the same message.
            // (serde_json reports syntax errors itself, without the "malformed" wrapper.)
            let serde_error = serde_json::from_str::<Permissions>(input).unwrap_err().to_string();
            let bare = expected.strip_prefix("permissions JSON is malformed: ").unwrap_or(expected);
            assert!(serde_error.starts_with(bare), "{serde_error}");
        }
    }

    #[test]
    fn errors_carry_structured_data() {
        let error = Permissions::from_json(
            r#"[{"scope":"LIST_RULES"},{"scope":"READ_RULES","resources":["rule_1","acc_1"]}]"#,
        )
        .unwrap_err();
        assert_eq!(
            error,
            PermissionsError::Entry {
                at: EntryLocation { index: 1, scope: Some(Scope::ReadRules) },
                problem: EntryProblem::Resource {
                    index: 1,
                    problem: ResourceProblem::Id(IdProblem::WrongKind {
                        id: "acc_1".to_owned(),
                        expected: ResourceIdKind::Rule,
                    }),
                },
            }
        );
    }

    #[test]
    fn limits_bound_the_size_of_a_grant() {
        let long_id = format!("acc_{}", "x".repeat(RESOURCE_ID_LENGTH_MAX));
        let text = format!(r#"[{{"scope":"READ_ACCOUNTS","resources":["{long_id}"]}}]"#);
        assert_eq!(
            Permissions::from_json(&text).unwrap_err().to_string(),
            "entry 1 (READ_ACCOUNTS): resource 1: is 68 bytes long; ids have at most 64"
        );
        let ids: Vec<String> =
            (0..=RESOURCE_IDS_PER_ENTRY_MAX).map(|n| format!("\"acc_{n}\"")).collect();
        let text = format!(r#"[{{"scope":"READ_ACCOUNTS","resources":[{}]}}]"#, ids.join(","));
        assert_eq!(
            Permissions::from_json(&text).unwrap_err().to_string(),
            "entry 1 (READ_ACCOUNTS): \"resources\" lists 1001 items; at most 1000 are allowed"
        );
        let ids: Vec<String> =
            (0..RESOURCE_IDS_PER_ENTRY_MAX).map(|n| format!("\"acc_{n}\"")).collect();
        let text = format!(r#"[{{"scope":"READ_ACCOUNTS","resources":[{}]}}]"#, ids.join(","));
        assert!(Permissions::from_json(&text).is_ok());
    }

    #[test]
    fn scope_and_resource_checks() {
        // Goal: require / require_resource / resource_filter distinguish a missing scope from a
        // resource outside the grant. Method: one key, a table of (check, expected).
        let permissions = parse(
            r#"[{"scope":"LIST_ACCOUNTS"},{"scope":"READ_ACCOUNTS","resources":["*"]},
                {"scope":"READ_RULES","resources":["rule_1","rule_2"]}]"#,
        );
        let only_rules =
            ResourceFilter::Only(BTreeSet::from(["rule_1".to_owned(), "rule_2".to_owned()]));
        assert_eq!(permissions.require(Scope::ListAccounts), Ok(()));
        assert_eq!(permissions.require(Scope::ReadRules), Ok(()));
        assert_eq!(
            permissions.require(Scope::ListRules),
            Err(Denied::MissingScope(Scope::ListRules))
        );
        assert_eq!(permissions.require(Scope::Sandbox), Err(Denied::MissingScope(Scope::Sandbox)));

        let resource_table: &[(Scope, &str, Result<(), Denied>)] = &[
            (Scope::ReadAccounts, "acc_anything", Ok(())),
            (Scope::ReadRules, "rule_1", Ok(())),
            (Scope::ReadRules, "rule_2", Ok(())),
            (
                Scope::ReadRules,
                "rule_3",
                Err(Denied::ResourceNotAllowed {
                    scope: Scope::ReadRules,
                    resource: "rule_3".into(),
                }),
            ),
            (Scope::TriggerRules, "rule_1", Err(Denied::MissingScope(Scope::TriggerRules))),
            (Scope::ReadTransfers, "acc_1", Err(Denied::MissingScope(Scope::ReadTransfers))),
        ];
        for (scope, resource, expected) in resource_table {
            assert_eq!(
                &permissions.require_resource(*scope, resource),
                expected,
                "{scope} {resource}"
            );
        }

        assert_eq!(permissions.resource_filter(Scope::ReadAccounts), Ok(ResourceFilter::All));
        assert_eq!(permissions.resource_filter(Scope::ReadRules), Ok(only_rules.clone()));
        assert!(only_rules.allows("rule_2") && !only_rules.allows("rule_22"));
        assert_eq!(
            permissions.resource_filter(Scope::ReadCards),
            Err(Denied::MissingScope(Scope::ReadCards))
        );
        assert_eq!(
            Denied::ResourceNotAllowed { scope: Scope::ReadRules, resource: "rule_3".into() }
                .to_string(),
            "the API key's READ_RULES scope does not cover \"rule_3\""
        );
    }

    #[test]
    fn resource_checks_on_scopes_without_ids_are_bugs() {
        let permissions = Permissions::all_scopes();
        for scope in Scope::ALL.into_iter().filter(|s| s.resource_kind() != ResourceKind::Ids) {
            let outcome = std::panic::catch_unwind(|| permissions.require_resource(scope, "x"));
            assert!(outcome.is_err(), "{scope} should panic");
        }
    }

    #[test]
    fn authorize_transfer_cases() {
        // Goal: wildcards, caps and overlapping pairs combine as "any matching pair allows it".
        // Method: one key with overlapping pairs, a table of transfers and verdicts.
        let permissions = parse(
            r#"[{"scope":"MANUAL_TRANSFER","resources":[
                {"source":"acc_pay","target":"acc_save","max_amount":50000},
                {"source":"acc_pay","target":"*","max_amount":10000},
                {"source":"*","target":"acc_card","max_amount":20000},
                {"source":"acc_pay","target":"acc_card","max_amount":30000},
                {"source":"acc_rich","target":"*"}
            ]}]"#,
        );
        let denied_max = |cents: i64| {
            Err(TransferDenied::MaximumAmountExceeded { max_amount: Cents::new(cents) })
        };
        let table: &[(&str, &str, i64, Result<(), TransferDenied>)] = &[
            // Exact pair with a cap: at the cap is allowed, one cent more is not.
            ("acc_pay", "acc_save", 50_000, Ok(())),
            ("acc_pay", "acc_save", 50_001, denied_max(50_000)),
            // acc_pay → anything else falls back to the wildcard pair's smaller cap.
            ("acc_pay", "acc_other", 10_000, Ok(())),
            ("acc_pay", "acc_other", 10_001, denied_max(10_000)),
            // Three pairs match acc_pay → acc_card (10k, 20k, 30k): the highest wins.
            ("acc_pay", "acc_card", 30_000, Ok(())),
            ("acc_pay", "acc_card", 30_001, denied_max(30_000)),
            // Anyone → acc_card up to 20k.
            ("acc_x", "acc_card", 20_000, Ok(())),
            ("acc_x", "acc_card", 20_001, denied_max(20_000)),
            // Uncapped wildcard target.
            ("acc_rich", "acc_anything", i64::MAX, Ok(())),
            // No pair matches.
            ("acc_x", "acc_save", 100, Err(TransferDenied::PairNotAllowed)),
            ("acc_save", "acc_pay", 100, Err(TransferDenied::PairNotAllowed)),
        ];
        for (source, target, cents, expected) in table {
            let verdict = permissions.authorize_transfer(
                &account(source),
                &account(target),
                Cents::new(*cents),
            );
            assert_eq!(&verdict, expected, "{source} -> {target} {cents}");
        }
        let no_scope = parse(r#"[{"scope":"LIST_ACCOUNTS"}]"#);
        assert_eq!(
            no_scope.authorize_transfer(&account("acc_a"), &account("acc_b"), Cents::new(100)),
            Err(TransferDenied::MissingScope)
        );
        assert_eq!(
            TransferDenied::MaximumAmountExceeded { max_amount: Cents::new(50_000) }.to_string(),
            "the amount exceeds $500.00, the highest max_amount of the API key's pairs for this \
             source and destination"
        );
    }
}
