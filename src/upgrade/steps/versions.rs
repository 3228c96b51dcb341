//! Check `versions`: the running server's version, the data directory's `PG_VERSION`, and the
//! image ids and digests before the upgrade, for the major-version check and the report.

use std::sync::Arc;

use anyhow::Context;
use async_trait::async_trait;

use super::{earlier, meta};
use crate::adapters::docker::ExecSpec;
use crate::adapters::postgres::{self, PgMajor};
use crate::engine::{Finish, Step, StepContext, StepError};
use crate::upgrade::env::UpgradeEnv;
use crate::upgrade::outputs::{Discovery, Versions};

pub struct ReadVersions {
    pub env: Arc<UpgradeEnv>,
}

#[async_trait]
impl Step for ReadVersions {
    meta!(
        "versions",
        "Versions of the server, data directory and images",
        Check
    );

    fn touches(&self) -> Vec<String> {
        vec![format!(
            "{}: SELECT version(), $PGDATA/PG_VERSION",
            self.env.facts.postgres.container
        )]
    }

    async fn run(&self, cx: &StepContext) -> Result<Finish, StepError> {
        let d: Discovery = earlier(cx, "discover")?;
        let docker = self.env.docker().await?;
        let client = self.env.connect().await?;
        let server = postgres::server_version(&client)
            .await
            .context("reading the server version")?;
        let out = docker
            .exec_output(
                &d.postgres.container,
                &ExecSpec::new([
                    "sh",
                    "-c",
                    "cat \"${PGDATA:-/var/lib/postgresql/data}/PG_VERSION\"",
                ]),
            )
            .await
            .context("reading PG_VERSION in the postgres container")?;
        if out.exit_code != 0 {
            return Err(StepError::new(format!(
                "cannot read the data directory's PG_VERSION in {}: {}",
                d.postgres.container,
                out.stderr_str().trim()
            )));
        }
        let data_dir_major =
            PgMajor::parse_pg_version_file(&out.stdout_str()).context("reading PG_VERSION")?;
        let facts = docker
            .try_inspect_image(&d.postgres.image_id)
            .await
            .context("inspecting postgres's image")?;
        let v = Versions {
            server_before: server.text.clone(),
            data_dir_major,
            image_before: d.postgres.image.clone(),
            image_id_before: d.postgres.image_id.clone(),
            digest_before: facts.as_ref().and_then(|f| f.digest().map(String::from)),
        };
        cx.log(format!(
            "server {}; data directory {}; image {} ({})",
            server.text,
            data_dir_major,
            v.image_before,
            short(&v.image_id_before)
        ));
        cx.save_output(&v)?;
        Ok(Finish::Ok)
    }
}

pub fn short(id: &str) -> &str {
    let id = id.strip_prefix("sha256:").unwrap_or(id);
    &id[..id.len().min(12)]
}
