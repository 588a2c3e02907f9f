//! Signed manifest revocation lists (SPEC S-4).
//!
//! A list is a DSSE envelope (payload type [`REVOCATIONS_PAYLOAD_TYPE`]) signed by
//! `manifest-signer` keys, naming revoked manifests by digest. Each new list carries a higher
//! `sequence`, so that a holder of a newer list can refuse an older one.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::diagnostic::Problems;
use crate::dsse::{Envelope, REVOCATIONS_PAYLOAD_TYPE};
use crate::trust::{Role, TrustStore, VerifyError, format_time};

/// The payload of a revocation list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RevocationList {
    /// Format version, 1.
    pub version: u32,
    /// Increases with every new list.
    pub sequence: u64,
    /// When this list was issued (RFC 3339).
    pub issued: String,
    /// Revoked manifests.
    #[serde(default)]
    pub revoked: Vec<RevokedManifest>,
}

/// One revoked manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RevokedManifest {
    /// `sha256:<hex>` of the manifest payload.
    pub digest: String,
    /// When (RFC 3339).
    pub revoked_at: String,
    /// Why, for people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The manifest's agent name, for people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_name: Option<String>,
}

/// Why a revocation list cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum RevocationError {
    /// The envelope is malformed.
    #[error(transparent)]
    Envelope(Problems),
    /// Its signatures do not hold.
    #[error("revocation list: {0}")]
    Verify(VerifyError),
    /// The payload is not a revocation list.
    #[error(transparent)]
    Payload(Problems),
}

impl RevocationList {
    /// An empty list.
    pub fn new(now: OffsetDateTime) -> Self {
        Self {
            version: 1,
            sequence: 0,
            issued: format_time(now),
            revoked: Vec::new(),
        }
    }

    /// Verify a signed list and read it.
    pub fn verify(
        bytes: &[u8],
        name: &str,
        trust: &TrustStore,
        now: OffsetDateTime,
    ) -> Result<Self, RevocationError> {
        let env = Envelope::parse(bytes, name).map_err(RevocationError::Envelope)?;
        let verified = trust
            .verify(&env, REVOCATIONS_PAYLOAD_TYPE, Role::ManifestSigner, now)
            .map_err(RevocationError::Verify)?;
        let (list, src) = crate::manifest::read_document::<RevocationList>(
            &verified.payload,
            "revocation list",
            name,
            crate::dsse::MAX_ENVELOPE_BYTES,
        )
        .map_err(RevocationError::Payload)?;
        if list.version != 1 {
            return Err(RevocationError::Payload(Problems::one(
                "revocation list",
                name,
                src,
                "revocations::version".into(),
                format!("version {} is not supported", list.version),
            )));
        }
        for (what, time) in std::iter::once(("issued", &list.issued))
            .chain(list.revoked.iter().map(|r| ("revokedAt", &r.revoked_at)))
        {
            if OffsetDateTime::parse(time, &Rfc3339).is_err() {
                return Err(RevocationError::Payload(Problems::one(
                    "revocation list",
                    name,
                    src,
                    "revocations::time".into(),
                    format!("`{what}` `{time}` is not an RFC 3339 time"),
                )));
            }
        }
        Ok(list)
    }

    /// The entry revoking `digest`, if any.
    pub fn find(&self, digest: &str) -> Option<&RevokedManifest> {
        self.revoked.iter().find(|r| r.digest == digest)
    }

    /// Pretty JSON with a final newline (the payload to sign).
    pub fn to_json(&self) -> String {
        let mut s = serde_json::to_string_pretty(self).unwrap_or_default();
        s.push('\n');
        s
    }
}
