//! The migration guide's production procedure, scripted with the docker CLI the way an
//! operator following it would, on the same stack, container and volume cutover uses:
//!
//! 1. `docker exec <postgres> pg_dump > file` (plain SQL; `exec` without `-t`, so no TTY
//!    mangling: the guide's `compose exec` without `-T` would be worse, not better);
//! 2. `docker stop` backend and celery-worker;
//! 3. (`compose pull`: skipped, the test images are local and no registry is reachable);
//! 4. `docker stop` postgres;
//! 5. the compose file's image edited, `compose up -d postgres` (Compose recreates it on the
//!    same named volume);
//! 6. wait for "database system is ready to accept connections" by polling `docker logs`
//!    once a second (the guide: watch `logs -f`, "10-30 seconds");
//! 7. `CREATE EXTENSION IF NOT EXISTS vector`; 8. `\dx vector` (as a query);
//! 9. and 10. Qdrant: skipped (the stack before the upgrade has no qdrant service; cutover
//!    starts one inside its window, so this favours the guide by about a second);
//! 12. `docker start` backend (the guide's `compose up -d backend` on an unchanged service).
//!
//! The guide never restarts celery-worker; the bench does, after the measured part, so the
//! next round starts from a whole stack. `revert` puts the stack back (unmeasured).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Result, bail};

use super::sh::{compose, docker, docker_to_file, psql};

/// The test bed's default pair: Alpine-shaped -> Debian-shaped (testbed/lib/shaped.sh).
pub const BEFORE: &str = "cutover-testbed/postgres-alpine-shaped:latest";
pub const AFTER: &str = "cutover-testbed/postgres-debian-shaped:latest";
const READY_LINE: &str = "database system is ready to accept connections";

/// Where the stack lives and what its containers are called.
pub struct StackRef {
    pub bed: PathBuf,
    pub project: String,
    pub dir: PathBuf,
}

impl StackRef {
    pub fn container(&self, service: &str) -> String {
        format!("{}-{service}", self.project)
    }
    fn compose_file(&self) -> PathBuf {
        self.dir.join("compose.yaml")
    }
    async fn compose(&self, args: &[&str]) -> Result<String> {
        compose(&self.bed, &self.project, &self.dir, args).await
    }
}

/// Timings of one run of the guide, in ms from its start.
#[derive(Debug, Clone, Default)]
pub struct GuideRun {
    pub dump_ms: f64,
    pub dump_bytes: u64,
    pub total_ms: f64,
}

/// Swaps the postgres image in the compose file (the guide's manual edit).
fn set_image(file: &Path, from: &str, to: &str) -> Result<()> {
    let text = std::fs::read_to_string(file)?;
    if !text.contains(from) {
        bail!("{} does not name {from}", file.display());
    }
    std::fs::write(file, text.replacen(from, to, 1))?;
    Ok(())
}

/// Step 6: poll the container's log every second for the ready line (bounded: 120 s).
async fn poll_ready_log(container: &str) -> Result<()> {
    for _ in 0..120 {
        let out = tokio::process::Command::new("docker")
            .args(["logs", container])
            .output()
            .await?;
        let text = String::from_utf8_lossy(&out.stdout) + String::from_utf8_lossy(&out.stderr);
        if text.contains(READY_LINE) {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    bail!("{container} never logged {READY_LINE:?}")
}

/// The guide's procedure, steps 1-12 as above; `dump` is where step 1 writes.
pub async fn upgrade(s: &StackRef, dump: &Path) -> Result<GuideRun> {
    let (pg, backend, worker) = (
        s.container("postgres"),
        s.container("backend"),
        s.container("celery-worker"),
    );
    let t = Instant::now();
    docker_to_file(
        &["exec", &pg, "pg_dump", "-U", "privexbot", "privexbot"],
        dump,
    )
    .await?;
    let dump_ms = t.elapsed().as_secs_f64() * 1000.0;
    docker(&["stop", &backend, &worker]).await?;
    docker(&["stop", &pg]).await?;
    set_image(&s.compose_file(), BEFORE, AFTER)?;
    s.compose(&["up", "-d", "postgres"]).await?;
    poll_ready_log(&pg).await?;
    psql(&pg, "privexbot", "CREATE EXTENSION IF NOT EXISTS vector").await?;
    psql(
        &pg,
        "privexbot",
        "SELECT extversion FROM pg_extension WHERE extname = 'vector'",
    )
    .await?;
    docker(&["start", &backend]).await?;
    let total_ms = t.elapsed().as_secs_f64() * 1000.0;
    docker(&["start", &worker]).await?;
    Ok(GuideRun {
        dump_ms,
        dump_bytes: std::fs::metadata(dump)?.len(),
        total_ms,
    })
}

/// Back to the state before `upgrade` (unmeasured): writers stopped, vector dropped, the
/// compose file's image restored and postgres recreated on it, writers started.
pub async fn revert(s: &StackRef) -> Result<()> {
    let (pg, backend, worker) = (
        s.container("postgres"),
        s.container("backend"),
        s.container("celery-worker"),
    );
    docker(&["stop", &backend, &worker]).await?;
    psql(&pg, "privexbot", "DROP EXTENSION IF EXISTS vector").await?;
    docker(&["stop", &pg]).await?;
    set_image(&s.compose_file(), AFTER, BEFORE)?;
    s.compose(&["up", "-d", "postgres"]).await?;
    poll_ready_log(&pg).await?;
    docker(&["start", &backend, &worker]).await?;
    Ok(())
}
