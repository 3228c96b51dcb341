//! Screen 4, Result: the outcome and what can still be done (finalize, roll back, leave), then
//! the pgvector plan's measured figures: the fingerprint of every pre-existing table before
//! and after, downtime of the database and the application, the backup (path, size, sha256),
//! versions, collation, qdrant and backend health. A plan without those figures (the scripted
//! one) shows its steps instead. Figures come from [`crate::tui::figures`], never by key guessing.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph, Row, Table, Wrap};

use super::steps;
use super::theme::{Theme, bytes, duration_ms};
use crate::engine::{RunOutcome, StepKind};
use crate::report::describe;
use crate::tui::figures::Figures;
use crate::tui::state::{Phase, State, Status};

pub fn draw(f: &mut Frame, area: Rect, state: &State, theme: &Theme) {
    let failed = state
        .steps
        .iter()
        .any(|s| matches!(s.status, Status::Failed(_) | Status::UndoFailed(_)));
    let [head, mid, bottom] = Layout::vertical([
        Constraint::Length(if failed { 6 } else { 4 }),
        Constraint::Min(6),
        Constraint::Length(3),
    ])
    .areas(area);
    draw_head(f, head, state, theme);
    match &state.figures {
        Some(fig) => {
            let [left, right] =
                Layout::horizontal([Constraint::Percentage(45), Constraint::Percentage(55)])
                    .areas(mid);
            let undone = rolled_back(state);
            draw_tables(f, left, fig, undone, theme);
            draw_figures(f, right, fig, undone, theme);
        }
        None => draw_steps(f, mid, state, theme),
    }
    draw_where(f, bottom, state, theme);
}

/// The run ended rolled back: its figures describe what was undone, not the stack now (a
/// "qdrant ready" or "backend healthy" under a plain title would read as the current state).
fn rolled_back(state: &State) -> bool {
    matches!(state.phase, Phase::Finished(RunOutcome::RolledBack { .. }))
}

/// What the operator can do next, as the keys that do it.
fn next_line(state: &State, o: &RunOutcome) -> String {
    let old = state
        .figures
        .as_ref()
        .and_then(|f| f.old_container.as_ref());
    match (o, &state.finalized) {
        (RunOutcome::Done, Some(Ok(said))) => format!("finalized: {said}. q: leave"),
        (RunOutcome::Done, Some(Err(e))) => format!("finalize failed: {e}. q: leave"),
        (RunOutcome::Done, None) if old.is_some() => {
            "F: finalize (remove the old postgres container) · R: roll back · q: leave".into()
        }
        (RunOutcome::Done, None) => "R: roll back · q: leave".into(),
        (RunOutcome::RolledBack { .. } | RunOutcome::PreflightFailed { .. }, _) => {
            "the stack is as it was before; q: leave".into()
        }
        _ => "operator action needed: see the report's next steps; q: leave".into(),
    }
}

fn draw_head(f: &mut Frame, area: Rect, state: &State, theme: &Theme) {
    let mut lines = match &state.phase {
        Phase::Finished(o) => {
            let style = match o {
                RunOutcome::Done => theme.ok(),
                RunOutcome::RolledBack { .. } | RunOutcome::PreflightFailed { .. } => theme.warn(),
                _ => theme.bad(),
            };
            let mut l = vec![Line::styled(describe(o), style)];
            // Why it did not end done: the failed step and its causes, in full.
            if let Some((s, d)) = state.steps.iter().find_map(|s| match &s.status {
                Status::Failed(_) | Status::UndoFailed(_) => Some((s, steps::detail(s)?)),
                _ => None,
            }) {
                l.push(Line::styled(format!("{}: {d}", s.info.id), theme.bad()));
            }
            l.push(Line::styled(next_line(state, o), theme.dim()));
            l
        }
        Phase::RollingBack { reason } => vec![
            Line::styled(format!("rolling back: {reason}"), theme.bad()),
            Line::styled("progress on the Run screen (3)", theme.dim()),
        ],
        _ => vec![
            Line::styled("the run is still open", theme.busy()),
            Line::styled("results appear here when it ends", theme.dim()),
        ],
    };
    if let Some(why) = &state.after_run {
        lines.truncate(1);
        lines.push(Line::styled(why.clone(), theme.warn()));
    }
    let block = Block::bordered().title(Span::styled(" Result ", theme.title()));
    f.render_widget(
        Paragraph::new(lines).wrap(Wrap { trim: true }).block(block),
        area,
    );
}

