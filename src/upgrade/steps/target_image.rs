//! Check `target-image`: the target postgres image and the qdrant image are present locally,
//! or may be pulled under the pull policy. Under `never` an absent image refuses here, before
//! anything is stopped, rather than in the middle of the window. An absent target postgres
//! image is pulled here, when the policy allows: `target-probe` must look inside it before
//! anything is stopped (a pull changes nothing of the stack).

use std::sync::Arc;

use anyhow::Context;
use async_trait::async_trait;

use super::meta;
use crate::adapters::docker::PullPolicy;
use crate::engine::{Finish, Step, StepContext, StepError};
use crate::upgrade::env::UpgradeEnv;
use crate::upgrade::steps::versions::short;

pub struct TargetImage {
    pub env: Arc<UpgradeEnv>,
}

#[async_trait]
impl Step for TargetImage {
    meta!(
        "target-image",
        "Target images are present or pullable",
        Check
    );

    fn touches(&self) -> Vec<String> {
        vec![
            format!("image {}", self.env.target_image),
            format!("image {}", self.env.qdrant_image),
        ]
    }

    async fn run(&self, cx: &StepContext) -> Result<Finish, StepError> {
        let docker = self.env.docker().await?;
        let mut to_pull = Vec::new();
        for image in [&self.env.target_image, &self.env.qdrant_image] {
            match docker
                .try_inspect_image(image)
                .await
                .with_context(|| format!("inspecting image {image}"))?
            {
                Some(f) => cx.log(format!("{image}: local ({})", short(&f.id))),
                None if self.env.pull == PullPolicy::Never => {
                    return Err(StepError::new(format!(
                        "image {image} is not present locally and the pull policy is `never`: \
                         load it (`docker load`) or allow pulling (--pull missing)"
                    )));
                }
                None if *image == self.env.target_image => {
                    let e = docker
                        .ensure_image(image, self.env.pull, |p| {
                            cx.progress(p.current, Some(p.total.max(p.current)), "bytes")
                        })
                        .await
                        .with_context(|| format!("pulling {image} so it can be checked"))?;
                    cx.log(format!(
                        "{image}: pulled now so the pre-flight can look inside it ({})",
                        short(&e.facts.id)
                    ));
                }
                None => {
                    cx.log(format!("{image}: not local; pull-images will pull it"));
                    to_pull.push(image.clone());
                }
            }
        }
        Ok(if to_pull.is_empty() {
            Finish::Ok
        } else {
            Finish::Warning(format!(
                "{} will be pulled from a registry during the window",
                to_pull.join(", ")
            ))
        })
    }
}
