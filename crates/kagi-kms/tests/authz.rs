//! Authorization at the domain boundary: the real policy engine (`kagi-policy`) behind the
//! domain's combination of key policy and identity policies, over a `MemoryStore`.
//! Outcomes are AWS KMS's (key policies: "Default key policy", "Key policies"; the
//! AccessDeniedException message forms of the KMS Developer Guide).

use kagi_crypto::{DeterministicRng, RootKey, SecretBytes};
use kagi_kms::authz::{decide, Decision, Evaluation};
use kagi_kms::ops::encrypt::{DecryptRequest, EncryptRequest, EncryptionContext};
use kagi_kms::ops::key_policy::PutKeyPolicyRequest;
use kagi_kms::ops::keys::CreateKeyRequest;
use kagi_kms::{
    AccountId, Caller, Kms, KmsError, ManualClock, MemoryStore, Principal, Region, Tag, Timestamp,
};
use std::sync::Arc;

const ACCOUNT: &str = "111122223333";
const ACCESS_DENIED: &str = "AccessDeniedException";
const MALFORMED: &str = "MalformedPolicyDocumentException";

fn caller(user: &str, admin: bool) -> Caller {
    Caller {
        region: Region::parse("us-east-1").unwrap(),
        principal: Principal {
            account: AccountId::parse(ACCOUNT).unwrap(),
            arn: format!("arn:aws:iam::{ACCOUNT}:user/{user}"),
            user_name: user.into(),
            access_key_id: format!("KAGI{}", user.to_uppercase()),
            admin,
            role: None,
        },
        source_ip: Some("10.1.2.3".into()),
        secure_transport: false,
    }
}

struct World {
    kms: Kms,
    admin: Caller,
    alice: Caller,
}

impl World {
    fn new() -> Self {
        let kms = Kms::new(
            AccountId::parse(ACCOUNT).unwrap(),
            RootKey::from_secret(&SecretBytes::new(vec![7; 32])).unwrap(),
            Arc::new(MemoryStore::new()),
            Arc::new(ManualClock::new(Timestamp(1_700_000_000_000))),
            Arc::new(DeterministicRng::dangerous_for_tests_only(3)),
            Arc::new(kagi_policy::PolicyEngine),
        );
        World {
            kms,
            admin: caller("root-admin", true),
            alice: caller("alice", false),
        }
    }

    /// A key with `policy` (the default key policy when `None`), created by the admin.
    fn key(&self, policy: Option<String>) -> String {
        let req = CreateKeyRequest {
            policy,
            bypass_policy_lockout_safety_check: true,
            ..CreateKeyRequest::default()
        };
        let key = self.kms.create_key(&self.admin, req).unwrap();
        key.meta.key_id.to_string()
    }

    fn arn(&self, key: &str) -> String {
        format!("arn:aws:kms:us-east-1:{ACCOUNT}:key/{key}")
    }

