//! The query model: [`ListOptions`], every search parameter of the original in one struct, with
//! its parsers (URL query and search labels), selectors, ordering, continue tokens and paging.
//!
//! A request is parsed once, here; storage layers receive a validated [`ListOptions`] and never
//! see request text. Nothing from a request is ever pasted into a query language: order fields
//! are an enum, field paths are validated, values are bound as parameters.

pub mod continue_token;
pub mod field_selector;
pub mod full_text;
pub mod label_selector;
mod lexer;
pub mod limits;
pub mod paging;
pub mod params;
pub mod time;

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::object::GroupResource;
pub use continue_token::ContinuePosition;
use field_selector::{FieldPath, FieldSelector};
use full_text::FullTextQuery;
use label_selector::LabelSelector;

/// Everything a list (or watch) request asks of a storage layer.
///
/// Build it with [`params::parse_list_options`] from a request; the defaults are "everything, in
/// the default order, unpaged". Outside this crate, start from [`ListOptions::default`] and set
/// fields (the struct is `#[non_exhaustive]`, so that a new parameter breaks no layer).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct ListOptions {
    /// Only objects of these member clusters (empty: all clusters).
    pub clusters: Vec<String>,
    /// Only objects in these namespaces (empty: all namespaces).
    pub namespaces: Vec<String>,
    /// Only objects with these names (empty: any name).
    pub names: Vec<String>,
    /// The Kubernetes label selector on `metadata.labels` (search labels removed).
    pub label_selector: LabelSelector,
    /// The enhanced field selector on any field path of the object.
    pub field_selector: FieldSelector,
    /// Only objects whose name contains every one of these substrings (case-sensitive).
    pub fuzzy_names: Vec<String>,
    /// Only objects owned (through controller owner references) by this owner.
    pub owner: Option<OwnerQuery>,
    /// Only objects holding every word of this full-text query (the `query` parameter); with
    /// no `order_by`, they come by relevance ([`ListOptions::effective_order`]).
    pub full_text: Option<FullTextQuery>,
    /// The requested order; [`ListOptions::effective_order`] completes it into a total order.
    pub order_by: Vec<OrderBy>,
    /// Only objects created at or after this time (milliseconds since the Unix epoch).
    pub since: Option<i64>,
    /// Only objects created strictly before this time (milliseconds since the Unix epoch).
    pub before: Option<i64>,
    /// At most this many items per page (`None`: no limit).
    pub limit: Option<u64>,
    /// Skip this many matching items first (the original's offset paging; costs grow with it).
    pub offset: u64,
    /// Resume after this position (a verified continue token).
    pub continue_from: Option<ContinuePosition>,
    /// Whether to return a continue token when more items remain (Kubernetes semantics: yes).
    pub with_continue: bool,
    /// Whether to return the number of items after this page.
    pub with_remaining_count: bool,
    /// Return only `apiVersion`, `kind` and `metadata` of each item.
    pub only_metadata: bool,
    /// Attach each item's recorded events as the `shadow.clusterpedia.io/events` annotation.
    pub inject_events: bool,
    /// The `resourceVersion` parameter (watch: where to start).
    pub resource_version: Option<String>,
    /// Whether a watch may send `BOOKMARK` events.
    pub allow_watch_bookmarks: bool,
}

impl Default for ListOptions {
    fn default() -> Self {
        Self {
            clusters: Vec::new(),
            namespaces: Vec::new(),
            names: Vec::new(),
            label_selector: LabelSelector::everything(),
            field_selector: FieldSelector::everything(),
            fuzzy_names: Vec::new(),
            owner: None,
            full_text: None,
            order_by: Vec::new(),
            since: None,
            before: None,
            limit: None,
            offset: 0,
            continue_from: None,
            with_continue: true,
            with_remaining_count: false,
            only_metadata: false,
            inject_events: false,
            resource_version: None,
            allow_watch_bookmarks: false,
        }
    }
}

