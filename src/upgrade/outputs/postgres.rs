//! What `recreate-postgres` and `collation` hand on: the recreate plan (the old container's
//! configuration the fast rollback re-creates it from) with the rollback's proofs, and the
//! collation findings (the rollback rebuilds the same indexes on the old server).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::adapters::collation::CollationReport;
use crate::adapters::docker::{Libc, RecreatePlan};
use crate::adapters::postgres::WalPosition;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RecreateOutput {
    pub plan: RecreatePlan,
    /// When the old container's stop was issued: the start of database downtime.
    pub stop_issued_at: DateTime<Utc>,
    /// Fast rollback: the new server's WAL position just before the undo stopped it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wal_before_undo: Option<WalPosition>,
    /// Fast rollback: how the old server was shown to resume where the new one stopped
    /// (`rollback_check` then reads the tables without holding the writers back).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resumed: Option<String>,
    /// Disaster rollback: the databases of the restore-and-swap (`crate::upgrade::rollback`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disaster: Option<crate::upgrade::rollback::disaster::Swap>,
    /// The single-server check before the new server started on the data volume.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volume_check: Option<String>,
    /// The state at the stop, read by the undo from the snapshot the new server held
    /// (`crate::upgrade::rollback::stop_state`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fingerprint_at_start: Option<crate::adapters::fingerprint::Fingerprint>,
    /// Disaster rollback with `disaster_restore = "volume"`: the files copied in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volume_swap: Option<crate::upgrade::rollback::volume_swap::VolumeSwap>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CollationOutput {
    /// amcheck was installed before this step: undo leaves it.
    pub amcheck_preexisting: bool,
    pub libc_before: Option<Libc>,
    pub libc_after: Option<Libc>,
    pub report: Option<CollationReport>,
    /// Why the order was taken as changed (empty: not changed).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub changed_because: Vec<String>,
    /// The other connectable databases, when the order changed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub other_databases: Vec<CollationReport>,
}

impl CollationOutput {
    /// `schema.index` of every reindexed index (`db:schema.index` in another database).
    pub fn reindexed(&self) -> Vec<String> {
        let main = self.report.iter().flat_map(|r| {
            r.findings
                .iter()
                .filter(|f| f.reindexed)
                .map(|f| f.index.qualified_name.clone())
        });
        let others = self.other_databases.iter().flat_map(|r| {
            r.findings
                .iter()
                .filter(|f| f.reindexed)
                .map(move |f| format!("{}:{}", r.database, f.index.qualified_name))
        });
        main.chain(others).collect()
    }
}
