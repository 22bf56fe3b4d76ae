//! Grants: CreateGrant, ListGrants, ListRetirableGrants, RetireGrant and RevokeGrant, the
//! `GrantTokens` parameter of the operations that have one, and how a grant allows a
//! request (called by `authz` when no policy allows and none denies).
//!
//! Kagi's grants take effect at once: there is no eventual consistency to bridge, so a
//! grant allows its operations whether or not the request presents its token. Tokens are
//! still issued, validated and accepted as AWS does. A token is
//! `hex(version ‖ region ‖ key id ‖ grant id ‖ nonce ‖ tag)`, the tag being the first 16
//! bytes of HMAC-SHA-256 under the grant's `token_secret`; every CreateGrant call returns a
//! new token (a fresh nonce), and all tokens of one grant are interchangeable, as in AWS.
//! A token that is not of this form, names another region, or whose tag does not verify
//! is `InvalidGrantTokenException`; a well-formed token of a grant that no longer exists
//! is ignored (it allows nothing). Tokens are credentials by AWS's account of them: they
//! are never logged, never stored, never quoted in an error, never audited.
//!
//! Not here: grants for AWS service principals (`kms:GrantIsForAWSResource` is always
//! "false"), `kms:ViaService`, and the asymmetric and HMAC operations a grant may name (they
//! are stored and listed, but Kagi has no such keys to use them on).
//!
//! Sources: AWS KMS API Reference (CreateGrant, ListGrants, ListRetirableGrants,
//! RetireGrant, RevokeGrant, GrantConstraints) and Developer Guide ("Grants in AWS KMS",
//! "Controlling access to grants", "Retiring and revoking grants", "Using a grant token").

use super::{constraint, page_limit, parse_marker, require_enabled, Access, Aliases};
use crate::authz::GrantUse;
use crate::cache::KeyEntry;
use crate::ids::{KeyId, Region};
use crate::model::{GrantConstraints, GrantOperation, GrantRecord};
use crate::ops::encrypt::EncryptionContext;
use crate::{Caller, Kms, KmsError, Write};
use kagi_crypto::digest::{constant_time_eq, hex, hmac_sha256, unhex};
use std::sync::Arc;

/// AWS's quota of grants per KMS key.
pub const MAX_GRANTS_PER_KEY: usize = 50_000;
/// The most tokens one `GrantTokens` parameter may hold.
pub const MAX_GRANT_TOKENS: usize = 10;
/// The longest grant token AWS accepts, in characters.
pub const MAX_GRANT_TOKEN_CHARS: usize = 8_192;
/// Encryption-context pairs per constraint, and characters per value (AWS's limits).
const MAX_CONSTRAINT_PAIRS: usize = 8;
const MAX_CONSTRAINT_VALUE_CHARS: usize = 384;
const PRINCIPAL_PATTERN: &str = "^[\\w+=,.@:/-]+$";
const NAME_PATTERN: &str = "^[a-zA-Z0-9:/_-]+$";

const TOKEN_VERSION: u8 = 1;
const NONCE_LEN: usize = 16;
const TAG_LEN: usize = 16;
const GRANT_ID_BYTES: usize = 32;

#[derive(Debug, Clone, Default)]
pub struct CreateGrantRequest {
    pub key_id: String,
    pub grantee_principal: String,
    pub retiring_principal: Option<String>,
    pub operations: Vec<String>,
    pub constraints: Option<GrantConstraints>,
    pub grant_tokens: Vec<String>,
    pub name: Option<String>,
    pub dry_run: bool,
}

/// CreateGrant's answer. The token is a credential: `Debug` does not print it.
pub struct CreateGrantResponse {
    pub grant_id: String,
    pub grant_token: String,
    pub key_arn: String,
}

impl std::fmt::Debug for CreateGrantResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreateGrantResponse")
            .field("grant_id", &self.grant_id)
            .field("grant_token", &"<redacted>")
            .finish()
    }
}

