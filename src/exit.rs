//! Exit codes: the contract with scripts and with the operator's runbook.
//!
//! 0 done; 1 failed and rolled back (the stack is as it was); 2 usage or config error, or a
//! pre-flight check refused (nothing changed); 3 failed or stopped and not rolled back (operator action needed).

use std::process::ExitCode;

use crate::engine::RunOutcome;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Done = 0,
    RolledBack = 1,
    Usage = 2,
    OperatorAction = 3,
}

pub const EXIT_CODES_HELP: &str = "\
Exit codes:
  0  done (for `rollback`: the rollback completed)
  1  `run`/`resume` failed and was rolled back (the stack is as it was before)
  2  usage or configuration error, or a pre-flight check refused (nothing changed)
  3  failed or stopped and not rolled back (operator action needed: see `cutover status`)";

impl Exit {
    pub fn of(outcome: &RunOutcome) -> Self {
        match outcome {
            RunOutcome::Done => Exit::Done,
            RunOutcome::RolledBack { .. } => Exit::RolledBack,
            // A refused pre-flight changed nothing, like a usage error: nothing to roll back.
            RunOutcome::PreflightFailed { .. } => Exit::Usage,
            RunOutcome::FailedNotRolledBack { .. }
            | RunOutcome::RollbackFailed { .. }
            | RunOutcome::Interrupted { .. } => Exit::OperatorAction,
        }
    }
}

impl From<Exit> for ExitCode {
    fn from(e: Exit) -> Self {
        ExitCode::from(e as u8)
    }
}
