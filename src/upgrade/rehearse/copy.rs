//! The rehearsal's copy of the live cluster: physical when the live server allows it, else
//! logical; the rehearsal says which, and why, in words (`Rehearsal::copy_kind`).
//!
//! - Physical, preferred: `pg_basebackup -Ft -X fetch` inside the live container over its local
//!   socket, unpacked as it streams into the side container's volume
//!   (`DockerClient::pipe_tar`): the same files, settings and on-disk index order.
//! - Logical, the fallback: when the pre-check on the live server (`Replication`) says no
//!   replication connection can be had (the role has neither REPLICATION nor SUPERUSER,
//!   `max_wal_senders = 0`, `wal_level = minimal`), or when pg_basebackup fails all the same
//!   (pg_hba.conf, ...: its own words, secrets hidden). The side postgres starts on the OLD
//!   image with an empty volume and its entrypoint initialises it from the live container's
//!   `POSTGRES_*`, `LANG` and `LC_*` (the side compose file carries them), so the cluster's
//!   locale and encoding are the live ones; then the roles (`pg_dumpall --globals-only` into
//!   psql, where only "role ... already exists" is tolerated: the entrypoint made the bootstrap
//!   role) and every database that takes connections, templates aside (`pg_dump -Fc` into
//!   `pg_restore --create`, which recreates each with its own locale, owner and settings),
//!   exec to exec (`DockerClient::pipe_exec`); last, the server's own configuration files
//!   (`SETTINGS`, as a physical copy would carry them: the side run must meet the live
//!   server's `max_wal_senders = 0` or pg_hba.conf, or its backup is not the real run's) and
//!   a restart of the copy to read them.
//!
//! Invariants: the live server is only read, by sessions that end with the copy; no byte of it
//! is written on cutover's machine; all the copy creates is the side project's (its container
//! and volume), so the side stack's teardown removes it. A physical attempt that failed may
//! have unpacked part of a tar into the copy's volume: the side project is taken down with
//! its volumes and created again before the logical copy starts.

use std::time::Duration;

use anyhow::{Context, Result, bail};
use tokio_postgres::Client;

use super::side::{PostgresShape, SideStack};
use crate::adapters::docker::{DockerClient, ExecSpec, Readiness};
use crate::adapters::postgres::{self, PgCredentials, PgTarget};
use crate::upgrade::compose_up::compose;
use crate::upgrade::env::UpgradeEnv;

/// The configuration files of a cluster, in its data directory (as initdb writes them and the
/// official images keep them).
const SETTINGS: [&str; 4] = [
    "postgresql.conf",
    "postgresql.auto.conf",
    "pg_hba.conf",
    "pg_ident.conf",
];

const PHYSICAL: &str = "physical (pg_basebackup inside the live container over its local \
                        socket: the same files, settings and on-disk index order, nothing \
                        stopped)";

/// Whether the live server can serve a replication connection to cutover's role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replication {
    pub user: String,
    /// The role has REPLICATION or SUPERUSER.
    pub may_replicate: bool,
    pub max_wal_senders: i64,
    pub wal_level: String,
}

impl Replication {
    async fn read(client: &Client) -> Result<Self> {
        let row = client
            .query_one(
                "SELECT current_user::text, r.rolreplication OR r.rolsuper, \
                        current_setting('max_wal_senders')::bigint, current_setting('wal_level') \
                 FROM pg_roles r WHERE r.rolname = current_user",
                &[],
            )
            .await
            .context("reading whether the live server allows a replication connection")?;
        Ok(Replication {
            user: row.get(0),
            may_replicate: row.get(1),
            max_wal_senders: row.get(2),
            wal_level: row.get(3),
        })
    }

