//! Verifying a SigV4-signed request in two steps, so the server can look the access key
//! up in between:
//!
//! 1. [`parse_request`] reads the `Authorization` and date headers, checks their shape,
//!    the credential-scope date, the clock skew and that the required headers are signed
//!    and present. It needs no secret.
//! 2. [`SignedRequest::verify`] rebuilds the canonical request, signs it with the caller's
//!    [`SigningKey`] and compares signatures in constant time.
//!
//! Only the header form is supported (not presigned URLs, not chunked `aws-chunked`
//! bodies, not SigV4a). Unsigned payloads (`x-amz-content-sha256: UNSIGNED-PAYLOAD`) are
//! not accepted: the body is always covered by the signature. Which region and service a
//! server answers for is checked by [`SignedRequest::require_scope`], not by parsing.

use std::fmt;
use std::time::{Duration, SystemTime};

use http::header::{AUTHORIZATION, DATE};
use http::request::Parts;
use http::{HeaderMap, HeaderName};
use kagi_crypto::digest::{constant_time_eq, sha256};

use crate::authorization::{self, Credential};
use crate::canonical_request::{has_header, write_string_to_sign, CanonicalRequest};
use crate::date::AmzDate;
use crate::error::SigV4Error;
use crate::hex::{decode_32, Hex64};
use crate::signing_key::SigningKey;

// Names as constants: looking a header up by `&str` parses the name on every call.
pub(crate) const X_AMZ_DATE: HeaderName = HeaderName::from_static("x-amz-date");
pub(crate) const X_AMZ_SECURITY_TOKEN: HeaderName = HeaderName::from_static("x-amz-security-token");
pub(crate) const X_AMZ_CONTENT_SHA256: HeaderName = HeaderName::from_static("x-amz-content-sha256");
const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";
const TERMINATOR: &str = "aws4_request";

/// The skew AWS allows between a request's time and the server's clock.
pub const DEFAULT_MAX_SKEW: Duration = Duration::from_secs(15 * 60);

/// A request whose SigV4 `Authorization` header has been parsed and whose time, scope
/// date and signed-header list have been checked, but whose signature has not.
#[derive(Clone)]
pub struct SignedRequest {
    /// `AKID/YYYYMMDD/region/service/aws4_request`.
    credential: String,
    /// Byte offsets into `credential`: end of the access key id, bounds of the region,
    /// end of the service.
    access_key_id_end: usize,
    region_start: usize,
    region_end: usize,
    service_end: usize,
    signed_headers: String,
    /// `None` when the header's signature is not 64 hex digits: it can never match.
    signature: Option<[u8; 32]>,
    date: AmzDate,
    security_token: Option<String>,
}

/// Parses and checks the SigV4 `Authorization` header of `parts` against the time `now`.
///
/// The request time comes from `X-Amz-Date` (`YYYYMMDDTHHMMSSZ`) or, when that is absent,
/// from `Date` (IMF-fixdate); whichever is used must be signed, as must `host`. A request
/// more than `max_skew` away from `now`, in either direction, is
/// [`SigV4Error::SignatureExpired`]; AWS allows [`DEFAULT_MAX_SKEW`].
pub fn parse_request(
    parts: &Parts,
    now: SystemTime,
    max_skew: Duration,
) -> Result<SignedRequest, SigV4Error> {
    let headers = &parts.headers;
    let mut authorizations = headers.get_all(AUTHORIZATION).iter();
    let header = authorizations
        .next()
        .ok_or(SigV4Error::MissingAuthentication)?;
    if authorizations.next().is_some() {
        return Err(SigV4Error::incomplete(
            "Authorization header may be present only once.",
        ));
    }
    let header = header.to_str().map_err(|_| {
        SigV4Error::incomplete(
            "Authorization header contains characters that are not visible ASCII.",
        )
    })?;
    let auth = authorization::parse(header)?;

    let amz_date = headers.get(X_AMZ_DATE);
    let http_date = headers.get(DATE);
    let has_date = amz_date.is_some() || http_date.is_some();
    let (Some(credential), Some(signature), Some(signed_headers), true) = (
        auth.credential,
        auth.signature,
        auth.signed_headers,
        has_date,
    ) else {
        return Err(missing_parameters(&auth, has_date, header));
    };

    let scope = Credential::parse(credential)?;
    if scope.terminator != TERMINATOR {
        return Err(SigV4Error::scope(format!(
            "Credential should be scoped with a valid terminator: '{TERMINATOR}', not '{}'. ",
            scope.terminator
        )));
    }

    let (date, date_header) = request_date(amz_date, http_date)?;
    if scope.date != date.date_stamp() {
        return Err(SigV4Error::scope(format!(
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date \
             from HTTP: '{}' != '{}', from '{}'.",
            scope.date,
            date.date_stamp(),
            date
        )));
    }

    let authority = parts.uri.authority().map(|a| a.as_str());
    check_signed_headers(headers, authority, signed_headers, date_header)?;
    check_skew(date.to_system_time(), now, max_skew)?;

    let security_token = match headers.get(X_AMZ_SECURITY_TOKEN) {
        None => None,
        Some(v) => Some(
            v.to_str()
                .map_err(|_| {
                    SigV4Error::incomplete(
                        "X-Amz-Security-Token header contains characters that are not visible \
                         ASCII.",
                    )
                })?
                .to_owned(),
        ),
    };

    let access_key_id_end = scope.access_key_id.len();
    let region_start = access_key_id_end + 1 + scope.date.len() + 1;
    let region_end = region_start + scope.region.len();
    let service_end = region_end + 1 + scope.service.len();
    Ok(SignedRequest {
        credential: credential.to_owned(),
        access_key_id_end,
        region_start,
        region_end,
        service_end,
        signed_headers: signed_headers.to_owned(),
        signature: decode_32(signature),
        date,
        security_token,
    })
}

