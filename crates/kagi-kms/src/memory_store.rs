//! An in-memory [`Store`]: for tests, fuzzing and as the reference semantics of the
//! [`Store`] contract that every persistent backend must match.
//!
//! It keeps everything in ordinary maps behind one lock. A batch is applied to a copy of the
//! whole state, which replaces the live state only when every write of the batch succeeded,
//! so a failing batch leaves nothing behind. Copying the state costs time proportional to
//! its size: fine for tests, not meant for production.
//!
//! It is not durable: dropping it forgets everything. Where the trait leaves a detail open,
//! it behaves like the SQLite store (which the contract suite in `kagi-store` checks):
//! - `PutKey` on an existing key replaces everything but `created_at` and keeps the versions;
//! - `AddVersion` fails for a key that does not exist and for a version number that does;
//! - an alias must target an existing key of its region (`CreateAlias`, `UpdateAlias`);
//! - `UpdateAlias` changes only target and `updated_at`, and does nothing if the alias
//!   does not exist; deleting or updating something absent is not an error;
//! - `PutRole` on an existing role replaces only its trust policy and session limit (it
//!   keeps `created_at` and the role's policies); `DeleteRole` also deletes the role's
//!   policies and tags; a role policy does not need its role to exist;
//! - `PutPrincipalTags` replaces every tag of its user or role (the principal need not
//!   exist; of two tags with the same key the last wins); deleting access keys leaves a
//!   user's tags alone;
//! - `WipeKeys` keeps access keys, user policies, roles, role policies, principal tags and
//!   settings;
//! - a grant's key must exist; destroying the key removes its grants.

use crate::clock::Timestamp;
use crate::ids::{AliasName, KeyId, Region};
use crate::model::{
    AccessKeyRecord, AliasRecord, GrantRecord, KeyMetadata, PrincipalRef, RolePolicyRecord,
    RoleRecord, StoredKey, StoredVersion, Tag, UserPolicyRecord,
};
use crate::store::{Store, StoreError, Write};
use std::collections::BTreeMap;
use std::sync::{RwLock, RwLockReadGuard};

#[derive(Debug, Clone)]
struct KeyRow {
    meta: KeyMetadata,
    /// By version number.
    versions: BTreeMap<u32, StoredVersion>,
}

/// Everything a store holds. `BTreeMap`s give the orders the trait documents for free:
/// key ids ascending within a region, aliases by name within a region, a user's policies
/// by policy name, roles by name, a role's policies by policy name, a principal's tags by
/// key.
#[derive(Debug, Clone, Default)]
struct State {
    keys: BTreeMap<(Region, KeyId), KeyRow>,
    aliases: BTreeMap<(Region, AliasName), AliasRecord>,
    access_keys: BTreeMap<String, AccessKeyRecord>,
    /// By (user name, policy name).
    user_policies: BTreeMap<(String, String), UserPolicyRecord>,
    /// By role name.
    roles: BTreeMap<String, RoleRecord>,
    /// By (role name, policy name).
    role_policies: BTreeMap<(String, String), RolePolicyRecord>,
    /// By (user or role, tag key), to the tag's value.
    principal_tags: BTreeMap<(PrincipalRef, String), String>,
    settings: BTreeMap<String, String>,
    /// By grant id (unique in the installation).
    grants: BTreeMap<String, GrantRecord>,
}

/// The in-memory store. See the module documentation.
#[derive(Default)]
pub struct MemoryStore {
    state: RwLock<State>,
}

impl std::fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MemoryStore")
    }
}

fn missing_key(region: &Region, key_id: &KeyId) -> StoreError {
    StoreError::Backend(format!("key {key_id} does not exist in {region}"))
}

