//! Schema migrations: numbered up/down SQL pairs, embedded from `migrations/` or loaded from a
//! directory (`--migrations DIR`), applied in order, each in its own transaction under an
//! advisory lock, and recorded with the sha256 of its up file in `cutover_schema_migrations`.
//!
//! Invariants: an applied migration whose file changed is refused by name; history is read and
//! checked again inside each migration's transaction (after the lock), so two runners never
//! apply the same migration; `down` removes history rows as it goes.
mod error;
mod runner;
mod set;

pub use error::MigrationError;
pub use runner::{
    ADVISORY_LOCK_KEY, Direction, HISTORY_TABLE, HistoryRow, MigrationRun, down, history, pending,
    up,
};
pub use set::{Migration, MigrationSet};
