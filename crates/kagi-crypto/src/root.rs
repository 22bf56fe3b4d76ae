//! The root key and the versioned *wrapped secret* format.
//!
//! Everything secret that Kagi persists (backing keys of KMS keys, access-key secrets) is
//! stored only in this form, sealed under the root key with AES-256-GCM and bound to a
//! caller-chosen context (for a backing key: region, key id and version), so a wrapped value
//! cannot be moved to another row without failing authentication.
//!
//! Wrapped secret, format 1 (see docs/formats.md):
//! `0x01 | nonce (12) | ciphertext | tag (16)`.
//!
//! Where the root key itself comes from (a file, a passphrase, an HSM) is not this module's
//! business: see the root-key providers in the `kagi` binary.

use crate::{CryptoError, Rng, SecretBytes, SECRET_KEY_LEN};
use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};

const WRAP_FORMAT_V1: u8 = 1;
const TAG_LEN: usize = 16;

/// The 256-bit key at the top of Kagi's key hierarchy.
pub struct RootKey {
    key: LessSafeKey,
    fingerprint: [u8; 16],
}

impl RootKey {
    /// Builds the root key from 32 secret bytes.
    pub fn from_secret(secret: &SecretBytes) -> Result<Self, CryptoError> {
        if secret.len() != SECRET_KEY_LEN {
            return Err(CryptoError::KeyLength);
        }
        let unbound =
            UnboundKey::new(&AES_256_GCM, secret.expose()).map_err(|_| CryptoError::KeyLength)?;
        let mac = crate::digest::hmac_sha256(secret.expose(), b"kagi root key fingerprint v1");
        let mut fingerprint = [0u8; 16];
        fingerprint.copy_from_slice(&mac[..16]);
        Ok(Self {
            key: LessSafeKey::new(unbound),
            fingerprint,
        })
    }

    /// A public, non-secret identifier of this root key (HMAC of a constant), stored next to
    /// the data so that starting with the wrong root key fails loudly instead of corrupting.
    pub fn fingerprint(&self) -> [u8; 16] {
        self.fingerprint
    }

    /// Seals `secret` bound to `context`.
    pub fn wrap(
        &self,
        rng: &dyn Rng,
        context: &[u8],
        secret: &SecretBytes,
    ) -> Result<Vec<u8>, CryptoError> {
        let mut nonce = [0u8; NONCE_LEN];
        rng.fill(&mut nonce)?;
        let mut out = Vec::with_capacity(1 + NONCE_LEN + secret.len() + TAG_LEN);
        out.push(WRAP_FORMAT_V1);
        out.extend_from_slice(&nonce);
        let body_start = out.len();
        out.extend_from_slice(secret.expose());
        let tag = self
            .key
            .seal_in_place_separate_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(context),
                &mut out[body_start..],
            )
            .map_err(|_| CryptoError::AuthenticationFailed)?;
        out.extend_from_slice(tag.as_ref());
        Ok(out)
    }

    /// Opens a value produced by [`RootKey::wrap`] with the same `context`.
    pub fn unwrap(&self, context: &[u8], wrapped: &[u8]) -> Result<SecretBytes, CryptoError> {
        let (&format, rest) = wrapped
            .split_first()
            .ok_or(CryptoError::Malformed("empty wrapped secret"))?;
        if format != WRAP_FORMAT_V1 {
            return Err(CryptoError::Malformed("unknown wrapped-secret format"));
        }
        if rest.len() < NONCE_LEN + TAG_LEN {
            return Err(CryptoError::Malformed("wrapped secret too short"));
        }
        let (nonce, sealed) = rest.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce)
            .map_err(|_| CryptoError::Malformed("bad nonce"))?;
        let mut buf = SecretBytes::from_slice(sealed).into_exposed();
        let len = match self.key.open_in_place(nonce, Aad::from(context), &mut buf) {
            Ok(plain) => plain.len(),
            Err(_) => {
                zeroize::Zeroize::zeroize(&mut buf);
                return Err(CryptoError::AuthenticationFailed);
            }
        };
        buf.truncate(len);
        Ok(SecretBytes::new(buf))
    }
}

impl std::fmt::Debug for RootKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RootKey(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SystemRng;

    fn root() -> RootKey {
        RootKey::from_secret(&SecretBytes::new(vec![7u8; 32])).unwrap()
    }

    #[test]
    fn wrap_round_trip_and_context_binding() {
        let rng = SystemRng::new();
        let secret = SecretBytes::from_slice(&[42u8; 32]);
        let w = root().wrap(&rng, b"ctx-a", &secret).unwrap();
        assert_eq!(w.len(), 1 + 12 + 32 + 16);
        assert_eq!(root().unwrap(b"ctx-a", &w).unwrap(), secret);
        assert_eq!(
            root().unwrap(b"ctx-b", &w),
            Err(CryptoError::AuthenticationFailed)
        );
        let other = RootKey::from_secret(&SecretBytes::new(vec![8u8; 32])).unwrap();
        assert_eq!(
            other.unwrap(b"ctx-a", &w),
            Err(CryptoError::AuthenticationFailed)
        );
        assert_ne!(other.fingerprint(), root().fingerprint());
    }

    #[test]
    fn malformed_wrapped_values_are_rejected() {
        assert!(matches!(
            root().unwrap(b"", &[]),
            Err(CryptoError::Malformed(_))
        ));
        assert!(matches!(
            root().unwrap(b"", &[2, 0, 0]),
            Err(CryptoError::Malformed(_))
        ));
        assert!(matches!(
            root().unwrap(b"", &[1; 20]),
            Err(CryptoError::Malformed(_))
        ));
    }

    #[test]
    fn rejects_short_root_key() {
        assert_eq!(
            RootKey::from_secret(&SecretBytes::new(vec![1; 16])).unwrap_err(),
            CryptoError::KeyLength
        );
    }
}
