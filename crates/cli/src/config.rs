//! cordon's configuration file: what an administrator sets once for every cordon command on a
//! machine. Today that is the audit log's rotation, retention and checkpoints.
//!
//! The file is `/etc/cordon/config.json` (managed, like the trust store), or the file the global
//! `--config` names. A missing file means the defaults; a file that does not parse, or names a
//! field cordon does not know, is an error that names the file and the field: a typo must not
//! silently switch retention or signing off.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use cordon_audit::store::Policy;
use serde::Deserialize;

use crate::fail::Fail;

/// Where the configuration is read from unless `--config` says otherwise.
pub const DEFAULT_PATH: &str = "/etc/cordon/config.json";

static PATH: OnceLock<PathBuf> = OnceLock::new();

/// Use `path` as the configuration file for this process (set once, from `--config`).
pub fn set_path(path: PathBuf) {
    let _ = PATH.set(path);
}

/// The configuration file this process reads.
pub fn path() -> &'static Path {
    PATH.get().map_or(Path::new(DEFAULT_PATH), PathBuf::as_path)
}

/// The configuration file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Config {
    /// The audit log.
    #[serde(default)]
    pub audit: Audit,
}

/// The audit log's settings.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Audit {
    /// Segment size at which the log rotates, in MiB (default 64).
    #[serde(rename = "segmentMiB")]
    segment_mib: Option<u64>,
    /// Remove segments older than this many days.
    retain_days: Option<u64>,
    /// Remove the oldest segments while the log is larger than this many MiB.
    #[serde(rename = "retainMiB")]
    retain_mib: Option<u64>,
    /// The private key that signs checkpoints (`cordon keys generate`; an `audit-signer` in
    /// the trust store). `--audit-key` overrides it.
    pub checkpoint_key: Option<String>,
    /// Records between the proxy's checkpoints at most (default 10000).
    pub checkpoint_records: Option<u64>,
    /// Seconds between the proxy's checkpoints at most (default 60).
    pub checkpoint_seconds: Option<u64>,
}

impl Audit {
    /// How segments rotate and are kept.
    pub fn policy(&self) -> Policy {
        let mib = |m: u64| m.saturating_mul(1 << 20);
        let default = Policy::default();
        Policy {
            segment_bytes: self.segment_mib.map_or(default.segment_bytes, mib),
            retain_bytes: self.retain_mib.map(mib),
            retain_age: self
                .retain_days
                .map(|d| Duration::from_secs(d.saturating_mul(86_400))),
        }
    }
}

/// The configuration: the file's, or the defaults when there is none.
pub fn load() -> Result<Config, Fail> {
    let path = path();
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Config::default()),
        Err(e) => {
            return Err(Fail::input_msg(format!(
                "configuration `{}`: {e}",
                path.display()
            )));
        }
    };
    let mut de = serde_json::Deserializer::from_slice(&bytes);
    let config: Config = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        Fail::input_msg(format!(
            "configuration `{}`: at `{}`: {}",
            path.display(),
            e.path(),
            e.inner()
        ))
    })?;
    let zero = [
        ("audit.segmentMiB", config.audit.segment_mib),
        ("audit.retainDays", config.audit.retain_days),
        ("audit.retainMiB", config.audit.retain_mib),
        ("audit.checkpointRecords", config.audit.checkpoint_records),
        ("audit.checkpointSeconds", config.audit.checkpoint_seconds),
    ]
    .into_iter()
    .find(|(_, v)| *v == Some(0));
    if let Some((field, _)) = zero {
        return Err(Fail::input_msg(format!(
            "configuration `{}`: `{field}` must be at least 1",
            path.display()
        )));
    }
    Ok(config)
}
