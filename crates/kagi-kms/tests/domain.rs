//! Domain tests: the operations of [`Kms`] over a [`MemoryStore`], a [`ManualClock`] and a
//! deterministic RNG, so deletion windows and rotation schedules are driven by moving the
//! clock. Expected outcomes are AWS KMS's, named by exception (`KmsError::aws_code`):
//! - key states: <https://docs.aws.amazon.com/kms/latest/developerguide/key-state.html>
//! - deletion: <https://docs.aws.amazon.com/kms/latest/APIReference/API_ScheduleKeyDeletion.html>
//! - rotation: <https://docs.aws.amazon.com/kms/latest/developerguide/rotate-keys.html>
//!
//! Where AWS documents an outcome only loosely ("an error"), the test asserts just that.

use kagi_crypto::{CiphertextBlob, DeterministicRng, RootKey, SecretBytes};
use kagi_kms::ops::data_key::GenerateDataKeyRequest;
use kagi_kms::ops::encrypt::{DecryptRequest, EncryptRequest, EncryptionContext, ReEncryptRequest};
use kagi_kms::ops::keys::CreateKeyRequest;
use kagi_kms::{
    AccountId, Caller, KeyId, KeyState, Kms, KmsError, ManualClock, MemoryStore, Principal, Region,
    RotationType, Store, Tag, Timestamp,
};
use proptest::prelude::*;
use std::sync::{Arc, OnceLock};

const ACCOUNT: &str = "111122223333";
/// 2023-11-14T22:13:20Z.
const START: Timestamp = Timestamp(1_700_000_000_000);
const SECOND: i64 = 1_000;
const DAY: i64 = 86_400_000;

const OK: &str = "OK";
const DISABLED: &str = "DisabledException";
const INVALID_STATE: &str = "KMSInvalidStateException";
const VALIDATION: &str = "ValidationException";
const NOT_FOUND: &str = "NotFoundException";
const INVALID_CIPHERTEXT: &str = "InvalidCiphertextException";

// ---------------------------------------------------------------------------------------
// Fixture

struct Fixture {
    kms: Kms,
    clock: Arc<ManualClock>,
    store: Arc<MemoryStore>,
    /// A caller in us-east-1, where most tests work.
    east: Caller,
    /// The same principal in eu-west-1.
    west: Caller,
}

fn caller(region: &str) -> Caller {
    Caller {
        region: Region::parse(region).expect("test region is valid"),
        principal: Principal {
            account: account(),
            arn: format!("arn:aws:iam::{ACCOUNT}:user/alice"),
            user_name: "alice".into(),
            access_key_id: "KAGITESTACCESSKEY1".into(),
            admin: false,
            role: None,
        },
        source_ip: None,
        secure_transport: false,
    }
}

/// Every KMS action on every resource: these tests are about KMS semantics; authorization
/// has its own tests (`tests/authz.rs`).
const FULL_KMS_ACCESS: &str =
    r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"*"}]}"#;

fn account() -> AccountId {
    AccountId::parse(ACCOUNT).expect("test account is valid")
}

fn kms_over(store: &Arc<MemoryStore>, clock: &Arc<ManualClock>, seed: u64) -> Kms {
    let root = RootKey::from_secret(&SecretBytes::new(vec![0x42; 32])).expect("32-byte root key");
    Kms::new(
        account(),
        root,
        store.clone(),
        clock.clone(),
        Arc::new(DeterministicRng::dangerous_for_tests_only(seed)),
        Arc::new(kagi_policy::PolicyEngine),
    )
}

impl Fixture {
    fn new() -> Self {
        let store = Arc::new(MemoryStore::new());
        let clock = Arc::new(ManualClock::new(START));
        let kms = kms_over(&store, &clock, 1);
        kms.put_user_policy("alice", "full-kms-access", FULL_KMS_ACCESS)
            .expect("the test policy is valid");
        Self {
            kms,
            clock,
            store,
            east: caller("us-east-1"),
            west: caller("eu-west-1"),
        }
    }

    /// Another `Kms` over the same store and clock with cold caches: what a restart sees.
    fn restarted(&self) -> Kms {
        kms_over(&self.store, &self.clock, 2)
    }

    fn create_key(&self) -> String {
        self.create_key_in(&self.east)
    }

    fn create_key_in(&self, c: &Caller) -> String {
        let created = self.kms.create_key(c, CreateKeyRequest::default()).unwrap();
        created.meta.key_id.to_string()
    }

    fn arn(&self, key: &str) -> String {
        self.kms.describe_key(&self.east, key, &[]).unwrap().arn
    }

    fn state(&self, key: &str) -> KeyState {
        self.kms
            .describe_key(&self.east, key, &[])
            .unwrap()
            .meta
            .state
    }

    fn set_state(&self, key: &str, state: KeyState) {
        match state {
            KeyState::Enabled => {}
            KeyState::Disabled => self.kms.disable_key(&self.east, key).unwrap(),
            KeyState::PendingDeletion => {
                self.kms
                    .schedule_key_deletion(&self.east, key, Some(7))
                    .unwrap();
            }
        }
        assert_eq!(self.state(key), state);
    }

    fn encrypt(
        &self,
        key: &str,
        plaintext: &[u8],
        context: &EncryptionContext,
    ) -> Result<Vec<u8>, KmsError> {
        self.encrypt_as(&self.east, key, plaintext, context)
    }

    fn encrypt_as(
        &self,
        c: &Caller,
        key: &str,
        plaintext: &[u8],
        context: &EncryptionContext,
    ) -> Result<Vec<u8>, KmsError> {
        self.kms
            .encrypt(c, encrypt_request(key, plaintext, context))
            .map(|r| r.ciphertext)
    }

    fn decrypt(
        &self,
        ciphertext: &[u8],
        context: &EncryptionContext,
        key_id: Option<&str>,
    ) -> Result<Vec<u8>, KmsError> {
        self.decrypt_as(&self.east, ciphertext, context, key_id)
    }

    fn decrypt_as(
        &self,
        c: &Caller,
        ciphertext: &[u8],
        context: &EncryptionContext,
        key_id: Option<&str>,
    ) -> Result<Vec<u8>, KmsError> {
        self.kms
            .decrypt(c, decrypt_request(ciphertext, context, key_id))
            .map(|r| r.plaintext.expose().to_vec())
    }

    fn re_encrypt(&self, ciphertext: &[u8], destination: &str) -> Result<Vec<u8>, KmsError> {
        self.kms
            .re_encrypt(
                &self.east,
                re_encrypt_request(ciphertext, None, destination),
            )
            .map(|r| r.ciphertext)
    }
}

fn encrypt_request(key: &str, plaintext: &[u8], context: &EncryptionContext) -> EncryptRequest {
    EncryptRequest {
        key_id: key.into(),
        plaintext: SecretBytes::from_slice(plaintext),
        context: context.clone(),
        algorithm: None,
        grant_tokens: Vec::new(),
        dry_run: false,
    }
}

fn decrypt_request(
    ciphertext: &[u8],
    context: &EncryptionContext,
    key_id: Option<&str>,
) -> DecryptRequest {
    DecryptRequest {
        ciphertext: ciphertext.to_vec(),
        context: context.clone(),
        key_id: key_id.map(Into::into),
        algorithm: None,
        grant_tokens: Vec::new(),
        dry_run: false,
    }
}

