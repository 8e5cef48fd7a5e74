//! Algorithm identifiers: key algorithms (as CAS names them), signature
//! algorithms, SM2 distinguishing IDs, and the OIDs behind them.

use const_oid::ObjectIdentifier;
use der::{Any, asn1::BitStringRef};
use spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoRef};

use crate::error::{Error, Result};

/// OIDs used by this crate.
pub(crate) mod oid {
    use const_oid::ObjectIdentifier as Oid;

    pub const RSA_ENCRYPTION: Oid = Oid::new_unwrap("1.2.840.113549.1.1.1");
    pub const EC_PUBLIC_KEY: Oid = Oid::new_unwrap("1.2.840.10045.2.1");
    pub const SECP256R1: Oid = Oid::new_unwrap("1.2.840.10045.3.1.7");
    pub const SECP384R1: Oid = Oid::new_unwrap("1.3.132.0.34");
    pub const SECP521R1: Oid = Oid::new_unwrap("1.3.132.0.35");
    /// SM2 curve (also seen as a key algorithm OID in old OpenSSL output).
    pub const SM2: Oid = Oid::new_unwrap("1.2.156.10197.1.301");
    pub const ED25519: Oid = Oid::new_unwrap("1.3.101.112");
    pub const ED448: Oid = Oid::new_unwrap("1.3.101.113");

    pub const MD5_WITH_RSA: Oid = Oid::new_unwrap("1.2.840.113549.1.1.4");
    pub const SHA1_WITH_RSA: Oid = Oid::new_unwrap("1.2.840.113549.1.1.5");
    pub const RSASSA_PSS: Oid = Oid::new_unwrap("1.2.840.113549.1.1.10");
    pub const SHA256_WITH_RSA: Oid = Oid::new_unwrap("1.2.840.113549.1.1.11");
    pub const SHA384_WITH_RSA: Oid = Oid::new_unwrap("1.2.840.113549.1.1.12");
    pub const SHA512_WITH_RSA: Oid = Oid::new_unwrap("1.2.840.113549.1.1.13");
    pub const ECDSA_WITH_SHA1: Oid = Oid::new_unwrap("1.2.840.10045.4.1");
    pub const ECDSA_WITH_SHA256: Oid = Oid::new_unwrap("1.2.840.10045.4.3.2");
    pub const ECDSA_WITH_SHA384: Oid = Oid::new_unwrap("1.2.840.10045.4.3.3");
    pub const ECDSA_WITH_SHA512: Oid = Oid::new_unwrap("1.2.840.10045.4.3.4");
    pub const SM3_WITH_SM2: Oid = Oid::new_unwrap("1.2.156.10197.1.501");
}

/// Key family, as the CAS API reports it in `Algorithm` fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KeyFamily {
    /// RSA keys.
    Rsa,
    /// ECDSA keys on the NIST curves.
    Ecc,
    /// SM2 keys (GB/T 32918).
    Sm2,
}

impl KeyFamily {
    /// The CAS spelling: `"RSA"`, `"ECC"` or `"SM2"`.
    pub fn as_api(self) -> &'static str {
        match self {
            KeyFamily::Rsa => "RSA",
            KeyFamily::Ecc => "ECC",
            KeyFamily::Sm2 => "SM2",
        }
    }
}

/// A key algorithm with its size; the unit of the CAS `Algorithm` parameter.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KeyAlgorithm {
    /// RSA 1024 (legacy; generated and signed with the `rsa` crate).
    Rsa1024,
    /// RSA 2048.
    Rsa2048,
    /// RSA 3072.
    Rsa3072,
    /// RSA 4096.
    Rsa4096,
    /// ECDSA on NIST P-256 (`ECC_256`).
    EcP256,
    /// ECDSA on NIST P-384 (`ECC_384`).
    EcP384,
    /// ECDSA on NIST P-521 (`ECC_512` in CAS).
    EcP521,
    /// SM2 (`SM2_256`).
    Sm2,
}

