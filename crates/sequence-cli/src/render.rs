//! Human-readable output: money, timestamps, aligned tables and key/value blocks, plus the JSON
//! output of `--json`.
//!
//! Every function here is pure (data in, `String` out, ending with a newline), so output is
//! snapshot-tested without a server.

use std::fmt::Write as _;

use chrono::{DateTime, SecondsFormat, Utc};
use sequence_client::types;
use serde::Serialize;

/// Formats integer cents as dollars: `123405` → `$1,234.05`, `-500` → `-$5.00`.
pub fn format_cents(cents: i64) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    let magnitude = cents.unsigned_abs();
    let dollars = (magnitude / 100).to_string();
    let mut grouped = String::with_capacity(dollars.len() + dollars.len() / 3);
    for (i, digit) in dollars.chars().enumerate() {
        if i > 0 && (dollars.len() - i).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(digit);
    }
    format!("{sign}${grouped}.{:02}", magnitude % 100)
}

/// Formats an optional amount; `-` when absent.
pub fn format_optional_cents(cents: Option<i64>) -> String {
    cents.map_or_else(|| "-".to_string(), format_cents)
}

/// Formats a timestamp the way the API writes it (RFC 3339, UTC, `Z`; fractional seconds only
/// when present).
pub fn timestamp(at: &DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

fn optional<T: ToString>(value: Option<T>) -> String {
    value.map_or_else(|| "-".to_string(), |v| v.to_string())
}

fn yes_no(value: bool) -> &'static str {
    if value { "yes" } else { "no" }
}

/// A table with left-aligned text columns and right-aligned numeric columns, separated by two
/// spaces, with an upper-case header row. Widths count characters, so `••••1234` aligns.
#[derive(Debug, Clone)]
pub struct Table {
    columns: Vec<(&'static str, Align)>,
    rows: Vec<Vec<String>>,
}

/// Column alignment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Align {
    /// Text.
    Left,
    /// Numbers and amounts.
    Right,
}

