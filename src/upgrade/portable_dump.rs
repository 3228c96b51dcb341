//! The portable dump of a physical backup: the backup is started as a server of its own (the
//! old image, no network), its tables are counted against the fingerprint taken at the stop,
//! and it is dumped into the run directory in the same format as a logical backup.
//!
//! Two callers: `portable-dump`, after the window (the writers are back, so its time is not
//! downtime), and the disaster rollback, when it needs a dump the run had not made yet.
//!
//! Why both a physical backup and a dump: the physical one is the exact state at the stop,
//! restorable on the OLD image only (same major version and C library) and taken in seconds
//! inside the window; the dump is portable, and is what `rollback --disaster` restores.

use std::path::Path;

use anyhow::{Context, Result, bail};

use crate::adapters::backup::{self, BackupRecord, PgTarget};
use crate::adapters::fingerprint;
use crate::adapters::physical_backup;
use crate::adapters::postgres::quote_ident;
use crate::upgrade::env::UpgradeEnv;
use crate::upgrade::outputs::{PhysicalBackup, SCHEMA};

/// Starts `p`, checks its row counts against `before`'s fingerprint, and dumps it into
/// `run_dir/file_name` (a file already there is replaced: only a journaled record counts).
pub async fn from_physical(
    env: &UpgradeEnv,
    before: &fingerprint::Fingerprint,
    p: &PhysicalBackup,
    run_dir: &Path,
    file_name: &str,
    on_progress: impl FnMut(u64) + Send,
) -> Result<BackupRecord> {
    let docker = env.docker().await?;
    let partial = run_dir.join(file_name);
    if partial.exists() {
        std::fs::remove_file(&partial)
            .with_context(|| format!("removing the unfinished {}", partial.display()))?;
    }
    let tables: Vec<String> = before
        .tables
        .keys()
        .map(|t| format!("{SCHEMA}.{t}"))
        .collect();
    let refs: Vec<&str> = tables.iter().map(String::as_str).collect();
    with_backup_server(env, p, async |target: PgTarget| {
        check_counts(env, &target, before).await?;
        Ok(backup::dump(docker, &target, run_dir, file_name, &refs, on_progress).await?)
    })
    .await
}

/// Every fingerprinted table holds, in the started backup, the rows it held at the stop.
async fn check_counts(
    env: &UpgradeEnv,
    target: &PgTarget,
    before: &fingerprint::Fingerprint,
) -> Result<()> {
    let tables = &before.tables;
    if tables.is_empty() {
        return Ok(());
    }
    let sql = tables
        .keys()
        .map(|t| {
            format!(
                "SELECT '{}', count(*) FROM {}.{}",
                t.replace('\'', "''"),
                quote_ident(SCHEMA),
                quote_ident(t)
            )
        })
        .collect::<Vec<_>>()
        .join(" UNION ALL ");
    let out = env
        .docker()
        .await?
        .exec_output(
            &target.container,
            &target.spec([
                "psql",
                "-X",
                "-U",
                &target.user,
                "-d",
                &target.database,
                "-At",
                "-F",
                "\t",
                "-c",
                &sql,
            ]),
        )
        .await?;
    if out.exit_code != 0 {
        bail!(
            "counting the rows of the physical backup failed: {}",
            out.stderr_str().trim()
        );
    }
    let stdout = out.stdout_str();
    let mut wrong = Vec::new();
    let mut seen = 0;
    for line in stdout.lines() {
        let Some((table, count)) = line.split_once('\t') else {
            continue;
        };
        seen += 1;
        let want = tables.get(table).map(|f| f.rows);
        let got: Option<i64> = count.trim().parse().ok();
        if want != got {
            wrong.push(format!("{table}: {got:?} rows, {want:?} at the stop"));
        }
    }
    if seen != tables.len() {
        wrong.push(format!("{seen} tables counted of {}", tables.len()));
    }
    if !wrong.is_empty() {
        bail!(
            "the physical backup does not hold the state at the stop: {}",
            wrong.join("; ")
        );
    }
    Ok(())
}

/// The fingerprint of the state at the stop, read from the physical backup started on its own:
/// what the window no longer reads (`crate::upgrade::held`) when the snapshot that held it was
/// lost with a restart of cutover.
pub async fn fingerprint_physical(
    env: &UpgradeEnv,
    p: &PhysicalBackup,
    method: fingerprint::Method,
) -> Result<fingerprint::Fingerprint> {
    with_backup_server(env, p, async |target: PgTarget| {
        let listed = psql(env, &target, &fingerprint::psql_list_sql(SCHEMA)).await?;
        let tables: Vec<(String, String, bool)> = listed
            .lines()
            .filter_map(|l| {
                let mut it = l.splitn(3, '\t');
                Some((
                    it.next()?.to_string(),
                    it.next()?.to_string(),
                    it.next()? == "t",
                ))
            })
            .collect();
        let out = psql(env, &target, &fingerprint::psql_read_sql(method, &tables)).await?;
        fingerprint::parse_psql(method, &out.replace('\t', "|"))
    })
    .await
}

/// One `psql -X -q -At` statement inside `target`'s container; its output, tab-separated.
async fn psql(env: &UpgradeEnv, target: &PgTarget, sql: &str) -> Result<String> {
    let out = env
        .docker()
        .await?
        .exec_output(
            &target.container,
            &target.spec([
                "psql",
                "-X",
                "-q",
                "-v",
                "ON_ERROR_STOP=1",
                "-U",
                &target.user,
                "-d",
                &target.database,
                "-At",
                "-F",
                "\t",
                "-c",
                sql,
            ]),
        )
        .await?;
    if out.exit_code != 0 {
        bail!(
            "reading the physical backup failed: {}",
            out.stderr_str().trim()
        );
    }
    Ok(out.stdout_str().to_string())
}

/// Starts the physical backup `p` as a server of its own (`physical_backup::restore_check`)
/// and runs `work` against it, reached by psql inside its container with the app's role.
async fn with_backup_server<T>(
    env: &UpgradeEnv,
    p: &PhysicalBackup,
    work: impl AsyncFnOnce(PgTarget) -> Result<T>,
) -> Result<T> {
    let docker = env.docker().await?;
    let creds = env.backup_target().await?;
    let labels =
        std::collections::HashMap::from([("io.cutover.backup".to_string(), env.project.clone())]);
    physical_backup::restore_check(docker, &p.image, &p.volume, labels, async |name: &str| {
        work(PgTarget {
            container: name.to_string(),
            user: creds.user.clone(),
            database: creds.database.clone(),
            password: creds.password.clone(),
        })
        .await
    })
    .await
}
