//! `sequence audit …`

use crate::cli::{AuditCommand, AuditListArgs};
use crate::commands::{Call, Ctx, fetch_pages, page_size};
use crate::error::CliError;
use crate::render;

/// Runs an `audit` subcommand.
pub async fn run(ctx: &Ctx, command: &AuditCommand) -> Result<String, CliError> {
    match command {
        AuditCommand::List(args) => list(ctx, args).await,
    }
}

async fn list(ctx: &Ctx, args: &AuditListArgs) -> Result<String, CliError> {
    let mut request = ctx.client.list_audit_logs();
    if let Some(key) = &args.key {
        request = request.api_key_id(key.as_str());
    }
    if let Some(operation) = &args.operation {
        request = request.operation_id(operation.as_str());
    }
    if let Some(outcome) = args.outcome {
        request = request.outcome(outcome);
    }
    if let Some(since) = args.since {
        request = request.from(since);
    }
    if let Some(until) = args.until {
        request = request.to(until);
    }
    if let Some(first) = page_size(&args.page) {
        request = request.first(first);
    }
    let (entries, page_info) = fetch_pages(&args.page, |after| {
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
        render::json_page(&entries, &page_info)
    } else {
        format!("{}{}", render::audit_table(&entries), render::next_page_hint(&page_info))
    })
}
