//! Wire tests: the real AWS SDK for Rust against an in-process Kagi, one test per flow.

use aws_sdk_kms::error::ProvideErrorMetadata;
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{DataKeySpec, KeyState, Tag};
use std::time::Duration;
use test_support::{eventually, manual_clock_now, new_key, TestServer};

const REGION: &str = "us-east-1";

/// The AWS exception name of a failed call.
fn code<T: std::fmt::Debug, E: ProvideErrorMetadata + std::fmt::Debug>(r: Result<T, E>) -> String {
    match r {
        Ok(v) => panic!("expected an error, got {v:?}"),
        Err(e) => e.code().unwrap_or("<no code>").to_string(),
    }
}

async fn create_alias(kms: &aws_sdk_kms::Client, alias: &str, key: &str) {
    kms.create_alias()
        .alias_name(alias)
        .target_key_id(key)
        .send()
        .await
        .expect("create alias");
}

/// Encrypts `plaintext` (no encryption context) and returns the ciphertext blob.
async fn encrypt(kms: &aws_sdk_kms::Client, key: &str, plaintext: &str) -> Blob {
    kms.encrypt()
        .key_id(key)
        .plaintext(Blob::new(plaintext))
        .send()
        .await
        .expect("encrypt")
        .ciphertext_blob
        .expect("ciphertext blob")
}

