//! The pgvector upgrade's figures for the Result screen, read from the journal with the steps'
//! own output types: the report's [`UpgradeFacts`] (downtime, backup, fingerprints, versions)
//! plus what only the screen shows (collation, qdrant and backend health).
//!
//! Invariant: a figure is shown only when a step measured and journaled it; an output that is
//! present but does not read is kept as an error string, never silently dropped.

use crate::engine::recovery::RunState;
use crate::upgrade::outputs::{CollationOutput, QdrantOutput, RecreateOutput};
use crate::upgrade::plan::PLAN_NAME;
use crate::upgrade::report::UpgradeFacts;
use crate::upgrade::steps::backend_healthy::HealthyOutput;

#[derive(Debug, Clone)]
pub struct Figures {
    pub facts: UpgradeFacts,
    pub collation: Option<CollationOutput>,
    pub qdrant: Option<QdrantOutput>,
    pub backend: Option<HealthyOutput>,
    /// The recreate's parked old container `(name, id)`, while the recreate stands.
    pub old_container: Option<(String, String)>,
    /// Outputs present that did not read as their step's type.
    pub unreadable: Vec<String>,
}

fn typed<T: serde::de::DeserializeOwned>(
    run: &RunState,
    id: &str,
    bad: &mut Vec<String>,
) -> Option<T> {
    let raw = run.steps.get(id)?.output.clone()?;
    match serde_json::from_value(raw) {
        Ok(v) => Some(v),
        Err(e) => {
            bad.push(format!("{id}: {e}"));
            None
        }
    }
}

impl Figures {
    /// `None` for other plans: their results screen shows the steps only.
    pub fn from_run(run: &RunState) -> Option<Self> {
        if run.plan != PLAN_NAME {
            return None;
        }
        let mut bad = Vec::new();
        let facts = UpgradeFacts::from_state(run);
        let old_container = facts.old_container_kept.as_ref().and_then(|_| {
            let r: RecreateOutput = typed(run, "recreate-postgres", &mut bad)?;
            Some((r.plan.old_kept_name, r.plan.old_id))
        });
        Some(Figures {
            collation: typed(run, "collation", &mut bad),
            qdrant: typed(run, "start-qdrant", &mut bad),
            backend: typed(run, "backend-healthy", &mut bad),
            old_container,
            facts,
            unreadable: bad,
        })
    }

    /// Per pre-existing table: (name, rows before, rows after, same checksum?).
    pub fn tables(&self) -> Vec<(String, i64, Option<i64>, Option<bool>)> {
        let Some(before) = &self.facts.fingerprint_before else {
            return Vec::new();
        };
        let after = self.facts.fingerprint_after.as_ref();
        before
            .tables
            .iter()
            .map(|(t, b)| {
                let a = after.and_then(|a| a.tables.get(t));
                (
                    t.clone(),
                    b.rows,
                    a.map(|a| a.rows),
                    a.map(|a| a.checksum == b.checksum),
                )
            })
            .collect()
    }
}
