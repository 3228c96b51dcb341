//! Inspecting containers: the full engine view (bollard's type, for recreate) and a small
//! serializable summary (for steps, events and the report).

use bollard::models::{ContainerInspectResponse, HealthStatusEnum};
use bollard::query_parameters::InspectContainerOptions;
use serde::{Deserialize, Serialize};

use super::connect::DockerClient;
use super::error::{DockerError, Result, status_of};

/// Health as the engine reports it; `None` when the container has no healthcheck.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Health {
    None,
    Starting,
    Healthy,
    Unhealthy,
}

/// What steps need to know about a container's current state.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct ContainerStatus {
    pub id: String,
    pub name: String,
    pub image: String,
    pub image_id: String,
    pub running: bool,
    pub status: String,
    pub health: Health,
    pub exit_code: Option<i64>,
    pub started_at: Option<String>,
}

impl DockerClient {
    /// Full inspect; `NotFound` when no container has that name or id.
    pub async fn inspect(&self, name: &str) -> Result<ContainerInspectResponse> {
        self.try_inspect(name)
            .await?
            .ok_or_else(|| DockerError::NotFound {
                kind: "container",
                name: name.to_string(),
            })
    }

    /// Full inspect, `None` when absent (for idempotent steps that tolerate missing work).
    pub async fn try_inspect(&self, name: &str) -> Result<Option<ContainerInspectResponse>> {
        match self
            .docker
            .inspect_container(name, None::<InspectContainerOptions>)
            .await
        {
            Ok(c) => {
                // Every environment cutover reads may hold a secret that later shows up in a log
                // line, an error or a URL: remember its values so they are hidden everywhere.
                if let Some(env) = c.config.as_ref().and_then(|c| c.env.as_ref()) {
                    crate::secrets::register_env(env);
                }
                Ok(Some(c))
            }
            Err(e) if status_of(&e) == Some(404) => Ok(None),
            Err(e) => Err(DockerError::api(format!("inspect container {name}"), e)),
        }
    }

    /// The serializable summary of `name`.
    pub async fn status(&self, name: &str) -> Result<ContainerStatus> {
        Ok(status_of_inspect(&self.inspect(name).await?))
    }
}

/// Summarises an inspect response.
pub fn status_of_inspect(c: &ContainerInspectResponse) -> ContainerStatus {
    let state = c.state.clone().unwrap_or_default();
    let health = match state.health.as_ref().and_then(|h| h.status) {
        Some(HealthStatusEnum::STARTING) => Health::Starting,
        Some(HealthStatusEnum::HEALTHY) => Health::Healthy,
        Some(HealthStatusEnum::UNHEALTHY) => Health::Unhealthy,
        _ => Health::None,
    };
    ContainerStatus {
        id: c.id.clone().unwrap_or_default(),
        name: c
            .name
            .clone()
            .unwrap_or_default()
            .trim_start_matches('/')
            .to_string(),
        image: c
            .config
            .as_ref()
            .and_then(|cfg| cfg.image.clone())
            .unwrap_or_default(),
        image_id: c.image.clone().unwrap_or_default(),
        running: state.running.unwrap_or(false),
        status: state.status.map(|s| s.to_string()).unwrap_or_default(),
        health,
        exit_code: state.exit_code,
        started_at: state.started_at,
    }
}
