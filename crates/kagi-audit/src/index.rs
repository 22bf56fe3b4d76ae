//! The lookup index: a SQLite database that says, for the questions CloudTrail's
//! `LookupEvents`, KMS key-usage queries and `kagi audit usage` ask, *which* log records
//! answer them. It stores each event's location in the log ([`Location`]: sequence number,
//! segment, byte offset) and the few fields those queries filter or group by; the events
//! themselves are read back from the log with [`crate::log::read_record`].
//!
//! The index is a derived cache, never a source of truth: the log is. It runs in WAL mode
//! with `synchronous=NORMAL` (a crash may lose its last transactions, never corrupt it),
//! and after a crash the trail re-feeds it from [`EventIndex::next_seq`]; inserts are
//! idempotent. Deleting the file loses nothing but the time to rebuild it.
//!
//! # Schema (version 1, in `PRAGMA user_version`)
//!
//! - `terms(id, kind, value)`: every distinct event name, event source, user name, access
//!   key id, principal ARN, resource name and resource type, stored once. Rows elsewhere
//!   hold the small integer id, which keeps rows and index entries short: indexing cost
//!   is dominated by b-tree work, and interning roughly thirds it compared with text keys.
//! - `events`: one row per event, keyed by `seq` (the rowid), with an index on every
//!   attribute `LookupEvents` filters on (an index entry ends in the rowid), so "attribute
//!   = ? newest first" walks one index backwards and stops after a page. `resource_terms`
//!   lists the event's resource term ids, so that retention can find its `resources` rows.
//! - `resources(term, seq)`: one row per distinct resource name or type of an event,
//!   `WITHOUT ROWID`, walked backwards the same way.
//! - Time bounds become a range of sequence numbers first. Event times follow sequence
//!   numbers only roughly (two requests can finish in the other order, clocks step back),
//!   so each row carries two monotone bounds: `time_upper` ≥ the time of this and every
//!   earlier event, `time_lower` ≤ the time of this and every later event. Both are
//!   non-decreasing in `seq`, so "first seq whose `time_upper` ≥ start" and "first seq whose
//!   `time_lower` > end" are binary searches over the rowid, and every event inside
//!   [start, end] lies between them; the exact time filter then runs on that range only.
//!   Results are exact however out of order times or inserts are.
//!
//! # Durability without stalls
//!
//! Commits never sync (WAL with `synchronous=NORMAL`); only checkpoints do, twice each (the
//! WAL before copying it into the database, the database before the WAL is reused). So
//! that inserts never wait for those syncs, SQLite's automatic checkpoints are off and a
//! background thread runs a non-blocking (`PASSIVE`) checkpoint every
//! [`CHECKPOINT_EVERY`]. Under sustained writes a passive checkpoint can keep up with the
//! WAL without ever finding it idle, which is what lets the WAL start over; once the WAL
//! file passes [`WAL_RESTART_BYTES`] the thread runs a `RESTART` checkpoint, which waits
//! for the current batch, copies what little is left and lets the next batch reuse the
//! file. Should that thread fall behind anyway, the writer checkpoints by itself past
//! [`WAL_CAP_BYTES`].
//!
//! This module does not read the log, parse events or validate API input (`MaxResults`,
//! attribute names, time ranges): the trail and the server do.

use crate::event::{CloudTrailEvent, KMS_KEY_RESOURCE_TYPE};
use base64::Engine as _;
use kagi_crypto::digest::Sha256;
use rusqlite::types::Value;
use rusqlite::{params, params_from_iter, Connection, OpenFlags, OptionalExtension};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

/// The schema this build creates and reads.
const SCHEMA_VERSION: i64 = 1;
/// Idle read connections kept open; more are opened on demand and closed after use.
const MAX_IDLE_READERS: usize = 4;
/// Most term ids the writer remembers before it starts over (a bound on memory).
const MAX_CACHED_TERMS: usize = 1 << 20;
/// How often the background thread checkpoints the WAL into the database. Pages that
/// many batches touch (the newest entries of each resource, user and operation) are then
/// copied once per interval, not once per batch.
const CHECKPOINT_EVERY: Duration = Duration::from_secs(10);
/// WAL file size past which the background checkpoint makes the WAL start over.
const WAL_RESTART_BYTES: u64 = 128 << 20;
/// WAL file size past which the writer checkpoints by itself (the background thread is
/// not keeping up); also what a restarted WAL file is cut back to.
const WAL_CAP_BYTES: u64 = 512 << 20;
/// The version byte of pagination tokens.
const TOKEN_VERSION: u8 = 1;
const FINGERPRINT_LEN: usize = 16;
const TOKEN_LEN: usize = 1 + 8 + FINGERPRINT_LEN;

const SCHEMA_V1: &str = "
CREATE TABLE terms (
    id INTEGER PRIMARY KEY,
    kind INTEGER NOT NULL,
    value TEXT NOT NULL,
    UNIQUE (kind, value)
);
CREATE TABLE events (
    seq INTEGER PRIMARY KEY,
    segment INTEGER NOT NULL,
    byte_offset INTEGER NOT NULL,
    time_millis INTEGER NOT NULL,
    time_upper INTEGER NOT NULL,
    time_lower INTEGER NOT NULL,
    event_id TEXT NOT NULL,
    event_name INTEGER NOT NULL,
    event_source INTEGER NOT NULL,
    read_only INTEGER NOT NULL,
    username INTEGER,
    access_key_id INTEGER,
    principal INTEGER,
    error_code TEXT,
    request_id TEXT,
    resource_terms BLOB NOT NULL
);
CREATE INDEX events_by_event_id ON events (event_id);
CREATE INDEX events_by_event_name ON events (event_name);
CREATE INDEX events_by_event_source ON events (event_source);
CREATE INDEX events_by_read_only ON events (read_only);
CREATE INDEX events_by_username ON events (username);
CREATE INDEX events_by_access_key_id ON events (access_key_id);
CREATE TABLE resources (
    term INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    PRIMARY KEY (term, seq)
) WITHOUT ROWID;
-- The high-water mark survives retention deleting every row.
CREATE TABLE state (
    id INTEGER PRIMARY KEY CHECK (id = 0),
    next_seq INTEGER NOT NULL
);
INSERT INTO state (id, next_seq) VALUES (0, 0);
";

/// What a term is; stored in `terms.kind`, so never renumber.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    EventName = 1,
    EventSource = 2,
    Username = 3,
    AccessKeyId = 4,
    Principal = 5,
    ResourceName = 6,
    ResourceType = 7,
}

const KINDS: usize = 8;

#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    /// Any SQLite failure. The message is fixed so that it can be shown to clients; the
    /// source (for operators' logs) is SQLite's own text and never holds event data.
    #[error("audit index database error")]
    Sqlite(#[source] rusqlite::Error),
    #[error("the pagination token is not valid for this query")]
    InvalidNextToken,
    #[error("could not start the audit index's checkpoint thread")]
    Checkpointer(#[source] std::io::Error),
    #[error("audit index schema version {found} is newer than this build's ({supported}); rebuild the index")]
    UnsupportedSchema { found: i64, supported: i64 },
}

impl From<rusqlite::Error> for IndexError {
    fn from(e: rusqlite::Error) -> Self {
        Self::Sqlite(e)
    }
}

/// What the index stores about one event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexedEvent {
    pub seq: u64,
    pub segment: u64,
    pub offset: u64,
    pub time_millis: i64,
    pub event_id: String,
    pub event_name: String,
    pub event_source: String,
    pub read_only: bool,
    /// `userIdentity.userName`.
    pub username: Option<String>,
    /// `userIdentity.accessKeyId`.
    pub access_key_id: Option<String>,
    /// `userIdentity.arn`, for usage summaries.
    pub principal: Option<String>,
    pub error_code: Option<String>,
    pub request_id: Option<String>,
    /// (type, name) pairs: the event's resources, plus the bare key id of every key ARN.
    pub resources: Vec<(String, String)>,
}

impl IndexedEvent {
    /// The index entry of `ev`, stored at `seq` in the log segment `segment` at `offset`.
    /// A resource of type `AWS::KMS::Key` whose ARN names a key (`…:key/<id>`) is indexed
    /// under its ARN and under `<id>`, so that lookups work with either; alias ARNs are
    /// indexed as written.
    pub fn from_event(ev: &CloudTrailEvent, seq: u64, segment: u64, offset: u64) -> Self {
        let mut resources = Vec::with_capacity(ev.resources.len() * 2);
        for r in &ev.resources {
            resources.push((r.resource_type.clone(), r.arn.clone()));
            if r.resource_type == KMS_KEY_RESOURCE_TYPE {
                if let Some((_, key_id)) = r.arn.split_once(":key/") {
                    if !key_id.is_empty() {
                        resources.push((r.resource_type.clone(), key_id.to_string()));
                    }
                }
            }
        }
        let who = &ev.user_identity;
        Self {
            seq,
            segment,
            offset,
            time_millis: ev.event_time.epoch_seconds().saturating_mul(1000),
            event_id: ev.event_id.clone(),
            event_name: ev.event_name.clone(),
            event_source: ev.event_source.clone(),
            read_only: ev.read_only,
            username: who.user_name.clone(),
            access_key_id: who.access_key_id.clone(),
            principal: who.arn.clone(),
            error_code: ev.error_code.clone(),
            request_id: ev.request_id.clone(),
            resources,
        }
    }
}

/// Where an event is in the log: what [`crate::log::read_record`] takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Location {
    pub seq: u64,
    pub segment: u64,
    pub offset: u64,
}

/// The newest successful use of a key (see [`EventIndex::last_usage`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Usage {
    pub location: Location,
    pub time_millis: i64,
    pub event_name: String,
    pub event_id: String,
    pub request_id: Option<String>,
}

/// One group of [`EventIndex::usage_summary`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageRow {
    pub principal: Option<String>,
    pub access_key_id: Option<String>,
    pub event_name: String,
    pub count: u64,
    /// Calls of the group that failed (`errorCode` set).
    pub errors: u64,
    pub first_millis: i64,
    pub last_millis: i64,
}

