//! The offline verifier of sealed CloudTrail log files and digest files (see [`crate::seal`]
//! for the layout), optionally against the audit log they were sealed from.
//!
//! [`verify_sealed`] walks `AWSLogs/` and checks, per account and region:
//!
//! - every digest: it decompresses and parses, names its own location (`digestS3Object`),
//!   has a `.sig` sidecar, was signed by the given public key (`digestPublicKeyFingerprint`)
//!   and its signature verifies over CloudTrail's string to sign;
//! - the chain: each digest's `previousDigest*` fields name an existing digest and match its
//!   bucket, the SHA-256 of its uncompressed content and its signature; only the oldest
//!   digest starts a chain (null previous fields); no two digests follow the same one; every
//!   digest but the newest is followed by one. A deleted digest in the middle is a
//!   [`SealedProblem::MissingDigest`];
//! - every listed log file exists and the SHA-256 of its uncompressed content matches;
//! - log files that no digest lists are "not yet covered" (informational,
//!   [`SealedReport::uncovered`]) while they are newer than everything digests cover; an
//!   uncovered file older than the newest digest, or holding records before the last
//!   record a digest covers, is a [`SealedProblem::UncoveredLogFile`];
//! - the batches (`kagiFirstSeq..=kagiLastSeq`; for uncovered files, the first sequence
//!   number in the name) follow each other from record 0 without gap or overlap, and the
//!   files of each batch hold exactly as many records as the batch has;
//! - with `log_dir`: that each file's records are, byte for byte, the log's records of the
//!   file's region in the batch's range, and that no record of the range is missing.
//!
//! Limits: deleting the newest digest (and its sidecar) leaves no trace in the sealed files
//! alone; its log files show up as not yet covered, and with `log_dir` their records are
//! still checked against the log. Pin the newest digest elsewhere to close that hole (the
//! same hole CloudTrail's `validate-logs` has). Records after the last sealed batch are
//! counted ([`SealedReport::unsealed_log_records`]), not reported. With `log_dir` the log is
//! read into memory.
//!
//! Gzip decoding, SHA-256 and the record splitter run at several hundred MB/s of
//! uncompressed log on one core (`cargo run --release -p kagi-audit --example verify_speed`).

use crate::event::EventTime;
use crate::log::read_dir_from;
use crate::seal::{
    minute_stamp, parse_log_file_name, public_key_fingerprint, record_region, signature_sidecar,
    split_records, string_to_sign, DigestFile, LogFileEntry, HASH_ALGORITHM, INVALID_REGION,
    SIGNATURE_ALGORITHM,
};
use flate2::read::GzDecoder;
use kagi_crypto::digest::sha256;
use kagi_crypto::digest::{hex, unhex};
use kagi_crypto::verify_rsa_sha256;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::fs;
use std::io::{ErrorKind, Read};
use std::ops::Range;
use std::path::{Path, PathBuf};

/// Largest uncompressed log or digest file read (Kagi's are at most about 17 MiB); a
/// bigger one is reported, not decompressed further.
const MAX_UNCOMPRESSED: u64 = 256 << 20;
/// Most record-level problems reported per log file; the rest are counted.
const MAX_RECORD_PROBLEMS_PER_FILE: u64 = 100;

/// How a digest chain is broken at a digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChainBreak {
    /// `previousDigestSignature` is not the previous digest's signature.
    PreviousSignatureMismatch,
    /// `previousDigestHashValue` is not the SHA-256 of the previous digest.
    PreviousHashMismatch,
    /// `previousDigestS3Bucket` is not the previous digest's bucket.
    PreviousBucketMismatch,
    /// `previousDigestHashAlgorithm` is not `SHA-256`.
    PreviousHashAlgorithm,
    /// A digest that is not the oldest starts a new chain (null previous fields).
    Restarted,
    /// Another digest, `other`, already follows the same previous digest.
    Forked { other: PathBuf },
    /// No later digest links to this one although it is not the newest.
    Unlinked,
}

impl fmt::Display for ChainBreak {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ChainBreak::PreviousSignatureMismatch => {
                f.write_str("its previousDigestSignature is not the previous digest's signature")
            }
            ChainBreak::PreviousHashMismatch => {
                f.write_str("its previousDigestHashValue is not the previous digest's hash")
            }
            ChainBreak::PreviousBucketMismatch => {
                f.write_str("its previousDigestS3Bucket is not the previous digest's bucket")
            }
            ChainBreak::PreviousHashAlgorithm => {
                f.write_str("its previousDigestHashAlgorithm is not SHA-256")
            }
            ChainBreak::Restarted => {
                f.write_str("it starts a new chain although older digests exist")
            }
            ChainBreak::Forked { other } => write!(
                f,
                "{} already follows the same previous digest",
                other.display()
            ),
            ChainBreak::Unlinked => {
                f.write_str("no later digest links to it although it is not the newest")
            }
        }
    }
}

/// One thing wrong with the sealed files, with where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SealedProblem {
    /// A directory or file could not be read.
    Io {
        path: PathBuf,
        kind: ErrorKind,
        message: String,
    },
    /// The audit log directory given for comparison could not be read.
    LogUnreadable { dir: PathBuf, message: String },
    /// A log record that is not a CloudTrail event, so it cannot be placed in a region.
    LogRecordNotAnEvent { seq: u64 },
    /// A digest file that is not gzip'd JSON of a digest, or has impossible content.
    MalformedDigest { digest: PathBuf, what: String },
    /// The digest's `digestS3Object` (or account) is not where the file is: it was moved.
    DigestMoved { digest: PathBuf, recorded: String },
    /// The digest has no `.sig` sidecar.
    MissingSignature { digest: PathBuf },
    /// The digest says it was signed by another key.
    UnknownSigningKey {
        digest: PathBuf,
        fingerprint: String,
    },
    /// The signature does not verify: the digest or its sidecar was altered.
    DigestSignatureInvalid { digest: PathBuf },
    /// The chain is broken at `digest`.
    DigestChainBroken { digest: PathBuf, what: ChainBreak },
    /// `digest` links to a previous digest that does not exist: a digest was deleted.
    MissingDigest { digest: PathBuf, previous: String },
    /// A `logFiles` entry that cannot be right (outside the digest's account and region,
    /// another bucket, an unsafe path, a name that disagrees with its range).
    BadLogFileEntry {
        digest: PathBuf,
        object: String,
        what: &'static str,
    },
    /// The same log file is listed twice.
    LogFileListedTwice { file: String, digest: PathBuf },
    /// A log file a digest lists does not exist.
    MissingLogFile { file: PathBuf, digest: PathBuf },
    /// A log file's content is not what its digest hashed.
    LogFileHashMismatch { file: PathBuf, digest: PathBuf },
    /// A log file that is not gzip'd `{"Records":[…]}` or has a name Kagi does not write.
    MalformedLogFile { file: PathBuf, what: String },
    /// A log file no digest lists although digests were written after it.
    UncoveredLogFile { file: PathBuf },
    /// The files of batch `first..=last` hold `records` records.
    RecordCountMismatch { first: u64, last: u64, records: u64 },
    /// Records `first..=last` are in no log file.
    SeqGap { first: u64, last: u64 },
    /// `file` belongs to a batch that overlaps records `first..=last` of another.
    SeqOverlap {
        file: PathBuf,
        first: u64,
        last: u64,
    },
    /// The record of `file` in the place of log record `seq` differs from the log.
    RecordMismatch { file: PathBuf, seq: u64 },
    /// Log record `seq` (of `region`) is missing from `file`, or, with no file, from every
    /// file of its batch.
    RecordMissing {
        seq: u64,
        region: String,
        file: Option<PathBuf>,
    },
    /// `file` holds `count` records more than the log has for it.
    ExtraRecords { file: PathBuf, count: u64 },
    /// Sealed files hold records `first..=last`, which the log does not have.
    RecordsNotInLog { first: u64, last: u64 },
    /// More record problems in `file` than are listed.
    TooManyRecordProblems { file: PathBuf, more: u64 },
}

