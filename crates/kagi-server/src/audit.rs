//! What the audit trail records about one call: a pure function from the call's facts
//! (operation, caller, request body, outcome, key ARNs) to its CloudTrail event, following
//! AWS KMS's per-operation CloudTrail behaviour.
//!
//! **Not wired into the request path yet**: nothing in [`crate::Server`] calls this; the
//! session that connects the audit log does.
//!
//! # What is recorded
//!
//! `requestParameters` is built from an *allow-list* per operation: each recorded request
//! member is named with its CloudTrail name (`KeyId` → `keyId`, `EncryptionContext` →
//! `encryptionContext`, `Tags[].TagKey` → `tags[].tagKey` …) and must have the expected
//! JSON type; everything else is dropped. So plaintexts, ciphertext blobs, data keys,
//! random bytes, signatures, MACs, import tokens, secret access keys — and any member this
//! module does not know, including every member of an unknown operation — never reach the
//! event, while encryption contexts and key policies are recorded, as AWS records them.
//! Dropped members are skipped by the parser without being copied out of the request
//! body. A body that is not a JSON object gives `null`, as does an object with nothing to
//! record. Decrypt always records `encryptionAlgorithm` (AWS documents this), defaulting
//! to `SYMMETRIC_DEFAULT`.
//!
//! `responseElements` is `null` for the cryptographic operations and most others, as AWS
//! logs them. The exceptions, from AWS's example log entries: CreateKey records
//! `keyMetadata`; CreateGrant `grantId` and the key's ARN as `keyId` (never the grant
//! token); ScheduleKeyDeletion `keyId`, `keyState` and `deletionDate`;
//! CancelKeyDeletion and RotateKeyOnDemand `keyId`; EnableKey, DisableKey, CreateAlias,
//! UpdateAlias, DeleteAlias and EnableKeyRotation the affected key's ARN as `keyId` (AWS
//! has added it since December 2022 although the API does not return it). Timestamps
//! inside `responseElements` use CloudTrail's `Aug 10, 2022, 10:38:27 PM` form. Kagi's
//! admin `CreateAccessKey` records the new key without its secret, as IAM does.
//!
//! RetireGrant records the grant's id in `additionalEventData.grantId`, as AWS's example
//! does, taken from the `GrantId` member or read out of the grant token (the token itself
//! is never recorded: grant tokens appear in no allow-list).
//!
//! `readOnly` is true for Describe/List/Get and for the cryptographic operations
//! (Encrypt, Decrypt, ReEncrypt, GenerateDataKey*, GenerateRandom), as AWS marks them.
//!
//! Sources: AWS KMS Developer Guide, "Logging AWS KMS API calls with AWS CloudTrail" and
//! its per-operation examples (<https://docs.aws.amazon.com/kms/latest/developerguide/understanding-kms-entries.html>);
//! CloudTrail User Guide, "CloudTrail record contents".

use crate::operation::{Operation, KMS_PREFIX};
use kagi_audit::event::{
    CloudTrailEvent, EventTime, EventType, IdentityType, Resource, UserIdentity, EVENT_VERSION,
    KMS_EVENT_SOURCE, KMS_KEY_RESOURCE_TYPE, MANAGEMENT_CATEGORY,
};
use kagi_kms::{AccountId, Principal, Timestamp};
use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};
use std::borrow::Cow;
use std::fmt;

/// How one call ended.
#[derive(Clone, Copy)]
pub enum Outcome<'a> {
    /// The call succeeded; the response body the client got (it may hold secrets).
    Success { response: &'a [u8] },
    /// The call failed with this AWS exception name (`__type`) and message.
    Failure {
        error_code: &'a str,
        error_message: &'a str,
    },
}

impl fmt::Debug for Outcome<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Success { .. } => f.write_str("Success { response: <redacted> }"),
            Outcome::Failure {
                error_code,
                error_message,
            } => f
                .debug_struct("Failure")
                .field("error_code", error_code)
                .field("error_message", error_message)
                .finish(),
        }
    }
}

/// The facts of one API call, successful or not, authenticated or not.
#[derive(Clone, Copy)]
pub struct ApiCall<'a> {
    /// The operation, if `X-Amz-Target` named one Kagi serves.
    pub operation: Option<Operation>,
    /// The raw `X-Amz-Target` header, if any: names unknown operations.
    pub target: Option<&'a str>,
    /// The authenticated caller; `None` when authentication failed or was never tried.
    pub principal: Option<&'a Principal>,
    /// `userIdentity.principalId` when it is not the user name: `AROA…:<session>` for a
    /// role session.
    pub principal_id: Option<&'a str>,
    /// The access key id the request named, recorded when there is no principal.
    pub claimed_access_key_id: Option<&'a str>,
    /// The installation's account: `recipientAccountId`.
    pub account: &'a AccountId,
    pub region: &'a str,
    pub source_ip: &'a str,
    pub user_agent: &'a str,
    /// The id the client got in `x-amzn-RequestId`.
    pub request_id: &'a str,
    /// A fresh UUID for this event.
    pub event_id: &'a str,
    pub time: Timestamp,
    /// The raw request body (it may hold secrets; only allow-listed members are read).
    pub request_body: &'a [u8],
    pub outcome: Outcome<'a>,
    /// ARNs of the keys (and aliases) the call involved, in AWS's order: ReEncrypt lists
    /// the source key, then the destination key; CreateAlias the key, then the alias.
    pub resources: &'a [String],
}

