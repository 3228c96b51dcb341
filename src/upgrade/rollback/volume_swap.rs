//! The disaster rollback from the physical backup's files (`disaster_restore = "volume"`):
//! the whole cluster is put back as it was at the stop, at disk speed, instead of the dump being
//! restored into a new database (`super::disaster`). Called from `recreate-postgres`' undo on
//! the disaster path.
//!
//! Order, and why:
//! 1. postgres is put back on the OLD image (`disaster::old_image_back`), not started (and
//!    stopped, should it run): the files are only ever touched with no server on them;
//! 2. in a throwaway container of the old image (no network) mounting the data directory's
//!    mount and the backup volume: the room is checked first (the backup's size must be free
//!    beside the data, since nothing is deleted), then every file of the data directory is
//!    moved into `cutover-aside-<run>` inside it (a rename on the same mount: instant; a
//!    rename into another volume is a copy, EXDEV), then the backup's `data/` is copied in,
//!    ownership kept (the old image's postgres), the directory itself 0700. The aside
//!    directory is never removed by cutover: it holds what the window and the writers left;
//!    the log and the report say how to remove it. PostgreSQL ignores a directory it does not
//!    know in its data directory;
//! 3. postgres starts (recovering the backup's WAL up to the stop) and is checked: the same
//!    cluster (system identifier of the stop), a checkpoint at or after the backup's stop LSN
//!    (the WAL was replayed to the end), and exactly the stop's row counts.
//!
//! The plan is journaled (in `recreate-postgres`' output) before anything moves, and the copy
//! script finds where it stopped (a half move goes on; a half copy is removed and made again),
//! so a repeated `rollback --disaster` after a crash finishes. Without a physical backup, with
//! its volume gone, or without the room, the dump path runs instead (said in the log); once the
//! swap has begun it is always finished.
//!
//! Unlike the dump path, every database of the cluster goes back to the stop, not only the
//! application's; and no index needs rebuilding (the files are the old server's, in its order).

use std::time::Duration;

use anyhow::Context;
use serde::{Deserialize, Serialize};

use crate::adapters::docker::ExecSpec;
use crate::adapters::docker::probe::ProbeOptions;
use crate::adapters::postgres;
use crate::engine::{StepContext, StepError};
use crate::upgrade::env::UpgradeEnv;
use crate::upgrade::outputs::{
    BackupOutput, ClusterFacts, RecreateOutput, fingerprint_before_in, run_key,
};

/// Where the backup volume is mounted in the throwaway container (it holds `data/`).
const BACKUP_AT: &str = "/cutover-backup";
/// Where the data directory's mount is.
const DATA_AT: &str = "/cutover-data";
/// The label of the copy's throwaway container, valued with the backup volume's name (one per
/// project and run; the aside directory's name alone is per run and two projects' runs can
/// share it): a repeated rollback finds the copy a killed one left running, and only that.
pub const COPY_LABEL: &str = "io.cutover.volume-swap";

/// The swap, journaled before anything moves.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VolumeSwap {
    pub backup_volume: String,
    /// The data directory's mount: a volume name or a host path.
    pub data_source: String,
    /// The data directory inside that mount (empty when it is the mount itself).
    pub data_dir_in_mount: String,
    /// The directory, inside the data directory, holding the files the copy replaced.
    pub aside: String,
    /// The old image, which the copy and the removal command run in.
    pub image: String,
    #[serde(default)]
    pub copied: bool,
    #[serde(default)]
    pub verified: bool,
    /// The check read every row's hash too (`disaster::matches_stop`).
    #[serde(default)]
    pub contents_verified: bool,
}

impl VolumeSwap {
    /// How to remove the aside directory, for the log and the report.
    pub fn how_to_remove(&self) -> String {
        let dir = self.aside_path();
        format!(
            "the files the upgrade left are kept in {dir} inside the data directory (nothing \
             cutover does removes them); once you no longer need them: `docker run --rm -v \
             {}:{DATA_AT} --entrypoint rm {} -rf {DATA_AT}/{dir}`",
            self.data_source, self.image
        )
    }

    fn aside_path(&self) -> String {
        if self.data_dir_in_mount.is_empty() {
            self.aside.clone()
        } else {
            format!("{}/{}", self.data_dir_in_mount, self.aside)
        }
    }
}

