//! The Markdown report printed on stdout: the machine, the throughput table, the memory and
//! start-up lines, and each target with whether this run met it. Formatting only: every
//! number is measured elsewhere.

use std::fmt::Write as _;
use std::time::{Duration, SystemTime};

use crate::load::PhaseResult;

/// The targets from docs/benchmarks.md.
pub const TARGET_CEILING_RATIO: f64 = 0.5;
pub const TARGET_SERVER_CPU_MICROS: f64 = 40.0;
pub const TARGET_P99_MICROS: u64 = 5_000;
pub const TARGET_RSS_MIB: f64 = 200.0;
pub const TARGET_STARTUP: Duration = Duration::from_secs(2);
/// The key count the memory and start-up targets are stated for.
pub const TARGET_KEYS: u64 = 100_000;

/// Where the numbers were taken.
#[derive(Debug)]
pub struct Machine {
    pub date: String,
    pub cpus: usize,
    pub cpu_model: String,
    pub kernel: String,
    /// `/proc/loadavg` when the run started: other work on a shared machine shows here.
    pub load_average: String,
}

impl Machine {
    pub fn describe() -> Self {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu_model = cpuinfo
            .lines()
            .find_map(|l| l.strip_prefix("model name"))
            .and_then(|l| l.split_once(':'))
            .map_or_else(|| "unknown".to_string(), |(_, m)| m.trim().to_string());
        let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .map_or_else(|_| "unknown".to_string(), |k| k.trim().to_string());
        let load_average = std::fs::read_to_string("/proc/loadavg")
            .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
            .unwrap_or_else(|_| "unknown".to_string());
        Self {
            load_average,
            date: utc_now(),
            cpus: std::thread::available_parallelism().map_or(0, |n| n.get()),
            cpu_model,
            kernel,
        }
    }
}

/// `YYYY-MM-DD HH:MM UTC`, from the SigV4 date formatter (already a dependency).
fn utc_now() -> String {
    match sigv4::AmzDate::from_system_time(SystemTime::now()) {
        Ok(d) => {
            let s = d.as_str(); // YYYYMMDDTHHMMSSZ
            format!(
                "{}-{}-{} {}:{} UTC",
                &s[0..4],
                &s[4..6],
                &s[6..8],
                &s[9..11],
                &s[11..13]
            )
        }
        Err(_) => "unknown".to_string(),
    }
}

/// One row of the throughput table.
#[derive(Debug)]
pub struct Row {
    pub what: String,
    pub result: PhaseResult,
}

/// Everything one run measured.
#[derive(Debug)]
pub struct Report {
    pub machine: Machine,
    pub kagi: String,
    /// The code measured, when the caller said.
    pub revision: Option<String>,
    pub connections: usize,
    pub client_threads: usize,
    pub warmup: Duration,
    pub duration: Duration,
    pub keys: u64,
    pub cache_keys: u64,
    pub ceiling: Row,
    /// GenerateDataKey, Encrypt, Decrypt, in that order.
    pub crypto: Vec<Row>,
    /// CreateKey ×N and Encrypt over many keys: rows without a target of their own.
    pub other: Vec<Row>,
    pub memory: Memory,
}

/// Memory and start-up figures. RSS in KiB.
#[derive(Debug, Default)]
pub struct Memory {
    pub first_start: Duration,
    pub rss_fresh: u64,
    pub rss_after_phases: u64,
    pub rss_after_keys: u64,
    pub keys_created: u64,
    pub create_elapsed: Duration,
    pub stop: Duration,
    pub restart_listening: Duration,
    pub restart_ready: Duration,
    pub rss_after_restart: u64,
    pub rss_after_cache: u64,
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

fn ms(micros: Option<u64>) -> String {
    micros.map_or("-".into(), |m| format!("{:.2} ms", m as f64 / 1000.0))
}

fn seconds(d: Duration) -> String {
    format!("{:.3} s", d.as_secs_f64())
}

/// An integer with thousands separators.
fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn verdict(ok: bool) -> &'static str {
    if ok {
        "met"
    } else {
        "**MISSED**"
    }
}

