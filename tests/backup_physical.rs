//! The physical backup (`backup_kind = physical`, the default), against real seeded test-bed
//! stacks on the real swap (Alpine-shaped → Debian-shaped):
//!
//! - `the_physical_backup_is_the_state_at_the_stop`: a done upgrade leaves a volume holding
//!   the base taken while the app ran plus the WAL up to the stop. Started here by the test
//!   itself on the OLD image, it holds exactly the row counts of the fingerprint taken at the
//!   stop, `worker_ticks` included: the worker wrote those rows after the base was taken, so
//!   without the WAL catch-up the counts differ (checked by disabling it). No replication slot
//!   is left, the portable dump exists, and the report names the volume.
//! - `a_failed_window_is_restored_from_the_physical_backup`: the run fails after the collation
//!   step's change with auto-rollback off, before any dump exists; `rollback --disaster` makes
//!   the dump from the physical backup and restores it: the data is the stop's, the volume is
//!   kept (it is what the restore came from), no slot is left.
//! - `a_server_that_refuses_replication_gets_a_dump_in_the_window`: `max_wal_senders = 0`;
//!   the base backup is refused with the reason and the fix, the window takes a pg_dump, the
//!   run is done, and no volume or slot is left behind.

mod support;

use std::process::{Command, Stdio};

use support::cutover::{BEFORE, Run, latest_run, report, text};
use support::{Stack, docker};

fn volumes(project: &str) -> Vec<String> {
    support::cutover::backup_volumes(project)
}

async fn slots(stack: &Stack) -> Vec<String> {
    support::cutover::replication_slots(&stack.connect().await).await
}

/// Row counts of every table in `tables`, read from the backup in `volume` started on the old
/// image in a container of the test's own (no network).
fn counts_in_backup(volume: &str, tables: &[String]) -> Vec<(String, i64)> {
    let sql = tables
        .iter()
        .map(|t| format!("SELECT '{t}', count(*) FROM public.\"{t}\""))
        .collect::<Vec<_>>()
        .join(" UNION ALL ");
    let script = format!(
        "pg_ctl -D /b/data -w -l /tmp/log -o \"-c listen_addresses=''\" start >/dev/null || \
         {{ cat /tmp/log; exit 1; }}; psql -X -U privexbot -d privexbot -At -F ' ' -c \"{sql}\"; \
         pg_ctl -D /b/data -w -m fast stop >/dev/null"
    );
    let out = Command::new("docker")
        .args([
            "run",
            "--rm",
            "--network",
            "none",
            "--user",
            "postgres",
            "-v",
            &format!("{volume}:/b"),
            "--entrypoint",
            "sh",
            BEFORE,
            "-c",
            &script,
        ])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(out.status.success(), "starting the backup: {}", text(&out));
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let (t, n) = l.split_once(' ')?;
            Some((t.to_string(), n.trim().parse().ok()?))
        })
        .collect()
}

