//! The closed set of operations Kagi serves, parsed from `X-Amz-Target`.

/// Every operation the router knows. Anything else is `UnknownOperationException`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    CreateKey,
    DescribeKey,
    ListKeys,
    EnableKey,
    DisableKey,
    UpdateKeyDescription,
    ScheduleKeyDeletion,
    CancelKeyDeletion,
    Encrypt,
    Decrypt,
    ReEncrypt,
    GenerateDataKey,
    GenerateDataKeyWithoutPlaintext,
    GenerateRandom,
    CreateAlias,
    UpdateAlias,
    DeleteAlias,
    ListAliases,
    TagResource,
    UntagResource,
    ListResourceTags,
    EnableKeyRotation,
    DisableKeyRotation,
    GetKeyRotationStatus,
    RotateKeyOnDemand,
    ListKeyRotations,
    AdminCreateAccessKey,
    AdminListAccessKeys,
    AdminUpdateAccessKey,
    AdminDeleteAccessKey,
    AdminPutUserPolicy,
    AdminListUserPolicies,
    AdminDeleteUserPolicy,
    AdminPutRole,
    AdminDeleteRole,
    AdminListRoles,
    AdminPutRolePolicy,
    AdminListRolePolicies,
    AdminDeleteRolePolicy,
    AdminTagUser,
    AdminUntagUser,
    AdminListUserTags,
    AdminTagRole,
    AdminUntagRole,
    AdminListRoleTags,
    StsAssumeRole,
    StsGetCallerIdentity,
    GetKeyPolicy,
    PutKeyPolicy,
    ListKeyPolicies,
    CreateGrant,
    ListGrants,
    ListRetirableGrants,
    RetireGrant,
    RevokeGrant,
    GetKeyLastUsage,
    LookupEvents,
    AuditGetCheckpoint,
    AuditGetInclusionProof,
    AuditGetConsistencyProof,
    AuditGetKeyUsage,
}

/// `X-Amz-Target` prefix of AWS KMS operations.
pub const KMS_PREFIX: &str = "TrentService.";
/// `X-Amz-Target` prefix of Kagi's own administration API (`kagi admin`).
pub const ADMIN_PREFIX: &str = "KagiAdmin.";
/// `X-Amz-Target` prefix of Kagi's audit API (proofs, checkpoints, key usage).
pub const AUDIT_PREFIX: &str = "KagiAudit.";
/// `X-Amz-Target` prefix of the CloudTrail API (JSON 1.1).
pub const CLOUDTRAIL_PREFIX: &str = "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.";

