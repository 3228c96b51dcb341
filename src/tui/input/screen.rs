//! A command when no popup is open: screen switching, help, the run's buttons, the checklist
//! cursor and the log pane's keys.

use super::ask::{ask_quit, ask_rollback, ask_start};
use super::logs::{jump_to_match, scroll_by, switch_container};
use super::sign_off::sign_off;
use crate::engine::Command;
use crate::tui::keymap::Cmd;
use crate::tui::msg::Effect;
use crate::tui::state::{Phase, Popup, Screen, State};

pub(super) fn on_screen(state: &mut State, cmd: Cmd) -> Option<Effect> {
    match cmd {
        Cmd::NextScreen => state.screen = Screen::ALL[(state.screen.index() + 1) % 4],
        Cmd::PrevScreen => state.screen = Screen::ALL[(state.screen.index() + 3) % 4],
        Cmd::GoScreen(i) => state.screen = Screen::ALL[usize::from(i).min(3)],
        Cmd::Help => {
            state.help_scroll = 0;
            state.popup = Some(Popup::Help);
        }
        Cmd::Quit => return ask_quit(state, false),
        Cmd::Interrupt => return ask_quit(state, true),
        Cmd::Rollback => return ask_rollback(state),
        Cmd::Finalize => crate::tui::after_run::ask_finalize(state),
        Cmd::Up => state.cursor = state.cursor.saturating_sub(1),
        Cmd::Down => {
            let n = state.checklist().len();
            state.cursor = (state.cursor + 1).min(n.saturating_sub(1));
        }
        Cmd::SignOff => return sign_off(state),
        Cmd::Start => ask_start(state),
        Cmd::Rehearse => return crate::tui::rehearse::start(state),
        Cmd::Pause if matches!(state.phase, Phase::Running) => {
            state.phase = Phase::Pausing;
            return Some(Effect::Send(Command::Pause));
        }
        // The runner waits for Start after a pause: the same key continues.
        Cmd::Pause if matches!(state.phase, Phase::Paused) => {
            state.phase = Phase::Running;
            return Some(Effect::Send(Command::Start));
        }
        Cmd::Pause => state.notice = Some("pause applies while the upgrade runs".into()),
        Cmd::NextContainer | Cmd::PrevContainer => return switch_container(state, cmd),
        Cmd::ToggleFollow => {
            state.logs.follow = !state.logs.follow;
            if state.logs.follow {
                state.logs.scroll = 0;
            }
        }
        Cmd::ToggleTimestamps => state.logs.timestamps = !state.logs.timestamps,
        Cmd::Search => {
            let input = state.logs.search.clone().unwrap_or_default();
            state.popup = Some(Popup::Search { input });
        }
        Cmd::SearchNext => jump_to_match(state),
        Cmd::ScrollUp => scroll_by(state, 10, true),
        Cmd::ScrollDown => scroll_by(state, 10, false),
        Cmd::Top => scroll_by(state, usize::MAX / 2, true),
        Cmd::Bottom => {
            state.logs.scroll = 0;
            state.logs.follow = true;
        }
        Cmd::Accept | Cmd::Dismiss | Cmd::Backspace => {}
    }
    None
}
