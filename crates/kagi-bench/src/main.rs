//! `kagi-bench`: measures a release `kagi serve` against a do-nothing loopback server and
//! prints a Markdown report (see docs/benchmarks.md for what each figure means).
//!
//! The run, in order: the ceiling (a child `kagi-bench --ceiling-server`); a fresh kagi on
//! an empty temporary data dir with real SigV4 auth; GenerateDataKey, Encrypt and Decrypt
//! against one key; CreateKey ×`--keys`; SIGTERM; a restart on the same data dir (start-up
//! time and memory); Encrypt over `--cache-keys` distinct keys; then the audit cost: two
//! more fresh kagis, one writing its audit events durably and one started with
//! `--dangerous-audit-discard`, GenerateDataKey against each at 32 and 128 connections,
//! interleaved, then both at one offered load (open loop), and the no-audit one at that load
//! again beside a probe that measures the disk's own `fdatasync` latency. Progress goes to
//! stderr, the report to stdout. Every child is killed if the run fails.
//!
//! It does not build anything (`cargo xtask bench` does) and does not compare runs.

mod ceiling;
mod cluster_cost;
mod histogram;
mod load;
mod policy_cost;
mod process;
mod report;
mod sync_probe;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use base64::Engine as _;
use bytes::Bytes;
use kagi_crypto::SecretBytes;
use serde_json::json;

use load::{Endpoint, Fixed, PhaseResult, Stop, Workload};
use process::{rss_kib, ServerProcess};
use report::{AuditCost, AuditLogSize, AuditRow, Memory, Report, Row};

const USAGE: &str = "\
usage: kagi-bench [options]
  --kagi PATH          the kagi binary (default: `kagi` next to this executable)
  --connections N      concurrent keep-alive connections (default 32)
  --duration D         measured time per throughput phase, e.g. 10s, 500ms (default 10s)
  --warmup D           unmeasured time before each throughput phase (default 2s)
  --keys N             keys created for the memory and start-up figures (default 100000)
  --cache-keys N       distinct keys encrypted with after the restart (default 1000)
  --client-threads N   worker threads of the load generator's runtime (default: one per CPU)
  --revision TEXT      the code measured, printed in the report (cargo xtask bench passes
                       `git describe --always --dirty`)
  --audit-only         only the audit-cost comparison (two fresh servers), then its table
  --audit-connections L  the audit comparison's closed-loop connection counts, e.g. 2,8,128
                       (default 32,128; the equal-load phase runs when 128 is among them)
  --policy-only        only the authorization-cost comparison (one fresh server), then its table
  --cluster-only       only the scale-out comparison (one node on SQLite, one on PostgreSQL,
                       two on one PostgreSQL database) and the DisableKey propagation delay
  --postgres URL       the PostgreSQL server for --cluster-only, as a URL of a database to
                       connect to while creating and dropping its own
                       (default postgres://postgres@127.0.0.1:5432/postgres)
  --quick              a smoke run: --duration 2s --warmup 500ms --keys 2000 --cache-keys 200
                       (explicit flags still win)";

const REGION: &str = "us-east-1";
const LISTENING: &str = "kagi listening on http://";
const START_TIMEOUT: Duration = Duration::from_secs(60);
const STOP_TIMEOUT: Duration = Duration::from_secs(30);
/// Connection counts of the audit-cost comparison.
const AUDIT_CONNECTIONS: [usize; 2] = [32, 128];
/// The share of the slower server's closed-loop rate (at the target connection count)
/// offered to both servers in the open-loop audit phase: busy, well below either server's
/// capacity, so that the latency measured is the requests' own and not a queue.
const PACED_SHARE: f64 = 0.5;

/// The measurement-only switch of `kagi serve`: every audit event is built, then dropped.
const AUDIT_DISCARD_FLAG: &str = "--dangerous-audit-discard";
/// The response header with the log index (sequence number, from 0) of the call's event.
const AUDIT_LOG_INDEX: &str = "x-kagi-audit-log-index";

#[derive(Debug)]
struct Options {
    kagi: Option<PathBuf>,
    connections: usize,
    duration: Duration,
    warmup: Duration,
    keys: u64,
    cache_keys: u64,
    client_threads: Option<usize>,
    revision: Option<String>,
    audit_only: bool,
    /// The connection counts of the audit-cost phases.
    audit_connections: Vec<usize>,
    policy_only: bool,
    cluster_only: bool,
    postgres: String,
}

/// `10s`, `500ms`, `1m`, or plain seconds.
fn parse_duration(s: &str) -> Result<Duration> {
    let (number, unit) = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .map_or((s, "s"), |i| s.split_at(i));
    let n: f64 = number
        .parse()
        .with_context(|| format!("bad duration {s:?}"))?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "s" => n,
        "m" => n * 60.0,
        _ => bail!("bad duration unit in {s:?} (use ms, s or m)"),
    };
    Duration::try_from_secs_f64(secs).with_context(|| format!("bad duration {s:?}"))
}

