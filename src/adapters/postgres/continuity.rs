//! Proof that a server started on a data directory picked up exactly where the server that ran
//! on it before had stopped: the same cluster (the system identifier initdb wrote, which no
//! copy made elsewhere shares) and a latest checkpoint at or after the last WAL position the
//! other server had written. PostgreSQL replays or checkpoints everything up to that position
//! before it accepts a connection, so every transaction the other server committed is there,
//! without reading a single table. A stale copy of the volume, or another volume, fails it.
use serde::{Deserialize, Serialize};
use tokio_postgres::Client;

use super::PgError;

/// Where a server's WAL stood: read from the server that is about to stop.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WalPosition {
    pub system_identifier: String,
    /// `pg_current_wal_insert_lsn()`, as PostgreSQL prints an LSN (`0/16B3748`).
    pub lsn: String,
}

/// What the server that started afterwards holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resumed {
    pub system_identifier: String,
    /// `pg_control_checkpoint().checkpoint_lsn`.
    pub checkpoint_lsn: String,
    /// The checkpoint is at or after the position it is compared with.
    pub covers: bool,
}

impl Resumed {
    /// None when it continues `before`, else why not.
    pub fn gap(&self, before: &WalPosition) -> Option<String> {
        if self.system_identifier != before.system_identifier {
            return Some(format!(
                "it runs cluster {}, not {} (another data directory)",
                self.system_identifier, before.system_identifier
            ));
        }
        if !self.covers {
            return Some(format!(
                "its latest checkpoint {} is before {}, where the previous server had written \
                 up to (an older copy of the data directory)",
                self.checkpoint_lsn, before.lsn
            ));
        }
        None
    }
}

/// Reads the position of a running server (superuser or pg_monitor for `pg_control_system`).
pub async fn wal_position(client: &Client) -> Result<WalPosition, PgError> {
    let row = client
        .query_one(
            "SELECT (SELECT system_identifier::text FROM pg_control_system()),
                    pg_current_wal_insert_lsn()::text",
            &[],
        )
        .await
        .map_err(PgError::query("reading the WAL position"))?;
    Ok(WalPosition {
        system_identifier: row.get(0),
        lsn: row.get(1),
    })
}

/// Reads what a server that started after `before` was taken resumed from.
pub async fn resumed_from(client: &Client, before: &WalPosition) -> Result<Resumed, PgError> {
    let row = client
        .query_one(
            "SELECT (SELECT system_identifier::text FROM pg_control_system()),
                    checkpoint_lsn::text, checkpoint_lsn >= $1::text::pg_lsn
               FROM pg_control_checkpoint()",
            &[&before.lsn],
        )
        .await
        .map_err(PgError::query(
            "reading the control file's latest checkpoint",
        ))?;
    Ok(Resumed {
        system_identifier: row.get(0),
        checkpoint_lsn: row.get(1),
        covers: row.get(2),
    })
}
