//! Check `discover`: find the stack's containers by their Compose labels (never by name, which
//! differs between Compose v1 and v2). Postgres must be there; a writer service that is absent
//! (privexbot's celery-worker is often commented out) is reported and skipped, not an error.
//! A scaled writer service contributes every replica.

use std::sync::Arc;

use anyhow::Context;
use async_trait::async_trait;

use super::meta;
use crate::engine::{Finish, Step, StepContext, StepError};
use crate::upgrade::env::UpgradeEnv;
use crate::upgrade::outputs::{Discovery, Found};

pub struct Discover {
    pub env: Arc<UpgradeEnv>,
}

#[async_trait]
impl Step for Discover {
    meta!(
        "discover",
        "Stack discovered; services present or reported absent",
        Check
    );

    fn touches(&self) -> Vec<String> {
        let mut t = vec![format!(
            "containers labelled com.docker.compose.project={}",
            self.env.project
        )];
        let f = &self.env.facts;
        if !f.compose_reader.is_empty() {
            t.push(format!(
                "project read by {}: {}",
                f.compose_reader,
                f.compose_files
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        for w in f.writers.iter().filter(|w| w.replicas > 1) {
            t.push(format!(
                "{}: {} replicas, each stopped",
                w.service, w.replicas
            ));
        }
        for w in &self.env.facts.absent_writers {
            t.push(format!("{w}: not in the compose file, will be skipped"));
        }
        t
    }

    async fn check_world(&self, cx: &StepContext) -> Result<(), StepError> {
        crate::upgrade::world::as_discovered(&self.env, cx).await
    }

    async fn run(&self, cx: &StepContext) -> Result<Finish, StepError> {
        let env = &self.env;
        let docker = env.docker().await?;
        let all = docker
            .find_stack(&env.project)
            .await
            .context("listing the stack's containers")?;
        let of = |svc: &str| all.iter().find(|c| c.service == svc);
        let Some(pg) = of(&env.postgres_service) else {
            return Err(StepError::new(format!(
                "project {} has no {} container: is the stack up (`docker compose ps`), and are \
                 `project` and `postgres_service` right (`cutover config --print`)?",
                env.project, env.postgres_service
            )));
        };
        if !pg.is_running() {
            return Err(StepError::new(format!(
                "{} is {}, not running: start the stack as it is before upgrading",
                pg.name, pg.state
            )));
        }
        let mut writers = Vec::new();
        let mut absent = Vec::new();
        for svc in env.writer_services() {
            // Every replica (`deploy.replicas`, `scale`, `up --scale`): one left running would
            // keep writing through the backup.
            let replicas: Vec<_> = all.iter().filter(|c| c.service == svc).collect();
            for c in &replicas {
                cx.log(format!("{svc}: {} ({}, {})", c.name, c.image, c.state));
                writers.push(Found::from(*c));
            }
            if replicas.is_empty() {
                cx.log(format!("{svc}: no container: skipped"));
                absent.push(svc);
            }
        }
        let inspect = docker
            .inspect(&pg.id)
            .await
            .context("inspecting postgres")?;
        let network = inspect
            .network_settings
            .as_ref()
            .and_then(|n| n.networks.as_ref())
            .and_then(|n| n.keys().min().cloned());
        let restart = inspect
            .host_config
            .as_ref()
            .and_then(|h| h.restart_policy.as_ref())
            .and_then(|r| r.name)
            .map(|n| n.to_string())
            .filter(|n| !n.is_empty());
        let out = Discovery {
            postgres: Found::from(pg),
            writers,
            absent: absent.clone(),
            network,
            restart,
            compose_version: pg
                .labels
                .get("com.docker.compose.version")
                .cloned()
                .unwrap_or_else(|| "2".into()),
            qdrant: of("qdrant").map(Found::from),
        };
        cx.log(format!("postgres: {} ({})", pg.name, pg.image));
        cx.save_output(&out)?;
        if absent.is_empty() {
            Ok(Finish::Ok)
        } else {
            Ok(Finish::Warning(format!(
                "no container for {}: skipped (commented out in the compose file?)",
                absent.join(", ")
            )))
        }
    }
}