impl KeyAlgorithm {
    /// Every supported algorithm.
    pub const ALL: [KeyAlgorithm; 8] = [
        KeyAlgorithm::Rsa1024,
        KeyAlgorithm::Rsa2048,
        KeyAlgorithm::Rsa3072,
        KeyAlgorithm::Rsa4096,
        KeyAlgorithm::EcP256,
        KeyAlgorithm::EcP384,
        KeyAlgorithm::EcP521,
        KeyAlgorithm::Sm2,
    ];

    /// Parses a CAS algorithm name: `RSA_1024`, `RSA_2048`, `RSA_3072`, `RSA_4096`,
    /// `ECC_256`, `ECC_384`, `ECC_512` (P-521) or `SM2_256`. Case-sensitive.
    pub fn from_api(s: &str) -> Result<Self> {
        Ok(match s {
            "RSA_1024" => KeyAlgorithm::Rsa1024,
            "RSA_2048" => KeyAlgorithm::Rsa2048,
            "RSA_3072" => KeyAlgorithm::Rsa3072,
            "RSA_4096" => KeyAlgorithm::Rsa4096,
            "ECC_256" => KeyAlgorithm::EcP256,
            "ECC_384" => KeyAlgorithm::EcP384,
            "ECC_512" => KeyAlgorithm::EcP521,
            "SM2_256" => KeyAlgorithm::Sm2,
            other => return Err(Error::UnsupportedAlgorithm(other.to_string())),
        })
    }

    /// The CAS spelling (inverse of [`KeyAlgorithm::from_api`]).
    pub fn as_api(self) -> &'static str {
        match self {
            KeyAlgorithm::Rsa1024 => "RSA_1024",
            KeyAlgorithm::Rsa2048 => "RSA_2048",
            KeyAlgorithm::Rsa3072 => "RSA_3072",
            KeyAlgorithm::Rsa4096 => "RSA_4096",
            KeyAlgorithm::EcP256 => "ECC_256",
            KeyAlgorithm::EcP384 => "ECC_384",
            KeyAlgorithm::EcP521 => "ECC_512",
            KeyAlgorithm::Sm2 => "SM2_256",
        }
    }

    /// Key family (`RSA` / `ECC` / `SM2`).
    pub fn family(self) -> KeyFamily {
        match self {
            KeyAlgorithm::Rsa1024 | KeyAlgorithm::Rsa2048 | KeyAlgorithm::Rsa3072 | KeyAlgorithm::Rsa4096 => {
                KeyFamily::Rsa
            }
            KeyAlgorithm::EcP256 | KeyAlgorithm::EcP384 | KeyAlgorithm::EcP521 => KeyFamily::Ecc,
            KeyAlgorithm::Sm2 => KeyFamily::Sm2,
        }
    }

    /// The real key size in bits (P-521 is 521; CAS itself calls it `ECC_512`,
    /// which is the service's business).
    pub fn key_size_bits(self) -> u32 {
        match self {
            KeyAlgorithm::Rsa1024 => 1024,
            KeyAlgorithm::Rsa2048 => 2048,
            KeyAlgorithm::Rsa3072 => 3072,
            KeyAlgorithm::Rsa4096 => 4096,
            KeyAlgorithm::EcP256 | KeyAlgorithm::Sm2 => 256,
            KeyAlgorithm::EcP384 => 384,
            KeyAlgorithm::EcP521 => 521,
        }
    }

    /// The signature algorithm a key of this algorithm signs certificates with.
    pub fn signature_algorithm(self) -> SignatureAlgorithm {
        match self.family() {
            KeyFamily::Rsa => SignatureAlgorithm::RsaSha256,
            KeyFamily::Sm2 => SignatureAlgorithm::Sm3WithSm2,
            KeyFamily::Ecc => match self {
                KeyAlgorithm::EcP384 => SignatureAlgorithm::EcdsaSha384,
                KeyAlgorithm::EcP521 => SignatureAlgorithm::EcdsaSha512,
                _ => SignatureAlgorithm::EcdsaSha256,
            },
        }
    }

    /// Identifies the algorithm of a DER `SubjectPublicKeyInfo`.
    ///
    /// Fails with [`Error::UnsupportedKey`] for keys outside the eight supported
    /// algorithms (e.g. RSA-8192 or Ed25519); see [`describe_spki`] for a
    /// description of any key.
    pub fn from_spki_der(spki_der: &[u8]) -> Result<Self> {
        let d = describe_spki(spki_der)?;
        d.algorithm
            .ok_or_else(|| Error::UnsupportedKey(format!("{} key of {} bits", d.name, d.bits)))
    }
}

