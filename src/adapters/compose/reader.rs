//! Reads what the upgrade needs to know from a compose file: each service's image,
//! `container_name`, networks and environment (interpolated from the project's `.env`), the
//! top-level networks and volumes, and the `.env` values themselves (for credentials).
//!
//! This is a strict YAML 1.2 reader (saphyr), also used to re-parse an edited file: a syntax
//! error comes back with its line and column. Secrets: `Debug` of the types here prints variable
//! names, never values.
use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use saphyr::{LoadableYamlNode, YamlOwned};

use super::{ComposeError, dotenv, interpolate::interpolate};

/// One service as written in the compose file (with variables substituted).
#[derive(Clone, PartialEq, Eq)]
pub struct ServiceInfo {
    pub name: String,
    /// `image:` after interpolation; `None` for build-only services.
    pub image: Option<String>,
    pub container_name: Option<String>,
    /// Network names; empty means the project's default network.
    pub networks: Vec<String>,
    /// `env_file:` entries then `environment:`, interpolated (what the container will get).
    pub environment: BTreeMap<String, String>,
    /// Published ports as written (`"5432:5432"`, `6333`), for the caller to check for clashes.
    pub ports: Vec<String>,
    /// `deploy.replicas` or `scale` (default 1): how many containers `up` starts.
    pub replicas: u32,
    /// `restart:` policy, if set.
    pub restart: Option<String>,
    /// `healthcheck.test` as words (`["CMD", "curl", "-f", "http://..."]`; a string form is one
    /// word): where the app says its own health is read.
    pub healthcheck: Vec<String>,
}

impl fmt::Debug for ServiceInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServiceInfo")
            .field("name", &self.name)
            .field("image", &self.image)
            .field("container_name", &self.container_name)
            .field("networks", &self.networks)
            .field(
                "environment_keys",
                &self.environment.keys().collect::<Vec<_>>(),
            )
            .field("ports", &self.ports)
            .field("replicas", &self.replicas)
            .field("restart", &self.restart)
            .field("healthcheck", &self.healthcheck)
            .finish()
    }
}

/// What the reader found in a compose project.
#[derive(Clone, PartialEq, Eq)]
pub struct ComposeProject {
    pub services: Vec<ServiceInfo>,
    pub networks: Vec<String>,
    pub volumes: Vec<String>,
    /// The project's `.env` values (empty when there is no `.env`).
    pub env: BTreeMap<String, String>,
}

