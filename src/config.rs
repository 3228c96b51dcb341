//! Effective configuration: defaults for the privexbot stack, then `cutover.toml`, then
//! `CUTOVER_*` environment variables, then command-line flags (each layer overrides the last).
//!
//! Invariants: an unknown key or a bad value is one error that names the key and where it
//! came from (file and line, or the variable); secrets are only ever printed through
//! [`crate::engine::redact`].

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::engine::redact::{REDACTED, is_secret_name};

/// Environment variables that start with `CUTOVER_` but are not configuration keys.
const NON_CONFIG_ENV: &[&str] = &["CUTOVER_SCRIPTED", "CUTOVER_CONFIG", "CUTOVER_LOG"];
pub const COMPOSE_FILE_NAMES: &[&str] = &[
    "compose.yaml",
    "compose.yml",
    "docker-compose.yaml",
    "docker-compose.yml",
];

/// One layer: every key optional. Field names are the config keys.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Partial {
    pub compose_file: Option<PathBuf>,
    pub project: Option<String>,
    pub postgres_service: Option<String>,
    pub backend_service: Option<String>,
    pub worker_service: Option<String>,
    pub database: Option<String>,
    pub db_user: Option<String>,
    pub db_password: Option<String>,
    pub target_image: Option<String>,
    pub qdrant_image: Option<String>,
    pub run_dir: Option<PathBuf>,
    pub plan: Option<String>,
    pub auto_rollback: Option<bool>,
}

const KEYS: &[&str] = &[
    "compose_file",
    "project",
    "postgres_service",
    "backend_service",
    "worker_service",
    "database",
    "db_user",
    "db_password",
    "target_image",
    "qdrant_image",
    "run_dir",
    "plan",
    "auto_rollback",
];

#[derive(Debug, Clone, Serialize)]
pub struct Config {
    pub compose_file: PathBuf,
    pub project: String,
    pub postgres_service: String,
    pub backend_service: String,
    pub worker_service: String,
    pub database: String,
    pub db_user: String,
    /// Usually absent: credentials come from the container's environment.
    pub db_password: Option<String>,
    pub target_image: String,
    pub qdrant_image: String,
    /// Where run directories are created; default `<compose dir>/.cutover/runs`.
    pub run_dir: PathBuf,
    pub plan: String,
    pub auto_rollback: bool,
    /// Where each key's value came from, for `config --print`.
    #[serde(skip)]
    pub sources: BTreeMap<&'static str, String>,
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

/// Where to read from; the environment is passed in so tests need not mutate the process's.
pub struct Inputs<'a> {
    pub cwd: &'a Path,
    pub config_file: Option<&'a Path>,
    pub env: &'a BTreeMap<String, String>,
    pub flags: Partial,
}

impl Config {
    pub fn load(inputs: Inputs<'_>) -> Result<Self, ConfigError> {
        let mut sources = BTreeMap::new();
        let explicit = inputs
            .config_file
            .map(Path::to_path_buf)
            .or_else(|| inputs.env.get("CUTOVER_CONFIG").map(PathBuf::from));
        let path = explicit
            .clone()
            .unwrap_or_else(|| inputs.cwd.join("cutover.toml"));
        let mut merged = Partial::default();
        if path.exists() {
            let layer = parse_file(&path)?;
            merge(
                &mut merged,
                layer,
                &path.display().to_string(),
                &mut sources,
            );
        } else if let Some(p) = explicit {
            return Err(ConfigError(format!(
                "config file {} does not exist",
                p.display()
            )));
        }
        merge(
            &mut merged,
            parse_env(inputs.env)?,
            "environment",
            &mut sources,
        );
        merge(&mut merged, inputs.flags, "command line", &mut sources);
        resolve(merged, inputs.cwd, inputs.env, sources)
    }

    pub fn stack_dir(&self) -> &Path {
        self.compose_file.parent().unwrap_or(Path::new("."))
    }

    /// `<compose dir>/.cutover/lock`: one run per stack.
    pub fn lock_path(&self) -> PathBuf {
        self.stack_dir().join(".cutover").join("lock")
    }

    /// The effective configuration as TOML, secrets redacted, each key with its source.
    pub fn print(&self) -> String {
        let value = toml::Value::try_from(self).expect("config serializes");
        let mut out = String::new();
        for key in KEYS {
            let source = self.sources.get(key).map_or("default", String::as_str);
            match value.get(key) {
                Some(v) if is_secret_name(key) => {
                    let _ = writeln!(
                        out,
                        "{key} = {:?}  # {source}",
                        v.as_str().map(|_| REDACTED).unwrap_or(REDACTED)
                    );
                }
                Some(v) => {
                    let _ = writeln!(out, "{key} = {v}  # {source}");
                }
                None => {
                    let _ = writeln!(out, "# {key} is not set");
                }
            }
        }
        out
    }
}

fn parse_file(path: &Path) -> Result<Partial, ConfigError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| ConfigError(format!("cannot read {}: {e}", path.display())))?;
    toml::from_str::<Partial>(&text).map_err(|e| {
        let start = e.span().map_or(0, |s| s.start);
        let line_no = text[..start.min(text.len())].matches('\n').count() + 1;
        let line = text.lines().nth(line_no - 1).unwrap_or("");
        let key = line
            .split('=')
            .next()
            .unwrap_or("")
            .trim()
            .trim_matches('"');
        let what = if e.message().starts_with("unknown field") {
            format!("unknown key `{key}` (known keys: {})", KEYS.join(", "))
        } else {
            format!("bad value for key `{key}`: {}", e.message())
        };
        ConfigError(format!("{}:{line_no}: {what}", path.display()))
    })
}

