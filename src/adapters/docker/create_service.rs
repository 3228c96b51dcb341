//! Creating a new compose service's container (qdrant) the way compose would: the labels
//! compose puts on its containers (so `docker compose ps/down` adopt it), its named volume
//! `<project>_<volume>` with compose's volume labels, the project network with the service name
//! as alias. Idempotent: an existing container with the same project/service labels is reused.

use std::collections::HashMap;

use bollard::models::{
    ContainerCreateBody, EndpointSettings, HealthConfig, HostConfig, NetworkingConfig, PortBinding,
    RestartPolicy, RestartPolicyNameEnum, VolumeCreateRequest,
};
use bollard::query_parameters::CreateContainerOptionsBuilder;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::connect::DockerClient;
use super::error::{DockerError, Result, status_of};
use super::labels;

/// A named volume mounted into the service.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct ServiceVolume {
    /// The compose-file name (e.g. `qdrant_data`); the engine name is `<project>_<name>`.
    pub name: String,
    pub target: String,
    #[serde(default)]
    pub read_only: bool,
}

/// A container port, optionally published.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct ServicePort {
    pub container: u16,
    pub host: Option<u16>,
    /// Host address to bind; defaults to 127.0.0.1 (never all interfaces by accident).
    pub host_ip: Option<String>,
}

/// The service definition, as a compose file would give it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ServiceSpec {
    pub project: String,
    pub service: String,
    pub image: String,
    #[serde(default)]
    pub env: Vec<String>,
    pub command: Option<Vec<String>>,
    #[serde(default)]
    pub volumes: Vec<ServiceVolume>,
    #[serde(default)]
    pub ports: Vec<ServicePort>,
    /// Engine network name (e.g. `privexbot_default`); the container is reachable there by the
    /// service name.
    pub network: Option<String>,
    pub healthcheck: Option<HealthConfig>,
    /// `no`, `always`, `unless-stopped`, `on-failure`.
    pub restart: Option<String>,
    /// Container name; compose v2's `<project>-<service>-1` when absent.
    pub container_name: Option<String>,
    /// Written to `com.docker.compose.version`.
    pub compose_version: String,
}

impl ServiceSpec {
    pub fn container_name(&self) -> String {
        self.container_name
            .clone()
            .unwrap_or_else(|| format!("{}-{}-1", self.project, self.service))
    }

    /// sha256 of the spec: compose's own hash cannot be reproduced outside compose, so this
    /// marks the container as ours; `docker compose up` may recreate it once, harmlessly.
    pub fn config_hash(&self) -> String {
        let json = serde_json::to_vec(self).unwrap_or_default();
        hex::encode(Sha256::digest(&json))
    }
}

