//! The upgrade's shared environment: the configuration the steps need, the facts read from the
//! compose file when the plan was built, and one lazily connected Docker client.
//!
//! Invariants:
//! - Building it needs no Docker: `cutover plan` works on a machine with no engine.
//! - It holds no secret beyond `db_password` from the configuration, which is never serialized
//!   or logged; database credentials are otherwise re-read from the container at each use.
//! - Every endpoint comes from the engine (published port, else the container's address on its
//!   network), never a guessed localhost.

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use tokio::sync::OnceCell;
use tokio_postgres::Client;

use super::facts::StackFacts;
use super::setting_files;
use crate::adapters::backup;
use crate::adapters::compose::PortMapping;
use crate::adapters::docker::{DockerClient, PullPolicy};
use crate::adapters::postgres::{self, PgCredentials, PgTarget};
use crate::config::Config;

pub struct UpgradeEnv {
    pub project: String,
    pub compose_file: PathBuf,
    /// `compose_command`: `auto`, `v1`, `v2` or the command words (see `crate::upgrade::tool`).
    pub compose_command: String,
    pub stack_dir: PathBuf,
    pub postgres_service: String,
    pub backend_service: String,
    pub worker_service: String,
    pub extra_writers: Vec<String>,
    pub target_image: String,
    pub qdrant_image: String,
    pub pull: PullPolicy,
    pub migrations_dir: Option<PathBuf>,
    pub migrations_command: Option<String>,
    pub migrations_down_command: Option<String>,
    pub collation_policy: String,
    /// The fast rollback's check re-reads every row's contents, not only the row counts.
    pub rollback_check_contents: bool,
    /// `backup_kind = physical`: a base backup before the window, the WAL inside it.
    pub physical_backup: bool,
    /// `disaster_restore = volume`: `rollback --disaster` copies the physical backup's files
    /// in (`crate::upgrade::rollback::volume_swap`) instead of restoring the dump.
    pub disaster_from_volume: bool,
    pub qdrant_ports: Vec<PortMapping>,
    pub ready_timeout: Duration,
    pub stop_timeout: Duration,
    /// The backend's health endpoint: container port, path, and the JSON `status` it must
    /// answer (None: any 2xx), from `backend_health_url`/`backend_health_status`.
    pub backend_health: BackendHealthCheck,
    pub facts: StackFacts,
    db_password: Option<String>,
    /// `database`/`db_user` from the configuration: override the container's own when set.
    database: Option<String>,
    db_user: Option<String>,
    docker: OnceCell<DockerClient>,
    /// Fingerprint snapshots opened in the window, read after it (`crate::upgrade::held`).
    pub held: crate::upgrade::held::HeldSnapshots,
}

/// Where and how the application's health is read.
#[derive(Debug, Clone)]
pub struct BackendHealthCheck {
    pub port: u16,
    pub path: String,
    pub status: Option<String>,
    /// Where port and path came from: the configuration, the compose healthcheck, the default.
    pub source: &'static str,
}

impl BackendHealthCheck {
    fn new(config: &Config, facts: &StackFacts) -> Self {
        let status = Some(config.backend_health_status.clone()).filter(|s| s != "any");
        let healthcheck = facts
            .writers
            .iter()
            .find(|w| w.service == config.backend_service)
            .and_then(|w| url_in_healthcheck(&w.healthcheck));
        // The configured URL was validated when the configuration was loaded.
        let (port, path, source) = match config
            .backend_health_url
            .as_deref()
            .and_then(|u| crate::config::parse_health_url(u).ok())
        {
            Some((port, path)) => (port, path, "backend_health_url"),
            None => match healthcheck {
                Some((port, path)) => (port, path, "the backend's compose healthcheck"),
                None => (8000, "/health".into(), "the default"),
            },
        };
        BackendHealthCheck {
            port,
            path,
            status,
            source,
        }
    }
}

/// Port and path of the first `http://localhost…` URL in a healthcheck's words: the app's own
/// statement of where its health is read, inside its container.
pub fn url_in_healthcheck(words: &[String]) -> Option<(u16, String)> {
    words
        .iter()
        .flat_map(|w| w.split_whitespace())
        .map(|w| w.trim_matches(|c| c == '"' || c == '\''))
        .filter(|w| w.starts_with("http://"))
        .filter_map(|w| reqwest::Url::parse(w).ok())
        .find(|u| {
            matches!(
                u.host_str(),
                Some("localhost" | "127.0.0.1" | "0.0.0.0" | "[::1]")
            )
        })
        .and_then(|u| crate::config::parse_health_url(u.as_str()).ok())
}

