//! `sequence accounts …`

use crate::cli::AccountsCommand;
use crate::commands::{Call, Ctx};
use crate::error::CliError;
use crate::render;

/// Runs an `accounts` subcommand.
pub async fn run(ctx: &Ctx, command: &AccountsCommand) -> Result<String, CliError> {
    match command {
        AccountsCommand::List { type_ } => {
            let mut request = ctx.client.list_accounts();
            if let Some(type_) = type_ {
                request = request.type_(*type_);
            }
            let response = ctx.call(Call::READ, request.send()).await?;
            Ok(if ctx.json {
                render::json(&response.data)
            } else {
                render::accounts_table(&response.data)
            })
        }
        AccountsCommand::Get { id } => {
            let response =
                ctx.call(Call::READ, ctx.client.get_account().id(id.as_str()).send()).await?;
            Ok(if ctx.json {
                render::json(&response.data)
            } else {
                render::account_details(&response.data)
            })
        }
    }
}
