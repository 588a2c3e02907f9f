//! DSSE envelopes (SPEC S-2): <https://github.com/secure-systems-lab/dsse>.
//!
//! The bytes signed are the DSSE v1 pre-authentication encoding (PAE):
//!
//! ```text
//! "DSSEv1" SP LEN(payloadType) SP payloadType SP LEN(payload) SP payload
//! ```
//!
//! where `SP` is one space (0x20), `LEN` is the decimal length in bytes with no leading zeros,
//! `payloadType` is the UTF-8 type string and `payload` the raw (decoded) payload bytes. The
//! envelope is JSON: `{"payload": b64, "payloadType": str, "signatures": [{"keyid": str,
//! "sig": b64}]}`; cordon writes standard padded base64 and reads standard or URL-safe.
//!
//! Callers verify first and then parse exactly the verified payload bytes: nothing in an
//! envelope is read before its signature holds, except the payload type.

use ed25519_dalek::{Signer as _, SigningKey};
use serde::{Deserialize, Serialize};

use crate::crypto::{decode_base64, encode_base64, key_id};
use crate::diagnostic::Problems;

/// Payload type of a signed manifest.
pub const MANIFEST_PAYLOAD_TYPE: &str = "application/vnd.cordon.manifest.v1+json";
/// Payload type of a signed manifest revocation list.
pub const REVOCATIONS_PAYLOAD_TYPE: &str = "application/vnd.cordon.revocations.v1+json";

/// Envelopes larger than this are refused before parsing.
pub const MAX_ENVELOPE_BYTES: usize = 4 << 20;
/// At most this many signatures are looked at.
pub const MAX_SIGNATURES: usize = 16;

/// A DSSE envelope as it travels.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Envelope {
    /// Base64 of the payload bytes.
    pub payload: String,
    /// What the payload is.
    pub payload_type: String,
    /// One or more signatures over the PAE.
    pub signatures: Vec<Signature>,
}

/// One signature of an envelope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Signature {
    /// The signer's key id (hex SHA-256 of the public key).
    #[serde(default)]
    pub keyid: String,
    /// Base64 of the 64-byte Ed25519 signature.
    pub sig: String,
}

/// The pre-authentication encoding of a payload.
pub fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + payload_type.len() + 32);
    out.extend_from_slice(b"DSSEv1 ");
    out.extend_from_slice(payload_type.len().to_string().as_bytes());
    out.push(b' ');
    out.extend_from_slice(payload_type.as_bytes());
    out.push(b' ');
    out.extend_from_slice(payload.len().to_string().as_bytes());
    out.push(b' ');
    out.extend_from_slice(payload);
    out
}

/// Sign a payload with one or more keys.
pub fn sign(payload_type: &str, payload: &[u8], keys: &[&SigningKey]) -> Envelope {
    let message = pae(payload_type, payload);
    Envelope {
        payload: encode_base64(payload),
        payload_type: payload_type.to_owned(),
        signatures: keys
            .iter()
            .map(|k| Signature {
                keyid: key_id(&k.verifying_key()),
                sig: encode_base64(&k.sign(&message).to_bytes()),
            })
            .collect(),
    }
}

impl Envelope {
    /// Parse an envelope strictly. The payload is not parsed here.
    pub fn parse(bytes: &[u8], name: &str) -> Result<Self, Problems> {
        let (env, src) = crate::manifest::read_document::<Envelope>(
            bytes,
            "envelope",
            name,
            MAX_ENVELOPE_BYTES,
        )?;
        let one =
            |code: &str, msg: String| Problems::one("envelope", name, src, code.to_owned(), msg);
        if env.signatures.is_empty() {
            return Err(one(
                "envelope::unsigned",
                "envelope has no signatures".into(),
            ));
        }
        if env.signatures.len() > MAX_SIGNATURES {
            return Err(one(
                "envelope::signatures",
                format!(
                    "envelope has {} signatures; at most {MAX_SIGNATURES} are accepted",
                    env.signatures.len()
                ),
            ));
        }
        Ok(env)
    }

    /// The envelope as pretty JSON with a final newline.
    pub fn to_json(&self) -> String {
        let mut s = serde_json::to_string_pretty(self).unwrap_or_default();
        s.push('\n');
        s
    }

    /// The decoded payload, if it is base64.
    pub fn payload_bytes(&self) -> Option<Vec<u8>> {
        decode_base64(&self.payload)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pae_matches_the_spec_example() {
        // The example in the DSSE protocol document.
        assert_eq!(
            pae("http://example.com/HelloWorld", b"hello world"),
            b"DSSEv1 29 http://example.com/HelloWorld 11 hello world".to_vec()
        );
        assert_eq!(pae("", b""), b"DSSEv1 0  0 ".to_vec());
    }
}
