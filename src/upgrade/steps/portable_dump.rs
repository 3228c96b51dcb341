//! Action `portable-dump`, after the window: the physical backup `backup` finished at the stop
//! is started on its own and dumped into the run directory (`upgrade::portable_dump`), so the
//! run ends with the same verified `.dump` a logical backup gives, for `rollback --disaster`
//! and for any other machine. Its time is not downtime: the writers are already back.
//!
//! A failure here is a warning, not a failed run: the upgrade was verified before the writers
//! came back, and rolling it back for a copy would cost a second window. The warning names
//! the volume and what makes the dump later (the disaster path makes it when it needs it).
//! Undo keeps the file: a backup is never deleted.

use std::sync::Arc;

use async_trait::async_trait;

use super::{earlier, meta};
use crate::engine::{Finish, Step, StepContext, StepError};
use crate::upgrade::env::UpgradeEnv;
use crate::upgrade::outputs::{BackupOutput, PortableDumpOutput, fingerprint_before_in};

pub struct PortableDump {
    pub env: Arc<UpgradeEnv>,
}

#[async_trait]
impl Step for PortableDump {
    meta!(
        "portable-dump",
        "Portable dump of the physical backup (after the window), verified",
        Action
    );

    fn touches(&self) -> Vec<String> {
        vec![format!(
            "a throwaway old-image server on the backup volume: row counts, then pg_dump -Fc \
             into <run dir>/{}-<time>.dump",
            self.env.project
        )]
    }

    fn timeout(&self) -> std::time::Duration {
        std::time::Duration::from_secs(6 * 3600)
    }

    async fn run(&self, cx: &StepContext) -> Result<Finish, StepError> {
        let before: BackupOutput = earlier(cx, "backup")?;
        let Some(physical) = before.physical.clone() else {
            return Ok(Finish::Skipped(
                "the backup taken in the window is already a dump".into(),
            ));
        };
        if let Some(PortableDumpOutput {
            record: Some(r), ..
        }) = cx.output::<PortableDumpOutput>()
            && r.path.is_file()
        {
            cx.log(format!("dump {} already made", r.path.display()));
            return Ok(Finish::Ok);
        }
        let mut out = PortableDumpOutput {
            file_name: before.file_name.clone(),
            record: None,
        };
        cx.save_output(&out)?;
        // The state at the stop: `verify-fingerprints` read it just before (or `backup` did).
        let at_stop = fingerprint_before_in(cx).unwrap_or_default();
        let made = crate::upgrade::portable_dump::from_physical(
            &self.env,
            &at_stop,
            &physical,
            cx.run_dir(),
            &out.file_name,
            |bytes| cx.progress(bytes, None, "bytes"),
        )
        .await;
        let record = match made {
            Ok(r) => r,
            // The upgrade itself was verified before the writers came back; rolling it back
            // for a copy would cost a second window. Said loudly instead, with the way on.
            Err(e) => {
                return Ok(Finish::Warning(crate::secrets::hide(&format!(
                    "no portable dump: {e:#}. The upgrade stands; the backup of the state at \
                     the stop is volume {} (the old image's files), and `cutover rollback \
                     --disaster` makes the dump from it when it needs one",
                    physical.volume
                ))));
            }
        };
        cx.log(format!(
            "the physical backup in {} recovered to the stop ({} tables counted) and was dumped: \
             {} ({} bytes, sha256 {})",
            physical.volume,
            at_stop.tables.len(),
            record.path.display(),
            record.bytes,
            record.sha256
        ));
        out.record = Some(record);
        cx.save_output(&out)?;
        Ok(Finish::Ok)
    }

    async fn undo(&self, cx: &StepContext) -> Result<(), StepError> {
        if let Some(PortableDumpOutput {
            record: Some(r), ..
        }) = cx.output::<PortableDumpOutput>()
        {
            cx.log(format!("dump kept: {}", r.path.display()));
        }
        Ok(())
    }
}
