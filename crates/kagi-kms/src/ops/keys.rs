//! Key lifecycle: CreateKey, DescribeKey, ListKeys, EnableKey, DisableKey,
//! UpdateKeyDescription, ScheduleKeyDeletion, CancelKeyDeletion.

use super::{
    check_range, constraint, page_limit, parse_marker, require_not_pending_deletion, Access,
    Aliases,
};
use crate::cache::KeyEntry;
use crate::ids::KeyId;
use crate::model::{KeyMetadata, KeyState, StoredVersion, Tag};
use crate::ops::backing_key_context;
use crate::{Caller, Kms, KmsError, Write};
use kagi_crypto::BackingKey;
use std::sync::Arc;

pub const MAX_DESCRIPTION_CHARS: usize = 8_192;

const KEY_SPECS: &[&str] = &[
    "RSA_2048",
    "RSA_3072",
    "RSA_4096",
    "ECC_NIST_P256",
    "ECC_NIST_P384",
    "ECC_NIST_P521",
    "ECC_SECG_P256K1",
    "SYMMETRIC_DEFAULT",
    "HMAC_224",
    "HMAC_256",
    "HMAC_384",
    "HMAC_512",
    "SM2",
    "ML_DSA_44",
    "ML_DSA_65",
    "ML_DSA_87",
    "ECC_NIST_EDWARDS25519",
];
const KEY_USAGES: &[&str] = &[
    "SIGN_VERIFY",
    "ENCRYPT_DECRYPT",
    "GENERATE_VERIFY_MAC",
    "KEY_AGREEMENT",
];
const ORIGINS: &[&str] = &["AWS_KMS", "EXTERNAL", "AWS_CLOUDHSM", "EXTERNAL_KEY_STORE"];

fn check_enum(field: &str, value: &str, allowed: &[&str]) -> Result<(), KmsError> {
    if allowed.contains(&value) {
        Ok(())
    } else {
        Err(constraint(
            field,
            value,
            &format!("satisfy enum value set: [{}]", allowed.join(", ")),
        ))
    }
}

#[derive(Debug, Clone, Default)]
pub struct CreateKeyRequest {
    pub policy: Option<String>,
    pub description: Option<String>,
    pub key_usage: Option<String>,
    pub key_spec: Option<String>,
    pub customer_master_key_spec: Option<String>,
    pub origin: Option<String>,
    pub custom_key_store_id: Option<String>,
    pub bypass_policy_lockout_safety_check: bool,
    pub tags: Vec<Tag>,
    pub multi_region: bool,
    pub xks_key_id: Option<String>,
}

/// A key's public description, as DescribeKey and friends return it.
#[derive(Debug, Clone)]
pub struct DescribedKey {
    pub arn: String,
    pub meta: KeyMetadata,
}

