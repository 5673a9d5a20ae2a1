//! What the integration tests and the benchmark share: an apiserver started in-process on an
//! ephemeral port over a storage layer loaded through the storage API, and a small HTTPS client
//! (hyper + rustls, one keep-alive connection per [`Connection`]).

#![allow(dead_code, unreachable_pub)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use clusterpedia_apiserver::{ApiserverOptions, Server};
use futures::future::BoxFuture;
use http_body_util::{BodyExt as _, Empty};
use hyper::{HeaderMap, Request, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use storage_api::{Change, ResourceObject, StorageFactory};

/// The bearer token of the test user.
pub const TOKEN: &str = "e2e-token";
/// The prefix of the Kubernetes API root over every cluster.
pub const RESOURCES: &str = "/apis/clusterpedia.io/v1beta1/resources";

/// A fresh directory under the system temporary directory.
pub fn temp_dir(name: &str) -> PathBuf {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "clusterpedia-apiserver-{name}-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// Stores `objects` through the storage API (one `apply` per resource, in batches of 1000).
pub async fn load(factory: &dyn StorageFactory, objects: &[ResourceObject]) {
    let mut by_gvr: std::collections::BTreeMap<_, Vec<&ResourceObject>> = Default::default();
    for object in objects {
        by_gvr
            .entry((
                (*object.fields.gvr).clone(),
                object.fields.kind.to_string(),
                !object.fields.namespace.is_empty(),
            ))
            .or_default()
            .push(object);
    }
    for ((gvr, kind, namespaced), objects) in by_gvr {
        let storage = factory
            .new_resource_storage(storage_api::ResourceStorageConfig {
                gvr,
                kind,
                namespaced,
            })
            .await
            .expect("storage");
        for chunk in objects.chunks(1000) {
            storage
                .apply(chunk.iter().map(|o| Change::Upsert((*o).clone())).collect())
                .await
                .expect("apply");
        }
    }
}

/// A server running on its own runtime thread, for the life of the test process.
#[derive(Clone)]
pub struct Harness {
    /// The storage the server serves (write through it to make changes).
    pub factory: Arc<dyn StorageFactory>,
    /// Where it listens.
    pub addr: SocketAddr,
    /// The CA of its generated certificate.
    pub ca_pem: String,
    /// A directory for the test's files.
    pub dir: PathBuf,
}

impl std::fmt::Debug for Harness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Harness")
            .field("addr", &self.addr)
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

impl Harness {
    /// Starts a server over the factory `make` builds, after `load` stored the data, with the
    /// token [`TOKEN`] and `configure` applied to the options.
    pub fn start(
        make: impl FnOnce() -> BoxFuture<'static, Arc<dyn StorageFactory>> + Send + 'static,
        load: impl FnOnce(Arc<dyn StorageFactory>) -> BoxFuture<'static, ()> + Send + 'static,
        configure: impl FnOnce(&mut ApiserverOptions, &Path) + Send + 'static,
    ) -> Self {
        let dir = temp_dir("server");
        let tokens = dir.join("tokens.csv");
        std::fs::write(&tokens, format!("{TOKEN},tester,1000,\"viewers\"\n")).expect("tokens");
        let (sender, receiver) = std::sync::mpsc::channel();
        let server_dir = dir.clone();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async move {
                let factory = make().await;
                load(factory.clone()).await;
                let mut options = ApiserverOptions {
                    bind_address: "127.0.0.1".parse().expect("ip"),
                    secure_port: 0,
                    token_auth_file: Some(tokens),
                    ..ApiserverOptions::default()
                };
                configure(&mut options, &server_dir);
                let served = factory.clone();
                let server = Server::bind(&options, factory).await.expect("bind");
                sender
                    .send((
                        server.local_addr(),
                        server.ca_certificate_pem().unwrap_or_default().to_owned(),
                        served,
                    ))
                    .expect("send");
                server.serve(std::future::pending()).await.expect("serve");
            });
        });
        let (addr, ca_pem, factory) = receiver.recv().expect("the server started");
        Self {
            factory,
            addr,
            ca_pem,
            dir,
        }
    }

    /// A client of this server trusting its CA.
    pub fn client(&self) -> Client {
        Client::new(self.addr, &self.ca_pem)
    }
}

/// An HTTPS client of one server.
#[derive(Debug, Clone)]
pub struct Client {
    addr: SocketAddr,
    config: Arc<rustls::ClientConfig>,
}