    fn allow_alice(&self, name: &str, statements: &str) {
        let doc = format!(r#"{{"Version":"2012-10-17","Statement":[{statements}]}}"#);
        self.kms.put_user_policy("alice", name, &doc).unwrap();
    }

    fn encrypt(
        &self,
        c: &Caller,
        key: &str,
        context: &[(&str, &str)],
    ) -> Result<Vec<u8>, KmsError> {
        self.kms
            .encrypt(
                c,
                EncryptRequest {
                    key_id: key.into(),
                    plaintext: SecretBytes::from_slice(b"secret"),
                    context: ctx(context),
                    algorithm: None,
                    grant_tokens: Vec::new(),
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

fn message<T: std::fmt::Debug>(r: Result<T, KmsError>) -> String {
    r.unwrap_err().to_string()
}

fn key_policy(statements: &str) -> String {
    format!(r#"{{"Version":"2012-10-17","Statement":[{statements}]}}"#)
}

const ADMIN_STATEMENT: &str = r#"{"Sid":"admin","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:user/root-admin"},"Action":"kms:*","Resource":"*"}"#;

#[test]
fn the_default_key_policy_delegates_to_identity_policies() {
    let w = World::new();
    let key = w.key(None);
    let denied = w.encrypt(&w.alice, &key, &[]);
    assert_eq!(
        message(denied),
        format!(
            "User: arn:aws:iam::{ACCOUNT}:user/alice is not authorized to perform: kms:Encrypt \
             on resource: {} because no identity-based policy allows the kms:Encrypt action",
            w.arn(&key)
        )
    );
    w.allow_alice(
        "enc",
        &format!(
            r#"{{"Effect":"Allow","Action":"kms:Encrypt","Resource":"{}"}}"#,
            w.arn(&key)
        ),
    );
    let blob = w.encrypt(&w.alice, &key, &[]).unwrap();
    // Encrypt only: Decrypt is another action.
    assert_eq!(code(w.decrypt(&w.alice, &blob, &[])), ACCESS_DENIED);
    // And only that key.
    let other = w.key(None);
    assert_eq!(code(w.encrypt(&w.alice, &other, &[])), ACCESS_DENIED);
    // Operations on no key need an identity policy that allows them.
    let list = w.kms.list_keys(&w.alice, None, None);
    assert!(
        message(list).ends_with("because no identity-based policy allows the kms:ListKeys action")
    );
}

#[test]
fn a_key_policy_naming_the_user_needs_no_identity_policy() {
    let w = World::new();
    let key = w.key(Some(key_policy(&format!(
        r#"{ADMIN_STATEMENT},{{"Effect":"Allow","Principal":{{"AWS":"{}"}},"Action":["kms:Encrypt","kms:Decrypt"],"Resource":"*"}}"#,
        w.alice.principal.arn
    ))));
    let blob = w.encrypt(&w.alice, &key, &[]).unwrap();
    w.decrypt(&w.alice, &blob, &[]).unwrap();
    assert_eq!(code(w.kms.describe_key(&w.alice, &key, &[])), ACCESS_DENIED);
}

#[test]
fn without_the_account_statement_identity_policies_do_not_reach_the_key() {
    let w = World::new();
    let key = w.key(Some(key_policy(ADMIN_STATEMENT)));
    w.allow_alice(
        "all",
        r#"{"Effect":"Allow","Action":"kms:*","Resource":"*"}"#,
    );
    assert_eq!(code(w.encrypt(&w.alice, &key, &[])), ACCESS_DENIED);
    // The administrator's implicit identity access does not reach it either unless named.
    let other_admin = caller("other-admin", true);
    assert_eq!(
        code(w.kms.describe_key(&other_admin, &key, &[])),
        ACCESS_DENIED
    );
    w.kms.describe_key(&w.admin, &key, &[]).unwrap();
}

#[test]
fn an_explicit_deny_wins_over_every_allow() {
    let w = World::new();
    let key = w.key(Some(key_policy(&format!(
        r#"{ADMIN_STATEMENT},{{"Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{ACCOUNT}:root"}},"Action":"kms:*","Resource":"*"}},
           {{"Effect":"Deny","Principal":"*","Action":"kms:Decrypt","Resource":"*"}}"#
    ))));
    let blob = w.encrypt(&w.admin, &key, &[]).unwrap();
    let denied = w.decrypt(&w.admin, &blob, &[]);
    assert!(message(denied).ends_with("with an explicit deny in a resource-based policy"));

    w.allow_alice(
        "all",
        r#"{"Effect":"Allow","Action":"kms:*","Resource":"*"}"#,
    );
    w.allow_alice(
        "no-encrypt",
        r#"{"Effect":"Deny","Action":"kms:Encrypt","Resource":"*"}"#,
    );
    let denied = w.encrypt(&w.alice, &key, &[]);
    assert!(message(denied).ends_with("with an explicit deny in an identity-based policy"));
    // Removing the deny restores access at once (the cached policies are dropped).
    w.kms.delete_user_policy("alice", "no-encrypt").unwrap();
    w.encrypt(&w.alice, &key, &[]).unwrap();
}

#[test]
fn encryption_context_conditions_admit_one_context_and_refuse_another() {
    let w = World::new();
    let key = w.key(None);
    w.allow_alice(
        "ctx",
        r#"{"Effect":"Allow","Action":["kms:Encrypt","kms:Decrypt"],"Resource":"*",
            "Condition":{"StringEquals":{"kms:EncryptionContext:purpose":"backup"}}}"#,
    );
    let blob = w.encrypt(&w.alice, &key, &[("purpose", "backup")]).unwrap();
    w.decrypt(&w.alice, &blob, &[("purpose", "backup")])
        .unwrap();
    assert_eq!(
        code(w.encrypt(&w.alice, &key, &[("purpose", "other")])),
        ACCESS_DENIED
    );
    assert_eq!(code(w.encrypt(&w.alice, &key, &[])), ACCESS_DENIED);
    // As in AWS KMS, the context key in the condition key matches case-insensitively; the
    // value's case is the operator's (StringEquals: exact).
    w.encrypt(&w.alice, &key, &[("Purpose", "backup")]).unwrap();
    assert_eq!(
        code(w.encrypt(&w.alice, &key, &[("purpose", "Backup")])),
        ACCESS_DENIED
    );
}

#[test]
fn request_alias_and_resource_tag_conditions() {
    let w = World::new();
    let tagged = w
        .kms
        .create_key(
            &w.admin,
            CreateKeyRequest {
                tags: vec![Tag {
                    key: "team".into(),
                    value: "payments".into(),
                }],
                ..CreateKeyRequest::default()
            },
        )
        .unwrap()
        .meta
        .key_id
        .to_string();
    w.kms
        .create_alias(&w.admin, "alias/payments", &tagged)
        .unwrap();
    w.allow_alice(
        "by-alias",
        r#"{"Effect":"Allow","Action":"kms:Encrypt","Resource":"*",
            "Condition":{"StringEquals":{"kms:RequestAlias":"alias/payments"}}}"#,
    );
    w.encrypt(&w.alice, "alias/payments", &[]).unwrap();
    assert_eq!(code(w.encrypt(&w.alice, &tagged, &[])), ACCESS_DENIED);
    w.allow_alice(
        "by-tag",
        r#"{"Effect":"Allow","Action":"kms:DescribeKey","Resource":"*",
            "Condition":{"StringEquals":{"aws:ResourceTag/team":"payments"}}}"#,
    );
    w.kms.describe_key(&w.alice, &tagged, &[]).unwrap();
    let untagged = w.key(None);
    assert_eq!(
        code(w.kms.describe_key(&w.alice, &untagged, &[])),
        ACCESS_DENIED
    );
}

#[test]
fn put_key_policy_checks_grammar_and_lockout() {
    let w = World::new();
    let key = w.key(None);
    let put = |policy: &str, bypass: bool| {
        w.kms.put_key_policy(
            &w.admin,
            PutKeyPolicyRequest {
                key_id: key.clone(),
                policy_name: None,
                policy: policy.into(),
                bypass_policy_lockout_safety_check: bypass,
            },
        )
    };
    assert_eq!(code(put("{not json", false)), MALFORMED);
    assert_eq!(code(put(r#"{"Statement":[]}"#, false)), MALFORMED);
    let alice_only = key_policy(&format!(
        r#"{{"Effect":"Allow","Principal":{{"AWS":"{}"}},"Action":"kms:*","Resource":"*"}}"#,
        w.alice.principal.arn
    ));
    assert_eq!(
        message(put(&alice_only, false)),
        "The new key policy will not allow you to update the key policy in the future."
    );
    // Unchanged after the refusals.
    assert!(w
        .kms
        .get_key_policy(&w.admin, &key, None)
        .unwrap()
        .contains(":root"));
    put(&alice_only, true).unwrap();
    assert_eq!(
        code(w.kms.get_key_policy(&w.admin, &key, None)),
        ACCESS_DENIED
    );
    assert_eq!(
        w.kms
            .get_key_policy(&w.alice, &key, Some("default"))
            .unwrap(),
        alice_only
    );
    assert_eq!(
        w.kms.list_key_policies(&w.alice, &key).unwrap(),
        ["default"]
    );
    assert_eq!(
        code(w.kms.get_key_policy(&w.alice, &key, Some("other"))),
        "NotFoundException"
    );
}

#[test]
fn malformed_identity_policies_are_refused() {
    let w = World::new();
    let with_principal = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*"}]}"#;
    assert_eq!(
        code(w.kms.put_user_policy("alice", "p", with_principal)),
        MALFORMED
    );
    assert_eq!(code(w.kms.put_user_policy("alice", "p", "[]")), MALFORMED);
    assert_eq!(
        code(w.kms.put_user_policy("alice", "bad name!", "{}")),
        "ValidationException"
    );
    assert_eq!(
        code(w.kms.delete_user_policy("alice", "nope")),
        "NotFoundException"
    );
}

const DECISIONS: [Decision; 4] = [
    Decision::Deny,
    Decision::Allow,
    Decision::AllowAccount,
    Decision::NotApplicable,
];
const NOT_DENY: [Decision; 3] = [
    Decision::Allow,
    Decision::AllowAccount,
    Decision::NotApplicable,
];

/// How permissive a decision that is not a deny is.
fn rank(d: Decision) -> u8 {
    match d {
        Decision::NotApplicable => 0,
        Decision::AllowAccount => 1,
        Decision::Allow => 2,
        Decision::Deny => unreachable!("denies are not ranked"),
    }
}

// The combination has few inputs, so these properties are checked exhaustively, with a
// grant dimension (whether a grant on the key allows the request).

/// A deny in any policy is never overridden, not even by a grant.
#[test]
fn a_deny_is_never_overridden() {
    for other in DECISIONS {
        for has_key in [false, true] {
            for (granted, cross) in [(false, false), (true, false), (false, true), (true, true)] {
                for e in [
                    Evaluation {
                        key: Decision::Deny,
                        identity: other,
                    },
                    Evaluation {
                        key: other,
                        identity: Decision::Deny,
                    },
                ] {
                    assert!(
                        decide(e, has_key, cross, granted).is_err(),
                        "{e:?} has_key={has_key} cross={cross} granted={granted}"
                    );
                }
            }
        }
    }
}

/// Making any policy more permissive (adding an allow), or adding a grant, never removes
/// access.
#[test]
fn adding_an_allow_never_removes_access() {
    for (key, identity, more_key, more_identity) in NOT_DENY.iter().flat_map(|&a| {
        NOT_DENY.iter().flat_map(move |&b| {
            NOT_DENY
                .iter()
                .flat_map(move |&c| NOT_DENY.iter().map(move |&d| (a, b, c, d)))
        })
    }) {
        if rank(more_key) < rank(key) || rank(more_identity) < rank(identity) {
            continue;
        }
        for (granted, more_granted) in [(false, false), (false, true), (true, true)] {
            for (has_key, cross) in [(false, false), (true, false), (false, true), (true, true)] {
                let before = decide(Evaluation { key, identity }, has_key, cross, granted).is_ok();
                let after = decide(
                    Evaluation {
                        key: more_key,
                        identity: more_identity,
                    },
                    has_key,
                    cross,
                    more_granted,
                )
                .is_ok();
                assert!(
                    !before || after,
                    "{key:?}/{identity:?}/{granted} → {more_key:?}/{more_identity:?}/{more_granted} ({has_key}, {cross})"
                );
            }
        }
    }
}

/// A grant opens exactly the keys nothing denies (to the key's own account), and nothing
/// without a key.
#[test]
fn a_grant_allows_exactly_what_no_policy_denies() {
    for key in DECISIONS {
        for identity in DECISIONS {
            let e = Evaluation { key, identity };
            let no_deny = key != Decision::Deny && identity != Decision::Deny;
            assert_eq!(decide(e, true, false, true).is_ok(), no_deny, "{e:?}");
            assert_eq!(
                decide(e, false, false, true).is_ok(),
                decide(e, false, false, false).is_ok(),
                "{e:?}: grants need a key"
            );
        }
    }
}

mod roles {
    use super::*;
    use kagi_kms::ops::roles::SessionCheck;

    const TRUST_ACCOUNT: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"sts:AssumeRole"}]}"#;

    fn session_caller(w: &World, access_key_id: &str, token: &str) -> Caller {
        match w.kms.session_credential(access_key_id, token).unwrap() {
            SessionCheck::Valid(c) => Caller {
                principal: c.principal.clone(),
                ..caller("unused", false)
            },
            other => panic!("session not valid: {other:?}"),
        }
    }

    #[test]
    fn a_session_has_its_roles_policies_and_nothing_else() {
        let w = World::new();
        let key = w.key(None);
        w.kms.put_role("app", TRUST_ACCOUNT, None).unwrap();
        w.kms
            .put_role_policy(
                "app",
                "enc",
                r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:Encrypt","Resource":"*"}]}"#,
            )
            .unwrap();
        let arn = format!("arn:aws:iam::{ACCOUNT}:role/app");
        let s = w
            .kms
            .assume_role(&w.admin, &arn, "job-7", Some(900))
            .unwrap();
        assert!(s.access_key_id.starts_with("ASIA"));
        assert_eq!(
            s.arn,
            format!("arn:aws:sts::{ACCOUNT}:assumed-role/app/job-7")
        );
        let c = session_caller(&w, &s.access_key_id, &s.session_token);
        assert_eq!(c.principal.role.as_deref(), Some("app"));
        w.encrypt(&c, &key, &[]).unwrap();
        assert_eq!(code(w.kms.describe_key(&c, &key, &[])), ACCESS_DENIED);
        // The token is bound to its access key id.
        assert!(matches!(
            w.kms
                .session_credential("ASIAOTHERACCESSKEY00", &s.session_token)
                .unwrap(),
            SessionCheck::Invalid
        ));
        // Policy changes apply to live sessions at once; deleting the role ends them.
        w.kms.delete_role_policy("app", "enc").unwrap();
        assert_eq!(code(w.encrypt(&c, &key, &[])), ACCESS_DENIED);
        w.kms.delete_role("app").unwrap();
        assert!(matches!(
            w.kms
                .session_credential(&s.access_key_id, &s.session_token)
                .unwrap(),
            SessionCheck::Invalid
        ));
    }

    #[test]
    fn trust_policies_and_durations_are_enforced() {
        let w = World::new();
        let trust_bob = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:user/bob"},"Action":"sts:AssumeRole"}]}"#;
        w.kms.put_role("ops", trust_bob, Some(7200)).unwrap();
        let arn = format!("arn:aws:iam::{ACCOUNT}:role/ops");
        // Not trusted: the admin is not bob and the account is not named.
        assert_eq!(
            code(w.kms.assume_role(&w.admin, &arn, "s1", None)),
            ACCESS_DENIED
        );
        let bob = caller("bob", false);
        w.kms.assume_role(&bob, &arn, "s1", Some(7200)).unwrap();
        assert_eq!(
            code(w.kms.assume_role(&bob, &arn, "s1", Some(7201))),
            "ValidationException"
        );
        assert_eq!(
            code(w.kms.assume_role(&bob, &arn, "s1", Some(899))),
            "ValidationException"
        );
        // Trusting the account delegates to identity policies: alice needs sts:AssumeRole.
        w.kms.put_role("open", TRUST_ACCOUNT, None).unwrap();
        let open = format!("arn:aws:iam::{ACCOUNT}:role/open");
        assert_eq!(
            code(w.kms.assume_role(&w.alice, &open, "s1", None)),
            ACCESS_DENIED
        );
        w.allow_alice(
            "assume",
            &format!(r#"{{"Effect":"Allow","Action":"sts:AssumeRole","Resource":"{open}"}}"#),
        );
        w.kms.assume_role(&w.alice, &open, "s1", None).unwrap();
        // A trust policy must name principals.
        assert_eq!(
            code(w.kms.put_role(
                "bad",
                r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"sts:AssumeRole"}]}"#,
                None
            )),
            MALFORMED
        );
    }

    #[test]
    fn sessions_expire() {
        let clock = Arc::new(ManualClock::new(Timestamp(1_700_000_000_000)));
        let kms = Kms::new(
            AccountId::parse(ACCOUNT).unwrap(),
            RootKey::from_secret(&SecretBytes::new(vec![7; 32])).unwrap(),
            Arc::new(MemoryStore::new()),
            clock.clone(),
            Arc::new(DeterministicRng::dangerous_for_tests_only(5)),
            Arc::new(kagi_policy::PolicyEngine),
        );
        kms.put_role("app", TRUST_ACCOUNT, None).unwrap();
        let arn = format!("arn:aws:iam::{ACCOUNT}:role/app");
        let s = kms
            .assume_role(&caller("root-admin", true), &arn, "s1", Some(900))
            .unwrap();
        clock.advance_millis(899_999);
        assert!(matches!(
            kms.session_credential(&s.access_key_id, &s.session_token)
                .unwrap(),
            SessionCheck::Valid(_)
        ));
        clock.advance_millis(1);
        assert!(matches!(
            kms.session_credential(&s.access_key_id, &s.session_token)
                .unwrap(),
            SessionCheck::Expired
        ));
    }
}

mod cross_account {
    use super::*;

