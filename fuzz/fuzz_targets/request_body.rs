//! Request bodies of every operation, through the real JSON parser and the real domain
//! (`kagi_server::fuzzing::fuzz_parse_request`). The first input byte picks the operation,
//! the rest is the body. Any panic is a crash; so is a response that is not JSON or a
//! status other than 200/400 (an internal error on a memory store is a bug).

#![no_main]

use kagi_server::fuzzing::{fuzz_parse_request, OPERATIONS};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, body)) = data.split_first() else {
        return;
    };
    let op = OPERATIONS[usize::from(selector) % OPERATIONS.len()];
    let (status, out) = fuzz_parse_request(op, body);
    assert!(status == 200 || status == 400, "{op:?} answered {status}");
    assert!(
        is_json_object(&out),
        "{op:?} answered a body that is not a JSON object"
    );
});

/// A cheap structural check without another dependency: every answer is `{...}`.
fn is_json_object(body: &[u8]) -> bool {
    body.first() == Some(&b'{') && body.last() == Some(&b'}')
}
