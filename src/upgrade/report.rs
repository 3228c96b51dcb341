//! The upgrade's part of the run report, read from the journaled step outputs alone: versions
//! and image digests before and after, database and application downtime as measured, the
//! backup (path, size, sha256), fingerprints before and after, reindexed indexes, warnings.
//!
//! Invariant: every figure is one a step measured and journaled; a figure a run never reached
//! is absent, never guessed.

use std::fmt::Write as _;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::steps::backend_healthy::HealthyOutput;
use super::steps::postgres_ready::ReadyOutput;
use super::steps::pull_images::PullOutput;
use super::steps::verify_data::VerifyOutput;
use super::steps::verify_fingerprints::FingerprintsOutput;
use crate::adapters::backup::BackupRecord;
use crate::adapters::fingerprint::Fingerprint;
use crate::engine::recovery::RunState;
use crate::engine::{Finish, StepKind, StepState};
use crate::upgrade::outputs::{
    BackupOutput, CollationOutput, Discovery, MigrationsOutput, RecreateOutput, Versions,
    fingerprint_before,
};

#[derive(Debug, Clone, Serialize, Default)]
pub struct UpgradeFacts {
    pub server_before: Option<String>,
    pub server_after: Option<String>,
    pub image_before: Option<String>,
    pub image_id_before: Option<String>,
    pub digest_before: Option<String>,
    pub image_after: Option<String>,
    pub image_id_after: Option<String>,
    pub digest_after: Option<String>,
    pub qdrant_image_id: Option<String>,
    pub db_downtime_ms: Option<i64>,
    pub app_downtime_ms: Option<i64>,
    pub backup: Option<BackupRecord>,
    /// The physical backup of the state at the stop, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub physical_backup: Option<crate::upgrade::outputs::PhysicalBackup>,
    pub fingerprint_before: Option<Fingerprint>,
    pub fingerprint_after: Option<Fingerprint>,
    pub new_tables: Vec<String>,
    pub rows_since: Vec<String>,
    pub reindexed: Vec<String>,
    pub migrations: Vec<String>,
    pub skipped_services: Vec<String>,
    pub old_container_kept: Option<String>,
    pub warnings: Vec<String>,
    /// Why the fingerprint comparison happens when it does (for readers of the report).
    pub fingerprint_note: &'static str,
    /// The target image as the pre-flight pinned and measured it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub preflight: Option<super::preflight_report::PreflightFacts>,
    /// The rehearsal the checklist counted (its forecast, beside what this run measured).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rehearsal: Option<crate::upgrade::rehearse::Rehearsal>,
    /// Present once the run was rolled back (or a rollback began).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rollback: Option<super::rollback::report::RollbackFacts>,
}

pub const FINGERPRINT_NOTE: &str = "The 'before' fingerprint was taken with every writer stopped, \
just before the final backup; 'after' was taken after the migrations and before the writers \
started again, so any difference would be the upgrade's. Rows the writers added afterwards are \
listed separately and are expected.";

pub const FINGERPRINT_NOTE_DEFERRED: &str = "The window read no table: the new server was shown \
to resume exactly the stopped cluster, and no pre-existing table was written before the writers \
started again (same files, columns and row-change counters). 'Before' (the new server's first \
login) and 'after' (just before the writers) are snapshots opened in the window and read after \
it, so any difference would still be the upgrade's. Rows the writers added afterwards are \
listed separately and are expected.";

fn out<T: DeserializeOwned>(s: &RunState, id: &str) -> Option<T> {
    serde_json::from_value(s.steps.get(id)?.output.clone()?).ok()
}

