//! The command line, declared with clap's derive API.

use clap::{Args, Parser, Subcommand};
use sequence_client::{DEFAULT_BASE_URL, types};

use crate::amount::parse_dollars;
use crate::duration::parse_duration;
use crate::enums::wire;

const AMOUNT_HELP: &str = "Amounts are US dollars: 12.34, 1000, 1,000.50 or '$1,000' (quote a \
leading $ for the shell). At most two decimals, never negative; parsed exactly, without floating \
point.";

const MAIN_EXAMPLES: &str = "\
Examples:
  export SEQUENCE_API_KEY=seqk_...
  sequence accounts list
  sequence accounts list --type pod --json
  sequence transfers create --from acc_01H... --to acc_01H... --amount 125.50
  sequence transfers list --account acc_01H... --all
  sequence rules trigger rule_01H... --amount 2500 --simulation
  sequence cards transactions card_01H... --all
  sequence sandbox advance 5d
  sequence webhooks listen --forward-to http://localhost:4242/webhooks

Exit codes: 0 success, 1 API error, 2 usage error (including a missing API key), 3 connection error.";

/// `sequence`: a command-line client for the Sequence money-automation API.
#[derive(Debug, Parser)]
#[command(
    name = "sequence",
    version,
    about = "Command-line client for the Sequence money-automation API.",
    after_help = MAIN_EXAMPLES
)]
pub struct Cli {
    /// API key, sent as `Authorization: ApiKey <key>`.
    #[arg(
        long,
        env = "SEQUENCE_API_KEY",
        hide_env_values = true,
        global = true,
        help_heading = "Global options"
    )]
    pub api_key: Option<String>,

    /// Base URL of the API; `/api/v1` is appended to a bare host such as http://127.0.0.1:8080.
    #[arg(
        long,
        env = "SEQUENCE_BASE_URL",
        hide_env_values = true,
        default_value = DEFAULT_BASE_URL,
        value_parser = parse_base_url,
        global = true,
        help_heading = "Global options"
    )]
    pub base_url: String,

    /// Print the API's `data` (and `page_info` for paginated lists) as pretty JSON instead of
    /// tables.
    #[arg(long, global = true, help_heading = "Global options")]
    pub json: bool,

    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The path prefix of every API operation (the path of the spec's `servers[0].url`).
pub const API_PREFIX: &str = "/api/v1";

/// The base URL the client gets for `--base-url`/`SEQUENCE_BASE_URL`: a bare `http(s)://` host
/// (`http://127.0.0.1:8080`, with or without a trailing `/`) gets [`API_PREFIX`] appended; a URL
/// with a path, such as one already ending in `/api/v1`, is kept as is, and so is anything
/// malformed, for the client to reject with its own message.
pub fn api_base_url(base_url: &str) -> String {
    let trimmed = base_url.trim_end_matches('/');
    match trimmed.split_once("://") {
        Some(("http" | "https", host)) if !host.is_empty() && !host.contains(['/', '?', '#']) => {
            format!("{trimmed}{API_PREFIX}")
        }
        _ => base_url.to_string(),
    }
}

fn parse_base_url(text: &str) -> Result<String, std::convert::Infallible> {
    Ok(api_base_url(text))
}

/// Top-level command groups.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Income sources, pods and external accounts.
    #[command(subcommand)]
    Accounts(AccountsCommand),
    /// Money movements between accounts.
    #[command(subcommand)]
    Transfers(TransfersCommand),
    /// Automations defined by a person; trigger them on demand.
    #[command(subcommand)]
    Rules(RulesCommand),
    /// The history of rule runs.
    #[command(subcommand)]
    Executions(ExecutionsCommand),
    /// Debit cards linked to pods, and their purchases and refunds.
    #[command(subcommand)]
    Cards(CardsCommand),
    /// Sandbox-only stand-ins for people and the outside world (server started with --sandbox or
    /// --demo).
    #[command(subcommand)]
    Sandbox(SandboxCommand),
    /// The organization's audit log: mutating and denied calls (needs READ_AUDIT_LOGS).
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Webhook endpoints, their delivery attempts, and `listen` for local development (sandbox
    /// only).
    #[command(subcommand)]
    Webhooks(WebhooksCommand),
}

// ---------------------------------------------------------------------------------------------
// accounts

/// `sequence accounts …`
#[derive(Debug, Subcommand)]
pub enum AccountsCommand {
    /// List the organization's accounts (income sources, then pods, then external accounts).
    #[command(
        after_help = "Examples:\n  sequence accounts list\n  sequence accounts list --type pod"
    )]
    List {
        /// Only accounts of this type.
        #[arg(long = "type", value_parser = wire::<types::AccountType>())]
        type_: Option<types::AccountType>,
    },
    /// Show one account, with its balance.
    #[command(after_help = "Example:\n  sequence accounts get acc_01HDEF0123")]
    Get {
        /// Account ID (`acc_…`).
        id: String,
    },
}

