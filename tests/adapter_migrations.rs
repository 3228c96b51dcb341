//! Migrations: loading and validating sets (no database), then up/down/up against a real
//! pgvector server with privexbot's existing `users` and `workspaces` tables.
mod adapter_pg_support;

use adapter_pg_support::{AFTER, PgContainer};
use cutover::adapters::migrations::{self, MigrationError, MigrationSet};
use cutover::adapters::postgres::create_extension;

const PRIVEXBOT_TABLES: &str = "
    CREATE TABLE users (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), email text NOT NULL UNIQUE);
    CREATE TABLE workspaces (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), organization_id uuid, name text NOT NULL);
    INSERT INTO users (email) VALUES ('a@example.org');
    INSERT INTO workspaces (name) VALUES ('main');
";

fn files(list: &[(&str, &str)]) -> Vec<(String, Vec<u8>)> {
    list.iter()
        .map(|(n, b)| (n.to_string(), b.as_bytes().to_vec()))
        .collect()
}

#[test]
fn embedded_set_has_the_knowledge_base_migration() {
    let set = MigrationSet::embedded().unwrap();
    assert_eq!(set.migrations.len(), 1);
    let m = &set.migrations[0];
    assert_eq!((m.version, m.name.as_str()), (1, "knowledge_base"));
    assert_eq!(m.checksum.len(), 64);
    assert!(m.up.contains("vector(384)") && m.down.contains("DROP TABLE"));
}

#[test]
fn set_validation_names_the_problem() {
    let problem = |list: &[(&str, &str)]| match MigrationSet::from_files("t", files(list)) {
        Err(MigrationError::Set { problem, .. }) => problem,
        other => panic!("expected a set error, got {other:?}"),
    };
    assert!(problem(&[("0001_a.up.sql", "")]).contains("needs both"));
    assert!(
        problem(&[
            ("0001_a.up.sql", ""),
            ("0001_a.down.sql", ""),
            ("0003_c.up.sql", ""),
            ("0003_c.down.sql", "")
        ])
        .contains("jump from 1 to 3")
    );
    assert!(problem(&[("0001_a.up.sql", ""), ("0001_b.down.sql", "")]).contains("used by both"));
    assert!(problem(&[("1-a.up.sql", "")]).contains("1-a.up.sql"));
    assert!(problem(&[("README.md", "")]).contains("no migrations"));
    let ok = MigrationSet::from_files(
        "t",
        files(&[
            ("0002_b.up.sql", "x"),
            ("0002_b.down.sql", "y"),
            ("README.md", ""),
        ]),
    )
    .unwrap();
    assert_eq!(ok.migrations[0].version, 2);
}

#[test]
fn set_from_a_directory() {
    let dir = tempfile::tempdir().unwrap();
    for (n, b) in [
        ("0001_a.up.sql", "CREATE TABLE a ()"),
        ("0001_a.down.sql", "DROP TABLE a"),
        ("notes.txt", "x"),
    ] {
        std::fs::write(dir.path().join(n), b).unwrap();
    }
    let set = MigrationSet::from_dir(dir.path()).unwrap();
    assert_eq!(set.migrations.len(), 1);
    assert_eq!(set.origin, dir.path().display().to_string());
}

