//! The client side of Kagi's administration and audit APIs (`KagiAdmin.*`, `KagiAudit.*`),
//! used by `kagi admin`, `kagi audit` and by tests: one SigV4-signed (service `kagi`) JSON
//! request per call over plain HTTP/1.1; and a minimal STS query-protocol call for tests.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use std::time::SystemTime;

/// Why an admin call failed.
#[derive(Debug, thiserror::Error)]
pub enum AdminClientError {
    #[error("invalid endpoint {0:?}: only http://host:port is supported")]
    Endpoint(String),
    #[error("connecting to {endpoint}: {source}")]
    Connect {
        endpoint: String,
        source: std::io::Error,
    },
    #[error("signing the request: {0}")]
    Sign(#[from] sigv4::SignError),
    #[error("HTTP: {0}")]
    Http(String),
    #[error("the server's answer is not JSON")]
    NotJson,
    /// The server answered with an AWS-shaped error.
    #[error("{code}: {message}")]
    Api { code: String, message: String },
}

/// Where to send admin calls and as whom.
#[derive(Debug)]
pub struct AdminClient {
    pub endpoint: String,
    pub region: String,
    pub credentials: sigv4::Credentials,
}

impl AdminClient {
    /// Calls `KagiAdmin.<operation>` with a JSON body; returns the JSON response.
    pub async fn call(
        &self,
        operation: &str,
        body: serde_json::Value,
    ) -> Result<serde_json::Value, AdminClientError> {
        self.send(
            &format!("{}{operation}", crate::operation::ADMIN_PREFIX),
            body,
        )
        .await
    }

    /// Calls `KagiAudit.<operation>` with a JSON body; returns the JSON response.
    pub async fn call_audit(
        &self,
        operation: &str,
        body: serde_json::Value,
    ) -> Result<serde_json::Value, AdminClientError> {
        self.send(
            &format!("{}{operation}", crate::operation::AUDIT_PREFIX),
            body,
        )
        .await
    }

    /// Calls any JSON 1.1 operation by its full `X-Amz-Target`, signed for `service`
    /// (`kms`, `cloudtrail`, `kagi`); returns the JSON response.
    pub async fn call_target(
        &self,
        target: &str,
        service: &str,
        body: serde_json::Value,
    ) -> Result<serde_json::Value, AdminClientError> {
        self.send_for(target, service, body).await
    }

    /// Calls an STS action (query protocol, SigV4 service `sts`) with form `params`;
    /// returns the HTTP status and the XML answer as text.
    pub async fn call_sts(
        &self,
        action: &str,
        params: &[(&str, &str)],
    ) -> Result<(u16, String), AdminClientError> {
        let mut body = format!("Action={action}&Version=2011-06-15");
        for (k, v) in params {
            body.push('&');
            body.push_str(k);
            body.push('=');
            body.push_str(&sigv4::uri_encode(v));
        }
        let (status, bytes) = self
            .exchange(
                &[("content-type", "application/x-www-form-urlencoded")],
                "sts",
                body.into_bytes(),
            )
            .await?;
        Ok((status, String::from_utf8_lossy(&bytes).into_owned()))
    }

    async fn send(
        &self,
        target: &str,
        body: serde_json::Value,
    ) -> Result<serde_json::Value, AdminClientError> {
        self.send_for(target, "kagi", body).await
    }

    async fn send_for(
        &self,
        target: &str,
        service: &str,
        body: serde_json::Value,
    ) -> Result<serde_json::Value, AdminClientError> {
        let body = serde_json::to_vec(&body).map_err(|_| AdminClientError::NotJson)?;
        let (status, bytes) = self
            .exchange(
                &[
                    ("content-type", "application/x-amz-json-1.1"),
                    ("x-amz-target", target),
                ],
                service,
                body,
            )
            .await?;
        let value: serde_json::Value =
            serde_json::from_slice(&bytes).map_err(|_| AdminClientError::NotJson)?;
        if !(200..300).contains(&status) {
            return Err(AdminClientError::Api {
                code: value["__type"].as_str().unwrap_or("error").to_string(),
                message: value["message"].as_str().unwrap_or("").to_string(),
            });
        }
        Ok(value)
    }

    /// One signed POST to `/`: the status and the body of the answer.
    async fn exchange(
        &self,
        headers: &[(&str, &str)],
        service: &str,
        body: Vec<u8>,
    ) -> Result<(u16, Bytes), AdminClientError> {
        signed_post(
            &self.endpoint,
            "/",
            headers,
            &self.credentials,
            (&self.region, service),
            body,
        )
        .await
    }
}

/// One SigV4-signed POST of `body` to `path` at `endpoint` (`http://host:port`), signed
/// for `scope` (region, service): the status and the body of the answer.
pub async fn signed_post(
    endpoint: &str,
    path: &str,
    headers: &[(&str, &str)],
    credentials: &sigv4::Credentials,
    scope: (&str, &str),
    body: Vec<u8>,
) -> Result<(u16, Bytes), AdminClientError> {
    let bad_endpoint = || AdminClientError::Endpoint(endpoint.to_string());
    let uri: http::Uri = endpoint.parse().map_err(|_| bad_endpoint())?;
    if uri.scheme_str() != Some("http") {
        return Err(bad_endpoint());
    }
    let authority = uri.authority().ok_or_else(bad_endpoint)?.clone();
    let mut builder = http::Request::builder()
        .method("POST")
        .uri(path)
        .header("host", authority.as_str());
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    let req = builder
        .body(())
        .map_err(|e| AdminClientError::Http(e.to_string()))?;
    let (mut parts, ()) = req.into_parts();
    let (region, service) = scope;
    sigv4::sign(
        &mut parts,
        &body,
        credentials,
        region,
        service,
        SystemTime::now(),
    )?;
    let req = http::Request::from_parts(parts, Full::new(Bytes::from(body)));
    let stream = tokio::net::TcpStream::connect(authority.as_str())
        .await
        .map_err(|source| AdminClientError::Connect {
            endpoint: endpoint.to_string(),
            source,
        })?;
    let _ = stream.set_nodelay(true);
    let http = |e: hyper::Error| AdminClientError::Http(e.to_string());
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .map_err(http)?;
    tokio::spawn(conn);
    let resp = sender.send_request(req).await.map_err(http)?;
    let status = resp.status().as_u16();
    let bytes = resp.into_body().collect().await.map_err(http)?.to_bytes();
    Ok((status, bytes))
}
