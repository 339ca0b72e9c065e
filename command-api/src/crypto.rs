//! Secrets at rest: AES-256-GCM under a master key from the environment (with the previous
//! keys of a rotation still able to open), and generation of API credentials.

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
    #[error(
        "MR_MASTER_KEY_PREVIOUS must be comma-separated `id:base64` entries of 32-byte keys \
         (entry {0} is not)"
    )]
    BadPreviousKeys(usize),
    #[error("master key id {0} is configured twice")]
    DuplicateKeyId(String),
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

/// Every master key the service holds: the current one seals, the current and the previous
/// ones open. During a rotation the old key stays among the previous ones until
/// `rotate-master-key` has resealed every secret under the current key.
#[derive(Debug)]
pub struct MasterKeys {
    current: MasterKey,
    previous: Vec<MasterKey>,
}

impl MasterKeys {
    /// The current key plus the previous keys, refusing two keys with the same id (the
    /// stored id would no longer say which key opens a secret).
    pub fn new(current: MasterKey, previous: Vec<MasterKey>) -> Result<MasterKeys, CryptoError> {
        let mut seen = vec![current.id()];
        for key in &previous {
            if seen.contains(&key.id()) {
                return Err(CryptoError::DuplicateKeyId(key.id().to_owned()));
            }
            seen.push(key.id());
        }
        Ok(MasterKeys { current, previous })
    }

    /// `current_id` + `current` (Base64), and `previous` as `id:base64[,id:base64…]`
    /// (empty: no previous key).
    pub fn parse(
        current_id: &str,
        current: &str,
        previous: &str,
    ) -> Result<MasterKeys, CryptoError> {
        let current = MasterKey::from_base64(current_id, current)?;
        let previous = previous
            .split(',')
            .map(str::trim)
            .filter(|entry| !entry.is_empty())
            .enumerate()
            .map(|(index, entry)| {
                let (id, encoded) = entry
                    .split_once(':')
                    .filter(|(id, _)| !id.trim().is_empty())
                    .ok_or(CryptoError::BadPreviousKeys(index + 1))?;
                MasterKey::from_base64(id.trim(), encoded)
                    .map_err(|_| CryptoError::BadPreviousKeys(index + 1))
            })
            .collect::<Result<Vec<_>, _>>()?;
        MasterKeys::new(current, previous)
    }

    /// Id of the current key: the one new secrets are sealed under.
    pub fn id(&self) -> &str {
        self.current.id()
    }

    /// Whether a secret sealed under `master_key_id` can be opened.
    pub fn holds(&self, master_key_id: &str) -> bool {
        self.key(master_key_id).is_some()
    }

    /// Seals under the current key (store [`MasterKeys::id`] beside the result).
    pub fn seal(&self, key_id: &KeyId, secret: &[u8]) -> Vec<u8> {
        self.current.seal(key_id, secret)
    }

    /// Opens a secret sealed under `master_key_id`, current or previous.
    pub fn open(
        &self,
        master_key_id: &str,
        key_id: &KeyId,
        sealed: &[u8],
    ) -> Result<Vec<u8>, CryptoError> {
        self.key(master_key_id)
            .ok_or_else(|| CryptoError::UnknownMasterKey(master_key_id.to_owned()))?
            .open(key_id, sealed)
    }

    fn key(&self, master_key_id: &str) -> Option<&MasterKey> {
        std::iter::once(&self.current)
            .chain(&self.previous)
            .find(|key| key.id() == master_key_id)
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
    fn previous_keys_open_what_they_sealed_and_the_current_key_seals() {
        let k1 = STANDARD.encode([7u8; 32]);
        let k2 = STANDARD.encode([8u8; 32]);
        let (key_id, secret) = new_credential();
        let old = MasterKeys::parse("k1", &k1, "").unwrap();
        let sealed_k1 = old.seal(&key_id, secret.as_bytes());
        let rotating = MasterKeys::parse("k2", &k2, &format!(" k1:{k1} ")).unwrap();
        assert_eq!(rotating.id(), "k2");
        assert!(rotating.holds("k1") && rotating.holds("k2") && !rotating.holds("k0"));
        assert_eq!(
            rotating.open("k1", &key_id, &sealed_k1).unwrap(),
            secret.as_bytes()
        );
        let sealed_k2 = rotating.seal(&key_id, secret.as_bytes());
        assert!(rotating.open("k1", &key_id, &sealed_k2).is_err());
        assert_eq!(
            rotating.open("k2", &key_id, &sealed_k2).unwrap(),
            secret.as_bytes()
        );
        assert!(matches!(
            old.open("k2", &key_id, &sealed_k2),
            Err(CryptoError::UnknownMasterKey(id)) if id == "k2"
        ));
    }

    #[test]
    fn malformed_previous_keys_are_refused_without_echoing_them() {
        let k1 = STANDARD.encode([7u8; 32]);
        for bad in ["k1", ":abc", &format!("k0:{k1},k9:c2hvcnQ=")] {
            let error = MasterKeys::parse("k2", &k1, bad).unwrap_err();
            assert!(
                matches!(error, CryptoError::BadPreviousKeys(_)),
                "{bad}: {error}"
            );
            assert!(!error.to_string().contains(&k1));
        }
        assert!(matches!(
            MasterKeys::parse("k1", &k1, &format!("k1:{k1}")),
            Err(CryptoError::DuplicateKeyId(id)) if id == "k1"
        ));
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
