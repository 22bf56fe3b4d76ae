//! Operations answered from the audit trail:
//!
//! - KMS `GetKeyLastUsage`: the last successful cryptographic use of a key;
//! - CloudTrail `LookupEvents` (JSON 1.1, SigV4 service `cloudtrail`), as AWS answers it:
//!   one lookup attribute at most, time bounds, `MaxResults` ≤ 50, `NextToken`, newest first,
//!   `CloudTrailEvent` as a JSON string;
//! - Kagi's audit API (`KagiAudit.*`, SigV4 service `kagi`): the latest signed checkpoint,
//!   inclusion and consistency proofs, and a key's usage summary (`kagi audit usage`).
//!
//! LookupEvents and the `KagiAudit.*` operations reveal every principal's activity, so
//! they are for admin principals only (until key policies and IAM-style permissions exist).

use super::admin::require_admin;
use super::{required, to_body};
use crate::cluster::{Cluster, LastUse};
use crate::error::ApiError;
use crate::wire::{parse, timestamp};
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use kagi_audit::event::CloudTrailEvent;
use kagi_audit::index::{AttributeKey, IndexError, LookupQuery, UsageRow};
use kagi_audit::trail::{AuditTrail, TrailError};
use kagi_kms::{Caller, Kms, KmsError};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// Where audit answers come from: this node's trail, and on a shared store every live
/// node's (`crate::cluster`).
#[derive(Clone, Copy)]
pub struct History<'a> {
    pub trail: &'a AuditTrail,
    pub cluster: Option<&'a Cluster>,
}

impl<'a> History<'a> {
    /// This node's trail only.
    pub fn local(trail: &'a AuditTrail) -> Self {
        Self {
            trail,
            cluster: None,
        }
    }

    fn lookup(&self, query: &LookupQuery) -> Result<(Vec<Vec<u8>>, Option<String>), ApiError> {
        match self.cluster {
            Some(c) => c.lookup(self.trail, query),
            None => self.trail.lookup(query).map_err(trail_error),
        }
    }

    fn last_use(&self, names: &[&str], operations: &[&str]) -> Result<Option<LastUse>, ApiError> {
        match self.cluster {
            Some(c) => c.last_use(self.trail, names, operations),
            None => Ok(self
                .trail
                .last_usage(names, operations)
                .map_err(trail_error)?
                .map(LastUse::from)),
        }
    }

    fn usage_summary(
        &self,
        names: &[&str],
        start_millis: Option<i64>,
        end_millis: Option<i64>,
    ) -> Result<Vec<UsageRow>, ApiError> {
        match self.cluster {
            Some(c) => c.usage_summary(self.trail, names, start_millis, end_millis),
            None => self
                .trail
                .usage_summary(names, start_millis, end_millis)
                .map_err(trail_error),
        }
    }
}

/// The operations GetKeyLastUsage counts as a use of the key (those Kagi serves).
const USAGE_OPERATIONS: &[&str] = &[
    "Encrypt",
    "Decrypt",
    "ReEncrypt",
    "GenerateDataKey",
    "GenerateDataKeyWithoutPlaintext",
];

/// Maps trail failures to client errors; internal details go to the operator's log only.
pub(crate) fn trail_error(e: TrailError) -> ApiError {
    match e {
        TrailError::Unavailable(_) => ApiError::AuditUnavailable,
        TrailError::NotFound => ApiError::AuditNotFound("No such audit event.".into()),
        TrailError::InvalidArgument(m) => ApiError::AuditValidation(m),
        TrailError::Discarding => ApiError::AuditValidation(
            "This server runs without an audit trail (measurement-only mode).".into(),
        ),
        TrailError::Index(IndexError::InvalidNextToken) => ApiError::CloudTrail {
            code: "InvalidNextTokenException",
            message: "Invalid NextToken.".into(),
        },
        other => {
            tracing::error!(error = %other, "audit trail query failed");
            ApiError::Internal
        }
    }
}

// ---------------------------------------------------------------------------------------
// GetKeyLastUsage

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct KeyIdInput {
    key_id: Option<String>,
}

pub fn get_key_last_usage(
    kms: &Kms,
    audit: &History<'_>,
    caller: &Caller,
    body: &[u8],
) -> Result<Vec<u8>, ApiError> {
    let input: KeyIdInput = parse(body)?;
    let key = kms.usage_subject(caller, required(&input.key_id, "keyId")?)?;
    let id = key.meta.key_id.to_string();
    let usage = audit.last_use(&[key.arn.as_str(), id.as_str()], USAGE_OPERATIONS)?;
    let last = match usage {
        Some(u) => json!({
            "Operation": u.event_name,
            "Timestamp": u.time_millis as f64 / 1000.0,
            "CloudTrailEventId": u.event_id,
            "KmsRequestId": u.request_id,
        }),
        None => json!({}),
    };
    let created = timestamp(key.meta.created_at);
    to_body(&json!({
        "KeyId": id,
        "KeyLastUsage": last,
        // Kagi records every call from a key's creation on.
        "TrackingStartDate": created,
        "KeyCreationDate": created,
    }))
}