impl Options {
    fn parse(args: &[String]) -> Result<Options> {
        let mut quick = false;
        let mut audit_only = false;
        let mut policy_only = false;
        let mut cluster_only = false;
        let mut postgres = None;
        let (mut kagi, mut connections, mut duration, mut warmup, mut keys, mut cache_keys) =
            (None, None, None, None, None, None);
        let (mut client_threads, mut revision, mut audit_connections) = (None, None, None);
        let mut rest = args.iter();
        while let Some(arg) = rest.next() {
            let mut value = || {
                rest.next()
                    .with_context(|| format!("{arg} needs a value\n{USAGE}"))
            };
            match arg.as_str() {
                "--kagi" => kagi = Some(PathBuf::from(value()?)),
                "--connections" => connections = Some(value()?.parse().context("--connections")?),
                "--duration" => duration = Some(parse_duration(value()?)?),
                "--warmup" => warmup = Some(parse_duration(value()?)?),
                "--keys" => keys = Some(value()?.parse().context("--keys")?),
                "--cache-keys" => cache_keys = Some(value()?.parse().context("--cache-keys")?),
                "--client-threads" => {
                    client_threads = Some(value()?.parse().context("--client-threads")?)
                }
                "--revision" => revision = Some(value()?.clone()),
                "--audit-connections" => {
                    audit_connections = Some(
                        value()?
                            .split(',')
                            .map(|n| n.trim().parse::<usize>())
                            .collect::<Result<Vec<_>, _>>()
                            .context("--audit-connections")?,
                    )
                }
                "--quick" => quick = true,
                "--audit-only" => audit_only = true,
                "--policy-only" => policy_only = true,
                "--cluster-only" => cluster_only = true,
                "--postgres" => postgres = Some(value()?.clone()),
                "-h" | "--help" => {
                    println!("{USAGE}");
                    std::process::exit(0);
                }
                other => bail!("unknown option {other:?}\n{USAGE}"),
            }
        }
        let options = Options {
            kagi,
            connections: connections.unwrap_or(32),
            duration: duration.unwrap_or(if quick {
                Duration::from_secs(2)
            } else {
                Duration::from_secs(10)
            }),
            warmup: warmup.unwrap_or(if quick {
                Duration::from_millis(500)
            } else {
                Duration::from_secs(2)
            }),
            keys: keys.unwrap_or(if quick { 2_000 } else { 100_000 }),
            cache_keys: cache_keys.unwrap_or(if quick { 200 } else { 1_000 }),
            client_threads,
            revision,
            audit_only,
            audit_connections: audit_connections.unwrap_or_else(|| AUDIT_CONNECTIONS.to_vec()),
            policy_only,
            cluster_only,
            postgres: postgres
                .unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432/postgres".into()),
        };
        if options.client_threads == Some(0) {
            bail!("--client-threads must be positive");
        }
        if options.audit_connections.is_empty() || options.audit_connections.contains(&0) {
            bail!("--audit-connections takes positive counts, e.g. 32,128");
        }
        if options.connections == 0 || options.duration.is_zero() || options.cache_keys == 0 {
            bail!("--connections, --duration and --cache-keys must be positive");
        }
        if options.cache_keys > options.keys {
            bail!(
                "--cache-keys ({}) cannot exceed --keys ({})",
                options.cache_keys,
                options.keys
            );
        }
        Ok(options)
    }
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--ceiling-server") {
        return ceiling::serve();
    }
    let options = Options::parse(&args)?;
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if let Some(n) = options.client_threads {
        builder.worker_threads(n);
    }
    let runtime = builder
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    if options.audit_only {
        print!("{}", run_audit_only(&options, &runtime)?);
    } else if options.cluster_only {
        let (kagi, work) = kagi_and_work_dir(&options)?;
        let m = report::Machine::describe();
        print!(
            "### Kagi scale-out, {}

- machine: {} CPUs, {}; load average at the start {}
{}",
            m.date,
            m.cpus,
            m.cpu_model,
            m.load_average,
            cluster_cost::measure(&runtime, &options, &kagi, work.path())?.render()
        );
    } else if options.policy_only {
        let (kagi, work) = kagi_and_work_dir(&options)?;
        print!(
            "{}",
            policy_cost::measure(&runtime, &options, &kagi, work.path())?.render()
        );
    } else {
        print!("{}", run(&options, &runtime)?.render());
    }
    Ok(())
}

