//! The fingerprint of the state at the stop, which the rollback's check compares with, when the
//! window deferred it (`crate::upgrade::held`) and the run did not get as far as reading it
//! (`verify-data` or `verify-fingerprints` journal it when they do):
//! - [`read_held`], first thing in `recreate-postgres`' undo, while the new server still runs:
//!   the snapshot opened at its first login holds exactly the stop, whatever the undos before
//!   (down migrations, …) changed since. On the disaster path with no snapshot held, the
//!   physical backup is read there instead: the restore checks its rows against it;
//! - [`otherwise`], in `backup`'s undo (the old server runs again), when no snapshot was
//!   read (cutover restarted, or postgres was never recreated): the tables themselves if the
//!   old server never stopped (the writers are still stopped: they are the stop's state), else
//!   the physical backup, started on its own.

use anyhow::Context;

use crate::adapters::fingerprint;
use crate::engine::{StepContext, StepError};
use crate::upgrade::env::UpgradeEnv;
use crate::upgrade::outputs::{BackupOutput, RecreateOutput, SCHEMA, fingerprint_before_in};

/// Reads the held snapshot of the stop into `out` (journaled by the caller), if one is held
/// and nothing else journaled the state at the stop yet.
pub async fn read_held(
    env: &UpgradeEnv,
    cx: &StepContext,
    out: &mut RecreateOutput,
) -> Result<(), StepError> {
    let held = env.held.take_at_start().await;
    if fingerprint_before_in(cx).is_some() {
        return Ok(());
    }
    let fp = match (held, cx.output_of::<BackupOutput>("backup")) {
        (Some(snapshot), _) => {
            let fp = snapshot
                .fingerprint()
                .await
                .context("reading the snapshot of the stop")?;
            cx.log(format!(
                "the state at the stop read from the new server's snapshot ({} tables)",
                fp.tables.len()
            ));
            fp
        }
        (None, Some(b)) if b.deferred && cx.disaster_rollback() => read(env, cx, &b, true).await?,
        _ => return Ok(()),
    };
    out.fingerprint_at_start = Some(fp);
    cx.save_output(out)?;
    Ok(())
}

/// `backup`'s undo: journals the state at the stop into `out` when nothing else holds it.
pub async fn otherwise(
    env: &UpgradeEnv,
    cx: &StepContext,
    out: &mut BackupOutput,
) -> Result<(), StepError> {
    if !out.deferred || fingerprint_before_in(cx).is_some() {
        return Ok(());
    }
    let recreated = cx
        .output_of::<RecreateOutput>("recreate-postgres")
        .is_some();
    let fp = read(env, cx, out, recreated).await?;
    out.from_backup = Some(fp);
    cx.save_output(out)?;
    Ok(())
}

/// The state at the stop without a snapshot: the tables if the old server never stopped, else
/// the physical backup.
async fn read(
    env: &UpgradeEnv,
    cx: &StepContext,
    out: &BackupOutput,
    recreated: bool,
) -> Result<fingerprint::Fingerprint, StepError> {
    let fp = match (&out.physical, recreated) {
        (_, false) => {
            let client = env.connect().await?;
            fingerprint::fingerprint(&client, SCHEMA)
                .await
                .context("fingerprinting the tables (the old server never stopped)")?
        }
        (Some(p), true) => {
            cx.log(format!(
                "reading the state at the stop from the physical backup in volume {}",
                p.volume
            ));
            crate::upgrade::portable_dump::fingerprint_physical(env, p, Default::default())
                .await
                .context("fingerprinting the physical backup")?
        }
        (None, true) => {
            return Err(StepError::new(
                "the state at the stop was neither read nor backed up physically; \
                 nothing to compare the rollback with",
            ));
        }
    };
    cx.log(format!("the state at the stop: {} tables", fp.tables.len()));
    Ok(fp)
}
