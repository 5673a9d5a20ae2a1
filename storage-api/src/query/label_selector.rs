//! Kubernetes label selectors, as parsed by `k8s.io/apimachinery/pkg/labels`.
//!
//! The grammar (tokens as described for the shared lexer):
//!
//! ```text
//! selector    ::= "" | requirement ("," requirement)*
//! requirement ::= "!" KEY                          does not exist
//!               | KEY                              exists
//!               | KEY ("in" | "notin") "(" values ")"
//!               | KEY ("=" | "==" | "!=" | ">" | "<") [VALUE]
//! values      ::= [VALUE] ("," [VALUE])*
//! ```
//!
//! A missing value is the empty string, so `key=` means "equals the empty
//! string" and `key in ()` means "in {""}", as in Kubernetes. The keywords `in`
//! and `notin` are identifiers everywhere but in the operator position
//! (`in in (notin)` is valid). `>` and `<` need an integer (`i64`) value.
//!
//! Keys must be qualified names (an optional DNS-1123 subdomain prefix of at
//! most 253 characters and `/`, then a name of at most 63 alphanumeric, `-`,
//! `_` or `.` characters that starts and ends with an alphanumeric one); values
//! must be empty or follow the name rule.
//!
//! Unlike Kubernetes, requirements and the values of a requirement keep the
//! order in which they were written (duplicate values are dropped): the order of
//! search labels such as `search.clusterpedia.io/orderby in (name_desc,cluster)`
//! is meaningful.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::hash::BuildHasher;
use std::str::FromStr;

use super::lexer::{Token, TokenKind, tokenize};

/// Why a label or field selector could not be parsed.
///
/// The message names the offending token, key or value and the rule it breaks;
/// [`SelectorError::position`] tells where it was found.
#[derive(Debug, Clone, PartialEq, Eq, Hash, thiserror::Error)]
#[error("{message}")]
pub struct SelectorError {
    position: usize,
    message: String,
}

impl SelectorError {
    pub(super) fn new(position: usize, message: impl Into<String>) -> Self {
        Self {
            position,
            message: message.into(),
        }
    }

    /// The byte offset in the parsed string at which the problem was found.
    pub fn position(&self) -> usize {
        self.position
    }

    /// The same error for a string embedded at byte offset `offset` of another one.
    pub(super) fn shifted(self, offset: usize) -> Self {
        Self {
            position: self.position + offset,
            ..self
        }
    }

    fn in_requirement(self) -> Self {
        Self {
            message: format!("unable to parse requirement: {}", self.message),
            ..self
        }
    }

    fn unexpected(found: Token<'_>, expected: &str) -> Self {
        Self::new(
            found.pos,
            format!("found {}, expected: {expected}", found.describe()),
        )
    }
}

/// The relation a [`LabelRequirement`] states between a label and its values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LabelOperator {
    /// `key=value`: the label is present and equal to the value.
    Equals,
    /// `key==value`: same as [`LabelOperator::Equals`].
    DoubleEquals,
    /// `key!=value`: the label is absent or differs from the value.
    NotEquals,
    /// `key in (a,b)`: the label is present and one of the values.
    In,
    /// `key notin (a,b)`: the label is absent or none of the values.
    NotIn,
    /// `key`: the label is present.
    Exists,
    /// `!key`: the label is absent.
    DoesNotExist,
    /// `key>n`: the label is present, an integer, and greater than `n`.
    GreaterThan,
    /// `key<n`: the label is present, an integer, and less than `n`.
    LessThan,
}

impl LabelOperator {
    /// Whether the requirement `<op> wanted` holds given the values `found` at
    /// its key (none when the key is missing).
    ///
    /// Positive operators hold when any found value satisfies them; `!=`,
    /// `notin` and `!` hold when no found value satisfies `=`, `in` or exists.
    /// `>` and `<` need exactly one integer wanted value and integer found values.
    pub(super) fn evaluate<T: AsRef<str>>(
        self,
        wanted: &[String],
        found: impl IntoIterator<Item = T>,
    ) -> bool {
        let mut found = found.into_iter();
        let is_wanted = |value: &T| wanted.iter().any(|w| w == value.as_ref());
        match self {
            Self::Exists => found.next().is_some(),
            Self::DoesNotExist => found.next().is_none(),
            Self::Equals | Self::DoubleEquals | Self::In => found.any(|v| is_wanted(&v)),
            Self::NotEquals | Self::NotIn => !found.any(|v| is_wanted(&v)),
            Self::GreaterThan | Self::LessThan => {
                let Some(bound) = single_integer(wanted) else {
                    return false;
                };
                found.any(|value| {
                    value.as_ref().parse::<i64>().is_ok_and(|n| {
                        if self == Self::GreaterThan {
                            n > bound
                        } else {
                            n < bound
                        }
                    })
                })
            }
        }
    }
}

