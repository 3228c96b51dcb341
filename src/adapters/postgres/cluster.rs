//! Read-only questions about a running cluster that decide whether another image can run it:
//! the locale of every database, the `lc_*` and preload settings with where each comes from
//! (postgresql.conf, postgresql.auto.conf, the server's command line), the extensions
//! installed in each database, and a measured btree build rate for estimating REINDEX time.
//!
//! Invariant: nothing persists. The build-rate sample is a temporary table inside a
//! transaction that is always rolled back.

use std::time::Instant;

use serde::{Deserialize, Serialize};
use tokio_postgres::Client;

use super::{PgError, PgTarget, connect};

/// The settings whose values the target image must be able to honour.
pub const CHECKED_SETTINGS: [&str; 7] = [
    "lc_messages",
    "lc_monetary",
    "lc_numeric",
    "lc_time",
    "shared_preload_libraries",
    "session_preload_libraries",
    "local_preload_libraries",
];

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct DatabaseLocale {
    pub name: String,
    pub collate: String,
    pub ctype: String,
    /// `c` (libc), `i` (ICU) or `b` (builtin); None before PostgreSQL 15.
    pub provider: Option<String>,
    pub allow_conn: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct InstalledExtension {
    pub database: String,
    pub name: String,
    pub version: String,
}

/// One value of a checked setting and where it was found.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SettingValue {
    pub name: String,
    pub value: String,
    /// `postgresql.conf`, `postgresql.auto.conf`, `command line`, `compose command`, ...
    pub source: String,
}

impl SettingValue {
    /// The entries of a list setting (`'pg_stat_statements, auto_explain'`).
    pub fn entries(&self) -> Vec<String> {
        self.value
            .split(',')
            .map(|e| e.trim().trim_matches('"').trim().to_string())
            .filter(|e| !e.is_empty())
            .collect()
    }
}

/// A btree build measured on the running server.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
pub struct BuildRate {
    pub rows: i64,
    pub index_bytes: i64,
    pub ms: u64,
}

impl BuildRate {
    pub fn bytes_per_sec(&self) -> f64 {
        self.index_bytes as f64 * 1000.0 / self.ms.max(1) as f64
    }
}

pub async fn database_locales(client: &Client) -> Result<Vec<DatabaseLocale>, PgError> {
    let num = super::server_version(client).await?.num;
    let provider = if num >= 150_000 {
        "datlocprovider::text"
    } else {
        "NULL::text"
    };
    let rows = client
        .query(
            &format!(
                "SELECT datname::text, datcollate::text, datctype::text, {provider}, datallowconn \
                 FROM pg_database ORDER BY datname"
            ),
            &[],
        )
        .await
        .map_err(PgError::query("reading pg_database"))?;
    Ok(rows
        .iter()
        .map(|r| DatabaseLocale {
            name: r.get(0),
            collate: r.get(1),
            ctype: r.get(2),
            provider: r.get(3),
            allow_conn: r.get(4),
        })
        .collect())
}

/// Every non-empty value of [`CHECKED_SETTINGS`]: in effect now (unless it came from the
/// server's defaults or environment, which the new container will not share), as written in
/// the configuration files (`pg_file_settings`, superuser only: skipped when not allowed; it
/// also sees edits not yet applied), and in `command` (the container's command line).
pub async fn locale_and_preload_settings(
    client: &Client,
    command: &[String],
) -> Result<Vec<SettingValue>, PgError> {
    let names: Vec<String> = CHECKED_SETTINGS.iter().map(|s| s.to_string()).collect();
    let mut out: Vec<SettingValue> = Vec::new();
    let mut push = |name: String, value: String, source: String| {
        if !value.trim().is_empty()
            && !out
                .iter()
                .any(|s| s.name == name && s.value == value && s.source == source)
        {
            out.push(SettingValue {
                name,
                value,
                source,
            });
        }
    };
    let rows = client
        .query(
            "SELECT name, setting, source, coalesce(sourcefile, '') FROM pg_settings \
             WHERE name = ANY($1) AND source NOT IN ('default', 'environment variable', 'override')",
            &[&names],
        )
        .await
        .map_err(PgError::query("reading pg_settings"))?;
    for r in rows {
        let file: String = r.get(3);
        let source: String = r.get(2);
        let source = match file.rsplit('/').next() {
            Some(f) if !f.is_empty() => f.to_string(),
            _ => source,
        };
        push(r.get(0), r.get(1), source);
    }
    if let Ok(rows) = client
        .query(
            "SELECT name, setting, sourcefile FROM pg_file_settings \
             WHERE name = ANY($1) AND error IS NULL",
            &[&names],
        )
        .await
    {
        for r in rows {
            let file: String = r.get(2);
            let file = file.rsplit('/').next().unwrap_or("").to_string();
            push(r.get(0), r.get(1), file);
        }
    }
    for (name, value) in command_settings(command) {
        push(name, value, "compose command".into());
    }
    Ok(out)
}

