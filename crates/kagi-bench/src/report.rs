//! The Markdown report printed on stdout: the machine, the throughput table, the memory and
//! start-up lines, the audit cost, and each target with whether this run met it. Formatting only: every
//! number is measured elsewhere.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::{Duration, SystemTime};

use crate::histogram::Histogram;
use crate::load::PhaseResult;

/// The targets from docs/benchmarks.md.
pub const TARGET_CEILING_RATIO: f64 = 0.5;
pub const TARGET_SERVER_CPU_MICROS: f64 = 40.0;
pub const TARGET_P99_MICROS: u64 = 5_000;
pub const TARGET_RSS_MIB: f64 = 200.0;
pub const TARGET_STARTUP: Duration = Duration::from_secs(2);
/// The key count the memory and start-up targets are stated for.
pub const TARGET_KEYS: u64 = 100_000;
/// GenerateDataKey with durable audit: at least this share of the req/s without audit...
pub const TARGET_AUDIT_RATIO: f64 = 0.70;
/// ...at this many connections,
pub const TARGET_AUDIT_RATIO_CONNECTIONS: usize = 128;
/// and no more than this added to the p99 (at every connection count measured).
pub const TARGET_AUDIT_P99_ADDED_MICROS: i64 = 2_000;

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
    pub audit: AuditCost,
    pub policy: crate::policy_cost::PolicyCost,
}

/// GenerateDataKey with a durable audit trail next to the same with events discarded.
#[derive(Debug)]
pub struct AuditCost {
    /// One per connection count, in the order measured.
    pub rows: Vec<AuditRow>,
    /// The durable server's log after the phases, when it could be read.
    pub log: Option<AuditLogSize>,
    /// Both servers at one fixed offered load (open loop), when measured.
    pub paced: Option<PacedAudit>,
    /// CPU the durable server's threads spent over all its phases, by role, in µs.
    pub durable_threads: BTreeMap<&'static str, f64>,
}

/// What a thread of `kagi serve` does, from its name (Linux keeps 15 bytes of it).
pub fn thread_role(name: &str) -> &'static str {
    const ROLES: [(&str, &str); 5] = [
        ("tokio-rt-worker", "request workers"),
        ("kagi-audit-writ", "log writer"),
        ("kagi-audit-inde", "indexer"),
        ("kagi-audit-seal", "sealer"),
        ("kagi-audit-chec", "checkpointer"),
    ];
    ROLES
        .iter()
        .find(|(prefix, _)| name.starts_with(prefix))
        .map_or("other", |(_, role)| role)
}

/// Per-role CPU (µs) between two [`crate::process::thread_ticks`] readings.
pub fn role_micros(
    before: &BTreeMap<String, u64>,
    after: &BTreeMap<String, u64>,
    ticks_per_second: u64,
) -> BTreeMap<&'static str, f64> {
    let mut roles = BTreeMap::new();
    for (name, ticks) in after {
        let spent = ticks.saturating_sub(before.get(name).copied().unwrap_or(0));
        *roles.entry(thread_role(name)).or_insert(0.0) +=
            spent as f64 * 1e6 / ticks_per_second.max(1) as f64;
    }
    roles
}

/// Both servers under the same offered load: requests sent on a schedule, whatever the
/// answers' latency, so the latency added is the audit's own and not the queueing a slower
/// server builds up in a closed loop (where `connections` = rate × latency).
#[derive(Debug)]
pub struct PacedAudit {
    pub connections: usize,
    /// Requests per second offered to each server.
    pub rate: f64,
    pub durable: Row,
    pub discard: Row,
    /// Latency (µs) of each append + `fdatasync` of [`crate::sync_probe::WRITE`] bytes on the
    /// durable server's file system, while the no-audit server carried the same load.
    pub disk_syncs: Histogram,
}

impl PacedAudit {
    /// Durable p99 − discarding p99, in µs.
    pub fn p99_added(&self) -> Option<i64> {
        let p99 = |row: &Row| row.result.latency.quantile(0.99).map(|p| p as i64);
        Some(p99(&self.durable)? - p99(&self.discard)?)
    }
}

/// The two servers at one connection count.
#[derive(Debug)]
pub struct AuditRow {
    pub connections: usize,
    pub durable: Row,
    pub discard: Row,
}

impl AuditRow {
    /// Durable req/s ÷ discarding req/s.
    pub fn ratio(&self) -> f64 {
        self.durable.result.per_second() / self.discard.result.per_second()
    }

    /// Durable p99 − discarding p99, in µs.
    pub fn p99_added(&self) -> Option<i64> {
        let p99 = |row: &Row| row.result.latency.quantile(0.99).map(|p| p as i64);
        Some(p99(&self.durable)? - p99(&self.discard)?)
    }
}

