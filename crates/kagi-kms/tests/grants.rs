//! Grants at the domain boundary: CreateGrant, ListGrants, ListRetirableGrants, RetireGrant
//! and RevokeGrant, and authorization through grants, with the real policy engine over a
//! `MemoryStore`. Outcomes follow the AWS KMS API Reference and the Developer Guide's
//! "Grants in AWS KMS" pages.

use kagi_crypto::{DeterministicRng, RootKey, SecretBytes};
use kagi_kms::ops::encrypt::{DecryptRequest, EncryptRequest, EncryptionContext, ReEncryptRequest};
use kagi_kms::ops::grants::{
    principal_matches, CreateGrantRequest, ListGrantsRequest, RetireGrantRequest,
};
use kagi_kms::ops::keys::CreateKeyRequest;
use kagi_kms::{
    AccountId, Caller, GrantConstraints, Kms, KmsError, ManualClock, MemoryStore, Principal,
    Region, Store, Timestamp,
};
use std::sync::Arc;

const ACCOUNT: &str = "111122223333";
const DENIED: &str = "AccessDeniedException";

fn caller(user: &str, admin: bool) -> Caller {
    Caller {
        region: Region::parse("us-east-1").unwrap(),
        principal: Principal {
            account: AccountId::parse(ACCOUNT).unwrap(),
            arn: format!("arn:aws:iam::{ACCOUNT}:user/{user}"),
            user_name: user.into(),
            access_key_id: format!("KAGI{}", user.to_uppercase()),
            admin,
        },
        source_ip: None,
        secure_transport: true,
    }
}

fn arn(user: &str) -> String {
    format!("arn:aws:iam::{ACCOUNT}:user/{user}")
}

fn ctx(pairs: &[(&str, &str)]) -> EncryptionContext {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn code<T>(r: Result<T, KmsError>) -> &'static str {
    match r {
        Ok(_) => "OK",
        Err(e) => e.aws_code(),
    }
}

struct World {
    kms: Kms,
    store: Arc<MemoryStore>,
    clock: Arc<ManualClock>,
    admin: Caller,
    app: Caller,
}

impl World {
    fn new() -> Self {
        let store = Arc::new(MemoryStore::new());
        let clock = Arc::new(ManualClock::new(Timestamp(1_700_000_000_000)));
        World {
            kms: Self::kms(store.clone(), clock.clone()),
            store,
            clock,
            admin: caller("admin", true),
            app: caller("app", false),
        }
    }

    fn kms(store: Arc<MemoryStore>, clock: Arc<ManualClock>) -> Kms {
        Kms::new(
            AccountId::parse(ACCOUNT).unwrap(),
            RootKey::from_secret(&SecretBytes::new(vec![9; 32])).unwrap(),
            store,
            clock,
            Arc::new(DeterministicRng::dangerous_for_tests_only(11)),
            Arc::new(kagi_policy::PolicyEngine),
        )
    }

    /// The same store and clock behind a new `Kms` (empty caches), as after a restart.
    fn restarted(&self) -> Kms {
        Self::kms(self.store.clone(), self.clock.clone())
    }

    fn key(&self) -> String {
        self.kms
            .create_key(&self.admin, CreateKeyRequest::default())
            .unwrap()
            .meta
            .key_id
            .to_string()
    }

    fn grant(&self, key: &str, grantee: &str, ops: &[&str]) -> CreateGrantRequest {
        CreateGrantRequest {
            key_id: key.into(),
            grantee_principal: grantee.into(),
            operations: ops.iter().map(|o| o.to_string()).collect(),
            ..CreateGrantRequest::default()
        }
    }

    fn encrypt(
        &self,
        c: &Caller,
        key: &str,
        context: &[(&str, &str)],
        tokens: &[String],
    ) -> Result<Vec<u8>, KmsError> {
        self.encrypt_on(&self.kms, c, key, context, tokens)
    }

    fn encrypt_on(
        &self,
        kms: &Kms,
        c: &Caller,
        key: &str,
        context: &[(&str, &str)],
        tokens: &[String],
    ) -> Result<Vec<u8>, KmsError> {
        kms.encrypt(
            c,
            EncryptRequest {
                key_id: key.into(),
                plaintext: SecretBytes::from_slice(b"payload"),
                context: ctx(context),
                algorithm: None,
                grant_tokens: tokens.to_vec(),
                dry_run: false,
            },
        )
        .map(|r| r.ciphertext)
    }

