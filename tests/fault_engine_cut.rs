//! The connection to the Docker engine is cut in the middle of a stream. Cutover is pointed at
//! a unix-socket proxy this test controls (`DOCKER_HOST=unix:///tmp/...`), which forwards to
//! the real engine; once the backup's dump is streaming (`backup_kind = "logical"`: inside the
//! window) (its file is growing), the proxy closes
//! every connection and stops accepting.
//!
//! Decided outcome: cutover cannot undo anything without the engine, so it stops and says so:
//! exit 3, the message says the engine connection was lost and what to do, the journal records
//! the failed step and the failed undo, and `cutover status` names the next command. With the
//! proxy back, `cutover rollback --yes` restores the stack (same postgres container on the
//! before image, writers running, compose file identical, no parked container, no lock).

mod fault_support;
mod support;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use fault_support::{Run, World, assert_no_lock, assert_restored, text, wait_journal};
use support::Stack;
use tokio::net::{UnixListener, UnixStream};
use tokio_util::sync::CancellationToken;

const ENGINE: &str = "/var/run/docker.sock";

/// A unix-socket proxy to the engine that can be cut (all connections closed, no new ones).
struct Proxy {
    cut: CancellationToken,
}

impl Proxy {
    fn start(path: &Path) -> Proxy {
        let _ = std::fs::remove_file(path);
        let listener = UnixListener::bind(path).expect("bind proxy socket");
        let cut = CancellationToken::new();
        let stop = cut.clone();
        tokio::spawn(async move {
            loop {
                let conn = tokio::select! {
                    _ = stop.cancelled() => return,
                    c = listener.accept() => c,
                };
                let Ok((client, _)) = conn else { return };
                let stop = stop.clone();
                tokio::spawn(async move {
                    let Ok(engine) = UnixStream::connect(ENGINE).await else {
                        return;
                    };
                    let (mut c, mut e) = (client, engine);
                    tokio::select! {
                        _ = stop.cancelled() => {}
                        _ = tokio::io::copy_bidirectional(&mut c, &mut e) => {}
                    }
                    // Dropping both ends closes them: the client sees the connection die.
                });
            }
        });
        Proxy { cut }
    }

    /// Closes every connection and refuses new ones (the listener is dropped; its socket file
    /// stays, so connecting gets "connection refused").
    fn cut(&self) {
        self.cut.cancel();
    }
}

/// The size of the dump being written in the newest run, if any.
fn dump_size(runs: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(runs) else {
        return 0;
    };
    entries
        .filter_map(Result::ok)
        .flat_map(|r| std::fs::read_dir(r.path()).into_iter().flatten())
        .filter_map(Result::ok)
        .filter(|f| f.file_name().to_string_lossy().ends_with(".dump"))
        .filter_map(|f| f.metadata().ok().map(|m| m.len()))
        .max()
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread")]
async fn losing_the_engine_mid_backup_stops_safely_and_rollback_recovers() {
    let Some(_engine) = support::require_docker() else {
        return;
    };
    // A dump of several MB, so the cut lands while it streams.
    let stack = Stack::up_seeded(10000);
    let dir = stack.dir();
    let pg_id = stack.container_id("postgres");
    let before = World::of(&stack);
    let sock = PathBuf::from(format!("/tmp/cutover-proxy-{}.sock", std::process::id()));
    let host = format!("unix://{}", sock.display());

    let proxy = Proxy::start(&sock);
    // The logical kind: its dump streams through the engine inside the window, which is the
    // stream this test cuts (the physical kind's dump streams after the window).
    let child = Run::upgrade(dir)
        .env("DOCKER_HOST", &host)
        .env("CUTOVER_BACKUP_KIND", "logical")
        .spawn();
    let runs = dir.join(".cutover/runs");
    let watch = runs.clone();
    let cut_at = tokio::task::spawn_blocking(move || {
        assert!(
            wait_journal(&watch, "step_started", "backup", 90),
            "backup never started"
        );
        let t0 = Instant::now();
        loop {
            let n = dump_size(&watch);
            if n > 0 {
                return n;
            }
            assert!(
                t0.elapsed() < Duration::from_secs(60),
                "the dump never grew"
            );
            std::thread::sleep(Duration::from_millis(2));
        }
    })
    .await
    .unwrap();
    proxy.cut();
    let out = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap())
        .await
        .unwrap();
    let said = text(&out);
    assert!(cut_at > 0);
    assert_eq!(out.status.code(), Some(3), "{said}");
    assert!(
        said.contains("lost the connection to the Docker engine"),
        "says the engine went away: {said}"
    );
    assert!(
        said.contains("cutover rollback --yes"),
        "says what to do: {said}"
    );
    assert_no_lock(&stack);

    // The journal holds what is uncertain: the failed step and the undo that could not run.
    let run = fault_support::latest_run(&runs);
    let entries: Vec<serde_json::Value> = std::fs::read_to_string(run.join("journal.jsonl"))
        .unwrap()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let has = |kind: &str, step: &str| {
        entries
            .iter()
            .any(|e| e["type"] == kind && e["step"] == step)
    };
    assert!(has("step_failed", "backup"), "{entries:?}");
    assert!(has("undo_failed", "stop-writers"), "{entries:?}");
    let status = Run::new(dir, &["status"])
        .env("DOCKER_HOST", &host)
        .output();
    let st = text(&status);
    assert!(
        st.contains("cutover rollback"),
        "status says what to do: {st}"
    );

    // The engine is back: the operator rolls back.
    let _proxy = Proxy::start(&sock);
    let out = Run::new(dir, &["rollback", "--yes"])
        .env("DOCKER_HOST", &host)
        .output();
    let said = text(&out);
    assert_eq!(out.status.code(), Some(0), "rolled back: {said}");
    assert_restored(&stack, &before, &pg_id, &said);
    let _ = std::fs::remove_file(&sock);
}
