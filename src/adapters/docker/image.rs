//! Image facts: id, digest, size, the image's own env/entrypoint/cmd/labels (so recreate can
//! tell an image default from a container override), and the image's C library.
//!
//! C library detection looks for the dynamic loader in the image's filesystem through the
//! archive-stat endpoint of a created-but-never-started container. Nothing runs inside the
//! image, so it works for images without a shell (distroless) and cannot be fooled by labels
//! or tags; it needs only the image to be present locally. musl's loader is
//! `/lib/ld-musl-<arch>.so.1`; glibc's is `ld-linux-*.so.*` under /lib, /lib64 or the
//! multiarch directory. The throwaway container is always removed.

use std::collections::HashMap;

use bollard::models::ContainerCreateBody;
use bollard::query_parameters::{
    ContainerArchiveInfoOptionsBuilder, CreateContainerOptionsBuilder,
};
use serde::{Deserialize, Serialize};

use super::connect::DockerClient;
use super::error::{DockerError, Result, status_of};

/// What an image carries by default.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct ImageFacts {
    pub id: String,
    pub repo_tags: Vec<String>,
    /// `repo@sha256:...` entries; empty for images built or imported locally.
    pub repo_digests: Vec<String>,
    pub size: i64,
    pub architecture: String,
    pub env: Vec<String>,
    pub entrypoint: Option<Vec<String>>,
    pub cmd: Option<Vec<String>>,
    pub user: Option<String>,
    pub working_dir: Option<String>,
    pub labels: HashMap<String, String>,
    pub exposed_ports: Vec<String>,
    pub volumes: Vec<String>,
    pub stop_signal: Option<String>,
    pub healthcheck: Option<bollard::models::HealthConfig>,
}

impl ImageFacts {
    /// The first `sha256:` digest, if the image came from a registry.
    pub fn digest(&self) -> Option<&str> {
        self.repo_digests
            .iter()
            .find_map(|d| d.split_once('@').map(|(_, dg)| dg))
    }
}

/// The C library an image's userland links against.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Libc {
    Musl,
    Glibc,
    /// No known dynamic loader found (static binaries only, or an unusual layout).
    Unknown,
}

impl DockerClient {
    /// Inspects a local image; `NotFound` when it is not present.
    pub async fn inspect_image(&self, image: &str) -> Result<ImageFacts> {
        self.try_inspect_image(image)
            .await?
            .ok_or_else(|| DockerError::NotFound {
                kind: "image",
                name: image.to_string(),
            })
    }

    /// Inspects a local image; `None` when it is not present.
    pub async fn try_inspect_image(&self, image: &str) -> Result<Option<ImageFacts>> {
        let img = match self.docker.inspect_image(image).await {
            Ok(i) => i,
            Err(e) if status_of(&e) == Some(404) => return Ok(None),
            Err(e) => return Err(DockerError::api(format!("inspect image {image}"), e)),
        };
        let cfg = img.config.unwrap_or_default();
        Ok(Some(ImageFacts {
            id: img.id.unwrap_or_default(),
            repo_tags: img.repo_tags.unwrap_or_default(),
            repo_digests: img.repo_digests.unwrap_or_default(),
            size: img.size.unwrap_or_default(),
            architecture: img.architecture.unwrap_or_default(),
            env: cfg.env.unwrap_or_default(),
            entrypoint: cfg.entrypoint,
            cmd: cfg.cmd,
            user: cfg.user.filter(|u| !u.is_empty()),
            working_dir: cfg.working_dir.filter(|w| !w.is_empty()),
            labels: cfg.labels.unwrap_or_default(),
            exposed_ports: cfg.exposed_ports.unwrap_or_default(),
            volumes: cfg.volumes.unwrap_or_default(),
            stop_signal: cfg.stop_signal,
            healthcheck: cfg.healthcheck,
        }))
    }

    /// Detects the image's C library (see the module docs for how and why).
    pub async fn detect_libc(&self, image: &str) -> Result<Libc> {
        let facts = self.inspect_image(image).await?;
        let name = format!("cutover-libc-probe-{}", short_rand());
        let body = ContainerCreateBody {
            image: Some(image.to_string()),
            // Never started; an explicit command avoids "no command specified" on images
            // that have neither entrypoint nor cmd.
            cmd: Some(vec!["/cutover-never-runs".into()]),
            ..Default::default()
        };
        let opts = CreateContainerOptionsBuilder::default().name(&name).build();
        self.docker
            .create_container(Some(opts), body)
            .await
            .map_err(|e| {
                DockerError::api(format!("create libc probe container from {image}"), e)
            })?;
        let result = self.probe_loader(&name, &facts.architecture).await;
        self.remove(&name, true).await?;
        result
    }

    async fn probe_loader(&self, container: &str, arch: &str) -> Result<Libc> {
        let (musl_arch, gnu_triplet) = match arch {
            "arm64" => ("aarch64", "aarch64-linux-gnu"),
            "arm" => ("armhf", "arm-linux-gnueabihf"),
            "386" => ("i386", "i386-linux-gnu"),
            "ppc64le" => ("ppc64le", "powerpc64le-linux-gnu"),
            "s390x" => ("s390x", "s390x-linux-gnu"),
            _ => ("x86_64", "x86_64-linux-gnu"),
        };
        if self
            .path_exists(container, &format!("/lib/ld-musl-{musl_arch}.so.1"))
            .await?
        {
            return Ok(Libc::Musl);
        }
        let glibc_paths = [
            "/lib64/ld-linux-x86-64.so.2".to_string(),
            "/lib/ld-linux-aarch64.so.1".to_string(),
            "/lib/ld-linux-armhf.so.3".to_string(),
            "/lib/ld-linux.so.2".to_string(),
            "/lib64/ld64.so.2".to_string(),
            "/lib/ld64.so.1".to_string(),
            format!("/lib/{gnu_triplet}/libc.so.6"),
            format!("/usr/lib/{gnu_triplet}/libc.so.6"),
        ];
        for p in &glibc_paths {
            if self.path_exists(container, p).await? {
                return Ok(Libc::Glibc);
            }
        }
        Ok(Libc::Unknown)
    }

    /// True when `path` exists in the container's filesystem (running or not).
    pub async fn path_exists(&self, container: &str, path: &str) -> Result<bool> {
        let opts = ContainerArchiveInfoOptionsBuilder::default()
            .path(path)
            .build();
        match self
            .docker
            .get_container_archive_info(container, Some(opts))
            .await
        {
            Ok(_) => Ok(true),
            Err(e) if status_of(&e) == Some(404) => Ok(false),
            Err(e) => Err(DockerError::api(format!("stat {path} in {container}"), e)),
        }
    }
}

/// A short random-enough suffix for throwaway resource names.
pub(crate) fn short_rand() -> String {
    use std::time::{SystemTime, UNIX_EPOCH};
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or_default();
    format!("{:08x}", nanos ^ std::process::id().rotate_left(16))
}
