//! Access keys: the credentials callers sign requests with. Secrets are generated here,
//! stored only wrapped under the root key (bound to the access key id), and unwrapped into
//! the credential cache on first use. Managed through `kagi admin`.

use crate::cache::Credential;
use crate::model::{AccessKeyRecord, AccessKeyStatus};
use crate::{AccountId, Kms, KmsError, Principal, Write};
use kagi_crypto::SecretBytes;
use std::sync::Arc;

pub(crate) const ID_ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
pub(crate) const SECRET_ALPHABET: &[u8] =
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

fn access_key_context(access_key_id: &str) -> Vec<u8> {
    format!("kagi/access-key/v1\0{access_key_id}").into_bytes()
}

/// IAM's user-name rules: 1–64 characters of `[\w+=,.@-]`.
pub(crate) fn check_user_name(name: &str) -> Result<(), KmsError> {
    super::check_iam_name("userName", name, 1, 64)
}

/// A new access key: the record (secret wrapped) and the secret, shown exactly once.
#[derive(Debug)]
pub struct NewAccessKey {
    pub record: AccessKeyRecord,
    pub secret: SecretBytes,
}

impl Kms {
    pub(crate) fn random_string(
        &self,
        alphabet: &[u8],
        len: usize,
    ) -> Result<SecretBytes, KmsError> {
        let mut raw = SecretBytes::new(vec![0u8; len]).into_exposed();
        self.rng.fill(&mut raw).map_err(KmsError::crypto)?;
        // 256 is a multiple of both alphabet sizes (32, 64): no modulo bias.
        for b in raw.iter_mut() {
            *b = alphabet[usize::from(*b) % alphabet.len()];
        }
        Ok(SecretBytes::new(raw))
    }

    /// A new access key for `user_name`. `account`: the user's account when it is not
    /// the installation's (a principal of a second account, for cross-account use); a user
    /// name belongs to one account, and administrators to the installation's.
    pub fn create_access_key(
        &self,
        user_name: &str,
        admin: bool,
        account: Option<AccountId>,
    ) -> Result<NewAccessKey, KmsError> {
        check_user_name(user_name)?;
        let account = account.filter(|a| *a != self.account);
        if admin && account.is_some() {
            return Err(KmsError::validation(
                "An administrator belongs to the installation's own account.",
            ));
        }
        if let Some(other) = self
            .store
            .list_access_keys()?
            .into_iter()
            .find(|k| k.user_name == user_name && k.account != account)
        {
            let theirs = other.account.as_ref().unwrap_or(&self.account);
            return Err(KmsError::validation(format!(
                "User {user_name} belongs to account {theirs}; user names are unique across the accounts of an installation."
            )));
        }
        let suffix = self.random_string(ID_ALPHABET, 16)?;
        let access_key_id = format!("KAGI{}", String::from_utf8_lossy(suffix.expose()));
        let secret = self.random_string(SECRET_ALPHABET, 40)?;
        let wrapped_secret = self
            .root
            .wrap(
                self.rng.as_ref(),
                &access_key_context(&access_key_id),
                &secret,
            )
            .map_err(KmsError::crypto)?;
        let record = AccessKeyRecord {
            access_key_id,
            user_name: user_name.to_string(),
            status: AccessKeyStatus::Active,
            created_at: self.now(),
            admin,
            wrapped_secret,
            account,
        };
        self.store
            .apply(vec![Write::PutAccessKey(record.clone())])?;
        Ok(NewAccessKey { record, secret })
    }

    pub fn list_access_keys(&self) -> Result<Vec<AccessKeyRecord>, KmsError> {
        Ok(self.store.list_access_keys()?)
    }

    fn existing_access_key(&self, access_key_id: &str) -> Result<AccessKeyRecord, KmsError> {
        self.store.access_key(access_key_id)?.ok_or_else(|| {
            KmsError::not_found(format!("Access key {access_key_id} does not exist."))
        })
    }

    pub fn set_access_key_status(
        &self,
        access_key_id: &str,
        status: AccessKeyStatus,
    ) -> Result<(), KmsError> {
        self.existing_access_key(access_key_id)?;
        self.store.apply(vec![Write::SetAccessKeyStatus {
            access_key_id: access_key_id.to_string(),
            status,
        }])?;
        self.cache.remove_credential(access_key_id);
        Ok(())
    }

    pub fn delete_access_key(&self, access_key_id: &str) -> Result<(), KmsError> {
        self.existing_access_key(access_key_id)?;
        self.store.apply(vec![Write::DeleteAccessKey {
            access_key_id: access_key_id.to_string(),
        }])?;
        self.cache.remove_credential(access_key_id);
        Ok(())
    }

    /// The principal of a user of the installation's own account.
    pub fn principal_for(&self, user_name: &str, access_key_id: &str, admin: bool) -> Principal {
        self.principal_in(&self.account, user_name, access_key_id, admin)
    }

    fn principal_in(
        &self,
        account: &AccountId,
        user_name: &str,
        access_key_id: &str,
        admin: bool,
    ) -> Principal {
        Principal {
            account: account.clone(),
            arn: format!("arn:aws:iam::{account}:user/{user_name}"),
            user_name: user_name.to_string(),
            access_key_id: access_key_id.to_string(),
            admin,
            role: None,
        }
    }

    /// The active credential for `access_key_id`, if there is one.
    pub fn credential(&self, access_key_id: &str) -> Result<Option<Arc<Credential>>, KmsError> {
        if let Some(c) = self
            .trusted_cache()
            .and_then(|c| c.credential(access_key_id))
        {
            return Ok(Some(c));
        }
        let generation = self.cache.generation();
        let Some(record) = self.store.access_key(access_key_id)? else {
            return Ok(None);
        };
        if record.status != AccessKeyStatus::Active {
            return Ok(None);
        }
        let secret = self
            .root
            .unwrap(&access_key_context(access_key_id), &record.wrapped_secret)
            .map_err(KmsError::crypto)?;
        let credential = Arc::new(Credential {
            principal: self.principal_in(
                record.account.as_ref().unwrap_or(&self.account),
                &record.user_name,
                access_key_id,
                record.admin,
            ),
            secret,
        });
        self.cache.insert_loaded_credential(
            generation,
            access_key_id.to_string(),
            credential.clone(),
        );
        Ok(Some(credential))
    }
}
