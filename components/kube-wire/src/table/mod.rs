//! Server-side `meta.k8s.io` `Table` output (what `kubectl get` prints).
//!
//! No crate has the Table types, so they are written here: [`Column`] is a
//! `TableColumnDefinition`, [`Cell`] a cell, [`TableBuilder`] writes the `Table` JSON with each
//! row's `object` as `PartialObjectMetadata`, the whole object, or nothing (`includeObject`).
//!
//! A [`Printer`] turns one object ([`Printable`]) into the cells of one row. The common kinds
//! have the columns kubectl shows for them, ported from the kube-apiserver's printers (those
//! with priority 1 appear with `-o wide`; like the kube-apiserver, a server always sends them
//! and kubectl hides them); every other kind gets `Name` and `Created At` ([`printer_for`]). A
//! printer reads only the fields it shows, from the object's JSON; the age columns come from
//! the creation time the caller already knows.
//!
//! The clusterpedia apiserver puts a `Cluster` column in front of these; the kube API simulator
//! prints them as they are, so one object prints the same row from both.

mod apps;
mod batch;
mod core_v1;
pub mod format;
mod networking;

use std::sync::LazyLock;

use serde::Deserialize;
use serde_json::value::RawValue;

/// A `TableColumnDefinition` (the printers' columns are `Column<'static>`; a custom resource's
/// `additionalPrinterColumns` borrow from its definition).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Column<'a> {
    /// The header (kubectl upper-cases it).
    pub name: &'a str,
    /// The OpenAPI type: `string`, `integer`, `number`, `boolean`, `date`.
    pub kind: &'a str,
    /// The OpenAPI format: `name` for the name column, else usually empty.
    pub format: &'a str,
    /// What the column shows.
    pub description: &'a str,
    /// 0: always shown; 1 (and more): shown with `-o wide`.
    pub priority: u32,
}

/// A column shown by default.
pub const fn column<'a>(name: &'a str, kind: &'a str, description: &'a str) -> Column<'a> {
    Column {
        name,
        kind,
        format: "",
        description,
        priority: 0,
    }
}

/// A column shown with `-o wide` only.
pub const fn wide<'a>(name: &'a str, kind: &'a str, description: &'a str) -> Column<'a> {
    Column {
        priority: 1,
        ..column(name, kind, description)
    }
}

/// The `Name` column.
pub const NAME: Column<'static> = Column {
    name: "Name",
    kind: "string",
    format: "name",
    description: "Name must be unique within a namespace.",
    priority: 0,
};

/// The `Age` column.
pub const AGE: Column<'static> = column(
    "Age",
    "string",
    "CreationTimestamp is a timestamp representing the server time when this object was created.",
);

/// The `Created At` column of kinds without a printer.
pub const CREATED_AT: Column<'static> = column(
    "Created At",
    "date",
    "CreationTimestamp is a timestamp representing the server time when this object was created.",
);

/// One cell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cell {
    /// Text.
    Str(String),
    /// A number.
    Int(i64),
    /// A boolean.
    Bool(bool),
    /// Any other JSON value (`null`, a float, a list: what a custom resource's printer column
    /// finds at its JSONPath).
    Json(serde_json::Value),
}

impl From<String> for Cell {
    fn from(value: String) -> Self {
        Self::Str(value)
    }
}

impl From<&str> for Cell {
    fn from(value: &str) -> Self {
        Self::Str(value.to_owned())
    }
}

impl From<i64> for Cell {
    fn from(value: i64) -> Self {
        Self::Int(value)
    }
}

impl From<bool> for Cell {
    fn from(value: bool) -> Self {
        Self::Bool(value)
    }
}

impl Cell {
    fn write(&self, out: &mut Vec<u8>) {
        match self {
            Self::Str(text) => push_json_str(out, text),
            Self::Int(n) => out.extend_from_slice(n.to_string().as_bytes()),
            Self::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
            // Writing a Value into a Vec cannot fail.
            Self::Json(value) => {
                let _ = serde_json::to_writer(&mut *out, value);
            }
        }
    }
}

/// Appends `value` as a JSON string.
pub fn push_json_str(out: &mut Vec<u8>, value: &str) {
    // Writing a &str into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, value);
}

/// The cells of one row, its `conditions` (raw JSON array, or empty), and the object's
/// `metadata` when the printer read it in the same pass (else the caller reads it again for
/// the row's `PartialObjectMetadata`).
#[derive(Debug, Clone, Default)]
pub struct Row {
    /// The cells, one per column of the printer.
    pub cells: Vec<Cell>,
    /// The row's `conditions` as a JSON array, or `""` for none.
    pub conditions: &'static str,
    /// The object's `metadata` as raw JSON, if the printer kept it.
    pub metadata: Option<Box<RawValue>>,
}

