//! What a diff produces: a flat list of [`Change`]s, each tied to the
//! operation it affects.
//!
//! Changes are attached to operations, not to components, because that is the
//! unit a client sees: a field added to a shared schema is a request change
//! for one endpoint and a response change for another, and the verdict depends
//! on which. A change to a shared schema therefore appears once per operation
//! that uses it.

use std::fmt;

/// Whether a change can break existing clients.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Verdict {
    /// Some client that worked against the old spec may fail against the new
    /// one, at runtime or when its generated code is rebuilt.
    Breaking,
    /// Every client that worked against the old spec keeps working.
    NonBreaking,
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Breaking => "breaking",
            Self::NonBreaking => "non-breaking",
        })
    }
}

/// The operation a change belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Endpoint {
    /// Upper-case HTTP method, e.g. `POST`.
    pub method: String,
    /// The path template as written in the newer spec (the older one for a
    /// removed operation).
    pub path: String,
    /// The `operationId` in the newer spec (the older one for a removed
    /// operation), if any.
    pub operation_id: Option<String>,
}

impl Endpoint {
    /// Sort key: path first, then methods in the conventional CRUD order.
    fn sort_key(&self) -> (&str, usize, &str) {
        const ORDER: [&str; 8] =
            ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "TRACE"];
        let rank = ORDER.iter().position(|m| *m == self.method).unwrap_or(ORDER.len());
        (&self.path, rank, &self.method)
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.method, self.path)
    }
}

/// What changed. The [`Display`](fmt::Display) form is a short lower-case
/// phrase meant to follow a location, e.g. "required property added".
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ChangeKind {
    /// A method + path that did not exist before.
    OperationAdded,
    /// A method + path that no longer exists.
    OperationRemoved,
    /// The `operationId` was added, removed or renamed.
    OperationIdChanged { old: Option<String>, new: Option<String> },
    /// A query, header, path or cookie parameter appeared.
    ParameterAdded { required: bool },
    /// A parameter disappeared.
    ParameterRemoved,
    /// A path parameter kept its position but changed its name.
    ParameterRenamed { old: String, new: String },
    /// An optional parameter became required.
    ParameterMadeRequired,
    /// A required parameter became optional.
    ParameterMadeOptional,
    /// The operation now takes a request body.
    RequestBodyAdded { required: bool },
    /// The operation no longer takes a request body.
    RequestBodyRemoved,
    /// An optional request body became required.
    RequestBodyMadeRequired,
    /// A required request body became optional.
    RequestBodyMadeOptional,
    /// A request or response body gained a media type.
    MediaTypeAdded { media_type: String },
    /// A request or response body lost a media type.
    MediaTypeRemoved { media_type: String },
    /// A response status code (or `default`) was documented.
    ResponseAdded,
    /// A response status code (or `default`) is no longer documented.
    ResponseRemoved,
    /// An object schema gained a property.
    PropertyAdded { required: bool },
    /// An object schema lost a property.
    PropertyRemoved { was_required: bool },
    /// A property became required.
    PropertyMadeRequired,
    /// A property became optional.
    PropertyMadeOptional,
    /// The JSON type changed. `any` stands for "no type constraint".
    TypeChanged { old: String, new: String },
    /// The `format` was added, removed or changed.
    FormatChanged { old: Option<String>, new: Option<String> },
    /// `nullable: true` was added.
    NullableAdded,
    /// `nullable: true` was removed.
    NullableRemoved,
    /// Values were added to an existing `enum`.
    EnumValuesAdded { values: Vec<String> },
    /// Values were removed from an existing `enum`.
    EnumValuesRemoved { values: Vec<String> },
    /// A validation keyword now accepts fewer values (`minimum` raised,
    /// `maxLength` lowered, `additionalProperties: false` added, `enum` added...).
    ConstraintTightened { constraint: String, old: Option<String>, new: Option<String> },
    /// A validation keyword now accepts more values.
    ConstraintLoosened { constraint: String, old: Option<String>, new: Option<String> },
    /// A validation keyword changed in a way that is neither (a new `pattern`).
    ConstraintChanged { constraint: String, old: Option<String>, new: Option<String> },
    /// A `oneOf`/`anyOf` alternative appeared.
    VariantAdded { keyword: String, variant: String },
    /// A `oneOf`/`anyOf` alternative disappeared.
    VariantRemoved { keyword: String, variant: String },
    /// The effective security requirements changed.
    SecurityChanged { old: String, new: String },
    /// A `$ref` in either spec cannot be resolved, so this part could not be
    /// compared and needs a manual review. [`crate::load`] rejects such
    /// documents; this only occurs for models built or edited in code.
    UnresolvedReference { reference: String },
}

