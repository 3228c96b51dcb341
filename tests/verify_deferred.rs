//! The window reads no table (issue 14): what stands in for the fingerprint comparison inside
//! it, on a real seeded test-bed stack (Alpine-shaped → Debian-shaped, the real binary).
//!
//! `a_migration_that_writes_to_an_old_table_is_caught_before_the_writers`: a migration
//! (`migrations_dir`) that declares a new table but also changes one row of the pre-existing
//! `tags`. The row-change counters show it, so `verify-data` reads the rows inside the window
//! after all (the snapshot of the stop against the tables now), names `tags`, and fails: the
//! run rolls back (exit 1) and `start-writers` never started in it. The report names the
//! counters that gave it away.
//!
//! Guard: with the counter proof forced to pass (`activity.unproven` ignored in
//! `verify_data.rs`), the same run starts the writers and only `verify-fingerprints`, after
//! the window, finds `tags` changed: the writers came back on changed data. Checked by hand,
//! the result is in the closing note of the stop that added this test.
//!
//! `a_restart_after_the_window_reads_the_stop_from_the_physical_backup`: cutover is killed
//! right after `backend-healthy` (both snapshots die with it); `resume` finishes the run, and
//! `verify-fingerprints` reads the state at the stop from the physical backup: the journaled
//! fingerprint of the stop equals what the test read before the run (the worker's table
//! aside), and the output says the other side rests on the window's proof.

mod support;

use std::path::Path;

use cutover::adapters::fingerprint::fingerprint;
use support::Stack;
use support::cutover::{BEFORE, Run, latest_run, report, services, text};

/// Which steps a run's journal shows as started.
fn started(run: &Path) -> Vec<String> {
    std::fs::read_to_string(run.join("journal.jsonl"))
        .unwrap()
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["type"] == "step_started")
        .filter_map(|v| v["step"].as_str().map(String::from))
        .collect()
}

fn step_output(run: &Path, step: &str) -> serde_json::Value {
    std::fs::read_to_string(run.join("journal.jsonl"))
        .unwrap()
        .lines()
        .rev()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| v["step"] == step && !v["output"].is_null())
        .map(|v| v["output"].clone())
        .unwrap_or(serde_json::Value::Null)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_migration_that_writes_to_an_old_table_is_caught_before_the_writers() {
    let Some(_engine) = support::require_docker() else {
        return;
    };
    let stack = Stack::up_seeded(2000);
    let dir = stack.dir();
    let migrations = dir.join("sneaky-migrations");
    std::fs::create_dir_all(&migrations).unwrap();
    std::fs::write(
        migrations.join("0001_notes.up.sql"),
        "CREATE TABLE notes (id bigint PRIMARY KEY, body text);\n\
         UPDATE tags SET label = label || ' (moved)' WHERE id = 1;\n",
    )
    .unwrap();
    std::fs::write(
        migrations.join("0001_notes.down.sql"),
        "DROP TABLE notes;\n",
    )
    .unwrap();

    let o = Run::upgrade(dir)
        .env("CUTOVER_MIGRATIONS_DIR", migrations.to_str().unwrap())
        .output();
    let out = text(&o);
    assert_eq!(o.status.code(), Some(1), "failed and rolled back\n{out}");
    let run = latest_run(dir);
    let steps = started(&run);
    assert!(steps.contains(&"verify-data".to_string()), "{steps:?}");
    assert!(
        !steps.contains(&"start-writers".to_string()),
        "the writers were started in the window: {steps:?}"
    );
    let v = step_output(&run, "verify-data");
    let proof = v["proof"].to_string();
    assert!(
        proof.contains("not shown: tags: 0 row(s) inserted, 1 updated, 0 deleted since"),
        "{v}"
    );
    assert!(
        out.contains("tags: same row count, different contents"),
        "{out}"
    );
    assert_eq!(v["deferred"], false, "{v}");
    // Rolled back: the old server again, the writers running.
    let p = stack.project();
    assert!(
        services(p).contains(&format!("{p}-postgres {BEFORE} running")),
        "{:?}",
        services(p)
    );
    // The report's state at the stop is the one verify-data read from the snapshot.
    let rep = report(&run);
    assert_eq!(
        rep["upgrade"]["fingerprint_before"]["tables"]["tags"],
        v["fingerprint_before"]["tables"]["tags"],
        "{rep}"
    );
    assert!(v["fingerprint_before"]["tables"]["tags"]["rows"].as_i64() > Some(0));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_restart_after_the_window_reads_the_stop_from_the_physical_backup() {
    let Some(_engine) = support::require_docker() else {
        return;
    };
    let stack = Stack::up_seeded(2000);
    let dir = stack.dir();
    let before = fingerprint(&stack.connect().await, "public").await.unwrap();
    let o = Run::upgrade(dir)
        .fault(Some("kill-after:backend-healthy"))
        .output();
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(o.status.signal(), Some(9), "{}", text(&o));
    let o = Run::resume(dir).output();
    assert_eq!(o.status.code(), Some(0), "resumed\n{}", text(&o));
    let run = latest_run(dir);
    let f = step_output(&run, "verify-fingerprints");
    assert!(f["after"].is_null(), "{f}");
    assert!(
        f["note"]
            .as_str()
            .is_some_and(|n| n.contains("rests on verify-data's proof alone")),
        "{f}"
    );
    for (t, fp) in &before.tables {
        if t != "worker_ticks" {
            assert_eq!(
                f["before"]["tables"][t],
                serde_json::to_value(fp).unwrap(),
                "the stop's {t}, read from the physical backup"
            );
        }
    }
    assert_eq!(
        rep_tables(&report(&run)),
        before.tables.len(),
        "the report has the stop's fingerprint"
    );
}

fn rep_tables(rep: &serde_json::Value) -> usize {
    rep["upgrade"]["fingerprint_before"]["tables"]
        .as_object()
        .map_or(0, |o| o.len())
}