impl ListOptions {
    /// The same filters without order and paging (what a watch of these options follows).
    pub fn filters_only(&self) -> Self {
        Self {
            order_by: Vec::new(),
            limit: None,
            offset: 0,
            continue_from: None,
            ..self.clone()
        }
    }

    /// The total order items are returned in: the requested fields, then whichever of
    /// cluster, namespace, name, group, version, resource are not yet among them, ascending.
    /// With no `orderby` this is the default stable order (cluster, namespace, name), after
    /// [`OrderField::Relevance`] descending when there is a full-text query (an explicit
    /// `orderby` wins over relevance).
    pub fn effective_order(&self) -> Vec<OrderBy> {
        let mut order = self.order_by.clone();
        if order.is_empty() && self.full_text.is_some() {
            order.push(OrderBy {
                field: OrderField::Relevance,
                descending: true,
            });
        }
        for field in [
            OrderField::Cluster,
            OrderField::Namespace,
            OrderField::Name,
            OrderField::Group,
            OrderField::Version,
            OrderField::Resource,
        ] {
            if !order.iter().any(|o| o.field == field) {
                order.push(OrderBy {
                    field,
                    descending: false,
                });
            }
        }
        order
    }

    /// Whether the effective order is the default key order (cluster, namespace, name, group,
    /// version, resource): no `orderby` and no full-text query (whose relevance comes first).
    pub fn is_key_order(&self) -> bool {
        self.order_by.is_empty() && self.full_text.is_none()
    }
}

/// How expensive a list request is for a storage layer, for admission
/// ([`ListOptions::cost_class`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum CostClass {
    /// Answered from indexed columns: cost bounded by the page.
    Cheap,
    /// Evaluates object fields or substrings on every candidate row before the page is cut.
    Expensive,
}

/// Above this many values in `clusters`, `namespaces` and `names` together, or in the values
/// of all selector requirements together, a request is [`CostClass::Expensive`].
pub const EXPENSIVE_VALUES: usize = 100;
/// Above this `offset`, a request is [`CostClass::Expensive`] (the skipped rows are read).
pub const EXPENSIVE_OFFSET: u64 = 10_000;

impl ListOptions {
    /// The cost class of this request: [`CostClass::Expensive`] when it orders by a field path,
    /// has a field selector on a path other than `metadata.name` and `metadata.namespace`, a
    /// `fuzzyName`, a full-text `query` (every match is ranked before the page is cut), more than [`EXPENSIVE_VALUES`] list or selector values, or an offset above
    /// [`EXPENSIVE_OFFSET`]; else [`CostClass::Cheap`].
    pub fn cost_class(&self) -> CostClass {
        let path_order = self
            .order_by
            .iter()
            .any(|o| matches!(o.field, OrderField::Path(_)));
        let object_fields = self.field_selector.requirements().iter().any(|r| {
            let path = r.path.as_str().trim_start_matches('.');
            !matches!(path, "metadata.name" | "metadata.namespace")
        });
        let list_values = self.clusters.len() + self.namespaces.len() + self.names.len();
        let selector_values: usize = self
            .label_selector
            .requirements()
            .iter()
            .map(|r| r.values.len())
            .chain(
                self.field_selector
                    .requirements()
                    .iter()
                    .map(|r| r.values.len()),
            )
            .sum();
        if path_order
            || object_fields
            || !self.fuzzy_names.is_empty()
            || self.full_text.is_some()
            || list_values > EXPENSIVE_VALUES
            || selector_values > EXPENSIVE_VALUES
            || self.offset > EXPENSIVE_OFFSET
        {
            CostClass::Expensive
        } else {
            CostClass::Cheap
        }
    }
}

/// Select objects by their owner (reference §14.5), at a given seniority.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OwnerQuery {
    /// The owner's uid (wins over `name`).
    pub uid: Option<String>,
    /// The owner's name (any kind, unless `group_resource` pins it).
    pub name: Option<String>,
    /// The owner's group and resource, e.g. `deployments.apps`, used with `name`.
    pub group_resource: Option<GroupResource>,
    /// 0: children of the owner; 1: grandchildren; and so on.
    pub seniority: u32,
}

