//! The detection section of a Sigma rule: search identifiers, field matches with modifiers,
//! keywords, and how a JSON event is matched against them.
//!
//! Semantics (Sigma v2, with the choices the specification leaves open stated):
//! - a map is the AND of its fields, a list of maps the OR of them, a list of values the OR of
//!   the values (AND with `|all`);
//! - strings match the whole value, case-insensitively unless `|cased`, with `*` and `?`
//!   wildcards (`\*`, `\?`, `\\` escape them);
//! - a field name is looked up as a dotted path; where the path crosses an array, any element
//!   may match;
//! - `null` matches a missing field or JSON null;
//! - numbers match numbers, or strings holding that number;
//! - keywords (a list of plain strings) match as case-insensitive substrings of any string in
//!   the event;
//! - time parts (`|minute`, `|hour`, `|day`, `|week`, `|month`, `|year`) read the field as
//!   milliseconds since the epoch (OCSF `time`) or an RFC 3339 string, in UTC.

use std::net::IpAddr;

use regex::Regex;
use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use yaml_rust2::Yaml;

/// A search identifier: alternatives, each a conjunction of field matches; or keywords.
#[derive(Debug, Clone)]
pub enum Search {
    /// Any of these conjunctions.
    Fields(Vec<Vec<FieldMatch>>),
    /// Keywords: any (or all) of them somewhere in the event.
    Keywords {
        /// The patterns.
        patterns: Vec<Pattern>,
        /// Every one must be found.
        all: bool,
    },
}

/// One field and what its value must be.
#[derive(Debug, Clone)]
pub struct FieldMatch {
    /// The dotted field path.
    pub field: String,
    /// The alternatives.
    pub values: Vec<ValueMatch>,
    /// All alternatives must match (`|all`).
    pub all: bool,
}

/// What a value must be.
#[derive(Debug, Clone)]
pub enum ValueMatch {
    /// Missing or null.
    Null,
    /// Present (`|exists: true`) or absent (`false`).
    Exists(bool),
    /// A string pattern.
    Text(Pattern),
    /// A number, compared.
    Number(Compare, f64),
    /// A boolean.
    Bool(bool),
    /// A regular expression (`|re`).
    Regex(Regex),
    /// An address in a network (`|cidr`).
    Cidr(IpAddr, u8),
    /// A part of a time, compared.
    TimePart(TimePart, Compare, i64),
    /// Not this (`|neq`).
    Not(Box<ValueMatch>),
}

/// How a number is compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compare {
    /// Equal.
    Eq,
    /// Greater than.
    Gt,
    /// Greater or equal.
    Gte,
    /// Less than.
    Lt,
    /// Less or equal.
    Lte,
}

impl Compare {
    fn test(self, a: f64, b: f64) -> bool {
        match self {
            Self::Eq => (a - b).abs() < f64::EPSILON,
            Self::Gt => a > b,
            Self::Gte => a >= b,
            Self::Lt => a < b,
            Self::Lte => a <= b,
        }
    }
}

/// A part of a UTC time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimePart {
    /// 0–59.
    Minute,
    /// 0–23.
    Hour,
    /// Day of the month, 1–31.
    Day,
    /// ISO week of the year, 1–53.
    Week,
    /// 1–12.
    Month,
    /// The year.
    Year,
}

/// A string pattern: a compiled wildcard or a literal, anchored as the modifiers say.
#[derive(Debug, Clone)]
pub struct Pattern {
    regex: Regex,
}

impl Pattern {
    /// `text` with Sigma wildcards, anchored at `start`/`end`, case-insensitive unless `cased`.
    pub fn new(text: &str, start: bool, end: bool, cased: bool) -> Result<Self, String> {
        let mut re = String::new();
        if !cased {
            re.push_str("(?i)");
        }
        re.push_str("(?s)");
        if start {
            re.push('^');
        }
        let mut chars = text.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '*' => re.push_str(".*"),
                '?' => re.push('.'),
                '\\' => match chars.peek() {
                    Some(&n @ ('*' | '?' | '\\')) => {
                        chars.next();
                        re.push_str(&regex::escape(&n.to_string()));
                    }
                    _ => re.push_str(r"\\"),
                },
                c => re.push_str(&regex::escape(&c.to_string())),
            }
        }
        if end {
            re.push('$');
        }
        Regex::new(&re)
            .map(|regex| Self { regex })
            .map_err(|e| format!("pattern `{text}`: {e}"))
    }

    /// Whether `text` matches.
    pub fn is_match(&self, text: &str) -> bool {
        self.regex.is_match(text)
    }
}

