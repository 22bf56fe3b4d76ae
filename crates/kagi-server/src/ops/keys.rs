//! CreateKey, DescribeKey, ListKeys, EnableKey, DisableKey, UpdateKeyDescription,
//! ScheduleKeyDeletion, CancelKeyDeletion.

use super::{empty, required, to_body};
use crate::error::ApiError;
use crate::wire::{parse, timestamp};
use kagi_kms::ops::keys::{CreateKeyRequest, DescribedKey};
use kagi_kms::{Caller, KeyState, Kms, Tag};
use serde::{Deserialize, Serialize};

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TagDto {
    pub tag_key: Option<String>,
    pub tag_value: Option<String>,
}

pub fn tags_from_dto(tags: Option<Vec<TagDto>>) -> Result<Vec<Tag>, ApiError> {
    tags.unwrap_or_default()
        .into_iter()
        .map(|t| {
            Ok(Tag {
                key: required(&t.tag_key, "tags.member.tagKey")?.to_string(),
                value: required(&t.tag_value, "tags.member.tagValue")?.to_string(),
            })
        })
        .collect()
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct CreateKeyInput {
    policy: Option<String>,
    description: Option<String>,
    key_usage: Option<String>,
    customer_master_key_spec: Option<String>,
    key_spec: Option<String>,
    origin: Option<String>,
    custom_key_store_id: Option<String>,
    #[serde(default)]
    bypass_policy_lockout_safety_check: bool,
    tags: Option<Vec<TagDto>>,
    #[serde(default)]
    multi_region: bool,
    xks_key_id: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct KeyMetadataDto {
    #[serde(rename = "AWSAccountId")]
    aws_account_id: String,
    key_id: String,
    arn: String,
    creation_date: f64,
    enabled: bool,
    description: String,
    key_usage: &'static str,
    key_state: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    deletion_date: Option<f64>,
    origin: &'static str,
    key_manager: &'static str,
    customer_master_key_spec: &'static str,
    key_spec: &'static str,
    encryption_algorithms: [&'static str; 1],
    multi_region: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pending_deletion_window_in_days: Option<u32>,
}

pub fn metadata_dto(kms: &Kms, d: &DescribedKey) -> KeyMetadataDto {
    KeyMetadataDto {
        aws_account_id: kms.account().to_string(),
        key_id: d.meta.key_id.to_string(),
        arn: d.arn.clone(),
        creation_date: timestamp(d.meta.created_at),
        enabled: d.meta.state == KeyState::Enabled,
        description: d.meta.description.clone(),
        key_usage: "ENCRYPT_DECRYPT",
        key_state: d.meta.state.as_str(),
        deletion_date: d.meta.deletion_date.map(timestamp),
        origin: "AWS_KMS",
        key_manager: "CUSTOMER",
        customer_master_key_spec: "SYMMETRIC_DEFAULT",
        key_spec: "SYMMETRIC_DEFAULT",
        encryption_algorithms: ["SYMMETRIC_DEFAULT"],
        multi_region: false,
        pending_deletion_window_in_days: d.meta.pending_window_days,
    }
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct KeyMetadataOutput {
    key_metadata: KeyMetadataDto,
}

pub fn create_key(kms: &Kms, caller: &Caller, body: &[u8]) -> Result<Vec<u8>, ApiError> {
    let input: CreateKeyInput = parse(body)?;
    let req = CreateKeyRequest {
        policy: input.policy,
        description: input.description,
        key_usage: input.key_usage,
        key_spec: input.key_spec,
        customer_master_key_spec: input.customer_master_key_spec,
        origin: input.origin,
        custom_key_store_id: input.custom_key_store_id,
        bypass_policy_lockout_safety_check: input.bypass_policy_lockout_safety_check,
        tags: tags_from_dto(input.tags)?,
        multi_region: input.multi_region,
        xks_key_id: input.xks_key_id,
    };
    let key = kms.create_key(caller, req)?;
    to_body(&KeyMetadataOutput {
        key_metadata: metadata_dto(kms, &key),
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct KeyIdInput {
    pub key_id: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DescribeKeyInput {
    key_id: Option<String>,
    grant_tokens: Option<Vec<String>>,
}

pub fn describe_key(kms: &Kms, caller: &Caller, body: &[u8]) -> Result<Vec<u8>, ApiError> {
    let input: DescribeKeyInput = parse(body)?;
    let tokens = input.grant_tokens.unwrap_or_default();
    let key = kms.describe_key(caller, required(&input.key_id, "keyId")?, &tokens)?;
    to_body(&KeyMetadataOutput {
        key_metadata: metadata_dto(kms, &key),
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PageInput {
    pub limit: Option<i64>,
    pub marker: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct KeyListEntryDto {
    key_id: String,
    key_arn: String,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct ListKeysOutput {
    keys: Vec<KeyListEntryDto>,
    truncated: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_marker: Option<String>,
}

pub fn list_keys(kms: &Kms, caller: &Caller, body: &[u8]) -> Result<Vec<u8>, ApiError> {
    let input: PageInput = parse(body)?;
    let out = kms.list_keys(caller, input.limit, input.marker.as_deref())?;
    to_body(&ListKeysOutput {
        keys: out
            .keys
            .into_iter()
            .map(|k| KeyListEntryDto {
                key_id: k.key_id.to_string(),
                key_arn: k.arn,
            })
            .collect(),
        truncated: out.next_marker.is_some(),
        next_marker: out.next_marker,
    })
}

pub fn enable_key(kms: &Kms, caller: &Caller, body: &[u8]) -> Result<Vec<u8>, ApiError> {
    let input: KeyIdInput = parse(body)?;
    kms.enable_key(caller, required(&input.key_id, "keyId")?)?;
    empty()
}

pub fn disable_key(kms: &Kms, caller: &Caller, body: &[u8]) -> Result<Vec<u8>, ApiError> {
    let input: KeyIdInput = parse(body)?;
    kms.disable_key(caller, required(&input.key_id, "keyId")?)?;
    empty()
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct UpdateKeyDescriptionInput {
    key_id: Option<String>,
    description: Option<String>,
}

pub fn update_key_description(
    kms: &Kms,
    caller: &Caller,
    body: &[u8],
) -> Result<Vec<u8>, ApiError> {
    let input: UpdateKeyDescriptionInput = parse(body)?;
    let description = required(&input.description, "description")?.to_string();
    kms.update_key_description(caller, required(&input.key_id, "keyId")?, description)?;
    empty()
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ScheduleKeyDeletionInput {
    key_id: Option<String>,
    pending_window_in_days: Option<i64>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct ScheduleKeyDeletionOutput {
    key_id: String,
    deletion_date: f64,
    key_state: &'static str,
    pending_window_in_days: u32,
}

pub fn schedule_key_deletion(kms: &Kms, caller: &Caller, body: &[u8]) -> Result<Vec<u8>, ApiError> {
    let input: ScheduleKeyDeletionInput = parse(body)?;
    let out = kms.schedule_key_deletion(
        caller,
        required(&input.key_id, "keyId")?,
        input.pending_window_in_days,
    )?;
    to_body(&ScheduleKeyDeletionOutput {
        key_id: out.arn,
        deletion_date: timestamp(out.deletion_date),
        key_state: KeyState::PendingDeletion.as_str(),
        pending_window_in_days: out.pending_window_days,
    })
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct KeyIdOutput {
    pub key_id: String,
}

pub fn cancel_key_deletion(kms: &Kms, caller: &Caller, body: &[u8]) -> Result<Vec<u8>, ApiError> {
    let input: KeyIdInput = parse(body)?;
    let arn = kms.cancel_key_deletion(caller, required(&input.key_id, "keyId")?)?;
    to_body(&KeyIdOutput { key_id: arn })
}
