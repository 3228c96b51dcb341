//! Screen 2, Checklist: the automatic checks with their evidence (the step's own log lines)
//! and status, the manual items to sign off, and whether "start" is possible — with the
//! reason for every item that is not ready.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph, Wrap};

use super::steps;
use super::theme::Theme;
use crate::engine::StepKind;
use crate::tui::state::{State, Status, StepView};

pub fn draw(f: &mut Frame, area: Rect, state: &State, theme: &Theme) {
    // The start box only as tall as its reasons: at 80×24 the items need the rows.
    let reasons = state.start_blockers().len() as u16;
    // The rehearsal's panel, once `h` started one: its status and newest lines.
    let panel = if state.rehearsal.is_some() { 6 } else { 0 };
    let [list, rehearsal, detail] = Layout::vertical([
        Constraint::Min(6),
        Constraint::Length(panel),
        Constraint::Length((reasons + 3).min(8)),
    ])
    .areas(area);
    let rows = list.height.saturating_sub(2) as usize;
    // Every item's evidence if it all fits; else only for the selected item and the ones that
    // did not pass, so no item is pushed out of sight by another's evidence.
    let mut lines = item_lines(state, theme, list.width, |_, _| true);
    if lines.len() > rows {
        lines = item_lines(state, theme, list.width, |i, s| {
            i == state.cursor || !matches!(s.status, Status::Ok | Status::Signed { .. })
        });
    }
    // Keep the selected item in view.
    let at = lines
        .iter()
        .position(|(i, _)| *i == state.cursor)
        .unwrap_or(0);
    let skip = at
        .saturating_sub(rows.saturating_sub(2))
        .min(lines.len().saturating_sub(rows));
    let lines: Vec<Line> = lines.into_iter().skip(skip).map(|(_, l)| l).collect();
    let operator = state.operator.as_deref().unwrap_or("not given yet");
    let block = Block::bordered()
        .title(Span::styled(" Pre-flight checklist ", theme.title()))
        .title_bottom(format!(" operator: {operator} "));
    f.render_widget(Paragraph::new(lines).block(block), list);
    if let Some(p) = &state.rehearsal {
        draw_rehearsal(f, rehearsal, p, theme);
    }
    draw_start(f, detail, state, theme);
}

/// The rehearsal started with `h`: running (its newest lines), or its result first.
fn draw_rehearsal(f: &mut Frame, area: Rect, p: &crate::tui::rehearse::Panel, theme: &Theme) {
    let rows = area.height.saturating_sub(2) as usize;
    let mut lines = Vec::new();
    let title = match &p.ended {
        None => " Rehearsal on a copy: running (q stops it and tears it down) ".to_string(),
        Some(Ok(e)) => {
            let style = if e.passed { theme.ok() } else { theme.bad() };
            lines.push(Line::styled(e.line.clone(), style));
            if !e.left_behind.is_empty() {
                let left = format!(
                    "its teardown left {}: remove by hand",
                    e.left_behind.join(", ")
                );
                lines.push(Line::styled(left, theme.bad()));
            }
            format!(
                " Rehearsal on a copy: {} ",
                if e.passed { "PASSED" } else { "FAILED" }
            )
        }
        Some(Err(why)) => {
            lines.push(Line::styled(format!("refused: {why}"), theme.bad()));
            " Rehearsal on a copy: refused (nothing was created) ".to_string()
        }
    };
    let room = rows.saturating_sub(lines.len());
    let newest = p.lines.iter().skip(p.lines.len().saturating_sub(room));
    lines.extend(newest.map(|l| Line::styled(l.clone(), theme.dim())));
    let block = Block::bordered().title(Span::styled(title, theme.title()));
    f.render_widget(Paragraph::new(lines).block(block), area);
}

/// Each item's lines, tagged with the item's index; evidence where `evidence` says so.
fn item_lines<'a>(
    state: &'a State,
    theme: &Theme,
    width: u16,
    evidence: impl Fn(usize, &StepView) -> bool,
) -> Vec<(usize, Line<'a>)> {
    let width = width.saturating_sub(2) as usize;
    let mut lines = Vec::new();
    for (i, s) in state.checklist().into_iter().enumerate() {
        let kind = match s.info.kind {
            StepKind::SignOff => "manual",
            _ => "check",
        };
        let mut line = steps::line(state, s, theme, width.saturating_sub(8));
        line.spans
            .insert(0, Span::styled(format!("{kind:<7}"), theme.dim()));
        if i == state.cursor {
            line = line.style(theme.selected());
        }
        lines.push((i, line));
        if let Some(d) = steps::detail(s).filter(|_| evidence(i, s)) {
            lines.push((i, Line::styled(format!("         {d}"), theme.dim())));
        }
        if evidence(i, s) {
            for e in s.evidence.iter().rev().take(2).rev() {
                lines.push((i, Line::styled(format!("         │ {e}"), theme.dim())));
            }
        }
    }
    lines
}

fn draw_start(f: &mut Frame, area: Rect, state: &State, theme: &Theme) {
    let blockers = state.start_blockers();
    let mut lines = Vec::new();
    if blockers.is_empty() {
        lines.push(Line::styled(
            "✓ Every item is green or signed: press S to start the upgrade.",
            theme.ok(),
        ));
    } else {
        lines.push(Line::styled("Start is not available yet:", theme.warn()));
        for (item, why) in blockers {
            lines.push(Line::from(vec![
                Span::raw(format!("  • {item}: ")),
                Span::styled(why, theme.warn()),
            ]));
        }
    }
    let title = if state.start_blockers().is_empty() {
        " [S] Start upgrade "
    } else {
        " Start upgrade (disabled) "
    };
    let block = Block::bordered().title(title);
    f.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .block(block),
        area,
    );
}
