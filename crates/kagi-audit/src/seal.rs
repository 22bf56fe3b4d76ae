//! Sealed CloudTrail log files and hourly signed digest files, in CloudTrail's own layout, so
//! tools that read a CloudTrail S3 bucket can read Kagi's audit trail from a directory.
//!
//! [`Sealer::seal`] takes the next records of the audit log (whose payloads are events'
//! canonical bytes), groups them by the event's `awsRegion` and writes one gzip'd
//! `{"Records":[…]}` file per region:
//!
//! ```text
//! AWSLogs/<account>/CloudTrail/<region>/YYYY/MM/DD/
//!     <account>_CloudTrail_<region>_<YYYYMMDDTHHmmZ>_<first seq, 16 hex digits>.json.gz
//! ```
//!
//! Each record is the log payload byte for byte (records are joined by `,`, without
//! whitespace), so a verifier can compare a file with the log it came from. The time in the
//! name and the date directories are the delivery time (`now`); the unique string is the
//! first sequence number of the batch the file belongs to, so names are reproducible.
//!
//! [`Sealer::write_digests_if_due`] writes, once an hour, one digest file per region that has
//! ever had a log file, following AWS's "CloudTrail digest file structure":
//!
//! ```text
//! AWSLogs/<account>/CloudTrail-Digest/<region>/YYYY/MM/DD/
//!     <account>_CloudTrail-Digest_<region>_<trail>_<home region>_<YYYYMMDDTHHmmssZ>.json.gz
//! ```
//!
//! A digest lists the log files delivered since the region's previous digest with the
//! SHA-256 of their *uncompressed* content, and links to the previous digest (its object,
//! the SHA-256 of its uncompressed content and its signature). It is signed SHA256withRSA
//! (RSASSA-PKCS1-v1_5) over CloudTrail's string to sign (`string_to_sign`). CloudTrail
//! keeps that signature (hex) in the S3 object metadata `x-amz-meta-signature`; a directory
//! has no metadata, so Kagi writes it, hex, to a sidecar file `<digest file>.sig`.
//! Differences from AWS, all documented in `docs/formats.md`:
//! - `digestPublicKeyFingerprint` is the hex SHA-256 of the public key's DER
//!   `SubjectPublicKeyInfo` (AWS's is a 128-bit fingerprint of its own key);
//! - each `logFiles` entry also has `kagiFirstSeq` and `kagiLastSeq`: the batch of log
//!   records the file belongs to. A file holds exactly the records of that range whose
//!   region is the file's region, in order; the files of one batch (one per region) together
//!   hold the whole range, and batches follow each other without gaps from record 0.
//!
//! # Durability and crashes
//!
//! Every file is written to a temporary name, synced, renamed and its directory synced. The
//! sealer's state (a small versioned JSON file in its state directory) records an intent
//! (which records, at which time) before any file is written and is committed only after
//! all files are durable. After a crash, the next call finishes the interrupted work with
//! the recorded time, so it writes the same files under the same names: no orphan file is
//! left behind and nothing is sealed twice. While a seal is unfinished no digest is written,
//! so a digest never ends after a delivered file it does not list.
//!
//! This module never reads the clock (times are arguments) and never reads the log: the
//! caller passes records in. It does not upload anywhere, rotate the signing key, or verify
//! anything (see [`crate::verify_sealed`]).

use crate::event::EventTime;
use crate::pace::Pace;
use flate2::write::GzEncoder;
use flate2::Compression;
use kagi_crypto::digest::{hex, sha256, Sha256};
use kagi_crypto::RsaSigningKey;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// How often the server should call [`Sealer::seal`] unless configured otherwise.
pub const DEFAULT_SEAL_INTERVAL: std::time::Duration = std::time::Duration::from_secs(5 * 60);
/// Digest files are written once per this period (CloudTrail's hour).
pub const DIGEST_PERIOD_MILLIS: i64 = 3_600_000;
/// `s3Bucket` / `digestS3Bucket` written when none is configured.
pub const DEFAULT_BUCKET: &str = "kagi-audit";
/// Trail name written when none is configured.
pub const DEFAULT_TRAIL_NAME: &str = "kagi";
/// `digestSignatureAlgorithm`.
pub const SIGNATURE_ALGORITHM: &str = "SHA256withRSA";
/// `hashAlgorithm` and `previousDigestHashAlgorithm`.
pub const HASH_ALGORITHM: &str = "SHA-256";
/// Directory (and file-name part) for events whose `awsRegion` is not a region name (letters,
/// digits and dashes). The server never records such an event; the value is not trusted in
/// a path.
pub const INVALID_REGION: &str = "invalid-region";
/// A batch holds at most this many payload bytes; larger calls are split into several
/// batches (each with its own files), which bounds the size of one file.
pub const MAX_BATCH_BYTES: usize = 16 << 20;

const STATE_FILE: &str = "sealer-state.json";
const STATE_VERSION: u32 = 1;
const RECORDS_PREFIX: &[u8] = b"{\"Records\":[";
const RECORDS_SUFFIX: &[u8] = b"]}";

/// Where and under which names the sealed files are written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealConfig {
    /// The directory that plays the S3 bucket: `AWSLogs/` is created inside it.
    pub out_dir: PathBuf,
    /// The account id in paths and in `awsAccountId`.
    pub account_id: String,
    /// The bucket name written as `s3Bucket`, `digestS3Bucket` and in the string to sign.
    pub bucket: String,
    /// The trail name in digest file names.
    pub trail_name: String,
    /// The trail's home region, the last region in digest file names.
    pub home_region: String,
}

impl SealConfig {
    /// A configuration with the default bucket and trail names.
    pub fn new(out_dir: impl Into<PathBuf>, account_id: &str, home_region: &str) -> Self {
        Self {
            out_dir: out_dir.into(),
            account_id: account_id.into(),
            bucket: DEFAULT_BUCKET.into(),
            trail_name: DEFAULT_TRAIL_NAME.into(),
            home_region: home_region.into(),
        }
    }

    fn validate(&self) -> Result<(), SealError> {
        let path_safe = |s: &str, extra: &[u8]| {
            !s.is_empty()
                && s.len() <= 128
                && s.bytes()
                    .all(|c| c.is_ascii_alphanumeric() || extra.contains(&c))
        };
        if !path_safe(&self.account_id, b"-") {
            return Err(SealError::InvalidConfig(
                "account id must be letters, digits or dashes",
            ));
        }
        if !is_region_name(&self.home_region) {
            return Err(SealError::InvalidConfig("home region is not a region name"));
        }
        if !path_safe(&self.trail_name, b"._-") {
            return Err(SealError::InvalidConfig(
                "trail name must be letters, digits, '.', '_' or '-'",
            ));
        }
        if self.bucket.is_empty() || self.bucket.contains(['/', '\n']) {
            return Err(SealError::InvalidConfig(
                "bucket name must be non-empty, without '/' or newlines",
            ));
        }
        Ok(())
    }
}

/// Why sealing failed. Nothing is half-done: an error leaves the state as it was (or with an
/// intent that the next call completes).
#[derive(Debug, thiserror::Error)]
pub enum SealError {
    #[error("sealer I/O error at {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("invalid seal configuration: {0}")]
    InvalidConfig(&'static str),
    #[error("sealer state {} is corrupt: {error}", path.display())]
    CorruptState {
        path: PathBuf,
        #[source]
        error: serde_json::Error,
    },
    #[error("sealer state {} has version {version}, this build knows {STATE_VERSION}", path.display())]
    UnsupportedStateVersion { path: PathBuf, version: u32 },
    /// The first record passed is not the first one not yet sealed.
    #[error("expected records from {expected}, got {got}")]
    NotNextSeq { expected: u64, got: u64 },
    /// The records passed are not consecutive.
    #[error("record {got} follows record {after}; records must be consecutive")]
    NotConsecutive { after: u64, got: u64 },
    /// A crash interrupted sealing `first..=last`; it must be redone with all those records.
    #[error("an interrupted seal of records {first} to {last} must be redone with all of them (got {given})")]
    IncompleteReseal { first: u64, last: u64, given: usize },
    /// A payload is not a CloudTrail event (no `awsRegion` or `eventTime`).
    #[error("record {seq} is not a CloudTrail event: {error}")]
    NotAnEvent {
        seq: u64,
        #[source]
        error: serde_json::Error,
    },
    /// A crash was simulated after the files were written (tests only).
    #[cfg(test)]
    #[error("simulated crash")]
    SimulatedCrash,
}

fn io_at(path: &Path) -> impl FnOnce(io::Error) -> SealError + '_ {
    move |source| SealError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// What one [`Sealer::seal`] call wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SealOutcome {
    /// The log files written, in the order written.
    pub files: Vec<PathBuf>,
    /// Records sealed.
    pub records: u64,
    /// The first record not yet sealed, after this call.
    pub next_seq: u64,
}

