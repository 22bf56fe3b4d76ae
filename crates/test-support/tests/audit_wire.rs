//! Audit trail wire tests: the real AWS SDK for Rust against an in-process Kagi, then the
//! trail read back through Kagi's audit API and straight from disk.

use aws_sdk_kms::primitives::Blob;
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use kagi_audit::checkpoint::Checkpoint;
use kagi_audit::event::CloudTrailEvent;
use kagi_audit::merkle::{verify_consistency, verify_inclusion, Hash};
use kagi_server::admin_client::AdminClient;
use serde_json::json;
use std::path::Path;
use test_support::{new_key, TestServer};

const REGION: &str = "us-east-1";

fn admin(server: &TestServer) -> AdminClient {
    server.admin()
}

fn audit_dir(server: &TestServer) -> std::path::PathBuf {
    server.data_dir.join("audit")
}

/// Every event in the log directory, in order.
fn events_on_disk(audit_dir: &Path) -> Vec<CloudTrailEvent> {
    kagi_audit::log::read_dir_from(&kagi_audit::trail::log_dir(audit_dir), 0)
        .expect("log readable")
        .into_iter()
        .map(|(_, payload)| CloudTrailEvent::parse(&payload).expect("event parses"))
        .collect()
}

fn hash(v: &serde_json::Value) -> Hash {
    BASE64
        .decode(v.as_str().expect("hash string"))
        .expect("base64")
        .try_into()
        .expect("32 bytes")
}

#[tokio::test]
async fn every_call_is_recorded_before_its_response() {
    let server = TestServer::builder()
        .account_id("111122223333")
        .build()
        .await;
    let kms = server.client(REGION);
    let key_id = new_key(&kms).await;
    let raw = kms
        .encrypt()
        .key_id(&key_id)
        .plaintext(Blob::new("attack at dawn"))
        .encryption_context("purpose", "test")
        .send()
        .await
        .expect("encrypt");
    let request_id = aws_sdk_kms::operation::RequestId::request_id(&raw)
        .expect("request id")
        .to_string();
    // A failed call and an unauthenticated one are recorded too.
    let err = kms.describe_key().key_id("alias/missing").send().await;
    assert!(err.is_err());
    let stranger = server.client_with(REGION, "AKIAUNKNOWNUNKNOWN00", "nope");
    assert!(stranger.list_keys().send().await.is_err());

    // Each response was sent after its event was durable: the events are on disk now.
    let events = events_on_disk(&audit_dir(&server));
    let names: Vec<&str> = events.iter().map(|e| e.event_name.as_str()).collect();
    assert!(names.starts_with(&["CreateKey"]), "{names:?}");
    let encrypt = events
        .iter()
        .find(|e| e.request_id.as_deref() == Some(request_id.as_str()))
        .expect("the Encrypt event carries the client's request id");
    assert_eq!(encrypt.event_name, "Encrypt");
    assert_eq!(encrypt.event_source, "kms.amazonaws.com");
    assert!(encrypt.read_only);
    assert_eq!(encrypt.resources.len(), 1);
    assert!(encrypt.resources[0].arn.ends_with(&key_id));
    let params = encrypt.request_parameters.as_ref().expect("parameters");
    assert_eq!(params["encryptionContext"], json!({"purpose": "test"}));
    assert!(params.get("plaintext").is_none());
    let failed = events
        .iter()
        .find(|e| e.event_name == "DescribeKey")
        .expect("failed call recorded");
    assert_eq!(failed.error_code.as_deref(), Some("NotFoundException"));
    let denied = events
        .iter()
        .find(|e| e.event_name == "ListKeys")
        .expect("unauthenticated call recorded");
    assert_eq!(
        denied.error_code.as_deref(),
        Some("UnrecognizedClientException")
    );
    assert_eq!(
        denied.user_identity.access_key_id.as_deref(),
        Some("AKIAUNKNOWNUNKNOWN00")
    );
    let plaintext_b64 = BASE64.encode("attack at dawn");
    for e in &events {
        let bytes = String::from_utf8(e.canonical_bytes()).unwrap();
        assert!(!bytes.contains("attack at dawn") && !bytes.contains(&plaintext_b64));
    }
    server.stop().await;
}