impl fmt::Debug for ApiCall<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiCall")
            .field("operation", &self.operation)
            .field("target", &self.target)
            .field("request_id", &self.request_id)
            .field("event_id", &self.event_id)
            .field("request_body", &"<redacted>")
            .field("outcome", &self.outcome)
            .finish_non_exhaustive()
    }
}

/// The `errorCode` CloudTrail records for an exception: its name, except that KMS records
/// a refused authorization as `AccessDenied`.
pub fn cloudtrail_error_code(exception: &'static str) -> &'static str {
    match exception {
        "AccessDeniedException" => "AccessDenied",
        other => other,
    }
}

/// Builds the event for one API call.
pub fn api_call_event(call: &ApiCall<'_>) -> CloudTrailEvent {
    let (error_code, error_message, response_elements) = match call.outcome {
        Outcome::Success { response } => (
            None,
            None,
            call.operation
                .and_then(|op| response_elements(op, response, call.resources)),
        ),
        Outcome::Failure {
            error_code,
            error_message,
        } => (
            Some(error_code.to_string()),
            Some(error_message.to_string()),
            None,
        ),
    };
    CloudTrailEvent {
        event_version: EVENT_VERSION.to_string(),
        user_identity: user_identity(
            call.principal,
            call.principal_id,
            call.claimed_access_key_id,
        ),
        event_time: EventTime::from_epoch_millis(call.time.millis()),
        event_source: call
            .operation
            .map_or(KMS_EVENT_SOURCE, Operation::event_source)
            .to_string(),
        event_name: event_name(call.operation, call.target),
        aws_region: call.region.to_string(),
        source_ip_address: call.source_ip.to_string(),
        user_agent: call.user_agent.to_string(),
        error_code,
        error_message,
        request_parameters: call
            .operation
            .and_then(|op| request_parameters(op, call.request_body)),
        response_elements,
        additional_event_data: call
            .operation
            .and_then(|op| additional_event_data(op, call.request_body)),
        request_id: Some(call.request_id.to_string()),
        event_id: call.event_id.to_string(),
        read_only: call.operation.is_some_and(read_only),
        resources: resources(call.resources, call.account),
        event_type: EventType::AwsApiCall,
        management_event: true,
        recipient_account_id: call.account.to_string(),
        service_event_details: None,
        event_category: MANAGEMENT_CATEGORY.to_string(),
    }
}

/// What Kagi does by itself, recorded as an `AwsServiceEvent` like AWS KMS's own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServiceAction {
    /// Scheduled (automatic) rotation of a key.
    RotateKey,
    /// Deletion of a key at the end of its waiting period.
    DeleteKey,
}

/// The facts of one service event.
#[derive(Debug, Clone, Copy)]
pub struct ServiceCall<'a> {
    pub action: ServiceAction,
    pub account: &'a AccountId,
    pub region: &'a str,
    pub key_id: &'a str,
    pub key_arn: &'a str,
    pub event_id: &'a str,
    pub time: Timestamp,
}

/// What AWS KMS writes as the caller, source address and user agent of its own actions.
const AWS_INTERNAL: &str = "AWS Internal";

/// Builds the event for something Kagi did by itself. Shaped like AWS's `RotateKey` and
/// `DeleteKey` entries: no request id, `userIdentity` with only `accountId` and
/// `invokedBy`, the key id in `serviceEventDetails`.
pub fn service_event(call: &ServiceCall<'_>) -> CloudTrailEvent {
    let mut details = Map::new();
    details.insert("keyId".into(), Value::from(call.key_id));
    if call.action == ServiceAction::RotateKey {
        details.insert("rotationType".into(), Value::from("AUTOMATIC"));
    }
    let name = match call.action {
        ServiceAction::RotateKey => "RotateKey",
        ServiceAction::DeleteKey => "DeleteKey",
    };
    CloudTrailEvent {
        event_version: EVENT_VERSION.to_string(),
        user_identity: UserIdentity {
            account_id: Some(call.account.to_string()),
            invoked_by: Some(AWS_INTERNAL.to_string()),
            ..UserIdentity::default()
        },
        event_time: EventTime::from_epoch_millis(call.time.millis()),
        event_source: KMS_EVENT_SOURCE.to_string(),
        event_name: name.to_string(),
        aws_region: call.region.to_string(),
        source_ip_address: AWS_INTERNAL.to_string(),
        user_agent: AWS_INTERNAL.to_string(),
        error_code: None,
        error_message: None,
        request_parameters: None,
        response_elements: None,
        additional_event_data: None,
        request_id: None,
        event_id: call.event_id.to_string(),
        read_only: false,
        resources: resources(&[call.key_arn.to_string()], call.account),
        event_type: EventType::AwsServiceEvent,
        management_event: true,
        recipient_account_id: call.account.to_string(),
        service_event_details: Some(details),
        event_category: MANAGEMENT_CATEGORY.to_string(),
    }
}

/// `eventName`: AWS's operation name. For a target Kagi does not serve, the target with
/// `TrentService.` removed (at most 128 characters); empty when there was no target.
pub fn event_name(operation: Option<Operation>, target: Option<&str>) -> String {
    match (operation, target) {
        (Some(op), _) => aws_name(op).to_string(),
        (None, Some(t)) => t
            .strip_prefix(KMS_PREFIX)
            .unwrap_or(t)
            .chars()
            .take(128)
            .collect(),
        (None, None) => String::new(),
    }
}

