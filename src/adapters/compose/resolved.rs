//! The project as the Compose tool itself resolves it: which files it reads, and its merged,
//! interpolated model (`config --format json` from v2, `config` YAML from v1) turned into the
//! same [`ComposeProject`] the hand reader gives. Every file, override, profile, `.env` value and
//! shell variable then counts exactly as Compose counts it.
//!
//! Also answers which of the files defines a service's `image:` (the last one that sets it:
//! later files override earlier ones), since that is the file an image change must edit.
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use saphyr::YamlOwned;

use super::reader::{self, ComposeProject, ServiceInfo, scalar_string};
use super::{ComposeError, dotenv};

/// Compose's own override names, looked for beside a base file found by default.
const OVERRIDES: &[&str] = &[
    "compose.override.yml",
    "compose.override.yaml",
    "docker-compose.override.yml",
    "docker-compose.override.yaml",
];

/// The files Compose reads for the project of `compose_file`, in merge order:
/// `COMPOSE_FILE` from the shell (`shell_env`) or else from the `.env` beside the file (split on
/// `COMPOSE_PATH_SEPARATOR`, default `:`), relative to the directory it was read in; otherwise
/// `compose_file` and its override file (`compose.override.yaml`, ...) when one exists.
pub fn project_files(
    compose_file: &Path,
    cwd: &Path,
    shell_env: &BTreeMap<String, String>,
) -> Vec<PathBuf> {
    let dir = compose_file.parent().unwrap_or(Path::new("."));
    let dotenv = dotenv::read_dotenv(&dir.join(".env")).unwrap_or_default();
    let listed = |env: &BTreeMap<String, String>, base: &Path| {
        let list = env.get("COMPOSE_FILE").filter(|l| !l.trim().is_empty())?;
        let sep = env
            .get("COMPOSE_PATH_SEPARATOR")
            .map_or(":", String::as_str);
        Some(
            list.split(sep)
                .filter(|f| !f.is_empty())
                .map(|f| base.join(f))
                .collect::<Vec<_>>(),
        )
    };
    if let Some(files) = listed(shell_env, cwd).or_else(|| listed(&dotenv, dir)) {
        // The configured file leads when the list does not name it (an explicit
        // `--compose-file` beside a `COMPOSE_FILE` list of overrides).
        if files.iter().any(|f| same_file(f, compose_file)) {
            return files;
        }
    }
    let mut files = vec![compose_file.to_path_buf()];
    if let Some(o) = OVERRIDES.iter().map(|n| dir.join(n)).find(|p| p.is_file()) {
        files.push(o);
    }
    files
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(x), Ok(y)) => x == y,
        _ => a == b,
    }
}

/// Parses the tool's `config` output (JSON is YAML too, so one parser reads both versions').
/// `dotenv` is the project's `.env` (kept for credentials; Compose already used it).
pub fn parse_resolved(
    text: &str,
    dotenv: BTreeMap<String, String>,
) -> Result<ComposeProject, ComposeError> {
    let root = reader::load_yaml(text)?;
    let services_node = root
        .as_mapping_get("services")
        .and_then(|s| s.as_mapping())
        .ok_or_else(|| ComposeError::Shape {
            what: "the resolved project has no `services:`".into(),
        })?;
    let mut services = Vec::new();
    for (key, node) in services_node {
        let get = |k: &str| node.as_mapping_get(k);
        let text = |k: &str| get(k).and_then(scalar_string);
        let mut environment = BTreeMap::new();
        if let Some(YamlOwned::Mapping(m)) = get("environment") {
            for (k, v) in m {
                // A null value is a variable Compose could not resolve: the container lacks it.
                if let (Some(k), Some(v)) = (scalar_string(k), scalar_string(v)) {
                    environment.insert(k, v);
                }
            }
        }
        let replicas = get("deploy")
            .and_then(|d| d.as_mapping_get("replicas"))
            .or_else(|| get("scale"))
            .and_then(scalar_string)
            .and_then(|r| r.parse().ok())
            .unwrap_or(1);
        services.push(ServiceInfo {
            name: scalar_string(key).unwrap_or_default(),
            image: text("image"),
            container_name: text("container_name"),
            networks: match get("networks") {
                Some(YamlOwned::Mapping(m)) => m.keys().filter_map(scalar_string).collect(),
                Some(YamlOwned::Sequence(s)) => s.iter().filter_map(scalar_string).collect(),
                _ => Vec::new(),
            },
            environment,
            ports: ports(get("ports")),
            replicas,
            restart: text("restart"),
            healthcheck: reader::healthcheck_test(node),
        });
    }
    let keys = |k: &str| match root.as_mapping_get(k) {
        Some(YamlOwned::Mapping(m)) => m.keys().filter_map(scalar_string).collect(),
        _ => Vec::new(),
    };
    Ok(ComposeProject {
        services,
        networks: keys("networks"),
        volumes: keys("volumes"),
        env: dotenv,
    })
}

