//! Action `start-writers`: start again the containers `stop-writers` stopped, and only those.
//! Undo stops them again (a later step failed and the rollback is heading back to the old
//! database: they must not write to the new one meanwhile), then records where they left the
//! new server (`crate::upgrade::rollback::window`).

use std::sync::Arc;

use async_trait::async_trait;

use super::{earlier, meta};
use crate::engine::{Finish, Step, StepContext, StepError};
use crate::upgrade::env::UpgradeEnv;
use crate::upgrade::outputs::StopOutput;

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
        docker
            .start_all(&s.stopped)
            .await
            .map_err(|(c, e)| anyhow::Error::new(e).context(format!("starting {c}")))?;
        for c in &s.stopped {
            cx.log(format!("started {c}"));
        }
        Ok(Finish::Ok)
    }

    async fn undo(&self, cx: &StepContext) -> Result<(), StepError> {
        let Some(s) = cx.output_of::<StopOutput>("stop-writers") else {
            return Ok(());
        };
        let docker = self.env.docker().await?;
        docker
            .stop_all(&s.stopped, self.env.stop_timeout)
            .await
            .map_err(|(c, e)| anyhow::Error::new(e).context(format!("stopping {c} again")))?;
        for c in &s.stopped {
            cx.log(format!("stopped {c} again"));
        }
        crate::upgrade::rollback::window::record(&self.env, cx).await
    }
}