/// What a public key is, for display (works for keys this crate cannot use too).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublicKeyDescription {
    /// The family, when it is one of RSA / ECC / SM2.
    pub family: Option<KeyFamily>,
    /// Key size in bits (RSA modulus bits; curve size for EC; 0 when unknown).
    pub bits: u32,
    /// The exact supported algorithm, when it is one of [`KeyAlgorithm::ALL`].
    pub algorithm: Option<KeyAlgorithm>,
    /// A short name: `RSA`, `EC`, `SM2`, `Ed25519`, or the dotted OID.
    pub name: String,
}

/// Describes a DER `SubjectPublicKeyInfo` (family, size, supported algorithm).
pub fn describe_spki(spki_der: &[u8]) -> Result<PublicKeyDescription> {
    use der::Decode;
    let spki = SubjectPublicKeyInfoRef::from_der(spki_der).map_err(Error::malformed_key)?;
    describe_spki_ref(&spki)
}

pub(crate) fn describe_spki_ref(spki: &SubjectPublicKeyInfoRef<'_>) -> Result<PublicKeyDescription> {
    let (alg, param) = spki.algorithm.oids().map_err(Error::malformed_key)?;
    let key_bits = spki.subject_public_key;
    let d = |family, bits, algorithm, name: &str| PublicKeyDescription {
        family,
        bits,
        algorithm,
        name: name.to_string(),
    };
    Ok(match alg {
        oid::RSA_ENCRYPTION => {
            let bits = rsa_modulus_bits(key_bits)?;
            let algorithm = match bits {
                1024 => Some(KeyAlgorithm::Rsa1024),
                2048 => Some(KeyAlgorithm::Rsa2048),
                3072 => Some(KeyAlgorithm::Rsa3072),
                4096 => Some(KeyAlgorithm::Rsa4096),
                _ => None,
            };
            d(Some(KeyFamily::Rsa), bits, algorithm, "RSA")
        }
        oid::EC_PUBLIC_KEY | oid::SM2 => match (alg, param) {
            (oid::SM2, _) | (_, Some(oid::SM2)) => d(Some(KeyFamily::Sm2), 256, Some(KeyAlgorithm::Sm2), "SM2"),
            (_, Some(oid::SECP256R1)) => d(Some(KeyFamily::Ecc), 256, Some(KeyAlgorithm::EcP256), "EC"),
            (_, Some(oid::SECP384R1)) => d(Some(KeyFamily::Ecc), 384, Some(KeyAlgorithm::EcP384), "EC"),
            (_, Some(oid::SECP521R1)) => d(Some(KeyFamily::Ecc), 521, Some(KeyAlgorithm::EcP521), "EC"),
            _ => {
                // Another named curve: size from the uncompressed point length.
                let len = key_bits.raw_bytes().len();
                let bits = if len > 1 { ((len - 1) / 2 * 8) as u32 } else { 0 };
                d(Some(KeyFamily::Ecc), bits, None, "EC")
            }
        },
        oid::ED25519 => d(None, 256, None, "Ed25519"),
        oid::ED448 => d(None, 456, None, "Ed448"),
        other => d(None, 0, None, &other.to_string()),
    })
}

/// Bit length of the modulus inside a PKCS#1 `RSAPublicKey` BIT STRING.
fn rsa_modulus_bits(key: BitStringRef<'_>) -> Result<u32> {
    use der::Decode;
    let pk = pkcs1::RsaPublicKeyRef::from_der(key.raw_bytes()).map_err(Error::malformed_key)?;
    Ok(uint_bits(pk.modulus.as_bytes()))
}