/// The operation's name as AWS (or, for the admin API, Kagi) spells it.
pub fn aws_name(op: Operation) -> &'static str {
    use Operation::*;
    match op {
        CreateKey => "CreateKey",
        DescribeKey => "DescribeKey",
        ListKeys => "ListKeys",
        EnableKey => "EnableKey",
        DisableKey => "DisableKey",
        UpdateKeyDescription => "UpdateKeyDescription",
        ScheduleKeyDeletion => "ScheduleKeyDeletion",
        CancelKeyDeletion => "CancelKeyDeletion",
        Encrypt => "Encrypt",
        Decrypt => "Decrypt",
        ReEncrypt => "ReEncrypt",
        GenerateDataKey => "GenerateDataKey",
        GenerateDataKeyWithoutPlaintext => "GenerateDataKeyWithoutPlaintext",
        GenerateRandom => "GenerateRandom",
        CreateAlias => "CreateAlias",
        UpdateAlias => "UpdateAlias",
        DeleteAlias => "DeleteAlias",
        ListAliases => "ListAliases",
        TagResource => "TagResource",
        UntagResource => "UntagResource",
        ListResourceTags => "ListResourceTags",
        EnableKeyRotation => "EnableKeyRotation",
        DisableKeyRotation => "DisableKeyRotation",
        GetKeyRotationStatus => "GetKeyRotationStatus",
        RotateKeyOnDemand => "RotateKeyOnDemand",
        ListKeyRotations => "ListKeyRotations",
        AdminCreateAccessKey => "CreateAccessKey",
        AdminListAccessKeys => "ListAccessKeys",
        AdminUpdateAccessKey => "UpdateAccessKey",
        AdminDeleteAccessKey => "DeleteAccessKey",
        AdminPutUserPolicy => "PutUserPolicy",
        AdminListUserPolicies => "ListUserPolicies",
        AdminDeleteUserPolicy => "DeleteUserPolicy",
        AdminPutRole => "PutRole",
        AdminDeleteRole => "DeleteRole",
        AdminListRoles => "ListRoles",
        AdminPutRolePolicy => "PutRolePolicy",
        AdminListRolePolicies => "ListRolePolicies",
        AdminDeleteRolePolicy => "DeleteRolePolicy",
        AdminTagUser => "TagUser",
        AdminUntagUser => "UntagUser",
        AdminListUserTags => "ListUserTags",
        AdminTagRole => "TagRole",
        AdminUntagRole => "UntagRole",
        AdminListRoleTags => "ListRoleTags",
        StsAssumeRole => "AssumeRole",
        StsGetCallerIdentity => "GetCallerIdentity",
        GetKeyPolicy => "GetKeyPolicy",
        PutKeyPolicy => "PutKeyPolicy",
        ListKeyPolicies => "ListKeyPolicies",
        CreateGrant => "CreateGrant",
        ListGrants => "ListGrants",
        ListRetirableGrants => "ListRetirableGrants",
        RetireGrant => "RetireGrant",
        RevokeGrant => "RevokeGrant",
        GetKeyLastUsage => "GetKeyLastUsage",
        LookupEvents => "LookupEvents",
        AuditGetCheckpoint => "GetCheckpoint",
        AuditGetInclusionProof => "GetInclusionProof",
        AuditGetConsistencyProof => "GetConsistencyProof",
        AuditGetKeyUsage => "GetKeyUsage",
    }
}

/// `readOnly`: Describe/List/Get, and the cryptographic operations, which AWS marks read
/// only because they change no key.
pub fn read_only(op: Operation) -> bool {
    use Operation::*;
    match op {
        DescribeKey
        | ListKeys
        | ListAliases
        | ListResourceTags
        | GetKeyRotationStatus
        | ListKeyRotations
        | AdminListAccessKeys
        | AdminListUserPolicies
        | AdminListRoles
        | AdminListRolePolicies
        | AdminListUserTags
        | AdminListRoleTags
        | StsGetCallerIdentity
        | GetKeyPolicy
        | ListKeyPolicies
        | ListGrants
        | ListRetirableGrants
        | GetKeyLastUsage
        | LookupEvents
        | AuditGetCheckpoint
        | AuditGetInclusionProof
        | AuditGetConsistencyProof
        | AuditGetKeyUsage => true,
        Encrypt
        | Decrypt
        | ReEncrypt
        | GenerateDataKey
        | GenerateDataKeyWithoutPlaintext
        | GenerateRandom => true,
        CreateKey
        | EnableKey
        | DisableKey
        | UpdateKeyDescription
        | ScheduleKeyDeletion
        | CancelKeyDeletion
        | CreateAlias
        | UpdateAlias
        | DeleteAlias
        | TagResource
        | UntagResource
        | EnableKeyRotation
        | DisableKeyRotation
        | RotateKeyOnDemand
        | AdminCreateAccessKey
        | AdminUpdateAccessKey
        | AdminDeleteAccessKey
        | AdminPutUserPolicy
        | AdminDeleteUserPolicy
        | PutKeyPolicy
        | AdminPutRole
        | AdminDeleteRole
        | AdminPutRolePolicy
        | AdminDeleteRolePolicy
        | AdminTagUser
        | AdminUntagUser
        | AdminTagRole
        | AdminUntagRole => false,
        // AWS records AssumeRole as read-only: it changes no resource.
        StsAssumeRole => true,
        CreateGrant | RetireGrant | RevokeGrant => false,
    }
}

/// Longest claimed access key id recorded for an unauthenticated call (real ones are 20
/// characters; the header is the client's to fill).
const MAX_CLAIMED_ACCESS_KEY_CHARS: usize = 128;

