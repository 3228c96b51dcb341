//! One round of the side-by-side bench: every Docker measurement once, each next to its
//! baseline (A, B, A, B, ... across rounds, so drift in the page cache or in other load on the
//! machine hits both sides). The stack ends every round in its pre-upgrade state.
//!
//! With the built-in pgvector plan (`full` mode) cutover's side is the real binary,
//! `cutover run --yes`, then its fast rollback, `cutover rollback --yes --run <dir>` (see
//! `fast_rollback`).
//! Without it (`adapter` mode) cutover's
//! side is the recreate and `restore_old` through the docker adapter, and its backup is
//! `adapters::backup::dump`; there is no application-downtime figure in that mode.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Result;
use cutover::adapters::docker::DockerClient;

use super::guide::{self, AFTER, StackRef};
use super::probe::{Probe, Target};
use super::{backup, db_ops, fast_rollback, reindex, rows, run};

/// Samples per series name (see `series` in the bench's main for what each means).
#[derive(Default)]
pub struct Samples(pub BTreeMap<String, Vec<f64>>);

impl Samples {
    pub fn push(&mut self, name: &str, v: f64) {
        self.0.entry(name.into()).or_default().push(v);
    }
    pub fn get(&self, name: &str) -> Vec<f64> {
        self.0.get(name).cloned().unwrap_or_default()
    }
}

pub struct Ctx {
    pub docker: DockerClient,
    pub stack: StackRef,
    pub password: String,
    /// The stack's compose file as the bench found it (restored after each upgrade).
    pub original_compose: String,
    /// 0700 directory for dumps (removed by the bench at the end).
    pub scratch: PathBuf,
    pub full: bool,
    /// `pg_database_size` of the main database, bytes.
    pub db_bytes: u64,
    /// The restore source's two dumps (cutover's, plain).
    pub restore_dump: PathBuf,
    pub restore_plain: PathBuf,
    /// `backup::USERS` in the restore source (dropped once dumped).
    pub restore_users: String,
    /// Wall seconds spent per part, across rounds.
    pub part_secs: BTreeMap<String, f64>,
}

impl Ctx {
    fn pg(&self) -> String {
        self.stack.container("postgres")
    }
    fn db_probe(&self) -> Probe {
        Probe::start(
            self.docker.clone(),
            Target::Postgres {
                container: self.pg(),
                password: self.password.clone(),
            },
        )
    }
    fn app_probe(&self) -> Probe {
        Probe::start(
            self.docker.clone(),
            Target::Http {
                container: self.stack.container("backend"),
                port: 8000,
                path: "/health".into(),
            },
        )
    }
    fn mbps(&self, bytes: u64, ms: f64) -> f64 {
        bytes as f64 / 1e6 / (ms / 1000.0)
    }
    fn timed(&mut self, part: &str, t: Instant) {
        *self.part_secs.entry(part.into()).or_default() += t.elapsed().as_secs_f64();
    }
}

fn remove(p: &Path) {
    let _ = std::fs::remove_file(p);
}

