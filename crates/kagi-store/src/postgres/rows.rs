//! Mapping between domain records and PostgreSQL rows.
//!
//! Columns are read with `try_get`, so a row of an unexpected type or range becomes a
//! [`StoreError`] instead of a panic. Unsigned domain values (`u32` days and versions) are
//! stored as BIGINT and checked on the way back. Nothing here opens or ends transactions.

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
use postgres::error::SqlState;
use postgres::types::{FromSql, ToSql};
use postgres::{GenericClient, Row, Statement};

/// Reads column `idx`; a type mismatch is a backend error, never a panic.
pub fn col<'a, T: FromSql<'a>>(row: &'a Row, idx: usize) -> Result<T, StoreError> {
    row.try_get(idx).map_err(backend)
}

fn small(v: Option<i64>, what: &str) -> Result<Option<u32>, StoreError> {
    v.map(|n| {
        u32::try_from(n).map_err(|_| StoreError::Corrupt(format!("{what} out of range: {n}")))
    })
    .transpose()
}

/// Revisions count changes of one key; 2^63 of them cannot happen.
fn revision_sql(revision: u64) -> Result<i64, StoreError> {
    i64::try_from(revision).map_err(|_| StoreError::Corrupt("key revision out of range".into()))
}

/// A unique violation becomes [`StoreError::Conflict`]; anything else a backend error.
fn conflict_or_backend(e: postgres::Error) -> StoreError {
    if e.code() == Some(&SqlState::UNIQUE_VIOLATION) {
        StoreError::Conflict
    } else {
        backend(e)
    }
}

/// Statements prepared on one connection, by their SQL text (a fixed set: the write
/// path's statements are constants).
pub type Statements = std::collections::HashMap<&'static str, Statement>;

/// A client (a transaction) whose `execute` prepares each statement once per connection.
pub struct Cached<'a, C> {
    pub client: &'a mut C,
    pub statements: &'a mut Statements,
}

impl<C: GenericClient> Cached<'_, C> {
    pub fn execute(
        &mut self,
        sql: &'static str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<u64, postgres::Error> {
        let statement = match self.statements.get(sql) {
            Some(s) => s.clone(),
            None => {
                let s = self.client.prepare(sql)?;
                self.statements.insert(sql, s.clone());
                s
            }
        };
        self.client.execute(&statement, params)
    }

    pub fn batch_execute(&mut self, sql: &str) -> Result<(), postgres::Error> {
        self.client.batch_execute(sql)
    }
}

