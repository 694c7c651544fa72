//! Comparing two schemas in one direction of data flow.
//!
//! Every schema change is first classified by what it does to the set of
//! values the schema accepts: [`Effect::Widened`] (more values are valid),
//! [`Effect::Narrowed`] (fewer) or [`Effect::Incomparable`] (some gained,
//! some lost, e.g. a new `pattern`). The verdict then follows from who
//! produces the data:
//!
//! * In a **request** the client produces and the server validates. Narrowing
//!   rejects requests that used to work, so it is breaking; widening is not.
//! * In a **response** the server produces and the client decodes. Widening
//!   lets the server send values that old clients cannot decode (a new enum
//!   value has no Rust variant in a generated client, a looser `minimum` no
//!   longer fits the `u64` typify chose), so it is breaking; narrowing is not.
//!
//! Object properties do not fit the set view exactly (a new optional property
//! technically narrows what an open object accepts), so they get their own
//! rules in [`SchemaDiff::compare_properties`].
//!
//! Before comparison each schema is flattened into a [`Shape`]: references
//! resolved, `allOf` members merged, and typed and untyped (`AnySchema`)
//! forms of `openapiv3` unified, so that rewriting a schema without changing
//! its meaning (moving properties into an `allOf`, say) reports nothing.

use std::cmp::Ordering;

use openapiv3::{
    AdditionalProperties, IntegerFormat, NumberFormat, OpenAPI, ReferenceOr, Schema, SchemaKind,
    StringFormat, Type, VariantOrUnknownOrEmpty,
};
use serde_json::Value;

use crate::diff::Sink;
use crate::report::{ChangeKind, Verdict};

/// Which way the data flows through the schema being compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Direction {
    /// Client → server: request bodies and parameters.
    Request,
    /// Server → client: response bodies.
    Response,
}

/// What a change does to the set of values a schema accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Effect {
    /// Every value valid before is still valid, and more are.
    Widened,
    /// Every value valid now was valid before, and some no longer are.
    Narrowed,
    /// Some values gained, some lost.
    Incomparable,
}

pub(crate) fn verdict(direction: Direction, effect: Effect) -> Verdict {
    match (direction, effect) {
        (Direction::Request, Effect::Widened) | (Direction::Response, Effect::Narrowed) => {
            Verdict::NonBreaking
        }
        _ => Verdict::Breaking,
    }
}

/// A schema position: either a `$ref` or an inline schema. Properties and
/// items are `ReferenceOr<Box<Schema>>` in openapiv3 while everything else is
/// `ReferenceOr<Schema>`; this type lets both be handled alike.
#[derive(Debug, Clone, Copy)]
pub(crate) enum SchemaNode<'a> {
    Ref(&'a str),
    Inline(&'a Schema),
}

impl<'a> From<&'a ReferenceOr<Schema>> for SchemaNode<'a> {
    fn from(node: &'a ReferenceOr<Schema>) -> Self {
        match node {
            ReferenceOr::Reference { reference } => Self::Ref(reference),
            ReferenceOr::Item(schema) => Self::Inline(schema),
        }
    }
}

impl<'a> From<&'a ReferenceOr<Box<Schema>>> for SchemaNode<'a> {
    fn from(node: &'a ReferenceOr<Box<Schema>>) -> Self {
        match node {
            ReferenceOr::Reference { reference } => Self::Ref(reference),
            ReferenceOr::Item(schema) => Self::Inline(schema),
        }
    }
}

impl SchemaNode<'_> {
    /// How a `oneOf`/`anyOf` variant is named in a report and matched across
    /// versions: by component name, else by title, else by position.
    fn variant_label(&self, inline_index: usize) -> String {
        match self {
            Self::Ref(reference) => reference.rsplit('/').next().unwrap_or(reference).to_owned(),
            Self::Inline(schema) => match &schema.schema_data.title {
                Some(title) => title.clone(),
                None => format!("#{inline_index}"),
            },
        }
    }
}

/// Follows a schema `$ref` (and chains of them) to the schema itself, or
/// returns the reference that could not be followed.
pub(crate) fn resolve_schema<'a>(
    spec: &'a OpenAPI,
    node: SchemaNode<'a>,
) -> Result<&'a Schema, &'a str> {
    match node {
        SchemaNode::Inline(schema) => Ok(schema),
        SchemaNode::Ref(reference) => {
            crate::diff::follow(reference, "#/components/schemas/", |name| {
                spec.components.as_ref()?.schemas.get(name)
            })
        }
    }
}

/// An inclusive or exclusive numeric bound.
#[derive(Debug, Clone, Copy)]
struct Bound {
    value: f64,
    exclusive: bool,
}

impl Bound {
    fn new(value: Option<f64>, exclusive: bool) -> Option<Self> {
        value.map(|value| Self { value, exclusive })
    }

    fn render(self) -> String {
        let value = render_number(self.value);
        if self.exclusive { format!("{value} (exclusive)") } else { value }
    }
}

/// `additionalProperties` as written; absent and `true` mean the same.
#[derive(Debug, Clone, Copy)]
enum Additional<'a> {
    Allowed,
    Forbidden,
    Schema(SchemaNode<'a>),
}

/// One schema with references, `allOf` and the typed/untyped split of
/// openapiv3 flattened away. Only what matters to a client is kept.
#[derive(Debug, Default)]
struct Shape<'a> {
    ty: Option<&'a str>,
    format: Option<&'a str>,
    nullable: bool,
    read_only: bool,
    write_only: bool,
    enumeration: Option<Vec<Value>>,
    minimum: Option<Bound>,
    maximum: Option<Bound>,
    multiple_of: Option<f64>,
    min_length: Option<usize>,
    max_length: Option<usize>,
    pattern: Option<&'a str>,
    min_items: Option<usize>,
    max_items: Option<usize>,
    unique_items: bool,
    min_properties: Option<usize>,
    max_properties: Option<usize>,
    properties: Vec<(&'a str, SchemaNode<'a>)>,
    required: Vec<&'a str>,
    additional: Option<Additional<'a>>,
    items: Option<SchemaNode<'a>>,
    one_of: Vec<SchemaNode<'a>>,
    any_of: Vec<SchemaNode<'a>>,
    not: Option<&'a ReferenceOr<Schema>>,
    /// `allOf` members whose `$ref` could not be followed.
    unresolved: Vec<&'a str>,
}

