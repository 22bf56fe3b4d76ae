//! Measures the lookup index: writes N realistic KMS events (about 1.2 KB of CloudTrail
//! JSON each: mostly GenerateDataKey, Decrypt and Encrypt on ~2,000 keys, 20 IAM users,
//! ~2% failed calls, one event per second or so with some out of order) through the real
//! `AuditLog`, indexes them in batches as they become durable, then times
//! `LookupEvents`-style queries end to end: the index lookup for one page *plus* reading
//! every hit back from the log (`log::read_record`) and parsing it
//! (`CloudTrailEvent::parse`), which is what the server does to answer.
//!
//! `cargo run --release -p kagi-audit --example lookup_speed -- [--events N]
//! [--lookups N] [--batch N] [--insert-only]` (defaults 1,000,000 events, 1,000 lookups
//! per ResourceName shape, batches of 1,000). Everything lives in a temporary directory,
//! so the page cache is warm: these are the figures of a server whose log and index fit
//! in memory. Not a test: a timing assertion would be flaky on a shared machine; the
//! targets are a p95 of at most 50 ms per page of 50 by ResourceName over 1,000,000
//! events, and at most about 1.5 µs of CPU per indexed event. Results:
//! docs/benchmarks.md.
//!
//! `--insert-only` skips the log and the lookups: it builds the index entries in memory
//! (fake locations) and times only `insert_batch`, on one thread. That is the shape to run
//! under `valgrind --tool=callgrind --toggle-collect='*EventIndex*insert_batch*'`, whose
//! instruction counts do not move with the machine's load.

use kagi_audit::event::{
    CloudTrailEvent, EventTime, EventType, IdentityType, Resource, UserIdentity, EVENT_VERSION,
    KMS_EVENT_SOURCE, KMS_KEY_RESOURCE_TYPE, MANAGEMENT_CATEGORY,
};
use kagi_audit::index::{AttributeKey, EventIndex, IndexedEvent, Location, LookupQuery};
use kagi_audit::log::{self, AuditLog};
use kagi_audit::trail::feed_index_from_log;
use serde_json::{json, Map, Value};
use std::path::Path;
use std::sync::mpsc;
use std::time::{Duration, Instant};

const ACCOUNT: &str = "111122223333";
const KEYS: u64 = 2_000;
const HOT_KEYS: u64 = 20;
const USERS: u64 = 20;
const PAGE: usize = 50;
/// 2026-11-23T08:47:12Z: the newest events are around here.
const END_SECS: i64 = 1_795_423_632;

/// splitmix64: a fixed, dependency-free sequence, so every run writes the same log.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn key_uuid(k: u64) -> String {
    format!("{:08x}-12ab-34cd-56ef-{:012x}", 0x1234_0000 + k, k * 7919)
}

fn key_arn(k: u64) -> String {
    format!("arn:aws:kms:us-west-2:{ACCOUNT}:key/{}", key_uuid(k))
}

/// A quarter of the calls go to 20 hot keys, the rest spread over all 2,000.
fn pick_key(rng: &mut Rng) -> u64 {
    if rng.below(4) == 0 {
        rng.below(HOT_KEYS)
    } else {
        rng.below(KEYS)
    }
}

fn object(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => unreachable!("json! of an object literal"),
    }
}

