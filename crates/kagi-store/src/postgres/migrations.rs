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

pub(super) const MIGRATIONS: &[&str] = &[
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
    // 2: inline identity policies of users. Until this version every authenticated user
    // could call every KMS operation; from now on a non-admin user needs an identity policy.
    // So that existing installations keep working, every user with a non-admin access key
    // gets a policy allowing all of KMS, dated by that user's oldest non-admin access key.
    // The document is written out here, not shared with code, because a released migration
    // must never change.
    r#"CREATE TABLE user_policies (
        user_name TEXT COLLATE "C" NOT NULL,
        policy_name TEXT COLLATE "C" NOT NULL,
        document TEXT NOT NULL,
        updated_at BIGINT NOT NULL,
        PRIMARY KEY (user_name, policy_name)
    );
    INSERT INTO user_policies (user_name, policy_name, document, updated_at)
    SELECT user_name,
        'KagiLegacyFullKmsAccess',
        '{"Version":"2012-10-17","Statement":[{"Sid":"KagiLegacyFullKmsAccess","Effect":"Allow","Action":"kms:*","Resource":"*"}]}',
        MIN(created_at)
    FROM access_keys WHERE NOT admin GROUP BY user_name;"#,
    // 3: IAM roles (trust policy and session limit) and their inline identity policies.
    // No foreign key from a role policy to its role: the store deletes a role's policies
    // together with the role, in the same transaction. Existing installations have no
    // roles, so there is nothing to fill in.
    r#"CREATE TABLE roles (
        role_name TEXT COLLATE "C" PRIMARY KEY,
        trust_policy TEXT NOT NULL,
        max_session_seconds BIGINT NOT NULL,
        created_at BIGINT NOT NULL
    );
    CREATE TABLE role_policies (
        role_name TEXT COLLATE "C" NOT NULL,
        policy_name TEXT COLLATE "C" NOT NULL,
        document TEXT NOT NULL,
        updated_at BIGINT NOT NULL,
        PRIMARY KEY (role_name, policy_name)
    );"#,
    // 4: the account an access key's user belongs to when it is not the installation's own
    // (a principal of a second account). NULL is the installation's account, which every
    // existing access key belongs to, so there is nothing to fill in.
    "ALTER TABLE access_keys ADD COLUMN account TEXT;",
    // 5: grants, as in SQLite. Operations and constraints are JSON text (codec.rs); a grant
    // goes with its key.
    r#"CREATE TABLE grants (
        grant_id TEXT COLLATE "C" PRIMARY KEY,
        region TEXT COLLATE "C" NOT NULL,
        key_id TEXT COLLATE "C" NOT NULL,
        name TEXT,
        grantee_principal TEXT NOT NULL,
        retiring_principal TEXT COLLATE "C",
        issuing_principal TEXT NOT NULL,
        operations TEXT NOT NULL,
        constraints TEXT,
        created_at BIGINT NOT NULL,
        token_secret BYTEA NOT NULL,
        FOREIGN KEY (region, key_id) REFERENCES keys (region, key_id) ON DELETE CASCADE
    );
    CREATE INDEX grants_key ON grants (region, key_id, grant_id);
    CREATE INDEX grants_retiring ON grants (retiring_principal, grant_id)
        WHERE retiring_principal IS NOT NULL;"#,
    // 6: tags of users and roles, as in SQLite.
    r#"CREATE TABLE principal_tags (
        principal_kind TEXT COLLATE "C" NOT NULL,
        principal_name TEXT COLLATE "C" NOT NULL,
        tag_key TEXT COLLATE "C" NOT NULL,
        tag_value TEXT NOT NULL,
        PRIMARY KEY (principal_kind, principal_name, tag_key)
    );"#,
    // 7: a revision per key, as in SQLite.
    "ALTER TABLE keys ADD COLUMN revision BIGINT NOT NULL DEFAULT 1;",
    // 8: the nodes sharing this database and where their peers reach them (audit lookups
    // cover every node's log). Only a shared store has several nodes, so SQLite has no
    // such table. `seen_at` is the database's clock, so nodes' clocks need not agree.
    r#"CREATE TABLE nodes (
        name TEXT COLLATE "C" PRIMARY KEY,
        url TEXT NOT NULL,
        seen_at TIMESTAMPTZ NOT NULL
    );"#,
];

/// Brings the schema to the newest version in one transaction, holding the migration lock.
pub fn migrate(client: &mut Client) -> Result<(), StoreError> {
    migrate_to(client, MIGRATIONS.len())
}

/// Brings the schema up to version `target` (at most the newest) in one transaction, holding
/// the migration lock. Tests use it to build a database as an older release left it.
pub(super) fn migrate_to(client: &mut Client, target: usize) -> Result<(), StoreError> {
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
    for (i, sql) in MIGRATIONS
        .iter()
        .enumerate()
        .take(target)
        .skip(current as usize)
    {
        tx.batch_execute(sql).map_err(backend)?;
        tracing::info!(version = i + 1, "applied PostgreSQL schema migration");
    }
    let target = target.min(MIGRATIONS.len()) as i64;
    if current < target {
        tx.execute(
            "INSERT INTO schema_version (singleton, version) VALUES (TRUE, $1)
             ON CONFLICT (singleton) DO UPDATE SET version = excluded.version",
            &[&target],
        )
        .map_err(backend)?;
    }
    tx.commit().map_err(backend)
}