fn user_identity(
    principal: Option<&Principal>,
    principal_id: Option<&str>,
    claimed_access_key_id: Option<&str>,
) -> UserIdentity {
    let Some(p) = principal else {
        return UserIdentity {
            identity_type: Some(IdentityType::Unknown),
            access_key_id: claimed_access_key_id
                .map(|id| id.chars().take(MAX_CLAIMED_ACCESS_KEY_CHARS).collect()),
            ..UserIdentity::default()
        };
    };
    let identity_type = identity_type_of(&p.arn);
    UserIdentity {
        identity_type: Some(identity_type),
        // Kagi users have no separate unique id; the user name is unique in the account.
        principal_id: Some(principal_id.map_or_else(|| p.user_name.clone(), str::to_string)),
        arn: Some(p.arn.clone()),
        account_id: Some(p.account.to_string()),
        access_key_id: Some(p.access_key_id.clone()),
        user_name: (identity_type == IdentityType::IamUser).then(|| p.user_name.clone()),
        invoked_by: None,
    }
}

/// The identity type an IAM ARN denotes.
fn identity_type_of(arn: &str) -> IdentityType {
    let resource = arn.splitn(6, ':').nth(5).unwrap_or("");
    if resource == "root" {
        IdentityType::Root
    } else if resource.starts_with("assumed-role/") {
        IdentityType::AssumedRole
    } else if resource.starts_with("user/") {
        IdentityType::IamUser
    } else {
        IdentityType::Unknown
    }
}

fn resources(arns: &[String], account: &AccountId) -> Vec<Resource> {
    arns.iter()
        .map(|arn| Resource {
            // `arn:aws:kms:<region>:<account>:...`; the installation's account otherwise.
            account_id: arn
                .split(':')
                .nth(4)
                .filter(|a| !a.is_empty())
                .unwrap_or(account.as_str())
                .to_string(),
            resource_type: KMS_KEY_RESOURCE_TYPE.to_string(),
            arn: arn.clone(),
        })
        .collect()
}

// ---------------------------------------------------------------------------------------
// The per-operation allow-lists.