/// Event `i` at `secs`: a realistic KMS call.
fn event(i: u64, secs: i64, rng: &mut Rng) -> CloudTrailEvent {
    let key = pick_key(rng);
    let user = rng.below(USERS);
    let name = match rng.below(100) {
        0..=39 => "GenerateDataKey",
        40..=69 => "Decrypt",
        70..=84 => "Encrypt",
        85..=89 => "GenerateDataKeyWithoutPlaintext",
        90..=94 => "ReEncrypt",
        95..=98 => "DescribeKey",
        _ => "ListAliases",
    };
    let failed = rng.below(50) == 0;
    let context = json!({
        "aws:s3:arn": format!("arn:aws:s3:::example-data-bucket-{user}/tenants/{}/objects/part-{i:08}.parquet", i % 997),
        "department": "engineering",
        "tenant": format!("tenant-{:06}", i % 10_007),
    });
    let request_parameters = match name {
        "GenerateDataKey" | "GenerateDataKeyWithoutPlaintext" => json!({
            "keyId": key_arn(key), "keySpec": "AES_256", "encryptionContext": context,
        }),
        "Decrypt" | "Encrypt" => json!({
            "keyId": key_arn(key), "encryptionAlgorithm": "SYMMETRIC_DEFAULT",
            "encryptionContext": context,
        }),
        "ReEncrypt" => json!({
            "sourceKeyId": key_arn(key), "destinationKeyId": key_arn(key),
            "sourceEncryptionAlgorithm": "SYMMETRIC_DEFAULT",
            "destinationEncryptionAlgorithm": "SYMMETRIC_DEFAULT",
            "sourceEncryptionContext": context,
        }),
        "DescribeKey" => json!({ "keyId": key_uuid(key) }),
        _ => json!({ "limit": 100 }),
    };
    let resources = if name == "ListAliases" {
        Vec::new()
    } else {
        vec![Resource {
            account_id: ACCOUNT.into(),
            resource_type: KMS_KEY_RESOURCE_TYPE.into(),
            arn: key_arn(key),
        }]
    };
    CloudTrailEvent {
        event_version: EVENT_VERSION.into(),
        user_identity: UserIdentity {
            identity_type: Some(IdentityType::IamUser),
            principal_id: Some(format!("AIDAKAGIEXAMPLE{user:05}")),
            arn: Some(format!("arn:aws:iam::{ACCOUNT}:user/service-{user:02}")),
            account_id: Some(ACCOUNT.into()),
            access_key_id: Some(format!("AKIAKAGIEXAMPLE{:05}", user * 2 + rng.below(2))),
            user_name: Some(format!("service-{user:02}")),
            invoked_by: None,
        },
        event_time: EventTime::from_epoch_seconds(secs),
        event_source: KMS_EVENT_SOURCE.into(),
        event_name: name.into(),
        aws_region: "us-west-2".into(),
        source_ip_address: format!("10.0.{}.{}", user, i & 0xff),
        user_agent: "aws-sdk-java/2.25.16 Linux/6.1.0 OpenJDK_64-Bit_Server_VM/21.0.2 Java/21.0.2 vendor/Eclipse_Adoptium io/sync http/Apache cfg/retry-mode/standard".into(),
        error_code: failed.then(|| "AccessDeniedException".into()),
        error_message: failed.then(|| "User is not authorized to perform this operation".into()),
        request_parameters: Some(object(request_parameters)),
        response_elements: None,
        additional_event_data: None,
        request_id: Some(format!("0e9c8f2a-5d6b-4c3e-9a1f-{i:012x}")),
        event_id: format!("5b1d2f3e-4a6c-4e8d-9f0a-{i:012x}"),
        read_only: !matches!(name, "ReEncrypt"),
        resources,
        event_type: EventType::AwsApiCall,
        management_event: true,
        recipient_account_id: ACCOUNT.into(),
        service_event_details: None,
        event_category: MANAGEMENT_CATEGORY.into(),
    }
}

fn dir_size(dir: &Path) -> std::io::Result<u64> {
    let mut total = 0;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let meta = entry.metadata()?;
        if meta.is_file() {
            total += meta.len();
        } else if meta.is_dir() {
            total += dir_size(&entry.path())?;
        }
    }
    Ok(total)
}

/// Bytes the index at `path` occupies: the file or directory itself, plus any `-wal` and
/// `-shm` files next to it.
fn index_size(path: &Path) -> std::io::Result<u64> {
    let mut total = if path.is_dir() {
        dir_size(path)?
    } else {
        std::fs::metadata(path)?.len()
    };
    for suffix in ["-wal", "-shm"] {
        let mut side = path.as_os_str().to_owned();
        side.push(suffix);
        total += std::fs::metadata(side).map_or(0, |m| m.len());
    }
    Ok(total)
}

