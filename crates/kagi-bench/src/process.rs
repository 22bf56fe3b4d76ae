//! Child processes and what Linux says about them: the server under test and the ceiling
//! server run as children so each has its own pid, whose CPU time (`/proc/<pid>/stat`) and
//! resident memory (`/proc/<pid>/status`) are read here.
//!
//! [`ServerProcess`] kills its child when dropped, so an error or a panic anywhere in the
//! benchmark leaves no server behind. Stopping gracefully sends SIGTERM through `kill(1)`
//! (the workspace forbids `unsafe`, which a direct `kill(2)` call would need).
//! Linux only; nothing here works from a container without `/proc`.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

/// Clock ticks per second for `/proc/<pid>/stat` times (`getconf CLK_TCK`; 100 on Linux
/// unless the kernel says otherwise).
pub fn clock_ticks_per_second() -> u64 {
    static TICKS: OnceLock<u64> = OnceLock::new();
    *TICKS.get_or_init(|| {
        Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|out| String::from_utf8(out.stdout).ok())
            .and_then(|s| s.trim().parse().ok())
            .filter(|&t| t > 0)
            .unwrap_or(100)
    })
}

/// utime + stime of a process (all its threads, living and exited), in clock ticks.
/// `pid` is a number or `self`.
fn cpu_ticks(pid: &str) -> Result<u64> {
    Ok(stat_ticks(&format!("/proc/{pid}/stat"))?.1)
}

/// The command name and utime + stime (clock ticks) of a `/proc/…/stat` file.
fn stat_ticks(path: &str) -> Result<(String, u64)> {
    let stat = std::fs::read_to_string(path).with_context(|| format!("reading {path}"))?;
    // The command name (field 2) is in parentheses and may hold spaces: split after it.
    let (head, rest) = stat
        .rsplit_once(')')
        .with_context(|| format!("{path}: no command name"))?;
    let name = head
        .split_once('(')
        .map_or("", |(_, name)| name)
        .to_string();
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // `rest` starts at field 3 (state); utime and stime are fields 14 and 15.
    let field = |n: usize| -> Result<u64> {
        fields
            .get(n - 3)
            .and_then(|f| f.parse().ok())
            .with_context(|| format!("{path}: field {n} missing"))
    };
    Ok((name, field(14)? + field(15)?))
}

/// utime + stime of each living thread of a process, summed by thread name, in clock
/// ticks (a thread that exits takes its time out of this view).
pub fn thread_ticks(pid: u32) -> Result<BTreeMap<String, u64>> {
    let dir = format!("/proc/{pid}/task");
    let mut by_name = BTreeMap::new();
    for entry in std::fs::read_dir(&dir).with_context(|| format!("reading {dir}"))? {
        let path = entry?.path().join("stat");
        // A thread can exit between the listing and the read.
        if let Ok((name, ticks)) = stat_ticks(&path.to_string_lossy()) {
            *by_name.entry(name).or_insert(0) += ticks;
        }
    }
    Ok(by_name)
}

/// Resident set size (`VmRSS`) of a process, in KiB.
pub fn rss_kib(pid: u32) -> Result<u64> {
    let path = format!("/proc/{pid}/status");
    let status = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .with_context(|| format!("{path}: no VmRSS line"))
}

/// CPU time of the server and of this process at one instant.
#[derive(Debug, Clone, Copy)]
pub struct CpuTicks {
    server: u64,
    client: u64,
}

impl CpuTicks {
    pub fn read(server: u32) -> Result<Self> {
        Ok(Self {
            server: cpu_ticks(&server.to_string())?,
            client: cpu_ticks("self")?,
        })
    }

    pub fn since(&self, before: &CpuTicks) -> CpuSample {
        CpuSample {
            server_ticks: self.server.saturating_sub(before.server),
            client_ticks: self.client.saturating_sub(before.client),
        }
    }
}

/// CPU time spent between two [`CpuTicks`].
#[derive(Debug, Clone, Copy, Default)]
pub struct CpuSample {
    server_ticks: u64,
    client_ticks: u64,
}

impl CpuSample {
    pub fn server_micros(&self) -> f64 {
        self.server_ticks as f64 * 1e6 / clock_ticks_per_second() as f64
    }
    pub fn client_micros(&self) -> f64 {
        self.client_ticks as f64 * 1e6 / clock_ticks_per_second() as f64
    }
}