// ---------------------------------------------------------------------------------------
// LookupEvents

fn cloudtrail(code: &'static str, message: impl Into<String>) -> ApiError {
    ApiError::CloudTrail {
        code,
        message: message.into(),
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct LookupAttribute {
    attribute_key: Option<String>,
    attribute_value: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct LookupEventsInput {
    #[serde(default)]
    lookup_attributes: Vec<LookupAttribute>,
    start_time: Option<f64>,
    end_time: Option<f64>,
    event_category: Option<String>,
    max_results: Option<i64>,
    next_token: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct ResourceDto {
    resource_type: String,
    resource_name: String,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct EventDto {
    event_id: String,
    event_name: String,
    read_only: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    access_key_id: Option<String>,
    event_time: f64,
    event_source: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    username: Option<String>,
    resources: Vec<ResourceDto>,
    cloud_trail_event: String,
}

/// Epoch seconds (JSON 1.1 timestamps) to epoch milliseconds, rejecting non-finite values.
fn millis(seconds: Option<f64>, field: &str) -> Result<Option<i64>, ApiError> {
    match seconds {
        None => Ok(None),
        Some(s) if s.is_finite() => Ok(Some((s * 1000.0).floor() as i64)),
        Some(_) => Err(cloudtrail(
            "InvalidTimeRangeException",
            format!("{field} is not a valid time."),
        )),
    }
}

pub fn lookup_events(
    audit: &History<'_>,
    caller: &Caller,
    body: &[u8],
) -> Result<Vec<u8>, ApiError> {
    require_admin(caller, "LookupEvents")?;
    let input: LookupEventsInput = parse(body)?;
    if input.lookup_attributes.len() > 1 {
        return Err(cloudtrail(
            "InvalidLookupAttributesException",
            "You can specify only one lookup attribute.",
        ));
    }
    let attribute = match input.lookup_attributes.first() {
        None => None,
        Some(a) => {
            let key = a.attribute_key.as_deref().unwrap_or("");
            let key = AttributeKey::parse(key).ok_or_else(|| {
                cloudtrail(
                    "InvalidLookupAttributesException",
                    "AttributeKey must be one of EventId, EventName, ReadOnly, Username, \
                     ResourceType, ResourceName, EventSource, AccessKeyId.",
                )
            })?;
            let value = a.attribute_value.clone().unwrap_or_default();
            if value.is_empty() || value.chars().count() > 2000 {
                return Err(cloudtrail(
                    "InvalidLookupAttributesException",
                    "AttributeValue must have a length between 1 and 2000.",
                ));
            }
            Some((key, value))
        }
    };
    let max_results = match input.max_results {
        None => 50,
        Some(n @ 1..=50) => n as usize,
        Some(_) => {
            return Err(cloudtrail(
                "InvalidMaxResultsException",
                "MaxResults must be between 1 and 50.",
            ))
        }
    };
    let start = millis(input.start_time, "StartTime")?;
    let end = millis(input.end_time, "EndTime")?;
    if let (Some(s), Some(e)) = (start, end) {
        if s > e {
            return Err(cloudtrail(
                "InvalidTimeRangeException",
                "Start time must be before end time.",
            ));
        }
    }
    match input.event_category.as_deref() {
        None => {}
        // Kagi has no Insights events: the answer to an Insights lookup is empty.
        Some("insight") => return to_body(&json!({ "Events": [] })),
        Some(_) => {
            return Err(cloudtrail(
                "InvalidEventCategoryException",
                "EventCategory must be insight.",
            ))
        }
    }
    let query = LookupQuery {
        attribute,
        start_millis: start,
        end_millis: end,
        max_results,
        next_token: input.next_token,
    };
    let (events, next_token) = audit.lookup(&query)?;
    let events = events
        .into_iter()
        .map(event_dto)
        .collect::<Result<Vec<_>, _>>()?;
    let mut out = json!({ "Events": events });
    if let Some(token) = next_token {
        out["NextToken"] = Value::from(token);
    }
    to_body(&out)
}

fn event_dto(bytes: Vec<u8>) -> Result<EventDto, ApiError> {
    let event = CloudTrailEvent::parse(&bytes).map_err(|e| {
        tracing::error!(error = %e, "an audit record does not parse as an event");
        ApiError::Internal
    })?;
    let identity = &event.user_identity;
    Ok(EventDto {
        event_id: event.event_id.clone(),
        event_name: event.event_name.clone(),
        read_only: event.read_only.to_string(),
        access_key_id: identity.access_key_id.clone(),
        event_time: event.event_time.epoch_seconds() as f64,
        event_source: event.event_source.clone(),
        username: identity.user_name.clone(),
        resources: event
            .resources
            .iter()
            .map(|r| ResourceDto {
                resource_type: r.resource_type.clone(),
                resource_name: r.arn.clone(),
            })
            .collect(),
        cloud_trail_event: String::from_utf8(bytes).map_err(|_| ApiError::Internal)?,
    })
}

// ---------------------------------------------------------------------------------------
// KagiAudit.*

fn b64_all(hashes: &[[u8; 32]]) -> Vec<String> {
    hashes.iter().map(|h| BASE64.encode(h)).collect()
}

fn size_arg(v: Option<i64>, field: &str) -> Result<Option<u64>, ApiError> {
    v.map(|n| {
        u64::try_from(n)
            .map_err(|_| ApiError::AuditValidation(format!("{field} must not be negative.")))
    })
    .transpose()
}

pub fn get_checkpoint(
    audit: &AuditTrail,
    caller: &Caller,
    body: &[u8],
) -> Result<Vec<u8>, ApiError> {
    require_admin(caller, "GetCheckpoint")?;
    let _: Value = parse(body)?;
    let cp = audit.checkpoint().map_err(trail_error)?;
    to_body(&json!({
        "TreeSize": cp.size,
        "Checkpoint": cp.note,
        "VerifierKey": audit.verifier_key().map_err(trail_error)?,
    }))
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct InclusionInput {
    event_id: Option<String>,
    log_index: Option<i64>,
    tree_size: Option<i64>,
}

pub fn get_inclusion_proof(
    audit: &AuditTrail,
    caller: &Caller,
    body: &[u8],
) -> Result<Vec<u8>, ApiError> {
    require_admin(caller, "GetInclusionProof")?;
    let input: InclusionInput = parse(body)?;
    let seq = match (&input.event_id, size_arg(input.log_index, "LogIndex")?) {
        (Some(id), None) => audit.find_event(id).map_err(trail_error)?.seq,
        (None, Some(seq)) => seq,
        _ => {
            return Err(ApiError::AuditValidation(
                "Specify exactly one of EventId and LogIndex.".into(),
            ))
        }
    };
    let proof = audit
        .inclusion_proof(seq, size_arg(input.tree_size, "TreeSize")?)
        .map_err(trail_error)?;
    to_body(&json!({
        "LogIndex": proof.leaf_index,
        "TreeSize": proof.checkpoint.size,
        "LeafHash": BASE64.encode(proof.leaf_hash),
        "AuditPath": b64_all(&proof.path),
        "Checkpoint": proof.checkpoint.note,
    }))
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ConsistencyInput {
    first_tree_size: Option<i64>,
    second_tree_size: Option<i64>,
}

pub fn get_consistency_proof(
    audit: &AuditTrail,
    caller: &Caller,
    body: &[u8],
) -> Result<Vec<u8>, ApiError> {
    require_admin(caller, "GetConsistencyProof")?;
    let input: ConsistencyInput = parse(body)?;
    let first = size_arg(input.first_tree_size, "FirstTreeSize")?
        .ok_or_else(|| super::null_field("firstTreeSize"))?;
    let second = match size_arg(input.second_tree_size, "SecondTreeSize")? {
        Some(s) => s,
        None => audit.checkpoint().map_err(trail_error)?.size,
    };
    if first > second {
        return Err(ApiError::AuditValidation(
            "FirstTreeSize must not exceed SecondTreeSize.".into(),
        ));
    }
    let proof = audit
        .consistency_proof(first, second)
        .map_err(trail_error)?;
    let first_cp = audit.checkpoint_at(first).map_err(trail_error)?;
    let second_cp = audit.checkpoint_at(second).map_err(trail_error)?;
    to_body(&json!({
        "FirstTreeSize": first,
        "SecondTreeSize": second,
        "Proof": b64_all(&proof),
        "FirstCheckpoint": first_cp.note,
        "SecondCheckpoint": second_cp.note,
    }))
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct KeyUsageInput {
    key_id: Option<String>,
    start_time: Option<f64>,
    end_time: Option<f64>,
}

pub fn get_key_usage(
    kms: &Kms,
    audit: &History<'_>,
    caller: &Caller,
    body: &[u8],
) -> Result<Vec<u8>, ApiError> {
    require_admin(caller, "GetKeyUsage")?;
    let input: KeyUsageInput = parse(body)?;
    let raw = required(&input.key_id, "keyId")?;
    // A key that no longer exists still has a history: fall back to the name as given.
    let names = match kms.describe_key(caller, raw, &[]) {
        Ok(k) => vec![k.arn, k.meta.key_id.to_string()],
        Err(KmsError::NotFound { .. }) => vec![raw.to_string()],
        Err(e) => return Err(e.into()),
    };
    let start = millis(input.start_time, "StartTime")?;
    let end = millis(input.end_time, "EndTime")?;
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let rows = audit.usage_summary(&refs, start, end)?;
    let usage: Vec<Value> = rows
        .into_iter()
        .map(|r| {
            json!({
                "Principal": r.principal,
                "AccessKeyId": r.access_key_id,
                "Operation": r.event_name,
                "Count": r.count,
                "Errors": r.errors,
                "FirstTime": r.first_millis as f64 / 1000.0,
                "LastTime": r.last_millis as f64 / 1000.0,
            })
        })
        .collect();
    to_body(&json!({ "KeyId": names[0], "Usage": usage }))
}
