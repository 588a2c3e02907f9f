//! Loading Sigma rule files: detection rules and correlation rules (YAML, several documents
//! per file allowed), checked so that a rule that cannot work is refused with its file, its
//! document and what is wrong — never half-loaded.

use std::collections::BTreeMap;

use yaml_rust2::{Yaml, YamlLoader};

use crate::condition::{self, Condition};
use crate::matcher::{self, Search};

/// A rule's level (Sigma `level`), which becomes the finding's severity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// `informational`.
    Informational,
    /// `low`.
    Low,
    /// `medium`.
    Medium,
    /// `high`.
    High,
    /// `critical`.
    Critical,
}

impl Level {
    fn parse(text: &str) -> Option<Self> {
        match text {
            "informational" => Some(Self::Informational),
            "low" => Some(Self::Low),
            "medium" => Some(Self::Medium),
            "high" => Some(Self::High),
            "critical" => Some(Self::Critical),
            _ => None,
        }
    }

    /// The Sigma name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Informational => "informational",
            Self::Low => "low",
            Self::Medium => "medium",
            Self::High => "high",
            Self::Critical => "critical",
        }
    }
}

/// What every rule has.
#[derive(Debug, Clone)]
pub struct Meta {
    /// `id` (a UUID in Sigma; any non-empty text here).
    pub id: String,
    /// `name`, how correlations refer to it (optional).
    pub name: Option<String>,
    /// `title`.
    pub title: String,
    /// `description`.
    pub description: Option<String>,
    /// `level` (default medium).
    pub level: Level,
    /// `tags`.
    pub tags: Vec<String>,
    /// The file it came from.
    pub file: String,
}

/// A detection rule.
#[derive(Debug, Clone)]
pub struct Rule {
    /// Its metadata.
    pub meta: Meta,
    /// The search identifiers.
    pub searches: BTreeMap<String, Search>,
    /// The condition.
    pub condition: Condition,
}

/// The kind of a correlation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CorrelationKind {
    /// Matching events counted.
    EventCount,
    /// Distinct values of `field` counted.
    ValueCount(String),
    /// Every referenced rule matched (any order).
    Temporal,
    /// Every referenced rule matched, in the order listed.
    TemporalOrdered,
}

/// A threshold: `gt`, `gte` (both may be given with `lt`/`lte` for a range).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Threshold {
    /// Fire above this.
    pub gt: Option<u64>,
    /// Fire at or above this.
    pub gte: Option<u64>,
}

impl Threshold {
    /// Whether `n` meets it.
    pub fn met(&self, n: u64) -> bool {
        self.gt.is_none_or(|g| n > g) && self.gte.is_none_or(|g| n >= g)
    }
}

/// A correlation rule.
#[derive(Debug, Clone)]
pub struct Correlation {
    /// Its metadata.
    pub meta: Meta,
    /// What it counts.
    pub kind: CorrelationKind,
    /// The rules it refers to (by `id` or `name`).
    pub rules: Vec<String>,
    /// The fields whose values make a group.
    pub group_by: Vec<String>,
    /// The window, in milliseconds.
    pub timespan_ms: i64,
    /// When it fires (event and value counts).
    pub threshold: Threshold,
    /// Whether the referenced rules also raise their own findings.
    pub generate: bool,
}

/// Everything loaded.
#[derive(Debug, Clone, Default)]
pub struct RuleSet {
    /// Detection rules.
    pub rules: Vec<Rule>,
    /// Correlation rules.
    pub correlations: Vec<Correlation>,
}

/// Why a rule file was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}{}: {message}", .document.map(|d| format!(" (document {d})")).unwrap_or_default())]
pub struct RuleError {
    /// The file.
    pub file: String,
    /// The document in it, from 1.
    pub document: Option<usize>,
    /// What is wrong.
    pub message: String,
}

fn text(h: &yaml_rust2::yaml::Hash, key: &str) -> Option<String> {
    match h.get(&Yaml::String(key.into())) {
        Some(Yaml::String(s)) => Some(s.clone()),
        Some(Yaml::Integer(i)) => Some(i.to_string()),
        _ => None,
    }
}

