//! `cutover rehearse` on the test bed's Alpine-shaped stack, the real binary against the real
//! engine, as an operator runs it before the window:
//!
//! - it passes (the upgrade to the Debian-shaped image and its fast rollback, on a physical
//!   copy), writes a forecast, and afterwards the live stack is exactly as it was (the world
//!   snapshot: container ids, images, states, restart policies, labels, compose bytes, volumes,
//!   networks, extensions, every table's fingerprint, the lock) with the same start times, no
//!   session of the rehearsal left on the live server, and nothing of the side stack on the
//!   engine;
//!   The real run afterwards shows the rehearsal on its checklist.
//! - a target image that lacks the cluster's locale fails the rehearsal (exit 1) with
//!   cutover's reason and the server's own words (the target is started on the copy after the
//!   pre-flight refused), and still leaves nothing; the real run is then refused by the `rehearsal` check
//!   (exit 2, nothing stopped);
//! - a database on a locale the target lacks (the cluster's own locale exists there) fails the
//!   rehearsal with that database's refusal in the server's words: the target starts on the
//!   copy and every database is opened, not only the application's;
//! - with `rehearse_app` on, copies of the backend and worker run on the side stack: the side
//!   run stops and starts them and waits for the backend's health, the forecast's app downtime
//!   holds it, the live app containers are untouched, and nothing is left; off (the default),
//!   no copy of the app is ever created;
//! - a fault injected after the recreate, inside the side run, fails it the same way: the
//!   teardown does not depend on how far the rehearsal got.
//! - a live server that allows no replication connection (`max_wal_senders = 0`) is copied
//!   logically (pg_dump into a server the old image initialised): the rehearsal passes, says
//!   which copy and why, carries the logical copy's caveats, still rebuilds the text indexes
//!   (the copy was built under the old C library), runs on the live server's configuration
//!   (the side run's base backup is refused too), and leaves the world as it was; when the
//!   pre-check passes but pg_basebackup is refused all the same (no `replication` line in
//!   pg_hba.conf), the copy falls back to pg_dump with pg_basebackup's own words.
//! - Ctrl-C while the logical copy's pg_dump runs ends that pg_dump's session on the live
//!   server (the Engine closes its output; nothing is left reading the live database).

mod support;

use std::path::Path;

use serde_json::Value;
use support::cutover::{GLIBC_AFTER, Run, latest_run, side_leftovers, text};
use support::world::World;
use support::{Stack, docker};

fn started_at(containers: &[String]) -> Vec<String> {
    containers
        .iter()
        .map(|c| docker(&["inspect", "-f", "{{.Name}} {{.State.StartedAt}}", c]))
        .collect()
}

fn rehearsal_json(dir: &Path) -> Value {
    let root = dir.join(".cutover/rehearsals");
    let mut all: Vec<_> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    all.sort();
    let last = all.pop().expect("a rehearsal directory");
    serde_json::from_slice(&std::fs::read(last.join("rehearsal.json")).unwrap()).unwrap()
}

/// Polls the engine's container names starting with `prefix` until `stop` is set; returns
/// every name seen.
fn watch(
    prefix: String,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> std::thread::JoinHandle<std::collections::BTreeSet<String>> {
    std::thread::spawn(move || {
        let mut seen = std::collections::BTreeSet::new();
        while !stop.load(std::sync::atomic::Ordering::Relaxed) {
            let names = docker(&["ps", "-a", "--format", "{{.Names}}"]);
            seen.extend(
                names
                    .lines()
                    .filter(|n| n.starts_with(&prefix))
                    .map(String::from),
            );
            std::thread::sleep(std::time::Duration::from_millis(300));
        }
        seen
    })
}

/// The side run's journal lines for `step` that carry an output.
fn journal_output(run: &Path, step: &str) -> Value {
    let text = std::fs::read_to_string(run.join("journal.jsonl")).unwrap();
    text.lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v.to_string().contains(&format!("\"{step}\"")))
        .find_map(|v| v.get("output").filter(|o| !o.is_null()).cloned())
        .unwrap_or(Value::Null)
}

