//! `sequence-server serve`: connect, migrate, optionally seed the demo, listen, shut down
//! gracefully on Ctrl-C / SIGTERM.

use sequence_app::deliverer::{self, Deliverer};
use tokio::net::TcpListener;

use crate::cli::{CliError, ServeArgs};
use crate::state::AppState;

/// Runs the server until a shutdown signal.
pub async fn serve(url: &str, args: ServeArgs) -> Result<(), CliError> {
    let store = sequence_store::Store::connect(url).await?;
    let sandbox = args.sandbox || args.demo;
    if args.demo {
        let seed = crate::demo::seed(&store, chrono::Utc::now()).await?;
        if seed.created {
            eprintln!("seeded demo organization {} ({})", seed.org_id, crate::demo::DEMO_ORG_NAME);
        }
        for key in &seed.revoked_keys {
            eprintln!("revoked {key}, the demo key an earlier start printed");
        }
        eprintln!("demo API key (every scope; shown once):");
        println!("{}", seed.api_key);
    }
    let listener = TcpListener::bind(args.bind)
        .await
        .map_err(|e| CliError::Usage(format!("cannot listen on {}: {e}", args.bind)))?;
    let address = listener.local_addr()?;
    tracing::info!(%address, database = %redact(url), sandbox, "listening on http://{address} (API under /api/v1, docs at /docs)");
    let state = AppState::new(store.clone(), sandbox).with_rate_limit(args.rate_limit);
    if let Some(limit) = state.rate_limit.clone() {
        tracing::info!(per_minute = args.rate_limit, "rate limiting each API key");
        // Buckets of keys that went quiet are full again; forgetting them bounds memory.
        tokio::spawn(async move {
            let mut every_minute = tokio::time::interval(std::time::Duration::from_secs(60));
            loop {
                every_minute.tick().await;
                limit.forget_idle_keys();
            }
        });
    }
    // Settles transfers (and runs scheduled rules) as real time passes; the sandbox clock moves
    // them along faster on demand.
    let worker = state.spawn_worker(std::time::Duration::from_secs(1));
    let denials = state.denials.clone();
    // Sends webhook events (every replica runs one; each attempt is claimed by one of them).
    let deliverer = Deliverer::new(state.app(), deliverer::Config::default())?;
    let deliverer = tokio::spawn(deliverer.run());
    let app = crate::app(state);
    axum::serve(listener, app).with_graceful_shutdown(shutdown_signal()).await?;
    // Denied and failed calls still queued for the audit log.
    denials.flush().await;
    worker.abort();
    deliverer.abort();
    store.close().await;
    tracing::info!("stopped");
    Ok(())
}

/// Hides the passwords in a database URL for logging: the one in the user-info part
/// (`postgres://user:***@host/db`) and the value of every query parameter whose name mentions a
/// password, in any case (`?password=***`, `?sslpassword=***`, `?PASSWORD=***`). The URL is
/// split as the `url` crate (which sqlx uses) splits it: the authority ends at the first `/`, `?`
/// or `#`, its user-info at the authority's last `@`, the query at the first `#`.
fn redact(url: &str) -> String {
    let authority_start = url.find("://").map_or(0, |i| i + 3);
    let rest = &url[authority_start..];
    let (authority, rest) = rest.split_at(rest.find(['/', '?', '#']).unwrap_or(rest.len()));
    let mut redacted = url[..authority_start].to_owned();
    match authority.rfind('@').map(|at| authority.split_at(at)) {
        Some((credentials, host)) => match credentials.split_once(':') {
            Some((user, _)) => redacted.push_str(&format!("{user}:***{host}")),
            None => redacted.push_str(authority),
        },
        None => redacted.push_str(authority),
    }
    let (rest, fragment) = rest.split_at(rest.find('#').unwrap_or(rest.len()));
    match rest.split_once('?') {
        Some((path, query)) => {
            let parameters: Vec<String> = query
                .split('&')
                .map(|parameter| match parameter.split_once('=') {
                    Some((name, _)) if names_a_password(name) => format!("{name}=***"),
                    _ => parameter.to_owned(),
                })
                .collect();
            redacted.push_str(path);
            redacted.push('?');
            redacted.push_str(&parameters.join("&"));
        }
        None => redacted.push_str(rest),
    }
    redacted.push_str(fragment);
    redacted
}

