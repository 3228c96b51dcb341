//! The action-failure matrix: EVERY action of the pgvector plan (as `cutover plan` lists them
//! for the stack, so a new action is covered without touching this file) fails right AFTER its
//! change (`CUTOVER_FAULT=fail-after-change:<action>`), on a real seeded test-bed stack, and the
//! rollback must leave the world exactly as it was before the run (`support::world`):
//! - `automatic_rollback_restores_the_world_after_every_action`: `cutover run` exits 1;
//! - `cutover_rollback_restores_the_world_after_every_action`: `cutover run
//!   --no-auto-rollback` exits 3, then `cutover rollback --yes` completes;
//! - `a_half_done_undo_is_finished_by_the_next_rollback`: the rollback itself fails halfway
//!   (`fail-in-undo`), exits 3, and `cutover rollback --yes` finishes it;
//! - and two real failures after a change, no knob: qdrant's container created but refusing
//!   to start, and a session that does not end after the writers stopped.
//!
//! Speed: a case that passes leaves the stack as it found it, so the next case runs on the
//! same stack (each case snapshots its own "before"); after a failed case the stack is thrown
//! away and a fresh one brought up. `FAULT_MATRIX_JOBS` (default 2) stacks work in parallel;
//! `FAULT_MATRIX_ONLY=a,b` limits the cases to those actions while debugging a step.

mod support;

use std::collections::VecDeque;
use std::path::Path;
use std::sync::Mutex;
use std::time::Instant;

use support::cutover::{Run, assert_worker_seq_gapless, text};
use support::world::World;
use support::{Stack, docker, require_docker};

/// Seed scale: enough rows in every table for fingerprints to mean something, small enough
/// for ~25 upgrades in a row.
const SCALE: u32 = 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// `cutover run` rolls back on its own: exit 1.
    Auto,
    /// `cutover run --no-auto-rollback` stops (exit 3); `cutover rollback --yes` undoes.
    Manual,
}

/// The ids of the plan's actions, in order, from `cutover plan` run in the stack directory.
fn actions(dir: &Path) -> Vec<String> {
    let out = Run::new(dir, &["plan"]).output();
    assert_eq!(out.status.code(), Some(0), "cutover plan: {}", text(&out));
    let actions: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            let (n, kind, id) = (w.next()?, w.next()?, w.next()?);
            (n.ends_with('.') && kind == "action").then(|| id.to_string())
        })
        .collect();
    assert!(actions.len() >= 5, "too few actions parsed: {actions:?}");
    match std::env::var("FAULT_MATRIX_ONLY") {
        Ok(only) if !only.is_empty() => actions
            .into_iter()
            .filter(|a| only.split(',').any(|o| o == a))
            .collect(),
        _ => actions,
    }
}

/// A completed `cutover rollback` exits 0 (README's exit table); the world decides the rest.
fn rollback_completed(code: Option<i32>) -> bool {
    code == Some(0)
}

/// One case on `stack`: Ok, or every way it went wrong.
async fn case(stack: &Stack, action: &str, mode: Mode) -> Result<(), String> {
    let dir = stack.dir();
    let before = World::of(stack).await;
    let fault = format!("fail-after-change:{action}");
    let mut log = String::new();
    match mode {
        Mode::Auto => {
            let out = Run::upgrade(dir).fault(Some(&fault)).output();
            log.push_str(&text(&out));
            if out.status.code() != Some(1) {
                return Err(format!(
                    "run exited {:?}, expected 1 (rolled back):\n{log}",
                    out.status.code()
                ));
            }
        }
        Mode::Manual => {
            let out = Run::upgrade(dir)
                .arg("--no-auto-rollback")
                .fault(Some(&fault))
                .output();
            log.push_str(&text(&out));
            if out.status.code() != Some(3) {
                return Err(format!(
                    "run --no-auto-rollback exited {:?}, expected 3:\n{log}",
                    out.status.code()
                ));
            }
            let out = Run::new(dir, &["rollback", "--yes"]).output();
            log.push_str(&text(&out));
            if !rollback_completed(out.status.code()) {
                return Err(format!(
                    "rollback exited {:?}, expected a completed rollback:\n{log}",
                    out.status.code()
                ));
            }
        }
    }
    if !log.contains(&format!("step {action} fails after its change")) {
        return Err(format!("the fault did not fire:\n{log}"));
    }
    world_restored(stack, &before, &log).await
}

/// The world equals `before` (postgres may be a re-created container, see `support::world`),
/// and the worker's rows are whole.
async fn world_restored(stack: &Stack, before: &World, log: &str) -> Result<(), String> {
    let after = World::of(stack).await;
    let diff = after.diff(before, &[stack.container("postgres")]);
    if !diff.is_empty() {
        return Err(format!(
            "the world differs after the rollback:\n  {}\n{log}",
            diff.join("\n  ")
        ));
    }
    let db = stack.connect().await;
    assert_worker_seq_gapless(&db, "after the rollback").await;
    Ok(())
}

