//! SigV4 through the public API: known answers from AWS's SigV4 test suite and
//! documentation, sign-then-verify round trips, tampering, clock skew, and malformed
//! `Authorization` headers.

use std::time::{Duration, SystemTime};

use http::request::Parts;
use http::{HeaderValue, Request};
use kagi_crypto::digest::{hmac_sha256, sha256};
use kagi_crypto::SecretBytes;
use proptest::prelude::*;
use sigv4::{
    parse_request, sign, sign_with, Credentials, SigV4Error, SignError, SigningKey,
    SigningKeyCache, SigningParams, DEFAULT_MAX_SKEW,
};

/// The example credentials of the AWS SigV4 test suite and documentation.
const AKID: &str = "AKIDEXAMPLE";
const SECRET: &[u8] = b"wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
const AMZ_DATE: &str = "20150830T123600Z";
const STS_TOKEN: &str = "AQoDYXdzEPT//////////wEXAMPLEtc764bNrC9SAPBSM22wDOk4x4HIZ8j4FZTwdQWLWsKWHGBuFqwAeMicRXmxfpSPfIeoIYRqTflfKD8YUuwthAx7mSEI/qkPpKPi/kMcGdQrmGdeehM4IC1NtBmUpp2wUE8phUZampKsburEDy0KPkyQDYwT7WZ0wq5VSXDvp75YU9HFvlRd8Tx6q6fE8YQcHNVXAkiY9q6d+xo0rKwT38xVqr7ZD0u0iPPkUL64lIZbqBAz+scqKmlzm8FDrypNC9Yjc8fPOLn9FX9KSYvKTr4rvx3iSIlTJabIQwj2ICCR/oLxBA==";

fn at(amz_date: &str) -> SystemTime {
    sigv4::date::parse_amz_date(amz_date).expect("valid test date")
}

fn suite_time() -> SystemTime {
    at(AMZ_DATE)
}

fn parts(method: &str, uri: &str, headers: &[(&str, &str)]) -> Parts {
    let mut builder = Request::builder().method(method).uri(uri);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    builder.body(()).expect("valid test request").into_parts().0
}

fn creds() -> Credentials {
    Credentials::new(AKID, SecretBytes::from_slice(SECRET))
}

/// Authorization for the test suite's scope with the given signed headers and signature.
fn suite_authorization(signed_headers: &str, signature: &str) -> String {
    format!(
        "AWS4-HMAC-SHA256 Credential={AKID}/20150830/us-east-1/service/aws4_request, \
         SignedHeaders={signed_headers}, Signature={signature}"
    )
}

/// Parses and verifies a test-suite request whose headers include its Authorization.
fn verify_suite(parts: &Parts, body: &[u8]) -> Result<(), SigV4Error> {
    let request = parse_request(parts, suite_time(), DEFAULT_MAX_SKEW)?;
    assert_eq!(request.access_key_id(), AKID);
    let key = SigningKey::derive(SECRET, request.date(), request.region(), request.service());
    request.verify(&key, parts, body)
}

/// One request of the AWS SigV4 test suite: method, URI, extra headers (besides Host and
/// X-Amz-Date), body, signed headers and the expected signature.
struct Vector {
    name: &'static str,
    method: &'static str,
    uri: &'static str,
    headers: &'static [(&'static str, &'static str)],
    body: &'static str,
    signed_headers: &'static str,
    signature: &'static str,
}

const HOST_DATE: &str = "host;x-amz-date";

