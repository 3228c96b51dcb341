//! Check `data-ownership`: who will own the data directory under the target image. The old
//! image's postgres may be another uid than the new one's (Alpine's is 70, Debian's 999).
//! Started as root, the official entrypoints (and the test bed's) `chown` every file of
//! PGDATA to their own postgres user before the server even reads its configuration: that
//! takes time in the window, and a later rollback to the old image needs the files back. With
//! a compose `user:`, nothing is chowned and that uid must already own the directory, or the
//! server refuses to start ("data directory has wrong ownership"), which refuses here.

use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::cluster_facts::opt;
use super::{earlier, meta};
use crate::engine::{Finish, Step, StepContext, StepError};
use crate::upgrade::env::UpgradeEnv;
use crate::upgrade::outputs::{ClusterFacts, ProbeOutput};

/// What will happen to ownership, journaled for the report and the rollback.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct OwnershipOutput {
    pub owner_uid: Option<u32>,
    /// The uid the new server will run as.
    pub runs_as_uid: Option<u32>,
    /// The target's entrypoint will chown the data directory to `runs_as_uid`.
    pub chown: bool,
    pub files: Option<u64>,
    pub estimate_ms: Option<u64>,
    /// How the estimate was made, for the report.
    pub how: String,
}

pub struct DataOwnership {
    pub env: Arc<UpgradeEnv>,
}

#[async_trait]
impl Step for DataOwnership {
    meta!(
        "data-ownership",
        "Data directory owner vs the target image's postgres uid",
        Check
    );

    fn touches(&self) -> Vec<String> {
        vec![format!(
            "owner of $PGDATA in {} vs the postgres uid of {} (or the compose user:)",
            self.env.facts.postgres.container, self.env.target_image
        )]
    }

    async fn run(&self, cx: &StepContext) -> Result<Finish, StepError> {
        let c: ClusterFacts = earlier(cx, "cluster-facts")?;
        let p: ProbeOutput = earlier(cx, "target-probe")?;
        let image = &self.env.target_image;
        let t = &p.target;
        // The recreate carries a compose `user:`; else the image's USER; else root, and the
        // entrypoint drops to its postgres user after fixing ownership.
        let declared = c.user_override.clone().or_else(|| t.user.clone());
        let as_root = declared
            .as_deref()
            .is_none_or(|u| matches!(u.split(':').next(), Some("" | "0" | "root")));
        let mut out = OwnershipOutput {
            owner_uid: c.data_owner_uid,
            runs_as_uid: None,
            chown: false,
            files: c.data_files,
            estimate_ms: None,
            how: String::new(),
        };
        if !as_root {
            let spec = declared.unwrap_or_default();
            let uid = t
                .resolved_user
                .as_ref()
                .filter(|r| r.spec == spec)
                .and_then(|r| r.uid)
                .or_else(|| spec.split(':').next().and_then(|u| u.parse().ok()));
            out.runs_as_uid = uid;
            cx.save_output(&out)?;
            cx.log(format!(
                "the server will run as `{spec}` (uid {}); {} is owned by uid {}",
                opt(uid),
                c.data_dir,
                opt(c.data_owner_uid)
            ));
            return match (uid, c.data_owner_uid) {
                (Some(u), Some(o)) if u != o => Err(StepError::new(format!(
                    "the server would run as `{spec}` (uid {u} in {image}) but {} is owned by \
                     uid {o}: PostgreSQL refuses to start on a data directory it does not own. \
                     Refused before anything was stopped. Fix: set the compose `user:` of {} to \
                     \"{o}\" (the owner), or remove `user:` so the entrypoint can fix ownership",
                    c.data_dir, self.env.postgres_service
                ))),
                (Some(_), Some(_)) => Ok(Finish::Ok),
                _ => Ok(Finish::Warning(format!(
                    "could not tell whether `{spec}` owns {}: check by hand",
                    c.data_dir
                ))),
            };
        }
        out.runs_as_uid = t.postgres_uid;
        let (Some(owner), Some(new_uid)) = (c.data_owner_uid, t.postgres_uid) else {
            cx.save_output(&out)?;
            return Ok(Finish::Warning(format!(
                "could not compare the data directory's owner ({}) with {image}'s postgres uid \
                 ({}): its entrypoint may chown the data directory",
                opt(c.data_owner_uid),
                opt(t.postgres_uid)
            )));
        };
        if owner == new_uid {
            cx.save_output(&out)?;
            cx.log(format!(
                "{} is owned by uid {owner}, the postgres uid of {image}: nothing to chown",
                c.data_dir
            ));
            return Ok(Finish::Ok);
        }
        out.chown = true;
        let files = c.data_files.unwrap_or(0);
        if let Some(ch) = t.chown {
            let per_file = ch.ms as f64 / ch.files.max(1) as f64;
            let ms = (files as f64 * per_file) as u64 + c.data_walk_ms.unwrap_or(0);
            out.estimate_ms = Some(ms);
            out.how = format!(
                "chown -R of {} files took {} ms on a tmpfs in a throwaway container of {image}; \
                 plus {} ms to walk the {files} files of the data directory where it lives",
                ch.files,
                ch.ms,
                c.data_walk_ms.unwrap_or(0)
            );
        }
        cx.save_output(&out)?;
        let estimate = out.estimate_ms.map_or("time unknown".to_string(), |ms| {
            format!("about {:.1} s", ms as f64 / 1000.0)
        });
        cx.log(format!(
            "chown: {files} files of {} from uid {owner} to {new_uid} ({estimate}; {})",
            c.data_dir, out.how
        ));
        Ok(Finish::Warning(format!(
            "{image}'s entrypoint will chown {files} files of the data directory from uid \
             {owner} to uid {new_uid} at its first start ({estimate}); a rollback to the old \
             image must give them back to uid {owner}"
        )))
    }
}