pub fn apply_write(c: &mut Cached<'_, impl GenericClient>, w: &Write) -> Result<(), StoreError> {
    match w {
        Write::PutKey(m) if m.revision <= 1 => {
            c.execute(
                "INSERT INTO keys (region, key_id, created_at, description, state, deletion_date,
                    pending_window_days, policy, rotation_period_days, next_rotation, tags,
                    revision)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 1)",
                &[
                    &m.region.as_str(),
                    &m.key_id.to_string(),
                    &m.created_at.0,
                    &m.description,
                    &m.state.as_str(),
                    &m.deletion_date.map(|t| t.0),
                    &m.pending_window_days.map(i64::from),
                    &m.policy,
                    &m.rotation_period_days.map(i64::from),
                    &m.next_rotation.map(|t| t.0),
                    &encode_tags(&m.tags),
                ],
            )
            .map_err(conflict_or_backend)?;
        }
        Write::PutKey(m) => {
            // Only over the revision this one follows; created_at never changes.
            let changed = c
                .execute(
                    "UPDATE keys SET description = $3, state = $4, deletion_date = $5,
                        pending_window_days = $6, policy = $7, rotation_period_days = $8,
                        next_rotation = $9, tags = $10, revision = $11::BIGINT
                     WHERE region = $1 AND key_id = $2 AND revision = $11::BIGINT - 1",
                    &[
                        &m.region.as_str(),
                        &m.key_id.to_string(),
                        &m.description,
                        &m.state.as_str(),
                        &m.deletion_date.map(|t| t.0),
                        &m.pending_window_days.map(i64::from),
                        &m.policy,
                        &m.rotation_period_days.map(i64::from),
                        &m.next_rotation.map(|t| t.0),
                        &encode_tags(&m.tags),
                        &revision_sql(m.revision)?,
                    ],
                )
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
            c.execute(
                "INSERT INTO key_versions (region, key_id, version, created_at, rotation, wrapped)
                 VALUES ($1, $2, $3, $4, $5, $6)",
                &[
                    &region.as_str(),
                    &key_id.to_string(),
                    &i64::from(version.version),
                    &version.created_at.0,
                    &version.rotation.map(RotationType::as_str),
                    &version.wrapped,
                ],
            )
            .map_err(backend)?;
        }
        Write::DestroyKey {
            region,
            key_id,
            revision,
        } => {
            // Versions, aliases and grants go with the key (ON DELETE CASCADE).
            let deleted = c
                .execute(
                    "DELETE FROM keys WHERE region = $1 AND key_id = $2 AND revision = $3",
                    &[
                        &region.as_str(),
                        &key_id.to_string(),
                        &revision_sql(*revision)?,
                    ],
                )
                .map_err(backend)?;
            if deleted == 0 {
                return Err(StoreError::Stale);
            }
        }
        Write::CreateAlias(a) => {
            c.execute(
                "INSERT INTO aliases (region, name, target, created_at, updated_at)
                 VALUES ($1, $2, $3, $4, $5)",
                &[
                    &a.region.as_str(),
                    &a.name.as_str(),
                    &a.target.to_string(),
                    &a.created_at.0,
                    &a.updated_at.0,
                ],
            )
            .map_err(conflict_or_backend)?;
        }
        Write::UpdateAlias(a) => {
            c.execute(
                "UPDATE aliases SET target = $3, updated_at = $4 WHERE region = $1 AND name = $2",
                &[
                    &a.region.as_str(),
                    &a.name.as_str(),
                    &a.target.to_string(),
                    &a.updated_at.0,
                ],
            )
            .map_err(backend)?;
        }
        Write::DeleteAlias { region, name } => {
            c.execute(
                "DELETE FROM aliases WHERE region = $1 AND name = $2",
                &[&region.as_str(), &name.as_str()],
            )
            .map_err(backend)?;
        }
        Write::PutAccessKey(k) => {
            c.execute(
                "INSERT INTO access_keys (access_key_id, user_name, status, created_at, admin, wrapped_secret, account)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
                &[
                    &k.access_key_id,
                    &k.user_name,
                    &k.status.as_str(),
                    &k.created_at.0,
                    &k.admin,
                    &k.wrapped_secret,
                    &k.account.as_ref().map(|a| a.as_str()),
                ],
            )
            .map_err(conflict_or_backend)?;
        }
        Write::SetAccessKeyStatus {
            access_key_id,
            status,
        } => {
            c.execute(
                "UPDATE access_keys SET status = $2 WHERE access_key_id = $1",
                &[access_key_id, &status.as_str()],
            )
            .map_err(backend)?;
        }
        Write::DeleteAccessKey { access_key_id } => {
            c.execute(
                "DELETE FROM access_keys WHERE access_key_id = $1",
                &[access_key_id],
            )
            .map_err(backend)?;
        }
        Write::PutUserPolicy(p) => {
            c.execute(
                "INSERT INTO user_policies (user_name, policy_name, document, updated_at)
                 VALUES ($1, $2, $3, $4)
                 ON CONFLICT (user_name, policy_name) DO UPDATE SET
                    document = excluded.document, updated_at = excluded.updated_at",
                &[&p.user_name, &p.policy_name, &p.document, &p.updated_at.0],
            )
            .map_err(backend)?;
        }
        Write::DeleteUserPolicy {
            user_name,
            policy_name,
        } => {
            c.execute(
                "DELETE FROM user_policies WHERE user_name = $1 AND policy_name = $2",
                &[user_name, policy_name],
            )
            .map_err(backend)?;
        }
        Write::PutRole(r) => {
            // An existing role keeps its creation time and its policies.
            c.execute(
                "INSERT INTO roles (role_name, trust_policy, max_session_seconds, created_at)
                 VALUES ($1, $2, $3, $4)
                 ON CONFLICT (role_name) DO UPDATE SET
                    trust_policy = excluded.trust_policy,
                    max_session_seconds = excluded.max_session_seconds",
                &[
                    &r.role_name,
                    &r.trust_policy,
                    &i64::from(r.max_session_seconds),
                    &r.created_at.0,
                ],
            )
            .map_err(backend)?;
        }
        Write::DeleteRole { role_name } => {
            // The role's policies and tags go with it, in the same transaction.
            c.execute(
                "DELETE FROM role_policies WHERE role_name = $1",
                &[role_name],
            )
            .map_err(backend)?;
            c.execute(
                "DELETE FROM principal_tags WHERE principal_kind = 'role' AND principal_name = $1",
                &[role_name],
            )
            .map_err(backend)?;
            c.execute("DELETE FROM roles WHERE role_name = $1", &[role_name])
                .map_err(backend)?;
        }
        Write::PutPrincipalTags { principal, tags } => {
            // Replaces every tag of the principal; of two tags with the same key the last
            // wins, as in the memory store.
            c.execute(
                "DELETE FROM principal_tags WHERE principal_kind = $1 AND principal_name = $2",
                &[&principal.kind(), &principal.name()],
            )
            .map_err(backend)?;
            for tag in tags {
                c.execute(
                    "INSERT INTO principal_tags (principal_kind, principal_name, tag_key, tag_value)
                     VALUES ($1, $2, $3, $4)
                     ON CONFLICT (principal_kind, principal_name, tag_key) DO UPDATE SET
                        tag_value = excluded.tag_value",
                    &[&principal.kind(), &principal.name(), &tag.key, &tag.value],
                )
                .map_err(backend)?;
            }
        }
        Write::PutRolePolicy(p) => {
            c.execute(
                "INSERT INTO role_policies (role_name, policy_name, document, updated_at)
                 VALUES ($1, $2, $3, $4)
                 ON CONFLICT (role_name, policy_name) DO UPDATE SET
                    document = excluded.document, updated_at = excluded.updated_at",
                &[&p.role_name, &p.policy_name, &p.document, &p.updated_at.0],
            )
            .map_err(backend)?;
        }
        Write::DeleteRolePolicy {
            role_name,
            policy_name,
        } => {
            c.execute(
                "DELETE FROM role_policies WHERE role_name = $1 AND policy_name = $2",
                &[role_name, policy_name],
            )
            .map_err(backend)?;
        }
        Write::PutGrant(g) => {
            c.execute(
                "INSERT INTO grants (grant_id, region, key_id, name, grantee_principal,
                    retiring_principal, issuing_principal, operations, constraints, created_at,
                    token_secret)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
                &[
                    &g.grant_id,
                    &g.region.as_str(),
                    &g.key_id.to_string(),
                    &g.name,
                    &g.grantee_principal,
                    &g.retiring_principal,
                    &g.issuing_principal,
                    &encode_operations(&g.operations),
                    &g.constraints.as_ref().map(encode_constraints),
                    &g.created_at.0,
                    &g.token_secret,
                ],
            )
            .map_err(conflict_or_backend)?;
        }
        Write::DeleteGrant {
            region,
            key_id,
            grant_id,
        } => {
            c.execute(
                "DELETE FROM grants WHERE grant_id = $1 AND region = $2 AND key_id = $3",
                &[grant_id, &region.as_str(), &key_id.to_string()],
            )
            .map_err(backend)?;
        }
        Write::PutSetting { name, value } => {
            c.execute(
                "INSERT INTO settings (name, value) VALUES ($1, $2)
                 ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                &[name, value],
            )
            .map_err(backend)?;
        }
        Write::InitSetting { name, value } => {
            c.execute(
                "INSERT INTO settings (name, value) VALUES ($1, $2)",
                &[name, value],
            )
            .map_err(conflict_or_backend)?;
        }
        Write::WipeKeys => {
            // Access keys, user policies, roles, role policies and settings stay; grants
            // go with their keys.
            c.batch_execute(
                "DELETE FROM grants; DELETE FROM aliases; DELETE FROM key_versions; DELETE FROM keys;",
            )
                .map_err(backend)?;
        }
    }
    Ok(())
}

