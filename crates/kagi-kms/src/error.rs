//! The domain's error type. Each variant maps to exactly one AWS KMS exception name; the
//! mapping to `__type` and HTTP status lives in one `match` at the HTTP edge.
//!
//! Messages follow AWS's shapes and never contain key material or plaintext.

use crate::{KeyState, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum KmsError {
    /// `NotFoundException`.
    #[error("{message}")]
    NotFound { message: String },
    /// `DisabledException`: the key is disabled.
    #[error("{arn} is disabled.")]
    Disabled { arn: String },
    /// `KMSInvalidStateException`: the key's state does not allow the operation.
    #[error("{arn} is {}.", state_phrase(*.state))]
    InvalidState { arn: String, state: KeyState },
    /// `KMSInvalidStateException` for CancelKeyDeletion on a key not pending deletion.
    #[error("{arn} is not pending deletion.")]
    NotPendingDeletion { arn: String },
    /// `InvalidCiphertextException`: the blob is malformed, tampered with, or the
    /// encryption context differs. Deliberately says nothing more.
    #[error(
        "The ciphertext is invalid, was tampered with, or its encryption context does not match."
    )]
    InvalidCiphertext,
    /// `IncorrectKeyException`: Decrypt/ReEncrypt named a key that did not encrypt the blob.
    #[error(
        "The key ID in the request does not identify a KMS key that can perform this operation."
    )]
    IncorrectKey,
    /// `InvalidKeyUsageException`.
    #[error("{message}")]
    InvalidKeyUsage { message: String },
    /// `AlreadyExistsException`.
    #[error("An alias with the name {alias_arn} already exists")]
    AliasAlreadyExists { alias_arn: String },
    /// `NotAuthorizedException`: reserved alias names.
    #[error("Alias names that begin with alias/aws/ are reserved for AWS managed keys.")]
    ReservedAlias,
    /// `ValidationException`.
    #[error("{message}")]
    Validation { message: String },

    /// Refused by the key policy, the caller's identity policies, or both.
    #[error("{message}")]
    AccessDenied { message: String },

    #[error("{message}")]
    MalformedPolicyDocument { message: String },
    /// `InvalidGrantTokenException`: a grant token that Kagi did not issue, or that was
    /// altered. Never quotes the token (it is a credential).
    #[error("The grant token is not valid.")]
    InvalidGrantToken,
    /// `InvalidGrantIdException`: a grant id that is not of the form Kagi issues.
    #[error("Invalid grant id: {grant_id}")]
    InvalidGrantId { grant_id: String },
    /// `InvalidMarkerException`.
    #[error("Invalid marker: {marker}")]
    InvalidMarker { marker: String },
    /// `TagException`.
    #[error("{message}")]
    Tag { message: String },
    /// `LimitExceededException`.
    #[error("{message}")]
    LimitExceeded { message: String },
    /// `UnsupportedOperationException`: valid AWS input Kagi does not implement yet.
    #[error("{message}")]
    Unsupported { message: String },
    /// `CustomKeyStoreNotFoundException`.
    #[error("Custom key store {id} does not exist.")]
    CustomKeyStoreNotFound { id: String },
    /// `DryRunOperationException`.
    #[error("The request would have succeeded, but the DryRun option is set.")]
    DryRun,
    /// `DependencyTimeoutException`: the store cannot be reached (retryable). The field is
    /// the store's reason, for operators' logs; clients see only the fixed message.
    #[error("The service cannot reach its key store right now. Retry the request.")]
    StoreUnavailable(String),
    /// `KMSInternalException`: a store or crypto failure. Details go to the log, the client
    /// gets the request id.
    #[error("internal error: {0}")]
    Internal(#[from] InternalError),
}

/// What went wrong inside; logged, never shown to clients.
#[derive(Debug, thiserror::Error)]
pub enum InternalError {
    #[error("store: {0}")]
    Store(#[from] StoreError),
    #[error("crypto: {0}")]
    Crypto(#[from] kagi_crypto::CryptoError),
    #[error("stored key {key} is corrupt: {what}")]
    CorruptKey { key: String, what: &'static str },
}

impl From<StoreError> for KmsError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unavailable(why) => KmsError::StoreUnavailable(why),
            e => KmsError::Internal(InternalError::Store(e)),
        }
    }
}

impl KmsError {
    pub fn validation(message: impl Into<String>) -> Self {
        KmsError::Validation {
            message: message.into(),
        }
    }
    pub fn unsupported(message: impl Into<String>) -> Self {
        KmsError::Unsupported {
            message: message.into(),
        }
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        KmsError::NotFound {
            message: message.into(),
        }
    }
    pub(crate) fn crypto(e: kagi_crypto::CryptoError) -> Self {
        KmsError::Internal(InternalError::Crypto(e))
    }

    /// The AWS exception name (`__type`) for this error.
    pub fn aws_code(&self) -> &'static str {
        match self {
            KmsError::NotFound { .. } => "NotFoundException",
            KmsError::Disabled { .. } => "DisabledException",
            KmsError::InvalidState { .. } | KmsError::NotPendingDeletion { .. } => {
                "KMSInvalidStateException"
            }
            KmsError::InvalidCiphertext => "InvalidCiphertextException",
            KmsError::IncorrectKey => "IncorrectKeyException",
            KmsError::InvalidKeyUsage { .. } => "InvalidKeyUsageException",
            KmsError::AliasAlreadyExists { .. } => "AlreadyExistsException",
            KmsError::ReservedAlias => "NotAuthorizedException",
            KmsError::Validation { .. } => "ValidationException",
            KmsError::AccessDenied { .. } => "AccessDeniedException",
            KmsError::MalformedPolicyDocument { .. } => "MalformedPolicyDocumentException",
            KmsError::InvalidGrantToken => "InvalidGrantTokenException",
            KmsError::InvalidGrantId { .. } => "InvalidGrantIdException",
            KmsError::InvalidMarker { .. } => "InvalidMarkerException",
            KmsError::Tag { .. } => "TagException",
            KmsError::LimitExceeded { .. } => "LimitExceededException",
            KmsError::Unsupported { .. } => "UnsupportedOperationException",
            KmsError::CustomKeyStoreNotFound { .. } => "CustomKeyStoreNotFoundException",
            KmsError::DryRun => "DryRunOperationException",
            KmsError::StoreUnavailable(_) => "DependencyTimeoutException",
            KmsError::Internal(_) => "KMSInternalException",
        }
    }
}

fn state_phrase(state: KeyState) -> &'static str {
    match state {
        KeyState::Enabled => "enabled",
        KeyState::Disabled => "disabled",
        KeyState::PendingDeletion => "pending deletion",
    }
}
