//! The JSON Schema of the permissions document, the JSON that `sequence-server keys create
//! --permissions` reads and `openapi.yaml` does not describe (keys are made by the operator, not
//! through the API). `sequence-server keys schema` prints it, so an editor can complete and check
//! a permissions file and a script can validate one before calling the CLI.
//!
//! Why derived rather than written: the parser ([`Permissions::from_json`]) is hand-written,
//! because a permission list is a security boundary and its refusals name the entry and field. A
//! schema kept by hand beside it would drift. This one comes from the parser's own tables:
//! [`Scope`] derives `schemars::JsonSchema` (its names and docs), [`TransferPairDocument`] derives
//! the pair's shape, and the per-scope rules are built from [`Scope::ALL`],
//! [`Scope::resource_kind`], [`Scope::resource_id_kind`], the id prefixes and the limits. Adding a
//! scope, or changing what one takes, changes the schema with it. The tests below check that the
//! schema and the parser agree on a table of documents; the server's API tests check that its
//! scopes are exactly the spec's `x-scopes`.
//!
//! What the schema cannot say, and the parser still refuses: a scope given twice, a pair repeated
//! or naming one account as both source and target, and a `max_amount` written with a fraction
//! part (`150.0`, an integer to JSON Schema). Ids are limited to 64 characters here and to 64
//! bytes by the parser (the same for the ASCII ids the server mints).

use schemars::JsonSchema;
use schemars::r#gen::{SchemaGenerator, SchemaSettings};
use schemars::schema::{RootSchema, Schema};
use serde_json::{Value, json};

use super::{
    Permissions, RESOURCE_ID_LENGTH_MAX, RESOURCE_IDS_PER_ENTRY_MAX, ResourceIdKind, ResourceKind,
    Scope, TRANSFER_PAIRS_MAX, WILDCARD,
};
use crate::money::TRANSFER_MINIMUM;

impl Permissions {
    /// The JSON Schema (draft 7) of the permissions document.
    pub fn json_schema_document() -> RootSchema {
        let mut schema =
            SchemaGenerator::new(SchemaSettings::draft07()).into_root_schema_for::<Permissions>();
        let metadata = schema.schema.metadata();
        metadata.title = Some("Sequence API-key permissions".to_owned());
        schema
    }
}

impl JsonSchema for Permissions {
    fn schema_name() -> String {
        "Permissions".to_owned()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let entry = generator.subschema_for::<Entry>();
        schema(json!({
            "description": "An API key's permissions, as `sequence-server keys create --permissions` \
                takes them: a list of entries, at most one per scope. Each entry names a scope and, \
                for scopes that take them, the `resources` it is limited to.",
            "type": "array",
            "maxItems": Scope::ALL.len(),
            "items": entry,
            "examples": [[
                {"scope": "LIST_ACCOUNTS"},
                {"scope": "READ_ACCOUNTS", "resources": ["*"]},
                {"scope": "MANUAL_TRANSFER", "resources": [{"source": "*", "target": "*", "max_amount": 50000}]}
            ]],
        }))
    }
}

/// One entry of the document (its schema only: the parser builds [`super::PermissionEntry`]).
struct Entry;

