//! The offline verifier core: checks a copied log directory without the server or the
//! network, in one streaming pass, and reports every problem with its place.
//!
//! [`verify_log_dir`] reads the segment files of [`crate::log`] in order, one record at a
//! time through a buffered reader (memory stays bounded whatever the log's size), and checks:
//!
//! - each segment's header (magic, format) and that its first sequence number matches its
//!   file name;
//! - each record's framing (length, sequence number, payload, leaf hash); an unreadable
//!   end of a segment is reported with its offset and length;
//! - that sequence numbers run gap-free from 0 across all segments: missing records
//!   (deleted records or segments), records that come after higher ones (reordering),
//!   records whose number was already used (insertions, duplicates) and a single altered
//!   number (the number is outside the leaf hash) are told apart;
//! - each record's stored leaf hash against `SHA-256(0x00 ‖ payload)`;
//! - optionally ([`Options::parse_events`]) that each payload parses as a
//!   [`CloudTrailEvent`];
//! - against a pinned signed checkpoint ([`Pinned::Checkpoint`], whose signature is checked
//!   first): that the log reaches the checkpoint's tree size (truncation of the newest
//!   events is the hole in CloudTrail's `validate-logs`), and that the RFC 6962 root of the
//!   first `size` records, in file order, equals the signed root. The root is folded
//!   incrementally from a frontier of at most 64 subtree roots, never from a stored tree.
//!
//! What it does not check: records after the checkpoint's size are only checked for
//! structure (a forged record appended with the right number and hash past the last
//! checkpoint is indistinguishable from a real one; pin a newer checkpoint to cover it);
//! consistency between two checkpoints ([`crate::merkle::verify_consistency`]); and the
//! sealed CloudTrail log files and digest files, which are a later step.

use crate::checkpoint::{Checkpoint, CheckpointError};
use crate::event::CloudTrailEvent;
use crate::log::{self, decode_frame, leaf_hash, FORMAT_V1, HEADER_LEN, MAGIC, MAX_PAYLOAD};
use crate::merkle::{empty_root, node_hash, Hash};
use kagi_crypto::digest::hex;
use std::collections::BTreeMap;
use std::fmt;
use std::fs::File;
use std::io::{BufReader, ErrorKind, Read};
use std::path::{Path, PathBuf};

const RECORD_OVERHEAD: u64 = log::RECORD_OVERHEAD as u64;
const READ_BUFFER: usize = 1 << 20;

/// What the log is checked against.
#[derive(Debug, Clone, Copy)]
pub enum Pinned<'a> {
    /// A signed checkpoint note and the verifier key string that must have signed it
    /// (`<name>+<key id>+<base64 key>`, see [`crate::checkpoint::verifier_key`]).
    Checkpoint {
        note: &'a str,
        verifier_key: &'a str,
    },
    /// Nothing: a structure-only check, which cannot see truncation of the newest events
    /// or a consistent rewrite of the log.
    Nothing,
}

/// Optional checks.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// Also parse every payload as a [`CloudTrailEvent`].
    pub parse_events: bool,
}

/// A place in the log: a segment file and a byte offset inside it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    pub segment: PathBuf,
    pub offset: u64,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at byte {}", self.segment.display(), self.offset)
    }
}

