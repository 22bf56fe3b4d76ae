//! The PostgreSQL store: the state of several Kagi nodes in one database they share.
//!
//! A small fixed pool of synchronous connections (the `Store` trait is synchronous; the HTTP
//! edge runs store calls on blocking threads). Each [`Store::apply`] is one transaction on
//! one connection, `BEGIN … COMMIT` with `synchronous_commit = on`, so a batch is atomic and
//! on the server's stable storage (and its synchronous standbys, if any) before `apply`
//! returns. Schema migrations run on connect under an advisory lock, so nodes may start at
//! once. A connection found closed is replaced on its next use; a read that fails because its
//! connection died is retried once on a fresh one, and so is a batch whose `BEGIN` failed
//! that way (nothing of it reached the server). A batch whose connection dies after `BEGIN`
//! fails: its outcome is unknown if the loss hit the `COMMIT`. A server that cannot be
//! reached is [`StoreError::Unavailable`] (retryable); the pool reconnects by itself.
//!
//! Several nodes share one database: each batch notifies the others of what it changed,
//! and one node at a time holds the maintenance lease ([`cluster`]).
//!
//! Not here: TLS to the server (connections use `NoTls`).

mod cluster;
mod migrations;
mod rows;
#[cfg(test)]
mod tests;

pub use cluster::{ChangeFeed, Changes, NodeRecord};
use kagi_kms::{
    AccessKeyRecord, AliasName, AliasRecord, GrantRecord, KeyId, PrincipalRef, Region,
    RolePolicyRecord, RoleRecord, Store, StoreError, StoredKey, Tag, Timestamp, UserPolicyRecord,
    Write,
};
use postgres::{Client, Config, NoTls};
use std::str::FromStr;
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::Duration;

/// Connections per store. Writers and readers share them; a caller waits for a free one.
/// Commits on separate connections share the server's WAL flushes, so this bounds how
/// many writes of one node can share one.
const POOL_SIZE: usize = 16;

/// How long a liveness probe after a failure may wait for the server.
const LIVENESS_TIMEOUT: Duration = Duration::from_secs(2);

pub struct PostgresStore {
    /// Parsed once; holds the password, so it is never printed.
    config: Config,
    /// Free slots; `None` is a slot whose connection is not (or no longer) open.
    idle: Mutex<Vec<Option<Conn>>>,
    returned: Condvar,
    /// This store's id in change notifications (random per process).
    node: u64,
    lease: Mutex<cluster::Lease>,
}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PostgresStore")
    }
}

/// Runs `f` on a thread of its own. The synchronous `postgres` client drives a private
/// async runtime, which refuses to run on a thread that is already inside one (an async
/// worker, or a thread blocked in `block_on`); callers of the `Store` trait may be either.
fn off_runtime<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|scope| match scope.spawn(f).join() {
        Ok(v) => v,
        Err(panic) => std::panic::resume_unwind(panic),
    })
}

/// The server's code and primary message only: DETAIL and HINT may quote row values. A
/// connection that cannot be made or was lost, and the server's own "shutting down" and
/// connection errors (classes 08 and 57P), are [`StoreError::Unavailable`].
pub(crate) fn backend(e: postgres::Error) -> StoreError {
    match e.as_db_error() {
        Some(db) => {
            let code = db.code().code();
            let text = format!("postgres {} {code}: {}", db.severity(), db.message());
            if code.starts_with("08") || code.starts_with("57P") {
                StoreError::Unavailable(text)
            } else {
                StoreError::Backend(text)
            }
        }
        None if unreachable(&e) => StoreError::Unavailable(format!("postgres: {e}")),
        None => StoreError::Backend(format!("postgres: {e}")),
    }
}

/// A client-side failure that means "no server to talk to": the connection closed, an
/// I/O error, or a connect that failed or timed out.
fn unreachable(e: &postgres::Error) -> bool {
    use std::error::Error as _;
    let text = e.to_string();
    e.is_closed()
        || e.source().is_some_and(|s| s.is::<std::io::Error>())
        || text.starts_with("error connecting")
        || text.starts_with("timeout")
}

