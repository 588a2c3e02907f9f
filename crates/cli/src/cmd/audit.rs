//! `cordon audit`: the tamper-evident log (SPEC A-2): verify it, append to it.

use std::io::{BufRead, Write};
use std::path::PathBuf;

use cordon_audit::checkpoint::{Anchors, Checkpoint, anchors};
use cordon_audit::store::{self, Log};
use cordon_audit::verify::verify_log;
use cordon_policy::trust::{Role, TrustStore};
use serde_json::{Value, json};
use time::format_description::well_known::Rfc3339;

use super::manifest::DEFAULT_TRUST;
use super::run::state_dir;
use crate::fail::{CHECK_FAILED, Fail, Outcome};
use crate::io;
use crate::trail::{self, KeySigner};

/// Events appended per batch at most (one write and one fsync each).
const MAX_BATCH: usize = 1024;

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Check the hash chain of the audit log and its signed checkpoints, and name the first
    /// record that does not follow: edited, deleted, inserted, reordered, unlinked, malformed,
    /// truncated after a checkpoint, or a forged checkpoint.
    ///
    /// Checkpoint signatures are checked against the trust store's `audit-signer` keys. Exit 0
    /// when everything verifies, 1 at the first problem.
    ///
    /// Example: `cordon audit verify --state-dir /var/lib/cordon`
    Verify(VerifyArgs),
    /// Append events (one JSON object per line on standard input) to the audit log, each batch
    /// made durable before `ack SEQ` is printed for it. For tools that import events, and for
    /// testing crash safety.
    ///
    /// Example: `echo '{"class_uid":3001}' | cordon audit append --state-dir /var/lib/cordon`
    Append(AppendArgs),
    /// Sign a checkpoint of the audit log now, with a key the trust store lists as
    /// `audit-signer`: records up to it can no longer be rewritten, nor the log cut before it,
    /// without `verify` saying so. The proxy and `cordon run` sign their own with `--audit-key`;
    /// this is for logs written by other means and for an administrator's "seal it now".
    ///
    /// Example: `cordon audit checkpoint --audit-key /etc/cordon/audit.key --state-dir /var/lib/cordon`
    Checkpoint(CheckpointArgs),
}

#[derive(Debug, clap::Args)]
pub struct CheckpointArgs {
    /// The state directory whose `audit/` log to sign.
    #[arg(long)]
    state_dir: Option<String>,
    /// The private key (`cordon keys generate`) to sign with.
    #[arg(long, value_name = "FILE")]
    audit_key: String,
}

