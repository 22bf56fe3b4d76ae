//! Zeroizing secret bytes: key material and plaintexts.
//!
//! [`SecretBytes`] wipes its memory on drop, prints as `<redacted>` and implements neither
//! `Serialize` nor `Display`, so a secret cannot reach a log or an error message by accident.

use zeroize::{Zeroize, Zeroizing};

/// Length in bytes of every symmetric key Kagi generates (AES-256).
pub const SECRET_KEY_LEN: usize = 32;

/// Secret bytes (key material, plaintext) that are wiped when dropped.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretBytes(Zeroizing<Vec<u8>>);

impl SecretBytes {
    /// Takes ownership of `bytes`; the vector is wiped when the secret is dropped.
    pub fn new(bytes: Vec<u8>) -> Self {
        Self(Zeroizing::new(bytes))
    }

    /// Copies `bytes` into a new secret. The caller remains responsible for its own copy.
    pub fn from_slice(bytes: &[u8]) -> Self {
        Self::new(bytes.to_vec())
    }

    /// The secret bytes. Callers must not copy them into non-zeroizing storage that
    /// outlives the request (responses are the exception: they leave the process).
    pub fn expose(&self) -> &[u8] {
        &self.0
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Moves the bytes out, e.g. to hand them to a response body.
    pub fn into_exposed(mut self) -> Vec<u8> {
        std::mem::take(&mut *self.0)
    }
}

impl std::fmt::Debug for SecretBytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "<redacted {} bytes>", self.0.len())
    }
}

impl Zeroize for SecretBytes {
    fn zeroize(&mut self) {
        self.0.zeroize();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_prints_contents() {
        let s = SecretBytes::from_slice(b"hunter2-very-secret");
        let printed = format!("{s:?}");
        assert!(!printed.contains("hunter2"));
        assert_eq!(printed, "<redacted 19 bytes>");
    }
}
