//! The trust store (SPEC S-3) and envelope verification.
//!
//! A trust store lists public keys with the roles they may sign for, a validity window and a
//! revocation, and a threshold per role: how many distinct valid signers an envelope needs.
//! Verification is fail-closed: every signature is checked, an envelope is accepted only when at
//! least the threshold of distinct, trusted, currently valid keys signed exactly these bytes.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use ed25519_dalek::VerifyingKey;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::crypto::{decode_base64, encode_base64, key_id, short_id};
use crate::diagnostic::{Problem, Problems};
use crate::dsse::{Envelope, pae};
use crate::json_span;

/// What a key may sign.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    /// Capability manifests and manifest revocation lists.
    ManifestSigner,
    /// Just-in-time approval tokens.
    ApprovalSigner,
    /// Audit log checkpoints.
    AuditSigner,
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::ManifestSigner => "manifest-signer",
            Self::ApprovalSigner => "approval-signer",
            Self::AuditSigner => "audit-signer",
        })
    }
}

/// The trust store file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct TrustStoreFile {
    /// Format version, 1.
    pub version: u32,
    /// Distinct valid signatures needed per role; 1 where not given.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub thresholds: BTreeMap<Role, u32>,
    /// The trusted keys.
    #[serde(default)]
    pub keys: Vec<TrustedKey>,
}

/// One trusted key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct TrustedKey {
    /// Hex SHA-256 of the public key; must match `publicKey`.
    pub keyid: String,
    /// A name for people, e.g. `security-team-2026`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Base64 of the raw 32-byte Ed25519 public key.
    pub public_key: String,
    /// What the key may sign.
    pub roles: Vec<Role>,
    /// Not valid before this time (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_before: Option<String>,
    /// Not valid after this time (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_after: Option<String>,
    /// Set when the key is revoked: nothing it signed is accepted any more.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked: Option<KeyRevocation>,
}

/// A key's revocation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct KeyRevocation {
    /// When it was revoked (RFC 3339).
    pub at: String,
    /// Why, for people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

#[derive(Debug, Clone)]
struct Key {
    name: Option<String>,
    public: VerifyingKey,
    roles: BTreeSet<Role>,
    not_before: Option<OffsetDateTime>,
    not_after: Option<OffsetDateTime>,
    revoked: Option<KeyRevocation>,
}

/// A loaded, checked trust store.
#[derive(Debug, Clone)]
pub struct TrustStore {
    keys: BTreeMap<String, Key>,
    thresholds: BTreeMap<Role, u32>,
}

impl TrustStoreFile {
    /// An empty store.
    pub fn new() -> Self {
        Self {
            version: 1,
            thresholds: BTreeMap::new(),
            keys: Vec::new(),
        }
    }

    /// Add a key for some roles.
    pub fn add_key(&mut self, key: &VerifyingKey, name: Option<String>, roles: Vec<Role>) {
        self.keys.push(TrustedKey {
            keyid: key_id(key),
            name,
            public_key: encode_base64(key.as_bytes()),
            roles,
            not_before: None,
            not_after: None,
            revoked: None,
        });
    }

    /// Pretty JSON with a final newline.
    pub fn to_json(&self) -> String {
        let mut s = serde_json::to_string_pretty(self).unwrap_or_default();
        s.push('\n');
        s
    }
}

impl Default for TrustStoreFile {
    fn default() -> Self {
        Self::new()
    }
}

fn time_of(text: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(text, &Rfc3339).ok()
}

/// Format a time as RFC 3339 for messages.
pub fn format_time(t: OffsetDateTime) -> String {
    let t = t.replace_nanosecond(0).unwrap_or(t);
    t.format(&Rfc3339)
        .unwrap_or_else(|_| t.unix_timestamp().to_string())
}