impl fmt::Display for SealedProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use SealedProblem as P;
        match self {
            P::Io {
                path,
                kind,
                message,
            } => write!(f, "cannot read {}: {message} ({kind:?})", path.display()),
            P::LogUnreadable { dir, message } => {
                write!(f, "cannot read the audit log {}: {message}", dir.display())
            }
            P::LogRecordNotAnEvent { seq } => {
                write!(f, "log record {seq} is not a CloudTrail event")
            }
            P::MalformedDigest { digest, what } => {
                write!(f, "{}: not a valid digest file: {what}", digest.display())
            }
            P::DigestMoved { digest, recorded } => write!(
                f,
                "{}: the digest says it belongs at {recorded} (moved or copied)",
                digest.display()
            ),
            P::MissingSignature { digest } => {
                write!(
                    f,
                    "{}: the signature sidecar (.sig) is missing",
                    digest.display()
                )
            }
            P::UnknownSigningKey {
                digest,
                fingerprint,
            } => write!(
                f,
                "{}: signed by another key (fingerprint {fingerprint})",
                digest.display()
            ),
            P::DigestSignatureInvalid { digest } => write!(
                f,
                "{}: the signature does not verify (digest or .sig altered)",
                digest.display()
            ),
            P::DigestChainBroken { digest, what } => {
                write!(f, "{}: digest chain broken: {what}", digest.display())
            }
            P::MissingDigest { digest, previous } => write!(
                f,
                "{}: the previous digest {previous} is missing (deleted)",
                digest.display()
            ),
            P::BadLogFileEntry {
                digest,
                object,
                what,
            } => write!(f, "{}: log file entry {object}: {what}", digest.display()),
            P::LogFileListedTwice { file, digest } => {
                write!(
                    f,
                    "{}: lists {file}, which another digest lists",
                    digest.display()
                )
            }
            P::MissingLogFile { file, digest } => write!(
                f,
                "{}: missing (listed in {})",
                file.display(),
                digest.display()
            ),
            P::LogFileHashMismatch { file, digest } => write!(
                f,
                "{}: modified (its SHA-256 differs from {})",
                file.display(),
                digest.display()
            ),
            P::MalformedLogFile { file, what } => {
                write!(f, "{}: not a valid log file: {what}", file.display())
            }
            P::UncoveredLogFile { file } => write!(
                f,
                "{}: no digest lists it although later digests exist (a deleted digest?)",
                file.display()
            ),
            P::RecordCountMismatch {
                first,
                last,
                records,
            } => write!(
                f,
                "the log files of records {first} to {last} hold {records} records, not {}",
                last - first + 1
            ),
            P::SeqGap { first, last } => {
                write!(f, "records {first} to {last} are in no log file")
            }
            P::SeqOverlap { file, first, last } => write!(
                f,
                "{}: overlaps records {first} to {last} of another batch",
                file.display()
            ),
            P::RecordMismatch { file, seq } => write!(
                f,
                "{}: the record in place of log record {seq} differs from the log",
                file.display()
            ),
            P::RecordMissing {
                seq,
                region,
                file: Some(file),
            } => write!(
                f,
                "{}: log record {seq} ({region}) is missing",
                file.display()
            ),
            P::RecordMissing {
                seq,
                region,
                file: None,
            } => write!(
                f,
                "log record {seq} ({region}) is in no log file of its batch"
            ),
            P::ExtraRecords { file, count } => write!(
                f,
                "{}: {count} records that the log does not have",
                file.display()
            ),
            P::RecordsNotInLog { first, last } => write!(
                f,
                "sealed files hold records {first} to {last}, which the log does not have"
            ),
            P::TooManyRecordProblems { file, more } => {
                write!(f, "{}: {more} more record problems", file.display())
            }
        }
    }
}

/// The outcome of [`verify_sealed`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SealedReport {
    /// Log files read.
    pub log_files: u64,
    /// Digest files read.
    pub digests: u64,
    /// Digests whose signature verified.
    pub digests_verified: u64,
    /// Records found in log files.
    pub records: u64,
    /// Records compared byte for byte with the log (only with `log_dir`).
    pub records_compared: u64,
    /// Uncompressed bytes of log files.
    pub bytes: u64,
    /// The last record the sealed files hold (`None` when they hold none).
    pub sealed_through: Option<u64>,
    /// Log records after the sealed ones (only with `log_dir`): not yet sealed, not a
    /// problem.
    pub unsealed_log_records: u64,
    /// Log files no digest lists yet (informational).
    pub uncovered: Vec<PathBuf>,
    /// Everything found wrong.
    pub problems: Vec<SealedProblem>,
}

impl SealedReport {
    /// No problem found (uncovered files do not count).
    pub fn is_ok(&self) -> bool {
        self.problems.is_empty()
    }
}

impl fmt::Display for SealedReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{} digests ({} signatures verified), {} log files, {} records ({} compared with \
             the log), {} bytes: {}",
            self.digests,
            self.digests_verified,
            self.log_files,
            self.records,
            self.records_compared,
            self.bytes,
            if self.is_ok() { "OK" } else { "PROBLEMS" }
        )?;
        for file in &self.uncovered {
            writeln!(f, "- not yet covered by a digest: {}", file.display())?;
        }
        for p in &self.problems {
            writeln!(f, "- {p}")?;
        }
        Ok(())
    }
}