fn string_format(format: &VariantOrUnknownOrEmpty<StringFormat>) -> Option<&str> {
    match format {
        VariantOrUnknownOrEmpty::Item(format) => Some(match format {
            StringFormat::Date => "date",
            StringFormat::DateTime => "date-time",
            StringFormat::Password => "password",
            StringFormat::Byte => "byte",
            StringFormat::Binary => "binary",
        }),
        VariantOrUnknownOrEmpty::Unknown(format) => Some(format),
        VariantOrUnknownOrEmpty::Empty => None,
    }
}

fn number_format(format: &VariantOrUnknownOrEmpty<NumberFormat>) -> Option<&str> {
    match format {
        VariantOrUnknownOrEmpty::Item(NumberFormat::Float) => Some("float"),
        VariantOrUnknownOrEmpty::Item(NumberFormat::Double) => Some("double"),
        VariantOrUnknownOrEmpty::Unknown(format) => Some(format),
        VariantOrUnknownOrEmpty::Empty => None,
    }
}

fn integer_format(format: &VariantOrUnknownOrEmpty<IntegerFormat>) -> Option<&str> {
    match format {
        VariantOrUnknownOrEmpty::Item(IntegerFormat::Int32) => Some("int32"),
        VariantOrUnknownOrEmpty::Item(IntegerFormat::Int64) => Some("int64"),
        VariantOrUnknownOrEmpty::Unknown(format) => Some(format),
        VariantOrUnknownOrEmpty::Empty => None,
    }
}

/// openapiv3 represents "no enum" as an empty list.
fn enumeration<T>(values: &[Option<T>], to_value: impl Fn(&T) -> Value) -> Option<Vec<Value>> {
    if values.is_empty() {
        return None;
    }
    Some(values.iter().map(|v| v.as_ref().map_or(Value::Null, &to_value)).collect())
}

fn float_value(value: &f64) -> Value {
    serde_json::Number::from_f64(*value).map_or(Value::Null, Value::Number)
}

/// Picks the stricter of two optional limits; `pick` chooses between two set ones.
fn stricter<T: Copy>(a: Option<T>, b: Option<T>, pick: impl Fn(T, T) -> T) -> Option<T> {
    match (a, b) {
        (Some(a), Some(b)) => Some(pick(a, b)),
        (a, b) => a.or(b),
    }
}

impl<'a> Shape<'a> {
    fn of(spec: &'a OpenAPI, schema: &'a Schema) -> Self {
        Self::build(spec, schema, &mut Vec::new())
    }

    /// `merging` holds the schemas whose `allOf` is being flattened, so that a
    /// schema that includes itself through `allOf` does not recurse forever.
    fn build(spec: &'a OpenAPI, schema: &'a Schema, merging: &mut Vec<&'a Schema>) -> Self {
        let data = &schema.schema_data;
        let mut shape = Shape {
            nullable: data.nullable,
            read_only: data.read_only,
            write_only: data.write_only,
            ..Shape::default()
        };
        let mut all_of: &'a [ReferenceOr<Schema>] = &[];
        match &schema.schema_kind {
            SchemaKind::Type(Type::String(t)) => {
                shape.ty = Some("string");
                shape.format = string_format(&t.format);
                shape.pattern = t.pattern.as_deref();
                shape.enumeration = enumeration(&t.enumeration, |s| Value::String(s.clone()));
                shape.min_length = t.min_length;
                shape.max_length = t.max_length;
            }
            SchemaKind::Type(Type::Number(t)) => {
                shape.ty = Some("number");
                shape.format = number_format(&t.format);
                shape.enumeration = enumeration(&t.enumeration, float_value);
                shape.minimum = Bound::new(t.minimum, t.exclusive_minimum);
                shape.maximum = Bound::new(t.maximum, t.exclusive_maximum);
                shape.multiple_of = t.multiple_of;
            }
            SchemaKind::Type(Type::Integer(t)) => {
                // i64 → f64 only loses precision beyond 2^53, far past any
                // bound a spec would write.
                let float = |v: Option<i64>| v.map(|v| v as f64);
                shape.ty = Some("integer");
                shape.format = integer_format(&t.format);
                shape.enumeration = enumeration(&t.enumeration, |v| Value::from(*v));
                shape.minimum = Bound::new(float(t.minimum), t.exclusive_minimum);
                shape.maximum = Bound::new(float(t.maximum), t.exclusive_maximum);
                shape.multiple_of = float(t.multiple_of);
            }
            SchemaKind::Type(Type::Boolean(t)) => {
                shape.ty = Some("boolean");
                shape.enumeration = enumeration(&t.enumeration, |v| Value::Bool(*v));
            }
            SchemaKind::Type(Type::Object(t)) => {
                shape.ty = Some("object");
                shape.properties =
                    t.properties.iter().map(|(k, v)| (k.as_str(), v.into())).collect();
                shape.required = t.required.iter().map(String::as_str).collect();
                shape.additional = t.additional_properties.as_ref().map(Additional::from);
                shape.min_properties = t.min_properties;
                shape.max_properties = t.max_properties;
            }
            SchemaKind::Type(Type::Array(t)) => {
                shape.ty = Some("array");
                shape.items = t.items.as_ref().map(SchemaNode::from);
                shape.min_items = t.min_items;
                shape.max_items = t.max_items;
                shape.unique_items = t.unique_items;
            }
            SchemaKind::OneOf { one_of } => shape.one_of = one_of.iter().map(Into::into).collect(),
            SchemaKind::AnyOf { any_of } => shape.any_of = any_of.iter().map(Into::into).collect(),
            SchemaKind::AllOf { all_of: members } => all_of = members,
            SchemaKind::Not { not } => shape.not = Some(not),
            SchemaKind::Any(a) => {
                shape.ty = a.typ.as_deref();
                shape.format = a.format.as_deref();
                shape.pattern = a.pattern.as_deref();
                shape.enumeration =
                    if a.enumeration.is_empty() { None } else { Some(a.enumeration.clone()) };
                shape.minimum = Bound::new(a.minimum, a.exclusive_minimum.unwrap_or(false));
                shape.maximum = Bound::new(a.maximum, a.exclusive_maximum.unwrap_or(false));
                shape.multiple_of = a.multiple_of;
                shape.min_length = a.min_length;
                shape.max_length = a.max_length;
                shape.min_items = a.min_items;
                shape.max_items = a.max_items;
                shape.unique_items = a.unique_items.unwrap_or(false);
                shape.min_properties = a.min_properties;
                shape.max_properties = a.max_properties;
                shape.properties =
                    a.properties.iter().map(|(k, v)| (k.as_str(), v.into())).collect();
                shape.required = a.required.iter().map(String::as_str).collect();
                shape.additional = a.additional_properties.as_ref().map(Additional::from);
                shape.items = a.items.as_ref().map(SchemaNode::from);
                shape.one_of = a.one_of.iter().map(Into::into).collect();
                shape.any_of = a.any_of.iter().map(Into::into).collect();
                shape.not = a.not.as_deref();
                all_of = &a.all_of;
            }
        }
        merging.push(schema);
        for member in all_of {
            match resolve_schema(spec, member.into()) {
                Ok(member) if merging.iter().any(|m| std::ptr::eq(*m, member)) => {}
                Ok(member) => {
                    let member = Self::build(spec, member, merging);
                    shape.absorb(member);
                }
                Err(reference) => shape.unresolved.push(reference),
            }
        }
        merging.pop();
        if shape.ty.is_none() {
            // `type` is often left out of objects and arrays; the keywords
            // present make the intent clear, and treating them as `any`
            // would report a type change when someone adds `type: object`.
            if !shape.properties.is_empty()
                || !shape.required.is_empty()
                || shape.additional.is_some()
            {
                shape.ty = Some("object");
            } else if shape.items.is_some() {
                shape.ty = Some("array");
            }
        }
        shape
    }