const SUITE: &[Vector] = &[
    Vector {
        name: "get-vanilla",
        method: "GET",
        uri: "/",
        headers: &[],
        body: "",
        signed_headers: HOST_DATE,
        signature: "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
    },
    Vector {
        name: "get-vanilla-empty-query-key",
        method: "GET",
        uri: "/?Param1=value1",
        headers: &[],
        body: "",
        signed_headers: HOST_DATE,
        signature: "a67d582fa61cc504c4bae71f336f98b97f1ea3c7a6bfe1b6e45aec72011b9aeb",
    },
    Vector {
        name: "get-vanilla-query-order-key",
        method: "GET",
        uri: "/?Param1=value2&Param1=Value1",
        headers: &[],
        body: "",
        signed_headers: HOST_DATE,
        signature: "eedbc4e291e521cf13422ffca22be7d2eb8146eecf653089df300a15b2382bd1",
    },
    Vector {
        name: "get-vanilla-query-order-key-case",
        method: "GET",
        uri: "/?Param2=value2&Param1=value1",
        headers: &[],
        body: "",
        signed_headers: HOST_DATE,
        signature: "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500",
    },
    Vector {
        name: "get-vanilla-query-order-value",
        method: "GET",
        uri: "/?Param1=value2&Param1=value1",
        headers: &[],
        body: "",
        signed_headers: HOST_DATE,
        signature: "5772eed61e12b33fae39ee5e7012498b51d56abc0abb7c60486157bd471c4694",
    },
    Vector {
        name: "get-vanilla-query-unreserved",
        method: "GET",
        uri: "/?-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz=-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
        headers: &[],
        body: "",
        signed_headers: HOST_DATE,
        signature: "9c3e54bfcdf0b19771a7f523ee5669cdf59bc7cc0884027167c21bb143a40197",
    },
    Vector {
        // The suite's raw "/?ሴ=bar", as it travels on the wire.
        name: "get-vanilla-utf8-query",
        method: "GET",
        uri: "/?%E1%88%B4=bar",
        headers: &[],
        body: "",
        signed_headers: HOST_DATE,
        signature: "2cdec8eed098649ff3a119c94853b13c643bcf08f8b0a1d91e12c9027818dd04",
    },
    Vector {
        name: "get-unreserved",
        method: "GET",
        uri: "/-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
        headers: &[],
        body: "",
        signed_headers: HOST_DATE,
        signature: "07ef7494c76fa4850883e2b006601f940f8a34d404d0cfa977f52a65bbf5f24f",
    },
    Vector {
        name: "get-header-key-duplicate",
        method: "GET",
        uri: "/",
        headers: &[
            ("My-Header1", "value2"),
            ("My-Header1", "value2"),
            ("My-Header1", "value1"),
        ],
        body: "",
        signed_headers: "host;my-header1;x-amz-date",
        signature: "c9d5ea9f3f72853aea855b47ea873832890dbdd183b4468f858259531a5138ea",
    },
    Vector {
        name: "get-header-value-order",
        method: "GET",
        uri: "/",
        headers: &[
            ("My-Header1", "value4"),
            ("My-Header1", "value1"),
            ("My-Header1", "value3"),
            ("My-Header1", "value2"),
        ],
        body: "",
        signed_headers: "host;my-header1;x-amz-date",
        signature: "08c7e5a9acfcfeb3ab6b2185e75ce8b1deb5e634ec47601a50643f830c755c01",
    },
    Vector {
        name: "get-header-value-trim",
        method: "GET",
        uri: "/",
        headers: &[("My-Header1", " value1"), ("My-Header2", " \"a   b   c\"")],
        body: "",
        signed_headers: "host;my-header1;my-header2;x-amz-date",
        signature: "acc3ed3afb60bb290fc8d2dd0098b9911fcaa05412b367055dee359757a9c736",
    },
    Vector {
        name: "post-vanilla",
        method: "POST",
        uri: "/",
        headers: &[],
        body: "",
        signed_headers: HOST_DATE,
        signature: "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b",
    },
    Vector {
        name: "post-vanilla-query",
        method: "POST",
        uri: "/?Param1=value1",
        headers: &[],
        body: "",
        signed_headers: HOST_DATE,
        signature: "28038455d6de14eafc1f9222cf5aa6f1a96197d7deb8263271d420d138af7f11",
    },
    Vector {
        name: "post-header-key-sort",
        method: "POST",
        uri: "/",
        headers: &[("My-Header1", "value1")],
        body: "",
        signed_headers: "host;my-header1;x-amz-date",
        signature: "c5410059b04c1ee005303aed430f6e6645f61f4dc9e1461ec8f8916fdf18852c",
    },
    Vector {
        name: "post-header-value-case",
        method: "POST",
        uri: "/",
        headers: &[("My-Header1", "VALUE1")],
        body: "",
        signed_headers: "host;my-header1;x-amz-date",
        signature: "cdbc9802e29d2942e5e10b5bccfdd67c5f22c7c4e8ae67b53629efa58b974b7d",
    },
    Vector {
        name: "post-x-www-form-urlencoded",
        method: "POST",
        uri: "/",
        headers: &[("Content-Type", "application/x-www-form-urlencoded")],
        body: "Param1=value1",
        signed_headers: "content-type;host;x-amz-date",
        signature: "ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a",
    },
    Vector {
        name: "post-x-www-form-urlencoded-parameters",
        method: "POST",
        uri: "/",
        headers: &[(
            "Content-Type",
            "application/x-www-form-urlencoded; charset=utf8",
        )],
        body: "Param1=value1",
        signed_headers: "content-type;host;x-amz-date",
        signature: "1a72ec8f64bd914b0e42e42607c7fbce7fb2c7465f63e3092b3b0d39fa77a6fe",
    },
    Vector {
        name: "post-sts-header-before",
        method: "POST",
        uri: "/",
        headers: &[("X-Amz-Security-Token", STS_TOKEN)],
        body: "",
        signed_headers: "host;x-amz-date;x-amz-security-token",
        signature: "85d96828115b5dc0cfc3bd16ad9e210dd772bbebba041836c64533a82be05ead",
    },
    Vector {
        // The token is added after signing and so is not signed.
        name: "post-sts-header-after",
        method: "POST",
        uri: "/",
        headers: &[("X-Amz-Security-Token", STS_TOKEN)],
        body: "",
        signed_headers: HOST_DATE,
        signature: "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b",
    },
    // Path normalisation cases.
    Vector {
        name: "get-relative",
        method: "GET",
        uri: "/example/..",
        headers: &[],
        body: "",
        signed_headers: HOST_DATE,
        signature: "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
    },
    Vector {
        name: "get-relative-relative",
        method: "GET",
        uri: "/example1/example2/../..",
        headers: &[],
        body: "",
        signed_headers: HOST_DATE,
        signature: "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
    },
    Vector {
        name: "get-slash",
        method: "GET",
        uri: "//",
        headers: &[],
        body: "",
        signed_headers: HOST_DATE,
        signature: "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
    },
    Vector {
        name: "get-slash-dot-slash",
        method: "GET",
        uri: "/./",
        headers: &[],
        body: "",
        signed_headers: HOST_DATE,
        signature: "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
    },
    Vector {
        name: "get-slash-pointless-dot",
        method: "GET",
        uri: "/./example",
        headers: &[],
        body: "",
        signed_headers: HOST_DATE,
        signature: "ef75d96142cf21edca26f06005da7988e4f8dc83a165a80865db7089db637ec5",
    },
    Vector {
        name: "get-slashes",
        method: "GET",
        uri: "//example//",
        headers: &[],
        body: "",
        signed_headers: HOST_DATE,
        signature: "9a624bd73a37c9a373b5312afbebe7a714a789de108f0bdfe846570885f57e84",
    },
];

