//! Key usage and extended key usage values for certificate profiles.

use const_oid::db::rfc5280 as oids;
use der::flagset::FlagSet;
use x509_cert::ext::pkix::{KeyUsage, KeyUsages};

use crate::error::{Error, Result};

/// Extended key usages that can be put into a certificate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ExtKeyUsage {
    /// id-kp-serverAuth.
    ServerAuth,
    /// id-kp-clientAuth.
    ClientAuth,
    /// id-kp-codeSigning.
    CodeSigning,
    /// id-kp-emailProtection.
    EmailProtection,
    /// id-kp-timeStamping.
    TimeStamping,
    /// id-kp-OCSPSigning.
    OcspSigning,
}

impl ExtKeyUsage {
    const ALL: [ExtKeyUsage; 6] = [
        ExtKeyUsage::ServerAuth,
        ExtKeyUsage::ClientAuth,
        ExtKeyUsage::CodeSigning,
        ExtKeyUsage::EmailProtection,
        ExtKeyUsage::TimeStamping,
        ExtKeyUsage::OcspSigning,
    ];

    /// Parses the OpenSSL / RFC 5280 short name, case-insensitively:
    /// `serverAuth`, `clientAuth`, `codeSigning`, `emailProtection`,
    /// `timeStamping`, `OCSPSigning`.
    pub fn from_name(s: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|e| e.name().eq_ignore_ascii_case(s))
            .ok_or_else(|| Error::InvalidExtension(format!("unknown extended key usage {s:?}")))
    }

    /// The canonical short name (`serverAuth`, ..., `OCSPSigning`).
    pub fn name(self) -> &'static str {
        match self {
            ExtKeyUsage::ServerAuth => "serverAuth",
            ExtKeyUsage::ClientAuth => "clientAuth",
            ExtKeyUsage::CodeSigning => "codeSigning",
            ExtKeyUsage::EmailProtection => "emailProtection",
            ExtKeyUsage::TimeStamping => "timeStamping",
            ExtKeyUsage::OcspSigning => "OCSPSigning",
        }
    }

    /// The OID.
    pub fn oid(self) -> const_oid::ObjectIdentifier {
        match self {
            ExtKeyUsage::ServerAuth => oids::ID_KP_SERVER_AUTH,
            ExtKeyUsage::ClientAuth => oids::ID_KP_CLIENT_AUTH,
            ExtKeyUsage::CodeSigning => oids::ID_KP_CODE_SIGNING,
            ExtKeyUsage::EmailProtection => oids::ID_KP_EMAIL_PROTECTION,
            ExtKeyUsage::TimeStamping => oids::ID_KP_TIME_STAMPING,
            ExtKeyUsage::OcspSigning => oids::ID_KP_OCSP_SIGNING,
        }
    }

    /// Name for an OID, if it is one of these.
    pub fn name_of(oid: &const_oid::ObjectIdentifier) -> Option<&'static str> {
        Self::ALL.into_iter().find(|e| e.oid() == *oid).map(ExtKeyUsage::name)
    }
}

/// A set of KeyUsage bits (RFC 5280 §4.2.1.3). Bit `n` of the ASN.1 BIT
/// STRING is `1 << n` here, as in x509-cert's `KeyUsages`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct KeyUsageFlags(u16);

impl KeyUsageFlags {
    /// digitalSignature (0).
    pub const DIGITAL_SIGNATURE: Self = Self(1 << 0);
    /// nonRepudiation / contentCommitment (1).
    pub const NON_REPUDIATION: Self = Self(1 << 1);
    /// contentCommitment (1), the current name of nonRepudiation.
    pub const CONTENT_COMMITMENT: Self = Self::NON_REPUDIATION;
    /// keyEncipherment (2).
    pub const KEY_ENCIPHERMENT: Self = Self(1 << 2);
    /// dataEncipherment (3).
    pub const DATA_ENCIPHERMENT: Self = Self(1 << 3);
    /// keyAgreement (4).
    pub const KEY_AGREEMENT: Self = Self(1 << 4);
    /// keyCertSign (5).
    pub const KEY_CERT_SIGN: Self = Self(1 << 5);
    /// cRLSign (6).
    pub const CRL_SIGN: Self = Self(1 << 6);
    /// encipherOnly (7).
    pub const ENCIPHER_ONLY: Self = Self(1 << 7);
    /// decipherOnly (8).
    pub const DECIPHER_ONLY: Self = Self(1 << 8);

    const NAMES: [&'static str; 9] = [
        "digitalSignature",
        "nonRepudiation",
        "keyEncipherment",
        "dataEncipherment",
        "keyAgreement",
        "keyCertSign",
        "cRLSign",
        "encipherOnly",
        "decipherOnly",
    ];

    /// The empty set.
    pub const fn empty() -> Self {
        Self(0)
    }

