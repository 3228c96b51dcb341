//! The real swap end to end: the real `cutover` binary on the Alpine-shaped stack (musl
//! collation order, uid 70) upgrading to the Debian-shaped image (glibc en_US, uid 999).
//!
//! - `the_upgrade_and_its_fast_rollback_leave_sound_indexes`: after the upgrade, amcheck is
//!   clean on every index, index and sequential scans agree on the seeded queries, every table
//!   is intact and the files are the new image's (999); the report names what was reindexed.
//!   Writes land on the new server, then the fast rollback: the old server is amcheck clean,
//!   the queries agree, the files are owned by uid 70 again, and the report says so. A second
//!   database of the cluster is sound on the old server too (on the disaster path as well).
//! - `without_the_collation_step_the_index_is_broken`: the same upgrade with
//!   `collation_policy = "skip"` leaves broken indexes, so the first test can fail.
//! - `duplicates_in_a_unique_index_stop_the_run_and_name_them`: a unique index whose table
//!   holds a duplicate key (as writes through a misordered index leave it) cannot be rebuilt:
//!   the run stops with the rows named and rolls back to the old server.

mod support;

use cutover::adapters::fingerprint::fingerprint;
use support::collation::{amcheck_failures, assert_indexes_sound, pgdata_not_owned_by};
use support::cutover::{AFTER, BEFORE, Run, assert_tables_kept, latest_run, report, text};
use support::{Stack, docker};

/// The second database's table: a unique text index over words whose order differs between
/// musl's en_US.utf8 (code points) and glibc's en_US.UTF-8.
const SIDE_SEED: &str = "CREATE TABLE notes (id serial PRIMARY KEY, name text UNIQUE); \
     INSERT INTO notes (name) SELECT w || ' ' || i FROM generate_series(1, 200) AS i, \
     unnest(ARRAY['A', 'B', 'Eb', 'Z', '_x', 'a', 'b', 'c', 'e', 'Á', 'é']) AS w";

/// A second database of the cluster, with its own text indexes: the upgrade rebuilds them
/// for the new server, so a rollback must rebuild them for the old one too (without that, the
/// fast rollback left `notes_name_key` "item order invariant violated": checked).
async fn seed_side_database(stack: &Stack) {
    stack
        .connect()
        .await
        .batch_execute("CREATE DATABASE side")
        .await
        .unwrap();
    let side = stack.connect_db("side").await;
    side.batch_execute(SIDE_SEED).await.unwrap();
    assert_eq!(amcheck_failures(&side).await, Vec::new());
}

async fn assert_side_sound(stack: &Stack, when: &str) {
    let side = stack.connect_db("side").await;
    assert_eq!(
        amcheck_failures(&side).await,
        Vec::new(),
        "{when}: the second database's indexes are sound on the old server"
    );
}

fn image_running(stack: &Stack) -> String {
    docker(&[
        "inspect",
        "-f",
        "{{.Config.Image}} {{.State.Running}}",
        &stack.container("postgres"),
    ])
}