/// One grant as ListGrants and ListRetirableGrants describe it.
#[derive(Debug, Clone)]
pub struct ListedGrant {
    pub key_arn: String,
    /// `arn:aws:iam::<account>:root`.
    pub issuing_account: String,
    pub grant: GrantRecord,
}

#[derive(Debug, Clone)]
pub struct ListGrantsResponse {
    pub grants: Vec<ListedGrant>,
    pub next_marker: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct ListGrantsRequest {
    pub key_id: String,
    pub limit: Option<i64>,
    pub marker: Option<String>,
    pub grant_id: Option<String>,
    pub grantee_principal: Option<String>,
}

/// RetireGrant names its grant by token, or by key and grant id.
pub struct RetireGrantRequest {
    pub grant_token: Option<String>,
    pub key_id: Option<String>,
    pub grant_id: Option<String>,
    pub dry_run: bool,
}

impl std::fmt::Debug for RetireGrantRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RetireGrantRequest")
            .field(
                "grant_token",
                &self.grant_token.as_ref().map(|_| "<redacted>"),
            )
            .field("key_id", &self.key_id)
            .field("grant_id", &self.grant_id)
            .finish()
    }
}

// ---------------------------------------------------------------------------------------
// Validation.

fn check_principal(field: &str, value: &str) -> Result<(), KmsError> {
    let ok = !value.is_empty()
        && value.chars().count() <= 256
        && value
            .chars()
            .all(|c| c.is_alphanumeric() || c == '_' || "+=,.@:/-".contains(c));
    if ok {
        Ok(())
    } else {
        Err(constraint(
            field,
            value,
            &format!("satisfy regular expression pattern: {PRINCIPAL_PATTERN} and have length between 1 and 256"),
        ))
    }
}

fn check_name(name: &str) -> Result<(), KmsError> {
    let ok = !name.is_empty()
        && name.len() <= 256
        && name
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || b":/_-".contains(&c));
    if ok {
        Ok(())
    } else {
        Err(constraint(
            "name",
            name,
            &format!("satisfy regular expression pattern: {NAME_PATTERN} and have length between 1 and 256"),
        ))
    }
}

/// The operations of a new grant: AWS's enum, without duplicates, in the enum's order.
fn parse_operations(raw: &[String]) -> Result<Vec<GrantOperation>, KmsError> {
    if raw.is_empty() {
        return Err(constraint(
            "operations",
            "[]",
            "have length greater than or equal to 1",
        ));
    }
    let mut ops = Vec::with_capacity(raw.len());
    for r in raw {
        let op = GrantOperation::parse(r).ok_or_else(|| {
            let names: Vec<&str> = GrantOperation::ALL.iter().map(|o| o.as_str()).collect();
            constraint(
                "operations",
                format!("[{}]", raw.join(", ")),
                &format!(
                    "satisfy constraint: [Member must satisfy enum value set: [{}]]",
                    names.join(", ")
                ),
            )
        })?;
        ops.push(op);
    }
    ops.sort();
    ops.dedup();
    Ok(ops)
}

fn check_constraint_map(field: &str, map: &EncryptionContext) -> Result<(), KmsError> {
    if map.len() > MAX_CONSTRAINT_PAIRS {
        return Err(KmsError::validation(format!(
            "1 validation error detected: Value at '{field}' failed to satisfy constraint: Member must have at most {MAX_CONSTRAINT_PAIRS} encryption context pairs"
        )));
    }
    if map
        .values()
        .any(|v| v.chars().count() > MAX_CONSTRAINT_VALUE_CHARS)
    {
        return Err(KmsError::validation(format!(
            "1 validation error detected: Value at '{field}' failed to satisfy constraint: Member values must have length less than or equal to {MAX_CONSTRAINT_VALUE_CHARS}"
        )));
    }
    Ok(())
}

