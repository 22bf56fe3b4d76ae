//! Parsing the `Authorization` header of a SigV4 request:
//! `AWS4-HMAC-SHA256 Credential=AKID/YYYYMMDD/region/service/aws4_request,
//! SignedHeaders=a;b;c, Signature=<64 hex digits>`.
//!
//! This module only splits the header into its parts and reports syntax errors in AWS's
//! words. It does not check that the parts are present (the caller combines that with the
//! date-header check into AWS's single message), nor the credential scope, nor any
//! signature. Presigned URLs (`X-Amz-Signature` in the query) are not supported.

use crate::canonical_request::ALGORITHM;
use crate::error::SigV4Error;

/// The parameters of an `Authorization` header, borrowed from it.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct AuthorizationHeader<'a> {
    pub credential: Option<&'a str>,
    pub signed_headers: Option<&'a str>,
    pub signature: Option<&'a str>,
}

/// Splits `header` into its parameters.
///
/// A header that is not SigV4 at all (a bearer token, SigV2's `AWS AKID:sig`) yields no
/// parameters, so the caller reports them missing, as AWS does. A SigV4 header with
/// another algorithm (`AWS4-HMAC-SHA512`, SigV4a's `AWS4-ECDSA-P256-SHA256`) is
/// [`SigV4Error::UnsupportedAlgorithm`].
pub(crate) fn parse(header: &str) -> Result<AuthorizationHeader<'_>, SigV4Error> {
    let (algorithm, rest) = header.split_once(' ').unwrap_or((header, ""));
    if algorithm != ALGORITHM {
        if algorithm.starts_with("AWS4-") {
            return Err(SigV4Error::UnsupportedAlgorithm {
                algorithm: algorithm.chars().take(64).collect(),
            });
        }
        return Ok(AuthorizationHeader::default());
    }
    let mut parsed = AuthorizationHeader::default();
    // AWS separates parameters by commas and by whitespace alike (so a value never holds
    // a space, and "Credential= AKID/..." makes "AKID/..." a pair without '=').
    for pair in parameters(rest) {
        let Some((key, value)) = pair.split_once('=') else {
            return Err(SigV4Error::incomplete(format!(
                "'{pair}' not a valid key=value pair (missing equal-sign) in Authorization \
                 header: '{header}'."
            )));
        };
        let slot = match key {
            "Credential" => &mut parsed.credential,
            "SignedHeaders" => &mut parsed.signed_headers,
            "Signature" => &mut parsed.signature,
            // AWS ignores parameters it does not know.
            _ => continue,
        };
        if slot.replace(value).is_some() {
            return Err(SigV4Error::incomplete(format!(
                "Authorization header has more than one '{key}' parameter. \
                 Authorization={header}"
            )));
        }
    }
    Ok(parsed)
}

/// The non-empty runs of `rest` between commas, spaces and tabs.
fn parameters(rest: &str) -> impl Iterator<Item = &str> {
    let is_separator = |b: u8| matches!(b, b',' | b' ' | b'\t');
    let bytes = rest.as_bytes();
    let mut pos = 0;
    std::iter::from_fn(move || {
        while pos < bytes.len() && is_separator(bytes[pos]) {
            pos += 1;
        }
        let start = pos;
        while pos < bytes.len() && !is_separator(bytes[pos]) {
            pos += 1;
        }
        // Separators are ASCII, so both ends are character boundaries.
        rest.get(start..pos).filter(|p| !p.is_empty())
    })
}

/// The five parts of `Credential=AKID/YYYYMMDD/region/service/aws4_request`.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Credential<'a> {
    pub access_key_id: &'a str,
    pub date: &'a str,
    pub region: &'a str,
    pub service: &'a str,
    pub terminator: &'a str,
}

