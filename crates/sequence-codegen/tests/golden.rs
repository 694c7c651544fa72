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
        "{HEAD}paths:\n  /things:\n    get:\n      operationId: listThings\n      summary: List.\n      tags: [T]\n      x-required-scope: public\n      responses:\n        '200': {{description: ok, content: {{application/json: {{schema: {{$ref: '#/components/schemas/Thing'}}}}}}}}\n        '400': {{$ref: '#/components/responses/Error'}}\n{}",
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
        "{HEAD}paths:\n  /things:\n    get:\n      summary: List.\n      x-required-scope: public\n      responses:\n        '200': {{description: ok, content: {{application/json: {{schema: {{$ref: '#/components/schemas/Thing'}}}}}}}}\n{ERROR_COMPONENTS}"
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
        "{HEAD}paths:\n  /things:\n    get:\n      operationId: listThings\n      summary: List.\n      tags: [T]\n      x-required-scope: public\n      responses:\n        '200':\n          description: ok\n          content:\n            application/json:\n              schema: {{$ref: '#/components/schemas/Thing'}}\n              example: {{id: 7, size: 0, kind: c}}\n        '400': {{$ref: '#/components/responses/Error'}}\n{ERROR_COMPONENTS}"
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
        "{HEAD}paths:\n  /things:\n    get:\n      operationId: listThings\n      summary: List.\n      tags: [T]\n      x-required-scope: public\n      responses:\n        '200': {{description: ok, content: {{application/json: {{schema: {{$ref: '#/components/schemas/Thing'}}}}}}}}\n        '201': {{description: ok, content: {{application/json: {{schema: {{$ref: '#/components/schemas/Thing'}}}}}}}}\n        '400': {{$ref: '#/components/responses/Error'}}\n{ERROR_COMPONENTS}"
    );
    let spec = Spec::load(&yaml, "broken.yaml").unwrap();
    let error = generate(&spec, &Layout::default()).unwrap_err().to_string();
    assert_eq!(error, "GET /things: needs exactly one success (1xx-3xx) response");
}

/// A secured spec with a scope catalogue, for the permission findings.
const SECURED: &str = r#"openapi: 3.0.3
info: {title: t, version: '1'}
tags: [{name: T}]
security: [{KeyAuth: []}]
paths:
  /things:
    get:
      operationId: listThings
      summary: List.
      tags: [T]
      parameters:
        - {name: owner, in: query, schema: {type: string}}
      x-required-scope: {scope: READ_THINGS, resource: {in: query, name: owner}}
      responses:
        '200': {description: ok, content: {application/json: {schema: {$ref: '#/components/schemas/Thing'}}}}
        '401': {$ref: '#/components/responses/Error'}
        '403': {$ref: '#/components/responses/Error'}
    post:
      operationId: createThing
      summary: Create.
      tags: [T]
      x-required-scope: {scope: MAKE_THINGS}
      responses:
        '201': {description: ok, content: {application/json: {schema: {$ref: '#/components/schemas/Thing'}}}}
        '401': {$ref: '#/components/responses/Error'}
        '403': {$ref: '#/components/responses/Error'}
  /things/{id}:
    get:
      operationId: getThing
      summary: Get.
      tags: [T]
      parameters:
        - {name: id, in: path, required: true, schema: {type: string}}
      x-required-scope: {scope: READ_THINGS, resource: {in: path, name: thing_id}}
      x-not-implemented: true
      responses:
        '200': {description: ok, content: {application/json: {schema: {$ref: '#/components/schemas/Thing'}}}}
        '401': {$ref: '#/components/responses/Error'}
    put:
      operationId: putThing
      summary: Put.
      tags: [T]
      parameters:
        - {name: id, in: path, required: true, schema: {type: string}}
      x-required-scope: {scope: WRITE_THINGS, resource: {in: path, name: id}}
      responses:
        '200': {description: ok, content: {application/json: {schema: {$ref: '#/components/schemas/Thing'}}}}
        '401': {$ref: '#/components/responses/Error'}
        '403': {$ref: '#/components/responses/Error'}
    delete:
      operationId: deleteThing
      summary: Delete.
      tags: [T]
      parameters:
        - {name: id, in: path, required: true, schema: {type: string}}
      x-required-scope: {scope: READ_THINGS, resource: {in: loaded, what: the thing's owner}}
      responses:
        '204': {description: ok}
        '401': {$ref: '#/components/responses/Error'}
        '403': {$ref: '#/components/responses/Error'}
  /things/{id}/copy:
    post:
      operationId: copyThing
      summary: Copy.
      tags: [T]
      parameters:
        - {name: id, in: path, required: true, schema: {type: string}}
      x-required-scope: {scope: READ_THINGS, resource: {in: path, name: id}}
      responses:
        '201': {description: ok, content: {application/json: {schema: {$ref: '#/components/schemas/Thing'}}}}
        '401': {$ref: '#/components/responses/Error'}
  /other:
    get:
      operationId: getOther
      summary: Other.
      tags: [T]
      responses:
        '200': {description: ok, content: {application/json: {schema: {$ref: '#/components/schemas/Thing'}}}}
        '401': {$ref: '#/components/responses/Error'}
        '403': {$ref: '#/components/responses/Error'}
components:
  securitySchemes:
    KeyAuth:
      type: apiKey
      in: header
      name: Authorization
      x-scopes:
        - {scope: READ_THINGS, resources: ids, description: Read the listed things.}
        - {scope: MAKE_THINGS, resources: ids, description: Make things.}
  schemas:
    Thing: {type: object, properties: {id: {type: string}}}
    ErrorResponse:
      type: object
      required: [error]
      properties:
        error: {$ref: '#/components/schemas/ErrorDetail'}
        request_id: {type: string}
    ErrorDetail:
      type: object
      required: [code, message]
      properties:
        code: {type: string, x-error-codes: [{code: forbidden, status: 403, description: No.}]}
        message: {type: string}
  responses:
    Error:
      description: Error.
      content:
        application/json:
          schema: {$ref: '#/components/schemas/ErrorResponse'}
"#;

/// Every operation must declare what it requires, in terms of the catalogue, naming inputs it
/// really has; resources the router cannot see must say who checks them.
#[test]
fn lint_reports_undeclared_and_inconsistent_scopes() {
    insta::assert_debug_snapshot!(findings(SECURED), @r#"
    [
        "GET /things: the resource's query parameter `owner` must be required (a missing filter would widen the check)",
        "POST /things: scope `MAKE_THINGS` takes ids: declare where the resource comes from (`resource`)",
        "GET /things/{id}: the resource names path parameter `thing_id`, which the operation lacks",
        "GET /things/{id}: is marked `x-not-implemented` but does not declare 501",
        "PUT /things/{id}: unknown scope `WRITE_THINGS`; `x-scopes` lists READ_THINGS, MAKE_THINGS",
        "DELETE /things/{id}: `x-required-scope.resource.checked-by` must be `handler` or `application`: generated code cannot check this resource, so say who does",
        "POST /things/{id}/copy: requires a scope but does not declare 403 (the answer when the key lacks it)",
        "GET /other: missing `x-required-scope`: declare the scope the operation needs (or `public` for an unsecured operation)",
    ]
    "#);
}