fn vector_parts(v: &Vector) -> Parts {
    let authorization = suite_authorization(v.signed_headers, v.signature);
    let mut headers = vec![("Host", "example.amazonaws.com"), ("X-Amz-Date", AMZ_DATE)];
    headers.extend_from_slice(v.headers);
    headers.push(("Authorization", &authorization));
    parts(v.method, v.uri, &headers)
}

#[test]
fn aws_test_suite_signatures_verify() {
    for v in SUITE {
        let p = vector_parts(v);
        assert_eq!(verify_suite(&p, v.body.as_bytes()), Ok(()), "{}", v.name);
    }
}

#[test]
fn aws_test_suite_signatures_fail_when_any_byte_changes() {
    for v in SUITE {
        let p = vector_parts(v);
        let mut body = v.body.as_bytes().to_vec();
        body.push(b'x');
        assert_eq!(
            verify_suite(&p, &body),
            Err(SigV4Error::SignatureMismatch),
            "{}",
            v.name
        );
    }
}

#[test]
fn the_security_token_is_exposed() {
    let v = SUITE
        .iter()
        .find(|v| v.name == "post-sts-header-before")
        .expect("present");
    let request = parse_request(&vector_parts(v), suite_time(), DEFAULT_MAX_SKEW).expect("valid");
    assert_eq!(request.security_token(), Some(STS_TOKEN));
    let vanilla =
        parse_request(&vector_parts(&SUITE[0]), suite_time(), DEFAULT_MAX_SKEW).expect("valid");
    assert_eq!(vanilla.security_token(), None);
    assert_eq!(vanilla.region(), "us-east-1");
    assert_eq!(vanilla.service(), "service");
    assert_eq!(vanilla.date(), "20150830");
    assert_eq!(vanilla.scope(), "20150830/us-east-1/service/aws4_request");
    assert_eq!(vanilla.request_time().as_str(), AMZ_DATE);
    assert_eq!(vanilla.signed_headers(), HOST_DATE);
}

/// The IAM `ListUsers` example from the SigV4 documentation.
fn iam_list_users() -> Parts {
    parts(
        "GET",
        "https://iam.amazonaws.com/?Action=ListUsers&Version=2010-05-08",
        &[
            ("Host", "iam.amazonaws.com"),
            (
                "Content-Type",
                "application/x-www-form-urlencoded; charset=utf-8",
            ),
            ("X-Amz-Date", AMZ_DATE),
        ],
    )
}

const IAM_SIGNATURE: &str = "5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7";

#[test]
fn iam_list_users_example_verifies() {
    let mut p = iam_list_users();
    let authorization = format!(
        "AWS4-HMAC-SHA256 Credential={AKID}/20150830/us-east-1/iam/aws4_request, \
         SignedHeaders=content-type;host;x-amz-date, Signature={IAM_SIGNATURE}"
    );
    p.headers.insert(
        "authorization",
        HeaderValue::from_str(&authorization).expect("ascii"),
    );
    let request = parse_request(&p, suite_time(), DEFAULT_MAX_SKEW).expect("valid");
    assert_eq!(request.require_scope("us-east-1", "iam"), Ok(()));
    let key = SigningKey::derive(SECRET, "20150830", "us-east-1", "iam");
    assert_eq!(request.verify(&key, &p, b""), Ok(()));
}

#[test]
fn signing_reproduces_the_iam_example() {
    let mut p = iam_list_users();
    p.headers.remove("x-amz-date");
    sign(&mut p, b"", &creds(), "us-east-1", "iam", suite_time()).expect("signs");
    assert_eq!(
        p.headers["authorization"],
        format!(
            "AWS4-HMAC-SHA256 Credential={AKID}/20150830/us-east-1/iam/aws4_request, \
             SignedHeaders=content-type;host;x-amz-date, Signature={IAM_SIGNATURE}"
        )
        .as_str()
    );
    assert_eq!(p.headers["x-amz-date"], AMZ_DATE);
}

#[test]
fn signing_reproduces_the_test_suite() {
    for name in [
        "get-vanilla",
        "get-vanilla-query-order-key-case",
        "get-header-value-trim",
        "post-x-www-form-urlencoded",
        "post-sts-header-before",
        "get-slashes",
    ] {
        let v = SUITE.iter().find(|v| v.name == name).expect("present");
        let mut headers = vec![("Host", "example.amazonaws.com")];
        headers.extend(
            v.headers
                .iter()
                .filter(|(n, _)| *n != "X-Amz-Security-Token"),
        );
        let mut p = parts(v.method, v.uri, &headers);
        let mut c = creds();
        if v.signed_headers.contains("x-amz-security-token") {
            c = c.with_session_token(STS_TOKEN);
        }
        sign(
            &mut p,
            v.body.as_bytes(),
            &c,
            "us-east-1",
            "service",
            suite_time(),
        )
        .expect("signs");
        assert_eq!(
            p.headers["authorization"],
            suite_authorization(v.signed_headers, v.signature).as_str(),
            "{name}"
        );
    }
}

