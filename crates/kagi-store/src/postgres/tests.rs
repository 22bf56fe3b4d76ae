//! Tests of [`PostgresStore`] against the real PostgreSQL server on 127.0.0.1:5432.
//!
//! Every test creates its own uniquely named databases (`kagi_test_<pid>_<random>`) through
//! a maintenance connection and drops them when it ends, panics included. An unreachable
//! server is a failure, never a silent skip.

use super::*;
use kagi_kms::{AccessKeyStatus, KeyMetadata, KeyState, StoredVersion, Tag};
use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::{Arc, Barrier};

const SERVER: &str = "127.0.0.1:5432";

/// Databases created for one test; dropped (with any connections still open) on drop.
struct TestDatabases {
    admin: Mutex<Client>,
    user: &'static str,
    created: Mutex<Vec<String>>,
}

impl TestDatabases {
    fn new() -> Self {
        let mut failures = Vec::new();
        for user in ["postgres", "root"] {
            match Client::connect(&format!("postgres://{user}@{SERVER}/postgres"), NoTls) {
                Ok(admin) => {
                    return Self {
                        admin: Mutex::new(admin),
                        user,
                        created: Mutex::new(Vec::new()),
                    }
                }
                Err(e) => failures.push(format!("as {user}: {e}")),
            }
        }
        let context = if std::env::var_os("CI").is_some() {
            "CI is set, and CI must run the PostgreSQL tests"
        } else {
            "these tests need a real server and do not skip"
        };
        panic!(
            "PostgreSQL is unreachable on {SERVER} ({}); {context}. Start it with \
             `pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start` \
             (trust auth for user postgres or root)",
            failures.join("; ")
        );
    }

    /// Creates an empty database and returns its URL.
    fn create(&self) -> String {
        let mut h = RandomState::new().build_hasher();
        h.write_u128(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or_default(),
        );
        let name = format!("kagi_test_{}_{:016x}", std::process::id(), h.finish());
        self.admin
            .lock()
            .unwrap()
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .expect("create test database");
        self.created.lock().unwrap().push(name.clone());
        format!("postgres://{}@{SERVER}/{name}", self.user)
    }

    /// Closes every connection to the databases this test created.
    fn terminate_connections(&self) {
        let names = self.created.lock().unwrap().clone();
        self.admin
            .lock()
            .unwrap()
            .execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
                 WHERE datname = ANY($1) AND pid <> pg_backend_pid()",
                &[&names],
            )
            .expect("terminate connections");
    }
}

impl Drop for TestDatabases {
    fn drop(&mut self) {
        let admin = self.admin.get_mut().unwrap_or_else(|e| e.into_inner());
        let created = self.created.get_mut().unwrap_or_else(|e| e.into_inner());
        for name in created.drain(..) {
            if let Err(e) =
                admin.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            {
                eprintln!("could not drop test database {name}: {e}");
            }
        }
    }
}

fn key(n: u8) -> KeyMetadata {
    let mut id = [0u8; 16];
    id[15] = n;
    KeyMetadata {
        region: Region::parse("us-east-1").unwrap(),
        key_id: KeyId::from_bytes(id),
        created_at: Timestamp(1_000),
        description: format!("key {n}"),
        state: KeyState::Enabled,
        deletion_date: None,
        pending_window_days: Some(7),
        policy: "{}".into(),
        rotation_period_days: Some(365),
        next_rotation: Some(Timestamp(5_000)),
        tags: vec![Tag {
            key: "team".into(),
            value: "kagi".into(),
        }],
        revision: 1,
    }
}

fn create_key(store: &PostgresStore, m: &KeyMetadata) {
    store
        .apply(vec![
            Write::PutKey(m.clone()),
            Write::AddVersion {
                region: m.region.clone(),
                key_id: m.key_id,
                version: StoredVersion {
                    version: 1,
                    created_at: Timestamp(1_000),
                    rotation: None,
                    wrapped: vec![0xab; 61],
                },
            },
        ])
        .unwrap();
}

#[test]
fn postgres_meets_the_store_contract() {
    let dbs = TestDatabases::new();
    crate::contract::run_all(&mut || {
        Box::new(PostgresStore::connect(&dbs.create()).expect("connect to a fresh database"))
    });
}

