//! The frame around every screen: the tab row with the run's status and the Rollback button,
//! the key-hint bar (generated from the keymap), and the "terminal too small" notice.
//!
//! Layout functions here are pure functions of the terminal size, so the mouse hit-test in
//! the reducer and the drawing agree on where the button is.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Paragraph, Wrap};

use super::theme::Theme;
use crate::tui::input::scopes;
use crate::tui::keymap::hints;
use crate::tui::state::{Phase, Screen, State};
use crate::tui::update::outcome_word;

pub const MIN_WIDTH: u16 = 80;
pub const MIN_HEIGHT: u16 = 24;
const BUTTON: &str = " ↶ Rollback [R] ";

pub fn too_small(size: (u16, u16)) -> bool {
    size.0 < MIN_WIDTH || size.1 < MIN_HEIGHT
}

/// Where the Rollback button sits: the right end of the top row.
pub fn rollback_button(size: (u16, u16)) -> Rect {
    let w = BUTTON.chars().count() as u16;
    Rect::new(size.0.saturating_sub(w), 0, w.min(size.0), 1)
}

/// Splits the frame into (tab row, body, hint bar).
pub fn areas(area: Rect) -> (Rect, Rect, Rect) {
    let [top, body, bottom] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(0),
        Constraint::Length(1),
    ])
    .areas(area);
    (top, body, bottom)
}

pub fn draw_too_small(f: &mut Frame, state: &State) {
    let (w, h) = (f.area().width, f.area().height);
    let text = format!(
        "terminal too small: {w}×{h}, cutover needs {MIN_WIDTH}×{MIN_HEIGHT}. Enlarge the window; the run continues meanwhile. ({})",
        if state.run_open() {
            "q asks before quitting"
        } else {
            "q quits"
        }
    );
    f.render_widget(Paragraph::new(text).wrap(Wrap { trim: true }), f.area());
}

pub fn status_text(state: &State) -> String {
    let done = state
        .steps
        .iter()
        .filter(|s| s.elapsed_ms.is_some())
        .count();
    match &state.phase {
        Phase::Starting => "starting".into(),
        Phase::Preflight => "pre-flight checks".into(),
        Phase::AwaitingStart { unsigned } if unsigned.is_empty() => "ready to start".into(),
        Phase::AwaitingStart { unsigned } => format!("{} to sign", unsigned.len()),
        Phase::Running => format!("running {done}/{}", state.steps.len()),
        Phase::Pausing => "pausing after this step".into(),
        Phase::Paused => "PAUSED".into(),
        Phase::RollingBack { .. } => "ROLLING BACK".into(),
        Phase::Finished(o) => outcome_word(o).into(),
    }
}

pub fn draw_top(f: &mut Frame, area: Rect, state: &State, theme: &Theme) {
    // The name only when there is room: the status and the button matter more at 80 columns.
    let mut spans = Vec::new();
    if area.width >= 100 {
        spans.push(Span::styled(" cutover ", theme.title()));
    }
    for (i, s) in Screen::ALL.iter().enumerate() {
        let label = format!("{} {} ", i + 1, s.title());
        let style = if *s == state.screen {
            theme.selected()
        } else {
            theme.dim()
        };
        spans.push(Span::styled(label, style));
    }
    spans.push(Span::raw("  "));
    let status_style = match &state.phase {
        Phase::Finished(o) if o.is_final() && *o == crate::engine::RunOutcome::Done => theme.ok(),
        Phase::Finished(_) | Phase::RollingBack { .. } | Phase::Paused => theme.bad(),
        _ => theme.busy(),
    };
    spans.push(Span::styled(status_text(state), status_style));
    f.render_widget(Paragraph::new(Line::from(spans)), area);
    if state.run_open() {
        // The top row starts at (0, 0): the same rectangle the click hit-test uses.
        let b = rollback_button((area.width, area.height));
        f.render_widget(Clear, b);
        f.render_widget(
            Paragraph::new(Span::styled(BUTTON, theme.danger_button())),
            b,
        );
    }
}

pub fn draw_hints(f: &mut Frame, area: Rect, state: &State, theme: &Theme) {
    if let Some(n) = &state.notice {
        f.render_widget(
            Paragraph::new(Span::styled(format!(" {n}"), theme.warn())),
            area,
        );
        return;
    }
    let mut spans = Vec::new();
    for (key, word) in fit_hints(state, usize::from(area.width)) {
        spans.push(Span::styled(format!(" {key}"), theme.key()));
        spans.push(Span::raw(format!(" {word} ")));
    }
    f.render_widget(Paragraph::new(Line::from(spans)), area);
}

/// Hints that must never be pushed off the bar: how to get out, how to undo, how to learn more.
const ESSENTIAL: [&str; 3] = ["rollback", "help", "quit"];

/// The hints that fit in `width` cells, in keymap order: the essential ones first, then the
/// others in order while they fit. The rest are in the help overlay.
pub fn fit_hints(state: &State, width: usize) -> Vec<(&'static str, &'static str)> {
    let mut all: Vec<(&'static str, &'static str)> = Vec::new();
    for (key, word) in hints(&scopes(state)) {
        // Rollback of an ended run is offered only when it ended done.
        if word == "rollback"
            && !state.run_open()
            && !matches!(
                state.phase,
                Phase::Finished(crate::engine::RunOutcome::Done)
            )
        {
            continue;
        }
        // Finalize only applies to a run that ended done.
        if word == "finalize"
            && !matches!(
                state.phase,
                Phase::Finished(crate::engine::RunOutcome::Done)
            )
        {
            continue;
        }
        // One hint per word: the screen's binding wins over the global one.
        if !all.iter().any(|(_, w)| *w == word) {
            all.push((key, word));
        }
    }
    let cost = |(k, w): &(&str, &str)| k.chars().count() + w.chars().count() + 3;
    let mut used: usize = all
        .iter()
        .filter(|h| ESSENTIAL.contains(&h.1))
        .map(cost)
        .sum();
    let mut keep = vec![false; all.len()];
    for (i, h) in all.iter().enumerate() {
        if ESSENTIAL.contains(&h.1) {
            keep[i] = true;
        } else if used + cost(h) <= width {
            used += cost(h);
            keep[i] = true;
        }
    }
    all.into_iter()
        .zip(keep)
        .filter_map(|(h, k)| k.then_some(h))
        .collect()
}

/// A centred rectangle for popups, clamped to the frame.
pub fn centered(area: Rect, width: u16, height: u16) -> Rect {
    let w = width.min(area.width);
    let h = height.min(area.height);
    Rect::new(
        area.x + (area.width - w) / 2,
        area.y + (area.height - h) / 2,
        w,
        h,
    )
}
