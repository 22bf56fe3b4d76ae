//! The lookup index: says, for the questions CloudTrail's `LookupEvents`, KMS key-usage
//! queries and `kagi audit usage` ask, *which* log records answer them. It stores each
//! event's location in the log ([`Location`]: sequence number, segment, byte offset) and
//! the few fields those queries filter or group by; the events themselves are read back
//! from the log with [`crate::log::read_record`].
//!
//! The index is a derived cache, never a source of truth: the log is. After a crash the
//! trail re-feeds it from [`EventIndex::next_seq`]; inserts are idempotent. Deleting the
//! directory loses nothing but the time to rebuild it.
//!
//! # Design: append-only segments of postings
//!
//! Sequence numbers are cut into segments of [`SEGMENT_EVENTS`] (2^16): segment `k` holds
//! the events with seq in [k·2^16, (k+1)·2^16), event `seq` in *slot* `seq − k·2^16`.
//! Each segment has a fixed-width record per slot (location, time, flags, term ids of its
//! attributes), a dictionary of *terms* (kind, value) such as (ResourceName, `<key ARN>`)
//! and, per term, the ascending list of slots whose event has it (its *postings*, u16
//! each). `LookupEvents` by an attribute is then "walk that term's postings backwards,
//! newest segment first, stop after a page"; time bounds skip whole segments and blocks of
//! 256 slots by their exact [min, max] event time, then test each record, so results are
//! exact however out of order event times are. An `eventID` is found through a per-segment
//! table of (FNV-1a hash, slot) sorted by hash; the string is compared before answering.
//!
//! - The newest segment is *open*: in memory (`index/memory.rs`), where an insert costs a few
//!   hash-map look-ups and pushes: about 2,800 instructions and 0.7–1.3 µs of CPU per
//!   event including writing segments, against ~56,000 and 6–25 µs for the SQLite index
//!   this replaced (docs/benchmarks.md, "LookupEvents over 1,000,000 events"). When an
//!   event of a later segment arrives, the open one is written as an immutable segment
//!   file (`index/segment.rs`; format in docs/formats.md): temporary file, fsync, rename, fsync
//!   of the directory (~10 MiB, ~20 ms, once per 65,536 events). Nothing else is written
//!   on the insert path.
//! - Segment files are read with `read_at`. Opening the index reads every file once to
//!   check its CRC-32 and structure (about 0.15 s per million events; start-up already
//!   reads and hashes the whole log, which is eight times larger), then keeps per file
//!   only its header, the time bounds of its blocks and sparse fences (every 16th
//!   dictionary entry, every 256th event-id hash): 8 KiB plus 1/16 of its dictionary
//!   (~28 KiB with the benchmark's 4,000 terms per segment), under half a byte per event.
//!   The open segment costs about 170 bytes per event (64-byte records, ids, postings,
//!   terms): ~11 MiB when full, twice that for a moment while it is written. A lookup
//!   opens the files it visits; no descriptor is held between calls.
//! - Retention ([`EventIndex::delete_before`]) removes segment files whose every event
//!   is older than the cutoff; a segment only partly older gets a *cutoff* (events older
//!   than it are hidden), persisted in the small `index.state` file with the high-water
//!   mark, keyed by the file's generation so that it never applies to a later copy.
//!   Deleted events of the open segment are removed from it, and it is written at once.
//!
//! Choices, and why:
//!
//! - Segments are a fixed grid of sequence numbers, not "the next 65,536 events": every
//!   seq has exactly one home, so re-feeding, gaps (records that are not events) and
//!   out-of-order inserts need no bookkeeping, and a slot fits in a u16.
//! - Time ranges prune by the exact [min, max] of each 256-slot block instead of the
//!   monotone `time_upper`/`time_lower` bounds of the SQLite schema: just as exact, and
//!   nothing to maintain when an older event arrives late.
//! - Terms are interned through a keyed (SipHash) map, because values such as a claimed
//!   access key id or an unknown operation's name come from unauthenticated clients; a
//!   small direct-mapped cache with a cheap hash sits in front of it and is checked
//!   against the stored term, so a collision only costs the keyed look-up.
//! - A damaged file fails the whole open, and the trail rebuilds everything: dropping
//!   one file and re-feeding it would need the high-water mark to move back below files
//!   written later. Damage is rare; a rebuild costs one re-feed of the log.
//!
//! # Crash safety
//!
//! Every event with a seq below the durable high-water mark (the largest `next_seq` of
//! any segment file, or the one `index.state` remembers) is in a file. The open segment
//! may hold later ones; a crash loses them and the trail re-feeds from
//! [`EventIndex::next_seq`] (at most one segment: about 65,536 events, see the re-feed
//! figure in docs/benchmarks.md). Dropping the index writes the open segment (a partial
//! file, read back into memory at the next open), so a clean restart re-feeds nothing.
//! An event that arrives for a slot below the mark (out of order) is written before
//! `insert_batch` returns: an older segment is read, extended and written again as a new
//! generation; the open one is written again.
//!
//! A file that does not check out (bad magic, checksum or structure, truncated) makes
//! [`EventIndex::open`] fail with [`IndexError::Corrupt`], one of a newer format with
//! [`IndexError::UnsupportedFormat`]: never a wrong answer. The trail then moves the
//! directory aside and rebuilds it from the log. Leftover temporary files and older
//! generations (a crash between a rename and the removal of the file it supersedes) are
//! removed at open.
//!
//! Writers (`insert_batch`, `delete_before`) are serialised; readers see a consistent
//! snapshot: the open segment under a read lock, then the segment files of that moment.
//!
//! This module does not read the log, parse events or validate API input (`MaxResults`,
//! attribute names, time ranges): the trail and the server do.

mod memory;
mod segment;

use crate::event::{CloudTrailEvent, KMS_KEY_RESOURCE_TYPE};
use base64::Engine as _;
use kagi_crypto::digest::Sha256;
use memory::OpenSegment;
use segment::{Kind, Reader, Record, Segment, TermRef, BLOCK, ERROR, NONE, POSTINGS_CHUNK};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};

/// Events per segment (a power of two; slots are u16).
pub const SEGMENT_EVENTS: u64 = 1 << SEGMENT_BITS;
const SEGMENT_BITS: u8 = 16;
/// The version byte of pagination tokens.
const TOKEN_VERSION: u8 = 1;
/// Bytes of a query's fingerprint ([`fingerprint`]).
pub const FINGERPRINT_LEN: usize = 16;
const TOKEN_LEN: usize = 1 + 8 + FINGERPRINT_LEN;
/// The state file: the high-water mark and the retention cutoffs of segment files.
const STATE_FILE: &str = "index.state";
const STATE_MAGIC: &[u8; 8] = b"KAGIIXS\0";
const STATE_VERSION: u16 = 1;
/// How often a lookup starts again when a file it was about to read was replaced or
/// removed under it (by retention, or a rewrite of an older segment).
const LOOKUP_ATTEMPTS: usize = 3;