/// `LookupAttributes[].AttributeKey` of CloudTrail's `LookupEvents`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AttributeKey {
    EventId,
    EventName,
    ReadOnly,
    Username,
    ResourceType,
    ResourceName,
    EventSource,
    AccessKeyId,
}

impl AttributeKey {
    pub const ALL: [AttributeKey; 8] = [
        Self::EventId,
        Self::EventName,
        Self::ReadOnly,
        Self::Username,
        Self::ResourceType,
        Self::ResourceName,
        Self::EventSource,
        Self::AccessKeyId,
    ];

    /// The key from its CloudTrail name (`"EventName"`, …); `None` for anything else.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == name)
    }

    /// CloudTrail's name of the key.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::EventId => "EventId",
            Self::EventName => "EventName",
            Self::ReadOnly => "ReadOnly",
            Self::Username => "Username",
            Self::ResourceType => "ResourceType",
            Self::ResourceName => "ResourceName",
            Self::EventSource => "EventSource",
            Self::AccessKeyId => "AccessKeyId",
        }
    }

    /// A stable tag for pagination-token fingerprints (never reuse a number).
    fn tag(self) -> u8 {
        match self {
            Self::EventId => 1,
            Self::EventName => 2,
            Self::ReadOnly => 3,
            Self::Username => 4,
            Self::ResourceType => 5,
            Self::ResourceName => 6,
            Self::EventSource => 7,
            Self::AccessKeyId => 8,
        }
    }
}

/// One `LookupEvents` page request, already validated by the caller.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LookupQuery {
    /// At most one attribute, as CloudTrail allows; `None` matches every event.
    pub attribute: Option<(AttributeKey, String)>,
    /// Inclusive bounds on the event time, in milliseconds since the epoch.
    pub start_millis: Option<i64>,
    pub end_millis: Option<i64>,
    /// 1..=50 (the caller validates; 0 is treated as 1).
    pub max_results: usize,
    pub next_token: Option<String>,
}

/// Matching events, newest (highest seq) first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LookupPage {
    pub hits: Vec<Location>,
    /// Present only when more results follow; pass it back with the same query.
    pub next_token: Option<String>,
}

/// The index. Share it (`Arc`); writes are serialised on one connection, reads use a small
/// pool of read-only connections and run concurrently with writes (WAL).
pub struct EventIndex {
    path: PathBuf,
    wal_path: PathBuf,
    writer: Mutex<Writer>,
    readers: Mutex<Vec<Connection>>,
    checkpointer: Checkpointer,
}

/// The background checkpoint thread; stopped (after a last checkpoint) on drop.
struct Checkpointer {
    stop: Arc<(Mutex<bool>, Condvar)>,
    thread: Option<JoinHandle<()>>,
}

impl Drop for EventIndex {
    fn drop(&mut self) {
        // Read-only connections close first, so that the writer (a field, dropped after
        // this) is the last connection: closing, it folds the WAL into the database and
        // removes it.
        lock(&self.readers).clear();
        let (flag, cv) = &*self.checkpointer.stop;
        *lock(flag) = true;
        cv.notify_all();
        if let Some(t) = self.checkpointer.thread.take() {
            // A panicked checkpointer has nothing left to clean up.
            let _ = t.join();
        }
    }
}

struct Writer {
    conn: Connection,
    /// Term ids by kind and value, as committed: cleared when a transaction fails, since
    /// ids it created were rolled back with it.
    terms: [HashMap<String, i64>; KINDS],
}

impl std::fmt::Debug for EventIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventIndex")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock leaves at worst an open transaction, which the next
    // `transaction()` call reports as an error; the data itself stays consistent.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Event times are bounded (years 0000–9999), so these never collide with real values.
fn start_bound(q: Option<i64>) -> i64 {
    q.unwrap_or(i64::MIN)
}

fn end_bound(q: Option<i64>) -> i64 {
    q.unwrap_or(i64::MAX)
}

fn to_sql_seq(seq: u64) -> i64 {
    // Sequence numbers count events; 2^63 of them cannot be written.
    i64::try_from(seq).unwrap_or(i64::MAX)
}

impl EventIndex {
    /// Opens the index at `path`, creating it (schema version 1) if it does not exist.
    /// A database with a newer schema is refused ([`IndexError::UnsupportedSchema`]).
    pub fn open(path: &Path) -> Result<Self, IndexError> {
        let mut conn = Connection::open(path)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        // A derived cache: losing the last transactions in a power cut is fine (the trail
        // re-feeds from `next_seq`); WAL with NORMAL never corrupts the file.
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        // Checkpoints run on the background thread (see the module docs).
        conn.pragma_update(None, "wal_autocheckpoint", 0)?;
        conn.pragma_update(None, "journal_size_limit", WAL_CAP_BYTES as i64)?;
        conn.pragma_update(None, "cache_size", -16_384)?;
        conn.pragma_update(None, "temp_store", "MEMORY")?;
        conn.busy_timeout(Duration::from_secs(5))?;
        conn.set_prepared_statement_cache_capacity(64);
        migrate(&mut conn)?;
        let mut wal_path = path.as_os_str().to_owned();
        wal_path.push("-wal");
        let wal_path = PathBuf::from(wal_path);
        let checkpointer = spawn_checkpointer(path, &wal_path)?;
        Ok(Self {
            path: path.to_path_buf(),
            wal_path,
            writer: Mutex::new(Writer {
                conn,
                terms: Default::default(),
            }),
            readers: Mutex::new(Vec::new()),
            checkpointer,
        })
    }

    fn open_reader(&self) -> Result<Connection, rusqlite::Error> {
        let conn = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.pragma_update(None, "cache_size", -4_096)?;
        conn.busy_timeout(Duration::from_secs(5))?;
        conn.set_prepared_statement_cache_capacity(64);
        Ok(conn)
    }

