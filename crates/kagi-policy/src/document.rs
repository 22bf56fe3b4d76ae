//! The policy document model and its parser.
//!
//! Parsing is strict, like IAM's: unknown elements, wrong JSON types, empty lists,
//! conflicting pairs (`Action` with `NotAction` …), unknown condition operators and
//! condition values that the operator cannot read (`NumericEquals: "ten"`) are all errors,
//! so a policy that is accepted means what it says.

use crate::condition::{self, Condition};
use crate::error::{PolicyError, Problem, StatementRef};
use serde_json::{Map, Value};
use std::collections::BTreeSet;

/// The largest key policy KMS accepts, in characters.
pub const KEY_POLICY_MAX_CHARS: usize = 32 * 1024;

/// The policy language version. Policy variables exist only in `2012-10-17`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicyVersion {
    V2008_10_17,
    V2012_10_17,
}

/// Where a policy is attached, which decides whether statements name a principal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicyKind {
    /// Attached to a resource (a KMS key policy): every statement needs `Principal` or
    /// `NotPrincipal`.
    Resource,
    /// Attached to an identity: statements apply to that identity and must not name one.
    Identity,
    /// A role's trust policy: a resource policy of the role itself, so statements name
    /// principals and may omit `Resource` (it is the role).
    Trust,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    Allow,
    Deny,
}

/// A list from the policy, either positive (`Action`) or its complement (`NotAction`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Clause<T> {
    /// Matches what is listed.
    Is(Vec<T>),
    /// Matches everything except what is listed.
    Not(Vec<T>),
}

