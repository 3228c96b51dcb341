//! A physical backup of a running PostgreSQL container into a named volume, in two parts so
//! that almost none of it is paid inside the maintenance window:
//!
//! 1. [`take_base`], while the application still runs: `pg_basebackup -Fp -X stream` into the
//!    volume, creating a physical replication slot that keeps every WAL segment written after
//!    the backup's start;
//! 2. [`catch_up`], once the writers are stopped: `pg_receivewal` from that slot up to the
//!    server's current WAL position, the segments put into the backup's `pg_wal`, and the slot
//!    dropped. The backup then recovers (its own crash recovery from `backup_label` through
//!    every segment) to exactly the state at the stop.
//!
//! Both run in a throwaway container of the OLD image (the same PostgreSQL major version and C
//! library as the server, so the files are the server's own) that shares the server's network
//! namespace: its client reaches the server on 127.0.0.1, where pg_hba allows a local
//! replication connection, and nothing is published. The files are written as the image's
//! `postgres` user, the owner the old image needs to start on them.
//!
//! [`restore_check`] starts the backup, in such a container with no network, as a server of
//! its own (the proof that it recovers), and hands it to the caller, e.g. to dump it.
//!
//! Invariants:
//! - The password travels only in an exec's environment, never in arguments or errors.
//! - A slot exists only between `take_base` and `catch_up`; [`drop_slot`] is idempotent and is
//!   what every undo calls (a forgotten slot keeps WAL on the live disk forever).
//! - The volume is never removed here: a backup is deleted only by the operator.

use std::collections::HashMap;

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};

use crate::adapters::docker::probe::{Probe, ProbeOptions};
use crate::adapters::docker::{DockerClient, ExecSpec};

/// Where the volume is mounted in the helper container.
const MOUNT: &str = "/cutover-backup";

/// How to reach the live server, and where its backup goes.
#[derive(Clone)]
pub struct PhysicalTarget {
    /// The live postgres container (its network namespace is shared).
    pub container: String,
    /// The image the live container runs (id or reference): the helper's image.
    pub image: String,
    pub port: u16,
    pub user: String,
    pub password: Option<String>,
    /// The compose project: the volume is `<project>_<volume_key>`, with Compose's labels.
    pub project: String,
    pub volume_key: String,
    pub slot: String,
    /// Labels for the helper containers.
    pub labels: HashMap<String, String>,
}

impl std::fmt::Debug for PhysicalTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PhysicalTarget")
            .field("container", &self.container)
            .field("volume", &self.volume())
            .field("slot", &self.slot)
            .field("password", &self.password.as_ref().map(|_| "***"))
            .finish()
    }
}

/// The base backup, as journaled.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BaseRecord {
    pub volume: String,
    pub slot: String,
    /// `START WAL LOCATION` of the backup's `backup_label`.
    pub start_lsn: String,
    /// Bytes of the data directory in the volume.
    pub bytes: u64,
    pub ms: u64,
}

/// The WAL that makes the base the state at the stop.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CatchUpRecord {
    /// The server's WAL insert position when the writers were stopped; the backup recovers
    /// through it.
    pub stop_lsn: String,
    pub segments: u32,
    pub wal_bytes: u64,
    pub ms: u64,
}

impl PhysicalTarget {
    /// The volume's engine name.
    pub fn volume(&self) -> String {
        format!("{}_{}", self.project, self.volume_key)
    }

    /// `tool` (pg_basebackup, pg_receivewal) as a local client of the live server, `args` after
    /// the connection's own; run as the old image's postgres, the password in the env only.
    fn client(&self, tool: &str, args: &[&str]) -> ExecSpec {
        let port = self.port.to_string();
        let mut cmd = vec![tool, "-h", "127.0.0.1", "-p", &port, "-U", &self.user, "-w"];
        cmd.extend_from_slice(args);
        let mut spec = ExecSpec::new(cmd).user("postgres");
        if let Some(p) = &self.password {
            spec = spec.env("PGPASSWORD", p);
        }
        spec
    }

    fn options(&self) -> ProbeOptions {
        ProbeOptions {
            volume: Some((self.volume(), MOUNT.into())),
            network_mode: Some(format!("container:{}", self.container)),
            labels: self.labels.clone(),
            more_volumes: Vec::new(),
            long_running: true,
        }
    }
}

