//! The one place secrets are hidden before anything reaches the screen, a log, the journal or a
//! report: by name (anything whose name contains PASSWORD, SECRET, TOKEN or KEY) and by value
//! (every secret value this process has seen, and every URL password: `crate::secrets`).

use serde_json::Value;

pub use crate::secrets::{REDACTED, is_secret_name};

/// Redacts, recursively, every object member whose key names a secret.
pub fn redact_json(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for (k, v) in map.iter_mut() {
                if is_secret_name(k) && !v.is_null() {
                    *v = Value::String(REDACTED.into());
                } else if let Value::String(text) = v {
                    *text = crate::secrets::hide(text);
                } else {
                    redact_json(v);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(redact_json),
        Value::String(text) => *text = crate::secrets::hide(text),
        _ => {}
    }
}

/// Redacts `NAME=value` and `NAME: value` pairs in a free-text line (log lines, env dumps).
pub fn redact_line(line: &str) -> String {
    let mut out = Vec::new();
    for word in line.split(' ') {
        let cut = word
            .find('=')
            .or_else(|| word.strip_suffix(':').map(|_| usize::MAX));
        match cut {
            Some(i) if i != usize::MAX && is_secret_name(&word[..i]) => {
                out.push(format!("{}={REDACTED}", &word[..i]));
            }
            _ => out.push(word.to_string()),
        }
    }
    // "PASSWORD: hunter2" spans two words: hide the word after a secret label.
    for i in 1..out.len() {
        if out[i - 1].ends_with(':') && is_secret_name(out[i - 1].trim_end_matches(':')) {
            out[i] = REDACTED.to_string();
        }
    }
    crate::secrets::hide(&out.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hides_secret_members_and_pairs() {
        let mut v = serde_json::json!({"db_password": "x", "nested": {"api_key": 1}, "user": "u"});
        redact_json(&mut v);
        assert_eq!(
            v,
            serde_json::json!({"db_password": REDACTED, "nested": {"api_key": REDACTED}, "user": "u"})
        );
        assert_eq!(
            redact_line("POSTGRES_PASSWORD=hunter2 USER=p"),
            "POSTGRES_PASSWORD=[redacted] USER=p"
        );
        assert_eq!(redact_line("token: abc next"), "token: [redacted] next");
    }
}
