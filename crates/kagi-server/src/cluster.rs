//! Audit answers over every node of a shared store.
//!
//! Nodes that share a PostgreSQL store keep one audit log each. `LookupEvents`,
//! `GetKeyLastUsage` and the key-usage summary must answer for the whole cluster, so the
//! node serving one asks its live peers (the store's node registry, kept current by the
//! binary through [`Cluster::set_peers`]) over their internal endpoint, [`PEER_PATH`], and
//! combines their answers with its own (`kagi_audit::federation`).
//!
//! **Peer requests** are SigV4-signed (service `kagi-peer`, the sender's node name as the
//! access key id) with a secret every node holds: 32 random bytes kept wrapped under the
//! root key in the store's settings. They are not recorded as events of their own, since
//! each is part of the call the asking node records; a peer request that fails
//! authentication is recorded like any other refused call.
//!
//! **Failure rule.** An answer is complete or refused: if a live peer (one that
//! registered within the binary's liveness window) does not answer, the call fails with
//! the retryable `DependencyTimeoutException` naming the node, instead of returning a
//! history with a hole in it. A node that is no longer live (it stopped and left the
//! registry, or has not renewed its registration within the window) is left out; its log
//! is intact on its disk and is read again once it returns.

use crate::admin_client::{signed_post, AdminClientError};
use crate::error::ApiError;
use crate::ops::audit::trail_error;
use kagi_audit::event::CloudTrailEvent;
use kagi_audit::federation::{merge, merge_usage_rows, NodeEvent, NodePage, Positions};
use kagi_audit::index::{fingerprint, AttributeKey, LookupQuery, Usage, UsageRow};
use kagi_audit::trail::AuditTrail;
use kagi_crypto::SecretBytes;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::sync::RwLock;
use std::time::{Duration, SystemTime};

/// Where peers' requests are served.
pub const PEER_PATH: &str = "/_kagi/peer";
/// The SigV4 scope of peer requests.
const PEER_SERVICE: &str = "kagi-peer";
const PEER_REGION: &str = "cluster";
/// The header naming the peer operation.
const PEER_OPERATION: &str = "x-kagi-peer-operation";
/// How far a peer request's signing time may be from this node's clock.
const PEER_MAX_SKEW: Duration = Duration::from_secs(5 * 60);
/// How long a peer may take to answer.
const PEER_TIMEOUT: Duration = Duration::from_secs(5);

/// Another live node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Peer {
    pub name: String,
    /// `http://host:port`.
    pub url: String,
}

/// This node's place in a cluster: its name, the peer secret and the live peers.
pub struct Cluster {
    node: String,
    credentials: sigv4::Credentials,
    peers: RwLock<Vec<Peer>>,
    /// Reads the live nodes afresh (the store's registry): before each fan-out, and again
    /// when a peer fails to answer (one that is no longer live does not fail the call).
    directory: Option<Directory>,
}

/// Reads the live nodes from the registry.
pub type Directory = Box<dyn Fn() -> Result<Vec<Peer>, String> + Send + Sync>;

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster")
            .field("node", &self.node)
            .finish_non_exhaustive()
    }
}

/// The operations peers ask of each other.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PeerOperation {
    Lookup,
    LastUse,
    Usage,
}

impl PeerOperation {
    fn name(self) -> &'static str {
        match self {
            Self::Lookup => "Lookup",
            Self::LastUse => "LastUse",
            Self::Usage => "Usage",
        }
    }

    fn parse(name: &str) -> Option<Self> {
        [Self::Lookup, Self::LastUse, Self::Usage]
            .into_iter()
            .find(|op| op.name() == name)
    }
}

