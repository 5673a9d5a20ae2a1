//! Clusterpedia's enhanced field selector (`clusterpedia/fields` of its API module).
//!
//! The syntax is that of label selectors (see [`super::label_selector`]), but
//! keys are [`FieldPath`]s into the object's JSON, such as
//! `.metadata.annotations['test.io']` or `spec.containers[].name`, and values
//! are not checked against the label value rule (any identifier goes; `>` and
//! `<` still need an integer). The last segment of a path in a selector must
//! be a field, not a list marker.
//!
//! Matching against an object ([`FieldSelector::matches`]): the path yields
//! the values found at it ([`FieldPath::lookup`]), a JSON `null` counting as
//! missing, and every value compares through its [`scalar_text`]. Positive
//! operators (`=`, `==`, `in`, exists, `>`, `<`) hold when any value satisfies
//! them; negative ones (`!=`, `notin`, `!`) hold when no value satisfies the
//! positive form. Without list markers a path yields at most one value, so this
//! is the label selector rule: `!=` and `notin` hold for a missing field.
//! `>` and `<` compare as `i64`; values that are not integers (including
//! `3.0`, booleans and objects) never satisfy them.
//!
//! Like label selectors, requirements and values keep their written order
//! (Clusterpedia sorts requirements by key), and duplicate values are dropped.

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use serde_json::Value;

pub use super::label_selector::SelectorError;
use super::label_selector::{
    LabelOperator, parse_requirements, validate_qualified_name, write_joined, write_requirement,
};

/// One step of a [`FieldPath`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum PathSegment {
    /// An object member: `name`, `'a.b'`, `"a.b"` or `['a.b']`.
    Field(String),
    /// Every element of a list: `[]`.
    AnyIndex,
    /// One element of a list: `[N]`.
    Index(usize),
}

/// A path into a JSON object, such as `.spec.containers[0].name`.
///
/// Syntax: an optional leading `.`, then segments. A field segment is a bare
/// name (up to the next `.` or `[`), a quoted name `'a.b'` or `"a.b"`, or a
/// bracketed quoted name `['a.b']`; every field name must be a Kubernetes
/// qualified name (quoted ones may contain dots). Fields are separated by
/// `.`; the list markers `[]` and `[N]` follow a field or another list marker
/// directly. The textual form is kept, so [`fmt::Display`] gives back exactly
/// what was parsed.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FieldPath {
    segments: Vec<PathSegment>,
    text: String,
}

impl FieldPath {
    /// Parses a field path; errors name the path and the offending segment.
    pub fn parse(s: &str) -> Result<Self, SelectorError> {
        let mut parser = PathParser {
            text: s,
            pos: 0,
            segments: Vec::new(),
        };
        match parser.path() {
            Ok(()) => Ok(Self {
                segments: parser.segments,
                text: s.to_owned(),
            }),
            Err((pos, why)) => Err(SelectorError::new(
                pos,
                format!("invalid field path {s:?}: {why}"),
            )),
        }
    }

    /// The segments, in order.
    pub fn segments(&self) -> &[PathSegment] {
        &self.segments
    }

    /// The path as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether the path has a list marker (`[]` or `[N]`), so that it may
    /// yield several values.
    pub fn has_list(&self) -> bool {
        self.segments
            .iter()
            .any(|s| matches!(s, PathSegment::AnyIndex | PathSegment::Index(_)))
    }

    /// All values at this path in `value`, in document order: `[]` expands
    /// over every element of a list, and a missing member, an index out of
    /// range or a step into the wrong JSON type yields nothing. JSON `null`s
    /// are returned as they are.
    pub fn lookup<'a>(&self, value: &'a Value) -> Vec<&'a Value> {
        let mut current = vec![value];
        for segment in &self.segments {
            let mut next = Vec::new();
            for value in current {
                match (segment, value) {
                    (PathSegment::Field(name), Value::Object(map)) => next.extend(map.get(name)),
                    (PathSegment::AnyIndex, Value::Array(items)) => next.extend(items),
                    (PathSegment::Index(i), Value::Array(items)) => next.extend(items.get(*i)),
                    _ => {}
                }
            }
            current = next;
        }
        current
    }
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl FromStr for FieldPath {
    type Err = SelectorError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// A path parse failure: byte offset in the path, and why.
type PathResult<T> = Result<T, (usize, String)>;

struct PathParser<'a> {
    text: &'a str,
    pos: usize,
    segments: Vec<PathSegment>,
}

