//! Check `major-version`: the PostgreSQL major the target image really runs must equal the
//! data directory's. A different major cannot start on the same data directory; refusing
//! here means nothing has been stopped.
//!
//! The major is read from the image itself by `target-probe` (`postgres --version` in a
//! throwaway container, else the image's `PG_MAJOR`), never guessed from the tag: a tag such
//! as `postgres-after:487fda13df613da6` once read as "PostgreSQL 487", and `0.8.0-pg16` reads
//! as 0.

use std::sync::Arc;

use anyhow::Context;
use async_trait::async_trait;

use super::{earlier, meta};
use crate::adapters::postgres::check_same_major;
use crate::engine::{Finish, Step, StepContext, StepError};
use crate::upgrade::env::UpgradeEnv;
use crate::upgrade::outputs::{ProbeOutput, Versions};

pub struct MajorVersion {
    pub env: Arc<UpgradeEnv>,
}

#[async_trait]
impl Step for MajorVersion {
    meta!(
        "major-version",
        "Target image has the data directory's major version",
        Check
    );

    fn touches(&self) -> Vec<String> {
        vec![format!(
            "image {} (`postgres --version` inside it, else PG_MAJOR)",
            self.env.target_image
        )]
    }

    async fn run(&self, cx: &StepContext) -> Result<Finish, StepError> {
        let v: Versions = earlier(cx, "versions")?;
        let p: ProbeOutput = earlier(cx, "target-probe")?;
        let image = &self.env.target_image;
        let Some(major) = p.target.major() else {
            return Err(StepError::new(format!(
                "cannot tell which PostgreSQL major {image} runs: `postgres --version` found no \
                 server in it and it sets no PG_MAJOR. Is it a PostgreSQL image? Use one whose \
                 `postgres` is on PATH, or set PG_MAJOR in it"
            )));
        };
        check_same_major(v.data_dir_major, image, major)
            .context("refusing before anything is stopped")?;
        cx.log(format!(
            "data directory {} = {image} {major} (from {})",
            v.data_dir_major,
            p.target.major_source()
        ));
        Ok(Finish::Ok)
    }
}
