//! The entry point of the `request_body` fuzz target (`fuzz/`), behind the `fuzzing`
//! feature so that release builds never contain it.
//!
//! [`fuzz_parse_request`] runs a request body through the real parser AND the real domain
//! ([`ops::dispatch`]), over a fresh [`MemoryStore`] with a fixed admin caller, a
//! [`ManualClock`] and a deterministic RNG: whatever a client could send after
//! authentication, minus HTTP and SigV4. Each call builds its own world, so an input's
//! outcome never depends on the inputs before it. The world holds one enabled key
//! ([`FUZZ_KEY_ID`]) with the alias `alias/fuzz`, so seeds can reach the key-using paths.

use crate::error::ApiError;
use crate::ops;
use crate::Operation;
use kagi_crypto::{DeterministicRng, RootKey, SecretBytes};
use kagi_kms::ops::keys::CreateKeyRequest;
use kagi_kms::{AccountId, Caller, Kms, ManualClock, MemoryStore, Region, Timestamp};
use std::sync::Arc;

/// Every operation the router serves, in a fixed order (the fuzz target picks one by index).
pub const OPERATIONS: &[Operation] = Operation::ALL;

/// The id of the key every fuzz world starts with (fixed by the deterministic RNG).
pub const FUZZ_KEY_ID: &str = "2c34ce1d-f23b-438c-9abf-2a7f6437cca3";

const ACCOUNT: &str = "111122223333";

/// A fresh world: a `Kms` over an empty [`MemoryStore`] holding one key and its alias.
pub fn world() -> (Kms, Caller) {
    // Constants that are valid by construction; a failure here is a bug in this module.
    let account = AccountId::parse(ACCOUNT).expect("fixed account id is valid");
    let region = Region::parse("us-east-1").expect("fixed region is valid");
    let root = RootKey::from_secret(&SecretBytes::new(vec![0x5a; 32])).expect("32-byte root");
    let kms = Kms::new(
        account,
        root,
        Arc::new(MemoryStore::new()),
        Arc::new(ManualClock::new(Timestamp(1_700_000_000_000))),
        Arc::new(DeterministicRng::dangerous_for_tests_only(0)),
        Arc::new(kagi_policy::PolicyEngine),
    );
    let principal = kms.principal_for("fuzzer", "KAGIFUZZACCESSKEY1", true);
    let caller = Caller {
        region,
        principal,
        source_ip: None,
        secure_transport: false,
    };
    let key = kms
        .create_key(&caller, CreateKeyRequest::default())
        .expect("creating the fuzz key succeeds");
    kms.create_alias(&caller, "alias/fuzz", &key.meta.key_id.to_string())
        .expect("creating the fuzz alias succeeds");
    (kms, caller)
}

/// Runs `body` as a request of `op` in a fresh [`world`] and renders the result as the
/// edge would. Returns the HTTP status and body.
pub fn fuzz_parse_request(op: Operation, body: &[u8]) -> (u16, Vec<u8>) {
    let (kms, caller) = world();
    render(ops::dispatch(
        &kms,
        &ops::audit::History::local(&kagi_audit::trail::AuditTrail::discard()),
        op,
        &caller,
        body,
    ))
}

fn render(result: Result<Vec<u8>, ApiError>) -> (u16, Vec<u8>) {
    match result {
        Ok(body) => (200, body),
        Err(e) => (e.status(), e.body("fuzz-request")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_world_has_the_documented_key() {
        let (kms, caller) = world();
        let key = kms.describe_key(&caller, "alias/fuzz", &[]).unwrap();
        assert_eq!(key.meta.key_id.to_string(), FUZZ_KEY_ID);
    }

    #[test]
    fn every_operation_runs_on_junk_and_on_a_valid_body() {
        for &op in OPERATIONS {
            for body in [&b"\xff{"[..], b"", b"{}", b"[]", b"null"] {
                let (status, out) = fuzz_parse_request(op, body);
                assert!(status == 200 || status == 400, "{op:?} {body:?}: {status}");
                // STS answers are XML fragments (the edge wraps them); the rest is JSON.
                if op.is_sts() && status == 200 {
                    assert!(out.starts_with(b"<"), "{op:?}");
                } else {
                    assert!(serde_json::from_slice::<serde_json::Value>(&out).is_ok());
                }
            }
        }
        let body = format!(r#"{{"KeyId":"{FUZZ_KEY_ID}","Plaintext":"aGVsbG8="}}"#);
        let (status, _) = fuzz_parse_request(Operation::Encrypt, body.as_bytes());
        assert_eq!(status, 200);
    }
}