#[tokio::test]
async fn headers_name_the_event_and_proofs_verify() {
    let server = TestServer::builder().build().await;
    let kms = server.client(REGION);
    for _ in 0..5 {
        kms.create_key().send().await.expect("create key");
    }
    // The raw HTTP answer carries the event id and log index.
    let admin = admin(&server);
    let checkpoint = admin
        .call_audit("GetCheckpoint", json!({}))
        .await
        .expect("checkpoint");
    let verifier = checkpoint["VerifierKey"].as_str().unwrap().to_string();
    let cp = Checkpoint::parse_and_verify(checkpoint["Checkpoint"].as_str().unwrap(), &verifier)
        .expect("checkpoint signature verifies");
    assert!(cp.size() >= 5, "size {}", cp.size());
    let events = events_on_disk(&audit_dir(&server));
    let third = &events[2];
    let proof = admin
        .call_audit("GetInclusionProof", json!({"EventId": third.event_id}))
        .await
        .expect("inclusion proof");
    assert_eq!(proof["LogIndex"], json!(2));
    let signed = Checkpoint::parse_and_verify(proof["Checkpoint"].as_str().unwrap(), &verifier)
        .expect("proof checkpoint verifies");
    let path: Vec<Hash> = proof["AuditPath"]
        .as_array()
        .unwrap()
        .iter()
        .map(hash)
        .collect();
    let leaf = kagi_audit::log::leaf_hash(&third.canonical_bytes());
    assert_eq!(leaf, hash(&proof["LeafHash"]));
    assert!(verify_inclusion(
        &leaf,
        2,
        signed.size(),
        &path,
        signed.root()
    ));

    kms.create_key().send().await.expect("one more");
    let consistency = admin
        .call_audit("GetConsistencyProof", json!({"FirstTreeSize": cp.size()}))
        .await
        .expect("consistency proof");
    let old =
        Checkpoint::parse_and_verify(consistency["FirstCheckpoint"].as_str().unwrap(), &verifier)
            .unwrap();
    let new =
        Checkpoint::parse_and_verify(consistency["SecondCheckpoint"].as_str().unwrap(), &verifier)
            .unwrap();
    assert!(new.size() > old.size());
    let hashes: Vec<Hash> = consistency["Proof"]
        .as_array()
        .unwrap()
        .iter()
        .map(hash)
        .collect();
    assert!(verify_consistency(
        old.size(),
        new.size(),
        old.root(),
        new.root(),
        &hashes
    ));
    assert_eq!(old.root(), cp.root());
    server.stop().await;
}

#[tokio::test]
async fn key_last_usage_follows_cryptographic_calls() {
    let server = TestServer::builder().build().await;
    let kms = server.client(REGION);
    let key = new_key(&kms).await;
    let unused = kms
        .get_key_last_usage()
        .key_id(&key)
        .send()
        .await
        .expect("last usage");
    assert!(unused
        .key_last_usage
        .as_ref()
        .is_none_or(|u| u.operation.is_none()));
    assert!(unused.key_creation_date.is_some());
    let generated = kms
        .generate_data_key()
        .key_id(&key)
        .number_of_bytes(32)
        .send()
        .await
        .expect("data key");
    let request_id = aws_sdk_kms::operation::RequestId::request_id(&generated)
        .unwrap()
        .to_string();
    let used = kms
        .get_key_last_usage()
        .key_id(&key)
        .send()
        .await
        .expect("last usage");
    let last = used.key_last_usage.expect("usage");
    assert_eq!(last.operation.unwrap().as_str(), "GenerateDataKey");
    assert_eq!(last.kms_request_id.as_deref(), Some(request_id.as_str()));
    assert!(last.cloud_trail_event_id.is_some());
    // Aliases are not accepted, as in AWS KMS.
    kms.create_alias()
        .alias_name("alias/usage")
        .target_key_id(&key)
        .send()
        .await
        .unwrap();
    let by_alias = kms.get_key_last_usage().key_id("alias/usage").send().await;
    assert!(by_alias.is_err());

    let usage = admin(&server)
        .call_audit("GetKeyUsage", json!({"KeyId": key}))
        .await
        .expect("usage summary");
    let rows = usage["Usage"].as_array().unwrap();
    assert!(rows
        .iter()
        .any(|r| r["Operation"] == "GenerateDataKey" && r["Count"] == 1));
    server.stop().await;
}

#[tokio::test]
async fn truncating_the_log_is_detected_at_start() {
    let data = tempfile::tempdir().unwrap();
    let server = TestServer::builder().data_dir(data.path()).build().await;
    let kms = server.client(REGION);
    for _ in 0..3 {
        kms.create_key().send().await.unwrap();
    }
    server.stop().await;
    // Cut the newest record off the only segment.
    let log_dir = data.path().join("audit").join("log");
    let segment = std::fs::read_dir(&log_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|x| x == "seg"))
        .unwrap();
    let len = std::fs::metadata(&segment).unwrap().len();
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(&segment)
        .unwrap();
    f.set_len(len - 10).unwrap();
    drop(f);
    let mut config = kagi::Config::new("127.0.0.1:0".parse().unwrap());
    config.data_dir = Some(data.path().to_path_buf());
    let opened = kagi::App::open(config, std::sync::Arc::new(kagi_kms::SystemClock));
    let err = format!("{:#}", opened.expect_err("a truncated log is refused"));
    assert!(err.contains("tampered"), "{err}");
}