/// One entry of a digest's `logFiles` (CloudTrail's fields plus Kagi's batch range).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct LogFileEntry {
    pub s3_bucket: String,
    pub s3_object: String,
    /// Hex SHA-256 of the uncompressed file.
    pub hash_value: String,
    pub hash_algorithm: String,
    pub newest_event_time: EventTime,
    pub oldest_event_time: EventTime,
    pub kagi_first_seq: u64,
    pub kagi_last_seq: u64,
}

/// A digest file's content, fields in CloudTrail's order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct DigestFile {
    pub aws_account_id: String,
    pub digest_start_time: EventTime,
    pub digest_end_time: EventTime,
    pub digest_s3_bucket: String,
    pub digest_s3_object: String,
    pub digest_public_key_fingerprint: String,
    pub digest_signature_algorithm: String,
    pub newest_event_time: Option<EventTime>,
    pub oldest_event_time: Option<EventTime>,
    pub previous_digest_s3_bucket: Option<String>,
    pub previous_digest_s3_object: Option<String>,
    pub previous_digest_hash_value: Option<String>,
    pub previous_digest_hash_algorithm: Option<String>,
    pub previous_digest_signature: Option<String>,
    pub log_files: Vec<LogFileEntry>,
}

/// CloudTrail's string to sign for a digest ("Custom implementations of CloudTrail log file
/// integrity validation"): the digest end time, `bucket/object`, the hex SHA-256 of the
/// uncompressed digest, and the previous digest's hex signature (`null` for the first
/// digest of a chain, as AWS's own validator does), joined by `\n`.
pub(crate) fn string_to_sign(digest: &DigestFile, uncompressed_sha256_hex: &str) -> String {
    format!(
        "{}\n{}/{}\n{}\n{}",
        digest.digest_end_time,
        digest.digest_s3_bucket,
        digest.digest_s3_object,
        uncompressed_sha256_hex,
        digest
            .previous_digest_signature
            .as_deref()
            .unwrap_or("null")
    )
}

/// `digestPublicKeyFingerprint`: hex SHA-256 of the DER `SubjectPublicKeyInfo`.
pub fn public_key_fingerprint(public_key_der: &[u8]) -> String {
    hex(&sha256(public_key_der))
}

/// The shape of every AWS region name: lowercase letters, digits and dashes, 1 to 32
/// characters, starting with a letter.
pub(crate) fn is_region_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 32
        && s.as_bytes()[0].is_ascii_lowercase()
        && s.bytes()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-')
}

/// The region directory an event is filed under: its `awsRegion`, or [`INVALID_REGION`].
pub(crate) fn file_region(aws_region: &str) -> &str {
    if is_region_name(aws_region) {
        aws_region
    } else {
        INVALID_REGION
    }
}

/// The value of the first `"<field>":"…"` string in `payload`, up to the next quote. In an
/// event's canonical bytes the first occurrence of `eventTime` and `awsRegion` is the
/// top-level field: `userIdentity`, the only object before them, has no such keys, and the
/// pattern cannot occur inside a JSON string, where every `"` is escaped. Reading the field
/// this way spares the sealer a full parse of every event.
fn top_level_string<'p>(payload: &'p [u8], key: &[u8]) -> Option<&'p [u8]> {
    let at = memchr::memmem::find(payload, key)? + key.len();
    let len = memchr::memchr(b'"', &payload[at..])?;
    Some(&payload[at..at + len])
}

/// The region directory of a record: [`file_region`] of its top-level `awsRegion` (see
/// [`top_level_string`]); `None` if there is none. The sealer and the verifier both use
/// this, so they agree on every payload.
pub(crate) fn record_region(payload: &[u8]) -> Option<&str> {
    let value = top_level_string(payload, b"\"awsRegion\":\"")?;
    // Invalid UTF-8 or an escape is not a region name either.
    Some(file_region(std::str::from_utf8(value).unwrap_or("")))
}

/// The top-level `eventTime` of a record (see [`top_level_string`]), if it has a valid one.
fn record_time(payload: &[u8]) -> Option<EventTime> {
    let value = top_level_string(payload, b"\"eventTime\":\"")?;
    EventTime::parse(std::str::from_utf8(value).ok()?)
}

/// What the sealer reads of an event whose time [`record_time`] cannot find; everything
/// else is skipped.
#[derive(Deserialize)]
pub(crate) struct EventHead {
    /// Required, but the value used is [`record_region`]'s.
    #[serde(rename = "awsRegion")]
    _aws_region: serde::de::IgnoredAny,
    #[serde(rename = "eventTime")]
    pub event_time: EventTime,
}

impl EventHead {
    pub(crate) fn parse(payload: &[u8]) -> Result<Self, serde_json::Error> {
        serde_json::from_slice(payload)
    }
}

/// The minute stamp of a log file name, `YYYYMMDDTHHmmZ`.
pub(crate) fn minute_stamp(time: EventTime) -> String {
    Stamp::of(time).minute
}

/// `2026-11-23T08:47:12Z` → (`2026`, `11`, `23`, `20261123T0847Z`, `20261123T084712Z`).
struct Stamp {
    year: String,
    month: String,
    day: String,
    minute: String,
    second: String,
}

impl Stamp {
    fn of(time: EventTime) -> Self {
        let t = time.to_string();
        // Invariant: EventTime's text form is always `YYYY-MM-DDTHH:MM:SSZ` (20 ASCII bytes).
        let minute = format!(
            "{}{}{}T{}{}Z",
            &t[0..4],
            &t[5..7],
            &t[8..10],
            &t[11..13],
            &t[14..16]
        );
        let second = format!("{}{}Z", &minute[..minute.len() - 1], &t[17..19]);
        Self {
            year: t[0..4].into(),
            month: t[5..7].into(),
            day: t[8..10].into(),
            minute,
            second,
        }
    }
}

/// The object key (path under the output directory) of a log file.
pub(crate) fn log_file_object(
    account: &str,
    region: &str,
    delivered: EventTime,
    first_seq: u64,
) -> String {
    let s = Stamp::of(delivered);
    format!(
        "AWSLogs/{account}/CloudTrail/{region}/{}/{}/{}/{account}_CloudTrail_{region}_{}_{first_seq:016x}.json.gz",
        s.year, s.month, s.day, s.minute
    )
}

/// What a log file's name says: (account, region, `YYYYMMDDTHHmmZ`, first seq).
pub(crate) fn parse_log_file_name(name: &str) -> Option<(&str, &str, &str, u64)> {
    let stem = name.strip_suffix(".json.gz")?;
    let mut parts = stem.split('_');
    let account = parts.next()?;
    if parts.next()? != "CloudTrail" {
        return None;
    }
    let region = parts.next()?;
    let stamp = parts.next()?;
    let unique = parts.next()?;
    if parts.next().is_some()
        || stamp.len() != 14
        || unique.len() != 16
        || !unique.bytes().all(|c| c.is_ascii_hexdigit())
    {
        return None;
    }
    Some((
        account,
        region,
        stamp,
        u64::from_str_radix(unique, 16).ok()?,
    ))
}

fn digest_object(config: &SealConfig, region: &str, end: EventTime) -> String {
    let s = Stamp::of(end);
    let account = &config.account_id;
    format!(
        "AWSLogs/{account}/CloudTrail-Digest/{region}/{}/{}/{}/{account}_CloudTrail-Digest_{region}_{}_{}_{}.json.gz",
        s.year, s.month, s.day, config.trail_name, config.home_region, s.second
    )
}

/// The sidecar holding a digest's hex signature (CloudTrail's `x-amz-meta-signature`).
pub fn signature_sidecar(digest_path: &Path) -> PathBuf {
    let mut name = digest_path.as_os_str().to_os_string();
    name.push(".sig");
    PathBuf::from(name)
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = GzEncoder::new(
        Vec::with_capacity(bytes.len() / 4 + 64),
        Compression::fast(),
    );
    // Invariant: writing to a Vec cannot fail.
    enc.write_all(bytes).expect("gzip into memory cannot fail");
    enc.finish().expect("gzip into memory cannot fail")
}

