//! Authorization: may this caller perform this action on this resource?
//!
//! AWS KMS's model, decided here from the decisions of the individual policies:
//! - an explicit deny in the key policy or in any of the caller's identity policies wins;
//! - otherwise the key policy must allow the caller: either by naming the principal itself
//!   (then nothing else is needed), or by naming the caller's account (the default key
//!   policy's "Enable IAM User Permissions" statement), in which case an identity policy
//!   of the caller must allow the action too;
//! - operations on no key (CreateKey, ListKeys, ListAliases, GenerateRandom) and the alias
//!   side of alias operations are decided by identity policies alone;
//! - when the policies neither deny nor allow a key operation, a grant on the key may allow
//!   it (`ops::grants`): its grantee is the caller, its operations include the action and
//!   its constraints hold for the request. An explicit deny still wins over a grant: AWS
//!   gives a principal no permission to a KMS key "unless that permission is provided
//!   explicitly and never denied" (KMS Developer Guide, "KMS key access and permissions").
//!
//! Parsing and evaluating policy documents is the [`PolicyEngine`]'s (the `kagi-policy`
//! crate implements it): this crate knows no JSON. A policy is compiled once (when a key is
//! loaded, when a user's policies are loaded) and evaluated per request.
//!
//! Administrators (`Principal::admin`) hold the equivalent of AWS's `AdministratorAccess`
//! identity policy (every action on every resource); key policies still apply to them, as
//! they do to an AWS administrator.

use crate::cache::role_cache_key;
use crate::cache::KeyEntry;
use crate::model::{GrantConstraints, GrantOperation};
use crate::ops::encrypt::EncryptionContext;
use crate::{Caller, Kms, KmsError, Principal};
use std::any::Any;
use std::sync::Arc;

/// Which grammar a document follows: key policies must name principals, identity policies
/// must not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicyKind {
    Key,
    Identity,
    /// A role's trust policy: names principals, may omit `Resource`.
    Trust,
}

/// A policy document compiled by a [`PolicyEngine`]; opaque to the domain.
#[derive(Clone)]
pub struct CompiledPolicy(Arc<dyn Any + Send + Sync>);

impl CompiledPolicy {
    pub fn new(policy: impl Any + Send + Sync) -> Self {
        CompiledPolicy(Arc::new(policy))
    }

    /// The engine's own representation, if it is of type `T`.
    pub fn downcast<T: Any>(&self) -> Option<&T> {
        self.0.downcast_ref()
    }
}

impl std::fmt::Debug for CompiledPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CompiledPolicy")
    }
}

/// What one policy says about one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// A statement that applies denies.
    Deny,
    /// An allowing statement names the principal itself (or `*`), or has no `Principal`
    /// (identity policies).
    Allow,
    /// An allowing statement names the caller's account (`arn:aws:iam::<account>:root` or
    /// the bare account id): the account delegates to its identity policies.
    AllowAccount,
    /// No statement applies.
    NotApplicable,
}

/// One request as policies see it.
#[derive(Debug)]
pub struct AccessRequest<'a> {
    pub principal: &'a Principal,
    /// e.g. `kms:Decrypt`.
    pub action: &'a str,
    /// A key ARN, an alias ARN, or `*`.
    pub resource: &'a str,
    /// Condition keys as AWS spells them (`kms:EncryptionContext:Department`,
    /// `aws:SourceIp` ...), each with its values.
    pub values: Vec<(String, Vec<String>)>,
}

impl AccessRequest<'_> {
    pub fn value(&mut self, key: &str, value: impl Into<String>) {
        self.values.push((key.to_string(), vec![value.into()]));
    }
}

/// The two decisions authorization combines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Evaluation {
    /// The key policy's; `NotApplicable` when the request has no key.
    pub key: Decision,
    /// All identity policies together: `Deny` if any denies, else `Allow` if any allows.
    pub identity: Decision,
}

/// Parses and evaluates policy documents (implemented by `kagi-policy`).
pub trait PolicyEngine: Send + Sync {
    /// Checks `document` and compiles it; the error is the message of a
    /// `MalformedPolicyDocumentException`.
    fn compile(&self, kind: PolicyKind, document: &str) -> Result<CompiledPolicy, String>;