/// Every file under `dir`, gzip'd ones decompressed.
fn all_audit_output(dir: &Path, out: &mut Vec<(String, Vec<u8>)>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries {
        let path = entry.unwrap().path();
        if path.is_dir() {
            all_audit_output(&path, out);
            continue;
        }
        let bytes = std::fs::read(&path).unwrap();
        let bytes = if path.extension().is_some_and(|x| x == "gz") {
            let mut plain = Vec::new();
            std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&bytes[..]), &mut plain)
                .unwrap();
            plain
        } else {
            bytes
        };
        out.push((path.display().to_string(), bytes));
    }
}

/// Bytes as a string of one char per byte, so that the standard library's (optimised)
/// substring search can look for arbitrary bytes.
fn latin1(bytes: &[u8]) -> String {
    bytes.iter().map(|&b| char::from(b)).collect()
}

/// No plaintext, data key, ciphertext or random bytes of any call reach the log, the
/// index, the checkpoints or the sealed CloudTrail files, raw or base64-encoded.
#[tokio::test]
async fn no_secret_reaches_any_audit_output() {
    use kagi_crypto::Rng as _;
    let data = tempfile::tempdir().unwrap();
    let server = TestServer::builder().data_dir(data.path()).build().await;
    let kms = server.client(REGION);
    let rng = kagi_crypto::SystemRng::new();
    let key = new_key(&kms).await;
    let other = new_key(&kms).await;
    let mut secrets: Vec<Vec<u8>> = Vec::new();
    for round in 0..16 {
        let mut plaintext = vec![0u8; 24 + round];
        rng.fill(&mut plaintext).unwrap();
        let encrypted = kms
            .encrypt()
            .key_id(&key)
            .plaintext(Blob::new(plaintext.clone()))
            .send()
            .await
            .unwrap();
        let blob = encrypted.ciphertext_blob.unwrap();
        let decrypted = kms
            .decrypt()
            .ciphertext_blob(blob.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(decrypted.plaintext.unwrap().as_ref(), &plaintext[..]);
        let re = kms
            .re_encrypt()
            .ciphertext_blob(blob.clone())
            .destination_key_id(&other)
            .send()
            .await
            .unwrap();
        let data_key = kms
            .generate_data_key()
            .key_id(&key)
            .number_of_bytes(32)
            .send()
            .await
            .unwrap();
        let random = kms
            .generate_random()
            .number_of_bytes(32)
            .send()
            .await
            .unwrap();
        secrets.push(plaintext);
        secrets.push(blob.into_inner());
        secrets.push(re.ciphertext_blob.unwrap().into_inner());
        secrets.push(data_key.plaintext.unwrap().into_inner());
        secrets.push(data_key.ciphertext_blob.unwrap().into_inner());
        secrets.push(random.plaintext.unwrap().into_inner());
    }
    let data_dir = data.path().to_path_buf();
    // The graceful stop seals every event into CloudTrail files and writes digests.
    server.stop().await;
    let mut files = Vec::new();
    all_audit_output(&data_dir.join("audit"), &mut files);
    all_audit_output(&data_dir.join("cloudtrail"), &mut files);
    assert!(
        files.iter().any(|(p, _)| p.ends_with(".json.gz")),
        "sealed files were written: {:?}",
        files.iter().map(|(p, _)| p).collect::<Vec<_>>()
    );
    let files: Vec<(String, String)> = files.iter().map(|(p, b)| (p.clone(), latin1(b))).collect();
    for secret in &secrets {
        let raw = latin1(secret);
        let encoded = BASE64.encode(secret);
        for (path, text) in &files {
            assert!(!text.contains(&raw), "secret bytes in {path}");
            assert!(!text.contains(&encoded), "base64 secret in {path}");
        }
    }
}

/// What Kagi does by itself is recorded as an `AwsServiceEvent`, as AWS KMS records its
/// own scheduled deletions: no caller, the key in `serviceEventDetails` and `resources`.
#[tokio::test]
async fn scheduled_deletion_is_a_service_event() {
    let clock = test_support::manual_clock_now();
    let server = TestServer::builder()
        .manual_clock(clock.clone())
        .build()
        .await;
    let kms = server.client(REGION);
    let key = new_key(&kms).await;
    kms.schedule_key_deletion()
        .key_id(&key)
        .pending_window_in_days(7)
        .send()
        .await
        .unwrap();
    clock.advance_days(8);
    let dir = audit_dir(&server);
    let deleted = test_support::eventually(std::time::Duration::from_secs(5), || {
        let dir = dir.clone();
        async move {
            events_on_disk(&dir)
                .into_iter()
                .find(|e| e.event_name == "DeleteKey")
        }
    })
    .await
    .expect("a DeleteKey service event within 5 s");
    assert_eq!(
        deleted.event_type,
        kagi_audit::event::EventType::AwsServiceEvent
    );
    assert!(deleted.request_id.is_none());
    assert_eq!(
        deleted.service_event_details.as_ref().unwrap()["keyId"],
        json!(key)
    );
    assert!(deleted.resources[0].arn.ends_with(&key));
    server.stop().await;
}
