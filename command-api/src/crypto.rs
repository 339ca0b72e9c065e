//! Secrets at rest: AES-256-GCM under a master key from the environment, and generation of
//! API credentials.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ledger_core::ids::KeyId;
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::rand::{SecureRandom, SystemRandom};

/// Length of an API secret (alphanumerics), from the headset protocol.
pub const SECRET_LEN: usize = 64;
const ALPHANUMERIC: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    #[error("master key must be Base64 of exactly 32 bytes")]
    BadMasterKey,
    #[error("sealed secret does not open under master key {0}")]
    CannotOpen(String),
    #[error("secret was sealed under unknown master key {0}")]
    UnknownMasterKey(String),
}

/// The AES-256-GCM master key that seals API secrets. Never printed.
pub struct MasterKey {
    id: String,
    key: LessSafeKey,
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "MasterKey({}, <redacted>)", self.id)
    }
}

impl MasterKey {
    pub fn from_base64(id: &str, encoded: &str) -> Result<MasterKey, CryptoError> {
        let bytes = STANDARD
            .decode(encoded.trim())
            .map_err(|_| CryptoError::BadMasterKey)?;
        let unbound =
            UnboundKey::new(&AES_256_GCM, &bytes).map_err(|_| CryptoError::BadMasterKey)?;
        Ok(MasterKey {
            id: id.to_owned(),
            key: LessSafeKey::new(unbound),
        })
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    /// `nonce ‖ ciphertext ‖ tag`. The key id is authenticated data: a sealed secret copied
    /// onto another key id does not open.
    pub fn seal(&self, key_id: &KeyId, secret: &[u8]) -> Vec<u8> {
        let mut nonce = [0u8; NONCE_LEN];
        SystemRandom::new()
            .fill(&mut nonce)
            .expect("the OS random source works");
        let mut in_out = secret.to_vec();
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(key_id.as_str()),
                &mut in_out,
            )
            .expect("sealing a short secret cannot fail");
        let mut sealed = nonce.to_vec();
        sealed.extend_from_slice(&in_out);
        sealed
    }

    pub fn open(&self, key_id: &KeyId, sealed: &[u8]) -> Result<Vec<u8>, CryptoError> {
        if sealed.len() < NONCE_LEN {
            return Err(CryptoError::CannotOpen(self.id.clone()));
        }
        let (nonce, ciphertext) = sealed.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce)
            .map_err(|_| CryptoError::CannotOpen(self.id.clone()))?;
        let mut in_out = ciphertext.to_vec();
        let plain = self
            .key
            .open_in_place(nonce, Aad::from(key_id.as_str()), &mut in_out)
            .map_err(|_| CryptoError::CannotOpen(self.id.clone()))?;
        Ok(plain.to_vec())
    }
}

/// `n` characters drawn uniformly from `[A-Za-z0-9]` (rejection sampling: no modulo bias).
pub fn random_alphanumeric(n: usize) -> String {
    let rng = SystemRandom::new();
    let mut out = String::with_capacity(n);
    let mut buf = [0u8; 64];
    while out.len() < n {
        rng.fill(&mut buf).expect("the OS random source works");
        for &b in &buf {
            // 248 = 4 × 62: bytes at or above it would favour the first characters.
            if b < 248 && out.len() < n {
                out.push(ALPHANUMERIC[usize::from(b % 62)] as char);
            }
        }
    }
    out
}

/// A new credential: public key id and secret.
pub fn new_credential() -> (KeyId, String) {
    let mut id = [0u8; 16];
    SystemRandom::new()
        .fill(&mut id)
        .expect("the OS random source works");
    let hex: String = id.iter().map(|b| format!("{b:02x}")).collect();
    (
        KeyId(format!("{}{hex}", KeyId::PREFIX)),
        random_alphanumeric(SECRET_LEN),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> MasterKey {
        MasterKey::from_base64("k1", &STANDARD.encode([7u8; 32])).unwrap()
    }

    #[test]
    fn a_sealed_secret_opens_only_with_the_same_key_and_key_id() {
        let (key_id, secret) = new_credential();
        let sealed = key().seal(&key_id, secret.as_bytes());
        assert!(!sealed.windows(secret.len()).any(|w| w == secret.as_bytes()));
        assert_eq!(key().open(&key_id, &sealed).unwrap(), secret.as_bytes());
        assert!(key().open(&KeyId("mrk_other".into()), &sealed).is_err());
        let other = MasterKey::from_base64("k2", &STANDARD.encode([8u8; 32])).unwrap();
        assert!(other.open(&key_id, &sealed).is_err());
    }

    #[test]
    fn credentials_have_the_protocol_shape() {
        let (key_id, secret) = new_credential();
        assert!(key_id.as_str().starts_with("mrk_") && key_id.as_str().len() == 36);
        assert_eq!(secret.len(), SECRET_LEN);
        assert!(secret.bytes().all(|b| b.is_ascii_alphanumeric()));
        assert!(MasterKey::from_base64("k", "c2hvcnQ=").is_err());
    }
}