#[tokio::test]
async fn up_down_up_with_history_checksums_and_constraints() {
    let Some(pg) = PgContainer::start(AFTER) else {
        return;
    };
    let mut client = pg.connect().await;
    client.batch_execute(PRIVEXBOT_TABLES).await.unwrap();
    let set = MigrationSet::embedded().unwrap();

    // Without the extension the migration fails, says why, and leaves nothing behind.
    let err = migrations::up(&mut client, &set).await.unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("migration 1 (knowledge_base) up failed")
            && msg.contains("CREATE EXTENSION vector"),
        "{msg}"
    );
    assert!(migrations::history(&client).await.unwrap().is_empty());

    create_extension(&client, "vector").await.unwrap();
    assert_eq!(migrations::pending(&client, &set).await.unwrap().len(), 1);
    let ran = migrations::up(&mut client, &set).await.unwrap();
    assert_eq!(
        ran.iter()
            .map(|r| (r.version, r.direction))
            .collect::<Vec<_>>(),
        [(1, migrations::Direction::Up)]
    );
    let history = migrations::history(&client).await.unwrap();
    assert_eq!(history.len(), 1);
    assert_eq!(
        (history[0].version, history[0].name.as_str()),
        (1, "knowledge_base")
    );
    assert_eq!(history[0].checksum, set.migrations[0].checksum);
    assert!(
        migrations::up(&mut client, &set).await.unwrap().is_empty(),
        "second up runs nothing"
    );
    assert!(migrations::pending(&client, &set).await.unwrap().is_empty());

    // The schema: the embedding type and the foreign keys to privexbot's tables.
    let ty: String = client
        .query_one("SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = 'chunks'::regclass AND attname = 'embedding'", &[])
        .await.unwrap().get(0);
    assert_eq!(ty, "vector(384)");
    let fk = client
        .batch_execute(
            "INSERT INTO knowledge_bases (workspace_id, name) VALUES (gen_random_uuid(), 'orphan')",
        )
        .await
        .unwrap_err();
    assert_eq!(fk.code().map(|c| c.code()), Some("23503"), "{fk}");
    let bad_user = client
        .batch_execute("INSERT INTO knowledge_bases (workspace_id, created_by, name) SELECT id, gen_random_uuid(), 'x' FROM workspaces")
        .await.unwrap_err();
    assert_eq!(
        bad_user.code().map(|c| c.code()),
        Some("23503"),
        "{bad_user}"
    );
    client.batch_execute(
        "INSERT INTO knowledge_bases (workspace_id, created_by, name) SELECT w.id, u.id, 'kb' FROM workspaces w, users u;
         INSERT INTO documents (knowledge_base_id, title, source_type) SELECT id, 'doc', 'text' FROM knowledge_bases;
         INSERT INTO chunks (document_id, knowledge_base_id, chunk_index, content, embedding)
           SELECT d.id, d.knowledge_base_id, 0, 'hello', array_fill(0.5, ARRAY[384])::vector FROM documents d;",
    ).await.unwrap();
    let dup = client
        .batch_execute("INSERT INTO chunks (document_id, knowledge_base_id, chunk_index, content) SELECT document_id, knowledge_base_id, 0, 'again' FROM chunks")
        .await.unwrap_err();
    assert_eq!(dup.code().map(|c| c.code()), Some("23505"), "{dup}");
    let hnsw: i64 = client
        .query_one("SELECT count(*) FROM pg_indexes WHERE tablename = 'chunks' AND indexdef LIKE '%hnsw%vector_cosine_ops%'", &[])
        .await.unwrap().get(0);
    assert_eq!(hnsw, 1);

    // A changed up file of an applied migration is refused, by name, by pending and up and down.
    let mut changed = set.clone();
    changed.migrations[0].up.push_str("\n-- edited");
    changed.migrations[0].checksum =
        cutover::adapters::compose::sha256_hex(changed.migrations[0].up.as_bytes());
    for err in [
        migrations::pending(&client, &changed).await.unwrap_err(),
        migrations::up(&mut client, &changed).await.unwrap_err(),
        migrations::down(&mut client, &changed, 0)
            .await
            .unwrap_err(),
    ] {
        assert!(
            matches!(err, MigrationError::ChecksumMismatch { version: 1, .. }),
            "{err}"
        );
        assert!(err.to_string().contains("knowledge_base"), "{err}");
    }

    // Down to 0: tables and history gone, privexbot's tables and the extension untouched.
    let ran = migrations::down(&mut client, &set, 0).await.unwrap();
    assert_eq!(
        ran.iter()
            .map(|r| (r.version, r.direction))
            .collect::<Vec<_>>(),
        [(1, migrations::Direction::Down)]
    );
    let left: i64 = client
        .query_one("SELECT count(*) FROM pg_tables WHERE tablename IN ('knowledge_bases','documents','chunks','cutover_schema_migrations')", &[])
        .await.unwrap().get(0);
    assert_eq!(left, 0);
    let users: i64 = client
        .query_one("SELECT count(*) FROM users", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(users, 1);
    assert!(
        migrations::down(&mut client, &set, 0)
            .await
            .unwrap()
            .is_empty(),
        "second down is a no-op"
    );

    // And up again.
    assert_eq!(migrations::up(&mut client, &set).await.unwrap().len(), 1);
    assert_eq!(migrations::history(&client).await.unwrap().len(), 1);
}

#[tokio::test]
async fn concurrent_runners_apply_each_migration_once() {
    let Some(pg) = PgContainer::start(AFTER) else {
        return;
    };
    let mut a = pg.connect().await;
    let mut b = pg.connect().await;
    a.batch_execute(PRIVEXBOT_TABLES).await.unwrap();
    create_extension(&a, "vector").await.unwrap();
    let set = MigrationSet::embedded().unwrap();
    let (ra, rb) = tokio::join!(migrations::up(&mut a, &set), migrations::up(&mut b, &set));
    assert_eq!(ra.unwrap().len() + rb.unwrap().len(), 1);
}

#[tokio::test]
async fn unknown_applied_migration_is_refused() {
    let Some(pg) = PgContainer::start(AFTER) else {
        return;
    };
    let mut client = pg.connect().await;
    let set = MigrationSet::from_files(
        "t",
        files(&[
            ("0001_a.up.sql", "CREATE TABLE a (x int)"),
            ("0001_a.down.sql", "DROP TABLE a"),
        ]),
    )
    .unwrap();
    migrations::up(&mut client, &set).await.unwrap();
    let other = MigrationSet::from_files(
        "u",
        files(&[
            ("0002_b.up.sql", "SELECT 1"),
            ("0002_b.down.sql", "SELECT 1"),
        ]),
    )
    .unwrap();
    let err = migrations::up(&mut client, &other).await.unwrap_err();
    assert!(
        matches!(err, MigrationError::UnknownApplied { version: 1, .. }),
        "{err}"
    );
}