/// Whether a query parameter's name (percent-decoded, any case) is a password's:
/// `password`, `sslpassword`, `PASSWORD`, `db_passwd`, …
fn names_a_password(name: &str) -> bool {
    let mut decoded = Vec::with_capacity(name.len());
    let mut bytes = name.bytes();
    while let Some(byte) = bytes.next() {
        let hex = |b: Option<u8>| b.and_then(|b| (b as char).to_digit(16));
        decoded.push(match byte {
            b'%' => {
                let mut ahead = bytes.clone();
                match (hex(ahead.next()), hex(ahead.next())) {
                    (Some(high), Some(low)) => {
                        bytes = ahead;
                        (high * 16 + low) as u8
                    }
                    _ => byte,
                }
            }
            b'+' => b' ',
            _ => byte,
        });
    }
    let name = String::from_utf8_lossy(&decoded).to_ascii_lowercase();
    name.contains("password") || name.contains("passwd")
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down: finishing in-flight requests");
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn redacts_the_user_info_password() {
        assert_eq!(redact("postgres://u:secret@h:5432/db"), "postgres://u:***@h:5432/db");
        assert_eq!(redact("postgres://u:p@ss@h/db"), "postgres://u:***@h/db");
        assert_eq!(redact("postgres://u:secret@h"), "postgres://u:***@h");
        assert_eq!(
            redact("postgres://u:secret@h/db?application_name=a@b"),
            "postgres://u:***@h/db?application_name=a@b"
        );
        assert_eq!(redact("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(redact("sqlite://sequence.db"), "sqlite://sequence.db");
        assert_eq!(
            redact("postgres://u:secret@h/db?sslmode=require"),
            "postgres://u:***@h/db?sslmode=require"
        );
    }

    #[test]
    fn redacts_passwords_passed_as_query_parameters() {
        let cases = [
            ("postgres://host/db?password=secret", "postgres://host/db?password=***"),
            (
                "postgres://host/db?user=x&password=secret&sslmode=require",
                "postgres://host/db?user=x&password=***&sslmode=require",
            ),
            ("postgres://host/db?PASSWORD=secret", "postgres://host/db?PASSWORD=***"),
            ("postgres://host/db?Password=secret&x=1", "postgres://host/db?Password=***&x=1"),
            (
                "postgres://host/db?sslmode=verify-full&sslpassword=keypass",
                "postgres://host/db?sslmode=verify-full&sslpassword=***",
            ),
            ("postgres://host/db?pass%77ord=secret", "postgres://host/db?pass%77ord=***"),
            (
                "postgres://u:one@host/db?password=two&password=three",
                "postgres://u:***@host/db?password=***&password=***",
            ),
            ("postgres://host/db?password=", "postgres://host/db?password=***"),
            ("postgres://host?password=secret", "postgres://host?password=***"),
            ("postgres://host/db?password=secret#x", "postgres://host/db?password=***#x"),
        ];
        for (url, expected) in cases {
            let redacted = redact(url);
            assert_eq!(redacted, expected, "{url}");
            for secret in ["secret", "keypass", "one", "two", "three"] {
                assert!(!redacted.contains(secret), "{url} leaks {secret}: {redacted}");
            }
        }
    }

    #[test]
    fn leaves_other_query_parameters_alone() {
        let url = "postgres://u@host/db?sslmode=require&application_name=seq&passfile=x";
        assert_eq!(redact(url), url);
    }
}
