//! Schema migrations, tracked in SQLite's `user_version`. Each entry upgrades from the
//! previous version; entries are never edited once released, only appended.

use super::backend;
use kagi_kms::StoreError;
use rusqlite::Connection;

const MIGRATIONS: &[&str] = &[
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
];

/// Brings the schema to the newest version, in one transaction per step.
pub fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    let current: i64 = conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .map_err(backend)?;
    let newest = MIGRATIONS.len() as i64;
    if current > newest {
        return Err(StoreError::Backend(format!(
            "database schema version {current} is newer than this build understands ({newest}); upgrade Kagi"
        )));
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(current as usize) {
        let tx = conn.transaction().map_err(backend)?;
        tx.execute_batch(sql).map_err(backend)?;
        tx.pragma_update(None, "user_version", (i + 1) as i64)
            .map_err(backend)?;
        tx.commit().map_err(backend)?;
        tracing::info!(version = i + 1, "applied schema migration");
    }
    Ok(())
}
