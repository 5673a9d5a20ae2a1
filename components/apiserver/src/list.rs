//! Response bodies built by splicing each stored object's JSON bytes into the envelope: a kube
//! list (`{"kind":"PodList",...,"items":[<raw>,<raw>]}`), a `PartialObjectMetadataList`, a
//! `PartialObjectMetadata`. Items are never parsed and re-serialized, except that metadata-only
//! answers cut the `metadata` member out of each object.

use kube_wire::table::ListMeta;
use serde::Deserialize;
use serde_json::value::RawValue;
use storage_api::{ListPage, ResourceObject};

use crate::error::ApiError;
use crate::negotiate::MetaVersion;

pub(crate) use kube_wire::table::push_json_str;

/// The `metadata` of the list of a page: `resourceVersion`, `continue`, `remainingItemCount`.
pub(crate) fn list_meta(page: &ListPage) -> ListMeta<'_> {
    ListMeta {
        resource_version: page.resource_version.as_deref(),
        continue_token: page.continue_token.as_deref(),
        remaining_item_count: page.remaining_item_count,
    }
}

/// Appends the `metadata` of a list: `resourceVersion`, `continue`, `remainingItemCount`.
pub(crate) fn push_list_metadata(out: &mut Vec<u8>, page: &ListPage) {
    list_meta(page).write(out);
}

/// The kube list of a page: `{"kind":"<Kind>List","apiVersion":...,"metadata":{...},"items":[...]}`
/// with each item's stored JSON spliced in as is.
pub(crate) fn list_json(kind: &str, api_version: &str, page: &ListPage) -> Vec<u8> {
    let items: usize = page.items.iter().map(|i| i.raw.len() + 1).sum();
    let mut out = Vec::with_capacity(items + 256);
    out.extend_from_slice(b"{\"kind\":");
    push_json_str(&mut out, &format!("{kind}List"));
    out.extend_from_slice(b",\"apiVersion\":");
    push_json_str(&mut out, api_version);
    out.extend_from_slice(b",\"metadata\":");
    push_list_metadata(&mut out, page);
    out.extend_from_slice(b",\"items\":[");
    for (i, item) in page.items.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(&item.raw);
    }
    out.extend_from_slice(b"]}");
    out
}

/// The `metadata` member of a stored object, as its raw JSON text.
pub(crate) fn metadata_of(object: &ResourceObject) -> Result<&RawValue, ApiError> {
    #[derive(Deserialize)]
    struct Metadata<'a> {
        #[serde(borrow)]
        metadata: Option<&'a RawValue>,
    }
    let parsed: Metadata<'_> = serde_json::from_slice(&object.raw).map_err(|e| {
        ApiError::internal(format!(
            "stored object {} is not JSON: {e}",
            object.fields.key()
        ))
    })?;
    parsed.metadata.ok_or_else(|| {
        ApiError::internal(format!(
            "stored object {} has no metadata",
            object.fields.key()
        ))
    })
}

/// Appends `{"kind":"PartialObjectMetadata","apiVersion":"meta.k8s.io/<v>","metadata":<raw>}`.
pub(crate) fn push_partial_object(
    out: &mut Vec<u8>,
    version: MetaVersion,
    object: &ResourceObject,
) -> Result<(), ApiError> {
    kube_wire::table::push_partial_object(out, version.api_version(), metadata_of(object)?);
    Ok(())
}

/// A `PartialObjectMetadataList` of a page.
pub(crate) fn partial_list_json(
    version: MetaVersion,
    page: &ListPage,
) -> Result<Vec<u8>, ApiError> {
    let mut out = Vec::with_capacity(page.items.len() * 1024 + 256);
    out.extend_from_slice(b"{\"kind\":\"PartialObjectMetadataList\",\"apiVersion\":\"");
    out.extend_from_slice(version.api_version().as_bytes());
    out.extend_from_slice(b"\",\"metadata\":");
    push_list_metadata(&mut out, page);
    out.extend_from_slice(b",\"items\":[");
    for (i, item) in page.items.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        push_partial_object(&mut out, version, item)?;
    }
    out.extend_from_slice(b"]}");
    Ok(out)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use bytes::Bytes;
    use storage_api::Gvr;

    use super::*;

    fn pod(name: &str) -> ResourceObject {
        let raw = format!(
            r#"{{"apiVersion":"v1","kind":"Pod","metadata":{{"name":"{name}","namespace":"ns","annotations":{{"shadow.clusterpedia.io/cluster-name":"c1"}}}},"spec":{{"nodeName":"n1"}}}}"#
        );
        ResourceObject::parse(
            Arc::from("c1"),
            Arc::new(Gvr::new("", "v1", "pods")),
            Bytes::from(raw),
        )
        .expect("pod")
    }

    #[test]
    fn list_splices_items_byte_for_byte() {
        let page = ListPage {
            items: vec![pod("a"), pod("b")],
            continue_token: Some("tok\"en".into()),
            remaining_item_count: Some(3),
            resource_version: Some("42".into()),
        };
        let body = list_json("Pod", "v1", &page);
        let text = String::from_utf8(body.clone()).expect("utf8");
        assert!(text.contains(std::str::from_utf8(&page.items[0].raw).expect("utf8")));
        let json: serde_json::Value = serde_json::from_slice(&body).expect("json");
        assert_eq!(json["kind"], "PodList");
        assert_eq!(json["metadata"]["continue"], "tok\"en");
        assert_eq!(json["metadata"]["remainingItemCount"], 3);
        assert_eq!(json["metadata"]["resourceVersion"], "42");
        assert_eq!(json["items"][1]["metadata"]["name"], "b");
    }

    #[test]
    fn empty_list_has_empty_metadata_and_items() {
        let json: serde_json::Value =
            serde_json::from_slice(&list_json("Node", "v1", &ListPage::default())).expect("json");
        assert_eq!(
            json,
            serde_json::json!({"kind": "NodeList", "apiVersion": "v1", "metadata": {}, "items": []})
        );
    }

    #[test]
    fn partial_metadata_list_keeps_only_metadata() {
        let page = ListPage {
            items: vec![pod("a")],
            ..ListPage::default()
        };
        let json: serde_json::Value =
            serde_json::from_slice(&partial_list_json(MetaVersion::V1, &page).expect("ok"))
                .expect("json");
        assert_eq!(json["kind"], "PartialObjectMetadataList");
        assert_eq!(json["items"][0]["kind"], "PartialObjectMetadata");
        assert_eq!(json["items"][0]["apiVersion"], "meta.k8s.io/v1");
        assert_eq!(json["items"][0]["metadata"]["name"], "a");
        assert!(json["items"][0].get("spec").is_none());
    }
}
