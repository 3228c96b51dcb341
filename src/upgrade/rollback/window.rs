//! Where the writers left the new server when the rollback stopped them again
//! (`start-writers`' undo), journaled as `start-writers`' output:
//! - fast path: the new server's WAL position. Whatever the writers added while the upgrade
//!   stood lies before it, and the old server must resume at or after it
//!   (`super::resume_proof`): that keeps every row without reading a table, which on a large
//!   database is what makes the rollback fast;
//! - disaster path (or a WAL position that cannot be read): a fingerprint of the tables, to
//!   report which of those rows the restored backup does not have (`super::check`).

use crate::adapters::fingerprint;
use crate::adapters::postgres;
use crate::engine::{StepContext, StepError};
use crate::upgrade::env::UpgradeEnv;
use crate::upgrade::outputs::{SCHEMA, WindowOutput, fingerprint_before_in};

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