    /// Merges an `allOf` member: a value must satisfy both, so limits take the
    /// stricter side and properties and `required` are unions. `nullable` is
    /// an exception: `allOf: [$ref], nullable: true` is the usual 3.0 idiom
    /// for "a nullable reference", so either side being nullable counts.
    fn absorb(&mut self, other: Self) {
        self.ty = self.ty.or(other.ty);
        self.format = self.format.or(other.format);
        self.nullable |= other.nullable;
        self.read_only |= other.read_only;
        self.write_only |= other.write_only;
        self.enumeration = match (self.enumeration.take(), other.enumeration) {
            (Some(mine), Some(theirs)) => {
                Some(mine.into_iter().filter(|v| theirs.contains(v)).collect())
            }
            (mine, theirs) => mine.or(theirs),
        };
        self.minimum = stricter(self.minimum, other.minimum, |a, b| {
            if b.value > a.value || (b.value >= a.value && b.exclusive) { b } else { a }
        });
        self.maximum = stricter(self.maximum, other.maximum, |a, b| {
            if b.value < a.value || (b.value <= a.value && b.exclusive) { b } else { a }
        });
        self.multiple_of = self.multiple_of.or(other.multiple_of);
        self.min_length = stricter(self.min_length, other.min_length, usize::max);
        self.max_length = stricter(self.max_length, other.max_length, usize::min);
        self.pattern = self.pattern.or(other.pattern);
        self.min_items = stricter(self.min_items, other.min_items, usize::max);
        self.max_items = stricter(self.max_items, other.max_items, usize::min);
        self.unique_items |= other.unique_items;
        self.min_properties = stricter(self.min_properties, other.min_properties, usize::max);
        self.max_properties = stricter(self.max_properties, other.max_properties, usize::min);
        for (name, node) in other.properties {
            if !self.properties.iter().any(|(existing, _)| *existing == name) {
                self.properties.push((name, node));
            }
        }
        for name in other.required {
            if !self.required.contains(&name) {
                self.required.push(name);
            }
        }
        self.additional = self.additional.or(other.additional);
        self.items = self.items.or(other.items);
        self.one_of.extend(other.one_of);
        self.any_of.extend(other.any_of);
        self.not = self.not.or(other.not);
        self.unresolved.extend(other.unresolved);
    }

    /// The type for comparison purposes; `None` means "anything".
    fn type_label(&self) -> Option<&'a str> {
        self.ty.or(if !self.one_of.is_empty() {
            Some("oneOf")
        } else if !self.any_of.is_empty() {
            Some("anyOf")
        } else {
            None
        })
    }

    fn property(&self, name: &str) -> Option<SchemaNode<'a>> {
        self.properties.iter().find(|(n, _)| *n == name).map(|(_, node)| *node)
    }

    fn requires(&self, name: &str) -> bool {
        self.required.contains(&name)
    }
}

impl<'a> From<&'a AdditionalProperties> for Additional<'a> {
    fn from(value: &'a AdditionalProperties) -> Self {
        match value {
            AdditionalProperties::Any(true) => Self::Allowed,
            AdditionalProperties::Any(false) => Self::Forbidden,
            AdditionalProperties::Schema(schema) => Self::Schema(schema.as_ref().into()),
        }
    }
}

