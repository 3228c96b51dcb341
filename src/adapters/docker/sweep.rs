//! Removing everything a throwaway stack left on the engine, by name and by label: the
//! containers whose name starts with its prefix (the parked old container cutover makes has
//! no Compose labels, only its name), their anonymous volumes, the volumes and networks Compose
//! labelled with its project, and image tags of one repository (cutover's kept old image).
//!
//! Invariant: every removal tolerates "already gone", and one failure does not stop the rest:
//! what could not be removed is returned, named, so the caller can say what is left.

use std::collections::HashMap;

use bollard::query_parameters::{
    ListContainersOptionsBuilder, ListImagesOptions, ListNetworksOptionsBuilder,
    ListVolumesOptionsBuilder, RemoveImageOptionsBuilder,
};

use super::connect::DockerClient;
use super::labels;

impl DockerClient {
    /// Removes the containers named `prefix…` (with their anonymous volumes), then the volumes
    /// and networks labelled with Compose project `project`, then the volumes named in
    /// `volumes`, then every tag of image repository `repo`. Returns what is left (empty: all
    /// gone).
    pub async fn sweep(
        &self,
        prefix: &str,
        project: &str,
        volumes: &[String],
        repo: &str,
    ) -> Vec<String> {
        let mut left = Vec::new();
        let by_project = HashMap::from([(
            "label".to_string(),
            vec![format!("{}={project}", labels::PROJECT)],
        )]);
        let opts = ListContainersOptionsBuilder::default().all(true).build();
        match self.docker.list_containers(Some(opts)).await {
            Ok(cs) => {
                for c in cs {
                    let names = c.names.unwrap_or_default();
                    let ours = names
                        .iter()
                        .any(|n| n.trim_start_matches('/').starts_with(prefix));
                    let labelled = c
                        .labels
                        .as_ref()
                        .and_then(|l| l.get(labels::PROJECT))
                        .is_some_and(|p| p == project);
                    if (ours || labelled)
                        && let Some(id) = c.id
                        && self.remove(&id, true).await.is_err()
                    {
                        left.push(format!("container {}", names.join(",")));
                    }
                }
            }
            Err(e) => left.push(format!("containers (cannot list: {e})")),
        }
        let opts = ListVolumesOptionsBuilder::default()
            .filters(&by_project)
            .build();
        let mut names: Vec<String> = volumes.to_vec();
        match self.docker.list_volumes(Some(opts)).await {
            Ok(v) => names.extend(v.volumes.unwrap_or_default().into_iter().map(|v| v.name)),
            Err(e) => left.push(format!("volumes (cannot list: {e})")),
        }
        for name in names {
            match self
                .docker
                .remove_volume(
                    &name,
                    None::<bollard::query_parameters::RemoveVolumeOptions>,
                )
                .await
            {
                Ok(()) => {}
                Err(e) if super::error::status_of(&e) == Some(404) => {}
                Err(e) => left.push(format!("volume {name} ({e})")),
            }
        }
        let opts = ListNetworksOptionsBuilder::default()
            .filters(&by_project)
            .build();
        match self.docker.list_networks(Some(opts)).await {
            Ok(ns) => {
                for n in ns {
                    let name = n.name.unwrap_or_default();
                    match self.docker.remove_network(&name).await {
                        Ok(()) => {}
                        Err(e) if super::error::status_of(&e) == Some(404) => {}
                        Err(e) => left.push(format!("network {name} ({e})")),
                    }
                }
            }
            Err(e) => left.push(format!("networks (cannot list: {e})")),
        }
        // Every image, matched here: the engine's `reference` filter differs across versions.
        match self.docker.list_images(None::<ListImagesOptions>).await {
            Err(e) => left.push(format!("image tags of {repo} (cannot list: {e})")),
            Ok(images) => {
                for tag in images.into_iter().flat_map(|i| i.repo_tags) {
                    if !tag.starts_with(&format!("{repo}:")) {
                        continue;
                    }
                    // Untag only: the image itself is the live stack's, still in use.
                    let opts = RemoveImageOptionsBuilder::default().noprune(true).build();
                    if let Err(e) = self.docker.remove_image(&tag, Some(opts), None).await
                        && super::error::status_of(&e) != Some(404)
                    {
                        left.push(format!("image tag {tag} ({e})"));
                    }
                }
            }
        }
        left
    }
}
