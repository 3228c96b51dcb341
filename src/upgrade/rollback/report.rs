//! The rollback's part of the run report: which path ran (fast or disaster), why, what failed,
//! what was undone, how long it took (wall time, journal to journal), and the post-rollback
//! verification (`crate::upgrade::rollback::check`).
//!
//! Invariant: built from the journal alone; absent when the run was never rolled back.

use std::fmt::Write as _;

use serde::Serialize;

use super::check::{self as rollback_check, RollbackCheck};
use super::disaster::Swap;
use super::new_data::NewData;
use crate::engine::recovery::{Phase, RunState};
use crate::engine::{StepKind, StepState};
use crate::upgrade::outputs::{MigrationsOutput, RecreateOutput, StopOutput};

#[derive(Debug, Clone, Serialize)]
pub struct RollbackFacts {
    /// `fast` (kept old container, down migrations) or `disaster` (backup restored).
    pub path: &'static str,
    pub reason: Option<String>,
    /// Steps whose forward run failed, with the error.
    pub failed: Vec<String>,
    /// Actions undone, in the order they were undone.
    pub undone: Vec<String>,
    /// Undos that failed (the rollback stopped there).
    pub undo_failed: Vec<String>,
    /// From `rollback_started` to the end of the last undo.
    pub wall_ms: Option<i64>,
    pub check: Option<RollbackCheck>,
    /// Rows found in the tables the down migrations drop, and their dump.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub new_data: Option<NewData>,
    /// Disaster path: the restored database and the original kept aside.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub swap: Option<Swap>,
    /// Disaster path with `disaster_restore = "volume"`: the backup's files copied in.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub volume_swap: Option<super::volume_swap::VolumeSwap>,
    /// How to remove the database (or the files) kept aside, once swapped.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remove_aside: Option<String>,
    /// Collation and ownership repair on the old server (fast path).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub collation: Option<super::collation::CollationRepair>,
}

impl RollbackFacts {
    pub fn from_state(s: &RunState) -> Option<Self> {
        let started = s.rollback_started_at?;
        let mut undone: Vec<_> = s
            .steps
            .iter()
            .filter(|(_, r)| r.state == StepState::Undone)
            .filter_map(|(id, r)| Some((r.undo_finished_at?, id.clone())))
            .collect();
        undone.sort();
        let ended = undone.last().map(|(at, _)| *at).or(s.last_at);
        let finished = matches!(s.phase, Phase::Finished { .. } | Phase::Stopped { .. });
        let failed = s
            .steps_meta
            .iter()
            .filter(|m| m.kind != StepKind::SignOff)
            .filter_map(|m| {
                let r = s.steps.get(&m.id)?;
                let e = r.error.as_ref()?;
                Some(format!("{}: {}", m.id, e.message))
            })
            .collect();
        let undo_failed = s
            .steps
            .iter()
            .filter_map(|(id, r)| Some(format!("{id}: {}", r.undo_error.as_ref()?.message)))
            .collect();
        let check = s
            .steps
            .get("stop-writers")
            .and_then(|r| r.output.clone())
            .and_then(|v| serde_json::from_value::<StopOutput>(v).ok())
            .and_then(|o| o.rollback_check);
        let new_data = s
            .steps
            .get("migrations")
            .and_then(|r| r.output.clone())
            .and_then(|v| serde_json::from_value::<MigrationsOutput>(v).ok())
            .and_then(|o| o.new_data);
        let recreate = s
            .steps
            .get("recreate-postgres")
            .and_then(|r| r.output.clone())
            .and_then(|v| serde_json::from_value::<RecreateOutput>(v).ok());
        let swap = recreate.as_ref().and_then(|o| o.disaster.clone());
        let volume_swap = recreate.and_then(|o| o.volume_swap);
        let remove_aside = swap
            .as_ref()
            .filter(|w| w.swapped)
            .map(Swap::how_to_remove)
            .or_else(|| {
                volume_swap
                    .as_ref()
                    .filter(|v| v.copied)
                    .map(|v| v.how_to_remove())
            });
        Some(RollbackFacts {
            path: if s.disaster_rollback {
                "disaster"
            } else {
                "fast"
            },
            reason: s.rollback_reason.clone(),
            failed,
            undone: undone.into_iter().map(|(_, id)| id).collect(),
            undo_failed,
            wall_ms: finished
                .then(|| ended.map(|e| (e - started).num_milliseconds()))
                .flatten(),
            check,
            new_data,
            swap,
            volume_swap,
            remove_aside,
            collation: super::collation::from_state(s),
        })
    }

    pub fn summary_lines(&self) -> Vec<String> {
        let mut v = vec![format!(
            "rollback: {} path, {}",
            self.path,
            self.wall_ms.map_or("still open".into(), |ms| format!(
                "{:.1}s wall time",
                ms as f64 / 1000.0
            ))
        )];
        match &self.check {
            Some(c) if c.skipped.is_some() => v.push(format!(
                "rollback check: data not compared: {}",
                c.skipped.as_deref().unwrap_or("")
            )),
            Some(c) => {
                v.push(format!(
                    "rollback check: {} pre-existing tables as expected by {}; backend {}",
                    c.compared,
                    rollback_check::what_was_compared(c),
                    c.backend_healthy_url
                        .as_deref()
                        .map_or("not checked (none running before)".into(), |u| format!(
                            "healthy ({u})"
                        ))
                ));
                v.extend(c.resumed.iter().map(|r| format!("rollback check: {r}")));
                v.extend(
                    rollback_check::why_not_contents(c).map(|w| format!("rollback check: {w}")),
                );
                v.extend(c.window_rows.iter().map(|w| format!("rollback check: {w}")));
            }
            None => v.push("rollback check: not run (the rollback did not reach it)".into()),
        }
        v.extend(self.new_data.as_ref().map(NewData::summary));
        v.extend(
            self.remove_aside
                .iter()
                .map(|r| format!("disaster restore: {r}")),
        );
        v.extend(
            self.collation
                .iter()
                .map(|c| format!("rollback check: {}", c.summary())),
        );
        v
    }

    pub fn markdown(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "\n## Rollback\n");
        let _ = writeln!(s, "- path: {}", self.path);
        let _ = writeln!(s, "- reason: {}", self.reason.as_deref().unwrap_or("-"));
        let _ = writeln!(
            s,
            "- wall time: {}",
            self.wall_ms
                .map_or("-".into(), |ms| format!("{:.1}s", ms as f64 / 1000.0))
        );
        let list = |v: &[String]| {
            if v.is_empty() {
                "none".to_string()
            } else {
                v.join("; ")
            }
        };
        let _ = writeln!(s, "- failed: {}", list(&self.failed));
        let _ = writeln!(s, "- undone (in order): {}", list(&self.undone));
        let _ = writeln!(s, "- undo failed: {}", list(&self.undo_failed));
        for line in self.summary_lines().iter().skip(1) {
            let _ = writeln!(s, "- {line}");
        }
        s
    }
}
