//! `cordon detect`: Sigma rules over the audit trail (SPEC A-4), over what is stored or as it
//! is written; findings become Detection Finding events in the same log, and so reach the sinks.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use cordon_audit::query::Filter;
use cordon_detect::engine::{Engine, Finding};
use cordon_detect::enrich::{Baseline, BusinessHours, DEFAULT_SENSITIVE, Enricher, Rarity};
use cordon_detect::rule::RuleSet;
use serde_json::Value;

use super::run::state_dir;
use crate::fail::{Fail, Outcome};
use crate::ship::{self, Position};
use crate::trail::{self, Trail};
use crate::{config, io};

/// The rules shipped with cordon (`rules/` in the source), used unless `--rules` is given.
const SHIPPED: &[(&str, &str)] = &[
    (
        "bulk-outbound-off-hours.yml",
        include_str!("../../../../rules/bulk-outbound-off-hours.yml"),
    ),
    (
        "manifest-verification-failure.yml",
        include_str!("../../../../rules/manifest-verification-failure.yml"),
    ),
    (
        "rare-sensitive-file-access.yml",
        include_str!("../../../../rules/rare-sensitive-file-access.yml"),
    ),
    (
        "repeated-denials.yml",
        include_str!("../../../../rules/repeated-denials.yml"),
    ),
    (
        "secret-egress-blocked.yml",
        include_str!("../../../../rules/secret-egress-blocked.yml"),
    ),
];

/// Events read per step.
const STEP: usize = 2000;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Rule files, or directories of `.yml`/`.yaml` files (repeatable). Default: the rules
    /// shipped with cordon (bulk outbound off hours, rare sensitive file access, repeated
    /// denials, blocked secret or PII egress, manifest verification failures).
    #[arg(long, value_name = "PATH")]
    rules: Vec<String>,
    /// Check the rules and stop (for CI): exit 2 naming the first problem.
    #[arg(long)]
    check: bool,
    /// The state directory whose `audit/` log to read.
    #[arg(long)]
    state_dir: Option<String>,
    /// Only events at or after this time: RFC 3339 or an age (`90s`, `15m`, `2h`, `7d`).
    #[arg(long, value_name = "TIME")]
    since: Option<String>,
    /// Keep evaluating new events as they are written, until stopped (a service), from where
    /// the last `--follow` run stopped (a durable cursor; the baseline is kept too).
    #[arg(long)]
    follow: bool,
    /// Append findings to the audit log as Detection Finding events (they then reach the sinks).
    #[arg(long)]
    record: bool,
    /// Print findings as OCSF JSON, one per line.
    #[arg(long)]
    json: bool,
}

/// The rules: the shipped ones, or those at `paths`.
fn load_rules(paths: &[String]) -> Result<RuleSet, Fail> {
    let mut set = RuleSet::default();
    let bad = |e: cordon_detect::rule::RuleError| Fail::input_msg(e.to_string());
    if paths.is_empty() {
        for (name, text) in SHIPPED {
            set.load(&format!("(shipped) {name}"), text).map_err(bad)?;
        }
    }
    for p in paths {
        let path = Path::new(p);
        let files: Vec<PathBuf> = if path.is_dir() {
            let mut f: Vec<PathBuf> = std::fs::read_dir(path)
                .map_err(|e| Fail::input_msg(format!("`{p}`: {e}")))?
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|f| f.extension().is_some_and(|x| x == "yml" || x == "yaml"))
                .collect();
            f.sort();
            f
        } else {
            vec![path.to_owned()]
        };
        for f in files {
            let name = f.display().to_string();
            let text = std::fs::read_to_string(&f)
                .map_err(|e| Fail::input_msg(format!("`{name}`: {e}")))?;
            set.load(&name, &text).map_err(bad)?;
        }
    }
    set.check().map_err(bad)?;
    if set.rules.is_empty() {
        return Err(Fail::input_msg("no rules were loaded"));
    }
    Ok(set)
}

