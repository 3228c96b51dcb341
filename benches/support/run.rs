//! The whole upgrade through the real binary: `cutover run --yes` with the three sign-offs as
//! flags (its fast rollback, `cutover rollback --yes --run <dir>`, is timed by
//! `fast_rollback`). The test images stand in for the registry ones (`--pull never`); qdrant is
//! left unpublished so nothing binds a host port.
//!
//! The backup figures are read from the run's own journal. The `backup` step (in the window)
//! journals its output once after the "before" fingerprint and again once its backup is whole:
//! the time between the two records is the in-window backup (with `backup_kind = physical`:
//! CHECKPOINT, segment switch, WAL received into the base, slot dropped; with `logical`: the
//! dump streamed, hashed, fsync'd and verified). The time from the step's start to its first
//! record is the "before" fingerprint (verification, reported apart). The base backup (before
//! the window) and the portable dump (after it) are their steps' durations.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use serde_json::Value;

use super::guide::AFTER;
use super::sh::{ProcessOut, run_bin};
use super::ui::BIN;

const QDRANT: &str = "cutover-testbed/qdrant-standin:latest";

/// The release binary in `dir` with the test images as targets (no registry, no host port).
pub async fn cutover(dir: &Path, args: &[&str]) -> Result<ProcessOut> {
    cutover_with(dir, args, &[]).await
}

