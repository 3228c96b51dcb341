//! Action `start-qdrant`: let the Compose tool create and start the qdrant service from the
//! edited compose file (`up -d --no-deps --no-build qdrant`, so a later `docker compose up -d`
//! finds it up to date), before the writers stop: qdrant does not need the new postgres, and a
//! failure here (a taken host port) then costs no downtime. Then wait for Qdrant's real `/readyz` and read
//! `/collections`, through the address the engine reports (the guide's `curl
//! localhost:6333/health` is neither the right endpoint nor the right address, defect 7).
//!
//! Undo stops and removes the container; the volume stays (it may hold vectors by then).

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use async_trait::async_trait;

use super::{earlier, meta};
use crate::adapters::http::HttpClient;
use crate::engine::{Finish, Step, StepContext, StepError};
use crate::upgrade::compose_up;
use crate::upgrade::env::UpgradeEnv;
use crate::upgrade::outputs::{EditOutput, EngineOutput, QdrantOutput};

pub struct StartQdrant {
    pub env: Arc<UpgradeEnv>,
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
                "container {}-qdrant-1 ({}), created by `compose up -d --no-deps --no-build \
                 qdrant` before the writers stop",
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
        let e: EditOutput = earlier(cx, "edit-compose")?;
        let tool = compose_up::required(
            cx.output_of::<EngineOutput>("engine")
                .and_then(|e| e.compose_tool),
        )?;
        let docker = self.env.docker().await?;
        let service = e.edit.qdrant_service.clone();
        let mut out = match cx.output::<QdrantOutput>() {
            Some(o) => o,
            None => {
                let existing = self
                    .env
                    .service_container(&service)
                    .await
                    .context("looking for qdrant")?;
                let volume = e.edit.qdrant_volume.clone();
                let volume_created = existing.is_none()
                    && !docker
                        .volume_exists(&self.env.project, &volume)
                        .await
                        .context("looking for qdrant's volume")?;
                QdrantOutput {
                    container: existing.clone().unwrap_or_default(),
                    created: existing.is_none(),
                    endpoint: None,
                    collections: None,
                    ready_ms: None,
                    volume: Some(volume),
                    volume_created,
                }
            }
        };
        cx.save_output(&out)?;
        let said = compose_up::up_service(
            &tool,
            &self.env.facts.compose_files,
            &self.env.project,
            &service,
        )
        .await
        .map_err(|err| {
            port_taken(&err, &e).unwrap_or_else(|| {
                StepError::from_anyhow(&err.context("starting qdrant with Compose"))
            })
        })?;
        for l in said.lines().filter(|l| !l.trim().is_empty()) {
            cx.log(l.to_string());
        }
        let name = self
            .env
            .service_container(&service)
            .await
            .context("looking for qdrant")?
            .ok_or_else(|| {
                StepError::new(format!(
                    "Compose reported success but service {service} has no container"
                ))
            })?;
        out.container = name.clone();
        cx.save_output(&out)?;
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
        // Said where the operator looks (stderr once, the summary, the report), not only in
        // the plan: whoever expects Qdrant on localhost:6333 after the window must know.
        if e.edit.qdrant_ports.is_empty() {
            return Ok(Finish::Warning(format!(
                "qdrant is not published on the host (its usual ports 6333/6334 were taken, or \
                 qdrant_ports = none): the backend reaches it at http://{service}:6333 on the \
                 stack's network; set qdrant_ports (e.g. 16333:6333) to publish it"
            )));
        }
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
        // Created by Compose: found by its labels (a crash may have come before the name was
        // journaled).
        let service = cx
            .output_of::<EditOutput>("edit-compose")
            .map(|e| e.edit.qdrant_service)
            .unwrap_or_else(|| "qdrant".into());
        let mut out = out;
        if let Some(n) = self
            .env
            .service_container(&service)
            .await
            .context("looking for qdrant")?
        {
            out.container = n;
        }
        // Compose may have failed after creating the volume and before the container.
        if out.container.is_empty() {
            cx.log("qdrant's container was not created");
            out.container = format!("{service} (no container)");
        } else {
            docker
                .stop(&out.container, self.env.stop_timeout)
                .await
                .or_else(|e| if e.is_not_found() { Ok(()) } else { Err(e) })
                .context("stopping qdrant")?;
            docker
                .remove(&out.container, false)
                .await
                .context("removing qdrant")?;
        }
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

/// The engine binds the published ports, so a refusal here is the check on the engine's host
/// (not on the machine cutover runs on); before the writers stop, it costs no downtime.
fn port_taken(err: &anyhow::Error, e: &EditOutput) -> Option<StepError> {
    let text = format!("{err:#}");
    if !(text.contains("port is already allocated") || text.contains("address already in use")) {
        return None;
    }
    let ports: Vec<String> = e
        .edit
        .qdrant_ports
        .iter()
        .map(|p| p.compose_text())
        .collect();
    Some(
        StepError::new(format!(
            "a host port for qdrant ({}) is taken on the Docker engine's host; nothing was \
             stopped. Set qdrant_ports to free ports (e.g. \
             CUTOVER_QDRANT_PORTS=16333:6333,16334:6334) or to none, then run again",
            ports.join(", ")
        ))
        .with_cause(text),
    )
}
