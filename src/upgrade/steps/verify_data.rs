//! Check `verify-data`: every table that existed before the upgrade has exactly the rows it had
//! (count and content checksum) after the image change, the reindex and the migrations.
//!
//! Why here, before the writers start again: the "before" fingerprint was taken with the
//! writers stopped, so right now any difference is the upgrade's doing. Once the worker runs,
//! its tables change legitimately and equality would prove nothing; `backend-healthy` reports
//! those rows as added since, without failing. Tables the migrations created are listed as new
//! and left out of the comparison.

use std::sync::Arc;

use anyhow::Context;
use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::{earlier, meta};
use crate::adapters::fingerprint::{self, Fingerprint};
use crate::engine::{Finish, Step, StepContext, StepError};
use crate::upgrade::env::UpgradeEnv;
use crate::upgrade::outputs::{BackupOutput, SCHEMA};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct VerifyOutput {
    pub fingerprint_after: Fingerprint,
    /// Tables present now that were not before (the migrations' and their history table).
    pub new_tables: Vec<String>,
    pub compared: usize,
}

pub struct VerifyData {
    pub env: Arc<UpgradeEnv>,
}

#[async_trait]
impl Step for VerifyData {
    meta!(
        "verify-data",
        "Every pre-existing table unchanged (fingerprints)",
        Check
    );

    fn touches(&self) -> Vec<String> {
        vec![format!(
            "every table of schema {SCHEMA} that existed before: row count and checksum"
        )]
    }

    async fn run(&self, cx: &StepContext) -> Result<Finish, StepError> {
        let b: BackupOutput = earlier(cx, "backup")?;
        let client = self.env.connect().await?;
        // A writer that came back after the recreate would make the comparison fail with a
        // table name only; name the container instead.
        super::sessions::refuse_late_clients(&self.env, &client, "after postgres was recreated")
            .await?;
        let after = fingerprint::fingerprint_like(&client, SCHEMA, &b.fingerprint_before)
            .await
            .context("fingerprinting the tables after the upgrade")?;
        let before = &b.fingerprint_before;
        let mut problems = Vec::new();
        let mut new_tables = Vec::new();
        for line in before.diff(&after) {
            if line.contains(": new table (") {
                new_tables.push(line.split(':').next().unwrap_or("").to_string());
            } else {
                problems.push(line);
            }
        }
        let out = VerifyOutput {
            fingerprint_after: after,
            new_tables: new_tables.clone(),
            compared: before.tables.len(),
        };
        cx.save_output(&out)?;
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
            "{} pre-existing tables identical; new: {}",
            before.tables.len(),
            if new_tables.is_empty() {
                "none".into()
            } else {
                new_tables.join(", ")
            }
        ));
        Ok(Finish::Ok)
    }
}
