//! The audit event: one CloudTrail record (`eventVersion` 1.11) as typed structs, and its
//! canonical bytes — the exact bytes the log stores and the Merkle tree hashes.
//!
//! Field names and their order are CloudTrail's (see AWS's "CloudTrail record contents"
//! and the KMS Developer Guide's example log entries). Optional fields are omitted when
//! absent, as CloudTrail does; `requestParameters` and `responseElements` are always
//! present and `null` when there is nothing to record. `tlsDetails` is never written: Kagi
//! serves plain HTTP behind whatever terminates TLS.
//!
//! # Canonical bytes (a stable on-disk format)
//!
//! [`CloudTrailEvent::canonical_bytes`] is compact JSON (no insignificant whitespace) with
//! the top-level and nested struct fields in the fixed order of the struct definitions
//! below, every JSON object inside `requestParameters`, `responseElements`,
//! `additionalEventData` and `serviceEventDetails` written with its keys sorted by their
//! UTF-8 bytes, strings escaped the way `serde_json` escapes them (only `"`, `\` and
//! control characters; everything else as raw UTF-8) and numbers as `serde_json` prints
//! them. These bytes are hashed into the Merkle tree and signed into checkpoints, so
//! changing any of this — a field's name, position or presence rule, the sort order, the
//! time format — is a format change: it needs a new `eventVersion` and must leave events
//! of older versions verifiable. The golden test `canonical_bytes_are_pinned` pins the
//! bytes of one event; if it fails, you changed the format.
//!
//! This module does not decide what goes into an event (which request fields are safe to
//! record, which key ARNs are involved): the server's `audit` module does that per
//! operation. It is not yet wired into the request path.

use serde::de::Error as _;
use serde::ser::{SerializeMap, SerializeSeq};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};
use std::fmt;

/// The CloudTrail record version Kagi writes. Also the version of the canonical byte
/// format (see the module docs).
pub const EVENT_VERSION: &str = "1.11";
/// `eventSource` of every KMS event.
pub const KMS_EVENT_SOURCE: &str = "kms.amazonaws.com";
/// `eventCategory` of API calls and service events (as opposed to data or Insights events).
pub const MANAGEMENT_CATEGORY: &str = "Management";
/// `resources[].type` AWS KMS writes, for key and alias ARNs alike.
pub const KMS_KEY_RESOURCE_TYPE: &str = "AWS::KMS::Key";

/// One CloudTrail record. Construct it field by field (the server's `audit` module does)
/// and serialise it with [`CloudTrailEvent::canonical_bytes`].
///
/// Fields are public because an event is plain data. Events Kagi writes have
/// `event_version` [`EVENT_VERSION`]; [`CloudTrailEvent::parse`] does not check that, so a
/// reader sees whatever version the log holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CloudTrailEvent {
    pub event_version: String,
    pub user_identity: UserIdentity,
    pub event_time: EventTime,
    pub event_source: String,
    pub event_name: String,
    pub aws_region: String,
    #[serde(rename = "sourceIPAddress")]
    pub source_ip_address: String,
    pub user_agent: String,
    /// The AWS exception name (`__type`) of a failed call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_message: Option<String>,
    /// The request's recordable parameters; `null` when there are none or the body was
    /// not a JSON object.
    #[serde(serialize_with = "sorted_opt_object")]
    pub request_parameters: Option<Map<String, Value>>,
    /// What the operation returned that AWS records; `null` for most operations.
    #[serde(serialize_with = "sorted_opt_object")]
    pub response_elements: Option<Map<String, Value>>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        serialize_with = "sorted_opt_object"
    )]
    pub additional_event_data: Option<Map<String, Value>>,
    /// The id the client got in `x-amzn-RequestId`; absent for service events.
    #[serde(rename = "requestID", default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// A UUID, unique per event.
    #[serde(rename = "eventID")]
    pub event_id: String,
    pub read_only: bool,
    pub resources: Vec<Resource>,
    pub event_type: EventType,
    pub management_event: bool,
    pub recipient_account_id: String,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        serialize_with = "sorted_opt_object"
    )]
    pub service_event_details: Option<Map<String, Value>>,
    pub event_category: String,
}

impl CloudTrailEvent {
    /// The canonical serialisation: the bytes the log stores and the Merkle tree hashes.
    /// Deterministic for equal events; see the module docs for the exact rules.
    pub fn canonical_bytes(&self) -> Vec<u8> {
        // Invariant: serialising to memory cannot fail. Every map key is a string, and a
        // `serde_json::Value` number is always finite (NaN and infinities cannot be built).
        serde_json::to_vec(self).expect("serialising an event to memory cannot fail")
    }

