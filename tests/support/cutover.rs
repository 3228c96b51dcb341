//! Running the real `cutover` binary against a test-bed stack, and reading what it left: the
//! one command builder every end-to-end test uses, the test images, the sign-offs, and the
//! small readers of a stack's state (containers, `vector`, run directories, the lock).
//!
//! Invariants: every invocation runs offline (`--pull never` unless a test overrides it),
//! leaves qdrant unpublished (tests run in parallel and would fight over host port 6333),
//! and inherits none of the caller's `CUTOVER_*` or `COMPOSE_*` settings: a test states all of
//! its configuration.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use super::{Stack, docker};

/// The default pair: the Alpine-shaped "before" (musl collation order, uid 70) and the
/// Debian-shaped "after" (glibc en_US.UTF-8, uid 999, pgvector), see testbed/lib/shaped.sh.
pub const BEFORE: &str = "cutover-testbed/postgres-alpine-shaped:latest";
pub const AFTER: &str = "cutover-testbed/postgres-debian-shaped:latest";
/// The glibc -> glibc pair (same collation, same uid): for the case with no libc change.
pub const GLIBC_BEFORE: &str = "cutover-testbed/postgres-before:latest";
pub const GLIBC_AFTER: &str = "cutover-testbed/postgres-after:latest";
pub const QDRANT: &str = "cutover-testbed/qdrant-standin:latest";
pub const APP: &str = "cutover-testbed/app:latest";
/// The three sign-offs of the pgvector plan's checklist, as flags.
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
    pub qdrant: String,
    pub pull: &'static str,
}

impl<'a> Run<'a> {
    pub fn new(dir: &'a Path, args: &[&str]) -> Self {
        Run {
            dir,
            args: args.iter().map(|s| s.to_string()).collect(),
            env: Vec::new(),
            target: AFTER.into(),
            qdrant: QDRANT.into(),
            pull: "never",
        }
    }

    /// `run --yes` with every sign-off.
    pub fn upgrade(dir: &'a Path) -> Self {
        Self::new(dir, &["run", "--yes"]).args(&SIGN)
    }

    /// `resume --yes --break-stale-lock` with every sign-off (a run killed before the start
    /// was approved still needs them).
    pub fn resume(dir: &'a Path) -> Self {
        Self::new(dir, &["resume", "--yes", "--break-stale-lock"]).args(&SIGN)
    }

    pub fn env(mut self, k: &str, v: &str) -> Self {
        self.env.push((k.into(), v.into()));
        self
    }

    /// `CUTOVER_FAULT=<spec>` when given.
    pub fn fault(self, spec: Option<&str>) -> Self {
        match spec {
            Some(f) => self.env("CUTOVER_FAULT", f),
            None => self,
        }
    }

    pub fn target(mut self, image: &str) -> Self {
        self.target = image.into();
        self
    }

    pub fn qdrant(mut self, image: &str) -> Self {
        self.qdrant = image.into();
        self
    }

    pub fn arg(mut self, a: &str) -> Self {
        self.args.push(a.into());
        self
    }

    pub fn args(mut self, more: &[&str]) -> Self {
        self.args.extend(more.iter().map(|s| s.to_string()));
        self
    }

