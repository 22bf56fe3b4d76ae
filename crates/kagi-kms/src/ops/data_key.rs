//! GenerateDataKey, GenerateDataKeyWithoutPlaintext and GenerateRandom.

use super::encrypt::EncryptionContext;
use super::{check_range, require_enabled, Access, Aliases};
use crate::{Caller, Kms, KmsError};
use kagi_crypto::SecretBytes;

#[derive(Debug, Clone)]
pub struct GenerateDataKeyRequest {
    pub key_id: String,
    pub context: EncryptionContext,
    pub key_spec: Option<String>,
    pub number_of_bytes: Option<i64>,
    pub grant_tokens: Vec<String>,
    pub dry_run: bool,
}

#[derive(Debug)]
pub struct GenerateDataKeyResponse {
    pub ciphertext: Vec<u8>,
    /// `None` for GenerateDataKeyWithoutPlaintext.
    pub plaintext: Option<SecretBytes>,
    pub key_arn: String,
}

fn data_key_len(key_spec: Option<&str>, number_of_bytes: Option<i64>) -> Result<usize, KmsError> {
    match (key_spec, number_of_bytes) {
        (Some(_), Some(_)) => Err(KmsError::validation(
            "Please specify either number of bytes or key spec.",
        )),
        (None, None) => Err(KmsError::validation(
            "Please specify either number of bytes or key spec.",
        )),
        (Some("AES_256"), None) => Ok(32),
        (Some("AES_128"), None) => Ok(16),
        (Some(other), None) => Err(super::constraint(
            "keySpec",
            other,
            "satisfy enum value set: [AES_256, AES_128]",
        )),
        (None, Some(n)) => {
            check_range("numberOfBytes", n, 1, 1024)?;
            Ok(n as usize)
        }
    }
}

impl Kms {
    fn random_secret(&self, len: usize) -> Result<SecretBytes, KmsError> {
        let mut bytes = SecretBytes::new(vec![0u8; len]).into_exposed();
        if let Err(e) = self.rng.fill(&mut bytes) {
            return Err(KmsError::crypto(e));
        }
        Ok(SecretBytes::new(bytes))
    }

    fn data_key(
        &self,
        caller: &Caller,
        req: GenerateDataKeyRequest,
        with_plaintext: bool,
    ) -> Result<GenerateDataKeyResponse, KmsError> {
        let len = data_key_len(req.key_spec.as_deref(), req.number_of_bytes)?;
        let action = if with_plaintext {
            "kms:GenerateDataKey"
        } else {
            "kms:GenerateDataKeyWithoutPlaintext"
        };
        self.check_grant_tokens(&caller.region, &req.grant_tokens)?;
        let access = Access::to(action).context(&req.context);
        let key = self.resolve_authorized(caller, &req.key_id, Aliases::Allowed, access)?;
        require_enabled(&key)?;
        if req.dry_run {
            return Err(KmsError::DryRun);
        }
        let plaintext = self.random_secret(len)?;
        let ciphertext = self.seal(&key, &req.context, plaintext.expose())?;
        Ok(GenerateDataKeyResponse {
            ciphertext,
            plaintext: with_plaintext.then_some(plaintext),
            key_arn: key.arn.clone(),
        })
    }

    pub fn generate_data_key(
        &self,
        caller: &Caller,
        req: GenerateDataKeyRequest,
    ) -> Result<GenerateDataKeyResponse, KmsError> {
        self.data_key(caller, req, true)
    }

    pub fn generate_data_key_without_plaintext(
        &self,
        caller: &Caller,
        req: GenerateDataKeyRequest,
    ) -> Result<GenerateDataKeyResponse, KmsError> {
        self.data_key(caller, req, false)
    }

    pub fn generate_random(
        &self,
        caller: &Caller,
        number_of_bytes: Option<i64>,
        custom_key_store_id: Option<&str>,
    ) -> Result<SecretBytes, KmsError> {
        if let Some(id) = custom_key_store_id {
            return Err(KmsError::CustomKeyStoreNotFound { id: id.to_string() });
        }
        let n = number_of_bytes.ok_or_else(|| {
            KmsError::validation("1 validation error detected: Value null at 'numberOfBytes' failed to satisfy constraint: Member must not be null")
        })?;
        check_range("numberOfBytes", n, 1, 1024)?;
        self.authorize_identity(caller, "*", Access::to("kms:GenerateRandom"))?;
        self.random_secret(n as usize)
    }
}
