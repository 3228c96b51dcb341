//! Action `stop-writers`: stop every container that writes to the database (backend,
//! celery-worker, the configured extras) BEFORE the final backup, then wait until no client
//! session is left. The guide backs up first and stops later, so writes in between are lost on
//! rollback (DESIGN.md defect 1). Application downtime starts when the backend's stop is issued.
//!
//! Undo starts again exactly the containers this step stopped (those that were running). When
//! it runs as part of a rollback that reached the database, it verifies the data as it was
//! before they start (holding them back, or from a snapshot taken first) and the backend's
//! health: see `crate::upgrade::rollback::check`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use async_trait::async_trait;

use super::sessions::Holders;
use super::{earlier, meta, now};
use crate::adapters::{fingerprint, postgres};
use crate::engine::{Finish, Step, StepContext, StepError};
use crate::upgrade::backend_health;
use crate::upgrade::env::UpgradeEnv;
use crate::upgrade::outputs::{Discovery, SCHEMA, StopOutput};
use crate::upgrade::rollback::check::{self as rollback_check, Timing};

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
        let Some(mut out) = cx.output::<StopOutput>() else {
            cx.log("nothing was stopped");
            return Ok(());
        };
        // Verified once: a repeated undo (after a crash) must not compare against a database
        // the restarted writers have been writing to.
        if out.rollback_check.is_some() {
            self.start_all(cx, &out).await?;
            return self.wait_backend(cx, out).await;
        }
        let exp = match rollback_check::expectation(
            cx,
            out.restarted_before_check,
            self.env.rollback_check_contents,
        ) {
            Ok(exp) => exp,
            Err(skipped) => {
                out.rollback_check = Some(*skipped);
                cx.save_output(&out)?;
                self.start_all(cx, &out).await?;
                return self.wait_backend(cx, out).await;
            }
        };
        let client = self.env.connect().await?;
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
            self.start_all(cx, &out).await?;
            return self.wait_backend(cx, out).await;
        }
        // Alongside: the snapshot first, then the writers, then read it while they start.
        let snapshot = fingerprint::Snapshot::open(&client, SCHEMA, exp.before.method)
            .await
            .context("opening the snapshot for the rollback check")?;
        out.restarted_before_check = true;
        cx.save_output(&out)?;
        self.start_all(cx, &out).await?;
        let read = async {
            if exp.contents {
                snapshot.fingerprint().await
            } else {
                snapshot.row_counts().await
            }
        };
        let (now_fp, health) = tokio::join!(read, self.backend_url(&out));
        let now_fp = now_fp.context("fingerprinting the tables after the rollback")?;
        let check = match rollback_check::compare(&exp, &now_fp) {
            Ok(check) => check,
            Err(e) => {
                self.stop_all(cx, &out).await?;
                return Err(e);
            }
        };
        rollback_check::summary(&check)
            .into_iter()
            .for_each(|l| cx.log(l));
        out.rollback_check = Some(check);
        cx.save_output(&out)?;
        self.record_health(cx, out, health?)
    }
}

impl StopWriters {
    async fn start_all(&self, cx: &StepContext, out: &StopOutput) -> Result<(), StepError> {
        let docker = self.env.docker().await?;
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
    async fn stop_all(&self, cx: &StepContext, out: &StopOutput) -> Result<(), StepError> {
        let docker = self.env.docker().await?;
        docker
            .stop_all(&out.stopped, self.env.stop_timeout)
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
    async fn backend_url(&self, out: &StopOutput) -> Result<Option<String>, StepError> {
        let Some(b) = out.backend.clone().filter(|b| out.stopped.contains(b)) else {
            return Ok(None);
        };
        let url = backend_health::wait_healthy(&self.env, &b)
            .await?
            .map_err(|e| {
                StepError::new(format!(
                    "the backend is not healthy {}s after the rollback started it: {e}; the \
                     database is back, look at the backend's logs",
                    self.env.ready_timeout.as_secs()
                ))
            })?;
        Ok(Some(url))
    }

    async fn wait_backend(&self, cx: &StepContext, out: StopOutput) -> Result<(), StepError> {
        let url = self.backend_url(&out).await?;
        self.record_health(cx, out, url)
    }

    fn record_health(
        &self,
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
            c.healthy_at = Some(now());
        }
        cx.save_output(&out)?;
        Ok(())
    }

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
