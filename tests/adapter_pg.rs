//! The PostgreSQL adapter against a real server from the test bed images.
mod adapter_pg_support;

use std::time::{Duration, Instant};

use adapter_pg_support::{AFTER, BEFORE, PgContainer};
use cutover::adapters::postgres::*;

#[tokio::test]
async fn readiness_versions_size_and_checkpoint() {
    let Some(pg) = PgContainer::start(AFTER) else {
        return;
    };
    let client = pg.connect().await;
    let v = server_version(&client).await.unwrap();
    assert!(v.num >= 170_000, "{v:?}");

    // The data directory's major, read the way the caller will (a file in the container).
    let pg_version = pg.exec(&["cat", "/var/lib/postgresql/data/PG_VERSION"]);
    let data_major = PgMajor::parse_pg_version_file(&pg_version).unwrap();
    assert_eq!(data_major, v.major());
    check_same_major(
        data_major,
        "pgvector/pgvector:pg17",
        image_major("pgvector/pgvector:pg17", &[] as &[&str]).unwrap(),
    )
    .unwrap();
    let err = check_same_major(
        data_major,
        "pgvector/pgvector:pg16",
        image_major("pgvector/pgvector:pg16", &[] as &[&str]).unwrap(),
    )
    .unwrap_err();
    assert!(
        err.to_string().contains("PostgreSQL 17") && err.to_string().contains("PostgreSQL 16"),
        "{err}"
    );

    assert_eq!(current_database(&client).await.unwrap(), "privexbot");
    assert!(database_size(&client, None).await.unwrap() > 1_000_000);
    assert!(database_size(&client, Some("postgres")).await.unwrap() > 0);
    checkpoint(&client).await.unwrap();
}

#[tokio::test]
async fn wrong_password_fails_fast_without_leaking_it() {
    let Some(pg) = PgContainer::start(BEFORE) else {
        return;
    };
    drop(pg.connect().await); // server up
    let mut target = pg.target();
    target.credentials.password = Some("not-the-password-xyz".into());
    let start = Instant::now();
    let err = connect_until(&target, Duration::from_secs(30), Duration::from_millis(200))
        .await
        .unwrap_err();
    assert!(matches!(err, PgError::Auth { .. }), "{err}");
    assert!(
        start.elapsed() < Duration::from_secs(10),
        "waited {:?}",
        start.elapsed()
    );
    let text = format!("{err} {err:?}");
    assert!(
        !text.contains("not-the-password-xyz") && !text.contains(&pg.password),
        "{text}"
    );
}

#[tokio::test]
async fn readiness_times_out_with_a_clear_error() {
    // A closed port on loopback: nothing listens, every attempt is refused.
    let target = PgTarget::new("127.0.0.1", 1, PgCredentials::default());
    let err = connect_until(
        &target,
        Duration::from_millis(800),
        Duration::from_millis(200),
    )
    .await
    .unwrap_err();
    let PgError::NotReady { attempts, .. } = &err else {
        panic!("{err}")
    };
    assert!(*attempts >= 2, "{err}");
    assert!(err.to_string().contains("127.0.0.1:1"), "{err}");
}

#[tokio::test]
async fn extension_create_and_drop_remember_who_created_it() {
    let Some(pg) = PgContainer::start(AFTER) else {
        return;
    };
    let client = pg.connect().await;
    assert!(
        available_extension(&client, "vector")
            .await
            .unwrap()
            .is_some()
    );
    assert_eq!(installed_extension(&client, "vector").await.unwrap(), None);

    let first = create_extension(&client, "vector").await.unwrap();
    assert!(first.created && !first.version.is_empty(), "{first:?}");
    let second = create_extension(&client, "vector").await.unwrap();
    assert!(!second.created);

    // A column using it blocks a RESTRICT drop: undo must run the down-migrations first.
    client
        .batch_execute("CREATE TABLE t (v vector(3))")
        .await
        .unwrap();
    assert!(drop_extension(&client, "vector", false).await.is_err());
    client.batch_execute("DROP TABLE t").await.unwrap();
    assert!(drop_extension(&client, "vector", false).await.unwrap());
    assert!(!drop_extension(&client, "vector", false).await.unwrap());
    assert_eq!(installed_extension(&client, "vector").await.unwrap(), None);
}

