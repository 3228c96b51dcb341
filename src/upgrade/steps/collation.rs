//! Action `collation`: the guide moves from alpine (musl) to Debian (glibc) on the same data
//! directory and calls it "no data migration required" (DESIGN.md defect 6). Text sorts
//! differently there (musl's en_US.utf8 is code point order, glibc's is not), so btree indexes
//! on collatable columns are out of order on the new server, which starts silently and then
//! answers index scans wrongly.
//!
//! After the recreate and before any writer comes back, this step:
//! 1. decides whether the order changed: the images' C libraries differ or are unknown, the
//!    database's recorded collation version differs from the server's;
//! 2. unless that already decides a rebuild of every index (`auto` with a change, or
//!    `reindex-all`), amchecks every collatable btree index: a broken one is proof enough of a
//!    change (bt_index_check can miss the misordering of others). Skipped when everything is
//!    rebuilt anyway, it would only lengthen the window;
//! 3. REINDEXes per policy: all listed indexes when the order changed (`auto`), or always
//!    (`reindex-all`); only the broken ones otherwise (`check`, or `auto` with no change). The
//!    output is saved after every rebuild, so the journal names what was rebuilt even if the
//!    run is cut; a unique index that cannot be rebuilt because of duplicate keys fails the
//!    step naming the duplicate rows, and the run rolls back. The rebuilds run in parallel
//!    sessions, one per CPU of the engine's host up to 4 (`collation::reindex_in_sessions`);
//! 4. amchecks each rebuilt one right after its rebuild, in its session, and fails if one is
//!    still broken;
//! 5. `ALTER DATABASE … REFRESH COLLATION VERSION` for every database whose recorded version
//!    differs (the other connectable databases get their collatable indexes rebuilt first when
//!    the order changed).
//!
//! Undo: a rebuilt index is in the NEW server's order, which is wrong for the old one. The
//! index files live in the shared data directory, so undoing here (on the new server) cannot
//! help: the fast rollback rebuilds the collatable indexes on the OLD server once it runs
//! again (`crate::upgrade::rollback::collation`). This undo names what was rebuilt and drops
//! amcheck only if this step created it.

use std::sync::Arc;

use anyhow::Context;
use async_trait::async_trait;

use super::{earlier, meta};
use crate::adapters::collation::{self, CheckOutcome, CollationReport, IndexFinding};
use crate::adapters::postgres;
use crate::engine::{Finish, Step, StepContext, StepError};
use crate::upgrade::env::UpgradeEnv;
use crate::upgrade::outputs::{CollationOutput, RecreateOutput};

pub struct Collation {
    pub env: Arc<UpgradeEnv>,
}

/// At most this many REINDEX sessions at once (one per CPU of the engine's host below it).
const REINDEX_SESSIONS_MAX: usize = 4;

