//! The server over real TLS: HTTP/1.1 and HTTP/2, bearer tokens, client certificates signed
//! by `--client-ca-file`, the generated certificate in `--cert-dir`, unauthenticated health.

mod support;

use std::sync::Arc;

use futures::FutureExt as _;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use storage_api::StorageFactory;
use storage_api::testing::ReferenceStorageFactory;
use storage_conformance::fixtures::{FixtureSpec, Fixtures};
use support::{Client, Harness, RESOURCES, TOKEN};

/// A CA, and a client certificate it signed for `jane` in `viewers`.
struct Pki {
    ca_pem: String,
    client_pem: String,
    client_key: String,
}

fn new_pki() -> Pki {
    let ca_key = KeyPair::generate().expect("key");
    let mut ca = CertificateParams::new(Vec::<String>::new()).expect("params");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name.push(DnType::CommonName, "client-ca");
    let ca_cert = ca.self_signed(&ca_key).expect("ca");
    let issuer = Issuer::new(ca, ca_key);
    let mut client = CertificateParams::new(Vec::<String>::new()).expect("params");
    client.distinguished_name.push(DnType::CommonName, "jane");
    client
        .distinguished_name
        .push(DnType::OrganizationName, "viewers");
    client.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
    let client_key = KeyPair::generate().expect("key");
    let client_cert = client.signed_by(&client_key, &issuer).expect("client");
    Pki {
        ca_pem: ca_cert.pem(),
        client_pem: client_cert.pem(),
        client_key: client_key.serialize_pem(),
    }
}

fn server(client_ca: Option<String>, cert_dir: bool) -> Harness {
    Harness::start(
        || async { Arc::new(ReferenceStorageFactory::new()) as Arc<dyn StorageFactory> }.boxed(),
        |factory| {
            async move {
                let fixtures = Fixtures::generate(&FixtureSpec::default());
                support::load(&*factory, &fixtures.objects).await;
            }
            .boxed()
        },
        move |options, dir| {
            if let Some(ca) = client_ca {
                let path = dir.join("client-ca.crt");
                std::fs::write(&path, ca).expect("write CA");
                options.client_ca_file = Some(path);
            }
            if cert_dir {
                options.cert_dir = Some(dir.join("certs"));
            }
        },
    )
}

#[tokio::test]
async fn http1_and_http2_with_a_bearer_token() {
    let harness = server(None, true);
    for alpn in [&b"h2"[..], &b"http/1.1"[..]] {
        let client = Client::build(harness.addr, &harness.ca_pem, None, &[alpn]);
        let mut connection = client.connect().await.expect("connect");
        assert_eq!(connection.http2, alpn == b"h2");
        let bearer = format!("Bearer {TOKEN}");
        for _ in 0..3 {
            let answer = connection
                .get(
                    &format!("{RESOURCES}/api/v1/pods?limit=2"),
                    &[("authorization", &bearer)],
                )
                .await
                .expect("list");
            assert_eq!(answer.status, 200);
            assert_eq!(answer.json()["items"].as_array().map(Vec::len), Some(2));
        }
        let refused = connection.get("/apis", &[]).await.expect("401");
        assert_eq!(refused.status, 401);
        assert_eq!(refused.json()["reason"], "Unauthorized");
        let health = connection.get("/readyz", &[]).await.expect("readyz");
        assert_eq!(
            (health.status.as_u16(), &health.body[..]),
            (200, &b"ok"[..])
        );
    }
    // The generated certificate was written to --cert-dir, followed by its CA.
    let written = std::fs::read_to_string(harness.dir.join("certs/apiserver.crt")).expect("cert");
    assert!(written.ends_with(&harness.ca_pem));
    assert!(harness.dir.join("certs/apiserver.key").exists());
}

