//! GetKeyPolicy, PutKeyPolicy, ListKeyPolicies.

use super::{empty, required, to_body};
use crate::error::ApiError;
use crate::wire::parse;
use kagi_kms::ops::key_policy::PutKeyPolicyRequest;
use kagi_kms::{Caller, Kms};
use serde::{Deserialize, Serialize};

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct GetKeyPolicyInput {
    key_id: Option<String>,
    policy_name: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct GetKeyPolicyOutput {
    policy: String,
    policy_name: &'static str,
}

pub fn get_key_policy(kms: &Kms, caller: &Caller, body: &[u8]) -> Result<Vec<u8>, ApiError> {
    let input: GetKeyPolicyInput = parse(body)?;
    let policy = kms.get_key_policy(
        caller,
        required(&input.key_id, "keyId")?,
        input.policy_name.as_deref(),
    )?;
    to_body(&GetKeyPolicyOutput {
        policy,
        policy_name: kagi_kms::ops::key_policy::DEFAULT_POLICY_NAME,
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct PutKeyPolicyInput {
    key_id: Option<String>,
    policy_name: Option<String>,
    policy: Option<String>,
    #[serde(default)]
    bypass_policy_lockout_safety_check: bool,
}

pub fn put_key_policy(kms: &Kms, caller: &Caller, body: &[u8]) -> Result<Vec<u8>, ApiError> {
    let input: PutKeyPolicyInput = parse(body)?;
    kms.put_key_policy(
        caller,
        PutKeyPolicyRequest {
            key_id: required(&input.key_id, "keyId")?.to_string(),
            policy_name: input.policy_name,
            policy: required(&input.policy, "policy")?.to_string(),
            bypass_policy_lockout_safety_check: input.bypass_policy_lockout_safety_check,
        },
    )?;
    empty()
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListKeyPoliciesInput {
    key_id: Option<String>,
    limit: Option<i64>,
    #[allow(dead_code)] // accepted; one page always holds the one policy
    marker: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct ListKeyPoliciesOutput {
    policy_names: Vec<String>,
    truncated: bool,
}

pub fn list_key_policies(kms: &Kms, caller: &Caller, body: &[u8]) -> Result<Vec<u8>, ApiError> {
    let input: ListKeyPoliciesInput = parse(body)?;
    if let Some(limit) = input.limit {
        if !(1..=1000).contains(&limit) {
            return Err(ApiError::Kms(kagi_kms::KmsError::validation(format!(
                "1 validation error detected: Value '{limit}' at 'limit' failed to satisfy constraint: Member must have value between 1 and 1000"
            ))));
        }
    }
    let policy_names = kms.list_key_policies(caller, required(&input.key_id, "keyId")?)?;
    to_body(&ListKeyPoliciesOutput {
        policy_names,
        truncated: false,
    })
}
