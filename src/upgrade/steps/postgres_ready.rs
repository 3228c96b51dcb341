//! Check `postgres-ready`: the new postgres is ready when its log says "database system is
//! ready to accept connections" AND a real login plus `SELECT 1` succeeds (the guide's "wait
//! 10-30 seconds" is guesswork, DESIGN.md defect 8). Database downtime ends at that answer.
//!
//! With the physical backup the window reads no table (`crate::upgrade::held`); this step then
//! also proves the server resumed exactly the stopped cluster (same system identifier, latest
//! checkpoint at or after the stop's WAL position) and opens the snapshot of the stop.

use std::sync::Arc;

use anyhow::Context;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{earlier, meta, now};
use crate::adapters::docker::{Readiness, ReadyReport};
use crate::adapters::postgres;
use crate::adapters::postgres::TableStates;
use crate::engine::{Finish, Step, StepContext, StepError};
use crate::upgrade::env::UpgradeEnv;
use crate::upgrade::outputs::{BackupOutput, RecreateOutput, SCHEMA};

pub const READY_LINE: &str = "database system is ready to accept connections";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReadyOutput {
    pub readiness: ReadyReport,
    /// When the new server first answered a real query: the end of database downtime.
    pub answered_at: DateTime<Utc>,
    pub db_downtime_ms: i64,
    pub server_after: String,
    pub image_after: String,
    pub image_id_after: String,
    /// With a deferred fingerprint (`BackupOutput::deferred`): how the server was shown to
    /// resume exactly the stopped cluster.
    #[serde(default)]
    pub resumed: Option<String>,
    /// The pre-existing tables' identity and row-change counters at the first login, for
    /// `verify-data`'s proof that nothing wrote to them in the window, and for a disaster
    /// rollback's report of the writers' rows.
    #[serde(default)]
    pub tables_at_start: Option<TableStates>,
}

pub struct PostgresReady {
    pub env: Arc<UpgradeEnv>,
}

#[async_trait]
impl Step for PostgresReady {
    meta!(
        "postgres-ready",
        "New postgres ready: log line and a real query",
        Check
    );

    fn touches(&self) -> Vec<String> {
        vec![format!(
            "{}: log {READY_LINE:?} and SELECT 1 (timeout {}s)",
            self.env.facts.postgres.container,
            self.env.ready_timeout.as_secs()
        )]
    }

    fn timeout(&self) -> std::time::Duration {
        self.env.ready_timeout + std::time::Duration::from_secs(30)
    }

    async fn run(&self, cx: &StepContext) -> Result<Finish, StepError> {
        let rec: RecreateOutput = earlier(cx, "recreate-postgres")?;
        let docker = self.env.docker().await?;
        let target = self.env.pg_target().await?;
        let probe_target = target.clone();
        let cond = Readiness::All(vec![
            Readiness::LogLine {
                pattern: READY_LINE.into(),
                since: rec.stop_issued_at,
            },
            Readiness::probe("login and SELECT 1", move || {
                let t = probe_target.clone();
                async move {
                    let c = postgres::connect(&t).await.map_err(|e| e.to_string())?;
                    c.simple_query("SELECT 1")
                        .await
                        .map_err(|e| e.to_string())?;
                    Ok(())
                }
            }),
        ]);
        let readiness = docker
            .wait_ready(&rec.plan.name, &cond, self.env.ready_timeout)
            .await
            .context("waiting for the new postgres")?;
        let client = postgres::connect(&target).await.context("connecting")?;
        client.simple_query("SELECT 1").await.context("SELECT 1")?;
        let answered_at = now();
        let server = postgres::server_version(&client)
            .await
            .context("reading the new server version")?;
        let st = docker.status(&rec.plan.name).await.context("status")?;
        let b: BackupOutput = earlier(cx, "backup")?;
        let hold = b.deferred.then_some(b.stop_wal.as_ref()).flatten();
        // The tables' counters before any client but this one: `verify-data`'s proof reads
        // them (`hold_the_stop`), and a disaster rollback reports the writers' rows from them
        // (`rollback::window`). One catalog query.
        let tables_at_start = match hold {
            Some(_) => None,
            None => postgres::table_states(&client, SCHEMA).await.ok(),
        };
        let out = ReadyOutput {
            db_downtime_ms: (answered_at - rec.stop_issued_at).num_milliseconds(),
            readiness,
            answered_at,
            server_after: server.text,
            image_after: st.image,
            image_id_after: st.image_id,
            resumed: None,
            tables_at_start,
        };
        cx.log(format!(
            "ready ({}); server {}; database downtime so far {:.1}s",
            out.readiness.condition,
            out.server_after,
            out.db_downtime_ms as f64 / 1000.0
        ));
        cx.save_output(&out)?;
        if let Some(stop) = hold {
            self.hold_the_stop(cx, &client, &target, stop, out).await?;
        }
        Ok(Finish::Ok)
    }
}

impl PostgresReady {
    /// The window read no table (`crate::upgrade::held`): show that this server resumed
    /// exactly the cluster stopped at `stop`, note the tables' counters, and open the snapshot
    /// that keeps the state at the stop for `verify-fingerprints`. Before the first writer or
    /// step of ours writes: the new server has had no client but this one.
    async fn hold_the_stop(
        &self,
        cx: &StepContext,
        client: &tokio_postgres::Client,
        target: &postgres::PgTarget,
        stop: &postgres::WalPosition,
        mut out: ReadyOutput,
    ) -> Result<(), StepError> {
        let resumed = postgres::resumed_from(client, stop)
            .await
            .context("reading where the new server resumed")?;
        if let Some(gap) = resumed.gap(stop) {
            return Err(StepError::new(format!(
                "the new server did not resume the cluster that was stopped: {gap}. Nothing \
                 was written to it yet; the run rolls back to the old server"
            )));
        }
        let proof = format!(
            "cluster {}, checkpoint {} at or after the stop's {}",
            resumed.system_identifier, resumed.checkpoint_lsn, stop.lsn
        );
        cx.log(format!("resumed exactly the stopped cluster: {proof}"));
        out.resumed = Some(proof);
        out.tables_at_start = Some(
            postgres::table_states(client, SCHEMA)
                .await
                .context("reading the tables' counters")?,
        );
        let snapshot = self
            .env
            .held
            .open(target, SCHEMA)
            .await
            .context("opening the snapshot of the stop")?;
        *self.env.held.at_start.lock().await = Some(snapshot);
        cx.save_output(&out)?;
        Ok(())
    }
}
