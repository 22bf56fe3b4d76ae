//! Whole files made durable beside the log: index segments, sealed log and digest files,
//! checkpoints. Each is written to a temporary name, synced, renamed over its own name and
//! its directory synced, so a crash leaves either the old file or the new one.
//!
//! A large file is written and synced in steps of [`STEP`] bytes. The log's writer syncs
//! its segment while these files are written, and that sync waits behind whatever else is
//! on its way to the same device: a cache flush covers every write issued before it, and a
//! journalling file system may first write out other files' data. A 10 MiB index segment
//! written and synced in one go held a concurrent log sync, and every request waiting on
//! it, for 20–25 ms (`perf trace`, docs/benchmarks.md); in steps, at most one step is in
//! flight when the log syncs.

use std::fs::File;
use std::io::{self, Write};
use std::path::Path;

/// Bytes written between two syncs of a file being made durable.
pub const STEP: usize = 256 << 10;

/// Writes `bytes` to `dir/tmp_name` in synced steps, renames it to `dir/name` and syncs
/// `dir`. A failed write (a full disk) removes the temporary file, so that retrying does
/// not fill the disk further.
pub fn replace(dir: &Path, name: &str, tmp_name: &str, bytes: &[u8]) -> io::Result<()> {
    let tmp = dir.join(tmp_name);
    if let Err(e) = write_synced(&tmp, bytes) {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    std::fs::rename(&tmp, dir.join(name))?;
    sync_dir(dir)
}

/// Makes `dir`'s entries (a file created, renamed or removed in it) durable.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

fn write_synced(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut f = File::create(path)?;
    let mut chunks = bytes.chunks(STEP).peekable();
    while let Some(chunk) = chunks.next() {
        f.write_all(chunk)?;
        if chunks.peek().is_some() {
            f.sync_data()?;
        }
    }
    f.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_files_of_any_size_and_leaves_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        for len in [0, 1, STEP - 1, STEP, STEP + 1, 3 * STEP + 17] {
            let bytes: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
            replace(dir.path(), "f", "f.tmp", &bytes).unwrap();
            assert_eq!(
                std::fs::read(dir.path().join("f")).unwrap(),
                bytes,
                "{len} bytes"
            );
            assert!(!dir.path().join("f.tmp").exists());
        }
    }

    #[test]
    fn a_failed_write_keeps_the_old_file() {
        let dir = tempfile::tempdir().unwrap();
        replace(dir.path(), "f", "f.tmp", b"old").unwrap();
        // A temporary name inside a missing directory cannot be created.
        assert!(replace(dir.path(), "f", "missing/f.tmp", b"new").is_err());
        assert_eq!(std::fs::read(dir.path().join("f")).unwrap(), b"old");
    }
}
