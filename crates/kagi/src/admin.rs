//! Credentials for `kagi admin`: read from the AWS shared-credentials file that
//! `kagi serve` writes on first start. The HTTP client itself is
//! `kagi_server::admin_client` (the only crate that knows HTTP).

use anyhow::{bail, Context, Result};
use kagi_crypto::SecretBytes;

/// Reads `aws_access_key_id` / `aws_secret_access_key` from the `[default]` profile of an
/// AWS shared-credentials file (the one `kagi serve` writes on first start).
pub fn credentials_from_file(path: &std::path::Path) -> Result<sigv4::Credentials> {
    let text = SecretBytes::new(
        std::fs::read(path).with_context(|| format!("reading {}", path.display()))?,
    );
    let text = std::str::from_utf8(text.expose()).context("credentials file is not UTF-8")?;
    let mut in_default = false;
    let (mut id, mut secret) = (None, None);
    for line in text.lines().map(str::trim) {
        if line.starts_with('[') {
            in_default = line == "[default]";
            continue;
        }
        if !in_default {
            continue;
        }
        if let Some((k, v)) = line.split_once('=') {
            match k.trim() {
                "aws_access_key_id" => id = Some(v.trim().to_string()),
                "aws_secret_access_key" => {
                    secret = Some(SecretBytes::from_slice(v.trim().as_bytes()))
                }
                _ => {}
            }
        }
    }
    match (id, secret) {
        (Some(id), Some(secret)) => Ok(sigv4::Credentials::new(id, secret)),
        _ => bail!("{} has no [default] profile with both keys", path.display()),
    }
}