/// A random id for this process' store, so that its own notifications can be told apart.
fn random_node_id() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u32(std::process::id());
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default(),
    );
    h.finish()
}

/// A pooled connection and the statements prepared on it, by SQL text: the write path
/// prepares each statement once per connection instead of once per execution (a round
/// trip and a parse and plan on the server each time).
struct Conn {
    client: Client,
    statements: rows::Statements,
}

/// A connection lent out of the pool; it goes back (open or not) when dropped.
struct Pooled<'a> {
    store: &'a PostgresStore,
    client: Option<Conn>,
}

impl Pooled<'_> {
    /// The open connection of this slot, connecting first if it has none or it has closed.
    fn conn(&mut self) -> Result<&mut Conn, StoreError> {
        if self.client.as_ref().is_none_or(|c| c.client.is_closed()) {
            self.client = None;
            self.client = Some(Conn {
                client: self.store.open_client()?,
                statements: rows::Statements::default(),
            });
        }
        // Just set to `Some` above when it was not already.
        self.client
            .as_mut()
            .ok_or_else(|| StoreError::Backend("no connection".into()))
    }

    fn client(&mut self) -> Result<&mut Client, StoreError> {
        Ok(&mut self.conn()?.client)
    }

    /// After a failure: whether the connection is gone (closed, or no longer answering),
    /// in which case it is dropped so that the next use opens a fresh one. A server that
    /// terminated the session reports it as an error before the client sees it closed, so
    /// this asks the server instead of trusting `is_closed` alone.
    fn lost(&mut self) -> bool {
        let gone = self
            .client
            .as_mut()
            .is_none_or(|c| c.client.is_closed() || c.client.is_valid(LIVENESS_TIMEOUT).is_err());
        if gone {
            self.client = None;
        }
        gone
    }
}

impl Drop for Pooled<'_> {
    fn drop(&mut self) {
        self.store.idle().push(self.client.take());
        self.store.returned.notify_one();
    }
}

/// Why one attempt at a batch failed: before `BEGIN` succeeded, nothing reached the server.
enum Failure {
    BeforeBegin(StoreError),
    After(StoreError),
}

fn apply_once(conn: &mut Conn, node: u64, writes: &[Write]) -> Result<(), Failure> {
    let Conn { client, statements } = conn;
    let mut tx = client
        .transaction()
        .map_err(|e| Failure::BeforeBegin(backend(e)))?;
    let mut c = rows::Cached {
        client: &mut tx,
        statements,
    };
    for w in writes {
        // On error `tx` is dropped, which rolls the whole batch back.
        rows::apply_write(&mut c, w).map_err(Failure::After)?;
    }
    let changes: Vec<_> = writes.iter().filter_map(Write::change).collect();
    if let Some(payload) = cluster::encode_changes(node, &changes) {
        // Delivered to the other nodes if, and when, the batch commits.
        c.execute("SELECT pg_notify($1, $2)", &[&cluster::CHANNEL, &payload])
            .map_err(|e| Failure::After(backend(e)))?;
    }
    tx.commit().map_err(|e| Failure::After(backend(e)))
}

impl PostgresStore {
    /// Connects to the database at `url` (`postgres://user:password@host:port/db`, or the
    /// key=value form) and brings its schema up to date. Safe to call from several nodes at
    /// once: migrations are serialised by an advisory lock.
    pub fn connect(url: &str) -> Result<Self, StoreError> {
        off_runtime(|| Self::connect_here(url))
    }

