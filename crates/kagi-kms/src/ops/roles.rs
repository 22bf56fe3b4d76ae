//! IAM roles and STS sessions: roles with trust policies and inline identity policies
//! (managed through `kagi admin`), `AssumeRole`, and the temporary credentials it issues.
//!
//! Session credentials are stateless: the session token is the session (access key id,
//! secret, role, session name, expiry) sealed under the root key and bound to the access
//! key id, so any node with the root key verifies it without a store round trip, and
//! nothing needs cleaning up when it expires. A deleted role's sessions stop working.

use super::access_keys::ID_ALPHABET;
use super::check_iam_name;
use super::users::check_policy_name;
use crate::authz::{decide, AccessRequest, PolicyKind};
use crate::cache::{role_cache_key, Credential};
use crate::model::{RolePolicyRecord, RoleRecord};
use crate::{Caller, Kms, KmsError, Principal, Timestamp, Write};
use kagi_crypto::SecretBytes;
use std::sync::Arc;

/// IAM's default and limits for `MaxSessionDuration` and `DurationSeconds`.
pub const DEFAULT_SESSION_SECONDS: u32 = 3_600;
pub const MIN_SESSION_SECONDS: u32 = 900;
pub const MAX_SESSION_SECONDS: u32 = 43_200;
/// IAM's limit on a trust policy, in characters.
pub const MAX_TRUST_POLICY_CHARS: usize = 2_048;
const SESSION_FORMAT_V1: u8 = 1;

fn session_context(access_key_id: &str) -> Vec<u8> {
    format!("kagi/sts-session/v1\0{access_key_id}").into_bytes()
}

/// IAM's role-name rules: 1–64 characters of `[\w+=,.@-]`.
fn check_role_name(name: &str) -> Result<(), KmsError> {
    check_iam_name("roleName", name, 1, 64)
}

/// Temporary credentials issued by AssumeRole.
#[derive(Debug)]
pub struct SessionCredentials {
    pub access_key_id: String,
    pub secret: SecretBytes,
    pub session_token: String,
    pub expiration: Timestamp,
    /// `AROA…:<session name>`.
    pub assumed_role_id: String,
    /// `arn:aws:sts::<account>:assumed-role/<role>/<session>`.
    pub arn: String,
}

/// What a presented session token turned out to be.
#[derive(Debug)]
pub enum SessionCheck {
    Valid(Arc<Credential>),
    /// Not a token Kagi issued for this access key id (or its role is gone).
    Invalid,
    Expired,
}

/// The decoded content of a session token.
struct Session {
    expiration: Timestamp,
    /// When the role was created: a role deleted and made again under the same name is
    /// another role, and the old sessions are not its sessions.
    role_created_at: Timestamp,
    secret: SecretBytes,
    role: String,
    session_name: String,
}

impl Session {
    fn encode(&self) -> SecretBytes {
        let mut out = Vec::with_capacity(64 + self.secret.len());
        out.push(SESSION_FORMAT_V1);
        out.extend_from_slice(&self.expiration.millis().to_be_bytes());
        out.extend_from_slice(&self.role_created_at.millis().to_be_bytes());
        for part in [
            self.secret.expose(),
            self.role.as_bytes(),
            self.session_name.as_bytes(),
        ] {
            // Every part is at most 64 characters (secrets are 40).
            out.extend_from_slice(&(part.len() as u16).to_be_bytes());
            out.extend_from_slice(part);
        }
        SecretBytes::new(out)
    }

    fn decode(bytes: &[u8]) -> Option<Session> {
        let (&version, rest) = bytes.split_first()?;
        if version != SESSION_FORMAT_V1 || rest.len() < 16 {
            return None;
        }
        let (expiration, rest) = rest.split_at(8);
        let expiration = Timestamp(i64::from_be_bytes(expiration.try_into().ok()?));
        let (created, mut rest) = rest.split_at(8);
        let role_created_at = Timestamp(i64::from_be_bytes(created.try_into().ok()?));
        let mut part = || -> Option<Vec<u8>> {
            if rest.len() < 2 {
                return None;
            }
            let len = usize::from(u16::from_be_bytes([rest[0], rest[1]]));
            let value = rest.get(2..2 + len)?.to_vec();
            rest = &rest[2 + len..];
            Some(value)
        };
        let secret = SecretBytes::new(part()?);
        let role = String::from_utf8(part()?).ok()?;
        let session_name = String::from_utf8(part()?).ok()?;
        Some(Session {
            expiration,
            role_created_at,
            secret,
            role,
            session_name,
        })
    }
}

impl Kms {
    pub fn role_arn(&self, role_name: &str) -> String {
        format!("arn:aws:iam::{}:role/{role_name}", self.account)
    }

    /// A stable role id (`AROA` + 17 characters), derived from the account, the role name
    /// and its creation time (a role made again under the same name gets another id).
    fn role_id(&self, role_name: &str, created_at: Timestamp) -> String {
        let digest = kagi_crypto::digest::sha256(
            format!(
                "kagi role id v1\0{}\0{role_name}\0{}",
                self.account,
                created_at.millis()
            )
            .as_bytes(),
        );
        let tail: String = digest[..17]
            .iter()
            .map(|b| char::from(ID_ALPHABET[usize::from(*b) % ID_ALPHABET.len()]))
            .collect();
        format!("AROA{tail}")
    }

