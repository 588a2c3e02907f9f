//! Role templates (SPEC M-5): a manifest with `{{variables}}`, rendered per user, and the
//! mapping from identity-provider groups to templates.
//!
//! Variables are substituted inside JSON string values only (never in keys, never as raw text),
//! so a value cannot change the manifest's structure. Values are checked by kind: a `name` is
//! letters, digits, `.`, `_` and `-` (no `/`, so it cannot climb out of a path); a `path` is an
//! absolute, normalised path without `..`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime};

use crate::diagnostic::Problems;
use crate::manifest::{self, Manifest};
use crate::path;

/// Template and mapping files larger than this are refused.
pub const MAX_TEMPLATE_BYTES: usize = 1 << 20;

/// A role template file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Template {
    /// The template's name, e.g. `finance-analyst-agent`.
    pub template: String,
    /// What the role is, for people choosing one.
    pub description: String,
    /// Variables the manifest uses besides `user` and `home`.
    #[serde(default)]
    pub variables: BTreeMap<String, Variable>,
    /// Days a rendered manifest stays valid (sets `expires`); none for no expiry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_for_days: Option<u32>,
    /// The manifest, with `{{name}}` in string values.
    pub manifest: Value,
    /// Requests with the decision they must get, checked on every render.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub examples: Vec<Example>,
}

/// One template variable.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Variable {
    /// What it is for.
    pub description: String,
    /// Default value (may use other variables); required when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<String>,
    /// `name` (default) or `path`.
    #[serde(default)]
    pub kind: VariableKind,
}

/// What values a variable takes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum VariableKind {
    /// Letters, digits, `.`, `_`, `-`.
    #[default]
    Name,
    /// An absolute normalised path.
    Path,
}

/// A request and the decision it must get.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Example {
    /// The request (PDP JSON form; `{{variables}}` are substituted).
    pub request: Value,
    /// `allow`, `deny` or `approval_required`.
    pub expect: String,
}

/// The group → template mapping file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct GroupMapping {
    /// Format version, 1.
    pub version: u32,
    /// Which group gets which template.
    pub mappings: Vec<Mapping>,
}

/// One mapping.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Mapping {
    /// The identity provider's group name.
    pub group: String,
    /// The template its members get.
    pub template: String,
}

/// Why a template cannot be rendered.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    /// The template file is malformed.
    #[error(transparent)]
    Template(Problems),
    /// A variable has no value.
    #[error("template `{template}` needs variable `{var}`")]
    Missing {
        /// The template.
        template: String,
        /// The variable.
        var: String,
    },
    /// `{{x}}` where `x` is not declared.
    #[error("template `{template}` uses undeclared variable `{var}`")]
    Undeclared {
        /// The template.
        template: String,
        /// The variable.
        var: String,
    },
    /// A value of the wrong kind.
    #[error("variable `{var}` = `{value}` is not a valid {kind}")]
    BadValue {
        /// The variable.
        var: String,
        /// The value.
        value: String,
        /// `name` or `path`.
        kind: &'static str,
    },
    /// A value given for a variable the template does not have.
    #[error("template `{template}` has no variable `{var}`")]
    Unknown {
        /// The template.
        template: String,
        /// The variable.
        var: String,
    },
    /// Defaults refer to each other in a loop.
    #[error("variable defaults of template `{0}` refer to each other in a loop")]
    Cycle(String),
    /// The rendered manifest is not valid.
    #[error(transparent)]
    Manifest(Problems),
    /// The mapping file is malformed.
    #[error(transparent)]
    Mapping(Problems),
    /// The groups do not lead to one template.
    #[error("{0}")]
    Groups(String),
}

/// A rendered manifest.
#[derive(Debug, Clone)]
pub struct Rendered {
    /// Its JSON text (what gets signed).
    pub json: String,
    /// The manifest.
    pub manifest: Manifest,
    /// The examples with variables substituted: request JSON and expected effect.
    pub examples: Vec<(String, String)>,
}

impl Template {
    /// Parse a template file.
    pub fn parse(bytes: &[u8], name: &str) -> Result<Self, RenderError> {
        let (t, src) =
            manifest::read_document::<Template>(bytes, "template", name, MAX_TEMPLATE_BYTES)
                .map_err(RenderError::Template)?;
        for builtin in ["user", "home"] {
            if t.variables.contains_key(builtin) {
                return Err(RenderError::Template(Problems::one(
                    "template",
                    name,
                    src,
                    "template::variable".into(),
                    format!("variable `{builtin}` is built in and cannot be declared"),
                )));
            }
        }
        Ok(t)
    }

