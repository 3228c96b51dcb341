//! Discovering a compose stack's containers from their labels (never from container names,
//! which differ between compose v1 `proj_svc_1` and v2 `proj-svc-1`). One-off containers
//! (`docker compose run`) are excluded: they are not part of the running stack.

use std::collections::HashMap;

use bollard::query_parameters::ListContainersOptionsBuilder;
use serde::{Deserialize, Serialize};

use super::connect::DockerClient;
use super::error::{DockerError, Result};
use super::labels;

/// One container of a compose service, as listed by the engine.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct ServiceContainer {
    pub id: String,
    /// Name without the leading '/'.
    pub name: String,
    pub project: String,
    pub service: String,
    pub number: Option<u32>,
    pub image: String,
    pub image_id: String,
    /// Engine state: "running", "exited", "created", ...
    pub state: String,
    pub labels: HashMap<String, String>,
}

impl ServiceContainer {
    pub fn is_running(&self) -> bool {
        self.state == "running"
    }
}

impl DockerClient {
    /// All containers (running or not) of compose project `project`, sorted by service then
    /// number. Tries the name as given and, if nothing matches, compose v1's normalised form.
    pub async fn find_stack(&self, project: &str) -> Result<Vec<ServiceContainer>> {
        let mut found = self.list_by_project(project).await?;
        let v1 = labels::v1_project_name(project);
        if found.is_empty() && v1 != project {
            found = self.list_by_project(&v1).await?;
        }
        found.sort_by(|a, b| (&a.service, a.number).cmp(&(&b.service, b.number)));
        Ok(found)
    }

    /// The containers of one service (usually one). Empty if the service has none.
    pub async fn find_service(
        &self,
        project: &str,
        service: &str,
    ) -> Result<Vec<ServiceContainer>> {
        Ok(self
            .find_stack(project)
            .await?
            .into_iter()
            .filter(|c| c.service == service)
            .collect())
    }

    async fn list_by_project(&self, project: &str) -> Result<Vec<ServiceContainer>> {
        let filters = HashMap::from([("label", vec![format!("{}={project}", labels::PROJECT)])]);
        let opts = ListContainersOptionsBuilder::default()
            .all(true)
            .filters(&filters)
            .build();
        let list =
            self.docker.list_containers(Some(opts)).await.map_err(|e| {
                DockerError::api(format!("list containers of project {project}"), e)
            })?;
        Ok(list
            .into_iter()
            .filter_map(|c| {
                let labels = c.labels.unwrap_or_default();
                let oneoff = labels
                    .get(labels::ONEOFF)
                    .is_some_and(|v| v.eq_ignore_ascii_case("true"));
                if oneoff {
                    return None;
                }
                let service = labels.get(labels::SERVICE)?.clone();
                Some(ServiceContainer {
                    id: c.id.unwrap_or_default(),
                    name: c
                        .names
                        .and_then(|n| n.into_iter().next())
                        .unwrap_or_default()
                        .trim_start_matches('/')
                        .to_string(),
                    project: project.to_string(),
                    service,
                    number: labels.get(labels::NUMBER).and_then(|n| n.parse().ok()),
                    image: c.image.unwrap_or_default(),
                    image_id: c.image_id.unwrap_or_default(),
                    state: c.state.map(|s| s.to_string()).unwrap_or_default(),
                    labels,
                })
            })
            .collect())
    }
}
