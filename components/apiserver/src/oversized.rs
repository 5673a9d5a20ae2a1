//! Requests too large to parse still get a kube `Status`.
//!
//! hyper answers an HTTP/1 request it cannot parse by itself, before the application sees it,
//! with an empty body: `414` for a URI longer than 65,534 bytes (the most an `http::Uri`
//! holds), `431` for a head over [`MAX_HEADER_BYTES`] or with more than [`MAX_HEADERS`]
//! headers, `400` for a malformed one. kubectl then prints "the server rejected our request for
//! an unknown reason". [`StatusOnParseError`] sits between hyper and the TLS stream and
//! replaces such an answer (recognized by its status and its `content-length: 0`; every answer
//! of the application has a `Status` body) with the same answer carrying a `Status`.
//!
//! HTTP/2 reads header lists up to [`MAX_HEADER_BYTES`] (hyper's default is 16 KiB); a `:path`
//! over 65,534 bytes is refused by the `h2` crate with a stream reset, which cannot carry a body.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use storage_api::status::StatusReason;

use crate::error::ApiError;

/// The most bytes of request line and headers read, on HTTP/1 (hyper's read buffer) and
/// HTTP/2 (the header list): 1 MiB, Go's `http.DefaultMaxHeaderBytes`, kube-apiserver's limit.
pub(crate) const MAX_HEADER_BYTES: usize = 1 << 20;
/// The most headers an HTTP/1 request may have.
pub(crate) const MAX_HEADERS: usize = 1000;
/// The longest request URI (request target) served: the most an `http::Uri` holds.
pub(crate) const MAX_URI_BYTES: usize = u16::MAX as usize - 1;

/// An IO stream whose hyper-made error answers carry a kube `Status`.
#[derive(Debug)]
pub(crate) struct StatusOnParseError<T> {
    inner: T,
    /// The replacement being written, how much of it is written, and the length of the answer
    /// it replaces (what the write reports once it is all written).
    pending: Option<(Vec<u8>, usize, usize)>,
}

impl<T> StatusOnParseError<T> {
    /// Wraps `inner`.
    pub(crate) fn new(inner: T) -> Self {
        Self {
            inner,
            pending: None,
        }
    }
}

/// The answer with a `Status` body that replaces `written`, when `written` is a whole
/// body-less `400`, `414` or `431` answer.
fn replacement(written: &[u8]) -> Option<Vec<u8>> {
    let rest = written
        .strip_prefix(b"HTTP/1.1 ")
        .or_else(|| written.strip_prefix(b"HTTP/1.0 "))?;
    let (reason, message) = match rest.get(..4)? {
        b"414 " => (
            StatusReason::RequestUriTooLong,
            format!(
                "the request URI is longer than {MAX_URI_BYTES} bytes, the most this server reads"
            ),
        ),
        b"431 " => (
            StatusReason::RequestHeaderFieldsTooLarge,
            format!(
                "the request headers are larger than {MAX_HEADER_BYTES} bytes or more than \
                 {MAX_HEADERS} headers, the most this server reads"
            ),
        ),
        b"400 " => (
            StatusReason::BadRequest,
            "the request could not be parsed as HTTP".to_owned(),
        ),
        _ => return None,
    };
    let end = written.windows(4).position(|w| w == b"\r\n\r\n")?;
    if end + 4 != written.len() {
        return None;
    }
    let head = std::str::from_utf8(&written[..end]).ok()?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next()?;
    let mut empty = false;
    let mut out = Vec::with_capacity(written.len() + 512);
    out.extend_from_slice(status_line.as_bytes());
    out.extend_from_slice(b"\r\n");
    for line in lines {
        if line.eq_ignore_ascii_case("content-length: 0") {
            empty = true;
        } else if !line.to_ascii_lowercase().starts_with("connection:") {
            out.extend_from_slice(line.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
    }
    if !empty {
        return None;
    }
    let body = ApiError::new(reason, message).to_json();
    out.extend_from_slice(b"content-type: application/json\r\nconnection: close\r\n");
    out.extend_from_slice(format!("content-length: {}\r\n\r\n", body.len()).as_bytes());
    out.extend_from_slice(&body);
    Some(out)
}

impl<T: AsyncWrite + Unpin> StatusOnParseError<T> {
    /// Writes the pending replacement; `Ready(Ok(n))` with the replaced answer's length once
    /// it is all written.
    fn poll_pending(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        let Some((bytes, written, replaced)) = &mut self.pending else {
            return Poll::Ready(Ok(0));
        };
        while *written < bytes.len() {
            match ready!(Pin::new(&mut self.inner).poll_write(cx, &bytes[*written..])) {
                Ok(0) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Ok(n) => *written += n,
                Err(error) => return Poll::Ready(Err(error)),
            }
        }
        let replaced = *replaced;
        self.pending = None;
        Poll::Ready(Ok(replaced))
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for StatusOnParseError<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for StatusOnParseError<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.pending.is_none() {
            match replacement(buf) {
                Some(bytes) => this.pending = Some((bytes, 0, buf.len())),
                None => return Pin::new(&mut this.inner).poll_write(cx, buf),
            }
        }
        this.poll_pending(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.pending.is_none() {
            let mut nonempty = bufs.iter().filter(|b| !b.is_empty());
            match (nonempty.next(), nonempty.next()) {
                (Some(only), None) if let Some(bytes) = replacement(only) => {
                    this.pending = Some((bytes, 0, only.len()));
                }
                _ => return Pin::new(&mut this.inner).poll_write_vectored(cx, bufs),
            }
        }
        this.poll_pending(cx)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.pending.is_some() {
            ready!(this.poll_pending(cx))?;
        }
        Pin::new(&mut this.inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.pending.is_some() {
            ready!(this.poll_pending(cx))?;
        }
        Pin::new(&mut this.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_less_parse_errors_get_a_status() {
        let answer = b"HTTP/1.1 414 URI Too Long\r\ncontent-length: 0\r\ndate: Fri, 04 Dec 2026 19:00:00 GMT\r\n\r\n";
        let replaced = String::from_utf8(replacement(answer).expect("replaced")).expect("utf8");
        let (head, body) = replaced.split_once("\r\n\r\n").expect("head");
        assert!(head.starts_with("HTTP/1.1 414 URI Too Long\r\n"), "{head}");
        assert!(
            head.contains("\r\ndate: Fri, 04 Dec 2026 19:00:00 GMT"),
            "{head}"
        );
        assert!(
            head.contains(&format!("\r\ncontent-length: {}", body.len())),
            "{head}"
        );
        let status: serde_json::Value = serde_json::from_str(body).expect("json");
        assert_eq!(status["kind"], "Status");
        assert_eq!(status["code"], 414);
        assert_eq!(status["reason"], "RequestURITooLong");
        assert!(
            status["message"]
                .as_str()
                .is_some_and(|m| m.contains("65534"))
        );
    }

    #[test]
    fn answers_with_a_body_or_another_status_are_left_alone() {
        for answer in [
            &b"HTTP/1.1 414 URI Too Long\r\ncontent-length: 2\r\n\r\n{}"[..],
            b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n",
            b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\n\r\nextra",
            b"\x00\x00\x12\x04\x00\x00\x00\x00\x00",
        ] {
            assert_eq!(replacement(answer), None);
        }
    }
}