fn kms_request(body: &str) -> Parts {
    parts(
        "POST",
        "https://kms.us-east-1.amazonaws.com/",
        &[
            ("Content-Type", "application/x-amz-json-1.1"),
            ("X-Amz-Target", "TrentService.Encrypt"),
            ("User-Agent", "aws-sdk-rust/1.0"),
            ("Content-Length", &body.len().to_string()),
        ],
    )
}

const KMS_BODY: &str = r#"{"KeyId":"alias/test","Plaintext":"aGVsbG8="}"#;

fn signed_kms_request(now: SystemTime) -> Parts {
    let mut p = kms_request(KMS_BODY);
    sign(
        &mut p,
        KMS_BODY.as_bytes(),
        &creds(),
        "us-east-1",
        "kms",
        now,
    )
    .expect("signs");
    p
}

fn verify_kms(p: &Parts, body: &[u8], now: SystemTime) -> Result<(), SigV4Error> {
    let cache = SigningKeyCache::new();
    let request = parse_request(p, now, DEFAULT_MAX_SKEW)?;
    request.require_scope("us-east-1", "kms")?;
    let key = cache
        .get_or_derive(
            request.access_key_id(),
            request.date(),
            request.region(),
            request.service(),
            || Ok::<_, ()>(SecretBytes::from_slice(SECRET)),
        )
        .expect("known key");
    request.verify(&key, p, body)
}

#[test]
fn sign_then_verify() {
    let now = at("20240229T235959Z");
    let p = signed_kms_request(now);
    assert_eq!(
        p.headers["authorization"]
            .to_str()
            .expect("ascii")
            .split(", ")
            .nth(1),
        Some("SignedHeaders=content-length;content-type;host;x-amz-date;x-amz-target")
    );
    assert!(!p.headers.contains_key("x-amz-content-sha256"));
    assert_eq!(p.headers["host"], "kms.us-east-1.amazonaws.com");
    assert_eq!(verify_kms(&p, KMS_BODY.as_bytes(), now), Ok(()));
}

#[test]
fn sign_then_verify_with_payload_hash_header_and_token() {
    let now = at("20240101T000000Z");
    let mut p = kms_request(KMS_BODY);
    let params = SigningParams {
        region: "us-east-1",
        service: "kms",
        time: now,
        content_sha256_header: true,
    };
    sign_with(
        &mut p,
        KMS_BODY.as_bytes(),
        &creds().with_session_token("session-token"),
        &params,
    )
    .expect("signs");
    assert!(p.headers.contains_key("x-amz-content-sha256"));
    assert_eq!(verify_kms(&p, KMS_BODY.as_bytes(), now), Ok(()));
    let request = parse_request(&p, now, DEFAULT_MAX_SKEW).expect("valid");
    assert_eq!(request.security_token(), Some("session-token"));

    // A payload hash header that does not match the body fails even before the signature.
    assert_eq!(
        verify_kms(&p, b"{}", now),
        Err(SigV4Error::SignatureMismatch)
    );
}

#[test]
fn unsigned_payload_is_not_honoured() {
    let now = at("20240101T000000Z");
    let mut p = signed_kms_request(now);
    p.headers.insert(
        "x-amz-content-sha256",
        HeaderValue::from_static("UNSIGNED-PAYLOAD"),
    );
    // Unsigned, the header does not change the (body-covering) signature.
    assert_eq!(verify_kms(&p, KMS_BODY.as_bytes(), now), Ok(()));
    assert_eq!(
        verify_kms(&p, b"tampered", now),
        Err(SigV4Error::SignatureMismatch)
    );
}

#[test]
fn signing_takes_host_from_the_uri_and_needs_one() {
    let mut p = parts("POST", "http://127.0.0.1:4000/", &[]);
    sign(&mut p, b"", &creds(), "us-east-1", "kms", suite_time()).expect("signs");
    assert_eq!(p.headers["host"], "127.0.0.1:4000");

    let mut p = parts("POST", "/", &[]);
    assert_eq!(
        sign(&mut p, b"", &creds(), "us-east-1", "kms", suite_time()),
        Err(SignError::MissingHost)
    );
    let mut p = parts("POST", "/", &[("Host", "localhost")]);
    assert_eq!(
        sign(&mut p, b"", &creds(), "us east", "kms", suite_time()),
        Err(SignError::InvalidScopeComponent {
            component: "region"
        })
    );
}

#[test]
fn verification_uses_the_uri_authority_when_host_is_absent() {
    // HTTP/2 requests carry :authority in the URI and no Host header.
    let now = suite_time();
    let mut p = parts("POST", "https://kms.us-east-1.amazonaws.com/", &[]);
    sign(&mut p, b"{}", &creds(), "us-east-1", "kms", now).expect("signs");
    p.headers.remove("host");
    assert_eq!(verify_kms(&p, b"{}", now), Ok(()));
}

#[test]
fn resigning_replaces_the_previous_signature() {
    let now = suite_time();
    let mut p = signed_kms_request(now);
    let later = now + Duration::from_secs(60);
    sign(
        &mut p,
        KMS_BODY.as_bytes(),
        &creds(),
        "us-east-1",
        "kms",
        later,
    )
    .expect("signs");
    assert_eq!(p.headers.get_all("authorization").iter().count(), 1);
    assert_eq!(verify_kms(&p, KMS_BODY.as_bytes(), later), Ok(()));
}