/// [`cutover`] with more environment (configuration keys as `CUTOVER_*`).
pub async fn cutover_with(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Result<ProcessOut> {
    let mut all: Vec<&str> = args.to_vec();
    all.extend([
        "--target-image",
        AFTER,
        "--qdrant-image",
        QDRANT,
        "--pull",
        "never",
    ]);
    let mut all_env = vec![("CUTOVER_QDRANT_PORTS", "none")];
    all_env.extend_from_slice(env);
    run_bin(
        BIN,
        &all,
        dir,
        &all_env,
        &["COMPOSE_PROJECT_NAME", "COMPOSE_FILE"],
    )
    .await
}

/// True when this build has the built-in pgvector plan (`cutover plan` lists its steps).
pub async fn available(dir: &Path) -> bool {
    cutover(dir, &["plan"])
        .await
        .is_ok_and(|o| o.ok && o.stdout.contains("recreate-postgres"))
}

pub struct RunFigures {
    pub wall_ms: f64,
    pub run_dir: PathBuf,
    /// The in-window backup, from the journal (see the module's doc).
    pub dump_ms: f64,
    /// The "before" fingerprint inside `backup`, and `verify-data`'s whole step.
    pub fingerprint_ms: f64,
    pub verify_ms: Option<f64>,
    /// `postgres-ready`'s part after the first answer (continuity proof, counters, the
    /// snapshot of the stop opened): in the window, but not database downtime.
    pub hold_ms: Option<f64>,
    /// `verify-fingerprints`, after the window: the two snapshots read and compared.
    pub after_window_ms: Option<f64>,
    /// The base backup before the window, the portable dump after it (physical only).
    pub base_ms: Option<f64>,
    pub portable_ms: Option<f64>,
    pub physical: bool,
    pub dump_bytes: u64,
    pub dump_path: PathBuf,
    /// cutover's own figures from its report (for cross-checking the probes).
    pub reported_db_downtime_ms: Option<f64>,
    pub reported_app_downtime_ms: Option<f64>,
}

/// `cutover run --yes` in the stack directory; fails unless it exits 0.
pub async fn run(dir: &Path) -> Result<RunFigures> {
    run_with(dir, &[]).await
}

/// [`run`] with more configuration, as `CUTOVER_*` variables.
pub async fn run_with(dir: &Path, env: &[(&str, &str)]) -> Result<RunFigures> {
    let t = Instant::now();
    let out = cutover_with(
        dir,
        &[
            "run",
            "--yes",
            "--sign-off",
            "staging-tested=Bench",
            "--sign-off",
            "team-informed=Bench",
            "--sign-off",
            "window-agreed=Bench",
        ],
        env,
    )
    .await?;
    let wall_ms = t.elapsed().as_secs_f64() * 1000.0;
    if !out.ok {
        bail!("cutover run failed:\n{}\n{}", out.stdout, out.stderr);
    }
    let run_dir = latest_run(dir)?;
    let j = Journal::read(&run_dir)?;
    let (fingerprint_ms, dump_ms, physical) = j.backup()?;
    let record = j.dump_record().context("the run made no dump")?;
    let report: Value = serde_json::from_slice(&std::fs::read(run_dir.join("report.json"))?)
        .context("report.json")?;
    let fig = |k: &str| find_number(&report, k);
    Ok(RunFigures {
        wall_ms,
        dump_ms,
        fingerprint_ms,
        verify_ms: j.step_ms("verify-data"),
        hold_ms: j.outputs_span("postgres-ready"),
        after_window_ms: j.step_ms("verify-fingerprints"),
        base_ms: j.step_ms("base-backup"),
        portable_ms: j.step_ms("portable-dump"),
        physical,
        dump_bytes: record["bytes"].as_u64().unwrap_or(0),
        dump_path: PathBuf::from(record["path"].as_str().unwrap_or_default()),
        reported_db_downtime_ms: fig("db_downtime_ms"),
        reported_app_downtime_ms: fig("app_downtime_ms"),
        run_dir,
    })
}

fn latest_run(dir: &Path) -> Result<PathBuf> {
    let mut runs: Vec<PathBuf> = std::fs::read_dir(dir.join(".cutover/runs"))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    runs.sort();
    runs.pop().context("no run directory")
}

/// The run's journal, for the backup figures.
struct Journal(Vec<Value>);

impl Journal {
    fn read(run_dir: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(run_dir.join("journal.jsonl"))?;
        Ok(Journal(
            text.lines()
                .filter_map(|l| serde_json::from_str::<Value>(l).ok())
                .collect(),
        ))
    }

    fn at(v: &Value) -> Option<chrono::DateTime<chrono::Utc>> {
        v["at"].as_str()?.parse().ok()
    }

    fn first(&self, kind: &str, step: &str) -> Option<&Value> {
        self.0
            .iter()
            .find(|v| v["type"] == kind && v["step"] == step)
    }

    /// A step's duration, start to finish (None when it did not finish).
    fn step_ms(&self, step: &str) -> Option<f64> {
        let a = Self::at(self.first("step_started", step)?)?;
        let b = Self::at(self.first("step_finished", step)?)?;
        Some((b - a).num_milliseconds() as f64)
    }

    /// From a step's first journaled output to its last (None with fewer than two).
    fn outputs_span(&self, step: &str) -> Option<f64> {
        let outs: Vec<_> = self
            .0
            .iter()
            .filter(|v| v["type"] == "step_output" && v["step"] == step)
            .filter_map(Self::at)
            .collect();
        match outs.as_slice() {
            [f, .., l] => Some((*l - *f).num_milliseconds() as f64),
            _ => None,
        }
    }

    /// (fingerprint ms, in-window backup ms, physical?) of the `backup` step.
    fn backup(&self) -> Result<(f64, f64, bool)> {
        let outs: Vec<&Value> = self
            .0
            .iter()
            .filter(|v| v["type"] == "step_output" && v["step"] == "backup")
            .collect();
        let (first, last) = match outs.as_slice() {
            [f, .., l] => (*f, *l),
            _ => bail!("the journal has no pair of backup outputs"),
        };
        let started = self
            .first("step_started", "backup")
            .and_then(Self::at)
            .context("backup start")?;
        let (f, l) = (
            Self::at(first).context("record time")?,
            Self::at(last).context("record time")?,
        );
        let physical = !last["output"]["physical"].is_null();
        Ok((
            (f - started).num_milliseconds() as f64,
            (l - f).num_milliseconds() as f64,
            physical,
        ))
    }

    /// The finished dump: the window's own, else the portable one.
    fn dump_record(&self) -> Option<Value> {
        ["backup", "portable-dump"].iter().find_map(|step| {
            self.0
                .iter()
                .rev()
                .filter(|v| v["type"] == "step_output" && v["step"] == *step)
                .map(|v| v["output"]["record"].clone())
                .find(|r| !r.is_null())
        })
    }
}

/// The first number under key `k` anywhere in `v` (report layouts nest figures).
fn find_number(v: &Value, k: &str) -> Option<f64> {
    match v {
        Value::Object(m) => m
            .get(k)
            .and_then(Value::as_f64)
            .or_else(|| m.values().find_map(|x| find_number(x, k))),
        Value::Array(a) => a.iter().find_map(|x| find_number(x, k)),
        _ => None,
    }
}
