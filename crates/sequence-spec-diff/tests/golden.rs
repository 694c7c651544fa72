//! Golden tests: each case is a pair of small specs under
//! `tests/fixtures/<case>/{old,new}.yaml` (described in
//! `tests/fixtures/README.md`), and the Markdown report for the pair is
//! snapshotted in `tests/snapshots/<case>.snap`.
//!
//! Besides the snapshot, each test states the overall verdict it expects, so
//! that accepting a wrong snapshot with `cargo insta accept` still fails.
//!
//! To update after an intentional change: `cargo insta test -p
//! sequence-spec-diff --review`, or run the tests with `INSTA_UPDATE=always`
//! and read the diff of the `.snap` files.

use std::path::Path;

use sequence_spec_diff::{Verdict, diff, load};

/// What the report as a whole should say.
#[derive(Debug, PartialEq, Eq)]
enum Expect {
    Breaking,
    NonBreaking,
    NoChange,
}

#[track_caller]
fn check(case: &str, expect: Expect) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(case);
    let read = |name: &str| {
        let path = dir.join(name);
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
        load(&text).unwrap_or_else(|e| panic!("cannot load {}: {e:?}", path.display()))
    };
    let report = diff(&read("old.yaml"), &read("new.yaml"));

    let actual = if report.is_empty() {
        Expect::NoChange
    } else if report.has_breaking() {
        Expect::Breaking
    } else {
        Expect::NonBreaking
    };
    assert_eq!(actual, expect, "overall verdict for {case}:\n{}", report.to_markdown());
    if expect == Expect::NonBreaking {
        assert!(report.changes().iter().all(|c| c.verdict == Verdict::NonBreaking));
    }

    insta::with_settings!({
        snapshot_path => "snapshots",
        prepend_module_to_snapshot => false,
        omit_expression => true,
        description => format!("tests/fixtures/{case}: old.yaml → new.yaml"),
    }, {
        insta::assert_snapshot!(case, report.to_markdown());
    });
}

#[test]
fn removed_path() {
    check("removed_path", Expect::Breaking);
}

#[test]
fn new_required_request_field() {
    check("new_required_request_field", Expect::Breaking);
}

#[test]
fn narrowed_request_enum() {
    check("narrowed_request_enum", Expect::Breaking);
}

#[test]
fn widened_request_enum() {
    check("widened_request_enum", Expect::NonBreaking);
}

#[test]
fn widened_response_enum() {
    check("widened_response_enum", Expect::Breaking);
}

#[test]
fn narrowed_response_enum() {
    check("narrowed_response_enum", Expect::NonBreaking);
}

#[test]
fn type_change() {
    check("type_change", Expect::Breaking);
}

#[test]
fn new_optional_request_field() {
    check("new_optional_request_field", Expect::NonBreaking);
}

#[test]
fn request_field_removed_closed() {
    check("request_field_removed_closed", Expect::Breaking);
}

#[test]
fn request_constraints() {
    check("request_constraints", Expect::Breaking);
}

#[test]
fn response_field_removed() {
    check("response_field_removed", Expect::Breaking);
}

#[test]
fn response_field_added() {
    check("response_field_added", Expect::NonBreaking);
}

#[test]
fn response_field_added_closed() {
    check("response_field_added_closed", Expect::Breaking);
}

#[test]
fn response_field_loosened() {
    check("response_field_loosened", Expect::Breaking);
}

#[test]
fn parameter_made_required() {
    check("parameter_made_required", Expect::Breaking);
}

#[test]
fn new_optional_query_param() {
    check("new_optional_query_param", Expect::NonBreaking);
}

#[test]
fn new_required_header_param() {
    check("new_required_header_param", Expect::Breaking);
}

#[test]
fn operation_id_renamed() {
    check("operation_id_renamed", Expect::Breaking);
}

#[test]
fn path_param_renamed() {
    check("path_param_renamed", Expect::NonBreaking);
}

#[test]
fn recursive_schema() {
    check("recursive_schema", Expect::Breaking);
}

#[test]
fn security_changed() {
    check("security_changed", Expect::Breaking);
}

#[test]
fn shared_schema_widened() {
    check("shared_schema_widened", Expect::Breaking);
}

#[test]
fn request_field_removed_open() {
    check("request_field_removed_open", Expect::NonBreaking);
}

#[test]
fn response_optional_field_removed() {
    check("response_optional_field_removed", Expect::NonBreaking);
}

#[test]
fn success_response_added() {
    check("success_response_added", Expect::Breaking);
}

#[test]
fn request_type_widened() {
    check("request_type_widened", Expect::NonBreaking);
}

#[test]
fn no_change() {
    check("no_change", Expect::NoChange);
}
