//! The HTTP edge of Kagi, and the only crate that knows HTTP and JSON.
//!
//! The life of a request: [`serve`] accepts a connection and hands each HTTP/1.1 request
//! to [`Server::handle`], which
//! 1. answers the few non-AWS paths (`/_kagi/health`, `/_kagi/ready`, `/_kagi/dev/reset`
//!    in dev mode, and on a shared store `/_kagi/peer` for the other nodes, see [`cluster`]);
//! 2. enforces the body-size limit while reading the body;
//! 3. authenticates the SigV4 signature into a [`kagi_kms::Caller`] ([`auth`]);
//! 4. maps `X-Amz-Target` to an [`Operation`] (unknown → `UnknownOperationException`);
//! 5. runs the operation ([`ops::dispatch`]): inline for cryptographic operations on cached
//!    keys, on a blocking thread for those that wait on the store;
//! 6. renders the result or the error ([`error`]), with `x-amzn-RequestId` always set;
//! 7. records the call in the audit trail ([`audit`] builds the CloudTrail event) and waits
//!    until the event is durable before the response leaves. The response carries the
//!    event's id and log index (`x-kagi-audit-event-id`, `x-kagi-audit-log-index`). If the
//!    event cannot be written, the client gets `DependencyTimeoutException` (503) instead of
//!    the result; while the log is failing, operations are refused before they run, and the
//!    first event that can be written again ends the refusal (fail closed, recover alone).
//!
//! Probes (`/_kagi/health`, `/_kagi/ready`) are not API calls and are not audited.
//!
//! It holds no domain logic: validation beyond JSON shape, key states and crypto are the
//! domain's.

pub mod admin_client;
pub mod audit;
pub mod auth;
pub mod cluster;
pub mod error;
#[cfg(feature = "fuzzing")]
pub mod fuzzing;
pub mod operation;
pub mod ops;
mod resources;
pub mod wire;

pub use operation::Operation;