/// One field of an `orderby`, with its direction.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct OrderBy {
    /// The field.
    pub field: OrderField,
    /// Descending instead of ascending.
    pub descending: bool,
}

impl fmt::Display for OrderBy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.field)?;
        if self.descending {
            f.write_str(" desc")?;
        }
        Ok(())
    }
}

/// A field that can be ordered by. Only these: nothing else from a request reaches a query.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum OrderField {
    /// The member cluster name.
    Cluster,
    /// The namespace (empty sorts first).
    Namespace,
    /// The object name.
    Name,
    /// `metadata.creationTimestamp` (`created_at`).
    CreatedAt,
    /// The member resource version, as a number (`resource_version`); non-numeric ones sort as missing.
    ResourceVersion,
    /// The API group.
    Group,
    /// The API version.
    Version,
    /// The resource.
    Resource,
    /// Any field of the object, by a validated field path without `[]`; compared as text
    /// ([`field_selector::scalar_text`]), missing values sort as lowest.
    Path(FieldPath),
    /// The relevance of an object to the full-text query ([`full_text`]): the layer's own score,
    /// a [`SortValue::Float`]. Not written in `orderby`: it leads the effective order of a
    /// full-text query without `orderby`, descending.
    Relevance,
}

impl OrderField {
    /// The name of a column field as written in `orderby`, or `None` for a path and relevance.
    pub fn column_name(&self) -> Option<&'static str> {
        Some(match self {
            Self::Cluster => "cluster",
            Self::Namespace => "namespace",
            Self::Name => "name",
            Self::CreatedAt => "created_at",
            Self::ResourceVersion => "resource_version",
            Self::Group => "group",
            Self::Version => "version",
            Self::Resource => "resource",
            Self::Path(_) | Self::Relevance => return None,
        })
    }

    /// The column field named `name`, if any.
    pub fn from_column_name(name: &str) -> Option<Self> {
        Some(match name {
            "cluster" => Self::Cluster,
            "namespace" => Self::Namespace,
            "name" => Self::Name,
            "created_at" => Self::CreatedAt,
            "resource_version" => Self::ResourceVersion,
            "group" => Self::Group,
            "version" => Self::Version,
            "resource" => Self::Resource,
            _ => return None,
        })
    }
}

impl fmt::Display for OrderField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Path(path) => write!(f, "{path}"),
            Self::Relevance => f.write_str("relevance"),
            other => f.write_str(other.column_name().unwrap_or_default()),
        }
    }
}

/// The value of one order field for one object: what continue tokens carry and keyset
/// comparisons use. `Null` (missing) is lower than any other value.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(untagged)]
pub enum SortValue {
    /// A missing value.
    Null,
    /// A number (times in milliseconds, resource versions).
    Int(i64),
    /// Text, compared byte-wise.
    Str(String),
    /// A floating-point number (the relevance of a full-text match), carried exactly.
    Float(Float),
}

/// A floating-point sort value with a total order ([`f64::total_cmp`]), carried exactly in
/// continue tokens (as its bits: `{"f": <u64>}`), so a keyset position on a score is exact.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Float {
    #[serde(rename = "f", with = "float_bits")]
    value: f64,
}

impl Float {
    /// The sort value of `value`.
    pub fn new(value: f64) -> Self {
        Self { value }
    }

    /// The number.
    pub fn get(self) -> f64 {
        self.value
    }
}

impl From<f64> for Float {
    fn from(value: f64) -> Self {
        Self::new(value)
    }
}

impl PartialEq for Float {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other).is_eq()
    }
}

impl Eq for Float {}

impl PartialOrd for Float {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Float {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.value.total_cmp(&other.value)
    }
}

impl std::hash::Hash for Float {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.value.to_bits().hash(state);
    }
}

impl fmt::Display for Float {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.value)
    }
}

/// An `f64` as the integer of its bits: JSON numbers round-trip exactly as integers.
mod float_bits {
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(value: &f64, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_u64(value.to_bits())
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<f64, D::Error> {
        u64::deserialize(deserializer).map(f64::from_bits)
    }
}