/// One thing wrong with the log, with where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// The directory or a segment could not be read.
    Io {
        path: PathBuf,
        kind: ErrorKind,
        message: String,
    },
    /// The pinned checkpoint was not accepted (malformed, or not signed by the pinned key).
    CheckpointRejected(CheckpointError),
    /// A segment header that is short, has the wrong magic or an unknown format; the
    /// segment's records are skipped.
    BadHeader {
        segment: PathBuf,
        what: &'static str,
    },
    /// The header's first sequence number differs from the one in the file name.
    NameMismatch {
        segment: PathBuf,
        name_first_seq: u64,
        header_first_seq: u64,
    },
    /// Bytes at the end of a segment that do not frame a record: a torn write from a
    /// crash (in the newest segment; never acknowledged), or appended garbage.
    UnreadableTail { at: Location, bytes: u64 },
    /// A record whose stored leaf hash is not the hash of its payload: a modified record.
    HashMismatch { at: Location, seq: u64 },
    /// Records `first..=last` never appear: deleted records, or a deleted segment when
    /// `at` is the start of a segment. `at` is the record read where they were expected.
    MissingRecords { at: Location, first: u64, last: u64 },
    /// Record `seq` comes after record `after`: the records were reordered.
    Reordered { at: Location, seq: u64, after: u64 },
    /// A record in the right place whose sequence number was altered (the records before
    /// and after it are numbered `expected - 1` and `expected + 1`).
    WrongSequenceNumber {
        at: Location,
        seq: u64,
        expected: u64,
    },
    /// A record whose sequence number was already used: an inserted or duplicated record.
    UnexpectedRecord {
        at: Location,
        seq: u64,
        expected: u64,
    },
    /// A payload that is not a CloudTrail event (only with [`Options::parse_events`]).
    NotAnEvent {
        at: Location,
        seq: u64,
        error: String,
    },
    /// The log ends before the pinned checkpoint's size: the newest events were removed.
    /// `end` is where the log ends (`None` when there is no segment at all).
    Truncated {
        end: Option<Location>,
        records: u64,
        checkpoint_size: u64,
    },
    /// The root of the first `tree_size` records differs from the signed root: records
    /// were inserted, removed, reordered or rewritten consistently. `at` is just past
    /// record `tree_size - 1` (`None` for the empty tree).
    RootMismatch {
        at: Option<Location>,
        tree_size: u64,
        signed: Hash,
        computed: Hash,
    },
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::Io {
                path,
                kind,
                message,
            } => write!(f, "cannot read {}: {message} ({kind:?})", path.display()),
            Problem::CheckpointRejected(e) => write!(f, "pinned checkpoint rejected: {e}"),
            Problem::BadHeader { segment, what } => {
                write!(f, "{}: {what}; its records were skipped", segment.display())
            }
            Problem::NameMismatch {
                segment,
                name_first_seq,
                header_first_seq,
            } => write!(
                f,
                "{}: the header says the segment starts at record {header_first_seq}, \
                 its name says {name_first_seq}",
                segment.display()
            ),
            Problem::UnreadableTail { at, bytes } => write!(
                f,
                "{at}: {bytes} bytes that are not a record (a torn write or appended garbage)"
            ),
            Problem::HashMismatch { at, seq } => write!(
                f,
                "{at}: record {seq} was modified (its leaf hash does not match its payload)"
            ),
            Problem::MissingRecords { at, first, last } => {
                let what = if first == last {
                    format!("record {first} is missing")
                } else {
                    format!("records {first} to {last} are missing")
                };
                let hint = if at.offset == HEADER_LEN {
                    " (a deleted segment?)"
                } else {
                    ""
                };
                write!(f, "{at}: {what}{hint}")
            }
            Problem::Reordered { at, seq, after } => {
                write!(
                    f,
                    "{at}: record {seq} comes after record {after} (reordered)"
                )
            }
            Problem::WrongSequenceNumber { at, seq, expected } => write!(
                f,
                "{at}: the record in the place of record {expected} is numbered {seq} \
                 (its sequence number was altered)"
            ),
            Problem::UnexpectedRecord { at, seq, expected } => write!(
                f,
                "{at}: record number {seq} where {expected} was expected; \
                 {seq} was already used (an inserted or duplicated record)"
            ),
            Problem::NotAnEvent { at, seq, error } => {
                write!(f, "{at}: record {seq} is not a CloudTrail event: {error}")
            }
            Problem::Truncated {
                end,
                records,
                checkpoint_size,
            } => {
                let place = end
                    .as_ref()
                    .map_or_else(|| "no segments".to_owned(), ToString::to_string);
                write!(
                    f,
                    "{place}: the log ends after {records} records but the signed checkpoint \
                     covers {checkpoint_size}: the newest events were removed"
                )
            }
            Problem::RootMismatch {
                at,
                tree_size,
                signed,
                computed,
            } => {
                let place = at
                    .as_ref()
                    .map_or_else(|| "empty log".to_owned(), ToString::to_string);
                write!(
                    f,
                    "{place}: the root of the first {tree_size} records is {} but the signed \
                     checkpoint says {}",
                    hex(computed),
                    hex(signed)
                )
            }
        }
    }
}

/// The outcome of a verification.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// Records read (every framed record, valid or not).
    pub records: u64,
    /// Bytes of segment files read.
    pub bytes: u64,
    /// True when a pinned checkpoint's signature verified.
    pub checkpoint_verified: bool,
    /// Everything found wrong, in the order found; missing records come last, once the
    /// whole log has shown that they do not turn up later.
    pub problems: Vec<Problem>,
}

impl Report {
    /// No problem found. With [`Pinned::Nothing`] this only means the structure is sound.
    pub fn is_ok(&self) -> bool {
        self.problems.is_empty()
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{} records, {} bytes, checkpoint {}: {}",
            self.records,
            self.bytes,
            if self.checkpoint_verified {
                "verified"
            } else {
                "not verified"
            },
            if self.is_ok() { "OK" } else { "PROBLEMS" }
        )?;
        for p in &self.problems {
            writeln!(f, "- {p}")?;
        }
        Ok(())
    }
}

/// RFC 6962 root folded incrementally: the roots of the complete subtrees that make up the
/// leaves so far, largest first (one per set bit of `size`, so at most 64).
#[derive(Debug, Default)]
struct Frontier {
    size: u64,
    subtrees: Vec<Hash>,
}

impl Frontier {
    fn push(&mut self, leaf: Hash) {
        let mut h = leaf;
        let mut n = self.size;
        while n & 1 == 1 {
            // Invariant: one subtree per set bit of `size`, so a set bit has a subtree.
            let Some(left) = self.subtrees.pop() else {
                break;
            };
            h = node_hash(&left, &h);
            n >>= 1;
        }
        self.subtrees.push(h);
        self.size += 1;
    }

    fn root(&self) -> Hash {
        let mut iter = self.subtrees.iter().rev();
        let Some(first) = iter.next() else {
            return empty_root();
        };
        iter.fold(*first, |acc, left| node_hash(left, &acc))
    }
}

/// Sequence-number bookkeeping: the next number expected, and the numbers skipped so far
/// (so that a skipped number appearing later reads as reordering, not insertion).
///
/// A record numbered above the expected number is decided one record later: if the next
/// record carries the number right after the expected one, only that record's number was
/// altered (the sequence number is outside the leaf hash), and one problem says so
/// instead of a gap followed by every later record reading as reordered.
#[derive(Debug, Default)]
struct Sequence {
    expected: u64,
    /// Skipped ranges: first -> (last, where the skip was noticed).
    missing: BTreeMap<u64, (u64, Location)>,
    /// A record numbered above `expected`, not yet decided.
    ahead: Option<(u64, Location)>,
}

