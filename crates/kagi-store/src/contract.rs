//! The store contract: behaviour every [`Store`] backend must show. Each backend's tests
//! call [`run_all`] with a factory for fresh, empty stores.

use kagi_kms::{
    AccessKeyRecord, AccessKeyStatus, AliasName, AliasRecord, GrantConstraints, GrantOperation,
    GrantRecord, KeyId, KeyMetadata, KeyState, Region, RotationType, Store, StoreError,
    StoredVersion, Tag, Timestamp, UserPolicyRecord, Write,
};
use std::collections::BTreeMap;

fn region(s: &str) -> Region {
    Region::parse(s).expect("test region is valid")
}

fn key(n: u8, r: &str) -> KeyMetadata {
    let mut id = [0u8; 16];
    id[15] = n;
    KeyMetadata {
        region: region(r),
        key_id: KeyId::from_bytes(id),
        created_at: Timestamp(1_000),
        description: format!("key {n}"),
        state: KeyState::Enabled,
        deletion_date: None,
        pending_window_days: None,
        policy: "{}".into(),
        rotation_period_days: None,
        next_rotation: None,
        tags: vec![Tag {
            key: "team".into(),
            value: "kagi".into(),
        }],
    }
}

fn version(v: u32) -> StoredVersion {
    StoredVersion {
        version: v,
        created_at: Timestamp(2_000 + i64::from(v)),
        rotation: (v > 1).then_some(RotationType::OnDemand),
        wrapped: vec![v as u8; 61],
    }
}

fn put_key(store: &dyn Store, m: &KeyMetadata) {
    store
        .apply(vec![
            Write::PutKey(m.clone()),
            Write::AddVersion {
                region: m.region.clone(),
                key_id: m.key_id,
                version: version(1),
            },
        ])
        .expect("put key");
}

/// Runs every contract check, each on a fresh store from `fresh`.
pub fn run_all(fresh: &mut dyn FnMut() -> Box<dyn Store>) {
    keys_round_trip_and_update(fresh().as_ref());
    keys_are_regional_and_listed_in_order(fresh().as_ref());
    batches_are_atomic(fresh().as_ref());
    references_must_exist(fresh().as_ref());
    aliases(fresh().as_ref());
    destroy_removes_versions_and_aliases(fresh().as_ref());
    due_queries(fresh().as_ref());
    access_keys_and_settings(fresh().as_ref());
    user_policies_round_trip_and_replace(fresh().as_ref());
    user_policies_are_ordered_and_per_user(fresh().as_ref());
    user_policies_delete(fresh().as_ref());
    user_policies_in_failed_batches_are_not_applied(fresh().as_ref());
    wipe(fresh().as_ref());
    grants_round_trip_per_key(fresh().as_ref());
    grants_need_their_key_and_unique_ids(fresh().as_ref());
    retirable_grants_are_listed_in_pages(fresh().as_ref());
    grants_go_with_their_key(fresh().as_ref());
}

fn grant(n: u8, key: &KeyMetadata, retiring: Option<&str>) -> GrantRecord {
    GrantRecord {
        region: key.region.clone(),
        key_id: key.key_id,
        grant_id: format!("{n:02x}").repeat(32),
        name: n.is_multiple_of(2).then(|| format!("name-{n}")),
        grantee_principal: "arn:aws:iam::111122223333:user/app".into(),
        retiring_principal: retiring.map(str::to_string),
        issuing_principal: "arn:aws:iam::111122223333:user/admin".into(),
        operations: vec![GrantOperation::Decrypt, GrantOperation::RetireGrant],
        constraints: n.is_multiple_of(3).then(|| GrantConstraints {
            encryption_context_equals: None,
            encryption_context_subset: Some(BTreeMap::from([(
                "Dept".to_string(),
                "IT".to_string(),
            )])),
        }),
        created_at: Timestamp(5_000 + i64::from(n)),
        token_secret: vec![n; 32],
    }
}

