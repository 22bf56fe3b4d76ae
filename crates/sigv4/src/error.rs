//! [`SigV4Error`]: why a request's signature was not accepted, shaped so the HTTP edge can
//! render it as the AWS exception a real service would return.
//!
//! `Display` gives the AWS-style `message` and [`SigV4Error::aws_error_code`] the `__type`.
//! No variant ever carries a secret, a signing key or the signature we computed. Choosing
//! the HTTP status and the wire format is left to the edge.

use std::fmt;
use std::time::{Duration, SystemTime};

use crate::date::AmzDate;

/// Why SigV4 authentication of a request failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SigV4Error {
    /// The request has no `Authorization` header (AWS `MissingAuthenticationTokenException`).
    #[error("Missing Authentication Token")]
    MissingAuthentication,

    /// The `Authorization` header is malformed or incomplete, or a header the signature
    /// needs is missing (AWS `IncompleteSignatureException`).
    #[error("{message}")]
    IncompleteSignature { message: String },

    /// The request time is further from our clock than the allowed skew
    /// (AWS `InvalidSignatureException`). Covers both directions: too old and too far in
    /// the future.
    #[error("{}", skew_message(.request_time, .now, .max_skew))]
    SignatureExpired {
        request_time: SystemTime,
        now: SystemTime,
        max_skew: Duration,
    },

    /// The signature does not match the request (AWS `InvalidSignatureException`). Also
    /// returned when `x-amz-content-sha256` does not match the body.
    #[error(
        "The request signature we calculated does not match the signature you provided. \
         Check your AWS Secret Access Key and signing method. Consult the service \
         documentation for details."
    )]
    SignatureMismatch,

    /// The `Authorization` header names a SigV4 algorithm other than `AWS4-HMAC-SHA256`,
    /// for example SigV4a (AWS `IncompleteSignatureException`).
    #[error("Unsupported AWS 'algorithm': '{algorithm}'. The only supported algorithm is 'AWS4-HMAC-SHA256'.")]
    UnsupportedAlgorithm { algorithm: String },

    /// The credential scope is well formed but wrong: its date differs from the request
    /// date, or its terminator, region or service is not the expected one
    /// (AWS `InvalidSignatureException`).
    #[error("{message}")]
    CredentialScope { message: String },
}

impl SigV4Error {
    /// The AWS exception name (`__type`) for this error.
    pub fn aws_error_code(&self) -> &'static str {
        match self {
            SigV4Error::MissingAuthentication => "MissingAuthenticationTokenException",
            SigV4Error::IncompleteSignature { .. } | SigV4Error::UnsupportedAlgorithm { .. } => {
                "IncompleteSignatureException"
            }
            SigV4Error::SignatureExpired { .. }
            | SigV4Error::SignatureMismatch
            | SigV4Error::CredentialScope { .. } => "InvalidSignatureException",
        }
    }

    pub(crate) fn incomplete(message: impl Into<String>) -> Self {
        SigV4Error::IncompleteSignature {
            message: message.into(),
        }
    }

    pub(crate) fn scope(message: impl Into<String>) -> Self {
        SigV4Error::CredentialScope {
            message: message.into(),
        }
    }
}

fn skew_message(request_time: &SystemTime, now: &SystemTime, max_skew: &Duration) -> SkewMessage {
    SkewMessage {
        request_time: *request_time,
        now: *now,
        max_skew: *max_skew,
    }
}

/// Renders AWS's clock-skew messages, e.g.
/// `Signature expired: 20150830T123600Z is now earlier than 20150830T125100Z (20150830T130600Z - 15 min.)`.
struct SkewMessage {
    request_time: SystemTime,
    now: SystemTime,
    max_skew: Duration,
}

impl fmt::Display for SkewMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let request = Stamp(Some(self.request_time));
        let now = Stamp(Some(self.now));
        let skew = SkewAmount(self.max_skew);
        if self.request_time <= self.now {
            let limit = Stamp(self.now.checked_sub(self.max_skew));
            write!(
                f,
                "Signature expired: {request} is now earlier than {limit} ({now} - {skew}.)"
            )
        } else {
            let limit = Stamp(self.now.checked_add(self.max_skew));
            write!(
                f,
                "Signature not yet current: {request} is still later than {limit} ({now} + {skew}.)"
            )
        }
    }
}

/// A time in `YYYYMMDDTHHMMSSZ` form, or `?` when it cannot be written that way.
struct Stamp(Option<SystemTime>);

impl fmt::Display for Stamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.map(AmzDate::from_system_time) {
            Some(Ok(d)) => f.write_str(d.as_str()),
            _ => f.write_str("?"),
        }
    }
}

/// The allowed skew as AWS words it: `15 min`, or seconds when not a whole minute.
struct SkewAmount(Duration);

impl fmt::Display for SkewAmount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secs = self.0.as_secs();
        if secs.is_multiple_of(60) && self.0.subsec_nanos() == 0 {
            write!(f, "{} min", secs / 60)
        } else {
            write!(f, "{} sec", secs)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::date::parse_amz_date;

    fn t(s: &str) -> SystemTime {
        parse_amz_date(s).expect("valid test date")
    }

    #[test]
    fn expired_message_has_the_aws_shape() {
        let e = SigV4Error::SignatureExpired {
            request_time: t("20150830T123600Z"),
            now: t("20150830T130600Z"),
            max_skew: Duration::from_secs(15 * 60),
        };
        assert_eq!(
            e.to_string(),
            "Signature expired: 20150830T123600Z is now earlier than 20150830T125100Z \
             (20150830T130600Z - 15 min.)"
        );
        assert_eq!(e.aws_error_code(), "InvalidSignatureException");
    }

    #[test]
    fn not_yet_current_message_has_the_aws_shape() {
        let e = SigV4Error::SignatureExpired {
            request_time: t("20150830T130600Z"),
            now: t("20150830T123600Z"),
            max_skew: Duration::from_secs(15 * 60),
        };
        assert_eq!(
            e.to_string(),
            "Signature not yet current: 20150830T130600Z is still later than 20150830T125100Z \
             (20150830T123600Z + 15 min.)"
        );
    }

    #[test]
    fn odd_skews_are_written_in_seconds() {
        let e = SigV4Error::SignatureExpired {
            request_time: t("20150830T123600Z"),
            now: t("20150830T123700Z"),
            max_skew: Duration::from_secs(30),
        };
        assert!(e.to_string().ends_with("(20150830T123700Z - 30 sec.)"));
    }

    #[test]
    fn codes() {
        assert_eq!(
            SigV4Error::MissingAuthentication.aws_error_code(),
            "MissingAuthenticationTokenException"
        );
        assert_eq!(
            SigV4Error::incomplete("x").aws_error_code(),
            "IncompleteSignatureException"
        );
        assert_eq!(
            SigV4Error::SignatureMismatch.aws_error_code(),
            "InvalidSignatureException"
        );
        assert_eq!(
            SigV4Error::scope("x").aws_error_code(),
            "InvalidSignatureException"
        );
        assert_eq!(
            SigV4Error::UnsupportedAlgorithm {
                algorithm: "AWS4-ECDSA-P256-SHA256".into()
            }
            .aws_error_code(),
            "IncompleteSignatureException"
        );
    }
}
