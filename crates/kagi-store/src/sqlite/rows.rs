//! Mapping between domain records and SQLite rows.

use super::backend;
use crate::codec::{
    account, decode_constraints, decode_operations, decode_tags, encode_constraints,
    encode_operations, encode_tags, key_id, principal, region,
};
use kagi_kms::{
    AccessKeyRecord, AccessKeyStatus, AliasName, AliasRecord, GrantRecord, KeyId, KeyMetadata,
    KeyState, PrincipalRef, Region, RolePolicyRecord, RoleRecord, RotationType, StoreError,
    StoredKey, StoredVersion, Tag, Timestamp, UserPolicyRecord, Write,
};
use rusqlite::{params, Connection, ErrorCode, OptionalExtension, Row};

fn is_unique_violation(e: &rusqlite::Error) -> bool {
    matches!(e, rusqlite::Error::SqliteFailure(f, _)
        if f.code == ErrorCode::ConstraintViolation
            && f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY)
}

pub fn apply_write(conn: &Connection, w: &Write) -> Result<(), StoreError> {
    match w {
        Write::PutKey(m) if m.revision <= 1 => {
            let r = conn
                .prepare_cached(
                    "INSERT INTO keys (region, key_id, created_at, description, state,
                        deletion_date, pending_window_days, policy, rotation_period_days,
                        next_rotation, tags, revision)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, 1)",
                )
                .map_err(backend)?
                .execute(params![
                    m.region.as_str(),
                    m.key_id.to_string(),
                    m.created_at.0,
                    m.description,
                    m.state.as_str(),
                    m.deletion_date.map(|t| t.0),
                    m.pending_window_days,
                    m.policy,
                    m.rotation_period_days,
                    m.next_rotation.map(|t| t.0),
                    encode_tags(&m.tags),
                ]);
            match r {
                Ok(_) => {}
                Err(e) if is_unique_violation(&e) => return Err(StoreError::Conflict),
                Err(e) => return Err(backend(e)),
            }
        }
        Write::PutKey(m) => {
            // Only over the revision this one follows; created_at never changes.
            let changed = conn
                .prepare_cached(
                    "UPDATE keys SET description = ?3, state = ?4, deletion_date = ?5,
                        pending_window_days = ?6, policy = ?7, rotation_period_days = ?8,
                        next_rotation = ?9, tags = ?10, revision = ?11
                     WHERE region = ?1 AND key_id = ?2 AND revision = ?11 - 1",
                )
                .map_err(backend)?
                .execute(params![
                    m.region.as_str(),
                    m.key_id.to_string(),
                    m.description,
                    m.state.as_str(),
                    m.deletion_date.map(|t| t.0),
                    m.pending_window_days,
                    m.policy,
                    m.rotation_period_days,
                    m.next_rotation.map(|t| t.0),
                    encode_tags(&m.tags),
                    revision_sql(m.revision)?,
                ])
                .map_err(backend)?;
            if changed == 0 {
                return Err(StoreError::Stale);
            }
        }
        Write::AddVersion {
            region,
            key_id,
            version,
        } => {
            conn.prepare_cached(
                "INSERT INTO key_versions (region, key_id, version, created_at, rotation, wrapped)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )
            .map_err(backend)?
            .execute(params![
                region.as_str(),
                key_id.to_string(),
                version.version,
                version.created_at.0,
                version.rotation.map(RotationType::as_str),
                version.wrapped,
            ])
            .map_err(backend)?;
        }
        Write::DestroyKey {
            region,
            key_id,
            revision,
        } => {
            // Versions, aliases and grants go with the key (ON DELETE CASCADE).
            let deleted = conn
                .execute(
                    "DELETE FROM keys WHERE region = ?1 AND key_id = ?2 AND revision = ?3",
                    params![
                        region.as_str(),
                        key_id.to_string(),
                        revision_sql(*revision)?
                    ],
                )
                .map_err(backend)?;
            if deleted == 0 {
                return Err(StoreError::Stale);
            }
        }
        Write::CreateAlias(a) => {
            let r = conn
                .prepare_cached(
                    "INSERT INTO aliases (region, name, target, created_at, updated_at)
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                )
                .map_err(backend)?
                .execute(params![
                    a.region.as_str(),
                    a.name.as_str(),
                    a.target.to_string(),
                    a.created_at.0,
                    a.updated_at.0
                ]);
            match r {
                Ok(_) => {}
                Err(e) if is_unique_violation(&e) => return Err(StoreError::Conflict),
                Err(e) => return Err(backend(e)),
            }
        }
        Write::UpdateAlias(a) => {
            conn.execute(
                "UPDATE aliases SET target = ?3, updated_at = ?4 WHERE region = ?1 AND name = ?2",
                params![
                    a.region.as_str(),
                    a.name.as_str(),
                    a.target.to_string(),
                    a.updated_at.0
                ],
            )
            .map_err(backend)?;
        }
        Write::DeleteAlias { region, name } => {
            conn.execute(
                "DELETE FROM aliases WHERE region = ?1 AND name = ?2",
                params![region.as_str(), name.as_str()],
            )
            .map_err(backend)?;
        }
        Write::PutAccessKey(k) => {
            conn.execute(
                "INSERT INTO access_keys (access_key_id, user_name, status, created_at, admin, wrapped_secret, account)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    k.access_key_id,
                    k.user_name,
                    k.status.as_str(),
                    k.created_at.0,
                    k.admin,
                    k.wrapped_secret,
                    k.account.as_ref().map(|a| a.as_str())
                ],
            )
            .map_err(|e| if is_unique_violation(&e) { StoreError::Conflict } else { backend(e) })?;
        }
        Write::SetAccessKeyStatus {
            access_key_id,
            status,
        } => {
            conn.execute(
                "UPDATE access_keys SET status = ?2 WHERE access_key_id = ?1",
                params![access_key_id, status.as_str()],
            )
            .map_err(backend)?;
        }
        Write::DeleteAccessKey { access_key_id } => {
            conn.execute(
                "DELETE FROM access_keys WHERE access_key_id = ?1",
                params![access_key_id],
            )
            .map_err(backend)?;
        }
        Write::PutUserPolicy(p) => {
            conn.prepare_cached(
                "INSERT INTO user_policies (user_name, policy_name, document, updated_at)
                 VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (user_name, policy_name) DO UPDATE SET
                    document = excluded.document, updated_at = excluded.updated_at",
            )
            .map_err(backend)?
            .execute(params![
                p.user_name,
                p.policy_name,
                p.document,
                p.updated_at.0
            ])
            .map_err(backend)?;
        }
        Write::DeleteUserPolicy {
            user_name,
            policy_name,
        } => {
            conn.execute(
                "DELETE FROM user_policies WHERE user_name = ?1 AND policy_name = ?2",
                params![user_name, policy_name],
            )
            .map_err(backend)?;
        }
        Write::PutRole(r) => {
            // An existing role keeps its creation time and its policies.
            conn.prepare_cached(
                "INSERT INTO roles (role_name, trust_policy, max_session_seconds, created_at)
                 VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (role_name) DO UPDATE SET
                    trust_policy = excluded.trust_policy,
                    max_session_seconds = excluded.max_session_seconds",
            )
            .map_err(backend)?
            .execute(params![
                r.role_name,
                r.trust_policy,
                r.max_session_seconds,
                r.created_at.0
            ])
            .map_err(backend)?;
        }
        Write::DeleteRole { role_name } => {
            // The role's policies and tags go with it, in the same transaction.
            conn.execute(
                "DELETE FROM role_policies WHERE role_name = ?1",
                params![role_name],
            )
            .map_err(backend)?;
            conn.execute(
                "DELETE FROM principal_tags WHERE principal_kind = 'role' AND principal_name = ?1",
                params![role_name],
            )
            .map_err(backend)?;
            conn.execute("DELETE FROM roles WHERE role_name = ?1", params![role_name])
                .map_err(backend)?;
        }
        Write::PutPrincipalTags { principal, tags } => {
            // Replaces every tag of the principal; of two tags with the same key the last
            // wins, as in the memory store.
            conn.prepare_cached(
                "DELETE FROM principal_tags WHERE principal_kind = ?1 AND principal_name = ?2",
            )
            .map_err(backend)?
            .execute(params![principal.kind(), principal.name()])
            .map_err(backend)?;
            let mut insert = conn
                .prepare_cached(
                    "INSERT INTO principal_tags (principal_kind, principal_name, tag_key, tag_value)
                     VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT (principal_kind, principal_name, tag_key) DO UPDATE SET
                        tag_value = excluded.tag_value",
                )
                .map_err(backend)?;
            for tag in tags {
                insert
                    .execute(params![
                        principal.kind(),
                        principal.name(),
                        tag.key,
                        tag.value
                    ])
                    .map_err(backend)?;
            }
        }
        Write::PutRolePolicy(p) => {
            conn.prepare_cached(
                "INSERT INTO role_policies (role_name, policy_name, document, updated_at)
                 VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (role_name, policy_name) DO UPDATE SET
                    document = excluded.document, updated_at = excluded.updated_at",
            )
            .map_err(backend)?
            .execute(params![
                p.role_name,
                p.policy_name,
                p.document,
                p.updated_at.0
            ])
            .map_err(backend)?;
        }
        Write::DeleteRolePolicy {
            role_name,
            policy_name,
        } => {
            conn.execute(
                "DELETE FROM role_policies WHERE role_name = ?1 AND policy_name = ?2",
                params![role_name, policy_name],
            )
            .map_err(backend)?;
        }
        Write::PutGrant(g) => {
            conn.prepare_cached(
                "INSERT INTO grants (grant_id, region, key_id, name, grantee_principal,
                    retiring_principal, issuing_principal, operations, constraints, created_at,
                    token_secret)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
            )
            .map_err(backend)?
            .execute(params![
                g.grant_id,
                g.region.as_str(),
                g.key_id.to_string(),
                g.name,
                g.grantee_principal,
                g.retiring_principal,
                g.issuing_principal,
                encode_operations(&g.operations),
                g.constraints.as_ref().map(encode_constraints),
                g.created_at.0,
                g.token_secret,
            ])
            .map_err(|e| {
                if is_unique_violation(&e) {
                    StoreError::Conflict
                } else {
                    backend(e)
                }
            })?;
        }
        Write::DeleteGrant {
            region,
            key_id,
            grant_id,
        } => {
            conn.execute(
                "DELETE FROM grants WHERE grant_id = ?1 AND region = ?2 AND key_id = ?3",
                params![grant_id, region.as_str(), key_id.to_string()],
            )
            .map_err(backend)?;
        }
        Write::PutSetting { name, value } => {
            conn.execute(
                "INSERT INTO settings (name, value) VALUES (?1, ?2)
                 ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                params![name, value],
            )
            .map_err(backend)?;
        }
        Write::InitSetting { name, value } => {
            match conn.execute(
                "INSERT INTO settings (name, value) VALUES (?1, ?2)",
                params![name, value],
            ) {
                Ok(_) => {}
                Err(e) if is_unique_violation(&e) => return Err(StoreError::Conflict),
                Err(e) => return Err(backend(e)),
            }
        }
        Write::WipeKeys => {
            // Access keys, user policies, roles, role policies and settings stay; grants
            // go with their keys.
            conn.execute_batch(
                "DELETE FROM grants; DELETE FROM aliases; DELETE FROM key_versions; DELETE FROM keys;",
            )
                .map_err(backend)?;
        }
    }
    Ok(())
}

