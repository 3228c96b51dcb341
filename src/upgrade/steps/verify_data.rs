//! Check `verify-data`: every table that existed before the upgrade has exactly the rows it had
//! after the image change, the reindex and the migrations; the last check before the writers
//! start again, so any difference now is the upgrade's doing.
//!
//! Two ways, by what `backup` did:
//! - it fingerprinted the tables (a logical backup, or no WAL position): the tables are read
//!   again now and compared, count and checksum, as before issue 14;
//! - it deferred the fingerprint (the physical backup): `postgres-ready` showed the new server
//!   resumed exactly the stopped cluster and noted each table's identity and row-change
//!   counters. Equal counters now, with every other session gone, prove no row of a
//!   pre-existing table changed since, in milliseconds whatever the size
//!   (`adapters::postgres::activity_since`). The snapshot of this moment is then opened and
//!   both are read row for row by `verify-fingerprints` once the application is back.
//!   When the counters cannot prove it (a migration wrote to an old table, `track_counts` off,
//!   a session that will not leave), the rows are read here after all: the state at the stop
//!   from its snapshot (or, after a restart of cutover lost it, from the physical backup),
//!   against the tables now. So the writers never come back on less than today's proof.
//!
//! Tables the migrations created are listed as new and left out of the comparison.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::postgres_ready::ReadyOutput;
use super::{earlier, meta};
use crate::adapters::fingerprint::{self, Fingerprint};
use crate::adapters::postgres;
use crate::engine::{Finish, Step, StepContext, StepError};
use crate::upgrade::env::UpgradeEnv;
use crate::upgrade::outputs::{BackupOutput, SCHEMA};

/// How long the proof waits for sessions of the window (a migration one-off's) to leave.
const SETTLE: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct VerifyOutput {
    /// Empty when `deferred`: `verify-fingerprints` reads it after the window.
    pub fingerprint_after: Fingerprint,
    /// Tables present now that were not before (the migrations' and their history table).
    pub new_tables: Vec<String>,
    pub compared: usize,
    /// The rows were not read here: the proof below holds, and both snapshots are read after
    /// the window.
    #[serde(default)]
    pub deferred: bool,
    /// What was shown instead of reading the rows, or why the rows were read after all.
    #[serde(default)]
    pub proof: Vec<String>,
    /// The state at the stop, when it was read here (see the module comment).
    #[serde(default)]
    pub fingerprint_before: Option<Fingerprint>,
}

pub struct VerifyData {
    pub env: Arc<UpgradeEnv>,
}

#[async_trait]
impl Step for VerifyData {
    meta!(
        "verify-data",
        "Every pre-existing table unchanged before the writers return",
        Check
    );

    fn touches(&self) -> Vec<String> {
        vec![format!(
            "every table of schema {SCHEMA} that existed before: row count and checksum, or \
             (physical backup) identity and row-change counters, the rows read after the window"
        )]
    }

    fn timeout(&self) -> Duration {
        Duration::from_secs(3600)
    }

