//! Action `base-backup`: the bulk of the backup, taken while the application still runs, so
//! the window pays only for the WAL written since (`backup`). `pg_basebackup` copies the live
//! cluster into a new volume and creates a replication slot that keeps every later WAL segment
//! until `backup` has received them up to the stop (`adapters::physical_backup`).
//!
//! A server that refuses (no replication connection allowed from 127.0.0.1, no REPLICATION
//! right, `max_wal_senders = 0`) is not a reason to stop: the step says why and the window falls
//! back to `pg_dump`, as with `backup_kind = logical`.
//!
//! Undo drops the slot (a forgotten slot keeps WAL on the live disk for ever). The volume:
//! - on the fast path it is removed: this undo runs last, after the rollback's check showed the
//!   old server holds every row on the very files the backup copied, so it is a redundant copy
//!   (the run's dump, if `portable-dump` made one, stays in the run directory);
//! - on the disaster path it is kept (it is what the restore came from), and the log names it.

use std::sync::Arc;

use async_trait::async_trait;

use super::meta;
use crate::adapters::physical_backup;
use crate::engine::{Finish, Step, StepContext, StepError};
use crate::upgrade::env::UpgradeEnv;
use crate::upgrade::outputs::BaseBackupOutput;

pub struct BaseBackup {
    pub env: Arc<UpgradeEnv>,
}

#[async_trait]
impl Step for BaseBackup {
    meta!(
        "base-backup",
        "Physical base backup, online (writers still running)",
        Action
    );

    fn touches(&self) -> Vec<String> {
        vec![
            format!(
                "volume {}_cutover-backup-<run>: pg_basebackup of {}",
                self.env.project, self.env.facts.postgres.container
            ),
            "replication slot cutover_<run> until the WAL up to the stop is received".into(),
        ]
    }

    fn timeout(&self) -> std::time::Duration {
        std::time::Duration::from_secs(6 * 3600)
    }

    async fn run(&self, cx: &StepContext) -> Result<Finish, StepError> {
        if !self.env.physical_backup {
            return Ok(Finish::Skipped(
                "backup_kind = logical: the backup is a pg_dump inside the window".into(),
            ));
        }
        let docker = self.env.docker().await?;
        let target = self.env.physical_target(cx.run_dir()).await?;
        // Names first: an undo after a crash finds the slot by them.
        let mut out = BaseBackupOutput {
            volume: target.volume(),
            slot: target.slot.clone(),
            image: target.image.clone(),
            record: None,
            refused: None,
        };
        cx.save_output(&out)?;
        let client = self.env.connect().await?;
        // A repeated run starts over: the slot of an earlier attempt would refuse `-C`.
        physical_backup::drop_slot(&client, &target.slot).await?;
        cx.log(format!(
            "pg_basebackup into volume {} (slot {})",
            out.volume, out.slot
        ));
        match physical_backup::take_base(docker, &target).await {
            Ok(record) => {
                cx.log(format!(
                    "base backup: {} bytes in {:.1} s, from WAL {}",
                    record.bytes,
                    record.ms as f64 / 1000.0,
                    record.start_lsn
                ));
                out.record = Some(record);
                cx.save_output(&out)?;
                Ok(Finish::Ok)
            }
            Err(e) => {
                physical_backup::drop_slot(&client, &target.slot).await?;
                // Nothing of use is in it; the window's dump goes to the run directory.
                docker
                    .remove_volume_named(&out.volume)
                    .await
                    .map_err(|e| StepError::new("removing the unused volume").with_cause(e))?;
                let why = crate::secrets::hide(&format!("{e:#}"));
                out.refused = Some(why.clone());
                cx.save_output(&out)?;
                Ok(Finish::Warning(format!(
                    "no physical backup ({why}); the backup inside the window will be a pg_dump, \
                     slower. To allow it: a `host replication` line for 127.0.0.1 in pg_hba.conf \
                     and max_wal_senders > 0; or set backup_kind = \"logical\""
                )))
            }
        }
    }

    async fn undo(&self, cx: &StepContext) -> Result<(), StepError> {
        let Some(out) = cx.output::<BaseBackupOutput>() else {
            return Ok(());
        };
        let client = self.env.connect().await?;
        if physical_backup::drop_slot(&client, &out.slot).await? {
            cx.log(format!("replication slot {} dropped", out.slot));
        }
        if cx.disaster_rollback() {
            cx.log(format!(
                "physical backup kept in volume {} (remove it with `docker volume rm {}`)",
                out.volume, out.volume
            ));
            return Ok(());
        }
        let docker = self.env.docker().await?;
        docker
            .remove_volume_named(&out.volume)
            .await
            .map_err(|e| StepError::new("removing the physical backup's volume").with_cause(e))?;
        cx.log(format!(
            "volume {} removed: the old server runs on the files it copied, as the rollback's \
             check showed",
            out.volume
        ));
        Ok(())
    }
}