impl SignedRequest {
    /// The access key id from the credential scope.
    pub fn access_key_id(&self) -> &str {
        self.credential
            .get(..self.access_key_id_end)
            .unwrap_or_default()
    }

    /// The region from the credential scope.
    pub fn region(&self) -> &str {
        self.credential
            .get(self.region_start..self.region_end)
            .unwrap_or_default()
    }

    /// The service from the credential scope.
    pub fn service(&self) -> &str {
        self.credential
            .get(self.region_end + 1..self.service_end)
            .unwrap_or_default()
    }

    /// The `YYYYMMDD` date of the credential scope (equal to the request date's).
    pub fn date(&self) -> &str {
        self.date.date_stamp()
    }

    /// The request time (`X-Amz-Date`, or `Date`).
    pub fn request_time(&self) -> AmzDate {
        self.date
    }

    /// The credential scope `YYYYMMDD/region/service/aws4_request`.
    pub fn scope(&self) -> &str {
        self.credential
            .get(self.access_key_id_end + 1..)
            .unwrap_or_default()
    }

    /// The `SignedHeaders` list as the client sent it, `;`-separated.
    pub fn signed_headers(&self) -> &str {
        &self.signed_headers
    }

    /// The `X-Amz-Security-Token` header, if the request has one.
    pub fn security_token(&self) -> Option<&str> {
        self.security_token.as_deref()
    }

    /// Checks that the credential is scoped to the region and service this server
    /// answers for, with AWS's messages.
    pub fn require_scope(&self, region: &str, service: &str) -> Result<(), SigV4Error> {
        if self.region() != region {
            return Err(SigV4Error::scope(format!(
                "Credential should be scoped to a valid region, not '{}'. ",
                self.region()
            )));
        }
        if self.service() != service {
            return Err(SigV4Error::scope(format!(
                "Credential should be scoped to correct service: '{service}'. "
            )));
        }
        Ok(())
    }

    /// Checks the request's signature with `key`, the signing key of this request's
    /// access key and scope (see [`SigningKeyCache`](crate::SigningKeyCache)).
    ///
    /// `parts` must be the request this was parsed from and `body` its whole body.
    pub fn verify(&self, key: &SigningKey, parts: &Parts, body: &[u8]) -> Result<(), SigV4Error> {
        let body_hash = Hex64::encode(&sha256(body));
        let payload_hash = payload_hash(&parts.headers, body_hash.as_str())?;
        let mut buf = Vec::with_capacity(512);
        let canonical = CanonicalRequest {
            method: parts.method.as_str(),
            path: parts.uri.path(),
            query: parts.uri.query(),
            headers: &parts.headers,
            authority: parts.uri.authority().map(|a| a.as_str()),
            signed_headers: &self.signed_headers,
            payload_hash,
        };
        canonical.write(&mut buf).map_err(missing_signed_header)?;
        let canonical_hash = sha256(&buf);
        buf.clear();
        write_string_to_sign(&mut buf, self.date.as_str(), self.scope(), &canonical_hash);
        let computed = key.sign(&buf);
        match &self.signature {
            Some(provided) if constant_time_eq(provided, &computed) => Ok(()),
            _ => Err(SigV4Error::SignatureMismatch),
        }
    }
}

impl fmt::Debug for SignedRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The signature is left out: it is not secret, but nothing needs it in logs.
        f.debug_struct("SignedRequest")
            .field("access_key_id", &self.access_key_id())
            .field("scope", &self.scope())
            .field("signed_headers", &self.signed_headers)
            .field("request_time", &self.date)
            .field(
                "security_token",
                &self.security_token.as_ref().map(|_| "<present>"),
            )
            .finish()
    }
}