impl TrustStore {
    /// Parse and check a trust store file.
    pub fn parse(bytes: &[u8], name: &str) -> Result<Self, Problems> {
        /// A trust store lists keys; anything near this size is not one.
        const MAX_TRUST_STORE_BYTES: usize = 1 << 20;
        let (file, src) = crate::manifest::read_document::<TrustStoreFile>(
            bytes,
            "trust store",
            name,
            MAX_TRUST_STORE_BYTES,
        )?;
        let mut problems = Vec::new();
        let mut report = |pointer: String, msg: String| {
            let span = json_span::locate(src, &pointer).unwrap_or((0, 0));
            problems.push(Problem::at(src, span, "trust::invalid", pointer, msg, None));
        };
        if file.version != 1 {
            report(
                "/version".into(),
                format!(
                    "version {} is not supported; this cordon reads version 1",
                    file.version
                ),
            );
        }
        for (role, t) in &file.thresholds {
            if *t == 0 {
                report(
                    format!("/thresholds/{role}"),
                    format!("threshold for `{role}` is 0: every envelope would pass"),
                );
            }
        }
        let mut keys = BTreeMap::new();
        for (i, k) in file.keys.iter().enumerate() {
            let at = format!("/keys/{i}");
            let public = decode_base64(&k.public_key)
                .and_then(|b| <[u8; 32]>::try_from(b).ok())
                .and_then(|b| VerifyingKey::from_bytes(&b).ok());
            let Some(public) = public else {
                report(
                    format!("{at}/publicKey"),
                    "not a base64 Ed25519 public key".into(),
                );
                continue;
            };
            if key_id(&public) != k.keyid {
                report(
                    format!("{at}/keyid"),
                    format!(
                        "key id `{}` does not match the public key (its id is `{}`)",
                        k.keyid,
                        key_id(&public)
                    ),
                );
                continue;
            }
            if k.roles.is_empty() {
                report(
                    format!("{at}/roles"),
                    "key has no roles and could sign nothing".into(),
                );
            }
            let mut window = |field: &str, value: &Option<String>| match value {
                None => None,
                Some(text) => {
                    let t = time_of(text);
                    if t.is_none() {
                        report(
                            format!("{at}/{field}"),
                            format!("`{text}` is not an RFC 3339 time"),
                        );
                    }
                    t
                }
            };
            let not_before = window("notBefore", &k.not_before);
            let not_after = window("notAfter", &k.not_after);
            if let Some(r) = &k.revoked
                && time_of(&r.at).is_none()
            {
                report(
                    format!("{at}/revoked/at"),
                    format!("`{}` is not an RFC 3339 time", r.at),
                );
            }
            if keys.contains_key(&k.keyid) {
                report(
                    format!("{at}/keyid"),
                    format!("key `{}` is listed twice", short_id(&k.keyid)),
                );
                continue;
            }
            keys.insert(
                k.keyid.clone(),
                Key {
                    name: k.name.clone(),
                    public,
                    roles: k.roles.iter().copied().collect(),
                    not_before,
                    not_after,
                    revoked: k.revoked.clone(),
                },
            );
        }
        if !problems.is_empty() {
            return Err(Problems::new("trust store", name, src, problems));
        }
        Ok(Self {
            keys,
            thresholds: file.thresholds,
        })
    }

    /// How many distinct valid signers an envelope for `role` needs.
    pub fn threshold(&self, role: Role) -> u32 {
        self.thresholds.get(&role).copied().unwrap_or(1)
    }

    /// Verify one signature (base64) over `message` by the key `keyid` for `role` at time
    /// `now`: the key must be known, unrevoked, in the role and valid then (audit checkpoints).
    pub fn verify_detached(
        &self,
        keyid: &str,
        sig_b64: &str,
        message: &[u8],
        role: Role,
        now: OffsetDateTime,
    ) -> Result<(), SignatureFailure> {
        self.check_one(keyid, sig_b64, message, role, now)
    }

