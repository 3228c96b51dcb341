//! The outputs steps hand to each other, in one place. A step journals its output with
//! `save_output`; later steps, their undos, the rollback (`super::rollback`), the report and the
//! TUI read it back by step id (`steps::earlier`, `StepContext::output_of`). Keeping the types
//! here, apart from the steps that write them, means no step imports another step.
//!
//! Grouped by the part of the run that writes them:
//! - `discovery`: `discover`, `engine`, `versions`;
//! - `preflight`: `cluster-facts`, `target-probe`;
//! - `compose`: `edit-compose`, `start-qdrant`;
//! - `writers`: `stop-writers`, `start-writers`;
//! - `backup`: `base-backup`, `backup`, `portable-dump`;
//! - `postgres`: `recreate-postgres`, `collation`;
//! - `migrations`: `migrations`.
//!
//! Every field added later needs `#[serde(default)]`: a resumed run reads journals written by
//! older versions.

mod backup;
mod compose;
mod discovery;
mod migrations;
mod postgres;
mod preflight;
mod writers;

pub use backup::{
    BackupOutput, BaseBackupOutput, PhysicalBackup, PortableDumpOutput, SCHEMA, fingerprint_before,
    fingerprint_before_in, run_key,
};
pub use compose::{EditOutput, QdrantOutput};
pub use discovery::{Discovery, EngineOutput, Found, Versions};
pub use migrations::{AppMigrations, MigrationsOutput};
pub use postgres::{CollationOutput, RecreateOutput};
pub use preflight::{ClusterFacts, DataMount, ProbeOutput};
pub use writers::{StopOutput, TableWrites, WindowOutput};
