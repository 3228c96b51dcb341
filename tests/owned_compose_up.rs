//! What cutover leaves behind survives the operator's own Compose tool, and the fast rollback
//! needs only the old image and the journal (issue 12, items 2 and 3), on real test-bed stacks
//! with the machine's Compose tool:
//! - `compose_up_after_a_done_upgrade_changes_nothing_then_rollback_restores`: after a done
//!   upgrade, `compose up -d` recreates nothing (same container ids, no "Recreating"), `compose
//!   ps` lists exactly the file's services; the parked old container is invisible to Compose,
//!   label-free and restart policy `no`; then `cutover rollback --yes` rolls back with the old
//!   image running, every table intact and the backend healthy; `compose up -d` then changes
//!   nothing either; `finalize` of that rolled-back run is refused.
//! - `a_started_parked_container_refuses_and_rollback_recreates_it_from_the_journal`: starting
//!   the parked container (what an engine restart would do to a restart-policy container)
//!   while the new server runs starts no second server on the volume; after `docker rm -f` of
//!   it the fast rollback still succeeds, re-creating the old container from the journal.

mod support;

use std::collections::BTreeSet;
use std::time::Duration;

use cutover::adapters::fingerprint::fingerprint;
use support::cutover::{AFTER, BEFORE, Run, assert_tables_kept, containers, text};
use support::{Stack, docker, wait_for};

/// A rollback that succeeded: exit 0 (a completed `cutover rollback`), the summary says so
/// and names the fast path.
fn assert_rolled_back(rb: &std::process::Output) {
    let said = text(rb);
    assert_eq!(rb.status.code(), Some(0), "{said}");
    assert!(said.contains("cutover: rolled back"), "{said}");
    assert!(said.contains("rollback path: fast"), "{said}");
}

/// Compose's output lines that say it changed a container.
fn changed(out: &str) -> Vec<&str> {
    out.lines()
        .filter(|l| {
            ["Recreating", "Creating", "Removing", "Stopping", "Starting"]
                .iter()
                .any(|w| l.contains(w))
        })
        .collect()
}

/// `compose up -d` on the stack's own file: asserts it succeeded and changed nothing.
fn compose_up_changes_nothing(stack: &Stack, when: &str) {
    let ids = containers(stack.project());
    let up = stack.compose(&["up", "-d"]);
    let said =
        String::from_utf8_lossy(&up.stdout).to_string() + &String::from_utf8_lossy(&up.stderr);
    assert!(up.status.success(), "{when}: compose up -d failed: {said}");
    assert!(
        changed(&said).is_empty(),
        "{when}: compose up -d changed: {said}"
    );
    assert_eq!(
        ids,
        containers(stack.project()),
        "{when}: same containers after up -d"
    );
}

/// The services of the project's containers, as Compose lists them (`ps -q`, then labels).
fn compose_services(stack: &Stack) -> BTreeSet<String> {
    let ps = stack.compose(&["ps", "-q"]);
    assert!(ps.status.success(), "compose ps: {}", text(&ps));
    String::from_utf8_lossy(&ps.stdout)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|id| {
            docker(&[
                "inspect",
                "-f",
                "{{index .Config.Labels \"com.docker.compose.service\"}}",
                id.trim(),
            ])
        })
        .collect()
}

/// Parked placeholders of this stack: "name restart-policy" lines.
fn parked(stack: &Stack) -> Vec<String> {
    docker(&[
        "ps",
        "-a",
        "--filter",
        &format!("label=io.cutover.project={}", stack.project()),
        "--format",
        "{{.Names}}",
    ])
    .lines()
    .map(String::from)
    .collect()
}

async fn backend_healthy(stack: &Stack) {
    let backend = stack.container("backend");
    wait_for("backend healthy", Duration::from_secs(90), || {
        let b = backend.clone();
        async move {
            let h = docker(&["inspect", "-f", "{{.State.Health.Status}}", &b]);
            (h == "healthy").then_some(())
        }
    })
    .await;
}

/// Running containers that mount the postgres data volume.
fn servers_on(volume: &str) -> Vec<String> {
    docker(&[
        "ps",
        "--filter",
        &format!("volume={volume}"),
        "--format",
        "{{.Names}}",
    ])
    .lines()
    .map(String::from)
    .collect()
}

/// A host port nothing listens on now (the engine runs on this machine in the test bed).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn keep_tags(stack: &Stack) -> String {
    docker(&[
        "images",
        "--filter",
        &format!("reference=cutover-keep/{}:*", stack.project()),
        "--format",
        "{{.Repository}}:{{.Tag}}",
    ])
}

