//! What `backup` hands on: the pre-upgrade fingerprint and the verified dump (read by
//! `start-writers`, `verify-data`, `backend-healthy`, the rollback check and the disaster path).

use serde::{Deserialize, Serialize};

use crate::adapters::backup::BackupRecord;
use crate::adapters::fingerprint::Fingerprint;
use crate::adapters::physical_backup::{BaseRecord, CatchUpRecord};
use crate::adapters::postgres::WalPosition;

/// The schema whose tables are fingerprinted, dumped and compared.
pub const SCHEMA: &str = "public";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BackupOutput {
    /// Empty when `deferred`: read it with [`fingerprint_before`].
    pub fingerprint_before: Fingerprint,
    pub file_name: String,
    /// Set once the dump is complete and verified (`backup_kind = logical`, or a physical
    /// base that could not be taken).
    pub record: Option<BackupRecord>,
    /// The physical backup: the base plus the WAL up to the stop (`backup_kind = physical`).
    #[serde(default)]
    pub physical: Option<PhysicalBackup>,
    /// The window did not read the tables (issue 14): the state at the stop is fingerprinted
    /// from a snapshot opened on the new server's first login and read after the window
    /// (`crate::upgrade::held`), or from the physical backup. [`fingerprint_before`] finds it.
    #[serde(default)]
    pub deferred: bool,
    /// Where the old server's WAL stood with the writers stopped: the new server must resume
    /// exactly there (`postgres-ready`).
    #[serde(default)]
    pub stop_wal: Option<WalPosition>,
    /// The state at the stop read from the physical backup, by this step's undo, when a
    /// rollback needed it and no snapshot had been read.
    #[serde(default)]
    pub from_backup: Option<Fingerprint>,
}

/// The fingerprint of the state at the stop, wherever the run journaled it; `get` returns a
/// step's journaled output. None: not taken (yet).
pub fn fingerprint_before(get: impl Fn(&str) -> Option<serde_json::Value>) -> Option<Fingerprint> {
    let b: BackupOutput = serde_json::from_value(get("backup")?).ok()?;
    if !b.deferred {
        return Some(b.fingerprint_before);
    }
    let field = |step: &str, name: &str| {
        get(step)
            .and_then(|v| v.get(name).cloned())
            .and_then(|v| serde_json::from_value::<Option<Fingerprint>>(v).ok())
            .flatten()
    };
    field("verify-fingerprints", "before")
        .or_else(|| field("verify-data", "fingerprint_before"))
        .or_else(|| field("recreate-postgres", "fingerprint_at_start"))
        .or(b.from_backup)
}

/// [`fingerprint_before`] from a step's context.
pub fn fingerprint_before_in(cx: &crate::engine::StepContext) -> Option<Fingerprint> {
    fingerprint_before(|step| cx.output_of::<serde_json::Value>(step))
}

/// What `base-backup` journals: the names first (before anything exists), the record once the
/// base is whole, or why it could not be taken.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct BaseBackupOutput {
    pub volume: String,
    pub slot: String,
    /// The old image (id) the backup's files belong to.
    pub image: String,
    pub record: Option<BaseRecord>,
    /// The server refused the base backup (said, and the window falls back to `pg_dump`).
    #[serde(default)]
    pub refused: Option<String>,
}

/// A physical backup of the state at the stop, as `backup` journals it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PhysicalBackup {
    pub volume: String,
    pub image: String,
    pub base: BaseRecord,
    pub catch_up: CatchUpRecord,
}

/// What `portable-dump` journals: the dump made from the physical backup after the window.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct PortableDumpOutput {
    pub file_name: String,
    pub record: Option<BackupRecord>,
}

/// The run directory's name as a lower-case alphanumeric key, for names of things the run
/// creates outside its directory (a volume, a replication slot).
pub fn run_key(run_dir: &std::path::Path) -> String {
    run_dir
        .file_name()
        .map(|n| n.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default()
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .collect()
}
