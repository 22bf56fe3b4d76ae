//! Key rotation: EnableKeyRotation, DisableKeyRotation, GetKeyRotationStatus,
//! RotateKeyOnDemand, ListKeyRotations. Rotation adds a backing-key version: new
//! encryptions use it, every older version keeps decrypting.

use super::{
    backing_key_context, check_range, page_limit, parse_marker, require_enabled, Access, Aliases,
};
use crate::cache::KeyEntry;
use crate::model::{KeyMetadata, KeyState, RotationType, StoredVersion};
use crate::{Caller, Kms, KmsError, Timestamp, Write};
use kagi_crypto::BackingKey;
use std::sync::Arc;

pub const DEFAULT_ROTATION_PERIOD_DAYS: u32 = 365;
/// AWS's quota of on-demand rotations per key.
pub const MAX_ON_DEMAND_ROTATIONS: usize = 25;

#[derive(Debug, Clone)]
pub struct RotationStatus {
    pub key_arn: String,
    pub enabled: bool,
    pub period_days: Option<u32>,
    pub next_rotation: Option<Timestamp>,
}

#[derive(Debug, Clone)]
pub struct RotationEntry {
    pub key_arn: String,
    pub rotation_date: Timestamp,
    pub rotation_type: RotationType,
}

#[derive(Debug, Clone)]
pub struct ListRotationsResponse {
    pub rotations: Vec<RotationEntry>,
    pub next_marker: Option<String>,
}

impl Kms {
    /// Adds a backing version to `current` (whose lock the caller holds) and writes
    /// `meta` (as the next revision of `current`) in the same atomic batch.
    pub(crate) fn add_version(
        &self,
        current: &KeyEntry,
        mut meta: KeyMetadata,
        rotation: RotationType,
    ) -> Result<Arc<KeyEntry>, KmsError> {
        meta.revision = current.meta.revision + 1;
        let next = current.versions.last().map_or(1, |(v, _)| v.version + 1);
        let material = BackingKey::generate(self.rng.as_ref()).map_err(KmsError::crypto)?;
        let wrapped = self
            .root
            .wrap(
                self.rng.as_ref(),
                &backing_key_context(&meta.region, &meta.key_id, next),
                material.secret(),
            )
            .map_err(KmsError::crypto)?;
        let version = StoredVersion {
            version: next,
            created_at: self.now(),
            rotation: Some(rotation),
            wrapped,
        };
        // The revision check first: a stale copy must fail as stale, not as a version that
        // another node already added.
        let before = self.cache.generation();
        self.store.apply(vec![
            Write::PutKey(meta.clone()),
            Write::AddVersion {
                region: meta.region.clone(),
                key_id: meta.key_id,
                version: version.clone(),
            },
        ])?;
        let mut versions = current.versions.clone();
        versions.push((version, material));
        let updated = Arc::new(KeyEntry {
            arn: current.arn.clone(),
            policy: current.policy.clone(),
            meta,
            versions,
        });
        self.cache.put_key(before, updated.clone());
        Ok(updated)
    }

    pub fn enable_key_rotation(
        &self,
        caller: &Caller,
        key_id: &str,
        period_days: Option<i64>,
    ) -> Result<(), KmsError> {
        let days = period_days.unwrap_or(i64::from(DEFAULT_ROTATION_PERIOD_DAYS));
        check_range("rotationPeriodInDays", days, 90, 2560)?;
        let days = days as u32;
        let now = self.now();
        let access = Access::to("kms:EnableKeyRotation")
            .with("kms:RotationPeriodInDays", vec![days.to_string()]);
        self.mutate_key(caller, key_id, Aliases::Refused, access, |e, meta| {
            require_enabled(e)?;
            // Re-enabling with the same period keeps the schedule; a new period restarts it.
            if meta.rotation_period_days != Some(days) || meta.next_rotation.is_none() {
                meta.rotation_period_days = Some(days);
                meta.next_rotation = Some(now.plus_days(days));
            }
            Ok(())
        })
        .map(drop)
    }

