//! The embedded store: one SQLite database file in WAL mode with `synchronous=FULL`.
//!
//! Writes go through a single writer thread that commits in groups: batches that arrive
//! while a commit is in flight are applied together in the next transaction (each inside
//! its own savepoint, so one failing batch does not affect the others) and share one fsync.
//! A caller's `apply` returns only after the transaction holding its batch has committed.
//! Reads use a separate connection, which in WAL mode never blocks the writer.

mod migrations;
mod rows;

use kagi_kms::{
    AccessKeyRecord, AliasName, AliasRecord, GrantRecord, KeyId, PrincipalRef, Region,
    RolePolicyRecord, RoleRecord, Store, StoreError, StoredKey, Tag, Timestamp, UserPolicyRecord,
    Write,
};
use rusqlite::{params, Connection, OptionalExtension};
use std::path::Path;
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::Mutex;
use std::thread::JoinHandle;

/// Most batches one transaction will group.
const MAX_GROUP: usize = 512;

struct Job {
    writes: Vec<Write>,
    reply: Sender<Result<(), StoreError>>,
}

pub struct SqliteStore {
    jobs: Mutex<Option<Sender<Job>>>,
    writer: Mutex<Option<JoinHandle<()>>>,
    reader: Mutex<Connection>,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SqliteStore")
    }
}

pub(crate) fn backend(e: rusqlite::Error) -> StoreError {
    StoreError::Backend(e.to_string())
}

