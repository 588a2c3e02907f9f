//! What rules cannot compute from one event, added to it before the rules run (under
//! `unmapped.cordon`): whether it happened outside business hours (`off_hours`, in the
//! organisation's time zone, weekends included — Sigma's time modifiers know only UTC and no
//! weekdays), and, for file access to paths tagged sensitive, a baseline of how often this agent
//! has touched that path (`baseline`: `first_access`, `prior_accesses` within the baseline
//! window, `rare`).

use std::collections::BTreeMap;

use globset::{GlobBuilder, GlobSet, GlobSetBuilder};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::matcher::{TimePart, time_part, weekday};

/// The paths tagged sensitive unless the configuration says otherwise.
pub const DEFAULT_SENSITIVE: &[&str] = &[
    "**/.ssh/**",
    "**/.aws/**",
    "**/.gnupg/**",
    "**/.kube/config",
    "**/.docker/config.json",
    "**/.netrc",
    "**/.env",
    "**/.env.*",
    "**/*.pem",
    "**/*.key",
    "/etc/shadow",
    "/etc/sudoers",
    "/etc/sudoers.d/**",
];

/// Business hours: `[start, end)` hours on the given weekdays, at a fixed UTC offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BusinessHours {
    /// First hour (0–23).
    pub start: u8,
    /// Hour after the last (1–24).
    pub end: u8,
    /// Monday … Sunday.
    pub days: [bool; 7],
    /// The organisation's offset from UTC, in minutes (daylight saving time is not followed).
    pub offset_minutes: i32,
}

impl Default for BusinessHours {
    /// 08:00–18:00, Monday to Friday, UTC.
    fn default() -> Self {
        Self {
            start: 8,
            end: 18,
            days: [true, true, true, true, true, false, false],
            offset_minutes: 0,
        }
    }
}

impl BusinessHours {
    /// Whether `ms` (since the epoch) is outside business hours.
    pub fn off_hours(&self, ms: i64) -> bool {
        let local = ms.saturating_add(i64::from(self.offset_minutes) * 60_000);
        let hour = time_part(local, TimePart::Hour);
        let day = usize::try_from(weekday(local)).unwrap_or(0);
        let working_day = self.days.get(day).copied().unwrap_or(false);
        !(working_day && hour >= i64::from(self.start) && hour < i64::from(self.end))
    }

    /// From `"HH-HH"` hours, day names (`mon` … `sun`) and a `±HH:MM` offset.
    pub fn parse(hours: &str, days: &[String], offset: &str) -> Result<Self, String> {
        let (a, b) = hours
            .split_once('-')
            .ok_or_else(|| format!("hours `{hours}`: write START-END, e.g. 08-18"))?;
        let start: u8 = a
            .trim()
            .parse()
            .map_err(|_| format!("hours `{hours}`: `{a}` is not an hour"))?;
        let end: u8 = b
            .trim()
            .parse()
            .map_err(|_| format!("hours `{hours}`: `{b}` is not an hour"))?;
        if start >= end || end > 24 {
            return Err(format!(
                "hours `{hours}`: the start must come before the end, within 0-24"
            ));
        }
        let names = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
        let mut set = [false; 7];
        for d in days {
            let i = names
                .iter()
                .position(|n| d.eq_ignore_ascii_case(n))
                .ok_or_else(|| format!("day `{d}`: use mon, tue, wed, thu, fri, sat, sun"))?;
            if let Some(slot) = set.get_mut(i) {
                *slot = true;
            }
        }
        let bad = || format!("time zone `{offset}`: write an offset such as +01:00 or -05:00");
        let (sign, rest) = match offset.as_bytes().first() {
            Some(b'+') => (1, offset.get(1..).ok_or_else(bad)?),
            Some(b'-') => (-1, offset.get(1..).ok_or_else(bad)?),
            _ if offset.eq_ignore_ascii_case("utc") || offset == "Z" => (1, "00:00"),
            _ => return Err(bad()),
        };
        let (h, m) = rest.split_once(':').ok_or_else(bad)?;
        let h: i32 = h.parse().map_err(|_| bad())?;
        let m: i32 = m.parse().map_err(|_| bad())?;
        if h > 14 || m > 59 {
            return Err(bad());
        }
        Ok(Self {
            start,
            end,
            days: set,
            offset_minutes: sign * (h * 60 + m),
        })
    }
}

/// How often an agent touched a path: when first, and its recent accesses.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Seen {
    first: i64,
    /// Access times within the window, oldest first (at most `rare_below + 1`).
    recent: Vec<i64>,
}

/// The baseline of access to sensitive paths, per agent and path. Serializable: the detector
/// keeps it between runs.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Baseline {
    seen: BTreeMap<String, BTreeMap<String, Seen>>,
}

/// How the baseline judges rarity.
#[derive(Debug, Clone)]
pub struct Rarity {
    /// The paths tagged sensitive.
    pub sensitive: GlobSet,
    /// Fewer prior accesses than this within `window_ms` is rare.
    pub rare_below: usize,
    /// The window.
    pub window_ms: i64,
}

