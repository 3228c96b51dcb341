//! The disaster rollback's database part: the data directory's contents are not trusted, so
//! the database is replaced by the run's backup. Called by `recreate-postgres`' undo when the
//! rollback was started with `--disaster`; every other undo runs as in the fast path (compose
//! file, qdrant, writers), and the ones that would work inside the untrusted database skip
//! themselves.
//!
//! Order, and why:
//! 1. the journaled backup was re-verified by the command before anything changed (sha256 of
//!    the file); the restore checks that sha256 again on the bytes it copies into the
//!    container, before pg_restore reads them;
//! 2. put postgres back on the OLD image: the kept old container if it still exists, else (after
//!    `finalize`) a reverse recreate from the current container onto the old image;
//! 3. restore the dump into a NEW database, `<db>_cutover_restore`, created with the old one's
//!    owner, encoding and locale (`pg_restore --exit-on-error`; the adapter refuses a non-empty
//!    target, DESIGN.md defect 4), and check its row counts and contents against the
//!    fingerprint of the stop. A failed restore or check drops only that new database: the original stays,
//!    under its name, untouched;
//! 4. swap names: the original is renamed aside, `<db>_cutover_aside_<run>`, and the restored
//!    one takes its name. The aside database is never dropped by cutover: it holds whatever the
//!    window wrote, and the log and the report say how to remove it.
//!
//! The names are journaled before anything is created, so an undo repeated after a crash
//! finds where it stopped (mid-swap included). `stop-writers`' undo compares the tables with
//! the stop once more after the swap: row counts alongside the writers' start when the contents
//! were compared here, every row with the writers held back otherwise.

use std::time::Duration;

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};

use crate::adapters::backup::{self, BackupRecord};
use crate::adapters::fingerprint::{Fingerprint, Snapshot};
use crate::adapters::postgres::{self, quote_ident, quote_literal};
use crate::adapters::restore;
use crate::engine::{StepContext, StepError};
use crate::upgrade::env::UpgradeEnv;
use crate::upgrade::outputs::{
    BackupOutput, PhysicalBackup, PortableDumpOutput, RecreateOutput, SCHEMA, fingerprint_before_in,
};

/// The databases of the swap, journaled (in `recreate-postgres`' output) before any exists.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Swap {
    /// The application's database: the restored backup once swapped.
    pub database: String,
    /// Where the backup is restored before the swap.
    pub restored_as: String,
    /// What the original is renamed to; kept, never dropped by cutover.
    pub aside: String,
    /// The restore was checked against the backup's row counts.
    #[serde(default)]
    pub verified: bool,
    /// ... and against its contents (every row's hash), so the check after the swap need not
    /// read them again with the writers held back (`check::expectation`).
    #[serde(default)]
    pub contents_verified: bool,
    #[serde(default)]
    pub swapped: bool,
    /// The postgres container and the role, for the command that removes the aside database.
    #[serde(default)]
    pub container: String,
    #[serde(default)]
    pub user: String,
}

impl Swap {
    /// The names for database `db` in run `run_dir` (`<base>/<UTC stamp>`), each within
    /// PostgreSQL's 63 bytes.
    pub fn new(db: &str, run_dir: &std::path::Path) -> Self {
        let run: String = run_dir
            .file_name()
            .map(|n| n.to_string_lossy().to_ascii_lowercase())
            .unwrap_or_default()
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .collect();
        let name = |suffix: &str| {
            let room = 63usize.saturating_sub(suffix.len());
            let mut base = db.to_string();
            while base.len() > room {
                base.pop();
            }
            format!("{base}{suffix}")
        };
        Swap {
            database: db.to_string(),
            restored_as: name("_cutover_restore"),
            aside: name(&format!("_cutover_aside_{run}")),
            verified: false,
            contents_verified: false,
            swapped: false,
            container: String::new(),
            user: String::new(),
        }
    }

    /// How to remove the aside database, for the log and the report.
    pub fn how_to_remove(&self) -> String {
        let or = |v: &str, placeholder: &'static str| {
            if v.is_empty() {
                placeholder.to_string()
            } else {
                v.to_string()
            }
        };
        format!(
            "the database the upgrade left is kept as {aside} (nothing cutover does drops it; \
             its text indexes are in the upgraded server's order: read it with pg_dump, or \
             REINDEX DATABASE it before querying it); once you no longer need it: `docker exec \
             {container} psql -U {user} -d postgres -c 'DROP DATABASE {quoted}'`",
            aside = self.aside,
            container = or(&self.container, "<postgres container>"),
            user = or(&self.user, "<user>"),
            quoted = quote_ident(&self.aside).replace('\'', "'\\''"),
        )
    }
}

