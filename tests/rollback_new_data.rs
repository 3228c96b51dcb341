//! What the fast rollback does with data only the new version has, and what its check calls a
//! loss, against real seeded test-bed stacks (one each, the two tests in parallel).
//!
//! - `rows_in_new_tables_refuse_the_fast_rollback_until_discarded`: a done upgrade, then the
//!   new version's users write a knowledge base, a document and three chunks. `rollback --yes`
//!   refuses (exit 2) naming the counts, and nothing changed: postgres still on the new image,
//!   the rows still there, `vector` still there, same containers, same compose file. Its dump
//!   is in the run directory. `rollback --yes --discard-new-data` then rolls back (exit 1, the
//!   old image, the tables gone) and keeps a dump of the rows: restored into a scratch server
//!   on the new image, it holds the three chunks. Without the guard, the first rollback would
//!   have dropped them and left nothing.
//! - `a_row_deleted_while_the_upgrade_stood_fails_the_rollback_check`: a done upgrade, then one
//!   row of a pre-existing table is deleted on the new server. The fast rollback proves the old
//!   server resumed where the new one stopped, which used to make every difference "kept"; the
//!   check now fails (exit 3) naming the table and the one row fewer, and the writers stay
//!   stopped.

mod support;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use cutover::adapters::fingerprint::fingerprint;
use support::cutover::{
    AFTER, BEFORE, Run, assert_no_lock, assert_tables_kept, containers, has_vector, latest_run,
    report, text, write_new_version_rows,
};
use support::{Scratch, Stack, docker};

async fn count(stack: &Stack, table: &str) -> Option<i64> {
    let db = stack.connect().await;
    db.query_one(&format!("SELECT count(*) FROM {table}"), &[])
        .await
        .ok()
        .map(|r| r.get(0))
}

fn pg_image(stack: &Stack) -> String {
    docker(&[
        "inspect",
        "-f",
        "{{.Config.Image}} {{.State.Running}}",
        &stack.container("postgres"),
    ])
}

fn dumps_in(run: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(run)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("new-data"))
        })
        .collect();
    v.sort();
    v
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
        let _ = stdin.write_all(&input);
    });
    let out = child.wait_with_output().expect("wait for docker exec");
    writer.join().unwrap();
    out
}

