//! In-memory caches of unwrapped key material, alias targets, grants and access-key
//! secrets.
//!
//! The cache is filled on first use from the store and updated by this process' own
//! mutations after they are durable. It never holds a key the store does not have: a
//! mutation writes the store first, then replaces the cached entry.
//!
//! When other nodes share the store, their changes arrive as [`Change`]s
//! ([`Cache::forget`]) and the cache is trusted only for a bounded time after the node last
//! knew it had seen every change ([`Cache::trusted`]); see `Kms::apply_remote_change`.

use crate::authz::CompiledPolicy;
use crate::clock::Timestamp;
use crate::ids::{AliasName, KeyId, Region};
use crate::model::{GrantRecord, KeyMetadata, StoredVersion, Tag};
use crate::store::Change;
use crate::Principal;
use kagi_crypto::{BackingKey, SecretBytes};
use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

/// The identity-policy and tag cache key of a role (users are cached by their name).
pub(crate) fn role_cache_key(role_name: &str) -> String {
    format!("role\0{role_name}")
}

/// The cache key of a principal's tags (the same keys as its identity policies).
pub(crate) fn principal_cache_key(principal: &crate::PrincipalRef) -> String {
    match principal {
        crate::PrincipalRef::User(name) => name.clone(),
        crate::PrincipalRef::Role(name) => role_cache_key(name),
    }
}

/// A key ready for cryptographic use: metadata plus every backing version, unwrapped.
#[derive(Debug)]
pub struct KeyEntry {
    pub meta: KeyMetadata,
    pub arn: String,
    /// The key policy, compiled; `None` if the stored document does not compile (a key
    /// created before policies were checked): then the key policy allows nothing.
    pub policy: Option<CompiledPolicy>,
    /// Ordered by version number; the last one encrypts.
    pub versions: Vec<(StoredVersion, BackingKey)>,
}

impl KeyEntry {
    pub fn current(&self) -> Option<&(StoredVersion, BackingKey)> {
        self.versions.last()
    }
    pub fn version(&self, v: u32) -> Option<&BackingKey> {
        self.versions
            .iter()
            .find(|(sv, _)| sv.version == v)
            .map(|(_, k)| k)
    }
}

/// An access key's owner and its unwrapped secret.
#[derive(Debug)]
pub struct Credential {
    pub principal: Principal,
    pub secret: SecretBytes,
}

/// How many entries each map holds before it evicts one to make room. A key entry costs
/// about 1.3 KiB, so the key map stays under 30 MiB however many keys exist; an evicted
/// entry is reloaded from the store on its next use.
pub const MAX_CACHED_KEYS: usize = 20_000;
pub const MAX_CACHED_ALIASES: usize = 50_000;
pub const MAX_CACHED_CREDENTIALS: usize = 10_000;

/// A map per region with a bound on the total number of entries.
struct Regional<K, V> {
    by_region: HashMap<Region, HashMap<K, V>>,
    len: usize,
    capacity: usize,
}

impl<K: std::hash::Hash + Eq + Clone, V> Regional<K, V> {
    fn new(capacity: usize) -> Self {
        Self {
            by_region: HashMap::new(),
            len: 0,
            capacity,
        }
    }
    fn get(&self, region: &Region, k: &K) -> Option<&V> {
        self.by_region.get(region)?.get(k)
    }
    fn insert(&mut self, region: &Region, k: K, v: V) {
        let exists = self.get(region, &k).is_some();
        if !exists && self.len >= self.capacity {
            self.evict_one();
        }
        if self
            .by_region
            .entry(region.clone())
            .or_default()
            .insert(k, v)
            .is_none()
        {
            self.len += 1;
        }
    }
    fn remove(&mut self, region: &Region, k: &K) {
        if let Some(m) = self.by_region.get_mut(region) {
            if m.remove(k).is_some() {
                self.len -= 1;
            }
        }
    }
    fn retain(&mut self, region: &Region, mut keep: impl FnMut(&V) -> bool) {
        if let Some(m) = self.by_region.get_mut(region) {
            let before = m.len();
            m.retain(|_, v| keep(v));
            self.len -= before - m.len();
        }
    }
    /// Drops an arbitrary entry (HashMap order is effectively random).
    fn evict_one(&mut self) {
        let victim = self
            .by_region
            .iter()
            .find_map(|(r, m)| m.keys().next().map(|k| (r.clone(), k.clone())));
        if let Some((region, k)) = victim {
            self.remove(&region, &k);
        }
    }
    fn clear(&mut self) {
        self.by_region.clear();
        self.len = 0;
    }
}

