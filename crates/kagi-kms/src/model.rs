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