/// The previous digest of a region, as the next digest links to it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct PreviousDigest {
    s3_bucket: String,
    s3_object: String,
    hash_value: String,
    signature: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RegionState {
    previous_digest: Option<PreviousDigest>,
    /// Log files delivered since the previous digest, in delivery order.
    log_files: Vec<LogFileEntry>,
}

/// A seal that was started: records `first_seq..=last_seq` at `now_millis`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct PendingSeal {
    first_seq: u64,
    last_seq: u64,
    now_millis: i64,
}

/// The sealer's persisted state (format version [`STATE_VERSION`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct State {
    version: u32,
    next_seq: u64,
    /// When sealing started (the first call with a time); the first digest period starts here.
    start_millis: Option<i64>,
    /// End of the last digest period (all regions share the schedule).
    last_digest_end_millis: Option<i64>,
    pending_seal: Option<PendingSeal>,
    /// End time of digests that were started but not committed.
    pending_digest_end_millis: Option<i64>,
    regions: BTreeMap<String, RegionState>,
}

impl Default for State {
    fn default() -> Self {
        Self {
            version: STATE_VERSION,
            next_seq: 0,
            start_millis: None,
            last_digest_end_millis: None,
            pending_seal: None,
            pending_digest_end_millis: None,
            regions: BTreeMap::new(),
        }
    }
}

/// Writes sealed log files and digests; see the module docs. One `Sealer` per state
/// directory, driven from one thread.
pub struct Sealer {
    config: SealConfig,
    state_dir: PathBuf,
    key: RsaSigningKey,
    fingerprint: String,
    state: State,
    /// Tests only: stop after writing files, before committing the state.
    #[cfg(test)]
    pub(crate) crash_before_commit: bool,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sealer")
            .field("config", &self.config)
            .field("state_dir", &self.state_dir)
            .field("next_seq", &self.state.next_seq)
            .field("fingerprint", &self.fingerprint)
            .finish_non_exhaustive()
    }
}