fn failed(f: &IndexFinding) -> bool {
    matches!(f.check, CheckOutcome::Failed { .. })
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
        let policy = self.env.collation_policy.as_str();
        if policy == "skip" {
            return Ok(Finish::Skipped("collation_policy is skip".into()));
        }
        let rec: RecreateOutput = earlier(cx, "recreate-postgres")?;
        let docker = self.env.docker().await?;
        let libc = |image: String| async move { docker.detect_libc(&image).await.ok() };
        let libc_before = libc(rec.plan.old_image.clone()).await;
        let libc_after = libc(rec.plan.new_image_id.clone()).await;
        let target = self.env.pg_target().await?;
        let client = postgres::connect(&target)
            .await
            .context("connecting to the new server")?;
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
            changed_because: Vec::new(),
            other_databases: Vec::new(),
        };
        cx.save_output(&out)?;

        let started = std::time::Instant::now();
        let database = postgres::current_database(&client)
            .await
            .context("reading the database name")?;
        let (recorded, actual) = collation::collation_versions(&client)
            .await
            .context("reading collation versions")?;
        if libc_before.is_none() || libc_after.is_none() {
            out.changed_because
                .push("the C library of an image is unknown".into());
        } else if libc_before != libc_after {
            out.changed_because.push(format!(
                "the C library changed ({libc_before:?} -> {libc_after:?})"
            ));
        }
        if recorded.is_some() && recorded != actual {
            out.changed_because.push(format!(
                "the collation version changed ({} -> {})",
                recorded.as_deref().unwrap_or("?"),
                actual.as_deref().unwrap_or("none")
            ));
        }
        // When every index is rebuilt whatever a check finds, checking them first only costs
        // window time: the check after the rebuild is what proves the repair.
        let certain =
            policy == "reindex-all" || (policy == "auto" && !out.changed_because.is_empty());
        let (mut amcheck, findings) = collation::check_all(&client, !certain, false)
            .await
            .context("checking collatable indexes with amcheck")?;
        if certain && amcheck.is_none() && !findings.is_empty() {
            amcheck = Some(
                postgres::create_extension(&client, "amcheck")
                    .await
                    .context("creating amcheck for the check after the rebuild")?,
            );
        }
        let broken = findings.iter().filter(|f| failed(f)).count();
        if broken > 0 {
            out.changed_because.push(format!(
                "amcheck found {broken} index(es) out of order for this server"
            ));
        }
        let changed = !out.changed_because.is_empty();
        cx.log(format!(
            "C library: {libc_before:?} -> {libc_after:?}; {} collatable index(es), {broken} \
             broken; order {}",
            findings.len(),
            if changed {
                format!("changed: {}", out.changed_because.join("; "))
            } else {
                "unchanged".into()
            }
        ));
        let rebuild_all = policy == "reindex-all" || (policy == "auto" && changed);
        out.report = Some(CollationReport {
            database,
            recorded_collation_version: recorded,
            actual_collation_version: actual,
            amcheck,
            findings,
            collation_version_refreshed: false,
            total_ms: 0,
            rebuild_wall_ms: 0,
        });
        cx.save_output(&out)?;

        // Rebuild in parallel sessions, saving after each one: the journal always names what
        // was rebuilt. Each fresh index is amchecked right after, in its session: the rebuilt
        // ones must pass, proof the repair worked on this server.
        let report = out.report.as_ref().unwrap();
        let todo: Vec<usize> = (0..report.findings.len())
            .filter(|&i| rebuild_all || failed(&report.findings[i]))
            .collect();
        let indexes: Vec<_> = todo
            .iter()
            .map(|&i| report.findings[i].index.clone())
            .collect();
        let mut sessions = vec![client];
        let cpus = docker.host_cpus().await.unwrap_or(1) as usize;
        while sessions.len() < cpus.clamp(1, REINDEX_SESSIONS_MAX).min(indexes.len()) {
            sessions.push(
                postgres::connect(&target)
                    .await
                    .context("connecting for a parallel REINDEX")?,
            );
        }
        let mut still_broken = Vec::new();
        let mut save_error = None;
        let rebuild_started = std::time::Instant::now();
        let rebuilt = collation::reindex_in_sessions(&sessions, &indexes, |r| {
            let f = &mut out.report.as_mut().unwrap().findings[todo[r.position]];
            f.reindexed = true;
            f.reindex_ms = r.ms;
            cx.log(format!("REINDEX {} ({} ms)", f.index.qualified_name, r.ms));
            if let CheckOutcome::Failed { message } = &r.check {
                still_broken.push(format!("{}: {message}", f.index.qualified_name));
            }
            if let Err(e) = cx.save_output(&out) {
                save_error.get_or_insert(e);
            }
        })
        .await;
        let client = sessions.swap_remove(0);
        drop(sessions);
        out.report.as_mut().unwrap().rebuild_wall_ms = rebuild_started.elapsed().as_millis() as u64;
        rebuilt.map_err(|e| {
            StepError::new(format!(
                "{e}. Nothing is lost: the run rolls back to the old server, which still \
                 has these rows"
            ))
        })?;
        if let Some(e) = save_error {
            return Err(e);
        }
        if !still_broken.is_empty() {
            return Err(StepError::new(format!(
                "amcheck still fails after REINDEX: {}",
                still_broken.join("; ")
            )));
        }

        if changed {
            for db in collation::other_databases(&client)
                .await
                .context("listing databases")?
            {
                let report = self.other_database(cx, &target, &db).await?;
                out.other_databases.push(report);
                cx.save_output(&out)?;
            }
        }
        let refreshed = collation::refresh_collation_version(&client)
            .await
            .context("refreshing the collation version")?;
        let report = out.report.as_mut().unwrap();
        report.collation_version_refreshed = refreshed;
        report.total_ms = started.elapsed().as_millis() as u64;
        let reindexed = out.reindexed();
        cx.log(format!(
            "{} reindexed; collation version {}",
            reindexed.len(),
            if refreshed {
                "refreshed"
            } else {
                "not recorded (before PostgreSQL 15)"
            }
        ));
        cx.save_output(&out)?;
        Ok(Finish::Ok)
    }

    async fn undo(&self, cx: &StepContext) -> Result<(), StepError> {
        let Some(out) = cx.output::<CollationOutput>() else {
            return Ok(());
        };
        let rebuilt = out.reindexed();
        if !rebuilt.is_empty() {
            // Not undone here: this is still the new server. The fast rollback rebuilds them
            // on the old one (rollback::collation) before any writer returns.
            cx.log(format!(
                "{} index(es) were rebuilt in the new server's collation order and are left \
                 for the old server to rebuild once it runs again: {}",
                rebuilt.len(),
                rebuilt.join(", ")
            ));
        }
        if out.amcheck_preexisting || cx.disaster_rollback() {
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

impl Collation {
    /// Another database of the cluster, when the order changed: every collatable index
    /// rebuilt (no amcheck: it would have to be created there), then its version refreshed.
    async fn other_database(
        &self,
        cx: &StepContext,
        target: &postgres::PgTarget,
        db: &str,
    ) -> Result<CollationReport, StepError> {
        let mut t = target.clone();
        t.credentials.database = db.to_string();
        let client = postgres::connect(&t)
            .await
            .with_context(|| format!("connecting to database {db}"))?;
        let report = collation::run(
            &client,
            collation::CollationOptions {
                check: false,
                heapallindexed: false,
                reindex: collation::ReindexPolicy::All,
                refresh_collation_version: true,
            },
        )
        .await
        .map_err(|e| StepError::new(format!("database {db}: {e}")))?;
        cx.log(format!(
            "database {db}: {} collatable index(es) rebuilt, collation version refreshed",
            report.findings.len()
        ));
        Ok(report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::collation::CollatableIndex;

    fn finding(name: &str, reindexed: bool) -> IndexFinding {
        IndexFinding {
            index: CollatableIndex {
                oid: 1,
                qualified_name: name.into(),
                table: "t".into(),
                method: "btree".into(),
                collations: vec!["default (en_US.utf8)".into()],
                size_bytes: 8192,
            },
            check: CheckOutcome::Passed,
            check_ms: 0,
            reindexed,
            reindex_ms: 0,
        }
    }

    fn report(db: &str, findings: Vec<IndexFinding>) -> CollationReport {
        CollationReport {
            database: db.into(),
            recorded_collation_version: None,
            actual_collation_version: None,
            amcheck: None,
            findings,
            collation_version_refreshed: false,
            total_ms: 0,
            rebuild_wall_ms: 0,
        }
    }

    /// The undo and the rollback read what was rebuilt from here: only rebuilt ones, and
    /// another database's named with it.
    #[test]
    fn reindexed_names_only_rebuilt_indexes_with_their_database() {
        let out = CollationOutput {
            amcheck_preexisting: false,
            libc_before: None,
            libc_after: None,
            report: Some(report(
                "privexbot",
                vec![finding("public.a", true), finding("public.b", false)],
            )),
            changed_because: vec!["x".into()],
            other_databases: vec![report("postgres", vec![finding("public.c", true)])],
        };
        assert_eq!(out.reindexed(), ["public.a", "postgres:public.c"]);
        // A journal written before these fields existed still reads.
        let old = serde_json::json!({
            "amcheck_preexisting": true, "libc_before": null, "libc_after": null, "report": null
        });
        let o: CollationOutput = serde_json::from_value(old).unwrap();
        assert!(o.reindexed().is_empty() && o.changed_because.is_empty());
    }
}
