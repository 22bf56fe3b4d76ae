//! The append-only event log on disk, with group commit and crash recovery.
//!
//! Layout: `<dir>/log-<first seq, 20 digits>.seg` segment files. A segment starts with a
//! 17-byte header `KAGILOG\0 | format 0x01 | first seq (u64 BE)`, followed by records:
//!
//! | bytes | field |
//! |---|---|
//! | 4 | payload length n (u32 BE) |
//! | 8 | sequence number (u64 BE), gap-free from 0 across segments |
//! | n | payload (the event's canonical bytes) |
//! | 32 | leaf hash: SHA-256(0x00 ‖ payload), RFC 6962's Merkle leaf hash |
//!
//! The leaf hash doubles as the record's checksum: recovery accepts a record only if its
//! length, sequence number and hash all check out. An invalid record at the end of the
//! newest segment (a crash mid-write: the group was never synced, so none of it was
//! acknowledged) is cut off and reported in [`Recovered::truncated_bytes`]; anything wrong
//! before that is corruption or tampering and opening fails, naming the segment and offset.
//! Recovery alone cannot tell a torn write from a deliberate truncation of the newest
//! records: the signed checkpoints can (a checkpoint larger than the recovered log means
//! acknowledged events are missing), and the server must check that before serving.
//!
//! Writes go through one writer thread. Appends that arrive while a write is in flight are
//! written together and share one `fdatasync`; each caller's completion runs only after
//! its record is on stable storage. If a write or sync fails (disk full, I/O error), every
//! append of that group fails, the partial bytes are cut off, no sequence number is used
//! up, and [`AuditLog::is_healthy`] turns false until a later group succeeds — the log
//! recovers by itself when the fault clears.
//!
//! Under concurrent load the writer also paces its syncs: while callers have announced
//! appends that are still on their way ([`AuditLog::expect_append`]: a request being
//! served), it waits for them, and while appends keep arriving it waits for the next, at
//! most until [`LogOptions::sync_interval`] after the start of the previous group, so that
//! they share one `fdatasync`. A lone caller is written at once. Every `fdatasync` costs
//! CPU beyond the writer's own (the kernel's block layer and, on a virtual machine, the
//! host's device emulation, charged to the same CPU budget as the guest), so fewer, larger
//! groups leave more of it to the requests (docs/benchmarks.md, "Audit cost").
//!
//! Disk space is reserved ahead: after each group the writer tops the segment up with
//! zero bytes to [`RESERVE`] past its last record, so the next records overwrite space that
//! is already allocated and written. When it cannot, the log reports itself unhealthy
//! *before* any write fails: callers stop starting new work while the records of work
//! already under way still fit in what is reserved. It turns healthy again as soon as a
//! later group can top the reserve up. The reserve is written, not `fallocate`d: records
//! written into unwritten extents made every `fdatasync` wait for the file system's extent
//! conversion worker, which on a busy machine quadrupled its median (docs/benchmarks.md).
//! So the newest segment ends in up to [`RESERVE`] zero bytes after its last record; they
//! are not a record (a zero frame never checks out), readers stop there, recovery and a
//! clean close cut them, and a segment is cut to its last record before the next one is
//! created, so only the newest segment ever has them.
//!
//! Records are read back in order ([`for_each_record_from`], streamed from the first one
//! asked for) or one by one at the location a [`Receipt`] names ([`read_record`]: a segment
//! and a byte offset, with positioned reads, for the lookup index).
//!
//! This module stores bytes; it does not know what an event is, and it does not compute
//! Merkle roots or checkpoints (see `merkle` and `checkpoint`).

use kagi_crypto::digest::Sha256;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

pub(crate) const MAGIC: &[u8; 8] = b"KAGILOG\0";
pub(crate) const FORMAT_V1: u8 = 1;
pub(crate) const HEADER_LEN: u64 = 17;
pub(crate) const RECORD_OVERHEAD: usize = 4 + 8 + 32;
/// Largest payload accepted (an event is a few KiB; this bounds recovery's allocations).
pub const MAX_PAYLOAD: usize = 1 << 20;
/// A new segment starts once the current one reaches this size.
pub const DEFAULT_SEGMENT_BYTES: u64 = 64 << 20;
/// The default [`LogOptions::sync_interval`]: against none, it cut the host's CPU steal by
/// half under load and raised the durable server's throughput at 32 and 128 connections,
/// for a 0.1–0.5 ms longer median; 2 ms cut more steal but cost callers taking turns at
/// 2–8 connections a quarter of their throughput (docs/benchmarks.md, "Audit cost").
pub const DEFAULT_SYNC_INTERVAL: Duration = Duration::from_millis(1);
/// Most appends one group commit writes.
const MAX_GROUP: usize = 1024;
/// How many zero bytes the writer keeps written past the segment's last record.
pub const RESERVE: u64 = 1 << 20;
/// The reserve is topped up once it has shrunk by this much. Each top-up is a second
/// range for the next sync to write, away from the records: every 4 KiB, that was most
/// syncs under load; every 64 KiB it is one group in several, and at equal offered load
/// the durable p50 fell by 0.2–0.4 ms and the p99 by 1.2–8.0 ms in three alternating
/// pairs (docs/benchmarks.md, "Audit cost").
const RESERVE_SLACK: u64 = 64 << 10;

/// Where a durable record landed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Receipt {
    pub seq: u64,
    pub leaf_hash: [u8; 32],
    /// The segment holding the record: its first sequence number (the number in its name).
    pub segment: u64,
    /// Byte offset of the record's length field in that segment; with `segment`, what
    /// [`read_record`] takes.
    pub offset: u64,
}

/// One record as read back, with where it lies (see [`for_each_record_from`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordRef<'a> {
    pub seq: u64,
    /// First sequence number of the segment holding the record.
    pub segment: u64,
    /// Byte offset of the record's length field in the segment.
    pub offset: u64,
    pub payload: &'a [u8],
}

#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error("audit log I/O error: {0}")]
    Io(#[from] std::io::Error),
    #[error("audit log corrupt in {segment} at byte {offset}: {what}")]
    Corrupt {
        segment: PathBuf,
        offset: u64,
        what: &'static str,
    },
    #[error("audit payload of {0} bytes exceeds the limit")]
    TooLarge(usize),
    #[error("the audit log is closed")]
    Closed,
}

