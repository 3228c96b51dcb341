//! What `migrations` hands on: the version before (the down migrations stop there), what ran,
//! and what the rollback found in the tables they drop.

use serde::{Deserialize, Serialize};

use crate::adapters::migrations::MigrationRun;
use crate::upgrade::rollback::new_data::NewData;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MigrationsOutput {
    pub origin: String,
    pub version_before: i64,
    pub ran: Vec<MigrationRun>,
    /// Present when the app's own command ran instead of cutover's set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app: Option<AppMigrations>,
    /// Saved by the fast rollback's undo: the rows found in the tables the down migrations
    /// drop, and where they were dumped (`crate::upgrade::rollback::new_data`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new_data: Option<NewData>,
}

/// What the app command's run (and its undo) needs and did.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct AppMigrations {
    /// The command, secret-looking values redacted.
    pub command: String,
    /// The image id of the backend container the one-off was created from.
    pub image: String,
    /// The one-off container's name (fixed, so a leftover is found and removed).
    pub container: String,
    pub exit_code: Option<i64>,
    /// What the undo did: the down command's exit, or why the schema changes stay.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub undo: Option<String>,
}
