//! `cargo xtask bench [kagi-bench options]`: builds `kagi` and `kagi-bench` in release,
//! then runs the benchmark against that `kagi`, passing every argument through
//! (`cargo xtask bench --quick`, `--duration 5s`, `--keys 20000`; `--help` lists them).
//!
//! The Markdown report goes to stdout (paste it into docs/benchmarks.md), progress to
//! stderr. The report names the code measured (`git describe --always --dirty`) unless
//! `--revision` is given. Measuring is `kagi-bench`'s job; this only builds and runs it.

use anyhow::{bail, Context, Result};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::workspace_root;

pub fn run(args: &[String]) -> Result<()> {
    let root = workspace_root();
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| OsString::from("cargo"));
    eprintln!("xtask bench: cargo build --release -p kagi -p kagi-bench");
    let status = Command::new(cargo)
        .args(["build", "--release", "-p", "kagi", "-p", "kagi-bench"])
        .current_dir(&root)
        .stdin(Stdio::null())
        .status()
        .context("running cargo build --release")?;
    if !status.success() {
        bail!("cargo build --release -p kagi -p kagi-bench failed ({status})");
    }

    let release = target_dir(&root).join("release");
    let (kagi, bench) = (release.join("kagi"), release.join("kagi-bench"));
    for binary in [&kagi, &bench] {
        if !binary.is_file() {
            bail!(
                "the release build succeeded but {} does not exist",
                binary.display()
            );
        }
    }
    let mut command = Command::new(&bench);
    command.arg("--kagi").arg(&kagi);
    if !args.iter().any(|a| a == "--revision") {
        if let Some(revision) = git_revision(&root) {
            command.args(["--revision", &revision]);
        }
    }
    let status = command
        .args(args)
        .current_dir(&root)
        .stdin(Stdio::null())
        .status()
        .with_context(|| format!("running {}", bench.display()))?;
    if !status.success() {
        bail!("kagi-bench failed ({status})");
    }
    Ok(())
}

/// `$CARGO_TARGET_DIR` (relative to the root, as cargo reads it there), else `<root>/target`.
fn target_dir(root: &Path) -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) if !dir.is_empty() => root.join(dir),
        _ => root.join("target"),
    }
}

/// The commit measured, `-dirty` when the work tree has changes; `None` outside git.
fn git_revision(root: &Path) -> Option<String> {
    let out = Command::new("git")
        .args(["describe", "--always", "--dirty"])
        .current_dir(root)
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    let revision = String::from_utf8(out.stdout).ok()?.trim().to_string();
    (out.status.success() && !revision.is_empty()).then_some(revision)
}
