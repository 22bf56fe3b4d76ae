//! Encrypt, Decrypt, ReEncrypt.

use super::{required, to_body};
use crate::error::ApiError;
use crate::wire::{self, encode, parse};
use kagi_crypto::SecretBytes;
use kagi_kms::ops::encrypt::{
    DecryptRequest, EncryptRequest, EncryptionContext, ReEncryptRequest, SYMMETRIC_DEFAULT,
};
use kagi_kms::{Caller, Kms};
use serde::{Deserialize, Serialize};

fn missing(field: &str) -> ApiError {
    super::null_field(field)
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct EncryptInput {
    key_id: Option<String>,
    #[serde(default, deserialize_with = "wire::secret")]
    plaintext: Option<SecretBytes>,
    encryption_context: Option<EncryptionContext>,
    encryption_algorithm: Option<String>,
    grant_tokens: Option<Vec<String>>,
    #[serde(default)]
    dry_run: bool,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct EncryptOutput {
    ciphertext_blob: String,
    key_id: String,
    encryption_algorithm: &'static str,
}

pub fn encrypt(kms: &Kms, caller: &Caller, body: &[u8]) -> Result<Vec<u8>, ApiError> {
    let input: EncryptInput = parse(body)?;
    let key_id = required(&input.key_id, "keyId")?.to_string();
    let plaintext = input.plaintext.ok_or_else(|| missing("plaintext"))?;
    let out = kms.encrypt(
        caller,
        EncryptRequest {
            key_id,
            plaintext,
            context: input.encryption_context.unwrap_or_default(),
            algorithm: input.encryption_algorithm,
            grant_tokens: input.grant_tokens.unwrap_or_default(),
            dry_run: input.dry_run,
        },
    )?;
    to_body(&EncryptOutput {
        ciphertext_blob: encode(&out.ciphertext),
        key_id: out.key_arn,
        encryption_algorithm: SYMMETRIC_DEFAULT,
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DecryptInput {
    #[serde(default, deserialize_with = "wire::opt_blob")]
    ciphertext_blob: Option<Vec<u8>>,
    encryption_context: Option<EncryptionContext>,
    key_id: Option<String>,
    encryption_algorithm: Option<String>,
    grant_tokens: Option<Vec<String>>,
    #[serde(default)]
    dry_run: bool,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct DecryptOutput {
    key_id: String,
    plaintext: String,
    encryption_algorithm: &'static str,
}

pub fn decrypt(kms: &Kms, caller: &Caller, body: &[u8]) -> Result<Vec<u8>, ApiError> {
    let input: DecryptInput = parse(body)?;
    let ciphertext = input
        .ciphertext_blob
        .ok_or_else(|| missing("ciphertextBlob"))?;
    let out = kms.decrypt(
        caller,
        DecryptRequest {
            ciphertext,
            context: input.encryption_context.unwrap_or_default(),
            key_id: input.key_id,
            algorithm: input.encryption_algorithm,
            grant_tokens: input.grant_tokens.unwrap_or_default(),
            dry_run: input.dry_run,
        },
    )?;
    to_body(&DecryptOutput {
        key_id: out.key_arn,
        plaintext: encode(out.plaintext.expose()),
        encryption_algorithm: SYMMETRIC_DEFAULT,
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ReEncryptInput {
    #[serde(default, deserialize_with = "wire::opt_blob")]
    ciphertext_blob: Option<Vec<u8>>,
    source_encryption_context: Option<EncryptionContext>,
    source_key_id: Option<String>,
    destination_key_id: Option<String>,
    destination_encryption_context: Option<EncryptionContext>,
    source_encryption_algorithm: Option<String>,
    destination_encryption_algorithm: Option<String>,
    grant_tokens: Option<Vec<String>>,
    #[serde(default)]
    dry_run: bool,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct ReEncryptOutput {
    ciphertext_blob: String,
    source_key_id: String,
    key_id: String,
    source_encryption_algorithm: &'static str,
    destination_encryption_algorithm: &'static str,
}

pub fn re_encrypt(kms: &Kms, caller: &Caller, body: &[u8]) -> Result<Vec<u8>, ApiError> {
    let input: ReEncryptInput = parse(body)?;
    let ciphertext = input
        .ciphertext_blob
        .ok_or_else(|| missing("ciphertextBlob"))?;
    let destination_key_id = required(&input.destination_key_id, "destinationKeyId")?.to_string();
    let out = kms.re_encrypt(
        caller,
        ReEncryptRequest {
            ciphertext,
            source_context: input.source_encryption_context.unwrap_or_default(),
            source_key_id: input.source_key_id,
            destination_key_id,
            destination_context: input.destination_encryption_context.unwrap_or_default(),
            source_algorithm: input.source_encryption_algorithm,
            destination_algorithm: input.destination_encryption_algorithm,
            grant_tokens: input.grant_tokens.unwrap_or_default(),
            dry_run: input.dry_run,
        },
    )?;
    to_body(&ReEncryptOutput {
        ciphertext_blob: encode(&out.ciphertext),
        source_key_id: out.source_key_arn,
        key_id: out.key_arn,
        source_encryption_algorithm: SYMMETRIC_DEFAULT,
        destination_encryption_algorithm: SYMMETRIC_DEFAULT,
    })
}