#[test]
fn tampering_is_detected() {
    let now = suite_time();
    let body = KMS_BODY.as_bytes();

    // Body.
    let p = signed_kms_request(now);
    assert_eq!(
        verify_kms(&p, br#"{"KeyId":"alias/evil","Plaintext":"aGVsbG8="}"#, now),
        Err(SigV4Error::SignatureMismatch)
    );

    // A signed header.
    let mut p = signed_kms_request(now);
    p.headers.insert(
        "x-amz-target",
        HeaderValue::from_static("TrentService.Decrypt"),
    );
    assert_eq!(
        verify_kms(&p, body, now),
        Err(SigV4Error::SignatureMismatch)
    );

    // A second value appended to a signed header.
    let mut p = signed_kms_request(now);
    p.headers.append(
        "x-amz-target",
        HeaderValue::from_static("TrentService.Decrypt"),
    );
    assert_eq!(
        verify_kms(&p, body, now),
        Err(SigV4Error::SignatureMismatch)
    );

    // An unsigned header is free to change.
    let mut p = signed_kms_request(now);
    p.headers
        .insert("user-agent", HeaderValue::from_static("something-else"));
    assert_eq!(verify_kms(&p, body, now), Ok(()));

    // The path.
    let mut p = signed_kms_request(now);
    p.uri = "https://kms.us-east-1.amazonaws.com/other"
        .parse()
        .expect("valid uri");
    assert_eq!(
        verify_kms(&p, body, now),
        Err(SigV4Error::SignatureMismatch)
    );

    // The query.
    let mut p = signed_kms_request(now);
    p.uri = "https://kms.us-east-1.amazonaws.com/?a=b"
        .parse()
        .expect("valid uri");
    assert_eq!(
        verify_kms(&p, body, now),
        Err(SigV4Error::SignatureMismatch)
    );

    // The method.
    let mut p = signed_kms_request(now);
    p.method = http::Method::PUT;
    assert_eq!(
        verify_kms(&p, body, now),
        Err(SigV4Error::SignatureMismatch)
    );

    // The region in the credential scope (re-signed by nobody: the key no longer matches).
    let p = signed_kms_request(now);
    let mut forged = p.clone();
    let authorization = p.headers["authorization"]
        .to_str()
        .expect("ascii")
        .replace("/us-east-1/", "/us-west-2/");
    forged.headers.insert(
        "authorization",
        HeaderValue::from_str(&authorization).expect("ascii"),
    );
    let request = parse_request(&forged, now, DEFAULT_MAX_SKEW).expect("well formed");
    assert_eq!(request.region(), "us-west-2");
    assert_eq!(
        request.require_scope("us-east-1", "kms"),
        Err(SigV4Error::CredentialScope {
            message: "Credential should be scoped to a valid region, not 'us-west-2'. ".into()
        })
    );
    let key = SigningKey::derive(SECRET, request.date(), request.region(), request.service());
    assert_eq!(
        request.verify(&key, &forged, body),
        Err(SigV4Error::SignatureMismatch)
    );

    // The signature itself.
    let mut p = signed_kms_request(now);
    let authorization = p.headers["authorization"]
        .to_str()
        .expect("ascii")
        .to_owned();
    let last = authorization.chars().last().expect("non-empty");
    let flipped = if last == '0' { '1' } else { '0' };
    let tampered = format!("{}{flipped}", &authorization[..authorization.len() - 1]);
    p.headers.insert(
        "authorization",
        HeaderValue::from_str(&tampered).expect("ascii"),
    );
    assert_eq!(
        verify_kms(&p, body, now),
        Err(SigV4Error::SignatureMismatch)
    );

    // The secret.
    let p = signed_kms_request(now);
    let request = parse_request(&p, now, DEFAULT_MAX_SKEW).expect("valid");
    let wrong = SigningKey::derive(b"not-the-secret", request.date(), "us-east-1", "kms");
    assert_eq!(
        request.verify(&wrong, &p, body),
        Err(SigV4Error::SignatureMismatch)
    );
}

#[test]
fn service_scope_is_checked() {
    let now = suite_time();
    let mut p = kms_request(KMS_BODY);
    sign(
        &mut p,
        KMS_BODY.as_bytes(),
        &creds(),
        "us-east-1",
        "s3",
        now,
    )
    .expect("signs");
    let err = verify_kms(&p, KMS_BODY.as_bytes(), now).expect_err("wrong service");
    assert_eq!(
        err.to_string(),
        "Credential should be scoped to correct service: 'kms'. "
    );
    assert_eq!(err.aws_error_code(), "InvalidSignatureException");
}

#[test]
fn clock_skew_is_enforced_both_ways() {
    let signed_at = suite_time();
    let p = signed_kms_request(signed_at);
    let body = KMS_BODY.as_bytes();
    let fifteen = Duration::from_secs(15 * 60);

    assert_eq!(verify_kms(&p, body, signed_at + fifteen), Ok(()));
    assert_eq!(verify_kms(&p, body, signed_at - fifteen), Ok(()));

    let late = signed_at + fifteen + Duration::from_secs(1);
    let err = verify_kms(&p, body, late).expect_err("expired");
    assert_eq!(
        err,
        SigV4Error::SignatureExpired {
            request_time: signed_at,
            now: late,
            max_skew: DEFAULT_MAX_SKEW
        }
    );
    assert_eq!(
        err.to_string(),
        "Signature expired: 20150830T123600Z is now earlier than 20150830T123601Z \
         (20150830T125101Z - 15 min.)"
    );
    assert_eq!(err.aws_error_code(), "InvalidSignatureException");

    let early = signed_at - fifteen - Duration::from_secs(1);
    let err = verify_kms(&p, body, early).expect_err("not yet current");
    assert_eq!(
        err.to_string(),
        "Signature not yet current: 20150830T123600Z is still later than 20150830T123559Z \
         (20150830T122059Z + 15 min.)"
    );

    // The allowed skew is a parameter.
    assert!(matches!(
        parse_request(
            &p,
            signed_at + Duration::from_secs(61),
            Duration::from_secs(60)
        ),
        Err(SigV4Error::SignatureExpired { .. })
    ));
}

#[test]
fn the_date_header_is_accepted_when_x_amz_date_is_absent() {
    let now = suite_time();
    let authorization = suite_authorization(
        "date;host",
        "0000000000000000000000000000000000000000000000000000000000000000",
    );
    let p = parts(
        "GET",
        "/",
        &[
            ("Host", "example.amazonaws.com"),
            ("Date", "Sun, 30 Aug 2015 12:36:00 GMT"),
            ("Authorization", &authorization),
        ],
    );
    let request = parse_request(&p, now, DEFAULT_MAX_SKEW).expect("valid");
    assert_eq!(request.request_time().as_str(), AMZ_DATE);
    assert_eq!(verify_suite(&p, b""), Err(SigV4Error::SignatureMismatch));

    // A request signed over Date (no X-Amz-Date) verifies. The expected signature is
    // computed here from first principles: the canonical request written out by hand, the
    // signing key derived with plain HMACs.
    let canonical = "GET\n/\n\ndate:Sun, 30 Aug 2015 12:36:00 GMT\nhost:example.amazonaws.com\n\n\
                     date;host\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
    let string_to_sign = format!(
        "AWS4-HMAC-SHA256\n{AMZ_DATE}\n20150830/us-east-1/service/aws4_request\n{}",
        hex(&sha256(canonical.as_bytes()))
    );
    let mut k = hmac_sha256(b"AWS4wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", b"20150830");
    for part in ["us-east-1", "service", "aws4_request"] {
        k = hmac_sha256(&k, part.as_bytes());
    }
    let signature = hex(&hmac_sha256(&k, string_to_sign.as_bytes()));
    let authorization = suite_authorization("date;host", &signature);
    let p = parts(
        "GET",
        "/",
        &[
            ("Host", "example.amazonaws.com"),
            ("Date", "Sun, 30 Aug 2015 12:36:00 GMT"),
            ("Authorization", &authorization),
        ],
    );
    assert_eq!(verify_suite(&p, b""), Ok(()));

    // With X-Amz-Date present, Date is just another header: X-Amz-Date must be signed.
    let p = parts(
        "GET",
        "/",
        &[
            ("Host", "example.amazonaws.com"),
            ("Date", "Sun, 30 Aug 2015 12:36:00 GMT"),
            ("X-Amz-Date", AMZ_DATE),
            ("Authorization", &authorization),
        ],
    );
    assert_eq!(
        incomplete(parse_request(&p, now, DEFAULT_MAX_SKEW)),
        "'X-Amz-Date' must be a 'SignedHeader' in the AWS Authorization."
    );
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn incomplete(err: Result<impl std::fmt::Debug, SigV4Error>) -> String {
    match err {
        Err(e @ SigV4Error::IncompleteSignature { .. }) => {
            assert_eq!(e.aws_error_code(), "IncompleteSignatureException");
            e.to_string()
        }
        other => panic!("expected IncompleteSignature, got {other:?}"),
    }
}

fn with_authorization(authorization: &str, extra: &[(&str, &str)]) -> Parts {
    let mut headers = vec![
        ("Host", "example.amazonaws.com"),
        ("X-Amz-Date", AMZ_DATE),
        ("Authorization", authorization),
    ];
    headers.extend_from_slice(extra);
    parts("GET", "/", &headers)
}

fn parse(authorization: &str) -> Result<sigv4::SignedRequest, SigV4Error> {
    parse_request(
        &with_authorization(authorization, &[]),
        suite_time(),
        DEFAULT_MAX_SKEW,
    )
}

const SIG: &str = "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31";

#[test]
fn a_missing_authorization_header_is_missing_authentication() {
    let p = parts("GET", "/", &[("Host", "example.amazonaws.com")]);
    let err = parse_request(&p, suite_time(), DEFAULT_MAX_SKEW).expect_err("no header");
    assert_eq!(err, SigV4Error::MissingAuthentication);
    assert_eq!(err.aws_error_code(), "MissingAuthenticationTokenException");
    assert_eq!(err.to_string(), "Missing Authentication Token");
}

#[test]
fn missing_parameters_are_listed_like_aws() {
    let token = "eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9.e30.sig";
    let p = parts("GET", "/", &[("Authorization", token)]);
    assert_eq!(
        incomplete(parse_request(&p, suite_time(), DEFAULT_MAX_SKEW)),
        format!(
            "Authorization header requires 'Credential' parameter. Authorization header \
             requires 'Signature' parameter. Authorization header requires 'SignedHeaders' \
             parameter. Authorization header requires existence of either a 'X-Amz-Date' or \
             a 'Date' header. Authorization={token}"
        )
    );
    let header = "AWS4-HMAC-SHA256 Credential=ABCDEF";
    assert_eq!(
        incomplete(parse(header)),
        format!(
            "Authorization header requires 'Signature' parameter. Authorization header \
             requires 'SignedHeaders' parameter. Authorization={header}"
        )
    );
    let header = suite_authorization(HOST_DATE, SIG);
    let p = parts(
        "GET",
        "/",
        &[
            ("Host", "example.amazonaws.com"),
            ("Authorization", &header),
        ],
    );
    assert_eq!(
        incomplete(parse_request(&p, suite_time(), DEFAULT_MAX_SKEW)),
        format!(
            "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' \
             header. Authorization={header}"
        )
    );
}

#[test]
fn malformed_authorization_headers_are_incomplete_signatures() {
    let good_credential = "AKIDEXAMPLE/20150830/us-east-1/service/aws4_request";
    for header in [
        String::new(),
        " ".to_owned(),
        "AWS4-HMAC-SHA256".to_owned(),
        "AWS4-HMAC-SHA256 ".to_owned(),
        "Bearer token".to_owned(),
        "AWS AKIDEXAMPLE:c2lnbmF0dXJl".to_owned(),
        "aws4-hmac-sha256 Credential=x".to_owned(),
        format!("AWS4-HMAC-SHA256 Credential={good_credential}"),
        format!("AWS4-HMAC-SHA256 Credential={good_credential}, SignedHeaders=host;x-amz-date"),
        format!("AWS4-HMAC-SHA256 SignedHeaders=host;x-amz-date, Signature={SIG}"),
        format!("AWS4-HMAC-SHA256 Credential {good_credential}, SignedHeaders=host;x-amz-date, Signature={SIG}"),
        format!("AWS4-HMAC-SHA256 Credential={good_credential}, SignedHeaders=host;x-amz-date, Signature={SIG}, Signature={SIG}"),
        format!("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service, SignedHeaders=host;x-amz-date, Signature={SIG}"),
        format!("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request/x, SignedHeaders=host;x-amz-date, Signature={SIG}"),
        format!("AWS4-HMAC-SHA256 Credential=, SignedHeaders=host;x-amz-date, Signature={SIG}"),
        format!("AWS4-HMAC-SHA256 Credential={good_credential}, SignedHeaders=x-amz-date, Signature={SIG}"),
        format!("AWS4-HMAC-SHA256 Credential={good_credential}, SignedHeaders=host, Signature={SIG}"),
        format!("AWS4-HMAC-SHA256 Credential={good_credential}, SignedHeaders=, Signature={SIG}"),
        format!("AWS4-HMAC-SHA256 Credential={good_credential}, SignedHeaders=host;x-amz-date;x-missing, Signature={SIG}"),
        format!("AWS4-HMAC-SHA256 Credential={good_credential}, SignedHeaders=host;;x-amz-date, Signature={SIG}"),
        format!("AWS4-HMAC-SHA256 Credential={good_credential}, SignedHeaders=host;x-amz-date;bad name, Signature={SIG}"),
    ] {
        incomplete(parse(&header));
    }
}

#[test]
fn bad_signatures_are_mismatches_not_parse_errors() {
    let credential = "AKIDEXAMPLE/20150830/us-east-1/service/aws4_request";
    for signature in [
        "",
        "abc",
        &SIG[..63],
        &format!("{SIG}0"),
        &SIG.replace('f', "g"),
    ] {
        let header = format!(
            "AWS4-HMAC-SHA256 Credential={credential}, SignedHeaders=host;x-amz-date, \
             Signature={signature}"
        );
        let p = with_authorization(&header, &[]);
        assert_eq!(
            verify_suite(&p, b""),
            Err(SigV4Error::SignatureMismatch),
            "{signature:?}"
        );
    }
    // Upper-case hex is the same signature.
    let header = suite_authorization(HOST_DATE, &SIG.to_uppercase());
    assert_eq!(verify_suite(&with_authorization(&header, &[]), b""), Ok(()));
}

#[test]
fn other_algorithms_are_unsupported() {
    let err = parse(&format!(
        "AWS4-ECDSA-P256-SHA256 Credential=AKIDEXAMPLE/20150830/service/aws4_request, \
         SignedHeaders=host;x-amz-date, Signature={SIG}"
    ))
    .expect_err("sigv4a");
    assert_eq!(
        err,
        SigV4Error::UnsupportedAlgorithm {
            algorithm: "AWS4-ECDSA-P256-SHA256".into()
        }
    );
    assert_eq!(err.aws_error_code(), "IncompleteSignatureException");
}

#[test]
fn bad_dates_are_incomplete_signatures() {
    let header = suite_authorization(HOST_DATE, SIG);
    for date in [
        "2015-08-30T12:36:00Z",
        "20150830",
        "20151330T123600Z",
        "20150230T123600Z",
        "",
    ] {
        let p = parts(
            "GET",
            "/",
            &[
                ("Host", "example.amazonaws.com"),
                ("X-Amz-Date", date),
                ("Authorization", &header),
            ],
        );
        let message = incomplete(parse_request(&p, suite_time(), DEFAULT_MAX_SKEW));
        assert_eq!(
            message,
            format!(
                "Date must be in ISO-8601 'basic format'. Got '{date}'. See \
                 http://en.wikipedia.org/wiki/ISO_8601"
            )
        );
    }
    let p = parts(
        "GET",
        "/",
        &[
            ("Host", "example.amazonaws.com"),
            ("Date", "30 Aug 2015"),
            ("Authorization", &suite_authorization("date;host", SIG)),
        ],
    );
    incomplete(parse_request(&p, suite_time(), DEFAULT_MAX_SKEW));
}

#[test]
fn scope_errors_are_invalid_signatures() {
    let err = parse(&format!(
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150831/us-east-1/service/aws4_request, \
         SignedHeaders=host;x-amz-date, Signature={SIG}"
    ))
    .expect_err("date mismatch");
    assert_eq!(
        err.to_string(),
        "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from \
         HTTP: '20150831' != '20150830', from '20150830T123600Z'."
    );
    assert_eq!(err.aws_error_code(), "InvalidSignatureException");

    let err = parse(&format!(
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_requestx, \
         SignedHeaders=host;x-amz-date, Signature={SIG}"
    ))
    .expect_err("bad terminator");
    assert_eq!(
        err.to_string(),
        "Credential should be scoped with a valid terminator: 'aws4_request', not \
         'aws4_requestx'. "
    );
    assert!(matches!(err, SigV4Error::CredentialScope { .. }));
}

#[test]
fn errors_never_contain_the_computed_signature_or_secret() {
    let now = suite_time();
    let p = signed_kms_request(now);
    let request = parse_request(&p, now, DEFAULT_MAX_SKEW).expect("valid");
    let key = SigningKey::derive(SECRET, request.date(), "us-east-1", "kms");
    let err = request.verify(&key, &p, b"tampered").expect_err("mismatch");
    let message = format!("{err} {err:?} {request:?} {key:?}");
    assert!(!message.contains("wJalr"));
    // The signature the client sent is not in Debug output either.
    let sent = p.headers["authorization"].to_str().expect("ascii");
    let sent_signature = sent.rsplit('=').next().expect("signature");
    assert!(!message.contains(sent_signature));
}

#[test]
fn duplicate_authorization_headers_are_rejected() {
    let header = suite_authorization(HOST_DATE, SIG);
    let p = with_authorization(&header, &[("Authorization", &header)]);
    incomplete(parse_request(&p, suite_time(), DEFAULT_MAX_SKEW));
}

#[test]
fn non_ascii_header_values_do_not_panic() {
    let mut p = with_authorization(&suite_authorization(HOST_DATE, SIG), &[]);
    p.headers.insert(
        "authorization",
        HeaderValue::from_bytes(b"AWS4-HMAC-SHA256 Credential=\xff").expect("obs-text"),
    );
    incomplete(parse_request(&p, suite_time(), DEFAULT_MAX_SKEW));
    let mut p = with_authorization(&suite_authorization(HOST_DATE, SIG), &[]);
    p.headers.insert(
        "x-amz-date",
        HeaderValue::from_bytes(b"2015\xff830T123600Z").expect("obs-text"),
    );
    incomplete(parse_request(&p, suite_time(), DEFAULT_MAX_SKEW));
}

/// Header-value strings: mostly near-valid SigV4 fragments, sometimes arbitrary bytes.
fn header_text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[ -~]{0,200}",
        "AWS4-HMAC-SHA256[ ,]{0,3}(Credential|SignedHeaders|Signature|X)?=?[ -~]{0,120}",
        "AWS4-HMAC-SHA256 Credential=[A-Z]{0,5}(/[0-9a-z_-]{0,12}){0,7}, SignedHeaders=[a-z;-]{0,30}, Signature=[0-9a-f]{0,70}",
    ]
}

