//! Encrypt, Decrypt and ReEncrypt with symmetric keys.
//!
//! The ciphertext blob names its key and backing version (kagi_crypto::blob), so Decrypt
//! needs no KeyId; when one is given it must name the same key. The encryption context is
//! bound as additional authenticated data: any difference is `InvalidCiphertextException`.

use super::{check_secret_len, require_enabled, Access, Aliases};
use crate::cache::KeyEntry;
use crate::{Caller, KeyId, Kms, KmsError};
use kagi_crypto::{BlobHeader, CiphertextBlob, SecretBytes};
use std::collections::BTreeMap;
use std::sync::Arc;

pub type EncryptionContext = BTreeMap<String, String>;

pub const MAX_PLAINTEXT: usize = 4096;
pub const MAX_CIPHERTEXT: usize = 6144;
pub const SYMMETRIC_DEFAULT: &str = "SYMMETRIC_DEFAULT";
const ENCRYPTION_ALGORITHMS: &[&str] = &[
    "SYMMETRIC_DEFAULT",
    "RSAES_OAEP_SHA_1",
    "RSAES_OAEP_SHA_256",
    "SM2PKE",
];

#[derive(Debug)]
pub struct EncryptRequest {
    pub key_id: String,
    pub plaintext: SecretBytes,
    pub context: EncryptionContext,
    pub algorithm: Option<String>,
    /// Validated, then unused: Kagi's grants are effective at once (see `ops::grants`).
    pub grant_tokens: Vec<String>,
    pub dry_run: bool,
}

#[derive(Debug)]
pub struct EncryptResponse {
    pub ciphertext: Vec<u8>,
    pub key_arn: String,
}

#[derive(Debug)]
pub struct DecryptRequest {
    pub ciphertext: Vec<u8>,
    pub context: EncryptionContext,
    pub key_id: Option<String>,
    pub algorithm: Option<String>,
    pub grant_tokens: Vec<String>,
    pub dry_run: bool,
}

#[derive(Debug)]
pub struct DecryptResponse {
    pub plaintext: SecretBytes,
    pub key_arn: String,
}

#[derive(Debug)]
pub struct ReEncryptRequest {
    pub ciphertext: Vec<u8>,
    pub source_context: EncryptionContext,
    pub source_key_id: Option<String>,
    pub destination_key_id: String,
    pub destination_context: EncryptionContext,
    pub source_algorithm: Option<String>,
    pub destination_algorithm: Option<String>,
    pub grant_tokens: Vec<String>,
    pub dry_run: bool,
}

#[derive(Debug)]
pub struct ReEncryptResponse {
    pub ciphertext: Vec<u8>,
    pub source_key_arn: String,
    pub key_arn: String,
}

/// Checks an `EncryptionAlgorithm` parameter against a symmetric key.
pub(crate) fn check_algorithm(field: &str, algorithm: Option<&str>) -> Result<(), KmsError> {
    match algorithm {
        None | Some(SYMMETRIC_DEFAULT) => Ok(()),
        Some(a) if ENCRYPTION_ALGORITHMS.contains(&a) => Err(KmsError::InvalidKeyUsage {
            message: format!(
                "The encryption algorithm {a} is not compatible with the type of key material for this KMS key."
            ),
        }),
        Some(a) => Err(super::constraint(
            field,
            a,
            &format!("satisfy enum value set: [{}]", ENCRYPTION_ALGORITHMS.join(", ")),
        )),
    }
}

/// The `kms:EncryptionAlgorithm` of a request: the parameter, or the default.
fn algorithm(parameter: &Option<String>) -> String {
    parameter
        .clone()
        .unwrap_or_else(|| SYMMETRIC_DEFAULT.to_string())
}

impl Kms {
    /// Seals `plaintext` under the key's newest backing version.
    pub(crate) fn seal(
        &self,
        key: &KeyEntry,
        context: &EncryptionContext,
        plaintext: &[u8],
    ) -> Result<Vec<u8>, KmsError> {
        let (version, backing) = key
            .current()
            .ok_or_else(|| crate::InternalError::CorruptKey {
                key: key.meta.key_id.to_string(),
                what: "no backing key versions",
            })?;
        let header = BlobHeader {
            key_id: *key.meta.key_id.as_bytes(),
            backing_version: version.version,
        };
        backing
            .seal(self.rng.as_ref(), header, context, plaintext)
            .map_err(KmsError::crypto)
    }

