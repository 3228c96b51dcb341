//! Start, stop, rename and remove. Every call is idempotent: stopping a stopped container,
//! starting a running one (engine answers 304) or removing an absent one is success, because a
//! resumed run may repeat any of them.

use std::time::Duration;

use bollard::query_parameters::{
    RemoveContainerOptionsBuilder, RenameContainerOptionsBuilder, StartContainerOptions,
    StopContainerOptionsBuilder,
};

use super::connect::DockerClient;
use super::error::{DockerError, Result, status_of};

impl DockerClient {
    /// Stops `name`, giving it `timeout` after the stop signal before the engine kills it.
    pub async fn stop(&self, name: &str, timeout: Duration) -> Result<()> {
        let opts = StopContainerOptionsBuilder::default()
            .t(timeout.as_secs().min(i32::MAX as u64) as i32)
            .build();
        match self.docker.stop_container(name, Some(opts)).await {
            Ok(()) => Ok(()),
            Err(e) if status_of(&e) == Some(304) => Ok(()),
            Err(e) => Err(DockerError::api(format!("stop container {name}"), e)),
        }
    }

    /// Starts `name`; already running is fine.
    pub async fn start(&self, name: &str) -> Result<()> {
        match self
            .docker
            .start_container(name, None::<StartContainerOptions>)
            .await
        {
            Ok(()) => Ok(()),
            Err(e) if status_of(&e) == Some(304) => Ok(()),
            Err(e) => Err(DockerError::api(format!("start container {name}"), e)),
        }
    }

    /// Renames `from` to `to`. Already renamed (`from` absent, `to` present) is success.
    pub async fn rename(&self, from: &str, to: &str) -> Result<()> {
        if from == to {
            return Ok(());
        }
        let opts = RenameContainerOptionsBuilder::default().name(to).build();
        match self.docker.rename_container(from, opts).await {
            Ok(()) => Ok(()),
            Err(e) if status_of(&e) == Some(404) && self.try_inspect(to).await?.is_some() => Ok(()),
            Err(e) => Err(DockerError::api(
                format!("rename container {from} to {to}"),
                e,
            )),
        }
    }

    /// Force-removes `name` (and its anonymous volumes only if `volumes`); absent is success.
    pub async fn remove(&self, name: &str, volumes: bool) -> Result<()> {
        let opts = RemoveContainerOptionsBuilder::default()
            .force(true)
            .v(volumes)
            .build();
        match self.docker.remove_container(name, Some(opts)).await {
            Ok(()) => Ok(()),
            Err(e) if status_of(&e) == Some(404) => Ok(()),
            Err(e) => Err(DockerError::api(format!("remove container {name}"), e)),
        }
    }

    /// Stops every container of `names` at once (each as [`DockerClient::stop`]): stopping a
    /// stack's writers one after the other adds their stop times up, and each of them is
    /// application downtime. Every stop is awaited; the first error is returned, naming it.
    pub async fn stop_all(
        &self,
        names: &[String],
        timeout: Duration,
    ) -> Result<(), (String, DockerError)> {
        let stops = names
            .iter()
            .map(|n| async move { self.stop(n, timeout).await.map_err(|e| (n.clone(), e)) });
        first_error(futures_util::future::join_all(stops).await)
    }

    /// Starts every container of `names` at once (each as [`DockerClient::start`]).
    pub async fn start_all(&self, names: &[String]) -> Result<(), (String, DockerError)> {
        let starts = names
            .iter()
            .map(|n| async move { self.start(n).await.map_err(|e| (n.clone(), e)) });
        first_error(futures_util::future::join_all(starts).await)
    }
}

fn first_error<E>(results: Vec<std::result::Result<(), E>>) -> std::result::Result<(), E> {
    results.into_iter().collect()
}
