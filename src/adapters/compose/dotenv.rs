//! Reads a compose project's `.env` file into a map, the way Compose does for interpolation:
//! `KEY=VALUE` lines, `#` comments, blank lines, an optional `export ` prefix, single quotes
//! (literal) and double quotes (with `\n`, `\"`, `\\` escapes). An unquoted value ends at ` #`.
//!
//! Values are secrets (POSTGRES_PASSWORD lives here): nothing in this module logs them.
use std::collections::BTreeMap;
use std::path::Path;

use super::ComposeError;

/// Parses `.env` text. Lines that are not `KEY=VALUE` are reported with their line number,
/// since Compose itself refuses them.
pub fn parse_dotenv(text: &str) -> Result<BTreeMap<String, String>, ComposeError> {
    let mut out = BTreeMap::new();
    for (idx, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").unwrap_or(line).trim_start();
        let Some((key, value)) = line.split_once('=') else {
            return Err(ComposeError::DotEnv {
                line: idx + 1,
                problem: "expected KEY=VALUE".into(),
            });
        };
        let key = key.trim();
        if key.is_empty() || key.contains(char::is_whitespace) {
            return Err(ComposeError::DotEnv {
                line: idx + 1,
                problem: format!("invalid variable name {key:?}"),
            });
        }
        let value = parse_value(value.trim()).ok_or_else(|| ComposeError::DotEnv {
            line: idx + 1,
            problem: format!("unterminated quote in the value of {key}"),
        })?;
        out.insert(key.to_string(), value);
    }
    Ok(out)
}

/// Reads `.env` from `path`; a missing file is an empty map (Compose treats it the same).
pub fn read_dotenv(path: &Path) -> Result<BTreeMap<String, String>, ComposeError> {
    match std::fs::read_to_string(path) {
        Ok(text) => parse_dotenv(&text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(BTreeMap::new()),
        Err(source) => Err(ComposeError::Io {
            path: path.to_path_buf(),
            action: "read the .env file",
            source,
        }),
    }
}

fn parse_value(v: &str) -> Option<String> {
    if let Some(rest) = v.strip_prefix('\'') {
        return rest.find('\'').map(|end| rest[..end].to_string());
    }
    if let Some(rest) = v.strip_prefix('"') {
        let mut out = String::new();
        let mut chars = rest.chars();
        while let Some(c) = chars.next() {
            match c {
                '"' => return Some(out),
                '\\' => match chars.next()? {
                    'n' => out.push('\n'),
                    't' => out.push('\t'),
                    other => out.push(other),
                },
                c => out.push(c),
            }
        }
        return None;
    }
    // Unquoted: an inline comment needs a space before the `#`, so `pa#ss` stays intact.
    let end = v.find(" #").unwrap_or(v.len());
    Some(v[..end].trim_end().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_quotes_comments_and_export() {
        let env = parse_dotenv(
            "# c\nA=1\nexport B='x y'\nC=\"p#w \\\"q\\\"\"\nD=v # note\nE=pa#ss\n\nF=\n",
        )
        .unwrap();
        assert_eq!(env["A"], "1");
        assert_eq!(env["B"], "x y");
        assert_eq!(env["C"], "p#w \"q\"");
        assert_eq!(env["D"], "v");
        assert_eq!(env["E"], "pa#ss");
        assert_eq!(env["F"], "");
    }

    #[test]
    fn names_the_bad_line() {
        let err = parse_dotenv("A=1\nnot a pair\n").unwrap_err();
        assert!(err.to_string().contains("line 2"), "{err}");
    }
}
