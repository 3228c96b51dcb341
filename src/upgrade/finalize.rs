//! `cutover finalize`: after a run that ended done, remove the parked old postgres container
//! that `recreate-postgres` left for a fast rollback, and the tag that kept the old image. It refuses for any other run: while the old
//! container exists, `cutover rollback` is quick and lossless; after this, only the backup is.
//! The outcome is written to `finalized.json` in the run directory (the journal is closed).

use std::path::Path;

use anyhow::{Context, Result, bail};

use crate::adapters::docker::DockerClient;
use crate::engine::recovery::Phase;
use crate::engine::{Journal, RunOutcome};
use crate::upgrade::outputs::RecreateOutput;

pub const MARKER: &str = "finalized.json";

/// Finalizes the run in `dir`; returns what was done, for the operator.
pub async fn finalize(dir: &Path) -> Result<String> {
    let (state, _) = Journal::read(dir)?;
    let done = matches!(
        &state.phase,
        Phase::Finished {
            outcome: RunOutcome::Done
        }
    );
    if !done {
        bail!(
            "run {} did not end done, so its old container is what a rollback needs; \
             finalize refuses (see `cutover status`)",
            dir.display()
        );
    }
    let out: RecreateOutput = state
        .steps
        .get("recreate-postgres")
        .and_then(|r| r.output.clone())
        .and_then(|v| serde_json::from_value(v).ok())
        .context("the run has no recreate-postgres output: nothing to finalize")?;
    let docker = DockerClient::connect().await?;
    let image_kept = docker
        .finalize_recreate(&out.plan)
        .await
        .context("removing the parked old container")?;
    let mut said = format!(
        "removed the parked old container {} ({}){}; rollback now means restoring the backup",
        out.plan.old_kept_name,
        &out.plan.old_id[..out.plan.old_id.len().min(12)],
        match &out.plan.keep_tag {
            Some(t) => format!(" and the keep tag {t}"),
            None => String::new(),
        }
    );
    if !image_kept {
        said.push_str(&format!(
            "\nwarning: the old image {} ({}) had already been removed from the engine: the \
             fast rollback was no longer possible before this finalize",
            out.plan.old_image, &out.plan.old_image_id
        ));
    }
    let record = serde_json::json!({
        "at": chrono::Utc::now(),
        "old_container": out.plan.old_kept_name,
        "old_id": out.plan.old_id,
        "keep_tag": out.plan.keep_tag,
        "old_image_was_present": image_kept,
    });
    std::fs::write(dir.join(MARKER), serde_json::to_vec_pretty(&record)?)
        .with_context(|| format!("writing {}", dir.join(MARKER).display()))?;
    Ok(said)
}