    fn decrypt(&self, c: &Caller, blob: &[u8], context: &[(&str, &str)]) -> Result<(), KmsError> {
        self.kms
            .decrypt(
                c,
                DecryptRequest {
                    ciphertext: blob.to_vec(),
                    context: ctx(context),
                    key_id: None,
                    algorithm: None,
                    grant_tokens: Vec::new(),
                    dry_run: false,
                },
            )
            .map(drop)
    }

    fn retire_by_token(&self, c: &Caller, token: &str) -> Result<(), KmsError> {
        self.kms.retire_grant(
            c,
            RetireGrantRequest {
                grant_token: Some(token.into()),
                key_id: None,
                grant_id: None,
                dry_run: false,
            },
        )
    }

    fn list(&self, c: &Caller, key: &str) -> Vec<String> {
        self.kms
            .list_grants(
                c,
                ListGrantsRequest {
                    key_id: key.into(),
                    ..ListGrantsRequest::default()
                },
            )
            .unwrap()
            .grants
            .into_iter()
            .map(|g| g.grant.grant_id)
            .collect()
    }
}

fn subset(pairs: &[(&str, &str)]) -> Option<GrantConstraints> {
    Some(GrantConstraints {
        encryption_context_equals: None,
        encryption_context_subset: Some(ctx(pairs)),
    })
}

fn equals(pairs: &[(&str, &str)]) -> Option<GrantConstraints> {
    Some(GrantConstraints {
        encryption_context_equals: Some(ctx(pairs)),
        encryption_context_subset: None,
    })
}

#[test]
fn a_grantee_uses_the_key_without_any_policy_until_the_grant_is_retired() {
    let w = World::new();
    let key = w.key();
    assert_eq!(code(w.encrypt(&w.app, &key, &[], &[])), DENIED);
    let mut req = w.grant(&key, &arn("app"), &["Encrypt", "Decrypt", "Encrypt"]);
    req.retiring_principal = Some(arn("app"));
    let created = w.kms.create_grant(&w.admin, req).unwrap();
    assert_eq!(created.grant_id.len(), 64);
    // The token is accepted (and needed by nothing: grants are effective at once).
    let blob = w
        .encrypt(
            &w.app,
            &key,
            &[],
            std::slice::from_ref(&created.grant_token),
        )
        .unwrap();
    w.decrypt(&w.app, &blob, &[]).unwrap();
    // Only the operations of the grant, only for its grantee.
    assert_eq!(code(w.kms.describe_key(&w.app, &key, &[])), DENIED);
    assert_eq!(
        code(w.encrypt(&caller("other", false), &key, &[], &[])),
        DENIED
    );
    // Listed once, with the operations deduplicated.
    let listed = w
        .kms
        .list_grants(
            &w.admin,
            ListGrantsRequest {
                key_id: key.clone(),
                ..ListGrantsRequest::default()
            },
        )
        .unwrap();
    assert_eq!(listed.grants.len(), 1);
    let g = &listed.grants[0];
    assert_eq!(g.issuing_account, format!("arn:aws:iam::{ACCOUNT}:root"));
    assert_eq!(g.grant.issuing_principal, arn("admin"));
    assert_eq!(
        g.grant
            .operations
            .iter()
            .map(|o| o.as_str())
            .collect::<Vec<_>>(),
        ["Decrypt", "Encrypt"]
    );
    // A grant survives a restart (it is in the store, not only in the cache).
    let cold = w.restarted();
    w.encrypt_on(&cold, &w.app, &key, &[], &[]).unwrap();
    // The retiring principal retires it by token; it stops working at once.
    w.retire_by_token(&w.app, &created.grant_token).unwrap();
    assert_eq!(code(w.encrypt(&w.app, &key, &[], &[])), DENIED);
    assert_eq!(code(w.decrypt(&w.app, &blob, &[])), DENIED);
    assert!(w.list(&w.admin, &key).is_empty());
    // The token of a grant that is gone allows nothing, and retiring again finds nothing.
    assert_eq!(
        code(w.retire_by_token(&w.app, &created.grant_token)),
        "NotFoundException"
    );
}

