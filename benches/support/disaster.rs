//! The disaster rollback through the real command (issue 14), after a completed upgrade (a
//! physical one, or one with `backup_kind = "logical"` whose window took the dump itself):
//! `cutover rollback --disaster --yes --run <dir>`, spawn to exit. It stops the writers, undoes
//! every step newest first and, for postgres, puts the old image back and restores the run's
//! verified dump (the portable one made from the physical backup after the window) into a new
//! database with `pg_restore --jobs N`, checks its row counts, swaps the names (the original is
//! kept aside), repairs the collation of the other databases, checks the tables and starts the
//! writers.
//!
//! Beside it, in the same round: the undo of `recreate-postgres` alone (from the journal: the
//! restore and the swap), and the baseline, a bare `pg_restore --jobs N` of the SAME dump with
//! the same N (`adapters::restore::jobs_for` of the engine host's CPUs) into a fresh database
//! on the same server, the file already in the container (cutover's own copy into the
//! container is inside its figure).
//!
//! Untimed afterwards: the database cutover set aside, the baseline's database and the backup
//! volume the disaster path keeps are removed, so the next round starts from the same stack.

use std::path::Path;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use cutover::adapters::docker::DockerClient;
use serde_json::Value;

use super::backup::drop_db;
use super::fast_rollback::{journal, output, undo_ms};
use super::run::{self, cutover_with};
use super::sh::{docker, psql};

pub struct Figures {
    pub command_ms: f64,
    pub restore_core_ms: Option<f64>,
    pub bare_ms: f64,
    pub jobs: u32,
}

/// What `rollback --disaster` restores (`disaster_restore`), and from which upgrade.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Restore {
    /// The portable dump made from the physical backup after the window.
    Dump,
    /// The physical backup's files.
    Volume,
    /// The dump the window itself took: an upgrade run with `backup_kind = "logical"`.
    Logical,
}

/// One upgrade, then its disaster rollback, then the baseline: for the dump, a bare
/// `pg_restore --jobs N` of the same dump; for the volume, a bare `cp -a` of the same backup's
/// files into a fresh volume (one `docker run`).
pub async fn round(d: &DockerClient, stack_dir: &Path, pg: &str, how: Restore) -> Result<Figures> {
    let upgrade_env: &[(&str, &str)] = match how {
        Restore::Logical => &[("CUTOVER_BACKUP_KIND", "logical")],
        Restore::Dump | Restore::Volume => &[],
    };
    let f = run::run_with(stack_dir, upgrade_env)
        .await
        .context("the upgrade to roll back")?;
    let dump = f.dump_path.clone();
    anyhow::ensure!(dump.is_file(), "the run made no dump: {}", dump.display());
    let run_arg = f.run_dir.display().to_string();
    let kind = match how {
        Restore::Dump | Restore::Logical => "dump",
        Restore::Volume => "volume",
    };
    let t = Instant::now();
    let out = cutover_with(
        stack_dir,
        &["rollback", "--disaster", "--yes", "--run", &run_arg],
        &[("CUTOVER_DISASTER_RESTORE", kind)],
    )
    .await?;
    let command_ms = t.elapsed().as_secs_f64() * 1000.0;
    let text = format!("{}\n{}", out.stdout, out.stderr);
    if !text.contains("rolled back") {
        bail!("cutover rollback --disaster did not roll back:\n{text}");
    }
    let entries = journal(&f.run_dir)?;
    let report: Value = serde_json::from_slice(&std::fs::read(f.run_dir.join("report.json"))?)?;
    if report["upgrade"]["rollback"]["path"] != "disaster" {
        bail!(
            "the rollback took the {} path",
            report["upgrade"]["rollback"]["path"]
        );
    }
    let restore_core_ms = undo_ms(&entries, "recreate-postgres");

    let recreate = output(&entries, "recreate-postgres")?;
    if how == Restore::Volume && recreate["volume_swap"]["verified"] != true {
        bail!("the disaster rollback did not swap the volume: {recreate}");
    }
    let backup_volume = output(&entries, "backup")?["physical"]["volume"]
        .as_str()
        .map(String::from);
    if (how == Restore::Logical) != backup_volume.is_none() {
        bail!("the upgrade's backup is not of the kind this round restores");
    }
    let jobs = cutover::adapters::restore::jobs_for(d.host_cpus().await.unwrap_or(1));
    let bare_ms = match (how, &backup_volume) {
        (Restore::Volume, Some(v)) => bare_copy(v, &recreate["plan"]["old_image"]).await?,
        _ => bare_restore(pg, &dump, jobs).await?,
    };

    // Untimed: what the disaster path keeps on purpose.
    if let Some(a) = recreate["disaster"]["aside"].as_str() {
        drop_db(pg, a).await?;
    }
    if let Some(s) = recreate["volume_swap"].as_object() {
        let (src, image) = (s["data_source"].as_str(), s["image"].as_str());
        let dir = format!(
            "/d/{}/{}",
            s["data_dir_in_mount"].as_str().unwrap_or_default(),
            s["aside"].as_str().unwrap_or_default()
        );
        if let (Some(src), Some(image)) = (src, image) {
            docker(&[
                "run",
                "--rm",
                "-v",
                &format!("{src}:/d"),
                "--entrypoint",
                "rm",
                image,
                "-rf",
                &dir,
            ])
            .await?;
        }
    }
    if let Some(v) = &backup_volume {
        docker(&["volume", "rm", "-f", v]).await?;
    }
    let _ = std::fs::remove_file(&dump);
    Ok(Figures {
        command_ms,
        restore_core_ms,
        bare_ms,
        jobs,
    })
}

/// `cp -a` of the backup's files into a fresh volume, in one `docker run` of the old image.
async fn bare_copy(backup_volume: &str, image: &Value) -> Result<f64> {
    let image = image.as_str().context("the old image")?;
    let copy = format!("{backup_volume}-benchcopy");
    docker(&["volume", "create", &copy]).await?;
    let t = Instant::now();
    let ran = docker(&[
        "run",
        "--rm",
        "--network",
        "none",
        "-v",
        &format!("{backup_volume}:/from:ro"),
        "-v",
        &format!("{copy}:/to"),
        "--entrypoint",
        "cp",
        image,
        "-a",
        "/from/data/.",
        "/to/",
    ])
    .await;
    let ms = t.elapsed().as_secs_f64() * 1000.0;
    docker(&["volume", "rm", &copy]).await?;
    ran?;
    Ok(ms)
}

/// `pg_restore --jobs N` of `dump` into a fresh database, the file already in the container.
async fn bare_restore(pg: &str, dump: &Path, jobs: u32) -> Result<f64> {
    let inside = "/tmp/bench-disaster.dump";
    docker(&["cp", &dump.display().to_string(), &format!("{pg}:{inside}")]).await?;
    drop_db(pg, "bench_disaster_bare").await?;
    psql(pg, "postgres", "CREATE DATABASE bench_disaster_bare").await?;
    let t = Instant::now();
    docker(&[
        "exec",
        pg,
        "pg_restore",
        "--exit-on-error",
        "--no-owner",
        "--jobs",
        &jobs.to_string(),
        "-U",
        "privexbot",
        "-d",
        "bench_disaster_bare",
        inside,
    ])
    .await
    .context("bare pg_restore --jobs")?;
    let bare_ms = t.elapsed().as_secs_f64() * 1000.0;
    drop_db(pg, "bench_disaster_bare").await?;
    docker(&["exec", pg, "rm", "-f", inside]).await?;
    Ok(bare_ms)
}