impl<'a> PathParser<'a> {
    fn rest(&self) -> &'a str {
        self.text.get(self.pos..).unwrap_or_default()
    }

    fn peek_at(&self, ahead: usize) -> Option<u8> {
        self.text.as_bytes().get(self.pos + ahead).copied()
    }

    fn path(&mut self) -> PathResult<()> {
        if self.peek_at(0) == Some(b'.') {
            self.pos += 1;
        }
        self.field()?;
        while let Some(next) = self.peek_at(0) {
            match next {
                b'.' => {
                    self.pos += 1;
                    self.field()?;
                }
                b'[' => self.bracket()?,
                _ => {
                    return Err((
                        self.pos,
                        "expected '.' or '[' after a quoted field".to_owned(),
                    ));
                }
            }
        }
        Ok(())
    }

    /// A field segment: `name`, `'name'`, `"name"` or `['name']`.
    fn field(&mut self) -> PathResult<()> {
        let start = self.pos;
        let name = match (self.peek_at(0), self.peek_at(1)) {
            (None | Some(b'.'), _) => return Err((start, "empty field name".to_owned())),
            (Some(quote @ (b'\'' | b'"')), _) => self.quoted(quote)?,
            (Some(b'['), Some(quote @ (b'\'' | b'"'))) => {
                self.pos += 1;
                let name = self.quoted(quote)?;
                if self.peek_at(0) != Some(b']') {
                    return Err((
                        self.pos,
                        format!("expected ']' after the quoted field {name:?}"),
                    ));
                }
                self.pos += 1;
                name
            }
            (Some(b'['), _) => {
                return Err((
                    start,
                    "a list marker ('[]' or '[N]') must follow a field".to_owned(),
                ));
            }
            (Some(_), _) => {
                let rest = self.rest();
                let name = rest.find(['.', '[']).map_or(rest, |end| &rest[..end]);
                self.pos += name.len();
                name
            }
        };
        validate_qualified_name(name)
            .map_err(|why| (start, format!("invalid field {name:?}: {why}")))?;
        self.segments.push(PathSegment::Field(name.to_owned()));
        Ok(())
    }

    /// The text between the quote at the current position and the next same quote.
    fn quoted(&mut self, quote: u8) -> PathResult<&'a str> {
        let start = self.pos;
        let body = self.text.get(start + 1..).unwrap_or_default();
        let Some(len) = body.find(char::from(quote)) else {
            return Err((start, format!("unterminated quote {}", char::from(quote))));
        };
        if len == 0 {
            return Err((start, "empty quoted field".to_owned()));
        }
        self.pos = start + 1 + len + 1;
        Ok(&body[..len])
    }

    /// After a field or list marker: `[]`, `[N]` or `['name']`.
    fn bracket(&mut self) -> PathResult<()> {
        let start = self.pos;
        match self.peek_at(1) {
            Some(b'\'' | b'"') => self.field(),
            Some(b']') => {
                self.pos += 2;
                self.segments.push(PathSegment::AnyIndex);
                Ok(())
            }
            _ => {
                let body = self.text.get(start + 1..).unwrap_or_default();
                let Some(len) = body.find(']') else {
                    return Err((start, "unterminated '['".to_owned()));
                };
                let index = &body[..len];
                let parsed = if index.bytes().all(|b| b.is_ascii_digit()) {
                    index
                        .parse::<usize>()
                        .map_err(|_| "list index out of range")
                } else {
                    Err("list index must be a non-negative integer")
                };
                let index = parsed.map_err(|why| {
                    (
                        start + 1,
                        format!(
                            "{why}, found {index:?}; if {index:?} is a field, write ['{index}'] or .'{index}'"
                        ),
                    )
                })?;
                self.pos = start + 1 + len + 1;
                self.segments.push(PathSegment::Index(index));
                Ok(())
            }
        }
    }
}

