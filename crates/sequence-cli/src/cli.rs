//! The command line, declared with clap's derive API.

use clap::{Args, Parser, Subcommand, ValueEnum};
use sequence_client::{DEFAULT_BASE_URL, types};

use crate::amount::parse_dollars;
use crate::duration::parse_duration;

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
  sequence sandbox advance 5d

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

    /// Base URL of the API, including the `/api/v1` prefix.
    #[arg(
        long,
        env = "SEQUENCE_BASE_URL",
        hide_env_values = true,
        default_value = DEFAULT_BASE_URL,
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
    /// Sandbox-only stand-ins for people and the outside world (server started with --sandbox or
    /// --demo).
    #[command(subcommand)]
    Sandbox(SandboxCommand),
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
        #[arg(long = "type", value_enum)]
        type_: Option<AccountTypeArg>,
    },
    /// Show one account, with its balance.
    #[command(after_help = "Example:\n  sequence accounts get acc_01HDEF0123")]
    Get {
        /// Account ID (`acc_…`).
        id: String,
    },
}

/// Account types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
#[value(rename_all = "snake_case")]
pub enum AccountTypeArg {
    /// Where money lands from outside (payroll, deposits).
    IncomeSource,
    /// A sub-account holding money at Sequence.
    Pod,
    /// An account at another institution.
    ExternalAccount,
}

