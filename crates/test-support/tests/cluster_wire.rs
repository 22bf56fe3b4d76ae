//! Several Kagi nodes on one PostgreSQL database behave as one KMS, driven through the AWS
//! SDK for Rust: what one node creates the others use at once; what one node disables,
//! deletes or restricts the others refuse within the 1-second staleness limit; scheduled
//! deletion happens exactly once; the nodes ride out a database restart and refuse
//! (retryably) rather than serve stale state while the database is out of reach.
//!
//! Each test creates its own database on 127.0.0.1:5432 and drops it afterwards.

use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::DataKeySpec;
use kagi_audit::index::{AttributeKey, LookupQuery};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use test_support::{error_code, new_key, PgDatabase, TestServer};
use tokio::net::{TcpListener, TcpStream};

const REGION: &str = "us-east-1";

/// The bound the nodes promise (`kagi::cluster::STALENESS_LIMIT`).
const LIMIT: Duration = kagi::cluster::STALENESS_LIMIT;

async fn three_nodes(db: &PgDatabase) -> (TestServer, TestServer, TestServer) {
    three_nodes_with(TestServer::builder().store_url(&db.url), |b| b).await
}

async fn three_nodes_with(
    first: test_support::TestServerBuilder,
    others: impl Fn(test_support::TestServerBuilder) -> test_support::TestServerBuilder,
) -> (TestServer, TestServer, TestServer) {
    let a = first.build().await;
    let b = others(TestServer::builder().joining(&a)).build().await;
    let c = others(TestServer::builder().joining(&a)).build().await;
    (a, b, c)
}

async fn encrypt(kms: &aws_sdk_kms::Client, key: &str) -> String {
    error_code(
        kms.encrypt()
            .key_id(key)
            .plaintext(Blob::new(b"cluster".to_vec()))
            .send()
            .await,
    )
}

