//! Signed checkpoints: the audit log's tree size and root hash, signed with the Ed25519
//! audit key, in the standard C2SP formats so that existing transparency-log tooling (Go's
//! `sumdb/note`, witnesses) can read them.
//!
//! A checkpoint is a [signed note](https://c2sp.org/signed-note) whose text is a
//! [tlog checkpoint](https://c2sp.org/tlog-checkpoint):
//!
//! ```text
//! <origin>
//! <tree size, decimal>
//! <root hash, standard base64>
//!
//! — <key name> <base64(4-byte key id || 64-byte Ed25519 signature of the three lines)>
//! ```
//!
//! The key id is `SHA-256(key name || 0x0A || 0x01 || public key)[..4]`, and a verifier
//! pins the key with the string `<key name>+<key id, 8 hex digits>+<base64(0x01 || public
//! key)>` ([`verifier_key`]).
//!
//! Parsing treats the note as hostile: it never panics, bounds the note's size and number
//! of signatures, and answers with a typed [`CheckpointError`]. Signature lines from other
//! keys (witness cosignatures, a rotated key) are ignored, as the spec requires; every line
//! from the pinned key must verify.
//!
//! Deliberately not supported: checkpoint extension lines (Kagi writes none, and a note
//! carrying some is rejected rather than partly trusted), signature types other than
//! Ed25519, several verifier keys at once, and cosigning. Consistency between two
//! checkpoints is [`crate::merkle::verify_consistency`]'s business.

use crate::merkle::Hash;
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use kagi_crypto::digest::Sha256;
use kagi_crypto::sign::{verify_ed25519, Ed25519SigningKey, ED25519_SIGNATURE_LEN};

/// Signed-note signature type byte of Ed25519.
const ALGORITHM_ED25519: u8 = 0x01;
/// The start of every signature line: em dash (U+2014), space.
const SIGNATURE_PREFIX: &str = "\u{2014} ";
/// Notes longer than this are rejected before any parsing (a checkpoint is ~200 bytes).
pub const MAX_NOTE_LEN: usize = 64 * 1024;
/// Notes with more signature lines than this are rejected (the spec asks for at least 16).
pub const MAX_SIGNATURES: usize = 100;

