//! GetKeyPolicy, PutKeyPolicy and ListKeyPolicies, and the checks every new key policy goes
//! through (also CreateKey's): the policy engine's grammar, AWS's size limit, and the
//! lockout safety check.

use super::{constraint, Access, Aliases};
use crate::authz::{decide, AccessRequest, CompiledPolicy, PolicyKind};
use crate::{Caller, Kms, KmsError};

/// The only key policy name AWS has.
pub const DEFAULT_POLICY_NAME: &str = "default";
/// AWS's limit on a key policy document, in bytes.
pub const MAX_POLICY_BYTES: usize = 32_768;

/// A `PolicyName` parameter: absent means `default`, the only name there is.
fn check_policy_name(name: Option<&str>) -> Result<(), KmsError> {
    match name {
        None | Some(DEFAULT_POLICY_NAME) => Ok(()),
        Some(n)
            if n.is_empty()
                || n.len() > 128
                || !n.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'_') =>
        {
            Err(constraint(
                "policyName",
                n,
                "satisfy regular expression pattern: [\\w]+ and have length between 1 and 128",
            ))
        }
        Some(n) => Err(KmsError::not_found(format!("Policy {n} does not exist."))),
    }
}

#[derive(Debug)]
pub struct PutKeyPolicyRequest {
    pub key_id: String,
    pub policy_name: Option<String>,
    pub policy: String,
    pub bypass_policy_lockout_safety_check: bool,
}

impl Kms {
    /// Checks a new key policy for `caller` and compiles it: the grammar and size
    /// (`MalformedPolicyDocumentException`), then, unless bypassed, that it lets the caller
    /// put the key policy again (AWS's lockout safety check). `key_arn` is the key's (a
    /// placeholder ARN of the new key for CreateKey).
    pub(crate) fn check_new_key_policy(
        &self,
        caller: &Caller,
        document: &str,
        key_arn: &str,
        bypass_lockout_check: bool,
    ) -> Result<CompiledPolicy, KmsError> {
        if document.is_empty() || document.len() > MAX_POLICY_BYTES {
            return Err(constraint(
                "policy",
                "<policy document>",
                &format!("have length between 1 and {MAX_POLICY_BYTES}"),
            ));
        }
        let compiled = self
            .policies
            .compile(PolicyKind::Key, document)
            .map_err(|message| KmsError::MalformedPolicyDocument { message })?;
        if !bypass_lockout_check {
            let mut request = AccessRequest {
                principal: &caller.principal,
                action: "kms:PutKeyPolicy",
                resource: key_arn,
                values: vec![(
                    "kms:BypassPolicyLockoutSafetyCheck".to_string(),
                    vec!["false".to_string()],
                )],
            };
            self.add_global_values(caller, &mut request)?;
            if decide(
                self.evaluate(caller, request, Some(&compiled))?,
                true,
                caller.principal.account != self.account,
                false,
            )
            .is_err()
            {
                return Err(KmsError::MalformedPolicyDocument {
                    message: "The new key policy will not allow you to update the key policy in the future."
                        .into(),
                });
            }
        }
        Ok(compiled)
    }

    pub fn get_key_policy(
        &self,
        caller: &Caller,
        key_id: &str,
        policy_name: Option<&str>,
    ) -> Result<String, KmsError> {
        check_policy_name(policy_name)?;
        let access = Access::to("kms:GetKeyPolicy");
        let key = self.resolve_authorized(caller, key_id, Aliases::Refused, access)?;
        Ok(key.meta.policy.clone())
    }

    /// The key's policy names: always `["default"]`.
    pub fn list_key_policies(
        &self,
        caller: &Caller,
        key_id: &str,
    ) -> Result<Vec<String>, KmsError> {
        let access = Access::to("kms:ListKeyPolicies");
        self.resolve_authorized(caller, key_id, Aliases::Refused, access)?;
        Ok(vec![DEFAULT_POLICY_NAME.to_string()])
    }

    pub fn put_key_policy(
        &self,
        caller: &Caller,
        req: PutKeyPolicyRequest,
    ) -> Result<(), KmsError> {
        check_policy_name(req.policy_name.as_deref())?;
        let bypass = req.bypass_policy_lockout_safety_check;
        let access = Access::to("kms:PutKeyPolicy").with(
            "kms:BypassPolicyLockoutSafetyCheck",
            vec![bypass.to_string()],
        );
        self.mutate_key(caller, &req.key_id, Aliases::Refused, access, |e, meta| {
            self.check_new_key_policy(caller, &req.policy, &e.arn, bypass)?;
            meta.policy = req.policy.clone();
            Ok(())
        })
        .map(drop)
    }
}
