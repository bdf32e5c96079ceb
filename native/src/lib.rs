//! Ed25519 verification with libsodium's acceptance rules, on ed25519-dalek's arithmetic.
//!
//! CyberMesh admission must accept exactly the signatures libsodium's
//! `crypto_sign_verify_detached` accepts (libsodium built without `ED25519_COMPAT`, as PyNaCl
//! ships it): every validator must reach the same decision on the same record, and PyNaCl is the
//! reference (docs/ADMISSION.md §Signature). `verify` applies libsodium's rules, in this order:
//!
//! 1. the signature is 64 bytes and the public key 32 bytes;
//! 2. S (the signature's last 32 bytes) is canonical, S < L        (dalek: `check_scalar`);
//! 3. R (the first 32 bytes) is not an encoding of a small-order point, sign bit ignored,
//!    non-canonical encodings included                            (`is_small_order_encoding`);
//! 4. the public key's y is canonical (y < p, sign bit ignored) and not a small-order encoding;
//! 5. the public key decodes to a curve point                      (dalek: `decompress`);
//! 6. with k = SHA-512(R || A || M) mod L (A: the public key bytes as given), the canonical
//!    encoding of [S]B - [k]A equals R byte for byte               (dalek: `raw_verify`).
//!
//! Rules 3 and 4 are libsodium's `ge25519_has_small_order` and `ge25519_is_canonical`; dalek's
//! plain `verify` does 2, 5 and 6 the same way (cofactorless, R compared as bytes). The set of
//! small-order encodings is computed from the eight-torsion points, not written out.
//! Differential tests against PyNaCl: tests/unit/test_ed25519_backends.py. Rust tests:
//! `cargo test --release --no-default-features` (the `python` feature links as an extension).

use std::collections::HashMap;
use std::sync::OnceLock;

use curve25519_dalek::constants::EIGHT_TORSION;
use ed25519_dalek::{Signature, Verifier, VerifyingKey};

pub const PUBLIC_KEY_LENGTH: usize = 32;
pub const SIGNATURE_LENGTH: usize = 64;

/// p = 2^255 - 19, little-endian.
const P: [u8; 32] = {
    let mut p = [0xffu8; 32];
    p[0] = 0xed;
    p[31] = 0x7f;
    p
};

/// y (sign bit cleared) is >= p. Only the 19 values p..2^255-1 are.
fn y_is_non_canonical(y: &[u8; 32]) -> bool {
    y[31] & 0x7f == 0x7f && y[1..31].iter().all(|&b| b == 0xff) && y[0] >= P[0]
}

/// The y coordinates (canonical, sign bit cleared) of the eight small-order points: five values.
fn torsion_ys() -> &'static Vec<[u8; 32]> {
    static YS: OnceLock<Vec<[u8; 32]>> = OnceLock::new();
    YS.get_or_init(|| {
        let mut ys: Vec<[u8; 32]> = Vec::new();
        for point in EIGHT_TORSION.iter() {
            let mut y = point.compress().to_bytes();
            y[31] &= 0x7f;
            if !ys.contains(&y) {
                ys.push(y);
            }
        }
        ys
    })
}

/// libsodium's `ge25519_has_small_order`: the encoding's y, sign bit ignored and reduced mod p,
/// is the y of a small-order point.
pub fn is_small_order_encoding(s: &[u8; 32]) -> bool {
    let mut y = *s;
    y[31] &= 0x7f;
    if y_is_non_canonical(&y) {
        // y = p + t with t in 0..=18: t sits in the low byte alone
        let t = y[0] - P[0];
        y = [0u8; 32];
        y[0] = t;
    }
    torsion_ys().contains(&y)
}

/// libsodium's `ge25519_is_canonical`: y < p, the sign bit ignored.
pub fn is_canonical_encoding(s: &[u8; 32]) -> bool {
    let mut y = *s;
    y[31] &= 0x7f;
    !y_is_non_canonical(&y)
}

/// Rules 4 and 5: the key, if libsodium would use it.
pub fn parse_key(pk: &[u8]) -> Option<VerifyingKey> {
    let bytes: &[u8; PUBLIC_KEY_LENGTH] = pk.try_into().ok()?;
    if !is_canonical_encoding(bytes) || is_small_order_encoding(bytes) {
        return None;
    }
    VerifyingKey::from_bytes(bytes).ok()
}

/// Rules 1-3 and 6 for an accepted key.
pub fn verify_with(key: &VerifyingKey, message: &[u8], sig: &[u8]) -> bool {
    let Ok(bytes) = <&[u8; SIGNATURE_LENGTH]>::try_from(sig) else {
        return false;
    };
    let r: &[u8; 32] = bytes[..32].try_into().expect("32 bytes");
    if is_small_order_encoding(r) {
        return false;
    }
    // dalek's `verify`, not `verify_strict` (which compares R as points, not as bytes): S
    // canonical, then the canonical encoding of the recomputed R equals R byte for byte
    key.verify(message, &Signature::from_bytes(bytes)).is_ok()
}

