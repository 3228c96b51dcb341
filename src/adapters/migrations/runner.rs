//! Applies and reverts migrations against a live database.
//!
//! Each migration is one transaction: take the advisory lock, (create the history table), read
//! the history and check it against the set, run the SQL, write or delete the history row,
//! commit. Checking inside the transaction means a concurrent runner waits on the lock and then
//! sees the work already done.
use std::time::Instant;

use tokio_postgres::{Client, GenericClient, Transaction};

use super::{Migration, MigrationError, MigrationSet};
use crate::adapters::postgres::PgError;

/// `pg_advisory_xact_lock` key held while a migration runs: "cutover" in ASCII.
pub const ADVISORY_LOCK_KEY: i64 = 0x0063_7574_6f76_6572;
pub const HISTORY_TABLE: &str = "cutover_schema_migrations";

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    Up,
    Down,
}

impl std::fmt::Display for Direction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Direction::Up => "up",
            Direction::Down => "down",
        })
    }
}

/// One row of `cutover_schema_migrations`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct HistoryRow {
    pub version: i64,
    pub name: String,
    pub checksum: String,
    /// RFC 3339 as the server formats it.
    pub applied_at: String,
}

/// A migration that ran, for the report.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct MigrationRun {
    pub version: i64,
    pub name: String,
    pub direction: Direction,
    pub duration_ms: u64,
}

const CREATE_HISTORY: &str = "CREATE TABLE IF NOT EXISTS cutover_schema_migrations (
    version    bigint PRIMARY KEY,
    name       text NOT NULL,
    checksum   text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
)";

/// The history, oldest first; empty when the table does not exist yet.
pub async fn history(client: &impl GenericClient) -> Result<Vec<HistoryRow>, MigrationError> {
    let exists: bool = client
        .query_one("SELECT to_regclass($1) IS NOT NULL", &[&HISTORY_TABLE])
        .await
        .map_err(PgError::query("looking for the migration history table"))?
        .get(0);
    if !exists {
        return Ok(Vec::new());
    }
    let rows = client
        .query(
            "SELECT version, name, checksum, \
                    to_char(applied_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"') \
             FROM cutover_schema_migrations ORDER BY version",
            &[],
        )
        .await
        .map_err(PgError::query("reading the migration history"))?;
    Ok(rows
        .into_iter()
        .map(|r| HistoryRow {
            version: r.get(0),
            name: r.get(1),
            checksum: r.get(2),
            applied_at: r.get(3),
        })
        .collect())
}

/// Checks the history against the set: every applied migration must be in the set with the
/// same checksum. Returns the pending migrations in order, refusing gaps before applied ones.
fn check<'a>(
    set: &'a MigrationSet,
    applied: &[HistoryRow],
) -> Result<Vec<&'a Migration>, MigrationError> {
    for row in applied {
        let Some(m) = set.get(row.version) else {
            return Err(MigrationError::UnknownApplied {
                version: row.version,
                name: row.name.clone(),
            });
        };
        if m.checksum != row.checksum {
            return Err(MigrationError::ChecksumMismatch {
                version: m.version,
                name: m.name.clone(),
                recorded: row.checksum.clone(),
                current: m.checksum.clone(),
            });
        }
    }
    let max_applied = applied.iter().map(|r| r.version).max();
    let pending: Vec<&Migration> = set
        .migrations
        .iter()
        .filter(|m| !applied.iter().any(|r| r.version == m.version))
        .collect();
    if let (Some(first), Some(max)) = (pending.first(), max_applied)
        && first.version < max
    {
        return Err(MigrationError::OutOfOrder {
            version: first.version,
            name: first.name.clone(),
            applied: max,
        });
    }
    Ok(pending)
}

/// Migrations of `set` not yet applied (after checking the applied ones' checksums).
pub async fn pending(
    client: &Client,
    set: &MigrationSet,
) -> Result<Vec<Migration>, MigrationError> {
    let applied = history(client).await?;
    Ok(check(set, &applied)?.into_iter().cloned().collect())
}

