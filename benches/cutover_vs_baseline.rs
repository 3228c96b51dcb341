//! cutover side by side with its baselines on ONE seeded test-bed stack (issue 7):
//! database downtime, application downtime, backup throughput, fast rollback, disaster restore,
//! then the wizard's start-up, idle CPU and binary size. Run with
//! `cargo bench --bench cutover_vs_baseline`; see BENCHMARKS.md for what each figure means.
//!
//! Knobs (environment): COBENCH_ROUNDS (default 5), COBENCH_SCALE (users in the
//! main database, default 620 000 ≈ 1 GB), COBENCH_RESTORE_SCALE (users in the restore
//! source, default 620 000 as well: the disaster restore is timed at the same size),
//! COBENCH_REHEARSE (1: one `cutover rehearse` before the rounds; 0: none),
//! COBENCH_DISASTER_ROUNDS (3: upgrades rolled back with `--disaster` after the rounds). The
//! 10 GB run of
//! BENCHMARKS.md: COBENCH_SCALE=6200000 COBENCH_ROUNDS=2 COBENCH_REHEARSE=0.
//!
//! Invariants: only this machine is contacted (the Engine socket, container IPs on the stack's
//! own bridge network); every loop is bounded in count and time; the stack and the dump
//! directory are removed at the end, on error, on panic (the guards' Drop) and on Ctrl-C.

#[path = "../tests/support/mod.rs"]
mod testbed;

mod support;

use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use cutover::adapters::docker::DockerClient;
use support::guide::StackRef;
use support::rounds::{Ctx, Samples};
use support::stats::{Goal, Row, table};
use support::{backup, run, sh, ui};

