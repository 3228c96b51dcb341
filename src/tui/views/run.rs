//! Screen 3, Run: the step list with live states, progress gauges (pulls, backup, restore:
//! whatever steps report progress), the followed container's logs, and cutover's own log.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Gauge, Paragraph};

use super::steps;
use super::theme::{Theme, bytes, duration_ms};
use crate::tui::state::{Phase, Progress, State, Status};

pub fn draw(f: &mut Frame, area: Rect, state: &State, theme: &Theme) {
    let [left, right] =
        Layout::horizontal([Constraint::Percentage(50), Constraint::Percentage(50)]).areas(area);
    let gauges: Vec<_> = state
        .steps
        .iter()
        .filter(|s| s.progress.is_some() && matches!(s.status, Status::Running { .. }))
        .collect();
    let gh = (gauges.len() as u16 * 2).min(left.height / 3);
    let [list, gauge_area] =
        Layout::vertical([Constraint::Min(5), Constraint::Length(gh)]).areas(left);
    draw_steps(f, list, state, theme);
    for (i, s) in gauges.iter().enumerate() {
        let r = Rect::new(
            gauge_area.x,
            gauge_area.y + 2 * i as u16,
            gauge_area.width,
            2,
        );
        if r.bottom() > gauge_area.bottom() {
            break;
        }
        if let Some(p) = &s.progress {
            draw_gauge(f, r, &s.info.title, p, state, theme);
        }
    }
    let [logs, own] =
        Layout::vertical([Constraint::Percentage(65), Constraint::Percentage(35)]).areas(right);
    super::logpane::draw(f, logs, state, theme);
    draw_own_log(f, own, state, theme);
}

fn draw_steps(f: &mut Frame, area: Rect, state: &State, theme: &Theme) {
    let width = area.width.saturating_sub(2) as usize;
    let mut lines = Vec::new();
    for s in &state.steps {
        lines.push(steps::line(state, s, theme, width));
        if let (Some(d), Status::Failed(_) | Status::UndoFailed(_) | Status::Warning(_)) =
            (steps::detail(s), &s.status)
        {
            lines.push(Line::styled(format!("   {d}"), theme.dim()));
        }
    }
    if let Phase::RollingBack { reason } = &state.phase {
        lines.push(Line::styled(
            format!(" ROLLING BACK: {reason}"),
            theme.bad(),
        ));
    }
    // A plan longer than the pane (the pgvector plan at 80×24) scrolls so the step that is
    // running or being undone stays in view, with the ones before it for context.
    let rows = area.height.saturating_sub(2) as usize;
    let current = state
        .steps
        .iter()
        .position(|s| matches!(s.status, Status::Running { .. } | Status::Undoing { .. }))
        .or_else(|| state.steps.iter().rposition(|s| s.elapsed_ms.is_some()))
        .unwrap_or(0);
    let skip = (current + 1 + rows / 3)
        .saturating_sub(rows)
        .min(lines.len().saturating_sub(rows));
    let lines: Vec<Line> = lines.into_iter().skip(skip).collect();
    let block = Block::bordered().title(Span::styled(" Steps ", theme.title()));
    f.render_widget(Paragraph::new(lines).block(block), area);
}

/// A gauge with its figures: bytes get a rate and the time left.
fn draw_gauge(f: &mut Frame, r: Rect, title: &str, p: &Progress, state: &State, theme: &Theme) {
    let is_bytes = p.unit == "bytes";
    let fmt = |n: u64| {
        if is_bytes {
            bytes(n)
        } else {
            format!("{n} {}", p.unit)
        }
    };
    // Longest first; the first that fits the bar is shown (80 columns give it about 38).
    let amount = match p.total {
        Some(t) => format!("{} / {}", fmt(p.current), fmt(t)),
        None => fmt(p.current),
    };
    let mut labels = Vec::new();
    let secs = (p.at - p.first.0).num_milliseconds() as f64 / 1000.0;
    if is_bytes && secs > 0.5 {
        let rate = (p.current.saturating_sub(p.first.1)) as f64 / secs;
        let rate_s = format!("{}/s", bytes(rate as u64));
        if let (Some(t), true) = (p.total, rate > 0.0) {
            let left = (t.saturating_sub(p.current)) as f64 / rate;
            let left = format!("{} left", duration_ms((left * 1000.0) as u64));
            labels.push(format!("{amount} · {rate_s} · {left}"));
            labels.push(format!("{} · {rate_s} · {left}", fmt(p.current)));
            labels.push(format!("{} · {left}", fmt(p.current)));
        }
        labels.push(format!("{amount} · {rate_s}"));
    }
    labels.push(amount);
    if let Some(t) = p.total.filter(|t| *t > 0) {
        labels.push(format!("{}%", p.current.saturating_mul(100) / t));
    }
    let room = usize::from(r.width);
    let label = labels
        .iter()
        .find(|l| l.chars().count() <= room)
        .or(labels.last())
        .cloned()
        .unwrap_or_default();
    let _ = state;
    let ratio = p
        .total
        .filter(|t| *t > 0)
        .map_or(0.0, |t| (p.current as f64 / t as f64).min(1.0));
    let [name, bar] = Layout::vertical([Constraint::Length(1), Constraint::Length(1)]).areas(r);
    f.render_widget(Paragraph::new(format!(" {title}")), name);
    f.render_widget(
        Gauge::default()
            .ratio(ratio)
            .label(label)
            .gauge_style(theme.busy()),
        bar,
    );
}

fn draw_own_log(f: &mut Frame, area: Rect, state: &State, theme: &Theme) {
    let block = Block::bordered().title(" cutover log ");
    if state.own_log_widget {
        let w = tui_logger::TuiLoggerWidget::default()
            .block(block)
            .output_timestamp(Some("%H:%M:%S".into()))
            .output_target(false)
            .output_file(false)
            .output_line(false)
            .style_error(theme.bad())
            .style_warn(theme.warn());
        f.render_widget(w, area);
    } else {
        let p = Paragraph::new("(tui-logger is attached in the live wizard)").style(theme.dim());
        f.render_widget(p.block(block), area);
    }
}
