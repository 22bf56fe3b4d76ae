//! The HTTP edge of Kagi, and the only crate that knows HTTP and JSON.
//!
//! The life of a request: [`serve`] accepts a connection and hands each HTTP/1.1 request
//! to [`Server::handle`], which
//! 1. answers the few non-AWS paths (`/_kagi/health`, `/_kagi/ready`, and `/_kagi/dev/reset`
//!    in dev mode);
//! 2. enforces the body-size limit while reading the body;
//! 3. authenticates the SigV4 signature into a [`kagi_kms::Caller`] ([`auth`]);
//! 4. maps `X-Amz-Target` to an [`Operation`] (unknown → `UnknownOperationException`);
//! 5. runs the operation ([`ops::dispatch`]): inline for cryptographic operations on cached
//!    keys, on a blocking thread for those that wait on the store;
//! 6. renders the result or the error ([`error`]), with `x-amzn-RequestId` always set.
//!
//! It holds no domain logic: validation beyond JSON shape, key states and crypto are the
//! domain's.

pub mod admin_client;
pub mod audit;
pub mod auth;
pub mod error;
#[cfg(feature = "fuzzing")]
pub mod fuzzing;
pub mod operation;
pub mod ops;
pub mod wire;

pub use operation::Operation;

use bytes::Bytes;
use error::ApiError;
use http::{header, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use kagi_crypto::{Rng, SystemRng};
use kagi_kms::{Clock, KeyId, Kms, SystemClock};
use std::convert::Infallible;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use zeroize::Zeroizing;

/// Largest request body accepted. The largest legitimate KMS request is a CreateKey or
/// PutKeyPolicy with a 32 KiB policy; this leaves room for JSON escaping and tags.
pub const DEFAULT_MAX_BODY_BYTES: usize = 256 * 1024;

/// How the edge behaves. `Default` is production behaviour.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Accept any well-formed SigV4 signature without checking the secret, and expose
    /// `POST /_kagi/dev/reset`. For CI and local development only.
    pub dangerous_dev_mode: bool,
    pub max_body_bytes: usize,
    /// AWS allows 15 minutes between the request's signing time and the server's clock.
    pub max_clock_skew: Duration,
    /// How long a client may take to send a request body.
    pub body_timeout: Duration,
    /// Most connections served at once; further clients wait in the listen backlog.
    pub max_connections: usize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            dangerous_dev_mode: false,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            max_clock_skew: sigv4::DEFAULT_MAX_SKEW,
            body_timeout: Duration::from_secs(30),
            max_connections: 4096,
        }
    }
}

/// The HTTP service: shared by every connection.
pub struct Server {
    kms: Arc<Kms>,
    config: ServerConfig,
    /// The wall clock SigV4 signing times are checked against. Separate from the domain's
    /// clock so tests can move key schedules forward without invalidating signatures.
    auth_clock: Arc<dyn Clock>,
    signing_keys: sigv4::SigningKeyCache,
    /// Random per process; request ids are this prefix plus a counter (unique without
    /// asking the CSPRNG on every request).
    request_id_prefix: [u8; 8],
    request_counter: AtomicU64,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

type Body = Full<Bytes>;

const JSON_CONTENT_TYPE: &str = "application/x-amz-json-1.1";

impl Server {
    pub fn new(kms: Arc<Kms>, config: ServerConfig) -> Self {
        Self {
            kms,
            config,
            auth_clock: Arc::new(SystemClock),
            signing_keys: sigv4::SigningKeyCache::new(),
            request_id_prefix: {
                let mut p = [0u8; 8];
                // Zeros only if the CSPRNG fails, which the first key operation would
                // report anyway; ids stay unique within the process either way.
                let _ = SystemRng::new().fill(&mut p);
                p
            },
            request_counter: AtomicU64::new(0),
        }
    }

    /// Replaces the clock SigV4 signing times are checked against.
    pub fn with_auth_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.auth_clock = clock;
        self
    }

    pub fn kms(&self) -> &Arc<Kms> {
        &self.kms
    }

    /// A UUID-shaped id, unique per request: the process prefix and a counter.
    fn request_id(&self) -> String {
        let mut b = [0u8; 16];
        b[..8].copy_from_slice(&self.request_id_prefix);
        let n = self.request_counter.fetch_add(1, Ordering::Relaxed);
        b[8..].copy_from_slice(&n.to_be_bytes());
        b[6] = (b[6] & 0x0f) | 0x40;
        b[8] = (b[8] & 0x3f) | 0x80;
        KeyId::from_bytes(b).to_string()
    }

