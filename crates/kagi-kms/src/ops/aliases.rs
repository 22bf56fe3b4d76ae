//! CreateAlias, UpdateAlias, DeleteAlias and ListAliases.
//!
//! Alias names follow AWS's rules (`alias/` + `[a-zA-Z0-9/_-]`, at most 256 characters);
//! `alias/aws/` is reserved. Aliases are regional and unique per region; their target must
//! be named by key id or key ARN, never by another alias.

use super::{page_limit, parse_marker, require_not_pending_deletion, Access, Aliases};
use crate::ids::AliasName;
use crate::model::AliasRecord;
use crate::{Caller, KeyId, Kms, KmsError, StoreError, Timestamp, Write};

#[derive(Debug, Clone)]
pub struct AliasListEntry {
    pub alias_name: String,
    pub alias_arn: String,
    pub target_key_id: KeyId,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

#[derive(Debug, Clone)]
pub struct ListAliasesResponse {
    pub aliases: Vec<AliasListEntry>,
    pub next_marker: Option<String>,
}

impl Kms {
    fn alias_name(&self, raw: &str) -> Result<AliasName, KmsError> {
        let name = AliasName::parse(raw)?;
        if name.is_reserved() {
            return Err(KmsError::ReservedAlias);
        }
        Ok(name)
    }

    fn alias_not_found(&self, caller: &Caller, name: &AliasName) -> KmsError {
        KmsError::not_found(format!(
            "Alias {} is not found.",
            self.alias_arn(&caller.region, name)
        ))
    }

    /// The target key of an alias operation: must exist, allow `action` to the caller and
    /// not be pending deletion.
    fn alias_target_key(
        &self,
        caller: &Caller,
        target: &str,
        action: &str,
    ) -> Result<KeyId, KmsError> {
        let key = self.resolve_authorized(caller, target, Aliases::Refused, Access::to(action))?;
        require_not_pending_deletion(&key)?;
        Ok(key.meta.key_id)
    }

    /// AWS authorizes alias operations on the alias too, by identity policies alone.
    fn authorize_alias(
        &self,
        caller: &Caller,
        name: &AliasName,
        action: &str,
    ) -> Result<(), KmsError> {
        let arn = self.alias_arn(&caller.region, name);
        self.authorize_identity(caller, &arn, Access::to(action))
    }

    pub fn create_alias(
        &self,
        caller: &Caller,
        alias_name: &str,
        target_key_id: &str,
    ) -> Result<(), KmsError> {
        let name = self.alias_name(alias_name)?;
        self.authorize_alias(caller, &name, "kms:CreateAlias")?;
        let target = self.alias_target_key(caller, target_key_id, "kms:CreateAlias")?;
        let _guard = self.lock(name.as_str().as_bytes());
        let now = self.now();
        let record = AliasRecord {
            region: caller.region.clone(),
            name: name.clone(),
            target,
            created_at: now,
            updated_at: now,
        };
        let before = self.cache.generation();
        match self.store.apply(vec![Write::CreateAlias(record)]) {
            Ok(()) => {}
            Err(StoreError::Conflict) => {
                return Err(KmsError::AliasAlreadyExists {
                    alias_arn: self.alias_arn(&caller.region, &name),
                })
            }
            Err(e) => return Err(e.into()),
        }
        self.cache.put_alias(before, &caller.region, name, target);
        Ok(())
    }

    pub fn update_alias(
        &self,
        caller: &Caller,
        alias_name: &str,
        target_key_id: &str,
    ) -> Result<(), KmsError> {
        let name = self.alias_name(alias_name)?;
        self.authorize_alias(caller, &name, "kms:UpdateAlias")?;
        let target = self.alias_target_key(caller, target_key_id, "kms:UpdateAlias")?;
        let _guard = self.lock(name.as_str().as_bytes());
        let existing = self
            .store
            .alias(&caller.region, &name)?
            .ok_or_else(|| self.alias_not_found(caller, &name))?;
        // The key the alias leaves must allow it too.
        if let Some(current) = self.entry(&caller.region, &existing.target)? {
            self.authorize_key(caller, &current, Access::to("kms:UpdateAlias"))?;
        }
        let record = AliasRecord {
            target,
            updated_at: self.now(),
            ..existing
        };
        let before = self.cache.generation();
        self.store.apply(vec![Write::UpdateAlias(record)])?;
        self.cache.put_alias(before, &caller.region, name, target);
        Ok(())
    }

    pub fn delete_alias(&self, caller: &Caller, alias_name: &str) -> Result<(), KmsError> {
        let name = self.alias_name(alias_name)?;
        self.authorize_alias(caller, &name, "kms:DeleteAlias")?;
        let _guard = self.lock(name.as_str().as_bytes());
        let Some(existing) = self.store.alias(&caller.region, &name)? else {
            return Err(self.alias_not_found(caller, &name));
        };
        if let Some(key) = self.entry(&caller.region, &existing.target)? {
            self.authorize_key(caller, &key, Access::to("kms:DeleteAlias"))?;
        }
        self.store.apply(vec![Write::DeleteAlias {
            region: caller.region.clone(),
            name: name.clone(),
        }])?;
        self.cache.remove_alias(&caller.region, &name);
        Ok(())
    }

    pub fn list_aliases(
        &self,
        caller: &Caller,
        key_id: Option<&str>,
        limit: Option<i64>,
        marker: Option<&str>,
    ) -> Result<ListAliasesResponse, KmsError> {
        // AWS: "If you do not include a value [for Limit], it defaults to 50."
        let limit = page_limit(limit, 50, 100)?;
        let after = parse_marker(marker, |m| AliasName::parse(m).ok())?;
        self.authorize_identity(caller, "*", Access::to("kms:ListAliases"))?;
        let target = match key_id {
            Some(k) => Some(self.resolve(caller, k, Aliases::Refused)?.meta.key_id),
            None => None,
        };
        let mut records =
            self.store
                .list_aliases(&caller.region, target.as_ref(), after.as_ref(), limit + 1)?;
        let next_marker = if records.len() > limit {
            records.truncate(limit);
            records.last().map(|a| a.name.to_string())
        } else {
            None
        };
        Ok(ListAliasesResponse {
            aliases: records
                .into_iter()
                .map(|a| AliasListEntry {
                    alias_arn: self.alias_arn(&caller.region, &a.name),
                    alias_name: a.name.to_string(),
                    target_key_id: a.target,
                    created_at: a.created_at,
                    updated_at: a.updated_at,
                })
                .collect(),
            next_marker,
        })
    }
}
