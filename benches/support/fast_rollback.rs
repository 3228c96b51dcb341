//! The fast rollback after a COMPLETED `cutover run`, through the adapters, because the CLI
//! refuses it: `cutover rollback` of a run that ended done answers "has already ended" (the
//! engine only undoes open runs). What is timed is the data path of cutover's fast rollback
//! (DESIGN.md defect 4): the down-migrations, `DROP EXTENSION vector`, then
//! `DockerClient::restore_old` with the run's journaled `RecreatePlan` and a wait until a
//! login answers. Untimed afterwards: the compose file and qdrant are put back the way the
//! plan's undo would, so the next round starts from the pre-upgrade stack.

use std::path::Path;
use std::time::Instant;

use anyhow::{Context, Result};
use cutover::adapters::docker::{DockerClient, RecreatePlan};
use cutover::adapters::migrations::{self, MigrationSet};
use serde_json::Value;

use super::db_ops;
use super::sh::docker;

/// The last output the run journaled for `step`.
fn output(run_dir: &Path, step: &str) -> Result<Value> {
    let text = std::fs::read_to_string(run_dir.join("journal.jsonl"))?;
    text.lines()
        .rev()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|v| v["type"] == "step_output" && v["step"] == step)
        .map(|v| v["output"].clone())
        .with_context(|| format!("no output of {step} in the journal"))
}

pub struct Figures {
    /// Down-migrations + drop extension + restore_old + ready.
    pub total_ms: f64,
    /// restore_old + ready alone.
    pub swap_ms: f64,
}

pub async fn after_run(
    d: &DockerClient,
    run_dir: &Path,
    password: &str,
    compose_file: &Path,
    original_compose: &str,
) -> Result<Figures> {
    let plan: RecreatePlan =
        serde_json::from_value(output(run_dir, "recreate-postgres")?["plan"].clone())?;
    let qdrant = output(run_dir, "start-qdrant")?["container"]
        .as_str()
        .map(String::from);
    let t = Instant::now();
    let mut client = db_ops::connect(d, &plan.name, password).await?;
    let set = MigrationSet::embedded()?;
    migrations::down(&mut client, &set, 0).await?;
    client
        .batch_execute("DROP EXTENSION IF EXISTS vector")
        .await?;
    drop(client);
    let swap_ms = db_ops::restore_old(d, &plan, password).await?;
    let total_ms = t.elapsed().as_secs_f64() * 1000.0;

    // Untimed: the rest of the plan's undo (compose file, qdrant).
    std::fs::write(compose_file, original_compose)?;
    if let Some(q) = qdrant {
        docker(&["rm", "-f", "-v", &q]).await?;
    }
    d.remove(&plan.old_kept_name, false).await?;
    Ok(Figures { total_ms, swap_ms })
}
