//! Password hashes: argon2id PHC strings (`$argon2id$v=19$m=…,t=…,p=1$salt$hash`), a fresh
//! random salt each, computed and checked off the async runtime.

use std::sync::Arc;

use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::{Algorithm, Argon2, Params, Version};

use crate::settings::Settings;

/// Lanes of the hash: one, as OWASP's argon2id baseline (the server hashes one login per
/// blocking thread; parallelism comes from concurrent logins).
const LANES: u32 = 1;

/// A password could not be hashed (bad cost settings, or the OS random source failed).
#[derive(Debug, thiserror::Error)]
#[error("password hashing failed: {0}")]
pub struct HashError(pub String);

/// A PHC string. Not a secret in itself, but never printed: logs are no place for
/// material to guess passwords against.
#[derive(Clone, PartialEq, Eq)]
pub struct PasswordHash(pub String);

impl std::fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PasswordHash(<redacted>)")
    }
}

impl PasswordHash {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The configured hasher, plus a hash of a password nobody knows.
#[derive(Clone)]
pub struct Passwords {
    params: Params,
    /// Checked when there is no real hash (unknown username, no password set), so the
    /// answer takes as long as a real check and timing tells nothing.
    dummy: Arc<str>,
}

impl std::fmt::Debug for Passwords {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Passwords")
            .field("m_cost", &self.params.m_cost())
            .field("t_cost", &self.params.t_cost())
            .finish_non_exhaustive()
    }
}

impl Passwords {
    /// The cost settings as argon2 parameters; refused when argon2 would refuse them.
    pub fn params(settings: &Settings) -> Result<Params, HashError> {
        Params::new(
            settings.password_hash_memory_kib,
            settings.password_hash_iterations,
            LANES,
            None,
        )
        .map_err(|e| HashError(e.to_string()))
    }

    pub fn new(settings: &Settings) -> Result<Passwords, HashError> {
        let params = Self::params(settings)?;
        let unknowable = uuid::Uuid::new_v4().to_string();
        let dummy = hash_with(&params, &unknowable)?.into();
        Ok(Passwords { params, dummy })
    }

    /// A PHC string of `password` under the configured cost.
    pub async fn hash(&self, password: &str) -> Result<PasswordHash, HashError> {
        let (params, password) = (self.params.clone(), password.to_owned());
        tokio::task::spawn_blocking(move || hash_with(&params, &password))
            .await
            .map_err(|e| HashError(e.to_string()))?
            .map(PasswordHash)
    }

    /// Whether `password` matches `hash`. Without a hash the dummy is checked (and the
    /// answer is no), so both cases cost the same.
    pub async fn verify(&self, password: &str, hash: Option<&str>) -> bool {
        let (known, phc) = match hash {
            Some(hash) => (true, hash.to_owned()),
            None => (false, self.dummy.to_string()),
        };
        let password = password.to_owned();
        let matched = tokio::task::spawn_blocking(move || {
            // The cost and salt come from the PHC string itself.
            Argon2::default()
                .verify_password(password.as_bytes(), phc.as_str())
                .is_ok()
        })
        .await
        .unwrap_or(false);
        known && matched
    }
}

fn hash_with(params: &Params, password: &str) -> Result<String, HashError> {
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone())
        .hash_password(password.as_bytes())
        .map(|hash| hash.to_string())
        .map_err(|e| HashError(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cheap() -> Passwords {
        Passwords::new(&Settings {
            password_hash_memory_kib: 1024,
            password_hash_iterations: 1,
            ..Settings::default()
        })
        .unwrap()
    }

    #[tokio::test]
    async fn a_hash_verifies_its_password_only() {
        let passwords = cheap();
        let hash = passwords.hash("Secret123").await.unwrap().0;
        assert!(hash.starts_with("$argon2id$v=19$m=1024,t=1,p=1$"), "{hash}");
        assert!(passwords.verify("Secret123", Some(&hash)).await);
        assert!(!passwords.verify("Secret124", Some(&hash)).await);
    }

    #[tokio::test]
    async fn the_same_password_gets_a_new_salt_each_time() {
        let passwords = cheap();
        let (a, b) = (
            passwords.hash("Secret123").await.unwrap().0,
            passwords.hash("Secret123").await.unwrap().0,
        );
        assert_ne!(a, b);
    }

    #[tokio::test]
    async fn no_hash_never_verifies() {
        let passwords = cheap();
        assert!(!passwords.verify("", None).await);
        assert!(!passwords.verify("anything", None).await);
        assert!(!passwords.verify("x", Some("not a phc string")).await);
    }
}