fn single_integer(values: &[String]) -> Option<i64> {
    match values {
        [value] => value.parse().ok(),
        _ => None,
    }
}

/// One `key <operator> values` term of a [`LabelSelector`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LabelRequirement {
    /// The label key.
    pub key: String,
    /// How the label relates to the values.
    pub operator: LabelOperator,
    /// The values, in written order and without duplicates: exactly one for
    /// `=`, `==`, `!=`, `>` and `<`, at least one for `in` and `notin`, none
    /// for exists and does-not-exist.
    pub values: Vec<String>,
}

impl LabelRequirement {
    /// Whether `labels` satisfy this requirement (see [`LabelOperator`]).
    pub fn matches(&self, labels: &dyn LabelSet) -> bool {
        self.operator.evaluate(&self.values, labels.get(&self.key))
    }
}

impl fmt::Display for LabelRequirement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_requirement(f, &self.key, self.operator, &self.values)
    }
}

impl FromStr for LabelRequirement {
    type Err = SelectorError;

    /// Parses a selector that holds exactly one requirement.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut requirements = LabelSelector::parse(s)?.requirements;
        match requirements.len() {
            1 => Ok(requirements.remove(0)),
            n => Err(SelectorError::new(
                0,
                format!("expected exactly one requirement, found {n}"),
            )),
        }
    }
}

/// Read access to a set of labels, for [`LabelSelector::matches`].
pub trait LabelSet {
    /// The value of label `key`, or `None` when the label is absent.
    fn get(&self, key: &str) -> Option<&str>;
}

impl LabelSet for BTreeMap<String, String> {
    fn get(&self, key: &str) -> Option<&str> {
        BTreeMap::get(self, key).map(String::as_str)
    }
}

impl<S: BuildHasher> LabelSet for HashMap<String, String, S> {
    fn get(&self, key: &str) -> Option<&str> {
        HashMap::get(self, key).map(String::as_str)
    }
}

/// A JSON object such as `metadata.labels`; non-string members count as absent.
impl LabelSet for serde_json::Map<String, serde_json::Value> {
    fn get(&self, key: &str) -> Option<&str> {
        serde_json::Map::get(self, key).and_then(serde_json::Value::as_str)
    }
}

/// A parsed label selector: requirements, in written order, that must all hold.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct LabelSelector {
    requirements: Vec<LabelRequirement>,
}

impl LabelSelector {
    /// The empty selector, which matches every label set.
    pub fn everything() -> Self {
        Self::default()
    }

    /// Parses `s`, validating keys as qualified names and values as label values.
    pub fn parse(s: &str) -> Result<Self, SelectorError> {
        Self::parse_with_exempt_values(s, &|_| false)
    }

    /// Parses `s` like [`LabelSelector::parse`], but does not apply the label
    /// value rule to the values of keys for which `exempt` returns true (search
    /// labels whose values are cluster names, dates, ...). Such values are
    /// still whatever the lexer reads as one identifier, and `>`/`<` values
    /// must still be integers.
    pub fn parse_with_exempt_values(
        s: &str,
        exempt: &dyn Fn(&str) -> bool,
    ) -> Result<Self, SelectorError> {
        let requirements = parse_requirements(s, |raw| {
            let key = raw.key.text;
            validate_qualified_name(key).map_err(|why| {
                SelectorError::new(raw.key.pos, format!("invalid label key {key:?}: {why}"))
            })?;
            if !exempt(key) {
                for value in &raw.values {
                    validate_label_value(value.text).map_err(|why| {
                        SelectorError::new(
                            value.pos,
                            format!("invalid value {:?} for label {key:?}: {why}", value.text),
                        )
                    })?;
                }
            }
            Ok(LabelRequirement {
                key: key.to_owned(),
                operator: raw.operator,
                values: raw.values.iter().map(|v| v.text.to_owned()).collect(),
            })
        })?;
        Ok(Self { requirements })
    }

    /// A selector made of `requirements`, taken as they are (not validated).
    pub fn from_requirements(requirements: Vec<LabelRequirement>) -> Self {
        Self { requirements }
    }

    /// The requirements, in written order.
    pub fn requirements(&self) -> &[LabelRequirement] {
        &self.requirements
    }

    /// Whether the selector has no requirement (and so matches everything).
    pub fn is_empty(&self) -> bool {
        self.requirements.is_empty()
    }