    /// Runs `f` in one read transaction (a consistent snapshot) on a pooled connection.
    fn read<T>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, IndexError>,
    ) -> Result<T, IndexError> {
        let idle = lock(&self.readers).pop();
        let conn = match idle {
            Some(c) => c,
            None => self.open_reader()?,
        };
        let result = (|| {
            let tx = conn.unchecked_transaction()?;
            let out = f(&tx)?;
            // Ending a read transaction cannot lose anything; commit just releases it.
            tx.commit()?;
            Ok(out)
        })();
        let mut idle = lock(&self.readers);
        if idle.len() < MAX_IDLE_READERS {
            idle.push(conn);
        }
        result
    }

    /// Adds `events` in one transaction. Events already indexed (by seq) are left as they
    /// are, so re-feeding after a crash is harmless. Events normally arrive in seq order
    /// after everything indexed so far; any other order is accepted too, just slower.
    pub fn insert_batch(&self, events: &[IndexedEvent]) -> Result<(), IndexError> {
        if events.is_empty() {
            return Ok(());
        }
        let mut sorted: Vec<&IndexedEvent> = events.iter().collect();
        sorted.sort_by_key(|e| e.seq);
        sorted.dedup_by_key(|e| e.seq);
        let mut guard = lock(&self.writer);
        let Writer { conn, terms } = &mut *guard;
        if terms.iter().map(HashMap::len).sum::<usize>() > MAX_CACHED_TERMS {
            terms.iter_mut().for_each(HashMap::clear);
        }
        let result = (|| {
            let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let max_seq: Option<u64> = tx
                .prepare_cached("SELECT MAX(seq) FROM events")?
                .query_row([], |r| r.get(0))?;
            if max_seq.is_none_or(|m| sorted[0].seq > m) {
                append_rows(&tx, terms, &sorted, max_seq)?;
            } else {
                for ev in &sorted {
                    insert_anywhere(&tx, terms, ev)?;
                }
            }
            // Invariant: `sorted` is not empty (checked above).
            let next = sorted[sorted.len() - 1].seq.saturating_add(1);
            tx.prepare_cached("UPDATE state SET next_seq = MAX(next_seq, ?1) WHERE id = 0")?
                .execute([to_sql_seq(next)])?;
            tx.commit()?;
            if wal_bytes(&self.wal_path) > WAL_CAP_BYTES {
                checkpoint(conn, "RESTART")?;
            }
            Ok(())
        })();
        if result.is_err() {
            terms.iter_mut().for_each(HashMap::clear);
        }
        result
    }

    /// One past the highest seq ever indexed (0 when nothing was): where re-feeding starts.
    /// Retention does not lower it.
    pub fn next_seq(&self) -> Result<u64, IndexError> {
        self.read(|c| {
            Ok(c.prepare_cached("SELECT next_seq FROM state WHERE id = 0")?
                .query_row([], |r| r.get(0))?)
        })
    }

    /// One page of `LookupEvents`: matching events newest first. A `next_token` that does
    /// not decode, or was issued for a query with another attribute or other time bounds,
    /// is [`IndexError::InvalidNextToken`].
    pub fn lookup(&self, q: &LookupQuery) -> Result<LookupPage, IndexError> {
        let fingerprint = fingerprint(q);
        let before = match &q.next_token {
            Some(token) => Some(decode_token(token, &fingerprint)?),
            None => None,
        };
        let limit = q.max_results.max(1);
        let (start, end) = (start_bound(q.start_millis), end_bound(q.end_millis));
        let mut hits = self.read(|c| {
            if start > end {
                return Ok(Vec::new());
            }
            let filter = match &q.attribute {
                None => None,
                Some((key, value)) => match attribute_filter(c, *key, value)? {
                    Some(f) => Some(f),
                    None => return Ok(Vec::new()),
                },
            };
            let Some((lo, hi)) = seq_range(c, start, end)? else {
                return Ok(Vec::new());
            };
            let hi = match before {
                Some(b) => hi.min(to_sql_seq(b)),
                None => hi,
            };
            let fetch = i64::try_from(limit + 1).unwrap_or(i64::MAX);
            let mut args = vec![
                Value::Integer(lo),
                Value::Integer(hi),
                Value::Integer(start),
                Value::Integer(end),
                Value::Integer(fetch),
            ];
            let sql = match filter {
                None => LOOKUP_ALL.to_string(),
                Some((target, value)) => {
                    args.push(value);
                    lookup_sql(target)
                }
            };
            let mut stmt = c.prepare_cached(&sql)?;
            let rows = stmt.query_map(params_from_iter(args), location)?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })?;
        let next_token = if hits.len() > limit {
            hits.truncate(limit);
            hits.last().map(|l| encode_token(l.seq, &fingerprint))
        } else {
            None
        };
        Ok(LookupPage { hits, next_token })
    }

    /// Where the event with this `eventID` is (the newest, should an id repeat).
    pub fn find_event(&self, event_id: &str) -> Result<Option<Location>, IndexError> {
        self.read(|c| {
            Ok(c.prepare_cached(
                "SELECT seq, segment, byte_offset FROM events INDEXED BY events_by_event_id
                 WHERE event_id = ?1 ORDER BY seq DESC LIMIT 1",
            )?
            .query_row([event_id], location)
            .optional()?)
        })
    }

    /// The newest (highest seq) successful event (no `errorCode`) that names any of
    /// `key_names` as a resource and whose `eventName` is one of `event_names`.
    pub fn last_usage(
        &self,
        key_names: &[&str],
        event_names: &[&str],
    ) -> Result<Option<Usage>, IndexError> {
        self.read(|c| {
            let names = term_ids(c, Kind::ResourceName, key_names)?;
            let operations = term_ids(c, Kind::EventName, event_names)?;
            if names.is_empty() || operations.is_empty() {
                return Ok(None);
            }
            let sql = format!(
                "SELECT e.seq, e.segment, e.byte_offset, e.time_millis, n.value, e.event_id,
                        e.request_id
                 FROM resources AS r JOIN events AS e ON e.seq = r.seq
                      JOIN terms AS n ON n.id = e.event_name
                 WHERE r.term = ?1 AND e.error_code IS NULL AND e.event_name IN ({})
                 ORDER BY r.seq DESC LIMIT 1",
                placeholders(2, operations.len())
            );
            let mut stmt = c.prepare_cached(&sql)?;
            let mut best: Option<Usage> = None;
            // One backwards walk per name: each stops at its newest match.
            for name in names {
                let args = std::iter::once(name).chain(operations.iter().copied());
                let found = stmt
                    .query_row(params_from_iter(args), |r| {
                        Ok(Usage {
                            location: location(r)?,
                            time_millis: r.get(3)?,
                            event_name: r.get(4)?,
                            event_id: r.get(5)?,
                            request_id: r.get(6)?,
                        })
                    })
                    .optional()?;
                if let Some(u) = found {
                    if best
                        .as_ref()
                        .is_none_or(|b| u.location.seq > b.location.seq)
                    {
                        best = Some(u);
                    }
                }
            }
            Ok(best)
        })
    }

    /// Who used any of `key_names` how (within the inclusive time bounds): one row per
    /// (principal, access key, event name), newest last use first. An event that names
    /// several of `key_names` counts once.
    pub fn usage_summary(
        &self,
        key_names: &[&str],
        start_millis: Option<i64>,
        end_millis: Option<i64>,
    ) -> Result<Vec<UsageRow>, IndexError> {
        let (start, end) = (start_bound(start_millis), end_bound(end_millis));
        self.read(|c| {
            let names = term_ids(c, Kind::ResourceName, key_names)?;
            if names.is_empty() || start > end {
                return Ok(Vec::new());
            }
            let Some((lo, hi)) = seq_range(c, start, end)? else {
                return Ok(Vec::new());
            };
            let n = names.len();
            let sql = format!(
                "SELECT p.value, a.value, o.value, COUNT(*), COUNT(e.error_code),
                        MIN(e.time_millis), MAX(e.time_millis)
                 FROM events AS e
                      JOIN terms AS o ON o.id = e.event_name
                      LEFT JOIN terms AS p ON p.id = e.principal
                      LEFT JOIN terms AS a ON a.id = e.access_key_id
                 WHERE e.seq IN (SELECT seq FROM resources
                                 WHERE term IN ({}) AND seq >= ?{lo} AND seq < ?{hi})
                   AND e.time_millis BETWEEN ?{start} AND ?{end}
                 GROUP BY e.principal, e.access_key_id, e.event_name
                 ORDER BY MAX(e.time_millis) DESC, p.value, a.value, o.value",
                placeholders(1, n),
                lo = n + 1,
                hi = n + 2,
                start = n + 3,
                end = n + 4,
            );
            let mut args: Vec<i64> = names;
            args.extend([lo, hi, start, end]);
            let mut stmt = c.prepare_cached(&sql)?;
            let rows = stmt.query_map(params_from_iter(args), |r| {
                Ok(UsageRow {
                    principal: r.get(0)?,
                    access_key_id: r.get(1)?,
                    event_name: r.get(2)?,
                    count: r.get(3)?,
                    errors: r.get(4)?,
                    first_millis: r.get(5)?,
                    last_millis: r.get(6)?,
                })
            })?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
    }

    /// Retention: removes every event whose time is before `millis` and returns how many.
    /// [`EventIndex::next_seq`] is unchanged, so deleted events are not re-fed. Terms are
    /// kept (there are about as many as keys, users and operations).
    pub fn delete_before(&self, millis: i64) -> Result<u64, IndexError> {
        let mut guard = lock(&self.writer);
        let tx = guard
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        // Every event older than `millis` has `time_lower` < millis, and those rows are a
        // prefix of the seq order: look only there.
        let end = first_seq_where(&tx, Bound::Lower, |v| v >= millis)?.unwrap_or(i64::MAX);
        {
            let mut doomed = tx.prepare_cached(
                "SELECT seq, resource_terms FROM events WHERE seq < ?1 AND time_millis < ?2",
            )?;
            let mut unlink =
                tx.prepare_cached("DELETE FROM resources WHERE term = ?1 AND seq = ?2")?;
            let mut rows = doomed.query(params![end, millis])?;
            while let Some(row) = rows.next()? {
                let seq: i64 = row.get(0)?;
                let terms: Vec<u8> = row.get(1)?;
                for term in decode_terms(&terms) {
                    unlink.execute(params![term, seq])?;
                }
            }
        }
        let deleted = tx
            .prepare_cached("DELETE FROM events WHERE seq < ?1 AND time_millis < ?2")?
            .execute(params![end, millis])?;
        tx.commit()?;
        Ok(deleted as u64)
    }
}

fn wal_bytes(wal_path: &Path) -> u64 {
    std::fs::metadata(wal_path).map_or(0, |m| m.len())
}

/// Runs `PRAGMA wal_checkpoint(<mode>)`; a checkpoint that could not finish (busy) is not
/// an error, the next one continues it.
fn checkpoint(conn: &Connection, mode: &str) -> rusqlite::Result<()> {
    conn.query_row(&format!("PRAGMA wal_checkpoint({mode})"), [], |_| Ok(()))
}

fn spawn_checkpointer(path: &Path, wal_path: &Path) -> Result<Checkpointer, IndexError> {
    let conn = Connection::open(path)?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.pragma_update(None, "journal_size_limit", WAL_CAP_BYTES as i64)?;
    conn.busy_timeout(Duration::from_secs(5))?;
    let stop = Arc::new((Mutex::new(false), Condvar::new()));
    let signal = stop.clone();
    let wal_path = wal_path.to_path_buf();
    let thread = std::thread::Builder::new()
        .name("kagi-audit-index-checkpoint".into())
        .spawn(move || {
            let (flag, cv) = &*signal;
            loop {
                let stopped = {
                    let guard = lock(flag);
                    let (guard, _) = cv
                        .wait_timeout_while(guard, CHECKPOINT_EVERY, |stop| !*stop)
                        .unwrap_or_else(|e| e.into_inner());
                    *guard
                };
                let mode = if stopped || wal_bytes(&wal_path) > WAL_RESTART_BYTES {
                    "RESTART"
                } else {
                    "PASSIVE"
                };
                // Failures are retried at the next interval; the writer's own cap bounds
                // the WAL should they persist.
                let _ = checkpoint(&conn, mode);
                if stopped {
                    return;
                }
            }
        })
        .map_err(IndexError::Checkpointer)?;
    Ok(Checkpointer {
        stop,
        thread: Some(thread),
    })
}

fn migrate(conn: &mut Connection) -> Result<(), IndexError> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let version: i64 = tx.pragma_query_value(None, "user_version", |r| r.get(0))?;
    match version {
        0 => {
            tx.execute_batch(SCHEMA_V1)?;
            tx.pragma_update(None, "user_version", SCHEMA_VERSION)?;
        }
        SCHEMA_VERSION => {}
        found => {
            return Err(IndexError::UnsupportedSchema {
                found,
                supported: SCHEMA_VERSION,
            })
        }
    }
    tx.commit()?;
    Ok(())
}

fn location(r: &rusqlite::Row<'_>) -> rusqlite::Result<Location> {
    Ok(Location {
        seq: r.get(0)?,
        segment: r.get(1)?,
        offset: r.get(2)?,
    })
}

