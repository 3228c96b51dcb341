//! Test-bed support for tests that need a real Docker Engine and real PostgreSQL.
//!
//! Use:
//! ```ignore
//! mod support;
//! #[tokio::test]
//! async fn my_test() {
//!     let Some(_engine) = support::require_docker() else { return };
//!     let stack = support::Stack::up_seeded(100);
//!     let db = stack.connect().await;
//!     // ... drive cutover against stack.compose_file() ...
//! }
//! ```
//!
//! Invariants:
//! - Every stack is its own Compose project (`cotest-<pid>-<n>`) with its own network, volume,
//!   container names and an ephemeral loopback port, so tests run in parallel.
//! - Everything a test creates carries the project's label (Compose adds
//!   `com.docker.compose.project`; use [`Scratch::label_args`] for containers started by hand),
//!   and the guards' `Drop` removes it all through `testbed/bed down`, also after a panic.
//! - Stacks are brought up by `testbed/bed` with the machine's Compose tool, so containers carry
//!   the labels a user's would. The password is read from the stack's `.env` and never printed.
//! - Without a reachable engine, tests print `SKIPPED: <why>` and pass; with `CI=true` they fail.

// Each test binary uses a different subset of these helpers.
#![allow(dead_code)]

use std::io::Write;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use tokio_postgres::{Client, NoTls};

/// The compose project label, set by Compose on everything it creates.
pub const LABEL_PROJECT: &str = "com.docker.compose.project";

/// A reachable Docker Engine.
pub struct Engine {
    pub server_version: String,
}

/// Some(engine) when tests can run. Outside CI, an unreachable engine prints a `SKIPPED` line
/// (straight to stderr, past the test harness's capture) and returns None; with `CI=true` it
/// panics, because a CI run that silently skipped would prove nothing. Also makes sure the
/// test images exist and are current (`testbed/bed images`, serialised across processes).
pub fn require_docker() -> Option<Engine> {
    let version = Command::new("docker")
        .args(["version", "--format", "{{.Server.Version}}"])
        .stdin(Stdio::null())
        .output();
    let why = match version {
        Ok(out) if out.status.success() => {
            ensure_images();
            let server_version = String::from_utf8_lossy(&out.stdout).trim().to_string();
            return Some(Engine { server_version });
        }
        Ok(out) => format!(
            "no Docker Engine reachable: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ),
        Err(e) => format!("the docker CLI could not be run: {e}"),
    };
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("CI=true but the Docker tests cannot run: {why}");
    }
    let test = std::thread::current().name().unwrap_or("?").to_string();
    let _ = writeln!(std::io::stderr(), "SKIPPED: {test}: {why}");
    None
}

/// The Compose tool the tests run under: `COMPOSE` (`v1`, `v2`, or the command words), else
/// `auto` (v2 if the docker CLI has it, else v1). The test bed's stacks read the same variable,
/// and the binary gets it as `compose_command`, so CI can run one pass under each version.
pub fn compose_choice() -> String {
    std::env::var("COMPOSE")
        .ok()
        .filter(|v| !v.trim().is_empty())
        .unwrap_or_else(|| "auto".into())
}

/// The command words of [`compose_choice`], resolved as cutover resolves `auto`.
pub fn compose_words() -> Vec<String> {
    let words = |s: &str| s.split_whitespace().map(String::from).collect();
    match compose_choice().trim() {
        "v1" => words("docker-compose"),
        "v2" => words("docker compose"),
        "auto" => {
            let v2 = Command::new("docker")
                .args(["compose", "version"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            words(if v2 {
                "docker compose"
            } else {
                "docker-compose"
            })
        }
        other => words(other),
    }
}

/// `COMPOSE_WORDS version --short` of the tool the tests run under (`1.29.2`, `2.26.1-4`).
pub fn compose_version() -> String {
    let w = compose_words();
    let out = Command::new(&w[0])
        .args(&w[1..])
        .args(["version", "--short"])
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("run `{} version`: {e}", w.join(" ")));
    assert!(out.status.success(), "`{} version` failed", w.join(" "));
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .trim_start_matches('v')
        .to_string()
}

/// Path of the test bed's entry point.
pub fn bed_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("testbed/bed")
}