/// The values at a dotted path of `event`; where the path crosses an array, every element's.
/// A key that itself contains dots is found too (tried first).
pub fn lookup<'a>(event: &'a Value, path: &str) -> Vec<&'a Value> {
    let mut out = Vec::new();
    if let Some(v) = event.get(path) {
        out.push(v);
        return out;
    }
    walk(event, path, &mut out);
    out
}

fn walk<'a>(v: &'a Value, path: &str, out: &mut Vec<&'a Value>) {
    if let Value::Array(items) = v {
        for item in items {
            walk(item, path, out);
        }
        return;
    }
    let (head, rest) = match path.split_once('.') {
        Some((h, r)) => (h, Some(r)),
        None => (path, None),
    };
    let Some(next) = v.get(head) else { return };
    match rest {
        None => match next {
            Value::Array(items) => out.extend(items.iter()),
            other => out.push(other),
        },
        Some(r) => walk(next, r, out),
    }
}

impl FieldMatch {
    /// Whether `event` matches.
    pub fn matches(&self, event: &Value) -> bool {
        let found = lookup(event, &self.field);
        let one = |m: &ValueMatch| value_matches(m, &found);
        if self.all {
            self.values.iter().all(one)
        } else {
            self.values.iter().any(one)
        }
    }
}

fn value_matches(m: &ValueMatch, found: &[&Value]) -> bool {
    match m {
        ValueMatch::Null => found.iter().all(|v| v.is_null()),
        ValueMatch::Exists(want) => found.iter().any(|v| !v.is_null()) == *want,
        ValueMatch::Not(inner) => !value_matches(inner, found),
        _ => found.iter().any(|v| one(m, v)),
    }
}

fn one(m: &ValueMatch, v: &Value) -> bool {
    match m {
        ValueMatch::Text(p) => match v {
            Value::String(s) => p.is_match(s),
            Value::Number(n) => p.is_match(&n.to_string()),
            Value::Bool(b) => p.is_match(if *b { "true" } else { "false" }),
            _ => false,
        },
        ValueMatch::Number(cmp, want) => number(v).is_some_and(|n| cmp.test(n, *want)),
        ValueMatch::Bool(want) => v.as_bool() == Some(*want),
        ValueMatch::Regex(re) => v.as_str().is_some_and(|s| re.is_match(s)),
        ValueMatch::Cidr(net, bits) => v
            .as_str()
            .and_then(|s| s.parse::<IpAddr>().ok())
            .is_some_and(|ip| in_network(ip, *net, *bits)),
        ValueMatch::TimePart(part, cmp, want) => epoch_ms(v)
            .map(|ms| time_part(ms, *part))
            .is_some_and(|p| cmp.test(p as f64, *want as f64)),
        ValueMatch::Null | ValueMatch::Exists(_) | ValueMatch::Not(_) => false,
    }
}

fn number(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn in_network(ip: IpAddr, net: IpAddr, bits: u8) -> bool {
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(b)) => {
            let mask = u32::MAX
                .checked_shl(32 - u32::from(bits.min(32)))
                .unwrap_or(0);
            u32::from(a) & mask == u32::from(b) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(b)) => {
            let mask = u128::MAX
                .checked_shl(128 - u32::from(bits.min(128)))
                .unwrap_or(0);
            u128::from(a) & mask == u128::from(b) & mask
        }
        _ => false,
    }
}

/// Milliseconds since the epoch of a time value: a number (ms), or an RFC 3339 string.
pub fn epoch_ms(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => rfc3339_ms(s),
        _ => None,
    }
}

