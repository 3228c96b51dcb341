//! Action `start-qdrant`: create and start the qdrant service's container exactly as the edited
//! compose file describes it (Compose's labels, `<project>_qdrant_data` volume, postgres's
//! network, the same ports and healthcheck), then wait for Qdrant's real `/readyz` and read
//! `/collections`, through the address the engine reports (the guide's `curl
//! localhost:6333/health` is neither the right endpoint nor the right address, defect 7).
//!
//! Undo stops and removes the container; the volume stays (it may hold vectors by then).

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use async_trait::async_trait;
use bollard::models::HealthConfig;
use serde::{Deserialize, Serialize};

use super::discover::Discovery;
use super::edit_compose::EditOutput;
use super::{earlier, meta};
use crate::adapters::docker::{ServicePort, ServiceSpec, ServiceVolume};
use crate::adapters::http::HttpClient;
use crate::engine::{Finish, Step, StepContext, StepError};
use crate::upgrade::env::UpgradeEnv;

const NS: i64 = 1_000_000_000;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct QdrantOutput {
    pub container: String,
    /// True when this step created the container (undo removes only what it created).
    pub created: bool,
    pub endpoint: Option<String>,
    pub collections: Option<Vec<String>>,
    pub ready_ms: Option<u64>,
    /// The volume this step's container mounts, and whether this step created it (journaled
    /// before the create): undo removes it only then, and only if qdrant holds no collection.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volume: Option<String>,
    #[serde(default)]
    pub volume_created: bool,
}

pub struct StartQdrant {
    pub env: Arc<UpgradeEnv>,
}

impl StartQdrant {
    fn spec(&self, d: &Discovery, e: &EditOutput) -> ServiceSpec {
        let edit = &e.edit;
        ServiceSpec {
            project: self.env.project.clone(),
            service: edit.qdrant_service.clone(),
            image: edit.qdrant_image.clone(),
            env: Vec::new(),
            command: None,
            volumes: vec![ServiceVolume {
                name: edit.qdrant_volume.clone(),
                target: "/qdrant/storage".into(),
                read_only: false,
            }],
            // The file says "HOST:CONTAINER", which Compose binds on every interface.
            ports: edit
                .qdrant_ports
                .iter()
                .map(|p| ServicePort {
                    container: p.container,
                    host: Some(p.host),
                    host_ip: Some("0.0.0.0".into()),
                })
                .collect(),
            network: d.network.clone(),
            healthcheck: Some(HealthConfig {
                test: Some(edit.qdrant_healthcheck.clone()),
                interval: Some(10 * NS),
                timeout: Some(5 * NS),
                retries: Some(5),
                start_period: Some(10 * NS),
                ..Default::default()
            }),
            restart: d.restart.clone(),
            container_name: None,
            compose_version: d.compose_version.clone(),
        }
    }
}

#[async_trait]
impl Step for StartQdrant {
    meta!(
        "start-qdrant",
        "Start qdrant; verify /readyz and /collections",
        Action
    );

    fn touches(&self) -> Vec<String> {
        vec![
            format!(
                "container {}-qdrant-1 ({})",
                self.env.project, self.env.qdrant_image
            ),
            format!("volume {}_qdrant_data", self.env.project),
            "GET /readyz, GET /collections at the address the engine reports".into(),
        ]
    }

    fn timeout(&self) -> Duration {
        self.env.ready_timeout + Duration::from_secs(60)
    }

    async fn run(&self, cx: &StepContext) -> Result<Finish, StepError> {
        let d: Discovery = earlier(cx, "discover")?;
        let e: EditOutput = earlier(cx, "edit-compose")?;
        let docker = self.env.docker().await?;
        let spec = self.spec(&d, &e);
        let name = spec.container_name();
        let mut out = match cx.output::<QdrantOutput>() {
            Some(o) => o,
            None => {
                let created = docker
                    .try_inspect(&name)
                    .await
                    .context("looking for qdrant")?
                    .is_none();
                let volume = e.edit.qdrant_volume.clone();
                let volume_created = created
                    && !docker
                        .volume_exists(&self.env.project, &volume)
                        .await
                        .context("looking for qdrant's volume")?;
                QdrantOutput {
                    container: name.clone(),
                    created,
                    endpoint: None,
                    collections: None,
                    ready_ms: None,
                    volume: Some(volume),
                    volume_created,
                }
            }
        };
        cx.save_output(&out)?;
        docker
            .create_service(&spec)
            .await
            .context("creating qdrant")?;
        docker.start(&name).await.context("starting qdrant")?;
        let ep = docker
            .resolve_endpoint(&name, 6333)
            .await
            .context("finding qdrant's address")?;
        let base = ep.http_base();
        cx.log(format!("qdrant at {base} (via {})", ep.via));
        let http = HttpClient::new(Duration::from_secs(3));
        let t = Instant::now();
        loop {
            match http.qdrant_readyz(&base).await {
                Ok(()) => break,
                Err(err) if t.elapsed() > self.env.ready_timeout => {
                    return Err(StepError::new(format!(
                        "qdrant not ready after {}s: {err}",
                        self.env.ready_timeout.as_secs()
                    )));
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(250)).await,
            }
        }
        let ready_ms = t.elapsed().as_millis() as u64;
        let cols = http
            .qdrant_collections(&base)
            .await
            .context("GET /collections")?;
        cx.log(format!(
            "/readyz ok after {ready_ms} ms; /collections: {} collection(s)",
            cols.names.len()
        ));
        out.endpoint = Some(base);
        out.collections = Some(cols.names);
        out.ready_ms = Some(ready_ms);
        cx.save_output(&out)?;
        Ok(Finish::Ok)
    }

    async fn undo(&self, cx: &StepContext) -> Result<(), StepError> {
        let Some(out) = cx.output::<QdrantOutput>() else {
            return Ok(());
        };
        if !out.created {
            cx.log(format!("{} existed before: left as it is", out.container));
            return Ok(());
        }
        let docker = self.env.docker().await?;
        let keep_volume = self.volume_holds_data(&out).await;
        docker
            .stop(&out.container, self.env.stop_timeout)
            .await
            .or_else(|e| if e.is_not_found() { Ok(()) } else { Err(e) })
            .context("stopping qdrant")?;
        docker
            .remove(&out.container, false)
            .await
            .context("removing qdrant")?;
        match (&out.volume, out.volume_created, keep_volume) {
            (Some(v), true, None) => {
                let full = docker
                    .remove_volume(&self.env.project, v)
                    .await
                    .context("removing qdrant's volume")?;
                cx.log(format!(
                    "{} removed, and its volume {full} (created by this run, no collection)",
                    out.container
                ));
            }
            (Some(_), true, Some(why)) => cx.log(format!(
                "{} removed; its volume is kept: {why}",
                out.container
            )),
            _ => cx.log(format!(
                "{} removed; its volume existed before: kept",
                out.container
            )),
        }
        Ok(())
    }
}

impl StartQdrant {
    /// Why the volume this run created must be kept (qdrant holds collections, or cannot
    /// tell), or None when it may go: qdrant never answered ready in this run (nothing could
    /// write to it), or it answers with no collection.
    async fn volume_holds_data(&self, out: &QdrantOutput) -> Option<String> {
        let base = out.endpoint.as_ref()?;
        let http = HttpClient::new(Duration::from_secs(3));
        match http.qdrant_collections(base).await {
            Ok(c) if c.names.is_empty() => None,
            Ok(c) => Some(format!("it holds collection(s) {}", c.names.join(", "))),
            Err(e) => Some(format!(
                "cannot tell whether it holds collections ({e}); remove it by hand if not"
            )),
        }
    }
}
