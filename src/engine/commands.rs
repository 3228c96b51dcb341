//! What a front end may ask of the runner. The TUI maps keys to these; headless mode builds
//! them from flags and signals.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Command {
    /// Sign off a `SignOff` step by its id, with the operator's name.
    SignOff {
        item: String,
        by: String,
    },
    /// Begin the actions (only honoured once every check passed and every item is signed).
    Start,
    /// Stop after the current step and wait for `Start`, `Rollback` or `Cancel`.
    Pause,
    /// Stop after the current step and undo what was done.
    Rollback,
    /// Run a finished pre-flight check again, by its id (honoured only before `Start`): the
    /// wizard asks for it after a rehearsal, whose result the `rehearsal` check reads.
    Recheck(String),
    Cancel(CancelReason),
}

/// Why a run is being stopped. Ordered by strength, as in nextest: a weaker reason never
/// overrides a stronger one, so a late `Quit` cannot soften a second Ctrl-C.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CancelReason {
    /// The operator asked to quit: let the current step finish, then stop.
    Quit,
    /// SIGINT/SIGTERM: ask the current step to stop at a safe point, then stop.
    Signal,
    /// A second signal: abandon the current step now; it stays uncertain in the journal.
    SecondSignal,
}

/// What the journal and the operator read as the reason of an interrupted run.
impl std::fmt::Display for CancelReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            CancelReason::Quit => "quit by the operator",
            CancelReason::Signal => "interrupted by a signal",
            CancelReason::SecondSignal => "interrupted by a second signal (step abandoned)",
        })
    }
}
