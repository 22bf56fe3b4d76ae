//! The SigV4 canonical request and string to sign, as AWS builds them for services other
//! than S3 (<https://docs.aws.amazon.com/IAM/latest/UserGuide/create-signed-request.html>).
//!
//! - Canonical URI: the path as received (still percent-encoded), normalised per RFC 3986
//!   (empty and `.` segments dropped, `..` resolved, a trailing slash kept), then every byte
//!   outside the unreserved set percent-encoded, `%` included. Because the path arrives
//!   encoded once, this is the "encode twice" rule AWS applies to non-S3 services.
//! - Canonical query string: each `name=value` pair percent-decoded and re-encoded with the
//!   unreserved set, sorted by name then value; a missing `=` gives an empty value. A `+`
//!   is a literal plus, not a space.
//! - Canonical headers: the signed headers in the order the client listed them, each
//!   `name:value` with values trimmed, inner runs of spaces collapsed, and repeated headers
//!   joined with `,`. `host` falls back to the URI authority (HTTP/2 `:authority`).
//!
//! Output goes into a caller-supplied buffer so verification allocates once. This module
//! decides nothing about which headers must be signed or whether a payload hash is
//! acceptable; that is the caller's job.

use http::HeaderMap;

use crate::hex::{nibble, push_percent_encoded, Hex64};

/// The SigV4 algorithm name, first line of every string to sign.
pub(crate) const ALGORITHM: &str = "AWS4-HMAC-SHA256";

/// Everything a canonical request is built from, borrowed from the request.
pub(crate) struct CanonicalRequest<'a> {
    pub method: &'a str,
    /// The path as received (percent-encoded on the wire).
    pub path: &'a str,
    /// The raw query string, without `?`.
    pub query: Option<&'a str>,
    pub headers: &'a HeaderMap,
    /// The URI authority, used for `host` when there is no `Host` header.
    pub authority: Option<&'a str>,
    /// The `SignedHeaders` list, `;`-separated, exactly as it will appear.
    pub signed_headers: &'a str,
    /// Lowercase hex SHA-256 of the payload (or the client's `x-amz-content-sha256`).
    pub payload_hash: &'a str,
}

impl<'a> CanonicalRequest<'a> {
    /// Appends the canonical request to `out`. Fails with the name of the first signed
    /// header that the request does not carry.
    pub fn write(&self, out: &mut Vec<u8>) -> Result<(), &'a str> {
        out.extend_from_slice(self.method.as_bytes());
        out.push(b'\n');
        write_canonical_uri(out, self.path);
        out.push(b'\n');
        write_canonical_query(out, self.query.unwrap_or(""));
        out.push(b'\n');
        for name in self.signed_headers.split(';') {
            self.write_header(out, name)?;
        }
        out.push(b'\n');
        out.extend_from_slice(self.signed_headers.as_bytes());
        out.push(b'\n');
        out.extend_from_slice(self.payload_hash.as_bytes());
        Ok(())
    }

    fn write_header(&self, out: &mut Vec<u8>, name: &'a str) -> Result<(), &'a str> {
        out.extend_from_slice(name.as_bytes());
        out.push(b':');
        let mut values = self.headers.get_all(name).iter().peekable();
        if values.peek().is_none() {
            return match self.authority {
                Some(authority) if name.eq_ignore_ascii_case("host") => {
                    write_header_value(out, authority.as_bytes());
                    out.push(b'\n');
                    Ok(())
                }
                _ => Err(name),
            };
        }
        for (i, value) in values.enumerate() {
            if i > 0 {
                out.push(b',');
            }
            write_header_value(out, value.as_bytes());
        }
        out.push(b'\n');
        Ok(())
    }
}

/// Whether the request carries header `name` (or, for `host`, a URI authority).
pub(crate) fn has_header(headers: &HeaderMap, authority: Option<&str>, name: &str) -> bool {
    headers.contains_key(name) || (authority.is_some() && name.eq_ignore_ascii_case("host"))
}

/// Appends the string to sign for a canonical request whose SHA-256 is `canonical_hash`.
pub(crate) fn write_string_to_sign(
    out: &mut Vec<u8>,
    amz_date: &str,
    scope: &str,
    canonical_hash: &[u8; 32],
) {
    out.extend_from_slice(ALGORITHM.as_bytes());
    out.push(b'\n');
    out.extend_from_slice(amz_date.as_bytes());
    out.push(b'\n');
    out.extend_from_slice(scope.as_bytes());
    out.push(b'\n');
    out.extend_from_slice(Hex64::encode(canonical_hash).as_str().as_bytes());
}

/// RFC 3986 unreserved characters: the only bytes SigV4 leaves unencoded.
fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

