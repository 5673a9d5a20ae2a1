//! Watch event framing: one JSON event per line, `{"type":"ADDED","object":{...}}\n`, as the
//! kube-apiserver streams them.

/// The `type` of a watch event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventType {
    /// An object entered the watched set.
    Added,
    /// An object of the set changed.
    Modified,
    /// An object left the set.
    Deleted,
    /// A progress marker carrying only a resource version.
    Bookmark,
    /// A failure; the object is a `Status`, and the stream ends.
    Error,
}

impl EventType {
    /// The type as Kubernetes spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Added => "ADDED",
            Self::Modified => "MODIFIED",
            Self::Deleted => "DELETED",
            Self::Bookmark => "BOOKMARK",
            Self::Error => "ERROR",
        }
    }
}

/// Appends the line of one event whose object is the JSON `object`.
pub fn push_event_line(out: &mut Vec<u8>, event_type: EventType, object: &[u8]) {
    out.reserve(object.len() + 32);
    out.extend_from_slice(b"{\"type\":\"");
    out.extend_from_slice(event_type.as_str().as_bytes());
    out.extend_from_slice(b"\",\"object\":");
    out.extend_from_slice(object);
    out.extend_from_slice(b"}\n");
}

/// The line of one event whose object is the JSON `object`.
pub fn event_line(event_type: EventType, object: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(object.len() + 32);
    push_event_line(&mut out, event_type, object);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_event_per_line() {
        assert_eq!(
            event_line(EventType::Modified, br#"{"kind":"Pod"}"#),
            b"{\"type\":\"MODIFIED\",\"object\":{\"kind\":\"Pod\"}}\n"
        );
        let mut out = event_line(EventType::Added, b"{}");
        push_event_line(&mut out, EventType::Error, b"{}");
        assert_eq!(
            String::from_utf8(out).expect("utf-8"),
            "{\"type\":\"ADDED\",\"object\":{}}\n{\"type\":\"ERROR\",\"object\":{}}\n"
        );
    }
}
