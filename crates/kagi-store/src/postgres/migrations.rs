//! Schema migrations for PostgreSQL, tracked in a one-row `schema_version` table.
//!
//! Several nodes may start at once against the same database: each takes a transaction-level
//! advisory lock before it reads the version, so exactly one of them applies a step and the
//! others then see it done. Every step runs in that same transaction (PostgreSQL DDL is
//! transactional), so a node that dies mid-migration leaves the previous version behind.
//! Entries are never edited once released, only appended. This module does not downgrade.

use super::backend;
use kagi_kms::StoreError;
use postgres::Client;

/// The advisory-lock key that serialises migrations (an arbitrary constant: "kagi" + 1).
const MIGRATION_LOCK: i64 = 0x6b61_6769_0000_0001;

const MIGRATIONS: &[&str] = &[
    // 1: keys, backing-key versions, aliases, access keys, settings. The same logical
    // schema as SQLite: times are BIGINT milliseconds, wrapped secrets are BYTEA, and names
    // compare bytewise (COLLATE "C", as SQLite's BINARY) so listings and paging follow the
    // trait's order whatever the database's default collation.
    r#"CREATE TABLE settings (
        name TEXT COLLATE "C" PRIMARY KEY,
        value TEXT NOT NULL
    );
    CREATE TABLE keys (
        region TEXT COLLATE "C" NOT NULL,
        key_id TEXT COLLATE "C" NOT NULL,
        created_at BIGINT NOT NULL,
        description TEXT NOT NULL,
        state TEXT NOT NULL,
        deletion_date BIGINT,
        pending_window_days BIGINT,
        policy TEXT NOT NULL,
        rotation_period_days BIGINT,
        next_rotation BIGINT,
        tags TEXT NOT NULL,
        PRIMARY KEY (region, key_id)
    );
    CREATE INDEX keys_deletion ON keys (deletion_date) WHERE deletion_date IS NOT NULL;
    CREATE INDEX keys_rotation ON keys (next_rotation) WHERE next_rotation IS NOT NULL;
    CREATE TABLE key_versions (
        region TEXT COLLATE "C" NOT NULL,
        key_id TEXT COLLATE "C" NOT NULL,
        version BIGINT NOT NULL,
        created_at BIGINT NOT NULL,
        rotation TEXT,
        wrapped BYTEA NOT NULL,
        PRIMARY KEY (region, key_id, version),
        FOREIGN KEY (region, key_id) REFERENCES keys (region, key_id) ON DELETE CASCADE
    );
    CREATE TABLE aliases (
        region TEXT COLLATE "C" NOT NULL,
        name TEXT COLLATE "C" NOT NULL,
        target TEXT COLLATE "C" NOT NULL,
        created_at BIGINT NOT NULL,
        updated_at BIGINT NOT NULL,
        PRIMARY KEY (region, name),
        FOREIGN KEY (region, target) REFERENCES keys (region, key_id) ON DELETE CASCADE
    );
    CREATE INDEX aliases_target ON aliases (region, target);
    CREATE TABLE access_keys (
        access_key_id TEXT COLLATE "C" PRIMARY KEY,
        user_name TEXT COLLATE "C" NOT NULL,
        status TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        admin BOOLEAN NOT NULL,
        wrapped_secret BYTEA NOT NULL
    );"#,
];

/// Brings the schema to the newest version in one transaction, holding the migration lock.
pub fn migrate(client: &mut Client) -> Result<(), StoreError> {
    let mut tx = client.transaction().map_err(backend)?;
    // Held until COMMIT or ROLLBACK; a second node blocks here until the first is done.
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .map_err(backend)?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS schema_version (
            singleton BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (singleton),
            version BIGINT NOT NULL
        )",
    )
    .map_err(backend)?;
    let current: i64 = match tx
        .query_opt("SELECT version FROM schema_version", &[])
        .map_err(backend)?
    {
        Some(row) => row.try_get(0).map_err(backend)?,
        None => 0,
    };
    let newest = MIGRATIONS.len() as i64;
    if current > newest {
        return Err(StoreError::Backend(format!(
            "database schema version {current} is newer than this build understands ({newest}); upgrade Kagi"
        )));
    }
    if current < 0 {
        return Err(StoreError::Corrupt(format!(
            "negative schema version {current}"
        )));
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(current as usize) {
        tx.batch_execute(sql).map_err(backend)?;
        tracing::info!(version = i + 1, "applied PostgreSQL schema migration");
    }
    if current < newest {
        tx.execute(
            "INSERT INTO schema_version (singleton, version) VALUES (TRUE, $1)
             ON CONFLICT (singleton) DO UPDATE SET version = excluded.version",
            &[&newest],
        )
        .map_err(backend)?;
    }
    tx.commit().map_err(backend)
}
