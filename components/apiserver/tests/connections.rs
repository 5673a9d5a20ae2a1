//! Connection hygiene over real TLS: a client that never finishes its headers, or that keeps a
//! connection open doing nothing, is cut off; the number of open connections is capped, so
//! that half-open connections cannot exhaust file descriptors and starve `/livez`.

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::FutureExt as _;
use storage_api::StorageFactory;
use storage_api::testing::ReferenceStorageFactory;
use support::Harness;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

fn server(max_connections: u32, header_timeout: Duration, idle_timeout: Duration) -> Harness {
    Harness::start(
        || async { Arc::new(ReferenceStorageFactory::new()) as Arc<dyn StorageFactory> }.boxed(),
        |_| async {}.boxed(),
        move |options, _| {
            options.max_connections = max_connections;
            options.request_header_timeout = header_timeout;
            options.idle_connection_timeout = idle_timeout;
        },
    )
}

/// Waits until the server closes `stream` (end of stream or a reset), for at most `limit`;
/// returns how long that took.
async fn closed_within(
    stream: &mut (impl tokio::io::AsyncRead + Unpin),
    limit: Duration,
) -> Option<Duration> {
    let start = Instant::now();
    let mut buffer = [0u8; 4096];
    tokio::time::timeout(limit, async {
        loop {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => return start.elapsed(),
                Ok(_) => {}
            }
        }
    })
    .await
    .ok()
}

#[tokio::test]
async fn unfinished_headers_are_cut_off_at_the_header_timeout() {
    let harness = server(100, Duration::from_secs(1), Duration::from_secs(30));
    let client = harness.client();
    for alpn in [&b"http/1.1"[..], &b"h2"[..]] {
        let client = support::Client::build(harness.addr, &harness.ca_pem, None, &[alpn]);
        let mut slow = client.connect_tls().await.expect("connect");
        // Slowloris: a request line and one header, then silence.
        let partial: &[u8] = if alpn == b"h2" {
            b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
        } else {
            b"GET /livez HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        };
        slow.write_all(partial).await.expect("write");
        slow.flush().await.expect("flush");
        let closed = closed_within(&mut slow, Duration::from_secs(10)).await;
        assert!(
            closed.is_some(),
            "{}: a connection with unfinished headers is still open after 10 s",
            String::from_utf8_lossy(alpn)
        );
    }
    let answer = client.get("/livez", &[]).await.expect("livez");
    assert_eq!(answer.status, 200);
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_after_the_idle_timeout() {
    let harness = server(100, Duration::from_secs(5), Duration::from_secs(1));
    let client = support::Client::build(harness.addr, &harness.ca_pem, None, &[b"http/1.1"]);
    let mut stream = client.connect_tls().await.expect("connect");
    stream
        .write_all(b"GET /livez HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .await
        .expect("write");
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).await.expect("a response");
    assert_eq!(&head, b"HTTP/1.1 200");
    let closed = closed_within(&mut stream, Duration::from_secs(10)).await;
    assert!(
        closed.is_some(),
        "an idle keep-alive connection is still open after 10 s"
    );
}

#[tokio::test]
async fn open_connections_are_capped_and_freed_by_the_timeouts() {
    let harness = server(2, Duration::from_secs(2), Duration::from_secs(2));
    let client = harness.client();
    // Two silent connections take both slots.
    let mut silent = Vec::new();
    for _ in 0..2 {
        silent.push(
            tokio::net::TcpStream::connect(harness.addr)
                .await
                .expect("connect"),
        );
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let refused = tokio::time::timeout(Duration::from_millis(800), client.get("/livez", &[])).await;
    assert!(
        refused.is_err(),
        "a third connection was served beyond --max-connections 2: {refused:?}"
    );
    // The header timeout frees the slots; then the server answers again.
    let start = Instant::now();
    let answer = tokio::time::timeout(Duration::from_secs(15), client.get("/livez", &[]))
        .await
        .expect("served once the silent connections were cut off")
        .expect("livez");
    assert_eq!(answer.status, 200);
    for stream in &mut silent {
        assert!(
            closed_within(stream, Duration::from_secs(5))
                .await
                .is_some(),
            "a silent connection is still open after {:?}",
            start.elapsed()
        );
    }
}
