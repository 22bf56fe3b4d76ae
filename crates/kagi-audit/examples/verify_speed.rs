//! Measures the offline verifiers' throughput: writes a ~200 MB log of realistic events
//! (about 1.5 KiB of CloudTrail JSON each) into a temporary directory, signs a checkpoint
//! over it, verifies it with and without event parsing, then seals it into CloudTrail log
//! and digest files and verifies those with and without comparing them to the log, and
//! prints MB/s.
//!
//! `cargo run --release -p kagi-audit --example verify_speed [MB]`. Not a test: a timing
//! assertion would be flaky on shared machines; the target is ≥ 100 MB/s on one core.

use kagi_audit::checkpoint::{verifier_key, Checkpoint, KeyName};
use kagi_audit::log::{leaf_hash, AuditLog};
use kagi_audit::merkle::MerkleTree;
use kagi_audit::seal::{SealConfig, Sealer};
use kagi_audit::verify::{verify_log_dir_with, Options, Pinned};
use kagi_audit::verify_sealed::verify_sealed;
use kagi_crypto::{DeterministicRng, Ed25519SigningKey, RsaSigningKey};
use std::sync::mpsc;
use std::time::Instant;

/// A GenerateDataKey event with a realistic encryption context, about 1.5 KiB.
fn event(i: u64) -> Vec<u8> {
    format!(
        concat!(
            r#"{{"eventVersion":"1.11","userIdentity":{{"type":"AssumedRole","#,
            r#""principalId":"AROAKAGIEXAMPLE{r:05}:service-{r}","#,
            r#""arn":"arn:aws:sts::111122223333:assumed-role/app-role-{r}/service-{r}","#,
            r#""accountId":"111122223333","accessKeyId":"ASIAKAGIEXAMPLE{i:05}"}},"#,
            r#""eventTime":"2026-11-23T08:{m:02}:{s:02}Z","eventSource":"kms.amazonaws.com","#,
            r#""eventName":"GenerateDataKey","awsRegion":"us-west-2","#,
            r#""sourceIPAddress":"10.0.{a}.{b}","#,
            r#""userAgent":"aws-sdk-java/2.25.16 Linux/6.1.0 OpenJDK_64-Bit_Server_VM/21.0.2 Java/21.0.2 vendor/Eclipse_Adoptium io/sync http/Apache cfg/retry-mode/legacy","#,
            r#""requestParameters":{{"encryptionContext":{{"aws:s3:arn":"arn:aws:s3:::example-data-bucket-{r}/tenants/{i}/objects/2026/11/23/part-{i:08}.parquet","#,
            r#""department":"engineering","project":"alpha-{r}","tenant":"tenant-{i:08}"}},"#,
            r#""keyId":"arn:aws:kms:us-west-2:111122223333:key/1234abcd-12ab-34cd-56ef-{i:012x}","#,
            r#""keySpec":"AES_256"}},"responseElements":null,"#,
            r#""additionalEventData":{{"keyMaterialId":"{i:064x}"}},"#,
            r#""requestID":"0e9c8f2a-5d6b-4c3e-9a1f-{i:012x}","#,
            r#""eventID":"5b1d2f3e-4a6c-4e8d-9f0a-{i:012x}","readOnly":true,"#,
            r#""resources":[{{"accountId":"111122223333","type":"AWS::KMS::Key","#,
            r#""ARN":"arn:aws:kms:us-west-2:111122223333:key/1234abcd-12ab-34cd-56ef-{i:012x}"}}],"#,
            r#""eventType":"AwsApiCall","managementEvent":true,"recipientAccountId":"111122223333","#,
            r#""eventCategory":"Management"}}"#
        ),
        i = i,
        r = i % 97,
        m = (i / 60) % 60,
        s = i % 60,
        a = (i >> 8) & 0xff,
        b = i & 0xff,
    )
    .into_bytes()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let target_mb: u64 = match std::env::args().nth(1) {
        Some(a) => a.parse()?,
        None => 200,
    };
    let work = tempfile::tempdir()?;
    let dir = tempfile::tempdir_in(work.path())?;
    kagi_audit::event::CloudTrailEvent::parse(&event(0))?;
    println!("event size: {} bytes", event(0).len());

    // Write through the real log, 1024 appends per group commit.
    let started = Instant::now();
    let (log, _) = AuditLog::open(dir.path())?;
    let mut tree = MerkleTree::new();
    let mut written = 0u64;
    let mut i = 0u64;
    while written < target_mb * 1_000_000 {
        let (tx, rx) = mpsc::channel();
        for _ in 0..1024 {
            let payload = event(i);
            written += payload.len() as u64 + 44;
            tree.append(leaf_hash(&payload));
            let tx = tx.clone();
            log.append_with(payload, move |r| {
                let _ = tx.send(r.map(|_| ()));
            });
            i += 1;
        }
        drop(tx);
        for r in rx {
            r?;
        }
    }
    drop(log);
    println!(
        "wrote {i} events, {:.1} MB in {:.1?}",
        written as f64 / 1e6,
        started.elapsed()
    );

    let name = KeyName::new("kagi.example/audit")?;
    let key = Ed25519SigningKey::generate(&DeterministicRng::dangerous_for_tests_only(1))?;
    let note = Checkpoint::new("kagi.example/audit", i, tree.root(i)?)?.sign(&name, &key);
    let verifier = verifier_key(&name, &key.public_key());
    let pinned = Pinned::Checkpoint {
        note: &note,
        verifier_key: &verifier,
    };

    for parse_events in [false, true] {
        let started = Instant::now();
        let report = verify_log_dir_with(dir.path(), &pinned, Options { parse_events });
        let secs = started.elapsed().as_secs_f64();
        if !report.is_ok() {
            return Err(format!("verification failed:\n{report}").into());
        }
        println!(
            "verified {} records, {:.1} MB (parse_events: {parse_events}) in {secs:.2} s: {:.0} MB/s",
            report.records,
            report.bytes as f64 / 1e6,
            report.bytes as f64 / 1e6 / secs
        );
    }

    // Seal the whole log as the server would (5-minute files, then the digests).
    let out = work.path().join("cloudtrail");
    let digest_key = RsaSigningKey::generate(2048)?;
    let public_key = digest_key.public_key_der().to_vec();
    let mut sealer = Sealer::open(
        SealConfig::new(&out, "111122223333", "us-west-2"),
        &work.path().join("seal"),
        digest_key,
    )?;
    let mut batch = Vec::new();
    let mut now = 1_795_000_000_000i64;
    kagi_audit::log::for_each_record_from(dir.path(), 0, |rec| {
        batch.push((rec.seq, rec.payload.to_vec()));
        true
    })?;
    for chunk in batch.chunks(20_000) {
        sealer.seal(chunk, now)?;
        now += 5 * 60_000;
    }
    sealer.force_digests(now)?;
    drop(batch);
    for log_dir in [None, Some(dir.path())] {
        let started = Instant::now();
        let report = verify_sealed(&out, None, &public_key, log_dir);
        let secs = started.elapsed().as_secs_f64();
        if !report.is_ok() {
            return Err(format!("sealed verification failed:\n{report}").into());
        }
        println!(
            "verified sealed files, {} records, {:.1} MB (compared with the log: {}) in {secs:.2} s: {:.0} MB/s",
            report.records,
            report.bytes as f64 / 1e6,
            log_dir.is_some(),
            report.bytes as f64 / 1e6 / secs
        );
    }
    Ok(())
}
