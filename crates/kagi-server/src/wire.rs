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

/// One `application/x-www-form-urlencoded` component: `+` is a space, `%XX` a byte.
fn form_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

/// A query-protocol request body (`Action=AssumeRole&Version=2011-06-15&RoleArn=...`):
/// its `Action`, and its other parameters (not `Version`) as a JSON object of strings, the
/// shape the handlers and the audit allow-lists read.
pub fn form_to_json(body: &[u8]) -> Result<(String, Vec<u8>), ApiError> {
    let text = std::str::from_utf8(body)
        .map_err(|_| ApiError::serialization("The request body is not UTF-8."))?;
    let mut action = None;
    let mut params = serde_json::Map::new();
    for pair in text.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let (Some(k), Some(v)) = (form_decode(k), form_decode(v)) else {
            return Err(ApiError::serialization(
                "The request body is not valid form encoding.",
            ));
        };
        match k.as_str() {
            "Action" => action = Some(v),
            "Version" => {}
            _ => {
                params.insert(k, serde_json::Value::String(v));
            }
        }
    }
    let action = action.ok_or_else(|| ApiError::UnknownOperation {
        message: "Missing Action parameter.".into(),
    })?;
    let json = serde_json::to_vec(&params).map_err(|_| ApiError::Internal)?;
    Ok((action, json))
}

#[cfg(test)]
mod form_tests {
    use super::*;

    #[test]
    fn forms_become_json() {
        let (action, json) = form_to_json(
            b"Action=AssumeRole&Version=2011-06-15&RoleArn=arn%3Aaws%3Aiam%3A%3A1%3Arole%2Fr&RoleSessionName=a+b",
        )
        .unwrap();
        assert_eq!(action, "AssumeRole");
        let v: serde_json::Value = serde_json::from_slice(&json).unwrap();
        assert_eq!(v["RoleArn"], "arn:aws:iam::1:role/r");
        assert_eq!(v["RoleSessionName"], "a b");
        assert!(v.get("Version").is_none());
        assert!(form_to_json(b"Version=1").is_err());
        assert!(form_to_json(b"Action=X&a=%zz").is_err());
        assert!(form_to_json(b"Action=X&a=%4").is_err());
    }
}
