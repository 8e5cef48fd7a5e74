//! Whether a private key belongs to a public key given as `SubjectPublicKeyInfo`, e.g. the
//! key of a CSR a user uploads together with (or after) its private key.

use der::Decode;
use spki::SubjectPublicKeyInfoRef;

use crate::alg::KeyAlgorithm;
use crate::error::{Error, Result};
use crate::keys::PrivateKey;

/// True when `key` is the private half of the public key in `spki_der`.
///
/// The algorithms (RSA size, curve, SM2) must agree and the public key values must be
/// equal. EC points are compared as points, so a request that carries its key in
/// compressed form still matches the (uncompressed) key derived from the private key.
/// Fails only when `spki_der` cannot be parsed.
pub fn key_matches_spki(key: &PrivateKey, spki_der: &[u8]) -> Result<bool> {
    let theirs = SubjectPublicKeyInfoRef::from_der(spki_der).map_err(Error::malformed_key)?;
    let Ok(their_alg) = KeyAlgorithm::from_spki_der(spki_der) else {
        return Ok(false);
    };
    if their_alg != key.algorithm() {
        return Ok(false);
    }
    let ours = SubjectPublicKeyInfoRef::from_der(key.public_key_spki_der()).map_err(Error::malformed_key)?;
    let (Some(a), Some(b)) = (ours.subject_public_key.as_bytes(), theirs.subject_public_key.as_bytes()) else {
        return Ok(false);
    };
    Ok(match key.algorithm().family() {
        crate::KeyFamily::Rsa => a == b,
        crate::KeyFamily::Ecc | crate::KeyFamily::Sm2 => same_point(a, b),
    })
}

/// SEC1 points: `04 || X || Y`, or `02/03 || X` with the parity of Y in the tag.
fn same_point(a: &[u8], b: &[u8]) -> bool {
    if a == b {
        return true;
    }
    let summary = |p: &[u8]| -> Option<(bool, Vec<u8>)> {
        match p.split_first()? {
            (0x04, xy) if !xy.is_empty() && xy.len() % 2 == 0 => {
                let (x, y) = xy.split_at(xy.len() / 2);
                Some((y.last()? & 1 == 1, x.to_vec()))
            }
            (tag @ (0x02 | 0x03), x) if !x.is_empty() => Some((*tag == 0x03, x.to_vec())),
            _ => None,
        }
    };
    matches!((summary(a), summary(b)), (Some(x), Some(y)) if x == y)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::keys;

    #[test]
    fn own_key_matches_and_others_do_not() {
        for alg in [
            KeyAlgorithm::Rsa2048,
            KeyAlgorithm::EcP256,
            KeyAlgorithm::EcP384,
            KeyAlgorithm::Sm2,
        ] {
            let [k1, k2] = keys(alg);
            assert!(key_matches_spki(k1, k1.public_key_spki_der()).unwrap(), "{alg:?}");
            assert!(!key_matches_spki(k1, k2.public_key_spki_der()).unwrap(), "{alg:?}");
        }
        let rsa = &keys(KeyAlgorithm::Rsa2048)[0];
        let ec = &keys(KeyAlgorithm::EcP256)[0];
        let sm2 = &keys(KeyAlgorithm::Sm2)[0];
        assert!(!key_matches_spki(rsa, ec.public_key_spki_der()).unwrap());
        assert!(!key_matches_spki(ec, sm2.public_key_spki_der()).unwrap());
        assert!(!key_matches_spki(sm2, ec.public_key_spki_der()).unwrap());
        assert!(key_matches_spki(ec, b"\x30\x00").is_err());
    }

    #[test]
    fn compressed_points_compare_as_points() {
        let ec = &keys(KeyAlgorithm::EcP256)[0];
        let spki = SubjectPublicKeyInfoRef::from_der(ec.public_key_spki_der()).unwrap();
        let point = spki.subject_public_key.as_bytes().unwrap();
        let (x, y) = point[1..].split_at(32);
        let mut compressed = vec![if y[31] & 1 == 1 { 0x03 } else { 0x02 }];
        compressed.extend_from_slice(x);
        assert!(same_point(point, &compressed));
        compressed[0] ^= 1;
        assert!(!same_point(point, &compressed));
        assert!(!same_point(point, &[0x04]));
        assert!(!same_point(&[0x02], &[0x02, 1]));
    }
}