/// `None` for absent or empty constraints (an empty `GrantConstraints` constrains nothing).
fn checked_constraints(
    constraints: Option<GrantConstraints>,
) -> Result<Option<GrantConstraints>, KmsError> {
    let Some(c) = constraints else {
        return Ok(None);
    };
    if let Some(e) = &c.encryption_context_equals {
        check_constraint_map("constraints.encryptionContextEquals", e)?;
    }
    if let Some(s) = &c.encryption_context_subset {
        check_constraint_map("constraints.encryptionContextSubset", s)?;
    }
    Ok((!c.is_empty()).then_some(c))
}

/// A `GrantTokens` parameter: at most 10 tokens of 1 to 8,192 characters.
pub(crate) fn check_grant_token_list(tokens: &[String]) -> Result<(), KmsError> {
    if tokens.len() > MAX_GRANT_TOKENS {
        return Err(KmsError::validation(format!(
            "1 validation error detected: Value at 'grantTokens' failed to satisfy constraint: Member must have length less than or equal to {MAX_GRANT_TOKENS}"
        )));
    }
    for t in tokens {
        super::check_secret_len("grantTokens", t.chars().count(), 1, MAX_GRANT_TOKEN_CHARS)?;
    }
    Ok(())
}

/// A `GrantId` parameter: 1–128 characters (ValidationException), and of the form Kagi
/// issues (`InvalidGrantIdException`).
fn check_grant_id(grant_id: &str) -> Result<(), KmsError> {
    if grant_id.is_empty() || grant_id.chars().count() > 128 {
        return Err(constraint(
            "grantId",
            grant_id,
            "have length between 1 and 128",
        ));
    }
    let ours = grant_id.len() == GRANT_ID_BYTES * 2
        && grant_id
            .bytes()
            .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c));
    if ours {
        Ok(())
    } else {
        Err(KmsError::InvalidGrantId {
            grant_id: grant_id.to_string(),
        })
    }
}

// ---------------------------------------------------------------------------------------
// Matching: who a grant is for, and what its constraints admit.

/// Whether `caller_arn` is `principal`: the same ARN, or a session of the role a grant
/// names (`arn:aws:sts::<a>:assumed-role/<role>/<session>` is `arn:aws:iam::<a>:role/<role>`,
/// whatever the role's path).
pub fn principal_matches(caller_arn: &str, principal: &str) -> bool {
    if caller_arn == principal {
        return true;
    }
    let Some((account, rest)) = caller_arn
        .strip_prefix("arn:aws:sts::")
        .and_then(|r| r.split_once(':'))
    else {
        return false;
    };
    let Some(role) = rest
        .strip_prefix("assumed-role/")
        .and_then(|r| r.split('/').next())
    else {
        return false;
    };
    principal
        .strip_prefix("arn:aws:iam::")
        .and_then(|r| r.split_once(':'))
        .is_some_and(|(a, resource)| {
            a == account
                && resource.starts_with("role/")
                && resource.rsplit('/').next() == Some(role)
        })
}

/// Whether `context` has the pair `(key, value)`: keys compare case-insensitively, values
/// exactly (AWS's rule for grant constraints).
fn has_pair(context: &EncryptionContext, key: &str, value: &str) -> bool {
    let key = key.to_lowercase();
    context
        .iter()
        .any(|(k, v)| v == value && k.to_lowercase() == key)
}

/// Whether every pair of `required` is in `context`.
fn includes(context: &EncryptionContext, required: &EncryptionContext) -> bool {
    required.iter().all(|(k, v)| has_pair(context, k, v))
}

fn same_context(a: &EncryptionContext, b: &EncryptionContext) -> bool {
    a.len() == b.len() && includes(a, b) && includes(b, a)
}

/// Whether a request's encryption context satisfies a grant's constraints.
pub fn constraints_hold(c: &GrantConstraints, context: &EncryptionContext) -> bool {
    c.encryption_context_equals
        .as_ref()
        .is_none_or(|e| same_context(e, context))
        && c.encryption_context_subset
            .as_ref()
            .is_none_or(|s| includes(context, s))
}

