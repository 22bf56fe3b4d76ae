//! Table-driven tests of parsing and single-policy evaluation, plus properties of the
//! decision under added statements.

use kagi_policy::{
    Decision, Policy, PolicyError, PolicyKind, PrincipalInfo, PrincipalMatch, Problem,
    RequestContext, KEY_POLICY_MAX_CHARS,
};
use proptest::prelude::*;

const ACCOUNT: &str = "111122223333";
const ALICE: &str = "arn:aws:iam::111122223333:user/alice";
const KEY: &str = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";

fn alice() -> PrincipalInfo {
    PrincipalInfo::new(ALICE, ACCOUNT)
        .user_name("alice")
        .user_id("AIDAALICE")
        .tag("Department", "Finance")
}

fn request(action: &str) -> RequestContext {
    RequestContext::builder(alice(), action, KEY).build()
}

fn policy(statements: &str) -> String {
    format!(r#"{{"Version":"2012-10-17","Statement":[{statements}]}}"#)
}

fn decide(document: &str, ctx: &RequestContext) -> Decision {
    match Policy::parse(document, PolicyKind::Resource) {
        Ok(p) => p.evaluate(ctx),
        Err(e) => panic!("{document}: {e}"),
    }
}

const EXACT: Decision = Decision::Allow(PrincipalMatch::Exact);
const NA: Decision = Decision::NotApplicable;
const DENY: Decision = Decision::ExplicitDeny;

#[test]
fn statements() {
    let root = Decision::Allow(PrincipalMatch::AccountRoot(ACCOUNT.into()));
    let bob = RequestContext::builder(
        PrincipalInfo::new("arn:aws:iam::111122223333:user/bob", ACCOUNT),
        "kms:Decrypt",
        KEY,
    )
    .build();
    let stranger = RequestContext::builder(
        PrincipalInfo::new("arn:aws:iam::444455556666:user/eve", "444455556666"),
        "kms:Decrypt",
        KEY,
    )
    .build();
    let session = RequestContext::builder(
        PrincipalInfo::new("arn:aws:sts::111122223333:assumed-role/Admin/s1", ACCOUNT),
        "kms:Decrypt",
        KEY,
    )
    .build();
    let logs = RequestContext::builder(
        PrincipalInfo::new("logs.amazonaws.com", "").service("logs.amazonaws.com"),
        "kms:Decrypt",
        KEY,
    )
    .build();
    let allow_alice = r#"{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:user/alice"},"Action":"kms:Decrypt","Resource":"*"}"#;
    let deny_all = r#"{"Effect":"Deny","Principal":"*","Action":"*","Resource":"*"}"#;
    let default_key_policy = r#"{"Sid":"Enable IAM User Permissions","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:*","Resource":"*"}"#;
    let cases: Vec<(&str, String, RequestContext, Decision)> = vec![
        ("allow exact user", policy(allow_alice), request("kms:Decrypt"), EXACT),
        ("other action", policy(allow_alice), request("kms:Encrypt"), NA),
        ("other user", policy(allow_alice), bob.clone(), NA),
        ("deny wins", policy(&format!("{allow_alice},{deny_all}")), request("kms:Decrypt"), DENY),
        ("deny first still wins", policy(&format!("{deny_all},{allow_alice}")), request("kms:Decrypt"), DENY),
        ("default key policy", policy(default_key_policy), request("kms:Decrypt"), root.clone()),
        ("default key policy, other user", policy(default_key_policy), bob.clone(), root.clone()),
        ("default key policy, other account", policy(default_key_policy), stranger.clone(), NA),
        ("account id principal", policy(r#"{"Effect":"Allow","Principal":{"AWS":"111122223333"},"Action":"kms:*","Resource":"*"}"#), request("kms:Decrypt"), root.clone()),
        ("exact beats root", policy(&format!("{default_key_policy},{allow_alice}")), request("kms:Decrypt"), EXACT),
        ("root caller is exact", policy(default_key_policy), RequestContext::builder(PrincipalInfo::new("arn:aws:iam::111122223333:root", ACCOUNT), "kms:Decrypt", KEY).build(), EXACT),
        ("star principal", policy(r#"{"Effect":"Allow","Principal":"*","Action":"kms:Decrypt","Resource":"*"}"#), stranger.clone(), EXACT),
        ("AWS star principal", policy(r#"{"Effect":"Allow","Principal":{"AWS":"*"},"Action":"kms:Decrypt","Resource":"*"}"#), stranger.clone(), EXACT),
        ("principal list", policy(r#"{"Effect":"Allow","Principal":{"AWS":["arn:aws:iam::111122223333:user/bob","arn:aws:iam::111122223333:user/alice"]},"Action":"kms:Decrypt","Resource":"*"}"#), request("kms:Decrypt"), EXACT),
        ("role matches its session", policy(r#"{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:role/Admin"},"Action":"kms:*","Resource":"*"}"#), session.clone(), EXACT),
        ("service principal", policy(r#"{"Effect":"Allow","Principal":{"Service":"logs.amazonaws.com"},"Action":"kms:Decrypt","Resource":"*"}"#), logs.clone(), EXACT),
        ("service principal, user caller", policy(r#"{"Effect":"Allow","Principal":{"Service":"logs.amazonaws.com"},"Action":"kms:Decrypt","Resource":"*"}"#), request("kms:Decrypt"), NA),
        ("deny to account root denies its users", policy(&format!(r#"{allow_alice},{{"Effect":"Deny","Principal":{{"AWS":"111122223333"}},"Action":"kms:*","Resource":"*"}}"#)), request("kms:Decrypt"), DENY),
        // NotPrincipal
        ("NotPrincipal excludes the named user", policy(r#"{"Effect":"Deny","NotPrincipal":{"AWS":"arn:aws:iam::111122223333:user/alice"},"Action":"*","Resource":"*"}"#), request("kms:Decrypt"), NA),
        ("NotPrincipal applies to others", policy(r#"{"Effect":"Deny","NotPrincipal":{"AWS":"arn:aws:iam::111122223333:user/alice"},"Action":"*","Resource":"*"}"#), bob.clone(), DENY),
        ("NotPrincipal account does not exclude its users", policy(r#"{"Effect":"Deny","NotPrincipal":{"AWS":"111122223333"},"Action":"*","Resource":"*"}"#), bob.clone(), DENY),
        ("NotPrincipal allow", policy(r#"{"Effect":"Allow","NotPrincipal":{"AWS":"arn:aws:iam::111122223333:user/bob"},"Action":"*","Resource":"*"}"#), request("kms:Decrypt"), EXACT),
        // actions
        ("action wildcard", policy(r#"{"Effect":"Allow","Principal":"*","Action":"kms:GenerateDataKey*","Resource":"*"}"#), request("kms:GenerateDataKeyWithoutPlaintext"), EXACT),
        ("action wildcard no match", policy(r#"{"Effect":"Allow","Principal":"*","Action":"kms:GenerateDataKey*","Resource":"*"}"#), request("kms:Decrypt"), NA),
        ("action case-insensitive", policy(r#"{"Effect":"Allow","Principal":"*","Action":"KMS:decrypt","Resource":"*"}"#), request("kms:Decrypt"), EXACT),
        ("action single-char wildcard", policy(r#"{"Effect":"Allow","Principal":"*","Action":"kms:?ecrypt","Resource":"*"}"#), request("kms:Decrypt"), EXACT),
        ("action star", policy(r#"{"Effect":"Allow","Principal":"*","Action":"*","Resource":"*"}"#), request("kms:Decrypt"), EXACT),
        ("other service", policy(r#"{"Effect":"Allow","Principal":"*","Action":"s3:*","Resource":"*"}"#), request("kms:Decrypt"), NA),
        ("NotAction excludes", policy(r#"{"Effect":"Allow","Principal":"*","NotAction":["kms:Decrypt","kms:Encrypt"],"Resource":"*"}"#), request("kms:Decrypt"), NA),
        ("NotAction includes the rest", policy(r#"{"Effect":"Allow","Principal":"*","NotAction":"kms:ScheduleKeyDeletion","Resource":"*"}"#), request("kms:Decrypt"), EXACT),
        ("deny NotAction", policy(r#"{"Effect":"Deny","Principal":"*","NotAction":"kms:Describe*","Resource":"*"}"#), request("kms:Decrypt"), DENY),
        // resources
        ("resource exact", policy(&format!(r#"{{"Effect":"Allow","Principal":"*","Action":"*","Resource":"{KEY}"}}"#)), request("kms:Decrypt"), EXACT),
        ("resource wildcard", policy(r#"{"Effect":"Allow","Principal":"*","Action":"*","Resource":"arn:aws:kms:*:111122223333:key/*"}"#), request("kms:Decrypt"), EXACT),
        ("resource other account", policy(r#"{"Effect":"Allow","Principal":"*","Action":"*","Resource":"arn:aws:kms:*:444455556666:key/*"}"#), request("kms:Decrypt"), NA),
        ("resource is case-sensitive", policy(r#"{"Effect":"Allow","Principal":"*","Action":"*","Resource":"arn:aws:kms:us-east-1:111122223333:KEY/*"}"#), request("kms:Decrypt"), NA),
        ("NotResource", policy(r#"{"Effect":"Allow","Principal":"*","Action":"*","NotResource":"arn:aws:kms:*:*:key/*"}"#), request("kms:Decrypt"), NA),
        ("NotResource other", policy(r#"{"Effect":"Allow","Principal":"*","Action":"*","NotResource":"arn:aws:kms:*:*:alias/*"}"#), request("kms:Decrypt"), EXACT),
        // variables
        ("variable in resource", policy(r#"{"Effect":"Allow","Principal":"*","Action":"*","Resource":"arn:aws:kms:*:*:key/${aws:username}"}"#), RequestContext::builder(alice(), "kms:Decrypt", "arn:aws:kms:us-east-1:111122223333:key/alice").build(), EXACT),
        ("variable in resource, other user", policy(r#"{"Effect":"Allow","Principal":"*","Action":"*","Resource":"arn:aws:kms:*:*:key/${aws:username}"}"#), RequestContext::builder(alice(), "kms:Decrypt", "arn:aws:kms:us-east-1:111122223333:key/bob").build(), NA),
        ("unresolved variable matches nothing", policy(r#"{"Effect":"Allow","Principal":"*","Action":"*","Resource":"arn:aws:kms:*:*:key/${aws:username}"}"#), RequestContext::builder(PrincipalInfo::new("arn:aws:iam::111122223333:role/R", ACCOUNT), "kms:Decrypt", "arn:aws:kms:us-east-1:111122223333:key/").build(), NA),
        ("no variables in 2008-10-17", r#"{"Version":"2008-10-17","Statement":{"Effect":"Allow","Principal":"*","Action":"*","Resource":"arn:aws:kms:*:*:key/${aws:username}"}}"#.to_string(), RequestContext::builder(alice(), "kms:Decrypt", "arn:aws:kms:us-east-1:111122223333:key/${aws:username}").build(), EXACT),
        ("no variables without Version", r#"{"Statement":{"Effect":"Allow","Principal":"*","Action":"*","Resource":"arn:aws:kms:*:*:key/${aws:username}"}}"#.to_string(), RequestContext::builder(alice(), "kms:Decrypt", "arn:aws:kms:us-east-1:111122223333:key/alice").build(), NA),
        ("escaped star is literal", policy(r#"{"Effect":"Allow","Principal":"*","Action":"*","Resource":"arn:aws:kms:*:*:key/${*}"}"#), RequestContext::builder(alice(), "kms:Decrypt", "arn:aws:kms:us-east-1:111122223333:key/*").build(), EXACT),
        ("escaped star does not wildcard", policy(r#"{"Effect":"Allow","Principal":"*","Action":"*","Resource":"arn:aws:kms:*:*:key/${*}"}"#), request("kms:Decrypt"), NA),
        ("principal tag variable", policy(r#"{"Effect":"Allow","Principal":"*","Action":"*","Resource":"arn:aws:kms:*:*:key/${aws:PrincipalTag/department}"}"#), RequestContext::builder(alice(), "kms:Decrypt", "arn:aws:kms:us-east-1:111122223333:key/Finance").build(), EXACT),
        ("single statement object", r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":"*","Action":"*","Resource":"*"}}"#.to_string(), request("kms:Decrypt"), EXACT),
    ];
    let mut failures = Vec::new();
    for (name, document, ctx, expected) in cases {
        let got = decide(&document, &ctx);
        if got != expected {
            failures.push(format!("{name}: expected {expected:?}, got {got:?}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn identity_policies_apply_to_their_identity() {
    let document = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:Encrypt","Resource":"*"}]}"#;
    let p = Policy::parse(document, PolicyKind::Identity).unwrap();
    assert_eq!(p.evaluate(&request("kms:Encrypt")), EXACT);
    assert_eq!(p.evaluate(&request("kms:Decrypt")), NA);
}

/// `(name, Condition element, request values, whether the condition holds)`.
type ConditionCase = (
    &'static str,
    &'static str,
    Vec<(&'static str, Vec<&'static str>)>,
    bool,
);

#[test]
fn conditions() {
    let ec = "kms:EncryptionContext:Department";
    let cases: Vec<ConditionCase> = vec![
        // strings
        (
            "StringEquals",
            r#"{"StringEquals":{"kms:EncryptionContext:Department":"Finance"}}"#,
            vec![(ec, vec!["Finance"])],
            true,
        ),
        (
            "StringEquals other value",
            r#"{"StringEquals":{"kms:EncryptionContext:Department":"Finance"}}"#,
            vec![(ec, vec!["IT"])],
            false,
        ),
        (
            "StringEquals is case-sensitive",
            r#"{"StringEquals":{"kms:EncryptionContext:Department":"Finance"}}"#,
            vec![(ec, vec!["finance"])],
            false,
        ),
        (
            "StringEquals absent key",
            r#"{"StringEquals":{"kms:EncryptionContext:Department":"Finance"}}"#,
            vec![],
            false,
        ),
        (
            "values are ORed",
            r#"{"StringEquals":{"kms:EncryptionContext:Department":["IT","Finance"]}}"#,
            vec![(ec, vec!["Finance"])],
            true,
        ),
        (
            "keys are ANDed",
            r#"{"StringEquals":{"kms:EncryptionContext:Department":"Finance","kms:CallerAccount":"111122223333"}}"#,
            vec![(ec, vec!["Finance"])],
            false,
        ),
        (
            "keys are ANDed, both present",
            r#"{"StringEquals":{"kms:EncryptionContext:Department":"Finance","kms:CallerAccount":"111122223333"}}"#,
            vec![
                (ec, vec!["Finance"]),
                ("kms:CallerAccount", vec!["111122223333"]),
            ],
            true,
        ),
        (
            "operators are ANDed",
            r#"{"StringEquals":{"kms:CallerAccount":"111122223333"},"Bool":{"aws:SecureTransport":"true"}}"#,
            vec![
                ("kms:CallerAccount", vec!["111122223333"]),
                ("aws:SecureTransport", vec!["false"]),
            ],
            false,
        ),
        (
            "key name is case-insensitive",
            r#"{"StringEquals":{"KMS:ENCRYPTIONCONTEXT:Department":"Finance"}}"#,
            vec![(ec, vec!["Finance"])],
            true,
        ),
        (
            // AWS KMS: the context key in the condition key is not case-sensitive either;
            // only the value's case is up to the operator.
            "context key is case-insensitive too",
            r#"{"StringEquals":{"kms:EncryptionContext:department":"Finance"}}"#,
            vec![(ec, vec!["Finance"])],
            true,
        ),
        (
            "the value's case is the operator's",
            r#"{"StringEquals":{"kms:EncryptionContext:department":"finance"}}"#,
            vec![(ec, vec!["Finance"])],
            false,
        ),
        (
            "StringNotEquals",
            r#"{"StringNotEquals":{"kms:EncryptionContext:Department":"Finance"}}"#,
            vec![(ec, vec!["IT"])],
            true,
        ),
        (
            "StringNotEquals equal",
            r#"{"StringNotEquals":{"kms:EncryptionContext:Department":"Finance"}}"#,
            vec![(ec, vec!["Finance"])],
            false,
        ),
        (
            "StringNotEquals absent key holds",
            r#"{"StringNotEquals":{"kms:EncryptionContext:Department":"Finance"}}"#,
            vec![],
            true,
        ),
        (
            "StringEqualsIgnoreCase",
            r#"{"StringEqualsIgnoreCase":{"kms:EncryptionContext:Department":"FINANCE"}}"#,
            vec![(ec, vec!["finance"])],
            true,
        ),
        (
            "StringNotEqualsIgnoreCase",
            r#"{"StringNotEqualsIgnoreCase":{"kms:EncryptionContext:Department":"FINANCE"}}"#,
            vec![(ec, vec!["finance"])],
            false,
        ),
        (
            "StringLike",
            r#"{"StringLike":{"kms:EncryptionContext:Department":"Fin*"}}"#,
            vec![(ec, vec!["Finance"])],
            true,
        ),
        (
            "StringLike ?",
            r#"{"StringLike":{"kms:EncryptionContext:Department":"I?"}}"#,
            vec![(ec, vec!["IT"])],
            true,
        ),
        (
            "StringLike no match",
            r#"{"StringLike":{"kms:EncryptionContext:Department":"Fin*"}}"#,
            vec![(ec, vec!["IT"])],
            false,
        ),
        (
            "StringNotLike",
            r#"{"StringNotLike":{"kms:EncryptionContext:Department":"Fin*"}}"#,
            vec![(ec, vec!["IT"])],
            true,
        ),
        (
            "StringNotLike absent key holds",
            r#"{"StringNotLike":{"kms:EncryptionContext:Department":"Fin*"}}"#,
            vec![],
            true,
        ),
        (
            "variable in condition",
            r#"{"StringEquals":{"kms:EncryptionContext:Owner":"${aws:username}"}}"#,
            vec![("kms:EncryptionContext:Owner", vec!["alice"])],
            true,
        ),
        (
            "variable in condition, other",
            r#"{"StringEquals":{"kms:EncryptionContext:Owner":"${aws:username}"}}"#,
            vec![("kms:EncryptionContext:Owner", vec!["bob"])],
            false,
        ),
        (
            "userid variable",
            r#"{"StringLike":{"kms:EncryptionContext:Owner":"${aws:userid}:*"}}"#,
            vec![("kms:EncryptionContext:Owner", vec!["AIDAALICE:x"])],
            true,
        ),
        (
            "request key as variable",
            r#"{"StringEquals":{"kms:EncryptionContext:Department":"${aws:PrincipalTag/Department}"}}"#,
            vec![(ec, vec!["Finance"])],
            true,
        ),
        (
            "principal keys from the caller",
            r#"{"StringEquals":{"aws:PrincipalAccount":"111122223333","aws:PrincipalArn":"arn:aws:iam::111122223333:user/alice"}}"#,
            vec![],
            true,
        ),
        (
            "principal tag key",
            r#"{"StringEquals":{"aws:PrincipalTag/Department":"Finance"}}"#,
            vec![],
            true,
        ),
        (
            "condition number value",
            r#"{"NumericLessThan":{"kms:KeySpecBits":4096}}"#,
            vec![("kms:KeySpecBits", vec!["2048"])],
            true,
        ),
        // numeric
        (
            "NumericEquals",
            r#"{"NumericEquals":{"n":"10"}}"#,
            vec![("n", vec!["10.0"])],
            true,
        ),
        (
            "NumericNotEquals",
            r#"{"NumericNotEquals":{"n":"10"}}"#,
            vec![("n", vec!["11"])],
            true,
        ),
        (
            "NumericNotEquals absent holds",
            r#"{"NumericNotEquals":{"n":"10"}}"#,
            vec![],
            true,
        ),
        (
            "NumericLessThan",
            r#"{"NumericLessThan":{"n":"10"}}"#,
            vec![("n", vec!["10"])],
            false,
        ),
        (
            "NumericLessThanEquals",
            r#"{"NumericLessThanEquals":{"n":"10"}}"#,
            vec![("n", vec!["10"])],
            true,
        ),
        (
            "NumericGreaterThan",
            r#"{"NumericGreaterThan":{"n":"10"}}"#,
            vec![("n", vec!["10.5"])],
            true,
        ),
        (
            "NumericGreaterThanEquals",
            r#"{"NumericGreaterThanEquals":{"n":"10"}}"#,
            vec![("n", vec!["9"])],
            false,
        ),
        (
            "Numeric unreadable request value",
            r#"{"NumericEquals":{"n":"10"}}"#,
            vec![("n", vec!["ten"])],
            false,
        ),
        (
            "NumericLessThan absent",
            r#"{"NumericLessThan":{"n":"10"}}"#,
            vec![],
            false,
        ),
        // dates
        (
            "DateLessThan",
            r#"{"DateLessThan":{"aws:CurrentTime":"2025-01-01T00:00:00Z"}}"#,
            vec![("aws:CurrentTime", vec!["2024-06-01T12:00:00Z"])],
            true,
        ),
        (
            "DateLessThan after",
            r#"{"DateLessThan":{"aws:CurrentTime":"2025-01-01T00:00:00Z"}}"#,
            vec![("aws:CurrentTime", vec!["2025-06-01T12:00:00Z"])],
            false,
        ),
        (
            "DateGreaterThan epoch",
            r#"{"DateGreaterThan":{"aws:EpochTime":"1700000000"}}"#,
            vec![("aws:EpochTime", vec!["1700000001"])],
            true,
        ),
        (
            "Date mixes formats",
            r#"{"DateEquals":{"aws:CurrentTime":"1970-01-02"}}"#,
            vec![("aws:CurrentTime", vec!["86400"])],
            true,
        ),
        (
            "DateNotEquals",
            r#"{"DateNotEquals":{"aws:CurrentTime":"1970-01-02"}}"#,
            vec![("aws:CurrentTime", vec!["86401"])],
            true,
        ),
        (
            "DateLessThanEquals",
            r#"{"DateLessThanEquals":{"aws:CurrentTime":"2024-01-01T00:00:00+01:00"}}"#,
            vec![("aws:CurrentTime", vec!["2023-12-31T23:00:00Z"])],
            true,
        ),
        (
            "DateGreaterThanEquals",
            r#"{"DateGreaterThanEquals":{"aws:CurrentTime":"2024-01-01"}}"#,
            vec![("aws:CurrentTime", vec!["2023-12-31T23:59:59Z"])],
            false,
        ),
        // bool, binary, null
        (
            "Bool true",
            r#"{"Bool":{"aws:SecureTransport":"true"}}"#,
            vec![("aws:SecureTransport", vec!["TRUE"])],
            true,
        ),
        (
            "Bool JSON boolean",
            r#"{"Bool":{"aws:SecureTransport":true}}"#,
            vec![("aws:SecureTransport", vec!["true"])],
            true,
        ),
        (
            "Bool false",
            r#"{"Bool":{"aws:SecureTransport":"true"}}"#,
            vec![("aws:SecureTransport", vec!["false"])],
            false,
        ),
        (
            "Bool absent",
            r#"{"Bool":{"aws:SecureTransport":"false"}}"#,
            vec![],
            false,
        ),
        (
            "BoolIfExists absent",
            r#"{"BoolIfExists":{"aws:SecureTransport":"false"}}"#,
            vec![],
            true,
        ),
        (
            "BinaryEquals",
            r#"{"BinaryEquals":{"k":"aGVsbG8="}}"#,
            vec![("k", vec!["aGVsbG8"])],
            true,
        ),
        (
            "BinaryEquals other",
            r#"{"BinaryEquals":{"k":"aGVsbG8="}}"#,
            vec![("k", vec!["d29ybGQ="])],
            false,
        ),
        (
            "Null true, absent",
            r#"{"Null":{"kms:GrantConstraintType":"true"}}"#,
            vec![],
            true,
        ),
        (
            "Null true, present",
            r#"{"Null":{"kms:GrantConstraintType":"true"}}"#,
            vec![("kms:GrantConstraintType", vec!["EncryptionContextEquals"])],
            false,
        ),
        (
            "Null false, present",
            r#"{"Null":{"kms:GrantConstraintType":"false"}}"#,
            vec![("kms:GrantConstraintType", vec!["EncryptionContextEquals"])],
            true,
        ),
        (
            "Null false, absent",
            r#"{"Null":{"kms:GrantConstraintType":false}}"#,
            vec![],
            false,
        ),
        // IP addresses
        (
            "IpAddress v4",
            r#"{"IpAddress":{"aws:SourceIp":"203.0.113.0/24"}}"#,
            vec![("aws:SourceIp", vec!["203.0.113.7"])],
            true,
        ),
        (
            "IpAddress v4 outside",
            r#"{"IpAddress":{"aws:SourceIp":"203.0.113.0/24"}}"#,
            vec![("aws:SourceIp", vec!["203.0.112.7"])],
            false,
        ),
        (
            "IpAddress single address",
            r#"{"IpAddress":{"aws:SourceIp":"203.0.113.7"}}"#,
            vec![("aws:SourceIp", vec!["203.0.113.7"])],
            true,
        ),
        (
            "IpAddress v6",
            r#"{"IpAddress":{"aws:SourceIp":["203.0.113.0/24","2001:db8::/32"]}}"#,
            vec![("aws:SourceIp", vec!["2001:db8:85a3::8a2e:370:7334"])],
            true,
        ),
        (
            "IpAddress odd prefix",
            r#"{"IpAddress":{"aws:SourceIp":"10.0.0.0/13"}}"#,
            vec![("aws:SourceIp", vec!["10.7.255.255"])],
            true,
        ),
        (
            "IpAddress odd prefix outside",
            r#"{"IpAddress":{"aws:SourceIp":"10.0.0.0/13"}}"#,
            vec![("aws:SourceIp", vec!["10.8.0.0"])],
            false,
        ),
        (
            "NotIpAddress",
            r#"{"NotIpAddress":{"aws:SourceIp":"203.0.113.0/24"}}"#,
            vec![("aws:SourceIp", vec!["198.51.100.1"])],
            true,
        ),
        (
            "NotIpAddress inside",
            r#"{"NotIpAddress":{"aws:SourceIp":"203.0.113.0/24"}}"#,
            vec![("aws:SourceIp", vec!["203.0.113.1"])],
            false,
        ),
        (
            "NotIpAddress absent holds",
            r#"{"NotIpAddress":{"aws:SourceIp":"203.0.113.0/24"}}"#,
            vec![],
            true,
        ),
        (
            "IpAddress absent",
            r#"{"IpAddress":{"aws:SourceIp":"203.0.113.0/24"}}"#,
            vec![],
            false,
        ),
        // ARNs
        (
            "ArnLike",
            r#"{"ArnLike":{"aws:SourceArn":"arn:aws:cloudtrail:*:111122223333:trail/*"}}"#,
            vec![(
                "aws:SourceArn",
                vec!["arn:aws:cloudtrail:us-east-1:111122223333:trail/main"],
            )],
            true,
        ),
        (
            "ArnLike other account",
            r#"{"ArnLike":{"aws:SourceArn":"arn:aws:cloudtrail:*:111122223333:trail/*"}}"#,
            vec![(
                "aws:SourceArn",
                vec!["arn:aws:cloudtrail:us-east-1:444455556666:trail/main"],
            )],
            false,
        ),
        (
            "ArnLike wildcard stays in its component",
            r#"{"ArnLike":{"aws:SourceArn":"arn:aws:*:trail/x"}}"#,
            vec![(
                "aws:SourceArn",
                vec!["arn:aws:cloudtrail:us-east-1:111122223333:trail/x"],
            )],
            false,
        ),
        (
            "ArnEquals",
            r#"{"ArnEquals":{"aws:SourceArn":"arn:aws:s3:::bucket"}}"#,
            vec![("aws:SourceArn", vec!["arn:aws:s3:::bucket"])],
            true,
        ),
        (
            "ArnNotEquals",
            r#"{"ArnNotEquals":{"aws:SourceArn":"arn:aws:s3:::bucket"}}"#,
            vec![("aws:SourceArn", vec!["arn:aws:s3:::other"])],
            true,
        ),
        (
            "ArnNotLike absent holds",
            r#"{"ArnNotLike":{"aws:SourceArn":"arn:aws:s3:::*"}}"#,
            vec![],
            true,
        ),
        (
            "ArnLike with variable",
            r#"{"ArnLike":{"aws:SourceArn":"arn:aws:iam::*:user/${aws:username}"}}"#,
            vec![(
                "aws:SourceArn",
                vec!["arn:aws:iam::111122223333:user/alice"],
            )],
            true,
        ),
        // IfExists
        (
            "StringEqualsIfExists absent",
            r#"{"StringEqualsIfExists":{"kms:EncryptionContext:Department":"Finance"}}"#,
            vec![],
            true,
        ),
        (
            "StringEqualsIfExists present",
            r#"{"StringEqualsIfExists":{"kms:EncryptionContext:Department":"Finance"}}"#,
            vec![(ec, vec!["IT"])],
            false,
        ),
        (
            "NumericLessThanIfExists absent",
            r#"{"NumericLessThanIfExists":{"n":"1"}}"#,
            vec![],
            true,
        ),
        (
            "IpAddressIfExists present",
            r#"{"IpAddressIfExists":{"aws:SourceIp":"10.0.0.0/8"}}"#,
            vec![("aws:SourceIp", vec!["10.1.2.3"])],
            true,
        ),
        // set qualifiers
        (
            "ForAnyValue one matches",
            r#"{"ForAnyValue:StringEquals":{"aws:TagKeys":["Project","Team"]}}"#,
            vec![("aws:TagKeys", vec!["Owner", "Team"])],
            true,
        ),
        (
            "ForAnyValue none matches",
            r#"{"ForAnyValue:StringEquals":{"aws:TagKeys":["Project","Team"]}}"#,
            vec![("aws:TagKeys", vec!["Owner"])],
            false,
        ),
        (
            "ForAnyValue absent is false",
            r#"{"ForAnyValue:StringEquals":{"aws:TagKeys":"Project"}}"#,
            vec![],
            false,
        ),
        (
            "ForAnyValue empty is false",
            r#"{"ForAnyValue:StringEquals":{"aws:TagKeys":"Project"}}"#,
            vec![("aws:TagKeys", vec![])],
            false,
        ),
        (
            "ForAnyValue negated absent is false",
            r#"{"ForAnyValue:StringNotEquals":{"aws:TagKeys":"Project"}}"#,
            vec![],
            false,
        ),
        (
            "ForAnyValue negated",
            r#"{"ForAnyValue:StringNotEquals":{"aws:TagKeys":"Project"}}"#,
            vec![("aws:TagKeys", vec!["Project", "Team"])],
            true,
        ),
        (
            "ForAnyValue IfExists absent",
            r#"{"ForAnyValue:StringEqualsIfExists":{"aws:TagKeys":"Project"}}"#,
            vec![],
            true,
        ),
        (
            "ForAllValues all match",
            r#"{"ForAllValues:StringEquals":{"aws:TagKeys":["Project","Team"]}}"#,
            vec![("aws:TagKeys", vec!["Team", "Project"])],
            true,
        ),
        (
            "ForAllValues one outside",
            r#"{"ForAllValues:StringEquals":{"aws:TagKeys":["Project","Team"]}}"#,
            vec![("aws:TagKeys", vec!["Team", "Owner"])],
            false,
        ),
        (
            "ForAllValues absent is true",
            r#"{"ForAllValues:StringEquals":{"aws:TagKeys":"Project"}}"#,
            vec![],
            true,
        ),
        (
            "ForAllValues empty is true",
            r#"{"ForAllValues:StringEquals":{"aws:TagKeys":"Project"}}"#,
            vec![("aws:TagKeys", vec![])],
            true,
        ),
        (
            "ForAllValues StringLike",
            r#"{"ForAllValues:StringLike":{"aws:TagKeys":"team-*"}}"#,
            vec![("aws:TagKeys", vec!["team-a", "team-b"])],
            true,
        ),
        (
            "ForAllValues negated",
            r#"{"ForAllValues:StringNotEquals":{"aws:TagKeys":"Secret"}}"#,
            vec![("aws:TagKeys", vec!["A", "Secret"])],
            false,
        ),
        (
            "multivalued key without qualifier: any",
            r#"{"StringEquals":{"aws:TagKeys":"Team"}}"#,
            vec![("aws:TagKeys", vec!["Owner", "Team"])],
            true,
        ),
        (
            "multivalued key, negated: none may match",
            r#"{"StringNotEquals":{"aws:TagKeys":"Team"}}"#,
            vec![("aws:TagKeys", vec!["Owner", "Team"])],
            false,
        ),
    ];
    let mut failures = Vec::new();
    for (name, condition, values, holds) in cases {
        let document = policy(&format!(
            r#"{{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*","Condition":{condition}}}"#
        ));
        let mut builder = RequestContext::builder(alice(), "kms:Decrypt", KEY);
        for (key, vals) in values {
            builder = builder.values(key, vals);
        }
        let got = decide(&document, &builder.build());
        let expected = if holds { EXACT } else { NA };
        if got != expected {
            failures.push(format!("{name}: expected {expected:?}, got {got:?}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn parse_errors() {
    let stmt = |body: &str| policy(body);
    let cases: Vec<(&str, String, &str)> = vec![
        ("not JSON", "{".into(), "policy document is not valid JSON"),
        ("not an object", "[]".into(), "policy document: expected a JSON object"),
        ("bad version", r#"{"Version":"2020-01-01","Statement":[]}"#.into(), "policy document: \"Version\" has invalid value \"2020-01-01\": expected \"2012-10-17\" or \"2008-10-17\""),
        ("unknown top-level element", r#"{"Version":"2012-10-17","Statment":[]}"#.into(), "policy document: unknown element \"Statment\""),
        ("no statements", r#"{"Version":"2012-10-17"}"#.into(), "policy document: missing required element \"Statement\""),
        ("empty statements", r#"{"Version":"2012-10-17","Statement":[]}"#.into(), "policy document: \"Statement\" must not be empty"),
        ("statement not an object", stmt(r#""Allow""#), "Statement[0]: expected a JSON object"),
        ("missing effect", stmt(r#"{"Sid":"S1","Principal":"*","Action":"*","Resource":"*"}"#), "Statement[0] (Sid \"S1\"): missing required element \"Effect\""),
        ("bad effect", stmt(r#"{"Effect":"Allow","Principal":"*","Action":"*","Resource":"*"},{"Sid":"Two","Effect":"Permit","Principal":"*","Action":"*","Resource":"*"}"#), "Statement[1] (Sid \"Two\"): \"Effect\" has invalid value \"Permit\": expected \"Allow\" or \"Deny\""),
        ("missing principal", stmt(r#"{"Effect":"Allow","Action":"*","Resource":"*"}"#), "Statement[0]: a resource-based policy needs \"Principal\" or \"NotPrincipal\""),
        ("principal and NotPrincipal", stmt(r#"{"Effect":"Allow","Principal":"*","NotPrincipal":"*","Action":"*","Resource":"*"}"#), "Statement[0]: has both \"Principal\" and \"NotPrincipal\"; use only one"),
        ("action and NotAction", stmt(r#"{"Effect":"Allow","Principal":"*","Action":"*","NotAction":"*","Resource":"*"}"#), "Statement[0]: has both \"Action\" and \"NotAction\"; use only one"),
        ("missing action", stmt(r#"{"Effect":"Allow","Principal":"*","Resource":"*"}"#), "Statement[0]: missing required element \"Action\" or \"NotAction\""),
        ("missing resource", stmt(r#"{"Effect":"Allow","Principal":"*","Action":"*"}"#), "Statement[0]: missing required element \"Resource\" or \"NotResource\""),
        ("empty action list", stmt(r#"{"Effect":"Allow","Principal":"*","Action":[],"Resource":"*"}"#), "Statement[0]: \"Action\" must not be empty"),
        ("action of wrong type", stmt(r#"{"Effect":"Allow","Principal":"*","Action":[1],"Resource":"*"}"#), "Statement[0]: \"Action\" must be a string or an array of strings"),
        ("bad action", stmt(r#"{"Effect":"Allow","Principal":"*","Action":"Decrypt","Resource":"*"}"#), "Statement[0]: \"Action\" has invalid value \"Decrypt\": expected \"*\" or \"<service>:<action>\""),
        ("bad resource", stmt(r#"{"Effect":"Allow","Principal":"*","Action":"*","Resource":"key/1"}"#), "Statement[0]: \"Resource\" has invalid value \"key/1\": expected \"*\" or an ARN"),
        ("bad principal", stmt(r#"{"Effect":"Allow","Principal":{"AWS":"alice"},"Action":"*","Resource":"*"}"#), "Statement[0]: \"Principal.AWS\" has invalid value \"alice\": expected \"*\", a 12-digit account id or an IAM ARN"),
        ("unknown principal type", stmt(r#"{"Effect":"Allow","Principal":{"Human":"alice"},"Action":"*","Resource":"*"}"#), "Statement[0]: unknown element \"Principal.Human\""),
        ("principal string", stmt(r#"{"Effect":"Allow","Principal":"alice","Action":"*","Resource":"*"}"#), "Statement[0]: \"Principal\" must be \"*\" or an object"),
        ("unknown statement element", stmt(r#"{"Effect":"Allow","Principal":"*","Action":"*","Resource":"*","Conditions":{}}"#), "Statement[0]: unknown element \"Conditions\""),
        ("duplicate sid", stmt(r#"{"Sid":"A","Effect":"Allow","Principal":"*","Action":"*","Resource":"*"},{"Sid":"A","Effect":"Deny","Principal":"*","Action":"*","Resource":"*"}"#), "Statement[1] (Sid \"A\"): Sid \"A\" is used by more than one statement"),
        ("sid not a string", stmt(r#"{"Sid":1,"Effect":"Allow","Principal":"*","Action":"*","Resource":"*"}"#), "Statement[0]: \"Sid\" must be a string"),
        ("unknown operator", stmt(r#"{"Effect":"Allow","Principal":"*","Action":"*","Resource":"*","Condition":{"StringEqual":{"a":"b"}}}"#), "Statement[0]: unknown condition operator \"StringEqual\""),
        ("NullIfExists", stmt(r#"{"Effect":"Allow","Principal":"*","Action":"*","Resource":"*","Condition":{"NullIfExists":{"a":"true"}}}"#), "Statement[0]: unknown condition operator \"NullIfExists\""),
        ("bad number", stmt(r#"{"Effect":"Allow","Principal":"*","Action":"*","Resource":"*","Condition":{"NumericLessThan":{"n":"ten"}}}"#), "Statement[0]: \"Condition.NumericLessThan.n\" has invalid value \"ten\": expected a number"),
        ("bad date", stmt(r#"{"Effect":"Allow","Principal":"*","Action":"*","Resource":"*","Condition":{"DateLessThan":{"aws:CurrentTime":"tomorrow"}}}"#), "Statement[0]: \"Condition.DateLessThan.aws:CurrentTime\" has invalid value \"tomorrow\": expected an ISO 8601 date or epoch seconds"),
        ("bad cidr", stmt(r#"{"Effect":"Allow","Principal":"*","Action":"*","Resource":"*","Condition":{"IpAddress":{"aws:SourceIp":"10.0.0.0/40"}}}"#), "Statement[0]: \"Condition.IpAddress.aws:SourceIp\" has invalid value \"10.0.0.0/40\": expected an IPv4 or IPv6 address or CIDR"),
        ("bad bool", stmt(r#"{"Effect":"Allow","Principal":"*","Action":"*","Resource":"*","Condition":{"Bool":{"aws:SecureTransport":"yes"}}}"#), "Statement[0]: \"Condition.Bool.aws:SecureTransport\" has invalid value \"yes\": expected \"true\" or \"false\""),
        ("bad base64", stmt(r#"{"Effect":"Allow","Principal":"*","Action":"*","Resource":"*","Condition":{"BinaryEquals":{"k":"***"}}}"#), "Statement[0]: \"Condition.BinaryEquals.k\" has invalid value \"***\": expected base64"),
        ("condition not an object", stmt(r#"{"Effect":"Allow","Principal":"*","Action":"*","Resource":"*","Condition":"x"}"#), "Statement[0]: \"Condition\" must be an object of operators"),
        ("condition value object", stmt(r#"{"Effect":"Allow","Principal":"*","Action":"*","Resource":"*","Condition":{"StringEquals":{"k":{}}}}"#), "Statement[0]: \"Condition.StringEquals.k\" must be a string, number or boolean"),
        ("empty condition keys", stmt(r#"{"Effect":"Allow","Principal":"*","Action":"*","Resource":"*","Condition":{"StringEquals":{}}}"#), "Statement[0]: \"Condition.StringEquals\" must not be empty"),
    ];
    let mut failures = Vec::new();
    for (name, document, expected) in cases {
        match Policy::parse(&document, PolicyKind::Resource) {
            Ok(_) => failures.push(format!("{name}: parsed")),
            Err(e) if !e.to_string().starts_with(expected) => failures.push(format!(
                "{name}: expected {expected:?}, got {:?}",
                e.to_string()
            )),
            Err(_) => {}
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn identity_policies_must_not_name_a_principal() {
    let e = Policy::parse(
        &policy(r#"{"Effect":"Allow","Principal":"*","Action":"*","Resource":"*"}"#),
        PolicyKind::Identity,
    )
    .unwrap_err();
    assert_eq!(
        e,
        PolicyError::Statement {
            statement: kagi_policy::StatementRef {
                index: 0,
                sid: None
            },
            problem: Problem::PrincipalInIdentityPolicy,
        }
    );
}

#[test]
fn key_policy_size_limit() {
    let statement = r#"{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*"}"#;
    let fits = format!(
        r#"{{"Version":"2012-10-17","Id":"{}","Statement":[{statement}]}}"#,
        "x".repeat(KEY_POLICY_MAX_CHARS - 200)
    );
    let padded = format!("{fits:<width$}", width = KEY_POLICY_MAX_CHARS);
    assert_eq!(padded.chars().count(), KEY_POLICY_MAX_CHARS);
    assert!(Policy::parse_key_policy(&padded).is_ok());
    let over = format!("{padded} ");
    assert_eq!(
        Policy::parse_key_policy(&over).unwrap_err(),
        PolicyError::TooLarge {
            length: KEY_POLICY_MAX_CHARS + 1,
            limit: KEY_POLICY_MAX_CHARS
        }
    );
    // The limit only applies to key policies.
    assert!(Policy::parse(&over, PolicyKind::Resource).is_ok());
}

#[test]
fn parsed_model() {
    let p = Policy::parse_key_policy(
        r#"{"Version":"2012-10-17","Id":"key-default-1","Statement":[{"Sid":"S","Effect":"Deny","Principal":{"AWS":["111122223333","*"],"Service":"logs.amazonaws.com"},"NotAction":"kms:Describe*","Resource":"*","Condition":{"ForAnyValue:StringLikeIfExists":{"aws:TagKeys":["a*",1]}}}]}"#,
    )
    .unwrap();
    assert_eq!(p.id.as_deref(), Some("key-default-1"));
    let s = &p.statements[0];
    assert_eq!(
        s.principal,
        Some(kagi_policy::Clause::Is(vec![
            kagi_policy::Principal::Aws("arn:aws:iam::111122223333:root".into()),
            kagi_policy::Principal::Anyone,
            kagi_policy::Principal::Service("logs.amazonaws.com".into()),
        ]))
    );
    assert_eq!(s.conditions[0].values, ["a*", "1"]);
    assert!(s.conditions[0].operator.if_exists);
}

// ---- properties ----

const ACTIONS: &[&str] = &[
    "kms:Decrypt",
    "kms:Encrypt",
    "kms:GenerateDataKey",
    "kms:DescribeKey",
];
const ACTION_PATTERNS: &[&str] = &[
    "kms:Decrypt",
    "kms:*",
    "*",
    "kms:Gen*",
    "kms:?ncrypt",
    "s3:*",
];
const PRINCIPALS: &[&str] = &[
    r#""*""#,
    r#"{"AWS":"111122223333"}"#,
    r#"{"AWS":"arn:aws:iam::111122223333:user/alice"}"#,
    r#"{"AWS":"arn:aws:iam::111122223333:user/bob"}"#,
    r#"{"AWS":"444455556666"}"#,
];
const RESOURCES: &[&str] = &[
    "*",
    "arn:aws:kms:*:111122223333:key/*",
    "arn:aws:kms:*:*:alias/*",
];
const CONDITIONS: &[&str] = &[
    "",
    r#","Condition":{"StringEquals":{"kms:EncryptionContext:Department":"Finance"}}"#,
    r#","Condition":{"StringNotEquals":{"kms:EncryptionContext:Department":"Finance"}}"#,
    r#","Condition":{"ForAllValues:StringLike":{"aws:TagKeys":"team-*"}}"#,
    r#","Condition":{"IpAddressIfExists":{"aws:SourceIp":"10.0.0.0/8"}}"#,
];

fn statement_strategy() -> impl Strategy<Value = String> {
    any::<bool>().prop_flat_map(statement_with_effect)
}

/// A statement from the vocabulary above with the given effect (`true` = Deny).
fn statement_with_effect(deny: bool) -> impl Strategy<Value = String> {
    (
        Just(deny),
        any::<bool>(),
        0..PRINCIPALS.len(),
        any::<bool>(),
        0..ACTION_PATTERNS.len(),
        any::<bool>(),
        0..RESOURCES.len(),
        0..CONDITIONS.len(),
    )
        .prop_map(
            |(deny, not_principal, p, not_action, a, not_resource, r, c)| {
                format!(
                    r#"{{"Effect":"{}","{}Principal":{},"{}Action":"{}","{}Resource":"{}"{}}}"#,
                    if deny { "Deny" } else { "Allow" },
                    if not_principal { "Not" } else { "" },
                    PRINCIPALS[p],
                    if not_action { "Not" } else { "" },
                    ACTION_PATTERNS[a],
                    if not_resource { "Not" } else { "" },
                    RESOURCES[r],
                    CONDITIONS[c],
                )
            },
        )
}

fn context_strategy() -> impl Strategy<Value = RequestContext> {
    (
        0..ACTIONS.len(),
        any::<bool>(),
        proptest::option::of(prop_oneof![Just("Finance"), Just("IT")]),
        proptest::option::of(proptest::collection::vec(
            prop_oneof![Just("team-a"), Just("owner")],
            0..3,
        )),
        proptest::option::of(prop_oneof![Just("10.1.1.1"), Just("192.0.2.1")]),
    )
        .prop_map(|(a, bob, department, tags, ip)| {
            let principal = if bob {
                PrincipalInfo::new("arn:aws:iam::111122223333:user/bob", ACCOUNT)
            } else {
                alice()
            };
            let mut b = RequestContext::builder(principal, ACTIONS[a], KEY);
            if let Some(d) = department {
                b = b.value("kms:EncryptionContext:Department", d);
            }
            if let Some(tags) = tags {
                b = b.values("aws:TagKeys", tags);
            }
            if let Some(ip) = ip {
                b = b.value("aws:SourceIp", ip);
            }
            b.build()
        })
}

fn evaluate(statements: &[String], ctx: &RequestContext) -> Decision {
    decide(&policy(&statements.join(",")), ctx)
}

proptest! {
    #[test]
    fn a_matching_deny_is_never_overridden(
        statements in proptest::collection::vec(statement_strategy(), 0..5),
        extra in statement_with_effect(true),
        ctx in context_strategy(),
    ) {
        // A random Deny often does not apply; fall back to one that always does, so every
        // case tests the property instead of being rejected.
        let extra = if evaluate(std::slice::from_ref(&extra), &ctx) == Decision::ExplicitDeny {
            extra
        } else {
            format!(r#"{{"Effect":"Deny","Principal":"*","Action":"{}","Resource":"*"}}"#, ctx.action)
        };
        prop_assert_eq!(evaluate(std::slice::from_ref(&extra), &ctx), Decision::ExplicitDeny);
        let mut all = statements.clone();
        all.push(extra.clone());
        prop_assert_eq!(evaluate(&all, &ctx), Decision::ExplicitDeny);
        let mut first = vec![extra];
        first.extend(statements);
        prop_assert_eq!(evaluate(&first, &ctx), Decision::ExplicitDeny);
    }

    #[test]
    fn an_allow_statement_never_takes_an_allow_away(
        statements in proptest::collection::vec(statement_strategy(), 1..5),
        extra in statement_with_effect(false),
        ctx in context_strategy(),
    ) {
        let before = evaluate(&statements, &ctx);
        let mut all = statements.clone();
        all.push(extra);
        let after = evaluate(&all, &ctx);
        match before {
            Decision::Allow(m) => match after {
                Decision::Allow(n) => prop_assert!(n >= m, "{:?} weakened to {:?}", m, n),
                other => prop_assert!(false, "Allow became {:?}", other),
            },
            Decision::ExplicitDeny => prop_assert_eq!(after, Decision::ExplicitDeny),
            Decision::NotApplicable => prop_assert_ne!(after, Decision::ExplicitDeny),
        }
    }

    #[test]
    fn parsing_never_panics(document in "\\PC{0,200}") {
        let _ = Policy::parse(&document, PolicyKind::Resource);
    }

    #[test]
    fn generated_statements_parse(statement in statement_strategy()) {
        prop_assert!(Policy::parse(&policy(&statement), PolicyKind::Resource).is_ok());
    }
}
