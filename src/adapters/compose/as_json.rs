//! The project as the Compose tool resolves it (`config`), as one JSON value whichever tool
//! printed it: v2 prints JSON when asked (`--format json`), v1 only YAML. YAML's scalars map to
//! JSON's (null, bool, integer, float, string); a mapping's keys become strings; tags are
//! dropped (Compose prints none); an alias or a bad value becomes null.

use saphyr::{ScalarOwned, YamlOwned};
use serde_json::{Map, Number, Value};

use super::error::ComposeError;

/// `text` as JSON (v2), else as YAML (v1).
pub fn resolved_as_json(text: &str) -> Result<Value, ComposeError> {
    if let Ok(v) = serde_json::from_str(text) {
        return Ok(v);
    }
    Ok(to_json(&super::reader::load_yaml(text)?))
}

fn to_json(y: &YamlOwned) -> Value {
    match y {
        YamlOwned::Value(s) => scalar(s),
        YamlOwned::Representation(s, _, _) => Value::String(s.clone()),
        YamlOwned::Sequence(v) => Value::Array(v.iter().map(to_json).collect()),
        YamlOwned::Mapping(m) => Value::Object(
            m.iter()
                .map(|(k, v)| (key(k), to_json(v)))
                .collect::<Map<_, _>>(),
        ),
        YamlOwned::Tagged(_, inner) => to_json(inner),
        YamlOwned::Alias(_) | YamlOwned::BadValue => Value::Null,
    }
}

fn scalar(s: &ScalarOwned) -> Value {
    match s {
        ScalarOwned::Null => Value::Null,
        ScalarOwned::Boolean(b) => Value::Bool(*b),
        ScalarOwned::Integer(i) => Value::Number((*i).into()),
        ScalarOwned::FloatingPoint(f) => Number::from_f64(f.into_inner())
            .map(Value::Number)
            .unwrap_or(Value::Null),
        ScalarOwned::String(s) => Value::String(s.clone()),
    }
}

fn key(k: &YamlOwned) -> String {
    match to_json(k) {
        Value::String(s) => s,
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v1_yaml_and_v2_json_give_the_same_value() {
        let yaml = "services:\n  backend:\n    image: app:1\n    environment:\n      A: '1'\n    \
                    healthcheck:\n      test: [CMD, curl, -f, http://localhost:8000/health]\n      \
                    retries: 3\n";
        let json = r#"{"services":{"backend":{"image":"app:1","environment":{"A":"1"},
            "healthcheck":{"test":["CMD","curl","-f","http://localhost:8000/health"],"retries":3}}}}"#;
        assert_eq!(
            resolved_as_json(yaml).unwrap(),
            resolved_as_json(json).unwrap()
        );
    }
}
