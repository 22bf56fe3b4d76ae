//! One file per operation family; each public method of [`Kms`](crate::Kms) is one AWS
//! operation. This module holds what they share: resolving a `KeyId` parameter, loading and
//! unwrapping keys, state checks, committing a key mutation, and AWS-style validation.

pub mod access_keys;
pub mod aliases;
pub mod audit;
pub mod data_key;
pub mod encrypt;
pub mod grants;
pub mod key_policy;
pub mod keys;
pub mod maintenance;
pub mod principal_tags;
pub mod roles;
pub mod rotation;
pub mod tags;
pub mod users;

use crate::authz::{context_values, AccessRequest, CompiledPolicy, GrantUse, PolicyKind};
use crate::cache::KeyEntry;
use crate::ids::{alias_arn, key_arn, AliasName, KeyId, Region};
use crate::model::{KeyMetadata, KeyState, StoredKey};
use crate::{Caller, InternalError, Kms, KmsError, StoreError, Write};
use kagi_crypto::BackingKey;
use std::sync::Arc;

/// A `KeyId` request parameter after parsing: the key itself or an alias naming it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum KeyRef {
    Id(KeyId),
    Alias(AliasName),
}

/// Whether an operation accepts alias names and alias ARNs in its `KeyId` parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Aliases {
    Allowed,
    Refused,
}

/// An action to authorize, the operation's own condition keys, and what a grant must allow
/// for the request to go through it (see `authz`).
#[derive(Debug, Clone)]
pub(crate) struct Access<'a> {
    pub action: &'a str,
    pub values: Vec<(String, Vec<String>)>,
    pub grant: GrantUse<'a>,
}

impl<'a> Access<'a> {
    pub fn to(action: &'a str) -> Self {
        Access {
            action,
            values: Vec::new(),
            grant: GrantUse::Plain,
        }
    }
    /// The request's encryption context: its condition keys, and the context a grant's
    /// constraints are checked against.
    pub fn context(mut self, context: &'a encrypt::EncryptionContext) -> Self {
        self.values.extend(context_values(context));
        self.grant = GrantUse::Context(context);
        self
    }
    pub fn granting(mut self, grant: GrantUse<'a>) -> Self {
        self.grant = grant;
        self
    }
    pub fn with(mut self, key: &str, values: Vec<String>) -> Self {
        self.values.push((key.to_string(), values));
        self
    }
    pub fn with_all(mut self, values: Vec<(String, Vec<String>)>) -> Self {
        self.values.extend(values);
        self
    }
    /// `kms:RequestAlias` when the `KeyId` parameter names an alias (name or ARN).
    pub fn request_alias(self, raw: &str) -> Self {
        let alias = raw
            .strip_prefix("arn:")
            .and_then(|rest| rest.splitn(5, ':').nth(4))
            .unwrap_or(raw);
        if alias.starts_with("alias/") {
            let alias = alias.to_string();
            self.with("kms:RequestAlias", vec![alias])
        } else {
            self
        }
    }
}

/// The additional data binding a wrapped backing key to its place.
pub(crate) fn backing_key_context(region: &Region, key_id: &KeyId, version: u32) -> Vec<u8> {
    format!("kagi/backing-key/v1\0{region}\0{key_id}\0{version}").into_bytes()
}

/// `1 validation error detected: Value '<v>' at '<field>' failed to satisfy constraint: ...`
pub(crate) fn constraint(field: &str, value: impl std::fmt::Display, rule: &str) -> KmsError {
    KmsError::validation(format!(
        "1 validation error detected: Value '{value}' at '{field}' failed to satisfy constraint: Member must {rule}"
    ))
}

/// IAM's name rules (users, roles, policies, sessions): `min`–`max` characters of
/// `[\w+=,.@-]`.
pub(crate) fn check_iam_name(
    field: &str,
    name: &str,
    min: usize,
    max: usize,
) -> Result<(), KmsError> {
    let ok = (min..=max).contains(&name.len())
        && name
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || b"_+=,.@-".contains(&c));
    if ok {
        Ok(())
    } else {
        Err(constraint(
            field,
            name,
            &format!(
                "satisfy regular expression pattern: [\\w+=,.@-]+ and have length between {min} and {max}"
            ),
        ))
    }
}

pub(crate) fn check_range(field: &str, value: i64, min: i64, max: i64) -> Result<(), KmsError> {
    if value < min {
        return Err(constraint(
            field,
            value,
            &format!("have value greater than or equal to {min}"),
        ));
    }
    if value > max {
        return Err(constraint(
            field,
            value,
            &format!("have value less than or equal to {max}"),
        ));
    }
    Ok(())
}

