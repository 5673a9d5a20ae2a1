//! Connection hygiene: how long a connection may take to send its first request and how long it
//! may sit idle between requests, and the cap on open connections.
//!
//! A connection that has not sent the headers of a first request within the header timeout, or
//! that has no request in flight and has done nothing for the idle timeout, is closed. A request
//! is in flight from its headers until its response body is finished or dropped, so a quiet
//! watch keeps its connection. The values follow kube-apiserver's Go server (`ReadHeaderTimeout`
//! 32 s, `IdleTimeout` 90 s).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use axum::body::Body;
use axum::response::Response;
use http_body_util::BodyExt as _;
use tokio::time::Instant;

/// The limits of one connection, from the flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ConnectionLimits {
    /// The most time from the connection's start to the headers of its first request.
    pub(crate) header_timeout: Duration,
    /// The most time a connection with no request in flight stays open.
    pub(crate) idle_timeout: Duration,
}

/// What one connection is doing: requests in flight and the time of its last activity.
#[derive(Debug)]
pub(crate) struct ConnectionActivity {
    started: Instant,
    /// Requests whose response body is not finished yet.
    in_flight: AtomicUsize,
    /// Milliseconds from `started` to the last request start or end; `u64::MAX` before the
    /// first request.
    last_activity_ms: AtomicU64,
    limits: ConnectionLimits,
}

impl ConnectionActivity {
    /// A connection that starts now.
    pub(crate) fn new(limits: ConnectionLimits) -> Arc<Self> {
        Arc::new(Self {
            started: Instant::now(),
            in_flight: AtomicUsize::new(0),
            last_activity_ms: AtomicU64::new(u64::MAX),
            limits,
        })
    }

    /// Records that a request's headers arrived; the request is in flight until the returned
    /// guard is dropped.
    pub(crate) fn begin_request(self: &Arc<Self>) -> RequestGuard {
        self.in_flight.fetch_add(1, Ordering::SeqCst);
        self.touch();
        RequestGuard(self.clone())
    }

    fn touch(&self) {
        let elapsed = u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX - 1);
        self.last_activity_ms.store(elapsed, Ordering::SeqCst);
    }

    /// When the connection is to be closed if nothing happens before; `None` while a request
    /// is in flight.
    pub(crate) fn deadline(&self) -> Option<Instant> {
        if self.in_flight.load(Ordering::SeqCst) > 0 {
            return None;
        }
        Some(match self.last_activity_ms.load(Ordering::SeqCst) {
            u64::MAX => self.started + self.limits.header_timeout,
            ms => self.started + Duration::from_millis(ms) + self.limits.idle_timeout,
        })
    }

    /// Attaches the request guard to the response body, so that the request stays in flight
    /// until the body is finished or dropped (a watch stream, a streamed list).
    pub(crate) fn hold_until_body_ends(response: Response, guard: RequestGuard) -> Response {
        response.map(|body| {
            Body::new(body.map_frame(move |frame| {
                let _in_flight = &guard;
                frame
            }))
        })
    }
}

/// A request in flight on its connection (see [`ConnectionActivity::begin_request`]).
#[derive(Debug)]
pub(crate) struct RequestGuard(Arc<ConnectionActivity>);