impl RuleSet {
    /// Add the rules of one file (`name` for messages).
    pub fn load(&mut self, name: &str, source: &str) -> Result<(), RuleError> {
        let err = |document: Option<usize>, message: String| RuleError {
            file: name.to_owned(),
            document,
            message,
        };
        let docs =
            YamlLoader::load_from_str(source).map_err(|e| err(None, format!("not YAML: {e}")))?;
        for (i, doc) in docs.iter().enumerate() {
            let d = Some(i + 1);
            let Yaml::Hash(h) = doc else {
                return Err(err(d, "a rule is a YAML map".into()));
            };
            let title = text(h, "title").ok_or_else(|| err(d, "`title` is required".into()))?;
            let id = text(h, "id").ok_or_else(|| err(d, format!("`{title}`: `id` is required")))?;
            let level = match text(h, "level") {
                None => Level::Medium,
                Some(l) => Level::parse(&l).ok_or_else(|| err(d, format!("`{title}`: `level` `{l}` is not informational, low, medium, high or critical")))?,
            };
            let tags = match h.get(&Yaml::String("tags".into())) {
                Some(Yaml::Array(t)) => t
                    .iter()
                    .filter_map(|x| x.as_str().map(str::to_owned))
                    .collect(),
                _ => Vec::new(),
            };
            let meta = Meta {
                id,
                name: text(h, "name"),
                title: title.clone(),
                description: text(h, "description"),
                level,
                tags,
                file: name.to_owned(),
            };
            let at = |m: String| err(d, format!("`{title}`: {m}"));
            if let Some(Yaml::Hash(c)) = h.get(&Yaml::String("correlation".into())) {
                let generate = match h
                    .get(&Yaml::String("generate".into()))
                    .or_else(|| c.get(&Yaml::String("generate".into())))
                {
                    None => false,
                    Some(Yaml::Boolean(b)) => *b,
                    Some(_) => return Err(at("`generate` is true or false".into())),
                };
                self.correlations
                    .push(correlation(meta, c, generate).map_err(at)?);
            } else if let Some(Yaml::Hash(det)) = h.get(&Yaml::String("detection".into())) {
                self.rules.push(detection(meta, det).map_err(at)?);
            } else {
                return Err(at("a rule needs `detection` or `correlation`".into()));
            }
        }
        Ok(())
    }

    /// Check references: every rule a correlation names exists; ids are unique.
    pub fn check(&self) -> Result<(), RuleError> {
        let mut ids = std::collections::BTreeSet::new();
        let metas = self
            .rules
            .iter()
            .map(|r| &r.meta)
            .chain(self.correlations.iter().map(|c| &c.meta));
        for m in metas {
            if !ids.insert(m.id.clone()) {
                return Err(RuleError {
                    file: m.file.clone(),
                    document: None,
                    message: format!("the id `{}` is used by more than one rule", m.id),
                });
            }
        }
        for c in &self.correlations {
            for r in &c.rules {
                if self.find(r).is_none() {
                    return Err(RuleError {
                        file: c.meta.file.clone(),
                        document: None,
                        message: format!(
                            "`{}`: it refers to `{r}`, which no detection rule is (by id or name)",
                            c.meta.title
                        ),
                    });
                }
            }
        }
        Ok(())
    }

    /// The index of the detection rule `reference` (an id or a name) names.
    pub fn find(&self, reference: &str) -> Option<usize> {
        self.rules
            .iter()
            .position(|r| r.meta.id == reference || r.meta.name.as_deref() == Some(reference))
    }
}

