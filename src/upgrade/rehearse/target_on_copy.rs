//! When the side run's pre-flight refuses, the rehearsal goes one step further than a real run
//! ever may: it starts the target image on the copy and records what the server itself says.
//!
//! Why: the pre-flight's reason is cutover's reading of the cluster ("en_US.utf8 is not in the
//! target image"); the operator deciding whether to trust it wants PostgreSQL's own words
//! (`invalid value for parameter "lc_messages"`, `database locale is incompatible with
//! operating system`). On the live volume that start would already be damage (a root
//! entrypoint chowns the data directory); on the copy it costs nothing, and the teardown
//! removes it with the rest of the side stack.
//!
//! How: the side compose file is rewritten with the target image and Compose recreates the
//! one service on the same volume, network and names; then, within the ready timeout, either
//! the container exits, or a connection is refused by the server, or one is accepted. An
//! accepted one is not the end: a database whose own locale the target lacks refuses its
//! connections while the others serve, so every database that takes connections is opened,
//! and each refusal is kept in the server's words.

use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use serde::{Deserialize, Serialize};

use super::side::{PostgresShape, SideStack};
use crate::adapters::docker::DockerClient;
use crate::adapters::postgres::{self, PgError};
use crate::upgrade::env::UpgradeEnv;
use tokio_postgres::error::SqlState;

/// At most this many of the server's lines are kept: the first FATAL and its context.
const MAX_LINES: usize = 8;

/// What the target server did on the copy.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct TargetOnCopy {
    pub image: String,
    /// It accepted a connection to every database: the refusal was cutover's caution, not
    /// the server's.
    pub accepted: bool,
    /// Databases that refused a connection while the server ran, each with what it said.
    #[serde(default)]
    pub refused_databases: Vec<String>,
    /// The server's own lines (its log's FATAL/ERROR lines, or a refused login's message),
    /// passed through `secrets::hide`.
    pub server_said: Vec<String>,
}

impl TargetOnCopy {
    /// One line for the outcome and the summary.
    pub fn line(&self) -> String {
        if self.accepted {
            format!(
                "{} started on the copy and accepted a connection to every database",
                self.image
            )
        } else if !self.refused_databases.is_empty() {
            format!(
                "{} started on the copy, but the server refused {}",
                self.image,
                self.refused_databases.join(" / ")
            )
        } else if self.server_said.is_empty() {
            format!(
                "{} did not accept a connection on the copy, and its log says nothing",
                self.image
            )
        } else {
            format!(
                "{} on the copy, the server said: {}",
                self.image,
                self.server_said.join(" / ")
            )
        }
    }
}