/// Times `insert_batch` alone: entries built in memory with made-up locations, inserted in
/// batches on this thread.
fn insert_only(events: u64, batch_size: usize) -> Result<(), Box<dyn std::error::Error>> {
    let tmp = tempfile::tempdir()?;
    let index_path = tmp.path().join("index");
    let index = EventIndex::open(&index_path)?;
    let mut rng = Rng(42);
    let first_secs = END_SECS - events as i64;
    let entries: Vec<IndexedEvent> = (0..events)
        .map(|i| {
            let ev = event(i, first_secs + i as i64, &mut rng);
            IndexedEvent::from_event(ev, i, i >> 16, 17 + (i & 0xffff) * 1300)
        })
        .collect();
    let started = Instant::now();
    let cpu = thread_cpu();
    for batch in entries.chunks(batch_size) {
        index.insert_batch(batch)?;
    }
    let wall = started.elapsed();
    let cpu = match (cpu, thread_cpu()) {
        (Some(before), Some(after)) => after.saturating_sub(before),
        _ => wall,
    };
    println!(
        "insert only, {events} events in batches of {batch_size}: {:.2} µs of CPU per event ({:.2} µs wall); index size {:.1} MB ({:.0} bytes per event)",
        cpu.as_secs_f64() * 1e6 / events as f64,
        wall.as_secs_f64() * 1e6 / events as f64,
        index_size(&index_path)? as f64 / 1e6,
        index_size(&index_path)? as f64 / events as f64,
    );
    assert_eq!(index.next_seq()?, events);
    Ok(())
}

/// CPU time of the calling thread (Linux schedstat, nanoseconds), so that the insert rate
/// can be judged on a machine other work is also using. `None` where unavailable.
fn thread_cpu() -> Option<Duration> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let ns: u64 = text.split_whitespace().next()?.parse().ok()?;
    Some(Duration::from_nanos(ns))
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Reads and parses every hit, as the server does before answering.
fn fetch(log_dir: &Path, hits: &[Location]) -> Result<usize, Box<dyn std::error::Error>> {
    for hit in hits {
        let (seq, payload) = log::read_record(log_dir, hit.segment, hit.offset)?;
        assert_eq!(seq, hit.seq, "index and log disagree");
        CloudTrailEvent::parse(&payload)?;
    }
    Ok(hits.len())
}

struct Timings {
    label: String,
    samples: Vec<Duration>,
    hits: usize,
}

impl Timings {
    fn new(label: impl Into<String>) -> Self {
        Self {
            label: label.into(),
            samples: Vec::new(),
            hits: 0,
        }
    }

    fn print(&mut self) {
        self.samples.sort();
        let n = self.samples.len();
        let at = |p: f64| ms(self.samples[((p * n as f64).ceil() as usize).clamp(1, n) - 1]);
        println!(
            "| {} | {n} | {:.1} | {:.2} | {:.2} | {:.2} | {:.2} |",
            self.label,
            self.hits as f64 / n as f64,
            at(0.50),
            at(0.95),
            at(0.99),
            ms(self.samples[n - 1]),
        );
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut events: u64 = 1_000_000;
    let mut lookups: usize = 1_000;
    let mut batch_size: usize = 1_000;
    let mut only_inserts = false;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        if arg == "--insert-only" {
            only_inserts = true;
            continue;
        }
        let value = args.next().ok_or("missing value")?;
        match arg.as_str() {
            "--events" => events = value.parse()?,
            "--lookups" => lookups = value.parse()?,
            "--batch" => batch_size = value.parse::<usize>()?.max(1),
            _ => return Err(format!("unknown option {arg}").into()),
        }
    }
    if only_inserts {
        return insert_only(events, batch_size);
    }
    let tmp = tempfile::tempdir()?;
    let log_dir = tmp.path().join("log");
    let index_path = tmp.path().join("index");
    let (audit_log, _) = AuditLog::open(&log_dir)?;
    let index = EventIndex::open(&index_path)?;
    let mut rng = Rng(42);
    let first_secs = END_SECS - events as i64;
    let sample = event(0, first_secs, &mut Rng(1)).canonical_bytes();
    println!("event size: {} bytes (a GenerateDataKey)", sample.len());