fn progress(message: &str) {
    eprintln!("kagi-bench: {message}");
}

fn sibling(name: &str) -> Result<PathBuf> {
    let exe = std::env::current_exe().context("locating this executable")?;
    Ok(exe.with_file_name(name))
}

/// CreateKey, keeping the ids of the first `keep` keys created.
struct CreateKeys {
    keep: u64,
    ids: Mutex<Vec<Option<String>>>,
}

impl Workload for CreateKeys {
    fn operation(&self) -> &str {
        "CreateKey"
    }
    fn body(&self, _seq: u64) -> Bytes {
        Bytes::from_static(br#"{"Description":"kagi-bench"}"#)
    }
    fn on_success(&self, seq: u64, body: &[u8]) {
        if seq >= self.keep {
            return;
        }
        let id = serde_json::from_slice::<serde_json::Value>(body)
            .ok()
            .and_then(|v| v["KeyMetadata"]["KeyId"].as_str().map(str::to_string));
        // A poisoned lock only means another connection panicked; the ids are still valid.
        let mut ids = self.ids.lock().unwrap_or_else(|e| e.into_inner());
        ids[seq as usize] = id;
    }
}

/// Encrypt the same plaintext under a different key for each request.
struct EncryptMany {
    bodies: Vec<Bytes>,
}

impl Workload for EncryptMany {
    fn operation(&self) -> &str {
        "Encrypt"
    }
    fn body(&self, seq: u64) -> Bytes {
        self.bodies[seq as usize % self.bodies.len()].clone()
    }
}

fn json_body(value: serde_json::Value) -> Bytes {
    Bytes::from(value.to_string())
}

/// Starts `kagi serve` on 127.0.0.1:0 with real auth and `extra` flags; returns it, the
/// address, the stdout lines before the listening line and the time from spawn to that line.
fn start_kagi(
    name: &'static str,
    kagi: &Path,
    data_dir: &Path,
    extra: &[&str],
    log: PathBuf,
) -> Result<(ServerProcess, SocketAddr, Vec<String>, Instant)> {
    let mut command = Command::new(kagi);
    command
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data_dir)
        .args(extra)
        // The settings under test come from the flags above, not the caller's environment.
        .env_remove("KAGI_DEV")
        .env_remove("KAGI_LISTEN")
        .env_remove("KAGI_DATA_DIR")
        .env_remove("KAGI_ACCOUNT_ID")
        .env_remove("KAGI_AUDIT_DIR")
        .env_remove("KAGI_CLOUDTRAIL_DIR")
        .env_remove("KAGI_DANGEROUS_AUDIT_DISCARD")
        .env("KAGI_LOG", "info");
    let spawned = Instant::now();
    let mut server = ServerProcess::spawn(name, command, log)?;
    let (line, before) = server.wait_for_line(LISTENING, START_TIMEOUT)?;
    let addr = line[LISTENING.len()..]
        .trim()
        .parse()
        .with_context(|| format!("cannot read the address in {line:?}"))?;
    Ok((server, addr, before, spawned))
}

