//! `cargo xtask <task>`: the project's automation, in Rust so it runs wherever cargo does.
//!
//! - `test`: the whole test suite (cargo tests, then the Python/boto3/AWS CLI suite against
//!   the real binary). This is the command the README names and CI runs.
//! - `bench`: the load and memory benchmarks; prints the figures for docs/benchmarks.md.

mod bench;
mod test;
mod tidy;

use anyhow::{bail, Result};
use std::path::PathBuf;

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("test") => test::run(&args[1..]),
        Some("bench") => bench::run(&args[1..]),
        _ => bail!("usage: cargo xtask <test|bench> [options]"),
    }
}

/// The workspace root (xtask lives one level below it). Read at run time: `cargo run` sets
/// `CARGO_MANIFEST_DIR` for the process, whereas the compile-time value would point at
/// whichever checkout last built xtask into a shared target directory.
pub fn workspace_root() -> PathBuf {
    let manifest_dir = std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")));
    manifest_dir
        .parent()
        .expect("xtask is inside the workspace") // invariant: the manifest dir is <root>/xtask
        .to_path_buf()
}