/// `?first, ?first+1, …` (n of them).
fn placeholders(first: usize, n: usize) -> String {
    (first..first + n)
        .map(|i| format!("?{i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The id of a term, if any event ever used it (reader side: never creates one).
fn term_id(c: &Connection, kind: Kind, value: &str) -> rusqlite::Result<Option<i64>> {
    c.prepare_cached("SELECT id FROM terms WHERE kind = ?1 AND value = ?2")?
        .query_row(params![kind as u8, value], |r| r.get(0))
        .optional()
}

/// The ids of those of `values` that are terms, without repeats.
fn term_ids(c: &Connection, kind: Kind, values: &[&str]) -> rusqlite::Result<Vec<i64>> {
    let mut ids = Vec::with_capacity(values.len());
    for v in values {
        if let Some(id) = term_id(c, kind, v)? {
            ids.push(id);
        }
    }
    ids.sort_unstable();
    ids.dedup();
    Ok(ids)
}

/// Where a lookup attribute lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    /// An `events` column with its index `events_by_<column>`.
    Column(&'static str),
    /// The `resources` table.
    Resources,
}

fn attribute_target(key: AttributeKey) -> Target {
    match key {
        AttributeKey::EventId => Target::Column("event_id"),
        AttributeKey::EventName => Target::Column("event_name"),
        AttributeKey::ReadOnly => Target::Column("read_only"),
        AttributeKey::Username => Target::Column("username"),
        AttributeKey::EventSource => Target::Column("event_source"),
        AttributeKey::AccessKeyId => Target::Column("access_key_id"),
        AttributeKey::ResourceName | AttributeKey::ResourceType => Target::Resources,
    }
}

/// The filter for `key = value`, or `None` when nothing can match (a value never seen, a
/// ReadOnly value other than "true" or "false").
fn attribute_filter(
    c: &Connection,
    key: AttributeKey,
    value: &str,
) -> rusqlite::Result<Option<(Target, Value)>> {
    let kind = match key {
        AttributeKey::EventId => {
            return Ok(Some((attribute_target(key), Value::Text(value.into()))))
        }
        AttributeKey::ReadOnly => {
            let flag = match value {
                "true" => 1,
                "false" => 0,
                _ => return Ok(None),
            };
            return Ok(Some((attribute_target(key), Value::Integer(flag))));
        }
        AttributeKey::EventName => Kind::EventName,
        AttributeKey::Username => Kind::Username,
        AttributeKey::EventSource => Kind::EventSource,
        AttributeKey::AccessKeyId => Kind::AccessKeyId,
        AttributeKey::ResourceName => Kind::ResourceName,
        AttributeKey::ResourceType => Kind::ResourceType,
    };
    Ok(term_id(c, kind, value)?.map(|id| (attribute_target(key), Value::Integer(id))))
}

/// Parameters of every lookup: ?1 lowest seq, ?2 seq bound (exclusive), ?3/?4 inclusive
/// time bounds, ?5 row limit, ?6 the attribute's value.
const LOOKUP_ALL: &str = "SELECT seq, segment, byte_offset FROM events
     WHERE seq >= ?1 AND seq < ?2 AND time_millis BETWEEN ?3 AND ?4
     ORDER BY seq DESC LIMIT ?5";

fn lookup_sql(target: Target) -> String {
    match target {
        // Walk the (term, seq) key backwards, join the event.
        Target::Resources => "SELECT e.seq, e.segment, e.byte_offset
             FROM resources AS r JOIN events AS e ON e.seq = r.seq
             WHERE r.term = ?6 AND r.seq >= ?1 AND r.seq < ?2
               AND e.time_millis BETWEEN ?3 AND ?4
             ORDER BY r.seq DESC LIMIT ?5"
            .to_string(),
        // The column's index, forced so that the planner never prefers the rowid range
        // and a sort.
        Target::Column(column) => format!(
            "SELECT seq, segment, byte_offset FROM events INDEXED BY events_by_{column}
             WHERE {column} = ?6 AND seq >= ?1 AND seq < ?2
               AND time_millis BETWEEN ?3 AND ?4
             ORDER BY seq DESC LIMIT ?5"
        ),
    }
}

/// The two monotone time bounds of the `events` table (see the module docs).
#[derive(Clone, Copy)]
enum Bound {
    /// `time_upper`: ≥ the time of this event and every earlier one.
    Upper,
    /// `time_lower`: ≤ the time of this event and every later one.
    Lower,
}

/// The seq range [lo, hi) that holds every event whose time is in [start, end], or `None`
/// when no event can be in it.
fn seq_range(c: &Connection, start: i64, end: i64) -> Result<Option<(i64, i64)>, IndexError> {
    let lo = if start == i64::MIN {
        Some(0)
    } else {
        // Events before the first row with time_upper ≥ start are all older than start.
        first_seq_where(c, Bound::Upper, |v| v >= start)?
    };
    let Some(lo) = lo else {
        return Ok(None);
    };
    let hi = if end == i64::MAX {
        i64::MAX
    } else {
        // Events from the first row with time_lower > end on are all newer than end.
        first_seq_where(c, Bound::Lower, |v| v > end)?.unwrap_or(i64::MAX)
    };
    Ok(Some((lo, hi)))
}

/// The smallest seq whose `bound` value satisfies `pred`, which must be monotone in the
/// value (false … false true … true); `None` if no row does. A binary search over the
/// rowid: about log2(rows) point reads, no index on the bound needed.
fn first_seq_where(
    c: &Connection,
    bound: Bound,
    pred: impl Fn(i64) -> bool,
) -> Result<Option<i64>, IndexError> {
    let sql = match bound {
        Bound::Upper => "SELECT seq, time_upper FROM events WHERE seq >= ?1 ORDER BY seq LIMIT 1",
        Bound::Lower => "SELECT seq, time_lower FROM events WHERE seq >= ?1 ORDER BY seq LIMIT 1",
    };
    let mut at_or_after = c.prepare_cached(sql)?;
    let mut probe = |m: i64| -> Result<Option<(i64, i64)>, rusqlite::Error> {
        at_or_after
            .query_row([m], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()
    };
    // Two statements: SQLite answers a lone MIN or MAX of the rowid from the b-tree's
    // edge, but both in one statement with a full scan.
    let min: Option<i64> = c
        .prepare_cached("SELECT MIN(seq) FROM events")?
        .query_row([], |r| r.get(0))?;
    let max: Option<i64> = c
        .prepare_cached("SELECT MAX(seq) FROM events")?
        .query_row([], |r| r.get(0))?;
    let (Some(min), Some(max)) = (min, max) else {
        return Ok(None);
    };
    // P(m) = pred(value of the first row at or after m) is monotone in m; find the
    // smallest m in [min, max] where it holds.
    match probe(max)? {
        Some((_, v)) if pred(v) => {}
        _ => return Ok(None),
    }
    let (mut a, mut b) = (min, max);
    let mut found = max;
    while a < b {
        let mid = a + (b - a) / 2;
        match probe(mid)? {
            Some((seq, v)) if pred(v) => {
                found = seq;
                b = mid;
            }
            _ => a = mid + 1,
        }
    }
    Ok(Some(found))
}

/// An event's row, with its strings replaced by term ids.
struct Row<'a> {
    ev: &'a IndexedEvent,
    event_name: i64,
    event_source: i64,
    username: Option<i64>,
    access_key_id: Option<i64>,
    principal: Option<i64>,
    /// Distinct ids of its resource names and types.
    resource_terms: Vec<i64>,
}

/// The id of a term, created if new (writer side).
fn intern(
    tx: &Connection,
    cache: &mut [HashMap<String, i64>; KINDS],
    kind: Kind,
    value: &str,
) -> rusqlite::Result<i64> {
    let cache = &mut cache[kind as usize];
    if let Some(id) = cache.get(value) {
        return Ok(*id);
    }
    let id = match term_id(tx, kind, value)? {
        Some(id) => id,
        None => {
            tx.prepare_cached("INSERT INTO terms (kind, value) VALUES (?1, ?2)")?
                .execute(params![kind as u8, value])?;
            tx.last_insert_rowid()
        }
    };
    cache.insert(value.to_string(), id);
    Ok(id)
}

fn row<'a>(
    tx: &Connection,
    cache: &mut [HashMap<String, i64>; KINDS],
    ev: &'a IndexedEvent,
) -> rusqlite::Result<Row<'a>> {
    let mut opt = |kind, value: &Option<String>| match value {
        Some(v) => intern(tx, cache, kind, v).map(Some),
        None => Ok(None),
    };
    let username = opt(Kind::Username, &ev.username)?;
    let access_key_id = opt(Kind::AccessKeyId, &ev.access_key_id)?;
    let principal = opt(Kind::Principal, &ev.principal)?;
    let mut resource_terms = Vec::with_capacity(ev.resources.len() * 2);
    for (resource_type, name) in &ev.resources {
        resource_terms.push(intern(tx, cache, Kind::ResourceName, name)?);
        resource_terms.push(intern(tx, cache, Kind::ResourceType, resource_type)?);
    }
    resource_terms.sort_unstable();
    resource_terms.dedup();
    Ok(Row {
        ev,
        event_name: intern(tx, cache, Kind::EventName, &ev.event_name)?,
        event_source: intern(tx, cache, Kind::EventSource, &ev.event_source)?,
        username,
        access_key_id,
        principal,
        resource_terms,
    })
}

fn encode_terms(terms: &[i64]) -> Vec<u8> {
    terms.iter().flat_map(|t| t.to_le_bytes()).collect()
}

fn decode_terms(bytes: &[u8]) -> impl Iterator<Item = i64> + '_ {
    bytes.chunks_exact(8).map(|c| {
        let mut b = [0u8; 8];
        b.copy_from_slice(c);
        i64::from_le_bytes(b)
    })
}