/// Verifies the sealed files under `out_dir` (which holds `AWSLogs/`): every account found,
/// or only `account_id`. Digests must be signed by `public_key_der` (a DER
/// `SubjectPublicKeyInfo`). With `log_dir`, records are compared with that audit log.
pub fn verify_sealed(
    out_dir: &Path,
    account_id: Option<&str>,
    public_key_der: &[u8],
    log_dir: Option<&Path>,
) -> SealedReport {
    let mut v = Verifier {
        out_dir,
        public_key_der,
        fingerprint: public_key_fingerprint(public_key_der),
        report: SealedReport::default(),
        listed: HashMap::new(),
        newest_digest_end: None,
    };
    let log = log_dir.and_then(|dir| v.load_log(dir));
    let root = out_dir.join("AWSLogs");
    let accounts = match account_id {
        Some(a) => vec![a.to_string()],
        None => v.subdirs(&root),
    };
    let mut on_disk = Vec::new();
    for account in &accounts {
        let digest_prefix = format!("AWSLogs/{account}/CloudTrail-Digest");
        for (region, files) in v.region_files(&digest_prefix) {
            v.check_region_digests(account, &region, files);
        }
        let log_prefix = format!("AWSLogs/{account}/CloudTrail");
        for (region, files) in v.region_files(&log_prefix) {
            on_disk.extend(
                files
                    .into_iter()
                    .map(|(object, path)| (region.clone(), object, path)),
            );
        }
    }
    v.check_log_files(on_disk, log.as_ref());
    v.report
}

/// Reads and decompresses a gzip file, up to [`MAX_UNCOMPRESSED`] bytes.
fn read_gz(path: &Path) -> Result<Vec<u8>, String> {
    let compressed = fs::read(path).map_err(|e| e.to_string())?;
    // The gzip trailer's ISIZE (length mod 2^32) sizes the buffer; capped so a forged
    // trailer cannot make us allocate much.
    let hint = match compressed.len().checked_sub(4) {
        Some(at) => u32::from_le_bytes([
            compressed[at],
            compressed[at + 1],
            compressed[at + 2],
            compressed[at + 3],
        ]) as usize,
        None => 0,
    };
    let mut out = Vec::with_capacity(hint.min(MAX_UNCOMPRESSED as usize));
    GzDecoder::new(&compressed[..])
        .take(MAX_UNCOMPRESSED + 1)
        .read_to_end(&mut out)
        .map_err(|e| format!("gzip: {e}"))?;
    if out.len() as u64 > MAX_UNCOMPRESSED {
        return Err(format!(
            "decompresses to more than {MAX_UNCOMPRESSED} bytes"
        ));
    }
    Ok(out)
}

/// The audit log in memory, with each record's region.
struct Log {
    payloads: Vec<Vec<u8>>,
    /// Sequence numbers of each region's records, ascending.
    by_region: HashMap<String, Vec<u64>>,
}

/// A log file a digest lists.
struct Listed {
    entry: LogFileEntry,
    digest: PathBuf,
}

/// A log file of a batch: on disk, or listed and missing.
struct BatchFile {
    region: String,
    object: String,
    path: PathBuf,
    missing: bool,
}

#[derive(Default)]
struct Batch {
    /// `kagiLastSeq` from the digests that list files of this batch.
    listed_last: Option<u64>,
    files: Vec<BatchFile>,
}

struct Verifier<'a> {
    out_dir: &'a Path,
    public_key_der: &'a [u8],
    fingerprint: String,
    report: SealedReport,
    /// Log files listed by digests, by object key.
    listed: HashMap<String, Listed>,
    newest_digest_end: Option<EventTime>,
}

/// A digest as read from disk.
struct ReadDigest {
    path: PathBuf,
    object: String,
    digest: DigestFile,
    hash_hex: String,
    signature_hex: Option<String>,
}