fn ensure_images() {
    static DONE: OnceLock<Result<(), String>> = OnceLock::new();
    let result = DONE.get_or_init(|| {
        // Fast when the images are current: only hashes are computed.
        let status = Command::new(bed_path())
            .arg("images")
            .stdin(Stdio::null())
            .status();
        match status {
            Ok(s) if s.success() => Ok(()),
            Ok(s) => Err(format!("`testbed/bed images` failed ({s})")),
            Err(e) => Err(format!("`testbed/bed images` could not run: {e}")),
        }
    });
    if let Err(e) = result {
        panic!("{e}: the test images are missing; build them with `sudo testbed/bed images`");
    }
}

/// Runs `docker ARGS`, panicking with its stderr on failure; returns trimmed stdout.
pub fn docker(args: &[&str]) -> String {
    let out = run(Command::new("docker").args(args));
    assert!(
        out.status.success(),
        "docker {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// A container's log, stdout and stderr together (postgres logs to stderr).
pub fn logs(container: &str) -> String {
    let out = run(Command::new("docker").args(["logs", container]));
    assert!(
        out.status.success(),
        "docker logs {container}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
}

fn run(cmd: &mut Command) -> Output {
    cmd.stdin(Stdio::null()).output().expect("spawn command")
}

/// A unique, valid Compose project name for this process.
pub fn unique_project() -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "cotest-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    )
}

/// What is left of a project: containers, networks and volumes carrying its labels.
pub fn leftovers(project: &str) -> Vec<String> {
    let mut left = Vec::new();
    for label in [
        format!("{LABEL_PROJECT}={project}"),
        format!("cutover.testbed={project}"),
    ] {
        let filter = format!("label={label}");
        for kind in [
            ["ps", "-a"].as_slice(),
            &["network", "ls"],
            &["volume", "ls"],
        ] {
            let mut args = kind.to_vec();
            args.extend(["-q", "--filter", &filter]);
            left.extend(docker(&args).lines().map(|l| format!("{} {l}", kind[0])));
        }
    }
    left
}

/// A project name plus cleanup by label, for tests that start containers by hand.
pub struct Scratch {
    pub project: String,
}

impl Scratch {
    pub fn new() -> Self {
        Self {
            project: unique_project(),
        }
    }

    /// `--label cutover.testbed=<project>`: put it on every container, network and volume.
    pub fn label_args(&self) -> [String; 2] {
        [
            "--label".into(),
            format!("cutover.testbed={}", self.project),
        ]
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = Command::new(bed_path())
            .args(["down", &self.project])
            .stdin(Stdio::null())
            .status();
    }
}

pub mod collation;
pub mod cutover;
pub mod pty;
mod stack;
pub mod world;
#[allow(unused_imports)] // not every test binary uses Stack
pub use stack::Stack;

/// Polls `probe` every 200 ms until it returns Some, or panics after `timeout` naming `what`.
pub async fn wait_for<T, F, Fut>(what: &str, timeout: Duration, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = probe().await {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Connects to PostgreSQL as privexbot at `ip:5432` (plain TCP, password auth).
pub async fn connect_pg(ip: IpAddr, password: &str) -> Result<Client, tokio_postgres::Error> {
    connect_pg_db(ip, password, "privexbot").await
}

/// The same, to database `db`.
pub async fn connect_pg_db(
    ip: IpAddr,
    password: &str,
    db: &str,
) -> Result<Client, tokio_postgres::Error> {
    let mut config = tokio_postgres::Config::new();
    config
        .host(ip.to_string())
        .port(5432)
        .user("privexbot")
        .password(password)
        .dbname(db)
        .connect_timeout(Duration::from_secs(5));
    let (client, connection) = config.connect(NoTls).await?;
    tokio::spawn(connection);
    Ok(client)
}

/// The first network address of a container.
pub fn container_ip(container: &str) -> IpAddr {
    let ips = docker(&[
        "inspect",
        "-f",
        "{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}",
        container,
    ]);
    let first = ips
        .split_whitespace()
        .next()
        .unwrap_or_else(|| panic!("{container} has no address"));
    first.parse().expect("container IP")
}
