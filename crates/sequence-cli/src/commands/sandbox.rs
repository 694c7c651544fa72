//! `sequence sandbox …`: the sandbox extensions (only on a server started with `--sandbox` or
//! `--demo`), including the card issuer and network (`card-issue`, `card-purchase`, …).

use sequence_client::{new_idempotency_key, types};

use crate::cli::{
    CardIssueArgs, CardPurchaseArgs, CardRefundArgs, DepositArgs, ExternalAccountArgs,
    SandboxCommand, Threshold,
};
use crate::commands::{Call, Ctx, check_description, check_idempotency_key};
use crate::error::CliError;
use crate::render;

/// Runs a `sandbox` subcommand.
pub async fn run(ctx: &Ctx, command: &SandboxCommand) -> Result<String, CliError> {
    match command {
        SandboxCommand::Deposit(args) => deposit(ctx, args).await,
        SandboxCommand::ExternalAccount(args) => external_account(ctx, args).await,
        SandboxCommand::Approve { id } => {
            let request = ctx.client.approve_sandbox_transfer().id(id.as_str());
            let response = ctx.call(Call::SANDBOX, request.send()).await?;
            Ok(if ctx.json {
                render::json(&response.data)
            } else {
                render::transfer_details(&response.data)
            })
        }
        SandboxCommand::Decline { id } => {
            let request = ctx.client.decline_sandbox_transfer().id(id.as_str());
            let response = ctx.call(Call::SANDBOX, request.send()).await?;
            Ok(if ctx.json {
                render::json(&response.data)
            } else {
                render::transfer_details(&response.data)
            })
        }
        SandboxCommand::Advance { duration } => {
            let seconds = std::num::NonZeroU64::new(*duration)
                .ok_or_else(|| CliError::usage("the duration must be longer than zero"))?;
            let request = ctx.client.advance_sandbox_clock().body_map(|body| body.seconds(seconds));
            let response = ctx.call(Call::SANDBOX, request.send()).await?;
            Ok(if ctx.json {
                render::json(&response.data)
            } else {
                render::clock_details(&response.data)
            })
        }
        SandboxCommand::Org => {
            let response =
                ctx.call(Call::SANDBOX, ctx.client.get_sandbox_organization().send()).await?;
            Ok(if ctx.json {
                render::json(&response.data)
            } else {
                render::organization_details(&response.data)
            })
        }
        SandboxCommand::ApprovalThreshold { amount } => {
            let cents = match amount {
                Threshold::Cents(cents) => Some(*cents),
                Threshold::None => None,
            };
            let request = ctx
                .client
                .update_sandbox_organization()
                .body_map(|body| body.approval_threshold_in_cents(cents));
            let response = ctx.call(Call::SANDBOX, request.send()).await?;
            Ok(if ctx.json {
                render::json(&response.data)
            } else {
                render::organization_details(&response.data)
            })
        }
        SandboxCommand::RuleEnable { id } => {
            let request = ctx.client.enable_sandbox_rule().id(id.as_str());
            let response = ctx.call(Call::SANDBOX, request.send()).await?;
            Ok(if ctx.json {
                render::json(&response.data)
            } else {
                render::rule_details(&response.data)
            })
        }
        SandboxCommand::RuleDisable { id } => {
            let request = ctx.client.disable_sandbox_rule().id(id.as_str());
            let response = ctx.call(Call::SANDBOX, request.send()).await?;
            Ok(if ctx.json {
                render::json(&response.data)
            } else {
                render::rule_details(&response.data)
            })
        }
        SandboxCommand::CardIssue(args) => card_issue(ctx, args).await,
        SandboxCommand::CardActivate { id } => {
            let request = ctx.client.activate_sandbox_card().id(id.as_str());
            card(ctx, ctx.call(Call::SANDBOX, request.send()).await?.data)
        }
        SandboxCommand::CardFreeze { id } => {
            let request = ctx.client.freeze_sandbox_card().id(id.as_str());
            card(ctx, ctx.call(Call::SANDBOX, request.send()).await?.data)
        }
        SandboxCommand::CardUnfreeze { id } => {
            let request = ctx.client.unfreeze_sandbox_card().id(id.as_str());
            card(ctx, ctx.call(Call::SANDBOX, request.send()).await?.data)
        }
        SandboxCommand::CardReportLost { id } => {
            let request = ctx.client.report_sandbox_card_lost().id(id.as_str());
            card(ctx, ctx.call(Call::SANDBOX, request.send()).await?.data)
        }
        SandboxCommand::CardReportStolen { id } => {
            let request = ctx.client.report_sandbox_card_stolen().id(id.as_str());
            card(ctx, ctx.call(Call::SANDBOX, request.send()).await?.data)
        }
        SandboxCommand::CardPurchase(args) => card_purchase(ctx, args).await,
        SandboxCommand::CardRefund(args) => card_refund(ctx, args).await,
    }
}

fn card(ctx: &Ctx, card: types::Card) -> Result<String, CliError> {
    Ok(if ctx.json { render::json(&card) } else { render::card_details(&card) })
}

fn transaction(ctx: &Ctx, transaction: types::CardTransaction) -> Result<String, CliError> {
    Ok(if ctx.json {
        render::json(&transaction)
    } else {
        render::card_transaction_details(&transaction)
    })
}

