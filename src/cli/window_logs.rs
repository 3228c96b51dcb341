//! The window's container logs, kept in the run directory: what every container of the stack
//! printed from the start of a run (or rollback) to its end, one file per container, redacted
//! like everything else cutover writes. After the window the engine may have recreated or
//! removed those containers, and their logs with them.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use chrono::{DateTime, Utc};

use crate::adapters::docker::DockerClient;
use crate::engine::redact::redact_line;

/// Writes each container's lines since `since` to `<run_dir>/logs/<container>-<id>.log` (0600;
/// by id, so a recreated container does not overwrite its predecessor's file).
/// Best effort: a missing engine costs the logs, never the run's outcome; says what it kept.
pub async fn save(project: &str, since: DateTime<Utc>, run_dir: &Path) {
    if let Err(e) = try_save(project, since, run_dir).await {
        eprintln!("cutover: warning: the window's container logs were not saved: {e:#}");
    }
}

async fn try_save(project: &str, since: DateTime<Utc>, run_dir: &Path) -> anyhow::Result<()> {
    let docker = DockerClient::connect().await?;
    let dir = run_dir.join("logs");
    std::fs::create_dir_all(&dir)?;
    for c in docker.find_stack(project).await? {
        let lines = docker.log_lines(&c.name, Some(since)).await?;
        if lines.is_empty() {
            continue;
        }
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(true)
            .mode(0o600)
            .open(dir.join(format!("{}-{}.log", c.name, &c.id[..12.min(c.id.len())])))?;
        for l in lines {
            let at = l
                .timestamp
                .map_or(String::new(), |t| format!("{} ", t.to_rfc3339()));
            writeln!(f, "{at}{}", redact_line(&l.text))?;
        }
    }
    Ok(())
}