/// Bit length of a big-endian unsigned integer.
pub(crate) fn uint_bits(bytes: &[u8]) -> u32 {
    let bytes = {
        let first = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
        &bytes[first..]
    };
    match bytes.first() {
        None => 0,
        Some(b) => (bytes.len() as u32 - 1) * 8 + (8 - b.leading_zeros()),
    }
}

/// The SM2 distinguishing ID used when signing or verifying with SM2.
///
/// It is a parameter of each signature, not of the key bytes. GM/T 0009 names
/// `1234567812345678` as the default; OpenSSL 3 signs and verifies with the
/// empty ID unless told otherwise, and cannot take another ID for intermediate
/// certificates or CRLs (see research note, section 5).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Sm2Id {
    /// `1234567812345678`, the GM/T 0009 default.
    #[default]
    Standard,
    /// The empty ID: what stock OpenSSL 3 uses.
    Empty,
}

impl Sm2Id {
    /// The GM/T 0009 default ID.
    pub const STANDARD_ID: &'static str = "1234567812345678";

    /// The ID as the string that enters the `Z` hash.
    pub fn as_str(self) -> &'static str {
        match self {
            Sm2Id::Standard => Self::STANDARD_ID,
            Sm2Id::Empty => "",
        }
    }
}

/// A signature algorithm (for signing: the five this crate produces; for
/// verification and display also SHA-1/384/512 variants).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SignatureAlgorithm {
    /// md5WithRSAEncryption (display only; never verified).
    RsaMd5,
    /// sha1WithRSAEncryption.
    RsaSha1,
    /// sha256WithRSAEncryption.
    RsaSha256,
    /// sha384WithRSAEncryption.
    RsaSha384,
    /// sha512WithRSAEncryption.
    RsaSha512,
    /// ecdsa-with-SHA1.
    EcdsaSha1,
    /// ecdsa-with-SHA256.
    EcdsaSha256,
    /// ecdsa-with-SHA384.
    EcdsaSha384,
    /// ecdsa-with-SHA512.
    EcdsaSha512,
    /// SM3withSM2 (1.2.156.10197.1.501).
    Sm3WithSm2,
}

impl SignatureAlgorithm {
    /// The algorithm OID.
    pub fn oid(self) -> ObjectIdentifier {
        match self {
            SignatureAlgorithm::RsaMd5 => oid::MD5_WITH_RSA,
            SignatureAlgorithm::RsaSha1 => oid::SHA1_WITH_RSA,
            SignatureAlgorithm::RsaSha256 => oid::SHA256_WITH_RSA,
            SignatureAlgorithm::RsaSha384 => oid::SHA384_WITH_RSA,
            SignatureAlgorithm::RsaSha512 => oid::SHA512_WITH_RSA,
            SignatureAlgorithm::EcdsaSha1 => oid::ECDSA_WITH_SHA1,
            SignatureAlgorithm::EcdsaSha256 => oid::ECDSA_WITH_SHA256,
            SignatureAlgorithm::EcdsaSha384 => oid::ECDSA_WITH_SHA384,
            SignatureAlgorithm::EcdsaSha512 => oid::ECDSA_WITH_SHA512,
            SignatureAlgorithm::Sm3WithSm2 => oid::SM3_WITH_SM2,
        }
    }

    /// Looks an OID up.
    pub fn from_oid(oid: &ObjectIdentifier) -> Option<Self> {
        [
            SignatureAlgorithm::RsaMd5,
            SignatureAlgorithm::RsaSha1,
            SignatureAlgorithm::RsaSha256,
            SignatureAlgorithm::RsaSha384,
            SignatureAlgorithm::RsaSha512,
            SignatureAlgorithm::EcdsaSha1,
            SignatureAlgorithm::EcdsaSha256,
            SignatureAlgorithm::EcdsaSha384,
            SignatureAlgorithm::EcdsaSha512,
            SignatureAlgorithm::Sm3WithSm2,
        ]
        .into_iter()
        .find(|a| a.oid() == *oid)
    }

