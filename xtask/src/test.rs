//! `cargo xtask test`: the whole test suite, in stages.
//!
//! 1. `cargo test --workspace --all-features` (all features: the fuzzing entry points are
//!    tested too; skipped with `--python-only`);
//! 2. `cargo build -p kagi`, then the binary is found in the target dir
//!    (`$CARGO_TARGET_DIR`, else `<root>/target`);
//! 3. a Python venv with `tests/python/requirements.txt` installed: `$KAGI_VENV`, else
//!    `~/.cache/kagi/venv-<hash of requirements.txt>`, reused only when the marker file
//!    written after a successful `pip install` names the same requirements hash;
//! 4. `python -m pytest tests/python -q` with `KAGI_BIN` set. pytest's exit code 5
//!    ("no tests collected") is a failure: a suite that ran nothing did not pass.
//!
//! Arguments after `--` go to pytest (`cargo xtask test --python-only -- -k cli`).
//! Every stage prints one summary line; nothing reads stdin. This module only
//! orchestrates: the tests themselves live in the crates and in `tests/python/`.

use anyhow::{bail, Context, Result};
use std::ffi::OsString;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::Instant;

use crate::workspace_root;

const USAGE: &str = "usage: cargo xtask test [--python-only] [-- <pytest args>]";
const REQUIREMENTS: &str = "tests/python/requirements.txt";
const MARKER: &str = ".kagi-requirements-installed";
/// pytest's exit code when it collected no tests.
const PYTEST_NO_TESTS: i32 = 5;

struct Options {
    python_only: bool,
    pytest_args: Vec<String>,
}

impl Options {
    fn parse(args: &[String]) -> Result<Options> {
        let mut options = Options {
            python_only: false,
            pytest_args: Vec::new(),
        };
        let mut rest = args.iter();
        while let Some(arg) = rest.next() {
            match arg.as_str() {
                "--python-only" => options.python_only = true,
                "--" => {
                    options.pytest_args = rest.cloned().collect();
                    break;
                }
                "-h" | "--help" => {
                    println!("{USAGE}");
                    std::process::exit(0);
                }
                other => bail!("unknown option {other:?}\n{USAGE}"),
            }
        }
        Ok(options)
    }
}

/// What happened to each stage, printed again at the end.
#[derive(Default)]
struct Summary {
    lines: Vec<String>,
}

impl Summary {
    fn record(&mut self, ok: bool, stage: &str, started: Instant, detail: &str) {
        let status = if ok { "ok  " } else { "FAIL" };
        let mut line = format!(
            "[{status}] {stage} ({:.1}s)",
            started.elapsed().as_secs_f64()
        );
        if !detail.is_empty() {
            let _ = write!(line, ": {detail}");
        }
        println!("xtask test: {line}");
        self.lines.push(line);
    }

    fn print(&self) {
        println!("\nxtask test summary:");
        for line in &self.lines {
            println!("  {line}");
        }
    }
}

pub fn run(args: &[String]) -> Result<()> {
    let options = Options::parse(args)?;
    let root = workspace_root();
    let mut summary = Summary::default();
    let result = run_stages(&options, &root, &mut summary);
    summary.print();
    result
}

fn run_stages(options: &Options, root: &Path, summary: &mut Summary) -> Result<()> {
    if options.python_only {
        println!("xtask test: [skip] cargo test --workspace --all-features (--python-only)");
    } else {
        stage(summary, "cargo test --workspace --all-features", || {
            let status = cargo(root)
                .args(["test", "--workspace", "--all-features"])
                .status()
                .context("running cargo test")?;
            check(status, "cargo test --workspace --all-features")?;
            Ok(String::new())
        })?;
    }

    let mut binary = PathBuf::new();
    stage(summary, "cargo build -p kagi", || {
        let status = cargo(root)
            .args(["build", "-p", "kagi"])
            .status()
            .context("running cargo build")?;
        check(status, "cargo build -p kagi")?;
        binary = kagi_binary(root)?;
        Ok(binary.display().to_string())
    })?;

    let mut python = PathBuf::new();
    stage(summary, "python venv", || {
        let (venv, detail) = ensure_venv(root)?;
        python = venv_python(&venv);
        Ok(detail)
    })?;

    stage(summary, "pytest tests/python", || {
        let status = Command::new(&python)
            .args(["-m", "pytest", "tests/python", "-q"])
            .args(&options.pytest_args)
            .env("KAGI_BIN", &binary)
            .current_dir(root)
            .stdin(Stdio::null())
            .status()
            .with_context(|| format!("running {} -m pytest", python.display()))?;
        if status.code() == Some(PYTEST_NO_TESTS) {
            bail!("pytest collected no tests (exit code 5)");
        }
        check(status, "pytest")?;
        Ok(String::new())
    })
}

