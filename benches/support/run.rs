//! The whole upgrade through the real binary: `cutover run --yes` with the three sign-offs as
//! flags (its fast rollback, `cutover rollback --yes --run <dir>`, is timed by
//! `fast_rollback`). The test images stand in for the registry ones (`--pull never`); qdrant is
//! left unpublished so nothing binds a host port.
//!
//! The backup figure is read from the run's own journal: the `backup` step journals its output
//! once before `pg_dump` starts (after the "before" fingerprint) and again once the dump is
//! streamed, hashed, fsync'd and verified; the time between the two records is the dump.

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
    let mut all: Vec<&str> = args.to_vec();
    all.extend([
        "--target-image",
        AFTER,
        "--qdrant-image",
        QDRANT,
        "--pull",
        "never",
    ]);
    run_bin(
        BIN,
        &all,
        dir,
        &[("CUTOVER_QDRANT_PORTS", "none")],
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
    /// pg_dump + sha256 + fsync + verify, from the journal.
    pub dump_ms: f64,
    pub dump_bytes: u64,
    pub dump_path: PathBuf,
    /// cutover's own figures from its report (for cross-checking the probes).
    pub reported_db_downtime_ms: Option<f64>,
    pub reported_app_downtime_ms: Option<f64>,
}

/// `cutover run --yes` in the stack directory; fails unless it exits 0.
pub async fn run(dir: &Path) -> Result<RunFigures> {
    let t = Instant::now();
    let out = cutover(
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
    )
    .await?;
    let wall_ms = t.elapsed().as_secs_f64() * 1000.0;
    if !out.ok {
        bail!("cutover run failed:\n{}\n{}", out.stdout, out.stderr);
    }
    let run_dir = latest_run(dir)?;
    let (dump_ms, record) = dump_from_journal(&run_dir)?;
    let report: Value = serde_json::from_slice(&std::fs::read(run_dir.join("report.json"))?)
        .context("report.json")?;
    let fig = |k: &str| find_number(&report, k);
    Ok(RunFigures {
        wall_ms,
        dump_ms,
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

/// (ms between the backup step's two output records, the final BackupRecord).
fn dump_from_journal(run_dir: &Path) -> Result<(f64, Value)> {
    let text = std::fs::read_to_string(run_dir.join("journal.jsonl"))?;
    let outs: Vec<Value> = text
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["type"] == "step_output" && v["step"] == "backup")
        .collect();
    let at = |v: &Value| -> Result<chrono::DateTime<chrono::Utc>> {
        Ok(v["at"].as_str().context("record time")?.parse()?)
    };
    let (first, last) = match outs.as_slice() {
        [f, .., l] => (f, l),
        _ => bail!("the journal has no pair of backup outputs"),
    };
    let record = last["output"]["record"].clone();
    if record.is_null() {
        bail!("the backup step never journaled a finished record");
    }
    let ms = (at(last)? - at(first)?).num_milliseconds() as f64;
    Ok((ms, record))
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
