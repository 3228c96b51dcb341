//! Compose label names, shared by discovery, recreate and service creation. Compose v1 (Python)
//! and v2 (Go) write the same keys; v2 adds a few (`config_files`, `working_dir`, `depends_on`,
//! `image`), v1 normalises the project name to lowercase alphanumerics.

pub const PROJECT: &str = "com.docker.compose.project";
pub const SERVICE: &str = "com.docker.compose.service";
pub const NUMBER: &str = "com.docker.compose.container-number";
pub const ONEOFF: &str = "com.docker.compose.oneoff";
pub const CONFIG_HASH: &str = "com.docker.compose.config-hash";
pub const VERSION: &str = "com.docker.compose.version";
/// v2 only: the image reference the service asked for.
pub const IMAGE: &str = "com.docker.compose.image";
pub const VOLUME: &str = "com.docker.compose.volume";
pub const NETWORK: &str = "com.docker.compose.network";
/// Set by cutover on containers it created or replaced, so a resumed run recognises its work.
pub const CUTOVER_REPLACES: &str = "io.cutover.replaces";
pub const CUTOVER_CREATED: &str = "io.cutover.created";

/// Compose v1's project-name normalisation: lowercase, keep only [a-z0-9].
pub fn v1_project_name(name: &str) -> String {
    name.to_ascii_lowercase()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect()
}
