//! Credentials the proxy adds to requests for an API (SPEC J-3), so the agent never holds them.
//!
//! Each `apis` entry may name where its secret lives: an environment variable of the proxy (read
//! once, at start, by the binary), a file (read when first needed, then again after a minute, so
//! a rotated file is picked up), or a HashiCorp Vault KV v2 secret (fetched with the proxy's
//! token, cached for a minute). The proxy puts it in the entry's header (default
//! `Authorization: Bearer …`) after removing whatever the agent sent in that header. No error
//! message or event ever carries a secret.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use cordon_policy::manifest::ApiGrant;
use http::{HeaderName, HeaderValue};

use crate::vault::Vault;

/// How long a secret read from a file or Vault is reused.
const REUSE: Duration = Duration::from_secs(60);

/// Where one API's secret comes from.
#[derive(Clone)]
enum Source {
    /// Taken from the proxy's environment at start.
    Value(String),
    /// A file.
    File(PathBuf),
    /// A Vault KV v2 secret: mount, path, field.
    Vault {
        mount: String,
        path: String,
        field: String,
    },
    /// Named but not available (an unset variable): requests needing it are refused.
    Missing(String),
}

// Debug never shows a secret: a value taken from the environment prints as its kind only.
impl std::fmt::Debug for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Value(_) => f.write_str("Value([redacted])"),
            Self::File(p) => f.debug_tuple("File").field(p).finish(),
            Self::Vault { mount, path, field } => write!(f, "Vault({mount}/{path}#{field})"),
            Self::Missing(why) => f.debug_tuple("Missing").field(why).finish(),
        }
    }
}

#[derive(Debug, Clone)]
struct Credential {
    header: HeaderName,
    prefix: String,
    source: Source,
}

/// Why a credential cannot be set up or read. Never holds the secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CredentialError {
    /// The manifest's reference is malformed.
    #[error("apis[`{scope}`].credential: {message}")]
    Reference {
        /// The API scope.
        scope: String,
        /// What is wrong.
        message: String,
    },
    /// The secret cannot be read now.
    #[error("the credential for apis entry {api} is unavailable: {message}")]
    Unavailable {
        /// The entry's index.
        api: usize,
        /// Why (names the source, never the value).
        message: String,
    },
}

/// The credentials of a manifest's `apis` entries, by entry index (entries sorted by scope, as
/// the decision's `injectCredential` obligation counts them).
pub struct Credentials {
    entries: Vec<Option<Credential>>,
    cache: Mutex<HashMap<usize, (Instant, String)>>,
    vault: Option<Vault>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The cache holds secrets: only the entries' sources are shown.
        f.debug_struct("Credentials")
            .field("entries", &self.entries)
            .field("vault", &self.vault)
            .finish_non_exhaustive()
    }
}

impl Credentials {
    /// Credentials for `apis`; `env` holds the proxy's environment variables the entries name
    /// (the binary reads them, so this crate never reads the environment).
    pub fn new(
        apis: &BTreeMap<String, ApiGrant>,
        env: &HashMap<String, String>,
        vault: Option<Vault>,
    ) -> Result<Self, CredentialError> {
        let mut entries = Vec::with_capacity(apis.len());
        for (scope, grant) in apis {
            let Some(c) = &grant.credential else {
                entries.push(None);
                continue;
            };
            let bad = |message: String| CredentialError::Reference {
                scope: scope.clone(),
                message,
            };
            let header_name = c.header.as_deref().unwrap_or("authorization");
            let header = HeaderName::from_bytes(header_name.as_bytes())
                .map_err(|_| bad(format!("`{header_name}` is not a header name")))?;
            let prefix = c.prefix.clone().unwrap_or_else(|| {
                if header == http::header::AUTHORIZATION {
                    "Bearer ".to_owned()
                } else {
                    String::new()
                }
            });
            let source = match (&c.env, &c.file, &c.vault) {
                (Some(name), None, None) => match env.get(name) {
                    Some(v) => Source::Value(v.clone()),
                    None => Source::Missing(format!("environment variable `{name}` is not set")),
                },
                (None, Some(file), None) => Source::File(PathBuf::from(file)),
                (None, None, Some(reference)) => {
                    let (location, field) = reference.split_once('#').ok_or_else(|| {
                        bad(format!("vault `{reference}` is not `mount/path#field`"))
                    })?;
                    let (mount, path) = location.split_once('/').ok_or_else(|| {
                        bad(format!("vault `{reference}` is not `mount/path#field`"))
                    })?;
                    if mount.is_empty() || path.is_empty() || field.is_empty() {
                        return Err(bad(format!(
                            "vault `{reference}` is not `mount/path#field`"
                        )));
                    }
                    Source::Vault {
                        mount: mount.to_owned(),
                        path: path.to_owned(),
                        field: field.to_owned(),
                    }
                }
                _ => {
                    return Err(bad(
                        "name exactly one of `env`, `file` and `vault`".to_owned()
                    ));
                }
            };
            entries.push(Some(Credential {
                header,
                prefix,
                source,
            }));
        }
        Ok(Self {
            entries,
            cache: Mutex::new(HashMap::new()),
            vault,
        })
    }