#[tokio::test(flavor = "multi_thread")]
async fn the_upgrade_and_its_fast_rollback_leave_sound_indexes() {
    let Some(_engine) = support::require_docker() else {
        return;
    };
    let stack = Stack::up_seeded(300);
    let dir = stack.dir();
    let pg = stack.container("postgres");
    let before = fingerprint(&stack.connect().await, "public").await.unwrap();
    assert!(pgdata_not_owned_by(&pg, 70).is_empty());
    seed_side_database(&stack).await;

    let run = Run::upgrade(dir).output();
    let out = text(&run);
    assert_eq!(run.status.code(), Some(0), "{out}");
    assert_eq!(image_running(&stack), format!("{AFTER} true"));
    let db = stack.connect().await;
    assert_indexes_sound(&db, "after the upgrade").await;
    assert_tables_kept(&stack, &before, "after the upgrade").await;
    assert_eq!(
        pgdata_not_owned_by(&pg, 999),
        Vec::<String>::new(),
        "the new image's entrypoint owns PGDATA"
    );
    let rep = report(&latest_run(dir));
    let reindexed: Vec<&str> = rep["upgrade"]["reindexed"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|v| v.as_str())
        .collect();
    for i in [
        "public.tags_name_key",
        "public.ix_tags_label",
        "public.ix_users_email",
    ] {
        assert!(reindexed.contains(&i), "{i} reindexed: {reindexed:?}");
    }

    // Writes on the new server, in its order, into the unique index and the others.
    db.batch_execute(
        "INSERT INTO tags (id, name, label) \
         SELECT 900000 + row_number() OVER (), w || ' new ' || i, 'new ' || w \
         FROM generate_series(1, 50) AS i, \
              unnest(ARRAY['a', 'B', 'É', '_y', 'zz']) AS w",
    )
    .await
    .unwrap();
    let tags_now: i64 = db
        .query_one("SELECT count(*) FROM tags", &[])
        .await
        .unwrap()
        .get(0);
    drop(db);
    let side = stack.connect_db("side").await;
    side.batch_execute(
        "INSERT INTO notes (name) SELECT w || ' side ' || i \
         FROM generate_series(1, 50) AS i, unnest(ARRAY['a', 'B', 'É', '_y', 'zz']) AS w",
    )
    .await
    .unwrap();
    drop(side);

    let rb = Run::new(dir, &["rollback", "--yes"]).output();
    let out = text(&rb);
    // A completed `cutover rollback` exits 0.
    assert_eq!(rb.status.code(), Some(0), "{out}");
    assert!(out.contains("rolled back"), "{out}");
    assert_eq!(image_running(&stack), format!("{BEFORE} true"));
    let db = stack.connect().await;
    assert_indexes_sound(&db, "after the fast rollback").await;
    assert_side_sound(&stack, "after the fast rollback").await;
    let tags_after: i64 = db
        .query_one("SELECT count(*) FROM tags", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(
        tags_after, tags_now,
        "the rows written to the new server are kept"
    );
    assert_eq!(
        pgdata_not_owned_by(&pg, 70),
        Vec::<String>::new(),
        "files owned by uid 70 again"
    );
    let rep = report(&latest_run(dir));
    let repair = &rep["upgrade"]["rollback"]["collation"];
    assert_eq!(repair["server_uid"], 70, "{rep}");
    assert_eq!(repair["files_not_owned"], 0, "{rep}");
    // The guard matters: before the repair, the old server's indexes were broken.
    assert!(
        repair["broken_before"].as_array().is_some_and(|a| a
            .iter()
            .any(|v| v.as_str().unwrap().contains("tags_name_key"))),
        "{repair}"
    );
    assert!(
        repair["reindexed"]
            .as_array()
            .is_some_and(|a| a.iter().any(|v| v == "public.tags_name_key")),
        "{repair}"
    );
    let md = std::fs::read_to_string(latest_run(dir).join("report.md")).unwrap();
    assert!(md.contains("collation on the old server"), "{md}");
}

#[tokio::test(flavor = "multi_thread")]
async fn without_the_collation_step_the_index_is_broken() {
    let Some(_engine) = support::require_docker() else {
        return;
    };
    let stack = Stack::up_seeded(300);
    let run = Run::upgrade(stack.dir())
        .env("CUTOVER_COLLATION_POLICY", "skip")
        .output();
    assert_eq!(run.status.code(), Some(0), "{}", text(&run));
    assert_eq!(image_running(&stack), format!("{AFTER} true"));
    let db = stack.connect().await;
    let failed = amcheck_failures(&db).await;
    assert!(
        failed.iter().any(|(n, _)| n == "public.tags_name_key"),
        "{failed:?}"
    );
    let differ = support::collation::disagreeing_queries(&db).await;
    assert!(!differ.is_empty(), "index and seq scans disagree");
}

#[tokio::test(flavor = "multi_thread")]
async fn duplicates_in_a_unique_index_stop_the_run_and_name_them() {
    let Some(_engine) = support::require_docker() else {
        return;
    };
    let stack = Stack::up_seeded(50);
    // A duplicate key the unique index does not know about: the index is marked not ready
    // for one insert, as if a misordered index had missed the existing 'a'.
    let db = stack.connect().await;
    db.batch_execute(
        "UPDATE pg_index SET indisready = false WHERE indexrelid = 'tags_name_key'::regclass",
    )
    .await
    .unwrap();
    let db2 = stack.connect().await;
    db2.batch_execute("INSERT INTO tags (id, name, label) VALUES (990001, 'a', 'dup')")
        .await
        .unwrap();
    db.batch_execute(
        "UPDATE pg_index SET indisready = true WHERE indexrelid = 'tags_name_key'::regclass",
    )
    .await
    .unwrap();
    drop((db, db2));
    let compose_before = std::fs::read(stack.compose_file()).unwrap();

    let run = Run::upgrade(stack.dir()).output();
    let out = text(&run);
    assert_eq!(run.status.code(), Some(1), "{out}");
    assert!(out.contains("tags_name_key"), "{out}");
    assert!(out.contains("duplicate"), "{out}");
    assert!(
        out.contains("(a) | 2"),
        "the duplicate rows are named: {out}"
    );
    assert_eq!(
        image_running(&stack),
        format!("{BEFORE} true"),
        "rolled back"
    );
    assert_eq!(std::fs::read(stack.compose_file()).unwrap(), compose_before);
    let db = stack.connect().await;
    let n: i64 = db
        .query_one(
            "SELECT count(*) FROM tags WHERE name = 'a' AND id = 990001",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 1, "nothing deleted behind the user's back");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_disaster_rollback_leaves_sound_indexes_owned_by_70() {
    let Some(_engine) = support::require_docker() else {
        return;
    };
    let stack = Stack::up_seeded(200);
    let dir = stack.dir();
    let pg = stack.container("postgres");
    let before = fingerprint(&stack.connect().await, "public").await.unwrap();
    seed_side_database(&stack).await;
    let run = Run::upgrade(dir).output();
    assert_eq!(run.status.code(), Some(0), "{}", text(&run));

    let rb = Run::new(dir, &["rollback", "--disaster", "--yes"])
        // The dump path (the volume path has its own test: rollback_disaster_volume).
        .env("CUTOVER_DISASTER_RESTORE", "dump")
        .output();
    let out = text(&rb);
    assert_eq!(rb.status.code(), Some(0), "{out}");
    assert!(out.contains("rolled back"), "{out}");
    assert_eq!(image_running(&stack), format!("{BEFORE} true"));
    let db = stack.connect().await;
    assert_indexes_sound(&db, "after the disaster rollback").await;
    assert_tables_kept(&stack, &before, "after the disaster rollback").await;
    assert_side_sound(&stack, "after the disaster rollback").await;
    assert_eq!(
        pgdata_not_owned_by(&pg, 70),
        Vec::<String>::new(),
        "files owned by uid 70"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_index_amcheck_still_fails_on_stops_the_upgrade_and_the_rollback_says_why() {
    let Some(_engine) = support::require_docker() else {
        return;
    };
    let stack = Stack::up_seeded(50);
    // A btree whose comparison is random: no REINDEX can make amcheck pass on it (a stand-in
    // for an index the repair cannot fix).
    stack
        .connect()
        .await
        .batch_execute(
            "CREATE FUNCTION chaos_cmp(text, text) RETURNS int LANGUAGE sql VOLATILE \
                 AS $$ SELECT (random() * 2)::int * 2 - 1 $$;
             CREATE OPERATOR CLASS text_chaos_ops FOR TYPE text USING btree AS
                 OPERATOR 1 <, OPERATOR 2 <=, OPERATOR 3 =, OPERATOR 4 >=, OPERATOR 5 >,
                 FUNCTION 1 chaos_cmp(text, text);
             CREATE INDEX ix_tags_chaos ON tags (label text_chaos_ops);",
        )
        .await
        .unwrap();

    let run = Run::upgrade(stack.dir()).output();
    let out = text(&run);
    assert_ne!(run.status.code(), Some(0), "{out}");
    assert!(
        out.contains("amcheck still fails after REINDEX") && out.contains("ix_tags_chaos"),
        "the upgrade names the index: {out}"
    );
    assert!(
        out.contains("rollback check: amcheck still finds broken indexes on the old server"),
        "the rollback says why it stopped: {out}"
    );
}
