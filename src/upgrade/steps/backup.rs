//! Action `backup`: with every writer stopped, take the "before" fingerprint of every table and
//! the backup of the state at the stop:
//! - physical (`base-backup` took the base while the application ran): receive the WAL from
//!   the base's slot up to the server's current position into the base, then drop the slot.
//!   Seconds, whatever the database's size; `portable-dump` makes the dump from it after the
//!   window;
//! - logical (`backup_kind = logical`, or no base): the final dump (custom format, exec'd with
//!   no TTY, streamed to a 0600 file in the run directory), verified by size, sha256 and
//!   `pg_restore --list`.
//!
//! The fingerprint is taken here, with the backup, because this is the last moment the data is
//! known to be still and pre-upgrade: `verify-data` compares against it before the writers
//! start again. Undo keeps the file: a backup is never deleted.

use std::sync::Arc;

use anyhow::Context;
use async_trait::async_trait;

use super::meta;
use crate::adapters::backup;
use crate::adapters::fingerprint::{self, Fingerprint};
use crate::adapters::physical_backup;
use crate::engine::{Finish, Step, StepContext, StepError};
use crate::upgrade::env::UpgradeEnv;
use crate::upgrade::outputs::{BackupOutput, BaseBackupOutput, PhysicalBackup, SCHEMA};

pub struct Backup {
    pub env: Arc<UpgradeEnv>,
}

#[async_trait]
impl Step for Backup {
    meta!(
        "backup",
        "Final backup of the state at the stop (writers stopped), verified",
        Action
    );

    fn touches(&self) -> Vec<String> {
        vec![
            if self.env.physical_backup {
                format!(
                    "{}: the WAL since the base backup, into its volume; the slot dropped \
                     (pg_dump -Fc instead when there is no base)",
                    self.env.facts.postgres.container
                )
            } else {
                format!(
                    "{}: pg_dump -Fc into <run dir>/{}-<time>.dump",
                    self.env.facts.postgres.container, self.env.project
                )
            },
            if self.env.physical_backup {
                "the WAL position at the stop (the tables are fingerprinted after the window)"
                    .to_string()
            } else {
                format!("every table of schema {SCHEMA}: row count and checksum")
            },
        ]
    }

    fn timeout(&self) -> std::time::Duration {
        std::time::Duration::from_secs(3600)
    }