/// An RFC 3339 time as milliseconds since the epoch.
fn rfc3339_ms(s: &str) -> Option<i64> {
    let t = OffsetDateTime::parse(s, &Rfc3339).ok()?;
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).ok()
}

/// The UTC time of `ms` (milliseconds since the epoch); the epoch for a time out of range.
fn utc(ms: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// A part of the UTC time `ms` (milliseconds since the epoch).
pub fn time_part(ms: i64, part: TimePart) -> i64 {
    let t = utc(ms);
    match part {
        TimePart::Minute => i64::from(t.minute()),
        TimePart::Hour => i64::from(t.hour()),
        TimePart::Day => i64::from(t.day()),
        TimePart::Week => i64::from(t.iso_week()),
        TimePart::Month => i64::from(u8::from(t.month())),
        TimePart::Year => i64::from(t.year()),
    }
}

/// The day of the week of `ms`, Monday 0 … Sunday 6 (UTC).
pub fn weekday(ms: i64) -> i64 {
    i64::from(utc(ms).weekday().number_days_from_monday())
}

impl Search {
    /// Whether `event` matches.
    pub fn matches(&self, event: &Value) -> bool {
        match self {
            Self::Fields(alternatives) => alternatives
                .iter()
                .any(|all| all.iter().all(|f| f.matches(event))),
            Self::Keywords { patterns, all } => {
                let mut strings = Vec::new();
                leaves(event, &mut strings);
                let hit = |p: &Pattern| strings.iter().any(|s| p.is_match(s));
                if *all {
                    patterns.iter().all(hit)
                } else {
                    patterns.iter().any(hit)
                }
            }
        }
    }
}

fn leaves<'a>(v: &'a Value, out: &mut Vec<&'a str>) {
    match v {
        Value::String(s) => out.push(s),
        Value::Array(items) => items.iter().for_each(|i| leaves(i, out)),
        Value::Object(m) => m.values().for_each(|i| leaves(i, out)),
        _ => {}
    }
}

/// Parse one search identifier's YAML.
pub fn search(y: &Yaml) -> Result<Search, String> {
    match y {
        Yaml::Hash(h) => Ok(Search::Fields(vec![fields(h)?])),
        Yaml::Array(items)
            if items.iter().all(|i| matches!(i, Yaml::Hash(_))) && !items.is_empty() =>
        {
            let alternatives = items
                .iter()
                .map(|i| match i {
                    Yaml::Hash(h) => fields(h),
                    _ => Err("a list mixes maps and values".to_owned()),
                })
                .collect::<Result<_, _>>()?;
            Ok(Search::Fields(alternatives))
        }
        Yaml::Array(items) => {
            let patterns = items
                .iter()
                .map(|i| scalar_text(i).ok_or_else(|| "keywords are strings".to_owned()))
                .map(|t| t.and_then(|t| Pattern::new(&t, false, false, false)))
                .collect::<Result<_, _>>()?;
            Ok(Search::Keywords {
                patterns,
                all: false,
            })
        }
        other => scalar_text(other)
            .ok_or_else(|| {
                "a search identifier is a map, a list of maps or a list of keywords".to_owned()
            })
            .and_then(|t| Pattern::new(&t, false, false, false))
            .map(|p| Search::Keywords {
                patterns: vec![p],
                all: false,
            }),
    }
}

fn scalar_text(y: &Yaml) -> Option<String> {
    match y {
        Yaml::String(s) | Yaml::Real(s) => Some(s.clone()),
        Yaml::Integer(i) => Some(i.to_string()),
        Yaml::Boolean(b) => Some(b.to_string()),
        _ => None,
    }
}

fn fields(h: &yaml_rust2::yaml::Hash) -> Result<Vec<FieldMatch>, String> {
    let mut out = Vec::new();
    for (k, v) in h {
        let key = match k {
            Yaml::String(s) => s.clone(),
            _ => return Err("a field name is a string".into()),
        };
        out.push(field(&key, v).map_err(|e| format!("`{key}`: {e}"))?);
    }
    Ok(out)
}

