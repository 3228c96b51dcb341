//! The help overlay (`?`): every binding, grouped by where it applies, generated from the
//! keymap so it always matches what the keys do. When the terminal is too short for all of it
//! (80×24 is), it scrolls with j/k and says which lines are shown; nothing is cut off silently.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph};

use super::chrome::centered;
use super::theme::Theme;
use crate::tui::keymap::{Scope, help_lines};

/// Every help line, in display order.
fn lines(theme: &Theme) -> Vec<Line<'static>> {
    let mut lines = Vec::new();
    for (scope, name) in [
        (Scope::Global, "Everywhere"),
        (Scope::Checklist, "Checklist"),
        (Scope::Run, "Run"),
        (Scope::Result, "Result"),
        (Scope::Confirm, "Questions"),
        (Scope::Help, "This help"),
    ] {
        lines.push(Line::styled(name, theme.title()));
        for (keys, help) in help_lines(scope) {
            lines.push(Line::from(vec![
                Span::styled(format!("  {keys:<16}"), theme.key()),
                Span::raw(help),
            ]));
        }
    }
    lines
}

pub fn draw(f: &mut Frame, area: Rect, scroll: u16, theme: &Theme) {
    let all = lines(theme);
    let total = all.len() as u16;
    let r = centered(area, 76, area.height);
    let inner = r.height.saturating_sub(2);
    let scroll = scroll.min(total.saturating_sub(inner));
    let title = if total > inner {
        format!(
            " Help {}–{} of {total} · j/k scroll · ? or esc closes ",
            scroll + 1,
            (scroll + inner).min(total)
        )
    } else {
        " Help · ? or esc closes ".to_string()
    };
    f.render_widget(Clear, r);
    let block = Block::bordered().title(title);
    f.render_widget(Paragraph::new(all).scroll((scroll, 0)).block(block), r);
}
