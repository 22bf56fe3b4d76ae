//! Where the root key comes from. The [`RootKeyProvider`] seam lets a passphrase, an HSM or
//! a Shamir unseal replace the default, a 0600 file in the data directory.
//!
//! Root key file, format 1: `KAGIROOT` | `0x01` | 32 key bytes | first 4 bytes of
//! SHA-256(previous bytes) as a checksum against truncation and bit rot.

use anyhow::{bail, Context, Result};
use kagi_crypto::{digest::sha256, Rng, SecretBytes, SECRET_KEY_LEN};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::PathBuf;

pub trait RootKeyProvider {
    /// Returns the root key, creating it on first use. `created` tells whether it is new.
    fn load_or_create(&self, rng: &dyn Rng) -> Result<(SecretBytes, bool)>;
}

const MAGIC: &[u8; 8] = b"KAGIROOT";
const FORMAT_V1: u8 = 1;
const FILE_LEN: usize = 8 + 1 + SECRET_KEY_LEN + 4;

/// The default provider: a file readable only by Kagi's user.
#[derive(Debug)]
pub struct FileRootKey {
    pub path: PathBuf,
}

impl RootKeyProvider for FileRootKey {
    fn load_or_create(&self, rng: &dyn Rng) -> Result<(SecretBytes, bool)> {
        match std::fs::read(&self.path) {
            Ok(bytes) => {
                let bytes = SecretBytes::new(bytes);
                let mode = std::fs::metadata(&self.path)?.permissions().mode() & 0o777;
                if mode & 0o077 != 0 {
                    bail!(
                        "root key file {} is accessible by other users (mode {mode:o}); run chmod 600 on it",
                        self.path.display()
                    );
                }
                Ok((
                    decode(bytes.expose()).with_context(|| {
                        format!("reading root key file {}", self.path.display())
                    })?,
                    false,
                ))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut key = SecretBytes::new(vec![0u8; SECRET_KEY_LEN]).into_exposed();
                rng.fill(&mut key).context("generating the root key")?;
                let key = SecretBytes::new(key);
                let encoded = encode(&key);
                let mut f = std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .open(&self.path)
                    .with_context(|| format!("creating {}", self.path.display()))?;
                f.write_all(encoded.expose())?;
                f.sync_all()?;
                if let Some(dir) = self.path.parent() {
                    std::fs::File::open(dir)?.sync_all()?;
                }
                Ok((key, true))
            }
            Err(e) => Err(e).with_context(|| format!("reading {}", self.path.display())),
        }
    }
}

fn encode(key: &SecretBytes) -> SecretBytes {
    let mut out = Vec::with_capacity(FILE_LEN);
    out.extend_from_slice(MAGIC);
    out.push(FORMAT_V1);
    out.extend_from_slice(key.expose());
    let sum = sha256(&out);
    out.extend_from_slice(&sum[..4]);
    SecretBytes::new(out)
}

fn decode(bytes: &[u8]) -> Result<SecretBytes> {
    if bytes.len() != FILE_LEN || &bytes[..8] != MAGIC {
        bail!("not a Kagi root key file");
    }
    if bytes[8] != FORMAT_V1 {
        bail!("unknown root key file format {}", bytes[8]);
    }
    let sum = sha256(&bytes[..FILE_LEN - 4]);
    if sum[..4] != bytes[FILE_LEN - 4..] {
        bail!("root key file checksum mismatch (corrupted?)");
    }
    Ok(SecretBytes::from_slice(&bytes[9..9 + SECRET_KEY_LEN]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use kagi_crypto::SystemRng;

    #[test]
    fn creates_then_loads_with_0600() {
        let dir = tempfile::tempdir().unwrap();
        let p = FileRootKey {
            path: dir.path().join("root.key"),
        };
        let (k1, created) = p.load_or_create(&SystemRng::new()).unwrap();
        assert!(created);
        let mode = std::fs::metadata(&p.path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let (k2, created) = p.load_or_create(&SystemRng::new()).unwrap();
        assert!(!created);
        assert_eq!(k1, k2);
    }

    #[test]
    fn rejects_corruption_and_loose_permissions() {
        let dir = tempfile::tempdir().unwrap();
        let p = FileRootKey {
            path: dir.path().join("root.key"),
        };
        p.load_or_create(&SystemRng::new()).unwrap();
        let mut bytes = std::fs::read(&p.path).unwrap();
        bytes[20] ^= 1;
        std::fs::write(&p.path, &bytes).unwrap();
        let err = p.load_or_create(&SystemRng::new()).unwrap_err();
        assert!(format!("{err:#}").contains("checksum"), "{err:#}");
        std::fs::set_permissions(&p.path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = p.load_or_create(&SystemRng::new()).unwrap_err();
        assert!(format!("{err:#}").contains("chmod"), "{err:#}");
    }
}
