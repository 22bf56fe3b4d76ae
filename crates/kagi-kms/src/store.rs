//! The persistence interface the domain needs, and nothing about how it is met.
//!
//! Implementations live in `kagi-store`. Contract: [`Store::apply`] is atomic (all writes or
//! none) and durable (on stable storage) when it returns `Ok`; reads see every write that
//! was acknowledged before they started. Calls may block (disk, network): the HTTP edge
//! runs the operations that reach the store on blocking threads.
//!
//! Several nodes may share one store (PostgreSQL). Two things keep them from undoing each
//! other's work: a key's metadata carries a revision that every write of it checks
//! ([`Write::PutKey`], [`Write::DestroyKey`]: a write based on an outdated copy fails with
//! [`StoreError::Stale`] instead of overwriting a newer one), and every write names what it
//! changed ([`Write::change`]), which a shared store broadcasts so that the other nodes drop
//! their cached copies ([`crate::Kms::apply_remote_change`]).

use crate::clock::Timestamp;
use crate::ids::{AliasName, KeyId, Region};
use crate::model::{
    AccessKeyRecord, AccessKeyStatus, AliasRecord, GrantRecord, KeyMetadata, PrincipalRef,
    RolePolicyRecord, RoleRecord, StoredKey, StoredVersion, Tag, UserPolicyRecord,
};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A uniqueness constraint failed (e.g. an alias name that already exists).
    #[error("conflict: the record already exists")]
    Conflict,
    /// A write was based on an outdated copy of a key (its revision is not the stored one
    /// plus one, or the key is gone): another node changed it first. Nothing was written.
    #[error("the key was changed by another writer")]
    Stale,
    /// The backend cannot be reached (connection refused or lost). Retrying may succeed.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// The backend failed; the text comes from the backend and holds no secrets.
    #[error("backend failure: {0}")]
    Backend(String),
    /// A stored row could not be decoded.
    #[error("corrupt record: {0}")]
    Corrupt(String),
}

/// One change, applied as part of an atomic batch.
#[derive(Debug, Clone)]
pub enum Write {
    /// Creates a key (revision 1; [`StoreError::Conflict`] if it exists) or replaces its
    /// metadata (state, description, tags, rotation ...) with revision `n`, which requires
    /// the stored revision to be `n - 1` ([`StoreError::Stale`] otherwise, or if the key is
    /// gone).
    PutKey(KeyMetadata),
    /// Add a backing-key version (never replaced, only destroyed with its key).
    AddVersion {
        region: Region,
        key_id: KeyId,
        version: StoredVersion,
    },
    /// Destroy a key: metadata, every backing-key version, its aliases and its grants; only
    /// while its stored revision is `revision` ([`StoreError::Stale`] otherwise).
    DestroyKey {
        region: Region,
        key_id: KeyId,
        revision: u64,
    },
    /// Insert an alias; [`StoreError::Conflict`] if the name exists.
    CreateAlias(AliasRecord),
    /// Replace an existing alias' target.
    UpdateAlias(AliasRecord),
    DeleteAlias {
        region: Region,
        name: AliasName,
    },
    PutAccessKey(AccessKeyRecord),
    SetAccessKeyStatus {
        access_key_id: String,
        status: AccessKeyStatus,
    },
    DeleteAccessKey {
        access_key_id: String,
    },
    /// Replaces every tag of a user or role (`aws:PrincipalTag/*`); an empty list removes
    /// them all.
    PutPrincipalTags {
        principal: PrincipalRef,
        tags: Vec<Tag>,
    },
    /// Creates or replaces an inline identity policy of a user (IAM's PutUserPolicy).
    PutUserPolicy(UserPolicyRecord),
    /// Removes an inline identity policy of a user; nothing if it does not exist.
    DeleteUserPolicy {
        user_name: String,
        policy_name: String,
    },
    /// Creates a role or replaces its trust policy and session limit.
    PutRole(RoleRecord),
    /// Deletes a role and its inline policies; nothing if it does not exist.
    DeleteRole {
        role_name: String,
    },
    /// Creates or replaces an inline identity policy of a role.
    PutRolePolicy(RolePolicyRecord),
    /// Removes an inline policy of a role; nothing if it does not exist.
    DeleteRolePolicy {
        role_name: String,
        policy_name: String,
    },
    /// Inserts a grant; [`StoreError::Conflict`] if its id exists. Its key must exist.
    PutGrant(GrantRecord),
    /// Removes a grant (retired or revoked); nothing if it does not exist.
    DeleteGrant {
        region: Region,
        key_id: KeyId,
        grant_id: String,
    },
    /// A named setting of the installation, created or replaced.
    PutSetting {
        name: String,
        value: String,
    },
    /// A setting written once (account id, root-key fingerprint, audit keys ...):
    /// [`StoreError::Conflict`] if it exists, so that nodes starting at once agree on one
    /// value.
    InitSetting {
        name: String,
        value: String,
    },
    /// Removes every key, version, alias and grant (the `--dev` reset endpoint). Access keys and
    /// settings stay.
    WipeKeys,
}