/// The modifiers of a field key, in order.
fn field(key: &str, v: &Yaml) -> Result<FieldMatch, String> {
    let mut parts = key.split('|');
    let name = parts.next().unwrap_or_default().to_owned();
    let mods: Vec<&str> = parts.collect();
    let has = |m: &str| mods.contains(&m);
    for m in &mods {
        if !matches!(
            *m,
            "contains"
                | "startswith"
                | "endswith"
                | "all"
                | "cased"
                | "re"
                | "i"
                | "m"
                | "s"
                | "cidr"
                | "exists"
                | "gt"
                | "gte"
                | "lt"
                | "lte"
                | "neq"
                | "minute"
                | "hour"
                | "day"
                | "week"
                | "month"
                | "year"
        ) {
            return Err(format!("the modifier `{m}` is not supported"));
        }
    }
    let values: Vec<&Yaml> = match v {
        Yaml::Array(items) => items.iter().collect(),
        one => vec![one],
    };
    if values.is_empty() {
        return Err("an empty list matches nothing; write `null` for a missing field".into());
    }
    let part = [
        ("minute", TimePart::Minute),
        ("hour", TimePart::Hour),
        ("day", TimePart::Day),
        ("week", TimePart::Week),
        ("month", TimePart::Month),
        ("year", TimePart::Year),
    ]
    .into_iter()
    .find(|(m, _)| has(m))
    .map(|(_, p)| p);
    let compare = [
        ("gt", Compare::Gt),
        ("gte", Compare::Gte),
        ("lt", Compare::Lt),
        ("lte", Compare::Lte),
    ]
    .into_iter()
    .find(|(m, _)| has(m))
    .map_or(Compare::Eq, |(_, c)| c);
    let mut out = Vec::new();
    for y in values {
        let m = if has("exists") {
            match y {
                Yaml::Boolean(b) => ValueMatch::Exists(*b),
                _ => return Err("`|exists` takes true or false".into()),
            }
        } else if let Some(p) = part {
            let n = match y {
                Yaml::Integer(i) => *i,
                _ => return Err("a time part is compared with an integer".into()),
            };
            ValueMatch::TimePart(p, compare, n)
        } else if compare != Compare::Eq {
            let n = number_of(y).ok_or("`|gt`, `|gte`, `|lt`, `|lte` take a number")?;
            ValueMatch::Number(compare, n)
        } else if has("re") {
            let text = scalar_text(y).ok_or("`|re` takes a string")?;
            let flags: String = ["i", "m", "s"].iter().filter(|f| has(f)).copied().collect();
            let re = if flags.is_empty() {
                text.clone()
            } else {
                format!("(?{flags}){text}")
            };
            ValueMatch::Regex(Regex::new(&re).map_err(|e| format!("`{text}`: {e}"))?)
        } else if has("cidr") {
            let text = scalar_text(y).ok_or("`|cidr` takes a network")?;
            let (addr, bits) = text
                .split_once('/')
                .ok_or_else(|| format!("`{text}` is not ADDRESS/BITS"))?;
            let ip: IpAddr = addr
                .parse()
                .map_err(|_| format!("`{addr}` is not an address"))?;
            let bits: u8 = bits
                .parse()
                .map_err(|_| format!("`{bits}` is not a prefix length"))?;
            ValueMatch::Cidr(ip, bits)
        } else {
            match y {
                Yaml::Null => ValueMatch::Null,
                Yaml::Boolean(b) if mods.is_empty() => ValueMatch::Bool(*b),
                Yaml::Integer(_) | Yaml::Real(_) if mods.iter().all(|m| *m == "neq") => {
                    ValueMatch::Number(Compare::Eq, number_of(y).ok_or("not a number")?)
                }
                other => {
                    let text =
                        scalar_text(other).ok_or("a value is a string, number, boolean or null")?;
                    let (start, end) = (
                        !(has("contains") || has("endswith")),
                        !(has("contains") || has("startswith")),
                    );
                    ValueMatch::Text(Pattern::new(&text, start, end, has("cased"))?)
                }
            }
        };
        out.push(if has("neq") {
            ValueMatch::Not(Box::new(m))
        } else {
            m
        });
    }
    Ok(FieldMatch {
        field: name,
        values: out,
        all: has("all") || has("neq"),
    })
}

