//! Implementations of [`kagi_kms::Store`]: the embedded SQLite store and the PostgreSQL
//! store that several nodes can share. Each backend owns its schema and migrations; the [`contract`] suite is the
//! behaviour every backend must show, and runs against each of them.
//!
//! This crate maps domain records to rows and back. It holds no secrets in the clear: key
//! material and access-key secrets arrive already wrapped under the root key.

pub mod codec;
pub mod contract;
pub mod postgres;
pub mod sqlite;

pub use self::postgres::PostgresStore;
pub use sqlite::SqliteStore;

#[cfg(test)]
mod tests {
    /// The in-memory store is the reference semantics of the contract: both backends must
    /// pass the same suite.
    #[test]
    fn memory_store_meets_the_store_contract() {
        crate::contract::run_all(&mut || Box::new(kagi_kms::MemoryStore::new()));
    }
}
