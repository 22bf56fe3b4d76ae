//! `--cluster-only`: what the shared PostgreSQL store costs and what a second node buys.
//! GenerateDataKey and CreateKey throughput and latency for one node on the embedded
//! SQLite store, one node on PostgreSQL and two nodes on one PostgreSQL database (the load
//! split evenly between them), in one run; then the propagation delay of a DisableKey made
//! through one node until the other refuses the key; then what a LookupEvents costs when
//! it covers two nodes' logs instead of one (two nodes with durable audit logs; the same
//! query on the first node while the second is up, and after it stopped).
//!
//! The database is created on the PostgreSQL server at `--postgres` (default
//! `postgres://postgres@127.0.0.1:5432/postgres`) and dropped at the end. Every process
//! (the nodes, PostgreSQL and this load generator) shares the same machine, so the
//! two-node figures measure contention as much as scale-out.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde_json::json;

use crate::histogram::Histogram;
use crate::load::{self, Endpoint, Fixed, PhaseResult, Stop, Workload};
use crate::process::ServerProcess;
use crate::{credentials, json_body, progress, start_kagi, CreateKeys, Options, REGION};

/// DisableKey/EnableKey round trips measured for the propagation delay.
const PROPAGATION_SAMPLES: usize = 50;
/// Encrypt calls recorded (split over two nodes) before lookups are timed, and lookups
/// timed per configuration.
const LOOKUP_EVENTS: usize = 2_000;
const LOOKUP_SAMPLES: usize = 200;
const LOOKUP_TARGET: &str = "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.LookupEvents";

/// One configuration's two phases.
#[derive(Debug)]
pub struct ClusterRow {
    pub setup: &'static str,
    pub data_keys: PhaseResult,
    pub create_keys: PhaseResult,
}

#[derive(Debug)]
pub struct ClusterCost {
    pub connections: usize,
    pub rows: Vec<ClusterRow>,
    /// Milliseconds from DisableKey's answer on one node to the other's first refusal.
    pub propagation: Histogram,
    pub propagation_samples: usize,
    /// LookupEvents latency (µs) on node 1: covering both nodes, then its own log only.
    pub lookup_two: Histogram,
    pub lookup_one: Histogram,
}

impl ClusterCost {
    pub fn render(&self) -> String {
        let ms = |v: Option<u64>| v.map_or("-".into(), |v| format!("{:.2} ms", v as f64 / 1000.0));
        let mut out = format!(
            "\n**Scale-out (PostgreSQL store, several nodes)**: {} connections per configuration \
             (split evenly over the nodes), one phase after the other; every process on this one \
             machine.\n\n\
             | setup | GenerateDataKey req/s | p99 | CreateKey req/s | p99 |\n\
             |---|---:|---:|---:|---:|\n",
            self.connections
        );
        let base = self.rows.first().map(|r| r.data_keys.per_second());
        for r in &self.rows {
            out.push_str(&format!(
                "| {} | {} | {} | {} | {} |\n",
                r.setup,
                r.data_keys.per_second().round(),
                ms(r.data_keys.latency.quantile(0.99)),
                r.create_keys.per_second().round(),
                ms(r.create_keys.latency.quantile(0.99)),
            ));
        }
        if let Some(base) = base {
            out.push_str("\nGenerateDataKey relative to one node on SQLite: ");
            let ratios: Vec<String> = self
                .rows
                .iter()
                .map(|r| format!("{} {:.2}", r.setup, r.data_keys.per_second() / base))
                .collect();
            out.push_str(&ratios.join(", "));
            out.push('\n');
        }
        out.push_str(&format!(
            "\n**DisableKey propagation** (answer on node 1 → first refusal on node 2, {} samples): \
             p50 {}, p99 {}, max {} (bound: 1 s)\n",
            self.propagation_samples,
            ms(self.propagation.quantile(0.5)),
            ms(self.propagation.quantile(0.99)),
            ms(self.propagation.quantile(1.0)),
        ));
        out.push_str(&format!(
            "\n**LookupEvents across nodes** (one page of 50 by ResourceName over {LOOKUP_EVENTS} \
             Encrypt events split over two nodes with durable audit logs, {LOOKUP_SAMPLES} \
             sequential lookups on node 1): covering both nodes p50 {}, p99 {}; node 1 alone \
             (node 2 stopped) p50 {}, p99 {}; p50 ratio {}\n",
            ms(self.lookup_two.quantile(0.5)),
            ms(self.lookup_two.quantile(0.99)),
            ms(self.lookup_one.quantile(0.5)),
            ms(self.lookup_one.quantile(0.99)),
            match (self.lookup_two.quantile(0.5), self.lookup_one.quantile(0.5)) {
                (Some(two), Some(one)) if one > 0 => format!("{:.2}", two as f64 / one as f64),
                _ => "-".into(),
            }
        ));
        out
    }
}