    /// The `AlgorithmIdentifier` as it goes into certificates: NULL parameters
    /// for RSA (RFC 4055), absent parameters for ECDSA and SM2.
    pub fn algorithm_identifier(self) -> AlgorithmIdentifierOwned {
        let parameters = match self {
            SignatureAlgorithm::RsaMd5
            | SignatureAlgorithm::RsaSha1
            | SignatureAlgorithm::RsaSha256
            | SignatureAlgorithm::RsaSha384
            | SignatureAlgorithm::RsaSha512 => Some(Any::null()),
            _ => None,
        };
        AlgorithmIdentifierOwned {
            oid: self.oid(),
            parameters,
        }
    }

    /// The CAS / Java-style name, e.g. `SHA256WITHRSA`, `SHA384WITHECDSA`, `SM3WITHSM2`.
    pub fn cas_name(self) -> &'static str {
        match self {
            SignatureAlgorithm::RsaMd5 => "MD5WITHRSA",
            SignatureAlgorithm::RsaSha1 => "SHA1WITHRSA",
            SignatureAlgorithm::RsaSha256 => "SHA256WITHRSA",
            SignatureAlgorithm::RsaSha384 => "SHA384WITHRSA",
            SignatureAlgorithm::RsaSha512 => "SHA512WITHRSA",
            SignatureAlgorithm::EcdsaSha1 => "SHA1WITHECDSA",
            SignatureAlgorithm::EcdsaSha256 => "SHA256WITHECDSA",
            SignatureAlgorithm::EcdsaSha384 => "SHA384WITHECDSA",
            SignatureAlgorithm::EcdsaSha512 => "SHA512WITHECDSA",
            SignatureAlgorithm::Sm3WithSm2 => "SM3WITHSM2",
        }
    }
}

/// CAS-style name for any signature algorithm OID (`SHA256WITHRSA`, ...;
/// `RSASSA-PSS`, `ED25519`; otherwise the dotted OID).
pub fn signature_algorithm_name(oid: &ObjectIdentifier) -> String {
    if let Some(a) = SignatureAlgorithm::from_oid(oid) {
        return a.cas_name().to_string();
    }
    match *oid {
        oid::RSASSA_PSS => "RSASSA-PSS".to_string(),
        oid::ED25519 => "ED25519".to_string(),
        oid::ED448 => "ED448".to_string(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_names_round_trip() {
        for a in KeyAlgorithm::ALL {
            assert_eq!(KeyAlgorithm::from_api(a.as_api()).unwrap(), a);
        }
        assert_eq!(KeyAlgorithm::from_api("ECC_512").unwrap().key_size_bits(), 521);
        assert!(KeyAlgorithm::from_api("rsa_2048").is_err());
        assert!(KeyAlgorithm::from_api("RSA_8192").is_err());
        assert_eq!(KeyAlgorithm::Sm2.family().as_api(), "SM2");
        assert_eq!(KeyAlgorithm::EcP384.family().as_api(), "ECC");
        assert_eq!(KeyAlgorithm::Rsa1024.family().as_api(), "RSA");
    }

    #[test]
    fn signature_algorithms() {
        assert_eq!(
            KeyAlgorithm::EcP521.signature_algorithm().oid().to_string(),
            "1.2.840.10045.4.3.4"
        );
        assert_eq!(KeyAlgorithm::Sm2.signature_algorithm().cas_name(), "SM3WITHSM2");
        assert_eq!(signature_algorithm_name(&oid::SHA256_WITH_RSA), "SHA256WITHRSA");
        assert!(
            SignatureAlgorithm::RsaSha256
                .algorithm_identifier()
                .parameters
                .is_some()
        );
        assert!(
            SignatureAlgorithm::EcdsaSha256
                .algorithm_identifier()
                .parameters
                .is_none()
        );
    }

    #[test]
    fn bit_lengths() {
        assert_eq!(uint_bits(&[0x00, 0x80, 0]), 16);
        assert_eq!(uint_bits(&[0x01]), 1);
        assert_eq!(uint_bits(&[]), 0);
    }
}
