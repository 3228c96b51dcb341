//! Shared by the fault, bad-input and secrets tests: run the real `cutover` binary against a
//! test-bed stack, snapshot the stack ("the world") before and after, and assert the end
//! states the issue asks of every scenario (which container runs which image, no orphaned
//! `*-cutover-old-*` containers, no qdrant, no leftover lock, compose file byte-identical).
//!
//! Invariants: every invocation runs offline (`--pull never` unless a test overrides it),
//! leaves qdrant unpublished (tests run in parallel) and ignores the caller's COMPOSE_*.

// Each test binary uses a different subset of these helpers.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use crate::support::{Stack, docker};

pub const BEFORE: &str = "cutover-testbed/postgres-before:latest";
pub const AFTER: &str = "cutover-testbed/postgres-after:latest";
pub const QDRANT: &str = "cutover-testbed/qdrant-standin:latest";
pub const SIGN: [&str; 6] = [
    "--sign-off",
    "staging-tested=Ann Example",
    "--sign-off",
    "team-informed=Bo Example",
    "--sign-off",
    "window-agreed=Cy Example",
];

/// One invocation of the binary: arguments, extra environment, working directory.
pub struct Run<'a> {
    pub dir: &'a Path,
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
    pub target: String,
    pub pull: &'static str,
}

impl<'a> Run<'a> {
    pub fn new(dir: &'a Path, args: &[&str]) -> Self {
        Run {
            dir,
            args: args.iter().map(|s| s.to_string()).collect(),
            env: Vec::new(),
            target: AFTER.into(),
            pull: "never",
        }
    }

    /// `run --yes` with every sign-off.
    pub fn upgrade(dir: &'a Path) -> Self {
        let mut r = Self::new(dir, &["run", "--yes"]);
        r.args.extend(SIGN.iter().map(|s| s.to_string()));
        r
    }

    pub fn env(mut self, k: &str, v: &str) -> Self {
        self.env.push((k.into(), v.into()));
        self
    }

    pub fn target(mut self, image: &str) -> Self {
        self.target = image.into();
        self
    }

    pub fn arg(mut self, a: &str) -> Self {
        self.args.push(a.into());
        self
    }

    pub fn command(&self) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_cutover"));
        c.args(&self.args)
            .args(["--target-image", &self.target, "--qdrant-image", QDRANT])
            .args(["--pull", self.pull])
            .current_dir(self.dir)
            .env("CUTOVER_QDRANT_PORTS", "none")
            .env_remove("COMPOSE_PROJECT_NAME")
            .env_remove("COMPOSE_FILE")
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null());
        c
    }

    pub fn output(&self) -> Output {
        self.command().output().expect("run cutover")
    }
}

/// stdout then stderr, as one text.
pub fn text(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr)
}

/// "id state image name" of every container of the project, sorted.
pub fn containers(project: &str) -> Vec<String> {
    let mut v: Vec<String> = docker(&[
        "ps",
        "-a",
        "--no-trunc",
        "--filter",
        &format!("label=com.docker.compose.project={project}"),
        "--format",
        "{{.ID}} {{.State}} {{.Image}} {{.Names}}",
    ])
    .lines()
    .map(String::from)
    .collect();
    v.sort();
    v
}

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
    assert_eq!(now, format!("{pg_id} {BEFORE} true"), "postgres: {out}");
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
    assert!(
        !world.containers.iter().any(|c| c.contains("cutover-old")),
        "no orphaned old container: {:?}",
        world.containers
    );
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
        v.iter()
            .map(|c| {
                let f: Vec<&str> = c.split(' ').collect();
                format!("{} {} {}", f[0], f[2], f[3])
            })
            .collect()
    };
    assert_eq!(ids(&world.containers), ids(&before.containers));
    assert_no_lock(stack);
}

/// The lock file stays; a released lock is an empty one (see `engine::lock`), a held or stale
/// one names its holder.
pub fn assert_no_lock(stack: &Stack) {
    let lock = stack.dir().join(".cutover/lock");
    let holder = std::fs::read_to_string(&lock).unwrap_or_default();
    assert!(
        holder.is_empty(),
        "leftover lock {}: {holder}",
        lock.display()
    );
}

/// Whether `vector` is installed in the stack's database.
pub async fn has_vector(stack: &Stack) -> bool {
    stack
        .connect()
        .await
        .query_opt("SELECT 1 FROM pg_extension WHERE extname = 'vector'", &[])
        .await
        .expect("query pg_extension")
        .is_some()
}

/// The newest run directory under `base` (default `<stack>/.cutover/runs`).
pub fn latest_run(base: &Path) -> PathBuf {
    let mut runs: Vec<_> = std::fs::read_dir(base)
        .unwrap_or_else(|e| panic!("read {}: {e}", base.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    runs.sort();
    runs.pop().expect("a run directory")
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
