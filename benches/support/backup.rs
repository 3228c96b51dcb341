//! Backup and disaster restore, cutover's way and the plain way.
//!
//! - cutover: `adapters::backup::dump` (pg_dump -Fc exec'd through the Engine API with no TTY,
//!   streamed to a 0600 file with sha256 on the fly, fsync'd, then verified with
//!   `pg_restore --list` streamed back into the container) and `adapters::backup::restore`
//!   (`pg_restore --exit-on-error --no-owner` into a fresh, empty database);
//! - baseline: `docker exec <postgres> pg_dump -Fp > file` and `psql < file` into a fresh
//!   database, through the docker CLI.
//!
//! Throughput is the database's size (`pg_database_size`) over the wall time, so the two
//! formats (compressed custom, plain SQL) are compared on the same work.

use std::path::Path;
use std::time::Instant;

use anyhow::{Context, Result};
use cutover::adapters::backup::{self, PgTarget};
use cutover::adapters::docker::DockerClient;

use super::sh::{docker_from_file, docker_to_file, psql};

pub fn target(container: &str, database: &str) -> PgTarget {
    PgTarget {
        container: container.into(),
        user: "privexbot".into(),
        database: database.into(),
        // The local socket inside the container trusts; no password needed or passed.
        password: None,
    }
}

/// cutover's dump into `dir/name`; returns (wall ms, file bytes).
pub async fn cutover_dump(
    d: &DockerClient,
    container: &str,
    database: &str,
    dir: &Path,
    name: &str,
) -> Result<(f64, u64)> {
    let t = Instant::now();
    let rec = backup::dump(
        d,
        &target(container, database),
        dir,
        name,
        &["users"],
        |_| {},
    )
    .await
    .context("cutover dump")?;
    Ok((t.elapsed().as_secs_f64() * 1000.0, rec.bytes))
}

/// `docker exec C pg_dump -Fp -U privexbot DB > out`; returns (wall ms, file bytes).
pub async fn plain_dump(container: &str, database: &str, out: &Path) -> Result<(f64, u64)> {
    let t = Instant::now();
    docker_to_file(
        &[
            "exec",
            container,
            "pg_dump",
            "-Fp",
            "-U",
            "privexbot",
            database,
        ],
        out,
    )
    .await?;
    Ok((
        t.elapsed().as_secs_f64() * 1000.0,
        std::fs::metadata(out)?.len(),
    ))
}

async fn fresh_db(container: &str, name: &str) -> Result<()> {
    psql(
        container,
        "postgres",
        &format!("DROP DATABASE IF EXISTS {name}"),
    )
    .await?;
    psql(container, "postgres", &format!("CREATE DATABASE {name}")).await?;
    Ok(())
}

pub async fn drop_db(container: &str, name: &str) -> Result<()> {
    psql(
        container,
        "postgres",
        &format!("DROP DATABASE IF EXISTS {name}"),
    )
    .await?;
    Ok(())
}

/// cutover's disaster restore of `dump` into a fresh database `db`; wall ms (create excluded).
pub async fn cutover_restore(
    d: &DockerClient,
    container: &str,
    db: &str,
    dump: &Path,
) -> Result<f64> {
    fresh_db(container, db).await?;
    // Journaled with the backup in a real run; not part of the restore's figure.
    let sha256 = cutover::adapters::backup::sha256_file(dump)?;
    let t = Instant::now();
    cutover::adapters::restore::restore(d, &target(container, db), dump, &sha256)
        .await
        .context("cutover restore")?;
    Ok(t.elapsed().as_secs_f64() * 1000.0)
}

/// `docker exec -i C psql -q -U privexbot -d db < plain`; wall ms (create excluded).
pub async fn psql_restore(container: &str, db: &str, plain: &Path) -> Result<f64> {
    fresh_db(container, db).await?;
    let t = Instant::now();
    docker_from_file(
        &[
            "exec",
            "-i",
            container,
            "psql",
            "-X",
            "-q",
            "-U",
            "privexbot",
            "-d",
            db,
        ],
        plain,
    )
    .await?;
    Ok(t.elapsed().as_secs_f64() * 1000.0)
}

/// `pg_database_size` in bytes.
pub async fn db_size(container: &str, db: &str) -> Result<u64> {
    Ok(psql(
        container,
        "postgres",
        &format!("SELECT pg_database_size('{db}')"),
    )
    .await?
    .parse()?)
}

/// Fails unless `db` has as many users as `source` (a restore that did nothing is no figure).
pub async fn check_restored(container: &str, db: &str, want_users: &str) -> Result<()> {
    let got = psql(container, db, USERS).await?;
    anyhow::ensure!(
        got == want_users,
        "{db} has {got} users after the restore, the source had {want_users}"
    );
    Ok(())
}

/// What `check_restored` compares: the source's row count of its largest table.
pub const USERS: &str = "SELECT count(*) FROM users";