#[tokio::test(flavor = "multi_thread")]
async fn with_rehearse_app_copies_of_the_writers_run_on_the_side_and_the_live_app_is_untouched() {
    let Some(_engine) = support::require_docker() else {
        return;
    };
    let stack = Stack::up_seeded(50);
    let p = stack.project().to_string();
    let names: Vec<String> = ["postgres", "backend", "celery-worker"]
        .iter()
        .map(|s| stack.container(s))
        .collect();
    let ids: Vec<String> = ["postgres", "backend", "celery-worker"]
        .iter()
        .map(|s| stack.container_id(s))
        .collect();
    let before = World::of(&stack).await;
    let started = started_at(&names);

    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let seen = watch(format!("{p}-rehearsal-"), stop.clone());
    let out = Run::new(stack.dir(), &["rehearse"])
        .env("CUTOVER_REHEARSE_APP", "true")
        .output();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let seen = seen.join().unwrap();
    let said = text(&out);
    assert_eq!(out.status.code(), Some(0), "{said}");
    assert!(said.contains("Rehearsal PASSED"), "{said}");
    assert!(
        said.contains("application: rehearsed (copies of backend, celery-worker")
            && said.contains("the app's own start-up included")
            && !said.contains("not rehearsed: the application"),
        "{said}"
    );
    assert!(
        said.contains("application copy ran without: backend: ports 127.0.0.1::8000"),
        "what the copy was run without is said: {said}"
    );
    assert!(
        !said.contains(stack.password()),
        "the password is never printed"
    );
    for s in ["backend", "celery-worker"] {
        assert!(
            seen.contains(&format!("{p}-rehearsal-{s}")),
            "a copy of {s} existed during the run: {seen:?}"
        );
    }

    // The side run really stopped and restarted the copies, and waited for the backend.
    let r = rehearsal_json(stack.dir());
    assert_eq!(r["passed"], true, "{r}");
    let side_run = Path::new(r["side_run"].as_str().unwrap());
    let stopped = journal_output(side_run, "stop-writers");
    assert_eq!(
        stopped["stopped"],
        serde_json::json!([
            format!("{p}-rehearsal-backend"),
            format!("{p}-rehearsal-celery-worker")
        ]),
        "{stopped}"
    );
    let healthy = journal_output(side_run, "backend-healthy");
    assert!(
        healthy["app_downtime_ms"].as_i64().unwrap_or(0) > 0 && !healthy["url"].is_null(),
        "the side run measured the copy's health: {healthy}"
    );
    let f = &r["forecast"];
    assert_eq!(f["app_rehearsed"], true, "{f}");
    let window: Vec<&str> = f["phases"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["in_window"] == true)
        .map(|p| p["step"].as_str().unwrap())
        .collect();
    assert!(
        window.contains(&"start-writers") && window.last() == Some(&"backend-healthy"),
        "{f}"
    );
    assert!(
        f["not_rehearsed"]
            .as_array()
            .unwrap()
            .iter()
            .all(|n| !n.as_str().unwrap().contains("the application (")),
        "{f}"
    );

    // The live app: the same containers, never restarted; the world as it was; nothing left.
    let ids_after: Vec<String> = ["postgres", "backend", "celery-worker"]
        .iter()
        .map(|s| stack.container_id(s))
        .collect();
    assert_eq!(ids_after, ids);
    assert_eq!(
        started_at(&names),
        started,
        "nothing of the live stack restarted"
    );
    assert_eq!(
        World::of(&stack).await.diff(&before, &[]),
        Vec::<String>::new()
    );
    assert_eq!(side_leftovers(&p), Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rehearsal_passes_forecasts_and_leaves_the_live_stack_and_the_engine_as_they_were() {
    let Some(_engine) = support::require_docker() else {
        return;
    };
    let stack = Stack::up_seeded(300);
    let p = stack.project().to_string();
    let names: Vec<String> = ["postgres", "backend", "celery-worker"]
        .iter()
        .map(|s| stack.container(s))
        .collect();
    let before = World::of(&stack).await;
    let started = started_at(&names);

    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let seen = watch(format!("{p}-rehearsal-"), stop.clone());
    let out = Run::new(stack.dir(), &["rehearse"]).output();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let seen = seen.join().unwrap();
    let said = text(&out);
    assert_eq!(out.status.code(), Some(0), "{said}");
    assert!(
        seen.contains(&format!("{p}-rehearsal-postgres"))
            && !seen
                .iter()
                .any(|n| n.contains("backend") || n.contains("celery")),
        "rehearse_app off (the default): no copy of the application is created: {seen:?}"
    );
    assert!(
        said.contains("application: not rehearsed (rehearse_app = false)"),
        "{said}"
    );
    assert!(said.contains("Rehearsal PASSED"), "{said}");
    assert!(said.contains("forecast: DB downtime"), "{said}");
    assert!(
        said.contains("not rehearsed: the application"),
        "what was not rehearsed is said: {said}"
    );
    assert!(
        !said.contains(stack.password()),
        "the password is never printed"
    );

    // The live stack: the same world, the same start times, no session of the rehearsal.
    let after = World::of(&stack).await;
    assert_eq!(after.diff(&before, &[]), Vec::<String>::new());
    assert_eq!(
        started_at(&names),
        started,
        "nothing of the live stack restarted"
    );
    let db = stack.connect().await;
    let backups: i64 = db
        .query_one(
            "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'walsender' \
             OR application_name = 'pg_basebackup'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(backups, 0, "no replication session left on the live server");
    drop(db);
    assert_eq!(side_leftovers(&p), Vec::<String>::new());

    // What it measured, kept with its journal after the teardown.
    let r = rehearsal_json(stack.dir());
    assert_eq!(r["passed"], true, "{r}");
    assert!(r["copy_bytes"].as_u64().unwrap() > 0, "{r}");
    let f = &r["forecast"];
    assert!(f["db_downtime_ms"].as_i64().unwrap() > 0, "{f}");
    assert!(
        f["reindexed"].as_u64().unwrap() >= 3,
        "the text indexes: {f}"
    );
    assert!(f["rollback_ms"].as_i64().unwrap() > 0, "{f}");
    let side_run = Path::new(r["side_run"].as_str().unwrap());
    assert!(
        side_run.join("journal.jsonl").exists(),
        "{}",
        side_run.display()
    );
    let dumps: Vec<_> = std::fs::read_dir(side_run)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .filter(|n| n.ends_with(".dump"))
        .collect();
    assert_eq!(
        dumps,
        Vec::<String>::new(),
        "the copy's backup is measured, then deleted"
    );

    // The checklist now carries it as evidence, and the real run goes through.
    let run = Run::upgrade(stack.dir()).output();
    let said = text(&run);
    assert_eq!(run.status.code(), Some(0), "{said}");
    assert!(said.contains("Rehearsal passed at"), "{said}");
    let md = std::fs::read_to_string(latest_run(stack.dir()).join("report.md")).unwrap();
    assert!(
        md.contains("- forecast by the rehearsal at") && md.contains("- database: "),
        "the report sets the forecast beside the measured downtime: {md}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_target_without_the_clusters_locale_fails_the_rehearsal_and_leaves_nothing() {
    let Some(_engine) = support::require_docker() else {
        return;
    };
    let stack = Stack::up_seeded(50);
    let before = World::of(&stack).await;
    // The glibc test image has no en_US.utf8, which the Alpine-shaped cluster uses.
    let out = Run::new(stack.dir(), &["rehearse"])
        .target(GLIBC_AFTER)
        .output();
    let said = text(&out);
    assert_eq!(out.status.code(), Some(1), "{said}");
    assert!(said.contains("Rehearsal FAILED"), "{said}");
    assert!(
        said.contains("en_US.utf8"),
        "the reason names the locale: {said}"
    );
    assert!(said.contains("the live stack was not touched"), "{said}");
    // Beyond cutover's reason, the server's own words: the target was started on the copy.
    assert!(
        said.contains(
            r#"on the copy, the server said: LOG:  invalid value for parameter "lc_messages": "en_US.utf8""#
        ) && said.contains("FATAL:  configuration file"),
        "the server's own message: {said}"
    );
    let r = rehearsal_json(stack.dir());
    assert_eq!(r["target_on_copy"]["accepted"], false, "{r}");
    assert!(r["forecast"].is_null(), "nothing ran to forecast from: {r}");
    assert_eq!(
        World::of(&stack).await.diff(&before, &[]),
        Vec::<String>::new()
    );
    assert_eq!(side_leftovers(stack.project()), Vec::<String>::new());

    // The failed rehearsal is a refused pre-flight of the real run: exit 2, nothing stopped.
    let run = Run::upgrade(stack.dir()).target(GLIBC_AFTER).output();
    let said = text(&run);
    assert_eq!(run.status.code(), Some(2), "{said}");
    assert!(
        said.contains("rehearsal") && said.contains("failed") && said.contains("en_US.utf8"),
        "{said}"
    );
    assert_eq!(
        World::of(&stack).await.diff(&before, &[]),
        Vec::<String>::new()
    );
}

/// A stand-in for a `postgres:16-alpine` cluster with one database on a second locale: the
/// Alpine-shaped image plus `de_DE.utf8` (musl-shaped like its `en_US.utf8`: a copy of
/// `C.utf8`), which the Debian-shaped target does not have. Built once, kept (shared layers).
fn before_with_a_second_locale() -> String {
    let tag = "cutover-test/postgres-alpine-shaped-de:latest".to_string();
    let mut build = std::process::Command::new("docker")
        .args(["build", "-q", "-t", &tag, "-"])
        .env("DOCKER_BUILDKIT", "0")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("docker build");
    {
        use std::io::Write;
        let mut stdin = build.stdin.take().unwrap();
        writeln!(
            stdin,
            "FROM {}\nRUN cp -a /usr/lib/locale/C.utf8 /usr/lib/locale/de_DE.utf8",
            support::cutover::BEFORE
        )
        .unwrap();
    }
    assert!(build.wait().unwrap().success(), "building {tag}");
    tag
}

#[tokio::test(flavor = "multi_thread")]
async fn a_database_whose_locale_the_target_lacks_fails_the_rehearsal_in_the_servers_words() {
    let Some(_engine) = support::require_docker() else {
        return;
    };
    let image = before_with_a_second_locale();
    let stack = Stack::up_seeded_on(50, Some(&image));
    // The stand-in's property: the old server has the locale (CREATE DATABASE checks it).
    stack
        .connect()
        .await
        .batch_execute("CREATE DATABASE legacy_de LOCALE 'de_DE.utf8' TEMPLATE template0")
        .await
        .expect("the before image has de_DE.utf8");
    let before = World::of(&stack).await;

    let out = Run::new(stack.dir(), &["rehearse"]).output();
    let said = text(&out);
    assert_eq!(out.status.code(), Some(1), "{said}");
    assert!(
        said.contains("Rehearsal FAILED") && said.contains("de_DE.utf8"),
        "cutover's reason names the locale: {said}"
    );
    // The server started (the cluster's own locale exists) and served the other databases;
    // the one on de_DE.utf8 refused, in the server's words.
    let r = rehearsal_json(stack.dir());
    let target = &r["target_on_copy"];
    assert_eq!(target["accepted"], false, "{r}");
    let refused = target["refused_databases"].to_string();
    assert!(
        refused.contains("database legacy_de")
            && refused.contains("database locale is incompatible with operating system"),
        "{r}"
    );
    assert!(
        said.contains("but the server refused database legacy_de"),
        "{said}"
    );
    assert_eq!(
        World::of(&stack).await.diff(&before, &[]),
        Vec::<String>::new()
    );
    assert_eq!(side_leftovers(stack.project()), Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_fault_after_the_recreate_on_the_copy_fails_it_and_the_teardown_still_removes_all() {
    let Some(_engine) = support::require_docker() else {
        return;
    };
    let stack = Stack::up_seeded(50);
    let before = World::of(&stack).await;
    let out = Run::new(stack.dir(), &["rehearse"])
        .fault(Some("fail-after-change:recreate-postgres"))
        .output();
    let said = text(&out);
    assert_eq!(out.status.code(), Some(1), "{said}");
    assert!(
        said.contains("Rehearsal FAILED")
            && said.contains("step recreate-postgres fails after its change"),
        "{said}"
    );
    assert_eq!(
        World::of(&stack).await.diff(&before, &[]),
        Vec::<String>::new()
    );
    assert_eq!(side_leftovers(stack.project()), Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread")]
async fn ctrl_c_in_the_middle_of_the_rehearsal_still_tears_everything_down() {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;
    let Some(_engine) = support::require_docker() else {
        return;
    };
    let stack = Stack::up_seeded(50);
    let before = World::of(&stack).await;
    let mut child = Run::new(stack.dir(), &["rehearse"])
        .command()
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Interrupted once the side run has changed something: the copy runs on the new image.
    let mut seen = Vec::new();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    for line in lines.by_ref() {
        let line = line.unwrap();
        seen.push(line.clone());
        if line.contains("Recreate postgres on the new image") {
            break;
        }
    }
    assert!(
        seen.iter().any(|l| l.contains("Recreate postgres")),
        "the rehearsal never got to the recreate: {seen:?}"
    );
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    let status = child.wait().unwrap();
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    assert_eq!(status.code(), Some(1), "{rest:?}\n{err}");
    assert!(err.contains("interrupted"), "{err}");
    assert!(
        rest.iter()
            .any(|l| l.contains("tearing the side stack down")),
        "{rest:?}"
    );
    assert_eq!(
        World::of(&stack).await.diff(&before, &[]),
        Vec::<String>::new()
    );
    assert_eq!(side_leftovers(stack.project()), Vec::<String>::new());
}

/// Sessions of the copy's clients (or any replication session) on the live server.
async fn copy_sessions(stack: &Stack) -> i64 {
    stack
        .connect()
        .await
        .query_one(
            "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'walsender' \
             OR application_name IN ('pg_basebackup', 'pg_dump', 'pg_dumpall', 'psql')",
            &[],
        )
        .await
        .unwrap()
        .get(0)
}

/// Runs a rehearsal that must pass on a logical copy; checks what is common to the two ways
/// of getting there and returns what it printed and its rehearsal.json.
async fn a_logical_rehearsal_passes(stack: &Stack) -> (String, Value) {
    let p = stack.project().to_string();
    let names: Vec<String> = ["postgres", "backend", "celery-worker"]
        .iter()
        .map(|s| stack.container(s))
        .collect();
    let before = World::of(stack).await;
    let started = started_at(&names);

    let out = Run::new(stack.dir(), &["rehearse"]).output();
    let said = text(&out);
    assert_eq!(out.status.code(), Some(0), "{said}");
    assert!(said.contains("Rehearsal PASSED"), "{said}");
    assert!(said.contains("forecast: DB downtime"), "{said}");
    assert!(
        said.contains("caveat: the copy is logical") && said.contains("collation hazard"),
        "the forecast is printed with the logical copy's caveats: {said}"
    );
    assert!(
        !said.contains(stack.password()),
        "the password is never printed"
    );

    let r = rehearsal_json(stack.dir());
    assert_eq!(r["passed"], true, "{r}");
    assert!(
        r["copy_kind"]
            .as_str()
            .unwrap()
            .starts_with("logical (pg_dump): "),
        "{r}"
    );
    assert!(r["copy_bytes"].as_u64().unwrap() > 0, "{r}");
    let f = &r["forecast"];
    let caveats = f["caveats"].to_string();
    assert!(
        caveats.contains("without the live volume's bloat")
            && caveats.contains("old image's C library"),
        "{f}"
    );
    // The copy was restored under the old image's C library: the move's hazard is still there.
    assert!(
        f["reindexed"].as_u64().unwrap() >= 3,
        "the text indexes are rebuilt on the logical copy too: {f}"
    );
    assert!(f["rollback_ms"].as_i64().unwrap() > 0, "{f}");
    // The copy runs on the live server's configuration, as a physical copy would: the side
    // run met its refusal of replication, and its backup was the real run's (a dump).
    let side_run = Path::new(r["side_run"].as_str().unwrap());
    let journal = std::fs::read_to_string(side_run.join("journal.jsonl")).unwrap();
    let outputs: Vec<Value> = journal
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v.to_string().contains("\"base-backup\""))
        .filter_map(|v| v.get("output").cloned())
        .collect();
    assert!(
        outputs.iter().any(|o| !o["refused"].is_null()),
        "the side run's base backup was refused like the live server's: {outputs:?}"
    );

    // The live stack: the same world, the same start times, no session of the copy.
    assert_eq!(
        World::of(stack).await.diff(&before, &[]),
        Vec::<String>::new()
    );
    assert_eq!(
        started_at(&names),
        started,
        "nothing of the live stack restarted"
    );
    assert_eq!(
        copy_sessions(stack).await,
        0,
        "no session left on the live server"
    );
    assert_eq!(side_leftovers(&p), Vec::<String>::new());
    (said, r)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_server_without_wal_senders_is_copied_logically_and_the_rehearsal_still_passes() {
    let Some(_engine) = support::require_docker() else {
        return;
    };
    let stack = Stack::up_seeded(300);
    stack
        .connect()
        .await
        .batch_execute("ALTER SYSTEM SET max_wal_senders = 0")
        .await
        .unwrap();
    stack.restart_postgres().await;

    let (said, r) = a_logical_rehearsal_passes(&stack).await;
    let why = "logical (pg_dump): the server allows no replication connection: max_wal_senders = 0";
    assert_eq!(r["copy_kind"], why, "{r}");
    assert!(said.contains(why), "which copy, and why, is said: {said}");
    assert!(
        !said.contains("pg_basebackup failed"),
        "the pre-check decided: pg_basebackup was not tried: {said}"
    );
    let senders: String = stack
        .connect()
        .await
        .query_one("SHOW max_wal_senders", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(senders, "0", "the live server's settings are its own");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refused_pg_basebackup_falls_back_to_a_logical_copy_with_its_own_words() {
    let Some(_engine) = support::require_docker() else {
        return;
    };
    let stack = Stack::up_seeded(50);
    // The pre-check passes (a superuser, WAL senders, wal_level replica), but pg_hba.conf has
    // no `replication` line, so pg_basebackup's connection is refused.
    let pg = stack.container("postgres");
    docker(&[
        "exec",
        "-u",
        "postgres",
        &pg,
        "sed",
        "-i",
        "/replication/d",
        "/var/lib/postgresql/data/pg_hba.conf",
    ]);
    stack
        .connect()
        .await
        .batch_execute("SELECT pg_reload_conf()")
        .await
        .unwrap();

    let (said, r) = a_logical_rehearsal_passes(&stack).await;
    let kind = r["copy_kind"].as_str().unwrap();
    assert!(
        kind.starts_with("logical (pg_dump): pg_basebackup failed: ")
            && kind.contains("no pg_hba.conf entry for replication connection"),
        "the fallback's reason is pg_basebackup's own: {r}"
    );
    assert!(said.contains(kind), "{said}");
}

#[tokio::test(flavor = "multi_thread")]
async fn ctrl_c_during_the_logical_copy_leaves_no_pg_dump_session_on_the_live_server() {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;
    let Some(_engine) = support::require_docker() else {
        return;
    };
    // Large enough (about 330 MB) for its pg_dump to take several seconds.
    let stack = Stack::up_seeded(200_000);
    stack
        .connect()
        .await
        .batch_execute("ALTER SYSTEM SET max_wal_senders = 0")
        .await
        .unwrap();
    stack.restart_postgres().await;
    let before = World::of(&stack).await;
    let mut child = Run::new(stack.dir(), &["rehearse"])
        .command()
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The databases are copied in name order: `postgres`, then the application's.
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut seen = Vec::new();
    for line in lines.by_ref() {
        let line = line.unwrap();
        seen.push(line.clone());
        if line.contains("database postgres:") {
            break;
        }
    }
    support::wait_for(
        "the application database's pg_dump on the live server",
        std::time::Duration::from_secs(30),
        || async { (copy_sessions(&stack).await > 0).then_some(()) },
    )
    .await;
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(1), "{seen:?}\n{rest:?}");
    assert!(
        !rest.iter().any(|l| l.contains("(logical)")),
        "interrupted during the copy: {rest:?}"
    );
    support::wait_for(
        "the interrupted pg_dump's session to end",
        // Well under what the whole dump takes (about 10 s here).
        std::time::Duration::from_secs(5),
        || async { (copy_sessions(&stack).await == 0).then_some(()) },
    )
    .await;
    assert_eq!(
        World::of(&stack).await.diff(&before, &[]),
        Vec::<String>::new()
    );
    assert_eq!(side_leftovers(stack.project()), Vec::<String>::new());
}
