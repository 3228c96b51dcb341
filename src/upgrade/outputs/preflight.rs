//! What the pre-flight reads hand on to the checks after them: the running cluster's needs
//! (`cluster-facts`) and what the target image offers (`target-probe`).

use serde::{Deserialize, Serialize};

use crate::adapters::collation::CollatableIndex;
use crate::adapters::pg_image::PgImageFacts;
use crate::adapters::postgres::cluster::{
    BuildRate, DatabaseLocale, InstalledExtension, SettingValue,
};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct DataMount {
    /// `volume`, `bind`, ...
    pub kind: String,
    /// Volume name or host path.
    pub source: String,
    pub destination: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct ClusterFacts {
    pub databases: Vec<DatabaseLocale>,
    /// The database cutover connects to (its collation is the one sorted in both images).
    pub current_database: String,
    pub settings: Vec<SettingValue>,
    pub extensions: Vec<InstalledExtension>,
    /// Databases whose extensions could not be read (no connection allowed, no permission).
    pub unread_databases: Vec<String>,
    /// `$PGDATA` in the running container.
    pub data_dir: String,
    pub data_owner_uid: Option<u32>,
    pub data_owner_gid: Option<u32>,
    pub data_files: Option<u64>,
    /// How long counting the files took (a lower bound for any walk of the directory).
    pub data_walk_ms: Option<u64>,
    pub mount: Option<DataMount>,
    /// The container's `user:` when it overrides the old image's (the recreate carries it).
    pub user_override: Option<String>,
    /// The container's `PGDATA` when it overrides the old image's (the recreate carries it).
    pub pgdata_override: Option<String>,
    pub collatable_indexes: Vec<CollatableIndex>,
    pub build_rate: Option<BuildRate>,
}

impl ClusterFacts {
    /// The collation of the database cutover connects to.
    pub fn collation(&self) -> Option<&str> {
        self.databases
            .iter()
            .find(|d| d.name == self.current_database)
            .map(|d| d.collate.as_str())
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ProbeOutput {
    pub target: PgImageFacts,
    /// The image the postgres container runs now (None if it could not be probed).
    pub before: Option<PgImageFacts>,
}

impl ProbeOutput {
    /// `id (digest)` of the target, as pinned.
    pub fn pin(&self) -> String {
        format!(
            "{} ({})",
            self.target.image_id,
            self.target
                .repo_digests
                .first()
                .map_or("no registry digest: a local build".to_string(), |d| d
                    .clone())
        )
    }
}
