//! Lowercase hexadecimal for SHA-256 digests and signatures: encoding into fixed-size
//! buffers (no allocation) and decoding a 64-digit signature.
//!
//! Only what SigV4 needs; this is not a general-purpose hex codec.

const DIGITS: &[u8; 16] = b"0123456789abcdef";

/// The lowercase hex form of a 32-byte digest, kept on the stack.
#[derive(Clone, Copy)]
pub(crate) struct Hex64([u8; 64]);

impl Hex64 {
    pub(crate) fn encode(bytes: &[u8; 32]) -> Self {
        let mut out = [0u8; 64];
        for (pair, b) in out.chunks_exact_mut(2).zip(bytes) {
            pair[0] = DIGITS[usize::from(b >> 4)];
            pair[1] = DIGITS[usize::from(b & 0x0f)];
        }
        Self(out)
    }

    pub(crate) fn as_str(&self) -> &str {
        // Built only from ASCII hex digits, so always UTF-8.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

/// Decodes exactly 64 hex digits (either case) into 32 bytes.
pub(crate) fn decode_32(s: &str) -> Option<[u8; 32]> {
    let s = s.as_bytes();
    if s.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (byte, pair) in out.iter_mut().zip(s.chunks_exact(2)) {
        *byte = (nibble(pair[0])? << 4) | nibble(pair[1])?;
    }
    Some(out)
}

/// Appends `%XX` (uppercase hex, as SigV4 requires) for `b`.
pub(crate) fn push_percent_encoded(out: &mut Vec<u8>, b: u8) {
    const UPPER: &[u8; 16] = b"0123456789ABCDEF";
    out.extend_from_slice(&[
        b'%',
        UPPER[usize::from(b >> 4)],
        UPPER[usize::from(b & 0x0f)],
    ]);
}

/// The value of one hex digit of either case.
pub(crate) fn nibble(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let mut bytes = [0u8; 32];
        for (i, b) in bytes.iter_mut().enumerate() {
            *b = (i as u8).wrapping_mul(37);
        }
        let hex = Hex64::encode(&bytes);
        assert_eq!(&hex.as_str()[..8], "00254a6f");
        assert_eq!(decode_32(hex.as_str()), Some(bytes));
        assert_eq!(decode_32(&hex.as_str().to_uppercase()), Some(bytes));
    }

    #[test]
    fn rejects_bad_input() {
        assert_eq!(decode_32(""), None);
        assert_eq!(decode_32(&"0".repeat(63)), None);
        assert_eq!(decode_32(&"0".repeat(65)), None);
        assert_eq!(decode_32(&format!("{}g", "0".repeat(63))), None);
        assert_eq!(decode_32(&format!("{}é", "0".repeat(62))), None);
    }

    #[test]
    fn percent_encoding_is_uppercase() {
        let mut out = Vec::new();
        push_percent_encoded(&mut out, 0xe1);
        push_percent_encoded(&mut out, b' ');
        assert_eq!(out, b"%E1%20");
    }
}
