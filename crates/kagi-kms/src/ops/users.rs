//! Inline identity policies of users (IAM's PutUserPolicy, GetUserPolicy, ListUserPolicies,
//! DeleteUserPolicy), managed through `kagi admin`. A user exists through its access keys;
//! its policies decide, with the key policies, what it may do (see `authz`).

use crate::authz::PolicyKind;
use crate::model::UserPolicyRecord;
use crate::{Kms, KmsError, Write};

/// IAM's limit on one inline policy document, in characters.
pub const MAX_USER_POLICY_CHARS: usize = 10_240;

/// IAM's policy-name rules: 1–128 characters of `[\w+=,.@-]`.
pub(crate) fn check_policy_name(name: &str) -> Result<(), KmsError> {
    super::check_iam_name("policyName", name, 1, 128)
}

/// An inline identity policy document: IAM's size limit, then the engine's grammar.
pub(crate) fn check_identity_document(kms: &Kms, document: &str) -> Result<(), KmsError> {
    if document.is_empty() || document.chars().count() > MAX_USER_POLICY_CHARS {
        return Err(super::constraint(
            "policyDocument",
            "<policy document>",
            &format!("have length between 1 and {MAX_USER_POLICY_CHARS}"),
        ));
    }
    kms.policies
        .compile(PolicyKind::Identity, document)
        .map_err(|message| KmsError::MalformedPolicyDocument { message })?;
    Ok(())
}

impl Kms {
    /// Creates or replaces a user's inline policy; it applies to the user's next request.
    pub fn put_user_policy(
        &self,
        user_name: &str,
        policy_name: &str,
        document: &str,
    ) -> Result<(), KmsError> {
        super::access_keys::check_user_name(user_name)?;
        check_policy_name(policy_name)?;
        check_identity_document(self, document)?;
        self.store
            .apply(vec![Write::PutUserPolicy(UserPolicyRecord {
                user_name: user_name.to_string(),
                policy_name: policy_name.to_string(),
                document: document.to_string(),
                updated_at: self.now(),
            })])?;
        self.cache.remove_user_policies(user_name);
        Ok(())
    }

    pub fn user_policies(&self, user_name: &str) -> Result<Vec<UserPolicyRecord>, KmsError> {
        super::access_keys::check_user_name(user_name)?;
        Ok(self.store.user_policies(user_name)?)
    }

    pub fn delete_user_policy(&self, user_name: &str, policy_name: &str) -> Result<(), KmsError> {
        super::access_keys::check_user_name(user_name)?;
        check_policy_name(policy_name)?;
        let exists = self
            .store
            .user_policies(user_name)?
            .iter()
            .any(|p| p.policy_name == policy_name);
        if !exists {
            return Err(KmsError::not_found(format!(
                "The user policy with name {policy_name} cannot be found."
            )));
        }
        self.store.apply(vec![Write::DeleteUserPolicy {
            user_name: user_name.to_string(),
            policy_name: policy_name.to_string(),
        }])?;
        self.cache.remove_user_policies(user_name);
        Ok(())
    }
}
