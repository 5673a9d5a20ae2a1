//! The simulator's PKI: a self-signed CA, a server certificate for `localhost`, `127.0.0.1`
//! and `::1` (plus extra names), and a client certificate for certificate authentication, with
//! the rustls server configuration (HTTP/2 and HTTP/1.1 by ALPN, optional client certificates).

use std::path::Path;
use std::sync::Arc;

use anyhow::Context as _;
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose,
};
use rustls::RootCertStore;
use rustls::server::WebPkiClientVerifier;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// The PEM material of a simulator.
#[derive(Debug, Clone)]
pub struct Pki {
    /// The CA certificate clients trust.
    pub ca_pem: String,
    /// The server certificate.
    pub server_cert_pem: String,
    /// The server key (PKCS#8).
    pub server_key_pem: String,
    /// A client certificate (`CN=kube-sim-admin, O=system:masters`) the server accepts.
    pub client_cert_pem: String,
    /// Its key (PKCS#8).
    pub client_key_pem: String,
    server_cert_der: CertificateDer<'static>,
    server_key_der: Vec<u8>,
    ca_der: CertificateDer<'static>,
}

fn name(common_name: &str, organization: Option<&str>) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, common_name);
    if let Some(org) = organization {
        dn.push(DnType::OrganizationName, org);
    }
    dn
}

impl Pki {
    /// Generates a CA and the server and client certificates; the server certificate is
    /// valid for `localhost`, `127.0.0.1`, `::1` and `extra_hosts`.
    pub fn generate(extra_hosts: &[String]) -> anyhow::Result<Self> {
        let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
        ca_params.distinguished_name = name("kube-sim-ca", None);
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca_key = KeyPair::generate()?;
        let ca = CertifiedIssuer::self_signed(ca_params, ca_key)?;

        let mut hosts = vec![
            "localhost".to_owned(),
            "127.0.0.1".to_owned(),
            "::1".to_owned(),
            "kubernetes.default.svc".to_owned(),
        ];
        hosts.extend(extra_hosts.iter().cloned());
        let mut server_params = CertificateParams::new(hosts)?;
        server_params.distinguished_name = name("kube-apiserver", None);
        server_params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        server_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let server_key = KeyPair::generate()?;
        let server_cert = server_params.signed_by(&server_key, &ca)?;

        let mut client_params = CertificateParams::new(Vec::<String>::new())?;
        client_params.distinguished_name = name("kube-sim-admin", Some("system:masters"));
        client_params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        client_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        let client_key = KeyPair::generate()?;
        let client_cert = client_params.signed_by(&client_key, &ca)?;

        Ok(Self {
            ca_pem: ca.pem(),
            server_cert_pem: server_cert.pem(),
            server_key_pem: server_key.serialize_pem(),
            client_cert_pem: client_cert.pem(),
            client_key_pem: client_key.serialize_pem(),
            server_cert_der: server_cert.der().clone(),
            server_key_der: server_key.serialize_der(),
            ca_der: ca.der().clone(),
        })
    }

    /// The rustls server configuration: the server certificate, client certificates of the
    /// CA accepted but not required, ALPN `h2` and `http/1.1`.
    pub(crate) fn server_config(&self) -> anyhow::Result<Arc<rustls::ServerConfig>> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut roots = RootCertStore::empty();
        roots.add(self.ca_der.clone())?;
        let verifier =
            WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                .allow_unauthenticated()
                .build()?;
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.server_key_der.clone()));
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_client_cert_verifier(verifier)
            .with_single_cert(vec![self.server_cert_der.clone(), self.ca_der.clone()], key)?;
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(Arc::new(config))
    }

    /// Writes `ca.crt`, `tls.crt`, `tls.key`, `client.crt` and `client.key` into `dir` (created
    /// `0700` when missing); the keys are `0600`.
    pub fn write_to(&self, dir: &Path) -> anyhow::Result<()> {
        create_private_dir(dir).with_context(|| format!("creating {}", dir.display()))?;
        for (file, content, private) in [
            ("ca.crt", &self.ca_pem, false),
            ("tls.crt", &self.server_cert_pem, false),
            ("tls.key", &self.server_key_pem, true),
            ("client.crt", &self.client_cert_pem, false),
            ("client.key", &self.client_key_pem, true),
        ] {
            let path = dir.join(file);
            let written = if private {
                write_private(&path, content.as_bytes())
            } else {
                std::fs::write(&path, content)
            };
            written.with_context(|| format!("writing {}", path.display()))?;
        }
        Ok(())
    }
}

/// Creates `dir` and its missing parents with mode `0700` (an existing directory is left as is).
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt as _;
        builder.mode(0o700);
    }
    builder.create(dir)
}

/// Writes `content` to `path` readable by its owner only (`0600`), also when the file existed
/// with a wider mode: private keys and kubeconfigs with a bearer token.
pub(crate) fn write_private(path: &Path, content: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
        options.mode(0o600);
        let file = options.open(path)?;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
        (&file).write_all(content)
    }
    #[cfg(not(unix))]
    {
        options.open(path)?.write_all(content)
    }
}

#[cfg(all(test, unix))]
mod tests {
    use std::os::unix::fs::PermissionsExt as _;

    use super::*;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).expect("stat").permissions().mode() & 0o777
    }

    /// Keys and kubeconfigs hold credentials: only their owner reads them.
    #[test]
    fn keys_and_kubeconfigs_are_private() {
        let dir = std::env::temp_dir().join(format!("kube-sim-pki-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let certs = dir.join("certs");
        Pki::generate(&[])
            .expect("pki")
            .write_to(&certs)
            .expect("write");
        assert_eq!(mode(&certs), 0o700);
        assert_eq!(mode(&certs.join("tls.key")), 0o600);
        assert_eq!(mode(&certs.join("client.key")), 0o600);
        // A file that existed with a wider mode is narrowed.
        let kubeconfig = dir.join("kubeconfig");
        std::fs::write(&kubeconfig, "old").expect("write");
        std::fs::set_permissions(&kubeconfig, std::fs::Permissions::from_mode(0o644))
            .expect("chmod");
        write_private(&kubeconfig, b"token: secret").expect("write");
        assert_eq!(mode(&kubeconfig), 0o600);
        assert_eq!(std::fs::read(&kubeconfig).expect("read"), b"token: secret");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
