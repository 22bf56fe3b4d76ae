//! Which keys a call involved: the `resources` of its audit record, in AWS's order
//! (ReEncrypt: source, then destination; alias operations: the key, then the alias).
//!
//! Before the call runs, the keys named in the request are resolved (aliases too, so that
//! DeleteAlias still names the key the alias pointed to). After a success, the response
//! is authoritative where it names keys the request could not: CreateKey's new key,
//! Decrypt's and ReEncrypt's source key (taken from the ciphertext). A name that resolves
//! to nothing is left out; resolving never fails the call.

use crate::Operation;
use kagi_kms::{Caller, Kms};
use serde::Deserialize;

/// The request members that name keys or aliases; everything else is skipped unread.
#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct Named {
    key_id: Option<String>,
    target_key_id: Option<String>,
    alias_name: Option<String>,
    source_key_id: Option<String>,
    destination_key_id: Option<String>,
    /// RetireGrant by token: only the key id it names is used.
    grant_token: Option<String>,
}

/// Key (and alias) ARNs named by the request that exist here.
pub fn named_in_request(kms: &Kms, caller: &Caller, op: Operation, body: &[u8]) -> Vec<String> {
    use Operation::*;
    let lists_nothing = matches!(
        op,
        ListKeys
            | GenerateRandom
            | AdminCreateAccessKey
            | AdminListAccessKeys
            | AdminUpdateAccessKey
            | AdminDeleteAccessKey
            | AdminPutUserPolicy
            | AdminListUserPolicies
            | AdminDeleteUserPolicy
            | AdminPutRole
            | AdminDeleteRole
            | AdminListRoles
            | AdminPutRolePolicy
            | AdminListRolePolicies
            | AdminDeleteRolePolicy
            | AdminTagUser
            | AdminUntagUser
            | AdminListUserTags
            | AdminTagRole
            | AdminUntagRole
            | AdminListRoleTags
            | StsAssumeRole
            | StsGetCallerIdentity
            | ListRetirableGrants
            | LookupEvents
            | AuditGetCheckpoint
            | AuditGetInclusionProof
            | AuditGetConsistencyProof
    );
    if lists_nothing {
        return Vec::new();
    }
    let Ok(named) = serde_json::from_slice::<Named>(body) else {
        return Vec::new();
    };
    let key = |raw: &Option<String>| raw.as_deref().and_then(|r| kms.existing_key_arn(caller, r));
    let mut out = Vec::new();
    match op {
        CreateAlias | UpdateAlias | DeleteAlias => {
            let alias = named.alias_name.as_deref();
            let target = key(&named.target_key_id).or_else(|| {
                // DeleteAlias names no key: the alias's current target is the one involved.
                alias.and_then(|a| kms.existing_key_arn(caller, a))
            });
            out.extend(target);
            out.extend(alias.and_then(|a| kms.alias_arn_of(caller, a)));
        }
        ReEncrypt => {
            out.extend(key(&named.source_key_id));
            out.extend(key(&named.destination_key_id));
        }
        RetireGrant if named.key_id.is_none() => {
            let id = named
                .grant_token
                .as_deref()
                .and_then(kagi_kms::ops::grants::key_id_of_token);
            out.extend(id.and_then(|id| kms.existing_key_arn(caller, &id.to_string())));
        }
        _ => out.extend(key(&named.key_id)),
    }
    out
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct KeyMetadataArn {
    arn: String,
}

/// The response members that name keys; everything else is skipped unread.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Answered {
    #[serde(default)]
    key_id: Option<String>,
    #[serde(default)]
    source_key_id: Option<String>,
    #[serde(default)]
    key_metadata: Option<KeyMetadataArn>,
}

/// Whether a successful response of `op` names the keys it involved (so the request need
/// not be resolved first: the hot cryptographic path skips that work).
pub fn named_by_response(op: Operation) -> bool {
    use Operation::*;
    matches!(
        op,
        CreateKey
            | Decrypt
            | ReEncrypt
            | Encrypt
            | GenerateDataKey
            | GenerateDataKeyWithoutPlaintext
    )
}

/// Key ARNs a successful response names (see [`named_by_response`]); `None` otherwise.
pub fn from_response(op: Operation, response: &[u8]) -> Option<Vec<String>> {
    use Operation::*;
    if !named_by_response(op) {
        return None;
    }
    let answered: Answered = serde_json::from_slice(response).ok()?;
    let arns: Vec<String> = match op {
        CreateKey => answered.key_metadata.map(|m| m.arn).into_iter().collect(),
        ReEncrypt => answered
            .source_key_id
            .into_iter()
            .chain(answered.key_id)
            .collect(),
        _ => answered.key_id.into_iter().collect(),
    };
    (!arns.is_empty()).then_some(arns)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn responses_name_new_and_source_keys() {
        let arn = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";
        let other = "arn:aws:kms:us-east-1:111122223333:key/0987dcba-09fe-87dc-65ba-ab0987654321";
        let create = format!(r#"{{"KeyMetadata":{{"Arn":"{arn}","KeyId":"x"}}}}"#);
        assert_eq!(
            from_response(Operation::CreateKey, create.as_bytes()),
            Some(vec![arn.to_string()])
        );
        let re = format!(r#"{{"CiphertextBlob":"AAAA","SourceKeyId":"{arn}","KeyId":"{other}"}}"#);
        assert_eq!(
            from_response(Operation::ReEncrypt, re.as_bytes()),
            Some(vec![arn.to_string(), other.to_string()])
        );
        assert_eq!(
            from_response(Operation::Encrypt, re.as_bytes()),
            Some(vec![other.to_string()])
        );
        assert_eq!(from_response(Operation::ListKeys, re.as_bytes()), None);
        assert_eq!(from_response(Operation::Decrypt, b"not json"), None);
    }
}
