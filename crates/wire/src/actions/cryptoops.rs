//! Encrypt, Decrypt, Sign, Verify (2020-04-07).

use crate::error::WireError;
use crate::params::Params;
use crate::registry::{Body, Registry, to_body};
use base64::Engine;
use opencas_pki::cryptoops::{EncryptionAlgorithm, SigningScheme};
use opencas_service::cryptoops::{KeyRef, SignData};
use opencas_service::{Caller, Service};

const V: &str = "2020-04-07";

/// The API documents messages to sign "less than 4 KB"; larger data is signed as a digest.
const MAX_MESSAGE: usize = 4096;

pub fn register(r: &mut Registry) {
    r.add(V, "Encrypt", |s, c, p| Box::pin(encrypt(s, c, p)));
    r.add(V, "Decrypt", |s, c, p| Box::pin(decrypt(s, c, p)));
    r.add(V, "Sign", |s, c, p| Box::pin(sign(s, c, p)));
    r.add(V, "Verify", |s, c, p| Box::pin(verify(s, c, p)));
}

fn key_ref(p: &Params) -> Result<KeyRef, WireError> {
    let key = KeyRef {
        cert_identifier: p.opt_str_max("CertIdentifier", 128)?,
        custom_identifier: p.opt_str_max("CustomIdentifier", 128)?,
        warehouse_id: p.opt_i64("WarehouseId", 1..=i64::MAX)?,
    };
    if key.cert_identifier.is_none() && key.custom_identifier.is_none() {
        return Err(WireError::missing("CertIdentifier"));
    }
    Ok(key)
}

fn base64_param(p: &Params, name: &str) -> Result<Vec<u8>, WireError> {
    let text = p.req_str(name)?;
    base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .map_err(|_| WireError::invalid(name, format!("{name} is not valid Base64.")))
}

/// `MessageType`, compared without case (the API spells it `Base64` in one action and
/// `BASE64` in another).
fn message_type(
    p: &Params,
    allowed: &[&'static str],
    default: Option<&'static str>,
) -> Result<&'static str, WireError> {
    let Some(given) = p.opt_str("MessageType") else {
        return default.ok_or_else(|| WireError::missing("MessageType"));
    };
    allowed
        .iter()
        .find(|a| a.eq_ignore_ascii_case(&given))
        .copied()
        .ok_or_else(|| {
            WireError::invalid(
                "MessageType",
                format!("MessageType must be one of {}.", allowed.join(", ")),
            )
        })
}

fn encryption_algorithm(p: &Params) -> Result<EncryptionAlgorithm, WireError> {
    let name = p.req_str("Algorithm")?;
    EncryptionAlgorithm::from_api(&name).ok_or_else(|| {
        WireError::invalid(
            "Algorithm",
            "Algorithm must be one of RSAES_OAEP_SHA_1, RSAES_OAEP_SHA_256, SM2PKE.",
        )
    })
}

fn signing_scheme(p: &Params, allowed: &[SigningScheme]) -> Result<SigningScheme, WireError> {
    let name = p.req_str("SigningAlgorithm")?;
    SigningScheme::from_api(&name)
        .filter(|s| allowed.contains(s))
        .ok_or_else(|| {
            let names: Vec<_> = allowed.iter().map(|s| s.as_api()).collect();
            WireError::invalid(
                "SigningAlgorithm",
                format!("SigningAlgorithm must be one of {}.", names.join(", ")),
            )
        })
}

fn check_message_size(data: &SignData) -> Result<(), WireError> {
    match data {
        SignData::Message(m) if m.len() > MAX_MESSAGE => Err(WireError::invalid(
            "Message",
            format!("A message to sign must be at most {MAX_MESSAGE} bytes; sign larger data as a DIGEST."),
        )),
        _ => Ok(()),
    }
}

async fn encrypt(s: Service, caller: Caller, p: Params) -> Result<Body, WireError> {
    let algorithm = encryption_algorithm(&p)?;
    let key = key_ref(&p)?;
    let plaintext = match message_type(&p, &["RAW", "Base64"], Some("RAW"))? {
        "RAW" => p.req_str("Plaintext")?.into_bytes(),
        _ => base64_param(&p, "Plaintext")?,
    };
    to_body(s.encrypt(caller, key, algorithm, plaintext).await?)
}

async fn decrypt(s: Service, caller: Caller, p: Params) -> Result<Body, WireError> {
    let algorithm = encryption_algorithm(&p)?;
    let key = key_ref(&p)?;
    let ciphertext = base64_param(&p, "CiphertextBlob")?;
    let as_text = message_type(&p, &["RAW", "Base64"], Some("Base64"))? == "RAW";
    to_body(s.decrypt(caller, key, algorithm, ciphertext, as_text).await?)
}

async fn sign(s: Service, caller: Caller, p: Params) -> Result<Body, WireError> {
    let scheme = signing_scheme(&p, &SigningScheme::ALL)?;
    let key = key_ref(&p)?;
    let data = match message_type(&p, &["RAW", "DIGEST", "BASE64", "BLIND"], Some("RAW"))? {
        "RAW" => SignData::Message(p.req_str("Message")?.into_bytes()),
        "BASE64" => SignData::Message(base64_param(&p, "Message")?),
        "DIGEST" => SignData::Digest(base64_param(&p, "Message")?),
        _ => {
            return Err(WireError::invalid(
                "MessageType",
                "Blind signing (BLIND) is not offered: it needs a raw RSA private-key operation this service does not expose.",
            ));
        }
    };
    check_message_size(&data)?;
    to_body(s.sign(caller, key, scheme, data).await?)
}

async fn verify(s: Service, caller: Caller, p: Params) -> Result<Body, WireError> {
    use SigningScheme as S;
    let scheme = signing_scheme(
        &p,
        &[S::Sha256WithRsa, S::Sha256WithRsaPss, S::Sha256WithEcdsa, S::Sm3WithSm2],
    )?;
    let key = key_ref(&p)?;
    // Verify takes the message Base64-encoded whatever its type.
    let message = base64_param(&p, "Message")?;
    let data = match message_type(&p, &["RAW", "DIGEST"], Some("RAW"))? {
        "RAW" => SignData::Message(message),
        _ => SignData::Digest(message),
    };
    check_message_size(&data)?;
    let signature = base64_param(&p, "SignatureValue")?;
    to_body(s.verify(caller, key, scheme, data, signature).await?)
}