impl ChangeKind {
    /// A stable kebab-case identifier, for filtering or machine output.
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            Self::OperationAdded => "operation-added",
            Self::OperationRemoved => "operation-removed",
            Self::OperationIdChanged { .. } => "operation-id-changed",
            Self::ParameterAdded { .. } => "parameter-added",
            Self::ParameterRemoved => "parameter-removed",
            Self::ParameterRenamed { .. } => "parameter-renamed",
            Self::ParameterMadeRequired => "parameter-made-required",
            Self::ParameterMadeOptional => "parameter-made-optional",
            Self::RequestBodyAdded { .. } => "request-body-added",
            Self::RequestBodyRemoved => "request-body-removed",
            Self::RequestBodyMadeRequired => "request-body-made-required",
            Self::RequestBodyMadeOptional => "request-body-made-optional",
            Self::MediaTypeAdded { .. } => "media-type-added",
            Self::MediaTypeRemoved { .. } => "media-type-removed",
            Self::ResponseAdded => "response-added",
            Self::ResponseRemoved => "response-removed",
            Self::PropertyAdded { .. } => "property-added",
            Self::PropertyRemoved { .. } => "property-removed",
            Self::PropertyMadeRequired => "property-made-required",
            Self::PropertyMadeOptional => "property-made-optional",
            Self::TypeChanged { .. } => "type-changed",
            Self::FormatChanged { .. } => "format-changed",
            Self::NullableAdded => "nullable-added",
            Self::NullableRemoved => "nullable-removed",
            Self::EnumValuesAdded { .. } => "enum-values-added",
            Self::EnumValuesRemoved { .. } => "enum-values-removed",
            Self::ConstraintTightened { .. } => "constraint-tightened",
            Self::ConstraintLoosened { .. } => "constraint-loosened",
            Self::ConstraintChanged { .. } => "constraint-changed",
            Self::VariantAdded { .. } => "variant-added",
            Self::VariantRemoved { .. } => "variant-removed",
            Self::SecurityChanged { .. } => "security-changed",
            Self::UnresolvedReference { .. } => "unresolved-reference",
        }
    }
}

/// Writes `` `a`, `b` `` for a list of values.
fn code_list(values: &[String]) -> String {
    values.iter().map(|v| format!("`{v}`")).collect::<Vec<_>>().join(", ")
}

fn plural(count: usize, one: &'static str, many: &'static str) -> &'static str {
    if count == 1 { one } else { many }
}

fn write_constraint(
    f: &mut fmt::Formatter<'_>,
    verb: &str,
    constraint: &str,
    old: Option<&str>,
    new: Option<&str>,
) -> fmt::Result {
    match (old, new) {
        (None, Some(new)) => write!(f, "`{constraint}: {new}` added"),
        (Some(old), None) => write!(f, "`{constraint}: {old}` removed"),
        (Some(old), Some(new)) => write!(f, "`{constraint}` {verb} from `{old}` to `{new}`"),
        (None, None) => write!(f, "`{constraint}` {verb}"),
    }
}

