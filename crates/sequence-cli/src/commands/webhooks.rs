//! `sequence webhooks …`: webhook endpoints (sandbox operations), their delivery attempts, the
//! events as delivered, and [`listen`] for local development.
//!
//! **`listen`**, like `stripe listen`, lets a developer receive events on a local URL: it
//! registers a temporary endpoint that points at `--forward-to`, prints the endpoint's signing
//! secret (so the receiver can verify `Sequence-Signature`), then prints every delivery attempt
//! as the server records it (polling `listSandboxWebhookDeliveries`), and deletes the endpoint
//! when stopped (Ctrl-C). The server delivers directly to the URL, so the URL must be reachable
//! from the server: fine for a sandbox on the developer's machine, not for a remote one (there is
//! no tunnel). Events that happened before `listen` started are not sent; an endpoint left behind
//! by a killed `listen` is removed with `sequence webhooks delete`.

use std::collections::HashSet;
use std::future::Future;
use std::io::Write;
use std::time::Duration;

use sequence_client::{new_idempotency_key, types};

use crate::cli::{ListenArgs, WebhookCreateArgs, WebhooksCommand};
use crate::commands::{Call, Ctx, check_idempotency_key, fetch_pages, page_size};
use crate::error::CliError;
use crate::render;

/// Runs a `webhooks` subcommand (`listen` prints to a string when run this way, until Ctrl-C; the
/// binary streams it instead, see [`listen`]).
pub async fn run(ctx: &Ctx, command: &WebhooksCommand) -> Result<String, CliError> {
    match command {
        WebhooksCommand::Create(args) => create(ctx, args).await,
        WebhooksCommand::List => {
            let response =
                ctx.call(Call::SANDBOX, ctx.client.list_sandbox_webhook_endpoints().send()).await?;
            Ok(if ctx.json {
                render::json(&response.data)
            } else {
                render::webhook_endpoints_table(&response.data)
            })
        }
        WebhooksCommand::Delete { id } => {
            let key = new_idempotency_key();
            let request = ctx
                .client
                .delete_sandbox_webhook_endpoint()
                .id(id.as_str())
                .idempotency_key(key.as_str())
                .send();
            let call = Call { sandbox: true, idempotency_key: Some(&key) };
            ctx.call(call, request).await?;
            Ok(format!("Deleted webhook endpoint {id}.\n"))
        }
        WebhooksCommand::Deliveries { id, page } => {
            let (attempts, page_info) = fetch_pages(page, |after| async move {
                let mut request = ctx.client.list_sandbox_webhook_deliveries().id(id.as_str());
                if let Some(first) = page_size(page) {
                    request = request.first(first);
                }
                if let Some(after) = &after {
                    request = request.after(after.as_str());
                }
                let page = ctx.call(Call::SANDBOX, request.send()).await?;
                Ok((page.data, page.page_info))
            })
            .await?;
            Ok(if ctx.json {
                render::json_page(&attempts, &page_info)
            } else {
                let mut out = render::webhook_attempts_table(&attempts);
                out.push_str(&render::next_page_hint(&page_info));
                out
            })
        }
        WebhooksCommand::Event { id } => {
            let request = ctx.client.get_sandbox_webhook_event().id(id.as_str()).send();
            let response = ctx.call(Call::SANDBOX, request).await?;
            Ok(render::json(&response.data))
        }
        WebhooksCommand::Listen(args) => {
            let mut out = Vec::new();
            let stop = async {
                let _ = tokio::signal::ctrl_c().await;
            };
            listen(ctx, args, &mut out, stop).await?;
            Ok(String::from_utf8_lossy(&out).into_owned())
        }
    }
}

fn create_body(
    url: &str,
    events: &[types::WebhookEventType],
    description: Option<&str>,
) -> Result<types::builder::CreateWebhookEndpointRequest, CliError> {
    let url = types::CreateWebhookEndpointRequestUrl::try_from(url.to_string()).map_err(|_| {
        CliError::usage(format!("--url {url:?}: use an absolute http:// or https:// URL"))
    })?;
    let description = description
        .map(|d| {
            types::CreateWebhookEndpointRequestDescription::try_from(d.to_string())
                .map_err(|_| CliError::usage("--description: at most 200 characters"))
        })
        .transpose()?;
    Ok(types::CreateWebhookEndpointRequest::builder()
        .url(url)
        .event_types(events.to_vec())
        .description(description))
}

async fn create(ctx: &Ctx, args: &WebhookCreateArgs) -> Result<String, CliError> {
    let key = args.idempotency_key.clone().unwrap_or_else(new_idempotency_key);
    check_idempotency_key(&key)?;
    let body = create_body(&args.url, &args.events, args.description.as_deref())?;
    let request = ctx
        .client
        .create_sandbox_webhook_endpoint()
        .idempotency_key(key.as_str())
        .body(body)
        .send();
    let response = ctx.call(Call { sandbox: true, idempotency_key: Some(&key) }, request).await?;
    Ok(if ctx.json {
        render::json(&response.data)
    } else {
        render::webhook_endpoint_created(&response.data)
    })
}

