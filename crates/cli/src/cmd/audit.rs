//! `cordon audit`: the tamper-evident log (SPEC A-2): verify it, append to it.

use std::io::{BufRead, Write};
use std::path::PathBuf;

use std::path::Path;

use cordon_audit::checkpoint::{AnchorCheck, Anchors, Checkpoint};
use cordon_audit::ecs;
use cordon_audit::ocsf::{Class, Verdict};
use cordon_audit::query::{Filter, summary};
use cordon_audit::store::{self, Log, Position};
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
    /// Show the last events, one line each (or OCSF JSON with `--json`); with `-f`, keep
    /// showing new ones as they are written, across segment rotation, until interrupted.
    ///
    /// Example: `cordon audit tail -n 20 -f --decision deny`
    Tail(TailArgs),
    /// Find events: by time (`--since 2h`, `--until 2026-11-26T12:00:00Z`), class, decision,
    /// agent, path prefix and destination host. One line each, or OCSF JSON with `--json`.
    ///
    /// Example: `cordon audit query --since 24h --decision deny --agent claude-code-agent`
    Query(QueryArgs),
    /// Write events out for a SIEM or an archive: `ocsf` (one OCSF event per line), `ecs`
    /// (Elastic Common Schema documents, one per line) or `jsonl` (the log's records as they
    /// are, hash chain included). Takes the same filters as `query`.
    ///
    /// Example: `cordon audit export --format ecs --since 7d --out cordon-week.ndjson`
    Export(ExportArgs),
    /// Deliver the audit trail to the sinks of the configuration (`audit.sinks`): syslog over
    /// TCP or TLS, Splunk HEC, OTLP/HTTP, a signed webhook, a JSON-lines file. Each sink keeps a
    /// durable cursor: nothing is lost when a sink or the shipper stops, and at most one batch
    /// is delivered twice. Runs until stopped; `--once` delivers what is there and exits.
    ///
    /// Example: `cordon audit ship --state-dir /var/lib/cordon` (as a service)
    Ship(ShipArgs),
    /// Counts over the audit trail: events by class, component and decision, denials by what
    /// was denied, blocked egress attempts, DLP blocks, manifest verification failures (revoked
    /// manifests among them), detection findings. As text, JSON, or the Prometheus text
    /// exposition format (for node_exporter's textfile collector, or a scrape job).
    ///
    /// Example: `cordon audit stats --since 24h --format prometheus > /var/lib/node_exporter/cordon.prom`
    Stats(StatsArgs),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum StatsFormat {
    Text,
    Json,
    Prometheus,
}

#[derive(Debug, clap::Args)]
pub struct StatsArgs {
    #[command(flatten)]
    select: Selection,
    /// `text`, `json` or `prometheus`.
    #[arg(long, value_enum, default_value_t = StatsFormat::Text)]
    format: StatsFormat,
}

#[derive(Debug, clap::Args)]
pub struct ShipArgs {
    /// The state directory whose `audit/` log to deliver.
    #[arg(long)]
    state_dir: Option<String>,
    /// Deliver what the log holds now and exit; exit 1 if a sink cannot take it within
    /// `--deadline` seconds.
    #[arg(long)]
    once: bool,
    /// With `--once`: how long to keep retrying a sink that fails.
    #[arg(long, default_value_t = 60, value_name = "SECONDS", requires = "once")]
    deadline: u64,
}