/// `--amount` as the positive cents the card operations take.
fn positive_cents(amount: i64, what: &str) -> Result<std::num::NonZeroU64, CliError> {
    u64::try_from(amount)
        .ok()
        .and_then(std::num::NonZeroU64::new)
        .ok_or_else(|| CliError::usage(format!("--amount: a {what} must be more than $0.00")))
}

async fn card_issue(ctx: &Ctx, args: &CardIssueArgs) -> Result<String, CliError> {
    let holder = match &args.holder {
        Some(holder) => Some(
            types::SandboxCardRequestHolderName::try_from(holder.as_str())
                .map_err(|e| CliError::usage(format!("--holder: {e}")))?,
        ),
        None => None,
    };
    let key = args.idempotency_key.clone().unwrap_or_else(new_idempotency_key);
    check_idempotency_key(&key)?;
    let request = ctx.client.issue_sandbox_card().idempotency_key(key.as_str()).body_map(|body| {
        body.account_id(args.account.as_str()).type_(args.type_).holder_name(holder)
    });
    let call = Call { sandbox: true, idempotency_key: Some(&key) };
    card(ctx, ctx.call(call, request.send()).await?.data)
}

async fn card_purchase(ctx: &Ctx, args: &CardPurchaseArgs) -> Result<String, CliError> {
    let amount = positive_cents(args.amount, "purchase")?;
    let merchant = types::SandboxCardPurchaseRequestMerchantName::try_from(args.merchant.as_str())
        .map_err(|e| CliError::usage(format!("--merchant: {e}")))?;
    let description = match &args.description {
        Some(text) => Some(
            types::SandboxCardPurchaseRequestDescription::try_from(text.as_str())
                .map_err(|e| CliError::usage(format!("--description: {e}")))?,
        ),
        None => None,
    };
    let key = args.idempotency_key.clone().unwrap_or_else(new_idempotency_key);
    check_idempotency_key(&key)?;
    let request = ctx
        .client
        .create_sandbox_card_purchase()
        .id(args.id.as_str())
        .idempotency_key(key.as_str())
        .body_map(|body| {
            body.amount_in_cents(amount).merchant_name(merchant).description(description)
        });
    let call = Call { sandbox: true, idempotency_key: Some(&key) };
    transaction(ctx, ctx.call(call, request.send()).await?.data)
}

async fn card_refund(ctx: &Ctx, args: &CardRefundArgs) -> Result<String, CliError> {
    let amount = args.amount.map(|amount| positive_cents(amount, "refund")).transpose()?;
    let purchase = types::SandboxCardRefundRequestPurchaseId::try_from(args.purchase.as_str())
        .map_err(|e| CliError::usage(format!("--purchase: {e}")))?;
    let description = match &args.description {
        Some(text) => Some(
            types::SandboxCardRefundRequestDescription::try_from(text.as_str())
                .map_err(|e| CliError::usage(format!("--description: {e}")))?,
        ),
        None => None,
    };
    let key = args.idempotency_key.clone().unwrap_or_else(new_idempotency_key);
    check_idempotency_key(&key)?;
    let request = ctx
        .client
        .create_sandbox_card_refund()
        .id(args.id.as_str())
        .idempotency_key(key.as_str())
        .body_map(|body| {
            body.purchase_id(purchase).amount_in_cents(amount).description(description)
        });
    let call = Call { sandbox: true, idempotency_key: Some(&key) };
    transaction(ctx, ctx.call(call, request.send()).await?.data)
}

async fn deposit(ctx: &Ctx, args: &DepositArgs) -> Result<String, CliError> {
    let amount = u64::try_from(args.amount)
        .ok()
        .and_then(std::num::NonZeroU64::new)
        .ok_or_else(|| CliError::usage("--amount: a deposit must be more than $0.00"))?;
    let description = match &args.description {
        Some(description) => {
            check_description(description)?;
            Some(
                types::SandboxDepositRequestDescription::try_from(description.as_str())
                    .map_err(|e| CliError::usage(format!("--description: {e}")))?,
            )
        }
        None => None,
    };
    let key = args.idempotency_key.clone().unwrap_or_else(new_idempotency_key);
    check_idempotency_key(&key)?;
    let request =
        ctx.client.create_sandbox_deposit().idempotency_key(key.as_str()).body_map(|body| {
            body.account_id(args.account.as_str())
                .amount_in_cents(amount)
                .origin(args.origin)
                .description(description)
        });
    let call = Call { sandbox: true, idempotency_key: Some(&key) };
    let response = ctx.call(call, request.send()).await?;
    Ok(if ctx.json {
        render::json(&response.data)
    } else {
        render::transfer_details(&response.data)
    })
}

async fn external_account(ctx: &Ctx, args: &ExternalAccountArgs) -> Result<String, CliError> {
    let request = ctx.client.create_sandbox_external_account().body_map(|body| {
        body.name(args.name.as_str())
            .external_account_type(args.type_)
            .institution_name(args.institution.as_str())
            .balance_in_cents(args.balance)
            .last_statement_balance_in_cents(args.statement_balance)
            .next_payment_minimum_in_cents(args.minimum_payment)
            .next_payment_due_date(args.due_date)
    });
    let response = ctx.call(Call::SANDBOX, request.send()).await?;
    Ok(if ctx.json {
        render::json(&response.data)
    } else {
        render::account_details(&response.data)
    })
}
