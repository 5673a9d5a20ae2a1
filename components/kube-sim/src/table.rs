//! Server-side tables (`Accept: application/json;as=Table;v=v1;g=meta.k8s.io`), as `kubectl get`
//! asks for: the columns and kubectl-faithful printers of `kube_wire::table` for built-in kinds
//! (the very printers of the clusterpedia apiserver, so an object prints the same row from the
//! simulator and from clusterpedia), the `additionalPrinterColumns` of custom resources.

use kube_wire::table::{
    Cell, Column, Context, ListMeta, NAME, PrintableMeta, RowObject, TableBuilder, metadata_of,
    printer_for,
};
use serde_json::Value;
use serde_json::value::RawValue;

use crate::api::Target;
use crate::error::{ApiError, ApiResult};
use crate::resources::PrinterColumn;

/// The `apiVersion` of the tables.
const TABLE_API_VERSION: &str = "meta.k8s.io/v1";

/// What the rows of a table carry as `object` (`includeObject`): nothing, the object, or its
/// metadata as `PartialObjectMetadata` (as the printer kept it, or read from `raw`; `read` holds
/// an empty one for an object without metadata).
fn row_object<'a>(
    include_object: &str,
    raw: &'a [u8],
    printed: Option<&'a RawValue>,
    read: &'a mut Option<Box<RawValue>>,
) -> ApiResult<RowObject<'a>> {
    Ok(match include_object {
        "None" => RowObject::None,
        "Object" => RowObject::Raw(raw),
        _ => match printed {
            Some(metadata) => RowObject::Metadata(metadata),
            None => match metadata_of(raw).map_err(internal)? {
                Some(metadata) => RowObject::Metadata(metadata),
                None => RowObject::Metadata(
                    read.insert(RawValue::from_string("{}".into()).map_err(internal)?),
                ),
            },
        },
    })
}

fn internal(error: serde_json::Error) -> ApiError {
    ApiError::internal(format!("cannot print a stored object: {error}"))
}

/// A `meta.k8s.io/v1` `Table` of `objects` (their JSON) with the list `metadata`.
pub(crate) fn table<'o>(
    target: &Target,
    objects: impl IntoIterator<Item = &'o [u8]>,
    metadata: &ListMeta<'_>,
    include_object: &str,
) -> ApiResult<Vec<u8>> {
    if target.def.builtin.is_none() {
        return custom_table(target, objects, metadata, include_object);
    }
    let context = Context::now();
    let printer = printer_for(&target.def.group, &target.def.plural);
    let mut table = TableBuilder::new(TABLE_API_VERSION, metadata, printer.columns, 0);
    for raw in objects {
        let meta = PrintableMeta::read(raw).map_err(internal)?;
        let row = (printer.print)(&meta.printable(raw), &context).map_err(internal)?;
        let mut read = None;
        let object = row_object(include_object, raw, row.metadata.as_deref(), &mut read)?;
        table.row(&row.cells, row.conditions, object);
    }
    Ok(table.finish())
}

/// The table of a custom resource: `Name`, then its `additionalPrinterColumns` (or `Age`).
fn custom_table<'o>(
    target: &Target,
    objects: impl IntoIterator<Item = &'o [u8]>,
    metadata: &ListMeta<'_>,
    include_object: &str,
) -> ApiResult<Vec<u8>> {
    let defined: Vec<PrinterColumn> = target
        .def
        .version(&target.version)
        .map(|v| v.columns.clone())
        .unwrap_or_default();
    let printer_columns: Vec<PrinterColumn> = if defined.is_empty() {
        vec![PrinterColumn {
            name: "Age".into(),
            type_: "date".into(),
            format: String::new(),
            description: String::new(),
            priority: 0,
            json_path: ".metadata.creationTimestamp".into(),
        }]
    } else {
        defined
    };
    let mut columns = vec![NAME];
    columns.extend(printer_columns.iter().map(|c| Column {
        name: &c.name,
        kind: &c.type_,
        format: &c.format,
        description: &c.description,
        priority: u32::try_from(c.priority).unwrap_or_default(),
    }));
    let now = kube_wire::time::now_millis();
    let mut table = TableBuilder::new(TABLE_API_VERSION, metadata, &columns, 0);
    for raw in objects {
        let object: Value = serde_json::from_slice(raw).map_err(internal)?;
        let name = object
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let mut cells = vec![Cell::Str(name.to_owned())];
        for c in &printer_columns {
            cells.push(match (c.type_.as_str(), json_path(&object, &c.json_path)) {
                ("date", Some(Value::String(t))) => Cell::Str(
                    kube_wire::time::parse_rfc3339_millis(&t)
                        .map_or(t, |t| kube_wire::human_duration(now - t)),
                ),
                (_, Some(v)) => Cell::Json(v),
                (_, None) => Cell::Json(Value::Null),
            });
        }
        let mut read = None;
        let row_object = row_object(include_object, raw, None, &mut read)?;
        table.row(&cells, "", row_object);
    }
    Ok(table.finish())
}

/// Evaluates the JSONPath subset of printer columns: `.a.b`, `.a[0].b` and
/// `.a[?(@.f=='v')].b`.
pub(crate) fn json_path(object: &Value, path: &str) -> Option<Value> {
    let mut current = vec![object.clone()];
    let mut rest = path
        .trim_start_matches('{')
        .trim_end_matches('}')
        .trim_start_matches('.');
    while !rest.is_empty() {
        if let Some(stripped) = rest.strip_prefix('[') {
            let end = stripped.find(']')?;
            let inside = &stripped[..end];
            rest = stripped[end + 1..].trim_start_matches('.');
            let mut next = Vec::new();
            for value in &current {
                let items = value.as_array()?;
                if let Some(filter) = inside
                    .strip_prefix("?(@.")
                    .and_then(|f| f.strip_suffix(')'))
                {
                    let (field, wanted) = filter.split_once("==")?;
                    let field = field.trim();
                    let wanted = wanted.trim().trim_matches(|c| c == '\'' || c == '"');
                    next.extend(
                        items
                            .iter()
                            .filter(|i| i.get(field).and_then(Value::as_str) == Some(wanted))
                            .cloned(),
                    );
                } else if inside == "*" {
                    next.extend(items.iter().cloned());
                } else {
                    next.extend(items.get(inside.parse::<usize>().ok()?).cloned());
                }
            }
            current = next;
        } else {
            let end = rest.find(['.', '[']).unwrap_or(rest.len());
            let field = &rest[..end];
            rest = rest[end..].trim_start_matches('.');
            current = current
                .iter()
                .filter_map(|v| v.get(field).cloned())
                .collect();
        }
    }
    match current.len() {
        0 => None,
        1 => current.pop(),
        _ => Some(Value::String(
            current
                .iter()
                .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned))
                .collect::<Vec<_>>()
                .join(","),
        )),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn json_paths() {
        let object = json!({"status": {"conditions": [
            {"type": "Validated", "status": "True"},
            {"type": "Ready", "status": "False"},
        ], "version": "v1.36.0"}});
        assert_eq!(
            json_path(&object, ".status.version"),
            Some(json!("v1.36.0"))
        );
        assert_eq!(
            json_path(&object, ".status.conditions[?(@.type=='Ready')].status"),
            Some(json!("False"))
        );
        assert_eq!(
            json_path(&object, ".status.conditions[0].type"),
            Some(json!("Validated"))
        );
        assert_eq!(json_path(&object, ".spec.x"), None);
    }
}