fn put_grant(s: &dyn Store, g: &GrantRecord) {
    s.apply(vec![Write::PutGrant(g.clone())])
        .expect("put grant");
}

fn grants_round_trip_per_key(s: &dyn Store) {
    let (k1, k2) = (key(1, "us-east-1"), key(2, "us-east-1"));
    put_key(s, &k1);
    put_key(s, &k2);
    let (a, b, c) = (
        grant(9, &k1, None),
        grant(3, &k1, Some("r")),
        grant(6, &k2, None),
    );
    for g in [&a, &b, &c] {
        put_grant(s, g);
    }
    assert_eq!(
        s.grants(&k1.region, &k1.key_id).unwrap(),
        vec![b.clone(), a.clone()],
        "a key's grants, by grant id"
    );
    assert_eq!(s.grants(&k2.region, &k2.key_id).unwrap(), vec![c.clone()]);
    assert_eq!(
        s.grant(&k1.region, &k1.key_id, &a.grant_id).unwrap(),
        Some(a.clone())
    );
    assert_eq!(
        s.grant(&k2.region, &k2.key_id, &a.grant_id).unwrap(),
        None,
        "a grant is found only on its own key"
    );
    // Deleting through the wrong key does nothing; deleting twice is no error.
    for _ in 0..2 {
        for key in [&k2, &k1] {
            s.apply(vec![Write::DeleteGrant {
                region: key.region.clone(),
                key_id: key.key_id,
                grant_id: a.grant_id.clone(),
            }])
            .unwrap();
        }
    }
    assert_eq!(s.grants(&k1.region, &k1.key_id).unwrap(), vec![b]);
    assert_eq!(s.grants(&k2.region, &k2.key_id).unwrap(), vec![c]);
}

fn grants_need_their_key_and_unique_ids(s: &dyn Store) {
    let k = key(1, "us-east-1");
    let missing = key(7, "us-east-1");
    put_key(s, &k);
    let g = grant(1, &k, None);
    put_grant(s, &g);
    let again = s.apply(vec![Write::PutGrant(g.clone())]);
    assert!(matches!(again, Err(StoreError::Conflict)), "{again:?}");
    assert!(s
        .apply(vec![Write::PutGrant(grant(2, &missing, None))])
        .is_err());
    // A failed batch leaves no grant behind.
    let r = s.apply(vec![
        Write::PutGrant(grant(4, &k, None)),
        Write::PutGrant(g.clone()),
    ]);
    assert!(r.is_err());
    assert_eq!(s.grants(&k.region, &k.key_id).unwrap(), vec![g]);
}

fn retirable_grants_are_listed_in_pages(s: &dyn Store) {
    let (k1, k2) = (key(1, "us-east-1"), key(2, "eu-west-1"));
    put_key(s, &k1);
    put_key(s, &k2);
    let retiring = "arn:aws:iam::111122223333:user/ops";
    let mine = [
        grant(5, &k1, Some(retiring)),
        grant(1, &k2, Some(retiring)),
        grant(3, &k1, Some(retiring)),
    ];
    for g in &mine {
        put_grant(s, g);
    }
    put_grant(
        s,
        &grant(2, &k1, Some("arn:aws:iam::111122223333:user/other")),
    );
    put_grant(s, &grant(4, &k1, None));
    let ids = |after: Option<&str>, limit| -> Vec<String> {
        s.retirable_grants(retiring, after, limit)
            .unwrap()
            .into_iter()
            .map(|g| g.grant_id)
            .collect()
    };
    let all = ids(None, 10);
    assert_eq!(
        all,
        [&mine[1], &mine[2], &mine[0]]
            .iter()
            .map(|g| g.grant_id.clone())
            .collect::<Vec<_>>(),
        "every region, by grant id"
    );
    assert_eq!(ids(None, 2), all[..2]);
    assert_eq!(ids(Some(&all[1]), 2), all[2..]);
    assert!(s.retirable_grants("nobody", None, 10).unwrap().is_empty());
    assert_eq!(
        s.retirable_grants(retiring, None, 1).unwrap()[0],
        mine[1],
        "records round-trip"
    );
}