// ---------------------------------------------------------------------------------------------
// transfers

/// `sequence transfers …`
#[derive(Debug, Subcommand)]
pub enum TransfersCommand {
    /// Create a manual transfer (asynchronous: follow it with `transfers get`).
    #[command(after_help = concat!(
        "Examples:\n",
        "  sequence transfers create --from acc_01HDEF0123 --to acc_01HGHI7890 --amount 125.50\n",
        "  sequence transfers create --from acc_01HDEF0123 --to acc_01HGHI7890 --amount '$1,000' --description Rent --simulation\n\n",
        "Amounts are US dollars: 12.34, 1000, 1,000.50 or '$1,000'. The smallest transfer is $1.00.\n",
        "Without --idempotency-key a fresh key is generated; after a connection error the CLI prints it\n",
        "so the same command can be retried safely."
    ))]
    Create(TransferCreateArgs),
    /// List the transfers of one account, newest first.
    #[command(after_help = concat!(
        "Examples:\n",
        "  sequence transfers list --account acc_01HDEF0123\n",
        "  sequence transfers list --account acc_01HDEF0123 --role source --status pending_approval\n",
        "  sequence transfers list --account acc_01HDEF0123 --mode all --all --json"
    ))]
    List(TransferListArgs),
    /// Show one transfer.
    #[command(after_help = "Example:\n  sequence transfers get txr_01HXYZ0001")]
    Get {
        /// Transfer ID (`txr_…`).
        id: String,
    },
}

/// `sequence transfers create`
#[derive(Debug, Clone, Args)]
pub struct TransferCreateArgs {
    /// Source account ID (`acc_…`).
    #[arg(long)]
    pub from: String,
    /// Destination account ID (`acc_…`).
    #[arg(long)]
    pub to: String,
    /// Amount in dollars, e.g. 12.34 or '$1,000'.
    #[arg(long, value_parser = parse_dollars, allow_negative_numbers = true, long_help = AMOUNT_HELP)]
    pub amount: i64,
    /// ACH statement label: letters, digits and spaces, at most 10 characters.
    #[arg(long)]
    pub description: Option<String>,
    /// Dry run: every check runs and the result is recorded, but no money moves.
    #[arg(long)]
    pub simulation: bool,
    /// Idempotency key (1–255 of `A-Z a-z 0-9 . _ : / | -`); default: a fresh random key.
    #[arg(long)]
    pub idempotency_key: Option<String>,
}

/// `sequence transfers list`
#[derive(Debug, Clone, Args)]
pub struct TransferListArgs {
    /// Account ID whose transfers to list (required by the API).
    #[arg(long)]
    pub account: String,
    /// Which side of the transfer the account is on.
    #[arg(long, value_parser = wire::<types::AccountRole>())]
    pub role: Option<types::AccountRole>,
    /// Only transfers in this direction.
    #[arg(long, value_parser = wire::<types::TransferDirection>())]
    pub direction: Option<types::TransferDirection>,
    /// Only transfers with this status.
    #[arg(long, value_parser = wire::<types::TransferStatus>())]
    pub status: Option<types::TransferStatus>,
    /// Only transfers with this origin.
    #[arg(long, value_parser = wire::<types::TransferOrigin>())]
    pub origin: Option<types::TransferOrigin>,
    /// Live records (default), simulated ones, or both.
    #[arg(long, value_parser = wire::<types::ExecutionMode>())]
    pub mode: Option<types::ExecutionMode>,
    #[command(flatten)]
    pub page: PageArgs,
}

/// Pagination flags shared by the paginated lists.
#[derive(Debug, Clone, Args)]
pub struct PageArgs {
    /// Page size, 1–100 (API default 20; 100 with --all).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub first: Option<u32>,
    /// Start after this cursor (the `end_cursor` printed by the previous page).
    #[arg(long)]
    pub after: Option<String>,
    /// Fetch every page (starting at --after, if given).
    #[arg(long)]
    pub all: bool,
}

// ---------------------------------------------------------------------------------------------
// rules

