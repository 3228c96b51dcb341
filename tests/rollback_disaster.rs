//! The disaster rollback of a finalized upgrade, against one real seeded test-bed stack, with
//! the guide's own rollback replayed beside it as the evidence for DESIGN.md defect 4.
//!
//! One stack, one test, in this order (each scenario leaves the stack where the next needs it):
//! 1. the upgrade completes and is finalized; `rollback --yes` is refused (exit 2) naming
//!    `--disaster`, and nothing changed (same postgres container on the after image, `vector`);
//! 2. the journaled dump is corrupted (one byte flipped, the original kept aside):
//!    `rollback --disaster --yes` refuses before touching anything (exit 2, names the sha256
//!    mismatch; every container, the compose file and `vector` as they were); the byte is put
//!    back;
//! 3. `rollback --disaster --yes` restores: exit 1 (the documented "rolled back"), postgres on
//!    the before image, `vector` gone, every pre-existing non-worker table's fingerprint equal
//!    to the pre-upgrade one (`audit_events`, which has no primary key, has exactly its rows),
//!    the compose file byte-identical, no qdrant nor parked container, writers running, the
//!    backend healthy, the report naming the disaster path, the lock free;
//! 4. the contrast: a plain `pg_dump -Fp` of the pre-upgrade database piped into `psql` on the
//!    live database (the guide's rollback) exits 0, yet `audit_events` then holds twice its rows.
//!
//! The restore goes into a new database, checked, then swapped in: step 3 also finds the
//! database the upgrade left renamed aside (not dropped), and the report's command to drop it,
//! which, run as printed, drops it.
//!
//! `a_failed_restore_leaves_the_original_database_in_place` (its own stack, not finalized):
//! the dump is cut short and the journal made to vouch for it, so the sha256 check passes and
//! pg_restore itself fails. The rollback stops (exit 3); the database is still there under its
//! name with every table and `vector` as the upgrade left them, and no restore or aside
//! database is left over. With the dump put back, the same command finishes (exit 1).
//!
//! Wall times are printed (not asserted).

mod support;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use cutover::adapters::fingerprint::fingerprint;
use cutover::adapters::http::HttpClient;
use support::cutover::{
    AFTER, BEFORE, Run, SIGN, assert_no_lock, assert_tables_kept, assert_worker_seq_gapless,
    containers, has_vector, latest_run, report, services, text,
};
use support::{Stack, docker};

/// Runs cutover, prints its wall time, returns the output.
/// This file covers the dump path (restore into a new database, names swapped): the runs'
/// backups are physical, whose default disaster path copies the volume's files in instead
/// (`tests/rollback_disaster_volume.rs`).
const DUMP: (&str, &str) = ("CUTOVER_DISASTER_RESTORE", "dump");

fn timed(dir: &Path, args: &[&str], what: &str, times: &mut Vec<(String, f64)>) -> Output {
    let t = Instant::now();
    let o = Run::new(dir, args).env(DUMP.0, DUMP.1).output();
    times.push((what.to_string(), t.elapsed().as_secs_f64()));
    o
}

/// `cutover rollback --disaster --yes` on the dump path: its output, and that output as text.
fn rollback_from_dump(dir: &Path) -> (Output, String) {
    let o = Run::new(dir, &["rollback", "--disaster", "--yes"])
        .env(DUMP.0, DUMP.1)
        .output();
    let out = text(&o);
    (o, out)
}

