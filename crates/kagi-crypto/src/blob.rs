//! The ciphertext blob returned by `Encrypt`, `GenerateDataKey` and `ReEncrypt`.
//!
//! Format 1 (documented in docs/formats.md; old formats must decode forever):
//!
//! | offset | length | field                                     |
//! |--------|--------|-------------------------------------------|
//! | 0      | 1      | format version, `0x01`                    |
//! | 1      | 16     | KMS key id (the UUID's 16 bytes)          |
//! | 17     | 4      | backing key version, big-endian           |
//! | 21     | 16     | random salt for the per-message key       |
//! | 37     | 12     | random AES-GCM nonce                      |
//! | 49     | n      | AES-256-GCM ciphertext                    |
//! | 49 + n | 16     | AES-GCM tag                               |
//!
//! The message key is HKDF-SHA-256(salt, backing key, info = "kagi/blob/v1" | key id |
//! version), so no backing key ever encrypts two messages directly and the GCM nonce limits
//! apply per message key, not per KMS key. The AAD is the 49-byte header followed by the
//! canonical encoding of the encryption context: pairs sorted by key (byte order), each as
//! `u32 BE key length | key | u32 BE value length | value`. Any change to the header, the
//! context or the body fails authentication.

use crate::{CryptoError, Rng, SecretBytes, SECRET_KEY_LEN};
use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use aws_lc_rs::hkdf;
use std::collections::BTreeMap;

const FORMAT_V1: u8 = 1;
const SALT_LEN: usize = 16;
const TAG_LEN: usize = 16;
/// Length of the authenticated header of a format-1 blob.
pub const HEADER_LEN: usize = 1 + 16 + 4 + SALT_LEN + NONCE_LEN;
/// Bytes a format-1 blob adds to its plaintext.
pub const OVERHEAD: usize = HEADER_LEN + TAG_LEN;

/// Which key and backing version sealed a blob.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlobHeader {
    pub key_id: [u8; 16],
    pub backing_version: u32,
}

/// A parsed (not yet authenticated) ciphertext blob borrowing the caller's bytes.
#[derive(Debug, Clone, Copy)]
pub struct CiphertextBlob<'a> {
    pub header: BlobHeader,
    raw: &'a [u8],
}

impl<'a> CiphertextBlob<'a> {
    /// Parses the framing of `raw`. This authenticates nothing: it only finds out which key
    /// and version to try. Never panics, whatever the input.
    pub fn parse(raw: &'a [u8]) -> Result<Self, CryptoError> {
        let (&format, _) = raw
            .split_first()
            .ok_or(CryptoError::Malformed("empty ciphertext"))?;
        if format != FORMAT_V1 {
            return Err(CryptoError::Malformed("unknown ciphertext format"));
        }
        if raw.len() < OVERHEAD {
            return Err(CryptoError::Malformed("ciphertext too short"));
        }
        let mut key_id = [0u8; 16];
        key_id.copy_from_slice(&raw[1..17]);
        let mut version = [0u8; 4];
        version.copy_from_slice(&raw[17..21]);
        Ok(Self {
            header: BlobHeader {
                key_id,
                backing_version: u32::from_be_bytes(version),
            },
            raw,
        })
    }
}

/// One version of a KMS key's secret material (256 bits).
#[derive(Clone)]
pub struct BackingKey(SecretBytes);

impl BackingKey {
    /// Generates fresh key material.
    pub fn generate(rng: &dyn Rng) -> Result<Self, CryptoError> {
        let mut bytes = vec![0u8; SECRET_KEY_LEN];
        rng.fill(&mut bytes)?;
        Ok(Self(SecretBytes::new(bytes)))
    }

    pub fn from_secret(secret: SecretBytes) -> Result<Self, CryptoError> {
        if secret.len() != SECRET_KEY_LEN {
            return Err(CryptoError::KeyLength);
        }
        Ok(Self(secret))
    }

    pub fn secret(&self) -> &SecretBytes {
        &self.0
    }

    fn message_key(&self, header: &[u8]) -> Result<LessSafeKey, CryptoError> {
        let salt = hkdf::Salt::new(hkdf::HKDF_SHA256, &header[21..21 + SALT_LEN]);
        let prk = salt.extract(self.0.expose());
        let info: [&[u8]; 2] = [b"kagi/blob/v1", &header[1..21]];
        let okm = prk
            .expand(&info, &AES_256_GCM)
            .map_err(|_| CryptoError::KeyLength)?;
        Ok(LessSafeKey::new(UnboundKey::from(okm)))
    }

    /// Encrypts `plaintext` under this backing key into a format-1 blob.
    pub fn seal(
        &self,
        rng: &dyn Rng,
        header: BlobHeader,
        context: &BTreeMap<String, String>,
        plaintext: &[u8],
    ) -> Result<Vec<u8>, CryptoError> {
        let mut out = Vec::with_capacity(OVERHEAD + plaintext.len());
        out.push(FORMAT_V1);
        out.extend_from_slice(&header.key_id);
        out.extend_from_slice(&header.backing_version.to_be_bytes());
        let mut random = [0u8; SALT_LEN + NONCE_LEN];
        rng.fill(&mut random)?;
        out.extend_from_slice(&random);
        let key = self.message_key(&out)?;
        let mut aad = out.clone();
        encode_context(context, &mut aad);
        let nonce = Nonce::try_assume_unique_for_key(&out[HEADER_LEN - NONCE_LEN..HEADER_LEN])
            .map_err(|_| CryptoError::Malformed("bad nonce"))?;
        out.extend_from_slice(plaintext);
        let tag = key
            .seal_in_place_separate_tag(nonce, Aad::from(&aad), &mut out[HEADER_LEN..])
            .map_err(|_| CryptoError::AuthenticationFailed)?;
        out.extend_from_slice(tag.as_ref());
        Ok(out)
    }

