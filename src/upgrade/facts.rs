//! What the Compose project says about the stack, read without the Docker engine when the plan
//! is built, so `cutover plan` can name the containers, images, files and ports each step will
//! touch.
//!
//! The project is read through the Compose tool itself (`config`): every file of
//! `COMPOSE_FILE` (or the compose file and its override), `.env`, the shell's environment and
//! profiles resolve exactly as Compose resolves them. Without any Compose tool on the machine,
//! cutover's own reader reads the compose file alone (and says so in `compose_reader`).
//!
//! Invariant: these are expectations from the project; the steps confirm them against the
//! engine at run time (the `discover` check) and trust the engine when the two disagree.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::adapters::compose::{self, ComposeProject};
use crate::config::Config;
use crate::upgrade::tool;

/// One service as the compose file declares it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceFacts {
    pub service: String,
    /// `container_name:` if set, else Compose v2's `<project>-<service>-1`.
    pub container: String,
    pub image: Option<String>,
    /// Its networks and restart policy in the merged project (qdrant gets the same).
    pub networks: Vec<String>,
    pub restart: Option<String>,
    /// Containers `up` starts for it (`deploy.replicas` / `scale`); each one is stopped.
    pub replicas: u32,
    /// Its compose `healthcheck.test` words (empty: none).
    pub healthcheck: Vec<String>,
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
    /// The project's files in Compose's merge order (the compose file, then overrides).
    pub compose_files: Vec<PathBuf>,
    /// The file that sets the postgres service's `image:` (the last one that does): the file
    /// the upgrade edits. The compose file itself when none sets it.
    pub edit_file: PathBuf,
    /// Who resolved the project: the Compose tool or cutover's own reader (no tool on this
    /// machine: the compose file alone).
    pub compose_reader: String,
}

pub fn read(config: &Config, writers: &[String]) -> Result<StackFacts> {
    let cwd = std::env::current_dir().unwrap_or_else(|_| config.stack_dir().to_path_buf());
    let shell: std::collections::BTreeMap<String, String> = std::env::vars().collect();
    let files = compose::project_files(&config.compose_file, &cwd, &shell);
    let tool = tool::find(&config.compose_command).map_err(anyhow::Error::msg)?;
    let (project, reader) = match &tool {
        Some(t) => {
            let text = match tool::resolved_config(t, &files, config.stack_dir(), &config.project) {
                Ok(text) => text,
                // A project Compose rejects: when cutover's own reader sees why in terms of the
                // configuration (no postgres service, an unknown writer), say that instead.
                Err(e) => {
                    let own = compose::read_project(&config.compose_file)
                        .with_context(|| format!("reading {}", config.compose_file.display()))
                        .and_then(|p| from_project(&p, config, writers));
                    return Err(own.err().unwrap_or(e));
                }
            };
            let dotenv = compose::read_dotenv(&config.stack_dir().join(".env"))
                .context("reading the project's .env")?;
            let project = compose::parse_resolved(&text, dotenv)
                .with_context(|| format!("reading `{} config`", t.command_line()))?;
            // No tool name or version here: the plan reads the same under v1 and v2 (the
            // engine check logs which one ran).
            (project, "the Compose tool (`config`)".to_string())
        }
        None => {
            let project = compose::read_project(&config.compose_file)
                .with_context(|| format!("reading {}", config.compose_file.display()))?;
            (
                project,
                "cutover's reader (no Compose tool): the compose file alone".to_string(),
            )
        }
    };
    let edit_file = compose::file_defining_image(&files, &config.postgres_service)
        .context("finding the file that sets the postgres image")?
        .unwrap_or_else(|| config.compose_file.clone());
    let mut facts = from_project(&project, config, writers)?;
    facts.compose_files = files;
    facts.edit_file = edit_file;
    facts.compose_reader = reader;
    Ok(facts)
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
            networks: s.networks.clone(),
            restart: s.restart.clone(),
            replicas: s.replicas,
            healthcheck: s.healthcheck.clone(),
        })
    };
    let known = || {
        let mut names: Vec<&str> = p.services.iter().map(|s| s.name.as_str()).collect();
        names.sort();
        names.join(", ")
    };
    let postgres = facts(&config.postgres_service).with_context(|| {
        format!(
            "{} has no service {:?} (its services: {}): set postgres_service to the database's \
             service name",
            config.compose_file.display(),
            config.postgres_service,
            known()
        )
    })?;
    // An extra writer is named on purpose: a typo there would leave a writer running through
    // the backup, so it refuses. The default backend/worker may be absent (skipped, reported).
    if let Some(typo) = config
        .extra_writer_services
        .iter()
        .find(|w| p.service(w).is_none())
    {
        anyhow::bail!(
            "extra_writer_services names {typo:?}, which {} does not declare (its services: \
             {}): fix the name or remove it",
            config.compose_file.display(),
            known()
        );
    }
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
        compose_files: vec![config.compose_file.clone()],
        edit_file: config.compose_file.clone(),
        compose_reader: String::new(),
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
