//! Schema migrations, tracked in SQLite's `user_version`. Each entry upgrades from the
//! previous version; entries are never edited once released, only appended.

use super::backend;
use kagi_kms::StoreError;
use rusqlite::Connection;

pub(super) const MIGRATIONS: &[&str] = &[
    // 1: keys, backing-key versions, aliases, access keys, settings.
    "CREATE TABLE settings (
        name TEXT PRIMARY KEY,
        value TEXT NOT NULL
    ) WITHOUT ROWID;
    CREATE TABLE keys (
        region TEXT NOT NULL,
        key_id TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        description TEXT NOT NULL,
        state TEXT NOT NULL,
        deletion_date INTEGER,
        pending_window_days INTEGER,
        policy TEXT NOT NULL,
        rotation_period_days INTEGER,
        next_rotation INTEGER,
        tags TEXT NOT NULL,
        PRIMARY KEY (region, key_id)
    ) WITHOUT ROWID;
    CREATE INDEX keys_deletion ON keys (deletion_date) WHERE deletion_date IS NOT NULL;
    CREATE INDEX keys_rotation ON keys (next_rotation) WHERE next_rotation IS NOT NULL;
    CREATE TABLE key_versions (
        region TEXT NOT NULL,
        key_id TEXT NOT NULL,
        version INTEGER NOT NULL,
        created_at INTEGER NOT NULL,
        rotation TEXT,
        wrapped BLOB NOT NULL,
        PRIMARY KEY (region, key_id, version),
        FOREIGN KEY (region, key_id) REFERENCES keys (region, key_id) ON DELETE CASCADE
    ) WITHOUT ROWID;
    CREATE TABLE aliases (
        region TEXT NOT NULL,
        name TEXT NOT NULL,
        target TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL,
        PRIMARY KEY (region, name),
        FOREIGN KEY (region, target) REFERENCES keys (region, key_id) ON DELETE CASCADE
    ) WITHOUT ROWID;
    CREATE INDEX aliases_target ON aliases (region, target);
    CREATE TABLE access_keys (
        access_key_id TEXT PRIMARY KEY,
        user_name TEXT NOT NULL,
        status TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        admin INTEGER NOT NULL,
        wrapped_secret BLOB NOT NULL
    ) WITHOUT ROWID;",
    // 2: inline identity policies of users. Until this version every authenticated user
    // could call every KMS operation; from now on a non-admin user needs an identity policy.
    // So that existing installations keep working, every user with a non-admin access key
    // gets a policy allowing all of KMS, dated by that user's oldest non-admin access key.
    // The document is written out here, not shared with code, because a released migration
    // must never change.
    r#"CREATE TABLE user_policies (
        user_name TEXT NOT NULL,
        policy_name TEXT NOT NULL,
        document TEXT NOT NULL,
        updated_at INTEGER NOT NULL,
        PRIMARY KEY (user_name, policy_name)
    ) WITHOUT ROWID;
    INSERT INTO user_policies (user_name, policy_name, document, updated_at)
    SELECT user_name,
        'KagiLegacyFullKmsAccess',
        '{"Version":"2012-10-17","Statement":[{"Sid":"KagiLegacyFullKmsAccess","Effect":"Allow","Action":"kms:*","Resource":"*"}]}',
        MIN(created_at)
    FROM access_keys WHERE admin = 0 GROUP BY user_name;"#,
    // 3: IAM roles (trust policy and session limit) and their inline identity policies.
    // No foreign key from a role policy to its role: the store deletes a role's policies
    // together with the role, in the same transaction. Existing installations have no
    // roles, so there is nothing to fill in.
    "CREATE TABLE roles (
        role_name TEXT PRIMARY KEY,
        trust_policy TEXT NOT NULL,
        max_session_seconds INTEGER NOT NULL,
        created_at INTEGER NOT NULL
    ) WITHOUT ROWID;
    CREATE TABLE role_policies (
        role_name TEXT NOT NULL,
        policy_name TEXT NOT NULL,
        document TEXT NOT NULL,
        updated_at INTEGER NOT NULL,
        PRIMARY KEY (role_name, policy_name)
    ) WITHOUT ROWID;",
    // 4: the account an access key's user belongs to when it is not the installation's own
    // (a principal of a second account). NULL is the installation's account, which every
    // existing access key belongs to, so there is nothing to fill in.
    "ALTER TABLE access_keys ADD COLUMN account TEXT;",
    // 5: grants. Operations and constraints are JSON (codec.rs); a grant goes with its key.
    "CREATE TABLE grants (
        grant_id TEXT PRIMARY KEY,
        region TEXT NOT NULL,
        key_id TEXT NOT NULL,
        name TEXT,
        grantee_principal TEXT NOT NULL,
        retiring_principal TEXT,
        issuing_principal TEXT NOT NULL,
        operations TEXT NOT NULL,
        constraints TEXT,
        created_at INTEGER NOT NULL,
        token_secret BLOB NOT NULL,
        FOREIGN KEY (region, key_id) REFERENCES keys (region, key_id) ON DELETE CASCADE
    ) WITHOUT ROWID;
    CREATE INDEX grants_key ON grants (region, key_id, grant_id);
    CREATE INDEX grants_retiring ON grants (retiring_principal, grant_id)
        WHERE retiring_principal IS NOT NULL;",
    // 6: tags of users and roles (aws:PrincipalTag/*), one row per principal and tag key.
    // principal_kind is 'user' or 'role': a user and a role of the same name have separate
    // tags. No foreign key: users exist only through their access keys, and the store
    // deletes a role's tags together with the role, in the same transaction. Existing
    // installations have no tags, so there is nothing to fill in.
    "CREATE TABLE principal_tags (
        principal_kind TEXT NOT NULL,
        principal_name TEXT NOT NULL,
        tag_key TEXT NOT NULL,
        tag_value TEXT NOT NULL,
        PRIMARY KEY (principal_kind, principal_name, tag_key)
    ) WITHOUT ROWID;",
    // 7: a revision per key, checked by every change of it, so that nodes sharing a store
    // never overwrite a newer change with one based on an outdated copy. Existing keys
    // start at revision 1.
    "ALTER TABLE keys ADD COLUMN revision INTEGER NOT NULL DEFAULT 1;",
];

/// Brings the schema to the newest version, in one transaction per step.
pub fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    migrate_to(conn, MIGRATIONS.len())
}

/// Brings the schema up to version `target` (at most the newest), in one transaction per
/// step. Tests use it to build a database as an older release left it.
pub(super) fn migrate_to(conn: &mut Connection, target: usize) -> Result<(), StoreError> {
    let current: i64 = conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .map_err(backend)?;
    let newest = MIGRATIONS.len() as i64;
    if current > newest {
        return Err(StoreError::Backend(format!(
            "database schema version {current} is newer than this build understands ({newest}); upgrade Kagi"
        )));
    }
    for (i, sql) in MIGRATIONS
        .iter()
        .enumerate()
        .take(target)
        .skip(current as usize)
    {
        let tx = conn.transaction().map_err(backend)?;
        tx.execute_batch(sql).map_err(backend)?;
        tx.pragma_update(None, "user_version", (i + 1) as i64)
            .map_err(backend)?;
        tx.commit().map_err(backend)?;
        tracing::info!(version = i + 1, "applied schema migration");
    }
    Ok(())
}