/// What [`AuditLog::open`] found on disk.
#[derive(Debug, Default)]
pub struct Recovered {
    /// Leaf hashes of every record, in sequence order (to rebuild the Merkle tree).
    pub leaf_hashes: Vec<[u8; 32]>,
    /// Bytes cut from the end of the newest segment (a torn write), if any; the zero bytes
    /// of the writer's reserve, cut too, are not counted.
    pub truncated_bytes: u64,
}

/// SHA-256(0x00 ‖ payload).
pub fn leaf_hash(payload: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(&[0]);
    h.update(payload);
    h.finish()
}

type Completion = Box<dyn FnOnce(Result<Receipt, LogError>) + Send>;

struct Job {
    payload: Vec<u8>,
    /// `leaf_hash(payload)`, computed by the appending thread: the writer is one thread
    /// on every request's path, so it does no more than write and sync.
    hash: [u8; 32],
    done: Completion,
}

/// How the log writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogOptions {
    /// A new segment starts once the current one reaches this size.
    pub segment_bytes: u64,
    /// How long after the previous group began the writer may hold the next one back for
    /// announced appends (and, an eighth of it at a time, for further arrivals); see
    /// `Queue::next_group`. Zero writes every group at once.
    pub sync_interval: Duration,
}

impl Default for LogOptions {
    fn default() -> Self {
        Self {
            segment_bytes: DEFAULT_SEGMENT_BYTES,
            sync_interval: DEFAULT_SYNC_INTERVAL,
        }
    }
}

/// An append on its way (see [`AuditLog::expect_append`]); dropping it withdraws the
/// announcement. Drop it just before appending, or when no append will come.
#[derive(Debug)]
pub struct ExpectedAppend {
    expected: Arc<AtomicUsize>,
}

impl Drop for ExpectedAppend {
    fn drop(&mut self) {
        self.expected.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The log. Cheap to share (`Arc`); appends from any thread.
pub struct AuditLog {
    jobs: Mutex<Option<Sender<Job>>>,
    writer: Mutex<Option<JoinHandle<()>>>,
    healthy: Arc<AtomicBool>,
    /// Appends announced and not yet made: the writer waits for them (see
    /// [`LogOptions::sync_interval`]).
    expected: Arc<AtomicUsize>,
    dir: PathBuf,
}

impl std::fmt::Debug for AuditLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditLog")
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

fn segment_name(first_seq: u64) -> String {
    format!("log-{first_seq:020}.seg")
}

/// Segment files of `dir` (`log-<first seq>.seg`), ordered by the first sequence number in
/// their names (the offline verifier lists them with this too).
pub(crate) fn segments(dir: &Path) -> std::io::Result<Vec<(u64, PathBuf)>> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        if let Some(first) = name
            .strip_prefix("log-")
            .and_then(|n| n.strip_suffix(".seg"))
            .and_then(|n| n.parse::<u64>().ok())
        {
            found.push((first, path));
        }
    }
    found.sort();
    Ok(found)
}

fn corrupt(segment: &Path, offset: u64, what: &'static str) -> LogError {
    LogError::Corrupt {
        segment: segment.to_path_buf(),
        offset,
        what,
    }
}

/// Checks a segment's header (`HEADER_LEN` bytes): magic, format, and that its first
/// sequence number is the one its name says.
fn check_header(path: &Path, header: &[u8], expected_first: u64) -> Result<(), LogError> {
    if &header[..8] != MAGIC {
        return Err(corrupt(path, 0, "bad segment header"));
    }
    if header[8] != FORMAT_V1 {
        return Err(corrupt(path, 8, "unknown segment format"));
    }
    if header[9..17] != expected_first.to_be_bytes() {
        return Err(corrupt(
            path,
            9,
            "segment's first sequence number does not match its name",
        ));
    }
    Ok(())
}

/// What follows the last valid record of a segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tail {
    /// Nothing: the segment ends with its last record.
    Clean,
    /// Zero bytes only: the writer's reserve.
    Reserve,
    /// Bytes that are not a record: a torn write (in the newest segment) or damage. `bytes`
    /// counts up to the last byte that is not zero.
    Invalid { bytes: u64 },
}

/// A segment as [`scan_segment`] found it.
struct Scan {
    /// Just past the last valid record.
    end: u64,
    /// The sequence number the next record would have.
    next_seq: u64,
    tail: Tail,
}

/// Reads every valid record of one segment, hands each record's leaf hash to `visit`, and
/// says where the records end and what follows them.
fn scan_segment(
    path: &Path,
    expected_first: u64,
    mut visit: impl FnMut([u8; 32]),
) -> Result<Scan, LogError> {
    let mut bytes = Vec::new();
    File::open(path)?.read_to_end(&mut bytes)?;
    if bytes.len() < HEADER_LEN as usize {
        return Err(corrupt(path, 0, "bad segment header"));
    }
    check_header(path, &bytes[..HEADER_LEN as usize], expected_first)?;
    let mut pos = HEADER_LEN as usize;
    let mut next_seq = expected_first;
    while let Some((len, seq)) = frame_at(&bytes[pos..]) {
        let payload = &bytes[pos + 12..pos + 12 + len];
        let mut stored = [0u8; 32];
        stored.copy_from_slice(&bytes[pos + 12 + len..pos + RECORD_OVERHEAD + len]);
        if seq != next_seq || leaf_hash(payload) != stored {
            break;
        }
        visit(stored);
        next_seq += 1;
        pos += RECORD_OVERHEAD + len;
    }
    let rest = &bytes[pos..];
    let tail = match rest.iter().rposition(|b| *b != 0) {
        _ if rest.is_empty() => Tail::Clean,
        None => Tail::Reserve,
        Some(last) => Tail::Invalid {
            bytes: last as u64 + 1,
        },
    };
    Ok(Scan {
        end: pos as u64,
        next_seq,
        tail,
    })
}