/// Runs every (action, mode) case, `FAULT_MATRIX_JOBS` stacks in parallel; panics listing
/// every failed case. Prints the wall time.
fn matrix(mode: Mode) {
    let Some(_engine) = require_docker() else {
        return;
    };
    let t0 = Instant::now();
    let first = Stack::up_seeded(SCALE);
    let queue: VecDeque<String> = actions(first.dir()).into_iter().collect();
    let n = queue.len();
    let queue = Mutex::new(queue);
    let failures = Mutex::new(Vec::new());
    let jobs: usize = std::env::var("FAULT_MATRIX_JOBS")
        .ok()
        .and_then(|j| j.parse().ok())
        .unwrap_or(2)
        .clamp(1, n.max(1));
    let first = Mutex::new(Some(first));
    std::thread::scope(|s| {
        for _ in 0..jobs {
            s.spawn(|| {
                // Not current-thread: the snapshots' database connections must close in the
                // background between cases (an open one would hold up `stop-writers`).
                let rt = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(1)
                    .enable_all()
                    .build()
                    .unwrap();
                let mut stack: Option<Stack> = first.lock().unwrap().take();
                loop {
                    let Some(action) = queue.lock().unwrap().pop_front() else {
                        break;
                    };
                    let st = stack.get_or_insert_with(|| Stack::up_seeded(SCALE));
                    let t = Instant::now();
                    let result = rt.block_on(case(st, &action, mode));
                    eprintln!(
                        "fault matrix {mode:?} {action}: {} in {:.0}s",
                        if result.is_ok() { "ok" } else { "FAILED" },
                        t.elapsed().as_secs_f64()
                    );
                    if let Err(e) = result {
                        failures.lock().unwrap().push(format!("{action}: {e}"));
                        // The stack is not as it was: the next case gets a fresh one.
                        stack = None;
                    }
                }
            });
        }
    });
    eprintln!(
        "fault matrix {mode:?}: {n} actions in {:.0}s with {jobs} stack(s) in parallel",
        t0.elapsed().as_secs_f64()
    );
    let failures = failures.into_inner().unwrap();
    assert!(
        failures.is_empty(),
        "{} of {n} actions not rolled back cleanly:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

#[test]
fn automatic_rollback_restores_the_world_after_every_action() {
    matrix(Mode::Auto);
}

#[test]
fn cutover_rollback_restores_the_world_after_every_action() {
    matrix(Mode::Manual);
}

/// The automatic rollback of a failure in `vector-extension` fails in the middle of
/// `recreate-postgres`' undo: after the new container is removed and the old one has its name
/// back and is started (its 4th progress point: the first two read the state at the stop from
/// the new server's snapshot), before its readiness wait and resume proof,
/// and before the writers are started again. `cutover rollback --yes` must finish it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_half_done_undo_is_finished_by_the_next_rollback() {
    let Some(_engine) = require_docker() else {
        return;
    };
    let stack = Stack::up_seeded(SCALE);
    let dir = stack.dir();
    let before = World::of(&stack).await;
    let out = Run::upgrade(dir)
        .fault(Some(
            "fail-after-change:vector-extension,fail-in-undo:recreate-postgres:4",
        ))
        .output();
    let mut log = text(&out);
    assert_eq!(out.status.code(), Some(3), "{log}");
    assert!(
        log.contains("the undo of recreate-postgres fails at its point 4"),
        "{log}"
    );
    // Half done: the old postgres has its name back, but the writers are still stopped.
    let state = |c: &str| docker(&["inspect", "-f", "{{.State.Status}}", c]);
    assert_eq!(state(&stack.container("backend")), "exited", "{log}");
    assert_eq!(
        docker(&[
            "inspect",
            "-f",
            "{{.Config.Image}}",
            &stack.container("postgres")
        ]),
        support::cutover::BEFORE,
        "{log}"
    );
    let status = Run::new(dir, &["status"]).output();
    assert!(
        text(&status).to_lowercase().contains("undo"),
        "status names the failed undo: {}",
        text(&status)
    );

    let out = Run::new(dir, &["rollback", "--yes"]).output();
    log.push_str(&text(&out));
    assert!(rollback_completed(out.status.code()), "{log}");
    world_restored(&stack, &before, &log).await.unwrap();
}

/// A real failure after a change: qdrant's container is created (and its volume), then cannot
/// start (its entrypoint does not exist). Before a failed action was undone, the rolled-back
/// run left the `Created` container behind.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_qdrant_that_cannot_start_is_removed_with_its_volume() {
    let Some(_engine) = require_docker() else {
        return;
    };
    let stack = Stack::up_seeded(SCALE);
    let image = format!("cutover-test/qdrant-cannot-start:{}", stack.project());
    let mut build = std::process::Command::new("docker")
        .args(["build", "-q", "-t", &image, "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("docker build");
    {
        use std::io::Write;
        let mut stdin = build.stdin.take().unwrap();
        writeln!(
            stdin,
            "FROM {}\nENTRYPOINT [\"/cutover-test-no-such-file\"]",
            support::cutover::QDRANT
        )
        .unwrap();
    }
    assert!(build.wait().unwrap().success(), "building {image}");
    let before = World::of(&stack).await;
    let out = Run::upgrade(stack.dir()).qdrant(&image).output();
    let log = text(&out);
    let restored = world_restored(&stack, &before, &log).await;
    let _ = std::process::Command::new("docker")
        .args(["rmi", "-f", &image])
        .output();
    assert_eq!(out.status.code(), Some(1), "{log}");
    assert!(log.contains("starting qdrant"), "{log}");
    restored.unwrap();
}

/// A real failure after a change: a session the writers do not hold stays open, so
/// `stop-writers` fails after it stopped them; the rollback starts them again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writers_stopped_by_a_failed_stop_writers_are_started_again() {
    let Some(_engine) = require_docker() else {
        return;
    };
    let stack = Stack::up_seeded(SCALE);
    let before = World::of(&stack).await;
    let holder = stack.connect().await;
    let out = Run::upgrade(stack.dir()).output();
    drop(holder);
    let log = text(&out);
    assert_eq!(out.status.code(), Some(1), "{log}");
    assert!(log.contains("still open"), "{log}");
    world_restored(&stack, &before, &log).await.unwrap();
}