impl Table {
    /// A table with these column headers.
    pub fn new(columns: &[(&'static str, Align)]) -> Self {
        Table { columns: columns.to_vec(), rows: Vec::new() }
    }

    /// Appends a row; it must have one cell per column.
    pub fn row(&mut self, cells: Vec<String>) {
        assert_eq!(cells.len(), self.columns.len(), "one cell per column");
        self.rows.push(cells);
    }

    /// Renders the table; trailing spaces are trimmed from every line.
    pub fn render(&self) -> String {
        let width = |cell: &str| cell.chars().count();
        let mut widths: Vec<usize> = self.columns.iter().map(|(name, _)| width(name)).collect();
        for row in &self.rows {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(width(cell));
            }
        }
        let header: Vec<String> = self.columns.iter().map(|(name, _)| name.to_string()).collect();
        let mut out = String::new();
        for row in std::iter::once(&header).chain(&self.rows) {
            let mut line = String::new();
            for (i, cell) in row.iter().enumerate() {
                if i > 0 {
                    line.push_str("  ");
                }
                let pad = widths[i] - width(cell);
                match self.columns[i].1 {
                    Align::Left => {
                        line.push_str(cell);
                        line.extend(std::iter::repeat_n(' ', pad));
                    }
                    Align::Right => {
                        line.extend(std::iter::repeat_n(' ', pad));
                        line.push_str(cell);
                    }
                }
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }
}

/// Renders `label: value` lines with the values aligned.
pub fn details(fields: &[(&str, String)]) -> String {
    let width = fields.iter().map(|(label, _)| label.chars().count()).max().unwrap_or(0);
    let mut out = String::new();
    for (label, value) in fields {
        let pad = width - label.chars().count();
        let _ = writeln!(out, "{label}:{} {value}", " ".repeat(pad));
    }
    out
}

/// Pretty JSON of `value` followed by a newline (the `--json` output).
pub fn json<T: Serialize + ?Sized>(value: &T) -> String {
    let mut out = serde_json::to_string_pretty(value).expect("API types always serialize");
    out.push('\n');
    out
}

/// `--json` output of a paginated list: `{"data": [...], "page_info": {...}}`.
pub fn json_page<T: Serialize>(data: &[T], page_info: &types::PageInfo) -> String {
    #[derive(Serialize)]
    struct Page<'a, T> {
        data: &'a [T],
        page_info: &'a types::PageInfo,
    }
    json(&Page { data, page_info })
}

/// The line printed under a list that has more pages.
pub fn next_page_hint(page_info: &types::PageInfo) -> String {
    match (&page_info.end_cursor, page_info.has_next_page) {
        (Some(cursor), true) => {
            format!("More results: repeat the command with --after {cursor} (or use --all).\n")
        }
        _ => String::new(),
    }
}

fn empty(what: &str) -> String {
    format!("No {what}.\n")
}

fn account_kind(type_: types::AccountType, external: Option<types::ExternalAccountType>) -> String {
    match external {
        Some(external) => format!("{type_} ({external})"),
        None => type_.to_string(),
    }
}

/// `sequence accounts list`.
pub fn accounts_table(accounts: &[types::AccountSummary]) -> String {
    if accounts.is_empty() {
        return empty("accounts");
    }
    let mut table = Table::new(&[
        ("ID", Align::Left),
        ("TYPE", Align::Left),
        ("NAME", Align::Left),
        ("INSTITUTION", Align::Left),
        ("SEND", Align::Left),
        ("RECEIVE", Align::Left),
    ]);
    for account in accounts {
        table.row(vec![
            account.id.to_string(),
            account_kind(account.type_, account.external_account_type),
            account.name.clone(),
            optional(account.institution_name.as_deref()),
            yes_no(account.can_be_source).to_string(),
            yes_no(account.can_be_destination).to_string(),
        ]);
    }
    table.render()
}

/// `sequence accounts get` (and the account created by `sequence sandbox external-account`).
pub fn account_details(account: &types::Account) -> String {
    let balance = &account.balance;
    details(&[
        ("ID", account.id.to_string()),
        ("Name", account.name.clone()),
        ("Type", account_kind(account.type_, account.external_account_type)),
        ("Description", optional(account.description.as_deref())),
        ("Institution", optional(account.institution_name.as_deref())),
        ("Beneficiary", account.beneficiary_name.clone()),
        ("Routing number", optional(account.routing_number.as_deref())),
        ("Account number", optional(account.bank_account_number.as_deref())),
        ("Can send", yes_no(account.can_be_source).to_string()),
        ("Can receive", yes_no(account.can_be_destination).to_string()),
        ("Balance", format_cents(balance.balance_in_cents)),
        ("Available", format_optional_cents(balance.available_balance_in_cents)),
        ("Last statement", format_optional_cents(balance.last_statement_balance_in_cents)),
        ("Minimum payment", format_optional_cents(balance.next_payment_minimum_in_cents)),
        ("Payment due", optional(balance.next_payment_due_date)),
        ("Balance updated", timestamp(&balance.balance_last_updated_at)),
        ("Created", timestamp(&account.created_at)),
        ("Updated", timestamp(&account.updated_at)),
    ])
}

fn transfer_status(transfer: &types::Transfer) -> String {
    let mut status = match transfer.error_code {
        Some(code) => format!("{} ({code})", transfer.status),
        None => transfer.status.to_string(),
    };
    if transfer.simulation {
        status.push_str(" [simulation]");
    }
    status
}

fn account_ref(account: Option<&types::TransferAccountRef>) -> String {
    match account {
        None => "-".to_string(),
        Some(account) if account.is_deleted => format!("{} (deleted)", account.name),
        Some(account) => account.name.clone(),
    }
}

fn account_ref_with_id(account: Option<&types::TransferAccountRef>) -> String {
    match account {
        None => "- (outside Sequence)".to_string(),
        Some(a) => format!(
            "{} ({}, {}{})",
            a.name,
            a.id.as_str(),
            a.type_,
            if a.is_deleted { ", deleted" } else { "" }
        ),
    }
}

/// `sequence transfers list`.
pub fn transfers_table(transfers: &[types::Transfer]) -> String {
    if transfers.is_empty() {
        return empty("transfers");
    }
    let mut table = Table::new(&[
        ("ID", Align::Left),
        ("CREATED", Align::Left),
        ("STATUS", Align::Left),
        ("DIRECTION", Align::Left),
        ("AMOUNT", Align::Right),
        ("FROM", Align::Left),
        ("TO", Align::Left),
        ("ORIGIN", Align::Left),
        ("DESCRIPTION", Align::Left),
    ]);
    for transfer in transfers {
        table.row(vec![
            transfer.id.to_string(),
            timestamp(&transfer.created_at),
            transfer_status(transfer),
            transfer.direction.to_string(),
            format_cents(transfer.amount_in_cents),
            account_ref(transfer.source.as_ref()),
            account_ref(transfer.destination.as_ref()),
            transfer.origin.to_string(),
            optional(transfer.description.as_deref()),
        ]);
    }
    table.render()
}

/// `sequence transfers get`/`create` and the sandbox commands that answer with a transfer.
pub fn transfer_details(transfer: &types::Transfer) -> String {
    let mut out = details(&[
        ("ID", transfer.id.to_string()),
        ("Status", transfer.status.to_string()),
        ("Error", optional(transfer.error_code)),
        ("Amount", format_cents(transfer.amount_in_cents)),
        ("Direction", transfer.direction.to_string()),
        ("From", account_ref_with_id(transfer.source.as_ref())),
        ("To", account_ref_with_id(transfer.destination.as_ref())),
        ("Origin", transfer.origin.to_string()),
        ("Description", optional(transfer.description.as_deref())),
        ("Rule", optional(transfer.rule_id.as_deref())),
        ("Rule execution", optional(transfer.rule_execution_id.as_deref())),
        ("Simulation", yes_no(transfer.simulation).to_string()),
        ("Created", timestamp(&transfer.created_at)),
        ("Completed", optional(transfer.completed_at.as_ref().map(timestamp))),
    ]);
    if transfer.status == types::TransferStatus::PendingApproval && !transfer.simulation {
        let _ = writeln!(
            out,
            "\nThis transfer waits for a person's approval. In the sandbox: \
             `sequence sandbox approve {id}` or `sequence sandbox decline {id}`.",
            id = transfer.id.as_str()
        );
    }
    out
}

/// `••••4242`: how a card number is shown (only its last four digits exist).
fn card_number(last_four: &str) -> String {
    format!("••••{last_four}")
}

/// `sequence cards list`.
pub fn cards_table(cards: &[types::Card]) -> String {
    if cards.is_empty() {
        return empty("cards");
    }
    let mut table = Table::new(&[
        ("ID", Align::Left),
        ("TYPE", Align::Left),
        ("STATUS", Align::Left),
        ("NUMBER", Align::Left),
        ("HOLDER", Align::Left),
        ("EXPIRES", Align::Left),
        ("ISSUED", Align::Left),
    ]);
    for card in cards {
        table.row(vec![
            card.id.to_string(),
            card.type_.to_string(),
            card.status.to_string(),
            card_number(&card.last_four),
            card.holder_name.clone(),
            card.expiration_date.clone(),
            timestamp(&card.created_at),
        ]);
    }
    table.render()
}

/// `sequence cards get` and the sandbox commands that answer with a card.
pub fn card_details(card: &types::Card) -> String {
    let mut out = details(&[
        ("ID", card.id.to_string()),
        ("Type", card.type_.to_string()),
        ("Status", card.status.to_string()),
        ("Number", card_number(&card.last_four)),
        ("Holder", card.holder_name.clone()),
        ("Expires", card.expiration_date.clone()),
        ("Pod", card.account_id.to_string()),
        ("Issued", timestamp(&card.created_at)),
    ]);
    let next = match card.status {
        types::CardStatus::Inactive => {
            Some("activate it before its first purchase: `sequence sandbox card-activate {id}`")
        }
        types::CardStatus::Frozen => {
            Some("it declines purchases until unfrozen: `sequence sandbox card-unfreeze {id}`")
        }
        _ => None,
    };
    if let Some(next) = next {
        let _ = writeln!(
            out,
            "\nThis card is {}; in the sandbox, {}.",
            card.status,
            next.replace("{id}", &card.id)
        );
    }
    out
}

/// A card transaction's amount with its sign: `-$45.99` for a purchase, `+$12.99` for a refund.
fn signed_amount(transaction: &types::CardTransaction) -> String {
    let amount = i64::try_from(transaction.amount_in_cents.get()).unwrap_or(i64::MAX);
    match transaction.direction {
        types::CardTransactionDirection::Debit => format!("-{}", format_cents(amount)),
        types::CardTransactionDirection::Credit => format!("+{}", format_cents(amount)),
    }
}

fn card_transaction_kind(transaction: &types::CardTransaction) -> &'static str {
    match transaction.direction {
        types::CardTransactionDirection::Debit => "purchase",
        types::CardTransactionDirection::Credit => "refund",
    }
}

/// `sequence cards transactions`.
pub fn card_transactions_table(transactions: &[types::CardTransaction]) -> String {
    if transactions.is_empty() {
        return empty("card transactions");
    }
    let mut table = Table::new(&[
        ("ID", Align::Left),
        ("CREATED", Align::Left),
        ("KIND", Align::Left),
        ("AMOUNT", Align::Right),
        ("MERCHANT", Align::Left),
        ("REFUNDED", Align::Right),
        ("PURCHASE", Align::Left),
        ("DESCRIPTION", Align::Left),
    ]);
    for transaction in transactions {
        table.row(vec![
            transaction.id.to_string(),
            timestamp(&transaction.created_at),
            card_transaction_kind(transaction).to_string(),
            signed_amount(transaction),
            optional(transaction.merchant_name.as_deref()),
            format_optional_cents(transaction.refunded_amount_in_cents),
            optional(transaction.purchase_id.as_deref()),
            optional(transaction.description.as_deref()),
        ]);
    }
    table.render()
}

/// `sequence sandbox card-purchase` and `card-refund`.
pub fn card_transaction_details(transaction: &types::CardTransaction) -> String {
    details(&[
        ("ID", transaction.id.to_string()),
        ("Card", transaction.card_id.to_string()),
        ("Kind", format!("{} ({})", card_transaction_kind(transaction), transaction.direction)),
        ("Amount", signed_amount(transaction)),
        ("Merchant", optional(transaction.merchant_name.as_deref())),
        ("Description", optional(transaction.description.as_deref())),
        ("Refunded", format_optional_cents(transaction.refunded_amount_in_cents)),
        ("Purchase", optional(transaction.purchase_id.as_deref())),
        ("Created", timestamp(&transaction.created_at)),
    ])
}

/// `sequence rules list`.
pub fn rules_table(rules: &[types::RuleSummary]) -> String {
    if rules.is_empty() {
        return empty("rules");
    }
    let mut table = Table::new(&[
        ("ID", Align::Left),
        ("NICKNAME", Align::Left),
        ("STATUS", Align::Left),
        ("TRIGGER", Align::Left),
        ("SOURCE", Align::Left),
        ("UPDATED", Align::Left),
    ]);
    for rule in rules {
        table.row(vec![
            rule.id.to_string(),
            rule.nickname.clone(),
            rule.status.to_string(),
            rule.trigger_type.to_string(),
            optional(rule.source.as_ref().map(|s| format!("{} ({})", s.name, s.id.as_str()))),
            timestamp(&rule.updated_at),
        ]);
    }
    table.render()
}

fn operator_symbol(operator: types::RuleConditionOperator) -> &'static str {
    use types::RuleConditionOperator as Op;
    match operator {
        Op::Equals => "=",
        Op::NotEquals => "!=",
        Op::GreaterThan => ">",
        Op::LessThan => "<",
        Op::GreaterThanOrEqual => ">=",
        Op::LessThanOrEqual => "<=",
    }
}

