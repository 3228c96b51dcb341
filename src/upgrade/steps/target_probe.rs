//! Check `target-probe`: asks the target image itself (in a throwaway container with no
//! volume and no network, removed afterwards) what it offers — PostgreSQL version, C library,
//! locales, `$libdir`, extension scripts, the postgres uid, PGDATA — and asks the old image
//! the same, so the checks after it compare like with like. The output pins the target by
//! image id and registry digest: the journal and the report say exactly what was checked.
//!
//! Nothing of the stack is touched; the image must already be local (`target-image` makes it
//! so, under the pull policy).

use std::sync::Arc;

use anyhow::Context;
use async_trait::async_trait;

use super::{earlier, meta};
use crate::adapters::pg_image::{self, ProbeRequest};
use crate::engine::{Finish, Step, StepContext, StepError};
use crate::upgrade::env::UpgradeEnv;
use crate::upgrade::outputs::{ClusterFacts, Discovery, ProbeOutput};
use crate::upgrade::steps::versions::short;

/// Files created in the probe's tmpfs to time a chown (enough to dwarf the exec round trip).
const CHOWN_SAMPLE_FILES: u32 = 10_000;
/// Lines sorted in each image to compare the two C libraries' collation cost.
const SORT_SAMPLE_LINES: u32 = 100_000;

pub struct TargetProbe {
    pub env: Arc<UpgradeEnv>,
}

#[async_trait]
impl Step for TargetProbe {
    meta!(
        "target-probe",
        "Target image probed in a throwaway container (pinned by id)",
        Check
    );

    fn touches(&self) -> Vec<String> {
        vec![format!(
            "a throwaway container of {} and of the current postgres image (no volume, no \
             network, removed)",
            self.env.target_image
        )]
    }

    async fn run(&self, cx: &StepContext) -> Result<Finish, StepError> {
        let d: Discovery = earlier(cx, "discover")?;
        let c: ClusterFacts = earlier(cx, "cluster-facts")?;
        let docker = self.env.docker().await?;
        let image = &self.env.target_image;
        let sort_locale = c
            .collation()
            .filter(|l| !matches!(*l, "C" | "POSIX"))
            .map(String::from);
        let req = ProbeRequest {
            sort_locale: sort_locale.clone(),
            resolve_user: c.user_override.clone(),
            paths: c
                .settings
                .iter()
                .flat_map(|s| s.entries())
                .filter(|e| e.starts_with('/'))
                .collect(),
            chown_files: Some(CHOWN_SAMPLE_FILES),
            sort_sample: Some(SORT_SAMPLE_LINES),
        };
        let target = pg_image::probe(docker, image, &req)
            .await
            .with_context(|| format!("probing {image} in a throwaway container"))?;
        let before_req = ProbeRequest {
            sort_locale,
            sort_sample: Some(SORT_SAMPLE_LINES),
            ..Default::default()
        };
        let before = match pg_image::probe(docker, &d.postgres.image_id, &before_req).await {
            Ok(f) => Some(f),
            Err(e) => {
                cx.log(format!(
                    "the current image {} could not be probed: {e}",
                    d.postgres.image
                ));
                None
            }
        };
        let out = ProbeOutput { target, before };
        let t = &out.target;
        cx.log(format!("{image} pinned as {}", out.pin()));
        cx.log(format!(
            "{image}: {}; {}; postgres uid {}; PGDATA {}",
            t.postgres_version
                .as_deref()
                .unwrap_or("no `postgres` binary found"),
            t.libc_version.as_deref().unwrap_or("C library unknown"),
            t.postgres_uid.map_or("?".into(), |u| u.to_string()),
            t.pgdata_env.as_deref().unwrap_or("(unset)")
        ));
        if let Some(b) = &out.before {
            cx.log(format!(
                "current image {} ({}): {}; {}; postgres uid {}",
                d.postgres.image,
                short(&b.image_id),
                b.postgres_version.as_deref().unwrap_or("?"),
                b.libc_version.as_deref().unwrap_or("C library unknown"),
                b.postgres_uid.map_or("?".into(), |u| u.to_string())
            ));
        }
        cx.save_output(&out)?;
        Ok(Finish::Ok)
    }
}
