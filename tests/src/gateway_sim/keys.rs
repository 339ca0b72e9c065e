//! RSA keys and certificates in PEM files: SHA256withRSA (PKCS#1 v1.5) signing and
//! verification, as both gateways use it, and X.509 certificate serials (WeChat names the key
//! that signed a message by its certificate's serial).

use std::path::Path;

use anyhow::{Context, bail};
use base64::Engine as _;
use ring::rand::SystemRandom;
use ring::signature::{self, RsaKeyPair};
use x509_cert::Certificate;
use x509_cert::der::Decode;
use x509_cert::spki::SubjectPublicKeyInfoRef;

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// An RSA private key (PKCS#8 `PRIVATE KEY` or PKCS#1 `RSA PRIVATE KEY`).
pub struct PrivateKey {
    pair: RsaKeyPair,
    rng: SystemRandom,
}

impl PrivateKey {
    pub fn from_pem(text: &str) -> anyhow::Result<PrivateKey> {
        let block = pem::parse(text).context("not PEM")?;
        let pair = match block.tag() {
            "PRIVATE KEY" => RsaKeyPair::from_pkcs8(block.contents()),
            "RSA PRIVATE KEY" => RsaKeyPair::from_der(block.contents()),
            other => bail!("expected an RSA private key, found PEM {other:?}"),
        }
        .map_err(|e| anyhow::anyhow!("RSA private key rejected: {e}"))?;
        Ok(PrivateKey {
            pair,
            rng: SystemRandom::new(),
        })
    }

    pub fn load(path: &Path) -> anyhow::Result<PrivateKey> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("read {}", path.display()))?;
        PrivateKey::from_pem(&text).with_context(|| format!("key {}", path.display()))
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

/// An RSA public key, from a certificate (`CERTIFICATE`, with its serial), an SPKI
/// `PUBLIC KEY` or a PKCS#1 `RSA PUBLIC KEY`.
#[derive(Clone)]
pub struct PublicKey {
    /// PKCS#1 RSAPublicKey DER, what ring verifies with.
    pkcs1: Vec<u8>,
    /// Upper-case hex serial of the certificate it came from.
    pub serial: Option<String>,
}

impl PublicKey {
    pub fn from_pem(text: &str) -> anyhow::Result<PublicKey> {
        let block = pem::parse(text).context("not PEM")?;
        match block.tag() {
            "CERTIFICATE" => {
                let cert = Certificate::from_der(block.contents())
                    .map_err(|e| anyhow::anyhow!("certificate: {e}"))?;
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
                    .map_err(|e| anyhow::anyhow!("public key: {e}"))?;
                Ok(PublicKey {
                    pkcs1: spki.subject_public_key.raw_bytes().to_vec(),
                    serial: None,
                })
            }
            "RSA PUBLIC KEY" => Ok(PublicKey {
                pkcs1: block.contents().to_vec(),
                serial: None,
            }),
            other => bail!("expected a certificate or public key, found PEM {other:?}"),
        }
    }

    pub fn load(path: &Path) -> anyhow::Result<PublicKey> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("read {}", path.display()))?;
        PublicKey::from_pem(&text).with_context(|| format!("key {}", path.display()))
    }

    /// Whether `signature_b64` is a valid SHA256withRSA signature of `message`.
    pub fn verify(&self, message: &[u8], signature_b64: &str) -> bool {
        let Ok(signature) = B64.decode(signature_b64.trim()) else {
            return false;
        };
        signature::UnparsedPublicKey::new(&signature::RSA_PKCS1_2048_8192_SHA256, &self.pkcs1)
            .verify(message, &signature)
            .is_ok()
    }
}

/// A DER integer's bytes as the serial WeChat prints: upper-case hex without the sign byte.
fn serial_hex(bytes: &[u8]) -> String {
    let bytes = match bytes {
        [0, rest @ ..] if !rest.is_empty() => rest,
        all => all,
    };
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}