    /// Render for `user` (whose home is `home`, or `/home/<user>`), with extra variable values,
    /// at time `now` (for `expires`).
    pub fn render(
        &self,
        user: &str,
        home: Option<&str>,
        vars: &BTreeMap<String, String>,
        now: OffsetDateTime,
    ) -> Result<Rendered, RenderError> {
        check_value("user", user, VariableKind::Name)?;
        let mut values: BTreeMap<String, String> = BTreeMap::new();
        values.insert("user".into(), user.to_owned());
        let home = home.map_or_else(|| format!("/home/{user}"), str::to_owned);
        check_value("home", &home, VariableKind::Path)?;
        values.insert("home".into(), home);
        for (k, v) in vars {
            let Some(decl) = self.variables.get(k) else {
                return Err(RenderError::Unknown {
                    template: self.template.clone(),
                    var: k.clone(),
                });
            };
            check_value(k, v, decl.kind)?;
            values.insert(k.clone(), v.clone());
        }
        // Defaults may refer to other variables; resolve until nothing changes.
        for _ in 0..=self.variables.len() {
            let mut progressed = false;
            for (k, decl) in &self.variables {
                if values.contains_key(k) {
                    continue;
                }
                let Some(default) = &decl.default else {
                    return Err(RenderError::Missing {
                        template: self.template.clone(),
                        var: k.clone(),
                    });
                };
                if let Ok(v) = substitute(default, &values) {
                    check_value(k, &v, decl.kind)?;
                    values.insert(k.clone(), v);
                    progressed = true;
                }
            }
            if !progressed {
                break;
            }
        }
        if self.variables.keys().any(|k| !values.contains_key(k)) {
            return Err(RenderError::Cycle(self.template.clone()));
        }
        let undeclared = |var: String| RenderError::Undeclared {
            template: self.template.clone(),
            var,
        };
        let mut manifest_value = substitute_value(&self.manifest, &values).map_err(undeclared)?;
        if let (Some(days), Some(obj)) = (self.valid_for_days, manifest_value.as_object_mut())
            && !obj.contains_key("expires")
        {
            let expires = now + Duration::days(i64::from(days));
            obj.insert(
                "expires".into(),
                Value::String(
                    expires
                        .replace_nanosecond(0)
                        .unwrap_or(expires)
                        .format(&Rfc3339)
                        .unwrap_or_default(),
                ),
            );
        }
        let mut json = serde_json::to_string_pretty(&manifest_value).unwrap_or_default();
        json.push('\n');
        let manifest = manifest::parse(json.as_bytes(), &format!("{} (rendered)", self.template))
            .map_err(RenderError::Manifest)?;
        let mut examples = Vec::new();
        for ex in &self.examples {
            let req = substitute_value(&ex.request, &values).map_err(undeclared)?;
            examples.push((req.to_string(), ex.expect.clone()));
        }
        Ok(Rendered {
            json,
            manifest,
            examples,
        })
    }
}

fn check_value(var: &str, value: &str, kind: VariableKind) -> Result<(), RenderError> {
    let ok = match kind {
        VariableKind::Name => {
            !value.is_empty()
                && value.len() <= 64
                && value
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
                && !value.starts_with(['.', '-'])
        }
        VariableKind::Path => {
            path::normalize(value).is_ok_and(|n| n == value)
                && !value.contains(['*', '?', '{', '}', '~', '$'])
        }
    };
    if ok {
        Ok(())
    } else {
        Err(RenderError::BadValue {
            var: var.to_owned(),
            value: value.chars().take(80).collect(),
            kind: match kind {
                VariableKind::Name => "name (letters, digits, `.`, `_`, `-`)",
                VariableKind::Path => "absolute normalised path",
            },
        })
    }
}

/// Replace `{{name}}` in `text`; an unknown name is an error carrying the name.
fn substitute(text: &str, values: &BTreeMap<String, String>) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("{{") {
        let (before, after) = rest.split_at(at);
        out.push_str(before);
        let after = after.get(2..).unwrap_or_default();
        let Some(end) = after.find("}}") else {
            return Err(after.to_owned());
        };
        let name = after.get(..end).unwrap_or_default().trim();
        match values.get(name) {
            Some(v) => out.push_str(v),
            None => return Err(name.to_owned()),
        }
        rest = after.get(end + 2..).unwrap_or_default();
    }
    out.push_str(rest);
    Ok(out)
}

