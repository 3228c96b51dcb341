//! One line per step state, shared by the checklist and the run screen: a symbol, a word that
//! reads without colour, and the elapsed time (live for a running step, from the injected clock).

use ratatui::style::Style;
use ratatui::text::{Line, Span};

use super::theme::{SPINNER, Theme, duration_ms};
use crate::tui::state::{State, Status, StepView};

/// (symbol, word, style) for a step's status.
pub fn badge(state: &State, s: &StepView, theme: &Theme) -> (String, &'static str, Style) {
    let spin = SPINNER[(state.now.timestamp_millis().rem_euclid(2500) / 250) as usize];
    match &s.status {
        Status::Pending => ("·".into(), "pending", theme.dim()),
        Status::Running { .. } => (spin.into(), "running", theme.busy()),
        Status::Ok => ("✓".into(), "ok", theme.ok()),
        Status::Warning(_) => ("!".into(), "warning", theme.warn()),
        Status::Skipped(_) => ("–".into(), "skipped", theme.dim()),
        Status::Failed(_) => ("✗".into(), "FAILED", theme.bad()),
        Status::Signed { .. } => ("✓".into(), "signed", theme.ok()),
        Status::Undoing { .. } => (spin.into(), "undoing", theme.warn()),
        Status::Undone => ("↶".into(), "undone", theme.warn()),
        Status::UndoFailed(_) => ("✗".into(), "UNDO-FAIL", theme.bad()),
    }
}

/// Elapsed time: final for an ended step, counting for a running one.
pub fn elapsed(state: &State, s: &StepView) -> String {
    match (&s.status, s.elapsed_ms) {
        (Status::Running { since } | Status::Undoing { since }, _) => {
            duration_ms((state.now - *since).num_milliseconds().max(0) as u64)
        }
        (_, Some(ms)) => duration_ms(ms),
        _ => String::new(),
    }
}

pub fn line<'a>(state: &State, s: &'a StepView, theme: &Theme, width: usize) -> Line<'a> {
    let (sym, word, style) = badge(state, s, theme);
    let time = elapsed(state, s);
    let title_w = width.saturating_sub(3 + 10 + 7);
    // A title is a sentence: its start says what it is, and `…` says it goes on.
    let title: String = if s.info.title.chars().count() > title_w && title_w > 0 {
        let head: String = s.info.title.chars().take(title_w - 1).collect();
        format!("{}…", head.trim_end())
    } else {
        s.info.title.clone()
    };
    Line::from(vec![
        Span::styled(format!(" {sym} "), style),
        Span::raw(format!("{title:<title_w$}")),
        Span::styled(format!(" {word:<9}"), style),
        Span::styled(format!("{time:>7}"), theme.dim()),
    ])
}

/// The detail under a step: its failure, warning or skip reason.
pub fn detail(s: &StepView) -> Option<String> {
    match &s.status {
        Status::Failed(e) | Status::UndoFailed(e) => {
            let mut t = e.message.clone();
            for c in &e.causes {
                t.push_str(": ");
                t.push_str(c);
            }
            Some(t)
        }
        Status::Warning(m) | Status::Skipped(m) => Some(m.clone()),
        Status::Signed { by } => Some(format!("signed off by {by}")),
        _ => None,
    }
}
