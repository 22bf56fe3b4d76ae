//! Untrusted ciphertext blobs: `CiphertextBlob::parse` must never panic, and `BackingKey::open`
//! must reject (never panic on, never accept) whatever parses, with or without a context.
//! Inputs that are valid blobs under the fixed key (see `fuzz/seeds/`) let the fuzzer
//! mutate from the happy path; since any change must fail authentication, a mutated blob
//! that opens is a crash too.

#![no_main]

use kagi_crypto::{BackingKey, BlobHeader, CiphertextBlob, DeterministicRng, SecretBytes};
use libfuzzer_sys::fuzz_target;
use std::collections::BTreeMap;
use std::sync::OnceLock;

struct Fixed {
    key: BackingKey,
    context: BTreeMap<String, String>,
    /// A blob the key really sealed; the only input that may open.
    valid: Vec<u8>,
}

fn fixed() -> &'static Fixed {
    static FIXED: OnceLock<Fixed> = OnceLock::new();
    FIXED.get_or_init(|| {
        let key = BackingKey::from_secret(SecretBytes::new(vec![0x11; 32])).unwrap();
        let context = BTreeMap::from([("purpose".to_string(), "fuzz".to_string())]);
        let rng = DeterministicRng::dangerous_for_tests_only(7);
        let header = BlobHeader {
            key_id: [9; 16],
            backing_version: 1,
        };
        let valid = key.seal(&rng, header, &context, b"fuzz plaintext").unwrap();
        Fixed {
            key,
            context,
            valid,
        }
    })
}

fuzz_target!(|data: &[u8]| {
    let f = fixed();
    let Ok(blob) = CiphertextBlob::parse(data) else {
        return;
    };
    let with_context = f.key.open(&blob, &f.context);
    let without_context = f.key.open(&blob, &BTreeMap::new());
    assert!(
        without_context.is_err(),
        "opened without its encryption context"
    );
    if data != f.valid.as_slice() {
        assert!(with_context.is_err(), "a blob the key never sealed opened");
    }
});