fn condition_text(condition: &types::RuleCondition) -> String {
    let params = condition.params.as_ref();
    let fact = match (condition.fact, params.and_then(|p| p.account_id.as_ref())) {
        (types::RuleConditionFact::Balance, Some(account)) => {
            format!("BALANCE({})", account.as_str())
        }
        (fact, _) => fact.to_string(),
    };
    let comparand = match (condition.value, condition.value_fact) {
        (Some(day), _) if condition.fact == types::RuleConditionFact::Date => day.to_string(),
        (Some(cents), _) => format_cents(cents),
        (None, Some(value_fact)) => match params.and_then(|p| p.value_account_id.as_ref()) {
            Some(account) => format!("{value_fact}({})", account.as_str()),
            None => value_fact.to_string(),
        },
        (None, None) => "?".to_string(),
    };
    format!("{fact} {} {comparand}", operator_symbol(condition.operator))
}

fn group_text(group: &types::RuleConditionGroup) -> String {
    let join = |children: &[types::RuleConditionGroup], word: &str| {
        let parts: Vec<String> = children.iter().map(group_text).collect();
        format!("({})", parts.join(&format!(" {word} ")))
    };
    if let Some(condition) = &group.condition {
        condition_text(condition)
    } else if !group.all.is_empty() {
        join(&group.all, "AND")
    } else if !group.any.is_empty() {
        join(&group.any, "OR")
    } else {
        "(empty)".to_string()
    }
}

