//! Backup and restore end to end against a real PostgreSQL container built by the test bed
//! (`cutover-testbed/postgres-before`); skipped with "SKIPPED: <why>" when that image is absent.

mod adapter_docker_support;

use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use adapter_docker_support as sup;
use bollard::models::{ContainerCreateBody, HostConfig};
use bollard::query_parameters::CreateContainerOptionsBuilder;
use cutover::adapters::backup::{self, BackupError, PgTarget};
use cutover::adapters::docker::{DockerClient, ExecSpec, Readiness};
use cutover::adapters::restore::RestoreHow;

const IMAGE: &str = "cutover-testbed/postgres-before:latest";

async fn psql(c: &DockerClient, ctr: &str, db: &str, sql: &str) -> String {
    let out = c
        .exec_output(
            ctr,
            &ExecSpec::new([
                "psql",
                "-X",
                "-A",
                "-t",
                "-v",
                "ON_ERROR_STOP=1",
                "-U",
                "app",
                "-d",
                db,
                "-c",
                sql,
            ])
            .env("PGPASSWORD", "pw-secret"),
        )
        .await
        .unwrap();
    assert_eq!(out.exit_code, 0, "{sql}: {}", out.stderr_str());
    out.stdout_str().trim().to_string()
}

async fn postgres(c: &DockerClient, g: &mut sup::Cleanup) -> Option<String> {
    postgres_with(c, g, None).await
}

/// Makes the server refuse logins over TCP from 127.0.0.1 (first line of pg_hba.conf, then a
/// reload): what a restore beside the server needs, so that the copy into the container is
/// taken instead. The test's own psql uses the socket.
async fn refuse_local_tcp(c: &DockerClient, pg: &str) {
    let out = c
        .exec_output(
            pg,
            &ExecSpec::new([
                "sh",
                "-c",
                "sed -i '1i host all all 127.0.0.1/32 reject' \"$PGDATA/pg_hba.conf\"",
            ])
            .user("postgres"),
        )
        .await
        .unwrap();
    assert_eq!(out.exit_code, 0, "{}", out.stderr_str());
    psql(c, pg, "appdb", "SELECT pg_reload_conf()").await;
}

/// The restore's throwaway containers beside `pg`, running or not.
fn beside_containers(pg: &str) -> Vec<String> {
    let out = std::process::Command::new("docker")
        .args([
            "ps",
            "-aq",
            "--filter",
            &format!("label={}={pg}", cutover::adapters::restore::beside::LABEL),
        ])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .map(String::from)
        .collect()
}

/// The same, with a `HostConfig` (e.g. a tiny tmpfs on /tmp).
async fn postgres_with(
    c: &DockerClient,
    g: &mut sup::Cleanup,
    host_config: Option<HostConfig>,
) -> Option<String> {
    if c.try_inspect_image(IMAGE).await.unwrap().is_none() {
        return sup::skip(&format!("{IMAGE} not built yet (the test bed builds it)"));
    }
    let name = sup::unique("pg");
    g.container(&name);
    let body = ContainerCreateBody {
        image: Some(IMAGE.into()),
        env: Some(vec![
            "POSTGRES_USER=app".into(),
            "POSTGRES_PASSWORD=pw-secret".into(),
            "POSTGRES_DB=appdb".into(),
        ]),
        host_config,
        ..Default::default()
    };
    let opts = CreateContainerOptionsBuilder::default().name(&name).build();
    c.raw().create_container(Some(opts), body).await.unwrap();
    let since = chrono::Utc::now() - chrono::Duration::seconds(1);
    c.start(&name).await.unwrap();
    let (probe_client, probe_name) = (c.clone(), name.clone());
    // Readiness = the log line AND a real query (the entrypoint's temporary server also logs
    // the line, then restarts).
    let ready = Readiness::All(vec![
        Readiness::LogLine {
            pattern: "database system is ready to accept connections".into(),
            since,
        },
        Readiness::probe("select 1", move || {
            let (c, n) = (probe_client.clone(), probe_name.clone());
            async move {
                let out = c
                    .exec_output(
                        &n,
                        &ExecSpec::new([
                            "psql",
                            "-X",
                            "-h",
                            "127.0.0.1",
                            "-U",
                            "app",
                            "-d",
                            "appdb",
                            "-c",
                            "select 1",
                        ])
                        .env("PGPASSWORD", "pw-secret"),
                    )
                    .await
                    .map_err(|e| e.to_string())?;
                if out.exit_code == 0 {
                    Ok(())
                } else {
                    Err(out.stderr_str())
                }
            }
        }),
    ]);
    c.wait_ready(&name, &ready, Duration::from_secs(90))
        .await
        .unwrap();
    Some(name)
}