type KeyColumns = (
    i64,
    String,
    String,
    Option<i64>,
    Option<u32>,
    String,
    Option<u32>,
    Option<i64>,
    String,
    i64,
);

/// Revisions count changes of one key; 2^63 of them cannot happen.
fn revision_sql(revision: u64) -> Result<i64, StoreError> {
    i64::try_from(revision).map_err(|_| StoreError::Corrupt("key revision out of range".into()))
}

pub fn load_key(
    conn: &Connection,
    region: &Region,
    key_id: &KeyId,
) -> Result<Option<StoredKey>, StoreError> {
    let id = key_id.to_string();
    let cols: Option<KeyColumns> = conn
        .prepare_cached(
            "SELECT created_at, description, state, deletion_date, pending_window_days, policy,
                    rotation_period_days, next_rotation, tags, revision
             FROM keys WHERE region = ?1 AND key_id = ?2",
        )
        .map_err(backend)?
        .query_row(params![region.as_str(), id], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
                r.get(6)?,
                r.get(7)?,
                r.get(8)?,
                r.get(9)?,
            ))
        })
        .optional()
        .map_err(backend)?;
    let Some((created, description, state, deletion, window, policy, period, next, tags, rev)) =
        cols
    else {
        return Ok(None);
    };
    let meta = KeyMetadata {
        region: region.clone(),
        key_id: *key_id,
        created_at: Timestamp(created),
        description,
        state: KeyState::parse(&state)
            .ok_or_else(|| StoreError::Corrupt(format!("bad key state {state:?}")))?,
        deletion_date: deletion.map(Timestamp),
        pending_window_days: window,
        policy,
        rotation_period_days: period,
        next_rotation: next.map(Timestamp),
        tags: decode_tags(&tags)?,
        revision: u64::try_from(rev)
            .map_err(|_| StoreError::Corrupt(format!("bad key revision {rev}")))?,
    };
    let mut stmt = conn
        .prepare_cached(
            "SELECT version, created_at, rotation, wrapped FROM key_versions
             WHERE region = ?1 AND key_id = ?2 ORDER BY version",
        )
        .map_err(backend)?;
    let versions = stmt
        .query_map(params![region.as_str(), id], |r| {
            Ok((
                r.get::<_, u32>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, Option<String>>(2)?,
                r.get::<_, Vec<u8>>(3)?,
            ))
        })
        .map_err(backend)?
        .map(|row| {
            let (version, created, rotation, wrapped) = row.map_err(backend)?;
            let rotation = match rotation {
                None => None,
                Some(s) => Some(
                    RotationType::parse(&s)
                        .ok_or_else(|| StoreError::Corrupt(format!("bad rotation {s:?}")))?,
                ),
            };
            Ok(StoredVersion {
                version,
                created_at: Timestamp(created),
                rotation,
                wrapped,
            })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    Ok(Some(StoredKey { meta, versions }))
}

pub type AliasColumns = (String, String, i64, i64);

pub fn alias_columns(r: &Row<'_>) -> rusqlite::Result<AliasColumns> {
    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
}

pub fn alias_record(
    region: &Region,
    (name, target, created, updated): AliasColumns,
) -> Result<AliasRecord, StoreError> {
    Ok(AliasRecord {
        region: region.clone(),
        name: AliasName::parse(&name)
            .map_err(|_| StoreError::Corrupt(format!("bad alias name {name:?}")))?,
        target: key_id(&target)?,
        created_at: Timestamp(created),
        updated_at: Timestamp(updated),
    })
}

pub fn due(
    conn: &Connection,
    sql: &str,
    now: Timestamp,
) -> Result<Vec<(Region, KeyId)>, StoreError> {
    let mut stmt = conn.prepare_cached(sql).map_err(backend)?;
    let rows = stmt
        .query_map(params![now.0], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
        })
        .map_err(backend)?;
    rows.map(|row| {
        let (r, k) = row.map_err(backend)?;
        Ok((region(&r)?, key_id(&k)?))
    })
    .collect()
}