impl Sealer {
    /// Opens (or starts) the sealer whose state lives in `state_dir`, creating both
    /// directories if needed. `key` signs digests; keep it for as long as the digests must
    /// verify (the verifier takes one public key).
    pub fn open(
        config: SealConfig,
        state_dir: &Path,
        key: RsaSigningKey,
    ) -> Result<Self, SealError> {
        config.validate()?;
        fs::create_dir_all(&config.out_dir).map_err(io_at(&config.out_dir))?;
        fs::create_dir_all(state_dir).map_err(io_at(state_dir))?;
        let path = state_dir.join(STATE_FILE);
        let state = match fs::read(&path) {
            Ok(bytes) => {
                #[derive(Deserialize)]
                struct Version {
                    version: u32,
                }
                let v: Version =
                    serde_json::from_slice(&bytes).map_err(|error| SealError::CorruptState {
                        path: path.clone(),
                        error,
                    })?;
                if v.version != STATE_VERSION {
                    return Err(SealError::UnsupportedStateVersion {
                        path,
                        version: v.version,
                    });
                }
                serde_json::from_slice(&bytes)
                    .map_err(|error| SealError::CorruptState { path, error })?
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => State::default(),
            Err(e) => return Err(io_at(&path)(e)),
        };
        let fingerprint = public_key_fingerprint(key.public_key_der());
        Ok(Self {
            config,
            state_dir: state_dir.to_path_buf(),
            key,
            fingerprint,
            state,
            #[cfg(test)]
            crash_before_commit: false,
        })
    }

    /// The first log record not yet sealed.
    pub fn next_seq(&self) -> u64 {
        self.state.next_seq
    }

    /// The configuration this sealer writes with.
    pub fn config(&self) -> &SealConfig {
        &self.config
    }

    /// Seals `events`, consecutive log records `(seq, payload)` starting exactly at
    /// [`Sealer::next_seq`], into one log file per region and batch, delivered at
    /// `now_millis`. An empty slice does nothing. After a crash the interrupted records are
    /// sealed again with the interrupted call's time (so into the same files), then the rest
    /// with `now_millis`.
    pub fn seal(
        &mut self,
        events: &[(u64, Vec<u8>)],
        now_millis: i64,
    ) -> Result<SealOutcome, SealError> {
        self.seal_paced(events, now_millis, &mut Pace::flat_out())
    }

    /// [`Sealer::seal`], stepping `pace` per event and per piece of a file so that a
    /// background pass leaves the CPUs to requests most of the time.
    pub fn seal_paced(
        &mut self,
        events: &[(u64, Vec<u8>)],
        now_millis: i64,
        pace: &mut Pace<'_>,
    ) -> Result<SealOutcome, SealError> {
        self.finish_pending_digest()?;
        let mut outcome = SealOutcome {
            next_seq: self.state.next_seq,
            ..SealOutcome::default()
        };
        let Some(&(first, _)) = events.first() else {
            return Ok(outcome);
        };
        if first != self.state.next_seq {
            return Err(SealError::NotNextSeq {
                expected: self.state.next_seq,
                got: first,
            });
        }
        for pair in events.windows(2) {
            if pair[1].0 != pair[0].0 + 1 {
                return Err(SealError::NotConsecutive {
                    after: pair[0].0,
                    got: pair[1].0,
                });
            }
        }
        let mut rest = events;
        if let Some(pending) = self.state.pending_seal {
            // Invariant: an intent is recorded only for records starting at next_seq.
            let count = (pending.last_seq - pending.first_seq + 1) as usize;
            if rest.len() < count {
                return Err(SealError::IncompleteReseal {
                    first: pending.first_seq,
                    last: pending.last_seq,
                    given: rest.len(),
                });
            }
            self.seal_range(&rest[..count], pending.now_millis, &mut outcome, pace)?;
            rest = &rest[count..];
        }
        if let (Some(&(first, _)), Some(&(last, _))) = (rest.first(), rest.last()) {
            self.state.start_millis.get_or_insert(now_millis);
            self.state.pending_seal = Some(PendingSeal {
                first_seq: first,
                last_seq: last,
                now_millis,
            });
            self.save_state()?;
            self.seal_range(rest, now_millis, &mut outcome, pace)?;
        }
        Ok(outcome)
    }

    /// Writes the files of `events` (all of a recorded intent) and commits the state.
    fn seal_range(
        &mut self,
        events: &[(u64, Vec<u8>)],
        now_millis: i64,
        outcome: &mut SealOutcome,
        pace: &mut Pace<'_>,
    ) -> Result<(), SealError> {
        let delivered = EventTime::from_epoch_millis(now_millis);
        let mut entries: Vec<(String, LogFileEntry)> = Vec::new();
        for batch in split_batches(events, MAX_BATCH_BYTES) {
            let first_seq = batch[0].0;
            let last_seq = batch[batch.len() - 1].0;
            // Region → (payloads, oldest, newest), regions in name order.
            let mut groups: BTreeMap<String, (Vec<&[u8]>, EventTime, EventTime)> = BTreeMap::new();
            for (seq, payload) in batch {
                let t = match record_time(payload) {
                    Some(t) => t,
                    None => {
                        EventHead::parse(payload)
                            .map_err(|error| SealError::NotAnEvent { seq: *seq, error })?
                            .event_time
                    }
                };
                // A payload without the pattern (not canonical bytes) is filed like an
                // invalid region; the verifier does the same.
                let region = record_region(payload).unwrap_or(INVALID_REGION);
                let group = groups
                    .entry(region.to_string())
                    .or_insert((Vec::new(), t, t));
                group.0.push(payload);
                group.1 = group.1.min(t);
                group.2 = group.2.max(t);
                pace.step();
            }
            for (region, (payloads, oldest, newest)) in groups {
                let (gzipped, content_sha256) = gzip_records(&payloads, pace);
                let object =
                    log_file_object(&self.config.account_id, &region, delivered, first_seq);
                let path = self.write_object(&object, &gzipped)?;
                outcome.files.push(path);
                entries.push((
                    region,
                    LogFileEntry {
                        s3_bucket: self.config.bucket.clone(),
                        s3_object: object,
                        hash_value: hex(&content_sha256),
                        hash_algorithm: HASH_ALGORITHM.into(),
                        newest_event_time: newest,
                        oldest_event_time: oldest,
                        kagi_first_seq: first_seq,
                        kagi_last_seq: last_seq,
                    },
                ));
            }
        }
        #[cfg(test)]
        if self.crash_before_commit {
            return Err(SealError::SimulatedCrash);
        }
        for (region, entry) in entries {
            let files = &mut self.state.regions.entry(region).or_default().log_files;
            // A crash between writing and committing leaves no entry behind, but an entry
            // for the same object is replaced rather than listed twice, whatever happened.
            files.retain(|e| e.s3_object != entry.s3_object);
            files.push(entry);
        }
        // Invariant: `events` is non-empty (callers pass at least one record).
        let last = events[events.len() - 1].0;
        self.state.next_seq = last + 1;
        self.state.pending_seal = None;
        self.save_state()?;
        outcome.records += events.len() as u64;
        outcome.next_seq = self.state.next_seq;
        Ok(())
    }

    /// Writes one digest per known region if a digest period has passed since the last
    /// digests (or, for the first, since sealing started). Returns the digest files written.
    pub fn write_digests_if_due(&mut self, now_millis: i64) -> Result<Vec<PathBuf>, SealError> {
        let mut written = self.finish_pending_digest()?;
        if self.state.pending_seal.is_some() {
            return Ok(written);
        }
        if self.state.start_millis.is_none() {
            self.state.start_millis = Some(now_millis);
            self.save_state()?;
        }
        let period_start = self.period_start();
        if now_millis < period_start.saturating_add(DIGEST_PERIOD_MILLIS) || !written.is_empty() {
            return Ok(written);
        }
        written.extend(self.start_digests(now_millis)?);
        Ok(written)
    }

    /// Writes one digest per known region now, whatever the time since the last ones (at
    /// shutdown, and in tests). Nothing if no region has had a log file yet, or while an
    /// interrupted seal waits to be redone.
    pub fn force_digests(&mut self, now_millis: i64) -> Result<Vec<PathBuf>, SealError> {
        let mut written = self.finish_pending_digest()?;
        if self.state.pending_seal.is_some() || self.state.regions.is_empty() {
            return Ok(written);
        }
        self.state.start_millis.get_or_insert(now_millis);
        written.extend(self.start_digests(now_millis)?);
        Ok(written)
    }

    fn period_start(&self) -> i64 {
        // Invariant: called only once start_millis is set.
        self.state
            .last_digest_end_millis
            .or(self.state.start_millis)
            .unwrap_or(0)
    }

    fn start_digests(&mut self, now_millis: i64) -> Result<Vec<PathBuf>, SealError> {
        if self.state.regions.is_empty() {
            return Ok(Vec::new());
        }
        // Whole seconds, strictly after the previous end so that names never repeat.
        let mut end_secs = now_millis.div_euclid(1000);
        if let Some(last) = self.state.last_digest_end_millis {
            end_secs = end_secs.max(last.div_euclid(1000) + 1);
        }
        self.state.pending_digest_end_millis = Some(end_secs * 1000);
        self.save_state()?;
        self.finish_pending_digest()
    }

    /// Writes the digests of a recorded digest intent, if any, and commits them.
    fn finish_pending_digest(&mut self) -> Result<Vec<PathBuf>, SealError> {
        let Some(end_millis) = self.state.pending_digest_end_millis else {
            return Ok(Vec::new());
        };
        let start = EventTime::from_epoch_millis(self.period_start());
        let end = EventTime::from_epoch_millis(end_millis);
        let mut written = Vec::new();
        let mut links = Vec::new();
        for (region, rs) in &self.state.regions {
            let object = digest_object(&self.config, region, end);
            let digest = DigestFile {
                aws_account_id: self.config.account_id.clone(),
                digest_start_time: start,
                digest_end_time: end,
                digest_s3_bucket: self.config.bucket.clone(),
                digest_s3_object: object.clone(),
                digest_public_key_fingerprint: self.fingerprint.clone(),
                digest_signature_algorithm: SIGNATURE_ALGORITHM.into(),
                newest_event_time: rs.log_files.iter().map(|f| f.newest_event_time).max(),
                oldest_event_time: rs.log_files.iter().map(|f| f.oldest_event_time).min(),
                previous_digest_s3_bucket: rs.previous_digest.as_ref().map(|p| p.s3_bucket.clone()),
                previous_digest_s3_object: rs.previous_digest.as_ref().map(|p| p.s3_object.clone()),
                previous_digest_hash_value: rs
                    .previous_digest
                    .as_ref()
                    .map(|p| p.hash_value.clone()),
                previous_digest_hash_algorithm: rs
                    .previous_digest
                    .as_ref()
                    .map(|_| HASH_ALGORITHM.to_string()),
                previous_digest_signature: rs.previous_digest.as_ref().map(|p| p.signature.clone()),
                log_files: rs.log_files.clone(),
            };
            // Invariant: serialising plain strings, numbers and times to memory cannot fail.
            let content = serde_json::to_vec(&digest).expect("serialising a digest cannot fail");
            let hash_value = hex(&sha256(&content));
            let signature = hex(&self
                .key
                .sign_sha256(string_to_sign(&digest, &hash_value).as_bytes()));
            // The signature first: a digest on disk always has its sidecar.
            let sidecar = signature_sidecar(Path::new(&object));
            self.write_object(&sidecar.to_string_lossy(), signature.as_bytes())?;
            written.push(self.write_object(&object, &gzip(&content))?);
            links.push((
                region.clone(),
                PreviousDigest {
                    s3_bucket: self.config.bucket.clone(),
                    s3_object: object,
                    hash_value,
                    signature,
                },
            ));
        }
        #[cfg(test)]
        if self.crash_before_commit {
            return Err(SealError::SimulatedCrash);
        }
        for (region, link) in links {
            // Invariant: `links` holds only regions taken from `self.state.regions`.
            let rs = self.state.regions.get_mut(&region).expect("region exists");
            rs.previous_digest = Some(link);
            rs.log_files.clear();
        }
        self.state.last_digest_end_millis = Some(end_millis);
        self.state.pending_digest_end_millis = None;
        self.save_state()?;
        Ok(written)
    }

    /// Writes `bytes` durably at `object` under the output directory; returns the path.
    fn write_object(&self, object: &str, bytes: &[u8]) -> Result<PathBuf, SealError> {
        let rel = Path::new(object);
        // Invariant: objects are built by this module and always have a parent and a name.
        let (dir, name) = (
            rel.parent().expect("object has a directory"),
            rel.file_name().expect("object has a name"),
        );
        create_dirs_durably(&self.config.out_dir, dir)?;
        let dir = self.config.out_dir.join(dir);
        write_file_durably(&dir, &name.to_string_lossy(), bytes)?;
        Ok(dir.join(name))
    }

    fn save_state(&self) -> Result<(), SealError> {
        // Invariant: the state holds only strings, numbers and maps with string keys.
        let bytes =
            serde_json::to_vec_pretty(&self.state).expect("serialising the state cannot fail");
        write_file_durably(&self.state_dir, STATE_FILE, &bytes)
    }
}

/// Splits consecutive records into batches of at most `max_bytes` payload bytes (a single
/// larger record is a batch of its own).
fn split_batches(events: &[(u64, Vec<u8>)], max_bytes: usize) -> Vec<&[(u64, Vec<u8>)]> {
    let mut batches = Vec::new();
    let (mut start, mut bytes) = (0, 0);
    for (i, (_, payload)) in events.iter().enumerate() {
        if i > start && bytes + payload.len() > max_bytes {
            batches.push(&events[start..i]);
            (start, bytes) = (i, 0);
        }
        bytes += payload.len();
    }
    if start < events.len() {
        batches.push(&events[start..]);
    }
    batches
}

/// How much uncompressed content is compressed and hashed at once, between two steps of
/// the pace (fast deflate takes well under a millisecond for it).
const GZIP_PIECE: usize = 64 << 10;

/// `{"Records":[p1,p2,…]}` with every payload embedded byte for byte, gzip'd; returns the
/// gzip bytes and the SHA-256 of the uncompressed content. The content is compressed and
/// hashed in pieces as it is assembled, so it is never whole in memory and `pace` can rest
/// between pieces.
fn gzip_records(payloads: &[&[u8]], pace: &mut Pace<'_>) -> (Vec<u8>, [u8; 32]) {
    let len = RECORDS_PREFIX.len()
        + RECORDS_SUFFIX.len()
        + payloads.iter().map(|p| p.len() + 1).sum::<usize>();
    let mut out = Pieces {
        gz: GzEncoder::new(Vec::with_capacity(len / 4 + 64), Compression::fast()),
        sha: Sha256::new(),
        piece: Vec::with_capacity(GZIP_PIECE),
    };
    out.put(RECORDS_PREFIX, pace);
    for (i, p) in payloads.iter().enumerate() {
        if i > 0 {
            out.put(b",", pace);
        }
        out.put(p, pace);
    }
    out.put(RECORDS_SUFFIX, pace);
    out.finish()
}

/// Content on its way into a log file: the piece not yet compressed, the compressor and
/// the hash of everything put so far.
struct Pieces {
    gz: GzEncoder<Vec<u8>>,
    sha: Sha256,
    piece: Vec<u8>,
}

impl Pieces {
    fn put(&mut self, bytes: &[u8], pace: &mut Pace<'_>) {
        self.piece.extend_from_slice(bytes);
        if self.piece.len() >= GZIP_PIECE {
            self.flush();
            pace.step();
        }
    }