/// The swap to run, or None for the dump path (with the reason logged).
pub async fn plan(
    env: &UpgradeEnv,
    cx: &StepContext,
    out: &RecreateOutput,
) -> Result<Option<VolumeSwap>, StepError> {
    if let Some(s) = &out.volume_swap {
        return Ok(Some(s.clone()));
    }
    if !env.disaster_from_volume {
        return Ok(None);
    }
    let dump_instead = |why: String| {
        cx.log(format!(
            "disaster_restore = volume, but {why}: restoring the dump instead"
        ));
        Ok(None)
    };
    let Some(p) = cx
        .output_of::<BackupOutput>("backup")
        .and_then(|b| b.physical)
    else {
        return dump_instead("the run has no physical backup".into());
    };
    let docker = env.docker().await?;
    if !docker.volume_named(&p.volume).await.unwrap_or(false) {
        return dump_instead(format!("the backup volume {} is gone", p.volume));
    }
    let facts = cx.output_of::<ClusterFacts>("cluster-facts");
    let Some((mount, data_dir)) = facts.and_then(|f| f.mount.map(|m| (m, f.data_dir))) else {
        return dump_instead("the data directory's mount is not journaled".into());
    };
    let Some(rel) = data_dir
        .trim_end_matches('/')
        .strip_prefix(mount.destination.trim_end_matches('/'))
    else {
        return dump_instead(format!(
            "the data directory {data_dir} is not under its mount {}",
            mount.destination
        ));
    };
    Ok(Some(VolumeSwap {
        backup_volume: p.volume.clone(),
        data_source: mount.source.clone(),
        data_dir_in_mount: rel.trim_start_matches('/').to_string(),
        aside: format!("cutover-aside-{}", run_key(cx.run_dir())),
        image: out.plan.old_image.clone(),
        copied: false,
        verified: false,
        contents_verified: false,
    }))
}

/// The copy, idempotent (see the module comment). `$1`: the data directory inside its mount,
/// `$2`: the aside directory's name. Exit 3: not enough room, nothing moved.
const COPY: &str = r#"set -eu
D="/cutover-data/$1"; A="$2"
if [ ! -d "$D/$A" ]; then
  want=$(du -sk /cutover-backup/data | cut -f1)
  free=$(df -Pk "$D" | awk 'NR==2 {print $4}')
  if [ "$free" -lt "$want" ]; then
    echo "the copy needs ${want} KiB free beside the data directory, and ${free} KiB are" >&2
    exit 3
  fi
  mkdir -p "$D/$A.partial"
  find "$D" -mindepth 1 -maxdepth 1 ! -name "$A" ! -name "$A.partial" -exec mv {} "$D/$A.partial/" \;
  mv "$D/$A.partial" "$D/$A"
fi
find "$D" -mindepth 1 -maxdepth 1 ! -name "$A" -exec rm -rf {} +
cp -a /cutover-backup/data/. "$D/"
chown "$(stat -c %u:%g /cutover-backup/data)" "$D"
chmod 700 "$D"
"#;

