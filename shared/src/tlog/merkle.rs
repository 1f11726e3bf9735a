//! RFC 6962 / RFC 9162 Merkle trees: hashing, proof construction (the fake log) and proof
//! verification (the lake's checks), written from RFC 9162 §2.1 and spec §7.17.1.

use sha2::{Digest, Sha256};

/// A SHA-256 tree hash.
pub type Hash = [u8; 32];

/// Why a proof did not verify. Every variant is terminal: the same proof never verifies later.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    #[error("leaf index {index} is not inside a tree of size {size}")]
    IndexBeyondTree { index: u64, size: u64 },
    #[error("a tree of size {to} cannot extend one of size {from}")]
    Shrunk { from: u64, to: u64 },
    #[error("the proof has {got} hashes; a tree of this shape needs {want}")]
    WrongLength { got: usize, want: usize },
    #[error("the proof does not lead to the checkpoint's root hash")]
    RootMismatch,
    #[error("the proof does not reproduce the older checkpoint's root hash")]
    OldRootMismatch,
    #[error("two checkpoints of size {size} carry different root hashes")]
    SameSizeDifferentRoot { size: u64 },
}

/// `SHA-256(0x00 ‖ entry)`.
pub fn leaf_hash(entry: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(entry);
    h.finalize().into()
}

/// `SHA-256(0x01 ‖ left ‖ right)`.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// The root of an empty tree: SHA-256 of the empty string.
pub fn empty_root() -> Hash {
    Sha256::digest([]).into()
}

/// The largest power of two strictly smaller than `n` (`n ≥ 2`).
fn split(n: usize) -> usize {
    let mut k = 1;
    while k << 1 < n {
        k <<= 1;
    }
    k
}

/// MTH over leaf hashes (RFC 9162 §2.1.1).
pub fn root(leaves: &[Hash]) -> Hash {
    match leaves.len() {
        0 => empty_root(),
        1 => leaves[0],
        n => {
            let k = split(n);
            node_hash(&root(&leaves[..k]), &root(&leaves[k..]))
        }
    }
}

/// The audit path of leaf `index` (RFC 9162 §2.1.3.1), leaf to root. `index < leaves.len()`.
pub fn inclusion_proof(leaves: &[Hash], index: usize) -> Vec<Hash> {
    let n = leaves.len();
    if n <= 1 || index >= n {
        return vec![];
    }
    let k = split(n);
    if index < k {
        let mut p = inclusion_proof(&leaves[..k], index);
        p.push(root(&leaves[k..]));
        p
    } else {
        let mut p = inclusion_proof(&leaves[k..], index - k);
        p.push(root(&leaves[..k]));
        p
    }
}

/// The consistency proof from the first `m` leaves to all of them (RFC 9162 §2.1.4.1).
pub fn consistency_proof(leaves: &[Hash], m: usize) -> Vec<Hash> {
    if m == 0 || m >= leaves.len() {
        return vec![];
    }
    subproof(m, leaves, true)
}

fn subproof(m: usize, leaves: &[Hash], complete: bool) -> Vec<Hash> {
    let n = leaves.len();
    if m == n {
        return if complete { vec![] } else { vec![root(leaves)] };
    }
    let k = split(n);
    if m <= k {
        let mut p = subproof(m, &leaves[..k], complete);
        p.push(root(&leaves[k..]));
        p
    } else {
        let mut p = subproof(m - k, &leaves[k..], false);
        p.push(root(&leaves[..k]));
        p
    }
}