/// Whether every context `child` admits is admitted by `parent` ("equally strict or
/// stricter", AWS's rule for grants created through a grant).
pub fn at_least_as_strict(
    child: Option<&GrantConstraints>,
    parent: Option<&GrantConstraints>,
) -> bool {
    let Some(parent) = parent else {
        return true;
    };
    let empty = GrantConstraints::default();
    let child = child.unwrap_or(&empty);
    let equals_ok = parent.encryption_context_equals.as_ref().is_none_or(|pe| {
        child
            .encryption_context_equals
            .as_ref()
            .is_some_and(|ce| same_context(ce, pe))
    });
    let subset_ok = parent.encryption_context_subset.as_ref().is_none_or(|ps| {
        child
            .encryption_context_equals
            .as_ref()
            .is_some_and(|ce| includes(ce, ps))
            || child
                .encryption_context_subset
                .as_ref()
                .is_some_and(|cs| includes(cs, ps))
    });
    equals_ok && subset_ok
}

/// Operations whose requests carry an encryption context (grant constraints apply).
fn takes_context(op: GrantOperation) -> bool {
    use GrantOperation::*;
    matches!(
        op,
        Encrypt
            | Decrypt
            | GenerateDataKey
            | GenerateDataKeyWithoutPlaintext
            | ReEncryptFrom
            | ReEncryptTo
            | GenerateDataKeyPair
            | GenerateDataKeyPairWithoutPlaintext
    )
}

/// Whether `grant` allows operation `op` used as `usage` (its grantee is checked apart).
pub fn grant_permits(grant: &GrantRecord, op: GrantOperation, usage: GrantUse<'_>) -> bool {
    if !grant.operations.contains(&op) {
        return false;
    }
    let constraints = grant.constraints.as_ref();
    match usage {
        GrantUse::None => false,
        // An operation that takes a context but was authorized without one can only go
        // through a grant without constraints.
        GrantUse::Plain => !takes_context(op) || constraints.is_none(),
        GrantUse::Context(context) => constraints.is_none_or(|c| constraints_hold(c, context)),
        GrantUse::NewGrant {
            operations,
            constraints: new,
        } => {
            op == GrantOperation::CreateGrant
                && operations.iter().all(|o| grant.operations.contains(o))
                && at_least_as_strict(new, constraints)
        }
    }
}

// ---------------------------------------------------------------------------------------
// Tokens.

struct ParsedToken {
    region: Region,
    key_id: KeyId,
    grant_id: String,
    /// Everything the tag covers.
    signed: Vec<u8>,
    tag: Vec<u8>,
}

fn token_tag(secret: &[u8], signed: &[u8]) -> [u8; TAG_LEN] {
    let mac = hmac_sha256(secret, signed);
    let mut tag = [0u8; TAG_LEN];
    tag.copy_from_slice(&mac[..TAG_LEN]);
    tag
}

fn parse_token(token: &str) -> Option<ParsedToken> {
    let bytes = unhex(token)?;
    let (&version, rest) = bytes.split_first()?;
    if version != TOKEN_VERSION {
        return None;
    }
    let (&region_len, rest) = rest.split_first()?;
    let region_len = usize::from(region_len);
    let fixed = 16 + GRANT_ID_BYTES + NONCE_LEN + TAG_LEN;
    if rest.len() != region_len + fixed {
        return None;
    }
    let region = Region::parse(std::str::from_utf8(&rest[..region_len]).ok()?)?;
    let rest = &rest[region_len..];
    let key_id = KeyId::from_bytes(rest[..16].try_into().ok()?);
    let grant_id = hex(&rest[16..16 + GRANT_ID_BYTES]);
    let signed_len = bytes.len() - TAG_LEN;
    Some(ParsedToken {
        region,
        key_id,
        grant_id,
        signed: bytes[..signed_len].to_vec(),
        tag: bytes[signed_len..].to_vec(),
    })
}

