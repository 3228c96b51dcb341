//! The one confirm popup: every destructive request is a `Question` that says exactly what
//! will happen, answered y/n.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph, Wrap};

use super::chrome::centered;
use super::theme::Theme;
use crate::tui::state::{Ask, Question};

pub fn draw(f: &mut Frame, area: Rect, q: &Question, theme: &Theme) {
    let mut lines: Vec<Line> = q.lines.iter().map(|l| Line::raw(l.clone())).collect();
    lines.push(Line::raw(""));
    lines.push(Line::from(vec![
        Span::styled(" y ", theme.danger_button()),
        Span::raw(" yes    "),
        Span::styled(" n ", theme.selected()),
        Span::raw(" no (esc)"),
    ]));
    let h = lines.len() as u16 + 2;
    let r = centered(area, 64, h);
    f.render_widget(Clear, r);
    let style = match q.ask {
        Ask::Rollback | Ask::RollbackFinished | Ask::Finalize | Ask::Quit => theme.bad(),
        Ask::Start => theme.title(),
    };
    let block = Block::bordered().title(Span::styled(format!(" {} ", q.title), style));
    f.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .block(block),
        r,
    );
}