fn counts_before(rep: &serde_json::Value) -> Vec<(String, i64)> {
    rep["upgrade"]["fingerprint_before"]["tables"]
        .as_object()
        .expect("a fingerprint before")
        .iter()
        .map(|(t, f)| (t.clone(), f["rows"].as_i64().unwrap()))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_physical_backup_is_the_state_at_the_stop() {
    let Some(_engine) = support::require_docker() else {
        return;
    };
    let stack = Stack::up_seeded(200);
    let dir = stack.dir();
    let out = Run::upgrade(dir).output();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let rep = report(&latest_run(dir));
    let physical = &rep["upgrade"]["physical_backup"];
    let volume = physical["volume"]
        .as_str()
        .expect("a physical backup")
        .to_string();
    assert_eq!(volumes(stack.project()), std::slice::from_ref(&volume));
    assert!(slots(&stack).await.is_empty(), "no slot is left");
    assert!(
        physical["catch_up"]["segments"].as_u64().unwrap() >= 1,
        "{physical}"
    );
    let dump = rep["upgrade"]["backup"]["path"]
        .as_str()
        .expect("a portable dump");
    assert!(std::path::Path::new(dump).is_file());

    let mut want = counts_before(&rep);
    want.sort();
    let tables: Vec<String> = want.iter().map(|(t, _)| t.clone()).collect();
    let mut got = counts_in_backup(&volume, &tables);
    got.sort();
    assert_eq!(got, want, "the backup holds the stop's rows");
    assert!(
        want.iter().any(|(t, n)| t == "worker_ticks" && *n > 0),
        "the worker wrote rows: {want:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_window_is_restored_from_the_physical_backup() {
    let Some(_engine) = support::require_docker() else {
        return;
    };
    let stack = Stack::up_seeded(200);
    let dir = stack.dir();
    // The stop's row counts, but the worker's: nothing else writes, so the tables as the test
    // reads them now are the stop's. (The stopped run's report has no fingerprint of the stop:
    // the window reads no table, and its snapshot went with the process.)
    let start = cutover::adapters::fingerprint::fingerprint(&stack.connect().await, "public")
        .await
        .unwrap();
    let out = Run::upgrade(dir)
        .arg("--no-auto-rollback")
        .fault(Some("fail-after-change:collation"))
        .output();
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let run = latest_run(dir);
    assert!(
        !run.read_dir().unwrap().any(|e| e
            .unwrap()
            .path()
            .extension()
            .is_some_and(|x| x == "dump")),
        "no dump before the rollback: the window took only the WAL"
    );
    let rep = report(&run);
    assert!(rep["upgrade"]["fingerprint_before"].is_null(), "{rep}");
    let want: Vec<(String, i64)> = start
        .tables
        .iter()
        .map(|(t, f)| (t.clone(), f.rows))
        .collect();
    let volume = rep["upgrade"]["physical_backup"]["volume"]
        .as_str()
        .expect("a physical backup")
        .to_string();

    let out = Run::new(dir, &["rollback", "--disaster", "--yes"])
        // The dump path (the volume path has its own test: rollback_disaster_volume).
        .env("CUTOVER_DISASTER_RESTORE", "dump")
        .output();
    let log = text(&out);
    assert_eq!(out.status.code(), Some(0), "{log}");
    assert!(
        log.contains(&format!("dumping the physical backup in volume {volume}")),
        "{log}"
    );
    let db = stack.connect().await;
    for (table, rows) in &want {
        if table == "worker_ticks" {
            continue; // the worker writes again once the rollback restarted it
        }
        let n: i64 = db
            .query_one(&format!("SELECT count(*) FROM public.\"{table}\""), &[])
            .await
            .unwrap()
            .get(0);
        assert_eq!(n, *rows, "{table} after the disaster rollback");
    }
    drop(db);
    assert_eq!(
        volumes(stack.project()),
        [volume],
        "kept on the disaster path"
    );
    assert!(slots(&stack).await.is_empty(), "no slot is left");
    assert_eq!(
        docker(&[
            "inspect",
            "-f",
            "{{.Config.Image}}",
            &stack.container("postgres")
        ]),
        BEFORE
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_server_that_refuses_replication_gets_a_dump_in_the_window() {
    let Some(_engine) = support::require_docker() else {
        return;
    };
    let stack = Stack::up_seeded(50);
    let dir = stack.dir();
    stack
        .connect()
        .await
        .batch_execute("ALTER SYSTEM SET max_wal_senders = 0")
        .await
        .unwrap();
    stack.restart_postgres().await;
    let out = Run::upgrade(dir).output();
    let log = text(&out);
    assert_eq!(out.status.code(), Some(0), "{log}");
    assert!(
        log.contains("no physical backup") && log.contains("max_wal_senders"),
        "the refusal is said with its fix: {log}"
    );
    let rep = report(&latest_run(dir));
    assert!(rep["upgrade"]["physical_backup"].is_null());
    let dump = rep["upgrade"]["backup"]["path"].as_str().expect("a dump");
    assert!(std::path::Path::new(dump).is_file());
    assert!(volumes(stack.project()).is_empty(), "no empty volume left");
    assert!(slots(&stack).await.is_empty());
}