impl DockerClient {
    /// Creates (not starts) the service's container and its volumes; returns the container id.
    pub async fn create_service(&self, spec: &ServiceSpec) -> Result<String> {
        let name = spec.container_name();
        if let Some(c) = self.try_inspect(&name).await? {
            let l = c.config.and_then(|c| c.labels).unwrap_or_default();
            if l.get(labels::PROJECT) == Some(&spec.project)
                && l.get(labels::SERVICE) == Some(&spec.service)
            {
                return Ok(c.id.unwrap_or_default());
            }
            return Err(DockerError::Invalid(format!(
                "a container named {name} exists but is not service {} of project {}; remove or \
                 rename it, then retry",
                spec.service, spec.project
            )));
        }
        let mut binds = Vec::new();
        for v in &spec.volumes {
            let full = self.ensure_volume(&spec.project, &v.name).await?;
            let ro = if v.read_only { ":ro" } else { "" };
            binds.push(format!("{full}:{}{ro}", v.target));
        }
        let mut port_bindings = HashMap::new();
        let mut exposed = Vec::new();
        for p in &spec.ports {
            let key = format!("{}/tcp", p.container);
            exposed.push(key.clone());
            if let Some(h) = p.host {
                port_bindings.insert(
                    key,
                    Some(vec![PortBinding {
                        host_ip: Some(p.host_ip.clone().unwrap_or_else(|| "127.0.0.1".into())),
                        host_port: Some(h.to_string()),
                    }]),
                );
            }
        }
        let labels = HashMap::from([
            (labels::PROJECT.to_string(), spec.project.clone()),
            (labels::SERVICE.to_string(), spec.service.clone()),
            (labels::NUMBER.to_string(), "1".to_string()),
            (labels::ONEOFF.to_string(), "False".to_string()),
            (labels::CONFIG_HASH.to_string(), spec.config_hash()),
            (labels::VERSION.to_string(), spec.compose_version.clone()),
            (labels::CUTOVER_CREATED.to_string(), "true".to_string()),
        ]);
        let restart = spec.restart.as_deref().map(|r| RestartPolicy {
            name: Some(match r {
                "always" => RestartPolicyNameEnum::ALWAYS,
                "unless-stopped" => RestartPolicyNameEnum::UNLESS_STOPPED,
                "on-failure" => RestartPolicyNameEnum::ON_FAILURE,
                _ => RestartPolicyNameEnum::NO,
            }),
            maximum_retry_count: None,
        });
        let networking_config = spec.network.as_ref().map(|n| NetworkingConfig {
            endpoints_config: Some(HashMap::from([(
                n.clone(),
                EndpointSettings {
                    aliases: Some(vec![spec.service.clone(), name.clone()]),
                    ..Default::default()
                },
            )])),
        });
        let body = ContainerCreateBody {
            image: Some(spec.image.clone()),
            env: Some(spec.env.clone()),
            cmd: spec.command.clone(),
            labels: Some(labels),
            exposed_ports: (!exposed.is_empty()).then_some(exposed),
            healthcheck: spec.healthcheck.clone(),
            host_config: Some(HostConfig {
                binds: Some(binds),
                port_bindings: Some(port_bindings),
                network_mode: spec.network.clone(),
                restart_policy: restart,
                ..Default::default()
            }),
            networking_config,
            ..Default::default()
        };
        let opts = CreateContainerOptionsBuilder::default().name(&name).build();
        let created = self
            .docker
            .create_container(Some(opts), body)
            .await
            .map_err(|e| DockerError::api(format!("create {name} from {}", spec.image), e))?;
        Ok(created.id)
    }

    /// Whether the named volume `<project>_<name>` exists.
    pub async fn volume_exists(&self, project: &str, name: &str) -> Result<bool> {
        self.volume_named(&format!("{project}_{name}")).await
    }

    /// Whether the volume `full` (its engine name) exists.
    pub async fn volume_named(&self, full: &str) -> Result<bool> {
        match self.docker.inspect_volume(full).await {
            Ok(_) => Ok(true),
            Err(e) if status_of(&e) == Some(404) => Ok(false),
            Err(e) => Err(DockerError::api(format!("inspect volume {full}"), e)),
        }
    }

    /// Removes the named volume `<project>_<name>`; an absent one is success. Returns its
    /// engine name.
    pub async fn remove_volume(&self, project: &str, name: &str) -> Result<String> {
        self.remove_volume_named(&format!("{project}_{name}")).await
    }

    /// Removes the volume `full` (its engine name); an absent one is success.
    pub async fn remove_volume_named(&self, full: &str) -> Result<String> {
        let full = full.to_string();
        match self
            .docker
            .remove_volume(
                &full,
                None::<bollard::query_parameters::RemoveVolumeOptions>,
            )
            .await
        {
            Ok(()) => Ok(full),
            Err(e) if status_of(&e) == Some(404) => Ok(full),
            Err(e) => Err(DockerError::api(format!("remove volume {full}"), e)),
        }
    }

    /// Ensures the named volume `<project>_<name>` exists with compose's labels; returns the
    /// engine name. An existing volume is used as is (its data is never touched).
    pub async fn ensure_volume(&self, project: &str, name: &str) -> Result<String> {
        let full = format!("{project}_{name}");
        match self.docker.inspect_volume(&full).await {
            Ok(_) => return Ok(full),
            Err(e) if status_of(&e) == Some(404) => {}
            Err(e) => return Err(DockerError::api(format!("inspect volume {full}"), e)),
        }
        let req = VolumeCreateRequest {
            name: Some(full.clone()),
            labels: Some(HashMap::from([
                (labels::PROJECT.to_string(), project.to_string()),
                (labels::VOLUME.to_string(), name.to_string()),
                (labels::CUTOVER_CREATED.to_string(), "true".to_string()),
            ])),
            ..Default::default()
        };
        self.docker
            .create_volume(req)
            .await
            .map_err(|e| DockerError::api(format!("create volume {full}"), e))?;
        Ok(full)
    }
}
