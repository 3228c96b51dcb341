//! What `edit-compose` and `start-qdrant` hand on: the edit with the original file's copy,
//! and the qdrant container (read by `start-qdrant`, the world checks, the TUI and the report).

use serde::{Deserialize, Serialize};

use crate::adapters::compose::{Backup, PgvectorEdit};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EditOutput {
    pub edit: PgvectorEdit,
    pub backup: Backup,
    pub changes: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct QdrantOutput {
    pub container: String,
    /// True when this step created the container (undo removes only what it created).
    pub created: bool,
    pub endpoint: Option<String>,
    pub collections: Option<Vec<String>>,
    pub ready_ms: Option<u64>,
    /// The volume this step's container mounts, and whether this step created it (journaled
    /// before the create): undo removes it only then, and only if qdrant holds no collection.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volume: Option<String>,
    #[serde(default)]
    pub volume_created: bool,
}
