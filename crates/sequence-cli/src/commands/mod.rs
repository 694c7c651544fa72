//! One function per command: each takes the parsed arguments, calls the API through
//! `sequence-client`, and returns the text to print on stdout.

use std::future::Future;

use sequence_client::{Client, Error, ResponseValue, types};

use crate::cli::{Cli, Command, PageArgs};
use crate::error::{CliError, Situation, from_client_error};

pub mod accounts;
pub mod audit;
pub mod cards;
pub mod executions;
pub mod rules;
pub mod sandbox;
pub mod transfers;
pub mod webhooks;

/// What every command needs: the client, where it points, and the output format.
#[derive(Debug)]
pub struct Ctx {
    /// The API client (with the API key installed).
    pub client: Client,
    /// The base URL, for messages.
    pub base_url: String,
    /// `--json`.
    pub json: bool,
}

impl Ctx {
    /// Builds the context from the global flags: the API key must be present, the base URL valid.
    pub fn from_cli(cli: &Cli) -> Result<Self, CliError> {
        let api_key = cli.api_key.as_deref().filter(|key| !key.is_empty()).ok_or_else(|| {
            CliError::Usage {
                message: "no API key: pass --api-key KEY or set SEQUENCE_API_KEY".to_string(),
                hint: Some(
                    "keys look like seqk_…; the server prints one when started with --demo"
                        .to_string(),
                ),
            }
        })?;
        let client = sequence_client::client_with_api_key(&cli.base_url, api_key).map_err(|e| {
            let flag = match e {
                sequence_client::ClientBuildError::EmptyApiKey
                | sequence_client::ClientBuildError::InvalidApiKey => "--api-key",
                _ => "--base-url",
            };
            CliError::usage(format!("{flag}: {e}"))
        })?;
        Ok(Ctx { client, base_url: cli.base_url.clone(), json: cli.json })
    }

    /// Awaits an API call and takes the body out of the response, turning failures into
    /// [`CliError`]s with hints that fit the `situation`.
    pub async fn call<T>(
        &self,
        situation: Call<'_>,
        request: impl Future<Output = Result<ResponseValue<T>, Error<types::ErrorResponse>>>,
    ) -> Result<T, CliError> {
        match request.await {
            Ok(response) => Ok(response.into_inner()),
            Err(error) => {
                let situation = Situation {
                    base_url: &self.base_url,
                    sandbox: situation.sandbox,
                    idempotency_key: situation.idempotency_key,
                };
                Err(from_client_error(error, &situation).await)
            }
        }
    }
}

/// Per-call facts used to choose error hints.
#[derive(Debug, Clone, Copy, Default)]
pub struct Call<'a> {
    /// A `/sandbox` operation.
    pub sandbox: bool,
    /// The idempotency key sent, for mutating operations.
    pub idempotency_key: Option<&'a str>,
}

impl Call<'_> {
    /// A plain read.
    pub const READ: Call<'static> = Call { sandbox: false, idempotency_key: None };
    /// A sandbox operation without an idempotency key.
    pub const SANDBOX: Call<'static> = Call { sandbox: true, idempotency_key: None };
}

/// Runs the parsed command and returns its stdout text.
pub async fn execute(cli: &Cli) -> Result<String, CliError> {
    let ctx = Ctx::from_cli(cli)?;
    match &cli.command {
        Command::Accounts(command) => accounts::run(&ctx, command).await,
        Command::Transfers(command) => transfers::run(&ctx, command).await,
        Command::Rules(command) => rules::run(&ctx, command).await,
        Command::Executions(command) => executions::run(&ctx, command).await,
        Command::Cards(command) => cards::run(&ctx, command).await,
        Command::Sandbox(command) => sandbox::run(&ctx, command).await,
        Command::Audit(command) => audit::run(&ctx, command).await,
        Command::Webhooks(command) => webhooks::run(&ctx, command).await,
    }
}

/// Rejects an idempotency key the API would reject, before anything is sent.
pub(crate) fn check_idempotency_key(key: &str) -> Result<(), CliError> {
    types::IdempotencyKeyValue::try_from(key).map(drop).map_err(|_| {
        CliError::usage(format!(
            "--idempotency-key {key:?}: use 1–255 characters from A-Z a-z 0-9 . _ : / | -"
        ))
    })
}

/// Rejects a statement label the API would reject, before anything is sent.
pub(crate) fn check_description(description: &str) -> Result<(), CliError> {
    let valid = description.chars().count() <= 10
        && description.chars().all(|c| c.is_ascii_alphanumeric() || c == ' ');
    if valid {
        Ok(())
    } else {
        Err(CliError::usage(format!(
            "--description {description:?}: use at most 10 letters, digits and spaces"
        )))
    }
}

/// Page size used by `--all` when `--first` is not given: the API maximum, for the fewest round
/// trips.
pub(crate) const ALL_PAGE_SIZE: u32 = 100;

/// The `first` to send: `--first` as given, or [`ALL_PAGE_SIZE`] when walking every page.
pub(crate) fn page_size(page: &PageArgs) -> Option<u32> {
    page.first.or(page.all.then_some(ALL_PAGE_SIZE))
}

/// The page after `--after`, or with `--all` every page from there. `fetch` gets the cursor to
/// continue from and returns one page.
pub(crate) async fn fetch_pages<T, F, Fut>(
    page: &PageArgs,
    mut fetch: F,
) -> Result<(Vec<T>, types::PageInfo), CliError>
where
    F: FnMut(Option<String>) -> Fut,
    Fut: Future<Output = Result<(Vec<T>, types::PageInfo), CliError>>,
{
    if page.all {
        walk_pages(page.after.clone(), fetch).await
    } else {
        fetch(page.after.clone()).await
    }
}

/// Fetches pages until the last one, starting after `after`. `fetch` gets the cursor to continue
/// from and returns one page. Returns every item and the last page's `page_info` (so
/// `has_next_page` is false).
async fn walk_pages<T, F, Fut>(
    mut after: Option<String>,
    mut fetch: F,
) -> Result<(Vec<T>, types::PageInfo), CliError>
where
    F: FnMut(Option<String>) -> Fut,
    Fut: Future<Output = Result<(Vec<T>, types::PageInfo), CliError>>,
{
    let mut items = Vec::new();
    loop {
        let (page, page_info) = fetch(after.clone()).await?;
        items.extend(page);
        if !page_info.has_next_page {
            return Ok((items, page_info));
        }
        match &page_info.end_cursor {
            Some(cursor) if after.as_deref() != Some(cursor.as_str()) => {
                after = Some(cursor.clone())
            }
            _ => {
                return Err(CliError::Protocol {
                    message: "the server reported more pages without a new end_cursor".to_string(),
                });
            }
        }
    }
}