#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    /// A file of the index could not be read or written. The message is fixed so that it
    /// can be shown to clients; the source (for operators' logs) never holds event data.
    #[error("audit index I/O error")]
    Io(#[source] std::io::Error),
    #[error("audit index file {} is damaged ({what}); rebuild the index", file.display())]
    Corrupt { file: PathBuf, what: &'static str },
    #[error("the pagination token is not valid for this query")]
    InvalidNextToken,
    #[error("audit index file {} has format version {found}, newer than this build's ({supported}); rebuild the index", file.display())]
    UnsupportedFormat {
        file: PathBuf,
        found: u16,
        supported: u16,
    },
    /// An event or segment beyond the format's limits (a string over 4 GiB, …).
    #[error("an audit index segment would exceed the format's limits")]
    TooLarge,
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
    pub fn from_event(ev: CloudTrailEvent, seq: u64, segment: u64, offset: u64) -> Self {
        // The event's strings move into the entry: on a request's path, cloning them cost a
        // dozen allocations per event.
        let mut resources = Vec::with_capacity(ev.resources.len() * 2);
        for r in ev.resources {
            let key_id = (r.resource_type == KMS_KEY_RESOURCE_TYPE)
                .then(|| r.arn.split_once(":key/"))
                .flatten()
                .map(|(_, id)| id)
                .filter(|id| !id.is_empty())
                .map(str::to_string);
            match key_id {
                Some(id) => {
                    resources.push((r.resource_type.clone(), r.arn));
                    resources.push((r.resource_type, id));
                }
                None => resources.push((r.resource_type, r.arn)),
            }
        }
        let who = ev.user_identity;
        Self {
            seq,
            segment,
            offset,
            time_millis: ev.event_time.epoch_seconds().saturating_mul(1000),
            event_id: ev.event_id,
            event_name: ev.event_name,
            event_source: ev.event_source,
            read_only: ev.read_only,
            username: who.user_name,
            access_key_id: who.access_key_id,
            principal: who.arn,
            error_code: ev.error_code,
            request_id: ev.request_id,
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

/// One group of [`EventIndex::usage_summary`]. Serialisable: nodes of a cluster send
/// theirs to the node that sums them (`federation::merge_usage_rows`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
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

/// The index. Share it (`Arc`): writes are serialised, reads run concurrently with them
/// and with each other.
pub struct EventIndex {
    dir: PathBuf,
    /// log2 of the events per segment ([`SEGMENT_BITS`]; smaller in tests).
    span_bits: u8,
    writer: Mutex<Writer>,
    state: RwLock<State>,
}

/// What only writers touch.
struct Writer {
    /// The generation of the next segment file written (larger than any on disk).
    next_generation: u64,
    /// The durable high-water mark: every event below it that was inserted (and not
    /// deleted) is in a segment file.
    durable_next_seq: u64,
}

struct State {
    /// The newest segment, in memory; it follows every file.
    open: Option<OpenSegment>,
    /// Segment files, by first seq.
    files: Vec<SegmentFile>,
    /// One past the highest seq ever inserted.
    next_seq: u64,
}

#[derive(Clone)]
struct SegmentFile {
    seg: Arc<Segment>,
    /// Retention: events older than this are deleted (`i64::MIN`: none).
    cutoff: i64,
}

impl std::fmt::Debug for EventIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventIndex")
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

impl Drop for EventIndex {
    /// Writes the open segment, so that the next start need not re-feed it. A failure
    /// only means that it will be re-fed.
    fn drop(&mut self) {
        let mut w = lock(&self.writer);
        let dirty = self.read().open.as_ref().is_some_and(|o| o.dirty);
        if dirty {
            let _ = self.write_open(&mut w);
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Writers change the state only after every fallible step, so a panic cannot leave
    // it half-changed.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Event times are bounded (years 0000–9999), so these never collide with real values.
fn start_bound(q: Option<i64>) -> i64 {
    q.unwrap_or(i64::MIN)
}

fn end_bound(q: Option<i64>) -> i64 {
    q.unwrap_or(i64::MAX)
}

fn io(e: std::io::Error) -> IndexError {
    IndexError::Io(e)
}

/// Removes a file; one already gone is fine.
fn remove_file(path: &Path) -> Result<(), IndexError> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io(e)),
        _ => Ok(()),
    }
}

/// See [`crate::durable::replace`].
fn write_atomically(dir: &Path, name: &str, bytes: &[u8]) -> Result<(), IndexError> {
    crate::durable::replace(dir, name, &format!("{name}.tmp"), bytes).map_err(io)
}

impl EventIndex {
    /// Opens the index in the directory `path`, creating it if it does not exist. Every
    /// segment file is checked; a damaged one is [`IndexError::Corrupt`], one of a newer
    /// format [`IndexError::UnsupportedFormat`].
    pub fn open(path: &Path) -> Result<Self, IndexError> {
        Self::open_with(path, SEGMENT_BITS)
    }

    fn open_with(path: &Path, span_bits: u8) -> Result<Self, IndexError> {
        std::fs::create_dir_all(path).map_err(io)?;
        let mut generations: BTreeMap<u64, Vec<u64>> = BTreeMap::new();
        for entry in std::fs::read_dir(path).map_err(io)? {
            let entry = entry.map_err(io)?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else {
                continue;
            };
            if name.ends_with(".tmp") {
                // A write that did not finish: never renamed, so never relied on.
                remove_file(&entry.path())?;
            } else if let Some((first, generation)) = segment::parse_file_name(name) {
                generations.entry(first).or_default().push(generation);
            }
        }
        let state = read_state(&path.join(STATE_FILE))?;
        let mut durable_next_seq = state.next_seq;
        let mut next_generation = state.next_generation;
        let mut files = Vec::new();
        let mut newest_bytes = Vec::new();
        for (first, mut gens) in generations {
            gens.sort_unstable();
            let Some(newest) = gens.pop() else {
                continue;
            };
            // A crash after writing a newer generation and before removing the older.
            for older in gens {
                remove_file(&path.join(segment::file_name(first, older)))?;
            }
            let file = path.join(segment::file_name(first, newest));
            let bytes = std::fs::read(&file).map_err(io)?;
            let seg = Segment::parse(&file, &bytes, span_bits, first, newest)?;
            durable_next_seq = durable_next_seq.max(seg.next_seq);
            next_generation = next_generation.max(newest.saturating_add(1));
            let cutoff = state
                .cutoffs
                .get(&(first, newest))
                .copied()
                .unwrap_or(i64::MIN);
            files.push(SegmentFile {
                seg: Arc::new(seg),
                cutoff,
            });
            newest_bytes = bytes;
        }
        // The newest segment, unless full, is open again: appends continue in memory.
        let mut open = None;
        if let Some(last) = files.last() {
            if u64::from(last.seg.slots) < 1u64 << span_bits {
                let mut segment = last.seg.load(&newest_bytes, last.cutoff, 1 << span_bits)?;
                segment.on_disk = Some((last.seg.clone(), last.cutoff));
                open = Some(segment);
                files.pop();
            }
        }
        Ok(Self {
            dir: path.to_path_buf(),
            span_bits,
            writer: Mutex::new(Writer {
                next_generation,
                durable_next_seq,
            }),
            state: RwLock::new(State {
                open,
                files,
                next_seq: durable_next_seq,
            }),
        })
    }

    fn span(&self) -> u64 {
        1 << self.span_bits
    }

    fn read(&self) -> RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds `events`. Events already indexed (by seq) are left as they are, so re-feeding
    /// after a crash is harmless. Events normally arrive in seq order after everything
    /// indexed so far (then nothing touches the disk until a segment fills); any other
    /// order is accepted too, just slower: an event below the durable high-water mark is
    /// written to its segment's file before this returns.
    pub fn insert_batch(&self, events: &[IndexedEvent]) -> Result<(), IndexError> {
        if events.is_empty() {
            return Ok(());
        }
        let mut sorted: Vec<&IndexedEvent> = events.iter().collect();
        sorted.sort_by_key(|e| e.seq);
        sorted.dedup_by_key(|e| e.seq);
        let mut w = lock(&self.writer);
        let mut rest = sorted.as_slice();
        while let Some(first) = rest.first() {
            let first_seq = first.seq & !(self.span() - 1);
            let n = match first_seq.checked_add(self.span()) {
                Some(end) => rest.partition_point(|e| e.seq < end),
                None => rest.len(),
            };
            let (group, tail) = rest.split_at(n);
            self.insert_into(&mut w, first_seq, group)?;
            rest = tail;
        }
        Ok(())
    }

    /// Inserts events that all belong to the segment starting at `first_seq`.
    fn insert_into(
        &self,
        w: &mut Writer,
        first_seq: u64,
        group: &[&IndexedEvent],
    ) -> Result<(), IndexError> {
        let (open_first, newest_file) = {
            let st = self.read();
            (
                st.open.as_ref().map(|o| o.first_seq),
                st.files.last().map(|f| f.seg.first_seq),
            )
        };
        match (open_first, newest_file) {
            (Some(open), _) if first_seq < open => return self.rewrite(w, first_seq, group),
            (None, Some(newest)) if first_seq <= newest => {
                return self.rewrite(w, first_seq, group)
            }
            (Some(open), _) if first_seq > open => self.close_open(w)?,
            _ => {}
        }
        let span = self.span();
        let below_durable = {
            let mut st = self.write();
            let open = st
                .open
                .get_or_insert_with(|| OpenSegment::new(first_seq, span));
            let durable_end = open
                .on_disk
                .as_ref()
                .map_or(open.first_seq, |(s, _)| s.next_seq);
            let mut below = false;
            let mut result = Ok(());
            for ev in group {
                match open.insert(ev, span) {
                    Ok(inserted) => below |= inserted && ev.seq < durable_end,
                    Err(e) => {
                        result = Err(e);
                        break;
                    }
                }
            }
            let high = open.next_seq;
            st.next_seq = st.next_seq.max(high);
            result?;
            below
        };
        if below_durable {
            self.write_open(w)?;
        }
        Ok(())
    }

    /// Writes the open segment as a new generation of its file (it stays open).
    fn write_open(&self, w: &mut Writer) -> Result<(), IndexError> {
        let generation = w.next_generation;
        let (bytes, seg) = {
            let st = self.read();
            let Some(open) = &st.open else {
                return Ok(());
            };
            let path = self
                .dir
                .join(segment::file_name(open.first_seq, generation));
            segment::encode(open, &path, self.span_bits, generation)?
        };
        let seg = self.persist(w, seg, &bytes)?;
        let replaced = {
            let mut st = self.write();
            match st.open.as_mut() {
                Some(open) => {
                    open.dirty = false;
                    open.on_disk.replace((seg, i64::MIN))
                }
                None => None,
            }
        };
        if let Some((old, _)) = replaced {
            remove_file(&old.path)?;
        }
        Ok(())
    }

    /// Writes an encoded segment file.
    fn persist(
        &self,
        w: &mut Writer,
        seg: Segment,
        bytes: &[u8],
    ) -> Result<Arc<Segment>, IndexError> {
        w.next_generation = seg.generation.saturating_add(1);
        let name = segment::file_name(seg.first_seq, seg.generation);
        write_atomically(&self.dir, &name, bytes)?;
        w.durable_next_seq = w.durable_next_seq.max(seg.next_seq);
        Ok(Arc::new(seg))
    }

    /// Makes the open segment a segment file (writing it unless its file is current).
    fn close_open(&self, w: &mut Writer) -> Result<(), IndexError> {
        let needs_write = self
            .read()
            .open
            .as_ref()
            .is_some_and(|o| o.dirty || o.on_disk.is_none());
        if needs_write {
            self.write_open(w)?;
        }
        let mut st = self.write();
        if let Some(open) = st.open.take() {
            if let Some((seg, cutoff)) = open.on_disk {
                st.files.push(SegmentFile { seg, cutoff });
            }
        }
        Ok(())
    }

    /// Adds events to a segment that is not the open one: its file (if any) is read,
    /// extended and written again as a new generation.
    fn rewrite(
        &self,
        w: &mut Writer,
        first_seq: u64,
        group: &[&IndexedEvent],
    ) -> Result<(), IndexError> {
        let existing = {
            let st = self.read();
            st.files
                .binary_search_by_key(&first_seq, |f| f.seg.first_seq)
                .ok()
                .map(|i| st.files[i].clone())
        };
        let mut building = match &existing {
            Some(f) => {
                let bytes = std::fs::read(&f.seg.path).map_err(io)?;
                f.seg.load(&bytes, f.cutoff, self.span())?
            }
            None => OpenSegment::new(first_seq, self.span()),
        };
        let mut changed = false;
        for ev in group {
            changed |= building.insert(ev, self.span())?;
        }
        if !changed {
            return Ok(());
        }
        let generation = w.next_generation;
        let path = self.dir.join(segment::file_name(first_seq, generation));
        let (bytes, seg) = segment::encode(&building, &path, self.span_bits, generation)?;
        let seg = self.persist(w, seg, &bytes)?;
        {
            let mut st = self.write();
            st.next_seq = st.next_seq.max(seg.next_seq);
            let file = SegmentFile {
                seg,
                cutoff: i64::MIN,
            };
            match st
                .files
                .binary_search_by_key(&first_seq, |f| f.seg.first_seq)
            {
                Ok(i) => st.files[i] = file,
                Err(i) => st.files.insert(i, file),
            }
        }
        if let Some(old) = existing {
            remove_file(&old.seg.path)?;
        }
        Ok(())
    }

    /// One past the highest seq ever indexed (0 when nothing was): where re-feeding starts.
    /// Retention does not lower it. After a crash it is the durable high-water mark, so the
    /// trail re-feeds what only the open segment held.
    pub fn next_seq(&self) -> Result<u64, IndexError> {
        Ok(self.read().next_seq)
    }

    /// Visits the open segment (under the read lock), then the segment files of that
    /// moment, newest first, until `visit` returns false. `visit` is told when a visit
    /// starts a walk (`true`): a file removed under the walk (retention, a rewrite)
    /// starts it again from a new snapshot, a few times.
    fn walk(
        &self,
        visit: &mut dyn FnMut(&mut dyn View, bool) -> Result<bool, IndexError>,
    ) -> Result<(), IndexError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut fresh = true;
            let files = {
                let st = self.read();
                if let Some(open) = &st.open {
                    if !visit(&mut MemView(open), fresh)? {
                        return Ok(());
                    }
                    fresh = false;
                }
                st.files.clone()
            };
            let mut result = Ok(());
            for f in files.iter().rev() {
                let mut view = DiskView {
                    seg: &f.seg,
                    cutoff: f.cutoff,
                    reader: None,
                };
                match visit(&mut view, fresh) {
                    Ok(true) => fresh = false,
                    Ok(false) => break,
                    Err(e) => {
                        result = Err(e);
                        break;
                    }
                }
            }
            match result {
                Err(IndexError::Io(e))
                    if e.kind() == std::io::ErrorKind::NotFound && attempt < LOOKUP_ATTEMPTS => {}
                other => return other,
            }
        }
    }

    /// One page of `LookupEvents`: matching events newest first. A `next_token` that does
    /// not decode, or was issued for a query with another attribute or other time bounds,
    /// is [`IndexError::InvalidNextToken`].
    pub fn lookup(&self, q: &LookupQuery) -> Result<LookupPage, IndexError> {
        let fingerprint = fingerprint(q);
        let before = match &q.next_token {
            Some(token) => decode_token(token, &fingerprint)?,
            None => u64::MAX,
        };
        let (hits, more) = self.lookup_before(q, before)?;
        let next_token = if more {
            hits.last().map(|l| encode_token(l.seq, &fingerprint))
        } else {
            None
        };
        Ok(LookupPage { hits, next_token })
    }

    /// Up to `q.max_results` matching events whose seq is below `before`, newest first,
    /// and whether more follow them (`q.next_token` is not read). The building block of a
    /// lookup over several nodes' logs, which keeps one such position per node.
    pub fn lookup_before(
        &self,
        q: &LookupQuery,
        before: u64,
    ) -> Result<(Vec<Location>, bool), IndexError> {
        let limit = q.max_results.max(1);
        let want = limit.saturating_add(1);
        let (start, end) = (start_bound(q.start_millis), end_bound(q.end_millis));
        let matcher = match &q.attribute {
            None => Matcher::All,
            Some((key, value)) => {
                let kind = match key {
                    AttributeKey::EventId => Some(None),
                    AttributeKey::ReadOnly if value == "true" || value == "false" => {
                        Some(Some(Kind::ReadOnly))
                    }
                    AttributeKey::ReadOnly => None,
                    AttributeKey::EventName => Some(Some(Kind::EventName)),
                    AttributeKey::Username => Some(Some(Kind::Username)),
                    AttributeKey::EventSource => Some(Some(Kind::EventSource)),
                    AttributeKey::AccessKeyId => Some(Some(Kind::AccessKeyId)),
                    AttributeKey::ResourceName => Some(Some(Kind::ResourceName)),
                    AttributeKey::ResourceType => Some(Some(Kind::ResourceType)),
                };
                match kind {
                    None => Matcher::Nothing,
                    Some(None) => Matcher::EventId(value),
                    Some(Some(kind)) => Matcher::Term(kind, value),
                }
            }
        };
        let mut hits = Vec::new();
        if start <= end && !matches!(matcher, Matcher::Nothing) {
            self.walk(&mut |v, fresh| {
                if fresh {
                    hits.clear();
                }
                if v.may_hold(start, end) && v.first_seq() < before {
                    page_from(v, &matcher, start, end, before, want, &mut hits)?;
                }
                Ok(hits.len() < want)
            })?;
        }
        let more = hits.len() > limit;
        hits.truncate(limit);
        Ok((hits, more))
    }

    /// Where the event with this `eventID` is (the newest, should an id repeat).
    pub fn find_event(&self, event_id: &str) -> Result<Option<Location>, IndexError> {
        let mut found = None;
        self.walk(&mut |v, _| {
            if !v.may_hold(i64::MIN, i64::MAX) {
                return Ok(true);
            }
            let first = v.first_seq();
            let mut best: Option<(u32, Record)> = None;
            for local in v.event_id_slots(event_id)? {
                if best.is_some_and(|(b, _)| b >= local) {
                    continue;
                }
                if let Some(r) = v.record(local)? {
                    best = Some((local, r));
                }
            }
            found = best.map(|(local, r)| location(first, local, &r));
            Ok(found.is_none())
        })?;
        Ok(found)
    }

    /// The newest (highest seq) successful event (no `errorCode`) that names any of
    /// `key_names` as a resource and whose `eventName` is one of `event_names`.
    pub fn last_usage(
        &self,
        key_names: &[&str],
        event_names: &[&str],
    ) -> Result<Option<Usage>, IndexError> {
        let mut found = None;
        if key_names.is_empty() || event_names.is_empty() {
            return Ok(None);
        }
        self.walk(&mut |v, _| {
            if v.may_hold(i64::MIN, i64::MAX) {
                found = last_usage_in(v, key_names, event_names)?;
            }
            Ok(found.is_none())
        })?;
        Ok(found)
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
        if key_names.is_empty() || start > end {
            return Ok(Vec::new());
        }
        let mut groups: HashMap<UsageKey, Aggregate> = HashMap::new();
        self.walk(&mut |v, fresh| {
            if fresh {
                groups.clear();
            }
            if v.may_hold(start, end) {
                usage_in(v, key_names, start, end, &mut groups)?;
            }
            Ok(true)
        })?;
        Ok(usage_rows(groups))
    }

    /// Retention: removes every event whose time is before `millis` and returns how many.
    /// [`EventIndex::next_seq`] is unchanged, so deleted events are not re-fed. Segment
    /// files whose every event is older are removed; others hide their older events from
    /// then on (the cutoff is persisted before any file is removed).
    pub fn delete_before(&self, millis: i64) -> Result<u64, IndexError> {
        let mut w = lock(&self.writer);
        let in_open = self
            .write()
            .open
            .as_mut()
            .map_or(0, |o| o.delete_before(millis));
        if in_open > 0 {
            // Written at once: a crash must not bring the deleted events back.
            self.write_open(&mut w)?;
        }
        let (files, open_file) = {
            let st = self.read();
            let open_file = st.open.as_ref().and_then(|o| {
                o.on_disk
                    .as_ref()
                    .map(|(seg, cutoff)| (seg.first_seq, seg.generation, *cutoff))
            });
            (st.files.clone(), open_file)
        };
        let mut deleted = in_open;
        let mut raised = HashSet::new();
        let mut doomed = HashSet::new();
        for f in &files {
            if f.cutoff >= millis {
                continue;
            }
            let n = count_between(&f.seg, f.cutoff, millis)?;
            deleted += n;
            if f.seg.events == 0 || f.seg.max_time < millis {
                doomed.insert(f.seg.first_seq);
            } else if n > 0 {
                raised.insert(f.seg.first_seq);
            }
        }
        if raised.is_empty() && doomed.is_empty() {
            return Ok(deleted);
        }
        let mut cutoffs: Vec<(u64, u64, i64)> = files
            .iter()
            .filter(|f| !doomed.contains(&f.seg.first_seq))
            .map(|f| {
                let cutoff = if raised.contains(&f.seg.first_seq) {
                    millis
                } else {
                    f.cutoff
                };
                (f.seg.first_seq, f.seg.generation, cutoff)
            })
            .chain(open_file)
            .filter(|c| c.2 != i64::MIN)
            .collect();
        cutoffs.sort_unstable();
        write_state(
            &self.dir,
            &StateFile {
                next_seq: w.durable_next_seq,
                next_generation: w.next_generation,
                cutoffs: cutoffs.iter().map(|&(f, g, c)| ((f, g), c)).collect(),
            },
        )?;
        {
            let mut st = self.write();
            st.files.retain(|f| !doomed.contains(&f.seg.first_seq));
            for f in &mut st.files {
                if raised.contains(&f.seg.first_seq) {
                    f.cutoff = millis;
                }
            }
        }
        for f in files.iter().filter(|f| doomed.contains(&f.seg.first_seq)) {
            remove_file(&f.seg.path)?;
        }
        Ok(deleted)
    }
}

/// How many events of `seg` have a time in [lo, hi): whole blocks from their bounds,
/// records only of the blocks that straddle either end.
fn count_between(seg: &Segment, lo: i64, hi: i64) -> Result<u64, IndexError> {
    let mut reader: Option<Reader<'_>> = None;
    let mut n = 0u64;
    for (b, info) in seg.blocks.iter().enumerate() {
        if info.count == 0 || info.max < lo || info.min >= hi {
            continue;
        }
        if info.min >= lo && info.max < hi {
            n += u64::from(info.count);
            continue;
        }
        let r = match &mut reader {
            Some(r) => r,
            None => reader.insert(Reader::open(seg)?),
        };
        let first = b as u32 * BLOCK;
        for local in first..(first + BLOCK).min(seg.slots) {
            if let Some(rec) = r.record(local)? {
                if (lo..hi).contains(&rec.time_millis) {
                    n += 1;
                }
            }
        }
    }
    Ok(n)
}

/// What `index.state` holds.
#[derive(Debug, Default)]
struct StateFile {
    /// A floor for the high-water mark (it survives retention removing every file).
    next_seq: u64,
    /// A floor for the generation of the next segment file.
    next_generation: u64,
    /// Retention cutoffs by (first seq, generation) of a segment file.
    cutoffs: HashMap<(u64, u64), i64>,
}

/// `magic · version u16 · reserved u16 · count u32 · next_seq u64 · next_generation u64 ·
/// count × (first_seq u64 · generation u64 · cutoff i64) · CRC-32`, little-endian.
fn write_state(dir: &Path, state: &StateFile) -> Result<(), IndexError> {
    let mut entries: Vec<_> = state.cutoffs.iter().collect();
    entries.sort_unstable();
    let count = u32::try_from(entries.len()).map_err(|_| IndexError::TooLarge)?;
    let mut out = Vec::with_capacity(32 + entries.len() * 24 + 4);
    out.extend_from_slice(STATE_MAGIC);
    out.extend_from_slice(&STATE_VERSION.to_le_bytes());
    out.extend_from_slice(&[0; 2]);
    out.extend_from_slice(&count.to_le_bytes());
    out.extend_from_slice(&state.next_seq.to_le_bytes());
    out.extend_from_slice(&state.next_generation.to_le_bytes());
    for ((first, generation), cutoff) in entries {
        out.extend_from_slice(&first.to_le_bytes());
        out.extend_from_slice(&generation.to_le_bytes());
        out.extend_from_slice(&cutoff.to_le_bytes());
    }
    let crc = crc32fast::hash(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    write_atomically(dir, STATE_FILE, &out)
}

/// The state file; an empty state when there is none.
fn read_state(path: &Path) -> Result<StateFile, IndexError> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(StateFile::default()),
        Err(e) => return Err(io(e)),
    };
    let corrupt = |what| IndexError::Corrupt {
        file: path.to_path_buf(),
        what,
    };
    let le = |at: usize, n: usize| bytes.get(at..at + n).ok_or_else(|| corrupt("truncated"));
    let u64_at = |at| le(at, 8).map(|b| u64::from_le_bytes(b.try_into().unwrap_or([0; 8])));
    if le(0, 8)? != STATE_MAGIC {
        return Err(corrupt("not a state file (bad magic)"));
    }
    let version = u16::from_le_bytes(le(8, 2)?.try_into().unwrap_or([0; 2]));
    if version > STATE_VERSION {
        return Err(IndexError::UnsupportedFormat {
            file: path.to_path_buf(),
            found: version,
            supported: STATE_VERSION,
        });
    }
    if version != STATE_VERSION || bytes.len() < 36 {
        return Err(corrupt("bad header"));
    }
    let (body, trailer) = bytes.split_at(bytes.len() - 4);
    if trailer != crc32fast::hash(body).to_le_bytes() {
        return Err(corrupt("checksum mismatch"));
    }
    let count = u32::from_le_bytes(le(12, 4)?.try_into().unwrap_or([0; 4])) as usize;
    if count.checked_mul(24).and_then(|n| n.checked_add(32)) != Some(body.len()) {
        return Err(corrupt("length does not match the header"));
    }
    let mut state = StateFile {
        next_seq: u64_at(16)?,
        next_generation: u64_at(24)?,
        cutoffs: HashMap::with_capacity(count),
    };
    for i in 0..count {
        let at = 32 + i * 24;
        let cutoff = i64::from_le_bytes(le(at + 16, 8)?.try_into().unwrap_or([0; 8]));
        state.cutoffs.insert((u64_at(at)?, u64_at(at + 8)?), cutoff);
    }
    Ok(state)
}

fn location(first_seq: u64, local: u32, r: &Record) -> Location {
    Location {
        seq: first_seq + u64::from(local),
        segment: r.log_segment,
        offset: r.log_offset,
    }
}

/// One segment as queries see it: the open one in memory, or a file.
trait View {
    fn first_seq(&self) -> u64;
    fn slots(&self) -> u32;
    /// Retention cutoff: events older than this do not exist.
    fn cutoff(&self) -> i64;
    /// Whether the segment may hold an event with a time in [lo, hi].
    fn may_hold(&self, lo: i64, hi: i64) -> bool;
    /// Whether slot `local`'s block may hold an event with a time in [lo, hi].
    fn block_may_match(&self, local: u32, lo: i64, hi: i64) -> bool;
    /// The record in slot `local`, if it holds an event retention has not deleted.
    fn record(&mut self, local: u32) -> Result<Option<Record>, IndexError>;
    fn term(&mut self, kind: Kind, value: &str) -> Result<Option<TermRef>, IndexError>;
    /// Postings entries [end − n, end) of `term`, ascending, into `out`; the new end.
    fn postings_chunk(
        &mut self,
        term: &TermRef,
        end: u64,
        out: &mut Vec<u16>,
    ) -> Result<u64, IndexError>;
    fn term_value(&mut self, id: u32) -> Result<String, IndexError>;
    fn strings(&mut self, r: &Record) -> Result<(String, Option<String>), IndexError>;
    /// Slots holding an event with this `eventID` (strings compared).
    fn event_id_slots(&mut self, id: &str) -> Result<Vec<u32>, IndexError>;
}

struct MemView<'a>(&'a OpenSegment);