#[tokio::test(flavor = "multi_thread")]
async fn dump_verify_and_restore_into_a_fresh_database() {
    let Some(c) = sup::client().await else { return };
    let mut g = sup::Cleanup::default();
    let Some(pg) = postgres(&c, &mut g).await else {
        return;
    };
    psql(&c, &pg, "appdb", "CREATE TABLE users (id serial PRIMARY KEY, name text); INSERT INTO users (name) SELECT 'u' || g FROM generate_series(1, 5000) g; CREATE TABLE audit_log (msg text); INSERT INTO audit_log SELECT 'm' || g FROM generate_series(1, 1234) g;").await;

    let tmp = tempfile::tempdir().unwrap();
    let run_dir = tmp.path().join("run");
    let target = PgTarget {
        container: pg.clone(),
        user: "app".into(),
        database: "appdb".into(),
        password: Some("pw-secret".into()),
    };
    assert!(!format!("{target:?}").contains("pw-secret"));
    let mut last = 0;
    let rec = backup::dump(
        &c,
        &target,
        &run_dir,
        "appdb.dump",
        &["users", "public.audit_log"],
        |n| last = n,
    )
    .await
    .unwrap();
    assert_eq!(rec.bytes, last);
    assert_eq!(rec.bytes, std::fs::metadata(&rec.path).unwrap().len());
    assert_eq!(rec.sha256, backup::sha256_file(&rec.path).unwrap());
    assert!(rec.toc_entries >= 4, "toc {}", rec.toc_entries);
    assert_eq!(
        std::fs::metadata(&run_dir).unwrap().permissions().mode() & 0o777,
        0o700
    );
    assert_eq!(
        std::fs::metadata(&rec.path).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert_eq!(
        &std::fs::read(&rec.path).unwrap()[..5],
        b"PGDMP",
        "custom-format header, no TTY mangling"
    );
    let json = serde_json::to_string(&rec).unwrap();
    assert!(json.contains(&rec.sha256) && !json.contains("pw-secret"));

    // The TOC must name the expected tables.
    let e = backup::verify(&c, &target, &rec.path, &["knowledge_bases"])
        .await
        .unwrap_err();
    assert!(
        matches!(e, BackupError::VerifyFailed { .. }) && e.to_string().contains("knowledge_bases"),
        "{e}"
    );

    // Restore refuses a database with tables, then fills a fresh one identically.
    let e = cutover::adapters::restore::restore(&c, &target, &rec.path, &rec.sha256)
        .await
        .unwrap_err();
    assert!(
        matches!(e, BackupError::TargetNotEmpty { tables: 2, .. }),
        "{e}"
    );
    psql(&c, &pg, "appdb", "CREATE DATABASE restored").await;
    let fresh = PgTarget {
        database: "restored".into(),
        ..target.clone()
    };
    let how = cutover::adapters::restore::restore(&c, &fresh, &rec.path, &rec.sha256)
        .await
        .unwrap();
    // In parallel, beside the server, reading the dump where it lies: no copy in the
    // container, and the throwaway container gone afterwards.
    let cpus = c.host_cpus().await.unwrap();
    let jobs = cutover::adapters::restore::jobs_for(cpus);
    assert_eq!(how, RestoreHow::Beside { jobs });
    assert!(
        beside_containers(&pg).is_empty(),
        "the restore's throwaway container is removed"
    );
    // Where the server refuses logins from 127.0.0.1, from a copy inside the container that
    // is gone afterwards (it is a full copy of the database).
    refuse_local_tcp(&c, &pg).await;
    psql(&c, &pg, "appdb", "CREATE DATABASE copied").await;
    let copied = PgTarget {
        database: "copied".into(),
        ..target.clone()
    };
    let how = cutover::adapters::restore::restore(&c, &copied, &rec.path, &rec.sha256)
        .await
        .unwrap();
    assert_eq!(how, RestoreHow::Parallel { jobs });
    assert_eq!(
        psql(&c, &pg, "copied", "SELECT count(*) FROM audit_log").await,
        "1234"
    );
    assert_eq!(cutover::adapters::restore::jobs_for(1), 2);
    assert_eq!(cutover::adapters::restore::jobs_for(2), 4);
    assert_eq!(cutover::adapters::restore::jobs_for(64), 8);
    let ls = c
        .exec_output(&pg, &ExecSpec::new(["ls", "-A", "/tmp"]))
        .await
        .unwrap();
    assert!(
        !ls.stdout_str().contains("cutover-restore"),
        "copy left behind: {}",
        ls.stdout_str()
    );
    for t in ["users", "audit_log"] {
        let q = format!("SELECT count(*) FROM {t}");
        assert_eq!(
            psql(&c, &pg, "appdb", &q).await,
            psql(&c, &pg, "restored", &q).await,
            "{t}"
        );
    }
    assert_eq!(
        psql(&c, &pg, "restored", "SELECT count(*) FROM audit_log").await,
        "1234"
    );

    // A failing pg_dump (no such database) leaves no file and reports pg_dump's stderr.
    let wrong = PgTarget {
        database: "no_such_db".into(),
        ..target.clone()
    };
    let e = backup::dump(&c, &wrong, &run_dir, "wrong.dump", &[], |_| {})
        .await
        .unwrap_err();
    assert!(matches!(e, BackupError::DumpFailed { .. }), "{e}");
    assert!(e.to_string().contains("no_such_db"), "{e}");
    assert!(!e.to_string().contains("pw-secret"));
    assert!(!run_dir.join("wrong.dump").exists(), "partial file removed");
}

#[tokio::test(flavor = "multi_thread")]
async fn disk_full_during_dump_is_reported_and_the_partial_file_removed() {
    let Some(c) = sup::client().await else { return };
    let mut g = sup::Cleanup::default();
    // A tiny tmpfs stands in for a full disk; mounting needs root.
    let tmp = tempfile::tempdir().unwrap();
    let mnt = tmp.path().join("small");
    std::fs::create_dir(&mnt).unwrap();
    let mounted = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=64k", "tmpfs"])
        .arg(&mnt)
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !mounted {
        sup::skip::<()>("cannot mount a small tmpfs (needs root) to simulate a full disk");
        return;
    }
    struct Unmount(std::path::PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = std::process::Command::new("umount").arg(&self.0).status();
        }
    }
    let _u = Unmount(mnt.clone());
    let Some(pg) = postgres(&c, &mut g).await else {
        return;
    };
    psql(&c, &pg, "appdb", "CREATE TABLE big AS SELECT g, md5(g::text) || md5((g * 7)::text) AS pad FROM generate_series(1, 50000) g").await;
    let target = PgTarget {
        container: pg,
        user: "app".into(),
        database: "appdb".into(),
        password: Some("pw-secret".into()),
    };
    let run_dir = mnt.join("run");
    let e = backup::dump(&c, &target, &run_dir, "big.dump", &["big"], |_| {})
        .await
        .unwrap_err();
    assert!(matches!(e, BackupError::DiskFull { .. }), "{e}");
    assert!(e.to_string().contains("disk full"), "{e}");
    assert!(!run_dir.join("big.dump").exists());
}

