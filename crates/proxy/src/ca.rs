//! The enterprise CA the proxy inspects TLS with: made once by `cordon ca init`, installed in the
//! agents' trust stores by the enterprise, and used by the proxy to mint a short-lived leaf
//! certificate for each host it inspects (cached, so a host costs one signature per day).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType,
};
use rustls::crypto::ring::sign::any_supported_type;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::sign::CertifiedKey;
use time::OffsetDateTime;

/// How long a minted leaf is valid, and how long it is reused.
const LEAF_LIFETIME: Duration = Duration::from_secs(24 * 3600);
const LEAF_REUSE: Duration = Duration::from_secs(12 * 3600);
/// The most leaves kept; beyond it the cache starts again.
const MAX_CACHED: usize = 4096;

/// Why a CA cannot be made, loaded or used.
#[derive(Debug, thiserror::Error)]
pub enum CaError {
    /// The key or certificate file does not parse.
    #[error("{what} is not valid: {source}")]
    Parse {
        /// Which file.
        what: &'static str,
        /// What the parser said.
        source: rcgen::Error,
    },
    /// Making or signing a certificate failed.
    #[error("cannot make a certificate: {0}")]
    Make(#[from] rcgen::Error),
    /// rustls refuses the minted key.
    #[error("the minted key cannot be used: {0}")]
    Key(String),
}

/// A new CA: (certificate PEM, private key PEM). Valid for `days`, constrained to sign leaves
/// only (path length 0), named `name`.
pub fn generate(name: &str, days: u32) -> Result<(String, String), CaError> {
    let key = KeyPair::generate()?;
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, name);
    dn.push(DnType::OrganizationName, "cordon egress inspection");
    params.distinguished_name = dn;
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let now = OffsetDateTime::now_utc();
    params.not_before = now - time::Duration::hours(1);
    params.not_after = now + time::Duration::days(i64::from(days));
    let cert = params.self_signed(&key)?;
    Ok((cert.pem(), key.serialize_pem()))
}

/// A loaded CA that mints leaves.
pub struct Authority {
    issuer: Issuer<'static, KeyPair>,
    ca_der: CertificateDer<'static>,
    leaves: Mutex<HashMap<String, (Instant, Arc<CertifiedKey>)>>,
}

impl std::fmt::Debug for Authority {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authority").finish_non_exhaustive()
    }
}

impl Authority {
    /// Load a CA from its certificate and private key (PEM).
    pub fn load(cert_pem: &str, key_pem: &str) -> Result<Self, CaError> {
        let key = KeyPair::from_pem(key_pem).map_err(|source| CaError::Parse {
            what: "the CA private key",
            source,
        })?;
        let ca_der = rustls_pem_cert(cert_pem).ok_or(CaError::Parse {
            what: "the CA certificate",
            source: rcgen::Error::CouldNotParseCertificate,
        })?;
        let issuer = Issuer::from_ca_cert_pem(cert_pem, key).map_err(|source| CaError::Parse {
            what: "the CA certificate",
            source,
        })?;
        Ok(Self {
            issuer,
            ca_der,
            leaves: Mutex::new(HashMap::new()),
        })
    }

    /// The certificate and key to present as `host` (a DNS name or an IP address).
    pub fn leaf(&self, host: &str) -> Result<Arc<CertifiedKey>, CaError> {
        if let Ok(cache) = self.leaves.lock()
            && let Some((made, key)) = cache.get(host)
            && made.elapsed() < LEAF_REUSE
        {
            return Ok(key.clone());
        }
        let minted = Arc::new(self.mint(host)?);
        if let Ok(mut cache) = self.leaves.lock() {
            if cache.len() >= MAX_CACHED {
                cache.clear();
            }
            cache.insert(host.to_owned(), (Instant::now(), minted.clone()));
        }
        Ok(minted)
    }

    fn mint(&self, host: &str) -> Result<CertifiedKey, CaError> {
        let key = KeyPair::generate()?;
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        params.subject_alt_names = vec![match bare.parse::<std::net::IpAddr>() {
            Ok(ip) => SanType::IpAddress(ip),
            Err(_) => SanType::DnsName(host.try_into()?),
        }];
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, host);
        params.distinguished_name = dn;
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.use_authority_key_identifier_extension = true;
        let now = OffsetDateTime::now_utc();
        params.not_before = now - time::Duration::hours(1);
        params.not_after =
            now + time::Duration::try_from(LEAF_LIFETIME).unwrap_or(time::Duration::DAY);
        let cert = params.signed_by(&key, &self.issuer)?;
        let der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        let signing = any_supported_type(&der).map_err(|e| CaError::Key(e.to_string()))?;
        Ok(CertifiedKey::new(
            vec![cert.der().clone(), self.ca_der.clone()],
            signing,
        ))
    }
}

/// The first certificate of a PEM text, as DER.
fn rustls_pem_cert(pem: &str) -> Option<CertificateDer<'static>> {
    use rustls::pki_types::pem::PemObject as _;
    CertificateDer::pem_slice_iter(pem.as_bytes()).next()?.ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leaves_chain_to_the_ca_and_are_cached() {
        use rustls::client::danger::ServerCertVerifier as _;
        let (cert, key) = generate("cordon test CA", 30).unwrap();
        let ca = Authority::load(&cert, &key).unwrap();
        let a = ca.leaf("api.example.com").unwrap();
        let again = ca.leaf("api.example.com").unwrap();
        assert!(Arc::ptr_eq(&a, &again));
        assert_eq!(a.cert.len(), 2);
        let ip = ca.leaf("127.0.0.1").unwrap();
        assert!(!Arc::ptr_eq(&a, &ip));
        // Verified as a server certificate for the host by rustls' own verifier.
        let mut roots = rustls::RootCertStore::empty();
        roots.add(ca.ca_der.clone()).unwrap();
        let verifier = rustls::client::WebPkiServerVerifier::builder_with_provider(
            Arc::new(roots),
            Arc::new(rustls::crypto::ring::default_provider()),
        )
        .build()
        .unwrap();
        let now = rustls::pki_types::UnixTime::now();
        for (leaf, name) in [(&a, "api.example.com"), (&ip, "127.0.0.1")] {
            let name = rustls::pki_types::ServerName::try_from(name).unwrap();
            verifier
                .verify_server_cert(&leaf.cert[0], &leaf.cert[1..], &name, &[], now)
                .unwrap();
        }
        let other = rustls::pki_types::ServerName::try_from("other.example.com").unwrap();
        assert!(
            verifier
                .verify_server_cert(&a.cert[0], &[], &other, &[], now)
                .is_err()
        );
        assert!(Authority::load(&cert, "not a key").is_err());
        assert!(Authority::load("not a cert", &key).is_err());
    }
}