impl Sequence {
    fn record(&mut self, seq: u64, at: &Location, problems: &mut Vec<Problem>) {
        if let Some((ahead, ahead_at)) = self.ahead.take() {
            if Some(seq) == self.expected.checked_add(1) {
                problems.push(Problem::WrongSequenceNumber {
                    at: ahead_at,
                    seq: ahead,
                    expected: self.expected,
                });
                self.expected = seq;
            } else {
                self.skip_to(ahead, ahead_at);
            }
        }
        if seq == self.expected {
            self.expected = seq.saturating_add(1);
        } else if seq > self.expected {
            self.ahead = Some((seq, at.clone()));
        } else if let Some((&first, &(last, _))) = self
            .missing
            .range(..=seq)
            .next_back()
            .filter(|(_, (last, _))| *last >= seq)
        {
            if let Some((_, noticed)) = self.missing.remove(&first) {
                if first < seq {
                    self.missing.insert(first, (seq - 1, noticed.clone()));
                }
                if seq < last {
                    self.missing.insert(seq + 1, (last, noticed));
                }
            }
            problems.push(Problem::Reordered {
                at: at.clone(),
                seq,
                after: self.expected - 1,
            });
        } else {
            problems.push(Problem::UnexpectedRecord {
                at: at.clone(),
                seq,
                expected: self.expected,
            });
        }
    }

    /// Records `expected..seq` were skipped; `seq` was read at `at`.
    fn skip_to(&mut self, seq: u64, at: Location) {
        self.missing.insert(self.expected, (seq - 1, at));
        self.expected = seq.saturating_add(1);
    }

    /// The end of the log: an undecided record ahead is a gap.
    fn finish(&mut self) {
        if let Some((ahead, at)) = self.ahead.take() {
            self.skip_to(ahead, at);
        }
    }
}

/// Where the run of zero bytes that ends a file of `len` bytes starts (`len` when it does
/// not end in a zero byte). Reads backwards from the end, only as far as the run goes.
fn zeros_from(file: &File, len: u64) -> std::io::Result<u64> {
    use std::os::unix::fs::FileExt;
    let mut buf = vec![0u8; 64 << 10];
    let mut end = len;
    while end > 0 {
        let start = end.saturating_sub(buf.len() as u64);
        let chunk = &mut buf[..(end - start) as usize];
        file.read_exact_at(chunk, start)?;
        if let Some(last) = chunk.iter().rposition(|b| *b != 0) {
            return Ok(start + last as u64 + 1);
        }
        end = start;
    }
    Ok(0)
}

fn io_problem(path: &Path, e: &std::io::Error) -> Problem {
    Problem::Io {
        path: path.to_path_buf(),
        kind: e.kind(),
        message: e.to_string(),
    }
}

/// Verifies the log in `dir` against `pinned`, parsing every payload as an event.
pub fn verify_log_dir(dir: &Path, pinned: &Pinned<'_>) -> Report {
    verify_log_dir_with(dir, pinned, Options { parse_events: true })
}

/// [`verify_log_dir`] with explicit [`Options`].
pub fn verify_log_dir_with(dir: &Path, pinned: &Pinned<'_>, options: Options) -> Report {
    let mut v = Verifier {
        report: Report::default(),
        options,
        checkpoint: None,
        frontier: Frontier::default(),
        sequence: Sequence::default(),
        payload: Vec::new(),
        end: None,
    };
    if let Pinned::Checkpoint { note, verifier_key } = *pinned {
        match Checkpoint::parse_and_verify(note, verifier_key) {
            Ok(c) => {
                v.report.checkpoint_verified = true;
                v.checkpoint = Some(c);
            }
            Err(e) => v.report.problems.push(Problem::CheckpointRejected(e)),
        }
    }
    if let Some(c) = &v.checkpoint {
        if c.size() == 0 && *c.root() != empty_root() {
            v.report.problems.push(Problem::RootMismatch {
                at: None,
                tree_size: 0,
                signed: *c.root(),
                computed: empty_root(),
            });
        }
    }
    match log::segments(dir) {
        Ok(segs) => {
            for (i, (name_first, path)) in segs.iter().enumerate() {
                v.segment(*name_first, path, i + 1 == segs.len());
            }
        }
        Err(e) => v.report.problems.push(io_problem(dir, &e)),
    }
    v.finish()
}

struct Verifier {
    report: Report,
    options: Options,
    checkpoint: Option<Checkpoint>,
    frontier: Frontier,
    sequence: Sequence,
    /// Reused payload buffer.
    payload: Vec<u8>,
    /// Just past the last byte read of the last segment.
    end: Option<Location>,
}

/// How reading one record ended.
enum Next {
    Record,
    End,
    Unreadable,
}