/// Renders `5.0` as `5`, the way it was most likely written.
fn render_number(value: f64) -> String {
    if value.fract() == 0.0 && value.abs() < 1e15 {
        format!("{}", value as i64)
    } else {
        value.to_string()
    }
}

fn render_value(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

fn render_values(values: &[Value]) -> String {
    format!("[{}]", values.iter().map(render_value).collect::<Vec<_>>().join(", "))
}

/// The subject of a change, which picks the wording of the reason.
#[derive(Debug, Clone, Copy)]
enum Topic {
    Type,
    Format,
    Nullable,
    EnumValues,
    Constraint,
    AdditionalProperties,
    Variant,
}

/// Why a widening/narrowing is (not) breaking, in one sentence.
fn reason(topic: Topic, direction: Direction, effect: Effect) -> &'static str {
    use Direction::{Request, Response};
    use Effect::{Incomparable, Narrowed, Widened};
    match (topic, direction, effect) {
        (Topic::Type, Request, Widened) => "Every value clients send today is still accepted.",
        (Topic::Type, Request, Narrowed) => "Some values clients send today will be rejected.",
        (Topic::Type, Request, Incomparable) => {
            "Existing clients still send the old type, which the server will reject."
        }
        (Topic::Type, Response, Widened) => {
            "Clients may receive values that their old type cannot represent."
        }
        (Topic::Type, Response, Narrowed) => {
            "Every value the server sends still fits the old type."
        }
        (Topic::Type, Response, Incomparable) => {
            "Existing clients expect the old type and will fail to deserialize the new one."
        }
        (Topic::Format, Request, Widened) => "Every value clients send today is still accepted.",
        (Topic::Format, Request, Narrowed | Incomparable) => {
            "Values clients send in the old format may be rejected."
        }
        (Topic::Format, Response, Widened | Incomparable) => {
            "Clients parse the old format (e.g. into `i32` or a date type) and may fail on the new values."
        }
        (Topic::Format, Response, Narrowed) => {
            "Every value the server sends still parses as the old format."
        }
        (Topic::Nullable, Request, Widened) => "Clients that never send null keep working.",
        (Topic::Nullable, Request, _) => "Clients that send null will now be rejected.",
        (Topic::Nullable, Response, Widened) => {
            "Existing clients do not expect null and will fail to deserialize it."
        }
        (Topic::Nullable, Response, _) => "Clients prepared for null also handle non-null values.",
        (Topic::EnumValues, Request, Widened) => {
            "Clients can keep sending the values they already use."
        }
        (Topic::EnumValues, Request, _) => {
            "Clients that send a removed value will now be rejected."
        }
        (Topic::EnumValues, Response, Widened) => {
            "Old clients cannot deserialize the new value: generated Rust clients map the enum to a Rust enum that rejects unknown variants."
        }
        (Topic::EnumValues, Response, _) => {
            "Clients still recognise every value the server can send."
        }
        (Topic::Constraint, Request, Widened) => {
            "Every value clients send today is still accepted."
        }
        (Topic::Constraint, Request, Narrowed) => {
            "Values that were accepted before may now be rejected."
        }
        (Topic::Constraint, Request, Incomparable) => {
            "Some values that were accepted before may now be rejected."
        }
        (Topic::Constraint, Response, Widened) => {
            "Clients built against the old constraint (typify picks types and validates from it) may reject values outside it."
        }
        (Topic::Constraint, Response, Narrowed) => {
            "Every value the server sends still satisfies the old constraint."
        }
        (Topic::Constraint, Response, Incomparable) => {
            "Clients built against the old constraint may reject the new values."
        }
        (Topic::AdditionalProperties, Request, Widened) => {
            "Every request that was accepted before is still accepted."
        }
        (Topic::AdditionalProperties, Request, _) => {
            "Requests with properties the schema does not list will now be rejected."
        }
        (Topic::AdditionalProperties, Response, Widened) => {
            "Clients generated from the closed schema reject unknown properties, which the server may now send."
        }
        (Topic::AdditionalProperties, Response, _) => {
            "Clients already accept every object the server can now send."
        }
        (Topic::Variant, Request, Widened) => {
            "Clients can keep sending the variants they already use."
        }
        (Topic::Variant, Request, _) => {
            "Clients that send the removed variant will now be rejected."
        }
        (Topic::Variant, Response, Widened) => {
            "Existing clients cannot deserialize a variant they do not know."
        }
        (Topic::Variant, Response, _) => {
            "Clients still recognise every variant the server can send."
        }
    }
}

fn type_effect(old: Option<&str>, new: Option<&str>) -> Effect {
    match (old, new) {
        (Some(_), None) | (Some("integer"), Some("number")) => Effect::Widened,
        (None, Some(_)) | (Some("number"), Some("integer")) => Effect::Narrowed,
        _ => Effect::Incomparable,
    }
}

/// int32 ⊂ int64 and float ⊂ double; any other change of format is
/// incomparable (`date` vs `date-time`), and dropping one widens.
fn format_effect(old: Option<&str>, new: Option<&str>) -> Option<Effect> {
    match (old, new) {
        _ if old == new => None,
        (Some(_), None) | (Some("int32"), Some("int64")) | (Some("float"), Some("double")) => {
            Some(Effect::Widened)
        }
        (None, Some(_)) | (Some("int64"), Some("int32")) | (Some("double"), Some("float")) => {
            Some(Effect::Narrowed)
        }
        _ => Some(Effect::Incomparable),
    }
}

fn order_effect(ordering: Ordering, larger: Effect) -> Option<Effect> {
    match ordering {
        Ordering::Equal => None,
        Ordering::Greater => Some(larger),
        Ordering::Less => {
            Some(if larger == Effect::Narrowed { Effect::Widened } else { Effect::Narrowed })
        }
    }
}

