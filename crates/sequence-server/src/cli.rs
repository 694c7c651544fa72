//! The `sequence-server` command line: run the server, and administer organizations and keys.
//!
//! Administrative commands print only the new id or key on stdout (logs and hints go to
//! stderr), so scripts can capture them: `KEY=$(sequence-server keys create …)`.

use std::net::SocketAddr;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use sequence_core::ids::{ApiKeyId, OrgId};
use sequence_core::permissions::Permissions;
use sequence_store::orgs::{self, Organization};
use sequence_store::{Store, StoreError, keys};

/// Exit code for invalid input (bad permissions JSON, unknown organization, …).
const EXIT_USAGE: u8 = 2;

/// The Sequence API server and its administration commands.
#[derive(Parser, Debug)]
#[command(name = "sequence-server", version, about)]
pub struct Cli {
    #[command(flatten)]
    pub database: DatabaseArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Where the data lives.
#[derive(Args, Debug, Clone)]
pub struct DatabaseArgs {
    /// Database URL: `sqlite://FILE` (created if missing) or `postgres://USER@HOST/DB`.
    #[arg(
        long = "database",
        env = "SEQUENCE_DATABASE_URL",
        default_value = "sqlite://sequence.db",
        global = true
    )]
    pub url: String,
}

/// What to do.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the HTTP server.
    Serve(ServeArgs),
    /// Manage organizations.
    #[command(subcommand)]
    Orgs(OrgsCommand),
    /// Manage API keys.
    #[command(subcommand)]
    Keys(KeysCommand),
}

/// `serve` options.
#[derive(Args, Debug, Clone)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "SEQUENCE_BIND", default_value = "127.0.0.1:8080")]
    pub bind: SocketAddr,
    /// Seed a demo organization (if the database has none) and print an API key holding every
    /// scope. Implies --sandbox.
    #[arg(long)]
    pub demo: bool,
    /// Serve the sandbox controls under /api/v1/sandbox (deposits, clock, approvals).
    #[arg(long)]
    pub sandbox: bool,
    /// Requests per minute each API key may make on this server (a token bucket of this size,
    /// refilled at this rate); 0 turns rate limiting off. Each replica counts on its own.
    #[arg(long, env = "SEQUENCE_RATE_LIMIT", default_value_t = crate::rate_limit::DEFAULT_PER_MINUTE)]
    pub rate_limit: u32,
}

/// `orgs` subcommands.
#[derive(Subcommand, Debug)]
pub enum OrgsCommand {
    /// Create an organization; prints its id.
    Create {
        /// Its name (also the beneficiary name of its accounts).
        #[arg(long)]
        name: String,
    },
}

/// `keys` subcommands.
#[derive(Subcommand, Debug)]
pub enum KeysCommand {
    /// Create an API key; prints the key (shown only this once).
    Create {
        /// The organization (`org_…`).
        #[arg(long)]
        org: String,
        /// A name to recognise the key by.
        #[arg(long)]
        name: String,
        /// Permission entries as JSON, e.g.
        /// '[{"scope":"LIST_ACCOUNTS"},{"scope":"READ_ACCOUNTS","resources":["*"]}]'.
        #[arg(long)]
        permissions: String,
    },
    /// List an organization's keys.
    List {
        /// The organization (`org_…`).
        #[arg(long)]
        org: String,
    },
    /// Revoke a key; running servers refuse it within 5 seconds (they cache verified keys that
    /// long).
    Revoke {
        /// The key's id (`key_…`).
        key_id: String,
    },
    /// Print the JSON Schema of the --permissions document (for editors and scripts); needs no
    /// database.
    Schema,
}