/// `sequence rules …`
#[derive(Debug, Subcommand)]
pub enum RulesCommand {
    /// List the organization's rules.
    #[command(
        after_help = "Examples:\n  sequence rules list\n  sequence rules list --source acc_01HABC4567"
    )]
    List {
        /// Only rules whose source (trigger) account is this account ID.
        #[arg(long)]
        source: Option<String>,
    },
    /// Show one rule with its trigger, steps, conditions and actions.
    #[command(after_help = "Example:\n  sequence rules get rule_01HRULE0001")]
    Get {
        /// Rule ID (`rule_…`).
        id: String,
    },
    /// Run a rule now (asynchronous: follow the execution with `executions get`).
    #[command(after_help = concat!(
        "Examples:\n",
        "  sequence rules trigger rule_01HRULE0001\n",
        "  sequence rules trigger rule_01HRULE0001 --amount 2500 --simulation\n\n",
        "--amount is the run's incoming amount in dollars (the TRANSFER_AMOUNT fact and the base of\n",
        "percentage actions); it never overrides FIXED amounts. The rule must be enabled."
    ))]
    Trigger(RuleTriggerArgs),
}

/// `sequence rules trigger`
#[derive(Debug, Clone, Args)]
pub struct RuleTriggerArgs {
    /// Rule ID (`rule_…`).
    pub id: String,
    /// Incoming amount for this run, in dollars (e.g. 2500 or 1,234.56).
    #[arg(long, value_parser = parse_dollars, allow_negative_numbers = true, long_help = AMOUNT_HELP)]
    pub amount: Option<i64>,
    /// Dry run: evaluate the rule and record a simulated execution without moving money.
    #[arg(long)]
    pub simulation: bool,
    /// Idempotency key (1–255 of `A-Z a-z 0-9 . _ : / | -`); default: a fresh random key.
    #[arg(long)]
    pub idempotency_key: Option<String>,
}

// ---------------------------------------------------------------------------------------------
// executions

/// `sequence executions …`
#[derive(Debug, Subcommand)]
pub enum ExecutionsCommand {
    /// List the executions of one rule, newest first.
    #[command(after_help = concat!(
        "Examples:\n",
        "  sequence executions list --rule rule_01HRULE0001\n",
        "  sequence executions list --rule rule_01HRULE0001 --status failed --first 5\n",
        "  sequence executions list --rule rule_01HRULE0001 --mode simulation --all --json"
    ))]
    List(ExecutionListArgs),
    /// Show one rule execution.
    #[command(after_help = "Example:\n  sequence executions get rex_01HABC4567")]
    Get {
        /// Rule execution ID (`rex_…`).
        id: String,
    },
}

/// `sequence executions list`
#[derive(Debug, Clone, Args)]
pub struct ExecutionListArgs {
    /// Rule ID whose executions to list (required by the API).
    #[arg(long)]
    pub rule: String,
    /// Only executions with this status.
    #[arg(long, value_parser = wire::<types::RuleExecutionStatus>())]
    pub status: Option<types::RuleExecutionStatus>,
    /// Only executions started this way.
    #[arg(long, value_parser = wire::<types::RuleExecutionTriggerType>())]
    pub trigger: Option<types::RuleExecutionTriggerType>,
    /// Live records (default), simulated ones, or both.
    #[arg(long, value_parser = wire::<types::ExecutionMode>())]
    pub mode: Option<types::ExecutionMode>,
    #[command(flatten)]
    pub page: PageArgs,
}

// ---------------------------------------------------------------------------------------------
// cards

/// `sequence cards …`
#[derive(Debug, Subcommand)]
pub enum CardsCommand {
    /// List the cards of one pod (oldest first).
    #[command(after_help = concat!(
        "Examples:\n",
        "  sequence cards list --account acc_01HDEF0123\n",
        "  sequence cards list --account acc_01HDEF0123 --status active --type virtual"
    ))]
    List(CardListArgs),
    /// Show one card.
    #[command(after_help = "Example:\n  sequence cards get card_01HABC4567")]
    Get {
        /// Card ID (`card_…`).
        id: String,
    },
    /// List a card's purchases and refunds, newest first.
    #[command(after_help = concat!(
        "Examples:\n",
        "  sequence cards transactions card_01HABC4567\n",
        "  sequence cards transactions card_01HABC4567 --direction debit --all\n",
        "  sequence cards transactions card_01HABC4567 --from 2024-04-01T00:00:00Z --json"
    ))]
    Transactions(CardTransactionListArgs),
}

/// `sequence cards list`
#[derive(Debug, Clone, Args)]
pub struct CardListArgs {
    /// The pod whose cards to list (`acc_…`, required by the API).
    #[arg(long)]
    pub account: String,
    /// Only cards with this status.
    #[arg(long, value_parser = wire::<types::CardStatus>())]
    pub status: Option<types::CardStatus>,
    /// Only cards of this type.
    #[arg(long = "type", value_parser = wire::<types::CardType>())]
    pub type_: Option<types::CardType>,
}

