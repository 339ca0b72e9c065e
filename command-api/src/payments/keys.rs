//! RSA keys and certificates as the gateways hand them out (PEM): SHA256withRSA (PKCS#1 v1.5)
//! signing and verification with ring, and the serial of an X.509 certificate (WeChat Pay
//! names the key that signed a message by its certificate's serial).

use base64::Engine as _;
use ring::rand::SystemRandom;
use ring::signature::{self, RsaKeyPair};
use x509_cert::Certificate;
use x509_cert::der::Decode;
use x509_cert::spki::SubjectPublicKeyInfoRef;

pub(crate) const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// A setting that is either PEM text itself or the path of a PEM file.
pub fn pem_text(setting: &str, name: &str) -> Result<String, String> {
    if setting.trim_start().starts_with("-----BEGIN") {
        return Ok(setting.to_owned());
    }
    std::fs::read_to_string(setting).map_err(|e| format!("{name}: reading {setting}: {e}"))
}

/// An RSA private key (PKCS#8 `PRIVATE KEY` or PKCS#1 `RSA PRIVATE KEY`).
pub struct PrivateKey {
    pair: RsaKeyPair,
    rng: SystemRandom,
}

impl std::fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PrivateKey(<redacted>)")
    }
}

impl PrivateKey {
    pub fn from_pem(text: &str) -> Result<PrivateKey, String> {
        let block = pem::parse(text).map_err(|e| format!("not PEM: {e}"))?;
        let pair = match block.tag() {
            "PRIVATE KEY" => RsaKeyPair::from_pkcs8(block.contents()),
            "RSA PRIVATE KEY" => RsaKeyPair::from_der(block.contents()),
            other => return Err(format!("expected an RSA private key, found PEM {other:?}")),
        }
        .map_err(|e| format!("RSA private key rejected: {e}"))?;
        Ok(PrivateKey {
            pair,
            rng: SystemRandom::new(),
        })
    }

    /// base64(SHA256withRSA(message)).
    pub fn sign(&self, message: &[u8]) -> String {
        let mut out = vec![0; self.pair.public().modulus_len()];
        self.pair
            .sign(&signature::RSA_PKCS1_SHA256, &self.rng, message, &mut out)
            .expect("RSA signing with a valid key");
        B64.encode(out)
    }
}

/// An RSA public key: from a certificate (`CERTIFICATE`, with its serial), an SPKI
/// `PUBLIC KEY`, or a PKCS#1 `RSA PUBLIC KEY`.
#[derive(Debug, Clone)]
pub struct PublicKey {
    /// PKCS#1 RSAPublicKey DER: what ring verifies with.
    pkcs1: Vec<u8>,
    /// Upper-case hex serial of the certificate it came from.
    pub serial: Option<String>,
}

impl PublicKey {
    /// Every key in `text` (a platform certificate file may hold several).
    pub fn all_from_pem(text: &str) -> Result<Vec<PublicKey>, String> {
        let blocks = pem::parse_many(text).map_err(|e| format!("not PEM: {e}"))?;
        if blocks.is_empty() {
            return Err("no PEM block".to_owned());
        }
        blocks.iter().map(PublicKey::from_block).collect()
    }

    pub fn from_pem(text: &str) -> Result<PublicKey, String> {
        PublicKey::from_block(&pem::parse(text).map_err(|e| format!("not PEM: {e}"))?)
    }

    fn from_block(block: &pem::Pem) -> Result<PublicKey, String> {
        match block.tag() {
            "CERTIFICATE" => {
                let cert = Certificate::from_der(block.contents())
                    .map_err(|e| format!("certificate: {e}"))?;
                let tbs = &cert.tbs_certificate;
                Ok(PublicKey {
                    pkcs1: tbs
                        .subject_public_key_info
                        .subject_public_key
                        .raw_bytes()
                        .to_vec(),
                    serial: Some(serial_hex(tbs.serial_number.as_bytes())),
                })
            }
            "PUBLIC KEY" => {
                let spki = SubjectPublicKeyInfoRef::from_der(block.contents())
                    .map_err(|e| format!("public key: {e}"))?;
                Ok(PublicKey {
                    pkcs1: spki.subject_public_key.raw_bytes().to_vec(),
                    serial: None,
                })
            }
            "RSA PUBLIC KEY" => Ok(PublicKey {
                pkcs1: block.contents().to_vec(),
                serial: None,
            }),
            other => Err(format!(
                "expected a public key or certificate, found {other:?}"
            )),
        }
    }

    /// Whether `signature_b64` is this key's SHA256withRSA signature of `message`.
    pub fn verify(&self, message: &[u8], signature_b64: &str) -> bool {
        let Ok(sig) = B64.decode(signature_b64.trim()) else {
            return false;
        };
        signature::UnparsedPublicKey::new(&signature::RSA_PKCS1_2048_8192_SHA256, &self.pkcs1)
            .verify(message, &sig)
            .is_ok()
    }
}

/// Upper-case hex without the sign-padding zero byte DER may put in front.
fn serial_hex(bytes: &[u8]) -> String {
    let trimmed = match bytes {
        [0, rest @ ..] if !rest.is_empty() => rest,
        all => all,
    };
    trimmed.iter().map(|b| format!("{b:02X}")).collect()
}

/// A random alphanumeric nonce of `len` characters.
pub fn nonce(len: usize) -> String {
    use ring::rand::SecureRandom;
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    let mut bytes = vec![0u8; len];
    SystemRandom::new()
        .fill(&mut bytes)
        .expect("system randomness");
    bytes
        .iter()
        .map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()] as char)
        .collect()
}
