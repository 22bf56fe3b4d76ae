//! The domain's records: key metadata, key states, backing-key versions, aliases, tags and
//! access keys, as the domain sees them (not as any store lays them out).

use crate::clock::Timestamp;
use crate::ids::{AccountId, AliasName, KeyId, Region};

/// AWS key states that apply to symmetric keys with AWS_KMS origin.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyState {
    Enabled,
    Disabled,
    PendingDeletion,
}

impl KeyState {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyState::Enabled => "Enabled",
            KeyState::Disabled => "Disabled",
            KeyState::PendingDeletion => "PendingDeletion",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "Enabled" => KeyState::Enabled,
            "Disabled" => KeyState::Disabled,
            "PendingDeletion" => KeyState::PendingDeletion,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tag {
    pub key: String,
    pub value: String,
}

/// Everything about a KMS key except its secret material.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyMetadata {
    pub region: Region,
    pub key_id: KeyId,
    pub created_at: Timestamp,
    pub description: String,
    pub state: KeyState,
    /// Set while `PendingDeletion`: when the key will be destroyed.
    pub deletion_date: Option<Timestamp>,
    pub pending_window_days: Option<u32>,
    pub policy: String,
    pub rotation_period_days: Option<u32>,
    /// Set while automatic rotation is enabled.
    pub next_rotation: Option<Timestamp>,
    pub tags: Vec<Tag>,
    /// 1 when created, one more with every change: what lets a shared store refuse a
    /// change based on an outdated copy ([`crate::Write::PutKey`]).
    pub revision: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RotationType {
    Automatic,
    OnDemand,
}

impl RotationType {
    pub fn as_str(self) -> &'static str {
        match self {
            RotationType::Automatic => "AUTOMATIC",
            RotationType::OnDemand => "ON_DEMAND",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "AUTOMATIC" => Some(RotationType::Automatic),
            "ON_DEMAND" => Some(RotationType::OnDemand),
            _ => None,
        }
    }
}

/// One backing-key version as stored: its material only in wrapped form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredVersion {
    pub version: u32,
    pub created_at: Timestamp,
    /// `None` for the key's original material, otherwise how the rotation happened.
    pub rotation: Option<RotationType>,
    /// The backing key sealed under the root key (kagi_crypto::root wrapped-secret format),
    /// bound to region, key id and version.
    pub wrapped: Vec<u8>,
}

/// A key as a store returns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredKey {
    pub meta: KeyMetadata,
    pub versions: Vec<StoredVersion>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AliasRecord {
    pub region: Region,
    pub name: AliasName,
    pub target: KeyId,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccessKeyStatus {
    Active,
    Inactive,
}

impl AccessKeyStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            AccessKeyStatus::Active => "Active",
            AccessKeyStatus::Inactive => "Inactive",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "Active" => Some(AccessKeyStatus::Active),
            "Inactive" => Some(AccessKeyStatus::Inactive),
            _ => None,
        }
    }
}

/// A user's access key; the secret exists only wrapped under the root key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessKeyRecord {
    pub access_key_id: String,
    pub user_name: String,
    pub status: AccessKeyStatus,
    pub created_at: Timestamp,
    /// May call `kagi admin` operations.
    pub admin: bool,
    pub wrapped_secret: Vec<u8>,
    /// The account the user belongs to when it is not the installation's own: a principal
    /// of a second account, which uses this installation's keys cross-account.
    pub account: Option<AccountId>,
}

/// An inline identity (IAM) policy attached to a user. The document is stored as the
/// administrator sent it; it was checked when it was put.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserPolicyRecord {
    pub user_name: String,
    pub policy_name: String,
    pub document: String,
    pub updated_at: Timestamp,
}

/// An IAM role: who may assume it (its trust policy, checked when it was put) and for how
/// long its sessions may last.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleRecord {
    pub role_name: String,
    pub trust_policy: String,
    /// The longest session AssumeRole may grant (IAM's `MaxSessionDuration`), seconds.
    pub max_session_seconds: u32,
    pub created_at: Timestamp,
}

/// An inline identity policy of a role; it applies to the role's sessions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RolePolicyRecord {
    pub role_name: String,
    pub policy_name: String,
    pub document: String,
    pub updated_at: Timestamp,
}
/// An operation a grant can allow (AWS's `GrantOperation` enum). Kagi's keys are symmetric,
/// so only the symmetric operations, `DescribeKey`, `CreateGrant` and `RetireGrant` can ever
/// be used through a grant; the others are accepted, stored and listed as AWS does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum GrantOperation {
    Decrypt,
    Encrypt,
    GenerateDataKey,
    GenerateDataKeyWithoutPlaintext,
    ReEncryptFrom,
    ReEncryptTo,
    Sign,
    Verify,
    GetPublicKey,
    CreateGrant,
    RetireGrant,
    DescribeKey,
    GenerateDataKeyPair,
    GenerateDataKeyPairWithoutPlaintext,
    GenerateMac,
    VerifyMac,
    DeriveSharedSecret,
}

