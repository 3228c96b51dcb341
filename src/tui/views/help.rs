//! The help overlay (`?`): every binding, grouped by where it applies, generated from the
//! keymap so it always matches what the keys do.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph};

use super::chrome::centered;
use super::theme::Theme;
use crate::tui::keymap::{Scope, help_lines};

pub fn draw(f: &mut Frame, area: Rect, theme: &Theme) {
    let mut lines = Vec::new();
    for (scope, name) in [
        (Scope::Global, "Everywhere"),
        (Scope::Checklist, "Checklist"),
        (Scope::Run, "Run"),
        (Scope::Result, "Result"),
        (Scope::Confirm, "Questions"),
    ] {
        lines.push(Line::styled(name, theme.title()));
        for (keys, help) in help_lines(scope) {
            lines.push(Line::from(vec![
                Span::styled(format!("  {keys:<16}"), theme.key()),
                Span::raw(help),
            ]));
        }
    }
    let r = centered(area, 76, area.height);
    f.render_widget(Clear, r);
    let block = Block::bordered().title(" Help · ? or esc closes ");
    f.render_widget(Paragraph::new(lines).block(block), r);
}