/// Inserts events whose seqs all follow every indexed one (the normal case): the time
/// bounds are computed in memory, and existing rows need at most their `time_lower`
/// lowered (only if the batch holds an event older than recent ones).
fn append_rows(
    tx: &Connection,
    cache: &mut [HashMap<String, i64>; KINDS],
    sorted: &[&IndexedEvent],
    max_seq: Option<u64>,
) -> Result<(), IndexError> {
    let mut upper = match max_seq {
        Some(m) => tx
            .prepare_cached("SELECT time_upper FROM events WHERE seq = ?1")?
            .query_row([to_sql_seq(m)], |r| r.get(0))?,
        None => i64::MIN,
    };
    let mut lowers = vec![0i64; sorted.len()];
    let mut lower = i64::MAX;
    for (i, ev) in sorted.iter().enumerate().rev() {
        lower = lower.min(ev.time_millis);
        lowers[i] = lower;
    }
    let batch_min = lowers[0];
    if let Some(first) = first_seq_where(tx, Bound::Lower, |v| v > batch_min)? {
        tx.prepare_cached("UPDATE events SET time_lower = ?1 WHERE seq >= ?2")?
            .execute(params![batch_min, first])?;
    }
    let mut postings = Vec::with_capacity(sorted.len() * 3);
    let mut insert = tx.prepare_cached(INSERT_EVENT)?;
    for (ev, lower) in sorted.iter().zip(lowers) {
        upper = upper.max(ev.time_millis);
        let row = row(tx, cache, ev)?;
        let seq = to_sql_seq(ev.seq);
        if insert_event(&mut insert, &row, upper, lower)? {
            postings.extend(row.resource_terms.iter().map(|&t| (t, seq)));
        }
    }
    // In key order: consecutive inserts then land on the same or neighbouring pages.
    postings.sort_unstable();
    let mut link =
        tx.prepare_cached("INSERT OR IGNORE INTO resources (term, seq) VALUES (?1, ?2)")?;
    for (term, seq) in postings {
        link.execute(params![term, seq])?;
    }
    Ok(())
}

/// Inserts one event at any position (a gap, before indexed events, or already there),
/// keeping both time bounds monotone and valid.
fn insert_anywhere(
    tx: &Connection,
    cache: &mut [HashMap<String, i64>; KINDS],
    ev: &IndexedEvent,
) -> Result<(), IndexError> {
    let seq = to_sql_seq(ev.seq);
    let exists = tx
        .prepare_cached("SELECT 1 FROM events WHERE seq = ?1")?
        .query_row([seq], |_| Ok(()))
        .optional()?
        .is_some();
    if exists {
        return Ok(());
    }
    let before: Option<i64> = tx
        .prepare_cached("SELECT time_upper FROM events WHERE seq < ?1 ORDER BY seq DESC LIMIT 1")?
        .query_row([seq], |r| r.get(0))
        .optional()?;
    let after: Option<i64> = tx
        .prepare_cached("SELECT time_lower FROM events WHERE seq > ?1 ORDER BY seq LIMIT 1")?
        .query_row([seq], |r| r.get(0))
        .optional()?;
    let upper = before.map_or(ev.time_millis, |u| u.max(ev.time_millis));
    let lower = after.map_or(ev.time_millis, |l| l.min(ev.time_millis));
    // Later rows whose upper bound is below the new event's time must rise to it; they
    // run from just after `seq` to the first row already at or above it.
    let raise_end = first_seq_where(tx, Bound::Upper, |v| v >= upper)?.unwrap_or(i64::MAX);
    tx.prepare_cached("UPDATE events SET time_upper = ?1 WHERE seq > ?2 AND seq < ?3")?
        .execute(params![upper, seq, raise_end])?;
    // Earlier rows whose lower bound is above it must come down.
    if let Some(lower_start) = first_seq_where(tx, Bound::Lower, |v| v > lower)? {
        tx.prepare_cached("UPDATE events SET time_lower = ?1 WHERE seq >= ?2 AND seq < ?3")?
            .execute(params![lower, lower_start, seq])?;
    }
    let row = row(tx, cache, ev)?;
    if insert_event(&mut tx.prepare_cached(INSERT_EVENT)?, &row, upper, lower)? {
        let mut link =
            tx.prepare_cached("INSERT OR IGNORE INTO resources (term, seq) VALUES (?1, ?2)")?;
        for term in &row.resource_terms {
            link.execute(params![term, seq])?;
        }
    }
    Ok(())
}

const INSERT_EVENT: &str =
    "INSERT OR IGNORE INTO events (seq, segment, byte_offset, time_millis, time_upper,
        time_lower, event_id, event_name, event_source, read_only, username, access_key_id,
        principal, error_code, request_id, resource_terms)
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)";

/// Inserts the `events` row with [`INSERT_EVENT`]; false if the seq was already there.
fn insert_event(
    insert: &mut rusqlite::CachedStatement<'_>,
    row: &Row<'_>,
    upper: i64,
    lower: i64,
) -> Result<bool, IndexError> {
    let ev = row.ev;
    let inserted = insert.execute(params![
        to_sql_seq(ev.seq),
        to_sql_seq(ev.segment),
        to_sql_seq(ev.offset),
        ev.time_millis,
        upper,
        lower,
        ev.event_id,
        row.event_name,
        row.event_source,
        ev.read_only,
        row.username,
        row.access_key_id,
        row.principal,
        ev.error_code,
        ev.request_id,
        encode_terms(&row.resource_terms),
    ])?;
    Ok(inserted == 1)
}

/// What a pagination token is bound to: the attribute and the time bounds (not
/// `MaxResults`, which a client may change between pages).
fn fingerprint(q: &LookupQuery) -> [u8; FINGERPRINT_LEN] {
    let mut h = Sha256::new();
    h.update(b"kagi lookup token v1\0");
    match &q.attribute {
        None => h.update(&[0]),
        Some((key, value)) => {
            h.update(&[key.tag()]);
            h.update(&(value.len() as u64).to_be_bytes());
            h.update(value.as_bytes());
        }
    }
    for bound in [q.start_millis, q.end_millis] {
        match bound {
            None => h.update(&[0]),
            Some(t) => {
                h.update(&[1]);
                h.update(&t.to_be_bytes());
            }
        }
    }
    let digest = h.finish();
    let mut out = [0u8; FINGERPRINT_LEN];
    out.copy_from_slice(&digest[..FINGERPRINT_LEN]);
    out
}