impl UpgradeFacts {
    pub fn from_state(s: &RunState) -> Self {
        let mut f = UpgradeFacts {
            fingerprint_note: FINGERPRINT_NOTE,
            ..Default::default()
        };
        if let Some(v) = out::<Versions>(s, "versions") {
            f.server_before = Some(v.server_before);
            f.image_before = Some(v.image_before);
            f.image_id_before = Some(v.image_id_before);
            f.digest_before = v.digest_before;
        }
        if let Some(p) = out::<PullOutput>(s, "pull-images") {
            f.digest_after = p.target.digest;
            f.qdrant_image_id = Some(p.qdrant.id);
        }
        if let Some(r) = out::<ReadyOutput>(s, "postgres-ready") {
            f.server_after = Some(r.server_after);
            f.image_after = Some(r.image_after);
            f.image_id_after = Some(r.image_id_after);
            f.db_downtime_ms = Some(r.db_downtime_ms);
        }
        if let Some(h) = out::<HealthyOutput>(s, "backend-healthy") {
            f.app_downtime_ms = h.app_downtime_ms;
            f.rows_since = h.rows_since;
        }
        if let Some(b) = out::<BackupOutput>(s, "backup") {
            f.backup = b.record.or_else(|| {
                out::<crate::upgrade::outputs::PortableDumpOutput>(s, "portable-dump")
                    .and_then(|p| p.record)
            });
            f.physical_backup = b.physical;
            if b.deferred {
                f.fingerprint_note = FINGERPRINT_NOTE_DEFERRED;
            }
        }
        f.fingerprint_before = fingerprint_before(|id| out(s, id));
        if let Some(v) = out::<VerifyOutput>(s, "verify-data") {
            f.fingerprint_after = if v.deferred {
                out::<FingerprintsOutput>(s, "verify-fingerprints").and_then(|o| o.after)
            } else {
                Some(v.fingerprint_after)
            };
            f.new_tables = v.new_tables;
        }
        if let Some(o) = out::<FingerprintsOutput>(s, "verify-fingerprints") {
            f.rows_since.extend(o.rows_since);
        }
        if let Some(c) = out::<CollationOutput>(s, "collation") {
            f.reindexed = c.reindexed();
        }
        if let Some(app) = out::<MigrationsOutput>(s, "migrations").and_then(|m| m.app) {
            f.migrations = vec![format!(
                "migrations_command `{}` ({})",
                app.command,
                app.exit_code
                    .map_or("did not finish".to_string(), |c| format!("exit code {c}"))
            )];
            if let Some(undo) = app.undo {
                f.warnings.push(format!("migrations (undo): {undo}"));
            }
        } else if let Some(m) = out::<MigrationsOutput>(s, "migrations") {
            f.migrations = m
                .ran
                .iter()
                .map(|r| {
                    format!(
                        "{:04} {} {} ({} ms)",
                        r.version, r.name, r.direction, r.duration_ms
                    )
                })
                .collect();
        }
        if let Some(d) = out::<Discovery>(s, "discover") {
            f.skipped_services = d.absent;
        }
        f.preflight = super::preflight_report::PreflightFacts::from_state(s);
        f.rehearsal = out(s, "rehearsal");
        f.rollback = super::rollback::report::RollbackFacts::from_state(s);
        // Only while the recreate stands: after its undo the old container is the service again.
        let recreated = s
            .steps
            .get("recreate-postgres")
            .is_some_and(|r| r.state == StepState::Done);
        if let Some(r) = out::<RecreateOutput>(s, "recreate-postgres").filter(|_| recreated) {
            f.old_container_kept = Some(r.plan.old_kept_name);
        }
        for m in &s.steps_meta {
            if m.kind == StepKind::SignOff {
                continue;
            }
            if let Some(Finish::Warning(w)) = s.steps.get(&m.id).and_then(|r| r.outcome.as_ref()) {
                f.warnings.push(format!("{}: {w}", m.id));
            }
        }
        f
    }

    /// Lines for the end-of-run summary.
    pub fn summary_lines(&self) -> Vec<String> {
        let mut v = Vec::new();
        let secs =
            |ms: Option<i64>| ms.map_or("-".into(), |ms| format!("{:.1}s", ms as f64 / 1000.0));
        v.push(format!(
            "downtime: database {}, application {}",
            secs(self.db_downtime_ms),
            secs(self.app_downtime_ms)
        ));
        if let Some(f) = self.rehearsal.as_ref().and_then(|r| r.forecast.as_ref()) {
            v.push(format!(
                "forecast by the rehearsal: database {}, application {} (without the app's own \
                 start-up)",
                secs(f.db_downtime_ms),
                secs(Some(f.app_downtime_ms))
            ));
        }
        if let Some(p) = &self.physical_backup {
            v.push(format!(
                "physical backup: volume {} (base {:.1} s before the window, WAL to the stop \
                 {:.2} s inside it)",
                p.volume,
                p.base.ms as f64 / 1000.0,
                p.catch_up.ms as f64 / 1000.0
            ));
        }
        if let Some(b) = &self.backup {
            v.push(format!(
                "backup: {} ({} bytes, sha256 {})",
                b.path.display(),
                b.bytes,
                b.sha256
            ));
        }
        if let (Some(b), Some(_)) = (&self.fingerprint_before, &self.fingerprint_after) {
            v.push(format!(
                "data: {} pre-existing tables identical; new tables: {}",
                b.tables.len(),
                join_or(&self.new_tables, "none")
            ));
        }
        if !self.reindexed.is_empty() {
            v.push(format!("reindexed: {}", self.reindexed.join(", ")));
        }
        if let Some(p) = &self.preflight {
            v.extend(p.summary_lines());
        }
        for w in &self.warnings {
            v.push(format!("warning: {w}"));
        }
        if let Some(k) = &self.old_container_kept {
            v.push(format!(
                "old container kept as {k}: `cutover finalize --yes` removes it once you are satisfied"
            ));
        }
        if let Some(r) = &self.rollback {
            v.extend(r.summary_lines());
        }
        v
    }

