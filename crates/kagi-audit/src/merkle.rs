//! The RFC 6962 Merkle tree over the audit log, and the proofs that make it tamper-evident.
//!
//! Hashing is RFC 6962 §2.1 (SHA-256): a leaf hashes as `SHA-256(0x00 || leaf)`, an interior
//! node as `SHA-256(0x01 || left || right)`, the empty tree as `SHA-256("")`, and a tree of
//! `n > 1` leaves splits at the largest power of two smaller than `n`.
//!
//! [`MerkleTree`] is the log's in-memory tree: append-only, it keeps the hash of every
//! complete, aligned subtree (a perfect subtree of `2^k` leaves starting at a multiple of
//! `2^k`), so the root of *any* earlier size, an inclusion proof and a consistency proof each
//! cost O(log n) hashes and never re-hash the log. That is about 64 bytes of memory per leaf
//! (32 for the leaf hash, 32 for the levels above it): 64 MB per million events. For very
//! large logs the plan is to keep these levels on disk as tiles (C2SP tlog-tiles) instead.
//!
//! [`verify_inclusion`] and [`verify_consistency`] are pure functions for the offline
//! verifier, written from the algorithms of RFC 9162 §2.1.3.2 and §2.1.4.2.
//!
//! Deliberately not here: what a leaf is (the log decides which canonical bytes it hashes),
//! persistence of the tree (it is rebuilt from the log's leaf hashes with
//! [`MerkleTree::from_leaf_hashes`]), signatures (see [`crate::checkpoint`]), and any proof
//! wire format.

use kagi_crypto::digest::{sha256, Sha256};

/// A SHA-256 hash: a leaf hash, an interior node or a tree root.
pub type Hash = [u8; 32];

/// `SHA-256(0x00 || leaf)`: the hash of one log entry.
pub fn leaf_hash(leaf: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update(&[0x00]);
    h.update(leaf);
    h.finish()
}

/// `SHA-256(0x01 || left || right)`: the hash of an interior node.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update(&[0x01]);
    h.update(left);
    h.update(right);
    h.finish()
}

/// The root of the empty tree, `SHA-256("")`.
pub fn empty_root() -> Hash {
    sha256(b"")
}

/// Why a proof or root could not be produced. Verification never errors: it answers `false`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MerkleError {
    /// A tree size larger than the number of leaves appended so far.
    #[error("tree size {requested} exceeds the {available} leaves in the tree")]
    SizeBeyondTree { requested: u64, available: u64 },
    /// A leaf index that is not inside the tree of the given size.
    #[error("leaf index {index} is not below tree size {size}")]
    IndexOutOfRange { index: u64, size: u64 },
    /// A consistency proof asked from a larger tree to a smaller one.
    #[error("old tree size {old_size} exceeds new tree size {new_size}")]
    OldSizeExceedsNew { old_size: u64, new_size: u64 },
}

/// An append-only RFC 6962 Merkle tree of leaf hashes.
///
/// Invariant: `levels[k]` holds, in order, the hash of every complete aligned subtree of
/// `2^k` leaves, i.e. `levels[k].len() == len >> k` for every stored level, and
/// `levels[0]` holds the leaf hashes themselves.
#[derive(Debug, Clone, Default)]
pub struct MerkleTree {
    levels: Vec<Vec<Hash>>,
}

impl MerkleTree {
    /// The empty tree.
    pub fn new() -> Self {
        Self::default()
    }

    /// Rebuilds the tree from the leaf hashes of the log, in log order (at start-up).
    pub fn from_leaf_hashes<I: IntoIterator<Item = Hash>>(leaf_hashes: I) -> Self {
        let mut tree = Self::new();
        for h in leaf_hashes {
            tree.append(h);
        }
        tree
    }