/// The JSON shape a recorded member must have; a member of another shape is dropped.
#[derive(Clone, Copy)]
enum Kind {
    Str,
    Num,
    Bool,
    /// An object of strings (an encryption context), recorded key for key.
    StrMap,
    StrList,
    /// Epoch seconds, recorded in CloudTrail's response date form.
    Date,
    /// An object, itself filtered by an allow-list.
    Object(&'static [Field]),
    /// A list of objects, each filtered by the allow-list.
    ObjectList(&'static [Field]),
}

/// One recorded member: its name on the wire and in CloudTrail.
struct Field {
    wire: &'static str,
    trail: &'static str,
    kind: Kind,
}

const fn field(wire: &'static str, trail: &'static str, kind: Kind) -> Field {
    Field { wire, trail, kind }
}

const KEY_ID: Field = field("KeyId", "keyId", Kind::Str);
const LIMIT: Field = field("Limit", "limit", Kind::Num);
const MARKER: Field = field("Marker", "marker", Kind::Str);
const DRY_RUN: Field = field("DryRun", "dryRun", Kind::Bool);
const ENCRYPTION_CONTEXT: Field = field("EncryptionContext", "encryptionContext", Kind::StrMap);
const ENCRYPTION_ALGORITHM: Field = field("EncryptionAlgorithm", "encryptionAlgorithm", Kind::Str);
const NUMBER_OF_BYTES: Field = field("NumberOfBytes", "numberOfBytes", Kind::Num);
const CUSTOM_KEY_STORE_ID: Field = field("CustomKeyStoreId", "customKeyStoreId", Kind::Str);
const DESCRIPTION: Field = field("Description", "description", Kind::Str);
const KEY_SPEC: Field = field("KeySpec", "keySpec", Kind::Str);
const ALIAS_NAME: Field = field("AliasName", "aliasName", Kind::Str);

const TAG: &[Field] = &[
    field("TagKey", "tagKey", Kind::Str),
    field("TagValue", "tagValue", Kind::Str),
];
const TAGS: Field = field("Tags", "tags", Kind::ObjectList(TAG));

const KEY_ONLY: &[Field] = &[KEY_ID];
const PAGE: &[Field] = &[LIMIT, MARKER];
const KEY_PAGE: &[Field] = &[KEY_ID, LIMIT, MARKER];
const NOTHING: &[Field] = &[];

const CREATE_KEY: &[Field] = &[
    field("Policy", "policy", Kind::Str),
    DESCRIPTION,
    field("KeyUsage", "keyUsage", Kind::Str),
    field("CustomerMasterKeySpec", "customerMasterKeySpec", Kind::Str),
    KEY_SPEC,
    field("Origin", "origin", Kind::Str),
    CUSTOM_KEY_STORE_ID,
    field(
        "BypassPolicyLockoutSafetyCheck",
        "bypassPolicyLockoutSafetyCheck",
        Kind::Bool,
    ),
    TAGS,
    field("MultiRegion", "multiRegion", Kind::Bool),
    field("XksKeyId", "xksKeyId", Kind::Str),
];
const UPDATE_KEY_DESCRIPTION: &[Field] = &[KEY_ID, DESCRIPTION];
const SCHEDULE_KEY_DELETION: &[Field] = &[
    KEY_ID,
    field("PendingWindowInDays", "pendingWindowInDays", Kind::Num),
];
const ENCRYPT_OR_DECRYPT: &[Field] = &[KEY_ID, ENCRYPTION_CONTEXT, ENCRYPTION_ALGORITHM, DRY_RUN];
const RE_ENCRYPT: &[Field] = &[
    field("SourceKeyId", "sourceKeyId", Kind::Str),
    field(
        "SourceEncryptionContext",
        "sourceEncryptionContext",
        Kind::StrMap,
    ),
    field(
        "SourceEncryptionAlgorithm",
        "sourceEncryptionAlgorithm",
        Kind::Str,
    ),
    field("DestinationKeyId", "destinationKeyId", Kind::Str),
    field(
        "DestinationEncryptionContext",
        "destinationEncryptionContext",
        Kind::StrMap,
    ),
    field(
        "DestinationEncryptionAlgorithm",
        "destinationEncryptionAlgorithm",
        Kind::Str,
    ),
    DRY_RUN,
];
const GENERATE_DATA_KEY: &[Field] = &[
    KEY_ID,
    ENCRYPTION_CONTEXT,
    NUMBER_OF_BYTES,
    KEY_SPEC,
    DRY_RUN,
];
const GENERATE_RANDOM: &[Field] = &[NUMBER_OF_BYTES, CUSTOM_KEY_STORE_ID];
const CREATE_OR_UPDATE_ALIAS: &[Field] =
    &[ALIAS_NAME, field("TargetKeyId", "targetKeyId", Kind::Str)];
const DELETE_ALIAS: &[Field] = &[ALIAS_NAME];
const TAG_RESOURCE: &[Field] = &[KEY_ID, TAGS];
const UNTAG_RESOURCE: &[Field] = &[KEY_ID, field("TagKeys", "tagKeys", Kind::StrList)];
const ENABLE_KEY_ROTATION: &[Field] = &[
    KEY_ID,
    field("RotationPeriodInDays", "rotationPeriodInDays", Kind::Num),
];
const LIST_KEY_ROTATIONS: &[Field] = &[
    KEY_ID,
    LIMIT,
    MARKER,
    field("IncludeKeyMaterial", "includeKeyMaterial", Kind::Str),
];
const ADMIN_CREATE_ACCESS_KEY: &[Field] = &[
    field("UserName", "userName", Kind::Str),
    field("Admin", "admin", Kind::Bool),
];
const ACCESS_KEY_ID: Field = field("AccessKeyId", "accessKeyId", Kind::Str);
const ADMIN_UPDATE_ACCESS_KEY: &[Field] = &[ACCESS_KEY_ID, field("Status", "status", Kind::Str)];
const ADMIN_DELETE_ACCESS_KEY: &[Field] = &[ACCESS_KEY_ID];
const START_TIME: Field = field("StartTime", "startTime", Kind::Date);
const END_TIME: Field = field("EndTime", "endTime", Kind::Date);
const LOOKUP_ATTRIBUTE: &[Field] = &[
    field("AttributeKey", "attributeKey", Kind::Str),
    field("AttributeValue", "attributeValue", Kind::Str),
];
const LOOKUP_EVENTS: &[Field] = &[
    field(
        "LookupAttributes",
        "lookupAttributes",
        Kind::ObjectList(LOOKUP_ATTRIBUTE),
    ),
    START_TIME,
    END_TIME,
    field("EventCategory", "eventCategory", Kind::Str),
    field("MaxResults", "maxResults", Kind::Num),
];
const INCLUSION_PROOF: &[Field] = &[
    field("EventId", "eventId", Kind::Str),
    field("LogIndex", "logIndex", Kind::Num),
    field("TreeSize", "treeSize", Kind::Num),
];
const CONSISTENCY_PROOF: &[Field] = &[
    field("FirstTreeSize", "firstTreeSize", Kind::Num),
    field("SecondTreeSize", "secondTreeSize", Kind::Num),
];
const KEY_USAGE: &[Field] = &[KEY_ID, START_TIME, END_TIME];
const POLICY_NAME: Field = field("PolicyName", "policyName", Kind::Str);
const GET_KEY_POLICY: &[Field] = &[KEY_ID, POLICY_NAME];
const PUT_KEY_POLICY: &[Field] = &[
    KEY_ID,
    POLICY_NAME,
    field("Policy", "policy", Kind::Str),
    field(
        "BypassPolicyLockoutSafetyCheck",
        "bypassPolicyLockoutSafetyCheck",
        Kind::Bool,
    ),
];
const USER_NAME: Field = field("UserName", "userName", Kind::Str);
const PUT_USER_POLICY: &[Field] = &[
    USER_NAME,
    POLICY_NAME,
    field("PolicyDocument", "policyDocument", Kind::Str),
];
const USER_ONLY: &[Field] = &[USER_NAME];
const GRANT_ID: Field = field("GrantId", "grantId", Kind::Str);
const GRANTEE_PRINCIPAL: Field = field("GranteePrincipal", "granteePrincipal", Kind::Str);
const RETIRING_PRINCIPAL: Field = field("RetiringPrincipal", "retiringPrincipal", Kind::Str);
const GRANT_CONSTRAINTS: &[Field] = &[
    field(
        "EncryptionContextSubset",
        "encryptionContextSubset",
        Kind::StrMap,
    ),
    field(
        "EncryptionContextEquals",
        "encryptionContextEquals",
        Kind::StrMap,
    ),
];
const CREATE_GRANT: &[Field] = &[
    KEY_ID,
    field(
        "Constraints",
        "constraints",
        Kind::Object(GRANT_CONSTRAINTS),
    ),
    field("Operations", "operations", Kind::StrList),
    GRANTEE_PRINCIPAL,
    RETIRING_PRINCIPAL,
    field("Name", "name", Kind::Str),
    DRY_RUN,
];
const LIST_GRANTS: &[Field] = &[KEY_ID, LIMIT, MARKER, GRANT_ID, GRANTEE_PRINCIPAL];
const LIST_RETIRABLE_GRANTS: &[Field] = &[RETIRING_PRINCIPAL, LIMIT, MARKER];
/// RetireGrant and RevokeGrant: never `GrantToken`.
const KEY_AND_GRANT: &[Field] = &[KEY_ID, GRANT_ID, DRY_RUN];
const DELETE_USER_POLICY: &[Field] = &[USER_NAME, POLICY_NAME];
const ROLE_NAME: Field = field("RoleName", "roleName", Kind::Str);
const PUT_ROLE: &[Field] = &[
    ROLE_NAME,
    field(
        "AssumeRolePolicyDocument",
        "assumeRolePolicyDocument",
        Kind::Str,
    ),
    field("MaxSessionDuration", "maxSessionDuration", Kind::Num),
];
const ROLE_ONLY: &[Field] = &[ROLE_NAME];
const PUT_ROLE_POLICY: &[Field] = &[
    ROLE_NAME,
    POLICY_NAME,
    field("PolicyDocument", "policyDocument", Kind::Str),
];
const DELETE_ROLE_POLICY: &[Field] = &[ROLE_NAME, POLICY_NAME];
const PRINCIPAL_TAG: &[Field] = &[
    field("Key", "key", Kind::Str),
    field("Value", "value", Kind::Str),
];
const TAG_USER: &[Field] = &[
    USER_NAME,
    field("Tags", "tags", Kind::ObjectList(PRINCIPAL_TAG)),
];
const UNTAG_USER: &[Field] = &[USER_NAME, field("TagKeys", "tagKeys", Kind::StrList)];
const TAG_ROLE: &[Field] = &[
    ROLE_NAME,
    field("Tags", "tags", Kind::ObjectList(PRINCIPAL_TAG)),
];
const UNTAG_ROLE: &[Field] = &[ROLE_NAME, field("TagKeys", "tagKeys", Kind::StrList)];
const ASSUME_ROLE: &[Field] = &[
    field("RoleArn", "roleArn", Kind::Str),
    field("RoleSessionName", "roleSessionName", Kind::Str),
    field("DurationSeconds", "durationSeconds", Kind::Num),
];

/// The request members recorded for `op`. Grant tokens are deliberately absent: they
/// are bearer credentials for grants.
fn request_fields(op: Operation) -> &'static [Field] {
    use Operation::*;
    match op {
        CreateKey => CREATE_KEY,
        DescribeKey | EnableKey | DisableKey | CancelKeyDeletion | DisableKeyRotation
        | GetKeyRotationStatus | RotateKeyOnDemand => KEY_ONLY,
        ListKeys => PAGE,
        UpdateKeyDescription => UPDATE_KEY_DESCRIPTION,
        ScheduleKeyDeletion => SCHEDULE_KEY_DELETION,
        Encrypt | Decrypt => ENCRYPT_OR_DECRYPT,
        ReEncrypt => RE_ENCRYPT,
        GenerateDataKey | GenerateDataKeyWithoutPlaintext => GENERATE_DATA_KEY,
        GenerateRandom => GENERATE_RANDOM,
        CreateAlias | UpdateAlias => CREATE_OR_UPDATE_ALIAS,
        DeleteAlias => DELETE_ALIAS,
        ListAliases | ListResourceTags => KEY_PAGE,
        TagResource => TAG_RESOURCE,
        UntagResource => UNTAG_RESOURCE,
        EnableKeyRotation => ENABLE_KEY_ROTATION,
        ListKeyRotations => LIST_KEY_ROTATIONS,
        AdminCreateAccessKey => ADMIN_CREATE_ACCESS_KEY,
        AdminListAccessKeys => NOTHING,
        AdminUpdateAccessKey => ADMIN_UPDATE_ACCESS_KEY,
        AdminDeleteAccessKey => ADMIN_DELETE_ACCESS_KEY,
        GetKeyLastUsage => KEY_ONLY,
        GetKeyPolicy => GET_KEY_POLICY,
        PutKeyPolicy => PUT_KEY_POLICY,
        ListKeyPolicies => KEY_PAGE,
        AdminPutUserPolicy => PUT_USER_POLICY,
        AdminListUserPolicies => USER_ONLY,
        AdminDeleteUserPolicy => DELETE_USER_POLICY,
        AdminPutRole => PUT_ROLE,
        AdminDeleteRole | AdminListRolePolicies => ROLE_ONLY,
        AdminListRoles | StsGetCallerIdentity => NOTHING,
        AdminPutRolePolicy => PUT_ROLE_POLICY,
        AdminDeleteRolePolicy => DELETE_ROLE_POLICY,
        StsAssumeRole => ASSUME_ROLE,
        AdminTagUser => TAG_USER,
        AdminUntagUser => UNTAG_USER,
        AdminListUserTags => USER_ONLY,
        AdminTagRole => TAG_ROLE,
        AdminUntagRole => UNTAG_ROLE,
        AdminListRoleTags => ROLE_ONLY,
        CreateGrant => CREATE_GRANT,
        ListGrants => LIST_GRANTS,
        ListRetirableGrants => LIST_RETIRABLE_GRANTS,
        RetireGrant | RevokeGrant => KEY_AND_GRANT,
        LookupEvents => LOOKUP_EVENTS,
        AuditGetCheckpoint => NOTHING,
        AuditGetInclusionProof => INCLUSION_PROOF,
        AuditGetConsistencyProof => CONSISTENCY_PROOF,
        AuditGetKeyUsage => KEY_USAGE,
    }
}

const KEY_METADATA: &[Field] = &[
    // AWS keeps this member's wire spelling in CloudTrail.
    field("AWSAccountId", "AWSAccountId", Kind::Str),
    KEY_ID,
    field("Arn", "arn", Kind::Str),
    field("CreationDate", "creationDate", Kind::Date),
    field("Enabled", "enabled", Kind::Bool),
    DESCRIPTION,
    field("KeyUsage", "keyUsage", Kind::Str),
    field("KeyState", "keyState", Kind::Str),
    field("DeletionDate", "deletionDate", Kind::Date),
    field("ValidTo", "validTo", Kind::Date),
    field("Origin", "origin", Kind::Str),
    CUSTOM_KEY_STORE_ID,
    field("ExpirationModel", "expirationModel", Kind::Str),
    field("KeyManager", "keyManager", Kind::Str),
    field("CustomerMasterKeySpec", "customerMasterKeySpec", Kind::Str),
    KEY_SPEC,
    field(
        "EncryptionAlgorithms",
        "encryptionAlgorithms",
        Kind::StrList,
    ),
    field("SigningAlgorithms", "signingAlgorithms", Kind::StrList),
    field("MacAlgorithms", "macAlgorithms", Kind::StrList),
    field(
        "KeyAgreementAlgorithms",
        "keyAgreementAlgorithms",
        Kind::StrList,
    ),
    field("MultiRegion", "multiRegion", Kind::Bool),
    field(
        "PendingDeletionWindowInDays",
        "pendingDeletionWindowInDays",
        Kind::Num,
    ),
];
const CREATE_KEY_RESPONSE: &[Field] = &[field(
    "KeyMetadata",
    "keyMetadata",
    Kind::Object(KEY_METADATA),
)];
const SCHEDULE_KEY_DELETION_RESPONSE: &[Field] = &[
    KEY_ID,
    field("KeyState", "keyState", Kind::Str),
    field("DeletionDate", "deletionDate", Kind::Date),
];
const ACCESS_KEY: &[Field] = &[
    ACCESS_KEY_ID,
    field("UserName", "userName", Kind::Str),
    field("Status", "status", Kind::Str),
    field("CreateDate", "createDate", Kind::Date),
    field("Admin", "admin", Kind::Bool),
];
const ADMIN_CREATE_ACCESS_KEY_RESPONSE: &[Field] =
    &[field("AccessKey", "accessKey", Kind::Object(ACCESS_KEY))];

/// How `responseElements` is made for an operation.
enum ResponseRecord {
    /// `null`, whatever the response held.
    Nothing,
    /// The allow-listed members of the response.
    Members(&'static [Field]),
    /// `{"keyId": <ARN of the affected key>}`, which the API itself does not return.
    AffectedKeyArn,
    /// The allow-listed members and the affected key's ARN as `keyId`.
    MembersAndKeyArn(&'static [Field]),
}

fn response_record(op: Operation) -> ResponseRecord {
    use Operation::*;
    match op {
        CreateKey => ResponseRecord::Members(CREATE_KEY_RESPONSE),
        ScheduleKeyDeletion => ResponseRecord::Members(SCHEDULE_KEY_DELETION_RESPONSE),
        CancelKeyDeletion | RotateKeyOnDemand => ResponseRecord::Members(KEY_ONLY),
        AdminCreateAccessKey => ResponseRecord::Members(ADMIN_CREATE_ACCESS_KEY_RESPONSE),
        CreateGrant => ResponseRecord::MembersAndKeyArn(&[GRANT_ID]),
        EnableKey | DisableKey | CreateAlias | UpdateAlias | DeleteAlias | EnableKeyRotation => {
            ResponseRecord::AffectedKeyArn
        }
        DescribeKey
        | ListKeys
        | UpdateKeyDescription
        | Encrypt
        | Decrypt
        | ReEncrypt
        | GenerateDataKey
        | GenerateDataKeyWithoutPlaintext
        | GenerateRandom
        | ListAliases
        | TagResource
        | UntagResource
        | ListResourceTags
        | DisableKeyRotation
        | GetKeyRotationStatus
        | ListKeyRotations
        | AdminListAccessKeys
        | AdminUpdateAccessKey
        | AdminDeleteAccessKey
        | AdminPutUserPolicy
        | AdminListUserPolicies
        | AdminDeleteUserPolicy
        | AdminPutRole
        | AdminDeleteRole
        | AdminListRoles
        | AdminPutRolePolicy
        | AdminListRolePolicies
        | AdminDeleteRolePolicy
        | AdminTagUser
        | AdminUntagUser
        | AdminListUserTags
        | AdminTagRole
        | AdminUntagRole
        | AdminListRoleTags
        // Nothing of the issued credentials is recorded (AWS records the access key id
        // and session token; Kagi keeps bearer material out of the trail).
        | StsAssumeRole
        | StsGetCallerIdentity
        | GetKeyPolicy
        | PutKeyPolicy
        | ListKeyPolicies
        | ListGrants
        | ListRetirableGrants
        | RetireGrant
        | RevokeGrant
        | GetKeyLastUsage
        | LookupEvents
        | AuditGetCheckpoint
        | AuditGetInclusionProof
        | AuditGetConsistencyProof
        | AuditGetKeyUsage => ResponseRecord::Nothing,
    }
}

/// `requestParameters` for a call to `op` with this body.
fn request_parameters(op: Operation, body: &[u8]) -> Option<Map<String, Value>> {
    // AWS accepts an empty body as `{}`; so does the server (`wire::parse`).
    let body: &[u8] = if body.iter().all(u8::is_ascii_whitespace) {
        b"{}"
    } else {
        body
    };
    let mut recorded = filter_json(body, request_fields(op))?;
    if op == Operation::Decrypt && !recorded.contains_key("encryptionAlgorithm") {
        recorded.insert(
            "encryptionAlgorithm".into(),
            Value::from(kagi_kms::ops::encrypt::SYMMETRIC_DEFAULT),
        );
    }
    (!recorded.is_empty()).then_some(recorded)
}

/// `responseElements` for a successful call to `op`.
fn response_elements(
    op: Operation,
    response: &[u8],
    resources: &[String],
) -> Option<Map<String, Value>> {
    match response_record(op) {
        ResponseRecord::Nothing => None,
        ResponseRecord::Members(fields) => {
            filter_json(response, fields).filter(|recorded| !recorded.is_empty())
        }
        ResponseRecord::AffectedKeyArn => {
            let arn = resources.iter().find(|arn| arn.contains(":key/"))?;
            let mut recorded = Map::new();
            recorded.insert("keyId".into(), Value::from(arn.as_str()));
            Some(recorded)
        }
        ResponseRecord::MembersAndKeyArn(fields) => {
            let mut recorded = filter_json(response, fields).unwrap_or_default();
            if let Some(arn) = resources.iter().find(|arn| arn.contains(":key/")) {
                recorded.insert("keyId".into(), Value::from(arn.as_str()));
            }
            (!recorded.is_empty()).then_some(recorded)
        }
    }
}

/// `additionalEventData`: RetireGrant's `grantId` (from `GrantId`, or read out of the grant
/// token, which is not recorded); nothing for other operations.
fn additional_event_data(op: Operation, body: &[u8]) -> Option<Map<String, Value>> {
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "PascalCase")]
    struct Retire {
        grant_id: Option<String>,
        grant_token: Option<String>,
    }
    if op != Operation::RetireGrant {
        return None;
    }
    let retire: Retire = serde_json::from_slice(body).ok()?;
    let grant_id = match (retire.grant_id, retire.grant_token) {
        (Some(id), _) => id,
        (None, Some(token)) => kagi_kms::ops::grants::grant_id_of_token(&token)?,
        (None, None) => return None,
    };
    let mut recorded = Map::new();
    recorded.insert("grantId".into(), Value::from(grant_id));
    Some(recorded)
}

/// The allow-listed members of a JSON object, renamed; `None` unless `json` is exactly
/// one JSON object. Members not on the list are skipped without being copied.
fn filter_json(json: &[u8], fields: &'static [Field]) -> Option<Map<String, Value>> {
    let mut de = serde_json::Deserializer::from_slice(json);
    let recorded = Filter(Kind::Object(fields)).deserialize(&mut de).ok()?;
    de.end().ok()?;
    match recorded {
        Some(Value::Object(map)) => Some(map),
        _ => None,
    }
}

/// Deserialises one JSON value of the expected [`Kind`] into its recorded form: `None`
/// for a value of another shape (which is consumed, not copied).
struct Filter(Kind);

impl<'de> DeserializeSeed<'de> for Filter {
    type Value = Option<Value>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Filter {
    type Value = Option<Value>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Self::Value, E> {
        Ok(matches!(self.0, Kind::Bool).then_some(Value::Bool(v)))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
        Ok(match self.0 {
            Kind::Num => Some(Value::from(v)),
            Kind::Date => Some(response_date(v)),
            _ => None,
        })
    }

    fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
        Ok(match self.0 {
            Kind::Num => Some(Value::from(v)),
            Kind::Date => Some(response_date(i64::try_from(v).unwrap_or(i64::MAX))),
            _ => None,
        })
    }