#[test]
fn nodes_starting_at_once_all_migrate_and_share_state() {
    let dbs = TestDatabases::new();
    let url = dbs.create();
    let nodes = 4;
    let barrier = Arc::new(Barrier::new(nodes));
    let stores: Vec<PostgresStore> = (0..nodes)
        .map(|_| {
            let (url, barrier) = (url.clone(), barrier.clone());
            std::thread::spawn(move || {
                barrier.wait();
                PostgresStore::connect(&url)
            })
        })
        .collect::<Vec<_>>()
        .into_iter()
        .map(|t| t.join().unwrap().expect("every node connects"))
        .collect();
    // A write through one node is visible through every other at once.
    let m = key(1);
    create_key(&stores[0], &m);
    for s in &stores {
        assert_eq!(s.load_key(&m.region, &m.key_id).unwrap().unwrap().meta, m);
    }
    let mut admin = Client::connect(&url, NoTls).unwrap();
    let versions = admin
        .query("SELECT version FROM schema_version", &[])
        .unwrap();
    assert_eq!(versions.len(), 1);
    assert_eq!(
        versions[0].get::<_, i64>(0),
        migrations::MIGRATIONS.len() as i64
    );
}

#[test]
fn more_callers_than_connections_all_commit() {
    let dbs = TestDatabases::new();
    let url = dbs.create();
    let store = Arc::new(PostgresStore::connect(&url).unwrap());
    let threads: Vec<_> = (0..3 * POOL_SIZE)
        .map(|t| {
            let s = store.clone();
            std::thread::spawn(move || {
                for i in 0..20 {
                    s.apply(vec![Write::PutSetting {
                        name: format!("t{t}-{i}"),
                        value: "v".into(),
                    }])
                    .unwrap();
                    assert!(s.setting(&format!("t{t}-{i}")).unwrap().is_some());
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    drop(store);
    let again = PostgresStore::connect(&url).unwrap();
    for t in 0..3 * POOL_SIZE {
        for i in 0..20 {
            assert!(again.setting(&format!("t{t}-{i}")).unwrap().is_some());
        }
    }
}

#[test]
fn acknowledged_writes_survive_a_new_store() {
    let dbs = TestDatabases::new();
    let url = dbs.create();
    let m = key(2);
    let policy = UserPolicyRecord {
        user_name: "alice".into(),
        policy_name: "EncryptOnly".into(),
        document: r#"{"Version":"2012-10-17","Statement":[]}"#.into(),
        updated_at: Timestamp(8),
    };
    let role = RoleRecord {
        role_name: "Deployer".into(),
        trust_policy: r#"{"Version":"2012-10-17","Statement":[]}"#.into(),
        max_session_seconds: 43_200,
        created_at: Timestamp(9),
    };
    let role_policy = RolePolicyRecord {
        role_name: "Deployer".into(),
        policy_name: "EncryptOnly".into(),
        document: r#"{"Version":"2012-10-17","Statement":[]}"#.into(),
        updated_at: Timestamp(10),
    };
    let access = AccessKeyRecord {
        access_key_id: "KAGIDURABLE".into(),
        user_name: "alice".into(),
        status: AccessKeyStatus::Active,
        created_at: Timestamp(7),
        admin: true,
        wrapped_secret: vec![9; 40],
        account: None,
    };
    {
        let store = PostgresStore::connect(&url).unwrap();
        create_key(&store, &m);
        store
            .apply(vec![
                Write::PutAccessKey(access.clone()),
                Write::PutUserPolicy(policy.clone()),
                Write::PutRole(role.clone()),
                Write::PutRolePolicy(role_policy.clone()),
                Write::PutSetting {
                    name: "account_id".into(),
                    value: "111122223333".into(),
                },
            ])
            .unwrap();
    }
    let again = PostgresStore::connect(&url).unwrap();
    let got = again.load_key(&m.region, &m.key_id).unwrap().unwrap();
    assert_eq!(got.meta, m);
    assert_eq!(got.versions.len(), 1);
    assert_eq!(got.versions[0].wrapped, vec![0xab; 61]);
    assert_eq!(again.access_key("KAGIDURABLE").unwrap().unwrap(), access);
    assert_eq!(again.user_policies("alice").unwrap(), vec![policy]);
    assert_eq!(again.role("Deployer").unwrap(), Some(role.clone()));
    assert_eq!(again.list_roles().unwrap(), vec![role]);
    assert_eq!(again.role_policies("Deployer").unwrap(), vec![role_policy]);
    assert_eq!(
        again.setting("account_id").unwrap().as_deref(),
        Some("111122223333")
    );
}

#[test]
fn a_broken_connection_is_replaced_on_next_use() {
    let dbs = TestDatabases::new();
    let store = PostgresStore::connect(&dbs.create()).unwrap();
    create_key(&store, &key(3));
    dbs.terminate_connections();
    // The read finds its connection dead, reconnects and retries.
    assert!(store
        .load_key(&key(3).region, &key(3).key_id)
        .unwrap()
        .is_some());
    dbs.terminate_connections();
    // So does a batch whose BEGIN could not reach the server.
    store
        .apply(vec![Write::PutSetting {
            name: "after".into(),
            value: "reconnect".into(),
        }])
        .unwrap();
    assert_eq!(
        store.setting("after").unwrap().as_deref(),
        Some("reconnect")
    );
}

#[test]
fn one_node_at_a_time_holds_the_maintenance_lease() {
    let dbs = TestDatabases::new();
    let url = dbs.create();
    let first = PostgresStore::connect(&url).unwrap();
    let second = PostgresStore::connect(&url).unwrap();
    assert!(first.maintenance_lease().unwrap());
    assert!(!second.maintenance_lease().unwrap());
    assert!(first.maintenance_lease().unwrap(), "the holder keeps it");
    drop(first); // its session ends, and the lock with it
    let mut taken = false;
    for _ in 0..100 {
        if second.maintenance_lease().unwrap() {
            taken = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(taken, "the lease passes on when its holder goes away");
}

#[test]
fn a_holder_that_loses_its_connection_stops_claiming_the_lease() {
    let dbs = TestDatabases::new();
    let url = dbs.create();
    let store = PostgresStore::connect(&url).unwrap();
    assert!(store.maintenance_lease().unwrap());
    dbs.terminate_connections();
    // The next check finds the session gone and claims nothing (or, reconnected, claims
    // the lock afresh); it never reports a lease it lost as held without re-taking it.
    let after = store.maintenance_lease();
    assert!(
        matches!(after, Err(StoreError::Unavailable(_))) || after.is_ok(),
        "{after:?}"
    );
    assert!(
        store.maintenance_lease().unwrap(),
        "re-claimed once reconnected"
    );
}

fn access_key(id: &str) -> AccessKeyRecord {
    AccessKeyRecord {
        access_key_id: id.into(),
        user_name: "alice".into(),
        status: AccessKeyStatus::Active,
        created_at: Timestamp(1),
        admin: false,
        wrapped_secret: vec![1],
        account: None,
    }
}

#[test]
fn committed_changes_reach_the_other_nodes_and_nothing_else_does() {
    let dbs = TestDatabases::new();
    let url = dbs.create();
    let a = PostgresStore::connect(&url).unwrap();
    let b = PostgresStore::connect(&url).unwrap();
    let mut feed_a = a.change_feed().unwrap();
    let mut feed_b = b.change_feed().unwrap();
    a.apply(vec![Write::PutAccessKey(access_key("KAGIONE"))])
        .unwrap();
    // A batch that fails (the same id again) notifies no one.
    assert!(a
        .apply(vec![
            Write::PutAccessKey(access_key("KAGITWO")),
            Write::PutAccessKey(access_key("KAGIONE")),
        ])
        .is_err());
    // Settings are not cached: no notification either.
    a.apply(vec![Write::PutSetting {
        name: "x".into(),
        value: "y".into(),
    }])
    .unwrap();
    let seen = feed_b.poll(Duration::ZERO).unwrap();
    assert_eq!(
        seen.changes,
        vec![kagi_kms::Change::AccessKey {
            access_key_id: "KAGIONE".into()
        }]
    );
    assert!(!seen.forget_everything);
    assert_eq!(
        feed_a.poll(Duration::ZERO).unwrap(),
        Changes::default(),
        "a node skips its own changes"
    );
    assert_eq!(feed_b.poll(Duration::ZERO).unwrap(), Changes::default());
}

/// What the cache's staleness bound rests on: once `poll` returns, every change committed
/// before it was called has been delivered.
#[test]
fn a_poll_returns_every_change_committed_before_it() {
    let dbs = TestDatabases::new();
    let url = dbs.create();
    let a = PostgresStore::connect(&url).unwrap();
    let b = PostgresStore::connect(&url).unwrap();
    let mut feed = b.change_feed().unwrap();
    for n in 0..100 {
        let id = format!("KAGI{n:04}");
        a.apply(vec![Write::PutAccessKey(access_key(&id))]).unwrap();
        let seen = feed.poll(Duration::ZERO).unwrap();
        assert_eq!(
            seen.changes,
            vec![kagi_kms::Change::AccessKey { access_key_id: id }],
            "round {n}"
        );
    }
}

#[test]
fn a_feed_whose_connection_is_lost_says_so() {
    let dbs = TestDatabases::new();
    let url = dbs.create();
    let store = PostgresStore::connect(&url).unwrap();
    let mut feed = store.change_feed().unwrap();
    feed.poll(Duration::ZERO).unwrap();
    dbs.terminate_connections();
    let mut failed = false;
    for _ in 0..3 {
        if let Err(e) = feed.poll(Duration::from_millis(50)) {
            assert!(matches!(e, StoreError::Unavailable(_)), "{e:?}");
            failed = true;
            break;
        }
    }
    assert!(failed, "a terminated feed must report the loss");
    // Reads reconnect by themselves; a new feed works.
    let mut again = store.change_feed().unwrap();
    assert!(again.poll(Duration::ZERO).is_ok());
}

/// A server that is not there is `Unavailable` (DependencyTimeoutException to clients),
/// not an internal error.
#[test]
fn an_unreachable_server_is_unavailable() {
    let err = PostgresStore::connect("postgres://kagi@127.0.0.1:1/nothing?connect_timeout=2")
        .unwrap_err();
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
}

/// Version 2 gives every user with a non-admin access key the access all users had before
/// identity policies existed, and gives admins nothing (they need none).
#[test]
fn migration_2_gives_existing_non_admin_users_a_legacy_policy() {
    let dbs = TestDatabases::new();
    let url = dbs.create();
    {
        let mut old = Client::connect(&url, NoTls).unwrap();
        migrations::migrate_to(&mut old, 1).unwrap();
        old.batch_execute(
            "INSERT INTO access_keys (access_key_id, user_name, status, created_at, admin, wrapped_secret) VALUES
                ('KAGIADMIN', 'admin', 'Active', 100, TRUE, decode('01', 'hex')),
                ('KAGIALICE2', 'alice', 'Inactive', 300, FALSE, decode('02', 'hex')),
                ('KAGIALICE1', 'alice', 'Active', 200, FALSE, decode('03', 'hex')),
                ('KAGIBOB', 'bob', 'Active', 400, FALSE, decode('04', 'hex'));",
        )
        .unwrap();
    }
    let store = PostgresStore::connect(&url).unwrap();
    let legacy = |user: &str, at: i64| {
        UserPolicyRecord {
        user_name: user.into(),
        policy_name: "KagiLegacyFullKmsAccess".into(),
        document: r#"{"Version":"2012-10-17","Statement":[{"Sid":"KagiLegacyFullKmsAccess","Effect":"Allow","Action":"kms:*","Resource":"*"}]}"#.into(),
        updated_at: Timestamp(at),
    }
    };
    assert_eq!(
        store.user_policies("alice").unwrap(),
        vec![legacy("alice", 200)]
    );
    assert_eq!(
        store.user_policies("bob").unwrap(),
        vec![legacy("bob", 400)]
    );
    assert!(store.user_policies("admin").unwrap().is_empty());
    let mut check = Client::connect(&url, NoTls).unwrap();
    let rows: i64 = check
        .query_one("SELECT count(*) FROM user_policies", &[])
        .unwrap()
        .get(0);
    assert_eq!(rows, 2);
    let version: i64 = check
        .query_one("SELECT version FROM schema_version", &[])
        .unwrap()
        .get(0);
    assert_eq!(version, migrations::MIGRATIONS.len() as i64);
    // The access keys themselves are untouched.
    assert_eq!(store.list_access_keys().unwrap().len(), 4);
}

/// Version 3 only adds the (empty) role tables; what version 2 left stays.
#[test]
fn migration_3_adds_roles_to_a_version_2_database() {
    let dbs = TestDatabases::new();
    let url = dbs.create();
    {
        let mut old = Client::connect(&url, NoTls).unwrap();
        migrations::migrate_to(&mut old, 2).unwrap();
        old.batch_execute(
            "INSERT INTO user_policies (user_name, policy_name, document, updated_at)
             VALUES ('alice', 'EncryptOnly', '{}', 5);",
        )
        .unwrap();
    }
    let store = PostgresStore::connect(&url).unwrap();
    assert!(store.list_roles().unwrap().is_empty());
    assert!(store.role_policies("alice").unwrap().is_empty());
    assert_eq!(store.user_policies("alice").unwrap().len(), 1);
    let version: i64 = Client::connect(&url, NoTls)
        .unwrap()
        .query_one("SELECT version FROM schema_version", &[])
        .unwrap()
        .get(0);
    assert_eq!(version, migrations::MIGRATIONS.len() as i64);
}

/// Version 4 adds the account of an access key; every existing key belongs to the
/// installation's own account (NULL, read as `None`).
#[test]
fn migration_4_leaves_existing_access_keys_in_the_installations_account() {
    let dbs = TestDatabases::new();
    let url = dbs.create();
    {
        let mut old = Client::connect(&url, NoTls).unwrap();
        migrations::migrate_to(&mut old, 3).unwrap();
        old.batch_execute(
            "INSERT INTO access_keys (access_key_id, user_name, status, created_at, admin, wrapped_secret)
             VALUES ('KAGIALICE', 'alice', 'Active', 200, FALSE, decode('03', 'hex'));",
        )
        .unwrap();
    }
    let store = PostgresStore::connect(&url).unwrap();
    let got = store.access_key("KAGIALICE").unwrap().unwrap();
    assert_eq!(got.account, None);
    assert_eq!(got.user_name, "alice");
    assert_eq!(got.wrapped_secret, vec![3]);
    let version: i64 = Client::connect(&url, NoTls)
        .unwrap()
        .query_one("SELECT version FROM schema_version", &[])
        .unwrap()
        .get(0);
    assert_eq!(version, migrations::MIGRATIONS.len() as i64);
}

#[test]
fn an_access_key_with_a_bad_account_is_corrupt() {
    let dbs = TestDatabases::new();
    let url = dbs.create();
    let store = PostgresStore::connect(&url).unwrap();
    Client::connect(&url, NoTls)
        .unwrap()
        .batch_execute(
            "INSERT INTO access_keys (access_key_id, user_name, status, created_at, admin, wrapped_secret, account)
             VALUES ('KAGIBAD', 'mallory', 'Active', 1, FALSE, decode('01', 'hex'), '12345');",
        )
        .unwrap();
    assert!(matches!(
        store.access_key("KAGIBAD"),
        Err(StoreError::Corrupt(_))
    ));
    assert!(matches!(
        store.list_access_keys(),
        Err(StoreError::Corrupt(_))
    ));
}

/// Version 6 only adds the (empty) principal tag table; what version 5 left stays.
#[test]
fn migration_6_adds_principal_tags_to_a_version_5_database() {
    let dbs = TestDatabases::new();
    let url = dbs.create();
    {
        let mut old = Client::connect(&url, NoTls).unwrap();
        migrations::migrate_to(&mut old, 5).unwrap();
        old.batch_execute(
            "INSERT INTO roles (role_name, trust_policy, max_session_seconds, created_at)
             VALUES ('ops', '{}', 3600, 5);",
        )
        .unwrap();
    }
    let store = PostgresStore::connect(&url).unwrap();
    assert!(store
        .principal_tags(&PrincipalRef::Role("ops".into()))
        .unwrap()
        .is_empty());
    assert_eq!(store.list_roles().unwrap().len(), 1);
    let version: i64 = Client::connect(&url, NoTls)
        .unwrap()
        .query_one("SELECT version FROM schema_version", &[])
        .unwrap()
        .get(0);
    assert_eq!(version, migrations::MIGRATIONS.len() as i64);
}

#[test]
fn migration_7_starts_existing_keys_at_revision_1() {
    let dbs = TestDatabases::new();
    let url = dbs.create();
    let id = KeyId::from_bytes([7; 16]);
    {
        let mut old = Client::connect(&url, NoTls).unwrap();
        migrations::migrate_to(&mut old, 6).unwrap();
        old.execute(
            "INSERT INTO keys (region, key_id, created_at, description, state, policy, tags)
             VALUES ('us-east-1', $1, 5, 'old', 'Enabled', '{}', '[]')",
            &[&id.to_string()],
        )
        .unwrap();
    }
    let store = PostgresStore::connect(&url).unwrap();
    let region = Region::parse("us-east-1").unwrap();
    let mut meta = store.load_key(&region, &id).unwrap().unwrap().meta;
    assert_eq!(meta.revision, 1);
    meta.description = "new".into();
    meta.revision = 2;
    store.apply(vec![Write::PutKey(meta.clone())]).unwrap();
    assert_eq!(store.load_key(&region, &id).unwrap().unwrap().meta, meta);
}

#[test]
fn a_principal_tag_of_an_unknown_kind_is_corrupt() {
    let dbs = TestDatabases::new();
    let url = dbs.create();
    drop(PostgresStore::connect(&url).unwrap());
    let mut c = Client::connect(&url, NoTls).unwrap();
    c.batch_execute(
        "INSERT INTO principal_tags (principal_kind, principal_name, tag_key, tag_value)
         VALUES ('group', 'ops', 'team', 'x'), ('role', 'ops', 'team', 'y');",
    )
    .unwrap();
    let found = c
        .query(
            &format!("{} ORDER BY principal_kind", rows::PRINCIPAL_TAG_SELECT),
            &[],
        )
        .unwrap();
    assert!(matches!(
        rows::principal_tag_record(&found[0]),
        Err(StoreError::Corrupt(_))
    ));
    assert_eq!(
        rows::principal_tag_record(&found[1]).unwrap().0,
        PrincipalRef::Role("ops".into())
    );
}

#[test]
fn refuses_a_newer_schema() {
    let dbs = TestDatabases::new();
    let url = dbs.create();
    drop(PostgresStore::connect(&url).unwrap());
    Client::connect(&url, NoTls)
        .unwrap()
        .batch_execute("UPDATE schema_version SET version = 99")
        .unwrap();
    let err = PostgresStore::connect(&url).unwrap_err();
    assert!(err.to_string().contains("newer"), "{err}");
}

#[test]
fn errors_do_not_quote_row_values() {
    let dbs = TestDatabases::new();
    let store = PostgresStore::connect(&dbs.create()).unwrap();
    let m = key(4);
    create_key(&store, &m);
    // A duplicate version: PostgreSQL's DETAIL would quote the key; the error must not.
    let err = store
        .apply(vec![Write::AddVersion {
            region: m.region.clone(),
            key_id: m.key_id,
            version: StoredVersion {
                version: 1,
                created_at: Timestamp(1),
                rotation: None,
                wrapped: vec![0xcd; 61],
            },
        }])
        .unwrap_err();
    let text = err.to_string();
    assert!(text.contains("23505"), "{text}");
    assert!(!text.contains(&m.key_id.to_string()), "{text}");
    assert!(!text.to_lowercase().contains("cdcd"), "{text}");
}

#[test]
fn test_databases_are_dropped_even_when_a_test_panics() {
    let mut url = String::new();
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let dbs = TestDatabases::new();
        url = dbs.create();
        let _store = PostgresStore::connect(&url).unwrap();
        panic!("a failing check");
    }));
    assert!(outcome.is_err());
    let name = url.rsplit('/').next().unwrap().to_string();
    assert!(name.starts_with("kagi_test_"), "{url}");
    let dbs = TestDatabases::new();
    let left = dbs
        .admin
        .lock()
        .unwrap()
        .query("SELECT 1 FROM pg_database WHERE datname = $1", &[&name])
        .unwrap();
    assert!(left.is_empty(), "{name} was left behind");
}

#[test]
fn nodes_register_and_only_recent_ones_are_live() {
    let dbs = TestDatabases::new();
    let url = dbs.create();
    let a = PostgresStore::connect(&url).unwrap();
    let b = PostgresStore::connect(&url).unwrap();
    a.register_node("node-a", "http://127.0.0.1:1").unwrap();
    b.register_node("node-b", "http://127.0.0.1:2").unwrap();
    // Registering again moves the address (a node restarted on another port).
    a.register_node("node-a", "http://127.0.0.1:3").unwrap();
    let live = b.live_nodes(Duration::from_secs(60)).unwrap();
    assert_eq!(
        live,
        vec![
            NodeRecord {
                name: "node-a".into(),
                url: "http://127.0.0.1:3".into()
            },
            NodeRecord {
                name: "node-b".into(),
                url: "http://127.0.0.1:2".into()
            },
        ]
    );
    // A node not seen within the window is not live; the window is the database's time.
    let mut client = Client::connect(&url, NoTls).unwrap();
    client
        .execute(
            "UPDATE nodes SET seen_at = now() - interval '30 seconds' WHERE name = 'node-b'",
            &[],
        )
        .unwrap();
    let names: Vec<String> = a
        .live_nodes(Duration::from_secs(10))
        .unwrap()
        .into_iter()
        .map(|n| n.name)
        .collect();
    assert_eq!(names, vec!["node-a".to_string()]);
}
