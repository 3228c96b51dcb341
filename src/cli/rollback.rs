//! `cutover rollback`: which rollback a run can have, decided before anything is touched.
//!
//! - A stopped, crashed or failed run, or a completed one that was not finalized: the fast
//!   rollback (every completed step undone, newest first; postgres is the kept old container).
//! - A finalized run: the old container is gone, so the fast path is refused with the way out
//!   (`--disaster`).
//! - `--disaster`: the same undo sequence, except that the database is not trusted: postgres is
//!   put back on the old image, then either the physical backup's files are copied into its
//!   data directory (the whole cluster; `disaster_restore = volume`, the default, when the
//!   backup volume exists: `crate::upgrade::rollback::volume_swap`) or the journaled dump is
//!   restored into a new database, checked, and swapped in, the original renamed aside (see
//!   `crate::upgrade::rollback::disaster`).
//!
//! - The fast path drops the tables the upgrade created (down migrations): rows the new
//!   version wrote there are counted first, and refused (dumped, exit 2, nothing changed)
//!   unless `--discard-new-data`.
//!
//! Either way the summary names the path that ran and its wall time.

use std::time::Instant;

use super::RollbackArgs;
use super::commands::{Mode, Usage, drive, finish, open_journal};
use super::{Cli, runs};
use crate::config::Config;
use crate::engine::lock::StackLock;
use crate::engine::recovery::Phase;
use crate::engine::{Journal, RunOutcome};
use crate::exit::Exit;
use crate::upgrade::finalize::MARKER as FINALIZED;
use crate::upgrade::outputs::BackupOutput;
use crate::upgrade::rollback::{disaster, new_data};

pub(super) fn rollback(cli: &Cli, config: &Config, args: &RollbackArgs) -> Result<Exit, Usage> {
    if !args.yes {
        return Err(Usage(
            "`cutover rollback` undoes the run's changes: pass --yes to confirm".into(),
        ));
    }
    let plan = crate::plans::build(config)?;
    let dir = runs::select(&config.run_dir, args.select.run.as_deref())?;
    let (state, _) = Journal::read(&dir)?;
    match &state.phase {
        Phase::Finished {
            outcome: RunOutcome::RolledBack { .. },
        } => {
            return Err(Usage(format!(
                "run {} was already rolled back; nothing to undo",
                dir.display()
            )));
        }
        Phase::Finished {
            outcome: RunOutcome::PreflightFailed { step },
        } => {
            return Err(Usage(format!(
                "run {} stopped at the pre-flight check {step} before changing anything; nothing to undo",
                dir.display()
            )));
        }
        _ => {}
    }
    if dir.join(FINALIZED).exists() && !args.disaster {
        return Err(Usage(format!(
            "run {} was finalized: the old postgres container was removed, so the fast rollback \
             is impossible. Restore the run's verified backup into a fresh database instead: \
             `cutover rollback --disaster --yes --run {}` (rows written since the backup are lost)",
            dir.display(),
            dir.display()
        )));
    }
    let journaled = |step: &str| state.steps.get(step).and_then(|r| r.output.as_ref());
    if args.disaster && journaled("recreate-postgres").is_none() {
        return Err(Usage(format!(
            "run {} never recreated postgres, so cutover did not touch its database: there is \
             nothing to restore. Use `cutover rollback --yes`",
            dir.display()
        )));
    }
    if args.disaster {
        // Before anything is undone: a bad backup found in recreate-postgres' undo would leave
        // the writers stopped, qdrant gone and the compose file restored around the new postgres.
        let output: Option<BackupOutput> =
            journaled("backup").and_then(|v| serde_json::from_value(v.clone()).ok());
        let portable =
            journaled("portable-dump").and_then(|v| serde_json::from_value(v.clone()).ok());
        let unchanged =
            |e: String| Usage(format!("{e}. Nothing was changed (run {})", dir.display()));
        // The volume path reads only the volume: a damaged dump must not block the restore
        // that does not use it. Without the volume, the dump is checked as before.
        let from_volume = config.disaster_restore == "volume"
            && output
                .as_ref()
                .and_then(|b| b.physical.as_ref())
                .is_some_and(|p| disaster::physical_present(p).is_ok());
        if !from_volume {
            match disaster::journaled_source(output, portable).map_err(Usage)? {
                disaster::Source::Dump(record) => {
                    disaster::verify_backup(&record).map_err(unchanged)?
                }
                disaster::Source::Physical(p) => {
                    disaster::physical_present(&p).map_err(unchanged)?
                }
            }
        }
    }
    let lock = StackLock::acquire(&config.lock_path(), &dir, args.break_stale_lock)?;
    if !args.disaster {
        refuse_new_data(config, &state, &dir, args.discard_new_data)?;
    }
    let journal = open_journal(&dir)?;
    let t0 = Instant::now();
    let mode = Mode::Rollback {
        disaster: args.disaster,
    };
    let outcome = drive(cli, config, plan, journal, Vec::new(), mode)?;
    let secs = t0.elapsed().as_secs_f64();
    drop(lock);
    // The operator asked for this rollback: when it completed, that is success (exit 0); exit 1
    // stays the code of a `run` that failed and was rolled back.
    let code = match finish(&dir, &outcome) {
        Exit::RolledBack => Exit::Done,
        other => other,
    };
    let path = if args.disaster && config.disaster_restore == "volume" {
        "disaster (the physical backup's files copied in where the run has one, else the dump \
         restored; what they replaced kept aside)"
    } else if args.disaster {
        "disaster (backup restored into a new database and swapped in, the old one kept aside)"
    } else {
        "fast (kept old container, down migrations)"
    };
    println!("rollback path: {path}; wall time {secs:.1}s");
    Ok(code)
}

