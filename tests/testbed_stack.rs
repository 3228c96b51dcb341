//! The test bed's stack against a real Docker Engine: it comes up healthy, postgres answers on
//! its container address (no published port), the worker's sequence survives a postgres
//! restart without a gap, and teardown leaves nothing behind.

mod support;

use std::time::Duration;

use support::{Stack, docker, leftovers, logs, require_docker, wait_for};

async fn health(port: u16) -> (u16, serde_json::Value) {
    let resp = reqwest::get(format!("http://127.0.0.1:{port}/health"))
        .await
        .expect("GET /health");
    let status = resp.status().as_u16();
    (status, resp.json().await.expect("JSON body"))
}

#[tokio::test]
async fn stack_comes_up_healthy_and_postgres_is_reachable_on_its_network_address() {
    let Some(_engine) = require_docker() else {
        return;
    };
    let stack = Stack::up_seeded(50);

    for service in ["postgres", "backend"] {
        let health = docker(&[
            "inspect",
            "-f",
            "{{.State.Health.Status}}",
            &stack.container(service),
        ]);
        assert_eq!(health, "healthy", "{service}");
    }
    let worker = docker(&[
        "inspect",
        "-f",
        "{{.State.Status}}",
        &stack.container("celery-worker"),
    ]);
    assert_eq!(worker, "running");
    // The labels a user's `docker compose up` would set, which cutover discovers services by.
    let labels = docker(&[
        "inspect",
        "-f",
        r#"{{index .Config.Labels "com.docker.compose.project"}} {{index .Config.Labels "com.docker.compose.service"}}"#,
        &stack.container("postgres"),
    ]);
    assert_eq!(labels, format!("{} postgres", stack.project()));

    // Like production: no published port on postgres, so the test goes through its address.
    assert_eq!(docker(&["port", &stack.container("postgres")]), "");
    let db = stack.connect().await;
    let users: i64 = db
        .query_one("SELECT count(*) FROM users", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(users, 50);
    let no_pk: i64 = db
        .query_one(
            "SELECT count(*) FROM pg_constraint WHERE conrelid = 'audit_events'::regclass AND contype = 'p'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(no_pk, 0, "audit_events must have no primary key");

    let (status, body) = health(stack.backend_port()).await;
    assert_eq!(status, 200);
    assert_eq!(body["status"], "healthy");
    assert_eq!(body["database"], "connected");

    // The worker writes.
    wait_for("worker ticks", Duration::from_secs(20), || async {
        let n: i64 = db
            .query_one("SELECT count(*) FROM worker_ticks", &[])
            .await
            .ok()?
            .get(0);
        (n >= 5).then_some(())
    })
    .await;
}

#[tokio::test]
async fn worker_sequence_has_no_gap_across_a_postgres_restart() {
    let Some(_engine) = require_docker() else {
        return;
    };
    let stack = Stack::up();
    let max_seq = |db: tokio_postgres::Client| async move {
        let row = db
            .query_one("SELECT coalesce(max(seq), 0) FROM worker_ticks", &[])
            .await
            .ok()?;
        Some(row.get::<_, i64>(0))
    };
    let before = wait_for("first ticks", Duration::from_secs(20), || async {
        let db = stack.connect().await;
        max_seq(db).await.filter(|&m| m >= 10)
    })
    .await;

    let out = stack.compose(&["restart", "postgres"]);
    assert!(
        out.status.success(),
        "compose restart: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    // Writes resume well past the restart point.
    let after = wait_for(
        "ticks after the restart",
        Duration::from_secs(60),
        || async {
            let db = support::connect_pg(stack.postgres_ip(), stack.password())
                .await
                .ok()?;
            max_seq(db).await.filter(|&m| m >= before + 20)
        },
    )
    .await;

    let db = stack.connect().await;
    let row = db
        .query_one(
            "SELECT count(*), min(seq), max(seq), count(DISTINCT seq) FROM worker_ticks",
            &[],
        )
        .await
        .unwrap();
    let (count, min, max, distinct): (i64, i64, i64, i64) =
        (row.get(0), row.get(1), row.get(2), row.get(3));
    assert!(max >= after);
    assert_eq!(min, 1, "the sequence starts at 1");
    assert_eq!(count, max, "no gap: {count} rows for seq 1..={max}");
    assert_eq!(distinct, count, "no duplicate");

    let log = logs(&stack.container("celery-worker"));
    assert!(
        log.contains("reconnected"),
        "the worker saw the connection loss:\n{log}"
    );
    // The restart came from a fast shutdown, not from a stop timeout.
    let pg_logs = logs(&stack.container("postgres"));
    assert!(pg_logs.contains("fast shutdown request"), "{pg_logs}");

    // And the backend recovers by itself.
    let port = stack.backend_port();
    wait_for("backend healthy again", Duration::from_secs(20), || async {
        let (status, _) = health(port).await;
        (status == 200).then_some(())
    })
    .await;
}

#[tokio::test]
async fn teardown_leaves_no_containers_networks_or_volumes() {
    let Some(_engine) = require_docker() else {
        return;
    };
    let stack = Stack::up();
    let project = stack.project().to_string();
    let before = leftovers(&project);
    assert!(before.iter().any(|l| l.starts_with("ps ")), "{before:?}");
    assert!(
        before.iter().any(|l| l.starts_with("network ")),
        "{before:?}"
    );
    assert!(
        before.iter().any(|l| l.starts_with("volume ")),
        "{before:?}"
    );

    let project = stack.down();
    assert_eq!(leftovers(&project), Vec::<String>::new());
    // Also by name, in case something lost its labels.
    let named = docker(&["ps", "-a", "--filter", &format!("name={project}-"), "-q"]);
    assert_eq!(named, "");
    let vols = docker(&[
        "volume",
        "ls",
        "-q",
        "--filter",
        &format!("name={project}_"),
    ]);
    assert_eq!(vols, "");
    let nets = docker(&[
        "network",
        "ls",
        "-q",
        "--filter",
        &format!("name={project}_"),
    ]);
    assert_eq!(nets, "");
}
