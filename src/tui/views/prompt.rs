//! A one-line text prompt (operator name, log search). Only what the operator types is shown;
//! nothing secret is ever asked here.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph};

use super::chrome::centered;
use super::theme::Theme;

pub fn draw(f: &mut Frame, area: Rect, title: &str, help: &str, input: &str, theme: &Theme) {
    let r = centered(area, 64, 5);
    f.render_widget(Clear, r);
    let lines = vec![
        Line::styled(help, theme.dim()),
        Line::from(vec![
            Span::raw("> "),
            Span::raw(input),
            Span::styled("▏", theme.key()),
        ]),
    ];
    let block = Block::bordered().title(Span::styled(format!(" {title} "), theme.title()));
    f.render_widget(Paragraph::new(lines).block(block), r);
}
