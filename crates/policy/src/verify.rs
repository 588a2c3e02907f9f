//! Verifying a signed manifest end to end (SPEC S-2, S-4): envelope, signatures against the
//! trust store, revocation, then parsing exactly the verified bytes, then expiry.

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::diagnostic::Problems;
use crate::dsse::{Envelope, MANIFEST_PAYLOAD_TYPE};
use crate::manifest::{self, Manifest};
use crate::revocation::{RevocationList, RevokedManifest};
use crate::trust::{Role, TrustStore, VerifyError};

/// A manifest whose signatures, revocation status and expiry were checked.
#[derive(Debug, Clone)]
pub struct VerifiedManifest {
    /// The manifest.
    pub manifest: Manifest,
    /// `sha256:<hex>` of the signed payload.
    pub digest: String,
    /// Key ids of the valid signers.
    pub signers: Vec<String>,
}

/// Why a signed manifest is refused.
#[derive(Debug, thiserror::Error)]
pub enum ManifestVerifyError {
    /// The envelope is malformed.
    #[error(transparent)]
    Envelope(Problems),
    /// The signatures do not hold.
    #[error(transparent)]
    Signature(VerifyError),
    /// The digest is on the revocation list.
    #[error("manifest {digest} is revoked (since {}{})", entry.revoked_at, entry.reason.as_ref().map(|r| format!(": {r}")).unwrap_or_default())]
    Revoked {
        /// The manifest's digest.
        digest: String,
        /// The list entry.
        entry: RevokedManifest,
    },
    /// The signed payload is not a valid manifest.
    #[error(transparent)]
    Manifest(Problems),
    /// The manifest's `expires` has passed.
    #[error("manifest `{agent}` expired at {expires}")]
    Expired {
        /// The agent name.
        agent: String,
        /// When it expired.
        expires: String,
    },
}

/// Verify a signed manifest at time `now`.
pub fn verify_manifest(
    envelope: &[u8],
    name: &str,
    trust: &TrustStore,
    revocations: Option<&RevocationList>,
    now: OffsetDateTime,
) -> Result<VerifiedManifest, ManifestVerifyError> {
    let env = Envelope::parse(envelope, name).map_err(ManifestVerifyError::Envelope)?;
    let verified = trust
        .verify(&env, MANIFEST_PAYLOAD_TYPE, Role::ManifestSigner, now)
        .map_err(ManifestVerifyError::Signature)?;
    let digest = manifest::digest(&verified.payload);
    if let Some(entry) = revocations.and_then(|r| r.find(&digest)) {
        return Err(ManifestVerifyError::Revoked {
            digest,
            entry: entry.clone(),
        });
    }
    let manifest = manifest::parse(&verified.payload, &format!("{name} (payload)"))
        .map_err(ManifestVerifyError::Manifest)?;
    if let Some(expires) = &manifest.expires {
        let expired = OffsetDateTime::parse(expires, &Rfc3339).map_or(true, |t| now >= t);
        if expired {
            return Err(ManifestVerifyError::Expired {
                agent: manifest.agent_name.clone(),
                expires: expires.clone(),
            });
        }
    }
    Ok(VerifiedManifest {
        manifest,
        digest,
        signers: verified.signers,
    })
}