    /// Decrypts a blob sealed by this backing key with the same encryption context.
    pub fn open(
        &self,
        blob: &CiphertextBlob<'_>,
        context: &BTreeMap<String, String>,
    ) -> Result<SecretBytes, CryptoError> {
        let raw = blob.raw;
        let header = &raw[..HEADER_LEN];
        let key = self.message_key(header)?;
        let mut aad = header.to_vec();
        encode_context(context, &mut aad);
        let nonce = Nonce::try_assume_unique_for_key(&header[HEADER_LEN - NONCE_LEN..])
            .map_err(|_| CryptoError::Malformed("bad nonce"))?;
        let mut buf = raw[HEADER_LEN..].to_vec();
        let len = match key.open_in_place(nonce, Aad::from(&aad), &mut buf) {
            Ok(plain) => plain.len(),
            Err(_) => return Err(CryptoError::AuthenticationFailed),
        };
        buf.truncate(len);
        Ok(SecretBytes::new(buf))
    }
}

impl std::fmt::Debug for BackingKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BackingKey(<redacted>)")
    }
}

/// Appends the canonical encoding of an encryption context (see the module docs).
pub fn encode_context(context: &BTreeMap<String, String>, out: &mut Vec<u8>) {
    for (k, v) in context {
        out.extend_from_slice(&(k.len() as u32).to_be_bytes());
        out.extend_from_slice(k.as_bytes());
        out.extend_from_slice(&(v.len() as u32).to_be_bytes());
        out.extend_from_slice(v.as_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{DeterministicRng, SystemRng};
    use proptest::prelude::*;

    fn ctx(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    const HDR: BlobHeader = BlobHeader {
        key_id: [9; 16],
        backing_version: 3,
    };

    #[test]
    fn round_trip_and_header() {
        let rng = SystemRng::new();
        let k = BackingKey::generate(&rng).unwrap();
        let c = ctx(&[("purpose", "test")]);
        let blob = k.seal(&rng, HDR, &c, b"hello").unwrap();
        assert_eq!(blob.len(), OVERHEAD + 5);
        let parsed = CiphertextBlob::parse(&blob).unwrap();
        assert_eq!(parsed.header, HDR);
        assert_eq!(k.open(&parsed, &c).unwrap().expose(), b"hello");
    }

    // AWS's largest plaintext (4096 bytes) must fit AWS's ciphertext limit (6144 bytes).
    const _: () = assert!(4096 + OVERHEAD <= 6144);

    #[test]
    fn context_is_bound() {
        let rng = SystemRng::new();
        let k = BackingKey::generate(&rng).unwrap();
        let blob = k.seal(&rng, HDR, &ctx(&[("a", "1")]), b"x").unwrap();
        let parsed = CiphertextBlob::parse(&blob).unwrap();
        for bad in [ctx(&[]), ctx(&[("a", "2")]), ctx(&[("a", "1"), ("b", "")])] {
            assert_eq!(
                k.open(&parsed, &bad).unwrap_err(),
                CryptoError::AuthenticationFailed
            );
        }
        // Pair boundaries are unambiguous: ("ab","c") differs from ("a","bc").
        let blob = k.seal(&rng, HDR, &ctx(&[("ab", "c")]), b"x").unwrap();
        let parsed = CiphertextBlob::parse(&blob).unwrap();
        assert!(k.open(&parsed, &ctx(&[("a", "bc")])).is_err());
    }

    #[test]
    fn known_answer_is_stable() {
        // Format 1 must decode forever: this vector pins the derivation and layout.
        let rng = DeterministicRng::dangerous_for_tests_only(1);
        let k = BackingKey::from_secret(SecretBytes::new(vec![0x11; 32])).unwrap();
        let blob = k.seal(&rng, HDR, &ctx(&[("k", "v")]), b"kagi").unwrap();
        let hex: String = blob.iter().map(|b| format!("{b:02x}")).collect();
        let parsed = CiphertextBlob::parse(&blob).unwrap();
        assert_eq!(
            k.open(&parsed, &ctx(&[("k", "v")])).unwrap().expose(),
            b"kagi"
        );
        assert_eq!(hex, KNOWN_BLOB_HEX);
    }
    const KNOWN_BLOB_HEX: &str = "0109090909090909090909090909090909000000033d0ad12b8ee8928edf248ca91ca55600fb383f07c32bff1d6dec472bd6ff5c5ebf6747aa36adb664ba30c66730e6e9bc";

    proptest! {
        #[test]
        fn parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = CiphertextBlob::parse(&bytes);
        }

        #[test]
        fn any_bit_flip_is_detected(pos in 0usize..(OVERHEAD + 8), bit in 0u8..8) {
            let rng = SystemRng::new();
            let k = BackingKey::generate(&rng).unwrap();
            let c = ctx(&[]);
            let mut blob = k.seal(&rng, HDR, &c, b"12345678").unwrap();
            blob[pos] ^= 1 << bit;
            let ok = match CiphertextBlob::parse(&blob) {
                Ok(p) => k.open(&p, &c).is_ok(),
                Err(_) => false,
            };
            prop_assert!(!ok);
        }

        #[test]
        fn truncation_is_detected(cut in 0usize..(OVERHEAD + 8)) {
            let rng = SystemRng::new();
            let k = BackingKey::generate(&rng).unwrap();
            let c = ctx(&[]);
            let blob = k.seal(&rng, HDR, &c, b"12345678").unwrap();
            let ok = match CiphertextBlob::parse(&blob[..cut]) {
                Ok(p) => k.open(&p, &c).is_ok(),
                Err(_) => false,
            };
            prop_assert!(!ok);
        }
    }
}