/// The grant id a token names, if it is of Kagi's form (not whether it is authentic). For
/// the audit record of RetireGrant, which names the grant but never the token.
pub fn grant_id_of_token(token: &str) -> Option<String> {
    parse_token(token).map(|t| t.grant_id)
}

/// The key id a token names, if it is of Kagi's form (for the audit record's resources).
pub fn key_id_of_token(token: &str) -> Option<KeyId> {
    parse_token(token).map(|t| t.key_id)
}

impl Kms {
    fn issue_token(&self, grant: &GrantRecord) -> Result<String, KmsError> {
        let grant_id = unhex(&grant.grant_id).ok_or_else(|| crate::InternalError::CorruptKey {
            key: grant.key_id.to_string(),
            what: "a grant id is not hex",
        })?;
        let region = grant.region.as_str().as_bytes();
        let mut nonce = [0u8; NONCE_LEN];
        self.rng.fill(&mut nonce).map_err(KmsError::crypto)?;
        let mut bytes = Vec::with_capacity(2 + region.len() + 16 + grant_id.len() + 32);
        bytes.push(TOKEN_VERSION);
        // Regions are at most 32 bytes (`Region::parse`).
        bytes.push(region.len() as u8);
        bytes.extend_from_slice(region);
        bytes.extend_from_slice(grant.key_id.as_bytes());
        bytes.extend_from_slice(&grant_id);
        bytes.extend_from_slice(&nonce);
        let tag = token_tag(&grant.token_secret, &bytes);
        bytes.extend_from_slice(&tag);
        Ok(hex(&bytes))
    }

    /// The grant a token names, if it still exists; `InvalidGrantTokenException` for a
    /// token that is not Kagi's, names another region, or does not verify.
    fn token_grant(&self, region: &Region, token: &str) -> Result<Option<GrantRecord>, KmsError> {
        let parsed = parse_token(token).ok_or(KmsError::InvalidGrantToken)?;
        if parsed.region != *region {
            return Err(KmsError::InvalidGrantToken);
        }
        let grants = self.key_grants(&parsed.region, &parsed.key_id)?;
        let Some(grant) = grants.iter().find(|g| g.grant_id == parsed.grant_id) else {
            return Ok(None);
        };
        let expected = token_tag(&grant.token_secret, &parsed.signed);
        if !constant_time_eq(&expected, &parsed.tag) {
            return Err(KmsError::InvalidGrantToken);
        }
        Ok(Some(grant.clone()))
    }

    /// Checks a `GrantTokens` parameter: its size, then each token (see the module
    /// documentation). Grants need no token in Kagi, so valid tokens change nothing.
    pub(crate) fn check_grant_tokens(
        &self,
        region: &Region,
        tokens: &[String],
    ) -> Result<(), KmsError> {
        check_grant_token_list(tokens)?;
        for t in tokens {
            self.token_grant(region, t)?;
        }
        Ok(())
    }

    /// Every grant of a key (cached; loaded from the store on a miss).
    pub(crate) fn key_grants(
        &self,
        region: &Region,
        key_id: &KeyId,
    ) -> Result<Arc<[GrantRecord]>, KmsError> {
        if let Some(g) = self.trusted_cache().and_then(|c| c.grants(region, key_id)) {
            return Ok(g);
        }
        let generation = self.cache.generation();
        let loaded: Arc<[GrantRecord]> = self.store.grants(region, key_id)?.into();
        self.cache
            .insert_loaded_grants(generation, region, *key_id, loaded.clone());
        Ok(loaded)
    }

