//! `cutover rehearse`: the real upgrade, and its fast rollback, on a copy of the live
//! database, before the window; the measured phases become a forecast of the real run.
//!
//! Order, and why:
//! 1. read the live stack as `run` does (the Compose tool's view, the live postgres container)
//!    and the cluster's size; refuse (nothing created) when the engine's disk cannot hold a
//!    copy and its backup;
//! 2. write the side stack's compose file (`side`) and let Compose create it without starting
//!    it: an isolated network, the copy's volume, postgres on the OLD image;
//! 3. copy the live cluster into that volume (`copy`): with `pg_basebackup` run inside the
//!    live container over its local socket when the server allows it (a physical copy: the
//!    same files, locale, settings and on-disk index order), else with `pg_dump` into a
//!    server the old image initialises with the live locale (a logical copy; the forecast
//!    then carries its caveats). Either way the live stack is neither stopped nor written to,
//!    and the copy streams through the Engine, never through cutover's disk;
//! 4. start the copy, then run the real plan against the side stack on the engine the `run`
//!    command uses (every check and action, signed off as "cutover rehearse"), then the fast
//!    rollback the same way. The backup it takes is measured, then deleted;
//! 5. forecast the real window from the side run's journal (`forecast`);
//! 6. tear the side stack down, always: on success, on failure, on Ctrl-C (`side`). What the
//!    teardown could not remove is named, never hidden.
//!
//! Not rehearsed (said in the result): the application (its writers and health) unless
//! `rehearse_app` is on (then copies of the writers run on the side stack, `app_copy`), and
//! the application's own migrations command (cutover's built-in migrations are rehearsed).

pub mod app_copy;
pub mod copy;
pub mod forecast;
pub mod side;
pub mod target_on_copy;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc::unbounded_channel;
use tokio_util::sync::CancellationToken;

use crate::adapters::docker::DockerClient;
use crate::adapters::postgres;
use crate::config::Config;
use crate::engine::{Command, EventKind, Journal, Policy, RunOutcome, Runner};
use crate::upgrade::env::UpgradeEnv;
use crate::upgrade::{facts, tool};
use forecast::Forecast;
use side::{PostgresShape, SideStack};
use target_on_copy::TargetOnCopy;

/// Who signs the side run's checklist.
const SIGNER: &str = "cutover rehearse";

/// What a rehearsal found; written to `<dir>/rehearsal.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Rehearsal {
    pub dir: PathBuf,
    pub started_at: chrono::DateTime<chrono::Utc>,
    /// `physical (pg_basebackup ...)` or `logical (pg_dump): <why no physical copy>`: what
    /// kind of copy, and why, in words.
    pub copy_kind: String,
    /// The live cluster's size (`pg_database_size` of every database) when copied.
    pub live_bytes: u64,
    /// Bytes of the copy as streamed (a tar of the data directory, WAL included; or the
    /// logical copy's dumps).
    pub copy_bytes: u64,
    /// The copy's size as the side server reports it (the forecast's scale is
    /// `live_bytes / copy_db_bytes`).
    pub copy_db_bytes: u64,
    pub copy_ms: i64,
    /// The side run's outcome, in words (`done`, or the failed step and why).
    pub outcome: String,
    pub passed: bool,
    pub forecast: Option<Forecast>,
    pub wall_ms: i64,
    /// What the teardown could not remove (empty: nothing is left).
    pub left_behind: Vec<String>,
    pub side_run: Option<PathBuf>,
    /// When the side run's pre-flight refused: what the target server did on the copy.
    #[serde(default)]
    pub target_on_copy: Option<TargetOnCopy>,
    /// With `rehearse_app`: the writer services copied onto the side stack (None: off).
    #[serde(default)]
    pub app_rehearsed: Option<Vec<String>>,
    /// What the copies of the writers were run without (ports, bind mounts, ...), in words.
    #[serde(default)]
    pub app_dropped: Vec<String>,
}