    /// Whether `policy` has a condition on `condition_key`: condition values that are
    /// costly to compute (`kms:ResourceAliases` reads the store) are computed only then.
    fn mentions(&self, policy: &CompiledPolicy, condition_key: &str) -> bool;

    /// Evaluates the key policy (if any) and the identity policies for `request`.
    /// (`request` is taken by value: the engine may move its condition values.)
    fn evaluate(
        &self,
        request: AccessRequest<'_>,
        key_policy: Option<&CompiledPolicy>,
        identity: &[CompiledPolicy],
    ) -> Evaluation;
}

/// Why a request was refused, for AWS's message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Denial {
    /// The key policy does not allow the caller: "no resource-based policy allows".
    NoResourceAllow,
    /// The key policy let the account decide (or there is no key) and no identity policy
    /// allows it: "no identity-based policy allows".
    NoIdentityAllow,
    ExplicitDenyInResource,
    ExplicitDenyInIdentity,
    /// A principal of another account asked for something that is not one of this
    /// installation's keys (CreateKey, ListKeys ...): its keys are not here.
    OtherAccount,
}

/// What a grant must allow for a request to go through it.
#[derive(Debug, Clone, Copy)]
pub enum GrantUse<'a> {
    /// No grant can allow this request (an action that is not a grant operation, or a
    /// request on no key).
    None,
    /// An operation without an encryption context (DescribeKey): constraints do not apply.
    Plain,
    /// A cryptographic operation with this encryption context.
    Context(&'a EncryptionContext),
    /// CreateGrant: a grant may allow it only for a grant that allows no more than itself.
    NewGrant {
        operations: &'a [GrantOperation],
        constraints: Option<&'a GrantConstraints>,
    },
}

/// Combines the decisions by AWS KMS's rules (see the module documentation).
/// `cross_account`: the caller belongs to another account than the key's; then the key
/// policy *and* the caller's identity policies must allow, even when the key policy names
/// the caller itself (its account must delegate to it too). `granted`: a grant on the key
/// allows the request; it matters only when the request has a key and no policy denies it
/// (and, for another account's principal, when its identity policies allow too).
pub fn decide(
    e: Evaluation,
    has_key: bool,
    cross_account: bool,
    granted: bool,
) -> Result<(), Denial> {
    if e.key == Decision::Deny {
        return Err(Denial::ExplicitDenyInResource);
    }
    if e.identity == Decision::Deny {
        return Err(Denial::ExplicitDenyInIdentity);
    }
    let identity_allows = matches!(e.identity, Decision::Allow | Decision::AllowAccount);
    if !has_key {
        return match (cross_account, identity_allows) {
            (true, _) => Err(Denial::OtherAccount),
            (false, true) => Ok(()),
            (false, false) => Err(Denial::NoIdentityAllow),
        };
    }
    match e.key {
        Decision::Allow if !cross_account => Ok(()),
        Decision::Allow | Decision::AllowAccount if identity_allows => Ok(()),
        _ if granted && (!cross_account || identity_allows) => Ok(()),
        Decision::Allow | Decision::AllowAccount => Err(Denial::NoIdentityAllow),
        _ => Err(Denial::NoResourceAllow),
    }
}

/// AWS's `AccessDeniedException` message for a refused request.
pub fn denial_message(principal: &str, action: &str, resource: &str, why: Denial) -> String {
    let reason = match why {
        Denial::NoResourceAllow => {
            format!("because no resource-based policy allows the {action} action")
        }
        Denial::NoIdentityAllow => {
            format!("because no identity-based policy allows the {action} action")
        }
        Denial::ExplicitDenyInResource => {
            "with an explicit deny in a resource-based policy".to_string()
        }
        Denial::ExplicitDenyInIdentity => {
            "with an explicit deny in an identity-based policy".to_string()
        }
        Denial::OtherAccount => {
            "because the principal's account has no keys in this installation; use this \
             installation's keys by their key ARN"
                .to_string()
        }
    };
    format!(
        "User: {principal} is not authorized to perform: {action} on resource: {resource} {reason}"
    )
}

