//! The disaster rollback from the physical backup's files (`disaster_restore = "volume"`, the
//! default; the first command sets it, the second relies on the default), on
//! one real seeded test-bed stack (Alpine-shaped → Debian-shaped, the real binary):
//!
//! 1. the upgrade completes; the writers run on the new server for a while;
//! 2. `rollback --disaster --yes` with the undo of `recreate-postgres` failed right after the
//!    copy was journaled (`fail-in-undo:recreate-postgres:3`: the files are in, postgres is
//!    stopped): exit 3, the journal holds the swap as copied and not verified;
//! 3. the same command again finishes it: exit 0, postgres on the before image, running, the
//!    cluster the stop's (every pre-existing table's fingerprint as the test read it before the
//!    upgrade, the worker's aside), `vector` gone, no qdrant, the compose file byte-identical,
//!    the lock free, the report naming the volume swap as verified; the files the upgrade left
//!    are in `cutover-aside-<run>` inside the data directory, owned as they were, and the
//!    report's command to remove them, run as printed, removes them while postgres keeps
//!    serving.

mod support;

use std::process::Command;

use cutover::adapters::fingerprint::fingerprint;
use support::Stack;
use support::cutover::{
    BEFORE, Run, assert_no_lock, assert_tables_kept, has_vector, latest_run, report, services, text,
};

fn ls_data(volume: &str) -> Vec<String> {
    support::cutover::ls_volume(volume)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_disaster_rollback_copies_the_physical_backup_in() {
    let Some(_engine) = support::require_docker() else {
        return;
    };
    let stack = Stack::up_seeded(2000);
    let dir = stack.dir();
    let p = stack.project().to_string();
    let volume = format!("{p}_postgres_data");
    let compose_before = std::fs::read(stack.compose_file()).unwrap();
    let start = fingerprint(&stack.connect().await, "public").await.unwrap();

    let o = Run::upgrade(dir).output();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    std::thread::sleep(std::time::Duration::from_secs(2)); // the writers write on the new server
    let run = latest_run(dir);

    // 2. The undo stops right after the copy is journaled.
    let o = Run::new(dir, &["rollback", "--disaster", "--yes"])
        .env("CUTOVER_DISASTER_RESTORE", "volume")
        .fault(Some("fail-in-undo:recreate-postgres:3"))
        .output();
    let out = text(&o);
    assert_eq!(o.status.code(), Some(3), "{out}");
    let swap = &report(&run)["upgrade"]["rollback"]["volume_swap"];
    assert_eq!(swap["copied"], true, "{swap}\n{out}");
    assert_eq!(swap["verified"], false, "{swap}");

    // 3. Again: it finishes.
    // No `disaster_restore` set: the volume is the default with a physical backup.
    let o = Run::new(dir, &["rollback", "--disaster", "--yes"]).output();
    let out = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}");
    assert!(out.contains("the restored cluster is the stop's"), "{out}");
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
    assert_tables_kept(&stack, &start, "volume swap").await;
    assert_eq!(
        std::fs::read(stack.compose_file()).unwrap(),
        compose_before,
        "compose file bytes"
    );
    assert_no_lock(dir, "volume swap");
    let rb = report(&run)["upgrade"]["rollback"].clone();
    assert_eq!(rb["path"], "disaster", "{rb}");
    assert_eq!(rb["volume_swap"]["verified"], true, "{rb}");
    assert!(rb["swap"].is_null(), "no database restored: {rb}");

    // The files the upgrade left, aside in the data directory, and the way to remove them.
    let aside = rb["volume_swap"]["aside"].as_str().unwrap().to_string();
    assert!(ls_data(&volume).contains(&aside), "{:?}", ls_data(&volume));
    let remove = rb["remove_aside"].as_str().unwrap_or_default();
    let command = remove
        .split('`')
        .nth(1)
        .unwrap_or_else(|| panic!("a command in {remove}"));
    let ran = Command::new("sh").args(["-c", command]).output().unwrap();
    assert!(ran.status.success(), "{}", text(&ran));
    assert!(!ls_data(&volume).contains(&aside), "{:?}", ls_data(&volume));
    let n: i64 = stack
        .connect()
        .await
        .query_one("SELECT count(*) FROM users", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, start.tables["users"].rows, "postgres still serves");
}
