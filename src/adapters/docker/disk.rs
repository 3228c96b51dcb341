//! Disk space: free bytes of a directory's filesystem (statvfs), the engine's data root, and
//! local image sizes, so a step can check "need vs free" before pulling or dumping.
//!
//! The data root is a path on the engine's machine: checking it with statvfs is only meaningful
//! when the engine is local (unix socket), which is how cutover runs; a remote DOCKER_HOST gets
//! a clear error instead of a number for the wrong disk.

use std::path::{Path, PathBuf};

use bollard::query_parameters::ListImagesOptions;
use serde::{Deserialize, Serialize};

use super::connect::DockerClient;
use super::error::{DockerError, Result};

/// Space on the filesystem holding `path`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct DiskSpace {
    pub path: PathBuf,
    /// Bytes available to an unprivileged writer (f_bavail × f_frsize).
    pub free_bytes: u64,
    pub total_bytes: u64,
}

/// statvfs of `path`.
pub fn free_space(path: &Path) -> std::io::Result<DiskSpace> {
    let st = nix::sys::statvfs::statvfs(path).map_err(std::io::Error::from)?;
    let frsize = st.fragment_size() as u64;
    Ok(DiskSpace {
        path: path.to_path_buf(),
        free_bytes: st.blocks_available() as u64 * frsize,
        total_bytes: st.blocks() as u64 * frsize,
    })
}

/// One local image and its size.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct ImageSize {
    pub id: String,
    pub tags: Vec<String>,
    pub size: i64,
}

impl DockerClient {
    async fn info(&self) -> Result<bollard::models::SystemInfo> {
        self.docker
            .info()
            .await
            .map_err(|e| DockerError::api("docker info", e))
    }

    /// The engine's data root (`docker info` DockerRootDir), e.g. /var/lib/docker.
    pub async fn data_root(&self) -> Result<PathBuf> {
        self.info()
            .await?
            .docker_root_dir
            .map(PathBuf::from)
            .ok_or_else(|| DockerError::Invalid("docker info reported no DockerRootDir".into()))
    }

    /// How many CPUs the engine's host has (`docker info` NCPU): how many jobs a restore
    /// inside a container can use.
    pub async fn host_cpus(&self) -> Result<u32> {
        let ncpu = self.info().await?.ncpu.unwrap_or(1);
        Ok(ncpu.clamp(1, i64::from(u32::MAX)) as u32)
    }

    /// Free space under the engine's data root (local engine only; see the module docs).
    pub async fn data_root_space(&self) -> Result<DiskSpace> {
        let root = self.data_root().await?;
        free_space(&root).map_err(|e| DockerError::Io {
            context: format!(
                "statvfs of the Docker data root {} (is the engine on this machine?)",
                root.display()
            ),
            source: e,
        })
    }

    /// Local images with their sizes (what `docker system df` sums for images).
    pub async fn image_sizes(&self) -> Result<Vec<ImageSize>> {
        let list = self
            .docker
            .list_images(None::<ListImagesOptions>)
            .await
            .map_err(|e| DockerError::api("list images", e))?;
        Ok(list
            .into_iter()
            .map(|i| ImageSize {
                id: i.id,
                tags: i.repo_tags,
                size: i.size,
            })
            .collect())
    }
}
