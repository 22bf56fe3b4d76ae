//! GenerateDataKey, GenerateDataKeyWithoutPlaintext, GenerateRandom.

use super::{required, to_body};
use crate::error::ApiError;
use crate::wire::{encode, parse};
use kagi_kms::ops::data_key::GenerateDataKeyRequest;
use kagi_kms::ops::encrypt::EncryptionContext;
use kagi_kms::{Caller, Kms};
use serde::{Deserialize, Serialize};

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct GenerateDataKeyInput {
    key_id: Option<String>,
    encryption_context: Option<EncryptionContext>,
    number_of_bytes: Option<i64>,
    key_spec: Option<String>,
    grant_tokens: Option<Vec<String>>,
    #[serde(default)]
    dry_run: bool,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct GenerateDataKeyOutput {
    ciphertext_blob: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    plaintext: Option<String>,
    key_id: String,
}

pub fn generate_data_key(
    kms: &Kms,
    caller: &Caller,
    body: &[u8],
    with_plaintext: bool,
) -> Result<Vec<u8>, ApiError> {
    let input: GenerateDataKeyInput = parse(body)?;
    let req = GenerateDataKeyRequest {
        key_id: required(&input.key_id, "keyId")?.to_string(),
        context: input.encryption_context.unwrap_or_default(),
        key_spec: input.key_spec,
        number_of_bytes: input.number_of_bytes,
        grant_tokens: input.grant_tokens.unwrap_or_default(),
        dry_run: input.dry_run,
    };
    let out = if with_plaintext {
        kms.generate_data_key(caller, req)?
    } else {
        kms.generate_data_key_without_plaintext(caller, req)?
    };
    to_body(&GenerateDataKeyOutput {
        ciphertext_blob: encode(&out.ciphertext),
        plaintext: out.plaintext.as_ref().map(|p| encode(p.expose())),
        key_id: out.key_arn,
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct GenerateRandomInput {
    number_of_bytes: Option<i64>,
    custom_key_store_id: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct GenerateRandomOutput {
    plaintext: String,
}

pub fn generate_random(kms: &Kms, caller: &Caller, body: &[u8]) -> Result<Vec<u8>, ApiError> {
    let input: GenerateRandomInput = parse(body)?;
    let bytes = kms.generate_random(
        caller,
        input.number_of_bytes,
        input.custom_key_store_id.as_deref(),
    )?;
    to_body(&GenerateRandomOutput {
        plaintext: encode(bytes.expose()),
    })
}
