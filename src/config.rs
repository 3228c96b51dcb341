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

use crate::adapters::docker::PullPolicy;
use crate::engine::redact::{REDACTED, is_secret_name, redact_line};

/// Environment variables that start with `CUTOVER_` but are not configuration keys.
const NON_CONFIG_ENV: &[&str] = &[
    "CUTOVER_SCRIPTED",
    "CUTOVER_CONFIG",
    "CUTOVER_LOG",
    // Test-only crash knob, read by `engine::fault`.
    "CUTOVER_FAULT",
    // The test bed's own settings (testbed/bed), often exported in the same shell.
    "CUTOVER_TESTBED_CACHE",
    "CUTOVER_DEBIAN_MIRROR",
];
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
    pub compose_command: Option<String>,
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
    pub pull_policy: Option<String>,
    pub extra_writer_services: Option<Vec<String>>,
    pub migrations_dir: Option<PathBuf>,
    pub migrations_command: Option<String>,
    pub migrations_down_command: Option<String>,
    pub collation_policy: Option<String>,
    pub rollback_check: Option<String>,
    pub backup_kind: Option<String>,
    pub disaster_restore: Option<String>,
    pub qdrant_ports: Option<String>,
    pub ready_timeout_secs: Option<u64>,
    pub stop_timeout_secs: Option<u64>,
    pub backend_health_url: Option<String>,
    pub backend_health_status: Option<String>,
    pub rehearsal_max_age_hours: Option<u64>,
    pub rehearsal_max_growth_pct: Option<u64>,
    pub rehearse_app: Option<bool>,
}

const KEYS: &[&str] = &[
    "compose_file",
    "compose_command",
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
    "pull_policy",
    "extra_writer_services",
    "migrations_dir",
    "migrations_command",
    "migrations_down_command",
    "collation_policy",
    "rollback_check",
    "backup_kind",
    "disaster_restore",
    "qdrant_ports",
    "ready_timeout_secs",
    "stop_timeout_secs",
    "backend_health_url",
    "backend_health_status",
    "rehearsal_max_age_hours",
    "rehearsal_max_growth_pct",
    "rehearse_app",
];

/// Keys whose environment value is true or false.
const BOOL_KEYS: &[&str] = &["auto_rollback", "rehearse_app"];
/// Keys whose environment value is a comma-separated list.
const LIST_KEYS: &[&str] = &["extra_writer_services"];
/// Keys whose environment value is a whole number.
const NUMBER_KEYS: &[&str] = &[
    "ready_timeout_secs",
    "stop_timeout_secs",
    "rehearsal_max_age_hours",
    "rehearsal_max_growth_pct",
];
/// Values of `backup_kind` (see [`Config::backup_kind`]).
pub const BACKUP_KINDS: &[&str] = &["physical", "logical"];

/// Values of `disaster_restore` (see [`Config::disaster_restore`]).
pub const DISASTER_RESTORES: &[&str] = &["dump", "volume"];
/// Values of `collation_policy` (see [`Config::collation_policy`]).
pub const COLLATION_POLICIES: &[&str] = &["auto", "check", "reindex-all", "skip"];
/// The port and path (with query) of `backend_health_url`: `http://SERVICE[:PORT]/PATH`.
pub fn parse_health_url(url: &str) -> Result<(u16, String), String> {
    let u = reqwest::Url::parse(url)
        .map_err(|e| format!("{url:?} is not a URL ({e}); e.g. http://backend:8000/health"))?;
    if u.scheme() != "http" {
        return Err(format!(
            "{url:?}: only http:// is supported (the health check talks to the container directly)"
        ));
    }
    let port = u.port_or_known_default().unwrap_or(80);
    let path = match u.query() {
        Some(q) => format!("{}?{q}", u.path()),
        None => u.path().to_string(),
    };
    Ok((port, path))
}

/// Values of `rollback_check` (see [`Config::rollback_check`]).
pub const ROLLBACK_CHECKS: &[&str] = &["rows", "contents"];