fn grants_go_with_their_key(s: &dyn Store) {
    let (k1, k2) = (key(1, "us-east-1"), key(2, "us-east-1"));
    put_key(s, &k1);
    put_key(s, &k2);
    put_grant(s, &grant(1, &k1, Some("r")));
    put_grant(s, &grant(2, &k2, Some("r")));
    s.apply(vec![Write::DestroyKey {
        region: k1.region.clone(),
        key_id: k1.key_id,
    }])
    .unwrap();
    assert!(s.grants(&k1.region, &k1.key_id).unwrap().is_empty());
    assert_eq!(s.retirable_grants("r", None, 10).unwrap().len(), 1);
    s.apply(vec![Write::WipeKeys]).unwrap();
    assert!(s.grants(&k2.region, &k2.key_id).unwrap().is_empty());
    assert!(s.retirable_grants("r", None, 10).unwrap().is_empty());
}

fn keys_round_trip_and_update(s: &dyn Store) {
    let m = key(1, "us-east-1");
    put_key(s, &m);
    let got = s.load_key(&m.region, &m.key_id).unwrap().unwrap();
    assert_eq!(got.meta, m);
    assert_eq!(got.versions, vec![version(1)]);
    let mut changed = m.clone();
    changed.state = KeyState::Disabled;
    changed.description = "changed".into();
    s.apply(vec![
        Write::PutKey(changed.clone()),
        Write::AddVersion {
            region: m.region.clone(),
            key_id: m.key_id,
            version: version(2),
        },
    ])
    .unwrap();
    let got = s.load_key(&m.region, &m.key_id).unwrap().unwrap();
    assert_eq!(got.meta, changed);
    assert_eq!(
        got.versions,
        vec![version(1), version(2)],
        "update keeps versions"
    );
}

fn keys_are_regional_and_listed_in_order(s: &dyn Store) {
    for n in [3, 1, 2] {
        put_key(s, &key(n, "us-east-1"));
    }
    put_key(s, &key(9, "eu-west-1"));
    let east = region("us-east-1");
    let all = s.list_keys(&east, None, 10).unwrap();
    assert_eq!(
        all,
        vec![key(1, "x").key_id, key(2, "x").key_id, key(3, "x").key_id]
    );
    let page = s.list_keys(&east, Some(&all[0]), 1).unwrap();
    assert_eq!(page, vec![all[1]]);
    assert!(s.load_key(&region("eu-west-1"), &all[0]).unwrap().is_none());
}

fn batches_are_atomic(s: &dyn Store) {
    let m = key(1, "us-east-1");
    put_key(s, &m);
    let name = AliasName::parse("alias/a").unwrap();
    let alias = AliasRecord {
        region: m.region.clone(),
        name: name.clone(),
        target: m.key_id,
        created_at: Timestamp(1),
        updated_at: Timestamp(1),
    };
    s.apply(vec![Write::CreateAlias(alias.clone())]).unwrap();
    // The second write conflicts, so the first must not be visible either.
    let other = key(2, "us-east-1");
    let r = s.apply(vec![
        Write::PutKey(other.clone()),
        Write::CreateAlias(alias),
    ]);
    assert!(matches!(r, Err(StoreError::Conflict)), "{r:?}");
    assert!(s.load_key(&other.region, &other.key_id).unwrap().is_none());
}

