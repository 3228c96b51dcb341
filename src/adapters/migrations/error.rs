//! Errors of the migration adapter, each naming the migration or file involved.
use crate::adapters::postgres::PgError;

#[derive(Debug, thiserror::Error)]
pub enum MigrationError {
    #[error("migration set {origin}: {problem}")]
    Set { origin: String, problem: String },
    #[error(
        "migration {version} ({name}) was applied with checksum {recorded} but its up file now has checksum {current}; applied migrations must not change: restore the file, or add a new migration for the change"
    )]
    ChecksumMismatch {
        version: i64,
        name: String,
        recorded: String,
        current: String,
    },
    #[error(
        "the database has migration {version} ({name}) applied, which this migration set does not contain; use the set it came from (--migrations DIR)"
    )]
    UnknownApplied { version: i64, name: String },
    #[error(
        "migration {version} ({name}) is pending but the later migration {applied} is already applied; refusing to apply out of order"
    )]
    OutOfOrder {
        version: i64,
        name: String,
        applied: i64,
    },
    #[error("migration {version} ({name}) {direction} failed and was rolled back: {message}")]
    Failed {
        version: i64,
        name: String,
        direction: super::Direction,
        message: String,
        #[source]
        source: tokio_postgres::Error,
    },
    #[error(transparent)]
    Pg(#[from] PgError),
}