/// Length check for fields whose value must not be echoed (plaintexts, blobs).
pub(crate) fn check_secret_len(
    field: &str,
    len: usize,
    min: usize,
    max: usize,
) -> Result<(), KmsError> {
    let rule = if len < min {
        format!("have length greater than or equal to {min}")
    } else if len > max {
        format!("have length less than or equal to {max}")
    } else {
        return Ok(());
    };
    Err(KmsError::validation(format!(
        "1 validation error detected: Value at '{field}' failed to satisfy constraint: Member must {rule}"
    )))
}

impl Kms {
    pub(crate) fn key_arn(&self, region: &Region, id: &KeyId) -> String {
        key_arn(region, &self.account, id)
    }

    pub(crate) fn alias_arn(&self, region: &Region, alias: &AliasName) -> String {
        alias_arn(region, &self.account, alias)
    }

    fn invalid_key_id(raw: &str) -> KmsError {
        KmsError::not_found(format!("Invalid keyId '{raw}'"))
    }

    /// Parses a `KeyId` parameter: key id, key ARN, alias name or alias ARN. ARNs of another
    /// region or account name keys that do not exist here.
    pub(crate) fn parse_key_ref(
        &self,
        caller: &Caller,
        raw: &str,
        aliases: Aliases,
    ) -> Result<KeyRef, KmsError> {
        if raw.is_empty() || raw.len() > 2048 {
            return Err(constraint("keyId", raw, "have length between 1 and 2048"));
        }
        let resource = if let Some(rest) = raw.strip_prefix("arn:") {
            // arn:<partition>:kms:<region>:<account>:<resource>
            let parts: Vec<&str> = rest.splitn(5, ':').collect();
            if parts.len() != 5 || parts[1] != "kms" {
                return Err(Self::invalid_key_id(raw));
            }
            let (region, account, resource) = (parts[2], parts[3], parts[4]);
            let not_here = region != caller.region.as_str() || account != self.account.as_str();
            if not_here {
                return Err(match KeyId::parse(resource.trim_start_matches("key/")) {
                    Some(_) if resource.starts_with("key/") => {
                        KmsError::not_found(format!("Key '{raw}' does not exist"))
                    }
                    _ if resource.starts_with("alias/") => {
                        KmsError::not_found(format!("Alias {raw} is not found."))
                    }
                    _ => Self::invalid_key_id(raw),
                });
            }
            if let Some(id) = resource.strip_prefix("key/") {
                return KeyId::parse(id)
                    .map(KeyRef::Id)
                    .ok_or_else(|| Self::invalid_key_id(raw));
            }
            resource
        } else {
            raw
        };
        if resource.starts_with("alias/") {
            if aliases == Aliases::Refused {
                return Err(Self::invalid_key_id(raw));
            }
            let name = AliasName::parse(resource).map_err(|_| Self::invalid_key_id(raw))?;
            return Ok(KeyRef::Alias(name));
        }
        KeyId::parse(resource)
            .map(KeyRef::Id)
            .ok_or_else(|| Self::invalid_key_id(raw))
    }

    /// Resolves a `KeyId` parameter to the key's id.
    pub(crate) fn resolve_id(
        &self,
        caller: &Caller,
        raw: &str,
        aliases: Aliases,
    ) -> Result<KeyId, KmsError> {
        match self.parse_key_ref(caller, raw, aliases)? {
            KeyRef::Id(id) => Ok(id),
            KeyRef::Alias(name) => self.alias_target(&caller.region, &name)?.ok_or_else(|| {
                KmsError::not_found(format!(
                    "Alias {} is not found.",
                    self.alias_arn(&caller.region, &name)
                ))
            }),
        }
    }

    pub(crate) fn alias_target(
        &self,
        region: &Region,
        name: &AliasName,
    ) -> Result<Option<KeyId>, KmsError> {
        if let Some(id) = self.trusted_cache().and_then(|c| c.alias(region, name)) {
            return Ok(Some(id));
        }
        let generation = self.cache.generation();
        let found = self.store.alias(region, name)?;
        if let Some(a) = &found {
            self.cache
                .insert_loaded_alias(generation, region, a.name.clone(), a.target);
        }
        Ok(found.map(|a| a.target))
    }

