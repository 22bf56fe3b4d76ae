//! The disk's own sync latency under load: a floor for what durable auditing adds.
//!
//! Every durable answer waits for at least one `fdatasync` of the audit log (group commit:
//! the one its event was written in, and usually the rest of the one in flight before it).
//! So the durable server's p99 cannot be lower than the p99 of the syncs this disk does
//! while the machine carries the same load. [`SyncProbe`] measures those syncs without
//! Kagi's log: a thread appends [`WRITE`] bytes to a file and syncs, in a loop, while the
//! benchmark drives the no-audit server.

use crate::histogram::Histogram;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Bytes appended before each sync: about one group commit of the durable server at the
/// open-loop rate (a few dozen events of ~900 bytes).
pub const WRITE: usize = 32 << 10;
/// Pause between syncs, so that the probe is a light load of its own.
pub const PAUSE: Duration = Duration::from_millis(2);
/// The probe file is cut back to empty once it reaches this size.
const MAX_FILE: u64 = 64 << 20;

/// A running probe; [`SyncProbe::finish`] stops it and returns what it measured.
pub struct SyncProbe {
    stop: Arc<AtomicBool>,
    handle: JoinHandle<std::io::Result<Histogram>>,
    path: PathBuf,
}

impl SyncProbe {
    /// Starts appending and syncing `dir/sync-probe.dat`; syncs that start before
    /// `record_from` (a warm-up) are not recorded.
    pub fn start(dir: &Path, record_from: Instant) -> std::io::Result<Self> {
        let path = dir.join("sync-probe.dat");
        let file = OpenOptions::new()
            .create(true)
            .truncate(true)
            .write(true)
            .open(&path)?;
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let handle = std::thread::Builder::new()
            .name("sync-probe".into())
            .spawn(move || run(file, &flag, record_from))?;
        Ok(Self { stop, handle, path })
    }

    /// Stops the probe, removes its file and returns the latency of each write + sync, in µs.
    pub fn finish(self) -> anyhow::Result<Histogram> {
        self.stop.store(true, Ordering::Relaxed);
        let syncs = self
            .handle
            .join()
            .map_err(|_| anyhow::anyhow!("the sync probe panicked"))??;
        std::fs::remove_file(&self.path)?;
        Ok(syncs)
    }
}

fn run(mut file: File, stop: &AtomicBool, record_from: Instant) -> std::io::Result<Histogram> {
    let block = vec![0x5a_u8; WRITE];
    let mut syncs = Histogram::default();
    let mut len = 0u64;
    while !stop.load(Ordering::Relaxed) {
        if len >= MAX_FILE {
            file.set_len(0)?;
            file.sync_all()?;
            len = 0;
        }
        let started = Instant::now();
        file.write_all(&block)?;
        file.sync_data()?;
        if started >= record_from {
            syncs.record(started.elapsed().as_micros() as u64);
        }
        len += WRITE as u64;
        std::thread::sleep(PAUSE);
    }
    Ok(syncs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_syncs_after_the_warm_up_and_cleans_up() {
        let dir = tempfile::tempdir().unwrap();
        let probe = SyncProbe::start(dir.path(), Instant::now()).unwrap();
        std::thread::sleep(Duration::from_millis(100));
        let syncs = probe.finish().unwrap();
        assert!(syncs.count() > 0);
        assert!(syncs.quantile(0.5).is_some());
        assert!(!dir.path().join("sync-probe.dat").exists());

        let later = Instant::now() + Duration::from_secs(3600);
        let probe = SyncProbe::start(dir.path(), later).unwrap();
        std::thread::sleep(Duration::from_millis(50));
        assert_eq!(probe.finish().unwrap().count(), 0);
    }
}