/// The caches. Each is filled on a miss from the store and overwritten by this process'
/// own durable mutations.
///
/// A miss that loads from the store may race with a mutation: the loader could read the
/// old row, the mutation then write and cache the new one, and the loader finally cache its
/// stale copy. To exclude that, every mutation bumps `generation` (under the map's write
/// lock) and a loader caches its result only if no mutation happened since it started
/// reading ([`Cache::generation`] before the read, `insert_loaded_*` after).
pub struct Cache {
    generation: AtomicU64,
    /// Until when (milliseconds of the domain clock) cached entries may be used without
    /// asking the store: `i64::MAX` when no other node writes to the store.
    trusted_until: AtomicI64,
    /// Set when other nodes write to the store too.
    shared: std::sync::atomic::AtomicBool,
    keys: RwLock<Regional<KeyId, Arc<KeyEntry>>>,
    aliases: RwLock<Regional<AliasName, KeyId>>,
    /// Every grant of a key, by key (ordered by grant id), so that authorizing through a
    /// grant never reaches the store on a warm key.
    grants: RwLock<Regional<KeyId, Arc<[GrantRecord]>>>,
    credentials: RwLock<HashMap<String, Arc<Credential>>>,
    /// Compiled inline identity policies, by user name.
    user_policies: RwLock<HashMap<String, Arc<[CompiledPolicy]>>>,
    /// When each role was created: a session names the role it was issued for by name and
    /// creation time, so a role deleted and made again does not revive old sessions.
    role_created: RwLock<HashMap<String, Timestamp>>,
    /// Tags of users and roles (`aws:PrincipalTag/*`), by the identity-policy cache key.
    principal_tags: RwLock<HashMap<String, Arc<[Tag]>>>,
}

impl Default for Cache {
    fn default() -> Self {
        Self {
            generation: AtomicU64::new(0),
            trusted_until: AtomicI64::new(i64::MAX),
            shared: std::sync::atomic::AtomicBool::new(false),
            keys: RwLock::new(Regional::new(MAX_CACHED_KEYS)),
            aliases: RwLock::new(Regional::new(MAX_CACHED_ALIASES)),
            grants: RwLock::new(Regional::new(MAX_CACHED_KEYS)),
            credentials: RwLock::new(HashMap::new()),
            user_policies: RwLock::new(HashMap::new()),
            role_created: RwLock::new(HashMap::new()),
            principal_tags: RwLock::new(HashMap::new()),
        }
    }
}

// A poisoned lock means a panic while holding it; the maps stay consistent (every update
// is a single insert or remove), so recover the guard rather than failing every request.
macro_rules! read {
    ($l:expr) => {
        $l.read().unwrap_or_else(|e| e.into_inner())
    };
}
macro_rules! write {
    ($l:expr) => {
        $l.write().unwrap_or_else(|e| e.into_inner())
    };
}

impl Cache {
    /// Read before loading from the store; pass to the matching `insert_loaded_*`.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }
    fn bump(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
    }

    /// Whether cached entries may be used at `now`.
    /// `now` is only called on a shared store: a store of one node is trusted forever, and
    /// its hot path reads no clock.
    pub fn trusted(&self, now: impl FnOnce() -> Timestamp) -> bool {
        let until = self.trusted_until.load(Ordering::Acquire);
        until == i64::MAX || now().0 <= until
    }
    /// Cached entries may be used until `until` (and no longer, unless extended).
    pub fn trust_until(&self, until: Timestamp) {
        self.trusted_until.store(until.0, Ordering::Release);
    }

