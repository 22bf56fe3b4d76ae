//! The running audit trail: the log, its Merkle tree, signed checkpoints, the lookup index
//! and the sealed CloudTrail files, put together behind one handle the server records into.
//!
//! # Recording
//!
//! [`AuditTrail::record`] serialises the event to its canonical bytes and queues them on
//! the log's writer thread; the completion runs once the record is on stable storage (group
//! commit: concurrent records share one `fdatasync`). Only then is the leaf appended to the
//! in-memory Merkle tree and the event handed to the indexer, and only then does the caller
//! learn its sequence number. Completions run in sequence order on the writer thread, so
//! the tree's leaf `i` is always log record `i`.
//!
//! # Background work (one thread each)
//!
//! - *checkpointer*: at least every [`TrailOptions::checkpoint_interval`] while the log grows,
//!   signs a checkpoint (size + root) with the audit key and persists it: `checkpoint.note`
//!   (the latest, replaced atomically) and `checkpoints.log` (every checkpoint, each framed
//!   as a 4-byte big-endian length and the note).
//! - *indexer*: feeds durable events into the [`EventIndex`] in batches. The index is a
//!   derived cache: at start-up it is re-fed from its own high-water mark, so losing its tail
//!   in a crash loses nothing. Queries first wait (up to a second) until the index has
//!   caught up with every event durable when the query arrived: a client sees its own calls.
//! - *sealer* (when configured): every [`SealSettings::interval`] writes the not yet sealed
//!   events as CloudTrail log files, the hourly digest files, and applies index retention.
//!   It seals sooner once [`SEAL_EAGER_EVENTS`] wait. A pass is paced ([`crate::pace`]) to
//!   a share of one CPU that grows with the events waiting ([`seal_share`]), so that it does
//!   not take a CPU from requests for a tenth of a second at a time, yet keeps up with any
//!   load; the final pass at shutdown runs flat out.
//!
//! # Start-up checks
//!
//! The log recovers itself (a torn tail is cut). The latest checkpoint must then be
//! consistent with what was recovered: a checkpoint larger than the log means acknowledged
//! events were removed, and a root that differs means the log was rewritten; either refuses
//! to open with [`TrailError::Tampered`]. Checkpoints only ever cover durable records, so a
//! crash can never produce either by itself.
//!
//! # Measurement-only mode
//!
//! [`AuditTrail::discard`] builds a trail that accepts every event and writes it nowhere. It
//! exists only so that the benchmark can measure what durable auditing costs; the binary
//! warns loudly when it is used.

use crate::checkpoint::{verifier_key, Checkpoint, CheckpointError, KeyName};
use crate::event::CloudTrailEvent;
use crate::index::{
    EventIndex, IndexError, IndexedEvent, Location, LookupPage, LookupQuery, Usage, UsageRow,
};
use crate::log::{self, AuditLog, ExpectedAppend, LogError, LogOptions};
use crate::merkle::{Hash, MerkleError, MerkleTree};
use crate::pace::Pace;
use crate::seal::{SealConfig, SealError, Sealer};
use kagi_crypto::rsa::RsaSigningKey;
use kagi_crypto::sign::Ed25519SigningKey;
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// An event as (its log index, its canonical bytes).
pub type LoggedEvent = (u64, Vec<u8>);

/// Milliseconds since the Unix epoch, from the injected clock.
pub type Now = Arc<dyn Fn() -> i64 + Send + Sync>;

const LOG_DIR: &str = "log";
const INDEX_DIR: &str = "index";
/// The SQLite lookup index of earlier versions (a cache like its successor): removed at
/// start-up, with its WAL and shared-memory files.
const LEGACY_INDEX_FILE: &str = "index.sqlite";
const LATEST_CHECKPOINT: &str = "checkpoint.note";
const CHECKPOINT_HISTORY: &str = "checkpoints.log";
const SEAL_STATE_DIR: &str = "seal";
/// Most events the indexer hands the index in one `insert_batch`.
const INDEX_BATCH: usize = 2048;
/// How often the sealer looks at how many events wait to be sealed.
const SEAL_POLL: Duration = Duration::from_secs(5);
/// Events waiting past which the sealer does not wait for its interval.
const SEAL_EAGER_EVENTS: u64 = 50_000;
/// The least share of the wall-clock time a background seal pass takes (see
/// [`seal_share`]), and its slice of work between rests (see [`crate::pace`]).
const SEAL_SHARE_PERCENT: u32 = 25;
const SEAL_SLICE: Duration = Duration::from_millis(1);
/// Events waiting per [`SEAL_SHARE_PERCENT`] of share: a pass that starts with four times
/// this many waiting runs flat out.
const SEAL_SHARE_EVENTS: u64 = 250_000;
/// How long the indexer gathers events before writing a batch. Short, so that a batch is
/// a short burst of CPU next to the request threads: 10 ms cut the p99 the trail adds by
/// 1.5–2 ms against 50 ms, at the same throughput (docs/benchmarks.md, "Audit cost"). A
/// query waiting for the index cuts the gathering short (`Pending::hurry`).
const INDEX_GATHER: Duration = Duration::from_millis(10);
/// Most events one sealing step reads into memory.
const SEAL_CHUNK: u64 = 20_000;
/// How long a query waits for the index to catch up before answering anyway.
const INDEX_WAIT: Duration = Duration::from_secs(1);

