//! The one confirm popup: every destructive request is a `Question` that says exactly what
//! will happen, answered y/n.
//!
//! Invariant: the y/n line is always on screen. A question longer than the terminal allows
//! (a long rollback list at 80×24) is cut above it with "… N more lines", never below it.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph, Wrap};

use super::chrome::centered;
use super::theme::Theme;
use crate::tui::state::{Ask, Question};

pub fn draw(f: &mut Frame, area: Rect, q: &Question, theme: &Theme) {
    let longest = q.lines.iter().map(|l| l.chars().count()).max().unwrap_or(0) as u16;
    let width = (longest + 2).clamp(64, 96).min(area.width);
    let inner_w = width.saturating_sub(2).max(1) as usize;
    // Rows each line takes once wrapped (character estimate; lines here are short prose).
    let rows = |l: &String| l.chars().count().max(1).div_ceil(inner_w);
    let room = area.height.saturating_sub(4) as usize; // borders, blank, y/n
    let mut used = 0;
    let mut shown = Vec::new();
    for (i, l) in q.lines.iter().enumerate() {
        let left = q.lines.len() - i;
        if used + rows(l) > room.saturating_sub(usize::from(left > 1)) {
            shown.push(Line::styled(format!("… {left} more lines"), theme.dim()));
            used += 1;
            break;
        }
        used += rows(l);
        shown.push(Line::raw(l.clone()));
    }
    shown.push(Line::raw(""));
    shown.push(Line::from(vec![
        Span::styled(" y ", theme.danger_button()),
        Span::raw(" yes    "),
        Span::styled(" n ", theme.selected()),
        Span::raw(" no (esc)"),
    ]));
    let h = used as u16 + 4;
    let r = centered(area, width, h);
    f.render_widget(Clear, r);
    let style = match q.ask {
        Ask::Rollback
        | Ask::RollbackDiscarding
        | Ask::RollbackFinished
        | Ask::RollbackFinishedDiscarding
        | Ask::Finalize
        | Ask::Quit => theme.bad(),
        Ask::Start => theme.title(),
    };
    let block = Block::bordered().title(Span::styled(format!(" {} ", q.title), style));
    f.render_widget(
        Paragraph::new(shown)
            .wrap(Wrap { trim: false })
            .block(block),
        r,
    );
}