    /// Parses an event read back from the log (or a log file). Rejects unknown fields, so
    /// a record written by a newer format is an error rather than silently shortened.
    pub fn parse(bytes: &[u8]) -> Result<Self, serde_json::Error> {
        serde_json::from_slice(bytes)
    }
}

/// Who made the call, as CloudTrail's `userIdentity`. Service events carry only
/// `accountId` and `invokedBy`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UserIdentity {
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub identity_type: Option<IdentityType>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub principal_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arn: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_key_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invoked_by: Option<String>,
}

/// `userIdentity.type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum IdentityType {
    #[serde(rename = "IAMUser")]
    IamUser,
    Root,
    AssumedRole,
    #[serde(rename = "AWSService")]
    AwsService,
    /// Not authenticated: no signature, a bad one, or an unknown access key.
    Unknown,
}

/// `eventType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum EventType {
    /// A request a client made.
    AwsApiCall,
    /// Something the service did by itself (scheduled rotation, deletion at the end of
    /// the waiting period).
    AwsServiceEvent,
}

/// One entry of `resources`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Resource {
    #[serde(rename = "accountId")]
    pub account_id: String,
    #[serde(rename = "type")]
    pub resource_type: String,
    #[serde(rename = "ARN")]
    pub arn: String,
}

/// `eventTime`: a UTC instant with one-second resolution, written as ISO 8601
/// (`2026-11-23T08:47:12Z`), CloudTrail's format. Limited to the years 0000–9999 so the
/// text form is always 20 characters; constructors saturate at those bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EventTime(i64);

const SECONDS_PER_DAY: i64 = 86_400;
/// 0000-01-01T00:00:00Z.
const MIN_EPOCH_SECONDS: i64 = -62_167_219_200;
/// 9999-12-31T23:59:59Z.
const MAX_EPOCH_SECONDS: i64 = 253_402_300_799;

const MONTH_ABBREVIATIONS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

impl EventTime {
    /// From milliseconds since the Unix epoch (the domain's `Timestamp`), rounded down to
    /// the second.
    pub fn from_epoch_millis(millis: i64) -> Self {
        Self::from_epoch_seconds(millis.div_euclid(1000))
    }

    pub fn from_epoch_seconds(seconds: i64) -> Self {
        Self(seconds.clamp(MIN_EPOCH_SECONDS, MAX_EPOCH_SECONDS))
    }

    pub fn epoch_seconds(self) -> i64 {
        self.0
    }

    /// Parses exactly the form [`fmt::Display`] writes: `YYYY-MM-DDTHH:MM:SSZ`.
    pub fn parse(s: &str) -> Option<Self> {
        let b = s.as_bytes();
        if b.len() != 20
            || b[4] != b'-'
            || b[7] != b'-'
            || b[10] != b'T'
            || b[13] != b':'
            || b[16] != b':'
            || b[19] != b'Z'
        {
            return None;
        }
        let year = digits(&b[0..4])?;
        let month = digits(&b[5..7])?;
        let day = digits(&b[8..10])?;
        let hour = digits(&b[11..13])?;
        let minute = digits(&b[14..16])?;
        let second = digits(&b[17..19])?;
        if !(1..=12).contains(&month)
            || day < 1
            || day > days_in_month(year, month)
            || hour > 23
            || minute > 59
            || second > 59
        {
            return None;
        }
        let days = days_from_civil(year, month, day);
        Some(Self(
            days * SECONDS_PER_DAY + hour * 3600 + minute * 60 + second,
        ))
    }

    /// The form CloudTrail uses for timestamps *inside* `responseElements` (Java's
    /// default date format, in UTC): `Aug 10, 2022, 10:38:27 PM`.
    pub fn response_date_string(self) -> String {
        let (year, month, day, hour, minute, second) = self.civil();
        let (hour12, meridiem) = match hour {
            0 => (12, "AM"),
            1..=11 => (hour, "AM"),
            12 => (12, "PM"),
            _ => (hour - 12, "PM"),
        };
        // Invariant: `civil` returns a month in 1..=12.
        let month_name = MONTH_ABBREVIATIONS[(month - 1) as usize];
        format!("{month_name} {day}, {year:04}, {hour12}:{minute:02}:{second:02} {meridiem}")
    }

