//! A Sigma condition: `and`, `or`, `not`, parentheses, `1 of x*`, `all of x*`, `1 of them`,
//! `all of them` (`any of` is `1 of`). Precedence: `not` over `and` over `or`.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::matcher::Search;

/// A parsed condition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Condition {
    /// A search identifier.
    Id(String),
    /// Both.
    And(Box<Condition>, Box<Condition>),
    /// Either.
    Or(Box<Condition>, Box<Condition>),
    /// Not.
    Not(Box<Condition>),
    /// At least one (`false`) or all (`true`) of the identifiers matching a pattern (`*` for
    /// `them`).
    Of {
        /// `all of`.
        all: bool,
        /// The identifier pattern.
        pattern: String,
    },
}

fn tokens(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut word = String::new();
    for c in text.chars() {
        match c {
            '(' | ')' => {
                if !word.is_empty() {
                    out.push(std::mem::take(&mut word));
                }
                out.push(c.to_string());
            }
            c if c.is_whitespace() => {
                if !word.is_empty() {
                    out.push(std::mem::take(&mut word));
                }
            }
            c => word.push(c),
        }
    }
    if !word.is_empty() {
        out.push(word);
    }
    out
}

/// Parse `text`, knowing the search identifiers `ids`.
pub fn parse(text: &str, ids: &[&str]) -> Result<Condition, String> {
    let toks = tokens(text);
    let mut at = 0;
    let c = or(&toks, &mut at, ids)?;
    if at != toks.len() {
        return Err(format!(
            "unexpected `{}`",
            toks.get(at).map_or("", String::as_str)
        ));
    }
    Ok(c)
}

fn or(t: &[String], at: &mut usize, ids: &[&str]) -> Result<Condition, String> {
    let mut left = and(t, at, ids)?;
    while t.get(*at).is_some_and(|w| w.eq_ignore_ascii_case("or")) {
        *at += 1;
        left = Condition::Or(Box::new(left), Box::new(and(t, at, ids)?));
    }
    Ok(left)
}

fn and(t: &[String], at: &mut usize, ids: &[&str]) -> Result<Condition, String> {
    let mut left = not(t, at, ids)?;
    while t.get(*at).is_some_and(|w| w.eq_ignore_ascii_case("and")) {
        *at += 1;
        left = Condition::And(Box::new(left), Box::new(not(t, at, ids)?));
    }
    Ok(left)
}

fn not(t: &[String], at: &mut usize, ids: &[&str]) -> Result<Condition, String> {
    if t.get(*at).is_some_and(|w| w.eq_ignore_ascii_case("not")) {
        *at += 1;
        return Ok(Condition::Not(Box::new(not(t, at, ids)?)));
    }
    atom(t, at, ids)
}

fn atom(t: &[String], at: &mut usize, ids: &[&str]) -> Result<Condition, String> {
    let Some(word) = t.get(*at) else {
        return Err("the condition ends too early".into());
    };
    *at += 1;
    if word == "(" {
        let inner = or(t, at, ids)?;
        if t.get(*at).map(String::as_str) != Some(")") {
            return Err("a `(` is not closed".into());
        }
        *at += 1;
        return Ok(inner);
    }
    let quantifier = match word.to_ascii_lowercase().as_str() {
        "1" | "any" => Some(false),
        "all" => Some(true),
        _ => None,
    };
    if let Some(all) = quantifier
        && t.get(*at).is_some_and(|w| w.eq_ignore_ascii_case("of"))
    {
        let target = t.get(*at + 1).ok_or("`of` needs identifiers or `them`")?;
        *at += 2;
        let pattern = if target.eq_ignore_ascii_case("them") {
            "*".to_owned()
        } else {
            target.clone()
        };
        if !ids.iter().any(|id| glob(&pattern, id)) {
            return Err(format!("`{pattern}` names no search identifier"));
        }
        return Ok(Condition::Of { all, pattern });
    }
    if matches!(word.as_str(), ")" | "|")
        || ["and", "or", "of"]
            .iter()
            .any(|k| word.eq_ignore_ascii_case(k))
    {
        return Err(format!("unexpected `{word}`"));
    }
    if !ids.contains(&word.as_str()) {
        return Err(format!("`{word}` is not a search identifier of this rule"));
    }
    Ok(Condition::Id(word.clone()))
}

/// A pattern of identifiers with `*` wildcards.
fn glob(pattern: &str, id: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == id,
        Some((head, rest)) => {
            let Some(tail) = id.strip_prefix(head) else {
                return false;
            };
            if rest.is_empty() {
                return true;
            }
            (0..=tail.len()).any(|i| tail.get(i..).is_some_and(|t| glob(rest, t)))
        }
    }
}

impl Condition {
    /// Whether `event` satisfies the condition over `searches`. Identifiers starting with `_`
    /// are left out of `them`, as Sigma says.
    pub fn eval(&self, searches: &BTreeMap<String, Search>, event: &Value) -> bool {
        match self {
            Self::Id(id) => searches.get(id).is_some_and(|s| s.matches(event)),
            Self::And(a, b) => a.eval(searches, event) && b.eval(searches, event),
            Self::Or(a, b) => a.eval(searches, event) || b.eval(searches, event),
            Self::Not(a) => !a.eval(searches, event),
            Self::Of { all, pattern } => {
                let mut chosen = searches.iter().filter(|(id, _)| {
                    glob(pattern, id) && !(pattern == "*" && id.starts_with('_'))
                });
                if *all {
                    chosen.all(|(_, s)| s.matches(event))
                } else {
                    chosen.any(|(_, s)| s.matches(event))
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn precedence_and_quantifiers() {
        let ids = ["a", "b", "c", "sel_1", "sel_2"];
        let p = |t: &str| parse(t, &ids).unwrap();
        assert_eq!(
            p("a or b and not c"),
            Condition::Or(
                Box::new(Condition::Id("a".into())),
                Box::new(Condition::And(
                    Box::new(Condition::Id("b".into())),
                    Box::new(Condition::Not(Box::new(Condition::Id("c".into()))))
                ))
            )
        );
        assert_eq!(
            p("(a or b) and c"),
            Condition::And(
                Box::new(Condition::Or(
                    Box::new(Condition::Id("a".into())),
                    Box::new(Condition::Id("b".into()))
                )),
                Box::new(Condition::Id("c".into()))
            )
        );
        assert_eq!(
            p("1 of sel_*"),
            Condition::Of {
                all: false,
                pattern: "sel_*".into()
            }
        );
        assert_eq!(
            p("all of them"),
            Condition::Of {
                all: true,
                pattern: "*".into()
            }
        );
        for bad in [
            "a and",
            "(a",
            "a b",
            "x",
            "1 of z*",
            "a | count() > 5",
            "and a",
        ] {
            assert!(parse(bad, &ids).is_err(), "{bad}");
        }
        assert!(glob("sel_*", "sel_2") && !glob("sel_*", "a") && glob("*_2", "sel_2"));
    }
}