/// `s` with every byte but the RFC 3986 unreserved ones percent-encoded, as SigV4 encodes
/// query values (and as a form body may carry them).
pub fn uri_encode(s: &str) -> String {
    let mut out = Vec::with_capacity(s.len());
    push_encoded(&mut out, s.as_bytes());
    // Invariant: only ASCII was written.
    String::from_utf8(out).unwrap_or_default()
}

fn push_encoded(out: &mut Vec<u8>, bytes: &[u8]) {
    for &b in bytes {
        if is_unreserved(b) {
            out.push(b);
        } else {
            push_percent_encoded(out, b);
        }
    }
}

/// Appends the normalised, encoded path.
fn write_canonical_uri(out: &mut Vec<u8>, path: &str) {
    // Fast path: the root, which is every AWS JSON-protocol request.
    if path == "/" || path.is_empty() {
        out.push(b'/');
        return;
    }
    let start = out.len();
    let mut trailing_slash = false;
    for segment in path.split('/') {
        trailing_slash = false;
        match segment {
            "" => trailing_slash = true,
            "." => trailing_slash = true,
            ".." => {
                // Drop the last written segment; `out[start..]` holds only "/seg" runs and
                // encoded segments contain no '/', so the last '/' starts it.
                let written = &out[start..];
                let cut = written.iter().rposition(|&b| b == b'/').unwrap_or(0);
                out.truncate(start + cut);
                trailing_slash = true;
            }
            _ => {
                out.push(b'/');
                push_encoded(out, segment.as_bytes());
            }
        }
    }
    if out.len() == start || trailing_slash {
        out.push(b'/');
    }
}

/// Appends the sorted, re-encoded query string (nothing for an empty query).
fn write_canonical_query(out: &mut Vec<u8>, query: &str) {
    if query.is_empty() {
        return;
    }
    let mut pairs: Vec<(Vec<u8>, Vec<u8>)> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            (reencode(name), reencode(value))
        })
        .collect();
    pairs.sort_unstable();
    for (i, (name, value)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push(b'&');
        }
        out.extend_from_slice(name);
        out.push(b'=');
        out.extend_from_slice(value);
    }
}

/// Percent-decodes `s` (invalid escapes stay literal) and encodes it with the unreserved set.
fn reencode(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let decoded = match (b[i], b.get(i + 1), b.get(i + 2)) {
            (b'%', Some(&h), Some(&l)) => match (nibble(h), nibble(l)) {
                (Some(h), Some(l)) => Some((h << 4) | l),
                _ => None,
            },
            _ => None,
        };
        let byte = match decoded {
            Some(byte) => {
                i += 3;
                byte
            }
            None => {
                i += 1;
                b[i - 1]
            }
        };
        if is_unreserved(byte) {
            out.push(byte);
        } else {
            push_percent_encoded(&mut out, byte);
        }
    }
    out
}

