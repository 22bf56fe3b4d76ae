//! Injected randomness. Production uses the system CSPRNG via aws-lc-rs; tests may use a
//! deterministic generator so that key ids and ciphertexts are reproducible.

use crate::CryptoError;
use aws_lc_rs::rand::SecureRandom;
use std::sync::atomic::{AtomicU64, Ordering};

/// A source of random bytes. Implementations must be safe to share across threads.
pub trait Rng: Send + Sync {
    fn fill(&self, out: &mut [u8]) -> Result<(), CryptoError>;
}

/// The operating system's CSPRNG, through aws-lc-rs.
#[derive(Debug, Default)]
pub struct SystemRng(aws_lc_rs::rand::SystemRandom);

impl SystemRng {
    pub fn new() -> Self {
        Self(aws_lc_rs::rand::SystemRandom::new())
    }
}

impl Rng for SystemRng {
    fn fill(&self, out: &mut [u8]) -> Result<(), CryptoError> {
        self.0.fill(out).map_err(|_| CryptoError::Random)
    }
}

/// A reproducible generator for tests only: block `i` is SHA-256(seed || i).
/// Never use it for real keys; the name of the constructor says so.
#[derive(Debug)]
pub struct DeterministicRng {
    seed: [u8; 32],
    counter: AtomicU64,
}

impl DeterministicRng {
    pub fn dangerous_for_tests_only(seed: u64) -> Self {
        let mut s = [0u8; 32];
        s[..8].copy_from_slice(&seed.to_be_bytes());
        Self {
            seed: s,
            counter: AtomicU64::new(0),
        }
    }
}

impl Rng for DeterministicRng {
    fn fill(&self, out: &mut [u8]) -> Result<(), CryptoError> {
        for chunk in out.chunks_mut(32) {
            let i = self.counter.fetch_add(1, Ordering::Relaxed);
            let mut input = self.seed.to_vec();
            input.extend_from_slice(&i.to_be_bytes());
            let block = crate::digest::sha256(&input);
            chunk.copy_from_slice(&block[..chunk.len()]);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_rng_is_reproducible_and_varies() {
        let a = DeterministicRng::dangerous_for_tests_only(7);
        let b = DeterministicRng::dangerous_for_tests_only(7);
        let (mut x, mut y, mut z) = ([0u8; 40], [0u8; 40], [0u8; 40]);
        a.fill(&mut x).unwrap();
        b.fill(&mut y).unwrap();
        a.fill(&mut z).unwrap();
        assert_eq!(x, y);
        assert_ne!(x, z);
    }

    #[test]
    fn system_rng_fills() {
        let mut x = [0u8; 32];
        SystemRng::new().fill(&mut x).unwrap();
        assert_ne!(x, [0u8; 32]);
    }
}
