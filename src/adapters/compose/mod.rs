//! The compose-file adapter: reads a Compose project (services, images, container names,
//! networks, `.env` values) and performs the pgvector upgrade's edit of the file.
//!
//! Invariants: the file on disk is only ever replaced atomically (temp file in the same
//! directory, fsync, rename, mode kept), after a byte-identical copy was written to the run
//! directory and after the edited text was re-parsed and validated. Editing keeps comments, key
//! order and quoting (yaml-edit's lossless tree); its `Document` is not `Send`, so everything
//! here is synchronous: call it from `spawn_blocking` in async code.
mod as_json;
mod dotenv;
mod edit;
mod error;
mod files;
mod interpolate;
mod reader;
mod resolved;
mod validate;

pub use as_json::resolved_as_json;
pub use dotenv::{parse_dotenv, read_dotenv};
pub use edit::{PgvectorEdit, PortMapping, choose_qdrant_ports, edit_compose_text, loopback};
pub use error::ComposeError;
pub use files::{Backup, atomic_write, backup_compose_file, restore_compose_file, sha256_hex};
pub use interpolate::interpolate;
pub use reader::{ComposeProject, ServiceInfo, parse_compose, read_project};
pub use resolved::{file_defining_image, parse_resolved, project_files};
pub use validate::validate_edit;

/// What applying the edit to a file did: where the copy is and whether anything changed.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ApplyOutcome {
    /// The byte-identical copy of the original, with its sha256 (journal this before the edit).
    pub backup: Backup,
    /// False when the file already had the edit: nothing was written.
    pub changed: bool,
    /// Human-readable list of what the edit did ("postgres image: a -> b", ...).
    pub changes: Vec<String>,
}

/// The whole flow on disk: copy the original into `run_dir`, edit, validate, then atomically
/// replace `compose_path`.
///
/// Idempotent: a file that already has the edit is left untouched and the copy taken by the
/// earlier run (if `run_dir` has one) is returned, so a resumed run still knows the original.
pub fn apply_pgvector_edit(
    compose_path: &std::path::Path,
    run_dir: &std::path::Path,
    edit: &PgvectorEdit,
) -> Result<ApplyOutcome, ComposeError> {
    let original = std::fs::read_to_string(compose_path).map_err(|source| ComposeError::Io {
        path: compose_path.to_path_buf(),
        action: "read the compose file",
        source,
    })?;
    let edited = edit_compose_text(&original, edit)?;
    if !edited.changed {
        let backup = match files::existing_backup(compose_path, run_dir)? {
            Some(b) => b,
            None => backup_compose_file(compose_path, run_dir)?,
        };
        return Ok(ApplyOutcome {
            backup,
            changed: false,
            changes: edited.changes,
        });
    }
    // The copy comes first and is verified: nothing is written to the original without it.
    let backup = backup_compose_file(compose_path, run_dir)?;
    validate_edit(&original, &edited.text, edit)?;
    atomic_write(compose_path, edited.text.as_bytes())?;
    Ok(ApplyOutcome {
        backup,
        changed: true,
        changes: edited.changes,
    })
}