    /// Forgets everything `change` (made by another node) may have made stale. Bumps the
    /// generation, so that a load that read the store before the change is not cached.
    pub fn forget(&self, change: &Change) {
        match change {
            Change::Key { region, key_id } => {
                // A destroyed key takes its aliases and grants with it.
                self.remove_key(region, key_id);
            }
            Change::Alias { region, name } => self.remove_alias(region, name),
            Change::Grants { region, key_id } => {
                let mut all = write!(self.grants);
                self.bump();
                all.remove(region, key_id);
            }
            Change::AccessKey { access_key_id } => self.remove_credential(access_key_id),
            Change::UserPolicies { user_name } => self.remove_user_policies(user_name),
            Change::Role { role_name } => {
                let key = role_cache_key(role_name);
                self.remove_role_created(role_name);
                self.remove_user_policies(&key);
                self.remove_principal_tags(&key);
            }
            Change::PrincipalTags { principal } => {
                self.remove_principal_tags(&principal_cache_key(principal));
            }
            Change::AllKeys => self.clear_keys(),
        }
    }

    /// Forgets everything (changes may have been missed).
    pub fn forget_all(&self) {
        self.clear_keys();
        let mut creds = write!(self.credentials);
        let mut policies = write!(self.user_policies);
        let mut roles = write!(self.role_created);
        let mut tags = write!(self.principal_tags);
        self.bump();
        creds.clear();
        policies.clear();
        roles.clear();
        tags.clear();
    }

    pub fn key(&self, region: &Region, id: &KeyId) -> Option<Arc<KeyEntry>> {
        read!(self.keys).get(region, id).cloned()
    }
    /// Whether this node's own write, made when the generation was `before`, may be
    /// cached: always on a store of one node. On a shared store, a change another node
    /// made may have been heard (and forgotten) since, and caching the write now would
    /// put back what that change made stale; then the entry is dropped instead.
    fn own_write_is_current(&self, before: u64) -> bool {
        !self.shared.load(Ordering::Acquire) || self.generation() == before
    }
    /// Other nodes write to the store too (see [`Cache::own_write_is_current`]).
    pub fn set_shared(&self) {
        self.shared.store(true, Ordering::Release);
    }