    /// Whether a grant on `key` allows the caller `action` used as `usage` (see `authz`).
    pub(crate) fn grant_allows(
        &self,
        caller: &Caller,
        key: &KeyEntry,
        action: &str,
        usage: GrantUse<'_>,
    ) -> Result<bool, KmsError> {
        let Some(op) = GrantOperation::of_action(action) else {
            return Ok(false);
        };
        if matches!(usage, GrantUse::None) {
            return Ok(false);
        }
        let grants = self.key_grants(&key.meta.region, &key.meta.key_id)?;
        Ok(grants.iter().any(|g| {
            principal_matches(&caller.principal.arn, &g.grantee_principal)
                && grant_permits(g, op, usage)
        }))
    }

    fn issuing_account(&self) -> String {
        format!("arn:aws:iam::{}:root", self.account)
    }

    fn listed(&self, grant: GrantRecord) -> ListedGrant {
        ListedGrant {
            key_arn: self.key_arn(&grant.region, &grant.key_id),
            issuing_account: self.issuing_account(),
            grant,
        }
    }

    /// Replaces the cached grants of a key after a durable change (under the key's lock).
    fn commit_grants(
        &self,
        region: &Region,
        key_id: KeyId,
        write: Write,
        grants: Vec<GrantRecord>,
    ) -> Result<(), KmsError> {
        self.store.apply(vec![write])?;
        self.cache.put_grants(region, key_id, grants.into());
        Ok(())
    }

    pub fn create_grant(
        &self,
        caller: &Caller,
        req: CreateGrantRequest,
    ) -> Result<CreateGrantResponse, KmsError> {
        check_principal("granteePrincipal", &req.grantee_principal)?;
        if let Some(r) = &req.retiring_principal {
            check_principal("retiringPrincipal", r)?;
        }
        let operations = parse_operations(&req.operations)?;
        if let Some(name) = &req.name {
            check_name(name)?;
        }
        let constraints = checked_constraints(req.constraints)?;
        self.check_grant_tokens(&caller.region, &req.grant_tokens)?;

        let mut access = Access::to("kms:CreateGrant")
            .with(
                "kms:GrantOperations",
                operations.iter().map(|o| o.as_str().to_string()).collect(),
            )
            .with("kms:GranteePrincipal", vec![req.grantee_principal.clone()])
            .with("kms:GrantIsForAWSResource", vec!["false".to_string()]);
        if let Some(r) = &req.retiring_principal {
            access = access.with("kms:RetiringPrincipal", vec![r.clone()]);
        }
        if let Some(c) = &constraints {
            let mut types = Vec::new();
            if c.encryption_context_equals.is_some() {
                types.push("EncryptionContextEquals".to_string());
            }
            if c.encryption_context_subset.is_some() {
                types.push("EncryptionContextSubset".to_string());
            }
            access = access.with("kms:GrantConstraintType", types);
        }
        let access = access.granting(GrantUse::NewGrant {
            operations: &operations,
            constraints: constraints.as_ref(),
        });
        let key = self.resolve_authorized(caller, &req.key_id, Aliases::Refused, access)?;
        require_enabled(&key)?;
        if req.dry_run {
            return Err(KmsError::DryRun);
        }

        let (region, key_id) = (key.meta.region.clone(), key.meta.key_id);
        let _guard = self.lock(key_id.as_bytes());
        let existing = self.key_grants(&region, &key_id)?;
        let same = |g: &&GrantRecord| {
            req.name.is_some()
                && g.name == req.name
                && g.grantee_principal == req.grantee_principal
                && g.retiring_principal == req.retiring_principal
                && g.operations == operations
                && g.constraints == constraints
        };
        if let Some(g) = existing.iter().find(same) {
            return Ok(CreateGrantResponse {
                grant_id: g.grant_id.clone(),
                grant_token: self.issue_token(g)?,
                key_arn: key.arn.clone(),
            });
        }
        if existing.len() >= MAX_GRANTS_PER_KEY {
            return Err(KmsError::LimitExceeded {
                message: format!(
                    "The request was rejected because the key {} already has {MAX_GRANTS_PER_KEY} grants.",
                    key.arn
                ),
            });
        }
        let mut id = [0u8; GRANT_ID_BYTES];
        self.rng.fill(&mut id).map_err(KmsError::crypto)?;
        let mut token_secret = vec![0u8; 32];
        self.rng.fill(&mut token_secret).map_err(KmsError::crypto)?;
        let grant = GrantRecord {
            region: region.clone(),
            key_id,
            grant_id: hex(&id),
            name: req.name,
            grantee_principal: req.grantee_principal,
            retiring_principal: req.retiring_principal,
            issuing_principal: caller.principal.arn.clone(),
            operations,
            constraints,
            created_at: self.now(),
            token_secret,
        };
        let mut all = existing.to_vec();
        let at = all.partition_point(|g| g.grant_id < grant.grant_id);
        all.insert(at, grant.clone());
        self.commit_grants(&region, key_id, Write::PutGrant(grant.clone()), all)?;
        Ok(CreateGrantResponse {
            grant_token: self.issue_token(&grant)?,
            grant_id: grant.grant_id,
            key_arn: key.arn.clone(),
        })
    }

