//! Following the other nodes of a shared PostgreSQL store.
//!
//! A thread polls the store's [`ChangeFeed`] and hands every change another node committed
//! to [`Kms::apply_remote_change`]; after each successful poll it tells the domain that the
//! cache is current as of the poll's start ([`Kms::mark_synced`]). The domain trusts cached
//! entries for [`STALENESS_LIMIT`] past that point and no longer: if the feed is lost
//! (database down, network partition), every lookup goes to the store within that limit,
//! and fails with `DependencyTimeoutException` while the store cannot be reached. A change
//! committed through any node therefore takes effect on every node within the limit,
//! whatever fails. When the feed is reopened, the cache is emptied first: changes made
//! while it was down were not heard.
//!
//! A second thread ([`NodeRegistry`]) keeps this node in the store's node registry, with
//! the URL its peers reach it at, and hands the live peers to the server, whose audit
//! lookups cover every live node's log (`kagi_server::cluster`). Peers authenticate to
//! each other with a secret kept in the store's settings, wrapped under the root key
//! ([`peer_secret`]).

use anyhow::Result;
use kagi_crypto::{Rng, RootKey, SecretBytes};
use kagi_kms::{Kms, Store};
use kagi_server::cluster::{Cluster, Peer};
use kagi_store::PostgresStore;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How long cached state is trusted after the change feed last confirmed it current: the
/// bound on how long a change made through another node can go unnoticed.
pub const STALENESS_LIMIT: Duration = Duration::from_secs(1);

/// How long one poll waits for a notification before confirming again; well inside
/// [`STALENESS_LIMIT`], so that a few slow round trips do not expire the cache.
const POLL_WAIT: Duration = Duration::from_millis(200);

/// Pause between attempts to reopen a lost feed.
const RECONNECT_PAUSE: Duration = Duration::from_millis(250);

/// The follower thread; stopped and joined on drop.
pub struct ChangeFollower {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for ChangeFollower {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChangeFollower").finish_non_exhaustive()
    }
}

impl ChangeFollower {
    /// Declares the store shared and starts following it. Until the first poll succeeds
    /// the cache is not trusted (every lookup reads the store).
    pub fn start(store: Arc<PostgresStore>, kms: Arc<Kms>) -> std::io::Result<Self> {
        kms.share_store_with_other_nodes();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name("kagi-change-feed".into())
            .spawn(move || follow(&store, &kms, &flag))?;
        Ok(Self {
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for ChangeFollower {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            // A panicked follower has nothing left to clean up.
            let _ = t.join();
        }
    }
}

fn follow(store: &PostgresStore, kms: &Kms, stop: &AtomicBool) {
    let limit = i64::try_from(STALENESS_LIMIT.as_millis()).unwrap_or(i64::MAX);
    let mut feed = None;
    let mut last_warning: Option<Instant> = None;
    while !stop.load(Ordering::Relaxed) {
        let Some(current) = feed.as_mut() else {
            match store.change_feed() {
                Ok(opened) => {
                    // Listening from now on; whatever changed before is read afresh.
                    kms.forget_cached_state();
                    feed = Some(opened);
                    if last_warning.take().is_some() {
                        tracing::info!("change feed restored");
                    }
                }
                Err(e) => {
                    if last_warning.is_none_or(|t| t.elapsed() > Duration::from_secs(10)) {
                        tracing::warn!(error = %e, "change feed unavailable; caches are not trusted until it returns");
                        last_warning = Some(Instant::now());
                    }
                    std::thread::sleep(RECONNECT_PAUSE);
                }
            }
            continue;
        };
        let as_of = kms.now();
        match current.poll(POLL_WAIT) {
            Ok(seen) => {
                if seen.forget_everything {
                    kms.forget_cached_state();
                }
                for change in &seen.changes {
                    kms.apply_remote_change(change);
                }
                kms.mark_synced(as_of, limit);
            }
            Err(e) => {
                tracing::warn!(error = %e, "change feed lost; reconnecting");
                last_warning = Some(Instant::now());
                feed = None;
            }
        }
    }
}

/// The setting holding the peer secret, wrapped under the root key, and the wrapping
/// context (a wrapped secret opens only for its purpose).
const SETTING_PEER_SECRET: &str = "cluster_peer_secret";
const PEER_SECRET_CONTEXT: &[u8] = b"kagi/cluster/peer-secret/v1";

/// How often a node renews its registration.
const HEARTBEAT: Duration = Duration::from_secs(2);
/// A node not registered for this long is taken to be down, and audit lookups leave it
/// out (until then, a node that does not answer fails them).
pub const LIVENESS: Duration = Duration::from_secs(10);

/// The secret nodes sign their requests to each other with: created by the first node
/// and kept in the store's settings, wrapped under the root key every node holds.
pub fn peer_secret(store: &dyn Store, root: &RootKey, rng: &dyn Rng) -> Result<SecretBytes> {
    crate::audit::load_or_create(
        store,
        root,
        rng,
        SETTING_PEER_SECRET,
        PEER_SECRET_CONTEXT,
        || {
            let mut secret = [0u8; 32];
            let filled = rng.fill(&mut secret);
            let out = SecretBytes::from_slice(&secret);
            secret.fill(0);
            filled?;
            Ok(out)
        },
    )
}

/// Keeps this node registered and the server's list of live peers current; stopped,
/// joined and unregistered on drop (a node that stops cleanly is left out at once).
pub struct NodeRegistry {
    stop: Option<std::sync::mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
    store: Arc<PostgresStore>,
    node: String,
}

impl std::fmt::Debug for NodeRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeRegistry")
            .field("node", &self.node)
            .finish_non_exhaustive()
    }
}

