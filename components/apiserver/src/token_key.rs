//! `--continue-token-key-file`: the key that signs continue tokens
//! ([`storage_api::query::continue_token::install_key`]), read from the file, or random.

use std::path::Path;

use anyhow::Context as _;
use storage_api::query::continue_token::{self, MIN_KEY_BYTES};

/// Installs the continue token key of this process: the content of `file` (trimmed), or when
/// absent a random key (said in an INFO log). A second server in the same process (tests)
/// keeps the key already installed.
pub(crate) fn install(file: Option<&Path>) -> anyhow::Result<()> {
    match file {
        Some(path) => {
            let key = read(path)?;
            continue_token::install_key(&key)
                .map_err(|message| anyhow::anyhow!("--continue-token-key-file: {message}"))?;
            tracing::info!(file = %path.display(), "continue tokens are signed with the key file");
        }
        None if continue_token::key_installed() => {}
        None => {
            let mut key = [0u8; MIN_KEY_BYTES];
            crate::tls::provider()
                .secure_random
                .fill(&mut key)
                .map_err(|_| anyhow::anyhow!("no randomness for the continue token key"))?;
            // Another server of this process may have installed one meanwhile: keep it.
            let _ = continue_token::install_key(&key);
            tracing::info!(
                "no --continue-token-key-file: continue tokens are signed with a random key, so \
                 they will not survive a restart nor be accepted by other replicas"
            );
        }
    }
    Ok(())
}

/// The key in `path`: its content without surrounding whitespace, at least
/// [`MIN_KEY_BYTES`] bytes.
fn read(path: &Path) -> anyhow::Result<Vec<u8>> {
    let content = std::fs::read(path)
        .with_context(|| format!("--continue-token-key-file {}", path.display()))?;
    let key = content.trim_ascii();
    if key.len() < MIN_KEY_BYTES {
        anyhow::bail!(
            "--continue-token-key-file {}: the key is {} bytes long, at least {MIN_KEY_BYTES} \
             are needed (e.g. head -c 32 /dev/urandom | base64 > FILE)",
            path.display(),
            key.len()
        );
    }
    Ok(key.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_trimmed_key_and_refuses_a_short_one() {
        let dir = std::env::temp_dir().join(format!("token-key-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let good = dir.join("good");
        std::fs::write(&good, format!("{}\n", "k".repeat(MIN_KEY_BYTES))).expect("write");
        assert_eq!(read(&good).expect("key"), vec![b'k'; MIN_KEY_BYTES]);
        let short = dir.join("short");
        std::fs::write(&short, "short\n").expect("write");
        let err = read(&short).expect_err("short").to_string();
        assert!(err.contains("at least 32"), "{err}");
        assert!(read(&dir.join("missing")).is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