/// A database of its own on the benchmark's PostgreSQL server, dropped on drop.
struct BenchDatabase {
    admin_url: String,
    name: String,
}

impl BenchDatabase {
    /// Creates `kagi_bench_<pid><suffix>` afresh (dropping a leftover of that name).
    fn create(admin_url: &str, suffix: &str) -> Result<Self> {
        let name = format!("kagi_bench_{}{suffix}", std::process::id());
        admin(
            admin_url,
            &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
        )?;
        admin(admin_url, &format!("CREATE DATABASE {name}"))?;
        Ok(Self {
            admin_url: admin_url.into(),
            name,
        })
    }

    /// The URL of this database: the admin URL with its database name replaced.
    fn url(&self) -> String {
        match self.admin_url.rsplit_once('/') {
            Some((server, _)) => format!("{server}/{}", self.name),
            None => self.admin_url.clone(),
        }
    }
}

impl Drop for BenchDatabase {
    fn drop(&mut self) {
        let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
        if let Err(e) = admin(&self.admin_url, &sql) {
            eprintln!("kagi-bench: could not drop {}: {e:#}", self.name);
        }
    }
}

/// One maintenance statement, on a thread of its own (the synchronous client refuses to
/// run inside the load generator's runtime).
fn admin(url: &str, sql: &str) -> Result<()> {
    std::thread::scope(|s| {
        s.spawn(|| -> Result<()> {
            let mut client = postgres::Client::connect(url, postgres::NoTls)
                .with_context(|| format!("connecting to PostgreSQL at {url}"))?;
            client.batch_execute(sql).with_context(|| sql.to_string())
        })
        .join()
        .unwrap_or_else(|_| bail!("the PostgreSQL client panicked"))
    })
}

struct Node {
    server: ServerProcess,
    endpoint: Endpoint,
}

/// Starts `kagi serve` on `<work>/<name>` (on `store`, if any; audit events discarded
/// unless `audited`). A node joining `join`'s cluster first gets the root key of
/// `first_dir` and signs with `join`'s credentials; any other node with its own bootstrap
/// credentials.
fn node(
    kagi: &Path,
    work: &Path,
    name: &'static str,
    store: Option<&str>,
    join: Option<&Node>,
    first_dir: Option<&Path>,
    audited: bool,
) -> Result<Node> {
    let data_dir = work.join(name);
    std::fs::create_dir_all(&data_dir)?;
    if let Some(first) = first_dir {
        std::fs::copy(first.join("root.key"), data_dir.join("root.key"))
            .context("copying the root key to the second node")?;
    }
    let mut extra = if audited {
        vec![]
    } else {
        vec!["--dangerous-audit-discard"]
    };
    if let Some(url) = store {
        extra.extend(["--store", url]);
    }
    progress(&format!("starting {name}"));
    let (server, addr, stdout, _) = start_kagi(
        name,
        kagi,
        &data_dir,
        &extra,
        work.join(format!("{name}.log")),
    )?;
    let credentials = match join {
        Some(first) => first.endpoint.credentials.clone(),
        None => credentials(&stdout, &data_dir)?,
    };
    Ok(Node {
        server,
        endpoint: Endpoint {
            addr,
            credentials,
            region: REGION.into(),
        },
    })
}

