//! The `Condition` element: operators, how their values are read, and how a condition is
//! decided against a request.
//!
//! Semantics follow AWS's IAM documentation:
//! - values listed for one key are ORed; keys and operators are ANDed (the statement holds
//!   only if every [`Condition`] does);
//! - a key absent from the request makes a positive operator false and a negated operator
//!   (`StringNotEquals`, `NotIpAddress`, `ArnNotLike` …) true;
//! - `…IfExists` makes any operator true when the key is absent;
//! - `ForAnyValue:` needs at least one request value to satisfy the operator (false when the
//!   key is absent or empty); `ForAllValues:` needs every request value to (true when the key
//!   is absent or empty);
//! - without a set qualifier a multivalued key behaves like `ForAnyValue` for positive
//!   operators and requires that no value matches for negated ones;
//! - `Null: {"k": "true"}` holds when `k` is absent, `"false"` when it is present.
//!
//! Policy variables are substituted in the values of the string and ARN operators only.

use crate::context::RequestContext;
use crate::document::{display, string_list};
use crate::error::Problem;
use crate::pattern::{self, Token};
use serde_json::Value;
use std::net::IpAddr;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetQualifier {
    ForAnyValue,
    ForAllValues,
}

/// The operator without its `ForAnyValue:`/`ForAllValues:` prefix and `IfExists` suffix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BaseOperator {
    StringEquals,
    StringNotEquals,
    StringEqualsIgnoreCase,
    StringNotEqualsIgnoreCase,
    StringLike,
    StringNotLike,
    NumericEquals,
    NumericNotEquals,
    NumericLessThan,
    NumericLessThanEquals,
    NumericGreaterThan,
    NumericGreaterThanEquals,
    DateEquals,
    DateNotEquals,
    DateLessThan,
    DateLessThanEquals,
    DateGreaterThan,
    DateGreaterThanEquals,
    Bool,
    BinaryEquals,
    IpAddress,
    NotIpAddress,
    ArnEquals,
    ArnLike,
    ArnNotEquals,
    ArnNotLike,
    Null,
}

const OPERATORS: &[(&str, BaseOperator)] = {
    use BaseOperator::*;
    &[
        ("StringEquals", StringEquals),
        ("StringNotEquals", StringNotEquals),
        ("StringEqualsIgnoreCase", StringEqualsIgnoreCase),
        ("StringNotEqualsIgnoreCase", StringNotEqualsIgnoreCase),
        ("StringLike", StringLike),
        ("StringNotLike", StringNotLike),
        ("NumericEquals", NumericEquals),
        ("NumericNotEquals", NumericNotEquals),
        ("NumericLessThan", NumericLessThan),
        ("NumericLessThanEquals", NumericLessThanEquals),
        ("NumericGreaterThan", NumericGreaterThan),
        ("NumericGreaterThanEquals", NumericGreaterThanEquals),
        ("DateEquals", DateEquals),
        ("DateNotEquals", DateNotEquals),
        ("DateLessThan", DateLessThan),
        ("DateLessThanEquals", DateLessThanEquals),
        ("DateGreaterThan", DateGreaterThan),
        ("DateGreaterThanEquals", DateGreaterThanEquals),
        ("Bool", Bool),
        ("BinaryEquals", BinaryEquals),
        ("IpAddress", IpAddress),
        ("NotIpAddress", NotIpAddress),
        ("ArnEquals", ArnEquals),
        ("ArnLike", ArnLike),
        ("ArnNotEquals", ArnNotEquals),
        ("ArnNotLike", ArnNotLike),
        ("Null", Null),
    ]
};

/// How the values of an operator are read and compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Family {
    String,
    StringIgnoreCase,
    StringLike,
    Numeric(Ordering),
    Date(Ordering),
    Bool,
    Binary,
    Ip,
    Arn,
    Null,
}

/// The comparison `request value <op> policy value` of numeric and date operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ordering {
    Equal,
    Less,
    LessOrEqual,
    Greater,
    GreaterOrEqual,
}