pub const ACCESS_KEY_SELECT: &str =
    "SELECT access_key_id, user_name, status, created_at, admin, wrapped_secret, account FROM access_keys";

pub type AccessKeyColumns = (String, String, String, i64, bool, Vec<u8>, Option<String>);

pub fn access_key_columns(r: &Row<'_>) -> rusqlite::Result<AccessKeyColumns> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
        r.get(6)?,
    ))
}

pub fn access_key_record(
    (access_key_id, user_name, status, created, admin, wrapped_secret, account_col): AccessKeyColumns,
) -> Result<AccessKeyRecord, StoreError> {
    Ok(AccessKeyRecord {
        access_key_id,
        user_name,
        status: AccessKeyStatus::parse(&status)
            .ok_or_else(|| StoreError::Corrupt(format!("bad access key status {status:?}")))?,
        created_at: Timestamp(created),
        admin,
        wrapped_secret,
        account: account(account_col.as_deref())?,
    })
}

pub const USER_POLICY_SELECT: &str =
    "SELECT user_name, policy_name, document, updated_at FROM user_policies";

pub fn user_policy_record(r: &Row<'_>) -> rusqlite::Result<UserPolicyRecord> {
    Ok(UserPolicyRecord {
        user_name: r.get(0)?,
        policy_name: r.get(1)?,
        document: r.get(2)?,
        updated_at: Timestamp(r.get(3)?),
    })
}

