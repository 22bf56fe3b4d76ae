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

use kagi_kms::Kms;
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
