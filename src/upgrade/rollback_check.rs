//! The verification after a rollback, reported in the run report: every table that existed
//! before the upgrade holds what it should, and the backend is healthy again.
//!
//! "What it should" depends on the path and on the window:
//! - fast path: the old container runs on the same data volume, so rows the writers added while
//!   the upgrade stood (after `start-writers`) are kept. `start-writers`' undo fingerprints the
//!   tables right after stopping the writers again; a table that changed during the window must
//!   equal that fingerprint, every other one must equal the pre-upgrade one (`backup`'s);
//! - disaster path: the database is the backup, so every table must equal the pre-upgrade
//!   fingerprint exactly, and the rows written during the window are reported as lost.
//!
//! The data check runs with the writers still stopped (in `stop-writers`' undo, before it starts
//! them), because only then can equality be exact; the health check runs after they start.

use std::time::{Duration, Instant};

use anyhow::Context;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::env::UpgradeEnv;
use super::steps::backup::{BackupOutput, SCHEMA};
use super::steps::start_writers::WindowOutput;
use crate::adapters::fingerprint::{self, Fingerprint};
use crate::adapters::http::HttpClient;
use crate::engine::{StepContext, StepError};

const BACKEND_PORT: u16 = 8000;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RollbackCheck {
    /// `fast` or `disaster`.
    pub path: String,
    /// Pre-existing tables compared.
    pub compared: usize,
    /// `table: +N rows written while the upgrade stood, kept` (fast) or `..., lost` (disaster).
    pub window_rows: Vec<String>,
    /// Tables present now that were not before the upgrade (left by an incomplete undo).
    pub extra_tables: Vec<String>,
    /// The backend's health URL once it answered healthy; None if there is no backend.
    pub backend_healthy_url: Option<String>,
    pub data_checked_at: Option<DateTime<Utc>>,
    pub healthy_at: Option<DateTime<Utc>>,
    /// Why the data was not compared, when it was not.
    pub skipped: Option<String>,
}

/// Compares the database with what it should hold after the rollback; errors list every table
/// that differs. Call with the writers stopped.
pub async fn check_data(env: &UpgradeEnv, cx: &StepContext) -> Result<RollbackCheck, StepError> {
    let disaster = cx.disaster_rollback();
    let mut check = RollbackCheck {
        path: if disaster { "disaster" } else { "fast" }.into(),
        ..Default::default()
    };
    let Some(before) = cx
        .output_of::<BackupOutput>("backup")
        .map(|b| b.fingerprint_before)
    else {
        check.skipped = Some(
            "no pre-upgrade fingerprint: the run stopped before the backup, so the database \
             was never touched"
                .into(),
        );
        return Ok(check);
    };
    let window: Option<Fingerprint> = cx
        .output_of::<WindowOutput>("start-writers")
        .and_then(|w| w.fingerprint_at_rollback);
    let client = env.connect().await?;
    let now = fingerprint::fingerprint_like(&client, SCHEMA, &before)
        .await
        .context("fingerprinting the tables after the rollback")?;
    let mut problems = Vec::new();
    for (name, pre) in &before.tables {
        let in_window = window
            .as_ref()
            .and_then(|w| w.tables.get(name))
            .filter(|w| *w != pre);
        if let Some(w) = in_window {
            let verb = if disaster { "lost" } else { "kept" };
            check.window_rows.push(format!(
                "{name}: {:+} rows written while the upgrade stood, {verb}",
                w.rows - pre.rows
            ));
        }
        let expected = if disaster {
            pre
        } else {
            in_window.unwrap_or(pre)
        };
        match now.tables.get(name) {
            None => problems.push(format!("{name}: missing after the rollback")),
            Some(got) if got.rows != expected.rows => problems.push(format!(
                "{name}: {} rows expected, {} found",
                expected.rows, got.rows
            )),
            Some(got) if got.checksum != expected.checksum => {
                problems.push(format!("{name}: same row count, different contents"))
            }
            Some(_) => {}
        }
    }
    check.extra_tables = now
        .tables
        .keys()
        .filter(|t| !before.tables.contains_key(*t))
        .cloned()
        .collect();
    check.compared = before.tables.len();
    check.data_checked_at = Some(Utc::now());
    // Before the recreate, cutover never touched the database: the same server ran throughout,
    // so a difference can only be a client's write during the window (such as a writer that
    // came back, which the failing step has already named). Those rows are live data and are
    // kept; report them rather than call the rollback failed and leave the writers stopped.
    let recreated = cx
        .output_of::<serde_json::Value>("recreate-postgres")
        .is_some();
    if !recreated && !disaster && !problems.is_empty() {
        for p in problems.drain(..) {
            check
                .window_rows
                .push(format!("{p}: written by a client during the window, kept"));
        }
    }
    if !problems.is_empty() {
        return Err(StepError {
            message: format!(
                "after the rollback {} of {} pre-existing tables differ from what they should \
                 hold; the writers were left stopped. Inspect, then restore the backup with \
                 `cutover rollback --disaster --yes`",
                problems.len(),
                before.tables.len()
            ),
            causes: problems,
        });
    }
    cx.log(format!(
        "rollback verified: {} pre-existing tables as expected ({} path)",
        check.compared, check.path
    ));
    for w in &check.window_rows {
        cx.log(w.clone());
    }
    Ok(check)
}

/// Waits until the backend answers healthy; returns its URL.
pub async fn backend_healthy(env: &UpgradeEnv, backend: &str) -> Result<String, StepError> {
    let docker = env.docker().await?;
    let ep = docker
        .resolve_endpoint(backend, BACKEND_PORT)
        .await
        .context("finding the backend's address")?;
    let base = ep.http_base();
    let http = HttpClient::new(Duration::from_secs(3));
    let t = Instant::now();
    loop {
        match http.backend_health(&base).await {
            Ok(_) => return Ok(format!("{base}/health")),
            Err(e) if t.elapsed() > env.ready_timeout => {
                return Err(StepError::new(format!(
                    "the backend is not healthy {}s after the rollback started it: {e}; the \
                     database is back, look at the backend's logs",
                    env.ready_timeout.as_secs()
                )));
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
}