impl State {
    fn apply(&mut self, write: Write) -> Result<(), StoreError> {
        match write {
            Write::PutKey(meta) => {
                let id = (meta.region.clone(), meta.key_id);
                match self.keys.get_mut(&id) {
                    Some(_) if meta.revision <= 1 => return Err(StoreError::Conflict),
                    Some(row) if row.meta.revision.checked_add(1) != Some(meta.revision) => {
                        return Err(StoreError::Stale)
                    }
                    Some(row) => {
                        let created_at = row.meta.created_at;
                        row.meta = KeyMetadata { created_at, ..meta };
                    }
                    None if meta.revision > 1 => return Err(StoreError::Stale),
                    None => {
                        self.keys.insert(
                            id,
                            KeyRow {
                                meta,
                                versions: BTreeMap::new(),
                            },
                        );
                    }
                }
            }
            Write::AddVersion {
                region,
                key_id,
                version,
            } => {
                let row = self
                    .keys
                    .get_mut(&(region.clone(), key_id))
                    .ok_or_else(|| missing_key(&region, &key_id))?;
                if row.versions.contains_key(&version.version) {
                    return Err(StoreError::Conflict);
                }
                row.versions.insert(version.version, version);
            }
            Write::DestroyKey {
                region,
                key_id,
                revision,
            } => {
                let id = (region.clone(), key_id);
                if self.keys.get(&id).map(|row| row.meta.revision) != Some(revision) {
                    return Err(StoreError::Stale);
                }
                self.keys.remove(&id);
                self.aliases
                    .retain(|(r, _), a| !(*r == region && a.target == key_id));
                self.grants
                    .retain(|_, g| !(g.region == region && g.key_id == key_id));
            }
            Write::CreateAlias(alias) => {
                let id = (alias.region.clone(), alias.name.clone());
                if self.aliases.contains_key(&id) {
                    return Err(StoreError::Conflict);
                }
                if !self
                    .keys
                    .contains_key(&(alias.region.clone(), alias.target))
                {
                    return Err(missing_key(&alias.region, &alias.target));
                }
                self.aliases.insert(id, alias);
            }
            Write::UpdateAlias(alias) => {
                let target_exists = self
                    .keys
                    .contains_key(&(alias.region.clone(), alias.target));
                if let Some(existing) = self
                    .aliases
                    .get_mut(&(alias.region.clone(), alias.name.clone()))
                {
                    if !target_exists {
                        return Err(missing_key(&alias.region, &alias.target));
                    }
                    existing.target = alias.target;
                    existing.updated_at = alias.updated_at;
                }
            }
            Write::DeleteAlias { region, name } => {
                self.aliases.remove(&(region, name));
            }
            Write::PutAccessKey(record) => {
                if self.access_keys.contains_key(&record.access_key_id) {
                    return Err(StoreError::Conflict);
                }
                self.access_keys
                    .insert(record.access_key_id.clone(), record);
            }
            Write::SetAccessKeyStatus {
                access_key_id,
                status,
            } => {
                if let Some(record) = self.access_keys.get_mut(&access_key_id) {
                    record.status = status;
                }
            }
            Write::DeleteAccessKey { access_key_id } => {
                self.access_keys.remove(&access_key_id);
            }
            Write::PutPrincipalTags { principal, tags } => {
                self.principal_tags.retain(|(p, _), _| *p != principal);
                for tag in tags {
                    self.principal_tags
                        .insert((principal.clone(), tag.key), tag.value);
                }
            }
            Write::PutUserPolicy(policy) => {
                self.user_policies.insert(
                    (policy.user_name.clone(), policy.policy_name.clone()),
                    policy,
                );
            }
            Write::DeleteUserPolicy {
                user_name,
                policy_name,
            } => {
                self.user_policies.remove(&(user_name, policy_name));
            }
            Write::PutRole(role) => match self.roles.get_mut(&role.role_name) {
                Some(existing) => {
                    existing.trust_policy = role.trust_policy;
                    existing.max_session_seconds = role.max_session_seconds;
                }
                None => {
                    self.roles.insert(role.role_name.clone(), role);
                }
            },
            Write::DeleteRole { role_name } => {
                self.roles.remove(&role_name);
                self.role_policies.retain(|(role, _), _| *role != role_name);
                let role = PrincipalRef::Role(role_name);
                self.principal_tags.retain(|(p, _), _| *p != role);
            }
            Write::PutRolePolicy(policy) => {
                self.role_policies.insert(
                    (policy.role_name.clone(), policy.policy_name.clone()),
                    policy,
                );
            }
            Write::DeleteRolePolicy {
                role_name,
                policy_name,
            } => {
                self.role_policies.remove(&(role_name, policy_name));
            }
            Write::PutGrant(grant) => {
                if self.grants.contains_key(&grant.grant_id) {
                    return Err(StoreError::Conflict);
                }
                if !self
                    .keys
                    .contains_key(&(grant.region.clone(), grant.key_id))
                {
                    return Err(missing_key(&grant.region, &grant.key_id));
                }
                self.grants.insert(grant.grant_id.clone(), grant);
            }
            Write::DeleteGrant {
                region,
                key_id,
                grant_id,
            } => {
                let ours = self
                    .grants
                    .get(&grant_id)
                    .is_some_and(|g| g.region == region && g.key_id == key_id);
                if ours {
                    self.grants.remove(&grant_id);
                }
            }
            Write::PutSetting { name, value } => {
                self.settings.insert(name, value);
            }
            Write::InitSetting { name, value } => {
                if self.settings.contains_key(&name) {
                    return Err(StoreError::Conflict);
                }
                self.settings.insert(name, value);
            }
            Write::WipeKeys => {
                self.keys.clear();
                self.aliases.clear();
                self.grants.clear();
            }
        }
        Ok(())
    }