/// Ports as short specs (`127.0.0.1:5432:5432`): v1 prints them so; v2 prints the long form
/// (`host_ip`, `published`, `target`), rebuilt here into the short one.
fn ports(node: Option<&YamlOwned>) -> Vec<String> {
    let Some(YamlOwned::Sequence(items)) = node else {
        return Vec::new();
    };
    items
        .iter()
        .filter_map(|p| {
            if let Some(s) = scalar_string(p) {
                return Some(s);
            }
            let field = |k: &str| p.as_mapping_get(k).and_then(scalar_string);
            let target = field("target")?;
            let published = field("published").unwrap_or_default();
            Some(match field("host_ip") {
                Some(ip) => format!("{ip}:{published}:{target}"),
                None if published.is_empty() => target,
                None => format!("{published}:{target}"),
            })
        })
        .collect()
}

/// The last of `files` whose `services.<service>` sets `image:` (as written, before
/// interpolation), or None when none does (a build-only service).
pub fn file_defining_image(
    files: &[PathBuf],
    service: &str,
) -> Result<Option<PathBuf>, ComposeError> {
    let mut found = None;
    for f in files {
        let text = std::fs::read_to_string(f).map_err(|source| ComposeError::Io {
            path: f.clone(),
            action: "read the compose file",
            source,
        })?;
        let root = reader::load_yaml(&text)?;
        let sets = root
            .as_mapping_get("services")
            .and_then(|s| s.as_mapping_get(service))
            .and_then(|s| s.as_mapping_get("image"))
            .is_some();
        if sets {
            found = Some(f.clone());
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v2_json_and_v1_yaml_read_the_same() {
        let json = r#"{"name":"p","services":{"postgres":{"image":"pg:16","container_name":"p-pg",
            "environment":{"A":"1","B":null},"networks":{"net":null},
            "ports":[{"mode":"ingress","host_ip":"127.0.0.1","target":5432,"published":"5433","protocol":"tcp"}]},
            "worker":{"image":"app","deploy":{"replicas":2}}},
            "volumes":{"data":{"name":"p_data"}},"networks":{"net":{"name":"p_net"}}}"#;
        let yaml = "services:\n  postgres:\n    image: pg:16\n    container_name: p-pg\n    \
            environment:\n      A: '1'\n    networks:\n      net: {}\n    ports:\n    - \
            127.0.0.1:5433:5432/tcp\n  worker:\n    image: app\n    scale: 2\n\
            volumes:\n  data: {}\nnetworks:\n  net: {}\n";
        for text in [json, yaml] {
            let p = parse_resolved(text, BTreeMap::new()).unwrap();
            let pg = p.service("postgres").unwrap();
            assert_eq!(pg.image.as_deref(), Some("pg:16"));
            assert_eq!(pg.container_name.as_deref(), Some("p-pg"));
            assert_eq!(pg.networks, ["net"]);
            assert_eq!(pg.environment.get("A").map(String::as_str), Some("1"));
            assert!(!pg.environment.contains_key("B"));
            assert!(
                pg.ports[0].starts_with("127.0.0.1:5433:5432"),
                "{:?}",
                pg.ports
            );
            assert_eq!(p.service("worker").unwrap().replicas, 2);
            assert_eq!(p.volumes, ["data"]);
        }
    }
}