/// The databases of the stack's server but the templates and `postgres`, sorted.
async fn databases(stack: &Stack) -> Vec<String> {
    stack
        .connect()
        .await
        .query(
            "SELECT datname FROM pg_database WHERE NOT datistemplate AND datname <> 'postgres' \
             ORDER BY datname",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect::<Vec<String>>()
        .into_iter()
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect()
}

/// `table`'s rows at the stop, from the run's journal (the fingerprint `verify-fingerprints`
/// read from the snapshot opened at the new server's first login).
fn stop_rows(run: &Path, table: &str) -> i64 {
    std::fs::read_to_string(run.join("journal.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|v| v["type"] == "step_output" && v["step"] == "verify-fingerprints")
        .filter_map(|v| v["output"]["before"]["tables"][table]["rows"].as_i64())
        .next_back()
        .expect("the stop's fingerprint in the journal")
}

async fn audit_rows(stack: &Stack) -> i64 {
    stack
        .connect()
        .await
        .query_one("SELECT count(*) FROM audit_events", &[])
        .await
        .unwrap()
        .get(0)
}

/// `docker exec -i CONTAINER ARGS` with `input` on stdin.
fn exec_with_stdin(container: &str, args: &[&str], input: &[u8]) -> Output {
    let mut child = Command::new("docker")
        .args(["exec", "-i", container])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("docker exec");
    let mut stdin = child.stdin.take().unwrap();
    let input = input.to_vec();
    let writer = std::thread::spawn(move || {
        stdin.write_all(&input).expect("write to psql");
    });
    let out = child.wait_with_output().expect("wait for docker exec");
    writer.join().unwrap();
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn finalized_upgrade_is_restored_from_its_backup_never_replayed() {
    let Some(_engine) = support::require_docker() else {
        return;
    };
    let mut times = Vec::new();
    let t = Instant::now();
    let stack = Stack::up_seeded(20);
    times.push((
        "stack up (seeded, 20 users)".into(),
        t.elapsed().as_secs_f64(),
    ));
    let dir = stack.dir();
    let p = stack.project().to_string();
    let pg = stack.container("postgres");

    let start = fingerprint(&stack.connect().await, "public").await.unwrap();
    let audit_start = start.tables["audit_events"].rows;
    assert!(audit_start > 0, "seeded audit_events: {start:?}");
    let compose_original = std::fs::read(stack.compose_file()).unwrap();
    // The guide's backup, for the contrast at the end: a plain SQL dump of the pre-upgrade DB.
    let plain_dump = Command::new("docker")
        .args([
            "exec",
            &pg,
            "pg_dump",
            "-Fp",
            "-U",
            "privexbot",
            "privexbot",
        ])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(plain_dump.status.success(), "{}", text(&plain_dump));
    assert!(plain_dump.stdout.len() > 1000);

    // The upgrade, then finalize.
    let mut args = vec!["run", "--yes"];
    args.extend(SIGN);
    let o = timed(dir, &args, "run (upgrade)", &mut times);
    assert_eq!(o.status.code(), Some(0), "run\n{}", text(&o));
    let run = latest_run(dir);
    let o = timed(dir, &["finalize", "--yes"], "finalize", &mut times);
    assert_eq!(o.status.code(), Some(0), "finalize\n{}", text(&o));
    let pg_id = stack.container_id("postgres");
    let world_upgraded = containers(&p);
    assert!(
        !world_upgraded.iter().any(|c| c.contains("cutover-old")),
        "finalize removed the parked container: {world_upgraded:?}"
    );
    assert!(
        world_upgraded.iter().any(|c| c.contains("qdrant")),
        "{world_upgraded:?}"
    );
    let compose_upgraded = std::fs::read(stack.compose_file()).unwrap();
    assert_ne!(compose_upgraded, compose_original);

    // 1. The fast rollback is refused after finalize, naming the way out; nothing changed.
    let o = timed(dir, &["rollback", "--yes"], "rollback refused", &mut times);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(2), "{out}");
    assert!(
        out.contains("--disaster") && out.contains("finalized"),
        "{out}"
    );
    assert_eq!(stack.container_id("postgres"), pg_id);
    assert_eq!(
        docker(&["inspect", "-f", "{{.Config.Image}} {{.State.Running}}", &pg]),
        format!("{AFTER} true")
    );
    assert_eq!(containers(&p), world_upgraded, "refused: nothing changed");
    assert!(has_vector(&stack).await, "refused: vector still there");
    assert_eq!(
        std::fs::read(stack.compose_file()).unwrap(),
        compose_upgraded
    );
    assert_no_lock(dir, "refused fast rollback");

    // 2. A corrupted backup: refused before anything is touched, naming the sha256 mismatch.
    let rep = report(&run);
    let backup = PathBuf::from(rep["upgrade"]["backup"]["path"].as_str().unwrap());
    let sha = rep["upgrade"]["backup"]["sha256"]
        .as_str()
        .unwrap()
        .to_string();
    let good = std::fs::read(&backup).unwrap();
    let mut bad = good.clone();
    let mid = bad.len() / 2;
    bad[mid] ^= 0x01;
    std::fs::write(&backup, &bad).unwrap();
    let o = timed(
        dir,
        &["rollback", "--disaster", "--yes"],
        "rollback --disaster refused (corrupt backup)",
        &mut times,
    );
    let out = text(&o);
    assert_eq!(o.status.code(), Some(2), "corrupt backup refused\n{out}");
    assert!(
        out.contains("sha256") && out.contains(&sha) && out.contains("changed"),
        "{out}"
    );
    assert_eq!(
        containers(&p),
        world_upgraded,
        "corrupt backup: no container stopped, removed or replaced"
    );
    assert_eq!(
        std::fs::read(stack.compose_file()).unwrap(),
        compose_upgraded
    );
    assert!(has_vector(&stack).await, "corrupt backup: vector untouched");
    assert_tables_kept(&stack, &start, "corrupt backup refused").await;
    assert_no_lock(dir, "corrupt backup refused");
    std::fs::write(&backup, &good).unwrap();

    // 3. The disaster rollback.
    let o = timed(
        dir,
        &["rollback", "--disaster", "--yes"],
        "rollback --disaster",
        &mut times,
    );
    let out = text(&o);
    assert_eq!(
        o.status.code(),
        Some(0),
        "documented: 0 = the rollback asked for completed\n{out}"
    );
    assert!(out.contains("rollback path: disaster"), "{out}");
    assert_eq!(
        docker(&["inspect", "-f", "{{.Config.Image}} {{.State.Running}}", &pg]),
        format!("{BEFORE} true")
    );
    assert_eq!(
        services(&p),
        vec![
            format!("{p}-backend cutover-testbed/app:latest running"),
            format!("{p}-celery-worker cutover-testbed/app:latest running"),
            format!("{p}-postgres {BEFORE} running"),
        ],
        "no qdrant, no parked container"
    );
    assert!(!has_vector(&stack).await, "vector absent after the restore");
    assert_tables_kept(&stack, &start, "disaster rollback").await;
    assert_eq!(
        audit_rows(&stack).await,
        audit_start,
        "audit_events (no primary key): exactly its rows, none doubled"
    );
    assert_eq!(
        std::fs::read(stack.compose_file()).unwrap(),
        compose_original,
        "compose file byte-identical to the original"
    );
    let http = HttpClient::new(Duration::from_secs(3));
    http.backend_health(
        &format!("http://127.0.0.1:{}", stack.backend_port()),
        "/health",
        Some("healthy"),
    )
    .await
    .expect("backend /health healthy after the disaster rollback");
    let rep = report(&run);
    let rb = &rep["upgrade"]["rollback"];
    assert_eq!(rb["path"], "disaster", "{rb}");
    assert_eq!(
        rb["check"]["compared"].as_u64(),
        Some(start.tables.len() as u64),
        "{rb}"
    );
    assert!(rb["check"]["backend_healthy_url"].is_string(), "{rb}");
    assert!(rb["undo_failed"].as_array().unwrap().is_empty(), "{rb}");
    let md = std::fs::read_to_string(run.join("report.md")).unwrap();
    assert!(
        md.contains("## Rollback") && md.contains("- path: disaster"),
        "{md}"
    );
    assert_no_lock(dir, "disaster rollback");
    let aside = rb["swap"]["aside"]
        .as_str()
        .expect("aside database in the report");
    assert_eq!(
        databases(&stack).await,
        vec!["privexbot".to_string(), aside.to_string()],
        "the database the upgrade left is kept aside"
    );
    let remove = rb["remove_aside"].as_str().unwrap_or_default();
    assert!(
        remove.contains(&format!("docker exec {pg} psql -U privexbot -d postgres"))
            && remove.contains(&format!("DROP DATABASE \"{aside}\"")),
        "{rb}"
    );
    // The rows the writers added while the upgrade stood, reported as lost, read from the
    // tables' counters (no table read with the writers stopped): exactly what the database
    // set aside holds beyond the stop.
    let at_stop = stop_rows(&run, "worker_ticks");
    let aside_rows: i64 = docker(&[
        "exec",
        &pg,
        "psql",
        "-U",
        "privexbot",
        "-d",
        aside,
        "-Atc",
        "SELECT count(*) FROM worker_ticks",
    ])
    .trim()
    .parse()
    .unwrap();
    let lost = rb["check"]["window_rows"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|l| l.as_str())
        .find(|l| l.starts_with("worker_ticks: "))
        .unwrap_or_else(|| panic!("no worker_ticks line: {rb}"))
        .to_string();
    assert!(
        aside_rows > at_stop,
        "the worker wrote while the upgrade stood"
    );
    assert_eq!(
        lost,
        format!(
            "worker_ticks: {} row(s) inserted, 0 updated, 0 deleted while the upgrade stood, lost",
            aside_rows - at_stop
        )
    );
    // The printed command works as printed.
    let cmd = remove.split('`').nth(1).expect("a command in backticks");
    let o = Command::new("sh").args(["-c", cmd]).output().unwrap();
    assert!(o.status.success(), "{cmd}: {}", text(&o));
    assert_eq!(databases(&stack).await, vec!["privexbot".to_string()]);
    assert!(
        out.contains(remove),
        "the summary says how to drop it\n{out}"
    );
    // The worker writes again, continuing from the restored sequence without gap or double.
    let db = stack.connect().await;
    let ticks_restored = start.tables["worker_ticks"].rows;
    support::wait_for("the worker to write again", Duration::from_secs(30), || {
        let db = &db;
        async move {
            let r = db
                .query_one("SELECT count(*) FROM worker_ticks", &[])
                .await
                .ok()?;
            (r.get::<_, i64>(0) > ticks_restored + 2).then_some(())
        }
    })
    .await;
    assert_worker_seq_gapless(&db, "after the disaster rollback").await;
    drop(db);

    // 4. The contrast: the guide's rollback, the same pre-upgrade data replayed with psql into
    //    the live, non-empty database. psql exits 0 (errors only on stderr), and the table
    //    without a primary key silently holds every row twice.
    let t = Instant::now();
    let guide = exec_with_stdin(
        &pg,
        &["psql", "-U", "privexbot", "-d", "privexbot"],
        &plain_dump.stdout,
    );
    times.push((
        "guide's psql < backup.sql".into(),
        t.elapsed().as_secs_f64(),
    ));
    let stderr = String::from_utf8_lossy(&guide.stderr);
    assert_eq!(guide.status.code(), Some(0), "psql exits 0: {stderr}");
    assert!(
        stderr.contains("ERROR"),
        "and yet it reported errors: {stderr}"
    );
    assert_eq!(
        audit_rows(&stack).await,
        2 * audit_start,
        "the guide's rollback doubles audit_events"
    );

    for (what, secs) in &times {
        eprintln!("  {what:<46} {secs:.1}s");
    }
    let project = stack.down();
    assert!(support::leftovers(&project).is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_restore_leaves_the_original_database_in_place() {
    let Some(_engine) = support::require_docker() else {
        return;
    };
    let stack = Stack::up_seeded(10);
    let dir = stack.dir();
    let start = fingerprint(&stack.connect().await, "public").await.unwrap();
    let o = Run::upgrade(dir).output();
    assert_eq!(o.status.code(), Some(0), "run\n{}", text(&o));
    let run = latest_run(dir);
    let upgraded = fingerprint(&stack.connect().await, "public").await.unwrap();

    // A dump cut short, which the journal vouches for: only pg_restore can find it bad.
    let rep = report(&run);
    let backup = PathBuf::from(rep["upgrade"]["backup"]["path"].as_str().unwrap());
    let sha = rep["upgrade"]["backup"]["sha256"]
        .as_str()
        .unwrap()
        .to_string();
    let good = std::fs::read(&backup).unwrap();
    let cut = &good[..good.len() * 6 / 10];
    std::fs::write(&backup, cut).unwrap();
    let cut_sha = cutover::adapters::backup::sha256_file(&backup).unwrap();
    let journal = run.join("journal.jsonl");
    let lines = std::fs::read_to_string(&journal).unwrap();
    assert!(lines.contains(&sha));
    std::fs::write(&journal, lines.replace(&sha, &cut_sha)).unwrap();

    let (o, out) = rollback_from_dump(dir);
    assert_eq!(
        o.status.code(),
        Some(3),
        "the restore fails, the rollback stops\n{out}"
    );
    assert!(
        out.contains("the disaster restore failed") && out.contains("untouched"),
        "{out}"
    );
    assert_eq!(
        databases(&stack).await,
        vec!["privexbot".to_string()],
        "the original keeps its name; no restore or aside database is left"
    );
    // As the upgrade left it, now served by the old image: the pre-existing tables with their
    // rows, the upgrade's own tables present (their hnsw index needs `vector`'s library, which
    // the old image lacks: they are looked up, not read).
    assert!(
        has_vector(&stack).await,
        "the original as the upgrade left it"
    );
    let db = stack.connect().await;
    for (name, fp) in &start.tables {
        if name != "worker_ticks" {
            let n: i64 = db
                .query_one(&format!("SELECT count(*) FROM \"{name}\""), &[])
                .await
                .unwrap_or_else(|e| panic!("count {name}: {e:?}"))
                .get(0);
            assert_eq!(n, fp.rows, "table {name} untouched");
        }
    }
    for name in upgraded
        .tables
        .keys()
        .filter(|t| !start.tables.contains_key(*t))
    {
        let present: bool = db
            .query_one("SELECT to_regclass($1) IS NOT NULL", &[name])
            .await
            .unwrap()
            .get(0);
        assert!(present, "the upgrade's table {name} is still there");
    }
    assert!(upgraded.tables.contains_key("chunks"), "{upgraded:?}");
    drop(db);

    // The dump put back: the same command goes on from where it stopped.
    std::fs::write(&backup, &good).unwrap();
    let lines = std::fs::read_to_string(&journal).unwrap();
    std::fs::write(&journal, lines.replace(&cut_sha, &sha)).unwrap();
    let (o, out) = rollback_from_dump(dir);
    assert_eq!(o.status.code(), Some(0), "rolled back\n{out}");
    assert!(!has_vector(&stack).await);
    assert_tables_kept(&stack, &start, "disaster rollback after a failed restore").await;
    let dbs = databases(&stack).await;
    assert_eq!(dbs.len(), 2, "{dbs:?}");
    assert!(dbs[1].starts_with("privexbot_cutover_aside_"), "{dbs:?}");
    let project = stack.down();
    assert!(support::leftovers(&project).is_empty());
}

/// The restored database is compared with the stop row by row BEFORE it takes the original's
/// place. Here the journal's fingerprint of the stop is made to disagree with the backup on
/// one table's contents, not its row count: what a dump that restores cleanly but holds other
/// data looks like. A check of row counts alone (what ran before the swap until now) passes it
/// and swaps it in; this one refuses: exit 3 naming the table, the restored database dropped,
/// the original in place under its name, the writers stopped. With the journal put back, the
/// same command finishes (exit 0), its check after the swap reading row counts alongside the
/// writers' start, as the report says.
#[tokio::test(flavor = "multi_thread")]
async fn a_restore_whose_contents_differ_from_the_stop_is_never_swapped_in() {
    let Some(_engine) = support::require_docker() else {
        return;
    };
    let stack = Stack::up_seeded(10);
    let dir = stack.dir();
    let start = fingerprint(&stack.connect().await, "public").await.unwrap();
    let o = Run::upgrade(dir).output();
    assert_eq!(o.status.code(), Some(0), "run\n{}", text(&o));
    let run = latest_run(dir);

    let journal = run.join("journal.jsonl");
    let good = std::fs::read_to_string(&journal).unwrap();
    let mut tampered = 0;
    let lines: Vec<String> = good
        .lines()
        .map(|l| {
            let mut v: serde_json::Value = serde_json::from_str(l).unwrap();
            if v["type"] == "step_output" && v["step"] == "verify-fingerprints" {
                let sum = &mut v["output"]["before"]["tables"]["tags"]["checksum"];
                assert!(sum.is_string(), "{v}");
                *sum = serde_json::Value::String("12345".into());
                tampered += 1;
            }
            v.to_string()
        })
        .collect();
    assert!(tampered > 0, "the journal holds the stop's fingerprint");
    std::fs::write(&journal, lines.join("\n") + "\n").unwrap();

    let (o, out) = rollback_from_dump(dir);
    assert_eq!(o.status.code(), Some(3), "the rollback stops\n{out}");
    assert!(
        out.contains("tags: same row count, different contents") && out.contains("untouched"),
        "{out}"
    );
    assert_eq!(
        databases(&stack).await,
        vec!["privexbot".to_string()],
        "the original keeps its name; the restored database was dropped, nothing set aside"
    );
    assert!(
        has_vector(&stack).await,
        "the original as the upgrade left it"
    );
    let p = stack.project().to_string();
    let now = services(&p);
    for writer in ["backend", "celery-worker"] {
        assert!(
            now.iter()
                .any(|c| c.starts_with(&format!("{p}-{writer} ")) && !c.ends_with(" running")),
            "{writer} must stay stopped: {now:?}"
        );
    }

    std::fs::write(&journal, &good).unwrap();
    let (o, out) = rollback_from_dump(dir);
    assert_eq!(o.status.code(), Some(0), "rolled back\n{out}");
    assert!(
        out.contains("contents compared with the stop on the restored data before it took"),
        "{out}"
    );
    assert!(!has_vector(&stack).await);
    assert_tables_kept(&stack, &start, "disaster rollback after a refused restore").await;
    let rb = report(&latest_run(dir))["upgrade"]["rollback"].clone();
    assert_eq!(rb["check"]["contents_compared_before_swap"], true, "{rb}");
    let project = stack.down();
    assert!(support::leftovers(&project).is_empty());
}
