//! The one error type of the crate.

/// Result alias used throughout the crate.
pub type Result<T> = core::result::Result<T, Error>;

/// Everything that can go wrong in `opencas-pki`.
///
/// Variants carry a human-readable detail string rather than the error types
/// of the underlying crates, so the public API does not depend on them. The
/// service layer maps variants to CAS API error codes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An algorithm name (e.g. a CAS `Algorithm` parameter) is not supported.
    #[error("unsupported algorithm: {0}")]
    UnsupportedAlgorithm(String),
    /// A key is well-formed but of a type or size this crate does not handle.
    #[error("unsupported key: {0}")]
    UnsupportedKey(String),
    /// A key could not be decoded.
    #[error("malformed key: {0}")]
    MalformedKey(String),
    /// The private key is encrypted and no password was supplied.
    #[error("the private key is encrypted; a password is required")]
    PasswordRequired,
    /// Decrypting an encrypted private key failed (wrong password or corrupt data).
    #[error("cannot decrypt the private key (wrong password or corrupt data)")]
    DecryptionFailed,
    /// A subject field is empty where required, too long, or contains forbidden characters.
    #[error("invalid subject: {0}")]
    InvalidSubject(String),
    /// The country code is not an assigned ISO 3166-1 alpha-2 code.
    #[error("invalid country code: {0:?}")]
    InvalidCountryCode(String),
    /// The validity period is empty, reversed or not representable.
    #[error("invalid validity period: {0}")]
    InvalidValidity(String),
    /// The requested validity does not lie within the issuer's validity.
    #[error("the validity period lies outside the issuer's validity period")]
    ValidityOutsideIssuer,
    /// The issuer certificate is not a CA certificate (no `CA:TRUE`, or a
    /// KeyUsage without `keyCertSign` for certificates / `cRLSign` for CRLs).
    #[error("the issuer certificate is not a CA certificate")]
    IssuerNotCa,
    /// The issuer's path length constraint forbids the requested sub CA.
    #[error("the issuer's path length constraint forbids this CA certificate")]
    PathLenExceeded,
    /// The issuer private key does not belong to the issuer certificate.
    #[error("the issuer private key does not match the issuer certificate")]
    IssuerKeyMismatch,
    /// A serial number is zero, negative or too long.
    #[error("invalid serial number: {0}")]
    InvalidSerial(String),
    /// An extension value (URI, EKU name, ...) is invalid.
    #[error("invalid extension value: {0}")]
    InvalidExtension(String),
    /// A certificate signing request could not be decoded, or is not a
    /// well-formed PKCS#10 request.
    #[error("malformed certificate request: {0}")]
    MalformedCsr(String),
    /// A subject alternative name is invalid (the message names the value).
    #[error("invalid subject alternative name: {0}")]
    InvalidSan(String),
    /// A certificate could not be decoded.
    #[error("malformed certificate: {0}")]
    MalformedCertificate(String),
    /// PEM text could not be decoded, or lacked the expected block.
    #[error("malformed PEM: {0}")]
    Pem(String),
    /// A signature did not verify.
    #[error("signature verification failed")]
    BadSignature,
    /// The signing back-end failed.
    #[error("signing failed: {0}")]
    Signing(String),
    /// DER encoding failed (should not happen with valid inputs).
    #[error("encoding error: {0}")]
    Encoding(String),
    /// A key store password breaks the rules (non-empty, printable ASCII, at most 64 characters).
    #[error("invalid password: {0}")]
    InvalidPassword(String),
    /// A key store alias / friendly name is empty, too long or contains forbidden characters.
    #[error("invalid alias: {0}")]
    InvalidAlias(String),
    /// The private key does not belong to the certificate.
    #[error("the private key does not match the certificate")]
    KeyMismatch,
    /// A key store (PKCS#12, JKS) could not be decoded.
    #[error("malformed key store: {0}")]
    MalformedKeyStore(String),
    /// A key store asks for more password-based key derivation work than this crate runs; refused
    /// before any of it is done.
    #[error("key derivation cost too high: {0}")]
    ExcessiveKdfCost(String),
    /// The random number generator failed.
    #[error("random number generator failure")]
    Rng,
    /// Revocation data for a CRL or an OCSP response is invalid (unknown
    /// reason name, removeFromCRL in a full CRL, no responses, ...).
    #[error("invalid revocation data: {0}")]
    InvalidRevocation(String),
    /// A CRL could not be decoded.
    #[error("malformed CRL: {0}")]
    MalformedCrl(String),
    /// An OCSP request could not be decoded or uses something this responder
    /// does not support (version, hash algorithm, critical extension). The
    /// responder answers with `malformedRequest`.
    #[error("malformed OCSP request: {0}")]
    MalformedOcspRequest(String),
    /// A cryptographic operation was asked of a key it does not fit (OAEP with an EC key...).
    #[error("algorithm mismatch: {0}")]
    AlgorithmMismatch(String),
    /// The plaintext is longer than the algorithm can encrypt under this key.
    #[error("the plaintext is longer than {max} bytes")]
    PlaintextTooLong {
        /// The limit in bytes.
        max: usize,
    },
    /// A ciphertext did not decrypt (wrong key, corrupt or not for this algorithm).
    #[error("the ciphertext cannot be decrypted with this key and algorithm")]
    CiphertextInvalid,
    /// A digest given in place of a message has the wrong length for the algorithm.
    #[error("invalid digest: {0}")]
    InvalidDigest(String),
    /// The certificate to be signed failed a pre-issuance check (the message
    /// lists every finding); nothing was signed.
    #[error("pre-issuance check failed: {0}")]
    LintFailed(String),
    /// An OCSP response could not be decoded.
    #[error("malformed OCSP response: {0}")]
    MalformedOcspResponse(String),
}

impl Error {
    pub(crate) fn encoding(e: impl core::fmt::Display) -> Self {
        Error::Encoding(e.to_string())
    }
    pub(crate) fn malformed_key(e: impl core::fmt::Display) -> Self {
        Error::MalformedKey(e.to_string())
    }
    pub(crate) fn malformed_cert(e: impl core::fmt::Display) -> Self {
        Error::MalformedCertificate(e.to_string())
    }
    pub(crate) fn malformed_csr(e: impl core::fmt::Display) -> Self {
        Error::MalformedCsr(e.to_string())
    }
}

impl From<der::Error> for Error {
    fn from(e: der::Error) -> Self {
        Error::Encoding(e.to_string())
    }
}

impl From<x509_cert::builder::Error> for Error {
    fn from(e: x509_cert::builder::Error) -> Self {
        match e {
            x509_cert::builder::Error::Signature(s) => Error::Signing(s.to_string()),
            other => Error::Encoding(other.to_string()),
        }
    }
}