    /// The environment variables the entries name, for the binary to read.
    pub fn env_names(apis: &BTreeMap<String, ApiGrant>) -> Vec<String> {
        apis.values()
            .filter_map(|g| g.credential.as_ref()?.env.clone())
            .collect()
    }

    /// The header to set for API entry `api`, marked sensitive.
    pub async fn header(&self, api: usize) -> Result<(HeaderName, HeaderValue), CredentialError> {
        let unavailable = |message: String| CredentialError::Unavailable { api, message };
        let Some(Some(c)) = self.entries.get(api) else {
            return Err(unavailable("the entry has no credential".to_owned()));
        };
        let secret = match &c.source {
            Source::Value(v) => v.clone(),
            Source::Missing(why) => return Err(unavailable(why.clone())),
            Source::File(_) | Source::Vault { .. } => match self.cached(api) {
                Some(v) => v,
                None => {
                    let v = self.fetch(&c.source).await.map_err(unavailable)?;
                    if let Ok(mut cache) = self.cache.lock() {
                        cache.insert(api, (Instant::now(), v.clone()));
                    }
                    v
                }
            },
        };
        let mut value = HeaderValue::from_str(&format!("{}{}", c.prefix, secret.trim()))
            .map_err(|_| unavailable("the secret is not a valid header value".to_owned()))?;
        value.set_sensitive(true);
        Ok((c.header.clone(), value))
    }

    fn cached(&self, api: usize) -> Option<String> {
        let cache = self.cache.lock().ok()?;
        let (at, v) = cache.get(&api)?;
        (at.elapsed() < REUSE).then(|| v.clone())
    }

    async fn fetch(&self, source: &Source) -> Result<String, String> {
        match source {
            Source::File(path) => tokio::fs::read_to_string(path)
                .await
                .map_err(|e| format!("cannot read `{}`: {e}", path.display())),
            Source::Vault { mount, path, field } => match &self.vault {
                Some(vault) => vault.read(mount, path, field).await,
                None => Err(
                    "the proxy has no Vault address and token (`--vault-addr`, `VAULT_TOKEN`)"
                        .to_owned(),
                ),
            },
            Source::Value(v) => Ok(v.clone()),
            Source::Missing(why) => Err(why.clone()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cordon_policy::manifest::CredentialRef;

    fn apis(credential: CredentialRef) -> BTreeMap<String, ApiGrant> {
        BTreeMap::from([(
            "crm:read".to_owned(),
            ApiGrant {
                credential: Some(credential),
                ..ApiGrant::default()
            },
        )])
    }

    fn reference() -> CredentialRef {
        CredentialRef {
            env: None,
            file: None,
            vault: None,
            header: None,
            prefix: None,
        }
    }

    #[test]
    fn malformed_references_are_refused_at_start() {
        let env = HashMap::new();
        for bad in [
            reference(),
            CredentialRef {
                env: Some("A".into()),
                file: Some("/b".into()),
                ..reference()
            },
            CredentialRef {
                vault: Some("secret-only".into()),
                ..reference()
            },
            CredentialRef {
                vault: Some("secret/path#".into()),
                ..reference()
            },
            CredentialRef {
                env: Some("A".into()),
                header: Some("bad header".into()),
                ..reference()
            },
        ] {
            let err = Credentials::new(&apis(bad.clone()), &env, None).unwrap_err();
            assert!(
                matches!(err, CredentialError::Reference { .. }),
                "{bad:?}: {err}"
            );
        }
    }

    #[tokio::test]
    async fn headers_carry_the_secret_and_errors_never_do() {
        let env = HashMap::from([("CRM_TOKEN".to_owned(), "s3cr3t-value".to_owned())]);
        let c = Credentials::new(
            &apis(CredentialRef {
                env: Some("CRM_TOKEN".into()),
                ..reference()
            }),
            &env,
            None,
        )
        .unwrap();
        let (name, value) = c.header(0).await.unwrap();
        assert_eq!(name, http::header::AUTHORIZATION);
        assert_eq!(value.to_str().unwrap(), "Bearer s3cr3t-value");
        assert!(value.is_sensitive());
        // Neither the credentials nor the header value print the secret.
        assert!(!format!("{c:?}").contains("s3cr3t"), "{c:?}");
        assert!(!format!("{value:?}").contains("s3cr3t"));

        let missing = Credentials::new(
            &apis(CredentialRef {
                file: Some("/nonexistent/cordon-token".into()),
                header: Some("X-Api-Key".into()),
                ..reference()
            }),
            &env,
            None,
        )
        .unwrap();
        let err = missing.header(0).await.unwrap_err().to_string();
        assert!(err.contains("/nonexistent/cordon-token"), "{err}");
        let vault = Credentials::new(
            &apis(CredentialRef {
                vault: Some("secret/crm#token".into()),
                ..reference()
            }),
            &env,
            None,
        )
        .unwrap();
        let err = vault.header(0).await.unwrap_err().to_string();
        assert!(err.contains("--vault-addr"), "{err}");
    }
}