/// Which events: the filters `tail`, `query` and `export` share.
#[derive(Debug, clap::Args)]
pub struct Selection {
    /// The state directory whose `audit/` log to read.
    #[arg(long)]
    state_dir: Option<String>,
    /// Events at or after this time: RFC 3339 (`2026-11-26T08:00:00Z`) or an age (`90s`, `15m`,
    /// `2h`, `7d`).
    #[arg(long, value_name = "TIME")]
    since: Option<String>,
    /// Events before this time (same forms as `--since`).
    #[arg(long, value_name = "TIME")]
    until: Option<String>,
    /// Only this OCSF class: `file`, `process`, `network`, `http`, `api`, `authorization`,
    /// `lifecycle`, `finding`, or a `class_uid` (repeatable).
    #[arg(long = "class", value_name = "CLASS")]
    classes: Vec<String>,
    /// Only this decision: `allow`, `deny`, `ask`, `redact`, `alert`, `none`.
    #[arg(long)]
    decision: Option<String>,
    /// Only this agent (as its manifest names it).
    #[arg(long)]
    agent: Option<String>,
    /// Only events about a path at or below this one (a file, a program, a URL path).
    #[arg(long, value_name = "PATH")]
    path_prefix: Option<String>,
    /// Only events whose destination is this host.
    #[arg(long)]
    host: Option<String>,
}