impl Row {
    /// A row of `cells` without conditions.
    pub fn new(cells: Vec<Cell>) -> Self {
        Self {
            cells,
            conditions: "",
            metadata: None,
        }
    }

    /// A row of `cells` with the object's `metadata`.
    pub fn with(metadata: Option<Box<RawValue>>, cells: Vec<Cell>) -> Self {
        Self {
            metadata,
            ..Self::new(cells)
        }
    }
}

/// What a printer knows besides the object.
#[derive(Debug, Clone, Copy)]
pub struct Context {
    /// Now, in milliseconds since the epoch (ages are relative to it).
    pub now: i64,
}

impl Context {
    /// The context of a request served now.
    pub fn now() -> Self {
        Self {
            now: crate::time::now_millis(),
        }
    }
}

/// One object to print: its JSON, and the metadata every printer reads (a server has them at
/// hand already: the apiserver indexes them, see [`PrintableMeta::read`] otherwise).
#[derive(Debug, Clone, Copy)]
pub struct Printable<'a> {
    /// The object's JSON.
    pub raw: &'a [u8],
    /// `metadata.name`.
    pub name: &'a str,
    /// `metadata.creationTimestamp`, in milliseconds since the epoch.
    pub creation_timestamp: Option<i64>,
    /// `metadata.deletionTimestamp`, in milliseconds since the epoch.
    pub deletion_timestamp: Option<i64>,
}

/// The metadata a [`Printable`] carries, as read from an object's JSON.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PrintableMeta {
    /// `metadata.name`.
    pub name: String,
    /// `metadata.creationTimestamp`, in milliseconds since the epoch.
    pub creation_timestamp: Option<i64>,
    /// `metadata.deletionTimestamp`, in milliseconds since the epoch.
    pub deletion_timestamp: Option<i64>,
}

impl PrintableMeta {
    /// Reads the name and times of an object's JSON (an unreadable time counts as absent).
    pub fn read(raw: &[u8]) -> Result<Self, serde_json::Error> {
        #[derive(Deserialize, Default)]
        #[serde(default, rename_all = "camelCase")]
        struct Meta<'a> {
            #[serde(borrow)]
            name: Option<std::borrow::Cow<'a, str>>,
            #[serde(borrow)]
            creation_timestamp: Option<std::borrow::Cow<'a, str>>,
            #[serde(borrow)]
            deletion_timestamp: Option<std::borrow::Cow<'a, str>>,
        }
        #[derive(Deserialize)]
        struct Object<'a> {
            #[serde(borrow, default)]
            metadata: Option<Meta<'a>>,
        }
        let meta = serde_json::from_slice::<Object<'_>>(raw)?
            .metadata
            .unwrap_or_default();
        let time = |t: Option<std::borrow::Cow<'_, str>>| {
            t.and_then(|t| crate::time::parse_rfc3339_millis(&t))
        };
        Ok(Self {
            name: meta.name.map(|n| n.into_owned()).unwrap_or_default(),
            creation_timestamp: time(meta.creation_timestamp),
            deletion_timestamp: time(meta.deletion_timestamp),
        })
    }

    /// The printable object of `raw` with this metadata.
    pub fn printable<'a>(&'a self, raw: &'a [u8]) -> Printable<'a> {
        Printable {
            raw,
            name: &self.name,
            creation_timestamp: self.creation_timestamp,
            deletion_timestamp: self.deletion_timestamp,
        }
    }
}

/// The columns of a kind and how to fill them from one object.
#[derive(Debug)]
pub struct Printer {
    /// The columns.
    pub columns: &'static [Column<'static>],
    /// The cells of one object.
    pub print: fn(&Printable<'_>, &Context) -> Result<Row, serde_json::Error>,
}

/// The printer of `group`/`resource` (any version), or the default `Name`/`Created At` one.
pub fn printer_for(group: &str, resource: &str) -> &'static Printer {
    static PRINTERS: LazyLock<Vec<(&'static str, &'static str, &'static Printer)>> =
        LazyLock::new(|| {
            let mut all = Vec::new();
            all.extend_from_slice(core_v1::PRINTERS);
            all.extend_from_slice(apps::PRINTERS);
            all.extend_from_slice(batch::PRINTERS);
            all.extend_from_slice(networking::PRINTERS);
            all
        });
    PRINTERS
        .iter()
        .find(|(g, r, _)| *g == group && *r == resource)
        .map_or(&DEFAULT, |(_, _, printer)| printer)
}

/// Whether `group`/`resource` has a printer of its own (else [`printer_for`] gives
/// [`DEFAULT`]).
pub fn has_printer(group: &str, resource: &str) -> bool {
    !std::ptr::eq(printer_for(group, resource), &DEFAULT)
}

