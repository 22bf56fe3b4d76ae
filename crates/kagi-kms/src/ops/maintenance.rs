//! What Kagi does by itself, without a caller: destroying keys whose deletion window has
//! passed and rotating keys whose automatic rotation is due. The binary calls
//! [`Kms::run_maintenance`] periodically; time comes from the injected clock, so tests
//! drive it by moving a `ManualClock`.

use crate::model::{KeyState, RotationType};
use crate::{InternalError, KeyId, Kms, KmsError, Region, StoreError, Write};

/// What one maintenance pass did (each item becomes an `AwsServiceEvent` in the audit log).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct MaintenanceReport {
    pub deleted: Vec<(Region, KeyId)>,
    pub rotated: Vec<(Region, KeyId)>,
}

impl Kms {
    /// One maintenance pass, if this node holds the store's maintenance lease (a store of
    /// one node always grants it). Each key is re-read from the store, not the cache, and
    /// changed only at the revision read: should two nodes ever run a pass at once, one of
    /// them finds its write stale and skips the key, so nothing is deleted or rotated
    /// twice.
    pub fn run_maintenance(&self) -> Result<MaintenanceReport, KmsError> {
        let mut report = MaintenanceReport::default();
        if !self.store.maintenance_lease()? {
            return Ok(report);
        }
        let now = self.now();
        for (region, id) in self.store.due_for_deletion(now)? {
            let _guard = self.lock(id.as_bytes());
            let Some(entry) = self.stored_entry(&region, &id)? else {
                continue;
            };
            let due = entry.meta.state == KeyState::PendingDeletion
                && entry.meta.deletion_date.is_some_and(|d| d <= now);
            if !due {
                continue;
            }
            let destroyed = self.store.apply(vec![Write::DestroyKey {
                region: region.clone(),
                key_id: id,
                revision: entry.meta.revision,
            }]);
            self.cache.remove_key(&region, &id);
            match destroyed {
                Ok(()) => report.deleted.push((region, id)),
                Err(StoreError::Stale) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        for (region, id) in self.store.due_for_rotation(now)? {
            let _guard = self.lock(id.as_bytes());
            let Some(entry) = self.stored_entry(&region, &id)? else {
                continue;
            };
            // Disabled keys are not rotated; they rotate on the first pass after re-enabling.
            let (Some(next), Some(period)) =
                (entry.meta.next_rotation, entry.meta.rotation_period_days)
            else {
                continue;
            };
            if entry.meta.state != KeyState::Enabled || next > now {
                continue;
            }
            let mut meta = entry.meta.clone();
            meta.next_rotation = Some(now.plus_days(period));
            match self.add_version(&entry, meta, RotationType::Automatic) {
                Ok(_) => report.rotated.push((region, id)),
                Err(KmsError::Internal(InternalError::Store(StoreError::Stale))) => {
                    self.cache.forget_key(&region, &id);
                }
                Err(e) => return Err(e),
            }
        }
        Ok(report)
    }
}