fn number_of(y: &Yaml) -> Option<f64> {
    match y {
        Yaml::Integer(i) => Some(*i as f64),
        Yaml::Real(r) => r.parse().ok(),
        Yaml::String(s) => s.parse().ok(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use yaml_rust2::YamlLoader;

    fn s(yaml: &str) -> Search {
        let doc = YamlLoader::load_from_str(yaml).unwrap().remove(0);
        search(&doc).unwrap()
    }

    #[test]
    fn fields_values_wildcards_and_modifiers() {
        let e = json!({"class_uid": 4002, "time": 1_750_000_000_000i64,
            "file": {"path": "/home/alice/.ssh/id_rsa"},
            "src_endpoint": {"ip": "10.1.2.3"},
            "unmapped": {"cordon": {"decision": "deny", "dlp": [{"classification": "secret:aws"}, {"classification": "pii:email"}]}}});
        let yes = |y: &str| assert!(s(y).matches(&e), "{y}");
        let no = |y: &str| assert!(!s(y).matches(&e), "{y}");
        yes("class_uid: 4002");
        yes("class_uid: '4002'");
        yes("class_uid: [1001, 4002]");
        no("class_uid: 1001");
        yes("unmapped.cordon.decision: DENY");
        no("unmapped.cordon.decision|cased: DENY");
        yes("file.path: '*/.ssh/*'");
        yes("file.path|endswith: id_rsa");
        yes("file.path|contains|all: [ssh, alice]");
        no("file.path|contains|all: [ssh, bob]");
        yes("unmapped.cordon.dlp.classification|startswith: secret");
        yes("src_endpoint.ip|cidr: 10.0.0.0/8");
        no("src_endpoint.ip|cidr: 192.168.0.0/16");
        yes("class_uid|gte: 4000");
        no("class_uid|lt: 4000");
        yes("time|hour: 15");
        yes("time|year: 2025");
        yes("time|month: 6");
        yes("time|day: 15");
        yes("time|week: 24");
        yes("time|hour|gte: 8");
        yes("missing: null");
        no("class_uid: null");
        yes("missing|exists: false");
        yes("file.path|exists: true");
        yes("unmapped.cordon.decision|neq: allow");
        no("unmapped.cordon.decision|neq: deny");
        yes("file.path|re: '\\.ssh/id_[a-z]+$'");
        yes("- file.path: nope\n- class_uid: 4002");
        yes("- 'id_rsa'\n- nothing");
        no("- absent-word");
        yes(r"file.path: '/home/alice/.ssh/id_rs?'");
        no(r"file.path: '/home/alice/.ssh/id_rs\?'");
    }

    #[test]
    fn unknown_modifiers_and_bad_values_are_refused() {
        let bad = |y: &str| {
            let doc = YamlLoader::load_from_str(y).unwrap().remove(0);
            search(&doc).unwrap_err()
        };
        assert!(bad("a|expand: '%x%'").contains("`expand` is not supported"));
        assert!(bad("a|re: '('").contains("`(`"));
        assert!(bad("a|cidr: 10.0.0.0").contains("ADDRESS/BITS"));
        assert!(bad("a|gt: x").contains("take a number"));
        assert!(bad("a: []").contains("empty list"));
    }

    #[test]
    fn times_parse_and_split_in_utc() {
        assert_eq!(rfc3339_ms("2025-06-15T15:06:40Z"), Some(1_750_000_000_000));
        assert_eq!(
            rfc3339_ms("2025-06-15T17:06:40.5+02:00"),
            Some(1_750_000_000_500)
        );
        assert_eq!(time_part(1_750_000_000_000, TimePart::Hour), 15);
        assert_eq!(weekday(1_750_000_000_000), 6, "2025-06-15 is a Sunday");
        assert_eq!(
            time_part(rfc3339_ms("2021-01-03T00:00:00Z").unwrap(), TimePart::Week),
            53
        );
        assert_eq!(
            time_part(rfc3339_ms("2021-01-04T00:00:00Z").unwrap(), TimePart::Week),
            1
        );
    }
}
