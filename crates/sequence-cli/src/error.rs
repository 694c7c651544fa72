//! What can go wrong in a `sequence` command, how it is printed, and which exit code it gets.
//!
//! | Exit code | Meaning |
//! |---|---|
//! | 0 | Success. |
//! | 1 | The API answered with an error (`error: <code>: <message> (request_id <id>, HTTP <status>)`; without `request_id …, ` when the server sent none), or its answer could not be understood. |
//! | 2 | Usage error: bad arguments, missing API key, invalid base URL, a value the client rejects before sending. |
//! | 3 | Connection error: no answer from the server (refused, timed out, connection dropped). |

use std::error::Error as _;
use std::fmt::Write as _;

use sequence_client::{Error, types};

/// Exit code for API errors.
pub const EXIT_API: u8 = 1;
/// Exit code for usage errors (also what clap uses for bad arguments).
pub const EXIT_USAGE: u8 = 2;
/// Exit code for connection errors.
pub const EXIT_CONNECTION: u8 = 3;

/// A failed command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CliError {
    /// The command line is wrong (exit 2).
    Usage {
        /// What is wrong.
        message: String,
        /// How to fix it, if we know.
        hint: Option<String>,
    },
    /// The server answered with an error body (exit 1).
    Api {
        /// HTTP status.
        status: u16,
        /// `error.code`.
        code: String,
        /// `error.message`.
        message: String,
        /// `request_id`, when the server sent one (this server always does; the spec makes it
        /// optional because Sequence production's documented errors have none).
        request_id: Option<String>,
        /// What to do about it, if we know.
        hint: Option<String>,
    },
    /// The server's answer could not be understood (exit 1).
    Protocol {
        /// What was wrong with it.
        message: String,
    },
    /// No answer from the server (exit 3).
    Connection {
        /// What happened.
        message: String,
        /// What to do about it.
        hint: Option<String>,
    },
}

impl CliError {
    /// A usage error without a hint.
    pub fn usage(message: impl Into<String>) -> Self {
        CliError::Usage { message: message.into(), hint: None }
    }

    /// The process exit code for this error.
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Usage { .. } => EXIT_USAGE,
            CliError::Api { .. } | CliError::Protocol { .. } => EXIT_API,
            CliError::Connection { .. } => EXIT_CONNECTION,
        }
    }

    /// The text printed to stderr: `error: …` and optionally `hint: …`, newline-terminated.
    pub fn render(&self) -> String {
        let (line, hint) = match self {
            CliError::Usage { message, hint } => (message.clone(), hint),
            CliError::Api { status, code, message, request_id, hint } => {
                let request =
                    request_id.as_ref().map(|id| format!("request_id {id}, ")).unwrap_or_default();
                (format!("{code}: {message} ({request}HTTP {status})"), hint)
            }
            CliError::Protocol { message } => (message.clone(), &None),
            CliError::Connection { message, hint } => (message.clone(), hint),
        };
        let mut out = format!("error: {line}\n");
        if let Some(hint) = hint {
            let _ = writeln!(out, "hint: {hint}");
        }
        out
    }
}

/// What the command was doing, to choose hints.
#[derive(Debug, Clone, Default)]
pub struct Situation<'a> {
    /// The base URL requests went to.
    pub base_url: &'a str,
    /// The command is a `sequence sandbox …` command.
    pub sandbox: bool,
    /// The idempotency key sent with a mutating request, if any.
    pub idempotency_key: Option<&'a str>,
}

/// Converts a client error into a [`CliError`]. Async because an undocumented response's body
/// is read to find an `ErrorResponse` in it.
pub async fn from_client_error(
    error: Error<types::ErrorResponse>,
    situation: &Situation<'_>,
) -> CliError {
    match error {
        Error::ErrorResponse(response) => {
            let status = response.status().as_u16();
            api_error(status, response.into_inner(), situation)
        }
        Error::UnexpectedResponse(response) => {
            let status = response.status();
            let body = response.bytes().await.unwrap_or_default();
            match serde_json::from_slice::<types::ErrorResponse>(&body) {
                Ok(error) if !status.is_success() => api_error(status.as_u16(), error, situation),
                _ => CliError::Protocol {
                    message: format!(
                        "unexpected HTTP {} from the server for this operation: {}",
                        status.as_u16(),
                        snippet(&body)
                    ),
                },
            }
        }
        Error::InvalidRequest(message) => CliError::Usage {
            message: format!("invalid input (rejected before sending): {message}"),
            hint: None,
        },
        Error::CommunicationError(e) => connection_error(&e, situation),
        Error::ResponseBodyError(e) => CliError::Connection {
            message: format!("the connection failed while reading the answer: {}", chain(&e)),
            hint: retry_hint(situation),
        },
        Error::InvalidResponsePayload(body, e) => CliError::Protocol {
            message: format!("could not decode the server's answer ({e}): {}", snippet(&body)),
        },
        Error::InvalidUpgrade(e) => CliError::Protocol { message: format!("invalid upgrade: {e}") },
        Error::Custom(message) => CliError::Protocol { message },
    }
}

