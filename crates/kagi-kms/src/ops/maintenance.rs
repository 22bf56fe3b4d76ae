//! What Kagi does by itself, without a caller: destroying keys whose deletion window has
//! passed and rotating keys whose automatic rotation is due. The binary calls
//! [`Kms::run_maintenance`] periodically; time comes from the injected clock, so tests
//! drive it by moving a `ManualClock`.

use crate::model::{KeyState, RotationType};
use crate::{KeyId, Kms, KmsError, Region, Write};

/// What one maintenance pass did (each item becomes an `AwsServiceEvent` in the audit log).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct MaintenanceReport {
    pub deleted: Vec<(Region, KeyId)>,
    pub rotated: Vec<(Region, KeyId)>,
}

impl Kms {
    pub fn run_maintenance(&self) -> Result<MaintenanceReport, KmsError> {
        let now = self.now();
        let mut report = MaintenanceReport::default();
        for (region, id) in self.store.due_for_deletion(now)? {
            let _guard = self.lock(id.as_bytes());
            let Some(entry) = self.entry(&region, &id)? else {
                continue;
            };
            let due = entry.meta.state == KeyState::PendingDeletion
                && entry.meta.deletion_date.is_some_and(|d| d <= now);
            if !due {
                continue;
            }
            self.store.apply(vec![Write::DestroyKey {
                region: region.clone(),
                key_id: id,
            }])?;
            self.cache.remove_key(&region, &id);
            report.deleted.push((region, id));
        }
        for (region, id) in self.store.due_for_rotation(now)? {
            let _guard = self.lock(id.as_bytes());
            let Some(entry) = self.entry(&region, &id)? else {
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
            self.add_version(&entry, meta, RotationType::Automatic)?;
            report.rotated.push((region, id));
        }
        Ok(report)
    }
}