    fn connect_here(url: &str) -> Result<Self, StoreError> {
        let mut config = Config::from_str(url)
            .map_err(|e| StoreError::Backend(format!("invalid PostgreSQL URL: {e}")))?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(Duration::from_secs(10));
        }
        if config.get_application_name().is_none() {
            config.application_name("kagi");
        }
        // A server that vanished without closing the connection (power loss, a partition)
        // is noticed within seconds instead of the kernel's default of many minutes:
        // unacknowledged data times out, and idle connections are probed.
        if config.get_tcp_user_timeout().is_none() {
            config.tcp_user_timeout(Duration::from_secs(10));
        }
        config.keepalives(true);
        if config.get_keepalives_idle() == Duration::from_secs(2 * 60 * 60) {
            config.keepalives_idle(Duration::from_secs(10));
        }
        let store = Self {
            config,
            idle: Mutex::new(Vec::with_capacity(POOL_SIZE)),
            returned: Condvar::new(),
            node: random_node_id(),
            lease: Mutex::new(cluster::Lease::new()),
        };
        let mut first = store.open_client()?;
        migrations::migrate(&mut first)?;
        let mut idle = store.idle();
        idle.push(Some(Conn {
            client: first,
            statements: rows::Statements::default(),
        }));
        // The other connections open on first use.
        idle.resize_with(POOL_SIZE, || None);
        drop(idle);
        Ok(store)
    }

    /// A dedicated connection listening for the changes other nodes commit (see
    /// [`ChangeFeed::poll`]).
    pub fn change_feed(&self) -> Result<ChangeFeed, StoreError> {
        off_runtime(|| ChangeFeed::open(self))
    }

    fn node_id(&self) -> u64 {
        self.node
    }

    pub(crate) fn open_client(&self) -> Result<Client, StoreError> {
        let mut client = self.config.connect(NoTls).map_err(backend)?;
        // Durable before `apply` returns, whatever the server's default says.
        client
            .batch_execute("SET synchronous_commit TO on")
            .map_err(backend)?;
        Ok(client)
    }

    fn idle(&self) -> MutexGuard<'_, Vec<Option<Conn>>> {
        // A poisoned pool only means a panic elsewhere while pushing or popping a slot.
        self.idle.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn checkout(&self) -> Pooled<'_> {
        let mut idle = self.idle();
        loop {
            if let Some(client) = idle.pop() {
                return Pooled {
                    store: self,
                    client,
                };
            }
            idle = self.returned.wait(idle).unwrap_or_else(|e| e.into_inner());
        }
    }

    fn apply_here(&self, writes: &[Write]) -> Result<(), StoreError> {
        let mut conn = self.checkout();
        let outcome = match apply_once(conn.conn()?, self.node, writes) {
            Err(Failure::BeforeBegin(_)) if conn.lost() => {
                apply_once(conn.conn()?, self.node, writes)
            }
            other => other,
        };
        match outcome {
            Ok(()) => Ok(()),
            Err(Failure::After(e @ (StoreError::Conflict | StoreError::Stale))) => Err(e),
            Err(Failure::BeforeBegin(e) | Failure::After(e)) => {
                // Not retried (the COMMIT may have landed), but a dead connection is not
                // handed to the next caller either.
                conn.lost();
                Err(e)
            }
        }
    }

    /// Runs a read; if it fails because its connection died, once more on a fresh one.
    fn read<T>(
        &self,
        mut f: impl FnMut(&mut Client) -> Result<T, StoreError> + Send,
    ) -> Result<T, StoreError>
    where
        T: Send,
    {
        off_runtime(|| {
            let mut conn = self.checkout();
            match f(conn.client()?) {
                Err(_) if conn.lost() => f(conn.client()?),
                other => other,
            }
        })
    }
}

impl Drop for PostgresStore {
    /// Closing a client also runs on its private runtime: do it off any async thread.
    fn drop(&mut self) {
        let idle = std::mem::take(&mut *self.idle());
        let lease = self
            .lease
            .get_mut()
            .unwrap_or_else(|e| e.into_inner())
            .take_client();
        off_runtime(move || drop((idle, lease)));
    }
}

