//! The wizard on the real pgvector plan, in a real terminal (portable-pty + vt100, 120×40),
//! against a seeded test-bed stack, the way an operator uses it: sign the checklist (the name
//! is asked once), start, see the NEW postgres container's startup lines in the log pane (the
//! follower re-follows the recreated container under the same name; the run is paused there
//! for a moment and continued with the same key), let the upgrade finish, read the Result
//! screen (done, downtime of database and app), write rows into the new version's tables,
//! press `R` there: the question names the rows it would drop; "n" keeps the upgrade; `R`
//! again and "y": the rows are dumped into the run directory, then the rollback; read the rollback's
//! own figures on the Result screen and in report.md (written before the wizard is left), and
//! find the stack as it was: old image, no `vector`, compose file byte-identical, no qdrant
//! container, the writers running, exit 1.
//!
//! One stack and one run for all of it (2-core machines): the pause costs a few seconds, a
//! second run would cost a minute or more. Rollback DURING a run is covered by the engine's
//! tests (tests/engine_runner.rs, tests/rollback_kill.rs) and the reducer's.

mod support;

use std::time::Instant;

use support::cutover::{AFTER, BEFORE, services};
use support::pty::Term;
use support::{Stack, docker};

/// A screen row shows this step as running.
fn running(text: &str, title: &str) -> bool {
    text.lines()
        .any(|l| l.contains(title) && l.contains("running"))
}

/// The value after `downtime: database ` on the screen, if it is a figure (not `-`).
fn downtime(screen: &str) -> Option<String> {
    let line = screen.lines().find(|l| l.contains("downtime: database"))?;
    let rest = line.split("downtime: ").nth(1)?;
    let rest = rest.trim_end_matches(|c: char| c == '│' || c.is_whitespace());
    let db = rest.strip_prefix("database ")?.split(',').next()?;
    let app = rest.split("app ").nth(1)?;
    let figure = |v: &str| v.starts_with(|c: char| c.is_ascii_digit());
    (figure(db) && figure(app)).then(|| rest.to_string())
}