    /// From raw bits; bits above `decipherOnly` are refused.
    pub fn from_bits(bits: u16) -> Result<Self> {
        if bits >> Self::NAMES.len() != 0 {
            return Err(Error::InvalidExtension(format!(
                "key usage bits {bits:#x} out of range"
            )));
        }
        Ok(Self(bits))
    }

    /// The raw bits.
    pub const fn bits(self) -> u16 {
        self.0
    }

    /// Whether no bit is set.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Whether every bit of `other` is set here.
    pub const fn contains(self, other: Self) -> bool {
        self.0 & other.0 == other.0
    }

    /// Parses an RFC 5280 / OpenSSL name, case-insensitively
    /// (`digitalSignature`, `nonRepudiation` or `contentCommitment`,
    /// `keyEncipherment`, `dataEncipherment`, `keyAgreement`, `keyCertSign`,
    /// `cRLSign`, `encipherOnly`, `decipherOnly`).
    pub fn from_name(s: &str) -> Result<Self> {
        if s.eq_ignore_ascii_case("contentCommitment") {
            return Ok(Self::NON_REPUDIATION);
        }
        Self::NAMES
            .iter()
            .position(|n| n.eq_ignore_ascii_case(s))
            .map(|i| Self(1 << i))
            .ok_or_else(|| Error::InvalidExtension(format!("unknown key usage {s:?}")))
    }

    /// The names of the set bits, in bit order.
    pub fn names(self) -> Vec<&'static str> {
        (0..Self::NAMES.len())
            .filter(|i| self.0 & (1 << i) != 0)
            .map(|i| Self::NAMES[i])
            .collect()
    }

    pub(crate) fn to_x509(self) -> Result<KeyUsage> {
        FlagSet::<KeyUsages>::new(self.0)
            .map(KeyUsage)
            .map_err(|_| Error::InvalidExtension(format!("key usage bits {:#x}", self.0)))
    }
}

impl core::ops::BitOr for KeyUsageFlags {
    type Output = Self;
    fn bitor(self, rhs: Self) -> Self {
        Self(self.0 | rhs.0)
    }
}

impl core::ops::BitOrAssign for KeyUsageFlags {
    fn bitor_assign(&mut self, rhs: Self) {
        self.0 |= rhs.0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_usage_flags() {
        let ku = KeyUsageFlags::DIGITAL_SIGNATURE | KeyUsageFlags::KEY_ENCIPHERMENT;
        assert_eq!(ku.bits(), 0b101);
        assert_eq!(ku.names(), ["digitalSignature", "keyEncipherment"]);
        assert!(ku.contains(KeyUsageFlags::DIGITAL_SIGNATURE));
        assert!(!ku.contains(KeyUsageFlags::KEY_CERT_SIGN));
        let x = ku.to_x509().unwrap();
        assert!(x.digital_signature() && x.key_encipherment() && !x.key_agreement());
        assert_eq!(KeyUsageFlags::from_name("crlsign").unwrap(), KeyUsageFlags::CRL_SIGN);
        assert_eq!(
            KeyUsageFlags::from_name("contentCommitment").unwrap(),
            KeyUsageFlags::NON_REPUDIATION
        );
        assert!(KeyUsageFlags::from_name("sign").is_err());
        assert_eq!(KeyUsageFlags::from_bits(0x100).unwrap(), KeyUsageFlags::DECIPHER_ONLY);
        assert!(KeyUsageFlags::from_bits(0x200).is_err());
        assert!(KeyUsageFlags::empty().is_empty());
        assert_eq!(KeyUsageFlags::CONTENT_COMMITMENT, KeyUsageFlags::NON_REPUDIATION);
        let all = [
            KeyUsageFlags::DIGITAL_SIGNATURE,
            KeyUsageFlags::CONTENT_COMMITMENT,
            KeyUsageFlags::KEY_ENCIPHERMENT,
            KeyUsageFlags::DATA_ENCIPHERMENT,
            KeyUsageFlags::KEY_AGREEMENT,
            KeyUsageFlags::KEY_CERT_SIGN,
            KeyUsageFlags::CRL_SIGN,
            KeyUsageFlags::ENCIPHER_ONLY,
            KeyUsageFlags::DECIPHER_ONLY,
        ]
        .into_iter()
        .fold(KeyUsageFlags::empty(), |a, b| a | b);
        assert_eq!(all.bits(), 0x1ff);
        assert_eq!(all.names().len(), 9);
        let mut m = KeyUsageFlags::empty();
        m |= KeyUsageFlags::KEY_AGREEMENT;
        assert_eq!(m.names(), ["keyAgreement"]);
    }

    #[test]
    fn eku_names() {
        for e in ExtKeyUsage::ALL {
            assert_eq!(ExtKeyUsage::from_name(e.name()).unwrap(), e);
            assert_eq!(ExtKeyUsage::name_of(&e.oid()), Some(e.name()));
        }
        assert_eq!(ExtKeyUsage::from_name("ocspsigning").unwrap(), ExtKeyUsage::OcspSigning);
        assert!(ExtKeyUsage::from_name("anyThing").is_err());
    }
}