    /// (year, month, day, hour, minute, second) in UTC.
    fn civil(self) -> (i64, i64, i64, i64, i64, i64) {
        let days = self.0.div_euclid(SECONDS_PER_DAY);
        let secs = self.0.rem_euclid(SECONDS_PER_DAY);
        let (year, month, day) = civil_from_days(days);
        (year, month, day, secs / 3600, secs % 3600 / 60, secs % 60)
    }
}

impl fmt::Display for EventTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (year, month, day, hour, minute, second) = self.civil();
        write!(
            f,
            "{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}Z"
        )
    }
}

impl Serialize for EventTime {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for EventTime {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = std::borrow::Cow::<'de, str>::deserialize(d)?;
        EventTime::parse(&s)
            .ok_or_else(|| D::Error::custom("eventTime is not YYYY-MM-DDTHH:MM:SSZ"))
    }
}

fn digits(b: &[u8]) -> Option<i64> {
    b.iter().try_fold(0i64, |n, &c| {
        c.is_ascii_digit().then(|| n * 10 + i64::from(c - b'0'))
    })
}

fn is_leap(year: i64) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

// Proleptic Gregorian calendar <-> days since 1970-01-01, by counting 400-year eras of
// 146 097 days from 0000-03-01 (putting February last makes the leap day the final day of
// a year). Exact for every i64 input in range; no floating point.
const DAYS_FROM_0000_03_01_TO_1970: i64 = 719_468;
const DAYS_PER_ERA: i64 = 146_097;

fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + DAYS_FROM_0000_03_01_TO_1970;
    let era = z.div_euclid(DAYS_PER_ERA);
    let day_of_era = z.rem_euclid(DAYS_PER_ERA);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year.rem_euclid(400);
    let month_from_march = if month > 2 { month - 3 } else { month + 9 };
    let day_of_year = (153 * month_from_march + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * DAYS_PER_ERA + day_of_era - DAYS_FROM_0000_03_01_TO_1970
}

/// Writes a JSON value with every object's keys in sorted order, whatever order the map
/// holds them in (`serde_json`'s `preserve_order` feature may be on somewhere in the
/// build, so the map's own order is not relied on).
struct Sorted<'a>(&'a Value);

impl Serialize for Sorted<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            Value::Object(map) => SortedObject(map).serialize(s),
            Value::Array(items) => {
                let mut seq = s.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(&Sorted(item))?;
                }
                seq.end()
            }
            scalar => scalar.serialize(s),
        }
    }
}

struct SortedObject<'a>(&'a Map<String, Value>);

impl Serialize for SortedObject<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut entries: Vec<(&String, &Value)> = self.0.iter().collect();
        entries.sort_unstable_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
        let mut map = s.serialize_map(Some(entries.len()))?;
        for (key, value) in entries {
            map.serialize_entry(key, &Sorted(value))?;
        }
        map.end()
    }
}