/// Why a checkpoint could not be built, or a note or verifier key was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckpointError {
    /// An origin that is empty or contains a control character (a newline included).
    #[error("invalid checkpoint origin: it must be non-empty and contain no control characters")]
    InvalidOrigin,
    /// A key name that is empty or contains whitespace, `+` or a control character.
    #[error(
        "invalid key name: it must be non-empty and contain no spaces, '+' or control characters"
    )]
    InvalidKeyName,
    /// A verifier key string that is not `<name>+<8 hex key id>+<base64(0x01 || key)>`.
    #[error("malformed verifier key: {0}")]
    MalformedVerifierKey(&'static str),
    /// A note or checkpoint text that does not follow the format.
    #[error("malformed checkpoint note: {0}")]
    Malformed(&'static str),
    /// A well-formed note with no signature line from the verifier's key.
    #[error("the note has no signature from the verifier key")]
    UnknownKey,
    /// A signature line from the verifier's key that does not verify.
    #[error("the signature from the verifier key does not verify")]
    BadSignature,
}

/// A signed-note key name: non-empty, without Unicode whitespace, `+` or control characters.
/// By convention a schema-less URL naming the log, e.g. `kagi.example.com/audit`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct KeyName(String);

impl KeyName {
    pub fn new(name: impl Into<String>) -> Result<Self, CheckpointError> {
        let name = name.into();
        if is_valid_key_name(&name) {
            Ok(Self(name))
        } else {
            Err(CheckpointError::InvalidKeyName)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for KeyName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

fn is_valid_key_name(name: &str) -> bool {
    !name.is_empty()
        && !name
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '+')
}

/// The state of the log at one moment: its origin (the log's name), its size and the RFC 6962
/// root of its first `size` events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    origin: String,
    size: u64,
    root: Hash,
}

impl Checkpoint {
    /// A checkpoint; `origin` must be non-empty and free of control characters (it becomes
    /// the first line of the note).
    pub fn new(origin: impl Into<String>, size: u64, root: Hash) -> Result<Self, CheckpointError> {
        let origin = origin.into();
        if origin.is_empty() || origin.chars().any(char::is_control) {
            return Err(CheckpointError::InvalidOrigin);
        }
        Ok(Self { origin, size, root })
    }

    pub fn origin(&self) -> &str {
        &self.origin
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    pub fn root(&self) -> &Hash {
        &self.root
    }

    /// The note text: the three checkpoint lines, each ending in a newline. This is what the
    /// signature covers.
    pub fn text(&self) -> String {
        format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            BASE64.encode(self.root)
        )
    }

    /// The signed note: [`Checkpoint::text`], a blank line and one signature line by `key`.
    pub fn sign(&self, key_name: &KeyName, key: &Ed25519SigningKey) -> String {
        sign_note(&self.text(), key_name, key)
    }

    /// Verifies `note` with the key pinned by `verifier_key` (see [`verifier_key`]) and
    /// returns the checkpoint it carries.
    pub fn parse_and_verify(note: &str, verifier_key: &str) -> Result<Self, CheckpointError> {
        let verifier = VerifierKey::parse(verifier_key)?;
        let text = open_note(note, &verifier)?;
        Self::parse_text(text)
    }

    /// Parses verified note text; `text` ends in a newline (checked by [`open_note`]).
    fn parse_text(text: &str) -> Result<Self, CheckpointError> {
        let body = text
            .strip_suffix('\n')
            .ok_or(CheckpointError::Malformed("text does not end in a newline"))?;
        let mut lines = body.split('\n');
        let (Some(origin), Some(size), Some(root)) = (lines.next(), lines.next(), lines.next())
        else {
            return Err(CheckpointError::Malformed(
                "a checkpoint has an origin, a size and a root hash line",
            ));
        };
        if lines.next().is_some() {
            return Err(CheckpointError::Malformed(
                "checkpoint extension lines are not supported",
            ));
        }
        if origin.is_empty() {
            return Err(CheckpointError::Malformed("empty origin"));
        }
        Ok(Self {
            origin: origin.to_owned(),
            size: parse_tree_size(size)?,
            root: parse_root_hash(root)?,
        })
    }
}

/// ASCII decimal without sign or leading zeros (`0` for the empty tree), fitting a `u64`.
fn parse_tree_size(line: &str) -> Result<u64, CheckpointError> {
    const BAD_SIZE: CheckpointError = CheckpointError::Malformed("bad tree size");
    if line.is_empty()
        || !line.bytes().all(|b| b.is_ascii_digit())
        || (line.len() > 1 && line.starts_with('0'))
    {
        return Err(BAD_SIZE);
    }
    line.parse().map_err(|_| BAD_SIZE)
}

fn parse_root_hash(line: &str) -> Result<Hash, CheckpointError> {
    const BAD_ROOT: CheckpointError = CheckpointError::Malformed("bad root hash");
    let bytes = BASE64.decode(line).map_err(|_| BAD_ROOT)?;
    // The engine only accepts canonical padding and zero trailing bits; the re-encoding check
    // makes that explicit, so that each root has exactly one accepted spelling.
    if BASE64.encode(&bytes) != line {
        return Err(BAD_ROOT);
    }
    bytes.try_into().map_err(|_| BAD_ROOT)
}

/// `SHA-256(key name || 0x0A || 0x01 || public key)[..4]`: the signed-note key id of an
/// Ed25519 key.
pub fn key_id(name: &KeyName, public_key: &[u8; 32]) -> [u8; 4] {
    let mut h = Sha256::new();
    h.update(name.as_str().as_bytes());
    h.update(b"\n");
    h.update(&[ALGORITHM_ED25519]);
    h.update(public_key);
    let digest = h.finish();
    [digest[0], digest[1], digest[2], digest[3]]
}

/// The verifier key string that pins `public_key` under `name`:
/// `<name>+<8 hex digits of the key id>+<base64(0x01 || public key)>`.
pub fn verifier_key(name: &KeyName, public_key: &[u8; 32]) -> String {
    let id = key_id(name, public_key);
    let mut typed_key = Vec::with_capacity(33);
    typed_key.push(ALGORITHM_ED25519);
    typed_key.extend_from_slice(public_key);
    format!(
        "{name}+{:08x}+{}",
        u32::from_be_bytes(id),
        BASE64.encode(typed_key)
    )
}

/// A parsed verifier key.
struct VerifierKey {
    name: String,
    id: [u8; 4],
    public_key: [u8; 32],
}

impl VerifierKey {
    fn parse(s: &str) -> Result<Self, CheckpointError> {
        use CheckpointError::MalformedVerifierKey as Bad;
        // The name holds no '+', the hex id neither; the base64 may.
        let (name, rest) = s.split_once('+').ok_or(Bad("missing '+'"))?;
        let (id_hex, key_b64) = rest.split_once('+').ok_or(Bad("missing '+'"))?;
        let name = KeyName::new(name).map_err(|_| Bad("invalid key name"))?;
        if id_hex.len() != 8 || !id_hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(Bad("key id is not 8 hex digits"));
        }
        let id = u32::from_str_radix(id_hex, 16)
            .map_err(|_| Bad("key id is not 8 hex digits"))?
            .to_be_bytes();
        let typed_key = BASE64
            .decode(key_b64)
            .map_err(|_| Bad("key is not base64"))?;
        let Some((&ALGORITHM_ED25519, public_key)) = typed_key.split_first() else {
            return Err(Bad("not an Ed25519 key"));
        };
        let public_key: [u8; 32] = public_key
            .try_into()
            .map_err(|_| Bad("Ed25519 key is not 32 bytes"))?;
        if key_id(&name, &public_key) != id {
            return Err(Bad("key id does not match the name and key"));
        }
        Ok(Self {
            name: name.0,
            id,
            public_key,
        })
    }
}

/// Signs `text` (non-empty, newline-terminated, as built by the callers above) as a
/// signed note with one signature.
fn sign_note(text: &str, key_name: &KeyName, key: &Ed25519SigningKey) -> String {
    let public_key = key.public_key();
    let mut blob = Vec::with_capacity(4 + ED25519_SIGNATURE_LEN);
    blob.extend_from_slice(&key_id(key_name, &public_key));
    blob.extend_from_slice(&key.sign(text.as_bytes()));
    format!(
        "{text}\n{SIGNATURE_PREFIX}{key_name} {}\n",
        BASE64.encode(blob)
    )
}

/// Checks the signed-note framing of untrusted `note` and its signature by `verifier`, and
/// returns the signed text (ending in a newline, without the blank separator line).
fn open_note<'a>(note: &'a str, verifier: &VerifierKey) -> Result<&'a str, CheckpointError> {
    use CheckpointError::Malformed;
    if note.len() > MAX_NOTE_LEN {
        return Err(Malformed("note too large"));
    }
    if note.bytes().any(|b| b < 0x20 && b != b'\n') {
        return Err(Malformed("control character"));
    }
    if !note.ends_with('\n') {
        return Err(Malformed("note does not end in a newline"));
    }
    // The text is separated from the signatures by the last blank line.
    let split = note
        .rfind("\n\n")
        .ok_or(Malformed("no blank line before the signatures"))?;
    let (text, signatures) = (&note[..split + 1], &note[split + 2..]);
    if signatures.is_empty() {
        return Err(Malformed("no signatures"));
    }

    let mut verified = false;
    for (count, line) in signatures.split_terminator('\n').enumerate() {
        if count >= MAX_SIGNATURES {
            return Err(Malformed("too many signatures"));
        }
        let line = line
            .strip_prefix(SIGNATURE_PREFIX)
            .ok_or(Malformed("signature line does not start with an em dash"))?;
        let (name, sig_b64) = line
            .split_once(' ')
            .ok_or(Malformed("signature line has no signature"))?;
        if !is_valid_key_name(name) || sig_b64.contains(' ') {
            return Err(Malformed("bad signature line"));
        }
        let blob = BASE64
            .decode(sig_b64)
            .map_err(|_| Malformed("signature is not base64"))?;
        if blob.len() < 5 {
            return Err(Malformed("signature too short"));
        }
        let (id, signature) = blob.split_at(4);
        if name != verifier.name || id != verifier.id {
            continue; // another key's signature: ignored, as the spec requires
        }
        if !verify_ed25519(&verifier.public_key, text.as_bytes(), signature) {
            return Err(CheckpointError::BadSignature);
        }
        verified = true;
    }
    if verified {
        Ok(text)
    } else {
        Err(CheckpointError::UnknownKey)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::merkle::MerkleTree;
    use kagi_crypto::{DeterministicRng, SecretBytes};
    use proptest::prelude::*;

    fn unhex(s: &str) -> Vec<u8> {
        kagi_crypto::digest::unhex(s).expect("test vectors are hex")
    }

    /// RFC 8032 §7.1 TEST 1 secret key.
    fn rfc8032_key() -> Ed25519SigningKey {
        Ed25519SigningKey::from_secret(&SecretBytes::new(unhex(
            "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
        )))
        .unwrap()
    }

    fn name() -> KeyName {
        KeyName::new("kagi.example/audit").unwrap()
    }

    /// The 8-leaf RFC 6962 reference tree's root (see merkle.rs).
    fn reference_root() -> Hash {
        unhex("5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328")
            .try_into()
            .unwrap()
    }

    fn checkpoint() -> Checkpoint {
        Checkpoint::new("kagi.example/audit", 8, reference_root()).unwrap()
    }

    // Pinned: a checkpoint of the RFC 6962 reference tree signed with the RFC 8032 test key.
    // Ed25519 is deterministic, so these bytes must never change. Cross-checked when written
    // with an independent implementation (Python, pyca/cryptography and hashlib).
    const KNOWN_VERIFIER_KEY: &str =
        "kagi.example/audit+61635da7+AddamAGCsQq31Uv+08lkBzoO4XLz2qYjJa8CGmj3B1Ea";
    const KNOWN_NOTE: &str = "kagi.example/audit\n\
        8\n\
        XcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=\n\
        \n\
        \u{2014} kagi.example/audit YWNdp5xZafnJ5p/bhFg/ryMTuk1PpZbxJSd4IwhPpmF58CNJkAMicoSx7xJFmoOSKb0XBRb3OQ6jUEWtko/3/LfQUA4=\n";

    #[test]
    fn known_answer_note() {
        let key = rfc8032_key();
        let vkey = verifier_key(&name(), &key.public_key());
        let note = checkpoint().sign(&name(), &key);
        assert_eq!(vkey, KNOWN_VERIFIER_KEY);
        assert_eq!(note, KNOWN_NOTE);
        assert_eq!(
            Checkpoint::parse_and_verify(KNOWN_NOTE, KNOWN_VERIFIER_KEY),
            Ok(checkpoint())
        );
    }

    // Interoperability with Go's golang.org/x/mod/sumdb/note, whose package documentation
    // signs this text with the key PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALV….
    #[test]
    fn matches_go_sumdb_note_example() {
        let skey = BASE64
            .decode("AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz")
            .unwrap();
        assert_eq!(skey[0], ALGORITHM_ED25519);
        let key = Ed25519SigningKey::from_secret(&SecretBytes::from_slice(&skey[1..])).unwrap();
        let name = KeyName::new("PeterNeumann").unwrap();
        let vkey = verifier_key(&name, &key.public_key());
        assert_eq!(
            vkey,
            "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
        );
        let text = "If you think cryptography is the answer to your problem,\n\
                    then you don't know what your problem is.\n";
        let note = sign_note(text, &name, &key);
        assert_eq!(
            note,
            format!(
                "{text}\n\u{2014} PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
            )
        );
        let verifier = VerifierKey::parse(&vkey).unwrap();
        assert_eq!(open_note(&note, &verifier), Ok(text));
    }

    #[test]
    fn round_trip_including_the_empty_tree() {
        let key =
            Ed25519SigningKey::generate(&DeterministicRng::dangerous_for_tests_only(4)).unwrap();
        let vkey = verifier_key(&name(), &key.public_key());
        let mut tree = MerkleTree::new();
        for size in 0..20u64 {
            let cp = Checkpoint::new("kagi.example/audit", size, tree.root(size).unwrap()).unwrap();
            let note = cp.sign(&name(), &key);
            assert_eq!(Checkpoint::parse_and_verify(&note, &vkey), Ok(cp));
            tree.append(crate::merkle::leaf_hash(&size.to_be_bytes()));
        }
        let big = Checkpoint::new("o", u64::MAX, [0xff; 32]).unwrap();
        assert_eq!(
            Checkpoint::parse_and_verify(&big.sign(&name(), &key), &vkey),
            Ok(big)
        );
    }

    #[test]
    fn any_modification_fails() {
        let key = rfc8032_key();
        let vkey = verifier_key(&name(), &key.public_key());
        let note = checkpoint().sign(&name(), &key);
        let root_b64 = BASE64.encode(reference_root());
        let mut other_root = reference_root();
        other_root[31] ^= 1;

        let modified = [
            note.replacen("\n8\n", "\n9\n", 1),
            note.replacen("\n8\n", "\n08\n", 1),
            note.replacen(&root_b64, &BASE64.encode(other_root), 1),
            note.replacen("kagi.example/audit\n", "kagi.example/audiT\n", 1),
        ];
        for bad in &modified {
            assert_ne!(bad, &note);
            assert_eq!(
                Checkpoint::parse_and_verify(bad, &vkey),
                Err(CheckpointError::BadSignature),
                "{bad}"
            );
        }

        // Every bit of the signature (after the key id) matters.
        let (head, sig_line) = note.rsplit_once(' ').unwrap();
        let blob = BASE64.decode(sig_line.trim_end()).unwrap();
        for i in 32..blob.len() * 8 {
            let mut bad_blob = blob.clone();
            bad_blob[i / 8] ^= 1 << (i % 8);
            let bad = format!("{head} {}\n", BASE64.encode(&bad_blob));
            assert_eq!(
                Checkpoint::parse_and_verify(&bad, &vkey),
                Err(CheckpointError::BadSignature),
                "bit {i}"
            );
        }
        // A changed key id or key name makes the signature someone else's.
        let mut bad_blob = blob.clone();
        bad_blob[0] ^= 1;
        let bad = format!("{head} {}\n", BASE64.encode(&bad_blob));
        assert_eq!(
            Checkpoint::parse_and_verify(&bad, &vkey),
            Err(CheckpointError::UnknownKey)
        );
        let renamed = note.replacen(
            "\u{2014} kagi.example/audit ",
            "\u{2014} kagi.example/other ",
            1,
        );
        assert_eq!(
            Checkpoint::parse_and_verify(&renamed, &vkey),
            Err(CheckpointError::UnknownKey)
        );
        // Truncated notes.
        for cut in 0..note.len() {
            if note.is_char_boundary(cut) {
                assert!(Checkpoint::parse_and_verify(&note[..cut], &vkey).is_err());
            }
        }
    }

    #[test]
    fn another_key_fails_and_foreign_signatures_are_ignored() {
        let key = rfc8032_key();
        let other =
            Ed25519SigningKey::generate(&DeterministicRng::dangerous_for_tests_only(9)).unwrap();
        let vkey = verifier_key(&name(), &key.public_key());
        let other_vkey = verifier_key(&name(), &other.public_key());

        let by_other = checkpoint().sign(&name(), &other);
        assert_eq!(
            Checkpoint::parse_and_verify(&by_other, &vkey),
            Err(CheckpointError::UnknownKey)
        );
        let note = checkpoint().sign(&name(), &key);
        assert_eq!(
            Checkpoint::parse_and_verify(&note, &other_vkey),
            Err(CheckpointError::UnknownKey)
        );

        // A cosignature by an unknown key next to ours is ignored, in either order.
        let theirs = by_other.rsplit_once("\n\n").unwrap().1;
        let (text, ours) = note.rsplit_once("\n\n").unwrap();
        for sigs in [format!("{ours}{theirs}"), format!("{theirs}{ours}")] {
            let both = format!("{text}\n\n{sigs}");
            assert_eq!(Checkpoint::parse_and_verify(&both, &vkey), Ok(checkpoint()));
            assert_eq!(
                Checkpoint::parse_and_verify(&both, &other_vkey),
                Ok(checkpoint())
            );
        }

        // Other key, same name and forged key id: the signature is checked, and fails.
        let their_sig = theirs.rsplit_once(' ').unwrap().1.trim_end();
        let mut blob = BASE64.decode(their_sig).unwrap();
        blob[..4].copy_from_slice(&key_id(&name(), &key.public_key()));
        let forged = by_other.replacen(their_sig, &BASE64.encode(blob), 1);
        assert_eq!(
            Checkpoint::parse_and_verify(&forged, &vkey),
            Err(CheckpointError::BadSignature)
        );
    }

    #[test]
    fn malformed_notes_and_keys_are_typed_errors() {
        let key = rfc8032_key();
        let vkey = verifier_key(&name(), &key.public_key());
        let note = checkpoint().sign(&name(), &key);
        let malformed = |s: &str| {
            matches!(
                Checkpoint::parse_and_verify(s, &vkey),
                Err(CheckpointError::Malformed(_))
            )
        };
        assert!(malformed(""));
        assert!(malformed("\n"));
        assert!(malformed(&note.replacen("\n\n", "\n", 1)));
        assert!(malformed(&note.replace('\n', "\r\n")));
        assert!(malformed(&note.replacen('\u{2014}', "--", 1)));
        assert!(malformed(&note.replacen('\u{2014}', "\u{2014}\u{2014}", 1)));
        assert!(malformed(&format!("{note}\n")));
        assert!(malformed(&format!("{note}garbage\n")));
        assert!(malformed(&" ".repeat(MAX_NOTE_LEN + 1)));

        // A checkpoint text that is signed but not a valid checkpoint.
        let root = "XcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=";
        for (text, reason) in [
            (
                "kagi.example/audit\n8\n".to_owned(),
                "a checkpoint has an origin, a size and a root hash line",
            ),
            (
                format!("kagi.example/audit\n8\n{root}\nextension\n"),
                "checkpoint extension lines are not supported",
            ),
            (format!("kagi.example/audit\n+8\n{root}\n"), "bad tree size"),
            (format!("kagi.example/audit\n08\n{root}\n"), "bad tree size"),
            (format!("kagi.example/audit\n\n{root}\n"), "bad tree size"),
            (
                format!("kagi.example/audit\n18446744073709551616\n{root}\n"),
                "bad tree size",
            ),
            (
                format!("kagi.example/audit\n8\n{}\n", root.trim_end_matches('=')),
                "bad root hash",
            ),
            (
                format!("kagi.example/audit\n8\n{}h=\n", &root[..root.len() - 2]),
                "bad root hash",
            ),
            ("kagi.example/audit\n8\nAAAA\n".to_owned(), "bad root hash"),
            (format!("\n8\n{root}\n"), "empty origin"),
        ] {
            let signed = sign_note(&text, &name(), &key);
            assert_eq!(
                Checkpoint::parse_and_verify(&signed, &vkey),
                Err(CheckpointError::Malformed(reason)),
                "{text:?}"
            );
        }

        let bad_key = |s: &str| {
            matches!(
                Checkpoint::parse_and_verify(&note, s),
                Err(CheckpointError::MalformedVerifierKey(_))
            )
        };
        assert!(bad_key(""));
        assert!(bad_key("kagi.example/audit"));
        assert!(bad_key(&vkey.replacen('+', "+0", 1)));
        assert!(bad_key(&vkey.replacen("kagi", "kagj", 1))); // key id no longer matches
        assert!(bad_key(&vkey.replacen("+A", "+B", 1))); // signature type 0x05
        assert!(bad_key(&format!("{vkey}AA")));
        assert!(bad_key(&format!(
            "kagi example{}",
            &vkey["kagi.example".len()..]
        )));
        // Hex case is not significant.
        let (n, rest) = vkey.split_once('+').unwrap();
        let (id, k) = rest.split_once('+').unwrap();
        let upper = format!("{n}+{}+{k}", id.to_uppercase());
        assert_eq!(
            Checkpoint::parse_and_verify(&note, &upper),
            Ok(checkpoint())
        );
    }

    #[test]
    fn names_and_origins_are_validated() {
        for bad in ["", "a b", "a+b", "a\nb", "a\tb", "a\u{a0}b", "\u{2003}"] {
            assert_eq!(
                KeyName::new(bad),
                Err(CheckpointError::InvalidKeyName),
                "{bad:?}"
            );
        }
        assert!(KeyName::new("kagi.example.com/audit").is_ok());
        for bad in ["", "a\nb", "a\rb", "\u{7f}"] {
            assert_eq!(
                Checkpoint::new(bad, 0, [0; 32]),
                Err(CheckpointError::InvalidOrigin),
                "{bad:?}"
            );
        }
        assert!(Checkpoint::new("an origin with spaces", 0, [0; 32]).is_ok());
    }

    proptest! {
        #[test]
        fn arbitrary_input_never_panics(note in ".{0,300}", vkey in ".{0,120}") {
            let _ = Checkpoint::parse_and_verify(&note, &vkey);
        }

        #[test]
        fn note_shaped_input_never_panics(
            text in "[a-z./ ]{0,12}\n[0-9+]{0,22}\n[A-Za-z0-9+/=]{0,48}\n([a-z]{0,3}\n)?",
            sigs in "(\u{2014} [a-z./+ ]{0,20} [A-Za-z0-9+/=]{0,100}\n){0,3}",
            separator in "\n{0,2}",
        ) {
            let key = rfc8032_key();
            let vkey = verifier_key(&name(), &key.public_key());
            let _ = Checkpoint::parse_and_verify(&format!("{text}{separator}{sigs}"), &vkey);
            // Well-signed arbitrary text exercises the checkpoint text parser.
            let signed = sign_note(&text, &name(), &key);
            let _ = Checkpoint::parse_and_verify(&signed, &vkey);
        }

        #[test]
        fn any_single_character_change_is_rejected(
            position in any::<prop::sample::Index>(),
            replacement in any::<char>(),
        ) {
            let key = rfc8032_key();
            let vkey = verifier_key(&name(), &key.public_key());
            let note = checkpoint().sign(&name(), &key);
            let chars: Vec<char> = note.chars().collect();
            let i = position.index(chars.len());
            prop_assume!(chars[i] != replacement);
            let mut changed = chars.clone();
            changed[i] = replacement;
            let changed: String = changed.into_iter().collect();
            prop_assert!(Checkpoint::parse_and_verify(&changed, &vkey).is_err(), "{changed:?}");
        }
    }
}
