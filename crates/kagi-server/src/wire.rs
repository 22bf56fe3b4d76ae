//! AWS JSON 1.1 value encodings: base64 blobs, epoch-second timestamps, and the
//! request-body parser that maps every JSON failure to `SerializationException`.

use crate::error::{json_error, ApiError};
use base64::Engine;
use kagi_crypto::SecretBytes;
use kagi_kms::Timestamp;
use serde::de::{DeserializeOwned, Error as _};
use serde::{Deserialize, Deserializer};

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// Parses a request body; an empty body is `{}`, as AWS accepts.
pub fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    let body = if body.iter().all(u8::is_ascii_whitespace) {
        b"{}".as_slice()
    } else {
        body
    };
    serde_json::from_slice(body).map_err(|e| json_error(&e))
}

pub fn encode(bytes: &[u8]) -> String {
    B64.encode(bytes)
}

pub fn timestamp(t: Timestamp) -> f64 {
    t.epoch_seconds()
}

fn decode_b64<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
    let s = std::borrow::Cow::<'de, str>::deserialize(d)?;
    B64.decode(s.as_bytes())
        .map_err(|_| D::Error::custom("invalid base64"))
}

/// A base64 blob field (`CiphertextBlob`).
pub fn blob<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
    decode_b64(d)
}

/// An optional base64 blob field.
pub fn opt_blob<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<u8>>, D::Error> {
    Ok(Some(decode_b64(d)?))
}

/// A secret base64 field (`Plaintext`): decoded straight into zeroizing memory.
pub fn secret<'de, D: Deserializer<'de>>(d: D) -> Result<Option<SecretBytes>, D::Error> {
    let s = std::borrow::Cow::<'de, str>::deserialize(d)?;
    let mut out = SecretBytes::new(vec![0u8; s.len() / 4 * 3 + 3]).into_exposed();
    match B64.decode_slice(s.as_bytes(), &mut out) {
        Ok(n) => {
            out.truncate(n);
            Ok(Some(SecretBytes::new(out)))
        }
        Err(_) => {
            drop(SecretBytes::new(out)); // wipes whatever was decoded
            Err(D::Error::custom("invalid base64"))
        }
    }
}