    /// Verify an envelope's signatures for `role` at time `now`, and return its payload bytes.
    pub fn verify(
        &self,
        env: &Envelope,
        payload_type: &str,
        role: Role,
        now: OffsetDateTime,
    ) -> Result<Verified, VerifyError> {
        if env.payload_type != payload_type {
            return Err(VerifyError::PayloadType {
                found: env.payload_type.chars().take(200).collect(),
                expected: payload_type.to_owned(),
            });
        }
        let payload = env.payload_bytes().ok_or(VerifyError::PayloadEncoding)?;
        let message = pae(&env.payload_type, &payload);
        let mut signers = BTreeSet::new();
        let mut failures = Vec::new();
        for sig in &env.signatures {
            match self.check_one(&sig.keyid, &sig.sig, &message, role, now) {
                Ok(()) => {
                    signers.insert(sig.keyid.clone());
                }
                Err(f) => failures.push(f),
            }
        }
        let required = self.threshold(role);
        let valid = u32::try_from(signers.len()).unwrap_or(u32::MAX);
        if valid >= required {
            return Ok(Verified {
                payload,
                signers: signers.into_iter().collect(),
            });
        }
        if valid == 0 && required == 1 {
            if let Some(first) = failures.into_iter().next() {
                return Err(VerifyError::Signature(first));
            }
            return Err(VerifyError::Unsigned);
        }
        Err(VerifyError::BelowThreshold {
            valid,
            required,
            role,
            failures,
        })
    }

    fn check_one(
        &self,
        keyid: &str,
        sig_b64: &str,
        message: &[u8],
        role: Role,
        now: OffsetDateTime,
    ) -> Result<(), SignatureFailure> {
        let short = short_id(keyid).to_owned();
        let Some(key) = self.keys.get(keyid) else {
            return Err(SignatureFailure::UnknownKey { keyid: short });
        };
        let label = match &key.name {
            Some(n) => format!("{short} ({n})"),
            None => short,
        };
        if let Some(r) = &key.revoked {
            return Err(SignatureFailure::RevokedKey {
                key: label,
                at: r.at.clone(),
                reason: r.reason.clone(),
            });
        }
        if !key.roles.contains(&role) {
            return Err(SignatureFailure::WrongRole { key: label, role });
        }
        let early = key.not_before.is_some_and(|t| now < t);
        let late = key.not_after.is_some_and(|t| now > t);
        if early || late {
            return Err(SignatureFailure::OutsideValidity {
                key: label,
                not_before: key.not_before.map(format_time),
                not_after: key.not_after.map(format_time),
                now: format_time(now),
            });
        }
        let sig = decode_base64(sig_b64)
            .and_then(|b| <[u8; 64]>::try_from(b).ok())
            .map(|b| ed25519_dalek::Signature::from_bytes(&b));
        let Some(sig) = sig else {
            return Err(SignatureFailure::Malformed { key: label });
        };
        key.public
            .verify_strict(message, &sig)
            .map_err(|_| SignatureFailure::BadSignature { key: label })
    }
}

/// A verified payload and who signed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// Exactly the bytes that were signed.
    pub payload: Vec<u8>,
    /// Key ids of the valid signers.
    pub signers: Vec<String>,
}

/// Why one signature does not count.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureFailure {
    /// The key is not in the trust store.
    #[error("signed by key `{keyid}`, which the trust store does not list")]
    UnknownKey {
        /// Short key id.
        keyid: String,
    },
    /// The key is revoked.
    #[error("signed by key `{key}`, which was revoked at {at}{}", reason.as_ref().map(|r| format!(" ({r})")).unwrap_or_default())]
    RevokedKey {
        /// Key for messages.
        key: String,
        /// When.
        at: String,
        /// Why.
        reason: Option<String>,
    },
    /// The key may not sign this kind of payload.
    #[error("signed by key `{key}`, which is not a `{role}` in the trust store")]
    WrongRole {
        /// Key for messages.
        key: String,
        /// The role needed.
        role: Role,
    },
    /// Now is outside the key's validity window.
    #[error("signed by key `{key}`, which is valid {} to {}, not now ({now})", not_before.as_deref().unwrap_or("from the start"), not_after.as_deref().unwrap_or("no end"))]
    OutsideValidity {
        /// Key for messages.
        key: String,
        /// Start of validity.
        not_before: Option<String>,
        /// End of validity.
        not_after: Option<String>,
        /// The time of verification.
        now: String,
    },
    /// The signature is not 64 bytes of base64.
    #[error("signature by key `{key}` is malformed")]
    Malformed {
        /// Key for messages.
        key: String,
    },
    /// The signature does not verify: the payload or its type changed after signing.
    #[error("signature by key `{key}` does not match the payload: it was changed after signing")]
    BadSignature {
        /// Key for messages.
        key: String,
    },
}