pub async fn round(cx: &mut Ctx, i: usize, s: &mut Samples) -> Result<()> {
    let pg = cx.pg();

    // A: cutover's upgrade (DB and app downtime, backup), then its fast rollback.
    let t = Instant::now();
    let mut before = rows::snapshot(&pg).await?;
    let (mut db, mut app) = (cx.db_probe(), cx.app_probe());
    let mut cut_dump = None;
    let mut run_dir = None;
    let plan = if cx.full {
        // cutover refuses to go on when any client connects between the writers' stop and
        // the stop of postgres (checked after the backup and at the checkpoint), and the
        // bench's own probe (a fresh connection every 20 ms from the bridge gateway) sometimes
        // is that client. The run then rolls itself back;
        // such an attempt is discarded, counted, and the round starts again.
        let mut attempt = 0;
        let f = loop {
            match run::run(&cx.stack.dir).await {
                Ok(f) => break f,
                Err(e)
                    if attempt < 4
                        && format!("{e:#}").contains("after the writers were stopped")
                        && format!("{e:#}").contains("[outside the stack]") =>
                {
                    attempt += 1;
                    s.push("run_retries_probe", 1.0);
                    eprintln!(
                        "bench: round {}: the probe's own login hit cutover's late-client check; run again",
                        i + 1
                    );
                    let _ = (db.finish().await, app.finish().await);
                    before = rows::snapshot(&pg).await?;
                    (db, app) = (cx.db_probe(), cx.app_probe());
                }
                Err(e) => return Err(e),
            }
        };
        s.push("upgrade_wall_ms.cutover", f.wall_ms);
        s.push("backup_mbps.cutover", cx.mbps(cx.db_bytes, f.dump_ms));
        s.push("backup_ms.cutover", f.dump_ms);
        s.push("fingerprint_ms.cutover", f.fingerprint_ms);
        for (k, v) in [
            ("verify_ms.cutover", f.verify_ms),
            ("hold_ms.cutover", f.hold_ms),
            ("verify_after_ms.cutover", f.after_window_ms),
            ("base_backup_ms.cutover", f.base_ms),
            ("portable_dump_ms.cutover", f.portable_ms),
        ] {
            if let Some(v) = v {
                s.push(k, v);
            }
        }
        s.push("backup_physical", if f.physical { 1.0 } else { 0.0 });
        s.push("backup_file_mb.cutover", f.dump_bytes as f64 / 1e6);
        if let Some(v) = f.reported_db_downtime_ms {
            s.push("db_down_reported.cutover", v);
        }
        if let Some(v) = f.reported_app_downtime_ms {
            s.push("app_down_reported.cutover", v);
        }
        cut_dump = Some(f.dump_path);
        run_dir = Some(f.run_dir);
        None
    } else {
        let (plan, _) = db_ops::cutover_recreate(&cx.docker, &pg, AFTER, &cx.password).await?;
        Some(plan)
    };
    let (db, app) = (db.finish().await, app.finish().await);
    s.push("db_down.cutover", db.longest_ms());
    if cx.full {
        s.push("app_down.cutover", app.total_ms());
    }
    cx.timed("cutover upgrade", t);

    // The collation cost forward: cutover's REINDEX in the window, then a bare REINDEX of the
    // same indexes on the same (new) server.
    if let Some(dir) = &run_dir {
        let t = Instant::now();
        let fwd = reindex::forward(dir)?;
        s.push("reindex_fwd_ms.cutover", fwd.ms);
        s.push("reindex_fwd_count", fwd.indexes.len() as f64);
        s.push(
            "reindex_fwd_ms.bare",
            reindex::bare(&pg, &fwd.indexes).await?,
        );
        cx.timed("bare REINDEX (unmeasured part)", t);
    }

    let t = Instant::now();
    let db = cx.db_probe();
    let rb_ms = match (&plan, &run_dir) {
        (Some(p), _) => db_ops::restore_old(&cx.docker, p, &cx.password).await?,
        (None, Some(dir)) => {
            let file = cx.stack.dir.join("compose.yaml");
            let f = fast_rollback::after_run(
                &cx.docker,
                &cx.stack.dir,
                dir,
                &file,
                &cx.original_compose,
            )
            .await?;
            if let Some(v) = f.swap_ms {
                s.push("rollback_swap_ms.cutover", v);
            }
            if let Some(v) = f.reported_ms {
                s.push("rollback_reported_ms.cutover", v);
            }
            s.push("rollback_leftovers.cutover", f.leftovers as f64);
            f.command_ms
        }
        (None, None) => unreachable!("either the adapter recreate or a run happened"),
    };
    s.push("rollback_db_down.cutover", db.finish().await.longest_ms());
    s.push("rollback_ms.cutover", rb_ms);
    s.push(
        "rollback_lost.cutover",
        rows::lost_since(&pg, &before).await? as f64,
    );
    s.push("rows_checked", rows::total(&before) as f64);
    cx.timed("cutover fast rollback", t);

    // The collation cost back: the rollback's repair on the old server, then a bare REINDEX
    // of the same indexes there.
    if let Some(dir) = &run_dir {
        let t = Instant::now();
        let back = reindex::back(dir)?;
        s.push("reindex_back_ms.cutover", back.ms);
        s.push("reindex_back_count", back.indexes.len() as f64);
        s.push(
            "reindex_back_ms.bare",
            reindex::bare(&pg, &back.indexes).await?,
        );
        cx.timed("bare REINDEX (unmeasured part)", t);
    }

    // B1: bare restart.
    let t = Instant::now();
    let db = cx.db_probe();
    db_ops::bare_restart(&pg).await?;
    s.push("db_down.bare", db.finish().await.longest_ms());
    cx.timed("bare restart", t);

    // B1b: the floor of a physical copy, `cp -a` of the stopped data directory.
    let t = Instant::now();
    s.push("backup_ms.cp", db_ops::bare_copy(&pg).await?);
    cx.timed("bare cp -a of the stopped data directory", t);

    // cutover's dump alone, when the run did not take one.
    if !cx.full {
        let t = Instant::now();
        let name = format!("round{i}.dump");
        let dir = cx.scratch.join("dumps");
        let (ms, bytes) = backup::cutover_dump(&cx.docker, &pg, "privexbot", &dir, &name).await?;
        s.push("backup_mbps.cutover", cx.mbps(cx.db_bytes, ms));
        s.push("backup_ms.cutover", ms);
        s.push("backup_file_mb.cutover", bytes as f64 / 1e6);
        remove(&dir.join(name));
        cx.timed("cutover dump (adapter)", t);
    }

    // B2: the guide's procedure (its pg_dump is the backup baseline).
    let t = Instant::now();
    let plain = cx.scratch.join(format!("round{i}.sql"));
    let (db, app) = (cx.db_probe(), cx.app_probe());
    let g = guide::upgrade(&cx.stack, &plain).await?;
    anyhow::ensure!(g.dump_bytes > 0, "the guide's pg_dump wrote nothing");
    let (db, app) = (db.finish().await, app.finish().await);
    s.push("db_down.guide", db.longest_ms());
    s.push("app_down.guide", app.total_ms());
    // The guide leaves the text indexes in the old C library's order; the safe floor on this
    // swap is the guide plus a bare REINDEX of the same indexes (measured this round).
    if let Some(r) = s.get("reindex_fwd_ms.bare").last().copied() {
        s.push("app_down.guide_reindex", app.total_ms() + r);
    }
    s.push("backup_mbps.plain", cx.mbps(cx.db_bytes, g.dump_ms));
    s.push("backup_ms.plain", g.dump_ms);
    s.push("backup_file_mb.plain", g.dump_bytes as f64 / 1e6);
    s.push("guide_wall_ms", g.total_ms);
    remove(&plain);
    cx.timed("guide procedure", t);
    let t = Instant::now();
    guide::revert(&cx.stack).await?;
    cx.timed("guide revert (unmeasured)", t);
    if let Some(p) = cut_dump {
        remove(&p);
    }

    // Disaster restore into fresh databases, A then B.
    let t = Instant::now();
    let ms = backup::cutover_restore(&cx.docker, &pg, "bench_restore_c", &cx.restore_dump).await?;
    s.push("restore_ms.cutover", ms);
    backup::check_restored(&pg, "bench_restore_c", &cx.restore_users).await?;
    backup::drop_db(&pg, "bench_restore_c").await?;
    let ms = backup::psql_restore(&pg, "bench_restore_p", &cx.restore_plain).await?;
    s.push("restore_ms.psql", ms);
    backup::check_restored(&pg, "bench_restore_p", &cx.restore_users).await?;
    backup::drop_db(&pg, "bench_restore_p").await?;
    cx.timed("restore", t);
    Ok(())
}
