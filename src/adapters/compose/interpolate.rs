//! Compose-style variable interpolation of a single string from a map of values (the project's
//! `.env`): `$VAR`, `${VAR}`, `${VAR:-default}`, `${VAR-default}`, `${VAR:?err}`, `${VAR?err}`,
//! and `$$` for a literal dollar. Unknown variables become empty, as Compose does (with a warning
//! there; here the caller sees the empty value).
use std::collections::BTreeMap;

/// Substitutes variables in `input` from `vars`.
pub fn interpolate(input: &str, vars: &BTreeMap<String, String>) -> String {
    let mut out = String::with_capacity(input.len());
    let mut rest = input;
    while let Some(pos) = rest.find('$') {
        out.push_str(&rest[..pos]);
        let after = &rest[pos + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if let Some(body) = after.strip_prefix('{') {
            let Some(end) = body.find('}') else {
                // Not a valid reference: keep the text as written.
                out.push_str(&rest[pos..]);
                return out;
            };
            out.push_str(&expand_braced(&body[..end], vars));
            rest = &body[end + 1..];
        } else {
            let len = after
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(after.len());
            if len == 0 {
                out.push('$');
            } else {
                out.push_str(vars.get(&after[..len]).map(String::as_str).unwrap_or(""));
            }
            rest = &after[len..];
        }
    }
    out.push_str(rest);
    out
}

fn expand_braced(expr: &str, vars: &BTreeMap<String, String>) -> String {
    let name_len = expr
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(expr.len());
    let (name, op) = expr.split_at(name_len);
    let value = vars.get(name);
    let set_nonempty = value.is_some_and(|v| !v.is_empty());
    if let Some(default) = op.strip_prefix(":-") {
        return if set_nonempty {
            value.cloned().unwrap_or_default()
        } else {
            interpolate(default, vars)
        };
    }
    if let Some(default) = op.strip_prefix('-') {
        return value.cloned().unwrap_or_else(|| interpolate(default, vars));
    }
    // `:?` / `?` make Compose fail when unset; the reader only reports values, so it yields the
    // value or empty and leaves the refusal to `docker compose config`.
    value.cloned().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expands_forms() {
        let vars = BTreeMap::from([
            ("U".to_string(), "privexbot".to_string()),
            ("E".to_string(), String::new()),
        ]);
        assert_eq!(interpolate("${U}", &vars), "privexbot");
        assert_eq!(interpolate("$U-x", &vars), "privexbot-x");
        assert_eq!(interpolate("${MISSING:-def}", &vars), "def");
        assert_eq!(interpolate("${E:-def}", &vars), "def");
        assert_eq!(interpolate("${E-def}", &vars), "");
        assert_eq!(interpolate("a$$b", &vars), "a$b");
        assert_eq!(interpolate("${MISSING}", &vars), "");
    }
}