    /// Why pg_basebackup cannot work, in words; None: it may be tried.
    pub fn refusal(&self) -> Option<String> {
        let mut why = Vec::new();
        if !self.may_replicate {
            why.push(format!(
                "role {} has neither REPLICATION nor SUPERUSER",
                self.user
            ));
        }
        if self.max_wal_senders <= 0 {
            why.push(format!("max_wal_senders = {}", self.max_wal_senders));
        }
        if self.wal_level == "minimal" {
            why.push("wal_level = minimal".to_string());
        }
        (!why.is_empty()).then(|| {
            format!(
                "the server allows no replication connection: {}",
                why.join(", ")
            )
        })
    }
}

/// The live side of the copy, read before anything is created.
pub struct Live {
    pub container: String,
    /// Whom cutover connects as (pg_basebackup and pg_dump too), with the password.
    pub credentials: PgCredentials,
    pub replication: Replication,
    /// What a logical copy takes: every database that allows connections, templates aside.
    /// `postgres` is among them even when it holds nothing of the user's: an empty one costs
    /// a fraction of a second, and finding out would take a connection to it.
    pub databases: Vec<String>,
}

impl Live {
    /// One connection to the live server: the pre-check and the databases.
    pub async fn read(env: &UpgradeEnv, container: &str) -> Result<Self> {
        let client = env.connect().await?;
        let replication = Replication::read(&client).await?;
        let databases = client
            .query(
                "SELECT datname::text FROM pg_database \
                 WHERE datallowconn AND NOT datistemplate ORDER BY datname",
                &[],
            )
            .await
            .context("listing the live databases")?
            .iter()
            .map(|r| r.get(0))
            .collect();
        Ok(Live {
            container: container.to_string(),
            credentials: env.credentials(container).await?,
            replication,
            databases,
        })
    }

    /// `cmd` run in the live container as its postgres user, as cutover's role, no prompt.
    fn spec(&self, cmd: &[&str]) -> ExecSpec {
        let mut words: Vec<&str> = cmd.to_vec();
        words.extend(["-w", "-U", &self.credentials.user]);
        ExecSpec::new(words)
            .env(
                "PGPASSWORD",
                self.credentials.password.as_deref().unwrap_or_default(),
            )
            .user("postgres")
    }
}

/// What the copy took.
pub struct Copied {
    /// Bytes streamed: the tar of the data directory, or the dumps.
    pub bytes: u64,
    pub logical: bool,
}

/// Everything a copy needs.
pub struct CopyJob<'a> {
    pub docker: &'a DockerClient,
    pub tool: &'a [String],
    pub side: &'a SideStack,
    pub shape: &'a PostgresShape,
    pub live: &'a Live,
    /// How long the side server may take to initialise (logical copy).
    pub ready_within: Duration,
}

/// Copies the live cluster into the side stack (created, not started); `kind` is set to what
/// is being tried, and why, before each attempt (so a failure says which one failed).
pub async fn copy(
    job: &CopyJob<'_>,
    kind: &mut String,
    say: &(dyn Fn(String) + Sync),
) -> Result<Copied> {
    let mb = |b: u64| b as f64 / 1e6;
    let why = match job.live.replication.refusal() {
        Some(why) => why,
        None => {
            *kind = PHYSICAL.to_string();
            say(format!(
                "rehearsal: copying {} from {} with pg_basebackup",
                job.side.live, job.live.container
            ));
            match physical(job).await {
                Ok(bytes) => {
                    say(format!("rehearsal: copied {:.1} MB (physical)", mb(bytes)));
                    return Ok(Copied {
                        bytes,
                        logical: false,
                    });
                }
                Err(e) => {
                    let why = format!(
                        "pg_basebackup failed: {}",
                        crate::secrets::hide(&format!("{e:#}"))
                    );
                    say(format!("rehearsal: {why}"));
                    reset(job)
                        .await
                        .context("emptying the copy's volume after pg_basebackup failed")?;
                    why
                }
            }
        }
    };
    *kind = format!("logical (pg_dump): {why}");
    say(format!(
        "rehearsal: no physical copy ({why}); copying {} database(s) with pg_dump",
        job.live.databases.len()
    ));
    let bytes = logical(job, say).await?;
    say(format!("rehearsal: copied {:.1} MB (logical)", mb(bytes)));
    Ok(Copied {
        bytes,
        logical: true,
    })
}

