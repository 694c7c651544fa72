//! `sequence transfers …`

use sequence_client::{new_idempotency_key, types};

use crate::cli::{TransferCreateArgs, TransferListArgs, TransfersCommand};
use crate::commands::{
    Call, Ctx, check_description, check_idempotency_key, fetch_pages, page_size,
};
use crate::error::CliError;
use crate::render;

/// Runs a `transfers` subcommand.
pub async fn run(ctx: &Ctx, command: &TransfersCommand) -> Result<String, CliError> {
    match command {
        TransfersCommand::Create(args) => create(ctx, args).await,
        TransfersCommand::List(args) => list(ctx, args).await,
        TransfersCommand::Get { id } => {
            let response =
                ctx.call(Call::READ, ctx.client.get_transfer().id(id.as_str()).send()).await?;
            Ok(if ctx.json {
                render::json(&response.data)
            } else {
                render::transfer_details(&response.data)
            })
        }
    }
}

async fn create(ctx: &Ctx, args: &TransferCreateArgs) -> Result<String, CliError> {
    let key = args.idempotency_key.clone().unwrap_or_else(new_idempotency_key);
    check_idempotency_key(&key)?;
    let description = match &args.description {
        Some(description) => {
            check_description(description)?;
            Some(
                types::CreateTransferRequestDescription::try_from(description.as_str())
                    .map_err(|e| CliError::usage(format!("--description: {e}")))?,
            )
        }
        None => None,
    };
    let request = ctx.client.create_transfer().idempotency_key(key.as_str()).body_map(|body| {
        body.source_account_id(args.from.as_str())
            .destination_account_id(args.to.as_str())
            .amount_in_cents(args.amount)
            .description(description)
            .simulation(args.simulation)
    });
    let call = Call { sandbox: false, idempotency_key: Some(&key) };
    let response = ctx.call(call, request.send()).await?;
    Ok(if ctx.json {
        render::json(&response.data)
    } else {
        render::transfer_details(&response.data)
    })
}

async fn list(ctx: &Ctx, args: &TransferListArgs) -> Result<String, CliError> {
    let mut request = ctx.client.list_transfers().account_id(args.account.as_str());
    if let Some(role) = args.role {
        request = request.account_role(role);
    }
    if let Some(direction) = args.direction {
        request = request.direction(direction);
    }
    if let Some(status) = args.status {
        request = request.status(status);
    }
    if let Some(origin) = args.origin {
        request = request.origin(origin);
    }
    if let Some(mode) = args.mode {
        request = request.execution_mode(mode);
    }
    if let Some(first) = page_size(&args.page) {
        request = request.first(first);
    }
    let (transfers, page_info) = fetch_pages(&args.page, |after| {
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
        render::json_page(&transfers, &page_info)
    } else {
        format!("{}{}", render::transfers_table(&transfers), render::next_page_hint(&page_info))
    })
}