    // Write and index in batches (1,000 unless --batch says otherwise), as the trail does
    // once they are durable.
    let started = Instant::now();
    let mut log_time = Duration::ZERO;
    let mut index_time = Duration::ZERO;
    let mut index_cpu = Duration::ZERO;
    let mut written_bytes = 0u64;
    let mut i = 0u64;
    while i < events {
        let n = (events - i).min(batch_size as u64);
        let t = Instant::now();
        let (tx, rx) = mpsc::channel();
        for _ in 0..n {
            // About one event a second, every 50th a second or two out of order.
            let jitter = if rng.below(50) == 0 {
                -(rng.below(3) as i64)
            } else {
                0
            };
            let ev = event(i, first_secs + i as i64 + jitter, &mut rng);
            let payload = ev.canonical_bytes();
            written_bytes += payload.len() as u64;
            let mut entry = IndexedEvent::from_event(ev, 0, 0, 0);
            let tx = tx.clone();
            audit_log.append_with(payload, move |r| {
                let _ = tx.send(r.map(|receipt| {
                    entry.seq = receipt.seq;
                    entry.segment = receipt.segment;
                    entry.offset = receipt.offset;
                    entry
                }));
            });
            i += 1;
        }
        drop(tx);
        let batch = rx.into_iter().collect::<Result<Vec<_>, _>>()?;
        log_time += t.elapsed();
        let t = Instant::now();
        let cpu = thread_cpu();
        index.insert_batch(&batch)?;
        index_time += t.elapsed();
        if let (Some(before), Some(after)) = (cpu, thread_cpu()) {
            index_cpu += after.saturating_sub(before);
        }
    }
    drop(audit_log);
    println!(
        "wrote {events} events ({:.0} MB of JSON) in {:.1} s: generating + logging {:.1} s, indexing {:.1} s",
        written_bytes as f64 / 1e6,
        started.elapsed().as_secs_f64(),
        log_time.as_secs_f64(),
        index_time.as_secs_f64(),
    );
    println!(
        "index inserts (batches of {batch_size}): {:.0} events/s by wall clock, {:.0} events/s per CPU-second ({:.1} µs of CPU per event)",
        events as f64 / index_time.as_secs_f64(),
        events as f64 / index_cpu.as_secs_f64(),
        index_cpu.as_secs_f64() * 1e6 / events as f64,
    );
    let index_bytes = index_size(&index_path)?;
    println!(
        "log size: {:.0} MB; index size on disk: {:.0} MB ({:.0} bytes per event)",
        dir_size(&log_dir)? as f64 / 1e6,
        index_bytes as f64 / 1e6,
        index_bytes as f64 / events as f64,
    );
    assert_eq!(index.next_seq()?, events);

    // Start-up: reopening the index, and re-feeding 65,536 events (one segment of the
    // postings index, what a crash can lose) from the log into a fresh index the way the
    // trail's catch-up does: read, parse, build the entry, insert in batches of 2,048.
    let t = Instant::now();
    drop(index);
    let closing = t.elapsed();
    let t = Instant::now();
    let index = EventIndex::open(&index_path)?;
    let reopen = t.elapsed();
    let durable = index.next_seq()?;
    let refeed_events = events.min(65_536);
    let refeed_dir = tempfile::tempdir()?;
    let fresh = EventIndex::open(&refeed_dir.path().join("index"))?;
    let t = Instant::now();
    feed_index_from_log(&fresh, &log_dir, 0, refeed_events)?;
    let refeed = t.elapsed();
    drop(fresh);
    println!(
        "closing the index: {:.1} ms; reopening it: {:.1} ms (durable high-water mark {durable} of {events}); re-feeding {refeed_events} events from the log: {:.0} ms",
        ms(closing),
        ms(reopen),
        ms(refeed),
    );
    if durable < events {
        // What the trail's catch-up does after this reopen.
        let t = Instant::now();
        feed_index_from_log(&index, &log_dir, durable, u64::MAX)?;
        println!(
            "catch-up of the {} events past the high-water mark: {:.0} ms",
            events - durable,
            ms(t.elapsed())
        );
    }
    assert_eq!(index.next_seq()?, events);

