//! TLS: the serving certificate (from `--tls-cert-file`/`--tls-private-key-file`, or a
//! self-signed one generated at start, as the Go original does) and the verification of client
//! certificates against `--client-ca-file` and `--requestheader-client-ca-file` (a certificate
//! is accepted in the handshake when either CA signed it; [`PeerVerifier`] then tells which
//! did). rustls with the `ring` provider.

use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context as _, bail};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType,
};
use rustls::RootCertStore;
use rustls::crypto::CryptoProvider;
use rustls::server::WebPkiClientVerifier;
use rustls::server::danger::ClientCertVerifier;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::auth::{LookedUp, PeerIdentity, user_from_certificate};
use crate::options::ApiserverOptions;

/// The certificate file written in `--cert-dir`.
pub(crate) const CERT_FILE: &str = "apiserver.crt";
/// The key file written in `--cert-dir`.
pub(crate) const KEY_FILE: &str = "apiserver.key";

/// The server's TLS configuration, and the PEM of the CA of its certificate when it generated
/// one (what a kubeconfig's `certificate-authority-data` needs).
#[derive(Debug)]
pub(crate) struct Tls {
    pub(crate) config: Arc<rustls::ServerConfig>,
    pub(crate) ca_pem: Option<String>,
    /// Which CA signed a client's certificate.
    pub(crate) peers: Arc<PeerVerifier>,
}

/// Tells what a verified client certificate proves: a user (signed by `--client-ca-file`), or
/// a front proxy (signed by `--requestheader-client-ca-file`), or both.
#[derive(Debug, Default)]
pub(crate) struct PeerVerifier {
    client_ca: Option<Arc<dyn ClientCertVerifier>>,
    front_proxy_ca: Option<Arc<dyn ClientCertVerifier>>,
}

impl PeerVerifier {
    /// The identity of a connection whose client presented `chain` (end entity first).
    pub(crate) fn identify(&self, chain: Option<&[CertificateDer<'static>]>) -> PeerIdentity {
        let Some((end_entity, intermediates)) = chain.and_then(<[_]>::split_first) else {
            return PeerIdentity::default();
        };
        let now = rustls_pki_types::UnixTime::now();
        let signed_by = |verifier: &Option<Arc<dyn ClientCertVerifier>>| {
            verifier
                .as_ref()
                .is_some_and(|v| v.verify_client_cert(end_entity, intermediates, now).is_ok())
        };
        PeerIdentity {
            user: signed_by(&self.client_ca)
                .then(|| user_from_certificate(end_entity))
                .flatten(),
            front_proxy: signed_by(&self.front_proxy_ca)
                .then(|| user_from_certificate(end_entity).map(|u| u.name))
                .flatten(),
        }
    }
}

fn roots(path: &Path, flag: &str) -> anyhow::Result<RootCertStore> {
    let mut roots = RootCertStore::empty();
    for certificate in read_certificates(path, flag)? {
        roots
            .add(certificate)
            .with_context(|| format!("{flag} {}", path.display()))?;
    }
    Ok(roots)
}

/// The roots of a PEM read from the host cluster's ConfigMap (`flag` names its key).
fn roots_of_pem(pem: &str, flag: &str) -> anyhow::Result<RootCertStore> {
    let key = flag.trim_start_matches('-');
    let mut roots = RootCertStore::empty();
    for certificate in CertificateDer::pem_slice_iter(pem.as_bytes()) {
        let certificate = certificate.with_context(|| {
            format!("kube-system/extension-apiserver-authentication: {key} is not PEM")
        })?;
        roots
            .add(certificate)
            .with_context(|| format!("kube-system/extension-apiserver-authentication: {key}"))?;
    }
    if roots.is_empty() {
        bail!("kube-system/extension-apiserver-authentication: {key} holds no certificate");
    }
    Ok(roots)
}

fn verifier(
    roots: RootCertStore,
    provider: &Arc<CryptoProvider>,
) -> anyhow::Result<Arc<dyn ClientCertVerifier>> {
    Ok(
        WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
            .allow_unauthenticated()
            .build()?,
    )
}

/// The `ring` crypto provider, installed as the process default too (so that nothing else
/// picks another provider).
pub(crate) fn provider() -> Arc<CryptoProvider> {
    let provider = rustls::crypto::ring::default_provider();
    // Another component may have installed it already: that is fine.
    let _ = provider.clone().install_default();
    Arc::new(provider)
}

/// Builds the TLS configuration from the flags, and the CAs read from the host cluster when
/// their flags are not given.
pub(crate) fn configure(options: &ApiserverOptions, looked_up: &LookedUp) -> anyhow::Result<Tls> {
    let provider = provider();
    let (chain, key, ca_pem) = match (&options.tls_cert_file, &options.tls_private_key_file) {
        (Some(cert), Some(key)) => {
            let chain = read_certificates(cert, "--tls-cert-file")?;
            let key = PrivateKeyDer::from_pem_file(key)
                .with_context(|| format!("--tls-private-key-file {}", key.display()))?;
            (chain, key, None)
        }
        (None, None) => {
            let (chain, key, ca_pem) =
                self_signed(options.bind_address, options.cert_dir.as_deref())?;
            (chain, key, Some(ca_pem))
        }
        _ => bail!("--tls-cert-file and --tls-private-key-file must be given together"),
    };

    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .context("TLS protocol versions")?;
    let mut peers = PeerVerifier::default();
    let mut all = RootCertStore::empty();
    for (path, pem, flag, slot) in [
        (
            &options.client_ca_file,
            &looked_up.client_ca,
            "--client-ca-file",
            &mut peers.client_ca,
        ),
        (
            &options.requestheader_client_ca_file,
            &looked_up.requestheader_ca,
            "--requestheader-client-ca-file",
            &mut peers.front_proxy_ca,
        ),
    ] {
        let roots = match (path, pem) {
            (Some(path), _) => roots(path, flag)?,
            (None, Some(pem)) => roots_of_pem(pem, flag)?,
            (None, None) => continue,
        };
        all.roots.extend(roots.roots.iter().cloned());
        *slot = Some(verifier(roots, &provider).with_context(|| flag.to_owned())?);
    }
    let builder = if all.is_empty() {
        builder.with_no_client_auth()
    } else {
        builder.with_client_cert_verifier(verifier(all, &provider)?)
    };
    let mut config = builder
        .with_single_cert(chain, key)
        .context("the serving certificate and key do not match")?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Tls {
        config: Arc::new(config),
        ca_pem,
        peers: Arc::new(peers),
    })
}

