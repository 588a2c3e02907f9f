//! Rego policies evaluated in-process with regorus (SPEC P-3).
//!
//! The request is the Rego `input` (see [`super::Request::to_input`]). Each policy module is
//! asked for its `deny` and `allow` rules: a `deny` that is `true` or a non-empty set or array
//! denies (string members become messages); an `allow` that is defined must be `true`. A module
//! must define at least one of them. Modules are read as Rego v0 (OPA before 1.0), as the
//! playbook's example is written; a module with `import rego.v1` gets v1 rules.
//!
//! A policy may be bound to some actions only (the playbook's rule speaks of writes alone);
//! unbound policies see every request. Any evaluation error denies.

use std::sync::Mutex;
use std::time::Duration;

use regorus::utils::limits::ExecutionTimerConfig;
use regorus::{Engine, Value};

use super::request::Action;

/// A Rego module that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("policy `{name}`: {message}")]
pub struct RegoError {
    /// The module's name (file path).
    pub name: String,
    /// What is wrong.
    pub message: String,
}

/// One loaded Rego module.
///
/// Requests are evaluated by regorus's interpreter, whose semantics follow OPA's conformance
/// suite. (regorus's bytecode VM is about four times faster, but a differential test found it
/// returning a value where OPA reports a conflict between complete rules; a policy engine must
/// not differ from OPA there, so it is not used.) The interpreter evaluates through `&mut`, so
/// prepared engines are pooled rather than cloned per request.
#[derive(Debug)]
pub struct RegoPolicy {
    name: String,
    package: String,
    actions: Option<Vec<Action>>,
    allow: Option<String>,
    deny: Option<String>,
    engine: Engine,
    engines: Mutex<Vec<Engine>>,
}

impl Clone for RegoPolicy {
    fn clone(&self) -> Self {
        Self {
            name: self.name.clone(),
            package: self.package.clone(),
            actions: self.actions.clone(),
            allow: self.allow.clone(),
            deny: self.deny.clone(),
            engine: self.engine.clone(),
            engines: Mutex::new(Vec::new()),
        }
    }
}

/// Prepared instances kept for reuse per policy (about one per thread evaluating at once).
const POOL_SIZE: usize = 16;

fn take<T>(pool: &Mutex<Vec<T>>) -> Option<T> {
    pool.lock().ok().and_then(|mut p| p.pop())
}

fn give<T>(pool: &Mutex<Vec<T>>, item: T) {
    if let Ok(mut p) = pool.lock()
        && p.len() < POOL_SIZE
    {
        p.push(item);
    }
}

/// Policies longer than this are refused.
pub const MAX_POLICY_BYTES: usize = 1 << 20;

/// Evaluation of one request by one policy may take at most this long.
pub const EVAL_LIMIT: Duration = Duration::from_millis(250);

/// A policy's verdict on a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegoVerdict {
    /// Neither rule objects.
    Pass,
    /// A rule objects; messages from `deny`, if any.
    Deny(Vec<String>),
}

fn engine_for(name: &str, source: &str) -> Result<(Engine, String), RegoError> {
    let err = |message: String| RegoError {
        name: name.to_owned(),
        message,
    };
    if source.len() > MAX_POLICY_BYTES {
        return Err(err(format!(
            "policy is {} bytes; the limit is {MAX_POLICY_BYTES}",
            source.len()
        )));
    }
    let mut engine = Engine::new();
    engine.set_rego_v0(true);
    engine.set_strict_builtin_errors(true);
    if let Some(config) = timer() {
        engine.set_execution_timer_config(config);
    }
    let package = engine
        .add_policy(name.to_owned(), source.to_owned())
        .map_err(|e| err(first_line(&e.to_string())))?;
    Ok((engine, package))
}

fn timer() -> Option<ExecutionTimerConfig> {
    std::num::NonZeroU32::new(64).map(|check_interval| ExecutionTimerConfig {
        limit: EVAL_LIMIT,
        check_interval,
    })
}

fn first_line(s: &str) -> String {
    s.lines().take(6).collect::<Vec<_>>().join("\n")
}