    fn visit_f64<E>(self, v: f64) -> Result<Self::Value, E> {
        Ok(match self.0 {
            Kind::Num => Number::from_f64(v).map(Value::Number),
            // Saturating cast; JSON numbers are finite.
            Kind::Date => Some(response_date(v.floor() as i64)),
            _ => None,
        })
    }

    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(match self.0 {
            Kind::Str => Some(Value::from(v)),
            // The query protocol (STS) sends numbers as text; CloudTrail records numbers.
            Kind::Num => v.parse::<i64>().ok().map(Value::from),
            _ => None,
        })
    }

    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let element = match self.0 {
            Kind::StrList => Kind::Str,
            Kind::ObjectList(fields) => Kind::Object(fields),
            _ => {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                return Ok(None);
            }
        };
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(Filter(element))? {
            items.extend(item);
        }
        Ok(Some(Value::Array(items)))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut recorded = Map::new();
        match self.0 {
            Kind::Object(fields) => {
                while let Some(key) = map.next_key::<Cow<'de, str>>()? {
                    match fields.iter().find(|f| f.wire == key) {
                        Some(f) => {
                            if let Some(value) = map.next_value_seed(Filter(f.kind))? {
                                recorded.insert(f.trail.to_string(), value);
                            }
                        }
                        None => {
                            map.next_value::<IgnoredAny>()?;
                        }
                    }
                }
            }
            Kind::StrMap => {
                while let Some(key) = map.next_key::<String>()? {
                    if let Some(value) = map.next_value_seed(Filter(Kind::Str))? {
                        recorded.insert(key, value);
                    }
                }
            }
            _ => {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                return Ok(None);
            }
        }
        Ok(Some(Value::Object(recorded)))
    }
}

fn response_date(epoch_seconds: i64) -> Value {
    Value::from(EventTime::from_epoch_seconds(epoch_seconds).response_date_string())
}

#[cfg(test)]
mod tests;
