//! Action `start-writers`: start again the containers `stop-writers` stopped, and only those.
//! Undo stops them again (a later step failed and the rollback is heading back to the old
//! database: they must not write to the new one meanwhile).

use std::sync::Arc;

use anyhow::Context;
use async_trait::async_trait;

use super::stop_writers::StopOutput;
use super::{earlier, meta};
use crate::engine::{Finish, Step, StepContext, StepError};
use crate::upgrade::env::UpgradeEnv;

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
        Ok(())
    }
}