/// Where the container's /tmp cannot hold the dump, the restore streams it into one
/// pg_restore instead, says why, and restores the same rows.
#[tokio::test(flavor = "multi_thread")]
async fn restore_falls_back_to_stdin_when_the_container_has_no_room_for_the_dump() {
    let Some(c) = sup::client().await else { return };
    let mut g = sup::Cleanup::default();
    let small_tmp = HostConfig {
        tmpfs: Some([("/tmp".to_string(), "size=256k".to_string())].into()),
        ..Default::default()
    };
    let Some(pg) = postgres_with(&c, &mut g, Some(small_tmp)).await else {
        return;
    };
    let (target, rec, _tmp) = table_t_dumped(&c, &pg).await;
    refuse_local_tcp(&c, &pg).await;
    psql(&c, &pg, "appdb", "CREATE DATABASE again").await;
    let fresh = PgTarget {
        database: "again".into(),
        ..target.clone()
    };
    let how = cutover::adapters::restore::restore(&c, &fresh, &rec.path, &rec.sha256)
        .await
        .unwrap();
    match &how {
        RestoreHow::Stdin { why } => assert!(why.contains("/tmp has 0 MiB free"), "{why}"),
        other => panic!("no room for the copy, yet {other:?}"),
    }
    assert_eq!(
        psql(&c, &pg, "again", "SELECT count(*), sum(v) FROM t").await,
        "3000|4501500"
    );

    // The same on stdin with the file replaced by another valid dump: refused, not restored
    // as if it were the verified one.
    replace_with_other_dump(&c, &pg, &target, &rec).await;
    psql(&c, &pg, "appdb", "CREATE DATABASE replaced").await;
    let e = cutover::adapters::restore::restore(
        &c,
        &PgTarget {
            database: "replaced".into(),
            ..target.clone()
        },
        &rec.path,
        &rec.sha256,
    )
    .await
    .unwrap_err();
    assert!(matches!(e, BackupError::Changed { .. }), "{e}");
}

