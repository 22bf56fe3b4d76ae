//! CreateAlias, UpdateAlias, DeleteAlias, ListAliases.

use super::{empty, required, to_body};
use crate::error::ApiError;
use crate::wire::{parse, timestamp};
use kagi_kms::{Caller, Kms};
use serde::{Deserialize, Serialize};

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct AliasInput {
    alias_name: Option<String>,
    target_key_id: Option<String>,
}

pub fn create_alias(kms: &Kms, caller: &Caller, body: &[u8]) -> Result<Vec<u8>, ApiError> {
    let input: AliasInput = parse(body)?;
    kms.create_alias(
        caller,
        required(&input.alias_name, "aliasName")?,
        required(&input.target_key_id, "targetKeyId")?,
    )?;
    empty()
}

pub fn update_alias(kms: &Kms, caller: &Caller, body: &[u8]) -> Result<Vec<u8>, ApiError> {
    let input: AliasInput = parse(body)?;
    kms.update_alias(
        caller,
        required(&input.alias_name, "aliasName")?,
        required(&input.target_key_id, "targetKeyId")?,
    )?;
    empty()
}

pub fn delete_alias(kms: &Kms, caller: &Caller, body: &[u8]) -> Result<Vec<u8>, ApiError> {
    let input: AliasInput = parse(body)?;
    kms.delete_alias(caller, required(&input.alias_name, "aliasName")?)?;
    empty()
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListAliasesInput {
    key_id: Option<String>,
    limit: Option<i64>,
    marker: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct AliasDto {
    alias_name: String,
    alias_arn: String,
    target_key_id: String,
    creation_date: f64,
    last_updated_date: f64,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct ListAliasesOutput {
    aliases: Vec<AliasDto>,
    truncated: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_marker: Option<String>,
}

pub fn list_aliases(kms: &Kms, caller: &Caller, body: &[u8]) -> Result<Vec<u8>, ApiError> {
    let input: ListAliasesInput = parse(body)?;
    let out = kms.list_aliases(
        caller,
        input.key_id.as_deref(),
        input.limit,
        input.marker.as_deref(),
    )?;
    to_body(&ListAliasesOutput {
        aliases: out
            .aliases
            .into_iter()
            .map(|a| AliasDto {
                alias_name: a.alias_name,
                alias_arn: a.alias_arn,
                target_key_id: a.target_key_id.to_string(),
                creation_date: timestamp(a.created_at),
                last_updated_date: timestamp(a.updated_at),
            })
            .collect(),
        truncated: out.next_marker.is_some(),
        next_marker: out.next_marker,
    })
}