pub fn load_key(
    c: &mut impl GenericClient,
    region: &Region,
    key_id: &KeyId,
) -> Result<Option<StoredKey>, StoreError> {
    let id = key_id.to_string();
    let Some(row) = c
        .query_opt(
            "SELECT created_at, description, state, deletion_date, pending_window_days, policy,
                    rotation_period_days, next_rotation, tags, revision
             FROM keys WHERE region = $1 AND key_id = $2",
            &[&region.as_str(), &id],
        )
        .map_err(backend)?
    else {
        return Ok(None);
    };
    let state: &str = col(&row, 2)?;
    let meta = KeyMetadata {
        region: region.clone(),
        key_id: *key_id,
        created_at: Timestamp(col(&row, 0)?),
        description: col(&row, 1)?,
        state: KeyState::parse(state)
            .ok_or_else(|| StoreError::Corrupt(format!("bad key state {state:?}")))?,
        deletion_date: col::<Option<i64>>(&row, 3)?.map(Timestamp),
        pending_window_days: small(col(&row, 4)?, "pending window")?,
        policy: col(&row, 5)?,
        rotation_period_days: small(col(&row, 6)?, "rotation period")?,
        next_rotation: col::<Option<i64>>(&row, 7)?.map(Timestamp),
        tags: decode_tags(col(&row, 8)?)?,
        revision: {
            let rev: i64 = col(&row, 9)?;
            u64::try_from(rev)
                .map_err(|_| StoreError::Corrupt(format!("bad key revision {rev}")))?
        },
    };
    let versions = c
        .query(
            "SELECT version, created_at, rotation, wrapped FROM key_versions
             WHERE region = $1 AND key_id = $2 ORDER BY version",
            &[&region.as_str(), &id],
        )
        .map_err(backend)?
        .iter()
        .map(|row| {
            let rotation = match col::<Option<&str>>(row, 2)? {
                None => None,
                Some(s) => Some(
                    RotationType::parse(s)
                        .ok_or_else(|| StoreError::Corrupt(format!("bad rotation {s:?}")))?,
                ),
            };
            let version: i64 = col(row, 0)?;
            Ok(StoredVersion {
                version: u32::try_from(version)
                    .map_err(|_| StoreError::Corrupt(format!("bad version {version}")))?,
                created_at: Timestamp(col(row, 1)?),
                rotation,
                wrapped: col(row, 3)?,
            })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    Ok(Some(StoredKey { meta, versions }))
}

pub const ALIAS_SELECT: &str = "SELECT name, target, created_at, updated_at FROM aliases";

pub fn alias_record(region: &Region, row: &Row) -> Result<AliasRecord, StoreError> {
    let name: &str = col(row, 0)?;
    Ok(AliasRecord {
        region: region.clone(),
        name: AliasName::parse(name)
            .map_err(|_| StoreError::Corrupt(format!("bad alias name {name:?}")))?,
        target: key_id(col(row, 1)?)?,
        created_at: Timestamp(col(row, 2)?),
        updated_at: Timestamp(col(row, 3)?),
    })
}

/// Runs a `(region, key_id)` query whose one parameter is `now`.
pub fn due(
    c: &mut impl GenericClient,
    sql: &str,
    now: Timestamp,
) -> Result<Vec<(Region, KeyId)>, StoreError> {
    c.query(sql, &[&now.0])
        .map_err(backend)?
        .iter()
        .map(|row| Ok((region(col(row, 0)?)?, key_id(col(row, 1)?)?)))
        .collect()
}

pub const ACCESS_KEY_SELECT: &str =
    "SELECT access_key_id, user_name, status, created_at, admin, wrapped_secret, account FROM access_keys";

pub fn access_key_record(row: &Row) -> Result<AccessKeyRecord, StoreError> {
    let status: &str = col(row, 2)?;
    Ok(AccessKeyRecord {
        access_key_id: col(row, 0)?,
        user_name: col(row, 1)?,
        status: AccessKeyStatus::parse(status)
            .ok_or_else(|| StoreError::Corrupt(format!("bad access key status {status:?}")))?,
        created_at: Timestamp(col(row, 3)?),
        admin: col(row, 4)?,
        wrapped_secret: col(row, 5)?,
        account: account(col(row, 6)?)?,
    })
}

pub const USER_POLICY_SELECT: &str =
    "SELECT user_name, policy_name, document, updated_at FROM user_policies";

pub fn user_policy_record(row: &Row) -> Result<UserPolicyRecord, StoreError> {
    Ok(UserPolicyRecord {
        user_name: col(row, 0)?,
        policy_name: col(row, 1)?,
        document: col(row, 2)?,
        updated_at: Timestamp(col(row, 3)?),
    })
}

pub const ROLE_SELECT: &str =
    "SELECT role_name, trust_policy, max_session_seconds, created_at FROM roles";

pub fn role_record(row: &Row) -> Result<RoleRecord, StoreError> {
    let max_session: i64 = col(row, 2)?;
    Ok(RoleRecord {
        role_name: col(row, 0)?,
        trust_policy: col(row, 1)?,
        max_session_seconds: u32::try_from(max_session).map_err(|_| {
            StoreError::Corrupt(format!("max session duration out of range: {max_session}"))
        })?,
        created_at: Timestamp(col(row, 3)?),
    })
}

pub const ROLE_POLICY_SELECT: &str =
    "SELECT role_name, policy_name, document, updated_at FROM role_policies";

pub fn role_policy_record(row: &Row) -> Result<RolePolicyRecord, StoreError> {
    Ok(RolePolicyRecord {
        role_name: col(row, 0)?,
        policy_name: col(row, 1)?,
        document: col(row, 2)?,
        updated_at: Timestamp(col(row, 3)?),
    })
}
pub const GRANT_SELECT: &str = "SELECT grant_id, region, key_id, name, grantee_principal,
    retiring_principal, issuing_principal, operations, constraints, created_at, token_secret
    FROM grants";

pub fn grant_record(row: &Row) -> Result<GrantRecord, StoreError> {
    Ok(GrantRecord {
        grant_id: col(row, 0)?,
        region: region(col(row, 1)?)?,
        key_id: key_id(col(row, 2)?)?,
        name: col(row, 3)?,
        grantee_principal: col(row, 4)?,
        retiring_principal: col(row, 5)?,
        issuing_principal: col(row, 6)?,
        operations: decode_operations(col(row, 7)?)?,
        constraints: col::<Option<&str>>(row, 8)?
            .map(decode_constraints)
            .transpose()?,
        created_at: Timestamp(col(row, 9)?),
        token_secret: col(row, 10)?,
    })
}

pub const PRINCIPAL_TAG_SELECT: &str =
    "SELECT principal_kind, principal_name, tag_key, tag_value FROM principal_tags";

/// A principal tag and whose it is; a kind other than `user` or `role` is corrupt.
pub fn principal_tag_record(row: &Row) -> Result<(PrincipalRef, Tag), StoreError> {
    let kind: &str = col(row, 0)?;
    Ok((
        principal(kind, col(row, 1)?)?,
        Tag {
            key: col(row, 2)?,
            value: col(row, 3)?,
        },
    ))
}
