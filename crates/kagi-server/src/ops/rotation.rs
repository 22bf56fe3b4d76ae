//! EnableKeyRotation, DisableKeyRotation, GetKeyRotationStatus, RotateKeyOnDemand,
//! ListKeyRotations.

use super::keys::{KeyIdInput, KeyIdOutput};
use super::{empty, required, to_body};
use crate::error::ApiError;
use crate::wire::{parse, timestamp};
use kagi_kms::{Caller, Kms};
use serde::{Deserialize, Serialize};

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct EnableKeyRotationInput {
    key_id: Option<String>,
    rotation_period_in_days: Option<i64>,
}

pub fn enable_key_rotation(kms: &Kms, caller: &Caller, body: &[u8]) -> Result<Vec<u8>, ApiError> {
    let input: EnableKeyRotationInput = parse(body)?;
    kms.enable_key_rotation(
        caller,
        required(&input.key_id, "keyId")?,
        input.rotation_period_in_days,
    )?;
    empty()
}

pub fn disable_key_rotation(kms: &Kms, caller: &Caller, body: &[u8]) -> Result<Vec<u8>, ApiError> {
    let input: KeyIdInput = parse(body)?;
    kms.disable_key_rotation(caller, required(&input.key_id, "keyId")?)?;
    empty()
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct RotationStatusOutput {
    key_rotation_enabled: bool,
    key_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    rotation_period_in_days: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_rotation_date: Option<f64>,
}

pub fn get_key_rotation_status(
    kms: &Kms,
    caller: &Caller,
    body: &[u8],
) -> Result<Vec<u8>, ApiError> {
    let input: KeyIdInput = parse(body)?;
    let s = kms.get_key_rotation_status(caller, required(&input.key_id, "keyId")?)?;
    to_body(&RotationStatusOutput {
        key_rotation_enabled: s.enabled,
        key_id: s.key_arn,
        rotation_period_in_days: s.period_days,
        next_rotation_date: s.next_rotation.map(timestamp),
    })
}

pub fn rotate_key_on_demand(kms: &Kms, caller: &Caller, body: &[u8]) -> Result<Vec<u8>, ApiError> {
    let input: KeyIdInput = parse(body)?;
    let arn = kms.rotate_key_on_demand(caller, required(&input.key_id, "keyId")?)?;
    to_body(&KeyIdOutput { key_id: arn })
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListKeyRotationsInput {
    key_id: Option<String>,
    limit: Option<i64>,
    marker: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct RotationDto {
    key_id: String,
    rotation_date: f64,
    rotation_type: &'static str,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct ListKeyRotationsOutput {
    rotations: Vec<RotationDto>,
    truncated: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_marker: Option<String>,
}

pub fn list_key_rotations(kms: &Kms, caller: &Caller, body: &[u8]) -> Result<Vec<u8>, ApiError> {
    let input: ListKeyRotationsInput = parse(body)?;
    let out = kms.list_key_rotations(
        caller,
        required(&input.key_id, "keyId")?,
        input.limit,
        input.marker.as_deref(),
    )?;
    to_body(&ListKeyRotationsOutput {
        rotations: out
            .rotations
            .into_iter()
            .map(|r| RotationDto {
                key_id: r.key_arn,
                rotation_date: timestamp(r.rotation_date),
                rotation_type: r.rotation_type.as_str(),
            })
            .collect(),
        truncated: out.next_marker.is_some(),
        next_marker: out.next_marker,
    })
}