    fn existing_role(&self, role_name: &str) -> Result<RoleRecord, KmsError> {
        self.store.role(role_name)?.ok_or_else(|| {
            KmsError::not_found(format!("The role with name {role_name} cannot be found."))
        })
    }

    /// Creates a role, or replaces the trust policy and session limit of an existing one.
    pub fn put_role(
        &self,
        role_name: &str,
        trust_policy: &str,
        max_session_seconds: Option<u32>,
    ) -> Result<RoleRecord, KmsError> {
        check_role_name(role_name)?;
        let max = max_session_seconds.unwrap_or(DEFAULT_SESSION_SECONDS);
        super::check_range(
            "maxSessionDuration",
            i64::from(max),
            i64::from(DEFAULT_SESSION_SECONDS),
            i64::from(MAX_SESSION_SECONDS),
        )?;
        if trust_policy.is_empty() || trust_policy.chars().count() > MAX_TRUST_POLICY_CHARS {
            return Err(super::constraint(
                "assumeRolePolicyDocument",
                "<policy document>",
                &format!("have length between 1 and {MAX_TRUST_POLICY_CHARS}"),
            ));
        }
        self.policies
            .compile(PolicyKind::Trust, trust_policy)
            .map_err(|message| KmsError::MalformedPolicyDocument { message })?;
        let created_at = match self.store.role(role_name)? {
            Some(existing) => existing.created_at,
            None => self.now(),
        };
        let record = RoleRecord {
            role_name: role_name.to_string(),
            trust_policy: trust_policy.to_string(),
            max_session_seconds: max,
            created_at,
        };
        self.store.apply(vec![Write::PutRole(record.clone())])?;
        Ok(record)
    }

    pub fn list_roles(&self) -> Result<Vec<RoleRecord>, KmsError> {
        Ok(self.store.list_roles()?)
    }

    /// Deletes a role and its policies; its sessions stop working at once.
    pub fn delete_role(&self, role_name: &str) -> Result<(), KmsError> {
        check_role_name(role_name)?;
        self.existing_role(role_name)?;
        self.store.apply(vec![Write::DeleteRole {
            role_name: role_name.to_string(),
        }])?;
        self.cache.remove_user_policies(&role_cache_key(role_name));
        self.cache.remove_role_created(role_name);
        self.cache.remove_principal_tags(&role_cache_key(role_name));
        Ok(())
    }

    pub fn put_role_policy(
        &self,
        role_name: &str,
        policy_name: &str,
        document: &str,
    ) -> Result<(), KmsError> {
        check_role_name(role_name)?;
        check_policy_name(policy_name)?;
        super::users::check_identity_document(self, document)?;
        self.existing_role(role_name)?;
        self.store
            .apply(vec![Write::PutRolePolicy(RolePolicyRecord {
                role_name: role_name.to_string(),
                policy_name: policy_name.to_string(),
                document: document.to_string(),
                updated_at: self.now(),
            })])?;
        self.cache.remove_user_policies(&role_cache_key(role_name));
        Ok(())
    }

    pub fn role_policies(&self, role_name: &str) -> Result<Vec<RolePolicyRecord>, KmsError> {
        check_role_name(role_name)?;
        self.existing_role(role_name)?;
        Ok(self.store.role_policies(role_name)?)
    }

    pub fn delete_role_policy(&self, role_name: &str, policy_name: &str) -> Result<(), KmsError> {
        check_role_name(role_name)?;
        check_policy_name(policy_name)?;
        let exists = self
            .store
            .role_policies(role_name)?
            .iter()
            .any(|p| p.policy_name == policy_name);
        if !exists {
            return Err(KmsError::not_found(format!(
                "The role policy with name {policy_name} cannot be found."
            )));
        }
        self.store.apply(vec![Write::DeleteRolePolicy {
            role_name: role_name.to_string(),
            policy_name: policy_name.to_string(),
        }])?;
        self.cache.remove_user_policies(&role_cache_key(role_name));
        Ok(())
    }

