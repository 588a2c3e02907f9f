//! `cordon audit`: the tamper-evident log (SPEC A-2): verify it, append to it.

use std::io::{BufRead, Write};
use std::path::PathBuf;

use cordon_audit::store::{self, Log};
use cordon_audit::verify::verify;
use serde_json::{Value, json};

use super::run::state_dir;
use crate::fail::{CHECK_FAILED, Fail, Outcome};
use crate::io;

/// Events appended per batch at most (one write and one fsync each).
const MAX_BATCH: usize = 1024;

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Check the hash chain of the audit log and name the first record that does not follow:
    /// edited, deleted, inserted, reordered, unlinked or malformed.
    ///
    /// Exit 0 when every record verifies, 1 at the first bad one.
    ///
    /// Example: `cordon audit verify --state-dir /var/lib/cordon`
    Verify(VerifyArgs),
    /// Append events (one JSON object per line on standard input) to the audit log, each batch
    /// made durable before `ack SEQ` is printed for it. For tools that import events, and for
    /// testing crash safety.
    ///
    /// Example: `echo '{"class_uid":3001}' | cordon audit append --state-dir /var/lib/cordon`
    Append(AppendArgs),
}

#[derive(Debug, clap::Args)]
pub struct VerifyArgs {
    /// The state directory whose `audit/` log to verify (default: `$XDG_STATE_HOME/cordon`, or
    /// `~/.local/state/cordon`).
    #[arg(long)]
    state_dir: Option<String>,
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
        Command::Verify(a) => verify_log(&a),
        Command::Append(a) => append(&a),
    }
}

fn log_dir(state: Option<&str>) -> PathBuf {
    let (_, home) = io::current_user();
    state_dir(state, &home).join("audit")
}

fn verify_log(a: &VerifyArgs) -> Outcome {
    let dir = log_dir(a.state_dir.as_deref());
    let lines = store::read_lines(&dir).map_err(|e| Fail::input_msg(e.to_string()))?;
    let report = verify(lines.iter().map(String::as_str));
    if a.json {
        println!(
            "{}",
            json!({
                "log": dir.join(store::SEGMENT),
                "records": report.records,
                "lastHash": report.last_hash,
                "problem": report.problem.as_ref().map(|p| json!({
                    "line": p.line, "seq": p.seq, "kind": p.kind.to_string(),
                })),
            })
        );
    }
    match report.problem {
        None => {
            if !a.json {
                println!(
                    "{}: {} records verified, last hash {}",
                    dir.join(store::SEGMENT).display(),
                    report.records,
                    report.last_hash
                );
            }
            Ok(0)
        }
        Some(p) => {
            if a.json {
                return Ok(CHECK_FAILED);
            }
            Err(Fail::check_msg(format!(
                "{}: {p}; the {} records before it verify",
                dir.join(store::SEGMENT).display(),
                report.records
            )))
        }
    }
}

fn append(a: &AppendArgs) -> Outcome {
    let dir = log_dir(a.state_dir.as_deref());
    let mut log = Log::open(&dir).map_err(|e| Fail::input_msg(e.to_string()))?;
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
