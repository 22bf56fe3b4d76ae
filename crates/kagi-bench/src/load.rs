//! The load generator: N keep-alive HTTP/1.1 connections, one task each, sending freshly
//! SigV4-signed AWS JSON 1.1 requests back to back (closed loop: a connection sends its
//! next request when the previous answer has been read).
//!
//! A phase either runs for a fixed time after a warm-up ([`Stop::Timed`]; only requests
//! that complete inside the measured window count) or until a number of requests has been
//! sent ([`Stop::Count`]). Server and client CPU time are sampled at the window's edges.
//! Signing happens here, on the client, for every request, as a real SDK would.
//!
//! It does not retry, pipeline, open new connections mid-phase or pace requests: a
//! transport error ends that connection and is reported.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{bail, Context, Result};
use bytes::Bytes;
use http::{header, HeaderMap, Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use crate::histogram::Histogram;
use crate::process::{CpuSample, CpuTicks};

/// Where to send requests and as whom.
#[derive(Debug, Clone)]
pub struct Endpoint {
    pub addr: SocketAddr,
    pub credentials: sigv4::Credentials,
    pub region: String,
}

/// What one phase sends. Implementations are shared by every connection.
pub trait Workload: Send + Sync + 'static {
    /// The operation after `TrentService.`, e.g. `GenerateDataKey`.
    fn operation(&self) -> &str;
    /// The JSON body of the `seq`-th request of the phase (0-based, across connections).
    fn body(&self, seq: u64) -> Bytes;
    /// Sees every successful answer; the default ignores it.
    fn on_success(&self, _seq: u64, _body: &[u8]) {}
}

/// The same body for every request.
#[derive(Debug)]
pub struct Fixed {
    pub operation: &'static str,
    pub body: Bytes,
}

impl Workload for Fixed {
    fn operation(&self) -> &str {
        self.operation
    }
    fn body(&self, _seq: u64) -> Bytes {
        self.body.clone()
    }
}

/// When a phase ends.
#[derive(Debug, Clone, Copy)]
pub enum Stop {
    /// Send for `warmup` without measuring, then measure for `measure`.
    Timed { warmup: Duration, measure: Duration },
    /// Send exactly this many requests in total, measuring all of them.
    Count(u64),
}

/// What a phase measured.
#[derive(Debug)]
pub struct PhaseResult {
    pub latency: Histogram,
    /// Successful requests inside the measured window.
    pub completed: u64,
    pub errors: u64,
    pub first_error: Option<String>,
    pub window: Duration,
    pub cpu: CpuSample,
}

impl PhaseResult {
    pub fn per_second(&self) -> f64 {
        self.completed as f64 / self.window.as_secs_f64()
    }

    /// CPU figures of windows shorter than this are mostly clock-tick rounding.
    const MIN_CPU_WINDOW: Duration = Duration::from_secs(1);

    /// Server CPU time per successful request, in µs; `None` when the window was too short
    /// for the clock-tick resolution of `/proc/<pid>/stat`.
    pub fn server_cpu_per_request(&self) -> Option<f64> {
        (self.completed > 0 && self.window >= Self::MIN_CPU_WINDOW)
            .then(|| self.cpu.server_micros() / self.completed as f64)
    }

    /// Client (this process) CPU time per successful request, in µs; `None` as above.
    pub fn client_cpu_per_request(&self) -> Option<f64> {
        (self.completed > 0 && self.window >= Self::MIN_CPU_WINDOW)
            .then(|| self.cpu.client_micros() / self.completed as f64)
    }
}

pub type Sender = SendRequest<Full<Bytes>>;

/// Opens one keep-alive HTTP/1.1 connection; its driver runs on its own task.
pub async fn connect(addr: SocketAddr) -> Result<Sender> {
    let stream = TcpStream::connect(addr)
        .await
        .with_context(|| format!("connecting to {addr}"))?;
    stream.set_nodelay(true)?;
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .context("HTTP/1.1 handshake")?;
    tokio::spawn(async move {
        // The connection ends when its sender is dropped; errors surface on the sender.
        let _ = conn.await;
    });
    Ok(sender)
}

/// Builds, signs and sends one KMS request; returns the status, the headers and the whole
/// body.
pub async fn send(
    sender: &mut Sender,
    endpoint: &Endpoint,
    operation: &str,
    body: Bytes,
) -> Result<(StatusCode, HeaderMap, Bytes)> {
    let target = format!("TrentService.{operation}");
    send_to(sender, endpoint, (&target, "kms"), body).await
}

/// [`send`] for any JSON 1.1 `(X-Amz-Target, SigV4 service)`.
pub async fn send_to(
    sender: &mut Sender,
    endpoint: &Endpoint,
    (target, service): (&str, &str),
    body: Bytes,
) -> Result<(StatusCode, HeaderMap, Bytes)> {
    let request = Request::builder()
        .method(Method::POST)
        .uri("/")
        .header(header::HOST, endpoint.addr.to_string())
        .header(header::CONTENT_TYPE, "application/x-amz-json-1.1")
        .header("x-amz-target", target)
        .body(())?;
    let (mut parts, ()) = request.into_parts();
    sigv4::sign(
        &mut parts,
        &body,
        &endpoint.credentials,
        &endpoint.region,
        service,
        SystemTime::now(),
    )?;
    let request = Request::from_parts(parts, Full::new(body));
    sender.ready().await.context("connection closed")?;
    let response = sender.send_request(request).await?;
    let (parts, body) = response.into_parts();
    let body = body.collect().await?.to_bytes();
    Ok((parts.status, parts.headers, body))
}