/// Table `t` (3000 rows) in `appdb` of `pg`, dumped by cutover into a temporary run
/// directory (kept as long as the returned guard).
async fn table_t_dumped(
    c: &DockerClient,
    pg: &str,
) -> (PgTarget, backup::BackupRecord, tempfile::TempDir) {
    psql(
        c,
        pg,
        "appdb",
        "CREATE TABLE t (v int PRIMARY KEY); INSERT INTO t SELECT generate_series(1, 3000);",
    )
    .await;
    let tmp = tempfile::tempdir().unwrap();
    let target = PgTarget {
        container: pg.to_string(),
        user: "app".into(),
        database: "appdb".into(),
        password: Some("pw-secret".into()),
    };
    let rec = backup::dump(
        c,
        &target,
        &tmp.path().join("run"),
        "t.dump",
        &["t"],
        |_| {},
    )
    .await
    .unwrap();
    (target, rec, tmp)
}

/// User tables in database `db`.
async fn public_tables(c: &DockerClient, pg: &str, db: &str) -> String {
    psql(
        c,
        pg,
        db,
        "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'",
    )
    .await
}

/// Overwrites `rec.path` with a valid dump of the same table holding other rows (one more):
/// what a file swapped since its verification looks like to pg_restore, which restores it
/// without complaint.
async fn replace_with_other_dump(
    c: &DockerClient,
    pg: &str,
    target: &PgTarget,
    rec: &backup::BackupRecord,
) {
    psql(c, pg, &target.database, "INSERT INTO t VALUES (999999)").await;
    let other = tempfile::tempdir().unwrap();
    let again = backup::dump(
        c,
        target,
        &other.path().join("run"),
        "t.dump",
        &["t"],
        |_| {},
    )
    .await
    .unwrap();
    std::fs::copy(&again.path, &rec.path).unwrap();
    psql(c, pg, &target.database, "DELETE FROM t WHERE v = 999999").await;
}