/// The answer to a request.
#[derive(Debug)]
pub struct Answer {
    /// The status.
    pub status: StatusCode,
    /// The headers.
    pub headers: HeaderMap,
    /// The body (as received: not decompressed).
    pub body: Bytes,
}

impl Answer {
    /// The body as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("JSON body")
    }
}

impl Client {
    /// A client trusting `ca_pem`, offering HTTP/2 and HTTP/1.1.
    pub fn new(addr: SocketAddr, ca_pem: &str) -> Self {
        Self::build(addr, ca_pem, None, &[b"h2", b"http/1.1"])
    }

    /// A client trusting `ca_pem`, presenting a client certificate if given, offering `alpn`.
    pub fn build(
        addr: SocketAddr,
        ca_pem: &str,
        identity: Option<(&str, &str)>,
        alpn: &[&[u8]],
    ) -> Self {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut roots = rustls::RootCertStore::empty();
        for certificate in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
            roots.add(certificate.expect("CA PEM")).expect("CA");
        }
        let builder = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_root_certificates(roots);
        let mut config = match identity {
            Some((cert_pem, key_pem)) => builder
                .with_client_auth_cert(
                    CertificateDer::pem_slice_iter(cert_pem.as_bytes())
                        .collect::<Result<Vec<_>, _>>()
                        .expect("client cert"),
                    PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).expect("client key"),
                )
                .expect("client auth"),
            None => builder.with_no_client_auth(),
        };
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        Self {
            addr,
            config: Arc::new(config),
        }
    }

    /// Opens a TLS connection and does nothing on it (the raw stream, to misbehave on).
    pub async fn connect_tls(
        &self,
    ) -> anyhow::Result<tokio_rustls::client::TlsStream<tokio::net::TcpStream>> {
        let tcp = tokio::net::TcpStream::connect(self.addr).await?;
        tcp.set_nodelay(true)?;
        Ok(tokio_rustls::TlsConnector::from(self.config.clone())
            .connect(ServerName::try_from("127.0.0.1")?.to_owned(), tcp)
            .await?)
    }

    /// Opens a keep-alive connection (HTTP/2 when the server agrees to it).
    pub async fn connect(&self) -> anyhow::Result<Connection> {
        let tls = self.connect_tls().await?;
        let http2 = tls.get_ref().1.alpn_protocol() == Some(b"h2");
        let io = TokioIo::new(tls);
        let sender = if http2 {
            let (sender, connection) =
                hyper::client::conn::http2::handshake(TokioExecutor::new(), io).await?;
            tokio::spawn(connection);
            Sender::Http2(sender)
        } else {
            let (sender, connection) = hyper::client::conn::http1::handshake(io).await?;
            tokio::spawn(connection);
            Sender::Http1(sender)
        };
        Ok(Connection { sender, http2 })
    }

    /// One request on a new connection.
    pub async fn get(&self, path: &str, headers: &[(&str, &str)]) -> anyhow::Result<Answer> {
        self.connect().await?.get(path, headers).await
    }
}

enum Sender {
    Http1(hyper::client::conn::http1::SendRequest<Empty<Bytes>>),
    Http2(hyper::client::conn::http2::SendRequest<Empty<Bytes>>),
}

/// One keep-alive connection.
pub struct Connection {
    sender: Sender,
    /// Whether HTTP/2 was negotiated.
    pub http2: bool,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("http2", &self.http2)
            .finish()
    }
}

impl Connection {
    /// `GET path` with `headers`, reading the whole body.
    pub async fn get(&mut self, path: &str, headers: &[(&str, &str)]) -> anyhow::Result<Answer> {
        let mut request = Request::builder()
            .uri(format!("https://127.0.0.1{path}"))
            .header("host", "127.0.0.1");
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let request = request.body(Empty::<Bytes>::new())?;
        let response = match &mut self.sender {
            Sender::Http1(sender) => {
                sender.ready().await?;
                sender.send_request(request).await?
            }
            Sender::Http2(sender) => {
                sender.ready().await?;
                sender.send_request(request).await?
            }
        };
        let status = response.status();
        let headers = response.headers().clone();
        let body = response.into_body().collect().await?.to_bytes();
        Ok(Answer {
            status,
            headers,
            body,
        })
    }
}
