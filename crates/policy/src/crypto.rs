//! Ed25519 keys (SPEC S-1): key ids, and the key files `cordon keys generate` writes.
//!
//! A key id is the lowercase hex SHA-256 of the raw 32-byte public key. Randomness for new keys
//! comes from the caller (this crate does no I/O).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
pub use ed25519_dalek::{SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// `sha256:<hex>` of some bytes.
pub fn sha256_id(bytes: &[u8]) -> String {
    format!("sha256:{}", hex(&Sha256::digest(bytes)))
}

/// Lowercase hex.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

/// The key id of a public key.
pub fn key_id(key: &VerifyingKey) -> String {
    hex(&Sha256::digest(key.as_bytes()))
}

/// A short form of a key id for messages (its first 16 hex digits).
pub fn short_id(keyid: &str) -> &str {
    keyid.get(..16).unwrap_or(keyid)
}

/// Decode standard or URL-safe base64, padded or not (DSSE allows either).
pub fn decode_base64(text: &str) -> Option<Vec<u8>> {
    use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
    [STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD]
        .iter()
        .find_map(|e| e.decode(text).ok())
}

/// Standard padded base64.
pub fn encode_base64(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

/// An Ed25519 signature over `message`, base64 (as envelopes and audit checkpoints carry them).
pub fn sign_detached(key: &SigningKey, message: &[u8]) -> String {
    use ed25519_dalek::Signer as _;
    encode_base64(&key.sign(message).to_bytes())
}

/// A key file could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyFileError {
    /// Not the JSON of a key file.
    #[error("not a cordon key file: {0}")]
    Format(String),
    /// A private key file was given where a public one was expected, or the reverse.
    #[error("this is a {found} file; a {wanted} file is needed")]
    Kind {
        /// What the file is.
        found: &'static str,
        /// What is needed.
        wanted: &'static str,
    },
    /// The key bytes are not a valid Ed25519 key.
    #[error("the key material is not a valid Ed25519 key")]
    Material,
    /// The stated key id does not match the key.
    #[error("the file says key id `{stated}` but the key's id is `{actual}`")]
    KeyId {
        /// In the file.
        stated: String,
        /// Computed.
        actual: String,
    },
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct KeyFile {
    kind: String,
    algorithm: String,
    keyid: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    public_key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    private_key: Option<String>,
}

const PRIVATE_KIND: &str = "cordon-signing-key";
const PUBLIC_KIND: &str = "cordon-public-key";

/// A signing key from a 32-byte random seed.
pub fn signing_key_from_seed(seed: &[u8; 32]) -> SigningKey {
    SigningKey::from_bytes(seed)
}

/// The private key file's JSON (contains the secret seed: write it with mode 0600).
pub fn private_key_file(key: &SigningKey) -> String {
    let file = KeyFile {
        kind: PRIVATE_KIND.to_owned(),
        algorithm: "ed25519".to_owned(),
        keyid: key_id(&key.verifying_key()),
        public_key: Some(encode_base64(key.verifying_key().as_bytes())),
        private_key: Some(encode_base64(key.as_bytes())),
    };
    to_json(&file)
}

/// The public key file's JSON.
pub fn public_key_file(key: &VerifyingKey) -> String {
    let file = KeyFile {
        kind: PUBLIC_KIND.to_owned(),
        algorithm: "ed25519".to_owned(),
        keyid: key_id(key),
        public_key: Some(encode_base64(key.as_bytes())),
        private_key: None,
    };
    to_json(&file)
}

fn to_json(file: &KeyFile) -> String {
    let mut s = serde_json::to_string_pretty(file).unwrap_or_default();
    s.push('\n');
    s
}

fn read_file(bytes: &[u8]) -> Result<KeyFile, KeyFileError> {
    let file: KeyFile =
        serde_json::from_slice(bytes).map_err(|e| KeyFileError::Format(e.to_string()))?;
    if file.algorithm != "ed25519" {
        return Err(KeyFileError::Format(format!(
            "algorithm `{}` is not supported",
            file.algorithm
        )));
    }
    Ok(file)
}

fn decode_32(text: Option<&str>) -> Result<[u8; 32], KeyFileError> {
    let bytes = text.and_then(decode_base64).ok_or(KeyFileError::Material)?;
    bytes.try_into().map_err(|_| KeyFileError::Material)
}

/// Read a private key file.
pub fn parse_private_key(bytes: &[u8]) -> Result<SigningKey, KeyFileError> {
    let file = read_file(bytes)?;
    if file.kind != PRIVATE_KIND {
        return Err(KeyFileError::Kind {
            found: if file.kind == PUBLIC_KIND {
                "public key"
            } else {
                "unknown"
            },
            wanted: "private key",
        });
    }
    let key = SigningKey::from_bytes(&decode_32(file.private_key.as_deref())?);
    let actual = key_id(&key.verifying_key());
    if actual != file.keyid {
        return Err(KeyFileError::KeyId {
            stated: file.keyid,
            actual,
        });
    }
    Ok(key)
}

/// Read a public key file (a private key file is accepted too: its public half is used).
pub fn parse_public_key(bytes: &[u8]) -> Result<VerifyingKey, KeyFileError> {
    let file = read_file(bytes)?;
    if file.kind != PUBLIC_KIND && file.kind != PRIVATE_KIND {
        return Err(KeyFileError::Format(format!(
            "kind `{}` is not a key",
            file.kind
        )));
    }
    let key = VerifyingKey::from_bytes(&decode_32(file.public_key.as_deref())?)
        .map_err(|_| KeyFileError::Material)?;
    let actual = key_id(&key);
    if actual != file.keyid {
        return Err(KeyFileError::KeyId {
            stated: file.keyid,
            actual,
        });
    }
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_files_round_trip() {
        let key = signing_key_from_seed(&[7; 32]);
        let private = private_key_file(&key);
        let public = public_key_file(&key.verifying_key());
        assert_eq!(
            parse_private_key(private.as_bytes()).unwrap().as_bytes(),
            key.as_bytes()
        );
        assert_eq!(
            parse_public_key(public.as_bytes()).unwrap(),
            key.verifying_key()
        );
        assert_eq!(
            parse_public_key(private.as_bytes()).unwrap(),
            key.verifying_key()
        );
        assert!(matches!(
            parse_private_key(public.as_bytes()),
            Err(KeyFileError::Kind { .. })
        ));
        let forged = public.replace(&key_id(&key.verifying_key()), &"0".repeat(64));
        assert!(matches!(
            parse_public_key(forged.as_bytes()),
            Err(KeyFileError::KeyId { .. })
        ));
    }
}
