//! A checker of events against the OCSF 1.8 schema, for tests (feature `schema`).
//!
//! The schema is the extract in `tests/fixtures/ocsf-1.8.0.json` (made by
//! `scripts/ocsf-extract.py` from the OCSF repository at v1.8.0): for each class cordon emits and
//! every object they reach, each attribute's type, requirement, profile, enum and sibling, and
//! the `at_least_one`/`just_one` constraints. [`check`] lists every way an event departs from it:
//! a missing required attribute, an attribute the class or object does not have, a value of the
//! wrong type, an enum id the schema does not list, a sibling name that is not the id's caption,
//! a wrong `category_uid` or `type_uid`, a broken constraint.

use std::sync::LazyLock;

use serde_json::{Map, Value};

static SCHEMA: LazyLock<Result<Value, String>> = LazyLock::new(|| {
    serde_json::from_str(include_str!("../../tests/fixtures/ocsf-1.8.0.json"))
        .map_err(|e| format!("the OCSF schema extract does not parse: {e}"))
});

/// Every departure of `event` from the schema, each naming the attribute's path.
pub fn check(event: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    let schema = match &*SCHEMA {
        Ok(s) => s,
        Err(e) => return vec![e.clone()],
    };
    let Some(obj) = event.as_object() else {
        return vec!["an event is a JSON object".into()];
    };
    let Some(class_uid) = obj.get("class_uid").and_then(Value::as_u64) else {
        return vec!["`class_uid` is missing or not an integer".into()];
    };
    let classes = schema.get("classes").and_then(Value::as_object);
    let Some((_, class)) = classes
        .into_iter()
        .flatten()
        .find(|(_, c)| c.get("uid").and_then(Value::as_u64) == Some(class_uid))
    else {
        return vec![format!("class_uid {class_uid} is not a class cordon emits")];
    };
    let category = class.get("category_uid").and_then(Value::as_u64);
    if obj.get("category_uid").and_then(Value::as_u64) != category {
        problems.push(format!("`category_uid` is not {category:?}"));
    }
    if let Some(activity) = obj.get("activity_id").and_then(Value::as_u64)
        && obj.get("type_uid").and_then(Value::as_u64) != Some(class_uid * 100 + activity)
    {
        problems.push(format!("`type_uid` is not {}", class_uid * 100 + activity));
    }
    let profiles: Vec<&str> = obj
        .get("metadata")
        .and_then(|m| m.get("profiles"))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    let ctx = Ctx { schema, profiles };
    ctx.object("", obj, class, &mut problems);
    problems
}

struct Ctx<'a> {
    schema: &'a Value,
    profiles: Vec<&'a str>,
}

impl Ctx<'_> {
    fn object(&self, at: &str, value: &Map<String, Value>, def: &Value, out: &mut Vec<String>) {
        let empty = Map::new();
        let attrs = def
            .get("attributes")
            .and_then(Value::as_object)
            .unwrap_or(&empty);
        for (name, a) in attrs {
            let required = a.get("required").and_then(Value::as_bool) == Some(true);
            let profile = a.get("profile").and_then(Value::as_str);
            let applies = profile.is_none_or(|p| self.profiles.contains(&p));
            if required && applies && !value.contains_key(name) {
                out.push(format!("`{at}{name}` is required"));
            }
        }
        if let Some(c) = def.get("constraints") {
            let present = |list: &Value| {
                list.as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .filter(|k| value.contains_key(*k))
                    .count()
            };
            if let Some(list) = c.get("at_least_one")
                && present(list) == 0
            {
                out.push(format!("`{at}` needs at least one of {list}"));
            }
            if let Some(list) = c.get("just_one")
                && present(list) != 1
            {
                out.push(format!("`{at}` needs exactly one of {list}"));
            }
        }
        for (name, v) in value {
            let path = format!("{at}{name}");
            let Some(a) = attrs.get(name) else {
                out.push(format!("`{path}` is not an attribute here"));
                continue;
            };
            if a.get("array").and_then(Value::as_bool) == Some(true) {
                match v.as_array() {
                    Some(items) => {
                        for (i, item) in items.iter().enumerate() {
                            self.value(&format!("{path}[{i}]"), item, a, value, out);
                        }
                    }
                    None => out.push(format!("`{path}` is an array")),
                }
            } else {
                self.value(&path, v, a, value, out);
            }
        }
    }

    fn value(
        &self,
        path: &str,
        v: &Value,
        a: &Value,
        parent: &Map<String, Value>,
        out: &mut Vec<String>,
    ) {
        let ty = a.get("type").and_then(Value::as_str).unwrap_or_default();
        if let Some(def) = self.schema.get("objects").and_then(|o| o.get(ty)) {
            match v.as_object() {
                Some(obj) if path.ends_with("unmapped") || ty == "object" => {
                    let _ = obj;
                }
                Some(obj) => self.object(&format!("{path}."), obj, def, out),
                None => out.push(format!("`{path}` is an object ({ty})")),
            }
            return;
        }
        let base = self
            .schema
            .get("types")
            .and_then(|t| t.get(ty))
            .and_then(Value::as_str)
            .unwrap_or(ty);
        let ok = match base {
            "string_t" => v.is_string(),
            "integer_t" | "long_t" => v.is_i64() || v.is_u64(),
            "float_t" => v.is_number(),
            "boolean_t" => v.is_boolean(),
            "object" | "object_t" => v.is_object(),
            _ => true,
        };
        if !ok {
            out.push(format!("`{path}` is not a {base}: {v}"));
            return;
        }
        // Integer enums are closed; string enums (`http_method`) list expected values only.
        if let Some(values) = a.get("enum").and_then(Value::as_object)
            && !v.is_string()
        {
            let id = v.as_u64().map(|n| n.to_string()).unwrap_or_default();
            match values.get(&id).and_then(Value::as_str) {
                None => out.push(format!("`{path}` = {v} is not in its enum")),
                Some(caption) => {
                    let sibling = a.get("sibling").and_then(Value::as_str);
                    if let Some(s) = sibling
                        && id != "99"
                        && let Some(named) = parent.get(s)
                        && named.as_str() != Some(caption)
                    {
                        out.push(format!("`{s}` beside `{path}` = {id} is not `{caption}`"));
                    }
                }
            }
        }
    }
}