    /// Number of leaves.
    pub fn len(&self) -> u64 {
        self.levels.first().map_or(0, |l| l.len() as u64)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The leaf hash at `index`, if there is one.
    pub fn leaf_hash(&self, index: u64) -> Option<Hash> {
        let index = usize::try_from(index).ok()?;
        self.levels.first()?.get(index).copied()
    }

    /// Appends a leaf hash (see [`leaf_hash`]) and returns its index. Amortised one node
    /// hash per append, at most log2(n) when it completes a large subtree.
    pub fn append(&mut self, leaf_hash: Hash) -> u64 {
        if self.levels.is_empty() {
            self.levels.push(Vec::new());
        }
        self.levels[0].push(leaf_hash);
        let index = self.levels[0].len() as u64 - 1;
        let mut level = 0;
        // Each time a level gets an even number of nodes, its last two complete a node of
        // the level above.
        while self.levels[level].len().is_multiple_of(2) {
            let nodes = &self.levels[level];
            let parent = node_hash(&nodes[nodes.len() - 2], &nodes[nodes.len() - 1]);
            if self.levels.len() == level + 1 {
                self.levels.push(Vec::new());
            }
            self.levels[level + 1].push(parent);
            level += 1;
        }
        index
    }

    /// The root hash of the tree made of the first `size` leaves (any size up to
    /// [`MerkleTree::len`]; `0` gives [`empty_root`]).
    pub fn root(&self, size: u64) -> Result<Hash, MerkleError> {
        self.check_size(size)?;
        Ok(if size == 0 {
            empty_root()
        } else {
            self.range_hash(0, size)
        })
    }

    /// The RFC 6962 §2.1.1 audit path of leaf `index` in the tree of the first `size` leaves,
    /// ordered from the leaf's sibling up to the root's child.
    pub fn inclusion_proof(&self, index: u64, size: u64) -> Result<Vec<Hash>, MerkleError> {
        self.check_size(size)?;
        if index >= size {
            return Err(MerkleError::IndexOutOfRange { index, size });
        }
        // Walk down from the root, remembering the sibling of each subtree that holds
        // `index`; the proof lists them bottom-up.
        let mut proof = Vec::new();
        let (mut start, mut end) = (0, size);
        while end - start > 1 {
            let k = largest_power_of_two_below(end - start);
            if index < start + k {
                proof.push(self.range_hash(start + k, end));
                end = start + k;
            } else {
                proof.push(self.range_hash(start, start + k));
                start += k;
            }
        }
        proof.reverse();
        Ok(proof)
    }

    /// The RFC 6962 §2.1.2 consistency proof that the tree of the first `old_size` leaves is
    /// a prefix of the tree of the first `new_size`. Empty when `old_size` is `0` or equal to
    /// `new_size` (those are consistent by definition).
    pub fn consistency_proof(
        &self,
        old_size: u64,
        new_size: u64,
    ) -> Result<Vec<Hash>, MerkleError> {
        self.check_size(new_size)?;
        if old_size > new_size {
            return Err(MerkleError::OldSizeExceedsNew { old_size, new_size });
        }
        if old_size == 0 || old_size == new_size {
            return Ok(Vec::new());
        }
        // SUBPROOF(m, D[start:end], whole) of RFC 6962, unrolled: `m` counts the old leaves
        // inside the current range, `whole` says the old tree is exactly the left part seen
        // so far (its root is then known to the verifier and is not sent).
        let mut proof = Vec::new();
        let (mut start, mut end, mut m, mut whole) = (0, new_size, old_size, true);
        while m != end - start {
            let k = largest_power_of_two_below(end - start);
            if m <= k {
                proof.push(self.range_hash(start + k, end));
                end = start + k;
            } else {
                proof.push(self.range_hash(start, start + k));
                start += k;
                m -= k;
                whole = false;
            }
        }
        if !whole {
            proof.push(self.range_hash(start, end));
        }
        proof.reverse();
        Ok(proof)
    }

    fn check_size(&self, size: u64) -> Result<(), MerkleError> {
        let available = self.len();
        if size > available {
            return Err(MerkleError::SizeBeyondTree {
                requested: size,
                available,
            });
        }
        Ok(())
    }

    /// The RFC 6962 hash of leaves `[start, end)`, for `start < end <= len` with `start` a
    /// multiple of a power of two `>= end - start` (true of every range the RFC's recursion
    /// visits). Such a range is a run of stored aligned subtrees of decreasing size, one per
    /// set bit of `end - start`; its hash folds them from the right.
    fn range_hash(&self, start: u64, end: u64) -> Hash {
        debug_assert!(start < end && end <= self.len());
        let mut acc: Option<Hash> = None;
        let mut right = end;
        let mut width = end - start;
        while width != 0 {
            let level = width.trailing_zeros() as usize;
            let piece_start = right - (1u64 << level);
            debug_assert!(piece_start.is_multiple_of(1u64 << level), "unaligned range");
            // In bounds by the struct invariant: the piece is complete since `right <= len`.
            let piece = self.levels[level][(piece_start >> level) as usize];
            acc = Some(match acc {
                None => piece,
                Some(r) => node_hash(&piece, &r),
            });
            right = piece_start;
            width &= width - 1;
        }
        // `width` started non-zero, so the loop ran at least once.
        acc.unwrap_or_else(empty_root)
    }
}

/// The largest power of two strictly smaller than `n` (for `n >= 2`): RFC 6962's split.
fn largest_power_of_two_below(n: u64) -> u64 {
    debug_assert!(n >= 2);
    1u64 << (63 - (n - 1).leading_zeros())
}

/// Whether `proof` shows that `leaf_hash` is leaf `index` of the tree of `size` leaves whose
/// root is `root` (RFC 9162 §2.1.3.2).
pub fn verify_inclusion(
    leaf_hash: &Hash,
    index: u64,
    size: u64,
    proof: &[Hash],
    root: &Hash,
) -> bool {
    if index >= size {
        return false;
    }
    let (mut f_n, mut s_n) = (index, size - 1);
    let mut r = *leaf_hash;
    for p in proof {
        if s_n == 0 {
            return false;
        }
        if f_n & 1 == 1 || f_n == s_n {
            r = node_hash(p, &r);
            // A right-edge node with no right sibling: climb until it is a right child.
            while f_n & 1 == 0 && f_n != 0 {
                f_n >>= 1;
                s_n >>= 1;
            }
        } else {
            r = node_hash(&r, p);
        }
        f_n >>= 1;
        s_n >>= 1;
    }
    s_n == 0 && r == *root
}

/// Whether `proof` shows that the tree of `old_size` leaves with root `old_root` is a prefix
/// of the tree of `new_size` leaves with root `new_root` (RFC 9162 §2.1.4.2).
///
/// A tree is consistent with itself (`old_size == new_size`: equal roots, empty proof) and
/// the empty tree with every tree (`old_size == 0`: `old_root` must be [`empty_root`],
/// empty proof).
pub fn verify_consistency(
    old_size: u64,
    new_size: u64,
    old_root: &Hash,
    new_root: &Hash,
    proof: &[Hash],
) -> bool {
    if old_size > new_size {
        return false;
    }
    if old_size == new_size {
        return proof.is_empty() && old_root == new_root;
    }
    if old_size == 0 {
        return proof.is_empty() && *old_root == empty_root();
    }
    // When the old tree is a complete subtree its root is the first node of the path; the
    // RFC leaves it out of the proof, so put it back.
    let (first, rest) = if old_size.is_power_of_two() {
        (old_root, proof)
    } else {
        match proof.split_first() {
            Some(split) => split,
            None => return false,
        }
    };
    let (mut f_n, mut s_n) = (old_size - 1, new_size - 1);
    while f_n & 1 == 1 {
        f_n >>= 1;
        s_n >>= 1;
    }
    let (mut f_r, mut s_r) = (*first, *first);
    for c in rest {
        if s_n == 0 {
            return false;
        }
        if f_n & 1 == 1 || f_n == s_n {
            f_r = node_hash(c, &f_r);
            s_r = node_hash(c, &s_r);
            while f_n & 1 == 0 && f_n != 0 {
                f_n >>= 1;
                s_n >>= 1;
            }
        } else {
            s_r = node_hash(&s_r, c);
        }
        f_n >>= 1;
        s_n >>= 1;
    }
    f_r == *old_root && s_r == *new_root && s_n == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn unhex(s: &str) -> Vec<u8> {
        kagi_crypto::digest::unhex(s).expect("test vectors are hex")
    }

    fn h(s: &str) -> Hash {
        unhex(s).try_into().unwrap()
    }

    // The RFC 6962 reference tree used by certificate-transparency implementations
    // (transparency-dev/merkle proof/verify_test.go, after CT's merkle_tree_test.cc).
    const LEAVES: [&str; 8] = [
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    ];

    /// Roots of the trees of the first 1..=8 leaves.
    const ROOTS: [&str; 8] = [
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    ];

    /// (leaf index, tree size, audit path)
    const INCLUSION: [(u64, u64, &[&str]); 4] = [
        (
            0,
            8,
            &[
                "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
            ],
        ),
        (
            5,
            8,
            &[
                "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            ],
        ),
        (
            2,
            3,
            &["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"],
        ),
        (
            1,
            5,
            &[
                "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            ],
        ),
    ];

    /// (old size, new size, consistency proof)
    const CONSISTENCY: [(u64, u64, &[&str]); 5] = [
        (1, 1, &[]),
        (
            1,
            8,
            &[
                "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
            ],
        ),
        (
            6,
            8,
            &[
                "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
                "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            ],
        ),
        (
            2,
            5,
            &[
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            ],
        ),
        (
            6,
            7,
            &[
                "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
                "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
                "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            ],
        ),
    ];

    fn reference_tree() -> MerkleTree {
        MerkleTree::from_leaf_hashes(LEAVES.iter().map(|l| leaf_hash(&unhex(l))))
    }

    fn hashes(hex: &[&str]) -> Vec<Hash> {
        hex.iter().map(|s| h(s)).collect()
    }

    #[test]
    fn empty_tree_and_leaf_hash_known_answers() {
        assert_eq!(
            empty_root(),
            h("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        );
        assert_eq!(MerkleTree::new().root(0), Ok(empty_root()));
        // The root of a one-leaf tree is its leaf hash: SHA-256(0x00).
        assert_eq!(leaf_hash(b""), h(ROOTS[0]));
    }

    #[test]
    fn reference_roots() {
        let tree = reference_tree();
        for (size, root) in (1..=8).zip(ROOTS) {
            assert_eq!(tree.root(size).unwrap(), h(root), "size {size}");
        }
        // Growing one leaf at a time gives the same roots.
        let mut grown = MerkleTree::new();
        for (leaf, root) in LEAVES.iter().zip(ROOTS) {
            grown.append(leaf_hash(&unhex(leaf)));
            assert_eq!(grown.root(grown.len()).unwrap(), h(root));
        }
    }

    #[test]
    fn reference_inclusion_proofs() {
        let tree = reference_tree();
        for (index, size, path) in INCLUSION {
            let proof = tree.inclusion_proof(index, size).unwrap();
            assert_eq!(proof, hashes(path), "index {index} size {size}");
            let leaf = tree.leaf_hash(index).unwrap();
            let root = h(ROOTS[size as usize - 1]);
            assert!(verify_inclusion(&leaf, index, size, &proof, &root));
            // Wrong index, wrong size, truncated or extended proofs all fail.
            assert!(!verify_inclusion(&leaf, index ^ 1, size, &proof, &root));
            assert!(!verify_inclusion(&leaf, index, size * 2, &proof, &root));
            assert!(!verify_inclusion(&leaf, index, size / 2, &proof, &root));
            assert!(!verify_inclusion(
                &leaf,
                index,
                size,
                &proof[..proof.len() - 1],
                &root
            ));
            let mut longer = proof.clone();
            longer.push(root);
            assert!(!verify_inclusion(&leaf, index, size, &longer, &root));
        }
    }

    #[test]
    fn reference_consistency_proofs() {
        let tree = reference_tree();
        for (old, new, path) in CONSISTENCY {
            let proof = tree.consistency_proof(old, new).unwrap();
            assert_eq!(proof, hashes(path), "{old} -> {new}");
            let old_root = h(ROOTS[old as usize - 1]);
            let new_root = h(ROOTS[new as usize - 1]);
            assert!(verify_consistency(old, new, &old_root, &new_root, &proof));
            if old != new {
                assert!(!verify_consistency(old, new, &new_root, &old_root, &proof));
                assert!(!verify_consistency(old, new, &old_root, &new_root, &[]));
                assert!(!verify_consistency(
                    old,
                    new,
                    &old_root,
                    &new_root,
                    &proof[..proof.len() - 1]
                ));
                let mut preceded = vec![proof[0]];
                preceded.extend_from_slice(&proof);
                assert!(!verify_consistency(
                    old, new, &old_root, &new_root, &preceded
                ));
            }
        }
    }

    #[test]
    fn trivial_consistency_and_bad_arguments() {
        let tree = reference_tree();
        let r8 = h(ROOTS[7]);
        assert_eq!(tree.consistency_proof(0, 8), Ok(vec![]));
        assert!(verify_consistency(0, 8, &empty_root(), &r8, &[]));
        assert!(!verify_consistency(0, 8, &r8, &r8, &[]));
        assert!(!verify_consistency(0, 8, &empty_root(), &r8, &[r8]));
        assert!(verify_consistency(8, 8, &r8, &r8, &[]));
        assert!(!verify_consistency(8, 8, &r8, &r8, &[r8]));
        assert!(!verify_consistency(8, 7, &r8, &r8, &[]));
        assert!(!verify_inclusion(&r8, 0, 0, &[], &r8));

        assert_eq!(
            tree.root(9),
            Err(MerkleError::SizeBeyondTree {
                requested: 9,
                available: 8
            })
        );
        assert_eq!(
            tree.inclusion_proof(3, 3),
            Err(MerkleError::IndexOutOfRange { index: 3, size: 3 })
        );
        assert!(tree.inclusion_proof(0, 9).is_err());
        assert_eq!(
            tree.consistency_proof(5, 4),
            Err(MerkleError::OldSizeExceedsNew {
                old_size: 5,
                new_size: 4
            })
        );
        assert!(tree.consistency_proof(1, 9).is_err());
        assert_eq!(tree.leaf_hash(8), None);
    }

    // Direct transcriptions of RFC 6962 §2.1's recursive definitions, over all leaf hashes,
    // as the oracle for the incremental tree.
    fn naive_root(leaves: &[Hash]) -> Hash {
        match leaves.len() {
            0 => empty_root(),
            1 => leaves[0],
            n => {
                let k = largest_power_of_two_below(n as u64) as usize;
                node_hash(&naive_root(&leaves[..k]), &naive_root(&leaves[k..]))
            }
        }
    }

    fn naive_path(m: usize, leaves: &[Hash]) -> Vec<Hash> {
        let n = leaves.len();
        if n <= 1 {
            return vec![];
        }
        let k = largest_power_of_two_below(n as u64) as usize;
        if m < k {
            let mut p = naive_path(m, &leaves[..k]);
            p.push(naive_root(&leaves[k..]));
            p
        } else {
            let mut p = naive_path(m - k, &leaves[k..]);
            p.push(naive_root(&leaves[..k]));
            p
        }
    }

    fn naive_subproof(m: usize, leaves: &[Hash], whole: bool) -> Vec<Hash> {
        let n = leaves.len();
        if m == n {
            return if whole {
                vec![]
            } else {
                vec![naive_root(leaves)]
            };
        }
        let k = largest_power_of_two_below(n as u64) as usize;
        if m <= k {
            let mut p = naive_subproof(m, &leaves[..k], whole);
            p.push(naive_root(&leaves[k..]));
            p
        } else {
            let mut p = naive_subproof(m - k, &leaves[k..], false);
            p.push(naive_root(&leaves[..k]));
            p
        }
    }

    fn tree_of(n: usize) -> (Vec<Hash>, MerkleTree) {
        let leaves: Vec<Hash> = (0..n as u64).map(|i| leaf_hash(&i.to_be_bytes())).collect();
        let tree = MerkleTree::from_leaf_hashes(leaves.iter().copied());
        (leaves, tree)
    }

    fn flip(h: &Hash, bit: usize) -> Hash {
        let mut out = *h;
        out[bit / 8 % 32] ^= 1 << (bit % 8);
        out
    }

    #[test]
    fn proofs_match_the_rfc_definitions_for_all_small_trees() {
        let (leaves, tree) = tree_of(70);
        for n in 0..=70usize {
            let root = tree.root(n as u64).unwrap();
            assert_eq!(root, naive_root(&leaves[..n]), "root({n})");
            for m in 0..n {
                let proof = tree.inclusion_proof(m as u64, n as u64).unwrap();
                assert_eq!(proof, naive_path(m, &leaves[..n]), "PATH({m}, {n})");
                assert!(verify_inclusion(
                    &leaves[m], m as u64, n as u64, &proof, &root
                ));
            }
            for m in 1..=n {
                let proof = tree.consistency_proof(m as u64, n as u64).unwrap();
                let expected = if m == n {
                    vec![]
                } else {
                    naive_subproof(m, &leaves[..n], true)
                };
                assert_eq!(proof, expected, "PROOF({m}, {n})");
                let old_root = tree.root(m as u64).unwrap();
                assert!(verify_consistency(
                    m as u64, n as u64, &old_root, &root, &proof
                ));
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]

        #[test]
        fn roots_match_the_recursive_definition(n in 0usize..=300) {
            let (leaves, tree) = tree_of(n);
            for size in 0..=n {
                prop_assert_eq!(tree.root(size as u64).unwrap(), naive_root(&leaves[..size]));
            }
        }

        #[test]
        fn every_inclusion_proof_verifies_and_any_flip_fails(n in 1usize..=300, bit in 0usize..256) {
            let (leaves, tree) = tree_of(n);
            let size = n as u64;
            let root = tree.root(size).unwrap();
            for index in 0..size {
                let leaf = &leaves[index as usize];
                let proof = tree.inclusion_proof(index, size).unwrap();
                prop_assert!(verify_inclusion(leaf, index, size, &proof, &root));
                prop_assert!(!verify_inclusion(&flip(leaf, bit), index, size, &proof, &root));
                prop_assert!(!verify_inclusion(leaf, index, size, &proof, &flip(&root, bit)));
                for i in 0..proof.len() {
                    let mut bad = proof.clone();
                    bad[i] = flip(&bad[i], bit);
                    prop_assert!(!verify_inclusion(leaf, index, size, &bad, &root));
                }
                if index + 1 < size {
                    prop_assert!(!verify_inclusion(leaf, index + 1, size, &proof, &root));
                }
            }
        }

        #[test]
        fn consistency_proofs_verify_and_any_flip_fails(
            n in 1usize..=300,
            pairs in proptest::collection::vec((any::<prop::sample::Index>(), any::<prop::sample::Index>()), 1..40),
            bit in 0usize..256,
        ) {
            let (_, tree) = tree_of(n);
            for (a, b) in pairs {
                let (x, y) = (a.index(n + 1) as u64, b.index(n + 1) as u64);
                let (old, new) = (x.min(y), x.max(y));
                let proof = tree.consistency_proof(old, new).unwrap();
                let (old_root, new_root) = (tree.root(old).unwrap(), tree.root(new).unwrap());
                prop_assert!(verify_consistency(old, new, &old_root, &new_root, &proof));
                if old == new {
                    continue;
                }
                prop_assert!(!verify_consistency(old, new, &flip(&old_root, bit), &new_root, &proof));
                if old == 0 {
                    // The empty tree is a prefix of every tree: nothing binds the new root.
                    continue;
                }
                prop_assert!(!verify_consistency(old, new, &old_root, &flip(&new_root, bit), &proof));
                for i in 0..proof.len() {
                    let mut bad = proof.clone();
                    bad[i] = flip(&bad[i], bit);
                    prop_assert!(!verify_consistency(old, new, &old_root, &new_root, &bad));
                }
                if old > 1 {
                    // A proof for one size is not a proof for its neighbour.
                    let other_root = tree.root(old - 1).unwrap();
                    prop_assert!(!verify_consistency(old - 1, new, &other_root, &new_root, &proof));
                }
            }
        }
    }
}
