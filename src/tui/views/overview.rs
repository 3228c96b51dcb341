//! Screen 1, Overview: the discovered stack, the facts the pre-flight found (database size, free
//! disk, versions: whatever the checks saved as outputs), what the plan will change, and the
//! warnings so far. All of it comes from events, step metadata and journaled outputs.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph, Row, Table, Wrap};
use serde_json::Value;

use super::columns;
use super::theme::{Theme, bytes};
use crate::engine::StepKind;
use crate::tui::state::{State, Status};

pub fn draw(f: &mut Frame, area: Rect, state: &State, theme: &Theme) {
    let [top, bottom] =
        Layout::vertical([Constraint::Percentage(45), Constraint::Percentage(55)]).areas(area);
    let [facts, changes] =
        Layout::horizontal([Constraint::Percentage(45), Constraint::Percentage(55)]).areas(bottom);
    draw_stack(f, top, state, theme);
    draw_facts(f, facts, state, theme);
    draw_changes(f, changes, state, theme);
}

fn draw_stack(f: &mut Frame, area: Rect, state: &State, theme: &Theme) {
    let block = Block::bordered().title(Span::styled(
        format!(" Stack {} · plan {} ", state.stack, state.plan),
        theme.title(),
    ));
    if state.containers.is_empty() {
        let msg = if state.outputs.is_empty() && state.run_open() {
            "no containers discovered yet"
        } else {
            "no containers discovered (this plan records none)"
        };
        f.render_widget(Paragraph::new(msg).style(theme.dim()).block(block), area);
        return;
    }
    let cells: Vec<Vec<String>> = state
        .containers
        .iter()
        .map(|c| {
            let health = if c.health.is_empty() { "-" } else { &c.health };
            vec![
                c.service.clone(),
                c.name.clone(),
                c.image.clone(),
                c.version.clone(),
                format!("{} {health}", c.state),
            ]
        })
        .collect();
    // Each column as wide as its widest cell; if the terminal is narrower, the widest give way
    // and show their end (a container's replica number, an image's tag).
    let header = ["service", "container", "image", "version", "state"];
    let inner = area.width.saturating_sub(2) as usize;
    let natural = columns::natural(&header, &cells);
    let widths = columns::fit(&natural, &[7, 12, 12, 5, 7], inner, 4);
    let rows = cells.iter().map(|r| {
        Row::new(
            r.iter()
                .zip(&widths)
                .map(|(c, w)| columns::cut_start(c, *w))
                .collect::<Vec<_>>(),
        )
    });
    let table = Table::new(rows, columns::constraints(&widths))
        .header(Row::new(header).style(theme.title()))
        .block(block);
    f.render_widget(table, area);
}

/// Scalar outputs of the pre-flight steps, flattened one level (`step.key: value`).
fn facts(state: &State) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for s in state.checklist() {
        let Some(Value::Object(map)) = state.outputs.get(&s.info.id) else {
            continue;
        };
        for (k, v) in map {
            let shown = match v {
                Value::Number(n) if k.ends_with("bytes") => bytes(n.as_u64().unwrap_or(0)),
                Value::String(t) => t.clone(),
                Value::Number(_) | Value::Bool(_) => v.to_string(),
                _ => continue,
            };
            out.push((k.trim_end_matches("_bytes").replace('_', " "), shown));
        }
    }
    out
}

fn draw_facts(f: &mut Frame, area: Rect, state: &State, theme: &Theme) {
    let mut lines: Vec<Line> = facts(state)
        .into_iter()
        .map(|(k, v)| {
            Line::from(vec![
                Span::styled(format!("{k}: "), theme.dim()),
                Span::raw(v),
            ])
        })
        .collect();
    if lines.is_empty() {
        lines.push(Line::styled(
            "the pre-flight checks have recorded no figures yet",
            theme.dim(),
        ));
    }
    let warnings: Vec<_> = state
        .steps
        .iter()
        .filter_map(|s| match &s.status {
            Status::Warning(m) => Some((s, m.clone(), theme.warn())),
            Status::Failed(e) => Some((s, e.message.clone(), theme.bad())),
            _ => None,
        })
        .collect();
    lines.push(Line::raw(""));
    lines.push(Line::styled(
        format!("Warnings ({})", warnings.len()),
        theme.title(),
    ));
    for (s, m, style) in warnings {
        lines.push(Line::styled(format!("! {}: {m}", s.info.title), style));
    }
    let block = Block::bordered().title(" Found ");
    f.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .block(block),
        area,
    );
}

fn draw_changes(f: &mut Frame, area: Rect, state: &State, theme: &Theme) {
    let mut lines = Vec::new();
    for s in state
        .steps
        .iter()
        .filter(|s| s.info.kind == StepKind::Action)
    {
        let ponr = if s.info.point_of_no_return {
            "  [point of no return]"
        } else {
            ""
        };
        lines.push(Line::from(vec![
            Span::raw("• "),
            Span::raw(s.info.title.clone()),
            Span::styled(ponr, theme.bad()),
        ]));
        for t in &s.info.touches {
            lines.push(Line::styled(format!("    {t}"), theme.dim()));
        }
    }
    let block = Block::bordered().title(" What will change ");
    f.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .block(block),
        area,
    );
}
