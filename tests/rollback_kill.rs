//! SIGKILL at every step boundary and in the middle of the backup and of the recreate, each
//! followed once by `resume` and once by `rollback`, against real test-bed stacks.
//!
//! Cost on a small machine decides the shape (one stack per test, the two tests in parallel):
//! - `killed_at_every_boundary_then_resumed`: ONE upgrade, killed (`CUTOVER_FAULT`) at every
//!   boundary in turn: each `resume` is itself killed at the next point, until the last one
//!   finishes. Then the completed upgrade is rolled back (the fast path), which resets the
//!   stack; then a resume refused because the compose file no longer matches the journal.
//! - `killed_at_every_boundary_then_rolled_back`: for each point, a fresh run killed there,
//!   then `rollback`; the rollback itself resets the stack for the next point.
//!
//! Every end state is asserted: which container runs which image, `vector` present or not,
//! every non-worker table's fingerprint equal to the start, the worker's sequence gapless, no
//! orphaned container (parked old postgres, qdrant), no lock left held. Rollback wall times are
//! printed (not asserted).

mod support;

use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::Output;
use std::time::Instant;

use cutover::adapters::fingerprint::{Fingerprint, fingerprint};
use support::Stack;
use support::cutover::{
    AFTER, BEFORE, Run, assert_no_lock, assert_tables_kept, assert_worker_seq_gapless, has_vector,
    latest_run, report, services, text,
};

/// Every action boundary in plan order (a resumed run passes each once), plus the last pre-flight check and the two mid-step points: after
/// the backup's fingerprint is journaled (the WAL not yet received), and with the old postgres
/// parked but no new container yet.
const POINTS: [&str; 21] = [
    "kill-after:sessions",
    "kill-after:pull-images",
    "kill-after:edit-compose",
    "kill-after:start-qdrant",
    // The base is in its volume and its replication slot holds WAL: both must go.
    "kill-after:base-backup",
    "kill-after:stop-writers",
    // The output journaled, the WAL not yet received (the window reads no table: the first
    // progress point is that output).
    "kill-during:backup:1",
    // The WAL received and journaled, the slot not yet dropped: the resumed step drops it.
    "kill-during:backup:2",
    "kill-after:backup",
    "kill-after:checkpoint",
    "kill-during:recreate-postgres:3",
    "kill-after:recreate-postgres",
    "kill-after:postgres-ready",
    "kill-after:collation",
    "kill-after:vector-extension",
    "kill-after:migrations",
    "kill-after:verify-data",
    "kill-after:start-writers",
    "kill-after:backend-healthy",
    // The window's two snapshots are read and compared: the journal holds the state at the
    // stop; a kill before it (any point above from postgres-ready on) leaves the rollback to
    // read it from the snapshot or the physical backup.
    "kill-after:verify-fingerprints",
    "kill-after:portable-dump",
];

fn assert_killed(o: &Output, point: &str) {
    assert_eq!(
        o.status.signal(),
        Some(9),
        "{point}: expected death by SIGKILL, got {:?}\n{}",
        o.status,
        text(o)
    );
}

/// The pre-upgrade world: old image, no vector, no extra container, data as at the start, no
/// replication slot, no backup volume.
async fn assert_rolled_back(stack: &Stack, start: &Fingerprint, what: &str) {
    let p = stack.project();
    assert_eq!(
        services(p),
        vec![
            format!("{p}-backend cutover-testbed/app:latest running"),
            format!("{p}-celery-worker cutover-testbed/app:latest running"),
            format!("{p}-postgres {BEFORE} running"),
        ],
        "{what}: containers"
    );
    assert!(!has_vector(stack).await, "{what}: vector still installed");
    assert_data_kept(stack, start, what).await;
    assert_no_lock(stack.dir(), what);
    // The physical backup's slot and volume go with the fast rollback.
    let slots = support::cutover::replication_slots(&stack.connect().await).await;
    assert!(
        slots.is_empty(),
        "{what}: replication slots left: {slots:?}"
    );
    let volumes = support::cutover::backup_volumes(p);
    assert!(
        volumes.is_empty(),
        "{what}: backup volume left: {volumes:?}"
    );
}

/// The upgraded world: new image, vector, qdrant, the old container parked.
async fn assert_upgraded(stack: &Stack, start: &Fingerprint, what: &str) {
    let p = stack.project();
    let c = services(p);
    assert!(
        c.contains(&format!("{p}-postgres {AFTER} running")),
        "{what}: {c:?}"
    );
    let parked = support::cutover::parked(p);
    assert!(
        parked.len() == 1 && parked[0].contains("-cutover-old-"),
        "{what}: {parked:?}"
    );
    assert!(
        c.iter()
            .any(|l| l.contains("qdrant") && l.ends_with("running")),
        "{what}: {c:?}"
    );
    assert_eq!(c.len(), 4, "{what}: no other container: {c:?}");
    assert!(has_vector(stack).await, "{what}: vector missing");
    assert_data_kept(stack, start, what).await;
    assert_no_lock(stack.dir(), what);
}

