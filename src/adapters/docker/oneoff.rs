//! One-off containers in the image of a service's container, the way `docker compose run`
//! makes them: the service's image, environment, user, working directory and networks, and
//! compose's labels with `com.docker.compose.oneoff=True` (so discovery, which skips one-offs,
//! never mistakes it for the service). Used to run an application's own migrations.
//!
//! Invariants: the name is fixed by the caller, so a leftover from an interrupted run is found
//! and removed before a new one is created; env values go to the engine only, never to errors.

use std::collections::HashMap;
use std::time::Duration;

use bollard::models::{ContainerCreateBody, EndpointSettings, HostConfig, NetworkConnectRequest};
use bollard::query_parameters::CreateContainerOptionsBuilder;

use super::connect::DockerClient;
use super::error::{DockerError, Result};
use super::labels;

/// What to create; built from a template container by [`DockerClient::oneoff_from`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OneOffSpec {
    pub name: String,
    /// The image id of the template container (exactly what it runs, not a tag that may move).
    pub image: String,
    pub env: Vec<String>,
    pub entrypoint: Vec<String>,
    pub cmd: Vec<String>,
    pub user: Option<String>,
    pub working_dir: Option<String>,
    /// The template's network mode (its first compose network, or `host`, `container:...`).
    pub network_mode: Option<String>,
    /// User-defined networks to join (the one in `network_mode` first, when it is one).
    pub networks: Vec<String>,
    pub labels: HashMap<String, String>,
}

/// `host`, `none`, `bridge`, `default` and `container:<id>` are modes, not networks to join.
fn is_user_network(mode: &str) -> bool {
    !matches!(mode, "" | "host" | "none" | "bridge" | "default") && !mode.starts_with("container:")
}

impl DockerClient {
    /// A one-off spec in `template`'s image, with its environment and networks, running
    /// `entrypoint` + `cmd`. The template may be stopped (its configuration is what counts).
    pub async fn oneoff_from(
        &self,
        template: &str,
        name: &str,
        entrypoint: Vec<String>,
        cmd: Vec<String>,
    ) -> Result<OneOffSpec> {
        let c = self.inspect(template).await?;
        let config = c.config.clone().unwrap_or_default();
        let tl = config.labels.clone().unwrap_or_default();
        let mut labels = HashMap::from([
            (labels::ONEOFF.to_string(), "True".to_string()),
            (labels::NUMBER.to_string(), "1".to_string()),
            (labels::CUTOVER_CREATED.to_string(), "true".to_string()),
        ]);
        for key in [labels::PROJECT, labels::SERVICE, labels::VERSION] {
            if let Some(v) = tl.get(key) {
                labels.insert(key.to_string(), v.clone());
            }
        }
        let network_mode = c.host_config.as_ref().and_then(|h| h.network_mode.clone());
        let mut networks: Vec<String> = c
            .network_settings
            .and_then(|n| n.networks)
            .map(|n| n.into_keys().collect())
            .unwrap_or_default();
        networks.sort();
        if let Some(mode) = network_mode.as_deref().filter(|m| is_user_network(m)) {
            networks.retain(|n| n != mode);
            networks.insert(0, mode.to_string());
        }
        if network_mode.as_deref().is_some_and(|m| !is_user_network(m)) {
            networks.clear();
        }
        Ok(OneOffSpec {
            name: name.to_string(),
            image: c.image.unwrap_or_default(),
            env: config.env.unwrap_or_default(),
            entrypoint,
            cmd,
            user: config.user.filter(|u| !u.is_empty()),
            working_dir: config.working_dir.filter(|w| !w.is_empty()),
            network_mode,
            networks,
            labels,
        })
    }

    /// Creates (not starts) the one-off, first force-removing any container of the same name
    /// (a leftover of an interrupted run). Returns the container id.
    pub async fn create_oneoff(&self, spec: &OneOffSpec) -> Result<String> {
        self.remove(&spec.name, true).await?;
        let first = spec.networks.first().cloned();
        let body = ContainerCreateBody {
            image: Some(spec.image.clone()),
            env: Some(spec.env.clone()),
            entrypoint: Some(spec.entrypoint.clone()),
            cmd: Some(spec.cmd.clone()),
            user: spec.user.clone(),
            working_dir: spec.working_dir.clone(),
            labels: Some(spec.labels.clone()),
            tty: Some(false),
            host_config: Some(HostConfig {
                network_mode: first.clone().or_else(|| spec.network_mode.clone()),
                ..Default::default()
            }),
            ..Default::default()
        };
        let opts = CreateContainerOptionsBuilder::default()
            .name(&spec.name)
            .build();
        let created = self
            .docker
            .create_container(Some(opts), body)
            .await
            .map_err(|e| DockerError::api(format!("create one-off {}", spec.name), e))?;
        // Engines before API 1.44 take one network at create; join the others now.
        for net in spec.networks.iter().skip(1) {
            let req = NetworkConnectRequest {
                container: created.id.clone(),
                endpoint_config: Some(EndpointSettings::default()),
            };
            self.docker.connect_network(net, req).await.map_err(|e| {
                DockerError::api(format!("connect {} to network {net}", spec.name), e)
            })?;
        }
        Ok(created.id)
    }

    /// Waits until `name` is no longer running and returns its exit code.
    pub async fn wait_exit(&self, name: &str) -> Result<i64> {
        let mut delay = Duration::from_millis(50);
        loop {
            let c = self.inspect(name).await?;
            let state = c.state.unwrap_or_default();
            if state.running != Some(true) && state.restarting != Some(true) {
                return Ok(state.exit_code.unwrap_or(-1));
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_secs(1));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_are_not_networks() {
        for m in ["host", "none", "bridge", "default", "container:abc", ""] {
            assert!(!is_user_network(m), "{m}");
        }
        assert!(is_user_network("privexbot_privexbot-network"));
    }
}