impl BaseOperator {
    /// The positive family and whether this operator negates it.
    fn family(self) -> (Family, bool) {
        use BaseOperator::*;
        use Ordering::*;
        match self {
            StringEquals => (Family::String, false),
            StringNotEquals => (Family::String, true),
            StringEqualsIgnoreCase => (Family::StringIgnoreCase, false),
            StringNotEqualsIgnoreCase => (Family::StringIgnoreCase, true),
            StringLike => (Family::StringLike, false),
            StringNotLike => (Family::StringLike, true),
            NumericEquals => (Family::Numeric(Equal), false),
            NumericNotEquals => (Family::Numeric(Equal), true),
            NumericLessThan => (Family::Numeric(Less), false),
            NumericLessThanEquals => (Family::Numeric(LessOrEqual), false),
            NumericGreaterThan => (Family::Numeric(Greater), false),
            NumericGreaterThanEquals => (Family::Numeric(GreaterOrEqual), false),
            DateEquals => (Family::Date(Equal), false),
            DateNotEquals => (Family::Date(Equal), true),
            DateLessThan => (Family::Date(Less), false),
            DateLessThanEquals => (Family::Date(LessOrEqual), false),
            DateGreaterThan => (Family::Date(Greater), false),
            DateGreaterThanEquals => (Family::Date(GreaterOrEqual), false),
            Bool => (Family::Bool, false),
            BinaryEquals => (Family::Binary, false),
            IpAddress => (Family::Ip, false),
            NotIpAddress => (Family::Ip, true),
            ArnEquals | ArnLike => (Family::Arn, false),
            ArnNotEquals | ArnNotLike => (Family::Arn, true),
            Null => (Family::Null, false),
        }
    }
}

/// A full condition operator such as `ForAllValues:StringLikeIfExists`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Operator {
    pub set: Option<SetQualifier>,
    pub base: BaseOperator,
    pub if_exists: bool,
}

impl Operator {
    /// Reads an operator name; names are case-sensitive, as in IAM.
    pub fn parse(name: &str) -> Option<Operator> {
        let (set, rest) = if let Some(rest) = name.strip_prefix("ForAnyValue:") {
            (Some(SetQualifier::ForAnyValue), rest)
        } else if let Some(rest) = name.strip_prefix("ForAllValues:") {
            (Some(SetQualifier::ForAllValues), rest)
        } else {
            (None, name)
        };
        let (if_exists, base_name) = match rest.strip_suffix("IfExists") {
            Some(base) => (true, base),
            None => (false, rest),
        };
        let base = OPERATORS
            .iter()
            .find(|(n, _)| *n == base_name)
            .map(|(_, op)| *op)?;
        if base == BaseOperator::Null && (if_exists || set.is_some()) {
            return None;
        }
        Some(Operator {
            set,
            base,
            if_exists,
        })
    }
}

/// One operator applied to one condition key with its (ORed) values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Condition {
    pub operator: Operator,
    /// The key as written in the policy; looked up case-insensitively.
    pub key: String,
    pub values: Vec<String>,
    /// `key` normalised once, for lookups.
    lookup_key: String,
}

/// Parses the `Condition` element into one [`Condition`] per operator and key.
pub(crate) fn parse_block(value: &Value) -> Result<Vec<Condition>, Problem> {
    let operators = value.as_object().ok_or(Problem::WrongType {
        element: "Condition".into(),
        expected: "an object of operators",
    })?;
    let mut out = Vec::new();
    for (name, keys) in operators {
        let operator = Operator::parse(name).ok_or_else(|| Problem::UnknownConditionOperator {
            operator: name.clone(),
        })?;
        let element = format!("Condition.{name}");
        let keys = keys.as_object().ok_or_else(|| Problem::WrongType {
            element: element.clone(),
            expected: "an object of condition keys",
        })?;
        if keys.is_empty() {
            return Err(Problem::Empty { element });
        }
        for (key, raw) in keys {
            let element = format!("Condition.{name}.{key}");
            let values = condition_values(&element, raw)?;
            for v in &values {
                check_value(operator.base.family().0, &element, v)?;
            }
            out.push(Condition {
                operator,
                key: key.clone(),
                values,
                lookup_key: crate::context::normalize_key(key),
            });
        }
    }
    Ok(out)
}

/// Condition values may be JSON strings, numbers or booleans; all are kept as text.
fn condition_values(element: &str, value: &Value) -> Result<Vec<String>, Problem> {
    let scalar = |v: &Value| match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(_) | Value::Bool(_) => Some(display(v)),
        _ => None,
    };
    let wrong = || Problem::WrongType {
        element: element.into(),
        expected: "a string, number or boolean, or an array of them",
    };
    match value {
        Value::Array(items) if items.is_empty() => Err(Problem::Empty {
            element: element.into(),
        }),
        Value::Array(items) => items.iter().map(|v| scalar(v).ok_or_else(wrong)).collect(),
        Value::Object(_) | Value::Null => Err(wrong()),
        other => match scalar(other) {
            Some(s) => Ok(vec![s]),
            None => string_list(element, other),
        },
    }
}

