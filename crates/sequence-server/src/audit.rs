//! The HTTP side of the audit log (`sequence_app::audit` decides and stores): what a call is
//! recorded as.
//!
//! - [`CalledReason`]: the request's `X-Called-Reason`, attached by [`crate::keyed`] and read
//!   back through the request context.
//! - [`Server::record_success`]: a successful mutating call, recorded by
//!   [`Server::mutate`](crate::state::Server) inside the use case's transaction.
//! - [`resource_ids`]: the ids a call names in its path and, on success, the id its response
//!   returns.

use sequence_api::runtime::{OperationInfo, RequestContext};
use sequence_app::audit::{self, Call};
use sequence_store::Tx;

use crate::auth::Principal;
use crate::error::ApiError;
use crate::state::Server;

/// The `X-Called-Reason` header of a request, when it is one the spec accepts (1–200 visible
/// ASCII characters or spaces); an invalid one is refused by validation and never recorded.
#[derive(Debug, Clone)]
pub struct CalledReason(pub String);

impl CalledReason {
    /// The header's value, if acceptable.
    pub fn from_header(value: Option<&axum::http::HeaderValue>) -> Option<CalledReason> {
        let value = value?.to_str().ok()?;
        let acceptable =
            (1..=200).contains(&value.len()) && value.bytes().all(|b| (0x20..=0x7e).contains(&b));
        acceptable.then(|| CalledReason(value.to_owned()))
    }
}

/// The ids `path` (concrete, relative to the base path) gives for `operation`'s path parameters,
/// followed by `returned` (the created resource's id) unless it is one of them already.
pub fn resource_ids(
    operation: &OperationInfo,
    path: &str,
    returned: Option<String>,
) -> Vec<String> {
    let mut ids: Vec<String> = operation
        .path
        .split('/')
        .zip(path.split('/'))
        .filter(|(template, value)| template.starts_with('{') && !value.starts_with('{'))
        .map(|(_, value)| value.to_owned())
        .collect();
    if let Some(returned) = returned
        && !ids.contains(&returned)
    {
        ids.push(returned);
    }
    ids
}

/// The id a success body returns: `data.id` (created or changed resource) or
/// `data.execution_id` (`triggerRule`).
pub fn returned_id(body: &str) -> Option<String> {
    let body: serde_json::Value = serde_json::from_str(body).ok()?;
    let data = body.get("data")?;
    let id = data.get("id").or_else(|| data.get("execution_id"))?;
    id.as_str().map(str::to_owned)
}

impl Server {
    /// Records a successful mutating call in the use case's transaction `tx`.
    pub(crate) async fn record_success(
        &self,
        tx: &mut Tx,
        ctx: &RequestContext<Principal>,
        status: u16,
        body: Option<&str>,
    ) -> Result<(), ApiError> {
        let operation = ctx.operation;
        let call = Call {
            api_key_id: ctx.principal.key_id.clone(),
            operation_id: operation.operation_id.to_owned(),
            method: operation.method.to_owned(),
            path: ctx.path.clone(),
            resource_ids: resource_ids(operation, &ctx.path, body.and_then(returned_id)),
            status,
            error_code: None,
            request_id: ctx.request_id.clone(),
            called_reason: ctx.extensions.get::<CalledReason>().map(|r| r.0.clone()),
        };
        audit::record(&self.app, tx, &ctx.principal.org_id, call).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use sequence_api::server::OPERATIONS;

    use super::*;

    fn operation(id: &str) -> &'static OperationInfo {
        OPERATIONS.iter().find(|o| o.operation_id == id).expect("an operation")
    }

    #[test]
    fn path_ids_come_first_then_the_returned_id() {
        let trigger = operation("triggerRule");
        assert_eq!(
            resource_ids(trigger, "/rules/rule_1/trigger", Some("rex_2".into())),
            ["rule_1", "rex_2"]
        );
        let update = operation("updateRule");
        assert_eq!(resource_ids(update, "/rules/rule_1", Some("rule_1".into())), ["rule_1"]);
        let create = operation("createTransfer");
        assert_eq!(resource_ids(create, "/transfers", None), Vec::<String>::new());
    }

    #[test]
    fn returned_ids_are_data_id_or_execution_id() {
        assert_eq!(returned_id(r#"{"data":{"id":"txr_1"}}"#).as_deref(), Some("txr_1"));
        assert_eq!(returned_id(r#"{"data":{"execution_id":"rex_1"}}"#).as_deref(), Some("rex_1"));
        assert_eq!(returned_id(r#"{"data":[]}"#), None);
        assert_eq!(returned_id("not json"), None);
    }

    #[test]
    fn called_reasons_are_short_visible_ascii() {
        let reason = |v: &str| {
            CalledReason::from_header(Some(&axum::http::HeaderValue::from_str(v).unwrap()))
                .map(|r| r.0)
        };
        assert_eq!(reason("Weekly sweep").as_deref(), Some("Weekly sweep"));
        assert_eq!(reason(&"x".repeat(201)), None);
        assert_eq!(reason(""), None);
        assert_eq!(reason("tab\there"), None);
    }
}
