//! Why a policy document was rejected. Every message names the statement (by index and, when
//! it has one, by `Sid`) and the element at fault, so it can be returned verbatim as the
//! message of KMS's `MalformedPolicyDocumentException`.

use std::fmt;

/// Where in the document a problem sits: `Statement[index]`, plus its `Sid` if it has one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatementRef {
    /// Zero-based position in the `Statement` array (0 when `Statement` is a single object).
    pub index: usize,
    pub sid: Option<String>,
}

impl fmt::Display for StatementRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.sid {
            Some(sid) => write!(f, "Statement[{}] (Sid \"{}\")", self.index, sid),
            None => write!(f, "Statement[{}]", self.index),
        }
    }
}

/// A policy document that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    #[error("policy document is {length} characters long; the limit is {limit}")]
    TooLarge { length: usize, limit: usize },
    #[error("policy document is not valid JSON: {reason}")]
    InvalidJson { reason: String },
    #[error("policy document: {problem}")]
    Document { problem: Problem },
    #[error("{statement}: {problem}")]
    Statement {
        statement: StatementRef,
        problem: Problem,
    },
}

/// What is wrong with the document or one of its statements.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Problem {
    #[error("expected a JSON object")]
    NotAnObject,
    #[error("unknown element \"{element}\"")]
    UnknownElement { element: String },
    #[error("missing required element \"{element}\"")]
    MissingElement { element: String },
    #[error("has both \"{first}\" and \"{second}\"; use only one")]
    Conflicting { first: String, second: String },
    #[error("\"{element}\" must be {expected}")]
    WrongType {
        element: String,
        expected: &'static str,
    },
    #[error("\"{element}\" must not be empty")]
    Empty { element: String },
    #[error("\"{element}\" has invalid value \"{value}\": {reason}")]
    InvalidValue {
        element: String,
        value: String,
        reason: &'static str,
    },
    #[error("Sid \"{sid}\" is used by more than one statement")]
    DuplicateSid { sid: String },
    #[error("\"Principal\" and \"NotPrincipal\" are not allowed in an identity-based policy")]
    PrincipalInIdentityPolicy,
    #[error("a resource-based policy needs \"Principal\" or \"NotPrincipal\"")]
    MissingPrincipal,
    #[error("unknown condition operator \"{operator}\"")]
    UnknownConditionOperator { operator: String },
}