impl Verifier<'_> {
    fn problem(&mut self, p: SealedProblem) {
        self.report.problems.push(p);
    }

    fn io_problem(&mut self, path: &Path, e: &std::io::Error) {
        self.problem(SealedProblem::Io {
            path: path.to_path_buf(),
            kind: e.kind(),
            message: e.to_string(),
        });
    }

    fn load_log(&mut self, dir: &Path) -> Option<Log> {
        let records = match read_dir_from(dir, 0) {
            Ok(r) => r,
            Err(e) => {
                self.problem(SealedProblem::LogUnreadable {
                    dir: dir.to_path_buf(),
                    message: e.to_string(),
                });
                return None;
            }
        };
        let mut by_region: HashMap<String, Vec<u64>> = HashMap::new();
        let mut payloads = Vec::with_capacity(records.len());
        for (i, (seq, payload)) in records.into_iter().enumerate() {
            if seq != i as u64 {
                // The log reader checks numbering; a log that does not start at 0 or has
                // holes cannot be compared.
                self.problem(SealedProblem::LogUnreadable {
                    dir: dir.to_path_buf(),
                    message: format!("record {seq} found where record {i} was expected"),
                });
                return None;
            }
            // Filed as the sealer files it, so a consistent trail compares equal.
            let region = record_region(&payload).unwrap_or_else(|| {
                self.problem(SealedProblem::LogRecordNotAnEvent { seq });
                INVALID_REGION
            });
            match by_region.get_mut(region) {
                Some(seqs) => seqs.push(seq),
                None => {
                    by_region.insert(region.to_string(), vec![seq]);
                }
            }
            payloads.push(payload);
        }
        Some(Log {
            payloads,
            by_region,
        })
    }

    fn subdirs(&mut self, dir: &Path) -> Vec<String> {
        let entries = match fs::read_dir(dir) {
            Ok(e) => e,
            Err(e) if e.kind() == ErrorKind::NotFound => return Vec::new(),
            Err(e) => {
                self.io_problem(dir, &e);
                return Vec::new();
            }
        };
        let mut names: Vec<String> = entries
            .filter_map(|e| e.ok())
            .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|n| !n.starts_with('.'))
            .collect();
        names.sort();
        names
    }

    /// Files at `<prefix>/<region>/<YYYY>/<MM>/<DD>/<name>.json.gz`, by region, as (object
    /// key, path), sorted by key. Temporary files (names starting with `.`) are skipped.
    fn region_files(&mut self, prefix: &str) -> BTreeMap<String, Vec<(String, PathBuf)>> {
        let mut out = BTreeMap::new();
        let root = self.out_dir.join(prefix);
        for region in self.subdirs(&root) {
            let mut files = Vec::new();
            let mut stack = vec![(root.join(&region), format!("{prefix}/{region}"), 0)];
            while let Some((dir, key, depth)) = stack.pop() {
                if depth < 3 {
                    for sub in self.subdirs(&dir) {
                        stack.push((dir.join(&sub), format!("{key}/{sub}"), depth + 1));
                    }
                    continue;
                }
                let entries = match fs::read_dir(&dir) {
                    Ok(e) => e,
                    Err(e) => {
                        self.io_problem(&dir, &e);
                        continue;
                    }
                };
                for entry in entries.filter_map(|e| e.ok()) {
                    let Ok(name) = entry.file_name().into_string() else {
                        continue;
                    };
                    if !name.starts_with('.')
                        && name.ends_with(".json.gz")
                        && entry.file_type().is_ok_and(|t| t.is_file())
                    {
                        files.push((format!("{key}/{name}"), entry.path()));
                    }
                }
            }
            files.sort();
            out.insert(region, files);
        }
        out
    }

    fn check_region_digests(&mut self, account: &str, region: &str, files: Vec<(String, PathBuf)>) {
        let mut digests: Vec<ReadDigest> = Vec::new();
        // Digest files present but unreadable, so a link to them is not "missing".
        let mut unreadable: HashSet<String> = HashSet::new();
        let mut damaged = false;
        for (object, path) in files {
            self.report.digests += 1;
            match self.read_digest(account, &object, &path) {
                Some(d) => digests.push(d),
                None => {
                    unreadable.insert(object);
                    damaged = true;
                }
            }
        }
        digests.sort_by(|a, b| {
            (a.digest.digest_end_time, &a.object).cmp(&(b.digest.digest_end_time, &b.object))
        });
        if let Some(last) = digests.last() {
            let end = last.digest.digest_end_time;
            self.newest_digest_end = Some(self.newest_digest_end.map_or(end, |n| n.max(end)));
        }

        let by_object: HashMap<&str, usize> = digests
            .iter()
            .enumerate()
            .map(|(i, d)| (d.object.as_str(), i))
            .collect();
        let mut followers: HashMap<usize, usize> = HashMap::new();
        let mut problems = Vec::new();
        let mut missing_before: HashSet<usize> = HashSet::new();
        for (i, d) in digests.iter().enumerate() {
            let broken = |what| SealedProblem::DigestChainBroken {
                digest: d.path.clone(),
                what,
            };
            let Some(previous) = &d.digest.previous_digest_s3_object else {
                if i != 0 {
                    problems.push(broken(ChainBreak::Restarted));
                }
                continue;
            };
            let Some(&j) = by_object.get(previous.as_str()) else {
                if !unreadable.contains(previous) {
                    problems.push(SealedProblem::MissingDigest {
                        digest: d.path.clone(),
                        previous: previous.clone(),
                    });
                    missing_before.insert(i);
                }
                continue;
            };
            let p = &digests[j];
            if d.digest.previous_digest_s3_bucket.as_deref() != Some(&p.digest.digest_s3_bucket) {
                problems.push(broken(ChainBreak::PreviousBucketMismatch));
            }
            if d.digest.previous_digest_hash_algorithm.as_deref() != Some(HASH_ALGORITHM) {
                problems.push(broken(ChainBreak::PreviousHashAlgorithm));
            }
            if d.digest.previous_digest_hash_value.as_deref() != Some(&p.hash_hex) {
                problems.push(broken(ChainBreak::PreviousHashMismatch));
            }
            if let Some(sig) = &p.signature_hex {
                if d.digest.previous_digest_signature.as_deref() != Some(sig) {
                    problems.push(broken(ChainBreak::PreviousSignatureMismatch));
                }
            }
            if let Some(&other) = followers.get(&j) {
                problems.push(broken(ChainBreak::Forked {
                    other: digests[other].path.clone(),
                }));
            } else {
                followers.insert(j, i);
            }
        }
        // A digest nobody follows is suspicious unless it is the newest, or the gap after
        // it is already reported (a deleted or unreadable successor).
        if !damaged {
            for (j, d) in digests.iter().enumerate() {
                let newest = j + 1 == digests.len();
                if !newest && !followers.contains_key(&j) && !missing_before.contains(&(j + 1)) {
                    problems.push(SealedProblem::DigestChainBroken {
                        digest: d.path.clone(),
                        what: ChainBreak::Unlinked,
                    });
                }
            }
        }
        self.report.problems.extend(problems);

        let prefix = format!("AWSLogs/{account}/CloudTrail/{region}/");
        for d in digests {
            for entry in d.digest.log_files {
                let bad = |what| SealedProblem::BadLogFileEntry {
                    digest: d.path.clone(),
                    object: entry.s3_object.clone(),
                    what,
                };
                let name = entry.s3_object.rsplit('/').next().unwrap_or("");
                let safe = entry.s3_object.starts_with(&prefix)
                    && entry
                        .s3_object
                        .split('/')
                        .all(|c| !c.is_empty() && c != "." && c != ".." && !c.contains('\\'))
                    && entry.s3_object.split('/').count() == 8;
                if !safe {
                    self.problem(bad("not a log file of the digest's account and region"));
                    continue;
                }
                if entry.s3_bucket != d.digest.digest_s3_bucket {
                    self.problem(bad("in another bucket than the digest"));
                }
                if entry.hash_algorithm != HASH_ALGORITHM {
                    self.problem(bad("hashAlgorithm is not SHA-256"));
                }
                match parse_log_file_name(name) {
                    Some((a, r, _, first)) if a == account && r == region => {
                        if first != entry.kagi_first_seq || entry.kagi_last_seq < first {
                            self.problem(bad("its name does not match kagiFirstSeq/kagiLastSeq"));
                            continue;
                        }
                    }
                    _ => {
                        self.problem(bad("not a Kagi log file name"));
                        continue;
                    }
                }
                if self.listed.contains_key(&entry.s3_object) {
                    self.problem(SealedProblem::LogFileListedTwice {
                        file: entry.s3_object.clone(),
                        digest: d.path.clone(),
                    });
                    continue;
                }
                self.listed.insert(
                    entry.s3_object.clone(),
                    Listed {
                        entry,
                        digest: d.path.clone(),
                    },
                );
            }
        }
    }

    fn read_digest(&mut self, account: &str, object: &str, path: &Path) -> Option<ReadDigest> {
        let malformed = |what: String| SealedProblem::MalformedDigest {
            digest: path.to_path_buf(),
            what,
        };
        let content = match read_gz(path) {
            Ok(c) => c,
            Err(what) => {
                self.problem(malformed(what));
                return None;
            }
        };
        let digest: DigestFile = match serde_json::from_slice(&content) {
            Ok(d) => d,
            Err(e) => {
                self.problem(malformed(format!("JSON: {e}")));
                return None;
            }
        };
        let hash_hex = hex(&sha256(&content));
        if digest.digest_s3_object != object || digest.aws_account_id != account {
            self.problem(SealedProblem::DigestMoved {
                digest: path.to_path_buf(),
                recorded: digest.digest_s3_object.clone(),
            });
        }
        if digest.digest_signature_algorithm != SIGNATURE_ALGORITHM {
            self.problem(malformed(
                "digestSignatureAlgorithm is not SHA256withRSA".into(),
            ));
        }
        let sidecar = signature_sidecar(path);
        let signature_hex = match fs::read_to_string(&sidecar) {
            Ok(s) => Some(s.trim().to_ascii_lowercase()),
            Err(e) if e.kind() == ErrorKind::NotFound => {
                self.problem(SealedProblem::MissingSignature {
                    digest: path.to_path_buf(),
                });
                None
            }
            Err(e) => {
                self.io_problem(&sidecar, &e);
                None
            }
        };
        if let Some(sig_hex) = &signature_hex {
            if digest.digest_public_key_fingerprint != self.fingerprint {
                self.problem(SealedProblem::UnknownSigningKey {
                    digest: path.to_path_buf(),
                    fingerprint: digest.digest_public_key_fingerprint.clone(),
                });
            } else {
                let valid = unhex(sig_hex).is_some_and(|sig| {
                    verify_rsa_sha256(
                        self.public_key_der,
                        string_to_sign(&digest, &hash_hex).as_bytes(),
                        &sig,
                    )
                });
                if valid {
                    self.report.digests_verified += 1;
                } else {
                    self.problem(SealedProblem::DigestSignatureInvalid {
                        digest: path.to_path_buf(),
                    });
                }
            }
        }
        Some(ReadDigest {
            path: path.to_path_buf(),
            object: object.to_string(),
            digest,
            hash_hex,
            signature_hex,
        })
    }

    /// Groups the log files into batches, then checks each file, each batch and the
    /// coverage of the log.
    fn check_log_files(&mut self, on_disk: Vec<(String, String, PathBuf)>, log: Option<&Log>) {
        let mut batches: BTreeMap<u64, Batch> = BTreeMap::new();
        let mut seen: HashSet<String> = HashSet::new();
        let max_listed_last = self.listed.values().map(|l| l.entry.kagi_last_seq).max();
        let newest_minute = self.newest_digest_end.map(minute_stamp);
        for (region, object, path) in on_disk {
            let name = object.rsplit('/').next().unwrap_or("");
            let Some((_, _, stamp, first)) =
                parse_log_file_name(name).filter(|(_, r, _, _)| *r == region)
            else {
                self.problem(SealedProblem::MalformedLogFile {
                    file: path,
                    what: "not a Kagi log file name for its directory".into(),
                });
                continue;
            };
            if !self.listed.contains_key(&object) {
                let older = newest_minute.as_deref().is_some_and(|m| stamp < m)
                    || max_listed_last.is_some_and(|last| first <= last);
                if older {
                    self.problem(SealedProblem::UncoveredLogFile { file: path.clone() });
                } else {
                    self.report.uncovered.push(path.clone());
                }
            }
            seen.insert(object.clone());
            batches.entry(first).or_default().files.push(BatchFile {
                region,
                object,
                path,
                missing: false,
            });
        }
        let mut listed: Vec<(&String, &Listed)> = self.listed.iter().collect();
        listed.sort_by_key(|(object, _)| *object);
        let mut problems = Vec::new();
        for (object, l) in listed {
            let batch = batches.entry(l.entry.kagi_first_seq).or_default();
            match batch.listed_last {
                Some(last) if last != l.entry.kagi_last_seq => {
                    problems.push(SealedProblem::SeqOverlap {
                        file: self.out_dir.join(object),
                        first: l.entry.kagi_first_seq,
                        last: last.min(l.entry.kagi_last_seq),
                    });
                }
                _ => batch.listed_last = Some(l.entry.kagi_last_seq),
            }
            if !seen.contains(object) {
                let file = self.out_dir.join(object);
                problems.push(SealedProblem::MissingLogFile {
                    file: file.clone(),
                    digest: l.digest.clone(),
                });
                // The region is the fourth component: AWSLogs/<account>/CloudTrail/<region>/…
                let region = object.split('/').nth(3).unwrap_or("").to_string();
                batch.files.push(BatchFile {
                    region,
                    object: object.clone(),
                    path: file,
                    missing: true,
                });
            }
        }
        self.report.problems.extend(problems);

        let firsts: Vec<u64> = batches.keys().copied().collect();
        let mut next_expected = 0u64;
        for (i, (first, mut batch)) in batches.into_iter().enumerate() {
            let next_first = firsts.get(i + 1).copied();
            batch
                .files
                .sort_by(|a, b| (&a.region, &a.object).cmp(&(&b.region, &b.object)));
            let bound = batch.listed_last.or(next_first.map(|n| n - 1));
            let last = self.check_batch(first, bound, &batch, log);
            let first_file = batch
                .files
                .first()
                .map(|f| f.path.clone())
                .unwrap_or_default();
            if first > next_expected {
                self.problem(SealedProblem::SeqGap {
                    first: next_expected,
                    last: first - 1,
                });
            } else if first < next_expected {
                self.problem(SealedProblem::SeqOverlap {
                    file: first_file,
                    first,
                    last: next_expected - 1,
                });
            }
            next_expected = next_expected.max(last.map_or(first + 1, |l| l + 1));
        }
        self.report.sealed_through = next_expected.checked_sub(1);
        if let Some(log) = log {
            let log_len = log.payloads.len() as u64;
            if next_expected > log_len {
                self.problem(SealedProblem::RecordsNotInLog {
                    first: log_len,
                    last: next_expected - 1,
                });
            }
            self.report.unsealed_log_records = log_len.saturating_sub(next_expected);
        }
    }

    /// Checks the files of the batch starting at `first`; returns its last record when
    /// known. `bound` is its last record if a digest or the next batch says so.
    fn check_batch(
        &mut self,
        first: u64,
        bound: Option<u64>,
        batch: &Batch,
        log: Option<&Log>,
    ) -> Option<u64> {
        let mut total = Some(0u64);
        let mut regions_with_files: HashSet<&str> = HashSet::new();
        for file in &batch.files {
            regions_with_files.insert(&file.region);
            if file.missing {
                total = None;
                continue;
            }
            match self.check_file(file, first, bound, log) {
                Some(n) => total = total.map(|t| t + n),
                None => total = None,
            }
        }
        let last = bound.or_else(|| total.filter(|&t| t > 0).map(|t| first + t - 1));
        if let (Some(last), Some(total)) = (last, total) {
            if last >= first && total != last - first + 1 {
                self.problem(SealedProblem::RecordCountMismatch {
                    first,
                    last,
                    records: total,
                });
            }
        }
        // Log records of the range whose region has no file in this batch.
        if let (Some(log), Some(last)) = (log, last) {
            let mut regions: Vec<(&String, &Vec<u64>)> = log.by_region.iter().collect();
            regions.sort();
            for (region, seqs) in regions {
                if regions_with_files.contains(region.as_str()) {
                    continue;
                }
                let at = seqs.partition_point(|&s| s < first);
                if let Some(&seq) = seqs.get(at).filter(|&&s| s <= last) {
                    self.problem(SealedProblem::RecordMissing {
                        seq,
                        region: region.clone(),
                        file: None,
                    });
                }
            }
        }
        last
    }

    /// Reads, hashes, splits and (with the log) compares one log file; returns its record
    /// count, or `None` if it could not be read.
    fn check_file(
        &mut self,
        file: &BatchFile,
        first: u64,
        bound: Option<u64>,
        log: Option<&Log>,
    ) -> Option<u64> {
        self.report.log_files += 1;
        let content = match read_gz(&file.path) {
            Ok(c) => c,
            Err(what) => {
                self.problem(SealedProblem::MalformedLogFile {
                    file: file.path.clone(),
                    what,
                });
                return None;
            }
        };
        self.report.bytes += content.len() as u64;
        if let Some(l) = self.listed.get(&file.object) {
            if hex(&sha256(&content)) != l.entry.hash_value {
                let digest = l.digest.clone();
                self.problem(SealedProblem::LogFileHashMismatch {
                    file: file.path.clone(),
                    digest,
                });
            }
        }
        let ranges = match split_records(&content) {
            Ok(r) => r,
            Err(what) => {
                self.problem(SealedProblem::MalformedLogFile {
                    file: file.path.clone(),
                    what: what.into(),
                });
                return None;
            }
        };
        let n = ranges.len() as u64;
        self.report.records += n;
        if let Some(log) = log {
            self.compare_records(file, first, bound, &content, &ranges, log);
        }
        Some(n)
    }

    fn compare_records(
        &mut self,
        file: &BatchFile,
        first: u64,
        bound: Option<u64>,
        content: &[u8],
        ranges: &[Range<usize>],
        log: &Log,
    ) {
        let no_records = Vec::new();
        let seqs = log.by_region.get(&file.region).unwrap_or(&no_records);
        let start = seqs.partition_point(|&s| s < first);
        let end = bound.map_or(seqs.len(), |b| seqs.partition_point(|&s| s <= b));
        let expected = &seqs[start..end.max(start)];
        let mut reported = 0u64;
        let mut more = 0u64;
        let mut report = |this: &mut Self, p: SealedProblem| {
            if reported < MAX_RECORD_PROBLEMS_PER_FILE {
                reported += 1;
                this.problem(p);
            } else {
                more += 1;
            }
        };
        for (range, &seq) in ranges.iter().zip(expected) {
            self.report.records_compared += 1;
            // Invariant: `seq` comes from `by_region`, built from `payloads`' indices.
            if content[range.clone()] != log.payloads[seq as usize][..] {
                report(
                    self,
                    SealedProblem::RecordMismatch {
                        file: file.path.clone(),
                        seq,
                    },
                );
            }
        }
        if ranges.len() > expected.len() {
            report(
                self,
                SealedProblem::ExtraRecords {
                    file: file.path.clone(),
                    count: (ranges.len() - expected.len()) as u64,
                },
            );
        } else if ranges.len() < expected.len() && bound.is_some() {
            report(
                self,
                SealedProblem::RecordMissing {
                    seq: expected[ranges.len()],
                    region: file.region.clone(),
                    file: Some(file.path.clone()),
                },
            );
        }
        if more > 0 {
            self.problem(SealedProblem::TooManyRecordProblems {
                file: file.path.clone(),
                more,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::AuditLog;
    use crate::seal::tests::{
        event, events, gunzip, key, object_of, walk, Fixture, ACCOUNT, HOUR, MINUTE, T0,
    };
    use crate::seal::Sealer;
    use flate2::write::GzEncoder;
    use flate2::Compression;
    use std::io::Write;

    fn gzip_to(path: &Path, content: &[u8]) {
        let mut enc = GzEncoder::new(Vec::new(), Compression::default());
        enc.write_all(content).unwrap();
        fs::write(path, enc.finish().unwrap()).unwrap();
    }

    fn write_log(dir: &Path, records: &[(u64, Vec<u8>)]) {
        let (log, _) = AuditLog::open(dir).unwrap();
        for (seq, payload) in records {
            assert_eq!(log.append(payload.clone()).unwrap().seq, *seq);
        }
        log.close();
    }

    /// A sealed trail with three digest periods, then two batches not yet covered:
    ///
    /// | batch | records | regions | digests |
    /// |---|---|---|---|
    /// | A | 0..=2 | us, eu, us | D1 |
    /// | B | 3..=4 | us, us | D1 |
    /// | C | 5..=7 | eu, us, eu | D2 |
    /// | D | 8..=9 | us, ap | D3 (ap-south-1's first) |
    /// | E1 | 10..=11 | us, us | none yet |
    /// | E2 | 12 | us | none yet |
    ///
    /// The log has one more record (13), not yet sealed.
    struct Trail {
        f: Fixture,
        log: Vec<(u64, Vec<u8>)>,
        /// Log files by batch name, in region order.
        files: BTreeMap<&'static str, Vec<PathBuf>>,
        /// Digests by period (1, 2, 3), in region order (ap-south-1 only in 3).
        digests: BTreeMap<u8, Vec<PathBuf>>,
    }

    const US: &str = "us-east-1";
    const EU: &str = "eu-west-1";
    const AP: &str = "ap-south-1";

    impl Trail {
        fn new() -> Self {
            let f = Fixture::new();
            let mut sealer = f.sealer();
            let mut log = Vec::new();
            let mut files = BTreeMap::new();
            let mut digests = BTreeMap::new();
            let mut seal = |sealer: &mut Sealer, name, regions: &[&str], now: i64| {
                let batch = events(log.len() as u64, regions, now - MINUTE);
                let outcome = sealer.seal(&batch, now).unwrap();
                files.insert(name, outcome.files);
                log.extend(batch);
            };
            seal(&mut sealer, "A", &[US, EU, US], T0 + 5 * MINUTE);
            seal(&mut sealer, "B", &[US, US], T0 + 10 * MINUTE);
            digests.insert(1, sealer.force_digests(T0 + HOUR).unwrap());
            seal(&mut sealer, "C", &[EU, US, EU], T0 + HOUR + 5 * MINUTE);
            digests.insert(2, sealer.force_digests(T0 + 2 * HOUR).unwrap());
            seal(&mut sealer, "D", &[US, AP], T0 + 2 * HOUR + 5 * MINUTE);
            digests.insert(3, sealer.force_digests(T0 + 3 * HOUR).unwrap());
            seal(&mut sealer, "E1", &[US, US], T0 + 3 * HOUR + 5 * MINUTE);
            seal(&mut sealer, "E2", &[US], T0 + 3 * HOUR + 10 * MINUTE);
            log.push((13, event(13, US, T0 + 3 * HOUR + 11 * MINUTE)));
            write_log(&f.dir.path().join("log"), &log);
            Self {
                f,
                log,
                files,
                digests,
            }
        }

        fn log_dir(&self) -> PathBuf {
            self.f.dir.path().join("log")
        }

        fn verify(&self) -> SealedReport {
            verify_sealed(
                &self.f.out(),
                Some(ACCOUNT),
                key().public_key_der(),
                Some(&self.log_dir()),
            )
        }

        fn verify_without_log(&self) -> SealedReport {
            verify_sealed(&self.f.out(), None, key().public_key_der(), None)
        }

        fn file(&self, batch: &str, i: usize) -> PathBuf {
            self.files[batch][i].clone()
        }

        fn digest(&self, period: u8, region: &str) -> PathBuf {
            let list = &self.digests[&period];
            list.iter()
                .find(|p| {
                    p.to_string_lossy()
                        .contains(&format!("CloudTrail-Digest/{region}/"))
                })
                .unwrap()
                .clone()
        }
    }

    fn assert_problems(report: &SealedReport, expected: &[SealedProblem]) {
        let mut got: Vec<String> = report.problems.iter().map(|p| format!("{p:?}")).collect();
        let mut want: Vec<String> = expected.iter().map(|p| format!("{p:?}")).collect();
        got.sort();
        want.sort();
        assert_eq!(got, want, "\n{report}");
    }

    #[test]
    fn a_clean_trail_verifies() {
        let t = Trail::new();
        let report = t.verify();
        assert!(report.is_ok(), "{report}");
        assert_eq!(report.digests, 7);
        assert_eq!(report.digests_verified, 7);
        assert_eq!(report.log_files, 9);
        assert_eq!(report.records, 13);
        assert_eq!(report.records_compared, 13);
        assert_eq!(report.sealed_through, Some(12));
        assert_eq!(report.unsealed_log_records, 1);
        let mut uncovered = vec![t.file("E1", 0), t.file("E2", 0)];
        uncovered.sort();
        let mut got = report.uncovered.clone();
        got.sort();
        assert_eq!(got, uncovered);
        let text = report.to_string();
        assert!(text.contains("OK"), "{text}");
        assert!(text.contains("not yet covered by a digest"), "{text}");

        let without_log = t.verify_without_log();
        assert!(without_log.is_ok(), "{without_log}");
        assert_eq!(without_log.records, 13);
        assert_eq!(without_log.records_compared, 0);
        assert_eq!(without_log.sealed_through, Some(12));

        // Another account has nothing to show.
        let other = verify_sealed(
            &t.f.out(),
            Some("999999999999"),
            key().public_key_der(),
            None,
        );
        assert!(other.is_ok());
        assert_eq!(other.digests + other.log_files, 0);
    }

    #[test]
    fn a_modified_record_is_found_by_hash_and_by_comparison_with_the_log() {
        let t = Trail::new();
        // Batch A's us-east-1 file holds records 0 and 2.
        let file = t.file("A", 1);
        assert!(file.to_string_lossy().contains("/us-east-1/"));
        let content = String::from_utf8(gunzip(&file)).unwrap();
        let altered = content.replace("\"eventID\":\"event-2\"", "\"eventID\":\"event-X\"");
        assert_ne!(altered, content);
        gzip_to(&file, altered.as_bytes());
        let d1 = t.digest(1, US);
        assert_problems(
            &t.verify(),
            &[
                SealedProblem::LogFileHashMismatch {
                    file: file.clone(),
                    digest: d1.clone(),
                },
                SealedProblem::RecordMismatch {
                    file: file.clone(),
                    seq: 2,
                },
            ],
        );
        assert_problems(
            &t.verify_without_log(),
            &[SealedProblem::LogFileHashMismatch { file, digest: d1 }],
        );
    }

    #[test]
    fn a_modified_uncovered_file_is_found_with_the_log() {
        let t = Trail::new();
        let file = t.file("E1", 0);
        let content = String::from_utf8(gunzip(&file)).unwrap();
        gzip_to(&file, content.replace("event-11", "event-99").as_bytes());
        assert_problems(
            &t.verify(),
            &[SealedProblem::RecordMismatch { file, seq: 11 }],
        );
        assert!(t.verify_without_log().is_ok());
    }

    #[test]
    fn a_deleted_log_file_is_missing() {
        let t = Trail::new();
        let file = t.file("C", 0);
        assert!(file.to_string_lossy().contains("/eu-west-1/"));
        fs::remove_file(&file).unwrap();
        let expected = [SealedProblem::MissingLogFile {
            file,
            digest: t.digest(2, EU),
        }];
        assert_problems(&t.verify(), &expected);
        assert_problems(&t.verify_without_log(), &expected);
    }

    #[test]
    fn a_deleted_digest_breaks_the_chain_and_uncovers_its_files() {
        let t = Trail::new();
        let d2 = t.digest(2, EU);
        fs::remove_file(&d2).unwrap();
        fs::remove_file(signature_sidecar(&d2)).unwrap();
        let expected = [
            SealedProblem::MissingDigest {
                digest: t.digest(3, EU),
                previous: object_of(&t.f.out(), &d2),
            },
            SealedProblem::UncoveredLogFile {
                file: t.file("C", 0),
            },
        ];
        assert_problems(&t.verify(), &expected);
        assert_problems(&t.verify_without_log(), &expected);
    }

    #[test]
    fn an_altered_digest_fails_its_signature_and_the_next_link() {
        let t = Trail::new();
        let d1 = t.digest(1, US);
        let content = String::from_utf8(gunzip(&d1)).unwrap();
        let altered = content.replacen(
            "\"newestEventTime\":\"2026-11-23T08",
            "\"newestEventTime\":\"2026-11-23T07",
            1,
        );
        assert_ne!(altered, content);
        gzip_to(&d1, altered.as_bytes());
        assert_problems(
            &t.verify(),
            &[
                SealedProblem::DigestSignatureInvalid { digest: d1 },
                SealedProblem::DigestChainBroken {
                    digest: t.digest(2, US),
                    what: ChainBreak::PreviousHashMismatch,
                },
            ],
        );
    }

    #[test]
    fn an_altered_log_file_listing_fails_the_signature() {
        let t = Trail::new();
        // Re-point a digest at a forged log file: the forger cannot re-sign.
        let d3 = t.digest(3, AP);
        let file = t.file("D", 0);
        assert!(file.to_string_lossy().contains("/ap-south-1/"));
        let forged = String::from_utf8(gunzip(&file))
            .unwrap()
            .replace("event-9", "event-0");
        gzip_to(&file, forged.as_bytes());
        let digest = String::from_utf8(gunzip(&d3)).unwrap();
        let mut d: DigestFile = serde_json::from_str(&digest).unwrap();
        d.log_files[0].hash_value = hex(&sha256(forged.as_bytes()));
        gzip_to(&d3, &serde_json::to_vec(&d).unwrap());
        assert_problems(
            &t.verify(),
            &[
                SealedProblem::DigestSignatureInvalid { digest: d3 },
                SealedProblem::RecordMismatch { file, seq: 9 },
            ],
        );
    }

    #[test]
    fn a_swapped_signature_is_found() {
        let t = Trail::new();
        let (d1, d2) = (t.digest(1, US), t.digest(2, US));
        fs::copy(signature_sidecar(&d2), signature_sidecar(&d1)).unwrap();
        assert_problems(
            &t.verify(),
            &[
                SealedProblem::DigestSignatureInvalid { digest: d1 },
                SealedProblem::DigestChainBroken {
                    digest: d2,
                    what: ChainBreak::PreviousSignatureMismatch,
                },
            ],
        );
    }

    #[test]
    fn a_missing_signature_or_another_key_is_found() {
        let t = Trail::new();
        let d3 = t.digest(3, EU);
        fs::remove_file(signature_sidecar(&d3)).unwrap();
        assert_problems(
            &t.verify(),
            &[SealedProblem::MissingSignature { digest: d3 }],
        );

        let other = kagi_crypto::RsaSigningKey::generate(2048).unwrap();
        let report = verify_sealed(&t.f.out(), None, other.public_key_der(), None);
        let unknown = report
            .problems
            .iter()
            .filter(|p| matches!(p, SealedProblem::UnknownSigningKey { .. }))
            .count();
        assert_eq!(unknown, 6, "{report}");
        // The digest without a sidecar cannot be checked further.
        assert_eq!(report.problems.len(), 7, "{report}");
        assert_eq!(report.digests_verified, 0);
    }

    #[test]
    fn a_truncated_last_digest_is_malformed() {
        let t = Trail::new();
        let d3 = t.digest(3, US);
        let bytes = fs::read(&d3).unwrap();
        fs::write(&d3, &bytes[..bytes.len() / 2]).unwrap();
        let report = t.verify();
        assert_eq!(report.problems.len(), 2, "{report}");
        assert!(matches!(
            &report.problems[0],
            SealedProblem::MalformedDigest { digest, .. } if *digest == d3
        ));
        // Its batch-D file is no longer listed, and ap-south-1's digest shows that later
        // records were already covered.
        assert!(report.problems.contains(&SealedProblem::UncoveredLogFile {
            file: t.file("D", 1)
        }));
    }

    /// The limit the module docs state: removing the newest digests of every region leaves
    /// only "not yet covered" files, whose records are still checked against the log.
    #[test]
    fn deleting_every_newest_digest_only_uncovers_files() {
        let t = Trail::new();
        for d in &t.digests[&3] {
            fs::remove_file(d).unwrap();
            fs::remove_file(signature_sidecar(d)).unwrap();
        }
        let report = t.verify();
        assert!(report.is_ok(), "{report}");
        assert_eq!(report.uncovered.len(), 4);
        assert_eq!(report.records_compared, 13);
    }

    #[test]
    fn a_deleted_uncovered_file_leaves_a_gap() {
        let t = Trail::new();
        fs::remove_file(t.file("E1", 0)).unwrap();
        assert_problems(
            &t.verify(),
            &[SealedProblem::SeqGap {
                first: 10,
                last: 11,
            }],
        );
    }

    #[test]
    fn sealed_records_the_log_lacks_are_found() {
        let t = Trail::new();
        let short = t.f.dir.path().join("short-log");
        write_log(&short, &t.log[..6]);
        let report = verify_sealed(&t.f.out(), None, key().public_key_der(), Some(&short));
        assert!(
            report
                .problems
                .contains(&SealedProblem::RecordsNotInLog { first: 6, last: 12 }),
            "{report}"
        );

        let mut changed = t.log.clone();
        changed[4].1 = event(4, US, T0 + 7 * MINUTE);
        let other = t.f.dir.path().join("changed-log");
        write_log(&other, &changed);
        let report = verify_sealed(&t.f.out(), None, key().public_key_der(), Some(&other));
        assert_problems(
            &report,
            &[SealedProblem::RecordMismatch {
                file: t.file("B", 0),
                seq: 4,
            }],
        );
    }

    #[test]
    fn a_record_moved_between_regions_is_found() {
        let t = Trail::new();
        // Rewrite batch A so record 1 (eu-west-1) sits in the us-east-1 file instead; the
        // files are uncovered copies, so only the log comparison can tell.
        let us = t.file("A", 1);
        let eu = t.file("A", 0);
        let records = |p: &Path| {
            let c = gunzip(p);
            split_records(&c)
                .unwrap()
                .into_iter()
                .map(|r| c[r].to_vec())
                .collect::<Vec<_>>()
        };
        let (us_records, eu_records) = (records(&us), records(&eu));
        let mut joined = b"{\"Records\":[".to_vec();
        for (i, r) in [&us_records[0], &eu_records[0], &us_records[1]]
            .iter()
            .enumerate()
        {
            if i > 0 {
                joined.push(b',');
            }
            joined.extend_from_slice(r);
        }
        joined.extend_from_slice(b"]}");
        gzip_to(&us, &joined);
        fs::remove_file(&eu).unwrap();
        let report = t.verify();
        let d1 = t.digest(1, US);
        assert!(
            report
                .problems
                .contains(&SealedProblem::LogFileHashMismatch {
                    file: us.clone(),
                    digest: d1
                }),
            "{report}"
        );
        assert!(
            report.problems.contains(&SealedProblem::RecordMismatch {
                file: us.clone(),
                seq: 2
            }),
            "{report}"
        );
        assert!(
            report
                .problems
                .contains(&SealedProblem::ExtraRecords { file: us, count: 1 }),
            "{report}"
        );
        assert!(
            report.problems.contains(&SealedProblem::MissingLogFile {
                file: eu,
                digest: t.digest(1, EU)
            }),
            "{report}"
        );
    }

    #[test]
    fn resealing_after_a_crash_verifies_clean() {
        let f = Fixture::new();
        let first = events(0, &[US, EU, US], T0);
        let mut sealer = f.sealer();
        sealer.seal(&first, T0 + 5 * MINUTE).unwrap();
        sealer.force_digests(T0 + HOUR).unwrap();
        let second = events(3, &[EU, US], T0 + HOUR);
        sealer.crash_before_commit = true;
        assert!(sealer.seal(&second, T0 + HOUR + 5 * MINUTE).is_err());
        drop(sealer);
        let files_before = walk(&f.out());

        // The restarted sealer is asked again for the same range, later: same names.
        let mut sealer = f.sealer();
        assert_eq!(sealer.next_seq(), 3);
        let outcome = sealer.seal(&second, T0 + HOUR + 20 * MINUTE).unwrap();
        assert!(outcome.files.iter().all(|p| files_before.contains(p)));
        assert_eq!(walk(&f.out()), files_before);
        sealer.force_digests(T0 + 2 * HOUR).unwrap();

        let mut log = first;
        log.extend(second);
        write_log(&f.dir.path().join("log"), &log);
        let report = verify_sealed(
            &f.out(),
            Some(ACCOUNT),
            key().public_key_der(),
            Some(&f.dir.path().join("log")),
        );
        assert!(report.is_ok(), "{report}");
        assert_eq!(report.uncovered, Vec::<PathBuf>::new());
        assert_eq!(report.records_compared, 5);
        assert_eq!(report.digests_verified, 4);
    }

    #[test]
    fn every_problem_displays_its_place() {
        let p = PathBuf::from("/x/f.json.gz");
        let problems = [
            SealedProblem::SeqGap { first: 3, last: 4 },
            SealedProblem::RecordMismatch {
                file: p.clone(),
                seq: 7,
            },
            SealedProblem::MissingDigest {
                digest: p.clone(),
                previous: "AWSLogs/d".into(),
            },
            SealedProblem::DigestChainBroken {
                digest: p.clone(),
                what: ChainBreak::Unlinked,
            },
            SealedProblem::RecordMissing {
                seq: 9,
                region: US.into(),
                file: None,
            },
        ];
        let texts: Vec<String> = problems.iter().map(|p| p.to_string()).collect();
        assert_eq!(texts[0], "records 3 to 4 are in no log file");
        assert!(texts[1].starts_with("/x/f.json.gz: ") && texts[1].contains("log record 7"));
        assert!(texts[2].contains("AWSLogs/d is missing"));
        assert!(texts[3].contains("no later digest links to it"));
        assert!(texts[4].contains("log record 9 (us-east-1)"));
    }
}