/// `sequence webhooks listen` (see the module docs): registers the endpoint, writes every new
/// delivery attempt to `out` as it appears (one line each, or one JSON object per line with
/// `--json`) until `stop` completes, then deletes the endpoint. The endpoint is deleted even when
/// polling fails.
pub async fn listen(
    ctx: &Ctx,
    args: &ListenArgs,
    out: &mut (dyn Write + Send),
    stop: impl Future<Output = ()>,
) -> Result<(), CliError> {
    let key = new_idempotency_key();
    let body = create_body(
        &args.forward_to,
        &args.events,
        Some("sequence webhooks listen (deleted when it stops)"),
    )?;
    let request = ctx
        .client
        .create_sandbox_webhook_endpoint()
        .idempotency_key(key.as_str())
        .body(body)
        .send();
    let endpoint =
        ctx.call(Call { sandbox: true, idempotency_key: Some(&key) }, request).await?.data;
    let write = |out: &mut (dyn Write + Send), text: &str| {
        // A closed stdout (`| head`) must not stop the cleanup below.
        let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
    };
    write(
        out,
        &format!(
            "Ready! The server now delivers events to {url} (endpoint {id}).\n\
             Your webhook signing secret is {secret}\n\
             Verify each request's Sequence-Signature with it. Press Ctrl-C to stop; the endpoint is then deleted.\n",
            url = endpoint.url,
            id = endpoint.id.as_str(),
            secret = *endpoint.secret,
        ),
    );
    let polled = poll(ctx, &endpoint.id, Duration::from_millis(args.poll_ms), out, stop).await;
    let key = new_idempotency_key();
    let request = ctx
        .client
        .delete_sandbox_webhook_endpoint()
        .id(endpoint.id.as_str())
        .idempotency_key(key.as_str())
        .send();
    let deleted = ctx.call(Call { sandbox: true, idempotency_key: Some(&key) }, request).await;
    match &deleted {
        Ok(_) => write(out, &format!("Stopped; deleted endpoint {}.\n", endpoint.id.as_str())),
        Err(_) => write(
            out,
            &format!(
                "Stopped; could not delete endpoint {id}: run `sequence webhooks delete {id}`.\n",
                id = endpoint.id.as_str()
            ),
        ),
    }
    polled?;
    deleted.map(drop)
}

/// Prints the endpoint's new attempts, oldest first, every `interval`, until `stop`.
async fn poll(
    ctx: &Ctx,
    endpoint: &str,
    interval: Duration,
    out: &mut (dyn Write + Send),
    stop: impl Future<Output = ()>,
) -> Result<(), CliError> {
    let mut seen: HashSet<String> = HashSet::new();
    tokio::pin!(stop);
    loop {
        tokio::select! {
            () = &mut stop => return Ok(()),
            () = tokio::time::sleep(interval) => {}
        }
        for attempt in new_attempts(ctx, endpoint, &seen).await? {
            let line = if ctx.json {
                let mut line = serde_json::to_string(&attempt).expect("API types serialize");
                line.push('\n');
                line
            } else {
                render::webhook_attempt_line(&attempt)
            };
            let _ = out.write_all(line.as_bytes()).and_then(|()| out.flush());
            seen.insert(String::from(attempt.id));
        }
    }
}

/// The attempts not in `seen`, oldest first. Pages are newest first (by when an attempt started),
/// so pages are read until one holds an attempt already seen; every unseen attempt of the pages
/// read is new (an attempt that started earlier but took longer is recorded after later ones,
/// and still shows up next to them).
async fn new_attempts(
    ctx: &Ctx,
    endpoint: &str,
    seen: &HashSet<String>,
) -> Result<Vec<types::WebhookDeliveryAttempt>, CliError> {
    let mut fresh = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let mut request = ctx.client.list_sandbox_webhook_deliveries().id(endpoint).first(100_u32);
        if let Some(cursor) = &after {
            request = request.after(cursor.as_str());
        }
        let page = ctx.call(Call::SANDBOX, request.send()).await?;
        let mut reached_seen = false;
        for attempt in page.data {
            if seen.contains(attempt.id.as_str()) {
                reached_seen = true;
            } else {
                fresh.push(attempt);
            }
        }
        match (reached_seen, page.page_info.has_next_page, page.page_info.end_cursor) {
            (false, true, Some(cursor)) => after = Some(cursor),
            _ => break,
        }
    }
    fresh.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
    Ok(fresh)
}