/// Runs a parsed command line.
pub async fn run(cli: Cli) -> ExitCode {
    init_tracing();
    let result = match cli.command {
        Command::Serve(args) => crate::server_main::serve(&cli.database.url, args).await,
        Command::Orgs(command) => orgs_command(&cli.database.url, command).await,
        Command::Keys(command) => keys_command(&cli.database.url, command).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(CliError::Usage(message)) => {
            eprintln!("error: {message}");
            ExitCode::from(EXIT_USAGE)
        }
        Err(CliError::Failed(error)) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// A command's failure: the user's input (exit 2) or anything else (exit 1).
#[derive(Debug)]
pub enum CliError {
    /// Bad input; the message says what to fix.
    Usage(String),
    /// Anything else.
    Failed(anyhow::Error),
}

impl<E: Into<anyhow::Error>> From<E> for CliError {
    fn from(error: E) -> Self {
        CliError::Failed(error.into())
    }
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn,tower_http=info"));
    let _ =
        tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).try_init();
}

async fn orgs_command(url: &str, command: OrgsCommand) -> Result<(), CliError> {
    let store = Store::connect(url).await?;
    match command {
        OrgsCommand::Create { name } => {
            let name = name.trim();
            if name.is_empty() || name.chars().count() > 200 {
                return Err(CliError::Usage("--name must be 1 to 200 characters".to_owned()));
            }
            let org = Organization::new(name, chrono::Utc::now());
            let mut tx = store.begin().await?;
            orgs::insert(&mut tx, &org).await?;
            tx.commit().await?;
            println!("{}", org.id);
        }
    }
    Ok(())
}

/// The JSON Schema of the `--permissions` document, pretty-printed.
pub fn permissions_schema() -> String {
    serde_json::to_string_pretty(&Permissions::json_schema_document())
        .expect("a JSON Schema serializes")
}

async fn keys_command(url: &str, command: KeysCommand) -> Result<(), CliError> {
    if matches!(command, KeysCommand::Schema) {
        println!("{}", permissions_schema());
        return Ok(());
    }
    let store = Store::connect(url).await?;
    match command {
        KeysCommand::Schema => unreachable!("printed above, without a database"),
        KeysCommand::Create { org, name, permissions } => {
            let permissions = Permissions::from_json(&permissions).map_err(|e| {
                CliError::Usage(format!(
                    "invalid --permissions: {e} (its JSON Schema: `sequence-server keys schema`)"
                ))
            })?;
            let name = name.trim();
            if name.is_empty() || name.chars().count() > 200 {
                return Err(CliError::Usage("--name must be 1 to 200 characters".to_owned()));
            }
            let org = OrgId::from_raw(org);
            let minted = crate::auth::mint(&org, name, &permissions, chrono::Utc::now());
            let mut tx = store.begin().await?;
            match keys::insert(&mut tx, &minted.record).await {
                Err(StoreError::NotFound) => {
                    return Err(CliError::Usage(format!("no organization `{org}`")));
                }
                other => other?,
            }
            tx.commit().await?;
            eprintln!("created {} for {org}; the key below is shown only once", minted.record.id);
            println!("{}", minted.plaintext);
        }
        KeysCommand::List { org } => {
            let org = OrgId::from_raw(org);
            let mut conn = store.pool().acquire().await?;
            if orgs::get(&mut conn, &org).await.is_err() {
                return Err(CliError::Usage(format!("no organization `{org}`")));
            }
            let keys = keys::list(&mut conn, &org).await?;
            println!("{:<32}  {:<24}  {:<20}  {:<20}  SCOPES", "ID", "NAME", "CREATED", "REVOKED");
            for key in keys {
                let scopes = Permissions::from_json(&key.permissions_json)
                    .map(|p| {
                        p.entries().iter().map(|e| e.scope.as_str()).collect::<Vec<_>>().join(",")
                    })
                    .unwrap_or_else(|_| "(unreadable)".to_owned());
                let revoked = key
                    .revoked_at
                    .map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
                    .unwrap_or("-".to_owned());
                println!(
                    "{:<32}  {:<24}  {:<20}  {:<20}  {scopes}",
                    key.id,
                    key.name,
                    key.created_at.format("%Y-%m-%dT%H:%M:%SZ"),
                    revoked
                );
            }
        }
        KeysCommand::Revoke { key_id } => {
            let id = ApiKeyId::from_raw(key_id);
            let mut tx = store.begin().await?;
            match keys::revoke(&mut tx, &id, chrono::Utc::now()).await {
                Err(StoreError::NotFound) => return Err(CliError::Usage(format!("no key `{id}`"))),
                other => other?,
            }
            tx.commit().await?;
            println!("{id}");
        }
    }
    Ok(())
}