/// How long until `check` returns `want` (polled every 10 ms), or `None` after 5 s.
async fn time_until<F, Fut>(want: &str, mut check: F) -> Option<Duration>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = String>,
{
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(5) {
        if check().await == want {
            return Some(start.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_nodes_serve_as_one_kms() {
    let db = PgDatabase::create();
    let (a, b, c) = three_nodes(&db).await;
    let (ka, kb, kc) = (a.client(REGION), b.client(REGION), c.client(REGION));

    // Created on A, usable on B and C at once.
    let key = new_key(&ka).await;
    let blob = kb
        .encrypt()
        .key_id(&key)
        .plaintext(Blob::new(b"across nodes".to_vec()))
        .send()
        .await
        .unwrap()
        .ciphertext_blob
        .unwrap();
    let plain = kc.decrypt().ciphertext_blob(blob).send().await.unwrap();
    assert_eq!(plain.plaintext.unwrap().as_ref(), b"across nodes");
    kb.create_alias()
        .alias_name("alias/shared")
        .target_key_id(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(encrypt(&kc, "alias/shared").await, "OK");

    // Disabled on A: refused on B and C within the limit (both have it cached).
    assert_eq!(encrypt(&kb, &key).await, "OK");
    assert_eq!(encrypt(&kc, &key).await, "OK");
    ka.disable_key().key_id(&key).send().await.unwrap();
    for (name, node) in [("B", &kb), ("C", &kc)] {
        let took = time_until("DisabledException", || encrypt(node, &key))
            .await
            .unwrap_or_else(|| panic!("node {name} still encrypts 5 s after DisableKey"));
        assert!(took <= LIMIT, "node {name} took {took:?}");
    }
    // Re-enabled on C: usable on A again.
    kc.enable_key().key_id(&key).send().await.unwrap();
    let took = time_until("OK", || encrypt(&ka, &key)).await.unwrap();
    assert!(took <= LIMIT, "{took:?}");

    // An access key made on A works on C at once; a key policy change on A binds C.
    let (id, secret) = a
        .user_credentials(
            "app",
            Some(r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"*"}]}"#),
        )
        .await;
    let app_on_c = c.client_with(REGION, &id, &secret);
    assert_eq!(encrypt(&app_on_c, &key).await, "OK");
    let account = a.app.kms.account().to_string();
    let deny_app = format!(
        r#"{{"Version":"2012-10-17","Statement":[
            {{"Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{account}:root"}},"Action":"kms:*","Resource":"*"}},
            {{"Effect":"Deny","Principal":{{"AWS":"arn:aws:iam::{account}:user/app"}},"Action":"kms:Encrypt","Resource":"*"}}]}}"#
    );
    ka.put_key_policy()
        .key_id(&key)
        .policy(deny_app)
        .send()
        .await
        .unwrap();
    let took = time_until("AccessDeniedException", || encrypt(&app_on_c, &key))
        .await
        .expect("the new key policy reaches C");
    assert!(took <= LIMIT, "{took:?}");

    // A grant made on B lets a user with no policy of its own use the key on C.
    let other_key = new_key(&ka).await;
    let (id, secret) = a.user_credentials("granted", None).await;
    let granted_on_c = c.client_with(REGION, &id, &secret);
    assert_eq!(
        encrypt(&granted_on_c, &other_key).await,
        "AccessDeniedException"
    );
    kb.create_grant()
        .key_id(&other_key)
        .grantee_principal(format!("arn:aws:iam::{account}:user/granted"))
        .operations(aws_sdk_kms::types::GrantOperation::Encrypt)
        .send()
        .await
        .unwrap();
    let took = time_until("OK", || encrypt(&granted_on_c, &other_key))
        .await
        .expect("the grant reaches C");
    assert!(took <= LIMIT, "{took:?}");

    // Each node keeps its own audit log, named after the node in its checkpoints.
    let origins: std::collections::BTreeSet<String> = [&a, &b, &c]
        .iter()
        .map(|n| {
            let note = n.app.audit.checkpoint().expect("checkpoint").note;
            note.lines().next().unwrap_or_default().to_string()
        })
        .collect();
    assert_eq!(origins.len(), 3, "{origins:?}");
    assert!(origins
        .iter()
        .all(|o| o.starts_with(&format!("kagi/{account}/node-"))));

    for node in [a, b, c] {
        node.stop().await;
    }
}

fn service_events(node: &TestServer, name: &str) -> usize {
    let query = LookupQuery {
        attribute: Some((AttributeKey::EventName, name.into())),
        max_results: 50,
        ..LookupQuery::default()
    };
    let (events, _) = node.app.audit.lookup(&query).expect("lookup");
    events
        .iter()
        .filter(|e| String::from_utf8_lossy(e).contains("\"AwsServiceEvent\""))
        .count()
}

/// Every node runs the maintenance loop; one holds the lease, so a key whose deletion
/// window ends is deleted once and recorded once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn scheduled_deletion_runs_once_across_the_cluster() {
    let db = PgDatabase::create();
    let clock = test_support::manual_clock_now();
    let (a, b, c) = three_nodes_with(
        TestServer::builder()
            .store_url(&db.url)
            .manual_clock(clock.clone()),
        |builder| builder.manual_clock(clock.clone()),
    )
    .await;
    let ka = a.client(REGION);
    let keys = [new_key(&ka).await, new_key(&ka).await];
    for key in &keys {
        ka.schedule_key_deletion()
            .key_id(key)
            .pending_window_in_days(7)
            .send()
            .await
            .unwrap();
    }
    clock.advance_days(8);
    let kc = c.client(REGION);
    for key in &keys {
        let gone = time_until("NotFoundException", || async {
            error_code(kc.describe_key().key_id(key).send().await)
        })
        .await;
        assert!(gone.is_some(), "key {key} was not deleted");
    }
    // Let the other nodes run a few more passes.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let recorded: usize = [&a, &b, &c]
        .iter()
        .map(|n| service_events(n, "DeleteKey"))
        .sum();
    assert_eq!(recorded, keys.len(), "one DeleteKey service event per key");
    for node in [a, b, c] {
        node.stop().await;
    }
}