impl Kms {
    /// The identity policies of the caller: none for administrators (their access is
    /// implicit), the user's inline policies otherwise (cached, compiled).
    pub(crate) fn identity_policies(
        &self,
        principal: &Principal,
    ) -> Result<Arc<[CompiledPolicy]>, KmsError> {
        match &principal.role {
            // A role session: the role's policies.
            Some(role) => self.load_identity_policies(&role_cache_key(role), || {
                Ok(self
                    .store
                    .role_policies(role)?
                    .into_iter()
                    .map(|p| p.document)
                    .collect())
            }),
            None => self.load_identity_policies(&principal.user_name, || {
                Ok(self
                    .store
                    .user_policies(&principal.user_name)?
                    .into_iter()
                    .map(|p| p.document)
                    .collect())
            }),
        }
    }

    /// The compiled policies cached under `cache_key`, else `documents()` compiled and
    /// cached (unless a change raced with the load).
    pub(crate) fn load_identity_policies(
        &self,
        cache_key: &str,
        documents: impl FnOnce() -> Result<Vec<String>, KmsError>,
    ) -> Result<Arc<[CompiledPolicy]>, KmsError> {
        if let Some(p) = self
            .trusted_cache()
            .and_then(|c| c.user_policies(cache_key))
        {
            return Ok(p);
        }
        let generation = self.cache.generation();
        // Documents were checked when they were put; one that no longer compiles (a
        // stricter engine) allows nothing rather than failing every call of the principal.
        let compiled: Arc<[CompiledPolicy]> = documents()?
            .iter()
            .filter_map(|d| self.policies.compile(PolicyKind::Identity, d).ok())
            .collect::<Vec<_>>()
            .into();
        self.cache
            .insert_loaded_user_policies(generation, cache_key.to_string(), compiled.clone());
        Ok(compiled)
    }

    /// Decides `request` against `key_policy` (the key's, if the request has a key), the
    /// caller's identity policies and, when those allow nothing, the key's grants (`grant`
    /// says what a grant must allow); `AccessDeniedException` if refused.
    pub(crate) fn authorize(
        &self,
        caller: &Caller,
        mut request: AccessRequest<'_>,
        key: Option<&KeyEntry>,
        grant: GrantUse<'_>,
    ) -> Result<(), KmsError> {
        self.add_global_values(caller, &mut request)?;
        // Fetched once (cached) for both the alias check and the evaluation.
        let identity = self.caller_identity(caller)?;
        if let Some(key) = key {
            add_key_values(key, &mut request);
            self.add_resource_aliases(key, &identity, &mut request)?;
        }
        let key_policy = key.and_then(|k| k.policy.as_ref());
        let (action, resource) = (request.action, request.resource);
        let evaluation = self.evaluate_with(caller, request, key_policy, &identity);
        let has_key = key.is_some();
        let cross_account = caller.principal.account != self.account;
        // Grants are consulted only when nothing else allows and nothing denies, so the
        // usual path never looks at them.
        let granted = match (decide(evaluation, has_key, cross_account, false), key) {
            (Err(Denial::NoResourceAllow | Denial::NoIdentityAllow), Some(key)) => {
                self.grant_allows(caller, key, action, grant)?
            }
            _ => false,
        };
        decide(evaluation, has_key, cross_account, granted).map_err(|why| KmsError::AccessDenied {
            message: denial_message(&caller.principal.arn, action, resource, why),
        })
    }

    /// `kms:ResourceAliases`: the aliases of the key, read from the store, but only when the
    /// key policy or one of the caller's identity policies tests it.
    fn add_resource_aliases(
        &self,
        key: &KeyEntry,
        identity: &[CompiledPolicy],
        request: &mut AccessRequest<'_>,
    ) -> Result<(), KmsError> {
        const KEY: &str = "kms:ResourceAliases";
        let wanted = key
            .policy
            .iter()
            .chain(identity)
            .any(|p| self.policies.mentions(p, KEY));
        if !wanted {
            return Ok(());
        }
        // Every alias of the key: one page of up to 1,000.
        let aliases: Vec<String> = self
            .store
            .list_aliases(&key.meta.region, Some(&key.meta.key_id), None, 1000)?
            .into_iter()
            .map(|a| a.name.to_string())
            .collect();
        if !aliases.is_empty() {
            request.values.push((KEY.to_string(), aliases));
        }
        Ok(())
    }

    /// Evaluates `key_policy` and the caller's identity policies (an administrator's are
    /// "allow everything") for `request`.
    pub(crate) fn evaluate(
        &self,
        caller: &Caller,
        request: AccessRequest<'_>,
        key_policy: Option<&CompiledPolicy>,
    ) -> Result<Evaluation, KmsError> {
        let identity = self.caller_identity(caller)?;
        Ok(self.evaluate_with(caller, request, key_policy, &identity))
    }