/// `Name` and `Created At`, for kinds without a printer (custom resources, rare kinds).
pub static DEFAULT: Printer = Printer {
    columns: &[NAME, CREATED_AT],
    print: |object, _| {
        Ok(Row::new(vec![
            object.name.into(),
            object
                .creation_timestamp
                .map(crate::time::format_rfc3339)
                .unwrap_or_default()
                .into(),
        ]))
    },
};

/// What a table row carries as `object`.
#[derive(Debug, Clone, Copy)]
pub enum RowObject<'a> {
    /// `null`.
    None,
    /// `PartialObjectMetadata` with this metadata.
    Metadata(&'a RawValue),
    /// This JSON as is.
    Raw(&'a [u8]),
}

/// The `metadata` of a list or table: `resourceVersion`, `continue`, `remainingItemCount`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ListMeta<'a> {
    /// `resourceVersion`.
    pub resource_version: Option<&'a str>,
    /// `continue`.
    pub continue_token: Option<&'a str>,
    /// `remainingItemCount`.
    pub remaining_item_count: Option<u64>,
}

impl ListMeta<'_> {
    /// Appends the metadata object (members that are absent are left out).
    pub fn write(&self, out: &mut Vec<u8>) {
        out.push(b'{');
        let mut first = true;
        let mut field = |out: &mut Vec<u8>, name: &str| {
            if !first {
                out.push(b',');
            }
            first = false;
            out.push(b'"');
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(b"\":");
        };
        if let Some(rv) = self.resource_version {
            field(out, "resourceVersion");
            push_json_str(out, rv);
        }
        if let Some(token) = self.continue_token {
            field(out, "continue");
            push_json_str(out, token);
        }
        if let Some(remaining) = self.remaining_item_count {
            field(out, "remainingItemCount");
            out.extend_from_slice(remaining.to_string().as_bytes());
        }
        out.push(b'}');
    }
}

/// Writes a `Table` incrementally: the header at creation, then rows, then [`finish`](Self::finish).
#[derive(Debug)]
pub struct TableBuilder<'v> {
    out: Vec<u8>,
    api_version: &'v str,
    rows: usize,
}

impl<'v> TableBuilder<'v> {
    /// A table of `api_version` (`meta.k8s.io/v1` or `meta.k8s.io/v1beta1`) with this list
    /// metadata and these columns (none: a table without `columnDefinitions`, as the events of a
    /// watch after the first).
    pub fn new<'c, 'd: 'c>(
        api_version: &'v str,
        metadata: &ListMeta<'_>,
        columns: impl IntoIterator<Item = &'c Column<'d>>,
        capacity: usize,
    ) -> Self {
        let mut out = Vec::with_capacity(capacity + 1024);
        out.extend_from_slice(b"{\"kind\":\"Table\",\"apiVersion\":\"");
        out.extend_from_slice(api_version.as_bytes());
        out.extend_from_slice(b"\",\"metadata\":");
        metadata.write(&mut out);
        out.extend_from_slice(b",\"columnDefinitions\":[");
        for (i, column) in columns.into_iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.extend_from_slice(b"{\"name\":");
            push_json_str(&mut out, column.name);
            out.extend_from_slice(b",\"type\":");
            push_json_str(&mut out, column.kind);
            out.extend_from_slice(b",\"format\":");
            push_json_str(&mut out, column.format);
            out.extend_from_slice(b",\"description\":");
            push_json_str(&mut out, column.description);
            out.extend_from_slice(b",\"priority\":");
            out.extend_from_slice(column.priority.to_string().as_bytes());
            out.push(b'}');
        }
        out.extend_from_slice(b"],\"rows\":[");
        Self {
            out,
            api_version,
            rows: 0,
        }
    }

    /// Appends a row.
    pub fn row(&mut self, cells: &[Cell], conditions: &str, object: RowObject<'_>) {
        let out = &mut self.out;
        if self.rows > 0 {
            out.push(b',');
        }
        self.rows += 1;
        out.extend_from_slice(b"{\"cells\":[");
        for (i, cell) in cells.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            cell.write(out);
        }
        out.push(b']');
        if !conditions.is_empty() {
            out.extend_from_slice(b",\"conditions\":");
            out.extend_from_slice(conditions.as_bytes());
        }
        out.extend_from_slice(b",\"object\":");
        match object {
            RowObject::None => out.extend_from_slice(b"null"),
            RowObject::Raw(raw) => out.extend_from_slice(raw),
            RowObject::Metadata(metadata) => push_partial_object(out, self.api_version, metadata),
        }
        out.push(b'}');
    }

    /// The table's JSON.
    pub fn finish(mut self) -> Vec<u8> {
        self.out.extend_from_slice(b"]}");
        self.out
    }
}