/// A database restart ends every session; the nodes reconnect by themselves, and changes
/// made after it still propagate (the change feed was reopened).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_cluster_rides_out_a_database_restart() {
    let db = PgDatabase::create();
    let (a, b, c) = three_nodes(&db).await;
    let (ka, kb) = (a.client(REGION), b.client(REGION));
    let key = new_key(&ka).await;
    assert_eq!(encrypt(&kb, &key).await, "OK");
    db.terminate_connections();
    // Writes and reads work again without any operator action.
    let took = time_until("OK", || async { error_code(ka.create_key().send().await) })
        .await
        .expect("CreateKey works again after the restart");
    assert!(took < Duration::from_secs(5));
    assert_eq!(encrypt(&kb, &key).await, "OK");
    // Give the feeds a moment to reopen, then check propagation still holds.
    tokio::time::sleep(Duration::from_millis(500)).await;
    ka.disable_key().key_id(&key).send().await.unwrap();
    let took = time_until("DisabledException", || encrypt(&kb, &key))
        .await
        .expect("B hears of the change after the restart");
    assert!(took <= LIMIT, "{took:?}");
    for node in [a, b, c] {
        node.stop().await;
    }
}

/// A TCP relay to PostgreSQL that a test can cut (every connection dropped, new ones
/// refused) and restore: the database becoming unreachable for one node. It runs on a
/// runtime of its own, so that nothing the server does can hold it up.
struct Relay {
    addr: SocketAddr,
    cut: Arc<AtomicBool>,
    open: Arc<Mutex<Vec<tokio::task::JoinHandle<()>>>>,
    runtime: Option<tokio::runtime::Runtime>,
}