    fn due(
        &self,
        now: Timestamp,
        when: impl Fn(&KeyMetadata) -> Option<Timestamp>,
    ) -> Vec<(Region, KeyId)> {
        self.keys
            .iter()
            .filter(|(_, row)| when(&row.meta).is_some_and(|t| t <= now))
            .map(|((region, id), _)| (region.clone(), *id))
            .collect()
    }
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    fn read(&self) -> RwLockReadGuard<'_, State> {
        // Batches are applied to a copy and swapped in whole, so a panic while the lock was
        // held cannot have left the state half-changed.
        self.state.read().unwrap_or_else(|e| e.into_inner())
    }
}

impl Store for MemoryStore {
    fn apply(&self, writes: Vec<Write>) -> Result<(), StoreError> {
        let mut live = self.state.write().unwrap_or_else(|e| e.into_inner());
        let mut next = live.clone();
        for write in writes {
            next.apply(write)?;
        }
        *live = next;
        Ok(())
    }

    fn load_key(&self, region: &Region, key_id: &KeyId) -> Result<Option<StoredKey>, StoreError> {
        Ok(self
            .read()
            .keys
            .get(&(region.clone(), *key_id))
            .map(|row| StoredKey {
                meta: row.meta.clone(),
                versions: row.versions.values().cloned().collect(),
            }))
    }

    fn list_keys(
        &self,
        region: &Region,
        after: Option<&KeyId>,
        limit: usize,
    ) -> Result<Vec<KeyId>, StoreError> {
        Ok(self
            .read()
            .keys
            .keys()
            .filter(|(r, id)| r == region && after.is_none_or(|a| id > a))
            .map(|(_, id)| *id)
            .take(limit)
            .collect())
    }

    fn alias(&self, region: &Region, name: &AliasName) -> Result<Option<AliasRecord>, StoreError> {
        Ok(self
            .read()
            .aliases
            .get(&(region.clone(), name.clone()))
            .cloned())
    }