impl View for MemView<'_> {
    fn first_seq(&self) -> u64 {
        self.0.first_seq
    }

    fn slots(&self) -> u32 {
        self.0.records.len() as u32
    }

    fn cutoff(&self) -> i64 {
        // Deleted events are removed from the open segment.
        i64::MIN
    }

    fn may_hold(&self, _: i64, _: i64) -> bool {
        self.0.events > 0
    }

    fn block_may_match(&self, _: u32, _: i64, _: i64) -> bool {
        true
    }

    fn record(&mut self, local: u32) -> Result<Option<Record>, IndexError> {
        Ok(self.0.record(local))
    }

    fn term(&mut self, kind: Kind, value: &str) -> Result<Option<TermRef>, IndexError> {
        Ok(self.0.term_id(kind, value).map(|id| TermRef {
            id,
            start: 0,
            len: self
                .0
                .postings
                .get(id as usize)
                .map_or(0, |l| l.len() as u64),
        }))
    }

    fn postings_chunk(
        &mut self,
        term: &TermRef,
        end: u64,
        out: &mut Vec<u16>,
    ) -> Result<u64, IndexError> {
        let start = end.saturating_sub(POSTINGS_CHUNK);
        out.clear();
        if let Some(chunk) = self
            .0
            .postings
            .get(term.id as usize)
            .and_then(|l| l.get(start as usize..end as usize))
        {
            out.extend_from_slice(chunk);
        }
        Ok(start)
    }

    fn term_value(&mut self, id: u32) -> Result<String, IndexError> {
        Ok(self
            .0
            .terms
            .get(id as usize)
            .map_or_else(String::new, |(_, v)| v.to_string()))
    }

    fn strings(&mut self, r: &Record) -> Result<(String, Option<String>), IndexError> {
        // The open segment wrote these strings itself.
        Ok(self.0.strings(r).unwrap_or_default())
    }

    fn event_id_slots(&mut self, id: &str) -> Result<Vec<u32>, IndexError> {
        Ok(self.0.event_id_slots(id))
    }
}

