//! The pgvector upgrade's steps, one per file, in plan order. Each step holds the shared
//! [`UpgradeEnv`](super::env::UpgradeEnv) and reads earlier steps' journaled outputs by id.
//!
//! Invariants every step keeps: `run` is idempotent (resume may repeat it after undoing it);
//! an output is saved before the change that depends on it; `undo` finds out what is there and
//! tolerates finding nothing to do; no output holds a secret.

pub mod backend_healthy;
pub mod backup;
pub mod base_backup;
pub mod checkpoint;
pub mod cluster_facts;
pub mod collation;
pub mod collation_preview;
pub mod data_mount;
pub mod data_ownership;
pub mod discover;
pub mod disk_space;
pub mod edit_compose;
pub mod engine;
pub mod extensions_available;
pub mod locales;
pub mod major_version;
pub mod migrations;
pub mod portable_dump;
pub mod postgres_ready;
pub mod preload_libraries;
pub mod pull_images;
pub mod recreate_postgres;
pub mod rehearsal;
pub mod sessions;
pub mod sign_off;
pub mod start_qdrant;
pub mod start_writers;
pub mod stop_writers;
pub mod target_image;
pub mod target_probe;
pub mod vector_extension;
pub mod verify_data;
pub mod verify_fingerprints;
pub mod versions;

use crate::engine::{StepContext, StepError};

/// The id, title and kind of a step, in one place per file.
macro_rules! meta {
    ($id:expr, $title:expr, $kind:ident) => {
        fn id(&self) -> &str {
            $id
        }
        fn title(&self) -> &str {
            $title
        }
        fn kind(&self) -> $crate::engine::StepKind {
            $crate::engine::StepKind::$kind
        }
    };
}
pub(crate) use meta;

/// An earlier step's output, or an error naming the step: a missing one means the plan's order
/// was broken, or the journal lost it.
pub fn earlier<T: serde::de::DeserializeOwned>(cx: &StepContext, id: &str) -> Result<T, StepError> {
    cx.output_of::<T>(id).ok_or_else(|| {
        StepError::new(format!(
            "the output of step {id} is missing from the journal; run `cutover status` and roll back"
        ))
    })
}

/// Now, as the journal and report write instants.
pub fn now() -> chrono::DateTime<chrono::Utc> {
    chrono::Utc::now()
}