    pub fn disable_key_rotation(&self, caller: &Caller, key_id: &str) -> Result<(), KmsError> {
        let access = Access::to("kms:DisableKeyRotation");
        self.mutate_key(caller, key_id, Aliases::Refused, access, |e, meta| {
            require_enabled(e)?;
            meta.rotation_period_days = None;
            meta.next_rotation = None;
            Ok(())
        })
        .map(drop)
    }

    pub fn get_key_rotation_status(
        &self,
        caller: &Caller,
        key_id: &str,
    ) -> Result<RotationStatus, KmsError> {
        let access = Access::to("kms:GetKeyRotationStatus");
        let e = self.resolve_authorized(caller, key_id, Aliases::Refused, access)?;
        // AWS: while a key is pending deletion its rotation status is false; cancelling the
        // deletion restores it, so the schedule stays in the metadata and is only hidden.
        if e.meta.state == KeyState::PendingDeletion {
            return Ok(RotationStatus {
                key_arn: e.arn.clone(),
                enabled: false,
                period_days: None,
                next_rotation: None,
            });
        }
        Ok(RotationStatus {
            key_arn: e.arn.clone(),
            enabled: e.meta.next_rotation.is_some(),
            period_days: e.meta.rotation_period_days,
            next_rotation: e.meta.next_rotation,
        })
    }

    /// Rotates now; returns the key ARN. The automatic schedule is unchanged, as in AWS.
    pub fn rotate_key_on_demand(&self, caller: &Caller, key_id: &str) -> Result<String, KmsError> {
        let id = self.resolve_id(caller, key_id, Aliases::Refused)?;
        let _guard = self.lock(id.as_bytes());
        self.retry_stale(&caller.region, &id, || {
            self.rotate_on_demand_once(caller, key_id)
        })
    }

    fn rotate_on_demand_once(&self, caller: &Caller, key_id: &str) -> Result<String, KmsError> {
        let access = Access::to("kms:RotateKeyOnDemand");
        let current = self.resolve_authorized(caller, key_id, Aliases::Refused, access)?;
        require_enabled(&current)?;
        let on_demand = current
            .versions
            .iter()
            .filter(|(v, _)| v.rotation == Some(RotationType::OnDemand))
            .count();
        if on_demand >= MAX_ON_DEMAND_ROTATIONS {
            return Err(KmsError::LimitExceeded {
                message: format!(
                    "The on-demand rotation quota ({MAX_ON_DEMAND_ROTATIONS}) for {} has been reached.",
                    current.arn
                ),
            });
        }
        let updated = self.add_version(&current, current.meta.clone(), RotationType::OnDemand)?;
        Ok(updated.arn.clone())
    }

    pub fn list_key_rotations(
        &self,
        caller: &Caller,
        key_id: &str,
        limit: Option<i64>,
        marker: Option<&str>,
    ) -> Result<ListRotationsResponse, KmsError> {
        let limit = page_limit(limit, 100, 1000)?;
        let access = Access::to("kms:ListKeyRotations");
        let e = self.resolve_authorized(caller, key_id, Aliases::Refused, access)?;
        let all: Vec<RotationEntry> = e
            .versions
            .iter()
            .filter_map(|(v, _)| {
                v.rotation.map(|rotation_type| RotationEntry {
                    key_arn: e.arn.clone(),
                    rotation_date: v.created_at,
                    rotation_type,
                })
            })
            .collect();
        // A marker is an offset this operation handed out; one past the end is not one.
        let ours = |m: &str| m.parse::<usize>().ok().filter(|&s| s <= all.len());
        let start = parse_marker(marker, ours)?.unwrap_or(0);
        let end = (start + limit).min(all.len());
        Ok(ListRotationsResponse {
            rotations: all.get(start..end).map(<[_]>::to_vec).unwrap_or_default(),
            next_marker: (end < all.len()).then(|| end.to_string()),
        })
    }
}