fn open_connection(path: &Path) -> Result<Connection, StoreError> {
    let conn = Connection::open(path).map_err(backend)?;
    conn.busy_timeout(std::time::Duration::from_secs(10))
        .map_err(backend)?;
    conn.pragma_update(None, "journal_mode", "WAL")
        .map_err(backend)?;
    conn.pragma_update(None, "synchronous", "FULL")
        .map_err(backend)?;
    conn.pragma_update(None, "foreign_keys", "ON")
        .map_err(backend)?;
    Ok(conn)
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path` and brings its schema up to date.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let mut writer_conn = open_connection(path)?;
        migrations::migrate(&mut writer_conn)?;
        let reader = open_connection(path)?;
        let (tx, rx) = mpsc::channel::<Job>();
        let handle = std::thread::Builder::new()
            .name("kagi-sqlite-writer".into())
            .spawn(move || writer_loop(writer_conn, rx))
            .map_err(|e| StoreError::Backend(format!("cannot start writer thread: {e}")))?;
        Ok(Self {
            jobs: Mutex::new(Some(tx)),
            writer: Mutex::new(Some(handle)),
            reader: Mutex::new(reader),
        })
    }

    fn reader(&self) -> std::sync::MutexGuard<'_, Connection> {
        // A poisoned reader only means a panic elsewhere mid-read; the connection is fine.
        self.reader.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Stops the writer after it has committed everything already submitted.
    pub fn close(&self) {
        self.jobs.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(h) = self.writer.lock().unwrap_or_else(|e| e.into_inner()).take() {
            let _ = h.join();
        }
    }
}

impl Drop for SqliteStore {
    fn drop(&mut self) {
        self.close();
    }
}

fn writer_loop(mut conn: Connection, jobs: Receiver<Job>) {
    while let Ok(first) = jobs.recv() {
        let mut group = vec![first];
        while group.len() < MAX_GROUP {
            match jobs.try_recv() {
                Ok(j) => group.push(j),
                Err(_) => break,
            }
        }
        let results = commit_group(&mut conn, &group);
        for (job, result) in group.into_iter().zip(results) {
            let _ = job.reply.send(result);
        }
    }
}

/// Applies each job in its own savepoint inside one transaction; returns one result per
/// job. If the commit itself fails, every job fails.
fn commit_group(conn: &mut Connection, group: &[Job]) -> Vec<Result<(), StoreError>> {
    let mut tx = match conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate) {
        Ok(tx) => tx,
        Err(e) => return group.iter().map(|_| Err(backend_ref(&e))).collect(),
    };
    let mut results = Vec::with_capacity(group.len());
    for job in group {
        let outcome = (|| -> Result<(), StoreError> {
            // Dropping an uncommitted savepoint rolls back just this job's writes.
            let sp = tx.savepoint().map_err(backend)?;
            for w in &job.writes {
                rows::apply_write(&sp, w)?;
            }
            sp.commit().map_err(backend)
        })();
        results.push(outcome);
    }
    if let Err(e) = tx.commit() {
        return group.iter().map(|_| Err(backend_ref(&e))).collect();
    }
    results
}

fn backend_ref(e: &rusqlite::Error) -> StoreError {
    StoreError::Backend(e.to_string())
}

impl Store for SqliteStore {
    fn apply(&self, writes: Vec<Write>) -> Result<(), StoreError> {
        let (reply, done) = mpsc::channel();
        {
            let jobs = self.jobs.lock().unwrap_or_else(|e| e.into_inner());
            let sender = jobs
                .as_ref()
                .ok_or_else(|| StoreError::Backend("store is closed".into()))?;
            sender
                .send(Job { writes, reply })
                .map_err(|_| StoreError::Backend("writer thread stopped".into()))?;
        }
        done.recv()
            .map_err(|_| StoreError::Backend("writer thread stopped".into()))?
    }

    fn load_key(&self, region: &Region, key_id: &KeyId) -> Result<Option<StoredKey>, StoreError> {
        rows::load_key(&self.reader(), region, key_id)
    }

    fn list_keys(
        &self,
        region: &Region,
        after: Option<&KeyId>,
        limit: usize,
    ) -> Result<Vec<KeyId>, StoreError> {
        let conn = self.reader();
        let after = after.map(|k| k.to_string()).unwrap_or_default();
        let mut stmt = conn
            .prepare_cached(
                "SELECT key_id FROM keys WHERE region = ?1 AND key_id > ?2 ORDER BY key_id LIMIT ?3",
            )
            .map_err(backend)?;
        let ids = stmt
            .query_map(params![region.as_str(), after, limit as i64], |r| {
                r.get::<_, String>(0)
            })
            .map_err(backend)?;
        ids.map(|s| crate::codec::key_id(&s.map_err(backend)?))
            .collect()
    }

    fn alias(&self, region: &Region, name: &AliasName) -> Result<Option<AliasRecord>, StoreError> {
        let conn = self.reader();
        let mut stmt = conn
            .prepare_cached(
                "SELECT name, target, created_at, updated_at FROM aliases WHERE region = ?1 AND name = ?2",
            )
            .map_err(backend)?;
        stmt.query_row(params![region.as_str(), name.as_str()], rows::alias_columns)
            .optional()
            .map_err(backend)?
            .map(|cols| rows::alias_record(region, cols))
            .transpose()
    }

    fn list_aliases(
        &self,
        region: &Region,
        target: Option<&KeyId>,
        after: Option<&AliasName>,
        limit: usize,
    ) -> Result<Vec<AliasRecord>, StoreError> {
        let conn = self.reader();
        let after = after.map(|a| a.as_str().to_string()).unwrap_or_default();
        let target = target.map(|t| t.to_string());
        let mut stmt = conn
            .prepare_cached(
                "SELECT name, target, created_at, updated_at FROM aliases
                 WHERE region = ?1 AND name > ?2 AND (?3 IS NULL OR target = ?3)
                 ORDER BY name LIMIT ?4",
            )
            .map_err(backend)?;
        let found = stmt
            .query_map(
                params![region.as_str(), after, target, limit as i64],
                rows::alias_columns,
            )
            .map_err(backend)?;
        found
            .map(|cols| rows::alias_record(region, cols.map_err(backend)?))
            .collect()
    }

    fn due_for_deletion(&self, now: Timestamp) -> Result<Vec<(Region, KeyId)>, StoreError> {
        rows::due(
            &self.reader(),
            "SELECT region, key_id FROM keys WHERE deletion_date IS NOT NULL AND deletion_date <= ?1",
            now,
        )
    }

    fn due_for_rotation(&self, now: Timestamp) -> Result<Vec<(Region, KeyId)>, StoreError> {
        rows::due(
            &self.reader(),
            "SELECT region, key_id FROM keys WHERE next_rotation IS NOT NULL AND next_rotation <= ?1",
            now,
        )
    }

    fn access_key(&self, access_key_id: &str) -> Result<Option<AccessKeyRecord>, StoreError> {
        let conn = self.reader();
        let mut stmt = conn
            .prepare_cached(&format!(
                "{} WHERE access_key_id = ?1",
                rows::ACCESS_KEY_SELECT
            ))
            .map_err(backend)?;
        stmt.query_row(params![access_key_id], rows::access_key_columns)
            .optional()
            .map_err(backend)?
            .map(rows::access_key_record)
            .transpose()
    }

    fn list_access_keys(&self) -> Result<Vec<AccessKeyRecord>, StoreError> {
        let conn = self.reader();
        let mut stmt = conn
            .prepare_cached(&format!(
                "{} ORDER BY user_name, access_key_id",
                rows::ACCESS_KEY_SELECT
            ))
            .map_err(backend)?;
        let found = stmt
            .query_map([], rows::access_key_columns)
            .map_err(backend)?;
        found
            .map(|cols| rows::access_key_record(cols.map_err(backend)?))
            .collect()
    }

    fn setting(&self, name: &str) -> Result<Option<String>, StoreError> {
        let conn = self.reader();
        conn.query_row(
            "SELECT value FROM settings WHERE name = ?1",
            params![name],
            |r| r.get(0),
        )
        .optional()
        .map_err(backend)
    }

    fn user_policies(&self, user_name: &str) -> Result<Vec<UserPolicyRecord>, StoreError> {
        let conn = self.reader();
        let mut stmt = conn
            .prepare_cached(&format!(
                "{} WHERE user_name = ?1 ORDER BY policy_name",
                rows::USER_POLICY_SELECT
            ))
            .map_err(backend)?;
        let found = stmt
            .query_map(params![user_name], rows::user_policy_record)
            .map_err(backend)?;
        found.map(|p| p.map_err(backend)).collect()
    }

    fn principal_tags(&self, principal: &PrincipalRef) -> Result<Vec<Tag>, StoreError> {
        let conn = self.reader();
        let mut stmt = conn
            .prepare_cached(&format!(
                "{} WHERE principal_kind = ?1 AND principal_name = ?2 ORDER BY tag_key",
                rows::PRINCIPAL_TAG_SELECT
            ))
            .map_err(backend)?;
        let found = stmt
            .query_map(
                params![principal.kind(), principal.name()],
                rows::principal_tag_columns,
            )
            .map_err(backend)?;
        found
            .map(|cols| Ok(rows::principal_tag_record(cols.map_err(backend)?)?.1))
            .collect()
    }

    fn role(&self, role_name: &str) -> Result<Option<RoleRecord>, StoreError> {
        let conn = self.reader();
        let mut stmt = conn
            .prepare_cached(&format!("{} WHERE role_name = ?1", rows::ROLE_SELECT))
            .map_err(backend)?;
        stmt.query_row(params![role_name], rows::role_record)
            .optional()
            .map_err(backend)
    }

    fn list_roles(&self) -> Result<Vec<RoleRecord>, StoreError> {
        let conn = self.reader();
        let mut stmt = conn
            .prepare_cached(&format!("{} ORDER BY role_name", rows::ROLE_SELECT))
            .map_err(backend)?;
        let found = stmt.query_map([], rows::role_record).map_err(backend)?;
        found.map(|r| r.map_err(backend)).collect()
    }

    fn role_policies(&self, role_name: &str) -> Result<Vec<RolePolicyRecord>, StoreError> {
        let conn = self.reader();
        let mut stmt = conn
            .prepare_cached(&format!(
                "{} WHERE role_name = ?1 ORDER BY policy_name",
                rows::ROLE_POLICY_SELECT
            ))
            .map_err(backend)?;
        let found = stmt
            .query_map(params![role_name], rows::role_policy_record)
            .map_err(backend)?;
        found.map(|p| p.map_err(backend)).collect()
    }
    fn grants(&self, region: &Region, key_id: &KeyId) -> Result<Vec<GrantRecord>, StoreError> {
        let conn = self.reader();
        let mut stmt = conn
            .prepare_cached(&format!(
                "{} WHERE region = ?1 AND key_id = ?2 ORDER BY grant_id",
                rows::GRANT_SELECT
            ))
            .map_err(backend)?;
        let found = stmt
            .query_map(
                params![region.as_str(), key_id.to_string()],
                rows::grant_columns,
            )
            .map_err(backend)?;
        found
            .map(|cols| rows::grant_record(cols.map_err(backend)?))
            .collect()
    }

    fn grant(
        &self,
        region: &Region,
        key_id: &KeyId,
        grant_id: &str,
    ) -> Result<Option<GrantRecord>, StoreError> {
        let conn = self.reader();
        let mut stmt = conn
            .prepare_cached(&format!(
                "{} WHERE grant_id = ?1 AND region = ?2 AND key_id = ?3",
                rows::GRANT_SELECT
            ))
            .map_err(backend)?;
        stmt.query_row(
            params![grant_id, region.as_str(), key_id.to_string()],
            rows::grant_columns,
        )
        .optional()
        .map_err(backend)?
        .map(rows::grant_record)
        .transpose()
    }

    fn retirable_grants(
        &self,
        retiring_principal: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<GrantRecord>, StoreError> {
        let conn = self.reader();
        let mut stmt = conn
            .prepare_cached(&format!(
                "{} WHERE retiring_principal = ?1 AND grant_id > ?2 ORDER BY grant_id LIMIT ?3",
                rows::GRANT_SELECT
            ))
            .map_err(backend)?;
        let found = stmt
            .query_map(
                params![retiring_principal, after.unwrap_or(""), limit as i64],
                rows::grant_columns,
            )
            .map_err(backend)?;
        found
            .map(|cols| rows::grant_record(cols.map_err(backend)?))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_meets_the_store_contract() {
        let dir = tempfile::tempdir().unwrap();
        let mut n = 0;
        crate::contract::run_all(&mut || {
            n += 1;
            Box::new(SqliteStore::open(&dir.path().join(format!("{n}.db"))).unwrap())
        });
    }

    #[test]
    fn concurrent_writers_are_grouped_and_all_durable() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kagi.db");
        let store = std::sync::Arc::new(SqliteStore::open(&path).unwrap());
        let threads: Vec<_> = (0..8)
            .map(|t| {
                let s = store.clone();
                std::thread::spawn(move || {
                    for i in 0..25 {
                        s.apply(vec![Write::PutSetting {
                            name: format!("t{t}-{i}"),
                            value: "v".into(),
                        }])
                        .unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        drop(store);
        let reopened = SqliteStore::open(&path).unwrap();
        for t in 0..8 {
            for i in 0..25 {
                assert!(reopened.setting(&format!("t{t}-{i}")).unwrap().is_some());
            }
        }
    }

    #[test]
    fn user_policies_survive_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kagi.db");
        let policy = UserPolicyRecord {
            user_name: "alice".into(),
            policy_name: "EncryptOnly".into(),
            document: r#"{"Version":"2012-10-17","Statement":[]}"#.into(),
            updated_at: Timestamp(42),
        };
        let store = SqliteStore::open(&path).unwrap();
        store
            .apply(vec![Write::PutUserPolicy(policy.clone())])
            .unwrap();
        drop(store);
        let reopened = SqliteStore::open(&path).unwrap();
        assert_eq!(reopened.user_policies("alice").unwrap(), vec![policy]);
    }

    #[test]
    fn roles_and_role_policies_survive_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kagi.db");
        let role = RoleRecord {
            role_name: "Deployer".into(),
            trust_policy: r#"{"Version":"2012-10-17","Statement":[]}"#.into(),
            max_session_seconds: 43_200,
            created_at: Timestamp(42),
        };
        let policy = RolePolicyRecord {
            role_name: "Deployer".into(),
            policy_name: "EncryptOnly".into(),
            document: r#"{"Version":"2012-10-17","Statement":[]}"#.into(),
            updated_at: Timestamp(43),
        };
        let store = SqliteStore::open(&path).unwrap();
        store
            .apply(vec![
                Write::PutRole(role.clone()),
                Write::PutRolePolicy(policy.clone()),
            ])
            .unwrap();
        drop(store);
        let reopened = SqliteStore::open(&path).unwrap();
        assert_eq!(reopened.role("Deployer").unwrap(), Some(role.clone()));
        assert_eq!(reopened.list_roles().unwrap(), vec![role]);
        assert_eq!(reopened.role_policies("Deployer").unwrap(), vec![policy]);
    }

    /// Version 3 only adds the (empty) role tables; what version 2 left stays.
    #[test]
    fn migration_3_adds_roles_to_a_version_2_database() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kagi.db");
        {
            let mut c = Connection::open(&path).unwrap();
            migrations::migrate_to(&mut c, 2).unwrap();
            c.execute_batch(
                "INSERT INTO user_policies (user_name, policy_name, document, updated_at)
                 VALUES ('alice', 'EncryptOnly', '{}', 5);",
            )
            .unwrap();
        }
        let store = SqliteStore::open(&path).unwrap();
        assert!(store.list_roles().unwrap().is_empty());
        assert!(store.role_policies("alice").unwrap().is_empty());
        assert_eq!(store.user_policies("alice").unwrap().len(), 1);
        let version: i64 = store
            .reader()
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!(version, migrations::MIGRATIONS.len() as i64);
    }

    /// Version 2 gives every user with a non-admin access key the access all users had
    /// before identity policies existed, and gives admins nothing (they need none).
    #[test]
    fn migration_2_gives_existing_non_admin_users_a_legacy_policy() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kagi.db");
        {
            let mut c = Connection::open(&path).unwrap();
            migrations::migrate_to(&mut c, 1).unwrap();
            c.execute_batch(
                "INSERT INTO access_keys (access_key_id, user_name, status, created_at, admin, wrapped_secret) VALUES
                    ('KAGIADMIN', 'admin', 'Active', 100, 1, x'01'),
                    ('KAGIALICE2', 'alice', 'Inactive', 300, 0, x'02'),
                    ('KAGIALICE1', 'alice', 'Active', 200, 0, x'03'),
                    ('KAGIBOB', 'bob', 'Active', 400, 0, x'04');",
            )
            .unwrap();
        }
        let store = SqliteStore::open(&path).unwrap();
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
        let (rows, version): (i64, i64) = {
            let c = store.reader();
            let rows = c
                .query_row("SELECT count(*) FROM user_policies", [], |r| r.get(0))
                .unwrap();
            let version = c
                .pragma_query_value(None, "user_version", |r| r.get(0))
                .unwrap();
            (rows, version)
        };
        assert_eq!(rows, 2);
        assert_eq!(version, migrations::MIGRATIONS.len() as i64);
        // The access keys themselves are untouched.
        assert_eq!(store.list_access_keys().unwrap().len(), 4);
    }

    /// Version 4 adds the account of an access key; every existing key belongs to the
    /// installation's own account (NULL, read as `None`).
    #[test]
    fn migration_4_leaves_existing_access_keys_in_the_installations_account() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kagi.db");
        {
            let mut c = Connection::open(&path).unwrap();
            migrations::migrate_to(&mut c, 3).unwrap();
            c.execute_batch(
                "INSERT INTO access_keys (access_key_id, user_name, status, created_at, admin, wrapped_secret)
                 VALUES ('KAGIALICE', 'alice', 'Active', 200, 0, x'03');",
            )
            .unwrap();
        }
        let store = SqliteStore::open(&path).unwrap();
        let got = store.access_key("KAGIALICE").unwrap().unwrap();
        assert_eq!(got.account, None);
        assert_eq!(got.user_name, "alice");
        assert_eq!(got.wrapped_secret, vec![3]);
        let version: i64 = store
            .reader()
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!(version, migrations::MIGRATIONS.len() as i64);
    }

    #[test]
    fn an_access_key_with_a_bad_account_is_corrupt() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kagi.db");
        drop(SqliteStore::open(&path).unwrap());
        Connection::open(&path)
            .unwrap()
            .execute_batch(
                "INSERT INTO access_keys (access_key_id, user_name, status, created_at, admin, wrapped_secret, account)
                 VALUES ('KAGIBAD', 'mallory', 'Active', 1, 0, x'01', '12345');",
            )
            .unwrap();
        let store = SqliteStore::open(&path).unwrap();
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
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kagi.db");
        {
            let mut c = Connection::open(&path).unwrap();
            migrations::migrate_to(&mut c, 5).unwrap();
            c.execute_batch(
                "INSERT INTO roles (role_name, trust_policy, max_session_seconds, created_at)
                 VALUES ('ops', '{}', 3600, 5);",
            )
            .unwrap();
        }
        let store = SqliteStore::open(&path).unwrap();
        assert!(store
            .principal_tags(&PrincipalRef::Role("ops".into()))
            .unwrap()
            .is_empty());
        assert_eq!(store.list_roles().unwrap().len(), 1);
        let version: i64 = store
            .reader()
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!(version, migrations::MIGRATIONS.len() as i64);
    }

    #[test]
    fn migration_7_starts_existing_keys_at_revision_1() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kagi.db");
        let id = KeyId::from_bytes([7; 16]);
        {
            let mut c = Connection::open(&path).unwrap();
            migrations::migrate_to(&mut c, 6).unwrap();
            c.execute(
                "INSERT INTO keys (region, key_id, created_at, description, state, policy, tags)
                 VALUES ('us-east-1', ?1, 5, 'old', 'Enabled', '{}', '[]')",
                [id.to_string()],
            )
            .unwrap();
        }
        let store = SqliteStore::open(&path).unwrap();
        let region = Region::parse("us-east-1").unwrap();
        let mut meta = store.load_key(&region, &id).unwrap().unwrap().meta;
        assert_eq!(meta.revision, 1);
        meta.description = "new".into();
        meta.revision = 2;
        store.apply(vec![Write::PutKey(meta.clone())]).unwrap();
        assert_eq!(store.load_key(&region, &id).unwrap().unwrap().meta, meta);
    }

    #[test]
    fn principal_tags_survive_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kagi.db");
        let tags = vec![Tag {
            key: "team".into(),
            value: "kagi".into(),
        }];
        let store = SqliteStore::open(&path).unwrap();
        store
            .apply(vec![Write::PutPrincipalTags {
                principal: PrincipalRef::User("alice".into()),
                tags: tags.clone(),
            }])
            .unwrap();
        drop(store);
        let reopened = SqliteStore::open(&path).unwrap();
        assert_eq!(
            reopened
                .principal_tags(&PrincipalRef::User("alice".into()))
                .unwrap(),
            tags
        );
    }

    #[test]
    fn a_principal_tag_of_an_unknown_kind_is_corrupt() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kagi.db");
        drop(SqliteStore::open(&path).unwrap());
        let c = Connection::open(&path).unwrap();
        c.execute_batch(
            "INSERT INTO principal_tags (principal_kind, principal_name, tag_key, tag_value)
             VALUES ('group', 'ops', 'team', 'x'), ('role', 'ops', 'team', 'y');",
        )
        .unwrap();
        let mut stmt = c
            .prepare(&format!(
                "{} ORDER BY principal_kind",
                rows::PRINCIPAL_TAG_SELECT
            ))
            .unwrap();
        let decoded: Vec<_> = stmt
            .query_map([], rows::principal_tag_columns)
            .unwrap()
            .map(|cols| rows::principal_tag_record(cols.unwrap()))
            .collect();
        assert!(matches!(decoded[0], Err(StoreError::Corrupt(_))));
        assert_eq!(
            decoded[1].as_ref().unwrap().0,
            PrincipalRef::Role("ops".into())
        );
    }

    #[test]
    fn refuses_a_newer_schema() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kagi.db");
        drop(SqliteStore::open(&path).unwrap());
        let c = Connection::open(&path).unwrap();
        c.pragma_update(None, "user_version", 99).unwrap();
        drop(c);
        let err = SqliteStore::open(&path).unwrap_err();
        assert!(err.to_string().contains("newer"), "{err}");
    }
}