fn read_certificates(path: &Path, flag: &str) -> anyhow::Result<Vec<CertificateDer<'static>>> {
    let certificates = CertificateDer::pem_file_iter(path)
        .with_context(|| format!("{flag} {}", path.display()))?
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("{flag} {}", path.display()))?;
    if certificates.is_empty() {
        bail!("{flag} {}: no certificate in the file", path.display());
    }
    Ok(certificates)
}

/// A certificate for `localhost`, `127.0.0.1`, `::1`, the host name and the bind address,
/// signed by a CA generated with it; reused from `cert_dir` when it holds one. Returns the chain
/// (certificate, CA), the key, and the PEM to trust (the CA, or the whole reused file).
fn self_signed(
    bind_address: IpAddr,
    cert_dir: Option<&Path>,
) -> anyhow::Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>, String)> {
    if let Some(dir) = cert_dir {
        let (cert, key) = (dir.join(CERT_FILE), dir.join(KEY_FILE));
        if cert.exists() && key.exists() {
            let chain = read_certificates(&cert, "--cert-dir")?;
            let pem = std::fs::read_to_string(&cert)
                .with_context(|| format!("--cert-dir {}", cert.display()))?;
            let key = PrivateKeyDer::from_pem_file(&key)
                .with_context(|| format!("--cert-dir {}", key.display()))?;
            tracing::info!(certificate = %cert.display(), "serving with the certificate of --cert-dir");
            return Ok((chain, key, pem));
        }
    }

    let now = jiff::Timestamp::now().to_zoned_datetime(jiff::tz::TimeZone::UTC);
    let ymd = |day: jiff::civil::Date| -> anyhow::Result<_> {
        Ok(rcgen::date_time_ymd(
            i32::from(day.year()),
            u8::try_from(day.month())?,
            u8::try_from(day.day())?,
        ))
    };
    let today = now.date();
    let yesterday = ymd(today.yesterday().context("date")?)?;
    let date = |years: i16| ymd(today.saturating_add(jiff::Span::new().years(years)));

    let ca_key = KeyPair::generate().context("generate the CA key")?;
    let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
    ca_params.distinguished_name.push(
        DnType::CommonName,
        format!("localhost-ca@{}", now.timestamp().as_second()),
    );
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    ca_params.not_before = yesterday;
    ca_params.not_after = date(10)?;
    let ca_cert = ca_params.self_signed(&ca_key).context("sign the CA")?;
    let issuer = Issuer::new(ca_params, ca_key);

    let mut names = vec!["localhost".to_owned()];
    if let Some(host) = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty() && h != "localhost")
    {
        names.push(host);
    }
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    for name in &names {
        if let Ok(name) = name.clone().try_into() {
            params.subject_alt_names.push(SanType::DnsName(name));
        }
    }
    let mut addresses: Vec<IpAddr> =
        vec![[127, 0, 0, 1].into(), std::net::Ipv6Addr::LOCALHOST.into()];
    if !bind_address.is_unspecified() && !addresses.contains(&bind_address) {
        addresses.push(bind_address);
    }
    params
        .subject_alt_names
        .extend(addresses.iter().map(|a| SanType::IpAddress(*a)));
    params.distinguished_name.push(
        DnType::CommonName,
        format!("localhost@{}", now.timestamp().as_second()),
    );
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.not_before = yesterday;
    params.not_after = date(1)?;
    let key = KeyPair::generate().context("generate the serving key")?;
    let certificate = params
        .signed_by(&key, &issuer)
        .context("sign the certificate")?;

    let ca_pem = ca_cert.pem();
    let chain_pem = format!("{}{}", certificate.pem(), ca_pem);
    let key_pem = key.serialize_pem();
    match cert_dir {
        Some(dir) => {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("--cert-dir {}", dir.display()))?;
            write_private(&dir.join(KEY_FILE), &key_pem)?;
            std::fs::write(dir.join(CERT_FILE), &chain_pem)
                .with_context(|| format!("--cert-dir {}", dir.display()))?;
            tracing::info!(
                certificate = %dir.join(CERT_FILE).display(),
                "generated a self-signed certificate for {names:?} and {addresses:?}; trust this file (it ends with its CA)"
            );
        }
        None => tracing::info!(
            "generated a self-signed certificate for {names:?} and {addresses:?} in memory \
             (pass --cert-dir to keep it, or --tls-cert-file to serve your own)"
        ),
    }
    let chain = vec![certificate.der().clone(), ca_cert.der().clone()];
    let key =
        PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).context("read the generated key")?;
    Ok((chain, key, ca_pem))
}