    fn flush(&mut self) {
        self.sha.update(&self.piece);
        // Invariant: writing to a Vec cannot fail.
        self.gz
            .write_all(&self.piece)
            .expect("gzip into memory cannot fail");
        self.piece.clear();
    }

    fn finish(mut self) -> (Vec<u8>, [u8; 32]) {
        self.flush();
        let gz = self.gz.finish().expect("gzip into memory cannot fail");
        (gz, self.sha.finish())
    }
}

/// The byte ranges of the records of a log file's uncompressed content, which must be
/// exactly `{"Records":[` + records joined by `,` + `]}` with each record a JSON object (as
/// [`Sealer`] writes them). It finds the boundaries of the objects (tracking strings and
/// nesting); it does not validate the JSON inside them.
pub(crate) fn split_records(content: &[u8]) -> Result<Vec<std::ops::Range<usize>>, &'static str> {
    let inner = content
        .strip_prefix(RECORDS_PREFIX)
        .and_then(|c| c.strip_suffix(RECORDS_SUFFIX))
        .ok_or("not {\"Records\":[…]}")?;
    let base = RECORDS_PREFIX.len();
    let mut ranges = Vec::new();
    let mut i = 0;
    while i < inner.len() {
        if !ranges.is_empty() {
            if inner[i] != b',' {
                return Err("records are not separated by ','");
            }
            i += 1;
        }
        if inner.get(i) != Some(&b'{') {
            return Err("a record is not a JSON object");
        }
        let end = object_end(inner, i).ok_or("a record is cut short")?;
        ranges.push(base + i..base + end);
        i = end;
    }
    Ok(ranges)
}

/// The index just past the JSON object that starts at `start`.
fn object_end(b: &[u8], start: usize) -> Option<usize> {
    let mut depth = 0usize;
    let mut i = start;
    while i < b.len() {
        match b[i] {
            b'"' => {
                i += 1;
                loop {
                    let at = i + b.get(i..)?.iter().position(|&c| c == b'"' || c == b'\\')?;
                    if b[at] == b'\\' {
                        i = at + 2;
                    } else {
                        i = at + 1;
                        break;
                    }
                }
                continue;
            }
            b'{' | b'[' => depth += 1,
            b'}' | b']' => {
                depth = depth.checked_sub(1)?;
                if depth == 0 {
                    return Some(i + 1);
                }
            }
            _ => {}
        }
        i += 1;
    }
    None
}

/// Creates `rel` (and its missing ancestors) under `root`, syncing each parent that got a
/// new entry so the directories survive a crash.
fn create_dirs_durably(root: &Path, rel: &Path) -> Result<(), SealError> {
    let mut current = root.to_path_buf();
    for component in rel.components() {
        let next = current.join(component);
        match fs::create_dir(&next) {
            Ok(()) => sync_dir(&current)?,
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(io_at(&next)(e)),
        }
        current = next;
    }
    Ok(())
}

fn sync_dir(dir: &Path) -> Result<(), SealError> {
    crate::durable::sync_dir(dir).map_err(io_at(dir))
}