fn action_text(action: &types::RuleAction) -> String {
    let mut text = action.type_.to_string();
    if let Some(value) = action.percentage_value {
        let _ = write!(text, " {value}%");
        if let Some(target) = action.percentage_target {
            let _ = write!(text, " of {target}");
        }
    }
    if let Some(cents) = action.amount_in_cents {
        let cents = i64::try_from(cents.get()).unwrap_or(i64::MAX);
        let _ = write!(text, " {}", format_cents(cents));
    }
    let _ = write!(
        text,
        " from {} to {}",
        action.source_account_id.as_str(),
        action.destination_account_id.as_str()
    );
    let mut extras = vec![format!("group {}", action.group_index)];
    if let Some(limit) = &action.limit {
        extras.push(format!("limit {} {}", format_cents(limit.amount_in_cents), limit.period));
    }
    if action.up_to_enabled {
        extras.push("up to available".to_string());
    }
    let _ = write!(text, " [{}]", extras.join(", "));
    text
}

fn trigger_text(trigger: &types::RuleTrigger) -> String {
    let mut text = trigger.type_.to_string();
    if let Some(schedule) = trigger.schedule_type {
        let _ = write!(text, " {schedule}");
    }
    if let Some(start) = &trigger.start_date {
        let _ = write!(text, " from {}", timestamp(start));
    }
    if let Some(account) = &trigger.account_id {
        let _ = write!(text, " on {}", account.as_str());
    }
    text
}

/// `sequence rules get` and `sequence sandbox rule-enable`/`rule-disable`.
pub fn rule_details(rule: &types::Rule) -> String {
    let mut out = details(&[
        ("ID", rule.id.to_string()),
        ("Nickname", rule.nickname.clone()),
        ("Status", rule.status.to_string()),
        ("Description", optional(rule.description.as_deref())),
        ("Trigger", trigger_text(&rule.trigger)),
        ("Created", timestamp(&rule.created_at)),
        ("Updated", timestamp(&rule.updated_at)),
    ]);
    out.push_str("Steps (the first step whose conditions hold runs):\n");
    if rule.steps.is_empty() {
        out.push_str("  (none)\n");
    }
    for (i, step) in rule.steps.iter().enumerate() {
        let when = step.conditions.as_ref().map_or_else(|| "always".to_string(), group_text);
        let _ = writeln!(out, "  steps[{i}] when {when}:");
        for (j, action) in step.actions.iter().enumerate() {
            let _ = writeln!(out, "    actions[{j}] {}", action_text(action));
        }
    }
    out
}

fn execution_status(execution: &types::RuleExecution) -> String {
    let mut status = execution.status.to_string();
    if execution.simulation {
        status.push_str(" [simulation]");
    }
    status
}

fn execution_step(execution: &types::RuleExecution) -> String {
    match execution.step_index_matched {
        Some(step) => step.to_string(),
        None if execution.conditions_not_met => "none met".to_string(),
        None => "-".to_string(),
    }
}

/// `sequence executions list`.
pub fn executions_table(executions: &[types::RuleExecution]) -> String {
    if executions.is_empty() {
        return empty("rule executions");
    }
    let mut table = Table::new(&[
        ("ID", Align::Left),
        ("CREATED", Align::Left),
        ("STATUS", Align::Left),
        ("TRIGGER", Align::Left),
        ("AMOUNT", Align::Right),
        ("STEP", Align::Right),
        ("DONE", Align::Right),
        ("PENDING", Align::Right),
        ("FAILED", Align::Right),
        ("SKIPPED", Align::Right),
    ]);
    for execution in executions {
        table.row(vec![
            execution.id.to_string(),
            timestamp(&execution.created_at),
            execution_status(execution),
            execution.trigger_type.to_string(),
            format_optional_cents(execution.trigger_details.amount_in_cents),
            execution_step(execution),
            execution.transfers_completed.to_string(),
            execution.transfers_pending.to_string(),
            execution.transfers_failed.to_string(),
            execution.transfers_skipped.to_string(),
        ]);
    }
    table.render()
}

/// `sequence audit list`.
pub fn audit_table(entries: &[types::AuditLogEntry]) -> String {
    if entries.is_empty() {
        return empty("audit log entries");
    }
    let mut table = Table::new(&[
        ("CREATED", Align::Left),
        ("KEY", Align::Left),
        ("OPERATION", Align::Left),
        ("OUTCOME", Align::Left),
        ("STATUS", Align::Right),
        ("CODE", Align::Left),
        ("RESOURCES", Align::Left),
        ("REASON", Align::Left),
    ]);
    for entry in entries {
        table.row(vec![
            timestamp(&entry.created_at),
            entry.api_key_id.to_string(),
            entry.operation_id.clone(),
            entry.outcome.to_string(),
            entry.status.to_string(),
            entry.error_code.clone().unwrap_or_else(|| "-".to_string()),
            if entry.resource_ids.is_empty() {
                "-".to_string()
            } else {
                entry.resource_ids.join(", ")
            },
            entry.called_reason.clone().unwrap_or_else(|| "-".to_string()),
        ]);
    }
    table.render()
}

