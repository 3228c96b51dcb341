//! Check `extensions`: every extension installed in the cluster's databases has its installed
//! version available in the target image (a control file, and that version among the
//! install or update scripts of share/extension). Without it the catalog names functions the
//! new server cannot load, and `ALTER EXTENSION ... UPDATE` has nowhere to go.

use std::sync::Arc;

use async_trait::async_trait;

use super::{earlier, meta};
use crate::engine::{Finish, Step, StepContext, StepError};
use crate::upgrade::env::UpgradeEnv;
use crate::upgrade::outputs::{ClusterFacts, ProbeOutput};

pub struct ExtensionsAvailable {
    pub env: Arc<UpgradeEnv>,
}

#[async_trait]
impl Step for ExtensionsAvailable {
    meta!(
        "extensions",
        "Target image offers every installed extension's version",
        Check
    );

    fn touches(&self) -> Vec<String> {
        vec![format!(
            "share/extension of {} vs pg_extension of every database",
            self.env.target_image
        )]
    }

    async fn run(&self, cx: &StepContext) -> Result<Finish, StepError> {
        let c: ClusterFacts = earlier(cx, "cluster-facts")?;
        let p: ProbeOutput = earlier(cx, "target-probe")?;
        let image = &self.env.target_image;
        let mut problems = Vec::new();
        let mut updatable = Vec::new();
        for e in &c.extensions {
            match p.target.extension_versions(&e.name) {
                None => problems.push(format!(
                    "{} {} (database {}): no {}.control in {image}",
                    e.name, e.version, e.database, e.name
                )),
                Some(v) if !v.contains(&e.version) => problems.push(format!(
                    "{} {} (database {}): {image} offers only {}",
                    e.name,
                    e.version,
                    e.database,
                    v.into_iter().collect::<Vec<_>>().join(", ")
                )),
                Some(_) => {
                    if let Some(d) = p.target.extension_defaults.get(&e.name)
                        && *d != e.version
                    {
                        updatable.push(format!("{} {} → {d} ({})", e.name, e.version, e.database));
                    }
                }
            }
        }
        cx.log(format!(
            "{} installed extension(s) checked against {}",
            c.extensions.len(),
            p.target.extension_dir.as_deref().unwrap_or("?")
        ));
        for u in &updatable {
            cx.log(format!("update available after the upgrade: {u}"));
        }
        if !problems.is_empty() {
            return Err(StepError::new(format!(
                "{image} cannot carry the installed extension(s): {}. Refused before anything \
                 was stopped. Fix: use a target image that ships these extension versions (or \
                 newer ones with update scripts from them), or drop the extension first",
                problems.join("; ")
            )));
        }
        Ok(Finish::Ok)
    }
}