impl fmt::Display for ChangeKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let required = |required: &bool| if *required { "required" } else { "optional" };
        match self {
            Self::OperationAdded => f.write_str("operation added"),
            Self::OperationRemoved => f.write_str("operation removed"),
            Self::OperationIdChanged { old: Some(old), new: Some(new) } => {
                write!(f, "`operationId` renamed from `{old}` to `{new}`")
            }
            Self::OperationIdChanged { old: Some(old), new: None } => {
                write!(f, "`operationId: {old}` removed")
            }
            Self::OperationIdChanged { old: None, new: Some(new) } => {
                write!(f, "`operationId: {new}` added")
            }
            Self::OperationIdChanged { old: None, new: None } => {
                f.write_str("`operationId` changed")
            }
            Self::ParameterAdded { required: r } => write!(f, "{} parameter added", required(r)),
            Self::ParameterRemoved => f.write_str("parameter removed"),
            Self::ParameterRenamed { old, new } => write!(f, "renamed from `{old}` to `{new}`"),
            Self::ParameterMadeRequired => f.write_str("parameter made required"),
            Self::ParameterMadeOptional => f.write_str("parameter made optional"),
            Self::RequestBodyAdded { required: r } => {
                write!(f, "{} request body added", required(r))
            }
            Self::RequestBodyRemoved => f.write_str("request body removed"),
            Self::RequestBodyMadeRequired => f.write_str("request body made required"),
            Self::RequestBodyMadeOptional => f.write_str("request body made optional"),
            Self::MediaTypeAdded { media_type } => write!(f, "media type `{media_type}` added"),
            Self::MediaTypeRemoved { media_type } => write!(f, "media type `{media_type}` removed"),
            Self::ResponseAdded => f.write_str("response added"),
            Self::ResponseRemoved => f.write_str("response removed"),
            Self::PropertyAdded { required: r } => write!(f, "{} property added", required(r)),
            Self::PropertyRemoved { was_required } => {
                write!(f, "{} property removed", required(was_required))
            }
            Self::PropertyMadeRequired => f.write_str("property made required"),
            Self::PropertyMadeOptional => f.write_str("property made optional"),
            Self::TypeChanged { old, new } => write!(f, "type changed from `{old}` to `{new}`"),
            Self::FormatChanged { old, new } => {
                write_constraint(f, "changed", "format", old.as_deref(), new.as_deref())
            }
            Self::NullableAdded => f.write_str("made nullable"),
            Self::NullableRemoved => f.write_str("no longer nullable"),
            Self::EnumValuesAdded { values } => write!(
                f,
                "enum {} {} added",
                plural(values.len(), "value", "values"),
                code_list(values)
            ),
            Self::EnumValuesRemoved { values } => write!(
                f,
                "enum {} {} removed",
                plural(values.len(), "value", "values"),
                code_list(values)
            ),
            Self::ConstraintTightened { constraint, old, new } => {
                write_constraint(f, "tightened", constraint, old.as_deref(), new.as_deref())
            }
            Self::ConstraintLoosened { constraint, old, new } => {
                write_constraint(f, "loosened", constraint, old.as_deref(), new.as_deref())
            }
            Self::ConstraintChanged { constraint, old, new } => {
                write_constraint(f, "changed", constraint, old.as_deref(), new.as_deref())
            }
            Self::VariantAdded { keyword, variant } => {
                write!(f, "`{keyword}` variant `{variant}` added")
            }
            Self::VariantRemoved { keyword, variant } => {
                write!(f, "`{keyword}` variant `{variant}` removed")
            }
            Self::SecurityChanged { old, new } => {
                write!(f, "security changed from {old} to {new}")
            }
            Self::UnresolvedReference { reference } => {
                write!(f, "`$ref: {reference}` cannot be resolved")
            }
        }
    }
}

