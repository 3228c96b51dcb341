//! The log pane: which container is followed, scrolling back (pauses following), search
//! jumps and switching containers (a new follow).

use crate::tui::keymap::Cmd;
use crate::tui::msg::Effect;
use crate::tui::state::State;

/// The container whose logs are shown.
pub fn followed(state: &State) -> Option<String> {
    let i = state.logs.selected?;
    state.containers.get(i).map(|c| c.name.clone())
}

pub(super) fn scroll_by(state: &mut State, n: usize, back: bool) {
    let len = followed(state)
        .and_then(|c| state.logs.ring(&c).map(|r| r.len()))
        .unwrap_or(0);
    let logs = &mut state.logs;
    logs.scroll = if back {
        logs.scroll.saturating_add(n).min(len.saturating_sub(1))
    } else {
        logs.scroll.saturating_sub(n)
    };
    // Reading back pauses following; reaching the bottom resumes it.
    logs.follow = logs.scroll == 0;
}

pub(super) fn jump_to_match(state: &mut State) {
    let Some(c) = followed(state) else { return };
    match state.logs.next_match(&c) {
        Some(off) => {
            state.logs.scroll = off;
            state.logs.follow = false;
        }
        None => state.notice = Some("no (more) matches".into()),
    }
}

pub(super) fn switch_container(state: &mut State, cmd: Cmd) -> Option<Effect> {
    let n = state.containers.len();
    if n == 0 {
        state.notice = Some("no containers discovered".into());
        return None;
    }
    let cur = state.logs.selected.unwrap_or(n - 1);
    let next = if cmd == Cmd::NextContainer {
        (cur + 1) % n
    } else {
        (cur + n - 1) % n
    };
    state.logs.selected = Some(next);
    state.logs.scroll = 0;
    state.logs.follow = true;
    state.logs.ended = None;
    Some(Effect::Follow(followed(state)))
}