pub const ROLE_SELECT: &str =
    "SELECT role_name, trust_policy, max_session_seconds, created_at FROM roles";

pub fn role_record(r: &Row<'_>) -> rusqlite::Result<RoleRecord> {
    Ok(RoleRecord {
        role_name: r.get(0)?,
        trust_policy: r.get(1)?,
        max_session_seconds: r.get(2)?,
        created_at: Timestamp(r.get(3)?),
    })
}

pub const ROLE_POLICY_SELECT: &str =
    "SELECT role_name, policy_name, document, updated_at FROM role_policies";

pub fn role_policy_record(r: &Row<'_>) -> rusqlite::Result<RolePolicyRecord> {
    Ok(RolePolicyRecord {
        role_name: r.get(0)?,
        policy_name: r.get(1)?,
        document: r.get(2)?,
        updated_at: Timestamp(r.get(3)?),
    })
}
pub const GRANT_SELECT: &str = "SELECT grant_id, region, key_id, name, grantee_principal,
    retiring_principal, issuing_principal, operations, constraints, created_at, token_secret
    FROM grants";

pub type GrantColumns = (
    String,
    String,
    String,
    Option<String>,
    String,
    Option<String>,
    String,
    String,
    Option<String>,
    i64,
    Vec<u8>,
);

