//! What the compose file says about the stack, read without Docker when the plan is built, so
//! `cutover plan` can name the containers, images, files and ports each step will touch.
//!
//! Invariant: these are expectations from the file; the steps confirm them against the engine
//! at run time (the `discover` check) and trust the engine when the two disagree.

use std::path::Path;

use anyhow::{Context, Result};

use crate::adapters::compose::{self, ComposeProject};
use crate::config::Config;

/// One service as the compose file declares it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceFacts {
    pub service: String,
    /// `container_name:` if set, else Compose v2's `<project>-<service>-1`.
    pub container: String,
    pub image: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StackFacts {
    pub postgres: ServiceFacts,
    /// Writer services the file declares, in stop order.
    pub writers: Vec<ServiceFacts>,
    /// Configured writer services the file does not declare (e.g. a commented-out worker).
    pub absent_writers: Vec<String>,
    /// The file already has a qdrant service (the edit leaves it alone).
    pub has_qdrant: bool,
    /// Host ports the file already publishes, for choosing qdrant's.
    pub published_ports: Vec<u16>,
    /// The first named volume (the database's data volume in privexbot's file).
    pub postgres_volume: Option<String>,
}

pub fn read(config: &Config, writers: &[String]) -> Result<StackFacts> {
    let project = compose::read_project(&config.compose_file)
        .with_context(|| format!("reading {}", config.compose_file.display()))?;
    from_project(&project, config, writers)
}

fn from_project(p: &ComposeProject, config: &Config, writers: &[String]) -> Result<StackFacts> {
    let facts = |name: &str| {
        p.service(name).map(|s| ServiceFacts {
            service: name.to_string(),
            container: s
                .container_name
                .clone()
                .unwrap_or_else(|| format!("{}-{name}-1", config.project)),
            image: s.image.clone(),
        })
    };
    let postgres = facts(&config.postgres_service).with_context(|| {
        format!(
            "{} has no service {:?}: set postgres_service to the database's service name",
            config.compose_file.display(),
            config.postgres_service
        )
    })?;
    let mut present = Vec::new();
    let mut absent = Vec::new();
    for w in writers {
        match facts(w) {
            Some(f) => present.push(f),
            None => absent.push(w.clone()),
        }
    }
    let published_ports = p
        .services
        .iter()
        .flat_map(|s| s.ports.iter())
        .filter_map(|spec| host_port(spec))
        .collect();
    Ok(StackFacts {
        postgres,
        writers: present,
        absent_writers: absent,
        has_qdrant: p.service("qdrant").is_some(),
        published_ports,
        postgres_volume: p.volumes.first().cloned(),
    })
}

/// The host port of a short port spec (`"5432:5432"`, `"127.0.0.1:8000:8000"`), if fixed.
fn host_port(spec: &str) -> Option<u16> {
    let spec = spec.split('/').next()?;
    let parts: Vec<&str> = spec.rsplitn(3, ':').collect();
    match parts.as_slice() {
        [_container, host, ..] => host.parse().ok(),
        _ => None,
    }
}

/// Host ports among `wanted` that something on this machine already listens on.
pub fn busy_host_ports(wanted: &[u16]) -> Vec<u16> {
    wanted
        .iter()
        .copied()
        .filter(|p| std::net::TcpListener::bind(("0.0.0.0", *p)).is_err())
        .collect()
}

pub fn display(p: &Path) -> String {
    p.display().to_string()
}

#[cfg(test)]
mod tests {
    use super::host_port;

    #[test]
    fn host_ports_of_short_specs() {
        assert_eq!(host_port("5432:5432"), Some(5432));
        assert_eq!(host_port("127.0.0.1:8000:8000"), Some(8000));
        assert_eq!(host_port("127.0.0.1::8000"), None);
        assert_eq!(host_port("8000"), None);
        assert_eq!(host_port("6333:6333/tcp"), Some(6333));
    }
}
