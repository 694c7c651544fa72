//! Webhook endpoints: registering, listing and deleting them, their delivery attempts, and the
//! events as delivered. (Recording events is [`crate::events`]; sending them is
//! [`crate::deliverer`].)
//!
//! - An endpoint's signing secret (`whsec_` and 32 random bytes in hex) is returned once, by
//!   [`create_endpoint`]; it is stored as is, because signing needs it.
//! - URLs must be absolute `http(s)` URLs with a host and without credentials or a fragment;
//!   `localhost` is allowed (the sandbox is usually local: that is how `sequence webhooks
//!   listen` works). `https` needs a build with TLS (this crate's `rustls` feature, which
//!   `sequence-server`'s `rustls` feature turns on).
//! - An organization has at most [`ENDPOINTS_PER_ORGANIZATION_MAX`] live endpoints; registrations
//!   of one organization are serialized by its row lock, so the limit holds under concurrency.

use rand::RngCore;
use sequence_core::ids::{OrgId, WebhookEndpointId};
use sequence_core::webhooks::{ENDPOINTS_PER_ORGANIZATION_MAX, EventType};
use sequence_store::statement::Cursor;
use sequence_store::webhooks::{self, AttemptRecord, EndpointRecord, EventRecord};
use sequence_store::{AnyConnection, Tx};

use crate::{App, AppError, Resource};

/// Whether this build can deliver to `https://` endpoints.
pub const TLS: bool = cfg!(feature = "rustls");

/// An endpoint to register.
#[derive(Debug, Clone)]
pub struct NewEndpoint {
    /// Where to POST events.
    pub url: String,
    /// The event types to send; `None`: every type, including later ones.
    pub event_types: Option<Vec<EventType>>,
    /// A note.
    pub description: Option<String>,
}

/// Checks an endpoint URL (see the module docs) and returns it as given.
pub fn validate_url(url: &str) -> Result<String, AppError> {
    let invalid = |why: &str| AppError::Invalid(format!("url: {why}"));
    let parsed =
        reqwest::Url::parse(url).map_err(|e| invalid(&format!("not an absolute URL ({e})")))?;
    match parsed.scheme() {
        "http" => {}
        "https" if TLS => {}
        "https" => {
            return Err(invalid(
                "this server was built without TLS, so it can only deliver to http:// URLs (build with the `rustls` feature for https)",
            ));
        }
        other => return Err(invalid(&format!("scheme `{other}` is not http or https"))),
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err(invalid("the URL has no host"));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(invalid(
            "credentials in the URL are not allowed (they would be stored and shown)",
        ));
    }
    if parsed.fragment().is_some() {
        return Err(invalid("a fragment (`#…`) is never sent, so it is not allowed"));
    }
    Ok(url.to_owned())
}

/// A fresh signing secret: `whsec_` and 64 hex digits (32 random bytes).
pub fn new_secret() -> String {
    let mut bytes = [0_u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("whsec_{hex}")
}

/// Registers an endpoint; the record carries the secret, shown to the caller this once.
pub async fn create_endpoint(
    app: &App,
    tx: &mut Tx,
    org: &OrgId,
    new: NewEndpoint,
) -> Result<EndpointRecord, AppError> {
    let url = validate_url(&new.url)?;
    // Serializes this organization's registrations: the count below then holds until commit.
    webhooks::lock_organization(tx, org).await?;
    let (org, now) = app.organization(tx, org).await?;
    let live = webhooks::live_endpoints(tx, &org.id).await?;
    if live.len() >= ENDPOINTS_PER_ORGANIZATION_MAX as usize {
        return Err(AppError::WebhookEndpointLimit(ENDPOINTS_PER_ORGANIZATION_MAX));
    }
    let event_types = new.event_types.map(|types| {
        // In the catalogue's order, each once.
        EventType::ALL.iter().copied().filter(|t| types.contains(t)).collect::<Vec<_>>()
    });
    let record = EndpointRecord {
        id: WebhookEndpointId::generate(),
        org_id: org.id.clone(),
        url,
        event_types,
        description: new.description,
        secret: new_secret(),
        created_at: now,
    };
    webhooks::insert_endpoint(tx, &record).await?;
    Ok(record)
}

/// The organization's live endpoints, oldest first.
pub async fn list_endpoints(
    conn: &mut AnyConnection,
    org: &OrgId,
) -> Result<Vec<EndpointRecord>, AppError> {
    Ok(webhooks::live_endpoints(conn, org).await?)
}

/// Deletes an endpoint: its deliveries not yet made are cancelled.
pub async fn delete_endpoint(
    app: &App,
    tx: &mut Tx,
    org: &OrgId,
    id: &str,
) -> Result<(), AppError> {
    let (org, now) = app.organization(tx, org).await?;
    if webhooks::delete_endpoint(tx, &org.id, id, now, app.now()).await? {
        Ok(())
    } else {
        Err(AppError::not_found(Resource::WebhookEndpoint, id))
    }
}

/// One page of an endpoint's delivery attempts, newest first, and whether more follow.
pub async fn list_attempts(
    conn: &mut AnyConnection,
    org: &OrgId,
    endpoint: &str,
    after: Option<&Cursor>,
    first: u32,
) -> Result<(Vec<AttemptRecord>, bool), AppError> {
    let Some(endpoint) = webhooks::find_live_endpoint(conn, org, endpoint).await? else {
        return Err(AppError::not_found(Resource::WebhookEndpoint, endpoint));
    };
    let mut rows = webhooks::list_attempts(conn, org, &endpoint.id, after, first + 1).await?;
    let has_next_page = rows.len() > first as usize;
    rows.truncate(first as usize);
    Ok((rows, has_next_page))
}

/// One event of the organization, as delivered.
pub async fn get_event(
    conn: &mut AnyConnection,
    org: &OrgId,
    id: &str,
) -> Result<EventRecord, AppError> {
    webhooks::find_event(conn, org, id)
        .await?
        .ok_or_else(|| AppError::not_found(Resource::WebhookEvent, id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_must_be_absolute_http_with_a_host_and_nothing_secret() {
        for good in [
            "http://localhost:4242/webhooks",
            "http://127.0.0.1:8000/",
            "http://hooks.example.com/sequence?source=sandbox",
            "http://[::1]:9000/x",
        ] {
            assert_eq!(validate_url(good).unwrap(), good);
        }
        for (bad, why) in [
            ("localhost:4242/webhooks", "scheme `localhost`"),
            ("/webhooks", "not an absolute URL"),
            ("ftp://example.com/x", "scheme `ftp`"),
            ("http://user:pass@example.com/", "credentials"),
            ("http://user@example.com/", "credentials"),
            ("http://example.com/#top", "fragment"),
        ] {
            let error = validate_url(bad).unwrap_err().to_string();
            assert!(error.starts_with("url: ") && error.contains(why), "{bad}: {error}");
        }
        let https = validate_url("https://hooks.example.com/");
        assert_eq!(https.is_ok(), TLS, "{https:?}");
    }

    #[test]
    fn secrets_are_whsec_and_64_hex_digits_and_fresh() {
        let secret = new_secret();
        let hex = secret.strip_prefix("whsec_").expect("prefix");
        assert_eq!(hex.len(), 64);
        assert!(hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)));
        assert_ne!(new_secret(), secret);
    }
}