/// Versions and aliases belong to an existing key; a batch that breaks that fails whole.
fn references_must_exist(s: &dyn Store) {
    let m = key(1, "us-east-1");
    let ghost = key(2, "us-east-1");
    let add_ghost_version = Write::AddVersion {
        region: ghost.region.clone(),
        key_id: ghost.key_id,
        version: version(1),
    };
    assert!(s.apply(vec![add_ghost_version]).is_err());
    let r = s.apply(vec![
        Write::PutKey(m.clone()),
        Write::CreateAlias(AliasRecord {
            region: m.region.clone(),
            name: AliasName::parse("alias/ghost").unwrap(),
            target: ghost.key_id,
            created_at: Timestamp(1),
            updated_at: Timestamp(1),
        }),
    ]);
    assert!(r.is_err(), "an alias to a missing key must fail");
    let left = s.load_key(&m.region, &m.key_id).unwrap();
    assert!(left.is_none(), "the failed batch left its key behind");
    put_key(s, &m);
    let again = Write::AddVersion {
        region: m.region.clone(),
        key_id: m.key_id,
        version: version(1),
    };
    assert!(s.apply(vec![again]).is_err(), "versions are never replaced");
    let kept = s.load_key(&m.region, &m.key_id).unwrap().unwrap();
    assert_eq!(kept.versions, vec![version(1)]);
}

