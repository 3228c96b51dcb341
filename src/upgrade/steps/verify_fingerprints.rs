//! Check `verify-fingerprints`, once the application is back: reads the two snapshots the
//! window opened but did not read (`crate::upgrade::held`), the state at the stop and the
//! state just before the writers returned, and compares them row for row (count and
//! checksum of every pre-existing table). The same comparison `verify-data` used to make inside
//! the window, on the same two moments; only when it is paid has changed.
//!
//! It runs after `backend-healthy`, so the application's downtime never includes it. A
//! difference fails the run, which then rolls back: the fast rollback keeps whatever the
//! writers wrote since. It cannot differ unless the proof `verify-data` relied on was wrong.
//!
//! After a restart of cutover the snapshots are gone: the state at the stop is then read from
//! the physical backup, and the state before the writers cannot be read again; the output says
//! that the window's proof stands alone. Also reports the rows the writers added since (it
//! used to be `backend-healthy`'s), by row counts.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::verify_data::{VerifyOutput, differences};
use super::{earlier, meta};
use crate::adapters::fingerprint::{Fingerprint, Snapshot};
use crate::engine::{Finish, Step, StepContext, StepError};
use crate::upgrade::env::UpgradeEnv;
use crate::upgrade::outputs::{BackupOutput, SCHEMA};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FingerprintsOutput {
    /// The state at the stop.
    pub before: Option<Fingerprint>,
    /// The state just before the writers started again; None when it could not be read.
    pub after: Option<Fingerprint>,
    pub new_tables: Vec<String>,
    pub compared: usize,
    /// Why a side was not read, when one was not.
    pub note: Option<String>,
    pub read_ms: u64,
    pub rows_since: Vec<String>,
}

pub struct VerifyFingerprints {
    pub env: Arc<UpgradeEnv>,
}

#[async_trait]
impl Step for VerifyFingerprints {
    meta!(
        "verify-fingerprints",
        "Rows at the stop = rows before the writers (read after the window)",
        Check
    );

    fn touches(&self) -> Vec<String> {
        vec![format!(
            "every table of schema {SCHEMA} that existed before, in the two snapshots the window \
             opened: row count and checksum"
        )]
    }

    fn timeout(&self) -> Duration {
        Duration::from_secs(3600)
    }

    async fn run(&self, cx: &StepContext) -> Result<Finish, StepError> {
        let v: VerifyOutput = earlier(cx, "verify-data")?;
        if !v.deferred {
            return Ok(Finish::Skipped(
                "verify-data read the rows inside the window".into(),
            ));
        }
        let b: BackupOutput = earlier(cx, "backup")?;
        let t = std::time::Instant::now();
        let at_start = self.env.held.take_at_start().await;
        let before_writers = self.env.held.take_before_writers().await;
        let (before, after, note) = match (at_start, before_writers) {
            (Some(s), Some(w)) => {
                // Two sessions, read side by side: the server's parallel workers and the
                // second core share the load.
                let (before, after) = tokio::join!(s.fingerprint(), w.fingerprint());
                (
                    before.context("reading the snapshot of the stop")?,
                    Some(after.context("reading the snapshot before the writers")?),
                    None,
                )
            }
            (s, _) => {
                let before = match s {
                    Some(s) => s.fingerprint().await.context("reading the snapshot")?,
                    None => {
                        let p = b.physical.as_ref().ok_or_else(|| {
                            StepError::new("a deferred fingerprint without a physical backup")
                        })?;
                        crate::upgrade::portable_dump::fingerprint_physical(
                            &self.env,
                            p,
                            Default::default(),
                        )
                        .await
                        .context("fingerprinting the physical backup")?
                    }
                };
                let note = "cutover restarted after the window, and the snapshot of the moment \
                            before the writers went with it: that side rests on verify-data's \
                            proof alone (identity and row-change counters)";
                cx.log(note);
                (before, None, Some(note.to_string()))
            }
        };
        let mut out = FingerprintsOutput {
            compared: before.tables.len(),
            new_tables: Vec::new(),
            note,
            read_ms: t.elapsed().as_millis() as u64,
            rows_since: Vec::new(),
            after: after.clone(),
            before: Some(before.clone()),
        };
        if let Some(after) = &after {
            let (problems, new_tables) = differences(&before, after);
            out.new_tables = new_tables;
            if !problems.is_empty() {
                cx.save_output(&out)?;
                return Err(StepError {
                    message: format!(
                        "{} of {} pre-existing tables differ between the stop and the moment \
                         before the writers started again, although their counters showed no \
                         change: the run rolls back (the writers' new rows are kept)",
                        problems.len(),
                        before.tables.len()
                    ),
                    causes: problems,
                });
            }
            cx.log(format!(
                "{} pre-existing tables identical at the stop and before the writers ({:.1} s, \
                 after the window)",
                before.tables.len(),
                out.read_ms as f64 / 1000.0
            ));
        }
        out.rows_since = rows_since(&self.env, &before).await?;
        for r in &out.rows_since {
            cx.log(r.clone());
        }
        cx.save_output(&out)?;
        Ok(Finish::Ok)
    }
}

/// Per pre-existing table whose row count moved: by how much since the stop (row counts
/// only: the checksums of tables the writers change say nothing more).
pub async fn rows_since(env: &UpgradeEnv, before: &Fingerprint) -> Result<Vec<String>, StepError> {
    let client = env.connect().await?;
    let now = Snapshot::open(&client, SCHEMA, before.method)
        .await?
        .row_counts()
        .await
        .context("counting the rows after the restart")?;
    Ok(before
        .tables
        .iter()
        .filter_map(|(name, b)| {
            let a = now.tables.get(name)?;
            (a.rows != b.rows).then(|| {
                format!(
                    "{name}: {:+} rows since the writers restarted",
                    a.rows - b.rows
                )
            })
        })
        .collect())
}