/// Step 1: the online base backup, and its slot. Fails (slot dropped, volume kept empty or
/// partial for the operator to see) when the server refuses a replication connection.
pub async fn take_base(docker: &DockerClient, t: &PhysicalTarget) -> Result<BaseRecord> {
    let started = std::time::Instant::now();
    docker
        .ensure_volume(&t.project, &t.volume_key)
        .await
        .with_context(|| format!("creating volume {}", t.volume()))?;
    let record = docker
        .with_probe_opts(&t.image, &t.options(), async |p: &Probe<'_>| {
            p.sh_ok(
                "preparing the backup directory",
                &format!(
                    "set -e; d={MOUNT}/data; if [ -e \"$d\" ]; then rm -rf \"$d\"; fi; \
                     mkdir -m 700 \"$d\"; chown postgres:postgres {MOUNT} \"$d\""
                ),
            )
            .await?;
            run_ok(
                p,
                &t.client(
                    "pg_basebackup",
                    &[
                        "-D",
                        &format!("{MOUNT}/data"),
                        "-F",
                        "p",
                        "-X",
                        "stream",
                        "-c",
                        "fast",
                        "-C",
                        "-S",
                        &t.slot,
                        "--no-manifest",
                    ],
                ),
            )
            .await?;
            let label = p
                .sh_ok(
                    "reading the backup label",
                    &format!("cat {MOUNT}/data/backup_label; du -sb {MOUNT}/data | cut -f1"),
                )
                .await?;
            Ok(label)
        })
        .await
        .context("physical base backup")?;
    let start_lsn = record
        .lines()
        .find_map(|l| l.strip_prefix("START WAL LOCATION: "))
        .and_then(|rest| rest.split_whitespace().next())
        .map(str::to_string)
        .context("the base backup has no START WAL LOCATION in its backup_label")?;
    let bytes = record
        .lines()
        .last()
        .and_then(|l| l.trim().parse().ok())
        .unwrap_or(0);
    Ok(BaseRecord {
        volume: t.volume(),
        slot: t.slot.clone(),
        start_lsn,
        bytes,
        ms: started.elapsed().as_millis() as u64,
    })
}

/// Step 2: receive the WAL from the slot up to `stop_lsn` (the server's insert position with
/// the writers stopped) and place it in the backup's `pg_wal`. Idempotent: it starts from an
/// empty receive directory each time. The slot is NOT dropped here: the caller drops it with
/// [`drop_slot`] once this returned (and in every undo).
pub async fn catch_up(
    docker: &DockerClient,
    t: &PhysicalTarget,
    stop_lsn: &str,
) -> Result<CatchUpRecord> {
    let started = std::time::Instant::now();
    let summary = docker
        .with_probe_opts(&t.image, &t.options(), async |p: &Probe<'_>| {
            p.sh_ok(
                "preparing the WAL directory",
                &format!(
                    "set -e; w={MOUNT}/wal; rm -rf \"$w\"; mkdir -m 700 \"$w\"; \
                     chown postgres:postgres \"$w\""
                ),
            )
            .await?;
            run_ok(
                p,
                &t.client(
                    "pg_receivewal",
                    &[
                        "-D",
                        &format!("{MOUNT}/wal"),
                        "-S",
                        &t.slot,
                        "-E",
                        stop_lsn,
                        "-n",
                        "--synchronous",
                    ],
                ),
            )
            .await?;
            // A `.partial` segment is complete up to the stop: recovery reads it under its
            // plain name. Received segments replace the base's copies (they are supersets).
            p.sh_ok(
                "placing the WAL in the backup",
                &format!(
                    "set -e; cd {MOUNT}/wal; n=0; b=0; for f in *; do [ -f \"$f\" ] || continue; \
                     s=${{f%.partial}}; cp -p \"$f\" {MOUNT}/data/pg_wal/\"$s\"; n=$((n+1)); \
                     b=$((b + $(stat -c %s \"$f\"))); done; rm -rf {MOUNT}/wal; \
                     printf '%s\\n' '{stop_lsn}' > {MOUNT}/data/CUTOVER_STOP_LSN; \
                     chown postgres:postgres {MOUNT}/data/CUTOVER_STOP_LSN; echo \"$n $b\""
                ),
            )
            .await
        })
        .await
        .context("receiving the WAL up to the stop")?;
    let mut it = summary.split_whitespace();
    let segments = it.next().and_then(|v| v.parse().ok()).unwrap_or(0);
    let wal_bytes = it.next().and_then(|v| v.parse().ok()).unwrap_or(0);
    if segments == 0 {
        bail!("pg_receivewal received no WAL segment up to {stop_lsn}");
    }
    Ok(CatchUpRecord {
        stop_lsn: stop_lsn.to_string(),
        segments,
        wal_bytes,
        ms: started.elapsed().as_millis() as u64,
    })
}

