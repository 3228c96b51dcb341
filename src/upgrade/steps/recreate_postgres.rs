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

use super::{meta, now};
use crate::adapters::docker::RecreatePlan;
use crate::adapters::postgres;
use crate::engine::{Finish, Step, StepContext, StepError};
use crate::upgrade::env::UpgradeEnv;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RecreateOutput {
    pub plan: RecreatePlan,
    /// When the old container's stop was issued: the start of database downtime.
    pub stop_issued_at: DateTime<Utc>,
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
            cx.log("postgres was not touched");
            return Ok(());
        };
        let docker = self.env.docker().await?;
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
            postgres::connect_until(&target, self.env.ready_timeout, Duration::from_millis(250))
                .await
                .context("waiting for the restored postgres to accept connections")?;
            cx.log("the restored postgres accepts connections");
        }
        Ok(())
    }
}
