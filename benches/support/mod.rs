//! Helpers of the side-by-side bench (`benches/cutover_vs_baseline.rs`), one job per file:
//! `probe` (downtime windows), `db_ops` (bare restart, cutover's recreate and restore_old
//! through the adapter), `guide` (the migration guide scripted with the docker CLI), `run`
//! (the real binary's run), `fast_rollback` (its rollback through the adapters), `backup`
//! (dumps and restores, both ways), `reindex` (the collation cost against a bare REINDEX), `rehearse` (the rehearsal's
//! cost and forecast), `rows`
//! (rows lost), `ui` (the wizard in a pty), `rounds` (one interleaved round), `stats`
//! (min / median / max, ratios, goals), `sh` (bounded CLI calls), `disaster` (the disaster
//! rollback through the command against a bare `pg_restore --jobs N`).

pub mod backup;
pub mod db_ops;
pub mod disaster;
pub mod fast_rollback;
pub mod guide;
pub mod probe;
pub mod rehearse;
pub mod reindex;
pub mod rounds;
pub mod rows;
pub mod run;
pub mod sh;
pub mod stats;
pub mod ui;