fn re_encrypt_request(
    ciphertext: &[u8],
    source: Option<&str>,
    destination: &str,
) -> ReEncryptRequest {
    ReEncryptRequest {
        ciphertext: ciphertext.to_vec(),
        source_context: no_context(),
        source_key_id: source.map(Into::into),
        destination_key_id: destination.into(),
        destination_context: no_context(),
        source_algorithm: None,
        destination_algorithm: None,
        grant_tokens: Vec::new(),
        dry_run: false,
    }
}

fn data_key_request(
    key: &str,
    key_spec: Option<&str>,
    number_of_bytes: Option<i64>,
) -> GenerateDataKeyRequest {
    GenerateDataKeyRequest {
        key_id: key.into(),
        context: no_context(),
        key_spec: key_spec.map(Into::into),
        number_of_bytes,
        grant_tokens: Vec::new(),
        dry_run: false,
    }
}

fn context(pairs: &[(&str, &str)]) -> EncryptionContext {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn no_context() -> EncryptionContext {
    EncryptionContext::new()
}

/// An operation's outcome as AWS names it: `OK` or the exception name.
fn outcome<T>(r: Result<T, KmsError>) -> &'static str {
    match r {
        Ok(_) => OK,
        Err(e) => e.aws_code(),
    }
}

fn at(days: i64) -> Timestamp {
    Timestamp(START.0 + days * DAY)
}

fn backing_version(ciphertext: &[u8]) -> u32 {
    CiphertextBlob::parse(ciphertext)
        .unwrap()
        .header
        .backing_version
}

// ---------------------------------------------------------------------------------------
// The key-state table

/// What one cell of the table works on: the key under test (put into the column's state
/// after setup), a ciphertext it made while enabled, an alias naming it, and a second,
/// enabled key with its own alias.
struct Subject {
    key: String,
    ciphertext: Vec<u8>,
    other: String,
}

const SUBJECT_ALIAS: &str = "alias/subject";
const OTHER_ALIAS: &str = "alias/other";

/// The operations of the table. Each runs against a [`Subject`].
#[derive(Debug, Clone, Copy)]
enum Op {
    Encrypt,
    EncryptViaAlias,
    Decrypt,
    ReEncryptFromTheKey,
    ReEncryptToTheKey,
    GenerateDataKey,
    GenerateDataKeyWithoutPlaintext,
    DescribeKey,
    GetKeyPolicy,
    EnableKey,
    DisableKey,
    UpdateKeyDescription,
    TagResource,
    UntagResource,
    ListResourceTags,
    EnableKeyRotation,
    DisableKeyRotation,
    GetKeyRotationStatus,
    RotateKeyOnDemand,
    ListKeyRotations,
    ScheduleKeyDeletion,
    CancelKeyDeletion,
    CreateAliasToTheKey,
    UpdateAliasToTheKey,
    UpdateAliasAwayFromTheKey,
    DeleteAliasOfTheKey,
    ListAliasesOfTheKey,
}

const STATES: [KeyState; 3] = [
    KeyState::Enabled,
    KeyState::Disabled,
    KeyState::PendingDeletion,
];

/// Outcomes for a key in `Enabled`, `Disabled` and `PendingDeletion`. Where AWS's table
/// allows two exceptions for a pending-deletion key ("[2] or [3]"), current AWS returns
/// `KMSInvalidStateException`.
const CRYPTO: [&str; 3] = [OK, DISABLED, INVALID_STATE];
const MANAGEMENT: [&str; 3] = [OK, OK, INVALID_STATE];
const ALWAYS: [&str; 3] = [OK, OK, OK];

/// AWS's "Key states of AWS KMS keys" table, for the operations Kagi serves.
const KEY_STATE_TABLE: &[(Op, [&str; 3])] = &[
    (Op::Encrypt, CRYPTO),
    (Op::EncryptViaAlias, CRYPTO),
    (Op::Decrypt, CRYPTO),
    (Op::ReEncryptFromTheKey, CRYPTO),
    (Op::ReEncryptToTheKey, CRYPTO),
    (Op::GenerateDataKey, CRYPTO),
    (Op::GenerateDataKeyWithoutPlaintext, CRYPTO),
    (Op::DescribeKey, ALWAYS),
    (Op::GetKeyPolicy, ALWAYS),
    (Op::EnableKey, MANAGEMENT),
    (Op::DisableKey, MANAGEMENT),
    (Op::UpdateKeyDescription, MANAGEMENT),
    (Op::TagResource, MANAGEMENT),
    (Op::UntagResource, MANAGEMENT),
    (Op::ListResourceTags, ALWAYS),
    (Op::EnableKeyRotation, CRYPTO),
    (Op::DisableKeyRotation, CRYPTO),
    (Op::GetKeyRotationStatus, ALWAYS),
    (Op::RotateKeyOnDemand, CRYPTO),
    (Op::ListKeyRotations, ALWAYS),
    (Op::ScheduleKeyDeletion, MANAGEMENT),
    (Op::CancelKeyDeletion, [INVALID_STATE, INVALID_STATE, OK]),
    (Op::CreateAliasToTheKey, MANAGEMENT),
    (Op::UpdateAliasToTheKey, MANAGEMENT),
    // AWS's footnote [10]: only the new target's state matters.
    (Op::UpdateAliasAwayFromTheKey, ALWAYS),
    (Op::DeleteAliasOfTheKey, ALWAYS),
    (Op::ListAliasesOfTheKey, ALWAYS),
];

fn run(op: Op, f: &Fixture, s: &Subject) -> Result<(), KmsError> {
    let (kms, c, key) = (&f.kms, &f.east, s.key.as_str());
    match op {
        Op::Encrypt => f.encrypt(key, b"x", &no_context()).map(drop),
        Op::EncryptViaAlias => f.encrypt(SUBJECT_ALIAS, b"x", &no_context()).map(drop),
        Op::Decrypt => f.decrypt(&s.ciphertext, &no_context(), None).map(drop),
        Op::ReEncryptFromTheKey => f.re_encrypt(&s.ciphertext, &s.other).map(drop),
        Op::ReEncryptToTheKey => {
            let ciphertext = f.encrypt(&s.other, b"x", &no_context())?;
            f.re_encrypt(&ciphertext, key).map(drop)
        }
        Op::GenerateDataKey => {
            let req = data_key_request(key, Some("AES_256"), None);
            kms.generate_data_key(c, req).map(drop)
        }
        Op::GenerateDataKeyWithoutPlaintext => {
            let req = data_key_request(key, None, Some(64));
            kms.generate_data_key_without_plaintext(c, req).map(drop)
        }
        Op::DescribeKey => kms.describe_key(c, key, &[]).map(drop),
        Op::GetKeyPolicy => kms.get_key_policy(c, key, None).map(drop),
        Op::EnableKey => kms.enable_key(c, key),
        Op::DisableKey => kms.disable_key(c, key),
        Op::UpdateKeyDescription => kms.update_key_description(c, key, "new".into()),
        Op::TagResource => {
            let tag = Tag {
                key: "team".into(),
                value: "kagi".into(),
            };
            kms.tag_resource(c, key, vec![tag])
        }
        Op::UntagResource => kms.untag_resource(c, key, vec!["team".into()]),
        Op::ListResourceTags => kms.list_resource_tags(c, key, None, None).map(drop),
        Op::EnableKeyRotation => kms.enable_key_rotation(c, key, None),
        Op::DisableKeyRotation => kms.disable_key_rotation(c, key),
        Op::GetKeyRotationStatus => kms.get_key_rotation_status(c, key).map(drop),
        Op::RotateKeyOnDemand => kms.rotate_key_on_demand(c, key).map(drop),
        Op::ListKeyRotations => kms.list_key_rotations(c, key, None, None).map(drop),
        Op::ScheduleKeyDeletion => kms.schedule_key_deletion(c, key, None).map(drop),
        Op::CancelKeyDeletion => kms.cancel_key_deletion(c, key).map(drop),
        Op::CreateAliasToTheKey => kms.create_alias(c, "alias/new", key),
        Op::UpdateAliasToTheKey => kms.update_alias(c, OTHER_ALIAS, key),
        Op::UpdateAliasAwayFromTheKey => kms.update_alias(c, SUBJECT_ALIAS, &s.other),
        Op::DeleteAliasOfTheKey => kms.delete_alias(c, SUBJECT_ALIAS),
        Op::ListAliasesOfTheKey => kms.list_aliases(c, Some(key), None, None).map(drop),
    }
}