/// The relation a [`FieldRequirement`] states between a field and its values: the operators of
/// label selectors ([`LabelOperator`]), with the list-marker rules of the module documentation.
pub type FieldOperator = LabelOperator;

/// One `path <operator> values` term of a [`FieldSelector`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FieldRequirement {
    /// Where the compared values are.
    pub path: FieldPath,
    /// How the values at the path relate to `values`.
    pub operator: FieldOperator,
    /// The values, in written order and without duplicates (same counts as
    /// [`super::label_selector::LabelRequirement::values`]).
    pub values: Vec<String>,
}

impl FieldRequirement {
    /// Whether `object` satisfies this requirement (see the module documentation).
    pub fn matches(&self, object: &Value) -> bool {
        let found = self.path.lookup(object).into_iter().filter_map(scalar_text);
        self.operator.evaluate(&self.values, found)
    }
}

impl fmt::Display for FieldRequirement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_requirement(f, self.path.as_str(), self.operator, &self.values)
    }
}

impl FromStr for FieldRequirement {
    type Err = SelectorError;

    /// Parses a selector that holds exactly one requirement.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut requirements = FieldSelector::parse(s)?.requirements;
        match requirements.len() {
            1 => Ok(requirements.remove(0)),
            n => Err(SelectorError::new(
                0,
                format!("expected exactly one requirement, found {n}"),
            )),
        }
    }
}

/// A parsed enhanced field selector: requirements, in written order, that
/// must all hold.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct FieldSelector {
    requirements: Vec<FieldRequirement>,
}

impl FieldSelector {
    /// The empty selector, which matches every object.
    pub fn everything() -> Self {
        Self::default()
    }

    /// Parses `s`: the label selector grammar with [`FieldPath`] keys whose
    /// last segment is a field.
    pub fn parse(s: &str) -> Result<Self, SelectorError> {
        let requirements = parse_requirements(s, |raw| {
            let path = FieldPath::parse(raw.key.text).map_err(|e| e.shifted(raw.key.pos))?;
            if matches!(
                path.segments.last(),
                Some(PathSegment::AnyIndex | PathSegment::Index(_))
            ) {
                return Err(SelectorError::new(
                    raw.key.pos,
                    format!(
                        "invalid field path {:?}: the last segment must be a field, not a list marker",
                        raw.key.text
                    ),
                ));
            }
            Ok(FieldRequirement {
                path,
                operator: raw.operator,
                values: raw.values.iter().map(|v| v.text.to_owned()).collect(),
            })
        })?;
        Ok(Self { requirements })
    }

    /// A selector made of `requirements`, taken as they are (not validated).
    pub fn from_requirements(requirements: Vec<FieldRequirement>) -> Self {
        Self { requirements }
    }

    /// The requirements, in written order.
    pub fn requirements(&self) -> &[FieldRequirement] {
        &self.requirements
    }

    /// Whether the selector has no requirement (and so matches everything).
    pub fn is_empty(&self) -> bool {
        self.requirements.is_empty()
    }

    /// Whether `object` satisfies every requirement.
    pub fn matches(&self, object: &Value) -> bool {
        self.requirements.iter().all(|r| r.matches(object))
    }
}

impl fmt::Display for FieldSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_joined(f, &self.requirements)
    }
}