fn check_value(family: Family, element: &str, value: &str) -> Result<(), Problem> {
    let reason = match family {
        Family::Numeric(_) if parse_number(value).is_none() => "expected a number",
        Family::Date(_) if parse_date(value).is_none() => {
            "expected an ISO 8601 date or epoch seconds"
        }
        Family::Bool | Family::Null if !is_bool(value) => "expected \"true\" or \"false\"",
        Family::Binary if decode_base64(value).is_none() => "expected base64",
        Family::Ip if parse_cidr(value).is_none() => "expected an IPv4 or IPv6 address or CIDR",
        _ => return Ok(()),
    };
    Err(Problem::InvalidValue {
        element: element.into(),
        value: value.into(),
        reason,
    })
}

impl Condition {
    /// Whether the condition holds for the request. `variables` enables policy variables
    /// (policy version 2012-10-17).
    pub fn holds(&self, ctx: &RequestContext, variables: bool) -> bool {
        let (family, negated) = self.operator.base.family();
        let request = ctx
            .lookup_normalized(&self.lookup_key)
            .filter(|v| !v.is_empty());
        if family == Family::Null {
            let absent = request.is_none();
            return self
                .values
                .iter()
                .any(|v| v.eq_ignore_ascii_case("true") == absent);
        }
        let Some(request) = request else {
            if self.operator.if_exists {
                return true;
            }
            return match self.operator.set {
                Some(SetQualifier::ForAnyValue) => false,
                Some(SetQualifier::ForAllValues) => true,
                None => negated,
            };
        };
        // Values without a variable are used as written; only the others are expanded into
        // tokens (so that substituted text stays literal).
        let substitutes = matches!(
            family,
            Family::String | Family::StringIgnoreCase | Family::StringLike | Family::Arn
        );
        let policy: Vec<PolicyValue<'_>> = self
            .values
            .iter()
            .filter_map(|v| {
                if substitutes && variables && v.contains("${") {
                    pattern::expand(v, variables, ctx).map(PolicyValue::Expanded)
                } else {
                    Some(PolicyValue::Written(v))
                }
            })
            .collect();
        let hit = |value: &str| policy.iter().any(|p| family_matches(family, value, p));
        let satisfied = |value: &String| hit(value) != negated;
        match self.operator.set {
            Some(SetQualifier::ForAnyValue) => request.iter().any(satisfied),
            Some(SetQualifier::ForAllValues) => request.iter().all(satisfied),
            None if negated => !request.iter().any(|v| hit(v)),
            None => request.iter().any(|v| hit(v)),
        }
    }
}

/// One policy value of a condition: as written, or expanded (it had a policy variable).
enum PolicyValue<'a> {
    Written(&'a str),
    Expanded(Vec<Token>),
}

impl PolicyValue<'_> {
    /// The value as text (wildcards as their characters).
    fn literal(&self) -> std::borrow::Cow<'_, str> {
        match self {
            PolicyValue::Written(s) => std::borrow::Cow::Borrowed(s),
            PolicyValue::Expanded(tokens) => std::borrow::Cow::Owned(pattern::literal(tokens)),
        }
    }

    /// The value as a wildcard pattern.
    fn tokens(&self) -> std::borrow::Cow<'_, [Token]> {
        match self {
            PolicyValue::Written(s) => std::borrow::Cow::Owned(pattern::tokens(s)),
            PolicyValue::Expanded(tokens) => std::borrow::Cow::Borrowed(tokens),
        }
    }
}

/// The positive comparison of one request value with one policy value.
fn family_matches(family: Family, value: &str, policy: &PolicyValue<'_>) -> bool {
    match family {
        Family::String => value == policy.literal(),
        Family::StringIgnoreCase => value.to_lowercase() == policy.literal().to_lowercase(),
        Family::StringLike => pattern::matches(&policy.tokens(), value, false),
        Family::Arn => pattern::arn_matches(&policy.tokens(), value),
        Family::Numeric(ordering) => match (parse_number(value), parse_number(&policy.literal())) {
            (Some(a), Some(b)) => compare(ordering, a.partial_cmp(&b)),
            _ => false,
        },
        Family::Date(ordering) => match (parse_date(value), parse_date(&policy.literal())) {
            (Some(a), Some(b)) => compare(ordering, Some(a.cmp(&b))),
            _ => false,
        },
        Family::Bool => is_bool(value) && value.eq_ignore_ascii_case(&policy.literal()),
        Family::Binary => {
            let policy = policy.literal();
            match (decode_base64(value), decode_base64(&policy)) {
                (Some(a), Some(b)) => a == b,
                _ => value == policy,
            }
        }
        Family::Ip => match (
            value.trim().parse::<IpAddr>(),
            parse_cidr(&policy.literal()),
        ) {
            (Ok(ip), Some(cidr)) => cidr.contains(ip),
            _ => false,
        },
        Family::Null => false,
    }
}