/// The bootstrap credentials: from the `export` lines of the first start, else from
/// `<data-dir>/credentials`.
fn credentials(stdout: &[String], data_dir: &Path) -> Result<sigv4::Credentials> {
    let export = |name: &str| {
        stdout.iter().find_map(|l| {
            l.strip_prefix(&format!("export {name}="))
                .map(str::to_string)
        })
    };
    if let (Some(id), Some(secret)) = (export("AWS_ACCESS_KEY_ID"), export("AWS_SECRET_ACCESS_KEY"))
    {
        return Ok(sigv4::Credentials::new(
            id,
            SecretBytes::new(secret.into_bytes()),
        ));
    }
    let path = data_dir.join("credentials");
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let value = |name: &str| {
        text.lines()
            .filter_map(|l| l.split_once('='))
            .find(|(k, _)| k.trim() == name)
            .map(|(_, v)| v.trim().to_string())
    };
    match (value("aws_access_key_id"), value("aws_secret_access_key")) {
        (Some(id), Some(secret)) => Ok(sigv4::Credentials::new(
            id,
            SecretBytes::new(secret.into_bytes()),
        )),
        _ => bail!(
            "kagi printed no credentials and {} has none",
            path.display()
        ),
    }
}

/// One timed phase (`options.warmup`, then `options.duration`) over `connections`
/// connections, charging CPU time to the process `server`.
fn timed_phase(
    runtime: &tokio::runtime::Runtime,
    options: &Options,
    what: &str,
    endpoint: &Endpoint,
    workload: Arc<dyn Workload>,
    server: u32,
    connections: usize,
) -> Result<Row> {
    progress(&format!(
        "{what}: {connections} connections, {:.1} s warm-up + {:.1} s",
        options.warmup.as_secs_f64(),
        options.duration.as_secs_f64()
    ));
    let stop = Stop::Timed {
        warmup: options.warmup,
        measure: options.duration,
    };
    let result = runtime.block_on(load::run(endpoint, workload, connections, stop, server))?;
    check_phase(what, &result)?;
    Ok(Row {
        what: what.to_string(),
        result,
    })
}

/// A phase in which nothing succeeded measured nothing: that is an error, not a figure.
fn check_phase(what: &str, result: &PhaseResult) -> Result<()> {
    if result.completed == 0 {
        bail!(
            "{what}: no request succeeded ({} failed; first: {})",
            result.errors,
            result.first_error.as_deref().unwrap_or("none")
        );
    }
    Ok(())
}

/// The kagi binary under test and a fresh working directory for the run.
fn kagi_and_work_dir(options: &Options) -> Result<(PathBuf, tempfile::TempDir)> {
    let kagi = match &options.kagi {
        Some(path) => path.clone(),
        None => sibling("kagi")?,
    };
    if !kagi.is_file() {
        bail!(
            "{} does not exist: build it with `cargo build --release -p kagi` or pass --kagi",
            kagi.display()
        );
    }
    let work = tempfile::Builder::new()
        .prefix("kagi-bench-")
        .tempdir()
        .context("creating a temporary directory")?;
    Ok((kagi, work))
}

/// `--audit-only`: the audit-cost comparison and nothing else.
fn run_audit_only(options: &Options, runtime: &tokio::runtime::Runtime) -> Result<String> {
    let (kagi, work) = kagi_and_work_dir(options)?;
    let m = report::Machine::describe();
    let audit = audit_cost(runtime, options, &kagi, work.path())?;
    Ok(format!(
        "### Kagi audit cost, {}\n\n- machine: {} CPUs, {}; load average at the start {}\n- `{} serve`{}\n{}",
        m.date,
        m.cpus,
        m.cpu_model,
        m.load_average,
        kagi.display(),
        options
            .revision
            .as_ref()
            .map_or(String::new(), |r| format!(", built from `{r}`")),
        audit.render()
    ))
}