impl RegoPolicy {
    /// Load a module. `actions` restricts which requests it sees; `None` for all.
    pub fn load(name: &str, source: &str, actions: Option<Vec<Action>>) -> Result<Self, RegoError> {
        let (engine, package) = engine_for(name, source)?;
        let declared = |rule: &str| {
            engine
                .has_declared_rule_rooted_at(name, rule)
                .unwrap_or(false)
        };
        let allow = declared("allow").then(|| format!("{package}.allow"));
        let deny = declared("deny").then(|| format!("{package}.deny"));
        if allow.is_none() && deny.is_none() {
            return Err(RegoError {
                name: name.to_owned(),
                message: format!(
                    "package `{}` defines neither `allow` nor `deny`",
                    package.trim_start_matches("data.")
                ),
            });
        }
        Ok(Self {
            name: name.to_owned(),
            package,
            actions,
            allow,
            deny,
            engine,
            engines: Mutex::new(Vec::new()),
        })
    }

    /// The module's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The package, e.g. `data.agent.policy`.
    pub fn package(&self) -> &str {
        &self.package
    }

    /// The actions it is bound to, if it is bound.
    pub fn actions(&self) -> Option<&[Action]> {
        self.actions.as_deref()
    }

    /// Whether it sees requests for `action`.
    pub fn applies_to(&self, action: Action) -> bool {
        self.actions.as_ref().is_none_or(|a| a.contains(&action))
    }

    /// Evaluate for one request. An error is a reason to deny.
    pub fn evaluate(&self, input: &Value) -> Result<RegoVerdict, String> {
        let mut engine = take(&self.engines).unwrap_or_else(|| self.engine.clone());
        engine.set_input(input.clone());
        let mut run = |rule: &Option<String>| match rule {
            None => Ok(None),
            Some(r) => engine
                .eval_rule(r.clone())
                .map(Some)
                .map_err(|e| first_line(&e.to_string())),
        };
        let verdict = run(&self.deny).and_then(|deny| verdict(deny, run(&self.allow)?));
        give(&self.engines, engine);
        verdict
    }
}

/// Turn the values of `deny` and `allow` (when the module defines them) into a verdict.
fn verdict(deny: Option<Value>, allow: Option<Value>) -> Result<RegoVerdict, String> {
    match deny {
        None | Some(Value::Undefined | Value::Bool(false)) => {}
        Some(Value::Bool(true)) => return Ok(RegoVerdict::Deny(Vec::new())),
        Some(Value::Set(s)) if s.is_empty() => {}
        Some(Value::Array(a)) if a.is_empty() => {}
        Some(Value::Set(s)) => return Ok(RegoVerdict::Deny(s.iter().map(message_of).collect())),
        Some(Value::Array(a)) => return Ok(RegoVerdict::Deny(a.iter().map(message_of).collect())),
        Some(other) => {
            return Err(format!(
                "`deny` is {}, not a boolean or a set",
                kind(&other)
            ));
        }
    }
    match allow {
        None | Some(Value::Bool(true)) => Ok(RegoVerdict::Pass),
        Some(Value::Bool(false) | Value::Undefined) => Ok(RegoVerdict::Deny(Vec::new())),
        Some(other) => Err(format!("`allow` is {}, not a boolean", kind(&other))),
    }
}

fn message_of(v: &Value) -> String {
    match v {
        Value::String(s) => s.to_string(),
        other => other.to_json_str().unwrap_or_default(),
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Set(_) => "a set",
        Value::Object(_) => "an object",
        Value::Undefined => "undefined",
    }
}

/// The outcome of one `test_*` rule.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TestResult {
    /// `data.pkg.test_name`.
    pub name: String,
    /// The module it is in.
    pub file: String,
    /// Pass, fail or error.
    pub outcome: TestOutcome,
}

/// How a test went.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "result", content = "detail", rename_all = "lowercase")]
pub enum TestOutcome {
    /// The rule is true.
    Pass,
    /// The rule is false or undefined, or the example got another decision (said how).
    Fail(Option<String>),
    /// The rule could not be evaluated.
    Error(String),
}