/// A record's 12-byte frame: (payload length, sequence number).
pub(crate) fn decode_frame(head: &[u8; 12]) -> (usize, u64) {
    let len = u32::from_be_bytes([head[0], head[1], head[2], head[3]]) as usize;
    let mut seq = [0u8; 8];
    seq.copy_from_slice(&head[4..12]);
    (len, u64::from_be_bytes(seq))
}

/// The frame (payload length, sequence number) of the record at the start of `rest`, if a
/// whole record of that length fits in it.
fn frame_at(rest: &[u8]) -> Option<(usize, u64)> {
    let head: &[u8; 12] = rest.get(..12)?.try_into().ok()?;
    let (len, seq) = decode_frame(head);
    if len > MAX_PAYLOAD || rest.len() < RECORD_OVERHEAD + len {
        return None;
    }
    Some((len, seq))
}

fn create_segment(dir: &Path, first_seq: u64) -> Result<File, LogError> {
    let path = dir.join(segment_name(first_seq));
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)?;
    let mut header = Vec::with_capacity(HEADER_LEN as usize);
    header.extend_from_slice(MAGIC);
    header.push(FORMAT_V1);
    header.extend_from_slice(&first_seq.to_be_bytes());
    f.write_all(&header)?;
    f.sync_all()?;
    crate::durable::sync_dir(dir)?;
    Ok(f)
}

struct Writer {
    dir: PathBuf,
    file: File,
    /// First sequence number of `file` (the number in its name).
    segment: u64,
    /// Offset just past the last durable record of `file`.
    len: u64,
    next_seq: u64,
    segment_bytes: u64,
    /// The length of `file`: the bytes from `len` up to here are the reserve, zeros.
    filled_to: u64,
}

impl AuditLog {
    /// Opens (creating if needed) the log in `dir`, checks every record, cuts a torn tail
    /// from the newest segment, and starts the writer.
    pub fn open(dir: &Path) -> Result<(Self, Recovered), LogError> {
        Self::open_with(dir, LogOptions::default())
    }

    pub fn open_with(dir: &Path, options: LogOptions) -> Result<(Self, Recovered), LogError> {
        std::fs::create_dir_all(dir)?;
        let segs = segments(dir)?;
        let mut recovered = Recovered::default();
        let mut next_seq = 0u64;
        let mut tail: Option<(u64, PathBuf, u64)> = None;
        for (i, (first, path)) in segs.iter().enumerate() {
            if *first != next_seq {
                return Err(corrupt(
                    path,
                    0,
                    "segments do not continue each other (missing or extra records)",
                ));
            }
            let scan = scan_segment(path, *first, |h| recovered.leaf_hashes.push(h))?;
            let last = i + 1 == segs.len();
            // Only the newest segment may end in anything but its last record: the writer
            // cuts a segment's reserve before it starts the next one.
            if scan.tail != Tail::Clean && !last {
                return Err(corrupt(
                    path,
                    scan.end,
                    "invalid record inside a sealed segment",
                ));
            }
            if let Tail::Invalid { bytes } = scan.tail {
                recovered.truncated_bytes = bytes;
            }
            if scan.tail != Tail::Clean {
                let f = OpenOptions::new().write(true).open(path)?;
                f.set_len(scan.end)?;
                f.sync_all()?;
            }
            next_seq = scan.next_seq;
            tail = Some((*first, path.clone(), scan.end));
        }
        let (segment, file, len) = match tail {
            Some((first, path, end)) => {
                let mut f = OpenOptions::new().write(true).open(path)?;
                f.seek(SeekFrom::Start(end))?;
                (first, f, end)
            }
            None => (0, create_segment(dir, 0)?, HEADER_LEN),
        };
        let writer = Writer {
            dir: dir.to_path_buf(),
            file,
            segment,
            len,
            next_seq,
            segment_bytes: options.segment_bytes,
            filled_to: len,
        };
        let healthy = Arc::new(AtomicBool::new(true));
        let expected = Arc::new(AtomicUsize::new(0));
        let (tx, rx) = mpsc::channel::<Job>();
        let queue = Queue {
            jobs: rx,
            expected: expected.clone(),
            sync_interval: options.sync_interval,
        };
        let h = healthy.clone();
        let handle = std::thread::Builder::new()
            .name("kagi-audit-writer".into())
            .spawn(move || writer_loop(writer, queue, h))?;
        Ok((
            Self {
                jobs: Mutex::new(Some(tx)),
                writer: Mutex::new(Some(handle)),
                healthy,
                expected,
                dir: dir.to_path_buf(),
            },
            recovered,
        ))
    }

    /// False after a failed write until a later write succeeds. Callers that must not serve
    /// unaudited refuse requests while it is false.
    pub fn is_healthy(&self) -> bool {
        self.healthy.load(Ordering::SeqCst)
    }

    /// Announces an append that is on its way (a request being served, whose event comes
    /// once it is answered): until the returned value is dropped, the writer may hold a
    /// group back for it, up to [`LogOptions::sync_interval`].
    pub fn expect_append(&self) -> ExpectedAppend {
        self.expected.fetch_add(1, Ordering::Relaxed);
        ExpectedAppend {
            expected: self.expected.clone(),
        }
    }

    /// Queues `payload`; `done` runs on the writer thread once the record is durable (or
    /// the write failed). Never blocks on I/O.
    pub fn append_with(
        &self,
        payload: Vec<u8>,
        done: impl FnOnce(Result<Receipt, LogError>) + Send + 'static,
    ) {
        if payload.len() > MAX_PAYLOAD {
            return done(Err(LogError::TooLarge(payload.len())));
        }
        let job = Job {
            hash: leaf_hash(&payload),
            payload,
            done: Box::new(done),
        };
        let jobs = self.jobs.lock().unwrap_or_else(|e| e.into_inner());
        let Some(sender) = jobs.as_ref() else {
            drop(jobs);
            return (job.done)(Err(LogError::Closed));
        };
        if let Err(mpsc::SendError(job)) = sender.send(job) {
            (job.done)(Err(LogError::Closed));
        }
    }

    /// Appends and waits until the record is durable.
    pub fn append(&self, payload: Vec<u8>) -> Result<Receipt, LogError> {
        let (tx, rx) = mpsc::channel();
        self.append_with(payload, move |r| {
            let _ = tx.send(r);
        });
        rx.recv().map_err(|_| LogError::Closed)?
    }

