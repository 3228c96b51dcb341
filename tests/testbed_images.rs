//! The PostgreSQL images against a real Docker Engine: the "before" image behaves as cutover
//! expects of the official one, and the "after" image starts on the "before" image's volume
//! unchanged, with `CREATE EXTENSION vector` working and every row intact.

mod support;

use std::time::Duration;

use cutover::adapters::fingerprint::fingerprint;
use support::cutover::{GLIBC_AFTER, GLIBC_BEFORE};
use support::{Stack, docker, logs, require_docker, wait_for};

#[tokio::test]
async fn before_image_does_what_cutover_relies_on() {
    let Some(_engine) = require_docker() else {
        return;
    };
    let stack = Stack::up();
    let pg = stack.container("postgres");

    let log = logs(&pg);
    assert!(
        log.contains("database system is ready to accept connections"),
        "{log}"
    );
    let tools = docker(&[
        "exec",
        &pg,
        "sh",
        "-c",
        "for t in pg_dump pg_restore psql pg_isready; do command -v $t; done",
    ]);
    assert_eq!(tools.lines().count(), 4, "{tools}");
    // The server runs as postgres, not root.
    let status = docker(&["exec", &pg, "cat", "/proc/1/status"]);
    let uid = status.lines().find_map(|l| l.strip_prefix("Uid:")).unwrap();
    let postgres_uid = docker(&["exec", &pg, "id", "-u", "postgres"]);
    assert_eq!(uid.split_whitespace().next(), Some(postgres_uid.as_str()));

    // Password auth over TCP: the right password works, a wrong one is refused.
    let db = stack.connect().await;
    let vector: i64 = db
        .query_one(
            "SELECT count(*) FROM pg_available_extensions WHERE name = 'vector'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(vector, 0, "the before image has no pgvector");
    let wrong = support::connect_pg(stack.postgres_ip(), "not-the-password").await;
    let err = wrong.expect_err("a wrong password must be refused");
    assert_eq!(
        err.code(),
        Some(&tokio_postgres::error::SqlState::INVALID_PASSWORD),
        "{err:?}"
    );

    // SIGTERM gives a fast shutdown even with clients connected (the worker is).
    let started = std::time::Instant::now();
    docker(&["kill", "--signal", "TERM", &pg]);
    wait_for("postgres to exit", Duration::from_secs(10), || async {
        let state = docker(&["inspect", "-f", "{{.State.Status}}", &pg]);
        (state == "exited").then_some(())
    })
    .await;
    assert!(started.elapsed() < Duration::from_secs(8));
    assert!(logs(&pg).contains("fast shutdown request"));
}

#[tokio::test]
async fn after_image_starts_on_the_before_volume_and_vector_works() {
    let Some(_engine) = require_docker() else {
        return;
    };
    // The glibc pair: same collation, so the volume is usable as is (testbed_shaped.rs covers
    // the Alpine-shaped -> Debian-shaped pair, where it is not).
    let stack = Stack::up_seeded_on(40, Some(GLIBC_BEFORE));
    // Writers off first, so the data cannot change under the comparison.
    let out = stack.compose(&["stop", "backend", "celery-worker"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let before = fingerprint(&stack.connect().await, "public").await.unwrap();
    assert_eq!(before.tables["users"].rows, 40);

    // The upgrade as a user does it: change the image, recreate postgres on the same volume.
    let compose = std::fs::read_to_string(stack.compose_file()).unwrap();
    let edited = compose.replace(GLIBC_BEFORE, GLIBC_AFTER);
    assert_ne!(compose, edited);
    std::fs::write(stack.compose_file(), edited).unwrap();
    let out = stack.compose(&["up", "-d", "--no-deps", "postgres"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let image = docker(&[
        "inspect",
        "-f",
        "{{.Config.Image}}",
        &stack.container("postgres"),
    ]);
    assert_eq!(image, GLIBC_AFTER);

    let db = wait_for(
        "the after image to accept connections",
        Duration::from_secs(60),
        || async {
            support::connect_pg(stack.postgres_ip(), stack.password())
                .await
                .ok()
        },
    )
    .await;
    let log = logs(&stack.container("postgres"));
    assert!(
        !log.contains("initialising"),
        "the after image must reuse the data directory"
    );

    db.batch_execute("CREATE EXTENSION IF NOT EXISTS vector")
        .await
        .unwrap();
    let distance: f64 = db
        .query_one(
            "SELECT ('[1,2,3]'::vector <-> '[1,2,4]'::vector)::float8",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(distance, 1.0);
    let ext: i64 = db
        .query_one(
            "SELECT count(*) FROM pg_extension WHERE extname = 'vector'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(ext, 1);

    let after = fingerprint(&db, "public").await.unwrap();
    assert_eq!(before.diff(&after), Vec::<String>::new());
    assert_eq!(before, after);
}