impl Verifier {
    /// Checks one segment; `newest` when no segment follows it, the only one that may end
    /// in the writer's reserve of zero bytes.
    fn segment(&mut self, name_first: u64, path: &Path, newest: bool) {
        let file_len = match std::fs::metadata(path) {
            Ok(m) => m.len(),
            Err(e) => return self.report.problems.push(io_problem(path, &e)),
        };
        let file = match File::open(path) {
            Ok(f) => f,
            Err(e) => return self.report.problems.push(io_problem(path, &e)),
        };
        let zeros_from = match zeros_from(&file, file_len) {
            Ok(z) => z.max(HEADER_LEN.min(file_len)),
            Err(e) => return self.report.problems.push(io_problem(path, &e)),
        };
        let mut r = BufReader::with_capacity(READ_BUFFER, file);
        let mut header = [0u8; HEADER_LEN as usize];
        if let Err(e) = r.read_exact(&mut header) {
            let problem = if e.kind() == ErrorKind::UnexpectedEof {
                Problem::BadHeader {
                    segment: path.to_path_buf(),
                    what: "the segment is shorter than its header",
                }
            } else {
                io_problem(path, &e)
            };
            self.report.bytes += file_len;
            return self.report.problems.push(problem);
        }
        if &header[..8] != MAGIC || header[8] != FORMAT_V1 {
            self.report.bytes += file_len;
            return self.report.problems.push(Problem::BadHeader {
                segment: path.to_path_buf(),
                what: if &header[..8] != MAGIC {
                    "not a Kagi log segment (bad magic)"
                } else {
                    "unknown segment format"
                },
            });
        }
        let mut first = [0u8; 8];
        first.copy_from_slice(&header[9..17]);
        let header_first = u64::from_be_bytes(first);
        if header_first != name_first {
            self.report.problems.push(Problem::NameMismatch {
                segment: path.to_path_buf(),
                name_first_seq: name_first,
                header_first_seq: header_first,
            });
        }
        let mut offset = HEADER_LEN;
        loop {
            let at = Location {
                segment: path.to_path_buf(),
                offset,
            };
            if offset >= zeros_from && offset < file_len {
                // Zero bytes only from here on: the writer's reserve, which only the newest
                // segment may have.
                if !newest {
                    self.report.problems.push(Problem::UnreadableTail {
                        bytes: file_len - offset,
                        at,
                    });
                }
                break;
            }
            // Only the newest segment's reserve can cut a record short; in an older segment
            // a record that does not match its hash was modified, wherever it ends.
            let reserve_from = if newest { zeros_from } else { u64::MAX };
            match self.record(&mut r, file_len - offset.min(file_len), reserve_from, &at) {
                Ok((Next::Record, len)) => offset += len,
                Ok((Next::End, _)) => break,
                Ok((Next::Unreadable, _)) => {
                    let data_end = if newest { zeros_from } else { file_len };
                    self.report.problems.push(Problem::UnreadableTail {
                        bytes: data_end.saturating_sub(offset),
                        at,
                    });
                    offset = file_len;
                    break;
                }
                Err(e) => {
                    self.report.problems.push(io_problem(path, &e));
                    break;
                }
            }
        }
        self.report.bytes += file_len;
        self.end = Some(Location {
            segment: path.to_path_buf(),
            offset,
        });
    }

    /// Reads and checks one record at `at`, with `remaining` bytes left in the file, whose
    /// reserve (zeros only) starts at `reserve_from`. Returns how it ended and the record's
    /// length. A record that runs into the reserve and does not match its hash was cut
    /// short by it (a torn write): it is not a record.
    fn record(
        &mut self,
        r: &mut impl Read,
        remaining: u64,
        reserve_from: u64,
        at: &Location,
    ) -> std::io::Result<(Next, u64)> {
        if remaining == 0 {
            return Ok((Next::End, 0));
        }
        if remaining < RECORD_OVERHEAD {
            return Ok((Next::Unreadable, 0));
        }
        let mut head = [0u8; 12];
        r.read_exact(&mut head)?;
        let (len, seq) = decode_frame(&head);
        let len = len as u64;
        if len > MAX_PAYLOAD as u64 || remaining < RECORD_OVERHEAD + len {
            return Ok((Next::Unreadable, 0));
        }
        // `len` ≤ MAX_PAYLOAD, so this fits in memory and in usize.
        self.payload.resize(len as usize, 0);
        r.read_exact(&mut self.payload)?;
        let mut stored = [0u8; 32];
        r.read_exact(&mut stored)?;
        let computed = leaf_hash(&self.payload);
        if computed != stored && at.offset + RECORD_OVERHEAD + len > reserve_from {
            return Ok((Next::Unreadable, 0));
        }

        self.report.records += 1;
        self.sequence.record(seq, at, &mut self.report.problems);
        if computed != stored {
            self.report.problems.push(Problem::HashMismatch {
                at: at.clone(),
                seq,
            });
        }
        if self.options.parse_events {
            if let Err(e) = CloudTrailEvent::parse(&self.payload) {
                self.report.problems.push(Problem::NotAnEvent {
                    at: at.clone(),
                    seq,
                    error: e.to_string(),
                });
            }
        }
        self.frontier.push(computed);
        let record_len = RECORD_OVERHEAD + len;
        if let Some(c) = &self.checkpoint {
            if self.frontier.size == c.size() {
                let computed = self.frontier.root();
                if computed != *c.root() {
                    self.report.problems.push(Problem::RootMismatch {
                        at: Some(Location {
                            segment: at.segment.clone(),
                            offset: at.offset + record_len,
                        }),
                        tree_size: c.size(),
                        signed: *c.root(),
                        computed,
                    });
                }
            }
        }
        Ok((Next::Record, record_len))
    }