/// Appends a header value trimmed of surrounding whitespace, with runs of spaces collapsed.
fn write_header_value(out: &mut Vec<u8>, value: &[u8]) {
    let is_ws = |b: &u8| *b == b' ' || *b == b'\t';
    let start = value.iter().position(|b| !is_ws(b)).unwrap_or(value.len());
    let end = value
        .iter()
        .rposition(|b| !is_ws(b))
        .map_or(start, |i| i + 1);
    let value = &value[start..end];
    if !value.windows(2).any(|w| w == b"  ") {
        out.extend_from_slice(value);
        return;
    }
    let mut previous_space = false;
    for &b in value {
        let space = b == b' ';
        if !(space && previous_space) {
            out.push(b);
        }
        previous_space = space;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signing_key::SigningKey;
    use http::HeaderValue;
    use kagi_crypto::digest::sha256;

    const SECRET: &[u8] = b"wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
    const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    /// Canonical request, its SHA-256 and the signature, for the SigV4 test-suite scope
    /// (or `service` in place of the test suite's `service`).
    fn sign_raw(
        method: &str,
        path: &str,
        query: Option<&str>,
        headers: &[(&str, &str)],
        signed_headers: &str,
        service: &str,
    ) -> (String, String, String) {
        let mut map = HeaderMap::new();
        for (name, value) in headers {
            map.append(
                http::HeaderName::from_bytes(name.as_bytes()).expect("valid name"),
                HeaderValue::from_str(value).expect("valid value"),
            );
        }
        let creq = CanonicalRequest {
            method,
            path,
            query,
            headers: &map,
            authority: None,
            signed_headers,
            payload_hash: EMPTY_SHA256,
        };
        let mut buf = Vec::new();
        creq.write(&mut buf).expect("headers present");
        let text = String::from_utf8(buf.clone()).expect("ascii");
        let hash = sha256(&buf);
        let mut sts = Vec::new();
        let scope = format!("20150830/us-east-1/{service}/aws4_request");
        write_string_to_sign(&mut sts, "20150830T123600Z", &scope, &hash);
        let key = SigningKey::derive(SECRET, "20150830", "us-east-1", service);
        (
            text,
            Hex64::encode(&hash).as_str().to_owned(),
            Hex64::encode(&key.sign(&sts)).as_str().to_owned(),
        )
    }

    const SUITE_HEADERS: &[(&str, &str)] = &[
        ("host", "example.amazonaws.com"),
        ("x-amz-date", "20150830T123600Z"),
    ];

    #[test]
    fn raw_paths_of_the_aws_test_suite() {
        // get-space and get-utf8 use paths no `http::Uri` can hold, so they are checked
        // here, on the raw path.
        let (creq, _, signature) = sign_raw(
            "GET",
            "/example space/",
            None,
            SUITE_HEADERS,
            "host;x-amz-date",
            "service",
        );
        assert_eq!(
            creq,
            format!(
                "GET\n/example%20space/\n\nhost:example.amazonaws.com\n\
                 x-amz-date:20150830T123600Z\n\nhost;x-amz-date\n{EMPTY_SHA256}"
            )
        );
        assert_eq!(
            signature,
            "652487583200325589f1fba4c7e578f72c47cb61beeca81406b39ddec1366741"
        );
        let (_, _, signature) = sign_raw(
            "GET",
            "/\u{1234}",
            None,
            SUITE_HEADERS,
            "host;x-amz-date",
            "service",
        );
        assert_eq!(
            signature,
            "8318018e0b0f223aa2bbf98705b62bb787dc9c0e678f255a891fd03141be5d85"
        );
        let (_, _, signature) = sign_raw(
            "GET",
            "/",
            Some("\u{1234}=bar"),
            SUITE_HEADERS,
            "host;x-amz-date",
            "service",
        );
        assert_eq!(
            signature,
            "2cdec8eed098649ff3a119c94853b13c643bcf08f8b0a1d91e12c9027818dd04"
        );
    }

    #[test]
    fn iam_list_users_canonical_request() {
        let (creq, hash, signature) = sign_raw(
            "GET",
            "/",
            Some("Action=ListUsers&Version=2010-05-08"),
            &[
                ("host", "iam.amazonaws.com"),
                (
                    "content-type",
                    "application/x-www-form-urlencoded; charset=utf-8",
                ),
                ("x-amz-date", "20150830T123600Z"),
            ],
            "content-type;host;x-amz-date",
            "iam",
        );
        assert_eq!(
            creq,
            format!(
                "GET\n/\nAction=ListUsers&Version=2010-05-08\n\
                 content-type:application/x-www-form-urlencoded; charset=utf-8\n\
                 host:iam.amazonaws.com\nx-amz-date:20150830T123600Z\n\n\
                 content-type;host;x-amz-date\n{EMPTY_SHA256}"
            )
        );
        assert_eq!(
            hash,
            "f536975d06c0309214f805bb90ccff089219ecd68b2577efef23edd43b7e1a59"
        );
        assert_eq!(
            signature,
            "5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7"
        );
    }

    #[test]
    fn string_to_sign_of_get_vanilla() {
        let (_, hash, _) = sign_raw(
            "GET",
            "/",
            None,
            SUITE_HEADERS,
            "host;x-amz-date",
            "service",
        );
        let mut sts = Vec::new();
        let hash = crate::hex::decode_32(&hash).expect("hex");
        write_string_to_sign(
            &mut sts,
            "20150830T123600Z",
            "20150830/us-east-1/service/aws4_request",
            &hash,
        );
        assert_eq!(
            String::from_utf8(sts).expect("ascii"),
            "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/aws4_request\n\
             bb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63"
        );
    }

    fn uri(path: &str) -> String {
        let mut out = Vec::new();
        write_canonical_uri(&mut out, path);
        String::from_utf8(out).expect("ascii")
    }

    fn query(q: &str) -> String {
        let mut out = Vec::new();
        write_canonical_query(&mut out, q);
        String::from_utf8(out).expect("ascii")
    }

    fn header(v: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        write_header_value(&mut out, v);
        out
    }

    #[test]
    fn canonical_uri_matches_the_aws_test_suite() {
        // Raw paths from the AWS SigV4 test suite (get-unreserved, get-utf8, get-space and
        // the normalisation cases) and their canonical forms.
        let unreserved = "/-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
        assert_eq!(uri(unreserved), unreserved);
        assert_eq!(uri("/\u{1234}"), "/%E1%88%B4");
        assert_eq!(uri("/example space/"), "/example%20space/");
        assert_eq!(uri("/"), "/");
        assert_eq!(uri(""), "/");
        assert_eq!(uri("//"), "/");
        assert_eq!(uri("/./"), "/");
        assert_eq!(uri("/./example"), "/example");
        assert_eq!(uri("//example//"), "/example/");
        assert_eq!(uri("/example/.."), "/");
        assert_eq!(uri("/example1/example2/../.."), "/");
    }

    #[test]
    fn canonical_uri_normalises_like_rfc_3986() {
        assert_eq!(uri("/a/b/../c"), "/a/c");
        assert_eq!(uri("/a/b/.."), "/a/");
        assert_eq!(uri("/a/."), "/a/");
        assert_eq!(uri("/../../a"), "/a");
        assert_eq!(uri("/a/b/"), "/a/b/");
        assert_eq!(uri("/a/b"), "/a/b");
        assert_eq!(uri("/a..b/.c"), "/a..b/.c");
    }

    #[test]
    fn canonical_uri_encodes_the_wire_path_again() {
        // The wire form of "/example space/" is encoded once more: '%' becomes "%25".
        assert_eq!(uri("/example%20space/"), "/example%2520space/");
        assert_eq!(uri("/a:b@c"), "/a%3Ab%40c");
    }

    #[test]
    fn canonical_query() {
        assert_eq!(query(""), "");
        assert_eq!(query("Param1=value1"), "Param1=value1");
        assert_eq!(
            query("Param2=value2&Param1=value1"),
            "Param1=value1&Param2=value2"
        );
        assert_eq!(
            query("Param1=value2&Param1=Value1"),
            "Param1=Value1&Param1=value2"
        );
        assert_eq!(
            query("Param1=value2&Param1=value1"),
            "Param1=value1&Param1=value2"
        );
        assert_eq!(
            query("Action=ListUsers&Version=2010-05-08"),
            "Action=ListUsers&Version=2010-05-08"
        );
        let unreserved = "-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
        assert_eq!(
            query(&format!("{unreserved}={unreserved}")),
            format!("{unreserved}={unreserved}")
        );
        assert_eq!(query("%E1%88%B4=bar"), "%E1%88%B4=bar");
        assert_eq!(query("\u{1234}=bar"), "%E1%88%B4=bar");
        assert_eq!(query("flag&a=1"), "a=1&flag=");
        assert_eq!(query("a=1&&b=2&"), "a=1&b=2");
        assert_eq!(query("k=a%20b&k=a+b"), "k=a%20b&k=a%2Bb");
        assert_eq!(query("k=%e1%88%b4"), "k=%E1%88%B4");
        assert_eq!(query("k=100%&j=%zz"), "j=%25zz&k=100%25");
        assert_eq!(query("k=a=b"), "k=a%3Db");
    }

    #[test]
    fn header_values() {
        assert_eq!(header(b"value1"), b"value1");
        assert_eq!(header(b"  value1 \t"), b"value1");
        assert_eq!(header(b"\"a   b   c\""), b"\"a b c\"");
        assert_eq!(header(b"a \t b"), b"a \t b");
        assert_eq!(header(b""), b"");
        assert_eq!(header(b"   "), b"");
    }

    #[test]
    fn repeated_headers_are_joined_in_order() {
        let mut headers = HeaderMap::new();
        headers.insert("host", HeaderValue::from_static("example.amazonaws.com"));
        for v in ["value4", "value1", "value3", "value2"] {
            headers.append("my-header1", HeaderValue::from_static(v));
        }
        headers.insert("x-amz-date", HeaderValue::from_static("20150830T123600Z"));
        let creq = CanonicalRequest {
            method: "GET",
            path: "/",
            query: None,
            headers: &headers,
            authority: None,
            signed_headers: "host;my-header1;x-amz-date",
            payload_hash: "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        };
        let mut out = Vec::new();
        creq.write(&mut out).expect("all headers present");
        assert_eq!(
            String::from_utf8(out).expect("ascii"),
            "GET\n/\n\nhost:example.amazonaws.com\nmy-header1:value4,value1,value3,value2\n\
             x-amz-date:20150830T123600Z\n\nhost;my-header1;x-amz-date\n\
             e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn missing_headers_are_reported_and_host_falls_back_to_the_authority() {
        let headers = HeaderMap::new();
        let mut creq = CanonicalRequest {
            method: "GET",
            path: "/",
            query: None,
            headers: &headers,
            authority: None,
            signed_headers: "host;x-amz-date",
            payload_hash: "",
        };
        assert_eq!(creq.write(&mut Vec::new()), Err("host"));
        creq.authority = Some("example.amazonaws.com");
        assert_eq!(creq.write(&mut Vec::new()), Err("x-amz-date"));
        creq.signed_headers = "host";
        let mut out = Vec::new();
        assert_eq!(creq.write(&mut out), Ok(()));
        assert!(String::from_utf8(out)
            .expect("ascii")
            .contains("\nhost:example.amazonaws.com\n"));
        // Names that are not valid header names are simply absent.
        creq.signed_headers = "host;bad name;\u{e9}";
        assert_eq!(creq.write(&mut Vec::new()), Err("bad name"));
    }
}
