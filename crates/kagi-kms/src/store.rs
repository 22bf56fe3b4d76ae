//! The persistence interface the domain needs, and nothing about how it is met.
//!
//! Implementations live in `kagi-store`. Contract: [`Store::apply`] is atomic (all writes or
//! none) and durable (on stable storage) when it returns `Ok`; reads see every write that
//! was acknowledged before they started. Calls may block (disk, network): the HTTP edge
//! runs the operations that reach the store on blocking threads.

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
    /// Insert or replace a key's metadata (state, description, tags, rotation ...).
    PutKey(KeyMetadata),
    /// Add a backing-key version (never replaced, only destroyed with its key).
    AddVersion {
        region: Region,
        key_id: KeyId,
        version: StoredVersion,
    },
    /// Destroy a key: metadata, every backing-key version, its aliases and its grants.
    DestroyKey {
        region: Region,
        key_id: KeyId,
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
    /// A named setting of the installation (account id, root-key fingerprint ...).
    PutSetting {
        name: String,
        value: String,
    },
    /// Removes every key, version, alias and grant (the `--dev` reset endpoint). Access keys and
    /// settings stay.
    WipeKeys,
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
}