/// One timed phase of `work` over `connections` connections split across `nodes`, merged.
fn phase(
    runtime: &tokio::runtime::Runtime,
    options: &Options,
    what: &str,
    nodes: &[&Node],
    work: Arc<dyn Workload>,
) -> Result<PhaseResult> {
    progress(&format!("{what}: {} node(s)", nodes.len()));
    let stop = Stop::Timed {
        warmup: options.warmup,
        measure: options.duration,
    };
    let per_node = (options.connections / nodes.len()).max(1);
    let results = runtime.block_on(async {
        let runs = nodes.iter().map(|n| {
            let (endpoint, work, pid) = (n.endpoint.clone(), work.clone(), n.server.pid());
            async move { load::run(&endpoint, work, per_node, stop, pid).await }
        });
        join_all(runs).await
    });
    let mut merged: Option<PhaseResult> = None;
    for r in results {
        let r = r?;
        crate::check_phase(what, &r)?;
        match &mut merged {
            None => merged = Some(r),
            Some(m) => {
                m.latency.merge(&r.latency);
                m.completed += r.completed;
                m.errors += r.errors;
            }
        }
    }
    merged.context("no node measured")
}

/// Runs every future on its own task, concurrently, and collects their outputs in order.
async fn join_all<T: Send + 'static>(
    futures: impl Iterator<Item = impl std::future::Future<Output = Result<T>> + Send + 'static>,
) -> Vec<Result<T>> {
    let handles: Vec<_> = futures.map(tokio::spawn).collect();
    let mut out = Vec::with_capacity(handles.len());
    for h in handles {
        out.push(
            h.await
                .unwrap_or_else(|e| Err(anyhow::anyhow!("load task failed: {e}"))),
        );
    }
    out
}

fn configuration(
    runtime: &tokio::runtime::Runtime,
    options: &Options,
    setup: &'static str,
    nodes: &[&Node],
) -> Result<ClusterRow> {
    let key = runtime.block_on(load::call(
        &nodes[0].endpoint,
        "CreateKey",
        &json!({"Description": "kagi-bench scale-out"}),
    ))?["KeyMetadata"]["KeyId"]
        .as_str()
        .context("CreateKey without KeyId")?
        .to_string();
    let data_keys = phase(
        runtime,
        options,
        &format!("GenerateDataKey, {setup}"),
        nodes,
        Arc::new(Fixed {
            operation: "GenerateDataKey",
            body: json_body(json!({"KeyId": key, "KeySpec": "AES_256"})),
        }),
    )?;
    let create_keys = phase(
        runtime,
        options,
        &format!("CreateKey, {setup}"),
        nodes,
        Arc::new(CreateKeys {
            keep: 0,
            ids: Default::default(),
        }),
    )?;
    Ok(ClusterRow {
        setup,
        data_keys,
        create_keys,
    })
}

/// How long after DisableKey answers on `a` until `b` refuses the key, `samples` times.
fn propagation(
    runtime: &tokio::runtime::Runtime,
    a: &Node,
    b: &Node,
    samples: usize,
) -> Result<Histogram> {
    progress("DisableKey propagation");
    runtime.block_on(async {
        let key = load::call(&a.endpoint, "CreateKey", &json!({})).await?["KeyMetadata"]["KeyId"]
            .as_str()
            .context("CreateKey without KeyId")?
            .to_string();
        let mut sender = load::connect(b.endpoint.addr).await?;
        let mut histogram = Histogram::default();
        for _ in 0..samples {
            // B must have the key cached and enabled before each sample.
            wait_for_status(&mut sender, &b.endpoint, &key, 200).await?;
            load::call(&a.endpoint, "DisableKey", &json!({"KeyId": key})).await?;
            let answered = Instant::now();
            wait_for_status(&mut sender, &b.endpoint, &key, 400).await?;
            histogram.record(answered.elapsed().as_micros() as u64);
            load::call(&a.endpoint, "EnableKey", &json!({"KeyId": key})).await?;
        }
        Ok(histogram)
    })
}

