//! `cargo xtask <task>`: the project's automation, in Rust so it runs wherever cargo does.
//!
//! - `test`: the whole test suite (cargo tests, then the Python/boto3/AWS CLI suite against
//!   the real binary). This is the command the README names and CI runs.
//! - `bench`: the load and memory benchmarks; prints the figures for docs/benchmarks.md.

mod bench;
mod test;

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

/// The workspace root (xtask lives one level below it).
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask is inside the workspace") // invariant: CARGO_MANIFEST_DIR is <root>/xtask
        .to_path_buf()
}