/// Runs a rehearsal for the stack `config` describes; `say` gets progress lines. `cancel`
/// stops it where it is (the command line cancels on Ctrl-C, the wizard on quit); the
/// teardown runs either way. Err: refused before anything was created (the message says why).
pub async fn rehearse(
    config: &Config,
    say: &(dyn Fn(String) + Sync),
    cancel: &CancellationToken,
) -> Result<Rehearsal> {
    let t0 = Instant::now();
    let started_at = chrono::Utc::now();
    let docker = DockerClient::connect()
        .await
        .context("connecting to the Docker engine")?;
    let writers = vec![
        config.backend_service.clone(),
        config.worker_service.clone(),
    ];
    let live_facts = facts::read(config, &writers)?;
    let env = UpgradeEnv::new(config, live_facts, Vec::new());
    let live_pg = env.postgres_container().await?;
    let shape = shape_of(&docker, &live_pg, &config.postgres_service).await?;
    let live_bytes = cluster_bytes(&env).await?;
    let live = copy::Live::read(&env, &live_pg).await?;
    check_disk(&docker, live_bytes).await?;
    let tool = crate::upgrade::compose_up::required(
        tool::detect(&config.compose_command)
            .await
            .map_err(anyhow::Error::msg)?
            .map(|t| t.words),
    )?;

    let stamp = started_at.format("%Y%m%dT%H%M%SZ").to_string();
    let dir = config.stack_dir().join(".cutover/rehearsals").join(&stamp);
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut side = SideStack::new(&config.project, &dir);
    if config.rehearse_app {
        side.app = Some(app_of(config, &tool, &side)?);
    }
    // A rehearsal that was killed before its teardown left its stack: remove it first.
    let stale = side.tear_down(&docker, Some(&tool)).await;
    if !stale.is_empty() {
        bail!(
            "an earlier rehearsal left {} and it cannot be removed: remove it, then rehearse again",
            stale.join(", ")
        );
    }
    let mut result = Rehearsal {
        dir: dir.clone(),
        started_at,
        copy_kind: "none (the rehearsal did not get to the copy)".into(),
        live_bytes,
        copy_bytes: 0,
        copy_db_bytes: 0,
        copy_ms: 0,
        outcome: String::new(),
        passed: false,
        forecast: None,
        wall_ms: 0,
        left_behind: Vec::new(),
        side_run: None,
        target_on_copy: None,
        app_rehearsed: side
            .app
            .as_ref()
            .map(|a| a.services.iter().map(|s| s.name.clone()).collect()),
        app_dropped: side.app.as_ref().map_or(Vec::new(), |a| a.dropped.clone()),
    };
    let body = run_side(
        config,
        &docker,
        &tool,
        &side,
        &live,
        &shape,
        &mut result,
        say,
    );
    let ended = tokio::select! {
        r = body => r,
        () = cancel.cancelled() => Err(anyhow::anyhow!("interrupted by the operator")),
    };
    if let Err(e) = ended {
        result.outcome = format!("{e:#}");
        result.passed = false;
    }
    say("rehearsal: tearing the side stack down".into());
    result.left_behind = side.tear_down(&docker, Some(&tool)).await;
    result.wall_ms = t0.elapsed().as_millis() as i64;
    let json = serde_json::to_string_pretty(&result)?;
    std::fs::write(dir.join("rehearsal.json"), json)
        .with_context(|| format!("writing {}", dir.join("rehearsal.json").display()))?;
    Ok(result)
}