/// One entry of `Principal` / `NotPrincipal`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// `"*"` or `{"AWS": "*"}`: anyone.
    Anyone,
    /// An IAM ARN; a bare account id is stored as `arn:aws:iam::<id>:root`.
    Aws(String),
    Service(String),
    Federated(String),
    CanonicalUser(String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Statement {
    pub sid: Option<String>,
    pub effect: Effect,
    /// `None` in identity-based policies.
    pub principal: Option<Clause<Principal>>,
    pub action: Clause<String>,
    pub resource: Clause<String>,
    /// All conditions must hold (AND); see [`Condition`].
    pub conditions: Vec<Condition>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    pub version: PolicyVersion,
    pub id: Option<String>,
    pub kind: PolicyKind,
    pub statements: Vec<Statement>,
}

impl Policy {
    /// The condition keys this policy tests, lowercased, sorted and without repeats: lets
    /// a caller skip computing condition values no policy looks at.
    pub fn condition_keys(&self) -> Vec<String> {
        let mut keys: Vec<String> = self
            .statements
            .iter()
            .flat_map(|s| &s.conditions)
            .map(|c| c.key.to_ascii_lowercase())
            .collect();
        keys.sort_unstable();
        keys.dedup();
        keys
    }

    /// Parses a policy document of the given kind.
    pub fn parse(document: &str, kind: PolicyKind) -> Result<Policy, PolicyError> {
        let value: Value =
            serde_json::from_str(document).map_err(|e| PolicyError::InvalidJson {
                reason: e.to_string(),
            })?;
        parse_document(&value, kind)
    }

    /// Parses a KMS key policy: a resource-based policy of at most
    /// [`KEY_POLICY_MAX_CHARS`] characters.
    pub fn parse_key_policy(document: &str) -> Result<Policy, PolicyError> {
        let length = document.chars().count();
        if length > KEY_POLICY_MAX_CHARS {
            return Err(PolicyError::TooLarge {
                length,
                limit: KEY_POLICY_MAX_CHARS,
            });
        }
        Policy::parse(document, PolicyKind::Resource)
    }

    /// Whether policy variables are substituted in this policy.
    pub(crate) fn has_variables(&self) -> bool {
        self.version == PolicyVersion::V2012_10_17
    }
}

fn document_error(problem: Problem) -> PolicyError {
    PolicyError::Document { problem }
}

fn parse_document(value: &Value, kind: PolicyKind) -> Result<Policy, PolicyError> {
    let object = value
        .as_object()
        .ok_or(document_error(Problem::NotAnObject))?;
    for element in object.keys() {
        if !["Version", "Id", "Statement"].contains(&element.as_str()) {
            return Err(document_error(Problem::UnknownElement {
                element: element.clone(),
            }));
        }
    }
    let version = match object.get("Version") {
        None => PolicyVersion::V2008_10_17,
        Some(Value::String(v)) if v == "2012-10-17" => PolicyVersion::V2012_10_17,
        Some(Value::String(v)) if v == "2008-10-17" => PolicyVersion::V2008_10_17,
        Some(other) => {
            return Err(document_error(Problem::InvalidValue {
                element: "Version".into(),
                value: display(other),
                reason: "expected \"2012-10-17\" or \"2008-10-17\"",
            }))
        }
    };
    let id = optional_string(object, "Id").map_err(document_error)?;
    let raw_statements: Vec<&Value> = match object.get("Statement") {
        None => {
            return Err(document_error(Problem::MissingElement {
                element: "Statement".into(),
            }))
        }
        Some(Value::Array(items)) if items.is_empty() => {
            return Err(document_error(Problem::Empty {
                element: "Statement".into(),
            }))
        }
        Some(Value::Array(items)) => items.iter().collect(),
        Some(one @ Value::Object(_)) => vec![one],
        Some(_) => {
            return Err(document_error(Problem::WrongType {
                element: "Statement".into(),
                expected: "an object or an array of objects",
            }))
        }
    };
    let mut statements = Vec::with_capacity(raw_statements.len());
    let mut sids = BTreeSet::new();
    for (index, raw) in raw_statements.into_iter().enumerate() {
        let sid = raw.get("Sid").and_then(Value::as_str).map(str::to_string);
        let at = StatementRef { index, sid };
        let statement = parse_statement(raw, kind).map_err(|problem| PolicyError::Statement {
            statement: at.clone(),
            problem,
        })?;
        if let Some(sid) = &statement.sid {
            if !sids.insert(sid.clone()) {
                return Err(PolicyError::Statement {
                    statement: at,
                    problem: Problem::DuplicateSid { sid: sid.clone() },
                });
            }
        }
        statements.push(statement);
    }
    Ok(Policy {
        version,
        id,
        kind,
        statements,
    })
}

const STATEMENT_ELEMENTS: &[&str] = &[
    "Sid",
    "Effect",
    "Principal",
    "NotPrincipal",
    "Action",
    "NotAction",
    "Resource",
    "NotResource",
    "Condition",
];

fn parse_statement(value: &Value, kind: PolicyKind) -> Result<Statement, Problem> {
    let object = value.as_object().ok_or(Problem::NotAnObject)?;
    for element in object.keys() {
        if !STATEMENT_ELEMENTS.contains(&element.as_str()) {
            return Err(Problem::UnknownElement {
                element: element.clone(),
            });
        }
    }
    let sid = optional_string(object, "Sid")?;
    let effect = match object.get("Effect") {
        None => {
            return Err(Problem::MissingElement {
                element: "Effect".into(),
            })
        }
        Some(Value::String(e)) if e == "Allow" => Effect::Allow,
        Some(Value::String(e)) if e == "Deny" => Effect::Deny,
        Some(other) => {
            return Err(Problem::InvalidValue {
                element: "Effect".into(),
                value: display(other),
                reason: "expected \"Allow\" or \"Deny\"",
            })
        }
    };
    let principal = match pair(object, "Principal", "NotPrincipal")? {
        None if kind != PolicyKind::Identity => return Err(Problem::MissingPrincipal),
        Some(_) if kind == PolicyKind::Identity => return Err(Problem::PrincipalInIdentityPolicy),
        None => None,
        Some((name, value, negated)) => {
            let entries = parse_principal(name, value)?;
            Some(if negated {
                Clause::Not(entries)
            } else {
                Clause::Is(entries)
            })
        }
    };
    let action = required_clause(object, "Action", "NotAction", check_action)?;
    let resource = if kind == PolicyKind::Trust
        && !object.contains_key("Resource")
        && !object.contains_key("NotResource")
    {
        Clause::Is(vec!["*".to_string()])
    } else {
        required_clause(object, "Resource", "NotResource", check_resource)?
    };
    let conditions = match object.get("Condition") {
        None => Vec::new(),
        Some(value) => condition::parse_block(value)?,
    };
    Ok(Statement {
        sid,
        effect,
        principal,
        action,
        resource,
        conditions,
    })
}

/// Finds exactly one of `name` / `not_name`; `true` in the result means the negated form.
fn pair<'a>(
    object: &'a Map<String, Value>,
    name: &'static str,
    not_name: &'static str,
) -> Result<Option<(&'static str, &'a Value, bool)>, Problem> {
    match (object.get(name), object.get(not_name)) {
        (Some(_), Some(_)) => Err(Problem::Conflicting {
            first: name.into(),
            second: not_name.into(),
        }),
        (Some(v), None) => Ok(Some((name, v, false))),
        (None, Some(v)) => Ok(Some((not_name, v, true))),
        (None, None) => Ok(None),
    }
}