impl JsonSchema for Entry {
    fn schema_name() -> String {
        "PermissionEntry".to_owned()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let scope = generator.subschema_for::<Scope>();
        // One rule per kind of resources, naming the scopes of that kind.
        let mut groups: Vec<(Vec<&'static str>, Value)> = Vec::new();
        for scope in Scope::ALL {
            let then = match (scope.resource_kind(), scope.resource_id_kind()) {
                (ResourceKind::None, _) => json!({
                    "properties": {"resources": {"type": "null", "description": "This scope takes no resources."}}
                }),
                (ResourceKind::Ids, Some(kind)) => json!({
                    "required": ["resources"],
                    "properties": {"resources": value(ids_schema(generator, kind))},
                }),
                (ResourceKind::Ids, None) => unreachable!("every ids scope has an id kind"),
                (ResourceKind::TransferPairs, _) => json!({
                    "required": ["resources"],
                    "properties": {"resources": {
                        "description": "The account pairs manual transfers may move money between; \
                            a transfer is allowed when some pair matches its source and destination \
                            and allows its amount.",
                        "type": "array",
                        "minItems": 1,
                        "maxItems": TRANSFER_PAIRS_MAX,
                        "items": value(generator.subschema_for::<TransferPairDocument>()),
                    }},
                }),
            };
            match groups.iter_mut().find(|(_, rule)| *rule == then) {
                Some((scopes, _)) => scopes.push(scope.as_str()),
                None => groups.push((vec![scope.as_str()], then)),
            }
        }
        let rules: Vec<Value> = groups
            .into_iter()
            .map(|(scopes, then)| {
                json!({"if": {"properties": {"scope": {"enum": scopes}}}, "then": then})
            })
            .collect();
        schema(json!({
            "description": "A scope and, for scopes that take them, the resources it is limited to.",
            "type": "object",
            "required": ["scope"],
            "additionalProperties": false,
            "properties": {
                "scope": value(scope),
                "resources": {
                    "description": "Ids (or `[\"*\"]`) for the id scopes, `{source, target, \
                        max_amount?}` pairs for `MANUAL_TRANSFER`, absent (or null) otherwise."
                },
            },
            "allOf": rules,
        }))
    }
}

/// The ids an ids scope may list, by kind: a definition each, so the schema names them.
fn ids_schema(generator: &mut SchemaGenerator, kind: ResourceIdKind) -> Schema {
    match kind {
        ResourceIdKind::Account => generator.subschema_for::<AccountIds>(),
        ResourceIdKind::Rule => generator.subschema_for::<RuleIds>(),
    }
}

/// `["*"]` or account ids.
struct AccountIds;
/// `["*"]` or rule ids.
struct RuleIds;

impl JsonSchema for AccountIds {
    fn schema_name() -> String {
        "AccountIds".to_owned()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        id_list(ResourceIdKind::Account)
    }
}

impl JsonSchema for RuleIds {
    fn schema_name() -> String {
        "RuleIds".to_owned()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        id_list(ResourceIdKind::Rule)
    }
}

fn id_list(kind: ResourceIdKind) -> Schema {
    schema(json!({
        "description": format!(
            "`[\"*\"]` for every resource of the kind, including ones created later, or a list of \
             {} (`{}…`), each once.",
            kind.plural(),
            kind.prefix()
        ),
        "anyOf": [
            {"type": "array", "items": {"const": WILDCARD}, "minItems": 1, "maxItems": 1},
            {
                "type": "array",
                "items": value(id(kind)),
                "minItems": 1,
                "maxItems": RESOURCE_IDS_PER_ENTRY_MAX,
                "uniqueItems": true,
            },
        ],
    }))
}

/// One id of `kind`.
fn id(kind: ResourceIdKind) -> Schema {
    schema(json!({
        "type": "string",
        "pattern": format!("^{}", escape_regex(kind.prefix())),
        "maxLength": RESOURCE_ID_LENGTH_MAX,
    }))
}

/// One `MANUAL_TRANSFER` pair: which accounts money may move between, and up to how much.
#[derive(JsonSchema)]
#[schemars(rename = "TransferPair", deny_unknown_fields)]
// Only its schema is used: the parser reads pairs into [`super::TransferPair`].
#[allow(dead_code)]
pub struct TransferPairDocument {
    /// The account money may leave: an account id (`acc_…`), or `"*"` for any account.
    #[schemars(schema_with = "account_selector")]
    source: String,
    /// The account money may arrive in (the API's `destination_account_id`): an account id, or
    /// `"*"` for any account.
    #[schemars(schema_with = "account_selector")]
    target: String,
    /// The most one transfer may move, in cents (at least the $1.00 transfer minimum). Absent or
    /// null: no cap beyond the API's own limits.
    #[schemars(schema_with = "max_amount", default)]
    max_amount: Option<i64>,
}

fn account_selector(_: &mut SchemaGenerator) -> Schema {
    schema(json!({"anyOf": [{"const": WILDCARD}, value(id(ResourceIdKind::Account))]}))
}

fn max_amount(_: &mut SchemaGenerator) -> Schema {
    schema(
        json!({"type": ["integer", "null"], "minimum": TRANSFER_MINIMUM.get(), "maximum": i64::MAX}),
    )
}

/// `text` as a regular expression matching itself.
fn escape_regex(text: &str) -> String {
    text.chars()
        .flat_map(|c| {
            let escape = "\\.+*?()|[]{}^$".contains(c);
            escape.then_some('\\').into_iter().chain(std::iter::once(c))
        })
        .collect()
}

fn schema(value: Value) -> Schema {
    serde_json::from_value(value).expect("a well-formed schema")
}

fn value(schema: Schema) -> Value {
    serde_json::to_value(schema).expect("a schema serializes")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn validator() -> jsonschema::Validator {
        let document = serde_json::to_value(Permissions::json_schema_document()).unwrap();
        jsonschema::draft7::new(&document).expect("the schema compiles")
    }

    /// Documents the parser accepts: the schema accepts them too.
    const ACCEPTED: &[&str] = &[
        "[]",
        r#"[{"scope":"LIST_ACCOUNTS"}]"#,
        r#"[{"scope":"LIST_ACCOUNTS","resources":null}]"#,
        r#"[{"scope":"READ_ACCOUNTS","resources":["*"]}]"#,
        r#"[{"scope":"READ_ACCOUNTS","resources":["acc_1","acc_2"]}]"#,
        r#"[{"scope":"READ_RULES","resources":["rule_1"]},{"scope":"TRIGGER_RULES","resources":["*"]}]"#,
        r#"[{"scope":"READ_TRANSFERS","resources":["acc_1"]},{"scope":"READ_CARDS","resources":["*"]}]"#,
        r#"[{"scope":"MANUAL_TRANSFER","resources":[{"source":"*","target":"*"}]}]"#,
        r#"[{"scope":"MANUAL_TRANSFER","resources":[{"source":"acc_1","target":"*","max_amount":100}]}]"#,
        r#"[{"scope":"MANUAL_TRANSFER","resources":[{"source":"acc_1","target":"acc_2","max_amount":null}]}]"#,
        r#"[{"scope":"SANDBOX"},{"scope":"MANAGE_ACCOUNTS"},{"scope":"CREATE_AND_EDIT_RULES"}]"#,
    ];

    /// Documents the parser refuses: the schema refuses them too.
    const REFUSED: &[&str] = &[
        "{}",
        r#"["LIST_ACCOUNTS"]"#,
        r#"[{}]"#,
        r#"[{"scope":"LIST_EVERYTHING"}]"#,
        r#"[{"scope":"list_accounts"}]"#,
        r#"[{"scope":"LIST_ACCOUNTS","resources":["*"]}]"#,
        r#"[{"scope":"LIST_ACCOUNTS","extra":1}]"#,
        r#"[{"scope":"READ_ACCOUNTS"}]"#,
        r#"[{"scope":"READ_ACCOUNTS","resources":null}]"#,
        r#"[{"scope":"READ_ACCOUNTS","resources":[]}]"#,
        r#"[{"scope":"READ_ACCOUNTS","resources":"*"}]"#,
        r#"[{"scope":"READ_ACCOUNTS","resources":["*","acc_1"]}]"#,
        r#"[{"scope":"READ_ACCOUNTS","resources":["acc_1","acc_1"]}]"#,
        r#"[{"scope":"READ_ACCOUNTS","resources":["rule_1"]}]"#,
        r#"[{"scope":"READ_ACCOUNTS","resources":[""]}]"#,
        r#"[{"scope":"READ_ACCOUNTS","resources":[1]}]"#,
        r#"[{"scope":"READ_RULES","resources":["acc_1"]}]"#,
        r#"[{"scope":"MANUAL_TRANSFER","resources":["*"]}]"#,
        r#"[{"scope":"MANUAL_TRANSFER","resources":[]}]"#,
        r#"[{"scope":"MANUAL_TRANSFER","resources":[{"source":"*"}]}]"#,
        r#"[{"scope":"MANUAL_TRANSFER","resources":[{"source":"*","target":"rule_1"}]}]"#,
        r#"[{"scope":"MANUAL_TRANSFER","resources":[{"source":"*","target":"*","max_amount":99}]}]"#,
        r#"[{"scope":"MANUAL_TRANSFER","resources":[{"source":"*","target":"*","max_amount":"100"}]}]"#,
        r#"[{"scope":"MANUAL_TRANSFER","resources":[{"source":"*","target":"*","cap":100}]}]"#,
    ];

    /// What the schema cannot express (see the module docs): the parser alone refuses these.
    const REFUSED_BY_THE_PARSER_ONLY: &[&str] = &[
        r#"[{"scope":"LIST_ACCOUNTS"},{"scope":"LIST_ACCOUNTS"}]"#,
        r#"[{"scope":"MANUAL_TRANSFER","resources":[{"source":"acc_1","target":"acc_1"}]}]"#,
        r#"[{"scope":"MANUAL_TRANSFER","resources":[{"source":"*","target":"*"},{"source":"*","target":"*","max_amount":500}]}]"#,
        r#"[{"scope":"MANUAL_TRANSFER","resources":[{"source":"*","target":"*","max_amount":150.0}]}]"#,
    ];

    #[test]
    fn the_schema_and_the_parser_agree() {
        let validator = validator();
        for text in ACCEPTED {
            let document: Value = serde_json::from_str(text).unwrap();
            assert!(Permissions::from_json(text).is_ok(), "the parser accepts {text}");
            let errors: Vec<String> =
                validator.iter_errors(&document).map(|e| e.to_string()).collect();
            assert!(errors.is_empty(), "the schema accepts {text}: {errors:?}");
        }
        for text in REFUSED {
            let document: Value = serde_json::from_str(text).unwrap();
            assert!(Permissions::from_json(text).is_err(), "the parser refuses {text}");
            assert!(!validator.is_valid(&document), "the schema refuses {text}");
        }
        for text in REFUSED_BY_THE_PARSER_ONLY {
            let document: Value = serde_json::from_str(text).unwrap();
            assert!(Permissions::from_json(text).is_err(), "the parser refuses {text}");
            assert!(
                validator.is_valid(&document),
                "the schema cannot tell {text}; update the docs"
            );
        }
    }

    /// What `serve --demo` hands out and what `to_json` writes are valid documents.
    #[test]
    fn canonical_documents_validate() {
        let validator = validator();
        let all: Value = serde_json::from_str(&Permissions::all_scopes().to_json()).unwrap();
        assert!(validator.is_valid(&all), "{all}");
        assert!(validator.is_valid(&serde_json::from_str(&Permissions::none().to_json()).unwrap()));
    }

    /// The scope names the schema allows are exactly [`Scope::ALL`], each described.
    #[test]
    fn the_schema_names_every_scope() {
        let document = serde_json::to_value(Permissions::json_schema_document()).unwrap();
        let scope = &document["definitions"]["Scope"];
        let mut names = Vec::new();
        collect_enum_values(scope, &mut names);
        let expected: Vec<&str> = Scope::ALL.iter().map(|s| s.as_str()).collect();
        assert_eq!(names, expected, "{scope:#}");
    }

    fn collect_enum_values(schema: &Value, into: &mut Vec<String>) {
        if let Some(values) = schema["enum"].as_array() {
            into.extend(values.iter().filter_map(Value::as_str).map(str::to_owned));
        }
        for key in ["oneOf", "anyOf"] {
            for branch in schema[key].as_array().into_iter().flatten() {
                collect_enum_values(branch, into);
            }
        }
    }

    #[test]
    fn regex_metacharacters_are_escaped() {
        assert_eq!(escape_regex("acc_"), "acc_");
        assert_eq!(escape_regex("a.b*"), "a\\.b\\*");
    }
}
