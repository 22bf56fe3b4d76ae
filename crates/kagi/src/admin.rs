//! `kagi admin`: a small client for the server's `KagiAdmin.*` API, signed with SigV4
//! (service `kagi`) using an admin access key.

use anyhow::{anyhow, bail, Context, Result};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use kagi_crypto::SecretBytes;
use std::time::SystemTime;

/// Where to send admin calls and as whom.
#[derive(Debug)]
pub struct AdminClient {
    pub endpoint: String,
    pub region: String,
    pub credentials: sigv4::Credentials,
}

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

impl AdminClient {
    /// Calls `KagiAdmin.<operation>` with a JSON body; returns the JSON response.
    pub async fn call(
        &self,
        operation: &str,
        body: serde_json::Value,
    ) -> Result<serde_json::Value> {
        let uri: http::Uri = self.endpoint.parse().context("invalid endpoint URL")?;
        if uri.scheme_str() != Some("http") {
            bail!("only http:// endpoints are supported by kagi admin");
        }
        let authority = uri
            .authority()
            .ok_or_else(|| anyhow!("endpoint has no host"))?
            .clone();
        let body = serde_json::to_vec(&body)?;
        let req = http::Request::builder()
            .method("POST")
            .uri("/")
            .header("host", authority.as_str())
            .header("content-type", "application/x-amz-json-1.1")
            .header("x-amz-target", format!("KagiAdmin.{operation}"))
            .body(())?;
        let (mut parts, ()) = req.into_parts();
        sigv4::sign(
            &mut parts,
            &body,
            &self.credentials,
            &self.region,
            "kagi",
            SystemTime::now(),
        )?;
        let req = http::Request::from_parts(parts, Full::new(Bytes::from(body)));
        let stream = tokio::net::TcpStream::connect(authority.as_str())
            .await
            .with_context(|| format!("connecting to {authority}"))?;
        let (mut sender, conn) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await?;
        tokio::spawn(conn);
        let resp = sender.send_request(req).await?;
        let status = resp.status();
        let bytes = resp.into_body().collect().await?.to_bytes();
        let value: serde_json::Value =
            serde_json::from_slice(&bytes).context("the server's answer is not JSON")?;
        if !status.is_success() {
            bail!(
                "{}: {}",
                value["__type"].as_str().unwrap_or("error"),
                value["message"].as_str().unwrap_or("")
            );
        }
        Ok(value)
    }
}
