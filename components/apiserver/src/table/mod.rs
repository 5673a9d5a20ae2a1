//! Server-side `meta.k8s.io` `Table` output (what `kubectl get` prints): the kubectl-faithful
//! printers of `kube-wire`, with a leading `Cluster` column.
//!
//! The Table types, the printers and the JSON writer are `kube_wire::table` (the kube API
//! simulator prints with the same ones, so an object prints the same row from its member
//! cluster and from clusterpedia); this module adds the `Cluster` column, the list metadata of
//! a storage page and the choice of each row's `object` (`includeObject`).

use storage_api::{ListPage, ResourceObject};

pub(crate) use kube_wire::table::{
    AGE, Cell, Column, Context, NAME, Printer, RowObject, TableBuilder, column, format, printer_for,
};

use crate::error::ApiError;
use crate::list::{list_meta, metadata_of};
use crate::negotiate::{IncludeObject, MetaVersion};

/// The leading column of every table of resources: the member cluster of the object.
pub(crate) const CLUSTER: Column<'static> = column(
    "Cluster",
    "string",
    "The member cluster the object is synced from.",
);

/// A table of `version` with the list metadata of `page` and these columns (none: a table
/// without `columnDefinitions`, as the events of a watch after the first).
pub(crate) fn builder<'c, 'd: 'c>(
    version: MetaVersion,
    page: &ListPage,
    columns: impl IntoIterator<Item = &'c Column<'d>>,
    capacity: usize,
) -> TableBuilder<'static> {
    TableBuilder::new(version.api_version(), &list_meta(page), columns, capacity)
}

/// The printer's view of a stored object: its JSON and its indexed metadata.
pub(crate) fn printable(object: &ResourceObject) -> kube_wire::table::Printable<'_> {
    kube_wire::table::Printable {
        raw: &object.raw,
        name: &object.fields.name,
        creation_timestamp: object.fields.creation_timestamp,
        deletion_timestamp: object.fields.deletion_timestamp,
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
        let mut table = builder(self.version, page, cluster.iter().chain(columns), capacity);
        let mut cells = Vec::with_capacity(self.printer.columns.len() + 1);
        for object in &page.items {
            let row = (self.printer.print)(&printable(object), &context).map_err(|e| {
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

    #[test]
    fn default_printer_shows_name_and_creation_time() {
        let object = object(
            ("example.io", "v1", "widgets"),
            serde_json::json!({"kind": "Widget", "metadata": {"name": "w", "creationTimestamp": "2024-03-01T08:00:00Z"}}),
        );
        let row = (printer_for("example.io", "widgets").print)(
            &printable(&object),
            &Context {
                now: 1_709_287_200_000,
            },
        )
        .expect("print");
        assert_eq!(
            row.cells,
            [
                Cell::Str("w".into()),
                Cell::Str("2024-03-01T08:00:00Z".into())
            ]
        );
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
