//! Encodings every backend shares: how identifiers, regions, tags and grant operations and
//! constraints are written to a column and read back. Part of the on-disk schema of both
//! stores.

use kagi_kms::{
    AccountId, GrantConstraints, GrantOperation, KeyId, PrincipalRef, Region, StoreError, Tag,
};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

pub fn key_id(s: &str) -> Result<KeyId, StoreError> {
    KeyId::parse(s).ok_or_else(|| StoreError::Corrupt(format!("bad key id {s:?}")))
}

pub fn region(s: &str) -> Result<Region, StoreError> {
    Region::parse(s).ok_or_else(|| StoreError::Corrupt(format!("bad region {s:?}")))
}

/// An optional account column: NULL is the installation's own account, anything else
/// must be a 12-digit account id.
pub fn account(s: Option<&str>) -> Result<Option<AccountId>, StoreError> {
    s.map(|s| {
        AccountId::parse(s).ok_or_else(|| StoreError::Corrupt(format!("bad account id {s:?}")))
    })
    .transpose()
}

/// A principal tag's owner: `principal_kind` is `user` or `role`, anything else is corrupt.
pub fn principal(kind: &str, name: String) -> Result<PrincipalRef, StoreError> {
    PrincipalRef::from_parts(kind, name)
        .ok_or_else(|| StoreError::Corrupt(format!("bad principal kind {kind:?}")))
}

/// Tags as a JSON array of `[key, value]` pairs, in the key's order.
pub fn encode_tags(tags: &[Tag]) -> String {
    let pairs: Vec<[&str; 2]> = tags
        .iter()
        .map(|t| [t.key.as_str(), t.value.as_str()])
        .collect();
    // Serialising strings cannot fail; an empty list would only hide a bug, so keep it
    // simple and total.
    serde_json::to_string(&pairs).unwrap_or_else(|_| "[]".into())
}

pub fn decode_tags(s: &str) -> Result<Vec<Tag>, StoreError> {
    let pairs: Vec<[String; 2]> =
        serde_json::from_str(s).map_err(|e| StoreError::Corrupt(format!("tags: {e}")))?;
    Ok(pairs
        .into_iter()
        .map(|[key, value]| Tag { key, value })
        .collect())
}

/// Grant operations as a JSON array of AWS's names (`["Decrypt","Encrypt"]`).
pub fn encode_operations(ops: &[GrantOperation]) -> String {
    let names: Vec<&str> = ops.iter().map(|o| o.as_str()).collect();
    serde_json::to_string(&names).unwrap_or_else(|_| "[]".into())
}

pub fn decode_operations(s: &str) -> Result<Vec<GrantOperation>, StoreError> {
    let names: Vec<String> =
        serde_json::from_str(s).map_err(|e| StoreError::Corrupt(format!("operations: {e}")))?;
    names
        .iter()
        .map(|n| {
            GrantOperation::parse(n)
                .ok_or_else(|| StoreError::Corrupt(format!("bad grant operation {n:?}")))
        })
        .collect()
}

/// Grant constraints as a JSON object with AWS's member names
/// (`{"EncryptionContextSubset":{"k":"v"}}`); absent members are left out.
pub fn encode_constraints(c: &GrantConstraints) -> String {
    let mut object = Map::new();
    let members = [
        ("EncryptionContextEquals", &c.encryption_context_equals),
        ("EncryptionContextSubset", &c.encryption_context_subset),
    ];
    for (name, map) in members {
        if let Some(map) = map {
            let pairs: Map<String, Value> = map
                .iter()
                .map(|(k, v)| (k.clone(), Value::from(v.as_str())))
                .collect();
            object.insert(name.to_string(), Value::Object(pairs));
        }
    }
    Value::Object(object).to_string()
}

pub fn decode_constraints(s: &str) -> Result<GrantConstraints, StoreError> {
    let mut object: BTreeMap<String, BTreeMap<String, String>> =
        serde_json::from_str(s).map_err(|e| StoreError::Corrupt(format!("constraints: {e}")))?;
    let c = GrantConstraints {
        encryption_context_equals: object.remove("EncryptionContextEquals"),
        encryption_context_subset: object.remove("EncryptionContextSubset"),
    };
    if let Some(other) = object.keys().next() {
        return Err(StoreError::Corrupt(format!("unknown constraint {other:?}")));
    }
    Ok(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grant_columns_round_trip() {
        let ops = vec![GrantOperation::Decrypt, GrantOperation::RetireGrant];
        assert_eq!(encode_operations(&ops), r#"["Decrypt","RetireGrant"]"#);
        assert_eq!(decode_operations(&encode_operations(&ops)).unwrap(), ops);
        assert!(decode_operations(r#"["Nope"]"#).is_err());
        let c = GrantConstraints {
            encryption_context_equals: None,
            encryption_context_subset: Some(BTreeMap::from([("Dept".into(), "IT".into())])),
        };
        assert_eq!(
            encode_constraints(&c),
            r#"{"EncryptionContextSubset":{"Dept":"IT"}}"#
        );
        assert_eq!(decode_constraints(&encode_constraints(&c)).unwrap(), c);
        assert!(decode_constraints(r#"{"Other":{}}"#).is_err());
    }

    #[test]
    fn tags_round_trip() {
        let tags = vec![
            Tag {
                key: "a".into(),
                value: "".into(),
            },
            Tag {
                key: "quote\"d".into(),
                value: "ü".into(),
            },
        ];
        assert_eq!(decode_tags(&encode_tags(&tags)).unwrap(), tags);
        assert!(decode_tags("{").is_err());
    }
}