#[test]
fn revoking_needs_permission_and_stops_the_grant_at_once() {
    let w = World::new();
    let key = w.key();
    let g = w
        .kms
        .create_grant(&w.admin, w.grant(&key, &arn("app"), &["Encrypt"]))
        .unwrap();
    w.encrypt(&w.app, &key, &[], &[]).unwrap();
    assert_eq!(
        code(w.kms.revoke_grant(&w.app, &key, &g.grant_id, false)),
        DENIED
    );
    assert_eq!(
        code(w.kms.revoke_grant(&w.admin, &key, &"ab".repeat(32), false)),
        "NotFoundException"
    );
    assert_eq!(
        code(w.kms.revoke_grant(&w.admin, &key, "not-a-grant", false)),
        "InvalidGrantIdException"
    );
    assert_eq!(
        code(w.kms.revoke_grant(&w.admin, &key, &g.grant_id, true)),
        "DryRunOperationException"
    );
    w.kms
        .revoke_grant(&w.admin, &key, &g.grant_id, false)
        .unwrap();
    assert_eq!(code(w.encrypt(&w.app, &key, &[], &[])), DENIED);
}

#[test]
fn constraints_subset_and_equals_with_aws_case_rules() {
    let w = World::new();
    let key = w.key();
    let mut sub = w.grant(&key, &arn("app"), &["Encrypt"]);
    sub.constraints = subset(&[("Dept", "IT")]);
    w.kms.create_grant(&w.admin, sub).unwrap();
    w.encrypt(&w.app, &key, &[("Dept", "IT")], &[]).unwrap();
    w.encrypt(&w.app, &key, &[("Dept", "IT"), ("Extra", "x")], &[])
        .unwrap();
    // Keys compare case-insensitively, values case-sensitively.
    w.encrypt(&w.app, &key, &[("dept", "IT")], &[]).unwrap();
    assert_eq!(
        code(w.encrypt(&w.app, &key, &[("Dept", "it")], &[])),
        DENIED
    );
    assert_eq!(code(w.encrypt(&w.app, &key, &[], &[])), DENIED);

    let other = w.key();
    let mut eq = w.grant(&other, &arn("app"), &["Encrypt", "DescribeKey"]);
    eq.constraints = equals(&[("Dept", "IT")]);
    w.kms.create_grant(&w.admin, eq).unwrap();
    w.encrypt(&w.app, &other, &[("DEPT", "IT")], &[]).unwrap();
    assert_eq!(
        code(w.encrypt(&w.app, &other, &[("Dept", "IT"), ("Extra", "x")], &[])),
        DENIED
    );
    // Constraints do not apply to operations without an encryption context.
    w.kms.describe_key(&w.app, &other, &[]).unwrap();
}

#[test]
fn an_explicit_deny_wins_over_a_grant() {
    let w = World::new();
    let policy = format!(
        r#"{{"Version":"2012-10-17","Statement":[
            {{"Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{ACCOUNT}:root"}},"Action":"kms:*","Resource":"*"}},
            {{"Effect":"Deny","Principal":{{"AWS":"{}"}},"Action":"kms:Decrypt","Resource":"*"}}]}}"#,
        arn("app")
    );
    let key = w
        .kms
        .create_key(
            &w.admin,
            CreateKeyRequest {
                policy: Some(policy),
                ..CreateKeyRequest::default()
            },
        )
        .unwrap()
        .meta
        .key_id
        .to_string();
    w.kms
        .create_grant(
            &w.admin,
            w.grant(&key, &arn("app"), &["Encrypt", "Decrypt"]),
        )
        .unwrap();
    let blob = w.encrypt(&w.app, &key, &[], &[]).unwrap();
    let denied = w.decrypt(&w.app, &blob, &[]).unwrap_err().to_string();
    assert!(
        denied.ends_with("with an explicit deny in a resource-based policy"),
        "{denied}"
    );
    // An identity policy's deny wins too.
    w.kms
        .put_user_policy(
            "app",
            "no-encrypt",
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"kms:Encrypt","Resource":"*"}]}"#,
        )
        .unwrap();
    assert_eq!(code(w.encrypt(&w.app, &key, &[], &[])), DENIED);
}