    /// Handles one HTTP request; never fails at the HTTP level.
    pub async fn handle(
        self: Arc<Self>,
        req: Request<Incoming>,
    ) -> Result<Response<Body>, Infallible> {
        let request_id = self.request_id();
        let (status, body) = match self.route(req).await {
            Ok(body) => (StatusCode::OK, body),
            Err(e) => {
                match &e {
                    ApiError::Kms(kagi_kms::KmsError::Internal(inner)) => {
                        tracing::error!(request_id, error = %inner, "internal error");
                    }
                    ApiError::Internal => tracing::error!(request_id, "internal error"),
                    other => tracing::debug!(request_id, code = other.aws_code(), "request failed"),
                }
                (
                    StatusCode::from_u16(e.status()).unwrap_or(StatusCode::BAD_REQUEST),
                    e.body(&request_id),
                )
            }
        };
        let mut resp = Response::new(Full::new(Bytes::from(body)));
        *resp.status_mut() = status;
        let headers = resp.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            http::HeaderValue::from_static(JSON_CONTENT_TYPE),
        );
        if let Ok(v) = http::HeaderValue::from_str(&request_id) {
            headers.insert("x-amzn-requestid", v);
        }
        Ok(resp)
    }

    async fn route(&self, req: Request<Incoming>) -> Result<Vec<u8>, ApiError> {
        match (req.method(), req.uri().path()) {
            (&Method::GET, "/_kagi/health") => return Ok(br#"{"Status":"ok"}"#.to_vec()),
            (&Method::GET, "/_kagi/ready") => {
                let kms = self.kms.clone();
                run_blocking(move || kms.check_store().map_err(|_| ApiError::StoreUnavailable))
                    .await?;
                return Ok(br#"{"Status":"ready"}"#.to_vec());
            }
            (&Method::POST, "/_kagi/dev/reset") if self.config.dangerous_dev_mode => {
                let kms = self.kms.clone();
                run_blocking(move || kms.dangerous_wipe_all_keys().map_err(ApiError::from)).await?;
                self.signing_keys.clear();
                return Ok(b"{}".to_vec());
            }
            (&Method::POST, "/") => {}
            (method, path) => {
                return Err(ApiError::UnknownOperation {
                    message: format!("No operation is served at {method} {path}"),
                })
            }
        }
        let (parts, body) = req.into_parts();
        let body = self.read_body(&parts, body).await?;
        let target = parts
            .headers
            .get("x-amz-target")
            .and_then(|v| v.to_str().ok());
        let op = target.and_then(Operation::from_target);
        let caller = auth::authenticate(self, &parts, &body, op)?;
        let op = op.ok_or_else(|| ApiError::UnknownOperation {
            message: match target {
                Some(t) => format!(
                    "The operation {} is not supported.",
                    t.chars().take(128).collect::<String>()
                ),
                None => "Missing X-Amz-Target header.".to_string(),
            },
        })?;
        if op.may_block() {
            let kms = self.kms.clone();
            run_blocking(move || ops::dispatch(&kms, op, &caller, &body)).await
        } else {
            ops::dispatch(&self.kms, op, &caller, &body)
        }
    }

    /// Reads the body into zeroizing memory (it may hold plaintext), within the limit.
    async fn read_body(
        &self,
        parts: &http::request::Parts,
        body: Incoming,
    ) -> Result<Zeroizing<Vec<u8>>, ApiError> {
        let limit = self.config.max_body_bytes;
        let declared = parts
            .headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > limit as u64) {
            return Err(ApiError::BodyTooLarge { limit });
        }
        let collected = tokio::time::timeout(
            self.config.body_timeout,
            Limited::new(body, limit).collect(),
        )
        .await
        .map_err(|_| ApiError::RequestTimeout)?
        .map_err(|e| {
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some()
            {
                ApiError::BodyTooLarge { limit }
            } else {
                ApiError::serialization("The request body could not be read.")
            }
        })?;
        Ok(Zeroizing::new(collected.to_bytes().to_vec()))
    }
}

async fn run_blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f).await.map_err(|e| {
        tracing::error!(error = %e, "blocking task failed");
        ApiError::Internal
    })?
}

/// Serves HTTP/1.1 on `listener` until `shutdown` completes, then stops accepting and
/// waits (up to `drain`) for requests in flight.
pub async fn serve(
    listener: TcpListener,
    server: Arc<Server>,
    shutdown: impl Future<Output = ()>,
    drain: Duration,
) -> std::io::Result<()> {
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let slots = Arc::new(tokio::sync::Semaphore::new(server.config.max_connections));
    tokio::pin!(shutdown);
    loop {
        // At most `max_connections` at once: the next accept waits for a free slot, so a
        // flood of connections cannot exhaust file descriptors or memory.
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => match slot {
                Ok(slot) => slot,
                Err(_) => break, // the semaphore is never closed; stop if it ever is
            },
            () = &mut shutdown => break,
        };
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, _peer) = match accepted {
                    Ok(s) => s,
                    Err(e) => {
                        // Out of file descriptors and the like: back off instead of spinning.
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let server = server.clone();
                let service = hyper::service::service_fn(move |req| server.clone().handle(req));
                let conn = hyper::server::conn::http1::Builder::new()
                    .keep_alive(true)
                    .header_read_timeout(Duration::from_secs(30))
                    .timer(hyper_util::rt::TokioTimer::new())
                    .serve_connection(TokioIo::new(stream), service);
                let conn = graceful.watch(conn);
                tokio::spawn(async move {
                    if let Err(e) = conn.await {
                        tracing::debug!(error = %e, "connection ended with an error");
                    }
                    drop(slot);
                });
            }
            () = &mut shutdown => break,
        }
    }
    drop(listener);
    if tokio::time::timeout(drain, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("some connections did not finish within the drain period");
    }
    Ok(())
}
