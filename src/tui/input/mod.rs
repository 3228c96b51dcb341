//! Keys (as `Cmd`), typed characters and clicks → state changes and effects: which scopes
//! listen now, and the routing of a command to the open popup or to the screen.
//!
//! Invariant: every destructive or irreversible request (rollback, quit during a run, start)
//! goes through one confirm popup; the `Effect` is produced only on "yes".
//!
//! - `confirm`: the answer to a confirm popup → the effect it guarded.
//! - `screen`: a command on a screen (no popup open).
//! - `ask`: the confirm questions (start, rollback during a run, quit).
//! - `sign_off`: signing the selected checklist item (the name is asked once).
//! - `logs`: the log pane: which container is followed, scrolling, search, switching.

mod ask;
mod confirm;
mod logs;
mod screen;
mod sign_off;

pub use ask::rollback_question as open_rollback_question;
pub use logs::followed;

use ask::ask_quit;
use confirm::on_confirm;
use logs::jump_to_match;
use screen::on_screen;

use super::keymap::{Cmd, Scope};
use super::msg::Effect;
use super::state::{Popup, Screen, State};
use crate::engine::Command;

/// The scopes listening right now, most specific first.
pub fn scopes(state: &State) -> Vec<Scope> {
    match &state.popup {
        Some(Popup::Help) => vec![Scope::Help],
        Some(Popup::Confirm(_)) => vec![Scope::Confirm],
        Some(Popup::Name { .. } | Popup::Search { .. }) => vec![Scope::Text],
        None => {
            let screen = match state.screen {
                Screen::Checklist => Some(Scope::Checklist),
                Screen::Run => Some(Scope::Run),
                Screen::Result => Some(Scope::Result),
                Screen::Overview => None,
            };
            screen.into_iter().chain([Scope::Global]).collect()
        }
    }
}

pub fn on_cmd(state: &mut State, cmd: Cmd) -> Option<Effect> {
    state.notice = None;
    match state.popup.clone() {
        Some(Popup::Help) => match cmd {
            Cmd::Interrupt => {
                state.popup = None;
                ask_quit(state, true)
            }
            // The view clamps the offset to what the terminal's height leaves.
            Cmd::ScrollDown => {
                state.help_scroll = state.help_scroll.saturating_add(5);
                None
            }
            Cmd::ScrollUp => {
                state.help_scroll = state.help_scroll.saturating_sub(5);
                None
            }
            _ => {
                state.popup = None;
                None
            }
        },
        Some(Popup::Confirm(q)) => on_confirm(state, q, cmd),
        Some(Popup::Name { input, item }) => match cmd {
            Cmd::Accept if !input.trim().is_empty() => {
                let by = input.trim().to_string();
                state.operator = Some(by.clone());
                state.popup = None;
                Some(Effect::Send(Command::SignOff { item, by }))
            }
            Cmd::Accept => {
                state.notice = Some("a name is needed to sign off".into());
                None
            }
            Cmd::Interrupt => ask_quit(state, true),
            Cmd::Backspace => edit(state, |s| {
                s.pop();
            }),
            _ => {
                state.popup = None;
                None
            }
        },
        Some(Popup::Search { input }) => match cmd {
            Cmd::Accept => {
                state.popup = None;
                state.logs.search = (!input.is_empty()).then_some(input);
                jump_to_match(state);
                None
            }
            Cmd::Backspace => edit(state, |s| {
                s.pop();
            }),
            Cmd::Interrupt => ask_quit(state, true),
            _ => {
                state.popup = None;
                None
            }
        },
        None => on_screen(state, cmd),
    }
}

fn edit(state: &mut State, f: impl FnOnce(&mut String)) -> Option<Effect> {
    if let Some(Popup::Name { input, .. } | Popup::Search { input }) = &mut state.popup {
        f(input);
    }
    None
}

pub fn on_char(state: &mut State, c: char) {
    if !c.is_control() {
        edit(state, |s| s.push(c));
    }
}

/// The Rollback button is the only clickable thing; its place comes from the same layout
/// function the view uses.
pub fn on_click(state: &mut State, col: u16, row: u16) -> Option<Effect> {
    let button = crate::tui::views::chrome::rollback_button(state.size);
    let hit = state.popup.is_none()
        && state.run_open()
        && button.contains(ratatui::layout::Position { x: col, y: row });
    hit.then(|| on_cmd(state, Cmd::Rollback)).flatten()
}