/// One difference between the two specs, with its verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// The operation affected.
    pub endpoint: Endpoint,
    /// Where, starting with the operation, e.g.
    /// `POST /transfers › request body › amount_in_cents`.
    pub location: String,
    /// What changed.
    pub kind: ChangeKind,
    /// Whether it can break existing clients.
    pub verdict: Verdict,
    /// Why the verdict is what it is, in one sentence.
    pub reason: String,
}

/// Separator between location segments; it rarely appears in names.
pub(crate) const SEPARATOR: &str = " › ";

impl Change {
    /// The part of [`Change::location`] below the operation (empty for
    /// operation-level changes such as a removed operation).
    #[must_use]
    pub fn detail(&self) -> &str {
        let prefix = self.endpoint.to_string();
        match self.location.strip_prefix(&prefix) {
            Some(rest) => rest.strip_prefix(SEPARATOR).unwrap_or(rest),
            None => &self.location,
        }
    }
}

/// The result of [`crate::diff`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    title: String,
    old_version: String,
    new_version: String,
    changes: Vec<Change>,
}

impl Report {
    /// Sorts the changes by operation; within an operation, the order in
    /// which the diff found them (parameters, request, responses) is kept.
    pub(crate) fn new(
        title: String,
        old_version: String,
        new_version: String,
        mut changes: Vec<Change>,
    ) -> Self {
        changes.sort_by(|a, b| a.endpoint.sort_key().cmp(&b.endpoint.sort_key()));
        Self { title, old_version, new_version, changes }
    }

    /// All changes, grouped by operation in a deterministic order.
    #[must_use]
    pub fn changes(&self) -> &[Change] {
        &self.changes
    }

    /// Whether any change can break existing clients.
    #[must_use]
    pub fn has_breaking(&self) -> bool {
        self.changes.iter().any(|c| c.verdict == Verdict::Breaking)
    }

    /// Whether the two specs describe the same API.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }

    /// Renders the report for a pull-request comment: a title, a one-line
    /// summary, then breaking and non-breaking changes grouped by operation.
    #[must_use]
    pub fn to_markdown(&self) -> String {
        use fmt::Write as _;

        let mut out = String::new();
        // `write!` into a `String` cannot fail.
        let _ = writeln!(
            out,
            "## API changes: {} {} → {}\n",
            self.title, self.old_version, self.new_version
        );
        if self.changes.is_empty() {
            out.push_str("No changes to the API.\n");
            return out;
        }
        let breaking = self.changes.iter().filter(|c| c.verdict == Verdict::Breaking).count();
        let total = self.changes.len();
        let _ = writeln!(
            out,
            "{total} {}: {breaking} breaking, {} non-breaking",
            plural(total, "change", "changes"),
            total - breaking
        );
        for (heading, verdict) in [
            ("Breaking changes", Verdict::Breaking),
            ("Non-breaking changes", Verdict::NonBreaking),
        ] {
            let _ = writeln!(out, "\n### {heading}\n");
            let mut previous: Option<&Endpoint> = None;
            let mut any = false;
            for change in self.changes.iter().filter(|c| c.verdict == verdict) {
                if previous != Some(&change.endpoint) {
                    if previous.is_some() {
                        out.push('\n');
                    }
                    let endpoint = &change.endpoint;
                    let _ = write!(out, "#### `{endpoint}`");
                    if let Some(id) = &endpoint.operation_id {
                        let _ = write!(out, " ({id})");
                    }
                    out.push_str("\n\n");
                    previous = Some(endpoint);
                }
                any = true;
                let detail = change.detail();
                if detail.is_empty() {
                    let kind = change.kind.to_string();
                    let mut chars = kind.chars();
                    let capitalised: String = chars
                        .next()
                        .map(|c| c.to_uppercase().chain(chars).collect())
                        .unwrap_or_default();
                    let _ = writeln!(out, "- {capitalised}. {}", change.reason);
                } else {
                    let _ = writeln!(out, "- `{detail}`: {}. {}", change.kind, change.reason);
                }
            }
            if !any {
                out.push_str("None.\n");
            }
        }
        out
    }
}
