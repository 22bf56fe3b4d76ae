//! Kagi's own administration API (`X-Amz-Target: KagiAdmin.*`, SigV4 service `kagi`),
//! used by `kagi admin`: create, list, disable/enable and delete access keys; put, list
//! and delete the inline identity policies of users. Only
//! principals whose access key is marked admin may call it.

use super::{empty, required, to_body};
use crate::error::ApiError;
use crate::wire::{parse, timestamp};
use kagi_kms::{AccessKeyStatus, AccountId, Caller, Kms, KmsError};
use serde::{Deserialize, Serialize};

pub(crate) fn require_admin(caller: &Caller, action: &str) -> Result<(), ApiError> {
    if caller.principal.admin {
        Ok(())
    } else {
        Err(ApiError::AccessDenied {
            arn: caller.principal.arn.clone(),
            action: format!("kagi:{action}"),
        })
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct CreateAccessKeyInput {
    user_name: Option<String>,
    #[serde(default)]
    admin: bool,
    /// The user's account, when it is another than the installation's.
    account_id: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct AccessKeyDto {
    access_key_id: String,
    user_name: String,
    status: &'static str,
    create_date: f64,
    admin: bool,
    /// The user's account.
    account_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    secret_access_key: Option<String>,
}

pub fn create_access_key(kms: &Kms, caller: &Caller, body: &[u8]) -> Result<Vec<u8>, ApiError> {
    require_admin(caller, "CreateAccessKey")?;
    let input: CreateAccessKeyInput = parse(body)?;
    let account = match input.account_id.as_deref() {
        None => None,
        Some(raw) => Some(AccountId::parse(raw).ok_or_else(|| {
            KmsError::validation(format!(
                "1 validation error detected: Value '{raw}' at 'accountId' failed to satisfy constraint: Member must be 12 digits"
            ))
        })?),
    };
    let new = kms.create_access_key(
        required(&input.user_name, "userName")?,
        input.admin,
        account,
    )?;
    let r = new.record;
    to_body(&serde_json::json!({ "AccessKey": AccessKeyDto {
        account_id: r.account.as_ref().unwrap_or(kms.account()).to_string(),
        access_key_id: r.access_key_id,
        user_name: r.user_name,
        status: r.status.as_str(),
        create_date: timestamp(r.created_at),
        admin: r.admin,
        // The one time the secret leaves Kagi: the administrator asked for it.
        secret_access_key: Some(String::from_utf8_lossy(new.secret.expose()).into_owned()),
    }}))
}

pub fn list_access_keys(kms: &Kms, caller: &Caller, body: &[u8]) -> Result<Vec<u8>, ApiError> {
    require_admin(caller, "ListAccessKeys")?;
    let _: serde_json::Value = parse(body)?;
    let keys: Vec<AccessKeyDto> = kms
        .list_access_keys()?
        .into_iter()
        .map(|r| AccessKeyDto {
            account_id: r.account.as_ref().unwrap_or(kms.account()).to_string(),
            access_key_id: r.access_key_id,
            user_name: r.user_name,
            status: r.status.as_str(),
            create_date: timestamp(r.created_at),
            admin: r.admin,
            secret_access_key: None,
        })
        .collect();
    to_body(&serde_json::json!({ "AccessKeys": keys }))
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct UpdateAccessKeyInput {
    access_key_id: Option<String>,
    status: Option<String>,
}

pub fn update_access_key(kms: &Kms, caller: &Caller, body: &[u8]) -> Result<Vec<u8>, ApiError> {
    require_admin(caller, "UpdateAccessKey")?;
    let input: UpdateAccessKeyInput = parse(body)?;
    let id = required(&input.access_key_id, "accessKeyId")?;
    let status_raw = required(&input.status, "status")?;
    let status = AccessKeyStatus::parse(status_raw).ok_or_else(|| {
        KmsError::validation(format!(
            "1 validation error detected: Value '{status_raw}' at 'status' failed to satisfy constraint: Member must satisfy enum value set: [Active, Inactive]"
        ))
    })?;
    kms.set_access_key_status(id, status)?;
    empty()
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DeleteAccessKeyInput {
    access_key_id: Option<String>,
}

pub fn delete_access_key(kms: &Kms, caller: &Caller, body: &[u8]) -> Result<Vec<u8>, ApiError> {
    require_admin(caller, "DeleteAccessKey")?;
    let input: DeleteAccessKeyInput = parse(body)?;
    kms.delete_access_key(required(&input.access_key_id, "accessKeyId")?)?;
    empty()
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct UserPolicyInput {
    user_name: Option<String>,
    policy_name: Option<String>,
    policy_document: Option<String>,
}

pub fn put_user_policy(kms: &Kms, caller: &Caller, body: &[u8]) -> Result<Vec<u8>, ApiError> {
    require_admin(caller, "PutUserPolicy")?;
    let input: UserPolicyInput = parse(body)?;
    kms.put_user_policy(
        required(&input.user_name, "userName")?,
        required(&input.policy_name, "policyName")?,
        required(&input.policy_document, "policyDocument")?,
    )?;
    empty()
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct UserPolicyDto {
    user_name: String,
    policy_name: String,
    policy_document: String,
    update_date: f64,
}

/// The user's inline policies with their documents (IAM's ListUserPolicies and
/// GetUserPolicy in one).
pub fn list_user_policies(kms: &Kms, caller: &Caller, body: &[u8]) -> Result<Vec<u8>, ApiError> {
    require_admin(caller, "ListUserPolicies")?;
    let input: UserPolicyInput = parse(body)?;
    let policies: Vec<UserPolicyDto> = kms
        .user_policies(required(&input.user_name, "userName")?)?
        .into_iter()
        .map(|p| UserPolicyDto {
            user_name: p.user_name,
            policy_name: p.policy_name,
            policy_document: p.document,
            update_date: timestamp(p.updated_at),
        })
        .collect();
    to_body(&serde_json::json!({ "Policies": policies }))
}

pub fn delete_user_policy(kms: &Kms, caller: &Caller, body: &[u8]) -> Result<Vec<u8>, ApiError> {
    require_admin(caller, "DeleteUserPolicy")?;
    let input: UserPolicyInput = parse(body)?;
    kms.delete_user_policy(
        required(&input.user_name, "userName")?,
        required(&input.policy_name, "policyName")?,
    )?;
    empty()
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RoleInput {
    role_name: Option<String>,
    assume_role_policy_document: Option<String>,
    max_session_duration: Option<u32>,
    policy_name: Option<String>,
    policy_document: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct RoleDto {
    role_name: String,
    arn: String,
    assume_role_policy_document: String,
    max_session_duration: u32,
    create_date: f64,
}

fn role_dto(kms: &Kms, r: kagi_kms::RoleRecord) -> RoleDto {
    RoleDto {
        arn: kms.role_arn(&r.role_name),
        role_name: r.role_name,
        assume_role_policy_document: r.trust_policy,
        max_session_duration: r.max_session_seconds,
        create_date: timestamp(r.created_at),
    }
}

/// Creates a role or replaces its trust policy (IAM's CreateRole and
/// UpdateAssumeRolePolicy in one).
pub fn put_role(kms: &Kms, caller: &Caller, body: &[u8]) -> Result<Vec<u8>, ApiError> {
    require_admin(caller, "PutRole")?;
    let input: RoleInput = parse(body)?;
    let role = kms.put_role(
        required(&input.role_name, "roleName")?,
        required(
            &input.assume_role_policy_document,
            "assumeRolePolicyDocument",
        )?,
        input.max_session_duration,
    )?;
    to_body(&serde_json::json!({ "Role": role_dto(kms, role) }))
}

pub fn list_roles(kms: &Kms, caller: &Caller, body: &[u8]) -> Result<Vec<u8>, ApiError> {
    require_admin(caller, "ListRoles")?;
    let _: serde_json::Value = parse(body)?;
    let roles: Vec<RoleDto> = kms
        .list_roles()?
        .into_iter()
        .map(|r| role_dto(kms, r))
        .collect();
    to_body(&serde_json::json!({ "Roles": roles }))
}

pub fn delete_role(kms: &Kms, caller: &Caller, body: &[u8]) -> Result<Vec<u8>, ApiError> {
    require_admin(caller, "DeleteRole")?;
    let input: RoleInput = parse(body)?;
    kms.delete_role(required(&input.role_name, "roleName")?)?;
    empty()
}

pub fn put_role_policy(kms: &Kms, caller: &Caller, body: &[u8]) -> Result<Vec<u8>, ApiError> {
    require_admin(caller, "PutRolePolicy")?;
    let input: RoleInput = parse(body)?;
    kms.put_role_policy(
        required(&input.role_name, "roleName")?,
        required(&input.policy_name, "policyName")?,
        required(&input.policy_document, "policyDocument")?,
    )?;
    empty()
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct RolePolicyDto {
    role_name: String,
    policy_name: String,
    policy_document: String,
    update_date: f64,
}

pub fn list_role_policies(kms: &Kms, caller: &Caller, body: &[u8]) -> Result<Vec<u8>, ApiError> {
    require_admin(caller, "ListRolePolicies")?;
    let input: RoleInput = parse(body)?;
    let policies: Vec<RolePolicyDto> = kms
        .role_policies(required(&input.role_name, "roleName")?)?
        .into_iter()
        .map(|p| RolePolicyDto {
            role_name: p.role_name,
            policy_name: p.policy_name,
            policy_document: p.document,
            update_date: timestamp(p.updated_at),
        })
        .collect();
    to_body(&serde_json::json!({ "Policies": policies }))
}

pub fn delete_role_policy(kms: &Kms, caller: &Caller, body: &[u8]) -> Result<Vec<u8>, ApiError> {
    require_admin(caller, "DeleteRolePolicy")?;
    let input: RoleInput = parse(body)?;
    kms.delete_role_policy(
        required(&input.role_name, "roleName")?,
        required(&input.policy_name, "policyName")?,
    )?;
    empty()
}

/// Whether a tag operation is about a user or a role.
#[derive(Debug, Clone, Copy)]
pub enum PrincipalKind {
    User,
    Role,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct PrincipalTagDto {
    key: Option<String>,
    value: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct PrincipalTagsInput {
    user_name: Option<String>,
    role_name: Option<String>,
    tags: Option<Vec<PrincipalTagDto>>,
    tag_keys: Option<Vec<String>>,
}

impl PrincipalTagsInput {
    fn principal(&self, kind: PrincipalKind) -> Result<kagi_kms::PrincipalRef, ApiError> {
        Ok(match kind {
            PrincipalKind::User => {
                kagi_kms::PrincipalRef::User(required(&self.user_name, "userName")?.to_string())
            }
            PrincipalKind::Role => {
                kagi_kms::PrincipalRef::Role(required(&self.role_name, "roleName")?.to_string())
            }
        })
    }
}

fn tag_action(kind: PrincipalKind, add: bool) -> &'static str {
    match (kind, add) {
        (PrincipalKind::User, true) => "TagUser",
        (PrincipalKind::User, false) => "UntagUser",
        (PrincipalKind::Role, true) => "TagRole",
        (PrincipalKind::Role, false) => "UntagRole",
    }
}

/// TagUser / TagRole (`add`), UntagUser / UntagRole.
pub fn tag_principal(
    kms: &Kms,
    caller: &Caller,
    body: &[u8],
    kind: PrincipalKind,
    add: bool,
) -> Result<Vec<u8>, ApiError> {
    require_admin(caller, tag_action(kind, add))?;
    let input: PrincipalTagsInput = parse(body)?;
    let principal = input.principal(kind)?;
    if add {
        let tags = input
            .tags
            .ok_or_else(|| super::null_field("tags"))?
            .into_iter()
            .map(|t| {
                Ok(kagi_kms::Tag {
                    key: required(&t.key, "tags.member.key")?.to_string(),
                    value: required(&t.value, "tags.member.value")?.to_string(),
                })
            })
            .collect::<Result<Vec<_>, ApiError>>()?;
        kms.tag_principal(&principal, tags)?;
    } else {
        let keys = input.tag_keys.ok_or_else(|| super::null_field("tagKeys"))?;
        kms.untag_principal(&principal, &keys)?;
    }
    empty()
}

/// ListUserTags / ListRoleTags.
pub fn list_principal_tags(
    kms: &Kms,
    caller: &Caller,
    body: &[u8],
    kind: PrincipalKind,
) -> Result<Vec<u8>, ApiError> {
    let action = match kind {
        PrincipalKind::User => "ListUserTags",
        PrincipalKind::Role => "ListRoleTags",
    };
    require_admin(caller, action)?;
    let input: PrincipalTagsInput = parse(body)?;
    let tags: Vec<serde_json::Value> = kms
        .principal_tags_of(&input.principal(kind)?)?
        .into_iter()
        .map(|t| serde_json::json!({"Key": t.key, "Value": t.value}))
        .collect();
    to_body(&serde_json::json!({ "Tags": tags }))
}