#[derive(Debug, clap::Args)]
pub struct TailArgs {
    #[command(flatten)]
    select: Selection,
    /// How many of the last events to show first.
    #[arg(short = 'n', long, default_value_t = 10)]
    lines: usize,
    /// Keep showing new events until interrupted.
    #[arg(short = 'f', long)]
    follow: bool,
    /// OCSF JSON, one event per line.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Args)]
pub struct QueryArgs {
    #[command(flatten)]
    select: Selection,
    /// OCSF JSON, one event per line.
    #[arg(long)]
    json: bool,
    /// Stop after this many events.
    #[arg(long, value_name = "N")]
    limit: Option<usize>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum ExportFormat {
    Ocsf,
    Ecs,
    Jsonl,
}

#[derive(Debug, clap::Args)]
pub struct ExportArgs {
    #[command(flatten)]
    select: Selection,
    /// `ocsf`, `ecs` or `jsonl`.
    #[arg(long, value_enum)]
    format: ExportFormat,
    /// Write here instead of standard output (replaced whole once written).
    #[arg(long, value_name = "FILE")]
    out: Option<String>,
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
        Command::Tail(a) => tail(&a),
        Command::Query(a) => query(&a),
        Command::Export(a) => export(&a),
        Command::Ship(a) => ship(&a),
        Command::Stats(a) => stats(&a),
    }
}

fn log_dir(state: Option<&str>) -> PathBuf {
    let (_, home) = io::current_user();
    state_dir(state, &home).join("audit")
}

fn verify_command(a: &VerifyArgs) -> Outcome {
    let dir = log_dir(a.state_dir.as_deref());
    let segment = dir.clone();
    let latest = store::latest_checkpoint(&dir).map_err(|e| Fail::input_msg(e.to_string()))?;
    // The trust store is needed only to check signatures, so it is read at the first one; one
    // that cannot be read fails every checkpoint, and so the verification.
    let store = std::cell::OnceCell::new();
    let check_sig = |cp: &Checkpoint| -> Result<(), String> {
        let store = store
            .get_or_init(|| {
                io::read(&a.trust)
                    .map_err(|e| e.to_string())
                    .and_then(|b| TrustStore::parse(&b, &a.trust).map_err(|p| p.to_string()))
            })
            .as_ref()
            .map_err(|e| format!("trust store `{}`: {e}", a.trust))?;
        let at = time::OffsetDateTime::parse(&cp.time, &Rfc3339)
            .map_err(|e| format!("its time `{}`: {e}", cp.time))?;
        store
            .verify_detached(&cp.key, &cp.sig, &cp.message(), Role::AuditSigner, at)
            .map_err(|f| f.to_string())
    };
    // The log is read a part at a time; checkpoints are checked as their records verify.
    let mut check = AnchorCheck::new(latest.as_ref(), &check_sig);
    let (chain, start) = store::verify_dir(&dir, |line, text| check.see(line, text))
        .map_err(|e| Fail::input_msg(e.to_string()))?;
    let anchors = check.finish(&chain, start);
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

impl Selection {
    fn filter(&self, now: time::OffsetDateTime) -> Result<Filter, Fail> {
        let classes = self
            .classes
            .iter()
            .map(|c| {
                Class::parse(c).ok_or_else(|| {
                    Fail::input_msg(format!(
                        "`--class {c}`: not a class; use file, process, network, http, api, authorization, lifecycle, finding or a class_uid"
                    ))
                })
            })
            .collect::<Result<_, _>>()?;
        let decision = match &self.decision {
            None => None,
            Some(d) => Some(Verdict::parse(d).ok_or_else(|| {
                Fail::input_msg(format!(
                    "`--decision {d}`: use allow, deny, ask, redact, alert or none"
                ))
            })?),
        };
        Ok(Filter {
            since: self
                .since
                .as_deref()
                .map(|t| when("--since", t, now))
                .transpose()?,
            until: self
                .until
                .as_deref()
                .map(|t| when("--until", t, now))
                .transpose()?,
            classes,
            decision,
            agent: self.agent.clone(),
            path_prefix: self.path_prefix.clone(),
            host: self.host.clone(),
        })
    }
}

/// A time a filter names: RFC 3339, or an age before `now` (`90s`, `15m`, `2h`, `7d`).
pub fn when(flag: &str, text: &str, now: time::OffsetDateTime) -> Result<i64, Fail> {
    if let Ok(t) = time::OffsetDateTime::parse(text, &Rfc3339) {
        return Ok(trail::millis(t));
    }
    let bad = || {
        Fail::input_msg(format!(
            "`{flag} {text}`: give an RFC 3339 time (2026-11-26T08:00:00Z) or an age such as 90s, 15m, 2h, 7d"
        ))
    };
    let split = text.len().checked_sub(1).ok_or_else(bad)?;
    let (number, unit) = (
        text.get(..split).ok_or_else(bad)?,
        text.get(split..).ok_or_else(bad)?,
    );
    let n: i64 = number.parse().map_err(|_| bad())?;
    let unit_ms: i64 = match unit {
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => return Err(bad()),
    };
    Ok(trail::millis(now).saturating_sub(n.saturating_mul(unit_ms)))
}

/// One record read back: its line, its event and its time.
struct Read {
    line: String,
    event: Value,
    time: String,
}

/// Read the records of the log in `dir` from `from`, calling `each` for every one; returns
/// where reading stopped (a line still being written is left for next time).
fn read_from(
    dir: &Path,
    from: &Position,
    mut each: impl FnMut(Read) -> Result<bool, Fail>,
) -> Result<Position, Fail> {
    let reading = store::read_records(dir, *from, |line| {
        let Ok(record) = serde_json::from_str::<Value>(line) else {
            // Not a record: `verify` says what is wrong; readers go on.
            return Ok(true);
        };
        let time = record
            .get("time")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let event = record.get("event").cloned().unwrap_or(Value::Null);
        each(Read {
            line: line.to_owned(),
            event,
            time,
        })
    })?;
    Ok(reading.end)
}

/// Print one event: a summary line, or its OCSF JSON.
fn show(out: &mut impl Write, r: &Read, json: bool) -> Result<(), Fail> {
    let text = if json {
        r.event.to_string()
    } else {
        summary(&r.event, &r.time)
    };
    writeln!(out, "{text}").map_err(|e| Fail::input_msg(format!("cannot write: {e}")))
}

fn tail(a: &TailArgs) -> Outcome {
    let dir = log_dir(a.select.state_dir.as_deref());
    let filter = a.select.filter(io::now_or(None)?)?;
    let mut last = std::collections::VecDeque::with_capacity(a.lines.min(4096));
    let mut at = read_from(&dir, &Position::default(), |r| {
        if filter.matches(&r.event) {
            if last.len() == a.lines {
                last.pop_front();
            }
            if a.lines > 0 {
                last.push_back(r);
            }
        }
        Ok(true)
    })?;
    let mut out = std::io::stdout().lock();
    for r in &last {
        show(&mut out, r, a.json)?;
    }
    out.flush()
        .map_err(|e| Fail::input_msg(format!("cannot write: {e}")))?;
    if !a.follow {
        return Ok(0);
    }
    drop(out);
    // Until interrupted: a command a person or a pipeline stops.
    loop {
        std::thread::sleep(std::time::Duration::from_millis(250));
        let mut out = std::io::stdout().lock();
        at = read_from(&dir, &at, |r| {
            if filter.matches(&r.event) {
                show(&mut out, &r, a.json)?;
            }
            Ok(true)
        })?;
        if out.flush().is_err() {
            // The reader went away (a closed pipe): stop following.
            return Ok(0);
        }
    }
}

fn query(a: &QueryArgs) -> Outcome {
    let dir = log_dir(a.select.state_dir.as_deref());
    let filter = a.select.filter(io::now_or(None)?)?;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let mut found = 0usize;
    read_from(&dir, &Position::default(), |r| {
        if filter.matches(&r.event) {
            show(&mut out, &r, a.json)?;
            found += 1;
        }
        Ok(a.limit.is_none_or(|l| found < l))
    })?;
    out.flush()
        .map_err(|e| Fail::input_msg(format!("cannot write: {e}")))?;
    Ok(0)
}

fn export(a: &ExportArgs) -> Outcome {
    let dir = log_dir(a.select.state_dir.as_deref());
    let filter = a.select.filter(io::now_or(None)?)?;
    let mut buffer = String::new();
    let mut stdout = std::io::BufWriter::new(std::io::stdout().lock());
    let mut count = 0u64;
    let to_file = a.out.is_some();
    read_from(&dir, &Position::default(), |r| {
        if !filter.matches(&r.event) {
            return Ok(true);
        }
        let text = match a.format {
            ExportFormat::Ocsf => r.event.to_string(),
            ExportFormat::Ecs => ecs::to_ecs(&r.event).to_string(),
            ExportFormat::Jsonl => r.line,
        };
        count += 1;
        if to_file {
            buffer.push_str(&text);
            buffer.push('\n');
        } else {
            writeln!(stdout, "{text}")
                .map_err(|e| Fail::input_msg(format!("cannot write: {e}")))?;
        }
        Ok(true)
    })?;
    stdout
        .flush()
        .map_err(|e| Fail::input_msg(format!("cannot write: {e}")))?;
    if let Some(path) = &a.out {
        io::write(path, &buffer)?;
        eprintln!("cordon: {count} event(s) written to `{path}`");
    }
    Ok(0)
}

fn ship(a: &ShipArgs) -> Outcome {
    let config = crate::config::load()?;
    let dir = log_dir(a.state_dir.as_deref());
    let mode = if a.once {
        crate::ship::Mode::Once(std::time::Duration::from_secs(a.deadline))
    } else {
        crate::ship::Mode::Follow
    };
    crate::ship::ship(&dir, &config.audit.sinks, mode)?;
    Ok(0)
}

fn stats(a: &StatsArgs) -> Outcome {
    let dir = log_dir(a.select.state_dir.as_deref());
    let filter = a.select.filter(io::now_or(None)?)?;
    let mut s = cordon_audit::stats::Stats::default();
    read_from(&dir, &Position::default(), |r| {
        if filter.matches(&r.event) {
            s.observe(&r.event);
        }
        Ok(true)
    })?;
    let text = match a.format {
        StatsFormat::Prometheus => s.to_prometheus(),
        StatsFormat::Json => format!("{}\n", s.to_json()),
        StatsFormat::Text => {
            let sum = |m: &std::collections::BTreeMap<String, u64>| m.values().sum::<u64>();
            let mut t = format!("{} events\n", s.total);
            let denials: u64 = sum(&s.denials);
            t.push_str(&format!("denials: {denials}"));
            for (k, n) in &s.denials {
                t.push_str(&format!(" {k}={n}"));
            }
            t.push_str(&format!(
                "\nblocked egress attempts: {}\nDLP blocks: {}\nmanifest verification failures: {} (revoked: {})\ndetection findings: {}\n",
                sum(&s.egress_blocked),
                sum(&s.dlp_blocks),
                sum(&s.verification_failures),
                s.revoked_refusals(),
                s.findings.values().sum::<u64>(),
            ));
            t
        }
    };
    print!("{text}");
    Ok(0)
}