    /// Every record from `from_seq` on, in order, as (seq, payload).
    pub fn read_from(&self, from_seq: u64) -> Result<Vec<(u64, Vec<u8>)>, LogError> {
        read_dir_from(&self.dir, from_seq)
    }

    /// One record by its location; see [`read_record`].
    pub fn read_record(&self, segment: u64, offset: u64) -> Result<(u64, Vec<u8>), LogError> {
        read_record(&self.dir, segment, offset)
    }

    /// Stops the writer after it has finished everything already queued.
    pub fn close(&self) {
        self.jobs.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(h) = self.writer.lock().unwrap_or_else(|e| e.into_inner()).take() {
            let _ = h.join();
        }
    }
}

impl Drop for AuditLog {
    fn drop(&mut self) {
        self.close();
    }
}

/// Reads the records of a log directory (no writer needed: the offline verifier uses it).
pub fn read_dir_from(dir: &Path, from_seq: u64) -> Result<Vec<(u64, Vec<u8>)>, LogError> {
    let mut out = Vec::new();
    for_each_record_from(dir, from_seq, |r| {
        out.push((r.seq, r.payload.to_vec()));
        true
    })?;
    Ok(out)
}

/// Hands every valid record from `from_seq` on, in order, to `visit`, until it returns
/// false. Streams the segments through a 1 MiB buffer (segments skipped entirely are not
/// opened, records before `from_seq` are stepped over, nothing past the last record
/// visited is read), so memory stays bounded whatever the length of the log. Like recovery, it
/// stops at a torn tail of the newest segment; a record being written concurrently is not
/// visited until it is complete.
pub fn for_each_record_from(
    dir: &Path,
    from_seq: u64,
    mut visit: impl FnMut(RecordRef<'_>) -> bool,
) -> Result<(), LogError> {
    let segs = segments(dir)?;
    for (i, (first, path)) in segs.iter().enumerate() {
        let next_first = segs.get(i + 1).map(|(f, _)| *f);
        if next_first.is_some_and(|n| n <= from_seq) {
            continue;
        }
        if !stream_segment_from(path, *first, from_seq, &mut visit)? {
            break;
        }
    }
    Ok(())
}

/// Streams the records of one segment from `from_seq` on to `visit`, reading only as far
/// as it goes: records before `from_seq` are stepped over by their framing (length and
/// sequence number; not read, not hashed), later ones are read one by one and checked
/// (sequence number and leaf hash) before they are visited. Stops quietly at the first
/// record that does not check out, as [`scan_segment`] does. False once `visit` has asked
/// to stop.
///
/// Reading the whole segment and hashing every record from its start, for each chunk the
/// sealer asked for, made sealing the largest CPU cost of the durable trail.
fn stream_segment_from(
    path: &Path,
    expected_first: u64,
    from_seq: u64,
    visit: &mut impl FnMut(RecordRef<'_>) -> bool,
) -> Result<bool, LogError> {
    use std::io::{BufReader, ErrorKind};
    let mut reader = BufReader::with_capacity(1 << 20, File::open(path)?);
    let mut header = [0u8; HEADER_LEN as usize];
    if let Err(e) = reader.read_exact(&mut header) {
        return match e.kind() {
            ErrorKind::UnexpectedEof => Err(corrupt(path, 0, "bad segment header")),
            _ => Err(e.into()),
        };
    }
    check_header(path, &header, expected_first)?;
    let mut pos = HEADER_LEN;
    let mut next_seq = expected_first;
    let mut record = Vec::new();
    loop {
        let mut frame = [0u8; 12];
        match reader.read_exact(&mut frame) {
            Ok(()) => {}
            // The end of the segment, or a torn tail: nothing more to visit here.
            Err(e) if e.kind() == ErrorKind::UnexpectedEof => return Ok(true),
            Err(e) => return Err(e.into()),
        }
        let (len, seq) = decode_frame(&frame);
        if len > MAX_PAYLOAD || seq != next_seq {
            return Ok(true);
        }
        let body = len + 32;
        if seq < from_seq {
            reader.seek_relative(body as i64)?;
        } else {
            record.resize(body, 0);
            match reader.read_exact(&mut record) {
                Ok(()) => {}
                Err(e) if e.kind() == ErrorKind::UnexpectedEof => return Ok(true),
                Err(e) => return Err(e.into()),
            }
            let (payload, stored) = record.split_at(len);
            if leaf_hash(payload) != stored {
                return Ok(true);
            }
            let visited = RecordRef {
                seq,
                segment: expected_first,
                offset: pos,
                payload,
            };
            if !visit(visited) {
                return Ok(false);
            }
        }
        next_seq += 1;
        pos += (RECORD_OVERHEAD + len) as u64;
    }
}

/// Reads the one record whose length field is at `offset` in the segment whose first
/// sequence number is `segment` (a [`Receipt`]'s or [`RecordRef`]'s location), and returns
/// its (seq, payload). Uses positioned reads of just that record (and the segment header),
/// never the whole file. The segment header, the framing and the leaf hash must all check
/// out; anything else — an offset that is not a record boundary, a record cut short, a
/// changed byte — is [`LogError::Corrupt`]. A missing segment is [`LogError::Io`].
pub fn read_record(dir: &Path, segment: u64, offset: u64) -> Result<(u64, Vec<u8>), LogError> {
    use std::os::unix::fs::FileExt;
    let path = dir.join(segment_name(segment));
    let file = File::open(&path)?;
    let read_at = |buf: &mut [u8], at: u64, what: &'static str| -> Result<(), LogError> {
        file.read_exact_at(buf, at).map_err(|e| {
            if e.kind() == std::io::ErrorKind::UnexpectedEof {
                corrupt(&path, at, what)
            } else {
                LogError::Io(e)
            }
        })
    };
    let mut header = [0u8; HEADER_LEN as usize];
    read_at(&mut header, 0, "bad segment header")?;
    check_header(&path, &header, segment)?;
    if offset < HEADER_LEN {
        return Err(corrupt(
            &path,
            offset,
            "record offset inside the segment header",
        ));
    }
    let mut head = [0u8; 12];
    read_at(
        &mut head,
        offset,
        "record extends past the end of the segment",
    )?;
    let (len, seq) = decode_frame(&head);
    if len > MAX_PAYLOAD {
        return Err(corrupt(&path, offset, "record length exceeds the limit"));
    }
    if seq < segment {
        return Err(corrupt(
            &path,
            offset + 4,
            "record's sequence number precedes its segment",
        ));
    }
    let mut rest = vec![0u8; len + 32];
    read_at(
        &mut rest,
        offset + 12,
        "record extends past the end of the segment",
    )?;
    let stored = rest.split_off(len);
    if leaf_hash(&rest)[..] != stored[..] {
        return Err(corrupt(
            &path,
            offset,
            "record does not match its leaf hash",
        ));
    }
    Ok((seq, rest))
}

/// The writer's side of the appends.
struct Queue {
    jobs: Receiver<Job>,
    expected: Arc<AtomicUsize>,
    sync_interval: Duration,
}

/// When the previous group began, and how many appends it held.
#[derive(Debug, Clone, Copy)]
struct Previous {
    started: Instant,
    len: usize,
}

impl Queue {
    /// The next group, or `None` once the log is closed and everything queued is taken.
    ///
    /// Waits for a first append and takes what is queued behind it. A caller alone (the
    /// previous group and this one hold one append each, and none is announced) is written
    /// at once. Otherwise the writer gathers on, at most until [`LogOptions::sync_interval`]
    /// after the previous group began: while appends are announced it waits for them;
    /// while none is, it waits for further arrivals only an eighth of the interval, so
    /// that a few callers taking turns are not held back once all of them are in.
    ///
    /// While appends are announced, the writer sleeps (an eighth of the interval at a time)
    /// and takes what arrived when it wakes, rather than blocking on the queue: an append
    /// to a sleeping writer is a push, where one to a blocked writer would also cost the
    /// appending thread a system call and the writer a wake-up, for every append.
    fn next_group(&self, previous: Option<Previous>) -> Option<Vec<Job>> {
        let mut group = vec![self.jobs.recv().ok()?];
        let due = previous.map(|p| p.started + self.sync_interval);
        let alone = previous.is_none_or(|p| p.len == 1);
        let linger = self.sync_interval / 8;
        loop {
            if self.take_queued(&mut group) {
                break;
            }
            let left = due.map_or(Duration::ZERO, |d| {
                d.saturating_duration_since(Instant::now())
            });
            let announced = self.expected.load(Ordering::Relaxed) > 0;
            if left.is_zero() || (alone && group.len() == 1 && !announced) {
                break;
            }
            if announced {
                std::thread::sleep(left.min(linger));
                continue;
            }
            match self.jobs.recv_timeout(left.min(linger)) {
                Ok(j) => group.push(j),
                Err(_) => break,
            }
        }
        Some(group)
    }

    /// Moves what is queued into `group`, up to [`MAX_GROUP`]; true once the group cannot
    /// grow (it is full, or the log is closed).
    fn take_queued(&self, group: &mut Vec<Job>) -> bool {
        while group.len() < MAX_GROUP {
            match self.jobs.try_recv() {
                Ok(j) => group.push(j),
                Err(mpsc::TryRecvError::Empty) => return false,
                Err(mpsc::TryRecvError::Disconnected) => return true,
            }
        }
        true
    }
}

fn writer_loop(mut w: Writer, queue: Queue, healthy: Arc<AtomicBool>) {
    healthy.store(w.ensure_reserve(), Ordering::SeqCst);
    let mut previous = None;
    while let Some(group) = queue.next_group(previous) {
        previous = Some(Previous {
            started: Instant::now(),
            len: group.len(),
        });
        match w.write_group(&group) {
            Ok(receipts) => {
                // Healthy only if the next records are sure to fit: decided before the
                // completions run, so no caller starts work the log could not record.
                healthy.store(w.ensure_reserve(), Ordering::SeqCst);
                for (job, r) in group.into_iter().zip(receipts) {
                    (job.done)(Ok(r));
                }
            }
            Err(e) => {
                healthy.store(false, Ordering::SeqCst);
                let msg = e.to_string();
                for job in group {
                    (job.done)(Err(LogError::Io(std::io::Error::other(msg.clone()))));
                }
            }
        }
    }
    // Closed: leave the segment ending with its last record (best effort; recovery cuts the
    // reserve after a crash).
    let _ = w.cut_reserve();
}

impl Writer {
    /// Keeps [`RESERVE`] zero bytes written past the segment's last record, topped up once
    /// [`RESERVE_SLACK`] of them are used; false when that space cannot be had (the disk
    /// is full). Zeros written after a group reach the disk with the next group's sync.
    fn ensure_reserve(&mut self) -> bool {
        use std::os::unix::fs::FileExt;
        static ZEROS: [u8; 64 << 10] = [0; 64 << 10];
        let want = self.len + RESERVE;
        if self.filled_to.saturating_add(RESERVE_SLACK) >= want {
            return true;
        }
        while self.filled_to < want {
            let n = (want - self.filled_to).min(ZEROS.len() as u64) as usize;
            if self.file.write_all_at(&ZEROS[..n], self.filled_to).is_err() {
                return false;
            }
            self.filled_to += n as u64;
        }
        true
    }

    /// Ends the segment with its last record: cuts the reserve and syncs.
    fn cut_reserve(&mut self) -> std::io::Result<()> {
        self.file.set_len(self.len)?;
        self.filled_to = self.len;
        self.file.sync_all()
    }

    /// Writes the group's records and syncs them; on failure, cuts the file back to its
    /// last durable length so no partial record stays behind.
    fn write_group(&mut self, group: &[Job]) -> Result<Vec<Receipt>, LogError> {
        if self.len >= self.segment_bytes {
            // A full segment ends with its last record, durably, before the next exists:
            // only the newest segment may end in a reserve.
            self.cut_reserve()?;
            self.file = create_segment(&self.dir, self.next_seq)?;
            self.segment = self.next_seq;
            self.len = HEADER_LEN;
            self.filled_to = HEADER_LEN;
            // A fresh segment reserves now; if it cannot, the write below says so.
            self.ensure_reserve();
        }
        let mut buf = Vec::with_capacity(
            group
                .iter()
                .map(|j| j.payload.len() + RECORD_OVERHEAD)
                .sum(),
        );
        let mut receipts = Vec::with_capacity(group.len());
        for (i, job) in group.iter().enumerate() {
            let seq = self.next_seq + i as u64;
            let hash = job.hash;
            let offset = self.len + buf.len() as u64;
            buf.extend_from_slice(&(job.payload.len() as u32).to_be_bytes());
            buf.extend_from_slice(&seq.to_be_bytes());
            buf.extend_from_slice(&job.payload);
            buf.extend_from_slice(&hash);
            receipts.push(Receipt {
                seq,
                leaf_hash: hash,
                segment: self.segment,
                offset,
            });
        }
        let result = self
            .file
            .write_all(&buf)
            .and_then(|()| self.file.sync_data());
        if let Err(e) = result {
            // Best effort: if even this fails, recovery at the next start cuts the tail.
            let _ = self.file.set_len(self.len);
            let _ = self.file.seek(SeekFrom::Start(self.len));
            self.filled_to = self.len;
            return Err(e.into());
        }
        self.len += buf.len() as u64;
        self.filled_to = self.filled_to.max(self.len);
        self.next_seq += group.len() as u64;
        Ok(receipts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payload(i: u64) -> Vec<u8> {
        format!("{{\"event\":{i}}}").into_bytes()
    }

    /// Segments of 200 bytes: a few records each.
    fn small_segments() -> LogOptions {
        LogOptions {
            segment_bytes: 200,
            ..LogOptions::default()
        }
    }

    /// Opens the log in `dir`, appends `payload(0..n)` and closes it.
    fn write_closed_log(dir: &Path, n: u64) {
        let (log, _) = AuditLog::open(dir).unwrap();
        for i in 0..n {
            log.append(payload(i)).unwrap();
        }
    }

    /// Appends `bytes` to the file at `path` (what a crash, or tampering, leaves behind).
    fn append_bytes(path: &Path, bytes: &[u8]) {
        let mut f = OpenOptions::new().append(true).open(path).unwrap();
        f.write_all(bytes).unwrap();
    }

    #[test]
    fn appends_are_gap_free_and_survive_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let (log, rec) = AuditLog::open(dir.path()).unwrap();
        assert!(rec.leaf_hashes.is_empty());
        for i in 0..10 {
            let r = log.append(payload(i)).unwrap();
            assert_eq!(r.seq, i);
            assert_eq!(r.leaf_hash, leaf_hash(&payload(i)));
        }
        drop(log);
        let (log, rec) = AuditLog::open(dir.path()).unwrap();
        assert_eq!(rec.leaf_hashes.len(), 10);
        assert_eq!(rec.truncated_bytes, 0);
        assert_eq!(log.append(payload(10)).unwrap().seq, 10);
        let all = log.read_from(0).unwrap();
        assert_eq!(all.len(), 11);
        assert!(all
            .iter()
            .enumerate()
            .all(|(i, (s, p))| *s == i as u64 && *p == payload(i as u64)));
        assert_eq!(log.read_from(7).unwrap().first().map(|r| r.0), Some(7));
    }

    /// A log whose writer may hold a group back for `sync_interval`.
    fn paced(dir: &Path, sync_interval: Duration) -> AuditLog {
        let options = LogOptions {
            sync_interval,
            ..LogOptions::default()
        };
        AuditLog::open_with(dir, options).unwrap().0
    }

    #[test]
    fn a_caller_alone_is_never_held_back() {
        let dir = tempfile::tempdir().unwrap();
        let log = paced(dir.path(), Duration::from_secs(60));
        let started = Instant::now();
        for i in 0..5 {
            assert_eq!(log.append(payload(i)).unwrap().seq, i);
        }
        // Held back, each append after the first would have waited 7.5 s (an eighth of
        // the interval) or a minute.
        assert!(started.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn the_writer_waits_for_an_announced_append_and_syncs_them_together() {
        let dir = tempfile::tempdir().unwrap();
        let log = Arc::new(paced(dir.path(), Duration::from_secs(16)));
        log.append(payload(0)).unwrap();
        let coming = log.expect_append();
        let (tx, rx) = mpsc::channel();
        log.append_with(payload(1), move |r| tx.send(r.map(|r| r.seq)).unwrap());
        // The writer holds record 1 back while record 2 is announced, longer than it
        // would wait for appends nobody announced (an eighth of the interval, 2 s)...
        assert!(rx.recv_timeout(Duration::from_secs(3)).is_err());
        // ...and once it is there, waits 2 s for more, not until the interval is over
        // (13 s from now).
        drop(coming);
        let started = Instant::now();
        assert_eq!(log.append(payload(2)).unwrap().seq, 2);
        assert_eq!(rx.recv().unwrap().unwrap(), 1);
        let waited = started.elapsed();
        assert!(waited >= Duration::from_secs(1), "waited {waited:?}");
        assert!(waited < Duration::from_secs(8), "waited {waited:?}");
    }

    #[test]
    fn an_announced_append_that_never_comes_delays_a_group_by_the_interval_at_most() {
        let dir = tempfile::tempdir().unwrap();
        let log = paced(dir.path(), Duration::from_secs(2));
        log.append(payload(0)).unwrap();
        let _never = log.expect_append();
        let started = Instant::now();
        assert_eq!(log.append(payload(1)).unwrap().seq, 1);
        let waited = started.elapsed();
        assert!(waited >= Duration::from_secs(1), "waited {waited:?}");
        assert!(waited < Duration::from_secs(30), "waited {waited:?}");
    }

    #[test]
    fn concurrent_appends_get_distinct_sequence_numbers() {
        let dir = tempfile::tempdir().unwrap();
        let (log, _) = AuditLog::open(dir.path()).unwrap();
        let log = Arc::new(log);
        let threads: Vec<_> = (0..8)
            .map(|t| {
                let log = log.clone();
                std::thread::spawn(move || {
                    (0..50)
                        .map(|i| log.append(payload(t * 100 + i)).unwrap().seq)
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let mut seqs: Vec<u64> = threads
            .into_iter()
            .flat_map(|t| t.join().unwrap())
            .collect();
        seqs.sort();
        assert_eq!(seqs, (0..400).collect::<Vec<_>>());
    }

    #[test]
    fn segments_roll_over_and_read_back_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let (log, _) = AuditLog::open_with(dir.path(), small_segments()).unwrap();
        for i in 0..30 {
            log.append(payload(i)).unwrap();
        }
        drop(log);
        assert!(segments(dir.path()).unwrap().len() > 3);
        let (log, rec) = AuditLog::open_with(dir.path(), small_segments()).unwrap();
        assert_eq!(rec.leaf_hashes.len(), 30);
        let seqs: Vec<u64> = log
            .read_from(13)
            .unwrap()
            .into_iter()
            .map(|r| r.0)
            .collect();
        assert_eq!(seqs, (13..30).collect::<Vec<_>>());
    }

    #[test]
    fn a_torn_tail_is_cut_and_the_log_continues() {
        let dir = tempfile::tempdir().unwrap();
        write_closed_log(dir.path(), 5);
        let (_, path) = segments(dir.path()).unwrap().pop().unwrap();
        // A crash mid-write: half a record at the end.
        append_bytes(&path, &[0, 0, 0, 40, 0, 0, 0, 0, 0, 0, 0, 5, b'{']);
        let (log, rec) = AuditLog::open(dir.path()).unwrap();
        assert_eq!(rec.leaf_hashes.len(), 5);
        assert_eq!(rec.truncated_bytes, 13);
        assert_eq!(log.append(payload(5)).unwrap().seq, 5);
    }

    /// The bytes of the newest segment of `dir`.
    fn newest_segment(dir: &Path) -> (PathBuf, Vec<u8>) {
        let (_, path) = segments(dir).unwrap().pop().unwrap();
        let bytes = std::fs::read(&path).unwrap();
        (path, bytes)
    }

    #[test]
    fn the_reserve_is_written_zeros_cut_when_the_log_closes() {
        let dir = tempfile::tempdir().unwrap();
        let (log, _) = AuditLog::open(dir.path()).unwrap();
        let mut end = HEADER_LEN;
        for i in 0..5 {
            let r = log.append(payload(i)).unwrap();
            end = r.offset + (RECORD_OVERHEAD + payload(i).len()) as u64;
        }
        let (_, open_bytes) = newest_segment(dir.path());
        assert!(open_bytes.len() as u64 >= end + RESERVE - RESERVE_SLACK);
        assert!(open_bytes[end as usize..].iter().all(|b| *b == 0));
        // Readers stop at the reserve.
        assert_eq!(log.read_from(0).unwrap().len(), 5);
        drop(log);
        let (_, closed_bytes) = newest_segment(dir.path());
        assert_eq!(closed_bytes.len() as u64, end);
        assert_eq!(closed_bytes[..], open_bytes[..end as usize]);
    }

    #[test]
    fn a_reserve_left_by_a_crash_is_cut_and_not_counted_as_torn() {
        let dir = tempfile::tempdir().unwrap();
        write_closed_log(dir.path(), 5);
        let (path, closed) = newest_segment(dir.path());
        append_bytes(&path, &vec![0u8; RESERVE as usize]);
        let (log, rec) = AuditLog::open(dir.path()).unwrap();
        assert_eq!(rec.leaf_hashes.len(), 5);
        assert_eq!(rec.truncated_bytes, 0);
        assert_eq!(log.append(payload(5)).unwrap().seq, 5);
        drop(log);
        // A record torn inside the reserve: its written part is what was cut.
        let (path, _) = newest_segment(dir.path());
        append_bytes(&path, &[0, 0, 0, 40, 0, 0, 0, 0, 0, 0, 0, 6, b'{']);
        append_bytes(&path, &[0u8; 4096]);
        let (log, rec) = AuditLog::open(dir.path()).unwrap();
        assert_eq!(rec.leaf_hashes.len(), 6);
        assert_eq!(rec.truncated_bytes, 13);
        let all = log.read_from(0).unwrap();
        assert_eq!(all.len(), 6);
        assert_eq!(all[5].1, payload(5));
        assert!(std::fs::read(&path).unwrap().starts_with(&closed));
    }

    #[test]
    fn only_the_newest_segment_may_end_in_a_reserve() {
        let dir = tempfile::tempdir().unwrap();
        let (log, _) = AuditLog::open_with(dir.path(), small_segments()).unwrap();
        for i in 0..30 {
            log.append(payload(i)).unwrap();
        }
        // Every full segment was cut to its last record before the next was created.
        let segs = segments(dir.path()).unwrap();
        for (first, path) in &segs[..segs.len() - 1] {
            let scan = scan_segment(path, *first, |_| {}).unwrap();
            assert_eq!(scan.tail, Tail::Clean, "{}", path.display());
        }
        drop(log);
        let (_, first) = segments(dir.path()).unwrap().remove(0);
        append_bytes(&first, &[0u8; 64]);
        let err = AuditLog::open_with(dir.path(), small_segments()).unwrap_err();
        assert!(matches!(err, LogError::Corrupt { .. }), "{err}");
    }

    #[test]
    fn tampering_inside_a_sealed_segment_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let (log, _) = AuditLog::open_with(dir.path(), small_segments()).unwrap();
        for i in 0..30 {
            log.append(payload(i)).unwrap();
        }
        drop(log);
        let (_, first) = segments(dir.path()).unwrap().remove(0);
        let mut bytes = std::fs::read(&first).unwrap();
        let at = HEADER_LEN as usize + 14;
        bytes[at] ^= 1;
        std::fs::write(&first, &bytes).unwrap();
        let err = AuditLog::open_with(dir.path(), small_segments()).unwrap_err();
        assert!(matches!(err, LogError::Corrupt { .. }), "{err}");
    }

    #[test]
    fn a_deleted_segment_is_detected() {
        let dir = tempfile::tempdir().unwrap();
        let (log, _) = AuditLog::open_with(dir.path(), small_segments()).unwrap();
        for i in 0..30 {
            log.append(payload(i)).unwrap();
        }
        drop(log);
        let (_, second) = segments(dir.path()).unwrap().remove(1);
        std::fs::remove_file(second).unwrap();
        let err = AuditLog::open_with(dir.path(), small_segments()).unwrap_err();
        assert!(err.to_string().contains("do not continue"), "{err}");
    }

    #[test]
    fn receipts_locate_records_across_segments_and_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let (log, _) = AuditLog::open_with(dir.path(), small_segments()).unwrap();
        let receipts: Vec<Receipt> = (0..30).map(|i| log.append(payload(i)).unwrap()).collect();
        assert_eq!(receipts[0].segment, 0);
        assert_eq!(receipts[0].offset, HEADER_LEN);
        assert!(receipts.last().unwrap().segment > 0);
        for r in &receipts {
            assert_eq!(
                read_record(dir.path(), r.segment, r.offset).unwrap(),
                (r.seq, payload(r.seq))
            );
            assert_eq!(log.read_record(r.segment, r.offset).unwrap().0, r.seq);
        }
        drop(log);
        // After a restart the scan reports the same locations, and appends continue in
        // the newest segment at the right offsets.
        let (log, _) = AuditLog::open_with(dir.path(), small_segments()).unwrap();
        let mut scanned = Vec::new();
        for_each_record_from(dir.path(), 0, |r| {
            assert_eq!(r.payload, payload(r.seq));
            scanned.push((r.seq, r.segment, r.offset));
            true
        })
        .unwrap();
        let expected: Vec<_> = receipts
            .iter()
            .map(|r| (r.seq, r.segment, r.offset))
            .collect();
        assert_eq!(scanned, expected);
        let next = log.append(payload(30)).unwrap();
        assert_eq!(
            read_record(dir.path(), next.segment, next.offset).unwrap(),
            (30, payload(30))
        );
    }

    #[test]
    fn for_each_record_from_starts_mid_log_and_stops_when_asked() {
        let dir = tempfile::tempdir().unwrap();
        let (log, _) = AuditLog::open_with(dir.path(), small_segments()).unwrap();
        for i in 0..30 {
            log.append(payload(i)).unwrap();
        }
        let mut seen = Vec::new();
        for_each_record_from(dir.path(), 11, |r| {
            seen.push(r.seq);
            r.seq < 20
        })
        .unwrap();
        assert_eq!(seen, (11..=20).collect::<Vec<_>>());
    }

    #[test]
    fn a_scan_from_the_middle_checks_only_what_it_visits() {
        let dir = tempfile::tempdir().unwrap();
        let (log, _) = AuditLog::open(dir.path()).unwrap();
        let receipts: Vec<Receipt> = (0..10).map(|i| log.append(payload(i)).unwrap()).collect();
        drop(log);
        let path = dir.path().join(segment_name(0));
        let flip = |seq: usize| {
            let mut bytes = std::fs::read(&path).unwrap();
            // The first payload byte of record `seq`.
            bytes[receipts[seq].offset as usize + 12] ^= 1;
            std::fs::write(&path, bytes).unwrap();
        };
        let seen_from = |from: u64| {
            let mut seen = Vec::new();
            for_each_record_from(dir.path(), from, |r| {
                assert_eq!(r.payload, payload(r.seq));
                let at = &receipts[r.seq as usize];
                assert_eq!((r.segment, r.offset), (at.segment, at.offset));
                seen.push(r.seq);
                true
            })
            .unwrap();
            seen
        };
        // A record before the start is stepped over by its framing, not read.
        flip(2);
        assert_eq!(seen_from(5), (5..10).collect::<Vec<_>>());
        // One that would be visited is checked: the scan stops before it.
        flip(7);
        assert_eq!(seen_from(5), vec![5, 6]);
        assert_eq!(seen_from(0), vec![0, 1]);
    }

    #[test]
    fn read_record_refuses_anything_but_an_intact_record() {
        let dir = tempfile::tempdir().unwrap();
        let (log, _) = AuditLog::open(dir.path()).unwrap();
        let receipts: Vec<Receipt> = (0..5).map(|i| log.append(payload(i)).unwrap()).collect();
        drop(log);
        let r = receipts[2];
        let is_corrupt =
            |res: Result<(u64, Vec<u8>), LogError>| matches!(res, Err(LogError::Corrupt { .. }));
        // Not a record boundary, inside the header, past the end.
        assert!(is_corrupt(read_record(dir.path(), 0, r.offset + 1)));
        assert!(is_corrupt(read_record(dir.path(), 0, 3)));
        assert!(is_corrupt(read_record(dir.path(), 0, 1 << 20)));
        // No such segment.
        assert!(matches!(
            read_record(dir.path(), 7, r.offset),
            Err(LogError::Io(_))
        ));
        // One changed payload byte.
        let (_, path) = segments(dir.path()).unwrap().remove(0);
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[r.offset as usize + 12] ^= 1;
        std::fs::write(&path, &bytes).unwrap();
        let err = read_record(dir.path(), 0, r.offset).unwrap_err();
        assert!(err.to_string().contains("leaf hash"), "{err}");
        // Its neighbours still read.
        assert_eq!(read_record(dir.path(), 0, receipts[3].offset).unwrap().0, 3);
        // A record cut short at the end of the file.
        let last = receipts[4];
        std::fs::write(&path, &bytes[..bytes.len() - 1]).unwrap();
        let err = read_record(dir.path(), 0, last.offset).unwrap_err();
        assert!(err.to_string().contains("past the end"), "{err}");
        // A segment whose header names another first sequence number.
        bytes[16] ^= 1;
        std::fs::write(&path, &bytes).unwrap();
        assert!(is_corrupt(read_record(dir.path(), 0, r.offset)));
    }

    #[test]
    fn oversized_payloads_are_refused_without_a_sequence_number() {
        let dir = tempfile::tempdir().unwrap();
        let (log, _) = AuditLog::open(dir.path()).unwrap();
        assert!(matches!(
            log.append(vec![0; MAX_PAYLOAD + 1]),
            Err(LogError::TooLarge(_))
        ));
        assert_eq!(log.append(payload(0)).unwrap().seq, 0);
    }
}
