//! New-version data: rows written into the tables the upgrade created, which the fast
//! rollback's down migrations drop. They exist nowhere else (the backup predates the tables),
//! so they are counted, dumped into the run directory, and dropped only with the operator's
//! consent (`cutover rollback --discard-new-data`).
//!
//! - The tables are the ones the down migrations of the versions this run applied declare
//!   (`DROP TABLE` statements), not a fixed list: a `migrations_dir` of the operator's own is
//!   read the same way. The app's own `migrations_down_command` declares nothing cutover can
//!   read, so that path is not guarded (its undo says what it cannot know).
//! - `cutover rollback` counts before anything is undone and refuses (exit 2, nothing changed,
//!   the rows dumped). The undo of `migrations` counts again right before the down migrations
//!   (the writers are stopped by then): it dumps either way, and refuses (the rollback stops,
//!   exit 3) unless consent was given; so an automatic rollback or the wizard's never drops
//!   them silently either.
//! - Consent is a marker file in the run directory, so a rollback resumed after a crash keeps
//!   it.

use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::{Deserialize, Serialize};
use tokio_postgres::Client;

use crate::adapters::backup::{self, PgTarget};
use crate::adapters::docker::DockerClient;
use crate::adapters::migrations::MigrationSet;
use crate::adapters::postgres::{quote_ident, quote_literal};
use crate::config::Config;
use crate::engine::recovery::{RunState, StepState};
use crate::engine::{StepContext, StepError};
use crate::upgrade::env::UpgradeEnv;
use crate::upgrade::facts;
use crate::upgrade::outputs::MigrationsOutput;

/// Written by `cutover rollback --discard-new-data`: the operator lets the rows go.
pub const DISCARD_MARKER: &str = "discard-new-data";

/// What the fast rollback found in the tables it drops, for the journal and the report.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct NewData {
    /// `(table, rows)` for each table the down migrations drop that exists.
    pub counts: Vec<(String, i64)>,
    /// The custom-format dump of those tables, taken when any held rows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dump: Option<PathBuf>,
    /// The operator let them be dropped (`--discard-new-data`).
    #[serde(default)]
    pub discarded: bool,
}

impl NewData {
    pub fn rows(&self) -> i64 {
        self.counts.iter().map(|(_, n)| n).sum()
    }

    /// `chunks 3, documents 1, knowledge_bases 1`.
    pub fn listing(&self) -> String {
        self.counts
            .iter()
            .map(|(t, n)| format!("{t} {n}"))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// One line for the log and the report.
    pub fn summary(&self) -> String {
        if self.rows() == 0 {
            return format!(
                "new-version data: none ({}), nothing to keep",
                self.listing()
            );
        }
        let dump = self.dump.as_ref().map_or("not dumped".into(), |p| {
            format!("dumped to {}", p.display())
        });
        let fate = if self.discarded {
            "dropped by the down migrations (--discard-new-data)"
        } else {
            "kept: the fast rollback was refused"
        };
        format!(
            "new-version data: {} rows ({}), {dump}; {fate}",
            self.rows(),
            self.listing()
        )
    }

    /// The refusal, naming the rows, the dump and both ways on.
    pub fn refusal(&self, run_dir: &Path) -> String {
        format!(
            "the fast rollback would drop {} rows the new version received ({}): the down \
             migrations drop those tables, and the backup predates them. {}. To drop them, \
             run `cutover rollback --yes --discard-new-data --run {}`; to keep them, keep the \
             upgrade (or move them to the old schema yourself first)",
            self.rows(),
            self.listing(),
            self.dump
                .as_ref()
                .map_or("They were not dumped".to_string(), |p| format!(
                    "They were dumped to {} (pg_restore -d DB FILE)",
                    p.display()
                )),
            run_dir.display()
        )
    }
}

/// Whether the operator consented, for the run in `run_dir`.
pub fn discard_allowed(run_dir: &Path) -> bool {
    run_dir.join(DISCARD_MARKER).exists()
}

/// Records the operator's consent in `run_dir`.
pub fn allow_discard(run_dir: &Path) -> std::io::Result<()> {
    std::fs::write(
        run_dir.join(DISCARD_MARKER),
        "the operator ran `cutover rollback --discard-new-data`\n",
    )
}

/// The tables the down migrations of every version above `version_before` drop, newest
/// version first, each once.
pub fn dropped_tables(set: &MigrationSet, version_before: i64) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for m in set.migrations.iter().rev() {
        if m.version <= version_before {
            continue;
        }
        for t in parse_drops(&m.down) {
            if !out.contains(&t) {
                out.push(t);
            }
        }
    }
    out
}