impl Operation {
    /// Every operation, in declaration order (for tests, fuzzing and audit coverage).
    pub const ALL: &'static [Operation] = &[
        Operation::CreateKey,
        Operation::DescribeKey,
        Operation::ListKeys,
        Operation::EnableKey,
        Operation::DisableKey,
        Operation::UpdateKeyDescription,
        Operation::ScheduleKeyDeletion,
        Operation::CancelKeyDeletion,
        Operation::Encrypt,
        Operation::Decrypt,
        Operation::ReEncrypt,
        Operation::GenerateDataKey,
        Operation::GenerateDataKeyWithoutPlaintext,
        Operation::GenerateRandom,
        Operation::CreateAlias,
        Operation::UpdateAlias,
        Operation::DeleteAlias,
        Operation::ListAliases,
        Operation::TagResource,
        Operation::UntagResource,
        Operation::ListResourceTags,
        Operation::EnableKeyRotation,
        Operation::DisableKeyRotation,
        Operation::GetKeyRotationStatus,
        Operation::RotateKeyOnDemand,
        Operation::ListKeyRotations,
        Operation::AdminCreateAccessKey,
        Operation::AdminListAccessKeys,
        Operation::AdminUpdateAccessKey,
        Operation::AdminDeleteAccessKey,
        Operation::AdminPutUserPolicy,
        Operation::AdminListUserPolicies,
        Operation::AdminDeleteUserPolicy,
        Operation::AdminPutRole,
        Operation::AdminDeleteRole,
        Operation::AdminListRoles,
        Operation::AdminPutRolePolicy,
        Operation::AdminListRolePolicies,
        Operation::AdminDeleteRolePolicy,
        Operation::AdminTagUser,
        Operation::AdminUntagUser,
        Operation::AdminListUserTags,
        Operation::AdminTagRole,
        Operation::AdminUntagRole,
        Operation::AdminListRoleTags,
        Operation::StsAssumeRole,
        Operation::StsGetCallerIdentity,
        Operation::GetKeyPolicy,
        Operation::PutKeyPolicy,
        Operation::ListKeyPolicies,
        Operation::CreateGrant,
        Operation::ListGrants,
        Operation::ListRetirableGrants,
        Operation::RetireGrant,
        Operation::RevokeGrant,
        Operation::GetKeyLastUsage,
        Operation::LookupEvents,
        Operation::AuditGetCheckpoint,
        Operation::AuditGetInclusionProof,
        Operation::AuditGetConsistencyProof,
        Operation::AuditGetKeyUsage,
    ];

    pub fn from_target(target: &str) -> Option<Self> {
        use Operation::*;
        if let Some(op) = target.strip_prefix(KMS_PREFIX) {
            return Some(match op {
                "CreateKey" => CreateKey,
                "DescribeKey" => DescribeKey,
                "ListKeys" => ListKeys,
                "EnableKey" => EnableKey,
                "DisableKey" => DisableKey,
                "UpdateKeyDescription" => UpdateKeyDescription,
                "ScheduleKeyDeletion" => ScheduleKeyDeletion,
                "CancelKeyDeletion" => CancelKeyDeletion,
                "Encrypt" => Encrypt,
                "Decrypt" => Decrypt,
                "ReEncrypt" => ReEncrypt,
                "GenerateDataKey" => GenerateDataKey,
                "GenerateDataKeyWithoutPlaintext" => GenerateDataKeyWithoutPlaintext,
                "GenerateRandom" => GenerateRandom,
                "CreateAlias" => CreateAlias,
                "UpdateAlias" => UpdateAlias,
                "DeleteAlias" => DeleteAlias,
                "ListAliases" => ListAliases,
                "TagResource" => TagResource,
                "UntagResource" => UntagResource,
                "ListResourceTags" => ListResourceTags,
                "EnableKeyRotation" => EnableKeyRotation,
                "DisableKeyRotation" => DisableKeyRotation,
                "GetKeyRotationStatus" => GetKeyRotationStatus,
                "RotateKeyOnDemand" => RotateKeyOnDemand,
                "ListKeyRotations" => ListKeyRotations,
                "GetKeyLastUsage" => GetKeyLastUsage,
                "GetKeyPolicy" => GetKeyPolicy,
                "PutKeyPolicy" => PutKeyPolicy,
                "ListKeyPolicies" => ListKeyPolicies,
                "CreateGrant" => CreateGrant,
                "ListGrants" => ListGrants,
                "ListRetirableGrants" => ListRetirableGrants,
                "RetireGrant" => RetireGrant,
                "RevokeGrant" => RevokeGrant,
                _ => return None,
            });
        }
        if let Some(op) = target.strip_prefix(CLOUDTRAIL_PREFIX) {
            return (op == "LookupEvents").then_some(LookupEvents);
        }
        if let Some(op) = target.strip_prefix(AUDIT_PREFIX) {
            return Some(match op {
                "GetCheckpoint" => AuditGetCheckpoint,
                "GetInclusionProof" => AuditGetInclusionProof,
                "GetConsistencyProof" => AuditGetConsistencyProof,
                "GetKeyUsage" => AuditGetKeyUsage,
                _ => return None,
            });
        }
        Some(match target.strip_prefix(ADMIN_PREFIX)? {
            "CreateAccessKey" => AdminCreateAccessKey,
            "ListAccessKeys" => AdminListAccessKeys,
            "UpdateAccessKey" => AdminUpdateAccessKey,
            "DeleteAccessKey" => AdminDeleteAccessKey,
            "PutUserPolicy" => AdminPutUserPolicy,
            "ListUserPolicies" => AdminListUserPolicies,
            "DeleteUserPolicy" => AdminDeleteUserPolicy,
            "PutRole" => AdminPutRole,
            "DeleteRole" => AdminDeleteRole,
            "ListRoles" => AdminListRoles,
            "PutRolePolicy" => AdminPutRolePolicy,
            "ListRolePolicies" => AdminListRolePolicies,
            "DeleteRolePolicy" => AdminDeleteRolePolicy,
            "TagUser" => AdminTagUser,
            "UntagUser" => AdminUntagUser,
            "ListUserTags" => AdminListUserTags,
            "TagRole" => AdminTagRole,
            "UntagRole" => AdminUntagRole,
            "ListRoleTags" => AdminListRoleTags,
            _ => return None,
        })
    }

    /// The STS operation a query-protocol `Action` names (form-encoded POST, no target).
    pub fn from_query_action(action: &str) -> Option<Self> {
        match action {
            "AssumeRole" => Some(Operation::StsAssumeRole),
            "GetCallerIdentity" => Some(Operation::StsGetCallerIdentity),
            _ => None,
        }
    }

    /// STS, served with the AWS query protocol (form-encoded requests, XML responses).
    pub fn is_sts(self) -> bool {
        matches!(
            self,
            Operation::StsAssumeRole | Operation::StsGetCallerIdentity
        )
    }

    /// Whether the operation may wait on the store (a durable write, or a read that is not
    /// served from the in-memory cache). Those run on blocking threads; the others run
    /// inline on the async workers (they touch the store only on a key's first use).
    pub fn may_block(self) -> bool {
        use Operation::*;
        !matches!(
            self,
            Encrypt
                | Decrypt
                | ReEncrypt
                | GenerateDataKey
                | GenerateDataKeyWithoutPlaintext
                | GenerateRandom
                | DescribeKey
                | GetKeyRotationStatus
                | ListResourceTags
                | ListKeyRotations
                | GetKeyPolicy
                | ListKeyPolicies
                | StsGetCallerIdentity
        )
    }

    /// The SigV4 service name requests for this operation must be scoped to.
    pub fn signing_service(self) -> &'static str {
        if self.is_admin() || self.is_audit() {
            "kagi"
        } else if self.is_sts() {
            "sts"
        } else if self == Operation::LookupEvents {
            "cloudtrail"
        } else {
            "kms"
        }
    }

    /// The `X-Amz-Target` prefix the operation is named with.
    pub fn target_prefix(self) -> &'static str {
        if self.is_admin() {
            ADMIN_PREFIX
        } else if self.is_audit() {
            AUDIT_PREFIX
        } else if self == Operation::LookupEvents {
            CLOUDTRAIL_PREFIX
        } else {
            KMS_PREFIX
        }
    }

    /// Kagi's audit API (`KagiAudit.*`).
    pub fn is_audit(self) -> bool {
        use Operation::*;
        matches!(
            self,
            AuditGetCheckpoint
                | AuditGetInclusionProof
                | AuditGetConsistencyProof
                | AuditGetKeyUsage
        )
    }

    /// `eventSource` of the operation's audit events.
    pub fn event_source(self) -> &'static str {
        match self {
            Operation::LookupEvents => "cloudtrail.amazonaws.com",
            Operation::StsAssumeRole | Operation::StsGetCallerIdentity => "sts.amazonaws.com",
            _ => kagi_audit::event::KMS_EVENT_SOURCE,
        }
    }

    pub fn is_admin(self) -> bool {
        use Operation::*;
        matches!(
            self,
            AdminCreateAccessKey
                | AdminListAccessKeys
                | AdminUpdateAccessKey
                | AdminDeleteAccessKey
                | AdminPutUserPolicy
                | AdminListUserPolicies
                | AdminDeleteUserPolicy
                | AdminPutRole
                | AdminDeleteRole
                | AdminListRoles
                | AdminPutRolePolicy
                | AdminListRolePolicies
                | AdminDeleteRolePolicy
                | AdminTagUser
                | AdminUntagUser
                | AdminListUserTags
                | AdminTagRole
                | AdminUntagRole
                | AdminListRoleTags
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_lists_every_variant_once() {
        // Fails to compile when a variant is added without being listed here; the length
        // check then makes sure it was added to `ALL` too.
        fn listed(op: Operation) -> bool {
            match op {
                Operation::CreateKey
                | Operation::DescribeKey
                | Operation::ListKeys
                | Operation::EnableKey
                | Operation::DisableKey
                | Operation::UpdateKeyDescription
                | Operation::ScheduleKeyDeletion
                | Operation::CancelKeyDeletion
                | Operation::Encrypt
                | Operation::Decrypt
                | Operation::ReEncrypt
                | Operation::GenerateDataKey
                | Operation::GenerateDataKeyWithoutPlaintext
                | Operation::GenerateRandom
                | Operation::CreateAlias
                | Operation::UpdateAlias
                | Operation::DeleteAlias
                | Operation::ListAliases
                | Operation::TagResource
                | Operation::UntagResource
                | Operation::ListResourceTags
                | Operation::EnableKeyRotation
                | Operation::DisableKeyRotation
                | Operation::GetKeyRotationStatus
                | Operation::RotateKeyOnDemand
                | Operation::ListKeyRotations
                | Operation::AdminCreateAccessKey
                | Operation::AdminListAccessKeys
                | Operation::AdminUpdateAccessKey
                | Operation::AdminDeleteAccessKey
                | Operation::AdminPutUserPolicy
                | Operation::AdminListUserPolicies
                | Operation::AdminDeleteUserPolicy
                | Operation::AdminPutRole
                | Operation::AdminDeleteRole
                | Operation::AdminListRoles
                | Operation::AdminPutRolePolicy
                | Operation::AdminListRolePolicies
                | Operation::AdminDeleteRolePolicy
                | Operation::AdminTagUser
                | Operation::AdminUntagUser
                | Operation::AdminListUserTags
                | Operation::AdminTagRole
                | Operation::AdminUntagRole
                | Operation::AdminListRoleTags
                | Operation::StsAssumeRole
                | Operation::StsGetCallerIdentity
                | Operation::GetKeyPolicy
                | Operation::PutKeyPolicy
                | Operation::ListKeyPolicies
                | Operation::CreateGrant
                | Operation::ListGrants
                | Operation::ListRetirableGrants
                | Operation::RetireGrant
                | Operation::RevokeGrant
                | Operation::GetKeyLastUsage
                | Operation::LookupEvents
                | Operation::AuditGetCheckpoint
                | Operation::AuditGetInclusionProof
                | Operation::AuditGetConsistencyProof
                | Operation::AuditGetKeyUsage => true,
            }
        }
        assert!(Operation::ALL.iter().all(|op| listed(*op)));
        let mut seen = Operation::ALL.to_vec();
        seen.dedup();
        assert_eq!(seen.len(), 61);
    }

    #[test]
    fn targets() {
        assert_eq!(
            Operation::from_target("TrentService.Encrypt"),
            Some(Operation::Encrypt)
        );
        assert_eq!(Operation::from_target("TrentService.Nope"), None);
        assert_eq!(Operation::from_target("Encrypt"), None);
        assert_eq!(
            Operation::from_target("KagiAdmin.ListAccessKeys"),
            Some(Operation::AdminListAccessKeys)
        );
        assert!(!Operation::Encrypt.may_block());
        assert!(Operation::CreateKey.may_block());
    }
}
