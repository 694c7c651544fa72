//! Golden tests: the generator's output for each fixture spec, snapshotted with insta, plus the
//! lint's findings for deliberately broken specs. A snapshot diff shows exactly how a generator
//! change alters generated code; review it with `cargo insta review`.

use sequence_codegen::{Layout, Spec, generate, lint};

fn fixture(name: &str) -> Spec {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    Spec::load(&text, name).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// Generates `name` and snapshots each output file under `<name>__<file>`.
#[track_caller]
fn check_generated(name: &str) {
    let spec = fixture(name);
    assert_eq!(lint::lint(&spec), Vec::new(), "fixtures must be lint-clean");
    let files = generate(&spec, &Layout::default()).expect("fixture generates");
    for file in files {
        let short = file.path.rsplit('/').next().unwrap_or(&file.path).trim_end_matches(".rs");
        let crate_name = file.path.split('/').nth(1).unwrap_or("");
        insta::assert_snapshot!(
            format!("{}__{crate_name}__{short}", name.trim_end_matches(".yaml")),
            file.contents
        );
    }
}

/// Lints `yaml` (a small spec) and returns the findings as lines.
fn findings(yaml: &str) -> Vec<String> {
    let spec = Spec::load(yaml, "broken.yaml").expect("loads");
    lint::lint(&spec).iter().map(ToString::to_string).collect()
}

#[test]
fn widgets() {
    check_generated("widgets.yaml");
}

#[test]
fn jobs() {
    check_generated("jobs.yaml");
}

#[test]
fn generation_is_deterministic() {
    let spec = fixture("widgets.yaml");
    let first = generate(&spec, &Layout::default()).unwrap();
    let second = generate(&spec, &Layout::default()).unwrap();
    assert_eq!(first, second);
}

const HEAD: &str = "openapi: 3.0.3\ninfo: {title: t, version: '1'}\ntags: [{name: T}]\n";
const ERROR_COMPONENTS: &str = r#"
components:
  schemas:
    Thing:
      type: object
      required: [id, size]
      properties:
        id: {type: string}
        size: {type: integer, minimum: 1}
        kind: {type: string, enum: [a, b]}
    ErrorResponse:
      type: object
      required: [error, request_id]
      properties:
        error: {$ref: '#/components/schemas/ErrorDetail'}
        request_id: {type: string}
    ErrorDetail:
      type: object
      required: [code, message]
      properties:
        code: {type: string, x-error-codes: [{code: invalid_request, status: 400, description: Bad.}]}
        message: {type: string}
  responses:
    Error:
      description: Error.
      content:
        application/json:
          schema: {$ref: '#/components/schemas/ErrorResponse'}
"#;

#[test]
fn lint_reports_typos_the_parser_would_drop() {
    let yaml = format!(
        "{HEAD}paths:\n  /things:\n    get:\n      operationId: listThings\n      summary: List.\n      tags: [T]\n      responses:\n        '200': {{description: ok, content: {{application/json: {{schema: {{$ref: '#/components/schemas/Thing'}}}}}}}}\n        '400': {{$ref: '#/components/responses/Error'}}\n{}",
        ERROR_COMPONENTS.replace("required: [id, size]", "requried: [id, size]")
    );
    insta::assert_debug_snapshot!(findings(&yaml), @r#"
    [
        "/components/schemas/Thing/requried: not an OpenAPI 3.0 key here: the parser drops it (typo?)",
    ]
    "#);
}

#[test]
fn lint_reports_missing_operation_ids_tags_and_error_responses() {
    let yaml = format!(
        "{HEAD}paths:\n  /things:\n    get:\n      summary: List.\n      responses:\n        '200': {{description: ok, content: {{application/json: {{schema: {{$ref: '#/components/schemas/Thing'}}}}}}}}\n{ERROR_COMPONENTS}"
    );
    insta::assert_debug_snapshot!(findings(&yaml), @r#"
    [
        "GET /things: missing operationId",
        "GET /things: needs exactly one tag, has 0",
        "GET /things: declares no error response",
    ]
    "#);
}

#[test]
fn lint_reports_examples_that_do_not_match_their_schema() {
    let yaml = format!(
        "{HEAD}paths:\n  /things:\n    get:\n      operationId: listThings\n      summary: List.\n      tags: [T]\n      responses:\n        '200':\n          description: ok\n          content:\n            application/json:\n              schema: {{$ref: '#/components/schemas/Thing'}}\n              example: {{id: 7, size: 0, kind: c}}\n        '400': {{$ref: '#/components/responses/Error'}}\n{ERROR_COMPONENTS}"
    );
    insta::assert_debug_snapshot!(findings(&yaml), @r#"
    [
        "GET /things › 200 application/json example: id: expected a string",
        "GET /things › 200 application/json example: kind: \"c\" is not one of [\"a\", \"b\"]",
        "GET /things › 200 application/json example: size: 0 outside Some(1)..None",
    ]
    "#);
}

#[test]
fn generation_refuses_specs_outside_the_conventions() {
    let yaml = format!(
        "{HEAD}paths:\n  /things:\n    get:\n      operationId: listThings\n      summary: List.\n      tags: [T]\n      responses:\n        '200': {{description: ok, content: {{application/json: {{schema: {{$ref: '#/components/schemas/Thing'}}}}}}}}\n        '201': {{description: ok, content: {{application/json: {{schema: {{$ref: '#/components/schemas/Thing'}}}}}}}}\n        '400': {{$ref: '#/components/responses/Error'}}\n{ERROR_COMPONENTS}"
    );
    let spec = Spec::load(&yaml, "broken.yaml").unwrap();
    let error = generate(&spec, &Layout::default()).unwrap_err().to_string();
    assert_eq!(error, "GET /things: needs exactly one success (1xx-3xx) response");
}