/// Steps 2 to 5; every error is the rehearsal's failure (the caller tears down).
#[allow(clippy::too_many_arguments)]
async fn run_side(
    config: &Config,
    docker: &DockerClient,
    tool: &[String],
    side: &SideStack,
    live: &copy::Live,
    shape: &PostgresShape,
    result: &mut Rehearsal,
    say: &(dyn Fn(String) + Sync),
) -> Result<()> {
    side.write(shape)?;
    let file = side.compose_file();
    let files = std::slice::from_ref(&file);
    crate::upgrade::compose_up::compose(tool, files, &side.project, &["up", "--no-start"]).await?;

    say(format!(
        "rehearsal: copying {} ({:.0} MB)",
        config.project,
        result.live_bytes as f64 / 1e6
    ));
    let t = Instant::now();
    let job = copy::CopyJob {
        docker,
        tool,
        side,
        shape,
        live,
        ready_within: Duration::from_secs(config.ready_timeout_secs),
    };
    let copied = copy::copy(&job, &mut result.copy_kind, say)
        .await
        .context("copying the live cluster")?;
    result.copy_bytes = copied.bytes;
    result.copy_ms = t.elapsed().as_millis() as i64;
    say(format!(
        "rehearsal: copied in {:.1} s; the copy {} on {}",
        t.elapsed().as_secs_f64(),
        if copied.logical { "runs" } else { "starts" },
        shape.image
    ));
    crate::upgrade::compose_up::compose(tool, files, &side.project, &["up", "-d"]).await?;

    let side_config = side_config(config, side);
    if side.app.is_some() {
        say("rehearsal: the copy of the application starts on the copy of the database".into());
    }
    let writers = vec![
        side_config.backend_service.clone(),
        side_config.worker_service.clone(),
    ];
    let side_env = UpgradeEnv::new(&side_config, facts::read(&side_config, &writers)?, vec![]);
    let target = side_env.pg_target().await?;
    postgres::connect_until(
        &target,
        Duration::from_secs(config.ready_timeout_secs),
        Duration::from_millis(200),
    )
    .await
    .context("the copy did not start on the old image")?;
    result.copy_db_bytes = cluster_bytes(&side_env).await?;

    let plan = crate::plans::build(&side_config)?;
    let run_dir = crate::engine::journal::new_run_dir(&side_config.run_dir);
    result.side_run = Some(run_dir.clone());
    let journal = Journal::create(&run_dir)?;
    let mut commands: Vec<Command> = plan
        .sign_offs()
        .map(|s| Command::SignOff {
            item: s.id().to_string(),
            by: SIGNER.into(),
        })
        .collect();
    commands.push(Command::Start);
    say("rehearsal: the upgrade, on the copy".into());
    let outcome = drive(plan.clone(), journal, commands, &side.project, None, say).await?;
    let forward_done = matches!(outcome, RunOutcome::Done);
    let refused = matches!(outcome, RunOutcome::PreflightFailed { .. });
    result.outcome = describe(&outcome);
    if refused {
        say(format!(
            "rehearsal: the pre-flight refused; starting {} on the copy to hear the server",
            config.target_image
        ));
        let within = Duration::from_secs(config.ready_timeout_secs);
        let tried = target_on_copy::try_target(
            docker,
            tool,
            side,
            shape,
            &side_env,
            &config.target_image,
            within,
        )
        .await;
        let line = match &tried {
            Ok(t) => t.line(),
            Err(e) => format!("the target could not be tried on the copy: {e:#}"),
        };
        say(format!("rehearsal:   {line}"));
        result.outcome = format!("{}; {line}", result.outcome);
        result.target_on_copy = tried.ok();
    }
    if forward_done {
        say("rehearsal: the fast rollback, on the copy".into());
        let journal = Journal::open(&run_dir)?;
        let back = drive(plan, journal, Vec::new(), &side.project, Some(()), say).await?;
        if !matches!(back, RunOutcome::RolledBack { .. }) {
            result.outcome = format!("the upgrade passed; its fast rollback: {}", describe(&back));
        }
        result.passed = matches!(back, RunOutcome::RolledBack { .. });
    }
    let (state, _) = Journal::read(&run_dir)?;
    discard_backup(&state);
    if refused {
        // Nothing past the checks ran on the copy: a forecast would be made of zeros.
        return Ok(());
    }
    let mut forecast = Forecast::from_run(&state, result.live_bytes, result.copy_db_bytes);
    forecast.app_rehearsed = side.app.is_some();
    forecast.not_rehearsed = not_rehearsed(config, side.app.is_some());
    if copied.logical {
        forecast.caveats = copy::caveats(&shape.image);
    }
    result.forecast = Some(forecast);
    Ok(())
}

