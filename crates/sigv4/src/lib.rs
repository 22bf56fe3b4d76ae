//! AWS Signature Version 4 over `http` types: parsing and verifying signed requests (the
//! server side), signing requests (Kagi's own clients), signing keys and their cache.
//!
//! A server authenticates a request in two steps, looking the access key up in between:
//!
//! ```
//! # use std::time::{Duration, SystemTime};
//! # use kagi_crypto::SecretBytes;
//! # fn lookup_secret(_akid: &str) -> Result<SecretBytes, ()> { Ok(SecretBytes::from_slice(b"secret")) }
//! # fn demo(parts: &http::request::Parts, body: &[u8], cache: &sigv4::SigningKeyCache)
//! #     -> Result<(), sigv4::SigV4Error> {
//! let now = SystemTime::now(); // the server's injected clock
//! let request = sigv4::parse_request(parts, now, sigv4::DEFAULT_MAX_SKEW)?;
//! request.require_scope("us-east-1", "kms")?;
//! let Ok(key) = cache.get_or_derive(
//!     request.access_key_id(), request.date(), request.region(), request.service(),
//!     || lookup_secret(request.access_key_id()),
//! ) else {
//!     return Ok(()); // unknown access key: the edge answers UnrecognizedClientException
//! };
//! request.verify(&key, parts, body)?;
//! # Ok(()) }
//! ```
//!
//! Everything here is pure: no I/O and no clock reads (time is a parameter). Error values
//! carry AWS's exception names and message shapes; rendering them is the HTTP edge's job.
//! Not supported: presigned URLs, `aws-chunked` streaming bodies, SigV4a, S3's
//! single-encoding path rules.

mod authorization;
mod canonical_request;
pub mod date;
mod error;
mod hex;
mod sign;
mod signing_key;
mod verify;

pub use canonical_request::uri_encode;
pub use date::{AmzDate, InvalidDate};
pub use error::SigV4Error;
pub use sign::{sign, sign_with, Credentials, SignError, SigningParams};
pub use signing_key::{SigningKey, SigningKeyCache};
pub use verify::{parse_request, SignedRequest, DEFAULT_MAX_SKEW};