/// Why an envelope is not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// The payload type is not the one expected.
    #[error("envelope payload type is `{found}`; expected `{expected}`")]
    PayloadType {
        /// In the envelope.
        found: String,
        /// What the caller verifies.
        expected: String,
    },
    /// The payload is not base64.
    #[error("envelope payload is not base64")]
    PayloadEncoding,
    /// No signatures at all.
    #[error("envelope is not signed")]
    Unsigned,
    /// The one signature needed does not count.
    #[error("{0}")]
    Signature(SignatureFailure),
    /// Fewer valid signers than the threshold.
    #[error("{valid} valid signature(s) of {required} required for `{role}`{}", failures.iter().map(|f| format!("; {f}")).collect::<String>())]
    BelowThreshold {
        /// Distinct valid signers.
        valid: u32,
        /// Needed.
        required: u32,
        /// For which role.
        role: Role,
        /// Why the others did not count.
        failures: Vec<SignatureFailure>,
    },
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::signing_key_from_seed;
    use crate::dsse::sign;
    use time::macros::datetime;

    const T: &str = "application/x-test";

    fn store(keys: &[(&ed25519_dalek::SigningKey, Vec<Role>)], threshold: u32) -> TrustStore {
        let mut f = TrustStoreFile::new();
        for (k, roles) in keys {
            f.add_key(&k.verifying_key(), None, roles.clone());
        }
        f.thresholds.insert(Role::ManifestSigner, threshold);
        TrustStore::parse(f.to_json().as_bytes(), "t.json").unwrap()
    }

    #[test]
    fn verifies_and_counts_distinct_signers() {
        let a = signing_key_from_seed(&[1; 32]);
        let b = signing_key_from_seed(&[2; 32]);
        let s = store(
            &[
                (&a, vec![Role::ManifestSigner]),
                (&b, vec![Role::ManifestSigner]),
            ],
            2,
        );
        let now = datetime!(2026-11-25 12:00 UTC);
        let both = sign(T, b"x", &[&a, &b]);
        assert_eq!(
            s.verify(&both, T, Role::ManifestSigner, now)
                .unwrap()
                .signers
                .len(),
            2
        );
        let twice = sign(T, b"x", &[&a, &a]);
        assert!(matches!(
            s.verify(&twice, T, Role::ManifestSigner, now),
            Err(VerifyError::BelowThreshold {
                valid: 1,
                required: 2,
                ..
            })
        ));
    }

    #[test]
    fn rejects_wrong_role_and_tampering() {
        let a = signing_key_from_seed(&[1; 32]);
        let s = store(&[(&a, vec![Role::AuditSigner])], 1);
        let now = datetime!(2026-11-25 12:00 UTC);
        let env = sign(T, b"x", &[&a]);
        assert!(matches!(
            s.verify(&env, T, Role::ManifestSigner, now),
            Err(VerifyError::Signature(SignatureFailure::WrongRole { .. }))
        ));
        let s = store(&[(&a, vec![Role::ManifestSigner])], 1);
        let mut tampered = env.clone();
        tampered.payload = encode_base64(b"y");
        assert!(matches!(
            s.verify(&tampered, T, Role::ManifestSigner, now),
            Err(VerifyError::Signature(
                SignatureFailure::BadSignature { .. }
            ))
        ));
        assert!(matches!(
            s.verify(&env, "other", Role::ManifestSigner, now),
            Err(VerifyError::PayloadType { .. })
        ));
    }

    #[test]
    fn refuses_inconsistent_stores() {
        let a = signing_key_from_seed(&[1; 32]);
        let mut f = TrustStoreFile::new();
        f.add_key(&a.verifying_key(), None, vec![Role::ManifestSigner]);
        f.add_key(&a.verifying_key(), None, vec![Role::ManifestSigner]);
        f.thresholds.insert(Role::ManifestSigner, 0);
        let err = TrustStore::parse(f.to_json().as_bytes(), "t.json").unwrap_err();
        assert_eq!(err.problems.len(), 2, "{err:?}");
    }
}
