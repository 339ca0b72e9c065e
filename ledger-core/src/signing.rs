//! Request signing of the headset protocol: HMAC-SHA256 over
//! `{timestamp}\n{METHOD}\n{path}\n{body}`, Base64 (standard, padded).
//!
//! Shared by the server (verification) and by our own clients (tests, load generator).

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ring::hmac;

/// The exact bytes that are signed.
pub fn canonical_bytes(timestamp: &str, method: &str, path: &str, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(timestamp.len() + method.len() + path.len() + body.len() + 3);
    out.extend_from_slice(timestamp.as_bytes());
    out.push(b'\n');
    out.extend_from_slice(method.to_ascii_uppercase().as_bytes());
    out.push(b'\n');
    out.extend_from_slice(path.as_bytes());
    out.push(b'\n');
    out.extend_from_slice(body);
    out
}

/// Base64 signature a client sends in `X-Signature`.
pub fn sign(secret: &[u8], timestamp: &str, method: &str, path: &str, body: &[u8]) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret);
    let tag = hmac::sign(&key, &canonical_bytes(timestamp, method, path, body));
    STANDARD.encode(tag.as_ref())
}

/// Constant-time check of a received signature; malformed Base64 simply fails.
pub fn verify(
    secret: &[u8],
    timestamp: &str,
    method: &str,
    path: &str,
    body: &[u8],
    signature_b64: &str,
) -> bool {
    let Ok(signature) = STANDARD.decode(signature_b64) else {
        return false;
    };
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret);
    hmac::verify(
        &key,
        &canonical_bytes(timestamp, method, path, body),
        &signature,
    )
    .is_ok()
}

/// Hex SHA-256 of a secret: what events and read tables keep instead of the secret.
pub fn fingerprint(secret: &[u8]) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, secret);
    digest.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_verifies_only_for_the_same_secret_and_bytes() {
        let sig = sign(
            b"s3cret",
            "1763728200",
            "post",
            "/api/v1/auth/game/authorize",
            b"{}",
        );
        assert!(verify(
            b"s3cret",
            "1763728200",
            "POST",
            "/api/v1/auth/game/authorize",
            b"{}",
            &sig
        ));
        assert!(!verify(
            b"other",
            "1763728200",
            "POST",
            "/api/v1/auth/game/authorize",
            b"{}",
            &sig
        ));
        assert!(!verify(
            b"s3cret",
            "1763728201",
            "POST",
            "/api/v1/auth/game/authorize",
            b"{}",
            &sig
        ));
        assert!(!verify(
            b"s3cret",
            "1763728200",
            "POST",
            "/api/v1/auth/game/authorize",
            b"{ }",
            &sig
        ));
        assert!(!verify(
            b"s3cret",
            "1763728200",
            "POST",
            "/api/v1/auth/game/authorize",
            b"{}",
            "%%%"
        ));
    }

    #[test]
    fn canonical_string_matches_the_protocol() {
        assert_eq!(
            canonical_bytes("1", "get", "/p", b""),
            b"1\nGET\n/p\n".to_vec()
        );
    }
}
