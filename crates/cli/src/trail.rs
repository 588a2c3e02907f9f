//! The audit trail every enforcement point writes to: OCSF events (`cordon_audit::ocsf`) sealed
//! into the state directory's hash-chained log (`<state-dir>/audit/`).
//!
//! Short-lived commands (`run`, `hook`) append their events and wait for the `fsync`; the proxy
//! hands them to a group-commit writer thread. Whatever cannot be written is an error the caller
//! reports: no enforcement point acts on a decision it could not record.

use std::path::{Path, PathBuf};

use cordon_audit::ocsf::{Activity, Event, Subject, Verdict};
use cordon_audit::store::Log;
use time::OffsetDateTime;

use cordon_policy::verify::VerifiedManifest;

use crate::cmd::manifest::{Enforced, VerifyFail};
use crate::fail::Fail;

/// A log that cannot be written, as the enforcement points report it.
fn unwritable(e: &dyn std::fmt::Display) -> Fail {
    Fail::check_msg(format!("cannot write the audit log: {e}"))
}

/// The version events name as the product's.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The log directory of a state directory.
pub fn log_dir(state: &Path) -> PathBuf {
    state.join("audit")
}

/// Milliseconds since the epoch.
pub fn millis(t: OffsetDateTime) -> i64 {
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

/// A record's time: RFC 3339, UTC, with milliseconds.
pub fn stamp(t: OffsetDateTime) -> String {
    let ms = t.millisecond();
    let t = t.replace_nanosecond(0).unwrap_or(t);
    let whole = cordon_policy::trust::format_time(t);
    match whole.strip_suffix('Z') {
        Some(base) => format!("{base}.{ms:03}Z"),
        None => whole,
    }
}

/// This machine's name, as the kernel has it.
pub fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".to_owned())
}

/// Where one process's events go, and who they are about.
#[derive(Debug)]
pub struct Trail {
    dir: PathBuf,
    /// The log, once opened (kept for the process's later events: one open and catch-up).
    log: Option<Log>,
    /// Who and where; the agent and manifest digest are filled in once a manifest verifies.
    pub subject: Subject,
    /// The audit settings of the configuration file.
    pub config: crate::config::Audit,
}

impl Trail {
    /// The trail of `component` acting for `user`, into `state`'s log, as the configuration
    /// file says (an unreadable one is an error).
    pub fn new(state: &Path, component: &'static str, user: &str) -> Result<Self, Fail> {
        Ok(Self {
            dir: log_dir(state),
            log: None,
            config: crate::config::load()?.audit,
            subject: Subject {
                component,
                user: user.to_owned(),
                host: host_name(),
                ..Subject::default()
            },
        })
    }

    /// The checkpoint key: the one a flag names, else the configuration's.
    pub fn checkpoint_key(&self, flag: Option<&String>) -> Option<String> {
        flag.cloned().or_else(|| self.config.checkpoint_key.clone())
    }

    /// The log directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Sign a checkpoint of everything the log holds now (a clean stop).
    pub fn checkpoint(&mut self, signer: &KeySigner) -> Result<(), Fail> {
        self.log()?
            .checkpoint(&stamp(OffsetDateTime::now_utc()), signer)
            .map_err(|e| Fail::check_msg(format!("cannot write an audit checkpoint: {e}")))?;
        Ok(())
    }

    /// Seal `events` into the log and wait until they are durable.
    pub fn record(&mut self, events: impl IntoIterator<Item = Event>) -> Result<(), Fail> {
        let finished: Vec<_> = events
            .into_iter()
            .map(|e| e.finish(&self.subject, VERSION))
            .collect();
        self.log()?
            .append(&stamp(OffsetDateTime::now_utc()), finished)
            .map_err(|e| unwritable(&e))?;
        Ok(())
    }

    fn log(&mut self) -> Result<&mut Log, Fail> {
        if self.log.is_none() {
            self.log =
                Some(Log::open_with(&self.dir, self.config.policy()).map_err(|e| unwritable(&e))?);
        }
        self.log
            .as_mut()
            .ok_or_else(|| unwritable(&"the log is not open"))
    }