#[tokio::test(flavor = "multi_thread")]
async fn compose_up_after_a_done_upgrade_changes_nothing_then_rollback_restores() {
    let Some(_engine) = support::require_docker() else {
        return;
    };
    let stack = Stack::up_seeded(20);
    let dir = stack.dir();
    let file_before = std::fs::read(stack.compose_file()).unwrap();
    let before = fingerprint(&stack.connect().await, "public").await.unwrap();

    let port = free_port();
    let run = Run::upgrade(dir)
        .env("CUTOVER_QDRANT_PORTS", &format!("{port}:6333"))
        .output();
    assert_eq!(run.status.code(), Some(0), "{}", text(&run));
    let pg = stack.container("postgres");
    assert_eq!(
        docker(&["inspect", "-f", "{{.Config.Image}}", &pg]),
        AFTER,
        "upgraded"
    );
    // Published on loopback only, as asked without an address.
    let file = std::fs::read_to_string(stack.compose_file()).unwrap();
    assert!(
        file.contains(&format!("\"127.0.0.1:{port}:6333\"")),
        "{file}"
    );
    let qdrant = docker(&[
        "ps",
        "-q",
        "--filter",
        &format!("label=com.docker.compose.project={}", stack.project()),
        "--filter",
        "label=com.docker.compose.service=qdrant",
    ]);
    assert_eq!(
        docker(&["port", &qdrant, "6333/tcp"]),
        format!("127.0.0.1:{port}")
    );

    // The operator's own Compose: nothing to recreate, exactly the file's services.
    compose_up_changes_nothing(&stack, "after the upgrade");
    let services: BTreeSet<String> = ["backend", "celery-worker", "postgres", "qdrant"]
        .into_iter()
        .map(String::from)
        .collect();
    assert_eq!(compose_services(&stack), services);

    // The parked old container: out of Compose's sight, never restarted by the engine.
    let p = parked(&stack);
    assert_eq!(p.len(), 1, "one parked container: {p:?}");
    let labels = docker(&["inspect", "-f", "{{json .Config.Labels}}", &p[0]]);
    assert!(!labels.contains("com.docker.compose"), "{labels}");
    assert_eq!(
        docker(&["inspect", "-f", "{{.HostConfig.RestartPolicy.Name}}", &p[0]]),
        "no"
    );
    assert!(!keep_tags(&stack).is_empty(), "old image kept tagged");

    // The fast rollback ends 0 with the old image running, tables intact, the app healthy.
    let rb = Run::new(dir, &["rollback", "--yes"]).output();
    assert_rolled_back(&rb);
    assert_eq!(
        docker(&["inspect", "-f", "{{.Config.Image}} {{.State.Running}}", &pg]),
        format!("{BEFORE} true")
    );
    assert_eq!(std::fs::read(stack.compose_file()).unwrap(), file_before);
    assert_tables_kept(&stack, &before, "after the rollback").await;
    backend_healthy(&stack).await;
    assert!(parked(&stack).is_empty(), "placeholder removed");
    assert!(keep_tags(&stack).is_empty(), "keep tag removed");
    // The re-created old container is Compose's own again: `up -d` leaves it alone.
    compose_up_changes_nothing(&stack, "after the rollback");

    // A run that did not end done is never finalized.
    let fin = Run::new(dir, &["finalize", "--yes"]).output();
    assert_ne!(fin.status.code(), Some(0), "{}", text(&fin));
    assert!(text(&fin).contains("refuses"), "{}", text(&fin));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_started_parked_container_refuses_and_rollback_recreates_it_from_the_journal() {
    let Some(_engine) = support::require_docker() else {
        return;
    };
    let stack = Stack::up_seeded(20);
    let dir = stack.dir();
    let before = fingerprint(&stack.connect().await, "public").await.unwrap();
    let pg = stack.container("postgres");
    let volume = docker(&["inspect", "-f", "{{range .Mounts}}{{.Name}}{{end}}", &pg]);

    let run = Run::upgrade(dir).output();
    assert_eq!(run.status.code(), Some(0), "{}", text(&run));
    assert_eq!(servers_on(&volume), vec![pg.clone()]);

    // What an engine restart does to a container whose policy allows it: start it. The
    // parked one refuses, and the volume still has exactly one server.
    let p = parked(&stack);
    assert_eq!(p.len(), 1, "{p:?}");
    // It holds no volume, not even the anonymous one the image's VOLUME would get: removing
    // it as the operator does below (no `-v`) must leave nothing behind.
    assert_eq!(
        docker(&["inspect", "-f", "{{json .Mounts}}", &p[0]]),
        "[]",
        "the placeholder mounts nothing"
    );
    let _ = std::process::Command::new("docker")
        .args(["start", &p[0]])
        .output()
        .unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        docker(&[
            "inspect",
            "-f",
            "{{.State.Running}} {{.State.ExitCode}}",
            &p[0]
        ]),
        "false 64"
    );
    assert_eq!(
        servers_on(&volume),
        vec![pg.clone()],
        "one server on the volume"
    );

    // The operator removes the parked container: the journal is enough.
    docker(&["rm", "-f", &p[0]]);
    let rb = Run::new(dir, &["rollback", "--yes"]).output();
    assert_rolled_back(&rb);
    assert_eq!(
        docker(&["inspect", "-f", "{{.Config.Image}} {{.State.Running}}", &pg]),
        format!("{BEFORE} true")
    );
    assert_eq!(servers_on(&volume), vec![pg.clone()]);
    assert_tables_kept(&stack, &before, "after the rollback").await;
    backend_healthy(&stack).await;
    compose_up_changes_nothing(&stack, "after the rollback");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_taken_qdrant_port_fails_before_the_writers_stop() {
    let Some(_engine) = support::require_docker() else {
        return;
    };
    let stack = Stack::up();
    let dir = stack.dir();
    // Another container holds the port on the engine's host.
    let squatter = support::Scratch::new();
    let port = free_port();
    let mut args = vec!["run", "-d"];
    let labels = squatter.label_args();
    args.extend(labels.iter().map(String::as_str));
    let publish = format!("127.0.0.1:{port}:6333");
    args.extend(["-p", &publish, support::cutover::QDRANT]);
    docker(&args);
    let backend = stack.container("backend");
    let started = |c: &str| {
        docker(&[
            "inspect",
            "-f",
            "{{.State.StartedAt}} {{.State.Running}}",
            c,
        ])
    };
    let (backend_before, pg_before) = (started(&backend), stack.container_id("postgres"));

    let run = Run::upgrade(dir)
        .env("CUTOVER_QDRANT_PORTS", &format!("{port}:6333"))
        .output();
    let said = text(&run);
    assert_ne!(run.status.code(), Some(0), "{said}");
    assert!(said.contains("taken on the Docker engine's host"), "{said}");
    assert!(said.contains("start-qdrant"), "{said}");
    // The writers never stopped: no downtime for a port conflict.
    assert_eq!(started(&backend), backend_before, "backend untouched");
    assert_eq!(
        stack.container_id("postgres"),
        pg_before,
        "postgres untouched"
    );
    let journal =
        std::fs::read_to_string(support::cutover::latest_run(dir).join("journal.jsonl")).unwrap();
    let stop_started = journal
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .any(|v| v["type"] == "step_started" && v["step"] == "stop-writers");
    assert!(!stop_started, "stop-writers never started:\n{journal}");
}

#[tokio::test(flavor = "multi_thread")]
async fn no_postgres_starts_on_a_volume_another_running_container_mounts() {
    let Some(_engine) = support::require_docker() else {
        return;
    };
    let stack = Stack::up_seeded(5);
    let dir = stack.dir();
    let pg = stack.container("postgres");
    let volume = docker(&["inspect", "-f", "{{range .Mounts}}{{.Name}}{{end}}", &pg]);
    let run = Run::upgrade(dir).output();
    assert_eq!(run.status.code(), Some(0), "{}", text(&run));

    // A second container runs on the data volume (the shape of a second server: unguarded,
    // the rollback would start the old postgres beside it on the same data directory).
    let other = support::Scratch::new();
    let labels = other.label_args();
    let mount = format!("{volume}:/var/lib/postgresql/data");
    let mut args = vec!["run", "-d"];
    args.extend(labels.iter().map(String::as_str));
    args.extend(["-v", &mount, support::cutover::QDRANT]);
    let intruder = docker(&args);

    let rb = Run::new(dir, &["rollback", "--yes"]).output();
    let said = text(&rb);
    assert!(
        !matches!(rb.status.code(), Some(0 | 1)),
        "the guard must refuse: {said}"
    );
    assert!(
        said.contains("refusing to start a postgres server"),
        "{said}"
    );
    // The old postgres did not start: only the intruder runs on the volume.
    let on_volume = servers_on(&volume);
    assert_eq!(on_volume.len(), 1, "{on_volume:?}");
    assert!(intruder.starts_with(&docker(&[
        "ps",
        "-q",
        "--filter",
        &format!("volume={volume}")
    ])));

    // Once it is gone, the same rollback finishes.
    docker(&["rm", "-f", "-v", &intruder]);
    let rb = Run::new(dir, &["rollback", "--yes", "--break-stale-lock"]).output();
    assert_rolled_back(&rb);
    assert_eq!(servers_on(&volume), vec![pg.clone()]);
    assert_eq!(
        docker(&["inspect", "-f", "{{.Config.Image}} {{.State.Running}}", &pg]),
        format!("{BEFORE} true")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn finalize_of_a_done_run_removes_the_parked_container_and_the_keep_tag() {
    let Some(_engine) = support::require_docker() else {
        return;
    };
    let stack = Stack::up_seeded(5);
    let dir = stack.dir();
    let run = Run::upgrade(dir).output();
    assert_eq!(run.status.code(), Some(0), "{}", text(&run));
    assert_eq!(parked(&stack).len(), 1);
    assert!(!keep_tags(&stack).is_empty());

    let fin = Run::new(dir, &["finalize", "--yes"]).output();
    let said = text(&fin);
    assert_eq!(fin.status.code(), Some(0), "{said}");
    assert!(said.contains("keep tag"), "{said}");
    assert!(parked(&stack).is_empty(), "placeholder removed");
    assert!(keep_tags(&stack).is_empty(), "keep tag removed");
    assert_eq!(
        docker(&[
            "inspect",
            "-f",
            "{{.Config.Image}} {{.State.Running}}",
            &stack.container("postgres")
        ]),
        format!("{AFTER} true")
    );
    // The old image itself stays: it is the operator's (here the test bed's) to remove.
    assert!(!docker(&["images", "-q", BEFORE]).is_empty());
    compose_up_changes_nothing(&stack, "after finalize");
}
