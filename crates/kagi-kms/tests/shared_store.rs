//! Several `Kms` instances on one store, as several nodes on one PostgreSQL database: a
//! change based on an outdated cached copy is redone on the stored state instead of
//! overwriting a newer change; remote changes drop cached copies; a node that has not heard
//! from the change feed within its staleness limit stops trusting its cache; scheduled
//! deletion and rotation happen once however many nodes run maintenance.

use kagi_crypto::{DeterministicRng, RootKey, SecretBytes};
use kagi_kms::ops::encrypt::EncryptRequest;
use kagi_kms::ops::keys::CreateKeyRequest;
use kagi_kms::{
    AccountId, Caller, Change, Clock, KeyId, KeyState, Kms, KmsError, ManualClock, MemoryStore,
    Principal, Region, Store, Timestamp,
};
use std::sync::Arc;

const ACCOUNT: &str = "111122223333";

fn admin() -> Caller {
    Caller {
        region: Region::parse("us-east-1").unwrap(),
        principal: Principal {
            account: AccountId::parse(ACCOUNT).unwrap(),
            arn: format!("arn:aws:iam::{ACCOUNT}:user/admin"),
            user_name: "admin".into(),
            access_key_id: "KAGIADMIN".into(),
            admin: true,
            role: None,
        },
        source_ip: None,
        secure_transport: true,
    }
}

struct Cluster {
    store: Arc<MemoryStore>,
    clock: Arc<ManualClock>,
    a: Kms,
    b: Kms,
}

fn node(store: &Arc<MemoryStore>, clock: &Arc<ManualClock>, seed: u64) -> Kms {
    let kms = Kms::new(
        AccountId::parse(ACCOUNT).unwrap(),
        RootKey::from_secret(&SecretBytes::new(vec![9; 32])).unwrap(),
        store.clone(),
        clock.clone(),
        Arc::new(DeterministicRng::dangerous_for_tests_only(seed)),
        Arc::new(kagi_policy::PolicyEngine),
    );
    kms.share_store_with_other_nodes();
    kms.mark_synced(clock.now(), LIMIT);
    kms
}

/// The staleness limit the nodes run with.
const LIMIT: i64 = 1_000;

impl Cluster {
    fn new() -> Self {
        let store = Arc::new(MemoryStore::new());
        let clock = Arc::new(ManualClock::new(Timestamp(1_700_000_000_000)));
        Cluster {
            a: node(&store, &clock, 1),
            b: node(&store, &clock, 2),
            store,
            clock,
        }
    }

    fn key(&self) -> String {
        self.a
            .create_key(&admin(), CreateKeyRequest::default())
            .unwrap()
            .meta
            .key_id
            .to_string()
    }

    fn state_in_store(&self, key: &str) -> KeyState {
        let id = KeyId::parse(key).unwrap();
        let region = Region::parse("us-east-1").unwrap();
        self.store
            .load_key(&region, &id)
            .unwrap()
            .unwrap()
            .meta
            .state
    }
}

fn encrypt(kms: &Kms, key: &str) -> Result<(), KmsError> {
    kms.encrypt(
        &admin(),
        EncryptRequest {
            key_id: key.into(),
            plaintext: SecretBytes::new(b"hello".to_vec()),
            context: Default::default(),
            algorithm: None,
            grant_tokens: vec![],
            dry_run: false,
        },
    )
    .map(drop)
}

fn code(r: Result<(), KmsError>) -> &'static str {
    match r {
        Ok(()) => "OK",
        Err(e) => e.aws_code(),
    }
}

#[test]
fn a_change_from_an_outdated_copy_is_redone_on_the_stored_state() {
    let c = Cluster::new();
    let key = c.key();
    // Both nodes have the key cached, enabled.
    encrypt(&c.a, &key).unwrap();
    encrypt(&c.b, &key).unwrap();
    // B disables it; A has not heard of that yet.
    c.b.disable_key(&admin(), &key).unwrap();
    // A's description change must not write its cached "Enabled" back.
    c.a.update_key_description(&admin(), &key, "renamed".into())
        .unwrap();
    assert_eq!(c.state_in_store(&key), KeyState::Disabled);
    let described = c.a.describe_key(&admin(), &key, &[]).unwrap();
    assert_eq!(described.meta.description, "renamed");
    assert_eq!(described.meta.state, KeyState::Disabled);
    // And A's cache now holds the stored state.
    assert_eq!(code(encrypt(&c.a, &key)), "DisabledException");
}

#[test]
fn a_remote_change_drops_the_cached_copy() {
    let c = Cluster::new();
    let key = c.key();
    encrypt(&c.b, &key).unwrap();
    c.a.disable_key(&admin(), &key).unwrap();
    // Within the staleness window B may still use its cached copy...
    assert_eq!(code(encrypt(&c.b, &key)), "OK");
    // ...until the change arrives.
    c.b.apply_remote_change(&Change::Key {
        region: Region::parse("us-east-1").unwrap(),
        key_id: KeyId::parse(&key).unwrap(),
    });
    assert_eq!(code(encrypt(&c.b, &key)), "DisabledException");
}

#[test]
fn a_node_that_lost_its_change_feed_stops_trusting_its_cache() {
    let c = Cluster::new();
    let key = c.key();
    encrypt(&c.b, &key).unwrap();
    assert!(c.b.cache_is_trusted());
    c.a.disable_key(&admin(), &key).unwrap();
    // No change arrives and no sync is confirmed: past the limit B reads the store.
    c.clock.advance_millis(LIMIT + 1);
    assert!(!c.b.cache_is_trusted());
    assert_eq!(code(encrypt(&c.b, &key)), "DisabledException");
    // A confirmed sync restores trust.
    c.b.mark_synced(c.clock.now(), LIMIT);
    assert!(c.b.cache_is_trusted());
}

#[test]
fn forgetting_everything_reloads_from_the_store() {
    let c = Cluster::new();
    let key = c.key();
    encrypt(&c.b, &key).unwrap();
    c.a.disable_key(&admin(), &key).unwrap();
    c.b.forget_cached_state();
    assert_eq!(code(encrypt(&c.b, &key)), "DisabledException");
}

#[test]
fn scheduled_deletion_and_rotation_happen_once_across_nodes() {
    let c = Cluster::new();
    let doomed = c.key();
    let rotating = c.key();
    c.a.schedule_key_deletion(&admin(), &doomed, Some(7))
        .unwrap();
    c.a.enable_key_rotation(&admin(), &rotating, Some(90))
        .unwrap();
    // Both nodes hold cached copies from before the window ends.
    encrypt(&c.b, &rotating).unwrap();
    c.clock.advance_days(91);
    for kms in [&c.a, &c.b] {
        kms.mark_synced(c.clock.now(), LIMIT);
    }
    let first = c.a.run_maintenance().unwrap();
    let second = c.b.run_maintenance().unwrap();
    assert_eq!(first.deleted.len() + second.deleted.len(), 1);
    assert_eq!(first.rotated.len() + second.rotated.len(), 1);
    let region = Region::parse("us-east-1").unwrap();
    let versions = c
        .store
        .load_key(&region, &KeyId::parse(&rotating).unwrap())
        .unwrap()
        .unwrap()
        .versions;
    assert_eq!(versions.len(), 2, "rotated exactly once");
}
