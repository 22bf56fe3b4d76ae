//! What a policy is evaluated against: who calls, which action on which resource, and the
//! condition keys of the request.
//!
//! Condition key names are case-insensitive (`aws:SourceIp` = `aws:sourceip`), and so is
//! the part of a key that names data the caller chose: AWS KMS matches
//! `kms:EncryptionContext:Department` against an encryption context key `department` too
//! (only the values' case is up to the operator; `kms:EncryptionContextKeys` is the way to
//! require a key's exact case). Keys are therefore stored lowercased.

use std::borrow::Cow;
use std::collections::BTreeMap;

/// The normalised form of a condition key name: ASCII-lowercased.
pub fn normalize_key(key: &str) -> String {
    key.to_ascii_lowercase()
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
        self.lookup_normalized(&normalize_key(key))
            .map(Cow::into_owned)
    }

    /// [`Self::lookup`] of a key already normalised with [`normalize_key`]; borrows the
    /// request's values.
    pub(crate) fn lookup_normalized(&self, key: &str) -> Option<Cow<'_, [String]>> {
        if let Some(values) = self.values.get(key) {
            return Some(Cow::Borrowed(values.as_slice()));
        }
        self.principal_value(key)
            .map(|v| Cow::Owned(vec![v.to_string()]))
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
        let values = self.lookup_normalized(&normalize_key(name.trim()))?;
        match values.as_ref() {
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

    /// Sets all values of a condition key given as an owned name (normalised in place, no
    /// copy); an empty list means "present, but no values".
    pub fn values_owned(mut self, mut key: String, values: Vec<String>) -> Self {
        key.make_ascii_lowercase();
        self.context.values.insert(key, values);
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
    fn key_names_are_case_insensitive_including_context_keys() {
        assert_eq!(normalize_key("aws:SourceIp"), "aws:sourceip");
        assert_eq!(
            normalize_key("KMS:EncryptionContext:Department"),
            "kms:encryptioncontext:department"
        );
        let ctx = RequestContext::builder(PrincipalInfo::new("arn", "1"), "a", "r")
            .value("kms:encryptionContext:Dept", "x")
            .values_owned("KMS:EncryptionContext:Team".to_string(), vec!["y".into()])
            .build();
        assert!(ctx.lookup("kms:EncryptionContext:Dept").is_some());
        assert!(ctx.lookup("kms:EncryptionContext:dept").is_some());
        assert_eq!(
            ctx.lookup("kms:encryptioncontext:TEAM"),
            Some(vec!["y".into()])
        );
    }
}
