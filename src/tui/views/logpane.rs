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
        let msg = if let Some(e) = &state.discovery_error {
            e.as_str()
        } else if state.containers.is_empty() {
            "no containers discovered yet"
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
    let width = area.width.saturating_sub(2) as usize;
    let mut lines: Vec<Line> = Vec::new();
    if let Some(ring) = ring {
        if ring.dropped() > 0 {
            lines.push(Line::styled(
                format!("… {} lines dropped (oldest)", ring.dropped()),
                theme.warn(),
            ));
        }
        let budget = height
            .saturating_sub(lines.len())
            .saturating_sub(usize::from(logs.ended.is_some()));
        let end = ring.len().saturating_sub(logs.scroll);
        let needle = logs.search.as_deref().map(str::to_lowercase);
        // Newest first, until the pane is full: long lines wrap, so count rows, not entries.
        let mut rows: Vec<Line> = Vec::new();
        for i in (0..end).rev() {
            let Some(e) = ring.get(i) else { break };
            let hit = needle
                .as_deref()
                .is_some_and(|n| e.text.to_lowercase().contains(n));
            let style = match (hit, e.stderr) {
                (true, _) => theme.matched(),
                _ if e.note => theme.busy(),
                (false, true) => theme.warn(),
                _ => ratatui::style::Style::new(),
            };
            let stamp =
                e.at.filter(|_| logs.timestamps)
                    .map(|at| format!("{} ", at.format("%H:%M:%S%.3f")));
            let mut entry = wrap(stamp, &e.text, width, style, theme);
            while let Some(l) = entry.pop() {
                if rows.len() == budget {
                    break;
                }
                rows.push(l);
            }
            if rows.len() == budget {
                break;
            }
        }
        rows.reverse();
        lines.extend(rows);
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

/// One log entry as rows of at most `width` cells: hard-wrapped (a log line is not prose),
/// continuation rows indented by two so they read as one entry.
fn wrap(
    stamp: Option<String>,
    text: &str,
    width: usize,
    style: ratatui::style::Style,
    theme: &Theme,
) -> Vec<Line<'static>> {
    let width = width.max(4);
    let mut out = Vec::new();
    let mut rest: Vec<char> = text.chars().collect();
    let first_room = width.saturating_sub(stamp.as_ref().map_or(0, |s| s.chars().count()));
    let take = first_room.max(1).min(rest.len());
    let head: String = rest.drain(..take).collect();
    let mut spans = Vec::new();
    if let Some(s) = stamp {
        spans.push(Span::styled(s, theme.dim()));
    }
    spans.push(Span::styled(head, style));
    out.push(Line::from(spans));
    while !rest.is_empty() {
        let take = (width - 2).min(rest.len());
        let chunk: String = rest.drain(..take).collect();
        out.push(Line::from(vec![
            Span::raw("  "),
            Span::styled(chunk, style),
        ]));
    }
    out
}