    const OTHER: &str = "222222222222";

    fn bob() -> Caller {
        Caller {
            principal: Principal {
                account: AccountId::parse(OTHER).unwrap(),
                arn: format!("arn:aws:iam::{OTHER}:user/bob"),
                user_name: "bob".into(),
                access_key_id: "KAGIBOB".into(),
                admin: false,
                role: None,
            },
            ..caller("unused", false)
        }
    }

    fn allow_bob_encrypt(w: &World) {
        w.kms
            .put_user_policy(
                "bob",
                "enc",
                r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["kms:Encrypt","kms:ListKeys"],"Resource":"*"}]}"#,
            )
            .unwrap();
    }

    #[test]
    fn another_account_uses_a_key_only_when_both_sides_allow() {
        let w = World::new();
        let bob = bob();
        // The default key policy trusts only the key's own account.
        let default_key = w.key(None);
        allow_bob_encrypt(&w);
        assert_eq!(
            code(w.encrypt(&bob, &w.arn(&default_key), &[])),
            ACCESS_DENIED
        );

        // The key policy trusts account 222222222222: bob's own policy decides.
        let shared = w.key(Some(key_policy(&format!(
            r#"{ADMIN_STATEMENT},{{"Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{OTHER}:root"}},"Action":"kms:Encrypt","Resource":"*"}}"#
        ))));
        w.encrypt(&bob, &w.arn(&shared), &[]).unwrap();
        w.kms.delete_user_policy("bob", "enc").unwrap();
        let denied = w.encrypt(&bob, &w.arn(&shared), &[]);
        assert!(message(denied)
            .ends_with("because no identity-based policy allows the kms:Encrypt action"));

        // Naming bob himself in the key policy is not enough either: his account must agree.
        let named = w.key(Some(key_policy(&format!(
            r#"{ADMIN_STATEMENT},{{"Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{OTHER}:user/bob"}},"Action":"kms:Encrypt","Resource":"*"}}"#
        ))));
        assert_eq!(code(w.encrypt(&bob, &w.arn(&named), &[])), ACCESS_DENIED);
        allow_bob_encrypt(&w);
        w.encrypt(&bob, &w.arn(&named), &[]).unwrap();

        // This installation holds no keys of account 222222222222.
        let list = w.kms.list_keys(&bob, None, None);
        assert!(message(list).contains("has no keys in this installation"));
    }

    #[test]
    fn users_of_another_account_are_created_with_it() {
        let w = World::new();
        let other = AccountId::parse(OTHER).unwrap();
        let key = w
            .kms
            .create_access_key("bob", false, Some(other.clone()))
            .unwrap();
        assert_eq!(key.record.account, Some(other.clone()));
        let cred = w
            .kms
            .credential(&key.record.access_key_id)
            .unwrap()
            .unwrap();
        assert_eq!(cred.principal.arn, format!("arn:aws:iam::{OTHER}:user/bob"));
        assert_eq!(cred.principal.account, other);
        // The installation's own account is stored as "none".
        let home = AccountId::parse(ACCOUNT).unwrap();
        let own = w.kms.create_access_key("carol", false, Some(home)).unwrap();
        assert_eq!(own.record.account, None);
        // A user name belongs to one account; administrators to the installation's.
        assert_eq!(
            code(w.kms.create_access_key("bob", false, None)),
            "ValidationException"
        );
        assert_eq!(
            code(w.kms.create_access_key("eve", true, Some(other))),
            "ValidationException"
        );
    }
}