impl From<&KeyEntry> for DescribedKey {
    fn from(e: &KeyEntry) -> Self {
        Self {
            arn: e.arn.clone(),
            meta: e.meta.clone(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct KeyListEntry {
    pub key_id: KeyId,
    pub arn: String,
}

#[derive(Debug, Clone)]
pub struct ListKeysResponse {
    pub keys: Vec<KeyListEntry>,
    pub next_marker: Option<String>,
}

#[derive(Debug, Clone)]
pub struct ScheduledDeletion {
    pub arn: String,
    pub deletion_date: crate::Timestamp,
    pub pending_window_days: u32,
}

/// The key policy AWS attaches when CreateKey has none: the account may use IAM policies.
pub fn default_key_policy(account: &crate::AccountId) -> String {
    format!(
        r#"{{
  "Version" : "2012-10-17",
  "Id" : "key-default-1",
  "Statement" : [ {{
    "Sid" : "Enable IAM User Permissions",
    "Effect" : "Allow",
    "Principal" : {{
      "AWS" : "arn:aws:iam::{account}:root"
    }},
    "Action" : "kms:*",
    "Resource" : "*"
  }} ]
}}"#
    )
}

impl Kms {
    pub fn create_key(
        &self,
        caller: &Caller,
        req: CreateKeyRequest,
    ) -> Result<DescribedKey, KmsError> {
        let spec = req
            .key_spec
            .as_deref()
            .or(req.customer_master_key_spec.as_deref())
            .unwrap_or("SYMMETRIC_DEFAULT");
        check_enum("keySpec", spec, KEY_SPECS)?;
        let usage = req.key_usage.as_deref().unwrap_or("ENCRYPT_DECRYPT");
        check_enum("keyUsage", usage, KEY_USAGES)?;
        let origin = req.origin.as_deref().unwrap_or("AWS_KMS");
        check_enum("origin", origin, ORIGINS)?;
        if let Some(id) = &req.custom_key_store_id {
            return Err(KmsError::CustomKeyStoreNotFound { id: id.clone() });
        }
        if req.key_spec.is_some() && req.customer_master_key_spec.is_some() {
            return Err(KmsError::validation(
                "You cannot specify KeySpec and CustomerMasterKeySpec in the same request. CustomerMasterKeySpec parameter is deprecated. Use KeySpec only.",
            ));
        }
        if spec != "SYMMETRIC_DEFAULT" {
            return Err(KmsError::unsupported(format!(
                "KeySpec {spec} is not supported by Kagi yet; only SYMMETRIC_DEFAULT keys can be created."
            )));
        }
        if usage != "ENCRYPT_DECRYPT" {
            return Err(KmsError::validation(format!(
                "KeyUsage {usage} is not compatible with KeySpec SYMMETRIC_DEFAULT"
            )));
        }
        if origin != "AWS_KMS" {
            return Err(KmsError::unsupported(format!(
                "Origin {origin} is not supported by Kagi yet."
            )));
        }
        if req.multi_region {
            return Err(KmsError::unsupported(
                "Multi-Region keys are not supported by Kagi yet.",
            ));
        }
        if req.xks_key_id.is_some() {
            return Err(KmsError::unsupported(
                "External key stores are not supported by Kagi.",
            ));
        }
        let description = req.description.unwrap_or_default();
        check_description(&description)?;
        let tags = super::tags::validated_tags(req.tags, &[])?;
        let bypass = req.bypass_policy_lockout_safety_check;
        let access = Access::to("kms:CreateKey")
            .with("kms:KeySpec", vec![spec.to_string()])
            .with("kms:KeyUsage", vec![usage.to_string()])
            .with("kms:KeyOrigin", vec![origin.to_string()])
            .with("kms:MultiRegion", vec!["false".to_string()])
            .with(
                "kms:BypassPolicyLockoutSafetyCheck",
                vec![bypass.to_string()],
            )
            .with_all(super::tags::request_tag_values(&tags));
        self.authorize_identity(caller, "*", access)?;

        let now = self.now();
        let key_id = KeyId::generate(self.rng.as_ref())?;
        let region = caller.region.clone();
        let arn = self.key_arn(&region, &key_id);
        let (policy, compiled) = match req.policy {
            Some(p) => {
                let compiled = self.check_new_key_policy(caller, &p, &arn, bypass)?;
                (p, compiled)
            }
            None => {
                let p = default_key_policy(&self.account);
                let compiled = self
                    .policies
                    .compile(crate::authz::PolicyKind::Key, &p)
                    .map_err(|_| crate::InternalError::CorruptKey {
                        key: key_id.to_string(),
                        what: "the default key policy does not compile",
                    })?;
                (p, compiled)
            }
        };
        let material = BackingKey::generate(self.rng.as_ref()).map_err(KmsError::crypto)?;
        let wrapped = self
            .root
            .wrap(
                self.rng.as_ref(),
                &backing_key_context(&region, &key_id, 1),
                material.secret(),
            )
            .map_err(KmsError::crypto)?;
        let meta = KeyMetadata {
            region: region.clone(),
            key_id,
            created_at: now,
            description,
            state: KeyState::Enabled,
            deletion_date: None,
            pending_window_days: None,
            policy,
            rotation_period_days: None,
            next_rotation: None,
            tags,
            revision: 1,
        };
        let version = StoredVersion {
            version: 1,
            created_at: now,
            rotation: None,
            wrapped,
        };
        self.store.apply(vec![
            Write::PutKey(meta.clone()),
            Write::AddVersion {
                region: region.clone(),
                key_id,
                version: version.clone(),
            },
        ])?;
        let entry = Arc::new(KeyEntry {
            arn,
            policy: Some(compiled),
            meta,
            versions: vec![(version, material)],
        });
        // A new key: no other node can have changed it yet.
        self.cache.put_key(self.cache.generation(), entry.clone());
        Ok(DescribedKey::from(entry.as_ref()))
    }

    pub fn describe_key(
        &self,
        caller: &Caller,
        key_id: &str,
        grant_tokens: &[String],
    ) -> Result<DescribedKey, KmsError> {
        self.check_grant_tokens(&caller.region, grant_tokens)?;
        let access = Access::to("kms:DescribeKey");
        let e = self.resolve_authorized(caller, key_id, Aliases::Allowed, access)?;
        Ok(DescribedKey::from(e.as_ref()))
    }

    pub fn list_keys(
        &self,
        caller: &Caller,
        limit: Option<i64>,
        marker: Option<&str>,
    ) -> Result<ListKeysResponse, KmsError> {
        let limit = page_limit(limit, 100, 1000)?;
        self.authorize_identity(caller, "*", Access::to("kms:ListKeys"))?;
        let after = parse_marker(marker, KeyId::parse)?;
        let mut ids = self
            .store
            .list_keys(&caller.region, after.as_ref(), limit + 1)?;
        let next_marker = if ids.len() > limit {
            ids.truncate(limit);
            ids.last().map(|k| k.to_string())
        } else {
            None
        };
        Ok(ListKeysResponse {
            keys: ids
                .into_iter()
                .map(|key_id| KeyListEntry {
                    arn: self.key_arn(&caller.region, &key_id),
                    key_id,
                })
                .collect(),
            next_marker,
        })
    }

    pub fn enable_key(&self, caller: &Caller, key_id: &str) -> Result<(), KmsError> {
        let access = Access::to("kms:EnableKey");
        self.mutate_key(caller, key_id, Aliases::Refused, access, |e, meta| {
            require_not_pending_deletion(e)?;
            meta.state = KeyState::Enabled;
            Ok(())
        })
        .map(drop)
    }

    pub fn disable_key(&self, caller: &Caller, key_id: &str) -> Result<(), KmsError> {
        let access = Access::to("kms:DisableKey");
        self.mutate_key(caller, key_id, Aliases::Refused, access, |e, meta| {
            require_not_pending_deletion(e)?;
            meta.state = KeyState::Disabled;
            Ok(())
        })
        .map(drop)
    }

    pub fn update_key_description(
        &self,
        caller: &Caller,
        key_id: &str,
        description: String,
    ) -> Result<(), KmsError> {
        check_description(&description)?;
        let access = Access::to("kms:UpdateKeyDescription");
        self.mutate_key(caller, key_id, Aliases::Refused, access, |e, meta| {
            require_not_pending_deletion(e)?;
            meta.description = description.clone();
            Ok(())
        })
        .map(drop)
    }

    pub fn schedule_key_deletion(
        &self,
        caller: &Caller,
        key_id: &str,
        pending_window_days: Option<i64>,
    ) -> Result<ScheduledDeletion, KmsError> {
        let days = pending_window_days.unwrap_or(30);
        check_range("pendingWindowInDays", days, 7, 30)?;
        let days = days as u32;
        let now = self.now();
        let access = Access::to("kms:ScheduleKeyDeletion").with(
            "kms:ScheduleKeyDeletionPendingWindowInDays",
            vec![days.to_string()],
        );
        let e = self.mutate_key(caller, key_id, Aliases::Refused, access, |e, meta| {
            require_not_pending_deletion(e)?;
            meta.state = KeyState::PendingDeletion;
            meta.deletion_date = Some(now.plus_days(days));
            meta.pending_window_days = Some(days);
            Ok(())
        })?;
        Ok(ScheduledDeletion {
            arn: e.arn.clone(),
            deletion_date: e.meta.deletion_date.unwrap_or(now.plus_days(days)),
            pending_window_days: days,
        })
    }

    /// Returns the key's ARN; the key ends `Disabled`, as in AWS.
    pub fn cancel_key_deletion(&self, caller: &Caller, key_id: &str) -> Result<String, KmsError> {
        let access = Access::to("kms:CancelKeyDeletion");
        let e = self.mutate_key(caller, key_id, Aliases::Refused, access, |e, meta| {
            if e.meta.state != KeyState::PendingDeletion {
                return Err(KmsError::NotPendingDeletion { arn: e.arn.clone() });
            }
            meta.state = KeyState::Disabled;
            meta.deletion_date = None;
            meta.pending_window_days = None;
            Ok(())
        })?;
        Ok(e.arn.clone())
    }
}

fn check_description(d: &str) -> Result<(), KmsError> {
    if d.chars().count() > MAX_DESCRIPTION_CHARS {
        return Err(constraint(
            "description",
            "<description>",
            &format!("have length less than or equal to {MAX_DESCRIPTION_CHARS}"),
        ));
    }
    Ok(())
}