/// One request on a fresh connection, for setup; a non-200 answer is an error.
pub async fn call(
    endpoint: &Endpoint,
    operation: &str,
    body: &serde_json::Value,
) -> Result<serde_json::Value> {
    Ok(call_with_headers(endpoint, operation, body).await?.0)
}

/// [`call`], also returning the response headers.
pub async fn call_with_headers(
    endpoint: &Endpoint,
    operation: &str,
    body: &serde_json::Value,
) -> Result<(serde_json::Value, HeaderMap)> {
    let mut sender = connect(endpoint.addr).await?;
    let (status, headers, bytes) = send(
        &mut sender,
        endpoint,
        operation,
        Bytes::from(serde_json::to_vec(body)?),
    )
    .await
    .with_context(|| format!("{operation} request"))?;
    if status != StatusCode::OK {
        bail!(
            "{operation}: HTTP {status}: {}",
            String::from_utf8_lossy(&bytes)
        );
    }
    let value = serde_json::from_slice(&bytes)
        .with_context(|| format!("{operation}: answer is not JSON"))?;
    Ok((value, headers))
}

/// Per-connection tallies, merged at the end of a phase.
#[derive(Debug, Default)]
struct Tally {
    latency: Histogram,
    completed: u64,
    errors: u64,
    first_error: Option<String>,
}

impl Tally {
    fn error(&mut self, message: String) {
        self.errors += 1;
        self.first_error.get_or_insert(message);
    }
}

/// Runs one phase: `connections` connections to `endpoint` sending `workload` until
/// `stop`, with `server` the process whose CPU time is charged to the phase.
pub async fn run(
    endpoint: &Endpoint,
    workload: Arc<dyn Workload>,
    connections: usize,
    stop: Stop,
    server: u32,
) -> Result<PhaseResult> {
    run_paced(endpoint, workload, connections, stop, server, None).await
}

/// [`run`], open loop when `interval` is given: each connection sends one request every
/// `interval` (the connections staggered evenly), whatever the answers' latency, and a
/// request's latency counts from when it was due, not from when it was sent (a late
/// answer delays the next request, and that wait counts too: no coordinated omission).
/// The offered rate is `connections / interval`, the same for any server, so latencies of
/// two servers compare at equal load.
pub async fn run_paced(
    endpoint: &Endpoint,
    workload: Arc<dyn Workload>,
    connections: usize,
    stop: Stop,
    server: u32,
    interval: Option<Duration>,
) -> Result<PhaseResult> {
    let mut senders = Vec::with_capacity(connections);
    for _ in 0..connections {
        senders.push(connect(endpoint.addr).await?);
    }
    let tickets = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let (measure_from, measure_until) = match stop {
        Stop::Timed { warmup, measure } => (started + warmup, Some(started + warmup + measure)),
        Stop::Count(_) => (started, None),
    };
    let limit = match stop {
        Stop::Count(n) => n,
        Stop::Timed { .. } => u64::MAX,
    };
    let cpu_before = if let Stop::Count(_) = stop {
        Some(CpuTicks::read(server)?)
    } else {
        None
    };

    let mut tasks = Vec::with_capacity(connections);
    for (i, mut sender) in senders.into_iter().enumerate() {
        let endpoint = endpoint.clone();
        let workload = workload.clone();
        let tickets = tickets.clone();
        let mut due = interval.map(|iv| started + iv.mul_f64(i as f64 / connections as f64));
        tasks.push(tokio::spawn(async move {
            let mut tally = Tally::default();
            loop {
                let now = match (&mut due, interval) {
                    (Some(due), Some(iv)) => {
                        tokio::time::sleep_until((*due).into()).await;
                        let this = *due;
                        *due += iv;
                        this
                    }
                    _ => Instant::now(),
                };
                if measure_until.is_some_and(|end| now >= end) {
                    break;
                }
                let seq = tickets.fetch_add(1, Ordering::Relaxed);
                if seq >= limit {
                    break;
                }
                let body = workload.body(seq);
                let result = send(&mut sender, &endpoint, workload.operation(), body).await;
                let done = Instant::now();
                let in_window = done >= measure_from && measure_until.is_none_or(|end| done < end);
                match result {
                    Ok((StatusCode::OK, _, answer)) => {
                        workload.on_success(seq, &answer);
                        if in_window {
                            tally.completed += 1;
                            tally
                                .latency
                                .record(done.duration_since(now).as_micros() as u64);
                        }
                    }
                    Ok((status, _, answer)) => tally.error(format!(
                        "HTTP {status}: {}",
                        String::from_utf8_lossy(&answer[..answer.len().min(300)])
                    )),
                    Err(e) => {
                        tally.error(format!("{e:#}"));
                        break; // the connection is gone
                    }
                }
            }
            tally
        }));
    }

    let (cpu, window) = match stop {
        Stop::Timed { measure, .. } => {
            tokio::time::sleep_until(measure_from.into()).await;
            let before = CpuTicks::read(server)?;
            tokio::time::sleep(measure).await;
            let after = CpuTicks::read(server)?;
            (after.since(&before), measure)
        }
        Stop::Count(_) => (CpuSample::default(), Duration::ZERO),
    };

    let mut total = Tally::default();
    for task in tasks {
        let tally = task.await.context("load task panicked")?;
        total.latency.merge(&tally.latency);
        total.completed += tally.completed;
        total.errors += tally.errors;
        if total.first_error.is_none() {
            total.first_error = tally.first_error;
        }
    }
    let (cpu, window) = match cpu_before {
        Some(before) => (CpuTicks::read(server)?.since(&before), started.elapsed()),
        None => (cpu, window),
    };
    Ok(PhaseResult {
        latency: total.latency,
        completed: total.completed,
        errors: total.errors,
        first_error: total.first_error,
        window,
        cpu,
    })
}