/// What a write changed, as far as cached copies are concerned: what a node must forget
/// when another node made the change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// A key's metadata or versions; also its aliases and grants when it was destroyed.
    Key {
        region: Region,
        key_id: KeyId,
    },
    Alias {
        region: Region,
        name: AliasName,
    },
    Grants {
        region: Region,
        key_id: KeyId,
    },
    AccessKey {
        access_key_id: String,
    },
    /// A user's inline policies.
    UserPolicies {
        user_name: String,
    },
    /// A role: its trust policy, creation, deletion and inline policies.
    Role {
        role_name: String,
    },
    PrincipalTags {
        principal: PrincipalRef,
    },
    /// Every key, alias and grant (the dev reset).
    AllKeys,
}

impl Write {
    /// What this write changes in cached state; `None` when no other node can have a
    /// cached copy to drop: settings (never cached), a key being created (no node has
    /// seen it) and a key's new version (always written together with its key's `PutKey`,
    /// which names the change). Not announcing key creation matters: PostgreSQL
    /// serialises the commits of notifying transactions, which would cap CreateKey at one
    /// commit per disk flush.
    pub fn change(&self) -> Option<Change> {
        let key = |region: &Region, key_id: &KeyId| Change::Key {
            region: region.clone(),
            key_id: *key_id,
        };
        Some(match self {
            Write::PutKey(m) if m.revision <= 1 => return None,
            Write::PutKey(m) => key(&m.region, &m.key_id),
            Write::AddVersion { .. } => return None,
            Write::DestroyKey { region, key_id, .. } => key(region, key_id),
            Write::CreateAlias(a) | Write::UpdateAlias(a) => Change::Alias {
                region: a.region.clone(),
                name: a.name.clone(),
            },
            Write::DeleteAlias { region, name } => Change::Alias {
                region: region.clone(),
                name: name.clone(),
            },
            Write::PutAccessKey(r) => Change::AccessKey {
                access_key_id: r.access_key_id.clone(),
            },
            Write::SetAccessKeyStatus { access_key_id, .. }
            | Write::DeleteAccessKey { access_key_id } => Change::AccessKey {
                access_key_id: access_key_id.clone(),
            },
            Write::PutPrincipalTags { principal, .. } => Change::PrincipalTags {
                principal: principal.clone(),
            },
            Write::PutUserPolicy(p) => Change::UserPolicies {
                user_name: p.user_name.clone(),
            },
            Write::DeleteUserPolicy { user_name, .. } => Change::UserPolicies {
                user_name: user_name.clone(),
            },
            Write::PutRole(r) => Change::Role {
                role_name: r.role_name.clone(),
            },
            Write::PutRolePolicy(p) => Change::Role {
                role_name: p.role_name.clone(),
            },
            Write::DeleteRole { role_name } | Write::DeleteRolePolicy { role_name, .. } => {
                Change::Role {
                    role_name: role_name.clone(),
                }
            }
            Write::PutGrant(g) => Change::Grants {
                region: g.region.clone(),
                key_id: g.key_id,
            },
            Write::DeleteGrant { region, key_id, .. } => Change::Grants {
                region: region.clone(),
                key_id: *key_id,
            },
            Write::WipeKeys => Change::AllKeys,
            Write::PutSetting { .. } | Write::InitSetting { .. } => return None,
        })
    }
}

