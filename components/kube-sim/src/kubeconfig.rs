//! kubeconfig files for a simulator: one cluster, user and context, with the CA inline and
//! the bearer token (or the client certificate).

use base64::Engine as _;

/// A YAML double-quoted scalar.
fn quote(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn b64(text: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(text.as_bytes())
}

/// How the kubeconfig user authenticates.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Credentials<'a> {
    Token(&'a str),
    ClientCertificate { cert_pem: &'a str, key_pem: &'a str },
}

/// A kubeconfig with one cluster, user and context named `name`.
pub(crate) fn render(
    name: &str,
    server: &str,
    ca_pem: Option<&str>,
    credentials: Credentials<'_>,
) -> String {
    let name = quote(name);
    let mut yaml = String::new();
    yaml.push_str("apiVersion: v1\nkind: Config\nclusters:\n");
    yaml.push_str(&format!(
        "- name: {name}\n  cluster:\n    server: {}\n",
        quote(server)
    ));
    if let Some(ca) = ca_pem {
        yaml.push_str(&format!("    certificate-authority-data: {}\n", b64(ca)));
    }
    yaml.push_str(&format!("users:\n- name: {name}\n  user:\n"));
    match credentials {
        Credentials::Token(token) => yaml.push_str(&format!("    token: {}\n", quote(token))),
        Credentials::ClientCertificate { cert_pem, key_pem } => {
            yaml.push_str(&format!("    client-certificate-data: {}\n", b64(cert_pem)));
            yaml.push_str(&format!("    client-key-data: {}\n", b64(key_pem)));
        }
    }
    yaml.push_str(&format!(
        "contexts:\n- name: {name}\n  context:\n    cluster: {name}\n    user: {name}\ncurrent-context: {name}\npreferences: {{}}\n"
    ));
    yaml
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders() {
        let yaml = render(
            "c1",
            "https://127.0.0.1:6443",
            Some("PEM"),
            Credentials::Token("t"),
        );
        assert!(yaml.contains("server: \"https://127.0.0.1:6443\""));
        assert!(yaml.contains("certificate-authority-data: UEVN"));
        assert!(yaml.contains("token: \"t\""));
        assert!(yaml.contains("current-context: \"c1\""));
    }
}