struct DiskView<'a> {
    seg: &'a Segment,
    cutoff: i64,
    /// Opened at the first read: pruned segments cost no system call.
    reader: Option<Reader<'a>>,
}

impl<'a> DiskView<'a> {
    fn reader(&mut self) -> Result<&mut Reader<'a>, IndexError> {
        let reader = match self.reader.take() {
            Some(r) => r,
            None => Reader::open(self.seg)?,
        };
        Ok(self.reader.insert(reader))
    }
}

impl View for DiskView<'_> {
    fn first_seq(&self) -> u64 {
        self.seg.first_seq
    }

    fn slots(&self) -> u32 {
        self.seg.slots
    }

    fn cutoff(&self) -> i64 {
        self.cutoff
    }

    fn may_hold(&self, lo: i64, hi: i64) -> bool {
        self.seg.events > 0 && self.seg.max_time >= lo.max(self.cutoff) && self.seg.min_time <= hi
    }

    fn block_may_match(&self, local: u32, lo: i64, hi: i64) -> bool {
        self.seg.block_may_match(local, lo.max(self.cutoff), hi)
    }

    fn record(&mut self, local: u32) -> Result<Option<Record>, IndexError> {
        let cutoff = self.cutoff;
        Ok(self
            .reader()?
            .record(local)?
            .filter(|r| r.time_millis >= cutoff))
    }

    fn term(&mut self, kind: Kind, value: &str) -> Result<Option<TermRef>, IndexError> {
        self.reader()?.term(kind, value)
    }

    fn postings_chunk(
        &mut self,
        term: &TermRef,
        end: u64,
        out: &mut Vec<u16>,
    ) -> Result<u64, IndexError> {
        self.reader()?.postings_chunk(term, end, out)
    }

    fn term_value(&mut self, id: u32) -> Result<String, IndexError> {
        self.reader()?.term_value(id)
    }

    fn strings(&mut self, r: &Record) -> Result<(String, Option<String>), IndexError> {
        self.reader()?.strings(r)
    }

    fn event_id_slots(&mut self, id: &str) -> Result<Vec<u32>, IndexError> {
        let hash = segment::event_id_hash(id);
        let candidates = self.reader()?.event_id_slots(hash)?;
        let mut out = Vec::with_capacity(candidates.len());
        for local in candidates {
            if let Some(r) = self.reader()?.record(local)? {
                if self.reader()?.event_id_is(&r, id)? {
                    out.push(local);
                }
            }
        }
        Ok(out)
    }
}

/// What a lookup matches.
enum Matcher<'q> {
    All,
    EventId(&'q str),
    Term(Kind, &'q str),
    /// A value no event can have (ReadOnly other than "true" or "false").
    Nothing,
}

/// Adds to `hits` (up to `want`) the events of one segment that match, newest first,
/// with seq below `before` and time in [start, end].
fn page_from(
    v: &mut dyn View,
    m: &Matcher<'_>,
    start: i64,
    end: i64,
    before: u64,
    want: usize,
    hits: &mut Vec<Location>,
) -> Result<(), IndexError> {
    let first = v.first_seq();
    let below = before.saturating_sub(first).min(u64::from(v.slots())) as u32;
    let lo = start.max(v.cutoff());
    let in_range = |r: &Record| (lo..=end).contains(&r.time_millis);
    match m {
        Matcher::Nothing => {}
        Matcher::All => {
            let mut next = below;
            while next > 0 && hits.len() < want {
                let local = next - 1;
                if !v.block_may_match(local, lo, end) {
                    next = local - local % BLOCK;
                    continue;
                }
                if let Some(r) = v.record(local)? {
                    if in_range(&r) {
                        hits.push(location(first, local, &r));
                    }
                }
                next = local;
            }
        }
        Matcher::EventId(id) => {
            let mut slots = v.event_id_slots(id)?;
            slots.sort_unstable_by(|a, b| b.cmp(a));
            for local in slots {
                if hits.len() >= want {
                    break;
                }
                if local >= below {
                    continue;
                }
                if let Some(r) = v.record(local)? {
                    if in_range(&r) {
                        hits.push(location(first, local, &r));
                    }
                }
            }
        }
        Matcher::Term(kind, value) => {
            let Some(term) = v.term(*kind, value)? else {
                return Ok(());
            };
            let mut next = term.len;
            let mut chunk = Vec::new();
            'walk: while next > 0 && hits.len() < want {
                next = v.postings_chunk(&term, next, &mut chunk)?;
                for &local in chunk.iter().rev() {
                    let local = u32::from(local);
                    if local >= below || !v.block_may_match(local, lo, end) {
                        continue;
                    }
                    if let Some(r) = v.record(local)? {
                        if in_range(&r) {
                            hits.push(location(first, local, &r));
                            if hits.len() >= want {
                                break 'walk;
                            }
                        }
                    }
                }
            }
        }
    }
    Ok(())
}