/// Appends `{"kind":"PartialObjectMetadata","apiVersion":"<api_version>","metadata":<raw>}`.
pub fn push_partial_object(out: &mut Vec<u8>, api_version: &str, metadata: &RawValue) {
    out.extend_from_slice(b"{\"kind\":\"PartialObjectMetadata\",\"apiVersion\":\"");
    out.extend_from_slice(api_version.as_bytes());
    out.extend_from_slice(b"\",\"metadata\":");
    out.extend_from_slice(metadata.get().as_bytes());
    out.push(b'}');
}

/// The `metadata` member of an object's JSON, as its raw text (`None`: the object has none).
pub fn metadata_of(raw: &[u8]) -> Result<Option<&RawValue>, serde_json::Error> {
    #[derive(Deserialize)]
    struct Metadata<'a> {
        #[serde(borrow)]
        metadata: Option<&'a RawValue>,
    }
    serde_json::from_slice::<Metadata<'_>>(raw).map(|m| m.metadata)
}

/// Parses the JSON of an object into the printer's view of it.
pub fn parse<'a, T: Deserialize<'a>>(object: &Printable<'a>) -> Result<T, serde_json::Error> {
    serde_json::from_slice(object.raw)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// The cells the printer of `group/version/resource` gives `json`, at 2024-03-01T10:00:00Z.
    pub(crate) fn cells(gvr: (&str, &str, &str), json: serde_json::Value) -> Vec<Cell> {
        let raw = serde_json::to_vec(&json).expect("json");
        let meta = PrintableMeta::read(&raw).expect("metadata");
        let printer = printer_for(gvr.0, gvr.2);
        let row = (printer.print)(
            &meta.printable(&raw),
            &Context {
                now: 1_709_287_200_000,
            },
        )
        .expect("print");
        assert_eq!(
            row.cells.len(),
            printer.columns.len(),
            "one cell per column"
        );
        row.cells
    }

    /// Text cells.
    pub(crate) fn s(text: &str) -> Cell {
        Cell::Str(text.into())
    }

    #[test]
    fn default_printer_shows_name_and_creation_time() {
        let cells = cells(
            ("example.io", "v1", "widgets"),
            serde_json::json!({"kind": "Widget", "metadata": {"name": "w", "creationTimestamp": "2024-03-01T08:00:00Z"}}),
        );
        assert_eq!(cells, [s("w"), s("2024-03-01T08:00:00Z")]);
        assert!(!has_printer("example.io", "widgets"));
        assert!(has_printer("", "pods"));
    }

    #[test]
    fn printable_metadata_is_read_from_the_json() {
        let meta = PrintableMeta::read(
            br#"{"metadata":{"name":"p","creationTimestamp":"2024-03-01T08:00:00Z","deletionTimestamp":"bad"}}"#,
        )
        .expect("metadata");
        assert_eq!(
            meta,
            PrintableMeta {
                name: "p".into(),
                creation_timestamp: Some(1_709_280_000_000),
                deletion_timestamp: None,
            }
        );
        assert_eq!(
            PrintableMeta::read(b"{}").expect("empty"),
            PrintableMeta::default()
        );
    }

    #[test]
    fn table_json_has_columns_rows_and_partial_objects() {
        let mut table = TableBuilder::new(
            "meta.k8s.io/v1",
            &ListMeta {
                resource_version: Some("7"),
                continue_token: Some("next"),
                remaining_item_count: None,
            },
            &[NAME, column("Data", "integer", "d")],
            0,
        );
        let metadata = RawValue::from_string(r#"{"name":"cm"}"#.into()).expect("raw");
        table.row(&[s("cm"), Cell::Int(2)], "", RowObject::Metadata(&metadata));
        table.row(
            &[s("x"), Cell::Json(serde_json::Value::Null)],
            r#"[{"type":"Completed"}]"#,
            RowObject::None,
        );
        assert_eq!(
            String::from_utf8(table.finish()).expect("utf-8"),
            concat!(
                r#"{"kind":"Table","apiVersion":"meta.k8s.io/v1","metadata":{"resourceVersion":"7","continue":"next"},"#,
                r#""columnDefinitions":[{"name":"Name","type":"string","format":"name","description":"Name must be unique within a namespace.","priority":0},"#,
                r#"{"name":"Data","type":"integer","format":"","description":"d","priority":0}],"#,
                r#""rows":[{"cells":["cm",2],"object":{"kind":"PartialObjectMetadata","apiVersion":"meta.k8s.io/v1","metadata":{"name":"cm"}}},"#,
                r#"{"cells":["x",null],"conditions":[{"type":"Completed"}],"object":null}]}"#
            )
        );
    }
}
