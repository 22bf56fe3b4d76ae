//! Every error a client can see, and the one place they become AWS-shaped responses:
//! `{"__type": "<ExceptionName>", "message": "..."}` with AWS's HTTP status.
//!
//! Internal failures are logged with the request id and reach the client only as
//! `KMSInternalException` naming that id.

use kagi_kms::KmsError;
use sigv4::SigV4Error;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error(transparent)]
    Kms(#[from] KmsError),
    #[error(transparent)]
    Signature(#[from] SigV4Error),
    /// The access key id is unknown or inactive, or a session token is not one Kagi issued.
    #[error("The security token included in the request is invalid.")]
    UnrecognizedClient,
    /// Temporary credentials past their expiration.
    #[error("The security token included in the request is expired")]
    ExpiredToken,
    /// The credential scope names another service.
    #[error("Credential should be scoped to correct service: '{expected}'.")]
    WrongService { expected: &'static str },
    /// The credential scope names a region that is not a region.
    #[error("Credential should be scoped to a valid region.")]
    InvalidRegion,
    /// Unknown or missing `X-Amz-Target`.
    #[error("{message}")]
    UnknownOperation { message: String },
    /// The body is not JSON of the expected shape (a message without any request data).
    #[error("{message}")]
    Serialization { message: String },
    /// The body exceeds the limit.
    #[error("Request body exceeds the maximum size of {limit} bytes.")]
    BodyTooLarge { limit: usize },
    /// The client did not send its body in time.
    #[error("The request body was not received in time.")]
    RequestTimeout,
    /// An admin operation by a non-admin principal.
    #[error("User: {arn} is not authorized to perform: {action}")]
    AccessDenied { arn: String, action: String },
    /// The readiness probe could not reach the store.
    #[error("The key store is unavailable.")]
    StoreUnavailable,
    /// The audit log cannot be written: Kagi refuses to serve unaudited.
    #[error("The audit log cannot be written, so Kagi is refusing requests until it can record them. Retry later.")]
    AuditUnavailable,
    /// A live node of the cluster did not answer a lookup that must cover every node's
    /// log: refused rather than answered with a hole in the history.
    #[error("Node {node} of this cluster did not answer, so the answer would be incomplete. Retry later.")]
    PeerUnavailable { node: String },
    /// A CloudTrail API error (`Invalid*Exception`), with its message.
    #[error("{message}")]
    CloudTrail { code: &'static str, message: String },
    /// A bad argument to Kagi's audit API.
    #[error("{0}")]
    AuditValidation(String),
    /// No event with the id asked for (or not yet covered by a checkpoint).
    #[error("{0}")]
    AuditNotFound(String),
    /// A blocking task died (a bug); details are in the log.
    #[error("internal error")]
    Internal,
}

impl ApiError {
    pub fn serialization(message: impl Into<String>) -> Self {
        ApiError::Serialization {
            message: message.into(),
        }
    }

    pub fn aws_code(&self) -> &'static str {
        match self {
            ApiError::Kms(e) => e.aws_code(),
            ApiError::Signature(e) => e.aws_error_code(),
            ApiError::UnrecognizedClient => "UnrecognizedClientException",
            ApiError::ExpiredToken => "ExpiredTokenException",
            ApiError::WrongService { .. } | ApiError::InvalidRegion => "InvalidSignatureException",
            ApiError::UnknownOperation { .. } => "UnknownOperationException",
            ApiError::Serialization { .. } => "SerializationException",
            ApiError::BodyTooLarge { .. } => "RequestEntityTooLargeException",
            ApiError::AccessDenied { .. } => "AccessDeniedException",
            ApiError::RequestTimeout => "RequestTimeoutException",
            ApiError::StoreUnavailable
            | ApiError::AuditUnavailable
            | ApiError::PeerUnavailable { .. } => "DependencyTimeoutException",
            ApiError::CloudTrail { code, .. } => code,
            ApiError::AuditValidation(_) => "ValidationException",
            ApiError::AuditNotFound(_) => "NotFoundException",
            ApiError::Internal => "KMSInternalException",
        }
    }

    pub fn status(&self) -> u16 {
        match self {
            ApiError::Kms(KmsError::Internal(_)) | ApiError::Internal => 500,
            ApiError::BodyTooLarge { .. } => 413,
            ApiError::RequestTimeout => 408,
            ApiError::StoreUnavailable
            | ApiError::AuditUnavailable
            | ApiError::PeerUnavailable { .. }
            | ApiError::Kms(KmsError::StoreUnavailable(_)) => 503,
            ApiError::Signature(SigV4Error::MissingAuthentication) => 403,
            _ => 400,
        }
    }

    /// The message clients see. Internal details are replaced by the request id.
    pub fn client_message(&self, request_id: &str) -> String {
        match self {
            ApiError::Kms(KmsError::Internal(_)) | ApiError::Internal => format!(
                "The request could not be completed because of an internal error. Request id: {request_id}"
            ),
            other => other.to_string(),
        }
    }

    /// The error code and HTTP status of the AWS query protocol (STS): its own names for
    /// the common errors, otherwise the exception name without `Exception`.
    pub fn query_code_and_status(&self) -> (&'static str, u16) {
        match self.aws_code() {
            "AccessDeniedException" => ("AccessDenied", 403),
            "ValidationException" | "SerializationException" => ("ValidationError", 400),
            "MalformedPolicyDocumentException" => ("MalformedPolicyDocument", 400),
            "UnrecognizedClientException" => ("InvalidClientTokenId", 403),
            "InvalidSignatureException" => ("SignatureDoesNotMatch", 403),
            "ExpiredTokenException" => ("ExpiredToken", 400),
            "MissingAuthenticationTokenException" => ("MissingAuthenticationToken", 403),
            "IncompleteSignatureException" => ("IncompleteSignature", 400),
            "UnknownOperationException" => ("InvalidAction", 400),
            "NotFoundException" => ("NoSuchEntity", 404),
            "KMSInternalException" => ("InternalFailure", 500),
            other => (
                other.strip_suffix("Exception").unwrap_or(other),
                self.status(),
            ),
        }
    }

    /// Renders the query protocol's XML error body.
    pub fn xml_body(&self, request_id: &str) -> Vec<u8> {
        use crate::ops::sts::{xml_escape, STS_NAMESPACE};
        let (code, status) = self.query_code_and_status();
        let kind = if status >= 500 { "Receiver" } else { "Sender" };
        format!(
            "<ErrorResponse xmlns=\"{STS_NAMESPACE}\"><Error><Type>{kind}</Type><Code>{code}</Code>\
             <Message>{}</Message></Error><RequestId>{}</RequestId></ErrorResponse>",
            xml_escape(&self.client_message(request_id)),
            xml_escape(request_id)
        )
        .into_bytes()
    }

    /// Renders the JSON error body.
    pub fn body(&self, request_id: &str) -> Vec<u8> {
        serde_json::to_vec(&serde_json::json!({
            "__type": self.aws_code(),
            "message": self.client_message(request_id),
        }))
        .unwrap_or_default()
    }
}

/// Turns a JSON parse failure into a `SerializationException` whose message locates the
/// problem without echoing any of the request's bytes (they may be secret).
pub fn json_error(e: &serde_json::Error) -> ApiError {
    use serde_json::error::Category;
    let what = match e.classify() {
        Category::Syntax | Category::Io => "Malformed JSON",
        Category::Eof => "Unexpected end of JSON input",
        Category::Data => "A value has the wrong type or format",
    };
    ApiError::serialization(format!("{what} at line {} column {}", e.line(), e.column()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_errors_do_not_leak() {
        let e = ApiError::Kms(KmsError::Internal(kagi_kms::InternalError::Store(
            kagi_kms::StoreError::Backend("disk I/O error at /secret/path".into()),
        )));
        let body = String::from_utf8(e.body("req-1")).unwrap();
        assert!(body.contains("KMSInternalException"));
        assert!(body.contains("req-1"));
        assert!(!body.contains("/secret/path"));
        assert_eq!(e.status(), 500);
    }

    #[test]
    fn json_errors_do_not_echo_input() {
        let err = serde_json::from_str::<std::collections::HashMap<String, i64>>(
            r#"{"Plaintext": "c2VjcmV0"}"#,
        )
        .unwrap_err();
        let msg = json_error(&err).to_string();
        assert!(!msg.contains("c2VjcmV0"), "{msg}");
    }
}