    let mut rng = Rng(7);
    let query =
        |attribute: Option<(AttributeKey, String)>, start: Option<i64>, end: Option<i64>| {
            LookupQuery {
                attribute,
                start_millis: start,
                end_millis: end,
                max_results: PAGE,
                next_token: None,
            }
        };
    let span = events as i64;
    type MakeQuery<'a> = Box<dyn FnMut(&mut Rng) -> LookupQuery + 'a>;
    let mut shapes: Vec<(Timings, MakeQuery<'_>)> = vec![
        (
            Timings::new("ResourceName (key ARN)"),
            Box::new(|r| {
                query(
                    Some((AttributeKey::ResourceName, key_arn(pick_key(r)))),
                    None,
                    None,
                )
            }),
        ),
        (
            Timings::new("ResourceName (key id)"),
            Box::new(|r| {
                query(
                    Some((AttributeKey::ResourceName, key_uuid(pick_key(r)))),
                    None,
                    None,
                )
            }),
        ),
        (
            Timings::new("ResourceName + 1-day window"),
            Box::new(move |r| {
                let start = first_secs + r.below(span.max(1) as u64) as i64;
                let key = key_arn(pick_key(r));
                query(
                    Some((AttributeKey::ResourceName, key)),
                    Some(start * 1000),
                    Some((start + 86_400) * 1000),
                )
            }),
        ),
        (
            Timings::new("EventName"),
            Box::new(|r| {
                let name =
                    ["Decrypt", "DescribeKey", "ReEncrypt", "ListAliases"][r.below(4) as usize];
                query(Some((AttributeKey::EventName, name.into())), None, None)
            }),
        ),
        (
            Timings::new("Username"),
            Box::new(|r| {
                query(
                    Some((
                        AttributeKey::Username,
                        format!("service-{:02}", r.below(USERS)),
                    )),
                    None,
                    None,
                )
            }),
        ),
        (
            Timings::new("ReadOnly=false (5% of events)"),
            Box::new(|_| query(Some((AttributeKey::ReadOnly, "false".into())), None, None)),
        ),
        (
            Timings::new("1-hour window, no attribute"),
            Box::new(move |r| {
                let start = first_secs + r.below(span.max(1) as u64) as i64;
                query(None, Some(start * 1000), Some((start + 3_600) * 1000))
            }),
        ),
        (
            Timings::new("EventName + 1-hour window"),
            Box::new(move |r| {
                let start = first_secs + r.below(span.max(1) as u64) as i64;
                query(
                    Some((AttributeKey::EventName, "Encrypt".into())),
                    Some(start * 1000),
                    Some((start + 3_600) * 1000),
                )
            }),
        ),
    ];
    println!();
    println!(
        "lookups of one page of {PAGE}, each including reading and parsing every hit from the log:"
    );
    println!();
    println!("| query | lookups | hits/page | p50 ms | p95 ms | p99 ms | max ms |");
    println!("|---|---:|---:|---:|---:|---:|---:|");
    let lookup_started = Instant::now();
    let mut index_only = Timings::new("ResourceName (key ARN), index only");
    let mut second_pages = Timings::new("ResourceName (key ARN), second page");
    for (n, (timings, make)) in shapes.iter_mut().enumerate() {
        // ≥ 500 of the ResourceName shapes, fewer of the others.
        let count = if n < 2 { lookups } else { lookups / 4 };
        for _ in 0..count {
            let q = make(&mut rng);
            let t = Instant::now();
            let page = index.lookup(&q)?;
            let t_index = t.elapsed();
            timings.hits += fetch(&log_dir, &page.hits)?;
            timings.samples.push(t.elapsed());
            if n == 0 {
                index_only.samples.push(t_index);
                index_only.hits += page.hits.len();
                if let Some(token) = page.next_token {
                    let q = LookupQuery {
                        next_token: Some(token),
                        ..q
                    };
                    let t = Instant::now();
                    let page = index.lookup(&q)?;
                    second_pages.hits += fetch(&log_dir, &page.hits)?;
                    second_pages.samples.push(t.elapsed());
                }
            }
        }
        timings.print();
    }
    index_only.print();
    second_pages.print();

    let crypto = [
        "Encrypt",
        "Decrypt",
        "GenerateDataKey",
        "GenerateDataKeyWithoutPlaintext",
        "ReEncrypt",
    ];
    let mut last_usage = Timings::new("last_usage (key id + ARN), no log read");
    for _ in 0..lookups / 4 {
        let k = pick_key(&mut rng);
        let (id, arn) = (key_uuid(k), key_arn(k));
        let t = Instant::now();
        let found = index.last_usage(&[&id, &arn], &crypto)?;
        last_usage.samples.push(t.elapsed());
        last_usage.hits += usize::from(found.is_some());
    }
    last_usage.print();
    let mut summary = Timings::new("usage_summary (key id + ARN, all time), rows");
    for _ in 0..lookups / 10 {
        let k = pick_key(&mut rng);
        let (id, arn) = (key_uuid(k), key_arn(k));
        let t = Instant::now();
        let rows = index.usage_summary(&[&id, &arn], None, None)?;
        summary.samples.push(t.elapsed());
        summary.hits += rows.len();
    }
    summary.print();
    println!();
    println!(
        "lookups took {:.1} s in all",
        lookup_started.elapsed().as_secs_f64()
    );
    Ok(())
}