#[tokio::test]
async fn vector_is_unavailable_on_the_before_image() {
    let Some(pg) = PgContainer::start(BEFORE) else {
        return;
    };
    let client = pg.connect().await;
    let err = create_extension(&client, "vector").await.unwrap_err();
    assert!(matches!(err, PgError::ExtensionUnavailable { .. }), "{err}");
}

#[tokio::test]
async fn sessions_show_other_clients_with_their_address_and_can_be_terminated() {
    let Some(pg) = PgContainer::start(BEFORE) else {
        return;
    };
    let ours = pg.connect().await;
    let other = pg.connect_as("backend-worker").await;
    other.batch_execute("SELECT 1").await.unwrap();

    let sessions = list_sessions(&ours).await.unwrap();
    assert_eq!(sessions.len(), 1, "{sessions:?}");
    let s = &sessions[0];
    assert_eq!(s.application_name, "backend-worker");
    assert_eq!(s.user.as_deref(), Some("privexbot"));
    assert_eq!(s.database.as_deref(), Some("privexbot"));
    assert_eq!(s.client_addr.map(|a| a.to_string()), Some(pg.gateway()));
    assert!(s.client_port.is_some());

    let own_pid: i32 = ours
        .query_one("SELECT pg_backend_pid()", &[])
        .await
        .unwrap()
        .get(0);
    assert!(!terminate_session(&ours, own_pid).await.unwrap());
    assert!(terminate_session(&ours, s.pid).await.unwrap());
    assert!(other.batch_execute("SELECT 1").await.is_err());
    // The backend may take a moment to leave pg_stat_activity.
    for _ in 0..50 {
        if list_sessions(&ours).await.unwrap().is_empty() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("terminated session still listed");
}

/// The resume proof across a real stop and start: the server that comes back on the same data
/// directory continues the position read before the stop. A position from another cluster, or
/// one the data directory never reached (what an older copy of the volume would show), is a
/// gap, named.
#[tokio::test]
async fn a_restarted_server_resumes_at_or_after_the_position_read_before_its_stop() {
    let Some(mut pg) = PgContainer::start(BEFORE) else {
        return;
    };
    let client = pg.connect().await;
    client
        .batch_execute("CREATE TABLE t (v int); INSERT INTO t SELECT generate_series(1, 1000)")
        .await
        .unwrap();
    let before = wal_position(&client).await.unwrap();
    assert!(before.lsn.contains('/'), "{before:?}");
    assert!(
        before.system_identifier.parse::<u64>().is_ok(),
        "{before:?}"
    );
    drop(client);

    pg.restart();
    let client = pg.connect().await;
    let resumed = resumed_from(&client, &before).await.unwrap();
    assert_eq!(resumed.gap(&before), None, "{resumed:?} after {before:?}");
    assert_eq!(resumed.system_identifier, before.system_identifier);
    let rows: i64 = client
        .query_one("SELECT count(*) FROM t", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(rows, 1000);

    let later = WalPosition {
        lsn: "FFFF/0".into(),
        ..before.clone()
    };
    let gap = resumed_from(&client, &later)
        .await
        .unwrap()
        .gap(&later)
        .expect("a position the server never reached is a gap");
    assert!(
        gap.contains("older copy") && gap.contains("FFFF/0"),
        "{gap}"
    );

    let other = WalPosition {
        system_identifier: "42".into(),
        ..before.clone()
    };
    let gap = resumed_from(&client, &other)
        .await
        .unwrap()
        .gap(&other)
        .expect("another cluster is a gap");
    assert!(
        gap.contains("another data directory") && gap.contains("42"),
        "{gap}"
    );
}
