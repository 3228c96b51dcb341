//! Check `engine`: the Docker engine answers (API version negotiated), and which Compose tool
//! this machine has (v2 `docker compose` or v1 `docker-compose`), for the compose-file check.

use std::sync::Arc;

use async_trait::async_trait;

use super::meta;
use crate::engine::{Finish, Step, StepContext, StepError};
use crate::upgrade::env::UpgradeEnv;
use crate::upgrade::outputs::EngineOutput;
use crate::upgrade::tool;

pub struct EngineReachable {
    pub env: Arc<UpgradeEnv>,
}

#[async_trait]
impl Step for EngineReachable {
    meta!("engine", "Docker engine is reachable", Check);

    fn touches(&self) -> Vec<String> {
        vec!["the Docker engine (DOCKER_HOST or /var/run/docker.sock)".into()]
    }

    async fn run(&self, cx: &StepContext) -> Result<Finish, StepError> {
        let docker = self.env.docker().await?;
        let api_version = docker.api_version();
        cx.log(format!("engine API {api_version}"));
        let compose_tool = tool::detect(&self.env.compose_command)
            .await
            .map_err(StepError::new)?;
        let out = EngineOutput {
            api_version,
            compose_tool: compose_tool.as_ref().map(|t| t.words.clone()),
            compose_version: compose_tool.as_ref().map(|t| t.version.clone()),
        };
        cx.save_output(&out)?;
        Ok(match compose_tool {
            Some(t) => {
                cx.log(format!(
                    "compose tool: {} (version {})",
                    t.command_line(),
                    t.version
                ));
                Finish::Ok
            }
            None => Finish::Warning(
                "no Compose tool found (neither `docker compose` nor `docker-compose`): the edited \
                 compose file is checked by cutover's own reader only"
                    .into(),
            ),
        })
    }
}