/// `sequence executions get`.
pub fn execution_details(execution: &types::RuleExecution) -> String {
    let transfers = if execution.transfer_ids.is_empty() {
        "-".to_string()
    } else {
        execution.transfer_ids.iter().map(|id| id.as_str()).collect::<Vec<_>>().join(", ")
    };
    details(&[
        ("ID", execution.id.to_string()),
        ("Rule", format!("{} ({})", execution.rule_name, execution.rule_id.as_str())),
        ("Status", execution.status.to_string()),
        ("Error", optional(execution.error_message.as_deref())),
        ("Simulation", yes_no(execution.simulation).to_string()),
        ("Trigger", execution.trigger_type.to_string()),
        ("Incoming amount", format_optional_cents(execution.trigger_details.amount_in_cents)),
        (
            "Scheduled time",
            optional(execution.trigger_details.scheduled_time.as_ref().map(timestamp)),
        ),
        ("Step matched", execution_step(execution)),
        (
            "Transfers",
            format!(
                "{} attempted, {} completed, {} pending, {} failed, {} skipped",
                execution.transfers_attempted,
                execution.transfers_completed,
                execution.transfers_pending,
                execution.transfers_failed,
                execution.transfers_skipped
            ),
        ),
        ("Transfer IDs", transfers),
        ("Created", timestamp(&execution.created_at)),
    ])
}

/// `sequence rules trigger`.
pub fn triggered(execution: &types::TriggeredExecution, simulation: bool) -> String {
    let kind = if simulation { "Simulated run" } else { "Run" };
    format!(
        "{kind} accepted: rule execution {id}.\nFollow it with: sequence executions get {id}\n",
        id = execution.execution_id.as_str()
    )
}

/// `sequence sandbox org` and `sequence sandbox approval-threshold`.
pub fn organization_details(organization: &types::SandboxOrganization) -> String {
    details(&[
        ("ID", organization.id.to_string()),
        ("Name", organization.name.clone()),
        (
            "Approval threshold",
            organization
                .approval_threshold_in_cents
                .map_or_else(|| "none".to_string(), format_cents),
        ),
        ("Clock", timestamp(&organization.now)),
    ])
}

/// `sequence sandbox advance`.
pub fn clock_details(clock: &types::SandboxClock) -> String {
    details(&[
        ("Clock", timestamp(&clock.now)),
        ("Transfers settled", clock.transfers_settled.to_string()),
        ("Rules executed", clock.rules_executed.to_string()),
    ])
}

fn event_types(types: Option<&Vec<types::WebhookEventType>>) -> String {
    match types {
        None => "all".to_string(),
        Some(types) => types.iter().map(ToString::to_string).collect::<Vec<_>>().join(","),
    }
}

/// `sequence webhooks list`.
pub fn webhook_endpoints_table(endpoints: &[types::WebhookEndpoint]) -> String {
    if endpoints.is_empty() {
        return empty("webhook endpoints");
    }
    let mut table = Table::new(&[
        ("ID", Align::Left),
        ("URL", Align::Left),
        ("EVENTS", Align::Left),
        ("DESCRIPTION", Align::Left),
        ("CREATED", Align::Left),
    ]);
    for endpoint in endpoints {
        table.row(vec![
            endpoint.id.to_string(),
            endpoint.url.clone(),
            event_types(endpoint.event_types.as_ref()),
            optional(endpoint.description.as_deref()),
            timestamp(&endpoint.created_at),
        ]);
    }
    table.render()
}

/// `sequence webhooks create`.
pub fn webhook_endpoint_created(endpoint: &types::WebhookEndpointWithSecret) -> String {
    let mut out = details(&[
        ("ID", endpoint.id.to_string()),
        ("URL", endpoint.url.clone()),
        ("Events", event_types(endpoint.event_types.as_ref())),
        ("Description", optional(endpoint.description.as_deref())),
        ("Signing secret", endpoint.secret.to_string()),
    ]);
    out.push_str(
        "The signing secret is shown only this once: verify Sequence-Signature with it.\n",
    );
    out
}

fn attempt_result(attempt: &types::WebhookDeliveryAttempt) -> String {
    let answer = match (attempt.response_status, &attempt.error) {
        (Some(status), _) => format!("HTTP {status}"),
        (None, Some(error)) => error.clone(),
        (None, None) => "-".to_string(),
    };
    match (attempt.outcome, &attempt.next_attempt_at) {
        (types::WebhookDeliveryOutcome::Retrying, Some(next)) => {
            format!("{answer}, retrying at {}", timestamp(next))
        }
        (outcome, _) => format!("{answer}, {outcome}"),
    }
}

/// `sequence webhooks deliveries`.
pub fn webhook_attempts_table(attempts: &[types::WebhookDeliveryAttempt]) -> String {
    if attempts.is_empty() {
        return empty("delivery attempts");
    }
    let mut table = Table::new(&[
        ("TIME", Align::Left),
        ("EVENT", Align::Left),
        ("EVENT ID", Align::Left),
        ("ATTEMPT", Align::Right),
        ("TOOK", Align::Right),
        ("RESULT", Align::Left),
    ]);
    for attempt in attempts {
        table.row(vec![
            timestamp(&attempt.created_at),
            attempt.event.to_string(),
            attempt.event_id.to_string(),
            attempt.attempt.to_string(),
            format!("{} ms", attempt.duration_ms),
            attempt_result(attempt),
        ]);
    }
    table.render()
}