/// Runs `spec` in the helper; a non-zero exit is an error with the tool's own words.
async fn run_ok(p: &Probe<'_>, spec: &ExecSpec) -> crate::adapters::docker::Result<()> {
    let out = p.exec(spec).await?;
    if out.exit_code != 0 {
        return Err(crate::adapters::docker::DockerError::Invalid(format!(
            "{} exited with {}: {}",
            spec.cmd[0],
            out.exit_code,
            out.stderr_str().trim()
        )));
    }
    Ok(())
}

/// Drops `slot` if it exists (idempotent). A slot still held by a receiver (a cutover killed
/// mid-backup leaves its helper running) is freed first: that receiver's walsender is
/// terminated, then the drop is retried for up to 10 s.
pub async fn drop_slot(client: &tokio_postgres::Client, slot: &str) -> Result<bool> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        client
            .execute(
                "SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots \
                 WHERE slot_name = $1 AND active",
                &[&slot],
            )
            .await
            .with_context(|| format!("freeing replication slot {slot}"))?;
        match client
            .query(
                "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots \
                 WHERE slot_name = $1",
                &[&slot],
            )
            .await
        {
            Ok(rows) => return Ok(!rows.is_empty()),
            Err(e) if std::time::Instant::now() < deadline => {
                let _ = e;
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            }
            Err(e) => {
                return Err(anyhow::Error::new(e).context(format!(
                    "dropping replication slot {slot}: drop it by hand with \
                     SELECT pg_drop_replication_slot('{slot}')"
                )));
            }
        }
    }
}

/// Starts the backup in `volume` as a server of its own (old `image`, no network) and runs
/// `work` with the helper container's name while it runs; the container goes afterwards. The
/// server's recovery through the caught-up WAL is the proof the backup is whole.
pub async fn restore_check<T>(
    docker: &DockerClient,
    image: &str,
    volume: &str,
    labels: HashMap<String, String>,
    work: impl AsyncFnOnce(&str) -> Result<T>,
) -> Result<T> {
    let opts = ProbeOptions {
        volume: Some((volume.to_string(), MOUNT.into())),
        network_mode: None,
        labels,
        more_volumes: Vec::new(),
        long_running: true,
    };
    let mut outcome: Option<Result<T>> = None;
    docker
        .with_probe_opts(image, &opts, async |p: &Probe<'_>| {
            let start = p
                .exec(
                    &ExecSpec::new([
                        "pg_ctl",
                        "-D",
                        &format!("{MOUNT}/data"),
                        "-w",
                        "-t",
                        "600",
                        "-l",
                        &format!("{}/server.log", crate::adapters::docker::probe::SCRATCH),
                        "-o",
                        "-c listen_addresses='' -c archive_mode=off",
                        "start",
                    ])
                    .user("postgres"),
                )
                .await?;
            if start.exit_code != 0 {
                let log = p
                    .sh(&format!(
                        "tail -n 20 {}/server.log",
                        crate::adapters::docker::probe::SCRATCH
                    ))
                    .await
                    .map(|o| o.stdout_str())
                    .unwrap_or_default();
                outcome = Some(Err(anyhow::anyhow!(
                    "the physical backup in volume {volume} did not start: {}",
                    log.trim()
                )));
                return Ok(());
            }
            outcome = Some(work(&p.name).await);
            // A clean stop leaves the backup a cleanly shut down data directory.
            let _ = p
                .exec(
                    &ExecSpec::new([
                        "pg_ctl",
                        "-D",
                        &format!("{MOUNT}/data"),
                        "-w",
                        "-m",
                        "fast",
                        "stop",
                    ])
                    .user("postgres"),
                )
                .await;
            Ok(())
        })
        .await
        .context("starting the physical backup")?;
    outcome.unwrap_or_else(|| bail!("the physical backup check did not run"))
}
