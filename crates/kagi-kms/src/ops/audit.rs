//! What the audit trail needs from the domain: the ARNs of the keys a call names (for
//! `resources`, never an error), and the key GetKeyLastUsage reports on.

use super::{Access, Aliases};
use crate::ids::AliasName;
use crate::ops::keys::DescribedKey;
use crate::{Caller, KmsError};

impl crate::Kms {
    /// The ARN of the key a `KeyId`-like parameter (key id, key ARN, alias name or alias
    /// ARN) names, if that key exists here. Used for the audit record's `resources`, so it
    /// never fails: anything unresolvable is simply not listed.
    pub fn existing_key_arn(&self, caller: &Caller, raw: &str) -> Option<String> {
        let id = self.resolve_id(caller, raw, Aliases::Allowed).ok()?;
        let entry = self.entry(&caller.region, &id).ok()??;
        Some(entry.arn.clone())
    }

    /// The ARN of the alias `name` in the caller's region, if `name` is a valid alias name.
    pub fn alias_arn_of(&self, caller: &Caller, name: &str) -> Option<String> {
        let name = AliasName::parse(name).ok()?;
        Some(self.alias_arn(&caller.region, &name))
    }

    /// The key GetKeyLastUsage reports on: a key id or key ARN (alias names are not
    /// supported, as in AWS KMS).
    pub fn usage_subject(&self, caller: &Caller, key_id: &str) -> Result<DescribedKey, KmsError> {
        let access = Access::to("kms:GetKeyLastUsage");
        let entry = self.resolve_authorized(caller, key_id, Aliases::Refused, access)?;
        Ok(DescribedKey::from(entry.as_ref()))
    }
}