impl UpgradeEnv {
    pub fn new(config: &Config, facts: StackFacts, qdrant_ports: Vec<PortMapping>) -> Self {
        UpgradeEnv {
            project: config.project.clone(),
            compose_file: config.compose_file.clone(),
            compose_command: config.compose_command.clone(),
            stack_dir: config.stack_dir().to_path_buf(),
            postgres_service: config.postgres_service.clone(),
            backend_service: config.backend_service.clone(),
            worker_service: config.worker_service.clone(),
            extra_writers: config.extra_writer_services.clone(),
            target_image: config.target_image.clone(),
            qdrant_image: config.qdrant_image.clone(),
            pull: config.pull_policy,
            migrations_dir: config.migrations_dir.clone(),
            migrations_command: config.migrations_command.clone(),
            migrations_down_command: config.migrations_down_command.clone(),
            collation_policy: config.collation_policy.clone(),
            rollback_check_contents: config.rollback_check == "contents",
            physical_backup: config.backup_kind == "physical",
            disaster_from_volume: config.disaster_restore == "volume",
            qdrant_ports,
            ready_timeout: Duration::from_secs(config.ready_timeout_secs),
            stop_timeout: Duration::from_secs(config.stop_timeout_secs),
            backend_health: BackendHealthCheck::new(config, &facts),
            facts,
            db_password: config.db_password.clone(),
            database: config.database.clone(),
            db_user: config.db_user.clone(),
            docker: OnceCell::new(),
            held: Default::default(),
        }
    }

    /// The writer services in stop order: backend first (users see maintenance at once), then
    /// the worker, then the configured extras.
    pub fn writer_services(&self) -> Vec<String> {
        let mut v = vec![self.backend_service.clone(), self.worker_service.clone()];
        v.extend(self.extra_writers.iter().cloned());
        v
    }

    /// The engine, connected on first use (API version negotiated, pinged).
    pub async fn docker(&self) -> Result<&DockerClient> {
        self.docker
            .get_or_try_init(|| async { DockerClient::connect().await })
            .await
            .context("connecting to the Docker engine")
    }

    /// The container currently holding `service`'s name in this project, if any.
    pub async fn service_container(&self, service: &str) -> Result<Option<String>> {
        let found = self
            .docker()
            .await?
            .find_service(&self.project, service)
            .await
            .with_context(|| {
                format!("looking for service {service} of project {}", self.project)
            })?;
        Ok(found.into_iter().next().map(|c| c.name))
    }

    /// The postgres container's name (it keeps its name across the recreate).
    pub async fn postgres_container(&self) -> Result<String> {
        match self.service_container(&self.postgres_service).await? {
            Some(n) => Ok(n),
            None => bail!(
                "no container of service {} in project {}: is the stack up, and are \
                 `project`/`postgres_service` right (see `cutover config --print`)?",
                self.postgres_service,
                self.project
            ),
        }
    }

    /// Credentials as the container was started with them, its `*_FILE` settings read inside
    /// it (`setting_files`); `db_password`, `database` and `db_user` from the configuration win
    /// when set (a password kept elsewhere, a cluster whose application database is not
    /// `POSTGRES_DB`).
    pub async fn credentials(&self, container: &str) -> Result<PgCredentials> {
        let docker = self.docker().await?;
        let c = docker.inspect(container).await?;
        let env = c.config.and_then(|c| c.env).unwrap_or_default();
        let configured: Vec<&str> = [
            (self.db_password.is_some(), "POSTGRES_PASSWORD"),
            (self.db_user.is_some(), "POSTGRES_USER"),
            (self.database.is_some(), "POSTGRES_DB"),
        ]
        .into_iter()
        .filter_map(|(set, name)| set.then_some(name))
        .collect();
        let env = setting_files::inline(docker, container, env, &configured).await?;
        let mut creds = PgCredentials::from_env_list(&env);
        if self.db_password.is_some() {
            creds.password = self.db_password.clone();
        }
        if let Some(db) = &self.database {
            creds.database = db.clone();
        }
        if let Some(user) = &self.db_user {
            creds.user = user.clone();
        }
        if creds.password.is_none() {
            bail!(
                "no database password for {container}: it uses {} inside the container; set \
                 db_password in cutover.toml or CUTOVER_DB_PASSWORD",
                creds
                    .password_file
                    .as_deref()
                    .unwrap_or("no POSTGRES_PASSWORD")
            );
        }
        Ok(creds)
    }

