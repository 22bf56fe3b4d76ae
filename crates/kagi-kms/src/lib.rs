//! The KMS domain: keys, backing-key versions, key states, aliases, tags, rotation and
//! deletion, and the access keys that authenticate callers. One public method of [`Kms`] per
//! AWS operation (in `ops/`), taking a validated request and returning a typed response.
//!
//! No I/O here: the world is reached only through [`Store`], [`Clock`] and
//! [`kagi_crypto::Rng`], all injected. This crate knows nothing of HTTP, JSON or SQL.
//!
//! Key material is cached in memory after first use ([`cache`]), so cryptographic
//! operations on a warm key never touch the store. Mutations of one key are serialised by a
//! striped lock and are durable in the store before the cache (and the caller) sees them.

pub mod authz;
pub mod cache;
pub mod clock;
pub mod error;
pub mod ids;
pub mod memory_store;
pub mod model;
pub mod ops;
pub mod store;

pub use clock::{Clock, ManualClock, SystemClock, Timestamp};
pub use error::{InternalError, KmsError};
pub use ids::{AccountId, AliasName, KeyId, Region};
pub use memory_store::MemoryStore;
pub use model::*;
pub use store::{Change, Store, StoreError, Write};

use authz::PolicyEngine;
use kagi_crypto::{Rng, RootKey};
use std::sync::{Arc, Mutex, MutexGuard};

/// Who is calling, from where: the authenticated principal and the region of the request's
/// SigV4 credential scope (keys are regional).
#[derive(Debug, Clone)]
pub struct Caller {
    pub region: Region,
    pub principal: Principal,
    /// The client's address (`aws:SourceIp`), when known.
    pub source_ip: Option<String>,
    /// Whether the request came over TLS (`aws:SecureTransport`).
    pub secure_transport: bool,
}

/// An authenticated identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub account: AccountId,
    /// `arn:aws:iam::<account>:user/<name>`, or for a role session
    /// `arn:aws:sts::<account>:assumed-role/<role>/<session>`.
    pub arn: String,
    /// The user's name; for a role session, the session name.
    pub user_name: String,
    pub access_key_id: String,
    pub admin: bool,
    /// Set for temporary credentials from AssumeRole: the role whose policies apply.
    pub role: Option<String>,
}

const LOCK_STRIPES: usize = 64;

/// The KMS service for one installation (one account).
pub struct Kms {
    account: AccountId,
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    rng: Arc<dyn Rng>,
    root: RootKey,
    policies: Arc<dyn PolicyEngine>,
    cache: cache::Cache,
    locks: Vec<Mutex<()>>,
}

impl std::fmt::Debug for Kms {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Kms")
            .field("account", &self.account)
            .finish_non_exhaustive()
    }
}

impl Kms {
    pub fn new(
        account: AccountId,
        root: RootKey,
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        rng: Arc<dyn Rng>,
        policies: Arc<dyn PolicyEngine>,
    ) -> Self {
        Self {
            account,
            store,
            clock,
            rng,
            root,
            policies,
            cache: cache::Cache::default(),
            locks: (0..LOCK_STRIPES).map(|_| Mutex::new(())).collect(),
        }
    }

    pub fn account(&self) -> &AccountId {
        &self.account
    }

    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }

    /// Serialises mutations of one key (or one alias name) across threads.
    fn lock(&self, discriminator: &[u8]) -> MutexGuard<'_, ()> {
        let h = discriminator.iter().fold(0usize, |h, b| {
            h.wrapping_mul(31).wrapping_add(usize::from(*b))
        });
        // A poisoned stripe only means another request panicked while holding it; the data
        // it guards lives in the store, so continuing is safe.
        self.locks[h % LOCK_STRIPES]
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    /// The cache, while it may be used: always on a store of one node; with other nodes,
    /// only within the staleness limit of the last time this node knew it had seen every
    /// committed change ([`Kms::mark_synced`]). Otherwise every lookup asks the store.
    pub(crate) fn trusted_cache(&self) -> Option<&cache::Cache> {
        self.cache.trusted(|| self.now()).then_some(&self.cache)
    }

    /// Declares that other nodes write to the store too. From now on cached state is used
    /// only while [`Kms::mark_synced`] keeps vouching for it, and changes other nodes make
    /// must be passed to [`Kms::apply_remote_change`].
    pub fn share_store_with_other_nodes(&self) {
        self.cache.set_shared();
        self.cache.trust_until(Timestamp(i64::MIN));
    }

    /// Another node changed something: drops every cached copy it may have made stale.
    pub fn apply_remote_change(&self, change: &Change) {
        self.cache.forget(change);
    }

    /// Drops every cached entry: changes may have been missed (the change feed was lost).
    pub fn forget_cached_state(&self) {
        self.cache.forget_all();
    }

    /// Every change committed before `as_of` has been passed to
    /// [`Kms::apply_remote_change`]: cached state may be used until `as_of + limit_millis`.
    pub fn mark_synced(&self, as_of: Timestamp, limit_millis: i64) {
        self.cache
            .trust_until(Timestamp(as_of.0.saturating_add(limit_millis)));
    }

    /// Whether cached state may be used now (readiness of a node that shares its store).
    pub fn cache_is_trusted(&self) -> bool {
        self.trusted_cache().is_some()
    }

    /// Whether the store answers (a readiness probe for load balancers): one small read.
    pub fn check_store(&self) -> Result<(), KmsError> {
        self.store.setting("account_id")?;
        Ok(())
    }

    /// Wipes every key and alias (the `--dev` reset endpoint), durably, and clears caches.
    pub fn dangerous_wipe_all_keys(&self) -> Result<(), KmsError> {
        self.store.apply(vec![Write::WipeKeys])?;
        self.cache.clear_keys();
        Ok(())
    }
}
