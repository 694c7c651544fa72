//! `sequence executions …`

use sequence_client::types;

use crate::cli::{ExecutionListArgs, ExecutionsCommand};
use crate::commands::transfers::ALL_PAGE_SIZE;
use crate::commands::{Call, Ctx, walk_pages};
use crate::error::CliError;
use crate::render;

/// Runs an `executions` subcommand.
pub async fn run(ctx: &Ctx, command: &ExecutionsCommand) -> Result<String, CliError> {
    match command {
        ExecutionsCommand::List(args) => list(ctx, args).await,
        ExecutionsCommand::Get { id } => {
            let request = ctx.client.get_rule_execution().id(id.as_str());
            let response = ctx.call(Call::READ, request.send()).await?;
            Ok(if ctx.json {
                render::json(&response.data)
            } else {
                render::execution_details(&response.data)
            })
        }
    }
}

async fn list(ctx: &Ctx, args: &ExecutionListArgs) -> Result<String, CliError> {
    let mut request = ctx.client.list_rule_executions().rule_id(args.rule.as_str());
    if let Some(status) = args.status {
        request = request.status(types::RuleExecutionStatus::from(status));
    }
    if let Some(trigger) = args.trigger {
        request = request.trigger_type(types::RuleExecutionTriggerType::from(trigger));
    }
    if let Some(mode) = args.mode {
        request = request.execution_mode(types::ExecutionMode::from(mode));
    }
    if let Some(first) = args.page.first.or(args.page.all.then_some(ALL_PAGE_SIZE)) {
        request = request.first(first);
    }
    let (executions, page_info) = if args.page.all {
        walk_pages(args.page.after.clone(), |after| {
            let request = match &after {
                Some(cursor) => request.clone().after(cursor.as_str()),
                None => request.clone(),
            };
            async move {
                let page = ctx.call(Call::READ, request.send()).await?;
                Ok((page.data, page.page_info))
            }
        })
        .await?
    } else {
        if let Some(after) = &args.page.after {
            request = request.after(after.as_str());
        }
        let page = ctx.call(Call::READ, request.send()).await?;
        (page.data, page.page_info)
    };
    Ok(if ctx.json {
        render::json_page(&executions, &page_info)
    } else {
        format!("{}{}", render::executions_table(&executions), render::next_page_hint(&page_info))
    })
}