/// The segments of an audit log: their total size and the events they hold.
#[derive(Debug)]
pub struct AuditLogSize {
    pub events: u64,
    pub bytes: u64,
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

/// A signed difference in µs as `+1.23 ms`.
fn ms_signed(micros: Option<i64>) -> String {
    micros.map_or("-".into(), |m| format!("{:+.2} ms", m as f64 / 1000.0))
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
            .chain(
                self.audit
                    .rows
                    .iter()
                    .flat_map(|row| [&row.durable, &row.discard]),
            )
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
        self.audit.table(&mut out);

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
        self.audit.targets(&mut out);
        out.push_str(&self.policy.render());
        out
    }
}

impl AuditCost {
    /// The audit-cost section alone: the table, then its targets (`--audit-only`).
    pub fn render(&self) -> String {
        let mut out = String::new();
        self.table(&mut out);
        let _ = writeln!(out, "\n| target | this run | |");
        let _ = writeln!(out, "|---|---:|---|");
        self.targets(&mut out);
        out
    }

    fn table(&self, out: &mut String) {
        let _ = writeln!(
            out,
            "\n**Audit cost (GenerateDataKey)**: two more fresh servers, same binary, one key each; \
             \"audit\" writes every event to its log and waits for the group-committed fdatasync \
             before answering, \"no audit\" runs with `--dangerous-audit-discard` (builds every event, \
             writes it nowhere); the phases alternate between the two, same warm-up and window as above.\n"
        );
        let _ = writeln!(
            out,
            "| connections | audit req/s | p50 | p99 | server CPU µs/req | no-audit req/s | p50 | p99 \
             | server CPU µs/req | audit / no-audit | p99 added |"
        );
        let _ = writeln!(
            out,
            "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
        );
        let cpu = |v: Option<f64>| v.map_or("-".into(), |v| format!("{v:.1}"));
        for row in &self.rows {
            let (a, d) = (&row.durable.result, &row.discard.result);
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {:.2} | {} |",
                row.connections,
                thousands(a.per_second().round() as u64),
                ms(a.latency.quantile(0.5)),
                ms(a.latency.quantile(0.99)),
                cpu(a.server_cpu_per_request()),
                thousands(d.per_second().round() as u64),
                ms(d.latency.quantile(0.5)),
                ms(d.latency.quantile(0.99)),
                cpu(d.server_cpu_per_request()),
                row.ratio(),
                ms_signed(row.p99_added())
            );
        }
        if let Some(p) = &self.paced {
            let (a, d) = (&p.durable.result, &p.discard.result);
            let _ = writeln!(
                out,
                "\n**At equal offered load** (open loop: {} req/s offered to each server over {} \
                 connections, latency counted from when each request was due): audit p50 {}, \
                 p99 {} ({} req/s served); no audit p50 {}, p99 {} ({} req/s served); p99 added {}.",
                thousands(p.rate.round() as u64),
                p.connections,
                ms(a.latency.quantile(0.5)),
                ms(a.latency.quantile(0.99)),
                thousands(a.per_second().round() as u64),
                ms(d.latency.quantile(0.5)),
                ms(d.latency.quantile(0.99)),
                thousands(d.per_second().round() as u64),
                ms_signed(p.p99_added())
            );
            let _ = writeln!(
                out,
                "\n**The disk's floor at that load**: the no-audit server served it once more \
                 while the benchmark appended {} KiB and `fdatasync`ed in a loop, {} ms apart, \
                 on the durable server's file system: {} syncs, p50 {}, p99 {}. Every durable \
                 answer waits for at least one such sync, so the durable p99 cannot be lower \
                 than the syncs' p99; the p99-added target asks for at most {} here (the \
                 no-audit p99 + {} ms).",
                crate::sync_probe::WRITE >> 10,
                crate::sync_probe::PAUSE.as_millis(),
                thousands(p.disk_syncs.count()),
                ms(p.disk_syncs.quantile(0.5)),
                ms(p.disk_syncs.quantile(0.99)),
                ms(d.latency
                    .quantile(0.99)
                    .map(|q| q + TARGET_AUDIT_P99_ADDED_MICROS as u64)),
                TARGET_AUDIT_P99_ADDED_MICROS / 1000,
            );
        }
        if let Some(log) = &self.log {
            let _ = writeln!(
                out,
                "\nAudit log of the durable server afterwards: {} events in {:.1} MiB of segments \
                 (`audit/log/*.seg`), {:.0} bytes per event.",
                thousands(log.events),
                mib(log.bytes / 1024),
                log.bytes as f64 / log.events.max(1) as f64
            );
            if !self.durable_threads.is_empty() {
                let per_event = |us: f64| us / log.events.max(1) as f64;
                let mut parts: Vec<(&str, f64)> = self
                    .durable_threads
                    .iter()
                    .map(|(role, us)| (*role, per_event(*us)))
                    .collect();
                parts.sort_by(|a, b| b.1.total_cmp(&a.1));
                let total: f64 = parts.iter().map(|(_, us)| us).sum();
                let listed: Vec<String> = parts
                    .iter()
                    .map(|(role, us)| format!("{role} {us:.1} µs"))
                    .collect();
                let _ = writeln!(
                    out,
                    "Its CPU per event over all its phases, by thread (utime+stime of \
                     `/proc/<pid>/task/*/stat`): {}; total {total:.1} µs.",
                    listed.join(", ")
                );
            }
        }
    }

    fn targets(&self, out: &mut String) {
        for row in &self.rows {
            if row.connections == TARGET_AUDIT_RATIO_CONNECTIONS {
                let ratio = row.ratio();
                let _ = writeln!(
                    out,
                    "| GenerateDataKey with durable audit ≥ {:.0}% of the no-audit req/s at {} connections \
                     | {:.0}% | {} |",
                    TARGET_AUDIT_RATIO * 100.0,
                    row.connections,
                    ratio * 100.0,
                    verdict(ratio >= TARGET_AUDIT_RATIO)
                );
            }
        }
        for row in &self.rows {
            let added = row.p99_added();
            let _ = writeln!(
                out,
                "| GenerateDataKey with durable audit at {} connections: p99 added ≤ {} ms | {} | {} |",
                row.connections,
                TARGET_AUDIT_P99_ADDED_MICROS / 1000,
                ms_signed(added),
                verdict(added.is_some_and(|a| a <= TARGET_AUDIT_P99_ADDED_MICROS))
            );
        }
        if let Some(p) = &self.paced {
            let added = p.p99_added();
            let _ = writeln!(
                out,
                "| GenerateDataKey with durable audit at equal offered load ({} req/s, {} \
                 connections): p99 added ≤ {} ms | {} | {} |",
                thousands(p.rate.round() as u64),
                p.connections,
                TARGET_AUDIT_P99_ADDED_MICROS / 1000,
                ms_signed(added),
                verdict(added.is_some_and(|a| a <= TARGET_AUDIT_P99_ADDED_MICROS))
            );
        }
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

    fn phase(completed: u64, p99_micros: u64) -> Row {
        let mut latency = crate::histogram::Histogram::default();
        for _ in 0..completed {
            latency.record(p99_micros);
        }
        Row {
            what: "GenerateDataKey".into(),
            result: PhaseResult {
                latency,
                completed,
                errors: 0,
                first_error: None,
                window: Duration::from_secs(1),
                cpu: Default::default(),
            },
        }
    }

    #[test]
    fn audit_ratio_and_p99_added() {
        let row = AuditRow {
            connections: 128,
            durable: phase(700, 3_000),
            discard: phase(1_000, 1_000),
        };
        assert!((row.ratio() - 0.7).abs() < 1e-9);
        let added = row.p99_added().unwrap();
        assert!((1_950..=2_050).contains(&added), "{added}");
        let empty = AuditRow {
            connections: 32,
            durable: phase(0, 0),
            discard: phase(10, 1_000),
        };
        assert_eq!(empty.p99_added(), None);
    }

    #[test]
    fn threads_are_grouped_by_role() {
        let before: BTreeMap<String, u64> = [
            ("tokio-rt-worker".to_string(), 10),
            ("kagi-audit-writ".to_string(), 5),
        ]
        .into();
        let after: BTreeMap<String, u64> = [
            ("tokio-rt-worker".to_string(), 30),
            ("kagi-audit-writ".to_string(), 6),
            ("kagi-sqlite-wri".to_string(), 2),
            ("kagi".to_string(), 1),
        ]
        .into();
        let roles = role_micros(&before, &after, 100);
        assert_eq!(roles["request workers"], 200_000.0);
        assert_eq!(roles["log writer"], 10_000.0);
        assert_eq!(roles["other"], 30_000.0);
        assert_eq!(roles.len(), 3);
    }

    #[test]
    fn signed_milliseconds() {
        assert_eq!(ms_signed(Some(1_234)), "+1.23 ms");
        assert_eq!(ms_signed(Some(-500)), "-0.50 ms");
        assert_eq!(ms_signed(None), "-");
    }

    #[test]
    fn date_shape() {
        let d = utc_now();
        assert_eq!(d.len(), "2026-01-01 12:00 UTC".len(), "{d}");
    }
}