/// `sequence cards transactions`
#[derive(Debug, Clone, Args)]
pub struct CardTransactionListArgs {
    /// Card ID (`card_…`).
    pub id: String,
    /// Only purchases (`debit`) or only refunds (`credit`).
    #[arg(long, value_parser = wire::<types::CardTransactionDirection>())]
    pub direction: Option<types::CardTransactionDirection>,
    /// Only transactions at or after this instant (RFC 3339, e.g. 2024-04-01T00:00:00Z).
    #[arg(long)]
    pub from: Option<chrono::DateTime<chrono::Utc>>,
    /// Only transactions at or before this instant (RFC 3339).
    #[arg(long)]
    pub to: Option<chrono::DateTime<chrono::Utc>>,
    #[command(flatten)]
    pub page: PageArgs,
}

// ---------------------------------------------------------------------------------------------
// audit

/// `sequence audit …`
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// List audit log entries, newest first.
    #[command(after_help = concat!(
        "Examples:\n",
        "  sequence audit list\n",
        "  sequence audit list --outcome denied --first 50\n",
        "  sequence audit list --operation createTransfer --since 2024-04-01T00:00:00Z --all --json"
    ))]
    List(AuditListArgs),
}

/// `sequence audit list`
#[derive(Debug, Clone, Args)]
pub struct AuditListArgs {
    /// Only calls made with this API key (`key_…`).
    #[arg(long)]
    pub key: Option<String>,
    /// Only calls of this operation (its operationId, e.g. createTransfer).
    #[arg(long)]
    pub operation: Option<String>,
    /// Only calls with this outcome.
    #[arg(long, value_parser = wire::<types::AuditOutcome>())]
    pub outcome: Option<types::AuditOutcome>,
    /// Only calls at or after this instant (RFC 3339, e.g. 2024-04-01T00:00:00Z).
    #[arg(long)]
    pub since: Option<chrono::DateTime<chrono::Utc>>,
    /// Only calls at or before this instant (RFC 3339).
    #[arg(long)]
    pub until: Option<chrono::DateTime<chrono::Utc>>,
    #[command(flatten)]
    pub page: PageArgs,
}

// ---------------------------------------------------------------------------------------------
// sandbox