/// What a forecast made on a logical copy must be read with.
pub fn caveats(old_image: &str) -> Vec<String> {
    vec![
        "the copy is logical: pg_restore built its tables and indexes afresh, without the live \
         volume's bloat, so the backup, the collation check and REINDEX may take less time on \
         it than on the live volume (the scale corrects for size only)"
            .to_string(),
        format!(
            "the copy was built under the old image's C library ({old_image}), so its text \
             indexes are in that library's order and the collation hazard of the move is \
             rehearsed all the same"
        ),
    ]
}

async fn physical(job: &CopyJob<'_>) -> Result<u64> {
    let spec = job.live.spec(&[
        "pg_basebackup",
        "-D",
        "-",
        "-F",
        "t",
        "-X",
        "fetch",
        "-c",
        "fast",
        "--no-manifest",
    ]);
    let piped = job
        .docker
        .pipe_tar(
            &job.live.container,
            &spec,
            &job.side.postgres_container(),
            &job.shape.data_path,
        )
        .await?;
    Ok(piped.bytes)
}

/// The side project down with its volumes, then created again (not started): an empty volume.
async fn reset(job: &CopyJob<'_>) -> Result<()> {
    let files = [job.side.compose_file()];
    let project = &job.side.project;
    compose(job.tool, &files, project, &["down", "-v", "--timeout", "5"]).await?;
    compose(job.tool, &files, project, &["up", "--no-start"]).await?;
    Ok(())
}

async fn logical(job: &CopyJob<'_>, say: &(dyn Fn(String) + Sync)) -> Result<u64> {
    let files = [job.side.compose_file()];
    // The database alone: copies of the application (`rehearse_app`) start on the copy later.
    compose(
        job.tool,
        &files,
        &job.side.project,
        &["up", "-d", &job.shape.service],
    )
    .await?;
    let into = job.side.postgres_container();
    // The side's superuser, as its entrypoint created it.
    let boot = PgCredentials::from_env_list(&job.shape.env);
    wait_initialised(job.docker, &into, &boot, job.ready_within).await?;
    let side_spec = |cmd: &[&str]| {
        let mut words: Vec<&str> = cmd.to_vec();
        words.extend(["-w", "-U", &boot.user]);
        ExecSpec::new(words)
            .env("PGPASSWORD", boot.password.as_deref().unwrap_or_default())
            .user("postgres")
    };
    let live = job.live;

    let roles = job
        .docker
        .pipe_exec(
            &live.container,
            &live.spec(&["pg_dumpall", "--globals-only"]),
            &into,
            &side_spec(&[
                "psql",
                "-X",
                "-q",
                "-v",
                "ON_ERROR_STOP=0",
                "-d",
                "postgres",
            ]),
        )
        .await
        .context("copying the roles (pg_dumpall --globals-only into psql)")?;
    let failed = unexpected_errors(&roles.into_stderr);
    if !failed.is_empty() {
        bail!(
            "copying the roles: psql on the copy said: {}",
            failed.join("; ")
        );
    }
    let mut bytes = roles.bytes;
    for db in &live.databases {
        let piped = job
            .docker
            .pipe_exec(
                &live.container,
                &live.spec(&["pg_dump", "-Fc", "-Z", "0", "-d", &conninfo_dbname(db)]),
                &into,
                &side_spec(&[
                    "pg_restore",
                    "--clean",
                    "--if-exists",
                    "--create",
                    "--exit-on-error",
                    "-d",
                    "template1",
                ]),
            )
            .await
            .with_context(|| format!("copying database {db} (pg_dump -Fc into pg_restore)"))?;
        say(format!(
            "rehearsal:   database {db}: {:.1} MB",
            piped.bytes as f64 / 1e6
        ));
        bytes += piped.bytes;
    }
    carry_settings(job, &into).await?;
    wait_initialised(job.docker, &into, &boot, job.ready_within).await?;
    Ok(bytes)
}