    /// Caches the new state of a key after a durable mutation that started when the
    /// generation was `before` (read just before the store write).
    pub fn put_key(&self, before: u64, entry: Arc<KeyEntry>) {
        let mut keys = write!(self.keys);
        let current = self.own_write_is_current(before);
        self.bump();
        if current {
            keys.insert(&entry.meta.region.clone(), entry.meta.key_id, entry);
        } else {
            keys.remove(&entry.meta.region, &entry.meta.key_id);
        }
    }
    /// Caches a key loaded from the store, unless a mutation happened since `generation`.
    pub fn insert_loaded_key(&self, generation: u64, entry: Arc<KeyEntry>) {
        let mut keys = write!(self.keys);
        if self.generation() == generation {
            keys.insert(&entry.meta.region.clone(), entry.meta.key_id, entry);
        }
    }
    /// Drops a key's cached entry only (its aliases and grants stay).
    pub fn forget_key(&self, region: &Region, id: &KeyId) {
        let mut keys = write!(self.keys);
        self.bump();
        keys.remove(region, id);
    }
    pub fn remove_key(&self, region: &Region, id: &KeyId) {
        let mut keys = write!(self.keys);
        let mut aliases = write!(self.aliases);
        let mut grants = write!(self.grants);
        self.bump();
        keys.remove(region, id);
        aliases.retain(region, |target| target != id);
        grants.remove(region, id);
    }
    /// The grants of a key, if cached.
    pub fn grants(&self, region: &Region, id: &KeyId) -> Option<Arc<[GrantRecord]>> {
        read!(self.grants).get(region, id).cloned()
    }
    /// Caches the grants of a key after a durable change of them. The list was computed
    /// from the cached one, which on a shared store may lack another node's change not yet
    /// heard of: there the entry is dropped instead, and the next use reads the store.
    pub fn put_grants(&self, region: &Region, id: KeyId, grants: Arc<[GrantRecord]>) {
        let mut all = write!(self.grants);
        self.bump();
        if self.shared.load(Ordering::Acquire) {
            all.remove(region, &id);
        } else {
            all.insert(region, id, grants);
        }
    }
    /// Caches grants loaded from the store, unless a mutation happened since `generation`.
    pub fn insert_loaded_grants(
        &self,
        generation: u64,
        region: &Region,
        id: KeyId,
        grants: Arc<[GrantRecord]>,
    ) {
        let mut all = write!(self.grants);
        if self.generation() == generation {
            all.insert(region, id, grants);
        }
    }
    pub fn alias(&self, region: &Region, name: &AliasName) -> Option<KeyId> {
        read!(self.aliases).get(region, name).copied()
    }
    /// Caches an alias after a durable write of it that started at generation `before`.
    pub fn put_alias(&self, before: u64, region: &Region, name: AliasName, target: KeyId) {
        let mut aliases = write!(self.aliases);
        let current = self.own_write_is_current(before);
        self.bump();
        if current {
            aliases.insert(region, name, target);
        } else {
            aliases.remove(region, &name);
        }
    }
    pub fn insert_loaded_alias(
        &self,
        generation: u64,
        region: &Region,
        name: AliasName,
        target: KeyId,
    ) {
        let mut aliases = write!(self.aliases);
        if self.generation() == generation {
            aliases.insert(region, name, target);
        }
    }
    pub fn remove_alias(&self, region: &Region, name: &AliasName) {
        let mut aliases = write!(self.aliases);
        self.bump();
        aliases.remove(region, name);
    }
    pub fn clear_keys(&self) {
        let mut keys = write!(self.keys);
        let mut aliases = write!(self.aliases);
        let mut grants = write!(self.grants);
        self.bump();
        keys.clear();
        aliases.clear();
        grants.clear();
    }
    pub fn credential(&self, access_key_id: &str) -> Option<Arc<Credential>> {
        read!(self.credentials).get(access_key_id).cloned()
    }
    pub fn insert_loaded_credential(
        &self,
        generation: u64,
        access_key_id: String,
        c: Arc<Credential>,
    ) {
        let mut creds = write!(self.credentials);
        if self.generation() != generation {
            return;
        }
        if creds.len() >= MAX_CACHED_CREDENTIALS {
            creds.clear();
        }
        creds.insert(access_key_id, c);
    }
    pub fn remove_credential(&self, access_key_id: &str) {
        let mut creds = write!(self.credentials);
        self.bump();
        creds.remove(access_key_id);
    }
    pub fn user_policies(&self, user_name: &str) -> Option<Arc<[CompiledPolicy]>> {
        read!(self.user_policies).get(user_name).cloned()
    }
    pub fn insert_loaded_user_policies(
        &self,
        generation: u64,
        user_name: String,
        policies: Arc<[CompiledPolicy]>,
    ) {
        let mut all = write!(self.user_policies);
        if self.generation() != generation {
            return;
        }
        if all.len() >= MAX_CACHED_CREDENTIALS {
            all.clear();
        }
        all.insert(user_name, policies);
    }
    pub fn role_created(&self, role_name: &str) -> Option<Timestamp> {
        read!(self.role_created).get(role_name).copied()
    }
    pub fn insert_loaded_role_created(&self, generation: u64, role_name: String, at: Timestamp) {
        let mut all = write!(self.role_created);
        if self.generation() != generation {
            return;
        }
        if all.len() >= MAX_CACHED_CREDENTIALS {
            all.clear();
        }
        all.insert(role_name, at);
    }
    pub fn remove_role_created(&self, role_name: &str) {
        let mut all = write!(self.role_created);
        self.bump();
        all.remove(role_name);
    }
    pub fn principal_tags(&self, key: &str) -> Option<Arc<[Tag]>> {
        read!(self.principal_tags).get(key).cloned()
    }
    pub fn insert_loaded_principal_tags(&self, generation: u64, key: String, tags: Arc<[Tag]>) {
        let mut all = write!(self.principal_tags);
        if self.generation() != generation {
            return;
        }
        if all.len() >= MAX_CACHED_CREDENTIALS {
            all.clear();
        }
        all.insert(key, tags);
    }
    pub fn remove_principal_tags(&self, key: &str) {
        let mut all = write!(self.principal_tags);
        self.bump();
        all.remove(key);
    }
    pub fn remove_user_policies(&self, user_name: &str) {
        let mut all = write!(self.user_policies);
        self.bump();
        all.remove(user_name);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn region(s: &str) -> Region {
        Region::parse(s).unwrap()
    }

    fn key(n: u32) -> KeyId {
        let mut b = [0u8; 16];
        b[..4].copy_from_slice(&n.to_be_bytes());
        KeyId::from_bytes(b)
    }

    #[test]
    fn regional_map_stays_within_capacity() {
        let mut m: Regional<KeyId, u32> = Regional::new(10);
        for n in 0..25 {
            let r = if n % 2 == 0 {
                region("us-east-1")
            } else {
                region("eu-west-1")
            };
            m.insert(&r, key(n), n);
            assert!(m.len <= 10);
        }
        assert_eq!(m.len, 10);
        // Replacing an existing entry evicts nothing.
        let (r, k) = m
            .by_region
            .iter()
            .find_map(|(r, mm)| mm.keys().next().map(|k| (r.clone(), *k)))
            .unwrap();
        m.insert(&r, k, 99);
        assert_eq!(m.len, 10);
        assert_eq!(m.get(&r, &k), Some(&99));
        m.retain(&r, |v| *v == 99);
        let total: usize = m.by_region.values().map(HashMap::len).sum();
        assert_eq!(m.len, total);
    }

    /// On a shared store, a node's own write is cached only if no change was heard (and
    /// forgotten) between the write's start and the caching: else it would put back what
    /// another node's newer change made stale.
    #[test]
    fn own_writes_do_not_overwrite_a_change_heard_meanwhile() {
        let r = region("us-east-1");
        let name = AliasName::parse("alias/a").unwrap();
        for shared in [false, true] {
            let cache = Cache::default();
            if shared {
                cache.set_shared();
            }
            let before = cache.generation();
            // Another node's change of the alias is heard while this node writes...
            cache.forget(&Change::Alias {
                region: r.clone(),
                name: name.clone(),
            });
            // ...then this node caches its own (older) write.
            cache.put_alias(before, &r, name.clone(), key(1));
            let expected = if shared { None } else { Some(key(1)) };
            assert_eq!(cache.alias(&r, &name), expected, "shared: {shared}");
            // Without anything heard meanwhile, the write is cached.
            cache.put_alias(cache.generation(), &r, name.clone(), key(2));
            assert_eq!(cache.alias(&r, &name), Some(key(2)));
            // Grant lists computed from a cached list are not cached on a shared store.
            cache.put_grants(&r, key(3), Arc::from(Vec::new()));
            assert_eq!(cache.grants(&r, &key(3)).is_some(), !shared);
        }
    }

    #[test]
    fn a_stale_load_never_overwrites_a_newer_mutation() {
        let cache = Cache::default();
        let r = region("us-east-1");
        let name = AliasName::parse("alias/a").unwrap();
        // A loader starts reading the store...
        let before = cache.generation();
        // ...a mutation commits and caches the new target...
        cache.put_alias(cache.generation(), &r, name.clone(), key(2));
        cache.remove_alias(&r, &name); // and is even evicted/removed afterwards
                                       // ...then the loader tries to cache what it read before the mutation.
        cache.insert_loaded_alias(before, &r, name.clone(), key(1));
        assert_eq!(
            cache.alias(&r, &name),
            None,
            "stale value must not be cached"
        );
        // A load that started after the mutation is cached.
        let now = cache.generation();
        cache.insert_loaded_alias(now, &r, name.clone(), key(2));
        assert_eq!(cache.alias(&r, &name), Some(key(2)));
    }
}
