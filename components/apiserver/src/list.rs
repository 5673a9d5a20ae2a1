//! Response bodies built by splicing each stored object's JSON bytes into the envelope: a kube
//! list (`{"kind":"PodList",...,"items":[<raw>,<raw>]}`), a `PartialObjectMetadataList`, a
//! `PartialObjectMetadata`. Items are never parsed and re-serialized, except that metadata-only
//! answers cut the `metadata` member out of each object.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{HeaderValue, header};
use axum::response::Response;
use bytes::Bytes;
use kube_wire::table::ListMeta;
use serde_json::value::RawValue;
use storage_api::query::ContinuePosition;
use storage_api::resource_version::find_metadata;
use storage_api::{ListOptions, ListPage, ResourceObject, ResourceStorage};

use crate::error::ApiError;
use crate::negotiate::MetaVersion;
use crate::response::json;

/// The most items the apiserver asks a layer for at once when it streams a list without a
/// limit (`limit=0`, `kubectl --chunk-size=0`): such a list is read from the layer in pages of
/// this size and each page is written to the client as it comes, so a request's memory does
/// not grow with the list.
pub(crate) const MAX_PAGE: u64 = 500;

/// The largest page a client gets when it asks for one (`limit`): a larger `limit` is cut to
/// this, with a continue token, as Kubernetes allows. A page is answered in one body (its
/// metadata, the continue token, comes first), so this bounds a paged request's memory.
pub(crate) const MAX_LIMIT: u64 = 5000;

/// Renders a page in the response's representation (a list, a `Table`, a
/// `PartialObjectMetadataList`): a head, then the items, then `]}`.
pub(crate) type Render = Box<dyn Fn(&ListPage) -> Result<Vec<u8>, ApiError> + Send + Sync>;

/// The sizes [`list_response`] reads and answers in.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Paging {
    /// The items read from the layer at once while streaming ([`MAX_PAGE`]).
    pub(crate) page_size: u64,
    /// The largest `limit` honoured ([`MAX_LIMIT`]).
    pub(crate) max_limit: u64,
}

impl Paging {
    /// [`MAX_PAGE`] and [`MAX_LIMIT`].
    pub(crate) const DEFAULT: Self = Self {
        page_size: MAX_PAGE,
        max_limit: MAX_LIMIT,
    };
}

/// The answer to a list of `storage` for `options`, rendered by `render`.
///
/// - With a `limit`: one page, as the layer gives it, of at most `paging.max_limit` items (a
///   larger limit is cut, with the layer's continue token and remaining count: the client
///   continues from there).
/// - Without a limit: every item, read from the layer `paging.page_size` at a time. The first
///   page decides the list metadata (its `resourceVersion`; no continue token; a remaining
///   count of 0 when asked, as an unlimited page has), then each later page is fetched with the
///   previous page's continue token and its items are streamed into the body. The bytes are
///   those of the one-page answer.
pub(crate) async fn list_response(
    storage: Arc<dyn ResourceStorage>,
    mut options: ListOptions,
    paging: Paging,
    render: Render,
) -> Result<Response, ApiError> {
    let page_size = paging.page_size;
    if let Some(limit) = options.limit {
        options.limit = Some(limit.min(paging.max_limit));
        let page = storage.list(&options).await?;
        return Ok(json(render(&page)?));
    }
    let remaining_item_count = options.with_remaining_count.then_some(0);
    options.limit = Some(page_size);
    options.with_continue = true;
    options.with_remaining_count = false;
    let first = storage.list(&options).await?;
    let next = first.continue_token;
    let page = ListPage {
        items: first.items,
        continue_token: None,
        remaining_item_count,
        resource_version: first.resource_version,
    };
    let body = render(&page)?;
    let Some(token) = next else {
        return Ok(json(body));
    };
    let head = strip_tail(body)?;
    let empty = strip_tail(render(&ListPage::default())?)?;
    let state = Some(Pages {
        storage,
        options,
        render,
        prefix: empty.len(),
        token,
    });
    let rest = futures::stream::unfold(state, |state| async move {
        let mut pages = state?;
        match pages.next().await {
            Ok((chunk, more)) => {
                let chunk = Ok::<_, std::io::Error>(Bytes::from(chunk));
                Some((chunk, more.then_some(pages)))
            }
            Err(error) => {
                // The status is sent: end the body early so that the client sees a broken
                // answer, never a short list.
                tracing::warn!(error = %error.message, "list stream failed");
                Some((Err(std::io::Error::other(error.message.clone())), None))
            }
        }
    });
    let first = futures::stream::once(async move { Ok(Bytes::from(head)) });
    // Fused: a body may be polled again after its end (HTTP/2 with compression does), which
    // an `unfold` stream does not allow.
    let stream = futures::StreamExt::fuse(futures::StreamExt::chain(first, rest));
    let mut response = Response::new(Body::from_stream(stream));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Ok(response)
}

