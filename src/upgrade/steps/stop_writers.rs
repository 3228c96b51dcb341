//! Action `stop-writers`: stop every container that writes to the database (backend,
//! celery-worker, the configured extras) BEFORE the final backup, then wait until no client
//! session is left. The guide backs up first and stops later, so writes in between are lost on
//! rollback (DESIGN.md defect 1). Application downtime starts when the backend's stop is issued.
//!
//! Undo starts again exactly the containers this step stopped (those that were running). When
//! it runs as part of a rollback that reached the database, it verifies the data as it was
//! before they start (holding them back, or from a snapshot taken first) and the backend's
//! health: see `crate::upgrade::rollback::verify`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use async_trait::async_trait;

use super::sessions::Holders;
use super::{earlier, meta, now};
use crate::adapters::postgres;
use crate::engine::{Finish, Step, StepContext, StepError};
use crate::upgrade::env::UpgradeEnv;
use crate::upgrade::outputs::{Discovery, StopOutput};
use crate::upgrade::rollback;

/// How long sessions may take to end after their containers stopped.
const DRAIN: Duration = Duration::from_secs(15);

pub struct StopWriters {
    pub env: Arc<UpgradeEnv>,
}

#[async_trait]
impl Step for StopWriters {
    meta!(
        "stop-writers",
        "Stop every writer, then wait for their sessions to end",
        Action
    );

    fn touches(&self) -> Vec<String> {
        self.env
            .facts
            .writers
            .iter()
            .map(|w| format!("container {} (stop)", w.container))
            .collect()
    }

    async fn run(&self, cx: &StepContext) -> Result<Finish, StepError> {
        let docker = self.env.docker().await?;
        // On resume the list is the journaled one: the containers are stopped by now, and
        // recomputing it would forget them.
        let out = match cx.output::<StopOutput>() {
            Some(o) => o,
            None => {
                let d: Discovery = earlier(cx, "discover")?;
                let mut stopped = Vec::new();
                for w in &d.writers {
                    let st = docker.status(&w.container).await.context("writer status")?;
                    if st.running {
                        stopped.push(w.container.clone());
                    } else {
                        cx.log(format!("{} is not running: left alone", w.container));
                    }
                }
                let backend = d
                    .writers
                    .iter()
                    .find(|w| w.service == self.env.backend_service)
                    .map(|w| w.container.clone());
                let o = StopOutput {
                    stopped,
                    backend,
                    stop_issued_at: now(),
                    rollback_check: None,
                    restarted_before_check: false,
                };
                cx.save_output(&o)?;
                o
            }
        };
        for c in &out.stopped {
            cx.log(format!("stopping {c}"));
        }
        docker
            .stop_all(&out.stopped, self.env.stop_timeout)
            .await
            .map_err(|(c, e)| anyhow::Error::new(e).context(format!("stopping {c}")))?;
        self.wait_drained(cx).await?;
        Ok(Finish::Ok)
    }

    async fn undo(&self, cx: &StepContext) -> Result<(), StepError> {
        let Some(out) = cx.output::<StopOutput>() else {
            cx.log("nothing was stopped");
            return Ok(());
        };
        rollback::verify::run(&self.env, cx, out).await
    }
}

impl StopWriters {
    /// Polls `pg_stat_activity` until no client session but ours is left.
    async fn wait_drained(&self, cx: &StepContext) -> Result<(), StepError> {
        let client = self.env.connect().await?;
        let start = Instant::now();
        loop {
            let sessions = postgres::list_sessions(&client)
                .await
                .context("listing sessions")?;
            if sessions.is_empty() {
                cx.log(format!(
                    "no client session left ({:.1}s)",
                    start.elapsed().as_secs_f64()
                ));
                return Ok(());
            }
            if start.elapsed() > DRAIN {
                let book = self.env.address_book().await?;
                let h = Holders::classify(&sessions, &book, &[]);
                return Err(StepError {
                    message: format!(
                        "{} session(s) still open {}s after the writers stopped; stop what holds \
                         them (or add its service to extra_writer_services) and run again",
                        sessions.len(),
                        DRAIN.as_secs()
                    ),
                    causes: h.lines(),
                });
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
}