/// `recreate-postgres`' undo on the disaster path: restores the backup, or refuses when postgres
/// was never recreated (`out` is None), since then cutover did not touch its database.
pub async fn run(
    env: &UpgradeEnv,
    cx: &StepContext,
    out: Option<&RecreateOutput>,
) -> Result<(), StepError> {
    match out {
        Some(out) => restore_backup(env, cx, out).await,
        None => Err(StepError::new(
            "postgres was never recreated in this run, so cutover did not touch its \
             database: there is nothing to restore. Use `cutover rollback --yes`",
        )),
    }
}

pub async fn restore_backup(
    env: &UpgradeEnv,
    cx: &StepContext,
    out: &RecreateOutput,
) -> Result<(), StepError> {
    if let Some(swap) = super::volume_swap::plan(env, cx, out).await? {
        return super::volume_swap::run(env, cx, out, swap).await;
    }
    let record = dump_to_restore(env, cx).await?;
    let docker = env.docker().await?;
    old_image_back(env, cx, &out.plan, true).await?;

    let target = env.pg_target().await?;
    postgres::connect_until(&target, env.ready_timeout, Duration::from_millis(250))
        .await
        .context("waiting for postgres on the old image")?;
    let db = target.credentials.database.clone();
    let mut out = out.clone();
    let mut swap = match out.disaster.clone() {
        Some(s) if s.database == db => s,
        _ => Swap {
            container: out.plan.name.clone(),
            user: target.credentials.user.clone(),
            ..Swap::new(&db, cx.run_dir())
        },
    };
    out.disaster = Some(swap.clone());
    cx.save_output(&out)?;

    let admin = admin_client(&target).await?;
    if !swap.swapped {
        let has = |name: String| {
            let admin = &admin;
            async move { database_exists(admin, &name).await }
        };
        let (original, restored, aside) = (
            has(swap.database.clone()).await?,
            has(swap.restored_as.clone()).await?,
            has(swap.aside.clone()).await?,
        );
        if !original && aside && restored && swap.verified {
            // An earlier attempt stopped mid-swap: finish it.
            rename(&admin, &swap.restored_as, &swap.database).await?;
        } else if original && aside && !restored {
            cx.log("the swap was already done by an earlier attempt");
        } else {
            let btarget = env.backup_target().await?;
            let before = fingerprint_before_in(cx).unwrap_or_default();
            swap.contents_verified = restore_aside(
                cx, docker, &admin, &target, btarget, &record, &before, &swap,
            )
            .await?;
            swap.verified = true;
            out.disaster = Some(swap.clone());
            cx.save_output(&out)?;
            swap_names(&admin, &swap).await?;
        }
        swap.swapped = true;
        out.disaster = Some(swap.clone());
        cx.save_output(&out)?;
    }
    cx.log(format!(
        "database {} is the restored backup now; {}",
        swap.database,
        swap.how_to_remove()
    ));
    Ok(())
}

/// Puts postgres back on the OLD image: the kept old container if it still exists, else
/// (after `finalize`) a reverse recreate from the current container onto the old image.
/// `start: false` leaves it created and stopped (the volume swap replaces its files first: a
/// server started on them only to be stopped again costs a start, and an entrypoint busy with
/// its chown ignores the stop request until the stop timeout).
pub async fn old_image_back(
    env: &UpgradeEnv,
    cx: &StepContext,
    plan: &crate::adapters::docker::RecreatePlan,
    start: bool,
) -> Result<(), StepError> {
    let docker = env.docker().await?;
    let mut plan = plan.clone();
    plan.old_was_running &= start;
    let plan = &plan;
    if docker
        .recreate_state(plan)
        .await
        .context("looking for the kept old container")?
        .restorable
    {
        docker
            .restore_old(plan, env.stop_timeout)
            .await
            .context("putting the kept old postgres container back")?;
        cx.log(format!(
            "{} is the old container again ({})",
            plan.name, plan.old_image
        ));
    } else {
        // Finalized: the old container is gone; recreate the current one on the old image.
        let reverse = docker
            .plan_recreate(&plan.name, &plan.old_image)
            .await
            .context("planning postgres on the old image")?;
        docker
            .stop_old(&reverse, env.stop_timeout)
            .await
            .context("stopping the new-image postgres")?;
        docker
            .rename_old(&reverse)
            .await
            .context("parking the new-image postgres")?;
        docker
            .create_new(&reverse)
            .await
            .context("creating postgres on the old image")?;
        if start {
            docker
                .start_new(&reverse)
                .await
                .context("starting postgres on the old image")?;
        }
        docker
            .finalize_recreate(&reverse)
            .await
            .context("removing the new-image postgres container")?;
        cx.log(format!(
            "{} recreated on {} (the old container had been finalized)",
            plan.name, plan.old_image
        ));
    }

    Ok(())
}

