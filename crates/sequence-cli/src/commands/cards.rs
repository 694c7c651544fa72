//! `sequence cards …`: a pod's cards, one card, and a card's purchases and refunds (the sandbox's
//! card issuer and network are `sequence sandbox card-…`, in `commands/sandbox.rs`).

use crate::cli::{CardListArgs, CardTransactionListArgs, CardsCommand};
use crate::commands::{Call, Ctx, fetch_pages, page_size};
use crate::error::CliError;
use crate::render;

/// Runs a `cards` subcommand.
pub async fn run(ctx: &Ctx, command: &CardsCommand) -> Result<String, CliError> {
    match command {
        CardsCommand::List(args) => list(ctx, args).await,
        CardsCommand::Get { id } => {
            let response =
                ctx.call(Call::READ, ctx.client.get_card().id(id.as_str()).send()).await?;
            Ok(if ctx.json {
                render::json(&response.data)
            } else {
                render::card_details(&response.data)
            })
        }
        CardsCommand::Transactions(args) => transactions(ctx, args).await,
    }
}

async fn list(ctx: &Ctx, args: &CardListArgs) -> Result<String, CliError> {
    let mut request = ctx.client.list_cards().account_id(args.account.as_str());
    if let Some(status) = args.status {
        request = request.status(status);
    }
    if let Some(type_) = args.type_ {
        request = request.type_(type_);
    }
    let response = ctx.call(Call::READ, request.send()).await?;
    Ok(if ctx.json { render::json(&response.data) } else { render::cards_table(&response.data) })
}

async fn transactions(ctx: &Ctx, args: &CardTransactionListArgs) -> Result<String, CliError> {
    let mut request = ctx.client.list_card_transactions().id(args.id.as_str());
    if let Some(direction) = args.direction {
        request = request.direction(direction);
    }
    if let Some(from) = args.from {
        request = request.from(from);
    }
    if let Some(to) = args.to {
        request = request.to(to);
    }
    if let Some(first) = page_size(&args.page) {
        request = request.first(first);
    }
    let (transactions, page_info) = fetch_pages(&args.page, |after| {
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
        render::json_page(&transactions, &page_info)
    } else {
        format!(
            "{}{}",
            render::card_transactions_table(&transactions),
            render::next_page_hint(&page_info)
        )
    })
}
