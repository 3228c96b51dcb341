//! The fast rollback's proof that no row is lost, without reading a table: the old server,
//! started again on the same data volume, must resume at or after the last WAL position the
//! new one reached. Both halves run in `recreate-postgres`' undo:
//! 1. [`note_new_position`], before the new container is removed: the new server's WAL
//!    position (else `start-writers`' undo recorded one, `super::window`);
//! 2. [`check`], once the old server accepts connections: same cluster, latest checkpoint at or
//!    after that position. Journaled as `RecreateOutput::resumed`; the rollback check
//!    (`super::check`) then reads the tables alongside the writers instead of holding them
//!    back.

use std::time::Duration;

use crate::adapters::postgres;
use crate::engine::{StepContext, StepError};
use crate::upgrade::env::UpgradeEnv;
use crate::upgrade::outputs::{RecreateOutput, WindowOutput};

/// Readiness polls: a refused connection costs nothing, and each poll saved is downtime saved.
const POLL: Duration = Duration::from_millis(50);

/// Reads and journals the NEW server's WAL position, if its container runs and none was read
/// yet. `cx` is `recreate-postgres`' context.
pub async fn note_new_position(
    env: &UpgradeEnv,
    cx: &StepContext,
    out: &mut RecreateOutput,
) -> Result<(), StepError> {
    let docker = env.docker().await?;
    // A replacement stopped while its entrypoint is still starting ignores the stop signal
    // (a shell as PID 1) and costs the whole stop timeout (30 s measured after a crash
    // right after the start): let it reach readiness first, bounded, then stop it.
    if docker
        .recreate_state(&out.plan)
        .await
        .is_ok_and(|s| s.new_running)
        && let Ok(target) = env.pg_target().await
    {
        let settle = Duration::from_secs(15);
        let ready = postgres::connect_until(&target, settle, POLL).await;
        // Only while the NEW container runs: on a repeated undo the name already answers
        // for the old one, whose position proves nothing.
        if let (Ok(client), None) = (ready, &out.wal_before_undo) {
            match postgres::wal_position(&client).await {
                Ok(wal) => {
                    out.wal_before_undo = Some(wal);
                    cx.save_output(&*out)?;
                }
                Err(e) => cx.log(format!("cannot read the new server's WAL position: {e}")),
            }
        }
    }
    Ok(())
}

/// The old server must hold everything the new one wrote: same cluster, latest checkpoint
/// at or after the last position read from the new one (just before the undo stopped it,
/// else where the writers left it). Journaled when shown; an error when disproved, with the
/// writers still stopped. Without a position there is nothing to show, and the rollback
/// check reads the tables with the writers held back instead.
pub async fn check(
    cx: &StepContext,
    client: &tokio_postgres::Client,
    mut out: RecreateOutput,
) -> Result<(), StepError> {
    let window = cx
        .output_of::<WindowOutput>("start-writers")
        .and_then(|w| w.wal_at_rollback);
    let Some(before) = out.wal_before_undo.clone().or(window) else {
        cx.log("no WAL position of the new server: the data check will hold the writers back");
        return Ok(());
    };
    let resumed = match postgres::resumed_from(client, &before).await {
        Ok(r) => r,
        Err(e) => {
            cx.log(format!(
                "cannot read the control file ({e}): the data check will hold the writers back"
            ));
            return Ok(());
        }
    };
    if let Some(gap) = resumed.gap(&before) {
        return Err(StepError::new(format!(
            "the old postgres did not resume from the data the new one left: {gap}. The \
             writers stay stopped; check which volume {} mounts, then restore the backup \
             with `cutover rollback --disaster --yes`",
            out.plan.name
        )));
    }
    let proof = format!(
        "the old postgres resumed at checkpoint {} of cluster {}, at or after {} where the \
         new one stopped writing: every committed row is there",
        resumed.checkpoint_lsn, resumed.system_identifier, before.lsn
    );
    cx.log(proof.clone());
    out.resumed = Some(proof);
    cx.save_output(&out)?;
    Ok(())
}
