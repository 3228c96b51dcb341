//! Action `checkpoint`: flush dirty pages before postgres is stopped, so the stop's own
//! shutdown checkpoint is short, and with it the database downtime. Nothing to undo: a
//! checkpoint changes no data. It refuses first if any client but cutover is connected (a
//! writer that came back after `stop-writers`).

use std::sync::Arc;

use anyhow::Context;
use async_trait::async_trait;

use super::meta;
use crate::adapters::postgres;
use crate::engine::{Finish, Step, StepContext, StepError};
use crate::upgrade::env::UpgradeEnv;

pub struct Checkpoint {
    pub env: Arc<UpgradeEnv>,
}

#[async_trait]
impl Step for Checkpoint {
    meta!("checkpoint", "CHECKPOINT before stopping postgres", Action);

    fn touches(&self) -> Vec<String> {
        vec![format!("{}: CHECKPOINT", self.env.facts.postgres.container)]
    }

    async fn run(&self, cx: &StepContext) -> Result<Finish, StepError> {
        let client = self.env.connect().await?;
        // Last look before postgres is stopped: the old container must still hold exactly the
        // backed-up data for a lossless rollback.
        super::sessions::refuse_late_clients(&self.env, &client, "before postgres was stopped")
            .await?;
        let t = std::time::Instant::now();
        postgres::checkpoint(&client).await.context("CHECKPOINT")?;
        cx.log(format!("checkpoint took {} ms", t.elapsed().as_millis()));
        Ok(Finish::Ok)
    }

    async fn undo(&self, _cx: &StepContext) -> Result<(), StepError> {
        Ok(())
    }
}
