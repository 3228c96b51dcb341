//! The database-only operations measured for downtime:
//! - the bare restart baseline: `docker stop` + `docker start` of the same container (CLI);
//! - cutover's recreate through the adapter API the `recreate-postgres` and `postgres-ready`
//!   steps use (CHECKPOINT, plan, stop, park, create, start, then wait for the ready log line
//!   AND a real login + `SELECT 1`), and its undo, `DockerClient::restore_old`: the fast
//!   rollback's container swap. Used when the full `cutover run` is not measured.

use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use cutover::adapters::docker::{DockerClient, Readiness, RecreatePlan};

use super::sh::{docker, psql};

/// The postgres image's stop grace (cutover's default `stop_timeout`).
pub const STOP_TIMEOUT: Duration = Duration::from_secs(30);
const READY_TIMEOUT: Duration = Duration::from_secs(120);
const READY_LINE: &str = "database system is ready to accept connections";

/// `docker stop C && docker start C`; returns the CLI wall time in ms (readiness is the
/// probe's business: the DB answers when it answers).
pub async fn bare_restart(container: &str) -> Result<f64> {
    let t = Instant::now();
    docker(&["stop", container]).await?;
    docker(&["start", container]).await?;
    Ok(t.elapsed().as_secs_f64() * 1000.0)
}

/// The floor of any physical copy (issue 14's baseline): postgres stopped cleanly, then ONE
/// `docker run` of its own image doing `cp -a` of the data volume into a fresh volume on the
/// same disk, then started again. Returns the copy's wall time in ms (the `docker run`
/// included, as cutover's helper container is in its figure); the volume is removed.
pub async fn bare_copy(container: &str) -> Result<f64> {
    let image = docker(&["inspect", "-f", "{{.Config.Image}}", container]).await?;
    let mount = docker(&[
        "inspect",
        "-f",
        "{{range .Mounts}}{{if eq .Type \"volume\"}}{{.Name}}:{{.Destination}}{{end}}{{end}}",
        container,
    ])
    .await?;
    let (volume, _) = mount.trim().split_once(':').context("the data volume")?;
    let copy = format!("{container}-benchcopy");
    docker(&["volume", "create", &copy]).await?;
    docker(&["stop", container]).await?;
    let t = Instant::now();
    let ran = docker(&[
        "run",
        "--rm",
        "--network",
        "none",
        "-v",
        &format!("{volume}:/from:ro"),
        "-v",
        &format!("{copy}:/to"),
        "--entrypoint",
        "cp",
        image.trim(),
        "-a",
        "/from/.",
        "/to/",
    ])
    .await;
    let ms = t.elapsed().as_secs_f64() * 1000.0;
    docker(&["start", container]).await?;
    docker(&["volume", "rm", &copy]).await?;
    ran?;
    // The next measurement needs the server up, not only its container.
    let deadline = Instant::now() + READY_TIMEOUT;
    while docker(&["exec", container, "pg_isready", "-q"])
        .await
        .is_err()
    {
        anyhow::ensure!(
            Instant::now() < deadline,
            "{container} not ready after the copy"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Ok(ms)
}

/// cutover's recreate of `container` on `image`, as the plan's steps do it; returns the plan
/// (for `restore_old`) and the wall time from the stop to "ready" in ms.
pub async fn cutover_recreate(
    d: &DockerClient,
    container: &str,
    image: &str,
    password: &str,
) -> Result<(RecreatePlan, f64)> {
    // The `checkpoint` step, before the stop: shortens the shutdown checkpoint.
    psql(container, "privexbot", "CHECKPOINT").await?;
    let plan = d.plan_recreate(container, image).await?;
    let since = chrono::Utc::now();
    let t = Instant::now();
    d.stop_old(&plan, STOP_TIMEOUT).await?;
    d.rename_old(&plan).await?;
    d.create_new(&plan).await?;
    d.start_new(&plan).await?;
    wait_ready(d, container, password, since).await?;
    Ok((plan, t.elapsed().as_secs_f64() * 1000.0))
}

/// The fast rollback's swap: `restore_old`, then wait until a login answers (as the undo of
/// `recreate-postgres` does before the writers start). Returns the wall time in ms.
pub async fn restore_old(d: &DockerClient, plan: &RecreatePlan, password: &str) -> Result<f64> {
    let since = chrono::Utc::now();
    let t = Instant::now();
    d.restore_old(plan, STOP_TIMEOUT).await?;
    wait_ready(d, &plan.name, password, since).await?;
    Ok(t.elapsed().as_secs_f64() * 1000.0)
}

async fn wait_ready(
    d: &DockerClient,
    container: &str,
    password: &str,
    since: chrono::DateTime<chrono::Utc>,
) -> Result<()> {
    let probe_d = d.clone();
    let name = container.to_string();
    let pw = password.to_string();
    let cond = Readiness::All(vec![
        Readiness::LogLine {
            pattern: READY_LINE.into(),
            since,
        },
        Readiness::probe("login and SELECT 1", move || {
            let (d, name, pw) = (probe_d.clone(), name.clone(), pw.clone());
            async move { login(&d, &name, &pw).await.map_err(|e| format!("{e:#}")) }
        }),
    ]);
    d.wait_ready(container, &cond, READY_TIMEOUT)
        .await
        .with_context(|| format!("waiting for {container}"))?;
    Ok(())
}

async fn login(d: &DockerClient, container: &str, password: &str) -> Result<()> {
    connect(d, container, password)
        .await?
        .simple_query("SELECT 1")
        .await?;
    Ok(())
}

/// A session as privexbot on the container's network address.
pub async fn connect(
    d: &DockerClient,
    container: &str,
    password: &str,
) -> Result<tokio_postgres::Client> {
    let ep = d.resolve_endpoint(container, 5432).await?;
    let mut cfg = tokio_postgres::Config::new();
    cfg.host(ep.addr.ip().to_string())
        .port(ep.addr.port())
        .user("privexbot")
        .password(password)
        .dbname("privexbot")
        .connect_timeout(Duration::from_secs(2));
    let (client, conn) = cfg.connect(tokio_postgres::NoTls).await?;
    tokio::spawn(conn);
    Ok(client)
}
