//! `sequence rules …`

use sequence_client::new_idempotency_key;

use crate::cli::{RuleTriggerArgs, RulesCommand};
use crate::commands::{Call, Ctx, check_idempotency_key};
use crate::error::CliError;
use crate::render;

/// Runs a `rules` subcommand.
pub async fn run(ctx: &Ctx, command: &RulesCommand) -> Result<String, CliError> {
    match command {
        RulesCommand::List { source } => {
            let mut request = ctx.client.list_rules();
            if let Some(source) = source {
                request = request.source_id(source.as_str());
            }
            let response = ctx.call(Call::READ, request.send()).await?;
            Ok(if ctx.json {
                render::json(&response.data)
            } else {
                render::rules_table(&response.data)
            })
        }
        RulesCommand::Get { id } => {
            let response =
                ctx.call(Call::READ, ctx.client.get_rule().id(id.as_str()).send()).await?;
            Ok(if ctx.json {
                render::json(&response.data)
            } else {
                render::rule_details(&response.data)
            })
        }
        RulesCommand::Trigger(args) => trigger(ctx, args).await,
    }
}

async fn trigger(ctx: &Ctx, args: &RuleTriggerArgs) -> Result<String, CliError> {
    let key = args.idempotency_key.clone().unwrap_or_else(new_idempotency_key);
    check_idempotency_key(&key)?;
    let request = ctx
        .client
        .trigger_rule()
        .id(args.id.as_str())
        .idempotency_key(key.as_str())
        .body_map(|body| body.manual_execute_amount(args.amount).simulation(args.simulation));
    let call = Call { sandbox: false, idempotency_key: Some(&key) };
    let response = ctx.call(call, request.send()).await?;
    Ok(if ctx.json {
        render::json(&response.data)
    } else {
        render::triggered(&response.data, args.simulation)
    })
}
