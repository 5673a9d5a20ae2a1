//! Server-side `meta.k8s.io` `Table` output (what `kubectl get` prints), with a leading
//! `Cluster` column.
//!
//! No crate has the Table types, so they are written here: [`Column`] is a
//! `TableColumnDefinition`, [`Cell`] a cell, [`TableBuilder`] writes the `Table` JSON with each
//! row's `object` as `PartialObjectMetadata` (the default), the whole object, or nothing
//! (`includeObject`).
//!
//! A [`Printer`] turns one stored object into the cells of one row. The common kinds have the
//! columns kubectl shows for them (those with priority 1 appear with `-o wide`; like the
//! kube-apiserver, the server always sends them and kubectl hides them); every other kind gets
//! `Name` and `Created At` ([`printer_for`]). A printer reads only the fields it shows, from the
//! object's JSON; the age columns come from the indexed creation time.

mod apps;
mod batch;
mod core_v1;
pub(crate) mod format;
mod networking;

use std::sync::LazyLock;

use serde_json::value::RawValue;
use storage_api::{ListPage, ResourceObject};

use crate::error::ApiError;
use crate::list::{metadata_of, push_json_str, push_list_metadata};
use crate::negotiate::{IncludeObject, MetaVersion};

/// A `TableColumnDefinition`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Column {
    /// The header (kubectl upper-cases it).
    pub(crate) name: &'static str,
    /// The OpenAPI type: `string`, `integer`, `boolean`, `date`.
    pub(crate) kind: &'static str,
    /// The OpenAPI format: `name` for the name column, else empty.
    pub(crate) format: &'static str,
    /// What the column shows.
    pub(crate) description: &'static str,
    /// 0: always shown; 1: shown with `-o wide`.
    pub(crate) priority: u8,
}

/// A column shown by default.
pub(crate) const fn column(
    name: &'static str,
    kind: &'static str,
    description: &'static str,
) -> Column {
    Column {
        name,
        kind,
        format: "",
        description,
        priority: 0,
    }
}

/// A column shown with `-o wide` only.
pub(crate) const fn wide(
    name: &'static str,
    kind: &'static str,
    description: &'static str,
) -> Column {
    Column {
        priority: 1,
        ..column(name, kind, description)
    }
}

/// The `Name` column.
pub(crate) const NAME: Column = Column {
    name: "Name",
    kind: "string",
    format: "name",
    description: "Name must be unique within a namespace.",
    priority: 0,
};

/// The `Age` column.
pub(crate) const AGE: Column = column(
    "Age",
    "string",
    "CreationTimestamp is a timestamp representing the server time when this object was created.",
);

/// The leading column of every table of resources: the member cluster of the object.
pub(crate) const CLUSTER: Column = column(
    "Cluster",
    "string",
    "The member cluster the object is synced from.",
);

/// One cell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Cell {
    /// Text.
    Str(String),
    /// A number.
    Int(i64),
    /// A boolean.
    Bool(bool),
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
        }
    }
}

/// The cells of one row, its `conditions` (raw JSON array, or empty), and the object's
/// `metadata` when the printer read it in the same pass (else it is read again for the row's
/// `PartialObjectMetadata`).
#[derive(Debug, Clone, Default)]
pub(crate) struct Row {
    /// The cells, one per column of the printer.
    pub(crate) cells: Vec<Cell>,
    /// The row's `conditions` as a JSON array, or `""` for none.
    pub(crate) conditions: &'static str,
    /// The object's `metadata` as raw JSON, if the printer kept it.
    pub(crate) metadata: Option<Box<RawValue>>,
}

impl Row {
    /// A row of `cells` without conditions.
    pub(crate) fn new(cells: Vec<Cell>) -> Self {
        Self {
            cells,
            conditions: "",
            metadata: None,
        }
    }

    /// A row of `cells` with the object's `metadata`.
    pub(crate) fn with(metadata: Option<Box<RawValue>>, cells: Vec<Cell>) -> Self {
        Self {
            metadata,
            ..Self::new(cells)
        }
    }
}

/// What a printer knows besides the object.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Context {
    /// Now, in milliseconds since the epoch (ages are relative to it).
    pub(crate) now: i64,
}