    async fn run(&self, cx: &StepContext) -> Result<Finish, StepError> {
        let b: BackupOutput = earlier(cx, "backup")?;
        let client = self.env.connect().await?;
        // A writer that came back after the recreate would make the comparison fail with a
        // table name only; name the container instead.
        super::sessions::refuse_late_clients(&self.env, &client, "after postgres was recreated")
            .await?;
        if !b.deferred {
            let after = fingerprint::fingerprint_like(&client, SCHEMA, &b.fingerprint_before)
                .await
                .context("fingerprinting the tables after the upgrade")?;
            return self
                .compared(cx, &b.fingerprint_before, after, Vec::new(), None)
                .map(|_| Finish::Ok);
        }
        let ready: ReadyOutput = earlier(cx, "postgres-ready")?;
        let at_start = ready.tables_at_start.unwrap_or_default();
        let activity =
            postgres::activity_since(&client, SCHEMA, &at_start, &self.env.held.pids(), SETTLE)
                .await
                .context("reading the tables' row-change counters")?;
        let held = self.env.held.at_start.lock().await.is_some();
        let mut proof: Vec<String> = ready
            .resumed
            .iter()
            .map(|r| format!("resumed: {r}"))
            .collect();
        if activity.unproven.is_empty() && held {
            let target = self.env.pg_target().await?;
            let snapshot = self
                .env
                .held
                .open(&target, SCHEMA)
                .await
                .context("opening the snapshot before the writers")?;
            *self.env.held.before_writers.lock().await = Some(snapshot);
            proof.push(format!(
                "none of the {} pre-existing tables was written since the first login (same \
                 file, columns and row-change counters; no other session)",
                at_start.len()
            ));
            cx.log(format!(
                "{}; {}; the rows are compared once the application is back",
                proof.join("; "),
                new_list(&activity.new_tables)
            ));
            cx.save_output(&VerifyOutput {
                fingerprint_after: Fingerprint::default(),
                new_tables: activity.new_tables,
                compared: at_start.len(),
                deferred: true,
                proof,
                fingerprint_before: None,
            })?;
            return Ok(Finish::Ok);
        }
        // The rows are read now, with the writers still stopped.
        let before = match self.env.held.take_at_start().await {
            Some(s) => {
                proof.extend(activity.unproven.iter().map(|u| format!("not shown: {u}")));
                s.fingerprint()
                    .await
                    .context("reading the snapshot of the stop")?
            }
            None if activity.unproven.is_empty() => {
                // cutover restarted since the first login (the snapshot went with it), but
                // nothing wrote since: the tables now ARE the state at the stop.
                proof.push(
                    "the snapshot of the stop was lost with a restart of cutover; nothing wrote \
                     to a pre-existing table since the first login, so the tables now are the \
                     stop's"
                        .into(),
                );
                let now = fingerprint::fingerprint(&client, SCHEMA)
                    .await
                    .context("fingerprinting the tables")?;
                Fingerprint {
                    method: now.method,
                    tables: now
                        .tables
                        .into_iter()
                        .filter(|(t, _)| at_start.contains_key(t))
                        .collect(),
                }
            }
            None => {
                let p = b.physical.as_ref().ok_or_else(|| {
                    StepError::new("a deferred fingerprint without a physical backup")
                })?;
                proof.extend(activity.unproven.iter().map(|u| format!("not shown: {u}")));
                proof.push("the state at the stop read from the physical backup".into());
                crate::upgrade::portable_dump::fingerprint_physical(
                    &self.env,
                    p,
                    fingerprint::Method::default(),
                )
                .await
                .context("fingerprinting the physical backup")?
            }
        };
        cx.log(format!("rows read inside the window: {}", proof.join("; ")));
        let after = fingerprint::fingerprint_like(&client, SCHEMA, &before)
            .await
            .context("fingerprinting the tables after the upgrade")?;
        self.compared(cx, &before, after, proof, Some(before.clone()))
            .map(|_| Finish::Ok)
    }
}

impl VerifyData {
    /// Journals the comparison of `before` and `after`; fails naming every table that differs.
    fn compared(
        &self,
        cx: &StepContext,
        before: &Fingerprint,
        after: Fingerprint,
        proof: Vec<String>,
        before_read_here: Option<Fingerprint>,
    ) -> Result<(), StepError> {
        let (problems, new_tables) = differences(before, &after);
        cx.save_output(&VerifyOutput {
            fingerprint_after: after,
            new_tables: new_tables.clone(),
            compared: before.tables.len(),
            deferred: false,
            proof,
            fingerprint_before: before_read_here,
        })?;
        if !problems.is_empty() {
            return Err(StepError {
                message: format!(
                    "{} of {} pre-existing tables differ from before the upgrade",
                    problems.len(),
                    before.tables.len()
                ),
                causes: problems,
            });
        }
        cx.log(format!(
            "{} pre-existing tables identical; {}",
            before.tables.len(),
            new_list(&new_tables)
        ));
        Ok(())
    }
}

/// (what differs, tables that are new) between `before` and `after`.
pub fn differences(before: &Fingerprint, after: &Fingerprint) -> (Vec<String>, Vec<String>) {
    let mut problems = Vec::new();
    let mut new_tables = Vec::new();
    for line in before.diff(after) {
        if line.contains(": new table (") {
            new_tables.push(line.split(':').next().unwrap_or("").to_string());
        } else {
            problems.push(line);
        }
    }
    (problems, new_tables)
}

fn new_list(new_tables: &[String]) -> String {
    if new_tables.is_empty() {
        "new: none".into()
    } else {
        format!("new: {}", new_tables.join(", "))
    }
}
