//! Check `major-version`: the target image's PostgreSQL major (its `PG_MAJOR`, else its tag)
//! must equal the data directory's. A different major cannot start on the same data
//! directory; refusing here means nothing has been stopped. Images built on Debian's packages
//! without `PG_MAJOR` still name the server's directory in `PATH`
//! (`/usr/lib/postgresql/<major>/bin`), which is the last source tried.

use std::sync::Arc;

use anyhow::Context;
use async_trait::async_trait;

use super::{earlier, meta};
use crate::adapters::postgres::{PgMajor, check_same_major, image_major};
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
        let Some(major) = image_major(image, &env).or_else(|| major_from_path(&env)) else {
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

/// The major from a `PATH=...:/usr/lib/postgresql/<major>/bin:...` entry of the image's env.
fn major_from_path(env: &[String]) -> Option<PgMajor> {
    let path = env.iter().find_map(|kv| kv.strip_prefix("PATH="))?;
    path.split(':').find_map(|dir| {
        let n = dir
            .strip_prefix("/usr/lib/postgresql/")?
            .strip_suffix("/bin")?;
        Some(PgMajor {
            major: n.parse().ok()?,
            minor: None,
        })
    })
}

#[cfg(test)]
mod tests {
    use super::major_from_path;

    #[test]
    fn major_from_a_debian_path() {
        let env = vec!["PATH=/usr/lib/postgresql/17/bin:/usr/bin".to_string()];
        assert_eq!(major_from_path(&env).map(|m| m.major), Some(17));
        assert_eq!(major_from_path(&["PATH=/usr/bin".to_string()]), None);
    }
}