/// A dump replaced after its verification (another valid dump, same table, other rows) is
/// refused on the bytes streamed into the container, before pg_restore reads them: the target
/// stays empty. The guard: the same file restored by the plain copy's byte count alone (what
/// the restore checked before) would have loaded the other rows.
#[tokio::test(flavor = "multi_thread")]
async fn a_dump_replaced_since_its_verification_is_refused_before_anything_is_restored() {
    let Some(c) = sup::client().await else { return };
    let mut g = sup::Cleanup::default();
    let Some(pg) = postgres(&c, &mut g).await else {
        return;
    };
    let (target, rec, _tmp) = table_t_dumped(&c, &pg).await;
    replace_with_other_dump(&c, &pg, &target, &rec).await;

    psql(&c, &pg, "appdb", "CREATE DATABASE refused").await;
    let refused = PgTarget {
        database: "refused".into(),
        ..target.clone()
    };
    let e = cutover::adapters::restore::restore(&c, &refused, &rec.path, &rec.sha256)
        .await
        .unwrap_err();
    assert!(matches!(e, BackupError::Changed { .. }), "{e}");
    assert!(e.to_string().contains(&rec.sha256), "{e}");
    assert_eq!(
        public_tables(&c, &pg, "refused").await,
        "0",
        "nothing may be restored from a changed file"
    );
    // The same when the dump is copied into the container (no login from 127.0.0.1): its
    // sha256 is checked on the bytes copied, before pg_restore reads them.
    refuse_local_tcp(&c, &pg).await;
    let e = cutover::adapters::restore::restore(&c, &refused, &rec.path, &rec.sha256)
        .await
        .unwrap_err();
    assert!(matches!(e, BackupError::Changed { .. }), "{e}");
    assert_eq!(
        public_tables(&c, &pg, "refused").await,
        "0",
        "nothing may be restored from a changed file"
    );

    // Guard: the replaced file is a valid dump, and restored under its own sha256 it loads the
    // other rows; only the journaled sha256 tells them apart.
    let own = backup::sha256_file(&rec.path).unwrap();
    assert_ne!(own, rec.sha256);
    cutover::adapters::restore::restore(&c, &refused, &rec.path, &own)
        .await
        .unwrap();
    assert_eq!(
        psql(&c, &pg, "refused", "SELECT count(*) FROM t").await,
        "3001"
    );
}

/// The throwaway containers that copy, back up or restore live as long as that work: their
/// PID 1 is a week's `sleep`, where a plain probe's is 15 minutes. Before, every probe slept
/// 15 minutes, and the end of that sleep stops the container with whatever runs in it: a base
/// backup, a volume copy or a restore of a few hundred GB would have been killed half-way.
#[tokio::test(flavor = "multi_thread")]
async fn a_probe_that_copies_or_restores_outlives_fifteen_minutes() {
    let Some(c) = sup::client().await else { return };
    if c.try_inspect_image(IMAGE).await.unwrap().is_none() {
        sup::skip::<()>(&format!("{IMAGE} not built yet (the test bed builds it)"));
        return;
    }
    for (long_running, sleep) in [(false, "sleep 900"), (true, "sleep 604800")] {
        let opts = cutover::adapters::docker::probe::ProbeOptions {
            long_running,
            ..Default::default()
        };
        let pid1 = c
            .with_probe_opts(IMAGE, &opts, async |p| {
                Ok(p.sh("tr '\\0' ' ' < /proc/1/cmdline").await?.stdout_str())
            })
            .await
            .unwrap();
        assert_eq!(pid1.trim(), sleep, "long_running = {long_running}");
    }
}