/// [`EventIndex::last_usage`] within one segment.
fn last_usage_in(
    v: &mut dyn View,
    key_names: &[&str],
    event_names: &[&str],
) -> Result<Option<Usage>, IndexError> {
    let mut operations = Vec::with_capacity(event_names.len());
    for name in event_names {
        if let Some(t) = v.term(Kind::EventName, name)? {
            operations.push(t.id);
        }
    }
    if operations.is_empty() {
        return Ok(None);
    }
    let mut best: Option<(u32, Record)> = None;
    let mut chunk = Vec::new();
    for name in key_names {
        let Some(term) = v.term(Kind::ResourceName, name)? else {
            continue;
        };
        // A backwards walk per name, stopping at its newest match or the best so far.
        let mut next = term.len;
        'walk: while next > 0 {
            next = v.postings_chunk(&term, next, &mut chunk)?;
            for &local in chunk.iter().rev() {
                let local = u32::from(local);
                if best.is_some_and(|(b, _)| local <= b) {
                    break 'walk;
                }
                if let Some(r) = v.record(local)? {
                    if r.flags & ERROR == 0 && operations.contains(&r.event_name) {
                        best = Some((local, r));
                        break 'walk;
                    }
                }
            }
        }
    }
    let Some((local, r)) = best else {
        return Ok(None);
    };
    let (event_id, request_id) = v.strings(&r)?;
    Ok(Some(Usage {
        location: location(v.first_seq(), local, &r),
        time_millis: r.time_millis,
        event_name: v.term_value(r.event_name)?,
        event_id,
        request_id,
    }))
}

/// (principal, access key id, event name).
pub(crate) type UsageKey = (Option<String>, Option<String>, String);

#[derive(Debug, Clone, Copy)]
pub(crate) struct Aggregate {
    count: u64,
    errors: u64,
    first: i64,
    last: i64,
}

impl Default for Aggregate {
    fn default() -> Self {
        Self {
            count: 0,
            errors: 0,
            first: i64::MAX,
            last: i64::MIN,
        }
    }
}

impl Aggregate {
    pub(crate) fn merge(&mut self, other: &Aggregate) {
        self.count += other.count;
        self.errors += other.errors;
        self.first = self.first.min(other.first);
        self.last = self.last.max(other.last);
    }
}

/// [`EventIndex::usage_summary`] within one segment, merged into `out`.
fn usage_in(
    v: &mut dyn View,
    key_names: &[&str],
    start: i64,
    end: i64,
    out: &mut HashMap<UsageKey, Aggregate>,
) -> Result<(), IndexError> {
    let mut slots = Vec::new();
    let mut chunk = Vec::new();
    for name in key_names {
        let Some(term) = v.term(Kind::ResourceName, name)? else {
            continue;
        };
        let mut next = term.len;
        while next > 0 {
            next = v.postings_chunk(&term, next, &mut chunk)?;
            slots.extend(chunk.iter().map(|&l| u32::from(l)));
        }
    }
    slots.sort_unstable();
    slots.dedup();
    let lo = start.max(v.cutoff());
    let mut groups: HashMap<(u32, u32, u32), Aggregate> = HashMap::new();
    for local in slots {
        if !v.block_may_match(local, lo, end) {
            continue;
        }
        let Some(r) = v.record(local)? else {
            continue;
        };
        if !(lo..=end).contains(&r.time_millis) {
            continue;
        }
        let g = groups
            .entry((r.principal, r.access_key_id, r.event_name))
            .or_default();
        g.merge(&Aggregate {
            count: 1,
            errors: u64::from(r.flags & ERROR != 0),
            first: r.time_millis,
            last: r.time_millis,
        });
    }
    let mut names: HashMap<u32, String> = HashMap::new();
    let mut name = |v: &mut dyn View, id: u32| -> Result<Option<String>, IndexError> {
        if id == NONE {
            return Ok(None);
        }
        if let Some(n) = names.get(&id) {
            return Ok(Some(n.clone()));
        }
        let n = v.term_value(id)?;
        names.insert(id, n.clone());
        Ok(Some(n))
    };
    for ((principal, access_key_id, event_name), agg) in groups {
        let key = (
            name(v, principal)?,
            name(v, access_key_id)?,
            name(v, event_name)?.unwrap_or_default(),
        );
        out.entry(key).or_default().merge(&agg);
    }
    Ok(())
}

/// Usage groups as a summary: one row per group, newest last use first, then by group.
pub(crate) fn usage_rows(groups: HashMap<UsageKey, Aggregate>) -> Vec<UsageRow> {
    let mut rows: Vec<UsageRow> = groups
        .into_iter()
        .map(|(key, a)| UsageRow::from_group(key, a))
        .collect();
    rows.sort_by(|a, b| {
        b.last_millis
            .cmp(&a.last_millis)
            .then_with(|| a.principal.cmp(&b.principal))
            .then_with(|| a.access_key_id.cmp(&b.access_key_id))
            .then_with(|| a.event_name.cmp(&b.event_name))
    });
    rows
}

impl UsageRow {
    /// A group and its tallies as a row (the inverse of [`UsageRow::into_group`]).
    pub(crate) fn from_group(
        (principal, access_key_id, event_name): UsageKey,
        a: Aggregate,
    ) -> Self {
        UsageRow {
            principal,
            access_key_id,
            event_name,
            count: a.count,
            errors: a.errors,
            first_millis: a.first,
            last_millis: a.last,
        }
    }

    /// The row's group and its tallies, to merge with other rows of the same group.
    pub(crate) fn into_group(self) -> (UsageKey, Aggregate) {
        (
            (self.principal, self.access_key_id, self.event_name),
            Aggregate {
                count: self.count,
                errors: self.errors,
                first: self.first_millis,
                last: self.last_millis,
            },
        )
    }
}

