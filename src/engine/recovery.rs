//! The state of a run as the journal says it is, and the one transition table.
//!
//! [`apply`] is used both when appending (an illegal record is refused before it is written)
//! and when reading a journal back after a crash, so the two can never disagree. A step whose
//! last record is `step_started` or `step_output` is *uncertain*: it may have changed the world
//! partially, so its undo runs defensively before anything else happens to it.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::events::RunOutcome;
use super::journal::{Entry, Record};
use super::step::{Finish, StepError, StepKind};

/// What the journal records about a step once, at the start of a run, so that status and
/// reports need only the journal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepMeta {
    pub id: String,
    pub title: String,
    pub kind: StepKind,
    #[serde(default)]
    pub point_of_no_return: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepState {
    Pending,
    /// Started and not finished: uncertain if the process is gone.
    Running,
    Done,
    Failed,
    Undoing,
    Undone,
    UndoFailed,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StepRecord {
    pub state: StepState,
    pub output: Option<Value>,
    pub outcome: Option<Finish>,
    pub error: Option<StepError>,
    /// The step failed in a way that may have left changes behind (timeout, abandoned).
    pub uncertain_failure: bool,
    pub signed_by: Option<String>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    pub undo_started_at: Option<DateTime<Utc>>,
    pub undo_finished_at: Option<DateTime<Utc>>,
    pub undo_error: Option<StepError>,
    pub attempts: u32,
}

impl StepRecord {
    fn new() -> Self {
        Self {
            state: StepState::Pending,
            output: None,
            outcome: None,
            error: None,
            uncertain_failure: false,
            signed_by: None,
            started_at: None,
            finished_at: None,
            undo_started_at: None,
            undo_finished_at: None,
            undo_error: None,
            attempts: 0,
        }
    }

    /// Whether a rollback has something of this step to undo (asked of actions only: checks
    /// and sign-offs change nothing, so theirs is never run, failed or not).
    ///
    /// The contract: an action that FAILED is undone like a completed or an uncertain one. A
    /// failure says only that the action did not reach its end, not that it changed nothing:
    /// a qdrant container created and then refused its port, a compose file edited and then
    /// rejected by `config -q`, writers stopped whose sessions did not end, an old postgres
    /// stopped and renamed before its replacement failed to start. Undos find out what is
    /// there and tolerate finding nothing (see `step`), so undoing a failure that changed
    /// nothing costs a look. `tests/fault_matrix.rs` fails every action after its change and
    /// holds each undo to leaving the world as it was.
    pub fn needs_undo(&self) -> bool {
        match self.state {
            StepState::Running
            | StepState::Done
            | StepState::Failed
            | StepState::Undoing
            | StepState::UndoFailed => true,
            StepState::Pending | StepState::Undone => false,
        }
    }

    /// Whether the step may have changed the world without the journal knowing how far it
    /// got: started and never ended (a crash), or ended without a clean result (a timeout, or
    /// abandoned on a second interrupt).
    pub fn is_uncertain(&self) -> bool {
        match self.state {
            StepState::Running | StepState::Undoing => true,
            StepState::Failed => self.uncertain_failure,
            _ => false,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "phase", rename_all = "snake_case")]
pub enum Phase {
    Empty,
    Open,
    Stopped { outcome: RunOutcome },
    Finished { outcome: RunOutcome },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunState {
    pub plan: String,
    pub stack: String,
    pub started_at: Option<DateTime<Utc>>,
    pub steps_meta: Vec<StepMeta>,
    pub steps: BTreeMap<String, StepRecord>,
    pub phase: Phase,
    pub start_approved: bool,
    pub rolling_back: bool,
    pub rollback_reason: Option<String>,
    /// The rollback restores the backup into a fresh database (see `Entry::RollbackStarted`).
    #[serde(default)]
    pub disaster_rollback: bool,
    /// When the (last) rollback began, for its wall time in the report.
    #[serde(default)]
    pub rollback_started_at: Option<DateTime<Utc>>,
    pub resumes: u32,
    pub last_seq: u64,
    pub last_at: Option<DateTime<Utc>>,
    /// The bytes of a torn last line found when the journal was read back, if any.
    pub torn_tail: Option<String>,
}

#[derive(Debug, thiserror::Error)]
#[error("journal record {seq} ({what}) is illegal here: {why}")]
pub struct IllegalTransition {
    pub seq: u64,
    pub what: String,
    pub why: String,
}

impl Default for RunState {
    fn default() -> Self {
        Self {
            plan: String::new(),
            stack: String::new(),
            started_at: None,
            steps_meta: Vec::new(),
            steps: BTreeMap::new(),
            phase: Phase::Empty,
            start_approved: false,
            rolling_back: false,
            rollback_reason: None,
            disaster_rollback: false,
            rollback_started_at: None,
            resumes: 0,
            last_seq: 0,
            last_at: None,
            torn_tail: None,
        }
    }
}

impl RunState {
    pub fn meta(&self, id: &str) -> Option<&StepMeta> {
        self.steps_meta.iter().find(|m| m.id == id)
    }

    /// Steps that may have left changes the journal cannot describe (see
    /// [`StepRecord::is_uncertain`]): started and never ended, or ended uncertain.
    pub fn uncertain(&self) -> Vec<&str> {
        self.steps
            .iter()
            // A check that ended uncertain changed nothing: it just runs again.
            .filter(|(id, r)| {
                r.is_uncertain()
                    && (r.state != StepState::Failed
                        || self.meta(id).is_some_and(|m| m.kind == StepKind::Action))
            })
            .map(|(id, _)| id.as_str())
            .collect()
    }

    pub fn is_final(&self) -> bool {
        matches!(self.phase, Phase::Finished { .. })
    }

    /// A finished step past the point of no return, if any: rollback must not cross it.
    pub fn point_of_no_return_passed(&self) -> Option<&str> {
        self.steps_meta
            .iter()
            .find(|m| {
                m.point_of_no_return
                    && self
                        .steps
                        .get(&m.id)
                        .is_some_and(|r| r.state == StepState::Done)
            })
            .map(|m| m.id.as_str())
    }
}

/// The `command` of the `resumed` record that reopens a completed run for its rollback.
pub const ROLLBACK_COMMAND: &str = "rollback";

/// The transition table. Either applies `record` to `state` or leaves `state` untouched and
/// says why the record cannot follow what came before.
pub fn apply(state: &mut RunState, record: &Record) -> Result<(), IllegalTransition> {
    let illegal = |why: &str| IllegalTransition {
        seq: record.seq,
        what: record.entry.name().to_string(),
        why: why.to_string(),
    };
    if record.seq != state.last_seq + 1 {
        return Err(illegal(&format!(
            "expected sequence number {}",
            state.last_seq + 1
        )));
    }
    let at = record.at;
    // Run-level checks first: what may follow the run's own phase.
    match (&state.phase, &record.entry) {
        (Phase::Empty, Entry::RunStarted { .. }) => {}
        (Phase::Empty, _) => return Err(illegal("the journal must begin with run_started")),
        (_, Entry::RunStarted { .. }) => return Err(illegal("the run has already started")),
        // A completed upgrade may still be rolled back (the old container is kept until
        // `finalize`): the only way back into a finished run, and only for a rollback.
        (
            Phase::Finished {
                outcome: RunOutcome::Done,
            },
            Entry::Resumed { command, .. },
        ) if command == ROLLBACK_COMMAND => {}
        (Phase::Finished { .. }, _) => return Err(illegal("the run has finished")),
        (Phase::Stopped { .. }, Entry::Resumed { .. }) => {}
        (Phase::Stopped { .. }, _) => return Err(illegal("a stopped run must be resumed first")),
        (Phase::Open, _) => {}
    }
    let busy = state
        .steps
        .iter()
        .find(|(_, r)| matches!(r.state, StepState::Running | StepState::Undoing))
        .map(|(id, _)| id.clone());

    let mut next = state.clone();
    match &record.entry {
        Entry::RunStarted {
            plan, stack, steps, ..
        } => {
            next.plan = plan.clone();
            next.stack = stack.clone();
            next.started_at = Some(at);
            next.steps_meta = steps.clone();
            next.steps = steps
                .iter()
                .map(|m| (m.id.clone(), StepRecord::new()))
                .collect();
            next.phase = Phase::Open;
        }
        Entry::Resumed { command, .. } => {
            if matches!(next.phase, Phase::Finished { .. }) {
                // Reopened for a rollback: nothing may run forward any more.
                next.rolling_back = true;
                next.rollback_reason = Some(format!("{command} of a completed run"));
            }
            next.phase = Phase::Open;
            next.resumes += 1;
        }
        Entry::SignedOff { step, by } => {
            if next.rolling_back {
                return Err(illegal("cannot sign off during a rollback"));
            }
            let kind = next.meta(step).map(|m| m.kind);
            let rec = step_mut(&mut next, step).ok_or_else(|| illegal("unknown step"))?;
            if kind != Some(StepKind::SignOff) {
                return Err(illegal("only sign-off items can be signed off"));
            }
            if rec.state != StepState::Pending {
                return Err(illegal("already signed off"));
            }
            rec.state = StepState::Done;
            rec.outcome = Some(Finish::Ok);
            rec.signed_by = Some(by.clone());
            rec.finished_at = Some(at);
        }
        Entry::StartApproved => {
            if next.rolling_back {
                return Err(illegal("cannot start during a rollback"));
            }
            next.start_approved = true;
        }
        Entry::StepStarted { step } => {
            if next.rolling_back {
                return Err(illegal("cannot run steps during a rollback"));
            }
            if busy.is_some() {
                return Err(illegal("another step is still running or undoing"));
            }
            let kind = next.meta(step).map(|m| m.kind);
            let approved = next.start_approved;
            let rec = step_mut(&mut next, step).ok_or_else(|| illegal("unknown step"))?;
            match kind {
                Some(StepKind::SignOff) => {
                    return Err(illegal("sign-off items are signed, not run"));
                }
                Some(StepKind::Action) if !approved => {
                    return Err(illegal(
                        "an action cannot start before the start was approved",
                    ));
                }
                _ => {}
            }
            // A finished pre-flight check may run again before the start (`Command::Recheck`):
            // it changed nothing, and its new result replaces the old one.
            let recheck =
                kind == Some(StepKind::Check) && !approved && rec.state == StepState::Done;
            if !recheck
                && !matches!(
                    rec.state,
                    StepState::Pending | StepState::Undone | StepState::Failed
                )
            {
                return Err(illegal("step already done or in progress"));
            }
            rec.state = StepState::Running;
            rec.started_at = Some(at);
            rec.finished_at = None;
            rec.outcome = None;
            rec.error = None;
            rec.uncertain_failure = false;
            rec.attempts += 1;
        }
        Entry::StepOutput { step, output } => {
            let rec = step_mut(&mut next, step).ok_or_else(|| illegal("unknown step"))?;
            if !matches!(rec.state, StepState::Running | StepState::Undoing) {
                return Err(illegal(
                    "outputs are saved only while a step runs or undoes",
                ));
            }
            rec.output = Some(output.clone());
        }
        Entry::StepFinished { step, outcome } => {
            let rec = step_mut(&mut next, step).ok_or_else(|| illegal("unknown step"))?;
            if rec.state != StepState::Running {
                return Err(illegal("step is not running"));
            }
            rec.state = StepState::Done;
            rec.outcome = Some(outcome.clone());
            rec.finished_at = Some(at);
        }
        Entry::StepFailed {
            step,
            error,
            uncertain,
        } => {
            let rec = step_mut(&mut next, step).ok_or_else(|| illegal("unknown step"))?;
            if rec.state != StepState::Running {
                return Err(illegal("step is not running"));
            }
            rec.state = StepState::Failed;
            rec.error = Some(error.clone());
            rec.uncertain_failure = *uncertain;
            rec.finished_at = Some(at);
        }
        Entry::RollbackStarted { reason, disaster } => {
            next.rolling_back = true;
            next.rollback_reason = Some(reason.clone());
            next.disaster_rollback = *disaster;
            next.rollback_started_at = Some(at);
        }
        Entry::UndoStarted { step } => {
            if busy.as_ref().is_some_and(|b| b != step) {
                return Err(illegal("another step is still running or undoing"));
            }
            let kind = next.meta(step).map(|m| m.kind);
            let rec = step_mut(&mut next, step).ok_or_else(|| illegal("unknown step"))?;
            if kind != Some(StepKind::Action) {
                return Err(illegal("only actions have an undo"));
            }
            if !rec.needs_undo() {
                return Err(illegal("nothing of this step to undo"));
            }
            rec.state = StepState::Undoing;
            rec.undo_started_at = Some(at);
            rec.undo_error = None;
        }
        Entry::UndoFinished { step } => {
            let rec = step_mut(&mut next, step).ok_or_else(|| illegal("unknown step"))?;
            if rec.state != StepState::Undoing {
                return Err(illegal("step is not undoing"));
            }
            rec.state = StepState::Undone;
            rec.undo_finished_at = Some(at);
        }
        Entry::UndoFailed { step, error } => {
            let rec = step_mut(&mut next, step).ok_or_else(|| illegal("unknown step"))?;
            if rec.state != StepState::Undoing {
                return Err(illegal("step is not undoing"));
            }
            rec.state = StepState::UndoFailed;
            rec.undo_error = Some(error.clone());
            rec.undo_finished_at = Some(at);
        }
        Entry::RunStopped { outcome } => {
            if outcome.is_final() {
                return Err(illegal("a final outcome closes the run with run_finished"));
            }
            next.phase = Phase::Stopped {
                outcome: outcome.clone(),
            };
        }
        Entry::RunFinished { outcome } => {
            if !outcome.is_final() {
                return Err(illegal(
                    "a resumable outcome stops the run with run_stopped",
                ));
            }
            if let Some(b) = &busy {
                return Err(illegal(&format!("step {b} has not ended")));
            }
            next.phase = Phase::Finished {
                outcome: outcome.clone(),
            };
        }
    }
    next.last_seq = record.seq;
    next.last_at = Some(at);
    *state = next;
    Ok(())
}

fn step_mut<'a>(state: &'a mut RunState, id: &str) -> Option<&'a mut StepRecord> {
    state.steps.get_mut(id)
}
