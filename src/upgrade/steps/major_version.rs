//! Check `major-version`: the target image's PostgreSQL major (its `PG_MAJOR`, else its tag)
//! must equal the data directory's. A different major cannot start on the same data
//! directory; refusing here means nothing has been stopped.

use std::sync::Arc;

use anyhow::Context;
use async_trait::async_trait;

use super::{earlier, meta};
use crate::adapters::postgres::{check_same_major, image_major};
use crate::engine::{Finish, Step, StepContext, StepError};
use crate::upgrade::env::UpgradeEnv;
use crate::upgrade::steps::versions::Versions;

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
        vec![format!("image {} (PG_MAJOR or tag)", self.env.target_image)]
    }

    async fn run(&self, cx: &StepContext) -> Result<Finish, StepError> {
        let v: Versions = earlier(cx, "versions")?;
        let image = &self.env.target_image;
        let env = match self
            .env
            .docker()
            .await?
            .try_inspect_image(image)
            .await
            .context("inspecting the target image")?
        {
            Some(f) => f.env,
            None => Vec::new(),
        };
        let Some(major) = image_major(image, &env) else {
            return Err(StepError::new(format!(
                "cannot tell which PostgreSQL major {image} runs: it has no PG_MAJOR and its tag \
                 names no version; make it local (so PG_MAJOR can be read) or use a versioned tag"
            )));
        };
        check_same_major(v.data_dir_major, image, major)
            .context("refusing before anything is stopped")?;
        cx.log(format!(
            "data directory {} = {image} {major}",
            v.data_dir_major
        ));
        Ok(Finish::Ok)
    }
}