/// A child server whose stdout is read line by line and whose stderr goes to a log file.
/// Dropping it kills the child.
pub struct ServerProcess {
    name: &'static str,
    child: Child,
    lines: Receiver<String>,
    log: PathBuf,
}

impl std::fmt::Debug for ServerProcess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerProcess")
            .field("name", &self.name)
            .field("pid", &self.child.id())
            .finish_non_exhaustive()
    }
}

impl ServerProcess {
    /// Starts `command` with stdin closed, stdout piped to us and stderr appended to `log`.
    pub fn spawn(name: &'static str, mut command: Command, log: PathBuf) -> Result<Self> {
        let stderr = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .with_context(|| format!("opening {}", log.display()))?;
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .with_context(|| format!("starting {name} ({command:?})"))?;
        let stdout = child.stdout.take().context("child stdout was not piped")?; // invariant: piped just above
        let (tx, lines) = mpsc::channel();
        // Reads until EOF so the child never blocks on a full pipe.
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Ok(Self {
            name,
            child,
            lines,
            log,
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits for a stdout line starting with `prefix`; returns it and the lines before it.
    pub fn wait_for_line(
        &mut self,
        prefix: &str,
        timeout: Duration,
    ) -> Result<(String, Vec<String>)> {
        let deadline = Instant::now() + timeout;
        let mut before = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) if line.starts_with(prefix) => return Ok((line, before)),
                Ok(line) => before.push(line),
                Err(RecvTimeoutError::Timeout) => bail!(
                    "{} printed no `{prefix}` line within {timeout:?}{}",
                    self.name,
                    self.log_tail()
                ),
                Err(RecvTimeoutError::Disconnected) => {
                    let status = self.child.wait().ok();
                    bail!(
                        "{} closed its stdout before printing `{prefix}` (exit status: {}){}",
                        self.name,
                        status.map_or("unknown".into(), |s| s.to_string()),
                        self.log_tail()
                    )
                }
            }
        }
    }

    /// Sends SIGTERM and waits up to `timeout` for the child to exit.
    pub fn terminate(&mut self, timeout: Duration) -> Result<ExitStatus> {
        let status = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status()
            .context("running kill -TERM")?;
        if !status.success() {
            bail!("kill -TERM {} failed ({status})", self.pid());
        }
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait()? {
                return Ok(status);
            }
            if Instant::now() >= deadline {
                bail!(
                    "{} (pid {}) did not exit within {timeout:?} of SIGTERM{}",
                    self.name,
                    self.pid(),
                    self.log_tail()
                );
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// The last lines of the child's stderr, for error messages.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        let tail = lines[lines.len().saturating_sub(20)..].join("\n");
        if tail.is_empty() {
            format!("; its stderr ({}) is empty", self.log.display())
        } else {
            format!(
                "; last lines of its stderr ({}):\n{tail}",
                self.log.display()
            )
        }
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_own_cpu_and_rss() {
        assert!(cpu_ticks("self").is_ok());
        assert!(rss_kib(std::process::id()).unwrap() > 0);
        assert!(clock_ticks_per_second() > 0);
    }

    #[test]
    fn child_is_killed_on_drop() {
        let dir = tempfile::tempdir().unwrap();
        let mut command = Command::new("sh");
        command.args(["-c", "echo hello; echo ready now; exec sleep 60"]);
        let mut child = ServerProcess::spawn("sleeper", command, dir.path().join("log")).unwrap();
        let (line, before) = child
            .wait_for_line("ready", Duration::from_secs(10))
            .unwrap();
        assert_eq!(line, "ready now");
        assert_eq!(before, ["hello"]);
        let pid = child.pid();
        drop(child);
        // Reaped by the drop: no /proc entry (or a recycled one that is not ours).
        let status = std::fs::read_to_string(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        assert!(!status.contains("sleep"));
    }

    #[test]
    fn early_exit_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("log");
        let mut command = Command::new("sh");
        command.args(["-c", "echo oops >&2; exit 3"]);
        let mut child = ServerProcess::spawn("failing", command, log).unwrap();
        let err = child
            .wait_for_line("ready", Duration::from_secs(10))
            .unwrap_err()
            .to_string();
        assert!(err.contains("exit status: 3"), "{err}");
        assert!(err.contains("oops"), "{err}");
    }
}