/// What a pagination token is bound to: the attribute and the time bounds (not
/// `MaxResults`, which a client may change between pages).
pub fn fingerprint(q: &LookupQuery) -> [u8; FINGERPRINT_LEN] {
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
                IndexedEvent::from_event(e.clone(), seq, 0, 1000 + seq)
            })
            .collect()
    }

    fn open(dir: &tempfile::TempDir) -> EventIndex {
        EventIndex::open(&dir.path().join("index")).unwrap()
    }

    /// The segment files in an index directory, by name.
    fn segment_files(path: &Path) -> Vec<PathBuf> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(path)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .and_then(segment::parse_file_name)
                    .is_some()
            })
            .collect();
        files.sort();
        files
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
        let entry = IndexedEvent::from_event(e.clone(), 7, 3, 99);
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
        let late = IndexedEvent::from_event(event("Decrypt", "bob", 9, T0 + 15, None), 10, 0, 0);
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
        // Postings went with their events.
        {
            let st = index.read();
            let open = st.open.as_ref().unwrap();
            assert!(open.postings.iter().all(Vec::is_empty));
            assert_eq!(open.events, 0);
        }
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
    fn the_index_persists_across_reopen_and_refuses_newer_formats() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("index");
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
        let file = segment_files(&path).pop().unwrap();
        let mut bytes = std::fs::read(&file).unwrap();
        bytes[8..10].copy_from_slice(&2u16.to_le_bytes());
        std::fs::write(&file, bytes).unwrap();
        let err = EventIndex::open(&path).unwrap_err();
        assert!(
            matches!(
                err,
                IndexError::UnsupportedFormat {
                    found: 2,
                    supported: 1,
                    ..
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn dropping_the_index_writes_the_open_segment() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("index");
        let index = EventIndex::open(&path).unwrap();
        index.insert_batch(&entries(&sample(), 0)).unwrap();
        assert_eq!(seqs(&index, &query(None)).len(), 40);
        // Nothing is written while the open segment fills.
        assert!(segment_files(&path).is_empty());
        drop(index);
        assert_eq!(segment_files(&path).len(), 1);
        // Reopened, the partial segment is open (in memory) again and nothing is re-fed.
        let index = EventIndex::open(&path).unwrap();
        assert_eq!(index.next_seq().unwrap(), 40);
        assert!(index.read().open.is_some());
        assert_eq!(seqs(&index, &query(None)).len(), 40);
        // Appending to it and closing again replaces the file with a newer generation.
        index.insert_batch(&entries(&sample()[..2], 40)).unwrap();
        drop(index);
        let files = segment_files(&path);
        assert_eq!(files.len(), 1);
        let index = EventIndex::open(&path).unwrap();
        assert_eq!(index.next_seq().unwrap(), 42);
        assert_eq!(seqs(&index, &query(None))[..2], [41, 40]);
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

    /// Every query shape walks postings (or slots) newest first and stops after the
    /// page: no sort step, no full scan. This is what keeps a page cheap on a large index.
    #[test]
    fn a_page_reads_about_a_page_of_records() {
        let dir = tempfile::tempdir().unwrap();
        // 16 events per segment: 400 events are 25 segments, 24 of them files.
        let index = EventIndex::open_with(&dir.path().join("index"), 4).unwrap();
        let events: Vec<_> = (0..400u32)
            .map(|i| {
                let name = ["Encrypt", "Decrypt"][i as usize % 2];
                event(name, "alice", i % 5, T0 + i64::from(i), None)
            })
            .collect();
        index.insert_batch(&entries(&events, 0)).unwrap();
        assert_eq!(segment_files(&dir.path().join("index")).len(), 24);
        let reads = |q: &LookupQuery| {
            segment::RECORD_READS.with(|r| r.set(0));
            let page = index.lookup(q).unwrap();
            (page.hits.len(), segment::RECORD_READS.with(|r| r.get()))
        };
        let mut shapes = vec![query(None)];
        shapes.extend(
            AttributeKey::ALL
                .iter()
                .map(|&k| match k {
                    AttributeKey::EventId => events[3].event_id.clone(),
                    AttributeKey::ReadOnly => "true".into(),
                    AttributeKey::Username => "alice".into(),
                    AttributeKey::ResourceType => KMS_KEY_RESOURCE_TYPE.into(),
                    AttributeKey::ResourceName => key_id(2),
                    AttributeKey::EventSource => KMS_EVENT_SOURCE.into(),
                    AttributeKey::AccessKeyId => "AKIAALICE".into(),
                    AttributeKey::EventName => "Decrypt".into(),
                })
                .zip(AttributeKey::ALL)
                .map(|(v, k)| query(Some((k, &v)))),
        );
        for mut q in shapes {
            q.max_results = 5;
            // The open segment answers from memory; older pages come from files. Each
            // record read is one chunk of 32 records: a whole 16-event segment here.
            let (hits, n) = reads(&q);
            assert!(hits >= 1 && n <= 1, "{q:?}: {n} reads");
            q.end_millis = Some((T0 + 100) * 1000);
            // Older events: the few segments that hold the page, of 24.
            let (hits, n) = reads(&q);
            assert!(hits >= 1 && n <= 4, "{q:?}: {hits} hits, {n} reads");
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

    /// A copy of an index directory (to damage one file in each copy).
    fn copy_dir(from: &Path, to: &Path) {
        std::fs::create_dir_all(to).unwrap();
        for entry in std::fs::read_dir(from).unwrap() {
            let entry = entry.unwrap();
            std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
        }
    }

    /// 30 events in segments of 8: three full files, and the open segment written as a
    /// partial one when the index is dropped.
    fn small_index(path: &Path) -> Vec<CloudTrailEvent> {
        let events: Vec<_> = (0..30u32)
            .map(|i| event("Encrypt", "alice", i % 3, T0 + i64::from(i), None))
            .collect();
        let index = EventIndex::open_with(path, 3).unwrap();
        index.insert_batch(&entries(&events, 0)).unwrap();
        drop(index);
        assert_eq!(segment_files(path).len(), 4);
        events
    }

    #[test]
    fn damaged_segment_files_are_refused_never_read() {
        let dir = tempfile::tempdir().unwrap();
        let good = dir.path().join("good");
        small_index(&good);
        type Damage = Box<dyn Fn(&mut Vec<u8>)>;
        let damages: Vec<(&str, Damage)> = vec![
            ("a flipped bit in the records", Box::new(|b| b[200] ^= 1)),
            ("a flipped bit in the header", Box::new(|b| b[17] ^= 0x80)),
            (
                "a flipped bit in the checksum",
                Box::new(|b| *b.last_mut().unwrap() ^= 1),
            ),
            ("one byte short", Box::new(|b| b.truncate(b.len() - 1))),
            ("one byte more", Box::new(|b| b.push(0))),
            ("cut inside the header", Box::new(|b| b.truncate(40))),
            ("cut inside the magic", Box::new(|b| b.truncate(5))),
            ("empty", Box::new(|b| b.clear())),
            (
                "another magic",
                Box::new(|b| b[..8].copy_from_slice(b"SQLite f")),
            ),
            ("format 0", Box::new(|b| b[8..10].copy_from_slice(&[0, 0]))),
        ];
        for (n, (what, damage)) in damages.iter().enumerate() {
            for victim in [0, 3] {
                let path = dir.path().join(format!("copy-{n}-{victim}"));
                copy_dir(&good, &path);
                let file = segment_files(&path)[victim].clone();
                let mut bytes = std::fs::read(&file).unwrap();
                damage(&mut bytes);
                std::fs::write(&file, bytes).unwrap();
                let err = EventIndex::open_with(&path, 3).unwrap_err();
                assert!(
                    matches!(&err, IndexError::Corrupt { file: f, .. } if *f == file),
                    "{what} (file {victim}): {err}"
                );
                assert!(err.to_string().contains("damaged"), "{err}");
            }
        }
        // A file written with another segment size does not fit this index.
        let err = EventIndex::open_with(&good, 4).unwrap_err();
        assert!(matches!(err, IndexError::Corrupt { .. }), "{err}");
        // A file renamed to another segment's place.
        let path = dir.path().join("renamed");
        copy_dir(&good, &path);
        let files = segment_files(&path);
        std::fs::rename(&files[1], path.join(segment::file_name(16, 99))).unwrap();
        std::fs::remove_file(&files[2]).unwrap();
        let err = EventIndex::open_with(&path, 3).unwrap_err();
        assert!(matches!(err, IndexError::Corrupt { .. }), "{err}");
        // The untouched original still opens and answers.
        let index = EventIndex::open_with(&good, 3).unwrap();
        assert_eq!(seqs(&index, &query(None)).len(), 30);
    }

    #[test]
    fn a_damaged_or_newer_state_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let good = dir.path().join("good");
        small_index(&good);
        {
            let index = EventIndex::open_with(&good, 3).unwrap();
            // Events 0..=9 go: the first file entirely, the second in part.
            assert_eq!(index.delete_before((T0 + 10) * 1000).unwrap(), 10);
        }
        assert!(good.join(STATE_FILE).exists());
        assert_eq!(segment_files(&good).len(), 3);
        let index = EventIndex::open_with(&good, 3).unwrap();
        assert_eq!(
            seqs(&index, &query(None)),
            (10..30).rev().collect::<Vec<_>>()
        );
        drop(index);
        for (n, offset) in [9usize, 20, 40].into_iter().enumerate() {
            let path = dir.path().join(format!("copy-{n}"));
            copy_dir(&good, &path);
            let mut bytes = std::fs::read(path.join(STATE_FILE)).unwrap();
            bytes[offset] ^= 4;
            std::fs::write(path.join(STATE_FILE), bytes).unwrap();
            let err = EventIndex::open_with(&path, 3).unwrap_err();
            if offset == 9 {
                assert!(
                    matches!(err, IndexError::UnsupportedFormat { found: 1025, .. }),
                    "{err}"
                );
            } else {
                assert!(matches!(err, IndexError::Corrupt { .. }), "{err}");
            }
        }
        let path = dir.path().join("short");
        copy_dir(&good, &path);
        std::fs::write(path.join(STATE_FILE), b"KAGIIXS\0\x01").unwrap();
        let err = EventIndex::open_with(&path, 3).unwrap_err();
        assert!(matches!(err, IndexError::Corrupt { .. }), "{err}");
    }

    #[test]
    fn leftovers_of_a_crash_are_removed_at_open() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("index");
        small_index(&path);
        let files = segment_files(&path);
        // A temporary file never renamed, an older generation not yet removed (a crash
        // between the rename of its successor and its removal), and a stranger.
        std::fs::write(
            path.join("seg-00000000000000000008-00000000000000000077.idx.tmp"),
            b"x",
        )
        .unwrap();
        let older = path.join(segment::file_name(8, 0));
        std::fs::write(&older, b"an older generation, damaged or not").unwrap();
        std::fs::write(path.join("README"), b"not the index's").unwrap();
        let index = EventIndex::open_with(&path, 3).unwrap();
        assert_eq!(segment_files(&path), files);
        assert!(!older.exists());
        assert!(path.join("README").exists());
        assert_eq!(seqs(&index, &query(None)).len(), 30);
    }

    #[test]
    fn a_crash_loses_only_the_open_segment_and_re_feeding_restores_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("index");
        let events = sample();
        let all = entries(&events, 0);
        let index = EventIndex::open_with(&path, 3).unwrap();
        index.insert_batch(&all[..37]).unwrap();
        assert_eq!(index.next_seq().unwrap(), 37);
        // A crash: the open segment (32..37) is never written.
        std::mem::forget(index);
        let index = EventIndex::open_with(&path, 3).unwrap();
        assert_eq!(index.next_seq().unwrap(), 32);
        assert_eq!(
            seqs(&index, &query(None)),
            (0..32).rev().collect::<Vec<_>>()
        );
        // The trail re-feeds from there, including what the log got meanwhile.
        index.insert_batch(&all[32..]).unwrap();
        assert_eq!(index.next_seq().unwrap(), 40);
        assert_eq!(
            seqs(&index, &query(None)),
            (0..40).rev().collect::<Vec<_>>()
        );
        // A clean stop, then a crash after more events: the partial file holds 32..40.
        drop(index);
        let index = EventIndex::open_with(&path, 3).unwrap();
        index.insert_batch(&entries(&events[..3], 40)).unwrap();
        std::mem::forget(index);
        let index = EventIndex::open_with(&path, 3).unwrap();
        assert_eq!(index.next_seq().unwrap(), 40);
        assert_eq!(seqs(&index, &query(None)).len(), 40);
    }

    #[test]
    fn events_below_the_durable_mark_are_written_before_insert_returns() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("index");
        let events = sample();
        let all = entries(&events[..37], 0);
        let index = EventIndex::open_with(&path, 3).unwrap();
        // Every other event: files 0..8 to 24..32 have gaps, and so has the open
        // segment (33, 35), written as a partial file when the index is dropped.
        let odd: Vec<_> = all.iter().filter(|e| e.seq % 2 == 1).cloned().collect();
        index.insert_batch(&odd).unwrap();
        drop(index);
        let index = EventIndex::open_with(&path, 3).unwrap();
        assert_eq!(index.next_seq().unwrap(), 36);
        assert!(index.read().open.is_some());
        // Fill the gaps of the full files and of the reopened partial one, then crash.
        let even: Vec<_> = all.iter().filter(|e| e.seq % 2 == 0).cloned().collect();
        index.insert_batch(&even).unwrap();
        std::mem::forget(index);
        let index = EventIndex::open_with(&path, 3).unwrap();
        assert_eq!(index.next_seq().unwrap(), 37);
        assert_eq!(
            seqs(&index, &query(None)),
            (0..37).rev().collect::<Vec<_>>()
        );
        let q = query(Some((AttributeKey::ResourceName, &key_id(4))));
        assert_eq!(
            seqs(&index, &q),
            expected(&events[..37], |e| e.resources[0].arn == key_arn(4))
        );
    }

    #[test]
    fn readers_see_a_prefix_while_segments_are_written() {
        let dir = tempfile::tempdir().unwrap();
        let index = Arc::new(EventIndex::open_with(&dir.path().join("index"), 3).unwrap());
        let events: Vec<_> = (0..200u32)
            .map(|i| event("Encrypt", "alice", i % 7, T0 + i64::from(i), None))
            .collect();
        let all = entries(&events, 0);
        let writer = {
            let index = index.clone();
            std::thread::spawn(move || {
                for chunk in all.chunks(5) {
                    index.insert_batch(chunk).unwrap();
                }
                // Retention removes files under the readers' feet.
                index.delete_before((T0 + 50) * 1000).unwrap();
            })
        };
        let readers: Vec<_> = (0..3)
            .map(|_| {
                let index = index.clone();
                std::thread::spawn(move || {
                    for _ in 0..100 {
                        let mut q = query(None);
                        q.max_results = 20;
                        let page = index.lookup(&q).unwrap();
                        let got: Vec<u64> = page.hits.iter().map(|l| l.seq).collect();
                        // The newest events of a prefix of the log, gap-free.
                        if let Some(&top) = got.first() {
                            let want: Vec<u64> = (0..=top).rev().take(got.len()).collect();
                            assert_eq!(got, want);
                        }
                    }
                })
            })
            .collect();
        writer.join().unwrap();
        for r in readers {
            r.join().unwrap();
        }
        assert_eq!(index.next_seq().unwrap(), 200);
        assert_eq!(seqs_all(&index, query(None)).len(), 150);
    }

    /// Every page of `q`, concatenated.
    fn seqs_all(index: &EventIndex, mut q: LookupQuery) -> Vec<u64> {
        let mut got = Vec::new();
        loop {
            let page = index.lookup(&q).unwrap();
            got.extend(page.hits.iter().map(|l| l.seq));
            match page.next_token {
                Some(t) => q.next_token = Some(t),
                None => return got,
            }
        }
    }

    /// One random event of the model test.
    #[derive(Debug, Clone)]
    struct Spec {
        name: usize,
        user: usize,
        keys: Vec<u32>,
        error: bool,
        read_only: bool,
        secs: i64,
        id: u8,
        request: bool,
    }

    fn spec() -> impl Strategy<Value = Spec> {
        (
            0usize..3,
            0usize..4,
            proptest::collection::vec(0u32..5, 0..3),
            proptest::bool::weighted(0.2),
            any::<bool>(),
            0i64..40,
            0u8..24,
            any::<bool>(),
        )
            .prop_map(
                |(name, user, keys, error, read_only, secs, id, request)| Spec {
                    name,
                    user,
                    keys,
                    error,
                    read_only,
                    secs,
                    id,
                    request,
                },
            )
    }

    const NAMES: [&str; 3] = ["Encrypt", "Decrypt", "DescribeKey"];
    const USERS: [&str; 3] = ["alice", "bob", "carol"];

    fn model_entry(seq: u64, s: &Spec) -> IndexedEvent {
        let user = USERS.get(s.user);
        IndexedEvent {
            seq,
            segment: seq / 5,
            offset: 1000 + seq,
            // Milliseconds too, so that sub-second bounds matter.
            time_millis: (T0 + s.secs) * 1000 + (seq % 3) as i64 * 400,
            event_id: format!("evt-{}", s.id),
            event_name: NAMES[s.name].into(),
            event_source: if s.user == 3 {
                "sts.amazonaws.com".into()
            } else {
                KMS_EVENT_SOURCE.into()
            },
            read_only: s.read_only,
            username: user.map(|u| u.to_string()),
            access_key_id: user.map(|u| format!("AKIA{}", u.to_uppercase())),
            principal: user.map(|u| format!("arn:aws:iam::{ACCOUNT}:user/{u}")),
            error_code: s.error.then(|| "AccessDeniedException".into()),
            request_id: s.request.then(|| format!("req-{seq}")),
            resources: s
                .keys
                .iter()
                .map(|&k| {
                    let kind = if k == 4 {
                        "AWS::S3::Bucket"
                    } else {
                        KMS_KEY_RESOURCE_TYPE
                    };
                    (kind.to_string(), key_id(k))
                })
                .collect(),
        }
    }

    fn model_matches(e: &IndexedEvent, key: AttributeKey, v: &str) -> bool {
        match key {
            AttributeKey::EventId => e.event_id == v,
            AttributeKey::EventName => e.event_name == v,
            AttributeKey::ReadOnly => {
                (v == "true" && e.read_only) || (v == "false" && !e.read_only)
            }
            AttributeKey::Username => e.username.as_deref() == Some(v),
            AttributeKey::ResourceType => e.resources.iter().any(|(t, _)| t == v),
            AttributeKey::ResourceName => e.resources.iter().any(|(_, n)| n == v),
            AttributeKey::EventSource => e.event_source == v,
            AttributeKey::AccessKeyId => e.access_key_id.as_deref() == Some(v),
        }
    }

    fn loc(e: &IndexedEvent) -> Location {
        Location {
            seq: e.seq,
            segment: e.segment,
            offset: e.offset,
        }
    }

    /// What the index should hold: the events inserted and not deleted.
    struct Model {
        events: Vec<IndexedEvent>,
        indexed: Vec<bool>,
    }

    impl Model {
        /// Indexed events, newest first.
        fn live(&self) -> impl Iterator<Item = &IndexedEvent> {
            self.events
                .iter()
                .rev()
                .filter(|e| self.indexed[e.seq as usize])
        }

        fn delete_before(&mut self, millis: i64) -> u64 {
            let mut n = 0;
            for e in &self.events {
                if self.indexed[e.seq as usize] && e.time_millis < millis {
                    self.indexed[e.seq as usize] = false;
                    n += 1;
                }
            }
            n
        }

        fn check(&self, index: &EventIndex, windows: &[(i64, i64, usize)]) {
            let mut attributes: Vec<Option<(AttributeKey, String)>> = vec![None];
            for v in ["evt-0", "evt-3", "evt-7", "evt-99"] {
                attributes.push(Some((AttributeKey::EventId, v.into())));
            }
            for v in NAMES.iter().chain(&["CreateKey"]) {
                attributes.push(Some((AttributeKey::EventName, v.to_string())));
            }
            for v in ["true", "false", "TRUE"] {
                attributes.push(Some((AttributeKey::ReadOnly, v.into())));
            }
            for v in USERS.iter().chain(&["dave"]) {
                attributes.push(Some((AttributeKey::Username, v.to_string())));
                attributes.push(Some((
                    AttributeKey::AccessKeyId,
                    format!("AKIA{}", v.to_uppercase()),
                )));
            }
            for v in [KMS_KEY_RESOURCE_TYPE, "AWS::S3::Bucket", "AWS::KMS::Alias"] {
                attributes.push(Some((AttributeKey::ResourceType, v.into())));
            }
            for k in 0..6 {
                attributes.push(Some((AttributeKey::ResourceName, key_id(k))));
            }
            for v in [KMS_EVENT_SOURCE, "sts.amazonaws.com", "s3.amazonaws.com"] {
                attributes.push(Some((AttributeKey::EventSource, v.into())));
            }
            let bounds = |s: i64| (s >= 0).then_some((T0 + s) * 1000 + 200);
            for attribute in &attributes {
                for &(s, e, per_page) in windows.iter().chain(&[(-1, -1, 50)]) {
                    let (start, end) = (bounds(s), bounds(e));
                    let q = LookupQuery {
                        attribute: attribute.clone(),
                        start_millis: start,
                        end_millis: end,
                        max_results: per_page,
                        next_token: None,
                    };
                    let want: Vec<u64> = self
                        .live()
                        .filter(|e| start.is_none_or(|s| e.time_millis >= s))
                        .filter(|e| end.is_none_or(|t| e.time_millis <= t))
                        .filter(|e| {
                            attribute
                                .as_ref()
                                .is_none_or(|(k, v)| model_matches(e, *k, v))
                        })
                        .map(|e| e.seq)
                        .collect();
                    assert_eq!(
                        seqs_all(index, q),
                        want,
                        "{attribute:?} [{start:?}, {end:?}] by {per_page}"
                    );
                }
            }
            for id in 0..25 {
                let id = format!("evt-{id}");
                let want = self.live().find(|e| e.event_id == id).map(loc);
                assert_eq!(index.find_event(&id).unwrap(), want, "{id}");
            }
            let key_sets: [&[u32]; 4] = [&[0], &[1, 2], &[3, 4, 0], &[9]];
            let op_sets: [&[&str]; 3] = [
                &["Encrypt"],
                &["Encrypt", "Decrypt"],
                &["DescribeKey", "CreateKey"],
            ];
            for keys in key_sets {
                let names: Vec<String> = keys.iter().map(|&k| key_id(k)).collect();
                let names: Vec<&str> = names.iter().map(String::as_str).collect();
                let names_key =
                    |e: &IndexedEvent| e.resources.iter().any(|(_, n)| names.contains(&n.as_str()));
                for ops in op_sets {
                    let want = self
                        .live()
                        .find(|e| {
                            e.error_code.is_none()
                                && ops.contains(&e.event_name.as_str())
                                && names_key(e)
                        })
                        .map(|e| Usage {
                            location: loc(e),
                            time_millis: e.time_millis,
                            event_name: e.event_name.clone(),
                            event_id: e.event_id.clone(),
                            request_id: e.request_id.clone(),
                        });
                    assert_eq!(
                        index.last_usage(&names, ops).unwrap(),
                        want,
                        "{names:?} {ops:?}"
                    );
                }
                for &(s, e, _) in windows.iter().chain(&[(-1, -1, 0)]) {
                    let (start, end) = (bounds(s), bounds(e));
                    let mut groups: BTreeMap<UsageKey, Aggregate> = BTreeMap::new();
                    for ev in self.live().filter(|ev| names_key(ev)) {
                        if start.is_some_and(|s| ev.time_millis < s)
                            || end.is_some_and(|t| ev.time_millis > t)
                        {
                            continue;
                        }
                        groups
                            .entry((
                                ev.principal.clone(),
                                ev.access_key_id.clone(),
                                ev.event_name.clone(),
                            ))
                            .or_default()
                            .merge(&Aggregate {
                                count: 1,
                                errors: u64::from(ev.error_code.is_some()),
                                first: ev.time_millis,
                                last: ev.time_millis,
                            });
                    }
                    let mut want: Vec<UsageRow> = groups
                        .into_iter()
                        .map(|(key, a)| UsageRow::from_group(key, a))
                        .collect();
                    want.sort_by_key(|r| std::cmp::Reverse(r.last_millis));
                    let got = index.usage_summary(&names, start, end).unwrap();
                    assert_eq!(got, want, "{names:?} [{start:?}, {end:?}]");
                }
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(40))]

        /// The whole index against a brute-force model, in segments of 8 events: random
        /// attributes and times (out of order), insertion in random order and batches
        /// (filling gaps of written segments), a clean restart and a crash (the open
        /// segment lost, re-fed from `next_seq` as the trail does) in between, retention,
        /// a clean reopen and another crash.
        #[test]
        fn the_index_matches_a_brute_force_model(
            specs in proptest::collection::vec(spec(), 1..70),
            chunk in 1usize..12,
            shuffle in 0u8..3,
            reopen_after in 0usize..12,
            crash_after in 0usize..12,
            windows in proptest::collection::vec((0i64..42, 0i64..42, 1usize..7), 1..3),
            cut in 0i64..42,
            crash_after_retention in any::<bool>(),
        ) {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("index");
            let n = specs.len();
            let mut model = Model {
                events: specs.iter().enumerate().map(|(i, s)| model_entry(i as u64, s)).collect(),
                indexed: vec![false; n],
            };
            let mut order: Vec<usize> = (0..n).collect();
            match shuffle {
                0 => {}
                1 => {
                    order.reverse();
                    order.rotate_left(n / 3);
                }
                _ => order.sort_by_key(|&i| (i * 7919) % 31),
            }
            let mut index = EventIndex::open_with(&path, 3).unwrap();
            let refeed = |index: &EventIndex, model: &mut Model| {
                let from = index.next_seq().unwrap() as usize;
                let rest: Vec<IndexedEvent> = model.events.iter().skip(from).cloned().collect();
                for c in rest.chunks(5) {
                    index.insert_batch(c).unwrap();
                }
                for seq in from..n {
                    model.indexed[seq] = true;
                }
            };
            for (c, batch) in order.chunks(chunk).enumerate() {
                let events: Vec<IndexedEvent> = batch.iter().map(|&i| model.events[i].clone()).collect();
                index.insert_batch(&events).unwrap();
                for &i in batch {
                    model.indexed[i] = true;
                }
                if c == reopen_after {
                    // A clean stop: the open segment is written as a partial file, and
                    // later events may fill its gaps.
                    drop(index);
                    index = EventIndex::open_with(&path, 3).unwrap();
                }
                if c == crash_after {
                    let before = index.next_seq().unwrap();
                    std::mem::forget(index);
                    index = EventIndex::open_with(&path, 3).unwrap();
                    prop_assert!(index.next_seq().unwrap() <= before);
                    refeed(&index, &mut model);
                }
            }
            model.check(&index, &windows);
            let high = index.next_seq().unwrap();

            let cut_millis = (T0 + cut) * 1000 + 300;
            let deleted = index.delete_before(cut_millis).unwrap();
            prop_assert_eq!(deleted, model.delete_before(cut_millis));
            prop_assert_eq!(index.delete_before(cut_millis).unwrap(), 0);
            model.check(&index, &windows);
            prop_assert_eq!(index.next_seq().unwrap(), high);

            // After retention, a clean restart or a crash and a re-feed: nothing deleted
            // comes back.
            for crash in [crash_after_retention, true] {
                if crash {
                    std::mem::forget(index);
                } else {
                    drop(index);
                }
                index = EventIndex::open_with(&path, 3).unwrap();
                refeed(&index, &mut model);
                prop_assert_eq!(index.next_seq().unwrap(), high);
                model.check(&index, &windows);
            }
        }
    }

    /// Two events as a pinned segment file and `index.state` (format 1) hold them.
    fn pinned_events() -> Vec<IndexedEvent> {
        let arn = "arn:aws:kms:us-west-2:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";
        vec![
            IndexedEvent {
                seq: 8,
                segment: 0,
                offset: 17,
                time_millis: 1_795_423_632_000,
                event_id: "e1".into(),
                event_name: "Encrypt".into(),
                event_source: KMS_EVENT_SOURCE.into(),
                read_only: true,
                username: Some("alice".into()),
                access_key_id: Some("AKIA1".into()),
                principal: Some("arn:aws:iam::111122223333:user/alice".into()),
                error_code: None,
                request_id: Some("r1".into()),
                resources: vec![
                    (KMS_KEY_RESOURCE_TYPE.into(), arn.into()),
                    (
                        KMS_KEY_RESOURCE_TYPE.into(),
                        "1234abcd-12ab-34cd-56ef-1234567890ab".into(),
                    ),
                ],
            },
            IndexedEvent {
                seq: 10,
                segment: 0,
                offset: 1300,
                time_millis: 1_795_423_631_500,
                event_id: "e2".into(),
                event_name: "CreateKey".into(),
                event_source: KMS_EVENT_SOURCE.into(),
                read_only: false,
                username: None,
                access_key_id: Some("AKIA2".into()),
                principal: None,
                error_code: Some("AccessDeniedException".into()),
                request_id: None,
                resources: Vec::new(),
            },
        ]
    }

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    fn unhex(s: &str) -> Vec<u8> {
        let s: String = s.split_whitespace().collect();
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    const PINNED_SEGMENT: &str = "
         4b41474949445800010003000000000008000000000000000000000000000000
         0b0000000000000003000000020000008c789607a2010000807a9607a2010000
         0c00000002000000d9000000000000000c000000000000000600000000000000
         0000000000000000000000000000000000000000000000000000000000000000
         00000000000000001100000000000000807a9607a20100000000000000000000
         0200000002000000010000000200000003000000040000000600000003000000
         0000000000000000000000000000000000000000000000000000000000000000
         0000000000000000000000000000000000000000000000000000000000000000
         000000000000000014050000000000008c789607a20100000400000000000000
         02000000ffffffff0000000002000000ffffffff05000000ffffffff05000000
         8c789607a2010000807a9607a201000002000000000000000100000009000000
         0000000000000000000000000000000001000000000000000100000007000000
         0900000000000000010000000000000001000000000000000200000011000000
         1000000000000000020000000000000002000000000000000300000005000000
         2100000000000000040000000000000001000000000000000400000005000000
         2600000000000000050000000000000001000000000000000400000005000000
         2b00000000000000060000000000000001000000000000000500000024000000
         3000000000000000070000000000000000000000000000000600000024000000
         540000000000000007000000000000000100000000000000060000004b000000
         780000000000000008000000000000000100000000000000070000000d000000
         c300000000000000090000000000000001000000000000000800000005000000
         d0000000000000000a0000000000000001000000000000000800000004000000
         d5000000000000000b0000000000000001000000000000004372656174654b65
         79456e63727970746b6d732e616d617a6f6e6177732e636f6d616c696365414b
         494131414b49413261726e3a6177733a69616d3a3a3131313132323232333333
         333a757365722f616c69636531323334616263642d313261622d333463642d35
         3665662d31323334353637383930616261726e3a6177733a6b6d733a75732d77
         6573742d323a3131313132323232333333333a6b65792f31323334616263642d
         313261622d333463642d353665662d3132333435363738393061624157533a3a
         4b4d533a3a4b657966616c736574727565020000000000020000000000020000
         00000000000200000083b839b5077b8e08000036ba39b5077c8e080200653172
         316532295b0935";
    const PINNED_STATE: &str = "
         4b4147494958530001000000010000000b000000000000000100000000000000
         08000000000000000000000000000000807a9607a20100005c30aa5d";

    #[test]
    fn segment_format_1_is_pinned() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("index");
        let index = EventIndex::open_with(&path, 3).unwrap();
        index.insert_batch(&pinned_events()).unwrap();
        drop(index);
        let file = path.join(segment::file_name(8, 0));
        let bytes = std::fs::read(&file).unwrap();
        assert_eq!(
            hex(&bytes),
            PINNED_SEGMENT.split_whitespace().collect::<String>()
        );
        // An event of the next segment makes that file a closed one; retention then
        // hides seq 10 by a cutoff in `index.state`.
        let index = EventIndex::open_with(&path, 3).unwrap();
        let later = IndexedEvent {
            seq: 16,
            ..pinned_events()[0].clone()
        };
        index.insert_batch(&[later]).unwrap();
        assert_eq!(index.delete_before(1_795_423_632_000).unwrap(), 1);
        std::mem::forget(index);
        let state = std::fs::read(path.join(STATE_FILE)).unwrap();
        assert_eq!(
            hex(&state),
            PINNED_STATE.split_whitespace().collect::<String>()
        );

        // The pinned bytes decode (as a file of this build would), forever.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("index");
        std::fs::create_dir_all(&path).unwrap();
        std::fs::write(path.join(segment::file_name(8, 0)), unhex(PINNED_SEGMENT)).unwrap();
        let index = EventIndex::open_with(&path, 3).unwrap();
        assert_eq!(index.next_seq().unwrap(), 11);
        let all = index.lookup(&query(None)).unwrap().hits;
        assert_eq!(
            all,
            [
                Location {
                    seq: 10,
                    segment: 0,
                    offset: 1300
                },
                Location {
                    seq: 8,
                    segment: 0,
                    offset: 17
                }
            ]
        );
        let by = |k: AttributeKey, v: &str| seqs(&index, &query(Some((k, v))));
        assert_eq!(
            by(
                AttributeKey::ResourceName,
                "1234abcd-12ab-34cd-56ef-1234567890ab"
            ),
            [8]
        );
        assert_eq!(by(AttributeKey::ReadOnly, "false"), [10]);
        assert_eq!(by(AttributeKey::AccessKeyId, "AKIA2"), [10]);
        assert_eq!(by(AttributeKey::EventId, "e1"), [8]);
        let usage = index
            .last_usage(&["1234abcd-12ab-34cd-56ef-1234567890ab"], &["Encrypt"])
            .unwrap()
            .unwrap();
        assert_eq!(
            (usage.event_id.as_str(), usage.request_id.as_deref()),
            ("e1", Some("r1"))
        );
        let rows = index
            .usage_summary(&["1234abcd-12ab-34cd-56ef-1234567890ab"], None, None)
            .unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(
            rows[0].principal.as_deref(),
            Some("arn:aws:iam::111122223333:user/alice")
        );
        drop(index);
        // And with the pinned state: the cutoff applies to that generation only.
        std::fs::write(path.join(STATE_FILE), unhex(PINNED_STATE)).unwrap();
        let index = EventIndex::open_with(&path, 3).unwrap();
        assert_eq!(seqs(&index, &query(None)), [8]);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]

        /// Damage that the checksum does not catch (the CRC recomputed after changing
        /// bytes) never panics: opening refuses the file, or queries answer (perhaps
        /// wrongly, as the bytes say) or fail with an error.
        #[test]
        fn forged_segment_files_never_panic(
            changes in proptest::collection::vec((any::<proptest::sample::Index>(), any::<u8>()), 1..4),
            cut in proptest::option::of(any::<proptest::sample::Index>()),
        ) {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("index");
            std::fs::create_dir_all(&path).unwrap();
            let mut bytes = unhex(PINNED_SEGMENT);
            bytes.truncate(bytes.len() - 4);
            for (at, value) in &changes {
                let i = at.index(bytes.len());
                bytes[i] = *value;
            }
            if let Some(cut) = cut {
                bytes.truncate(cut.index(bytes.len()));
            }
            let crc = crc32fast::hash(&bytes);
            bytes.extend_from_slice(&crc.to_le_bytes());
            std::fs::write(path.join(segment::file_name(8, 0)), &bytes).unwrap();
            // Twice: as the open segment (read back into memory) and, with a full
            // segment after it, as a file read with positioned reads.
            for later in [false, true] {
                if later {
                    let full = tempfile::tempdir().unwrap();
                    let other = full.path().join("index");
                    let index = EventIndex::open_with(&other, 3).unwrap();
                    let events: Vec<_> = (16..24u64)
                        .map(|seq| IndexedEvent { seq, ..pinned_events()[0].clone() })
                        .collect();
                    index.insert_batch(&events).unwrap();
                    drop(index);
                    for f in segment_files(&other) {
                        std::fs::copy(&f, path.join(f.file_name().unwrap())).unwrap();
                    }
                }
                let Ok(index) = EventIndex::open_with(&path, 3) else {
                    continue;
                };
                let _ = index.next_seq();
                for attribute in [
                    None,
                    Some((AttributeKey::EventId, "e1".to_string())),
                    Some((AttributeKey::ResourceName, "1234abcd-12ab-34cd-56ef-1234567890ab".into())),
                    Some((AttributeKey::EventName, "Encrypt".into())),
                    Some((AttributeKey::ReadOnly, "false".into())),
                ] {
                    let mut q = query(attribute.as_ref().map(|(k, v)| (*k, v.as_str())));
                    q.max_results = 1;
                    q.start_millis = Some(0);
                    if let Ok(page) = index.lookup(&q) {
                        if let Some(t) = page.next_token {
                            q.next_token = Some(t);
                            let _ = index.lookup(&q);
                        }
                    }
                }
                let _ = index.find_event("e2");
                let _ = index.last_usage(&["1234abcd-12ab-34cd-56ef-1234567890ab"], &["Encrypt", "CreateKey"]);
                let _ = index.usage_summary(&["1234abcd-12ab-34cd-56ef-1234567890ab"], None, None);
                let _ = index.delete_before(1_795_423_632_000);
                drop(index);
            }
        }
    }
}