/// Recreates the side postgres on `image` and watches what the server does, for `within`.
pub async fn try_target(
    docker: &DockerClient,
    tool: &[String],
    side: &SideStack,
    shape: &PostgresShape,
    side_env: &UpgradeEnv,
    image: &str,
    within: Duration,
) -> Result<TargetOnCopy> {
    // Compose would pull an absent image; the operator's pull policy is the pre-flight's to
    // apply, and an absent target is a refusal of its own.
    if docker.try_inspect_image(image).await?.is_none() {
        bail!("{image} is not on the engine, so it was not started on the copy");
    }
    side.write(&PostgresShape {
        image: image.to_string(),
        ..shape.clone()
    })?;
    let file = side.compose_file();
    crate::upgrade::compose_up::compose(
        tool,
        std::slice::from_ref(&file),
        &side.project,
        &["up", "-d", "--force-recreate", &shape.service],
    )
    .await?;
    let name = side.postgres_container();
    let mut found = TargetOnCopy {
        image: image.to_string(),
        ..Default::default()
    };
    let deadline = Instant::now() + within;
    let mut refused = None;
    while Instant::now() < deadline {
        let state = docker.inspect(&name).await?.state.unwrap_or_default();
        if state.running != Some(true) && state.restarting != Some(true) {
            break;
        }
        // The address is read each time: a recreated container may have a new one.
        if let Ok(target) = side_env.pg_target().await {
            match postgres::connect(&target).await {
                Ok(client) => {
                    found.refused_databases = refusals(&client, &target).await?;
                    found.accepted = found.refused_databases.is_empty();
                    break;
                }
                // Still replaying WAL: not an answer yet.
                Err(PgError::Connect { source, .. })
                    if source
                        .as_db_error()
                        .is_some_and(|d| d.code() == &SqlState::CANNOT_CONNECT_NOW) => {}
                Err(PgError::Connect { source, .. } | PgError::Auth { source, .. })
                    if source.as_db_error().is_some() =>
                {
                    let db = source.as_db_error().expect("checked");
                    refused = Some(format!("{}:  {}", db.severity(), db.message()));
                    break;
                }
                Err(_) => {}
            }
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let logged = docker.log_lines(&name, None).await.unwrap_or_default();
    found.server_said = server_lines(logged.iter().map(|l| l.text.as_str()));
    if found.server_said.is_empty()
        && let Some(r) = refused
    {
        found.server_said.push(crate::secrets::hide(&r));
    }
    Ok(found)
}

/// Opens every other database that takes connections; what each refusing one said.
async fn refusals(
    client: &tokio_postgres::Client,
    target: &postgres::PgTarget,
) -> Result<Vec<String>> {
    let names: Vec<String> = client
        .query(
            "SELECT datname FROM pg_database WHERE datallowconn ORDER BY datname",
            &[],
        )
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect();
    let mut refused = Vec::new();
    for db in names
        .into_iter()
        .filter(|d| *d != target.credentials.database)
    {
        let mut other = target.clone();
        other.credentials.database = db.clone();
        match postgres::connect(&other).await {
            Ok(_) => {}
            Err(PgError::Connect { source, .. } | PgError::Auth { source, .. })
                if source.as_db_error().is_some() =>
            {
                let e = source.as_db_error().expect("checked");
                let mut said = format!("database {db}: {}:  {}", e.severity(), e.message());
                if let Some(d) = e.detail() {
                    said.push_str(&format!(" DETAIL:  {d}"));
                }
                refused.push(crate::secrets::hide(&said));
            }
            Err(e) => refused.push(format!("database {db}: {e}")),
        }
    }
    Ok(refused)
}

/// The server's own complaints among its log lines: errors and worse, with their DETAIL and
/// HINT, and the LOG line a bad setting gets before the FATAL it causes.
fn server_lines<'a>(lines: impl Iterator<Item = &'a str>) -> Vec<String> {
    const MARKS: [&str; 6] = [
        "FATAL:",
        "PANIC:",
        "ERROR:",
        "DETAIL:",
        "HINT:",
        "invalid value for parameter",
    ];
    lines
        .filter(|l| MARKS.iter().any(|m| l.contains(m)))
        .map(|l| crate::secrets::hide(without_prefix(l).trim()))
        .take(MAX_LINES)
        .collect()
}

/// The line from its severity on: the log prefix (time, pid) differs with every start and
/// says nothing the operator needs.
fn without_prefix(line: &str) -> &str {
    const SEVERITIES: [&str; 7] = [
        "LOG:", "WARNING:", "ERROR:", "FATAL:", "PANIC:", "DETAIL:", "HINT:",
    ];
    let at = SEVERITIES.iter().filter_map(|s| line.find(s)).min();
    at.map_or(line, |i| &line[i..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_servers_complaints_and_drops_its_chatter() {
        let log = [
            "2026-12-05 03:40:00.000 UTC [1] LOG:  starting PostgreSQL 16.4",
            "2026-12-05 03:40:00.001 UTC [1] LOG:  invalid value for parameter \"lc_messages\": \"en_US.utf8\"",
            "2026-12-05 03:40:00.002 UTC [1] FATAL:  configuration file \"/var/lib/postgresql/data/postgresql.conf\" contains errors",
            "PostgreSQL Database directory appears to contain a database; Skipping initialization",
        ];
        let said = server_lines(log.into_iter());
        assert_eq!(said.len(), 2, "{said:?}");
        assert_eq!(
            said[0],
            "LOG:  invalid value for parameter \"lc_messages\": \"en_US.utf8\""
        );
        assert!(said[1].starts_with("FATAL:  configuration file"));
    }
}