/// The live cluster's configuration files over the copy's, then the copy restarted on them.
async fn carry_settings(job: &CopyJob<'_>, into: &str) -> Result<()> {
    let pgdata = job
        .shape
        .env
        .iter()
        .find_map(|kv| kv.strip_prefix("PGDATA="))
        .unwrap_or("/var/lib/postgresql/data");
    let mut tar = vec!["tar", "-C", pgdata, "-cf", "-"];
    tar.extend(SETTINGS);
    job.docker
        .pipe_tar(
            &job.live.container,
            &ExecSpec::new(tar).user("postgres"),
            into,
            pgdata,
        )
        .await
        .context("copying the live server's configuration files")?;
    compose(
        job.tool,
        &[job.side.compose_file()],
        &job.side.project,
        &["restart", "-t", "10", &job.shape.service],
    )
    .await
    .context("restarting the copy on the live server's configuration")?;
    Ok(())
}

/// Until the side server takes a login over TCP: its entrypoint's initialising server listens
/// on its socket only, so a TCP login is the final server's.
async fn wait_initialised(
    docker: &DockerClient,
    container: &str,
    boot: &PgCredentials,
    within: Duration,
) -> Result<()> {
    let ep = docker.resolve_endpoint(container, 5432).await?;
    let target = PgTarget::new(ep.addr.ip().to_string(), ep.addr.port(), boot.clone());
    let login = Readiness::probe("a login over TCP", move || {
        let target = target.clone();
        async move {
            postgres::connect(&target)
                .await
                .map(drop)
                .map_err(|e| e.to_string())
        }
    });
    docker
        .wait_ready(container, &login, within)
        .await
        .context("the copy's server did not initialise on the old image")?;
    Ok(())
}

/// psql's error lines, but "role ... already exists" (the entrypoint's bootstrap role).
fn unexpected_errors(stderr: &str) -> Vec<&str> {
    stderr
        .lines()
        .filter(|l| l.contains("ERROR:"))
        .filter(|l| !(l.contains("ERROR:  role \"") && l.trim_end().ends_with("already exists")))
        .collect()
}

/// A database name as a libpq `dbname`: pg_dump treats a `-d` value holding `=` as a
/// connection string, so it is always given as one, quoted.
fn conninfo_dbname(db: &str) -> String {
    format!("dbname='{}'", db.replace('\\', "\\\\").replace('\'', "\\'"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn replication(may: bool, senders: i64, level: &str) -> Replication {
        Replication {
            user: "app".into(),
            may_replicate: may,
            max_wal_senders: senders,
            wal_level: level.into(),
        }
    }

    #[test]
    fn the_pre_check_names_every_reason() {
        assert_eq!(replication(true, 10, "replica").refusal(), None);
        assert_eq!(
            replication(true, 0, "replica").refusal().unwrap(),
            "the server allows no replication connection: max_wal_senders = 0"
        );
        assert_eq!(
            replication(false, 0, "minimal").refusal().unwrap(),
            "the server allows no replication connection: role app has neither REPLICATION \
             nor SUPERUSER, max_wal_senders = 0, wal_level = minimal"
        );
    }

    #[test]
    fn only_the_existing_role_is_tolerated() {
        let stderr = "psql:<stdin>:14: ERROR:  role \"privexbot\" already exists\n\
                      psql:<stdin>:20: ERROR:  directory \"/srv/ts\" does not exist";
        assert_eq!(
            unexpected_errors(stderr),
            ["psql:<stdin>:20: ERROR:  directory \"/srv/ts\" does not exist"]
        );
    }

    #[test]
    fn a_database_name_is_always_a_quoted_dbname() {
        assert_eq!(conninfo_dbname("app"), "dbname='app'");
        assert_eq!(conninfo_dbname("a=b 'c'"), r"dbname='a=b \'c\''");
    }
}