/// Writes a private key readable by its owner only.
fn write_private(path: &Path, text: &str) -> anyhow::Result<()> {
    use std::io::Write as _;
    #[cfg(unix)]
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    options.mode(0o600);
    let mut file = options
        .open(path)
        .with_context(|| format!("write {}", path.display()))?;
    file.write_all(text.as_bytes())
        .with_context(|| format!("write {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn self_signed_certificate_is_written_and_reused() {
        let dir = std::env::temp_dir().join(format!("apiserver-tls-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let (chain, _, ca) =
            self_signed("127.0.0.1".parse().expect("ip"), Some(&dir)).expect("generate");
        assert_eq!(chain.len(), 2);
        assert!(ca.starts_with("-----BEGIN CERTIFICATE-----"));
        let written = std::fs::read_to_string(dir.join(CERT_FILE)).expect("written");
        assert!(written.ends_with(&ca), "the file ends with the CA");
        let (again, _, pem) =
            self_signed("127.0.0.1".parse().expect("ip"), Some(&dir)).expect("reuse");
        assert_eq!(again, chain);
        assert_eq!(pem, written);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn configure_without_files_generates_a_certificate() {
        let tls = configure(&ApiserverOptions::default(), &LookedUp::default()).expect("configure");
        assert!(tls.ca_pem.is_some());
        assert_eq!(tls.config.alpn_protocols[0], b"h2");
    }
}