/// Where a recorded event landed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Recorded {
    /// The event's log index (its leaf index in the Merkle tree).
    pub seq: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum TrailError {
    /// The log could not be written (disk full, I/O error): the caller must not serve the
    /// request unaudited. The detail is for the operator's log, never for the client.
    #[error("the audit log cannot be written: {0}")]
    Unavailable(String),
    /// The recovered log contradicts its own signed checkpoint.
    #[error("the audit log was tampered with: {0}")]
    Tampered(String),
    #[error("no such event")]
    NotFound,
    #[error("{0}")]
    InvalidArgument(String),
    #[error(transparent)]
    Log(#[from] LogError),
    #[error(transparent)]
    Index(#[from] IndexError),
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    #[error(transparent)]
    Merkle(#[from] MerkleError),
    #[error(transparent)]
    Seal(#[from] SealError),
    #[error("audit I/O error: {0}")]
    Io(#[from] std::io::Error),
    #[error("this audit trail writes nothing (measurement-only mode)")]
    Discarding,
}

/// How sealed CloudTrail files are written.
pub struct SealSettings {
    pub config: SealConfig,
    /// How often log files are written (CloudTrail's default is about 5 minutes).
    pub interval: Duration,
    /// Signs the hourly digest files.
    pub key: RsaSigningKey,
}

impl std::fmt::Debug for SealSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SealSettings")
            .field("out_dir", &self.config.out_dir)
            .field("interval", &self.interval)
            .finish_non_exhaustive()
    }
}

/// How the trail is set up.
#[derive(Debug)]
pub struct TrailOptions {
    /// The checkpoint origin line: the log's name (e.g. `kagi.example/<account>`).
    pub origin: String,
    /// The name of the audit key in signed notes.
    pub key_name: KeyName,
    pub checkpoint_interval: Duration,
    /// Lookup retention: index entries older than this are dropped (sealed files and the
    /// log itself are kept).
    pub retention: Duration,
    pub seal: Option<SealSettings>,
    /// See [`LogOptions::sync_interval`].
    pub sync_interval: Duration,
}

/// A signed checkpoint and the tree size it covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedCheckpoint {
    pub size: u64,
    pub note: String,
}

/// An inclusion proof of one event in a signed checkpoint's tree.
#[derive(Debug, Clone)]
pub struct InclusionProof {
    pub leaf_index: u64,
    pub leaf_hash: Hash,
    pub path: Vec<Hash>,
    pub checkpoint: SignedCheckpoint,
}

struct Durable {
    dir: PathBuf,
    log: AuditLog,
    tree: Mutex<MerkleTree>,
    index: EventIndex,
    /// Durable events for the indexer; see [`Pending`].
    pending: Mutex<Pending>,
    pending_changed: Condvar,
    /// Every event with a smaller seq is in the index.
    indexed: Mutex<u64>,
    indexed_changed: Condvar,
    signer: Ed25519SigningKey,
    key_name: KeyName,
    origin: String,
    latest: Mutex<Option<SignedCheckpoint>>,
    /// Serialises checkpoint creation (background thread and on-demand requests).
    checkpointing: Mutex<()>,
    sealer: Option<Mutex<Sealer>>,
    retention_millis: i64,
    now: Now,
}

/// Durable events waiting for the indexer. A shared vector rather than a channel: the
/// writer thread only pushes under an uncontended lock, and wakes the indexer only when the
/// vector was empty, so a busy log costs the indexer one wake-up per batch, not per event.
#[derive(Default)]
struct Pending {
    events: Vec<IndexedEvent>,
    /// Set when the log has stopped: nothing more will come.
    closed: bool,
    /// A query is waiting for the index: write what is gathered now instead of gathering
    /// on (cleared when the indexer takes the batch).
    hurry: bool,
}

enum Mode {
    Durable(Arc<Durable>),
    Discard(AtomicU64),
}

/// An event on its way to the trail; see [`AuditTrail::expect_event`].
#[derive(Debug)]
pub struct ExpectedEvent {
    /// Withdrawn when dropped.
    _append: Option<ExpectedAppend>,
}

/// The audit trail. Share it with `Arc`; [`AuditTrail::close`] (or drop) stops its threads.
pub struct AuditTrail {
    mode: Mode,
    stop: Arc<(Mutex<bool>, Condvar)>,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

impl std::fmt::Debug for AuditTrail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut d = f.debug_struct("AuditTrail");
        if let Mode::Durable(t) = &self.mode {
            d.field("dir", &t.dir);
        } else {
            d.field("mode", &"discard");
        }
        d.finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl AuditTrail {
    /// Opens the trail in `dir` (created if needed), recovers and checks the log, re-feeds
    /// the index and starts the background threads.
    pub fn open(
        dir: &Path,
        signer: Ed25519SigningKey,
        options: TrailOptions,
        now: Now,
    ) -> Result<Self, TrailError> {
        std::fs::create_dir_all(dir)?;
        let (log, recovered) = AuditLog::open_with(
            &dir.join(LOG_DIR),
            LogOptions {
                sync_interval: options.sync_interval,
                ..LogOptions::default()
            },
        )?;
        let tree = MerkleTree::from_leaf_hashes(recovered.leaf_hashes);
        let public = signer.public_key();
        let verifier = verifier_key(&options.key_name, &public);
        let latest = read_latest_checkpoint(dir, &verifier, &tree)?;
        let index = open_index(dir)?;
        let sealer = match options.seal {
            Some(s) => {
                let sealer = Sealer::open(s.config, &dir.join(SEAL_STATE_DIR), s.key)?;
                Some((Mutex::new(sealer), s.interval))
            }
            None => None,
        };
        let (seal_interval, sealer) = match sealer {
            Some((s, i)) => (Some(i), Some(s)),
            None => (None, None),
        };
        let durable = Arc::new(Durable {
            dir: dir.to_path_buf(),
            log,
            tree: Mutex::new(tree),
            index,
            pending: Mutex::new(Pending::default()),
            pending_changed: Condvar::new(),
            indexed: Mutex::new(0),
            indexed_changed: Condvar::new(),
            signer,
            key_name: options.key_name,
            origin: options.origin,
            latest: Mutex::new(latest),
            checkpointing: Mutex::new(()),
            sealer,
            retention_millis: i64::try_from(options.retention.as_millis()).unwrap_or(i64::MAX),
            now,
        });
        durable.catch_up_index()?;
        let trail = Self {
            mode: Mode::Durable(durable.clone()),
            stop: Arc::new((Mutex::new(false), Condvar::new())),
            threads: Mutex::new(Vec::new()),
        };
        let mut threads = Vec::new();
        {
            let d = durable.clone();
            let stop = trail.stop.clone();
            threads.push(spawn("kagi-audit-index", move || d.index_loop(&stop))?);
        }
        {
            let d = durable.clone();
            let stop = trail.stop.clone();
            let every = options.checkpoint_interval;
            threads.push(spawn("kagi-audit-checkpoint", move || {
                while !wait_stop(&stop, every) {
                    if let Err(e) = d.checkpoint_now() {
                        eprintln_redacted("checkpoint", &e);
                    }
                }
                let _ = d.checkpoint_now();
            })?);
        }
        if let Some(every) = seal_interval {
            let d = durable.clone();
            let stop = trail.stop.clone();
            threads.push(spawn("kagi-audit-seal", move || {
                // Seal every `every`, or sooner once many events wait: that bounds the
                // work left for shutdown (and the size of a log file) under heavy load.
                let mut last = Instant::now();
                while !wait_stop(&stop, every.min(SEAL_POLL)) {
                    let waiting = d.unsealed();
                    if last.elapsed() < every && waiting < SEAL_EAGER_EVENTS {
                        continue;
                    }
                    last = Instant::now();
                    let mut rest = |t: Duration| !wait_stop(&stop, t);
                    let mut pace = Pace::new(seal_share(waiting), SEAL_SLICE, &mut rest);
                    if let Err(e) = d.seal_pass(false, &mut pace) {
                        eprintln_redacted("sealing", &e);
                    }
                }
            })?);
        }
        *lock(&trail.threads) = threads;
        Ok(trail)
    }

    /// A trail that writes nothing: for the benchmark's measurement-only switch.
    pub fn discard() -> Self {
        Self {
            mode: Mode::Discard(AtomicU64::new(0)),
            stop: Arc::new((Mutex::new(false), Condvar::new())),
            threads: Mutex::new(Vec::new()),
        }
    }

    pub fn is_discarding(&self) -> bool {
        matches!(self.mode, Mode::Discard(_))
    }

    fn durable(&self) -> Result<&Arc<Durable>, TrailError> {
        match &self.mode {
            Mode::Durable(d) => Ok(d),
            Mode::Discard(_) => Err(TrailError::Discarding),
        }
    }

    /// False after a failed write until a later write succeeds.
    pub fn is_healthy(&self) -> bool {
        match &self.mode {
            Mode::Durable(d) => d.log.is_healthy(),
            Mode::Discard(_) => true,
        }
    }

    /// Announces an event that is on its way (a request being served): the log may hold a
    /// group commit back for it (see [`AuditLog::expect_append`]). Drop the returned value
    /// just before [`AuditTrail::record`], or when nothing will be recorded.
    pub fn expect_event(&self) -> ExpectedEvent {
        ExpectedEvent {
            _append: match &self.mode {
                Mode::Durable(d) => Some(d.log.expect_append()),
                Mode::Discard(_) => None,
            },
        }
    }

    /// Makes `event` durable; `done` runs (on the log's writer thread) once it is on stable
    /// storage, or with [`TrailError::Unavailable`] if it could not be written.
    pub fn record(
        &self,
        event: CloudTrailEvent,
        done: impl FnOnce(Result<Recorded, TrailError>) + Send + 'static,
    ) {
        let d = match &self.mode {
            Mode::Durable(d) => d.clone(),
            Mode::Discard(n) => {
                // Serialise anyway, so the measurement includes building the record.
                let _ = event.canonical_bytes();
                let seq = n.fetch_add(1, Ordering::Relaxed);
                return done(Ok(Recorded { seq }));
            }
        };
        let payload = event.canonical_bytes();
        let mut entry = IndexedEvent::from_event(event, 0, 0, 0);
        let log_ref = d.clone();
        log_ref
            .log
            .append_with(payload, move |result| match result {
                Ok(receipt) => {
                    {
                        let mut tree = lock(&d.tree);
                        let index = tree.append(receipt.leaf_hash);
                        debug_assert_eq!(index, receipt.seq, "tree and log out of step");
                    }
                    entry.seq = receipt.seq;
                    entry.segment = receipt.segment;
                    entry.offset = receipt.offset;
                    d.queue_for_index(entry);
                    done(Ok(Recorded { seq: receipt.seq }));
                }
                Err(e) => done(Err(TrailError::Unavailable(e.to_string()))),
            });
    }

    /// Records and waits (for callers without an async runtime, e.g. service events).
    pub fn record_blocking(&self, event: CloudTrailEvent) -> Result<Recorded, TrailError> {
        let (tx, rx) = mpsc::channel();
        self.record(event, move |r| {
            let _ = tx.send(r);
        });
        rx.recv()
            .map_err(|_| TrailError::Unavailable("the audit log is closed".into()))?
    }

    /// Number of durable events.
    pub fn size(&self) -> u64 {
        match &self.mode {
            Mode::Durable(d) => lock(&d.tree).len(),
            Mode::Discard(n) => n.load(Ordering::Relaxed),
        }
    }

    /// The verifier key string that checks this trail's checkpoints.
    pub fn verifier_key(&self) -> Result<String, TrailError> {
        let d = self.durable()?;
        Ok(verifier_key(&d.key_name, &d.signer.public_key()))
    }

    /// The latest checkpoint, signing a new one first if the log has grown since.
    pub fn checkpoint(&self) -> Result<SignedCheckpoint, TrailError> {
        self.durable()?.checkpoint_now()
    }

    /// Proof that event `seq` is in the tree of the checkpoint covering `tree_size` (the
    /// latest checkpoint when `None`).
    pub fn inclusion_proof(
        &self,
        seq: u64,
        tree_size: Option<u64>,
    ) -> Result<InclusionProof, TrailError> {
        let d = self.durable()?;
        let checkpoint = d.checkpoint_now()?;
        let size = tree_size.unwrap_or(checkpoint.size);
        if size > checkpoint.size {
            return Err(TrailError::InvalidArgument(format!(
                "tree size {size} is larger than the latest checkpoint ({})",
                checkpoint.size
            )));
        }
        if seq >= size {
            return Err(TrailError::InvalidArgument(format!(
                "log index {seq} is not inside a tree of size {size}"
            )));
        }
        let tree = lock(&d.tree);
        let path = tree.inclusion_proof(seq, size)?;
        let leaf_hash = tree.leaf_hash(seq).ok_or(TrailError::NotFound)?;
        drop(tree);
        let checkpoint = if size == checkpoint.size {
            checkpoint
        } else {
            d.sign(size)?
        };
        Ok(InclusionProof {
            leaf_index: seq,
            leaf_hash,
            path,
            checkpoint,
        })
    }

    /// Proof that the tree of size `first` is a prefix of the tree of size `second`.
    pub fn consistency_proof(&self, first: u64, second: u64) -> Result<Vec<Hash>, TrailError> {
        let d = self.durable()?;
        let latest = d.checkpoint_now()?;
        if second > latest.size {
            return Err(TrailError::InvalidArgument(format!(
                "tree size {second} is larger than the latest checkpoint ({})",
                latest.size
            )));
        }
        Ok(lock(&d.tree).consistency_proof(first, second)?)
    }

    /// A signed checkpoint of the tree's first `size` events (for consistency proofs between
    /// arbitrary sizes).
    pub fn checkpoint_at(&self, size: u64) -> Result<SignedCheckpoint, TrailError> {
        let d = self.durable()?;
        if size > d.checkpoint_now()?.size {
            return Err(TrailError::InvalidArgument(format!(
                "tree size {size} is larger than the log"
            )));
        }
        d.sign(size)
    }

    /// Where the event with this `eventID` is.
    pub fn find_event(&self, event_id: &str) -> Result<Location, TrailError> {
        let d = self.durable()?;
        d.wait_indexed();
        d.index.find_event(event_id)?.ok_or(TrailError::NotFound)
    }

    /// The canonical bytes of the event at `location`.
    pub fn read_event(&self, location: &Location) -> Result<Vec<u8>, TrailError> {
        let d = self.durable()?;
        let (seq, payload) =
            log::read_record(&d.dir.join(LOG_DIR), location.segment, location.offset)?;
        if seq != location.seq {
            return Err(TrailError::Tampered(format!(
                "index points at record {seq} for event {}",
                location.seq
            )));
        }
        Ok(payload)
    }

    /// One page of LookupEvents: the events' canonical bytes, newest first.
    pub fn lookup(
        &self,
        query: &LookupQuery,
    ) -> Result<(Vec<Vec<u8>>, Option<String>), TrailError> {
        let d = self.durable()?;
        d.wait_indexed();
        let LookupPage { hits, next_token } = d.index.lookup(query)?;
        let events = hits
            .iter()
            .map(|h| self.read_event(h))
            .collect::<Result<Vec<_>, _>>()?;
        Ok((events, next_token))
    }

    /// Up to `query.max_results` matching events below log index `before`, newest first,
    /// as (log index, canonical bytes), and whether more follow (see
    /// [`crate::index::EventIndex::lookup_before`]).
    pub fn lookup_before(
        &self,
        query: &LookupQuery,
        before: u64,
    ) -> Result<(Vec<LoggedEvent>, bool), TrailError> {
        let d = self.durable()?;
        d.wait_indexed();
        let (hits, more) = d.index.lookup_before(query, before)?;
        let events = hits
            .iter()
            .map(|h| Ok((h.seq, self.read_event(h)?)))
            .collect::<Result<Vec<_>, TrailError>>()?;
        Ok((events, more))
    }

    /// The newest successful event naming one of `key_names` with one of `event_names`.
    pub fn last_usage(
        &self,
        key_names: &[&str],
        event_names: &[&str],
    ) -> Result<Option<Usage>, TrailError> {
        let d = self.durable()?;
        d.wait_indexed();
        Ok(d.index.last_usage(key_names, event_names)?)
    }

    /// Who used the key, with which operations, between the bounds.
    pub fn usage_summary(
        &self,
        key_names: &[&str],
        start_millis: Option<i64>,
        end_millis: Option<i64>,
    ) -> Result<Vec<UsageRow>, TrailError> {
        let d = self.durable()?;
        d.wait_indexed();
        Ok(d.index.usage_summary(key_names, start_millis, end_millis)?)
    }

    /// Seals every durable event now and writes digests (shutdown, tests).
    pub fn seal_now(&self) -> Result<(), TrailError> {
        self.durable()?.seal_pass(true, &mut Pace::flat_out())
    }

    /// Stops the background threads after a final checkpoint and seal, then the log.
    pub fn close(&self) {
        if let Mode::Durable(d) = &self.mode {
            // Finish what is queued first, so the final checkpoint covers it.
            d.log.close();
        }
        {
            let (flag, cv) = &*self.stop;
            *lock(flag) = true;
            cv.notify_all();
        }
        if let Mode::Durable(d) = &self.mode {
            // The writer has stopped, so nothing more is queued; this ends the indexer
            // once it has written what is.
            lock(&d.pending).closed = true;
            d.pending_changed.notify_all();
        }
        for t in lock(&self.threads).drain(..) {
            let _ = t.join();
        }
        if let Mode::Durable(d) = &self.mode {
            if d.sealer.is_some() {
                if let Err(e) = d.seal_pass(true, &mut Pace::flat_out()) {
                    eprintln_redacted("final sealing", &e);
                }
            }
        }
    }
}

impl Drop for AuditTrail {
    fn drop(&mut self) {
        self.close();
    }
}

impl Durable {
    fn sign(&self, size: u64) -> Result<SignedCheckpoint, TrailError> {
        let root = lock(&self.tree).root(size)?;
        let note =
            Checkpoint::new(self.origin.clone(), size, root)?.sign(&self.key_name, &self.signer);
        Ok(SignedCheckpoint { size, note })
    }

    /// Signs and persists a checkpoint of the whole tree unless the latest one covers it.
    fn checkpoint_now(&self) -> Result<SignedCheckpoint, TrailError> {
        let _one_at_a_time = lock(&self.checkpointing);
        let size = lock(&self.tree).len();
        if let Some(latest) = lock(&self.latest).as_ref() {
            if latest.size == size {
                return Ok(latest.clone());
            }
        }
        let signed = self.sign(size)?;
        append_history(&self.dir, &signed.note)?;
        write_atomically(&self.dir, LATEST_CHECKPOINT, signed.note.as_bytes())?;
        *lock(&self.latest) = Some(signed.clone());
        Ok(signed)
    }

    /// Re-feeds the index from its high-water mark to the end of the log.
    fn catch_up_index(&self) -> Result<(), TrailError> {
        let from = self.index.next_seq()?;
        let size = lock(&self.tree).len();
        feed_index_from_log(&self.index, &self.dir.join(LOG_DIR), from, u64::MAX)?;
        *lock(&self.indexed) = size;
        Ok(())
    }

    /// Hands a durable event to the indexer (on the log's writer thread).
    fn queue_for_index(&self, event: IndexedEvent) {
        let mut pending = lock(&self.pending);
        pending.events.push(event);
        if pending.events.len() == 1 {
            drop(pending);
            self.pending_changed.notify_one();
        }
    }

    /// The next events to index: waits for the first, then gathers for [`INDEX_GATHER`]
    /// (fewer, larger transactions cost the shared disk less, and queries wait for the
    /// index anyway, see `wait_indexed`). Empty once the log has closed and all is taken.
    fn next_index_batch(&self) -> Vec<IndexedEvent> {
        let mut pending = lock(&self.pending);
        while pending.events.is_empty() && !pending.closed {
            pending = self
                .pending_changed
                .wait(pending)
                .unwrap_or_else(|e| e.into_inner());
        }
        if !pending.closed {
            let until = Instant::now() + INDEX_GATHER;
            while !pending.closed && !pending.hurry && pending.events.len() < INDEX_BATCH {
                let left = until.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    break;
                }
                pending = self
                    .pending_changed
                    .wait_timeout(pending, left)
                    .unwrap_or_else(|e| e.into_inner())
                    .0;
            }
        }
        pending.hurry = false;
        std::mem::take(&mut pending.events)
    }

    fn index_loop(&self, stop: &(Mutex<bool>, Condvar)) {
        loop {
            let events = self.next_index_batch();
            if events.is_empty() {
                return;
            }
            for batch in events.chunks(INDEX_BATCH) {
                if !self.index_batch(batch, stop) {
                    return;
                }
            }
        }
    }

    /// Writes one batch to the index; false if shutdown came first.
    fn index_batch(&self, batch: &[IndexedEvent], stop: &(Mutex<bool>, Condvar)) -> bool {
        let next = batch.last().map_or(0, |e| e.seq + 1);
        // The index is a cache: retry until it takes the batch (a full disk clears),
        // or give up at shutdown (the next start re-feeds it from the log).
        let mut delay = Duration::from_millis(10);
        let mut reported = false;
        while let Err(e) = self.index.insert_batch(batch) {
            if !reported {
                eprintln_redacted("indexing (retrying until it succeeds)", &e.into());
                reported = true;
            }
            if wait_stop(stop, delay) {
                return false;
            }
            delay = (delay * 2).min(Duration::from_secs(2));
        }
        let mut indexed = lock(&self.indexed);
        *indexed = (*indexed).max(next);
        self.indexed_changed.notify_all();
        true
    }

    /// Waits until every event durable now is indexed, at most [`INDEX_WAIT`].
    fn wait_indexed(&self) {
        let target = lock(&self.tree).len();
        let deadline = Instant::now() + INDEX_WAIT;
        if *lock(&self.indexed) < target {
            // Cut the indexer's gathering short: a lookup need not wait for a full batch.
            lock(&self.pending).hurry = true;
            self.pending_changed.notify_all();
        }
        let mut indexed = lock(&self.indexed);
        while *indexed < target {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return;
            }
            indexed = self
                .indexed_changed
                .wait_timeout(indexed, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    /// Durable events not sealed yet (0 without a sealer).
    fn unsealed(&self) -> u64 {
        let Some(sealer) = &self.sealer else {
            return 0;
        };
        let next = lock(sealer).next_seq();
        lock(&self.tree).len().saturating_sub(next)
    }

    /// Seals what is durable, writes digests that are due (all of them when `force`), and
    /// applies index retention. Steps `pace` per event read and sealed.
    fn seal_pass(&self, force: bool, pace: &mut Pace<'_>) -> Result<(), TrailError> {
        if let Some(sealer) = &self.sealer {
            let mut sealer = lock(sealer);
            let end = lock(&self.tree).len();
            while sealer.next_seq() < end {
                let from = sealer.next_seq();
                let to = end.min(from + SEAL_CHUNK);
                let mut events = Vec::new();
                log::for_each_record_from(&self.dir.join(LOG_DIR), from, |rec| {
                    if rec.seq >= to {
                        return false;
                    }
                    events.push((rec.seq, rec.payload.to_vec()));
                    pace.step();
                    true
                })?;
                sealer.seal_paced(&events, (self.now)(), pace)?;
            }
            if force {
                sealer.force_digests((self.now)())?;
            } else {
                sealer.write_digests_if_due((self.now)())?;
            }
        }
        let horizon = (self.now)().saturating_sub(self.retention_millis);
        self.index.delete_before(horizon)?;
        Ok(())
    }
}

/// Opens the lookup index; one that cannot be opened (a damaged or newer-format file) is
/// moved aside (to `index.damaged`, replacing an earlier one) and rebuilt from the log,
/// which is the source of truth.
fn open_index(dir: &Path) -> Result<EventIndex, TrailError> {
    for suffix in ["", "-wal", "-shm"] {
        let legacy = dir.join(format!("{LEGACY_INDEX_FILE}{suffix}"));
        match std::fs::remove_file(&legacy) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e.into()),
            _ => {}
        }
    }
    let path = dir.join(INDEX_DIR);
    match EventIndex::open(&path) {
        Ok(index) => Ok(index),
        Err(e) => {
            eprintln_redacted("opening the lookup index (rebuilding it)", &e.into());
            let aside = dir.join(format!("{INDEX_DIR}.damaged"));
            if aside.is_dir() {
                std::fs::remove_dir_all(&aside)?;
            } else if aside.exists() {
                std::fs::remove_file(&aside)?;
            }
            if path.exists() {
                std::fs::rename(&path, &aside)?;
            }
            Ok(EventIndex::open(&path)?)
        }
    }
}

/// Feeds `index` the events of the log in `log_dir` from `from` up to (not including)
/// `until`, in batches: what start-up does to catch the index up with the log (and the
/// lookup benchmark measures). A record that is not an event cannot be indexed (Kagi never
/// writes one; the verifier reports it); the index skips it.
pub fn feed_index_from_log(
    index: &EventIndex,
    log_dir: &Path,
    from: u64,
    until: u64,
) -> Result<(), TrailError> {
    let mut batch = Vec::with_capacity(INDEX_BATCH);
    let mut failure = None;
    log::for_each_record_from(log_dir, from, |rec| {
        if rec.seq >= until {
            return false;
        }
        if let Ok(ev) = CloudTrailEvent::parse(rec.payload) {
            batch.push(IndexedEvent::from_event(
                ev,
                rec.seq,
                rec.segment,
                rec.offset,
            ));
        }
        if batch.len() >= INDEX_BATCH {
            if let Err(e) = index.insert_batch(&batch) {
                failure = Some(e);
                return false;
            }
            batch.clear();
        }
        true
    })?;
    if let Some(e) = failure {
        return Err(e.into());
    }
    index.insert_batch(&batch)?;
    Ok(())
}

/// The share of the wall-clock time (percent) a background seal pass may take when it starts
/// with `waiting` events to seal. Sealing costs a few percent of what serving costs per
/// event, so [`SEAL_SHARE_PERCENT`] of one CPU keeps up with most loads. If the CPUs are so
/// busy that the pass falls behind even so, the next pass starts with more waiting and gets
/// a larger share, up to all of it: the lag stays bounded, and no single pass turns into a
/// long burst.
fn seal_share(waiting: u64) -> u32 {
    let share = u64::from(SEAL_SHARE_PERCENT).saturating_mul(waiting) / SEAL_SHARE_EVENTS;
    share.clamp(u64::from(SEAL_SHARE_PERCENT), 100) as u32
}

fn spawn(name: &str, f: impl FnOnce() + Send + 'static) -> std::io::Result<JoinHandle<()>> {
    std::thread::Builder::new().name(name.into()).spawn(f)
}

/// Waits `every` or until stopped; true when stopped.
fn wait_stop(stop: &(Mutex<bool>, Condvar), every: Duration) -> bool {
    let (flag, cv) = stop;
    let guard = lock(flag);
    if *guard {
        return true;
    }
    let (guard, _) = cv
        .wait_timeout(guard, every)
        .unwrap_or_else(|e| e.into_inner());
    *guard
}

/// Background failures go to stderr: this crate has no logger, and none of these errors
/// carries event contents (only I/O messages and index file names).
fn eprintln_redacted(what: &str, e: &TrailError) {
    eprintln!("kagi audit: {what} failed: {e}");
}

/// The latest persisted checkpoint, checked against the recovered tree.
fn read_latest_checkpoint(
    dir: &Path,
    verifier: &str,
    tree: &MerkleTree,
) -> Result<Option<SignedCheckpoint>, TrailError> {
    let note = match std::fs::read_to_string(dir.join(LATEST_CHECKPOINT)) {
        Ok(n) => n,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let cp = Checkpoint::parse_and_verify(&note, verifier).map_err(|e| {
        TrailError::Tampered(format!(
            "{LATEST_CHECKPOINT} is not signed by this installation's audit key ({e})"
        ))
    })?;
    if cp.size() > tree.len() {
        return Err(TrailError::Tampered(format!(
            "the latest checkpoint covers {} events but the log holds only {}: acknowledged \
             events are missing",
            cp.size(),
            tree.len()
        )));
    }
    if tree.root(cp.size())? != *cp.root() {
        return Err(TrailError::Tampered(format!(
            "the log's first {} events do not match the signed checkpoint: the log was rewritten",
            cp.size()
        )));
    }
    Ok(Some(SignedCheckpoint {
        size: cp.size(),
        note,
    }))
}

/// Every checkpoint in `checkpoints.log`, oldest first.
pub fn read_checkpoint_history(dir: &Path) -> Result<Vec<String>, TrailError> {
    let mut bytes = Vec::new();
    match File::open(dir.join(CHECKPOINT_HISTORY)) {
        Ok(mut f) => f.read_to_end(&mut bytes)?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e.into()),
    };
    let mut notes = Vec::new();
    let mut rest = bytes.as_slice();
    while rest.len() >= 4 {
        let len = u32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
        let Some(note) = rest.get(4..4 + len) else {
            break; // a torn last append: the checkpoint it held was never relied on
        };
        notes.push(String::from_utf8_lossy(note).into_owned());
        rest = &rest[4 + len..];
    }
    Ok(notes)
}

fn append_history(dir: &Path, note: &str) -> std::io::Result<()> {
    let mut f = OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join(CHECKPOINT_HISTORY))?;
    let mut framed = Vec::with_capacity(4 + note.len());
    framed.extend_from_slice(&(note.len() as u32).to_be_bytes());
    framed.extend_from_slice(note.as_bytes());
    f.write_all(&framed)?;
    f.sync_data()
}

fn write_atomically(dir: &Path, name: &str, bytes: &[u8]) -> std::io::Result<()> {
    crate::durable::replace(dir, name, &format!("{name}.tmp"), bytes)
}

/// The paths of a trail directory, for offline tools.
pub fn log_dir(trail_dir: &Path) -> PathBuf {
    trail_dir.join(LOG_DIR)
}

/// The latest checkpoint file of a trail directory.
pub fn latest_checkpoint_path(trail_dir: &Path) -> PathBuf {
    trail_dir.join(LATEST_CHECKPOINT)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{EventTime, EventType, Resource, UserIdentity, EVENT_VERSION};
    use crate::merkle::verify_inclusion;

    const KEY: &str = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";

    #[test]
    fn the_seal_share_grows_with_the_backlog() {
        assert_eq!(seal_share(0), SEAL_SHARE_PERCENT);
        assert_eq!(seal_share(SEAL_EAGER_EVENTS), SEAL_SHARE_PERCENT);
        assert_eq!(seal_share(2 * SEAL_SHARE_EVENTS), 2 * SEAL_SHARE_PERCENT);
        assert_eq!(seal_share(4 * SEAL_SHARE_EVENTS), 100);
        assert_eq!(seal_share(u64::MAX), 100);
    }

    fn event(i: u64) -> CloudTrailEvent {
        CloudTrailEvent {
            event_version: EVENT_VERSION.into(),
            user_identity: UserIdentity {
                user_name: Some("alice".into()),
                access_key_id: Some("AKIAKAGIEXAMPLE00001".into()),
                ..UserIdentity::default()
            },
            event_time: EventTime::from_epoch_seconds(1_795_000_000 + i as i64),
            event_source: "kms.amazonaws.com".into(),
            event_name: if i.is_multiple_of(2) {
                "Encrypt"
            } else {
                "Decrypt"
            }
            .into(),
            aws_region: "us-east-1".into(),
            source_ip_address: "127.0.0.1".into(),
            user_agent: "test".into(),
            error_code: None,
            error_message: None,
            request_parameters: None,
            response_elements: None,
            additional_event_data: None,
            request_id: Some(format!("request-{i}")),
            event_id: format!("event-{i}"),
            read_only: true,
            resources: vec![Resource {
                account_id: "111122223333".into(),
                resource_type: "AWS::KMS::Key".into(),
                arn: KEY.into(),
            }],
            event_type: EventType::AwsApiCall,
            management_event: true,
            recipient_account_id: "111122223333".into(),
            service_event_details: None,
            event_category: "Management".into(),
        }
    }

    fn signer() -> Ed25519SigningKey {
        Ed25519SigningKey::from_secret(&kagi_crypto::SecretBytes::new(vec![7; 32])).unwrap()
    }

    fn open(dir: &Path) -> Result<AuditTrail, TrailError> {
        open_sealing(dir, None)
    }

    fn open_sealing(dir: &Path, seal: Option<SealSettings>) -> Result<AuditTrail, TrailError> {
        let options = TrailOptions {
            origin: "kagi/test".into(),
            key_name: KeyName::new("kagi-audit-test").unwrap(),
            checkpoint_interval: Duration::from_millis(50),
            retention: Duration::from_secs(365 * 86_400 * 100),
            seal,
            sync_interval: log::DEFAULT_SYNC_INTERVAL,
        };
        AuditTrail::open(dir, signer(), options, Arc::new(|| 1_795_000_000_000))
    }

    /// The records in the sealed log files (not digests) under `out`.
    fn sealed_records(out: &Path) -> usize {
        if !out.exists() {
            return 0;
        }
        crate::seal::tests::walk(out)
            .iter()
            .filter(|p| p.to_string_lossy().contains("/CloudTrail/"))
            .map(|p| {
                crate::seal::split_records(&crate::seal::tests::gunzip(p))
                    .unwrap()
                    .len()
            })
            .sum()
    }

    #[test]
    fn the_background_sealer_seals_everything_recorded() {
        const EVENTS: u64 = 3_000;
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("cloudtrail");
        let seal = SealSettings {
            config: SealConfig::new(&out, "111122223333", "us-east-1"),
            interval: Duration::from_millis(100),
            key: crate::seal::tests::key(),
        };
        let trail = open_sealing(dir.path(), Some(seal)).unwrap();
        // Many at once, so that group commits keep this short and a pass has enough work
        // to be paced (rest between slices).
        let (tx, rx) = mpsc::channel();
        for i in 0..EVENTS {
            let tx = tx.clone();
            trail.record(event(i), move |r| tx.send(r.map(|r| r.seq)).unwrap());
        }
        for _ in 0..EVENTS {
            rx.recv().unwrap().unwrap();
        }
        // Only the background thread seals here: no seal_now, no close.
        let deadline = Instant::now() + Duration::from_secs(30);
        while sealed_records(&out) < EVENTS as usize && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        assert_eq!(sealed_records(&out), EVENTS as usize);
        assert_eq!(trail.durable().unwrap().unsealed(), 0);
    }

    #[test]
    fn records_prove_and_survive_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let trail = open(dir.path()).unwrap();
        for i in 0..10 {
            assert_eq!(trail.record_blocking(event(i)).unwrap().seq, i);
        }
        let location = trail.find_event("event-3").unwrap();
        assert_eq!(location.seq, 3);
        assert_eq!(
            trail.read_event(&location).unwrap(),
            event(3).canonical_bytes()
        );
        let proof = trail.inclusion_proof(3, None).unwrap();
        let cp =
            Checkpoint::parse_and_verify(&proof.checkpoint.note, &trail.verifier_key().unwrap())
                .unwrap();
        assert_eq!(cp.size(), 10);
        let leaf = log::leaf_hash(&event(3).canonical_bytes());
        assert!(verify_inclusion(&leaf, 3, 10, &proof.path, cp.root()));
        let query = LookupQuery {
            attribute: Some((crate::index::AttributeKey::EventName, "Decrypt".into())),
            start_millis: None,
            end_millis: None,
            max_results: 50,
            next_token: None,
        };
        let (events, _) = trail.lookup(&query).unwrap();
        assert_eq!(events.len(), 5);
        assert_eq!(events[0], event(9).canonical_bytes(), "newest first");
        let usage = trail.last_usage(&[KEY], &["Encrypt"]).unwrap().unwrap();
        assert_eq!(usage.event_id, "event-8");
        trail.close();
        drop(trail);

        // The index is a cache: deleting it loses nothing.
        std::fs::remove_dir_all(dir.path().join(INDEX_DIR)).unwrap();
        let trail = open(dir.path()).unwrap();
        assert_eq!(trail.size(), 10);
        assert_eq!(trail.find_event("event-9").unwrap().seq, 9);
        assert_eq!(trail.record_blocking(event(10)).unwrap().seq, 10);
        let consistency = trail.consistency_proof(10, 11).unwrap();
        assert!(!consistency.is_empty());
    }

    #[test]
    fn a_damaged_index_is_rebuilt_from_the_log() {
        let dir = tempfile::tempdir().unwrap();
        let trail = open(dir.path()).unwrap();
        for i in 0..5 {
            trail.record_blocking(event(i)).unwrap();
        }
        drop(trail);
        // Closing wrote the index's open segment: damage every file of the index.
        let index_dir = dir.path().join(INDEX_DIR);
        let mut damaged = 0;
        for entry in std::fs::read_dir(&index_dir).unwrap() {
            let path = entry.unwrap().path();
            let mut bytes = std::fs::read(&path).unwrap();
            let middle = bytes.len() / 2;
            bytes[middle] ^= 0x40;
            std::fs::write(&path, bytes).unwrap();
            damaged += 1;
        }
        assert!(damaged > 0, "the index wrote no file");
        let trail = open(dir.path()).unwrap();
        assert_eq!(trail.find_event("event-4").unwrap().seq, 4);
        assert!(dir.path().join("index.damaged").is_dir());
        drop(trail);

        // Not even a directory: moved aside too.
        std::fs::remove_dir_all(&index_dir).unwrap();
        std::fs::write(&index_dir, b"this is not an index").unwrap();
        let trail = open(dir.path()).unwrap();
        assert_eq!(trail.find_event("event-2").unwrap().seq, 2);
    }

    #[test]
    fn the_sqlite_index_of_earlier_versions_is_removed() {
        let dir = tempfile::tempdir().unwrap();
        let trail = open(dir.path()).unwrap();
        trail.record_blocking(event(0)).unwrap();
        drop(trail);
        for name in ["index.sqlite", "index.sqlite-wal", "index.sqlite-shm"] {
            std::fs::write(dir.path().join(name), b"SQLite format 3\0").unwrap();
        }
        let trail = open(dir.path()).unwrap();
        assert_eq!(trail.find_event("event-0").unwrap().seq, 0);
        for name in ["index.sqlite", "index.sqlite-wal", "index.sqlite-shm"] {
            assert!(!dir.path().join(name).exists(), "{name} is still there");
        }
    }

    #[test]
    fn a_log_shorter_than_its_checkpoint_refuses_to_open() {
        let dir = tempfile::tempdir().unwrap();
        let trail = open(dir.path()).unwrap();
        for i in 0..3 {
            trail.record_blocking(event(i)).unwrap();
        }
        assert_eq!(trail.checkpoint().unwrap().size, 3);
        drop(trail);
        // Replace the log by a shorter one: a rewrite that drops acknowledged events.
        std::fs::remove_dir_all(log_dir(dir.path())).unwrap();
        let err = open(dir.path()).unwrap_err();
        assert!(matches!(err, TrailError::Tampered(_)), "{err}");
    }

    #[test]
    fn a_rewritten_log_refuses_to_open() {
        let dir = tempfile::tempdir().unwrap();
        let trail = open(dir.path()).unwrap();
        for i in 0..3 {
            trail.record_blocking(event(i)).unwrap();
        }
        trail.checkpoint().unwrap();
        drop(trail);
        std::fs::remove_dir_all(log_dir(dir.path())).unwrap();
        let (log, _) = AuditLog::open(&log_dir(dir.path())).unwrap();
        for i in 10..13 {
            log.append(event(i).canonical_bytes()).unwrap();
        }
        drop(log);
        let err = open(dir.path()).unwrap_err();
        assert!(err.to_string().contains("rewritten"), "{err}");
    }

    #[test]
    fn checkpoints_follow_the_log_every_interval() {
        let dir = tempfile::tempdir().unwrap();
        let trail = open(dir.path()).unwrap();
        trail.record_blocking(event(0)).unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        while !latest_checkpoint_path(dir.path()).exists() {
            assert!(Instant::now() < deadline, "no checkpoint within 5 s");
            std::thread::sleep(Duration::from_millis(20));
        }
        let note = std::fs::read_to_string(latest_checkpoint_path(dir.path())).unwrap();
        let cp = Checkpoint::parse_and_verify(&note, &trail.verifier_key().unwrap()).unwrap();
        assert_eq!(cp.size(), 1);
    }

    #[test]
    fn discarding_records_nothing() {
        let trail = AuditTrail::discard();
        assert_eq!(trail.record_blocking(event(0)).unwrap().seq, 0);
        assert_eq!(trail.record_blocking(event(1)).unwrap().seq, 1);
        assert!(matches!(trail.checkpoint(), Err(TrailError::Discarding)));
    }
}