#[tokio::test]
async fn key_lifecycle() {
    let server = TestServer::builder()
        .account_id("111122223333")
        .build()
        .await;
    let kms = server.client(REGION);
    let created = kms
        .create_key()
        .description("payments")
        .tags(
            Tag::builder()
                .tag_key("team")
                .tag_value("core")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap()
        .key_metadata
        .unwrap();
    let id = created.key_id.clone();
    let arn = created.arn.clone().unwrap();
    assert_eq!(arn, format!("arn:aws:kms:us-east-1:111122223333:key/{id}"));
    assert_eq!(created.key_state, Some(KeyState::Enabled));
    assert_eq!(created.aws_account_id.as_deref(), Some("111122223333"));
    assert!(created.enabled);

    create_alias(&kms, "alias/payments", &id).await;
    for handle in [
        id.clone(),
        arn.clone(),
        "alias/payments".to_string(),
        "arn:aws:kms:us-east-1:111122223333:alias/payments".to_string(),
    ] {
        let d = kms.describe_key().key_id(&handle).send().await.unwrap();
        assert_eq!(d.key_metadata.unwrap().key_id, id, "via {handle}");
    }
    assert_eq!(
        code(kms.describe_key().key_id("alias/missing").send().await),
        "NotFoundException"
    );

    kms.disable_key().key_id(&id).send().await.unwrap();
    assert_eq!(
        code(
            kms.encrypt()
                .key_id(&id)
                .plaintext(Blob::new("x"))
                .send()
                .await
        ),
        "DisabledException"
    );
    kms.enable_key().key_id(&id).send().await.unwrap();
    kms.update_key_description()
        .key_id(&id)
        .description("renamed")
        .send()
        .await
        .unwrap();
    let d = kms
        .describe_key()
        .key_id(&id)
        .send()
        .await
        .unwrap()
        .key_metadata
        .unwrap();
    assert_eq!(d.description.as_deref(), Some("renamed"));

    assert_eq!(
        code(
            kms.schedule_key_deletion()
                .key_id(&id)
                .pending_window_in_days(6)
                .send()
                .await
        ),
        "ValidationException"
    );
    let s = kms
        .schedule_key_deletion()
        .key_id(&id)
        .pending_window_in_days(7)
        .send()
        .await
        .unwrap();
    assert_eq!(s.key_state, Some(KeyState::PendingDeletion));
    assert_eq!(s.pending_window_in_days, Some(7));
    assert_eq!(
        code(
            kms.generate_data_key()
                .key_id(&id)
                .key_spec(DataKeySpec::Aes256)
                .send()
                .await
        ),
        "KMSInvalidStateException"
    );
    assert_eq!(
        code(kms.enable_key().key_id(&id).send().await),
        "KMSInvalidStateException"
    );
    let c = kms.cancel_key_deletion().key_id(&id).send().await.unwrap();
    assert_eq!(c.key_id.as_deref(), Some(arn.as_str()));
    let d = kms
        .describe_key()
        .key_id(&id)
        .send()
        .await
        .unwrap()
        .key_metadata
        .unwrap();
    assert_eq!(d.key_state, Some(KeyState::Disabled));
    assert!(d.deletion_date.is_none());
    assert_eq!(
        code(kms.cancel_key_deletion().key_id(&id).send().await),
        "KMSInvalidStateException"
    );
}

#[tokio::test]
async fn list_keys_pages() {
    let server = TestServer::builder().build().await;
    let kms = server.client(REGION);
    let mut ids = Vec::new();
    for _ in 0..5 {
        ids.push(new_key(&kms).await);
    }
    let mut seen = Vec::new();
    let mut marker = None;
    loop {
        let page = kms
            .list_keys()
            .limit(2)
            .set_marker(marker)
            .send()
            .await
            .unwrap();
        let keys = page.keys.unwrap();
        assert!(keys.len() <= 2);
        seen.extend(keys.into_iter().map(|k| k.key_id.unwrap()));
        if !page.truncated {
            break;
        }
        marker = page.next_marker;
    }
    seen.sort();
    ids.sort();
    assert_eq!(seen, ids);
    assert_eq!(
        code(kms.list_keys().limit(0).send().await),
        "ValidationException"
    );
    assert_eq!(
        code(kms.list_keys().limit(1001).send().await),
        "ValidationException"
    );
    assert_eq!(
        code(kms.list_keys().marker("garbage").send().await),
        "InvalidMarkerException"
    );
}

#[tokio::test]
async fn encrypt_decrypt_with_context_and_reencrypt() {
    let server = TestServer::builder().build().await;
    let kms = server.client(REGION);
    let a = new_key(&kms).await;
    let b = new_key(&kms).await;
    let enc = kms
        .encrypt()
        .key_id(&a)
        .plaintext(Blob::new("attack at dawn"))
        .encryption_context("purpose", "test")
        .send()
        .await
        .unwrap();
    let blob = enc.ciphertext_blob.unwrap();
    assert!(enc.key_id.unwrap().ends_with(&a));

    let dec = kms
        .decrypt()
        .ciphertext_blob(blob.clone())
        .encryption_context("purpose", "test")
        .send()
        .await
        .unwrap();
    assert_eq!(dec.plaintext.unwrap().as_ref(), b"attack at dawn");
    assert!(dec.key_id.unwrap().ends_with(&a));

    for (k, v) in [("purpose", "other"), ("other", "test")] {
        assert_eq!(
            code(
                kms.decrypt()
                    .ciphertext_blob(blob.clone())
                    .encryption_context(k, v)
                    .send()
                    .await
            ),
            "InvalidCiphertextException"
        );
    }
    assert_eq!(
        code(kms.decrypt().ciphertext_blob(blob.clone()).send().await),
        "InvalidCiphertextException"
    );
    assert_eq!(
        code(
            kms.decrypt()
                .ciphertext_blob(blob.clone())
                .encryption_context("purpose", "test")
                .key_id(&b)
                .send()
                .await
        ),
        "IncorrectKeyException"
    );
    let mut tampered = blob.clone().into_inner();
    let last = tampered.len() - 1;
    tampered[last] ^= 1;
    assert_eq!(
        code(
            kms.decrypt()
                .ciphertext_blob(Blob::new(tampered))
                .encryption_context("purpose", "test")
                .send()
                .await
        ),
        "InvalidCiphertextException"
    );
    let truncated = blob.clone().into_inner()[..20].to_vec();
    assert_eq!(
        code(
            kms.decrypt()
                .ciphertext_blob(Blob::new(truncated))
                .send()
                .await
        ),
        "InvalidCiphertextException"
    );

    let re = kms
        .re_encrypt()
        .ciphertext_blob(blob)
        .source_encryption_context("purpose", "test")
        .destination_key_id(&b)
        .destination_encryption_context("purpose", "moved")
        .send()
        .await
        .unwrap();
    assert!(re.source_key_id.unwrap().ends_with(&a));
    assert!(re.key_id.unwrap().ends_with(&b));
    let dec = kms
        .decrypt()
        .ciphertext_blob(re.ciphertext_blob.unwrap())
        .encryption_context("purpose", "moved")
        .send()
        .await
        .unwrap();
    assert_eq!(dec.plaintext.unwrap().as_ref(), b"attack at dawn");

    // AWS's plaintext limit is 4096 bytes, and such a ciphertext fits in 6144.
    let max = vec![7u8; 4096];
    let big = kms
        .encrypt()
        .key_id(&a)
        .plaintext(Blob::new(max.clone()))
        .send()
        .await
        .unwrap();
    assert!(big.ciphertext_blob.as_ref().unwrap().as_ref().len() <= 6144);
    assert_eq!(
        code(
            kms.encrypt()
                .key_id(&a)
                .plaintext(Blob::new(vec![0u8; 4097]))
                .send()
                .await
        ),
        "ValidationException"
    );
    assert_eq!(
        code(
            kms.encrypt()
                .key_id("alias/nope")
                .plaintext(Blob::new("x"))
                .send()
                .await
        ),
        "NotFoundException"
    );
}

#[tokio::test]
async fn data_keys_and_random() {
    let server = TestServer::builder().build().await;
    let kms = server.client(REGION);
    let key = new_key(&kms).await;
    for (spec, len) in [(DataKeySpec::Aes256, 32), (DataKeySpec::Aes128, 16)] {
        let dk = kms
            .generate_data_key()
            .key_id(&key)
            .key_spec(spec)
            .send()
            .await
            .unwrap();
        let plain = dk.plaintext.unwrap();
        assert_eq!(plain.as_ref().len(), len);
        let back = kms
            .decrypt()
            .ciphertext_blob(dk.ciphertext_blob.unwrap())
            .send()
            .await
            .unwrap();
        assert_eq!(back.plaintext.unwrap(), plain);
    }
    let dk = kms
        .generate_data_key()
        .key_id(&key)
        .number_of_bytes(1024)
        .send()
        .await
        .unwrap();
    assert_eq!(dk.plaintext.unwrap().as_ref().len(), 1024);
    assert_eq!(
        code(
            kms.generate_data_key()
                .key_id(&key)
                .number_of_bytes(1025)
                .send()
                .await
        ),
        "ValidationException"
    );
    assert_eq!(
        code(kms.generate_data_key().key_id(&key).send().await),
        "ValidationException"
    );
    let np = kms
        .generate_data_key_without_plaintext()
        .key_id(&key)
        .key_spec(DataKeySpec::Aes256)
        .encryption_context("k", "v")
        .send()
        .await
        .unwrap();
    let back = kms
        .decrypt()
        .ciphertext_blob(np.ciphertext_blob.unwrap())
        .encryption_context("k", "v")
        .send()
        .await
        .unwrap();
    assert_eq!(back.plaintext.unwrap().as_ref().len(), 32);
    let r = kms
        .generate_random()
        .number_of_bytes(64)
        .send()
        .await
        .unwrap();
    assert_eq!(r.plaintext.unwrap().as_ref().len(), 64);
    assert_eq!(
        code(kms.generate_random().number_of_bytes(0).send().await),
        "ValidationException"
    );
}

#[tokio::test]
async fn aliases_and_tags() {
    let server = TestServer::builder().build().await;
    let kms = server.client(REGION);
    let a = new_key(&kms).await;
    let b = new_key(&kms).await;
    create_alias(&kms, "alias/app", &a).await;
    assert_eq!(
        code(
            kms.create_alias()
                .alias_name("alias/app")
                .target_key_id(&b)
                .send()
                .await
        ),
        "AlreadyExistsException"
    );
    assert_eq!(
        code(
            kms.create_alias()
                .alias_name("alias/aws/ebs")
                .target_key_id(&a)
                .send()
                .await
        ),
        "NotAuthorizedException"
    );
    assert_eq!(
        code(
            kms.create_alias()
                .alias_name("no-prefix")
                .target_key_id(&a)
                .send()
                .await
        ),
        "ValidationException"
    );
    kms.update_alias()
        .alias_name("alias/app")
        .target_key_id(&b)
        .send()
        .await
        .unwrap();
    let enc = kms
        .encrypt()
        .key_id("alias/app")
        .plaintext(Blob::new("x"))
        .send()
        .await
        .unwrap();
    assert!(enc.key_id.unwrap().ends_with(&b));
    let listed = kms
        .list_aliases()
        .key_id(&b)
        .send()
        .await
        .unwrap()
        .aliases
        .unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].alias_name.as_deref(), Some("alias/app"));
    assert_eq!(listed[0].target_key_id.as_deref(), Some(b.as_str()));
    kms.delete_alias()
        .alias_name("alias/app")
        .send()
        .await
        .unwrap();
    assert_eq!(
        code(kms.delete_alias().alias_name("alias/app").send().await),
        "NotFoundException"
    );

    let tag = |k: &str, v: &str| Tag::builder().tag_key(k).tag_value(v).build().unwrap();
    kms.tag_resource()
        .key_id(&a)
        .tags(tag("env", "prod"))
        .tags(tag("team", "x"))
        .send()
        .await
        .unwrap();
    kms.tag_resource()
        .key_id(&a)
        .tags(tag("env", "dev"))
        .send()
        .await
        .unwrap();
    kms.untag_resource()
        .key_id(&a)
        .tag_keys("team")
        .send()
        .await
        .unwrap();
    let tags = kms
        .list_resource_tags()
        .key_id(&a)
        .send()
        .await
        .unwrap()
        .tags
        .unwrap();
    assert_eq!(tags.len(), 1);
    assert_eq!(
        (tags[0].tag_key.as_str(), tags[0].tag_value.as_str()),
        ("env", "dev")
    );
    assert_eq!(
        code(
            kms.tag_resource()
                .key_id(&a)
                .tags(tag("aws:reserved", "x"))
                .send()
                .await
        ),
        "TagException"
    );
}