#[test]
fn resource_aliases_condition_follows_the_keys_aliases() {
    let w = World::new();
    let key = w.key(None);
    let other = w.key(None);
    w.kms
        .create_alias(&w.admin, "alias/payments", &key)
        .unwrap();
    w.allow_alice(
        "by-alias",
        r#"{"Effect":"Allow","Action":"kms:Encrypt","Resource":"*",
            "Condition":{"ForAnyValue:StringEquals":{"kms:ResourceAliases":"alias/payments"}}}"#,
    );
    // By key id: the key's aliases, not the request's KeyId, decide.
    w.encrypt(&w.alice, &key, &[]).unwrap();
    assert_eq!(code(w.encrypt(&w.alice, &other, &[])), ACCESS_DENIED);
    w.kms.delete_alias(&w.admin, "alias/payments").unwrap();
    assert_eq!(code(w.encrypt(&w.alice, &key, &[])), ACCESS_DENIED);
}

#[test]
fn principal_tag_conditions_follow_the_callers_tags() {
    use kagi_kms::PrincipalRef;
    let w = World::new();
    let key = w.key(None);
    // alice must exist as a user (an access key) to be tagged.
    w.kms.create_access_key("alice", false, None).unwrap();
    w.allow_alice(
        "team",
        r#"{"Effect":"Allow","Action":"kms:Encrypt","Resource":"*",
            "Condition":{"StringEquals":{"aws:PrincipalTag/team":"payments"}}}"#,
    );
    assert_eq!(code(w.encrypt(&w.alice, &key, &[])), ACCESS_DENIED);
    let alice = PrincipalRef::User("alice".into());
    w.kms
        .tag_principal(
            &alice,
            vec![Tag {
                key: "team".into(),
                value: "payments".into(),
            }],
        )
        .unwrap();
    w.encrypt(&w.alice, &key, &[]).unwrap();
    w.kms
        .untag_principal(&alice, &["team".to_string()])
        .unwrap();
    assert_eq!(code(w.encrypt(&w.alice, &key, &[])), ACCESS_DENIED);
    // Unknown users and roles cannot be tagged.
    assert_eq!(
        code(
            w.kms
                .tag_principal(&PrincipalRef::User("nobody".into()), vec![])
        ),
        "NotFoundException"
    );
    assert_eq!(
        code(w.kms.principal_tags_of(&PrincipalRef::Role("nope".into()))),
        "NotFoundException"
    );
}