/// The table names of the `DROP TABLE [IF EXISTS] a, b [CASCADE]` statements in `sql`
/// (comments removed, unquoted names folded to lower case as PostgreSQL does).
pub fn parse_drops(sql: &str) -> Vec<String> {
    let text = sql
        .lines()
        .map(|l| l.split("--").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join(" ");
    let mut out = Vec::new();
    for stmt in text.split(';') {
        let words: Vec<&str> = stmt.split_whitespace().collect();
        let is = |i: usize, w: &str| words.get(i).is_some_and(|x| x.eq_ignore_ascii_case(w));
        if !(is(0, "drop") && is(1, "table")) {
            continue;
        }
        let skip = if is(2, "if") && is(3, "exists") { 4 } else { 2 };
        let names = words[skip..].join(" ");
        for name in names.split(',') {
            let Some(name) = name.split_whitespace().next() else {
                continue;
            };
            let name = if name.contains('"') {
                name.replace('"', "")
            } else {
                name.to_ascii_lowercase()
            };
            if !name.is_empty() {
                out.push(name);
            }
        }
    }
    out
}

/// Rows in each of `tables` that exists (a table already dropped by an earlier attempt is
/// left out).
pub async fn count(client: &Client, tables: &[String]) -> anyhow::Result<Vec<(String, i64)>> {
    let mut out = Vec::new();
    for t in tables {
        let exists: bool = client
            .query_one(
                &format!(
                    "SELECT to_regclass({}) IS NOT NULL",
                    quote_literal(&qualified(t))
                ),
                &[],
            )
            .await
            .with_context(|| format!("looking for table {t}"))?
            .get(0);
        if !exists {
            continue;
        }
        let n: i64 = client
            .query_one(&format!("SELECT count(*) FROM {}", qualified(t)), &[])
            .await
            .with_context(|| format!("counting the rows of {t}"))?
            .get(0);
        out.push((t.clone(), n));
    }
    Ok(out)
}

/// `schema.table` or `table`, each part quoted.
fn qualified(t: &str) -> String {
    t.split('.').map(quote_ident).collect::<Vec<_>>().join(".")
}

/// `pg_dump -Fc -t` of the counted tables into `run_dir/new-data[-N].dump` (0600, verified
/// with `pg_restore --list`); returns its path.
pub async fn dump(
    docker: &DockerClient,
    target: &PgTarget,
    run_dir: &Path,
    counts: &[(String, i64)],
) -> anyhow::Result<PathBuf> {
    let mut name = "new-data.dump".to_string();
    let mut n = 2;
    while run_dir.join(&name).exists() {
        name = format!("new-data-{n}.dump");
        n += 1;
    }
    let tables: Vec<&str> = counts.iter().map(|(t, _)| t.as_str()).collect();
    let record = backup::dump_tables(docker, target, run_dir, &name, &tables)
        .await
        .with_context(|| format!("dumping {} into {}", tables.join(", "), run_dir.display()))?;
    Ok(record.path)
}

/// Counts the rows of the tables the down migrations above `version_before` drop and, when
/// any holds rows, dumps them; `discarded` says whether the operator consented.
pub async fn survey(
    client: &Client,
    docker: &DockerClient,
    target: &PgTarget,
    run_dir: &Path,
    set: &MigrationSet,
    version_before: i64,
) -> anyhow::Result<NewData> {
    let counts = count(client, &dropped_tables(set, version_before)).await?;
    let mut found = NewData {
        counts,
        dump: None,
        discarded: discard_allowed(run_dir),
    };
    if found.rows() > 0 {
        found.dump = Some(dump(docker, target, run_dir, &found.counts).await?);
    }
    Ok(found)
}

/// `cutover rollback`'s count, before anything is undone: the rows in the tables the run's
/// down migrations would drop, or None when this run has none to revert (not applied, already
/// undone, or the app's own migrations). When rows are found and the operator did not consent,
/// they are dumped too (the refusal names the file).
pub fn before_rollback(
    config: &Config,
    state: &RunState,
    run_dir: &Path,
) -> anyhow::Result<Option<NewData>> {
    survey_before(config, state, run_dir, true)
}

/// The wizard's count, before it asks: the same as [`before_rollback`] without the dump (the
/// undo of `migrations` dumps before it drops anything, whatever the answer was).
pub fn count_before_rollback(
    config: &Config,
    state: &RunState,
    run_dir: &Path,
) -> anyhow::Result<Option<NewData>> {
    survey_before(config, state, run_dir, false)
}

fn survey_before(
    config: &Config,
    state: &RunState,
    run_dir: &Path,
    dump_if_refused: bool,
) -> anyhow::Result<Option<NewData>> {
    let Some(record) = state.steps.get("migrations") else {
        return Ok(None);
    };
    if matches!(record.state, StepState::Pending | StepState::Undone) {
        return Ok(None);
    }
    let Some(out) = record
        .output
        .clone()
        .and_then(|v| serde_json::from_value::<MigrationsOutput>(v).ok())
    else {
        return Ok(None);
    };
    if out.app.is_some() {
        return Ok(None);
    }
    let set = match &config.migrations_dir {
        Some(d) => MigrationSet::from_dir(d)?,
        None => MigrationSet::embedded()?,
    };
    let tables = dropped_tables(&set, out.version_before);
    if tables.is_empty() {
        return Ok(None);
    }
    let mut writers = vec![
        config.backend_service.clone(),
        config.worker_service.clone(),
    ];
    writers.extend(config.extra_writer_services.iter().cloned());
    let env = UpgradeEnv::new(config, facts::read(config, &writers)?, Vec::new());
    let discarded = discard_allowed(run_dir);
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(async {
        let client = env.connect().await?;
        let mut found = NewData {
            counts: count(&client, &tables).await?,
            dump: None,
            discarded,
        };
        if dump_if_refused && found.rows() > 0 && !found.discarded {
            let docker = env.docker().await?;
            let target = env.backup_target().await?;
            found.dump = Some(dump(docker, &target, run_dir, &found.counts).await?);
        }
        Ok(Some(found))
    })
}

/// `migrations`' undo, before the down migrations drop the tables this run created: counts
/// their rows and dumps them into the run directory, journals what it found (in `out`, the
/// step's output), and refuses unless the operator consented.
pub async fn keep(
    env: &UpgradeEnv,
    cx: &StepContext,
    client: &Client,
    set: &MigrationSet,
    mut out: MigrationsOutput,
) -> Result<(), StepError> {
    let docker = env.docker().await?;
    let target = env.backup_target().await?;
    let found = survey(
        client,
        docker,
        &target,
        cx.run_dir(),
        set,
        out.version_before,
    )
    .await
    .context("keeping the rows the new version received")?;
    cx.log(found.summary());
    out.new_data = Some(found.clone());
    cx.save_output(&out)?;
    if found.rows() > 0 && !found.discarded {
        return Err(StepError::new(found.refusal(cx.run_dir())));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_drops_of_the_down_migrations() {
        let sql = "-- drops chunks\nDROP TABLE IF EXISTS chunks;\ndrop table Documents, \
                   \"KB\" CASCADE;\nCREATE TABLE x (id int); -- DROP TABLE not_this";
        assert_eq!(parse_drops(sql), vec!["chunks", "documents", "KB"]);
    }

    #[test]
    fn the_embedded_set_drops_the_knowledge_base_tables() {
        let set = MigrationSet::embedded().unwrap();
        assert_eq!(
            dropped_tables(&set, 0),
            vec!["chunks", "documents", "knowledge_bases"]
        );
        assert!(dropped_tables(&set, set.migrations.len() as i64).is_empty());
    }
}
