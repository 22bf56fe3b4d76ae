//! IAM/KMS policy documents, with no I/O: parse a policy ([`Policy::parse`],
//! [`Policy::parse_key_policy`]), then decide it against one request ([`Policy::evaluate`]).
//!
//! Implemented:
//! - the policy grammar (`Version`, `Id`, `Statement` with `Sid`, `Effect`,
//!   `Principal`/`NotPrincipal`, `Action`/`NotAction`, `Resource`/`NotResource`,
//!   `Condition`), strictly validated, with errors that name the statement and element
//!   ([`PolicyError`], meant for `MalformedPolicyDocumentException`), and KMS's 32 KiB key
//!   policy limit;
//! - wildcard matching of actions (case-insensitive) and resources (case-sensitive);
//! - principal matching that tells an exact match from a match through the account root
//!   ([`PrincipalMatch`]), which the key-policy "delegate to IAM" rule needs;
//! - the condition operators of the string, numeric, date, `Bool`, `BinaryEquals`, IP
//!   address, ARN and `Null` families, `…IfExists`, and `ForAnyValue:`/`ForAllValues:`
//!   ([`condition`] states the semantics);
//! - policy variables (`${aws:username}`, `${aws:PrincipalTag/…}`, any request key, and
//!   `${*}`, `${?}`, `${$}`) in `Resource` and in string and ARN condition values of
//!   `2012-10-17` policies.
//!
//! [`PolicyEngine`] implements the domain's port (`kagi_kms::authz::PolicyEngine`): the
//! domain combines the decisions of a key policy and the caller's identity policies.
//!
//! Not implemented yet:
//! - grants (the domain will add them to the combination);
//! - default values in variables (`${aws:username, 'none'}`), which resolve to nothing;
//! - `Federated` and `CanonicalUser` principals parse but never match a caller;
//! - global condition keys are only what the caller puts in [`RequestContext`] (plus the
//!   principal-derived keys, see [`RequestContext::lookup`]); nothing is filled in here.

pub mod condition;
pub mod context;
pub mod document;
pub mod engine;
pub mod error;
pub mod evaluate;
mod pattern;

pub use condition::{BaseOperator, Condition, Operator, SetQualifier};
pub use context::{normalize_key, PrincipalInfo, RequestContext, RequestContextBuilder};
pub use document::{
    Clause, Effect, Policy, PolicyKind, PolicyVersion, Principal, Statement, KEY_POLICY_MAX_CHARS,
};
pub use engine::PolicyEngine;
pub use error::{PolicyError, Problem, StatementRef};
pub use evaluate::{match_principal, Decision, PrincipalMatch};
