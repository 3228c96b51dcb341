//! The two fingerprint snapshots the window opens but does not read (issue 14): reading every
//! row of every table costs seconds per gigabyte, and with the writers stopped that is
//! downtime. A REPEATABLE READ snapshot costs nothing to open and reads later exactly what the
//! database held when it was opened, whatever is written since. So:
//! - `postgres-ready` opens `at_start` on the new server's first login: the state at the stop
//!   (the continuity proof shows the server resumed exactly the stopped cluster);
//! - `verify-data` opens `before_writers` just before the writers start again, after proving
//!   cheaply that nothing wrote to a pre-existing table in between
//!   (`adapters::postgres::activity_since`);
//! - `verify-fingerprints`, after the application is back, reads both and compares them row
//!   for row, as the window used to.
//!
//! They live in this process only. After a restart (a crash, `cutover resume`) they are gone,
//! and each reader falls back to what can still be read: the window's own rows while the
//! writers are stopped, the physical backup for the state at the stop.

use tokio::sync::Mutex;
use tokio_postgres::Client;

use crate::adapters::fingerprint::Snapshot;

/// A snapshot that owns its connection.
pub type HeldSnapshot = Snapshot<Box<Client>>;

#[derive(Default)]
pub struct HeldSnapshots {
    pub at_start: Mutex<Option<HeldSnapshot>>,
    pub before_writers: Mutex<Option<HeldSnapshot>>,
    /// Their server processes: read-only sessions of ours, which the late-client checks and
    /// the row-change proof must not count as someone else.
    pids: std::sync::Mutex<Vec<i32>>,
}

impl HeldSnapshots {
    /// Opens a snapshot of `schema` on a connection of its own to `target`.
    pub async fn open(
        &self,
        target: &crate::adapters::postgres::PgTarget,
        schema: &str,
    ) -> anyhow::Result<HeldSnapshot> {
        use anyhow::Context;
        let own = Box::new(crate::adapters::postgres::connect(target).await?);
        let pid: i32 = own
            .query_one("SELECT pg_backend_pid()", &[])
            .await
            .context("reading the snapshot session's pid")?
            .get(0);
        self.pids.lock().expect("pids lock").push(pid);
        Snapshot::open(own, schema, crate::adapters::fingerprint::Method::default()).await
    }

    /// The server processes of the held snapshots (including read ones: harmless).
    pub fn pids(&self) -> Vec<i32> {
        self.pids.lock().expect("pids lock").clone()
    }

    /// Takes the start snapshot, leaving none (it is read once).
    pub async fn take_at_start(&self) -> Option<HeldSnapshot> {
        self.at_start.lock().await.take()
    }

    pub async fn take_before_writers(&self) -> Option<HeldSnapshot> {
        self.before_writers.lock().await.take()
    }
}
