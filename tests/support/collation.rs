//! Whether a database's text indexes agree with the server it runs on: amcheck on every btree
//! index of the user schemas, and the seed's collation-sensitive queries answered by an index
//! scan and by a sequential scan (a misordered btree answers the index scan wrongly, silently).
//!
//! Used by the shaped tests (the Alpine-shaped volume on the Debian-shaped image) and by the
//! end-to-end upgrade and rollback tests: "amcheck clean and the scans agree" is what a user
//! needs after the C library changed under the data directory.

use tokio_postgres::Client;

/// Queries over the seed's collation-sensitive indexes (testbed/seed.sql), each a count whose
/// answer must not depend on the plan.
pub const SEEDED_QUERIES: [&str; 8] = [
    "SELECT count(*) FROM tags WHERE name = 'a'",
    "SELECT count(*) FROM tags WHERE name = 'Á'",
    "SELECT count(*) FROM tags WHERE name = '_x'",
    "SELECT count(*) FROM tags WHERE name BETWEEN 'a' AND 'b'",
    "SELECT count(*) FROM tags WHERE label BETWEEN 'alpha' AND 'b'",
    "SELECT count(*) FROM users WHERE email BETWEEN 'U' AND 'u'",
    "SELECT count(*) FROM users WHERE email = 'user-1@example.org'",
    "SELECT count(*) FROM workspaces WHERE name BETWEEN 'default' AND 'ops'",
];

/// `bt_index_check` of every btree index in the user schemas (amcheck created if missing):
/// `(index, Err(message))` for each one that fails, empty when all pass.
pub async fn amcheck_failures(db: &Client) -> Vec<(String, String)> {
    db.batch_execute("CREATE EXTENSION IF NOT EXISTS amcheck")
        .await
        .expect("create amcheck");
    let rows = db
        .query(
            "SELECT c.oid, format('%I.%I', n.nspname, c.relname)
             FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
             JOIN pg_namespace n ON n.oid = c.relnamespace
             JOIN pg_am am ON am.oid = c.relam
             WHERE am.amname = 'btree'
               AND n.nspname NOT IN ('pg_catalog', 'information_schema')
               AND n.nspname NOT LIKE 'pg\\_toast%'
             ORDER BY 2",
            &[],
        )
        .await
        .expect("list btree indexes");
    let mut failed = Vec::new();
    for r in rows {
        let (oid, name): (u32, String) = (r.get(0), r.get(1));
        // heapallindexed: every row must also be findable in the index.
        if let Err(e) = db
            .execute("SELECT bt_index_check($1::oid::regclass, true)", &[&oid])
            .await
        {
            let msg = e
                .as_db_error()
                .map(|d| d.message().to_string())
                .unwrap_or_else(|| e.to_string());
            failed.push((name, msg));
        }
    }
    failed
}

/// One query's count by index scan and by sequential scan.
pub async fn index_vs_seq(db: &Client, query: &str) -> (i64, i64) {
    db.batch_execute(
        "SET enable_seqscan = off; SET enable_bitmapscan = off; \
         SET enable_indexscan = on; SET enable_indexonlyscan = on",
    )
    .await
    .unwrap();
    let by_index: i64 = db.query_one(query, &[]).await.unwrap().get(0);
    db.batch_execute(
        "SET enable_seqscan = on; SET enable_bitmapscan = off; \
         SET enable_indexscan = off; SET enable_indexonlyscan = off",
    )
    .await
    .unwrap();
    let by_seq: i64 = db.query_one(query, &[]).await.unwrap().get(0);
    db.batch_execute("RESET ALL").await.unwrap();
    (by_index, by_seq)
}

/// The seeded queries whose index and sequential scans disagree: `(query, index, seq)`.
pub async fn disagreeing_queries(db: &Client) -> Vec<(String, i64, i64)> {
    let mut out = Vec::new();
    for q in SEEDED_QUERIES {
        let (i, s) = index_vs_seq(db, q).await;
        if i != s {
            out.push((q.to_string(), i, s));
        }
    }
    out
}

/// amcheck clean on every index and every seeded query answered the same by both scans.
pub async fn assert_indexes_sound(db: &Client, what: &str) {
    let failed = amcheck_failures(db).await;
    assert!(failed.is_empty(), "{what}: amcheck failures: {failed:?}");
    let differ = disagreeing_queries(db).await;
    assert!(
        differ.is_empty(),
        "{what}: index and seq scans disagree (query, index, seq): {differ:?}"
    );
}

/// Owner uid of every file under the container's PGDATA that is not `uid` (at most 5 named).
pub fn pgdata_not_owned_by(container: &str, uid: u32) -> Vec<String> {
    let out = super::docker(&[
        "exec",
        container,
        "sh",
        "-c",
        &format!("find \"$PGDATA\" ! -uid {uid} -printf '%U %p\\n' | head -n 5"),
    ]);
    out.lines().map(String::from).collect()
}
