//! Check `disk-space`: room for the backup where the run directory lives (the dump is at most
//! about the database's size) and for images and growth in Docker's data root, which also
//! holds the physical backup's volume (the whole cluster's size) with `backup_kind = physical`.
//! When both are one filesystem, the needs add up.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::meta;
use crate::adapters::docker::free_space;
use crate::adapters::postgres;
use crate::engine::{Finish, Step, StepContext, StepError};
use crate::upgrade::env::UpgradeEnv;

const MIB: u64 = 1024 * 1024;
/// Slack for the backup filesystem: the dump's TOC check and logs.
const BACKUP_MARGIN: u64 = 64 * MIB;
/// Slack for the data root: container layers, logs, WAL written during the window.
const DATA_ROOT_MARGIN: u64 = 512 * MIB;
/// Assumed size of an image that still has to be pulled (pgvector's is about 450 MB).
const PULL_ESTIMATE: u64 = 1024 * MIB;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DiskOutput {
    pub database_bytes: u64,
    pub backup_dir: PathBuf,
    pub backup_free: u64,
    pub backup_need: u64,
    pub data_root: PathBuf,
    pub data_root_free: u64,
    pub data_root_need: u64,
}

pub struct DiskSpace {
    pub env: Arc<UpgradeEnv>,
    pub run_base: PathBuf,
}

#[async_trait]
impl Step for DiskSpace {
    meta!(
        "disk-space",
        "Disk space for the backup and the images",
        Check
    );

    fn touches(&self) -> Vec<String> {
        vec![
            format!("filesystem of {}", self.run_base.display()),
            "Docker data root".into(),
        ]
    }

    async fn run(&self, cx: &StepContext) -> Result<Finish, StepError> {
        let client = self.env.connect().await?;
        let db = postgres::database_size(&client, None)
            .await
            .context("reading the database size")?
            .max(0) as u64;
        let physical = if self.env.physical_backup {
            let row = client
                .query_one(
                    "SELECT sum(pg_database_size(oid))::bigint FROM pg_database \
                     WHERE datallowconn",
                    &[],
                )
                .await
                .context("reading the cluster's size")?;
            row.get::<_, Option<i64>>(0).unwrap_or(0).max(0) as u64
        } else {
            0
        };
        let dir = existing_ancestor(cx.run_dir());
        let backup = free_space(&dir).with_context(|| format!("statvfs {}", dir.display()))?;
        let docker = self.env.docker().await?;
        let root = docker.data_root_space().await.context("Docker data root")?;
        let mut pulls = 0;
        for image in [&self.env.target_image, &self.env.qdrant_image] {
            if docker
                .try_inspect_image(image)
                .await
                .context("image")?
                .is_none()
            {
                pulls += 1;
            }
        }
        let mut out = DiskOutput {
            database_bytes: db,
            backup_dir: dir,
            backup_free: backup.free_bytes,
            backup_need: db + BACKUP_MARGIN,
            data_root: root.path.clone(),
            data_root_free: root.free_bytes,
            data_root_need: DATA_ROOT_MARGIN + pulls * PULL_ESTIMATE + physical,
        };
        if same_filesystem(&out.backup_dir, &out.data_root) {
            let both = out.backup_need + out.data_root_need;
            out.backup_need = both;
            out.data_root_need = both;
        }
        cx.save_output(&out)?;
        cx.log(format!(
            "database {}{}; backup filesystem {} free, need {}; data root {} free, need {}",
            mib(db),
            if physical > 0 {
                format!(", physical backup {}", mib(physical))
            } else {
                String::new()
            },
            mib(out.backup_free),
            mib(out.backup_need),
            mib(out.data_root_free),
            mib(out.data_root_need)
        ));
        for (what, free, need, path) in [
            (
                "the backup",
                out.backup_free,
                out.backup_need,
                &out.backup_dir,
            ),
            (
                "Docker",
                out.data_root_free,
                out.data_root_need,
                &out.data_root,
            ),
        ] {
            if free < need {
                return Err(StepError::new(format!(
                    "not enough space for {what} on {}: {} free, {} needed; free some space or \
                     set run_dir to a larger filesystem",
                    path.display(),
                    mib(free),
                    mib(need)
                )));
            }
        }
        Ok(Finish::Ok)
    }
}

/// Whether two paths are on one device (unknown, e.g. a remote engine's data root: no).
fn same_filesystem(a: &Path, b: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(x), Ok(y)) => x.dev() == y.dev(),
        _ => false,
    }
}

fn mib(b: u64) -> String {
    format!("{:.1} MiB", b as f64 / MIB as f64)
}

/// The run directory exists by now, but its filesystem is what matters; walk up if not.
fn existing_ancestor(p: &Path) -> PathBuf {
    let mut p = p.to_path_buf();
    while !p.exists() {
        if !p.pop() {
            return PathBuf::from("/");
        }
    }
    p
}