/// Run every `test_*` rule of the given modules, as `opa test` does. All modules are loaded into
/// one engine so tests can refer to rules of other packages.
pub fn run_tests(modules: &[(String, String)]) -> Result<Vec<TestResult>, RegoError> {
    let mut engine = Engine::new();
    engine.set_rego_v0(true);
    engine.set_strict_builtin_errors(true);
    if let Some(config) = timer() {
        engine.set_execution_timer_config(config);
    }
    let mut tests = Vec::new();
    for (name, source) in modules {
        let package = engine
            .add_policy(name.clone(), source.clone())
            .map_err(|e| RegoError {
                name: name.clone(),
                message: first_line(&e.to_string()),
            })?;
        for rule in test_rule_names(source) {
            if engine
                .has_declared_rule_rooted_at(name, &rule)
                .unwrap_or(false)
            {
                let full = format!("{package}.{rule}");
                if !tests.iter().any(|(n, _): &(String, String)| *n == full) {
                    tests.push((full, name.clone()));
                }
            }
        }
    }
    let mut results = Vec::with_capacity(tests.len());
    for (rule, file) in tests {
        let outcome = match engine.eval_rule(rule.clone()) {
            Ok(Value::Bool(true)) => TestOutcome::Pass,
            Ok(_) => TestOutcome::Fail(None),
            Err(e) => TestOutcome::Error(first_line(&e.to_string())),
        };
        results.push(TestResult {
            name: rule,
            file,
            outcome,
        });
    }
    Ok(results)
}

/// Names of rules that look like tests: a rule head `test_…` at the start of a line.
fn test_rule_names(source: &str) -> Vec<String> {
    let mut names = Vec::new();
    for line in source.lines() {
        let line = line.trim_start();
        if !line.starts_with("test_") {
            continue;
        }
        let name: String = line
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        if !names.contains(&name) {
            names.push(name);
        }
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    const PLAYBOOK: &str = r#"package agent.policy

# Deny writes to sensitive directories unless the scope includes 'sensitive-write'
default allow = false

allow {
  input.action == "write"
  not startswith(input.path, "/sensitive")
}

allow {
  input.action == "write"
  startswith(input.path, "/sensitive")
  input.scopes[_] == "sensitive-write"
}
"#;

    fn input(json: &str) -> Value {
        Value::from_json_str(json).unwrap()
    }

    #[test]
    fn playbook_rule_loads_as_v0() {
        let p = RegoPolicy::load("playbook.rego", PLAYBOOK, Some(vec![Action::Write])).unwrap();
        assert_eq!(p.package(), "data.agent.policy");
        let v = p
            .evaluate(&input(
                r#"{"action":"write","path":"/sensitive/a","scopes":[]}"#,
            ))
            .unwrap();
        assert_eq!(v, RegoVerdict::Deny(vec![]));
        let v = p
            .evaluate(&input(
                r#"{"action":"write","path":"/sensitive/a","scopes":["sensitive-write"]}"#,
            ))
            .unwrap();
        assert_eq!(v, RegoVerdict::Pass);
    }

    #[test]
    fn deny_sets_carry_messages_and_bad_values_are_errors() {
        let p = RegoPolicy::load(
            "d.rego",
            "package d\nimport rego.v1\ndeny contains msg if { input.path == \"/x\"; msg := \"no x\" }\n",
            None,
        )
        .unwrap();
        assert_eq!(
            p.evaluate(&input(r#"{"path":"/x"}"#)).unwrap(),
            RegoVerdict::Deny(vec!["no x".into()])
        );
        assert_eq!(
            p.evaluate(&input(r#"{"path":"/y"}"#)).unwrap(),
            RegoVerdict::Pass
        );
        let bad = RegoPolicy::load("b.rego", "package b\nallow = 3\n", None).unwrap();
        assert!(bad.evaluate(&input("{}")).is_err());
        assert!(RegoPolicy::load("n.rego", "package n\nx = 1\n", None).is_err());
        assert!(RegoPolicy::load("s.rego", "package s\nallow {", None).is_err());
    }

    #[test]
    fn runs_test_rules() {
        let tests = "package t\ntest_ok { 1 == 1 }\ntest_bad { 1 == 2 }\n";
        let r = run_tests(&[("t.rego".into(), tests.into())]).unwrap();
        assert_eq!(r.len(), 2);
        assert_eq!(r[0].outcome, TestOutcome::Pass);
        assert_eq!(r[1].outcome, TestOutcome::Fail(None));
    }
}
