//! The built-in `pgvector` upgrade: the procedure of the migration guide
//! (`reference/MIGRATION_GUIDE_PGVECTOR.md`) as one plan of steps, with every defect listed in
//! DESIGN.md corrected. `plan` builds it from the configuration and the compose file alone
//! (no Docker), so `cutover plan` lists the concrete containers, images, files and tables.
//!
//! Order, and why: pre-flight checks (nothing changes; a refusal exits 2), the operator's
//! sign-offs, then the actions. Writers stop BEFORE the final backup (defect 1); the "before"
//! fingerprint is taken with the backup and compared in `verify-data` before the writers start
//! again. No step is past a point of no return: the old container is kept until the separate
//! `cutover finalize`, so a failure anywhere rolls back to the old stack.

pub mod backend_health;
pub mod compose_up;
pub mod env;
pub mod facts;
pub mod finalize;
pub mod held;
pub mod outputs;
pub mod plan;
pub mod portable_dump;
pub mod preflight_report;
pub mod rehearse;
pub mod report;
pub mod rollback;
pub mod setting_files;
pub mod steps;
pub mod tool;
pub mod world;

pub use plan::build;
// The old paths, kept so code written against them still builds; new code names
// `rollback::{check, report, disaster}`.
pub use rollback::check as rollback_check;
pub use rollback::disaster;
pub use rollback::report as rollback_report;
