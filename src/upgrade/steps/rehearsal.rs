//! Check `rehearsal`: the checklist's evidence that the upgrade was tried on a copy. Reads the
//! newest `cutover rehearse` result of this stack (`.cutover/rehearsals/*/rehearsal.json`).
//!
//! - passed, fresh: Ok, and its log line is the checklist's evidence ("Rehearsal passed at
//!   14:02 on a copy of 1.2 GB: forecast ...");
//! - failed, fresh: refused before anything is stopped, with the rehearsal's reason (what
//!   broke on the copy would break on the live stack);
//! - none, or stale (older than `rehearsal_max_age_hours`, or the database grew by more than
//!   `rehearsal_max_growth_pct` since): a warning naming the command, not a refusal: a
//!   rehearsal costs a copy of the database, which not every machine has room for.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;

use super::meta;
use crate::engine::{Finish, Step, StepContext, StepError};
use crate::upgrade::env::UpgradeEnv;
use crate::upgrade::rehearse::{self, Rehearsal};

pub struct RehearsalCheck {
    pub env: Arc<UpgradeEnv>,
    pub dir: PathBuf,
    pub max_age_hours: u64,
    pub max_growth_pct: u64,
}

/// The newest rehearsal under `dir`, if any can be read.
pub fn newest(dir: &Path) -> Option<Rehearsal> {
    let mut all: Vec<PathBuf> = std::fs::read_dir(dir)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path().join("rehearsal.json")))
        .filter(|p| p.exists())
        .collect();
    all.sort();
    serde_json::from_slice(&std::fs::read(all.pop()?).ok()?).ok()
}

#[async_trait]
impl Step for RehearsalCheck {
    meta!(
        "rehearsal",
        "Rehearsed on a copy (cutover rehearse), recently",
        Check
    );

    fn touches(&self) -> Vec<String> {
        vec![format!(
            "reads {}",
            self.dir.join("*/rehearsal.json").display()
        )]
    }

    async fn run(&self, cx: &StepContext) -> Result<Finish, StepError> {
        let Some(r) = newest(&self.dir) else {
            return Ok(Finish::Warning(
                "no rehearsal on record: `cutover rehearse` runs this upgrade and its rollback \
                 on a copy of the database, off the live stack, and forecasts the window"
                    .into(),
            ));
        };
        let at = r.started_at.format("%Y-%m-%d %H:%M UTC");
        let age_h = (chrono::Utc::now() - r.started_at).num_minutes() as f64 / 60.0;
        let live = rehearse::cluster_bytes(&self.env).await?;
        let growth = if r.live_bytes > 0 {
            (live as f64 / r.live_bytes as f64 - 1.0) * 100.0
        } else {
            0.0
        };
        let gb = r.live_bytes as f64 / 1e9;
        let stale = if age_h > self.max_age_hours as f64 {
            Some(format!(
                "it is {age_h:.0} h old (rehearsal_max_age_hours = {})",
                self.max_age_hours
            ))
        } else if growth > self.max_growth_pct as f64 {
            Some(format!(
                "the database grew by {growth:.0}% since (rehearsal_max_growth_pct = {})",
                self.max_growth_pct
            ))
        } else {
            None
        };
        if let Some(why) = stale {
            return Ok(Finish::Warning(format!(
                "the last rehearsal ({at}, {}) no longer counts: {why}. Run `cutover rehearse` \
                 again",
                if r.passed { "passed" } else { "failed" }
            )));
        }
        if !r.passed {
            return Err(StepError::new(format!(
                "the rehearsal at {at} on a copy of {gb:.2} GB failed: {}. What broke on the \
                 copy would break here: refused before anything was stopped. Fix the cause, \
                 then `cutover rehearse` again (details: {})",
                crate::secrets::hide(&r.outcome),
                r.dir.join("rehearsal.json").display()
            )));
        }
        let forecast = r.forecast.as_ref().map_or(String::new(), |f| f.line());
        cx.log(format!(
            "Rehearsal passed at {at} on a copy of {gb:.2} GB: {forecast}"
        ));
        // The report sets the forecast beside what the run measures.
        cx.save_output(&r)?;
        Ok(Finish::Ok)
    }
}