    /// Where the database can be reached from here, with credentials.
    pub async fn pg_target(&self) -> Result<PgTarget> {
        let container = self.postgres_container().await?;
        let ep = self
            .docker()
            .await?
            .resolve_endpoint(&container, 5432)
            .await?;
        let creds = self.credentials(&container).await?;
        Ok(PgTarget::new(
            ep.addr.ip().to_string(),
            ep.addr.port(),
            creds,
        ))
    }

    pub async fn connect(&self) -> Result<Client> {
        let target = self.pg_target().await?;
        Ok(postgres::connect(&target).await?)
    }

    /// The target for `pg_dump`/`pg_restore` run inside the postgres container.
    pub async fn backup_target(&self) -> Result<backup::PgTarget> {
        let container = self.postgres_container().await?;
        let creds = self.credentials(&container).await?;
        Ok(backup::PgTarget {
            container,
            user: creds.user,
            database: creds.database,
            password: creds.password,
        })
    }

    /// Where the physical backup of run `run_dir` goes, and how its helper reaches the live
    /// server (its network namespace, its image, the container's own credentials).
    pub async fn physical_target(
        &self,
        run_dir: &std::path::Path,
    ) -> Result<crate::adapters::physical_backup::PhysicalTarget> {
        let container = self.postgres_container().await?;
        let creds = self.credentials(&container).await?;
        let inspected = self.docker().await?.inspect(&container).await?;
        let image = inspected.image.clone().unwrap_or_default();
        let port = inspected
            .config
            .and_then(|c| c.env)
            .unwrap_or_default()
            .iter()
            .find_map(|e| e.strip_prefix("PGPORT=").and_then(|p| p.parse().ok()))
            .unwrap_or(5432);
        let run = crate::upgrade::outputs::run_key(run_dir);
        Ok(crate::adapters::physical_backup::PhysicalTarget {
            container,
            image,
            port,
            user: creds.user,
            password: creds.password,
            project: self.project.clone(),
            volume_key: format!("cutover-backup-{run}"),
            slot: format!("cutover_{run}"),
            // Not Compose's project label: Compose would count a helper as an orphan.
            labels: HashMap::from([("io.cutover.backup".to_string(), self.project.clone())]),
        })
    }

    /// Address → container name, for every container of the project on any network, so a
    /// `pg_stat_activity` client address can be named.
    pub async fn address_book(&self) -> Result<HashMap<IpAddr, String>> {
        let docker = self.docker().await?;
        let mut book = HashMap::new();
        for c in docker.find_stack(&self.project).await? {
            let Some(inspect) = docker.try_inspect(&c.id).await? else {
                continue;
            };
            let nets = inspect
                .network_settings
                .and_then(|n| n.networks)
                .unwrap_or_default();
            for (_, ep) in nets {
                if let Some(ip) = ep.ip_address.and_then(|a| a.parse().ok()) {
                    book.insert(ip, c.name.clone());
                }
            }
        }
        Ok(book)
    }
}

#[cfg(test)]
mod tests {
    use super::url_in_healthcheck;

    fn words(w: &[&str]) -> Vec<String> {
        w.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn the_health_url_is_read_from_the_apps_own_healthcheck() {
        assert_eq!(
            url_in_healthcheck(&words(&[
                "CMD",
                "curl",
                "-f",
                "http://localhost:8080/api/ready"
            ])),
            Some((8080, "/api/ready".into()))
        );
        // CMD-SHELL: one string, quoted URL, default port.
        assert_eq!(
            url_in_healthcheck(&words(&[
                "CMD-SHELL",
                "wget -qO- 'http://127.0.0.1/healthz?full=1' || exit 1"
            ])),
            Some((80, "/healthz?full=1".into()))
        );
        // Another host is not the app's own endpoint; no URL at all gives nothing.
        assert_eq!(
            url_in_healthcheck(&words(&["CMD", "curl", "http://qdrant:6333/readyz"])),
            None
        );
        assert_eq!(url_in_healthcheck(&words(&["CMD", "pg_isready"])), None);
    }
}