    pub fn list_grants(
        &self,
        caller: &Caller,
        req: ListGrantsRequest,
    ) -> Result<ListGrantsResponse, KmsError> {
        let limit = page_limit(req.limit, 50, 100)?;
        if let Some(id) = &req.grant_id {
            if id.is_empty() || id.chars().count() > 128 {
                return Err(constraint("grantId", id, "have length between 1 and 128"));
            }
        }
        if let Some(p) = &req.grantee_principal {
            check_principal("granteePrincipal", p)?;
        }
        let access = Access::to("kms:ListGrants")
            .with("kms:GrantIsForAWSResource", vec!["false".to_string()]);
        let key = self.resolve_authorized(caller, &req.key_id, Aliases::Refused, access)?;
        let after = parse_marker(req.marker.as_deref(), |m| {
            check_grant_id(m).ok().map(|()| m.to_string())
        })?;
        let grants = self.key_grants(&key.meta.region, &key.meta.key_id)?;
        let mut page: Vec<ListedGrant> = grants
            .iter()
            .filter(|g| {
                after.as_ref().is_none_or(|a| g.grant_id > *a)
                    && req.grant_id.as_ref().is_none_or(|id| g.grant_id == *id)
                    && req
                        .grantee_principal
                        .as_ref()
                        .is_none_or(|p| g.grantee_principal == *p)
            })
            .take(limit + 1)
            .map(|g| self.listed(g.clone()))
            .collect();
        let next_marker = if page.len() > limit {
            page.truncate(limit);
            page.last().map(|g| g.grant.grant_id.clone())
        } else {
            None
        };
        Ok(ListGrantsResponse {
            grants: page,
            next_marker,
        })
    }

    /// Grants of the caller's region whose retiring principal is `retiring_principal`.
    pub fn list_retirable_grants(
        &self,
        caller: &Caller,
        retiring_principal: &str,
        limit: Option<i64>,
        marker: Option<&str>,
    ) -> Result<ListGrantsResponse, KmsError> {
        let limit = page_limit(limit, 50, 100)?;
        check_principal("retiringPrincipal", retiring_principal)?;
        self.authorize_identity(caller, "*", Access::to("kms:ListRetirableGrants"))?;
        let mut cursor = parse_marker(marker, |m| check_grant_id(m).ok().map(|()| m.to_string()))?;
        let mut page = Vec::new();
        // The store lists every region; keep reading until a page of this region is full.
        loop {
            let batch =
                self.store
                    .retirable_grants(retiring_principal, cursor.as_deref(), limit + 1)?;
            let exhausted = batch.len() <= limit;
            cursor = batch.last().map(|g| g.grant_id.clone());
            page.extend(
                batch
                    .into_iter()
                    .filter(|g| g.region == caller.region)
                    .map(|g| self.listed(g)),
            );
            if page.len() > limit || exhausted {
                break;
            }
        }
        let next_marker = if page.len() > limit {
            page.truncate(limit);
            page.last().map(|g| g.grant.grant_id.clone())
        } else {
            None
        };
        Ok(ListGrantsResponse {
            grants: page,
            next_marker,
        })
    }

