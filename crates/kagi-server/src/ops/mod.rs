//! Request and response DTOs of every operation, and the mapping between them and the
//! domain. One file per operation family, mirroring `kagi_kms::ops`. Each handler takes
//! the raw body and returns the serialised response body.

pub mod admin;
pub mod aliases;
pub mod audit;
pub mod data_key;
pub mod encrypt;
pub mod grants;
pub mod key_policy;
pub mod keys;
pub mod rotation;
pub mod sts;
pub mod tags;

use crate::error::ApiError;
use crate::operation::Operation;
use admin::PrincipalKind as Principal;
use audit::History;
use kagi_kms::{Caller, Kms};
use serde::Serialize;

pub fn to_body<T: Serialize>(value: &T) -> Result<Vec<u8>, ApiError> {
    serde_json::to_vec(value).map_err(|e| {
        tracing::error!(error = %e, "response serialisation failed");
        ApiError::Internal
    })
}

/// The empty JSON object operations without output return.
pub fn empty() -> Result<Vec<u8>, ApiError> {
    Ok(b"{}".to_vec())
}

/// Runs one operation. This `match` is the whole routing table.
pub fn dispatch(
    kms: &Kms,
    trail: &History<'_>,
    op: Operation,
    caller: &Caller,
    body: &[u8],
) -> Result<Vec<u8>, ApiError> {
    use Operation::*;
    match op {
        CreateKey => keys::create_key(kms, caller, body),
        DescribeKey => keys::describe_key(kms, caller, body),
        ListKeys => keys::list_keys(kms, caller, body),
        EnableKey => keys::enable_key(kms, caller, body),
        DisableKey => keys::disable_key(kms, caller, body),
        UpdateKeyDescription => keys::update_key_description(kms, caller, body),
        ScheduleKeyDeletion => keys::schedule_key_deletion(kms, caller, body),
        CancelKeyDeletion => keys::cancel_key_deletion(kms, caller, body),
        Encrypt => encrypt::encrypt(kms, caller, body),
        Decrypt => encrypt::decrypt(kms, caller, body),
        ReEncrypt => encrypt::re_encrypt(kms, caller, body),
        GenerateDataKey => data_key::generate_data_key(kms, caller, body, true),
        GenerateDataKeyWithoutPlaintext => data_key::generate_data_key(kms, caller, body, false),
        GenerateRandom => data_key::generate_random(kms, caller, body),
        CreateAlias => aliases::create_alias(kms, caller, body),
        UpdateAlias => aliases::update_alias(kms, caller, body),
        DeleteAlias => aliases::delete_alias(kms, caller, body),
        ListAliases => aliases::list_aliases(kms, caller, body),
        TagResource => tags::tag_resource(kms, caller, body),
        UntagResource => tags::untag_resource(kms, caller, body),
        ListResourceTags => tags::list_resource_tags(kms, caller, body),
        EnableKeyRotation => rotation::enable_key_rotation(kms, caller, body),
        DisableKeyRotation => rotation::disable_key_rotation(kms, caller, body),
        GetKeyRotationStatus => rotation::get_key_rotation_status(kms, caller, body),
        RotateKeyOnDemand => rotation::rotate_key_on_demand(kms, caller, body),
        ListKeyRotations => rotation::list_key_rotations(kms, caller, body),
        AdminCreateAccessKey => admin::create_access_key(kms, caller, body),
        AdminListAccessKeys => admin::list_access_keys(kms, caller, body),
        AdminUpdateAccessKey => admin::update_access_key(kms, caller, body),
        AdminDeleteAccessKey => admin::delete_access_key(kms, caller, body),
        AdminPutUserPolicy => admin::put_user_policy(kms, caller, body),
        AdminListUserPolicies => admin::list_user_policies(kms, caller, body),
        AdminDeleteUserPolicy => admin::delete_user_policy(kms, caller, body),
        AdminPutRole => admin::put_role(kms, caller, body),
        AdminDeleteRole => admin::delete_role(kms, caller, body),
        AdminListRoles => admin::list_roles(kms, caller, body),
        AdminPutRolePolicy => admin::put_role_policy(kms, caller, body),
        AdminListRolePolicies => admin::list_role_policies(kms, caller, body),
        AdminDeleteRolePolicy => admin::delete_role_policy(kms, caller, body),
        AdminTagUser => admin::tag_principal(kms, caller, body, Principal::User, true),
        AdminUntagUser => admin::tag_principal(kms, caller, body, Principal::User, false),
        AdminListUserTags => admin::list_principal_tags(kms, caller, body, Principal::User),
        AdminTagRole => admin::tag_principal(kms, caller, body, Principal::Role, true),
        AdminUntagRole => admin::tag_principal(kms, caller, body, Principal::Role, false),
        AdminListRoleTags => admin::list_principal_tags(kms, caller, body, Principal::Role),
        StsAssumeRole => sts::assume_role(kms, caller, body),
        StsGetCallerIdentity => sts::get_caller_identity(kms, caller),
        GetKeyPolicy => key_policy::get_key_policy(kms, caller, body),
        PutKeyPolicy => key_policy::put_key_policy(kms, caller, body),
        ListKeyPolicies => key_policy::list_key_policies(kms, caller, body),
        CreateGrant => grants::create_grant(kms, caller, body),
        ListGrants => grants::list_grants(kms, caller, body),
        ListRetirableGrants => grants::list_retirable_grants(kms, caller, body),
        RetireGrant => grants::retire_grant(kms, caller, body),
        RevokeGrant => grants::revoke_grant(kms, caller, body),
        GetKeyLastUsage => audit::get_key_last_usage(kms, trail, caller, body),
        LookupEvents => audit::lookup_events(trail, caller, body),
        AuditGetCheckpoint => audit::get_checkpoint(trail.trail, caller, body),
        AuditGetInclusionProof => audit::get_inclusion_proof(trail.trail, caller, body),
        AuditGetConsistencyProof => audit::get_consistency_proof(trail.trail, caller, body),
        AuditGetKeyUsage => audit::get_key_usage(kms, trail, caller, body),
    }
}

/// A required string field; AWS reports a missing one as a validation error.
pub fn required<'a>(value: &'a Option<String>, field: &str) -> Result<&'a str, ApiError> {
    value.as_deref().ok_or_else(|| null_field(field))
}

/// AWS's validation error for a missing required member.
pub fn null_field(field: &str) -> ApiError {
    ApiError::Kms(kagi_kms::KmsError::validation(format!(
        "1 validation error detected: Value null at '{field}' failed to satisfy constraint: Member must not be null"
    )))
}
