//! The disaster rollback's database part: the data directory is not trusted, so the database is
//! replaced by the run's backup. Called by `recreate-postgres`'s undo when the rollback was
//! started with `--disaster`; every other undo runs as in the fast path (compose file, qdrant,
//! writers), and the ones that would work inside the untrusted database skip themselves.
//!
//! Order, and why:
//! 1. re-verify the journaled backup (sha256 of the file, and that it is complete) before
//!    anything is dropped: a bad backup found after the drop is the outage the tool exists to
//!    prevent;
//! 2. put postgres back on the OLD image: the kept old container if it still exists, else (after
//!    `finalize`) a reverse recreate from the current container onto the old image;
//! 3. drop the database and create it again, empty, with its old encoding and locale;
//! 4. `pg_restore --exit-on-error` the dump into it (the adapter refuses a non-empty target:
//!    never replay a dump into a live database, DESIGN.md defect 4).
//!
//! The fingerprint comparison against the pre-upgrade one happens in `stop-writers`' undo,
//! before the writers start again, as for the fast path.

use std::time::Duration;

use anyhow::Context;

use super::env::UpgradeEnv;
use super::steps::backup::BackupOutput;
use super::steps::recreate_postgres::RecreateOutput;
use crate::adapters::backup::{self, BackupRecord};
use crate::adapters::postgres::{self, quote_ident, quote_literal};
use crate::adapters::restore;
use crate::engine::{StepContext, StepError};

pub async fn restore_backup(
    env: &UpgradeEnv,
    cx: &StepContext,
    out: &RecreateOutput,
) -> Result<(), StepError> {
    let record =
        journaled_backup(cx.output_of::<BackupOutput>("backup")).map_err(StepError::new)?;
    verify_backup(&record).map_err(StepError::new)?;
    cx.log(format!(
        "backup {} re-verified (sha256 {})",
        record.path.display(),
        record.sha256
    ));

    let docker = env.docker().await?;
    let plan = &out.plan;
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
        docker
            .start_new(&reverse)
            .await
            .context("starting postgres on the old image")?;
        docker
            .finalize_recreate(&reverse)
            .await
            .context("removing the new-image postgres container")?;
        cx.log(format!(
            "{} recreated on {} (the old container had been finalized)",
            plan.name, plan.old_image
        ));
    }

    let target = env.pg_target().await?;
    postgres::connect_until(&target, env.ready_timeout, Duration::from_millis(250))
        .await
        .context("waiting for postgres on the old image")?;
    recreate_database(&target)
        .await
        .context("dropping and creating the database again")?;
    cx.log(format!(
        "database {} dropped and created again, empty",
        target.credentials.database
    ));
    let t = std::time::Instant::now();
    let btarget = env.backup_target().await?;
    let how = restore::restore(docker, &btarget, &record.path)
        .await
        .context("restoring the backup (pg_restore --exit-on-error)")?;
    cx.log(format!(
        "backup restored with {how}, --exit-on-error, in {:.1}s",
        t.elapsed().as_secs_f64()
    ));
    Ok(())
}

/// The verified backup the journal holds for the run, or why there is none.
pub fn journaled_backup(output: Option<BackupOutput>) -> Result<BackupRecord, String> {
    output.and_then(|b| b.record).ok_or_else(|| {
        "the disaster rollback needs the run's verified backup, and the journal has none \
         (the backup step never completed); use the fast rollback: `cutover rollback --yes`"
            .to_string()
    })
}

/// The backup file still is the one that was verified: its sha256 equals the journaled one.
/// Checked by `cutover rollback --disaster` before anything is undone (a mismatch found in
/// `recreate-postgres`' undo would come after the writers were stopped, qdrant removed and the
/// compose file restored: a half-rolled-back stack), and again just before the database is
/// dropped.
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

/// `DROP DATABASE ... WITH (FORCE)` then `CREATE DATABASE` with the same owner, encoding and
/// locale, from `template0` (so nothing a template gained since sneaks in). Done from the
/// `postgres` maintenance database.
async fn recreate_database(target: &postgres::PgTarget) -> anyhow::Result<()> {
    let db = target.credentials.database.clone();
    let mut admin = target.clone();
    admin.credentials.database = "postgres".into();
    let client = postgres::connect(&admin)
        .await
        .context("connecting to the maintenance database postgres")?;
    let row = client
        .query_opt(
            "SELECT pg_encoding_to_char(d.encoding), d.datcollate, d.datctype, r.rolname
               FROM pg_database d JOIN pg_roles r ON r.oid = d.datdba
              WHERE d.datname = $1",
            &[&db],
        )
        .await?;
    let (encoding, collate, ctype, owner): (String, String, String, String) = match row {
        Some(r) => (r.get(0), r.get(1), r.get(2), r.get(3)),
        None => (
            "UTF8".into(),
            "en_US.utf8".into(),
            "en_US.utf8".into(),
            target.credentials.user.clone(),
        ),
    };
    client
        .batch_execute(&format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            quote_ident(&db)
        ))
        .await?;
    client
        .batch_execute(&format!(
            "CREATE DATABASE {} OWNER {} TEMPLATE template0 ENCODING {} LC_COLLATE {} LC_CTYPE {}",
            quote_ident(&db),
            quote_ident(&owner),
            quote_literal(&encoding),
            quote_literal(&collate),
            quote_literal(&ctype)
        ))
        .await?;
    Ok(())
}