fn enricher(c: &config::Detect, baseline: Baseline) -> Result<Enricher, Fail> {
    let bad = |e: String| Fail::input_msg(format!("configuration: `detect`: {e}"));
    let days = c.business_days.clone().unwrap_or_else(|| {
        ["mon", "tue", "wed", "thu", "fri"]
            .map(String::from)
            .to_vec()
    });
    let hours = BusinessHours::parse(
        c.business_hours.as_deref().unwrap_or("08-18"),
        &days,
        c.time_zone.as_deref().unwrap_or("+00:00"),
    )
    .map_err(bad)?;
    let patterns = c
        .sensitive_paths
        .clone()
        .unwrap_or_else(|| DEFAULT_SENSITIVE.iter().map(|s| (*s).to_owned()).collect());
    let window = i64::try_from(c.baseline_days.unwrap_or(30))
        .unwrap_or(i64::MAX)
        .saturating_mul(86_400_000);
    let rarity = Rarity::new(&patterns, c.rare_below.unwrap_or(3), window).map_err(bad)?;
    Ok(Enricher {
        hours,
        rarity,
        baseline,
    })
}

pub fn run(a: &Args) -> Outcome {
    let config = config::load()?;
    let rules = load_rules(&a.rules)?;
    if a.check {
        println!(
            "{} detection rule(s) and {} correlation(s) load and check",
            rules.rules.len(),
            rules.correlations.len()
        );
        return Ok(0);
    }
    let (user, home) = io::current_user();
    let state = state_dir(a.state_dir.as_deref(), &home);
    let log = trail::log_dir(&state);
    let mut trail = Trail::new(&state, "detect", &user)?;
    let since = match &a.since {
        None => None,
        Some(t) => Some(super::audit::when("--since", t, io::now_or(None)?)?),
    };
    let filter = Filter {
        since,
        ..Filter::default()
    };
    let cursor = ship::cursor_path(&log, "detect");
    let baseline_path = log.join("detect-baseline.json");
    let (mut at, baseline) = if a.follow {
        let at = ship::load_cursor(&cursor).map_err(Fail::input_msg)?;
        let baseline = match std::fs::read_to_string(&baseline_path) {
            Ok(t) => serde_json::from_str(&t)
                .map_err(|e| Fail::input_msg(format!("`{}`: {e}", baseline_path.display())))?,
            Err(_) => Baseline::default(),
        };
        (at, baseline)
    } else {
        (Position::default(), Baseline::default())
    };
    let mut enricher = enricher(&config.detect, baseline)?;
    let mut engine = Engine::new(rules);
    let mut found = 0usize;
    loop {
        let batch = ship::read_batch(&log, at, STEP).map_err(Fail::input_msg)?;
        let mut findings: Vec<Finding> = Vec::new();
        for (seq, event) in batch.events {
            // cordon's own findings are not evidence for more.
            if event
                .pointer("/unmapped/cordon/component")
                .and_then(Value::as_str)
                == Some("detect")
                || !filter.matches(&event)
            {
                continue;
            }
            let event = enricher.enrich(event);
            findings.extend(engine.process(seq, &event));
        }
        found += findings.len();
        report(&findings, a.json)?;
        if a.record && !findings.is_empty() {
            trail.record(findings.iter().map(Finding::to_ocsf))?;
        }
        let moved = batch.end != at;
        at = batch.end;
        if a.follow && moved {
            ship::save_cursor(&cursor, at, None).map_err(Fail::input_msg)?;
            let text = serde_json::to_string(&enricher.baseline).unwrap_or_default();
            std::fs::write(&baseline_path, text)
                .map_err(|e| Fail::input_msg(format!("`{}`: {e}", baseline_path.display())))?;
        }
        if !moved {
            if !a.follow {
                break;
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }
    if !a.json {
        eprintln!("cordon detect: {found} finding(s)");
    }
    Ok(0)
}

fn report(findings: &[Finding], json: bool) -> Result<(), Fail> {
    let mut out = std::io::stdout().lock();
    for f in findings {
        let line = if json {
            f.to_ocsf()
                .finish(
                    &cordon_audit::ocsf::Subject {
                        component: "detect",
                        ..Default::default()
                    },
                    trail::VERSION,
                )
                .to_string()
        } else {
            let group: Vec<String> = f.group.iter().map(|(k, v)| format!("{k}={v}")).collect();
            format!(
                "{} {:<8} {} [{}] {}events {:?}",
                cordon_audit::ecs::timestamp(f.time_ms),
                f.level.as_str(),
                f.title,
                f.rule_id,
                if group.is_empty() {
                    String::new()
                } else {
                    format!("{} ", group.join(" "))
                },
                f.evidence
            )
        };
        writeln!(out, "{line}").map_err(|e| Fail::input_msg(format!("cannot write: {e}")))?;
    }
    out.flush()
        .map_err(|e| Fail::input_msg(format!("cannot write: {e}")))
}
