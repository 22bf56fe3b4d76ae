//! Encodings every backend shares: how identifiers, regions and tags are written to a
//! column and read back. Part of the on-disk schema of both stores.

use kagi_kms::{AccountId, KeyId, Region, StoreError, Tag};

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

#[cfg(test)]
mod tests {
    use super::*;

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