/// All the rules: libsodium's `crypto_sign_verify_detached(sig, message, pk) == 0`.
pub fn verify(pk: &[u8], message: &[u8], sig: &[u8]) -> bool {
    match parse_key(pk) {
        Some(key) => verify_with(&key, message, sig),
        None => false,
    }
}

/// Decoded keys, kept between calls (a network has a handful of producers). Bounded: cleared
/// when full, so a stream of distinct keys costs a decode each and no unbounded memory.
#[derive(Default)]
pub struct KeyCache {
    keys: HashMap<[u8; 32], Option<VerifyingKey>>,
}

impl KeyCache {
    pub const CAPACITY: usize = 4096;

    /// The key libsodium would use for `pk` (None: every signature by it fails).
    pub fn key(&mut self, pk: &[u8]) -> Option<VerifyingKey> {
        let bytes = <[u8; 32]>::try_from(pk).ok()?;
        if !self.keys.contains_key(&bytes) && self.keys.len() >= Self::CAPACITY {
            self.keys.clear();
        }
        *self.keys.entry(bytes).or_insert_with(|| parse_key(&bytes))
    }
}

#[cfg(feature = "python")]
mod python {
    use std::sync::Mutex;

    use pyo3::prelude::*;
    use pyo3::types::PyBytes;

    use ed25519_dalek::VerifyingKey;

    use super::{verify_with, KeyCache};

    static CACHE: Mutex<Option<KeyCache>> = Mutex::new(None);

    /// verify(pubkey, message, signature) -> bool: libsodium's crypto_sign_verify_detached
    /// acceptance rules (see the crate documentation).
    #[pyfunction]
    fn verify(pubkey: &[u8], message: &[u8], signature: &[u8]) -> bool {
        super::verify(pubkey, message, signature)
    }

    /// verify_many(pubkeys, messages, signatures) -> list[bool], one result per index. The
    /// three lists must have the same length. Runs without the GIL; decoded keys are cached.
    #[pyfunction]
    fn verify_many(
        py: Python<'_>,
        pubkeys: Vec<Bound<'_, PyBytes>>,
        messages: Vec<Bound<'_, PyBytes>>,
        signatures: Vec<Bound<'_, PyBytes>>,
    ) -> PyResult<Vec<bool>> {
        if pubkeys.len() != messages.len() || messages.len() != signatures.len() {
            return Err(pyo3::exceptions::PyValueError::new_err(
                "verify_many: pubkeys, messages and signatures differ in length",
            ));
        }
        let items: Vec<(&[u8], &[u8], &[u8])> = pubkeys
            .iter()
            .zip(&messages)
            .zip(&signatures)
            .map(|((k, m), s)| (k.as_bytes(), m.as_bytes(), s.as_bytes()))
            .collect();
        Ok(py.detach(|| {
            // keys under the lock, signatures outside it (calls from threads run in parallel)
            let keys: Vec<Option<VerifyingKey>> = {
                let mut guard = CACHE.lock().unwrap_or_else(|e| e.into_inner());
                let cache = guard.get_or_insert_with(KeyCache::default);
                items.iter().map(|(k, _, _)| cache.key(k)).collect()
            };
            keys.iter()
                .zip(&items)
                .map(|(key, (_, m, s))| key.as_ref().is_some_and(|key| verify_with(key, m, s)))
                .collect()
        }))
    }

    #[pymodule]
    fn cybermesh_native(m: &Bound<'_, PyModule>) -> PyResult<()> {
        m.add_function(wrap_pyfunction!(verify, m)?)?;
        m.add_function(wrap_pyfunction!(verify_many, m)?)?;
        m.add("BACKEND", "ed25519-dalek 2.2.0 / curve25519-dalek 4.1.3")?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn five_small_order_ys_seven_encodings() {
        assert_eq!(torsion_ys().len(), 5);
        // the small-order encodings among y = 0..=18 and p..=p+18 (sign bit clear): y = 0, 1,
        // and their non-canonical twins p, p+1; the other three ys are large
        let mut hits = 0;
        for t in 0u8..19 {
            let mut low = [0u8; 32];
            low[0] = t;
            let mut high = P;
            high[0] = P[0] + t;
            hits += is_small_order_encoding(&low) as u32 + is_small_order_encoding(&high) as u32;
            assert!(is_canonical_encoding(&low) && !is_canonical_encoding(&high));
        }
        assert_eq!(hits, 4);
    }

    #[test]
    fn sign_bit_is_ignored() {
        for y in torsion_ys() {
            let mut s = *y;
            s[31] |= 0x80;
            assert!(is_small_order_encoding(y) && is_small_order_encoding(&s));
        }
    }
}
