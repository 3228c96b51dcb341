//! Removing the containers that carry one label value: what an interrupted command left
//! running (a throwaway container whose exec was still writing when cutover was killed).
//!
//! Invariant: "already gone" is success; the removal is forced, so a command still running in
//! such a container stops with it before this returns.

use std::collections::HashMap;

use bollard::query_parameters::ListContainersOptionsBuilder;

use super::connect::DockerClient;
use super::error::{DockerError, Result};

impl DockerClient {
    /// Force-removes every container (running or not) labelled `key=value`; returns their
    /// names.
    pub async fn remove_labelled(&self, key: &str, value: &str) -> Result<Vec<String>> {
        let filters = HashMap::from([("label".to_string(), vec![format!("{key}={value}")])]);
        let opts = ListContainersOptionsBuilder::default()
            .all(true)
            .filters(&filters)
            .build();
        let found = self
            .docker
            .list_containers(Some(opts))
            .await
            .map_err(|e| DockerError::api(format!("list the containers labelled {key}"), e))?;
        let mut removed = Vec::new();
        for c in found {
            let Some(id) = c.id else { continue };
            self.remove(&id, true).await?;
            removed.extend(
                c.names
                    .unwrap_or_default()
                    .into_iter()
                    .map(|n| n.trim_start_matches('/').to_string()),
            );
        }
        Ok(removed)
    }
}