fn run(options: &Options, runtime: &tokio::runtime::Runtime) -> Result<Report> {
    let (kagi, work) = kagi_and_work_dir(options)?;
    let data_dir = work.path().join("data");
    let machine = report::Machine::describe();

    // A syntactically valid key id, so the ceiling's request is the same size as kagi's.
    let placeholder_key = "00000000-0000-4000-8000-000000000000";
    let plaintext = base64::engine::general_purpose::STANDARD.encode([0x5a_u8; 32]);

    // 1. The ceiling.
    let ceiling_row = {
        let mut command = Command::new(std::env::current_exe()?);
        command.arg("--ceiling-server");
        let mut server =
            ServerProcess::spawn("ceiling server", command, work.path().join("ceiling.log"))?;
        let (line, _) = server.wait_for_line(ceiling::LISTENING, START_TIMEOUT)?;
        let addr = line[ceiling::LISTENING.len()..].trim().parse()?;
        let endpoint = Endpoint {
            addr,
            credentials: sigv4::Credentials::new(
                "AKIAKAGIBENCHCEILING",
                SecretBytes::from_slice(b"ceiling-secret-not-checked-by-anyone"),
            ),
            region: REGION.into(),
        };
        let workload = Arc::new(Fixed {
            operation: "GenerateDataKey",
            body: json_body(json!({"KeyId": placeholder_key, "KeySpec": "AES_256"})),
        });
        timed_phase(
            runtime,
            options,
            "ceiling (do-nothing hyper server)",
            &endpoint,
            workload,
            server.pid(),
            options.connections,
        )?
        // `server` is dropped (killed) here.
    };

    // 2. A fresh kagi, one key, the throughput phases.
    let mut memory = Memory::default();
    progress(&format!(
        "starting {} on {}",
        kagi.display(),
        data_dir.display()
    ));
    let kagi_log = work.path().join("kagi.log");
    let (mut server, addr, stdout, spawned) =
        start_kagi("kagi serve", &kagi, &data_dir, &[], kagi_log.clone())?;
    memory.first_start = spawned.elapsed();
    let endpoint = Endpoint {
        addr,
        credentials: credentials(&stdout, &data_dir)?,
        region: REGION.into(),
    };
    memory.rss_fresh = rss_kib(server.pid())?;

    let key_id = runtime.block_on(load::call(
        &endpoint,
        "CreateKey",
        &json!({"Description": "kagi-bench"}),
    ))?["KeyMetadata"]["KeyId"]
        .as_str()
        .context("CreateKey answered without KeyMetadata.KeyId")?
        .to_string();
    let ciphertext = runtime.block_on(load::call(
        &endpoint,
        "Encrypt",
        &json!({"KeyId": key_id, "Plaintext": plaintext}),
    ))?["CiphertextBlob"]
        .as_str()
        .context("Encrypt answered without CiphertextBlob")?
        .to_string();

    let phases: [(&str, &'static str, serde_json::Value); 3] = [
        (
            "GenerateDataKey (AES_256)",
            "GenerateDataKey",
            json!({"KeyId": key_id, "KeySpec": "AES_256"}),
        ),
        (
            "Encrypt (32-byte plaintext)",
            "Encrypt",
            json!({"KeyId": key_id, "Plaintext": plaintext}),
        ),
        ("Decrypt", "Decrypt", json!({"CiphertextBlob": ciphertext})),
    ];
    let mut crypto = Vec::new();
    for (what, operation, body) in phases {
        let workload = Arc::new(Fixed {
            operation,
            body: json_body(body),
        });
        crypto.push(timed_phase(
            runtime,
            options,
            what,
            &endpoint,
            workload,
            server.pid(),
            options.connections,
        )?);
    }
    memory.rss_after_phases = rss_kib(server.pid())?;

    // 3. Many keys.
    let mut other = Vec::new();
    progress(&format!(
        "CreateKey ×{} with {} connections",
        options.keys, options.connections
    ));
    let create = Arc::new(CreateKeys {
        keep: options.cache_keys,
        ids: Mutex::new(vec![None; options.cache_keys as usize]),
    });
    let result = runtime.block_on(load::run(
        &endpoint,
        create.clone(),
        options.connections,
        Stop::Count(options.keys),
        server.pid(),
    ))?;
    check_phase("CreateKey", &result)?;
    memory.keys_created = result.completed;
    memory.create_elapsed = result.window;
    memory.rss_after_keys = rss_kib(server.pid())?;
    other.push(Row {
        what: format!("CreateKey (×{})", options.keys),
        result,
    });
    let ids: Vec<String> = create
        .ids
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .flatten()
        .cloned()
        .collect();
    if ids.is_empty() {
        bail!("no CreateKey answer carried a KeyMetadata.KeyId");
    }

    // 4. Stop, restart on the same data dir.
    progress("stopping kagi (SIGTERM) and restarting it on the same data dir");
    let stopping = Instant::now();
    let status = server.terminate(STOP_TIMEOUT)?;
    memory.stop = stopping.elapsed();
    if !status.success() {
        bail!(
            "kagi exited with {status} after SIGTERM{}",
            server.log_tail()
        );
    }
    drop(server);
    let (server, addr, _, spawned) = start_kagi("kagi serve", &kagi, &data_dir, &[], kagi_log)?;
    memory.restart_listening = spawned.elapsed();
    let endpoint = Endpoint { addr, ..endpoint };
    let describe = json!({"KeyId": ids[0]});
    loop {
        match runtime.block_on(load::call(&endpoint, "DescribeKey", &describe)) {
            Ok(_) => break,
            Err(e) if spawned.elapsed() > START_TIMEOUT => {
                return Err(e.context(format!("DescribeKey after restart{}", server.log_tail())))
            }
            Err(_) => std::thread::sleep(Duration::from_millis(5)),
        }
    }
    memory.restart_ready = spawned.elapsed();
    memory.rss_after_restart = rss_kib(server.pid())?;

    // 5. Touch many distinct keys (each is loaded into the cache on first use).
    progress(&format!("Encrypt with {} distinct keys", ids.len()));
    let many = Arc::new(EncryptMany {
        bodies: ids
            .iter()
            .map(|id| json_body(json!({"KeyId": id, "Plaintext": plaintext})))
            .collect(),
    });
    let count = ids.len() as u64;
    let result = runtime.block_on(load::run(
        &endpoint,
        many,
        options.connections,
        Stop::Count(count),
        server.pid(),
    ))?;
    check_phase("Encrypt over many keys", &result)?;
    memory.rss_after_cache = rss_kib(server.pid())?;
    other.push(Row {
        what: format!("Encrypt, {count} distinct keys after restart (cold)"),
        result,
    });
    drop(server);

    // 6. The cost of the durable audit trail.
    let audit = audit_cost(runtime, options, &kagi, work.path())?;

    // 7. The cost of authorization with large policies.
    let policy = policy_cost::measure(runtime, options, &kagi, work.path())?;

    Ok(Report {
        machine,
        kagi: kagi.display().to_string(),
        revision: options.revision.clone(),
        connections: options.connections,
        client_threads: options
            .client_threads
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get())),
        warmup: options.warmup,
        duration: options.duration,
        keys: options.keys,
        cache_keys: count,
        ceiling: ceiling_row,
        crypto,
        other,
        memory,
        audit,
        policy,
    })
}

