//! Pulling images under a pull policy, with per-layer progress summed into one current/total
//! figure. `missing` (the default) never contacts a registry when the image is already local,
//! which matters in a maintenance window on a machine that may have no registry access.

use std::collections::HashMap;

use bollard::query_parameters::CreateImageOptionsBuilder;
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};

use super::connect::DockerClient;
use super::error::{DockerError, Result};
use super::image::ImageFacts;

/// When to contact the registry.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum PullPolicy {
    Always,
    #[default]
    Missing,
    Never,
}

impl std::str::FromStr for PullPolicy {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "always" => Ok(PullPolicy::Always),
            "missing" => Ok(PullPolicy::Missing),
            "never" => Ok(PullPolicy::Never),
            other => Err(format!(
                "unknown pull policy {other:?}: use always, missing or never"
            )),
        }
    }
}

/// Progress of a pull, summed over the layers seen so far.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct PullProgress {
    pub image: String,
    /// Bytes downloaded so far over all layers.
    pub current: u64,
    /// Sum of the layer sizes announced so far (grows as layers are announced).
    pub total: u64,
    pub layers: usize,
    pub layers_done: usize,
    /// Latest status line from the engine ("Downloading", "Pull complete", ...).
    pub status: String,
}

/// What `ensure_image` did.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct EnsuredImage {
    pub pulled: bool,
    pub facts: ImageFacts,
}

#[derive(Default)]
struct Layer {
    current: u64,
    total: u64,
    done: bool,
}

impl DockerClient {
    /// Makes `image` present locally according to `policy`, reporting progress. Errors with
    /// `ImageUnavailable` when the image is absent and cannot (or may not) be pulled; in that
    /// case nothing on the engine has been changed.
    pub async fn ensure_image(
        &self,
        image: &str,
        policy: PullPolicy,
        mut on_progress: impl FnMut(&PullProgress) + Send,
    ) -> Result<EnsuredImage> {
        let local = self.try_inspect_image(image).await?;
        match (policy, local) {
            (PullPolicy::Never, Some(facts)) | (PullPolicy::Missing, Some(facts)) => {
                return Ok(EnsuredImage {
                    pulled: false,
                    facts,
                });
            }
            (PullPolicy::Never, None) => {
                return Err(DockerError::ImageUnavailable {
                    image: image.to_string(),
                    reason: "pull policy is `never`".into(),
                });
            }
            _ => {}
        }
        self.pull(image, &mut on_progress).await?;
        let facts = self.inspect_image(image).await?;
        Ok(EnsuredImage {
            pulled: true,
            facts,
        })
    }

    async fn pull(
        &self,
        image: &str,
        on_progress: &mut (impl FnMut(&PullProgress) + Send),
    ) -> Result<()> {
        let (repo, tag) = split_reference(image);
        let opts = CreateImageOptionsBuilder::default()
            .from_image(&repo)
            .tag(&tag)
            .build();
        let mut stream = self.docker.create_image(Some(opts), None, None);
        let mut layers: HashMap<String, Layer> = HashMap::new();
        let mut progress = PullProgress {
            image: image.to_string(),
            ..Default::default()
        };
        while let Some(item) = stream.next().await {
            let info = item.map_err(|e| DockerError::ImageUnavailable {
                image: image.to_string(),
                reason: format!("pull failed: {e}"),
            })?;
            if let Some(err) = info.error_detail.and_then(|d| d.message) {
                return Err(DockerError::ImageUnavailable {
                    image: image.to_string(),
                    reason: format!("pull failed: {err}"),
                });
            }
            let status = info.status.unwrap_or_default();
            if let Some(id) = info.id.filter(|id| id.len() == 12) {
                let layer = layers.entry(id).or_default();
                if let Some(d) = info.progress_detail
                    && status == "Downloading"
                {
                    layer.current = d.current.unwrap_or(0).max(0) as u64;
                    layer.total = d.total.unwrap_or(0).max(0) as u64;
                }
                if status == "Download complete"
                    || status == "Pull complete"
                    || status == "Already exists"
                {
                    layer.current = layer.total;
                    layer.done = true;
                }
            }
            progress.current = layers.values().map(|l| l.current).sum();
            progress.total = layers.values().map(|l| l.total).sum();
            progress.layers = layers.len();
            progress.layers_done = layers.values().filter(|l| l.done).count();
            progress.status = status;
            on_progress(&progress);
        }
        Ok(())
    }
}

/// Splits `repo[:tag][@digest]` into the repository and the tag (or digest) to ask for.
pub fn split_reference(image: &str) -> (String, String) {
    if let Some((repo, digest)) = image.split_once('@') {
        return (repo.to_string(), digest.to_string());
    }
    // A ':' after the last '/' is a tag; one before it is a registry port.
    match image.rfind(':') {
        Some(i) if !image[i..].contains('/') => {
            (image[..i].to_string(), image[i + 1..].to_string())
        }
        _ => (image.to_string(), "latest".to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_split_tags_digests_and_ports() {
        let s = |a: &str, b: &str| (a.to_string(), b.to_string());
        assert_eq!(
            split_reference("pgvector/pgvector:pg16"),
            s("pgvector/pgvector", "pg16")
        );
        assert_eq!(split_reference("postgres"), s("postgres", "latest"));
        assert_eq!(split_reference("reg:5000/app"), s("reg:5000/app", "latest"));
        assert_eq!(split_reference("reg:5000/app:1"), s("reg:5000/app", "1"));
        assert_eq!(split_reference("a@sha256:ab"), s("a", "sha256:ab"));
    }
}