impl From<AccountTypeArg> for types::AccountType {
    fn from(value: AccountTypeArg) -> Self {
        match value {
            AccountTypeArg::IncomeSource => types::AccountType::IncomeSource,
            AccountTypeArg::Pod => types::AccountType::Pod,
            AccountTypeArg::ExternalAccount => types::AccountType::ExternalAccount,
        }
    }
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
    #[arg(long, value_enum)]
    pub role: Option<RoleArg>,
    /// Only transfers in this direction.
    #[arg(long, value_enum)]
    pub direction: Option<DirectionArg>,
    /// Only transfers with this status.
    #[arg(long, value_enum)]
    pub status: Option<TransferStatusArg>,
    /// Only transfers with this origin.
    #[arg(long, value_enum)]
    pub origin: Option<OriginArg>,
    /// Live records (default), simulated ones, or both.
    #[arg(long, value_enum)]
    pub mode: Option<ModeArg>,
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

/// Account roles in a transfer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
#[value(rename_all = "snake_case")]
pub enum RoleArg {
    /// The account sends.
    Source,
    /// The account receives.
    Destination,
    /// Either (API default).
    Either,
}

impl From<RoleArg> for types::AccountRole {
    fn from(value: RoleArg) -> Self {
        match value {
            RoleArg::Source => types::AccountRole::Source,
            RoleArg::Destination => types::AccountRole::Destination,
            RoleArg::Either => types::AccountRole::Either,
        }
    }
}

/// Transfer directions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
#[value(rename_all = "snake_case")]
pub enum DirectionArg {
    /// Money arriving from outside Sequence.
    MoneyIn,
    /// Money leaving Sequence.
    MoneyOut,
    /// Between accounts at Sequence.
    Internal,
}

impl From<DirectionArg> for types::TransferDirection {
    fn from(value: DirectionArg) -> Self {
        match value {
            DirectionArg::MoneyIn => types::TransferDirection::MoneyIn,
            DirectionArg::MoneyOut => types::TransferDirection::MoneyOut,
            DirectionArg::Internal => types::TransferDirection::Internal,
        }
    }
}

/// Transfer statuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
#[value(rename_all = "snake_case")]
pub enum TransferStatusArg {
    /// Waiting for a person to approve or decline it.
    PendingApproval,
    /// Accepted, not yet sent.
    Processing,
    /// Sent, not yet settled.
    Pending,
    /// Settled.
    Complete,
    /// Failed (see its error code).
    Error,
    /// Declined or cancelled.
    Cancelled,
}

impl From<TransferStatusArg> for types::TransferStatus {
    fn from(value: TransferStatusArg) -> Self {
        match value {
            TransferStatusArg::PendingApproval => types::TransferStatus::PendingApproval,
            TransferStatusArg::Processing => types::TransferStatus::Processing,
            TransferStatusArg::Pending => types::TransferStatus::Pending,
            TransferStatusArg::Complete => types::TransferStatus::Complete,
            TransferStatusArg::Error => types::TransferStatus::Error,
            TransferStatusArg::Cancelled => types::TransferStatus::Cancelled,
        }
    }
}

/// Transfer origins.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
#[value(rename_all = "snake_case")]
pub enum OriginArg {
    /// A paycheck deposit.
    Paycheck,
    /// A check deposit.
    CheckDeposit,
    /// Cashback.
    Cashback,
    /// Pulled by the user.
    UserPull,
    /// Created by a rule.
    Rule,
    /// A manual transfer.
    User,
    /// Pulled by an outside party.
    ExternalPull,
}

impl From<OriginArg> for types::TransferOrigin {
    fn from(value: OriginArg) -> Self {
        match value {
            OriginArg::Paycheck => types::TransferOrigin::Paycheck,
            OriginArg::CheckDeposit => types::TransferOrigin::CheckDeposit,
            OriginArg::Cashback => types::TransferOrigin::Cashback,
            OriginArg::UserPull => types::TransferOrigin::UserPull,
            OriginArg::Rule => types::TransferOrigin::Rule,
            OriginArg::User => types::TransferOrigin::User,
            OriginArg::ExternalPull => types::TransferOrigin::ExternalPull,
        }
    }
}

/// Which records a list returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
#[value(rename_all = "snake_case")]
pub enum ModeArg {
    /// Only live records (API default).
    Live,
    /// Only simulated (dry-run) records.
    Simulation,
    /// Both.
    All,
}

impl From<ModeArg> for types::ExecutionMode {
    fn from(value: ModeArg) -> Self {
        match value {
            ModeArg::Live => types::ExecutionMode::Live,
            ModeArg::Simulation => types::ExecutionMode::Simulation,
            ModeArg::All => types::ExecutionMode::All,
        }
    }
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
    #[arg(long, value_enum)]
    pub status: Option<ExecutionStatusArg>,
    /// Only executions started this way.
    #[arg(long, value_enum)]
    pub trigger: Option<ExecutionTriggerArg>,
    /// Live records (default), simulated ones, or both.
    #[arg(long, value_enum)]
    pub mode: Option<ModeArg>,
    #[command(flatten)]
    pub page: PageArgs,
}

/// Rule execution statuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
#[value(rename_all = "snake_case")]
pub enum ExecutionStatusArg {
    /// Still running.
    InProgress,
    /// Every transfer succeeded (or the conditions were not met).
    Executed,
    /// Some transfers failed.
    Partial,
    /// The run failed.
    Failed,
}

impl From<ExecutionStatusArg> for types::RuleExecutionStatus {
    fn from(value: ExecutionStatusArg) -> Self {
        match value {
            ExecutionStatusArg::InProgress => types::RuleExecutionStatus::InProgress,
            ExecutionStatusArg::Executed => types::RuleExecutionStatus::Executed,
            ExecutionStatusArg::Partial => types::RuleExecutionStatus::Partial,
            ExecutionStatusArg::Failed => types::RuleExecutionStatus::Failed,
        }
    }
}

/// How a rule execution was started.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
#[value(rename_all = "snake_case")]
pub enum ExecutionTriggerArg {
    /// `triggerRule`.
    Manual,
    /// The rule's schedule.
    Scheduled,
    /// Money arriving in the trigger account.
    OnFundsTransferred,
}

impl From<ExecutionTriggerArg> for types::RuleExecutionTriggerType {
    fn from(value: ExecutionTriggerArg) -> Self {
        match value {
            ExecutionTriggerArg::Manual => types::RuleExecutionTriggerType::Manual,
            ExecutionTriggerArg::Scheduled => types::RuleExecutionTriggerType::Scheduled,
            ExecutionTriggerArg::OnFundsTransferred => {
                types::RuleExecutionTriggerType::OnFundsTransferred
            }
        }
    }
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
    #[arg(long, value_enum)]
    pub origin: Option<DepositOriginArg>,
    /// Statement label: letters, digits and spaces, at most 10 characters.
    #[arg(long)]
    pub description: Option<String>,
    /// Idempotency key (1–255 of `A-Z a-z 0-9 . _ : / | -`); default: a fresh random key.
    #[arg(long)]
    pub idempotency_key: Option<String>,
}

/// Deposit origins.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
#[value(rename_all = "snake_case")]
pub enum DepositOriginArg {
    /// A paycheck.
    Paycheck,
    /// A check deposit.
    CheckDeposit,
    /// Cashback.
    Cashback,
}

impl From<DepositOriginArg> for types::DepositOrigin {
    fn from(value: DepositOriginArg) -> Self {
        match value {
            DepositOriginArg::Paycheck => types::DepositOrigin::Paycheck,
            DepositOriginArg::CheckDeposit => types::DepositOrigin::CheckDeposit,
            DepositOriginArg::Cashback => types::DepositOrigin::Cashback,
        }
    }
}

/// `sequence sandbox external-account`
#[derive(Debug, Clone, Args)]
pub struct ExternalAccountArgs {
    /// Display name (1–100 characters).
    #[arg(long)]
    pub name: String,
    /// Kind of account.
    #[arg(long = "type", value_enum, ignore_case = true)]
    pub type_: ExternalTypeArg,
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

/// External account kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
#[value(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ExternalTypeArg {
    /// A bank account (checking, savings).
    Depository,
    /// A brokerage or retirement account.
    Investment,
    /// A credit card or loan (can only receive payments).
    Liability,
}

impl From<ExternalTypeArg> for types::ExternalAccountType {
    fn from(value: ExternalTypeArg) -> Self {
        match value {
            ExternalTypeArg::Depository => types::ExternalAccountType::Depository,
            ExternalTypeArg::Investment => types::ExternalAccountType::Investment,
            ExternalTypeArg::Liability => types::ExternalAccountType::Liability,
        }
    }
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
        assert_eq!(args.type_, ExternalTypeArg::Liability);
    }
}