fn api_error(status: u16, error: types::ErrorResponse, situation: &Situation<'_>) -> CliError {
    let hint = match error.error.code.as_str() {
        "unauthorized" => Some("check --api-key (or SEQUENCE_API_KEY)".to_string()),
        "not_found" if situation.sandbox => Some(
            "sandbox operations exist only on a server started with --sandbox or --demo".to_string(),
        ),
        "not_found" => Some(format!(
            "no such route: check --base-url ({}); it must end with /api/v1",
            situation.base_url
        )),
        "rule_disabled" => {
            Some("a person must enable the rule first (sandbox: sequence sandbox rule-enable ID)".to_string())
        }
        "card_not_active" => Some(
            "only active cards buy (sandbox: sequence sandbox card-activate ID, or card-unfreeze ID; lost and stolen cards never buy again)".to_string(),
        ),
        "insufficient_funds" => Some(
            "the card's pod lacks available money; check it with `sequence accounts get POD` (sandbox: sequence sandbox deposit --account POD --amount ...)".to_string(),
        ),
        "refund_exceeds_purchase" => Some(
            "see what is left to refund in the REFUNDED column of `sequence cards transactions CARD`".to_string(),
        ),
        "idempotency_request_in_progress" => {
            Some("the first request with this idempotency key is still running; retry later with the same --idempotency-key".to_string())
        }
        _ => None,
    };
    CliError::Api {
        status,
        code: error.error.code,
        message: error.error.message,
        request_id: error.request_id,
        hint,
    }
}

fn connection_error(error: &reqwest::Error, situation: &Situation<'_>) -> CliError {
    if error.is_connect() {
        return CliError::Connection {
            message: format!("could not connect to {}: {}", situation.base_url, chain(error)),
            hint: Some(
                "is the server running? start it with `cargo run -p sequence-server -- serve --demo`"
                    .to_string(),
            ),
        };
    }
    let what = if error.is_timeout() { "timed out" } else { "failed" };
    CliError::Connection {
        message: format!("the request to {} {what}: {}", situation.base_url, chain(error)),
        hint: retry_hint(situation),
    }
}

/// After a request that may or may not have been applied, explain how to retry safely.
fn retry_hint(situation: &Situation<'_>) -> Option<String> {
    situation.idempotency_key.map(|key| {
        format!(
            "the request may or may not have been applied; rerun the same command with \
             --idempotency-key {key} to make sure it happens once"
        )
    })
}

/// The error and its sources, joined with `: ` (reqwest's own message alone is terse).
fn chain(error: &reqwest::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            let _ = write!(text, ": {cause_text}");
        }
        source = cause.source();
    }
    text
}

fn snippet(body: &[u8]) -> String {
    const MAX: usize = 200;
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.is_empty() {
        return "(empty body)".to_string();
    }
    match text.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::StatusCode;
    use reqwest::header::HeaderMap;
    use sequence_client::ResponseValue;

    fn error_response(status: u16, code: &str, message: &str) -> Error<types::ErrorResponse> {
        let body = types::ErrorResponse {
            error: types::ErrorDetail { code: code.into(), message: message.into() },
            request_id: Some("req_01HABC7000".into()),
        };
        Error::ErrorResponse(ResponseValue::new(
            body,
            StatusCode::from_u16(status).unwrap(),
            HeaderMap::new(),
        ))
    }

    fn situation() -> Situation<'static> {
        Situation {
            base_url: "http://127.0.0.1:8080/api/v1",
            sandbox: false,
            idempotency_key: None,
        }
    }

    #[tokio::test]
    async fn api_errors_print_code_message_request_id_and_status() {
        let error = from_client_error(
            error_response(501, "not_implemented", "This server does not implement this yet."),
            &situation(),
        )
        .await;
        assert_eq!(error.exit_code(), EXIT_API);
        assert_eq!(
            error.render(),
            "error: not_implemented: This server does not implement this yet. \
             (request_id req_01HABC7000, HTTP 501)\n"
        );
    }

    #[tokio::test]
    async fn errors_without_a_request_id_print_the_rest() {
        let Error::ErrorResponse(mut response) =
            error_response(403, "forbidden", "This API key does not have the required permission.")
        else {
            unreachable!()
        };
        response.request_id = None;
        let error = from_client_error(Error::ErrorResponse(response), &situation()).await;
        assert_eq!(
            error.render(),
            "error: forbidden: This API key does not have the required permission. (HTTP 403)\n"
        );
    }

    #[tokio::test]
    async fn hints_depend_on_the_situation() {
        let sandbox = Situation { sandbox: true, ..situation() };
        let error =
            from_client_error(error_response(404, "not_found", "No such route."), &sandbox).await;
        insta::assert_snapshot!(error.render(), @r"
        error: not_found: No such route. (request_id req_01HABC7000, HTTP 404)
        hint: sandbox operations exist only on a server started with --sandbox or --demo
        ");
        let error = from_client_error(
            error_response(401, "unauthorized", "Missing or invalid API key."),
            &situation(),
        )
        .await;
        assert!(error.render().contains("hint: check --api-key"));
    }

    #[tokio::test]
    async fn invalid_requests_are_usage_errors() {
        let error = from_client_error(
            Error::InvalidRequest("conversion to `ResourceId` for id failed".into()),
            &situation(),
        )
        .await;
        assert_eq!(error.exit_code(), EXIT_USAGE);
    }

    #[test]
    fn snippets_are_short() {
        assert_eq!(snippet(b""), "(empty body)");
        assert_eq!(snippet("é".repeat(300).as_bytes()).chars().count(), 201);
    }
}