impl Store for PostgresStore {
    fn apply(&self, writes: Vec<Write>) -> Result<(), StoreError> {
        off_runtime(|| self.apply_here(&writes))
    }

    fn maintenance_lease(&self) -> Result<bool, StoreError> {
        off_runtime(|| {
            self.lease
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .check(self)
        })
    }

    fn load_key(&self, region: &Region, key_id: &KeyId) -> Result<Option<StoredKey>, StoreError> {
        self.read(|c| rows::load_key(c, region, key_id))
    }
    fn list_keys(
        &self,
        region: &Region,
        after: Option<&KeyId>,
        limit: usize,
    ) -> Result<Vec<KeyId>, StoreError> {
        let after = after.map(|k| k.to_string()).unwrap_or_default();
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.read(|c| {
            c.query(
                "SELECT key_id FROM keys WHERE region = $1 AND key_id > $2
                 ORDER BY key_id LIMIT $3",
                &[&region.as_str(), &after, &limit],
            )
            .map_err(backend)?
            .iter()
            .map(|row| crate::codec::key_id(rows::col(row, 0)?))
            .collect()
        })
    }

    fn alias(&self, region: &Region, name: &AliasName) -> Result<Option<AliasRecord>, StoreError> {
        self.read(|c| {
            c.query_opt(
                &format!("{} WHERE region = $1 AND name = $2", rows::ALIAS_SELECT),
                &[&region.as_str(), &name.as_str()],
            )
            .map_err(backend)?
            .map(|row| rows::alias_record(region, &row))
            .transpose()
        })
    }

    fn list_aliases(
        &self,
        region: &Region,
        target: Option<&KeyId>,
        after: Option<&AliasName>,
        limit: usize,
    ) -> Result<Vec<AliasRecord>, StoreError> {
        let after = after.map(|a| a.as_str().to_string()).unwrap_or_default();
        let target = target.map(|t| t.to_string());
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.read(|c| {
            c.query(
                &format!(
                    "{} WHERE region = $1 AND name > $2 AND ($3::text IS NULL OR target = $3)
                     ORDER BY name LIMIT $4",
                    rows::ALIAS_SELECT
                ),
                &[&region.as_str(), &after, &target, &limit],
            )
            .map_err(backend)?
            .iter()
            .map(|row| rows::alias_record(region, row))
            .collect()
        })
    }

    fn due_for_deletion(&self, now: Timestamp) -> Result<Vec<(Region, KeyId)>, StoreError> {
        self.read(|c| {
            rows::due(
                c,
                "SELECT region, key_id FROM keys
                 WHERE deletion_date IS NOT NULL AND deletion_date <= $1",
                now,
            )
        })
    }

    fn due_for_rotation(&self, now: Timestamp) -> Result<Vec<(Region, KeyId)>, StoreError> {
        self.read(|c| {
            rows::due(
                c,
                "SELECT region, key_id FROM keys
                 WHERE next_rotation IS NOT NULL AND next_rotation <= $1",
                now,
            )
        })
    }

    fn access_key(&self, access_key_id: &str) -> Result<Option<AccessKeyRecord>, StoreError> {
        self.read(|c| {
            c.query_opt(
                &format!("{} WHERE access_key_id = $1", rows::ACCESS_KEY_SELECT),
                &[&access_key_id],
            )
            .map_err(backend)?
            .map(|row| rows::access_key_record(&row))
            .transpose()
        })
    }

    fn list_access_keys(&self) -> Result<Vec<AccessKeyRecord>, StoreError> {
        self.read(|c| {
            c.query(
                &format!(
                    "{} ORDER BY user_name, access_key_id",
                    rows::ACCESS_KEY_SELECT
                ),
                &[],
            )
            .map_err(backend)?
            .iter()
            .map(rows::access_key_record)
            .collect()
        })
    }

