//! What a policy is evaluated against: who calls, which action on which resource, and the
//! condition keys of the request.
//!
//! Condition key names are case-insensitive (`aws:SourceIp` = `aws:sourceip`), so keys are
//! stored in a normalised form. The exception is the part of a key that names data the
//! caller chose: in `kms:EncryptionContext:Department` the prefix is case-insensitive but
//! the encryption context key `Department` is not, as in AWS.

use std::collections::BTreeMap;

/// Case-insensitive prefixes of condition keys whose remainder is case-sensitive.
const CASE_SENSITIVE_SUFFIX_PREFIXES: &[&str] = &["kms:encryptioncontext:"];

/// The normalised form of a condition key name: lowercased, except for the case-sensitive
/// remainder after a prefix such as `kms:EncryptionContext:`.
pub fn normalize_key(key: &str) -> String {
    let lower = key.to_ascii_lowercase();
    for prefix in CASE_SENSITIVE_SUFFIX_PREFIXES {
        if lower.starts_with(prefix) && key.len() > prefix.len() {
            return format!("{prefix}{}", &key[prefix.len()..]);
        }
    }
    lower
}

/// The authenticated caller.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PrincipalInfo {
    /// e.g. `arn:aws:iam::111122223333:user/alice` or
    /// `arn:aws:sts::111122223333:assumed-role/Admin/session`.
    pub arn: String,
    /// The 12-digit account id.
    pub account: String,
    /// `${aws:username}`; `None` for roles and the root user.
    pub user_name: Option<String>,
    /// `${aws:userid}`.
    pub user_id: Option<String>,
    /// `${aws:PrincipalTag/<key>}` and `aws:PrincipalTag/<key>`; tag keys compare
    /// case-insensitively.
    pub tags: BTreeMap<String, String>,
    /// Set when the caller is an AWS service (`Principal: {"Service": …}`), e.g.
    /// `logs.amazonaws.com`.
    pub service: Option<String>,
}

impl PrincipalInfo {
    pub fn new(arn: impl Into<String>, account: impl Into<String>) -> Self {
        PrincipalInfo {
            arn: arn.into(),
            account: account.into(),
            ..PrincipalInfo::default()
        }
    }

    pub fn user_name(mut self, name: impl Into<String>) -> Self {
        self.user_name = Some(name.into());
        self
    }

    pub fn user_id(mut self, id: impl Into<String>) -> Self {
        self.user_id = Some(id.into());
        self
    }

    pub fn tag(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.tags.insert(key.into(), value.into());
        self
    }

    pub fn service(mut self, service: impl Into<String>) -> Self {
        self.service = Some(service.into());
        self
    }

    fn tag_value(&self, key: &str) -> Option<&str> {
        self.tags
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.as_str())
    }
}

/// One request, as a policy sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestContext {
    pub principal: PrincipalInfo,
    /// e.g. `kms:Decrypt`.
    pub action: String,
    /// The resource ARN, e.g. `arn:aws:kms:us-east-1:111122223333:key/…`.
    pub resource: String,
    /// Condition keys (normalised with [`normalize_key`]) and their values; a key may carry
    /// several values (a multivalued key such as `aws:TagKeys`).
    pub values: BTreeMap<String, Vec<String>>,
}

impl RequestContext {
    pub fn builder(
        principal: PrincipalInfo,
        action: impl Into<String>,
        resource: impl Into<String>,
    ) -> RequestContextBuilder {
        RequestContextBuilder {
            context: RequestContext {
                principal,
                action: action.into(),
                resource: resource.into(),
                values: BTreeMap::new(),
            },
        }
    }

    /// The values of a condition key, looked up case-insensitively. Keys about the principal
    /// (`aws:PrincipalArn`, `aws:PrincipalAccount`, `aws:username`, `aws:userid`,
    /// `aws:PrincipalTag/…`) fall back to [`PrincipalInfo`] when the request does not set
    /// them. `None` means the key is absent from the request.
    pub fn lookup(&self, key: &str) -> Option<Vec<String>> {
        let key = normalize_key(key);
        if let Some(values) = self.values.get(&key) {
            return Some(values.clone());
        }
        self.principal_value(&key).map(|v| vec![v.to_string()])
    }

    fn principal_value(&self, lower_key: &str) -> Option<&str> {
        let p = &self.principal;
        match lower_key {
            "aws:principalarn" => Some(&p.arn),
            "aws:principalaccount" => Some(&p.account),
            "aws:username" => p.user_name.as_deref(),
            "aws:userid" => p.user_id.as_deref(),
            _ => lower_key
                .strip_prefix("aws:principaltag/")
                .and_then(|tag| p.tag_value(tag)),
        }
    }

    /// The value of a policy variable `${name}`: `None` when the request has no single value
    /// for it, in which case the element that uses it matches nothing.
    pub(crate) fn variable(&self, name: &str) -> Option<String> {
        let values = self.lookup(name.trim())?;
        match values.as_slice() {
            [one] => Some(one.clone()),
            _ => None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct RequestContextBuilder {
    context: RequestContext,
}

impl RequestContextBuilder {
    /// Adds one value of a condition key (repeated calls make it multivalued).
    pub fn value(mut self, key: &str, value: impl Into<String>) -> Self {
        self.context
            .values
            .entry(normalize_key(key))
            .or_default()
            .push(value.into());
        self
    }

    /// Sets all values of a condition key; an empty list means "present, but no values".
    pub fn values<I, S>(mut self, key: &str, values: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.context.values.insert(
            normalize_key(key),
            values.into_iter().map(Into::into).collect(),
        );
        self
    }

    pub fn build(self) -> RequestContext {
        self.context
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_names_are_case_insensitive_but_context_keys_are_not() {
        assert_eq!(normalize_key("aws:SourceIp"), "aws:sourceip");
        assert_eq!(
            normalize_key("KMS:EncryptionContext:Department"),
            "kms:encryptioncontext:Department"
        );
        let ctx = RequestContext::builder(PrincipalInfo::new("arn", "1"), "a", "r")
            .value("kms:encryptionContext:Dept", "x")
            .build();
        assert!(ctx.lookup("kms:EncryptionContext:Dept").is_some());
        assert!(ctx.lookup("kms:EncryptionContext:dept").is_none());
    }
}