    /// The grant a RetireGrant or RevokeGrant names by key and grant id.
    fn named_grant(&self, key: &KeyEntry, grant_id: &str) -> Result<GrantRecord, KmsError> {
        check_grant_id(grant_id)?;
        self.key_grants(&key.meta.region, &key.meta.key_id)?
            .iter()
            .find(|g| g.grant_id == grant_id)
            .cloned()
            .ok_or_else(|| {
                KmsError::not_found(format!(
                    "Grant {grant_id} does not exist on key {}",
                    key.arn
                ))
            })
    }

    /// Removes a grant durably, then from the cache.
    fn delete_grant(&self, grant: &GrantRecord) -> Result<(), KmsError> {
        let _guard = self.lock(grant.key_id.as_bytes());
        let remaining: Vec<GrantRecord> = self
            .key_grants(&grant.region, &grant.key_id)?
            .iter()
            .filter(|g| g.grant_id != grant.grant_id)
            .cloned()
            .collect();
        let write = Write::DeleteGrant {
            region: grant.region.clone(),
            key_id: grant.key_id,
            grant_id: grant.grant_id.clone(),
        };
        self.commit_grants(&grant.region, grant.key_id, write, remaining)
    }

    /// Retires a grant. Allowed to its retiring principal, to its grantee when the grant
    /// includes RetireGrant, and to principals of the account whose identity policies allow
    /// `kms:RetireGrant` (administrators); an identity policy's explicit deny of
    /// `kms:RetireGrant` wins. Key policies play no part ("Retiring and revoking grants").
    /// Works in every key state.
    pub fn retire_grant(&self, caller: &Caller, req: RetireGrantRequest) -> Result<(), KmsError> {
        let (grant, key) = match (&req.grant_token, &req.key_id, &req.grant_id) {
            (Some(token), _, _) => {
                super::check_secret_len("grantToken", token.chars().count(), 1, MAX_GRANT_TOKEN_CHARS)?;
                let grant = self
                    .token_grant(&caller.region, token)?
                    .ok_or_else(|| KmsError::not_found("The grant the token names does not exist."))?;
                let key = self
                    .entry(&grant.region, &grant.key_id)?
                    .ok_or_else(|| KmsError::not_found("The grant the token names does not exist."))?;
                (grant, key)
            }
            (None, Some(key_id), Some(grant_id)) => {
                let key = self.resolve(caller, key_id, Aliases::Refused)?;
                (self.named_grant(&key, grant_id)?, key)
            }
            (None, None, _) => {
                return Err(KmsError::validation(
                    "Either the grant token, or both the key ID and the grant ID, must be specified.",
                ))
            }
            (None, Some(_), None) => {
                return Err(KmsError::validation(
                    "1 validation error detected: Value null at 'grantId' failed to satisfy constraint: Member must not be null",
                ))
            }
        };
        self.authorize_retire(caller, &key, &grant)?;
        if req.dry_run {
            return Err(KmsError::DryRun);
        }
        self.delete_grant(&grant)
    }

    /// Revokes a grant: needs `kms:RevokeGrant` on the key (key policy and IAM policies).
    /// Works in every key state.
    pub fn revoke_grant(
        &self,
        caller: &Caller,
        key_id: &str,
        grant_id: &str,
        dry_run: bool,
    ) -> Result<(), KmsError> {
        let access = Access::to("kms:RevokeGrant")
            .with("kms:GrantIsForAWSResource", vec!["false".to_string()]);
        let key = self.resolve_authorized(caller, key_id, Aliases::Refused, access)?;
        let grant = self.named_grant(&key, grant_id)?;
        if dry_run {
            return Err(KmsError::DryRun);
        }
        self.delete_grant(&grant)
    }
}