    /// Finds the key a blob names (in the caller's region), checks it against an optional
    /// `KeyId` parameter and its state, and opens the blob.
    /// `access` is authorized on the key once it is known.
    fn open(
        &self,
        caller: &Caller,
        ciphertext: &[u8],
        context: &EncryptionContext,
        key_id: Option<&str>,
        access: Access<'_>,
    ) -> Result<(SecretBytes, Arc<KeyEntry>), KmsError> {
        check_secret_len("ciphertextBlob", ciphertext.len(), 1, MAX_CIPHERTEXT)?;
        let blob = CiphertextBlob::parse(ciphertext).map_err(|_| KmsError::InvalidCiphertext)?;
        let blob_key = KeyId::from_bytes(blob.header.key_id);
        if let Some(requested) = key_id {
            if self.resolve_id(caller, requested, Aliases::Allowed)? != blob_key {
                return Err(KmsError::IncorrectKey);
            }
        }
        let entry = self
            .entry(&caller.region, &blob_key)?
            .ok_or(KmsError::InvalidCiphertext)?;
        let access = match key_id {
            Some(raw) => access.request_alias(raw),
            None => access,
        };
        self.authorize_key(caller, &entry, access.context(context))?;
        require_enabled(&entry)?;
        let backing = entry
            .version(blob.header.backing_version)
            .ok_or(KmsError::InvalidCiphertext)?;
        let plaintext = backing
            .open(&blob, context)
            .map_err(|_| KmsError::InvalidCiphertext)?;
        Ok((plaintext, entry))
    }

    pub fn encrypt(
        &self,
        caller: &Caller,
        req: EncryptRequest,
    ) -> Result<EncryptResponse, KmsError> {
        check_secret_len("plaintext", req.plaintext.len(), 1, MAX_PLAINTEXT)?;
        check_algorithm("encryptionAlgorithm", req.algorithm.as_deref())?;
        self.check_grant_tokens(&caller.region, &req.grant_tokens)?;
        let access = Access::to("kms:Encrypt")
            .with("kms:EncryptionAlgorithm", vec![algorithm(&req.algorithm)])
            .context(&req.context);
        let key = self.resolve_authorized(caller, &req.key_id, Aliases::Allowed, access)?;
        require_enabled(&key)?;
        if req.dry_run {
            return Err(KmsError::DryRun);
        }
        let ciphertext = self.seal(&key, &req.context, req.plaintext.expose())?;
        Ok(EncryptResponse {
            ciphertext,
            key_arn: key.arn.clone(),
        })
    }

    pub fn decrypt(
        &self,
        caller: &Caller,
        req: DecryptRequest,
    ) -> Result<DecryptResponse, KmsError> {
        check_algorithm("encryptionAlgorithm", req.algorithm.as_deref())?;
        self.check_grant_tokens(&caller.region, &req.grant_tokens)?;
        let access = Access::to("kms:Decrypt")
            .with("kms:EncryptionAlgorithm", vec![algorithm(&req.algorithm)]);
        let (plaintext, key) = self.open(
            caller,
            &req.ciphertext,
            &req.context,
            req.key_id.as_deref(),
            access,
        )?;
        if req.dry_run {
            return Err(KmsError::DryRun);
        }
        Ok(DecryptResponse {
            plaintext,
            key_arn: key.arn.clone(),
        })
    }

    pub fn re_encrypt(
        &self,
        caller: &Caller,
        req: ReEncryptRequest,
    ) -> Result<ReEncryptResponse, KmsError> {
        check_algorithm("sourceEncryptionAlgorithm", req.source_algorithm.as_deref())?;
        check_algorithm(
            "destinationEncryptionAlgorithm",
            req.destination_algorithm.as_deref(),
        )?;
        self.check_grant_tokens(&caller.region, &req.grant_tokens)?;
        let destination = self.resolve(caller, &req.destination_key_id, Aliases::Allowed)?;
        let from = Access::to("kms:ReEncryptFrom").with(
            "kms:EncryptionAlgorithm",
            vec![algorithm(&req.source_algorithm)],
        );
        let (plaintext, source) = self.open(
            caller,
            &req.ciphertext,
            &req.source_context,
            req.source_key_id.as_deref(),
            from,
        )?;
        let same_key = source.meta.key_id == destination.meta.key_id;
        let to = Access::to("kms:ReEncryptTo")
            .with(
                "kms:EncryptionAlgorithm",
                vec![algorithm(&req.destination_algorithm)],
            )
            .with("kms:ReEncryptOnSameKey", vec![same_key.to_string()])
            .context(&req.destination_context)
            .request_alias(&req.destination_key_id);
        self.authorize_key(caller, &destination, to)?;
        require_enabled(&destination)?;
        if req.dry_run {
            return Err(KmsError::DryRun);
        }
        let ciphertext = self.seal(&destination, &req.destination_context, plaintext.expose())?;
        Ok(ReEncryptResponse {
            ciphertext,
            source_key_arn: source.arn.clone(),
            key_arn: destination.arn.clone(),
        })
    }
}