    /// The caller's identity policies: none stored for administrators (their access is
    /// implicit, see [`Self::evaluate_with`]).
    fn caller_identity(&self, caller: &Caller) -> Result<Arc<[CompiledPolicy]>, KmsError> {
        if caller.principal.admin {
            Ok(Arc::from(Vec::new()))
        } else {
            self.identity_policies(&caller.principal)
        }
    }

    /// [`Self::evaluate`] with the caller's identity policies already at hand.
    fn evaluate_with(
        &self,
        caller: &Caller,
        request: AccessRequest<'_>,
        key_policy: Option<&CompiledPolicy>,
        identity: &[CompiledPolicy],
    ) -> Evaluation {
        let mut evaluation = self.policies.evaluate(request, key_policy, identity);
        if caller.principal.admin && evaluation.identity != Decision::Deny {
            evaluation.identity = Decision::Allow;
        }
        evaluation
    }

    /// RetireGrant's rule: the retiring principal, or the grantee of a grant that includes
    /// RetireGrant, may retire it; so may principals of the account an identity policy
    /// allows `kms:RetireGrant` (administrators). An identity policy's explicit deny of
    /// `kms:RetireGrant` wins; the key policy is not consulted (AWS: it is "not effective in
    /// a key policy").
    pub(crate) fn authorize_retire(
        &self,
        caller: &Caller,
        key: &KeyEntry,
        grant: &crate::model::GrantRecord,
    ) -> Result<(), KmsError> {
        use crate::ops::grants::principal_matches;
        let action = "kms:RetireGrant";
        let mut request = AccessRequest {
            principal: &caller.principal,
            action,
            resource: &key.arn,
            values: Vec::new(),
        };
        self.add_global_values(caller, &mut request)?;
        add_key_values(key, &mut request);
        let identity = self.evaluate(caller, request, None)?.identity;
        let named = |p: &str| principal_matches(&caller.principal.arn, p);
        let why = match identity {
            Decision::Deny => Denial::ExplicitDenyInIdentity,
            _ if grant.retiring_principal.as_deref().is_some_and(named) => return Ok(()),
            _ if named(&grant.grantee_principal)
                && grant.operations.contains(&GrantOperation::RetireGrant) =>
            {
                return Ok(())
            }
            Decision::Allow | Decision::AllowAccount => return Ok(()),
            Decision::NotApplicable => Denial::NoIdentityAllow,
        };
        Err(KmsError::AccessDenied {
            message: denial_message(&caller.principal.arn, action, &key.arn, why),
        })
    }

    /// The request-independent condition keys: who calls, from where, when.
    pub(crate) fn add_global_values(
        &self,
        caller: &Caller,
        request: &mut AccessRequest<'_>,
    ) -> Result<(), KmsError> {
        let now = self.now();
        request.value("kms:CallerAccount", caller.principal.account.as_str());
        // Epoch seconds: the engine's Date operators accept them as well as ISO 8601.
        let seconds = now.millis().div_euclid(1000).to_string();
        request.value("aws:CurrentTime", seconds.clone());
        request.value("aws:EpochTime", seconds);
        request.value(
            "aws:SecureTransport",
            if caller.secure_transport {
                "true"
            } else {
                "false"
            },
        );
        if let Some(ip) = &caller.source_ip {
            request.value("aws:SourceIp", ip.as_str());
        }
        // Tags of the user, or of the role behind a session (cached).
        for tag in self.caller_tags(&caller.principal)?.iter() {
            request.value(&format!("aws:PrincipalTag/{}", tag.key), tag.value.as_str());
        }
        Ok(())
    }
}

/// The condition keys every request on a key carries.
fn add_key_values(key: &KeyEntry, request: &mut AccessRequest<'_>) {
    // Kagi's keys are all symmetric AWS_KMS keys (CreateKey refuses the rest).
    request.value("kms:KeySpec", "SYMMETRIC_DEFAULT");
    request.value("kms:KeyUsage", "ENCRYPT_DECRYPT");
    request.value("kms:KeyOrigin", "AWS_KMS");
    request.value("kms:MultiRegion", "false");
    for tag in &key.meta.tags {
        request.value(&format!("aws:ResourceTag/{}", tag.key), tag.value.as_str());
    }
}