proptest! {
    #[test]
    fn parse_and_verify_never_panic(
        authorization in header_text(),
        date in prop_oneof!["[0-9TZ]{0,20}", "2015083[0-9]T12[0-9]{4}Z"],
        extra in "[ -~]{0,40}",
        raw in proptest::collection::vec(any::<u8>(), 0..64),
    ) {
        let mut p = parts("GET", "/", &[("Host", "example.amazonaws.com"), ("Date", &extra)]);
        if let Ok(v) = HeaderValue::from_str(&authorization) {
            p.headers.insert("authorization", v);
        }
        if let Ok(v) = HeaderValue::from_str(&date) {
            p.headers.insert("x-amz-date", v);
        }
        if let Ok(v) = HeaderValue::from_bytes(&raw) {
            p.headers.append("authorization", v.clone());
            p.headers.insert("x-amz-security-token", v);
        }
        if let Ok(request) = parse_request(&p, suite_time(), DEFAULT_MAX_SKEW) {
            let key = SigningKey::derive(SECRET, request.date(), request.region(), request.service());
            let _ = request.verify(&key, &p, &raw);
            let _ = request.require_scope("us-east-1", "kms");
        }
    }

    #[test]
    fn sign_then_verify_holds_for_arbitrary_paths_queries_and_bodies(
        path in "(/[A-Za-z0-9._~%!$&'()*+,;=:@-]{0,12}){1,4}",
        query in proptest::option::of("[A-Za-z0-9._~%=&+-]{0,30}"),
        header in "[ -~]{0,40}",
        body in proptest::collection::vec(any::<u8>(), 0..256),
    ) {
        let uri = match &query {
            Some(q) => format!("https://kms.example.com{path}?{q}"),
            None => format!("https://kms.example.com{path}"),
        };
        let Ok(uri) = uri.parse::<http::Uri>() else { return Ok(()); };
        let Ok(value) = HeaderValue::from_str(&header) else { return Ok(()); };
        let mut p = Request::post(uri).header("x-custom", value).body(()).expect("valid").into_parts().0;
        let now = suite_time();
        sign(&mut p, &body, &creds(), "us-east-1", "kms", now).expect("signs");
        prop_assert_eq!(verify_kms(&p, &body, now), Ok(()));
    }
}
