//! The only crate in Kagi that touches the cryptographic library (aws-lc-rs).
//!
//! It offers exactly what the rest of the workspace needs and nothing more:
//! - [`secret`]: zeroizing containers for key material and plaintext that never print;
//! - [`rng`]: the injected randomness source ([`Rng`]), real or deterministic for tests;
//! - [`digest`]: SHA-256, HMAC-SHA-256 and constant-time comparison (for SigV4);
//! - [`root`]: the root key and the versioned "wrapped secret" format used for everything
//!   Kagi keeps on disk under it (backing keys, access-key secrets);
//! - [`blob`]: the versioned, self-describing ciphertext blob returned by `Encrypt`;
//! - [`sign`]: Ed25519 signing keys and verification (the audit log's checkpoints);
//! - [`rsa`]: RSA SHA-256 (PKCS#1 v1.5) signing keys and verification (CloudTrail digest
//!   files).
//!
//! It deliberately knows nothing about KMS keys, states, stores or HTTP.

pub mod blob;
pub mod digest;
pub mod rng;
pub mod root;
pub mod rsa;
pub mod secret;
pub mod sign;

pub use blob::{BackingKey, BlobHeader, CiphertextBlob};
pub use rng::{DeterministicRng, Rng, SystemRng};
pub use root::RootKey;
pub use rsa::{verify_rsa_sha256, RsaSigningKey};
pub use secret::{SecretBytes, SECRET_KEY_LEN};
pub use sign::{verify_ed25519, Ed25519SigningKey};

/// Why a cryptographic operation failed. The variants carry no secret data.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CryptoError {
    /// Authentication failed: wrong key, wrong context, or tampered bytes.
    #[error("authentication failed")]
    AuthenticationFailed,
    /// The bytes are not a ciphertext of a format this build understands.
    #[error("malformed ciphertext: {0}")]
    Malformed(&'static str),
    /// The system random source failed.
    #[error("random source failure")]
    Random,
    /// A key had the wrong length.
    #[error("invalid key length")]
    KeyLength,
}