/// Runs one stage and records its outcome; the error (if any) is passed on.
fn stage(summary: &mut Summary, name: &str, body: impl FnOnce() -> Result<String>) -> Result<()> {
    println!("xtask test: --- {name}");
    let started = Instant::now();
    match body() {
        Ok(detail) => {
            summary.record(true, name, started, &detail);
            Ok(())
        }
        Err(err) => {
            summary.record(false, name, started, &format!("{err:#}"));
            Err(err.context(format!("stage `{name}` failed")))
        }
    }
}

fn check(status: ExitStatus, what: &str) -> Result<()> {
    if status.success() {
        Ok(())
    } else {
        bail!("{what} failed ({status})")
    }
}

/// The cargo that runs us (`$CARGO`), with inherited stdout/stderr and no stdin.
fn cargo(root: &Path) -> Command {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| OsString::from("cargo"));
    let mut command = Command::new(cargo);
    command.current_dir(root).stdin(Stdio::null());
    command
}

fn target_dir(root: &Path) -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        // cargo reads a relative CARGO_TARGET_DIR against its working directory, the root.
        Some(dir) if !dir.is_empty() => root.join(dir),
        _ => root.join("target"),
    }
}

fn kagi_binary(root: &Path) -> Result<PathBuf> {
    let name = if cfg!(windows) { "kagi.exe" } else { "kagi" };
    let path = target_dir(root).join("debug").join(name);
    if !path.is_file() {
        bail!(
            "cargo build succeeded but {} does not exist",
            path.display()
        );
    }
    Ok(path)
}

/// Creates or reuses the venv; returns it and a one-line description.
fn ensure_venv(root: &Path) -> Result<(PathBuf, String)> {
    let requirements = root.join(REQUIREMENTS);
    let contents =
        fs::read(&requirements).with_context(|| format!("reading {}", requirements.display()))?;
    let hash = requirements_hash(&contents);

    let (venv, is_cache) = match std::env::var_os("KAGI_VENV") {
        Some(dir) if !dir.is_empty() => (PathBuf::from(dir), false),
        _ => {
            let home = std::env::var_os("HOME").context("neither KAGI_VENV nor HOME is set")?;
            (
                PathBuf::from(home)
                    .join(".cache/kagi")
                    .join(format!("venv-{hash}")),
                true,
            )
        }
    };

    let marker = venv.join(MARKER);
    let python = venv_python(&venv);
    if python.is_file() && fs::read_to_string(&marker).is_ok_and(|m| m.trim() == hash) {
        return Ok((venv.clone(), format!("reused {}", venv.display())));
    }

    // A marker-less venv is a half-finished install. Our own cache dir is rebuilt from
    // scratch; a user's $KAGI_VENV is only installed into, never wiped.
    let _ = fs::remove_file(&marker);
    let mut create = Command::new("python3");
    create.arg("-m").arg("venv");
    if is_cache && venv.exists() {
        create.arg("--clear");
    }
    let status = create
        .arg(&venv)
        .stdin(Stdio::null())
        .status()
        .context("running python3 -m venv (is python3 installed?)")?;
    check(status, "python3 -m venv")?;

    let status = Command::new(&python)
        .args([
            "-m",
            "pip",
            "install",
            "--disable-pip-version-check",
            "--no-input",
            "-r",
        ])
        .arg(&requirements)
        .stdin(Stdio::null())
        .status()
        .context("running pip install")?;
    check(status, "pip install -r tests/python/requirements.txt")?;
    fs::write(&marker, format!("{hash}\n"))
        .with_context(|| format!("writing {}", marker.display()))?;
    Ok((venv.clone(), format!("installed into {}", venv.display())))
}

fn venv_python(venv: &Path) -> PathBuf {
    if cfg!(windows) {
        venv.join("Scripts").join("python.exe")
    } else {
        venv.join("bin").join("python")
    }
}

/// First 12 hex digits of the 64-bit FNV-1a hash of the requirements file: stable
/// across Rust releases (unlike `DefaultHasher`), and enough to key a cache dir.
fn requirements_hash(bytes: &[u8]) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("{hash:016x}")[..12].to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv1a_known_answers() {
        // Published FNV-1a 64 test vectors.
        assert_eq!(requirements_hash(b""), "cbf29ce48422");
        assert_eq!(requirements_hash(b"a"), "af63dc4c8601");
        assert_eq!(requirements_hash(b"foobar"), "85944171f739");
    }

    #[test]
    fn options() {
        let args = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let o = Options::parse(&args(&["--python-only", "--", "-k", "cli"])).unwrap();
        assert!(o.python_only);
        assert_eq!(o.pytest_args, ["-k", "cli"]);
        assert!(Options::parse(&args(&["--bogus"])).is_err());
        assert!(!Options::parse(&[]).unwrap().python_only);
    }
}
