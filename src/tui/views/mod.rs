//! Drawing: `draw(&State, &mut Frame)` is a pure function of the state. One file per screen or
//! popup; `chrome` draws the frame around them.

mod checklist;
pub mod chrome;
mod columns;
mod confirm;
mod help;
mod logpane;
mod overview;
mod prompt;
mod result;
mod run;
mod steps;
pub mod theme;

use ratatui::Frame;

use super::state::{Popup, Screen, State};
use theme::Theme;

pub fn draw(state: &State, f: &mut Frame) {
    let size = (f.area().width, f.area().height);
    if chrome::too_small(size) {
        chrome::draw_too_small(f, state);
        return;
    }
    let theme = Theme::new(state.no_color);
    let (top, body, bottom) = chrome::areas(f.area());
    chrome::draw_top(f, top, state, &theme);
    match state.screen {
        Screen::Overview => overview::draw(f, body, state, &theme),
        Screen::Checklist => checklist::draw(f, body, state, &theme),
        Screen::Run => run::draw(f, body, state, &theme),
        Screen::Result => result::draw(f, body, state, &theme),
    }
    chrome::draw_hints(f, bottom, state, &theme);
    match &state.popup {
        None => {}
        Some(Popup::Help) => help::draw(f, body, state.help_scroll, &theme),
        Some(Popup::Confirm(q)) => confirm::draw(f, body, q, &theme),
        Some(Popup::Name { input, .. }) => prompt::draw(
            f,
            body,
            "Your name",
            "Recorded with every sign-off in the journal and the report.",
            input,
            &theme,
        ),
        Some(Popup::Search { input }) => prompt::draw(
            f,
            body,
            "Search the log",
            "Enter: find the newest match; n: next older.",
            input,
            &theme,
        ),
    }
}