fn required_clause(
    object: &Map<String, Value>,
    name: &'static str,
    not_name: &'static str,
    check: fn(&str, &str) -> Result<(), Problem>,
) -> Result<Clause<String>, Problem> {
    let (element, value, negated) =
        pair(object, name, not_name)?.ok_or(Problem::MissingElement {
            element: format!("{name}\" or \"{not_name}"),
        })?;
    let items = string_list(element, value)?;
    for item in &items {
        check(element, item)?;
    }
    Ok(if negated {
        Clause::Not(items)
    } else {
        Clause::Is(items)
    })
}

fn check_action(element: &str, action: &str) -> Result<(), Problem> {
    let valid = action == "*"
        || action
            .split_once(':')
            .is_some_and(|(service, name)| !service.is_empty() && !name.is_empty());
    if valid {
        Ok(())
    } else {
        Err(Problem::InvalidValue {
            element: element.into(),
            value: action.into(),
            reason: "expected \"*\" or \"<service>:<action>\"",
        })
    }
}

fn check_resource(element: &str, resource: &str) -> Result<(), Problem> {
    if resource == "*" || resource.starts_with("arn:") {
        Ok(())
    } else {
        Err(Problem::InvalidValue {
            element: element.into(),
            value: resource.into(),
            reason: "expected \"*\" or an ARN",
        })
    }
}

fn parse_principal(element: &str, value: &Value) -> Result<Vec<Principal>, Problem> {
    let object = match value {
        Value::String(s) if s == "*" => return Ok(vec![Principal::Anyone]),
        Value::Object(object) if !object.is_empty() => object,
        Value::Object(_) => {
            return Err(Problem::Empty {
                element: element.into(),
            })
        }
        _ => {
            return Err(Problem::WrongType {
                element: element.into(),
                expected: "\"*\" or an object such as {\"AWS\": …} or {\"Service\": …}",
            })
        }
    };
    let mut out = Vec::new();
    for (kind, values) in object {
        let path = format!("{element}.{kind}");
        for v in string_list(&path, values)? {
            out.push(match kind.as_str() {
                "AWS" => aws_principal(&path, v)?,
                "Service" => Principal::Service(v),
                "Federated" => Principal::Federated(v),
                "CanonicalUser" => Principal::CanonicalUser(v),
                _ => {
                    return Err(Problem::UnknownElement {
                        element: format!("{element}.{kind}"),
                    })
                }
            });
        }
    }
    Ok(out)
}

fn aws_principal(element: &str, value: String) -> Result<Principal, Problem> {
    if value == "*" {
        Ok(Principal::Anyone)
    } else if value.len() == 12 && value.bytes().all(|b| b.is_ascii_digit()) {
        Ok(Principal::Aws(format!("arn:aws:iam::{value}:root")))
    } else if value.starts_with("arn:") && value.split(':').count() >= 6 {
        Ok(Principal::Aws(value))
    } else {
        Err(Problem::InvalidValue {
            element: element.into(),
            value,
            reason: "expected \"*\", a 12-digit account id or an IAM ARN",
        })
    }
}

fn optional_string(object: &Map<String, Value>, element: &str) -> Result<Option<String>, Problem> {
    match object.get(element) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(Problem::WrongType {
            element: element.into(),
            expected: "a string",
        }),
    }
}

/// A string or a non-empty array of strings.
pub(crate) fn string_list(element: &str, value: &Value) -> Result<Vec<String>, Problem> {
    let wrong = || Problem::WrongType {
        element: element.into(),
        expected: "a string or an array of strings",
    };
    match value {
        Value::String(s) => Ok(vec![s.clone()]),
        Value::Array(items) if items.is_empty() => Err(Problem::Empty {
            element: element.into(),
        }),
        Value::Array(items) => items
            .iter()
            .map(|i| i.as_str().map(str::to_string).ok_or_else(wrong))
            .collect(),
        _ => Err(wrong()),
    }
}

/// A JSON value as it appears in the document, for error messages.
pub(crate) fn display(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}