pub fn grant_columns(r: &Row<'_>) -> rusqlite::Result<GrantColumns> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
        r.get(6)?,
        r.get(7)?,
        r.get(8)?,
        r.get(9)?,
        r.get(10)?,
    ))
}

pub fn grant_record(
    (grant_id, r, k, name, grantee, retiring, issuing, ops, constraints, created, secret): GrantColumns,
) -> Result<GrantRecord, StoreError> {
    Ok(GrantRecord {
        grant_id,
        region: region(&r)?,
        key_id: key_id(&k)?,
        name,
        grantee_principal: grantee,
        retiring_principal: retiring,
        issuing_principal: issuing,
        operations: decode_operations(&ops)?,
        constraints: constraints.as_deref().map(decode_constraints).transpose()?,
        created_at: Timestamp(created),
        token_secret: secret,
    })
}

pub const PRINCIPAL_TAG_SELECT: &str =
    "SELECT principal_kind, principal_name, tag_key, tag_value FROM principal_tags";

pub type PrincipalTagColumns = (String, String, String, String);

pub fn principal_tag_columns(r: &Row<'_>) -> rusqlite::Result<PrincipalTagColumns> {
    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
}

/// A principal tag and whose it is; a kind other than `user` or `role` is corrupt.
pub fn principal_tag_record(
    (kind, name, key, value): PrincipalTagColumns,
) -> Result<(PrincipalRef, Tag), StoreError> {
    Ok((principal(&kind, name)?, Tag { key, value }))
}
