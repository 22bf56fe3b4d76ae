//! CreateGrant, ListGrants, ListRetirableGrants, RetireGrant, RevokeGrant.

use super::{empty, required, to_body};
use crate::error::ApiError;
use crate::wire::{parse, timestamp};
use kagi_kms::ops::encrypt::EncryptionContext;
use kagi_kms::ops::grants::{
    CreateGrantRequest, ListGrantsRequest, ListGrantsResponse, RetireGrantRequest,
};
use kagi_kms::{Caller, GrantConstraints, Kms};
use serde::{Deserialize, Serialize};

#[derive(Deserialize, Serialize, Default)]
#[serde(rename_all = "PascalCase")]
struct ConstraintsDto {
    #[serde(skip_serializing_if = "Option::is_none")]
    encryption_context_subset: Option<EncryptionContext>,
    #[serde(skip_serializing_if = "Option::is_none")]
    encryption_context_equals: Option<EncryptionContext>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct CreateGrantInput {
    key_id: Option<String>,
    grantee_principal: Option<String>,
    retiring_principal: Option<String>,
    operations: Option<Vec<String>>,
    constraints: Option<ConstraintsDto>,
    grant_tokens: Option<Vec<String>>,
    name: Option<String>,
    #[serde(default)]
    dry_run: bool,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct CreateGrantOutput {
    grant_token: String,
    grant_id: String,
}

pub fn create_grant(kms: &Kms, caller: &Caller, body: &[u8]) -> Result<Vec<u8>, ApiError> {
    let input: CreateGrantInput = parse(body)?;
    let req = CreateGrantRequest {
        key_id: required(&input.key_id, "keyId")?.to_string(),
        grantee_principal: required(&input.grantee_principal, "granteePrincipal")?.to_string(),
        retiring_principal: input.retiring_principal,
        operations: input
            .operations
            .ok_or_else(|| super::null_field("operations"))?,
        constraints: input.constraints.map(|c| GrantConstraints {
            encryption_context_equals: c.encryption_context_equals,
            encryption_context_subset: c.encryption_context_subset,
        }),
        grant_tokens: input.grant_tokens.unwrap_or_default(),
        name: input.name,
        dry_run: input.dry_run,
    };
    let out = kms.create_grant(caller, req)?;
    to_body(&CreateGrantOutput {
        grant_token: out.grant_token,
        grant_id: out.grant_id,
    })
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct GrantListEntryDto {
    key_id: String,
    grant_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    creation_date: f64,
    grantee_principal: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    retiring_principal: Option<String>,
    issuing_account: String,
    operations: Vec<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    constraints: Option<ConstraintsDto>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct ListGrantsOutput {
    grants: Vec<GrantListEntryDto>,
    truncated: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_marker: Option<String>,
}

fn list_output(out: ListGrantsResponse) -> Result<Vec<u8>, ApiError> {
    to_body(&ListGrantsOutput {
        grants: out
            .grants
            .into_iter()
            .map(|g| GrantListEntryDto {
                key_id: g.key_arn,
                creation_date: timestamp(g.grant.created_at),
                operations: g.grant.operations.iter().map(|o| o.as_str()).collect(),
                constraints: g.grant.constraints.map(|c| ConstraintsDto {
                    encryption_context_subset: c.encryption_context_subset,
                    encryption_context_equals: c.encryption_context_equals,
                }),
                grant_id: g.grant.grant_id,
                name: g.grant.name,
                grantee_principal: g.grant.grantee_principal,
                retiring_principal: g.grant.retiring_principal,
                issuing_account: g.issuing_account,
            })
            .collect(),
        truncated: out.next_marker.is_some(),
        next_marker: out.next_marker,
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListGrantsInput {
    key_id: Option<String>,
    limit: Option<i64>,
    marker: Option<String>,
    grant_id: Option<String>,
    grantee_principal: Option<String>,
}

pub fn list_grants(kms: &Kms, caller: &Caller, body: &[u8]) -> Result<Vec<u8>, ApiError> {
    let input: ListGrantsInput = parse(body)?;
    let out = kms.list_grants(
        caller,
        ListGrantsRequest {
            key_id: required(&input.key_id, "keyId")?.to_string(),
            limit: input.limit,
            marker: input.marker,
            grant_id: input.grant_id,
            grantee_principal: input.grantee_principal,
        },
    )?;
    list_output(out)
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListRetirableGrantsInput {
    retiring_principal: Option<String>,
    limit: Option<i64>,
    marker: Option<String>,
}

pub fn list_retirable_grants(kms: &Kms, caller: &Caller, body: &[u8]) -> Result<Vec<u8>, ApiError> {
    let input: ListRetirableGrantsInput = parse(body)?;
    let out = kms.list_retirable_grants(
        caller,
        required(&input.retiring_principal, "retiringPrincipal")?,
        input.limit,
        input.marker.as_deref(),
    )?;
    list_output(out)
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RetireGrantInput {
    grant_token: Option<String>,
    key_id: Option<String>,
    grant_id: Option<String>,
    #[serde(default)]
    dry_run: bool,
}

pub fn retire_grant(kms: &Kms, caller: &Caller, body: &[u8]) -> Result<Vec<u8>, ApiError> {
    let input: RetireGrantInput = parse(body)?;
    kms.retire_grant(
        caller,
        RetireGrantRequest {
            grant_token: input.grant_token,
            key_id: input.key_id,
            grant_id: input.grant_id,
            dry_run: input.dry_run,
        },
    )?;
    empty()
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RevokeGrantInput {
    key_id: Option<String>,
    grant_id: Option<String>,
    #[serde(default)]
    dry_run: bool,
}

pub fn revoke_grant(kms: &Kms, caller: &Caller, body: &[u8]) -> Result<Vec<u8>, ApiError> {
    let input: RevokeGrantInput = parse(body)?;
    kms.revoke_grant(
        caller,
        required(&input.key_id, "keyId")?,
        required(&input.grant_id, "grantId")?,
        input.dry_run,
    )?;
    empty()
}