/// The pages after the first of a streamed list.
struct Pages {
    storage: Arc<dyn ResourceStorage>,
    options: ListOptions,
    render: Render,
    /// The length of the rendered head of a page, before its items.
    prefix: usize,
    /// The continue token of the next page.
    token: String,
}

impl Pages {
    /// The items of the next page (with a leading `,`), and whether more pages follow; the
    /// last chunk ends with `]}`.
    async fn next(&mut self) -> Result<(Vec<u8>, bool), ApiError> {
        self.options.continue_from = Some(ContinuePosition::decode(&self.token, &self.options)?);
        let page = self.storage.list(&self.options).await?;
        let rendered = strip_tail((self.render)(&ListPage {
            items: page.items,
            ..ListPage::default()
        })?)?;
        let items = rendered.get(self.prefix..).ok_or_else(|| {
            ApiError::internal("a rendered page is shorter than its head".to_owned())
        })?;
        let mut chunk = Vec::with_capacity(items.len() + 3);
        if !items.is_empty() {
            chunk.push(b',');
            chunk.extend_from_slice(items);
        }
        match page.continue_token {
            Some(token) => {
                self.token = token;
                Ok((chunk, true))
            }
            None => {
                chunk.extend_from_slice(b"]}");
                Ok((chunk, false))
            }
        }
    }
}

/// A rendered page without its closing `]}` (of the items array and of the object).
fn strip_tail(mut rendered: Vec<u8>) -> Result<Vec<u8>, ApiError> {
    if !rendered.ends_with(b"]}") {
        return Err(ApiError::internal(
            "a rendered page does not end its items with ]}".to_owned(),
        ));
    }
    rendered.truncate(rendered.len() - 2);
    Ok(rendered)
}

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

