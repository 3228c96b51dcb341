//! Action `recreate-postgres`: replace the postgres container with one on the target image, on
//! the same data volume, networks, name and settings. The old container is stopped and parked
//! under another name, never removed (that is `cutover finalize`), so undo is fast and lossless:
//! remove the new one, give the old one its name back and start it.
//!
//! Database downtime starts when the stop is issued; the instant is journaled with the plan
//! before the stop, so a resumed run keeps the original figure.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::start_writers::WindowOutput;
use super::{meta, now};
use crate::adapters::docker::RecreatePlan;
use crate::adapters::postgres::{self, WalPosition};
use crate::engine::{Finish, Step, StepContext, StepError};
use crate::upgrade::env::UpgradeEnv;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RecreateOutput {
    pub plan: RecreatePlan,
    /// When the old container's stop was issued: the start of database downtime.
    pub stop_issued_at: DateTime<Utc>,
    /// Fast rollback: the new server's WAL position just before the undo stopped it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wal_before_undo: Option<WalPosition>,
    /// Fast rollback: how the old server was shown to resume where the new one stopped
    /// (`rollback_check` then reads the tables without holding the writers back).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resumed: Option<String>,
}

pub struct RecreatePostgres {
    pub env: Arc<UpgradeEnv>,
}

#[async_trait]
impl Step for RecreatePostgres {
    meta!(
        "recreate-postgres",
        "Recreate postgres on the new image, same volume",
        Action
    );

    fn touches(&self) -> Vec<String> {
        let pg = &self.env.facts.postgres;
        let mut t = vec![
            format!(
                "container {} ({} -> {})",
                pg.container,
                pg.image.as_deref().unwrap_or("?"),
                self.env.target_image
            ),
            format!(
                "old container kept as {}-cutover-old-<id> until `cutover finalize`",
                pg.container
            ),
        ];
        if let Some(v) = &self.env.facts.postgres_volume {
            t.push(format!(
                "volume {}_{v} (reused, not copied)",
                self.env.project
            ));
        }
        t
    }

    async fn check_world(&self, cx: &StepContext) -> Result<(), StepError> {
        crate::upgrade::world::as_recreated(&self.env, cx).await
    }

    async fn run(&self, cx: &StepContext) -> Result<Finish, StepError> {
        let docker = self.env.docker().await?;
        let out = match cx.output::<RecreateOutput>() {
            Some(o) => o,
            None => {
                let name = self.env.postgres_container().await?;
                let plan = docker
                    .plan_recreate(&name, &self.env.target_image)
                    .await
                    .context("planning the recreate")?;
                let o = RecreateOutput {
                    plan,
                    stop_issued_at: now(),
                    wal_before_undo: None,
                    resumed: None,
                };
                cx.save_output(&o)?;
                o
            }
        };
        let plan = &out.plan;
        cx.log(format!("stopping {} ({})", plan.name, plan.old_image));
        docker
            .stop_old(plan, self.env.stop_timeout)
            .await
            .context("stopping the old postgres")?;
        docker
            .rename_old(plan)
            .await
            .context("parking the old container")?;
        cx.log(format!("old container parked as {}", plan.old_kept_name));
        let id = docker
            .create_new(plan)
            .await
            .context("creating the new container")?;
        docker
            .start_new(plan)
            .await
            .context("starting the new container")?;
        cx.log(format!(
            "{} started on {} ({})",
            plan.name,
            plan.new_image,
            &id[..id.len().min(12)]
        ));
        Ok(Finish::Ok)
    }

    async fn undo(&self, cx: &StepContext) -> Result<(), StepError> {
        let Some(out) = cx.output::<RecreateOutput>() else {
            if cx.disaster_rollback() {
                return Err(StepError::new(
                    "postgres was never recreated in this run, so cutover did not touch its \
                     database: there is nothing to restore. Use `cutover rollback --yes`",
                ));
            }
            cx.log("postgres was not touched");
            return Ok(());
        };
        if cx.disaster_rollback() {
            return crate::upgrade::disaster::restore_backup(&self.env, cx, &out).await;
        }
        let mut out = out;
        let docker = self.env.docker().await?;
        // A replacement stopped while its entrypoint is still starting ignores the stop signal
        // (a shell as PID 1) and costs the whole stop timeout (30 s measured after a crash
        // right after the start): let it reach readiness first, bounded, then stop it.
        if docker
            .recreate_state(&out.plan)
            .await
            .is_ok_and(|s| s.new_running)
            && let Ok(target) = self.env.pg_target().await
        {
            let settle = Duration::from_secs(15);
            let ready = postgres::connect_until(&target, settle, POLL).await;
            // Only while the NEW container runs: on a repeated undo the name already answers
            // for the old one, whose position proves nothing.
            if let (Ok(client), None) = (ready, &out.wal_before_undo) {
                match postgres::wal_position(&client).await {
                    Ok(wal) => {
                        out.wal_before_undo = Some(wal);
                        cx.save_output(&out)?;
                    }
                    Err(e) => cx.log(format!("cannot read the new server's WAL position: {e}")),
                }
            }
        }
        docker
            .restore_old(&out.plan, self.env.stop_timeout)
            .await
            .context("restoring the old postgres container")?;
        cx.log(format!(
            "{} is the old container again ({})",
            out.plan.name, out.plan.old_image
        ));
        // The writers start right after this undo: let them find a database that answers.
        if out.plan.old_was_running {
            let target = self.env.pg_target().await?;
            let client = postgres::connect_until(&target, self.env.ready_timeout, POLL)
                .await
                .context("waiting for the restored postgres to accept connections")?;
            cx.log("the restored postgres accepts connections");
            self.check_resumed(cx, &client, out).await?;
            crate::upgrade::rollback_collation::repair(&self.env, cx).await?;
        }
        Ok(())
    }
}

/// Readiness polls: a refused connection costs nothing, and each poll saved is downtime saved.
const POLL: Duration = Duration::from_millis(50);

impl RecreatePostgres {
    /// The old server must hold everything the new one wrote: same cluster, latest checkpoint
    /// at or after the last position read from the new one (just before this undo stopped it,
    /// else where the writers left it). Journaled when shown; an error when disproved, with the
    /// writers still stopped. Without a position there is nothing to show, and the rollback
    /// check reads the tables with the writers held back instead.
    async fn check_resumed(
        &self,
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
}