/// Restores the backup into `swap.restored_as` (created fresh) and checks it against `before`
/// (row counts, and contents when `before` has them: true when it did); on any failure drops
/// that database again, leaving the original as it was. The contents are read here, before the
/// swap, rather than after it with the writers held back: a difference then costs only the new
/// database, and the check after the swap reads row counts alongside the writers' start.
#[allow(clippy::too_many_arguments)]
async fn restore_aside(
    cx: &StepContext,
    docker: &crate::adapters::docker::DockerClient,
    admin: &tokio_postgres::Client,
    target: &postgres::PgTarget,
    mut btarget: backup::PgTarget,
    record: &BackupRecord,
    before: &Fingerprint,
    swap: &Swap,
) -> Result<bool, StepError> {
    // A leftover of an earlier attempt is a partial restore of ours: start again.
    drop_database(admin, &swap.restored_as).await?;
    create_like(
        admin,
        &swap.database,
        &swap.restored_as,
        &target.credentials.user,
    )
    .await
    .with_context(|| format!("creating database {}", swap.restored_as))?;
    let t = std::time::Instant::now();
    btarget.database = swap.restored_as.clone();
    let restored = async {
        let how = restore::restore(docker, &btarget, &record.path, &record.sha256)
            .await
            .context("restoring the backup (pg_restore --exit-on-error)")?;
        cx.log(format!(
            "backup restored into {} with {how}, --exit-on-error, in {:.1}s",
            swap.restored_as,
            t.elapsed().as_secs_f64()
        ));
        let mut rt = target.clone();
        rt.credentials.database = swap.restored_as.clone();
        let client = postgres::connect(&rt).await?;
        let t = std::time::Instant::now();
        let m = matches_stop(&client, before).await?;
        if !m.problems.is_empty() {
            bail!(
                "the restored database does not hold the backup's rows: {}",
                m.problems.join("; ")
            );
        }
        cx.log(format!(
            "{}: {} tables, the {} the backup was taken with (read in {:.1}s)",
            swap.restored_as,
            m.tables,
            if m.contents {
                "row counts and contents"
            } else {
                "row counts"
            },
            t.elapsed().as_secs_f64()
        ));
        anyhow::Ok(m.contents)
    }
    .await;
    let e = match restored {
        Ok(contents) => return Ok(contents),
        Err(e) => e,
    };
    let cleanup = match drop_database(admin, &swap.restored_as).await {
        Ok(()) => format!("{} was dropped again", swap.restored_as),
        Err(d) => format!("{} could not be dropped ({})", swap.restored_as, d.message),
    };
    Err(StepError::from_anyhow(&e.context(format!(
        "the disaster restore failed; database {} is untouched and still in place under its \
         name, {cleanup}",
        swap.database
    ))))
}

/// A restored database read against the stop's fingerprint.
pub struct StopMatch {
    /// Every row's hash was compared, not only the counts (`before` had checksums).
    pub contents: bool,
    pub tables: usize,
    /// Empty when it matches.
    pub problems: Vec<String>,
}

/// Reads `client`'s tables against `before`: row counts, and contents when `before` has them.
pub async fn matches_stop(
    client: &tokio_postgres::Client,
    before: &Fingerprint,
) -> anyhow::Result<StopMatch> {
    let contents =
        !before.tables.is_empty() && before.tables.values().all(|t| !t.checksum.is_empty());
    let snapshot = Snapshot::open(client, SCHEMA, before.method).await?;
    let now = if contents {
        snapshot.fingerprint().await?
    } else {
        snapshot.row_counts().await?
    };
    let mut problems = count_differences(before, &now);
    if contents {
        problems.extend(before.tables.iter().filter_map(|(name, b)| {
            now.tables
                .get(name)
                .filter(|n| n.rows == b.rows && n.checksum != b.checksum)
                .map(|_| format!("{name}: same row count, different contents"))
        }));
    }
    Ok(StopMatch {
        contents,
        tables: now.tables.len(),
        problems,
    })
}