fn compare(ordering: Ordering, actual: Option<std::cmp::Ordering>) -> bool {
    use std::cmp::Ordering as O;
    matches!(
        (ordering, actual),
        (Ordering::Equal, Some(O::Equal))
            | (Ordering::Less, Some(O::Less))
            | (Ordering::LessOrEqual, Some(O::Less | O::Equal))
            | (Ordering::Greater, Some(O::Greater))
            | (Ordering::GreaterOrEqual, Some(O::Greater | O::Equal))
    )
}

fn is_bool(value: &str) -> bool {
    value.eq_ignore_ascii_case("true") || value.eq_ignore_ascii_case("false")
}

fn parse_number(value: &str) -> Option<f64> {
    let value = value.trim();
    // Rust also accepts "inf" and "NaN", which are not numbers in a policy.
    let plain = !value.is_empty()
        && value
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'-' | b'+' | b'.' | b'e' | b'E'));
    value.parse::<f64>().ok().filter(|n| plain && n.is_finite())
}

/// Milliseconds since the Unix epoch of an ISO 8601 date (`2024-05-01`,
/// `2024-05-01T12:00:00Z`, `2024-05-01T12:00:00.250+02:00`; no zone means UTC) or of
/// integer epoch seconds.
pub(crate) fn parse_date(value: &str) -> Option<i128> {
    let value = value.trim();
    let digits = value.strip_prefix('-').unwrap_or(value);
    if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        return value.parse::<i64>().ok().map(|s| i128::from(s) * 1000);
    }
    let (date, time) = match value.split_once(['T', 't']) {
        Some((d, t)) => (d, Some(t)),
        None => (value, None),
    };
    let mut parts = date.splitn(3, '-');
    let year: i64 = fixed_digits(parts.next()?, 4)?;
    let month: i64 = fixed_digits(parts.next()?, 2)?;
    let day: i64 = fixed_digits(parts.next()?, 2)?;
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return None;
    }
    let mut millis = i128::from(days_from_civil(year, month, day)) * 86_400_000;
    if let Some(time) = time {
        let (clock, offset_minutes) = split_zone(time)?;
        let mut hms = clock.splitn(3, ':');
        let hour: i64 = fixed_digits(hms.next()?, 2)?;
        let minute: i64 = fixed_digits(hms.next()?, 2)?;
        let (second, fraction_ms) = match hms.next() {
            None => (0, 0),
            Some(s) => {
                let (whole, fraction) = match s.split_once(['.', ',']) {
                    Some((w, f)) => (w, Some(f)),
                    None => (s, None),
                };
                let ms = match fraction {
                    None => 0,
                    Some(f) if !f.is_empty() && f.bytes().all(|b| b.is_ascii_digit()) => {
                        let padded: String = f.chars().chain("000".chars()).take(3).collect();
                        padded.parse::<i64>().ok()?
                    }
                    Some(_) => return None,
                };
                (fixed_digits(whole, 2)?, ms)
            }
        };
        if hour > 23 || minute > 59 || second > 60 {
            return None;
        }
        let seconds = hour * 3600 + minute * 60 + second - offset_minutes * 60;
        millis += i128::from(seconds) * 1000 + i128::from(fraction_ms);
    }
    Some(millis)
}

/// Splits `12:00:00+02:00` into the clock time and the zone offset in minutes.
fn split_zone(time: &str) -> Option<(&str, i64)> {
    if let Some(clock) = time.strip_suffix(['Z', 'z']) {
        return Some((clock, 0));
    }
    match time.rfind(['+', '-']) {
        None => Some((time, 0)),
        Some(at) => {
            let sign = if time[at..].starts_with('-') { -1 } else { 1 };
            let zone = time[at + 1..].replace(':', "");
            let hours: i64 = fixed_digits(zone.get(..2)?, 2)?;
            let minutes: i64 = fixed_digits(zone.get(2..)?, 2)?;
            Some((&time[..at], sign * (hours * 60 + minutes)))
        }
    }
}