#[test]
fn a_named_grant_is_created_once() {
    let w = World::new();
    let key = w.key();
    let mut req = w.grant(&key, &arn("app"), &["Encrypt"]);
    req.name = Some("nightly-backup".into());
    req.constraints = subset(&[("job", "backup")]);
    let first = w.kms.create_grant(&w.admin, req.clone()).unwrap();
    let again = w.kms.create_grant(&w.admin, req.clone()).unwrap();
    assert_eq!(first.grant_id, again.grant_id);
    // Every call returns a new token; all of them work.
    assert_ne!(first.grant_token, again.grant_token);
    for token in [&first.grant_token, &again.grant_token] {
        w.encrypt(
            &w.app,
            &key,
            &[("job", "backup")],
            std::slice::from_ref(token),
        )
        .unwrap();
    }
    assert_eq!(w.list(&w.admin, &key).len(), 1);
    // The same name with other parameters is another grant.
    req.operations = vec!["Encrypt".into(), "Decrypt".into()];
    let other = w.kms.create_grant(&w.admin, req).unwrap();
    assert_ne!(other.grant_id, first.grant_id);
    assert_eq!(w.list(&w.admin, &key).len(), 2);
}

#[test]
fn who_may_retire_a_grant() {
    let w = World::new();
    let key = w.key();
    let ops = w.grant(&key, &arn("app"), &["Encrypt"]);
    let plain = w.kms.create_grant(&w.admin, ops.clone()).unwrap();
    // Neither a stranger nor a grantee whose grant lacks RetireGrant.
    for c in [&caller("stranger", false), &w.app] {
        assert_eq!(code(w.retire_by_token(c, &plain.grant_token)), DENIED);
    }
    // A principal of the account whose identity policy allows kms:RetireGrant may.
    w.kms
        .put_user_policy(
            "ops",
            "retire",
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:RetireGrant","Resource":"*"}]}"#,
        )
        .unwrap();
    w.kms
        .retire_grant(
            &caller("ops", false),
            RetireGrantRequest {
                grant_token: None,
                key_id: Some(key.clone()),
                grant_id: Some(plain.grant_id.clone()),
                dry_run: false,
            },
        )
        .unwrap();
    // The grantee may when the grant includes RetireGrant.
    let retirable = w
        .kms
        .create_grant(
            &w.admin,
            w.grant(&key, &arn("app"), &["Encrypt", "RetireGrant"]),
        )
        .unwrap();
    w.retire_by_token(&w.app, &retirable.grant_token).unwrap();
    // An identity policy's deny of kms:RetireGrant wins over being the retiring principal.
    let mut r = ops;
    r.retiring_principal = Some(arn("app"));
    let denied = w.kms.create_grant(&w.admin, r).unwrap();
    w.kms
        .put_user_policy(
            "app",
            "no-retire",
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"kms:RetireGrant","Resource":"*"}]}"#,
        )
        .unwrap();
    assert_eq!(code(w.retire_by_token(&w.app, &denied.grant_token)), DENIED);
    // RetireGrant needs a token, or a key and a grant id.
    let neither = w.kms.retire_grant(
        &w.admin,
        RetireGrantRequest {
            grant_token: None,
            key_id: Some(key),
            grant_id: None,
            dry_run: false,
        },
    );
    assert_eq!(code(neither), "ValidationException");
}

#[test]
fn a_grant_with_create_grant_allows_only_narrower_grants() {
    let w = World::new();
    let key = w.key();
    let mut parent = w.grant(&key, &arn("app"), &["Encrypt", "Decrypt", "CreateGrant"]);
    parent.constraints = subset(&[("tenant", "a")]);
    w.kms.create_grant(&w.admin, parent).unwrap();
    let child = |ops: &[&str], constraints| {
        let mut req = w.grant(&key, &arn("worker"), ops);
        req.constraints = constraints;
        w.kms.create_grant(&w.app, req)
    };
    child(&["Decrypt"], subset(&[("tenant", "a"), ("job", "1")])).unwrap();
    child(&["Encrypt"], equals(&[("Tenant", "a")])).unwrap();
    assert_eq!(
        code(child(&["Decrypt"], None)),
        DENIED,
        "looser constraints"
    );
    assert_eq!(
        code(child(&["Decrypt"], subset(&[("tenant", "b")]))),
        DENIED
    );
    assert_eq!(
        code(child(&["DescribeKey"], subset(&[("tenant", "a")]))),
        DENIED,
        "more operations"
    );
}