/// Tables whose row count differs from `before`, or that are missing or extra.
pub fn count_differences(before: &Fingerprint, now: &Fingerprint) -> Vec<String> {
    let mut v: Vec<String> = before
        .tables
        .iter()
        .filter_map(|(name, b)| match now.tables.get(name) {
            None => Some(format!("{name} missing")),
            Some(n) if n.rows != b.rows => {
                Some(format!("{name}: {} rows, {} expected", n.rows, b.rows))
            }
            Some(_) => None,
        })
        .collect();
    v.extend(
        now.tables
            .keys()
            .filter(|t| !before.tables.contains_key(*t))
            .map(|t| format!("{t}: not in the backup")),
    );
    v
}

/// The maintenance database to work from: `postgres`, or `template1` when the application's
/// database IS `postgres` (it is renamed, so no session may sit in it).
async fn admin_client(target: &postgres::PgTarget) -> Result<tokio_postgres::Client, StepError> {
    let mut admin = target.clone();
    admin.credentials.database = if target.credentials.database == "postgres" {
        "template1".into()
    } else {
        "postgres".into()
    };
    let db = admin.credentials.database.clone();
    Ok(postgres::connect(&admin)
        .await
        .with_context(|| format!("connecting to the maintenance database {db}"))?)
}

async fn database_exists(admin: &tokio_postgres::Client, name: &str) -> Result<bool, StepError> {
    Ok(admin
        .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&name])
        .await
        .with_context(|| format!("looking for database {name}"))?
        .is_some())
}

async fn drop_database(admin: &tokio_postgres::Client, name: &str) -> Result<(), StepError> {
    admin
        .batch_execute(&format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            quote_ident(name)
        ))
        .await
        .with_context(|| format!("dropping database {name}"))?;
    Ok(())
}

/// `ALTER DATABASE from RENAME TO to`, after ending the sessions in `from` (the writers are
/// stopped; a session left is a stray client, and a rename waits for none). Retried briefly: a
/// client may reconnect in between.
async fn rename(admin: &tokio_postgres::Client, from: &str, to: &str) -> Result<(), StepError> {
    let mut last = None;
    for _ in 0..10 {
        admin
            .execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                  WHERE datname = $1 AND pid <> pg_backend_pid()",
                &[&from],
            )
            .await
            .with_context(|| format!("ending the sessions in {from}"))?;
        match admin
            .batch_execute(&format!(
                "ALTER DATABASE {} RENAME TO {}",
                quote_ident(from),
                quote_ident(to)
            ))
            .await
        {
            Ok(()) => return Ok(()),
            Err(e) => last = Some(e),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let e = last.map_or("unknown error".to_string(), |e| e.to_string());
    Err(StepError::new(format!(
        "renaming database {from} to {to}: {e}"
    )))
}

/// The original aside, the restored one in its place; if the second rename fails, the first
/// is reverted so that the application's database keeps its name.
async fn swap_names(admin: &tokio_postgres::Client, swap: &Swap) -> Result<(), StepError> {
    rename(admin, &swap.database, &swap.aside).await?;
    if let Err(e) = rename(admin, &swap.restored_as, &swap.database).await {
        let back = rename(admin, &swap.aside, &swap.database).await;
        return Err(StepError::new(format!(
            "{}; {}",
            e.message,
            match back {
                Ok(()) => format!("{} has its name back, untouched", swap.database),
                Err(b) => format!(
                    "and renaming {} back failed too ({}): rename it by hand",
                    swap.aside, b.message
                ),
            }
        )));
    }
    Ok(())
}

/// What the disaster path restores from.
#[derive(Debug, Clone)]
pub enum Source {
    /// A verified dump: the window's own (`backup_kind = logical`) or the one `portable-dump`
    /// made from the physical backup after the window.
    Dump(BackupRecord),
    /// Only the physical backup: the dump is made from it first (`upgrade::portable_dump`).
    Physical(PhysicalBackup),
}

/// The backup the journal holds for the run, or why there is none.
pub fn journaled_source(
    backup: Option<BackupOutput>,
    portable: Option<PortableDumpOutput>,
) -> Result<Source, String> {
    let none = || {
        "the disaster rollback needs the run's verified backup, and the journal has none \
         (the backup step never completed); use the fast rollback: `cutover rollback --yes`"
            .to_string()
    };
    let backup = backup.ok_or_else(none)?;
    if let Some(r) = backup.record {
        return Ok(Source::Dump(r));
    }
    if let Some(r) = portable.and_then(|p| p.record) {
        return Ok(Source::Dump(r));
    }
    backup.physical.map(Source::Physical).ok_or_else(none)
}

/// Before anything is undone: the physical backup's volume is still there (its contents are
/// proven when the dump is made from it: it must recover to the stop's row counts).
pub fn physical_present(p: &PhysicalBackup) -> Result<(), String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("starting a runtime: {e}"))?;
    let present = rt.block_on(async {
        let docker = crate::adapters::docker::DockerClient::connect().await?;
        docker.volume_named(&p.volume).await
    });
    match present {
        Ok(true) => Ok(()),
        Ok(false) => Err(format!(
            "the run's physical backup, volume {}, no longer exists, and no dump was made from \
             it; restore it from wherever it was copied, or roll back without --disaster",
            p.volume
        )),
        Err(e) => Err(format!("looking for the backup volume {}: {e}", p.volume)),
    }
}

