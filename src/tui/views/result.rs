//! Screen 4, Result: the outcome, the fingerprint comparison (any step output holding `before`
//! and `after` objects), each service's health, downtime figures, each step's end, and where
//! the report and the backup are. The layout holds for any plan; missing figures say so.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph, Row, Table, Wrap};
use serde_json::Value;

use super::steps;
use super::theme::{Theme, duration_ms};
use crate::engine::{RunOutcome, StepKind};
use crate::report::describe;
use crate::tui::state::{Phase, State};

pub fn draw(f: &mut Frame, area: Rect, state: &State, theme: &Theme) {
    let [head, mid, bottom] = Layout::vertical([
        Constraint::Length(4),
        Constraint::Min(6),
        Constraint::Length(7),
    ])
    .areas(area);
    draw_head(f, head, state, theme);
    let [fp, st] =
        Layout::horizontal([Constraint::Percentage(55), Constraint::Percentage(45)]).areas(mid);
    draw_fingerprint(f, fp, state, theme);
    draw_steps(f, st, state, theme);
    draw_where(f, bottom, state, theme);
}

fn draw_head(f: &mut Frame, area: Rect, state: &State, theme: &Theme) {
    let (text, style, next) = match &state.phase {
        Phase::Finished(o) => {
            let style = match o {
                RunOutcome::Done => theme.ok(),
                RunOutcome::RolledBack { .. } | RunOutcome::PreflightFailed { .. } => theme.warn(),
                _ => theme.bad(),
            };
            let next = match o {
                RunOutcome::Done => "enter: finalize and leave",
                RunOutcome::RolledBack { .. } | RunOutcome::PreflightFailed { .. } => {
                    "the stack is as it was before; enter: leave"
                }
                _ => "operator action needed: see the report's next steps; enter: leave",
            };
            (describe(o), style, next)
        }
        _ => (
            "the run is still open".to_string(),
            theme.busy(),
            "results appear here when it ends",
        ),
    };
    let lines = vec![Line::styled(text, style), Line::styled(next, theme.dim())];
    let block = Block::bordered().title(Span::styled(" Result ", theme.title()));
    f.render_widget(
        Paragraph::new(lines).wrap(Wrap { trim: true }).block(block),
        area,
    );
}

fn cell(v: Option<&Value>) -> String {
    match v {
        None | Some(Value::Null) => "-".into(),
        Some(Value::String(s)) => s.clone(),
        Some(v) => v.to_string(),
    }
}

fn draw_fingerprint(f: &mut Frame, area: Rect, state: &State, theme: &Theme) {
    let block = Block::bordered().title(" Fingerprint: before → after ");
    let found = state
        .outputs
        .values()
        .find_map(|v| Some((v.get("before")?.as_object()?, v.get("after")?.as_object()?)));
    let Some((before, after)) = found else {
        let p =
            Paragraph::new("no fingerprint comparison recorded by this plan").style(theme.dim());
        f.render_widget(p.block(block), area);
        return;
    };
    let rows = before
        .keys()
        .chain(after.keys().filter(|k| !before.contains_key(*k)))
        .map(|k| {
            let (b, a) = (before.get(k), after.get(k));
            let same = b == a;
            Row::new(vec![
                k.clone(),
                cell(b),
                cell(a),
                if same { "=".into() } else { "≠".into() },
            ])
            .style(if same { theme.ok() } else { theme.bad() })
        });
    let widths = [
        Constraint::Percentage(40),
        Constraint::Percentage(25),
        Constraint::Percentage(25),
        Constraint::Length(2),
    ];
    let table = Table::new(rows, widths)
        .header(Row::new(["item", "before", "after", ""]).style(theme.title()))
        .block(block);
    f.render_widget(table, area);
}

fn draw_steps(f: &mut Frame, area: Rect, state: &State, theme: &Theme) {
    let width = area.width.saturating_sub(2) as usize;
    let mut lines: Vec<Line> = state
        .steps
        .iter()
        .filter(|s| s.info.kind != StepKind::SignOff)
        .map(|s| steps::line(state, s, theme, width))
        .collect();
    let services: Vec<_> = state
        .containers
        .iter()
        .filter(|c| !c.health.is_empty())
        .collect();
    if !services.is_empty() {
        lines.push(Line::styled(" Health", theme.title()));
        for c in services {
            lines.push(Line::raw(format!("  {:<14} {}", c.service, c.health)));
        }
    }
    let block = Block::bordered().title(" Steps ");
    f.render_widget(Paragraph::new(lines).block(block), area);
}

/// Downtime figures and paths, found by key name in the step outputs.
fn draw_where(f: &mut Frame, area: Rect, state: &State, theme: &Theme) {
    let mut lines = Vec::new();
    for (step, out) in &state.outputs {
        let Some(map) = out.as_object() else { continue };
        for (k, v) in map {
            if k.contains("downtime") {
                let shown = v.as_u64().map_or(cell(Some(v)), duration_ms);
                let what = k
                    .replace("downtime", "")
                    .replace("_ms", "")
                    .replace('_', " ");
                lines.push(Line::raw(format!("downtime ({}): {shown}", what.trim())));
            } else if step.contains("backup") && (k == "path" || k.ends_with("_path")) {
                lines.push(Line::raw(format!("backup: {}", cell(Some(v)))));
            }
        }
    }
    if let Some(dir) = &state.run_dir {
        lines.push(Line::raw(format!(
            "report: {dir}/report.md (and report.json)"
        )));
        lines.push(Line::raw(format!("journal: {dir}/journal.jsonl")));
    }
    if lines.is_empty() {
        lines.push(Line::styled("no figures yet", theme.dim()));
    }
    let block = Block::bordered().title(" Downtime · report · backup ");
    f.render_widget(Paragraph::new(lines).block(block), area);
}