impl NodeRegistry {
    /// Registers this node as reachable at `url` and learns its peers before returning
    /// (so the first lookup already covers them), then renews both every [`HEARTBEAT`].
    pub fn start(store: Arc<PostgresStore>, cluster: Arc<Cluster>, url: String) -> Result<Self> {
        renew(&store, &cluster, &url)?;
        let (stop, stopped) = std::sync::mpsc::channel::<()>();
        let node = cluster.node().to_string();
        let thread = {
            let store = store.clone();
            std::thread::Builder::new()
                .name("kagi-node-registry".into())
                .spawn(move || {
                    let mut failing = false;
                    // Ends when the sender is dropped.
                    while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) =
                        stopped.recv_timeout(HEARTBEAT)
                    {
                        match renew(&store, &cluster, &url) {
                            Ok(()) if failing => {
                                tracing::info!("node registration renewed");
                                failing = false;
                            }
                            Ok(()) => {}
                            Err(e) if !failing => {
                                tracing::warn!(error = %e, "node registration failed; retrying");
                                failing = true;
                            }
                            Err(_) => {}
                        }
                    }
                })?
        };
        Ok(Self {
            stop: Some(stop),
            thread: Some(thread),
            store,
            node,
        })
    }
}

fn renew(store: &PostgresStore, cluster: &Cluster, url: &str) -> Result<()> {
    store.register_node(cluster.node(), url)?;
    cluster.set_peers(live_peers(store)?);
    Ok(())
}

fn live_peers(store: &PostgresStore) -> Result<Vec<Peer>, kagi_kms::StoreError> {
    Ok(store
        .live_nodes(LIVENESS)?
        .into_iter()
        .map(|n| Peer {
            name: n.name,
            url: n.url,
        })
        .collect())
}

/// The registry as the server reads it afresh when a peer fails to answer.
pub fn directory(store: Arc<PostgresStore>) -> kagi_server::cluster::Directory {
    Box::new(move || live_peers(&store).map_err(|e| e.to_string()))
}

impl Drop for NodeRegistry {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        if let Err(e) = self.store.unregister_node(&self.node) {
            tracing::warn!(error = %e, "could not leave the node registry");
        }
    }
}