fn fixed_digits(text: &str, width: usize) -> Option<i64> {
    if text.len() == width && text.bytes().all(|b| b.is_ascii_digit()) {
        text.parse().ok()
    } else {
        None
    }
}

fn days_in_month(year: i64, month: i64) -> i64 {
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    match month {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days from 1970-01-01 to a proleptic Gregorian date, counting in 400-year eras that
/// start on 1 March (so the leap day ends each era's year).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month_from_march = (month + 9) % 12;
    let day_of_year = (153 * month_from_march + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// An address block: an address and how many leading bits must match.
#[derive(Debug, Clone, Copy)]
struct Cidr {
    network: IpAddr,
    prefix: u32,
}

impl Cidr {
    fn contains(&self, ip: IpAddr) -> bool {
        match (self.network, ip.to_canonical()) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX.checked_shl(32 - self.prefix).unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX.checked_shl(128 - self.prefix).unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

fn parse_cidr(value: &str) -> Option<Cidr> {
    let (address, prefix) = match value.trim().split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (value.trim(), None),
    };
    let network: IpAddr = address.parse().ok()?;
    let max = if network.is_ipv4() { 32 } else { 128 };
    let prefix = match prefix {
        None => max,
        Some(p) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => p.parse().ok()?,
        Some(_) => return None,
    };
    (prefix <= max).then_some(Cidr { network, prefix })
}

/// Standard base64 (RFC 4648 §4), padding optional.
fn decode_base64(text: &str) -> Option<Vec<u8>> {
    fn sextet(c: u8) -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    }
    let body = text.trim().trim_end_matches('=');
    if body.len() % 4 == 1 || text.trim().len() - body.len() > 2 {
        return None;
    }
    let mut out = Vec::with_capacity(body.len() * 3 / 4);
    for chunk in body.as_bytes().chunks(4) {
        let mut acc = 0u32;
        for (i, &c) in chunk.iter().enumerate() {
            acc |= sextet(c)? << (18 - 6 * i);
        }
        let bytes = acc.to_be_bytes();
        out.extend_from_slice(&bytes[1..chunk.len()]);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(parse_date("1970-01-01"), Some(0));
        assert_eq!(parse_date("1970-01-02T00:00:00Z"), Some(86_400_000));
        assert_eq!(parse_date("86400"), Some(86_400_000));
        assert_eq!(parse_date("2000-03-01T00:00:00Z"), Some(951_868_800_000));
        assert_eq!(
            parse_date("2024-05-01T14:00:00+02:00"),
            parse_date("2024-05-01T12:00:00Z")
        );
        assert_eq!(
            parse_date("2024-05-01T12:00:00.5Z").map(|m| m % 1000),
            Some(500)
        );
        assert_eq!(parse_date("2023-02-29"), None);
        assert_eq!(parse_date("yesterday"), None);
    }

    #[test]
    fn cidrs() {
        let net = parse_cidr("203.0.113.0/24").unwrap();
        assert!(net.contains("203.0.113.9".parse().unwrap()));
        assert!(!net.contains("203.0.114.9".parse().unwrap()));
        assert!(net.contains("::ffff:203.0.113.9".parse().unwrap()));
        let v6 = parse_cidr("2001:db8::/32").unwrap();
        assert!(v6.contains("2001:db8:1::1".parse().unwrap()));
        assert!(!v6.contains("2001:db9::1".parse().unwrap()));
        assert!(parse_cidr("0.0.0.0/0")
            .unwrap()
            .contains("8.8.8.8".parse().unwrap()));
        assert!(parse_cidr("10.0.0.0/33").is_none());
    }

    #[test]
    fn base64() {
        assert_eq!(decode_base64("aGVsbG8=").unwrap(), b"hello");
        assert_eq!(decode_base64("aGVsbG8").unwrap(), b"hello");
        assert_eq!(decode_base64("").unwrap(), b"");
        assert!(decode_base64("a").is_none());
        assert!(decode_base64("a$==").is_none());
    }

    #[test]
    fn operator_names() {
        let op = Operator::parse("ForAllValues:StringLikeIfExists").unwrap();
        assert_eq!(op.set, Some(SetQualifier::ForAllValues));
        assert_eq!(op.base, BaseOperator::StringLike);
        assert!(op.if_exists);
        assert!(Operator::parse("stringequals").is_none());
        assert!(Operator::parse("NullIfExists").is_none());
    }
}