/// The condition keys of an encryption context: `kms:EncryptionContext:<key>` for each
/// pair and `kms:EncryptionContextKeys` (absent when the context is empty, as in AWS).
pub(crate) fn context_values(
    context: &std::collections::BTreeMap<String, String>,
) -> Vec<(String, Vec<String>)> {
    let mut values: Vec<(String, Vec<String>)> = context
        .iter()
        .map(|(k, v)| (format!("kms:EncryptionContext:{k}"), vec![v.clone()]))
        .collect();
    if !context.is_empty() {
        values.push((
            "kms:EncryptionContextKeys".to_string(),
            context.keys().cloned().collect(),
        ));
    }
    values
}

#[cfg(test)]
mod tests {
    use super::*;
    use Decision::*;

    fn eval(key: Decision, identity: Decision) -> Evaluation {
        Evaluation { key, identity }
    }

    #[test]
    fn an_explicit_deny_anywhere_wins() {
        for other in [Allow, AllowAccount, NotApplicable, Deny] {
            for granted in [false, true] {
                for cross in [false, true] {
                    assert!(decide(eval(Deny, other), true, cross, granted).is_err());
                    assert!(decide(eval(other, Deny), true, cross, granted).is_err());
                    assert!(decide(eval(other, Deny), false, cross, granted).is_err());
                }
            }
        }
    }

    #[test]
    fn the_key_policy_must_allow_and_may_delegate_to_identity_policies() {
        assert_eq!(
            decide(eval(Allow, NotApplicable), true, false, false),
            Ok(())
        );
        assert_eq!(
            decide(eval(AllowAccount, Allow), true, false, false),
            Ok(())
        );
        assert_eq!(
            decide(eval(AllowAccount, NotApplicable), true, false, false),
            Err(Denial::NoIdentityAllow)
        );
        // An identity policy alone never opens a key.
        assert_eq!(
            decide(eval(NotApplicable, Allow), true, false, false),
            Err(Denial::NoResourceAllow)
        );
    }

    #[test]
    fn another_account_needs_both_sides_and_has_no_keys_here() {
        // Naming the foreign caller in the key policy is not enough: its account decides too.
        assert_eq!(
            decide(eval(Allow, NotApplicable), true, true, false),
            Err(Denial::NoIdentityAllow)
        );
        assert_eq!(decide(eval(Allow, Allow), true, true, false), Ok(()));
        assert_eq!(decide(eval(AllowAccount, Allow), true, true, false), Ok(()));
        assert_eq!(
            decide(eval(NotApplicable, Allow), true, true, false),
            Err(Denial::NoResourceAllow)
        );
        assert_eq!(
            decide(eval(NotApplicable, Allow), false, true, false),
            Err(Denial::OtherAccount)
        );
    }

    #[test]
    fn a_grant_opens_a_key_nothing_denies() {
        assert_eq!(
            decide(eval(NotApplicable, NotApplicable), true, false, true),
            Ok(())
        );
        assert_eq!(
            decide(eval(AllowAccount, NotApplicable), true, false, true),
            Ok(())
        );
        // Grants are on keys: they do nothing for requests without one.
        assert_eq!(
            decide(eval(NotApplicable, NotApplicable), false, false, true),
            Err(Denial::NoIdentityAllow)
        );
    }

    #[test]
    fn requests_without_a_key_need_an_identity_policy() {
        assert_eq!(
            decide(eval(NotApplicable, Allow), false, false, false),
            Ok(())
        );
        assert_eq!(
            decide(eval(NotApplicable, NotApplicable), false, false, false),
            Err(Denial::NoIdentityAllow)
        );
    }

    #[test]
    fn messages_follow_aws() {
        assert_eq!(
            denial_message(
                "arn:aws:iam::111122223333:user/alice",
                "kms:Decrypt",
                "arn:aws:kms:us-east-1:111122223333:key/k",
                Denial::NoResourceAllow
            ),
            "User: arn:aws:iam::111122223333:user/alice is not authorized to perform: kms:Decrypt \
             on resource: arn:aws:kms:us-east-1:111122223333:key/k because no resource-based policy \
             allows the kms:Decrypt action"
        );
    }
}
