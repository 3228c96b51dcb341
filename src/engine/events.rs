//! The one event stream every front end renders (TUI panes, headless lines, `--json`).
//!
//! Events are serializable and self-contained: a renderer needs nothing else to draw a line.
//! `RunFinished` is terminal: no event follows it.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::step::{Finish, StepError, StepKind};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub at: DateTime<Utc>,
    #[serde(flatten)]
    pub kind: EventKind,
}

impl Event {
    pub fn now(kind: EventKind) -> Self {
        Self {
            at: Utc::now(),
            kind,
        }
    }

    /// Step-level events must all be shown; progress and log lines may be thinned out.
    pub fn is_low_priority(&self) -> bool {
        matches!(
            self.kind,
            EventKind::Progress { .. } | EventKind::Log { .. }
        )
    }

    pub fn is_terminal(&self) -> bool {
        matches!(self.kind, EventKind::RunFinished { .. })
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum EventKind {
    RunStarted {
        plan: String,
        run_dir: String,
        resumed: bool,
    },
    StepStarted {
        step: String,
        title: String,
        kind: StepKind,
        index: usize,
        total: usize,
    },
    Progress {
        step: String,
        current: u64,
        total: Option<u64>,
        unit: String,
    },
    Log {
        step: String,
        line: String,
    },
    StepFinished {
        step: String,
        title: String,
        outcome: Finish,
        elapsed_ms: u64,
    },
    StepFailed {
        step: String,
        title: String,
        error: StepError,
        elapsed_ms: u64,
    },
    /// The pre-flight is over; actions wait for these sign-offs and an explicit start.
    AwaitingStart {
        unsigned: Vec<String>,
    },
    SignedOff {
        step: String,
        title: String,
        by: String,
    },
    Paused,
    RollbackStarted {
        reason: String,
    },
    UndoStarted {
        step: String,
        title: String,
    },
    UndoFinished {
        step: String,
        title: String,
        elapsed_ms: u64,
    },
    UndoFailed {
        step: String,
        title: String,
        error: StepError,
        elapsed_ms: u64,
    },
    RunFinished {
        outcome: RunOutcome,
    },
}

/// How a run (or one invocation on a run) ended. Maps one-to-one onto exit codes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum RunOutcome {
    /// Every step finished.
    Done,
    /// A pre-flight check failed before anything changed.
    PreflightFailed { step: String },
    /// A step failed and every completed action was undone.
    RolledBack { reason: String },
    /// A step failed and nothing was undone (auto-rollback off, or past the point of no return).
    FailedNotRolledBack { step: String, reason: String },
    /// An undo failed; the rollback stopped there.
    RollbackFailed { step: String },
    /// Stopped on request (quit, signal, pause then quit); resumable.
    Interrupted { reason: String },
}

impl RunOutcome {
    /// Final outcomes close the run; the others leave it for `resume` or `rollback`.
    pub fn is_final(&self) -> bool {
        matches!(
            self,
            Self::Done | Self::PreflightFailed { .. } | Self::RolledBack { .. }
        )
    }
}
