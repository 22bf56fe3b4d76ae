//! Ed25519 signatures (RFC 8032), for the audit log's signed checkpoints.
//!
//! [`Ed25519SigningKey`] is generated from the injected [`Rng`] (so tests are reproducible),
//! exports its 32-byte seed only as [`SecretBytes`] (for the caller to wrap under the root
//! key), signs, and exposes its 32-byte public key. [`verify_ed25519`] checks a signature
//! against a raw public key.
//!
//! Deliberately not here: PKCS#8 or PEM encodings, Ed25519ph/Ed25519ctx, batch verification,
//! and any notion of *what* is signed (the signed-note format lives in `kagi-audit`).

use crate::{CryptoError, Rng, SecretBytes};
use aws_lc_rs::signature::{self, Ed25519KeyPair, KeyPair, UnparsedPublicKey};
use zeroize::Zeroizing;

/// Length of an Ed25519 private key seed, the secret that [`Ed25519SigningKey::secret`]
/// exports.
pub const ED25519_SEED_LEN: usize = 32;
/// Length of a raw Ed25519 public key.
pub const ED25519_PUBLIC_KEY_LEN: usize = 32;
/// Length of an Ed25519 signature.
pub const ED25519_SIGNATURE_LEN: usize = 64;

/// An Ed25519 private key. The seed is zeroized on drop (aws-lc also cleanses its own copy
/// when the key pair is freed); `Debug` prints only the public key.
pub struct Ed25519SigningKey {
    seed: SecretBytes,
    pair: Ed25519KeyPair,
    public_key: [u8; ED25519_PUBLIC_KEY_LEN],
}

impl Ed25519SigningKey {
    /// A new key whose seed is 32 bytes from `rng`.
    pub fn generate(rng: &dyn Rng) -> Result<Self, CryptoError> {
        let mut seed = Zeroizing::new([0u8; ED25519_SEED_LEN]);
        rng.fill(&mut seed[..])?;
        Self::from_secret(&SecretBytes::from_slice(&seed[..]))
    }

    /// Rebuilds a key from the seed that [`Ed25519SigningKey::secret`] exported (RFC 8032
    /// calls it the secret key).
    pub fn from_secret(seed: &SecretBytes) -> Result<Self, CryptoError> {
        if seed.len() != ED25519_SEED_LEN {
            return Err(CryptoError::KeyLength);
        }
        let pair = Ed25519KeyPair::from_seed_unchecked(seed.expose())
            .map_err(|_| CryptoError::KeyLength)?;
        let mut public_key = [0u8; ED25519_PUBLIC_KEY_LEN];
        public_key.copy_from_slice(pair.public_key().as_ref());
        Ok(Self {
            seed: seed.clone(),
            pair,
            public_key,
        })
    }

    /// The 32-byte seed, for the caller to wrap under the root key before it is stored.
    pub fn secret(&self) -> SecretBytes {
        self.seed.clone()
    }

    /// The raw 32-byte public key.
    pub fn public_key(&self) -> [u8; ED25519_PUBLIC_KEY_LEN] {
        self.public_key
    }

    /// The Ed25519 signature of `message` (deterministic: same key and message, same bytes).
    pub fn sign(&self, message: &[u8]) -> [u8; ED25519_SIGNATURE_LEN] {
        // aws-lc-rs panics here only if the C library fails to sign with a key it already
        // accepted, which happens only on allocation failure.
        let sig = self.pair.sign(message);
        let mut out = [0u8; ED25519_SIGNATURE_LEN];
        out.copy_from_slice(sig.as_ref());
        out
    }
}

impl std::fmt::Debug for Ed25519SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Ed25519SigningKey {{ public_key: ")?;
        for b in self.public_key {
            write!(f, "{b:02x}")?;
        }
        write!(f, ", seed: <redacted> }}")
    }
}

