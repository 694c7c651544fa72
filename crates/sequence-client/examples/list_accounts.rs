//! Lists the organization's accounts.
//!
//! ```text
//! SEQUENCE_API_KEY=<key> cargo run -p sequence-client --example list_accounts
//! ```
//!
//! `SEQUENCE_BASE_URL` overrides the server (default `http://127.0.0.1:8080/api/v1`; start one
//! with `cargo run -p sequence-server -- serve --demo`).

use std::process::ExitCode;

use sequence_client::{
    API_KEY_ENV, BASE_URL_ENV, DEFAULT_BASE_URL, Error, client_with_api_key, types,
};

#[tokio::main]
async fn main() -> ExitCode {
    let Ok(api_key) = std::env::var(API_KEY_ENV) else {
        eprintln!(
            "error: set {API_KEY_ENV} to an API key (e.g. {API_KEY_ENV}=seqk_… cargo run -p sequence-client --example list_accounts)"
        );
        return ExitCode::from(2);
    };
    let base_url = std::env::var(BASE_URL_ENV).unwrap_or_else(|_| DEFAULT_BASE_URL.to_string());

    let client = match client_with_api_key(&base_url, &api_key) {
        Ok(client) => client,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };

    match client.list_accounts().send().await {
        Ok(response) => {
            for account in &response.data {
                print_account(account);
            }
            println!("{} account(s) (request {})", response.data.len(), response.request_id);
            ExitCode::SUCCESS
        }
        Err(Error::ErrorResponse(e)) => {
            // `request_id` is optional: this server always sends one, production's
            // documented errors do not.
            eprintln!(
                "error: {}: {} (request_id {}, HTTP {})",
                e.error.code,
                e.error.message,
                e.request_id.as_deref().unwrap_or("none"),
                e.status().as_u16()
            );
            ExitCode::from(1)
        }
        Err(Error::CommunicationError(e)) => {
            eprintln!("error: could not reach {base_url}: {e}");
            ExitCode::from(3)
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
}

fn print_account(account: &types::AccountSummary) {
    let kind = match account.external_account_type {
        Some(external) => format!("{} ({external})", account.type_),
        None => account.type_.to_string(),
    };
    println!("{:<28} {:<30} {}", account.id.as_str(), kind, account.name);
}
