//! The rehearsal (issue 13), once, on the seeded stack before the rounds: `cutover rehearse
//! --json`, timed spawn to exit. Its own cost (wall time, the copy's bytes) and its forecast,
//! which the report then sets beside what the rounds measure with the real `cutover run`.

use std::path::Path;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use serde_json::Value;

use super::run::cutover;

pub struct Rehearsed {
    pub wall_ms: f64,
    pub copy_bytes: f64,
    pub copy_ms: f64,
    pub live_bytes: f64,
    pub forecast_db_ms: Option<f64>,
    pub forecast_app_ms: Option<f64>,
    pub forecast_reindex_ms: Option<f64>,
    pub forecast_rollback_ms: Option<f64>,
    pub backup_bytes: Option<f64>,
}

pub async fn once(dir: &Path) -> Result<Rehearsed> {
    let t = Instant::now();
    let out = cutover(dir, &["--json", "rehearse"]).await?;
    let wall_ms = t.elapsed().as_secs_f64() * 1000.0;
    if !out.ok {
        bail!("cutover rehearse failed:\n{}\n{}", out.stdout, out.stderr);
    }
    let r: Value = serde_json::from_str(&out.stdout).context("rehearse --json output")?;
    let f = &r["forecast"];
    let n = |v: &Value| v.as_f64();
    Ok(Rehearsed {
        wall_ms,
        copy_bytes: n(&r["copy_bytes"]).unwrap_or(0.0),
        copy_ms: n(&r["copy_ms"]).unwrap_or(0.0),
        live_bytes: n(&r["live_bytes"]).unwrap_or(0.0),
        forecast_db_ms: n(&f["db_downtime_ms"]),
        forecast_app_ms: n(&f["app_downtime_ms"]),
        forecast_reindex_ms: n(&f["reindex_ms"]),
        forecast_rollback_ms: n(&f["rollback_ms"]),
        backup_bytes: n(&f["backup_bytes"]),
    })
}