#[test]
fn re_encrypt_needs_re_encrypt_from_and_to() {
    let w = World::new();
    let (source, destination) = (w.key(), w.key());
    let blob = w.encrypt(&w.admin, &source, &[], &[]).unwrap();
    let re = |w: &World| {
        w.kms.re_encrypt(
            &w.app,
            ReEncryptRequest {
                ciphertext: blob.clone(),
                source_context: EncryptionContext::new(),
                source_key_id: None,
                destination_key_id: destination.clone(),
                destination_context: EncryptionContext::new(),
                source_algorithm: None,
                destination_algorithm: None,
                grant_tokens: Vec::new(),
                dry_run: false,
            },
        )
    };
    w.kms
        .create_grant(&w.admin, w.grant(&source, &arn("app"), &["ReEncryptFrom"]))
        .unwrap();
    assert_eq!(code(re(&w)), DENIED);
    // A grant for Decrypt or GenerateDataKey is not ReEncryptTo.
    w.kms
        .create_grant(
            &w.admin,
            w.grant(&destination, &arn("app"), &["Encrypt", "GenerateDataKey"]),
        )
        .unwrap();
    assert_eq!(code(re(&w)), DENIED);
    w.kms
        .create_grant(
            &w.admin,
            w.grant(&destination, &arn("app"), &["ReEncryptTo"]),
        )
        .unwrap();
    re(&w).unwrap();
}

#[test]
fn key_states_and_destruction() {
    let w = World::new();
    let key = w.key();
    let retiring = arn("ops");
    let mut req = w.grant(&key, &arn("app"), &["Encrypt"]);
    req.retiring_principal = Some(retiring.clone());
    let g = w.kms.create_grant(&w.admin, req.clone()).unwrap();
    w.kms.disable_key(&w.admin, &key).unwrap();
    assert_eq!(
        code(w.kms.create_grant(&w.admin, req.clone())),
        "DisabledException"
    );
    assert_eq!(w.list(&w.admin, &key), std::slice::from_ref(&g.grant_id));
    w.kms.enable_key(&w.admin, &key).unwrap();
    w.kms
        .schedule_key_deletion(&w.admin, &key, Some(7))
        .unwrap();
    assert_eq!(
        code(w.kms.create_grant(&w.admin, req)),
        "KMSInvalidStateException"
    );
    let retirable = w
        .kms
        .list_retirable_grants(&w.admin, &retiring, None, None)
        .unwrap();
    assert_eq!(retirable.grants.len(), 1);
    w.clock.advance_days(8);
    w.kms.run_maintenance().unwrap();
    let id = kagi_kms::KeyId::parse(&key).unwrap();
    let region = Region::parse("us-east-1").unwrap();
    assert!(w.store.grants(&region, &id).unwrap().is_empty());
    assert!(w
        .kms
        .list_retirable_grants(&w.admin, &retiring, None, None)
        .unwrap()
        .grants
        .is_empty());
    assert_eq!(
        code(w.retire_by_token(&w.admin, &g.grant_token)),
        "NotFoundException"
    );
}

#[test]
fn listing_filters_and_pages() {
    let w = World::new();
    let key = w.key();
    for user in ["a", "b", "a"] {
        let mut req = w.grant(&key, &arn(user), &["Encrypt"]);
        req.retiring_principal = Some(arn("ops"));
        w.kms.create_grant(&w.admin, req).unwrap();
    }
    let all = w.list(&w.admin, &key);
    assert_eq!(all.len(), 3);
    let mut sorted = all.clone();
    sorted.sort();
    assert_eq!(all, sorted, "by grant id");
    let page = |marker: Option<String>| {
        w.kms
            .list_grants(
                &w.admin,
                ListGrantsRequest {
                    key_id: key.clone(),
                    limit: Some(2),
                    marker,
                    ..ListGrantsRequest::default()
                },
            )
            .unwrap()
    };
    let first = page(None);
    assert_eq!(first.grants.len(), 2);
    let second = page(first.next_marker.clone());
    assert_eq!(second.grants.len(), 1);
    assert!(second.next_marker.is_none());
    let of_a = w
        .kms
        .list_grants(
            &w.admin,
            ListGrantsRequest {
                key_id: key.clone(),
                grantee_principal: Some(arn("a")),
                ..ListGrantsRequest::default()
            },
        )
        .unwrap();
    assert_eq!(of_a.grants.len(), 2);
    let one = w
        .kms
        .list_grants(
            &w.admin,
            ListGrantsRequest {
                key_id: key.clone(),
                grant_id: Some(all[1].clone()),
                ..ListGrantsRequest::default()
            },
        )
        .unwrap();
    assert_eq!(one.grants.len(), 1);
    // ListGrants needs kms:ListGrants; ListRetirableGrants an identity policy.
    assert_eq!(
        code(w.kms.list_grants(
            &w.app,
            ListGrantsRequest {
                key_id: key.clone(),
                ..ListGrantsRequest::default()
            }
        )),
        DENIED
    );
    assert_eq!(
        code(w.kms.list_retirable_grants(&w.app, &arn("ops"), None, None)),
        DENIED
    );
    let retirable = w
        .kms
        .list_retirable_grants(&w.admin, &arn("ops"), Some(2), None)
        .unwrap();
    assert_eq!(retirable.grants.len(), 2);
    let rest = w
        .kms
        .list_retirable_grants(
            &w.admin,
            &arn("ops"),
            Some(2),
            retirable.next_marker.as_deref(),
        )
        .unwrap();
    assert_eq!(rest.grants.len(), 1);
    assert_eq!(
        code(w.kms.list_grants(
            &w.admin,
            ListGrantsRequest {
                key_id: key,
                limit: Some(0),
                ..ListGrantsRequest::default()
            }
        )),
        "ValidationException"
    );
}

