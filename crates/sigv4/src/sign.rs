//! Signing a request with SigV4 (header form), for Kagi's own clients: the admin CLI, the
//! benchmark and tests. Servers use [`crate::verify`] instead.
//!
//! [`sign`] sets `Host` (from the URI authority when missing), `X-Amz-Date`,
//! `X-Amz-Security-Token` when the credentials carry one, optionally
//! `X-Amz-Content-SHA256`, and `Authorization`. It signs every header present except
//! `Authorization`, `User-Agent` and hop-by-hop headers that proxies may rewrite, so the
//! result is deterministic for a given request and time.
//!
//! It does not sign presigned URLs, streaming (`aws-chunked`) bodies or SigV4a, and it
//! does not read the clock: the signing time is a parameter.

use std::fmt;
use std::time::SystemTime;

use http::header::{HeaderName, HeaderValue, AUTHORIZATION, HOST};
use http::request::Parts;
use kagi_crypto::digest::sha256;
use kagi_crypto::SecretBytes;

use crate::canonical_request::{write_string_to_sign, CanonicalRequest, ALGORITHM};
use crate::date::AmzDate;
use crate::hex::Hex64;
use crate::signing_key::SigningKey;
use crate::verify::{X_AMZ_CONTENT_SHA256, X_AMZ_DATE, X_AMZ_SECURITY_TOKEN};

/// An access key: its id, secret and, for temporary credentials, session token.
#[derive(Clone)]
pub struct Credentials {
    access_key_id: String,
    secret_access_key: SecretBytes,
    session_token: Option<String>,
}

impl Credentials {
    pub fn new(access_key_id: impl Into<String>, secret_access_key: SecretBytes) -> Self {
        Self {
            access_key_id: access_key_id.into(),
            secret_access_key,
            session_token: None,
        }
    }

    /// The same credentials with a session token, sent as `X-Amz-Security-Token`.
    pub fn with_session_token(mut self, session_token: impl Into<String>) -> Self {
        self.session_token = Some(session_token.into());
        self
    }

    pub fn access_key_id(&self) -> &str {
        &self.access_key_id
    }

    pub fn secret_access_key(&self) -> &SecretBytes {
        &self.secret_access_key
    }