pub async fn run(
    env: &UpgradeEnv,
    cx: &StepContext,
    out: &RecreateOutput,
    mut swap: VolumeSwap,
) -> Result<(), StepError> {
    let mut out = out.clone();
    out.volume_swap = Some(swap.clone());
    cx.save_output(&out)?;
    let docker = env.docker().await?;
    let name = out.plan.name.clone();
    if !swap.copied {
        super::disaster::old_image_back(env, cx, &out.plan, false).await?;
        docker
            .stop(&name, env.stop_timeout)
            .await
            .context("stopping postgres before its files are replaced")?;
        // A copy an earlier, killed `rollback --disaster` started is still running in its
        // throwaway container (the exec outlives the command): two copies into one data
        // directory would interleave, and the `rm` below would race the old `cp`. It is
        // removed (forced: its `cp` stops) before this copy starts.
        let gone = docker
            .remove_labelled(COPY_LABEL, &swap.backup_volume)
            .await
            .context("removing the copy an interrupted rollback left running")?;
        if !gone.is_empty() {
            cx.log(format!(
                "removed the copy an interrupted rollback left running: {}",
                gone.join(", ")
            ));
        }
        let opts = ProbeOptions {
            volume: Some((swap.backup_volume.clone(), BACKUP_AT.into())),
            more_volumes: vec![(swap.data_source.clone(), DATA_AT.into())],
            labels: [(COPY_LABEL.to_string(), swap.backup_volume.clone())].into(),
            long_running: true,
            ..Default::default()
        };
        let t = std::time::Instant::now();
        let copied = docker
            .with_probe_opts(&swap.image, &opts, async |p| {
                p.exec(&ExecSpec::new([
                    "sh",
                    "-c",
                    COPY,
                    "sh",
                    &swap.data_dir_in_mount,
                    &swap.aside,
                ]))
                .await
            })
            .await
            .context("copying the physical backup into the data directory")?;
        if copied.exit_code == 3 {
            // Nothing moved: the server goes back as it was, and the operator decides.
            let _ = docker.start(&name).await;
            return Err(StepError::new(format!(
                "{}; nothing was changed. Free the room, or set disaster_restore = \"dump\" \
                 to restore the dump into a new database instead, and run `cutover rollback \
                 --disaster --yes` again",
                copied.stderr_str().trim()
            )));
        }
        if copied.exit_code != 0 {
            return Err(StepError::new(format!(
                "copying the physical backup into the data directory failed ({}): {}. The \
                 files it replaces are in {}; `cutover rollback --disaster --yes` again \
                 finishes the copy",
                copied.exit_code,
                copied.stderr_str().trim(),
                swap.aside_path()
            )));
        }
        swap.copied = true;
        out.volume_swap = Some(swap.clone());
        cx.save_output(&out)?;
        cx.log(format!(
            "the physical backup in {} copied into the data directory in {:.1} s; {}",
            swap.backup_volume,
            t.elapsed().as_secs_f64(),
            swap.how_to_remove()
        ));
    }
    docker
        .start(&name)
        .await
        .context("starting postgres on the restored files")?;
    let target = env.pg_target().await?;
    let client = postgres::connect_until(&target, env.ready_timeout, Duration::from_millis(250))
        .await
        .context("waiting for postgres on the restored files")?;
    swap.contents_verified = check(cx, &client).await?;
    swap.verified = true;
    out.volume_swap = Some(swap);
    cx.save_output(&out)?;
    Ok(())
}

/// The restored server runs the stop's cluster with exactly the stop's row counts and, when the
/// stop's fingerprint has them, contents (true when it did).
async fn check(cx: &StepContext, client: &tokio_postgres::Client) -> Result<bool, StepError> {
    let stop = cx
        .output_of::<BackupOutput>("backup")
        .and_then(|b| b.stop_wal);
    if let Some(mut stop) = stop {
        // The backup's own stop position (the WAL it received up to) when there is one: the
        // restored server must have replayed at least that far, else the copy is not the
        // backup's whole (a cut WAL directory would start, holding an older state).
        if let Some(p) = cx
            .output_of::<BackupOutput>("backup")
            .and_then(|b| b.physical)
        {
            stop.lsn = p.catch_up.stop_lsn;
        }
        let resumed = postgres::resumed_from(client, &stop)
            .await
            .context("reading the restored cluster's identifier and checkpoint")?;
        if let Some(gap) = resumed.gap(&stop) {
            return Err(StepError::new(format!(
                "the restored files are not the backup's cluster at the stop: {gap}. The files \
                 the upgrade left are in the aside directory; see the log for how to put them \
                 back or remove them"
            )));
        }
        cx.log(format!(
            "the restored cluster is {} from checkpoint {} (the stop: {})",
            resumed.system_identifier, resumed.checkpoint_lsn, stop.lsn
        ));
    }
    let Some(before) = fingerprint_before_in(cx) else {
        cx.log("no fingerprint of the stop to count against (the run stopped before it)");
        return Ok(false);
    };
    let m = super::disaster::matches_stop(client, &before)
        .await
        .context("reading the restored rows")?;
    if !m.problems.is_empty() {
        return Err(StepError::new(format!(
            "the restored files do not hold the stop's rows: {}",
            m.problems.join("; ")
        )));
    }
    cx.log(format!(
        "the restored cluster is the stop's: {} tables, the {} at the stop",
        m.tables,
        if m.contents {
            "row counts and contents"
        } else {
            "row counts"
        }
    ));
    Ok(m.contents)
}