fn subject(f: &Fixture, state: KeyState) -> Subject {
    let key = f.create_key();
    let other = f.create_key();
    let ciphertext = f
        .encrypt(&key, b"made while enabled", &no_context())
        .unwrap();
    f.kms.create_alias(&f.east, SUBJECT_ALIAS, &key).unwrap();
    f.kms.create_alias(&f.east, OTHER_ALIAS, &other).unwrap();
    f.set_state(&key, state);
    Subject {
        key,
        ciphertext,
        other,
    }
}

#[test]
fn key_state_table_matches_aws() {
    let mut wrong = Vec::new();
    for &(op, expected) in KEY_STATE_TABLE {
        for (state, expected) in STATES.into_iter().zip(expected) {
            let f = Fixture::new();
            let s = subject(&f, state);
            let got = outcome(run(op, &f, &s));
            if got != expected {
                wrong.push(format!(
                    "{op:?} on a {state:?} key: got {got}, AWS gives {expected}"
                ));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "{} cells differ:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}

#[test]
fn state_changes_land_where_aws_says() {
    let cases = [
        (KeyState::Disabled, Op::EnableKey, KeyState::Enabled),
        (KeyState::Enabled, Op::EnableKey, KeyState::Enabled),
        (KeyState::Enabled, Op::DisableKey, KeyState::Disabled),
        (KeyState::Disabled, Op::DisableKey, KeyState::Disabled),
        (
            KeyState::Enabled,
            Op::ScheduleKeyDeletion,
            KeyState::PendingDeletion,
        ),
        (
            KeyState::Disabled,
            Op::ScheduleKeyDeletion,
            KeyState::PendingDeletion,
        ),
        (
            KeyState::PendingDeletion,
            Op::CancelKeyDeletion,
            KeyState::Disabled,
        ),
    ];
    for (from, op, to) in cases {
        let f = Fixture::new();
        let s = subject(&f, from);
        run(op, &f, &s).unwrap();
        assert_eq!(f.state(&s.key), to, "{op:?} from {from:?}");
        // Durable, not just cached.
        let cold = f.restarted().describe_key(&f.east, &s.key, &[]).unwrap();
        assert_eq!(cold.meta.state, to, "{op:?} from {from:?}, after a restart");
    }
}

#[test]
fn state_errors_name_the_key() {
    let f = Fixture::new();
    let key = f.create_key();
    let arn = f.arn(&key);
    f.kms.disable_key(&f.east, &key).unwrap();
    let err = f.encrypt(&key, b"x", &no_context()).unwrap_err();
    assert_eq!(err.to_string(), format!("{arn} is disabled."));
    f.kms.schedule_key_deletion(&f.east, &key, None).unwrap();
    let err = f.encrypt(&key, b"x", &no_context()).unwrap_err();
    assert_eq!(err.to_string(), format!("{arn} is pending deletion."));
    f.kms.cancel_key_deletion(&f.east, &key).unwrap();
    let err = f.kms.cancel_key_deletion(&f.east, &key).unwrap_err();
    assert_eq!(err.to_string(), format!("{arn} is not pending deletion."));
}

// ---------------------------------------------------------------------------------------
// Deletion windows

#[test]
fn deletion_window_is_7_to_30_days() {
    let f = Fixture::new();
    let cases = [
        (Some(6), VALIDATION),
        (Some(31), VALIDATION),
        (Some(0), VALIDATION),
        (Some(-7), VALIDATION),
        (Some(7), OK),
        (Some(30), OK),
        (Some(19), OK),
        (None, OK),
    ];
    for (days, expected) in cases {
        let key = f.create_key();
        let r = f.kms.schedule_key_deletion(&f.east, &key, days);
        let got = r.as_ref().map_err(KmsError::aws_code).err().unwrap_or(OK);
        assert_eq!(got, expected, "PendingWindowInDays {days:?}");
        let Ok(scheduled) = r else {
            assert_eq!(
                f.state(&key),
                KeyState::Enabled,
                "a refused schedule changes nothing"
            );
            continue;
        };
        let window = days.unwrap_or(30);
        assert_eq!(scheduled.pending_window_days as i64, window);
        assert_eq!(scheduled.deletion_date, at(window));
        assert_eq!(scheduled.arn, f.arn(&key));
        let meta = f.kms.describe_key(&f.east, &key, &[]).unwrap().meta;
        assert_eq!(meta.state, KeyState::PendingDeletion);
        assert_eq!(meta.deletion_date, Some(at(window)));
    }
}

#[test]
fn a_key_is_destroyed_only_when_its_window_has_passed() {
    let f = Fixture::new();
    let key = f.create_key();
    let keep = f.create_key();
    let arn = f.arn(&key);
    f.kms.create_alias(&f.east, "alias/doomed", &key).unwrap();
    let ciphertext = f.encrypt(&key, b"old secret", &no_context()).unwrap();
    f.kms.schedule_key_deletion(&f.east, &key, Some(7)).unwrap();

    f.clock.advance_millis(7 * DAY - SECOND);
    let report = f.kms.run_maintenance().unwrap();
    assert!(report.deleted.is_empty(), "a second early: {report:?}");
    assert_eq!(f.state(&key), KeyState::PendingDeletion);
    assert!(f.kms.describe_key(&f.east, "alias/doomed", &[]).is_ok());

    f.clock.advance_millis(SECOND);
    let report = f.kms.run_maintenance().unwrap();
    let id = KeyId::parse(&key).unwrap();
    assert_eq!(report.deleted, vec![(f.east.region.clone(), id)]);

    for name in [key.as_str(), arn.as_str(), "alias/doomed"] {
        let got = outcome(f.kms.describe_key(&f.east, name, &[]));
        assert_eq!(got, NOT_FOUND, "DescribeKey {name} after deletion");
    }
    let aliases = f.kms.list_aliases(&f.east, None, None, None).unwrap();
    assert!(aliases.aliases.is_empty(), "{aliases:?}");
    assert_eq!(
        outcome(f.kms.delete_alias(&f.east, "alias/doomed")),
        NOT_FOUND
    );
    let keys = f.kms.list_keys(&f.east, None, None).unwrap();
    let listed: Vec<String> = keys.keys.iter().map(|k| k.key_id.to_string()).collect();
    assert_eq!(listed, vec![keep.clone()]);
    assert!(f.decrypt(&ciphertext, &no_context(), None).is_err());

    // Gone from the store too, not just the cache.
    assert!(f.store.load_key(&f.east.region, &id).unwrap().is_none());
    let cold = f.restarted();
    assert_eq!(outcome(cold.describe_key(&f.east, &key, &[])), NOT_FOUND);
    assert!(cold
        .decrypt(&f.east, decrypt_request(&ciphertext, &no_context(), None))
        .is_err());
    assert!(f.kms.run_maintenance().unwrap().deleted.is_empty());
    assert_eq!(f.state(&keep), KeyState::Enabled);
}

#[test]
fn cancel_key_deletion_leaves_the_key_disabled_and_alive() {
    let f = Fixture::new();
    let key = f.create_key();
    let ciphertext = f.encrypt(&key, b"kept", &no_context()).unwrap();
    f.kms.schedule_key_deletion(&f.east, &key, Some(7)).unwrap();
    f.clock.advance_days(3);
    assert_eq!(
        f.kms.cancel_key_deletion(&f.east, &key).unwrap(),
        f.arn(&key)
    );
    let meta = f.kms.describe_key(&f.east, &key, &[]).unwrap().meta;
    assert_eq!(meta.state, KeyState::Disabled);
    assert_eq!(meta.deletion_date, None);
    assert_eq!(meta.pending_window_days, None);

    f.clock.advance_days(30);
    assert!(f.kms.run_maintenance().unwrap().deleted.is_empty());
    assert_eq!(
        outcome(f.decrypt(&ciphertext, &no_context(), None)),
        DISABLED
    );
    f.kms.enable_key(&f.east, &key).unwrap();
    assert_eq!(
        f.decrypt(&ciphertext, &no_context(), None).unwrap(),
        b"kept"
    );
}

// ---------------------------------------------------------------------------------------
// Rotation

#[test]
fn rotation_period_is_90_to_2560_days_default_365() {
    let f = Fixture::new();
    let cases = [
        (Some(89), VALIDATION),
        (Some(2561), VALIDATION),
        (Some(0), VALIDATION),
        (Some(90), OK),
        (Some(2560), OK),
        (None, OK),
    ];
    for (period, expected) in cases {
        let key = f.create_key();
        let got = outcome(f.kms.enable_key_rotation(&f.east, &key, period));
        assert_eq!(got, expected, "RotationPeriodInDays {period:?}");
        let status = f.kms.get_key_rotation_status(&f.east, &key).unwrap();
        if expected != OK {
            assert!(!status.enabled);
            continue;
        }
        let days = period.unwrap_or(365);
        assert!(status.enabled);
        assert_eq!(status.period_days.map(i64::from), Some(days));
        assert_eq!(status.next_rotation, Some(at(days)));
    }
    let key = f.create_key();
    f.kms.enable_key_rotation(&f.east, &key, Some(100)).unwrap();
    f.kms.disable_key_rotation(&f.east, &key).unwrap();
    let status = f.kms.get_key_rotation_status(&f.east, &key).unwrap();
    assert!(!status.enabled);
    assert_eq!(status.next_rotation, None);
}

#[test]
fn automatic_rotation_happens_when_the_clock_passes_the_next_rotation_date() {
    let f = Fixture::new();
    let key = f.create_key();
    f.kms.enable_key_rotation(&f.east, &key, Some(90)).unwrap();
    let before = f.encrypt(&key, b"v1", &no_context()).unwrap();
    assert_eq!(backing_version(&before), 1);

    f.clock.advance_millis(90 * DAY - SECOND);
    assert!(f.kms.run_maintenance().unwrap().rotated.is_empty());
    let rotations = f.kms.list_key_rotations(&f.east, &key, None, None).unwrap();
    assert!(rotations.rotations.is_empty());

    f.clock.advance_millis(SECOND);
    let report = f.kms.run_maintenance().unwrap();
    assert_eq!(report.rotated.len(), 1);
    assert!(
        f.kms.run_maintenance().unwrap().rotated.is_empty(),
        "rotates once per period"
    );
    let rotations = f.kms.list_key_rotations(&f.east, &key, None, None).unwrap();
    assert_eq!(rotations.rotations.len(), 1);
    assert_eq!(
        rotations.rotations[0].rotation_type,
        RotationType::Automatic
    );
    assert_eq!(rotations.rotations[0].rotation_date, at(90));
    let status = f.kms.get_key_rotation_status(&f.east, &key).unwrap();
    assert_eq!(status.next_rotation, Some(at(180)));

    let after = f.encrypt(&key, b"v2", &no_context()).unwrap();
    assert_eq!(backing_version(&after), 2);
    assert_eq!(f.decrypt(&before, &no_context(), None).unwrap(), b"v1");
    assert_eq!(f.decrypt(&after, &no_context(), None).unwrap(), b"v2");

    // The new version is durable: a restarted Kms decrypts both and encrypts with v2.
    let cold = f.restarted();
    let fresh = cold
        .encrypt(&f.east, encrypt_request(&key, b"v2 again", &no_context()))
        .unwrap();
    assert_eq!(backing_version(&fresh.ciphertext), 2);
    let old = cold
        .decrypt(&f.east, decrypt_request(&before, &no_context(), None))
        .unwrap();
    assert_eq!(old.plaintext.expose(), b"v1");
}

#[test]
fn disabled_keys_are_not_rotated_until_re_enabled() {
    let f = Fixture::new();
    let key = f.create_key();
    f.kms.enable_key_rotation(&f.east, &key, Some(90)).unwrap();
    f.kms.disable_key(&f.east, &key).unwrap();
    f.clock.advance_days(100);
    assert!(f.kms.run_maintenance().unwrap().rotated.is_empty());
    // AWS: disabling a key does not change its rotation status.
    assert!(
        f.kms
            .get_key_rotation_status(&f.east, &key)
            .unwrap()
            .enabled
    );
    let listed = f.kms.list_key_rotations(&f.east, &key, None, None).unwrap();
    assert!(listed.rotations.is_empty());

    f.kms.enable_key(&f.east, &key).unwrap();
    assert_eq!(f.kms.run_maintenance().unwrap().rotated.len(), 1);
    let status = f.kms.get_key_rotation_status(&f.east, &key).unwrap();
    assert_eq!(status.next_rotation, Some(at(100 + 90)));
}

#[test]
fn keys_pending_deletion_are_not_rotated_and_report_rotation_off() {
    let f = Fixture::new();
    let key = f.create_key();
    f.kms.enable_key_rotation(&f.east, &key, Some(90)).unwrap();
    f.clock.advance_days(85);
    f.kms.schedule_key_deletion(&f.east, &key, Some(7)).unwrap();
    f.clock.advance_days(6);
    let report = f.kms.run_maintenance().unwrap();
    assert!(
        report.rotated.is_empty() && report.deleted.is_empty(),
        "{report:?}"
    );
    // AWS: "While a KMS key is pending deletion, its key rotation status is false ... If you
    // cancel the deletion, the original key rotation status is restored."
    let status = f.kms.get_key_rotation_status(&f.east, &key).unwrap();
    assert!(
        !status.enabled,
        "rotation status of a key pending deletion: {status:?}"
    );

    f.kms.cancel_key_deletion(&f.east, &key).unwrap();
    let status = f.kms.get_key_rotation_status(&f.east, &key).unwrap();
    assert!(status.enabled);
    assert_eq!(status.period_days, Some(90));
    f.kms.enable_key(&f.east, &key).unwrap();
    assert_eq!(f.kms.run_maintenance().unwrap().rotated.len(), 1);
}

#[test]
fn on_demand_rotation_is_limited_and_keeps_the_automatic_schedule() {
    let f = Fixture::new();
    let key = f.create_key();
    f.kms.enable_key_rotation(&f.east, &key, Some(90)).unwrap();
    let mut ciphertexts = vec![f.encrypt(&key, b"0", &no_context()).unwrap()];
    for n in 1..=25u32 {
        f.clock.advance_millis(SECOND);
        assert_eq!(
            f.kms.rotate_key_on_demand(&f.east, &key).unwrap(),
            f.arn(&key)
        );
        let ciphertext = f
            .encrypt(&key, n.to_string().as_bytes(), &no_context())
            .unwrap();
        assert_eq!(
            backing_version(&ciphertext),
            n + 1,
            "new ciphertexts use the newest version"
        );
        ciphertexts.push(ciphertext);
    }
    let got = outcome(f.kms.rotate_key_on_demand(&f.east, &key));
    assert_eq!(got, "LimitExceededException");

    let status = f.kms.get_key_rotation_status(&f.east, &key).unwrap();
    assert_eq!(
        status.next_rotation,
        Some(at(90)),
        "on-demand rotation moved the schedule"
    );
    for (n, ciphertext) in ciphertexts.iter().enumerate() {
        let plaintext = f.decrypt(ciphertext, &no_context(), None).unwrap();
        assert_eq!(plaintext, n.to_string().as_bytes());
    }

    // ListKeyRotations pages through all 25, oldest first.
    let mut seen = Vec::new();
    let mut marker = None;
    loop {
        let page = f
            .kms
            .list_key_rotations(&f.east, &key, Some(10), marker.as_deref())
            .unwrap();
        assert!(page.rotations.len() <= 10);
        seen.extend(page.rotations);
        match page.next_marker {
            Some(m) => marker = Some(m),
            None => break,
        }
    }
    assert_eq!(seen.len(), 25);
    assert!(seen
        .iter()
        .all(|r| r.rotation_type == RotationType::OnDemand));
    assert!(seen
        .windows(2)
        .all(|w| w[0].rotation_date < w[1].rotation_date));

    // Automatic rotation still happens on the original date, on top of the quota.
    f.clock.advance_days(90);
    assert_eq!(f.kms.run_maintenance().unwrap().rotated.len(), 1);
    let ciphertext = f.encrypt(&key, b"auto", &no_context()).unwrap();
    assert_eq!(backing_version(&ciphertext), 27);
}

// ---------------------------------------------------------------------------------------
// Encryption context, IncorrectKey, regions

#[test]
fn encryption_context_is_bound_to_the_ciphertext() {
    let f = Fixture::new();
    let key = f.create_key();
    let ciphertext = f
        .encrypt(
            &key,
            b"bound",
            &context(&[("tenant", "a"), ("purpose", "test")]),
        )
        .unwrap();
    let wrong = [
        no_context(),
        context(&[("tenant", "a")]),
        context(&[("tenant", "b"), ("purpose", "test")]),
        context(&[("tenant", "a"), ("purpose", "test"), ("extra", "")]),
        context(&[("Tenant", "a"), ("purpose", "test")]),
        context(&[("tenant", "a "), ("purpose", "test")]),
    ];
    for c in wrong {
        let got = outcome(f.decrypt(&ciphertext, &c, None));
        assert_eq!(got, INVALID_CIPHERTEXT, "context {c:?}");
    }
    // Order does not matter, only the pairs.
    let same = context(&[("purpose", "test"), ("tenant", "a")]);
    assert_eq!(f.decrypt(&ciphertext, &same, None).unwrap(), b"bound");

    // ReEncrypt checks the source context and binds the destination context.
    let mut req = re_encrypt_request(&ciphertext, None, &key);
    let got = outcome(
        f.kms
            .re_encrypt(&f.east, re_encrypt_request(&ciphertext, None, &key)),
    );
    assert_eq!(got, INVALID_CIPHERTEXT);
    req.source_context = same;
    req.destination_context = context(&[("stage", "2")]);
    let moved = f.kms.re_encrypt(&f.east, req).unwrap().ciphertext;
    assert_eq!(
        outcome(f.decrypt(&moved, &no_context(), None)),
        INVALID_CIPHERTEXT
    );
    assert_eq!(
        f.decrypt(&moved, &context(&[("stage", "2")]), None)
            .unwrap(),
        b"bound"
    );
}

#[test]
fn decrypt_with_another_key_id_is_incorrect_key() {
    let f = Fixture::new();
    let mine = f.create_key();
    let theirs = f.create_key();
    f.kms.create_alias(&f.east, "alias/mine", &mine).unwrap();
    f.kms
        .create_alias(&f.east, "alias/theirs", &theirs)
        .unwrap();
    let ciphertext = f.encrypt(&mine, b"x", &no_context()).unwrap();
    let alias_arn = format!("arn:aws:kms:us-east-1:{ACCOUNT}:alias/theirs");
    for other in [
        theirs.clone(),
        f.arn(&theirs),
        "alias/theirs".into(),
        alias_arn,
    ] {
        let got = outcome(f.decrypt(&ciphertext, &no_context(), Some(&other)));
        assert_eq!(got, "IncorrectKeyException", "Decrypt with KeyId {other}");
        let req = re_encrypt_request(&ciphertext, Some(&other), &theirs);
        let got = outcome(f.kms.re_encrypt(&f.east, req));
        assert_eq!(
            got, "IncorrectKeyException",
            "ReEncrypt with SourceKeyId {other}"
        );
    }
    for same in [mine.clone(), f.arn(&mine), "alias/mine".into()] {
        let plaintext = f.decrypt(&ciphertext, &no_context(), Some(&same)).unwrap();
        assert_eq!(plaintext, b"x", "Decrypt with KeyId {same}");
    }
    let out = f
        .kms
        .decrypt(&f.east, decrypt_request(&ciphertext, &no_context(), None))
        .unwrap();
    assert_eq!(out.key_arn, f.arn(&mine));
}

#[test]
fn keys_are_regional() {
    let f = Fixture::new();
    let key = f.create_key();
    let arn = f.arn(&key);
    assert_eq!(arn, format!("arn:aws:kms:us-east-1:{ACCOUNT}:key/{key}"));
    f.kms.create_alias(&f.east, "alias/app", &key).unwrap();
    let ciphertext = f.encrypt(&key, b"east only", &no_context()).unwrap();

    let east_alias_arn = format!("arn:aws:kms:us-east-1:{ACCOUNT}:alias/app");
    for name in [
        key.as_str(),
        arn.as_str(),
        "alias/app",
        east_alias_arn.as_str(),
    ] {
        let got = outcome(f.kms.describe_key(&f.west, name, &[]));
        assert_eq!(got, NOT_FOUND, "DescribeKey {name} from eu-west-1");
        let got = outcome(f.encrypt_as(&f.west, name, b"x", &no_context()));
        assert_eq!(got, NOT_FOUND, "Encrypt with {name} from eu-west-1");
    }
    let got = outcome(f.decrypt_as(&f.west, &ciphertext, &no_context(), None));
    assert_eq!(
        got, INVALID_CIPHERTEXT,
        "an us-east-1 ciphertext in eu-west-1"
    );
    let got = outcome(f.decrypt_as(&f.west, &ciphertext, &no_context(), Some(&arn)));
    assert_eq!(got, NOT_FOUND);
    assert!(f
        .kms
        .list_keys(&f.west, None, None)
        .unwrap()
        .keys
        .is_empty());
    assert!(f
        .kms
        .list_aliases(&f.west, None, None, None)
        .unwrap()
        .aliases
        .is_empty());

    // The same alias name is free in another region; each region resolves its own.
    let west_key = f.create_key_in(&f.west);
    f.kms.create_alias(&f.west, "alias/app", &west_key).unwrap();
    let west_arn = f.kms.describe_key(&f.west, "alias/app", &[]).unwrap().arn;
    assert_eq!(
        west_arn,
        format!("arn:aws:kms:eu-west-1:{ACCOUNT}:key/{west_key}")
    );
    assert_eq!(f.arn("alias/app"), arn);
    // Deleting a key in one region leaves the other alone.
    f.kms
        .schedule_key_deletion(&f.west, &west_key, Some(7))
        .unwrap();
    f.clock.advance_days(7);
    f.kms.run_maintenance().unwrap();
    assert_eq!(
        f.decrypt(&ciphertext, &no_context(), None).unwrap(),
        b"east only"
    );
    assert_eq!(f.arn("alias/app"), arn);
}

// ---------------------------------------------------------------------------------------
// Aliases

#[test]
fn alias_rules() {
    let f = Fixture::new();
    let a = f.create_key();
    let b = f.create_key();
    let cases: [(&str, &str); 6] = [
        ("alias/aws/s3", "NotAuthorizedException"),
        ("alias/aws/", "NotAuthorizedException"),
        ("alias/", VALIDATION),
        ("no-prefix", VALIDATION),
        ("alias/has space", VALIDATION),
        ("alias/ok_Name-1/x", OK),
    ];
    for (name, expected) in cases {
        assert_eq!(
            outcome(f.kms.create_alias(&f.east, name, &a)),
            expected,
            "CreateAlias {name}"
        );
    }
    let too_long = format!("alias/{}", "x".repeat(251));
    assert_eq!(
        outcome(f.kms.create_alias(&f.east, &too_long, &a)),
        VALIDATION
    );

    f.kms.create_alias(&f.east, "alias/app", &a).unwrap();
    for target in [&a, &b] {
        let got = outcome(f.kms.create_alias(&f.east, "alias/app", target));
        assert_eq!(got, "AlreadyExistsException");
    }
    // A target must be a key, named by id or ARN, that exists.
    assert!(f
        .kms
        .create_alias(&f.east, "alias/chained", "alias/app")
        .is_err());
    let missing = "0b5e6f3a-1111-4222-8333-444455556666";
    assert_eq!(
        outcome(f.kms.create_alias(&f.east, "alias/ghost", missing)),
        NOT_FOUND
    );
    f.kms
        .create_alias(&f.east, "alias/by-arn", &f.arn(&b))
        .unwrap();
    assert_eq!(f.arn("alias/by-arn"), f.arn(&b));

    // The alias name and the alias ARN both resolve.
    let alias_arn = format!("arn:aws:kms:us-east-1:{ACCOUNT}:alias/app");
    for name in ["alias/app", alias_arn.as_str()] {
        let out = f
            .kms
            .encrypt(&f.east, encrypt_request(name, b"x", &no_context()))
            .unwrap();
        assert_eq!(out.key_arn, f.arn(&a), "Encrypt via {name}");
    }
    f.kms.update_alias(&f.east, "alias/app", &b).unwrap();
    assert_eq!(f.arn("alias/app"), f.arn(&b));
    let listed = f
        .kms
        .list_aliases(&f.east, None, None, None)
        .unwrap()
        .aliases;
    let app = listed.iter().find(|x| x.alias_name == "alias/app").unwrap();
    assert_eq!(app.target_key_id.to_string(), b);
    assert_eq!(app.alias_arn, alias_arn);

    assert_eq!(
        outcome(f.kms.update_alias(&f.east, "alias/nope", &a)),
        NOT_FOUND
    );
    assert_eq!(
        outcome(f.kms.delete_alias(&f.east, "alias/nope")),
        NOT_FOUND
    );
    assert_eq!(
        outcome(f.kms.update_alias(&f.east, "alias/aws/x", &a)),
        "NotAuthorizedException"
    );
    f.kms.delete_alias(&f.east, "alias/app").unwrap();
    assert_eq!(
        outcome(f.encrypt("alias/app", b"x", &no_context())),
        NOT_FOUND
    );
    // The name is free again.
    f.kms.create_alias(&f.east, "alias/app", &a).unwrap();
    // Survives a restart.
    let cold = f.restarted();
    assert_eq!(
        cold.describe_key(&f.east, "alias/app", &[]).unwrap().arn,
        f.arn(&a)
    );
}

#[test]
fn an_alias_never_outlives_its_key() {
    let f = Fixture::new();
    let key = f.create_key();
    f.kms.create_alias(&f.east, "alias/doomed", &key).unwrap();
    f.kms.schedule_key_deletion(&f.east, &key, Some(7)).unwrap();
    // While pending deletion the alias still resolves, to a key that cannot be used.
    assert_eq!(
        outcome(f.encrypt("alias/doomed", b"x", &no_context())),
        INVALID_STATE
    );
    f.clock.advance_days(7);
    f.kms.run_maintenance().unwrap();
    assert_eq!(
        outcome(f.encrypt("alias/doomed", b"x", &no_context())),
        NOT_FOUND
    );
    let other = f.create_key();
    f.kms.create_alias(&f.east, "alias/doomed", &other).unwrap();
    assert_eq!(f.arn("alias/doomed"), f.arn(&other));
}

// ---------------------------------------------------------------------------------------
// Paging

#[test]
fn list_keys_pages_with_markers() {
    let f = Fixture::new();
    for limit in [0, -1, 1001] {
        let got = outcome(f.kms.list_keys(&f.east, Some(limit), None));
        assert_eq!(got, VALIDATION, "Limit {limit}");
    }
    assert!(f.kms.list_keys(&f.east, Some(1000), None).is_ok());
    let mut created: Vec<String> = (0..5).map(|_| f.create_key()).collect();
    created.sort();
    for limit in [1, 2, 4, 5] {
        let mut seen = Vec::new();
        let mut marker: Option<String> = None;
        loop {
            let page = f
                .kms
                .list_keys(&f.east, Some(limit), marker.as_deref())
                .unwrap();
            assert!(page.keys.len() <= limit as usize);
            for k in &page.keys {
                assert_eq!(
                    k.arn,
                    format!("arn:aws:kms:us-east-1:{ACCOUNT}:key/{}", k.key_id)
                );
            }
            seen.extend(page.keys.iter().map(|k| k.key_id.to_string()));
            match page.next_marker {
                Some(m) => marker = Some(m),
                None => break,
            }
        }
        assert_eq!(seen, created, "Limit {limit}");
    }
    let all = f.kms.list_keys(&f.east, None, None).unwrap();
    assert_eq!(all.keys.len(), 5);
    assert_eq!(all.next_marker, None);
    let got = outcome(f.kms.list_keys(&f.east, None, Some("not a marker")));
    assert_eq!(got, "InvalidMarkerException");
}

#[test]
fn list_aliases_pages_with_markers() {
    let f = Fixture::new();
    let a = f.create_key();
    let b = f.create_key();
    for limit in [0, -1, 1001] {
        let got = outcome(f.kms.list_aliases(&f.east, None, Some(limit), None));
        assert_eq!(got, VALIDATION, "Limit {limit}");
    }
    let mut names = Vec::new();
    for n in 0..60 {
        let name = format!("alias/app-{n:02}");
        f.kms
            .create_alias(&f.east, &name, if n % 3 == 0 { &b } else { &a })
            .unwrap();
        names.push(name);
    }
    let mut seen = Vec::new();
    let mut marker: Option<String> = None;
    loop {
        let page = f
            .kms
            .list_aliases(&f.east, None, Some(7), marker.as_deref())
            .unwrap();
        assert!(page.aliases.len() <= 7);
        seen.extend(page.aliases.into_iter().map(|x| x.alias_name));
        match page.next_marker {
            Some(m) => marker = Some(m),
            None => break,
        }
    }
    assert_eq!(seen, names);
    // AWS: "If you do not include a value [for Limit], it defaults to 50."
    let first = f.kms.list_aliases(&f.east, None, None, None).unwrap();
    assert_eq!(first.aliases.len(), 50);
    assert!(first.next_marker.is_some());

    let of_b = f
        .kms
        .list_aliases(&f.east, Some(&b), Some(100), None)
        .unwrap();
    assert_eq!(of_b.aliases.len(), 20);
    assert!(of_b
        .aliases
        .iter()
        .all(|x| x.target_key_id.to_string() == b));
    let of_b_by_arn = f
        .kms
        .list_aliases(&f.east, Some(&f.arn(&b)), Some(100), None)
        .unwrap();
    assert_eq!(of_b_by_arn.aliases.len(), 20);
    let got = outcome(
        f.kms
            .list_aliases(&f.east, None, None, Some("not a marker!")),
    );
    assert_eq!(got, "InvalidMarkerException");
}

// ---------------------------------------------------------------------------------------
// GenerateDataKey

#[test]
fn generate_data_key_length_comes_from_exactly_one_of_spec_and_bytes() {
    let f = Fixture::new();
    let key = f.create_key();
    type Case = (
        Option<&'static str>,
        Option<i64>,
        Result<usize, &'static str>,
    );
    let cases: [Case; 11] = [
        (Some("AES_256"), None, Ok(32)),
        (Some("AES_128"), None, Ok(16)),
        (None, Some(1), Ok(1)),
        (None, Some(1024), Ok(1024)),
        (None, Some(0), Err(VALIDATION)),
        (None, Some(1025), Err(VALIDATION)),
        (None, Some(-1), Err(VALIDATION)),
        (Some("AES_256"), Some(32), Err(VALIDATION)),
        (None, None, Err(VALIDATION)),
        (Some("AES_512"), None, Err(VALIDATION)),
        (Some("aes_256"), None, Err(VALIDATION)),
    ];
    for (spec, bytes, expected) in cases {
        let with = f
            .kms
            .generate_data_key(&f.east, data_key_request(&key, spec, bytes));
        let without = f
            .kms
            .generate_data_key_without_plaintext(&f.east, data_key_request(&key, spec, bytes));
        let len = match expected {
            Err(code) => {
                assert_eq!(outcome(with), code, "GenerateDataKey {spec:?} {bytes:?}");
                assert_eq!(
                    outcome(without),
                    code,
                    "WithoutPlaintext {spec:?} {bytes:?}"
                );
                continue;
            }
            Ok(len) => len,
        };
        let with = with.unwrap();
        let plaintext = with
            .plaintext
            .expect("GenerateDataKey returns the plaintext");
        assert_eq!(plaintext.len(), len, "{spec:?} {bytes:?}");
        assert_eq!(with.key_arn, f.arn(&key));
        let opened = f.decrypt(&with.ciphertext, &no_context(), None).unwrap();
        assert_eq!(opened, plaintext.expose());

        let without = without.unwrap();
        assert!(without.plaintext.is_none());
        let opened = f.decrypt(&without.ciphertext, &no_context(), None).unwrap();
        assert_eq!(opened.len(), len);
    }
    // Two data keys differ.
    let one = f
        .kms
        .generate_data_key(&f.east, data_key_request(&key, Some("AES_256"), None));
    let two = f
        .kms
        .generate_data_key(&f.east, data_key_request(&key, Some("AES_256"), None));
    assert_ne!(one.unwrap().plaintext, two.unwrap().plaintext);
}

// ---------------------------------------------------------------------------------------
// DryRun

#[test]
fn dry_run_checks_the_request_and_does_nothing() {
    let f = Fixture::new();
    let key = f.create_key();
    let other = f.create_key();
    let ciphertext = f.encrypt(&key, b"x", &no_context()).unwrap();
    let dry = "DryRunOperationException";

    let mut req = encrypt_request(&key, b"x", &no_context());
    req.dry_run = true;
    assert_eq!(outcome(f.kms.encrypt(&f.east, req)), dry);
    let mut req = decrypt_request(&ciphertext, &no_context(), None);
    req.dry_run = true;
    assert_eq!(outcome(f.kms.decrypt(&f.east, req)), dry);
    let mut req = re_encrypt_request(&ciphertext, None, &other);
    req.dry_run = true;
    assert_eq!(outcome(f.kms.re_encrypt(&f.east, req)), dry);
    let mut req = data_key_request(&key, Some("AES_256"), None);
    req.dry_run = true;
    assert_eq!(outcome(f.kms.generate_data_key(&f.east, req.clone())), dry);
    assert_eq!(
        outcome(f.kms.generate_data_key_without_plaintext(&f.east, req)),
        dry
    );

    // A request that would fail reports its real error, not DryRunOperationException.
    let mut req = decrypt_request(&ciphertext, &context(&[("k", "v")]), None);
    req.dry_run = true;
    assert_eq!(outcome(f.kms.decrypt(&f.east, req)), INVALID_CIPHERTEXT);
    let mut req = data_key_request(&key, None, Some(0));
    req.dry_run = true;
    assert_eq!(outcome(f.kms.generate_data_key(&f.east, req)), VALIDATION);
    f.kms.disable_key(&f.east, &key).unwrap();
    let mut req = encrypt_request(&key, b"x", &no_context());
    req.dry_run = true;
    assert_eq!(outcome(f.kms.encrypt(&f.east, req)), DISABLED);
}

// ---------------------------------------------------------------------------------------
// Secrets never print

/// Fails if `printed` shows `secret` as text, as a `Debug` byte list or as hex.
fn assert_redacted(what: &str, printed: &str, secret: &[u8]) {
    assert!(secret.len() >= 8, "{what}: use a longer secret");
    let head = &secret[..8];
    let as_list = format!("{head:?}");
    let as_list = as_list.trim_end_matches(']');
    let as_hex: String = head.iter().map(|b| format!("{b:02x}")).collect();
    let as_text = String::from_utf8_lossy(head);
    for shape in [as_list, as_hex.as_str(), as_text.as_ref()] {
        assert!(
            !printed.contains(shape),
            "{what} prints its secret ({shape}): {printed}"
        );
    }
}

#[test]
fn debug_output_never_shows_plaintext_or_key_material() {
    let f = Fixture::new();
    let key = f.create_key();
    let secret = b"SECRET-PLAINTEXT-kagi-0123456789";

    let req = encrypt_request(&key, secret, &no_context());
    assert_redacted("EncryptRequest", &format!("{req:?}"), secret);
    let ciphertext = f.kms.encrypt(&f.east, req).unwrap().ciphertext;

    let out = f
        .kms
        .decrypt(&f.east, decrypt_request(&ciphertext, &no_context(), None))
        .unwrap();
    assert_eq!(out.plaintext.expose(), secret);
    assert_redacted("DecryptResponse", &format!("{out:?}"), secret);

    let data_key = f
        .kms
        .generate_data_key(&f.east, data_key_request(&key, Some("AES_256"), None))
        .unwrap();
    let plaintext = data_key.plaintext.clone().unwrap();
    assert_redacted(
        "GenerateDataKeyResponse",
        &format!("{data_key:?}"),
        plaintext.expose(),
    );

    let random = f.kms.generate_random(&f.east, Some(32), None).unwrap();
    assert_redacted("GenerateRandom", &format!("{random:?}"), random.expose());

    let new_key = f.kms.create_access_key("alice", false, None).unwrap();
    let access_secret = new_key.secret.expose().to_vec();
    assert_redacted("NewAccessKey", &format!("{new_key:?}"), &access_secret);
    let credential = f
        .kms
        .credential(&new_key.record.access_key_id)
        .unwrap()
        .expect("an active access key has a credential");
    assert_eq!(credential.secret.expose(), access_secret.as_slice());
    assert_redacted("Credential", &format!("{credential:?}"), &access_secret);

    // Errors on the way never echo the plaintext either.
    f.kms.disable_key(&f.east, &key).unwrap();
    let err = f
        .kms
        .encrypt(&f.east, encrypt_request(&key, secret, &no_context()))
        .unwrap_err();
    assert_redacted("KmsError", &format!("{err:?} {err}"), secret);
    let oversized = vec![b'S'; 4097];
    let err = f.encrypt(&key, &oversized, &no_context()).unwrap_err();
    assert_eq!(err.aws_code(), VALIDATION);
    assert_redacted("KmsError", &format!("{err:?} {err}"), &oversized);
}

// ---------------------------------------------------------------------------------------
// Properties

/// One key shared by every case, so a few hundred cases stay cheap.
fn shared() -> &'static (Fixture, String) {
    static SHARED: OnceLock<(Fixture, String)> = OnceLock::new();
    SHARED.get_or_init(|| {
        let f = Fixture::new();
        let key = f.create_key();
        (f, key)
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn encrypt_decrypt_round_trips_and_any_changed_byte_fails(
        plaintext in proptest::collection::vec(any::<u8>(), 1..=4096),
        context in proptest::collection::btree_map(".{1,12}", ".{0,12}", 0..4),
        position in any::<proptest::sample::Index>(),
        delta in 1u8..=255,
    ) {
        let (f, key) = shared();
        let ciphertext = f.encrypt(key, &plaintext, &context).unwrap();
        prop_assert_eq!(f.decrypt(&ciphertext, &context, None).unwrap(), plaintext);
        let mut tampered = ciphertext.clone();
        let i = position.index(tampered.len());
        tampered[i] = tampered[i].wrapping_add(delta);
        let got = outcome(f.decrypt(&tampered, &context, None));
        prop_assert_eq!(got, INVALID_CIPHERTEXT, "byte {} of {}", i, tampered.len());
    }
}

#[test]
fn every_single_byte_change_of_a_short_blob_fails() {
    let f = Fixture::new();
    let key = f.create_key();
    let c = context(&[("k", "v")]);
    let ciphertext = f.encrypt(&key, b"short", &c).unwrap();
    for i in 0..ciphertext.len() {
        for delta in [0x01, 0x80, 0xff] {
            let mut tampered = ciphertext.clone();
            tampered[i] ^= delta;
            let got = outcome(f.decrypt(&tampered, &c, None));
            assert_eq!(got, INVALID_CIPHERTEXT, "byte {i} ^ {delta:#04x}");
        }
    }
    // Truncations and extensions fail as well.
    for len in 0..ciphertext.len() {
        assert!(
            f.decrypt(&ciphertext[..len], &c, None).is_err(),
            "truncated to {len}"
        );
    }
    let mut longer = ciphertext.clone();
    longer.push(0);
    assert_eq!(outcome(f.decrypt(&longer, &c, None)), INVALID_CIPHERTEXT);
}

/// Found while writing the `request_body` fuzz target (a crafted seed, run with overflow
/// checks): an offset marker near `usize::MAX` overflowed `start + limit`. Markers these
/// operations never handed out are `InvalidMarkerException`.
#[test]
fn offset_markers_out_of_range_are_invalid() {
    let f = Fixture::new();
    let key = f.create_key();
    f.kms.rotate_key_on_demand(&f.east, &key).unwrap();
    let tag = Tag {
        key: "team".into(),
        value: "kagi".into(),
    };
    f.kms.tag_resource(&f.east, &key, vec![tag]).unwrap();
    for marker in ["18446744073709551615", "2", "-1", "x"] {
        let got = outcome(
            f.kms
                .list_key_rotations(&f.east, &key, Some(1), Some(marker)),
        );
        assert_eq!(
            got, "InvalidMarkerException",
            "ListKeyRotations Marker {marker}"
        );
        let got = outcome(
            f.kms
                .list_resource_tags(&f.east, &key, Some(1), Some(marker)),
        );
        assert_eq!(
            got, "InvalidMarkerException",
            "ListResourceTags Marker {marker}"
        );
    }
    // One past the last item is where a full page ends: valid and empty.
    let page = f
        .kms
        .list_key_rotations(&f.east, &key, Some(1), Some("1"))
        .unwrap();
    assert!(page.rotations.is_empty() && page.next_marker.is_none());
}

#[test]
fn page_sizes_are_capped_at_the_documented_maximums() {
    let f = Fixture::new();
    let key = f.create_key();
    for n in 0..120 {
        f.kms
            .create_alias(&f.east, &format!("alias/cap-{n:03}"), &key)
            .unwrap();
    }
    // ListAliases: default 50, at most 100 per page even when more is asked for.
    let default = f.kms.list_aliases(&f.east, None, None, None).unwrap();
    assert_eq!(default.aliases.len(), 50);
    let asked = f.kms.list_aliases(&f.east, None, Some(1000), None).unwrap();
    assert_eq!(asked.aliases.len(), 100);
    assert!(asked.next_marker.is_some());
    // ListResourceTags: at most 50 per page.
    let tags: Vec<Tag> = (0..50)
        .map(|n| Tag {
            key: format!("k{n}"),
            value: "v".into(),
        })
        .collect();
    f.kms.tag_resource(&f.east, &key, tags).unwrap();
    let page = f
        .kms
        .list_resource_tags(&f.east, &key, Some(1000), None)
        .unwrap();
    assert_eq!(page.tags.len(), 50);
    assert!(page.next_marker.is_none());
}