/// One line of `sequence webhooks listen`: an attempt as it happened.
pub fn webhook_attempt_line(attempt: &types::WebhookDeliveryAttempt) -> String {
    format!(
        "{}  {:<27} {}  attempt {}  {} ms  {}\n",
        timestamp(&attempt.created_at),
        attempt.event.to_string(),
        attempt.event_id.as_str(),
        attempt.attempt,
        attempt.duration_ms,
        attempt_result(attempt)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn from_json<T: serde::de::DeserializeOwned>(value: serde_json::Value) -> T {
        serde_json::from_value(value).expect("fixture matches the generated types")
    }

    #[test]
    fn money() {
        let cases = [
            (0, "$0.00"),
            (5, "$0.05"),
            (10, "$0.10"),
            (100, "$1.00"),
            (123_405, "$1,234.05"),
            (100_000, "$1,000.00"),
            (99_999_999, "$999,999.99"),
            (100_000_000_000, "$1,000,000,000.00"),
            (-500, "-$5.00"),
            (-123_456_789, "-$1,234,567.89"),
            (i64::MIN, "-$92,233,720,368,547,758.08"),
        ];
        for (cents, text) in cases {
            assert_eq!(format_cents(cents), text, "{cents}");
        }
        assert_eq!(format_optional_cents(None), "-");
    }

    #[test]
    fn table_alignment() {
        let mut table =
            Table::new(&[("NAME", Align::Left), ("AMOUNT", Align::Right), ("NOTE", Align::Left)]);
        table.row(vec!["Amex ••1234".into(), "$1.00".into(), String::new()]);
        table.row(vec!["Pod".into(), "$1,000.00".into(), "x".into()]);
        insta::assert_snapshot!(table.render(), @r"
        NAME            AMOUNT  NOTE
        Amex ••1234      $1.00
        Pod          $1,000.00  x
        ");
    }

    fn accounts() -> Vec<types::AccountSummary> {
        from_json(serde_json::json!([
            {"id": "acc_01HABC4567", "name": "Chase Checking ••4567", "type": "income_source",
             "description": "Main payroll account", "external_account_type": null,
             "beneficiary_name": "John Smith", "institution_name": "Chase", "can_be_source": true,
             "can_be_destination": false, "created_at": "2024-01-15T10:00:00Z",
             "updated_at": "2024-01-15T10:00:00Z"},
            {"id": "acc_01HDEF0123", "name": "Emergency Fund", "type": "pod", "description": null,
             "external_account_type": null, "beneficiary_name": "John Smith",
             "institution_name": null, "can_be_source": true, "can_be_destination": true,
             "created_at": "2024-02-01T09:00:00Z", "updated_at": "2024-03-10T14:30:00Z"},
            {"id": "acc_01HGHI7890", "name": "Amex Gold ••1234", "type": "external_account",
             "description": null, "external_account_type": "LIABILITY",
             "beneficiary_name": "John Smith", "institution_name": "American Express",
             "can_be_source": false, "can_be_destination": true,
             "created_at": "2024-01-20T11:00:00Z", "updated_at": "2024-01-20T11:00:00Z"}
        ]))
    }

    #[test]
    fn accounts_list() {
        insta::assert_snapshot!(accounts_table(&accounts()));
        assert_eq!(accounts_table(&[]), "No accounts.\n");
    }

    #[test]
    fn account_get() {
        let account: types::Account = from_json(serde_json::json!({
            "id": "acc_01HGHI7890", "name": "Amex Gold ••1234", "type": "external_account",
            "description": null, "external_account_type": "LIABILITY",
            "beneficiary_name": "John Smith", "institution_name": "American Express",
            "can_be_source": false, "can_be_destination": true, "routing_number": "••••0021",
            "bank_account_number": "••••1234",
            "balance": {"balance_in_cents": 245000, "available_balance_in_cents": null,
                        "last_statement_balance_in_cents": 198000,
                        "next_payment_minimum_in_cents": 3500,
                        "next_payment_due_date": "2024-05-15",
                        "balance_last_updated_at": "2024-04-23T06:00:00Z"},
            "created_at": "2024-01-20T11:00:00Z", "updated_at": "2024-01-20T11:00:00Z"
        }));
        insta::assert_snapshot!(account_details(&account));
    }

    fn transfers() -> Vec<types::Transfer> {
        from_json(serde_json::json!([
            {"id": "txr_01HXYZ0003", "status": "pending_approval", "amount_in_cents": 250000,
             "direction": "internal", "description": "Rent",
             "source": {"id": "acc_01HDEF0123", "name": "Emergency Fund", "type": "pod", "is_deleted": false},
             "destination": {"id": "acc_01HDEF0456", "name": "Old Pod", "type": "pod", "is_deleted": true},
             "origin": "user", "error_code": null, "rule_id": null, "rule_execution_id": null,
             "simulation": false, "created_at": "2024-04-23T10:05:00.250Z", "completed_at": null},
            {"id": "txr_01HXYZ0002", "status": "error", "amount_in_cents": 0,
             "direction": "money_out", "description": null,
             "source": {"id": "acc_01HDEF0123", "name": "Emergency Fund", "type": "pod", "is_deleted": false},
             "destination": {"id": "acc_01HGHI7890", "name": "Amex Gold ••1234", "type": "external_account", "is_deleted": false},
             "origin": "rule", "error_code": "insufficient_funds", "rule_id": "rule_01HRULE0001",
             "rule_execution_id": "rex_01HREX0001", "simulation": true,
             "created_at": "2024-04-23T09:30:00Z", "completed_at": null},
            {"id": "txr_01HXYZ0001", "status": "complete", "amount_in_cents": 500000,
             "direction": "money_in", "description": "PAYROLL",
             "source": null,
             "destination": {"id": "acc_01HABC4567", "name": "Chase Checking ••4567", "type": "income_source", "is_deleted": false},
             "origin": "paycheck", "error_code": null, "rule_id": null, "rule_execution_id": null,
             "simulation": false, "created_at": "2024-04-23T09:15:00Z",
             "completed_at": "2024-04-23T09:15:00Z"}
        ]))
    }

    #[test]
    fn transfers_list() {
        insta::assert_snapshot!(transfers_table(&transfers()));
        let page = types::PageInfo { end_cursor: Some("c_123".into()), has_next_page: true };
        assert_eq!(
            next_page_hint(&page),
            "More results: repeat the command with --after c_123 (or use --all).\n"
        );
        let last = types::PageInfo { end_cursor: Some("c_123".into()), has_next_page: false };
        assert_eq!(next_page_hint(&last), "");
    }

    #[test]
    fn transfer_get() {
        let transfers = transfers();
        insta::assert_snapshot!("transfer_pending_approval", transfer_details(&transfers[0]));
        insta::assert_snapshot!("transfer_deposit", transfer_details(&transfers[2]));
    }

    #[test]
    fn transfer_json_page() {
        let transfers = &transfers()[2..];
        let page = types::PageInfo { end_cursor: Some("c_1".into()), has_next_page: false };
        let value: serde_json::Value = serde_json::from_str(&json_page(transfers, &page)).unwrap();
        assert_eq!(value["data"][0]["id"], "txr_01HXYZ0001");
        assert_eq!(value["page_info"]["end_cursor"], "c_1");
        assert_eq!(value["page_info"]["has_next_page"], false);
    }

    fn rule() -> types::Rule {
        from_json(serde_json::json!({
            "id": "rule_01HRULE0001", "nickname": "Payday split", "status": "enabled",
            "description": "Split every paycheck",
            "trigger": {"type": "ON_FUNDS_TRANSFERRED", "account_id": "acc_01HABC4567"},
            "steps": [
                {"conditions": {"all": [
                    {"condition": {"fact": "TRANSFER_AMOUNT", "operator": "GREATER_THAN_OR_EQUAL", "value": 100000}},
                    {"any": [
                        {"condition": {"fact": "DATE", "operator": "EQUALS", "value": 15}},
                        {"condition": {"fact": "BALANCE", "operator": "LESS_THAN", "value_fact": "NEXT_PAYMENT_MINIMUM_AMOUNT",
                                       "params": {"account_id": "acc_01HDEF0123", "value_account_id": "acc_01HGHI7890"}}}
                    ]}
                ]},
                 "actions": [
                    {"type": "PERCENTAGE", "source_account_id": "acc_01HABC4567",
                     "destination_account_id": "acc_01HDEF0123", "percentage_value": 12.5,
                     "percentage_target": "INCOMING_AMOUNT", "group_index": 0,
                     "limit": {"amount_in_cents": 50000, "period": "PER_MONTH"}, "up_to_enabled": true},
                    {"type": "NEXT_PAYMENT_MINIMUM", "source_account_id": "acc_01HABC4567",
                     "destination_account_id": "acc_01HGHI7890", "group_index": 1, "up_to_enabled": false}
                 ]},
                {"conditions": null,
                 "actions": [{"type": "FIXED", "amount_in_cents": 2500, "source_account_id": "acc_01HABC4567",
                              "destination_account_id": "acc_01HDEF0123", "group_index": 0, "up_to_enabled": false}]}
            ],
            "created_at": "2024-03-01T08:00:00Z", "updated_at": "2024-03-02T08:00:00Z"
        }))
    }

    #[test]
    fn rules_list_and_get() {
        let rules: Vec<types::RuleSummary> = from_json(serde_json::json!([
            {"id": "rule_01HRULE0001", "nickname": "Payday split", "status": "enabled",
             "description": null, "trigger_type": "ON_FUNDS_TRANSFERRED",
             "source": {"id": "acc_01HABC4567", "name": "Chase Checking ••4567", "type": "income_source"},
             "created_at": "2024-03-01T08:00:00Z", "updated_at": "2024-03-02T08:00:00Z"},
            {"id": "rule_01HRULE0002", "nickname": "Monthly sweep", "status": "disabled",
             "description": null, "trigger_type": "SCHEDULED", "source": null,
             "created_at": "2024-03-05T08:00:00Z", "updated_at": "2024-03-05T08:00:00Z"}
        ]));
        insta::assert_snapshot!("rules_list", rules_table(&rules));
        insta::assert_snapshot!("rule_get", rule_details(&rule()));
    }

    fn executions() -> Vec<types::RuleExecution> {
        from_json(serde_json::json!([
            {"id": "rex_01HREX0002", "rule_id": "rule_01HRULE0001", "rule_name": "Payday split",
             "status": "executed", "simulation": true, "error_message": null,
             "trigger_type": "manual",
             "trigger_details": {"type": "manual", "amount_in_cents": 500000, "scheduled_time": null},
             "step_index_matched": 0, "conditions_not_met": false, "transfers_attempted": 2,
             "transfers_completed": 1, "transfers_failed": 0, "transfers_pending": 1,
             "transfers_skipped": 0, "transfer_ids": ["txr_01HXYZ0004", "txr_01HXYZ0005"],
             "created_at": "2024-04-23T10:00:00Z"},
            {"id": "rex_01HREX0001", "rule_id": "rule_01HRULE0001", "rule_name": "Payday split",
             "status": "failed", "simulation": false, "error_message": "insufficient funds",
             "trigger_type": "scheduled",
             "trigger_details": {"type": "scheduled", "amount_in_cents": null,
                                 "scheduled_time": "2024-04-01T00:00:00Z"},
             "step_index_matched": null, "conditions_not_met": true, "transfers_attempted": 0,
             "transfers_completed": 0, "transfers_failed": 0, "transfers_pending": 0,
             "transfers_skipped": 0, "transfer_ids": [], "created_at": "2024-04-01T00:00:00Z"}
        ]))
    }

    #[test]
    fn executions_list_and_get() {
        let executions = executions();
        insta::assert_snapshot!("executions_list", executions_table(&executions));
        insta::assert_snapshot!("execution_get", execution_details(&executions[0]));
        assert_eq!(executions_table(&[]), "No rule executions.\n");
    }

    #[test]
    fn cards_list_get_and_transactions() {
        let cards: Vec<types::Card> = from_json(serde_json::json!([
            {"id": "card_01HABC4567", "type": "physical", "status": "inactive", "last_four": "4242",
             "holder_name": "John Smith", "expiration_date": "09/28", "account_id": "acc_01HDEF0123",
             "created_at": "2024-01-15T10:00:00Z"},
            {"id": "card_01HABC4568", "type": "virtual", "status": "active", "last_four": "1881",
             "holder_name": "John Smith", "expiration_date": "03/27", "account_id": "acc_01HDEF0123",
             "created_at": "2024-02-20T15:30:00Z"}
        ]));
        insta::assert_snapshot!("cards_list", cards_table(&cards));
        insta::assert_snapshot!("card_get", card_details(&cards[0]));
        assert_eq!(cards_table(&[]), "No cards.\n");
        let transactions: Vec<types::CardTransaction> = from_json(serde_json::json!([
            {"id": "ctx_01HABC5002", "card_id": "card_01HABC4568", "direction": "credit",
             "amount_in_cents": 1299, "description": "Refund", "merchant_name": "Blue Bottle Coffee",
             "purchase_id": "ctx_01HABC5001", "refunded_amount_in_cents": null,
             "created_at": "2024-04-22T16:40:00Z"},
            {"id": "ctx_01HABC5001", "card_id": "card_01HABC4568", "direction": "debit",
             "amount_in_cents": 4599, "description": null, "merchant_name": "Blue Bottle Coffee",
             "purchase_id": null, "refunded_amount_in_cents": 1299,
             "created_at": "2024-04-21T08:12:00Z"}
        ]));
        insta::assert_snapshot!("card_transactions_list", card_transactions_table(&transactions));
        insta::assert_snapshot!("card_purchase", card_transaction_details(&transactions[1]));
        assert_eq!(card_transactions_table(&[]), "No card transactions.\n");
    }

    #[test]
    fn sandbox_outputs() {
        let organization: types::SandboxOrganization = from_json(serde_json::json!({
            "id": "org_01HORG0001", "name": "Demo Household",
            "approval_threshold_in_cents": 100000, "now": "2024-04-23T10:00:00Z"
        }));
        let clock: types::SandboxClock = from_json(serde_json::json!({
            "now": "2024-04-28T10:00:00Z", "transfers_settled": 3, "rules_executed": 1
        }));
        let execution = types::TriggeredExecution {
            execution_id: "rex_01HREX0003".parse().expect("a rule execution id"),
        };
        insta::assert_snapshot!(
            "sandbox_outputs",
            format!(
                "{}\n{}\n{}",
                organization_details(&organization),
                clock_details(&clock),
                triggered(&execution, true)
            )
        );
    }

    #[test]
    fn webhook_outputs() {
        let endpoints: Vec<types::WebhookEndpoint> = from_json(serde_json::json!([
            {"id": "whe_01HWHE0001", "url": "http://localhost:4242/webhooks", "event_types": null,
             "description": "Local receiver", "created_at": "2024-04-23T09:00:00Z"},
            {"id": "whe_01HWHE0002", "url": "https://hooks.example.com/s", "description": null,
             "event_types": ["transfer.created", "transfer.status_changed"],
             "created_at": "2024-04-23T10:00:00Z"}
        ]));
        let expected = [
            "ID              URL                             EVENTS                                    DESCRIPTION     CREATED",
            "whe_01HWHE0001  http://localhost:4242/webhooks  all                                       Local receiver  2024-04-23T09:00:00Z",
            "whe_01HWHE0002  https://hooks.example.com/s     transfer.created,transfer.status_changed  -               2024-04-23T10:00:00Z",
        ];
        assert_eq!(webhook_endpoints_table(&endpoints), format!("{}\n", expected.join("\n")));
        assert_eq!(webhook_endpoints_table(&[]), "No webhook endpoints.\n");
        let attempts: Vec<types::WebhookDeliveryAttempt> = from_json(serde_json::json!([
            {"id": "wha_2", "delivery_id": "whd_1", "endpoint_id": "whe_1", "event_id": "evt_1",
             "event": "transfer.created", "attempt": 2, "created_at": "2024-04-23T11:00:31Z",
             "duration_ms": 12, "response_status": 200, "error": null, "outcome": "delivered",
             "next_attempt_at": null},
            {"id": "wha_1", "delivery_id": "whd_1", "endpoint_id": "whe_1", "event_id": "evt_1",
             "event": "transfer.created", "attempt": 1, "created_at": "2024-04-23T11:00:00Z",
             "duration_ms": 10000, "response_status": null, "error": "timed out after 10 s",
             "outcome": "retrying", "next_attempt_at": "2024-04-23T11:00:31Z"}
        ]));
        assert_eq!(
            webhook_attempt_line(&attempts[1]),
            "2024-04-23T11:00:00Z  transfer.created            evt_1  attempt 1  10000 ms  \
             timed out after 10 s, retrying at 2024-04-23T11:00:31Z\n"
        );
        assert_eq!(
            webhook_attempt_line(&attempts[0]),
            "2024-04-23T11:00:31Z  transfer.created            evt_1  attempt 2  12 ms  HTTP 200, delivered\n"
        );
        let table = webhook_attempts_table(&attempts);
        assert!(
            table.starts_with("TIME                  EVENT             EVENT ID  ATTEMPT"),
            "{table}"
        );
        assert!(table.contains("HTTP 200, delivered"), "{table}");
        assert_eq!(webhook_attempts_table(&[]), "No delivery attempts.\n");
    }
}