pub trait Store: Send + Sync {
    /// Applies `writes` atomically and durably.
    fn apply(&self, writes: Vec<Write>) -> Result<(), StoreError>;
    fn load_key(&self, region: &Region, key_id: &KeyId) -> Result<Option<StoredKey>, StoreError>;
    /// Key ids of `region` in ascending order, strictly after `after`.
    fn list_keys(
        &self,
        region: &Region,
        after: Option<&KeyId>,
        limit: usize,
    ) -> Result<Vec<KeyId>, StoreError>;
    fn alias(&self, region: &Region, name: &AliasName) -> Result<Option<AliasRecord>, StoreError>;
    /// Aliases of `region` (optionally of one key) ordered by name, strictly after `after`.
    fn list_aliases(
        &self,
        region: &Region,
        target: Option<&KeyId>,
        after: Option<&AliasName>,
        limit: usize,
    ) -> Result<Vec<AliasRecord>, StoreError>;
    /// Keys whose deletion date is at or before `now`.
    fn due_for_deletion(&self, now: Timestamp) -> Result<Vec<(Region, KeyId)>, StoreError>;
    /// Keys whose next automatic rotation is at or before `now`.
    fn due_for_rotation(&self, now: Timestamp) -> Result<Vec<(Region, KeyId)>, StoreError>;
    fn access_key(&self, access_key_id: &str) -> Result<Option<AccessKeyRecord>, StoreError>;
    fn list_access_keys(&self) -> Result<Vec<AccessKeyRecord>, StoreError>;
    fn setting(&self, name: &str) -> Result<Option<String>, StoreError>;
    /// The inline identity policies of `user_name`, ordered by policy name.
    fn user_policies(&self, user_name: &str) -> Result<Vec<UserPolicyRecord>, StoreError>;
    /// The tags of a user or role, ordered by key.
    fn principal_tags(&self, principal: &PrincipalRef) -> Result<Vec<Tag>, StoreError>;
    fn role(&self, role_name: &str) -> Result<Option<RoleRecord>, StoreError>;
    /// Every role, ordered by name.
    fn list_roles(&self) -> Result<Vec<RoleRecord>, StoreError>;
    /// The inline policies of `role_name`, ordered by policy name.
    fn role_policies(&self, role_name: &str) -> Result<Vec<RolePolicyRecord>, StoreError>;
    /// The grants of one key, ordered by grant id.
    fn grants(&self, region: &Region, key_id: &KeyId) -> Result<Vec<GrantRecord>, StoreError>;
    fn grant(
        &self,
        region: &Region,
        key_id: &KeyId,
        grant_id: &str,
    ) -> Result<Option<GrantRecord>, StoreError>;
    /// Grants (of every key and region) whose retiring principal is `retiring_principal`,
    /// ordered by grant id, strictly after `after`.
    fn retirable_grants(
        &self,
        retiring_principal: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<GrantRecord>, StoreError>;
    /// Whether this node may run scheduled deletions and rotations now. A store that
    /// several nodes share grants this to one node at a time (a lease that passes to
    /// another node when its holder dies); a store of one node always grants it.
    fn maintenance_lease(&self) -> Result<bool, StoreError> {
        Ok(true)
    }
}