// ---------------------------------------------------------------------------------------
// What peers send each other (JSON).

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct LookupAsk {
    /// CloudTrail's attribute key and the value.
    attribute: Option<(String, String)>,
    start_millis: Option<i64>,
    end_millis: Option<i64>,
    limit: usize,
    /// Matches below this log index.
    before: u64,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct LookupAnswer {
    events: Vec<WireEvent>,
    more: bool,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct WireEvent {
    seq: u64,
    /// The canonical event bytes (JSON text).
    event: String,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct KeyNamesAsk {
    names: Vec<String>,
    /// LastUse: the operations that count as a use.
    #[serde(default)]
    operations: Vec<String>,
    /// Usage: inclusive time bounds.
    start_millis: Option<i64>,
    end_millis: Option<i64>,
}

/// The newest successful use of a key on some node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct LastUse {
    pub time_millis: i64,
    pub event_name: String,
    pub event_id: String,
    pub request_id: Option<String>,
}

impl From<Usage> for LastUse {
    fn from(u: Usage) -> Self {
        Self {
            time_millis: u.time_millis,
            event_name: u.event_name,
            event_id: u.event_id,
            request_id: u.request_id,
        }
    }
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct LastUseAnswer {
    last: Option<LastUse>,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct UsageAnswer {
    rows: Vec<UsageRow>,
}

// ---------------------------------------------------------------------------------------
// This node's own answers: to its peers, and its share of its own calls.

fn lookup_query(ask: &LookupAsk) -> Result<LookupQuery, ApiError> {
    let attribute = match &ask.attribute {
        None => None,
        Some((key, value)) => Some((
            AttributeKey::parse(key)
                .ok_or_else(|| ApiError::AuditValidation("unknown attribute key".into()))?,
            value.clone(),
        )),
    };
    Ok(LookupQuery {
        attribute,
        start_millis: ask.start_millis,
        end_millis: ask.end_millis,
        max_results: ask.limit.clamp(1, 50),
        next_token: None,
    })
}

fn local_lookup(trail: &AuditTrail, ask: &LookupAsk) -> Result<LookupAnswer, ApiError> {
    let (events, more) = trail
        .lookup_before(&lookup_query(ask)?, ask.before)
        .map_err(trail_error)?;
    let events = events
        .into_iter()
        .map(|(seq, bytes)| {
            let event = String::from_utf8(bytes).map_err(|_| ApiError::Internal)?;
            Ok(WireEvent { seq, event })
        })
        .collect::<Result<_, ApiError>>()?;
    Ok(LookupAnswer { events, more })
}

fn local_last_use(trail: &AuditTrail, ask: &KeyNamesAsk) -> Result<LastUseAnswer, ApiError> {
    let names: Vec<&str> = ask.names.iter().map(String::as_str).collect();
    let operations: Vec<&str> = ask.operations.iter().map(String::as_str).collect();
    let last = trail
        .last_usage(&names, &operations)
        .map_err(trail_error)?
        .map(LastUse::from);
    Ok(LastUseAnswer { last })
}

fn local_usage(trail: &AuditTrail, ask: &KeyNamesAsk) -> Result<UsageAnswer, ApiError> {
    let names: Vec<&str> = ask.names.iter().map(String::as_str).collect();
    let rows = trail
        .usage_summary(&names, ask.start_millis, ask.end_millis)
        .map_err(trail_error)?;
    Ok(UsageAnswer { rows })
}

/// Answers one peer request (already authenticated) from this node's trail.
pub(crate) fn answer_peer(
    trail: &AuditTrail,
    operation: Option<&str>,
    body: &[u8],
) -> Result<Vec<u8>, ApiError> {
    let op =
        operation
            .and_then(PeerOperation::parse)
            .ok_or_else(|| ApiError::UnknownOperation {
                message: "Unknown peer operation.".into(),
            })?;
    let json = |v: serde_json::Result<Vec<u8>>| v.map_err(|_| ApiError::Internal);
    match op {
        PeerOperation::Lookup => json(serde_json::to_vec(&local_lookup(trail, &parse(body)?)?)),
        PeerOperation::LastUse => json(serde_json::to_vec(&local_last_use(trail, &parse(body)?)?)),
        PeerOperation::Usage => json(serde_json::to_vec(&local_usage(trail, &parse(body)?)?)),
    }
}

fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| crate::error::json_error(&e))
}

// ---------------------------------------------------------------------------------------
// The cluster's answers.

impl Cluster {
    /// This node, named `node`, holding the cluster's peer `secret`; no peers yet.
    pub fn new(node: &str, secret: SecretBytes) -> Self {
        Self {
            node: node.to_string(),
            credentials: sigv4::Credentials::new(node, secret),
            peers: RwLock::new(Vec::new()),
            directory: None,
        }
    }

    /// Where to read the live nodes afresh when a peer fails to answer.
    pub fn with_directory(mut self, directory: Directory) -> Self {
        self.directory = Some(directory);
        self
    }

    pub fn node(&self) -> &str {
        &self.node
    }

    /// Replaces the live peers (this node itself is left out if listed).
    pub fn set_peers(&self, peers: Vec<Peer>) {
        let peers = peers.into_iter().filter(|p| p.name != self.node).collect();
        *self.peers.write().unwrap_or_else(|e| e.into_inner()) = peers;
    }

    pub fn peers(&self) -> Vec<Peer> {
        self.peers.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Checks that a request to [`PEER_PATH`] was signed by a node of this cluster;
    /// returns that node's name.
    pub(crate) fn authenticate(
        &self,
        parts: &http::request::Parts,
        body: &[u8],
        now: SystemTime,
    ) -> Result<String, ApiError> {
        let signed = sigv4::parse_request(parts, now, PEER_MAX_SKEW)?;
        if signed.service() != PEER_SERVICE || signed.region() != PEER_REGION {
            return Err(ApiError::UnrecognizedClient);
        }
        let key = sigv4::SigningKey::derive(
            self.credentials.secret_access_key().expose(),
            signed.date(),
            PEER_REGION,
            PEER_SERVICE,
        );
        signed.verify(&key, parts, body)?;
        Ok(signed.access_key_id().to_string())
    }

    /// Asks every live peer `op` with `body` at once, while `local` computes this node's
    /// share; every answer or the first failure. Runs on a blocking thread of the runtime.
    fn ask_all<A: Serialize, T: DeserializeOwned + Send + 'static>(
        &self,
        op: PeerOperation,
        body: impl Fn(&Peer) -> A,
        local: impl FnOnce() -> Result<T, ApiError>,
    ) -> Result<(T, Vec<(Peer, T)>), ApiError> {
        let peers = self.live_peers();
        let (tx, rx) = std::sync::mpsc::channel();
        if !peers.is_empty() {
            let runtime = tokio::runtime::Handle::try_current().map_err(|_| {
                tracing::error!("a cluster lookup ran outside the server's runtime");
                ApiError::Internal
            })?;
            for (i, peer) in peers.iter().enumerate() {
                let bytes = serde_json::to_vec(&body(peer)).map_err(|_| ApiError::Internal)?;
                let (tx, peer, credentials) = (tx.clone(), peer.clone(), self.credentials.clone());
                runtime.spawn(async move {
                    let asked = tokio::time::timeout(
                        PEER_TIMEOUT,
                        call::<T>(&peer, &credentials, op, bytes),
                    )
                    .await
                    .unwrap_or_else(|_| Err(PeerFailure::Timeout));
                    let _ = tx.send((i, asked));
                });
            }
        }
        drop(tx);
        let own = local()?;
        // Per peer: not yet answered (`None`), left out (`Some(None)`) or its answer.
        let mut answers: Vec<Option<Option<T>>> = peers.iter().map(|_| None).collect();
        let deadline = std::time::Instant::now() + PEER_TIMEOUT + Duration::from_secs(1);
        while let Some(waiting) = answers.iter().position(Option::is_none) {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            let (i, asked) = rx
                .recv_timeout(left)
                .unwrap_or((waiting, Err(PeerFailure::Timeout)));
            answers[i] = Some(match asked {
                Ok(answer) => Some(answer),
                Err(e) if self.departed(&peers[i]) => {
                    tracing::debug!(peer = %peers[i].name, error = %e, "a departed peer left out");
                    None
                }
                Err(e) => return Err(self.unavailable(&peers[i], &e)),
            });
        }
        let answers = peers
            .into_iter()
            .zip(answers)
            .filter_map(|(p, a)| a.flatten().map(|a| (p, a)))
            .collect();
        Ok((own, answers))
    }

    /// The live peers, read afresh from the registry (a node that joined a moment ago
    /// has events too); the last list heard if the registry cannot be read.
    fn live_peers(&self) -> Vec<Peer> {
        if let Some(directory) = &self.directory {
            match directory() {
                Ok(live) => self.set_peers(live),
                Err(e) => {
                    tracing::warn!(error = %e, "the node registry could not be read; using the last list");
                }
            }
        }
        self.peers()
    }

    /// Whether `peer`, which failed to answer, has left the registry since the peer list
    /// was read (then its silence hides nothing a live node holds).
    fn departed(&self, peer: &Peer) -> bool {
        let Some(directory) = &self.directory else {
            return false;
        };
        match directory() {
            Ok(live) => {
                let gone = !live.iter().any(|p| p.name == peer.name);
                self.set_peers(live);
                gone
            }
            Err(e) => {
                tracing::warn!(error = %e, "the node registry could not be read");
                false
            }
        }
    }

    fn unavailable(&self, peer: &Peer, why: &PeerFailure) -> ApiError {
        tracing::warn!(peer = %peer.name, url = %peer.url, error = %why, "a peer did not answer");
        ApiError::PeerUnavailable {
            node: peer.name.clone(),
        }
    }

    /// One `LookupEvents` page over every live node: canonical event bytes newest first,
    /// and the token of the next page.
    pub(crate) fn lookup(
        &self,
        trail: &AuditTrail,
        query: &LookupQuery,
    ) -> Result<(Vec<Vec<u8>>, Option<String>), ApiError> {
        let fp = fingerprint(query);
        let mut positions = match &query.next_token {
            Some(token) => Positions::decode(token, &fp).map_err(|_| ApiError::CloudTrail {
                code: "InvalidNextTokenException",
                message: "Invalid NextToken.".into(),
            })?,
            None => Positions::default(),
        };
        let limit = query.max_results.clamp(1, 50);
        let ask = |node: &str| LookupAsk {
            attribute: query
                .attribute
                .as_ref()
                .map(|(k, v)| (k.as_str().to_string(), v.clone())),
            start_millis: query.start_millis,
            end_millis: query.end_millis,
            limit,
            before: positions.before(node),
        };
        let (own, theirs) = self.ask_all(
            PeerOperation::Lookup,
            |peer| ask(&peer.name),
            || local_lookup(trail, &ask(&self.node)),
        )?;
        let pages = std::iter::once((self.node.clone(), own))
            .chain(theirs.into_iter().map(|(p, a)| (p.name, a)))
            .map(|(node, answer)| node_page(node, answer))
            .collect::<Result<Vec<_>, _>>()?;
        let (events, more) = merge(pages, limit, &mut positions);
        let token = more.then(|| positions.encode(&fp));
        Ok((events.into_iter().map(|e| e.bytes).collect(), token))
    }

    /// The newest successful use, on any live node, of a key named by any of `names` by
    /// one of `operations`.
    pub(crate) fn last_use(
        &self,
        trail: &AuditTrail,
        names: &[&str],
        operations: &[&str],
    ) -> Result<Option<LastUse>, ApiError> {
        let ask = KeyNamesAsk {
            names: names.iter().map(|n| n.to_string()).collect(),
            operations: operations.iter().map(|n| n.to_string()).collect(),
            start_millis: None,
            end_millis: None,
        };
        let (own, theirs) = self.ask_all(
            PeerOperation::LastUse,
            |_| &ask,
            || local_last_use(trail, &ask),
        )?;
        Ok(std::iter::once(own)
            .chain(theirs.into_iter().map(|(_, a)| a))
            .filter_map(|a: LastUseAnswer| a.last)
            .max_by_key(|u| u.time_millis))
    }

    /// Who used a key how, summed over every live node.
    pub(crate) fn usage_summary(
        &self,
        trail: &AuditTrail,
        names: &[&str],
        start_millis: Option<i64>,
        end_millis: Option<i64>,
    ) -> Result<Vec<UsageRow>, ApiError> {
        let ask = KeyNamesAsk {
            names: names.iter().map(|n| n.to_string()).collect(),
            operations: Vec::new(),
            start_millis,
            end_millis,
        };
        let (own, theirs) =
            self.ask_all(PeerOperation::Usage, |_| &ask, || local_usage(trail, &ask))?;
        Ok(merge_usage_rows(
            std::iter::once(own)
                .chain(theirs.into_iter().map(|(_, a)| a))
                .flat_map(|a: UsageAnswer| a.rows),
        ))
    }
}

/// A node's answer as a page to merge: each event's time read from the event itself.
fn node_page(node: String, answer: LookupAnswer) -> Result<NodePage, ApiError> {
    let events = answer
        .events
        .into_iter()
        .map(|e| {
            let parsed = CloudTrailEvent::parse(e.event.as_bytes()).map_err(|err| {
                tracing::error!(node = %node, error = %err, "a node's event does not parse");
                ApiError::Internal
            })?;
            Ok(NodeEvent {
                seq: e.seq,
                time_millis: parsed.event_time.epoch_seconds().saturating_mul(1000),
                bytes: e.event.into_bytes(),
            })
        })
        .collect::<Result<_, ApiError>>()?;
    Ok(NodePage {
        node,
        events,
        more: answer.more,
    })
}

/// Why a peer gave no answer.
#[derive(Debug, thiserror::Error)]
enum PeerFailure {
    #[error("{0}")]
    Transport(#[from] AdminClientError),
    #[error("answered {status}: {body}")]
    Refused { status: u16, body: String },
    #[error("the answer is not what was asked for")]
    Malformed,
    #[error("no answer within {PEER_TIMEOUT:?}")]
    Timeout,
}

/// One signed peer request.
async fn call<T: DeserializeOwned>(
    peer: &Peer,
    credentials: &sigv4::Credentials,
    op: PeerOperation,
    body: Vec<u8>,
) -> Result<T, PeerFailure> {
    let (status, bytes) = signed_post(
        &peer.url,
        PEER_PATH,
        &[
            ("content-type", "application/json"),
            (PEER_OPERATION, op.name()),
        ],
        credentials,
        (PEER_REGION, PEER_SERVICE),
        body,
    )
    .await?;
    if status != 200 {
        return Err(PeerFailure::Refused {
            status,
            body: String::from_utf8_lossy(&bytes).chars().take(512).collect(),
        });
    }
    serde_json::from_slice(&bytes).map_err(|_| PeerFailure::Malformed)
}

/// The operation header of a peer request.
pub(crate) fn peer_operation(headers: &http::HeaderMap) -> Option<&str> {
    headers.get(PEER_OPERATION).and_then(|v| v.to_str().ok())
}