impl Context {
    /// The context of a request served now.
    pub(crate) fn now() -> Self {
        Self {
            now: jiff::Timestamp::now().as_millisecond(),
        }
    }
}

/// The columns of a kind and how to fill them from one object.
#[derive(Debug)]
pub(crate) struct Printer {
    /// The columns, without the leading cluster column.
    pub(crate) columns: &'static [Column],
    /// The cells of one object.
    pub(crate) print: fn(&ResourceObject, &Context) -> Result<Row, serde_json::Error>,
}

/// The printer of `group`/`resource` (any version), or the default `Name`/`Created At` one.
pub(crate) fn printer_for(group: &str, resource: &str) -> &'static Printer {
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

/// `Name` and `Created At`, for kinds without a printer (custom resources, rare kinds).
pub(crate) static DEFAULT: Printer = Printer {
    columns: &[
        NAME,
        column(
            "Created At",
            "date",
            "CreationTimestamp is a timestamp representing the server time when this object was created.",
        ),
    ],
    print: |object, _| {
        Ok(Row::new(vec![
            object.fields.name.as_str().into(),
            object
                .fields
                .creation_timestamp
                .map(storage_api::object::format_rfc3339)
                .unwrap_or_default()
                .into(),
        ]))
    },
};

/// What a table row carries as `object`.
#[derive(Debug, Clone, Copy)]
pub(crate) enum RowObject<'a> {
    /// `null`.
    None,
    /// `PartialObjectMetadata` with this metadata.
    Metadata(&'a RawValue),
    /// This JSON as is.
    Raw(&'a [u8]),
}

/// Writes a `Table` incrementally: the header at creation, then rows, then [`finish`](Self::finish).
#[derive(Debug)]
pub(crate) struct TableBuilder {
    out: Vec<u8>,
    version: MetaVersion,
    rows: usize,
}

impl TableBuilder {
    /// A table with this list metadata and these columns (none: a table without
    /// `columnDefinitions`, as the events of a watch after the first).
    pub(crate) fn new<'c>(
        version: MetaVersion,
        page: &ListPage,
        columns: impl IntoIterator<Item = &'c Column>,
        capacity: usize,
    ) -> Self {
        let mut out = Vec::with_capacity(capacity + 1024);
        out.extend_from_slice(b"{\"kind\":\"Table\",\"apiVersion\":\"");
        out.extend_from_slice(version.api_version().as_bytes());
        out.extend_from_slice(b"\",\"metadata\":");
        push_list_metadata(&mut out, page);
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
            version,
            rows: 0,
        }
    }

    /// Appends a row.
    pub(crate) fn row(&mut self, cells: &[Cell], conditions: &str, object: RowObject<'_>) {
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
            RowObject::Metadata(metadata) => {
                out.extend_from_slice(b"{\"kind\":\"PartialObjectMetadata\",\"apiVersion\":\"");
                out.extend_from_slice(self.version.api_version().as_bytes());
                out.extend_from_slice(b"\",\"metadata\":");
                out.extend_from_slice(metadata.get().as_bytes());
                out.push(b'}');
            }
        }
        out.push(b'}');
    }

    /// The table's JSON.
    pub(crate) fn finish(mut self) -> Vec<u8> {
        self.out.extend_from_slice(b"]}");
        self.out
    }
}

/// Renders stored objects of one resource as a `Table` with the leading cluster column.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ResourceTable {
    /// The printer of the resource.
    pub(crate) printer: &'static Printer,
    /// The `meta.k8s.io` version asked for.
    pub(crate) version: MetaVersion,
    /// What rows carry as `object`.
    pub(crate) include: IncludeObject,
}