fn detection(meta: Meta, det: &yaml_rust2::yaml::Hash) -> Result<Rule, String> {
    let mut searches = BTreeMap::new();
    let mut condition_text = None;
    for (k, v) in det {
        let key = k.as_str().ok_or("a search identifier is a string")?;
        if key == "condition" {
            condition_text = Some(match v {
                Yaml::String(s) => s.clone(),
                // A list of conditions is their OR.
                Yaml::Array(items) => items
                    .iter()
                    .map(|i| {
                        i.as_str()
                            .map(|s| format!("({s})"))
                            .ok_or("a condition is a string")
                    })
                    .collect::<Result<Vec<_>, _>>()?
                    .join(" or "),
                _ => return Err("`condition` is a string".into()),
            });
            continue;
        }
        if key == "timeframe" {
            return Err("`timeframe` is Sigma v1; write a correlation rule".into());
        }
        searches.insert(
            key.to_owned(),
            matcher::search(v).map_err(|e| format!("`{key}`: {e}"))?,
        );
    }
    let condition_text = condition_text.ok_or("`detection` has no `condition`")?;
    let ids: Vec<&str> = searches.keys().map(String::as_str).collect();
    let condition = condition::parse(&condition_text, &ids)
        .map_err(|e| format!("condition `{condition_text}`: {e}"))?;
    Ok(Rule {
        meta,
        searches,
        condition,
    })
}

/// `30s`, `10m`, `2h`, `7d` in milliseconds.
fn timespan(text: &str) -> Option<i64> {
    // The unit is the last character, which need not be one byte (`1Ғ`, found by the
    // `sigma_rule` fuzz target: splitting one byte from the end panicked).
    let unit = text.chars().next_back()?;
    let n: i64 = text.strip_suffix(unit)?.parse().ok()?;
    let ms = match unit {
        's' => 1_000,
        'm' => 60_000,
        'h' => 3_600_000,
        'd' => 86_400_000,
        _ => return None,
    };
    (n > 0).then(|| n.saturating_mul(ms))
}

