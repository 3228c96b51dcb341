//! Waiting for the backend to answer its health URL (`backend_health_url`, default port 8000
//! `/health` with `"status":"healthy"`) at the address the engine reports: the end of
//! application downtime, after an upgrade and after a rollback.

use std::time::{Duration, Instant};

use anyhow::Context;

use super::env::UpgradeEnv;
use crate::adapters::http::HttpClient;

/// Each poll is one cheap GET; a short interval is downtime not added by the wait.
const POLL: Duration = Duration::from_millis(100);

/// Polls until `backend` is healthy; Ok(its /health URL), or Err(why) after `env.ready_timeout`
/// (the caller words the failure for its context). Finding the address is an error of its own.
pub async fn wait_healthy(
    env: &UpgradeEnv,
    backend: &str,
) -> anyhow::Result<Result<String, String>> {
    let check = &env.backend_health;
    let docker = env.docker().await?;
    let ep = docker
        .resolve_endpoint(backend, check.port)
        .await
        .context("finding the backend's address")?;
    let base = ep.http_base();
    let http = HttpClient::new(Duration::from_secs(3));
    let t = Instant::now();
    loop {
        match http
            .backend_health(&base, &check.path, check.status.as_deref())
            .await
        {
            Ok(_) => return Ok(Ok(format!("{base}{}", check.path))),
            Err(e) if t.elapsed() > env.ready_timeout => return Ok(Err(e.to_string())),
            Err(_) => tokio::time::sleep(POLL).await,
        }
    }
}