    fn list_aliases(
        &self,
        region: &Region,
        target: Option<&KeyId>,
        after: Option<&AliasName>,
        limit: usize,
    ) -> Result<Vec<AliasRecord>, StoreError> {
        Ok(self
            .read()
            .aliases
            .iter()
            .filter(|((r, name), a)| {
                r == region
                    && after.is_none_or(|after| name > after)
                    && target.is_none_or(|t| a.target == *t)
            })
            .map(|(_, a)| a.clone())
            .take(limit)
            .collect())
    }

    fn due_for_deletion(&self, now: Timestamp) -> Result<Vec<(Region, KeyId)>, StoreError> {
        Ok(self.read().due(now, |m| m.deletion_date))
    }

    fn due_for_rotation(&self, now: Timestamp) -> Result<Vec<(Region, KeyId)>, StoreError> {
        Ok(self.read().due(now, |m| m.next_rotation))
    }

    fn access_key(&self, access_key_id: &str) -> Result<Option<AccessKeyRecord>, StoreError> {
        Ok(self.read().access_keys.get(access_key_id).cloned())
    }

    /// Ordered by user name, then access key id (as the SQLite store lists them).
    fn list_access_keys(&self) -> Result<Vec<AccessKeyRecord>, StoreError> {
        let mut all: Vec<AccessKeyRecord> = self.read().access_keys.values().cloned().collect();
        all.sort_by(|a, b| (&a.user_name, &a.access_key_id).cmp(&(&b.user_name, &b.access_key_id)));
        Ok(all)
    }

    fn setting(&self, name: &str) -> Result<Option<String>, StoreError> {
        Ok(self.read().settings.get(name).cloned())
    }

    fn user_policies(&self, user_name: &str) -> Result<Vec<UserPolicyRecord>, StoreError> {
        Ok(self
            .read()
            .user_policies
            .range((user_name.to_owned(), String::new())..)
            .take_while(|((user, _), _)| user == user_name)
            .map(|(_, p)| p.clone())
            .collect())
    }

    fn role(&self, role_name: &str) -> Result<Option<RoleRecord>, StoreError> {
        Ok(self.read().roles.get(role_name).cloned())
    }

    fn list_roles(&self) -> Result<Vec<RoleRecord>, StoreError> {
        Ok(self.read().roles.values().cloned().collect())
    }

    fn role_policies(&self, role_name: &str) -> Result<Vec<RolePolicyRecord>, StoreError> {
        Ok(self
            .read()
            .role_policies
            .range((role_name.to_owned(), String::new())..)
            .take_while(|((role, _), _)| role == role_name)
            .map(|(_, p)| p.clone())
            .collect())
    }

    fn principal_tags(&self, principal: &PrincipalRef) -> Result<Vec<Tag>, StoreError> {
        Ok(self
            .read()
            .principal_tags
            .range((principal.clone(), String::new())..)
            .take_while(|((p, _), _)| p == principal)
            .map(|((_, key), value)| Tag {
                key: key.clone(),
                value: value.clone(),
            })
            .collect())
    }

    fn grants(&self, region: &Region, key_id: &KeyId) -> Result<Vec<GrantRecord>, StoreError> {
        Ok(self
            .read()
            .grants
            .values()
            .filter(|g| g.region == *region && g.key_id == *key_id)
            .cloned()
            .collect())
    }

    fn grant(
        &self,
        region: &Region,
        key_id: &KeyId,
        grant_id: &str,
    ) -> Result<Option<GrantRecord>, StoreError> {
        Ok(self
            .read()
            .grants
            .get(grant_id)
            .filter(|g| g.region == *region && g.key_id == *key_id)
            .cloned())
    }

    fn retirable_grants(
        &self,
        retiring_principal: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<GrantRecord>, StoreError> {
        Ok(self
            .read()
            .grants
            .values()
            .filter(|g| {
                g.retiring_principal.as_deref() == Some(retiring_principal)
                    && after.is_none_or(|a| g.grant_id.as_str() > a)
            })
            .take(limit)
            .cloned()
            .collect())
    }
}
