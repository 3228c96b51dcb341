//! Check `postgres-ready`: the new postgres is ready when its log says "database system is
//! ready to accept connections" AND a real login plus `SELECT 1` succeeds (the guide's "wait
//! 10-30 seconds" is guesswork, DESIGN.md defect 8). Database downtime ends at that answer.

use std::sync::Arc;

use anyhow::Context;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{earlier, meta, now};
use crate::adapters::docker::{Readiness, ReadyReport};
use crate::adapters::postgres;
use crate::engine::{Finish, Step, StepContext, StepError};
use crate::upgrade::env::UpgradeEnv;
use crate::upgrade::outputs::RecreateOutput;

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
        let out = ReadyOutput {
            db_downtime_ms: (answered_at - rec.stop_issued_at).num_milliseconds(),
            readiness,
            answered_at,
            server_after: server.text,
            image_after: st.image,
            image_id_after: st.image_id,
        };
        cx.log(format!(
            "ready ({}); server {}; database downtime so far {:.1}s",
            out.readiness.condition,
            out.server_after,
            out.db_downtime_ms as f64 / 1000.0
        ));
        cx.save_output(&out)?;
        Ok(Finish::Ok)
    }
}