    pub fn markdown(&self) -> String {
        let mut s = String::new();
        let o = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
        let ms = |v: Option<i64>| v.map_or("-".into(), |ms| format!("{:.1}s", ms as f64 / 1000.0));
        let _ = writeln!(s, "\n## Upgrade\n\n| | before | after |\n|---|---|---|");
        let _ = writeln!(
            s,
            "| server | {} | {} |",
            o(&self.server_before),
            o(&self.server_after)
        );
        let _ = writeln!(
            s,
            "| image | {} | {} |",
            o(&self.image_before),
            o(&self.image_after)
        );
        let _ = writeln!(
            s,
            "| image id | {} | {} |",
            o(&self.image_id_before),
            o(&self.image_id_after)
        );
        let _ = writeln!(
            s,
            "| digest | {} | {} |",
            o(&self.digest_before),
            o(&self.digest_after)
        );
        let _ = writeln!(
            s,
            "\n## Downtime (measured)\n\n- database: {} (old postgres stop issued → new one answered a query)\n- application: {} (backend stop issued → `/health` healthy)",
            ms(self.db_downtime_ms),
            ms(self.app_downtime_ms)
        );
        if let Some(r) = &self.rehearsal
            && let Some(f) = &r.forecast
        {
            let _ = writeln!(
                s,
                "- forecast by the rehearsal at {} on a copy of {:.2} GB: database {}, \
                 application {} (without the app's own start-up), {} index(es) rebuilt in {}, \
                 fast rollback {}",
                r.started_at.format("%Y-%m-%d %H:%M UTC"),
                r.live_bytes as f64 / 1e9,
                ms(f.db_downtime_ms),
                ms(Some(f.app_downtime_ms)),
                f.reindexed,
                ms(Some(f.reindex_ms)),
                ms(f.rollback_ms)
            );
        }
        if let Some(p) = &self.physical_backup {
            let _ = writeln!(
                s,
                "\n## Physical backup\n\n- volume: `{}` (the old image's files; remove with \
                 `docker volume rm {}`)\n- base: {} bytes from WAL {}, {:.1} s, taken while the \
                 application ran\n- WAL to the stop: {} ({} segments, {} bytes), {:.2} s inside \
                 the window",
                p.volume,
                p.volume,
                p.base.bytes,
                p.base.start_lsn,
                p.base.ms as f64 / 1000.0,
                p.catch_up.stop_lsn,
                p.catch_up.segments,
                p.catch_up.wal_bytes,
                p.catch_up.ms as f64 / 1000.0
            );
        }
        if let Some(b) = &self.backup {
            let _ = writeln!(
                s,
                "\n## Backup\n\n- path: `{}`\n- size: {} bytes\n- sha256: `{}`\n- TOC entries: {}",
                b.path.display(),
                b.bytes,
                b.sha256,
                b.toc_entries
            );
        }
        let _ = writeln!(s, "\n## Data fingerprints\n\n{}\n", self.fingerprint_note);
        let _ = writeln!(
            s,
            "| table | rows before | checksum before | rows after | checksum after |\n|---|---|---|---|---|"
        );
        if let Some(b) = &self.fingerprint_before {
            let after = self.fingerprint_after.as_ref();
            for (t, fb) in &b.tables {
                let fa = after.and_then(|a| a.tables.get(t));
                let _ = writeln!(
                    s,
                    "| {t} | {} | {} | {} | {} |",
                    fb.rows,
                    fb.checksum,
                    fa.map_or("-".into(), |a| a.rows.to_string()),
                    fa.map_or("-".into(), |a| a.checksum.clone())
                );
            }
        }
        let _ = writeln!(s, "\n- new tables: {}", join_or(&self.new_tables, "none"));
        let _ = writeln!(
            s,
            "- rows added since the writers restarted: {}",
            join_or(&self.rows_since, "none")
        );
        let _ = writeln!(s, "- migrations: {}", join_or(&self.migrations, "none"));
        let _ = writeln!(
            s,
            "- reindexed indexes: {}",
            join_or(&self.reindexed, "none")
        );
        let _ = writeln!(
            s,
            "- skipped services: {}",
            join_or(&self.skipped_services, "none")
        );
        if let Some(k) = &self.old_container_kept {
            let _ = writeln!(
                s,
                "- old postgres container kept as `{k}` until `cutover finalize --yes`"
            );
        }
        if let Some(p) = &self.preflight {
            s.push_str(&p.markdown());
        }
        let _ = writeln!(s, "\n## Warnings\n");
        if self.warnings.is_empty() {
            let _ = writeln!(s, "none");
        }
        for w in &self.warnings {
            let _ = writeln!(s, "- {w}");
        }
        if let Some(r) = &self.rollback {
            s.push_str(&r.markdown());
        }
        s
    }
}

fn join_or(v: &[String], empty: &str) -> String {
    if v.is_empty() {
        empty.to_string()
    } else {
        v.join(", ")
    }
}
