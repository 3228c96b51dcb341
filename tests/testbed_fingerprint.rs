//! `adapters::fingerprint` against real PostgreSQL: deterministic seeds give equal
//! fingerprints, and a duplicated, removed or changed row is always seen, including in a table
//! without a primary key, while row order is not.

mod support;

use cutover::adapters::fingerprint::fingerprint;
use support::{Stack, require_docker};

#[tokio::test]
async fn fingerprint_sees_duplicates_and_changes_but_not_row_order() {
    let Some(_engine) = require_docker() else {
        return;
    };
    let stack = Stack::up_seeded(30);
    let out = stack.compose(&["stop", "celery-worker"]);
    assert!(out.status.success());
    let db = stack.connect().await;
    // An awkward name, to prove identifiers are quoted.
    db.batch_execute(
        r#"CREATE TABLE "Odd ""Name""" (v text); INSERT INTO "Odd ""Name""" VALUES ('a'), ('b');"#,
    )
    .await
    .unwrap();

    let base = fingerprint(&db, "public").await.unwrap();
    for t in [
        "users",
        "auth_identities",
        "organizations",
        "workspaces",
        "audit_events",
        "Odd \"Name\"",
    ] {
        assert!(base.tables.contains_key(t), "{t} missing from {base:?}");
    }
    assert_eq!(base.tables["users"].rows, 30);
    assert_eq!(base.tables["Odd \"Name\""].rows, 2);
    // Taking it twice gives the same answer.
    assert_eq!(fingerprint(&db, "public").await.unwrap(), base);

    // A duplicated row (what `psql < dump` into the live database does) changes it.
    db.batch_execute("INSERT INTO audit_events SELECT * FROM audit_events LIMIT 1")
        .await
        .unwrap();
    let dup = fingerprint(&db, "public").await.unwrap();
    let n = base.tables["audit_events"].rows;
    assert_eq!(
        base.diff(&dup),
        vec![format!("audit_events: {n} rows before, {} after", n + 1)]
    );
    assert_ne!(
        dup.tables["audit_events"].checksum,
        base.tables["audit_events"].checksum
    );

    // Rewriting the table in another physical order, without the duplicate, restores it.
    db.batch_execute(
        "CREATE TEMP TABLE keep AS SELECT DISTINCT ON (occurred_at, actor_id, action, detail) * FROM audit_events;
         DELETE FROM audit_events;",
    )
    .await
    .unwrap();
    // Exact duplicates seeded on purpose must come back too, so rebuild from the seed's shape:
    // reinsert every distinct row, then the seeded duplicates, in reverse order.
    db.batch_execute(
        "INSERT INTO audit_events SELECT * FROM keep ORDER BY occurred_at DESC;
         INSERT INTO audit_events SELECT k.* FROM keep k
          WHERE k.action = 'settings.update'
            AND split_part(split_part(k.detail, ' for user ', 2), ':', 1)::int % 10 = 0
          ORDER BY k.occurred_at DESC;",
    )
    .await
    .unwrap();
    db.batch_execute("VACUUM FULL audit_events").await.unwrap();
    assert_eq!(fingerprint(&db, "public").await.unwrap(), base);

    // Same row count, different contents.
    db.batch_execute("UPDATE users SET email = upper(email) WHERE username = 'user7'")
        .await
        .unwrap();
    let changed = fingerprint(&db, "public").await.unwrap();
    assert_eq!(changed.tables["users"].rows, 30);
    assert_eq!(
        base.diff(&changed),
        vec!["users: same row count, different contents".to_string()]
    );
}

/// The snapshot is fixed at `open`: rows written before the scan runs are not in it. Tables the
/// record hash cannot read (a `point` column, empty or not) fall back to the row's text and
/// still see a change. A journal from before methods were recorded reads as md5, and a
/// fingerprint taken "like" it uses md5 again, so old runs still compare.
#[tokio::test]
async fn snapshot_is_fixed_at_open_and_every_column_type_is_hashed() {
    use cutover::adapters::fingerprint::{Fingerprint, Method, Snapshot, fingerprint_like};
    let Some(_engine) = require_docker() else {
        return;
    };
    let stack = Stack::up_seeded(10);
    let out = stack.compose(&["stop", "celery-worker", "backend"]);
    assert!(out.status.success());
    let db = stack.connect().await;
    let writer = stack.connect().await;
    db.batch_execute(
        "CREATE TABLE geo (id int, at point); INSERT INTO geo VALUES (1, '(1,2)');
         CREATE TABLE geo_empty (at point);",
    )
    .await
    .unwrap();

    let snap = Snapshot::open(&db, "public", Method::Hash).await.unwrap();
    writer
        .batch_execute("INSERT INTO users VALUES (gen_random_uuid(), 'late', 'late@example.com', true, now(), now())")
        .await
        .unwrap();
    let at_open = snap.fingerprint().await.unwrap();
    assert_eq!(at_open.method, Method::Hash);
    assert_eq!(
        at_open.tables["users"].rows, 10,
        "the late row is after the snapshot"
    );
    assert_eq!(at_open.tables["geo"].rows, 1);
    assert_eq!(at_open.tables["geo_empty"].rows, 0);
    let now = fingerprint(&db, "public").await.unwrap();
    assert_eq!(now.tables["users"].rows, 11);

    db.batch_execute("UPDATE geo SET at = '(1,3)'")
        .await
        .unwrap();
    let moved = fingerprint(&db, "public").await.unwrap();
    assert_eq!(
        now.diff(&moved),
        vec!["geo: same row count, different contents".to_string()]
    );

    // A fingerprint journaled by an older cutover has no method field: md5.
    let mut old: serde_json::Value = serde_json::to_value(&moved).unwrap();
    old.as_object_mut().unwrap().remove("method");
    let old: Fingerprint = serde_json::from_value(old).unwrap();
    assert_eq!(old.method, Method::Md5);
    assert_eq!(
        old.diff(&moved),
        vec![
            "the fingerprints were taken by different methods (Md5, Hash): not comparable"
                .to_string()
        ]
    );
    let again = fingerprint_like(&db, "public", &old).await.unwrap();
    assert_eq!(again.method, Method::Md5);
    let again2 = fingerprint_like(&db, "public", &again).await.unwrap();
    assert_eq!(again, again2);
    assert_eq!(again.tables["geo"].rows, 1);
    assert_ne!(
        again.tables["users"].checksum,
        moved.tables["users"].checksum
    );
}
