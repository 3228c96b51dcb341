//! Action `recreate-postgres`: replace the postgres container with one on the target image, on
//! the same data volume. The old container's configuration is journaled and its image tagged
//! (kept until `cutover finalize`); once stopped it is replaced by a parked placeholder that
//! Compose does not see and that refuses to start (see adapters/docker/recreate/park.rs). The
//! Compose tool then creates the new container from the edited file (`up -d --no-deps
//! --no-build`), after a check that no running container mounts the data volume, so the
//! operator's own `docker compose up -d` later finds nothing to change. Undo is fast and
//! lossless: remove the new one, re-create the old one from the journal, start it.
//!
//! Database downtime starts when the stop is issued; the instant is journaled with the plan
//! before the stop, so a resumed run keeps the original figure.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use async_trait::async_trait;

use super::{meta, now};
use crate::adapters::postgres;
use crate::engine::{Finish, Step, StepContext, StepError};
use crate::upgrade::compose_up;
use crate::upgrade::env::UpgradeEnv;
use crate::upgrade::outputs::{EngineOutput, RecreateOutput};
use crate::upgrade::rollback;

/// `cutover-keep/<project>:<run>`, in the characters a Docker reference allows.
pub fn keep_tag(project: &str, run_dir: &std::path::Path) -> String {
    let clean = |s: &str, extra: &[char]| -> String {
        s.chars()
            .map(|c| c.to_ascii_lowercase())
            .map(|c| {
                if c.is_ascii_alphanumeric() || extra.contains(&c) {
                    c
                } else {
                    '-'
                }
            })
            .collect::<String>()
            .trim_matches(|c: char| !c.is_ascii_alphanumeric())
            .to_string()
    };
    let run = run_dir
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    let mut tag = clean(&run, &['_', '.', '-']);
    tag.truncate(128);
    if tag.is_empty() {
        tag = "run".into();
    }
    let mut repo = clean(project, &['_', '.', '-']);
    if repo.is_empty() {
        repo = "stack".into();
    }
    format!("cutover-keep/{repo}:{tag}")
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
                "old container's configuration journaled; the container parked as \
                 {}-cutover-old-<id> (no Compose labels, restart policy no, refuses to start)",
                pg.container
            ),
            format!(
                "old image kept as cutover-keep/{}:<run> until `cutover finalize`",
                self.env.project
            ),
            format!(
                "new container created by `compose up -d --no-deps --no-build {}`, after a \
                 check that no running container mounts the data volume",
                self.env.postgres_service
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
        // Checked before anything stops: without the tool the new container cannot be made.
        let tool = compose_up::required(
            cx.output_of::<EngineOutput>("engine")
                .and_then(|e| e.compose_tool),
        )?;
        let out = match cx.output::<RecreateOutput>() {
            Some(o) => o,
            None => {
                let name = self.env.postgres_container().await?;
                let mut plan = docker
                    .plan_recreate(&name, &self.env.target_image)
                    .await
                    .context("planning the recreate")?;
                plan.keep_tag = Some(keep_tag(&self.env.project, cx.run_dir()));
                let o = RecreateOutput {
                    plan,
                    stop_issued_at: now(),
                    wal_before_undo: None,
                    resumed: None,
                    disaster: None,
                    volume_check: None,
                    fingerprint_at_start: None,
                    volume_swap: None,
                };
                // Journaled before anything changes: the old container's configuration is
                // what the fast rollback re-creates it from.
                cx.save_output(&o)?;
                o
            }
        };
        let mut out = out;
        let plan = out.plan.clone();
        docker
            .keep_old_image(&plan)
            .await
            .context("keeping the old image")?;
        if let Some(t) = &plan.keep_tag {
            cx.log(format!("old image kept as {t} until `cutover finalize`"));
        }
        cx.log(format!("stopping {} ({})", plan.name, plan.old_image));
        docker
            .stop_old(&plan, self.env.stop_timeout)
            .await
            .context("stopping the old postgres")?;
        docker
            .park_old(&plan)
            .await
            .context("parking the old container")?;
        cx.log(format!(
            "old container parked as {} (no Compose labels, restart policy no; it refuses to              start)",
            plan.old_kept_name
        ));
        docker
            .guard_single_server(&plan, &[])
            .await
            .context("checking the data volume")?;
        let checked = format!(
            "no running container mounts {} before the new server starts",
            plan.data_volumes.join(", ")
        );
        cx.log(checked.clone());
        out.volume_check = Some(checked);
        cx.save_output(&out)?;
        let said = compose_up::up_service(
            &tool,
            &self.env.facts.compose_files,
            &self.env.project,
            &self.env.postgres_service,
        )
        .await
        .context("creating the new postgres with Compose")?;
        for l in said.lines().filter(|l| !l.trim().is_empty()) {
            cx.log(l.to_string());
        }
        let state = docker
            .recreate_state(&plan)
            .await
            .context("finding the new postgres container")?;
        let Some(id) = state.new_id else {
            return Err(StepError::new(format!(
                "Compose reported success but service {} has no container on {}",
                self.env.postgres_service, plan.new_image
            )));
        };
        if !state.new_running {
            // Not a failure of this step: postgres-ready waits for the server and names why it
            // is down, and its failure undoes this (completed) step.
            cx.log(format!(
                "the new container {} is not running: postgres-ready will tell why",
                &id[..id.len().min(12)]
            ));
        }
        cx.log(format!(
            "{} started on {} by Compose ({})",
            plan.name,
            plan.new_image,
            &id[..id.len().min(12)]
        ));
        Ok(Finish::Ok)
    }

    async fn undo(&self, cx: &StepContext) -> Result<(), StepError> {
        let mut out = cx.output::<RecreateOutput>();
        if let Some(o) = out.as_mut() {
            rollback::stop_state::read_held(&self.env, cx, o).await?;
        }
        if cx.disaster_rollback() {
            rollback::disaster::run(&self.env, cx, out.as_ref()).await?;
            // The other databases of the cluster were not restored: their indexes may be in
            // the new server's order. Not after a volume swap: every file is the old server's.
            let now = cx.output::<RecreateOutput>();
            let swapped = now
                .as_ref()
                .is_some_and(|o| o.volume_swap.as_ref().is_some_and(|s| s.verified));
            let aside = now.and_then(|o| o.disaster).map(|s| s.aside);
            if out.is_some() && !swapped {
                rollback::collation::repair_after_restore(&self.env, cx, aside.as_deref()).await?;
            }
            return Ok(());
        }
        let Some(mut out) = out else {
            cx.log("postgres was not touched");
            return Ok(());
        };
        rollback::resume_proof::note_new_position(&self.env, cx, &mut out).await?;
        let docker = self.env.docker().await?;
        let parked = docker.parked(&out.plan).await.ok().flatten().is_some();
        let original = docker
            .try_inspect(&out.plan.old_id)
            .await
            .ok()
            .flatten()
            .is_some();
        let id = docker
            .restore_old(&out.plan, self.env.stop_timeout)
            .await
            .context("restoring the old postgres container")?;
        let how = if original {
            "the original container"
        } else if parked {
            "re-created from the journal"
        } else {
            "re-created from the journal; the parked copy was gone"
        };
        cx.log(format!(
            "{} is the old container again ({}, {how}, {}); no other running container mounts \
             its data volume",
            out.plan.name,
            out.plan.old_image,
            &id[..id.len().min(12)]
        ));
        // The writers start right after this undo: let them find a database that answers.
        if out.plan.old_was_running {
            let target = self.env.pg_target().await?;
            let client = postgres::connect_until(&target, self.env.ready_timeout, POLL)
                .await
                .context("waiting for the restored postgres to accept connections")?;
            cx.log("the restored postgres accepts connections");
            rollback::resume_proof::check(cx, &client, out).await?;
            rollback::collation::repair(&self.env, cx).await?;
        }
        Ok(())
    }
}

/// Readiness polls: a refused connection costs nothing, and each poll saved is downtime saved.
const POLL: Duration = Duration::from_millis(50);
