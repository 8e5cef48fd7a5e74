//! opencas PKI core: pure computation over keys and certificates.
//!
//! No I/O, no clock, no database: every function is deterministic given its
//! inputs and the RNG passed in (aws-lc-rs key generation and ECDSA/RSA
//! blinding draw from AWS-LC's own DRBG; RSA-1024 signing blinds with OS
//! randomness).
//!
//! * [`KeyAlgorithm`] / [`KeyFamily`] — the CAS algorithm names.
//! * [`PrivateKey`] — generate, import (PKCS#8 / PKCS#1 / SEC1, PEM or DER),
//!   export (PKCS#8, encrypted PKCS#8), sign.
//! * [`KeySigner`] — the x509-cert builder adapter (RSA, ECDSA, SM2 with a
//!   chosen [`Sm2Id`]).
//! * [`SubjectFields`] — CAS subject fields → X.509 `Name`; [`dn_string`].
//! * [`build_root_ca`] / [`build_sub_ca`] with a [`CaProfile`].
//! * [`build_leaf`] with a [`LeafProfile`] — server / client / custom
//!   end-entity certificates; [`San`] with strict parsers.
//! * [`ParsedCsr`] — strict PKCS#10 parsing with self-signature check
//!   ([`CsrPolicy`]); [`build_csr`].
//! * [`CertInfo::parse`] — what the API reports about a certificate.
//! * [`pem`] — DER ↔ PEM helpers.
//! * [`to_pkcs12`] / [`pkcs12_read`] / [`to_jks`] — key store downloads (PFX, JKS).
//! * [`build_crl`] / [`build_crl_from_encoded`] / [`parse_crl`] — v2 CRLs with
//!   [`RevokedEntry`] and [`RevocationReason`].
//! * [`OcspRequest::from_der`], [`build_ocsp_response`], [`ocsp_error_response`],
//!   [`parse_ocsp_response`], [`build_ocsp_signer_cert`] — OCSP (RFC 6960).
//! * [`parse_uploaded_chain`] / [`parse_uploaded_key`] / [`check_key_matches`] — user uploads.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod alg;
mod ca;
mod country;
mod crl;
pub mod cryptoops;
mod csr;
mod error;
pub mod formats;
#[doc(hidden)]
pub mod fuzzing;
mod inspect;
mod issue;
mod key_match;
mod keys;
mod leaf;
mod lint;
mod name;
mod ocsp;
mod ocsp_asn;
mod ocsp_parse;
pub mod pem;
mod pkcs12_read;
mod pkcs7;
mod san;
mod signer;
mod upload;
mod usage;
mod verify;

#[cfg(test)]
mod test_support;
#[cfg(test)]
mod tests_ca;
#[cfg(test)]
mod tests_crl;
#[cfg(test)]
mod tests_crl_hex;
#[cfg(test)]
mod tests_csr;
#[cfg(test)]
mod tests_formats;
#[cfg(test)]
mod tests_fresh_signature;
#[cfg(test)]
mod tests_keys;
#[cfg(test)]
mod tests_leaf;
#[cfg(test)]
mod tests_leaf_described;
#[cfg(test)]
mod tests_ocsp;
#[cfg(test)]
mod tests_pkcs12;
#[cfg(test)]
mod tests_upload;

pub use alg::{
    KeyAlgorithm, KeyFamily, PublicKeyDescription, SignatureAlgorithm, Sm2Id, describe_spki, signature_algorithm_name,
};
pub use ca::{CaProfile, build_root_ca, build_sub_ca};
pub use country::{ISO3166_ALPHA2, is_iso3166_alpha2};
pub use crl::{
    CrlEntryInfo, CrlInfo, RevocationReason, RevokedEntry, build_crl, build_crl_from_encoded, crl_encoded_entries,
    parse_crl,
};
pub use csr::{CsrPolicy, ParsedCsr, build_csr};
pub use error::{Error, Result};
pub use formats::{MAX_ALIAS_LEN, MAX_PASSWORD_LEN, jks_read, to_jks, to_pkcs12, validate_password};
pub use inspect::{CertInfo, Fingerprints};
pub use issue::{CertValidity, Serial, key_identifier, unix_millis_48};
pub use key_match::key_matches_spki;
pub use keys::{PBKDF2_ITERATIONS, PrivateKey};
pub use leaf::{Criticals, LeafKind, LeafProfile, build_leaf, build_leaf_described};
pub use name::{
    MAX_EXTRA_ATTRIBUTE_LEN, SubjectFields, UB_COMMON_NAME, UB_LOCALITY, UB_ORGANIZATION, UB_ORGANIZATIONAL_UNIT,
    UB_STATE, dn_string,
};
pub use ocsp::{
    CertId, OcspCertStatus, OcspHashAlgorithm, OcspRequest, OcspResponseStatus, SingleResponse, build_ocsp_response,
    build_ocsp_signer_cert, ocsp_error_response,
};
pub use ocsp_parse::{OcspResponseInfo, parse_ocsp_response};
pub use pkcs12_read::{MAX_PKCS12_KDF_ITERATIONS, pkcs12_read};
pub use san::San;
pub use signer::{DerSignature, KeySigner, SpkiPublicKey};
pub use upload::{
    ChainEntry, MAX_CHAIN_LEN, UploadedChain, chain_entries, check_key_matches, is_sm2, issuer_fields,
    parse_uploaded_chain, parse_uploaded_key,
};
pub use usage::{ExtKeyUsage, KeyUsageFlags};
pub use verify::{verify_certificate_signature, verify_certificate_signature_any_sm2_id, verify_signature};

/// The RNG traits this crate's functions take (rand_core 0.10).
pub use rand_core;
/// Re-exported so callers can name `x509_cert::name::Name` and friends.
pub use x509_cert;

/// The operating system's CSPRNG as a rand_core 0.10 [`rand_core::CryptoRng`]
/// (panics if the OS RNG fails, which getrandom treats as unrecoverable).
pub fn os_rng() -> rand_core::UnwrapErr<getrandom::SysRng> {
    rand_core::UnwrapErr(getrandom::SysRng)
}
