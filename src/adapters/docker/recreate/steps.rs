//! The recreate steps. Each one first looks at what exists, does only what is missing, and
//! returns success when it finds its work already done, so the runner can repeat any of them
//! after a crash.

use std::time::Duration;

use bollard::models::NetworkConnectRequest;
use bollard::query_parameters::CreateContainerOptionsBuilder;
use serde::{Deserialize, Serialize};

use super::super::connect::DockerClient;
use super::super::error::{DockerError, Result};
use super::super::labels;
use super::plan::RecreatePlan;

/// Where a recreate stands, as observed on the engine.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct RecreateState {
    /// The old container's current name; `None` if it no longer exists.
    pub old_name: Option<String>,
    pub old_running: bool,
    /// The replacement's id, if created.
    pub new_id: Option<String>,
    pub new_running: bool,
}

impl DockerClient {
    /// Observes the engine for `plan`.
    pub async fn recreate_state(&self, plan: &RecreatePlan) -> Result<RecreateState> {
        let old = self.try_inspect(&plan.old_id).await?;
        let new = self.replacement_of(plan).await?;
        Ok(RecreateState {
            old_name: old
                .as_ref()
                .and_then(|c| c.name.clone())
                .map(|n| n.trim_start_matches('/').to_string()),
            old_running: running(&old),
            new_id: new.as_ref().and_then(|c| c.id.clone()),
            new_running: running(&new),
        })
    }

    /// Stops the old container (by id). Already stopped is fine.
    pub async fn stop_old(&self, plan: &RecreatePlan, timeout: Duration) -> Result<()> {
        self.stop(&plan.old_id, timeout).await
    }

    /// Parks the old container under `plan.old_kept_name`.
    pub async fn rename_old(&self, plan: &RecreatePlan) -> Result<()> {
        let old = self.inspect(&plan.old_id).await?;
        if name_of(&old) == plan.old_kept_name {
            return Ok(());
        }
        self.rename(&plan.old_id, &plan.old_kept_name).await
    }

    /// Creates the replacement under the service's name; returns its id. Finding it already
    /// created (our label, not the old container) returns that id.
    pub async fn create_new(&self, plan: &RecreatePlan) -> Result<String> {
        if let Some(c) = self.try_inspect(&plan.name).await? {
            let id = c.id.clone().unwrap_or_default();
            if id == plan.old_id {
                return Err(DockerError::Invalid(format!(
                    "{} is still the old container; run rename_old first",
                    plan.name
                )));
            }
            if is_replacement(&c, plan) {
                let joined: Vec<String> = c
                    .network_settings
                    .and_then(|n| n.networks)
                    .map(|n| n.into_keys().collect())
                    .unwrap_or_default();
                self.connect_extra_networks(&id, plan, &joined).await?;
                return Ok(id);
            }
            return Err(DockerError::Invalid(format!(
                "a container named {} exists that cutover did not create (id {}); remove or \
                 rename it, then retry",
                plan.name,
                &id[..id.len().min(12)]
            )));
        }
        let mut body = plan.create.clone();
        body.env = Some(self.unmask_env(plan).await?);
        let opts = CreateContainerOptionsBuilder::default()
            .name(&plan.name)
            .build();
        let created = self
            .docker
            .create_container(Some(opts), body)
            .await
            .map_err(|e| {
                DockerError::api(format!("create {} on {}", plan.name, plan.new_image), e)
            })?;
        self.connect_extra_networks(&created.id, plan, &[]).await?;
        Ok(created.id)
    }

    /// Connects the replacement to the plan's other networks it is not on yet.
    async fn connect_extra_networks(
        &self,
        id: &str,
        plan: &RecreatePlan,
        joined: &[String],
    ) -> Result<()> {
        for (net, ep) in &plan.extra_networks {
            if joined.contains(net) {
                continue;
            }
            let req = NetworkConnectRequest {
                container: id.to_string(),
                endpoint_config: Some(ep.clone()),
            };
            self.docker.connect_network(net, req).await.map_err(|e| {
                DockerError::api(format!("connect {} to network {net}", plan.name), e)
            })?;
        }
        Ok(())
    }

