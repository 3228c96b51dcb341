//! The fast rollback after a COMPLETED `cutover run`, through the real command:
//! `cutover rollback --yes --run <dir>`. It stops the writers, undoes every step newest first
//! (down-migrations, the extension, qdrant, the compose file, postgres back to the kept old
//! container, shown to resume at or after the new one's last WAL position), then counts every
//! table's rows from a snapshot taken before the writers restart while they restart, and waits
//! for the backend's health. The wall time is the command's, spawn to exit.
//!
//! Beside it, from the run's journal: the undo of `recreate-postgres` alone (from its
//! `undo_started` to its `undo_finished` record), i.e. the restoring core that an earlier
//! version of this bench timed through the adapters. Untimed afterwards: anything the
//! command should have put back and did not is put back (and counted), so the next round
//! starts from the pre-upgrade stack.

use std::path::Path;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use cutover::adapters::docker::{DockerClient, RecreatePlan};
use serde_json::Value;

use super::run::cutover;
use super::sh::docker;

pub fn journal(run_dir: &Path) -> Result<Vec<Value>> {
    Ok(std::fs::read_to_string(run_dir.join("journal.jsonl"))?
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .collect())
}

/// The last output the run journaled for `step`.
pub fn output(entries: &[Value], step: &str) -> Result<Value> {
    entries
        .iter()
        .rev()
        .find(|v| v["type"] == "step_output" && v["step"] == step)
        .map(|v| v["output"].clone())
        .with_context(|| format!("no output of {step} in the journal"))
}

/// Milliseconds between the last `undo_started` and `undo_finished` records of `step`.
pub fn undo_ms(entries: &[Value], step: &str) -> Option<f64> {
    let at = |ty: &str| -> Option<chrono::DateTime<chrono::Utc>> {
        entries
            .iter()
            .rev()
            .find(|v| v["type"] == ty && v["step"] == step)?["at"]
            .as_str()?
            .parse()
            .ok()
    };
    Some((at("undo_finished")? - at("undo_started")?).num_milliseconds() as f64)
}

pub struct Figures {
    /// `cutover rollback --yes --run <dir>`, spawn to exit.
    pub command_ms: f64,
    /// The command's own figure (report.json `upgrade.rollback.wall_ms`).
    pub reported_ms: Option<f64>,
    /// The undo of `recreate-postgres` alone, from the journal.
    pub swap_ms: Option<f64>,
    /// Things the command left undone that the bench had to put back (should be 0).
    pub leftovers: u32,
}

pub async fn after_run(
    d: &DockerClient,
    stack_dir: &Path,
    run_dir: &Path,
    compose_file: &Path,
    original_compose: &str,
) -> Result<Figures> {
    let before = journal(run_dir)?;
    let plan: RecreatePlan =
        serde_json::from_value(output(&before, "recreate-postgres")?["plan"].clone())?;
    let qdrant = output(&before, "start-qdrant")?["container"]
        .as_str()
        .map(String::from);
    let run_arg = run_dir.display().to_string();
    let t = Instant::now();
    let out = cutover(stack_dir, &["rollback", "--yes", "--run", &run_arg]).await?;
    let command_ms = t.elapsed().as_secs_f64() * 1000.0;
    let text = format!("{}\n{}", out.stdout, out.stderr);
    // A rollback that completed exits 0; its summary says "rolled back".
    if !text.contains("rolled back") {
        bail!("cutover rollback did not roll back:\n{text}");
    }
    let after = journal(run_dir)?;
    let report: Value = serde_json::from_slice(&std::fs::read(run_dir.join("report.json"))?)
        .context("report.json")?;
    let rb = &report["upgrade"]["rollback"];
    if rb["path"] != "fast" {
        bail!(
            "cutover rollback took the {} path, not the fast one",
            rb["path"]
        );
    }

    // Untimed: whatever the command should have put back and did not.
    let mut leftovers = 0;
    if std::fs::read_to_string(compose_file)? != original_compose {
        leftovers += 1;
        std::fs::write(compose_file, original_compose)?;
    }
    if let Some(q) = qdrant
        && d.inspect(&q).await.is_ok()
    {
        leftovers += 1;
        docker(&["rm", "-f", "-v", &q]).await?;
    }
    if d.inspect(&plan.old_kept_name).await.is_ok() {
        leftovers += 1;
        d.remove(&plan.old_kept_name, false).await?;
    }
    Ok(Figures {
        command_ms,
        reported_ms: rb["wall_ms"].as_f64(),
        swap_ms: undo_ms(&after, "recreate-postgres"),
        leftovers,
    })
}
