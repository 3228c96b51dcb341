//! The container log pane: the followed container's ring buffer, newest at the bottom, with
//! the follow/paused state, the dropped-lines marker, optional timestamps and search matches.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph};

use super::theme::Theme;
use crate::tui::input::followed;
use crate::tui::state::State;

pub fn draw(f: &mut Frame, area: Rect, state: &State, theme: &Theme) {
    let logs = &state.logs;
    let Some(name) = followed(state) else {
        let msg = if state.containers.is_empty() {
            "no containers discovered"
        } else {
            "press c to follow a container's logs"
        };
        let block = Block::bordered().title(" Container logs ");
        f.render_widget(Paragraph::new(msg).style(theme.dim()).block(block), area);
        return;
    };
    let mode = if logs.follow { "follow" } else { "PAUSED" };
    let n = state.containers.len();
    let pos = logs.selected.map_or(0, |i| i + 1);
    let mut title = vec![
        Span::styled(format!(" {name} "), theme.title()),
        Span::styled(
            format!("[{mode}] "),
            if logs.follow {
                theme.ok()
            } else {
                theme.warn()
            },
        ),
        Span::styled(format!("{pos}/{n} "), theme.dim()),
    ];
    if let Some(q) = &logs.search {
        title.push(Span::styled(format!("/{q} "), theme.key()));
    }
    let ring = logs.ring(&name);
    let height = area.height.saturating_sub(2) as usize;
    let mut lines: Vec<Line> = Vec::new();
    if let Some(ring) = ring {
        if ring.dropped() > 0 {
            lines.push(Line::styled(
                format!("… {} lines dropped (oldest)", ring.dropped()),
                theme.warn(),
            ));
        }
        let end = ring.len().saturating_sub(logs.scroll);
        let start = end.saturating_sub(height.saturating_sub(lines.len()));
        let needle = logs.search.as_deref().map(str::to_lowercase);
        for e in ring.iter().skip(start).take(end - start) {
            let mut spans = Vec::new();
            if logs.timestamps
                && let Some(at) = e.at
            {
                spans.push(Span::styled(
                    format!("{} ", at.format("%H:%M:%S%.3f")),
                    theme.dim(),
                ));
            }
            let hit = needle
                .as_deref()
                .is_some_and(|n| e.text.to_lowercase().contains(n));
            let style = match (hit, e.stderr) {
                (true, _) => theme.matched(),
                (false, true) => theme.warn(),
                _ => ratatui::style::Style::new(),
            };
            spans.push(Span::styled(e.text.clone(), style));
            lines.push(Line::from(spans));
        }
    }
    if lines.is_empty() {
        lines.push(Line::styled("waiting for log lines…", theme.dim()));
    }
    if let Some(why) = &logs.ended {
        lines.push(Line::styled(format!("— stream ended: {why}"), theme.warn()));
    }
    let block = Block::bordered().title(Line::from(title));
    f.render_widget(Paragraph::new(lines).block(block), area);
}