/// The side run's configuration: the live one, pointed at the side stack, with nothing that
/// could reach the live stack or the host (no published qdrant, no app migrations command).
fn side_config(config: &Config, side: &SideStack) -> Config {
    let mut c = config.clone();
    c.compose_file = side.compose_file();
    c.project = side.project.clone();
    // Beside the side stack, not in it: the journal and report outlive the teardown.
    c.run_dir = side.dir.with_file_name("runs");
    c.qdrant_ports = "none".into();
    c.migrations_command = None;
    c.migrations_down_command = None;
    match &side.app {
        // The writers on the side are the copied ones; the health URL's host is a service
        // name, resolved on the side like every container.
        Some(app) => {
            c.extra_writer_services
                .retain(|w| app.services.iter().any(|s| &s.name == w));
        }
        None => {
            c.extra_writer_services = Vec::new();
            c.backend_health_url = None;
        }
    }
    c.auto_rollback = true;
    c
}

/// The writer services `rehearse_app` copies, as Compose resolves the live project (v2's
/// JSON, or v1's YAML, read alike by `adapters::compose::resolved_as_json`).
fn app_of(config: &Config, tool: &[String], side: &SideStack) -> Result<app_copy::AppCopy> {
    let t = tool::find(&config.compose_command)
        .map_err(anyhow::Error::msg)?
        .filter(|t| t.words == tool)
        .context(
            "rehearse_app: the Compose tool that runs the side stack cannot be asked for the \
             live project's services; check compose_command (`cutover config --print`)",
        )?;
    let cwd = std::env::current_dir().unwrap_or_else(|_| config.stack_dir().to_path_buf());
    let shell: std::collections::BTreeMap<String, String> = std::env::vars().collect();
    let files = crate::adapters::compose::project_files(&config.compose_file, &cwd, &shell);
    let text = tool::resolved_config(&t, &files, config.stack_dir(), &config.project)?;
    let mut writers = vec![
        config.backend_service.clone(),
        config.worker_service.clone(),
    ];
    writers.extend(config.extra_writer_services.iter().cloned());
    app_copy::from_resolved(
        &text,
        &writers,
        &config.postgres_service,
        "rehearsal",
        &side.container_prefix(),
    )
}

fn not_rehearsed(config: &Config, app: bool) -> Vec<String> {
    let mut v = Vec::new();
    if !app {
        v.push(format!(
            "the application ({}, {}): its stop, start and health are not in the forecast \
             (rehearse_app = true runs a copy of it)",
            config.backend_service, config.worker_service
        ));
    }
    if config.migrations_command.is_some() {
        v.push("the application's own migrations command".into());
    }
    v
}

/// Runs a plan's forward run (`rollback` None) or its fast rollback on the engine, quietly:
/// each finished or failed step is one progress line.
async fn drive(
    plan: crate::engine::Plan,
    journal: Journal,
    initial: Vec<Command>,
    stack: &str,
    rollback: Option<()>,
    say: &(dyn Fn(String) + Sync),
) -> Result<RunOutcome> {
    let (ev_tx, mut ev_rx) = unbounded_channel();
    let (cmd_tx, cmd_rx) = unbounded_channel();
    for c in initial {
        let _ = cmd_tx.send(c);
    }
    let runner = Runner::new(
        plan,
        journal,
        ev_tx,
        cmd_rx,
        Policy {
            auto_rollback: true,
        },
    );
    let run = async {
        match rollback {
            None => runner.run(stack).await,
            Some(()) => {
                runner
                    .rollback(stack, "rehearsal: the fast rollback", false)
                    .await
            }
        }
    };
    let show = async {
        while let Some(ev) = ev_rx.recv().await {
            match ev.kind {
                EventKind::StepFinished {
                    title, elapsed_ms, ..
                } => say(format!(
                    "rehearsal:   {title} ({:.1} s)",
                    elapsed_ms as f64 / 1000.0
                )),
                EventKind::StepFailed { title, error, .. } => say(format!(
                    "rehearsal:   {title} FAILED: {}",
                    crate::secrets::hide(&error.message)
                )),
                EventKind::UndoFinished { title, .. } => {
                    say(format!("rehearsal:   undone: {title}"))
                }
                _ => {}
            }
        }
    };
    let (outcome, ()) = tokio::join!(run, show);
    drop(cmd_tx);
    outcome
}