    /// Authorizes `access` on `key`: its key policy and the caller's identity policies.
    pub(crate) fn authorize_key(
        &self,
        caller: &Caller,
        key: &KeyEntry,
        access: Access<'_>,
    ) -> Result<(), KmsError> {
        let request = AccessRequest {
            principal: &caller.principal,
            action: access.action,
            resource: &key.arn,
            values: access.values,
        };
        self.authorize(caller, request, Some(key), access.grant)
    }

    /// Authorizes `access` on a resource that is not a key (`*`, an alias ARN): identity
    /// policies alone decide.
    pub(crate) fn authorize_identity(
        &self,
        caller: &Caller,
        resource: &str,
        access: Access<'_>,
    ) -> Result<(), KmsError> {
        let request = AccessRequest {
            principal: &caller.principal,
            action: access.action,
            resource,
            values: access.values,
        };
        self.authorize(caller, request, None, GrantUse::None)
    }

    /// [`Self::resolve`], then [`Self::authorize_key`] (`kms:RequestAlias` added).
    pub(crate) fn resolve_authorized(
        &self,
        caller: &Caller,
        raw: &str,
        aliases: Aliases,
        access: Access<'_>,
    ) -> Result<Arc<KeyEntry>, KmsError> {
        let key = self.resolve(caller, raw, aliases)?;
        self.authorize_key(caller, &key, access.request_alias(raw))?;
        Ok(key)
    }

    /// Compiles a key policy; `None` when the stored document does not compile.
    pub(crate) fn compile_key_policy(&self, document: &str) -> Option<CompiledPolicy> {
        self.policies.compile(PolicyKind::Key, document).ok()
    }

    /// Resolves a `KeyId` parameter to the key, loading it into the cache if needed.
    pub(crate) fn resolve(
        &self,
        caller: &Caller,
        raw: &str,
        aliases: Aliases,
    ) -> Result<Arc<KeyEntry>, KmsError> {
        let id = self.resolve_id(caller, raw, aliases)?;
        self.entry(&caller.region, &id)?.ok_or_else(|| {
            KmsError::not_found(format!(
                "Key '{}' does not exist",
                self.key_arn(&caller.region, &id)
            ))
        })
    }

    /// The cached key, or the stored one unwrapped and cached.
    pub(crate) fn entry(
        &self,
        region: &Region,
        id: &KeyId,
    ) -> Result<Option<Arc<KeyEntry>>, KmsError> {
        if let Some(e) = self.trusted_cache().and_then(|c| c.key(region, id)) {
            return Ok(Some(e));
        }
        let generation = self.cache.generation();
        let Some(stored) = self.store.load_key(region, id)? else {
            return Ok(None);
        };
        let entry = Arc::new(self.unwrap_stored(stored)?);
        self.cache.insert_loaded_key(generation, entry.clone());
        Ok(Some(entry))
    }

    /// The key as stored now, unwrapped, bypassing (and not filling) the cache.
    pub(crate) fn stored_entry(
        &self,
        region: &Region,
        id: &KeyId,
    ) -> Result<Option<Arc<KeyEntry>>, KmsError> {
        match self.store.load_key(region, id)? {
            Some(stored) => Ok(Some(Arc::new(self.unwrap_stored(stored)?))),
            None => Ok(None),
        }
    }

    fn unwrap_stored(&self, stored: StoredKey) -> Result<KeyEntry, KmsError> {
        let StoredKey { meta, mut versions } = stored;
        versions.sort_by_key(|v| v.version);
        let mut unwrapped = Vec::with_capacity(versions.len());
        for v in versions {
            let ctx = backing_key_context(&meta.region, &meta.key_id, v.version);
            let secret =
                self.root
                    .unwrap(&ctx, &v.wrapped)
                    .map_err(|_| InternalError::CorruptKey {
                        key: meta.key_id.to_string(),
                        what: "backing key does not unwrap under the root key",
                    })?;
            let key = BackingKey::from_secret(secret).map_err(KmsError::crypto)?;
            unwrapped.push((v, key));
        }
        if unwrapped.is_empty() {
            return Err(InternalError::CorruptKey {
                key: meta.key_id.to_string(),
                what: "no backing key versions",
            }
            .into());
        }
        Ok(KeyEntry {
            arn: self.key_arn(&meta.region, &meta.key_id),
            policy: self.compile_key_policy(&meta.policy),
            meta,
            versions: unwrapped,
        })
    }