/// `minimum`: raising it (or making it exclusive) narrows.
fn lower_bound_effect(old: Option<Bound>, new: Option<Bound>) -> Option<Effect> {
    match (old, new) {
        (None, None) => None,
        (None, Some(_)) => Some(Effect::Narrowed),
        (Some(_), None) => Some(Effect::Widened),
        (Some(old), Some(new)) => {
            let ordering =
                new.value.partial_cmp(&old.value)?.then(new.exclusive.cmp(&old.exclusive));
            order_effect(ordering, Effect::Narrowed)
        }
    }
}

/// `maximum`: lowering it (or making it exclusive) narrows.
fn upper_bound_effect(old: Option<Bound>, new: Option<Bound>) -> Option<Effect> {
    match (old, new) {
        (None, None) => None,
        (None, Some(_)) => Some(Effect::Narrowed),
        (Some(_), None) => Some(Effect::Widened),
        (Some(old), Some(new)) => {
            let ordering =
                new.value.partial_cmp(&old.value)?.then(old.exclusive.cmp(&new.exclusive));
            order_effect(ordering, Effect::Widened)
        }
    }
}

/// `minLength`, `minItems`, `minProperties`: absent means 0.
fn min_count_effect(old: Option<usize>, new: Option<usize>) -> Option<Effect> {
    order_effect(new.unwrap_or(0).cmp(&old.unwrap_or(0)), Effect::Narrowed)
}

/// `maxLength`, `maxItems`, `maxProperties`: absent means unbounded.
fn max_count_effect(old: Option<usize>, new: Option<usize>) -> Option<Effect> {
    order_effect(new.unwrap_or(usize::MAX).cmp(&old.unwrap_or(usize::MAX)), Effect::Widened)
}

fn multiple_of_effect(old: Option<f64>, new: Option<f64>) -> Option<Effect> {
    match (old, new) {
        (None, None) => None,
        (None, Some(_)) => Some(Effect::Narrowed),
        (Some(_), None) => Some(Effect::Widened),
        (Some(old), Some(new)) if old.partial_cmp(&new) == Some(Ordering::Equal) => None,
        // Multiples of 10 are all multiples of 5, not the other way round.
        (Some(old), Some(new)) if (new / old).fract() == 0.0 => Some(Effect::Narrowed),
        (Some(old), Some(new)) if (old / new).fract() == 0.0 => Some(Effect::Widened),
        (Some(_), Some(_)) => Some(Effect::Incomparable),
    }
}

/// Anything with a presence/absence and an otherwise opaque value: adding it
/// narrows, removing it widens, changing it is incomparable.
fn presence_effect<T: PartialEq>(old: Option<T>, new: Option<T>) -> Option<Effect> {
    match (old, new) {
        (None, None) => None,
        (None, Some(_)) => Some(Effect::Narrowed),
        (Some(_), None) => Some(Effect::Widened),
        (Some(old), Some(new)) if old == new => None,
        (Some(_), Some(_)) => Some(Effect::Incomparable),
    }
}

/// Guards recursion through schemas that refer to themselves. Any infinite
/// walk over two finite documents must revisit a pair of schemas, so a pair
/// already being compared higher up the stack stops the descent.
const MAX_DEPTH: usize = 64;

/// Compares schemas at one place in an operation (a parameter, a request
/// body, a response body) and reports changes into a [`Sink`].
pub(crate) struct SchemaDiff<'a, 's> {
    old: &'a OpenAPI,
    new: &'a OpenAPI,
    direction: Direction,
    sink: &'s mut Sink,
    active: Vec<(&'a Schema, &'a Schema)>,
}

impl<'a, 's> SchemaDiff<'a, 's> {
    pub(crate) fn new(
        old: &'a OpenAPI,
        new: &'a OpenAPI,
        direction: Direction,
        sink: &'s mut Sink,
    ) -> Self {
        Self { old, new, direction, sink, active: Vec::new() }
    }

    fn emit(&mut self, path: &[String], kind: ChangeKind, topic: Topic, effect: Effect) {
        let verdict = verdict(self.direction, effect);
        self.sink.emit(path, kind, verdict, reason(topic, self.direction, effect));
    }

    fn constraint(
        &mut self,
        path: &[String],
        constraint: &str,
        old: Option<String>,
        new: Option<String>,
        effect: Option<Effect>,
    ) {
        let Some(effect) = effect else { return };
        let constraint = constraint.to_owned();
        let kind = match effect {
            Effect::Narrowed => ChangeKind::ConstraintTightened { constraint, old, new },
            Effect::Widened => ChangeKind::ConstraintLoosened { constraint, old, new },
            Effect::Incomparable => ChangeKind::ConstraintChanged { constraint, old, new },
        };
        self.emit(path, kind, Topic::Constraint, effect);
    }

    /// Compares two schema positions; `path` is where they sit in the operation.
    pub(crate) fn compare(
        &mut self,
        old: SchemaNode<'a>,
        new: SchemaNode<'a>,
        path: &mut Vec<String>,
    ) {
        let (old_schema, new_schema) =
            match (resolve_schema(self.old, old), resolve_schema(self.new, new)) {
                (Ok(old), Ok(new)) => (old, new),
                (Err(old), Err(new)) if old == new => return,
                (_, Err(reference)) | (Err(reference), _) => {
                    self.sink.emit(
                        path,
                        ChangeKind::UnresolvedReference { reference: reference.to_owned() },
                        Verdict::Breaking,
                        "This part of the schema cannot be compared, so it needs a manual review.",
                    );
                    return;
                }
            };
        let pair_active = self
            .active
            .iter()
            .any(|(o, n)| std::ptr::eq(*o, old_schema) && std::ptr::eq(*n, new_schema));
        if pair_active || self.active.len() >= MAX_DEPTH {
            return;
        }
        self.active.push((old_schema, new_schema));
        let old_shape = Shape::of(self.old, old_schema);
        let new_shape = Shape::of(self.new, new_schema);
        self.compare_shapes(&old_shape, &new_shape, path);
        self.active.pop();
    }