impl<'a> Credential<'a> {
    /// Splits a credential into its parts; exactly five `/`-separated ones are required.
    pub fn parse(credential: &'a str) -> Result<Self, SigV4Error> {
        let mut parts = credential.split('/');
        let mut next = || parts.next();
        match (next(), next(), next(), next(), next(), next()) {
            (
                Some(access_key_id),
                Some(date),
                Some(region),
                Some(service),
                Some(terminator),
                None,
            ) => Ok(Credential {
                access_key_id,
                date,
                region,
                service,
                terminator,
            }),
            _ => Err(SigV4Error::incomplete(format!(
                "Credential must have exactly 5 slash-delimited elements, e.g. \
                 keyid/date/region/service/term, got '{credential}'"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const VANILLA: &str = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31";

    #[test]
    fn parses_the_vanilla_header() {
        let h = parse(VANILLA).expect("valid");
        assert_eq!(
            h.credential,
            Some("AKIDEXAMPLE/20150830/us-east-1/service/aws4_request")
        );
        assert_eq!(h.signed_headers, Some("host;x-amz-date"));
        assert_eq!(
            h.signature,
            Some("5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31")
        );
    }

    #[test]
    fn accepts_compact_and_reordered_forms() {
        let h = parse("AWS4-HMAC-SHA256 Signature=ab,Credential=A/B/C/D/E,SignedHeaders=host,")
            .expect("valid");
        assert_eq!(h.credential, Some("A/B/C/D/E"));
        assert_eq!(h.signed_headers, Some("host"));
        assert_eq!(h.signature, Some("ab"));
        let h = parse("AWS4-HMAC-SHA256 Credential=A/B/C/D/E, Foo=bar").expect("valid");
        assert_eq!(h.signature, None);
    }

    #[test]
    fn non_sigv4_headers_have_no_parameters() {
        for header in [
            "",
            "Bearer abc.def",
            "AWS AKID:c2ln",
            "eyJ0eXAiOiJKV1QiLCJh",
        ] {
            assert_eq!(
                parse(header),
                Ok(AuthorizationHeader::default()),
                "{header:?}"
            );
        }
    }

    #[test]
    fn other_sigv4_algorithms_are_unsupported() {
        assert_eq!(
            parse("AWS4-ECDSA-P256-SHA256 Credential=x"),
            Err(SigV4Error::UnsupportedAlgorithm {
                algorithm: "AWS4-ECDSA-P256-SHA256".into()
            })
        );
    }

    #[test]
    fn pairs_without_equals_are_reported_like_aws() {
        let err =
            parse("AWS4-HMAC-SHA256 Credential=AKID, /20181128/eu-central-1/kms/aws4_request")
                .expect_err("invalid");
        assert_eq!(
            err.to_string(),
            "'/20181128/eu-central-1/kms/aws4_request' not a valid key=value pair (missing \
             equal-sign) in Authorization header: 'AWS4-HMAC-SHA256 Credential=AKID, \
             /20181128/eu-central-1/kms/aws4_request'."
        );
        let err = parse("AWS4-HMAC-SHA256 Credential= AKID/20181128/eu-central-1/kms/aws4_request")
            .expect_err("invalid");
        assert!(err
            .to_string()
            .starts_with("'AKID/20181128/eu-central-1/kms/aws4_request' not a valid key=value"));
    }

    #[test]
    fn duplicate_parameters_are_rejected() {
        let err = parse("AWS4-HMAC-SHA256 Signature=a, Signature=b").expect_err("duplicate");
        assert_eq!(err.aws_error_code(), "IncompleteSignatureException");
    }

    #[test]
    fn credentials_have_five_parts() {
        assert_eq!(
            Credential::parse("AKIDEXAMPLE/20150830/us-east-1/service/aws4_request"),
            Ok(Credential {
                access_key_id: "AKIDEXAMPLE",
                date: "20150830",
                region: "us-east-1",
                service: "service",
                terminator: "aws4_request",
            })
        );
        for bad in [
            "",
            "AKID",
            "A/B/C/D",
            "A/B/C/D/E/F",
            "AKID/20150830/us-east-1/kms",
        ] {
            let err = Credential::parse(bad).expect_err("invalid");
            assert_eq!(
                err.to_string(),
                format!(
                    "Credential must have exactly 5 slash-delimited elements, e.g. \
                     keyid/date/region/service/term, got '{bad}'"
                )
            );
        }
    }
}