/// Restores `dump` into a scratch server on the new image (the tables need `vector`) and
/// returns its `chunks` row count. The foreign keys to tables the dump does not hold fail
/// (pg_restore goes on without --exit-on-error); the rows load before them.
fn chunks_in_dump(dump: &Path) -> i64 {
    let scratch = Scratch::new();
    let name = format!("{}-scratch-pg", scratch.project);
    let mut args = vec!["run", "-d", "--name", &name];
    let labels = scratch.label_args();
    args.extend(labels.iter().map(String::as_str));
    args.extend([
        "-e",
        "POSTGRES_USER=privexbot",
        "-e",
        "POSTGRES_PASSWORD=scratch-only",
        AFTER,
    ]);
    docker(&args);
    let psql = |sql: &str| {
        Command::new("docker")
            .args([
                "exec",
                &name,
                "psql",
                "-X",
                "-A",
                "-t",
                "-U",
                "privexbot",
                "-d",
                "privexbot",
                "-c",
                sql,
            ])
            .stdin(Stdio::null())
            .output()
            .unwrap()
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while !psql("SELECT 1").status.success() {
        assert!(
            std::time::Instant::now() < deadline,
            "scratch server never answered"
        );
        std::thread::sleep(Duration::from_millis(300));
    }
    let o = psql("CREATE EXTENSION vector");
    assert!(o.status.success(), "{}", text(&o));
    let restored = exec_with_stdin(
        &name,
        &[
            "pg_restore",
            "--no-owner",
            "-U",
            "privexbot",
            "-d",
            "privexbot",
        ],
        &std::fs::read(dump).unwrap(),
    );
    let o = psql("SELECT count(*) FROM chunks");
    assert!(
        o.status.success(),
        "chunks restored from {}: {}\npg_restore: {}",
        dump.display(),
        text(&o),
        text(&restored)
    );
    String::from_utf8_lossy(&o.stdout).trim().parse().unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn rows_in_new_tables_refuse_the_fast_rollback_until_discarded() {
    let Some(_engine) = support::require_docker() else {
        return;
    };
    let stack = Stack::up_seeded(10);
    let dir = stack.dir();
    let p = stack.project().to_string();
    let start = fingerprint(&stack.connect().await, "public").await.unwrap();
    let o = Run::upgrade(dir).output();
    assert_eq!(o.status.code(), Some(0), "run\n{}", text(&o));
    let run = latest_run(dir);
    write_new_version_rows(&stack).await;
    assert_eq!(count(&stack, "chunks").await, Some(3));

    // Refused, with the counts; nothing changed.
    let world = containers(&p);
    let compose = std::fs::read(stack.compose_file()).unwrap();
    let o = Run::new(dir, &["rollback", "--yes"]).output();
    let out = text(&o);
    assert_eq!(o.status.code(), Some(2), "refused: exit 2\n{out}");
    assert!(
        out.contains("chunks 3")
            && out.contains("documents 1")
            && out.contains("knowledge_bases 1"),
        "names the counts: {out}"
    );
    assert!(
        out.contains("--discard-new-data"),
        "names the way on: {out}"
    );
    assert_eq!(
        pg_image(&stack),
        format!("{AFTER} true"),
        "new image still runs"
    );
    assert_eq!(
        containers(&p),
        world,
        "no container stopped, removed or replaced"
    );
    assert_eq!(std::fs::read(stack.compose_file()).unwrap(), compose);
    assert!(has_vector(&stack).await);
    assert_eq!(count(&stack, "chunks").await, Some(3), "rows intact");
    assert_eq!(count(&stack, "knowledge_bases").await, Some(1));
    let refused_dumps = dumps_in(&run);
    assert_eq!(
        refused_dumps.len(),
        1,
        "the refusal dumped them: {refused_dumps:?}"
    );
    assert!(
        out.contains(&refused_dumps[0].display().to_string()),
        "{out}"
    );
    assert_no_lock(dir, "refused rollback");

    // Discarded on request, with a dump kept.
    let o = Run::new(dir, &["rollback", "--yes", "--discard-new-data"]).output();
    let out = text(&o);
    assert_eq!(o.status.code(), Some(0), "rolled back\n{out}");
    assert_eq!(pg_image(&stack), format!("{BEFORE} true"));
    assert!(!has_vector(&stack).await);
    assert_eq!(count(&stack, "chunks").await, None, "chunks dropped");
    assert_tables_kept(&stack, &start, "after the discarding rollback").await;
    let rb = &report(&run)["upgrade"]["rollback"];
    let nd = &rb["new_data"];
    assert_eq!(nd["discarded"], true, "{rb}");
    assert_eq!(
        nd["counts"],
        serde_json::json!([["chunks", 3], ["documents", 1], ["knowledge_bases", 1]]),
        "{rb}"
    );
    let dump = PathBuf::from(nd["dump"].as_str().expect("dump path in the report"));
    assert!(dump.starts_with(&run), "{}", dump.display());
    let md = std::fs::read_to_string(run.join("report.md")).unwrap();
    assert!(md.contains("new-version data: 5 rows"), "{md}");
    assert_eq!(chunks_in_dump(&dump), 3, "the dump holds the three chunks");

    let project = stack.down();
    assert!(support::leftovers(&project).is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_row_deleted_while_the_upgrade_stood_fails_the_rollback_check() {
    let Some(_engine) = support::require_docker() else {
        return;
    };
    let stack = Stack::up_seeded(10);
    let dir = stack.dir();
    let o = Run::upgrade(dir).output();
    assert_eq!(o.status.code(), Some(0), "run\n{}", text(&o));
    let before = count(&stack, "audit_events").await.unwrap();
    stack
        .connect()
        .await
        .batch_execute(
            "DELETE FROM audit_events WHERE ctid = (SELECT ctid FROM audit_events LIMIT 1)",
        )
        .await
        .unwrap();

    let o = Run::new(dir, &["rollback", "--yes"]).output();
    let out = text(&o);
    assert_eq!(
        o.status.code(),
        Some(3),
        "the check fails the rollback\n{out}"
    );
    assert!(
        out.contains(&format!(
            "audit_events: {before} rows before the upgrade, {} now (1 fewer)",
            before - 1
        )),
        "{out}"
    );
    assert!(
        out.contains("old postgres resumed"),
        "the resume was proven: {out}"
    );
    let backend = docker(&[
        "inspect",
        "-f",
        "{{.State.Running}}",
        &stack.container("backend"),
    ]);
    assert_eq!(backend, "false", "the writers stay stopped");
    let project = stack.down();
    assert!(support::leftovers(&project).is_empty());
}