impl Drop for Relay {
    fn drop(&mut self) {
        // Dropped inside the test's runtime, where a blocking shutdown is not allowed.
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

impl Relay {
    fn start(target: &'static str) -> Relay {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let listener = runtime.block_on(TcpListener::bind("127.0.0.1:0")).unwrap();
        let addr = listener.local_addr().unwrap();
        let cut = Arc::new(AtomicBool::new(false));
        let open: Arc<Mutex<Vec<tokio::task::JoinHandle<()>>>> = Arc::default();
        let (flag, tasks) = (cut.clone(), open.clone());
        runtime.spawn(async move {
            loop {
                let Ok((mut inbound, _)) = listener.accept().await else {
                    return;
                };
                if flag.load(Ordering::SeqCst) {
                    drop(inbound);
                    continue;
                }
                let task = tokio::spawn(async move {
                    if let Ok(mut outbound) = TcpStream::connect(target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                tasks.lock().unwrap().push(task);
            }
        });
        Relay {
            addr,
            cut,
            open,
            runtime: Some(runtime),
        }
    }

    fn cut(&self) {
        self.cut.store(true, Ordering::SeqCst);
        for task in self.open.lock().unwrap().drain(..) {
            task.abort();
        }
    }

    fn restore(&self) {
        self.cut.store(false, Ordering::SeqCst);
    }
}

/// The failure rule: while a node cannot reach the database it serves from its cache for
/// at most the staleness limit (no other node's change can have gone unnoticed for
/// longer), then refuses with the retryable `DependencyTimeoutException`; writes are
/// refused the same way; it recovers by itself when the database returns.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_node_cut_off_from_the_database_refuses_after_the_limit_and_recovers() {
    let db = PgDatabase::create();
    let relay = std::thread::spawn(|| Relay::start("127.0.0.1:5432"))
        .join()
        .unwrap();
    let via_relay = db
        .url
        .replacen("127.0.0.1:5432", &relay.addr.to_string(), 1);
    let a = TestServer::builder().store_url(&db.url).build().await;
    let b = TestServer::builder()
        .joining(&a)
        .store_url(&via_relay)
        .build()
        .await;
    let ka = a.client(REGION);
    // No SDK retries: each refusal is seen as it happens.
    let kb = aws_sdk_kms::Client::from_conf(
        b.client(REGION)
            .config()
            .to_builder()
            .retry_config(aws_sdk_kms::config::retry::RetryConfig::disabled())
            .build(),
    );
    let key = new_key(&ka).await;
    assert_eq!(encrypt(&kb, &key).await, "OK");

    relay.cut();
    let cut_at = Instant::now();
    // Writes through B fail at once, retryably.
    assert_eq!(
        error_code(kb.create_key().send().await),
        "DependencyTimeoutException"
    );
    // Meanwhile A (still connected) disables the key.
    ka.disable_key().key_id(&key).send().await.unwrap();
    // B may answer from its cache until the limit, never after: then it refuses.
    let mut last_ok = None;
    loop {
        match encrypt(&kb, &key).await.as_str() {
            "OK" => last_ok = Some(cut_at.elapsed()),
            "DependencyTimeoutException" => break,
            other => panic!("B answered {other} while cut off"),
        }
        assert!(
            cut_at.elapsed() < Duration::from_secs(5),
            "B still serves 5 s after losing the database"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    if let Some(t) = last_ok {
        assert!(
            t <= LIMIT + Duration::from_millis(300),
            "B served from its cache {t:?} after losing the database"
        );
    }
    relay.restore();
    // Back by itself, and current: the key is disabled.
    let back = time_until("DisabledException", || encrypt(&kb, &key))
        .await
        .expect("B recovers when the database returns");
    assert!(back < Duration::from_secs(5));
    assert_eq!(
        error_code(
            kb.generate_data_key()
                .key_id(new_key(&kb).await)
                .key_spec(DataKeySpec::Aes256)
                .send()
                .await
        ),
        "OK"
    );
    a.stop().await;
    b.stop().await;
}

// ---------------------------------------------------------------------------------------
// Audit answers over every node's log.

/// Every page of `LookupEvents` for the key on `node`, `max_results` events a page.
async fn lookup_all(
    admin: &kagi_server::admin_client::AdminClient,
    key: &str,
    max_results: u32,
) -> Vec<serde_json::Value> {
    let mut events = Vec::new();
    let mut token: Option<String> = None;
    for _ in 0..200 {
        let mut body = serde_json::json!({
            "LookupAttributes": [{"AttributeKey": "ResourceName", "AttributeValue": key}],
            "MaxResults": max_results,
        });
        if let Some(t) = &token {
            body["NextToken"] = serde_json::Value::from(t.clone());
        }
        let page = admin
            .call_target(CLOUDTRAIL_LOOKUP, "cloudtrail", body)
            .await
            .expect("LookupEvents");
        let got = page["Events"].as_array().expect("Events").clone();
        assert!(got.len() <= max_results as usize);
        events.extend(got);
        match page["NextToken"].as_str() {
            Some(t) => token = Some(t.to_string()),
            None => return events,
        }
    }
    panic!("more than 200 pages");
}

const CLOUDTRAIL_LOOKUP: &str =
    "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.LookupEvents";

/// The `requestID` inside a LookupEvents entry's `CloudTrailEvent`.
fn request_id_of(entry: &serde_json::Value) -> String {
    let event: serde_json::Value =
        serde_json::from_str(entry["CloudTrailEvent"].as_str().expect("CloudTrailEvent"))
            .expect("event JSON");
    event["requestID"].as_str().unwrap_or_default().to_string()
}

/// LookupEvents, GetKeyLastUsage and the usage summary answer the same on every node, for
/// calls served by any node; paging one event at a time returns the same events in the
/// same order as one page.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn audit_answers_on_any_node_cover_every_node() {
    use aws_sdk_kms::operation::RequestId as _;
    let db = PgDatabase::create();
    let (a, b, c) = three_nodes(&db).await;
    let key = new_key(&a.client(REGION)).await;
    let mut encrypts = Vec::new();
    for (i, node) in [&a, &b, &c, &b].into_iter().enumerate() {
        if i == 3 {
            // Event times have CloudTrail's one-second resolution: the last use is
            // newest only if it falls in a later second than the others.
            tokio::time::sleep(Duration::from_millis(1100)).await;
        }
        let out = node
            .client(REGION)
            .encrypt()
            .key_id(&key)
            .plaintext(Blob::new(b"who used it".to_vec()))
            .send()
            .await
            .expect("Encrypt");
        encrypts.push(out.request_id().expect("request id").to_string());
    }
    let mut expected = encrypts.clone();
    expected.sort();
    let mut first_answer: Option<Vec<String>> = None;
    for node in [&a, &b, &c] {
        let admin = node.admin();
        let all = lookup_all(&admin, &key, 50).await;
        let ids: Vec<String> = all.iter().map(request_id_of).collect();
        // The calls above, leaving out the lookups of earlier rounds (which name the key).
        let calls: Vec<String> = all
            .iter()
            .filter(|e| e["EventName"] == "Encrypt" || e["EventName"] == "CreateKey")
            .map(request_id_of)
            .collect();
        let mut seen: Vec<String> = all
            .iter()
            .filter(|e| e["EventName"] == "Encrypt")
            .map(request_id_of)
            .collect();
        seen.sort();
        assert_eq!(
            seen, expected,
            "every node's Encrypt, once, on {}",
            node.endpoint
        );
        assert_eq!(
            all.iter().filter(|e| e["EventName"] == "CreateKey").count(),
            1
        );
        let paged: Vec<String> = lookup_all(&admin, &key, 1)
            .await
            .iter()
            .map(request_id_of)
            .collect();
        assert_eq!(paged, ids, "one event a page returns the same history");
        match &first_answer {
            None => first_answer = Some(calls),
            Some(first) => assert_eq!(&calls, first, "every node gives the same answer"),
        }

        let last = admin
            .call_target(
                "TrentService.GetKeyLastUsage",
                "kms",
                serde_json::json!({ "KeyId": key }),
            )
            .await
            .expect("GetKeyLastUsage");
        assert_eq!(
            last["KeyLastUsage"]["KmsRequestId"].as_str(),
            encrypts.last().map(String::as_str),
            "the newest use (served by node b), asked of {}",
            node.endpoint
        );
        let usage = admin
            .call_audit("GetKeyUsage", serde_json::json!({ "KeyId": key }))
            .await
            .expect("GetKeyUsage");
        let rows = usage["Usage"].as_array().expect("Usage");
        let encrypt_count: u64 = rows
            .iter()
            .filter(|r| r["Operation"] == "Encrypt")
            .map(|r| r["Count"].as_u64().unwrap_or(0))
            .sum();
        assert_eq!(encrypt_count, encrypts.len() as u64);
    }
    for node in [a, b, c] {
        node.stop().await;
    }
}

fn lookup_error(
    r: Result<serde_json::Value, kagi_server::admin_client::AdminClientError>,
) -> String {
    match r {
        Ok(_) => "OK".into(),
        Err(kagi_server::admin_client::AdminClientError::Api { code, message }) => {
            format!("{code}: {message}")
        }
        Err(e) => format!("{e}"),
    }
}

/// A live node that does not answer (refuses connections, or never replies) fails lookups
/// (retryably, naming it) rather than leaving its events out; a node that is no longer
/// live is left out; a node that stops cleanly leaves the registry at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn lookups_refuse_while_a_live_node_is_silent_and_leave_out_departed_ones() {
    let db = PgDatabase::create();
    let a = TestServer::builder().store_url(&db.url).build().await;
    let b = TestServer::builder().joining(&a).build().await;
    let admin = a.admin();
    let ask = || {
        admin.call_target(
            CLOUDTRAIL_LOOKUP,
            "cloudtrail",
            serde_json::json!({ "MaxResults": 5 }),
        )
    };
    assert_eq!(lookup_error(ask().await), "OK");
    // A node registered as live that nobody answers for (port 9 refuses connections).
    db.run_sql(
        "INSERT INTO nodes (name, url, seen_at) \
         VALUES ('ghost', 'http://127.0.0.1:9', now() + interval '1 hour')",
    );
    let refused = test_support::eventually(Duration::from_secs(10), || async {
        let answer = lookup_error(ask().await);
        answer
            .starts_with("DependencyTimeoutException")
            .then_some(answer)
    })
    .await
    .expect("a silent live node fails the lookup");
    assert!(refused.contains("ghost"), "{refused}");
    // Once its registration is old, it is left out again.
    db.run_sql("UPDATE nodes SET seen_at = now() - interval '1 hour' WHERE name = 'ghost'");
    assert_eq!(lookup_error(ask().await), "OK");
    // A live node that accepts the connection and never answers: refused after the peer
    // timeout (5 s), not a hang.
    let hung = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let hung_url = format!("http://{}", hung.local_addr().expect("addr"));
    let held = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((conn, _)) = hung.accept().await {
            open.push(conn); // read nothing, answer nothing
        }
    });
    db.run_sql(&format!(
        "INSERT INTO nodes (name, url, seen_at) \
         VALUES ('sleeper', '{hung_url}', now() + interval '1 hour')"
    ));
    let started = Instant::now();
    let answer = lookup_error(ask().await);
    let took = started.elapsed();
    assert!(
        answer.starts_with("DependencyTimeoutException") && answer.contains("sleeper"),
        "{answer}"
    );
    assert!(
        (Duration::from_secs(4)..Duration::from_secs(10)).contains(&took),
        "refused after {took:?}"
    );
    held.abort();
    db.run_sql("DELETE FROM nodes WHERE name = 'sleeper'");
    assert_eq!(lookup_error(ask().await), "OK");
    // A node that stops cleanly leaves at once: no refusal in between.
    b.stop().await;
    assert_eq!(lookup_error(ask().await), "OK");
    a.stop().await;
}

/// The peer endpoint answers only requests signed with the cluster's peer secret; a
/// refused attempt is recorded like any other refused call.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_peer_endpoint_refuses_strangers_and_records_them() {
    let db = PgDatabase::create();
    let a = TestServer::builder().store_url(&db.url).build().await;
    let stranger = sigv4::Credentials::new(
        "node-stranger",
        kagi_crypto::SecretBytes::new(vec![7u8; 32]),
    );
    let (status, body) = kagi_server::admin_client::signed_post(
        &a.endpoint,
        kagi_server::cluster::PEER_PATH,
        &[("x-kagi-peer-operation", "Lookup")],
        &stranger,
        ("cluster", "kagi-peer"),
        br#"{"Attribute":null,"StartMillis":null,"EndMillis":null,"Limit":50,"Before":18446744073709551615}"#.to_vec(),
    )
    .await
    .expect("the request is answered");
    let body: serde_json::Value = serde_json::from_slice(&body).expect("JSON error");
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["__type"], "InvalidSignatureException");
    assert!(body.get("Events").is_none());
    let recorded = a
        .admin()
        .call_target(
            CLOUDTRAIL_LOOKUP,
            "cloudtrail",
            serde_json::json!({
                "LookupAttributes": [{"AttributeKey": "EventName", "AttributeValue": "KagiPeer.Lookup"}],
            }),
        )
        .await
        .expect("LookupEvents");
    let events = recorded["Events"].as_array().expect("Events");
    assert_eq!(events.len(), 1, "{recorded}");
    assert_eq!(events[0]["AccessKeyId"], "node-stranger");
    a.stop().await;
}