    pub fn session_token(&self) -> Option<&str> {
        self.session_token.as_deref()
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"<redacted>")
            .field(
                "session_token",
                &self.session_token.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

/// Where and when to sign, and whether to send the payload hash as a header.
#[derive(Debug, Clone, Copy)]
pub struct SigningParams<'a> {
    pub region: &'a str,
    pub service: &'a str,
    pub time: SystemTime,
    /// Send `X-Amz-Content-SHA256` (S3 requires it; KMS clients do not send it).
    pub content_sha256_header: bool,
}

/// Why a request could not be signed. These are caller mistakes, not request data.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignError {
    #[error("the request has no Host header and its URI has no authority")]
    MissingHost,
    #[error("the {component} is empty or contains '/', ',', '=', ';' or non-visible characters")]
    InvalidScopeComponent { component: &'static str },
    #[error("the value for the {header} header is not a valid header value")]
    InvalidHeaderValue { header: &'static str },
    #[error("the signing time is outside the years 0000 to 9999")]
    TimeOutOfRange,
}

/// Headers never signed: the signature itself, and headers that clients, proxies or load
/// balancers add or rewrite in transit.
const UNSIGNED_HEADERS: &[&str] = &[
    "authorization",
    "user-agent",
    "x-amzn-trace-id",
    "expect",
    "connection",
    "keep-alive",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// Signs `parts` (with body `body`) for `region` and `service` at time `now`, without an
/// `X-Amz-Content-SHA256` header (as KMS clients do).
pub fn sign(
    parts: &mut Parts,
    body: &[u8],
    credentials: &Credentials,
    region: &str,
    service: &str,
    now: SystemTime,
) -> Result<(), SignError> {
    sign_with(
        parts,
        body,
        credentials,
        &SigningParams {
            region,
            service,
            time: now,
            content_sha256_header: false,
        },
    )
}

/// Signs `parts` (with body `body`) as `params` says.
pub fn sign_with(
    parts: &mut Parts,
    body: &[u8],
    credentials: &Credentials,
    params: &SigningParams<'_>,
) -> Result<(), SignError> {
    check_scope_component(credentials.access_key_id(), "access key id")?;
    check_scope_component(params.region, "region")?;
    check_scope_component(params.service, "service")?;
    let date = AmzDate::from_system_time(params.time).map_err(|_| SignError::TimeOutOfRange)?;

    let headers = &mut parts.headers;
    headers.remove(AUTHORIZATION);
    if !headers.contains_key(HOST) {
        let authority = parts.uri.authority().ok_or(SignError::MissingHost)?;
        let host = HeaderValue::from_str(authority.as_str())
            .map_err(|_| SignError::InvalidHeaderValue { header: "host" })?;
        headers.insert(HOST, host);
    }
    headers.insert(X_AMZ_DATE, header_value(date.as_str(), "x-amz-date")?);
    if let Some(token) = credentials.session_token() {
        headers.insert(
            X_AMZ_SECURITY_TOKEN,
            header_value(token, "x-amz-security-token")?,
        );
    }
    let payload_hash = Hex64::encode(&sha256(body));
    if params.content_sha256_header {
        headers.insert(
            X_AMZ_CONTENT_SHA256,
            header_value(payload_hash.as_str(), "x-amz-content-sha256")?,
        );
    }

    let mut names: Vec<&str> = headers
        .keys()
        .map(HeaderName::as_str)
        .filter(|name| !UNSIGNED_HEADERS.contains(name))
        .collect();
    names.sort_unstable();
    let signed_headers = names.join(";");

    let scope = format!(
        "{}/{}/{}/aws4_request",
        date.date_stamp(),
        params.region,
        params.service
    );
    let mut buf = Vec::with_capacity(512);
    let canonical = CanonicalRequest {
        method: parts.method.as_str(),
        path: parts.uri.path(),
        query: parts.uri.query(),
        headers,
        authority: parts.uri.authority().map(|a| a.as_str()),
        signed_headers: &signed_headers,
        payload_hash: payload_hash.as_str(),
    };
    // Every name in the list was just read from the map, so none can be missing.
    canonical
        .write(&mut buf)
        .map_err(|_| SignError::MissingHost)?;
    let canonical_hash = sha256(&buf);
    buf.clear();
    write_string_to_sign(&mut buf, date.as_str(), &scope, &canonical_hash);

    let key = SigningKey::derive(
        credentials.secret_access_key().expose(),
        date.date_stamp(),
        params.region,
        params.service,
    );
    let signature = Hex64::encode(&key.sign(&buf));
    let authorization = format!(
        "{ALGORITHM} Credential={}/{scope}, SignedHeaders={signed_headers}, Signature={}",
        credentials.access_key_id(),
        signature.as_str()
    );
    parts.headers.insert(
        AUTHORIZATION,
        header_value(&authorization, "authorization")?,
    );
    Ok(())
}

fn header_value(value: &str, header: &'static str) -> Result<HeaderValue, SignError> {
    HeaderValue::from_str(value).map_err(|_| SignError::InvalidHeaderValue { header })
}

/// Scope components end up between `/`s in the credential and inside a header whose
/// parameters are separated by commas and spaces, so those characters cannot appear.
fn check_scope_component(value: &str, component: &'static str) -> Result<(), SignError> {
    let valid = !value.is_empty()
        && value
            .bytes()
            .all(|b| b.is_ascii_graphic() && !matches!(b, b'/' | b',' | b'=' | b';'));
    if valid {
        Ok(())
    } else {
        Err(SignError::InvalidScopeComponent { component })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_redacts_secrets() {
        let creds = Credentials::new(
            "AKIDEXAMPLE",
            SecretBytes::from_slice(b"wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"),
        )
        .with_session_token("TOKEN-VALUE");
        let printed = format!("{creds:?}");
        assert!(printed.contains("AKIDEXAMPLE"));
        assert!(!printed.contains("wJalr"));
        assert!(!printed.contains("TOKEN-VALUE"));
    }

    #[test]
    fn scope_components_are_checked() {
        assert!(check_scope_component("us-east-1", "region").is_ok());
        for bad in ["", "us east", "us/east", "a,b", "a=b", "a;b", "é"] {
            assert_eq!(
                check_scope_component(bad, "region"),
                Err(SignError::InvalidScopeComponent {
                    component: "region"
                })
            );
        }
    }
}
