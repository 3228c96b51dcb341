//! Action `vector-extension`: `CREATE EXTENSION vector`, then verify it is installed. Whether
//! it existed before is journaled first, so undo drops it only if cutover created it (and only
//! after the migrations' undo dropped the tables that use it).

use std::sync::Arc;

use anyhow::Context;
use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::meta;
use crate::adapters::postgres;
use crate::engine::{Finish, Step, StepContext, StepError};
use crate::upgrade::env::UpgradeEnv;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct VectorOutput {
    pub preexisting: bool,
    pub version: Option<String>,
}

pub struct VectorExtension {
    pub env: Arc<UpgradeEnv>,
}

#[async_trait]
impl Step for VectorExtension {
    meta!(
        "vector-extension",
        "CREATE EXTENSION vector, verified",
        Action
    );

    fn touches(&self) -> Vec<String> {
        vec![format!(
            "{}: CREATE EXTENSION vector",
            self.env.facts.postgres.container
        )]
    }

    async fn run(&self, cx: &StepContext) -> Result<Finish, StepError> {
        let client = self.env.connect().await?;
        let preexisting = match cx.output::<VectorOutput>() {
            Some(o) => o.preexisting,
            None => postgres::installed_extension(&client, "vector")
                .await
                .context("looking for vector")?
                .is_some(),
        };
        cx.save_output(&VectorOutput {
            preexisting,
            version: None,
        })?;
        let change = postgres::create_extension(&client, "vector")
            .await
            .context("creating the vector extension")?;
        let Some(version) = postgres::installed_extension(&client, "vector")
            .await
            .context("verifying vector")?
        else {
            return Err(StepError::new(
                "CREATE EXTENSION vector succeeded but pg_extension does not list it",
            ));
        };
        cx.log(format!(
            "vector {version} {}",
            if change.created {
                "created"
            } else {
                "was already installed"
            }
        ));
        cx.save_output(&VectorOutput {
            preexisting,
            version: Some(version),
        })?;
        Ok(Finish::Ok)
    }

    async fn undo(&self, cx: &StepContext) -> Result<(), StepError> {
        match cx.output::<VectorOutput>() {
            Some(o) if !o.preexisting => {
                let client = self.env.connect().await?;
                if postgres::drop_extension(&client, "vector", false)
                    .await
                    .context("dropping vector (RESTRICT: tables still using it block this)")?
                {
                    cx.log("dropped vector (created by this upgrade)");
                }
            }
            Some(_) => cx.log("vector existed before the upgrade: kept"),
            None => {}
        }
        Ok(())
    }
}