fn aliases(s: &dyn Store) {
    let a = key(1, "us-east-1");
    let b = key(2, "us-east-1");
    put_key(s, &a);
    put_key(s, &b);
    let r = a.region.clone();
    for (n, target) in [
        ("alias/z", a.key_id),
        ("alias/m", b.key_id),
        ("alias/a", a.key_id),
    ] {
        s.apply(vec![Write::CreateAlias(AliasRecord {
            region: r.clone(),
            name: AliasName::parse(n).unwrap(),
            target,
            created_at: Timestamp(5),
            updated_at: Timestamp(5),
        })])
        .unwrap();
    }
    let names = |v: Vec<AliasRecord>| {
        v.into_iter()
            .map(|a| a.name.to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        names(s.list_aliases(&r, None, None, 10).unwrap()),
        ["alias/a", "alias/m", "alias/z"]
    );
    assert_eq!(
        names(s.list_aliases(&r, Some(&a.key_id), None, 10).unwrap()),
        ["alias/a", "alias/z"]
    );
    let after = AliasName::parse("alias/a").unwrap();
    assert_eq!(
        names(s.list_aliases(&r, None, Some(&after), 1).unwrap()),
        ["alias/m"]
    );
    let m = AliasName::parse("alias/m").unwrap();
    let mut rec = s.alias(&r, &m).unwrap().unwrap();
    rec.target = a.key_id;
    rec.updated_at = Timestamp(9);
    s.apply(vec![Write::UpdateAlias(rec.clone())]).unwrap();
    assert_eq!(s.alias(&r, &m).unwrap().unwrap(), rec);
    s.apply(vec![Write::DeleteAlias {
        region: r.clone(),
        name: m.clone(),
    }])
    .unwrap();
    assert!(s.alias(&r, &m).unwrap().is_none());
    assert!(s.alias(&region("eu-west-1"), &after).unwrap().is_none());
}

fn destroy_removes_versions_and_aliases(s: &dyn Store) {
    let m = key(1, "us-east-1");
    put_key(s, &m);
    let name = AliasName::parse("alias/gone").unwrap();
    s.apply(vec![Write::CreateAlias(AliasRecord {
        region: m.region.clone(),
        name: name.clone(),
        target: m.key_id,
        created_at: Timestamp(1),
        updated_at: Timestamp(1),
    })])
    .unwrap();
    s.apply(vec![Write::DestroyKey {
        region: m.region.clone(),
        key_id: m.key_id,
    }])
    .unwrap();
    assert!(s.load_key(&m.region, &m.key_id).unwrap().is_none());
    assert!(s.alias(&m.region, &name).unwrap().is_none());
    // Re-creating the same id starts with no leftover versions.
    put_key(s, &m);
    assert_eq!(
        s.load_key(&m.region, &m.key_id)
            .unwrap()
            .unwrap()
            .versions
            .len(),
        1
    );
}

fn due_queries(s: &dyn Store) {
    let mut a = key(1, "us-east-1");
    a.state = KeyState::PendingDeletion;
    a.deletion_date = Some(Timestamp(100));
    let mut b = key(2, "us-east-1");
    b.next_rotation = Some(Timestamp(200));
    put_key(s, &a);
    put_key(s, &b);
    assert!(s.due_for_deletion(Timestamp(99)).unwrap().is_empty());
    assert_eq!(
        s.due_for_deletion(Timestamp(100)).unwrap(),
        vec![(a.region.clone(), a.key_id)]
    );
    assert!(s.due_for_rotation(Timestamp(199)).unwrap().is_empty());
    assert_eq!(
        s.due_for_rotation(Timestamp(500)).unwrap(),
        vec![(b.region.clone(), b.key_id)]
    );
}

fn access_keys_and_settings(s: &dyn Store) {
    let rec = AccessKeyRecord {
        access_key_id: "KAGIAAAA".into(),
        user_name: "alice".into(),
        status: AccessKeyStatus::Active,
        created_at: Timestamp(3),
        admin: false,
        wrapped_secret: vec![1, 2, 3],
    };
    s.apply(vec![Write::PutAccessKey(rec.clone())]).unwrap();
    assert!(matches!(
        s.apply(vec![Write::PutAccessKey(rec.clone())]),
        Err(StoreError::Conflict)
    ));
    assert_eq!(s.access_key("KAGIAAAA").unwrap().unwrap(), rec);
    s.apply(vec![Write::SetAccessKeyStatus {
        access_key_id: "KAGIAAAA".into(),
        status: AccessKeyStatus::Inactive,
    }])
    .unwrap();
    assert_eq!(
        s.access_key("KAGIAAAA").unwrap().unwrap().status,
        AccessKeyStatus::Inactive
    );
    assert_eq!(s.list_access_keys().unwrap().len(), 1);
    s.apply(vec![Write::DeleteAccessKey {
        access_key_id: "KAGIAAAA".into(),
    }])
    .unwrap();
    assert!(s.access_key("KAGIAAAA").unwrap().is_none());
    assert!(s.setting("account_id").unwrap().is_none());
    s.apply(vec![Write::PutSetting {
        name: "account_id".into(),
        value: "111122223333".into(),
    }])
    .unwrap();
    s.apply(vec![Write::PutSetting {
        name: "account_id".into(),
        value: "444455556666".into(),
    }])
    .unwrap();
    assert_eq!(
        s.setting("account_id").unwrap().as_deref(),
        Some("444455556666")
    );
}

fn user_policy(user: &str, name: &str, document: &str, at: i64) -> UserPolicyRecord {
    UserPolicyRecord {
        user_name: user.into(),
        policy_name: name.into(),
        document: document.into(),
        updated_at: Timestamp(at),
    }
}

fn put_user_policy(s: &dyn Store, p: &UserPolicyRecord) {
    s.apply(vec![Write::PutUserPolicy(p.clone())])
        .expect("put user policy");
}

fn user_policies_round_trip_and_replace(s: &dyn Store) {
    assert!(s.user_policies("alice").unwrap().is_empty());
    let p = user_policy(
        "alice",
        "EncryptOnly",
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:Encrypt","Resource":"*"}]}"#,
        10,
    );
    put_user_policy(s, &p);
    assert_eq!(s.user_policies("alice").unwrap(), vec![p.clone()]);
    // The same name again replaces document and time; it does not add a second policy.
    let replaced = user_policy(
        "alice",
        "EncryptOnly",
        r#"{"Version":"2012-10-17","Statement":[]}"#,
        20,
    );
    put_user_policy(s, &replaced);
    assert_eq!(s.user_policies("alice").unwrap(), vec![replaced]);
}

fn user_policies_are_ordered_and_per_user(s: &dyn Store) {
    for name in ["Zeta", "alpha", "Beta", "B"] {
        put_user_policy(s, &user_policy("alice", name, "{}", 1));
    }
    // Users whose names share a prefix, or sort next to each other, are kept apart.
    put_user_policy(s, &user_policy("ali", "Other", "{}", 2));
    put_user_policy(s, &user_policy("alicf", "Other", "{}", 3));
    let names = |user: &str| {
        s.user_policies(user)
            .unwrap()
            .into_iter()
            .map(|p| {
                assert_eq!(p.user_name, user);
                p.policy_name
            })
            .collect::<Vec<_>>()
    };
    // Bytewise order, as everywhere in the store: upper case before lower case.
    assert_eq!(names("alice"), ["B", "Beta", "Zeta", "alpha"]);
    assert_eq!(names("ali"), ["Other"]);
    assert_eq!(names("alicf"), ["Other"]);
    assert!(names("bob").is_empty());
    assert!(names("Alice").is_empty(), "user names are case sensitive");
}

fn user_policies_delete(s: &dyn Store) {
    put_user_policy(s, &user_policy("alice", "A", "{}", 1));
    put_user_policy(s, &user_policy("alice", "B", "{}", 1));
    put_user_policy(s, &user_policy("bob", "A", "{}", 1));
    s.apply(vec![Write::DeleteUserPolicy {
        user_name: "alice".into(),
        policy_name: "A".into(),
    }])
    .unwrap();
    assert_eq!(
        s.user_policies("alice").unwrap(),
        vec![user_policy("alice", "B", "{}", 1)]
    );
    assert_eq!(
        s.user_policies("bob").unwrap(),
        vec![user_policy("bob", "A", "{}", 1)],
        "deleting one user's policy leaves another's of the same name"
    );
    // Deleting what is not there (again, or a user without policies) is not an error.
    for (user, name) in [("alice", "A"), ("carol", "A")] {
        s.apply(vec![Write::DeleteUserPolicy {
            user_name: user.into(),
            policy_name: name.into(),
        }])
        .unwrap();
    }
    assert_eq!(s.user_policies("alice").unwrap().len(), 1);
}

fn user_policies_in_failed_batches_are_not_applied(s: &dyn Store) {
    let kept = user_policy("alice", "Kept", "{}", 1);
    let access = AccessKeyRecord {
        access_key_id: "KAGIPOLICY".into(),
        user_name: "alice".into(),
        status: AccessKeyStatus::Active,
        created_at: Timestamp(1),
        admin: false,
        wrapped_secret: vec![1],
    };
    s.apply(vec![
        Write::PutUserPolicy(kept.clone()),
        Write::PutAccessKey(access.clone()),
    ])
    .unwrap();
    // The duplicate access key fails the batch, so neither policy write may show.
    let r = s.apply(vec![
        Write::PutUserPolicy(user_policy("alice", "New", "{}", 2)),
        Write::DeleteUserPolicy {
            user_name: "alice".into(),
            policy_name: "Kept".into(),
        },
        Write::PutAccessKey(access),
    ]);
    assert!(matches!(r, Err(StoreError::Conflict)), "{r:?}");
    assert_eq!(s.user_policies("alice").unwrap(), vec![kept]);
}

fn wipe(s: &dyn Store) {
    let m = key(1, "us-east-1");
    put_key(s, &m);
    let policy = user_policy("alice", "Keep", "{}", 4);
    put_user_policy(s, &policy);
    s.apply(vec![Write::PutSetting {
        name: "keep".into(),
        value: "1".into(),
    }])
    .unwrap();
    s.apply(vec![Write::WipeKeys]).unwrap();
    assert!(s.list_keys(&m.region, None, 10).unwrap().is_empty());
    assert_eq!(s.setting("keep").unwrap().as_deref(), Some("1"));
    assert_eq!(
        s.user_policies("alice").unwrap(),
        vec![policy],
        "wiping keys keeps user policies"
    );
}