    /// Starts the replacement.
    pub async fn start_new(&self, plan: &RecreatePlan) -> Result<()> {
        let c = self.replacement_of(plan).await?.ok_or_else(|| {
            DockerError::Invalid(format!(
                "no replacement for {} exists; run create_new",
                plan.name
            ))
        })?;
        self.start(c.id.as_deref().unwrap_or_default()).await
    }

    /// The inverse of the whole recreate: removes the replacement (if any), gives the old
    /// container its name back and starts it if it was running before. Safe to repeat.
    pub async fn restore_old(&self, plan: &RecreatePlan, stop_timeout: Duration) -> Result<()> {
        if let Some(new) = self.replacement_of(plan).await? {
            let id = new.id.unwrap_or_default();
            self.stop(&id, stop_timeout).await?;
            self.remove(&id, false).await?;
        }
        let old = self.inspect(&plan.old_id).await.map_err(|e| match e {
            DockerError::NotFound { .. } => DockerError::Invalid(format!(
                "the old container {} ({}) is gone: it was finalized or removed by hand, so it \
                 cannot be restored; use the backup restore path",
                plan.old_kept_name,
                &plan.old_id[..plan.old_id.len().min(12)]
            )),
            other => other,
        })?;
        if name_of(&old) != plan.name {
            self.rename(&plan.old_id, &plan.name).await?;
        }
        if plan.old_was_running {
            self.start(&plan.old_id).await?;
        }
        Ok(())
    }

    /// Makes the recreate permanent: removes the parked old container (its volumes stay).
    pub async fn finalize_recreate(&self, plan: &RecreatePlan) -> Result<()> {
        if let Some(old) = self.try_inspect(&plan.old_id).await?
            && name_of(&old) == plan.name
        {
            return Err(DockerError::Invalid(format!(
                "refusing to finalize: the old container still holds the name {}",
                plan.name
            )));
        }
        self.remove(&plan.old_id, false).await
    }

    async fn replacement_of(
        &self,
        plan: &RecreatePlan,
    ) -> Result<Option<bollard::models::ContainerInspectResponse>> {
        Ok(self
            .try_inspect(&plan.name)
            .await?
            .filter(|c| is_replacement(c, plan)))
    }

    /// The plan's env with masked secrets filled in from the old container.
    async fn unmask_env(&self, plan: &RecreatePlan) -> Result<Vec<String>> {
        let old = self.inspect(&plan.old_id).await?;
        let old_env = old.config.and_then(|c| c.env).unwrap_or_default();
        let env = plan.create.env.clone().unwrap_or_default();
        env.into_iter()
            .map(|kv| match kv.split_once('=') {
                Some((k, "***")) => old_env
                    .iter()
                    .find(|o| o.split_once('=').map(|(ok, _)| ok) == Some(k))
                    .cloned()
                    .ok_or_else(|| {
                        DockerError::Invalid(format!(
                            "the old container no longer has {k} in its env"
                        ))
                    }),
                _ => Ok(kv),
            })
            .collect()
    }
}

fn running(c: &Option<bollard::models::ContainerInspectResponse>) -> bool {
    c.as_ref()
        .and_then(|c| c.state.as_ref())
        .and_then(|s| s.running)
        .unwrap_or(false)
}

fn name_of(c: &bollard::models::ContainerInspectResponse) -> String {
    c.name
        .clone()
        .unwrap_or_default()
        .trim_start_matches('/')
        .to_string()
}

fn is_replacement(c: &bollard::models::ContainerInspectResponse, plan: &RecreatePlan) -> bool {
    c.id.as_deref() != Some(plan.old_id.as_str())
        && c.config
            .as_ref()
            .and_then(|cfg| cfg.labels.as_ref())
            .and_then(|l| l.get(labels::CUTOVER_REPLACES))
            == Some(&plan.old_id)
}