    async fn run(&self, cx: &StepContext) -> Result<Finish, StepError> {
        let docker = self.env.docker().await?;
        let target = self.env.backup_target().await?;
        let base = cx
            .output_of::<BaseBackupOutput>("base-backup")
            .filter(|b| b.record.is_some());
        if let Some(BackupOutput {
            physical: Some(p), ..
        }) = cx.output::<BackupOutput>()
        {
            // A resumed run: the WAL was received and the slot dropped; nothing has written
            // since (the writers are still stopped, checked below).
            cx.log(format!(
                "physical backup already caught up to {} in volume {}",
                p.catch_up.stop_lsn, p.volume
            ));
            let client = self.env.connect().await?;
            if let Some(b) = &base {
                physical_backup::drop_slot(&client, &b.slot).await?;
            }
            super::sessions::refuse_late_clients(&self.env, &client, "during the backup").await?;
            return Ok(Finish::Ok);
        }
        if let Some(BackupOutput {
            record: Some(r),
            fingerprint_before,
            ..
        }) = cx.output::<BackupOutput>()
            && r.path.is_file()
        {
            // A resumed run: the journaled dump must still be the same complete file.
            let sha = backup::sha256_file(&r.path).context("re-reading the backup")?;
            if sha == r.sha256 {
                let tables = table_names(&fingerprint_before);
                backup::verify(docker, &target, &r.path, &refs(&tables))
                    .await
                    .context("verifying the existing backup")?;
                cx.log(format!(
                    "backup {} already taken and verified",
                    r.path.display()
                ));
                return Ok(Finish::Ok);
            }
        }
        let client = self.env.connect().await?;
        // With a physical backup the window reads no table: the state at the stop is proven
        // by the WAL position (the new server must resume exactly there) and fingerprinted
        // from a snapshot after the window (`crate::upgrade::held`). That needs the position,
        // which a role without pg_control_system() cannot read: then the tables, as before.
        let stop_wal = match &base {
            Some(_) => match crate::adapters::postgres::wal_position(&client).await {
                Ok(w) => Some(w),
                Err(e) => {
                    cx.log(format!(
                        "cannot read the WAL position ({e}): fingerprinting the tables now"
                    ));
                    None
                }
            },
            None => None,
        };
        let deferred = stop_wal.is_some();
        let fp = if deferred {
            Fingerprint::default()
        } else {
            let fp = fingerprint::fingerprint(&client, SCHEMA)
                .await
                .context("fingerprinting the tables before the upgrade")?;
            cx.log(format!("fingerprint of {} tables taken", fp.tables.len()));
            fp
        };
        drop(client);
        let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%SZ");
        let mut file_name = format!("{}-{stamp}.dump", self.env.project);
        let mut n = 1;
        while cx.run_dir().join(&file_name).exists() {
            n += 1;
            file_name = format!("{}-{stamp}-{n}.dump", self.env.project);
        }
        let mut out = BackupOutput {
            fingerprint_before: fp,
            file_name: file_name.clone(),
            record: None,
            physical: None,
            deferred,
            stop_wal,
            from_backup: None,
        };
        cx.save_output(&out)?;
        if let Some(base) = base {
            let target = self.env.physical_target(cx.run_dir()).await?;
            let client = self.env.connect().await?;
            // The checkpoint flushes every WAL record (an idle server may hold some unflushed
            // for seconds, and the receiver gets only flushed WAL); `checkpoint` would do it
            // just after anyway, so it costs the window nothing.
            crate::adapters::postgres::checkpoint(&client)
                .await
                .context("CHECKPOINT before the WAL is received")?;
            let stop_lsn: String = client
                .query_one("SELECT pg_current_wal_flush_lsn()::text", &[])
                .await
                .map_err(|e| StepError::new("reading the WAL position").with_cause(e))?
                .get(0);
            // The receiver stops only once it has WAL beyond the stop; a segment switch gives
            // it that at once (an idle server may write nothing more for a long while).
            client
                .batch_execute("SELECT pg_switch_wal()")
                .await
                .map_err(|e| StepError::new("pg_switch_wal()").with_cause(e))?;
            let caught = physical_backup::catch_up(docker, &target, &stop_lsn)
                .await
                .context("catching the physical backup up to the stop")?;
            let (segments, bytes, ms) = (caught.segments, caught.wal_bytes, caught.ms);
            if out.deferred {
                // The position after the segment switch: the latest the writers-stopped
                // server reached; its shutdown checkpoint will lie beyond it.
                out.stop_wal = Some(
                    crate::adapters::postgres::wal_position(&client)
                        .await
                        .map_err(|e| StepError::new("reading the WAL position").with_cause(e))?,
                );
            }
            out.physical = Some(PhysicalBackup {
                volume: base.volume.clone(),
                image: base.image.clone(),
                base: base.record.clone().expect("filtered on record"),
                catch_up: caught,
            });
            // Journaled before the slot goes: a crash in between finds the backup whole and
            // drops the slot on the resumed path above (a slot dropped first would leave a
            // resumed run with a base and no way to receive its WAL).
            cx.save_output(&out)?;
            physical_backup::drop_slot(&client, &base.slot).await?;
            cx.log(format!(
                "physical backup: WAL up to {stop_lsn} received ({} segments, {} bytes) in {:.2} s into volume {}; slot {} dropped",
                segments,
                bytes,
                ms as f64 / 1000.0,
                base.volume,
                base.slot
            ));
            super::sessions::refuse_late_clients(&self.env, &client, "during the backup").await?;
            return Ok(Finish::Ok);
        }
        let tables = table_names(&out.fingerprint_before);
        let record = backup::dump(
            docker,
            &target,
            cx.run_dir(),
            &file_name,
            &refs(&tables),
            |bytes| cx.progress(bytes, None, "bytes"),
        )
        .await
        .context("taking the backup")?;
        cx.log(format!(
            "{}: {} bytes, compression {}, sha256 {}, {} TOC entries",
            record.path.display(),
            record.bytes,
            record.compression,
            record.sha256,
            record.toc_entries
        ));
        out.record = Some(record);
        cx.save_output(&out)?;
        // The dump is only the "before" state if nobody wrote while it was taken.
        let client = self.env.connect().await?;
        super::sessions::refuse_late_clients(&self.env, &client, "during the backup").await?;
        Ok(Finish::Ok)
    }

    async fn undo(&self, cx: &StepContext) -> Result<(), StepError> {
        if let Some(mut out) = cx.output::<BackupOutput>() {
            crate::upgrade::rollback::stop_state::otherwise(&self.env, cx, &mut out).await?;
        }
        if let Some(BackupOutput {
            record: Some(r), ..
        }) = cx.output::<BackupOutput>()
        {
            cx.log(format!(
                "backup kept: {} (sha256 {})",
                r.path.display(),
                r.sha256
            ));
        }
        Ok(())
    }
}

fn table_names(fp: &Fingerprint) -> Vec<String> {
    fp.tables.keys().map(|t| format!("{SCHEMA}.{t}")).collect()
}

fn refs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}
