//! In-memory caches of unwrapped key material, alias targets and access-key secrets.
//!
//! The cache is filled on first use from the store and updated by this process' own
//! mutations after they are durable. It never holds a key the store does not have: a
//! mutation writes the store first, then replaces the cached entry.

use crate::ids::{AliasName, KeyId, Region};
use crate::model::{KeyMetadata, StoredVersion};
use crate::Principal;
use kagi_crypto::{BackingKey, SecretBytes};
use std::collections::HashMap;
use std::sync::{Arc, RwLock};

/// A key ready for cryptographic use: metadata plus every backing version, unwrapped.
#[derive(Debug)]
pub struct KeyEntry {
    pub meta: KeyMetadata,
    pub arn: String,
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

#[derive(Default)]
pub struct Cache {
    keys: RwLock<HashMap<Region, HashMap<KeyId, Arc<KeyEntry>>>>,
    aliases: RwLock<HashMap<Region, HashMap<AliasName, KeyId>>>,
    credentials: RwLock<HashMap<String, Arc<Credential>>>,
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
    pub fn key(&self, region: &Region, id: &KeyId) -> Option<Arc<KeyEntry>> {
        read!(self.keys).get(region)?.get(id).cloned()
    }
    pub fn put_key(&self, entry: Arc<KeyEntry>) {
        write!(self.keys)
            .entry(entry.meta.region.clone())
            .or_default()
            .insert(entry.meta.key_id, entry);
    }
    pub fn remove_key(&self, region: &Region, id: &KeyId) {
        if let Some(m) = write!(self.keys).get_mut(region) {
            m.remove(id);
        }
        if let Some(m) = write!(self.aliases).get_mut(region) {
            m.retain(|_, target| target != id);
        }
    }
    pub fn alias(&self, region: &Region, name: &AliasName) -> Option<KeyId> {
        read!(self.aliases).get(region)?.get(name).copied()
    }
    pub fn put_alias(&self, region: &Region, name: AliasName, target: KeyId) {
        write!(self.aliases)
            .entry(region.clone())
            .or_default()
            .insert(name, target);
    }
    pub fn remove_alias(&self, region: &Region, name: &AliasName) {
        if let Some(m) = write!(self.aliases).get_mut(region) {
            m.remove(name);
        }
    }
    pub fn clear_keys(&self) {
        write!(self.keys).clear();
        write!(self.aliases).clear();
    }
    pub fn credential(&self, access_key_id: &str) -> Option<Arc<Credential>> {
        read!(self.credentials).get(access_key_id).cloned()
    }
    pub fn put_credential(&self, access_key_id: String, c: Arc<Credential>) {
        write!(self.credentials).insert(access_key_id, c);
    }
    pub fn remove_credential(&self, access_key_id: &str) {
        write!(self.credentials).remove(access_key_id);
    }
}
