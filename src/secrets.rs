//! The secret VALUES this process has seen, so they can be hidden wherever they appear.
//!
//! Redacting by variable name alone misses a password that travels inside another value: the
//! `pw` of `postgresql://user:pw@postgres/db` in a backend's `DATABASE_URL`, or the same
//! password echoed in a container's log line or an error. Every container environment cutover
//! reads, and the configured `db_password`, are registered here; `crate::engine::redact` then
//! replaces each registered value in every line, journal record and report.

use std::sync::{OnceLock, RwLock};

pub const REDACTED: &str = "[redacted]";

/// Shorter values are not treated as secrets by value: hiding every "pg" or "1" in the output
/// would make it unreadable and protect nothing.
const MIN_LEN: usize = 4;

fn known() -> &'static RwLock<Vec<String>> {
    static KNOWN: OnceLock<RwLock<Vec<String>>> = OnceLock::new();
    KNOWN.get_or_init(|| RwLock::new(Vec::new()))
}

/// Whether a variable or key name says it holds a secret.
///
/// A name that ends in `_FILE`, `_PATH` or `_DIR` (`POSTGRES_PASSWORD_FILE`, `SSH_KEY_PATH`)
/// holds where a secret is kept, not the secret. Its value is a path that reappears in the
/// container's mounts (`/run/secrets/…`): hidden as a secret there, it would be journaled as
/// "[redacted]", and the old container could not be re-created from the journal.
pub fn is_secret_name(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    if ["_FILE", "_PATH", "_DIR"]
        .iter()
        .any(|s| upper.ends_with(s))
    {
        return false;
    }
    ["PASSWORD", "PASSWD", "SECRET", "TOKEN", "KEY"]
        .iter()
        .any(|w| upper.contains(w))
}

/// Remembers `value` as a secret from now on.
pub fn register(value: &str) {
    if value.chars().count() < MIN_LEN {
        return;
    }
    let mut known = known().write().unwrap_or_else(|e| e.into_inner());
    if !known.iter().any(|k| k == value) {
        known.push(value.to_string());
        // Longest first, so a secret that contains another is hidden whole.
        known.sort_by_key(|k| std::cmp::Reverse(k.len()));
    }
}

/// Registers the secrets of a `NAME=value` environment list: values of secret-named variables,
/// and the password of every URL with credentials in any value.
pub fn register_env<S: AsRef<str>>(env: &[S]) {
    for pair in env {
        let Some((name, value)) = pair.as_ref().split_once('=') else {
            continue;
        };
        if is_secret_name(name) {
            register(value);
        }
        for pw in url_passwords(value) {
            register(pw);
        }
    }
}

/// The passwords of `scheme://user:password@host` URLs in `text`.
pub fn url_passwords(text: &str) -> Vec<&str> {
    let mut found = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find("://") {
        let after = &rest[i + 3..];
        let end = after
            .find(|c: char| c.is_whitespace() || c == '/' || c == '"' || c == '\'')
            .unwrap_or(after.len());
        let authority = &after[..end];
        if let Some(at) = authority.rfind('@')
            && let Some((_, pw)) = authority[..at].split_once(':')
            && !pw.is_empty()
        {
            found.push(pw);
        }
        rest = after;
    }
    found
}

/// `text` with every registered secret value, and every URL password, replaced.
pub fn hide(text: &str) -> String {
    let mut out = text.to_string();
    for pw in url_passwords(text) {
        if pw != REDACTED {
            out = out.replace(&format!(":{pw}@"), &format!(":{REDACTED}@"));
        }
    }
    let known = known().read().unwrap_or_else(|e| e.into_inner());
    for secret in known.iter() {
        if out.contains(secret.as_str()) {
            out = out.replace(secret.as_str(), REDACTED);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_inside_a_url_is_hidden_everywhere_it_reappears() {
        register_env(&[
            "DATABASE_URL=postgresql://app:s3cr3t-in-url@postgres:5432/db",
            "LANG=C.UTF-8",
        ]);
        assert_eq!(
            hide("connecting to postgresql://app:s3cr3t-in-url@postgres:5432/db"),
            "connecting to postgresql://app:[redacted]@postgres:5432/db"
        );
        // The same password, bare, in a log line or an error.
        assert_eq!(
            hide("FATAL: password s3cr3t-in-url rejected"),
            "FATAL: password [redacted] rejected"
        );
        // A URL never registered is still masked by its shape.
        assert_eq!(
            hide("redis://:other-pass@cache:6379"),
            "redis://:[redacted]@cache:6379"
        );
        assert_eq!(hide("C.UTF-8 stays"), "C.UTF-8 stays");
    }

    #[test]
    fn a_name_for_where_a_secret_is_kept_is_no_secret() {
        for name in [
            "POSTGRES_PASSWORD",
            "db_password",
            "API_KEY",
            "SECRET_KEY_BASE",
        ] {
            assert!(is_secret_name(name), "{name}");
        }
        for name in [
            "POSTGRES_PASSWORD_FILE",
            "SSH_KEY_PATH",
            "secrets_dir",
            "PGDATA",
        ] {
            assert!(!is_secret_name(name), "{name}");
        }
    }

    #[test]
    fn short_values_are_not_secrets_by_value() {
        register_env(&["PGPASSWORD=pg"]);
        assert_eq!(hide("pg_dump"), "pg_dump");
    }
}
