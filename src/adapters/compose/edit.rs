//! The pgvector upgrade's edit of a compose file, as a pure text-to-text function: set the
//! postgres service's `image`, add a `qdrant` service (image, storage volume, ports, healthcheck,
//! the postgres service's networks and restart policy) right after it, and add the top-level
//! volume. yaml-edit edits the lossless tree in place, so comments, key order and quoting of
//! everything else are kept.
//!
//! Idempotent: each part is applied only if missing; a file that already has all of them comes
//! back byte-identical with `changed == false`. An existing `qdrant` service is never modified.
use std::str::FromStr;

use yaml_edit::{Document, Mapping, Sequence};

use super::{ComposeError, reader};

/// A host port published for a container port, on one host address: loopback unless the
/// operator asks for another (Compose's bare `HOST:CONTAINER` would publish on every
/// interface, 0.0.0.0, and Qdrant has no authentication by default).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PortMapping {
    pub host: u16,
    pub container: u16,
    #[serde(default = "loopback")]
    pub host_ip: std::net::IpAddr,
}

/// 127.0.0.1: the backend reaches Qdrant over the stack's network, the host only locally.
pub fn loopback() -> std::net::IpAddr {
    std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST)
}

impl PortMapping {
    /// As the compose file writes it: `IP:HOST:CONTAINER` (an IPv6 address in brackets).
    pub fn compose_text(&self) -> String {
        match self.host_ip {
            std::net::IpAddr::V6(ip) => format!("[{ip}]:{}:{}", self.host, self.container),
            ip => format!("{ip}:{}:{}", self.host, self.container),
        }
    }
}

/// What to write. `qdrant_ports` empty means Qdrant is not published on the host (it is still
/// reachable on the compose network).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PgvectorEdit {
    pub postgres_service: String,
    pub postgres_image: String,
    pub qdrant_service: String,
    pub qdrant_image: String,
    pub qdrant_volume: String,
    pub qdrant_ports: Vec<PortMapping>,
    /// The healthcheck `test` array. The default needs only bash (the Qdrant image has no curl):
    /// it asks `/readyz` over a raw TCP connection.
    pub qdrant_healthcheck: Vec<String>,
    /// postgres's networks and restart policy in the merged project, for qdrant when the edited
    /// file's postgres does not spell them out (an override that only sets the image).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub postgres_networks: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub postgres_restart: Option<String>,
}

pub const QDRANT_HTTP: u16 = 6333;
pub const QDRANT_GRPC: u16 = 6334;

impl PgvectorEdit {
    /// The upgrade as the guide describes it, with Qdrant on 6333/6334.
    pub fn new(postgres_image: impl Into<String>, qdrant_image: impl Into<String>) -> Self {
        PgvectorEdit {
            postgres_service: "postgres".into(),
            postgres_image: postgres_image.into(),
            qdrant_service: "qdrant".into(),
            qdrant_image: qdrant_image.into(),
            qdrant_volume: "qdrant_data".into(),
            qdrant_ports: choose_qdrant_ports(&[]),
            qdrant_healthcheck: vec![
                "CMD".into(),
                "bash".into(),
                "-c".into(),
                "exec 3<>/dev/tcp/127.0.0.1/6333 && printf 'GET /readyz HTTP/1.0\\r\\n\\r\\n' >&3 && head -n1 <&3 | grep -q ' 200 '".into(),
            ],
            postgres_networks: Vec::new(),
            postgres_restart: None,
        }
    }
}

/// Qdrant's default host ports if none of them is in `taken`; otherwise none (unpublished):
/// picking some other port is the operator's call, made by passing explicit mappings.
pub fn choose_qdrant_ports(taken: &[u16]) -> Vec<PortMapping> {
    let defaults = [QDRANT_HTTP, QDRANT_GRPC];
    if defaults.iter().any(|p| taken.contains(p)) {
        return Vec::new();
    }
    defaults
        .iter()
        .map(|&p| PortMapping {
            host: p,
            container: p,
            host_ip: loopback(),
        })
        .collect()
}

/// The edited text and a readable list of what changed (empty and `changed == false` when the
/// file already had the edit).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EditedText {
    pub text: String,
    pub changed: bool,
    pub changes: Vec<String>,
}