    /// STS AssumeRole: the role's trust policy must allow the caller `sts:AssumeRole`,
    /// directly or through the caller's account and its identity policies.
    pub fn assume_role(
        &self,
        caller: &Caller,
        role_arn: &str,
        session_name: &str,
        duration_seconds: Option<i64>,
    ) -> Result<SessionCredentials, KmsError> {
        check_iam_name("roleSessionName", session_name, 2, 64)?;
        if role_arn.len() < 20 || role_arn.len() > 2048 {
            return Err(super::constraint(
                "roleArn",
                role_arn,
                "have length between 20 and 2048",
            ));
        }
        let denied = || KmsError::AccessDenied {
            message: format!(
                "User: {} is not authorized to perform: sts:AssumeRole on resource: {role_arn}",
                caller.principal.arn
            ),
        };
        // Another account's role, or no such role: AWS answers AccessDenied either way.
        let Some(role_name) = role_arn
            .strip_prefix(&format!("arn:aws:iam::{}:role/", self.account))
            .map(|path| path.rsplit('/').next().unwrap_or(path))
        else {
            return Err(denied());
        };
        let Some(role) = self.store.role(role_name)? else {
            return Err(denied());
        };
        let duration = duration_seconds.unwrap_or(i64::from(DEFAULT_SESSION_SECONDS));
        super::check_range(
            "durationSeconds",
            duration,
            i64::from(MIN_SESSION_SECONDS),
            i64::from(MAX_SESSION_SECONDS),
        )?;
        if duration > i64::from(role.max_session_seconds) {
            return Err(KmsError::validation(format!(
                "The requested DurationSeconds exceeds the MaxSessionDuration set for this role ({} seconds).",
                role.max_session_seconds
            )));
        }
        let trust = self
            .policies
            .compile(PolicyKind::Trust, &role.trust_policy)
            .map_err(|_| denied())?;
        let mut request = AccessRequest {
            principal: &caller.principal,
            action: "sts:AssumeRole",
            resource: role_arn,
            values: vec![(
                "sts:RoleSessionName".to_string(),
                vec![session_name.to_string()],
            )],
        };
        self.add_global_values(caller, &mut request)?;
        if decide(
            self.evaluate(caller, request, Some(&trust))?,
            true,
            caller.principal.account != self.account,
            false,
        )
        .is_err()
        {
            return Err(denied());
        }

        let suffix = self.random_string(ID_ALPHABET, 16)?;
        let access_key_id = format!("ASIA{}", String::from_utf8_lossy(suffix.expose()));
        let secret = self.random_string(super::access_keys::SECRET_ALPHABET, 40)?;
        let expiration = Timestamp(self.now().millis() + duration * 1000);
        let session = Session {
            expiration,
            role_created_at: role.created_at,
            secret: secret.clone(),
            role: role.role_name.clone(),
            session_name: session_name.to_string(),
        };
        let sealed = self
            .root
            .wrap(
                self.rng.as_ref(),
                &session_context(&access_key_id),
                &session.encode(),
            )
            .map_err(KmsError::crypto)?;
        Ok(SessionCredentials {
            session_token: kagi_crypto::digest::hex(&sealed),
            assumed_role_id: format!(
                "{}:{session_name}",
                self.role_id(&role.role_name, role.created_at)
            ),
            arn: format!(
                "arn:aws:sts::{}:assumed-role/{}/{session_name}",
                self.account, role.role_name
            ),
            access_key_id,
            secret,
            expiration,
        })
    }

    /// Checks temporary credentials: the token must be one Kagi sealed for this access key
    /// id, unexpired, for a role that still exists.
    pub fn session_credential(
        &self,
        access_key_id: &str,
        session_token: &str,
    ) -> Result<SessionCheck, KmsError> {
        let Some(sealed) = kagi_crypto::digest::unhex(session_token) else {
            return Ok(SessionCheck::Invalid);
        };
        let Ok(opened) = self.root.unwrap(&session_context(access_key_id), &sealed) else {
            return Ok(SessionCheck::Invalid);
        };
        let Some(session) = Session::decode(opened.expose()) else {
            return Ok(SessionCheck::Invalid);
        };
        if self.now() >= session.expiration {
            return Ok(SessionCheck::Expired);
        }
        if self.role_created_at(&session.role)? != Some(session.role_created_at) {
            return Ok(SessionCheck::Invalid);
        }
        Ok(SessionCheck::Valid(Arc::new(Credential {
            principal: Principal {
                account: self.account.clone(),
                arn: format!(
                    "arn:aws:sts::{}:assumed-role/{}/{}",
                    self.account, session.role, session.session_name
                ),
                user_name: session.session_name,
                access_key_id: access_key_id.to_string(),
                admin: false,
                role: Some(session.role),
            },
            secret: session.secret,
        })))
    }

    /// When the role now called `role_name` was created (`None`: there is none). Cached, and
    /// dropped when the role is deleted, so a warm session needs no store read.
    fn role_created_at(&self, role_name: &str) -> Result<Option<Timestamp>, KmsError> {
        if let Some(at) = self.trusted_cache().and_then(|c| c.role_created(role_name)) {
            return Ok(Some(at));
        }
        let generation = self.cache.generation();
        let Some(role) = self.store.role(role_name)? else {
            return Ok(None);
        };
        self.cache
            .insert_loaded_role_created(generation, role_name.to_string(), role.created_at);
        Ok(Some(role.created_at))
    }

    /// `UserId` of GetCallerIdentity: the role id and session for a role session, else the
    /// principal's name.
    pub fn caller_user_id(&self, principal: &Principal) -> String {
        match &principal.role {
            Some(role) => {
                // The session was just verified against the role, so it exists (cached).
                let created = self
                    .role_created_at(role)
                    .ok()
                    .flatten()
                    .unwrap_or(Timestamp(0));
                format!("{}:{}", self.role_id(role, created), principal.user_name)
            }
            None => principal.user_name.clone(),
        }
    }
}