/// Whether `signature` is a valid Ed25519 signature of `message` under the raw 32-byte
/// `public_key`. Any malformed input (wrong lengths, a public key that is not a curve point)
/// is simply `false`.
pub fn verify_ed25519(public_key: &[u8], message: &[u8], signature: &[u8]) -> bool {
    // aws-lc-rs would also accept a DER SubjectPublicKeyInfo; only raw keys are meant here.
    if public_key.len() != ED25519_PUBLIC_KEY_LEN || signature.len() != ED25519_SIGNATURE_LEN {
        return false;
    }
    UnparsedPublicKey::new(&signature::ED25519, public_key)
        .verify(message, signature)
        .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DeterministicRng;

    fn unhex(s: &str) -> Vec<u8> {
        crate::digest::unhex(s).expect("test vectors are hex")
    }

    // RFC 8032 §7.1, TEST 1 (empty message).
    const RFC8032_1_SECRET: &str =
        "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
    const RFC8032_1_PUBLIC: &str =
        "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";
    const RFC8032_1_SIGNATURE: &str = concat!(
        "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155",
        "5fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"
    );

    // RFC 8032 §7.1, TEST 2 (one-byte message 0x72).
    const RFC8032_2_SECRET: &str =
        "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb";
    const RFC8032_2_PUBLIC: &str =
        "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c";
    const RFC8032_2_SIGNATURE: &str = concat!(
        "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da",
        "085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00"
    );

    #[test]
    fn rfc8032_known_answers() {
        for (secret, public, message, signature) in [
            (
                RFC8032_1_SECRET,
                RFC8032_1_PUBLIC,
                &b""[..],
                RFC8032_1_SIGNATURE,
            ),
            (
                RFC8032_2_SECRET,
                RFC8032_2_PUBLIC,
                &b"\x72"[..],
                RFC8032_2_SIGNATURE,
            ),
        ] {
            let key = Ed25519SigningKey::from_secret(&SecretBytes::new(unhex(secret))).unwrap();
            assert_eq!(key.public_key().to_vec(), unhex(public));
            assert_eq!(key.sign(message).to_vec(), unhex(signature));
            assert!(verify_ed25519(&unhex(public), message, &unhex(signature)));
        }
    }

    #[test]
    fn verification_rejects_any_change() {
        let public = unhex(RFC8032_1_PUBLIC);
        let signature = unhex(RFC8032_1_SIGNATURE);
        assert!(!verify_ed25519(&public, b"x", &signature));
        for i in 0..signature.len() * 8 {
            let mut bad = signature.clone();
            bad[i / 8] ^= 1 << (i % 8);
            assert!(!verify_ed25519(&public, b"", &bad), "signature bit {i}");
        }
        for i in 0..public.len() * 8 {
            let mut bad = public.clone();
            bad[i / 8] ^= 1 << (i % 8);
            assert!(!verify_ed25519(&bad, b"", &signature), "public key bit {i}");
        }
        assert!(!verify_ed25519(&public, b"", &signature[..63]));
        assert!(!verify_ed25519(&public[..31], b"", &signature));
        assert!(!verify_ed25519(&[], b"", &[]));
    }

    #[test]
    fn generate_uses_the_injected_rng_and_round_trips() {
        let a =
            Ed25519SigningKey::generate(&DeterministicRng::dangerous_for_tests_only(1)).unwrap();
        let b =
            Ed25519SigningKey::generate(&DeterministicRng::dangerous_for_tests_only(1)).unwrap();
        let c =
            Ed25519SigningKey::generate(&DeterministicRng::dangerous_for_tests_only(2)).unwrap();
        assert_eq!(a.public_key(), b.public_key());
        assert_ne!(a.public_key(), c.public_key());

        let restored = Ed25519SigningKey::from_secret(&a.secret()).unwrap();
        assert_eq!(restored.public_key(), a.public_key());
        let sig = restored.sign(b"checkpoint");
        assert_eq!(sig, a.sign(b"checkpoint"));
        assert!(verify_ed25519(&a.public_key(), b"checkpoint", &sig));
        assert!(!verify_ed25519(&c.public_key(), b"checkpoint", &sig));
    }

    #[test]
    fn rejects_seeds_of_the_wrong_length() {
        for len in [0, 31, 33, 64] {
            assert_eq!(
                Ed25519SigningKey::from_secret(&SecretBytes::new(vec![7; len])).unwrap_err(),
                CryptoError::KeyLength
            );
        }
    }

    #[test]
    fn debug_shows_the_public_key_only() {
        let key =
            Ed25519SigningKey::from_secret(&SecretBytes::new(unhex(RFC8032_1_SECRET))).unwrap();
        let printed = format!("{key:?}");
        assert_eq!(
            printed,
            format!("Ed25519SigningKey {{ public_key: {RFC8032_1_PUBLIC}, seed: <redacted> }}")
        );
        assert!(!printed.contains(&RFC8032_1_SECRET[..16]));
        assert!(format!("{:?}", key.secret()).contains("redacted"));
    }
}