impl GrantOperation {
    /// Every operation, in the order of AWS's API model.
    pub const ALL: [GrantOperation; 17] = [
        GrantOperation::Decrypt,
        GrantOperation::Encrypt,
        GrantOperation::GenerateDataKey,
        GrantOperation::GenerateDataKeyWithoutPlaintext,
        GrantOperation::ReEncryptFrom,
        GrantOperation::ReEncryptTo,
        GrantOperation::Sign,
        GrantOperation::Verify,
        GrantOperation::GetPublicKey,
        GrantOperation::CreateGrant,
        GrantOperation::RetireGrant,
        GrantOperation::DescribeKey,
        GrantOperation::GenerateDataKeyPair,
        GrantOperation::GenerateDataKeyPairWithoutPlaintext,
        GrantOperation::GenerateMac,
        GrantOperation::VerifyMac,
        GrantOperation::DeriveSharedSecret,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            GrantOperation::Decrypt => "Decrypt",
            GrantOperation::Encrypt => "Encrypt",
            GrantOperation::GenerateDataKey => "GenerateDataKey",
            GrantOperation::GenerateDataKeyWithoutPlaintext => "GenerateDataKeyWithoutPlaintext",
            GrantOperation::ReEncryptFrom => "ReEncryptFrom",
            GrantOperation::ReEncryptTo => "ReEncryptTo",
            GrantOperation::Sign => "Sign",
            GrantOperation::Verify => "Verify",
            GrantOperation::GetPublicKey => "GetPublicKey",
            GrantOperation::CreateGrant => "CreateGrant",
            GrantOperation::RetireGrant => "RetireGrant",
            GrantOperation::DescribeKey => "DescribeKey",
            GrantOperation::GenerateDataKeyPair => "GenerateDataKeyPair",
            GrantOperation::GenerateDataKeyPairWithoutPlaintext => {
                "GenerateDataKeyPairWithoutPlaintext"
            }
            GrantOperation::GenerateMac => "GenerateMac",
            GrantOperation::VerifyMac => "VerifyMac",
            GrantOperation::DeriveSharedSecret => "DeriveSharedSecret",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|op| op.as_str() == s)
    }

    /// The operation a policy action (`kms:Encrypt`) stands for, if a grant can allow it.
    pub fn of_action(action: &str) -> Option<Self> {
        action.strip_prefix("kms:").and_then(Self::parse)
    }
}

/// A grant's encryption-context constraints (AWS's `GrantConstraints`). As AWS documents,
/// context keys compare case-insensitively here and values case-sensitively.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GrantConstraints {
    /// The request's context must be exactly this one.
    pub encryption_context_equals: Option<std::collections::BTreeMap<String, String>>,
    /// The request's context must include every pair of this one.
    pub encryption_context_subset: Option<std::collections::BTreeMap<String, String>>,
}

impl GrantConstraints {
    pub fn is_empty(&self) -> bool {
        self.encryption_context_equals.is_none() && self.encryption_context_subset.is_none()
    }
}

/// A grant on a key: it lets `grantee_principal` call `operations` on the key while its
/// constraints hold, until it is retired or revoked (or the key is destroyed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrantRecord {
    pub region: Region,
    pub key_id: KeyId,
    /// 64 lowercase hex digits, unique in the installation.
    pub grant_id: String,
    /// The optional friendly name that makes CreateGrant idempotent.
    pub name: Option<String>,
    pub grantee_principal: String,
    pub retiring_principal: Option<String>,
    /// The ARN of the principal that created the grant.
    pub issuing_principal: String,
    /// Without duplicates, in AWS's enum order.
    pub operations: Vec<GrantOperation>,
    pub constraints: Option<GrantConstraints>,
    pub created_at: Timestamp,
    /// Authenticates the grant's tokens (HMAC-SHA-256 key, 32 random bytes). Tokens carry no
    /// authority of their own in Kagi (grants are effective at once), so this is an
    /// integrity key, stored as is; see `ops::grants`.
    pub token_secret: Vec<u8>,
}

/// A user or a role, by name: what principal tags are attached to.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PrincipalRef {
    User(String),
    Role(String),
}

impl PrincipalRef {
    /// `"user"` or `"role"`, as stored.
    pub fn kind(&self) -> &'static str {
        match self {
            PrincipalRef::User(_) => "user",
            PrincipalRef::Role(_) => "role",
        }
    }
    pub fn name(&self) -> &str {
        match self {
            PrincipalRef::User(n) | PrincipalRef::Role(n) => n,
        }
    }
    /// The inverse of [`Self::kind`] and [`Self::name`].
    pub fn from_parts(kind: &str, name: String) -> Option<Self> {
        match kind {
            "user" => Some(PrincipalRef::User(name)),
            "role" => Some(PrincipalRef::Role(name)),
            _ => None,
        }
    }
}