    fn compare_shapes(&mut self, old: &Shape<'a>, new: &Shape<'a>, path: &mut Vec<String>) {
        let (old_type, new_type) = (old.type_label(), new.type_label());
        if old_type != new_type {
            let kind = ChangeKind::TypeChanged {
                old: old_type.unwrap_or("any").to_owned(),
                new: new_type.unwrap_or("any").to_owned(),
            };
            self.emit(path, kind, Topic::Type, type_effect(old_type, new_type));
            // Constraints of different types cannot be compared meaningfully,
            // but nullability is independent of the type.
            self.compare_nullable(old, new, path);
            return;
        }
        self.compare_nullable(old, new, path);
        if let Some(effect) = format_effect(old.format, new.format) {
            let kind = ChangeKind::FormatChanged {
                old: old.format.map(str::to_owned),
                new: new.format.map(str::to_owned),
            };
            self.emit(path, kind, Topic::Format, effect);
        }
        self.compare_enum(old, new, path);
        self.constraint(
            path,
            "minimum",
            old.minimum.map(Bound::render),
            new.minimum.map(Bound::render),
            lower_bound_effect(old.minimum, new.minimum),
        );
        self.constraint(
            path,
            "maximum",
            old.maximum.map(Bound::render),
            new.maximum.map(Bound::render),
            upper_bound_effect(old.maximum, new.maximum),
        );
        self.constraint(
            path,
            "multipleOf",
            old.multiple_of.map(render_number),
            new.multiple_of.map(render_number),
            multiple_of_effect(old.multiple_of, new.multiple_of),
        );
        let counts = [
            ("minLength", old.min_length, new.min_length, true),
            ("maxLength", old.max_length, new.max_length, false),
            ("minItems", old.min_items, new.min_items, true),
            ("maxItems", old.max_items, new.max_items, false),
            ("minProperties", old.min_properties, new.min_properties, true),
            ("maxProperties", old.max_properties, new.max_properties, false),
        ];
        for (name, old_count, new_count, is_min) in counts {
            let effect = if is_min {
                min_count_effect(old_count, new_count)
            } else {
                max_count_effect(old_count, new_count)
            };
            self.constraint(
                path,
                name,
                old_count.map(|c| c.to_string()),
                new_count.map(|c| c.to_string()),
                effect,
            );
        }
        self.constraint(
            path,
            "pattern",
            old.pattern.map(str::to_owned),
            new.pattern.map(str::to_owned),
            presence_effect(old.pattern, new.pattern),
        );
        let unique = |set: bool| set.then(|| "true".to_owned());
        self.constraint(
            path,
            "uniqueItems",
            unique(old.unique_items),
            unique(new.unique_items),
            presence_effect(old.unique_items.then_some(()), new.unique_items.then_some(())),
        );
        self.constraint(
            path,
            "not",
            old.not.map(|_| "{…}".to_owned()),
            new.not.map(|_| "{…}".to_owned()),
            presence_effect(old.not, new.not),
        );
        self.compare_additional(old, new, path);
        self.compare_properties(old, new, path);
        match (old.items, new.items) {
            (Some(old_items), Some(new_items)) => {
                path.push("[]".to_owned());
                self.compare(old_items, new_items, path);
                path.pop();
            }
            (old_items, new_items) => self.constraint(
                path,
                "items",
                old_items.map(|_| "{…}".to_owned()),
                new_items.map(|_| "{…}".to_owned()),
                presence_effect(old_items.map(|_| ()), new_items.map(|_| ())),
            ),
        }
        self.compare_variants("oneOf", &old.one_of, &new.one_of, path);
        self.compare_variants("anyOf", &old.any_of, &new.any_of, path);
        for reference in new.unresolved.iter().filter(|r| !old.unresolved.contains(r)) {
            self.sink.emit(
                path,
                ChangeKind::UnresolvedReference { reference: (*reference).to_owned() },
                Verdict::Breaking,
                "This part of the schema cannot be compared, so it needs a manual review.",
            );
        }
    }

    fn compare_nullable(&mut self, old: &Shape<'a>, new: &Shape<'a>, path: &[String]) {
        match (old.nullable, new.nullable) {
            (false, true) => {
                self.emit(path, ChangeKind::NullableAdded, Topic::Nullable, Effect::Widened)
            }
            (true, false) => {
                self.emit(path, ChangeKind::NullableRemoved, Topic::Nullable, Effect::Narrowed);
            }
            _ => {}
        }
    }

    fn compare_enum(&mut self, old: &Shape<'a>, new: &Shape<'a>, path: &[String]) {
        match (&old.enumeration, &new.enumeration) {
            (None, None) => {}
            (Some(old_values), None) => {
                self.constraint(
                    path,
                    "enum",
                    Some(render_values(old_values)),
                    None,
                    Some(Effect::Widened),
                );
            }
            (None, Some(new_values)) => {
                self.constraint(
                    path,
                    "enum",
                    None,
                    Some(render_values(new_values)),
                    Some(Effect::Narrowed),
                );
            }
            (Some(old_values), Some(new_values)) => {
                let added: Vec<String> = new_values
                    .iter()
                    .filter(|v| !old_values.contains(v))
                    .map(render_value)
                    .collect();
                let removed: Vec<String> = old_values
                    .iter()
                    .filter(|v| !new_values.contains(v))
                    .map(render_value)
                    .collect();
                if !removed.is_empty() {
                    let kind = ChangeKind::EnumValuesRemoved { values: removed };
                    self.emit(path, kind, Topic::EnumValues, Effect::Narrowed);
                }
                if !added.is_empty() {
                    let kind = ChangeKind::EnumValuesAdded { values: added };
                    self.emit(path, kind, Topic::EnumValues, Effect::Widened);
                }
            }
        }
    }