#[tokio::test]
async fn rotation_on_demand_and_scheduled() {
    let clock = manual_clock_now();
    let server = TestServer::builder()
        .manual_clock(clock.clone())
        .build()
        .await;
    let kms = server.client(REGION);
    let key = new_key(&kms).await;
    let old = kms
        .encrypt()
        .key_id(&key)
        .plaintext(Blob::new("v1"))
        .send()
        .await
        .unwrap();

    assert_eq!(
        code(
            kms.enable_key_rotation()
                .key_id(&key)
                .rotation_period_in_days(89)
                .send()
                .await
        ),
        "ValidationException"
    );
    kms.enable_key_rotation()
        .key_id(&key)
        .rotation_period_in_days(90)
        .send()
        .await
        .unwrap();
    let status = kms
        .get_key_rotation_status()
        .key_id(&key)
        .send()
        .await
        .unwrap();
    assert!(status.key_rotation_enabled);
    assert_eq!(status.rotation_period_in_days, Some(90));
    assert!(status.next_rotation_date.is_some());

    kms.rotate_key_on_demand()
        .key_id(&key)
        .send()
        .await
        .unwrap();
    let mid = kms
        .encrypt()
        .key_id(&key)
        .plaintext(Blob::new("v2"))
        .send()
        .await
        .unwrap();

    // Scheduled rotation happens by itself once the clock passes the rotation date.
    clock.advance_days(91);
    let rotations = eventually(Duration::from_secs(5), || async {
        let r = kms.list_key_rotations().key_id(&key).send().await.unwrap();
        let rot = r.rotations.unwrap_or_default();
        (rot.len() == 2).then_some(rot)
    })
    .await
    .expect("scheduled rotation happened");
    let types: Vec<_> = rotations
        .iter()
        .map(|r| r.rotation_type.clone().unwrap())
        .collect();
    assert_eq!(types[0].as_str(), "ON_DEMAND");
    assert_eq!(types[1].as_str(), "AUTOMATIC");

    for (blob, want) in [
        (old.ciphertext_blob.unwrap(), "v1"),
        (mid.ciphertext_blob.unwrap(), "v2"),
    ] {
        let d = kms.decrypt().ciphertext_blob(blob).send().await.unwrap();
        assert_eq!(d.plaintext.unwrap().as_ref(), want.as_bytes());
    }
    kms.disable_key_rotation()
        .key_id(&key)
        .send()
        .await
        .unwrap();
    let status = kms
        .get_key_rotation_status()
        .key_id(&key)
        .send()
        .await
        .unwrap();
    assert!(!status.key_rotation_enabled);
}