#[derive(Debug, clap::Args)]
pub struct VerifyArgs {
    /// The state directory whose `audit/` log to verify (default: `$XDG_STATE_HOME/cordon`, or
    /// `~/.local/state/cordon`).
    #[arg(long)]
    state_dir: Option<String>,
    /// The trust store whose `audit-signer` keys the checkpoints must be signed by (read only
    /// when the log has checkpoints).
    #[arg(long, default_value = DEFAULT_TRUST)]
    trust: String,
    /// Print the result as one JSON object.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Args)]
pub struct AppendArgs {
    /// The state directory whose `audit/` log to append to.
    #[arg(long)]
    state_dir: Option<String>,
}

pub fn run(c: Command) -> Outcome {
    match c {
        Command::Verify(a) => verify_command(&a),
        Command::Append(a) => append(&a),
        Command::Checkpoint(a) => checkpoint(&a),
    }
}

fn log_dir(state: Option<&str>) -> PathBuf {
    let (_, home) = io::current_user();
    state_dir(state, &home).join("audit")
}

fn verify_command(a: &VerifyArgs) -> Outcome {
    let dir = log_dir(a.state_dir.as_deref());
    let segment = dir.clone();
    let lines = store::read_lines(&dir).map_err(|e| Fail::input_msg(e.to_string()))?;
    let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
    let (chain, start) = verify_log(&refs);
    let latest = store::latest_checkpoint(&dir).map_err(|e| Fail::input_msg(e.to_string()))?;
    let signed = latest.is_some() || refs.iter().any(|l| l.starts_with(CHECKPOINT_PREFIX));
    // The trust store is needed only to check signatures; one that cannot be read fails every
    // checkpoint, and so the verification.
    let store = signed.then(|| {
        io::read(&a.trust)
            .map_err(|e| e.to_string())
            .and_then(|b| TrustStore::parse(&b, &a.trust).map_err(|p| p.to_string()))
    });
    let check_sig = |cp: &Checkpoint| -> Result<(), String> {
        let store = match &store {
            Some(Ok(s)) => s,
            Some(Err(e)) => return Err(format!("trust store `{}`: {e}", a.trust)),
            None => return Err("no trust store".into()),
        };
        let at = time::OffsetDateTime::parse(&cp.time, &Rfc3339)
            .map_err(|e| format!("its time `{}`: {e}", cp.time))?;
        store
            .verify_detached(&cp.key, &cp.sig, &cp.message(), Role::AuditSigner, at)
            .map_err(|f| f.to_string())
    };
    let anchors = anchors(&refs, &chain, start, latest.as_ref(), &check_sig);
    let problem = chain.problem.clone().or_else(|| anchors.problem.clone());
    if a.json {
        println!(
            "{}",
            json!({
                "log": segment,
                "records": chain.records,
                "firstSeq": start,
                "lastHash": chain.last_hash,
                "checkpoints": anchors.checkpoints,
                "anchoredThrough": anchors.through,
                "lastCheckpoint": anchors.last.as_ref().map(|c| json!({
                    "seq": c.seq, "key": c.key, "time": c.time,
                })),
                "problem": problem.as_ref().map(|p| json!({
                    "line": p.line, "seq": p.seq, "kind": p.kind.name(), "detail": p.kind.to_string(),
                })),
            })
        );
    }
    match problem {
        None => {
            if !a.json {
                let retained = if start > 0 {
                    format!(
                        " (from record {start}: retention removed the ones before, as the chain records)"
                    )
                } else {
                    String::new()
                };
                println!(
                    "{}: {} records verified{retained}, last hash {}",
                    segment.display(),
                    chain.records,
                    chain.last_hash
                );
                println!("{}", anchored(&anchors, chain.records));
            }
            Ok(0)
        }
        Some(p) => {
            if a.json {
                return Ok(CHECK_FAILED);
            }
            let verified = if chain.problem.is_some() {
                format!("; the {} records before it verify", chain.records)
            } else {
                String::new()
            };
            Err(Fail::check_msg(format!(
                "{}: {p}{verified}",
                segment.display()
            )))
        }
    }
}

/// How a record event that is a checkpoint starts, as the writer lays it out.
const CHECKPOINT_PREFIX: &str = "{\"event\":{\"checkpoint\":";

/// What the checkpoints cover, for people.
fn anchored(anchors: &Anchors, records: u64) -> String {
    match (&anchors.last, anchors.through) {
        (Some(cp), Some(through)) => {
            // The records after the one covered, less the checkpoint's own.
            let after = records.saturating_sub(through.saturating_add(2));
            let tail = if after == 0 {
                "every record is covered".to_owned()
            } else {
                format!("{after} record(s) after it are not yet covered")
            };
            format!(
                "{} signed checkpoint(s); the last, by key {} at {}, covers records 0–{through}; {tail}",
                anchors.checkpoints,
                cordon_policy::crypto::short_id(&cp.key),
                cp.time
            )
        }
        _ => "no signed checkpoint: the hash chain alone does not show a rewrite by someone who \
              can write the whole log (run the proxy or `cordon run` with `--audit-key`)"
            .to_owned(),
    }
}

fn append(a: &AppendArgs) -> Outcome {
    let dir = log_dir(a.state_dir.as_deref());
    let mut log = Log::open_with(&dir, crate::config::load()?.audit.policy())
        .map_err(|e| Fail::input_msg(e.to_string()))?;
    let mut input = std::io::BufReader::with_capacity(64 << 10, std::io::stdin().lock());
    let mut out = std::io::stdout().lock();
    let mut batch: Vec<Value> = Vec::new();
    let mut line_no = 0usize;
    let mut line = String::new();
    loop {
        line.clear();
        let n = input
            .read_line(&mut line)
            .map_err(|e| Fail::input_msg(format!("cannot read standard input: {e}")))?;
        if n > 0 {
            line_no += 1;
            let event: Value = serde_json::from_str(&line)
                .map_err(|e| Fail::input_msg(format!("line {line_no}: not JSON: {e}")))?;
            if !event.is_object() {
                return Err(Fail::input_msg(format!(
                    "line {line_no}: an event is a JSON object"
                )));
            }
            batch.push(event);
        }
        // A batch ends when no more input is waiting, when it is full, or at the end.
        let waiting = !input.buffer().is_empty();
        if !batch.is_empty() && (n == 0 || !waiting || batch.len() >= MAX_BATCH) {
            let time = cordon_policy::trust::format_time(io::now_or(None)?);
            let acked = log
                .append(&time, batch.drain(..))
                .map_err(|e| Fail::input_msg(e.to_string()))?;
            if let Some(seq) = acked {
                writeln!(out, "ack {seq}")
                    .and_then(|()| out.flush())
                    .map_err(|e| Fail::input_msg(format!("cannot write: {e}")))?;
            }
        }
        if n == 0 {
            return Ok(0);
        }
    }
}

fn checkpoint(a: &CheckpointArgs) -> Outcome {
    let dir = log_dir(a.state_dir.as_deref());
    let signer = KeySigner::load(&a.audit_key)?;
    let mut log = Log::open_with(&dir, crate::config::load()?.audit.policy())
        .map_err(|e| Fail::input_msg(e.to_string()))?;
    let time = trail::stamp(io::now_or(None)?);
    match log
        .checkpoint(&time, &signer)
        .map_err(|e| Fail::check_msg(e.to_string()))?
    {
        Some(cp) => println!(
            "{}: checkpoint of records 0–{} signed by key {} at {}",
            dir.display(),
            cp.seq,
            cordon_policy::crypto::short_id(&cp.key),
            cp.time
        ),
        None => println!(
            "{}: nothing to sign (no records, or the last one is a checkpoint)",
            dir.display()
        ),
    }
    Ok(0)
}