/// See [`crate::durable::replace`].
fn write_file_durably(dir: &Path, name: &str, bytes: &[u8]) -> Result<(), SealError> {
    let target = dir.join(name);
    crate::durable::replace(dir, name, &format!(".{name}.tmp"), bytes).map_err(io_at(&target))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::event::{
        CloudTrailEvent, EventType, UserIdentity, EVENT_VERSION, KMS_EVENT_SOURCE,
        MANAGEMENT_CATEGORY,
    };
    use flate2::read::GzDecoder;
    use kagi_crypto::digest::unhex;
    use kagi_crypto::{verify_rsa_sha256, SecretBytes};
    use serde_json::{json, Value};
    use std::io::Read;
    use std::sync::OnceLock;

    pub(crate) const ACCOUNT: &str = "111122223333";
    /// 2026-11-23T08:47:12Z.
    pub(crate) const T0: i64 = 1_795_423_632_000;
    pub(crate) const MINUTE: i64 = 60_000;
    pub(crate) const HOUR: i64 = DIGEST_PERIOD_MILLIS;

    /// One RSA key for all tests (generation is the slow part), as PKCS#8.
    pub(crate) fn key() -> RsaSigningKey {
        static PKCS8: OnceLock<SecretBytes> = OnceLock::new();
        let pkcs8 = PKCS8.get_or_init(|| RsaSigningKey::generate(2048).unwrap().to_pkcs8());
        RsaSigningKey::from_pkcs8(pkcs8).unwrap()
    }

    /// The canonical bytes of event `i` in `region` at `at_millis`. Its strings hold
    /// braces, brackets, commas and escaped quotes, to exercise the record splitter.
    pub(crate) fn event(i: u64, region: &str, at_millis: i64) -> Vec<u8> {
        let Value::Object(params) = json!({
            "keyId": format!("alias/k{i}"),
            "encryptionContext": {"tricky": "}]{[,\"\\", "n": i},
        }) else {
            unreachable!()
        };
        CloudTrailEvent {
            event_version: EVENT_VERSION.into(),
            user_identity: UserIdentity {
                account_id: Some(ACCOUNT.into()),
                ..UserIdentity::default()
            },
            event_time: EventTime::from_epoch_millis(at_millis),
            event_source: KMS_EVENT_SOURCE.into(),
            event_name: "Encrypt".into(),
            aws_region: region.into(),
            source_ip_address: "192.0.2.1".into(),
            user_agent: "agent \"{[\" é".into(),
            error_code: None,
            error_message: None,
            request_parameters: Some(params),
            response_elements: None,
            additional_event_data: None,
            request_id: Some(format!("req-{i}")),
            event_id: format!("event-{i}"),
            read_only: true,
            resources: Vec::new(),
            event_type: EventType::AwsApiCall,
            management_event: true,
            recipient_account_id: ACCOUNT.into(),
            service_event_details: None,
            event_category: MANAGEMENT_CATEGORY.into(),
        }
        .canonical_bytes()
    }

    /// Records `first..first + regions.len()`, record `first + i` in `regions[i]`, one
    /// second apart from `at_millis`.
    pub(crate) fn events(first: u64, regions: &[&str], at_millis: i64) -> Vec<(u64, Vec<u8>)> {
        regions
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let seq = first + i as u64;
                (seq, event(seq, r, at_millis + i as i64 * 1000))
            })
            .collect()
    }

    pub(crate) struct Fixture {
        pub dir: tempfile::TempDir,
    }

    impl Fixture {
        pub(crate) fn new() -> Self {
            Self {
                dir: tempfile::tempdir().unwrap(),
            }
        }
        pub(crate) fn out(&self) -> PathBuf {
            self.dir.path().join("out")
        }
        pub(crate) fn state(&self) -> PathBuf {
            self.dir.path().join("state")
        }
        pub(crate) fn sealer(&self) -> Sealer {
            let config = SealConfig::new(self.out(), ACCOUNT, "us-east-1");
            Sealer::open(config, &self.state(), key()).unwrap()
        }
    }

    pub(crate) fn gunzip(path: &Path) -> Vec<u8> {
        let mut out = Vec::new();
        GzDecoder::new(fs::File::open(path).unwrap())
            .read_to_end(&mut out)
            .unwrap();
        out
    }

    pub(crate) fn object_of(out: &Path, path: &Path) -> String {
        path.strip_prefix(out)
            .unwrap()
            .to_str()
            .unwrap()
            .to_string()
    }

    fn sample_digest(previous: bool) -> DigestFile {
        let object = "AWSLogs/111122223333/CloudTrail-Digest/us-east-1/2026/11/23/\
                      111122223333_CloudTrail-Digest_us-east-1_kagi_us-east-1_20261123T094712Z.json.gz";
        DigestFile {
            aws_account_id: ACCOUNT.into(),
            digest_start_time: EventTime::from_epoch_millis(T0),
            digest_end_time: EventTime::from_epoch_millis(T0 + HOUR),
            digest_s3_bucket: "kagi-audit".into(),
            digest_s3_object: object.into(),
            digest_public_key_fingerprint: "ab".repeat(32),
            digest_signature_algorithm: SIGNATURE_ALGORITHM.into(),
            newest_event_time: Some(EventTime::from_epoch_millis(T0 + 2000)),
            oldest_event_time: Some(EventTime::from_epoch_millis(T0)),
            previous_digest_s3_bucket: previous.then(|| "kagi-audit".into()),
            previous_digest_s3_object: previous.then(|| "AWSLogs/prev.json.gz".into()),
            previous_digest_hash_value: previous.then(|| "cd".repeat(32)),
            previous_digest_hash_algorithm: previous.then(|| HASH_ALGORITHM.into()),
            previous_digest_signature: previous.then(|| "ef".repeat(256)),
            log_files: vec![LogFileEntry {
                s3_bucket: "kagi-audit".into(),
                s3_object: "AWSLogs/x.json.gz".into(),
                hash_value: "01".repeat(32),
                hash_algorithm: HASH_ALGORITHM.into(),
                newest_event_time: EventTime::from_epoch_millis(T0 + 2000),
                oldest_event_time: EventTime::from_epoch_millis(T0),
                kagi_first_seq: 0,
                kagi_last_seq: 2,
            }],
        }
    }

    /// The digest format is an API: field names, order and null rules are pinned.
    #[test]
    fn digest_json_and_string_to_sign_are_pinned() {
        let first = sample_digest(false);
        let text = String::from_utf8(serde_json::to_vec(&first).unwrap()).unwrap();
        let expected = concat!(
            r#"{"awsAccountId":"111122223333","digestStartTime":"2026-11-23T08:47:12Z","#,
            r#""digestEndTime":"2026-11-23T09:47:12Z","digestS3Bucket":"kagi-audit","#,
            r#""digestS3Object":"AWSLogs/111122223333/CloudTrail-Digest/us-east-1/2026/11/23/"#,
            r#"111122223333_CloudTrail-Digest_us-east-1_kagi_us-east-1_20261123T094712Z.json.gz","#,
            r#""digestPublicKeyFingerprint":"#,
            r#""abababababababababababababababababababababababababababababababab","#,
            r#""digestSignatureAlgorithm":"SHA256withRSA","#,
            r#""newestEventTime":"2026-11-23T08:47:14Z","oldestEventTime":"2026-11-23T08:47:12Z","#,
            r#""previousDigestS3Bucket":null,"previousDigestS3Object":null,"#,
            r#""previousDigestHashValue":null,"previousDigestHashAlgorithm":null,"#,
            r#""previousDigestSignature":null,"#,
            r#""logFiles":[{"s3Bucket":"kagi-audit","s3Object":"AWSLogs/x.json.gz","#,
            r#""hashValue":"0101010101010101010101010101010101010101010101010101010101010101","#,
            r#""hashAlgorithm":"SHA-256","newestEventTime":"2026-11-23T08:47:14Z","#,
            r#""oldestEventTime":"2026-11-23T08:47:12Z","kagiFirstSeq":0,"kagiLastSeq":2}]}"#,
        );
        assert_eq!(text, expected);
        assert_eq!(
            string_to_sign(&first, "99"),
            "2026-11-23T09:47:12Z\nkagi-audit/AWSLogs/111122223333/CloudTrail-Digest/us-east-1/\
             2026/11/23/111122223333_CloudTrail-Digest_us-east-1_kagi_us-east-1_20261123T094712Z\
             .json.gz\n99\nnull"
        );
        let chained = sample_digest(true);
        assert!(string_to_sign(&chained, "99").ends_with(&format!("\n99\n{}", "ef".repeat(256))));
        let back: DigestFile =
            serde_json::from_slice(&serde_json::to_vec(&chained).unwrap()).unwrap();
        assert_eq!(back, chained);
    }

    #[test]
    fn names_follow_cloudtrails_layout() {
        let t = EventTime::from_epoch_millis(T0);
        let log = log_file_object(ACCOUNT, "eu-west-1", t, 0x1234);
        assert_eq!(
            log,
            "AWSLogs/111122223333/CloudTrail/eu-west-1/2026/11/23/\
             111122223333_CloudTrail_eu-west-1_20261123T0847Z_0000000000001234.json.gz"
        );
        let name = log.rsplit('/').next().unwrap();
        assert_eq!(
            parse_log_file_name(name),
            Some((ACCOUNT, "eu-west-1", "20261123T0847Z", 0x1234))
        );
        assert_eq!(
            parse_log_file_name("x_CloudTrail_r_20261123T0847Z_zz.json.gz"),
            None
        );
        assert_eq!(
            parse_log_file_name("a_CloudTrail-Digest_r_20261123T0847Z_0000000000001234.json.gz"),
            None
        );
        let config = SealConfig::new("/o", ACCOUNT, "us-east-1");
        assert_eq!(
            digest_object(&config, "eu-west-1", t),
            "AWSLogs/111122223333/CloudTrail-Digest/eu-west-1/2026/11/23/\
             111122223333_CloudTrail-Digest_eu-west-1_kagi_us-east-1_20261123T084712Z.json.gz"
        );
        assert_eq!(
            signature_sidecar(Path::new("a/b.json.gz")),
            PathBuf::from("a/b.json.gz.sig")
        );
        assert_eq!(file_region("ap-southeast-2"), "ap-southeast-2");
        for bad in ["", "../x", "US-EAST-1", "a/b", "1abc", &"a".repeat(33)] {
            assert_eq!(file_region(bad), INVALID_REGION, "{bad:?}");
        }
    }

    #[test]
    fn record_region_reads_the_top_level_field() {
        assert_eq!(
            record_region(&event(0, "eu-north-1", T0)),
            Some("eu-north-1")
        );
        assert_eq!(record_region(&event(0, "a\"b", T0)), Some(INVALID_REGION));
        assert_eq!(record_region(&event(0, "../x", T0)), Some(INVALID_REGION));
        // The pattern cannot hide in a string: its quotes would be escaped.
        let tricky = br#"{"userAgent":"\"awsRegion\":\"evil","awsRegion":"us-east-2"}"#;
        assert_eq!(record_region(tricky), Some("us-east-2"));
        assert_eq!(record_region(b"{\"awsRegion\": \"us-east-2\"}"), None);
    }

    #[test]
    fn record_time_reads_the_top_level_field() {
        let payload = event(0, "eu-north-1", T0);
        assert_eq!(
            record_time(&payload),
            Some(EventHead::parse(&payload).unwrap().event_time)
        );
        let tricky = br#"{"userAgent":"\"eventTime\":\"1999-01-01T00:00:00Z","eventTime":"2026-11-23T08:47:12Z"}"#;
        assert_eq!(
            record_time(tricky),
            EventTime::parse("2026-11-23T08:47:12Z")
        );
        // Not a valid time: the sealer falls back to parsing, which refuses it.
        assert_eq!(record_time(br#"{"eventTime":"yesterday"}"#), None);
        assert_eq!(record_time(b"{}"), None);
    }

    #[test]
    fn config_is_validated() {
        let ok = SealConfig::new("/o", ACCOUNT, "us-east-1");
        assert!(ok.validate().is_ok());
        for bad in [
            SealConfig {
                account_id: "../1".into(),
                ..ok.clone()
            },
            SealConfig {
                home_region: "Home".into(),
                ..ok.clone()
            },
            SealConfig {
                trail_name: "a/b".into(),
                ..ok.clone()
            },
            SealConfig {
                bucket: "a/b".into(),
                ..ok.clone()
            },
            SealConfig {
                bucket: String::new(),
                ..ok.clone()
            },
        ] {
            assert!(
                matches!(bad.validate(), Err(SealError::InvalidConfig(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn seal_writes_one_file_per_region_with_records_byte_for_byte() {
        let f = Fixture::new();
        let mut sealer = f.sealer();
        assert_eq!(sealer.next_seq(), 0);
        let batch = events(
            0,
            &["us-east-1", "eu-west-1", "us-east-1", "bogus/../region"],
            T0,
        );
        let outcome = sealer.seal(&batch, T0 + 5 * MINUTE).unwrap();
        assert_eq!(outcome.records, 4);
        assert_eq!(outcome.next_seq, 4);
        assert_eq!(sealer.next_seq(), 4);
        let objects: Vec<String> = outcome
            .files
            .iter()
            .map(|p| object_of(&f.out(), p))
            .collect();
        assert_eq!(
            objects,
            [
                "AWSLogs/111122223333/CloudTrail/eu-west-1/2026/11/23/\
                 111122223333_CloudTrail_eu-west-1_20261123T0852Z_0000000000000000.json.gz",
                "AWSLogs/111122223333/CloudTrail/invalid-region/2026/11/23/\
                 111122223333_CloudTrail_invalid-region_20261123T0852Z_0000000000000000.json.gz",
                "AWSLogs/111122223333/CloudTrail/us-east-1/2026/11/23/\
                 111122223333_CloudTrail_us-east-1_20261123T0852Z_0000000000000000.json.gz",
            ]
        );
        let us = gunzip(&outcome.files[2]);
        let mut expected = b"{\"Records\":[".to_vec();
        expected.extend_from_slice(&batch[0].1);
        expected.push(b',');
        expected.extend_from_slice(&batch[2].1);
        expected.extend_from_slice(b"]}");
        assert_eq!(us, expected);
        // It is JSON a CloudTrail reader accepts.
        let v: Value = serde_json::from_slice(&us).unwrap();
        assert_eq!(v["Records"].as_array().unwrap().len(), 2);
        assert_eq!(v["Records"][1]["eventID"], "event-2");
        let ranges = split_records(&us).unwrap();
        assert_eq!(&us[ranges[0].clone()], &batch[0].1[..]);
        assert_eq!(&us[ranges[1].clone()], &batch[2].1[..]);

        // Empty calls do nothing; the next call continues.
        assert_eq!(sealer.seal(&[], T0 + 6 * MINUTE).unwrap().files.len(), 0);
        let next = sealer
            .seal(&events(4, &["us-east-1"], T0), T0 + 10 * MINUTE)
            .unwrap();
        assert!(object_of(&f.out(), &next.files[0])
            .ends_with("_20261123T0857Z_0000000000000004.json.gz"));
        // No temporary file is left behind.
        let tmp = walk(&f.out())
            .into_iter()
            .filter(|p| p.to_string_lossy().ends_with(".tmp"))
            .count();
        assert_eq!(tmp, 0);
    }

    pub(crate) fn walk(dir: &Path) -> Vec<PathBuf> {
        let mut out = Vec::new();
        for e in fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p);
            }
        }
        out.sort();
        out
    }

    #[test]
    fn seal_rejects_records_out_of_place() {
        let f = Fixture::new();
        let mut sealer = f.sealer();
        assert!(matches!(
            sealer.seal(&events(1, &["us-east-1"], T0), T0),
            Err(SealError::NotNextSeq {
                expected: 0,
                got: 1
            })
        ));
        let mut gap = events(0, &["us-east-1", "us-east-1"], T0);
        gap[1].0 = 2;
        assert!(matches!(
            sealer.seal(&gap, T0),
            Err(SealError::NotConsecutive { after: 0, got: 2 })
        ));
        assert!(matches!(
            sealer.seal(&[(0, b"{\"no\":1}".to_vec())], T0),
            Err(SealError::NotAnEvent { seq: 0, .. })
        ));
        // Nothing was sealed, nothing written.
        assert_eq!(sealer.next_seq(), 0);
        assert!(!f.out().join("AWSLogs").exists());
    }

    #[test]
    fn records_are_gzipped_and_hashed_in_paced_pieces() {
        let payloads: Vec<Vec<u8>> = (0..300)
            .map(|i| format!("{{\"n\":{i},\"pad\":\"{}\"}}", "x".repeat(700)).into_bytes())
            .collect();
        let refs: Vec<&[u8]> = payloads.iter().map(Vec::as_slice).collect();
        let mut rests = 0;
        let mut rest = |_| {
            rests += 1;
            true
        };
        let (gz, hash) = gzip_records(
            &refs,
            &mut Pace::new(50, std::time::Duration::ZERO, &mut rest),
        );
        let mut content = Vec::new();
        flate2::read::GzDecoder::new(&gz[..])
            .read_to_end(&mut content)
            .unwrap();
        let expected = format!(
            "{{\"Records\":[{}]}}",
            payloads
                .iter()
                .map(|p| String::from_utf8_lossy(p).into_owned())
                .collect::<Vec<_>>()
                .join(",")
        );
        assert_eq!(content, expected.as_bytes());
        assert_eq!(hash, sha256(expected.as_bytes()));
        // ~210 KiB of content: a rest after each of the three full 64 KiB pieces, none
        // for the last, partial one.
        assert_eq!(expected.len() / GZIP_PIECE, 3);
        assert_eq!(rests, 3);
    }

    #[test]
    fn batches_split_by_size() {
        let ev: Vec<(u64, Vec<u8>)> = (0..5).map(|i| (i, vec![b'x'; 10])).collect();
        let sizes = |max| {
            split_batches(&ev, max)
                .iter()
                .map(|b| b.len())
                .collect::<Vec<_>>()
        };
        assert_eq!(sizes(1000), [5]);
        assert_eq!(sizes(20), [2, 2, 1]);
        assert_eq!(sizes(25), [2, 2, 1]);
        assert_eq!(sizes(5), [1, 1, 1, 1, 1]);
        assert!(split_batches(&[], 10).is_empty());
    }

    #[test]
    fn split_records_finds_boundaries_and_rejects_other_shapes() {
        let content = br#"{"Records":[{"a":"}\"{","b":[{"c":1}]},{},{"d":"\\"}]}"#;
        let ranges = split_records(content).unwrap();
        let parts: Vec<&[u8]> = ranges.iter().map(|r| &content[r.clone()]).collect();
        assert_eq!(
            parts,
            [
                &br#"{"a":"}\"{","b":[{"c":1}]}"#[..],
                b"{}",
                br#"{"d":"\\"}"#
            ]
        );
        assert_eq!(split_records(br#"{"Records":[]}"#).unwrap().len(), 0);
        for bad in [
            &br#"{"Records": []}"#[..],
            br#"{"Records":[{}{}]}"#,
            br#"{"Records":[{},]}"#,
            br#"{"Records":[1]}"#,
            br#"{"Records":[{"a":"}]}"#,
            br#"{"Records":[{]}"#,
            b"[]",
        ] {
            assert!(
                split_records(bad).is_err(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn digests_are_hourly_signed_and_chained() {
        let f = Fixture::new();
        let mut sealer = f.sealer();
        let key = key();
        assert!(sealer.write_digests_if_due(T0).unwrap().is_empty());
        sealer
            .seal(&events(0, &["us-east-1", "eu-west-1"], T0), T0 + 5 * MINUTE)
            .unwrap();
        assert!(sealer
            .write_digests_if_due(T0 + 59 * MINUTE)
            .unwrap()
            .is_empty());
        let first = sealer.write_digests_if_due(T0 + HOUR).unwrap();
        assert_eq!(first.len(), 2);
        assert!(sealer
            .write_digests_if_due(T0 + HOUR + 30 * MINUTE)
            .unwrap()
            .is_empty());
        // Only us-east-1 gets a new file; eu-west-1 gets an empty digest.
        sealer
            .seal(
                &events(2, &["us-east-1"], T0 + HOUR),
                T0 + HOUR + 40 * MINUTE,
            )
            .unwrap();
        let second = sealer.write_digests_if_due(T0 + 2 * HOUR + 1500).unwrap();
        assert_eq!(second.len(), 2);

        let read = |p: &Path| -> (DigestFile, String, String) {
            let content = gunzip(p);
            let d: DigestFile = serde_json::from_slice(&content).unwrap();
            let sig = fs::read_to_string(signature_sidecar(p)).unwrap();
            (d, hex(&sha256(&content)), sig)
        };
        let (eu1, eu1_hash, eu1_sig) = read(&first[0]);
        let (us1, _, _) = read(&first[1]);
        let (eu2, _, eu2_sig) = read(&second[0]);
        let (us2, _, us2_sig) = read(&second[1]);
        assert_eq!(object_of(&f.out(), &first[0]), eu1.digest_s3_object);
        assert!(eu1
            .digest_s3_object
            .ends_with("_CloudTrail-Digest_eu-west-1_kagi_us-east-1_20261123T094712Z.json.gz"));
        assert_eq!(eu1.digest_start_time.to_string(), "2026-11-23T08:47:12Z");
        assert_eq!(eu1.digest_end_time.to_string(), "2026-11-23T09:47:12Z");
        assert_eq!(eu1.previous_digest_s3_object, None);
        assert_eq!(eu1.previous_digest_signature, None);
        assert_eq!(eu1.log_files.len(), 1);
        assert_eq!(us1.log_files[0].kagi_first_seq, 0);
        assert_eq!(us1.log_files[0].kagi_last_seq, 1);
        assert_eq!(
            eu1.oldest_event_time,
            Some(EventTime::from_epoch_millis(T0 + 1000))
        );
        assert_eq!(
            eu1.digest_public_key_fingerprint,
            public_key_fingerprint(key.public_key_der())
        );
        let log = gunzip(&f.out().join(&eu1.log_files[0].s3_object));
        assert_eq!(eu1.log_files[0].hash_value, hex(&sha256(&log)));

        assert_eq!(eu2.digest_start_time, eu1.digest_end_time);
        assert_eq!(eu2.log_files, []);
        assert_eq!(eu2.newest_event_time, None);
        assert_eq!(
            eu2.previous_digest_s3_object.as_deref(),
            Some(eu1.digest_s3_object.as_str())
        );
        assert_eq!(
            eu2.previous_digest_hash_value.as_deref(),
            Some(eu1_hash.as_str())
        );
        assert_eq!(
            eu2.previous_digest_signature.as_deref(),
            Some(eu1_sig.as_str())
        );
        assert_eq!(us2.log_files.len(), 1);
        assert_eq!(us2.log_files[0].kagi_first_seq, 2);

        for (d, p, sig) in [(&eu2, &second[0], &eu2_sig), (&us2, &second[1], &us2_sig)] {
            let hash = hex(&sha256(&gunzip(p)));
            let sts = string_to_sign(d, &hash);
            assert!(verify_rsa_sha256(
                key.public_key_der(),
                sts.as_bytes(),
                &unhex(sig).unwrap()
            ));
        }
        // Forced digests right away get a strictly later end second, so names never repeat.
        let forced = sealer.force_digests(T0 + 2 * HOUR).unwrap();
        let (eu3, _, _) = read(&forced[0]);
        assert_eq!(eu3.digest_end_time.to_string(), "2026-11-23T10:47:14Z");
        assert_ne!(forced[0], second[0]);
    }

    #[test]
    fn force_digests_needs_a_region() {
        let f = Fixture::new();
        let mut sealer = f.sealer();
        assert!(sealer.force_digests(T0).unwrap().is_empty());
        sealer.seal(&events(0, &["us-west-2"], T0), T0).unwrap();
        assert_eq!(sealer.force_digests(T0 + 1000).unwrap().len(), 1);
    }

    #[test]
    fn state_survives_reopening() {
        let f = Fixture::new();
        let mut sealer = f.sealer();
        sealer
            .seal(&events(0, &["us-east-1", "us-east-1"], T0), T0)
            .unwrap();
        sealer.force_digests(T0 + MINUTE).unwrap();
        sealer
            .seal(&events(2, &["us-east-1"], T0), T0 + 2 * MINUTE)
            .unwrap();
        let before = sealer.state.clone();
        drop(sealer);
        let mut reopened = f.sealer();
        assert_eq!(reopened.state, before);
        assert_eq!(reopened.next_seq(), 3);
        // The next digest is due an hour after the last one, and links to it.
        assert!(reopened.write_digests_if_due(T0 + HOUR).unwrap().is_empty());
        assert_eq!(
            reopened
                .write_digests_if_due(T0 + HOUR + MINUTE)
                .unwrap()
                .len(),
            1
        );

        fs::write(f.state().join(STATE_FILE), br#"{"version":7}"#).unwrap();
        let config = SealConfig::new(f.out(), ACCOUNT, "us-east-1");
        assert!(matches!(
            Sealer::open(config.clone(), &f.state(), key()),
            Err(SealError::UnsupportedStateVersion { version: 7, .. })
        ));
        fs::write(f.state().join(STATE_FILE), b"{").unwrap();
        assert!(matches!(
            Sealer::open(config, &f.state(), key()),
            Err(SealError::CorruptState { .. })
        ));
    }

    #[test]
    fn a_crash_before_the_state_commit_reseals_into_the_same_files() {
        let f = Fixture::new();
        let batch = events(0, &["us-east-1", "eu-west-1", "us-east-1"], T0);
        let mut sealer = f.sealer();
        sealer.crash_before_commit = true;
        assert!(matches!(
            sealer.seal(&batch, T0 + 5 * MINUTE),
            Err(SealError::SimulatedCrash)
        ));
        drop(sealer);
        let written = walk(&f.out());
        let contents: Vec<Vec<u8>> = written.iter().map(|p| fs::read(p).unwrap()).collect();
        assert_eq!(written.len(), 2);

        // Restarted ten minutes later, with two more records: the interrupted range goes into
        // the same files (same names, same bytes), the rest into a file of its own.
        let mut sealer = f.sealer();
        assert_eq!(sealer.next_seq(), 0);
        let mut more = batch.clone();
        more.extend(events(3, &["us-east-1", "eu-west-1"], T0 + 10 * MINUTE));
        assert!(matches!(
            sealer.seal(&batch[..2], T0 + 15 * MINUTE),
            Err(SealError::IncompleteReseal {
                first: 0,
                last: 2,
                given: 2
            })
        ));
        let outcome = sealer.seal(&more, T0 + 15 * MINUTE).unwrap();
        assert_eq!(outcome.next_seq, 5);
        assert_eq!(outcome.records, 5);
        assert_eq!(&outcome.files[..2], &written[..]);
        for (p, c) in written.iter().zip(&contents) {
            assert_eq!(&fs::read(p).unwrap(), c);
        }
        assert_eq!(outcome.files.len(), 4);
        assert!(outcome.files[2]
            .to_string_lossy()
            .contains("_20261123T0902Z_0000000000000003"));
        let state = &sealer.state;
        assert_eq!(state.regions["us-east-1"].log_files.len(), 2);
        assert_eq!(state.regions["eu-west-1"].log_files.len(), 2);
        assert_eq!(walk(&f.out()).len(), 4);
    }

    #[test]
    fn a_crash_while_writing_digests_rewrites_the_same_digests() {
        let f = Fixture::new();
        let mut sealer = f.sealer();
        sealer
            .seal(&events(0, &["us-east-1", "eu-west-1"], T0), T0)
            .unwrap();
        sealer.crash_before_commit = true;
        assert!(matches!(
            sealer.force_digests(T0 + MINUTE),
            Err(SealError::SimulatedCrash)
        ));
        drop(sealer);
        let before: Vec<(PathBuf, Vec<u8>)> = walk(&f.out())
            .into_iter()
            .map(|p| (p.clone(), fs::read(&p).unwrap()))
            .collect();
        assert_eq!(before.len(), 2 + 2 * 2);

        let mut sealer = f.sealer();
        // Whatever call comes first finishes the interrupted digests with their own end time.
        let outcome = sealer
            .seal(&events(2, &["us-east-1"], T0), T0 + 30 * MINUTE)
            .unwrap();
        assert_eq!(outcome.files.len(), 1);
        for (p, c) in &before {
            assert_eq!(&fs::read(p).unwrap(), c, "{}", p.display());
        }
        assert_eq!(walk(&f.out()).len(), before.len() + 1);
        assert_eq!(sealer.state.pending_digest_end_millis, None);
        assert_eq!(sealer.state.last_digest_end_millis, Some(T0 + MINUTE));
        assert_eq!(sealer.state.regions["us-east-1"].log_files.len(), 1);
    }

    #[test]
    fn no_digest_while_a_seal_is_unfinished() {
        let f = Fixture::new();
        let mut sealer = f.sealer();
        sealer.seal(&events(0, &["us-east-1"], T0), T0).unwrap();
        sealer.crash_before_commit = true;
        let _ = sealer.seal(&events(1, &["us-east-1"], T0), T0 + MINUTE);
        drop(sealer);
        let mut sealer = f.sealer();
        assert!(sealer
            .write_digests_if_due(T0 + 2 * HOUR)
            .unwrap()
            .is_empty());
        assert!(sealer.force_digests(T0 + 2 * HOUR).unwrap().is_empty());
        sealer
            .seal(&events(1, &["us-east-1"], T0), T0 + 2 * HOUR)
            .unwrap();
        assert_eq!(sealer.write_digests_if_due(T0 + 2 * HOUR).unwrap().len(), 1);
    }
}