/// `sequence sandbox …` (only on a server started with `--sandbox` or `--demo`).
#[derive(Debug, Subcommand)]
pub enum SandboxCommand {
    /// Simulate money arriving from outside into an income source or pod.
    #[command(after_help = concat!(
        "Examples:\n",
        "  sequence sandbox deposit --account acc_01HABC4567 --amount 2,500\n",
        "  sequence sandbox deposit --account acc_01HDEF0123 --amount 12.50 --origin cashback"
    ))]
    Deposit(DepositArgs),
    /// Link a simulated external account (bank, investment or liability).
    #[command(name = "external-account", after_help = concat!(
        "Examples:\n",
        "  sequence sandbox external-account --name 'Chase Savings' --type DEPOSITORY --institution Chase --balance 1000\n",
        "  sequence sandbox external-account --name 'Amex Gold' --type LIABILITY --institution 'American Express' \\\n",
        "      --balance 2,450 --statement-balance 1,980 --minimum-payment 35 --due-date 2024-05-15"
    ))]
    ExternalAccount(ExternalAccountArgs),
    /// Approve a transfer waiting in `pending_approval` (as the person would in the app).
    #[command(after_help = "Example:\n  sequence sandbox approve txr_01HXYZ0003")]
    Approve {
        /// Transfer ID (`txr_…`).
        id: String,
    },
    /// Decline a transfer waiting in `pending_approval`; it becomes `cancelled`.
    #[command(after_help = "Example:\n  sequence sandbox decline txr_01HXYZ0003")]
    Decline {
        /// Transfer ID (`txr_…`).
        id: String,
    },
    /// Move the organization clock forward, settling transfers and running scheduled rules.
    #[command(after_help = concat!(
        "Examples:\n",
        "  sequence sandbox advance 90s\n",
        "  sequence sandbox advance 5d      # after 5 days no accepted transfer is still in flight\n",
        "  sequence sandbox advance 1d12h\n\n",
        "Units: s, m, h, d, w; at most 366 days."
    ))]
    Advance {
        /// How far to move the clock: 90s, 15m, 2h, 5d, 1w, 1d12h, ...
        #[arg(value_parser = parse_duration)]
        duration: u64,
    },
    /// Show the organization: name, approval threshold and clock.
    #[command(after_help = "Example:\n  sequence sandbox org")]
    Org,
    /// Set (or with `none`, remove) the amount from which transfers wait for approval.
    #[command(name = "approval-threshold", after_help = concat!(
        "Examples:\n",
        "  sequence sandbox approval-threshold 1,000\n",
        "  sequence sandbox approval-threshold none"
    ))]
    ApprovalThreshold {
        /// Dollars (e.g. 1,000), or `none` to remove the threshold.
        #[arg(value_parser = parse_threshold, allow_negative_numbers = true)]
        amount: Threshold,
    },
    /// Enable a rule (as the person would in the app).
    #[command(
        name = "rule-enable",
        after_help = "Example:\n  sequence sandbox rule-enable rule_01HRULE0001"
    )]
    RuleEnable {
        /// Rule ID (`rule_…`).
        id: String,
    },
    /// Disable a rule (as the person would in the app).
    #[command(
        name = "rule-disable",
        after_help = "Example:\n  sequence sandbox rule-disable rule_01HRULE0001"
    )]
    RuleDisable {
        /// Rule ID (`rule_…`).
        id: String,
    },
    /// Issue a debit card on a pod (virtual cards are active at once, physical ones need
    /// `card-activate`).
    #[command(name = "card-issue", after_help = concat!(
        "Examples:\n",
        "  sequence sandbox card-issue --account acc_01HDEF0123 --type virtual\n",
        "  sequence sandbox card-issue --account acc_01HDEF0123 --type physical --holder 'Jane Smith'"
    ))]
    CardIssue(CardIssueArgs),
    /// Activate a physical card (as its holder would when it arrives).
    #[command(
        name = "card-activate",
        after_help = "Example:\n  sequence sandbox card-activate card_01HABC4567"
    )]
    CardActivate {
        /// Card ID (`card_…`).
        id: String,
    },
    /// Freeze a card: it declines purchases until unfrozen.
    #[command(
        name = "card-freeze",
        after_help = "Example:\n  sequence sandbox card-freeze card_01HABC4567"
    )]
    CardFreeze {
        /// Card ID (`card_…`).
        id: String,
    },
    /// Unfreeze a frozen card.
    #[command(
        name = "card-unfreeze",
        after_help = "Example:\n  sequence sandbox card-unfreeze card_01HABC4567"
    )]
    CardUnfreeze {
        /// Card ID (`card_…`).
        id: String,
    },
    /// Report a card lost (final: it never buys again; refunds still arrive).
    #[command(
        name = "card-report-lost",
        after_help = "Example:\n  sequence sandbox card-report-lost card_01HABC4567"
    )]
    CardReportLost {
        /// Card ID (`card_…`).
        id: String,
    },
    /// Report a card stolen (final: it never buys again; refunds still arrive).
    #[command(
        name = "card-report-stolen",
        after_help = "Example:\n  sequence sandbox card-report-stolen card_01HABC4567"
    )]
    CardReportStolen {
        /// Card ID (`card_…`).
        id: String,
    },
    /// Make a purchase with a card, as a merchant charging it: authorized against the pod's
    /// available balance, settled at once.
    #[command(name = "card-purchase", after_help = concat!(
        "Examples:\n",
        "  sequence sandbox card-purchase card_01HABC4567 --amount 45.99 --merchant 'Blue Bottle Coffee'\n\n",
        "A declined purchase (card not active, pod short of available money) is an error and\n",
        "records nothing."
    ))]
    CardPurchase(CardPurchaseArgs),
    /// Refund (part of) a purchase made with a card; the money returns to its pod at once.
    #[command(name = "card-refund", after_help = concat!(
        "Examples:\n",
        "  sequence sandbox card-refund card_01HABC4567 --purchase ctx_01HABC5001\n",
        "  sequence sandbox card-refund card_01HABC4567 --purchase ctx_01HABC5001 --amount 12.99\n\n",
        "Without --amount, everything of the purchase not yet refunded is refunded. Refunds never\n",
        "exceed the purchase."
    ))]
    CardRefund(CardRefundArgs),
}

/// `sequence sandbox card-issue`
#[derive(Debug, Clone, Args)]
pub struct CardIssueArgs {
    /// The pod the card spends from (`acc_…`).
    #[arg(long)]
    pub account: String,
    /// Virtual or physical.
    #[arg(long = "type", value_parser = wire::<types::CardType>())]
    pub type_: types::CardType,
    /// The name printed on the card (default: the organization's account holder name).
    #[arg(long)]
    pub holder: Option<String>,
    /// Idempotency key (1–255 of `A-Z a-z 0-9 . _ : / | -`); default: a fresh random key.
    #[arg(long)]
    pub idempotency_key: Option<String>,
}

/// `sequence sandbox card-purchase`
#[derive(Debug, Clone, Args)]
pub struct CardPurchaseArgs {
    /// Card ID (`card_…`).
    pub id: String,
    /// Amount in dollars, e.g. 45.99.
    #[arg(long, value_parser = parse_dollars, allow_negative_numbers = true, long_help = AMOUNT_HELP)]
    pub amount: i64,
    /// The merchant (1–100 characters).
    #[arg(long)]
    pub merchant: String,
    /// The merchant's free text (at most 200 characters).
    #[arg(long)]
    pub description: Option<String>,
    /// Idempotency key (1–255 of `A-Z a-z 0-9 . _ : / | -`); default: a fresh random key.
    #[arg(long)]
    pub idempotency_key: Option<String>,
}