/// LookupEvents latency on the first of two audited nodes, covering both, then (the second
/// stopped) the first alone.
fn lookup_cost(
    runtime: &tokio::runtime::Runtime,
    options: &Options,
    kagi: &Path,
    work: &Path,
) -> Result<(Histogram, Histogram)> {
    let db = BenchDatabase::create(&options.postgres, "_audit")?;
    let url = db.url();
    let first = node(kagi, work, "audit-node-1", Some(&url), None, None, true)?;
    let mut second = node(
        kagi,
        work,
        "audit-node-2",
        Some(&url),
        Some(&first),
        Some(&work.join("audit-node-1")),
        true,
    )?;
    progress("LookupEvents across nodes");
    let (key, two) = runtime.block_on(async {
        let key = load::call(&first.endpoint, "CreateKey", &json!({})).await?["KeyMetadata"]
            ["KeyId"]
            .as_str()
            .context("CreateKey without KeyId")?
            .to_string();
        let body = bytes::Bytes::from(json!({"KeyId": key, "Plaintext": "aGVsbG8="}).to_string());
        let mut senders = [
            load::connect(first.endpoint.addr).await?,
            load::connect(second.endpoint.addr).await?,
        ];
        for i in 0..LOOKUP_EVENTS {
            let node = [&first, &second][i % 2];
            let (status, _, _) =
                load::send(&mut senders[i % 2], &node.endpoint, "Encrypt", body.clone()).await?;
            if !status.is_success() {
                bail!("Encrypt answered {status}");
            }
        }
        let two = time_lookups(&first.endpoint, &key).await?;
        Ok::<_, anyhow::Error>((key, two))
    })?;
    second
        .server
        .terminate(Duration::from_secs(10))
        .context("stopping the second audited node")?;
    let one = runtime.block_on(time_lookups(&first.endpoint, &key))?;
    Ok((two, one))
}

/// [`LOOKUP_SAMPLES`] sequential LookupEvents by `key` on one connection to `endpoint`.
async fn time_lookups(endpoint: &Endpoint, key: &str) -> Result<Histogram> {
    let body = bytes::Bytes::from(
        json!({
            "LookupAttributes": [{"AttributeKey": "ResourceName", "AttributeValue": key}],
            "MaxResults": 50,
        })
        .to_string(),
    );
    let mut sender = load::connect(endpoint.addr).await?;
    let mut histogram = Histogram::default();
    for _ in 0..LOOKUP_SAMPLES {
        let started = Instant::now();
        let (status, _, answer) = load::send_to(
            &mut sender,
            endpoint,
            (LOOKUP_TARGET, "cloudtrail"),
            body.clone(),
        )
        .await?;
        if !status.is_success() {
            bail!(
                "LookupEvents answered {status}: {}",
                String::from_utf8_lossy(&answer)
            );
        }
        histogram.record(started.elapsed().as_micros() as u64);
    }
    Ok(histogram)
}

/// Sends Encrypt under `key` to `endpoint` until it answers `status` (5 s at most).
async fn wait_for_status(
    sender: &mut load::Sender,
    endpoint: &Endpoint,
    key: &str,
    status: u16,
) -> Result<()> {
    let body = bytes::Bytes::from(json!({"KeyId": key, "Plaintext": "aGVsbG8="}).to_string());
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let (got, _, _) = load::send(sender, endpoint, "Encrypt", body.clone()).await?;
        if got.as_u16() == status {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("Encrypt on the second node still answers {got} after 5 s");
        }
        tokio::time::sleep(Duration::from_micros(500)).await;
    }
}

pub fn measure(
    runtime: &tokio::runtime::Runtime,
    options: &Options,
    kagi: &Path,
    work: &Path,
) -> Result<ClusterCost> {
    let mut rows = Vec::new();
    {
        let sqlite = node(kagi, work, "sqlite-node", None, None, None, false)?;
        rows.push(configuration(
            runtime,
            options,
            "1 node, SQLite",
            &[&sqlite],
        )?);
    }
    let db = BenchDatabase::create(&options.postgres, "")?;
    let url = db.url();
    {
        let single_db = BenchDatabase::create(&options.postgres, "_single")?;
        let pg = node(
            kagi,
            work,
            "pg-node",
            Some(&single_db.url()),
            None,
            None,
            false,
        )?;
        rows.push(configuration(
            runtime,
            options,
            "1 node, PostgreSQL",
            &[&pg],
        )?);
    }
    let first = node(kagi, work, "pg-node-1", Some(&url), None, None, false)?;
    let second = node(
        kagi,
        work,
        "pg-node-2",
        Some(&url),
        Some(&first),
        Some(&work.join("pg-node-1")),
        false,
    )?;
    rows.push(configuration(
        runtime,
        options,
        "2 nodes, PostgreSQL",
        &[&first, &second],
    )?);
    let propagation = propagation(runtime, &first, &second, PROPAGATION_SAMPLES)?;
    drop((first, second));
    let (lookup_two, lookup_one) = lookup_cost(runtime, options, kagi, work)?;
    Ok(ClusterCost {
        connections: options.connections,
        rows,
        propagation,
        propagation_samples: PROPAGATION_SAMPLES,
        lookup_two,
        lookup_one,
    })
}