    /// Applies `change` to a key's metadata under the key's lock, durably, and refreshes the
    /// cache. `change` sees the current entry and may refuse with an error.
    /// `access` is authorized on the current entry first. If another node changed the key
    /// since this node cached it, the store refuses the write and the whole step runs again
    /// on the stored state.
    pub(crate) fn mutate_key(
        &self,
        caller: &Caller,
        raw: &str,
        aliases: Aliases,
        access: Access<'_>,
        mut change: impl FnMut(&KeyEntry, &mut KeyMetadata) -> Result<(), KmsError>,
    ) -> Result<Arc<KeyEntry>, KmsError> {
        let id = self.resolve_id(caller, raw, aliases)?;
        let _guard = self.lock(id.as_bytes());
        self.retry_stale(&caller.region, &id, || {
            let current = self.entry(&caller.region, &id)?.ok_or_else(|| {
                KmsError::not_found(format!(
                    "Key '{}' does not exist",
                    self.key_arn(&caller.region, &id)
                ))
            })?;
            self.authorize_key(caller, &current, access.clone().request_alias(raw))?;
            let mut meta = current.meta.clone();
            change(&current, &mut meta)?;
            if meta == current.meta {
                return Ok(current);
            }
            meta.revision = current.meta.revision + 1;
            let before = self.cache.generation();
            self.store.apply(vec![Write::PutKey(meta.clone())])?;
            let policy = if meta.policy == current.meta.policy {
                current.policy.clone()
            } else {
                self.compile_key_policy(&meta.policy)
            };
            let updated = Arc::new(KeyEntry {
                meta,
                arn: current.arn.clone(),
                policy,
                versions: current.versions.clone(),
            });
            self.cache.put_key(before, updated.clone());
            Ok(updated)
        })
    }

    /// Runs `step` (a change of one key, under its lock) and, while the store refuses it as
    /// based on an outdated copy ([`StoreError::Stale`]: another node changed the key
    /// first), forgets the cached key and runs it again on the stored state.
    pub(crate) fn retry_stale<T>(
        &self,
        region: &Region,
        id: &KeyId,
        mut step: impl FnMut() -> Result<T, KmsError>,
    ) -> Result<T, KmsError> {
        let mut attempts = 1;
        loop {
            match step() {
                Err(KmsError::Internal(InternalError::Store(StoreError::Stale)))
                    if attempts < STALE_ATTEMPTS =>
                {
                    attempts += 1;
                    self.cache.forget_key(region, id);
                }
                other => return other,
            }
        }
    }
}

/// How often a change of a key is tried when other nodes keep changing it first.
const STALE_ATTEMPTS: u32 = 5;

/// AWS's state rules for operations that use a key (cryptographic operations, rotation
/// changes): only `Enabled` keys qualify.
pub(crate) fn require_enabled(e: &KeyEntry) -> Result<(), KmsError> {
    match e.meta.state {
        KeyState::Enabled => Ok(()),
        KeyState::Disabled => Err(KmsError::Disabled { arn: e.arn.clone() }),
        state @ KeyState::PendingDeletion => Err(KmsError::InvalidState {
            arn: e.arn.clone(),
            state,
        }),
    }
}

/// For management operations allowed on enabled and disabled keys but not on keys pending
/// deletion (UpdateKeyDescription, TagResource, CreateAlias ...).
pub(crate) fn require_not_pending_deletion(e: &KeyEntry) -> Result<(), KmsError> {
    match e.meta.state {
        state @ KeyState::PendingDeletion => Err(KmsError::InvalidState {
            arn: e.arn.clone(),
            state,
        }),
        _ => Ok(()),
    }
}

/// Parses an opaque paging marker of the form we hand out (the last item's sort key).
pub(crate) fn parse_marker<T>(
    marker: Option<&str>,
    parse: impl FnOnce(&str) -> Option<T>,
) -> Result<Option<T>, KmsError> {
    match marker {
        None => Ok(None),
        Some(m) => parse(m).map(Some).ok_or_else(|| KmsError::InvalidMarker {
            marker: m.chars().take(64).collect(),
        }),
    }
}

/// A `Limit` parameter: validated against the API model's range (1–1000), defaulted, and
/// capped at the operation's documented page size. AWS documents smaller maximums for some
/// operations (ListAliases 100, ListResourceTags 50) while its model accepts up to 1000;
/// KMS "might return fewer" items than asked, so larger values are capped, not refused.
pub(crate) fn page_limit(
    limit: Option<i64>,
    default: usize,
    max_page: usize,
) -> Result<usize, KmsError> {
    let Some(l) = limit else {
        return Ok(default);
    };
    check_range("limit", l, 1, 1000)?;
    Ok((l as usize).min(max_page))
}