/// `version | last seq returned (u64 BE) | query fingerprint`, base64url without padding.
fn encode_token(last_seq: u64, fingerprint: &[u8; FINGERPRINT_LEN]) -> String {
    let mut bytes = Vec::with_capacity(TOKEN_LEN);
    bytes.push(TOKEN_VERSION);
    bytes.extend_from_slice(&last_seq.to_be_bytes());
    bytes.extend_from_slice(fingerprint);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// The last seq of the previous page, if `token` is one of ours for this query.
fn decode_token(token: &str, fingerprint: &[u8; FINGERPRINT_LEN]) -> Result<u64, IndexError> {
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token)
        .map_err(|_| IndexError::InvalidNextToken)?;
    if bytes.len() != TOKEN_LEN || bytes[0] != TOKEN_VERSION || bytes[9..] != fingerprint[..] {
        return Err(IndexError::InvalidNextToken);
    }
    let mut seq = [0u8; 8];
    seq.copy_from_slice(&bytes[1..9]);
    Ok(u64::from_be_bytes(seq))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{
        EventTime, EventType, IdentityType, Resource, UserIdentity, EVENT_VERSION,
        KMS_EVENT_SOURCE, MANAGEMENT_CATEGORY,
    };
    use proptest::prelude::*;

    const ACCOUNT: &str = "111122223333";
    /// 2026-11-23T08:47:12Z.
    const T0: i64 = 1_795_423_632;

    fn key_arn(k: u32) -> String {
        format!("arn:aws:kms:us-west-2:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-{k:012}")
    }

    fn key_id(k: u32) -> String {
        format!("1234abcd-12ab-34cd-56ef-{k:012}")
    }

    /// A KMS call as the server records it: `user` called `name` on key `key` at
    /// `secs`; `error` makes it a failed call.
    fn event(name: &str, user: &str, key: u32, secs: i64, error: Option<&str>) -> CloudTrailEvent {
        CloudTrailEvent {
            event_version: EVENT_VERSION.into(),
            user_identity: UserIdentity {
                identity_type: Some(IdentityType::IamUser),
                principal_id: Some(user.into()),
                arn: Some(format!("arn:aws:iam::{ACCOUNT}:user/{user}")),
                account_id: Some(ACCOUNT.into()),
                access_key_id: Some(format!("AKIA{}", user.to_uppercase())),
                user_name: Some(user.into()),
                invoked_by: None,
            },
            event_time: EventTime::from_epoch_seconds(secs),
            event_source: KMS_EVENT_SOURCE.into(),
            event_name: name.into(),
            aws_region: "us-west-2".into(),
            source_ip_address: "192.0.2.10".into(),
            user_agent: "aws-cli/2.15.0".into(),
            error_code: error.map(Into::into),
            error_message: error.map(|_| "failed".into()),
            request_parameters: None,
            response_elements: None,
            additional_event_data: None,
            request_id: Some(format!("req-{name}-{user}-{key}-{secs}")),
            event_id: format!("evt-{name}-{user}-{key}-{secs}"),
            read_only: !matches!(name, "CreateKey" | "ScheduleKeyDeletion"),
            resources: vec![Resource {
                account_id: ACCOUNT.into(),
                resource_type: KMS_KEY_RESOURCE_TYPE.into(),
                arn: key_arn(key),
            }],
            event_type: EventType::AwsApiCall,
            management_event: true,
            recipient_account_id: ACCOUNT.into(),
            service_event_details: None,
            event_category: MANAGEMENT_CATEGORY.into(),
        }
    }

    /// `events` indexed at seq 0, 1, … (fake locations: segment 0, offset 1000 + seq).
    fn entries(events: &[CloudTrailEvent], first_seq: u64) -> Vec<IndexedEvent> {
        events
            .iter()
            .enumerate()
            .map(|(i, e)| {
                let seq = first_seq + i as u64;
                IndexedEvent::from_event(e, seq, 0, 1000 + seq)
            })
            .collect()
    }

    fn open(dir: &tempfile::TempDir) -> EventIndex {
        EventIndex::open(&dir.path().join("index.sqlite")).unwrap()
    }

    /// 40 events, one per second from T0: four users, five keys, four operations; every
    /// seventh fails; seq 13 is a CreateKey (read-write).
    fn sample() -> Vec<CloudTrailEvent> {
        let names = ["Encrypt", "Decrypt", "GenerateDataKey", "DescribeKey"];
        let users = ["alice", "bob", "carol", "dave"];
        (0..40u32)
            .map(|i| {
                let name = if i == 13 {
                    "CreateKey"
                } else {
                    names[i as usize % 4]
                };
                let error = (i % 7 == 6).then_some("AccessDeniedException");
                event(
                    name,
                    users[i as usize % 4 / 2 + (i as usize / 20) * 2],
                    i % 5,
                    T0 + i64::from(i),
                    error,
                )
            })
            .collect()
    }

    fn query(attribute: Option<(AttributeKey, &str)>) -> LookupQuery {
        LookupQuery {
            attribute: attribute.map(|(k, v)| (k, v.to_string())),
            max_results: 50,
            ..LookupQuery::default()
        }
    }

    fn seqs(index: &EventIndex, q: &LookupQuery) -> Vec<u64> {
        let page = index.lookup(q).unwrap();
        assert!(page.next_token.is_none(), "more than one page");
        page.hits.iter().map(|l| l.seq).collect()
    }

    /// The seqs of `events` matching `keep`, newest first: the expected answer.
    fn expected(events: &[CloudTrailEvent], keep: impl Fn(&CloudTrailEvent) -> bool) -> Vec<u64> {
        let mut out: Vec<u64> = (0..events.len() as u64)
            .filter(|&i| keep(&events[i as usize]))
            .collect();
        out.reverse();
        out
    }

    #[test]
    fn every_attribute_finds_exactly_its_events_newest_first() {
        let dir = tempfile::tempdir().unwrap();
        let index = open(&dir);
        let events = sample();
        index.insert_batch(&entries(&events, 0)).unwrap();

        let all = seqs(&index, &query(None));
        assert_eq!(all, (0..40).rev().collect::<Vec<_>>());
        type Keep<'a> = Box<dyn Fn(&CloudTrailEvent) -> bool + 'a>;
        let cases: Vec<(AttributeKey, String, Keep<'_>)> = vec![
            (
                AttributeKey::EventName,
                "Decrypt".into(),
                Box::new(|e| e.event_name == "Decrypt"),
            ),
            (
                AttributeKey::EventName,
                "CreateKey".into(),
                Box::new(|e| e.event_name == "CreateKey"),
            ),
            (
                AttributeKey::Username,
                "bob".into(),
                Box::new(|e| e.user_identity.user_name.as_deref() == Some("bob")),
            ),
            (
                AttributeKey::AccessKeyId,
                "AKIACAROL".into(),
                Box::new(|e| e.user_identity.user_name.as_deref() == Some("carol")),
            ),
            (
                AttributeKey::ReadOnly,
                "false".into(),
                Box::new(|e| !e.read_only),
            ),
            (
                AttributeKey::ReadOnly,
                "true".into(),
                Box::new(|e| e.read_only),
            ),
            (
                AttributeKey::EventSource,
                KMS_EVENT_SOURCE.into(),
                Box::new(|_| true),
            ),
            (
                AttributeKey::EventSource,
                "s3.amazonaws.com".into(),
                Box::new(|_| false),
            ),
            (
                AttributeKey::ResourceType,
                KMS_KEY_RESOURCE_TYPE.into(),
                Box::new(|_| true),
            ),
            (
                AttributeKey::ResourceType,
                "AWS::S3::Bucket".into(),
                Box::new(|_| false),
            ),
            (
                AttributeKey::ResourceName,
                key_arn(3),
                Box::new(|e| e.resources[0].arn == key_arn(3)),
            ),
            (
                AttributeKey::ResourceName,
                key_id(3),
                Box::new(|e| e.resources[0].arn == key_arn(3)),
            ),
            (
                AttributeKey::ResourceName,
                "1234abcd".into(),
                Box::new(|_| false),
            ),
            (
                AttributeKey::EventId,
                events[17].event_id.clone(),
                Box::new(|e| e.event_id == events[17].event_id),
            ),
            (AttributeKey::EventId, "nope".into(), Box::new(|_| false)),
            // Not "true" or "false": matches nothing (the server rejects it first).
            (AttributeKey::ReadOnly, "TRUE".into(), Box::new(|_| false)),
        ];
        for (key, value, keep) in &cases {
            let got = seqs(&index, &query(Some((*key, value))));
            assert_eq!(got, expected(&events, keep), "{key:?} = {value}");
        }
        // Every attribute is covered.
        for key in AttributeKey::ALL {
            assert!(cases.iter().any(|c| c.0 == key), "{key:?} untested");
            assert_eq!(AttributeKey::parse(key.as_str()), Some(key));
        }
        assert_eq!(AttributeKey::parse("eventname"), None);
        // Locations are what was inserted.
        let page = index
            .lookup(&query(Some((AttributeKey::EventId, &events[17].event_id))))
            .unwrap();
        assert_eq!(
            page.hits,
            [Location {
                seq: 17,
                segment: 0,
                offset: 1017
            }]
        );
    }

    #[test]
    fn key_resources_are_indexed_by_arn_and_key_id_and_aliases_as_given() {
        let mut e = event("Encrypt", "alice", 1, T0, None);
        let alias = format!("arn:aws:kms:us-west-2:{ACCOUNT}:alias/app");
        e.resources.push(Resource {
            account_id: ACCOUNT.into(),
            resource_type: KMS_KEY_RESOURCE_TYPE.into(),
            arn: alias.clone(),
        });
        e.resources.push(Resource {
            account_id: ACCOUNT.into(),
            resource_type: "AWS::S3::Bucket".into(),
            arn: "arn:aws:s3:::bucket:key/not-a-kms-key".into(),
        });
        let entry = IndexedEvent::from_event(&e, 7, 3, 99);
        assert_eq!(
            entry.resources,
            [
                (KMS_KEY_RESOURCE_TYPE.to_string(), key_arn(1)),
                (KMS_KEY_RESOURCE_TYPE.to_string(), key_id(1)),
                (KMS_KEY_RESOURCE_TYPE.to_string(), alias.clone()),
                (
                    "AWS::S3::Bucket".to_string(),
                    "arn:aws:s3:::bucket:key/not-a-kms-key".to_string()
                ),
            ]
        );
        assert_eq!((entry.seq, entry.segment, entry.offset), (7, 3, 99));
        assert_eq!(entry.time_millis, T0 * 1000);
        assert_eq!(
            entry.principal.as_deref(),
            Some("arn:aws:iam::111122223333:user/alice")
        );

        let dir = tempfile::tempdir().unwrap();
        let index = open(&dir);
        index.insert_batch(&[entry]).unwrap();
        for name in [key_arn(1), key_id(1), alias] {
            assert_eq!(
                seqs(&index, &query(Some((AttributeKey::ResourceName, &name)))),
                [7]
            );
        }
        // Two resources of one type: the event is listed once.
        let q = query(Some((AttributeKey::ResourceType, KMS_KEY_RESOURCE_TYPE)));
        assert_eq!(seqs(&index, &q), [7]);
    }

    #[test]
    fn time_bounds_are_inclusive_and_combine_with_attributes() {
        let dir = tempfile::tempdir().unwrap();
        let index = open(&dir);
        let events = sample();
        index.insert_batch(&entries(&events, 0)).unwrap();
        let at = |i: i64| (T0 + i) * 1000;
        let mut q = query(None);
        q.start_millis = Some(at(10));
        q.end_millis = Some(at(20));
        assert_eq!(seqs(&index, &q), (10..=20).rev().collect::<Vec<_>>());
        // Sub-second bounds: the event at second 10 is before 10.5 s.
        q.start_millis = Some(at(10) + 500);
        q.end_millis = Some(at(20) + 999);
        assert_eq!(seqs(&index, &q), (11..=20).rev().collect::<Vec<_>>());
        q.start_millis = None;
        q.end_millis = Some(at(2));
        assert_eq!(seqs(&index, &q), [2, 1, 0]);
        q.start_millis = Some(at(38));
        q.end_millis = None;
        assert_eq!(seqs(&index, &q), [39, 38]);
        // Outside the log, and an empty range.
        q.start_millis = Some(at(100));
        assert!(seqs(&index, &q).is_empty());
        q.start_millis = None;
        q.end_millis = Some(at(-1));
        assert!(seqs(&index, &q).is_empty());
        q.start_millis = Some(at(20));
        q.end_millis = Some(at(10));
        assert!(seqs(&index, &q).is_empty());

        let mut q = query(Some((AttributeKey::ResourceName, &key_id(2))));
        q.start_millis = Some(at(5));
        q.end_millis = Some(at(27));
        assert_eq!(seqs(&index, &q), [27, 22, 17, 12, 7]);
        let mut q = query(Some((AttributeKey::EventName, "Encrypt")));
        q.start_millis = Some(at(4));
        q.end_millis = Some(at(12));
        assert_eq!(seqs(&index, &q), [12, 8, 4]);
    }

    #[test]
    fn out_of_order_times_are_still_found_exactly() {
        let dir = tempfile::tempdir().unwrap();
        let index = open(&dir);
        // seq 0..6 with times (seconds after T0) 5, 3, 9, 1, 9, 2: times jump back and forth.
        let times = [5, 3, 9, 1, 9, 2];
        let events: Vec<_> = times
            .iter()
            .enumerate()
            .map(|(i, t)| event("Encrypt", "alice", i as u32, T0 + t, None))
            .collect();
        // Two batches, so the second lowers bounds of rows already stored.
        let all = entries(&events, 0);
        index.insert_batch(&all[..3]).unwrap();
        index.insert_batch(&all[3..]).unwrap();
        for start in 0..=10 {
            for end in start..=10 {
                let mut q = query(None);
                q.start_millis = Some((T0 + start) * 1000);
                q.end_millis = Some((T0 + end) * 1000);
                let want: Vec<u64> = (0..6u64)
                    .rev()
                    .filter(|&i| (start..=end).contains(&times[i as usize]))
                    .collect();
                assert_eq!(seqs(&index, &q), want, "[{start}, {end}]");
            }
        }
    }

    #[test]
    fn pages_cover_every_match_once_and_tokens_bind_to_the_query() {
        let dir = tempfile::tempdir().unwrap();
        let index = open(&dir);
        let events = sample();
        index.insert_batch(&entries(&events, 0)).unwrap();
        for (attribute, max_results) in [
            (None, 7),
            (Some((AttributeKey::ReadOnly, "true")), 5),
            (Some((AttributeKey::ResourceName, key_arn(0).as_str())), 3),
            (Some((AttributeKey::ResourceName, key_arn(0).as_str())), 8),
            (Some((AttributeKey::EventName, "Encrypt")), 1),
        ] {
            let mut q = query(attribute);
            q.max_results = max_results;
            q.start_millis = Some((T0 + 1) * 1000);
            let mut got = Vec::new();
            loop {
                let page = index.lookup(&q).unwrap();
                assert!(page.hits.len() <= max_results);
                got.extend(page.hits.iter().map(|l| l.seq));
                match page.next_token {
                    Some(t) => {
                        assert_eq!(page.hits.len(), max_results);
                        q.next_token = Some(t);
                    }
                    None => break,
                }
            }
            let mut whole = query(attribute);
            whole.start_millis = q.start_millis;
            assert_eq!(got, seqs(&index, &whole), "{attribute:?} by {max_results}");
        }
        // Exactly one full page: no token.
        let mut q = query(Some((AttributeKey::Username, "alice")));
        q.max_results = 10;
        assert_eq!(index.lookup(&q).unwrap().next_token, None);
        // A token from one query does not fit another.
        q.max_results = 3;
        let token = index.lookup(&q).unwrap().next_token.unwrap();
        let mut other = query(Some((AttributeKey::Username, "bob")));
        other.next_token = Some(token.clone());
        assert!(matches!(
            index.lookup(&other),
            Err(IndexError::InvalidNextToken)
        ));
        let mut other = query(Some((AttributeKey::Username, "alice")));
        other.end_millis = Some(T0 * 1000 + 30_000);
        other.next_token = Some(token.clone());
        assert!(matches!(
            index.lookup(&other),
            Err(IndexError::InvalidNextToken)
        ));
        // MaxResults may change between pages.
        let mut same = query(Some((AttributeKey::Username, "alice")));
        same.max_results = 50;
        same.next_token = Some(token.clone());
        assert_eq!(index.lookup(&same).unwrap().hits.len(), 7);
        // Garbage, truncated and altered tokens.
        let mut altered = token.into_bytes();
        altered[2] = if altered[2] == b'A' { b'B' } else { b'A' };
        let altered = String::from_utf8(altered).unwrap();
        for bad in ["", "not a token!", "AAAA", &altered] {
            let mut q = query(Some((AttributeKey::Username, "alice")));
            q.next_token = Some(bad.to_string());
            let r = index.lookup(&q);
            // Changing a seq byte makes a valid token for another position; only the
            // fingerprint and framing are checked. Either way nothing panics.
            if bad != altered {
                assert!(matches!(r, Err(IndexError::InvalidNextToken)), "{bad:?}");
            }
        }
        assert!(!IndexError::InvalidNextToken.to_string().is_empty());
    }

    #[test]
    fn reinserting_is_idempotent_and_next_seq_tracks_the_high_water_mark() {
        let dir = tempfile::tempdir().unwrap();
        let index = open(&dir);
        assert_eq!(index.next_seq().unwrap(), 0);
        let events = sample();
        let all = entries(&events, 0);
        index.insert_batch(&all[..25]).unwrap();
        assert_eq!(index.next_seq().unwrap(), 25);
        // A crash re-feeds an overlapping range, in another order.
        let mut again: Vec<_> = all[20..].to_vec();
        again.reverse();
        index.insert_batch(&again).unwrap();
        index.insert_batch(&all).unwrap();
        index.insert_batch(&[]).unwrap();
        assert_eq!(index.next_seq().unwrap(), 40);
        assert_eq!(
            seqs(&index, &query(None)),
            (0..40).rev().collect::<Vec<_>>()
        );
        let q = query(Some((AttributeKey::ResourceName, &key_id(4))));
        assert_eq!(
            seqs(&index, &q),
            expected(&events, |e| e.resources[0].arn == key_arn(4))
        );
        let summary = index.usage_summary(&[&key_id(4)], None, None).unwrap();
        assert_eq!(summary.iter().map(|r| r.count).sum::<u64>(), 8);
    }

    #[test]
    fn events_filling_gaps_keep_time_bounds_exact() {
        let dir = tempfile::tempdir().unwrap();
        let index = open(&dir);
        let times = [10, 20, 30, 40, 50, 60];
        let events: Vec<_> = times
            .iter()
            .enumerate()
            .map(|(i, t)| event("Encrypt", "alice", i as u32, T0 + t, None))
            .collect();
        let all = entries(&events, 0);
        // Odd seqs first, then the even ones, then an old straggler far in the future.
        index
            .insert_batch(&[all[1].clone(), all[3].clone(), all[5].clone()])
            .unwrap();
        index
            .insert_batch(&[all[4].clone(), all[0].clone(), all[2].clone()])
            .unwrap();
        let late = IndexedEvent::from_event(&event("Decrypt", "bob", 9, T0 + 15, None), 10, 0, 0);
        index.insert_batch(&[late]).unwrap();
        let window = |s: i64, e: i64| {
            let mut q = query(None);
            q.start_millis = Some((T0 + s) * 1000);
            q.end_millis = Some((T0 + e) * 1000);
            seqs(&index, &q)
        };
        assert_eq!(window(0, 100), [10, 5, 4, 3, 2, 1, 0]);
        assert_eq!(window(15, 25), [10, 1]);
        assert_eq!(window(35, 55), [4, 3]);
        assert_eq!(window(61, 100), Vec::<u64>::new());
        assert_eq!(index.next_seq().unwrap(), 11);
    }

    #[test]
    fn last_usage_is_the_newest_successful_matching_call() {
        let dir = tempfile::tempdir().unwrap();
        let index = open(&dir);
        let events = vec![
            event("Encrypt", "alice", 1, T0, None),
            event("Decrypt", "bob", 1, T0 + 1, None),
            event("Decrypt", "bob", 2, T0 + 2, None),
            event("DescribeKey", "carol", 1, T0 + 3, None),
            event("Encrypt", "dave", 1, T0 + 4, Some("DisabledException")),
        ];
        index.insert_batch(&entries(&events, 0)).unwrap();
        let crypto = ["Encrypt", "Decrypt", "GenerateDataKey"];
        let u = index.last_usage(&[&key_id(1)], &crypto).unwrap().unwrap();
        assert_eq!(
            u.location,
            Location {
                seq: 1,
                segment: 0,
                offset: 1001
            }
        );
        assert_eq!(u.time_millis, (T0 + 1) * 1000);
        assert_eq!(u.event_name, "Decrypt");
        assert_eq!(u.event_id, events[1].event_id);
        assert_eq!(u.request_id, events[1].request_id);
        // By ARN too, and the newest across several names.
        let by_arn = index.last_usage(&[&key_arn(1)], &crypto).unwrap().unwrap();
        assert_eq!(by_arn.location.seq, 1);
        let either = index
            .last_usage(&[&key_arn(1), &key_id(2)], &crypto)
            .unwrap()
            .unwrap();
        assert_eq!(either.location.seq, 2);
        assert_eq!(
            index
                .last_usage(&[&key_id(1)], &["Encrypt"])
                .unwrap()
                .unwrap()
                .location
                .seq,
            0
        );
        assert_eq!(
            index
                .last_usage(&[&key_id(1)], &["DescribeKey"])
                .unwrap()
                .unwrap()
                .location
                .seq,
            3
        );
        assert_eq!(index.last_usage(&[&key_id(3)], &crypto).unwrap(), None);
        assert_eq!(index.last_usage(&[&key_id(2)], &["Encrypt"]).unwrap(), None);
        assert_eq!(index.last_usage(&[], &crypto).unwrap(), None);
        assert_eq!(index.last_usage(&[&key_id(1)], &[]).unwrap(), None);
    }

    #[test]
    fn usage_summary_groups_by_principal_access_key_and_operation() {
        let dir = tempfile::tempdir().unwrap();
        let index = open(&dir);
        let events = vec![
            event("Encrypt", "alice", 1, T0, None),
            event("Encrypt", "alice", 1, T0 + 10, Some("DisabledException")),
            event("Encrypt", "alice", 1, T0 + 20, None),
            event("Decrypt", "bob", 1, T0 + 5, None),
            event("Decrypt", "bob", 2, T0 + 30, None),
            event("Encrypt", "carol", 2, T0 + 40, None),
        ];
        index.insert_batch(&entries(&events, 0)).unwrap();
        let alice = UsageRow {
            principal: Some(format!("arn:aws:iam::{ACCOUNT}:user/alice")),
            access_key_id: Some("AKIAALICE".into()),
            event_name: "Encrypt".into(),
            count: 3,
            errors: 1,
            first_millis: T0 * 1000,
            last_millis: (T0 + 20) * 1000,
        };
        let bob = UsageRow {
            principal: Some(format!("arn:aws:iam::{ACCOUNT}:user/bob")),
            access_key_id: Some("AKIABOB".into()),
            event_name: "Decrypt".into(),
            count: 1,
            errors: 0,
            first_millis: (T0 + 5) * 1000,
            last_millis: (T0 + 5) * 1000,
        };
        // Key id and ARN name the same events: each counts once.
        for names in [
            vec![key_id(1)],
            vec![key_arn(1)],
            vec![key_id(1), key_arn(1)],
        ] {
            let names: Vec<&str> = names.iter().map(String::as_str).collect();
            let rows = index.usage_summary(&names, None, None).unwrap();
            assert_eq!(rows, [alice.clone(), bob.clone()], "{names:?}");
        }
        // Time bounds are inclusive.
        let rows = index
            .usage_summary(&[&key_id(1)], Some((T0 + 5) * 1000), Some((T0 + 10) * 1000))
            .unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(
            (rows[0].event_name.as_str(), rows[0].count, rows[0].errors),
            ("Encrypt", 1, 1)
        );
        assert_eq!((rows[1].event_name.as_str(), rows[1].count), ("Decrypt", 1));
        // Both keys: carol's newer call comes first.
        let rows = index
            .usage_summary(&[&key_id(1), &key_id(2)], None, None)
            .unwrap();
        let order: Vec<(&str, u64)> = rows
            .iter()
            .map(|r| (r.event_name.as_str(), r.count))
            .collect();
        assert_eq!(order, [("Encrypt", 1), ("Decrypt", 2), ("Encrypt", 3)]);
        assert!(index.usage_summary(&[], None, None).unwrap().is_empty());
        assert!(index
            .usage_summary(&[&key_id(9)], None, None)
            .unwrap()
            .is_empty());
    }

    #[test]
    fn delete_before_drops_old_events_everywhere_but_keeps_next_seq() {
        let dir = tempfile::tempdir().unwrap();
        let index = open(&dir);
        let events = sample();
        index.insert_batch(&entries(&events, 0)).unwrap();
        assert_eq!(index.delete_before(T0 * 1000).unwrap(), 0);
        assert_eq!(index.delete_before((T0 + 10) * 1000).unwrap(), 10);
        assert_eq!(
            seqs(&index, &query(None)),
            (10..40).rev().collect::<Vec<_>>()
        );
        let q = query(Some((AttributeKey::ResourceName, &key_id(0))));
        assert_eq!(seqs(&index, &q), [35, 30, 25, 20, 15, 10]);
        assert_eq!(index.find_event(&events[3].event_id).unwrap(), None);
        assert!(index.find_event(&events[10].event_id).unwrap().is_some());
        assert_eq!(index.delete_before(i64::MAX).unwrap(), 30);
        assert!(seqs(&index, &query(None)).is_empty());
        assert_eq!(index.next_seq().unwrap(), 40);
        // Resource rows went with their events.
        let w = lock(&index.writer);
        let left: i64 = w
            .conn
            .query_row("SELECT COUNT(*) FROM resources", [], |r| r.get(0))
            .unwrap();
        assert_eq!(left, 0);
        drop(w);
        // Indexing continues after the deleted range.
        index.insert_batch(&entries(&events[..2], 40)).unwrap();
        assert_eq!(seqs(&index, &query(None)), [41, 40]);
    }

    #[test]
    fn delete_before_with_out_of_order_times_is_exact() {
        let dir = tempfile::tempdir().unwrap();
        let index = open(&dir);
        let times = [1, 5, 2, 8, 3, 9];
        let events: Vec<_> = times
            .iter()
            .enumerate()
            .map(|(i, t)| event("Encrypt", "alice", i as u32, T0 + t, None))
            .collect();
        index.insert_batch(&entries(&events, 0)).unwrap();
        assert_eq!(index.delete_before((T0 + 4) * 1000).unwrap(), 3);
        assert_eq!(seqs(&index, &query(None)), [5, 3, 1]);
        let mut q = query(None);
        q.start_millis = Some((T0 + 5) * 1000);
        q.end_millis = Some((T0 + 8) * 1000);
        assert_eq!(seqs(&index, &q), [3, 1]);
    }

    #[test]
    fn find_event_by_event_id() {
        let dir = tempfile::tempdir().unwrap();
        let index = open(&dir);
        let events = sample();
        index.insert_batch(&entries(&events, 100)).unwrap();
        assert_eq!(
            index.find_event(&events[5].event_id).unwrap(),
            Some(Location {
                seq: 105,
                segment: 0,
                offset: 1105
            })
        );
        assert_eq!(index.find_event("missing").unwrap(), None);
    }

    #[test]
    fn the_index_persists_across_reopen_and_refuses_newer_schemas() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("index.sqlite");
        let events = sample();
        {
            let index = EventIndex::open(&path).unwrap();
            index.insert_batch(&entries(&events, 0)).unwrap();
        }
        let index = EventIndex::open(&path).unwrap();
        assert_eq!(index.next_seq().unwrap(), 40);
        let q = query(Some((AttributeKey::Username, "carol")));
        assert_eq!(
            seqs(&index, &q),
            expected(&events, |e| e.user_identity.user_name.as_deref()
                == Some("carol"))
        );
        drop(index);
        let c = Connection::open(&path).unwrap();
        c.pragma_update(None, "user_version", 2).unwrap();
        drop(c);
        let err = EventIndex::open(&path).unwrap_err();
        assert!(
            matches!(
                err,
                IndexError::UnsupportedSchema {
                    found: 2,
                    supported: 1
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn dropping_the_index_checkpoints_and_closes_everything() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("index.sqlite");
        let index = EventIndex::open(&path).unwrap();
        index.insert_batch(&entries(&sample(), 0)).unwrap();
        assert_eq!(seqs(&index, &query(None)).len(), 40);
        assert!(index.wal_path.exists());
        let wal = index.wal_path.clone();
        drop(index);
        // The last connection to close folds the WAL into the database and removes it:
        // the checkpoint thread, the writer and the readers are all gone.
        assert!(!wal.exists());
        let index = EventIndex::open(&path).unwrap();
        assert_eq!(seqs(&index, &query(None)).len(), 40);
    }

    #[test]
    fn readers_and_the_writer_work_concurrently() {
        let dir = tempfile::tempdir().unwrap();
        let index = std::sync::Arc::new(open(&dir));
        let events = sample();
        let writer = {
            let index = index.clone();
            let all = entries(&events, 0);
            std::thread::spawn(move || {
                for chunk in all.chunks(4) {
                    index.insert_batch(chunk).unwrap();
                }
            })
        };
        let readers: Vec<_> = (0..4)
            .map(|_| {
                let index = index.clone();
                std::thread::spawn(move || {
                    for _ in 0..50 {
                        let page = index.lookup(&query(None)).unwrap();
                        // A snapshot: always a gap-free prefix of the log.
                        let n = page.hits.len() as u64;
                        assert!(page.hits.iter().map(|l| l.seq).eq((0..n).rev()));
                    }
                })
            })
            .collect();
        writer.join().unwrap();
        for r in readers {
            r.join().unwrap();
        }
        assert_eq!(index.next_seq().unwrap(), 40);
    }

    /// Every query shape walks an index (or the rowid) in seq order: no sort step, no
    /// full scan of another table. This is what keeps a page cheap on a large index.
    #[test]
    fn lookups_walk_indexes_without_sorting() {
        let dir = tempfile::tempdir().unwrap();
        let index = open(&dir);
        index.insert_batch(&entries(&sample(), 0)).unwrap();
        let w = lock(&index.writer);
        let c = &w.conn;
        let mut shapes = vec![LOOKUP_ALL.to_string()];
        shapes.extend(AttributeKey::ALL.map(|k| lookup_sql(attribute_target(k))));
        for sql in shapes {
            let mut stmt = c.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
            let args = [
                Value::Integer(0),
                Value::Integer(i64::MAX),
                Value::Integer(0),
                Value::Integer(i64::MAX),
                Value::Integer(51),
                Value::Text("x".into()),
            ];
            let n = stmt.parameter_count();
            let plan: Vec<String> = stmt
                .query_map(params_from_iter(&args[..n]), |r| r.get::<_, String>(3))
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap();
            let plan = plan.join("; ");
            assert!(!plan.contains("TEMP B-TREE"), "{sql}\n{plan}");
            assert!(plan.starts_with("SEARCH"), "{sql}\n{plan}");
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]

        /// Against a brute-force model: random times (out of order), random batching and
        /// insertion order, random time windows and paging.
        #[test]
        fn lookups_match_a_brute_force_model(
            times in proptest::collection::vec(0i64..30, 1..40),
            chunk in 1usize..8,
            shuffle in any::<bool>(),
            windows in proptest::collection::vec((0i64..32, 0i64..32, 1usize..6), 1..6),
            cut in 0i64..32,
        ) {
            let dir = tempfile::tempdir().unwrap();
            let index = open(&dir);
            let events: Vec<_> = times
                .iter()
                .enumerate()
                .map(|(i, t)| event(["Encrypt", "Decrypt"][i % 2], "alice", (i % 3) as u32, T0 + t, None))
                .collect();
            let mut all = entries(&events, 0);
            if shuffle {
                all.reverse();
                all.rotate_left(times.len() / 3);
            }
            for c in all.chunks(chunk) {
                index.insert_batch(c).unwrap();
            }
            let check = |alive: &dyn Fn(usize) -> bool| {
                for (s, e, per_page) in &windows {
                    for attribute in [None, Some((AttributeKey::EventName, "Decrypt".to_string())), Some((AttributeKey::ResourceName, key_id(1)))] {
                        let mut q = query(attribute.as_ref().map(|(k, v)| (*k, v.as_ref())));
                        q.start_millis = Some((T0 + s) * 1000);
                        q.end_millis = Some((T0 + e) * 1000);
                        q.max_results = *per_page;
                        let mut got = Vec::new();
                        loop {
                            let page = index.lookup(&q).unwrap();
                            got.extend(page.hits.iter().map(|l| l.seq));
                            match page.next_token {
                                Some(t) => q.next_token = Some(t),
                                None => break,
                            }
                        }
                        let want: Vec<u64> = (0..times.len())
                            .rev()
                            .filter(|&i| alive(i) && (*s..=*e).contains(&times[i]))
                            .filter(|&i| match &attribute {
                                None => true,
                                Some((AttributeKey::EventName, _)) => i % 2 == 1,
                                Some(_) => i % 3 == 1,
                            })
                            .map(|i| i as u64)
                            .collect();
                        assert_eq!(got, want, "[{s}, {e}] {attribute:?}");
                    }
                }
            };
            check(&|_| true);
            let deleted = index.delete_before((T0 + cut) * 1000).unwrap();
            prop_assert_eq!(deleted as usize, times.iter().filter(|&&t| t < cut).count());
            check(&|i| times[i] >= cut);
            prop_assert_eq!(index.next_seq().unwrap(), times.len() as u64);
        }
    }
}
