//! A validated set of migrations: from the files embedded at build time, or from a directory.
//! Rules: `NNNN_name.up.sql` + `NNNN_name.down.sql` for each version, `name` in `[a-z0-9_]`,
//! versions unique and without gaps; files not ending in `.sql` are ignored (a README).
use std::collections::BTreeMap;
use std::path::Path;

use include_dir::{Dir, include_dir};

use super::MigrationError;
use crate::adapters::compose::sha256_hex;

static EMBEDDED: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/migrations");

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Migration {
    pub version: i64,
    pub name: String,
    pub up: String,
    pub down: String,
    /// sha256 (hex) of the up file's bytes: what the history records.
    pub checksum: String,
}

/// Migrations ordered by version, plus where they came from (for messages).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationSet {
    pub origin: String,
    pub migrations: Vec<Migration>,
}

impl MigrationSet {
    /// The set built into the binary.
    pub fn embedded() -> Result<MigrationSet, MigrationError> {
        let files = EMBEDDED.files().map(|f| {
            (
                f.path().to_string_lossy().into_owned(),
                f.contents().to_vec(),
            )
        });
        Self::from_files("embedded", files)
    }

    /// The set in `dir` (not recursive).
    pub fn from_dir(dir: &Path) -> Result<MigrationSet, MigrationError> {
        let origin = dir.display().to_string();
        let err = |problem: String| MigrationError::Set {
            origin: origin.clone(),
            problem,
        };
        let mut files = Vec::new();
        let entries =
            std::fs::read_dir(dir).map_err(|e| err(format!("cannot read the directory: {e}")))?;
        for entry in entries {
            let entry = entry.map_err(|e| err(format!("cannot read the directory: {e}")))?;
            if !entry.file_type().map_err(|e| err(e.to_string()))?.is_file() {
                continue;
            }
            let name = entry.file_name().to_string_lossy().into_owned();
            let bytes =
                std::fs::read(entry.path()).map_err(|e| err(format!("cannot read {name}: {e}")))?;
            files.push((name, bytes));
        }
        Self::from_files(&origin, files)
    }

    /// Validates and pairs `(file name, bytes)` entries.
    pub fn from_files(
        origin: &str,
        files: impl IntoIterator<Item = (String, Vec<u8>)>,
    ) -> Result<MigrationSet, MigrationError> {
        let err = |problem: String| MigrationError::Set {
            origin: origin.to_string(),
            problem,
        };
        let mut by_version: BTreeMap<i64, Pair> = BTreeMap::new();
        for (file, bytes) in files {
            if !file.ends_with(".sql") {
                continue;
            }
            let (version, name, is_up) = parse_file_name(&file).ok_or_else(|| {
                err(format!(
                    "{file} is not named NNNN_name.up.sql or NNNN_name.down.sql (name: a-z, 0-9, _)"
                ))
            })?;
            let slot = by_version.entry(version).or_insert_with(|| Pair {
                name: name.clone(),
                up: None,
                down: None,
            });
            if slot.name != name {
                return Err(err(format!(
                    "version {version} is used by both {} and {name}",
                    slot.name
                )));
            }
            let target = if is_up { &mut slot.up } else { &mut slot.down };
            if target.replace(bytes).is_some() {
                return Err(err(format!("{file} appears twice")));
            }
        }
        let mut migrations = Vec::new();
        let mut previous: Option<i64> = None;
        for (version, Pair { name, up, down }) in by_version {
            if let Some(prev) = previous
                && version != prev + 1
            {
                return Err(err(format!(
                    "versions jump from {prev} to {version}: is a file missing?"
                )));
            }
            previous = Some(version);
            let (Some(up), Some(down)) = (up, down) else {
                return Err(err(format!(
                    "migration {version:04}_{name} needs both an .up.sql and a .down.sql file"
                )));
            };
            let text = |b: Vec<u8>, kind: &str| {
                String::from_utf8(b)
                    .map_err(|_| err(format!("{version:04}_{name}.{kind}.sql is not UTF-8")))
            };
            let checksum = sha256_hex(&up);
            let (up, down) = (text(up, "up")?, text(down, "down")?);
            migrations.push(Migration {
                version,
                name,
                up,
                down,
                checksum,
            });
        }
        if migrations.is_empty() {
            return Err(err("no migrations found".into()));
        }
        Ok(MigrationSet {
            origin: origin.to_string(),
            migrations,
        })
    }

    pub fn get(&self, version: i64) -> Option<&Migration> {
        self.migrations.iter().find(|m| m.version == version)
    }
}

/// The files of one version as they are collected.
struct Pair {
    name: String,
    up: Option<Vec<u8>>,
    down: Option<Vec<u8>>,
}

/// `0001_knowledge_base.up.sql` → (1, "knowledge_base", true).
fn parse_file_name(file: &str) -> Option<(i64, String, bool)> {
    let (stem, is_up) = if let Some(s) = file.strip_suffix(".up.sql") {
        (s, true)
    } else {
        (file.strip_suffix(".down.sql")?, false)
    };
    let (digits, name) = stem.split_once('_')?;
    let valid_name = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if digits.is_empty() || !digits.chars().all(|c| c.is_ascii_digit()) || !valid_name {
        return None;
    }
    let version: i64 = digits.parse().ok()?;
    (version > 0).then(|| (version, name.to_string(), is_up))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names() {
        assert_eq!(
            parse_file_name("0001_kb.up.sql"),
            Some((1, "kb".into(), true))
        );
        assert_eq!(
            parse_file_name("12_a_b.down.sql"),
            Some((12, "a_b".into(), false))
        );
        assert_eq!(parse_file_name("0001-kb.up.sql"), None);
        assert_eq!(parse_file_name("0000_kb.up.sql"), None);
        assert_eq!(parse_file_name("0001_KB.up.sql"), None);
        assert_eq!(parse_file_name("0001_kb.sql"), None);
    }
}