    fn finish(mut self) -> Report {
        self.sequence.finish();
        // Skipped numbers that never turned up are missing.
        for (first, (last, at)) in std::mem::take(&mut self.sequence.missing) {
            self.report
                .problems
                .push(Problem::MissingRecords { at, first, last });
        }
        if let Some(c) = &self.checkpoint {
            if self.sequence.expected < c.size() {
                self.report.problems.push(Problem::Truncated {
                    end: self.end.clone(),
                    records: self.sequence.expected,
                    checkpoint_size: c.size(),
                });
            }
        }
        self.report
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkpoint::{verifier_key, KeyName};
    use crate::log::{AuditLog, LogOptions};
    use crate::merkle::MerkleTree;
    use kagi_crypto::{DeterministicRng, Ed25519SigningKey};
    use std::io::Write;

    /// A compact CloudTrail event (a GenerateDataKey call), about 1 KiB.
    fn event(i: u64) -> Vec<u8> {
        format!(
            concat!(
                r#"{{"eventVersion":"1.11","userIdentity":{{"type":"IAMUser","principalId":"alice","#,
                r#""arn":"arn:aws:iam::111122223333:user/alice","accountId":"111122223333","#,
                r#""accessKeyId":"AKIAKAGIEXAMPLE00001","userName":"alice"}},"#,
                r#""eventTime":"2026-11-23T08:47:12Z","eventSource":"kms.amazonaws.com","#,
                r#""eventName":"GenerateDataKey","awsRegion":"us-west-2","sourceIPAddress":"192.0.2.10","#,
                r#""userAgent":"aws-sdk-rust/1.3.0 os/linux lang/rust/1.83.0","#,
                r#""requestParameters":{{"encryptionContext":{{"Department":"Engineering","Project":"Alpha"}},"#,
                r#""keyId":"arn:aws:kms:us-west-2:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab","#,
                r#""keySpec":"AES_256"}},"responseElements":null,"#,
                r#""requestID":"0e9c8f2a-5d6b-4c3e-9a1f-{i:012x}","#,
                r#""eventID":"5b1d2f3e-4a6c-4e8d-9f0a-{i:012x}","readOnly":true,"#,
                r#""resources":[{{"accountId":"111122223333","type":"AWS::KMS::Key","#,
                r#""ARN":"arn:aws:kms:us-west-2:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"}}],"#,
                r#""eventType":"AwsApiCall","managementEvent":true,"recipientAccountId":"111122223333","#,
                r#""eventCategory":"Management"}}"#
            ),
            i = i
        )
        .into_bytes()
    }

    struct Signer {
        name: KeyName,
        key: Ed25519SigningKey,
    }

    impl Signer {
        fn new(seed: u64) -> Self {
            Self {
                name: KeyName::new("kagi.test/audit").unwrap(),
                key: Ed25519SigningKey::generate(&DeterministicRng::dangerous_for_tests_only(seed))
                    .unwrap(),
            }
        }
        fn verifier(&self) -> String {
            verifier_key(&self.name, &self.key.public_key())
        }
        fn sign(&self, size: u64, root: Hash) -> String {
            Checkpoint::new("kagi.test/audit", size, root)
                .unwrap()
                .sign(&self.name, &self.key)
        }
        /// A checkpoint over the first `size` events `0..`.
        fn checkpoint(&self, size: u64) -> String {
            let tree = MerkleTree::from_leaf_hashes((0..size).map(|i| leaf_hash(&event(i))));
            self.sign(size, tree.root(size).unwrap())
        }
    }

    /// Writes events `0..n` with the given segment size; returns the segment paths.
    fn write_log(dir: &Path, n: u64, segment_bytes: u64) -> Vec<PathBuf> {
        let (log, _) = AuditLog::open_with(
            dir,
            LogOptions {
                segment_bytes,
                ..LogOptions::default()
            },
        )
        .unwrap();
        for i in 0..n {
            log.append(event(i)).unwrap();
        }
        drop(log);
        log::segments(dir)
            .unwrap()
            .into_iter()
            .map(|(_, p)| p)
            .collect()
    }

    /// (seq, payload, stored hash) of every record of a segment.
    type Rec = (u64, Vec<u8>, Hash);

    fn read_segment(path: &Path) -> (u64, Vec<Rec>) {
        let bytes = std::fs::read(path).unwrap();
        let first = u64::from_be_bytes(bytes[9..17].try_into().unwrap());
        let mut pos = HEADER_LEN as usize;
        let mut out = Vec::new();
        while pos < bytes.len() {
            let len = u32::from_be_bytes(bytes[pos..pos + 4].try_into().unwrap()) as usize;
            let seq = u64::from_be_bytes(bytes[pos + 4..pos + 12].try_into().unwrap());
            let payload = bytes[pos + 12..pos + 12 + len].to_vec();
            let hash = bytes[pos + 12 + len..pos + 44 + len].try_into().unwrap();
            out.push((seq, payload, hash));
            pos += 44 + len;
        }
        (first, out)
    }

    fn write_segment(path: &Path, first: u64, records: &[Rec]) {
        let mut bytes = MAGIC.to_vec();
        bytes.push(FORMAT_V1);
        bytes.extend_from_slice(&first.to_be_bytes());
        for (seq, payload, hash) in records {
            bytes.extend_from_slice(&(payload.len() as u32).to_be_bytes());
            bytes.extend_from_slice(&seq.to_be_bytes());
            bytes.extend_from_slice(payload);
            bytes.extend_from_slice(hash);
        }
        std::fs::write(path, bytes).unwrap();
    }

    /// Offset of record `index` in a segment with these records.
    fn offset_of(records: &[Rec], index: usize) -> u64 {
        HEADER_LEN
            + records[..index]
                .iter()
                .map(|r| RECORD_OVERHEAD + r.1.len() as u64)
                .sum::<u64>()
    }

    fn at(segment: &Path, offset: u64) -> Location {
        Location {
            segment: segment.to_path_buf(),
            offset,
        }
    }

    fn file_len(path: &Path) -> u64 {
        std::fs::metadata(path).unwrap().len()
    }

    fn verify(dir: &Path, signer: &Signer, size: u64) -> Report {
        let note = signer.checkpoint(size);
        let key = signer.verifier();
        verify_log_dir(
            dir,
            &Pinned::Checkpoint {
                note: &note,
                verifier_key: &key,
            },
        )
    }

    /// The RFC 6962 root of the first `size` payloads.
    fn root_of(payloads: &[Vec<u8>], size: usize) -> Hash {
        let tree = MerkleTree::from_leaf_hashes(payloads[..size].iter().map(|p| leaf_hash(p)));
        tree.root(size as u64).unwrap()
    }

    #[test]
    fn the_frontier_root_matches_the_merkle_tree() {
        let mut tree = MerkleTree::new();
        let mut frontier = Frontier::default();
        assert_eq!(frontier.root(), tree.root(0).unwrap());
        for i in 0..300u64 {
            let h = leaf_hash(&i.to_be_bytes());
            tree.append(h);
            frontier.push(h);
            assert_eq!(frontier.root(), tree.root(i + 1).unwrap(), "size {}", i + 1);
        }
    }

    #[test]
    fn a_clean_log_verifies_against_the_latest_and_an_earlier_checkpoint() {
        let dir = tempfile::tempdir().unwrap();
        let segs = write_log(dir.path(), 20, 3000);
        assert!(segs.len() >= 5, "{segs:?}");
        let signer = Signer::new(1);
        for size in [20, 11, 0] {
            let report = verify(dir.path(), &signer, size);
            assert!(report.is_ok(), "{report}");
            assert!(report.checkpoint_verified);
            assert_eq!(report.records, 20);
            assert_eq!(report.bytes, segs.iter().map(|p| file_len(p)).sum::<u64>());
        }
        let report = verify_log_dir(dir.path(), &Pinned::Nothing);
        assert!(report.is_ok() && !report.checkpoint_verified, "{report}");
    }

    #[test]
    fn an_empty_directory_verifies_only_against_the_empty_checkpoint() {
        let dir = tempfile::tempdir().unwrap();
        let signer = Signer::new(1);
        assert!(verify(dir.path(), &signer, 0).is_ok());
        let report = verify(dir.path(), &signer, 3);
        assert_eq!(
            report.problems,
            vec![Problem::Truncated {
                end: None,
                records: 0,
                checkpoint_size: 3
            }]
        );
    }

    #[test]
    fn a_modified_record_is_a_hash_mismatch_at_its_offset() {
        let dir = tempfile::tempdir().unwrap();
        let segs = write_log(dir.path(), 20, 3000);
        let (first, records) = read_segment(&segs[1]);
        let mut bytes = std::fs::read(&segs[1]).unwrap();
        let rec = offset_of(&records, 1) as usize;
        let name = rec + 12 + records[1].1.windows(5).position(|w| w == b"alice").unwrap();
        bytes[name] = b'A'; // still a valid event, so only the hash tells
        std::fs::write(&segs[1], &bytes).unwrap();

        let report = verify(dir.path(), &Signer::new(1), 20);
        let last = segs.last().unwrap();
        assert_eq!(report.problems.len(), 2, "{report}");
        assert_eq!(
            report.problems[0],
            Problem::HashMismatch {
                at: at(&segs[1], rec as u64),
                seq: first + 1
            }
        );
        assert!(matches!(
            &report.problems[1],
            Problem::RootMismatch { at: Some(a), tree_size: 20, .. } if *a == at(last, file_len(last))
        ));
        assert!(report.to_string().contains("was modified"), "{report}");
    }

    #[test]
    fn a_deleted_segment_is_missing_records_at_the_start_of_the_next() {
        let dir = tempfile::tempdir().unwrap();
        let segs = write_log(dir.path(), 20, 3000);
        let (first, records) = read_segment(&segs[2]);
        std::fs::remove_file(&segs[2]).unwrap();
        let report = verify(dir.path(), &Signer::new(1), 20);
        assert_eq!(
            report.problems,
            vec![Problem::MissingRecords {
                at: at(&segs[3], HEADER_LEN),
                first,
                last: first + records.len() as u64 - 1
            }]
        );
        assert!(report.to_string().contains("deleted segment"), "{report}");
    }

    #[test]
    fn a_deleted_record_is_missing_where_it_was() {
        let dir = tempfile::tempdir().unwrap();
        let segs = write_log(dir.path(), 20, 3000);
        let (first, mut records) = read_segment(&segs[1]);
        assert!(records.len() >= 3);
        records.remove(1);
        write_segment(&segs[1], first, &records);
        let report = verify(dir.path(), &Signer::new(1), 20);
        assert_eq!(
            report.problems,
            vec![Problem::MissingRecords {
                at: at(&segs[1], offset_of(&records, 1)),
                first: first + 1,
                last: first + 1
            }]
        );
        // Against an earlier checkpoint the shifted records also change its root.
        let report = verify(dir.path(), &Signer::new(1), 12);
        assert!(matches!(
            report.problems.as_slice(),
            [
                Problem::RootMismatch { tree_size: 12, .. },
                Problem::MissingRecords { .. }
            ]
        ));
    }

    #[test]
    fn an_altered_sequence_number_is_one_problem() {
        let dir = tempfile::tempdir().unwrap();
        let segs = write_log(dir.path(), 20, 3000);
        let (first, mut records) = read_segment(&segs[1]);
        records[1].0 = 1 << 40;
        write_segment(&segs[1], first, &records);
        let report = verify(dir.path(), &Signer::new(1), 20);
        assert_eq!(
            report.problems,
            vec![Problem::WrongSequenceNumber {
                at: at(&segs[1], offset_of(&records, 1)),
                seq: 1 << 40,
                expected: first + 1
            }],
            "{report}"
        );
        // The last record of a segment, decided by the first of the next.
        let (first, mut records) = read_segment(&segs[2]);
        let last = records.len() - 1;
        records[last].0 += 7;
        write_segment(&segs[2], first, &records);
        let report = verify(dir.path(), &Signer::new(1), 20);
        assert_eq!(report.problems.len(), 2, "{report}");
        assert_eq!(
            report.problems[1],
            Problem::WrongSequenceNumber {
                at: at(&segs[2], offset_of(&records, last)),
                seq: first + last as u64 + 7,
                expected: first + last as u64
            }
        );
    }

    #[test]
    fn swapped_records_are_reported_as_reordered() {
        let dir = tempfile::tempdir().unwrap();
        let segs = write_log(dir.path(), 20, 3000);
        let (first, mut records) = read_segment(&segs[1]);
        records.swap(0, 1);
        write_segment(&segs[1], first, &records);
        let report = verify(dir.path(), &Signer::new(1), 20);
        let last = segs.last().unwrap();
        assert_eq!(report.problems.len(), 2, "{report}");
        assert_eq!(
            report.problems[0],
            Problem::Reordered {
                at: at(&segs[1], offset_of(&records, 1)),
                seq: first,
                after: first + 1
            }
        );
        assert!(matches!(
            &report.problems[1],
            Problem::RootMismatch { at: Some(a), tree_size: 20, .. } if *a == at(last, file_len(last))
        ));
    }

    #[test]
    fn an_inserted_record_with_a_correct_hash_is_caught() {
        let dir = tempfile::tempdir().unwrap();
        let segs = write_log(dir.path(), 10, crate::log::DEFAULT_SEGMENT_BYTES);
        assert_eq!(segs.len(), 1);
        let seg = &segs[0];
        let (first, original) = read_segment(seg);
        let forged = event(999);
        let forged_hash = leaf_hash(&forged);

        // Renumbered: the sequence is gap-free and every hash is right; only the signed
        // root can tell.
        let mut records = original.clone();
        records.insert(5, (5, forged.clone(), forged_hash));
        for (i, r) in records.iter_mut().enumerate() {
            r.0 = i as u64;
        }
        write_segment(seg, first, &records);
        let report = verify(dir.path(), &Signer::new(1), 10);
        let payloads: Vec<Vec<u8>> = records.iter().map(|r| r.1.clone()).collect();
        assert_eq!(
            report.problems,
            vec![Problem::RootMismatch {
                at: Some(at(seg, offset_of(&records, 10))),
                tree_size: 10,
                signed: root_of(&(0..10).map(event).collect::<Vec<_>>(), 10),
                computed: root_of(&payloads, 10),
            }]
        );
        assert!(verify_log_dir(dir.path(), &Pinned::Nothing).is_ok());

        // With a reused number: caught by the sequence too.
        let mut records = original;
        records.insert(5, (4, forged, forged_hash));
        write_segment(seg, first, &records);
        let report = verify(dir.path(), &Signer::new(1), 10);
        assert_eq!(report.problems.len(), 2, "{report}");
        assert_eq!(
            report.problems[0],
            Problem::UnexpectedRecord {
                at: at(seg, offset_of(&records, 5)),
                seq: 4,
                expected: 5
            }
        );
        assert!(matches!(
            report.problems[1],
            Problem::RootMismatch { tree_size: 10, .. }
        ));
    }

    #[test]
    fn truncating_the_newest_records_below_the_checkpoint_is_caught() {
        let dir = tempfile::tempdir().unwrap();
        let segs = write_log(dir.path(), 10, crate::log::DEFAULT_SEGMENT_BYTES);
        let seg = &segs[0];
        let (first, mut records) = read_segment(seg);
        records.truncate(7);
        write_segment(seg, first, &records);
        let report = verify(dir.path(), &Signer::new(1), 10);
        assert_eq!(
            report.problems,
            vec![Problem::Truncated {
                end: Some(at(seg, file_len(seg))),
                records: 7,
                checkpoint_size: 10
            }]
        );
        // The structure alone is sound: this is what a checkpoint is for.
        assert!(verify_log_dir(dir.path(), &Pinned::Nothing).is_ok());
        assert!(verify(dir.path(), &Signer::new(1), 7).is_ok());
    }

    #[test]
    fn deleting_the_newest_segment_below_the_checkpoint_is_caught() {
        let dir = tempfile::tempdir().unwrap();
        let segs = write_log(dir.path(), 20, 3000);
        let (first, _) = read_segment(segs.last().unwrap());
        std::fs::remove_file(segs.last().unwrap()).unwrap();
        let prev = &segs[segs.len() - 2];
        let report = verify(dir.path(), &Signer::new(1), 20);
        assert_eq!(
            report.problems,
            vec![Problem::Truncated {
                end: Some(at(prev, file_len(prev))),
                records: first,
                checkpoint_size: 20
            }]
        );
    }

    #[test]
    fn appended_garbage_is_an_unreadable_tail() {
        let dir = tempfile::tempdir().unwrap();
        let segs = write_log(dir.path(), 20, 3000);
        let last = segs.last().unwrap();
        let end = file_len(last);
        append_bytes(last, &[0xab; 100]);
        let report = verify(dir.path(), &Signer::new(1), 20);
        assert_eq!(
            report.problems,
            vec![Problem::UnreadableTail {
                at: at(last, end),
                bytes: 100
            }]
        );
        assert_eq!(report.records, 20);
    }

    /// Appends `bytes` to the file at `path`.
    fn append_bytes(path: &Path, bytes: &[u8]) {
        let mut f = std::fs::OpenOptions::new().append(true).open(path).unwrap();
        f.write_all(bytes).unwrap();
    }

    #[test]
    fn the_writers_reserve_in_the_newest_segment_is_not_a_problem() {
        let dir = tempfile::tempdir().unwrap();
        let segs = write_log(dir.path(), 20, 3000);
        // A copy taken while the server runs, or after a crash: zeros past the last record.
        append_bytes(segs.last().unwrap(), &vec![0u8; 300_000]);
        let report = verify(dir.path(), &Signer::new(1), 20);
        assert!(report.is_ok(), "{:?}", report.problems);
        assert_eq!(report.records, 20);
    }

    #[test]
    fn a_record_torn_by_the_reserve_is_an_unreadable_tail() {
        let dir = tempfile::tempdir().unwrap();
        let segs = write_log(dir.path(), 20, 3000);
        let last = segs.last().unwrap();
        let end = file_len(last);
        // The frame and the start of a payload were written over the reserve; the rest of
        // the record is still zeros.
        let mut torn = vec![0u8, 0, 0, 100, 0, 0, 0, 0, 0, 0, 0, 20];
        torn.extend_from_slice(b"{\"eventVersion\"");
        append_bytes(last, &torn);
        append_bytes(last, &[0u8; 4096]);
        let report = verify(dir.path(), &Signer::new(1), 20);
        assert_eq!(
            report.problems,
            vec![Problem::UnreadableTail {
                at: at(last, end),
                bytes: torn.len() as u64
            }]
        );
        assert_eq!(report.records, 20);
    }

    #[test]
    fn zeros_after_the_last_record_of_an_older_segment_are_an_unreadable_tail() {
        let dir = tempfile::tempdir().unwrap();
        let segs = write_log(dir.path(), 20, 3000);
        assert!(segs.len() > 1);
        let first = &segs[0];
        let end = file_len(first);
        append_bytes(first, &[0u8; 500]);
        let report = verify(dir.path(), &Signer::new(1), 20);
        assert_eq!(
            report.problems,
            vec![Problem::UnreadableTail {
                at: at(first, end),
                bytes: 500
            }]
        );
        assert_eq!(report.records, 20);
    }

    #[test]
    fn a_zeroed_hash_in_an_older_segment_is_a_modified_record() {
        let dir = tempfile::tempdir().unwrap();
        let segs = write_log(dir.path(), 20, 3000);
        let first = &segs[0];
        let (_, records) = read_segment(first);
        let last_seq = records.last().unwrap().0;
        // The last record's leaf hash overwritten with zeros: no reserve in an older
        // segment can explain it.
        let mut bytes = std::fs::read(first).unwrap();
        let len = bytes.len();
        bytes[len - 32..].fill(0);
        std::fs::write(first, &bytes).unwrap();
        let report = verify(dir.path(), &Signer::new(1), 20);
        assert!(
            report
                .problems
                .iter()
                .any(|p| matches!(p, Problem::HashMismatch { seq, .. } if *seq == last_seq)),
            "{:?}",
            report.problems
        );
        assert!(!report
            .problems
            .iter()
            .any(|p| matches!(p, Problem::UnreadableTail { .. })));
    }

    #[test]
    fn a_checkpoint_signed_by_another_key_is_rejected() {
        let dir = tempfile::tempdir().unwrap();
        write_log(dir.path(), 5, 3000);
        let note = Signer::new(2).checkpoint(5);
        let key = Signer::new(1).verifier();
        let report = verify_log_dir(
            dir.path(),
            &Pinned::Checkpoint {
                note: &note,
                verifier_key: &key,
            },
        );
        assert!(!report.checkpoint_verified);
        assert_eq!(
            report.problems,
            vec![Problem::CheckpointRejected(CheckpointError::UnknownKey)]
        );
        assert_eq!(report.records, 5);
    }

    #[test]
    fn a_self_consistent_log_that_differs_from_the_signed_root_is_caught() {
        let dir = tempfile::tempdir().unwrap();
        let segs = write_log(dir.path(), 8, 3000);
        let signer = Signer::new(1);
        let note = signer.sign(6, [7; 32]);
        let key = signer.verifier();
        let report = verify_log_dir(
            dir.path(),
            &Pinned::Checkpoint {
                note: &note,
                verifier_key: &key,
            },
        );
        // Record 5 is the last covered one; find where it ends.
        let end = segs
            .iter()
            .find_map(|s| {
                let (_, recs) = read_segment(s);
                let i = recs.iter().position(|r| r.0 == 5)?;
                Some(at(s, offset_of(&recs, i + 1)))
            })
            .unwrap();
        let payloads: Vec<Vec<u8>> = (0..8).map(event).collect();
        assert_eq!(
            report.problems,
            vec![Problem::RootMismatch {
                at: Some(end),
                tree_size: 6,
                signed: [7; 32],
                computed: root_of(&payloads, 6),
            }]
        );
    }

    #[test]
    fn headers_names_and_non_events_are_checked() {
        let dir = tempfile::tempdir().unwrap();
        let segs = write_log(dir.path(), 20, 3000);
        // A header whose first number disagrees with the file name.
        let (first, records) = read_segment(&segs[1]);
        write_segment(&segs[1], first + 1, &records);
        // A segment that is not a segment.
        let (first3, records3) = read_segment(&segs[3]);
        std::fs::write(&segs[3], b"hello").unwrap();
        let report = verify_log_dir(dir.path(), &Pinned::Nothing);
        assert_eq!(
            report.problems,
            vec![
                Problem::NameMismatch {
                    segment: segs[1].clone(),
                    name_first_seq: first,
                    header_first_seq: first + 1
                },
                Problem::BadHeader {
                    segment: segs[3].clone(),
                    what: "the segment is shorter than its header"
                },
                Problem::MissingRecords {
                    at: at(&segs[4], HEADER_LEN),
                    first: first3,
                    last: first3 + records3.len() as u64 - 1
                },
            ],
            "{report}"
        );

        // A payload that is not an event.
        let dir = tempfile::tempdir().unwrap();
        let (log, _) = AuditLog::open(dir.path()).unwrap();
        log.append(b"not json".to_vec()).unwrap();
        drop(log);
        let report = verify_log_dir(dir.path(), &Pinned::Nothing);
        assert!(matches!(
            report.problems.as_slice(),
            [Problem::NotAnEvent { seq: 0, .. }]
        ));
        let report = verify_log_dir_with(dir.path(), &Pinned::Nothing, Options::default());
        assert!(report.is_ok());
    }

    #[test]
    fn sample_events_are_cloudtrail_events() {
        CloudTrailEvent::parse(&event(3)).unwrap();
    }
}