/// `sequence sandbox card-refund`
#[derive(Debug, Clone, Args)]
pub struct CardRefundArgs {
    /// Card ID (`card_…`).
    pub id: String,
    /// The purchase to refund (`ctx_…`, a purchase made with this card).
    #[arg(long)]
    pub purchase: String,
    /// Amount in dollars (default: everything of the purchase not yet refunded).
    #[arg(long, value_parser = parse_dollars, allow_negative_numbers = true, long_help = AMOUNT_HELP)]
    pub amount: Option<i64>,
    /// The merchant's free text (at most 200 characters).
    #[arg(long)]
    pub description: Option<String>,
    /// Idempotency key (1–255 of `A-Z a-z 0-9 . _ : / | -`); default: a fresh random key.
    #[arg(long)]
    pub idempotency_key: Option<String>,
}

/// `sequence sandbox deposit`
#[derive(Debug, Clone, Args)]
pub struct DepositArgs {
    /// Receiving income source or pod (`acc_…`).
    #[arg(long)]
    pub account: String,
    /// Amount in dollars, e.g. 2,500 or 12.50.
    #[arg(long, value_parser = parse_dollars, allow_negative_numbers = true, long_help = AMOUNT_HELP)]
    pub amount: i64,
    /// Where the money comes from (API default: paycheck).
    #[arg(long, value_parser = wire::<types::DepositOrigin>())]
    pub origin: Option<types::DepositOrigin>,
    /// Statement label: letters, digits and spaces, at most 10 characters.
    #[arg(long)]
    pub description: Option<String>,
    /// Idempotency key (1–255 of `A-Z a-z 0-9 . _ : / | -`); default: a fresh random key.
    #[arg(long)]
    pub idempotency_key: Option<String>,
}

/// `sequence sandbox external-account`
#[derive(Debug, Clone, Args)]
pub struct ExternalAccountArgs {
    /// Display name (1–100 characters).
    #[arg(long)]
    pub name: String,
    /// Kind of account.
    #[arg(long = "type", value_parser = wire::<types::ExternalAccountType>(), ignore_case = true)]
    pub type_: types::ExternalAccountType,
    /// Bank or institution name (1–100 characters).
    #[arg(long)]
    pub institution: String,
    /// Starting balance in dollars (for LIABILITY, the amount owed).
    #[arg(long, value_parser = parse_dollars, allow_negative_numbers = true, long_help = AMOUNT_HELP)]
    pub balance: i64,
    /// LIABILITY only: last statement balance, in dollars.
    #[arg(long, value_parser = parse_dollars, allow_negative_numbers = true)]
    pub statement_balance: Option<i64>,
    /// LIABILITY only: next minimum payment, in dollars.
    #[arg(long, value_parser = parse_dollars, allow_negative_numbers = true)]
    pub minimum_payment: Option<i64>,
    /// LIABILITY only: next payment due date, YYYY-MM-DD.
    #[arg(long)]
    pub due_date: Option<chrono::NaiveDate>,
}

// ---------------------------------------------------------------------------------------------
// webhooks

/// `sequence webhooks …` (only on a server started with `--sandbox` or `--demo`).
#[derive(Debug, Subcommand)]
pub enum WebhooksCommand {
    /// Register an endpoint; prints its signing secret (shown only this once).
    #[command(after_help = concat!(
        "Examples:\n",
        "  sequence webhooks create --url http://localhost:4242/webhooks\n",
        "  sequence webhooks create --url https://hooks.example.com/sequence \\\n",
        "      --events transfer.created,transfer.status_changed --description 'Ledger sync'\n\n",
        "Without --events the endpoint receives every event type, including ones added later."
    ))]
    Create(WebhookCreateArgs),
    /// List the organization's endpoints (never their secrets).
    #[command(after_help = "Example:\n  sequence webhooks list")]
    List,
    /// Delete an endpoint; its deliveries not yet made are cancelled.
    #[command(after_help = "Example:\n  sequence webhooks delete whe_01HABC9000")]
    Delete {
        /// Webhook endpoint ID (`whe_…`).
        id: String,
    },
    /// List an endpoint's delivery attempts, newest first.
    #[command(after_help = concat!(
        "Examples:\n",
        "  sequence webhooks deliveries whe_01HABC9000\n",
        "  sequence webhooks deliveries whe_01HABC9000 --all --json"
    ))]
    Deliveries {
        /// Webhook endpoint ID (`whe_…`).
        id: String,
        #[command(flatten)]
        page: PageArgs,
    },
    /// Print an event exactly as it is delivered (the JSON body every attempt sends).
    #[command(after_help = "Example:\n  sequence webhooks event evt_01HABC9100")]
    Event {
        /// Webhook event ID (`evt_…`).
        id: String,
    },
    /// Receive events on a local URL while developing: registers a temporary endpoint that
    /// points at --forward-to, prints its signing secret and every delivery attempt as it
    /// happens, and deletes the endpoint on Ctrl-C.
    #[command(after_help = concat!(
        "Example:\n",
        "  sequence webhooks listen --forward-to http://localhost:4242/webhooks\n\n",
        "The server itself POSTs to --forward-to (signed with the printed secret), so the URL must be\n",
        "reachable from the server: true for a sandbox on this machine. The CLI only registers the\n",
        "endpoint and reports the attempts it finds (every second); events that happened before it\n",
        "started are not sent. If the CLI is killed without Ctrl-C, delete the endpoint with\n",
        "`sequence webhooks delete`."
    ))]
    Listen(ListenArgs),
}

