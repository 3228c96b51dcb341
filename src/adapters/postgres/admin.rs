//! Small admin queries: the database's name and size (for the disk-space estimate) and
//! CHECKPOINT (flush before the container is stopped, so the stop's shutdown checkpoint is
//! short and the database downtime with it).
use tokio_postgres::Client;

use super::PgError;

pub async fn current_database(client: &Client) -> Result<String, PgError> {
    let row = client
        .query_one("SELECT current_database()::text", &[])
        .await
        .map_err(PgError::query("reading current_database()"))?;
    Ok(row.get(0))
}

/// Size in bytes of `database`, or of the current database when None.
pub async fn database_size(client: &Client, database: Option<&str>) -> Result<i64, PgError> {
    let row = client
        .query_one(
            "SELECT pg_database_size(coalesce($1::text, current_database()))",
            &[&database],
        )
        .await
        .map_err(PgError::query("reading pg_database_size"))?;
    Ok(row.get(0))
}

/// Runs CHECKPOINT (superuser or, from PostgreSQL 15, the pg_checkpoint role).
pub async fn checkpoint(client: &Client) -> Result<(), PgError> {
    client
        .batch_execute("CHECKPOINT")
        .await
        .map_err(PgError::query("CHECKPOINT"))
}
