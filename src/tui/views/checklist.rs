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
use crate::tui::state::State;

pub fn draw(f: &mut Frame, area: Rect, state: &State, theme: &Theme) {
    let [list, detail] = Layout::vertical([Constraint::Min(6), Constraint::Length(8)]).areas(area);
    let width = list.width.saturating_sub(2) as usize;
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
        lines.push(line);
        if let Some(d) = steps::detail(s) {
            lines.push(Line::styled(format!("         {d}"), theme.dim()));
        }
        for e in s.evidence.iter().rev().take(2).rev() {
            lines.push(Line::styled(format!("         │ {e}"), theme.dim()));
        }
    }
    let operator = state.operator.as_deref().unwrap_or("not given yet");
    let block = Block::bordered()
        .title(Span::styled(" Pre-flight checklist ", theme.title()))
        .title_bottom(format!(" operator: {operator} "));
    f.render_widget(Paragraph::new(lines).block(block), list);
    draw_start(f, detail, state, theme);
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