fn parse_env(env: &BTreeMap<String, String>) -> Result<Partial, ConfigError> {
    let mut table = toml::Table::new();
    for (name, value) in env {
        let Some(key) = name.strip_prefix("CUTOVER_") else {
            continue;
        };
        if NON_CONFIG_ENV.contains(&name.as_str()) {
            continue;
        }
        let key = key.to_ascii_lowercase();
        if !KEYS.contains(&key.as_str()) {
            return Err(ConfigError(format!(
                "environment variable {name}: unknown key `{key}`"
            )));
        }
        let v = if key == "auto_rollback" {
            match value.as_str() {
                "true" | "1" | "yes" => toml::Value::Boolean(true),
                "false" | "0" | "no" => toml::Value::Boolean(false),
                _ => {
                    return Err(ConfigError(format!(
                        "environment variable {name}: bad value for key `{key}`: expected true or false"
                    )));
                }
            }
        } else {
            toml::Value::String(value.clone())
        };
        table.insert(key, v);
    }
    table
        .try_into()
        .map_err(|e: toml::de::Error| ConfigError(format!("environment: {}", e.message())))
}

fn merge(
    into: &mut Partial,
    layer: Partial,
    source: &str,
    sources: &mut BTreeMap<&'static str, String>,
) {
    macro_rules! take {
        ($($f:ident),*) => {$(
            if layer.$f.is_some() {
                into.$f = layer.$f;
                sources.insert(stringify!($f), source.to_string());
            }
        )*};
    }
    take!(
        compose_file,
        project,
        postgres_service,
        backend_service,
        worker_service,
        database,
        db_user,
        db_password,
        target_image,
        qdrant_image,
        run_dir,
        plan,
        auto_rollback
    );
}

fn resolve(
    p: Partial,
    cwd: &Path,
    env: &BTreeMap<String, String>,
    mut sources: BTreeMap<&'static str, String>,
) -> Result<Config, ConfigError> {
    let compose_file = match p.compose_file {
        Some(f) => cwd.join(f),
        None => find_compose_file(cwd, env, &mut sources)?,
    };
    if !compose_file.is_file() {
        return Err(ConfigError(format!(
            "compose file {} does not exist",
            compose_file.display()
        )));
    }
    let stack_dir = compose_file.parent().unwrap_or(cwd).to_path_buf();
    let project = match (p.project, env.get("COMPOSE_PROJECT_NAME")) {
        (Some(p), _) => p,
        (None, Some(name)) => {
            sources.insert("project", "COMPOSE_PROJECT_NAME".into());
            name.clone()
        }
        (None, None) => {
            sources.insert("project", "compose file directory".into());
            normalize_project(&stack_dir)
        }
    };
    Ok(Config {
        run_dir: p
            .run_dir
            .map(|d| cwd.join(d))
            .unwrap_or_else(|| stack_dir.join(".cutover").join("runs")),
        compose_file,
        project,
        postgres_service: p.postgres_service.unwrap_or_else(|| "postgres".into()),
        backend_service: p.backend_service.unwrap_or_else(|| "backend".into()),
        worker_service: p.worker_service.unwrap_or_else(|| "celery-worker".into()),
        database: p.database.unwrap_or_else(|| "privexbot".into()),
        db_user: p.db_user.unwrap_or_else(|| "privexbot".into()),
        db_password: p.db_password,
        target_image: p
            .target_image
            .unwrap_or_else(|| "pgvector/pgvector:pg16".into()),
        qdrant_image: p
            .qdrant_image
            .unwrap_or_else(|| "qdrant/qdrant:latest".into()),
        plan: p.plan.unwrap_or_else(|| "pgvector".into()),
        auto_rollback: p.auto_rollback.unwrap_or(true),
        sources,
    })
}

fn find_compose_file(
    cwd: &Path,
    env: &BTreeMap<String, String>,
    sources: &mut BTreeMap<&'static str, String>,
) -> Result<PathBuf, ConfigError> {
    if let Some(list) = env.get("COMPOSE_FILE") {
        // Compose allows a list; the first file is the one the stack's directory comes from.
        let sep = env
            .get("COMPOSE_PATH_SEPARATOR")
            .map_or(":", String::as_str);
        let first = list.split(sep).next().unwrap_or_default();
        sources.insert("compose_file", "COMPOSE_FILE".into());
        return Ok(cwd.join(first));
    }
    sources.insert("compose_file", "found in working directory".into());
    COMPOSE_FILE_NAMES
        .iter()
        .map(|n| cwd.join(n))
        .find(|p| p.is_file())
        .ok_or_else(|| {
            ConfigError(format!(
                "no compose file in {} (looked for {}); set COMPOSE_FILE or pass --compose-file",
                cwd.display(),
                COMPOSE_FILE_NAMES.join(", ")
            ))
        })
}

/// Compose's own rule: lowercase, keep only `[a-z0-9_-]`, must start with a letter or digit.
fn normalize_project(dir: &Path) -> String {
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().to_lowercase())
        .unwrap_or_default();
    let kept: String = name
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
        .collect();
    kept.trim_start_matches(['_', '-']).to_string()
}
