//! Action `start-writers`: start again the containers `stop-writers` stopped, and only those.
//! Undo stops them again (a later step failed and the rollback is heading back to the old
//! database: they must not write to the new one meanwhile), then records what they left:
//! - fast path: the new server's WAL position. Whatever the writers added while the upgrade
//!   stood lies before it, and the old server must resume at or after it
//!   (`recreate-postgres`' undo checks, `crate::adapters::postgres::resumed_from`): that keeps
//!   every row without reading a table, which on a large database is what makes the rollback
//!   fast;
//! - disaster path: a fingerprint of the tables, to report which of those rows the restored
//!   backup does not have (`crate::upgrade::rollback::check`).

use std::sync::Arc;

use async_trait::async_trait;

use super::{earlier, meta};
use crate::adapters::fingerprint::{self};
use crate::adapters::postgres::{self};
use crate::engine::{Finish, Step, StepContext, StepError};
use crate::upgrade::env::UpgradeEnv;
use crate::upgrade::outputs::{BackupOutput, SCHEMA, StopOutput, WindowOutput};

pub struct StartWriters {
    pub env: Arc<UpgradeEnv>,
}

#[async_trait]
impl Step for StartWriters {
    meta!("start-writers", "Start the writers again", Action);

    fn touches(&self) -> Vec<String> {
        self.env
            .facts
            .writers
            .iter()
            .map(|w| format!("container {} (start)", w.container))
            .collect()
    }

    async fn run(&self, cx: &StepContext) -> Result<Finish, StepError> {
        let s: StopOutput = earlier(cx, "stop-writers")?;
        let docker = self.env.docker().await?;
        docker
            .start_all(&s.stopped)
            .await
            .map_err(|(c, e)| anyhow::Error::new(e).context(format!("starting {c}")))?;
        for c in &s.stopped {
            cx.log(format!("started {c}"));
        }
        Ok(Finish::Ok)
    }

    async fn undo(&self, cx: &StepContext) -> Result<(), StepError> {
        let Some(s) = cx.output_of::<StopOutput>("stop-writers") else {
            return Ok(());
        };
        let docker = self.env.docker().await?;
        docker
            .stop_all(&s.stopped, self.env.stop_timeout)
            .await
            .map_err(|(c, e)| anyhow::Error::new(e).context(format!("stopping {c} again")))?;
        for c in &s.stopped {
            cx.log(format!("stopped {c} again"));
        }
        // A repeated undo (after a crash) must keep the first fingerprint: later ones would
        // miss nothing, but the first is the one taken right at the stop.
        if cx.output::<WindowOutput>().is_some() {
            return Ok(());
        }
        let disaster = cx.disaster_rollback();
        if !disaster {
            let client = self.env.connect().await?;
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
        let method_of = cx
            .output_of::<BackupOutput>("backup")
            .map(|b| b.fingerprint_before)
            .unwrap_or_default();
        let fp = match self.env.connect().await {
            Ok(client) => fingerprint::fingerprint_like(&client, SCHEMA, &method_of).await,
            Err(e) => Err(e),
        };
        match fp {
            Ok(fp) => cx.save_output(&WindowOutput {
                fingerprint_at_rollback: Some(fp),
                wal_at_rollback: None,
            })?,
            // Only a report needs it (the backup is the truth): go on without.
            Err(e) if disaster => {
                cx.log(format!("cannot fingerprint the untrusted database: {e:#}"))
            }
            Err(e) => {
                return Err(StepError::from_anyhow(
                    &e.context("fingerprinting the tables the writers left"),
                ));
            }
        }
        Ok(())
    }
}