impl Drop for RequestGuard {
    fn drop(&mut self) {
        self.0.touch();
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Serves `connection` until it ends, or closes it at the deadline of `activity` (when nothing
/// is in flight). Returns whether it was closed for being idle.
pub(crate) async fn serve_until_idle<F>(connection: F, activity: &ConnectionActivity) -> bool
where
    F: std::future::Future,
{
    tokio::pin!(connection);
    loop {
        // While a request is in flight, look again after the shortest limit.
        let wake = activity.deadline().unwrap_or_else(|| {
            Instant::now()
                + activity
                    .limits
                    .header_timeout
                    .min(activity.limits.idle_timeout)
        });
        tokio::select! {
            _ = &mut connection => return false,
            () = tokio::time::sleep_until(wake) => {
                if activity.deadline().is_some_and(|deadline| deadline <= Instant::now()) {
                    return true;
                }
            }
        }
    }
}

/// How long a closing connection keeps reading (and discarding) what the client still sends.
const LINGER: Duration = Duration::from_secs(10);

/// How often a lingering connection looks whether the server has run out of connection slots.
const SLOT_CHECK: Duration = Duration::from_millis(100);

/// A connection that closes like a lingering close: on shutdown its write side is closed first
/// (TLS `close_notify`, then TCP FIN), then what the client still sends is read and discarded
/// until it closes too (or [`LINGER`] passes). Closing a socket with unread input makes the
/// kernel answer with a reset, and a reset makes the client's kernel drop the response bytes it
/// had received but the client had not read yet: at shutdown, a slow client lost the end of a
/// streamed list that had been sent whole (HTTP/2 clients keep sending `WINDOW_UPDATE`s).
///
/// A lingering connection still holds its connection slot (`--max-connections`), so a client
/// that never closes would keep it [`LINGER`] longer: when no slot is free the lingering stops
/// (checked every [`SLOT_CHECK`]), and the connection closes as it would without it. Lingering
/// is a courtesy to slow readers; it never keeps a new client waiting for a slot.
pub(crate) struct Linger<T> {
    inner: T,
    state: LingerState,
    /// The server's connection slots.
    slots: Arc<tokio::sync::Semaphore>,
}

enum LingerState {
    Open,
    Draining {
        deadline: std::pin::Pin<Box<tokio::time::Sleep>>,
        slot_check: tokio::time::Interval,
    },
    Closed,
}

impl<T> Linger<T> {
    /// Wraps a connection that holds one of `slots`.
    pub(crate) fn new(inner: T, slots: Arc<tokio::sync::Semaphore>) -> Self {
        Self {
            inner,
            state: LingerState::Open,
            slots,
        }
    }
}

impl<T: tokio::io::AsyncRead + Unpin> tokio::io::AsyncRead for Linger<T> {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin> tokio::io::AsyncWrite for Linger<T> {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_write_vectored(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        use std::task::Poll;
        let this = &mut *self;
        loop {
            match &mut this.state {
                LingerState::Open => {
                    std::task::ready!(std::pin::Pin::new(&mut this.inner).poll_shutdown(cx))?;
                    this.state = LingerState::Draining {
                        deadline: Box::pin(tokio::time::sleep(LINGER)),
                        slot_check: tokio::time::interval(SLOT_CHECK),
                    };
                }
                LingerState::Draining {
                    deadline,
                    slot_check,
                } => {
                    // Look again at the next check (a ready tick schedules the next one).
                    while slot_check.poll_tick(cx).is_ready() {}
                    if deadline.as_mut().poll(cx).is_ready() || this.slots.available_permits() == 0
                    {
                        this.state = LingerState::Closed;
                        continue;
                    }
                    let mut scratch = [0u8; 4096];
                    let mut buf = tokio::io::ReadBuf::new(&mut scratch);
                    match std::pin::Pin::new(&mut this.inner).poll_read(cx, &mut buf) {
                        Poll::Ready(Ok(())) if !buf.filled().is_empty() => {}
                        Poll::Ready(_) => this.state = LingerState::Closed,
                        Poll::Pending => return Poll::Pending,
                    }
                }
                LingerState::Closed => return Poll::Ready(Ok(())),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::AsyncWriteExt as _;

    use super::*;

    const LIMITS: ConnectionLimits = ConnectionLimits {
        header_timeout: Duration::from_secs(5),
        idle_timeout: Duration::from_secs(60),
    };

    #[tokio::test(start_paused = true)]
    async fn header_timeout_first_then_idle_timeout_and_none_while_in_flight() {
        let activity = ConnectionActivity::new(LIMITS);
        let start = Instant::now();
        assert_eq!(activity.deadline(), Some(start + LIMITS.header_timeout));
        let guard = activity.begin_request();
        assert_eq!(activity.deadline(), None, "a request is in flight");
        tokio::time::advance(Duration::from_secs(100)).await;
        assert_eq!(
            activity.deadline(),
            None,
            "a long watch keeps its connection"
        );
        drop(guard);
        let deadline = activity.deadline().expect("idle");
        assert!(deadline >= start + Duration::from_secs(160), "{deadline:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn an_idle_connection_is_closed_a_busy_one_is_not() {
        let activity = ConnectionActivity::new(LIMITS);
        let closed = serve_until_idle(std::future::pending::<()>(), &activity).await;
        assert!(closed);
        assert!(Instant::now() >= activity.started + LIMITS.header_timeout);

        let activity = ConnectionActivity::new(LIMITS);
        let guard = activity.begin_request();
        let finished = serve_until_idle(tokio::time::sleep(Duration::from_secs(600)), &activity);
        assert!(!finished.await, "ended by itself, not closed as idle");
        drop(guard);
    }

    /// How long the lingering close of a connection whose client neither sends nor closes
    /// takes, with `free` connection slots, and a slot taken `taken_after` into it.
    async fn linger_time(free: usize, taken_after: Option<Duration>) -> Duration {
        let (server, _silent_client) = tokio::io::duplex(1024);
        let slots = Arc::new(tokio::sync::Semaphore::new(free));
        let mut connection = Linger::new(server, slots.clone());
        let start = Instant::now();
        let closed = tokio::spawn(async move {
            connection.shutdown().await.expect("shutdown");
            Instant::now()
        });
        let _taken = match taken_after {
            Some(after) => {
                tokio::time::sleep(after).await;
                Some(slots.acquire_many_owned(free as u32).await.expect("slots"))
            }
            None => None,
        };
        closed.await.expect("closed") - start
    }

    #[tokio::test(start_paused = true)]
    async fn a_lingering_close_waits_for_a_silent_client_only_while_slots_are_free() {
        let full = linger_time(8, None).await;
        assert!(
            full >= LINGER && full <= LINGER + SLOT_CHECK,
            "slots free: the full linger, not {full:?}"
        );
        assert!(
            linger_time(0, None).await < SLOT_CHECK,
            "no slot free: closed at once"
        );
        let slots_run_out = linger_time(8, Some(Duration::from_secs(2))).await;
        assert!(
            slots_run_out >= Duration::from_secs(2)
                && slots_run_out <= Duration::from_secs(2) + SLOT_CHECK,
            "the slots ran out 2 s into the linger: closed {slots_run_out:?} after it began"
        );

        // A client that closes ends the linger at once.
        let (server, client) = tokio::io::duplex(1024);
        drop(client);
        let mut connection = Linger::new(server, Arc::new(tokio::sync::Semaphore::new(8)));
        let start = Instant::now();
        connection.shutdown().await.expect("shutdown");
        assert_eq!(Instant::now(), start);
    }
}
