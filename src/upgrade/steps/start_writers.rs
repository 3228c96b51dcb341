//! Action `start-writers`: start again the containers `stop-writers` stopped, and only those.
//! Undo stops them again (a later step failed and the rollback is heading back to the old
//! database: they must not write to the new one meanwhile), then fingerprints the tables: what
//! the writers added while the upgrade stood is what the fast rollback must keep
//! (`crate::upgrade::rollback_check`).

use std::sync::Arc;

use anyhow::Context;
use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::backup::{BackupOutput, SCHEMA};
use super::stop_writers::StopOutput;
use super::{earlier, meta};
use crate::adapters::fingerprint::{self, Fingerprint};
use crate::engine::{Finish, Step, StepContext, StepError};
use crate::upgrade::env::UpgradeEnv;

/// Saved by the undo only: the tables as the writers left them when the rollback stopped them.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WindowOutput {
    pub fingerprint_at_rollback: Option<Fingerprint>,
}

pub struct StartWriters {
    pub env: Arc<UpgradeEnv>,
}

#[async_trait]
impl Step for StartWriters {
    meta!("start-writers", "Start the writers again", Action);

    fn touches(&self) -> Vec<String> {
        self.env
            .facts
            .writers
            .iter()
            .map(|w| format!("container {} (start)", w.container))
            .collect()
    }

    async fn run(&self, cx: &StepContext) -> Result<Finish, StepError> {
        let s: StopOutput = earlier(cx, "stop-writers")?;
        let docker = self.env.docker().await?;
        for c in &s.stopped {
            docker
                .start(c)
                .await
                .with_context(|| format!("starting {c}"))?;
            cx.log(format!("started {c}"));
        }
        Ok(Finish::Ok)
    }

    async fn undo(&self, cx: &StepContext) -> Result<(), StepError> {
        let Some(s) = cx.output_of::<StopOutput>("stop-writers") else {
            return Ok(());
        };
        let docker = self.env.docker().await?;
        for c in &s.stopped {
            docker
                .stop(c, self.env.stop_timeout)
                .await
                .with_context(|| format!("stopping {c} again"))?;
            cx.log(format!("stopped {c} again"));
        }
        // A repeated undo (after a crash) must keep the first fingerprint: later ones would
        // miss nothing, but the first is the one taken right at the stop.
        if cx.output::<WindowOutput>().is_some() {
            return Ok(());
        }
        // By the pre-upgrade fingerprint's method: the rollback check compares the two.
        let method_of = cx
            .output_of::<BackupOutput>("backup")
            .map(|b| b.fingerprint_before)
            .unwrap_or_default();
        let fp = match self.env.connect().await {
            Ok(client) => fingerprint::fingerprint_like(&client, SCHEMA, &method_of).await,
            Err(e) => Err(e),
        };
        match fp {
            Ok(fp) => cx.save_output(&WindowOutput {
                fingerprint_at_rollback: Some(fp),
            })?,
            // The disaster path does not need it (the backup is the truth); the fast one does.
            Err(e) if cx.disaster_rollback() => {
                cx.log(format!("cannot fingerprint the untrusted database: {e:#}"))
            }
            Err(e) => {
                return Err(StepError::from_anyhow(
                    &e.context("fingerprinting the tables the writers left"),
                ));
            }
        }
        Ok(())
    }
}
