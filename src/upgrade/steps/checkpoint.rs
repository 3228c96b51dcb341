//! Action `checkpoint`: flush dirty pages before postgres is stopped, so the stop's own
//! shutdown checkpoint is short, and with it the database downtime. Nothing to undo: a
//! checkpoint changes no data.

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
        let t = std::time::Instant::now();
        postgres::checkpoint(&client).await.context("CHECKPOINT")?;
        cx.log(format!("checkpoint took {} ms", t.elapsed().as_millis()));
        Ok(Finish::Ok)
    }

    async fn undo(&self, _cx: &StepContext) -> Result<(), StepError> {
        Ok(())
    }
}