fn knob(name: &str, default: u32) -> u32 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() -> ExitCode {
    // `cargo bench` passes `--bench`; a filter argument that is not ours means "not me".
    if std::env::args()
        .skip(1)
        .any(|a| !a.starts_with('-') && !"cutover_vs_baseline".contains(a.as_str()))
    {
        return ExitCode::SUCCESS;
    }
    match bench() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench failed: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn bench() -> Result<()> {
    let started = Instant::now();
    let rounds = knob("COBENCH_ROUNDS", 5).max(1) as usize;
    let scale = knob("COBENCH_SCALE", 620_000);
    let restore_scale = knob("COBENCH_RESTORE_SCALE", 620_000);
    let mut s = Samples::default();
    let mut part_secs = std::collections::BTreeMap::new();

    // The wizard first, with nothing else running.
    let t = Instant::now();
    for _ in 0..rounds {
        s.push("first_frame_ms", ui::first_frame_ms()?);
    }
    for v in ui::idle_cpu_percent(rounds, Duration::from_secs(10))? {
        s.push("idle_cpu_pct", v);
    }
    s.push("binary_bytes", ui::binary_size()? as f64);
    part_secs.insert("wizard (pty)".to_string(), t.elapsed().as_secs_f64());

    if testbed::require_docker().is_none() {
        anyhow::bail!("no Docker Engine: the side-by-side part needs one");
    }
    let t = Instant::now();
    eprintln!("bench: bringing up one stack seeded with {scale} users");
    let stack = testbed::Stack::up_seeded(scale);
    let scratch = tempfile::Builder::new()
        .prefix("cutover-bench-")
        .tempdir()?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let result = rt.block_on(async {
        tokio::select! {
            r = measure(&stack, scratch.path(), rounds, restore_scale, &mut s, t, &mut part_secs) => r,
            _ = tokio::signal::ctrl_c() => Err(anyhow::anyhow!("interrupted")),
        }
    });
    drop(rt);
    let t = Instant::now();
    drop(stack);
    drop(scratch);
    part_secs.insert("teardown".into(), t.elapsed().as_secs_f64());
    let (info, full) = result?;
    report(&s, &info, full, rounds, started.elapsed(), &part_secs)
}

/// What the report says about the setup.
struct Info {
    db_bytes: u64,
    restore_bytes: u64,
    scale: u32,
    restore_scale: u32,
}

async fn measure(
    stack: &testbed::Stack,
    scratch: &Path,
    rounds: usize,
    restore_scale: u32,
    s: &mut Samples,
    setup_started: Instant,
    part_secs: &mut std::collections::BTreeMap<String, f64>,
) -> Result<(Info, bool)> {
    let docker = DockerClient::connect().await?;
    let sref = StackRef {
        bed: testbed::bed_path(),
        project: stack.project().to_string(),
        dir: stack.dir().to_path_buf(),
    };
    let pg = sref.container("postgres");
    let db_bytes = backup::db_size(&pg, "privexbot").await?;
    let scale = knob("COBENCH_SCALE", 620_000);
    eprintln!(
        "bench: database is {:.0} MB; seeding the restore source ({restore_scale} users)",
        db_bytes as f64 / 1e6
    );
    sh::psql(&pg, "postgres", "CREATE DATABASE restore_src").await?;
    let seed = Path::new(env!("CARGO_MANIFEST_DIR")).join("testbed/seed.sql");
    let scale_arg = format!("scale={restore_scale}");
    sh::docker_from_file(
        &[
            "exec",
            "-i",
            &pg,
            "psql",
            "-X",
            "-q",
            "-v",
            "ON_ERROR_STOP=1",
            "-v",
            &scale_arg,
            "-U",
            "privexbot",
            "-d",
            "restore_src",
            "-f",
            "-",
        ],
        &seed,
    )
    .await?;
    let restore_bytes = backup::db_size(&pg, "restore_src").await?;
    let dump_dir = scratch.join("restore");
    backup::cutover_dump(&docker, &pg, "restore_src", &dump_dir, "restore_src.dump").await?;
    let restore_plain = scratch.join("restore_src.sql");
    backup::plain_dump(&pg, "restore_src", &restore_plain).await?;
    // Only its dumps are needed from here on. Left in the cluster, it would be a second 1 GB
    // database in every upgrade and rollback: the collation step rebuilds every database's
    // text indexes when the C library changes.
    let restore_users = sh::psql(&pg, "restore_src", backup::USERS).await?;
    sh::psql(&pg, "postgres", "DROP DATABASE restore_src").await?;
    let full = run::available(stack.dir()).await;
    eprintln!(
        "bench: cutover side = {}",
        if full {
            "the real binary (cutover run --yes, then cutover rollback --yes --run)"
        } else {
            "the docker adapter (no pgvector plan in this build)"
        }
    );
    part_secs.insert("setup".into(), setup_started.elapsed().as_secs_f64());
    // COBENCH_REHEARSE=0 skips it (at 10 GB the copy and its side backup would need about
    // three times the database's size free on the engine's disk at once).
    if full && knob("COBENCH_REHEARSE", 1) == 1 {
        let t = Instant::now();
        eprintln!("bench: cutover rehearse, once, before the rounds");
        let r = support::rehearse::once(stack.dir()).await?;
        s.push("rehearse_wall_ms", r.wall_ms);
        s.push("rehearse_copy_mb", r.copy_bytes / 1e6);
        s.push("rehearse_copy_ms", r.copy_ms);
        s.push("rehearse_live_mb", r.live_bytes / 1e6);
        for (k, v) in [
            ("forecast_db_ms", r.forecast_db_ms),
            ("forecast_app_ms", r.forecast_app_ms),
            ("forecast_reindex_ms", r.forecast_reindex_ms),
            ("forecast_rollback_ms", r.forecast_rollback_ms),
            ("forecast_backup_mb", r.backup_bytes.map(|b| b / 1e6)),
        ] {
            if let Some(v) = v {
                s.push(k, v);
            }
        }
        part_secs.insert("rehearsal (once)".into(), t.elapsed().as_secs_f64());
    }

    let mut cx = Ctx {
        docker,
        stack: sref,
        password: stack.password().to_string(),
        original_compose: std::fs::read_to_string(stack.compose_file())?,
        scratch: scratch.to_path_buf(),
        full,
        db_bytes,
        restore_dump: dump_dir.join("restore_src.dump"),
        restore_users,
        restore_plain,
        part_secs: Default::default(),
    };
    for i in 0..rounds {
        let t = Instant::now();
        support::rounds::round(&mut cx, i, s)
            .await
            .with_context(|| format!("round {}", i + 1))?;
        eprintln!(
            "bench: round {}/{rounds} done in {:.0} s",
            i + 1,
            t.elapsed().as_secs_f64()
        );
    }
    // The disaster rollback through the command, after the rounds (each costs an upgrade).
    let disaster_rounds = if full {
        knob("COBENCH_DISASTER_ROUNDS", 3) as usize
    } else {
        0
    };
    let t = Instant::now();
    for i in 0..disaster_rounds {
        use support::disaster::Restore;
        for (how, key) in [
            (Restore::Dump, "disaster"),
            (Restore::Volume, "disaster_volume"),
            (Restore::Logical, "disaster_logical"),
        ] {
            let f = support::disaster::round(
                &cx.docker,
                stack.dir(),
                &cx.stack.container("postgres"),
                how,
            )
            .await
            .with_context(|| format!("disaster round {} ({key})", i + 1))?;
            s.push(&format!("{key}_ms.cutover"), f.command_ms);
            if let Some(v) = f.restore_core_ms {
                s.push(&format!("{key}_core_ms.cutover"), v);
            }
            s.push(&format!("{key}_ms.bare"), f.bare_ms);
            s.push("disaster_jobs", f.jobs as f64);
        }
        eprintln!("bench: disaster round {}/{disaster_rounds} done", i + 1);
    }
    if disaster_rounds > 0 {
        part_secs.insert(
            "disaster rollback rounds (each with its upgrade)".into(),
            t.elapsed().as_secs_f64(),
        );
    }
    part_secs.extend(cx.part_secs);
    Ok((
        Info {
            db_bytes,
            restore_bytes,
            scale,
            restore_scale,
        },
        full,
    ))
}

fn report(
    s: &Samples,
    info: &Info,
    full: bool,
    rounds: usize,
    wall: Duration,
    parts: &std::collections::BTreeMap<String, f64>,
) -> Result<()> {
    let mut rows = vec![
        Row::new("database downtime", "ms", &s.get("db_down.cutover"))
            .against("bare docker stop + start", &s.get("db_down.bare"))
            .goal(Goal::RatioAtMost(1.5))
            .note("longest failing window of a fresh connection + SELECT 1 every 20 ms"),
        Row::new(
            "database downtime vs the guide",
            "ms",
            &s.get("db_down.cutover"),
        )
        .against("guide (docker CLI + compose)", &s.get("db_down.guide")),
        Row::new("application downtime", "ms", &s.get("app_down.cutover"))
            .against("guide (docker CLI + compose)", &s.get("app_down.guide"))
            .goal(Goal::RatioAtMost(1.5))
            .note("total time GET /health on the backend is not 2xx over the whole upgrade"),
        Row::new(
            "application downtime vs the guide + the REINDEX it skips",
            "ms",
            &s.get("app_down.cutover"),
        )
        .against(
            "guide + bare REINDEX of the same indexes",
            &s.get("app_down.guide_reindex"),
        )
        .goal(Goal::RatioAtMost(1.5))
        .note("the guide leaves musl-ordered text indexes under glibc; this is its safe floor"),
        Row::new(
            "backup inside the window",
            "ms",
            &s.get("backup_ms.cutover"),
        )
        .against(
            "bare cp -a of the stopped data directory (docker run)",
            &s.get("backup_ms.cp"),
        )
        .goal(Goal::RatioAtMost(1.5))
        .note("physical: CHECKPOINT, segment switch, WAL from the slot into the base"),
        Row::new(
            "base backup, before the window (app up)",
            "ms",
            &s.get("base_backup_ms.cutover"),
        ),
        Row::new(
            "portable dump, after the window (app up)",
            "ms",
            &s.get("portable_dump_ms.cutover"),
        ),
        Row::new(
            "verification in the window: backup's start (WAL position; the fingerprint before issue 14)",
            "ms",
            &s.get("fingerprint_ms.cutover"),
        ),
        Row::new(
            "verification in the window: postgres-ready's continuity proof, counters, snapshot",
            "ms",
            &s.get("hold_ms.cutover"),
        ),
        Row::new(
            "verification in the window: verify-data",
            "ms",
            &s.get("verify_ms.cutover"),
        ),
        Row::new(
            "verification after the window: verify-fingerprints (app up)",
            "ms",
            &s.get("verify_after_ms.cutover"),
        ),
        Row::new("backup throughput", "MB/s", &s.get("backup_mbps.cutover"))
            .against(
                "docker exec pg_dump -Fp > file",
                &s.get("backup_mbps.plain"),
            )
            .goal(Goal::RatioAtLeast(0.85))
            .note("pg_database_size / wall time"),
        Row::new("backup time", "ms", &s.get("backup_ms.cutover"))
            .against("docker exec pg_dump -Fp > file", &s.get("backup_ms.plain")),
        Row::new(
            "fast rollback wall time (cutover rollback --yes --run)",
            "ms",
            &s.get("rollback_ms.cutover"),
        )
        .goal(Goal::MaxBelow(2000.0))
        .note("the real command, spawn to exit"),
        Row::new(
            "fast rollback, cutover's own report (wall_ms)",
            "ms",
            &s.get("rollback_reported_ms.cutover"),
        ),
        Row::new(
            "fast rollback: undo of recreate-postgres alone",
            "ms",
            &s.get("rollback_swap_ms.cutover"),
        ),
        Row::new(
            "fast rollback: things the bench had to put back",
            "count",
            &s.get("rollback_leftovers.cutover"),
        )
        .goal(Goal::AllZero),
        Row::new(
            "fast rollback rows lost",
            "rows",
            &s.get("rollback_lost.cutover"),
        )
        .goal(Goal::AllZero),
        Row::new(
            "database downtime during fast rollback",
            "ms",
            &s.get("rollback_db_down.cutover"),
        ),
        Row::new(
            "disaster rollback, the command (cutover rollback --disaster --yes)",
            "ms",
            &s.get("disaster_ms.cutover"),
        )
        .against(
            "bare pg_restore --jobs N of the same dump, same N",
            &s.get("disaster_ms.bare"),
        )
        .goal(Goal::RatioAtMost(1.1)),
        Row::new(
            "disaster rollback: undo of recreate-postgres alone (restore, checks, swap)",
            "ms",
            &s.get("disaster_core_ms.cutover"),
        )
        .against(
            "bare pg_restore --jobs N of the same dump, same N",
            &s.get("disaster_ms.bare"),
        ),
        Row::new(
            "disaster rollback after a backup_kind = logical upgrade, the command",
            "ms",
            &s.get("disaster_logical_ms.cutover"),
        )
        .against(
            "bare pg_restore --jobs N of the same dump, same N",
            &s.get("disaster_logical_ms.bare"),
        )
        .goal(Goal::RatioAtMost(1.1)),
        Row::new(
            "disaster rollback after a logical upgrade: undo of recreate-postgres alone",
            "ms",
            &s.get("disaster_logical_core_ms.cutover"),
        )
        .against(
            "bare pg_restore --jobs N of the same dump, same N",
            &s.get("disaster_logical_ms.bare"),
        ),
        Row::new(
            "disaster rollback from the volume, the command (disaster_restore = volume)",
            "ms",
            &s.get("disaster_volume_ms.cutover"),
        )
        .against(
            "bare cp -a of the same backup's files into a fresh volume",
            &s.get("disaster_volume_ms.bare"),
        ),
        Row::new(
            "disaster rollback from the volume: undo of recreate-postgres alone",
            "ms",
            &s.get("disaster_volume_core_ms.cutover"),
        )
        .against(
            "bare cp -a of the same backup's files into a fresh volume",
            &s.get("disaster_volume_ms.bare"),
        ),
        Row::new("disaster restore", "ms", &s.get("restore_ms.cutover"))
            .against("psql < plain dump", &s.get("restore_ms.psql"))
            .goal(Goal::RatioAtMost(0.9))
            .note("into a fresh database"),
        Row::new(
            "collation: REINDEX in the upgrade (new server, in the window)",
            "ms",
            &s.get("reindex_fwd_ms.cutover"),
        )
        .against(
            "bare REINDEX INDEX of the same indexes",
            &s.get("reindex_fwd_ms.bare"),
        )
        .note("sum of the per-index statement times; indexes: see reindex_fwd_count"),
        Row::new(
            "collation: REINDEX in the fast rollback (old server)",
            "ms",
            &s.get("reindex_back_ms.cutover"),
        )
        .against(
            "bare REINDEX INDEX of the same indexes",
            &s.get("reindex_back_ms.bare"),
        )
        .note("sum of the per-index statement times; indexes: see reindex_back_count"),
        Row::new(
            "rehearsal forecast: database downtime",
            "ms",
            &s.get("forecast_db_ms"),
        )
        .against(
            "measured: cutover's own report over the rounds",
            &s.get("db_down_reported.cutover"),
        )
        .note("goal: within 25% or 1 s of the measured median"),
        Row::new(
            "rehearsal forecast: application downtime",
            "ms",
            &s.get("forecast_app_ms"),
        )
        .against(
            "measured: the /health probe over the rounds",
            &s.get("app_down.cutover"),
        )
        .note("goal: within 25% or 1 s of the measured median"),
        Row::new(
            "rehearsal forecast: REINDEX",
            "ms",
            &s.get("forecast_reindex_ms"),
        )
        .against(
            "measured: the collation step's REINDEX over the rounds",
            &s.get("reindex_fwd_ms.cutover"),
        ),
        Row::new(
            "rehearsal forecast: fast rollback",
            "ms",
            &s.get("forecast_rollback_ms"),
        )
        .against(
            "measured: cutover's own report over the rounds",
            &s.get("rollback_reported_ms.cutover"),
        ),
        Row::new(
            "rehearsal: its own wall time (cutover rehearse)",
            "ms",
            &s.get("rehearse_wall_ms"),
        ),
        Row::new(
            "rehearsal: the copy (pg_basebackup tar streamed)",
            "MB",
            &s.get("rehearse_copy_mb"),
        )
        .note(
            "disk the rehearsal holds at its peak: the copy plus its backup (forecast_backup_mb)",
        ),
        Row::new("start to first frame", "ms", &s.get("first_frame_ms")),
        Row::new(
            "idle wizard CPU (10 s)",
            "% of a core",
            &s.get("idle_cpu_pct"),
        ),
        Row::new(
            "release binary size",
            "MB",
            &s.get("binary_bytes")
                .iter()
                .map(|b| b / 1e6)
                .collect::<Vec<_>>(),
        ),
    ];
    if full {
        rows.push(Row::new(
            "upgrade wall time (cutover run)",
            "ms",
            &s.get("upgrade_wall_ms.cutover"),
        ));
        rows.push(Row::new(
            "database downtime, cutover's own report",
            "ms",
            &s.get("db_down_reported.cutover"),
        ));
        rows.push(Row::new(
            "application downtime, cutover's own report",
            "ms",
            &s.get("app_down_reported.cutover"),
        ));
    }
    let md = table(&rows);
    println!("\n{md}");
    println!(
        "mode: {}; rounds: {rounds}; database {:.0} MB ({} users); restore source {:.0} MB ({} users); rows checked per rollback: {:.0}",
        if full {
            "full (real binary)"
        } else {
            "adapter"
        },
        info.db_bytes as f64 / 1e6,
        info.scale,
        info.restore_bytes as f64 / 1e6,
        info.restore_scale,
        s.get("rows_checked").first().copied().unwrap_or(0.0),
    );
    println!("wall time: {:.0} s", wall.as_secs_f64());
    for (k, v) in parts {
        println!("  {k:<32} {v:>6.1} s");
    }
    let machine = serde_json::json!({
        "cpus": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
        "kernel": std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default().trim(),
        "load_at_end": std::fs::read_to_string("/proc/loadavg").unwrap_or_default().trim(),
    });
    let json = serde_json::json!({
        "date": chrono::Utc::now().to_rfc3339(),
        "command": "cargo bench --bench cutover_vs_baseline",
        "machine": machine,
        "mode": if full { "full" } else { "adapter" },
        "rounds": rounds,
        "database_bytes": info.db_bytes,
        "scale": info.scale,
        "restore_source_bytes": info.restore_bytes,
        "restore_scale": info.restore_scale,
        "wall_seconds": wall.as_secs_f64(),
        "part_seconds": parts,
        "rows": rows,
        "samples": s.0,
    });
    let out = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench-results.json");
    std::fs::write(&out, serde_json::to_string_pretty(&json)?)?;
    println!("figures written to {}", out.display());
    Ok(())
}
