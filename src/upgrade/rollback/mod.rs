//! What happens on rollback, in one place. The engine undoes every action that ran, newest
//! first; the database part of that sequence is:
//!
//! 1. `start-writers`' undo stops the writers again and records where they left the new server
//!    (its WAL position on the fast path, a table fingerprint on the disaster path);
//! 2. `migrations`' undo runs the down migrations (fast path), after counting the rows in
//!    the tables they drop and dumping them into the run directory; rows there are refused
//!    unless `--discard-new-data` (`new_data`; `cutover rollback` counts before anything is
//!    undone, too);
//! 3. `recreate-postgres`' undo puts the old container back and proves that the old server
//!    resumed at or after that WAL position (fast path), then, before any writer returns,
//!    amchecks and rebuilds the collatable indexes the new server's C library ordered and
//!    restores the data files' ownership to the old image's user (`collation`); or it
//!    restores the run's backup (`disaster`);
//! 4. `stop-writers`' undo compares every pre-existing table with the pre-upgrade fingerprint
//!    (`check`), then starts the writers and waits for the backend's health.
//!
//! The run report's rollback section is built from the journal alone (`report`).

pub mod check;
pub mod collation;
pub mod disaster;
pub mod new_data;
pub mod report;
