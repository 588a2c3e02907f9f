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
    /// Detections.
    #[serde(default)]
    pub detect: Detect,
}

/// What `cordon detect` adds to events before the rules run.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Detect {
    /// Business hours, `START-END` (default `08-18`).
    pub business_hours: Option<String>,
    /// Working days (default `mon` … `fri`).
    pub business_days: Option<Vec<String>>,
    /// The organisation's UTC offset, `±HH:MM` (default `+00:00`; daylight saving time is not
    /// followed).
    pub time_zone: Option<String>,
    /// Paths tagged sensitive (globs; default: keys, cloud credentials, `.env` files …).
    pub sensitive_paths: Option<Vec<String>>,
    /// An access is rare when the agent touched the path fewer times than this in the
    /// baseline window (default 3).
    pub rare_below: Option<usize>,
    /// The baseline window in days (default 30).
    pub baseline_days: Option<u64>,
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
    /// Where `cordon audit ship` delivers events.
    #[serde(default)]
    pub sinks: Vec<Sink>,
}

/// One destination of the audit trail. `type` says which fields apply:
///
/// - `file`: `path`, `format` (`ocsf` or `ecs`): JSON lines appended to a file;
/// - `syslog`: `address` (`host:port`), `tls`, `facility` (default 10, authpriv), `appName`,
///   `enterpriseNumber`: RFC 5424 over TCP with octet counting, or over TLS (RFC 5425);
/// - `hec`: `url` (…`/services/collector/event`), `token`, `index`, `sourcetype`, `tls`: Splunk
///   HTTP Event Collector;
/// - `otlp`: `url` (…`/v1/logs`), `headers`, `tls`: OpenTelemetry logs over HTTP, JSON;
/// - `webhook`: `url`, `secret`, `headers`, `tls`: a JSON body signed with HMAC-SHA256
///   (Standard Webhooks headers).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Sink {
    /// A name, unique among the sinks: it names the sink's cursor.
    pub name: String,
    /// `file`, `syslog`, `hec`, `otlp` or `webhook`.
    #[serde(rename = "type")]
    pub kind: String,
    /// `file`: where.
    pub path: Option<String>,
    /// `file`: `ocsf` (default) or `ecs`.
    pub format: Option<String>,
    /// `syslog`: `host:port`.
    pub address: Option<String>,
    /// `hec`, `otlp`, `webhook`: where to POST.
    pub url: Option<String>,
    /// `hec`: the HEC token.
    pub token: Option<Secret>,
    /// `webhook`: the signing secret.
    pub secret: Option<Secret>,
    /// `otlp`, `webhook`: more request headers (values may be secrets).
    #[serde(default)]
    pub headers: std::collections::BTreeMap<String, Secret>,
    /// `hec`: the index.
    pub index: Option<String>,
    /// `hec`: the sourcetype (default `ocsf:cordon`).
    pub sourcetype: Option<String>,
    /// `syslog`: the facility, 0–23 (default 10, authpriv).
    pub facility: Option<u8>,
    /// `syslog`: APP-NAME (default `cordon`).
    pub app_name: Option<String>,
    /// `syslog`: the private enterprise number of the structured-data ID (default 32473, the
    /// documentation number).
    pub enterprise_number: Option<u32>,
    /// TLS for `syslog` (required for TLS) and the HTTP sinks (`https` URLs).
    pub tls: Option<Tls>,
    /// Events per delivery at most (default 500).
    pub batch: Option<usize>,
}

/// TLS settings of a sink.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Tls {
    /// More CA certificates (PEM) to verify the server with, besides the system's.
    pub ca: Option<String>,
    /// A client certificate chain (PEM), for servers that require one.
    pub cert: Option<String>,
    /// The client certificate's private key (PEM).
    pub key: Option<String>,
    /// The name to verify the server's certificate for (default: the address's host).
    pub server_name: Option<String>,
}

/// A secret a sink needs, never written in the configuration itself: the value of an
/// environment variable of `cordon audit ship`, or the content of a file (trailing newline
/// removed). A plain string is allowed for header values that are not secret.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum Secret {
    /// `{"env": "NAME"}`.
    Env {
        /// The variable.
        env: String,
    },
    /// `{"file": "/path"}`.
    File {
        /// The file.
        file: String,
    },
    /// A literal (for headers that are not secret).
    Plain(String),
}

impl Secret {
    /// The value, or why it cannot be read (naming where it was looked for, never the value).
    pub fn read(&self) -> Result<String, String> {
        match self {
            Self::Env { env } => std::env::var(env)
                .map_err(|_| format!("the environment variable `{env}` is not set")),
            Self::File { file } => std::fs::read_to_string(file)
                .map(|t| t.trim_end_matches(['\n', '\r']).to_owned())
                .map_err(|e| format!("`{file}`: {e}")),
            Self::Plain(v) => Ok(v.clone()),
        }
    }
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