/// `-c name=value`, `-cname=value` and `--name=value` of a postgres command line, for the
/// checked settings only.
pub fn command_settings(cmd: &[String]) -> Vec<(String, String)> {
    let mut v = Vec::new();
    let mut it = cmd.iter();
    while let Some(arg) = it.next() {
        let kv = if arg == "-c" {
            it.next().map(String::as_str)
        } else if let Some(rest) = arg.strip_prefix("--") {
            Some(rest)
        } else {
            arg.strip_prefix("-c")
        };
        let Some((k, val)) = kv.and_then(|kv| kv.split_once('=')) else {
            continue;
        };
        let k = k.replace('-', "_");
        if CHECKED_SETTINGS.contains(&k.as_str()) {
            v.push((k, val.trim_matches('\'').to_string()));
        }
    }
    v
}

/// Extensions installed in every database that allows connections, read over a connection
/// to each; the names of databases that could not be read are returned beside them.
pub async fn installed_extensions(
    target: &PgTarget,
    databases: &[DatabaseLocale],
) -> (Vec<InstalledExtension>, Vec<String>) {
    let mut found = Vec::new();
    let mut unread = Vec::new();
    for db in databases.iter().filter(|d| d.allow_conn) {
        let mut t = target.clone();
        t.credentials.database = db.name.clone();
        let rows = match connect(&t).await {
            Ok(c) => c
                .query("SELECT extname::text, extversion FROM pg_extension", &[])
                .await
                .ok(),
            Err(_) => None,
        };
        match rows {
            Some(rows) => found.extend(rows.iter().map(|r| InstalledExtension {
                database: db.name.clone(),
                name: r.get(0),
                version: r.get(1),
            })),
            None => unread.push(db.name.clone()),
        }
    }
    (found, unread)
}

/// Builds a btree on `ROWS` synthetic text values (mixed case, accents, punctuation) under the
/// database's default collation in a temporary table, and times the build. Rolled back.
pub async fn measure_build_rate(client: &Client) -> Result<BuildRate, PgError> {
    const ROWS: i64 = 100_000;
    client
        .batch_execute("BEGIN")
        .await
        .map_err(PgError::query("BEGIN"))?;
    let result = async {
        client
            .batch_execute(&format!(
                "CREATE TEMP TABLE cutover_build_rate (v text) ON COMMIT DROP;
                 INSERT INTO cutover_build_rate
                 SELECT CASE i % 4 WHEN 0 THEN upper(md5(i::text))
                                   WHEN 1 THEN 'É' || md5(i::text)
                                   WHEN 2 THEN '_' || md5(i::text)
                                   ELSE md5(i::text) || ' b' END
                 FROM generate_series(1, {ROWS}) AS i"
            ))
            .await
            .map_err(PgError::query("filling the build-rate sample"))?;
        let t = Instant::now();
        client
            .batch_execute("CREATE INDEX cutover_build_rate_v ON cutover_build_rate (v)")
            .await
            .map_err(PgError::query("building the sample index"))?;
        let ms = t.elapsed().as_millis() as u64;
        let row = client
            .query_one("SELECT pg_relation_size('cutover_build_rate_v')", &[])
            .await
            .map_err(PgError::query("sizing the sample index"))?;
        Ok(BuildRate {
            rows: ROWS,
            index_bytes: row.get(0),
            ms: ms.max(1),
        })
    }
    .await;
    client
        .batch_execute("ROLLBACK")
        .await
        .map_err(PgError::query("ROLLBACK"))?;
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_line_settings() {
        let cmd: Vec<String> = [
            "postgres",
            "-c",
            "shared_preload_libraries=pg_stat_statements,auto_explain",
            "-clc_messages=C",
            "--lc-time=en_US.UTF-8",
            "-c",
            "max_connections=200",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        assert_eq!(
            command_settings(&cmd),
            [
                (
                    "shared_preload_libraries".to_string(),
                    "pg_stat_statements,auto_explain".to_string()
                ),
                ("lc_messages".into(), "C".into()),
                ("lc_time".into(), "en_US.UTF-8".into()),
            ]
        );
        let s = SettingValue {
            name: "shared_preload_libraries".into(),
            value: "pg_stat_statements, \"auto_explain\"".into(),
            source: "x".into(),
        };
        assert_eq!(s.entries(), ["pg_stat_statements", "auto_explain"]);
    }
}