#[derive(Debug, Clone, Serialize)]
pub struct Config {
    pub compose_file: PathBuf,
    /// The Compose tool: `auto` (default: `docker compose` (v2) if the docker CLI has it, else
    /// `docker-compose`), `v1`, `v2`, or the command words (e.g. `/opt/compose/docker-compose`).
    pub compose_command: String,
    pub project: String,
    pub postgres_service: String,
    pub backend_service: String,
    pub worker_service: String,
    /// Usually absent: the database and user come from the postgres container's
    /// `POSTGRES_DB`/`POSTGRES_USER`, as its entrypoint used them; set to override.
    pub database: Option<String>,
    pub db_user: Option<String>,
    /// Usually absent: credentials come from the container's environment.
    pub db_password: Option<String>,
    pub target_image: String,
    pub qdrant_image: String,
    /// Where run directories are created; default `<compose dir>/.cutover/runs`.
    pub run_dir: PathBuf,
    pub plan: String,
    pub auto_rollback: bool,
    /// When to contact a registry for the target and qdrant images: `always`, `missing`
    /// (default: never when the image is local) or `never` (offline machines).
    pub pull_policy: PullPolicy,
    /// Services stopped with the backend and worker because they hold database sessions
    /// (default none). A session from a stack container not listed here stops the pre-flight.
    pub extra_writer_services: Vec<String>,
    /// Up/down migration pairs to apply instead of the ones built into cutover (default: built in).
    pub migrations_dir: Option<PathBuf>,
    /// The application's own migrations instead of cutover's (mutually exclusive with
    /// `migrations_dir`), e.g. `alembic upgrade head`: run by `/bin/sh -c` in a one-off
    /// container from the backend container's image, with its environment and networks (the
    /// image's entrypoint is replaced by the shell; write it into the command if needed).
    pub migrations_command: Option<String>,
    /// Undoes `migrations_command` on a fast rollback (same one-off container), e.g.
    /// `alembic downgrade <revision>`. Without it the app's schema changes stay on rollback.
    pub migrations_down_command: Option<String>,
    /// What the collation step does after the image change: `auto` (default: amcheck every
    /// collatable btree index; REINDEX all of them when the C library changed, else only the
    /// broken ones), `check` (amcheck, REINDEX only broken ones), `reindex-all`, `skip`.
    pub collation_policy: String,
    /// What the fast rollback re-reads once the old server is shown to resume where the new one
    /// stopped (same cluster, WAL position): `rows` (default: exact row counts of every
    /// pre-existing table, read from a snapshot while the writers start) or `contents` (row
    /// counts and checksums of every row: about 1.2 s more per GB on 2 cores). Without that
    /// proof, and on the disaster path, contents are always compared.
    pub rollback_check: String,
    /// The backup of the state at the stop: `physical` (default: a base backup taken while
    /// the application still runs, then only the WAL up to the stop inside the window; a
    /// portable dump is made from it after the window) or `logical` (`pg_dump` inside the
    /// window, the slower way, for servers that refuse replication connections).
    pub backup_kind: String,
    /// What `rollback --disaster` restores: `volume` (default: the physical backup's files
    /// copied into the data directory, the whole cluster back to the stop, at disk speed; the
    /// files it replaces kept aside in the data directory; the dump path when there is no
    /// physical backup, its volume is gone, or too little room) or `dump` (the run's verified
    /// dump into a new database beside the application's, names swapped; the other databases
    /// untouched). The default is the volume because a restore at pg_restore speed keeps the
    /// service down for minutes per gigabyte where the copy takes seconds.
    pub disaster_restore: String,
    /// Host ports for qdrant: `auto` (default: 6333/6334 on loopback if free, else unpublished),
    /// `none` (reachable only on the stack's network), or `[IP:]HOST:CONTAINER,...` (IP
    /// defaults to 127.0.0.1; `0.0.0.0:6333:6333` publishes on every interface, by request).
    pub qdrant_ports: String,
    /// How long postgres, qdrant and the backend may take to become ready (default 120 s).
    pub ready_timeout_secs: u64,
    /// Grace period given to a container on stop before it is killed (default 30 s).
    pub stop_timeout_secs: u64,
    /// How the application's health is read (the end of application downtime): a URL whose
    /// host is the backend SERVICE (cutover resolves its address through the engine, as for
    /// every container) and whose port and path are the app's. Unset: the URL in the backend's
    /// compose `healthcheck` when it has one, else `http://<backend_service>:8000/health`.
    pub backend_health_url: Option<String>,
    /// The JSON `status` the health URL must answer (default `healthy`); `any`: any 2xx answer.
    pub backend_health_status: String,
    /// A rehearsal (`cutover rehearse`) older than this no longer counts on the checklist
    /// (default 24 h).
    pub rehearsal_max_age_hours: u64,
    /// Nor one after which the database grew by more than this percentage (default 20).
    pub rehearsal_max_growth_pct: u64,
    /// `cutover rehearse` also starts a copy of the application's writers (backend, worker,
    /// extra writers) on the side stack, so the forecast holds their stop, start and health
    /// (default false: an application may send mail or consume queues).
    pub rehearse_app: bool,
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
        let config = resolve(merged, inputs.cwd, inputs.env, sources)?;
        // The configured password is hidden by value wherever it shows up later.
        if let Some(pw) = &config.db_password {
            crate::secrets::register(pw);
        }
        Ok(config)
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
                // A command line may hold `NAME=secret` pairs.
                Some(toml::Value::String(v)) if key.ends_with("_command") => {
                    let _ = writeln!(out, "{key} = {:?}  # {source}", redact_line(v));
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
        let v = if BOOL_KEYS.contains(&key.as_str()) {
            match value.as_str() {
                "true" | "1" | "yes" => toml::Value::Boolean(true),
                "false" | "0" | "no" => toml::Value::Boolean(false),
                _ => {
                    return Err(ConfigError(format!(
                        "environment variable {name}: bad value for key `{key}`: expected true or false"
                    )));
                }
            }
        } else if LIST_KEYS.contains(&key.as_str()) {
            toml::Value::Array(
                value
                    .split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(|s| toml::Value::String(s.to_string()))
                    .collect(),
            )
        } else if NUMBER_KEYS.contains(&key.as_str()) {
            match value.trim().parse::<i64>() {
                Ok(n) => toml::Value::Integer(n),
                Err(_) => {
                    return Err(ConfigError(format!(
                        "environment variable {name}: bad value for key `{key}`: expected a whole number of seconds"
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
        compose_command,
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
        auto_rollback,
        pull_policy,
        extra_writer_services,
        migrations_dir,
        migrations_command,
        migrations_down_command,
        collation_policy,
        rollback_check,
        backup_kind,
        disaster_restore,
        qdrant_ports,
        ready_timeout_secs,
        stop_timeout_secs,
        backend_health_url,
        backend_health_status,
        rehearsal_max_age_hours,
        rehearsal_max_growth_pct,
        rehearse_app
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
    // Compose reads COMPOSE_PROJECT_NAME from the `.env` beside the file too; so must we, or
    // discovery would look for the wrong project's containers.
    let dotenv_project = crate::adapters::compose::read_dotenv(&stack_dir.join(".env"))
        .ok()
        .and_then(|m| m.get("COMPOSE_PROJECT_NAME").cloned())
        .filter(|n| !n.is_empty());
    let project = match (p.project, env.get("COMPOSE_PROJECT_NAME"), dotenv_project) {
        (Some(p), _, _) => p,
        (None, Some(name), _) => {
            sources.insert("project", "COMPOSE_PROJECT_NAME".into());
            name.clone()
        }
        (None, None, Some(name)) => {
            sources.insert("project", "COMPOSE_PROJECT_NAME in .env".into());
            name
        }
        (None, None, None) => {
            sources.insert("project", "compose file directory".into());
            normalize_project(&stack_dir)
        }
    };
    let pull_policy = match p.pull_policy.as_deref() {
        None => PullPolicy::Missing,
        Some(v) => v
            .parse()
            .map_err(|e: String| bad_key("pull_policy", &sources, &e))?,
    };
    let collation_policy = p.collation_policy.unwrap_or_else(|| "auto".into());
    if !COLLATION_POLICIES.contains(&collation_policy.as_str()) {
        return Err(bad_key(
            "collation_policy",
            &sources,
            &format!(
                "{collation_policy:?} is not one of {}",
                COLLATION_POLICIES.join(", ")
            ),
        ));
    }
    let backup_kind = p.backup_kind.unwrap_or_else(|| "physical".into());
    if !BACKUP_KINDS.contains(&backup_kind.as_str()) {
        return Err(bad_key(
            "backup_kind",
            &sources,
            &format!("{backup_kind:?} is not one of {}", BACKUP_KINDS.join(", ")),
        ));
    }
    let disaster_restore = p.disaster_restore.unwrap_or_else(|| "volume".into());
    if !DISASTER_RESTORES.contains(&disaster_restore.as_str()) {
        return Err(bad_key(
            "disaster_restore",
            &sources,
            &format!(
                "{disaster_restore:?} is not one of {}",
                DISASTER_RESTORES.join(", ")
            ),
        ));
    }
    let rollback_check = p.rollback_check.unwrap_or_else(|| "rows".into());
    if !ROLLBACK_CHECKS.contains(&rollback_check.as_str()) {
        return Err(bad_key(
            "rollback_check",
            &sources,
            &format!(
                "{rollback_check:?} is not one of {}",
                ROLLBACK_CHECKS.join(", ")
            ),
        ));
    }
    let compose_command = p
        .compose_command
        .unwrap_or_else(|| crate::upgrade::tool::AUTO.into());
    if compose_command.trim().is_empty() {
        return Err(bad_key(
            "compose_command",
            &sources,
            "must not be empty: auto, v1, v2 or the command words",
        ));
    }
    let qdrant_ports = p.qdrant_ports.unwrap_or_else(|| "auto".into());
    parse_qdrant_ports(&qdrant_ports).map_err(|e| bad_key("qdrant_ports", &sources, &e))?;
    let postgres_service = p.postgres_service.unwrap_or_else(|| "postgres".into());
    let extra_writer_services = p.extra_writer_services.unwrap_or_default();
    if let Some(bad) = extra_writer_services
        .iter()
        .find(|s| s.trim().is_empty() || **s == postgres_service)
    {
        return Err(bad_key(
            "extra_writer_services",
            &sources,
            &format!("{bad:?} cannot be a writer service (empty, or the database itself)"),
        ));
    }
    let timeout = |key: &'static str, v: Option<u64>, default: u64| match v {
        Some(0) => Err(bad_key(key, &sources, "must be at least 1 second")),
        Some(n) => Ok(n),
        None => Ok(default),
    };
    let command = |key: &'static str, v: Option<String>| match v {
        Some(c) if c.trim().is_empty() => Err(bad_key(key, &sources, "must not be empty")),
        v => Ok(v),
    };
    let migrations_command = command("migrations_command", p.migrations_command)?;
    let migrations_down_command = command("migrations_down_command", p.migrations_down_command)?;
    if migrations_command.is_some() && p.migrations_dir.is_some() {
        let from = |k: &str| sources.get(k).map_or("default", String::as_str).to_string();
        return Err(ConfigError(format!(
            "keys `migrations_dir` (from {}) and `migrations_command` (from {}) are mutually \
             exclusive: cutover applies either its migration set or the app's own command; \
             set only one",
            from("migrations_dir"),
            from("migrations_command")
        )));
    }
    if migrations_down_command.is_some() && migrations_command.is_none() {
        return Err(bad_key(
            "migrations_down_command",
            &sources,
            "needs `migrations_command` (it undoes that command)",
        ));
    }
    let backend_service = p.backend_service.unwrap_or_else(|| "backend".into());
    let backend_health_url = p.backend_health_url;
    if let Some(Err(why)) = backend_health_url.as_deref().map(parse_health_url) {
        return Err(bad_key("backend_health_url", &sources, &why));
    }
    let backend_health_status = match p.backend_health_status {
        Some(v) if v.trim().is_empty() => {
            return Err(bad_key(
                "backend_health_status",
                &sources,
                "must not be empty (use `any` to accept any 2xx answer)",
            ));
        }
        Some(v) => v,
        None => "healthy".into(),
    };
    let ready_timeout_secs = timeout("ready_timeout_secs", p.ready_timeout_secs, 120)?;
    let stop_timeout_secs = timeout("stop_timeout_secs", p.stop_timeout_secs, 30)?;
    Ok(Config {
        pull_policy,
        extra_writer_services,
        migrations_dir: p.migrations_dir.map(|d| cwd.join(d)),
        migrations_command,
        migrations_down_command,
        collation_policy,
        rollback_check,
        backup_kind,
        disaster_restore,
        qdrant_ports,
        ready_timeout_secs,
        stop_timeout_secs,
        rehearsal_max_age_hours: p.rehearsal_max_age_hours.unwrap_or(24),
        rehearsal_max_growth_pct: p.rehearsal_max_growth_pct.unwrap_or(20),
        run_dir: p
            .run_dir
            .map(|d| cwd.join(d))
            .unwrap_or_else(|| stack_dir.join(".cutover").join("runs")),
        compose_file,
        compose_command,
        project,
        postgres_service,
        backend_service,
        backend_health_url,
        backend_health_status,
        worker_service: p.worker_service.unwrap_or_else(|| "celery-worker".into()),
        database: p.database,
        db_user: p.db_user,
        db_password: p.db_password,
        target_image: p
            .target_image
            .unwrap_or_else(|| "pgvector/pgvector:pg16".into()),
        qdrant_image: p
            .qdrant_image
            .unwrap_or_else(|| "qdrant/qdrant:latest".into()),
        plan: p.plan.unwrap_or_else(|| "pgvector".into()),
        auto_rollback: p.auto_rollback.unwrap_or(true),
        rehearse_app: p.rehearse_app.unwrap_or(false),
        sources,
    })
}

fn bad_key(key: &'static str, sources: &BTreeMap<&'static str, String>, why: &str) -> ConfigError {
    let from = sources.get(key).map_or("default", String::as_str);
    ConfigError(format!("bad value for key `{key}` (from {from}): {why}"))
}

/// `auto` → None (decided against the host's free ports when the plan is built); `none` → no
/// ports; `H:C,H:C` → those mappings.
pub fn parse_qdrant_ports(
    spec: &str,
) -> Result<Option<Vec<crate::adapters::compose::PortMapping>>, String> {
    match spec.trim() {
        "auto" => return Ok(None),
        "none" => return Ok(Some(Vec::new())),
        _ => {}
    }
    spec.split(',')
        .map(|m| {
            // `[IP:]HOST:CONTAINER`; without IP, loopback (never every interface unasked).
            let (ip, hc) = match m.trim().rsplitn(3, ':').collect::<Vec<_>>()[..] {
                [_, _, ip] => (
                    ip.trim_matches(|c| c == '[' || c == ']')
                        .parse::<std::net::IpAddr>()
                        .map_err(|_| format!("{m:?}: {ip:?} is not an IP address"))?,
                    &m.trim()[ip.len() + 1..],
                ),
                _ => (crate::adapters::compose::loopback(), m.trim()),
            };
            let (h, c) = hc.split_once(':').ok_or(format!(
                "{m:?}: expected HOST:CONTAINER or IP:HOST:CONTAINER (or auto, none)"
            ))?;
            let port = |v: &str| {
                v.trim()
                    .parse::<u16>()
                    .ok()
                    .filter(|p| *p > 0)
                    .ok_or(format!("{m:?}: {v:?} is not a port number"))
            };
            Ok(crate::adapters::compose::PortMapping {
                host: port(h)?,
                container: port(c)?,
                host_ip: ip,
            })
        })
        .collect::<Result<Vec<_>, String>>()
        .map(Some)
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