/// Starts a fresh kagi on `data_dir` with `extra` flags and creates one key; returns the
/// server, its endpoint and the key's id.
fn kagi_with_key(
    runtime: &tokio::runtime::Runtime,
    name: &'static str,
    kagi: &Path,
    data_dir: &Path,
    extra: &[&str],
    log: PathBuf,
) -> Result<(ServerProcess, Endpoint, String)> {
    progress(&format!(
        "starting {}{} on {}",
        kagi.display(),
        extra.iter().map(|a| format!(" {a}")).collect::<String>(),
        data_dir.display()
    ));
    let (server, addr, stdout, _) = start_kagi(name, kagi, data_dir, extra, log)?;
    let endpoint = Endpoint {
        addr,
        credentials: credentials(&stdout, data_dir)?,
        region: REGION.into(),
    };
    let key_id = runtime
        .block_on(load::call(
            &endpoint,
            "CreateKey",
            &json!({"Description": "kagi-bench audit cost"}),
        ))
        .with_context(|| format!("CreateKey on {name}{}", server.log_tail()))?["KeyMetadata"]
        ["KeyId"]
        .as_str()
        .context("CreateKey answered without KeyMetadata.KeyId")?
        .to_string();
    Ok((server, endpoint, key_id))
}

/// Total size of the `*.seg` files in `dir` (0 if it does not exist).
fn segment_bytes(dir: &Path) -> Result<u64> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(e).with_context(|| format!("listing {}", dir.display())),
    };
    let mut total = 0;
    for entry in entries {
        let entry = entry?;
        if entry.path().extension().is_some_and(|e| e == "seg") {
            total += entry.metadata()?.len();
        }
    }
    Ok(total)
}