/// `sequence webhooks create`
#[derive(Debug, Clone, Args)]
pub struct WebhookCreateArgs {
    /// Where the server POSTs events: an absolute http:// or https:// URL.
    #[arg(long)]
    pub url: String,
    /// Only these event types, comma-separated (default: every type).
    #[arg(long, value_delimiter = ',', value_parser = wire::<types::WebhookEventType>())]
    pub events: Vec<types::WebhookEventType>,
    /// A note to recognise the endpoint by (at most 200 characters).
    #[arg(long)]
    pub description: Option<String>,
    /// Idempotency key (1–255 of `A-Z a-z 0-9 . _ : / | -`); default: a fresh random key.
    #[arg(long)]
    pub idempotency_key: Option<String>,
}

/// `sequence webhooks listen`
#[derive(Debug, Clone, Args)]
pub struct ListenArgs {
    /// The local URL to deliver events to (your receiver), e.g. http://localhost:4242/webhooks.
    #[arg(long)]
    pub forward_to: String,
    /// Only these event types, comma-separated (default: every type).
    #[arg(long, value_delimiter = ',', value_parser = wire::<types::WebhookEventType>())]
    pub events: Vec<types::WebhookEventType>,
    /// How often to look for new delivery attempts, in milliseconds.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(50..=60_000))]
    pub poll_ms: u64,
}

/// An approval threshold: an amount in cents, or none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Threshold {
    /// Transfers of at least this many cents wait for approval.
    Cents(i64),
    /// No threshold.
    None,
}