/// The `metadata` member of a stored object, as its raw JSON text (the object is not read past
/// it: `spec` and `status` are skipped, see [`find_metadata`]).
pub(crate) fn metadata_of(object: &ResourceObject) -> Result<&RawValue, ApiError> {
    let metadata = find_metadata(&object.raw).map_err(|e| {
        ApiError::internal(format!(
            "stored object {} is not JSON: {e}",
            object.fields.key()
        ))
    })?;
    metadata.ok_or_else(|| {
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

    /// Pages of 7, limits up to 10.
    const SMALL: Paging = Paging {
        page_size: 7,
        max_limit: 10,
    };

    /// A layer that records the largest page asked of it.
    struct Counting {
        inner: Arc<dyn ResourceStorage>,
        largest: std::sync::atomic::AtomicU64,
        calls: std::sync::atomic::AtomicUsize,
    }

    #[async_trait::async_trait]
    impl ResourceStorage for Counting {
        fn config(&self) -> &storage_api::ResourceStorageConfig {
            self.inner.config()
        }
        async fn get(
            &self,
            cluster: &str,
            namespace: &str,
            name: &str,
        ) -> storage_api::Result<ResourceObject> {
            self.inner.get(cluster, namespace, name).await
        }
        async fn list(&self, options: &ListOptions) -> storage_api::Result<ListPage> {
            use std::sync::atomic::Ordering;
            self.largest
                .fetch_max(options.limit.unwrap_or(u64::MAX), Ordering::SeqCst);
            self.calls.fetch_add(1, Ordering::SeqCst);
            self.inner.list(options).await
        }
        async fn create(&self, object: ResourceObject) -> storage_api::Result<()> {
            self.inner.create(object).await
        }
        async fn update(&self, object: ResourceObject) -> storage_api::Result<()> {
            self.inner.update(object).await
        }
        async fn delete(&self, key: &storage_api::ObjectKey) -> storage_api::Result<()> {
            self.inner.delete(key).await
        }
        async fn record_events(
            &self,
            events: Vec<storage_api::ObjectEvent>,
        ) -> storage_api::Result<()> {
            self.inner.record_events(events).await
        }
    }

    /// The fixture pods in a memory layer, behind a [`Counting`] wrapper.
    async fn counted_pods() -> (Arc<Counting>, usize) {
        use storage_api::StorageFactory as _;
        use storage_conformance::fixtures::{FixtureSpec, Fixtures};
        let fixtures = Fixtures::generate(&FixtureSpec::default());
        let factory = storage_api::testing::ReferenceStorageFactory::new();
        crate::tests::load(&factory, &fixtures).await;
        let config = fixtures
            .gvrs()
            .into_iter()
            .find(|c| c.gvr == Gvr::new("", "v1", "pods"))
            .expect("pods");
        let count = fixtures.of(&config.gvr).len();
        let inner = factory.new_resource_storage(config).await.expect("storage");
        let counting = Counting {
            inner,
            largest: Default::default(),
            calls: Default::default(),
        };
        (Arc::new(counting), count)
    }

    /// A named way to build a [`Render`].
    type NamedRender = (&'static str, fn() -> Render);

    fn renderers() -> Vec<NamedRender> {
        vec![
            ("json", || Box::new(|page| Ok(list_json("Pod", "v1", page)))),
            ("metadata", || {
                Box::new(|page| partial_list_json(MetaVersion::V1, page))
            }),
            ("table", || {
                let table = crate::table::ResourceTable {
                    printer: crate::table::printer_for("", "pods"),
                    version: MetaVersion::V1,
                    include: crate::negotiate::IncludeObject::Object,
                };
                Box::new(move |page| table.render(page, true))
            }),
        ]
    }

    /// A streamed body may be polled again after its end (hyper's HTTP/2 path behind the
    /// compression layer does): it must stay ended, not panic.
    #[tokio::test]
    async fn a_streamed_body_polled_after_its_end_stays_ended() {
        use http_body_util::BodyExt as _;
        let (storage, count) = counted_pods().await;
        assert!(count > 2 * SMALL.page_size as usize, "{count} pods");
        let render = Box::new(|page: &ListPage| Ok(list_json("Pod", "v1", page))) as Render;
        let response = list_response(storage, ListOptions::default(), SMALL, render)
            .await
            .expect("list");
        let mut body = response.into_body();
        let mut frames = 0;
        while let Some(frame) = body.frame().await {
            frame.expect("frame");
            frames += 1;
        }
        assert!(frames > 2, "streamed in {frames} frames");
        for _ in 0..3 {
            assert!(body.frame().await.is_none(), "ended stays ended");
        }
    }

    async fn body_of(response: axum::response::Response) -> Vec<u8> {
        use http_body_util::BodyExt as _;
        response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes()
            .to_vec()
    }

    /// A list without a limit over more objects than a page is read from the layer page by
    /// page (never more than a page at once) and streamed: the body is byte for byte the
    /// one-page answer (the Table's ages aside), valid JSON with every object and no token.
    #[tokio::test]
    async fn an_unlimited_list_is_read_and_written_page_by_page() {
        use std::sync::atomic::Ordering;
        let (storage, count) = counted_pods().await;
        assert!(count > 20, "{count} pods");
        for with_remaining_count in [false, true] {
            let options = {
                let mut options = ListOptions::default();
                options.with_remaining_count = with_remaining_count;
                options
            };
            let whole = storage.inner.list(&options).await.expect("list");
            assert_eq!(whole.items.len(), count);
            for (name, render) in renderers() {
                storage.largest.store(0, Ordering::SeqCst);
                storage.calls.store(0, Ordering::SeqCst);
                let response = list_response(storage.clone(), options.clone(), SMALL, render())
                    .await
                    .expect("list");
                let body = body_of(response).await;
                assert_eq!(storage.largest.load(Ordering::SeqCst), 7, "{name}");
                assert_eq!(
                    storage.calls.load(Ordering::SeqCst),
                    count.div_ceil(7),
                    "{name}"
                );
                let json: serde_json::Value = serde_json::from_slice(&body).expect("json");
                if name == "table" {
                    let rows = json["rows"].as_array().expect("rows");
                    assert_eq!(rows.len(), count);
                    for (row, item) in rows.iter().zip(&whole.items) {
                        let raw: serde_json::Value =
                            serde_json::from_slice(&item.raw).expect("json");
                        assert_eq!(row["object"], raw);
                    }
                    assert!(
                        json["columnDefinitions"]
                            .as_array()
                            .is_some_and(|c| !c.is_empty())
                    );
                } else {
                    assert_eq!(body, render()(&whole).expect("render"), "{name}");
                }
                assert!(json["metadata"].get("continue").is_none(), "{name}");
                assert_eq!(
                    json["metadata"].get("remainingItemCount").cloned(),
                    with_remaining_count.then(|| serde_json::Value::from(0)),
                    "{name}"
                );
            }
        }
    }

    /// A limit above the largest page is cut to it, with a continue token that resumes the
    /// list; a limit between the stream page size and the largest page is served as asked.
    #[tokio::test]
    async fn a_limit_above_the_largest_page_is_cut_with_a_continue_token() {
        use std::sync::atomic::Ordering;
        let (storage, count) = counted_pods().await;
        let options = {
            let mut options = ListOptions::default();
            options.limit = Some(u64::MAX);
            options.with_remaining_count = true;
            options
        };
        let render = || -> Render { Box::new(|page| Ok(list_json("Pod", "v1", page))) };
        let response = list_response(storage.clone(), options, SMALL, render())
            .await
            .expect("list");
        let json: serde_json::Value =
            serde_json::from_slice(&body_of(response).await).expect("json");
        assert_eq!(storage.largest.load(Ordering::SeqCst), 10);
        assert_eq!(json["items"].as_array().map(Vec::len), Some(10));
        assert_eq!(json["metadata"]["remainingItemCount"], count - 10);
        assert!(json["metadata"]["continue"].is_string());
        let options = {
            let mut options = ListOptions::default();
            options.limit = Some(9);
            options
        };
        let response = list_response(storage.clone(), options, SMALL, render())
            .await
            .expect("list");
        let json: serde_json::Value =
            serde_json::from_slice(&body_of(response).await).expect("json");
        assert_eq!(json["items"].as_array().map(Vec::len), Some(9));
    }

    /// The process's resident set now and its peak, in KiB (`/proc/self/status`).
    fn rss_kib() -> (u64, u64) {
        let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.split_whitespace().next())
                .and_then(|v| v.parse().ok())
                .unwrap_or(0)
        };
        (field("VmRSS:"), field("VmHWM:"))
    }

    /// Resets the peak resident set to the current one (Linux 4.0+) and returns it, in KiB.
    fn reset_peak() -> u64 {
        let _ = std::fs::write("/proc/self/clear_refs", "5");
        rss_kib().0
    }

    /// 100,000 pods of about 2 KB in a memory layer.
    async fn many_pods() -> Arc<dyn ResourceStorage> {
        use storage_api::StorageFactory as _;
        let factory = storage_api::testing::ReferenceStorageFactory::new();
        let config = storage_api::ResourceStorageConfig {
            gvr: Gvr::new("", "v1", "pods"),
            kind: "Pod".into(),
            namespaced: true,
        };
        let storage = factory.new_resource_storage(config).await.expect("storage");
        let pad = "x".repeat(1800);
        for chunk in 0..100 {
            let changes = (0..1000)
                .map(|i| {
                    let name = format!("pod-{chunk}-{i}");
                    let raw = format!(
                        r#"{{"apiVersion":"v1","kind":"Pod","metadata":{{"name":"{name}","namespace":"ns","uid":"{name}","resourceVersion":"1","annotations":{{"pad":"{pad}","shadow.clusterpedia.io/cluster-name":"c1"}}}},"spec":{{"nodeName":"n1"}}}}"#
                    );
                    storage_api::Change::Upsert(
                        ResourceObject::parse(
                            Arc::from("c1"),
                            Arc::new(Gvr::new("", "v1", "pods")),
                            Bytes::from(raw),
                        )
                        .expect("pod"),
                    )
                })
                .collect();
            storage.apply(changes).await.expect("apply");
        }
        storage
    }

    /// Peak RSS of one `limit=0` list of 100,000 pods answered as one body (as before the
    /// streaming). Run alone: `cargo test -p clusterpedia-apiserver --lib -- --ignored
    /// --exact list::tests::rss_whole_body --nocapture`.
    #[tokio::test]
    #[ignore = "a measurement: 100,000 pods, run alone"]
    async fn rss_whole_body() {
        let storage = many_pods().await;
        let before = reset_peak();
        let page = storage.list(&ListOptions::default()).await.expect("list");
        let body = list_json("Pod", "v1", &page);
        let (_, peak) = rss_kib();
        println!(
            "whole body: {} bytes; RSS after load {before} KiB, peak {peak} KiB (+{} KiB)",
            body.len(),
            peak.saturating_sub(before)
        );
    }

    /// [`rss_whole_body`] streamed through [`list_response`], each chunk dropped once read
    /// (as hyper does once it is written).
    #[tokio::test]
    #[ignore = "a measurement: 100,000 pods, run alone"]
    async fn rss_streamed_body() {
        use http_body_util::BodyExt as _;
        let storage = many_pods().await;
        let before = reset_peak();
        let render: Render = Box::new(|page| Ok(list_json("Pod", "v1", page)));
        let response = list_response(storage, ListOptions::default(), Paging::DEFAULT, render)
            .await
            .expect("list");
        let mut body = response.into_body();
        let mut bytes = 0;
        while let Some(frame) = body.frame().await {
            bytes += frame.expect("frame").into_data().map_or(0, |d| d.len());
        }
        let (_, peak) = rss_kib();
        println!(
            "streamed body: {bytes} bytes; RSS after load {before} KiB, peak {peak} KiB (+{} KiB)",
            peak.saturating_sub(before)
        );
    }
}