impl fmt::Debug for ComposeProject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ComposeProject")
            .field("services", &self.services)
            .field("networks", &self.networks)
            .field("volumes", &self.volumes)
            .field("env_keys", &self.env.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl ComposeProject {
    pub fn service(&self, name: &str) -> Option<&ServiceInfo> {
        self.services.iter().find(|s| s.name == name)
    }
}

/// Reads `compose_path` and the `.env` beside it.
pub fn read_project(compose_path: &Path) -> Result<ComposeProject, ComposeError> {
    let text = std::fs::read_to_string(compose_path).map_err(|source| ComposeError::Io {
        path: compose_path.to_path_buf(),
        action: "read the compose file",
        source,
    })?;
    let dir = compose_path.parent().unwrap_or(Path::new("."));
    let env = dotenv::read_dotenv(&dir.join(".env"))?;
    parse_compose(&text, env, Some(dir))
}

/// Parses compose text. `env` is the `.env` map used for interpolation; `project_dir` resolves
/// relative `env_file:` paths (None: `env_file` entries are ignored).
pub fn parse_compose(
    text: &str,
    env: BTreeMap<String, String>,
    project_dir: Option<&Path>,
) -> Result<ComposeProject, ComposeError> {
    let root = load_yaml(text)?;
    let services_node = root
        .as_mapping_get("services")
        .and_then(|s| s.as_mapping())
        .ok_or_else(|| ComposeError::Shape {
            what: "top level has no `services:` mapping".into(),
        })?;
    let mut services = Vec::new();
    for (key, node) in services_node {
        let name = scalar_string(key).unwrap_or_default();
        services.push(read_service(name, node, &env, project_dir)?);
    }
    Ok(ComposeProject {
        services,
        networks: mapping_keys(root.as_mapping_get("networks")),
        volumes: mapping_keys(root.as_mapping_get("volumes")),
        env,
    })
}

/// Parses YAML strictly and returns the first document, mapping a syntax error to its position.
pub(super) fn load_yaml(text: &str) -> Result<YamlOwned, ComposeError> {
    let docs = YamlOwned::load_from_str(text).map_err(|e| ComposeError::Yaml {
        line: e.marker().line(),
        // saphyr counts columns from 0; editors and humans count from 1.
        column: e.marker().col() + 1,
        message: e.info().to_string(),
    })?;
    docs.into_iter().next().ok_or_else(|| ComposeError::Shape {
        what: "file is empty".into(),
    })
}

fn read_service(
    name: String,
    node: &YamlOwned,
    env: &BTreeMap<String, String>,
    project_dir: Option<&Path>,
) -> Result<ServiceInfo, ComposeError> {
    let get = |k: &str| node.as_mapping_get(k);
    let text = |k: &str| get(k).and_then(scalar_string).map(|v| interpolate(&v, env));
    let mut environment = BTreeMap::new();
    if let Some(dir) = project_dir {
        for file in string_list(get("env_file")) {
            environment.extend(dotenv::read_dotenv(&dir.join(interpolate(&file, env)))?);
        }
    }
    match get("environment") {
        Some(YamlOwned::Sequence(items)) => {
            for item in items.iter().filter_map(scalar_string) {
                // `- KEY` alone takes the value from the shell running compose: unknown here.
                if let Some((k, v)) = item.split_once('=') {
                    environment.insert(k.to_string(), interpolate(v, env));
                }
            }
        }
        Some(YamlOwned::Mapping(map)) => {
            for (k, v) in map {
                if let (Some(k), Some(v)) = (scalar_string(k), scalar_string(v)) {
                    environment.insert(k, interpolate(&v, env));
                }
            }
        }
        _ => {}
    }
    Ok(ServiceInfo {
        name,
        image: text("image"),
        container_name: text("container_name"),
        networks: match get("networks") {
            Some(YamlOwned::Mapping(_)) => mapping_keys(get("networks")),
            other => string_list(other),
        },
        environment,
        ports: string_list(get("ports")),
        replicas: get("deploy")
            .and_then(|d| d.as_mapping_get("replicas"))
            .or_else(|| get("scale"))
            .and_then(scalar_string)
            .and_then(|r| interpolate(&r, env).parse().ok())
            .unwrap_or(1),
        restart: text("restart"),
        healthcheck: healthcheck_test(node),
    })
}

/// A scalar as text (numbers and booleans too, as Compose reads them); None for null/collections.
pub(super) fn scalar_string(node: &YamlOwned) -> Option<String> {
    use saphyr::ScalarOwned as S;
    match node {
        YamlOwned::Value(S::String(s)) => Some(s.clone()),
        YamlOwned::Value(S::Integer(i)) => Some(i.to_string()),
        YamlOwned::Value(S::FloatingPoint(f)) => Some(f.to_string()),
        YamlOwned::Value(S::Boolean(b)) => Some(b.to_string()),
        YamlOwned::Representation(s, _, _) => Some(s.clone()),
        YamlOwned::Tagged(_, inner) => scalar_string(inner),
        _ => None,
    }
}

/// A service's `healthcheck.test`, as words.
pub(crate) fn healthcheck_test(service: &YamlOwned) -> Vec<String> {
    string_list(
        service
            .as_mapping_get("healthcheck")
            .and_then(|h| h.as_mapping_get("test")),
    )
}

fn string_list(node: Option<&YamlOwned>) -> Vec<String> {
    match node {
        Some(YamlOwned::Sequence(items)) => items.iter().filter_map(scalar_string).collect(),
        Some(other) => scalar_string(other).into_iter().collect(),
        None => Vec::new(),
    }
}

fn mapping_keys(node: Option<&YamlOwned>) -> Vec<String> {
    match node {
        Some(YamlOwned::Mapping(map)) => map.keys().filter_map(scalar_string).collect(),
        _ => Vec::new(),
    }
}