impl ResourceTable {
    /// The table of a page (`headers`: with `columnDefinitions`).
    pub(crate) fn render(&self, page: &ListPage, headers: bool) -> Result<Vec<u8>, ApiError> {
        let context = Context::now();
        let capacity = page.items.len()
            * match self.include {
                IncludeObject::Object => 4096,
                _ => 1024,
            };
        let columns: &[Column] = if headers { self.printer.columns } else { &[] };
        let cluster: &[Column] = if headers { &[CLUSTER] } else { &[] };
        let mut table =
            TableBuilder::new(self.version, page, cluster.iter().chain(columns), capacity);
        let mut cells = Vec::with_capacity(self.printer.columns.len() + 1);
        for object in &page.items {
            let row = (self.printer.print)(object, &context).map_err(|e| {
                ApiError::internal(format!(
                    "cannot print stored object {}: {e}",
                    object.fields.key()
                ))
            })?;
            cells.clear();
            cells.push(Cell::Str(object.fields.cluster.to_string()));
            cells.extend(row.cells);
            let row_object = match (self.include, &row.metadata) {
                (IncludeObject::None, _) => RowObject::None,
                (IncludeObject::Object, _) => RowObject::Raw(&object.raw),
                (IncludeObject::Metadata, Some(metadata)) => RowObject::Metadata(metadata),
                (IncludeObject::Metadata, None) => RowObject::Metadata(metadata_of(object)?),
            };
            table.row(&cells, row.conditions, row_object);
        }
        Ok(table.finish())
    }
}

/// Parses the JSON of an object into the printer's view of it.
pub(crate) fn parse<'a, T: serde::Deserialize<'a>>(
    object: &'a ResourceObject,
) -> Result<T, serde_json::Error> {
    serde_json::from_slice(&object.raw)
}

#[cfg(test)]
pub(crate) mod tests {
    use std::sync::Arc;

    use bytes::Bytes;
    use storage_api::Gvr;

    use super::*;

    /// A stored object of `group/version/resource` in cluster `c1` from its JSON.
    pub(crate) fn object(gvr: (&str, &str, &str), json: serde_json::Value) -> ResourceObject {
        ResourceObject::parse(
            Arc::from("c1"),
            Arc::new(Gvr::new(gvr.0, gvr.1, gvr.2)),
            Bytes::from(serde_json::to_vec(&json).expect("json")),
        )
        .expect("object")
    }

    /// The cells the printer of `gvr` gives `json`, at 2024-03-01T10:00:00Z.
    pub(crate) fn cells(gvr: (&str, &str, &str), json: serde_json::Value) -> Vec<Cell> {
        let object = object(gvr, json);
        let printer = printer_for(gvr.0, gvr.2);
        let row = (printer.print)(
            &object,
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
    }

    #[test]
    fn table_json_has_cluster_column_rows_and_partial_objects() {
        let page = ListPage {
            items: vec![object(
                ("", "v1", "configmaps"),
                serde_json::json!({"kind": "ConfigMap", "apiVersion": "v1", "metadata": {"name": "cm", "namespace": "ns", "creationTimestamp": "2024-03-01T08:00:00Z"}, "data": {"a": "1", "b": "2"}}),
            )],
            continue_token: Some("next".into()),
            ..ListPage::default()
        };
        let table = ResourceTable {
            printer: printer_for("", "configmaps"),
            version: MetaVersion::V1,
            include: IncludeObject::Metadata,
        };
        let json: serde_json::Value =
            serde_json::from_slice(&table.render(&page, true).expect("table")).expect("json");
        assert_eq!(json["kind"], "Table");
        assert_eq!(json["apiVersion"], "meta.k8s.io/v1");
        assert_eq!(json["metadata"]["continue"], "next");
        let names: Vec<&str> = json["columnDefinitions"]
            .as_array()
            .expect("columns")
            .iter()
            .filter_map(|c| c["name"].as_str())
            .collect();
        assert_eq!(names, ["Cluster", "Name", "Data", "Age"]);
        assert_eq!(json["rows"][0]["cells"][0], "c1");
        assert_eq!(json["rows"][0]["cells"][1], "cm");
        assert_eq!(json["rows"][0]["cells"][2], 2);
        assert_eq!(json["rows"][0]["object"]["kind"], "PartialObjectMetadata");
        assert_eq!(json["rows"][0]["object"]["metadata"]["namespace"], "ns");

        let bare = ResourceTable {
            include: IncludeObject::None,
            ..table
        };
        let json: serde_json::Value =
            serde_json::from_slice(&bare.render(&page, false).expect("table")).expect("json");
        assert_eq!(json["columnDefinitions"], serde_json::json!([]));
        assert_eq!(json["rows"][0]["object"], serde_json::Value::Null);
    }
}
