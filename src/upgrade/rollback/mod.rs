//! What happens on rollback, in one place. The engine undoes every action that ran, newest
//! first; each undo that touches the database calls one function here, in this order:
//!
//! 1. `start-writers`' undo stops the writers again, then [`window::record`] records where they
//!    left the new server (its WAL position on the fast path; on the disaster path the rows
//!    each table took, by its counters, or a table fingerprint where they cannot tell);
//! 2. `migrations`' undo calls [`new_data::keep`] before the down migrations (fast path): it
//!    counts the rows in the tables they drop and dumps them into the run directory; rows there
//!    are refused unless `--discard-new-data` (`cutover rollback` counts before anything is
//!    undone, too: [`new_data::before_rollback`]);
//! 3. `recreate-postgres`' undo:
//!    - first, when the window deferred the fingerprint of the stop and nothing read it yet,
//!      [`stop_state::read_held`] reads it from the snapshot the new server holds (`backup`'s
//!      undo, next, reads it from the backup if that snapshot is gone: [`stop_state::otherwise`]);
//!    - disaster path: [`disaster::run`] restores the run's backup into a new database,
//!      compares its rows and contents with the stop ([`disaster::matches_stop`]) and swaps it
//!      in; with `disaster_restore = "volume"`, [`volume_swap::run`] copies the physical
//!      backup's files into the data directory instead (the whole cluster), then the same
//!      comparison; [`collation::repair_after_restore`] then repairs the cluster's other
//!      databases (not the restored one, built by the old server, nor the one set aside);
//!    - fast path: [`resume_proof::note_new_position`] reads the new server's WAL position
//!      before it stops; the old container is put back; [`resume_proof::check`] proves that the
//!      old server resumed at or after that position; then, before any writer returns,
//!      [`collation::repair`] amchecks and rebuilds the collatable indexes the new server's C
//!      library ordered and restores the data files' ownership to the old image's user;
//! 4. `stop-writers`' undo calls [`verify::run`]: it compares every pre-existing table with
//!    the pre-upgrade fingerprint (what "equal" means on each path: [`check`]), starts the
//!    writers (before or alongside the comparison: alongside once the resume or the restore's
//!    contents were shown), stops them again if it fails, and waits for the backend's health.
//!
//! What each undo journals lives in `super::outputs`; the run report's rollback section is
//! built from the journal alone ([`report`]).

pub mod check;
pub mod collation;
pub mod disaster;
pub mod new_data;
pub mod report;
pub mod resume_proof;
pub mod stop_state;
pub mod verify;
pub mod volume_swap;
pub mod window;
