//! The answer to a confirm popup: "yes" produces the effect the question guarded; "no", Esc or
//! Ctrl-C close it (a second Ctrl-C on the quit question during a run escalates).

use crate::engine::{CancelReason, Command};
use crate::tui::keymap::Cmd;
use crate::tui::msg::Effect;
use crate::tui::state::{Ask, Question, State};

pub(super) fn on_confirm(state: &mut State, q: Question, cmd: Cmd) -> Option<Effect> {
    match cmd {
        Cmd::Accept => {
            state.popup = None;
            match q.ask {
                Ask::Rollback => {
                    state.rollback_requested = true;
                    Some(Effect::Send(Command::Rollback))
                }
                Ask::Start => Some(Effect::Send(Command::Start)),
                Ask::RollbackFinished => {
                    state.rollback_requested = true;
                    state.after_run = None;
                    Some(Effect::RollbackFinished)
                }
                Ask::RollbackDiscarding => {
                    state.rollback_requested = true;
                    Some(Effect::DiscardNewData { finished: false })
                }
                Ask::RollbackFinishedDiscarding => {
                    state.rollback_requested = true;
                    state.after_run = None;
                    Some(Effect::DiscardNewData { finished: true })
                }
                Ask::Finalize => Some(Effect::Finalize),
                Ask::Quit if !state.run_open() => Some(Effect::Quit),
                Ask::Quit => {
                    state.quitting = true;
                    Some(Effect::Send(Command::Cancel(CancelReason::Quit)))
                }
            }
        }
        // A second Ctrl-C on the quit question escalates, as a second SIGINT would.
        Cmd::Interrupt if q.ask == Ask::Quit && state.run_open() => {
            state.popup = None;
            state.quitting = true;
            Some(Effect::Send(Command::Cancel(CancelReason::Signal)))
        }
        Cmd::Dismiss | Cmd::Interrupt => {
            state.popup = None;
            None
        }
        _ => None,
    }
}
