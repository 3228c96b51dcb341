//! Where the writers left the new server when the rollback stopped them again
//! (`start-writers`' undo), journaled as `start-writers`' output:
//! - fast path: the new server's WAL position. Whatever the writers added while the upgrade
//!   stood lies before it, and the old server must resume at or after it
//!   (`super::resume_proof`): that keeps every row without reading a table, which on a large
//!   database is what makes the rollback fast;
//! - disaster path: what the writers did, to report the rows the restored backup does not have
//!   (`super::check`). Read from each table's row-change counters against the ones noted at
//!   the new server's first login (`postgres-ready`): milliseconds, where reading every row
//!   cost about a second per gigabyte with the writers stopped, for a report line. Where the
//!   counters cannot tell (`track_counts` off, a session that stays, a table rewritten, a
//!   server that restarted and counts afresh), and on the fast path when the WAL position
//!   cannot be read: a fingerprint of the tables, as before.

use std::time::Duration;

use crate::adapters::fingerprint;
use crate::adapters::postgres::{self, TableStates};
use crate::engine::{StepContext, StepError};
use crate::upgrade::env::UpgradeEnv;
use crate::upgrade::outputs::{SCHEMA, TableWrites, WindowOutput, fingerprint_before_in};
use crate::upgrade::steps::postgres_ready::ReadyOutput;

/// Records where the writers (stopped by the caller) left the database; `cx` is
/// `start-writers`' context.
pub async fn record(env: &UpgradeEnv, cx: &StepContext) -> Result<(), StepError> {
    // A repeated undo (after a crash) must keep the first fingerprint: later ones would
    // miss nothing, but the first is the one taken right at the stop.
    if cx.output::<WindowOutput>().is_some() {
        return Ok(());
    }
    let disaster = cx.disaster_rollback();
    if !disaster {
        let client = env.connect().await?;
        match postgres::wal_position(&client).await {
            Ok(wal) => {
                cx.log(format!("the writers left the WAL at {}", wal.lsn));
                cx.save_output(&WindowOutput {
                    fingerprint_at_rollback: None,
                    wal_at_rollback: Some(wal),
                    writes_at_rollback: None,
                })?;
                return Ok(());
            }
            // E.g. a role that may not read pg_control_system(): the tables instead, as
            // before this proof existed (slower, as exact).
            Err(e) => cx.log(format!(
                "cannot read the WAL position ({e}): fingerprinting the tables instead"
            )),
        }
    }
    let at_start = cx
        .output_of::<ReadyOutput>("postgres-ready")
        .and_then(|r| r.tables_at_start);
    if disaster && let Some(at_start) = at_start {
        match by_counters(env, &at_start).await {
            Ok(Some(writes)) => {
                cx.log(format!(
                    "the writers' rows, by the tables' counters: {} table(s) written",
                    writes.len()
                ));
                cx.save_output(&WindowOutput {
                    fingerprint_at_rollback: None,
                    wal_at_rollback: None,
                    writes_at_rollback: Some(writes),
                })?;
                return Ok(());
            }
            Ok(None) => cx.log("the tables' counters cannot tell the writers' rows: reading them"),
            Err(e) => cx.log(format!(
                "cannot read the tables' counters ({}): reading the rows",
                e.message
            )),
        }
    }
    // By the pre-upgrade fingerprint's method: the rollback check compares the two.
    let method_of = fingerprint_before_in(cx).unwrap_or_default();
    let fp = match env.connect().await {
        Ok(client) => fingerprint::fingerprint_like(&client, SCHEMA, &method_of).await,
        Err(e) => Err(e),
    };
    match fp {
        Ok(fp) => cx.save_output(&WindowOutput {
            fingerprint_at_rollback: Some(fp),
            wal_at_rollback: None,
            writes_at_rollback: None,
        })?,
        // Only a report needs it (the backup is the truth): go on without.
        Err(e) if disaster => cx.log(format!("cannot fingerprint the untrusted database: {e:#}")),
        Err(e) => {
            return Err(StepError::from_anyhow(
                &e.context("fingerprinting the tables the writers left"),
            ));
        }
    }
    Ok(())
}

/// What each table took since `at_start`, by the counters; None when they cannot tell.
async fn by_counters(
    env: &UpgradeEnv,
    at_start: &TableStates,
) -> Result<Option<Vec<TableWrites>>, StepError> {
    let client = env.connect().await?;
    let track: String = client
        .query_one("SELECT current_setting('track_counts')", &[])
        .await
        .map_err(|e| StepError::new(format!("reading track_counts: {e}")))?
        .get(0);
    // The writers were just stopped: their sessions hand in their counters as they exit.
    let left = postgres::sessions_gone(&client, &[], Duration::from_secs(5))
        .await
        .map_err(|e| StepError::new(e.to_string()))?;
    if track != "on" || left > 0 {
        return Ok(None);
    }
    let now = postgres::table_states(&client, SCHEMA)
        .await
        .map_err(|e| StepError::new(e.to_string()))?;
    Ok(postgres::writes_since(at_start, &now).map(|v| {
        v.into_iter()
            .map(|(table, [inserted, updated, deleted])| TableWrites {
                table,
                inserted,
                updated,
                deleted,
            })
            .collect()
    }))
}