    fn compare_additional(&mut self, old: &Shape<'a>, new: &Shape<'a>, path: &mut Vec<String>) {
        let old_value = old.additional.unwrap_or(Additional::Allowed);
        let new_value = new.additional.unwrap_or(Additional::Allowed);
        let render = |value: Additional<'_>| match value {
            Additional::Allowed => None,
            Additional::Forbidden => Some("false".to_owned()),
            Additional::Schema(_) => Some("{…}".to_owned()),
        };
        let effect = match (old_value, new_value) {
            (Additional::Schema(old_schema), Additional::Schema(new_schema)) => {
                path.push("additionalProperties".to_owned());
                self.compare(old_schema, new_schema, path);
                path.pop();
                return;
            }
            (Additional::Allowed, Additional::Allowed)
            | (Additional::Forbidden, Additional::Forbidden) => return,
            (Additional::Allowed, _) | (Additional::Schema(_), Additional::Forbidden) => {
                Effect::Narrowed
            }
            (_, Additional::Allowed) | (Additional::Forbidden, Additional::Schema(_)) => {
                Effect::Widened
            }
        };
        let kind = match effect {
            Effect::Narrowed => ChangeKind::ConstraintTightened {
                constraint: "additionalProperties".to_owned(),
                old: render(old_value),
                new: render(new_value),
            },
            _ => ChangeKind::ConstraintLoosened {
                constraint: "additionalProperties".to_owned(),
                old: render(old_value),
                new: render(new_value),
            },
        };
        self.emit(path, kind, Topic::AdditionalProperties, effect);
    }

    /// Whether a property takes part in this direction: `readOnly` ones are
    /// never sent in requests and `writeOnly` ones never returned.
    fn visible(&self, spec: &'a OpenAPI, node: SchemaNode<'a>) -> bool {
        let Ok(schema) = resolve_schema(spec, node) else { return true };
        let shape = Shape::of(spec, schema);
        match self.direction {
            Direction::Request => !shape.read_only,
            Direction::Response => !shape.write_only,
        }
    }

    /// Property rules, which are asymmetric rather than set-based:
    ///
    /// * request: new required → breaking; new optional → fine; removed →
    ///   fine unless `additionalProperties: false` now rejects old clients
    ///   that still send it;
    /// * response: new → fine unless the old schema was closed (generated
    ///   clients then deny unknown fields); removed → breaking if it was
    ///   required, since clients rely on it; required ↔ optional mirrors.
    fn compare_properties(&mut self, old: &Shape<'a>, new: &Shape<'a>, path: &mut Vec<String>) {
        let new_closed = matches!(new.additional, Some(Additional::Forbidden));
        let old_closed = matches!(old.additional, Some(Additional::Forbidden));
        for &(name, old_node) in &old.properties {
            if !self.visible(self.old, old_node) {
                continue;
            }
            path.push(name.to_owned());
            let old_required = old.requires(name);
            match new.property(name).filter(|node| self.visible(self.new, *node)) {
                Some(new_node) => {
                    let new_required = new.requires(name);
                    match (old_required, new_required, self.direction) {
                        (false, true, Direction::Request) => self.sink.emit(
                            path,
                            ChangeKind::PropertyMadeRequired,
                            Verdict::Breaking,
                            "Clients that omit it will now be rejected.",
                        ),
                        (false, true, Direction::Response) => self.sink.emit(
                            path,
                            ChangeKind::PropertyMadeRequired,
                            Verdict::NonBreaking,
                            "Clients that handle its absence also handle its presence.",
                        ),
                        (true, false, Direction::Request) => self.sink.emit(
                            path,
                            ChangeKind::PropertyMadeOptional,
                            Verdict::NonBreaking,
                            "Clients that send it keep working.",
                        ),
                        (true, false, Direction::Response) => self.sink.emit(
                            path,
                            ChangeKind::PropertyMadeOptional,
                            Verdict::Breaking,
                            "Existing clients expect it to be present and will fail when it is missing.",
                        ),
                        _ => {}
                    }
                    self.compare(old_node, new_node, path);
                }
                None => {
                    let kind = ChangeKind::PropertyRemoved { was_required: old_required };
                    match self.direction {
                        Direction::Request if new_closed => self.sink.emit(
                            path,
                            kind,
                            Verdict::Breaking,
                            "Clients that still send it will be rejected, because `additionalProperties` is false.",
                        ),
                        Direction::Request => self.sink.emit(
                            path,
                            kind,
                            Verdict::NonBreaking,
                            "Clients that still send it are not rejected, because the schema allows extra properties.",
                        ),
                        Direction::Response if old_required => self.sink.emit(
                            path,
                            kind,
                            Verdict::Breaking,
                            "Existing clients expect it and will fail to deserialize responses without it.",
                        ),
                        Direction::Response => self.sink.emit(
                            path,
                            kind,
                            Verdict::NonBreaking,
                            "It was optional, so clients already handle its absence.",
                        ),
                    }
                }
            }
            path.pop();
        }
        for &(name, new_node) in &new.properties {
            let existed = old.property(name).is_some_and(|node| self.visible(self.old, node));
            if existed || !self.visible(self.new, new_node) {
                continue;
            }
            path.push(name.to_owned());
            let required = new.requires(name);
            let kind = ChangeKind::PropertyAdded { required };
            match self.direction {
                Direction::Request if required => self.sink.emit(
                    path,
                    kind,
                    Verdict::Breaking,
                    "Existing clients do not send it, so their requests will be rejected.",
                ),
                Direction::Request => {
                    self.sink.emit(path, kind, Verdict::NonBreaking, "Existing clients simply omit it.");
                }
                Direction::Response if old_closed => self.sink.emit(
                    path,
                    kind,
                    Verdict::Breaking,
                    "The old schema set `additionalProperties: false`, so generated clients reject fields they do not know.",
                ),
                Direction::Response => self.sink.emit(
                    path,
                    kind,
                    Verdict::NonBreaking,
                    "Existing clients ignore fields they do not know.",
                ),
            }
            path.pop();
        }
    }

    fn compare_variants(
        &mut self,
        keyword: &str,
        old: &[SchemaNode<'a>],
        new: &[SchemaNode<'a>],
        path: &mut Vec<String>,
    ) {
        let labelled = |nodes: &[SchemaNode<'a>]| -> Vec<(String, SchemaNode<'a>)> {
            let mut inline = 0;
            nodes
                .iter()
                .map(|node| {
                    let label = node.variant_label(inline);
                    if matches!(node, SchemaNode::Inline(_)) {
                        inline += 1;
                    }
                    (label, *node)
                })
                .collect()
        };
        let (old, new) = (labelled(old), labelled(new));
        let render = |variants: &[(String, SchemaNode<'a>)]| -> Option<String> {
            if variants.is_empty() {
                return None;
            }
            Some(format!(
                "[{}]",
                variants.iter().map(|(label, _)| label.as_str()).collect::<Vec<_>>().join(", ")
            ))
        };
        if old.is_empty() || new.is_empty() {
            // Adding a `oneOf` to a schema that had none narrows it; dropping
            // one widens it.
            let effect = presence_effect(render(&old), render(&new));
            self.constraint(path, keyword, render(&old), render(&new), effect);
            return;
        }
        for (label, old_node) in &old {
            match new.iter().find(|(other, _)| other == label) {
                Some((_, new_node)) => {
                    path.push(format!("{keyword}[{label}]"));
                    self.compare(*old_node, *new_node, path);
                    path.pop();
                }
                None => {
                    let kind = ChangeKind::VariantRemoved {
                        keyword: keyword.to_owned(),
                        variant: label.clone(),
                    };
                    self.emit(path, kind, Topic::Variant, Effect::Narrowed);
                }
            }
        }
        for (label, _) in
            new.iter().filter(|(label, _)| !old.iter().any(|(other, _)| other == label))
        {
            let kind =
                ChangeKind::VariantAdded { keyword: keyword.to_owned(), variant: label.clone() };
            self.emit(path, kind, Topic::Variant, Effect::Widened);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdicts_follow_the_direction_of_data() {
        use Direction::{Request, Response};
        use Effect::{Incomparable, Narrowed, Widened};
        assert_eq!(verdict(Request, Widened), Verdict::NonBreaking);
        assert_eq!(verdict(Request, Narrowed), Verdict::Breaking);
        assert_eq!(verdict(Request, Incomparable), Verdict::Breaking);
        assert_eq!(verdict(Response, Widened), Verdict::Breaking);
        assert_eq!(verdict(Response, Narrowed), Verdict::NonBreaking);
        assert_eq!(verdict(Response, Incomparable), Verdict::Breaking);
    }

    #[test]
    fn bounds() {
        let bound = |value, exclusive| Some(Bound { value, exclusive });
        assert_eq!(
            lower_bound_effect(bound(1.0, false), bound(2.0, false)),
            Some(Effect::Narrowed)
        );
        assert_eq!(lower_bound_effect(bound(1.0, false), bound(1.0, true)), Some(Effect::Narrowed));
        assert_eq!(lower_bound_effect(bound(1.0, true), bound(0.0, true)), Some(Effect::Widened));
        assert_eq!(lower_bound_effect(bound(1.0, false), None), Some(Effect::Widened));
        assert_eq!(lower_bound_effect(bound(1.0, false), bound(1.0, false)), None);
        assert_eq!(
            upper_bound_effect(bound(10.0, false), bound(5.0, false)),
            Some(Effect::Narrowed)
        );
        assert_eq!(
            upper_bound_effect(bound(10.0, false), bound(10.0, true)),
            Some(Effect::Narrowed)
        );
        assert_eq!(
            upper_bound_effect(bound(10.0, true), bound(10.0, false)),
            Some(Effect::Widened)
        );
        assert_eq!(upper_bound_effect(None, bound(10.0, false)), Some(Effect::Narrowed));
    }

    #[test]
    fn counts_and_multiples() {
        assert_eq!(min_count_effect(None, Some(0)), None);
        assert_eq!(min_count_effect(Some(1), Some(3)), Some(Effect::Narrowed));
        assert_eq!(max_count_effect(None, Some(10)), Some(Effect::Narrowed));
        assert_eq!(max_count_effect(Some(10), None), Some(Effect::Widened));
        assert_eq!(max_count_effect(Some(10), Some(20)), Some(Effect::Widened));
        assert_eq!(multiple_of_effect(Some(5.0), Some(10.0)), Some(Effect::Narrowed));
        assert_eq!(multiple_of_effect(Some(10.0), Some(5.0)), Some(Effect::Widened));
        assert_eq!(multiple_of_effect(Some(4.0), Some(6.0)), Some(Effect::Incomparable));
    }

    #[test]
    fn formats_and_types() {
        assert_eq!(format_effect(Some("int32"), Some("int64")), Some(Effect::Widened));
        assert_eq!(format_effect(Some("int64"), Some("int32")), Some(Effect::Narrowed));
        assert_eq!(format_effect(Some("date"), Some("date-time")), Some(Effect::Incomparable));
        assert_eq!(format_effect(None, Some("uuid")), Some(Effect::Narrowed));
        assert_eq!(format_effect(Some("uuid"), Some("uuid")), None);
        assert_eq!(type_effect(Some("integer"), Some("number")), Effect::Widened);
        assert_eq!(type_effect(Some("number"), Some("integer")), Effect::Narrowed);
        assert_eq!(type_effect(Some("string"), Some("integer")), Effect::Incomparable);
        assert_eq!(type_effect(None, Some("string")), Effect::Narrowed);
    }

    #[test]
    fn numbers_render_as_written() {
        assert_eq!(render_number(5.0), "5");
        assert_eq!(render_number(-0.5), "-0.5");
    }
}
