//! What `stop-writers` and `start-writers` hand on: the containers stopped (and restarted by
//! the rollback), and where the writers left the new server when the rollback stopped them.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::adapters::fingerprint::Fingerprint;
use crate::adapters::postgres::WalPosition;
use crate::upgrade::rollback::check::RollbackCheck;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StopOutput {
    /// Containers that were running and that this step stops (and its undo restarts).
    pub stopped: Vec<String>,
    /// The backend's container, if the stack has one running.
    pub backend: Option<String>,
    /// When the first stop was issued: the start of application downtime.
    pub stop_issued_at: DateTime<Utc>,
    /// The post-rollback verification, saved by the undo.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollback_check: Option<RollbackCheck>,
    /// Set by the undo just before it starts the writers ahead of its data check; a repeated
    /// undo that finds it set (and no check) knows they may have written since.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub restarted_before_check: bool,
}

/// Saved by the undo only: where the writers left the database when the rollback stopped them.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WindowOutput {
    /// Disaster path (and journals of older versions, on either path): the tables.
    pub fingerprint_at_rollback: Option<Fingerprint>,
    /// Fast path: the new server's WAL position.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wal_at_rollback: Option<WalPosition>,
    /// Disaster path: what each pre-existing table took since the new server's first login,
    /// by its row-change counters (no table read); tables without writes are left out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub writes_at_rollback: Option<Vec<TableWrites>>,
}

/// Rows one table took while the upgrade stood, by the server's counters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableWrites {
    pub table: String,
    pub inserted: i64,
    pub updated: i64,
    pub deleted: i64,
}
