//! Identifiers and validated names: key ids, regions, account ids, alias names, ARNs.
//!
//! Each newtype can only be built through a constructor that checks its form, so the rest of
//! the domain never re-validates.

use crate::KmsError;
use kagi_crypto::Rng;
use std::fmt;

/// A KMS key id: a lowercase RFC 4122 UUID (version 4), e.g.
/// `1234abcd-12ab-34cd-56ef-1234567890ab`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyId([u8; 16]);

impl KeyId {
    pub fn generate(rng: &dyn Rng) -> Result<Self, KmsError> {
        let mut b = [0u8; 16];
        rng.fill(&mut b).map_err(KmsError::crypto)?;
        b[6] = (b[6] & 0x0f) | 0x40;
        b[8] = (b[8] & 0x3f) | 0x80;
        Ok(Self(b))
    }

    pub fn from_bytes(b: [u8; 16]) -> Self {
        Self(b)
    }

    pub fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }

    /// Parses the canonical 36-character form (hex digits of either case).
    pub fn parse(s: &str) -> Option<Self> {
        let b = s.as_bytes();
        if b.len() != 36 {
            return None;
        }
        let mut out = [0u8; 16];
        let mut n = 0;
        let mut i = 0;
        while i < 36 {
            if matches!(i, 8 | 13 | 18 | 23) {
                if b[i] != b'-' {
                    return None;
                }
                i += 1;
                continue;
            }
            let hi = hex_val(b[i])?;
            let lo = hex_val(b[i + 1])?;
            out[n] = (hi << 4) | lo;
            n += 1;
            i += 2;
        }
        Some(Self(out))
    }
}

fn hex_val(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, byte) in self.0.iter().enumerate() {
            if matches!(i, 4 | 6 | 8 | 10) {
                f.write_str("-")?;
            }
            write!(f, "{byte:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyId({self})")
    }
}

/// An AWS region name as it appears in a SigV4 credential scope, e.g. `us-east-1`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct Region(String);

impl Region {
    /// Accepts lowercase letters, digits and dashes, 1 to 32 characters, starting with a
    /// letter (the shape of every AWS region, including partitions like `us-gov-west-1`).
    pub fn parse(s: &str) -> Option<Self> {
        let ok = !s.is_empty()
            && s.len() <= 32
            && s.as_bytes()[0].is_ascii_lowercase()
            && s.bytes()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-');
        ok.then(|| Self(s.to_string()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Region {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A 12-digit AWS account id.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct AccountId(String);

impl AccountId {
    pub fn parse(s: &str) -> Option<Self> {
        (s.len() == 12 && s.bytes().all(|c| c.is_ascii_digit())).then(|| Self(s.to_string()))
    }
    pub fn generate(rng: &dyn Rng) -> Result<Self, KmsError> {
        let mut b = [0u8; 12];
        rng.fill(&mut b).map_err(KmsError::crypto)?;
        // First digit non-zero so the id never looks like a placeholder.
        let s: String = b
            .iter()
            .enumerate()
            .map(|(i, x)| {
                let d = if i == 0 { 1 + x % 9 } else { x % 10 };
                char::from(b'0' + d)
            })
            .collect();
        Ok(Self(s))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for AccountId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An alias name, `alias/<name>` per AWS's rules: 1–256 characters of `[a-zA-Z0-9/_-]`
/// after the prefix.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct AliasName(String);

pub const RESERVED_ALIAS_PREFIX: &str = "alias/aws/";

impl AliasName {
    pub fn parse(s: &str) -> Result<Self, KmsError> {
        let valid = s.len() <= 256
            && s.strip_prefix("alias/").is_some_and(|rest| {
                !rest.is_empty()
                    && rest
                        .bytes()
                        .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'/' | b'_' | b'-'))
            });
        if !valid {
            return Err(KmsError::validation(format!(
                "1 validation error detected: Value '{s}' at 'aliasName' failed to satisfy constraint: Member must satisfy regular expression pattern: ^alias/[a-zA-Z0-9/_-]+$"
            )));
        }
        Ok(Self(s.to_string()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
    pub fn is_reserved(&self) -> bool {
        self.0.starts_with(RESERVED_ALIAS_PREFIX)
    }
}

impl fmt::Display for AliasName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The ARN of a key: `arn:aws:kms:<region>:<account>:key/<id>`.
pub fn key_arn(region: &Region, account: &AccountId, key_id: &KeyId) -> String {
    format!("arn:aws:kms:{region}:{account}:key/{key_id}")
}

/// The ARN of an alias: `arn:aws:kms:<region>:<account>:alias/<name>`.
pub fn alias_arn(region: &Region, account: &AccountId, alias: &AliasName) -> String {
    format!("arn:aws:kms:{region}:{account}:{alias}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use kagi_crypto::DeterministicRng;

    #[test]
    fn key_id_round_trip() {
        let rng = DeterministicRng::dangerous_for_tests_only(3);
        let id = KeyId::generate(&rng).unwrap();
        let s = id.to_string();
        assert_eq!(s.len(), 36);
        assert_eq!(&s[14..15], "4");
        assert_eq!(KeyId::parse(&s), Some(id));
        assert_eq!(KeyId::parse(&s.to_uppercase()), Some(id));
        assert_eq!(KeyId::parse("not-a-key"), None);
        assert_eq!(KeyId::parse("1234abcd-12ab-34cd-56ef-1234567890aZ"), None);
        assert_eq!(KeyId::parse("1234abcd+12ab-34cd-56ef-1234567890ab"), None);
    }

    #[test]
    fn alias_rules() {
        assert!(AliasName::parse("alias/my-key_1/x").is_ok());
        assert!(AliasName::parse("alias/").is_err());
        assert!(AliasName::parse("my-key").is_err());
        assert!(AliasName::parse("alias/has space").is_err());
        assert!(AliasName::parse(&format!("alias/{}", "a".repeat(251))).is_err());
        assert!(AliasName::parse("alias/aws/ebs").unwrap().is_reserved());
    }

    #[test]
    fn regions_and_accounts() {
        assert!(Region::parse("us-east-1").is_some());
        assert!(Region::parse("US-east-1").is_none());
        assert!(Region::parse("").is_none());
        assert!(AccountId::parse("123456789012").is_some());
        assert!(AccountId::parse("12345678901").is_none());
        let rng = DeterministicRng::dangerous_for_tests_only(1);
        let a = AccountId::generate(&rng).unwrap();
        assert!(AccountId::parse(a.as_str()).is_some());
    }
}
