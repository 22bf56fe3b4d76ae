//! Tags of users and roles (IAM's TagUser, UntagUser, ListUserTags and the role
//! equivalents), managed through `kagi admin`: what `aws:PrincipalTag/<key>` sees. A role
//! session carries its role's tags.

use super::tags::validated_tags;
use crate::cache::principal_cache_key as cache_key;
use crate::model::{PrincipalRef, Tag};
use crate::{Kms, KmsError, Principal, Write};
use std::sync::Arc;

impl Kms {
    /// A user must have an access key, a role must exist, to be tagged.
    fn check_principal(&self, principal: &PrincipalRef) -> Result<(), KmsError> {
        let exists = match principal {
            PrincipalRef::User(name) => {
                super::access_keys::check_user_name(name)?;
                self.store
                    .list_access_keys()?
                    .iter()
                    .any(|k| k.user_name == *name)
            }
            PrincipalRef::Role(name) => {
                super::check_iam_name("roleName", name, 1, 64)?;
                self.store.role(name)?.is_some()
            }
        };
        if exists {
            Ok(())
        } else {
            Err(KmsError::not_found(format!(
                "The {} with name {} cannot be found.",
                principal.kind(),
                principal.name()
            )))
        }
    }

    pub fn principal_tags_of(&self, principal: &PrincipalRef) -> Result<Vec<Tag>, KmsError> {
        self.check_principal(principal)?;
        Ok(self.store.principal_tags(principal)?)
    }

    /// Adds tags (a key already there gets the new value).
    pub fn tag_principal(&self, principal: &PrincipalRef, tags: Vec<Tag>) -> Result<(), KmsError> {
        self.check_principal(principal)?;
        let existing = self.store.principal_tags(principal)?;
        let merged = validated_tags(tags, &existing)?;
        self.put_principal_tags(principal, merged)
    }

    /// Removes the tags with these keys (absent keys are ignored).
    pub fn untag_principal(
        &self,
        principal: &PrincipalRef,
        keys: &[String],
    ) -> Result<(), KmsError> {
        self.check_principal(principal)?;
        let mut tags = self.store.principal_tags(principal)?;
        tags.retain(|t| !keys.contains(&t.key));
        self.put_principal_tags(principal, tags)
    }

    fn put_principal_tags(&self, principal: &PrincipalRef, tags: Vec<Tag>) -> Result<(), KmsError> {
        self.store.apply(vec![Write::PutPrincipalTags {
            principal: principal.clone(),
            tags,
        }])?;
        self.cache.remove_principal_tags(&cache_key(principal));
        Ok(())
    }

    /// The caller's tags for `aws:PrincipalTag/*` (cached; a session has its role's).
    pub(crate) fn caller_tags(&self, principal: &Principal) -> Result<Arc<[Tag]>, KmsError> {
        let target = match &principal.role {
            Some(role) => PrincipalRef::Role(role.clone()),
            None => PrincipalRef::User(principal.user_name.clone()),
        };
        let key = cache_key(&target);
        if let Some(tags) = self.trusted_cache().and_then(|c| c.principal_tags(&key)) {
            return Ok(tags);
        }
        let generation = self.cache.generation();
        let tags: Arc<[Tag]> = self.store.principal_tags(&target)?.into();
        self.cache
            .insert_loaded_principal_tags(generation, key, tags.clone());
        Ok(tags)
    }
}