/// Every table but the worker's equals the start; the worker's sequence has no gap or double.
async fn assert_data_kept(stack: &Stack, start: &Fingerprint, what: &str) {
    assert_tables_kept(stack, start, what).await;
    assert_worker_seq_gapless(&stack.connect().await, what).await;
}

fn rollback(dir: &Path, what: &str) -> f64 {
    let t = Instant::now();
    let o = Run::new(dir, &["rollback", "--yes", "--break-stale-lock"]).output();
    let secs = t.elapsed().as_secs_f64();
    assert_eq!(o.status.code(), Some(0), "{what}: rollback\n{}", text(&o));
    assert!(text(&o).contains("rolled back"), "{}", text(&o));
    eprintln!("rollback after {what}: {secs:.1}s wall");
    secs
}

#[tokio::test(flavor = "multi_thread")]
async fn killed_at_every_boundary_then_resumed() {
    let Some(_engine) = support::require_docker() else {
        return;
    };
    let stack = Stack::up_seeded(5);
    let dir = stack.dir();
    let start = fingerprint(&stack.connect().await, "public").await.unwrap();
    let compose_before = std::fs::read(stack.compose_file()).unwrap();

    let o = Run::upgrade(dir).fault(Some(POINTS[0])).output();
    assert_killed(&o, POINTS[0]);
    for point in &POINTS[1..] {
        assert!(
            !std::fs::read(dir.join(".cutover/lock")).unwrap().is_empty(),
            "the killed cutover's lock stays until broken"
        );
        let o = Run::resume(dir).fault(Some(point)).output();
        assert_killed(&o, point);
    }
    let status = Run::new(dir, &["status"]).output();
    assert!(
        text(&status).contains("cutover resume"),
        "status says what to do: {}",
        text(&status)
    );
    let o = Run::resume(dir).output();
    assert_eq!(o.status.code(), Some(0), "last resume\n{}", text(&o));
    assert_upgraded(&stack, &start, "resumed after 17 kills").await;

    // The completed, not finalized upgrade is rolled back fast and verified.
    let secs = rollback(dir, "a completed upgrade");
    assert_rolled_back(&stack, &start, "rollback of the completed upgrade").await;
    assert_eq!(std::fs::read(stack.compose_file()).unwrap(), compose_before);
    let rep = report(&latest_run(dir));
    let rb = &rep["upgrade"]["rollback"];
    assert_eq!(rb["path"], "fast", "{rb}");
    assert!(rb["check"]["compared"].as_u64().unwrap() > 0, "{rb}");
    assert!(rb["check"]["backend_healthy_url"].is_string(), "{rb}");
    // Rows kept by the resume proof, and counted from a snapshot taken before the writers
    // restarted (the default rollback_check = rows).
    let resumed = rb["check"]["resumed"].as_str().unwrap_or_default();
    assert!(
        resumed.contains("resumed at checkpoint") && resumed.contains("every committed row"),
        "{rb}"
    );
    assert_eq!(rb["check"]["contents_compared"], false, "{rb}");
    eprintln!(
        "fast rollback of a completed upgrade: {secs:.1}s (report {}ms)",
        rb["wall_ms"]
    );

    // A resume whose world no longer matches is refused (exit 3), naming the difference.
    // (Killed after the backup: the file is edited by then, and the "before" fingerprint the
    // contents check compares against is journaled.)
    let o = Run::upgrade(dir).fault(Some("kill-after:backup")).output();
    assert_killed(&o, "kill-after:backup");
    std::fs::write(stack.compose_file(), &compose_before).unwrap();
    let o = Run::resume(dir).output();
    let out = text(&o);
    assert_eq!(o.status.code(), Some(3), "{out}");
    assert!(
        out.contains("world no longer matches") && out.contains("compose.yaml"),
        "{out}"
    );
    assert!(out.contains("cutover rollback"), "{out}");
    // This time with checksums re-read too (rollback_check = contents).
    let o = Run::new(dir, &["rollback", "--yes", "--break-stale-lock"])
        .env("CUTOVER_ROLLBACK_CHECK", "contents")
        .output();
    assert_eq!(o.status.code(), Some(0), "rollback\n{}", text(&o));
    assert!(
        text(&o).contains("as expected by row counts and contents"),
        "{}",
        text(&o)
    );
    let rb = &report(&latest_run(dir))["upgrade"]["rollback"];
    assert_eq!(rb["check"]["contents_compared"], true, "{rb}");
    assert_rolled_back(&stack, &start, "rollback after a refused resume").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn killed_at_every_boundary_then_rolled_back() {
    let Some(_engine) = support::require_docker() else {
        return;
    };
    let stack = Stack::up_seeded(5);
    let dir = stack.dir();
    let start = fingerprint(&stack.connect().await, "public").await.unwrap();
    let mut times = Vec::new();
    for point in POINTS {
        let o = Run::upgrade(dir).fault(Some(point)).output();
        assert_killed(&o, point);
        times.push((point, rollback(dir, point)));
        assert_rolled_back(&stack, &start, point).await;
    }
    for (p, s) in &times {
        eprintln!("  {p:<34} rollback {s:.1}s");
    }
}
