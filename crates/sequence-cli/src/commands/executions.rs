//! `sequence executions …`

use crate::cli::{ExecutionListArgs, ExecutionsCommand};
use crate::commands::{Call, Ctx, fetch_pages, page_size};
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
        request = request.status(status);
    }
    if let Some(trigger) = args.trigger {
        request = request.trigger_type(trigger);
    }
    if let Some(mode) = args.mode {
        request = request.execution_mode(mode);
    }
    if let Some(first) = page_size(&args.page) {
        request = request.first(first);
    }
    let (executions, page_info) = fetch_pages(&args.page, |after| {
        let request = match &after {
            Some(cursor) => request.clone().after(cursor.as_str()),
            None => request.clone(),
        };
        async move {
            let page = ctx.call(Call::READ, request.send()).await?;
            Ok((page.data, page.page_info))
        }
    })
    .await?;
    Ok(if ctx.json {
        render::json_page(&executions, &page_info)
    } else {
        format!("{}{}", render::executions_table(&executions), render::next_page_hint(&page_info))
    })
}