/// The dump to restore: the journaled one (its sha256 checked by the restore), or one made now from the physical
/// backup (into the run directory, beside where the window's dump would be).
async fn dump_to_restore(env: &UpgradeEnv, cx: &StepContext) -> Result<BackupRecord, StepError> {
    let backup = cx.output_of::<BackupOutput>("backup");
    let portable = cx.output_of::<PortableDumpOutput>("portable-dump");
    match journaled_source(backup.clone(), portable).map_err(StepError::new)? {
        Source::Dump(record) => {
            // `cutover rollback --disaster` checked the file before anything was undone; the
            // restore checks it against the same sha256 again before `pg_restore` reads it
            // (beside the server), or on the bytes it streams into the container (the copy).
            cx.log(format!(
                "restoring backup {} (sha256 {}, checked again before pg_restore reads it)",
                record.path.display(),
                record.sha256
            ));
            Ok(record)
        }
        Source::Physical(p) => {
            let backup = backup.expect("a physical source comes from the backup output");
            cx.log(format!(
                "dumping the physical backup in volume {} (recovered to {}) first",
                p.volume, p.catch_up.stop_lsn
            ));
            let record = crate::upgrade::portable_dump::from_physical(
                env,
                &fingerprint_before_in(cx).unwrap_or_default(),
                &p,
                cx.run_dir(),
                &backup.file_name,
                |_| {},
            )
            .await
            .context("dumping the physical backup for the restore")?;
            cx.log(format!(
                "dump {} made from the physical backup (sha256 {})",
                record.path.display(),
                record.sha256
            ));
            Ok(record)
        }
    }
}

/// The backup file still is the one that was verified: its sha256 equals the journaled one.
/// Checked by `cutover rollback --disaster` before anything is undone (a mismatch found in
/// `recreate-postgres`' undo would come after the writers were stopped, qdrant removed and the
/// compose file restored: a half-rolled-back stack); the restore checks it again as it reads.
pub fn verify_backup(record: &BackupRecord) -> Result<(), String> {
    let sha = backup::sha256_file(&record.path)
        .map_err(|e| format!("re-reading the backup {}: {e:#}", record.path.display()))?;
    if sha != record.sha256 {
        return Err(format!(
            "the backup {} changed since it was verified (sha256 {sha}, journaled {}); refusing \
             to restore it. Find the original file, or roll back without --disaster",
            record.path.display(),
            record.sha256
        ));
    }
    Ok(())
}

/// `CREATE DATABASE new` with the owner, encoding and locale of `like` (falling back to
/// `owner` and UTF8/en_US.utf8 when `like` is gone), from `template0` so nothing a template
/// gained since sneaks in.
async fn create_like(
    admin: &tokio_postgres::Client,
    like: &str,
    new: &str,
    owner: &str,
) -> anyhow::Result<()> {
    let row = admin
        .query_opt(
            "SELECT pg_encoding_to_char(d.encoding), d.datcollate, d.datctype, r.rolname
               FROM pg_database d JOIN pg_roles r ON r.oid = d.datdba
              WHERE d.datname = $1",
            &[&like],
        )
        .await?;
    let (encoding, collate, ctype, owner): (String, String, String, String) = match row {
        Some(r) => (r.get(0), r.get(1), r.get(2), r.get(3)),
        None => (
            "UTF8".into(),
            "en_US.utf8".into(),
            "en_US.utf8".into(),
            owner.to_string(),
        ),
    };
    admin
        .batch_execute(&format!(
            "CREATE DATABASE {} OWNER {} TEMPLATE template0 ENCODING {} LC_COLLATE {} LC_CTYPE {}",
            quote_ident(new),
            quote_ident(&owner),
            quote_literal(&encoding),
            quote_literal(&collate),
            quote_literal(&ctype)
        ))
        .await?;
    Ok(())
}