    /// Whether `labels` satisfy every requirement.
    pub fn matches(&self, labels: &dyn LabelSet) -> bool {
        self.requirements.iter().all(|r| r.matches(labels))
    }
}

impl fmt::Display for LabelSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_joined(f, &self.requirements)
    }
}

impl FromStr for LabelSelector {
    type Err = SelectorError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// Writes `items` separated by commas.
pub(super) fn write_joined<T: fmt::Display>(
    f: &mut fmt::Formatter<'_>,
    items: &[T],
) -> fmt::Result {
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            f.write_str(",")?;
        }
        write!(f, "{item}")?;
    }
    Ok(())
}

/// Writes a requirement in canonical form: `k=v`, `k==v`, `k!=v`, `k>v`,
/// `k<v`, `k in (a,b)`, `k notin (a,b)`, `k`, `!k`.
pub(super) fn write_requirement(
    f: &mut fmt::Formatter<'_>,
    key: &str,
    operator: LabelOperator,
    values: &[String],
) -> fmt::Result {
    let values = values.join(",");
    match operator {
        LabelOperator::Exists => f.write_str(key),
        LabelOperator::DoesNotExist => write!(f, "!{key}"),
        LabelOperator::In => write!(f, "{key} in ({values})"),
        LabelOperator::NotIn => write!(f, "{key} notin ({values})"),
        LabelOperator::Equals => write!(f, "{key}={values}"),
        LabelOperator::DoubleEquals => write!(f, "{key}=={values}"),
        LabelOperator::NotEquals => write!(f, "{key}!={values}"),
        LabelOperator::GreaterThan => write!(f, "{key}>{values}"),
        LabelOperator::LessThan => write!(f, "{key}<{values}"),
    }
}

/// A requirement as written, before its key and values are interpreted.
pub(super) struct RawRequirement<'a> {
    pub(super) key: Token<'a>,
    pub(super) operator: LabelOperator,
    /// Deduplicated, in written order; a missing value is an empty identifier.
    pub(super) values: Vec<Token<'a>>,
}

/// Parses the selector grammar of this module, handing every requirement to
/// `build` to validate and convert; errors inside a requirement are prefixed
/// with "unable to parse requirement: ".
pub(super) fn parse_requirements<'a, R>(
    input: &'a str,
    mut build: impl FnMut(RawRequirement<'a>) -> Result<R, SelectorError>,
) -> Result<Vec<R>, SelectorError> {
    let mut parser = Parser {
        tokens: tokenize(input),
        next: 0,
        end: input.len(),
    };
    let mut requirements = Vec::new();
    if parser.peek().kind == TokenKind::EndOfString {
        return Ok(requirements);
    }
    loop {
        let start = parser.peek();
        if !(start.is_identifier() || start.kind == TokenKind::Bang) {
            let expected = if requirements.is_empty() {
                "'!', identifier, or end of string"
            } else {
                "identifier after ','"
            };
            return Err(SelectorError::unexpected(start, expected));
        }
        let raw = parser
            .requirement()
            .map_err(SelectorError::in_requirement)?;
        requirements.push(build(raw).map_err(SelectorError::in_requirement)?);
        let after = parser.bump();
        match after.kind {
            TokenKind::EndOfString => return Ok(requirements),
            TokenKind::Comma => {}
            _ => {
                return Err(SelectorError::unexpected(after, "',' or end of string"));
            }
        }
    }
}

struct Parser<'a> {
    tokens: Vec<Token<'a>>,
    next: usize,
    end: usize,
}