/// AWS's message listing every missing parameter, e.g. "Authorization header requires
/// 'Credential' parameter. ... Authorization=<header>".
fn missing_parameters(
    auth: &authorization::AuthorizationHeader<'_>,
    has_date: bool,
    header: &str,
) -> SigV4Error {
    let mut message = String::new();
    for (present, name) in [
        (auth.credential.is_some(), "Credential"),
        (auth.signature.is_some(), "Signature"),
        (auth.signed_headers.is_some(), "SignedHeaders"),
    ] {
        if !present {
            message.push_str("Authorization header requires '");
            message.push_str(name);
            message.push_str("' parameter. ");
        }
    }
    if !has_date {
        message.push_str(
            "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' \
             header. ",
        );
    }
    message.push_str("Authorization=");
    message.push_str(header);
    SigV4Error::incomplete(message)
}

/// The request time and the name of the header it came from.
fn request_date(
    amz_date: Option<&http::HeaderValue>,
    http_date: Option<&http::HeaderValue>,
) -> Result<(AmzDate, &'static str), SigV4Error> {
    if let Some(v) = amz_date {
        let text = String::from_utf8_lossy(v.as_bytes());
        let date = AmzDate::parse(&text).map_err(|_| {
            SigV4Error::incomplete(format!(
                "Date must be in ISO-8601 'basic format'. Got '{text}'. See \
                 http://en.wikipedia.org/wiki/ISO_8601"
            ))
        })?;
        return Ok((date, "x-amz-date"));
    }
    let Some(v) = http_date else {
        // The caller has checked that one of the two is present.
        return Err(SigV4Error::incomplete(
            "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.",
        ));
    };
    let text = String::from_utf8_lossy(v.as_bytes());
    let date = AmzDate::parse_http_date(&text).map_err(|_| {
        SigV4Error::incomplete(format!(
            "Date must be in RFC 7231 IMF-fixdate format, e.g. 'Sun, 30 Aug 2015 12:36:00 GMT'. \
             Got '{text}'."
        ))
    })?;
    Ok((date, "date"))
}

/// `host` and the date header must be signed, and every signed header present.
fn check_signed_headers(
    headers: &HeaderMap,
    authority: Option<&str>,
    signed_headers: &str,
    date_header: &str,
) -> Result<(), SigV4Error> {
    // One pass over the list: note whether host and the date header are signed, and
    // find the first signed header the request lacks.
    let mut host_signed = false;
    let mut date_signed = false;
    let mut missing = None;
    for name in signed_headers.split(';') {
        host_signed |= name.eq_ignore_ascii_case("host");
        date_signed |= name.eq_ignore_ascii_case(date_header);
        if missing.is_none() && !has_header(headers, authority, name) {
            missing = Some(name);
        }
    }
    if !host_signed {
        return Err(SigV4Error::incomplete(
            "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.",
        ));
    }
    if !date_signed {
        let shown = if date_header == "x-amz-date" {
            "X-Amz-Date"
        } else {
            "Date"
        };
        return Err(SigV4Error::incomplete(format!(
            "'{shown}' must be a 'SignedHeader' in the AWS Authorization."
        )));
    }
    match missing {
        Some(name) => Err(missing_signed_header(name)),
        None => Ok(()),
    }
}

fn missing_signed_header(name: &str) -> SigV4Error {
    SigV4Error::incomplete(format!(
        "Header '{name}' is listed in SignedHeaders but is not present in the request."
    ))
}

fn check_skew(
    request_time: SystemTime,
    now: SystemTime,
    max_skew: Duration,
) -> Result<(), SigV4Error> {
    let skew = match now.duration_since(request_time) {
        Ok(behind) => behind,
        Err(ahead) => ahead.duration(),
    };
    if skew > max_skew {
        return Err(SigV4Error::SignatureExpired {
            request_time,
            now,
            max_skew,
        });
    }
    Ok(())
}

/// The payload hash to put in the canonical request. A client-supplied
/// `x-amz-content-sha256` must be the body's hash; `UNSIGNED-PAYLOAD` is not honoured (the
/// body's hash is used, so such a request fails to verify).
fn payload_hash<'a>(headers: &'a HeaderMap, body_hash: &'a str) -> Result<&'a str, SigV4Error> {
    match headers.get(X_AMZ_CONTENT_SHA256) {
        Some(claimed) if claimed != UNSIGNED_PAYLOAD => {
            let claimed = claimed
                .to_str()
                .map_err(|_| SigV4Error::SignatureMismatch)?
                .trim_matches([' ', '\t']);
            if claimed.eq_ignore_ascii_case(body_hash) {
                Ok(claimed)
            } else {
                Err(SigV4Error::SignatureMismatch)
            }
        }
        _ => Ok(body_hash),
    }
}