/// Applies `edit` to compose `text`. Fails, naming the problem, when the file is not YAML, has
/// no `services:` mapping or no postgres service.
pub fn edit_compose_text(text: &str, edit: &PgvectorEdit) -> Result<EditedText, ComposeError> {
    // The strict reader first: it reports syntax errors with line and column, which the
    // error-tolerant editing parser would paper over.
    let strict = reader::load_yaml(text)?;
    let doc = Document::from_str(text).map_err(|e| ComposeError::Shape {
        what: format!("cannot be edited losslessly ({e})"),
    })?;
    let root = doc.as_mapping().ok_or_else(|| ComposeError::Shape {
        what: "top level is not a mapping".into(),
    })?;
    let services = root
        .get_mapping("services")
        .ok_or_else(|| ComposeError::Shape {
            what: "top level has no `services:` mapping".into(),
        })?;
    let postgres = services
        .get_mapping(&edit.postgres_service)
        .ok_or_else(|| ComposeError::MissingService {
            name: edit.postgres_service.clone(),
            known: service_names(&strict).join(", "),
        })?;

    let mut changes = Vec::new();
    let current_image = strict
        .as_mapping_get("services")
        .and_then(|s| s.as_mapping_get(&edit.postgres_service))
        .and_then(|s| s.as_mapping_get("image"))
        .and_then(reader::scalar_string);
    if current_image.as_deref() != Some(edit.postgres_image.as_str()) {
        postgres.set("image", edit.postgres_image.as_str());
        changes.push(format!(
            "service {}: image {} -> {}",
            edit.postgres_service,
            current_image.as_deref().unwrap_or("(none)"),
            edit.postgres_image
        ));
    }

    if services.get(&edit.qdrant_service).is_none() {
        let qdrant = qdrant_service(edit, &postgres)?;
        services.insert_after(&edit.postgres_service, &edit.qdrant_service, &qdrant);
        changes.push(format!(
            "service {} added ({})",
            edit.qdrant_service, edit.qdrant_image
        ));
    }

    match root.get_mapping("volumes") {
        Some(volumes) if volumes.get(&edit.qdrant_volume).is_some() => {}
        Some(volumes) => {
            volumes.set(&edit.qdrant_volume, empty_mapping()?);
            changes.push(format!("volume {} added", edit.qdrant_volume));
        }
        None => {
            let volumes = parse_mapping(&format!("{}: {{}}\n", "placeholder"))?;
            volumes.rename_key("placeholder", edit.qdrant_volume.as_str());
            root.set("volumes", &volumes);
            changes.push(format!("volume {} added", edit.qdrant_volume));
        }
    }

    if changes.is_empty() {
        return Ok(EditedText {
            text: text.to_string(),
            changed: false,
            changes,
        });
    }
    Ok(EditedText {
        text: doc.to_string(),
        changed: true,
        changes,
    })
}

/// Builds the qdrant service. The fixed parts are a template; everything that comes from the
/// caller or the file (image, networks, restart policy) goes through yaml-edit's setters so it
/// is quoted as YAML needs.
fn qdrant_service(edit: &PgvectorEdit, postgres: &Mapping) -> Result<Mapping, ComposeError> {
    let restart = postgres
        .get("restart")
        .and_then(|n| n.as_scalar().map(|s| s.as_string()))
        .or_else(|| edit.postgres_restart.clone());
    let mut template = String::from("image: placeholder\n");
    if restart.is_some() {
        template.push_str("restart: placeholder\n");
    }
    template.push_str("volumes:\n  - placeholder\n");
    if !edit.qdrant_ports.is_empty() {
        template.push_str("ports:\n");
        for p in &edit.qdrant_ports {
            template.push_str(&format!("  - \"{}\"\n", p.compose_text()));
        }
    }
    template.push_str(
        "healthcheck:\n  test: []\n  interval: 10s\n  timeout: 5s\n  retries: 5\n  start_period: 10s\n",
    );
    let service = parse_mapping(&template)?;
    service.set("image", edit.qdrant_image.as_str());
    if let Some(restart) = restart {
        service.set("restart", restart.as_str());
    }
    if let Some(vols) = service.get_sequence("volumes") {
        vols.set(
            0,
            format!("{}:/qdrant/storage", edit.qdrant_volume).as_str(),
        );
    }
    if let Some(hc) = service.get_mapping("healthcheck") {
        let test = Sequence::new_flow();
        for part in &edit.qdrant_healthcheck {
            test.push(part.as_str());
        }
        hc.set("test", &test);
    }
    // Same networks as postgres, so the backend reaches both the same way. A mapping form
    // (with aliases) is reduced to the names: the aliases belong to postgres. When this file's
    // postgres names none (an override), the merged project's are used.
    let networks = postgres.get("networks");
    let mut names: Vec<String> = if let Some(seq) = networks.as_ref().and_then(|n| n.as_sequence())
    {
        seq.values().filter_map(|v| scalar_text(&v)).collect()
    } else if let Some(map) = networks.as_ref().and_then(|n| n.as_mapping()) {
        map.keys().filter_map(|k| scalar_text(&k)).collect()
    } else {
        Vec::new()
    };
    if networks.is_none() {
        names = edit.postgres_networks.clone();
    }
    if !names.is_empty() {
        let seq = parse_sequence(names.len())?;
        for (i, n) in names.iter().enumerate() {
            seq.set(i, n.as_str());
        }
        service.set("networks", &seq);
    }
    Ok(service)
}

fn scalar_text(node: &yaml_edit::YamlNode) -> Option<String> {
    node.as_scalar().map(|s| s.as_string())
}

fn parse_mapping(text: &str) -> Result<Mapping, ComposeError> {
    Document::from_str(text)
        .ok()
        .and_then(|d| d.as_mapping())
        .ok_or_else(|| ComposeError::Shape {
            what: "template did not parse (a bug in cutover)".into(),
        })
}

fn parse_sequence(len: usize) -> Result<Sequence, ComposeError> {
    let text = "list:\n".to_string() + &"  - x\n".repeat(len);
    parse_mapping(&text)?
        .get_sequence("list")
        .ok_or_else(|| ComposeError::Shape {
            what: "template did not parse (a bug in cutover)".into(),
        })
}

fn empty_mapping() -> Result<Mapping, ComposeError> {
    Ok(Mapping::new_flow())
}

fn service_names(root: &saphyr::YamlOwned) -> Vec<String> {
    root.as_mapping_get("services")
        .and_then(|s| s.as_mapping())
        .map(|m| m.keys().filter_map(reader::scalar_string).collect())
        .unwrap_or_default()
}