impl<'a> Parser<'a> {
    fn peek(&self) -> Token<'a> {
        self.tokens.get(self.next).copied().unwrap_or(Token {
            kind: TokenKind::EndOfString,
            text: "",
            pos: self.end,
        })
    }

    fn bump(&mut self) -> Token<'a> {
        let token = self.peek();
        self.next += 1;
        token
    }

    fn requirement(&mut self) -> Result<RawRequirement<'a>, SelectorError> {
        let mut key = self.bump();
        let negated = key.kind == TokenKind::Bang;
        if negated {
            key = self.bump();
        }
        if !key.is_identifier() {
            return Err(SelectorError::unexpected(key, "identifier"));
        }
        if negated || matches!(self.peek().kind, TokenKind::EndOfString | TokenKind::Comma) {
            let operator = if negated {
                LabelOperator::DoesNotExist
            } else {
                LabelOperator::Exists
            };
            return Ok(RawRequirement {
                key,
                operator,
                values: Vec::new(),
            });
        }
        let op = self.bump();
        let operator = match op.kind {
            TokenKind::In => LabelOperator::In,
            TokenKind::NotIn => LabelOperator::NotIn,
            TokenKind::Equals => LabelOperator::Equals,
            TokenKind::DoubleEquals => LabelOperator::DoubleEquals,
            TokenKind::NotEquals => LabelOperator::NotEquals,
            TokenKind::GreaterThan => LabelOperator::GreaterThan,
            TokenKind::LessThan => LabelOperator::LessThan,
            _ => {
                return Err(SelectorError::unexpected(
                    op,
                    "one of 'in', 'notin', '=', '==', '!=', '>', '<'",
                ));
            }
        };
        let values = match operator {
            LabelOperator::In | LabelOperator::NotIn => self.value_set()?,
            _ => vec![self.exact_value()?],
        };
        let needs_integer = matches!(
            operator,
            LabelOperator::GreaterThan | LabelOperator::LessThan
        );
        if let Some(value) = values
            .iter()
            .find(|v| needs_integer && v.text.parse::<i64>().is_err())
        {
            return Err(SelectorError::new(
                value.pos,
                format!(
                    "invalid value {:?} for operator '{}': the value must be an integer",
                    value.text, op.text
                ),
            ));
        }
        Ok(RawRequirement {
            key,
            operator,
            values,
        })
    }

    /// The single value of `=`, `==`, `!=`, `>`, `<`: empty when nothing follows.
    fn exact_value(&mut self) -> Result<Token<'a>, SelectorError> {
        let next = self.peek();
        match next.kind {
            TokenKind::EndOfString | TokenKind::Comma => Ok(empty_value(next.pos)),
            _ if next.is_identifier() => {
                self.bump();
                Ok(next)
            }
            _ => Err(SelectorError::unexpected(next, "identifier")),
        }
    }

    /// `( [v] (, [v])* )`: missing values are empty, duplicates are dropped.
    fn value_set(&mut self) -> Result<Vec<Token<'a>>, SelectorError> {
        let open = self.bump();
        if open.kind != TokenKind::OpenParen {
            return Err(SelectorError::unexpected(open, "'('"));
        }
        let mut values = Vec::new();
        let mut seen = HashSet::new();
        loop {
            let next = self.peek();
            let written = next.is_identifier();
            let value = if written {
                self.bump();
                next
            } else {
                empty_value(next.pos)
            };
            if seen.insert(value.text) {
                values.push(value);
            }
            let separator = self.bump();
            match separator.kind {
                TokenKind::Comma => {}
                TokenKind::CloseParen => return Ok(values),
                _ if written => return Err(SelectorError::unexpected(separator, "',' or ')'")),
                _ => {
                    return Err(SelectorError::unexpected(
                        separator,
                        "identifier, ',' or ')'",
                    ));
                }
            }
        }
    }
}

fn empty_value(pos: usize) -> Token<'static> {
    Token {
        kind: TokenKind::Identifier,
        text: "",
        pos,
    }
}

const NAME_MAX_LEN: usize = 63;
const PREFIX_MAX_LEN: usize = 253;
const NAME_RULE: &str = "must consist of alphanumeric characters, '-', '_' or '.', \
     and must start and end with an alphanumeric character (e.g. 'MyName', 'my.name' or '123-abc')";
const SUBDOMAIN_RULE: &str = "a lowercase RFC 1123 subdomain must consist of lower case \
     alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character \
     (e.g. 'example.com')";

