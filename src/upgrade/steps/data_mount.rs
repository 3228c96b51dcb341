//! Check `data-mount`: the new container will look for its cluster where the data really is.
//! Its PGDATA is the compose override if there is one (the recreate carries it), else the
//! target image's own; if that is not the directory the old server used, on the same mount,
//! the new server finds no cluster there and initialises an empty one (PostgreSQL 18's images
//! moved PGDATA to /var/lib/postgresql/18/docker). A data directory on no mount at all would
//! be lost with the old container.

use std::sync::Arc;

use async_trait::async_trait;

use super::{earlier, meta};
use crate::engine::{Finish, Step, StepContext, StepError};
use crate::upgrade::env::UpgradeEnv;
use crate::upgrade::outputs::{ClusterFacts, ProbeOutput};

const DEFAULT_PGDATA: &str = "/var/lib/postgresql/data";

pub struct DataMount {
    pub env: Arc<UpgradeEnv>,
}

#[async_trait]
impl Step for DataMount {
    meta!(
        "data-mount",
        "Target's PGDATA is the data directory on the same mount",
        Check
    );

    fn touches(&self) -> Vec<String> {
        vec![format!(
            "PGDATA and VOLUME of {} vs the mounts of {}",
            self.env.target_image, self.env.facts.postgres.container
        )]
    }

    async fn run(&self, cx: &StepContext) -> Result<Finish, StepError> {
        let c: ClusterFacts = earlier(cx, "cluster-facts")?;
        let p: ProbeOutput = earlier(cx, "target-probe")?;
        let image = &self.env.target_image;
        let Some(mount) = &c.mount else {
            return Err(StepError::new(format!(
                "the data directory {} of {} is on no volume or bind mount: it lives in the \
                 container's own layer and would be lost with it. Refused before anything was \
                 stopped. Fix: move the data onto a named volume first",
                c.data_dir, self.env.facts.postgres.container
            )));
        };
        let (new_pgdata, from) = match (&c.pgdata_override, &p.target.pgdata_env) {
            (Some(o), _) => (o.clone(), "the compose environment"),
            (None, Some(i)) => (i.clone(), "the image's PGDATA"),
            (None, None) => (DEFAULT_PGDATA.to_string(), "the default"),
        };
        cx.log(format!(
            "data at {} on {} {} (mounted at {}); {image} will use {new_pgdata} ({from}); \
             image VOLUME: {}",
            c.data_dir,
            mount.kind,
            mount.source,
            mount.destination,
            if p.target.volumes.is_empty() {
                "none".to_string()
            } else {
                p.target.volumes.join(", ")
            }
        ));
        if new_pgdata.trim_end_matches('/') != c.data_dir.trim_end_matches('/') {
            return Err(StepError::new(format!(
                "{image} would look for its cluster in {new_pgdata} ({from}) but the data is in \
                 {} (mount {}): the new server would start an empty cluster. Refused before \
                 anything was stopped. Fix: set `PGDATA: {}` in the environment of service {}",
                c.data_dir, mount.destination, c.data_dir, self.env.postgres_service
            )));
        }
        let stray: Vec<&String> = p
            .target
            .volumes
            .iter()
            .filter(|v| v.trim_end_matches('/') != mount.destination.trim_end_matches('/'))
            .collect();
        if !stray.is_empty() {
            return Ok(Finish::Warning(format!(
                "{image} declares VOLUME {} which the stack does not mount: the engine will add \
                 an anonymous volume there (the data stays on {})",
                stray
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
                mount.source
            )));
        }
        Ok(Finish::Ok)
    }
}
