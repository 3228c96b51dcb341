//! Shared by the fault, bad-input and secrets tests: run the real `cutover` binary against a
//! test-bed stack, snapshot the stack ("the world") before and after, and assert the end
//! states the issue asks of every scenario (which container runs which image, no orphaned
//! `*-cutover-old-*` containers, no qdrant, no leftover lock, compose file byte-identical).
//!
//! The command builder and the readers come from `support::cutover`.

// Each test binary uses a different subset of these helpers.
#![allow(dead_code, unused_imports)]

use std::path::Path;
use std::process::{Command, Stdio};

use crate::support::{Stack, docker};

pub use crate::support::cutover::{
    AFTER, BEFORE, QDRANT, Run, SIGN, containers, has_vector, newest_run_in as latest_run, text,
};

/// What "the stack is untouched" compares: containers (ids, states, images) and the compose
/// file's bytes.
#[derive(Debug, PartialEq, Eq)]
pub struct World {
    pub containers: Vec<String>,
    pub compose: Vec<u8>,
}

impl World {
    pub fn of(stack: &Stack) -> Self {
        World {
            containers: containers(stack.project()),
            compose: std::fs::read(stack.compose_file()).expect("read compose file"),
        }
    }
}

/// Asserts the stack is back where it started after a rolled-back run: postgres is the same
/// container on the before image and running, writers running, compose file identical, no
/// qdrant, no parked `*-cutover-old-*` container, no lock left.
pub fn assert_restored(stack: &Stack, before: &World, pg_id: &str, out: &str) {
    let pg = stack.container("postgres");
    let now = docker(&[
        "inspect",
        "-f",
        "{{.Id}} {{.Config.Image}} {{.State.Running}}",
        &pg,
    ]);
    // The same container, or (once it was parked) re-created from the journal: then with a
    // new id, so postgres is compared by name, image and state, the others by id too.
    let parked_then = now.split(' ').next() != Some(pg_id);
    let tail = now.split_once(' ').map(|(_, t)| t).unwrap_or_default();
    assert_eq!(tail, format!("{BEFORE} true"), "postgres: {out}");
    let world = World::of(stack);
    assert_eq!(
        String::from_utf8_lossy(&world.compose),
        String::from_utf8_lossy(&before.compose),
        "compose file byte-identical"
    );
    assert!(
        !world.containers.iter().any(|c| c.contains("qdrant")),
        "no qdrant: {:?}",
        world.containers
    );
    let parked = crate::support::cutover::parked(stack.project());
    assert!(parked.is_empty(), "no orphaned old container: {parked:?}");
    for w in ["backend", "celery-worker"] {
        assert!(
            world
                .containers
                .iter()
                .any(|c| c.contains(" running ") && c.ends_with(&format!("-{w}"))),
            "{w} running again: {:?}\n{out}",
            world.containers
        );
    }
    // Same containers as before (ids, images); states may differ only while starting.
    let ids = |v: &[String]| -> Vec<String> {
        let mut v: Vec<String> = v
            .iter()
            .map(|c| {
                let f: Vec<&str> = c.split(' ').collect();
                if parked_then && f[3] == pg {
                    format!("{} {}", f[2], f[3])
                } else {
                    format!("{} {} {}", f[0], f[2], f[3])
                }
            })
            .collect();
        v.sort();
        v
    };
    assert_eq!(ids(&world.containers), ids(&before.containers));
    assert_no_lock(stack);
}

/// No lock left held on the stack.
pub fn assert_no_lock(stack: &Stack) {
    crate::support::cutover::assert_no_lock(stack.dir(), "after the run");
}

/// A local image `tag` built from `dockerfile` (no registry involved).
pub fn build_image(tag: &str, dockerfile: &str) -> String {
    use std::io::Write;
    let mut child = Command::new("docker")
        .args(["build", "-q", "-t", tag, "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("docker build");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(dockerfile.as_bytes())
        .unwrap();
    assert!(child.wait().unwrap().success(), "building {tag}");
    tag.to_string()
}

/// True once the journal under `runs` holds an entry of `kind` (`step_started`,
/// `step_finished`, ...) for `step`.
pub fn journal_has(runs: &Path, kind: &str, step: &str) -> bool {
    let Ok(entries) = std::fs::read_dir(runs) else {
        return false;
    };
    entries.filter_map(Result::ok).any(|run| {
        std::fs::read_to_string(run.path().join("journal.jsonl"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .any(|v| v["type"] == kind && v["step"] == step)
    })
}

/// Polls `journal_has` every 20 ms for up to `secs`; false on timeout.
pub fn wait_journal(runs: &Path, kind: &str, step: &str, secs: u64) -> bool {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    while std::time::Instant::now() < deadline {
        if journal_has(runs, kind, step) {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    false
}

impl Run<'_> {
    /// Starts the binary with stdout and stderr captured, for tests that act while it runs.
    pub fn spawn(&self) -> std::process::Child {
        self.command()
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start cutover")
    }
}
