//! The domain's [`PolicyEngine`] port, implemented with this crate's parser and evaluator:
//! `kagi-kms` decides authorization from the decisions computed here (see its `authz`
//! module) without knowing JSON.

use crate::{Decision, Policy, PolicyKind, PrincipalInfo, PrincipalMatch, RequestContext};
use kagi_kms::authz::{
    self, AccessRequest, CompiledPolicy, Evaluation, PolicyEngine as Port, PolicyKind as Kind,
};

/// Compiles documents into [`Policy`] values and evaluates them.
#[derive(Debug, Default, Clone, Copy)]
pub struct PolicyEngine;

/// A parsed policy and the condition keys it tests (lowercased, sorted), so that asking
/// whether it tests one costs a binary search, not a walk over its statements.
struct Compiled {
    policy: Policy,
    condition_keys: Vec<String>,
}

impl Port for PolicyEngine {
    fn compile(&self, kind: Kind, document: &str) -> Result<CompiledPolicy, String> {
        let policy = match kind {
            Kind::Key => Policy::parse_key_policy(document),
            Kind::Identity => Policy::parse(document, PolicyKind::Identity),
            Kind::Trust => Policy::parse(document, PolicyKind::Trust),
        }
        .map_err(|e| e.to_string())?;
        Ok(CompiledPolicy::new(Compiled {
            condition_keys: policy.condition_keys(),
            policy,
        }))
    }

    fn mentions(&self, policy: &CompiledPolicy, condition_key: &str) -> bool {
        policy.downcast::<Compiled>().is_some_and(|c| {
            c.condition_keys
                .binary_search(&condition_key.to_ascii_lowercase())
                .is_ok()
        })
    }

    fn evaluate(
        &self,
        request: AccessRequest<'_>,
        key_policy: Option<&CompiledPolicy>,
        identity: &[CompiledPolicy],
    ) -> Evaluation {
        let ctx = context(request);
        let key = key_policy.map_or(authz::Decision::NotApplicable, |p| decide(p, &ctx));
        let mut combined = authz::Decision::NotApplicable;
        for p in identity {
            match decide(p, &ctx) {
                authz::Decision::Deny => {
                    combined = authz::Decision::Deny;
                    break;
                }
                authz::Decision::NotApplicable => {}
                _ => combined = authz::Decision::Allow,
            }
        }
        Evaluation {
            key,
            identity: combined,
        }
    }
}

/// One compiled policy's decision; a policy this engine did not compile applies nowhere.
fn decide(policy: &CompiledPolicy, ctx: &RequestContext) -> authz::Decision {
    let Some(compiled) = policy.downcast::<Compiled>() else {
        return authz::Decision::NotApplicable;
    };
    match compiled.policy.evaluate(ctx) {
        Decision::ExplicitDeny => authz::Decision::Deny,
        Decision::Allow(PrincipalMatch::AccountRoot(account))
            if account == ctx.principal.account =>
        {
            authz::Decision::AllowAccount
        }
        // Another account's root: delegation to an account the caller is not in.
        Decision::Allow(PrincipalMatch::AccountRoot(_)) => authz::Decision::NotApplicable,
        Decision::Allow(_) => authz::Decision::Allow,
        Decision::NotApplicable => authz::Decision::NotApplicable,
    }
}

fn context(request: AccessRequest<'_>) -> RequestContext {
    let p = request.principal;
    let principal =
        PrincipalInfo::new(p.arn.clone(), p.account.as_str()).user_name(p.user_name.clone());
    let mut builder = RequestContext::builder(principal, request.action, request.resource);
    for (key, values) in request.values {
        builder = builder.values_owned(key, values);
    }
    builder.build()
}
