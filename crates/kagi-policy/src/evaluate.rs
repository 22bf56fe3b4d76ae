//! Deciding one policy against one request, and the principal matching it rests on.
//!
//! A statement applies when its principal, action, resource and every condition match.
//! Any applicable `Deny` statement makes the decision [`Decision::ExplicitDeny`]; otherwise
//! an applicable `Allow` statement makes it [`Decision::Allow`]; otherwise the policy has
//! nothing to say ([`Decision::NotApplicable`], an implicit deny once all policies agree).

use crate::context::RequestContext;
use crate::document::{Clause, Effect, Policy, Principal, Statement};
use crate::pattern;

/// How a statement's `Principal` matched the caller.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum PrincipalMatch {
    /// Nothing in the statement names the caller.
    None,
    /// The statement names the caller's account (`arn:aws:iam::<account>:root`), not the
    /// caller. In a key policy this is the "delegate to IAM" rule: the caller is allowed
    /// only if its own IAM policies allow the action too. Deciding that is the caller's job.
    AccountRoot(String),
    /// The statement names the caller itself (its ARN, its role, `*`, its service), or it
    /// is an identity-based policy, or the caller is not excluded by `NotPrincipal`.
    Exact,
}

/// The outcome of evaluating one policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// A `Deny` statement applies; nothing else can override it.
    ExplicitDeny,
    /// At least one `Allow` statement applies and no `Deny` does; carries the strongest
    /// principal match among the applicable `Allow` statements.
    Allow(PrincipalMatch),
    /// No statement applies.
    NotApplicable,
}

impl Policy {
    /// Evaluates this policy alone for the request.
    pub fn evaluate(&self, ctx: &RequestContext) -> Decision {
        let mut allowed: Option<PrincipalMatch> = None;
        for statement in &self.statements {
            let Some(principal) = self.statement_applies(statement, ctx) else {
                continue;
            };
            match statement.effect {
                Effect::Deny => return Decision::ExplicitDeny,
                Effect::Allow => {
                    if allowed.as_ref().is_none_or(|best| principal > *best) {
                        allowed = Some(principal);
                    }
                }
            }
        }
        match allowed {
            Some(principal) => Decision::Allow(principal),
            None => Decision::NotApplicable,
        }
    }

    /// How the statement's principal matched, if the whole statement applies.
    fn statement_applies(
        &self,
        statement: &Statement,
        ctx: &RequestContext,
    ) -> Option<PrincipalMatch> {
        let principal = match &statement.principal {
            None => PrincipalMatch::Exact,
            Some(Clause::Is(list)) => list
                .iter()
                .map(|p| match_principal(p, ctx))
                .max()
                .filter(|m| *m != PrincipalMatch::None)?,
            // Only principals named exactly are excluded: naming an account in NotPrincipal
            // does not exclude the users and roles in it.
            Some(Clause::Not(list)) => {
                if list
                    .iter()
                    .any(|p| match_principal(p, ctx) == PrincipalMatch::Exact)
                {
                    return None;
                }
                PrincipalMatch::Exact
            }
        };
        let action = |pattern: &String| pattern::matches_plain(pattern, &ctx.action, true);
        let action_matches = match &statement.action {
            Clause::Is(list) => list.iter().any(action),
            Clause::Not(list) => !list.iter().any(action),
        };
        if !action_matches {
            return None;
        }
        let variables = self.has_variables();
        let resource = |pattern: &String| {
            if variables && pattern.contains("${") {
                pattern::expand(pattern, variables, ctx)
                    .is_some_and(|tokens| pattern::matches(&tokens, &ctx.resource, false))
            } else {
                pattern::matches_plain(pattern, &ctx.resource, false)
            }
        };
        let resource_matches = match &statement.resource {
            Clause::Is(list) => list.iter().any(resource),
            Clause::Not(list) => !list.iter().any(resource),
        };
        if !resource_matches {
            return None;
        }
        statement
            .conditions
            .iter()
            .all(|c| c.holds(ctx, variables))
            .then_some(principal)
    }
}

/// Matches one policy principal against the caller.
pub fn match_principal(principal: &Principal, ctx: &RequestContext) -> PrincipalMatch {
    let caller = &ctx.principal;
    match principal {
        Principal::Anyone => PrincipalMatch::Exact,
        Principal::Service(service) => {
            if caller.service.as_deref() == Some(service.as_str()) {
                PrincipalMatch::Exact
            } else {
                PrincipalMatch::None
            }
        }
        Principal::Federated(_) | Principal::CanonicalUser(_) => PrincipalMatch::None,
        Principal::Aws(arn) => {
            if *arn == caller.arn || assumed_role_arn(&caller.arn).is_some_and(|r| r == *arn) {
                return PrincipalMatch::Exact;
            }
            match root_account(arn) {
                Some(account) if account == caller.account => {
                    PrincipalMatch::AccountRoot(account.to_string())
                }
                _ => PrincipalMatch::None,
            }
        }
    }
}

/// `arn:<partition>:iam::<account>:root` → the account.
fn root_account(arn: &str) -> Option<&str> {
    let rest = arn.strip_prefix("arn:")?;
    let (_partition, rest) = rest.split_once(':')?;
    let account = rest.strip_prefix("iam::")?.strip_suffix(":root")?;
    Some(account)
}

/// The role behind an STS session: `arn:aws:sts::<acct>:assumed-role/<role>/<session>` →
/// `arn:aws:iam::<acct>:role/<role>`, so a policy naming the role matches its sessions.
fn assumed_role_arn(arn: &str) -> Option<String> {
    let rest = arn.strip_prefix("arn:")?;
    let (partition, rest) = rest.split_once(':')?;
    let (account, resource) = rest.strip_prefix("sts::")?.split_once(':')?;
    let role = resource.strip_prefix("assumed-role/")?.split('/').next()?;
    Some(format!("arn:{partition}:iam::{account}:role/{role}"))
}
