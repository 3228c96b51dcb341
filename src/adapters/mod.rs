//! Adapters: each module wraps exactly one outside system and knows nothing of plans, steps or
//! the journal. Upgrade steps call these; the engine never sees bollard, tokio-postgres or
//! reqwest types.
//!
//! Invariants shared by every adapter: no secret (an env value whose name contains PASSWORD,
//! SECRET, TOKEN or KEY) is ever logged or put in an error message; every error names the
//! problem and, where there is one, the fix.

pub mod backup;
pub mod collation;
pub mod compose;
pub mod docker;
pub mod fingerprint;
pub mod hashing_reader;
pub mod http;
pub mod migrations;
pub mod pg_image;
pub mod physical_backup;
pub mod postgres;
pub mod restore;