impl Rarity {
    /// From glob patterns (`**` crosses directories, `*` does not).
    pub fn new(patterns: &[String], rare_below: usize, window_ms: i64) -> Result<Self, String> {
        let mut b = GlobSetBuilder::new();
        for p in patterns {
            let glob = GlobBuilder::new(p)
                .literal_separator(true)
                .build()
                .map_err(|e| format!("sensitive path `{p}`: {e}"))?;
            b.add(glob);
        }
        let sensitive = b.build().map_err(|e| e.to_string())?;
        Ok(Self {
            sensitive,
            rare_below,
            window_ms,
        })
    }
}

/// Adds `off_hours` and `baseline` to events.
#[derive(Debug, Clone)]
pub struct Enricher {
    /// Business hours.
    pub hours: BusinessHours,
    /// Rarity rules.
    pub rarity: Rarity,
    /// The baseline (updated as events pass).
    pub baseline: Baseline,
}

impl Enricher {
    /// `event` with cordon's enrichment added; the baseline learns from it.
    pub fn enrich(&mut self, mut event: Value) -> Value {
        let time = event
            .get("time")
            .and_then(Value::as_i64)
            .unwrap_or_default();
        let mut added = serde_json::Map::new();
        added.insert("off_hours".into(), self.hours.off_hours(time).into());
        let is_file = event.get("class_uid").and_then(Value::as_u64) == Some(1001);
        let path = event
            .pointer("/file/path")
            .and_then(Value::as_str)
            .map(str::to_owned);
        let agent = event
            .pointer("/unmapped/cordon/agent")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        if let (true, Some(path)) = (is_file, path)
            && self.rarity.sensitive.is_match(&path)
        {
            let seen = self
                .baseline
                .seen
                .entry(agent)
                .or_default()
                .entry(path)
                .or_insert(Seen {
                    first: time,
                    recent: Vec::new(),
                });
            let first_access = seen.recent.is_empty() && seen.first == time;
            let since = time.saturating_sub(self.rarity.window_ms);
            seen.recent.retain(|&t| t >= since && t <= time);
            let prior = seen.recent.len();
            seen.recent.push(time);
            let keep = self.rarity.rare_below.saturating_add(1);
            if seen.recent.len() > keep {
                let drop = seen.recent.len() - keep;
                seen.recent.drain(..drop);
            }
            added.insert(
                "baseline".into(),
                json!({"sensitive": true, "first_access": first_access, "prior_accesses": prior,
                       "rare": prior < self.rarity.rare_below}),
            );
        }
        if let Some(cordon) = event
            .pointer_mut("/unmapped/cordon")
            .and_then(Value::as_object_mut)
        {
            cordon.extend(added);
        }
        event
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn business_hours_follow_the_offset_and_weekdays() {
        let h = BusinessHours::parse(
            "09-17",
            &[
                "mon".into(),
                "tue".into(),
                "wed".into(),
                "thu".into(),
                "fri".into(),
            ],
            "+02:00",
        )
        .unwrap();
        // 2025-06-16 (Monday) 06:30 UTC = 08:30 at +02:00: before hours; 07:30 UTC = 09:30: inside.
        let monday_0630 = 1_750_055_400_000;
        assert!(h.off_hours(monday_0630));
        assert!(!h.off_hours(monday_0630 + 3_600_000));
        // Sunday 2025-06-15 12:00 UTC: a weekend.
        assert!(h.off_hours(1_749_988_800_000));
        assert!(BusinessHours::parse("18-08", &[], "+00:00").is_err());
        assert!(BusinessHours::parse("08-18", &["someday".into()], "+00:00").is_err());
        assert!(BusinessHours::parse("08-18", &[], "Europe/Paris").is_err());
    }

    #[test]
    fn the_baseline_marks_first_and_rare_access_to_sensitive_paths() {
        let patterns: Vec<String> = DEFAULT_SENSITIVE.iter().map(|s| (*s).to_owned()).collect();
        let mut e = Enricher {
            hours: BusinessHours::default(),
            rarity: Rarity::new(&patterns, 3, 30 * 86_400_000).unwrap(),
            baseline: Baseline::default(),
        };
        let read = |path: &str, t: i64| json!({"class_uid": 1001, "time": t, "file": {"path": path}, "unmapped": {"cordon": {"agent": "a"}}});
        let b = |v: Value| v["unmapped"]["cordon"]["baseline"].clone();
        let first = b(e.enrich(read("/home/u/.ssh/id_rsa", 1_000)));
        assert_eq!(
            first,
            json!({"sensitive": true, "first_access": true, "prior_accesses": 0, "rare": true})
        );
        assert_eq!(
            b(e.enrich(read("/home/u/.ssh/id_rsa", 2_000)))["first_access"],
            false
        );
        e.enrich(read("/home/u/.ssh/id_rsa", 3_000));
        assert_eq!(
            b(e.enrich(read("/home/u/.ssh/id_rsa", 4_000)))["rare"],
            false,
            "three before it: usual"
        );
        // Not sensitive: no baseline at all.
        assert_eq!(b(e.enrich(read("/home/u/src/main.rs", 5_000))), Value::Null);
        // Long after: the window has emptied, so rare again.
        assert_eq!(
            b(e.enrich(read("/home/u/.ssh/id_rsa", 31 * 86_400_000)))["rare"],
            true
        );
        let round: Baseline =
            serde_json::from_str(&serde_json::to_string(&e.baseline).unwrap()).unwrap();
        assert_eq!(round.seen, e.baseline.seen);
    }
}