fn sorted_opt_object<S: Serializer>(
    value: &Option<Map<String, Value>>,
    s: S,
) -> Result<S::Ok, S::Error> {
    match value {
        Some(map) => SortedObject(map).serialize(s),
        None => s.serialize_none(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn object(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            other => panic!("not an object: {other}"),
        }
    }

    /// An Encrypt call as Kagi records it, with maps built in unsorted order.
    fn sample_event() -> CloudTrailEvent {
        let mut context = Map::new();
        context.insert("Project".into(), json!("Alpha"));
        context.insert("Department".into(), json!("Engineering"));
        let mut params = Map::new();
        params.insert(
            "keyId".into(),
            json!("arn:aws:kms:us-west-2:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"),
        );
        params.insert("encryptionContext".into(), Value::Object(context));
        params.insert("encryptionAlgorithm".into(), json!("SYMMETRIC_DEFAULT"));
        CloudTrailEvent {
            event_version: EVENT_VERSION.into(),
            user_identity: UserIdentity {
                identity_type: Some(IdentityType::IamUser),
                principal_id: Some("alice".into()),
                arn: Some("arn:aws:iam::111122223333:user/alice".into()),
                account_id: Some("111122223333".into()),
                access_key_id: Some("AKIAKAGIEXAMPLE00001".into()),
                user_name: Some("alice".into()),
                invoked_by: None,
            },
            event_time: EventTime::from_epoch_millis(1_795_423_632_250),
            event_source: KMS_EVENT_SOURCE.into(),
            event_name: "Encrypt".into(),
            aws_region: "us-west-2".into(),
            source_ip_address: "192.0.2.10".into(),
            user_agent: "aws-cli/2.15.0 \"quoted\" é".into(),
            error_code: None,
            error_message: None,
            request_parameters: Some(params),
            response_elements: None,
            additional_event_data: None,
            request_id: Some("0e9c8f2a-5d6b-4c3e-9a1f-7b2d4e6f8a0c".into()),
            event_id: "5b1d2f3e-4a6c-4e8d-9f0a-1b2c3d4e5f60".into(),
            read_only: true,
            resources: vec![Resource {
                account_id: "111122223333".into(),
                resource_type: KMS_KEY_RESOURCE_TYPE.into(),
                arn: "arn:aws:kms:us-west-2:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
                    .into(),
            }],
            event_type: EventType::AwsApiCall,
            management_event: true,
            recipient_account_id: "111122223333".into(),
            service_event_details: None,
            event_category: MANAGEMENT_CATEGORY.into(),
        }
    }

    /// The format is an API: these bytes must never change for eventVersion 1.11.
    #[test]
    fn canonical_bytes_are_pinned() {
        let expected = concat!(
            r#"{"eventVersion":"1.11","#,
            r#""userIdentity":{"type":"IAMUser","principalId":"alice","#,
            r#""arn":"arn:aws:iam::111122223333:user/alice","accountId":"111122223333","#,
            r#""accessKeyId":"AKIAKAGIEXAMPLE00001","userName":"alice"},"#,
            r#""eventTime":"2026-11-23T08:47:12Z","eventSource":"kms.amazonaws.com","#,
            r#""eventName":"Encrypt","awsRegion":"us-west-2","sourceIPAddress":"192.0.2.10","#,
            r#""userAgent":"aws-cli/2.15.0 \"quoted\" é","#,
            r#""requestParameters":{"encryptionAlgorithm":"SYMMETRIC_DEFAULT","#,
            r#""encryptionContext":{"Department":"Engineering","Project":"Alpha"},"#,
            r#""keyId":"arn:aws:kms:us-west-2:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"},"#,
            r#""responseElements":null,"#,
            r#""requestID":"0e9c8f2a-5d6b-4c3e-9a1f-7b2d4e6f8a0c","#,
            r#""eventID":"5b1d2f3e-4a6c-4e8d-9f0a-1b2c3d4e5f60","readOnly":true,"#,
            r#""resources":[{"accountId":"111122223333","type":"AWS::KMS::Key","#,
            r#""ARN":"arn:aws:kms:us-west-2:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"}],"#,
            r#""eventType":"AwsApiCall","managementEvent":true,"#,
            r#""recipientAccountId":"111122223333","eventCategory":"Management"}"#,
        );
        let bytes = sample_event().canonical_bytes();
        assert_eq!(String::from_utf8(bytes).unwrap(), expected);
    }

    #[test]
    fn optional_fields_appear_in_cloudtrail_order() {
        let mut e = sample_event();
        e.error_code = Some("DisabledException".into());
        e.error_message = Some("m".into());
        e.additional_event_data = Some(object(json!({"b": 1, "a": 2})));
        e.service_event_details = Some(object(json!({"keyId": "k"})));
        e.request_id = None;
        let text = String::from_utf8(e.canonical_bytes()).unwrap();
        let order = [
            "\"userAgent\"",
            "\"errorCode\"",
            "\"errorMessage\"",
            "\"requestParameters\"",
            "\"responseElements\"",
            "\"additionalEventData\":{\"a\":2,\"b\":1}",
            "\"eventID\"",
            "\"recipientAccountId\"",
            "\"serviceEventDetails\"",
            "\"eventCategory\"",
        ];
        let positions: Vec<usize> = order.iter().map(|k| text.find(k).unwrap()).collect();
        assert!(positions.windows(2).all(|w| w[0] < w[1]), "{text}");
        assert!(!text.contains("requestID"));
    }

    #[test]
    fn parse_round_trips() {
        let e = sample_event();
        let bytes = e.canonical_bytes();
        let back = CloudTrailEvent::parse(&bytes).unwrap();
        assert_eq!(back, e);
        assert_eq!(back.canonical_bytes(), bytes);
    }

    #[test]
    fn parse_rejects_unknown_fields_and_bad_times() {
        let text = String::from_utf8(sample_event().canonical_bytes()).unwrap();
        let extra = text.replacen("{", r#"{"tlsDetails":{},"#, 1);
        assert!(CloudTrailEvent::parse(extra.as_bytes()).is_err());
        let bad_time = text.replace("2026-11-23T08:47:12Z", "2026-11-31T08:47:12Z");
        assert!(CloudTrailEvent::parse(bad_time.as_bytes()).is_err());
    }

    #[test]
    fn event_times_known_answers() {
        let cases = [
            (0, "1970-01-01T00:00:00Z"),
            (-1, "1969-12-31T23:59:59Z"),
            (951_912_000, "2000-03-01T12:00:00Z"),
            (1_709_164_800, "2024-02-29T00:00:00Z"),
            (1_795_423_632, "2026-11-23T08:47:12Z"),
            (MIN_EPOCH_SECONDS, "0000-01-01T00:00:00Z"),
            (MAX_EPOCH_SECONDS, "9999-12-31T23:59:59Z"),
        ];
        for (secs, text) in cases {
            let t = EventTime::from_epoch_seconds(secs);
            assert_eq!(t.to_string(), text);
            assert_eq!(EventTime::parse(text), Some(t), "{text}");
        }
        // Milliseconds round down, also before 1970.
        assert_eq!(EventTime::from_epoch_millis(999).epoch_seconds(), 0);
        assert_eq!(EventTime::from_epoch_millis(-1).epoch_seconds(), -1);
        // Out-of-range instants saturate.
        assert_eq!(
            EventTime::from_epoch_millis(i64::MAX).to_string(),
            "9999-12-31T23:59:59Z"
        );
        assert_eq!(
            EventTime::from_epoch_millis(i64::MIN).to_string(),
            "0000-01-01T00:00:00Z"
        );
    }

    #[test]
    fn event_time_parse_is_strict() {
        for bad in [
            "",
            "2026-11-23T08:47:12",
            "2026-11-23 08:47:12Z",
            "2026-11-23T08:47:12.000Z",
            "2026-13-01T00:00:00Z",
            "2026-00-01T00:00:00Z",
            "2023-02-29T00:00:00Z",
            "2026-04-31T00:00:00Z",
            "2026-11-23T24:00:00Z",
            "2026-11-23T23:60:00Z",
            "2026-11-23T23:59:60Z",
            "+026-11-23T08:47:12Z",
            "２026-11-23T08:47:1Z",
        ] {
            assert_eq!(EventTime::parse(bad), None, "{bad:?}");
        }
        assert!(EventTime::parse("2000-02-29T00:00:00Z").is_some());
        assert!(EventTime::parse("1900-02-29T00:00:00Z").is_none());
    }

    #[test]
    fn response_dates_use_cloudtrails_java_format() {
        let t = |s: i64| EventTime::from_epoch_seconds(s).response_date_string();
        assert_eq!(t(1_660_171_107), "Aug 10, 2022, 10:38:27 PM");
        assert_eq!(t(0), "Jan 1, 1970, 12:00:00 AM");
        assert_eq!(t(12 * 3600), "Jan 1, 1970, 12:00:00 PM");
        assert_eq!(t(13 * 3600 + 5), "Jan 1, 1970, 1:00:05 PM");
        assert_eq!(t(1_795_423_632), "Nov 23, 2026, 8:47:12 AM");
    }

    proptest! {
        #[test]
        fn event_time_text_round_trips(secs in MIN_EPOCH_SECONDS..=MAX_EPOCH_SECONDS) {
            let t = EventTime::from_epoch_seconds(secs);
            let text = t.to_string();
            prop_assert_eq!(text.len(), 20);
            prop_assert_eq!(EventTime::parse(&text), Some(t));
        }

        #[test]
        fn canonical_bytes_ignore_map_insertion_order(
            entries in proptest::collection::btree_map("[a-zA-Z0-9]{1,8}", "[ -~]{0,8}", 0..8)
        ) {
            let forward: Map<String, Value> =
                entries.iter().map(|(k, v)| (k.clone(), json!(v))).collect();
            let backward: Map<String, Value> =
                entries.iter().rev().map(|(k, v)| (k.clone(), json!(v))).collect();
            let mut a = sample_event();
            let mut b = sample_event();
            a.request_parameters = Some(forward);
            b.request_parameters = Some(backward);
            prop_assert_eq!(a.canonical_bytes(), b.canonical_bytes());
        }
    }
}
