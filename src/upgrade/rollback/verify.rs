//! The last database part of the rollback, in `stop-writers`' undo: verify the data, then
//! start the writers again and wait for the backend's health. What is compared, against what,
//! and whether the writers wait for it, is `super::check`'s; this runs it:
//! 1. build the expectation from the journal (a rollback that never reached the database has
//!    none: the writers just start);
//! 2. [`Timing::HoldWriters`]: fingerprint the tables, compare, then start the writers;
//!    [`Timing::Alongside`]: open a snapshot, start the writers, read the snapshot while the
//!    backend comes up, compare, and stop the writers again if the comparison fails;
//! 3. wait for the backend's health and journal it with the check (`StopOutput::rollback_check`).
//!
//! A repeated undo (after a crash) finds the check journaled and only starts the writers.

use anyhow::Context;

use super::check::{self as rollback_check, Timing};
use crate::adapters::fingerprint;
use crate::engine::{StepContext, StepError};
use crate::upgrade::backend_health;
use crate::upgrade::env::UpgradeEnv;
use crate::upgrade::outputs::{SCHEMA, StopOutput};

/// Verifies the data and starts the writers `stop-writers` stopped (`out`, its output); `cx` is
/// its context.
pub async fn run(env: &UpgradeEnv, cx: &StepContext, mut out: StopOutput) -> Result<(), StepError> {
    // Verified once: a repeated undo (after a crash) must not compare against a database
    // the restarted writers have been writing to.
    if out.rollback_check.is_some() {
        start_all(env, cx, &out).await?;
        return wait_backend(env, cx, out).await;
    }
    let exp = match rollback_check::expectation(
        cx,
        out.restarted_before_check,
        env.rollback_check_contents,
    ) {
        Ok(exp) => exp,
        Err(skipped) => {
            out.rollback_check = Some(*skipped);
            cx.save_output(&out)?;
            start_all(env, cx, &out).await?;
            return wait_backend(env, cx, out).await;
        }
    };
    let client = env.connect().await?;
    if exp.timing == Timing::HoldWriters {
        let now_fp = fingerprint::fingerprint_like(&client, SCHEMA, &exp.before)
            .await
            .context("fingerprinting the tables after the rollback")?;
        let check = rollback_check::compare(&exp, &now_fp)?;
        rollback_check::summary(&check)
            .into_iter()
            .for_each(|l| cx.log(l));
        out.rollback_check = Some(check);
        cx.save_output(&out)?;
        start_all(env, cx, &out).await?;
        return wait_backend(env, cx, out).await;
    }
    // Alongside: the snapshot first, then the writers, then read it while they start.
    let snapshot = fingerprint::Snapshot::open(&client, SCHEMA, exp.before.method)
        .await
        .context("opening the snapshot for the rollback check")?;
    out.restarted_before_check = true;
    cx.save_output(&out)?;
    start_all(env, cx, &out).await?;
    let read = async {
        if exp.contents {
            snapshot.fingerprint().await
        } else {
            snapshot.row_counts().await
        }
    };
    let (now_fp, health) = tokio::join!(read, backend_url(env, &out));
    let now_fp = now_fp.context("fingerprinting the tables after the rollback")?;
    let check = match rollback_check::compare(&exp, &now_fp) {
        Ok(check) => check,
        Err(e) => {
            stop_all(env, cx, &out).await?;
            return Err(e);
        }
    };
    rollback_check::summary(&check)
        .into_iter()
        .for_each(|l| cx.log(l));
    out.rollback_check = Some(check);
    cx.save_output(&out)?;
    record_health(cx, out, health?)
}

async fn start_all(env: &UpgradeEnv, cx: &StepContext, out: &StopOutput) -> Result<(), StepError> {
    let docker = env.docker().await?;
    for c in &out.stopped {
        cx.log(format!("starting {c}"));
    }
    docker
        .start_all(&out.stopped)
        .await
        .map_err(|(c, e)| anyhow::Error::new(e).context(format!("starting {c} again")))?;
    Ok(())
}

/// After a failed rollback check that ran alongside them: the writers must not go on
/// writing to a database whose contents are in doubt.
async fn stop_all(env: &UpgradeEnv, cx: &StepContext, out: &StopOutput) -> Result<(), StepError> {
    let docker = env.docker().await?;
    docker
        .stop_all(&out.stopped, env.stop_timeout)
        .await
        .map_err(|(c, e)| {
            anyhow::Error::new(e).context(format!("stopping {c} again after the failed check"))
        })?;
    for c in &out.stopped {
        cx.log(format!("stopped {c} again: the data check failed"));
    }
    Ok(())
}

/// The backend's health URL once healthy, or None when this step did not stop it.
async fn backend_url(env: &UpgradeEnv, out: &StopOutput) -> Result<Option<String>, StepError> {
    let Some(b) = out.backend.clone().filter(|b| out.stopped.contains(b)) else {
        return Ok(None);
    };
    let url = backend_health::wait_healthy(env, &b).await?.map_err(|e| {
        StepError::new(format!(
            "the backend is not healthy {}s after the rollback started it: {e}; the \
                 database is back, look at the backend's logs",
            env.ready_timeout.as_secs()
        ))
    })?;
    Ok(Some(url))
}

async fn wait_backend(
    env: &UpgradeEnv,
    cx: &StepContext,
    out: StopOutput,
) -> Result<(), StepError> {
    let url = backend_url(env, &out).await?;
    record_health(cx, out, url)
}

fn record_health(
    cx: &StepContext,
    mut out: StopOutput,
    url: Option<String>,
) -> Result<(), StepError> {
    let Some(url) = url else {
        return Ok(());
    };
    cx.log(format!("{url} healthy after the rollback"));
    if let Some(c) = out.rollback_check.as_mut() {
        c.backend_healthy_url = Some(url);
        c.healthy_at = Some(chrono::Utc::now());
    }
    cx.save_output(&out)?;
    Ok(())
}
