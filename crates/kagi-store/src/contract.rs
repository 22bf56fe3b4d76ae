//! The store contract: behaviour every [`Store`] backend must show. Each backend's tests
//! call [`run_all`] with a factory for fresh, empty stores.

use kagi_kms::{
    AccessKeyRecord, AccessKeyStatus, AccountId, AliasName, AliasRecord, GrantConstraints,
    GrantOperation, GrantRecord, KeyId, KeyMetadata, KeyState, PrincipalRef, Region,
    RolePolicyRecord, RoleRecord, RotationType, Store, StoreError, StoredVersion, Tag, Timestamp,
    UserPolicyRecord, Write,
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
        revision: 1,
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
    key_writes_check_the_revision(fresh().as_ref());
    settings_can_be_written_once(fresh().as_ref());
    keys_are_regional_and_listed_in_order(fresh().as_ref());
    batches_are_atomic(fresh().as_ref());
    references_must_exist(fresh().as_ref());
    aliases(fresh().as_ref());
    destroy_removes_versions_and_aliases(fresh().as_ref());
    due_queries(fresh().as_ref());
    access_keys_and_settings(fresh().as_ref());
    access_keys_keep_their_account(fresh().as_ref());
    user_policies_round_trip_and_replace(fresh().as_ref());
    user_policies_are_ordered_and_per_user(fresh().as_ref());
    user_policies_delete(fresh().as_ref());
    user_policies_in_failed_batches_are_not_applied(fresh().as_ref());
    roles_round_trip_and_replace(fresh().as_ref());
    roles_are_listed_by_name(fresh().as_ref());
    role_policies_round_trip_and_replace(fresh().as_ref());
    role_policies_are_ordered_and_per_role(fresh().as_ref());
    role_policies_delete(fresh().as_ref());
    delete_role_removes_its_policies(fresh().as_ref());
    role_writes_in_failed_batches_are_not_applied(fresh().as_ref());
    principal_tags_round_trip_ordered_by_key(fresh().as_ref());
    principal_tags_are_replaced_whole(fresh().as_ref());
    users_and_roles_of_one_name_have_separate_tags(fresh().as_ref());
    delete_role_removes_its_tags(fresh().as_ref());
    principal_tags_survive_wiping_keys(fresh().as_ref());
    principal_tag_writes_in_failed_batches_are_not_applied(fresh().as_ref());
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
        revision: 1,
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
    changed.revision = 2;
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

/// A change of a key applies only over the revision it follows, so that a node working
/// from an outdated copy cannot overwrite a newer change (nor bring a destroyed key back).
fn key_writes_check_the_revision(s: &dyn Store) {
    let m = key(1, "us-east-1");
    put_key(s, &m);
    assert!(
        matches!(
            s.apply(vec![Write::PutKey(m.clone())]),
            Err(StoreError::Conflict)
        ),
        "creating an existing key"
    );
    let mut second = m.clone();
    second.description = "second".into();
    second.revision = 2;
    s.apply(vec![Write::PutKey(second.clone())]).unwrap();
    // Another writer's change based on revision 1 (as revision 2) is refused whole.
    let mut stale = m.clone();
    stale.state = KeyState::Disabled;
    stale.revision = 2;
    let r = s.apply(vec![
        Write::PutKey(stale),
        Write::AddVersion {
            region: m.region.clone(),
            key_id: m.key_id,
            version: version(2),
        },
    ]);
    assert!(matches!(r, Err(StoreError::Stale)), "{r:?}");
    let got = s.load_key(&m.region, &m.key_id).unwrap().unwrap();
    assert_eq!(got.meta, second);
    assert_eq!(got.versions.len(), 1, "the stale batch added nothing");
    // Skipping a revision is refused too.
    let mut ahead = second.clone();
    ahead.revision = 4;
    assert!(matches!(
        s.apply(vec![Write::PutKey(ahead)]),
        Err(StoreError::Stale)
    ));
    // Destroying needs the current revision.
    let destroy = |revision| Write::DestroyKey {
        region: m.region.clone(),
        key_id: m.key_id,
        revision,
    };
    assert!(matches!(s.apply(vec![destroy(1)]), Err(StoreError::Stale)));
    assert!(s.load_key(&m.region, &m.key_id).unwrap().is_some());
    s.apply(vec![destroy(2)]).unwrap();
    assert!(matches!(s.apply(vec![destroy(2)]), Err(StoreError::Stale)));
    // A change of a destroyed key does not bring it back.
    let mut late = second.clone();
    late.revision = 3;
    assert!(matches!(
        s.apply(vec![Write::PutKey(late)]),
        Err(StoreError::Stale)
    ));
    assert!(s.load_key(&m.region, &m.key_id).unwrap().is_none());
}

/// `InitSetting` writes a setting only if it has none: nodes starting at once agree.
fn settings_can_be_written_once(s: &dyn Store) {
    let init = |value: &str| Write::InitSetting {
        name: "account_id".into(),
        value: value.into(),
    };
    s.apply(vec![init("111122223333")]).unwrap();
    assert!(matches!(
        s.apply(vec![init("444455556666")]),
        Err(StoreError::Conflict)
    ));
    assert_eq!(
        s.setting("account_id").unwrap().as_deref(),
        Some("111122223333")
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
        revision: 1,
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
        account: None,
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

/// An access key of a user of a second account keeps that account through a round trip,
/// a listing and a status change; one of the installation's own account stays `None`.
fn access_keys_keep_their_account(s: &dyn Store) {
    let other = AccountId::parse("444455556666").expect("test account id is valid");
    let foreign = AccessKeyRecord {
        access_key_id: "KAGIFOREIGN".into(),
        user_name: "bob".into(),
        status: AccessKeyStatus::Active,
        created_at: Timestamp(4),
        admin: false,
        wrapped_secret: vec![4, 5, 6],
        account: Some(other.clone()),
    };
    let own = AccessKeyRecord {
        access_key_id: "KAGIOWN".into(),
        user_name: "alice".into(),
        status: AccessKeyStatus::Active,
        created_at: Timestamp(5),
        admin: false,
        wrapped_secret: vec![7],
        account: None,
    };
    s.apply(vec![
        Write::PutAccessKey(foreign.clone()),
        Write::PutAccessKey(own.clone()),
    ])
    .unwrap();
    assert_eq!(s.access_key("KAGIFOREIGN").unwrap().unwrap(), foreign);
    assert_eq!(s.access_key("KAGIOWN").unwrap().unwrap().account, None);
    assert_eq!(
        s.list_access_keys().unwrap(),
        vec![own.clone(), foreign.clone()]
    );
    s.apply(vec![Write::SetAccessKeyStatus {
        access_key_id: "KAGIFOREIGN".into(),
        status: AccessKeyStatus::Inactive,
    }])
    .unwrap();
    let changed = s.access_key("KAGIFOREIGN").unwrap().unwrap();
    assert_eq!(changed.status, AccessKeyStatus::Inactive);
    assert_eq!(changed.account, Some(other));
    s.apply(vec![Write::SetAccessKeyStatus {
        access_key_id: "KAGIOWN".into(),
        status: AccessKeyStatus::Inactive,
    }])
    .unwrap();
    assert_eq!(s.access_key("KAGIOWN").unwrap().unwrap().account, None);
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
        account: None,
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

const TRUST: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:user/alice"},"Action":"sts:AssumeRole"}]}"#;

fn role(name: &str, trust_policy: &str, max_session_seconds: u32, at: i64) -> RoleRecord {
    RoleRecord {
        role_name: name.into(),
        trust_policy: trust_policy.into(),
        max_session_seconds,
        created_at: Timestamp(at),
    }
}

fn put_role(s: &dyn Store, r: &RoleRecord) {
    s.apply(vec![Write::PutRole(r.clone())]).expect("put role");
}

fn role_policy(role: &str, name: &str, document: &str, at: i64) -> RolePolicyRecord {
    RolePolicyRecord {
        role_name: role.into(),
        policy_name: name.into(),
        document: document.into(),
        updated_at: Timestamp(at),
    }
}

fn put_role_policy(s: &dyn Store, p: &RolePolicyRecord) {
    s.apply(vec![Write::PutRolePolicy(p.clone())])
        .expect("put role policy");
}

fn role_names(s: &dyn Store) -> Vec<String> {
    s.list_roles()
        .unwrap()
        .into_iter()
        .map(|r| r.role_name)
        .collect()
}

fn roles_round_trip_and_replace(s: &dyn Store) {
    assert!(s.role("Deployer").unwrap().is_none());
    assert!(s.list_roles().unwrap().is_empty());
    // The largest session limit a u32 holds survives every backend.
    let r = role("Deployer", TRUST, u32::MAX, 10);
    put_role(s, &r);
    assert_eq!(s.role("Deployer").unwrap(), Some(r.clone()));
    assert_eq!(s.list_roles().unwrap(), vec![r.clone()]);
    let p = role_policy("Deployer", "EncryptOnly", "{}", 11);
    put_role_policy(s, &p);
    // Putting it again replaces trust policy and session limit; its creation time and
    // its policies stay.
    put_role(
        s,
        &role(
            "Deployer",
            r#"{"Version":"2012-10-17","Statement":[]}"#,
            3_600,
            20,
        ),
    );
    let replaced = role(
        "Deployer",
        r#"{"Version":"2012-10-17","Statement":[]}"#,
        3_600,
        10,
    );
    assert_eq!(s.role("Deployer").unwrap(), Some(replaced.clone()));
    assert_eq!(s.list_roles().unwrap(), vec![replaced]);
    assert_eq!(
        s.role_policies("Deployer").unwrap(),
        vec![p],
        "replacing a role keeps its policies"
    );
    assert!(
        s.role("deployer").unwrap().is_none(),
        "role names are case sensitive"
    );
}

fn roles_are_listed_by_name(s: &dyn Store) {
    for (i, name) in ["Zeta", "alpha", "Beta", "B", "Deployer"]
        .into_iter()
        .enumerate()
    {
        put_role(s, &role(name, TRUST, 3_600, i as i64));
    }
    // Bytewise order, as everywhere in the store: upper case before lower case.
    assert_eq!(role_names(s), ["B", "Beta", "Deployer", "Zeta", "alpha"]);
    assert_eq!(s.role("Beta").unwrap(), Some(role("Beta", TRUST, 3_600, 2)));
}

fn role_policies_round_trip_and_replace(s: &dyn Store) {
    put_role(s, &role("Deployer", TRUST, 3_600, 1));
    assert!(s.role_policies("Deployer").unwrap().is_empty());
    let p = role_policy(
        "Deployer",
        "EncryptOnly",
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:Encrypt","Resource":"*"}]}"#,
        10,
    );
    put_role_policy(s, &p);
    assert_eq!(s.role_policies("Deployer").unwrap(), vec![p.clone()]);
    // The same name again replaces document and time; it does not add a second policy.
    let replaced = role_policy(
        "Deployer",
        "EncryptOnly",
        r#"{"Version":"2012-10-17","Statement":[]}"#,
        20,
    );
    put_role_policy(s, &replaced);
    assert_eq!(s.role_policies("Deployer").unwrap(), vec![replaced]);
}

fn role_policies_are_ordered_and_per_role(s: &dyn Store) {
    for name in ["Deployer", "Deploy", "Deployes", "alice"] {
        put_role(s, &role(name, TRUST, 3_600, 1));
    }
    for name in ["Zeta", "alpha", "Beta", "B"] {
        put_role_policy(s, &role_policy("Deployer", name, "{}", 1));
    }
    // Roles whose names share a prefix, or sort next to each other, are kept apart.
    put_role_policy(s, &role_policy("Deploy", "Other", "{}", 2));
    put_role_policy(s, &role_policy("Deployes", "Other", "{}", 3));
    // A user and a role of the same name do not share policies.
    put_user_policy(s, &user_policy("alice", "UserOnly", "{}", 4));
    put_role_policy(s, &role_policy("alice", "RoleOnly", "{}", 5));
    let names = |role: &str| {
        s.role_policies(role)
            .unwrap()
            .into_iter()
            .map(|p| {
                assert_eq!(p.role_name, role);
                p.policy_name
            })
            .collect::<Vec<_>>()
    };
    // Bytewise order, as everywhere in the store: upper case before lower case.
    assert_eq!(names("Deployer"), ["B", "Beta", "Zeta", "alpha"]);
    assert_eq!(names("Deploy"), ["Other"]);
    assert_eq!(names("Deployes"), ["Other"]);
    assert_eq!(names("alice"), ["RoleOnly"]);
    assert_eq!(
        s.user_policies("alice").unwrap(),
        vec![user_policy("alice", "UserOnly", "{}", 4)]
    );
    assert!(names("Nobody").is_empty());
    assert!(
        names("deployer").is_empty(),
        "role names are case sensitive"
    );
}

fn role_policies_delete(s: &dyn Store) {
    put_role(s, &role("Deployer", TRUST, 3_600, 1));
    put_role(s, &role("Auditor", TRUST, 3_600, 1));
    put_role_policy(s, &role_policy("Deployer", "A", "{}", 1));
    put_role_policy(s, &role_policy("Deployer", "B", "{}", 1));
    put_role_policy(s, &role_policy("Auditor", "A", "{}", 1));
    s.apply(vec![Write::DeleteRolePolicy {
        role_name: "Deployer".into(),
        policy_name: "A".into(),
    }])
    .unwrap();
    assert_eq!(
        s.role_policies("Deployer").unwrap(),
        vec![role_policy("Deployer", "B", "{}", 1)]
    );
    assert_eq!(
        s.role_policies("Auditor").unwrap(),
        vec![role_policy("Auditor", "A", "{}", 1)],
        "deleting one role's policy leaves another's of the same name"
    );
    // Deleting what is not there (again, or a role without policies) is not an error.
    for (role, name) in [("Deployer", "A"), ("Nobody", "A")] {
        s.apply(vec![Write::DeleteRolePolicy {
            role_name: role.into(),
            policy_name: name.into(),
        }])
        .unwrap();
    }
    assert_eq!(s.role_policies("Deployer").unwrap().len(), 1);
    assert_eq!(role_names(s), ["Auditor", "Deployer"], "the roles stay");
}

fn delete_role_removes_its_policies(s: &dyn Store) {
    // Names sharing a prefix, so a careless prefix match would show.
    for name in ["Deploy", "Deployer", "Deployers"] {
        put_role(s, &role(name, TRUST, 3_600, 1));
        put_role_policy(s, &role_policy(name, "A", "{}", 1));
        put_role_policy(s, &role_policy(name, "B", "{}", 1));
    }
    put_user_policy(s, &user_policy("Deployer", "A", "{}", 1));
    s.apply(vec![Write::DeleteRole {
        role_name: "Deployer".into(),
    }])
    .unwrap();
    assert!(s.role("Deployer").unwrap().is_none());
    assert!(s.role_policies("Deployer").unwrap().is_empty());
    assert_eq!(role_names(s), ["Deploy", "Deployers"]);
    for other in ["Deploy", "Deployers"] {
        assert_eq!(
            s.role_policies(other).unwrap(),
            vec![
                role_policy(other, "A", "{}", 1),
                role_policy(other, "B", "{}", 1)
            ],
            "deleting one role leaves the policies of {other}"
        );
    }
    assert_eq!(
        s.user_policies("Deployer").unwrap().len(),
        1,
        "deleting a role leaves a user's policies of the same name"
    );
    // Created again, the role starts without the old policies.
    put_role(s, &role("Deployer", TRUST, 3_600, 2));
    assert!(s.role_policies("Deployer").unwrap().is_empty());
    // Deleting a role that is not there (again, or never was) is not an error.
    for name in ["Deployer", "Deployer", "Nobody"] {
        s.apply(vec![Write::DeleteRole {
            role_name: name.into(),
        }])
        .unwrap();
    }
    assert_eq!(role_names(s), ["Deploy", "Deployers"]);
}

fn role_writes_in_failed_batches_are_not_applied(s: &dyn Store) {
    let kept = role("Kept", TRUST, 3_600, 1);
    let kept_policy = role_policy("Kept", "A", "{}", 1);
    let access = AccessKeyRecord {
        access_key_id: "KAGIROLE".into(),
        user_name: "alice".into(),
        status: AccessKeyStatus::Active,
        created_at: Timestamp(1),
        admin: false,
        wrapped_secret: vec![1],
        account: None,
    };
    s.apply(vec![
        Write::PutRole(kept.clone()),
        Write::PutRolePolicy(kept_policy.clone()),
        Write::PutAccessKey(access.clone()),
    ])
    .unwrap();
    // The duplicate access key fails the batch, so none of its role writes may show.
    let r = s.apply(vec![
        Write::PutRole(role("New", TRUST, 3_600, 2)),
        Write::PutRolePolicy(role_policy("New", "A", "{}", 2)),
        Write::PutRole(role("Kept", "{}", 900, 2)),
        Write::PutRolePolicy(role_policy("Kept", "B", "{}", 2)),
        Write::DeleteRolePolicy {
            role_name: "Kept".into(),
            policy_name: "A".into(),
        },
        Write::DeleteRole {
            role_name: "Kept".into(),
        },
        Write::PutAccessKey(access),
    ]);
    assert!(matches!(r, Err(StoreError::Conflict)), "{r:?}");
    assert_eq!(s.list_roles().unwrap(), vec![kept.clone()]);
    assert_eq!(s.role("Kept").unwrap(), Some(kept));
    assert!(s.role("New").unwrap().is_none());
    assert_eq!(s.role_policies("Kept").unwrap(), vec![kept_policy]);
    assert!(s.role_policies("New").unwrap().is_empty());
}

fn tags(pairs: &[(&str, &str)]) -> Vec<Tag> {
    pairs
        .iter()
        .map(|(key, value)| Tag {
            key: (*key).into(),
            value: (*value).into(),
        })
        .collect()
}

fn user(name: &str) -> PrincipalRef {
    PrincipalRef::User(name.into())
}

fn role_ref(name: &str) -> PrincipalRef {
    PrincipalRef::Role(name.into())
}

fn put_tags(s: &dyn Store, principal: &PrincipalRef, list: Vec<Tag>) {
    s.apply(vec![Write::PutPrincipalTags {
        principal: principal.clone(),
        tags: list,
    }])
    .expect("put principal tags");
}

/// Tags come back ordered by key, bytewise (upper case before lower case), whatever the
/// order they were written in; a principal without tags has none.
fn principal_tags_round_trip_ordered_by_key(s: &dyn Store) {
    assert!(s.principal_tags(&user("alice")).unwrap().is_empty());
    put_tags(
        s,
        &user("alice"),
        tags(&[
            ("team", "kagi"),
            ("Zone", "b"),
            ("Project", "x"),
            ("cost", ""),
        ]),
    );
    assert_eq!(
        s.principal_tags(&user("alice")).unwrap(),
        tags(&[
            ("Project", "x"),
            ("Zone", "b"),
            ("cost", ""),
            ("team", "kagi")
        ])
    );
    assert!(s.principal_tags(&user("bob")).unwrap().is_empty());
    assert!(s.principal_tags(&user("alic")).unwrap().is_empty());
}

/// A write replaces the principal's whole tag set: tags not in the new list go, values
/// change, and an empty list removes every tag.
fn principal_tags_are_replaced_whole(s: &dyn Store) {
    put_tags(
        s,
        &role_ref("Deployer"),
        tags(&[("a", "1"), ("b", "2"), ("c", "3")]),
    );
    put_tags(s, &user("bob"), tags(&[("a", "bob")]));
    put_tags(s, &role_ref("Deployer"), tags(&[("b", "20"), ("d", "4")]));
    assert_eq!(
        s.principal_tags(&role_ref("Deployer")).unwrap(),
        tags(&[("b", "20"), ("d", "4")])
    );
    put_tags(s, &role_ref("Deployer"), vec![]);
    assert!(s.principal_tags(&role_ref("Deployer")).unwrap().is_empty());
    assert_eq!(
        s.principal_tags(&user("bob")).unwrap(),
        tags(&[("a", "bob")]),
        "another principal's tags stay"
    );
}

/// A user and a role may share a name; their tags do not mix.
fn users_and_roles_of_one_name_have_separate_tags(s: &dyn Store) {
    put_tags(s, &user("ops"), tags(&[("kind", "user"), ("u", "1")]));
    put_tags(s, &role_ref("ops"), tags(&[("kind", "role"), ("r", "1")]));
    assert_eq!(
        s.principal_tags(&user("ops")).unwrap(),
        tags(&[("kind", "user"), ("u", "1")])
    );
    assert_eq!(
        s.principal_tags(&role_ref("ops")).unwrap(),
        tags(&[("kind", "role"), ("r", "1")])
    );
    put_tags(s, &user("ops"), vec![]);
    assert!(s.principal_tags(&user("ops")).unwrap().is_empty());
    assert_eq!(
        s.principal_tags(&role_ref("ops")).unwrap(),
        tags(&[("kind", "role"), ("r", "1")])
    );
}

/// `DeleteRole` takes the role's tags with it but leaves a same-named user's and other
/// roles' tags; deleting a user's access key leaves the user's tags.
fn delete_role_removes_its_tags(s: &dyn Store) {
    put_role(s, &role("ops", TRUST, 3_600, 1));
    put_tags(s, &role_ref("ops"), tags(&[("team", "ops")]));
    put_tags(s, &role_ref("other"), tags(&[("team", "other")]));
    put_tags(s, &user("ops"), tags(&[("team", "user")]));
    let access = AccessKeyRecord {
        access_key_id: "KAGIOPS".into(),
        user_name: "ops".into(),
        status: AccessKeyStatus::Active,
        created_at: Timestamp(1),
        admin: false,
        wrapped_secret: vec![1],
        account: None,
    };
    s.apply(vec![Write::PutAccessKey(access)]).unwrap();
    s.apply(vec![Write::DeleteRole {
        role_name: "ops".into(),
    }])
    .unwrap();
    assert!(s.role("ops").unwrap().is_none());
    assert!(s.principal_tags(&role_ref("ops")).unwrap().is_empty());
    assert_eq!(
        s.principal_tags(&role_ref("other")).unwrap(),
        tags(&[("team", "other")])
    );
    assert_eq!(
        s.principal_tags(&user("ops")).unwrap(),
        tags(&[("team", "user")])
    );
    s.apply(vec![Write::DeleteAccessKey {
        access_key_id: "KAGIOPS".into(),
    }])
    .unwrap();
    assert_eq!(
        s.principal_tags(&user("ops")).unwrap(),
        tags(&[("team", "user")]),
        "deleting an access key keeps the user's tags"
    );
    // A role made again under the name starts without tags.
    put_role(s, &role("ops", TRUST, 3_600, 2));
    assert!(s.principal_tags(&role_ref("ops")).unwrap().is_empty());
}

fn principal_tags_survive_wiping_keys(s: &dyn Store) {
    put_key(s, &key(1, "us-east-1"));
    put_tags(s, &user("alice"), tags(&[("team", "kagi")]));
    put_tags(s, &role_ref("Deployer"), tags(&[("env", "prod")]));
    s.apply(vec![Write::WipeKeys]).unwrap();
    assert_eq!(
        s.principal_tags(&user("alice")).unwrap(),
        tags(&[("team", "kagi")])
    );
    assert_eq!(
        s.principal_tags(&role_ref("Deployer")).unwrap(),
        tags(&[("env", "prod")])
    );
}

fn principal_tag_writes_in_failed_batches_are_not_applied(s: &dyn Store) {
    put_role(s, &role("Kept", TRUST, 3_600, 1));
    put_tags(s, &role_ref("Kept"), tags(&[("a", "1")]));
    put_tags(s, &user("alice"), tags(&[("b", "2")]));
    let access = AccessKeyRecord {
        access_key_id: "KAGITAGS".into(),
        user_name: "alice".into(),
        status: AccessKeyStatus::Active,
        created_at: Timestamp(1),
        admin: false,
        wrapped_secret: vec![1],
        account: None,
    };
    s.apply(vec![Write::PutAccessKey(access.clone())]).unwrap();
    // The duplicate access key fails the batch, so none of its tag writes may show.
    let r = s.apply(vec![
        Write::PutPrincipalTags {
            principal: user("alice"),
            tags: tags(&[("c", "3")]),
        },
        Write::PutPrincipalTags {
            principal: user("bob"),
            tags: tags(&[("d", "4")]),
        },
        Write::PutPrincipalTags {
            principal: role_ref("Kept"),
            tags: vec![],
        },
        Write::DeleteRole {
            role_name: "Kept".into(),
        },
        Write::PutAccessKey(access),
    ]);
    assert!(matches!(r, Err(StoreError::Conflict)), "{r:?}");
    assert_eq!(
        s.principal_tags(&user("alice")).unwrap(),
        tags(&[("b", "2")])
    );
    assert!(s.principal_tags(&user("bob")).unwrap().is_empty());
    assert_eq!(
        s.principal_tags(&role_ref("Kept")).unwrap(),
        tags(&[("a", "1")])
    );
    assert!(s.role("Kept").unwrap().is_some());
}

fn wipe(s: &dyn Store) {
    let m = key(1, "us-east-1");
    put_key(s, &m);
    let policy = user_policy("alice", "Keep", "{}", 4);
    put_user_policy(s, &policy);
    let kept_role = role("Deployer", TRUST, 3_600, 5);
    put_role(s, &kept_role);
    let kept_role_policy = role_policy("Deployer", "Keep", "{}", 6);
    put_role_policy(s, &kept_role_policy);
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
    assert_eq!(
        s.list_roles().unwrap(),
        vec![kept_role],
        "wiping keys keeps roles"
    );
    assert_eq!(
        s.role_policies("Deployer").unwrap(),
        vec![kept_role_policy],
        "wiping keys keeps role policies"
    );
}