/// Applies every pending migration in order; returns what ran (empty when up to date).
pub async fn up(
    client: &mut Client,
    set: &MigrationSet,
) -> Result<Vec<MigrationRun>, MigrationError> {
    let mut ran = Vec::new();
    loop {
        let tx = locked_transaction(client).await?;
        tx.batch_execute(CREATE_HISTORY)
            .await
            .map_err(PgError::query("creating the migration history table"))?;
        let applied = history(&tx).await?;
        let Some(m) = check(set, &applied)?.first().copied() else {
            tx.commit().await.map_err(PgError::query("committing"))?;
            return Ok(ran);
        };
        let start = Instant::now();
        run_sql(&tx, m, Direction::Up).await?;
        tx.execute(
            "INSERT INTO cutover_schema_migrations (version, name, checksum) VALUES ($1, $2, $3)",
            &[&m.version, &m.name, &m.checksum],
        )
        .await
        .map_err(PgError::query(format!("recording migration {}", m.version)))?;
        commit(tx, m, Direction::Up).await?;
        tracing::info!(version = m.version, name = %m.name, "migration applied");
        ran.push(MigrationRun {
            version: m.version,
            name: m.name.clone(),
            direction: Direction::Up,
            duration_ms: ms(start),
        });
    }
}

/// Reverts applied migrations with a version above `to_version`, newest first. `to_version` 0
/// reverts all of them and then drops the (empty) history table, leaving the schema as it was
/// before cutover touched it.
pub async fn down(
    client: &mut Client,
    set: &MigrationSet,
    to_version: i64,
) -> Result<Vec<MigrationRun>, MigrationError> {
    let mut ran = Vec::new();
    loop {
        let tx = locked_transaction(client).await?;
        let applied = history(&tx).await?;
        check(set, &applied)?;
        let Some(row) = applied.iter().rev().find(|r| r.version > to_version) else {
            // Nothing left above `to_version`; at 0 the history is empty and its table goes too.
            if to_version <= 0 {
                tx.batch_execute("DROP TABLE IF EXISTS cutover_schema_migrations")
                    .await
                    .map_err(PgError::query("dropping the empty migration history table"))?;
            }
            tx.commit().await.map_err(PgError::query("committing"))?;
            return Ok(ran);
        };
        let m = set
            .get(row.version)
            .expect("check() verified every applied version is in the set");
        let start = Instant::now();
        run_sql(&tx, m, Direction::Down).await?;
        tx.execute(
            "DELETE FROM cutover_schema_migrations WHERE version = $1",
            &[&m.version],
        )
        .await
        .map_err(PgError::query(format!(
            "removing migration {} from the history",
            m.version
        )))?;
        commit(tx, m, Direction::Down).await?;
        tracing::info!(version = m.version, name = %m.name, "migration reverted");
        ran.push(MigrationRun {
            version: m.version,
            name: m.name.clone(),
            direction: Direction::Down,
            duration_ms: ms(start),
        });
    }
}

async fn locked_transaction(client: &mut Client) -> Result<Transaction<'_>, MigrationError> {
    let tx = client
        .transaction()
        .await
        .map_err(PgError::query("starting a migration transaction"))?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&ADVISORY_LOCK_KEY])
        .await
        .map_err(PgError::query("taking the migration advisory lock"))?;
    Ok(tx)
}

async fn run_sql(
    tx: &Transaction<'_>,
    m: &Migration,
    direction: Direction,
) -> Result<(), MigrationError> {
    let sql = match direction {
        Direction::Up => &m.up,
        Direction::Down => &m.down,
    };
    tx.batch_execute(sql)
        .await
        .map_err(|source| failed(m, direction, source))
}

async fn commit(
    tx: Transaction<'_>,
    m: &Migration,
    direction: Direction,
) -> Result<(), MigrationError> {
    tx.commit()
        .await
        .map_err(|source| failed(m, direction, source))
}

fn failed(m: &Migration, direction: Direction, source: tokio_postgres::Error) -> MigrationError {
    // The server's message, detail and hint say what went wrong in the SQL.
    let message = match source.as_db_error() {
        Some(db) => {
            let mut s = db.message().to_string();
            if let Some(d) = db.detail() {
                s.push_str(&format!(" ({d})"));
            }
            if let Some(h) = db.hint() {
                s.push_str(&format!("; hint: {h}"));
            }
            s
        }
        None => source.to_string(),
    };
    MigrationError::Failed {
        version: m.version,
        name: m.name.clone(),
        direction,
        message,
        source,
    }
}

fn ms(start: Instant) -> u64 {
    start.elapsed().as_millis() as u64
}