impl Report {
    fn row(&self, out: &mut String, row: &Row) {
        let r = &row.result;
        let ratio = r.per_second() / self.ceiling.result.per_second();
        let cpu = |v: Option<f64>| v.map_or("-".into(), |v| format!("{v:.1}"));
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {:.2} |",
            row.what,
            thousands(r.per_second().round() as u64),
            ms(r.latency.quantile(0.5)),
            ms(r.latency.quantile(0.99)),
            cpu(r.server_cpu_per_request()),
            cpu(r.client_cpu_per_request()),
            ratio
        );
    }

    /// Rows whose phase saw errors, for a warning under the table.
    fn errors(&self) -> Vec<String> {
        std::iter::once(&self.ceiling)
            .chain(&self.crypto)
            .chain(&self.other)
            .filter(|row| row.result.errors > 0)
            .map(|row| {
                format!(
                    "{}: {} failed requests; first: {}",
                    row.what,
                    row.result.errors,
                    row.result.first_error.as_deref().unwrap_or("?")
                )
            })
            .collect()
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        let m = &self.machine;
        let _ = writeln!(out, "### Kagi benchmark, {}\n", m.date);
        let _ = writeln!(
            out,
            "- machine: {} CPUs (nproc), {}, Linux {}; load average at the start {}",
            m.cpus, m.cpu_model, m.kernel, m.load_average
        );
        let _ = writeln!(
            out,
            "- server: `{} serve` (real SigV4 verification, SQLite data dir in /tmp){}",
            self.kagi,
            self.revision
                .as_ref()
                .map_or(String::new(), |r| format!(", built from `{r}`"))
        );
        let _ = writeln!(
            out,
            "- load: {} keep-alive HTTP/1.1 connections from one client process ({} runtime threads) on the same machine, \
             closed loop, every request freshly SigV4-signed; timed phases: {:.1} s warm-up, then {:.1} s measured",
            self.connections,
            self.client_threads,
            self.warmup.as_secs_f64(),
            self.duration.as_secs_f64()
        );
        let _ = writeln!(
            out,
            "- CPU: utime+stime from /proc/<pid>/stat over the measured window, divided by the requests completed in it \
             (clock tick {} ms)\n",
            1000 / crate::process::clock_ticks_per_second().max(1)
        );
        let _ = writeln!(
            out,
            "| what | req/s | p50 | p99 | server CPU µs/req | client CPU µs/req | ratio to ceiling |"
        );
        let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|---:|");
        self.row(&mut out, &self.ceiling);
        for row in self.crypto.iter().chain(&self.other) {
            self.row(&mut out, row);
        }
        for e in self.errors() {
            let _ = writeln!(out, "\nWARNING: {e}");
        }

        let mem = &self.memory;
        let keys = thousands(self.keys);
        let _ = writeln!(out, "\n| memory and start-up | value |");
        let _ = writeln!(out, "|---|---:|");
        let mut line = |what: String, value: String| {
            let _ = writeln!(out, "| {what} | {value} |");
        };
        line(
            "first start, empty data dir: spawn → `kagi listening on`".into(),
            seconds(mem.first_start),
        );
        line(
            "RSS, idle, fresh (0 keys)".into(),
            format!("{:.1} MiB", mib(mem.rss_fresh)),
        );
        line(
            "RSS after the throughput phases (1 key)".into(),
            format!("{:.1} MiB", mib(mem.rss_after_phases)),
        );
        line(
            format!("CreateKey ×{keys} with {} connections", self.connections),
            format!(
                "{} keys in {:.1} s ({} keys/s)",
                thousands(mem.keys_created),
                mem.create_elapsed.as_secs_f64(),
                thousands(
                    (mem.keys_created as f64 / mem.create_elapsed.as_secs_f64().max(1e-9)).round()
                        as u64
                )
            ),
        );
        line(
            format!("RSS after creating {keys} keys"),
            format!("{:.1} MiB", mib(mem.rss_after_keys)),
        );
        line("SIGTERM → exit".into(), seconds(mem.stop));
        line(
            format!("restart with {keys} keys: spawn → `kagi listening on`"),
            seconds(mem.restart_listening),
        );
        line(
            format!("restart with {keys} keys: spawn → first successful DescribeKey"),
            seconds(mem.restart_ready),
        );
        line(
            "RSS after restart, idle".into(),
            format!("{:.1} MiB", mib(mem.rss_after_restart)),
        );
        line(
            format!(
                "RSS after Encrypt with {} distinct keys",
                thousands(self.cache_keys)
            ),
            format!("{:.1} MiB", mib(mem.rss_after_cache)),
        );

        let _ = writeln!(out, "\n| target | this run | |");
        let _ = writeln!(out, "|---|---:|---|");
        if let Some(gdk) = self.crypto.first() {
            let ratio = gdk.result.per_second() / self.ceiling.result.per_second();
            let _ = writeln!(
                out,
                "| GenerateDataKey ≥ {:.0}% of the ceiling's req/s | {:.0}% | {} |",
                TARGET_CEILING_RATIO * 100.0,
                ratio * 100.0,
                verdict(ratio >= TARGET_CEILING_RATIO)
            );
        }
        for row in &self.crypto {
            let cpu = row.result.server_cpu_per_request().unwrap_or(f64::INFINITY);
            let _ = writeln!(
                out,
                "| {}: server CPU ≤ {TARGET_SERVER_CPU_MICROS:.0} µs/req | {cpu:.1} µs | {} |",
                row.what,
                verdict(cpu <= TARGET_SERVER_CPU_MICROS)
            );
        }
        let ceiling_p99 = ms(self.ceiling.result.latency.quantile(0.99));
        for row in &self.crypto {
            let p99 = row.result.latency.quantile(0.99);
            let _ = writeln!(
                out,
                "| {}: p99 ≤ {} ms | {} (ceiling: {ceiling_p99}) | {} |",
                row.what,
                TARGET_P99_MICROS / 1000,
                ms(p99),
                verdict(p99.is_some_and(|p| p <= TARGET_P99_MICROS))
            );
        }
        let scale = if self.keys >= TARGET_KEYS {
            String::new()
        } else {
            format!(" (this run: {keys} keys, so not comparable)")
        };
        let rss = mem
            .rss_after_keys
            .max(mem.rss_after_restart)
            .max(mem.rss_after_cache);
        let _ = writeln!(
            out,
            "| RSS ≤ {TARGET_RSS_MIB:.0} MiB with {} keys{scale} | {:.1} MiB (largest of the three) | {} |",
            thousands(TARGET_KEYS),
            mib(rss),
            verdict(mib(rss) <= TARGET_RSS_MIB)
        );
        let _ = writeln!(
            out,
            "| start-up ≤ {} s with {} keys{scale} | {} | {} |",
            TARGET_STARTUP.as_secs(),
            thousands(TARGET_KEYS),
            seconds(mem.restart_ready),
            verdict(mem.restart_ready <= TARGET_STARTUP)
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_separators() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(100_000), "100,000");
        assert_eq!(thousands(1_234_567), "1,234,567");
    }

    #[test]
    fn date_shape() {
        let d = utc_now();
        assert_eq!(d.len(), "2026-01-01 12:00 UTC".len(), "{d}");
    }
}
