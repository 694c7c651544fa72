//! Unknown fields inside rule bodies are refused, as `RuleInput` documents.
//!
//! `RuleInput` declares `additionalProperties: false`, so the generated validator refuses unknown
//! top-level fields; the nested schemas it shares with the `Rule` *response* (trigger, step,
//! condition group, condition, params, action, limit) deliberately do not, so that clients stay
//! tolerant of fields added to responses later. The spec nevertheless promises that a request
//! with an unknown field anywhere in a rule body is `400 invalid_request` — a typo such as
//! `"up_to_enable": true` must not be silently dropped from a rule that moves money. The generated
//! code discards the raw JSON before a handler runs, so this check is a middleware on the two
//! operations that take a `RuleInput` (`createRule`, `updateRule`).
//!
//! It keeps the spec's check order: a request that fails authentication, or that the generated
//! validator would refuse anyway, passes through untouched and gets the router's own answer
//! (401, 413, 415, or the validator's first violation); only a body that is otherwise valid is
//! checked for unknown nested fields, and the answer is shaped exactly like the router's 400.
//! Permission (403) is checked later, by the handler.

use axum::body::{Body, Bytes};
use axum::extract::{FromRequest, Request, State};
use axum::http::{Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sequence_api::runtime::{self, InputError, Location, Problem, Violation};
use sequence_api::server::{
    ApiSecurity, BASE_PATH, ErrorCode, render_problem, validate_rule_input,
};
use serde_json::Value;

use crate::state::{AppState, Server};

/// The fields of `RuleTrigger`.
pub(crate) const TRIGGER_FIELDS: &[&str] = &["type", "account_id", "schedule_type", "start_date"];
/// The fields of `RuleStep`.
pub(crate) const STEP_FIELDS: &[&str] = &["conditions", "actions"];
/// The fields of `RuleConditionGroup`.
pub(crate) const GROUP_FIELDS: &[&str] = &["condition", "any", "all"];
/// The fields of `RuleCondition`.
pub(crate) const CONDITION_FIELDS: &[&str] = &["fact", "operator", "value", "value_fact", "params"];
/// The fields of `RuleConditionParams`.
pub(crate) const PARAMS_FIELDS: &[&str] = &["account_id", "value_account_id"];
/// The fields of `RuleAction`.
pub(crate) const ACTION_FIELDS: &[&str] = &[
    "type",
    "source_account_id",
    "destination_account_id",
    "amount_in_cents",
    "percentage_value",
    "percentage_target",
    "group_index",
    "up_to_enabled",
    "limit",
];
/// The fields of `TransferCap`.
pub(crate) const LIMIT_FIELDS: &[&str] = &["period", "amount_in_cents"];

/// Adds the check to the generated router (the routes it serves are relative to [`BASE_PATH`]).
pub fn strict_rule_bodies(
    router: axum::Router<AppState>,
    state: AppState,
) -> axum::Router<AppState> {
    router
        .layer(axum::middleware::from_fn_with_state(Server::new(state), reject_unknown_rule_fields))
}

/// Whether the request is `createRule` (`POST /rules`) or `updateRule` (`PUT /rules/{id}`).
fn takes_rule_input(method: &Method, path: &str) -> bool {
    // Nested routers see the path without the base path; accept both forms.
    let path = path.strip_prefix(BASE_PATH).unwrap_or(path);
    match *method {
        Method::POST => path == "/rules",
        Method::PUT => {
            path.strip_prefix("/rules/").is_some_and(|id| !id.is_empty() && !id.contains('/'))
        }
        _ => false,
    }
}

async fn reject_unknown_rule_fields(
    State(server): State<Server>,
    request: Request,
    next: Next,
) -> Response {
    if !takes_rule_input(request.method(), request.uri().path()) {
        return next.run(request).await;
    }
    // 401 comes before any input check: let the router answer it.
    if server.authenticate_api_key_auth(request.headers().get(header::AUTHORIZATION)).await.is_err()
    {
        return next.run(request).await;
    }
    let (parts, body) = request.into_parts();
    let bytes = match Bytes::from_request(Request::from_parts(parts.clone(), body), &()).await {
        Ok(bytes) => bytes,
        // 413 (or an unreadable body): the error-envelope middleware gives it the spec's body.
        Err(rejection) => return rejection.into_response(),
    };
    let violation = serde_json::from_slice::<Value>(&bytes)
        .ok()
        // Anything the generated validator refuses is left to the router, which says it first.
        .filter(|value| validate_rule_input(value, "").is_ok())
        .and_then(|value| unknown_nested_field(&value).err());
    match violation {
        Some(violation) => {
            let request_id = runtime::request_id(&parts.extensions, &parts.headers);
            let problem = Problem {
                status: StatusCode::BAD_REQUEST,
                code: ErrorCode::InvalidRequest.as_str(),
                message: InputError::Invalid(Location::Body, violation).to_string(),
            };
            render_problem(problem, &request_id)
        }
        None => next.run(Request::from_parts(parts, Body::from(bytes))).await,
    }
}

/// The first unknown field below the top level of a `RuleInput` that the generated validator
/// accepted (so every value already has its schema's type), in document order.
pub(crate) fn unknown_nested_field(body: &Value) -> Result<(), Violation> {
    if let Some(trigger) = body.get("trigger") {
        known(trigger, TRIGGER_FIELDS, "trigger")?;
    }
    for (s, step) in items(body.get("steps")).enumerate() {
        let path = format!("steps[{s}]");
        known(step, STEP_FIELDS, &path)?;
        if let Some(group) = step.get("conditions").filter(|g| !g.is_null()) {
            check_group(group, &format!("{path}.conditions"))?;
        }
        for (a, action) in items(step.get("actions")).enumerate() {
            let path = format!("{path}.actions[{a}]");
            known(action, ACTION_FIELDS, &path)?;
            if let Some(limit) = action.get("limit").filter(|l| !l.is_null()) {
                known(limit, LIMIT_FIELDS, &format!("{path}.limit"))?;
            }
        }
    }
    Ok(())
}

fn check_group(group: &Value, path: &str) -> Result<(), Violation> {
    known(group, GROUP_FIELDS, path)?;
    if let Some(condition) = group.get("condition") {
        let path = format!("{path}.condition");
        known(condition, CONDITION_FIELDS, &path)?;
        if let Some(params) = condition.get("params").filter(|p| !p.is_null()) {
            known(params, PARAMS_FIELDS, &format!("{path}.params"))?;
        }
    }
    for name in ["any", "all"] {
        for (index, member) in items(group.get(name)).enumerate() {
            check_group(member, &format!("{path}.{name}[{index}]"))?;
        }
    }
    Ok(())
}

fn known(value: &Value, fields: &[&str], path: &str) -> Result<(), Violation> {
    match value.as_object() {
        Some(object) => runtime::reject_unknown_fields(object, fields, path),
        None => Ok(()),
    }
}

fn items(value: Option<&Value>) -> impl Iterator<Item = &Value> {
    value.and_then(Value::as_array).into_iter().flatten()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Map, json};

    fn keys(object: &Map<String, Value>) -> Vec<&str> {
        let mut keys: Vec<&str> = object.keys().map(String::as_str).collect();
        keys.sort_unstable();
        keys
    }

    /// A `RuleInput` with every optional member of every nested object set.
    fn full_body() -> Value {
        json!({
            "nickname": "n", "description": "d", "status": "disabled",
            "trigger": {"type": "SCHEDULED", "account_id": "acc_a", "schedule_type": "MONTHLY",
                        "start_date": "2024-05-01T09:00:00Z"},
            "steps": [{
                "conditions": {
                    "condition": {"fact": "BALANCE", "operator": "EQUALS", "value": 1, "value_fact": "LAST_STATEMENT_BALANCE",
                                  "params": {"account_id": "acc_a", "value_account_id": "acc_b"}},
                    "any": [{"condition": {"fact": "DATE", "operator": "EQUALS", "value": 1}}],
                    "all": [{"condition": {"fact": "DATE", "operator": "EQUALS", "value": 2}}]
                },
                "actions": [{"type": "PERCENTAGE", "source_account_id": "acc_a", "destination_account_id": "acc_b",
                             "amount_in_cents": 1, "percentage_value": 1.5, "percentage_target": "SOURCE_ACCOUNT",
                             "group_index": 1, "up_to_enabled": true,
                             "limit": {"period": "PER_WEEK", "amount_in_cents": 100}}]
            }]
        })
    }

    #[test]
    fn the_field_lists_match_the_generated_wire_types() {
        // Goal: the lists above cannot drift from the spec. Method: round-trip a body with every
        // field set through the generated types and compare each object's keys with its list.
        let typed: sequence_api::types::RuleInput = serde_json::from_value(full_body()).unwrap();
        let round_trip = serde_json::to_value(&typed).unwrap();
        let object = |value: &Value| value.as_object().unwrap().clone();
        fn sorted<'a>(fields: &[&'a str]) -> Vec<&'a str> {
            let mut fields = fields.to_vec();
            fields.sort_unstable();
            fields
        }
        let step = &round_trip["steps"][0];
        let group = &step["conditions"];
        let action = &step["actions"][0];
        let cases = [
            (object(&round_trip["trigger"]), TRIGGER_FIELDS),
            (object(step), STEP_FIELDS),
            (object(group), GROUP_FIELDS),
            (object(&group["condition"]), CONDITION_FIELDS),
            (object(&group["condition"]["params"]), PARAMS_FIELDS),
            (object(action), ACTION_FIELDS),
            (object(&action["limit"]), LIMIT_FIELDS),
        ];
        for (object, fields) in cases {
            assert_eq!(keys(&object), sorted(fields));
        }
        assert!(unknown_nested_field(&round_trip).is_ok());
    }

    #[test]
    fn unknown_fields_are_reported_with_their_path_at_every_depth() {
        let cases = [
            ("/trigger", "trigger.colour"),
            ("/steps/0", "steps[0].colour"),
            ("/steps/0/conditions", "steps[0].conditions.colour"),
            ("/steps/0/conditions/condition", "steps[0].conditions.condition.colour"),
            ("/steps/0/conditions/condition/params", "steps[0].conditions.condition.params.colour"),
            ("/steps/0/conditions/all/0", "steps[0].conditions.all[0].colour"),
            ("/steps/0/conditions/any/0/condition", "steps[0].conditions.any[0].condition.colour"),
            ("/steps/0/actions/0", "steps[0].actions[0].colour"),
            ("/steps/0/actions/0/limit", "steps[0].actions[0].limit.colour"),
        ];
        for (pointer, expected) in cases {
            let mut body = full_body();
            body.pointer_mut(pointer)
                .unwrap()
                .as_object_mut()
                .unwrap()
                .insert("colour".into(), json!("red"));
            let violation = unknown_nested_field(&body).unwrap_err();
            assert_eq!(violation.path, expected);
            assert!(violation.message.contains("is not a known field"), "{}", violation.message);
        }
    }

    #[test]
    fn only_the_two_rule_input_operations_are_checked() {
        assert!(takes_rule_input(&Method::POST, "/rules"));
        assert!(takes_rule_input(&Method::POST, "/api/v1/rules"));
        assert!(takes_rule_input(&Method::PUT, "/rules/rule_1"));
        assert!(takes_rule_input(&Method::PUT, "/api/v1/rules/rule_1"));
        assert!(!takes_rule_input(&Method::POST, "/rules/rule_1/trigger"));
        assert!(!takes_rule_input(&Method::GET, "/rules"));
        assert!(!takes_rule_input(&Method::DELETE, "/rules/rule_1"));
        assert!(!takes_rule_input(&Method::POST, "/transfers"));
    }
}