use bytes::Bytes;
use error::ApiError;
use http::{header, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use kagi_audit::event::CloudTrailEvent;
use kagi_audit::trail::{AuditTrail, Recorded, TrailError};
use kagi_crypto::{Rng, SystemRng};
use kagi_kms::{Caller, Clock, KeyId, Kms, Principal, SystemClock};
use ops::audit::History;
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
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

/// UUID-shaped ids unique within the process without asking the CSPRNG each time: a
/// random per-process prefix and a counter.
#[derive(Debug)]
pub struct IdGenerator {
    prefix: [u8; 8],
    counter: AtomicU64,
}

impl IdGenerator {
    pub fn new() -> Self {
        let mut prefix = [0u8; 8];
        // Zeros only if the CSPRNG fails, which the first key operation would report
        // anyway; ids stay unique within the process either way.
        let _ = SystemRng::new().fill(&mut prefix);
        Self {
            prefix,
            counter: AtomicU64::new(0),
        }
    }

    pub fn next_id(&self) -> String {
        let mut b = [0u8; 16];
        b[..8].copy_from_slice(&self.prefix);
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        b[8..].copy_from_slice(&n.to_be_bytes());
        b[6] = (b[6] & 0x0f) | 0x40;
        b[8] = (b[8] & 0x3f) | 0x80;
        KeyId::from_bytes(b).to_string()
    }
}

impl Default for IdGenerator {
    fn default() -> Self {
        Self::new()
    }
}

/// The facts of one call gathered while it is served, for its audit event.
#[derive(Default)]
struct CallFacts {
    operation: Option<Operation>,
    target: Option<String>,
    principal: Option<Principal>,
    claimed_access_key_id: Option<String>,
    region: Option<String>,
    body: Arc<Zeroizing<Vec<u8>>>,
    resources: Vec<String>,
    /// The `Action` of a query-protocol (STS) request: its response is XML.
    query_action: Option<String>,
    /// An authenticated request of another node of the cluster: part of a call that node
    /// records, so not recorded again here.
    peer_call: bool,
}

/// Longest `User-Agent` recorded (CloudTrail truncates long agents too).
const MAX_USER_AGENT_CHARS: usize = 1024;

/// The HTTP service: shared by every connection.
pub struct Server {
    kms: Arc<Kms>,
    audit: Arc<AuditTrail>,
    config: ServerConfig,
    /// The wall clock SigV4 signing times are checked against. Separate from the domain's
    /// clock so tests can move key schedules forward without invalidating signatures.
    auth_clock: Arc<dyn Clock>,
    signing_keys: sigv4::SigningKeyCache,
    request_ids: IdGenerator,
    event_ids: IdGenerator,
    /// The other nodes of a shared store, which audit lookups also cover.
    cluster: Option<Arc<cluster::Cluster>>,
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
    pub fn new(kms: Arc<Kms>, audit: Arc<AuditTrail>, config: ServerConfig) -> Self {
        Self {
            kms,
            audit,
            config,
            auth_clock: Arc::new(SystemClock),
            signing_keys: sigv4::SigningKeyCache::new(),
            request_ids: IdGenerator::new(),
            event_ids: IdGenerator::new(),
            cluster: None,
        }
    }

    /// Makes this node one of a cluster: audit lookups cover every live node's log, and
    /// peers' requests are answered at [`cluster::PEER_PATH`].
    pub fn with_cluster(mut self, cluster: Arc<cluster::Cluster>) -> Self {
        self.cluster = Some(cluster);
        self
    }

    /// Replaces the clock SigV4 signing times are checked against.
    pub fn with_auth_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.auth_clock = clock;
        self
    }

    pub fn kms(&self) -> &Arc<Kms> {
        &self.kms
    }

    pub fn audit(&self) -> &Arc<AuditTrail> {
        &self.audit
    }

    /// Records something Kagi did by itself (scheduled rotation, deletion at the end of
    /// the waiting period) as an `AwsServiceEvent`, waiting until it is durable. A failure
    /// is logged: the change itself is already committed.
    pub fn record_service_event(
        &self,
        action: audit::ServiceAction,
        region: &kagi_kms::Region,
        key_id: &KeyId,
    ) {
        let key_id_text = key_id.to_string();
        let event = audit::service_event(&audit::ServiceCall {
            action,
            account: self.kms.account(),
            region: region.as_str(),
            key_id: &key_id_text,
            key_arn: &kagi_kms::ids::key_arn(region, self.kms.account(), key_id),
            event_id: &self.event_ids.next_id(),
            time: self.auth_clock.now(),
        });
        if let Err(e) = self.audit.record_blocking(event) {
            tracing::error!(error = %e, key = %key_id_text, "service event not recorded");
        }
    }

    /// Handles one HTTP request from `peer`; never fails at the HTTP level.
    pub async fn handle(
        self: Arc<Self>,
        req: Request<Incoming>,
        peer: SocketAddr,
    ) -> Result<Response<Body>, Infallible> {
        let request_id = self.request_ids.next_id();
        if let Some(probe) = self.probe(&req).await {
            return Ok(response(probe, &request_id, None));
        }
        // Every call below records one event (peer calls excepted): announced now, so the
        // log can hold a group commit back for it while it is being served.
        let expected = self.audit.expect_event();
        let received = self.auth_clock.now();
        let user_agent: String = req
            .headers()
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .chars()
            .take(MAX_USER_AGENT_CHARS)
            .collect();
        let mut facts = CallFacts::default();
        let result = self.route(req, peer, &mut facts).await;
        if facts.peer_call {
            return Ok(response(result, &request_id, None));
        }
        let event = self.event(&facts, &result, &request_id, peer, &user_agent, received);
        drop(expected);
        let event_id = http::HeaderValue::from_str(&event.event_id).ok();
        let query_action = facts.query_action.take();
        // Only the result and the request id wait for the sync with the request: the rest of
        // what it allocated is freed now, while it is still in this thread's caches.
        drop((facts, user_agent));
        let resp = match self.record(event).await {
            Ok(recorded) => {
                let mut resp = response(result, &request_id, query_action.as_deref());
                let headers = resp.headers_mut();
                if let Some(v) = event_id {
                    headers.insert("x-kagi-audit-event-id", v);
                }
                headers.insert(
                    "x-kagi-audit-log-index",
                    http::HeaderValue::from(recorded.seq),
                );
                resp
            }
            Err(e) => {
                tracing::error!(request_id, error = %e, "audit event not written; response withheld");
                response(
                    Err(ApiError::AuditUnavailable),
                    &request_id,
                    query_action.as_deref(),
                )
            }
        };
        Ok(resp)
    }

    /// Makes `event` durable, waiting without blocking the async worker. The event is
    /// serialised (and handed to the index) before the wait.
    async fn record(&self, event: CloudTrailEvent) -> Result<Recorded, TrailError> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.audit.record(event, move |r| {
            let _ = tx.send(r);
        });
        rx.await
            .unwrap_or_else(|_| Err(TrailError::Unavailable("the audit log is closed".into())))
    }

    /// The audit event of a served call.
    fn event(
        &self,
        facts: &CallFacts,
        result: &Result<Vec<u8>, ApiError>,
        request_id: &str,
        peer: SocketAddr,
        user_agent: &str,
        received: kagi_kms::Timestamp,
    ) -> CloudTrailEvent {
        let error_message;
        let outcome = match result {
            Ok(body) => audit::Outcome::Success { response: body },
            Err(e) => {
                error_message = e.client_message(request_id);
                audit::Outcome::Failure {
                    error_code: audit::cloudtrail_error_code(e.aws_code()),
                    error_message: &error_message,
                }
            }
        };
        let source_ip = peer.ip().to_string();
        let event_id = self.event_ids.next_id();
        let principal_id = facts
            .principal
            .as_ref()
            .filter(|p| p.role.is_some())
            .map(|p| self.kms.caller_user_id(p));
        audit::api_call_event(&audit::ApiCall {
            operation: facts.operation,
            target: facts.target.as_deref(),
            principal: facts.principal.as_ref(),
            principal_id: principal_id.as_deref(),
            claimed_access_key_id: facts.claimed_access_key_id.as_deref(),
            account: self.kms.account(),
            region: facts.region.as_deref().unwrap_or(""),
            source_ip: &source_ip,
            user_agent,
            request_id,
            event_id: &event_id,
            time: received,
            request_body: &facts.body,
            outcome,
            resources: &facts.resources,
        })
    }

    /// Answers the probes, which are not API calls and are not audited.
    async fn probe(&self, req: &Request<Incoming>) -> Option<Result<Vec<u8>, ApiError>> {
        if req.method() != Method::GET {
            return None;
        }
        match req.uri().path() {
            "/_kagi/health" => Some(Ok(br#"{"Status":"ok"}"#.to_vec())),
            "/_kagi/ready" => {
                if !self.audit.is_healthy() {
                    return Some(Err(ApiError::AuditUnavailable));
                }
                let kms = self.kms.clone();
                Some(
                    run_blocking(move || kms.check_store().map_err(|_| ApiError::StoreUnavailable))
                        .await
                        .map(|()| br#"{"Status":"ready"}"#.to_vec()),
                )
            }
            _ => None,
        }
    }

    async fn route(
        &self,
        req: Request<Incoming>,
        peer: SocketAddr,
        facts: &mut CallFacts,
    ) -> Result<Vec<u8>, ApiError> {
        let target = req
            .headers()
            .get("x-amz-target")
            .and_then(|v| v.to_str().ok());
        facts.target = target.map(|t| t.chars().take(256).collect());
        facts.operation = target.and_then(Operation::from_target);
        let (claimed_key, claimed_region) = auth::claimed_scope(req.headers());
        facts.claimed_access_key_id = claimed_key;
        facts.region = claimed_region;
        match (req.method(), req.uri().path()) {
            (&Method::POST, "/_kagi/dev/reset") if self.config.dangerous_dev_mode => {
                facts.target = Some("KagiDev.Reset".into());
                let kms = self.kms.clone();
                run_blocking(move || kms.dangerous_wipe_all_keys().map_err(ApiError::from)).await?;
                self.signing_keys.clear();
                return Ok(b"{}".to_vec());
            }
            (&Method::POST, "/") => {}
            (&Method::POST, cluster::PEER_PATH) if self.cluster.is_some() => {
                return self.peer_request(req, facts).await;
            }
            (method, path) => {
                return Err(ApiError::UnknownOperation {
                    message: format!("No operation is served at {method} {path}"),
                })
            }
        }
        let (parts, body) = req.into_parts();
        // The body as signed; `body` below is what the operation and the audit read.
        let signed_body = self.read_body(&parts, body).await?;
        let body = if facts.target.is_none() && is_form(&parts.headers) {
            // The AWS query protocol (STS): form parameters become the JSON object the
            // handlers and the audit allow-lists read; the answer will be XML.
            let (action, json) = wire::form_to_json(&signed_body)?;
            facts.operation = Operation::from_query_action(&action);
            facts.target = Some(action.chars().take(128).collect());
            facts.query_action = facts.target.clone();
            Arc::new(Zeroizing::new(json))
        } else {
            Arc::new(signed_body.clone())
        };
        facts.body = body.clone();
        let op = facts.operation;
        // Fail closed: nothing runs while events cannot be written. Checked after the body
        // was read, so the connection stays usable; recording this refusal is also the
        // probe that ends it once the disk recovers.
        if !self.audit.is_healthy() {
            return Err(ApiError::AuditUnavailable);
        }
        let caller = self
            .off_workers_if_uncached(|| auth::authenticate(self, &parts, &signed_body, op, peer))?;
        facts.region = Some(caller.region.to_string());
        facts.principal = Some(caller.principal.clone());
        let op = op.ok_or_else(|| ApiError::UnknownOperation {
            message: match &facts.target {
                Some(t) => format!(
                    "The operation {} is not supported.",
                    t.chars().take(128).collect::<String>()
                ),
                None => "Missing X-Amz-Target header.".to_string(),
            },
        })?;
        let (result, resources) = if op.may_block() {
            let kms = self.kms.clone();
            let audit = self.audit.clone();
            let cluster = self.cluster.clone();
            run_blocking(move || {
                let history = History {
                    trail: &audit,
                    cluster: cluster.as_deref(),
                };
                Ok(run_operation(&kms, &history, op, &caller, &body))
            })
            .await?
        } else {
            // Audit answers wait on the trail (and peers): they are never run inline.
            let history = History::local(&self.audit);
            self.off_workers_if_uncached(|| run_operation(&self.kms, &history, op, &caller, &body))
        };
        facts.resources = resources;
        result
    }

    /// A request of another node of the cluster (see [`cluster`]): authenticated with the
    /// cluster's peer secret, answered from this node's trail.
    async fn peer_request(
        &self,
        req: Request<Incoming>,
        facts: &mut CallFacts,
    ) -> Result<Vec<u8>, ApiError> {
        let Some(cluster) = self.cluster.clone() else {
            return Err(ApiError::Internal);
        };
        let operation = cluster::peer_operation(req.headers()).map(str::to_string);
        facts.target = Some(format!(
            "KagiPeer.{}",
            operation
                .as_deref()
                .unwrap_or("")
                .chars()
                .take(64)
                .collect::<String>()
        ));
        let (parts, body) = req.into_parts();
        let body = self.read_body(&parts, body).await?;
        let now = std::time::UNIX_EPOCH
            + Duration::from_millis(self.auth_clock.now().millis().max(0) as u64);
        cluster.authenticate(&parts, &body, now)?;
        facts.peer_call = true;
        let audit = self.audit.clone();
        run_blocking(move || cluster::answer_peer(&audit, operation.as_deref(), &body)).await
    }

    /// Runs `f`, which normally finds what it needs in the domain's cache, inline; but
    /// while the cache is not trusted (a shared store whose change feed is lost, see
    /// `Kms::mark_synced`) every lookup waits on the store, so `f` then runs as blocking
    /// work, and a database that stopped answering cannot stall the async workers.
    fn off_workers_if_uncached<T>(&self, f: impl FnOnce() -> T) -> T {
        use tokio::runtime::{Handle, RuntimeFlavor};
        let multi_thread = || {
            Handle::try_current().is_ok_and(|h| h.runtime_flavor() == RuntimeFlavor::MultiThread)
        };
        // The trust check first: on a store of one node it is a single atomic load.
        if !self.kms.cache_is_trusted() && multi_thread() {
            tokio::task::block_in_place(f)
        } else {
            f()
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

/// Runs `op` and names the keys it involved (for the audit record's `resources`).
fn run_operation(
    kms: &Kms,
    audit: &History<'_>,
    op: Operation,
    caller: &Caller,
    body: &[u8],
) -> (Result<Vec<u8>, ApiError>, Vec<String>) {
    let named = || resources::named_in_request(kms, caller, op, body);
    // Resolved before the call where the call may change what the names point to
    // (DeleteAlias); after it where a success names the keys itself.
    let early = (!resources::named_by_response(op)).then(named);
    let result = ops::dispatch(kms, audit, op, caller, body);
    let resources = match (&result, early) {
        (_, Some(named)) => named,
        (Ok(response), None) => resources::from_response(op, response).unwrap_or_else(named),
        (Err(_), None) => named(),
    };
    (result, resources)
}

/// Whether a request carries a form-encoded body (the AWS query protocol).
fn is_form(headers: &http::HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"))
}

/// The HTTP response of a result; XML in the query protocol's envelope when the request
/// was a query-protocol `action`, AWS JSON otherwise.
fn response(
    result: Result<Vec<u8>, ApiError>,
    request_id: &str,
    query_action: Option<&str>,
) -> Response<Body> {
    if let Some(action) = query_action {
        return xml_response(result, request_id, action);
    }
    let (status, body) = match result {
        Ok(body) => (StatusCode::OK, body),
        Err(e) => {
            match &e {
                ApiError::Kms(kagi_kms::KmsError::Internal(inner)) => {
                    tracing::error!(request_id, error = %inner, "internal error");
                }
                ApiError::Kms(kagi_kms::KmsError::StoreUnavailable(why)) => {
                    tracing::warn!(request_id, reason = %why, "key store unavailable");
                }
                ApiError::Internal => tracing::error!(request_id, "internal error"),
                other => tracing::debug!(request_id, code = other.aws_code(), "request failed"),
            }
            (
                StatusCode::from_u16(e.status()).unwrap_or(StatusCode::BAD_REQUEST),
                e.body(request_id),
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
    if let Ok(v) = http::HeaderValue::from_str(request_id) {
        headers.insert("x-amzn-requestid", v);
    }
    resp
}

/// A query-protocol response: `<{action}Response>` around the result fragment, or the
/// XML error.
fn xml_response(
    result: Result<Vec<u8>, ApiError>,
    request_id: &str,
    action: &str,
) -> Response<Body> {
    use ops::sts::{xml_escape, STS_NAMESPACE};
    let (status, body) = match result {
        Ok(fragment) => {
            let action = xml_escape(action);
            let mut body = format!("<{action}Response xmlns=\"{STS_NAMESPACE}\"><{action}Result>")
                .into_bytes();
            body.extend_from_slice(&fragment);
            body.extend_from_slice(
                format!(
                    "</{action}Result><ResponseMetadata><RequestId>{}</RequestId>\
                     </ResponseMetadata></{action}Response>",
                    xml_escape(request_id)
                )
                .as_bytes(),
            );
            (StatusCode::OK, body)
        }
        Err(e) => {
            if let ApiError::Kms(kagi_kms::KmsError::Internal(inner)) = &e {
                tracing::error!(request_id, error = %inner, "internal error");
            }
            let (_, status) = e.query_code_and_status();
            (
                StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST),
                e.xml_body(request_id),
            )
        }
    };
    let mut resp = Response::new(Full::new(Bytes::from(body)));
    *resp.status_mut() = status;
    let headers = resp.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/xml"),
    );
    if let Ok(v) = http::HeaderValue::from_str(request_id) {
        headers.insert("x-amzn-requestid", v);
    }
    resp
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
                let (stream, peer) = match accepted {
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
                let service =
                    hyper::service::service_fn(move |req| server.clone().handle(req, peer));
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