#[test]
fn pgvector_in_a_real_terminal_upgrades_then_rolls_back_from_the_result_screen() {
    let Some(_engine) = support::require_docker() else {
        return;
    };
    let t0 = Instant::now();
    let stack = Stack::up_seeded(20);
    let p = stack.project().to_string();
    let world_before = services(&p);
    let compose_before = std::fs::read(stack.compose_file()).unwrap();
    let pg = stack.container("postgres");
    let mut t = Term::start(stack.dir());
    let stack_up = t0.elapsed();

    // Checklist: the pre-flight runs, then three items wait for a name.
    let first = t.wait_for("3 to sign", 60);
    assert!(first.contains("Docker engine is reachable"), "{first}");
    t.keys(" ");
    t.wait_for("Your name", 10);
    t.keys("Ann Example\r");
    t.wait_for("operator: Ann Example", 10);
    t.wait_for("2 to sign", 10);
    // The name is asked once: later sign-offs reuse it.
    t.keys("j ");
    let second = t.wait_for("1 to sign", 10);
    assert!(!second.contains("Your name"), "{second}");
    t.keys("j ");
    t.wait_for("ready to start", 10);
    t.keys("S");
    t.wait_for("Start the upgrade?", 10);
    let started = Instant::now();
    t.keys("y");

    // Run: the log pane follows postgres from the discovery; pause while it is recreated.
    let run = t.wait_for("Pull the new images", 30);
    assert!(run.contains(&pg), "the log pane follows {pg}:\n{run}");
    t.until("postgres being recreated", 120, |s| {
        running(s, "Recreate postgres") || running(s, "New postgres ready")
    });
    t.keys("p");
    t.wait_for("PAUSED", 120);
    // The follower saw the old container stop and now follows the new one, same name.
    // (Long lines wrap in the pane, so match a part that fits on one row.)
    let logs = t.until("the new postgres's startup lines", 60, |s| {
        s.split("was recreated")
            .nth(1)
            .is_some_and(|after| after.contains("system is ready to accept connections"))
    });
    eprintln!("log pane after the recreate (paused):\n{logs}");
    // The server logs the password, bare and inside a URL (a failed cast of a text holding
    // them: the ERROR and STATEMENT lines quote it): the pane shows those lines hidden.
    support::docker(&[
        "exec",
        "-u",
        "postgres",
        &pg,
        "sh",
        "-c",
        "psql -U privexbot -d privexbot -c \"SELECT 'leak-check postgresql://privexbot:\
         $POSTGRES_PASSWORD@x/db pw=$POSTGRES_PASSWORD'::int\" >/dev/null 2>&1 || true",
    ]);
    let leak = t.wait_for("leak-check", 30);
    assert!(
        !leak.contains(stack.password()),
        "the password is on the screen:\n{leak}"
    );
    // (Whether `[redacted]` itself shows depends on where the pane wraps the long line.)
    // The same key continues.
    t.keys("p");
    t.until("the run to continue", 10, |s| !s.contains("PAUSED"));

    let rt = tokio::runtime::Runtime::new().unwrap();
    // The upgrade ends done; the Result screen shows the downtime figures and offers R.
    let result = t.until("the Result screen of a done run", 300, |s| {
        s.contains("Result") && s.contains("R: roll back") && downtime(s).is_some()
    });
    let upgraded = started.elapsed();
    eprintln!("Result screen (done):\n{result}");
    assert!(
        result.lines().any(|l| l.trim_matches(['│', ' ']) == "done"),
        "{result}"
    );
    let figures = downtime(&result).unwrap();
    let c = services(&p);
    assert!(
        c.contains(&format!("{p}-postgres {AFTER} running")),
        "upgraded: {c:?}"
    );
    assert!(
        c.iter()
            .any(|l| l.contains("qdrant") && l.ends_with("running")),
        "upgraded: {c:?}"
    );

    // The new version's app wrote a knowledge base: the rollback would drop it. R counts the
    // rows first and asks with the counts; "n" keeps the upgrade and the rows.
    rt.block_on(support::cutover::write_new_version_rows(&stack));
    t.keys("R");
    let ask = t.wait_for("DROP the new version's data?", 30);
    eprintln!("the rollback question with new-version rows:\n{ask}");
    assert!(
        ask.contains("received 5 rows: chunks 3, documents 1, knowledge_bases 1"),
        "{ask}"
    );
    t.keys("n");
    t.until("the question to close", 10, |s| !s.contains("DROP the new"));
    assert!(
        services(&p).contains(&format!("{p}-postgres {AFTER} running")),
        "no keeps the upgrade"
    );

    // R again, yes: the rows are dumped into the run directory, then the rollback.
    t.keys("R");
    let ask = t.wait_for("DROP the new version's data?", 30);
    assert!(ask.contains("Recreate postgres"), "{ask}");
    let rb0 = Instant::now();
    t.keys("y");
    let done = t.until("the rollback to end", 180, |s| {
        s.contains("rolled back") && !s.contains("ROLLING BACK") && s.contains("Result")
    });
    let rolled_back = rb0.elapsed();
    eprintln!("after rollback:\n{done}");
    assert!(done.contains("the stack is as it was before"), "{done}");
    // The rollback's own figures, on the screen (120×40 fits them all) and already in the
    // report on disk while the wizard is still open.
    let done = t.until("the rollback's figures", 10, |s| s.contains("check:"));
    for shown in [
        "Rollback",
        "path: fast",
        "wall time: ",
        "resumed at checkpoint",
        "undone: ",
    ] {
        assert!(
            done.contains(shown),
            "{shown:?} not on the Result screen:\n{done}"
        );
    }
    let runs = stack.compose_file().parent().unwrap().join(".cutover/runs");
    let run = std::fs::read_dir(&runs)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let md = std::fs::read_to_string(run.join("report.md")).expect("report.md before quitting");
    assert!(
        md.contains("## Rollback") && md.contains("- path: fast"),
        "{md}"
    );
    assert!(
        run.join("discard-new-data").exists(),
        "the consent is recorded"
    );
    let dump = run.join("new-data.dump");
    assert!(
        std::fs::metadata(&dump).is_ok_and(|m| m.len() > 0),
        "the dropped rows are kept in {}",
        dump.display()
    );
    assert!(md.contains("new-version data: 5 rows"), "{md}");
    t.keys("q");
    let status = t.child.wait().unwrap();
    assert_eq!(status.exit_code(), 1, "rolled back is exit 1");

    // The stack is as it was: old image, writers running, no qdrant, no parked container.
    let image = docker(&["inspect", "-f", "{{.Config.Image}} {{.State.Running}}", &pg]);
    assert_eq!(image, format!("{BEFORE} true"));
    assert_eq!(services(&p), world_before, "the same containers as before");
    assert_eq!(
        world_before,
        vec![
            format!("{p}-backend cutover-testbed/app:latest running"),
            format!("{p}-celery-worker cutover-testbed/app:latest running"),
            format!("{p}-postgres {BEFORE} running"),
        ]
    );
    assert_eq!(std::fs::read(stack.compose_file()).unwrap(), compose_before);
    let vector = rt.block_on(async {
        let db = stack.connect().await;
        db.query_opt("SELECT 1 FROM pg_extension WHERE extname = 'vector'", &[])
            .await
            .unwrap()
    });
    assert!(
        vector.is_none(),
        "vector is not installed after the rollback"
    );
    eprintln!(
        "timings: stack up {stack_up:.1?}, start → Result (done, downtime {figures}; includes the pause) \
         {upgraded:.1?}, R → rolled back {rolled_back:.1?}, total {:.1?}",
        t0.elapsed()
    );
}