    fn setting(&self, name: &str) -> Result<Option<String>, StoreError> {
        self.read(|c| {
            c.query_opt("SELECT value FROM settings WHERE name = $1", &[&name])
                .map_err(backend)?
                .map(|row| rows::col(&row, 0))
                .transpose()
        })
    }

    fn user_policies(&self, user_name: &str) -> Result<Vec<UserPolicyRecord>, StoreError> {
        self.read(|c| {
            c.query(
                &format!(
                    "{} WHERE user_name = $1 ORDER BY policy_name",
                    rows::USER_POLICY_SELECT
                ),
                &[&user_name],
            )
            .map_err(backend)?
            .iter()
            .map(rows::user_policy_record)
            .collect()
        })
    }

    fn principal_tags(&self, principal: &PrincipalRef) -> Result<Vec<Tag>, StoreError> {
        self.read(|c| {
            c.query(
                &format!(
                    "{} WHERE principal_kind = $1 AND principal_name = $2 ORDER BY tag_key",
                    rows::PRINCIPAL_TAG_SELECT
                ),
                &[&principal.kind(), &principal.name()],
            )
            .map_err(backend)?
            .iter()
            .map(|row| Ok(rows::principal_tag_record(row)?.1))
            .collect()
        })
    }

    fn role(&self, role_name: &str) -> Result<Option<RoleRecord>, StoreError> {
        self.read(|c| {
            c.query_opt(
                &format!("{} WHERE role_name = $1", rows::ROLE_SELECT),
                &[&role_name],
            )
            .map_err(backend)?
            .map(|row| rows::role_record(&row))
            .transpose()
        })
    }

    fn list_roles(&self) -> Result<Vec<RoleRecord>, StoreError> {
        self.read(|c| {
            c.query(&format!("{} ORDER BY role_name", rows::ROLE_SELECT), &[])
                .map_err(backend)?
                .iter()
                .map(rows::role_record)
                .collect()
        })
    }

    fn role_policies(&self, role_name: &str) -> Result<Vec<RolePolicyRecord>, StoreError> {
        self.read(|c| {
            c.query(
                &format!(
                    "{} WHERE role_name = $1 ORDER BY policy_name",
                    rows::ROLE_POLICY_SELECT
                ),
                &[&role_name],
            )
            .map_err(backend)?
            .iter()
            .map(rows::role_policy_record)
            .collect()
        })
    }
    fn grants(&self, region: &Region, key_id: &KeyId) -> Result<Vec<GrantRecord>, StoreError> {
        let key_id = key_id.to_string();
        self.read(|c| {
            c.query(
                &format!(
                    "{} WHERE region = $1 AND key_id = $2 ORDER BY grant_id",
                    rows::GRANT_SELECT
                ),
                &[&region.as_str(), &key_id],
            )
            .map_err(backend)?
            .iter()
            .map(rows::grant_record)
            .collect()
        })
    }

    fn grant(
        &self,
        region: &Region,
        key_id: &KeyId,
        grant_id: &str,
    ) -> Result<Option<GrantRecord>, StoreError> {
        let key_id = key_id.to_string();
        self.read(|c| {
            c.query_opt(
                &format!(
                    "{} WHERE grant_id = $1 AND region = $2 AND key_id = $3",
                    rows::GRANT_SELECT
                ),
                &[&grant_id, &region.as_str(), &key_id],
            )
            .map_err(backend)?
            .map(|row| rows::grant_record(&row))
            .transpose()
        })
    }

    fn retirable_grants(
        &self,
        retiring_principal: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<GrantRecord>, StoreError> {
        let after = after.unwrap_or("");
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.read(|c| {
            c.query(
                &format!(
                    "{} WHERE retiring_principal = $1 AND grant_id > $2
                     ORDER BY grant_id LIMIT $3",
                    rows::GRANT_SELECT
                ),
                &[&retiring_principal, &after, &limit],
            )
            .map_err(backend)?
            .iter()
            .map(rows::grant_record)
            .collect()
        })
    }
}