/// `([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]`
fn is_name(s: &str) -> bool {
    let bytes = s.as_bytes();
    matches!((bytes.first(), bytes.last()), (Some(a), Some(b)) if a.is_ascii_alphanumeric() && b.is_ascii_alphanumeric())
        && bytes
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// `[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*`
fn is_dns1123_subdomain(s: &str) -> bool {
    let is_end = |b: Option<&u8>| b.is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    s.split('.').all(|label| {
        let bytes = label.as_bytes();
        is_end(bytes.first())
            && is_end(bytes.last())
            && bytes
                .iter()
                .all(|&b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    })
}

/// Validates a Kubernetes qualified name (`[prefix/]name`, as label keys and
/// field path segments are); the error lists every rule broken.
pub(super) fn validate_qualified_name(qualified: &str) -> Result<(), String> {
    let mut errors = Vec::new();
    let (prefix, name) = match qualified.split_once('/') {
        None => (None, qualified),
        Some((_, name)) if name.contains('/') => {
            return Err(format!(
                "a qualified name {NAME_RULE}, with an optional DNS subdomain prefix and '/' \
                 (e.g. 'example.com/MyName')"
            ));
        }
        Some((prefix, name)) => (Some(prefix), name),
    };
    match prefix {
        Some("") => errors.push("prefix part must be non-empty".to_owned()),
        Some(prefix) => {
            if prefix.len() > PREFIX_MAX_LEN {
                errors.push(format!(
                    "prefix part must be no more than {PREFIX_MAX_LEN} characters"
                ));
            }
            if !is_dns1123_subdomain(prefix) {
                errors.push(format!("prefix part {SUBDOMAIN_RULE}"));
            }
        }
        None => {}
    }
    if name.is_empty() {
        errors.push("name part must be non-empty".to_owned());
    } else {
        if name.len() > NAME_MAX_LEN {
            errors.push(format!(
                "name part must be no more than {NAME_MAX_LEN} characters"
            ));
        }
        if !is_name(name) {
            errors.push(format!("name part {NAME_RULE}"));
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors.join("; "))
    }
}

/// Validates a label value: empty, or a name of at most 63 characters.
fn validate_label_value(value: &str) -> Result<(), String> {
    let mut errors = Vec::new();
    if value.len() > NAME_MAX_LEN {
        errors.push(format!("must be no more than {NAME_MAX_LEN} characters"));
    }
    if !value.is_empty() && !is_name(value) {
        errors.push(format!(
            "a valid label must be an empty string or {}",
            NAME_RULE.replacen("must ", "", 1)
        ));
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors.join("; "))
    }
}

#[cfg(test)]
mod tests {
    use super::LabelOperator::*;
    use super::*;

    fn parse(s: &str) -> LabelSelector {
        match LabelSelector::parse(s) {
            Ok(selector) => selector,
            Err(e) => panic!("{s:?} should parse: {e}"),
        }
    }

    fn parse_err(s: &str) -> SelectorError {
        match LabelSelector::parse(s) {
            Ok(selector) => panic!("{s:?} should not parse, got {selector:?}"),
            Err(e) => e,
        }
    }

    fn req(key: &str, operator: LabelOperator, values: &[&str]) -> LabelRequirement {
        LabelRequirement {
            key: key.to_owned(),
            operator,
            values: values.iter().map(|v| (*v).to_owned()).collect(),
        }
    }

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn grammar() {
        let cases: Vec<(&str, Vec<LabelRequirement>)> = vec![
            ("", vec![]),
            ("  \t ", vec![]),
            ("x", vec![req("x", Exists, &[])]),
            ("!x", vec![req("x", DoesNotExist, &[])]),
            (" ! x ", vec![req("x", DoesNotExist, &[])]),
            ("x=a", vec![req("x", Equals, &["a"])]),
            ("x==a", vec![req("x", DoubleEquals, &["a"])]),
            ("x!=a", vec![req("x", NotEquals, &["a"])]),
            ("x = a", vec![req("x", Equals, &["a"])]),
            ("key1.io=", vec![req("key1.io", Equals, &[""])]),
            (
                "x==,y!=",
                vec![req("x", DoubleEquals, &[""]), req("y", NotEquals, &[""])],
            ),
            ("x>1", vec![req("x", GreaterThan, &["1"])]),
            ("x < 10", vec![req("x", LessThan, &["10"])]),
            ("x in (a)", vec![req("x", In, &["a"])]),
            ("x in (b,a)", vec![req("x", In, &["b", "a"])]),
            ("x in ( b , a , b )", vec![req("x", In, &["b", "a"])]),
            ("x notin (a,b)", vec![req("x", NotIn, &["a", "b"])]),
            ("x in ()", vec![req("x", In, &[""])]),
            ("x notin ()", vec![req("x", NotIn, &[""])]),
            ("x in (,)", vec![req("x", In, &[""])]),
            ("x in (a,)", vec![req("x", In, &["a", ""])]),
            ("x in (,a)", vec![req("x", In, &["", "a"])]),
            ("x in (a,,b)", vec![req("x", In, &["a", "", "b"])]),
            ("in in (notin)", vec![req("in", In, &["notin"])]),
            ("notin=in", vec![req("notin", Equals, &["in"])]),
            (
                "x in (foo,,baz),y,z notin ()",
                vec![
                    req("x", In, &["foo", "", "baz"]),
                    req("y", Exists, &[]),
                    req("z", NotIn, &[""]),
                ],
            ),
            (
                "z=1,a=2,!m",
                vec![
                    req("z", Equals, &["1"]),
                    req("a", Equals, &["2"]),
                    req("m", DoesNotExist, &[]),
                ],
            ),
            (
                "example.com/my-key_1.x=V.a-l_ue9",
                vec![req("example.com/my-key_1.x", Equals, &["V.a-l_ue9"])],
            ),
        ];
        for (input, expected) in cases {
            assert_eq!(parse(input).requirements(), expected, "{input:?}");
        }
    }

    #[test]
    fn written_order_is_kept() {
        let selector = parse("search.clusterpedia.io/orderby in (name_desc,cluster),app=x");
        assert_eq!(
            selector.requirements()[0],
            req(
                "search.clusterpedia.io/orderby",
                In,
                &["name_desc", "cluster"]
            )
        );
        assert_eq!(selector.requirements()[1].key, "app");
        assert_eq!(
            selector.to_string(),
            "search.clusterpedia.io/orderby in (name_desc,cluster),app=x"
        );
    }

    #[test]
    fn syntax_errors() {
        let cases = [
            (
                ",,,",
                0,
                r#"found ",", expected: '!', identifier, or end of string"#,
            ),
            (
                "=a",
                0,
                r#"found "=", expected: '!', identifier, or end of string"#,
            ),
            (
                "a=b,",
                4,
                "found end of string, expected: identifier after ','",
            ),
            ("a=b,,c", 4, r#"found ",", expected: identifier after ','"#),
            ("a=b c", 4, r#"found "c", expected: ',' or end of string"#),
            (
                "key=value=x",
                9,
                r#"found "=", expected: ',' or end of string"#,
            ),
            ("!a=b", 2, r#"found "=", expected: ',' or end of string"#),
            (
                "a=(b,c)",
                2,
                r#"unable to parse requirement: found "(", expected: identifier"#,
            ),
            (
                "a>=1",
                2,
                r#"unable to parse requirement: found "=", expected: identifier"#,
            ),
            (
                "a=!b",
                2,
                r#"unable to parse requirement: found "!", expected: identifier"#,
            ),
            (
                "!",
                1,
                "unable to parse requirement: found end of string, expected: identifier",
            ),
            (
                "!!a",
                1,
                r#"unable to parse requirement: found "!", expected: identifier"#,
            ),
            (
                "a b",
                2,
                r#"unable to parse requirement: found "b", expected: one of 'in', 'notin', '=', '==', '!=', '>', '<'"#,
            ),
            (
                "a in",
                4,
                "unable to parse requirement: found end of string, expected: '('",
            ),
            (
                "a in b",
                5,
                r#"unable to parse requirement: found "b", expected: '('"#,
            ),
            (
                "a in (b",
                7,
                "unable to parse requirement: found end of string, expected: ',' or ')'",
            ),
            (
                "a in (b c)",
                8,
                r#"unable to parse requirement: found "c", expected: ',' or ')'"#,
            ),
            (
                "a in (=)",
                6,
                r#"unable to parse requirement: found "=", expected: identifier, ',' or ')'"#,
            ),
            (
                "foo=bar,search.clusterpedia.io/forward in (",
                43,
                "unable to parse requirement: found end of string, expected: identifier, ',' or ')'",
            ),
            (
                "a>b",
                2,
                r#"unable to parse requirement: invalid value "b" for operator '>': the value must be an integer"#,
            ),
            (
                "a<1.5",
                2,
                r#"unable to parse requirement: invalid value "1.5" for operator '<': the value must be an integer"#,
            ),
            (
                "a>",
                2,
                r#"unable to parse requirement: invalid value "" for operator '>': the value must be an integer"#,
            ),
            (
                "a>99999999999999999999",
                2,
                r#"unable to parse requirement: invalid value "99999999999999999999" for operator '>': the value must be an integer"#,
            ),
            (
                "a=b\0",
                3,
                r#"found invalid character "\0", expected: ',' or end of string"#,
            ),
        ];
        for (input, position, message) in cases {
            let err = parse_err(input);
            assert_eq!(err.to_string(), message, "{input:?}");
            assert_eq!(err.position(), position, "{input:?}");
        }
    }

    #[test]
    fn key_errors() {
        let name_rule = format!("name part {NAME_RULE}");
        let cases = [
            ("a~b", name_rule.clone()),
            ("-a", name_rule.clone()),
            ("a.", name_rule.clone()),
            ("é", name_rule.clone()),
            ("a/", "name part must be non-empty".to_owned()),
            ("/a", "prefix part must be non-empty".to_owned()),
            ("Example.com/a", format!("prefix part {SUBDOMAIN_RULE}")),
            ("a..b/c", format!("prefix part {SUBDOMAIN_RULE}")),
            (
                "a/b/c",
                format!(
                    "a qualified name {NAME_RULE}, with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"
                ),
            ),
            (
                &"k".repeat(64),
                "name part must be no more than 63 characters".to_owned(),
            ),
            (
                &format!("{}/a", "p".repeat(254)),
                "prefix part must be no more than 253 characters".to_owned(),
            ),
            ("a/-b-", name_rule.clone()),
            (
                "/",
                "prefix part must be non-empty; name part must be non-empty".to_owned(),
            ),
        ];
        for (key, why) in cases {
            for input in [
                format!("{key}=v"),
                format!("!{key}"),
                format!("x,{key} in (v)"),
            ] {
                let err = parse_err(&input);
                assert_eq!(
                    err.to_string(),
                    format!("unable to parse requirement: invalid label key {key:?}: {why}"),
                    "{input:?}"
                );
                assert_eq!(err.position(), input.find(key).unwrap_or(usize::MAX));
            }
        }
        // The longest valid forms are accepted.
        parse(&format!("{}/{}", "p".repeat(253), "k".repeat(63)));
    }

    #[test]
    fn value_errors() {
        let long = "v".repeat(64);
        let err = parse_err(&format!("a={long}"));
        assert_eq!(
            err.to_string(),
            format!(
                "unable to parse requirement: invalid value {long:?} for label \"a\": must be no more than 63 characters"
            )
        );
        assert_eq!(err.position(), 2);
        let err = parse_err("a in (ok,-bad)");
        assert_eq!(
            err.to_string(),
            "unable to parse requirement: invalid value \"-bad\" for label \"a\": a valid label must be an empty \
             string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an \
             alphanumeric character (e.g. 'MyName', 'my.name' or '123-abc')"
        );
        assert_eq!(err.position(), 9);
        for input in ["a=b/c", "a!=x:y", "a notin (a,b c)", "a==_x"] {
            parse_err(input);
        }
        parse(&format!("a={}", "v".repeat(63)));
    }

    #[test]
    fn exempt_values() {
        let exempt = |key: &str| key.starts_with("search.clusterpedia.io/");
        let long = "c".repeat(100);
        let input = format!(
            "search.clusterpedia.io/since=2022-01-01T00:00:00Z,search.clusterpedia.io/clusters in ({long},b)"
        );
        let selector = match LabelSelector::parse_with_exempt_values(&input, &exempt) {
            Ok(selector) => selector,
            Err(e) => panic!("{e}"),
        };
        assert_eq!(selector.requirements()[0].values, ["2022-01-01T00:00:00Z"]);
        assert_eq!(selector.requirements()[1].values, [long.as_str(), "b"]);
        assert_eq!(selector.to_string(), input);
        // Without the exemption the same values are rejected.
        assert!(LabelSelector::parse(&input).is_err());
        // As in Kubernetes, a negative bound breaks the label value rule; exempt keys allow it.
        assert!(LabelSelector::parse("a>-1").is_err());
        let negative = LabelSelector::parse_with_exempt_values("a>-1", &|_| true);
        assert_eq!(
            negative.map(|s| s.to_string()).ok().as_deref(),
            Some("a>-1")
        );
        // Keys are still validated, and so are the values of other keys.
        for bad in [
            "search.clusterpedia.io/-bad=x",
            "search.clusterpedia.io/since=ok,app=2022-01-01T00:00:00Z",
            "search.clusterpedia.io/offset>x",
        ] {
            assert!(
                LabelSelector::parse_with_exempt_values(bad, &exempt).is_err(),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn display_round_trips_canonical_strings() {
        for input in [
            "",
            "a=b",
            "a==b",
            "a!=b",
            "a in (x,y)",
            "a notin (x,y)",
            "a",
            "!a",
            "a>5",
            "a<05",
            "key1.io=",
            "a in ()",
            "a in (b,,c)",
            "x=1,!y,z in (c,b,a),w notin (q)",
            "env in (prod,stage),tier=frontend",
        ] {
            assert_eq!(parse(input).to_string(), input);
            let again: LabelSelector = match input.parse() {
                Ok(s) => s,
                Err(e) => panic!("{e}"),
            };
            assert_eq!(again, parse(input));
        }
        assert_eq!(
            parse(" key1 in (value1, value2) , key2 = value2 ").to_string(),
            "key1 in (value1,value2),key2=value2"
        );
        assert_eq!(parse("a in (b,b,a)").to_string(), "a in (b,a)");
        assert_eq!(parse("a in (,)").to_string(), "a in ()");
    }

    #[test]
    fn requirement_from_str_and_display() {
        let r: LabelRequirement = match "a notin (x,y)".parse() {
            Ok(r) => r,
            Err(e) => panic!("{e}"),
        };
        assert_eq!(r, req("a", NotIn, &["x", "y"]));
        assert_eq!(r.to_string(), "a notin (x,y)");
        for bad in ["", "a,b"] {
            let err = bad.parse::<LabelRequirement>().err();
            assert!(
                err.is_some_and(|e| e
                    .to_string()
                    .starts_with("expected exactly one requirement")),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn filter_label_selector_truth_table() {
        // Test_filterLabelSelector of the memory storage: one pod labelled env=dev.
        let dev = labels(&[("env", "dev")]);
        let cases = [
            ("env", true),
            ("!env", false),
            ("env=dev", true),
            ("env==dev", true),
            ("env=prod", false),
            ("env!=dev", false),
            ("env!=prod", true),
            ("env in (dev,test)", true),
            ("env in (prod,test)", false),
            ("env notin (prod,test)", true),
            ("env notin (dev,test)", false),
            ("env=dev,!tier", true),
            ("env=dev,tier", false),
        ];
        for (input, expected) in cases {
            assert_eq!(parse(input).matches(&dev), expected, "{input:?}");
        }
    }

    #[test]
    fn missing_labels() {
        let none = labels(&[]);
        let cases = [
            ("env", false),
            ("!env", true),
            ("env=dev", false),
            ("env=", false),
            ("env!=dev", true),
            ("env in (dev)", false),
            ("env notin (dev)", true),
            ("env>1", false),
            ("env<1", false),
        ];
        for (input, expected) in cases {
            assert_eq!(parse(input).matches(&none), expected, "{input:?}");
        }
        assert!(LabelSelector::everything().matches(&none));
        assert!(LabelSelector::everything().is_empty());
        assert!(parse("").is_empty());
    }

    #[test]
    fn every_operator_against_label_sets() {
        let sets = [
            labels(&[("a", "1"), ("b", "")]),
            labels(&[("a", "10")]),
            labels(&[("a", "x"), ("b", "y")]),
        ];
        let cases: [(&str, [bool; 3]); 16] = [
            ("a=1", [true, false, false]),
            ("a==10", [false, true, false]),
            ("a!=1", [false, true, true]),
            ("b=", [true, false, false]),
            ("b!=", [false, true, true]),
            ("a in (1,x)", [true, false, true]),
            ("a notin (1,x)", [false, true, false]),
            ("b in (,y)", [true, false, true]),
            ("b", [true, false, true]),
            ("!b", [false, true, false]),
            ("a>5", [false, true, false]),
            ("a<5", [true, false, false]),
            ("a>0", [true, true, false]),
            ("a<10", [true, false, false]),
            ("a>0,a<10", [true, false, false]),
            ("a,b=y", [false, false, true]),
        ];
        for (input, expected) in cases {
            let selector = parse(input);
            let got = sets.each_ref().map(|set| selector.matches(set));
            assert_eq!(got, expected, "{input:?}");
        }
    }

    #[test]
    fn label_set_impls() {
        let selector = parse("app=web,!gone");
        let hash: HashMap<String, String> = [("app".to_owned(), "web".to_owned())].into();
        assert!(selector.matches(&hash));
        let json = serde_json::json!({"app": "web", "replicas": 3});
        let Some(map) = json.as_object() else {
            panic!("not an object")
        };
        assert!(selector.matches(map));
        // A non-string member counts as absent.
        assert!(parse("!replicas").matches(map));
    }

    #[test]
    fn from_requirements_and_manual_requirements() {
        let selector = LabelSelector::from_requirements(vec![
            req("b", In, &["2", "1"]),
            req("a", GreaterThan, &["x"]),
        ]);
        assert_eq!(selector.to_string(), "b in (2,1),a>x");
        // A non-integer bound never matches.
        assert!(!selector.requirements()[1].matches(&labels(&[("a", "5")])));
        assert!(!req("a", GreaterThan, &["1", "2"]).matches(&labels(&[("a", "5")])));
    }

    #[test]
    fn never_panics() {
        let pieces = [
            "a", "=", "==", "!", "!=", "in", "notin", "(", ")", ",", " ", ">", "<", "é", "\0", "/",
            "'", "",
        ];
        for a in pieces {
            for b in pieces {
                for c in pieces {
                    for d in pieces {
                        let input = format!("{a}{b}{c}{d}");
                        if let Ok(selector) = LabelSelector::parse(&input) {
                            let reparsed = LabelSelector::parse(&selector.to_string());
                            assert_eq!(reparsed.as_ref().ok(), Some(&selector), "{input:?}");
                        }
                    }
                }
            }
        }
    }
}
