//! What the first checks hand on: the stack's containers (`discover`), the engine and its
//! Compose tool (`engine`), and the versions before the upgrade (`versions`).

use serde::{Deserialize, Serialize};

use crate::adapters::docker::ServiceContainer;
use crate::adapters::postgres::PgMajor;

/// One service's container as found on the engine.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Found {
    pub service: String,
    pub container: String,
    pub id: String,
    pub image: String,
    pub image_id: String,
    pub running: bool,
}

impl From<&ServiceContainer> for Found {
    fn from(c: &ServiceContainer) -> Self {
        Found {
            service: c.service.clone(),
            container: c.name.clone(),
            id: c.id.clone(),
            image: c.image.clone(),
            image_id: c.image_id.clone(),
            running: c.is_running(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Discovery {
    pub postgres: Found,
    /// The containers of the writer services (every replica), in stop order.
    pub writers: Vec<Found>,
    /// Writer services with no container: skipped by every later step.
    pub absent: Vec<String>,
    /// The engine network postgres is on (qdrant joins it).
    pub network: Option<String>,
    /// postgres's restart policy (qdrant gets the same).
    pub restart: Option<String>,
    /// `com.docker.compose.version` of postgres, written on the qdrant container.
    pub compose_version: String,
    pub qdrant: Option<Found>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EngineOutput {
    pub api_version: String,
    pub compose_tool: Option<Vec<String>>,
    /// What the tool reported (`2.26.1-4`, `1.29.2`); absent in older journals.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compose_version: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Versions {
    pub server_before: String,
    pub data_dir_major: PgMajor,
    pub image_before: String,
    pub image_id_before: String,
    pub digest_before: Option<String>,
}
