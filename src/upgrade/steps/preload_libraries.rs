//! Check `preload-libraries`: every library named in `shared_preload_libraries` (and the
//! session/local variants) — from postgresql.conf, postgresql.auto.conf or the compose
//! `command:` — exists in the target image's `$libdir`. A missing shared preload library
//! stops the new server at start (`could not access file "...": No such file or directory`),
//! so it refuses here, before anything is stopped.

use std::sync::Arc;

use async_trait::async_trait;

use super::{earlier, meta};
use crate::engine::{Finish, Step, StepContext, StepError};
use crate::upgrade::env::UpgradeEnv;
use crate::upgrade::outputs::{ClusterFacts, ProbeOutput};

pub struct PreloadLibraries {
    pub env: Arc<UpgradeEnv>,
}

#[async_trait]
impl Step for PreloadLibraries {
    meta!(
        "preload-libraries",
        "Target image has every preloaded library",
        Check
    );

    fn touches(&self) -> Vec<String> {
        vec![format!(
            "$libdir of {} vs shared_preload_libraries (conf files, compose command)",
            self.env.target_image
        )]
    }

    async fn run(&self, cx: &StepContext) -> Result<Finish, StepError> {
        let c: ClusterFacts = earlier(cx, "cluster-facts")?;
        let p: ProbeOutput = earlier(cx, "target-probe")?;
        let image = &self.env.target_image;
        let libdir = p.target.pkglibdir.as_deref().unwrap_or("$libdir");
        let mut missing = Vec::new();
        let mut checked = Vec::new();
        for s in c
            .settings
            .iter()
            .filter(|s| s.name.ends_with("_preload_libraries"))
        {
            for lib in s.entries() {
                if p.target.has_library(&lib) {
                    checked.push(lib);
                } else {
                    missing.push(format!("{lib} ({} in {})", s.name, s.source));
                }
            }
        }
        if checked.is_empty() && missing.is_empty() {
            cx.log("no preload libraries configured");
            return Ok(Finish::Ok);
        }
        if !checked.is_empty() {
            cx.log(format!("found in {image} {libdir}: {}", checked.join(", ")));
        }
        if !missing.is_empty() {
            let not_found = if p.target.pkglibdir.is_none() {
                " (no PostgreSQL library directory found in it at all)"
            } else {
                ""
            };
            return Err(StepError::new(format!(
                "{image} lacks preloaded librar(ies) {} in {libdir}{not_found}: the new server \
                 would not start. Refused before anything was stopped. Fix: use a target image \
                 that ships them (install the extension's package in a Dockerfile FROM {image}), \
                 or remove them from the setting (postgresql.conf, ALTER SYSTEM RESET, or the \
                 compose command) and restart the current server first",
                missing.join(", ")
            )));
        }
        Ok(Finish::Ok)
    }
}
