//! Frame render time (criterion): one full `views::draw` of the Run screen, the busiest one
//! (step list, a backup progress gauge, the followed container's full log ring and the
//! tui-logger pane with cutover's own log), into ratatui's TestBackend at 80×24 and 200×60.
//!
//! Each iteration first pushes one log line (tens of nanoseconds), so consecutive frames differ
//! the way they do while following a busy container.
//!
//! The state comes from the TUI tests' fixture (engine events fed through the reducer at fixed
//! instants), so the bench draws what the snapshot tests review.

#[path = "../tests/tui_support/mod.rs"]
mod tui_support;

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use cutover::tui::State;
use cutover::tui::containers::{ContainerInfo, LogEntry};
use cutover::tui::ring::DEFAULT_CAPACITY;
use cutover::tui::state::Screen;
use ratatui::Terminal;
use ratatui::backend::TestBackend;

/// The Run screen mid-backup with three containers and a full log ring on the followed one.
fn busy_state() -> State {
    let mut s = tui_support::running();
    s.screen = Screen::Run;
    s.own_log_widget = true;
    let c = |svc: &str, img: &str| ContainerInfo {
        name: format!("privexbot-{svc}"),
        service: svc.into(),
        image: img.into(),
        state: "running".into(),
        health: "healthy".into(),
        version: String::new(),
    };
    s.containers = vec![
        c("postgres", "postgres:16-alpine"),
        c("backend", "privexbot/backend:1.8"),
        c("celery-worker", "privexbot/backend:1.8"),
    ];
    s.logs.selected = Some(0);
    for i in 0..(DEFAULT_CAPACITY as i64 + 500) {
        s.logs.push(
            "privexbot-postgres",
            LogEntry {
                at: Some(tui_support::at(i / 100)),
                stderr: i % 11 == 0,
                text: format!(
                    "LOG:  checkpoint complete: wrote {} buffers (0.{i}%)",
                    i % 4096
                ),
                note: false,
            },
        );
    }
    s
}

/// cutover's own log in the tui-logger pane, as the live wizard has it.
fn fill_own_log() {
    use tracing_subscriber::prelude::*;
    tui_logger::set_default_level(tui_logger::LevelFilter::Info);
    let _ = tracing_subscriber::registry()
        .with(tui_logger::TuiTracingSubscriberLayer)
        .try_init();
    for i in 0..200 {
        tracing::info!("step backup: {i} MiB written");
    }
    tui_logger::move_events();
}

fn render(c: &mut Criterion) {
    fill_own_log();
    let mut state = busy_state();
    let mut n = 0i64;
    let mut g = c.benchmark_group("frame_render");
    for (w, h) in [(80u16, 24u16), (200, 60)] {
        let mut term = Terminal::new(TestBackend::new(w, h)).expect("test terminal");
        g.bench_function(format!("run_screen_{w}x{h}"), |b| {
            b.iter(|| {
                // One new line per frame, as while following a busy container: the whole pane
                // scrolls, so ratatui's diff has real cells to send, not an identical frame.
                n += 1;
                state.logs.push(
                    "privexbot-postgres",
                    LogEntry {
                        at: Some(tui_support::at(n / 100)),
                        stderr: false,
                        text: format!("LOG:  new line {n}"),
                        note: false,
                    },
                );
                term.draw(|f| cutover::tui::views::draw(black_box(&state), f))
                    .expect("draw");
            })
        });
    }
    g.finish();
}

criterion_group!(benches, render);
criterion_main!(benches);
