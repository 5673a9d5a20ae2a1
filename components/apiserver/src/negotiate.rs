//! Content negotiation: which representation of a resource the client's `Accept` header asks
//! for (plain JSON, a `meta.k8s.io` `Table`, or `PartialObjectMetadata`), and the
//! `includeObject` parameter of tables.

use axum::http::HeaderMap;
use axum::http::header::ACCEPT;

use crate::error::ApiError;

/// The version of a `meta.k8s.io` type the client asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MetaVersion {
    /// `meta.k8s.io/v1`.
    V1,
    /// `meta.k8s.io/v1beta1` (older clients).
    V1beta1,
}

impl MetaVersion {
    /// The `apiVersion` of the type.
    pub(crate) fn api_version(self) -> &'static str {
        match self {
            Self::V1 => "meta.k8s.io/v1",
            Self::V1beta1 => "meta.k8s.io/v1beta1",
        }
    }
}

/// The representation to answer with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Representation {
    /// The objects themselves (a kube list envelope for lists).
    Json,
    /// A `Table` (kubectl's default for `get`).
    Table(MetaVersion),
    /// `PartialObjectMetadata` / `PartialObjectMetadataList` (metadata-only clients).
    PartialMetadata(MetaVersion),
}

/// What a table row carries as `object` (`includeObject`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum IncludeObject {
    /// No object (`null`).
    None,
    /// The object's metadata as a `PartialObjectMetadata` (the default).
    Metadata,
    /// The whole object.
    Object,
}

/// Picks the representation from the `Accept` header: the first acceptable media range in
/// order of quality (then as written). No header means JSON; nothing acceptable is a `406`.
pub(crate) fn representation(headers: &HeaderMap) -> Result<Representation, ApiError> {
    let Some(accept) = headers.get(ACCEPT) else {
        return Ok(Representation::Json);
    };
    let accept = accept
        .to_str()
        .map_err(|_| ApiError::bad_request("the Accept header is not valid text"))?;
    if accept.trim().is_empty() {
        return Ok(Representation::Json);
    }
    let mut ranges: Vec<(f32, usize, Option<Representation>)> = accept
        .split(',')
        .enumerate()
        .map(|(index, range)| {
            let (quality, representation) = media_range(range);
            (quality, index, representation)
        })
        .collect();
    ranges.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    ranges
        .into_iter()
        .filter(|(quality, _, _)| *quality > 0.0)
        .find_map(|(_, _, representation)| representation)
        .ok_or_else(ApiError::not_acceptable)
}

/// One media range: its quality, and the representation it asks for if this server can
/// produce it.
fn media_range(range: &str) -> (f32, Option<Representation>) {
    let mut parts = range.split(';').map(str::trim);
    let media_type = parts.next().unwrap_or_default().to_ascii_lowercase();
    let (mut quality, mut as_kind, mut group, mut version) = (1.0f32, None, None, None);
    for parameter in parts {
        let Some((key, value)) = parameter.split_once('=') else {
            continue;
        };
        let value = value.trim().trim_matches('"');
        match key.trim().to_ascii_lowercase().as_str() {
            "q" => quality = value.parse().unwrap_or(0.0),
            "as" => as_kind = Some(value.to_owned()),
            "g" => group = Some(value.to_owned()),
            "v" => version = Some(value.to_owned()),
            _ => {}
        }
    }
    if !matches!(
        media_type.as_str(),
        "application/json" | "application/*" | "*/*" | "*"
    ) {
        return (quality, None);
    }
    let Some(as_kind) = as_kind else {
        return (quality, Some(Representation::Json));
    };
    if group.as_deref() != Some("meta.k8s.io") {
        return (quality, None);
    }
    let version = match version.as_deref() {
        Some("v1") => MetaVersion::V1,
        Some("v1beta1") => MetaVersion::V1beta1,
        _ => return (quality, None),
    };
    let representation = match as_kind.as_str() {
        "Table" => Representation::Table(version),
        "PartialObjectMetadata" | "PartialObjectMetadataList" => {
            Representation::PartialMetadata(version)
        }
        _ => return (quality, None),
    };
    (quality, Some(representation))
}

/// Reads one value of `includeObject` (empty: `Metadata`).
pub(crate) fn include_object(value: &str) -> Result<IncludeObject, ApiError> {
    match value {
        "" | "Metadata" => Ok(IncludeObject::Metadata),
        "None" => Ok(IncludeObject::None),
        "Object" => Ok(IncludeObject::Object),
        other => Err(ApiError::bad_request(format!(
            "includeObject: unsupported value \"{other}\": expected None, Metadata or Object"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn negotiate(accept: &str) -> Result<Representation, ApiError> {
        let mut headers = HeaderMap::new();
        headers.insert(ACCEPT, HeaderValue::from_str(accept).expect("header"));
        representation(&headers)
    }

    #[test]
    fn kubectl_table_request_gets_a_v1_table() {
        assert_eq!(
            negotiate(
                "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json"
            )
            .expect("ok"),
            Representation::Table(MetaVersion::V1)
        );
        assert_eq!(
            negotiate("application/json;as=Table;v=v1beta1;g=meta.k8s.io").expect("ok"),
            Representation::Table(MetaVersion::V1beta1)
        );
    }

    #[test]
    fn protobuf_first_falls_back_to_json() {
        assert_eq!(
            negotiate("application/vnd.kubernetes.protobuf, application/json").expect("ok"),
            Representation::Json
        );
        assert_eq!(negotiate("*/*").expect("ok"), Representation::Json);
        assert_eq!(
            representation(&HeaderMap::new()).expect("ok"),
            Representation::Json
        );
    }

    #[test]
    fn metadata_only_and_quality_order() {
        assert_eq!(
            negotiate("application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1")
                .expect("ok"),
            Representation::PartialMetadata(MetaVersion::V1)
        );
        assert_eq!(
            negotiate("application/json;q=0.5, application/json;as=Table;v=v1;g=meta.k8s.io")
                .expect("ok"),
            Representation::Table(MetaVersion::V1)
        );
    }

    #[test]
    fn nothing_acceptable_is_406() {
        assert_eq!(negotiate("application/yaml").expect_err("406").code, 406);
        assert_eq!(
            negotiate("application/json;as=APIGroupDiscoveryList;v=v2;g=apidiscovery.k8s.io")
                .expect_err("406")
                .code,
            406
        );
    }
}