/// Verifies that `leaf` sits at `index` of the tree (`size`, `root`) (RFC 9162 §2.1.3.2).
pub fn verify_inclusion(index: u64, size: u64, leaf: &Hash, proof: &[Hash], root: &Hash) -> Result<(), ProofError> {
    if index >= size {
        return Err(ProofError::IndexBeyondTree { index, size });
    }
    let (mut fn_, mut sn) = (index, size - 1);
    let mut r = *leaf;
    for p in proof {
        if sn == 0 {
            return Err(ProofError::WrongLength { got: proof.len(), want: inclusion_len(index, size) });
        }
        if fn_ & 1 == 1 || fn_ == sn {
            r = node_hash(p, &r);
            if fn_ & 1 == 0 {
                while fn_ & 1 == 0 && fn_ != 0 {
                    fn_ >>= 1;
                    sn >>= 1;
                }
            }
        } else {
            r = node_hash(&r, p);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    if sn != 0 {
        return Err(ProofError::WrongLength { got: proof.len(), want: inclusion_len(index, size) });
    }
    if &r != root {
        return Err(ProofError::RootMismatch);
    }
    Ok(())
}

/// How many hashes an inclusion proof of `index` in a tree of `size` has (for error messages).
fn inclusion_len(index: u64, size: u64) -> usize {
    let (mut fn_, mut sn, mut n) = (index, size.saturating_sub(1), 0usize);
    while sn != 0 {
        if fn_ & 1 == 0 && fn_ == sn {
            while fn_ & 1 == 0 && fn_ != 0 {
                fn_ >>= 1;
                sn >>= 1;
            }
        }
        n += 1;
        fn_ >>= 1;
        sn >>= 1;
    }
    n
}

/// Verifies that the tree (`n`, `new_root`) extends (`m`, `old_root`) (RFC 9162 §2.1.4.2).
/// `m == 0` needs nothing; `m == n` needs an empty proof and equal roots.
pub fn verify_consistency(m: u64, n: u64, old_root: &Hash, new_root: &Hash, proof: &[Hash]) -> Result<(), ProofError> {
    if n < m {
        return Err(ProofError::Shrunk { from: m, to: n });
    }
    if m == 0 {
        return if proof.is_empty() { Ok(()) } else { Err(ProofError::WrongLength { got: proof.len(), want: 0 }) };
    }
    if m == n {
        if !proof.is_empty() {
            return Err(ProofError::WrongLength { got: proof.len(), want: 0 });
        }
        return if old_root == new_root { Ok(()) } else { Err(ProofError::SameSizeDifferentRoot { size: m }) };
    }
    if proof.is_empty() {
        return Err(ProofError::WrongLength { got: 0, want: 1 });
    }
    let mut path: Vec<Hash> = Vec::with_capacity(proof.len() + 1);
    if m.is_power_of_two() {
        path.push(*old_root);
    }
    path.extend_from_slice(proof);
    let (mut fn_, mut sn) = (m - 1, n - 1);
    while fn_ & 1 == 1 {
        fn_ >>= 1;
        sn >>= 1;
    }
    let (mut fr, mut sr) = (path[0], path[0]);
    for c in &path[1..] {
        if sn == 0 {
            return Err(ProofError::WrongLength { got: proof.len(), want: proof.len() - 1 });
        }
        if fn_ & 1 == 1 || fn_ == sn {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            if fn_ & 1 == 0 {
                while fn_ & 1 == 0 && fn_ != 0 {
                    fn_ >>= 1;
                    sn >>= 1;
                }
            }
        } else {
            sr = node_hash(&sr, c);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    if sn != 0 {
        return Err(ProofError::WrongLength { got: proof.len(), want: proof.len() + 1 });
    }
    if &fr != old_root {
        return Err(ProofError::OldRootMismatch);
    }
    if &sr != new_root {
        return Err(ProofError::RootMismatch);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn h(s: &str) -> Hash {
        let v = hex::decode(s).unwrap();
        v.try_into().unwrap()
    }

    // Test vectors: transparency-dev/merkle, testonly/constants.go (LeafInputs, RootHashes) and
    // proof/verify_test.go (inclusionProofs, consistencyProofs; there `leaf` is 1-based), Apache-2.0.
    // The same trees and roots are in RFC 6962's reference tests (certificate-transparency).
    const LEAVES: [&str; 8] =
        ["", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f"];
    const ROOTS: [&str; 9] = [
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    ];

    fn leaves() -> Vec<Hash> {
        LEAVES.iter().map(|l| leaf_hash(&hex::decode(l).unwrap())).collect()
    }

    #[test]
    fn roots_match_the_published_vectors() {
        let l = leaves();
        for (size, want) in ROOTS.iter().enumerate() {
            assert_eq!(root(&l[..size]), h(want), "size {size}");
        }
    }

    #[test]
    fn published_inclusion_proofs() {
        let vectors: [(u64, u64, &[&str]); 5] = [
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
                    "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                    "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
                ],
            ),
            (3, 3, &["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
            (
                2,
                5,
                &[
                    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
                    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                    "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                ],
            ),
        ];
        let l = leaves();
        for (leaf, size, proof) in vectors {
            let proof: Vec<Hash> = proof.iter().map(|p| h(p)).collect();
            let (i, s) = (leaf - 1, size as usize);
            assert_eq!(inclusion_proof(&l[..s], i as usize), proof, "ours, leaf {leaf} size {size}");
            let r = h(ROOTS[s]);
            verify_inclusion(i, size, &l[i as usize], &proof, &r).unwrap();
            // wrong index, wrong size, wrong leaf
            assert!(verify_inclusion(i + 1, size, &l[i as usize], &proof, &r).is_err());
            assert!(verify_inclusion(i, size * 2, &l[i as usize], &proof, &r).is_err());
            assert!(verify_inclusion(i, size, &leaf_hash(b"WrongLeaf"), &proof, &r).is_err());
            let mut longer = proof.clone();
            longer.push(r);
            assert!(verify_inclusion(i, size, &l[i as usize], &longer, &r).is_err());
        }
    }

    #[test]
    fn published_consistency_proofs() {
        let vectors: [(u64, u64, &[&str]); 5] = [
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
        let l = leaves();
        for (m, n, proof) in vectors {
            let proof: Vec<Hash> = proof.iter().map(|p| h(p)).collect();
            assert_eq!(consistency_proof(&l[..n as usize], m as usize), proof, "ours, {m} → {n}");
            let (a, b) = (h(ROOTS[m as usize]), h(ROOTS[n as usize]));
            verify_consistency(m, n, &a, &b, &proof).unwrap();
            if m != n {
                assert!(verify_consistency(m, n, &b, &a, &proof).is_err(), "swapped roots");
                assert!(verify_consistency(m, n, &a, &b, &[]).is_err(), "empty proof");
                assert!(verify_consistency(m, n, &a, &b, &proof[..proof.len() - 1]).is_err(), "truncated");
                assert!(verify_consistency(m + 1, n, &a, &b, &proof).is_err(), "size1 + 1");
            }
        }
        // always-consistent and never-consistent sizes (verify_test.go TestVerifyConsistency)
        let e = empty_root();
        verify_consistency(0, 1, &e, &h(ROOTS[1]), &[]).unwrap();
        assert!(verify_consistency(2, 1, &h(ROOTS[2]), &h(ROOTS[1]), &[]).is_err());
        assert_eq!(
            verify_consistency(3, 3, &h(ROOTS[3]), &h(ROOTS[2]), &[]),
            Err(ProofError::SameSizeDifferentRoot { size: 3 })
        );
    }

    fn random_leaves(n: usize, seed: u64) -> Vec<Hash> {
        (0..n).map(|i| leaf_hash(&[seed.to_be_bytes(), (i as u64).to_be_bytes()].concat())).collect()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(96))]

        #[test]
        fn our_inclusion_proofs_verify_and_any_bit_flip_fails(
            n in 1usize..300, i in 0usize..300, seed in any::<u64>(), flip in any::<(usize, u8)>()
        ) {
            let i = i % n;
            let l = random_leaves(n, seed);
            let r = root(&l);
            let p = inclusion_proof(&l, i);
            prop_assert!(verify_inclusion(i as u64, n as u64, &l[i], &p, &r).is_ok());
            // a flipped bit in the leaf, the root, or any proof hash
            let total = 2 + p.len();
            let which = flip.0 % total;
            let bit = 1u8 << (flip.1 % 8);
            let byte = (flip.0 / total) % 32;
            let (mut leaf, mut rt, mut pp) = (l[i], r, p.clone());
            match which {
                0 => leaf[byte] ^= bit,
                1 => rt[byte] ^= bit,
                k => pp[k - 2][byte] ^= bit,
            }
            prop_assert!(verify_inclusion(i as u64, n as u64, &leaf, &pp, &rt).is_err());
        }

        #[test]
        fn our_consistency_proofs_verify_and_any_bit_flip_fails(
            n in 2usize..300, m in 1usize..300, seed in any::<u64>(), flip in any::<(usize, u8)>()
        ) {
            let m = 1 + m % (n - 1);
            let l = random_leaves(n, seed);
            let (a, b) = (root(&l[..m]), root(&l));
            let p = consistency_proof(&l, m);
            prop_assert!(verify_consistency(m as u64, n as u64, &a, &b, &p).is_ok());
            let total = 2 + p.len();
            let which = flip.0 % total;
            let bit = 1u8 << (flip.1 % 8);
            let byte = (flip.0 / total) % 32;
            let (mut aa, mut bb, mut pp) = (a, b, p.clone());
            match which {
                0 => aa[byte] ^= bit,
                1 => bb[byte] ^= bit,
                k => pp[k - 2][byte] ^= bit,
            }
            prop_assert!(verify_consistency(m as u64, n as u64, &aa, &bb, &pp).is_err());
            // a fork: the same size, one leaf changed, never verifies against the old root
            let mut forked = l.clone();
            forked[(flip.0) % m][byte] ^= bit;
            let fb = root(&forked);
            let fp = consistency_proof(&forked, m);
            prop_assert!(verify_consistency(m as u64, n as u64, &a, &fb, &fp).is_err());
        }
    }
}