    /// Verify the manifest `signed` names. A failure is recorded at once (Application Lifecycle
    /// `Verify`, denied, with the kind of failure as the reason); a success is returned as the
    /// event to record with the caller's next ones (one `fsync` for all), and from then on the
    /// trail's subject carries the agent and the manifest digest.
    pub fn verify(
        &mut self,
        signed: &Enforced,
        now: OffsetDateTime,
    ) -> Result<(VerifiedManifest, Event), Fail> {
        let event = Event::new(Activity::Verify, millis(now));
        match signed.verify_why(now) {
            Ok(v) => {
                self.subject.agent = v.manifest.agent_name.clone();
                self.subject.manifest_digest = Some(v.digest.clone());
                let verified = event
                    .decided(Verdict::Allow, "manifest_verified", None)
                    .with("app", app(&v.manifest.agent_name, &v.digest));
                Ok((v, verified))
            }
            Err(fail) => {
                let (reason, detail, fail) = match fail {
                    VerifyFail::Refused(kind, report) => {
                        let detail = report.to_string();
                        (kind, detail, Fail::check_report(report))
                    }
                    VerifyFail::Input(f) => ("unreadable", f.message(), f),
                };
                let path = signed.manifest.as_str();
                let recorded = self.record([event
                    .decided(Verdict::Deny, reason, None)
                    .failed(detail)
                    .with(
                        "app",
                        serde_json::json!({"name": "cordon manifest", "path": path}),
                    )
                    .cordon("manifest", path.into())]);
                // The refusal is what the caller must hear; a log that cannot be written is
                // said beside it.
                if let Err(e) = recorded {
                    eprintln!("cordon: {}", e.message());
                }
                Err(fail)
            }
        }
    }
}

/// The OCSF `app` of an agent's manifest: its name and digest.
fn app(agent: &str, digest: &str) -> serde_json::Value {
    serde_json::json!({"name": agent, "uid": digest})
}

/// A random id (128 bits, hex) that ties one run's events together.
pub fn new_id() -> String {
    let mut bytes = [0u8; 16];
    // Without randomness the id is the time: still unique enough to correlate one run.
    if getrandom::fill(&mut bytes).is_err() {
        return format!("{:032x}", OffsetDateTime::now_utc().unix_timestamp_nanos());
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `text` with whatever the DLP classifier finds replaced by placeholders: command lines and
/// the like reach the audit trail, secrets never do. Should the rules not compile, nothing of
/// the text is kept.
pub fn scrubbed(text: &str) -> String {
    let Ok(scanner) = cordon_dlp::scan::Scanner::builtin() else {
        return "[REDACTED:unscanned]".to_owned();
    };
    let found = scanner.scan(text.as_bytes());
    if found.is_empty() {
        return text.to_owned();
    }
    let redacted = cordon_dlp::redact::Redactor::new().redact(&scanner, text.as_bytes(), &found);
    String::from_utf8_lossy(&redacted).into_owned()
}

/// Signs audit checkpoints with a key from a cordon key file (`cordon keys generate`), whose
/// public half the trust store lists in the `audit-signer` role.
pub struct KeySigner {
    key: cordon_policy::crypto::SigningKey,
    id: String,
}

impl std::fmt::Debug for KeySigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeySigner")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl KeySigner {
    /// The signer of the private key file `path`.
    pub fn load(path: &str) -> Result<Self, Fail> {
        let key = crate::cmd::manifest::load_key(path)
            .map_err(|f| Fail::input_msg(format!("`--audit-key`: {}", f.message())))?;
        let id = cordon_policy::crypto::key_id(&key.verifying_key());
        Ok(Self { key, id })
    }
}

impl cordon_audit::checkpoint::Signer for KeySigner {
    fn key_id(&self) -> &str {
        &self.id
    }

    fn sign(&self, message: &[u8]) -> String {
        cordon_policy::crypto::sign_detached(&self.key, message)
    }
}
