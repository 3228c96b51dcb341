//! Screen 4, Result: the outcome and what can still be done (finalize, roll back, leave), then
//! the pgvector plan's measured figures: the fingerprint of every pre-existing table before
//! and after, downtime of the database and the application, the backup (path, size, sha256),
//! versions, collation, qdrant and backend health. A plan without those figures (the scripted
//! one) shows its steps instead. Figures come from [`crate::tui::figures`], never by key guessing.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph, Row, Table, Wrap};

use super::theme::{Theme, bytes, duration_ms};
use super::{columns, steps};
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
            // After a rollback its own figures come first (the undone run's follow them), in
            // the wider column.
            let rollback = fig.facts.rollback.is_some() && !state.run_open();
            let split = if rollback { 40 } else { 45 };
            let [left, right] = Layout::horizontal([
                Constraint::Percentage(split),
                Constraint::Percentage(100 - split),
            ])
            .areas(mid);
            let undone = rolled_back(state);
            draw_tables(f, left, fig, undone, theme);
            if rollback {
                draw_rollback(f, right, fig, theme);
            } else {
                draw_figures(f, right, fig, undone, theme);
            }
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
        " Undone run: before → after "
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
    let mut rows: Vec<(Vec<String>, _)> = tables
        .into_iter()
        .map(|(t, before, after, same)| {
            let (mark, style) = match same {
                Some(true) => ("=", theme.ok()),
                Some(false) => ("≠", theme.bad()),
                None => ("?", theme.dim()),
            };
            let after = after.map_or("-".into(), |a| a.to_string());
            (vec![t, before.to_string(), after, mark.into()], style)
        })
        .collect();
    for t in &fig.facts.new_tables {
        let cells = vec![t.clone(), "new".into(), "".into(), "+".into()];
        rows.push((cells, theme.busy()));
    }
    // Numbers and marks take what they hold; the names get the rest, cut only if they must.
    let header = ["table", "before", "after", ""];
    let cells: Vec<Vec<String>> = rows.iter().map(|(c, _)| c.clone()).collect();
    let inner = area.width.saturating_sub(2) as usize;
    let widths = columns::fit(&columns::natural(&header, &cells), &[8, 3, 3, 1], inner, 0);
    let rows = rows.into_iter().map(|(cells, style)| {
        let cut = cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| columns::cut_start(c, *w));
        Row::new(cut.collect::<Vec<_>>()).style(style)
    });
    let table = Table::new(rows, columns::constraints(&widths))
        .header(Row::new(header).style(theme.title()))
        .block(block);
    f.render_widget(table, area);
}

/// After a rollback: which path ran and why, its wall time, what was undone, and the check's
/// outcome with the resume proof and the rows kept or lost, all from the report's own
/// rollback figures (the journal's); then the undone run's figures, as far as there is room.
fn draw_rollback(f: &mut Frame, area: Rect, fig: &Figures, theme: &Theme) {
    let Some(r) = &fig.facts.rollback else {
        return;
    };
    let path = match r.path {
        "fast" => "fast: the kept old container".to_string(),
        "disaster" => "disaster: restored from the backup".to_string(),
        other => other.to_string(),
    };
    let mut l = vec![
        pair("path", path, theme),
        pair(
            "wall time",
            r.wall_ms
                .map_or("still open".into(), |ms| duration_ms(ms.max(0) as u64)),
            theme,
        ),
    ];
    for u in &r.undo_failed {
        l.push(Line::styled(format!("undo failed: {u}"), theme.bad()));
    }
    // The report's own lines after its first, as it words them: the check's outcome, then the
    // resume proof, the rows kept or lost and the rows the down migrations would drop (kept or
    // discarded), which must show at 80×24; then the check's other notes.
    let passed = r.check.as_ref().is_some_and(|c| c.skipped.is_none());
    let mut lines: Vec<(bool, String)> = r
        .summary_lines()
        .iter()
        .skip(1)
        .map(|l| match l.strip_prefix("rollback check: ") {
            Some(text) => (true, text.to_string()),
            None => (false, l.clone()),
        })
        .collect();
    if let Some(((true, _), rest)) = lines.split_first_mut() {
        let rank = |(check, l): &(bool, String)| {
            let proof = r
                .check
                .as_ref()
                .is_some_and(|c| c.resumed.as_ref() == Some(l) || c.window_rows.contains(l));
            match (check, proof) {
                (_, true) => 0,
                (false, _) => 1,
                (true, false) => 2,
            }
        };
        rest.sort_by_key(rank);
    }
    for (i, (check, text)) in lines.into_iter().enumerate() {
        let style = match (i, passed) {
            (0, true) => theme.ok(),
            (0, false) => theme.warn(),
            _ => ratatui::style::Style::new(),
        };
        let label = if check { "check: " } else { "" };
        l.push(Line::from(vec![
            Span::styled(label, theme.dim()),
            Span::styled(text, style),
        ]));
    }
    // What was undone comes after the outcome: at 80×24 the outcome is what must show.
    let undone = if r.undone.is_empty() {
        "nothing".to_string()
    } else {
        format!("{} (in this order)", r.undone.join(", "))
    };
    l.push(pair("undone", undone, theme));
    if let Some(why) = &r.reason {
        l.push(pair("why", why.clone(), theme));
    }
    l.push(Line::raw(""));
    l.push(Line::styled("the undone run:", theme.title()));
    l.extend(figure_lines(fig, theme));
    let block = Block::bordered().title(Span::styled(" Rollback ", theme.title()));
    f.render_widget(
        Paragraph::new(l).wrap(Wrap { trim: false }).block(block),
        area,
    );
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
    let block = Block::bordered().title(if undone {
        " Figures of the undone run "
    } else {
        " Figures (measured) "
    });
    f.render_widget(
        Paragraph::new(figure_lines(fig, theme))
            .wrap(Wrap { trim: false })
            .block(block),
        area,
    );
}

fn figure_lines(fig: &Figures, theme: &Theme) -> Vec<Line<'static>> {
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
    l
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
    // The files first; a run directory too long for the line shows its end (the run's time).
    let files = "report.md · report.json · journal.jsonl in ";
    let room = (area.width.saturating_sub(2) as usize).saturating_sub(files.chars().count());
    let line = match &state.run_dir {
        Some(dir) => Line::raw(format!("{files}{}", columns::cut_start(dir, room))),
        None => Line::styled("no run directory yet", theme.dim()),
    };
    let block = Block::bordered().title(" Where ");
    f.render_widget(
        Paragraph::new(line).wrap(Wrap { trim: true }).block(block),
        area,
    );
}
