//! Keys (as `Cmd`), typed characters and clicks → state changes and effects.
//!
//! Invariant: every destructive or irreversible request (rollback, quit during a run, start)
//! goes through one confirm popup; the `Effect` is produced only on "yes".

use super::keymap::{Cmd, Scope};
use super::msg::Effect;
use super::state::{Ask, Phase, Popup, Question, Screen, State, Status};
use crate::engine::{CancelReason, Command, StepKind};

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

/// The container whose logs are shown.
pub fn followed(state: &State) -> Option<String> {
    let i = state.logs.selected?;
    state.containers.get(i).map(|c| c.name.clone())
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
    let button = super::views::chrome::rollback_button(state.size);
    let hit = state.popup.is_none()
        && state.run_open()
        && button.contains(ratatui::layout::Position { x: col, y: row });
    hit.then(|| on_cmd(state, Cmd::Rollback)).flatten()
}

fn on_confirm(state: &mut State, q: Question, cmd: Cmd) -> Option<Effect> {
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

fn on_screen(state: &mut State, cmd: Cmd) -> Option<Effect> {
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
        Cmd::Rollback => ask_rollback(state),
        Cmd::Finalize => super::after_run::ask_finalize(state),
        Cmd::Up => state.cursor = state.cursor.saturating_sub(1),
        Cmd::Down => {
            let n = state.checklist().len();
            state.cursor = (state.cursor + 1).min(n.saturating_sub(1));
        }
        Cmd::SignOff => return sign_off(state),
        Cmd::Start => ask_start(state),
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

fn scroll_by(state: &mut State, n: usize, back: bool) {
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

fn jump_to_match(state: &mut State) {
    let Some(c) = followed(state) else { return };
    match state.logs.next_match(&c) {
        Some(off) => {
            state.logs.scroll = off;
            state.logs.follow = false;
        }
        None => state.notice = Some("no (more) matches".into()),
    }
}

fn switch_container(state: &mut State, cmd: Cmd) -> Option<Effect> {
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

fn sign_off(state: &mut State) -> Option<Effect> {
    let items = state.checklist();
    let item = items.get(state.cursor).copied()?;
    if item.info.kind != StepKind::SignOff {
        state.notice = Some("this is an automatic check; select a manual item to sign".into());
        return None;
    }
    if matches!(item.status, Status::Signed { .. }) {
        state.notice = Some("already signed off".into());
        return None;
    }
    let id = item.info.id.clone();
    match &state.operator {
        Some(by) => Some(Effect::Send(Command::SignOff {
            item: id,
            by: by.clone(),
        })),
        // Asked once; recorded with every later sign-off.
        None => {
            state.popup = Some(Popup::Name {
                input: String::new(),
                item: id,
            });
            None
        }
    }
}

fn ask_start(state: &mut State) {
    let blockers = state.start_blockers();
    if !blockers.is_empty() {
        state.notice = Some(format!(
            "cannot start yet: {} item(s) not ready (reasons on the checklist)",
            blockers.len()
        ));
        return;
    }
    let mut lines = vec!["These steps will run, in order:".to_string()];
    lines.extend(
        state
            .steps
            .iter()
            .filter(|s| s.info.kind == StepKind::Action)
            .map(|s| format!("  • {}", s.info.title)),
    );
    lines.push("You can roll back at any time with R.".into());
    state.popup = Some(Popup::Confirm(Question {
        ask: Ask::Start,
        title: "Start the upgrade?".into(),
        lines,
    }));
}

fn ask_rollback(state: &mut State) {
    if !state.run_open() {
        return super::after_run::ask_rollback_finished(state);
    }
    if state.rollback_requested {
        state.notice = Some("a rollback is already requested".into());
        return;
    }
    if let Some(ponr) = state
        .steps
        .iter()
        .find(|s| s.info.point_of_no_return && matches!(s.status, Status::Ok | Status::Warning(_)))
    {
        state.notice = Some(format!(
            "past the point of no return ({}): cutover will not roll back",
            ponr.info.title
        ));
        return;
    }
    let undo = state.undo_list();
    let mut lines = Vec::new();
    if undo.is_empty() {
        lines.push("Nothing has changed yet: this stops the run.".to_string());
    } else {
        if let Some(r) = state
            .steps
            .iter()
            .find(|s| matches!(s.status, Status::Running { .. }))
        {
            lines.push(format!(
                "\"{}\" is running: it finishes first.",
                r.info.title
            ));
        }
        lines.push("Then these are undone, newest first:".into());
        for s in undo {
            let note = if matches!(s.status, Status::Failed(_)) {
                " (if it left changes)"
            } else {
                ""
            };
            lines.push(format!("  ↶ {}{note}", s.info.title));
            for t in &s.info.touches {
                lines.push(format!("      {t}"));
            }
        }
    }
    state.popup = Some(Popup::Confirm(Question {
        ask: Ask::Rollback,
        title: "Roll back?".into(),
        lines,
    }));
}

fn ask_quit(state: &mut State, interrupt: bool) -> Option<Effect> {
    if !state.run_open() {
        return Some(Effect::Quit);
    }
    let lines = if matches!(
        state.phase,
        Phase::Running | Phase::Pausing | Phase::RollingBack { .. }
    ) {
        let mut l = vec![
            "The current step finishes, then the run stops.".to_string(),
            "Nothing is undone; the journal stays.".to_string(),
            "Continue later with `cutover resume`,".to_string(),
            "or undo with `cutover rollback`.".to_string(),
        ];
        if interrupt {
            l.push("Ctrl-C again: stop the current step at a safe point.".into());
        }
        l
    } else {
        vec![
            "Nothing has been changed yet.".to_string(),
            "The run stops; start again with `cutover`.".to_string(),
        ]
    };
    state.popup = Some(Popup::Confirm(Question {
        ask: Ask::Quit,
        title: "Quit?".into(),
        lines,
    }));
    None
}