#[tokio::test]
async fn deletion_destroys_the_key_when_the_window_passes() {
    let clock = manual_clock_now();
    let server = TestServer::builder()
        .manual_clock(clock.clone())
        .build()
        .await;
    let kms = server.client(REGION);
    let key = new_key(&kms).await;
    create_alias(&kms, "alias/doomed", &key).await;
    let blob = encrypt(&kms, &key, "x").await;
    kms.schedule_key_deletion()
        .key_id(&key)
        .pending_window_in_days(7)
        .send()
        .await
        .unwrap();
    clock.advance_days(6);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        kms.describe_key().key_id(&key).send().await.is_ok(),
        "still inside the window"
    );
    clock.advance_days(2);
    let gone = eventually(Duration::from_secs(5), || async {
        kms.describe_key()
            .key_id(&key)
            .send()
            .await
            .is_err()
            .then_some(())
    })
    .await;
    assert!(gone.is_some(), "key destroyed after its window");
    assert_eq!(
        code(kms.describe_key().key_id(&key).send().await),
        "NotFoundException"
    );
    assert_eq!(
        code(kms.describe_key().key_id("alias/doomed").send().await),
        "NotFoundException"
    );
    assert_eq!(
        code(kms.decrypt().ciphertext_blob(blob).send().await),
        "InvalidCiphertextException"
    );
}

