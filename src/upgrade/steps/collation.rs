//! Action `collation`: the guide moves from alpine (musl) to Debian (glibc) on the same data
//! directory and calls it "no data migration required" (DESIGN.md defect 6). Text sorts
//! differently under another C library, so btree indexes on collatable columns may be out of
//! order. This step compares the two images' C libraries, checks the collatable indexes with
//! amcheck and REINDEXes per `collation_policy`; the report lists what was reindexed.
//!
//! Undo drops amcheck only if this step created it. A REINDEX needs no undo: it rebuilds the
//! same index from the table's data.

use std::sync::Arc;

use anyhow::Context;
use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::recreate_postgres::RecreateOutput;
use super::{earlier, meta};
use crate::adapters::collation::{self, CollationOptions, CollationReport, ReindexPolicy};
use crate::adapters::docker::Libc;
use crate::adapters::postgres;
use crate::engine::{Finish, Step, StepContext, StepError};
use crate::upgrade::env::UpgradeEnv;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CollationOutput {
    /// amcheck was installed before this step: undo leaves it.
    pub amcheck_preexisting: bool,
    pub libc_before: Option<Libc>,
    pub libc_after: Option<Libc>,
    pub report: Option<CollationReport>,
}

impl CollationOutput {
    /// `schema.index` of every reindexed index.
    pub fn reindexed(&self) -> Vec<String> {
        self.report
            .iter()
            .flat_map(|r| r.findings.iter())
            .filter(|f| f.reindexed)
            .map(|f| f.index.qualified_name.clone())
            .collect()
    }
}

pub struct Collation {
    pub env: Arc<UpgradeEnv>,
}

#[async_trait]
impl Step for Collation {
    meta!(
        "collation",
        "Collation check (amcheck) and REINDEX where needed",
        Action
    );

    fn touches(&self) -> Vec<String> {
        vec![format!(
            "{}: btree indexes on collatable columns (policy {})",
            self.env.facts.postgres.container, self.env.collation_policy
        )]
    }

    fn timeout(&self) -> std::time::Duration {
        std::time::Duration::from_secs(3600)
    }

    async fn run(&self, cx: &StepContext) -> Result<Finish, StepError> {
        if self.env.collation_policy == "skip" {
            return Ok(Finish::Skipped("collation_policy is skip".into()));
        }
        let rec: RecreateOutput = earlier(cx, "recreate-postgres")?;
        let docker = self.env.docker().await?;
        let libc = |image: String| async move { docker.detect_libc(&image).await.ok() };
        let libc_before = libc(rec.plan.old_image.clone()).await;
        let libc_after = libc(rec.plan.new_image_id.clone()).await;
        let changed = libc_before.is_none() || libc_before != libc_after;
        cx.log(format!(
            "C library: {libc_before:?} -> {libc_after:?}{}",
            if changed { " (changed or unknown)" } else { "" }
        ));
        let client = self.env.connect().await?;
        // Journaled before amcheck may be created, so undo knows whether it is ours.
        let preexisting = match cx.output::<CollationOutput>() {
            Some(o) => o.amcheck_preexisting,
            None => postgres::installed_extension(&client, "amcheck")
                .await
                .context("looking for amcheck")?
                .is_some(),
        };
        let mut out = CollationOutput {
            amcheck_preexisting: preexisting,
            libc_before,
            libc_after,
            report: None,
        };
        cx.save_output(&out)?;
        let (check, reindex) = match self.env.collation_policy.as_str() {
            "reindex-all" => (false, ReindexPolicy::All),
            "check" => (true, ReindexPolicy::Failed),
            _ if changed => (true, ReindexPolicy::All),
            _ => (true, ReindexPolicy::Failed),
        };
        let report = collation::run(
            &client,
            CollationOptions {
                check,
                heapallindexed: false,
                reindex,
                refresh_collation_version: true,
            },
        )
        .await
        .context("checking collatable indexes")?;
        let failed = report
            .findings
            .iter()
            .filter(|f| matches!(f.check, collation::CheckOutcome::Failed { .. }))
            .count();
        out.report = Some(report);
        let reindexed = out.reindexed();
        cx.log(format!(
            "{} collatable index(es), {failed} failed amcheck, {} reindexed",
            out.report.as_ref().map_or(0, |r| r.findings.len()),
            reindexed.len()
        ));
        for i in &reindexed {
            cx.log(format!("REINDEX {i}"));
        }
        cx.save_output(&out)?;
        Ok(Finish::Ok)
    }

    async fn undo(&self, cx: &StepContext) -> Result<(), StepError> {
        let Some(out) = cx.output::<CollationOutput>() else {
            return Ok(());
        };
        if out.amcheck_preexisting {
            return Ok(());
        }
        let client = self.env.connect().await?;
        if postgres::drop_extension(&client, "amcheck", false)
            .await
            .context("dropping amcheck")?
        {
            cx.log("dropped amcheck (created by this step)");
        }
        Ok(())
    }
}