fn substitute_value(v: &Value, values: &BTreeMap<String, String>) -> Result<Value, String> {
    Ok(match v {
        Value::String(s) => Value::String(substitute(s, values)?),
        Value::Array(a) => Value::Array(
            a.iter()
                .map(|x| substitute_value(x, values))
                .collect::<Result<_, _>>()?,
        ),
        Value::Object(o) => Value::Object(
            o.iter()
                .map(|(k, x)| Ok((k.clone(), substitute_value(x, values)?)))
                .collect::<Result<_, String>>()?,
        ),
        other => other.clone(),
    })
}

impl GroupMapping {
    /// Parse a mapping file.
    pub fn parse(bytes: &[u8], name: &str) -> Result<Self, RenderError> {
        manifest::read_document::<Self>(bytes, "group mapping", name, MAX_TEMPLATE_BYTES)
            .map(|(m, _)| m)
            .map_err(RenderError::Mapping)
    }

    /// The templates these groups lead to, in mapping order, without repeats.
    pub fn templates_for(&self, groups: &[String]) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        for m in &self.mappings {
            if groups.contains(&m.group) && !out.contains(&m.template.as_str()) {
                out.push(&m.template);
            }
        }
        out
    }

    /// Choose the template for a user: the one asked for, which one of the groups must map to;
    /// or, when none is asked for, the only one the groups map to.
    pub fn choose(
        &self,
        requested: Option<&str>,
        groups: &[String],
    ) -> Result<String, RenderError> {
        let offered = self.templates_for(groups);
        match requested {
            Some(t) if offered.contains(&t) => Ok(t.to_owned()),
            Some(t) => Err(RenderError::Groups(format!(
                "groups {} are not mapped to template `{t}`{}",
                list(groups),
                if offered.is_empty() {
                    String::new()
                } else {
                    format!("; they are mapped to {}", list(&offered))
                }
            ))),
            None => match offered.as_slice() {
                [one] => Ok((*one).to_owned()),
                [] => Err(RenderError::Groups(format!(
                    "groups {} are not mapped to any template",
                    list(groups)
                ))),
                many => Err(RenderError::Groups(format!(
                    "groups {} are mapped to several templates ({}); choose one with `--template`",
                    list(groups),
                    list(many)
                ))),
            },
        }
    }
}

fn list<S: AsRef<str>>(items: &[S]) -> String {
    items
        .iter()
        .map(|s| format!("`{}`", s.as_ref()))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const T: &str = r#"{"template":"t","description":"d","validForDays":30,
        "variables":{"team":{"description":"x","default":"{{user}}-team"}},
        "manifest":{"agentName":"t","version":"1.0.0","readPaths":["{{home}}/{{team}}"]},
        "examples":[{"request":{"action":"read","path":"{{home}}/{{team}}/a"},"expect":"allow"}]}"#;

    #[test]
    fn renders_with_defaults_and_expiry() {
        let t = Template::parse(T.as_bytes(), "t.json").unwrap();
        let r = t
            .render(
                "alice",
                None,
                &BTreeMap::new(),
                datetime!(2026-11-25 12:00 UTC),
            )
            .unwrap();
        assert_eq!(r.manifest.read_paths, ["/home/alice/alice-team"]);
        assert_eq!(r.manifest.expires.as_deref(), Some("2026-12-25T12:00:00Z"));
        assert!(r.examples[0].0.contains("/home/alice/alice-team/a"));
    }

    #[test]
    fn refuses_values_that_would_climb_out() {
        let t = Template::parse(T.as_bytes(), "t.json").unwrap();
        let now = datetime!(2026-11-25 12:00 UTC);
        assert!(matches!(
            t.render("../root", None, &BTreeMap::new(), now),
            Err(RenderError::BadValue { .. })
        ));
        let vars = BTreeMap::from([("team".to_owned(), "a/../../b".to_owned())]);
        assert!(matches!(
            t.render("alice", None, &vars, now),
            Err(RenderError::BadValue { .. })
        ));
        let vars = BTreeMap::from([("nope".to_owned(), "x".to_owned())]);
        assert!(matches!(
            t.render("alice", None, &vars, now),
            Err(RenderError::Unknown { .. })
        ));
    }

    #[test]
    fn chooses_templates_by_group() {
        let m = GroupMapping::parse(br#"{"version":1,"mappings":[{"group":"fin","template":"a"},{"group":"law","template":"b"}]}"#, "g.json").unwrap();
        let g = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(m.choose(None, &g(&["fin"])).unwrap(), "a");
        assert_eq!(m.choose(Some("b"), &g(&["fin", "law"])).unwrap(), "b");
        assert!(m.choose(Some("b"), &g(&["fin"])).is_err());
        assert!(m.choose(None, &g(&["fin", "law"])).is_err());
        assert!(m.choose(None, &g(&["x"])).is_err());
    }
}
