//! From what the rehearsal measured (the side run's own journal) to a forecast of the real
//! window.
//!
//! - Measured: every step's time, the database downtime cutover itself reports (stop issued
//!   to the first login on the new server), the backup's size, the REINDEX count and time, and
//!   the fast rollback's wall time.
//! - Scaled: the steps whose work grows with the data (the backup, the collation check and
//!   REINDEX, the "after" fingerprint) by `live bytes / copied bytes`; the rest are taken as
//!   measured. A physical copy is whole, so the factor is the growth since the copy (about 1
//!   right after it); a logical copy has no bloat, so the factor is above 1 and corrects for
//!   size, not for the freshly built indexes (the forecast's `caveats` say so). It is printed
//!   with the forecast so nobody mistakes one for the other.
//! - The application downtime is the window from the writers' stop to the backend's health.
//!   Without the application in the rehearsal (`rehearse_app` off) the writers' stop and start
//!   and the backend's start-up are not in it: the forecast says so. With it, copies of the
//!   writers were stopped, started and waited for on the side: their start-up is measured.

use serde::{Deserialize, Serialize};

use crate::engine::recovery::{RunState, StepState};
use crate::upgrade::outputs::{BackupOutput, CollationOutput};
use crate::upgrade::report::UpgradeFacts;
use crate::upgrade::rollback::report::RollbackFacts;

/// Steps whose cost grows with the database's size.
const SCALES: [&str; 5] = [
    "base-backup",
    "backup",
    "collation",
    "verify-data",
    "portable-dump",
];
/// The application's window: from the writers' stop to the backend's health.
const WINDOW_FIRST: &str = "stop-writers";
const WINDOW_LAST: &str = "backend-healthy";

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Phase {
    pub step: String,
    pub title: String,
    pub ms: i64,
    /// Grows with the data (scaled in the forecast).
    pub scales: bool,
    /// Inside the application's window.
    pub in_window: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Forecast {
    /// `live bytes / copied bytes`, applied to the phases that scale.
    pub scale: f64,
    pub phases: Vec<Phase>,
    pub db_downtime_ms: Option<i64>,
    pub app_downtime_ms: i64,
    pub backup_bytes: Option<u64>,
    pub backup_ms: Option<i64>,
    pub reindexed: usize,
    pub reindex_ms: i64,
    pub rollback_ms: Option<i64>,
    /// What the rehearsal could not measure, in words.
    pub not_rehearsed: Vec<String>,
    /// Copies of the application ran on the side (`rehearse_app`): the app downtime includes
    /// their start-up and health.
    #[serde(default)]
    pub app_rehearsed: bool,
    /// How the forecast must be read, in words (a logical copy's, `copy::caveats`).
    #[serde(default)]
    pub caveats: Vec<String>,
}

impl Forecast {
    /// The forecast from the side run's state; `live_bytes`/`copy_bytes` set the scale.
    pub fn from_run(s: &RunState, live_bytes: u64, copy_bytes: u64) -> Self {
        let scale = if copy_bytes > 0 {
            live_bytes as f64 / copy_bytes as f64
        } else {
            1.0
        };
        let mut phases = Vec::new();
        let mut in_window = false;
        for meta in &s.steps_meta {
            let Some(r) = s.steps.get(&meta.id) else {
                continue;
            };
            if meta.id == WINDOW_FIRST {
                in_window = true;
            }
            if r.state != StepState::Pending
                && let (Some(a), Some(b)) = (r.started_at, r.finished_at)
            {
                phases.push(Phase {
                    step: meta.id.clone(),
                    title: meta.title.clone(),
                    ms: (b - a).num_milliseconds(),
                    scales: SCALES.contains(&meta.id.as_str()),
                    in_window,
                });
            }
            if meta.id == WINDOW_LAST {
                in_window = false;
            }
        }
        let scaled = |p: &Phase| {
            if p.scales {
                (p.ms as f64 * scale).round() as i64
            } else {
                p.ms
            }
        };
        let app_downtime_ms = phases.iter().filter(|p| p.in_window).map(scaled).sum();
        let facts = UpgradeFacts::from_state(s);
        let out = |id: &str| s.steps.get(id).and_then(|r| r.output.clone());
        let backup = out("backup").and_then(|v| serde_json::from_value::<BackupOutput>(v).ok());
        let collation =
            out("collation").and_then(|v| serde_json::from_value::<CollationOutput>(v).ok());
        let (reindexed, reindex_ms) = collation.as_ref().map_or((0, 0), |c| {
            let all: Vec<_> = c.report.iter().chain(c.other_databases.iter()).collect();
            (
                all.iter()
                    .flat_map(|r| r.findings.iter())
                    .filter(|f| f.reindexed)
                    .count(),
                all.iter().map(|r| r.rebuild_ms() as i64).sum::<i64>(),
            )
        });
        Forecast {
            scale,
            db_downtime_ms: facts.db_downtime_ms,
            app_downtime_ms,
            backup_bytes: backup
                .as_ref()
                .and_then(|b| b.record.as_ref())
                .map(|r| r.bytes),
            backup_ms: phases.iter().find(|p| p.step == "backup").map(scaled),
            reindexed,
            reindex_ms: (reindex_ms as f64 * scale).round() as i64,
            rollback_ms: RollbackFacts::from_state(s).and_then(|r| r.wall_ms),
            phases,
            not_rehearsed: Vec::new(),
            app_rehearsed: false,
            caveats: Vec::new(),
        }
    }

    /// One line for the checklist and the summary.
    pub fn line(&self) -> String {
        let s = |ms: i64| format!("{:.1} s", ms as f64 / 1000.0);
        format!(
            "forecast: DB downtime {}, app downtime {} ({}), {} \
             index(es) to rebuild ({}), fast rollback {}; scale {:.2}",
            self.db_downtime_ms.map_or("?".into(), s),
            s(self.app_downtime_ms),
            if self.app_rehearsed {
                "the app's own start-up included"
            } else {
                "without the app's own start-up"
            },
            self.reindexed,
            s(self.reindex_ms),
            self.rollback_ms.map_or("not measured".into(), s),
            self.scale
        )
    }
}
