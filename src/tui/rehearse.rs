//! The checklist's rehearsal action: `h` runs `cutover rehearse` from inside the wizard, with
//! its progress in a panel of its own, and then re-runs the `rehearsal` check so the
//! checklist (and the start question's forecast) reflect the new result.
//!
//! Flow: `h` → [`Effect::Rehearse`] (the app starts the [`Rehearser`] the command line handed
//! over, on a thread of its own) → [`Msg::Rehearsal`] lines → its end → the reducer asks the
//! engine for [`Command::Recheck`] of `rehearsal`. While it runs, Start is refused (the
//! rehearsal would not forecast a run that is already under way, and both want the disk).
//! Quitting cancels it and waits for its teardown (the app loop's exit), so the side stack
//! never outlives the wizard.

use tokio_util::sync::CancellationToken;

use super::msg::{Effect, Msg};
use super::ring::Ring;
use super::state::{Phase, State};
use crate::engine::Command;

/// Progress lines the panel keeps (it shows the newest that fit).
pub const PANEL_LINES: usize = 200;

/// The check the end of a rehearsal re-runs.
pub const CHECK: &str = "rehearsal";

/// What the wizard needs to rehearse: the same `cutover rehearse` the shell runs.
pub trait Rehearser: Send + Sync {
    /// Runs a rehearsal to its end, teardown included (blocking: the app gives it a thread);
    /// `say` gets progress lines; `cancel` stops it where it is.
    fn rehearse(
        &self,
        say: Box<dyn Fn(String) + Send + Sync>,
        cancel: CancellationToken,
    ) -> Result<Ended, String>;
}

/// A rehearsal's end, in the panel's words.
#[derive(Debug, Clone, PartialEq)]
pub struct Ended {
    pub passed: bool,
    /// One line: the result and the forecast, or why it failed.
    pub line: String,
    /// What the teardown could not remove (empty: nothing is left).
    pub left_behind: Vec<String>,
}

/// What the rehearser reports to the reducer.
#[derive(Debug, Clone, PartialEq)]
pub enum Report {
    Said(String),
    /// Err: refused before anything was created (disk, stack), or it could not start.
    Ended(Result<Ended, String>),
}

#[derive(Debug, Clone)]
pub struct Panel {
    pub running: bool,
    pub lines: Ring<String>,
    pub ended: Option<Result<Ended, String>>,
}

/// `h` on the checklist.
pub fn start(state: &mut State) -> Option<Effect> {
    if !state.rehearses {
        state.notice = Some("this plan has no rehearsal".into());
        return None;
    }
    if state.rehearsal.as_ref().is_some_and(|p| p.running) {
        state.notice = Some("a rehearsal is already running".into());
        return None;
    }
    if !matches!(state.phase, Phase::Preflight | Phase::AwaitingStart { .. }) {
        state.notice =
            Some("a rehearsal belongs before the start: from the shell, `cutover rehearse`".into());
        return None;
    }
    state.rehearsal = Some(Panel {
        running: true,
        lines: Ring::new(PANEL_LINES),
        ended: None,
    });
    state.notice = None;
    Some(Effect::Rehearse)
}

/// Whether Start must wait: a rehearsal is running.
pub fn blocks_start(state: &State) -> Option<String> {
    state
        .rehearsal
        .as_ref()
        .filter(|p| p.running)
        .map(|_| "a rehearsal is running: start once it has ended (q stops it)".to_string())
}

pub fn on_report(state: &mut State, report: Report) -> Option<Effect> {
    let panel = state.rehearsal.as_mut()?;
    match report {
        Report::Said(line) => {
            // The panel's title already says whose lines these are.
            let line = line
                .strip_prefix("rehearsal: ")
                .map_or(line.clone(), str::to_string);
            panel.lines.push(line);
            None
        }
        Report::Ended(ended) => {
            panel.running = false;
            panel.ended = Some(ended);
            // The check reads the rehearsal just written; a run that moved on ignores it.
            (state.run_open() && state.step(CHECK).is_some())
                .then(|| Effect::Send(Command::Recheck(CHECK.into())))
        }
    }
}

impl From<Report> for Msg {
    fn from(r: Report) -> Self {
        Msg::Rehearsal(r)
    }
}
