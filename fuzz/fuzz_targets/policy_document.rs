//! Untrusted policy documents (PutKeyPolicy, CreateKey's Policy, identity policies):
//! parsing must never panic, and whatever parses must evaluate without panicking against a
//! fixed request, for every kind of policy (key, identity, trust).

#![no_main]

use kagi_policy::{PrincipalInfo, Policy, PolicyKind, RequestContext};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let ctx = RequestContext::builder(
        PrincipalInfo::new("arn:aws:iam::111122223333:user/alice", "111122223333")
            .user_name("alice"),
        "kms:Decrypt",
        "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
    )
    .value("kms:EncryptionContext:Department", "Engineering")
    .value("aws:SourceIp", "192.0.2.10")
    .build();
    for kind in [PolicyKind::Resource, PolicyKind::Identity, PolicyKind::Trust] {
        if let Ok(policy) = Policy::parse(text, kind) {
            let _ = policy.evaluate(&ctx);
        }
    }
    let _ = Policy::parse_key_policy(text);
});