#[tokio::test]
async fn keys_are_regional() {
    let server = TestServer::builder().build().await;
    let east = server.client("us-east-1");
    let west = server.client("eu-west-1");
    let key = new_key(&east).await;
    let arn = east
        .describe_key()
        .key_id(&key)
        .send()
        .await
        .unwrap()
        .key_metadata
        .unwrap()
        .arn
        .unwrap();
    assert_eq!(
        code(west.describe_key().key_id(&key).send().await),
        "NotFoundException"
    );
    assert_eq!(
        code(west.describe_key().key_id(&arn).send().await),
        "NotFoundException"
    );
    let blob = encrypt(&east, &key, "x").await;
    assert_eq!(
        code(west.decrypt().ciphertext_blob(blob).send().await),
        "InvalidCiphertextException"
    );
    assert!(west
        .list_keys()
        .send()
        .await
        .unwrap()
        .keys
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn authentication_errors() {
    let server = TestServer::builder().build().await;
    let wrong_secret = server.client_with(REGION, &server.access_key_id, "not-the-secret");
    assert_eq!(
        code(wrong_secret.list_keys().send().await),
        "InvalidSignatureException"
    );
    let unknown = server.client_with(REGION, "KAGIUNKNOWNKEY000000", "whatever");
    assert_eq!(
        code(unknown.list_keys().send().await),
        "UnrecognizedClientException"
    );

    // Access keys made with `kagi admin` work at once and stop working when disabled.
    let admin = server.admin();
    let created = admin
        .call("CreateAccessKey", serde_json::json!({"UserName": "alice"}))
        .await
        .unwrap();
    let id = created["AccessKey"]["AccessKeyId"]
        .as_str()
        .unwrap()
        .to_string();
    let secret = created["AccessKey"]["SecretAccessKey"]
        .as_str()
        .unwrap()
        .to_string();
    let alice = server.client_with(REGION, &id, &secret);
    // Authenticated at once, but allowed nothing until an identity policy says so.
    assert_eq!(
        code(alice.list_keys().send().await),
        "AccessDeniedException"
    );
    admin
        .call(
            "PutUserPolicy",
            serde_json::json!({
                "UserName": "alice",
                "PolicyName": "list-keys",
                "PolicyDocument": r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:ListKeys","Resource":"*"}]}"#,
            }),
        )
        .await
        .unwrap();
    alice.list_keys().send().await.unwrap();
    let listed = admin
        .call("ListAccessKeys", serde_json::json!({}))
        .await
        .unwrap();
    let text = listed.to_string();
    assert!(
        text.contains(&id) && !text.contains(&secret),
        "list shows ids, never secrets"
    );
    // alice is not an admin.
    let as_alice = kagi_server::admin_client::AdminClient {
        endpoint: server.endpoint.clone(),
        region: REGION.into(),
        credentials: sigv4::Credentials::new(
            id.clone(),
            kagi_crypto::SecretBytes::from_slice(secret.as_bytes()),
        ),
    };
    let denied = as_alice
        .call("ListAccessKeys", serde_json::json!({}))
        .await
        .unwrap_err();
    assert!(
        denied.to_string().contains("AccessDeniedException"),
        "{denied}"
    );
    admin
        .call(
            "UpdateAccessKey",
            serde_json::json!({"AccessKeyId": id, "Status": "Inactive"}),
        )
        .await
        .unwrap();
    assert_eq!(
        code(alice.list_keys().send().await),
        "UnrecognizedClientException"
    );
    admin
        .call("DeleteAccessKey", serde_json::json!({"AccessKeyId": id}))
        .await
        .unwrap();
    assert_eq!(
        code(alice.list_keys().send().await),
        "UnrecognizedClientException"
    );
}

#[tokio::test]
async fn everything_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = TestServer::builder().data_dir(&data).build().await;
    let kms = server.client(REGION);
    let key = new_key(&kms).await;
    create_alias(&kms, "alias/durable", &key).await;
    let v1 = kms
        .encrypt()
        .key_id(&key)
        .plaintext(Blob::new("before"))
        .encryption_context("a", "b")
        .send()
        .await
        .unwrap();
    kms.rotate_key_on_demand()
        .key_id(&key)
        .send()
        .await
        .unwrap();
    let v2 = kms
        .encrypt()
        .key_id("alias/durable")
        .plaintext(Blob::new("after"))
        .send()
        .await
        .unwrap();
    kms.disable_key().key_id(&key).send().await.unwrap();
    server.stop().await;

    let server = TestServer::builder().data_dir(&data).build().await;
    let kms = server.client(REGION);
    let d = kms
        .describe_key()
        .key_id("alias/durable")
        .send()
        .await
        .unwrap()
        .key_metadata
        .unwrap();
    assert_eq!(d.key_id, key);
    assert_eq!(d.key_state, Some(KeyState::Disabled));
    kms.enable_key().key_id(&key).send().await.unwrap();
    let p1 = kms
        .decrypt()
        .ciphertext_blob(v1.ciphertext_blob.unwrap())
        .encryption_context("a", "b")
        .send()
        .await
        .unwrap();
    assert_eq!(p1.plaintext.unwrap().as_ref(), b"before");
    let p2 = kms
        .decrypt()
        .ciphertext_blob(v2.ciphertext_blob.unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(p2.plaintext.unwrap().as_ref(), b"after");
    let rotations = kms
        .list_key_rotations()
        .key_id(&key)
        .send()
        .await
        .unwrap()
        .rotations
        .unwrap();
    assert_eq!(rotations.len(), 1);
}

#[tokio::test]
async fn dev_mode_accepts_any_credentials() {
    let server = TestServer::builder().dev().build().await;
    let kms = server.client_with(REGION, "ANYTHING", "any-secret");
    let key = new_key(&kms).await;
    let other = server.client_with(REGION, "SOMETHINGELSE", "other-secret");
    other.describe_key().key_id(&key).send().await.unwrap();
}

/// Sends `GET /_kagi/health` on `stream` and waits at most `wait` for the answer's status line.
async fn health_on(stream: &mut tokio::net::TcpStream, wait: Duration) -> Option<String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    stream
        .write_all(b"GET /_kagi/health HTTP/1.1\r\nhost: kagi\r\n\r\n")
        .await
        .ok()?;
    let mut buf = vec![0u8; 512];
    let n = tokio::time::timeout(wait, stream.read(&mut buf))
        .await
        .ok()?
        .ok()?;
    String::from_utf8_lossy(&buf[..n])
        .lines()
        .next()
        .map(str::to_string)
}

#[tokio::test]
async fn connections_beyond_the_limit_wait_for_a_free_slot() {
    let server = TestServer::builder().max_connections(2).build().await;
    let addr = server.endpoint.trim_start_matches("http://").to_string();
    let mut first = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let mut second = tokio::net::TcpStream::connect(&addr).await.unwrap();
    assert!(health_on(&mut first, Duration::from_secs(5))
        .await
        .is_some());
    assert!(health_on(&mut second, Duration::from_secs(5))
        .await
        .is_some());
    // Both slots are taken by idle keep-alive connections: a third is not served...
    let mut third = tokio::net::TcpStream::connect(&addr).await.unwrap();
    assert_eq!(
        health_on(&mut third, Duration::from_millis(500)).await,
        None
    );
    // ...until one of them goes away; then it is answered.
    drop(first);
    use tokio::io::AsyncReadExt;
    let mut buf = vec![0u8; 512];
    let n = tokio::time::timeout(Duration::from_secs(5), third.read(&mut buf))
        .await
        .expect("answered once a slot is free")
        .unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
}

#[tokio::test]
async fn health_and_readiness_probes() {
    let server = TestServer::builder().build().await;
    let addr = server.endpoint.trim_start_matches("http://").to_string();
    for path in ["/_kagi/health", "/_kagi/ready"] {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
        let request = format!("GET {path} HTTP/1.1\r\nhost: kagi\r\nconnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).await.unwrap();
        assert!(answer.starts_with("HTTP/1.1 200"), "{path}: {answer}");
    }
}