/// GenerateDataKey against a kagi that writes every audit event durably and against one
/// that discards them, both fresh and otherwise identical, interleaved per connection count
/// so that other load on the machine falls on both alike.
fn audit_cost(
    runtime: &tokio::runtime::Runtime,
    options: &Options,
    kagi: &Path,
    work: &Path,
) -> Result<AuditCost> {
    let durable_dir = work.join("audit-durable");
    let discard_dir = work.join("audit-discard");
    let (durable, durable_endpoint, durable_key) = kagi_with_key(
        runtime,
        "kagi serve (durable audit)",
        kagi,
        &durable_dir,
        &[],
        work.join("kagi-audit-durable.log"),
    )?;
    let threads_before = process::thread_ticks(durable.pid())?;
    let (discard, discard_endpoint, discard_key) = kagi_with_key(
        runtime,
        "kagi serve (audit discarded)",
        kagi,
        &discard_dir,
        &[AUDIT_DISCARD_FLAG],
        work.join("kagi-audit-discard.log"),
    )?;
    let generate = |key: &str| {
        Arc::new(Fixed {
            operation: "GenerateDataKey",
            body: json_body(json!({"KeyId": key, "KeySpec": "AES_256"})),
        })
    };
    let mut rows = Vec::new();
    for &connections in &options.audit_connections {
        let durable_row = timed_phase(
            runtime,
            options,
            &format!("GenerateDataKey, durable audit, {connections} connections"),
            &durable_endpoint,
            generate(&durable_key),
            durable.pid(),
            connections,
        )?;
        let discard_row = timed_phase(
            runtime,
            options,
            &format!("GenerateDataKey, audit discarded, {connections} connections"),
            &discard_endpoint,
            generate(&discard_key),
            discard.pid(),
            connections,
        )?;
        rows.push(AuditRow {
            connections,
            durable: durable_row,
            discard: discard_row,
        });
    }

    // The same offered load on both: a share of what the discarding server served in a
    // closed loop at the target connection count.
    let paced = match rows
        .iter()
        .find(|r| r.connections == report::TARGET_AUDIT_RATIO_CONNECTIONS)
    {
        Some(row) => {
            let connections = row.connections;
            let slower = row
                .durable
                .result
                .per_second()
                .min(row.discard.result.per_second());
            let rate = slower * PACED_SHARE;
            let interval = Duration::from_secs_f64(connections as f64 / rate);
            let paced = |what: &str, endpoint: &Endpoint, key: &str, pid: u32| -> Result<Row> {
                let what = format!(
                    "GenerateDataKey, {what}, {:.0} req/s offered over {connections} connections",
                    rate
                );
                progress(&what);
                let stop = Stop::Timed {
                    warmup: options.warmup,
                    measure: options.duration,
                };
                let result = runtime.block_on(load::run_paced(
                    endpoint,
                    generate(key),
                    connections,
                    stop,
                    pid,
                    Some(interval),
                ))?;
                check_phase(&what, &result)?;
                Ok(Row { what, result })
            };
            let durable_row = paced(
                "durable audit",
                &durable_endpoint,
                &durable_key,
                durable.pid(),
            )?;
            let discard_row = paced(
                "audit discarded",
                &discard_endpoint,
                &discard_key,
                discard.pid(),
            )?;
            // Once more on the no-audit server, while a probe syncs on the durable server's
            // file system: the floor any durable answer stands on.
            let probe = sync_probe::SyncProbe::start(&durable_dir, Instant::now() + options.warmup)
                .context("starting the sync probe")?;
            let under_probe = paced(
                "audit discarded, beside the sync probe",
                &discard_endpoint,
                &discard_key,
                discard.pid(),
            );
            let disk_syncs = probe.finish()?;
            under_probe?;
            Some(report::PacedAudit {
                connections,
                rate,
                durable: durable_row,
                discard: discard_row,
                disk_syncs,
            })
        }
        None => None,
    };

    let durable_threads = report::role_micros(
        &threads_before,
        &process::thread_ticks(durable.pid())?,
        process::clock_ticks_per_second(),
    );
    // Every event is durable before its response leaves, so once this answer is read the
    // log holds events 0..=index.
    let (_, headers) = runtime.block_on(load::call_with_headers(
        &durable_endpoint,
        "DescribeKey",
        &json!({"KeyId": durable_key}),
    ))?;
    let events = headers
        .get(AUDIT_LOG_INDEX)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .map(|index| index + 1);
    let bytes = segment_bytes(&durable_dir.join("audit").join("log"))?;
    let log = events
        .filter(|_| bytes > 0)
        .map(|events| AuditLogSize { events, bytes });
    if log.is_none() {
        progress(&format!(
            "no audit log size: {AUDIT_LOG_INDEX} {}, {bytes} bytes of segments in {}",
            if events.is_some() {
                "present"
            } else {
                "missing"
            },
            durable_dir.join("audit").join("log").display()
        ));
    }
    // A discarding server that wrote a log was not measuring what this table says.
    let discarded = segment_bytes(&discard_dir.join("audit").join("log"))?;
    if discarded > 0 {
        bail!("the server started with {AUDIT_DISCARD_FLAG} wrote {discarded} bytes of audit log");
    }
    Ok(AuditCost {
        rows,
        log,
        paced,
        durable_threads,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("10s").unwrap(), Duration::from_secs(10));
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("1m").unwrap(), Duration::from_secs(60));
        assert_eq!(parse_duration("2.5").unwrap(), Duration::from_millis(2500));
        assert!(parse_duration("ten").is_err());
        assert!(parse_duration("5h").is_err());
    }

    #[test]
    fn quick_sets_defaults_and_flags_win() {
        let o = Options::parse(&args(&["--quick", "--keys", "500"])).unwrap();
        assert_eq!(o.keys, 500);
        assert_eq!(o.duration, Duration::from_secs(2));
        let o = Options::parse(&[]).unwrap();
        assert_eq!((o.keys, o.connections, o.cache_keys), (100_000, 32, 1_000));
        assert!(Options::parse(&args(&["--keys", "10", "--cache-keys", "20"])).is_err());
        assert!(Options::parse(&args(&["--bogus"])).is_err());
        assert!(Options::parse(&args(&["--keys"])).is_err());
    }

    #[test]
    fn audit_connection_counts() {
        assert_eq!(Options::parse(&[]).unwrap().audit_connections, [32, 128]);
        let o = Options::parse(&args(&["--audit-connections", "2, 8,128"])).unwrap();
        assert_eq!(o.audit_connections, [2, 8, 128]);
        assert!(Options::parse(&args(&["--audit-connections", "2,0"])).is_err());
        assert!(Options::parse(&args(&["--audit-connections", "two"])).is_err());
        assert!(Options::parse(&args(&["--audit-connections", ""])).is_err());
    }

    #[test]
    fn credentials_from_exports_or_file() {
        let dir = tempfile::tempdir().unwrap();
        let stdout = args(&[
            "export AWS_ACCESS_KEY_ID=AKIA1",
            "export AWS_SECRET_ACCESS_KEY=s3cr3t",
        ]);
        let c = credentials(&stdout, dir.path()).unwrap();
        assert_eq!(c.access_key_id(), "AKIA1");
        assert_eq!(c.secret_access_key().expose(), b"s3cr3t");
        std::fs::write(
            dir.path().join("credentials"),
            "[default]\naws_access_key_id = AKIA2\naws_secret_access_key = other\n",
        )
        .unwrap();
        let c = credentials(&[], dir.path()).unwrap();
        assert_eq!(c.access_key_id(), "AKIA2");
        assert_eq!(c.secret_access_key().expose(), b"other");
    }
}
