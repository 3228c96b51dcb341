//! Connecting to the engine: honour DOCKER_HOST (bollard's defaults do), then negotiate the API
//! version down to what the daemon speaks (bollard 0.21 defaults to a newer API than Engine
//! 20.10's 1.41, and every call would fail without this), then ping so a dead socket fails here
//! with a clear message rather than at the first real call.

use super::error::{DockerError, Result};

/// A connected, version-negotiated Docker client. Cheap to clone (bollard shares the pool).
#[derive(Clone, Debug)]
pub struct DockerClient {
    pub(crate) docker: bollard::Docker,
}

impl DockerClient {
    /// Connects using DOCKER_HOST or the local socket, negotiates the API version and pings.
    pub async fn connect() -> Result<Self> {
        let host =
            std::env::var("DOCKER_HOST").unwrap_or_else(|_| "unix:///var/run/docker.sock".into());
        let docker =
            bollard::Docker::connect_with_defaults().map_err(|e| DockerError::Connect {
                detail: format!("{host}: {e}"),
            })?;
        let docker = docker
            .negotiate_version()
            .await
            .map_err(|e| DockerError::Connect {
                detail: format!("{host}: version negotiation failed: {e}"),
            })?;
        docker.ping().await.map_err(|e| DockerError::Connect {
            detail: format!("{host}: ping failed: {e}"),
        })?;
        Ok(DockerClient { docker })
    }

    /// The underlying bollard client, for calls this adapter does not wrap yet.
    pub fn raw(&self) -> &bollard::Docker {
        &self.docker
    }

    /// The API version agreed with the daemon, e.g. "1.41".
    pub fn api_version(&self) -> String {
        self.docker.client_version().to_string()
    }
}