fn draw_tables(f: &mut Frame, area: Rect, fig: &Figures, undone: bool, theme: &Theme) {
    let block = Block::bordered().title(if undone {
        " Undone run: rows before → after "
    } else {
        " Tables: rows before → after "
    });
    let tables = fig.tables();
    if tables.is_empty() {
        let p = Paragraph::new("no fingerprint taken (the run stopped before the backup)")
            .wrap(Wrap { trim: true })
            .style(theme.dim());
        f.render_widget(p.block(block), area);
        return;
    }
    let mut rows: Vec<Row> = tables
        .into_iter()
        .map(|(t, before, after, same)| {
            let (mark, style) = match same {
                Some(true) => ("=", theme.ok()),
                Some(false) => ("≠", theme.bad()),
                None => ("?", theme.dim()),
            };
            let after = after.map_or("-".into(), |a| a.to_string());
            Row::new(vec![t, before.to_string(), after, mark.into()]).style(style)
        })
        .collect();
    for t in &fig.facts.new_tables {
        rows.push(
            Row::new(vec![t.clone(), "new".into(), "".into(), "+".into()]).style(theme.busy()),
        );
    }
    let widths = [
        Constraint::Min(10),
        Constraint::Length(8),
        Constraint::Length(8),
        Constraint::Length(1),
    ];
    let table = Table::new(rows, widths)
        .header(Row::new(["table", "before", "after", ""]).style(theme.title()))
        .block(block);
    f.render_widget(table, area);
}

fn or_dash(v: &Option<String>) -> &str {
    v.as_deref().unwrap_or("-")
}

fn pair(name: &str, value: String, theme: &Theme) -> Line<'static> {
    Line::from(vec![
        Span::styled(format!("{name}: "), theme.dim()),
        Span::raw(value),
    ])
}

fn draw_figures(f: &mut Frame, area: Rect, fig: &Figures, undone: bool, theme: &Theme) {
    let u = &fig.facts;
    let ms = |v: Option<i64>| v.map_or("-".into(), |m| duration_ms(m.max(0) as u64));
    let mut l = vec![pair(
        "downtime",
        format!(
            "database {}, app {}",
            ms(u.db_downtime_ms),
            ms(u.app_downtime_ms)
        ),
        theme,
    )];
    if let Some(b) = &u.backup {
        l.push(pair("backup", b.path.display().to_string(), theme));
        l.push(pair(
            "  size",
            format!("{} · {} TOC entries", bytes(b.bytes), b.toc_entries),
            theme,
        ));
        l.push(pair("  sha256", b.sha256.clone(), theme));
    } else {
        l.push(pair("backup", "none taken".into(), theme));
    }
    l.push(pair(
        "server",
        format!(
            "{} → {}",
            or_dash(&u.server_before),
            or_dash(&u.server_after)
        ),
        theme,
    ));
    if let Some(c) = &fig.collation {
        let libc = |v: &Option<crate::adapters::docker::Libc>| {
            v.map_or("-".to_string(), |l| format!("{l:?}").to_lowercase())
        };
        let reindexed = c.reindexed();
        l.push(pair(
            "collation",
            format!(
                "{} → {}; {} reindexed",
                libc(&c.libc_before),
                libc(&c.libc_after),
                reindexed.len()
            ),
            theme,
        ));
    }
    match &fig.qdrant {
        Some(q) => l.push(pair(
            "qdrant",
            format!(
                "{} {}",
                q.container,
                q.ready_ms.map_or("not verified".into(), |m| format!(
                    "ready in {}",
                    duration_ms(m)
                ))
            ),
            theme,
        )),
        None => l.push(pair("qdrant", "not started".into(), theme)),
    }
    match &fig.backend {
        Some(b) if b.healthy_at.is_some() => l.push(pair(
            "backend",
            format!(
                "healthy ({})",
                b.url.as_deref().unwrap_or("no published port")
            ),
            theme,
        )),
        Some(_) => l.push(pair("backend", "no health figure".into(), theme)),
        None => l.push(pair("backend", "not checked".into(), theme)),
    }
    for w in &u.warnings {
        l.push(Line::styled(format!("! {w}"), theme.warn()));
    }
    for bad in &fig.unreadable {
        l.push(Line::styled(
            format!("unreadable output {bad}"),
            theme.bad(),
        ));
    }
    let block = Block::bordered().title(if undone {
        " Figures of the undone run "
    } else {
        " Figures (measured) "
    });
    f.render_widget(
        Paragraph::new(l).wrap(Wrap { trim: false }).block(block),
        area,
    );
}

fn draw_steps(f: &mut Frame, area: Rect, state: &State, theme: &Theme) {
    let width = area.width.saturating_sub(2) as usize;
    let lines: Vec<Line> = state
        .steps
        .iter()
        .filter(|s| s.info.kind != StepKind::SignOff)
        .map(|s| steps::line(state, s, theme, width))
        .collect();
    let block = Block::bordered().title(" Steps ");
    f.render_widget(Paragraph::new(lines).block(block), area);
}

fn draw_where(f: &mut Frame, area: Rect, state: &State, theme: &Theme) {
    let line = match &state.run_dir {
        Some(dir) => Line::raw(format!("report: {dir}/report.md · journal.jsonl")),
        None => Line::styled("no run directory yet", theme.dim()),
    };
    let block = Block::bordered().title(" Where ");
    f.render_widget(
        Paragraph::new(line).wrap(Wrap { trim: true }).block(block),
        area,
    );
}