fn correlation(
    meta: Meta,
    c: &yaml_rust2::yaml::Hash,
    generate: bool,
) -> Result<Correlation, String> {
    let get = |k: &str| c.get(&Yaml::String(k.into()));
    let kind_text = get("type")
        .and_then(Yaml::as_str)
        .ok_or("`correlation.type` is required")?;
    let kind = match kind_text {
        "event_count" => CorrelationKind::EventCount,
        "value_count" => {
            let field = get("condition")
                .and_then(|cond| match cond {
                    Yaml::Hash(h) => h
                        .get(&Yaml::String("field".into()))
                        .and_then(Yaml::as_str)
                        .map(str::to_owned),
                    _ => None,
                })
                .ok_or("`value_count` needs `condition.field`")?;
            CorrelationKind::ValueCount(field)
        }
        "temporal" => CorrelationKind::Temporal,
        "temporal_ordered" => CorrelationKind::TemporalOrdered,
        other => {
            return Err(format!(
                "`correlation.type` `{other}` is not supported (event_count, value_count, temporal, temporal_ordered)"
            ));
        }
    };
    let rules = match get("rules") {
        Some(Yaml::Array(items)) if !items.is_empty() => items
            .iter()
            .map(|i| {
                i.as_str()
                    .map(str::to_owned)
                    .ok_or("`correlation.rules` lists rule ids or names")
            })
            .collect::<Result<Vec<_>, _>>()?,
        Some(Yaml::String(s)) => vec![s.clone()],
        _ => return Err("`correlation.rules` is required".into()),
    };
    let group_by = match get("group-by") {
        None => Vec::new(),
        Some(Yaml::Array(items)) => items
            .iter()
            .map(|i| {
                i.as_str()
                    .map(str::to_owned)
                    .ok_or("`group-by` lists field names")
            })
            .collect::<Result<Vec<_>, _>>()?,
        Some(_) => return Err("`group-by` is a list of field names".into()),
    };
    let span = get("timespan")
        .and_then(Yaml::as_str)
        .ok_or("`correlation.timespan` is required")?;
    let timespan_ms = timespan(span)
        .ok_or_else(|| format!("`timespan` `{span}`: write a number and s, m, h or d"))?;
    let mut threshold = Threshold {
        gt: None,
        gte: None,
    };
    let counting = matches!(
        kind,
        CorrelationKind::EventCount | CorrelationKind::ValueCount(_)
    );
    match get("condition") {
        Some(Yaml::Hash(cond)) if counting => {
            for (k, v) in cond {
                let key = k.as_str().unwrap_or_default();
                let n = match v {
                    Yaml::Integer(i) => {
                        u64::try_from(*i).map_err(|_| format!("`condition.{key}` is negative"))?
                    }
                    _ if key == "field" => continue,
                    _ => return Err(format!("`condition.{key}` is a whole number")),
                };
                match key {
                    "gt" => threshold.gt = Some(n),
                    "gte" => threshold.gte = Some(n),
                    "lt" | "lte" | "eq" | "neq" => {
                        return Err(format!(
                            "`condition.{key}`: only gt and gte are supported (a count that is still growing cannot be known to stay below a bound)"
                        ));
                    }
                    other => return Err(format!("`condition.{other}` is not gt, gte or field")),
                }
            }
            if threshold.gt.is_none() && threshold.gte.is_none() {
                return Err("`condition` needs gt or gte".into());
            }
        }
        None if !counting => {}
        Some(_) if !counting => return Err("temporal correlations take no `condition`".into()),
        _ => return Err("`correlation.condition` is required (gt or gte)".into()),
    }
    Ok(Correlation {
        meta,
        kind,
        rules,
        group_by,
        timespan_ms,
        threshold,
        generate,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timespans_take_a_unit_of_any_width() {
        assert_eq!(timespan("10m"), Some(600_000));
        assert_eq!(timespan("1d"), Some(86_400_000));
        assert_eq!(timespan("1Ғ"), None);
        assert_eq!(timespan("Ғ"), None);
        assert_eq!(timespan("m"), None);
        assert_eq!(timespan(""), None);
        assert_eq!(timespan("0s"), None);
        let mut set = RuleSet::default();
        let rule = "title: t\nid: t\ncorrelation:\n  type: event_count\n  rules: [x]\n  group-by: [a]\n  timespan: 1Ғ\n  condition:\n    gte: 5\n";
        assert!(set.load("t.yml", rule).is_err() || set.check().is_err());
    }

    #[test]
    fn rules_and_correlations_load_and_problems_are_named() {
        let mut set = RuleSet::default();
        set.load(
            "r.yml",
            "title: Denied\nid: r1\nname: denied\nlevel: low\ndetection:\n  sel:\n    unmapped.cordon.decision: deny\n  condition: sel\n---\ntitle: Probing\nid: c1\ncorrelation:\n  type: event_count\n  rules: [denied]\n  group-by: [unmapped.cordon.agent]\n  timespan: 10m\n  condition:\n    gte: 5\n",
        )
        .unwrap();
        set.check().unwrap();
        assert_eq!(set.correlations[0].timespan_ms, 600_000);
        assert!(set.correlations[0].threshold.met(5) && !set.correlations[0].threshold.met(4));
        let bad = |src: &str| {
            let mut s = RuleSet::default();
            s.load("bad.yml", src)
                .and_then(|()| s.check())
                .unwrap_err()
                .to_string()
        };
        assert!(
            bad("title: x\ndetection:\n  a: {b: 1}\n  condition: a\n").contains("`id` is required")
        );
        assert!(
            bad("title: x\nid: 1\ndetection:\n  a: {b: 1}\n  condition: c\n")
                .contains("`c` is not a search identifier")
        );
        assert!(
            bad("title: x\nid: 1\nlevel: severe\ndetection:\n  a: {b: 1}\n  condition: a\n")
                .contains("`level` `severe`")
        );
        assert!(bad("title: x\nid: 1\ncorrelation: {type: event_count, rules: [nope], timespan: 5m, condition: {gte: 2}}\n").contains("refers to `nope`"));
        assert!(bad("title: x\nid: 1\ncorrelation: {type: event_count, rules: [a], timespan: 5w, condition: {gte: 2}}\n").contains("`timespan` `5w`"));
        assert!(bad("title: x\nid: 1\ncorrelation: {type: event_count, rules: [a], timespan: 5m, condition: {lt: 2}}\n").contains("only gt and gte"));
        assert!(
            bad("title: x\nid: 1\ndetection:\n  a: {b: 1}\n  timeframe: 5m\n  condition: a\n")
                .contains("Sigma v1")
        );
        assert!(bad("title: [\n").contains("not YAML"));
    }
}
