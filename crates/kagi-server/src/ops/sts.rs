//! STS (`AssumeRole`, `GetCallerIdentity`): the AWS query protocol. The edge turns the
//! form-encoded request into the JSON these handlers read (`wire::form_to_json`), and
//! wraps the XML result fragments they return into the `<{Action}Response>` envelope with
//! the request id (`xml_response`).

use super::required;
use crate::error::ApiError;
use crate::wire::parse;
use kagi_kms::{Caller, Kms};
use serde::Deserialize;

/// The STS XML namespace.
pub const STS_NAMESPACE: &str = "https://sts.amazonaws.com/doc/2011-06-15/";

/// Escapes text for an XML element.
pub fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

/// `<name>text</name>`, escaped.
fn element(name: &str, text: &str) -> String {
    format!("<{name}>{}</{name}>", xml_escape(text))
}

/// ISO 8601 with seconds, UTC, as STS renders `Expiration` (the audit trail's form).
fn iso8601(t: kagi_kms::Timestamp) -> String {
    kagi_audit::event::EventTime::from_epoch_millis(t.millis()).to_string()
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct AssumeRoleInput {
    role_arn: Option<String>,
    role_session_name: Option<String>,
    duration_seconds: Option<String>,
}

/// `<AssumeRoleResult>` content.
pub fn assume_role(kms: &Kms, caller: &Caller, body: &[u8]) -> Result<Vec<u8>, ApiError> {
    let input: AssumeRoleInput = parse(body)?;
    let duration = match input.duration_seconds.as_deref() {
        None => None,
        Some(d) => Some(d.parse::<i64>().map_err(|_| {
            ApiError::Kms(kagi_kms::KmsError::validation(format!(
                "1 validation error detected: Value '{d}' at 'durationSeconds' failed to satisfy constraint: Member must be a number"
            )))
        })?),
    };
    let session = kms.assume_role(
        caller,
        required(&input.role_arn, "roleArn")?,
        required(&input.role_session_name, "roleSessionName")?,
        duration,
    )?;
    let secret = String::from_utf8_lossy(session.secret.expose()).into_owned();
    Ok(format!(
        "<Credentials>{}{}{}{}</Credentials><AssumedRoleUser>{}{}</AssumedRoleUser>",
        element("AccessKeyId", &session.access_key_id),
        // The one time the secret leaves Kagi: the caller asked for the session.
        element("SecretAccessKey", &secret),
        element("SessionToken", &session.session_token),
        element("Expiration", &iso8601(session.expiration)),
        element("AssumedRoleId", &session.assumed_role_id),
        element("Arn", &session.arn),
    )
    .into_bytes())
}

/// `<GetCallerIdentityResult>` content. Every authenticated principal may call it.
pub fn get_caller_identity(kms: &Kms, caller: &Caller) -> Result<Vec<u8>, ApiError> {
    let p = &caller.principal;
    Ok(format!(
        "{}{}{}",
        element("UserId", &kms.caller_user_id(p)),
        element("Account", p.account.as_str()),
        element("Arn", &p.arn),
    )
    .into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso8601_of_known_instants() {
        use kagi_kms::Timestamp;
        assert_eq!(iso8601(Timestamp(0)), "1970-01-01T00:00:00Z");
        assert_eq!(iso8601(Timestamp(951_782_400_000)), "2000-02-29T00:00:00Z");
        assert_eq!(
            iso8601(Timestamp(1_795_443_722_000)),
            "2026-11-23T14:22:02Z"
        );
    }

    #[test]
    fn escapes() {
        assert_eq!(xml_escape("a<b>&\"'"), "a&lt;b&gt;&amp;&quot;&apos;");
    }
}
