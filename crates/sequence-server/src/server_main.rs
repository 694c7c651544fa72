//! `sequence-server serve`: connect, migrate, optionally seed the demo, listen, shut down
//! gracefully on Ctrl-C / SIGTERM.

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
        eprintln!("demo API key (every scope; shown once):");
        println!("{}", seed.api_key);
    }
    let listener = TcpListener::bind(args.bind)
        .await
        .map_err(|e| CliError::Usage(format!("cannot listen on {}: {e}", args.bind)))?;
    let address = listener.local_addr()?;
    tracing::info!(%address, database = %redact(url), sandbox, "listening on http://{address} (API under /api/v1, docs at /docs)");
    let state = AppState::new(store.clone(), sandbox);
    // Settles transfers (and runs scheduled rules) as real time passes; the sandbox clock moves
    // them along faster on demand.
    let worker = tokio::spawn(crate::handlers::run_worker(
        crate::state::Server::new(state.clone()),
        std::time::Duration::from_secs(1),
    ));
    let app = crate::app(state);
    axum::serve(listener, app).with_graceful_shutdown(shutdown_signal()).await?;
    worker.abort();
    store.close().await;
    tracing::info!("stopped");
    Ok(())
}

/// Hides a password in a database URL for logging.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let credentials = &url[scheme_end + 3..at];
            match credentials.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme_end + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
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