/// The fast rollback's count of the rows it would drop, before anything is undone. Refuses
/// (exit 2) when there are some and the operator did not pass `--discard-new-data`; records
/// the consent when they did. A count that cannot be taken here is taken again by the undo.
fn refuse_new_data(
    config: &Config,
    state: &crate::engine::recovery::RunState,
    dir: &std::path::Path,
    discard: bool,
) -> Result<(), Usage> {
    if discard {
        new_data::allow_discard(dir).map_err(|e| {
            Usage(format!(
                "recording --discard-new-data in {}: {e}",
                dir.display()
            ))
        })?;
    }
    match new_data::before_rollback(config, state, dir) {
        Ok(Some(found)) if found.rows() > 0 && !found.discarded => Err(Usage(format!(
            "{}. Nothing was changed",
            found.refusal(dir)
        ))),
        Ok(Some(found)) if found.rows() > 0 => {
            println!(
                "{} rows the new version received ({}) are dumped into {}, then dropped \
                 (--discard-new-data)",
                found.rows(),
                found.listing(),
                dir.display()
            );
            Ok(())
        }
        Ok(_) => Ok(()),
        Err(e) => {
            eprintln!(
                "cutover: cannot count the rows in the tables the rollback drops ({e:#}); it \
                 counts them again just before the down migrations"
            );
            Ok(())
        }
    }
}

/// The wizard's guard over the same rows: it counts them before asking (no dump: the undo of
/// `migrations` dumps before it drops), and records the operator's "yes" as the same marker
/// `--discard-new-data` writes.
pub(super) struct NewDataGuard(pub Config);

impl crate::tui::new_data::RollbackGuard for NewDataGuard {
    fn count(&self, run_dir: &std::path::Path) -> Result<Option<new_data::NewData>, String> {
        let (state, _) = Journal::read(run_dir).map_err(|e| format!("{e:#}"))?;
        new_data::count_before_rollback(&self.0, &state, run_dir).map_err(|e| format!("{e:#}"))
    }

    fn consent(&self, run_dir: &std::path::Path) -> Result<(), String> {
        new_data::allow_discard(run_dir).map_err(|e| format!("{}: {e}", run_dir.display()))
    }
}