#[test]
fn validation_and_grant_tokens() {
    let w = World::new();
    let key = w.key();
    let bad = |mutate: &dyn Fn(&mut CreateGrantRequest)| {
        let mut req = w.grant(&key, &arn("app"), &["Encrypt"]);
        mutate(&mut req);
        code(w.kms.create_grant(&w.admin, req))
    };
    assert_eq!(
        bad(&|r| r.operations = vec!["Fly".into()]),
        "ValidationException"
    );
    assert_eq!(bad(&|r| r.operations.clear()), "ValidationException");
    assert_eq!(
        bad(&|r| r.name = Some("no spaces".into())),
        "ValidationException"
    );
    assert_eq!(
        bad(&|r| r.grantee_principal = String::new()),
        "ValidationException"
    );
    assert_eq!(
        bad(&|r| r.retiring_principal = Some("x".repeat(257))),
        "ValidationException"
    );
    assert_eq!(
        bad(&|r| r.constraints = subset(
            &(0..9)
                .map(|i| (
                    ["k0", "k1", "k2", "k3", "k4", "k5", "k6", "k7", "k8"][i],
                    "v"
                ))
                .collect::<Vec<_>>()
        )),
        "ValidationException"
    );
    assert_eq!(
        bad(&|r| r.key_id = "alias/nope".into()),
        "NotFoundException"
    );
    let g = w
        .kms
        .create_grant(&w.admin, w.grant(&key, &arn("app"), &["Encrypt"]))
        .unwrap();
    let token = g.grant_token.clone();
    // Too many tokens, an empty one, one too long: ValidationException.
    for tokens in [
        vec![token.clone(); 11],
        vec![String::new()],
        vec!["a".repeat(8_193)],
    ] {
        assert_eq!(
            code(w.encrypt(&w.admin, &key, &[], &tokens)),
            "ValidationException"
        );
    }
    // Not a token of ours, or altered: InvalidGrantTokenException, never quoting it.
    let mut altered = token.clone();
    let last = if altered.ends_with('0') { "1" } else { "0" };
    altered.replace_range(altered.len() - 1.., last);
    for t in ["garbage".to_string(), altered] {
        let err = w
            .encrypt(&w.admin, &key, &[], std::slice::from_ref(&t))
            .unwrap_err();
        assert_eq!(err.aws_code(), "InvalidGrantTokenException");
        assert!(!err.to_string().contains(&t));
        assert_eq!(
            code(w.retire_by_token(&w.admin, &t)),
            "InvalidGrantTokenException"
        );
    }
    assert_eq!(code(w.kms.describe_key(&w.admin, &key, &[token])), "OK");
}

#[test]
fn grantees_are_matched_exactly_or_as_role_sessions() {
    let role = "arn:aws:iam::111122223333:role/app";
    let session = "arn:aws:sts::111122223333:assumed-role/app/session-1";
    assert!(principal_matches(role, role));
    assert!(principal_matches(session, role));
    assert!(principal_matches(
        session,
        "arn:aws:iam::111122223333:role/team/app"
    ));
    assert!(!principal_matches(
        session,
        "arn:aws:iam::444455556666:role/app"
    ));
    assert!(!principal_matches(
        session,
        "arn:aws:iam::111122223333:role/other"
    ));
    assert!(!principal_matches(
        "arn:aws:iam::111122223333:user/App",
        "arn:aws:iam::111122223333:user/app"
    ));
}