impl FromStr for FieldSelector {
    type Err = SelectorError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// The text a JSON value compares as in a field selector: a string is its
/// text, a number or boolean its JSON text (`3`, `1.5`, `true`), an object or
/// array its compact JSON text, and `null` is `None` (treated as missing).
pub fn scalar_text(v: &Value) -> Option<Cow<'_, str>> {
    match v {
        Value::Null => None,
        Value::String(s) => Some(Cow::Borrowed(s.as_str())),
        Value::Bool(b) => Some(Cow::Borrowed(if *b { "true" } else { "false" })),
        Value::Number(n) => Some(Cow::Owned(n.to_string())),
        Value::Array(_) | Value::Object(_) => Some(Cow::Owned(v.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::PathSegment::{AnyIndex, Field, Index};
    use super::*;

    fn path(s: &str) -> FieldPath {
        match FieldPath::parse(s) {
            Ok(path) => path,
            Err(e) => panic!("{s:?} should parse: {e}"),
        }
    }

    fn selector(s: &str) -> FieldSelector {
        match FieldSelector::parse(s) {
            Ok(selector) => selector,
            Err(e) => panic!("{s:?} should parse: {e}"),
        }
    }

    fn field(name: &str) -> PathSegment {
        Field(name.to_owned())
    }

    fn pod() -> Value {
        json!({
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": "web-0",
                "namespace": "default",
                "labels": {"app": "web", "tier": "frontend"},
                "annotations": {"test.io": "yes", "example.com/owner": "team-a"},
                "deletionTimestamp": null
            },
            "spec": {
                "replicas": 3,
                "priority": -5,
                "weight": 1.5,
                "hostNetwork": false,
                "nodeSelector": {},
                "containers": [
                    {"name": "nginx", "image": "nginx:1.25",
                     "ports": [{"containerPort": 80}, {"containerPort": 443}]},
                    {"name": "sidecar", "image": "envoy"}
                ]
            },
            "status": {"phase": "Running", "ready": true}
        })
    }

    #[test]
    fn valid_paths() {
        let cases: [(&str, Vec<PathSegment>); 12] = [
            ("metadata.name", vec![field("metadata"), field("name")]),
            (".metadata.name", vec![field("metadata"), field("name")]),
            (
                ".metadata.annotations.'test.io'",
                vec![field("metadata"), field("annotations"), field("test.io")],
            ),
            (
                ".metadata.annotations['test.io']",
                vec![field("metadata"), field("annotations"), field("test.io")],
            ),
            (
                "metadata.annotations[\"example.com/owner\"]",
                vec![
                    field("metadata"),
                    field("annotations"),
                    field("example.com/owner"),
                ],
            ),
            (
                ".field1['prefix.field2'].field3",
                vec![field("field1"), field("prefix.field2"), field("field3")],
            ),
            (
                ".field1['prefix.field2']['prefix.field3']",
                vec![
                    field("field1"),
                    field("prefix.field2"),
                    field("prefix.field3"),
                ],
            ),
            (
                ".spec.containers[].name",
                vec![field("spec"), field("containers"), AnyIndex, field("name")],
            ),
            (
                ".spec.containers[0].name",
                vec![field("spec"), field("containers"), Index(0), field("name")],
            ),
            (
                ".field1['prefix.listed'][0].field2",
                vec![
                    field("field1"),
                    field("prefix.listed"),
                    Index(0),
                    field("field2"),
                ],
            ),
            ("a[][12]", vec![field("a"), AnyIndex, Index(12)]),
            ("['a.b'].\"c\"", vec![field("a.b"), field("c")]),
        ];
        for (input, segments) in cases {
            let parsed = path(input);
            assert_eq!(parsed.segments(), segments.as_slice(), "{input:?}");
            assert_eq!(parsed.to_string(), input);
            let has_list = segments.iter().any(|s| !matches!(s, Field(_)));
            assert_eq!(parsed.has_list(), has_list, "{input:?}");
        }
    }

    #[test]
    fn invalid_paths() {
        let cases = [
            ("", 0, "empty field name"),
            (".", 1, "empty field name"),
            ("a.", 2, "empty field name"),
            ("a..b", 2, "empty field name"),
            ("[]", 0, "a list marker ('[]' or '[N]') must follow a field"),
            (
                "[0]",
                0,
                "a list marker ('[]' or '[N]') must follow a field",
            ),
            (
                "a.[0]",
                2,
                "a list marker ('[]' or '[N]') must follow a field",
            ),
            (
                ".metadata.annotations[test.io]",
                22,
                "list index must be a non-negative integer, found \"test.io\"; if \"test.io\" is a field, write ['test.io'] or .'test.io'",
            ),
            (
                ".metadata.annotations['test.io'.go]",
                31,
                "expected ']' after the quoted field \"test.io\"",
            ),
            (
                ".metadata.annotations['test'io']",
                28,
                "expected ']' after the quoted field \"test\"",
            ),
            ("a.'b'c", 5, "expected '.' or '[' after a quoted field"),
            ("a.'b", 2, "unterminated quote '"),
            ("a[\"b']", 2, "unterminated quote \""),
            ("a['b'", 5, "expected ']' after the quoted field \"b\""),
            ("a['']", 2, "empty quoted field"),
            ("a[", 1, "unterminated '['"),
            ("a[1", 1, "unterminated '['"),
            (
                "a[x]",
                2,
                "list index must be a non-negative integer, found \"x\"; if \"x\" is a field, write ['x'] or .'x'",
            ),
            (
                "a[-1]",
                2,
                "list index must be a non-negative integer, found \"-1\"; if \"-1\" is a field, write ['-1'] or .'-1'",
            ),
            (
                "a[99999999999999999999999]",
                2,
                "list index out of range, found \"99999999999999999999999\"; if \"99999999999999999999999\" is a field, write ['99999999999999999999999'] or .'99999999999999999999999'",
            ),
        ];
        for (input, position, why) in cases {
            let err = FieldPath::parse(input).err();
            assert_eq!(
                err.as_ref().map(|e| (e.position(), e.to_string())),
                Some((position, format!("invalid field path {input:?}: {why}"))),
                "{input:?}"
            );
        }
        for input in [
            "a'b'", "a]", "-a", "a.b c", "a/b/c", "a.'-x'", "é", "a[+1]", "a[ 1]",
        ] {
            assert!(FieldPath::parse(input).is_err(), "{input:?}");
        }
        let err = FieldPath::parse("a.b$").err().map(|e| e.to_string());
        assert_eq!(
            err.as_deref(),
            Some(
                "invalid field path \"a.b$\": invalid field \"b$\": name part must consist of alphanumeric \
                 characters, '-', '_' or '.', and must start and end with an alphanumeric character \
                 (e.g. 'MyName', 'my.name' or '123-abc')"
            )
        );
    }

    #[test]
    fn selector_round_trips() {
        for input in [
            "",
            ".metadata.annotations['test.io'] in (value1,value2),.spec.replica=3",
            "metadata.annotations.'test.io'==value1",
            "!metadata.annotation['test.io']",
            "spec.containers[].name!=container1",
            ".spec.containers[].name==container1",
            ".spec.containers[1].name in (container1,container2)",
            "field1.field11=value1",
            "field1.field11['field12.io']=value1",
            "field1.field11=",
            "field1.field11!=value1",
            "field1.field11 in (value1,value2),field2=value2",
            "field1.field11 notin (value1,value2),field2=value2",
            "field1.field11",
            "!field1.field11",
            "z.a>1,a.z<-2",
        ] {
            let parsed = selector(input);
            assert_eq!(parsed.to_string(), input);
            assert_eq!(input.parse::<FieldSelector>().ok(), Some(parsed));
        }
        assert_eq!(
            selector("field1.field11 in (value1, value2),field2=value2").to_string(),
            "field1.field11 in (value1,value2),field2=value2"
        );
    }

    #[test]
    fn selector_structure() {
        let parsed = selector(".metadata.annotations['test.io'] in (value2,value1,value2),!a.b");
        let [first, second] = parsed.requirements() else {
            panic!("two requirements expected")
        };
        assert_eq!(
            first.path.segments(),
            [field("metadata"), field("annotations"), field("test.io")]
        );
        assert_eq!(first.operator, FieldOperator::In);
        assert_eq!(first.values, ["value2", "value1"]);
        assert_eq!(second.operator, FieldOperator::DoesNotExist);
        assert!(second.values.is_empty());
        // Values are not held to the label value rule.
        let parsed = selector("a.b=x:y/z,c=2022-01-01T00:00:00Z");
        assert_eq!(parsed.requirements()[0].values, ["x:y/z"]);
    }

    #[test]
    fn invalid_selectors() {
        let cases = [
            (
                ".metadata.annotations[test.io] in (value1, value2)",
                22,
                "unable to parse requirement: invalid field path \".metadata.annotations[test.io]\": list index must \
                 be a non-negative integer, found \"test.io\"; if \"test.io\" is a field, write ['test.io'] or .'test.io'",
            ),
            (
                "x,.metadata.annotations['test'io'] in (value1, value2)",
                30,
                "unable to parse requirement: invalid field path \".metadata.annotations['test'io']\": expected ']' \
                 after the quoted field \"test\"",
            ),
            (
                "spec.containers[]==something",
                0,
                "unable to parse requirement: invalid field path \"spec.containers[]\": the last segment must be a \
                 field, not a list marker",
            ),
            (
                "a=1, spec.containers[0]",
                5,
                "unable to parse requirement: invalid field path \"spec.containers[0]\": the last segment must be a \
                 field, not a list marker",
            ),
            (
                "a..b=c",
                2,
                "unable to parse requirement: invalid field path \"a..b\": empty field name",
            ),
            (
                "a>b",
                2,
                "unable to parse requirement: invalid value \"b\" for operator '>': the value must be an integer",
            ),
            (
                "a in (b",
                7,
                "unable to parse requirement: found end of string, expected: ',' or ')'",
            ),
            (
                ",,,",
                0,
                "found \",\", expected: '!', identifier, or end of string",
            ),
        ];
        for (input, position, message) in cases {
            let err = FieldSelector::parse(input).err();
            assert_eq!(
                err.as_ref().map(|e| (e.position(), e.to_string())),
                Some((position, message.to_owned())),
                "{input:?}"
            );
        }
        // A quoted segment cannot hold whitespace: the lexer splits it.
        assert!(FieldSelector::parse("a['b c']=d").is_err());
    }

    #[test]
    fn lookup() {
        let pod = pod();
        let cases = [
            (
                "spec.containers[].name",
                vec![json!("nginx"), json!("sidecar")],
            ),
            ("spec.containers[1].image", vec![json!("envoy")]),
            ("spec.containers[2].image", vec![]),
            (
                "spec.containers[].image",
                vec![json!("nginx:1.25"), json!("envoy")],
            ),
            (
                "spec.containers[].ports[].containerPort",
                vec![json!(80), json!(443)],
            ),
            (
                "spec.containers[0].ports[1]",
                vec![json!({"containerPort": 443})],
            ),
            ("metadata.annotations['test.io']", vec![json!("yes")]),
            ("metadata.deletionTimestamp", vec![Value::Null]),
            ("metadata.missing", vec![]),
            ("spec.containers.name", vec![]),
            ("metadata[0]", vec![]),
            ("metadata.name.first", vec![]),
            ("spec.nodeSelector", vec![json!({})]),
        ];
        for (input, expected) in cases {
            let found: Vec<Value> = path(input).lookup(&pod).into_iter().cloned().collect();
            assert_eq!(found, expected, "{input:?}");
        }
        assert_eq!(path("spec.containers[]").lookup(&pod).len(), 2);
    }

    #[test]
    fn matching_truth_table() {
        let pod = pod();
        let cases = [
            ("metadata.name=web-0", true),
            (".metadata.name==web-1", false),
            ("metadata.name!=web-1", true),
            ("metadata.name!=web-0", false),
            ("metadata.name in (a,web-0)", true),
            ("metadata.name notin (a,web-0)", false),
            ("metadata.namespace", true),
            ("!metadata.namespace", false),
            ("metadata.labels.app=web,status.phase=Running", true),
            ("status.phase=running", false),
            (".metadata.annotations['test.io']=yes", true),
            ("metadata.annotations.\"test.io\" in (no,yes)", true),
            (".metadata.annotations['example.com/owner']=team-a", true),
            ("metadata.annotations['missing.io']", false),
            ("!metadata.annotations['missing.io']", true),
            ("metadata.annotations['missing.io']!=x", true),
            ("metadata.annotations['missing.io'] notin (x)", true),
            ("metadata.annotations['missing.io']=", false),
            ("metadata.annotations['missing.io'] in (x)", false),
            // Numbers and booleans compare by their JSON text.
            ("spec.replicas=3", true),
            ("spec.replicas in (1,3)", true),
            ("spec.replicas>2", true),
            ("spec.replicas>3", false),
            ("spec.replicas<3", false),
            ("spec.priority<0", true),
            ("spec.priority>-10", true),
            ("spec.weight=1.5", true),
            ("spec.weight>1", false),
            ("spec.hostNetwork=false", true),
            ("status.ready==true", true),
            ("status.ready>0", false),
            ("metadata.name>0", false),
            ("metadata.name<0", false),
            // Objects compare as compact JSON; an empty object exists.
            ("spec.nodeSelector", true),
            // null is missing.
            ("metadata.deletionTimestamp", false),
            ("!metadata.deletionTimestamp", true),
            ("metadata.deletionTimestamp!=x", true),
            ("metadata.deletionTimestamp notin (x)", true),
            ("metadata.deletionTimestamp=", false),
            // Any element for positive operators, no element for negative ones.
            ("spec.containers[].name=sidecar", true),
            ("spec.containers[].name=redis", false),
            ("spec.containers[].name!=sidecar", false),
            ("spec.containers[].name!=redis", true),
            ("spec.containers[].name in (redis,nginx)", true),
            ("spec.containers[].name notin (redis,nginx)", false),
            ("spec.containers[].name notin (redis,memcached)", true),
            ("spec.containers[].image", true),
            ("!spec.containers[].ports", false),
            ("!spec.containers[].command", true),
            ("spec.containers[].ports[].containerPort>400", true),
            ("spec.containers[].ports[].containerPort<80", false),
            ("spec.containers[1].name=sidecar", true),
            ("spec.containers[0].name=sidecar", false),
            ("spec.containers[0].name!=sidecar", true),
            ("spec.containers[5].name", false),
            ("!spec.containers[5].name", true),
            ("spec.containers[5].name!=x", true),
        ];
        for (input, expected) in cases {
            assert_eq!(selector(input).matches(&pod), expected, "{input:?}");
        }
        assert!(FieldSelector::everything().matches(&pod));
        assert!(FieldSelector::everything().is_empty());
        assert!(selector("").is_empty());
        assert!(selector("!a").matches(&Value::Null));
        assert!(!selector("a").matches(&json!("a")));
    }

    #[test]
    fn requirements_built_by_hand() {
        let requirement = FieldRequirement {
            path: path("spec.replicas"),
            operator: FieldOperator::NotIn,
            values: vec!["2".to_owned(), "1".to_owned()],
        };
        assert_eq!(requirement.to_string(), "spec.replicas notin (2,1)");
        assert_eq!(
            "spec.replicas notin (2,1)".parse::<FieldRequirement>().ok(),
            Some(requirement.clone())
        );
        assert!("a,b".parse::<FieldRequirement>().is_err());
        let greater = FieldRequirement {
            path: path("spec.replicas"),
            operator: FieldOperator::GreaterThan,
            values: vec!["x".to_owned()],
        };
        let selector = FieldSelector::from_requirements(vec![requirement, greater]);
        assert_eq!(
            selector.to_string(),
            "spec.replicas notin (2,1),spec.replicas>x"
        );
        // A non-integer bound never matches.
        assert!(!selector.requirements()[1].matches(&pod()));
        assert!(selector.requirements()[0].matches(&pod()));
    }

    #[test]
    fn scalar_texts() {
        let cases = [
            (json!("a b"), Some("a b")),
            (json!(""), Some("")),
            (json!(3), Some("3")),
            (json!(-5), Some("-5")),
            (json!(1.5), Some("1.5")),
            (json!(true), Some("true")),
            (json!(false), Some("false")),
            (Value::Null, None),
            (json!({"a": [1, "x", null]}), Some(r#"{"a":[1,"x",null]}"#)),
            (json!([]), Some("[]")),
        ];
        for (value, expected) in cases {
            assert_eq!(scalar_text(&value).as_deref(), expected, "{value}");
        }
    }

    #[test]
    fn never_panics() {
        let pieces = [
            "a", ".", "[", "]", "[]", "[0]", "'", "\"", "'b.c'", "=", "!", " in (", ")", ",", "é",
            "\0", "-1", "",
        ];
        let pod = pod();
        for a in pieces {
            for b in pieces {
                for c in pieces {
                    for d in pieces {
                        let input = format!("{a}{b}{c}{d}");
                        let _ = FieldPath::parse(&input).map(|p| p.lookup(&pod));
                        if let Ok(parsed) = FieldSelector::parse(&input) {
                            parsed.matches(&pod);
                            let reparsed = FieldSelector::parse(&parsed.to_string());
                            assert_eq!(reparsed.as_ref().ok(), Some(&parsed), "{input:?}");
                        }
                    }
                }
            }
        }
    }
}