    pub fn command(&self) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_cutover"));
        for (k, _) in std::env::vars_os() {
            let k = k.to_string_lossy();
            if k.starts_with("CUTOVER_") || k.starts_with("COMPOSE_") {
                c.env_remove(k.as_ref());
            }
        }
        c.args(&self.args)
            .args([
                "--target-image",
                &self.target,
                "--qdrant-image",
                &self.qdrant,
            ])
            .args(["--pull", self.pull])
            .current_dir(self.dir)
            .env("CUTOVER_QDRANT_PORTS", "none")
            .env("CUTOVER_COMPOSE_COMMAND", super::compose_choice())
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

fn project_ps(project: &str, format: &str) -> Vec<String> {
    let mut v: Vec<String> = docker(&[
        "ps",
        "-a",
        "--no-trunc",
        "--filter",
        &format!("label=com.docker.compose.project={project}"),
        "--format",
        format,
    ])
    .lines()
    .map(String::from)
    .collect();
    v.sort();
    v
}

/// "id state image name" of every container of the project, sorted: equal only if no
/// container was replaced, removed, added, started or stopped.
pub fn containers(project: &str) -> Vec<String> {
    project_ps(project, "{{.ID}} {{.State}} {{.Image}} {{.Names}}")
}

/// "name image state" of every container of the project, sorted: for readable assertions.
pub fn services(project: &str) -> Vec<String> {
    project_ps(project, "{{.Names}} {{.Image}} {{.State}}")
}

/// "name image state" of cutover's parked old postgres containers of the project: they carry
/// no Compose label on purpose (Compose must not see them), only `io.cutover.project`.
pub fn parked(project: &str) -> Vec<String> {
    let mut v: Vec<String> = docker(&[
        "ps",
        "-a",
        "--filter",
        &format!("label=io.cutover.project={project}"),
        "--format",
        "{{.Names}} {{.Image}} {{.State}}",
    ])
    .lines()
    .map(String::from)
    .collect();
    v.sort();
    v
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

/// The newest run directory under `<dir>/.cutover/runs`.
pub fn latest_run(dir: &Path) -> PathBuf {
    newest_run_in(&dir.join(".cutover/runs"))
}

/// The newest run directory under `base`.
pub fn newest_run_in(base: &Path) -> PathBuf {
    let mut runs: Vec<_> = std::fs::read_dir(base)
        .unwrap_or_else(|e| panic!("read {}: {e}", base.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    runs.sort();
    runs.pop().expect("a run directory")
}

/// A run's report.json.
pub fn report(run: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(run.join("report.json")).expect("report.json"))
        .expect("report is JSON")
}

/// The lock file stays; a released lock is an empty one (see `engine::lock`), a held or stale
/// one names its holder.
pub fn assert_no_lock(dir: &Path, what: &str) {
    let lock = dir.join(".cutover/lock");
    let holder = std::fs::read_to_string(&lock).unwrap_or_default();
    assert!(
        holder.is_empty(),
        "{what}: leftover lock {}: {holder}",
        lock.display()
    );
}

/// Every table of `start` but the worker's (which keeps growing) has the same fingerprint now.
pub async fn assert_tables_kept(
    stack: &Stack,
    start: &cutover::adapters::fingerprint::Fingerprint,
    what: &str,
) {
    let db = stack.connect().await;
    let now = cutover::adapters::fingerprint::fingerprint(&db, "public")
        .await
        .unwrap();
    for (name, fp) in &start.tables {
        if name != "worker_ticks" {
            assert_eq!(Some(fp), now.tables.get(name), "{what}: table {name}");
        }
    }
}

/// The worker's sequence is 1..=max with no gap and no double: nothing it wrote was lost or
/// written twice.
pub async fn assert_worker_seq_gapless(db: &tokio_postgres::Client, what: &str) {
    let r = db
        .query_one(
            "SELECT count(*), count(DISTINCT seq), coalesce(max(seq), 0) FROM worker_ticks",
            &[],
        )
        .await
        .unwrap();
    let (n, distinct, max): (i64, i64, i64) = (r.get(0), r.get(1), r.get(2));
    assert_eq!((n, distinct), (max, max), "{what}: worker seq 1..=max");
}

/// A knowledge base, a document and three chunks, as the new version's app would write them.
pub async fn write_new_version_rows(stack: &Stack) {
    stack
        .connect()
        .await
        .batch_execute(
            "WITH kb AS (
                 INSERT INTO knowledge_bases (workspace_id, name)
                 SELECT id, 'handbook' FROM workspaces ORDER BY id LIMIT 1 RETURNING id),
             doc AS (
                 INSERT INTO documents (knowledge_base_id, title, source_type)
                 SELECT id, 'intro', 'text' FROM kb RETURNING id, knowledge_base_id)
             INSERT INTO chunks (document_id, knowledge_base_id, chunk_index, content)
             SELECT doc.id, doc.knowledge_base_id, i, 'chunk ' || i
               FROM doc, generate_series(0, 2) AS i",
        )
        .await
        .expect("insert into the new version's tables");
}

/// The physical backup volumes (`<project>_cutover-backup-<run>`) the engine holds.
pub fn backup_volumes(project: &str) -> Vec<String> {
    super::docker(&[
        "volume",
        "ls",
        "-q",
        "--filter",
        &format!("name={project}_cutover-backup"),
    ])
    .lines()
    .map(str::to_string)
    .collect()
}

/// The server's replication slots, by name.
pub async fn replication_slots(db: &tokio_postgres::Client) -> Vec<String> {
    db.query(
        "SELECT slot_name::text FROM pg_replication_slots ORDER BY 1",
        &[],
    )
    .await
    .expect("list replication slots")
    .iter()
    .map(|r| r.get(0))
    .collect()
}

/// Names and labels of anything a rehearsal of `project` could have left on the engine.
pub fn side_leftovers(project: &str) -> Vec<String> {
    let side = format!("{project}-rehearsal");
    let mut left = Vec::new();
    for (kind, list) in [
        ("container", docker(&["ps", "-a", "--format", "{{.Names}}"])),
        ("volume", docker(&["volume", "ls", "--format", "{{.Name}}"])),
        (
            "network",
            docker(&["network", "ls", "--format", "{{.Name}}"]),
        ),
    ] {
        left.extend(
            list.lines()
                .filter(|n| n.starts_with(&side))
                .map(|n| format!("{kind} {n}")),
        );
    }
    let labelled = docker(&[
        "ps",
        "-a",
        "--filter",
        &format!("label=io.cutover.rehearsal={project}"),
        "--format",
        "{{.Names}}",
    ]);
    left.extend(labelled.lines().map(|n| format!("labelled container {n}")));
    let keep = docker(&["images", "--format", "{{.Repository}}"]);
    left.extend(
        keep.lines()
            .filter(|r| *r == format!("cutover-keep/{side}"))
            .map(|r| format!("image {r}")),
    );
    left
}

/// `ls -a` of a volume's root, in a throwaway container of the before image.
pub fn ls_volume(volume: &str) -> Vec<String> {
    super::docker(&[
        "run",
        "--rm",
        "-v",
        &format!("{volume}:/d"),
        "--entrypoint",
        "ls",
        BEFORE,
        "-a",
        "/d",
    ])
    .lines()
    .map(String::from)
    .collect()
}