#[tokio::test]
async fn client_certificates_signed_by_the_client_ca() {
    let pki = new_pki();
    let harness = server(Some(pki.ca_pem.clone()), false);
    let with_cert = Client::build(
        harness.addr,
        &harness.ca_pem,
        Some((&pki.client_pem, &pki.client_key)),
        &[b"h2"],
    );
    let answer = with_cert
        .get(&format!("{RESOURCES}/apis/apps/v1"), &[])
        .await
        .expect("get");
    assert_eq!(answer.status, 200, "{:?}", answer.body);
    assert_eq!(answer.json()["groupVersion"], "apps/v1");

    let anonymous = harness.client();
    assert_eq!(anonymous.get("/apis", &[]).await.expect("401").status, 401);

    // A certificate from another CA does not get through the handshake.
    let other = new_pki();
    let stranger = Client::build(
        harness.addr,
        &harness.ca_pem,
        Some((&other.client_pem, &other.client_key)),
        &[b"h2"],
    );
    let refused = match stranger.connect().await {
        Err(_) => true,
        Ok(mut connection) => connection.get("/apis", &[]).await.is_err(),
    };
    assert!(refused, "a certificate of an unknown CA must be refused");
}

/// Reads an HTTP/1.1 answer to `request`, sent as is on a new TLS connection: the status and
/// the body (the server closes the connection after it).
async fn raw_http1(harness: &Harness, request: &[u8]) -> (u16, serde_json::Value) {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let client = Client::build(harness.addr, &harness.ca_pem, None, &[b"http/1.1"]);
    let mut tls = client.connect_tls().await.expect("connect");
    // The server may answer (and close) before it has read all of an oversized request.
    let _ = tls.write_all(request).await;
    let _ = tls.flush().await;
    let mut answer = Vec::new();
    let _ = tls.read_to_end(&mut answer).await;
    let text = String::from_utf8_lossy(&answer).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").expect("an answer");
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status");
    let json = serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {head}\n{body}"));
    (status, json)
}

/// A URL or headers too large to read get a kube `Status` (not an empty body), on HTTP/1.1;
/// on HTTP/2 header lists up to 1 MiB are read (hyper's default is 16 KiB).
#[tokio::test]
async fn oversized_requests_get_a_status() {
    let harness = server(None, false);
    let bearer = format!("Bearer {TOKEN}");
    let long_query = format!(
        "{RESOURCES}/api/v1/pods?limit=1&pad={}",
        "a".repeat(100_000)
    );
    let request =
        format!("GET {long_query} HTTP/1.1\r\nhost: 127.0.0.1\r\nauthorization: {bearer}\r\n\r\n");
    let (status, json) = raw_http1(&harness, request.as_bytes()).await;
    assert_eq!(status, 414);
    assert_eq!(json["kind"], "Status");
    assert_eq!(json["code"], 414);
    assert_eq!(json["reason"], "RequestURITooLong");
    assert!(
        json["message"]
            .as_str()
            .is_some_and(|m| m.contains("65534")),
        "{json}"
    );

    let request = format!(
        "GET {RESOURCES}/api/v1/pods?limit=1 HTTP/1.1\r\nhost: 127.0.0.1\r\nx-pad: {}\r\n\r\n",
        "a".repeat(2 << 20)
    );
    let (status, json) = raw_http1(&harness, request.as_bytes()).await;
    assert_eq!(status, 431);
    assert_eq!(json["kind"], "Status");
    assert_eq!(json["reason"], "RequestHeaderFieldsTooLarge");

    // A 40 KB URL is served on both protocols.
    let url = format!("{RESOURCES}/api/v1/pods?limit=1&pad={}", "a".repeat(40_000));
    for alpn in [&b"h2"[..], &b"http/1.1"[..]] {
        let client = Client::build(harness.addr, &harness.ca_pem, None, &[alpn]);
        let answer = client
            .get(&url, &[("authorization", &bearer)])
            .await
            .expect("list");
        assert_eq!(answer.status, 200, "{}", String::from_utf8_lossy(alpn));
        assert_eq!(answer.json()["items"].as_array().map(Vec::len), Some(1));
    }
}
