//! The collation check against a real server: listing finds text indexes (not integer ones),
//! bt_index_check runs, REINDEX and the collation-version refresh are recorded in the report.
mod adapter_pg_support;

use adapter_pg_support::{AFTER, PgContainer};
use cutover::adapters::collation::{self, CheckOutcome, CollationOptions, ReindexPolicy};
use cutover::adapters::postgres::{drop_extension, installed_extension};

#[tokio::test]
async fn lists_checks_and_reindexes_collatable_indexes() {
    let Some(pg) = PgContainer::start(AFTER) else {
        return;
    };
    let client = pg.connect().await;
    client
        .batch_execute(
            "CREATE TABLE users (id serial PRIMARY KEY, email text NOT NULL, age int, code text COLLATE \"C\");
             CREATE INDEX users_email_idx ON users (email);
             CREATE INDEX users_age_idx ON users (age);
             CREATE INDEX users_code_idx ON users (code);
             CREATE INDEX users_lower_email_idx ON users (lower(email));
             CREATE INDEX users_email_hash_idx ON users USING hash (email);
             INSERT INTO users (email, age, code) SELECT 'user' || g || '@Example.org', g, 'c' || g FROM generate_series(1, 2000) g;",
        )
        .await
        .unwrap();

    let listed = collation::list_collatable_indexes(&client).await.unwrap();
    let names: Vec<&str> = listed.iter().map(|i| i.qualified_name.as_str()).collect();
    assert_eq!(
        names,
        [
            "public.users_email_hash_idx",
            "public.users_email_idx",
            "public.users_lower_email_idx"
        ]
    );
    assert!(
        listed
            .iter()
            .all(|i| i.collations.iter().any(|c| c.starts_with("default ("))),
        "{listed:?}"
    );

    assert_eq!(installed_extension(&client, "amcheck").await.unwrap(), None);
    let options = CollationOptions {
        check: true,
        heapallindexed: true,
        reindex: ReindexPolicy::All,
        refresh_collation_version: true,
    };
    let report = collation::run(&client, options).await.unwrap();
    assert!(
        report.amcheck.as_ref().is_some_and(|a| a.created),
        "{report:?}"
    );
    assert_eq!(report.findings.len(), 3);
    for f in &report.findings {
        let expected = if f.index.method == "btree" {
            CheckOutcome::Passed
        } else {
            CheckOutcome::Unsupported
        };
        assert_eq!(f.check, expected, "{}", f.index.qualified_name);
        assert!(f.reindexed);
    }
    assert!(report.collation_version_refreshed);
    assert_eq!(report.failed_checks().count(), 0);
    // The report serialises for the run's JSON report.
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["findings"][1]["check"]["outcome"], "passed");

    // amcheck was ours: the caller drops it again.
    assert!(drop_extension(&client, "amcheck", false).await.unwrap());

    // Only failed ones are rebuilt under ReindexPolicy::Failed (none here).
    let options = CollationOptions {
        reindex: ReindexPolicy::Failed,
        ..options
    };
    let report = collation::run(&client, options).await.unwrap();
    assert!(report.findings.iter().all(|f| !f.reindexed));
    drop_extension(&client, "amcheck", false).await.unwrap();
}
