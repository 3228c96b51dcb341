//! Action `pull-images`: make the target postgres image and the qdrant image local under the
//! pull policy, with progress. Undo leaves pulled images in place: an unused image harms
//! nothing, and removing one could break another stack that uses it.

use std::sync::Arc;

use anyhow::Context;
use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::meta;
use crate::engine::{Finish, Step, StepContext, StepError};
use crate::upgrade::env::UpgradeEnv;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PulledImage {
    pub image: String,
    pub id: String,
    pub digest: Option<String>,
    pub pulled: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PullOutput {
    pub target: PulledImage,
    pub qdrant: PulledImage,
}

pub struct PullImages {
    pub env: Arc<UpgradeEnv>,
}

#[async_trait]
impl Step for PullImages {
    meta!("pull-images", "Pull the new images", Action);

    fn touches(&self) -> Vec<String> {
        vec![
            format!(
                "image {} (pull policy: {})",
                self.env.target_image,
                serde_json::to_value(self.env.pull)
                    .ok()
                    .and_then(|v| v.as_str().map(String::from))
                    .unwrap_or_default()
            ),
            format!("image {}", self.env.qdrant_image),
        ]
    }

    async fn run(&self, cx: &StepContext) -> Result<Finish, StepError> {
        let docker = self.env.docker().await?;
        let mut got = Vec::new();
        for image in [&self.env.target_image, &self.env.qdrant_image] {
            let e = docker
                .ensure_image(image, self.env.pull, |p| {
                    cx.progress(p.current, Some(p.total.max(p.current)), "bytes")
                })
                .await
                .with_context(|| format!("making {image} local"))?;
            cx.log(format!(
                "{image}: {} ({})",
                if e.pulled { "pulled" } else { "already local" },
                e.facts.id
            ));
            got.push(PulledImage {
                image: image.clone(),
                id: e.facts.id.clone(),
                digest: e.facts.digest().map(String::from),
                pulled: e.pulled,
            });
        }
        let qdrant = got.pop().expect("two images");
        let target = got.pop().expect("two images");
        cx.save_output(&PullOutput { target, qdrant })?;
        Ok(Finish::Ok)
    }

    async fn undo(&self, cx: &StepContext) -> Result<(), StepError> {
        cx.log("images are kept (removing one could break another stack)");
        Ok(())
    }
}