fn describe(o: &RunOutcome) -> String {
    match o {
        RunOutcome::Done => "done".into(),
        RunOutcome::RolledBack { reason } => format!("rolled back: {reason}"),
        RunOutcome::PreflightFailed { step } => format!("refused by the pre-flight check {step}"),
        other => format!("{other:?}"),
    }
}

/// The side run's backup was measured; the files are a copy of production data (its physical
/// backup volume is the side project's, removed by the teardown).
fn discard_backup(state: &crate::engine::recovery::RunState) {
    let record = |step: &str| {
        state
            .steps
            .get(step)
            .and_then(|r| r.output.clone())
            .and_then(|v| v.get("record").cloned())
            .and_then(|v| serde_json::from_value::<crate::adapters::backup::BackupRecord>(v).ok())
    };
    for r in [record("backup"), record("portable-dump")]
        .into_iter()
        .flatten()
    {
        let _ = std::fs::remove_file(&r.path);
    }
}

/// The live container's image, server environment and data mount.
async fn shape_of(docker: &DockerClient, container: &str, service: &str) -> Result<PostgresShape> {
    let c = docker.inspect(container).await?;
    let cfg = c.config.unwrap_or_default();
    let env: Vec<String> = cfg
        .env
        .unwrap_or_default()
        .into_iter()
        .filter(|kv| {
            let k = kv.split('=').next().unwrap_or_default();
            k.starts_with("POSTGRES_") || k == "PGDATA" || k == "LANG" || k.starts_with("LC_")
        })
        .collect();
    // The side stack cannot mount the live stack's secrets: the values go into its private
    // compose file instead, as a password given in the environment does.
    let env = crate::upgrade::setting_files::inline(docker, container, env, &[]).await?;
    let pgdata = env
        .iter()
        .find_map(|kv| kv.strip_prefix("PGDATA="))
        .unwrap_or("/var/lib/postgresql/data")
        .to_string();
    let mounts = c.mounts.unwrap_or_default();
    let data_path = mounts
        .iter()
        .filter_map(|m| m.destination.clone())
        .find(|d| pgdata == *d || pgdata.starts_with(&format!("{d}/")))
        .with_context(|| format!("{container} has no volume at its data directory {pgdata}"))?;
    Ok(PostgresShape {
        service: service.to_string(),
        image: cfg.image.unwrap_or_default(),
        env,
        data_path,
    })
}

/// The cluster's size: `pg_database_size` of every database that takes connections.
pub async fn cluster_bytes(env: &UpgradeEnv) -> Result<u64> {
    let client = env.connect().await?;
    let n: i64 = client
        .query_one(
            "SELECT sum(pg_database_size(oid))::bigint FROM pg_database WHERE datallowconn",
            &[],
        )
        .await
        .context("reading the cluster's size")?
        .get(0);
    Ok(n.max(0) as u64)
}

/// The copy and the side run's backup live on the engine's disk: refuse when it cannot hold
/// twice the cluster (the copy, plus WAL and the backup's room), before anything is created.
async fn check_disk(docker: &DockerClient, live_bytes: u64) -> Result<()> {
    let Ok(space) = docker.data_root_space().await else {
        return Ok(());
    };
    let need = live_bytes.saturating_mul(2);
    if space.free_bytes < need {
        bail!(
            "the rehearsal needs about {:.1} GB free on the engine's disk ({}) for a copy of the \
             {:.1} GB cluster and its backup, and {:.1} GB are free: free some space first",
            need as f64 / 1e9,
            space.path.display(),
            live_bytes as f64 / 1e9,
            space.free_bytes as f64 / 1e9
        );
    }
    Ok(())
}

/// Where a stack's rehearsals are written.
pub fn rehearsals_dir(config: &Config) -> PathBuf {
    config.stack_dir().join(".cutover/rehearsals")
}