fn parse_threshold(text: &str) -> Result<Threshold, crate::amount::AmountError> {
    if text.eq_ignore_ascii_case("none") {
        return Ok(Threshold::None);
    }
    parse_dollars(text).map(Threshold::Cents)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("sequence").chain(args.iter().copied()))
    }

    #[test]
    fn amounts_are_parsed_as_dollars() {
        let cli =
            parse(&["transfers", "create", "--from", "a", "--to", "b", "--amount", "$1,000.5"])
                .unwrap();
        let Command::Transfers(TransfersCommand::Create(args)) = cli.command else { panic!() };
        assert_eq!(args.amount, 100_050);
    }

    #[test]
    fn bad_amounts_are_usage_errors() {
        for amount in ["-5", "1.234", "abc"] {
            let error =
                parse(&["transfers", "create", "--from", "a", "--to", "b", "--amount", amount])
                    .unwrap_err();
            assert_eq!(error.exit_code(), 2, "{amount}");
            assert!(error.to_string().contains("--amount"), "{error}");
        }
        let error = parse(&["transfers", "create", "--from", "a", "--to", "b", "--amount", "-5"])
            .unwrap_err();
        assert!(error.to_string().contains("amounts cannot be negative"), "{error}");
    }

    #[test]
    fn global_flags_go_anywhere() {
        let cli = parse(&[
            "accounts",
            "list",
            "--json",
            "--type",
            "pod",
            "--base-url",
            "http://h/api/v1",
        ])
        .unwrap();
        assert!(cli.json);
        assert_eq!(cli.base_url, "http://h/api/v1");
    }

    #[test]
    fn base_url_gets_the_api_prefix_when_it_names_only_a_host() {
        assert!(DEFAULT_BASE_URL.ends_with(API_PREFIX), "{DEFAULT_BASE_URL}");
        let cases = [
            ("http://127.0.0.1:8080", "http://127.0.0.1:8080/api/v1"),
            ("http://127.0.0.1:8080/", "http://127.0.0.1:8080/api/v1"),
            ("https://api.getsequence.io", "https://api.getsequence.io/api/v1"),
            ("http://127.0.0.1:8080/api/v1", "http://127.0.0.1:8080/api/v1"),
            ("http://127.0.0.1:8080/api/v1/", "http://127.0.0.1:8080/api/v1/"),
            ("http://h/proxy/api/v1", "http://h/proxy/api/v1"),
            // Malformed: passed through for the client to reject.
            ("localhost:8080", "localhost:8080"),
            ("ftp://h", "ftp://h"),
            ("http://", "http://"),
            ("http:///", "http:///"),
        ];
        for (given, used) in cases {
            assert_eq!(api_base_url(given), used, "{given}");
        }
        let cli = parse(&["--base-url", "http://127.0.0.1:8080", "accounts", "list"]).unwrap();
        assert_eq!(cli.base_url, "http://127.0.0.1:8080/api/v1");
        let cli = parse(&["accounts", "list"]).unwrap();
        assert_eq!(cli.base_url, DEFAULT_BASE_URL);
    }

    #[test]
    fn enum_flags_take_the_wire_names() {
        let cli = parse(&[
            "transfers",
            "list",
            "--account",
            "a",
            "--role",
            "source",
            "--direction",
            "money_out",
            "--status",
            "pending_approval",
            "--origin",
            "external_pull",
            "--mode",
            "all",
        ])
        .unwrap();
        let Command::Transfers(TransfersCommand::List(args)) = cli.command else { panic!() };
        assert_eq!(args.role, Some(types::AccountRole::Source));
        assert_eq!(args.direction, Some(types::TransferDirection::MoneyOut));
        assert_eq!(args.status, Some(types::TransferStatus::PendingApproval));
        assert_eq!(args.origin, Some(types::TransferOrigin::ExternalPull));
        assert_eq!(args.mode, Some(types::ExecutionMode::All));
        let error = parse(&["transfers", "list", "--account", "a", "--status", "Pending"])
            .unwrap_err()
            .to_string();
        assert!(error.contains("invalid value 'Pending' for '--status <STATUS>'"), "{error}");
        assert!(error.contains("[possible values: pending_approval, processing,"), "{error}");
        assert!(error.contains("a similar value exists: 'pending'"), "{error}");
    }

    #[test]
    fn card_commands_parse() {
        let cli = parse(&[
            "sandbox",
            "card-purchase",
            "card_1",
            "--amount",
            "45.99",
            "--merchant",
            "Blue Bottle",
        ])
        .unwrap();
        let Command::Sandbox(SandboxCommand::CardPurchase(args)) = cli.command else { panic!() };
        assert_eq!(
            (args.id.as_str(), args.amount, args.merchant.as_str()),
            ("card_1", 4_599, "Blue Bottle")
        );
        let cli = parse(&["sandbox", "card-refund", "card_1", "--purchase", "ctx_1"]).unwrap();
        let Command::Sandbox(SandboxCommand::CardRefund(args)) = cli.command else { panic!() };
        assert_eq!(args.amount, None, "everything left, by default");
        let cli =
            parse(&["sandbox", "card-issue", "--account", "acc_1", "--type", "physical"]).unwrap();
        let Command::Sandbox(SandboxCommand::CardIssue(args)) = cli.command else { panic!() };
        assert_eq!(args.type_, types::CardType::Physical);
        let cli = parse(&[
            "cards",
            "transactions",
            "card_1",
            "--direction",
            "credit",
            "--from",
            "2024-04-01T00:00:00Z",
            "--all",
        ])
        .unwrap();
        let Command::Cards(CardsCommand::Transactions(args)) = cli.command else { panic!() };
        assert_eq!(args.direction, Some(types::CardTransactionDirection::Credit));
        assert!(args.from.is_some() && args.page.all);
        let error = parse(&["cards", "list", "--account", "a", "--status", "closed"])
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("[possible values: active, inactive, frozen, stolen, lost]"),
            "{error}"
        );
    }

    #[test]
    fn thresholds_and_durations() {
        let cli = parse(&["sandbox", "approval-threshold", "none"]).unwrap();
        assert!(matches!(
            cli.command,
            Command::Sandbox(SandboxCommand::ApprovalThreshold { amount: Threshold::None })
        ));
        let cli = parse(&["sandbox", "advance", "1d12h"]).unwrap();
        assert!(matches!(
            cli.command,
            Command::Sandbox(SandboxCommand::Advance { duration: 129_600 })
        ));
        assert_eq!(parse(&["sandbox", "advance", "90"]).unwrap_err().exit_code(), 2);
        let cli = parse(&[
            "sandbox",
            "external-account",
            "--name",
            "n",
            "--type",
            "liability",
            "--institution",
            "i",
            "--balance",
            "1",
            "--due-date",
            "2024-05-15",
        ])
        .unwrap();
        let Command::Sandbox(SandboxCommand::ExternalAccount(args)) = cli.command else { panic!() };
        assert_eq!(args.type_, types::ExternalAccountType::Liability);
    }
}
